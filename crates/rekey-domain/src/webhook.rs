//! Where a signed webhook goes: its URL and where its HMAC key is read from. The key itself is
//! never part of rekey's configuration or vault: it is read from an environment variable or a
//! file each time a request is signed, so it can be rotated without touching rekey.

use crate::error::ValidationError;
use serde::{Deserialize, Serialize};

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
                Ok(Self::Env(e))
            }
            (None, Some(f)) if !f.is_empty() => Ok(Self::File(f)),
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

    /// For messages: where the key is read from (never the key).
    pub fn describe(&self) -> String {
        match self {
            Self::Env(e) => format!("${e}"),
            Self::File(f) => f.clone(),
        }
    }
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
pub fn is_plain_http_off_host(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let authority = rest.split('/').next().unwrap_or("");
    let host = if authority.starts_with('[') {
        authority.split(']').next().map(|h| h.trim_start_matches('[')).unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    !(host == "localhost" || host == "::1" || host.starts_with("127."))
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

    #[test]
    fn key_sources() {
        assert_eq!(KeySource::from_parts(Some("K_1".into()), None, "k").unwrap(), KeySource::Env("K_1".into()));
        assert_eq!(KeySource::from_parts(None, Some("/k".into()), "k").unwrap(), KeySource::File("/k".into()));
        assert!(KeySource::from_parts(None, None, "k").is_err());
        assert!(KeySource::from_parts(Some("K".into()), Some("/k".into()), "k").is_err());
        assert!(KeySource::from_parts(Some("K-1".into()), None, "k").is_err());
        assert!(KeySource::from_parts(None, Some(String::new()), "k").is_err());
    }
}
