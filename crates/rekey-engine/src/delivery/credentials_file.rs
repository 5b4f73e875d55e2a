//! The AWS shared credentials file target: one profile of the file replaced atomically, the
//! previous content kept as `FILE.rekey-backup`, both written through [`crate::private_file`]
//! (no symbolic links followed, a directory others may write to refused, 0600, the previous
//! owner kept, file and directory synced).

use super::{Delivery, Sink};
use crate::private_file::SecretDir;
use crate::{Error, Result};
use async_trait::async_trait;
use rekey_crypto::Secret;
use std::{ffi::OsString, path::PathBuf};

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

    /// Neither the file nor its backup is a link or a non-file, and others cannot write the
    /// directory (checked again at delivery). A directory that is missing or cannot be opened
    /// is left to the delivery, which makes it or reports the failure.
    fn ready(&self) -> Result<()> {
        let checked = SecretDir::of(&self.path, false).and_then(|(dir, name)| {
            dir.check(&name)?;
            dir.check(&backup_name(&name))
        });
        match checked {
            Err(e) if e.is_refusal() => Err(e.into()),
            _ => Ok(()),
        }
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
        let (dir, name) = SecretDir::of(&self.path, true)?;
        let backup = backup_name(&name);
        // Both names are checked before anything is written.
        dir.check(&backup)?;
        let old = dir.read(&name)?;
        let old_text = match &old {
            Some(old) => Some(std::str::from_utf8(&old.content).map_err(|_| {
                Error::usage(
                    format!("{} is not a text (INI) file", self.path.display()),
                    "name an AWS shared credentials file (or a path where none exists yet)",
                )
            })?),
            None => None,
        };
        let new = zeroize::Zeroizing::new(replace_profile(
            old_text.unwrap_or(""),
            &self.profile,
            &[("aws_access_key_id", key_id), ("aws_secret_access_key", secret.expose())],
        ));
        let owner = old.as_ref().map(|o| o.owner);
        if let Some(old) = &old {
            dir.replace(&backup, &old.content, owner)?;
        }
        dir.replace(&name, new.as_bytes(), owner)?;
        Ok(())
    }
}

fn backup_name(name: &std::ffi::OsStr) -> OsString {
    let mut b = name.to_owned();
    b.push(".rekey-backup");
    b
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

/// A credentials file named as a new target is, if it exists, a regular text file in AWS's INI
/// form (sections and `key = value` lines) that rekey may write safely: a directory, a link or
/// an unrelated file is a mistake to catch now, not at the first rotation.
pub(crate) fn check_new_target(path: &std::path::Path) -> Result<()> {
    // What cannot be read now (a missing directory, no permission) is left to the delivery,
    // which makes the directory or reports the failure; only refusals are reported here.
    let read = crate::private_file::SecretDir::of(path, false).and_then(|(dir, name)| {
        dir.check(&backup_name(&name))?;
        dir.read(&name)
    });
    let existing = match read {
        Ok(Some(existing)) => existing,
        Err(e) if e.is_refusal() => return Err(e.into()),
        Ok(None) | Err(_) => return Ok(()),
    };
    let ini = std::str::from_utf8(&existing.content).ok().is_some_and(|text| {
        text.lines().map(str::trim).all(|l| {
            l.is_empty() || l.starts_with(['#', ';']) || (l.starts_with('[') && l.ends_with(']')) || l.contains('=')
        })
    });
    if !ini {
        return Err(Error::usage(
            format!("{} is not an AWS credentials file (INI sections and key = value lines)", path.display()),
            "name an AWS shared credentials file such as ~/.aws/credentials, or a path where none exists yet",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
