//! What `rekey serve` sends out, end to end: SIEM exports of the audit log (JSON lines file,
//! syslog over UDP and TCP, signed webhook), filtered by event class, resuming from a stored
//! cursor after failures and restarts; and notifications of failed rotations, failed
//! heartbeats and overdue credentials, naming the owner from the IAM user's tag.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{
    iam,
    receiver::{signed_json, wait, Receiver, Syslog, HOOK_KEY},
    server::Server,
    Sandbox,
};
use serde_json::Value;
use std::{collections::BTreeSet, sync::atomic::Ordering};

fn fast(sb: &Sandbox, extra: &[&str]) {
    sb.fast_verify("p/svc/access-key").args(["--verify-deadline", "20s"]).args(extra).assert().success();
}

fn admin_token(sb: &Sandbox) -> String {
    sb.json(&["token", "create", "--role", "admin", "--name", "events"])["token"].as_str().unwrap().to_owned()
}

fn id_of(sb: &Sandbox) -> String {
    sb.json(&["account", "show", "p/svc/access-key"])["id"].as_str().unwrap().to_owned()
}

/// The events of an exported file (without the batches' `chain_head` lines).
fn lines(path: &std::path::Path) -> Vec<Value> {
    all_lines(path).into_iter().filter(|l| l.get("chain_head").is_none()).collect()
}

fn all_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn done(events: &[Value]) -> usize {
    events.iter().filter(|e| e["action"] == "rotation.phase" && e["detail"]["phase"] == "done").count()
}

#[test]
fn audit_exports_filter_by_class_survive_failures_and_resume_after_restart() {
    let (_moto, sb, seeded) = common::svc_world();
    fast(&sb, &[]);
    let token = admin_token(&sb);
    let svc = id_of(&sb);
    let (udp, tcp, hook) = (Syslog::udp(), Syslog::tcp(), Receiver::start());
    hook.status.store(503, Ordering::SeqCst);
    let file = sb.path("audit.jsonl");
    let config = sb.path("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[scheduler]\nenabled = false\n\
             [[export]]\nname = \"file\"\nkind = \"file\"\npath = \"{}\"\nclasses = [\"rotation\", \"account\"]\ninterval = \"200ms\"\n\
             [[export]]\nname = \"udp\"\nkind = \"syslog\"\naddress = \"{}\"\ninterval = \"200ms\"\n\
             [[export]]\nname = \"tcp\"\nkind = \"syslog\"\naddress = \"{}\"\nprotocol = \"tcp\"\nfacility = \"local3\"\ninterval = \"200ms\"\n\
             [[export]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\nkey_env = \"HOOK_KEY\"\nclasses = [\"rotation\"]\ninterval = \"200ms\"\nbatch = 3\n",
            file.display(),
            udp.address,
            tcp.address,
            hook.url
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let server = Server::start_with(&sb, &args, &[("HOOK_KEY", HOOK_KEY)]);
    let (status, report) = server.json("POST", &format!("/api/v1/accounts/{svc}/rotate"), Some(&token), None);
    assert_eq!(status, 200, "{report}");

    // The file gets the rotation and account classes only, in chain order, fsync'd per batch.
    let events = wait("the rotation in the exported file", || Some(lines(&file)).filter(|e| done(e) == 1));
    assert!(events
        .iter()
        .all(|e| ["rotation", "account"].contains(&e["action"].as_str().unwrap().split('.').next().unwrap())));
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in chain order, no duplicates: {seqs:?}");
    assert!(events.iter().all(|e| e["hash"].as_str().is_some_and(|h| h.len() == 64)), "each event carries its hash");
    // M2: each batch ends with the chain's head (as of its last event, exported or not): the
    // anchor `audit verify --expect-head` checks later.
    let all = all_lines(&file);
    let heads: Vec<&Value> = all.iter().filter_map(|l| l.get("chain_head")).collect();
    assert!(!heads.is_empty() && all.last().unwrap().get("chain_head").is_some(), "a head closes each batch: {all:?}");
    let head = heads.last().unwrap();
    assert!(head["seq"].as_i64().unwrap() >= *seqs.last().unwrap() && head["hash"].as_str().unwrap().len() == 64);

    // Syslog (all classes): RFC 5424 with the facility configured per export. The API request's
    // own event is written after its answer, so it may come after the rotation's last phase.
    let udp_msgs = wait("syslog over UDP", || {
        Some(udp.messages()).filter(|m| {
            m.iter().any(|l| l.contains("\"phase\":\"done\"")) && m.iter().any(|l| l.contains(" api.request "))
        })
    });
    assert!(udp_msgs.iter().any(|m| m.starts_with("<86>1 ") && m.contains(" rekey - api.request - {")), "{udp_msgs:?}");
    let tcp_msgs =
        wait("syslog over TCP", || Some(tcp.messages()).filter(|m| m.iter().any(|l| l.contains("\"phase\":\"done\""))));
    assert!(tcp_msgs.iter().all(|m| m.starts_with("<158>1 ") || m.starts_with("<156>1 ")), "local3: {tcp_msgs:?}");

    // The webhook failed (503) for a while, then recovers: no rotation event is skipped, as
    // the cursor only moved after accepted batches.
    wait("failed webhook attempts", || Some(hook.requests().len()).filter(|n| *n >= 3));
    hook.status.store(200, Ordering::SeqCst);
    let rotation_seqs: BTreeSet<i64> =
        events.iter().filter(|e| e["action"] == "rotation.phase").map(|e| e["seq"].as_i64().unwrap()).collect();
    let delivered = wait("every rotation event accepted by the webhook", || {
        let got: Vec<i64> = hook
            .accepted()
            .iter()
            .flat_map(|r| signed_json(r)["events"].as_array().unwrap().clone())
            .map(|e| e["seq"].as_i64().unwrap())
            .collect();
        (got.iter().copied().collect::<BTreeSet<_>>() == rotation_seqs).then_some(got)
    });
    assert!(delivered.windows(2).all(|w| w[0] < w[1]), "accepted once each, in order: {delivered:?}");
    let bodies: Vec<Value> = hook.accepted().iter().map(signed_json).collect();
    assert!(bodies.iter().all(|b| b["chain_head"]["hash"].as_str().is_some_and(|h| h.len() == 64)), "{bodies:?}");

    // After a restart each export resumes at its cursor: nothing is sent twice.
    assert!(server.terminate().success());
    let server = Server::start_with(&sb, &args, &[("HOOK_KEY", HOOK_KEY)]);
    let (status, _) = server.json("POST", &format!("/api/v1/accounts/{svc}/rotate"), Some(&token), None);
    assert_eq!(status, 200);
    let events = wait("the second rotation in the file", || Some(lines(&file)).filter(|e| done(e) == 2));
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "no event exported twice across the restart: {seqs:?}");
    let (_, metrics) = server.call("GET", "/metrics", Some(&token), None);
    assert!(metrics.contains("rekey_export_events_total{export=\"file\"}"), "{metrics}");

    // What left the server carries no secret: neither the key rotated in nor the one rotated out.
    let current = sb.json(&["account", "reveal", "p/svc/access-key"])["secret"].as_str().unwrap().to_owned();
    let exported = [std::fs::read_to_string(&file).unwrap(), udp.messages().join("\n"), tcp.messages().join("\n")];
    let hooked: Vec<u8> = hook.requests().into_iter().flat_map(|r| r.body).collect();
    for secret in [&current, &seeded.svc.1] {
        for (i, text) in exported.iter().enumerate() {
            assert!(!text.contains(secret.as_str()), "export {i} carries a secret");
        }
        assert!(!common::contains(&hooked, secret), "the webhook export carries a secret");
    }
    assert!(server.terminate().success());
}

