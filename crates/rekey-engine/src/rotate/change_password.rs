//! Self-rotation of a console password: `iam:ChangePassword`, signed as the user, which must
//! name the password IAM holds now. An attempt whose answer is lost leaves IAM holding the old
//! password or the new one, and no call reads which. A repeated attempt that is refused proves
//! little by itself (IAM documents no error code for "the old password is wrong"), and the
//! obvious test — changing the new password to itself — may be refused by a rule against
//! setting the current password or by a password-reuse policy, whatever IAM holds.
//!
//! So the rotation journals every change it sends ([`Sent`]: from which version to which, its
//! attempts, whether the last was refused), each attempt before it is made. A version is
//! **possibly held** once an attempt to set it may have landed: an attempt that was not refused
//! (a lost answer, a crash after the attempt was journaled) or one of several whose last was
//! refused (an earlier one may have landed). No possibly-held password is ever retired before
//! a change from it or to it succeeds. Each step ([`next`]):
//!
//! 1. the last change's last attempt is unanswered: send it again;
//! 2. else, if the target may be held and was never sent as the old password: seal a fresh
//!    password first, then change target → fresh. Success proves IAM held the target, and now
//!    holds the fresh one, which the vault already has;
//! 3. else change the next possibly-held version not yet tried (newest first, the account's
//!    current password last) → target;
//! 4. else every password IAM may hold was refused: if no change may ever have landed, IAM
//!    holds no password of this rotation and the rotation aborts; otherwise it stops unfinished,
//!    every password kept, and the next run tries them all again (a new *round*: a refusal such
//!    as `LimitExceeded` may not last).
//!
//! A refusal is journaled as soon as it arrives, so a crash after it cannot make a change that
//! was refused look as if it may have landed. A success commits the password it set and
//! retires every other version of the rotation.

use super::Run;
use crate::{failpoint::crash_point, Error, Result};
use rekey_crypto::Secret;
use rekey_domain::{Phase, SecretState};
use rekey_store::{JournalWrite, Origin};
use serde::{Deserialize, Serialize};

/// Most fresh passwords one rotation seals as evidence (each needs another lost answer).
const MAX_FRESH: usize = 4;

/// One change a self-rotation sent: from `from` (a secret version; `None`: the account's
/// current password) to version `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sent {
    pub from: Option<i64>,
    pub to: i64,
    /// Attempts made (each journaled before it was made).
    pub attempts: u32,
    /// The last attempt was refused: IAM answered, and changed nothing.
    pub refused: bool,
    /// The round it was sent in (a run after one that found every password refused starts a
    /// new round, in which each may be tried again).
    #[serde(default)]
    pub round: u32,
}

/// What a self-rotation does next, given the changes sent so far and its target version.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Change `from` → `to` (a new attempt, or another attempt of an unanswered one).
    Send { from: Option<i64>, to: i64 },
    /// Seal a fresh password and change `from` (the target) → it.
    Fresh { from: i64 },
    /// No change may have landed and each was refused: IAM holds the current password.
    Abort,
    /// Every password IAM may hold was refused as the old one in this round, or
    /// (`fresh_limit`) [`MAX_FRESH`] fresh passwords were sealed already.
    Stuck { fresh_limit: bool },
}

/// Whether an attempt to set version `v` may have landed.
fn possibly_held(sent: &[Sent], v: i64) -> bool {
    sent.iter().any(|s| s.to == v && (s.attempts > 1 || !s.refused))
}

/// The next step of round `round` (see the module's documentation).
pub(crate) fn next(sent: &[Sent], target: i64, round: u32) -> Next {
    let Some(last) = sent.last() else { return Next::Send { from: None, to: target } };
    if !last.refused {
        return Next::Send { from: last.from, to: last.to };
    }
    if possibly_held(sent, target) && !sent.iter().any(|s| s.from == Some(target)) {
        let fresh = sent.iter().map(|s| s.to).collect::<std::collections::BTreeSet<_>>().len();
        return if fresh > MAX_FRESH { Next::Stuck { fresh_limit: true } } else { Next::Fresh { from: target } };
    }
    let mut held: Vec<i64> = sent.iter().map(|s| s.to).filter(|&v| v != target && possibly_held(sent, v)).collect();
    held.sort_unstable_by(|a, b| b.cmp(a));
    held.dedup();
    let tried = |from: Option<i64>| sent.iter().any(|s| s.round == round && s.from == from && s.to == target);
    if let Some(from) = held.into_iter().map(Some).chain([None]).find(|&from| !tried(from)) {
        return Next::Send { from, to: target };
    }
    if sent.iter().any(|s| possibly_held(sent, s.to)) {
        Next::Stuck { fresh_limit: false }
    } else {
        Next::Abort
    }
}

