//! Confirmed cut-over: the previous access key is retired only on evidence that its consumers
//! moved — IAM's `GetAccessKeyLastUsed` shows the **new** key used since the cut-over and the
//! **old** key not (or not for [`QUIET`]: consumers move one by one, and IAM keeps only the
//! last use, so a use an hour after the cut-over must not block retirement for ever). Until then the rotation stays in `retiring`, re-checking every hour, and
//! records where it stands (`cutover_status`, e.g. "waiting for consumers: new key unused for
//! 3 d") for the rotation report, `rekey report` and the API. Past the deadline the owner is
//! told once (`rotation.stalled`, sent by the server's notifier) and the rotation keeps waiting
//! or retires the key anyway, as configured. An incident rotation skips all of this.
//!
//! rekey's own signed calls with the new key are not evidence: verification happens before the
//! cut-over, and a heartbeat (an STS call) whose time matches the key's last use is discounted.

use super::Run;
use crate::Result;
use rekey_domain::{
    settings::DEFAULT_CUTOVER_DEADLINE_MS, timestamp::rfc3339, AuditOutcome, PastDeadline, Phase, Retirement,
};
use rekey_store::JournalWrite;
use serde_json::json;

/// How often the evidence is read again while waiting.
const RECHECK: chrono::Duration = chrono::Duration::hours(1);
/// An old key unused for this long counts as abandoned even if it was used after the cut-over.
pub(crate) const QUIET: chrono::Duration = chrono::Duration::hours(24);
/// How close a use must be to rekey's own heartbeat to be taken for it.
const OWN_USE_SLACK: chrono::Duration = chrono::Duration::minutes(2);

/// "3 d", "5 h", "12 min": how long, for people.
pub(crate) fn human(d: chrono::Duration) -> String {
    match (d.num_days(), d.num_hours(), d.num_minutes()) {
        (days, _, _) if days >= 1 => format!("{days} d"),
        (_, hours, _) if hours >= 1 => format!("{hours} h"),
        (_, _, mins) => format!("{} min", mins.max(0)),
    }
}

impl Run<'_> {
    /// Whether the previous key may be retired now. When not, the rotation's status and next
    /// check are journaled (lease released by the caller) and the caller waits.
    pub(super) async fn cutover_allows_retirement(&mut self) -> Result<bool> {
        if self.settings.retirement != Retirement::Confirmed || self.facts.incident.is_some() {
            return Ok(true);
        }
        let now = self.engine.clock.now();
        let cut = self.facts.cutover_at.unwrap_or(now);
        let (new, old) =
            (self.rot.new_key_id.clone().unwrap_or_default(), self.rot.old_key_id.clone().unwrap_or_default());
        self.guard("GetAccessKeyLastUsed").await?;
        let new_used = self.iam.access_key_last_used(&new).await?;
        let old_used = self.iam.access_key_last_used(&old).await?;
        let own = self.account.heartbeat.as_ref().map(|h| h.at);
        let is_own = |at: chrono::DateTime<chrono::Utc>, service: Option<&str>| {
            service == Some("sts") && own.is_some_and(|h| (at - h).abs() <= OWN_USE_SLACK)
        };
        let new_moved = new_used.at.is_some_and(|t| t > cut && !is_own(t, new_used.service.as_deref()));
        let old_quiet = old_used.at.is_none_or(|t| t <= cut || now - t >= QUIET);
        if new_moved && old_quiet {
            self.facts.cutover_status = Some(format!(
                "consumers moved: new key used at {}, old key unused since the cut-over or for {}",
                new_used.at.map(|t| rfc3339(&t)).unwrap_or_default(),
                human(QUIET)
            ));
            return Ok(true);
        }
        let mut status = if new_moved {
            let last = old_used.at.map(|t| rfc3339(&t)).unwrap_or_default();
            let service = old_used.service.unwrap_or_else(|| "?".into());
            format!(
                "waiting for consumers: old key still used (last at {last}, {service}; retired after {} without use)",
                human(QUIET)
            )
        } else {
            format!("waiting for consumers: new key unused for {}", human(now - cut))
        };
        let deadline =
            cut + super::access_key::ms(self.settings.cutover_deadline_ms.unwrap_or(DEFAULT_CUTOVER_DEADLINE_MS));
        let mut extra = JournalWrite::default();
        if now >= deadline {
            if !self.facts.cutover_overdue_notified {
                self.facts.cutover_overdue_notified = true;
                let detail = json!({ "rotation": self.rot.id, "reason": format!("{status} (deadline {deadline})") });
                extra.audit.push(self.engine.audit_entry(
                    "rotation.stalled",
                    Some(self.account.id.as_str()),
                    AuditOutcome::Overdue,
                    detail,
                ));
            }
            if self.settings.cutover_past_deadline == PastDeadline::Proceed {
                self.facts.cutover_status = Some(format!("{status}; deadline {deadline} passed, retiring anyway"));
                if !extra.audit.is_empty() {
                    self.journal(Phase::Retiring, extra).await?;
                }
                return Ok(true);
            }
            status.push_str(&format!("; deadline {deadline} passed, owner told"));
        }
        self.facts.cutover_status = Some(status);
        self.facts.deactivate_at = Some(now + RECHECK);
        self.journal(Phase::Retiring, extra).await?;
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::human;
    use chrono::Duration;

    #[test]
    fn durations_for_people() {
        assert_eq!(human(Duration::days(3) + Duration::hours(5)), "3 d");
        assert_eq!(human(Duration::hours(5)), "5 h");
        assert_eq!(human(Duration::minutes(12)), "12 min");
        assert_eq!(human(Duration::seconds(-3)), "0 min");
    }
}
