//! The server's configuration: defaults, then a TOML file (`--config`), then `REKEY_*`
//! environment variables, then command-line flags. Unknown keys in the file are rejected; the
//! result is validated into a [`Config`] before anything starts.

use crate::error::bad;
pub use crate::error::ConfigError;
use rekey_domain::duration::parse_duration_ms;
use serde::Deserialize;
use std::{net::SocketAddr, path::PathBuf};

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

/// One `[[export]]`: where audit events go, which classes of them, and how often.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// Unique name; the export's position in the audit log is stored under it.
    pub name: String,
    /// `file` (JSON lines), `syslog` (RFC 5424) or `webhook` (signed JSON).
    pub kind: String,
    /// Event classes to send (the part of the action before the dot: account, api, provider,
    /// rotation, token, vault); empty sends all.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Time between rounds (default 10s).
    #[serde(default = "ten_seconds")]
    pub interval: String,
    /// Events read per batch (default 500).
    #[serde(default = "default_batch")]
    pub batch: i64,
    /// `file`: the file to append to.
    pub path: Option<PathBuf>,
    /// `syslog`: the collector's HOST:PORT.
    pub address: Option<String>,
    /// `syslog`: `udp` (default) or `tcp` (octet-counting framing).
    pub protocol: Option<String>,
    /// `syslog`: the facility (default authpriv).
    pub facility: Option<String>,
    /// `webhook`: where to POST.
    pub url: Option<String>,
    /// `webhook`: environment variable holding the HMAC key.
    pub key_env: Option<String>,
    /// `webhook`: file holding the HMAC key.
    pub key_file: Option<String>,
    /// `webhook` and `syslog` over TCP: limit per attempt (default 10s).
    pub timeout: Option<String>,
}

/// `[notify]`: a signed webhook told of failed rotations, failed heartbeats and overdue
/// credentials, each with the owner named by the IAM user's `rekey:owner` tag.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Where to POST.
    pub url: String,
    /// Environment variable holding the HMAC key.
    pub key_env: Option<String>,
    /// File holding the HMAC key.
    pub key_file: Option<String>,
    /// Limit per attempt (default 10s).
    pub timeout: Option<String>,
    /// Which notifications (default all).
    #[serde(default = "all_notifications")]
    pub on: Vec<NotifyKind>,
    /// An overdue credential is notified again only after this long (default 24h).
    #[serde(default = "one_day")]
    pub overdue_every: String,
    /// A credential is overdue when its rotation has been due this long (default 1h).
    #[serde(default = "one_hour")]
    pub overdue_after: String,
    /// Time between rounds (default 10s).
    #[serde(default = "ten_seconds")]
    pub interval: String,
}

fn ten_seconds() -> String {
    "10s".into()
}
fn one_hour() -> String {
    "1h".into()
}
fn one_day() -> String {
    "24h".into()
}
fn default_batch() -> i64 {
    500
}
fn all_notifications() -> Vec<NotifyKind> {
    NotifyKind::ALL.to_vec()
}

/// What `[notify]` can be told of (`notify.on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum NotifyKind {
    /// A rotation aborted.
    RotationFailed,
    /// A heartbeat found a credential that does not work or drifted.
    HeartbeatFailed,
    /// Credentials overdue for rotation (a digest per owner).
    Overdue,
    /// A rotation waits past a deadline for people (a manual delivery's confirmation).
    RotationStalled,
}

impl NotifyKind {
    /// Every kind.
    pub const ALL: [NotifyKind; 4] =
        [Self::RotationFailed, Self::HeartbeatFailed, Self::Overdue, Self::RotationStalled];

    /// The spelling in the configuration and in the notices' `event` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RotationFailed => "rotation-failed",
            Self::HeartbeatFailed => "heartbeat-failed",
            Self::Overdue => "overdue",
            Self::RotationStalled => "rotation-stalled",
        }
    }

    /// Every spelling, for hints.
    pub fn spellings() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl TryFrom<String> for NotifyKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a notification; use some of {}", Self::spellings()))
    }
}

