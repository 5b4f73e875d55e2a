//! Account leases. A rotation is worked only by the holder of its account's lease. A lease
//! names the **worker** that holds it: the process (host, pid, process start time) and a number
//! unique to one acquisition within that process (`host:pid:start#N`). So two tasks of one
//! process — a scheduler tick, an API request and a console click in one `rekey serve` — never
//! both hold it, and a process on the same host can still tell that the owner died and take over
//! at once instead of waiting for the lease to expire.

use crate::{Engine, Error, Result};
use chrono::{DateTime, Utc};
use rekey_domain::AccountId;
use rekey_store::{Fence, LeaseOutcome, Store};
use std::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Arc,
};
use tokio::task::JoinHandle;

/// How long a lease lasts unless renewed.
pub const LEASE_TTL_MS: i64 = 60_000;

/// A holder renews a lease that expires sooner than this before it makes a side effect, so no
/// other worker can take it over by expiry while the call is under way.
const SIDE_EFFECT_MARGIN_MS: i64 = LEASE_TTL_MS / 2;

/// This process, as a lease owner: `host:pid:start` (start = boot-relative start time).
pub fn me() -> String {
    let pid = std::process::id();
    format!("{}:{pid}:{}", host(), start_time(pid).unwrap_or_default())
}

/// A new worker of this process: `host:pid:start#N`, N unique within the process.
pub fn worker() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{}#{}", me(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The process part of a lease owner (owners written before workers were numbered have none).
pub fn process_of(owner: &str) -> &str {
    owner.split_once('#').map_or(owner, |(process, _)| process)
}

/// This machine's host name.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot; `None` when
/// there is no such process or it has exited and only waits to be reaped (a zombie).
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    start_time_of_stat(&stat)
}

fn start_time_of_stat(stat: &str) -> Option<String> {
    // The command name (field 2) may contain spaces; fields after it are space-separated,
    // starting with the state (field 3).
    let mut fields = stat[stat.rfind(')')? + 2..].split(' ');
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.nth(18).map(str::to_owned)
}

