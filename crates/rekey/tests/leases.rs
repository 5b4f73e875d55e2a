//! The lease suite: who may act on IAM, judged across processes whose view of time differs. A
//! `rekey serve` node (leases of 5 s, named so that no other process can judge it dead by its
//! pid) rotates an account whose IAM calls go through the fault proxy (common/proxy.rs), beside
//! moto with authentication through the model of real AWS; the vault is SQLite, or PostgreSQL
//! when REKEY_TEST_POSTGRES_URL is set.
//!
//! - A holder whose IAM call is held back (a request waiting in a slow network or a client's
//!   queue) while it is cut off from the database (PostgreSQL: its link cut; SQLite: the test
//!   holds the vault's write lock, so its renewals fail) gives the call up before its lease can
//!   expire by the database's clock. Once it has expired, `rekey recover` takes the rotation
//!   over and finishes it; the held request, let go only then, is dropped, since nobody waits
//!   for it any more. Each trial holds another call: CreateAccessKey, TagUser, UpdateAccessKey,
//!   DeleteAccessKey (`REKEY_SOAK_TRIALS`, default 4).
//! - A holder that abandoned its call that way leaves its lease to expire, even once it is back
//!   in touch with the database (a request of the call may still be on its way to IAM): another
//!   worker is refused the account until the lease expires by the database's clock, and takes
//!   it over after.
//! - A node whose clock is two hours fast cannot take a live lease over, nor can a live holder
//!   whose clock is two hours slow lose it (the test build's `REKEY_TEST_CLOCK_OFFSET`): the
//!   other worker is refused as busy, the lease keeps its holder and token, and the holder
//!   finishes the rotation alone.
//!
//! After each trial the promise is checked (common/invariants.rs).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{
    iam,
    invariants::{self, Db},
    link::{through, Link},
    pg,
    proxy::{Fault, FaultKind, Proxy},
    server::Server,
    suite::{self, now_ms, soak, until},
    Moto, Sandbox,
};
use std::{sync::mpsc, thread, time::Duration};

/// A bound on any one wait of the test (a hung test fails instead of hanging CI).
const PATIENCE: Duration = Duration::from_secs(120);

/// Fast verification, retirement at once, a schedule the test moves by hand.
const SETTINGS: &[&str] = &[
    "--verify-successes",
    "1",
    "--verify-backoff",
    "50ms",
    "--verify-deadline",
    "20s",
    "--previous-key",
    "delete",
    "--deactivate-after",
    "0s",
    "--delete-after",
    "0s",
    "--every",
    "1h",
];

struct World {
    moto: Moto,
    proxy: Proxy,
    sb: Sandbox,
    seeded: iam::Seeded,
    /// The account (reference, id).
    account: (String, String),
}

/// moto with authentication, the proxy in front of it, a vault (SQLite, or `vault`) whose
/// provider `p` goes through the proxy, and one account with a key rekey created.
fn world(vault: Option<String>) -> World {
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", iam::SEED_REQUESTS)]);
    let seeded = iam::seed_with_auth(&moto);
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    // IAM holds no key no vault has: the seeded svc key goes.
    iam::block_on(admin.delete_access_key().user_name("svc").access_key_id(&seeded.svc.0).send()).unwrap();
    let proxy = Proxy::start(moto.port);
    let sb = vault.map_or_else(Sandbox::new, Sandbox::with_vault);
    sb.init_with_key_file();
    sb.add_provider_at(&proxy.url, "p", &seeded.admin);
    let account = suite::accounts(&moto, &sb, &seeded.admin, "app", 1, "apps", SETTINGS).remove(0);
    let id = sb.json(&["account", "show", &account])["id"].as_str().unwrap().to_owned();
    World { moto, proxy, sb, seeded, account: (account, id) }
}

impl World {
    fn db(&self) -> Db {
        Db::of(&self.sb.vault)
    }

