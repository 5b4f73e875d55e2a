//! The server's own sections: `[scheduler]`, `[cluster]`, `[auth]`, `[limits]`, `[aws]` and
//! `[checkout]`, with their defaults and the bounds each value must keep. Durations are
//! [`DurationMs`]: a value that is not a duration is refused while the file is read; one out of
//! its bounds by [`super::Config::validate`], naming its key. Counts are [`Whole`] numbers,
//! read against their range as the file is read: what was given, the key, the range and an
//! example, as every whole-number field says it.

use super::{at_least, within, ConfigError};
use crate::error::bad;
use rekey_domain::{DurationMs, Whole};
use serde::{Deserialize, Deserializer};

/// `scheduler.concurrency`.
pub(super) const SCHEDULER_CONCURRENCY: Whole =
    Whole::new(1, 64, 8, "scheduler.concurrency takes", "accounts calling AWS at once");
/// `auth.max_failures`.
pub(super) const MAX_FAILURES: Whole =
    Whole::new(1, 10_000, 10, "auth.max_failures takes", "failed authentications per window");
/// `limits.max_connections`.
pub(super) const MAX_CONNECTIONS: Whole =
    Whole::new(1, 100_000, 512, "limits.max_connections takes", "open connections");
/// `aws.provider_concurrency` (the engine's bounds, under the configuration's key).
pub(super) const PROVIDER_CONCURRENCY: Whole = Whole {
    rule: "aws.provider_concurrency takes",
    unit: "accounts of one provider at once",
    ..rekey_engine::limits::PROVIDER_CONCURRENCY
};

fn scheduler_concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    SCHEDULER_CONCURRENCY.value(d)
}
fn max_failures<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    MAX_FAILURES.value(d)
}
fn max_connections<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    MAX_CONNECTIONS.value(d)
}
fn provider_concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    PROVIDER_CONCURRENCY.optional(d)
}

/// `[scheduler]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Run scheduled work on this node (`REKEY_SCHEDULER_ENABLED`).
    pub enabled: bool,
    /// Time between ticks (`REKEY_SCHEDULER_INTERVAL`).
    pub interval: DurationMs,
    /// Heartbeat accounts whose last heartbeat is older than this (`REKEY_SCHEDULER_HEARTBEAT_EVERY`).
    pub heartbeat_every: DurationMs,
    /// Accounts calling AWS at once (`REKEY_SCHEDULER_CONCURRENCY`).
    #[serde(deserialize_with = "scheduler_concurrency")]
    pub concurrency: usize,
    /// `/readyz` says not ready when a worker of this node made no progress for this long, or
    /// when no tick ended for `interval` plus this long (`REKEY_SCHEDULER_STALL_AFTER`).
    pub stall_after: DurationMs,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: DurationMs::from_secs(30),
            heartbeat_every: DurationMs::from_secs(86_400),
            concurrency: 8,
            stall_after: DurationMs::from_secs(300),
        }
    }
}

impl SchedulerConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        at_least("scheduler.interval", self.interval, 1, "the default is 30s")?;
        at_least("scheduler.heartbeat_every", self.heartbeat_every, 1, "the default is 24h")?;
        within(&SCHEDULER_CONCURRENCY, self.concurrency)?;
        at_least("scheduler.stall_after", self.stall_after, 10_000, "the default is 5m")
    }
}

/// `[cluster]`: how this node takes leases (see the README's HA section).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// How long a lease lasts unless renewed; renewed every third of it. A dead node's work is
    /// taken over this long after its last renewal at most (`REKEY_LEASE_TTL`).
    pub lease_ttl: DurationMs,
    /// This node's name in lease owners (`REKEY_NODE`); the host name when unset. Unique per
    /// machine: a holder on a node of this name whose process is gone is taken over at once.
    pub node: Option<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self { lease_ttl: DurationMs::from_secs(30), node: None }
    }
}

