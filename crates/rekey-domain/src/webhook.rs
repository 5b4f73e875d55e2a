//! Where a signed webhook goes: its URL and where its HMAC key is read from. The key itself is
//! never part of rekey's configuration or vault: it is read from an environment variable or a
//! file each time a request is signed, so it can be rotated without touching rekey.

use crate::error::ValidationError;
use serde::{Deserialize, Serialize};
use std::{path::Path, sync::Mutex};

/// Shortest HMAC key accepted (bytes).
pub const MIN_KEY_LEN: usize = 16;

/// Where a webhook's HMAC-SHA256 key comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    /// This environment variable of the rekey process.
    Env(String),
    /// This file (its content, without a trailing newline).
    File(String),
}

impl KeySource {
    /// Builds the source from the two optional settings, of which exactly one must be given.
    pub fn from_parts(env: Option<String>, file: Option<String>, field: &'static str) -> Result<Self, ValidationError> {
        match (env, file) {
            (Some(e), None) => {
                if e.is_empty() || !e.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(ValidationError::new(
                        field,
                        format!("{e:?} is not an environment variable name"),
                        "use a name such as REKEY_WEBHOOK_KEY",
                    ));
                }
                check_key_source(Some(&e), None, field)?;
                Ok(Self::Env(e))
            }
            (None, Some(f)) if !f.is_empty() => {
                check_key_source(None, Some(&f), field)?;
                Ok(Self::File(f))
            }
            (None, _) => Err(ValidationError::new(
                field,
                "no signing key",
                "name the HMAC key's environment variable or file (--webhook-key-env / --webhook-key-file; key_env / key_file in the server config)",
            )),
            (Some(_), Some(_)) => {
                Err(ValidationError::new(field, "both a key variable and a key file", "give one of them"))
            }
        }
    }

    /// Checks again that the source is not the vault's master key material (before each use:
    /// a source loaded from the store or a config file was checked in another process).
    pub fn check(&self, field: &'static str) -> Result<(), ValidationError> {
        match self {
            Self::Env(e) => check_key_source(Some(e), None, field),
            Self::File(f) => check_key_source(None, Some(f), field),
        }
    }

    /// For messages: where the key is read from (never the key).
    pub fn describe(&self) -> String {
        match self {
            Self::Env(e) => format!("${e}"),
            Self::File(f) => f.clone(),
        }
    }
}

/// The files this process reads master key material from (the passphrase file, the key file),
/// as (device, inode): a signing key or token may never be read from one of them.
static MASTER_KEY_FILES: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

fn file_identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Records that `path` holds master key material (the front end calls this for the passphrase
/// file and the key file it unlocks the vault with), so [`check_key_source`] refuses it.
pub fn protect_master_key_file(path: &Path) {
    if let Some(id) = file_identity(path) {
        let mut files = MASTER_KEY_FILES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !files.contains(&id) {
            files.push(id);
        }
    }
}

/// The rule for every key or token rekey reads to sign or authenticate something it sends
/// (webhook and notification signing keys, delivery targets' tokens): it may not come from a
/// `REKEY_*` environment variable (the passphrase among them) or from the passphrase or key file
/// (see [`protect_master_key_file`]; compared as files, so links and other spellings of the path
/// are caught). Otherwise each signature would be an offline check of the master key at HMAC
/// speed, and a token sent to a third party would be the master key itself.
pub fn check_key_source(env: Option<&str>, file: Option<&str>, field: &'static str) -> Result<(), ValidationError> {
    if let Some(e) = env {
        if e.to_ascii_uppercase().starts_with("REKEY_") {
            return Err(ValidationError::new(
                field,
                format!("{e:?} is one of rekey's own variables (REKEY_*), which may hold the vault passphrase"),
                "keep the key in a variable of its own, e.g. WEBHOOK_SIGNING_KEY",
            ));
        }
    }
    if let Some(id) = file.and_then(|f| file_identity(Path::new(f))) {
        if MASTER_KEY_FILES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&id) {
            return Err(ValidationError::new(
                field,
                format!("{:?} is the vault's passphrase or key file", file.unwrap_or_default()),
                "keep the signing key in a file of its own",
            ));
        }
    }
    Ok(())
}

/// Checks a webhook URL: absolute `http` or `https`, a host, a valid port if any, and no
/// credentials, query or fragment (tokens in URLs end up in logs and in the audit log; the
/// signature is what authenticates rekey to the receiver).
pub fn validate_url(url: &str, field: &'static str) -> Result<(), ValidationError> {
    let hint = "use a URL such as https://hooks.example.com/rekey (no query string: the signature authenticates rekey)";
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| ValidationError::new(field, format!("{url:?} is not an http(s) URL"), hint))?;
    let bad = |why: &str| ValidationError::new(field, format!("{url:?} {why}"), hint);
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains spaces or control characters"));
    }
    if url.contains(['?', '#']) {
        return Err(bad("has a query string or fragment"));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad("has credentials in it"));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, rest)) => (h, Some(rest.strip_prefix(':').unwrap_or("-"))),
            None => ("", None),
        },
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    if port.is_some_and(|p| p.parse::<u16>().map_or(true, |n| n == 0)) {
        return Err(bad("has an invalid port"));
    }
    Ok(())
}

