//! SIEM export of the audit log. Each `[[export]]` reads the hash-chained audit log from its
//! stored cursor, keeps the event classes it was asked for, sends them (JSON lines appended to
//! a file and fsync'd, RFC 5424 syslog over UDP or TCP, or one signed webhook POST per batch),
//! and only then advances its cursor. Delivery is therefore at least once: after a crash
//! between sending and storing the cursor, a batch is sent again; every event carries its
//! `seq` and chain `hash`, so receivers can drop duplicates and check the chain. Every batch
//! also carries the chain's head as of its last event (`seq`, `hash`): kept outside the
//! database, it is the anchor `rekey audit verify --expect-head/--expect-count` checks, which
//! shows newest events deleted later (a file gets a `{"chain_head": …}` line, syslog a
//! message with MSGID `audit.head`, a webhook a `chain_head` field).
//!
//! One node at a time works each export (a job lease), so several nodes on one PostgreSQL
//! vault do not send events twice.

use crate::config::{positive, ExportConfig, DEFAULT_TIMEOUT};
use crate::error::{bad, ConfigError};
use rekey_domain::AuditOutcome;
use rekey_engine::{delivery::webhook::Webhook, Engine, Result};
use rekey_store::AuditRecord;
use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{io::AsyncWriteExt, sync::watch};

/// A file export must be writable where it is: its directory exists and only rekey's user may
/// write to it, and the file, if there, is a regular file (not a link). Checked at start, so a
/// mistake does not turn into a warning every round.
fn check_file_destination(what: &str, path: &std::path::Path) -> Result<(), ConfigError> {
    use rekey_engine::private_file::SecretDir;
    let checked = SecretDir::of(path, false).and_then(|(dir, name)| dir.check(&name));
    match checked {
        Ok(_) => Ok(()),
        Err(e @ rekey_engine::private_file::FileError::Io { .. }) => Err(bad(
            format!("{what}: {e}"),
            "create the directory first (rekey does not create log directories), or fix the path",
        )),
        Err(e) => Err(bad(format!("{what}: {e}"), e.hint())),
    }
}

/// The classes of audit events (the part of an action before the first dot).
pub const CLASSES: [&str; 6] = ["account", "api", "provider", "rotation", "token", "vault"];

/// Largest syslog message sent over UDP (an IPv4 datagram's payload is at most 65,507 bytes).
const MAX_DATAGRAM: usize = 65_000;

