//! Process and file hardening end to end (issue findings H1, L1, L2, L6, L7, L9, M4, CSV formulas
//! and `report --out`): the real binary, moto where IAM is needed.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{iam, Moto, Sandbox, PASSPHRASE};
use std::os::unix::fs::PermissionsExt;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn sh(cmd: &str) -> String {
    let out = std::process::Command::new("sh").args(["-c", cmd]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A vault with provider `p` on `moto` and user `svc`'s access key adopted.
fn world() -> (Moto, Sandbox) {
    let moto = Moto::start();
    let admin = iam::admin(&moto);
    iam::create_user(&moto, "svc");
    let svc = iam::create_key(&moto, "svc");
    let sb = Sandbox::new();
    sb.init();
    sb.add_provider(&moto, "p", &admin);
    sb.adopt_key("p", "svc", &svc);
    (moto, sb)
}

/// L2: the audit log names the OS user the process runs as, whatever `$USER` says.
#[test]
fn the_audit_actor_is_the_os_user_not_the_user_variable() {
    let sb = Sandbox::new();
    sb.rekey().env("USER", "mallory").env("LOGNAME", "mallory").arg("init").assert().success();
    let events = sb.json(&["audit", "list"]);
    let actor = events[0]["actor"].as_str().unwrap();
    let (uid, name) = (sh("id -u"), sh("id -un"));
    assert!(actor.starts_with(&format!("cli:{name}({uid})@")), "{actor}");
    assert!(!actor.contains("mallory"), "{actor}");
}

/// L6: REKEY_PASSPHRASE is gone from the environment a child process inherits (here an AWS
/// `credential_process`, which the SDK runs with rekey's environment), and core dumps are off.
#[test]
fn children_inherit_neither_the_passphrase_nor_core_dumps() {
    let sb = Sandbox::new();
    sb.init();
    let script = sb.path("creds.sh");
    let dump = sb.path("child");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nenv > {d}.env\nulimit -c > {d}.core\n\
             echo '{{\"Version\": 1, \"AccessKeyId\": \"AKIAEXAMPLE\", \"SecretAccessKey\": \"x\"}}'\n",
            d = dump.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = sb.path("aws-config");
    std::fs::write(&config, format!("[default]\ncredential_process = {}\n", script.display())).unwrap();
    // An endpoint nobody listens on: credentials are resolved (the child runs), then the call fails.
    sb.rekey()
        .args(["provider", "add", "chain", "--region", "us-east-1", "--default-chain", "--no-test"])
        .args(["--endpoint-url", "http://127.0.0.1:9"])
        .assert()
        .success();
    sb.rekey()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", sb.path("no-credentials"))
        .args(["provider", "test", "chain"])
        .assert()
        .failure();
    let env = std::fs::read_to_string(format!("{}.env", dump.display())).expect("the credential process ran");
    assert!(env.contains("REKEY_VAULT="), "the child saw rekey's environment: {env}");
    assert!(!env.contains("REKEY_PASSPHRASE") && !env.contains(PASSPHRASE), "the passphrase leaked: {env}");
    let core = std::fs::read_to_string(format!("{}.core", dump.display())).unwrap();
    assert_eq!(core.trim(), "0", "core dumps are disabled (RLIMIT_CORE 0)");
}

/// L7: a passphrase file others may read is refused (exit 7, how to fix it); 0600 works.
#[test]
fn a_passphrase_file_others_may_read_is_refused() {
    let sb = Sandbox::new();
    sb.init();
    let file = sb.path("passphrase");
    std::fs::write(&file, format!("{PASSPHRASE}\n")).unwrap();
    for m in [0o644, 0o640, 0o660] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(m)).unwrap();
        sb.rekey()
            .env_remove("REKEY_PASSPHRASE")
            .arg("--passphrase-file")
            .arg(&file)
            .args(["provider", "list"])
            .assert()
            .code(7)
            .stderr(predicates::str::contains("readable or writable by other users"))
            .stderr(predicates::str::contains("chmod 600"));
    }
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    sb.rekey()
        .env_remove("REKEY_PASSPHRASE")
        .arg("--passphrase-file")
        .arg(&file)
        .args(["provider", "list"])
        .assert()
        .success();
}

/// L9: with the SDK's LOG_SIGNABLE_BODY and trace logs, a new console password is not printed.
#[test]
fn trace_logs_never_carry_a_new_password() {
    let moto = Moto::start();
    let admin = iam::admin(&moto);
    iam::create_user(&moto, "alice");
    iam::create_login_profile(&moto, "alice", "Initial-Passw0rd!x");
    let sb = Sandbox::new();
    sb.init();
    sb.add_provider(&moto, "p", &admin);
    sb.adopt_password("p", "alice", "Initial-Passw0rd!x");
    let out = sb
        .rekey()
        .env("REKEY_LOG", "trace")
        .env("LOG_SIGNABLE_BODY", "true")
        .args(["rotate", "p/alice/password"])
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("LOG_SIGNABLE_BODY is ignored"), "the override is reported");
    assert!(stderr.contains("UpdateLoginProfile"), "trace logs were on");
    let password = sb.json(&["account", "reveal", "p/alice/password"])["secret"].as_str().unwrap().to_owned();
    assert_ne!(password, "Initial-Passw0rd!x");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stderr.contains(&password) && !stdout.contains(&password), "the new password was logged");
    let encoded: String = password
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    assert!(!stderr.contains(&encoded), "the new password was logged form-encoded");
}

