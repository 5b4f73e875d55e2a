//! The access-key state machine: pre-flight and slot check by ownership, create
//! (secret sealed at once), tag, verify, deliver, commit, then staged retirement of the
//! previous key. Every step re-reads IAM and can be repeated after a crash.

use super::{Run, Step, UserCheck};
use crate::ownership::{self, Freed, Knowledge};
use crate::{delivery, failpoint::crash_point, Error, Result};
use rekey_aws::{AwsError, AwsErrorClass, IamUser};
use rekey_domain::{Phase, PreviousKeyPolicy, SecretState};
use rekey_store::{JournalWrite, Origin, ProviderAuth};
use std::time::{Duration, Instant};

fn gone_is_fine(r: Result<(), AwsError>) -> Result<(), AwsError> {
    match r {
        Err(e) if e.class == AwsErrorClass::NotFound => Ok(()),
        other => other,
    }
}

impl Run<'_> {
    pub(super) fn user(&self) -> String {
        self.account.user_name.to_string()
    }

    /// What the vault knows of the user's keys, with the tags `GetUser` brought along.
    async fn knowledge(&self, user: &IamUser) -> Result<Knowledge> {
        let tags = self.iam.tags_of(user).await?;
        self.engine.ownership_knowledge(&self.account, tags).await
    }

    pub(super) async fn access_key_step(&mut self) -> Result<Step> {
        match self.rot.phase {
            Phase::Planned => self.journal(Phase::Preflight, JournalWrite::default()).await?,
            Phase::Preflight => self.preflight().await?,
            Phase::CreateRequested => self.create().await?,
            Phase::Created => self.tag_new_key().await?,
            Phase::Tagged => self.journal(Phase::Verifying, JournalWrite::default()).await?,
            Phase::Verifying => self.verify().await?,
            Phase::Delivering => return self.deliver().await,
            Phase::Committed => self.plan_retirement().await?,
            Phase::Retiring => return self.deactivate_previous().await,
            Phase::Deactivated => return self.delete_previous().await,
            Phase::Aborting => self.abort().await?,
            other => return Err(Error::Internal(format!("phase {other} is not part of the access-key machine"))),
        }
        Ok(Step::Next)
    }

    async fn preflight(&mut self) -> Result<()> {
        let user = self.user();
        let iam_user = match self.checked_user().await? {
            UserCheck::Present(u) => u,
            UserCheck::Gone(why) => return self.aborted(why, JournalWrite::default()).await,
        };
        // A target that cannot work (a webhook whose signing key is missing) would abort the
        // rotation after the key was created: refuse before.
        for t in &self.settings.targets {
            let sink = delivery::sink_for(t);
            if let Err(e) = sink.ready() {
                let why = format!("delivery to {} cannot work: {e}", sink.describe());
                return self.aborted(why, JournalWrite::default()).await;
            }
        }
        let keys = self.iam.list_access_keys(&user).await?;
        let knowledge = self.knowledge(&iam_user).await?;
        let current = self.account.current_key_id.clone();
        // The provider signs with this very key: the rotation switches the provider at commit.
        self.facts.self_rotation = matches!(&self.provider.auth, ProviderAuth::StaticKey { access_key_id }
            if Some(access_key_id) == current.as_ref());
        if let Some(why) = knowledge.current_held_elsewhere() {
            return self.aborted(why, JournalWrite::default()).await;
        }
        let classified = knowledge.classify(&keys);
        let slot = ownership::free_slot(&user, &classified, self.opts.reclaim_foreign);
        self.facts.foreign = slot.foreign.iter().map(|(k, f)| format!("{k}: {f}; left alone")).collect();
        let mut extra = JournalWrite::default();
        let mut deleted = Vec::new();
        if let Some(why) = slot.refused {
            return self.aborted(why, extra).await;
        }
        if let Some((k, freed)) = &slot.free {
            gone_is_fine(self.act("DeleteAccessKey", self.iam.delete_access_key(&user, k)).await?)?;
            deleted.push(k.clone());
            match freed {
                Freed::Ours(v) => {
                    extra.secret_states.push((self.account.id.to_string(), *v, SecretState::Retired));
                    self.facts.reclaimed.push(format!("{k} (previous key of an earlier rotation)"));
                }
                Freed::Reclaimed(f) => {
                    self.facts.foreign.retain(|n| !n.starts_with(k.as_str()));
                    self.facts.reclaimed.push(format!("{k} (inactive foreign key, {f}; --reclaim-foreign)"));
                }
            }
        }
        let remaining: Vec<String> = keys.iter().map(|k| k.id.clone()).filter(|k| !deleted.contains(k)).collect();
        // Entries of keys still in IAM stay, this account's and those its tag names although this
        // vault does not hold them (a later state's, after a restore): the tag keeps saying so.
        self.facts.tag_kept = Some(ownership::render(&knowledge.entries_for(&remaining)));
        self.facts.legacy_untag = knowledge.legacy_to_remove(&remaining);
        self.facts.keys_before = remaining;
        self.facts.create_requested_at = Some(self.engine.clock.now());
        self.facts.attempts_journaled = true;
        self.journal(Phase::CreateRequested, extra).await?;
        self.keys_just_listed = true;
        Ok(())
    }

    /// Deletes the keys an interrupted or failed CreateAccessKey of this phase left behind: not
    /// there at pre-flight, unknown to the vault, untagged, created about when one of its
    /// attempts was made ([`Knowledge::after_create`], [`made_by_an_attempt`]). Their secrets
    /// are lost, so they go. A key made at another time — by a person, by another vault while
    /// this rotation waited — is not this rotation's and stays.
    pub(super) async fn sweep_create_orphans(&mut self, user: &str) -> Result<()> {
        // Keys first, then tags: another rotation's key in this listing has its `creating`
        // mark or its tag entry in the tags read after (see [`ownership`]).
        let keys = self.iam.list_access_keys(user).await?;
        let iam_user = self.iam.get_user(user).await?;
        let knowledge = self.knowledge(&iam_user).await?;
        let attempts: Vec<_> =
            self.facts.create_requested_at.iter().chain(&self.facts.create_attempts).copied().collect();
        let mut remaining = Vec::new();
        for k in keys {
            let ours = made_by_an_attempt(k.created, &attempts, !self.facts.attempts_journaled);
            let owner = knowledge.after_create(&k.id, &self.facts.keys_before, ours, &self.rot.id);
            if matches!(owner, ownership::Owner::Orphan(_)) {
                gone_is_fine(self.act("DeleteAccessKey", self.iam.delete_access_key(user, &k.id)).await?)?;
                self.facts.reclaimed.push(format!("{} (orphan of an interrupted create)", k.id));
            } else {
                remaining.push(k.id);
            }
        }
        // What the tag says now, read anyway: a resumed rotation (after a restore, a state this
        // vault does not have may have tagged keys since the pre-flight) keeps those entries.
        self.facts.tag_kept = Some(ownership::render(&knowledge.entries_for(&remaining)));
        Ok(())
    }

    async fn create(&mut self) -> Result<()> {
        let user = self.user();
        // CreateAccessKey is not idempotent: an attempt whose answer was lost (a reset, a
        // timeout) may still have created a key, and a blind retry creates a second one — or
        // fails with LimitExceeded — leaving the first in IAM with nobody holding its secret.
        // So the SDK makes one attempt per call, and this loop retries, sweeping before every
        // attempt the key a failed one may have left — and before the first one too, unless
        // this process's pre-flight listed the keys just now (after a crash or an interrupted
        // run, a create of an earlier attempt may have landed).
        let (create_iam, attempts) = self.single_attempt_iam().await;
        let mut backoff = Duration::from_millis(200);
        let mut attempt = 1;
        let (meta, secret) = loop {
            let journaled = attempt > 1 || !std::mem::take(&mut self.keys_just_listed);
            if journaled {
                self.sweep_create_orphans(&user).await?;
                // Not the attempt right after `create_requested` was journaled: its time is
                // journaled first, so that a later sweep knows when its key may have been made.
                self.facts.create_attempts.push(self.engine.clock.now());
                self.journal(Phase::CreateRequested, JournalWrite::default()).await?;
            }
            if attempt == 1 {
                // After the sweep (or pre-flight), which read this account's tag as it is now:
                // the mark keeps every entry it had.
                self.mark_creating().await?;
                if self.rot.phase != Phase::CreateRequested {
                    return Ok(());
                }
            }
            // Abandoned (the lease could not be renewed), the attempt's outcome is unknown like
            // a lost answer's: its time is journaled, and whoever resumes sweeps first.
            match self.act("CreateAccessKey", create_iam.create_access_key(&user)).await? {
                Ok(k) => break k,
                Err(e) if e.is_retryable() && attempt < attempts => {
                    tracing::warn!(attempt, error = %e, "CreateAccessKey failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
                Err(e) if e.is_retryable() => return Err(e.into()),
                Err(e) => {
                    // IAM answered: this attempt made no key, and its time is no window for a
                    // later sweep (a key someone makes then is not this rotation's).
                    if journaled {
                        self.facts.create_attempts.pop();
                    }
                    // An attempt whose outcome is unknown, made minutes ago, may have made a key
                    // the listing does not show yet (hence this LimitExceeded): the phase stays,
                    // and the next recovery sweeps again. Past that, the refusal stands.
                    // (Not journaled apart, this was the attempt made at `create_requested`.)
                    let now = self.engine.clock.now();
                    let first = self.facts.create_requested_at.filter(|_| journaled);
                    let mut unknown = first.iter().chain(&self.facts.create_attempts);
                    if unknown.any(|t| now - *t < chrono::Duration::minutes(10)) {
                        self.journal(Phase::CreateRequested, JournalWrite::default()).await?;
                        return Err(e.into());
                    }
                    self.clear_creating().await;
                    return self.aborted(format!("CreateAccessKey failed: {e}"), JournalWrite::default()).await;
                }
            }
        };
        crash_point("access-key:after-create-call");
        let version = self.next_version(self.account.id.as_str()).await?;
        let sealed = self.engine.seal_version(
            self.account.id.as_str(),
            version,
            SecretState::Pending,
            Some(meta.id.clone()),
            Origin::Created,
            &secret,
        );
        self.rot.new_key_id = Some(meta.id.clone());
        self.rot.new_version = Some(version);
        self.facts.created_at = Some(self.engine.clock.now());
        let stored =
            self.journal(Phase::Created, JournalWrite { new_secrets: vec![sealed], ..Default::default() }).await;
        if let Err(e) = stored {
            // The secret could not be stored: nobody may keep a key whose secret is lost. Under
            // the lease like every call: a worker that lost it (or gave the call up) leaves the
            // key to whoever resumes from `create_requested`, whose sweep deletes it.
            match self.act("DeleteAccessKey", self.iam.delete_access_key(&user, &meta.id)).await {
                Ok(deleted) => {
                    if let Err(del) = gone_is_fine(deleted) {
                        tracing::error!(key_id = %meta.id, error = %del,
                            "could not delete a key whose secret was not stored; the next recovery sweeps it");
                    }
                }
                Err(not_made) => tracing::warn!(key_id = %meta.id, error = %not_made,
                    "did not delete a key whose secret was not stored; whoever resumes the rotation sweeps it"),
            }
            return Err(e);
        }
        Ok(())
    }

    pub(super) async fn next_version(&self, record: &str) -> Result<i64> {
        let versions = self.engine.store.secret_versions(record).await?;
        Ok(versions.iter().map(|v| v.version).max().unwrap_or(0) + 1)
    }

    pub(super) async fn start_abort(&mut self, why: String) -> Result<()> {
        self.rot.error = Some(why);
        self.journal(Phase::Aborting, JournalWrite::default()).await
    }

    pub(super) async fn pending_secret(&self) -> Result<rekey_crypto::Secret> {
        let version = self.rot.new_version.ok_or_else(|| Error::Internal("rotation without a new version".into()))?;
        let versions = self.engine.store.secret_versions(self.account.id.as_str()).await?;
        let v = versions
            .iter()
            .find(|v| v.version == version)
            .ok_or_else(|| Error::Integrity { message: format!("rotation {} lost its new secret", self.rot.id) })?;
        self.engine.open_version(v)
    }

    /// Polls the new key until it has authenticated `verify.successes` times in a row (see
    /// [`poll`]), as a wait that holds no calling slot; records how long IAM took to make it
    /// work; aborts if it never does, or authenticates as someone else.
    async fn verify(&mut self) -> Result<()> {
        let key_id = self.rot.new_key_id.clone().unwrap_or_default();
        let mut conn = self.conn.with_key(&key_id, self.pending_secret().await?);
        conn.max_attempts = 1;
        let sts = self.engine.aws.sts(&conn).await;
        let arn = self.account.arn.to_string();
        self.lease.progress();
        let polled = crate::batch::waiting(poll(&*sts, &self.settings.verify, &arn, &*self.engine.clock)).await;
        match polled {
            Polled::Verified { first_success } => {
                if let Some(created) = self.facts.created_at {
                    let took = (first_success - created).to_std().unwrap_or_default();
                    self.facts.propagation_ms = Some(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
                    crate::stats::record_propagation(took);
                }
            }
            Polled::Elsewhere(other) => {
                return self.start_abort(format!("the new key authenticates as {other}, not {arn}")).await;
            }
            Polled::TimedOut(last_error) => {
                let ms = self.settings.verify.deadline_ms;
                return self.start_abort(format!("the new key did not verify within {ms} ms: {last_error}")).await;
            }
        }
        if self.settings.targets.is_empty() {
            // Nothing to deliver, so nothing to announce: commit.
            return self.commit().await;
        }
        self.journal(Phase::Delivering, JournalWrite::default()).await
    }

    /// Delivers to every target not yet acknowledged — automated targets first, then a manual
    /// one, which waits for an operator's confirmation (see `confirm.rs`) — then commits.
    async fn deliver(&mut self) -> Result<Step> {
        let targets = self.settings.targets.clone();
        let (manual, automated): (Vec<usize>, Vec<usize>) =
            (0..targets.len()).partition(|i| matches!(targets[*i], rekey_domain::Target::Manual(_)));
        let pending: Vec<usize> = automated.into_iter().filter(|i| !self.facts.acks.contains(i)).collect();
        if !pending.is_empty() {
            let secret = self.pending_secret().await?;
            for i in pending {
                let t = &targets[i];
                let s = delivery::sink_for(t);
                let value = delivery::value_for(t, &secret);
                let account = super::reference(&self.account);
                let d = delivery::Delivery {
                    account: &account,
                    old_key_id: self.rot.old_key_id.as_deref(),
                    rotation_id: &self.rot.id,
                    conn: &self.conn,
                    key_id: self.rot.new_key_id.as_deref(),
                    secret: &value,
                    clock: &*self.engine.clock,
                };
                // Abandoned, the target may hold the new key or part of it: the phase stays, and
                // whoever resumes delivers to it again (deliveries overwrite).
                if let Err(e) = self.act(&format!("delivery to {}", s.describe()), s.deliver(&d)).await? {
                    // It may hold part of the new key (a write in parts), or all of it (a
                    // one-request delivery whose answer was lost): the abort gives it the old one.
                    self.facts.failed_target = Some(i);
                    self.start_abort(format!("delivery to {} failed: {e}", s.describe())).await?;
                    return Ok(Step::Next);
                }
                crash_point("access-key:after-delivery-call");
                self.facts.acks.push(i);
                self.journal(Phase::Delivering, JournalWrite::default()).await?;
            }
        }
        let manual: Vec<usize> = manual.into_iter().filter(|i| !self.facts.acks.contains(i)).collect();
        for i in manual {
            let rekey_domain::Target::Manual(m) = &targets[i] else { continue };
            match self.manual_gate(m).await? {
                super::confirm::Gate::Confirmed => {
                    self.facts.acks.push(i);
                }
                super::confirm::Gate::Wait => return Ok(Step::Wait),
                super::confirm::Gate::Aborting => return Ok(Step::Next),
            }
        }
        self.commit().await?;
        Ok(Step::Next)
    }

    async fn commit(&mut self) -> Result<()> {
        let id = self.account.id.to_string();
        let new_version = self.rot.new_version.ok_or_else(|| Error::Internal("commit without a new version".into()))?;
        if let Err(why) = self.current_unchanged().await? {
            return self.start_abort(why).await;
        }
        let mut w = JournalWrite {
            account: Some((self.account.id.clone(), self.commit_patch())),
            expect_current: Some((id.clone(), self.rot.old_version)),
            ..Default::default()
        };
        for v in self.engine.store.secret_versions(&id).await? {
            if v.state == SecretState::Previous {
                w.secret_states.push((id.clone(), v.version, SecretState::Retired));
            }
        }
        w.secret_states.push((id.clone(), new_version, SecretState::Current));
        if let Some(old) = self.rot.old_version {
            w.secret_states.push((id.clone(), old, SecretState::Previous));
        }
        if self.facts.self_rotation {
            self.switch_provider_key(&mut w).await?;
        }
        self.facts.cutover_at = Some(self.engine.clock.now());
        self.journal(Phase::Committed, w).await?;
        if self.facts.self_rotation {
            self.conn = self.engine.conn(&self.engine.provider(&self.provider.name).await?).await?;
            self.iam = self.engine.aws.iam(&self.conn).await;
        }
        Ok(())
    }

    /// Self-rotation: the provider's own secret becomes the new key, in the commit's transaction.
    async fn switch_provider_key(&mut self, w: &mut JournalWrite) -> Result<()> {
        let record = self.provider.secret_record();
        let key_id = self.rot.new_key_id.clone().unwrap_or_default();
        let version = self.next_version(&record).await?;
        let secret = self.pending_secret().await?;
        w.new_secrets.push(self.engine.seal_version(
            &record,
            version,
            SecretState::Current,
            Some(key_id.clone()),
            Origin::Created,
            &secret,
        ));
        for v in self.engine.store.secret_versions(&record).await? {
            if v.state == SecretState::Current {
                w.secret_states.push((record.clone(), v.version, SecretState::Previous));
            }
        }
        w.provider_auth = Some((self.provider.name.clone(), ProviderAuth::StaticKey { access_key_id: key_id }));
        Ok(())
    }

    async fn plan_retirement(&mut self) -> Result<()> {
        // An incident rotation deactivates the previous key whatever the policy: it leaked.
        let incident = self.facts.incident.is_some();
        if self.rot.old_key_id.is_none() || (self.settings.previous_key == PreviousKeyPolicy::Keep && !incident) {
            return self.journal(Phase::Done, JournalWrite::default()).await;
        }
        let cutover = self.facts.cutover_at.unwrap_or_else(|| self.engine.clock.now());
        let grace = if incident { 0 } else { self.settings.deactivate_after_ms };
        self.facts.deactivate_at = Some(cutover + ms(grace));
        self.journal(Phase::Retiring, JournalWrite::default()).await
    }

    async fn deactivate_previous(&mut self) -> Result<Step> {
        let now = self.engine.clock.now();
        if self.facts.deactivate_at.is_some_and(|t| now < t) {
            return Ok(Step::Wait);
        }
        let user = self.user();
        let old = self.rot.old_key_id.clone().unwrap_or_default();
        if !self.cutover_allows_retirement().await? {
            return Ok(Step::Wait);
        }
        if self.settings.retire_only_if_unused && self.facts.incident.is_none() {
            let used = self.iam.access_key_last_used(&old).await?;
            if let (Some(at), Some(cut)) = (used.at, self.facts.cutover_at) {
                if at > cut {
                    self.rot.error =
                        Some(format!("previous key {old} was used at {at}, after the cut-over; retirement postponed"));
                    self.facts.deactivate_at = Some(now + ms(self.settings.deactivate_after_ms.max(3_600_000)));
                    self.journal(Phase::Retiring, JournalWrite::default()).await?;
                    return Ok(Step::Wait);
                }
            }
        }
        gone_is_fine(self.act("UpdateAccessKey", self.iam.update_access_key(&user, &old, false)).await?)?;
        crash_point("access-key:after-deactivate-call");
        self.rot.error = None;
        self.facts.delete_at = Some(now + ms(self.settings.delete_after_ms));
        self.journal(Phase::Deactivated, JournalWrite::default()).await?;
        Ok(Step::Next)
    }

    async fn delete_previous(&mut self) -> Result<Step> {
        if self.settings.previous_key != PreviousKeyPolicy::Delete {
            self.journal(Phase::Done, JournalWrite::default()).await?;
            return Ok(Step::Next);
        }
        if self.facts.delete_at.is_some_and(|t| self.engine.clock.now() < t) {
            return Ok(Step::Wait);
        }
        let user = self.user();
        let old = self.rot.old_key_id.clone().unwrap_or_default();
        gone_is_fine(self.act("DeleteAccessKey", self.iam.delete_access_key(&user, &old)).await?)?;
        crash_point("access-key:after-delete-call");
        let mut w = JournalWrite::default();
        if let Some(v) = self.rot.old_version {
            w.secret_states.push((self.account.id.to_string(), v, SecretState::Retired));
        }
        self.journal(Phase::Done, w).await?;
        Ok(Step::Next)
    }

    async fn abort(&mut self) -> Result<()> {
        let user = self.user();
        if let Some(new) = self.rot.new_key_id.clone() {
            if self.account.current_key_id.as_deref() == Some(new.as_str()) {
                // Only a stale copy of a committed rotation gets here; its key is the one in use.
                return Err(Error::conflict(
                    format!("rotation {}: its new key {new} is the account's current key, not deleted", self.rot.id),
                    "the rotation has committed; `rekey rollback` restores the previous key",
                ));
            }
            gone_is_fine(self.act("DeleteAccessKey", self.iam.delete_access_key(&user, &new)).await?)?;
            crash_point("access-key:after-abort-delete-call");
        }
        self.clear_creating().await;
        self.redeliver_old().await;
        let why = self.rot.error.clone().unwrap_or_else(|| "aborted".into());
        self.aborted(why, JournalWrite::default()).await
    }

    /// Targets that already received the aborted key, and the one whose delivery failed (it
    /// may hold part or all of it), get the old one back (best effort).
    async fn redeliver_old(&mut self) {
        let mut touched = std::mem::take(&mut self.facts.acks);
        touched.extend(self.facts.failed_target.take());
        if touched.is_empty() {
            return;
        }
        let Some(old) = self.rot.old_version else { return };
        let Ok(versions) = self.engine.store.secret_versions(self.account.id.as_str()).await else { return };
        let Some(v) = versions.iter().find(|v| v.version == old) else { return };
        let Ok(secret) = self.engine.open_version(v) else { return };
        if secret.is_empty() {
            // An imported key whose secret was never known: nothing to restore.
            return;
        }
        let account = super::reference(&self.account);
        for i in touched {
            if let Some(t) = self.settings.targets.get(i).filter(|t| !matches!(t, rekey_domain::Target::Manual(_))) {
                let value = delivery::value_for(t, &secret);
                let d = delivery::Delivery {
                    account: &account,
                    old_key_id: self.rot.new_key_id.as_deref(),
                    rotation_id: &self.rot.id,
                    conn: &self.conn,
                    key_id: v.key_id.as_deref(),
                    secret: &value,
                    clock: &*self.engine.clock,
                };
                let sink = delivery::sink_for(t);
                match self.act("a delivery of the previous secret", sink.deliver(&d)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "could not restore the previous secret to a delivery target");
                    }
                    Err(_) => return,
                }
            }
        }
    }
}

