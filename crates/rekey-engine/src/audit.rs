//! Audit log verification: walks the hash chain from the first event and reports the first
//! link that does not hold (an event changed, removed or reordered).

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
    /// The head hash (of the last event).
    pub head: String,
}

impl Engine {
    /// Verifies the whole chain; `Integrity` naming the first broken event if it does not hold.
    pub async fn verify_audit(&self) -> Result<ChainReport> {
        const PAGE: i64 = 5_000;
        let mut v = Verifier::default();
        let mut after = 0;
        let mut events = 0;
        loop {
            let page = self.store.audit_page(after, PAGE).await?;
            for e in &page {
                if !v.check(e) {
                    return Err(Error::Integrity {
                        message: format!(
                            "the audit chain is broken at event {} (after {events} intact events): \
                             an event was altered, removed or reordered",
                            e.seq
                        ),
                    });
                }
                events += 1;
            }
            match page.last() {
                Some(last) if page.len() == usize::try_from(PAGE).unwrap_or(usize::MAX) => after = last.seq,
                _ => break,
            }
        }
        Ok(ChainReport { status: "intact", events, head: v.head().to_owned() })
    }
}
