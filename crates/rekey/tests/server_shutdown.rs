//! SIGTERM while the server is in the middle of a rotation: the server stops the rotation at
//! its next journal boundary, answers, exits 0; `rekey recover` then finishes the rotation,
//! and IAM holds no key whose secret the vault lacks. SIGTERM or SIGINT during start-up: the
//! server stops cleanly before serving, exits 0, and the vault is as it was.

#![cfg(feature = "failpoints")]
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{iam, server::Server};

#[test]
fn sigterm_mid_rotation_stops_at_a_journal_boundary_and_recovery_finishes() {
    let (moto, sb, seeded) = common::svc_world();
    sb.fast_verify("p/svc/access-key").assert().success();
    let admin = sb.json(&["token", "create", "--role", "admin", "--name", "ops"])["token"].as_str().unwrap().to_owned();
    let id = sb.json(&["account", "show", "p/svc/access-key"])["id"].as_str().unwrap().to_owned();

    // The new key is created and journaled; the process then lingers there for 3 s.
    let mut server =
        Server::start(&sb, &[("REKEY_SCHEDULER_ENABLED", "false"), ("FAILPOINTS", "access-key:created=sleep(3000)")]);
    let port = server.port;
    let path = format!("/api/v1/accounts/{id}/rotate");
    let call = std::thread::spawn(move || common::server::request(port, "POST", &path, Some(&admin), None));
    server.wait_for("failpoint access-key:created: reached");
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "a clean exit on SIGTERM");
    let (code, body) = call.join().unwrap();
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((code, report["outcome"].as_str()), (200, Some("interrupted")), "{body}");
    assert_eq!(report["phase"], "created", "stopped at the boundary after the phase under way");
    let open = sb.json(&["rotation", "list", "--open"]);
    assert_eq!(open.as_array().unwrap().len(), 1, "the rotation waits in the journal: {open}");

    let recovered = sb.json(&["recover"]);
    let outcome = recovered[0]["outcome"].as_str().unwrap();
    assert!(matches!(outcome, "done" | "retiring"), "{recovered}");
    let (current, secret) = {
        let v = sb.json(&["account", "reveal", "p/svc/access-key"]);
        (v["access_key_id"].as_str().unwrap().to_owned(), v["secret"].as_str().unwrap().to_owned())
    };
    assert_ne!(current, seeded.svc.0, "the rotation finished with the new key");
    let admin_iam = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    let keys: Vec<String> = iam::keys_of(&admin_iam, "svc").into_iter().map(|k| k.0).collect();
    assert!(keys.contains(&current), "the vault's key is in IAM: {keys:?}");
    assert!(keys.iter().all(|k| *k == current || *k == seeded.svc.0), "no key nobody has the secret of: {keys:?}");
    let me = iam::block_on(iam::client_with(&moto, &current, &secret).get_user().send());
    assert!(me.is_ok(), "the stored secret works");
}

/// A signal while the server starts (held after unlocking the vault, before it binds) is caught,
/// not fatal: the step under way ends, nothing after it starts (no listener, no recovery, no
/// scheduler), a line says so and the exit is 0. The vault is as it was and serves afterwards.
#[test]
fn a_signal_during_start_up_stops_the_server_cleanly_before_it_serves() {
    let (_moto, sb, _) = common::svc_world();
    let before = sb.json(&["audit", "head"]);
    for signal in ["TERM", "INT"] {
        let mut server = Server::spawn(&sb, &[], &[("FAILPOINTS", "serve:start-up=sleep(1500)")]);
        server.wait_for("failpoint serve:start-up: reached");
        server.signal(signal);
        server.wait_for(&format!("rekey serve: SIG{signal}: stopping (during start-up"));
        let status = server.wait();
        assert_eq!(status.code(), Some(0), "a clean exit, not death by SIG{signal}: {}", server.log_text());
        let log = server.log_text();
        assert!(
            log.contains(&format!("stopped during start-up (SIG{signal}), after opening and unlocking the vault")),
            "{log}"
        );
        assert!(!log.contains("listening on"), "it never served: {log}");
    }
    assert_eq!(sb.json(&["audit", "head"]), before, "nothing was written");
    sb.rekey().args(["audit", "verify"]).assert().success();
    let server = Server::start(&sb, &[("REKEY_SCHEDULER_ENABLED", "false")]);
    assert_eq!(server.call("GET", "/healthz", None, None).0, 200, "the vault serves afterwards");
    assert_eq!(server.terminate().code(), Some(0));
}
