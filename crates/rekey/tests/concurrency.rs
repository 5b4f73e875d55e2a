//! The concurrency suite, one vault and several processes at once (the real binary, moto with
//! authentication through the model of real AWS). Each case runs `REKEY_SOAK_TRIALS` trials
//! (default 5) and checks the promise after every one (common/invariants.rs): every account's
//! current key authenticates, IAM holds no key whose secret no vault has, no user holds more
//! keys than its policy allows, no rotation's phases repeat or go backwards.
//!
//! - `rotate` of several accounts in parallel ∥ a loop of writing commands (`account set`,
//!   which recovers first) ∥ a loop of `recover`, on one SQLite vault: nobody resumes a
//!   rotation another worker holds or has finished ("recovered rotation …" never appears).
//! - `rekey serve` whose scheduler finds an account due ∥ API rotate requests ∥ a CLI `rotate`
//!   of the same account: one rotation runs at a time; the others are answered 409
//!   `rotation_under_way` naming it, refused as under way, or skipped by the scheduler; nobody
//!   "lost its lease", and contention is not logged as a warning.
//! - Two vaults (SQLite and PostgreSQL) on one IAM user: vault A rotates while vault B adds its
//!   account with a key rekey creates; then each rotates in turn, then both at once. Neither
//!   deletes the other's key; each refuses naming the other vault (as do `rotate --dry-run`,
//!   `heartbeat` and `discover`).
//! - Vault B imports (`discover --import`, `--reset-on-import`) a user vault A manages: it
//!   skips the user, naming A, and B's rotations leave A's key alone.
//! - A vault restored from a copy taken during a rotation, beside the original: both `recover`
//!   the same rotation, each leaves the other's key alone, and each `rotate` reports the other's
//!   key as created after its last known state.
//!
//! The three-node PostgreSQL case is `cluster.rs`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{
    invariants::{self, Db},
    server::Server,
    suite::{self, soak},
    Sandbox,
};
use std::{
    collections::BTreeSet,
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    thread,
};

/// Short verification and an immediate deletion of the previous key: a rotation is a few
/// seconds of work, and IAM keeps one key per user once nothing is in flight.
const FAST: &[&str] =
    &["--verify-successes", "1", "--verify-backoff", "50ms", "--verify-deadline", "20s", "--previous-key", "delete"];

/// One finished command: exit code, stdout, stderr.
type Run = (i32, String, String);

/// Runs `command` (a fresh `rekey` each time) until `stop`, collecting every run.
fn looping(stop: Arc<AtomicBool>, command: impl Fn() -> Command + Send + 'static) -> thread::JoinHandle<Vec<Run>> {
    thread::spawn(move || {
        let mut runs = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let out = command().output().expect("run rekey");
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            runs.push((out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr)));
        }
        runs
    })
}

#[test]
fn rotate_writing_commands_and_recover_on_one_sqlite_vault() {
    let (moto, sb, seeded) = suite::world(None);
    let bulk = suite::accounts(&moto, &sb, &seeded.admin, "bulk", 6, "bulk", FAST);
    let other = suite::accounts(&moto, &sb, &seeded.admin, "other", 1, "other", FAST).remove(0);
    let trials = soak("REKEY_SOAK_TRIALS", 5, 5);
    let (mut sets, mut recovers) = (0, 0);
    for trial in 1..=trials {
        let mut rotate = sb.std_rekey();
        rotate.args(["rotate", "--folder", "bulk", "--concurrency", "6", "-o", "json"]);
        let rotate = rotate.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (sb_cmd, other) = (sb.std_rekey_factory(), other.clone());
            // Each write changes the setting (a write that changes nothing is refused).
            let n = AtomicUsize::new(0);
            looping(stop.clone(), move || {
                let mut c = sb_cmd();
                let days = 30 + trial * 200 + n.fetch_add(1, Ordering::SeqCst) % 199;
                c.args(["account", "set", &other, "--max-age", &format!("{days}d")]);
                c
            })
        };
        let recoverer = {
            let sb_cmd = sb.std_rekey_factory();
            looping(stop.clone(), move || {
                let mut c = sb_cmd();
                c.args(["recover", "-o", "json"]);
                c
            })
        };
        let out = rotate.wait_with_output().unwrap();
        stop.store(true, Ordering::SeqCst);
        let (writes, recoveries) = (writer.join().unwrap(), recoverer.join().unwrap());
        assert_eq!(out.status.code(), Some(0), "trial {trial}: {}", String::from_utf8_lossy(&out.stderr));
        let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let outcomes: Vec<&str> = reports.as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, vec!["done"; bulk.len()], "trial {trial}: {reports}");
        for (code, out, err) in &writes {
            assert_eq!(*code, 0, "trial {trial}: account set: {out}{err}");
            assert!(!err.contains("recovered rotation"), "trial {trial}: a writing command resumed a rotation: {err}");
        }
        for (code, out, err) in &recoveries {
            // Busy rotations are reported refused (exit 4, busy); none may be worked by `recover`.
            let reports: serde_json::Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
            let busy = reports.as_array().is_some_and(|r| !r.is_empty());
            assert_eq!(*code, if busy { 4 } else { 0 }, "trial {trial}: recover: {out}{err}");
            for r in reports.as_array().unwrap() {
                assert_eq!(r["outcome"], "refused", "trial {trial}: recover worked a rotation a live worker held: {r}");
                let why = r["error"].as_str().unwrap();
                assert!(why.contains("under way") || why.contains("being worked by"), "trial {trial}: {r}");
            }
        }
        sets += writes.len();
        recovers += recoveries.len();
        let figures = invariants::check(&moto, &seeded.admin, &[&sb]);
        assert_eq!(figures.rotations, bulk.len() * trial, "trial {trial}: one rotation per account: {figures:?}");
    }
    eprintln!(
        "{trials} trials: {} rotations, {sets} `account set` and {recovers} `recover` runs alongside",
        bulk.len() * trials
    );
}

