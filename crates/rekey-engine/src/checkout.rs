//! Check-out and check-in of console passwords, the PAM workflow: a check-out hands the
//! current password to one holder for a while and keeps everyone else out; check-in or expiry
//! makes the scheduler rotate the password (see [`crate::tick`]), so the password the holder
//! saw stops working. The check-out ends only once that rotation succeeded.
//!
//! Ending a lapsed check-out is the work of whichever scheduler (of several nodes, or `rekey
//! run-due` processes) takes the account's lease first: under it, the check-out is read again
//! (another worker may have ended it), the password is rotated unless a rotation committed
//! since the lapse already changed it, and the check-out is ended in a write fenced by that
//! lease. So a lapsed check-out is rotated and ended once, however many workers tick.

use crate::{failpoint::crash_point, lease::Held, AccountRef, Engine, Error, Result, RotateOptions, RotationReport};
use rekey_crypto::Secret;
use rekey_domain::{AccountStatus, AuditOutcome, CredentialKind, SecretState};
use rekey_store::{Account, Checkout, StoreError};
use serde_json::json;

/// Longest check-out rekey grants: a day.
pub const MAX_CHECKOUT_MS: u64 = 24 * 3_600_000;

impl Engine {
    /// Checks out `r`'s password for `ttl_ms` to this engine's actor.
    pub async fn checkout(&self, r: &AccountRef, ttl_ms: u64) -> Result<(Checkout, Account, Secret)> {
        if ttl_ms == 0 || ttl_ms > MAX_CHECKOUT_MS {
            return Err(Error::usage("a check-out lasts from 1s to 24h", "pass a duration such as 1h"));
        }
        let account = self.account(r).await?;
        if account.kind != CredentialKind::Password {
            return Err(Error::usage(
                format!("account {} holds an access key; only console passwords are checked out", account.id),
                "check out a password account (KIND password), or use reveal for keys",
            ));
        }
        let current = self.store.secret_in_state(account.id.as_str(), SecretState::Current).await?;
        let Some(v) = current.filter(|_| account.status == AccountStatus::Ok) else {
            return Err(Error::conflict(
                format!("account {} has no usable password to check out", account.id),
                "rotate the account so rekey sets and stores a password",
            ));
        };
        let secret = self.open_version(&v)?;
        let now = self.clock.now();
        let ttl = chrono::Duration::milliseconds(i64::try_from(ttl_ms).unwrap_or(i64::MAX / 2));
        let c = Checkout {
            id: format!("co_{:016x}", rand::random::<u64>()),
            account_id: account.id.clone(),
            holder: self.actor.clone(),
            started_at: now,
            expires_at: now + ttl,
            ended_at: None,
            end_reason: None,
        };
        let detail = json!({ "checkout": c.id, "version": v.version, "expires_at": c.expires_at });
        self.store
            .open_checkout(
                &c,
                &self.audit_entry("account.checkout", Some(account.id.as_str()), AuditOutcome::Ok, detail),
            )
            .await?;
        Ok((c, account, secret))
    }

    /// Returns `r`'s check-out; the next tick rotates the password and ends it. Only the
    /// holder may check in unless `any_holder`.
    pub async fn checkin(&self, r: &AccountRef, any_holder: bool) -> Result<Checkout> {
        let account = self.account(r).await?;
        let Some(c) = self.store.open_checkout_of(&account.id).await? else {
            return Err(Error::conflict(
                format!("account {} is not checked out", account.id),
                "check it out first (POST …/checkout)",
            ));
        };
        if c.holder != self.actor && !any_holder {
            return Err(Error::conflict(
                format!("account {} is checked out by {}, not by {}", account.id, c.holder, self.actor),
                "only the holder (or an admin) can check it in",
            ));
        }
        let now = self.clock.now();
        let detail = json!({ "checkout": c.id, "holder": c.holder });
        let audit = self.audit_entry("account.checkin", Some(account.id.as_str()), AuditOutcome::Ok, detail);
        self.store.return_checkout(&c.id, now, &audit).await?;
        Ok(Checkout { expires_at: now.min(c.expires_at), end_reason: Some("checked-in".into()), ..c })
    }

