//! The rotations the vault has journaled, as the front ends list and show them.

use crate::{Engine, Result};
use rekey_domain::AccountId;
use rekey_store::Rotation;

impl Engine {
    /// One rotation, with its phases. An unknown id is `NotFound` with the same hint as an
    /// account the caller may not see, so the API can answer both alike.
    pub async fn rotation(&self, id: &str) -> Result<Rotation> {
        Ok(self.store.rotation(id).await?)
    }

    /// Rotations, newest first: of one account or all; only unfinished ones if `open_only`.
    pub async fn rotations(&self, account: Option<&AccountId>, open_only: bool, limit: i64) -> Result<Vec<Rotation>> {
        Ok(self.store.rotations(account, open_only, limit).await?)
    }
}
