//! The server's configuration: defaults, then a TOML file (`--config`), then `REKEY_*`
//! environment variables, then command-line flags. Unknown keys in the file are rejected; the
//! result is validated into a [`Config`] before anything starts.
//!
//! Values are typed where they are read: a duration is a [`DurationMs`], so `soon` where a
//! duration goes is refused while the file or the variable is read, and what is out of bounds
//! by [`Config::validate`], each naming its key. A count is a [`Whole`] number, refused while it
//! is read when it is not one or out of its range, saying what was given, the key, the range and
//! an example. Nothing downstream parses a setting again.
//!
//! - `sections`: `[scheduler]`, `[cluster]`, `[auth]`, `[limits]`, `[aws]`, `[checkout]`.
//! - `jobs`: `[[export]]` and `[notify]`.
//! - `env`: the `REKEY_*` variables and the keys they set.

mod env;
mod jobs;
mod sections;

use crate::error::bad;
pub use crate::error::ConfigError;
use env::{locate, set, typed, ENV_KEYS};
pub use jobs::{ExportConfig, NotifyConfig, NotifyKind, BATCH, DEFAULT_TIMEOUT};
use rekey_domain::{DurationMs, Whole};
pub use sections::{AuthConfig, AwsConfig, CheckoutConfig, ClusterConfig, LimitsConfig, SchedulerConfig};
use serde::Deserialize;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// Everything `rekey serve` reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on (`REKEY_LISTEN`).
    pub listen: String,
    /// PEM certificate chain; with `tls_key`, the server speaks HTTPS only (`REKEY_TLS_CERT`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (`REKEY_TLS_KEY`).
    pub tls_key: Option<PathBuf>,
    /// Serve `/metrics` without a token (`REKEY_PUBLIC_METRICS`).
    pub public_metrics: bool,
    /// Serve the web console at `/ui/` (`REKEY_CONSOLE`).
    pub console: bool,
    /// The scheduler.
    pub scheduler: SchedulerConfig,
    /// Password check-outs.
    pub checkout: CheckoutConfig,
    /// Failed authentication.
    pub auth: AuthConfig,
    /// Connections and timeouts.
    pub limits: LimitsConfig,
    /// AWS calls: per-provider cap, attempt timeout, initial pace.
    pub aws: AwsConfig,
    /// Several nodes on one vault: leases.
    pub cluster: ClusterConfig,
    /// Audit-log exports to a SIEM (`[[export]]`, any number).
    #[serde(rename = "export")]
    pub exports: Vec<ExportConfig>,
    /// Notifications of failures and overdue credentials (`[notify]`).
    pub notify: Option<NotifyConfig>,
    /// Which API requests are written to the audit log (`[audit]`).
    pub audit: crate::audit_log::AuditConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8270".into(),
            tls_cert: None,
            tls_key: None,
            public_metrics: false,
            console: true,
            scheduler: SchedulerConfig::default(),
            checkout: CheckoutConfig::default(),
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            aws: AwsConfig::default(),
            cluster: ClusterConfig::default(),
            exports: Vec::new(),
            notify: None,
            audit: Default::default(),
        }
    }
}

/// Command-line overrides.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--tls-cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    pub tls_key: Option<PathBuf>,
}

impl Config {
    /// Reads `file` (if any) and `env`, applies `flags`, and validates.
    pub fn load(
        file: Option<&std::path::Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Self, ConfigError> {
        let source = file
            .map(|path| {
                std::fs::read_to_string(path)
                    .map(|text| (path, text))
                    .map_err(|e| bad(format!("cannot read {}: {e}", path.display()), "check --config"))
            })
            .transpose()?;
        let mut table = match &source {
            Some((path, text)) => text
                .parse::<toml::Table>()
                .map_err(|e| bad(format!("{} is not valid TOML: {e}", path.display()), "fix the file"))?,
            None => toml::Table::new(),
        };
        for (var, path, kind) in ENV_KEYS {
            if let Some(v) = env(var) {
                set(&mut table, path, typed(var, &v, kind)?);
            }
        }
        let mut config: Self = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| {
            let at = source.as_ref().and_then(|(path, text)| locate(path, text));
            let (at, message) = at.unwrap_or_else(|| (String::new(), e.message().to_owned()));
            bad(
                format!("invalid configuration{at}: {message}"),
                "see the README's server configuration keys (unknown keys are rejected)",
            )
        })?;
        if let Some(l) = &flags.listen {
            config.listen.clone_from(l);
        }
        config.tls_cert = flags.tls_cert.clone().or(config.tls_cert);
        config.tls_key = flags.tls_key.clone().or(config.tls_key);
        config.validate()?;
        Ok(config)
    }

    /// Checks every value; the first problem wins.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(bad("TLS needs both a certificate and a key", "set both tls_cert and tls_key, or neither"));
        }
        self.scheduler.validate()?;
        self.checkout.validate()?;
        self.auth.validate()?;
        self.limits.validate()?;
        self.aws.limits()?;
        self.cluster.validate()
    }

    /// `listen` as an address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen
            .parse()
            .map_err(|_| bad(format!("listen address {:?} is not HOST:PORT", self.listen), "use e.g. 127.0.0.1:8270"))
    }
}

/// `value` of `key` as a [`Duration`], refused when it is zero (a job that runs every 0 s, a
/// webhook that may take 0 s).
pub(crate) fn positive(key: &str, value: DurationMs) -> Result<Duration, ConfigError> {
    at_least(key, value, 1, "use e.g. 10s")?;
    Ok(value.duration())
}

/// Refuses `n` when `whole` does not allow it, in the words of a value refused as it is read
/// (the file and the environment are checked then; this catches a [`Config`] built otherwise).
fn within<T: TryInto<i128>>(whole: &Whole, n: T) -> Result<(), ConfigError> {
    let n = n.try_into().unwrap_or(i128::MAX);
    whole.check::<u64>(n).map(drop).map_err(|problem| bad(problem, "see the README's server configuration keys"))
}

/// Refuses `value` of `key` when it is shorter than `min_ms`, saying so with `hint`.
fn at_least(key: &str, value: DurationMs, min_ms: u64, hint: &str) -> Result<(), ConfigError> {
    if value.ms() >= min_ms {
        return Ok(());
    }
    let problem = if min_ms <= 1 {
        format!("{key} must be positive")
    } else {
        format!("{key} must be at least {}, not {value}", DurationMs::from_ms(min_ms))
    };
    Err(bad(problem, hint))
}

#[cfg(test)]
mod tests;
