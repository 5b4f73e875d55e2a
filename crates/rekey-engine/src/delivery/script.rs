//! The post-rotation script sink. The script gets one JSON document on standard input —
//! account, rotation id, new and old key ids, and the secret — and never the secret in its
//! arguments or environment (its environment is cleared down to PATH and HOME). It answers
//! with JSON on standard output; a non-zero exit, output that is not JSON, or the timeout
//! fails the delivery (and so aborts the rotation).

use super::{Delivery, Sink};
use crate::{Error, Result};
use async_trait::async_trait;
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
            .kill_on_drop(true);
        for var in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        let mut child = cmd.spawn().map_err(|e| fail(format!("cannot start it: {e}")))?;
        let run = async {
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(input.as_bytes()).await.map_err(|e| fail(format!("writing its input: {e}")))?;
            }
            let mut out = String::new();
            if let Some(mut stdout) = child.stdout.take() {
                stdout.read_to_string(&mut out).await.map_err(|e| fail(format!("reading its output: {e}")))?;
            }
            let status = child.wait().await.map_err(|e| fail(e.to_string()))?;
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