/// M4: a webhook may not be signed with the vault passphrase (REKEY_* variables) or with the
/// passphrase file, under any name for it.
#[test]
fn master_key_material_is_refused_as_a_signing_key() {
    let (_moto, sb) = world();
    let pass = sb.path("passphrase");
    std::fs::write(&pass, PASSPHRASE).unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = sb.path("innocent.key");
    std::os::unix::fs::symlink(&pass, &link).unwrap();
    let set = |key: &[&str]| {
        let mut c = sb.rekey();
        c.env_remove("REKEY_PASSPHRASE").arg("--passphrase-file").arg(&pass);
        c.args(["account", "set", "p/svc/access-key", "--webhook", "https://hooks.example.com/x"]).args(key);
        c
    };
    for var in ["REKEY_PASSPHRASE", "REKEY_PASSPHRASE_FILE"] {
        set(&["--webhook-key-env", var]).assert().code(2).stderr(predicates::str::contains("rekey's own variables"));
    }
    for file in [&pass, &link] {
        set(&["--webhook-key-file", file.to_str().unwrap()])
            .assert()
            .code(2)
            .stderr(predicates::str::contains("passphrase or key file"));
    }
    let shown = sb.json(&["account", "show", "p/svc/access-key"]);
    let targets = shown["settings"]["targets"].as_array().map_or(0, Vec::len);
    assert_eq!(targets, 0, "nothing was saved: {shown}");
    let own = sb.path("signing.key");
    std::fs::write(&own, "0123456789abcdef0123456789abcdef").unwrap();
    set(&["--webhook-key-file", own.to_str().unwrap()]).assert().success();
}

/// CSV cells a spreadsheet would run as formulas are neutralised; `report --out` is 0600.
#[test]
fn csv_neutralises_formulas_and_reports_are_private() {
    let (_moto, sb) = world();
    let title = "=HYPERLINK(\"http://evil.example/\",\"open\")";
    sb.rekey().args(["account", "set", "p/svc/access-key", "--name", title]).assert().success();
    let out = sb.rekey().args(["account", "list", "-o", "csv"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\"'=HYPERLINK(\"\"http://evil.example/\"\",\"\"open\"\")\""), "{text}");
    assert!(!text.contains(",=HYPERLINK") && !text.starts_with("=HYPERLINK"), "{text}");
    let report = sb.path("report.csv");
    std::fs::write(&report, "old").unwrap();
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o644)).unwrap();
    let fresh = sb.path("report.html");
    for (path, format) in [(&report, "csv"), (&fresh, "html")] {
        let code = sb
            .rekey()
            .args(["report", "--format", format, "--out", path.to_str().unwrap()])
            .output()
            .unwrap()
            .status
            .code();
        assert!(matches!(code, Some(0 | 9)), "report exit {code:?}");
        assert_eq!(mode(path), 0o600, "{}", path.display());
        assert!(std::fs::read_to_string(path).unwrap().contains("svc"));
    }
}

