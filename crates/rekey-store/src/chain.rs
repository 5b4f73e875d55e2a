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

/// The first event whose link is broken, if any (events in `seq` order).
pub fn first_broken(events: &[AuditRecord]) -> Option<i64> {
    let mut prev = GENESIS.to_owned();
    for (i, e) in events.iter().enumerate() {
        let expected_seq = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        if e.seq != expected_seq || e.prev_hash != prev || event_hash(&prev, e.seq, &e.entry) != e.hash {
            return Some(e.seq);
        }
        prev.clone_from(&e.hash);
    }
    None
}
