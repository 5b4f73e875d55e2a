//! IAM fault tests: rekey talks to moto (request authentication on) through a proxy that makes
//! one IAM/STS action fail — HTTP 500 `ServiceFailure`, HTTP 400 `Throttling`, a connection
//! closed without an answer (before moto saw the request, or after moto acted on it: a lost
//! answer), or an answer that never comes (longer than the attempt timeout) — once (the SDK's
//! retries or the engine must absorb it and the rotation completes) or until the fault is
//! removed (the rotation must end cleanly aborted or stay interrupted, and `rekey recover`
//! finishes it once IAM answers again). Every IAM and STS call of both rotation machines is
//! covered. After each case the promise is checked against moto as in crash.rs: the vault's
//! current credential works, IAM holds no key the vault does not have, moto's stored password is
//! the vault's, and no rotation is left open.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{
    iam,
    proxy::{Fault, FaultKind, Proxy},
    Moto, Sandbox,
};

const KEY: &str = common::SVC_KEY;
const PASSWORD: &str = "p/alice/password";
/// bob has no console password; rotating it creates one.
const NEW_PASSWORD: &str = "p/bob/password";
const INITIAL_PASSWORD: &str = "Alice-Initial-1!";
/// Until the fault is removed.
const ALWAYS: u32 = u32::MAX;

struct World {
    moto: Moto,
    proxy: Proxy,
    sb: Sandbox,
    seeded: iam::Seeded,
}

/// moto with authentication on, the proxy in front of it, a vault whose provider `p` (admin's
/// key) goes through the proxy, and the accounts of crash.rs with short verification and an
/// immediate deletion of the previous key.
fn world() -> World {
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", iam::SEED_REQUESTS)]);
    let seeded = iam::seed_with_auth(&moto);
    let proxy = Proxy::start(moto.port);
    let sb = Sandbox::new();
    sb.init();
    sb.add_provider_at(&proxy.url, "p", &seeded.admin);
    sb.adopt_key("p", "svc", &seeded.svc);
    sb.adopt_password("p", "alice", INITIAL_PASSWORD);
    let creds = sb.path("credentials").display().to_string();
    sb.fast_verify(KEY)
        .args(["--verify-deadline", "5s"])
        .args(["--previous-key", "delete", "--deactivate-after", "0s", "--delete-after", "0s"])
        .args(["--credentials-file", &creds, "--profile", "svc"])
        .assert()
        .success();
    World { moto, proxy, sb, seeded }
}

/// How the faulted `rekey rotate` must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The fault was absorbed: the rotation completed.
    Done,
    /// The rotation stopped in this phase; `recover` finishes it once the fault is gone.
    Interrupted(&'static str),
    /// The rotation was aborted cleanly: the old credential is still current.
    Aborted,
}

/// One case: `action` of the rotation of `account` meets `kind`, after `skip` untouched calls
/// of it, `times` times; `also`, if any, is armed beside it (to reach a call only a failure of
/// another makes).
struct Case {
    account: &'static str,
    action: &'static str,
    kind: FaultKind,
    skip: u32,
    times: u32,
    expect: Expect,
    also: Option<Fault>,
}

/// The generic test body.
fn run(c: Case) {
    let w = world();
    if c.account == NEW_PASSWORD {
        add_bob(&w);
    }
    w.proxy.arm(Fault { action: c.action.into(), kind: c.kind, skip: c.skip, times: c.times });
    if let Some(also) = c.also.clone() {
        w.proxy.arm_also(also);
    }
    let mut cmd = w.sb.rekey();
    cmd.args(["rotate", c.account, "--output", "json"]);
    if matches!(c.kind, FaultKind::Hang | FaultKind::HangAfter) {
        // A held request costs one attempt timeout: keep it short.
        cmd.env("REKEY_AWS_ATTEMPT_TIMEOUT", "2s");
    }
    let out = cmd.output().expect("run rekey rotate");
    let injected = w.proxy.injected();
    w.proxy.disarm();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "rekey panicked: {stderr}");
    assert!(injected >= 1, "the fault on {} was never reached; actions seen: {:?}", c.action, w.proxy.seen());
    if c.times != ALWAYS {
        assert_eq!(injected, c.times, "fault injected {injected} times, armed for {}", c.times);
    }
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("rotate printed no JSON ({e}): {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    let report = &reports[0];
    let (outcome, phase, code) = match c.expect {
        Expect::Done => ("done", "done", 0),
        Expect::Interrupted(phase) => ("interrupted", phase, 9),
        Expect::Aborted => ("aborted", "aborted", 9),
    };
    assert_eq!(
        (report["outcome"].as_str(), report["phase"].as_str(), out.status.code()),
        (Some(outcome), Some(phase), Some(code)),
        "rotate under {:?} x{} on {}: {report}\n{stderr}",
        c.kind,
        c.times,
        c.action
    );
    if c.account == KEY {
        // Even with the fault still unresolved, the vault's current key works.
        common::svc_key_works(&w.moto, &w.sb);
    }
    recover(&w);
    match c.account {
        KEY => check_access_key(&w, c.expect != Expect::Aborted),
        PASSWORD => check_password(&w),
        _ => check_new_password(&w),
    }
}

