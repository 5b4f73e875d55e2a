//! The audit hash chain: each event's hash covers the previous hash and the event itself, so
//! changing, removing or reordering any stored event breaks every link after it.

use crate::model::{AuditEntry, AuditRecord};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of event `seq` with content `entry`, following `prev_hash`.
pub fn event_hash(prev_hash: &str, seq: i64, entry: &AuditEntry) -> String {
    // serde_json maps are sorted by key, so this serialisation is canonical.
    let body = serde_json::json!({
        "seq": seq,
        "at": entry.at.timestamp_millis(),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "outcome": entry.outcome,
        "detail": entry.detail,
    });
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(body.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Checks events one by one, in `seq` order, from the first.
#[derive(Debug, Clone)]
pub struct Verifier {
    prev: String,
    next_seq: i64,
}

impl Default for Verifier {
    fn default() -> Self {
        Self { prev: GENESIS.to_owned(), next_seq: 1 }
    }
}

impl Verifier {
    /// Whether `e` is the next intact link of the chain.
    pub fn check(&mut self, e: &AuditRecord) -> bool {
        let ok =
            e.seq == self.next_seq && e.prev_hash == self.prev && event_hash(&self.prev, e.seq, &e.entry) == e.hash;
        if ok {
            self.prev.clone_from(&e.hash);
            self.next_seq += 1;
        }
        ok
    }

    /// The hash of the last intact event (the chain's head so far).
    pub fn head(&self) -> &str {
        &self.prev
    }
}

/// The first event whose link is broken, if any (events in `seq` order, from the first).
pub fn first_broken(events: &[AuditRecord]) -> Option<i64> {
    let mut v = Verifier::default();
    events.iter().find(|e| !v.check(e)).map(|e| e.seq)
}
