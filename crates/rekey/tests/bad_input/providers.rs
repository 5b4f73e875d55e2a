//! `provider add` tests the credentials before writing anything (one STS GetCallerIdentity):
//! a wrong secret or an unknown key is refused with the AWS auth exit code (5), saying nothing
//! was added, and the vault is unchanged; `--no-test` adds a provider untested. An endpoint
//! that does not answer is said in one line — the call, the cause, a hint — by the CLI and the
//! API alike, never with the AWS SDK's debug dump of its error chain.

use super::{assert_fails, assert_rejected, snapshot, AUTH, FINDINGS, UPSTREAM};
use crate::common::server::Server;

/// Against moto with authentication on (it checks signatures, as AWS does).
#[test]
fn provider_add_tests_the_credentials_first() {
    let (moto, sb, seeded) = crate::common::svc_world();
    let add = |name: &str, key_id: &str| -> Vec<String> {
        let args = ["provider", "add", name, "--region", "us-east-1", "--endpoint-url", &moto.url];
        let args = [&args[..], &["--access-key-id", key_id, "--secret-stdin"]].concat();
        args.into_iter().map(str::to_owned).collect()
    };
    let admin = &seeded.admin;
    let wrong_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    for (args, secret) in [(add("x", &admin.0), wrong_secret), (add("x", "AKIAIOSFODNN7EXAMPLE"), admin.1.as_str())] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_rejected(&sb, &args, secret, AUTH, "nothing was added; --no-test adds it untested");
    }
    // Untested, the same wrong secret is stored; `provider test` then finds it out.
    let mut untested = add("y", &admin.0);
    untested.push("--no-test".into());
    let out = sb.rekey().args(&untested).write_stdin(wrong_secret).assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("Added without a test"));
    sb.rekey().args(["provider", "test", "y"]).assert().code(AUTH);
    // The right secret passes the test, and the command says whose credentials they are.
    let out = sb.rekey().args(add("z", &admin.0)).write_stdin(admin.1.clone()).assert().success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("Tested: the credentials are arn:aws:iam::") && stderr.contains(":user/"), "{stderr}");
}

/// What the AWS SDK's `Debug` forms of a failed call look like.
const SDK_DEBUG: [&str; 6] = ["DispatchFailure", "ConnectorError", "TimeoutError", "hyper", "source:", "Some("];

fn no_sdk_debug(what: &str, text: &str) {
    for debug in SDK_DEBUG {
        assert!(!text.contains(debug), "{what}: {debug:?} in\n{text}");
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn an_endpoint_that_does_not_answer_is_said_in_one_line() {
    let (moto, sb, seeded) = crate::common::svc_world();
    let url = format!("http://127.0.0.1:{}", closed_port());
    let add = ["provider", "add", "x", "--region", "us-east-1", "--endpoint-url", &url];
    let add = [&add[..], &["--access-key-id", &seeded.admin.0, "--secret-stdin"]].concat();
    let before = snapshot(&sb);
    let out = assert_fails(sb.rekey(), &add, &seeded.admin.1, UPSTREAM, "could not reach the endpoint");
    assert_eq!(snapshot(&sb), before, "nothing was added");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let error = stderr.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(error.starts_with("error: sts:GetCallerIdentity failed: could not reach the endpoint: "), "{stderr}");
    assert!(error.contains("nothing was added"), "{stderr}");
    assert!(stderr.contains("hint: AWS did not answer: check the provider's region and endpoint URL"), "{stderr}");
    let next = stderr.lines().skip_while(|l| !l.starts_with("error: ")).nth(1).unwrap_or_default();
    assert!(next.starts_with("  hint: "), "the error is one line, then the hint:\n{stderr}");
    no_sdk_debug("provider add", &stderr);
    // The provider's AWS goes away: `provider test`, `rotate` and the API (a discovery) say so
    // in one line.
    drop(moto);
    let out = assert_fails(sb.rekey(), &["provider", "test", "p"], "", UPSTREAM, "could not reach the endpoint");
    no_sdk_debug("provider test", &String::from_utf8_lossy(&out.stderr));
    let out = sb.rekey().args(["rotate", "p/svc/access-key", "-o", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(FINDINGS), "{}", String::from_utf8_lossy(&out.stderr));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = reports[0]["error"].as_str().unwrap();
    assert!(error.contains(" failed: could not reach the endpoint: "), "{reports}");
    assert!(!error.contains('\n'), "{error}");
    no_sdk_debug(
        "rotate",
        &format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    );
    let token = sb.json(&["token", "create", "--role", "admin", "--name", "ops"])["token"].as_str().unwrap().to_owned();
    let server = Server::start(&sb, &[]);
    let (status, body) = server.json("POST", "/api/v1/providers/p/discover", Some(&token), Some("{}"));
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "upstream", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(" failed: could not reach the endpoint: "), "{body}");
    assert!(body["hint"].as_str().unwrap().starts_with("AWS did not answer"), "{body}");
    no_sdk_debug("the API", &body.to_string());
}
