//! Which API requests are audited ([`AuditConfig`]), and group commit of the `api.request`
//! audit events.
//!
//! What is always audited: every request that is not a plain read (a reveal, a check-out or
//! check-in, a rotation, a settings change: each is a POST or PATCH, and the engine audits the
//! change itself too), and every request refused for its token (401, 403). A plain read (GET)
//! that was answered is audited only with `[audit] reads = "all"`: by default a dashboard
//! polling the API does not grow the audit log (and the vault) by an event per request.
//!
//! Group commit: Each API request is audited before its
//! response goes out, but a write transaction per request (with its fsync, serialised with every
//! other write because it extends the hash chain) made concurrent requests queue on the store.
//! Requests hand their event to one writer task instead, which appends everything that is
//! waiting in a single transaction and then releases each request: the guarantee is unchanged
//! (the event is durable before the response), and a burst costs a few transactions.

use rekey_engine::Engine;
use rekey_store::AuditEntry;
use serde::Deserialize;
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// `[audit]`: which API requests are written to the audit log.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// `none` (default): answered reads are not audited; `all`: every request is
    /// (`REKEY_AUDIT_READS`).
    pub reads: ReadAudit,
}

/// Whether answered reads are audited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadAudit {
    /// Only what is not a plain read, and refusals.
    #[default]
    None,
    /// Every request.
    All,
}

impl AuditConfig {
    /// Whether a request with `method` answered with `status` is written to the audit log.
    pub fn audits(&self, method: &axum::http::Method, status: u16) -> bool {
        let read = method == axum::http::Method::GET || method == axum::http::Method::HEAD;
        !read || self.reads == ReadAudit::All || status == 401 || status == 403
    }
}

/// Events appended per transaction at most.
const MAX_BATCH: usize = 512;

type Pending = (AuditEntry, oneshot::Sender<()>);

/// The writer's queue (started on first use, inside the runtime).
#[derive(Debug, Default)]
pub struct AuditWriter {
    queue: OnceLock<mpsc::UnboundedSender<Pending>>,
}

impl AuditWriter {
    /// Appends `entry` to the audit log, together with whatever else is waiting; returns once
    /// it is committed (or its failure logged).
    pub async fn append(&self, engine: &Arc<Engine>, entry: AuditEntry) {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run(engine.clone(), rx));
            tx
        });
        let (done, committed) = oneshot::channel();
        if queue.send((entry, done)).is_ok() {
            let _ = committed.await;
        }
    }
}

async fn run(engine: Arc<Engine>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let (entries, waiters): (Vec<AuditEntry>, Vec<oneshot::Sender<()>>) = batch.into_iter().unzip();
        let n = entries.len();
        if let Err(e) = engine.append_audit(entries).await {
            tracing::error!(error = %e, events = n, "could not audit API requests");
        }
        for w in waiters {
            let _ = w.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn reads_are_audited_when_refused_or_asked_for() {
        let default = AuditConfig::default();
        assert!(!default.audits(&Method::GET, 200) && !default.audits(&Method::GET, 404));
        assert!(default.audits(&Method::GET, 403) && default.audits(&Method::GET, 401));
        assert!(default.audits(&Method::POST, 200) && default.audits(&Method::PATCH, 400));
        let all = AuditConfig { reads: ReadAudit::All };
        assert!(all.audits(&Method::GET, 200));
    }
}