/// User bob without a console password (created as admin: moto authenticates by now), managed
/// as a password account that may create its login profile.
fn add_bob(w: &World) {
    let admin = iam::client_with(&w.moto, &w.seeded.admin.0, &w.seeded.admin.1);
    iam::block_on(admin.create_user().user_name("bob").send()).expect("create bob");
    w.sb.rekey().args(["account", "add", "--provider", "p", "--user", "bob", "--kind", "password"]).assert().success();
    w.sb.rekey().args(["account", "set", NEW_PASSWORD, "--create-login-profile"]).assert().success();
}

/// `rekey recover` with the fault removed succeeds and leaves no rotation open.
fn recover(w: &World) {
    w.sb.rekey().arg("recover").assert().code(0);
    let open = w.sb.json(&["rotation", "list", "--open"]);
    assert_eq!(open, serde_json::json!([]), "an unfinished rotation is left after recover");
}

fn check_access_key(w: &World, rotated: bool) {
    common::check_svc_key(&w.moto, &w.sb, &w.seeded, rotated);
}

fn check_password(w: &World) {
    let vault = w.sb.json(&["account", "reveal", PASSWORD])["secret"].as_str().unwrap().to_owned();
    assert_eq!(iam::stored_password(&w.moto, "alice").as_deref(), Some(vault.as_str()), "IAM and the vault disagree");
    assert_ne!(vault, INITIAL_PASSWORD, "the rotation did not complete");
}

fn check_new_password(w: &World) {
    let shown = w.sb.json(&["account", "reveal", NEW_PASSWORD]);
    let vault = shown["secret"].as_str().expect("the vault has bob's password").to_owned();
    assert_eq!(iam::stored_password(&w.moto, "bob").as_deref(), Some(vault.as_str()), "IAM and the vault disagree");
}

/// `name => account action kind (skip N)? xTIMES => expectation`.
macro_rules! cases {
    ($($name:ident => $account:ident $action:literal $kind:ident $(skip $skip:literal)? x $times:expr => $expect:expr;)*) => {
        $(
            #[test]
            fn $name() {
                run(Case {
                    account: $account,
                    action: $action,
                    kind: FaultKind::$kind,
                    skip: 0 $(+ $skip)?,
                    times: $times,
                    expect: $expect,
                    also: None,
                });
            }
        )*
    };
}

use Expect::{Aborted, Done, Interrupted};

