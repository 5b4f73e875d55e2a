//! The background jobs' sections: `[[export]]` (audit events to a SIEM) and `[notify]` (a
//! signed webhook told of failures). Their destinations are checked when the jobs are built
//! (`export.rs`, `notify.rs`); their durations are parsed here, when the file is read.

use rekey_domain::{DurationMs, Whole};
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;

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
    pub interval: DurationMs,
    /// Events read per batch (default 500).
    #[serde(default = "default_batch", deserialize_with = "batch")]
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
    pub timeout: Option<DurationMs>,
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
    pub timeout: Option<DurationMs>,
    /// Which notifications (default all).
    #[serde(default = "all_notifications")]
    pub on: Vec<NotifyKind>,
    /// An overdue credential is notified again only after this long (default 24h).
    #[serde(default = "one_day")]
    pub overdue_every: DurationMs,
    /// A credential is overdue when its rotation has been due this long (default 1h).
    #[serde(default = "one_hour")]
    pub overdue_after: DurationMs,
    /// Time between rounds (default 10s).
    #[serde(default = "ten_seconds")]
    pub interval: DurationMs,
}

/// A webhook's limit per attempt when its section names none.
pub const DEFAULT_TIMEOUT: DurationMs = DurationMs::from_secs(10);

fn ten_seconds() -> DurationMs {
    DurationMs::from_secs(10)
}
fn one_hour() -> DurationMs {
    DurationMs::from_secs(3_600)
}
fn one_day() -> DurationMs {
    DurationMs::from_secs(86_400)
}
fn default_batch() -> i64 {
    500
}

/// `[[export]]`'s `batch`.
pub const BATCH: Whole = Whole::new(1, 10_000, 500, "an [[export]]'s batch takes", "events");

fn batch<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    BATCH.value(d)
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
