//! The audit hash chain: each event's hash covers the previous hash and the event itself, so
//! changing, removing or reordering any stored event breaks every link after it.
//!
//! Links are HMAC-SHA256 under a key derived from the vault key ([`keyed_event_hash`]), so
//! rewriting events and re-linking the rest needs the master key. Vaults written before keyed
//! links keep their plain SHA-256 links ([`event_hash`]) up to the upgrade marker (the header's
//! `audit_keyed_from`, itself covered by the key check). What keys cannot show (the newest
//! events deleted) the head and count anchored outside the database show ([`Verifier::head`]).

use crate::model::{AuditEntry, AuditRecord};
use rekey_crypto::MacKey;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The plain (unkeyed) hash of event `seq` with content `entry`, following `prev_hash`: the
/// links of events written before the chain was keyed.
pub fn event_hash(prev_hash: &str, seq: i64, entry: &AuditEntry) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(body(seq, entry).as_bytes());
    hex::encode(h.finalize())
}

/// The keyed link of event `seq`: HMAC-SHA256 of `prev_hash` and the event under `key`.
pub fn keyed_event_hash(key: &MacKey, prev_hash: &str, seq: i64, entry: &AuditEntry) -> String {
    key.sign(&[b"rekey audit v2", prev_hash.as_bytes(), body(seq, entry).as_bytes()])
}

fn body(seq: i64, entry: &AuditEntry) -> String {
    // serde_json maps are sorted by key, so this serialisation is canonical.
    serde_json::json!({
        "seq": seq,
        "at": entry.at.timestamp_millis(),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "outcome": entry.outcome,
        "detail": entry.detail,
    })
    .to_string()
}

/// Checks events one by one, in `seq` order, from the first.
#[derive(Debug, Clone)]
pub struct Verifier {
    prev: String,
    next_seq: i64,
    key: MacKey,
    keyed_from: i64,
}

impl Verifier {
    /// A verifier of a chain whose links are keyed under `key` from event `keyed_from` on.
    pub fn new(key: &MacKey, keyed_from: i64) -> Self {
        Self { prev: GENESIS.to_owned(), next_seq: 1, key: key.clone(), keyed_from }
    }

    /// Whether `e` is the next intact link of the chain.
    pub fn check(&mut self, e: &AuditRecord) -> bool {
        let link = if e.seq >= self.keyed_from {
            keyed_event_hash(&self.key, &self.prev, e.seq, &e.entry)
        } else {
            event_hash(&self.prev, e.seq, &e.entry)
        };
        let ok = e.seq == self.next_seq && e.prev_hash == self.prev && link == e.hash;
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

    /// How many events verified so far.
    pub fn count(&self) -> i64 {
        self.next_seq - 1
    }
}

/// The first event whose link is broken, if any (events in `seq` order, from the first; links
/// keyed under `key` from `keyed_from` on).
pub fn first_broken(events: &[AuditRecord], key: &MacKey, keyed_from: i64) -> Option<i64> {
    let mut v = Verifier::new(key, keyed_from);
    events.iter().find(|e| !v.check(e)).map(|e| e.seq)
}
