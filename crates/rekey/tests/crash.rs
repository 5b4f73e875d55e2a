//! Crash tests: the real binary is killed (abort, no cleanup) at every phase boundary of both
//! rotation machines, then `rekey recover` runs, and the promise is checked against moto with
//! real request authentication: the vault's current credential works, IAM holds no key the
//! vault does not know, the previous key is gone as the policy says, and moto's stored password
//! is the vault's. A second vault importing the user while a rotation is stopped between its
//! `CreateAccessKey` and its `TagUser` takes no key of it.

#![cfg(feature = "failpoints")] // the crash points exist only in a `--features failpoints` build
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{iam, Moto, Sandbox};

struct World {
    moto: Moto,
    sb: Sandbox,
    seeded: iam::Seeded,
}

fn world(fail_delivery: bool) -> World {
    let (moto, sb, seeded) = common::svc_world();
    sb.adopt_password("p", "alice", "Alice-Initial-1!");
    // A target that cannot be written makes delivery fail, which takes the abort path.
    let creds =
        if fail_delivery { "/dev/null/credentials".to_owned() } else { sb.path("credentials").display().to_string() };
    sb.fast_verify("p/svc/access-key")
        .args([
            "--verify-deadline",
            "20s",
            "--previous-key",
            "delete",
            "--deactivate-after",
            "0s",
            "--delete-after",
            "0s",
        ])
        .args(["--credentials-file", &creds, "--profile", "svc"])
        .assert()
        .success();
    // Recovery meets IAM as it is: throttling at real AWS's rates, new keys that work only
    // after a while.
    moto.model().set(&["throttle=on", "propagation=on", "propagation.min=100ms", "propagation.max=300ms"]).unwrap();
    World { moto, sb, seeded }
}

/// Runs a rotation that must die at `failpoint`.
fn crash_at(w: &World, account: &str, failpoint: &str) {
    let out = w.sb.rekey().args(["rotate", account]).env("FAILPOINTS", format!("{failpoint}=return")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "rotate survived failpoint {failpoint}: {stderr}");
    assert!(stderr.contains(&format!("failpoint {failpoint}: aborting")), "did not reach {failpoint}: {stderr}");
}

fn recover(w: &World, expect_code: i32) {
    w.sb.rekey().arg("recover").assert().code(expect_code);
    let open = w.sb.json(&["rotation", "list", "--open"]);
    assert_eq!(open, serde_json::json!([]), "an unfinished rotation is left after recover");
}

/// Without delivery targets, a verified key is committed at once (no `delivering` is journaled):
/// a crash right after `verifying` is journaled is recovered the same way.
#[test]
fn ak_verifying_without_targets() {
    let w = world(false);
    w.sb.rekey().args(["account", "set", "p/svc/access-key", "--clear-targets"]).assert().success();
    crash_at(&w, "p/svc/access-key", "access-key:verifying");
    // A dry run changes nothing, and does not plan past the unfinished rotation (whose new
    // key it would take for a previous one).
    let plan = w.sb.json(&["rotate", "p/svc/access-key", "--dry-run"]);
    let steps = plan[0]["plan"].as_array().unwrap();
    assert!(steps.len() == 1 && steps[0].as_str().unwrap().starts_with("finish unfinished rotation"), "{plan}");
    recover(&w, 0);
    let (key_id, _) = common::svc_key_alone_in_iam(&w.moto, &w.sb, &w.seeded);
    assert_ne!(key_id, w.seeded.svc.0, "the rotation did not complete");
    let phases = w.sb.json(&["rotation", "list"])[0]["data"]["phases"].clone();
    assert!(!phases.as_array().unwrap().iter().any(|p| p == "delivering"), "{phases}");
}

fn check_access_key(w: &World, rotated: bool) {
    common::check_svc_key(&w.moto, &w.sb, &w.seeded, rotated);
}

fn access_key_case(failpoint: &str) {
    let w = world(false);
    crash_at(&w, "p/svc/access-key", failpoint);
    recover(&w, 0);
    check_access_key(&w, true);
}

fn abort_case(failpoint: &str) {
    let w = world(true);
    crash_at(&w, "p/svc/access-key", failpoint);
    recover(&w, 9);
    check_access_key(&w, false);
}

fn password_case(failpoint: &str) {
    let w = world(false);
    crash_at(&w, "p/alice/password", failpoint);
    recover(&w, 0);
    let vault = w.sb.json(&["account", "reveal", "p/alice/password"])["secret"].as_str().unwrap().to_owned();
    assert_eq!(iam::stored_password(&w.moto, "alice").as_deref(), Some(vault.as_str()), "IAM and the vault disagree");
    assert_ne!(vault, "Alice-Initial-1!", "the rotation did not complete");
}

macro_rules! cases {
    ($runner:ident: $($name:ident => $fp:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $runner($fp);
            }
        )*
    };
}

cases!(access_key_case:
    ak_preflight => "access-key:preflight",
    ak_create_requested => "access-key:create_requested",
    ak_after_create_call => "access-key:after-create-call",
    ak_created => "access-key:created",
    ak_verifying => "access-key:verifying",
    ak_delivering => "access-key:delivering",
    ak_committed => "access-key:committed",
    ak_retiring => "access-key:retiring",
    ak_after_deactivate_call => "access-key:after-deactivate-call",
    ak_deactivated => "access-key:deactivated",
    ak_after_delete_call => "access-key:after-delete-call",
);