/// Syslog facilities by name.
const FACILITIES: [(&str, u8); 13] = [
    ("auth", 4),
    ("authpriv", 10),
    ("daemon", 3),
    ("audit", 13),
    ("user", 1),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// Where an export sends.
#[derive(Debug, Clone)]
pub enum Destination {
    /// JSON lines appended to this file.
    File(PathBuf),
    /// RFC 5424 syslog.
    Syslog {
        /// The collector.
        address: String,
        /// TCP with octet-counting framing (RFC 6587) instead of one UDP datagram per event.
        tcp: bool,
        /// The facility number.
        facility: u8,
        /// Limit on connecting and writing (TCP).
        timeout: Duration,
    },
    /// A signed webhook, one POST per batch.
    Webhook(Webhook),
}

/// A validated `[[export]]`.
#[derive(Debug, Clone)]
pub struct Exporter {
    /// Its name (and cursor).
    pub name: String,
    /// Where the events go: a file, syslog, or a signed webhook.
    pub destination: Destination,
    /// Classes sent; empty: all.
    pub classes: Vec<String>,
    /// Between rounds.
    pub interval: Duration,
    /// Events per batch.
    pub batch: i64,
}

/// Events exported and failed rounds, per export, since start (for `/metrics`).
#[derive(Debug, Default)]
pub struct ExportStats {
    counts: Mutex<BTreeMap<String, (u64, u64)>>,
}

impl ExportStats {
    fn add(&self, name: &str, sent: u64, failed: u64) {
        let mut c = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let e = c.entry(name.to_owned()).or_default();
        e.0 += sent;
        e.1 += failed;
    }

    /// `(export, events sent, failed rounds)`.
    pub fn snapshot(&self) -> Vec<(String, u64, u64)> {
        let c = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        c.iter().map(|(k, (s, f))| (k.clone(), *s, *f)).collect()
    }
}

impl Exporter {
    /// Validates one `[[export]]` table.
    pub fn build(c: &ExportConfig) -> Result<Self, ConfigError> {
        let what = format!("export {:?}", c.name);
        if c.name.is_empty() || !c.name.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) {
            return Err(bad(format!("{what}: the name must be letters, digits, - _ ."), "use e.g. name = \"siem\""));
        }
        for class in &c.classes {
            if !CLASSES.contains(&class.as_str()) {
                return Err(bad(
                    format!("{what}: {class:?} is not an event class"),
                    format!("use some of {}", CLASSES.join(", ")),
                ));
            }
        }
        if let Err(problem) = crate::config::BATCH.check::<i64>(c.batch.into()) {
            return Err(bad(format!("{what}: {problem}"), "the default is 500"));
        }
        let interval = positive(&format!("{what}.interval"), c.interval)?;
        let only = |allowed: &[&str]| -> Result<(), ConfigError> {
            let given = [
                ("path", c.path.is_some()),
                ("address", c.address.is_some()),
                ("protocol", c.protocol.is_some()),
                ("facility", c.facility.is_some()),
                ("url", c.url.is_some()),
                ("key_env", c.key_env.is_some()),
                ("key_file", c.key_file.is_some()),
                ("timeout", c.timeout.is_some()),
            ];
            match given.iter().find(|(k, set)| *set && !allowed.contains(k)) {
                Some((k, _)) => Err(bad(
                    format!("{what}: `{k}` does not apply to a {} export", c.kind),
                    format!("a {} export takes {}", c.kind, allowed.join(", ")),
                )),
                None => Ok(()),
            }
        };
        let destination = match c.kind.as_str() {
            "file" => {
                only(&["path"])?;
                let path = c
                    .path
                    .clone()
                    .ok_or_else(|| bad(format!("{what}: no path"), "set path = \"/var/log/rekey/audit.jsonl\""))?;
                check_file_destination(&what, &path)?;
                Destination::File(path)
            }
            "syslog" => {
                only(&["address", "protocol", "facility", "timeout"])?;
                let address = c
                    .address
                    .clone()
                    .ok_or_else(|| bad(format!("{what}: no address"), "set address = \"HOST:514\""))?;
                if address
                    .rsplit_once(':')
                    .and_then(|(h, p)| (!h.is_empty()).then(|| p.parse::<u16>().ok()).flatten())
                    .is_none()
                {
                    return Err(bad(
                        format!("{what}: address {address:?} is not HOST:PORT"),
                        "use e.g. siem.example.com:514",
                    ));
                }
                let tcp = match c.protocol.as_deref().unwrap_or("udp") {
                    "udp" => false,
                    "tcp" => true,
                    p => return Err(bad(format!("{what}: protocol {p:?}"), "use udp or tcp")),
                };
                let facility_name = c.facility.as_deref().unwrap_or("authpriv");
                let facility =
                    FACILITIES.iter().find(|(n, _)| *n == facility_name).map(|(_, f)| *f).ok_or_else(|| {
                        bad(
                            format!("{what}: {facility_name:?} is not a syslog facility"),
                            format!("use one of {}", FACILITIES.map(|(n, _)| n).join(", ")),
                        )
                    })?;
                let timeout = positive(&format!("{what}.timeout"), c.timeout.unwrap_or(DEFAULT_TIMEOUT))?;
                Destination::Syslog { address, tcp, facility, timeout }
            }
            "webhook" => {
                only(&["url", "key_env", "key_file", "timeout"])?;
                let url = c.url.as_deref().ok_or_else(|| bad(format!("{what}: no url"), "set url = \"https://…\""))?;
                Destination::Webhook(crate::jobs::webhook(
                    &what,
                    url,
                    c.key_env.as_ref(),
                    c.key_file.as_ref(),
                    c.timeout,
                )?)
            }
            k => return Err(bad(format!("{what}: kind {k:?} is not an export kind"), "use file, syslog or webhook")),
        };
        Ok(Self { name: c.name.clone(), destination, classes: c.classes.clone(), interval, batch: c.batch })
    }

    fn wants(&self, r: &AuditRecord) -> bool {
        self.classes.is_empty() || self.classes.iter().any(|c| class_of(&r.entry.action) == c)
    }

    fn cursor(&self) -> String {
        format!("export:{}", self.name)
    }

    /// One round: sends everything after the cursor, batch by batch, advancing the cursor after
    /// each batch is sent. Returns the events sent; 0 when another node holds the export.
    pub async fn round(&self, engine: &Engine) -> Result<u64> {
        let Some(lease) = engine.lease_job(&self.cursor()).await? else { return Ok(0) };
        let result = self.drain(engine).await;
        lease.release().await;
        result
    }

    async fn drain(&self, engine: &Engine) -> Result<u64> {
        let mut sent = 0;
        loop {
            let after = engine.export_cursor(&self.cursor()).await?;
            let page = engine.audit_page(after, self.batch).await?;
            let Some(last) = page.last().map(|r| r.seq) else { return Ok(sent) };
            let chosen: Vec<&AuditRecord> = page.iter().filter(|r| self.wants(r)).collect();
            if !chosen.is_empty() {
                let head = page.last().map(|r| ChainHead { seq: r.seq, hash: r.hash.clone() });
                self.send(&**engine.clock(), &chosen, head.as_ref()).await?;
                sent += chosen.len() as u64;
            }
            engine.set_export_cursor(&self.cursor(), last).await?;
            if (page.len() as i64) < self.batch || engine.stopping() {
                return Ok(sent);
            }
        }
    }

    async fn send(
        &self,
        clock: &dyn rekey_domain::Clock,
        events: &[&AuditRecord],
        head: Option<&ChainHead>,
    ) -> Result<()> {
        let fail = |what: String| rekey_engine::Error::Delivery(format!("export {}: {what}", self.name));
        match &self.destination {
            Destination::File(path) => {
                let mut text = String::new();
                for e in events {
                    text.push_str(&serde_json::to_string(e).map_err(|e| fail(e.to_string()))?);
                    text.push('\n');
                }
                if let Some(h) = head {
                    text.push_str(&serde_json::json!({ "chain_head": h }).to_string());
                    text.push('\n');
                }
                // Never through a link, never a FIFO, never in a directory others may write to.
                let opened = rekey_engine::private_file::SecretDir::of(path, false)
                    .and_then(|(dir, name)| dir.append(&name))
                    .map_err(|e| fail(format!("{e} ({})", e.hint())))?;
                let mut f = tokio::fs::File::from_std(opened);
                let before = f.metadata().await.map_err(|e| fail(format!("reading {}: {e}", path.display())))?.len();
                let written = async {
                    f.write_all(text.as_bytes()).await?;
                    f.sync_data().await
                };
                if let Err(e) = written.await {
                    // No half line stays behind for the retry to append to.
                    let _ = f.set_len(before).await;
                    return Err(fail(format!("writing {}: {e}", path.display())));
                }
                Ok(())
            }
            Destination::Syslog { address, tcp, facility, timeout } => {
                let host = rekey_engine::lease::host();
                let mut messages: Vec<String> = events.iter().map(|e| syslog_message(e, *facility, &host)).collect();
                if let Some(h) = head {
                    messages.push(head_message(h, *facility, &host, clock.now()));
                }
                let io = |e: std::io::Error| fail(format!("syslog {address}: {e}"));
                if *tcp {
                    let mut framed = String::new();
                    for m in &messages {
                        framed.push_str(&format!("{} {m}", m.len()));
                    }
                    let write = async {
                        let mut s = tokio::net::TcpStream::connect(address.as_str()).await?;
                        s.write_all(framed.as_bytes()).await?;
                        s.flush().await?;
                        s.shutdown().await
                    };
                    tokio::time::timeout(*timeout, write)
                        .await
                        .map_err(|_| fail(format!("syslog {address}: no answer within {} ms", timeout.as_millis())))?
                        .map_err(io)
                } else {
                    let send = async {
                        let target = tokio::net::lookup_host(address.as_str())
                            .await?
                            .next()
                            .ok_or_else(|| std::io::Error::other("the name has no address"))?;
                        let bind = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                        let sock = tokio::net::UdpSocket::bind(bind).await?;
                        for (i, m) in messages.iter().enumerate() {
                            if m.len() > MAX_DATAGRAM {
                                // Larger than a UDP datagram: logged and left to the other exports.
                                let seq = events.get(i).map_or(0, |e| e.seq);
                                tracing::warn!(export = %self.name, seq, bytes = m.len(), "audit event too large for syslog over UDP; not sent");
                                continue;
                            }
                            sock.send_to(m.as_bytes(), target).await?;
                        }
                        Ok(())
                    };
                    tokio::time::timeout(*timeout, send)
                        .await
                        .map_err(|_| fail(format!("syslog {address}: not sent within {} ms", timeout.as_millis())))?
                        .map_err(io)
                }
            }
            Destination::Webhook(hook) => {
                let body = serde_json::json!({ "export": self.name, "events": events, "chain_head": head }).to_string();
                let id = format!("export:{}:{}-{}", self.name, events[0].seq, events[events.len() - 1].seq);
                hook.post(clock, &id, body.as_bytes()).await
            }
        }
    }
}

