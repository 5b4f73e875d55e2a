//! The access-key machine's writes of its account's ownership tag (see [`crate::ownership`]):
//! the `creating` mark before a create, the tag naming the new key after it is sealed, and the
//! mark's removal when the rotation aborts.

use super::Run;
use crate::ownership;
use crate::Result;
use rekey_domain::Phase;
use rekey_store::JournalWrite;

impl Run<'_> {
    /// Marks the new key as this vault's: one `TagUser` writes this account's tag with the new
    /// key first and the keys pre-flight kept (see [`ownership`]); then legacy tags this tag
    /// replaces go (only the first rotation after an upgrade has any).
    pub(super) async fn tag_new_key(&mut self) -> Result<()> {
        let user = self.user();
        let new = ownership::Entry::rotation(self.rot.new_key_id.as_deref().unwrap_or_default(), &self.rot.id);
        let key = ownership::tag_key(self.engine.vault_id().as_str(), self.account.id.as_str());
        let value = ownership::with_new(new, self.facts.tag_kept.as_deref().unwrap_or_default());
        // Tagged and about to verify are one durable write: verification has no side
        // effect to announce (`tagged` is only resumed from journals that hold it). Abandoned
        // (the lease could not be renewed), the phase stays `created` and whoever resumes
        // writes the same tag again.
        match self.act("TagUser", self.iam.tag_user(&user, &[(key, value)])).await? {
            Ok(()) => {}
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => return self.start_abort(format!("tagging the user failed: {e}")).await,
        }
        let legacy = std::mem::take(&mut self.facts.legacy_untag);
        self.untag_best_effort(&user, &legacy).await;
        self.journal(Phase::Verifying, JournalWrite::default()).await
    }

    /// Marks the user with this rotation's `creating` item, before any of its creates is sent:
    /// a key it makes is never in IAM without a tag that names it or the rotation making it,
    /// so an import (or another rotation's sweep) that lists the keys and then reads the tags
    /// cannot take it for nobody's (see [`ownership`]). Written again whenever the create phase
    /// is (re)entered: the value is the same.
    pub(super) async fn mark_creating(&mut self) -> Result<()> {
        let user = self.user();
        let key = ownership::tag_key(self.engine.vault_id().as_str(), self.account.id.as_str());
        let value = ownership::creating(
            &ownership::Origin::Rotation(self.rot.id.clone()),
            self.facts.tag_kept.as_deref().unwrap_or_default(),
        );
        // Abandoned (the lease could not be renewed), the phase stays `create_requested`:
        // whoever resumes sweeps with the tag as it then is, and writes the mark again.
        match self.act("TagUser", self.iam.tag_user(&user, &[(key, value)])).await? {
            Ok(()) => Ok(()),
            Err(e) if e.is_retryable() => Err(e.into()),
            Err(e) => {
                self.aborted(format!("marking the user before the create failed: {e}"), JournalWrite::default()).await
            }
        }
    }

    /// Takes this rotation's `creating` item out of this account's tag as IAM has it now,
    /// keeping every entry (best effort: a later rotation of the account rewrites the value).
    pub(super) async fn clear_creating(&self) {
        let user = self.user();
        let key = ownership::tag_key(self.engine.vault_id().as_str(), self.account.id.as_str());
        let by = ownership::Origin::Rotation(self.rot.id.clone());
        let tags = match self.iam.list_user_tags(&user).await {
            Ok(t) => t,
            Err(e) => return tracing::warn!(user, error = %e, "could not read the tags to clear a creating mark"),
        };
        let Some(value) = tags.iter().find(|(k, _)| *k == key).and_then(|(_, v)| ownership::without_creating(v, &by))
        else {
            return;
        };
        // Abandoned (the lease could not be renewed), the item may stay: as when this fails.
        let done = if value.is_empty() {
            self.act("UntagUser", self.iam.untag_user(&user, &[key])).await
        } else {
            self.act("TagUser", self.iam.tag_user(&user, &[(key, value)])).await
        };
        if let Ok(Err(e)) = done {
            tracing::warn!(user, error = %e, "could not clear the ownership tag's creating mark");
        }
    }

    /// Removes legacy ownership tags; a failure only warns (the next rotation tries again).
    pub(super) async fn untag_best_effort(&self, user: &str, keys: &[String]) {
        for chunk in keys.chunks(50) {
            match self.act("UntagUser", self.iam.untag_user(user, chunk)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(user, error = %e, "could not remove legacy ownership tags"),
                Err(_) => return,
            }
        }
    }
}