/// Whether `url` (valid by [`validate_url`]) is plain `http://` to a host other than loopback.
/// Loopback is an IP address in 127.0.0.0/8, `[::1]`, or exactly `localhost`: a name that
/// merely starts like one (`127.attacker.example`) is resolved by DNS and goes anywhere.
pub fn is_plain_http_off_host(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, "")) => h,
            Some((h, port)) if port.starts_with(':') => h,
            _ => return true,
        },
        None => authority.split(':').next().unwrap_or(""),
    };
    !is_loopback_host(host)
}

/// `host` (brackets removed) is `localhost` or a loopback IP address.
fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in
            ["https://h.example/x", "http://127.0.0.1:8080/hook", "https://h", "https://[::1]:8443/a", "http://[::1]/x"]
        {
            assert!(validate_url(ok, "url").is_ok(), "{ok}");
        }
        for bad in [
            "ftp://h",
            "https://",
            "https:///x",
            "https://u:p@h/x",
            "h.example",
            "https://h/ x",
            "",
            "https://h/x?token=t",
            "https://h/x#f",
            "https://h:99999/",
            "https://:80/",
            "https://h:0/",
        ] {
            assert!(validate_url(bad, "url").is_err(), "{bad}");
        }
        assert!(is_plain_http_off_host("http://hooks.example.com/x"));
        for local in ["http://127.0.0.1:9/x", "http://localhost/x", "http://[::1]:8/x", "https://h/x"] {
            assert!(!is_plain_http_off_host(local), "{local}");
        }
    }

    /// L1: loopback is parsed, not matched by prefix.
    #[test]
    fn l1_loopback_is_an_address_not_a_prefix() {
        for off in [
            "http://127.attacker.example.com/x",
            "http://127.0.0.1.attacker.example/x",
            "http://127.0.0.1.nip.io:8080/x",
            "http://localhost.attacker.example/x",
            "http://localhostx/x",
            "http://127.1/x",
            "http://0x7f000001/x",
            "http://[::ffff:10.0.0.1]/x",
            "http://[::2]/x",
            "http://[::1]x/x",
            "http://10.0.0.1/x",
            "http://0.0.0.0/x",
        ] {
            assert!(is_plain_http_off_host(off), "{off}");
        }
        for local in [
            "http://127.0.0.1/x",
            "http://127.255.3.4:81/x",
            "http://LOCALHOST:8080/x",
            "http://[::1]/x",
            "http://[0:0:0:0:0:0:0:1]:9/x",
        ] {
            assert!(!is_plain_http_off_host(local), "{local}");
        }
    }

    #[test]
    fn key_sources() {
        assert_eq!(KeySource::from_parts(Some("K_1".into()), None, "k").unwrap(), KeySource::Env("K_1".into()));
        assert_eq!(KeySource::from_parts(None, Some("/k".into()), "k").unwrap(), KeySource::File("/k".into()));
        assert!(KeySource::from_parts(None, None, "k").is_err());
        assert!(KeySource::from_parts(Some("K".into()), Some("/k".into()), "k").is_err());
        assert!(KeySource::from_parts(Some("K-1".into()), None, "k").is_err());
        assert!(KeySource::from_parts(None, Some(String::new()), "k").is_err());
    }

    #[test]
    fn master_key_material_is_never_a_signing_key() {
        for var in ["REKEY_PASSPHRASE", "REKEY_KEY_FILE", "rekey_passphrase", "REKEY_ANYTHING"] {
            let e = KeySource::from_parts(Some(var.into()), None, "k").unwrap_err();
            assert!(e.to_string().contains("rekey's own variables"), "{var}: {e}");
            assert!(KeySource::Env(var.into()).check("k").is_err());
        }
        let dir = std::env::temp_dir().join(format!("rekey-domain-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (pass, other) = (dir.join("passphrase"), dir.join("signing.key"));
        std::fs::write(&pass, "correct horse battery staple").unwrap();
        std::fs::write(&other, "0123456789abcdef0123").unwrap();
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&pass, &link).unwrap();
        let as_str = |p: &std::path::Path| p.display().to_string();
        assert!(KeySource::from_parts(None, Some(as_str(&pass)), "k").is_ok(), "not protected yet");
        protect_master_key_file(&pass);
        for p in [&pass, &link] {
            let e = KeySource::from_parts(None, Some(as_str(p)), "k").unwrap_err();
            assert!(e.to_string().contains("passphrase or key file"), "{e}");
            assert!(KeySource::File(as_str(p)).check("k").is_err());
        }
        assert!(KeySource::from_parts(None, Some(as_str(&other)), "k").is_ok());
        assert!(KeySource::from_parts(Some("WEBHOOK_KEY".into()), None, "k").is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