/// The audit chain's head as of a batch's last event: an anchor for `audit verify`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChainHead {
    /// The events in the chain up to it.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
}

/// The syslog message carrying a batch's [`ChainHead`] (MSGID `audit.head`).
fn head_message(h: &ChainHead, facility: u8, host: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let host: String = host.chars().filter(|c| c.is_ascii_graphic()).take(255).collect();
    let body = serde_json::json!({ "chain_head": h });
    format!("<{}>1 {at} {host} rekey - audit.head - {body}", u16::from(facility) * 8 + 6)
}

/// The class of an audit action: `rotation.phase` → `rotation`.
pub fn class_of(action: &str) -> &str {
    action.split('.').next().unwrap_or(action)
}

/// One RFC 5424 message: `<PRI>1 TIMESTAMP HOST rekey - MSGID - JSON`, the event as JSON in
/// the message; severity warning for failed, denied and aborted outcomes, informational else.
pub fn syslog_message(e: &AuditRecord, facility: u8, host: &str) -> String {
    let severity = if e.entry.outcome == AuditOutcome::Ok.as_str() { 6 } else { 4 };
    let printable = |s: &str, max: usize| -> String {
        let v: String = s.chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
        if v.is_empty() {
            "-".into()
        } else {
            v
        }
    };
    format!(
        "<{}>1 {} {} rekey - {} - {}",
        u16::from(facility) * 8 + severity,
        e.entry.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        printable(host, 255),
        printable(&e.entry.action, 32),
        serde_json::to_string(e).unwrap_or_default()
    )
}