/// The scheduler due on an account ∥ API rotate requests ∥ a CLI `rotate` of the same account.
#[test]
fn scheduler_api_and_cli_on_one_account() {
    let (moto, sb, seeded) = suite::world(None);
    // Three verifications a second apart: a rotation lasts long enough for the others to meet it.
    let slow = ["--verify-successes", "3", "--verify-backoff", "1s", "--previous-key", "delete", "--every", "1h"];
    let account = suite::accounts(&moto, &sb, &seeded.admin, "svc", 1, "ops", &slow).remove(0);
    let id = sb.json(&["account", "show", &account])["id"].as_str().unwrap().to_owned();
    let token =
        sb.json(&["token", "create", "--role", "operator", "--name", "ops"])["token"].as_str().unwrap().to_owned();
    let server = Server::start(
        &sb,
        &[("REKEY_SCHEDULER_INTERVAL", "200ms"), ("REKEY_LOG", "info"), ("REKEY_PUBLIC_METRICS", "true")],
    );
    let db = Db::of(&sb.vault);
    let trials = soak("REKEY_SOAK_TRIALS", 5, 5);
    let (mut answered_409, mut rotations) = (0, 0);
    for trial in 1..=trials {
        let before: BTreeSet<String> = suite::journal(&sb).into_keys().collect();
        // Due now: the scheduler's next tick starts it, while the requests below arrive.
        db.execute(&format!("UPDATE accounts SET next_due_at = {} WHERE id = '{id}'", suite::now_ms()));
        let api: Vec<_> = (0..4)
            .map(|_| {
                let (port, path, token) = (server.port, format!("/api/v1/accounts/{id}/rotate"), token.clone());
                thread::spawn(move || common::server::request(port, "POST", &path, Some(&token), None))
            })
            .collect();
        let cli = sb.rekey().args(["rotate", &account, "-o", "json"]).output().unwrap();
        let api: Vec<(u16, serde_json::Value)> =
            api.into_iter().map(|h| h.join().unwrap()).map(|(s, b)| (s, serde_json::from_str(&b).unwrap())).collect();
        // The scheduler's rotation (if it got the account) ends too.
        suite::until("no rotation of the account under way", std::time::Duration::from_secs(120), || {
            let open: Vec<(i64,)> = db.rows(&format!(
                "SELECT COUNT(*) FROM rotations WHERE account_id = '{id}' AND phase NOT IN ('done', 'aborted')"
            ));
            (open[0].0 == 0).then_some(())
        });
        let journal = suite::journal(&sb);
        let mut new: Vec<&suite::Journaled> = journal.values().filter(|r| !before.contains(&r.id)).collect();
        new.sort_by_key(|r| r.started());
        assert!(!new.is_empty(), "trial {trial}: something rotated the account");
        for pair in new.windows(2) {
            let end = pair[0].phases.last().unwrap().1;
            assert!(pair[1].started() >= end, "trial {trial}: two rotations of one account at once: {pair:?}");
        }
        let ids: BTreeSet<&str> = new.iter().map(|r| r.id.as_str()).collect();
        let mut done_by_requests = 0;
        for (status, body) in &api {
            match status {
                200 => {
                    assert_eq!(body["outcome"], "done", "trial {trial}: {body}");
                    assert!(ids.contains(body["rotation"].as_str().unwrap()), "trial {trial}: {body}");
                    done_by_requests += 1;
                }
                409 => {
                    assert_eq!(body["code"], "rotation_under_way", "trial {trial}: {body}");
                    if let Some(r) = body["rotation"].as_str() {
                        assert!(ids.contains(r), "trial {trial}: the 409 names a rotation of this trial: {body}");
                    }
                    answered_409 += 1;
                }
                other => panic!("trial {trial}: API rotate answered {other}: {body}"),
            }
        }
        let reports: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
        let text = format!("{reports} {}", String::from_utf8_lossy(&cli.stderr));
        match reports[0]["outcome"].as_str().unwrap() {
            "done" => done_by_requests += 1,
            "refused" => {
                assert!(text.contains("under way") || text.contains("being worked by"), "trial {trial}: {text}")
            }
            other => panic!("trial {trial}: the CLI rotation ended {other}: {text}"),
        }
        assert!(!text.contains("lost its lease"), "trial {trial}: {text}");
        // Every rotation of the trial is one a request ran or the scheduler's one claim.
        let scheduled = new.len().checked_sub(done_by_requests).expect("a rotation for every request that ran one");
        assert!(scheduled <= 1, "trial {trial}: the scheduler rotated the account {scheduled} times in one period");
        rotations += new.len();
        invariants::check(&moto, &seeded.admin, &[&sb]);
    }
    let log = server.log_text();
    assert!(!log.contains("lost its lease") && !log.contains("fenced"), "{log}");
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("WARN rekey") || l.contains("ERROR rekey")).collect();
    assert!(warnings.is_empty(), "healthy contention is not a warning: {warnings:#?}");
    assert!(answered_409 > 0, "the requests met a rotation under way at least once");
    eprintln!("{trials} trials: {rotations} rotations, {answered_409} requests answered 409 rotation_under_way");
}

