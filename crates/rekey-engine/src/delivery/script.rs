//! The post-rotation script sink. The script gets one JSON document on standard input —
//! account, rotation id, new and old key ids, and the secret — and never the secret in its
//! arguments or environment (its environment is cleared down to PATH and HOME). It answers
//! with JSON on standard output; a non-zero exit, output that is not JSON, or the timeout
//! fails the delivery (and so aborts the rotation).
//!
//! The script runs in a process group of its own. Given up on — its timeout passed, or the
//! delivery was abandoned under a lease that could not be renewed ([`crate::lease::Held::act`])
//! — the whole group is killed: the script and whatever it started (a background child would
//! otherwise go on, and could still deliver after the call was given up).

use super::{Delivery, Sink};
use crate::{Error, Result};
use async_trait::async_trait;
use rustix::process::Pid;
use std::{process::Stdio, time::Duration};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A script target.
#[derive(Debug, Clone)]
pub struct Script {
    /// The program.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// How long it may run.
    pub timeout: Duration,
}

/// A script named as a new target can be started on this machine: the path names an
/// executable regular file, or a bare name is found on `PATH` as one (the delivery starts it
/// with `PATH` only). A typo caught now, not by the first rotation's abort. Every node that
/// rotates runs the same script: install it on each.
pub(crate) fn check_new_target(command: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let runnable =
        |p: &std::path::Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    let found = if command.contains('/') {
        runnable(std::path::Path::new(command))
    } else {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| runnable(&dir.join(command))))
    };
    if found {
        return Ok(());
    }
    let what = if command.contains('/') { "is not an executable file" } else { "is not an executable file on PATH" };
    Err(Error::usage(
        format!("script target: {command} {what} on this machine"),
        "give the path of an executable script (chmod +x); the rotation runs it on the machine that rotates",
    ))
}

#[async_trait]
impl Sink for Script {
    fn describe(&self) -> String {
        format!("script {}", self.command)
    }

    async fn deliver(&self, d: &Delivery<'_>) -> Result<()> {
        let fail = |why: String| Error::Internal(format!("script {}: {why}", self.command));
        let input = zeroize::Zeroizing::new(
            serde_json::json!({
                "account": d.account,
                "rotation": d.rotation_id,
                "access_key_id": d.key_id,
                "secret": d.secret.expose(),
                "old_access_key_id": d.old_key_id,
            })
            .to_string(),
        );
        let mut cmd = tokio::process::Command::new(&self.command);
        cmd.args(&self.args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        for var in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        let mut child = cmd.spawn().map_err(|e| fail(format!("cannot start it: {e}")))?;
        // Dropped before `child` (which would reap the script, and free its group's id).
        let mut group = GroupKill(child.id().and_then(|id| i32::try_from(id).ok()).and_then(Pid::from_raw));
        let run = async {
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(input.as_bytes()).await.map_err(|e| fail(format!("writing its input: {e}")))?;
            }
            let mut out = String::new();
            if let Some(mut stdout) = child.stdout.take() {
                stdout.read_to_string(&mut out).await.map_err(|e| fail(format!("reading its output: {e}")))?;
            }
            let status = child.wait().await.map_err(|e| fail(e.to_string()))?;
            // The script ended on its own, its output closed: what it left running is its own
            // business, and its group's id may be reused from now on.
            group.0 = None;
            Ok::<_, Error>((status, out))
        };
        let (status, out) = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| fail(format!("no answer within {} ms", self.timeout.as_millis())))??;
        if !status.success() {
            return Err(fail(format!("exited with {status}")));
        }
        serde_json::from_str::<serde_json::Value>(out.trim()).map_err(|_| fail("its output is not JSON".into()))?;
        Ok(())
    }
}

/// Kills a script's process group when dropped, unless disarmed (`None`) once the script ended.
struct GroupKill(Option<Pid>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        // Never the init process's id, which `kill` reads as every process.
        if let Some(pid) = self.0.take().filter(|p| *p != Pid::INIT) {
            // The group may be gone already: nothing to do then.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rekey_crypto::Secret;
    use std::path::Path;

    /// A script that starts a background child appending to `out` (its pid in `pid`), then
    /// waits far longer than any test.
    fn spawning_script(dir: &Path) -> Script {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("deliver.sh");
        let (out, pid) = (dir.join("out"), dir.join("pid"));
        let body = format!(
            "#!/bin/sh\n(while :; do echo x >> '{}'; sleep 0.02; done) </dev/null >/dev/null 2>&1 &\necho $! > '{}'\nsleep 300\n",
            out.display(),
            pid.display()
        );
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Script { command: path.display().to_string(), args: vec![], timeout: Duration::from_secs(300) }
    }

    /// Whether process `pid` still runs (an exited one not yet reaped by its new parent does not).
    fn runs(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.rfind(')').is_some_and(|i| !matches!(s.as_bytes().get(i + 2), Some(b'Z' | b'X'))))
    }

    /// Kills a child left running by a failed test.
    struct Leftover(i32);

    impl Drop for Leftover {
        fn drop(&mut self) {
            if let Some(pid) = Pid::from_raw(self.0) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }

    /// Runs `script` until `cut` gives up on it, then waits (a bounded poll) for the background
    /// child it started to be gone.
    async fn its_child_is_gone(dir: &Path, script: &Script, cut: Duration) -> Result<()> {
        let secret = Secret::new("s3cr3t");
        let conn = rekey_aws::Conn::new("us-east-1", None, rekey_aws::ConnCredentials::DefaultChain);
        let d = Delivery {
            account: "p/u/access-key",
            old_key_id: None,
            rotation_id: "r1",
            conn: &conn,
            key_id: Some("AKIANEW"),
            secret: &secret,
            clock: &rekey_domain::SystemClock,
        };
        let result = match tokio::time::timeout(cut, script.deliver(&d)).await {
            Ok(done) => done,
            Err(_) => Err(Error::Internal("abandoned".into())),
        };
        let pid: i32 = std::fs::read_to_string(dir.join("pid")).unwrap().trim().parse().unwrap();
        let _leftover = Leftover(pid);
        assert!(std::fs::metadata(dir.join("out")).is_ok_and(|m| m.len() > 0), "the child was writing");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while runs(pid) {
            assert!(std::time::Instant::now() < deadline, "the script's background child {pid} still runs");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        result
    }

    #[tokio::test]
    async fn a_script_past_its_timeout_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let script = Script { timeout: Duration::from_secs(1), ..spawning_script(dir.path()) };
        let failed = its_child_is_gone(dir.path(), &script, Duration::from_secs(60)).await.unwrap_err();
        assert!(failed.to_string().contains("no answer within 1000 ms"), "{failed}");
    }

    #[tokio::test]
    async fn an_abandoned_script_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let script = spawning_script(dir.path());
        let abandoned = its_child_is_gone(dir.path(), &script, Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(abandoned.to_string(), Error::Internal("abandoned".into()).to_string());
    }
}