/// `[scheduler]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Run scheduled work on this node (`REKEY_SCHEDULER_ENABLED`).
    pub enabled: bool,
    /// Time between ticks (`REKEY_SCHEDULER_INTERVAL`).
    pub interval: String,
    /// Heartbeat accounts whose last heartbeat is older than this (`REKEY_SCHEDULER_HEARTBEAT_EVERY`).
    pub heartbeat_every: String,
    /// Accounts calling AWS at once (`REKEY_SCHEDULER_CONCURRENCY`).
    pub concurrency: usize,
    /// `/readyz` says not ready when a worker of this node made no progress for this long, or
    /// when no tick ended for `interval` plus this long (`REKEY_SCHEDULER_STALL_AFTER`).
    pub stall_after: String,
}

/// `[cluster]`: how this node takes leases (see the README's HA section).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// How long a lease lasts unless renewed; renewed every third of it. A dead node's work is
    /// taken over this long after its last renewal at most (`REKEY_LEASE_TTL`).
    pub lease_ttl: String,
    /// This node's name in lease owners (`REKEY_NODE`); the host name when unset. Unique per
    /// machine: a holder on a node of this name whose process is gone is taken over at once.
    pub node: Option<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self { lease_ttl: "30s".into(), node: None }
    }
}

impl ClusterConfig {
    /// The validated lease settings.
    pub fn leases(&self) -> rekey_engine::lease::LeaseSettings {
        let default = rekey_engine::lease::LeaseSettings::default();
        rekey_engine::lease::LeaseSettings {
            ttl_ms: i64::try_from(Config::ms(&self.lease_ttl)).unwrap_or(default.ttl_ms),
            node: self.node.clone().unwrap_or(default.node),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        use rekey_engine::lease::{MAX_TTL_MS, MIN_TTL_MS};
        let ttl = i64::try_from(Config::positive_ms("cluster.lease_ttl", &self.lease_ttl)?).unwrap_or(i64::MAX);
        if !(MIN_TTL_MS..=MAX_TTL_MS).contains(&ttl) {
            return Err(bad(
                format!("cluster.lease_ttl must be from 5s to 1h, not {}", self.lease_ttl),
                "the default is 30s; a shorter lease hands a dead node's work over sooner and is renewed more often",
            ));
        }
        if let Some(node) = &self.node {
            let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
            if node.is_empty() || node.len() > 64 || !node.chars().all(fine) {
                return Err(bad(
                    format!("cluster.node {node:?} is not a node name"),
                    "use 1 to 64 letters, digits, dots, dashes or underscores, unique per machine (the default is the host name)",
                ));
            }
        }
        Ok(())
    }
}

/// `[auth]`: throttling of failed authentication (see the README's security section).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Failed attempts (a wrong, revoked or expired token) per source address and window
    /// before the source is answered 429 for the rest of the window (`REKEY_AUTH_MAX_FAILURES`).
    pub max_failures: u32,
    /// The window (`REKEY_AUTH_FAILURE_WINDOW`); also how long failures are added up before
    /// they are audited.
    pub failure_window: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { max_failures: 10, failure_window: "1m".into() }
    }
}

/// `[limits]`: what a client may hold of the server (`listen::Limits` is built from it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Open connections at most; more wait in the listen backlog (`REKEY_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// Time a connection has to send a complete request head after it opens or after its
    /// previous answer (idle keep-alive connections close after it too); also the limit of a
    /// TLS handshake and of a request body (`REKEY_HEADER_TIMEOUT`).
    pub header_timeout: String,
    /// At shutdown, time requests under way get to finish; idle connections close at once
    /// (`REKEY_SHUTDOWN_GRACE`).
    pub shutdown_grace: String,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self { max_connections: 512, header_timeout: "10s".into(), shutdown_grace: "30s".into() }
    }
}

/// `[aws]`: how the engine calls AWS (see `rekey_engine::limits`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// Most accounts worked at once against one provider; none by default: every provider's
    /// calls are paced to what IAM accepts (`REKEY_PROVIDER_CONCURRENCY`).
    pub provider_concurrency: Option<usize>,
    /// Timeout of one attempt of an AWS call, default 20s (`REKEY_AWS_ATTEMPT_TIMEOUT`).
    pub attempt_timeout: Option<String>,
    /// Initial pace, e.g. `iam=16,iam-mutating=8,sts=100` (`REKEY_AWS_PACE`).
    pub pace: Option<String>,
}