/// How polling a new key ended.
#[derive(Debug)]
enum Polled {
    /// It authenticated as the account `successes` times in a row; the first of them at this time.
    Verified { first_success: chrono::DateTime<chrono::Utc> },
    /// It authenticated as another principal (this ARN).
    Elsewhere(String),
    /// The deadline passed; the last failure.
    TimedOut(String),
}

/// Signs `GetCallerIdentity` with the new key until it returns `arn` `v.successes` times in a
/// row, `v.backoff` apart. While the key fails (IAM has not propagated it yet), it is polled
/// again after a short random pause — from half to all of `v.backoff`, at most a second — so
/// the first success comes within about a second of the moment the key works, and keys created
/// together do not poll in step.
async fn poll(
    sts: &dyn rekey_aws::StsApi,
    v: &rekey_domain::VerifySettings,
    arn: &str,
    clock: &dyn rekey_domain::Clock,
) -> Polled {
    use rand::Rng;
    let started = Instant::now();
    let deadline = Duration::from_millis(v.deadline_ms);
    let pause = Duration::from_millis(v.backoff_ms);
    let mut successes = 0;
    let mut first_success = None;
    let mut last_error;
    loop {
        match sts.caller_identity().await {
            Ok(id) if id.arn == arn => {
                let first = *first_success.get_or_insert_with(|| clock.now());
                successes += 1;
                if successes >= v.successes {
                    return Polled::Verified { first_success: first };
                }
                tokio::time::sleep(pause).await;
                continue;
            }
            Ok(id) => return Polled::Elsewhere(id.arn),
            Err(e) => {
                successes = 0;
                first_success = None;
                last_error = e.to_string();
            }
        }
        let wait = pause.min(Duration::from_secs(1)).mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        if started.elapsed() + wait > deadline {
            return Polled::TimedOut(last_error);
        }
        tokio::time::sleep(wait).await;
    }
}

pub(super) fn ms(v: u64) -> chrono::Duration {
    chrono::Duration::milliseconds(i64::try_from(v).unwrap_or(i64::MAX / 2))
}

/// Whether a key created at `created` may be the one an attempt made at one of `attempts` left:
/// created at most 5 minutes before an attempt (IAM's clock and ours differ) and at most 10
/// minutes after it (an attempt's request may wait for its provider's pace and be sent again
/// while IAM throttles it). Unknown times count as such a key. A journal of an earlier version
/// (`open_ended`) did not record its later attempts: any key created since the first counts.
fn made_by_an_attempt(
    created: Option<chrono::DateTime<chrono::Utc>>,
    attempts: &[chrono::DateTime<chrono::Utc>],
    open_ended: bool,
) -> bool {
    let Some(c) = created else { return true };
    let after = |a: &chrono::DateTime<chrono::Utc>| c >= *a - chrono::Duration::minutes(5);
    if open_ended {
        return attempts.first().is_none_or(after);
    }
    attempts.is_empty() || attempts.iter().any(|a| after(a) && c <= *a + chrono::Duration::minutes(10))
}
