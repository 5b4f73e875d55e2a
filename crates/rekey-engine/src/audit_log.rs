//! Reading the audit log and appending to it outside a use case: pages in chain order for the
//! API, the CLI and the SIEM export, and batches of events the server groups into one
//! transaction. The readers that walk the log (exports, notifications) keep their place in named
//! cursors stored in the vault, so a restarted or different node resumes where the last stopped.

use crate::{Engine, Result};
use chrono::{DateTime, Utc};
use rekey_store::{AuditEntry, AuditRecord, JournalWrite};

impl Engine {
    /// Events with `seq > after`, in chain order, at most `limit`.
    pub async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>> {
        Ok(self.store.audit_page(after, limit).await?)
    }

    /// Events at or after `since`, in chain order, at most `limit`.
    pub async fn audit_events(&self, since: Option<DateTime<Utc>>, limit: i64) -> Result<Vec<AuditRecord>> {
        Ok(self.store.audit_events(since, limit).await?)
    }

    /// The newest event's sequence number (0 for an empty log).
    pub async fn audit_head(&self) -> Result<i64> {
        Ok(self.store.audit_head().await?)
    }

    /// Appends `entries` to the audit log in one transaction (the chain grows by all of them or
    /// by none).
    pub async fn append_audit(&self, entries: Vec<AuditEntry>) -> Result<()> {
        let at = entries.last().map(|e| e.at).unwrap_or_else(|| self.clock.now());
        Ok(self.store.write(&JournalWrite { at, audit: entries, ..Default::default() }).await?)
    }

    /// Where the reader `name` stopped (the last sequence number it handled; 0 if it never ran).
    pub async fn export_cursor(&self, name: &str) -> Result<i64> {
        Ok(self.store.export_cursor(name).await?)
    }

    /// Records that the reader `name` handled every event up to `seq`.
    pub async fn set_export_cursor(&self, name: &str, seq: i64) -> Result<()> {
        Ok(self.store.set_export_cursor(name, seq).await?)
    }
}