impl AwsConfig {
    /// The engine's limits.
    pub fn limits(&self) -> Result<rekey_engine::Limits, ConfigError> {
        use rekey_engine::limits::{ATTEMPT_TIMEOUT_ENV, PACE_ENV, PROVIDER_CONCURRENCY_ENV};
        rekey_engine::Limits::from_settings(|k| match k {
            PROVIDER_CONCURRENCY_ENV => self.provider_concurrency.map(|n| n.to_string()),
            ATTEMPT_TIMEOUT_ENV => self.attempt_timeout.clone(),
            PACE_ENV => self.pace.clone(),
            _ => None,
        })
        .map_err(|e| bad(format!("[aws]: {e}"), e.hint().unwrap_or_default()))
    }
}

/// `[checkout]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckoutConfig {
    /// A check-out's length when the request names none (`REKEY_CHECKOUT_DEFAULT_TTL`).
    pub default_ttl: String,
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

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: "30s".into(),
            heartbeat_every: "24h".into(),
            concurrency: 8,
            stall_after: "5m".into(),
        }
    }
}

impl Default for CheckoutConfig {
    fn default() -> Self {
        Self { default_ttl: "1h".into() }
    }
}

/// Environment variables and the config keys they set, with the value's type.
const ENV_KEYS: [(&str, &[&str], Kind); 22] = [
    ("REKEY_AUDIT_READS", &["audit", "reads"], Kind::Text),
    ("REKEY_LISTEN", &["listen"], Kind::Text),
    ("REKEY_TLS_CERT", &["tls_cert"], Kind::Text),
    ("REKEY_TLS_KEY", &["tls_key"], Kind::Text),
    ("REKEY_PUBLIC_METRICS", &["public_metrics"], Kind::Bool),
    ("REKEY_CONSOLE", &["console"], Kind::Bool),
    ("REKEY_SCHEDULER_ENABLED", &["scheduler", "enabled"], Kind::Bool),
    ("REKEY_SCHEDULER_INTERVAL", &["scheduler", "interval"], Kind::Text),
    ("REKEY_SCHEDULER_HEARTBEAT_EVERY", &["scheduler", "heartbeat_every"], Kind::Text),
    ("REKEY_SCHEDULER_CONCURRENCY", &["scheduler", "concurrency"], Kind::Int),
    ("REKEY_SCHEDULER_STALL_AFTER", &["scheduler", "stall_after"], Kind::Text),
    ("REKEY_LEASE_TTL", &["cluster", "lease_ttl"], Kind::Text),
    ("REKEY_NODE", &["cluster", "node"], Kind::Text),
    ("REKEY_CHECKOUT_DEFAULT_TTL", &["checkout", "default_ttl"], Kind::Text),
    ("REKEY_AUTH_MAX_FAILURES", &["auth", "max_failures"], Kind::Int),
    ("REKEY_AUTH_FAILURE_WINDOW", &["auth", "failure_window"], Kind::Text),
    ("REKEY_MAX_CONNECTIONS", &["limits", "max_connections"], Kind::Int),
    ("REKEY_HEADER_TIMEOUT", &["limits", "header_timeout"], Kind::Text),
    ("REKEY_SHUTDOWN_GRACE", &["limits", "shutdown_grace"], Kind::Text),
    ("REKEY_PROVIDER_CONCURRENCY", &["aws", "provider_concurrency"], Kind::Int),
    ("REKEY_AWS_ATTEMPT_TIMEOUT", &["aws", "attempt_timeout"], Kind::Text),
    ("REKEY_AWS_PACE", &["aws", "pace"], Kind::Text),
];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Bool,
    Int,
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
        for (key, value) in [
            ("scheduler.interval", &self.scheduler.interval),
            ("scheduler.heartbeat_every", &self.scheduler.heartbeat_every),
            ("checkout.default_ttl", &self.checkout.default_ttl),
        ] {
            Self::positive_ms(key, value)?;
        }
        let most = rekey_engine::MAX_CHECKOUT_MS;
        if Self::positive_ms("checkout.default_ttl", &self.checkout.default_ttl)? > most {
            return Err(bad(
                format!(
                    "checkout.default_ttl must be at most 24h (the longest check-out), not {}",
                    self.checkout.default_ttl
                ),
                "the default is 1h; a client may ask for up to 24h per check-out",
            ));
        }
        if Self::positive_ms("auth.failure_window", &self.auth.failure_window)? < 1000 {
            return Err(bad("auth.failure_window must be at least 1s", "the default is 1m"));
        }
        if !(1..=10_000).contains(&self.auth.max_failures) {
            return Err(bad("auth.max_failures must be from 1 to 10000", "the default is 10"));
        }
        if !(1..=100_000).contains(&self.limits.max_connections) {
            return Err(bad("limits.max_connections must be from 1 to 100000", "the default is 512"));
        }
        if Self::positive_ms("limits.header_timeout", &self.limits.header_timeout)? < 100 {
            return Err(bad("limits.header_timeout must be at least 100ms", "the default is 10s"));
        }
        Self::positive_ms("limits.shutdown_grace", &self.limits.shutdown_grace)?;
        self.aws.limits()?;
        if !(1..=64).contains(&self.scheduler.concurrency) {
            return Err(bad("scheduler.concurrency must be from 1 to 64", "the default is 8"));
        }
        if Self::positive_ms("scheduler.stall_after", &self.scheduler.stall_after)? < 10_000 {
            return Err(bad("scheduler.stall_after must be at least 10s", "the default is 5m"));
        }
        self.cluster.validate()
    }

    /// `listen` as an address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen
            .parse()
            .map_err(|_| bad(format!("listen address {:?} is not HOST:PORT", self.listen), "use e.g. 127.0.0.1:8270"))
    }

    /// A validated duration in milliseconds.
    pub fn ms(value: &str) -> u64 {
        parse_duration_ms(value).unwrap_or(1000)
    }

    /// Checks a positive duration setting.
    pub(crate) fn positive_ms(key: &str, value: &str) -> Result<u64, ConfigError> {
        let ms = parse_duration_ms(value).map_err(|e| bad(format!("{key}: {e}"), "use e.g. 30s, 15m, 24h"))?;
        if ms == 0 {
            return Err(bad(format!("{key} must be positive"), "use e.g. 30s, 15m, 24h"));
        }
        Ok(ms)
    }
}

