//! Refusing what failed its integrity check (see [`rekey_store::barrier`]): an account the
//! store handed out flagged, or whose row a single read refused. Nothing is done with it; the
//! refusal is audited as `integrity` and reported, and the other accounts of a run go on.

use crate::{Engine, Error, Result};
use rekey_store::{Account, StoreError};

impl Engine {
    /// `Integrity` (audited) if `account` failed its integrity check.
    pub(crate) async fn refuse_tampered(&self, account: &Account) -> Result<()> {
        let Some(why) = &account.tampered else { return Ok(()) };
        let e = Error::Integrity {
            message: format!(
                "account {} failed its integrity check ({why}): it was altered outside rekey, and rekey does nothing \
                 with it",
                account.id
            ),
        };
        self.audit_integrity(account.id.as_str(), &e).await;
        Err(e)
    }

    /// Audits a refusal of `target` for failing its integrity check (best effort).
    pub(crate) async fn audit_integrity(&self, target: &str, err: &Error) {
        self.audit_failure("integrity", Some(target), err).await;
    }

    /// Audits `e` when it is an integrity failure of a store read; hands it back.
    pub(crate) async fn audited(&self, target: &str, e: StoreError) -> Error {
        let e = Error::from(e);
        if matches!(e, Error::Store(StoreError::Tampered { .. })) {
            self.audit_integrity(target, &e).await;
        }
        e
    }
}
