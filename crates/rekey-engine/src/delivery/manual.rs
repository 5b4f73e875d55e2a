//! The manual target: an operator enters the new key where it is used (a SaaS console) and
//! confirms with `rekey rotation confirm ID` or the API. There is nothing to call: the rotation
//! machine, on reaching this target, journals that it waits for the confirmation (see
//! `rotate::access_key`) and releases the lease; the sink below only describes the target.

use super::{Delivery, Sink};
use crate::{Error, Result};
use async_trait::async_trait;
use rekey_domain::targets::ManualTarget;

/// A manual target.
#[derive(Debug, Clone)]
pub struct Manual(pub ManualTarget);

#[async_trait]
impl Sink for Manual {
    fn describe(&self) -> String {
        format!("manual ({})", self.0.instructions)
    }

    async fn deliver(&self, _d: &Delivery<'_>) -> Result<()> {
        // Never called by the machine: a person delivers, and says so.
        Err(Error::Internal("a manual target is confirmed by an operator, not delivered".into()))
    }
}