// Access-key rotation, in call order. Transient faults (x1) are absorbed by the SDK's retries
// (by the verification loop for GetCallerIdentity, which signs with the new key and makes one
// attempt per try); a persistent fault leaves the rotation interrupted where it stopped, except
// during verification, which aborts and deletes the new key once its deadline passes. Retiring
// a key needs no UntagUser: the next rotation's TagUser leaves the deleted key out.
cases! {
    ak_get_user_500 => KEY "GetUser" ServiceFailure x 1 => Done;
    ak_get_user_throttling => KEY "GetUser" Throttling x 1 => Done;
    ak_get_user_reset => KEY "GetUser" Reset x 1 => Done;
    ak_get_user_lost => KEY "GetUser" Lost x 1 => Done;
    ak_get_user_500_persistent => KEY "GetUser" ServiceFailure x ALWAYS => Interrupted("preflight");

    ak_list_keys_500 => KEY "ListAccessKeys" ServiceFailure x 1 => Done;
    ak_list_keys_throttling => KEY "ListAccessKeys" Throttling x 1 => Done;
    ak_list_keys_reset => KEY "ListAccessKeys" Reset x 1 => Done;
    ak_list_keys_lost => KEY "ListAccessKeys" Lost x 1 => Done;
    ak_list_keys_500_persistent => KEY "ListAccessKeys" ServiceFailure x ALWAYS => Interrupted("preflight");

    ak_create_500 => KEY "CreateAccessKey" ServiceFailure x 1 => Done;
    ak_create_throttling => KEY "CreateAccessKey" Throttling x 1 => Done;
    ak_create_reset => KEY "CreateAccessKey" Reset x 1 => Done;
    ak_create_lost => KEY "CreateAccessKey" Lost x 1 => Done;
    ak_create_timeout => KEY "CreateAccessKey" Hang x 1 => Done;
    ak_create_timeout_after_create => KEY "CreateAccessKey" HangAfter x 1 => Done;
    ak_create_500_persistent => KEY "CreateAccessKey" ServiceFailure x ALWAYS => Interrupted("create_requested");
    ak_create_lost_persistent => KEY "CreateAccessKey" Lost x ALWAYS => Interrupted("create_requested");

    ak_tag_500 => KEY "TagUser" ServiceFailure x 1 => Done;
    ak_tag_throttling => KEY "TagUser" Throttling x 1 => Done;
    ak_tag_reset => KEY "TagUser" Reset x 1 => Done;
    ak_tag_lost => KEY "TagUser" Lost x 1 => Done;
    // The first TagUser is the `creating` mark, before any key is created.
    ak_tag_500_persistent => KEY "TagUser" ServiceFailure x ALWAYS => Interrupted("create_requested");

    ak_verify_500 => KEY "GetCallerIdentity" ServiceFailure x 1 => Done;
    ak_verify_throttling => KEY "GetCallerIdentity" Throttling x 1 => Done;
    ak_verify_reset => KEY "GetCallerIdentity" Reset x 1 => Done;
    ak_verify_lost => KEY "GetCallerIdentity" Lost x 1 => Done;
    ak_verify_500_persistent => KEY "GetCallerIdentity" ServiceFailure x ALWAYS => Aborted;

    ak_deactivate_500 => KEY "UpdateAccessKey" ServiceFailure x 1 => Done;
    ak_deactivate_throttling => KEY "UpdateAccessKey" Throttling x 1 => Done;
    ak_deactivate_reset => KEY "UpdateAccessKey" Reset x 1 => Done;
    ak_deactivate_lost => KEY "UpdateAccessKey" Lost x 1 => Done;
    ak_deactivate_500_persistent => KEY "UpdateAccessKey" ServiceFailure x ALWAYS => Interrupted("retiring");

    ak_delete_500 => KEY "DeleteAccessKey" ServiceFailure x 1 => Done;
    ak_delete_throttling => KEY "DeleteAccessKey" Throttling x 1 => Done;
    ak_delete_reset => KEY "DeleteAccessKey" Reset x 1 => Done;
    ak_delete_lost => KEY "DeleteAccessKey" Lost x 1 => Done;
    ak_delete_500_persistent => KEY "DeleteAccessKey" ServiceFailure x ALWAYS => Interrupted("deactivated");
}

/// The orphan sweep (a second ListAccessKeys) runs before CreateAccessKey only when an attempt
/// of it may have landed: here the first create's answer is lost after moto created the key.
fn sweep_case(kind: FaultKind, times: u32, expect: Expect) {
    run(Case {
        account: KEY,
        action: "ListAccessKeys",
        kind,
        skip: 1,
        times,
        expect,
        also: Some(Fault { action: "CreateAccessKey".into(), kind: FaultKind::Lost, skip: 0, times: 1 }),
    });
}

#[test]
fn ak_list_keys_sweep_reset() {
    sweep_case(FaultKind::Reset, 1, Done);
}

#[test]
fn ak_list_keys_sweep_500_persistent() {
    // recover sweeps the key the lost create made, then creates again: IAM ends with one key.
    sweep_case(FaultKind::ServiceFailure, ALWAYS, Interrupted("create_requested"));
}