    /// A node: leases of 5 s, a scheduler, and the database at `vault`.
    fn node(&self, vault: &str, extra: &[(&str, &str)]) -> Server {
        let mut env = vec![
            ("REKEY_VAULT", vault),
            ("REKEY_NODE", "node-a"),
            ("REKEY_LEASE_TTL", "5s"),
            ("REKEY_SCHEDULER_INTERVAL", "200ms"),
            // Only the lease may end a held call: the SDK would wait a minute.
            ("REKEY_AWS_ATTEMPT_TIMEOUT", "60s"),
            ("REKEY_LOG", "info"),
        ];
        env.extend_from_slice(extra);
        Server::start(&self.sb, &env)
    }

    /// Makes the account due (for any clock within hours of the host's).
    fn due_now(&self) {
        let due = now_ms() - 3 * 3_600_000;
        self.db().execute(&format!("UPDATE accounts SET next_due_at = {due} WHERE id = '{}'", self.account.1));
    }

    /// The account's lease: owner, token, expiry, and the database's time now (ms).
    fn lease(&self) -> (String, i64, i64, i64) {
        let now = if self.sb.vault.starts_with("sqlite:") {
            "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
        } else {
            "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
        };
        let sql = format!("SELECT owner, token, expires_at, {now} FROM leases WHERE account_id = '{}'", self.account.1);
        self.db().rows(&sql).remove(0)
    }

    fn no_rotation_open(&self) -> bool {
        let open: Vec<(i64,)> = self.db().rows(&format!(
            "SELECT COUNT(*) FROM rotations WHERE account_id = '{}' AND phase NOT IN ('done', 'aborted')",
            self.account.1
        ));
        open[0].0 == 0
    }

    /// Who journaled the phases of rotations after audit event `after`, in order.
    fn phase_writers(&self, after: i64) -> Vec<(String, String)> {
        let rows: Vec<(String, String)> = self.db().rows(&format!(
            "SELECT actor, detail FROM audit_events WHERE action = 'rotation.phase' AND seq > {after} ORDER BY seq"
        ));
        rows.into_iter()
            .map(|(actor, detail)| {
                let v: serde_json::Value = serde_json::from_str(&detail).unwrap();
                (actor, v["phase"].as_str().unwrap_or_default().to_owned())
            })
            .collect()
    }

    /// Lets the held request go, resumes the node (healing `link`) and stops it: it exits 0, did
    /// not panic, and none of its requests reached IAM late. Its log.
    fn stop_node(&self, node: &mut Server, link: Option<&Link>, trial: usize) -> String {
        self.proxy.release();
        until("the held request is forwarded or dropped", PATIENCE, || (self.proxy.holding() == 0).then_some(()));
        node.signal("CONT");
        if let Some(link) = link {
            link.heal();
        }
        let status = node.terminate_within(PATIENCE);
        let log = node.log_text();
        assert_eq!(status.and_then(|s| s.code()), Some(0), "trial {trial}: the node stops cleanly: {log}");
        assert!(
            self.proxy.forwarded_late().is_empty(),
            "trial {trial}: a request of the cut-off node reached IAM late"
        );
        assert!(!log.contains("panicked"), "{log}");
        log
    }

    /// After the node let go: `recover` finished the rotation begun after audit event `before`,
    /// the node wrote no phase once recover had taken over, and IAM and the vault agree.
    fn finished_by_recover(&self, before: i64, trial: usize) {
        assert!(self.no_rotation_open(), "trial {trial}: recover finished the rotation");
        let writers = self.phase_writers(before);
        let taken = writers.iter().position(|(actor, _)| actor.starts_with("cli:")).unwrap();
        assert!(writers[taken..].iter().all(|(actor, _)| actor.starts_with("cli:")), "trial {trial}: {writers:?}");
        assert_eq!(writers.last().map(|(_, p)| p.as_str()), Some("done"), "trial {trial}: {writers:?}");
        invariants::check(&self.moto, &self.seeded.admin, &[&self.sb]);
    }