/// Runs every export until `stop`.
pub async fn run(engine: Arc<Engine>, exporters: Vec<Exporter>, stats: Arc<ExportStats>, stop: watch::Receiver<bool>) {
    let tasks: Vec<_> = exporters
        .into_iter()
        .map(|x| {
            let (engine, stats, stop) = (engine.clone(), stats.clone(), stop.clone());
            tokio::spawn(async move {
                crate::periodic::every(x.interval, stop, || async {
                    match x.round(&engine).await {
                        Ok(n) => stats.add(&x.name, n, 0),
                        Err(e) => {
                            stats.add(&x.name, 0, 1);
                            tracing::warn!(export = %x.name, error = %e, "audit export failed; retrying next round");
                        }
                    }
                })
                .await;
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Result<Exporter, ConfigError> {
        Exporter::build(&toml::from_str::<ExportConfig>(toml).expect("parses"))
    }

    #[test]
    fn each_kind_takes_its_own_settings() {
        assert!(config("name = \"a\"\nkind = \"file\"\npath = \"/x\"").is_ok());
        assert!(config("name = \"a\"\nkind = \"syslog\"\naddress = \"h:514\"\nprotocol = \"tcp\"").is_ok());
        let e = config("name = \"a\"\nkind = \"file\"\npath = \"/x\"\naddress = \"h:1\"").unwrap_err();
        assert!(e.message.contains("`address` does not apply"), "{e}");
        assert!(config("name = \"a\"\nkind = \"file\"").unwrap_err().message.contains("no path"));
        assert!(config("name = \"a\"\nkind = \"syslog\"\naddress = \"h\"").is_err());
        assert!(config("name = \"a\"\nkind = \"syslog\"\naddress = \"h:1\"\nprotocol = \"sctp\"").is_err());
        assert!(config("name = \"a\"\nkind = \"syslog\"\naddress = \"h:1\"\nfacility = \"kern\"").is_err());
        assert!(config("name = \"a\"\nkind = \"webhook\"\nurl = \"https://h/x\"")
            .unwrap_err()
            .message
            .contains("no signing key"));
        assert!(config("name = \"a\"\nkind = \"webhook\"\nurl = \"https://h/x\"\nkey_env = \"K\"").is_ok());
        assert!(config("name = \"a\"\nkind = \"kafka\"").is_err());
        assert!(config("name = \"a b\"\nkind = \"file\"\npath = \"/x\"").is_err());
        let e = config("name = \"a\"\nkind = \"file\"\npath = \"/x\"\nclasses = [\"rotations\"]").unwrap_err();
        assert!(e.hint.contains("rotation"), "{}", e.hint);
    }

    #[test]
    fn syslog_messages_follow_rfc_5424() {
        let r = AuditRecord {
            seq: 7,
            entry: rekey_store::AuditEntry {
                at: chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00.5Z").unwrap().into(),
                actor: "scheduler".into(),
                action: "rotation.phase".into(),
                target: Some("abcdefgh".into()),
                outcome: AuditOutcome::Aborted.as_str().into(),
                detail: serde_json::json!({}),
            },
            prev_hash: "0".repeat(64),
            hash: "1".repeat(64),
        };
        let m = syslog_message(&r, 10, "node 1");
        // authpriv (10) * 8 + warning (4) = 84
        assert!(m.starts_with("<84>1 2026-11-22T10:00:00.500Z node1 rekey - rotation.phase - {"), "{m}");
        let json: serde_json::Value =
            serde_json::from_str(m.split_once(" - {").map(|(_, j)| format!("{{{j}")).unwrap().as_str()).unwrap();
        assert_eq!(json["seq"], 7);
    }
}
