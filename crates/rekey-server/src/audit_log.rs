//! Group commit of the `api.request` audit events. Each API request is audited before its
//! response goes out, but a write transaction per request (with its fsync, serialised with every
//! other write because it extends the hash chain) made concurrent requests queue on the store.
//! Requests hand their event to one writer task instead, which appends everything that is
//! waiting in a single transaction and then releases each request: the guarantee is unchanged
//! (the event is durable before the response), and a burst costs a few transactions.

use rekey_store::{AuditEntry, JournalWrite, Store};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

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
    pub async fn append(&self, store: &Arc<dyn Store>, entry: AuditEntry) {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run(store.clone(), rx));
            tx
        });
        let (done, committed) = oneshot::channel();
        if queue.send((entry, done)).is_ok() {
            let _ = committed.await;
        }
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let (entries, waiters): (Vec<AuditEntry>, Vec<oneshot::Sender<()>>) = batch.into_iter().unzip();
        let at = entries.last().map(|e| e.at).unwrap_or_default();
        let n = entries.len();
        let w = JournalWrite { at, audit: entries, ..Default::default() };
        if let Err(e) = store.write(&w).await {
            tracing::error!(error = %e, events = n, "could not audit API requests");
        }
        for w in waiters {
            let _ = w.send(());
        }
    }
}