impl Run<'_> {
    /// Sets the rotation's password with `iam:ChangePassword` (see the module's documentation).
    pub(super) async fn change_own_password(&mut self, version: i64) -> Result<()> {
        if self.facts.sent.is_empty() && self.facts.update_attempts > 0 {
            // A journal of an earlier version: each of its attempts sent current → version.
            let attempts = self.facts.update_attempts;
            self.facts.sent.push(Sent { from: None, to: version, attempts, refused: false, round: 0 });
        }
        if self.facts.sent.is_empty() && self.current_password().await?.is_none() {
            let why = "self-rotation needs the current password, and the vault has none".to_owned();
            return self.aborted(why, JournalWrite::default()).await;
        }
        if self.facts.sent.last().is_some_and(|s| s.refused) {
            // An earlier run stopped after a refusal: every password IAM may hold is tried again.
            self.facts.change_round += 1;
        }
        let (iam, budget) = self.single_attempt_iam().await;
        let mut backoff = std::time::Duration::from_millis(200);
        let mut retries = 0;
        let mut last_refusal = None;
        loop {
            let target = self.rot.new_version.unwrap_or(version);
            let round = self.facts.change_round;
            let (from, to, new, fresh) = match next(&self.facts.sent, target, round) {
                Next::Send { from, to } => (from, to, self.password_of(Some(to)).await?, None),
                Next::Fresh { from } => {
                    let (to, sealed, password) = self.fresh_password().await?;
                    (Some(from), to, password, Some(sealed))
                }
                Next::Abort => return self.refused_at_once(target, last_refusal).await,
                Next::Stuck { fresh_limit } => return Err(self.stuck(fresh_limit, last_refusal)),
            };
            let old = self.password_of(from).await?;
            match self.facts.sent.last_mut() {
                Some(s) if s.from == from && s.to == to && !s.refused => s.attempts += 1,
                _ => self.facts.sent.push(Sent { from, to, attempts: 1, refused: false, round }),
            }
            self.facts.update_attempts += 1;
            if fresh.is_some() {
                self.rot.new_version = Some(to);
            }
            let write = JournalWrite { new_secrets: fresh.into_iter().collect(), ..Default::default() };
            self.journal(Phase::UpdateRequested, write).await?;
            // Abandoned (the lease could not be renewed), this attempt is one of unknown outcome,
            // as a lost answer's: it was journaled, and whoever resumes goes on from it.
            match self.act("ChangePassword", iam.change_password(&old, &new)).await? {
                Ok(()) => break,
                Err(e) if e.is_retryable() && retries + 1 < budget => {
                    tracing::warn!(attempt = retries + 1, error = %e, "ChangePassword failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    retries += 1;
                }
                Err(e) if e.is_retryable() => return Err(e.into()),
                Err(e) => {
                    tracing::info!(error = %e, "ChangePassword was refused; trying the next password IAM may hold");
                    last_refusal = Some(e.to_string());
                    if let Some(s) = self.facts.sent.last_mut() {
                        s.refused = true;
                    }
                    // Journaled at once: a crash now must not make this change look unanswered.
                    self.journal(Phase::UpdateRequested, JournalWrite::default()).await?;
                }
            }
        }
        crash_point("password:after-update-call");
        let versions = self.engine.store.secret_versions(self.account.id.as_str()).await?;
        let to = self.rot.new_version.unwrap_or(version);
        self.commit_password(&versions, to).await
    }

    /// Every change was refused at its first attempt: none reached IAM, and the rotation aborts
    /// with every password it sealed retired (`aborted` retires the target).
    async fn refused_at_once(&mut self, target: i64, last_refusal: Option<String>) -> Result<()> {
        let why = format!(
            "ChangePassword was refused ({}): the change never reached IAM, which holds no password of this \
             rotation (it holds the vault's current one, unless that was changed outside rekey)",
            last_refusal.as_deref().unwrap_or("refused in an earlier run")
        );
        let others: std::collections::BTreeSet<i64> =
            self.facts.sent.iter().map(|s| s.to).filter(|&v| v != target).collect();
        let id = self.account.id.to_string();
        let retire = others.into_iter().map(|v| (id.clone(), v, SecretState::Retired)).collect();
        self.aborted(why, JournalWrite { secret_states: retire, ..Default::default() }).await
    }

    /// A fresh password under the account's rules, sealed as the next pending version.
    async fn fresh_password(&self) -> Result<(i64, rekey_store::SecretVersion, Secret)> {
        let policy = self.iam.password_policy().await?.unwrap_or_default();
        let password = Secret::from(self.settings.password.merged_with(&policy).generate());
        let id = self.account.id.as_str();
        let version = self.next_version(id).await?;
        let sealed = self.engine.seal_version(id, version, SecretState::Pending, None, Origin::Created, &password);
        Ok((version, sealed, password))
    }

    /// The account's current password, if the vault has one.
    async fn current_password(&self) -> Result<Option<Secret>> {
        let versions = self.engine.store.secret_versions(self.account.id.as_str()).await?;
        versions.iter().rev().find(|s| s.state == SecretState::Current).map(|s| self.engine.open_version(s)).transpose()
    }

    /// The password of version `v` (`None`: the account's current one).
    async fn password_of(&self, v: Option<i64>) -> Result<Secret> {
        let found = match v {
            None => self.current_password().await?,
            Some(v) => {
                let versions = self.engine.store.secret_versions(self.account.id.as_str()).await?;
                versions.iter().find(|s| s.version == v).map(|s| self.engine.open_version(s)).transpose()?
            }
        };
        found.ok_or_else(|| Error::Integrity {
            message: format!(
                "rotation {} needs {} of account {}, and the vault has none",
                self.rot.id,
                v.map_or_else(|| "the current password".to_owned(), |v| format!("password version {v}")),
                self.account.id
            ),
        })
    }

    /// The error of a run that cannot go on: the rotation stays unfinished, every password IAM
    /// may hold kept (refusals are journaled as they arrive).
    fn stuck(&self, fresh_limit: bool, last_refusal: Option<String>) -> Error {
        let held: std::collections::BTreeSet<i64> =
            self.facts.sent.iter().map(|s| s.to).filter(|&v| possibly_held(&self.facts.sent, v)).collect();
        let held: Vec<String> = held.iter().map(i64::to_string).collect();
        let why = if fresh_limit {
            format!("{MAX_FRESH} answers of IAM to ChangePassword were lost in a row")
        } else {
            format!(
                "IAM refused ChangePassword from every password it may hold (last refusal: {})",
                last_refusal.as_deref().unwrap_or("in an earlier run")
            )
        };
        Error::conflict(
            format!(
                "self-rotation of account {} cannot finish: {why}; IAM holds the account's current password or one \
                 of its pending versions {}",
                self.account.id,
                held.join(", ")
            ),
            "no password was retired: the vault keeps each one IAM may hold, and the next run (recovery, the \
             scheduler) tries them all again. If someone changed the password outside rekey, an administrator \
             can set a new one",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(from: Option<i64>, to: i64, attempts: u32, refused: bool) -> Sent {
        Sent { from, to, attempts, refused, round: 0 }
    }

    #[test]
    fn the_first_change_is_from_the_current_password() {
        assert_eq!(next(&[], 2, 0), Next::Send { from: None, to: 2 });
    }

    #[test]
    fn an_unanswered_change_is_sent_again() {
        assert_eq!(next(&[sent(None, 2, 1, false)], 2, 0), Next::Send { from: None, to: 2 });
    }

    #[test]
    fn a_change_refused_at_once_changed_nothing_and_aborts() {
        assert_eq!(next(&[sent(None, 2, 1, true)], 2, 0), Next::Abort);
    }

    #[test]
    fn a_refusal_after_a_lost_answer_is_tested_with_a_fresh_password() {
        let lost_then_refused = [sent(None, 2, 2, true)];
        assert_eq!(next(&lost_then_refused, 2, 0), Next::Fresh { from: 2 });
        // Version 2 refused as the old one too: IAM may still hold the current password.
        let fresh_refused = [sent(None, 2, 2, true), sent(Some(2), 3, 1, true)];
        assert_eq!(next(&fresh_refused, 3, 0), Next::Send { from: None, to: 3 });
        // Both refused: nothing IAM may hold works, but version 2 may have landed: keep all.
        let all_refused = [sent(None, 2, 2, true), sent(Some(2), 3, 1, true), sent(None, 3, 1, true)];
        assert_eq!(next(&all_refused, 3, 0), Next::Stuck { fresh_limit: false });
        // The next run's round tries them again, newest first.
        assert_eq!(next(&all_refused, 3, 1), Next::Send { from: Some(2), to: 3 });
    }

    #[test]
    fn possibly_held_passwords_are_tried_newest_first() {
        // 2 and 3 may each have landed; target 4, freshly sealed after 3's refusal.
        let s = [sent(None, 2, 2, true), sent(Some(2), 3, 2, true), sent(Some(3), 4, 1, true)];
        assert_eq!(next(&s, 4, 0), Next::Send { from: Some(2), to: 4 });
        let s = [&s[..], &[sent(Some(2), 4, 1, true)]].concat();
        assert_eq!(next(&s, 4, 0), Next::Send { from: None, to: 4 });
    }

    #[test]
    fn fresh_passwords_are_bounded() {
        let mut s = vec![sent(None, 2, 2, true)];
        for v in 3..=(2 + MAX_FRESH as i64) {
            s.push(sent(Some(v - 1), v, 2, true));
        }
        assert_eq!(next(&s, 2 + MAX_FRESH as i64, 0), Next::Stuck { fresh_limit: true });
    }
}