/// A node answers while its start-up recovery runs, and says it is not ready until it ends.
#[test]
fn a_node_serves_not_ready_while_it_recovers() {
    use common::proxy::{Fault, FaultKind, Proxy};
    let moto = common::Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", common::iam::SEED_REQUESTS)]);
    let seeded = common::iam::seed_with_auth(&moto);
    let proxy = Proxy::start(moto.port);
    let sb = Sandbox::new();
    sb.init_with_key_file();
    sb.add_provider_at(&proxy.url, "p", &seeded.admin);
    sb.adopt_key("p", "svc", &seeded.svc);
    sb.rekey().args(["account", "set", common::SVC_KEY]).args(FAST).assert().success();
    // A rotation left open: its pre-flight's GetUser hangs, and its process is killed there.
    proxy.arm(Fault { action: "GetUser".into(), kind: FaultKind::Hang, skip: 0, times: u32::MAX });
    let mut rotate = sb.std_rekey();
    let mut rotate =
        rotate.args(["rotate", common::SVC_KEY]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    suite::until("the rotation's GetUser hangs", std::time::Duration::from_secs(60), || {
        (proxy.injected() >= 1).then_some(())
    });
    rotate.kill().unwrap();
    rotate.wait().unwrap();
    let server = Server::start(&sb, &[("REKEY_AWS_ATTEMPT_TIMEOUT", "5s"), ("REKEY_SCHEDULER_INTERVAL", "200ms")]);
    // The recovery's own GetUser hangs: recovery is under way, and the node answers meanwhile.
    suite::until("the recovery's GetUser hangs", std::time::Duration::from_secs(60), || {
        (proxy.injected() >= 2).then_some(())
    });
    let (status, ready) = server.json("GET", "/readyz", None, None);
    assert_eq!((status, &ready["status"], &ready["recovering"]), (503, &"not ready".into(), &true.into()), "{ready}");
    assert!(ready["problems"][0].as_str().unwrap().contains("recovery"), "{ready}");
    assert_eq!(server.call("GET", "/healthz", None, None).0, 200, "alive while recovering");
    proxy.disarm();
    let ready = suite::until("the node is ready", std::time::Duration::from_secs(120), || {
        let (status, body) = server.json("GET", "/readyz", None, None);
        (status == 200).then_some(body)
    });
    assert_eq!((&ready["recovering"], &ready["scheduler"]["enabled"]), (&false.into(), &true.into()), "{ready}");
    assert!(server.log_text().contains("recovered rotation of p/svc/access-key: done"), "{}", server.log_text());
    let figures = invariants::check(&moto, &seeded.admin, &[&sb]);
    assert_eq!(figures.rotations, 1, "{figures:?}");
}

/// The vault id a sandbox's vault drew at `init`.
fn vault_id(sb: &Sandbox) -> String {
    Db::of(&sb.vault).rows::<(String,)>("SELECT vault_id FROM vault_header").remove(0).0
}

/// Runs `rekey ARGS -o json` in `sb`: exit code and the reports.
fn reports(sb: &Sandbox, args: &[&str]) -> (i32, serde_json::Value) {
    let out = sb.std_rekey().args(args).args(["-o", "json"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {args:?}: {text}{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), json)
}

/// `account add --create` of `user` in `sb`, retried once the other vault's rotation (which
/// holds both key slots while it runs) is over. Returns whether the first attempt was refused.
fn add_created(sb: &Sandbox, user: &str, first: &std::process::Output) -> bool {
    if first.status.success() {
        return false;
    }
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(err.contains("2 access keys") || err.contains("LimitExceeded"), "account add failed otherwise: {err}");
    sb.rekey()
        .args(["account", "add", "--provider", "p", "--user", user, "--kind", "access-key", "--create"])
        .arg("--allow-no-free-slot")
        .assert()
        .success();
    true
}

/// A rotation of `account` in `sb` that finds the other vault's key in the second slot: it
/// refuses naming that vault, the dry run refuses alike, and nothing is deleted.
fn refused_for_the_other_vault(sb: &Sandbox, account: &str, other: &str, trial: usize) -> serde_json::Value {
    let (code, r) = reports(sb, &["rotate", account]);
    let why = format!("managed by another rekey vault {other}");
    assert_eq!((code, &r[0]["outcome"]), (9, &"aborted".into()), "trial {trial}: {r}");
    assert!(r[0]["error"].as_str().unwrap().contains(&why), "trial {trial}: {r}");
    assert!(r[0]["foreign_keys"][0].as_str().unwrap().contains(&why), "trial {trial}: {r}");
    let (_, plan) = reports(sb, &["rotate", account, "--dry-run"]);
    assert_eq!(plan[0]["outcome"], "refused", "trial {trial}: {plan}");
    assert_eq!(plan[0]["error"].as_str().unwrap(), format!("refuse: {}", r[0]["error"].as_str().unwrap()));
    r
}

/// `heartbeat` and `discover` in `sb` name the other vault's key as that vault's.
fn other_vaults_key_reported(sb: &Sandbox, user: &str, other: &str) {
    let why = format!("managed by another rekey vault {other}");
    let out = sb.rekey().args(["heartbeat", &format!("p/{user}/access-key"), "-o", "json"]).output().unwrap();
    let hb: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hb[0]["status"], "drift", "{hb}");
    assert!(hb[0]["findings"].to_string().contains(&why), "{hb}");
    let found = sb.json(&["discover", "p", "--per-user"]);
    let keys = found[0]["users"].as_array().unwrap().iter().find(|u| u["user_name"] == user).unwrap()["keys"].clone();
    let details: Vec<&str> = keys.as_array().unwrap().iter().filter_map(|k| k["ownership_detail"].as_str()).collect();
    assert_eq!(details, vec![why.as_str()], "{keys}");
}

/// Two vaults — SQLite and PostgreSQL (a second SQLite vault when REKEY_TEST_POSTGRES_URL is
/// unset) — manage keys of one IAM user. Vault A's rotation runs while vault B adds its account
/// with a key rekey creates; then each rotates in turn, then both at once. IAM allows two keys,
/// so once both vaults hold one neither can rotate: each refuses naming the other vault, and
/// neither ever deletes the other's key (which the invariants check: every account's key
/// authenticates, no key without a secret).
#[test]
fn two_vaults_on_one_iam_user_in_turn_and_at_once() {
    let (moto, a, seeded) = suite::world(None);
    let pg = common::pg::schema();
    let b = pg.as_ref().map_or_else(Sandbox::new, |s| Sandbox::with_vault(s.url.clone()));
    b.init_with_key_file();
    b.add_provider(&moto, "p", &seeded.admin);
    let (id_a, id_b) = (vault_id(&a), vault_id(&b));
    assert_ne!(id_a, id_b);
    let admin = common::iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    let trials = soak("REKEY_SOAK_TRIALS", 5, 5);
    let (mut a_done, mut a_refused, mut b_retried) = (0, 0, 0);
    for trial in 1..=trials {
        let user = format!("dual{trial}");
        let account = format!("p/{user}/access-key");
        common::iam::block_on(admin.create_user().user_name(&user).send()).unwrap();
        let add = ["account", "add", "--provider", "p", "--user", &user, "--kind", "access-key", "--create"];
        a.rekey().args(add).assert().success();
        a.rekey().args(["account", "set", &account]).args(FAST).assert().success();
        // At once: A rotates while B adds its account.
        let rotate = a.std_rekey().args(["rotate", &account, "-o", "json"]).stdout(Stdio::piped()).spawn().unwrap();
        // B's key beside A's leaves no free slot (refused without the override): the point here.
        let b_add = b.std_rekey().args(add).arg("--allow-no-free-slot").output().unwrap();
        let rotated = rotate.wait_with_output().unwrap();
        let r: serde_json::Value = serde_json::from_slice(&rotated.stdout).unwrap();
        match r[0]["outcome"].as_str().unwrap() {
            "done" => a_done += 1,
            // B's key took the slot between A's pre-flight and its CreateAccessKey, or was there,
            // not yet tagged, at A's pre-flight: A refused, deleting nothing.
            "aborted" => {
                let e = r[0]["error"].to_string();
                assert!(e.contains("CreateAccessKey") || e.contains("no free access-key slot"), "trial {trial}: {r}");
                a_refused += 1;
            }
            other => panic!("trial {trial}: A's rotation ended {other}: {r}"),
        }
        b_retried += usize::from(add_created(&b, &user, &b_add));
        b.rekey().args(["account", "set", &account]).args(FAST).assert().success();
        invariants::check(&moto, &seeded.admin, &[&a, &b]);
        // In turn.
        refused_for_the_other_vault(&a, &account, &id_b, trial);
        refused_for_the_other_vault(&b, &account, &id_a, trial);
        if trial == 1 {
            other_vaults_key_reported(&a, &user, &id_b);
            other_vaults_key_reported(&b, &user, &id_a);
        }
        invariants::check(&moto, &seeded.admin, &[&a, &b]);
        // At once.
        let (a2, b2) = (a.std_rekey_factory(), b.std_rekey_factory());
        let both: Vec<_> = [(a2, id_b.clone()), (b2, id_a.clone())]
            .into_iter()
            .map(|(cmd, other)| {
                let account = account.clone();
                thread::spawn(move || {
                    let out = cmd().args(["rotate", &account, "-o", "json"]).output().unwrap();
                    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                    (r, other)
                })
            })
            .collect();
        for h in both {
            let (r, other) = h.join().unwrap();
            let why = format!("managed by another rekey vault {other}");
            assert!(r[0]["error"].as_str().is_some_and(|e| e.contains(&why)), "trial {trial}: {r}");
        }
        let figures = invariants::check(&moto, &seeded.admin, &[&a, &b]);
        assert_eq!(figures.orphans, 0);
    }
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite (REKEY_TEST_POSTGRES_URL unset)" };
    eprintln!(
        "{trials} trials, vault B on {backend}: A's racing rotation done {a_done} times, refused {a_refused} times \
         (B's key took the slot); B's add retried {b_retried} times; every later rotation refused naming the other vault"
    );
}

/// Vault B imports (`discover --import`, and with `--reset-on-import` every other trial) a
/// user whose only key vault A manages, beside a user whose key nobody manages. B takes the
/// unmanaged key and skips A's user, saying whose its key is (output, JSON and audit event);
/// B's accounts then rotate several times, A's again, and every key survives with its vault:
/// every account's key authenticates, IAM holds no key without a secret, and A's key is the
/// one A holds.
#[test]
fn importing_a_user_another_vault_manages_leaves_its_key_alone() {
    let (moto, a, seeded) = suite::world(None);
    let b = Sandbox::new();
    b.init_with_key_file();
    b.add_provider(&moto, "p", &seeded.admin);
    let id_a = vault_id(&a);
    let admin = common::iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    let trials = soak("REKEY_SOAK_TRIALS", 4, 2);
    for trial in 1..=trials {
        let (held, free) = (format!("held{trial}"), format!("free{trial}"));
        let held_account = format!("p/{held}/access-key");
        for user in [&held, &free] {
            common::iam::block_on(admin.create_user().user_name(user.as_str()).send()).unwrap();
        }
        a.rekey()
            .args(["account", "add", "--provider", "p", "--user", &held, "--kind", "access-key", "--create"])
            .assert()
            .success();
        a.rekey().args(["account", "set", &held_account]).args(FAST).assert().success();
        a.rekey().args(["rotate", &held_account]).assert().success();
        // A key nobody manages (its secret is dropped): B's to import and replace.
        let unmanaged = common::iam::block_on(admin.create_access_key().user_name(free.as_str()).send())
            .unwrap()
            .access_key
            .unwrap();
        let reset = trial % 2 == 0;
        let filter = format!("{{{held},{free}}}");
        let mut import = vec!["discover", "p", "--import", "--kind", "access-key", "--filter", &filter];
        if reset {
            import.push("--reset-on-import");
        }
        let a_key = common::iam::keys_of(&admin, &held);
        let out = b.std_rekey().args(&import).args(["-o", "json"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "trial {trial}: {stderr}");
        // B's accounts rotate a few times: A's key survives them, and A's rotation then works.
        b.rekey().args(["account", "set", &format!("p/{free}/access-key")]).args(FAST).assert().success();
        for _ in 0..3 {
            let (code, r) = reports(&b, &["rotate", "--all"]);
            assert_eq!(code, 0, "trial {trial}: {r}");
        }
        invariants::check(&moto, &seeded.admin, &[&a, &b]);
        assert_eq!(common::iam::keys_of(&admin, &held), a_key, "trial {trial}: A's key alone, as it was");
        let (_, r) = reports(&a, &["rotate", &held_account]);
        assert_eq!(r[0]["outcome"], "done", "trial {trial}: {r}");
        invariants::check(&moto, &seeded.admin, &[&a, &b]);
        // What B said: it imported the unmanaged key and skipped A's user, naming A's vault.
        let done: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let refs: Vec<&str> = done["imported"].as_array().unwrap().iter().map(|a| a["ref"].as_str().unwrap()).collect();
        assert_eq!(refs, vec![format!("p/{free}/access-key")], "trial {trial}: {done}");
        assert_eq!(done["imported"][0]["current_key_id"], unmanaged.access_key_id.as_str(), "trial {trial}: {done}");
        let why = format!("managed by another rekey vault {id_a}");
        let skipped = &done["skipped"];
        assert_eq!(skipped.as_array().unwrap().len(), 1, "trial {trial}: {done}");
        assert_eq!(skipped[0]["user_name"], held.as_str(), "trial {trial}: {done}");
        assert!(skipped[0]["reason"].as_str().unwrap().contains(&why), "trial {trial}: {done}");
        assert!(stderr.contains(&format!("skipped p/{held}/access-key: ")) && stderr.contains(&why), "{stderr}");
        assert_eq!(done["rotations"].as_array().unwrap().len(), usize::from(reset), "trial {trial}: {done}");
        let events: Vec<(String, String)> = Db::of(&b.vault)
            .rows("SELECT target, detail FROM audit_events WHERE action = 'account.import' AND outcome = 'failed'");
        let event = events.iter().find(|(t, _)| *t == held_account).unwrap_or_else(|| panic!("{events:?}"));
        assert!(event.1.contains(&why), "trial {trial}: {event:?}");
    }
    eprintln!("{trials} trials: B imported the unmanaged key, skipped A's user, and every key survived with its vault");
}

/// A vault restored from a copy taken during a rotation (the rotation journaled
/// `create_requested`; its process died), while the original vault lives on and finishes that
/// rotation. The restored vault's `recover` resumes the same rotation: it leaves the key the
/// original created alone (its tag says a state of this vault stored it), creates its own, and
/// its `rotate` then refuses, reporting the original's key as created after its last known
/// state — and the original's `rotate` says the same of the restored one's key. Every key
/// survives with its vault, and the invariants hold over every vault of every trial.
#[test]
fn a_vault_restored_from_a_copy_taken_during_a_rotation_recovers_and_leaves_newer_keys_alone() {
    use common::proxy::{Fault, FaultKind, Proxy};
    let moto = common::Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", common::iam::SEED_REQUESTS)]);
    let seeded = common::iam::seed_with_auth(&moto);
    let admin = common::iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    common::iam::block_on(admin.delete_access_key().user_name("svc").access_key_id(&seeded.svc.0).send()).unwrap();
    let proxy = Proxy::start(moto.port);
    let trials = soak("REKEY_SOAK_TRIALS", 5, 5);
    let mut vaults: Vec<Sandbox> = Vec::new();
    for trial in 1..=trials {
        let user = format!("restored{trial}");
        let account = format!("p/{user}/access-key");
        common::iam::block_on(admin.create_user().user_name(&user).send()).unwrap();
        let orig = Sandbox::new();
        orig.init_with_key_file();
        orig.add_provider_at(&proxy.url, "p", &seeded.admin);
        orig.rekey()
            .args(["account", "add", "--provider", "p", "--user", &user, "--kind", "access-key", "--create"])
            .assert()
            .success();
        orig.rekey().args(["account", "set", &account]).args(FAST).assert().success();
        // The rotation's CreateAccessKey hangs; its process dies there; the copy is taken.
        proxy.arm(Fault { action: "CreateAccessKey".into(), kind: FaultKind::Hang, skip: 0, times: u32::MAX });
        let mut rotate =
            orig.std_rekey().args(["rotate", &account]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        suite::until("the rotation's CreateAccessKey hangs", std::time::Duration::from_secs(60), || {
            (proxy.injected() >= 1).then_some(())
        });
        rotate.kill().unwrap();
        rotate.wait().unwrap();
        proxy.disarm();
        let restored = Sandbox::new();
        // The copy of a SQLite vault in WAL mode is the database with its write-ahead log.
        for file in ["vault.db", "vault.db-wal", "vault.key"] {
            if orig.path(file).exists() {
                std::fs::copy(orig.path(file), restored.path(file)).unwrap();
            }
        }
        // The original finishes its rotation (`recover`, or the recovery every writing command
        // starts with), then the restored vault resumes the same rotation from its copy.
        let rotation = |sb: &Sandbox| {
            let rows: Vec<(String, String, Option<String>)> =
                Db::of(&sb.vault).rows("SELECT id, phase, new_key_id FROM rotations");
            assert_eq!(rows.len(), 1, "trial {trial}: {rows:?}");
            rows[0].clone()
        };
        let (id, phase, _) = rotation(&orig);
        assert_eq!(phase, "create_requested", "trial {trial}");
        orig.rekey().arg("recover").assert().success();
        restored.rekey().arg("recover").assert().success();
        let (after, done, newer) = rotation(&orig);
        let (again, done_too, own) = rotation(&restored);
        assert_eq!((&after, &again), (&id, &id), "trial {trial}: the same rotation, resumed in both");
        assert_eq!((done.as_str(), done_too.as_str()), ("done", "done"), "trial {trial}");
        let (newer, own) = (newer.unwrap(), own.unwrap());
        assert_ne!(own, newer, "trial {trial}");
        // Each vault's next rotation leaves the other's key alone and says why.
        for (sb, theirs) in [(&restored, &newer), (&orig, &own)] {
            let (code, r) = reports(sb, &["rotate", &account]);
            assert_eq!((code, &r[0]["outcome"]), (9, &"aborted".into()), "trial {trial}: {r}");
            let note = r[0]["foreign_keys"][0].as_str().unwrap();
            assert!(
                note.starts_with(theirs.as_str()) && note.contains("created after this vault's last known state"),
                "trial {trial}: {r}"
            );
        }
        let mut ids: Vec<String> = common::iam::keys_of(&admin, &user).into_iter().map(|(id, _)| id).collect();
        ids.sort();
        let mut want = vec![newer, own];
        want.sort();
        assert_eq!(ids, want, "trial {trial}: both vaults' keys, and only they, are in IAM");
        vaults.push(orig);
        vaults.push(restored);
        let all: Vec<&Sandbox> = vaults.iter().collect();
        invariants::check(&moto, &seeded.admin, &all);
    }
    eprintln!("{trials} trials: a restored vault recovered, rotated and refused; no key lost, none orphaned");
}