// Password rotation, in call order. GetLoginProfile is called twice: at pre-flight and again
// right before the update; ListAccessKeys (at pre-flight) tells whether the provider signs as
// the user itself (then ChangePassword is used; not the case here).
cases! {
    pw_get_user_500 => PASSWORD "GetUser" ServiceFailure x 1 => Done;
    pw_get_user_throttling => PASSWORD "GetUser" Throttling x 1 => Done;
    pw_get_user_reset => PASSWORD "GetUser" Reset x 1 => Done;
    pw_get_user_lost => PASSWORD "GetUser" Lost x 1 => Done;
    pw_get_user_500_persistent => PASSWORD "GetUser" ServiceFailure x ALWAYS => Interrupted("preflight");

    pw_get_profile_500 => PASSWORD "GetLoginProfile" ServiceFailure x 1 => Done;
    pw_get_profile_throttling => PASSWORD "GetLoginProfile" Throttling x 1 => Done;
    pw_get_profile_reset => PASSWORD "GetLoginProfile" Reset x 1 => Done;
    pw_get_profile_lost => PASSWORD "GetLoginProfile" Lost x 1 => Done;
    pw_get_profile_500_persistent => PASSWORD "GetLoginProfile" ServiceFailure x ALWAYS => Interrupted("preflight");
    pw_list_keys_500 => PASSWORD "ListAccessKeys" ServiceFailure x 1 => Done;
    pw_list_keys_throttling => PASSWORD "ListAccessKeys" Throttling x 1 => Done;
    pw_list_keys_reset => PASSWORD "ListAccessKeys" Reset x 1 => Done;
    pw_list_keys_lost => PASSWORD "ListAccessKeys" Lost x 1 => Done;
    pw_list_keys_500_persistent => PASSWORD "ListAccessKeys" ServiceFailure x ALWAYS => Interrupted("preflight");

    pw_get_profile_again_reset => PASSWORD "GetLoginProfile" Reset skip 1 x 1 => Done;
    pw_get_profile_again_500_persistent =>
        PASSWORD "GetLoginProfile" ServiceFailure skip 1 x ALWAYS => Interrupted("update_requested");

    pw_policy_500 => PASSWORD "GetAccountPasswordPolicy" ServiceFailure x 1 => Done;
    pw_policy_throttling => PASSWORD "GetAccountPasswordPolicy" Throttling x 1 => Done;
    pw_policy_reset => PASSWORD "GetAccountPasswordPolicy" Reset x 1 => Done;
    pw_policy_lost => PASSWORD "GetAccountPasswordPolicy" Lost x 1 => Done;
    pw_policy_500_persistent => PASSWORD "GetAccountPasswordPolicy" ServiceFailure x ALWAYS => Interrupted("preflight");

    pw_update_500 => PASSWORD "UpdateLoginProfile" ServiceFailure x 1 => Done;
    pw_update_throttling => PASSWORD "UpdateLoginProfile" Throttling x 1 => Done;
    pw_update_reset => PASSWORD "UpdateLoginProfile" Reset x 1 => Done;
    pw_update_lost => PASSWORD "UpdateLoginProfile" Lost x 1 => Done;
    pw_update_timeout => PASSWORD "UpdateLoginProfile" Hang x 1 => Done;
    pw_update_timeout_after_update => PASSWORD "UpdateLoginProfile" HangAfter x 1 => Done;
    pw_update_500_persistent => PASSWORD "UpdateLoginProfile" ServiceFailure x ALWAYS => Interrupted("update_requested");
    pw_update_lost_persistent => PASSWORD "UpdateLoginProfile" Lost x ALWAYS => Interrupted("update_requested");
}

/// Without a fault, the proxy is transparent and the rotations see exactly these calls.
#[test]
fn baseline_through_the_proxy() {
    let w = world();
    let before = w.proxy.seen().len();
    w.sb.rekey().args(["rotate", KEY]).assert().success();
    w.sb.rekey().args(["rotate", PASSWORD]).assert().success();
    let calls: Vec<String> = w.proxy.seen().split_off(before);
    let expected = [
        "GetUser",
        "ListAccessKeys",
        "TagUser",
        "CreateAccessKey",
        "TagUser",
        "GetCallerIdentity",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "GetUser",
        "GetLoginProfile",
        "ListAccessKeys",
        "GetAccountPasswordPolicy",
        "TagUser",
        "ListUserTags",
        "GetLoginProfile",
        "UpdateLoginProfile",
    ];
    assert_eq!(calls, expected, "the rotations' IAM/STS calls changed: update the fault table");
    recover(&w);
    check_access_key(&w, true);
    check_password(&w);
}

// A user without a console password: the rotation creates the login profile. CreateLoginProfile
// is not idempotent: a retry of a create whose answer was lost finds the profile already there.
cases! {
    pw_create_500 => NEW_PASSWORD "CreateLoginProfile" ServiceFailure x 1 => Done;
    pw_create_throttling => NEW_PASSWORD "CreateLoginProfile" Throttling x 1 => Done;
    pw_create_reset => NEW_PASSWORD "CreateLoginProfile" Reset x 1 => Done;
    pw_create_lost => NEW_PASSWORD "CreateLoginProfile" Lost x 1 => Done;
    pw_create_timeout_after_create => NEW_PASSWORD "CreateLoginProfile" HangAfter x 1 => Done;
    pw_create_500_persistent =>
        NEW_PASSWORD "CreateLoginProfile" ServiceFailure x ALWAYS => Interrupted("update_requested");
    pw_create_lost_persistent => NEW_PASSWORD "CreateLoginProfile" Lost x ALWAYS => Interrupted("update_requested");
}
