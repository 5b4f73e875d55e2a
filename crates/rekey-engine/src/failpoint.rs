//! Crash points for the crash tests. Built with the `failpoints` feature, `FAILPOINTS=NAME=return`
//! makes the process abort (no unwinding, no cleanup — like `kill -9`) when it reaches NAME;
//! `NAME=return(stop)` makes it stop itself there (SIGSTOP) until continued (SIGCONT), so a
//! test does something else at that exact step without a timed pause. Without the feature
//! these compile to nothing.
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
//! with `sleep(MS)`, the process is signalled during its start-up);
//! `heartbeat:read` between a heartbeat's read of the account (and its lease) and its IAM
//! checks; `checkout:listed` between a tick's read of the lapsed check-outs and its taking the
//! account's lease for one, `checkout:leased` right after; `account-remove:leased` once
//! `account remove` holds the account's lease, before it reads the account again,
//! `account-remove:deleted` once it has deleted the account, before it removes its tag;
//! `account-add:marked` and `import:marked` once `account add` (a password, or an adopted key)
//! or `discover --import` has written its account's tag and read the tags back, before it
//! stores the account.

/// Aborts the process if the failpoint `name` is enabled.
#[cfg(feature = "failpoints")]
pub fn crash_point(name: &str) {
    // Tests wait for this line to know the process is at the point (e.g. paused by `sleep`).
    if std::env::var("FAILPOINTS").is_ok_and(|v| v.split(';').any(|f| f.split('=').next() == Some(name))) {
        eprintln!("failpoint {name}: reached");
    }
    fail::eval(name, |arg| {
        if arg.as_deref() == Some("stop") {
            // `NAME=return(stop)`: the process stops itself (SIGSTOP) right here, and goes on
            // when the test continues it (SIGCONT) once it has done what must happen meanwhile.
            eprintln!("failpoint {name}: stopping");
            let pid = std::process::id().to_string();
            if let Err(e) = std::process::Command::new("kill").args(["-STOP", &pid]).status() {
                eprintln!("failpoint {name}: could not stop ({e})");
            }
            return;
        }
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
    for extra in [
        "heartbeat:read",
        "checkout:listed",
        "checkout:leased",
        "account-remove:leased",
        "account-remove:deleted",
        "account-add:marked",
        "import:marked",
    ] {
        names.push(extra.into());
    }
    names
}