#[test]
fn notifications_name_the_owner_and_overdue_digests_are_not_repeated() {
    let (moto, sb, seeded) = common::svc_world();
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    let tag = aws_sdk_iam::types::Tag::builder().key("rekey:owner").value("alice@example.com").build().unwrap();
    iam::block_on(admin.tag_user().user_name("svc").tags(tag).send()).unwrap();
    fast(&sb, &["--every", "30d", "--script", "/bin/false"]);
    // A failure from before the notifier started is history, not news.
    sb.rekey().args(["rotate", "p/svc/access-key"]).assert().code(9);
    sb.rekey().args(["account", "due", "p/svc/access-key"]).assert().success();
    let token = admin_token(&sb);
    let svc = id_of(&sb);
    let hook = Receiver::start();
    let config = sb.path("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[scheduler]\nenabled = false\n[notify]\nurl = \"{}\"\nkey_env = \"HOOK_KEY\"\ninterval = \"200ms\"\n\
             overdue_after = \"1s\"\noverdue_every = \"1h\"\n",
            hook.url
        ),
    )
    .unwrap();
    let mut server = Server::start_with(
        &sb,
        &["--config", config.to_str().unwrap()],
        &[("HOOK_KEY", HOOK_KEY), ("REKEY_LOG", "info")],
    );
    let of_kind =
        |kind: &str| -> Vec<Value> { hook.requests().iter().map(signed_json).filter(|b| b["event"] == kind).collect() };

    // A rotation that fails (the delivery script exits 1).
    server.json("POST", &format!("/api/v1/accounts/{svc}/rotate"), Some(&token), None);
    let failed = wait("a rotation-failed notification", || of_kind("rotation-failed").pop());
    assert_eq!(failed["owner"], "alice@example.com");
    assert_eq!(failed["account"], "p/svc/access-key");
    assert!(failed["detail"]["error"].as_str().unwrap().contains("script"), "{failed}");

    // A heartbeat that fails (its key deactivated behind rekey's back).
    let key = sb.json(&["account", "show", "p/svc/access-key"])["current_key_id"].as_str().unwrap().to_owned();
    iam::block_on(
        admin
            .update_access_key()
            .user_name("svc")
            .access_key_id(&key)
            .status(aws_sdk_iam::types::StatusType::Inactive)
            .send(),
    )
    .unwrap();
    server.json("POST", &format!("/api/v1/accounts/{svc}/heartbeat"), Some(&token), None);
    let hb = wait("a heartbeat-failed notification", || of_kind("heartbeat-failed").pop());
    assert_eq!(hb["owner"], "alice@example.com");
    assert!(hb["detail"]["findings"].to_string().contains("inactive"), "{hb}");

    // Overdue: made due, never rotated successfully, so overdue after overdue_after.
    let digest = wait("an overdue digest", || of_kind("overdue").pop());
    assert_eq!(digest["owner"], "alice@example.com");
    assert_eq!(digest["accounts"][0]["account"], "p/svc/access-key");

    // The same credential failing again within overdue_every is not told again (a broken
    // account retried on every tick must not flood the receiver); the digest is not repeated
    // either, and history from before the start was not replayed.
    server.json("POST", &format!("/api/v1/accounts/{svc}/heartbeat"), Some(&token), None);
    server.wait_for("not notified again");
    assert_eq!(of_kind("heartbeat-failed").len(), 1, "a repeated failure is not notified again");
    assert_eq!(of_kind("overdue").len(), 1, "one digest per overdue_every");
    assert_eq!(of_kind("rotation-failed").len(), 1, "the failure from before the start is not notified");
    let (_, metrics) = server.call("GET", "/metrics", Some(&token), None);
    assert!(metrics.contains("rekey_notifications_total "), "{metrics}");
    assert!(server.terminate().success());
}

