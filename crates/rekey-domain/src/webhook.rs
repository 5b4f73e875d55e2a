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
                "name the HMAC key's environment variable (key_env) or file (key_file)",
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

/// Checks a webhook URL: absolute `http` or `https`, with a host, no credentials in it.
pub fn validate_url(url: &str, field: &'static str) -> Result<(), ValidationError> {
    let hint = "use a URL such as https://hooks.example.com/rekey";
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| ValidationError::new(field, format!("{url:?} is not an http(s) URL"), hint))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidationError::new(
            field,
            format!("{url:?} has no host, or has credentials or spaces in it"),
            hint,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in ["https://h.example/x", "http://127.0.0.1:8080/hook?x=1", "https://h"] {
            assert!(validate_url(ok, "url").is_ok(), "{ok}");
        }
        for bad in ["ftp://h", "https://", "https:///x", "https://u:p@h/x", "h.example", "https://h/ x", ""] {
            assert!(validate_url(bad, "url").is_err(), "{bad}");
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
