//! Audit log verification: walks the chain from the first event and reports the first link
//! that does not hold (an event changed, removed or reordered), then compares the head and
//! count with the anchors the operator kept outside the database (a deleted tail leaves an
//! intact chain: only an anchor shows it).
//!
//! Links from the header's `audit_keyed_from` on are HMACs under a vault-derived key, so
//! re-linking edited events needs the master key; the marker itself is covered by the header's
//! key check, checked again here.

use crate::{Engine, Error, Result};
use rekey_store::chain::Verifier;
use serde::Serialize;

/// The result of a verification pass.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    /// `intact` (a broken chain is an error instead).
    pub status: &'static str,
    /// Events checked.
    pub events: i64,
    /// The head hash (of the last event): with `events`, the anchor to keep outside the
    /// database and pass to `rekey audit verify --expect-head/--expect-count` later.
    pub head: String,
    /// The first event whose link is keyed (events before it predate keyed links).
    pub keyed_from: i64,
}

/// What the chain must end with: anchors kept outside the database.
#[derive(Debug, Clone, Default)]
pub struct Anchor {
    /// The head hash recorded earlier (the chain may have grown since: then the event that had
    /// it must still be in the chain, at its place).
    pub head: Option<String>,
    /// The number of events recorded earlier: the chain must have at least as many.
    pub count: Option<i64>,
}

impl Engine {
    /// Verifies the whole chain; `Integrity` naming the first broken event if it does not hold.
    pub async fn verify_audit(&self) -> Result<ChainReport> {
        self.verify_audit_against(&Anchor::default()).await
    }

    /// Verifies the chain and that it still holds `anchor`'s head and count.
    pub async fn verify_audit_against(&self, anchor: &Anchor) -> Result<ChainReport> {
        const PAGE: i64 = 5_000;
        let keyed_from = self.audit_keyed_from().await?;
        let barrier = self.barrier();
        let mut v = Verifier::new(barrier.audit_key(), keyed_from);
        let mut after = 0;
        let mut head_seen = false;
        loop {
            let page = self.store.audit_page(after, PAGE).await?;
            for e in &page {
                if !v.check(e) {
                    return Err(Error::Integrity {
                        message: format!(
                            "the audit chain is broken at event {} (after {} intact events): \
                             an event was altered, removed or reordered",
                            e.seq,
                            v.count()
                        ),
                    });
                }
                head_seen |= anchor.head.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(&e.hash));
            }
            match page.last() {
                Some(last) if page.len() == usize::try_from(PAGE).unwrap_or(usize::MAX) => after = last.seq,
                _ => break,
            }
        }
        let report = ChainReport { status: "intact", events: v.count(), head: v.head().to_owned(), keyed_from };
        if let Some(n) = anchor.count.filter(|n| report.events < *n) {
            return Err(Error::Integrity {
                message: format!(
                    "the audit chain holds {} events, fewer than the {n} expected: its newest events were removed",
                    report.events
                ),
            });
        }
        if let Some(h) = anchor.head.as_ref().filter(|_| !head_seen) {
            return Err(Error::Integrity {
                message: format!(
                    "no event of the audit chain (head {} after {} events) has the expected hash {h}: the events up to \
                     it were removed or rewritten",
                    report.head, report.events
                ),
            });
        }
        Ok(report)
    }

    /// The first keyed event, from the header, whose key check must still hold.
    async fn audit_keyed_from(&self) -> Result<i64> {
        let h = crate::vault::header(self.store.as_ref()).await?;
        match (&h.key_check, h.audit_keyed_from) {
            (Some(check), Some(from)) if self.barrier().verify_key_check(h.vault_id.as_str(), from, check) => Ok(from),
            _ => Err(crate::vault::key_check_failed(&h)),
        }
    }
}