/// Where the file alone first fails to deserialize, as ` in PATH at line L, column C`, with
/// that failure's message; `None` when the file alone is fine (the environment broke it) or
/// the parser gives no position.
fn locate(path: &std::path::Path, text: &str) -> Option<(String, String)> {
    let err = toml::from_str::<Config>(text).err()?;
    let before = text.get(..err.span()?.start)?;
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((format!(" in {} at line {line}, column {column}", path.display()), err.message().to_owned()))
}

fn typed(var: &str, v: &str, kind: Kind) -> Result<toml::Value, ConfigError> {
    match kind {
        Kind::Text => Ok(toml::Value::String(v.to_owned())),
        Kind::Bool => match v {
            "true" | "1" | "yes" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" => Ok(toml::Value::Boolean(false)),
            _ => Err(bad(format!("{var}={v:?} is not a boolean"), "use true or false")),
        },
        Kind::Int => v
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| bad(format!("{var}={v:?} is not a whole number"), "use e.g. 8")),
    }
}

fn set(table: &mut toml::Table, path: &[&str], value: toml::Value) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("rekey-config-{}", rand::random::<u64>()));
        std::fs::write(&dir, toml).expect("write config");
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let r = Config::load(
            Some(&dir),
            |k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            &Overrides::default(),
        );
        let _ = std::fs::remove_file(&dir);
        r
    }

    #[test]
    fn file_then_env_then_validation() {
        let c = load(
            "listen = \"127.0.0.1:9000\"\n[scheduler]\ninterval = \"5s\"\n",
            &[("REKEY_SCHEDULER_CONCURRENCY", "3")],
        )
        .expect("valid");
        assert_eq!(
            (c.listen.as_str(), c.scheduler.interval.as_str(), c.scheduler.concurrency),
            ("127.0.0.1:9000", "5s", 3)
        );
        let c = load("listen = \"127.0.0.1:9000\"", &[("REKEY_LISTEN", "127.0.0.1:9001")]).expect("valid");
        assert_eq!(c.listen, "127.0.0.1:9001", "the environment overrides the file");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        let e = load("listn = \"x\"", &[]).expect_err("typo");
        assert!(e.message.contains("listn"), "{e}");
        let e = load("[scheduler]\nconcurency = 2", &[]).expect_err("typo in a table");
        assert!(e.message.contains("concurency"), "{e}");
        assert!(e.message.contains("at line 2, column 1"), "the typo's place in the file: {e}");
        let e = load("listen = \"127.0.0.1:9000\"\n[scheduler]\nenabled = true\nconcurrency = \"four\"\n", &[])
            .expect_err("a string where a number goes");
        assert!(e.message.contains("line 4, column 15") && e.message.contains("invalid type"), "{e}");
        assert!(load("listen = \"nowhere\"", &[]).is_err());
        assert!(load("tls_cert = \"/a.pem\"", &[]).is_err(), "a certificate without a key");
        assert!(load("[scheduler]\ninterval = \"0s\"", &[]).is_err());
        assert!(load("", &[("REKEY_PUBLIC_METRICS", "maybe")]).is_err());
        assert!(load("", &[("REKEY_SCHEDULER_CONCURRENCY", "100")]).is_err());
    }

    #[test]
    fn limits_and_auth_throttling_are_bounded() {
        let c = load("[limits]\nmax_connections = 64\n", &[("REKEY_HEADER_TIMEOUT", "2s")]).expect("valid");
        assert_eq!((c.limits.max_connections, Config::ms(&c.limits.header_timeout)), (64, 2000));
        for (var, value) in [
            ("REKEY_MAX_CONNECTIONS", "0"),
            ("REKEY_HEADER_TIMEOUT", "50ms"),
            ("REKEY_SHUTDOWN_GRACE", "soon"),
            ("REKEY_AUTH_MAX_FAILURES", "0"),
            ("REKEY_AUTH_FAILURE_WINDOW", "10ms"),
        ] {
            assert!(load("", &[(var, value)]).is_err(), "{var}={value}");
        }
        assert!(load("[limits]\nidle = \"5s\"\n", &[]).is_err(), "unknown keys in [limits]");
    }

    #[test]
    fn the_lease_ttl_and_node_name_are_validated() {
        let c = load("[cluster]\nlease_ttl = \"10s\"\n", &[("REKEY_NODE", "node-1.eu")]).expect("valid");
        let leases = c.cluster.leases();
        assert_eq!((leases.ttl_ms, leases.node.as_str()), (10_000, "node-1.eu"));
        let d = load("", &[]).expect("defaults").cluster.leases();
        assert_eq!((d.ttl_ms, d.node), (30_000, rekey_engine::lease::host()));
        for (var, value) in [
            ("REKEY_LEASE_TTL", "4s"),
            ("REKEY_LEASE_TTL", "2h"),
            ("REKEY_LEASE_TTL", "soon"),
            ("REKEY_NODE", "a:b"),
            ("REKEY_NODE", "n#1"),
            ("REKEY_NODE", ""),
            ("REKEY_SCHEDULER_STALL_AFTER", "5s"),
        ] {
            let e = load("", &[(var, value)]).expect_err(var);
            assert!(!e.hint.is_empty(), "{var}={value}: {e}");
        }
        assert!(load("[cluster]\nttl = \"5s\"\n", &[]).is_err(), "unknown keys in [cluster]");
    }

    /// Values that parse but cannot work are refused at start (issue 18).
    #[test]
    fn a_checkout_ttl_longer_than_any_checkout_is_refused() {
        let e = load("[checkout]\ndefault_ttl = \"48h\"\n", &[]).expect_err("48h");
        assert!(e.message.contains("at most 24h") && !e.hint.is_empty(), "{e}");
        assert!(load("", &[("REKEY_CHECKOUT_DEFAULT_TTL", "25h")]).is_err());
        load("[checkout]\ndefault_ttl = \"24h\"\n", &[]).expect("24h is the longest");
    }
}