/// H1: a rotation refuses a credentials file that is a symbolic link before it creates a key
/// (nothing written through the link, IAM unchanged); a 0644 file is replaced by a 0600 one.
#[test]
fn h1_credentials_file_delivery_refuses_links_and_ends_private() {
    let (moto, sb) = world();
    let before = iam::key_ids(&moto, "svc");
    let victim = sb.path("victim");
    std::fs::write(&victim, "[victim]\naws_access_key_id = AKIAVICTIM\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let creds = sb.path("credentials");
    std::os::unix::fs::symlink(&victim, &creds).unwrap();
    let set = || {
        let mut c = sb.rekey();
        c.args(["account", "set", "p/svc/access-key", "--credentials-file", creds.to_str().unwrap()]);
        c.args(["--profile", "svc"]);
        c
    };
    set().assert().code(2).stderr(predicates::str::contains("symbolic link"));
    // Set while a regular file, then swapped for a link behind rekey's back.
    std::fs::remove_file(&creds).unwrap();
    std::fs::write(&creds, "").unwrap();
    set().assert().success();
    std::fs::remove_file(&creds).unwrap();
    std::os::unix::fs::symlink(&victim, &creds).unwrap();
    let out = sb.rekey().args(["rotate", "p/svc/access-key"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "rotated through a link: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("symbolic link"), "the report says why: {stdout}");
    assert_eq!(iam::key_ids(&moto, "svc"), before, "no key was created");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "[victim]\naws_access_key_id = AKIAVICTIM\n");
    assert!(!sb.path("credentials.rekey-backup").exists());
    // The link replaced by a readable file of the operator's: delivered, and private now.
    std::fs::remove_file(&creds).unwrap();
    std::fs::write(&creds, "[other]\nregion = eu-west-1\n").unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
    sb.rekey().args(["rotate", "p/svc/access-key"]).assert().success();
    let text = std::fs::read_to_string(&creds).unwrap();
    let key = sb.json(&["account", "reveal", "p/svc/access-key"]);
    assert!(text.contains(&format!("aws_access_key_id = {}", key["access_key_id"].as_str().unwrap())), "{text}");
    assert!(text.contains("[other]\nregion = eu-west-1"), "{text}");
    assert_eq!(mode(&creds), 0o600);
    assert_eq!(mode(&sb.path("credentials.rekey-backup")), 0o600);
}

/// L1: plain HTTP carries a secret only to loopback by address: a host name that starts like
/// one is refused, and nothing is saved.
#[test]
fn l1_a_webhook_host_that_only_looks_like_loopback_is_refused() {
    let (_moto, sb) = world();
    let key = sb.path("signing.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef").unwrap();
    let set = |url: &str| {
        let mut c = sb.rekey();
        c.args(["account", "set", "p/svc/access-key", "--webhook", url, "--webhook-include-secret"]);
        c.args(["--webhook-key-file", key.to_str().unwrap()]);
        c
    };
    for url in ["http://127.attacker.example.com/hook", "http://localhost.attacker.example/hook", "http://127.1/hook"] {
        set(url).assert().code(2).stderr(predicates::str::contains("plain HTTP"));
    }
    let shown = sb.json(&["account", "show", "p/svc/access-key"]);
    assert_eq!(shown["settings"]["targets"].as_array().map_or(0, Vec::len), 0, "nothing was saved: {shown}");
    set("http://127.0.0.1:9/hook").assert().success();
}

/// A reader that went away (`rekey report 2>&1 | head -1`): writing to the closed stdout or
/// stderr must neither panic (exit 101) nor change the exit code the command has anyway.
#[test]
fn a_closed_stdout_or_stderr_keeps_the_commands_exit_code() {
    use std::process::Stdio;
    let closed = || {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        Stdio::from(writer)
    };
    let sb = Sandbox::new();
    sb.init();
    let cases: [(&[&str], i32); 5] = [
        (&["completions", "bash"], 0),         // a long script on stdout
        (&["account", "list"], 0),             // a table on stdout
        (&["report"], 0),                      // the report on stdout, its summary on stderr
        (&["account", "show", "zzzzzzzz"], 3), // an error report on stderr
        (&["init"], 4),                        // the vault exists: an error on stderr
    ];
    for (args, code) in cases {
        for (out, err, which) in [(true, false, "stdout"), (false, true, "stderr"), (true, true, "both")] {
            let mut cmd = sb.std_rekey();
            cmd.args(args).stdin(Stdio::null());
            cmd.stdout(if out { closed() } else { Stdio::null() });
            cmd.stderr(if err { closed() } else { Stdio::null() });
            let status = cmd.status().unwrap();
            assert_eq!(status.code(), Some(code), "rekey {args:?} with {which} closed");
        }
    }
}

/// Standard output that cannot be written for another reason than a closed pipe (a full disk)
/// fails the command: a token shown once would otherwise be lost with exit 0.
#[test]
fn output_lost_to_a_full_disk_fails_the_command() {
    let sb = Sandbox::new();
    sb.init();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out =
        sb.std_rekey().args(["token", "create", "--name", "lost", "--role", "auditor"]).stdout(full).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the output could not be written"), "{stderr}");
}

/// `rekey serve` with a closed stderr (`rekey serve 2>&1 | head -1`) serves, and stops on
/// SIGTERM with exit 0: its "listening on" line must not panic the server.
#[test]
fn the_server_runs_and_stops_with_a_closed_stderr() {
    use std::{process::Stdio, time::Duration};
    let sb = Sandbox::new();
    sb.init();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = sb
        .std_rekey()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(writer)
        .spawn()
        .unwrap();
    // Up once /healthz answers (by then the server also waits for SIGTERM).
    let healthy = || {
        use std::io::{Read, Write};
        let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
        let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut answer = String::new();
        let _ = c.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.1 200")
    };
    let up = (0..300).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        child.try_wait().unwrap().is_none() && healthy()
    });
    let early = child.try_wait().unwrap();
    if !up || early.is_some() {
        let _ = child.kill();
        panic!("rekey serve did not come up with a closed stderr: {:?}", child.wait().unwrap());
    }
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert_eq!(child.wait().unwrap().code(), Some(0), "rekey serve stopped cleanly");
}
