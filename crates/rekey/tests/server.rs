//! `rekey serve` end to end (real binary, moto with authentication on): the check-out workflow
//! kills the password that was seen, and no secret reaches the server's log or the audit log;
//! HTTPS; two nodes on one PostgreSQL vault; the console. Roles, folders and every endpoint are
//! tested in-process (crates/rekey-server/tests/api.rs).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{contains, iam, server::Server, vault_bytes, Moto, Sandbox};
use serde_json::Value;

struct World {
    moto: Moto,
    sb: Sandbox,
    seeded: iam::Seeded,
}

fn world() -> World {
    let (moto, sb, seeded) = common::svc_world();
    sb.adopt_password("p", "alice", "Alice-Initial-1!");
    sb.rekey()
        .args(["account", "set", "p/svc/access-key", "--folder", "ops/team", "--verify-successes", "1"])
        .args(["--verify-backoff", "50ms", "--verify-deadline", "20s"])
        .assert()
        .success();
    sb.rekey().args(["account", "set", "p/alice/password", "--folder", "ops/team"]).assert().success();
    World { moto, sb, seeded }
}

fn token(sb: &Sandbox, role: &str, folders: &[&str]) -> String {
    let mut args = vec!["token", "create", "--role", role, "--name", role];
    for f in folders {
        args.extend(["--folder", f]);
    }
    sb.json(&args)["token"].as_str().unwrap().to_owned()
}

fn id_of(sb: &Sandbox, account: &str) -> String {
    sb.json(&["account", "show", account])["id"].as_str().unwrap().to_owned()
}

