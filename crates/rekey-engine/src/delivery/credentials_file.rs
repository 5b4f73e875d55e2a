//! The AWS shared credentials file target: one profile of the file replaced atomically (write
//! a temporary file beside it, fsync, rename), the previous content kept as `FILE.rekey-backup`.

use super::{Delivery, Sink};
use crate::{Error, Result};
use async_trait::async_trait;
use rekey_crypto::Secret;
use std::{
    io::Write,
    path::{Path, PathBuf},
};

/// A profile in an AWS shared credentials file, replaced atomically (write a temporary file
/// beside it, fsync, rename) with the previous content kept as `FILE.rekey-backup`.
#[derive(Debug, Clone)]
pub struct CredentialsFile {
    /// The file.
    pub path: PathBuf,
    /// The profile.
    pub profile: String,
}

#[async_trait]
impl Sink for CredentialsFile {
    fn describe(&self) -> String {
        format!("aws-credentials-file {} [{}]", self.path.display(), self.profile)
    }

    async fn deliver(&self, d: &Delivery<'_>) -> Result<()> {
        let key_id =
            d.key_id.ok_or_else(|| Error::usage("a credentials file holds access keys only", "remove the target"))?;
        let this = self.clone();
        let secret = d.secret.clone();
        let key_id = key_id.to_owned();
        tokio::task::spawn_blocking(move || this.write(&key_id, &secret))
            .await
            .map_err(|e| Error::Internal(format!("delivery task failed: {e}")))?
    }
}

impl CredentialsFile {
    fn write(&self, key_id: &str, secret: &Secret) -> Result<()> {
        let io = |what: &str, e: std::io::Error| Error::Internal(format!("{what} {}: {e}", self.path.display()));
        let old = match std::fs::read_to_string(&self.path) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io("reading", e)),
        };
        let new = zeroize::Zeroizing::new(replace_profile(
            old.as_deref().unwrap_or(""),
            &self.profile,
            &[("aws_access_key_id", key_id), ("aws_secret_access_key", secret.expose())],
        ));
        if let Some(old) = &old {
            write_private(&backup_path(&self.path), old).map_err(|e| io("backing up", e))?;
        }
        write_private(&self.path, &new).map_err(|e| io("writing", e))
    }
}

fn backup_path(p: &Path) -> PathBuf {
    PathBuf::from(format!("{}.rekey-backup", p.display()))
}

/// Writes `content` to `path` atomically, readable by the owner only; missing directories (a
/// fresh `~/.aws`) are created for the owner only too.
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    let tmp = dir.join(format!(".{}.rekey-tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("credentials")));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// `ini` with `profile`'s `keys` set (other keys and sections kept, order preserved).
pub fn replace_profile(ini: &str, profile: &str, keys: &[(&str, &str)]) -> String {
    let header = format!("[{profile}]");
    let mut out = Vec::new();
    let mut in_profile = false;
    let mut found = false;
    let flush = |out: &mut Vec<String>| out.extend(keys.iter().map(|(k, v)| format!("{k} = {v}")));
    for line in ini.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            if in_profile {
                flush(&mut out);
            }
            in_profile = t == header;
            found |= in_profile;
            out.push(line.to_owned());
            continue;
        }
        let key = t.split('=').next().unwrap_or("").trim();
        if in_profile && keys.iter().any(|(k, _)| *k == key) {
            continue;
        }
        out.push(line.to_owned());
    }
    if in_profile {
        flush(&mut out);
    }
    if !found {
        if out.last().is_some_and(|l| !l.trim().is_empty()) {
            out.push(String::new());
        }
        out.push(header);
        flush(&mut out);
    }
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_named_profile() {
        let ini = "[default]\naws_access_key_id = A\nregion = eu-west-1\n[ci]\naws_access_key_id = OLD\naws_secret_access_key = OLDS\nregion = us-east-1\n";
        let out = replace_profile(ini, "ci", &[("aws_access_key_id", "NEW"), ("aws_secret_access_key", "NEWS")]);
        assert_eq!(
            out,
            "[default]\naws_access_key_id = A\nregion = eu-west-1\n[ci]\nregion = us-east-1\naws_access_key_id = NEW\naws_secret_access_key = NEWS\n"
        );
        assert_eq!(
            replace_profile(&out, "ci", &[("aws_access_key_id", "NEW"), ("aws_secret_access_key", "NEWS")]),
            out
        );
    }

    #[test]
    fn appends_a_missing_profile() {
        let out = replace_profile("[default]\nx = 1\n", "ci", &[("aws_access_key_id", "K")]);
        assert_eq!(out, "[default]\nx = 1\n\n[ci]\naws_access_key_id = K\n");
        assert_eq!(replace_profile("", "ci", &[("k", "v")]), "[ci]\nk = v\n");
    }

    #[tokio::test]
    async fn delivery_is_atomic_and_keeps_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        std::fs::write(&path, "[ci]\naws_access_key_id = OLD\n").unwrap();
        let sink = CredentialsFile { path: path.clone(), profile: "ci".into() };
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
        sink.deliver(&d).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("aws_access_key_id = AKIANEW") && text.contains("aws_secret_access_key = s3cr3t"));
        assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), "[ci]\naws_access_key_id = OLD\n");
        // A fresh home: the missing directories are made, for the owner only.
        let fresh = dir.path().join("home").join(".aws").join("credentials");
        CredentialsFile { path: fresh.clone(), profile: "ci".into() }.deliver(&d).await.unwrap();
        assert!(std::fs::read_to_string(&fresh).unwrap().contains("aws_access_key_id = AKIANEW"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&fresh), 0o600);
            assert_eq!(mode(fresh.parent().unwrap()), 0o700, "~/.aws");
            assert_eq!(mode(&dir.path().join("home")), 0o700);
        }
    }
}