    /// Refuses `action` (`rotate`, `reveal`) on a password someone else has checked out and
    /// not yet returned: it would change or show the password under the holder. With `force`
    /// the action goes ahead and the override is audited (`account.checkout-override`).
    /// Returned and lapsed check-outs do not count (the scheduler's rotation ends them).
    pub(crate) async fn respect_checkout(&self, account: &Account, action: &str, force: bool) -> Result<()> {
        let Some(c) = self.store.open_checkout_of(&account.id).await? else { return Ok(()) };
        if c.expires_at <= self.clock.now() || (c.holder == self.actor && action == "reveal") {
            return Ok(());
        }
        if !force && c.holder == self.actor {
            return Err(Error::conflict(
                format!(
                    "account {} is checked out by you until {}",
                    account.id,
                    rekey_domain::timestamp::rfc3339(&c.expires_at)
                ),
                format!(
                    "check it in (`rekey account checkin`, POST …/checkin): the scheduler then rotates the password; \
                     or {action} now with force (--force, ?force=true): that is audited"
                ),
            ));
        }
        if !force {
            return Err(Error::conflict(
                format!(
                    "account {} is checked out by {} until {}",
                    account.id,
                    c.holder,
                    rekey_domain::timestamp::rfc3339(&c.expires_at)
                ),
                format!("wait for the check-in, or {action} with force (--force, ?force=true): that is audited"),
            ));
        }
        let detail = json!({ "checkout": c.id, "holder": c.holder, "action": action });
        let audit = self.audit_entry("account.checkout-override", Some(account.id.as_str()), AuditOutcome::Ok, detail);
        self.store.append_audit(&audit).await?;
        Ok(())
    }

    /// Ends check-out `c`, which lapsed or was returned (see the module docs): the report of
    /// the rotation that killed the password the holder saw, or `None` when nothing was left to
    /// rotate (another worker ended the check-out, a rotation since the lapse changed the
    /// password, or the account is gone). [`Error::Busy`] while another worker holds the
    /// account: its rotation ends the check-out, or a later tick does.
    pub(crate) async fn end_lapsed_checkout(&self, c: &Checkout) -> Result<Option<RotationReport>> {
        let lease = self.lease(&c.account_id).await?;
        let result = self.end_lapsed_leased(c, &lease).await;
        lease.release().await;
        result
    }

    async fn end_lapsed_leased(&self, c: &Checkout, lease: &Held) -> Result<Option<RotationReport>> {
        crash_point("checkout:leased");
        // Read again under the lease: the list was read before it, and another worker may have
        // rotated and ended it since.
        let Some(c) = self.store.open_checkout_of(&c.account_id).await?.filter(|o| o.id == c.id) else {
            return Ok(None);
        };
        let account = match self.store.account(&c.account_id).await {
            Ok(a) => a,
            Err(StoreError::NotFound { .. }) => {
                self.end_checkout(&c, "account-removed", lease).await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        // A rotation committed at or after the lapse (a forced one, or one whose worker stopped
        // before ending the check-out) already changed the password the holder saw.
        if account.last_rotated_at.is_some_and(|t| t >= c.expires_at) {
            self.end_checkout(&c, "rotated", lease).await?;
            return Ok(None);
        }
        let rotated = match self.refuse_tampered(&account).await {
            Ok(()) => self.rotate_leased(&account, &RotateOptions::default(), lease).await,
            Err(e) => Err(e),
        };
        let report = rotated.unwrap_or_else(|e| RotationReport::refused(&account, &e));
        if report.outcome.committed() {
            self.end_checkout(&c, "rotated", lease).await?;
        }
        Ok(Some(report))
    }

    /// Ends a check-out whose password was rotated (or whose account is gone), in a write
    /// fenced by the account's lease.
    async fn end_checkout(&self, c: &Checkout, reason: &str, lease: &Held) -> Result<()> {
        let detail = json!({ "checkout": c.id, "holder": c.holder, "reason": reason });
        let audit = self.audit_entry("account.checkout-end", Some(c.account_id.as_str()), AuditOutcome::Ok, detail);
        match self.store.end_checkout(&c.id, self.clock.now(), reason, Some(&lease.fence), &audit).await {
            Ok(()) => Ok(()),
            Err(StoreError::Fenced { .. }) => {
                lease.fenced("ending a check-out");
                Err(Error::conflict(
                    format!("check-out {} was not ended: the lease on account {} was lost", c.id, c.account_id),
                    "the worker holding the lease now ends it",
                ))
            }
            Err(e) => Err(e.into()),
        }
    }
}