    fn audit_head(&self) -> i64 {
        let head: Vec<(i64,)> = self.db().rows("SELECT COALESCE(MAX(seq), 0) FROM audit_events");
        head[0].0
    }
}

/// The vault's write lock, held by the test (SQLite): every process's writes wait for it and
/// fail after their busy timeout, a node's lease renewals among them, while reads go on.
struct WriteLock {
    release: mpsc::Sender<()>,
    holder: thread::JoinHandle<()>,
}

impl WriteLock {
    fn take(vault: &str) -> Self {
        let path = vault.strip_prefix("sqlite:").unwrap().to_owned();
        let (locked, is_locked) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let holder = thread::spawn(move || {
            iam::block_on(async move {
                let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
                let mut c = sqlx::ConnectOptions::connect(&opts).await.unwrap();
                sqlx::query("BEGIN IMMEDIATE").execute(&mut c).await.unwrap();
                locked.send(()).unwrap();
                let _ = released.recv();
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            });
        });
        is_locked.recv().unwrap();
        Self { release, holder }
    }

    fn release(self) {
        drop(self.release);
        self.holder.join().unwrap();
    }
}

fn held_call_is_given_up_before_the_lease_can_expire(vault: Option<String>) {
    let w = world(vault);
    let sqlite = w.sb.vault.starts_with("sqlite:");
    let trials = soak("REKEY_SOAK_TRIALS", 4, 1);
    for trial in 0..trials {
        let action = ["CreateAccessKey", "TagUser", "UpdateAccessKey", "DeleteAccessKey"][trial % 4];
        let link = (!sqlite).then(|| Link::start(&through(&w.sb.vault, 0).1));
        let node_vault = link.as_ref().map_or_else(|| w.sb.vault.clone(), |l| through(&w.sb.vault, l.port).0);
        let before = w.audit_head();
        w.proxy.arm(Fault { action: action.into(), kind: FaultKind::Held, skip: 0, times: 1 });
        let mut node = w.node(&node_vault, &[]);
        w.due_now();
        until(&format!("trial {trial}: the node's {action} is held"), PATIENCE, || {
            (w.proxy.injected() == 1).then_some(())
        });
        // Cut off from the database, its renewals fail; IAM still answers it.
        let lock = match &link {
            Some(link) => {
                link.cut();
                None
            }
            None => Some(WriteLock::take(&w.sb.vault)),
        };
        let (owner, _, expires_at, _) = until("the node's lease expires by the database's clock", PATIENCE, || {
            Some(w.lease()).filter(|(_, _, expires_at, now)| expires_at <= now)
        });
        assert!(owner.starts_with("node-a:"), "trial {trial}: {owner}");
        // Frozen from here on, it cannot race the worker that takes over (fencing is the cluster
        // suite's business); what it did before is what this test is about.
        node.signal("STOP");
        let given_up = w.proxy.given_up();
        if let Some(lock) = lock {
            lock.release();
        }
        let out = w.sb.rekey().args(["recover", "-o", "json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "trial {trial}: {}", String::from_utf8_lossy(&out.stderr));
        // The held request goes now: to IAM if its client still waits for it.
        let log = w.stop_node(&mut node, link.as_ref(), trial);
        assert!(
            given_up.iter().any(|(a, at)| a == action && *at < expires_at),
            "trial {trial}: the node gave its {action} up before its lease expired at {expires_at}: {given_up:?}\n{log}"
        );
        // It says so: it gave the call up (cut off), or found itself fenced (told once healed).
        let said = log.contains("gave up on a call") || log.contains("fenced: the lease was taken over");
        assert!(said && log.contains(action), "trial {trial}: {log}");
        w.finished_by_recover(before, trial);
    }
}

#[test]
fn a_held_call_is_given_up_before_the_lease_can_expire_sqlite() {
    held_call_is_given_up_before_the_lease_can_expire(None);
}

#[test]
fn a_held_call_is_given_up_before_the_lease_can_expire_postgres() {
    let Some(schema) = pg::schema() else { return };
    held_call_is_given_up_before_the_lease_can_expire(Some(schema.url.clone()));
}

/// The lease of the abandonment test: long enough that its safety gap (a sixth) leaves time to
/// look at the lease, and to run another worker, between the abandonment and the expiry.
const LONG_TTL: &str = "30s";

fn abandoned_call_leaves_the_lease_to_expire(vault: Option<String>) {
    let w = world(vault);
    let sqlite = w.sb.vault.starts_with("sqlite:");
    let trials = soak("REKEY_SOAK_TRIALS", 2, 1);
    for trial in 0..trials {
        let action = ["CreateAccessKey", "TagUser"][trial % 2];
        let link = (!sqlite).then(|| Link::start(&through(&w.sb.vault, 0).1));
        let node_vault = link.as_ref().map_or_else(|| w.sb.vault.clone(), |l| through(&w.sb.vault, l.port).0);
        let (before, given_up_before) = (w.audit_head(), w.proxy.given_up().len());
        w.proxy.arm(Fault { action: action.into(), kind: FaultKind::Held, skip: 0, times: 1 });
        let mut node = w.node(&node_vault, &[("REKEY_LEASE_TTL", LONG_TTL)]);
        w.due_now();
        until(&format!("trial {trial}: the node's {action} is held"), PATIENCE, || {
            (w.proxy.injected() == 1).then_some(())
        });
        let lock = match &link {
            Some(link) => {
                link.cut();
                None
            }
            None => Some(WriteLock::take(&w.sb.vault)),
        };
        until(&format!("trial {trial}: the cut-off node abandons its {action}"), PATIENCE, || {
            (w.proxy.given_up().len() > given_up_before).then_some(())
        });
        let (holder, token, _, _) = w.lease();
        // Back in touch at once: a release it made now would reach the database.
        if let Some(link) = &link {
            link.heal();
        }
        if let Some(lock) = lock {
            lock.release();
        }
        // Its rotation ended: the worker is gone from the node's lease holders (a release, had
        // it made one, came first). The scheduler's next ticks find the account busy.
        until(&format!("trial {trial}: the worker that gave its {action} up stops"), PATIENCE, || {
            let (_, ready) = node.json("GET", "/readyz", None, None);
            (node.log_text().contains("gave up on a call") && ready["workers"]["active"] == 0).then_some(())
        });
        let (owner, token_now, expires_at, now) = w.lease();
        let log = node.log_text();
        assert!(
            (&owner, token_now) == (&holder, token) && expires_at > now,
            "trial {trial}: the lease of the worker that abandoned its {action} is left to expire, not released: \
             owner {owner:?} (was {holder:?}), token {token_now} (was {token}), expires at {expires_at}, database \
             time {now}\n{log}"
        );
        let gave_up = format!("owner={holder} call=\"{action}\"");
        assert!(holder.starts_with("node-a:") && log.contains(&gave_up), "trial {trial}: the node's worker: {log}");
        // Frozen from here on, the node cannot take the lease back once it expires.
        node.signal("STOP");
        let out = w.sb.rekey().args(["rotate", &w.account.0, "-o", "json"]).output().unwrap();
        let text = format!("{} {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let (_, token_after, _, refused_by) = w.lease();
        assert!(refused_by < expires_at, "trial {trial}: the other worker ran before the lease's expiry");
        let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        assert_eq!(reports[0]["outcome"], "refused", "trial {trial}: taken before the lease expired: {text}");
        assert!(text.contains(&owner), "trial {trial}: the refusal names the holder {owner}: {text}");
        assert_eq!(token_after, token, "trial {trial}: the lease was not taken");

        until("the abandoned lease expires by the database's clock", PATIENCE, || {
            Some(w.lease()).filter(|(_, _, _, now)| *now >= expires_at)
        });
        let out = w.sb.rekey().args(["recover", "-o", "json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "trial {trial}: {}", String::from_utf8_lossy(&out.stderr));
        let (_, taken, _, _) = w.lease();
        assert!(taken > token, "trial {trial}: another worker took the lease once it expired");
        w.stop_node(&mut node, None, trial);
        w.finished_by_recover(before, trial);
    }
}

#[test]
fn an_abandoned_call_leaves_the_lease_to_expire_sqlite() {
    abandoned_call_leaves_the_lease_to_expire(None);
}

#[test]
fn an_abandoned_call_leaves_the_lease_to_expire_postgres() {
    let Some(schema) = pg::schema() else { return };
    abandoned_call_leaves_the_lease_to_expire(Some(schema.url.clone()));
}

/// (holder's clock offset, other worker's clock offset).
const SKEWS: [(Option<&str>, Option<&str>); 2] = [(None, Some("2h")), (Some("-2h"), None)];

fn a_skewed_clock_takes_no_live_lease(vault: Option<String>) {
    let w = world(vault);
    let trials = soak("REKEY_SOAK_TRIALS", 2, 2);
    for trial in 0..trials {
        let (holder, other) = SKEWS[trial % 2];
        let before = w.audit_head();
        w.proxy.arm(Fault { action: "CreateAccessKey".into(), kind: FaultKind::Held, skip: 0, times: 1 });
        let skew: Vec<(&str, &str)> = holder.map(|h| ("REKEY_TEST_CLOCK_OFFSET", h)).into_iter().collect();
        let mut node = w.node(&w.sb.vault, &skew);
        w.due_now();
        until(&format!("trial {trial}: the node holds the lease, in CreateAccessKey"), PATIENCE, || {
            (w.proxy.injected() == 1).then_some(())
        });
        let (owner, token, _, _) = w.lease();
        let mut rotate = w.sb.rekey();
        if let Some(offset) = other {
            rotate.env("REKEY_TEST_CLOCK_OFFSET", offset);
        }
        let out = rotate.args(["rotate", &w.account.0, "-o", "json"]).output().unwrap();
        let text = format!("{} {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let after = w.lease();
        let given_up = w.proxy.given_up();
        w.proxy.release();
        until("the node finishes the rotation", PATIENCE, || w.no_rotation_open().then_some(()));
        let status = node.terminate_within(PATIENCE);
        let log = node.log_text();
        assert_eq!(status.and_then(|s| s.code()), Some(0), "trial {trial}: the node stops cleanly: {log}");

        let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        assert_eq!(reports[0]["outcome"], "refused", "trial {trial} ({holder:?}, {other:?}): {text}");
        assert!(text.contains("being worked by") || text.contains("under way"), "trial {trial}: {text}");
        assert_eq!((&after.0, after.1), (&owner, token), "trial {trial}: the lease kept its holder and token");
        assert!(given_up.is_empty(), "trial {trial}: the holder kept its call: {given_up:?}");
        assert!(!log.contains("fenced") && !log.contains("gave up on a call"), "trial {trial}: {log}");
        let writers = w.phase_writers(before);
        assert!(writers.iter().all(|(actor, _)| actor == "scheduler"), "trial {trial}: {writers:?}");
        assert_eq!(writers.last().map(|(_, p)| p.as_str()), Some("done"), "trial {trial}: {writers:?}");
        invariants::check(&w.moto, &w.seeded.admin, &[&w.sb]);
    }
}

#[test]
fn a_skewed_clock_takes_no_live_lease_sqlite() {
    a_skewed_clock_takes_no_live_lease(None);
}

#[test]
fn a_skewed_clock_takes_no_live_lease_postgres() {
    let Some(schema) = pg::schema() else { return };
    a_skewed_clock_takes_no_live_lease(Some(schema.url.clone()));
}