#[test]
fn checkout_is_exclusive_and_checkin_rotates_the_password_that_was_seen() {
    let w = world();
    let operator = token(&w.sb, "operator", &["ops"]);
    let other = token(&w.sb, "operator", &[]);
    let admin = token(&w.sb, "admin", &[]);
    let server = Server::start(&w.sb, &[("REKEY_SCHEDULER_INTERVAL", "200ms"), ("REKEY_LOG", "debug")]);
    let alice = id_of(&w.sb, "p/alice/password");
    let svc = id_of(&w.sb, "p/svc/access-key");

    let path = |action: &str| format!("/api/v1/accounts/{alice}/{action}");
    let (status, out) = server.json("POST", &path("checkout"), Some(&operator), Some(r#"{"ttl":"10m"}"#));
    assert_eq!(status, 200, "{out}");
    let seen = out["password"].as_str().unwrap().to_owned();
    assert_eq!(iam::stored_password(&w.moto, "alice").as_deref(), Some(seen.as_str()));
    let (status, out) = server.json("POST", &path("checkout"), Some(&other), None);
    assert_eq!((status, out["code"].as_str()), (409, Some("conflict")), "exclusive: {out}");
    assert_eq!(server.call("POST", &path("checkin"), Some(&other), None).0, 409, "only the holder checks in");
    let (status, out) = server.json("POST", &format!("/api/v1/accounts/{svc}/checkout"), Some(&admin), None);
    assert_eq!(status, 400, "access keys are not checked out: {out}");

    // The password stays as it was while it is out.
    assert_eq!(iam::stored_password(&w.moto, "alice").as_deref(), Some(seen.as_str()));
    assert_eq!(server.call("POST", &path("checkin"), Some(&operator), None).0, 200);
    let mut rotated = None;
    for _ in 0..600 {
        let (_, rotations) = server.json("GET", &format!("/api/v1/rotations?account={alice}"), Some(&admin), None);
        if rotations["items"].as_array().is_some_and(|r| r.iter().any(|r| r["phase"] == "done")) {
            rotated = Some(rotations);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(rotated.is_some(), "the scheduler rotated the returned password; log: {}", server.log_text());
    let now = iam::stored_password(&w.moto, "alice").unwrap();
    assert_ne!(now, seen, "the password that was checked out no longer works");
    let (_, revealed) = server.json("POST", &format!("/api/v1/accounts/{alice}/reveal"), Some(&admin), None);
    assert_eq!(revealed["secret"].as_str(), Some(now.as_str()), "the vault holds the new password");
    let (status, out) = server.json("POST", &path("checkout"), Some(&other), None);
    assert_eq!(status, 200, "free again after the rotation: {out}");

    let (_, metrics) = server.call("GET", "/metrics", Some(&admin), None);
    assert!(metrics.contains("rekey_rotations_total{outcome=\"done\"}"), "{metrics}");
    assert!(metrics.contains("rekey_rotation_phase_seconds_count{kind=\"password\",phase=\"committed\"}"), "{metrics}");
    assert!(
        metrics.contains(&format!("rekey_account_last_success_timestamp_seconds{{account=\"{alice}\"")),
        "{metrics}"
    );

    // No secret in the server's debug log, the audit log or the vault file.
    let log = server.log_text();
    let audit = w.sb.rekey().args(["audit", "list", "--output", "json"]).output().unwrap().stdout;
    let stored = vault_bytes(&w.sb.vault_file());
    for secret in [seen.as_str(), now.as_str(), w.seeded.svc.1.as_str(), "Alice-Initial-1!"] {
        assert!(!log.contains(secret), "a secret in the server log");
        assert!(!contains(&audit, secret), "a secret in the audit log");
        assert!(!contains(&stored, secret), "a secret in the vault file in the clear");
    }
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn tls_serves_https_only_with_the_configured_certificate() {
    let sb = Sandbox::new();
    sb.init();
    let (cert, key) = (sb.path("tls.crt"), sb.path("tls.key"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=rekey-test", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "openssl: {}", String::from_utf8_lossy(&made.stderr));
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let mut server = Server::start(
        &sb,
        &[
            ("REKEY_SCHEDULER_ENABLED", "false"),
            ("REKEY_TLS_CERT", &cert_s),
            ("REKEY_TLS_KEY", &key_s),
            ("REKEY_HEADER_TIMEOUT", "500ms"),
        ],
    );
    assert!(server.wait_for_logged("listening on https://"), "{}", server.log_text());
    let curl = |url: String| {
        std::process::Command::new("curl").args(["-s", "--max-time", "20", "--cacert", &cert_s, &url]).output().unwrap()
    };
    let ok = curl(format!("https://127.0.0.1:{}/healthz", server.port));
    assert!(ok.status.success(), "HTTPS with the certificate verified: {ok:?}");
    assert_eq!(serde_json::from_slice::<Value>(&ok.stdout).unwrap()["status"], "ok");
    let plain = curl(format!("http://127.0.0.1:{}/healthz", server.port));
    assert!(!plain.status.success() || plain.stdout.is_empty(), "no plain HTTP on a TLS listener: {plain:?}");
    let again = curl(format!("https://127.0.0.1:{}/readyz", server.port));
    assert!(again.status.success(), "a failed handshake does not stop the listener: {again:?}");
    // A client that opens a connection and never says hello is dropped after the header timeout.
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    silent.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let closed = std::io::Read::read(&mut silent, &mut [0u8; 64]);
    assert!(matches!(closed, Ok(0)) || closed.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset));
    let head = curl(format!("https://127.0.0.1:{}/healthz", server.port));
    let text = String::from_utf8_lossy(&head.stdout);
    assert!(head.status.success() && !text.is_empty(), "{head:?}");

    // A key without a certificate is refused before anything starts.
    let out = sb.rekey().args(["serve", "--listen", "127.0.0.1:0", "--tls-key", &key_s]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TLS needs both a certificate and a key"));
}

/// SIGTERM while 20 clients hold half-sent requests (and the header timeout is an hour): the
/// server closes them and exits at once instead of waiting for the clients to leave.
#[test]
fn m5_sigterm_with_half_open_requests_stops_the_server_promptly() {
    let sb = Sandbox::new();
    sb.init();
    let mut server = Server::start(&sb, &[("REKEY_SCHEDULER_ENABLED", "false"), ("REKEY_HEADER_TIMEOUT", "1h")]);
    let clients: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            std::io::Write::write_all(&mut s, b"POST /api/v1/accounts HTTP/1.1\r\nHost: x\r\nContent-").unwrap();
            s
        })
        .collect();
    assert_eq!(server.call("GET", "/healthz", None, None).0, 200, "the server answers others meanwhile");
    let status = server.terminate_within(std::time::Duration::from_secs(60));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "stopped with 20 half-open requests: {}", server.log_text());
    drop(clients);
}

/// Two server nodes on one PostgreSQL vault, both scheduling: every scheduled rotation runs
/// once, on one node at a time; the audit chain stays whole under concurrent appends.
#[test]
fn two_nodes_on_one_postgres_vault_share_the_schedule() {
    let Some(pg) = common::pg::schema() else { return };
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", iam::SEED_REQUESTS)]);
    let seeded = iam::seed_with_auth(&moto);
    let sb = Sandbox::with_vault(pg.url.clone());
    sb.init();
    sb.add_provider(&moto, "p", &seeded.admin);
    sb.adopt_key("p", "svc", &seeded.svc);
    sb.fast_verify("p/svc/access-key").args(["--every", "1d", "--previous-key", "delete"]).assert().success();
    let env = [("REKEY_SCHEDULER_INTERVAL", "100ms")];
    let (a, b) = (Server::start(&sb, &env), Server::start(&sb, &env));
    let done = |sb: &Sandbox| {
        let all = sb.json(&["rotation", "list"]);
        all.as_array().unwrap().iter().filter(|r| r["phase"] == "done").count()
    };
    // Three periods: each time the account is made due, the two schedulers rotate it once.
    for round in 1..=3 {
        sb.rekey().args(["account", "due", "p/svc/access-key"]).assert().success();
        let mut n = 0;
        for _ in 0..600 {
            n = done(&sb);
            if n >= round {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(n, round, "one rotation per due period: {}", a.log_text());
    }
    assert_eq!((a.terminate().code(), b.terminate().code()), (Some(0), Some(0)));
    let rotations = sb.json(&["rotation", "list"]);
    let mut spans: Vec<(String, String)> = rotations
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| Some((r["started_at"].as_str()?.to_owned(), r["finished_at"].as_str()?.to_owned())))
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "rotations of one account never overlap: {pair:?}");
    }
    let new_keys: std::collections::HashSet<&str> =
        rotations.as_array().unwrap().iter().filter_map(|r| r["new_key_id"].as_str()).collect();
    assert_eq!(new_keys.len(), rotations.as_array().unwrap().iter().filter(|r| r["new_key_id"].is_string()).count());
    sb.json(&["recover"]);
    let v = sb.json(&["account", "reveal", "p/svc/access-key"]);
    let (current, secret) = (v["access_key_id"].as_str().unwrap(), v["secret"].as_str().unwrap());
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    let keys: Vec<String> = iam::keys_of(&admin, "svc").into_iter().map(|k| k.0).collect();
    assert_eq!(keys, [current], "IAM holds just the vault's key");
    assert!(iam::block_on(iam::client_with(&moto, current, secret).get_user().send()).is_ok());
    sb.rekey().args(["audit", "verify"]).assert().success();
}

/// The web console is served without a token under a strict Content-Security-Policy, holds no
/// data itself, and every API call its script makes is a documented operation.
#[test]
fn the_web_console_uses_only_documented_operations() {
    let sb = Sandbox::new();
    sb.init();
    let server = Server::start(&sb, &[("REKEY_SCHEDULER_ENABLED", "false")]);
    let get = |path: &str| common::server::request_with_head(server.port, "GET", path, None, None);
    let (status, head, _) = get("/");
    assert!((300..400).contains(&status) && head.contains("location: /ui/"), "{status} {head}");
    let (status, head, page) = get("/ui/");
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(head.contains("content-security-policy: default-src 'none'; script-src 'self'"), "{head}");
    assert!(head.contains("x-frame-options: deny") && head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(page.contains("src=\"/ui/app.js\"") && !page.contains("<script>"), "no inline script (the CSP forbids it)");
    // Every module of the console's source folder is served, and none parses data as HTML.
    let sources = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rekey-server/src/console");
    let mut script = String::new();
    for entry in std::fs::read_dir(sources).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(module) = name.strip_suffix(".js") else { continue };
        let (status, head, text) = get(&format!("/ui/{module}.js"));
        assert_eq!(status, 200, "{name} is served");
        assert!(head.contains("content-type: text/javascript"), "{head}");
        assert!(!text.contains("innerHTML"), "{name}: API data is only ever set as text");
        script.push_str(&text);
    }
    assert_eq!(get("/ui/app.css").0, 200);
    let (status, head, _) = get("/ui/favicon.svg");
    assert!(status == 200 && head.contains("content-type: image/svg+xml"), "{status} {head}");
    assert_eq!(get("/ui/nothing.js").0, 404);

    // Every `api("METHOD", "/api/v1/…")` call names an operation of the OpenAPI document.
    let (_, doc) = server.json("GET", "/openapi.json", None, None);
    let norm = |p: &str| {
        let mut out = String::new();
        let mut depth = 0;
        for c in p.split('?').next().unwrap().chars() {
            match c {
                '{' => {
                    depth += 1;
                    if depth == 1 {
                        out.push_str("{}");
                    }
                }
                '}' => depth -= 1,
                '$' => {}
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out
    };
    let documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), norm(p))))
        .collect();
    let mut calls = 0;
    for call in script.split("api(\"").skip(1) {
        let (method, rest) = call.split_once("\", ").unwrap();
        let path: String = rest[1..].chars().take_while(|c| *c != '`' && *c != '"').collect();
        assert!(documented.contains(&(method.to_owned(), norm(&path))), "{method} {path} is not documented");
        calls += 1;
    }
    assert!(calls >= 10, "the console's calls were found ({calls})");
    drop(server);
    let off = Server::start(&sb, &[("REKEY_SCHEDULER_ENABLED", "false"), ("REKEY_CONSOLE", "false")]);
    assert_eq!(off.call("GET", "/ui/", None, None).0, 404, "console = false serves no console");
}
