//! The `REKEY_*` environment variables: which key each one sets and how its text is read, and
//! where in the file a value that does not deserialize stands.

use super::{sections, ConfigError};
use crate::error::bad;
use rekey_domain::{DurationMs, Whole};

/// What an environment variable's text is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Text,
    Bool,
    /// A count: refused here, naming the variable, when it is not a whole number in its range.
    Whole(Whole),
    /// A duration (`30s`): refused here, naming the variable, when it is not one.
    Duration,
}

/// Environment variables and the config keys they set, with the value's type.
pub(super) const ENV_KEYS: [(&str, &[&str], Kind); 22] = [
    ("REKEY_AUDIT_READS", &["audit", "reads"], Kind::Text),
    ("REKEY_LISTEN", &["listen"], Kind::Text),
    ("REKEY_TLS_CERT", &["tls_cert"], Kind::Text),
    ("REKEY_TLS_KEY", &["tls_key"], Kind::Text),
    ("REKEY_PUBLIC_METRICS", &["public_metrics"], Kind::Bool),
    ("REKEY_CONSOLE", &["console"], Kind::Bool),
    ("REKEY_SCHEDULER_ENABLED", &["scheduler", "enabled"], Kind::Bool),
    ("REKEY_SCHEDULER_INTERVAL", &["scheduler", "interval"], Kind::Duration),
    ("REKEY_SCHEDULER_HEARTBEAT_EVERY", &["scheduler", "heartbeat_every"], Kind::Duration),
    ("REKEY_SCHEDULER_CONCURRENCY", &["scheduler", "concurrency"], Kind::Whole(sections::SCHEDULER_CONCURRENCY)),
    ("REKEY_SCHEDULER_STALL_AFTER", &["scheduler", "stall_after"], Kind::Duration),
    ("REKEY_LEASE_TTL", &["cluster", "lease_ttl"], Kind::Duration),
    ("REKEY_NODE", &["cluster", "node"], Kind::Text),
    ("REKEY_CHECKOUT_DEFAULT_TTL", &["checkout", "default_ttl"], Kind::Duration),
    ("REKEY_AUTH_MAX_FAILURES", &["auth", "max_failures"], Kind::Whole(sections::MAX_FAILURES)),
    ("REKEY_AUTH_FAILURE_WINDOW", &["auth", "failure_window"], Kind::Duration),
    ("REKEY_MAX_CONNECTIONS", &["limits", "max_connections"], Kind::Whole(sections::MAX_CONNECTIONS)),
    ("REKEY_HEADER_TIMEOUT", &["limits", "header_timeout"], Kind::Duration),
    ("REKEY_SHUTDOWN_GRACE", &["limits", "shutdown_grace"], Kind::Duration),
    ("REKEY_PROVIDER_CONCURRENCY", &["aws", "provider_concurrency"], Kind::Whole(sections::PROVIDER_CONCURRENCY)),
    ("REKEY_AWS_ATTEMPT_TIMEOUT", &["aws", "attempt_timeout"], Kind::Duration),
    ("REKEY_AWS_PACE", &["aws", "pace"], Kind::Text),
];

/// The TOML value variable `var` holds, or why its text is not one of its kind.
pub(super) fn typed(var: &str, v: &str, kind: Kind) -> Result<toml::Value, ConfigError> {
    match kind {
        Kind::Text => Ok(toml::Value::String(v.to_owned())),
        Kind::Bool => match v {
            "true" | "1" | "yes" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" => Ok(toml::Value::Boolean(false)),
            _ => Err(bad(format!("{var}={v:?} is not a boolean"), "use true or false")),
        },
        Kind::Whole(whole) => whole
            .read::<i64>(v)
            .map(toml::Value::Integer)
            .map_err(|problem| bad(format!("{var}: {problem}"), whole.allowed())),
        Kind::Duration => match v.parse::<DurationMs>() {
            Ok(_) => Ok(toml::Value::String(v.to_owned())),
            Err(e) => Err(bad(format!("{var}: {}", e.problem), e.hint)),
        },
    }
}

/// Sets `path` (a key and the tables above it) in `table` to `value`.
pub(super) fn set(table: &mut toml::Table, path: &[&str], value: toml::Value) {
    match path {
        [] => {}
        [last] => {
            table.insert((*last).to_owned(), value);
        }
        [first, rest @ ..] => {
            let entry = table.entry((*first).to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = entry {
                set(t, rest, value);
            }
        }
    }
}

/// Where the file alone first fails to deserialize, as ` in PATH at line L, column C`, with
/// that failure's message; `None` when the file alone is fine (the environment broke it) or
/// the parser gives no position.
pub(super) fn locate(path: &std::path::Path, text: &str) -> Option<(String, String)> {
    let err = toml::from_str::<super::Config>(text).err()?;
    let before = text.get(..err.span()?.start)?;
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((format!(" in {} at line {line}, column {column}", path.display()), err.message().to_owned()))
}
