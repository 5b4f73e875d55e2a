//! `provider add` tests the credentials before writing anything (one STS GetCallerIdentity):
//! a wrong secret or an unknown key is refused with the AWS auth exit code (5), saying nothing
//! was added, and the vault is unchanged; `--no-test` adds a provider untested.

use super::{assert_rejected, AUTH};

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