impl ClusterConfig {
    /// The lease settings.
    pub fn leases(&self) -> rekey_engine::lease::LeaseSettings {
        let default = rekey_engine::lease::LeaseSettings::default();
        rekey_engine::lease::LeaseSettings {
            ttl_ms: self.lease_ttl.ms_i64(),
            node: self.node.clone().unwrap_or(default.node),
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        use rekey_engine::lease::{MAX_TTL_MS, MIN_TTL_MS};
        if !(MIN_TTL_MS..=MAX_TTL_MS).contains(&self.lease_ttl.ms_i64()) {
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
    #[serde(deserialize_with = "max_failures")]
    pub max_failures: u32,
    /// The window (`REKEY_AUTH_FAILURE_WINDOW`); also how long failures are added up before
    /// they are audited.
    pub failure_window: DurationMs,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { max_failures: 10, failure_window: DurationMs::from_secs(60) }
    }
}

impl AuthConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        at_least("auth.failure_window", self.failure_window, 1_000, "the default is 1m")?;
        within(&MAX_FAILURES, self.max_failures)
    }
}

/// `[limits]`: what a client may hold of the server (`listen::Limits` is built from it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Open connections at most; more wait in the listen backlog (`REKEY_MAX_CONNECTIONS`).
    #[serde(deserialize_with = "max_connections")]
    pub max_connections: usize,
    /// Time a connection has to send a complete request head after it opens or after its
    /// previous answer (idle keep-alive connections close after it too); also the limit of a
    /// TLS handshake and of a request body (`REKEY_HEADER_TIMEOUT`).
    pub header_timeout: DurationMs,
    /// At shutdown, time requests under way get to finish; idle connections close at once
    /// (`REKEY_SHUTDOWN_GRACE`).
    pub shutdown_grace: DurationMs,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_timeout: DurationMs::from_secs(10),
            shutdown_grace: DurationMs::from_secs(30),
        }
    }
}

impl LimitsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        within(&MAX_CONNECTIONS, self.max_connections)?;
        at_least("limits.header_timeout", self.header_timeout, 100, "the default is 10s")?;
        at_least("limits.shutdown_grace", self.shutdown_grace, 1, "the default is 30s")
    }
}

/// `[aws]`: how the engine calls AWS (see `rekey_engine::limits`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// Most accounts worked at once against one provider; none by default: every provider's
    /// calls are paced to what IAM accepts (`REKEY_PROVIDER_CONCURRENCY`).
    #[serde(deserialize_with = "provider_concurrency")]
    pub provider_concurrency: Option<usize>,
    /// Timeout of one attempt of an AWS call, default 20s (`REKEY_AWS_ATTEMPT_TIMEOUT`).
    pub attempt_timeout: Option<DurationMs>,
    /// Initial pace, e.g. `iam=16,iam-mutating=8,sts=100` (`REKEY_AWS_PACE`).
    pub pace: Option<String>,
}

impl AwsConfig {
    /// The engine's limits.
    pub fn limits(&self) -> Result<rekey_engine::Limits, ConfigError> {
        use rekey_engine::limits::{ATTEMPT_TIMEOUT_ENV, PACE_ENV, PROVIDER_CONCURRENCY_ENV};
        if let Some(n) = self.provider_concurrency {
            within(&PROVIDER_CONCURRENCY, n)?;
        }
        rekey_engine::Limits::from_settings(|k| match k {
            PROVIDER_CONCURRENCY_ENV => self.provider_concurrency.map(|n| n.to_string()),
            ATTEMPT_TIMEOUT_ENV => self.attempt_timeout.map(|d| d.to_string()),
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
    pub default_ttl: DurationMs,
}

impl Default for CheckoutConfig {
    fn default() -> Self {
        Self { default_ttl: DurationMs::from_secs(3_600) }
    }
}

impl CheckoutConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        at_least("checkout.default_ttl", self.default_ttl, 1, "the default is 1h")?;
        if self.default_ttl.ms() > rekey_engine::MAX_CHECKOUT_MS {
            return Err(bad(
                format!("checkout.default_ttl must be at most 24h (the longest check-out), not {}", self.default_ttl),
                "the default is 1h; a client may ask for up to 24h per check-out",
            ));
        }
        Ok(())
    }
}
