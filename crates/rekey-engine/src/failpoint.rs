//! Crash points for the crash tests. Built with the `failpoints` feature, `FAILPOINTS=NAME=return`
//! makes the process abort (no unwinding, no cleanup — like `kill -9`) when it reaches NAME.
//! Without the feature these compile to nothing.
//!
//! Names: `access-key:PHASE` / `password:PHASE` right after PHASE is journaled, and
//! `access-key:after-create-call`, `access-key:after-deactivate-call`,
//! `access-key:after-delete-call`, `access-key:after-abort-delete-call`,
//! `password:after-update-call` right after the IAM call returned, before its result is stored;
//! `access-key:after-delivery-call` after a target acknowledged, before that is journaled;
//! `delivery:github:after-key-id`, `delivery:gitlab:after-key-id` between a target's two
//! writes, `delivery:kubernetes:after-secret` between the Secret's write and the restarts;
//! `rotation-abort:before-lease` between an operator abort's first read of the rotation and its
//! lease (paused there with `sleep(MS)`, another process can move the rotation on);
//! `serve:start-up` in `rekey serve` after the vault is unlocked, before it binds (held there
//! with `sleep(MS)`, the process is signalled during its start-up).

/// Aborts the process if the failpoint `name` is enabled.
#[cfg(feature = "failpoints")]
pub fn crash_point(name: &str) {
    // Tests wait for this line to know the process is at the point (e.g. paused by `sleep`).
    if std::env::var("FAILPOINTS").is_ok_and(|v| v.split(';').any(|f| f.split('=').next() == Some(name))) {
        eprintln!("failpoint {name}: reached");
    }
    fail::eval(name, |_| {
        eprintln!("failpoint {name}: aborting");
        std::process::abort()
    });
}

/// Aborts the process if the failpoint `name` is enabled (compiled out).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn crash_point(_name: &str) {}

/// Every crash point, for tests and documentation.
pub fn all() -> Vec<String> {
    use rekey_domain::Phase::*;
    let ak = [Preflight, CreateRequested, Created, Verifying, Delivering, Committed, Retiring, Deactivated, Aborting];
    let pw = [Preflight, Generated, UpdateRequested, Committed];
    let mut names: Vec<String> = ak.iter().map(|p| format!("access-key:{p}")).collect();
    names.extend(pw.iter().map(|p| format!("password:{p}")));
    for extra in [
        "after-create-call",
        "after-deactivate-call",
        "after-delete-call",
        "after-abort-delete-call",
        "after-delivery-call",
    ] {
        names.push(format!("access-key:{extra}"));
    }
    for d in ["github:after-key-id", "gitlab:after-key-id", "kubernetes:after-secret"] {
        names.push(format!("delivery:{d}"));
    }
    names.push("password:after-update-call".into());
    names.push("rotation-abort:before-lease".into());
    names
}