/// Whether `owner` is a worker of a process on this host that no longer exists (a reused pid
/// has another start time).
pub fn owner_is_dead(owner: &str) -> bool {
    let mut parts = process_of(owner).rsplitn(3, ':');
    let (Some(start), Some(pid), Some(h)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if h != host() {
        return false;
    }
    match pid.parse::<u32>() {
        Ok(pid) => start_time(pid).as_deref() != Some(start),
        Err(_) => false,
    }
}

/// A held lease, renewed in the background until released.
#[derive(Debug)]
pub struct Held {
    pub fence: Fence,
    /// The worker holding it.
    pub owner: String,
    store: Arc<dyn Store>,
    renewer: JoinHandle<()>,
    /// Set once a renewal or a check found the lease taken over.
    lost: Arc<AtomicBool>,
}

impl Held {
    /// Releases the lease.
    pub async fn release(self) {
        self.renewer.abort();
        if let Err(e) = self.store.release_lease(&self.fence).await {
            tracing::warn!(error = %e, account = %self.fence.account_id, "could not release a lease; it will expire");
        }
    }

    /// Checks, right before a side effect (`what`: an IAM call, a delivery), that this worker
    /// still holds the lease and that it will not expire during the call (it is renewed when it
    /// would expire within [`SIDE_EFFECT_MARGIN_MS`]). A worker paused or cut off past its lease
    /// (another worker took over) stops here instead of calling IAM with a stale view.
    pub async fn ensure(&self, now: DateTime<Utc>, what: &str) -> Result<()> {
        if !self.lost.load(Ordering::SeqCst) {
            let state = self.store.lease_state(&self.fence.account_id).await?;
            let held = match state {
                Some((token, expires_at)) if token == self.fence.token => {
                    expires_at.timestamp_millis() - now.timestamp_millis() > SIDE_EFFECT_MARGIN_MS
                        || self.store.renew_lease(&self.fence, now, LEASE_TTL_MS).await?
                }
                _ => false,
            };
            if held {
                return Ok(());
            }
            self.lost.store(true, Ordering::SeqCst);
        }
        tracing::warn!(account = %self.fence.account_id, owner = %self.owner, before = what,
            "stopped: the lease was taken over by another worker");
        Err(Error::conflict(
            format!(
                "stopped before {what}: the lease on account {} was taken over by another worker",
                self.fence.account_id
            ),
            "the worker holding the lease now continues the work; nothing was called after the lease was lost",
        ))
    }
}

impl Engine {
    /// Takes `account`'s lease for a new worker, taking over from a dead owner on this host.
    /// A lease held by a live worker (of this process or another) is [`Error::Busy`], naming
    /// the rotation under way when it is journaled.
    pub async fn lease(&self, account: &AccountId) -> Result<Held> {
        let me = worker();
        let mut steal: Option<String> = None;
        loop {
            match self.store.acquire_lease(account, &me, self.clock.now(), LEASE_TTL_MS, steal.as_deref()).await? {
                LeaseOutcome::Acquired(fence) => return Ok(self.hold(fence, me)),
                LeaseOutcome::Held { owner, expires_at } => {
                    if steal.is_none() && owner_is_dead(&owner) {
                        tracing::info!(%account, %owner, "taking over the lease of a process that died");
                        steal = Some(owner);
                        continue;
                    }
                    return Err(self.busy(account, &owner, expires_at).await);
                }
            }
        }
    }

    /// The answer to a request for an account another live worker holds.
    async fn busy(&self, account: &AccountId, owner: &str, until: DateTime<Utc>) -> Error {
        let open = self.store.rotations(Some(account), true, 1).await.ok().and_then(|r| r.into_iter().next());
        let whose = if process_of(owner) == me() { "another task of this process" } else { "another rekey worker" };
        match open {
            Some(r) => Error::Busy {
                what: format!(
                    "rotation {} of account {account} is under way (phase {}), worked by {whose} ({owner}, lease until {until})",
                    r.id, r.phase
                ),
                hint: format!(
                    "nothing was done; follow it with `rekey rotation show {}` (GET /api/v1/rotations/{})",
                    r.id, r.id
                ),
                rotation: Some(r.id),
            },
            None => Error::Busy {
                what: format!("account {account} is being worked by {whose} ({owner}, lease until {until})"),
                hint: "nothing was done; try again once it has finished (`rekey recover` takes over a worker that stopped)"
                    .into(),
                rotation: None,
            },
        }
    }

    /// Takes the lease of a server-wide job (an audit export, the notifier) so that one node
    /// of several works it at a time; `None` while another live worker holds it. Job leases
    /// live beside account leases under an id derived from the job's name.
    pub async fn lease_job(&self, job: &str) -> Result<Option<Held>> {
        match self.lease(&job_lease_id(job)).await {
            Ok(held) => Ok(Some(held)),
            Err(Error::Busy { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn hold(&self, fence: Fence, owner: String) -> Held {
        let store = self.store.clone();
        let clock = self.clock.clone();
        let f = fence.clone();
        let lost = Arc::new(AtomicBool::new(false));
        let lost_seen = lost.clone();
        let renewer = tokio::spawn(async move {
            let period = std::time::Duration::from_millis(u64::try_from(LEASE_TTL_MS / 3).unwrap_or(20_000));
            loop {
                tokio::time::sleep(period).await;
                match store.renew_lease(&f, clock.now(), LEASE_TTL_MS).await {
                    Ok(true) => {}
                    Ok(false) => {
                        lost_seen.store(true, Ordering::SeqCst);
                        break;
                    }
                    Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
                }
            }
        });
        Held { fence, owner, store: self.store.clone(), renewer, lost }
    }
}

/// The lease id of job `job`: 40 bits of SHA-256 of `rekey-job:JOB`, as an account id. A clash
/// with one of a vault's accounts has odds of 2^-40 per account; fencing still protects the
/// rotation's journal writes if it ever happened.
pub fn job_lease_id(job: &str) -> AccountId {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("rekey-job:{job}").as_bytes());
    AccountId::from_bits(h[..5].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_lease_ids_are_stable_and_distinct() {
        assert_eq!(job_lease_id("export:siem"), job_lease_id("export:siem"));
        assert_ne!(job_lease_id("export:siem"), job_lease_id("notify"));
    }

    #[test]
    fn workers_of_one_process_are_distinct_owners() {
        let (a, b) = (worker(), worker());
        assert_ne!(a, b, "two tasks of one process are two owners");
        assert_eq!((process_of(&a), process_of(&b)), (me().as_str(), me().as_str()));
        assert!(!owner_is_dead(&a), "a worker of this live process is alive");
        assert!(owner_is_dead(&format!("{}:{}:1#7", host(), std::process::id())), "a worker of a reused pid is dead");
    }

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_dead() {
        assert!(!owner_is_dead(&me()));
        let fake = format!("{}:{}:1", host(), std::process::id());
        assert!(owner_is_dead(&fake), "same pid, other start time: a reused pid");
        assert!(!owner_is_dead("some-other-host:1:1"), "other hosts are never judged");
    }

    #[test]
    fn an_exited_owner_not_yet_reaped_is_dead() {
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        // Until this test reaps it, the exited child stays a zombie.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let stat = loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the child's stat");
            if stat[stat.rfind(')').unwrap() + 2..].starts_with('Z') {
                break stat;
            }
            assert!(std::time::Instant::now() < deadline, "the child never exited: {stat}");
            std::thread::yield_now();
        };
        let started = stat[stat.rfind(')').unwrap() + 2..].split(' ').nth(19).unwrap().to_owned();
        assert_eq!(start_time_of_stat(&stat.replacen(") Z ", ") S ", 1)), Some(started.clone()));
        assert!(owner_is_dead(&format!("{}:{pid}:{started}", host())), "a zombie holds no lease");
        child.wait().expect("reap the child");
    }
}