cases!(abort_case:
    ak_abort_aborting => "access-key:aborting",
    ak_abort_after_abort_delete_call => "access-key:after-abort-delete-call",
);

cases!(password_case:
    pw_preflight => "password:preflight",
    pw_generated => "password:generated",
    pw_update_requested => "password:update_requested",
    pw_after_update_call => "password:after-update-call",
    pw_committed => "password:committed",
);

/// Vault A's rotation dies after its `CreateAccessKey` — its key's secret sealed (`created`) or
/// not (`after-create-call`), the key untagged either way — and vault B (PostgreSQL when
/// REKEY_TEST_POSTGRES_URL is set) imports the user meanwhile: B takes neither A's current key
/// nor the new one, naming A's rotation; A's recovery finishes the rotation, and B still takes
/// nothing.
fn import_during_create_case(failpoint: &str) {
    let w = world(false);
    let pg = common::pg::schema();
    let b = pg.as_ref().map_or_else(Sandbox::new, |s| Sandbox::with_vault(s.url.clone()));
    b.init_with_key_file();
    b.add_provider(&w.moto, "p", &w.seeded.admin);
    let admin = iam::client_with(&w.moto, &w.seeded.admin.0, &w.seeded.admin.1);
    crash_at(&w, "p/svc/access-key", failpoint);
    let rotation = w.sb.json(&["rotation", "list", "--open"])[0]["id"].as_str().unwrap().to_owned();
    let keys: Vec<String> = iam::keys_of(&admin, "svc").into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 2, "the new key is in IAM: {keys:?}");
    let import = || {
        let out = b.std_rekey().args(["discover", "p", "--import", "--filter", "svc", "-o", "json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let done = import();
    assert_eq!(done["imported"], serde_json::json!([]), "{done}");
    let skipped = done["skipped"][0]["keys"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{done}");
    let new_key = keys.iter().find(|k| **k != w.seeded.svc.0).unwrap();
    let new_entry = skipped.iter().map(|k| k.as_str().unwrap()).find(|k| k.starts_with(new_key.as_str())).unwrap();
    assert!(new_entry.contains(&format!("maybe the key rotation {rotation}")), "{new_entry}");
    let now: Vec<String> = iam::keys_of(&admin, "svc").into_iter().map(|(k, _)| k).collect();
    assert_eq!(now, keys, "B touched no key");
    recover(&w, 0);
    check_access_key(&w, true);
    let done = import();
    assert_eq!(done["imported"], serde_json::json!([]), "{done}");
    assert_eq!(done["skipped"][0]["keys"].as_array().unwrap().len(), 1, "A's one key, tagged: {done}");
}

cases!(import_during_create_case:
    import_after_create_call => "access-key:after-create-call",
    import_created => "access-key:created",
);

/// Without a crash, the same world rotates cleanly (the baseline the crash cases compare to).
#[test]
fn no_crash_baseline() {
    let w = world(false);
    w.sb.rekey().args(["rotate", "p/svc/access-key", "p/alice/password"]).assert().success();
    check_access_key(&w, true);
    let vault = w.sb.json(&["account", "reveal", "p/alice/password"])["secret"].as_str().unwrap().to_owned();
    assert_eq!(iam::stored_password(&w.moto, "alice").as_deref(), Some(vault.as_str()));
}

/// An operator's abort reads the rotation, then takes the account's lease. If another process
/// commits the rotation in between, the abort must not act on what it read first (it would
/// delete the key that is current by now): it reads the rotation again under the lease and is
/// refused. The abort is held between its read and its lease at a failpoint while `recover`
/// commits the rotation.
#[test]
fn an_abort_that_read_the_rotation_before_it_committed_is_refused() {
    use std::io::{BufRead, BufReader};
    let w = world(false);
    // A grace period before the previous key is deactivated: the committed rotation waits in
    // `retiring`.
    w.sb.rekey().args(["account", "set", "p/svc/access-key", "--deactivate-after", "1d"]).assert().success();
    crash_at(&w, "p/svc/access-key", "access-key:verifying");
    let open = w.sb.json(&["rotation", "list", "--open"]);
    let id = open[0]["id"].as_str().unwrap().to_owned();
    let mut abort =
        w.sb.std_rekey()
            .args(["rotation", "abort", &id])
            .env("FAILPOINTS", "rotation-abort:before-lease=sleep(20000)")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    let mut stderr = BufReader::new(abort.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("failpoint rotation-abort:before-lease: reached") {
        assert!(stderr.read_line(&mut seen).unwrap() > 0, "the abort ended before its lease: {seen}");
    }
    // While the abort waits, recovery takes the lease and commits the rotation.
    w.sb.rekey().arg("recover").assert().code(0);
    let phase = w.sb.json(&["rotation", "list"])[0]["phase"].as_str().unwrap().to_owned();
    assert_eq!(phase, "retiring", "recovery committed the rotation");
    let (current, _) = common::svc_key_works(&w.moto, &w.sb);
    let status = abort.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(status.code(), Some(4), "the abort is refused as a conflict: {seen}{rest}");
    assert!(rest.contains("cannot be aborted"), "{rest}");
    assert_eq!(common::svc_key_works(&w.moto, &w.sb).0, current, "the committed key is still current and works");
    let phase = w.sb.json(&["rotation", "list"])[0]["phase"].as_str().unwrap().to_owned();
    assert_eq!(phase, "retiring", "the rotation was not touched");
}