/// Bad `[[export]]` and `[notify]` settings stop `rekey serve` before it opens the vault: exit 2
/// with what was wrong and a hint, and nothing written.
#[test]
fn bad_export_and_notify_settings_are_refused_before_start() {
    let sb = Sandbox::new();
    sb.init();
    let audit = sb.json(&["audit", "list"]);
    let cases = [
        ("[[export]]\nname = \"x\"\nkind = \"kafka\"\n", "not an export kind"),
        ("[[export]]\nname = \"x\"\nkind = \"file\"\n", "no path"),
        ("[[export]]\nname = \"x\"\nkind = \"file\"\npath = \"/tmp/a\"\nurl = \"https://h/x\"\n", "does not apply"),
        ("[[export]]\nname = \"x\"\nkind = \"syslog\"\naddress = \"siem\"\n", "is not HOST:PORT"),
        ("[[export]]\nname = \"x\"\nkind = \"file\"\npath = \"/a\"\nclasses = [\"rotations\"]\n", "not an event class"),
        ("[[export]]\nname = \"x\"\nkind = \"file\"\npath = \"/a\"\n[[export]]\nname = \"x\"\nkind = \"file\"\npath = \"/b\"\n", "two exports"),
        ("[[export]]\nname = \"x\"\nkind = \"webhook\"\nurl = \"https://u:p@h/x\"\nkey_env = \"K\"\n", "credentials"),
        ("[notify]\nurl = \"https://h/x\"\n", "no signing key"),
        ("[notify]\nurl = \"https://h/x\"\nkey_env = \"K\"\non = [\"paged\"]\n", "not a notification"),
        ("[notify]\nurl = \"https://h/x\"\nkey_env = \"K\"\non = []\n", "nothing would be sent"),
        ("[notify]\nurl = \"https://h/x\"\nkey_env = \"K\"\noverdue_every = \"0s\"\n", "must be positive"),
        ("[notify]\nurl = \"https://h/x\"\nkey_file = \"/k\"\nsecret = \"x\"\n", "unknown field"),
        // The vault passphrase may not sign notifications (M4).
        ("[notify]\nurl = \"https://h/x\"\nkey_env = \"REKEY_PASSPHRASE\"\n", "rekey's own variables"),
    ];
    let config = sb.path("bad.toml");
    let missing_key = "[notify]\nurl = \"https://h/x\"\nkey_env = \"TEST_UNSET_SIGNING_KEY\"\n";
    for (toml, needle) in cases.into_iter().chain([(missing_key, "TEST_UNSET_SIGNING_KEY is not set")]) {
        std::fs::write(&config, toml).unwrap();
        let out = sb
            .rekey()
            .args(["serve", "--listen", "127.0.0.1:0", "--config", config.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{toml}: {stderr}");
        assert!(stderr.contains(needle) && stderr.contains("hint:"), "{toml}: {stderr}");
    }
    assert_eq!(sb.json(&["audit", "list"]), audit, "nothing was written");
}
