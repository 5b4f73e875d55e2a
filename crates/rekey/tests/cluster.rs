//! The concurrency suite's cluster case: three `rekey serve` nodes on one PostgreSQL vault
//! (REKEY_TEST_POSTGRES_URL, a fresh schema), many accounts due on a short interval, moto with
//! authentication through the model of real AWS. Each node reaches the database through a link
//! the test can cut (common/link.rs) and is named (`REKEY_NODE`) so that no node can tell
//! another's death from its process: every takeover waits for the lease to expire, as between
//! hosts. Leases last 5 s.
//!
//! Each trial (`REKEY_CLUSTER_TRIALS`, default 6) starts the nodes, waits until the trial's
//! node is mid-rotation, and does one thing to it, in turn:
//! - kill -9: its rotations are finished by another node (the failover time is the kill to the
//!   first journal write of the new worker);
//! - SIGSTOP until another node has taken its leases over, then SIGCONT: it is fenced (no
//!   write, no AWS call) and says so in its log;
//! - cut its database link until its leases are taken over: it says it is not ready, logs the
//!   outage once, and is ready again once the link heals.
//!
//! Then the nodes stop, `rekey recover` finishes what the stop interrupted, and the promise is
//! checked (common/invariants.rs). At the end, every account was rotated at most once per
//! schedule period: no rotation started before the period its predecessor's commit opened was
//! over. The figures are printed (run with `--nocapture`, or see the test's output in nextest).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{
    invariants::{self, Db},
    link::{through, Link},
    pg,
    server::Server,
    suite::{self, now_ms, soak, until},
    Sandbox,
};
use std::{collections::BTreeMap, time::Duration};

/// Lease length of the nodes.
const LEASE_TTL: &str = "5s";
/// Every account is due this often (the shortest interval `account set --every` accepts).
const EVERY_MS: i64 = 60_000;
/// A bound on any one wait of the test (a hung test fails instead of hanging CI).
const PATIENCE: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Kill,
    Pause,
    Cut,
}

/// What the run measured.
#[derive(Debug, Default)]
struct Figures {
    kills: usize,
    pauses: usize,
    cuts: usize,
    /// Kill or pause to the first journal write of the worker that took the rotation over, ms.
    failovers: Vec<i64>,
    fenced: usize,
    takeovers_reported: u64,
}

struct Cluster {
    sb: Sandbox,
    links: Vec<Link>,
    nodes: Vec<Option<Server>>,
    /// Stopped or killed nodes, kept for their logs.
    gone: Vec<Server>,
    /// The vault URL each node uses (through its link).
    urls: Vec<String>,
}

impl Cluster {
    fn node_env(&self, i: usize) -> Vec<(String, String)> {
        [
            ("REKEY_VAULT", self.urls[i].as_str()),
            ("REKEY_NODE", &format!("node{i}")),
            ("REKEY_LEASE_TTL", LEASE_TTL),
            ("REKEY_SCHEDULER_INTERVAL", "500ms"),
            ("REKEY_SCHEDULER_CONCURRENCY", "4"),
            ("REKEY_PUBLIC_METRICS", "true"),
            ("REKEY_LOG", "info"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn start(&mut self, i: usize) {
        let env = self.node_env(i);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.nodes[i] = Some(Server::start(&self.sb, &env));
    }

    fn node(&self, i: usize) -> &Server {
        self.nodes[i].as_ref().unwrap()
    }

    /// The open rotations whose lease node `i` holds now: (rotation, account).
    fn held_by(&self, i: usize) -> Vec<(String, String)> {
        Db::of(&self.sb.vault).rows(&format!(
            "SELECT r.id, r.account_id FROM leases l JOIN rotations r ON r.account_id = l.account_id \
             WHERE l.owner LIKE 'node{i}:%' AND l.expires_at > {} AND r.phase NOT IN ('done', 'aborted')",
            now_ms()
        ))
    }

    /// Whether every lease of `accounts` is held by a node other than `i`, or finished.
    fn taken_from(&self, i: usize, rotations: &[(String, String)]) -> bool {
        let db = Db::of(&self.sb.vault);
        rotations.iter().all(|(rot, account)| {
            let owner: Vec<(String,)> = db.rows(&format!("SELECT owner FROM leases WHERE account_id = '{account}'"));
            let phase: Vec<(String,)> = db.rows(&format!("SELECT phase FROM rotations WHERE id = '{rot}'"));
            !owner[0].0.starts_with(&format!("node{i}:")) || matches!(phase[0].0.as_str(), "done" | "aborted")
        })
    }

    fn wait_mid_rotation(&self, i: usize) -> Vec<(String, String)> {
        until(&format!("node{i} works a rotation"), PATIENCE, || Some(self.held_by(i)).filter(|h| !h.is_empty()))
    }

    fn stop_all(&mut self) {
        for slot in &mut self.nodes {
            if let Some(node) = slot.take() {
                let mut node = node;
                let status = node.terminate_within(PATIENCE);
                assert_eq!(status.and_then(|s| s.code()), Some(0), "a node stops cleanly: {}", node.log_text());
                self.gone.push(node);
            }
        }
    }

    /// Every node's log, in the order the nodes went (then those still running).
    fn logs(&self) -> String {
        self.gone.iter().chain(self.nodes.iter().flatten()).map(Server::log_text).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // What the nodes said, for the failure's diagnosis (their own warnings and notices).
            let logs = self.logs();
            let notable = logs
                .lines()
                .filter(|l| ["WARN", "ERROR", "took over", "fenced", "rekey serve:"].iter().any(|k| l.contains(k)));
            eprintln!("node logs (notable lines):\n{}", notable.collect::<Vec<_>>().join("\n"));
        }
    }
}

/// The journal write of `rotation` after `t0` by the worker that took it over, minus `t0`.
fn failover(sb: &Sandbox, rotation: &str, t0: i64) -> i64 {
    let first = until("another node resumes the rotation", PATIENCE, || {
        suite::journal(sb).get(rotation).and_then(|r| r.phases.iter().map(|(_, t)| *t).find(|t| *t > t0))
    });
    until("the rotation finishes", PATIENCE, || {
        suite::journal(sb)
            .get(rotation)
            .filter(|r| r.phases.last().is_some_and(|(p, _)| p == "done" || p == "aborted"))
            .map(drop)
    });
    first - t0
}

#[test]
fn three_nodes_on_one_postgres_vault_with_kills_pauses_and_cuts() {
    let Some(schema) = pg::schema() else { return };
    let (moto, sb, seeded) = suite::world(Some(schema.url.clone()));
    let n = soak("REKEY_CLUSTER_ACCOUNTS", 8, 3);
    let every = format!("{}s", EVERY_MS / 1000);
    let settings =
        ["--every", &every, "--verify-successes", "3", "--verify-backoff", "300ms", "--previous-key", "delete"];
    let accounts = suite::accounts(&moto, &sb, &seeded.admin, "app", n, "apps", &settings);
    // Spread the first due times over one period.
    let db = Db::of(&sb.vault);
    let ids: Vec<(String,)> = db.rows("SELECT id FROM accounts ORDER BY id");
    for (k, (id,)) in ids.iter().enumerate() {
        let due = now_ms() + EVERY_MS * i64::try_from(k).unwrap() / i64::try_from(n).unwrap();
        db.execute(&format!("UPDATE accounts SET next_due_at = {due} WHERE id = '{id}'"));
    }
    let mut links = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..3 {
        let (_, upstream) = through(&schema.url, 0);
        let link = Link::start(&upstream);
        urls.push(through(&schema.url, link.port).0);
        links.push(link);
    }
    let mut c = Cluster { sb, links, nodes: vec![None, None, None], gone: Vec::new(), urls };
    let trials = soak("REKEY_CLUSTER_TRIALS", 6, 5);
    let mut f = Figures::default();
    for trial in 0..trials {
        for i in 0..3 {
            if c.nodes[i].is_none() {
                c.start(i);
            }
        }
        let target = trial % 3;
        let fault = [Fault::Kill, Fault::Pause, Fault::Cut][trial % 3];
        match fault {
            Fault::Kill => kill(&mut c, target, &mut f),
            Fault::Pause => pause(&c, target, &mut f),
            Fault::Cut => cut(&c, target, &mut f),
        }
        for node in c.nodes.iter().flatten() {
            let (_, metrics) = node.call("GET", "/metrics", None, None);
            f.takeovers_reported += metrics
                .lines()
                .find_map(|l| l.strip_prefix("rekey_lease_takeovers_total "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
        c.stop_all();
        let out = c.sb.rekey().args(["recover", "-o", "json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "trial {trial}: {}", String::from_utf8_lossy(&out.stderr));
        let figures = invariants::check(&moto, &seeded.admin, &[&c.sb]);
        assert_eq!(figures.credentials, accounts.len(), "trial {trial}: {figures:?}");
    }
    let logs = c.logs();
    f.fenced = logs.matches("fenced: the lease was taken over").count();
    let per_period = once_per_period(&c.sb);
    let committed = per_period.values().sum::<usize>();
    assert!(!logs.contains("panicked"), "{logs}");
    let mut sorted = f.failovers.clone();
    sorted.sort_unstable();
    eprintln!(
        "three nodes, {n} accounts due every {every}, lease {LEASE_TTL}: {trials} trials, {} kills, {} pauses, {} cuts; \
         {committed} rotations committed, at most 1 per account per period; failover (ms, kill or pause to the new \
         worker's first write): {sorted:?}, max {}; takeovers reported by the nodes: {}; fenced workers: {}; lost \
         credentials: 0; orphans: 0",
        f.kills,
        f.pauses,
        f.cuts,
        sorted.last().copied().unwrap_or(0),
        f.takeovers_reported,
        f.fenced
    );
    assert!(f.fenced >= f.pauses, "every paused node said it was fenced: {f:?}");
}

fn kill(c: &mut Cluster, i: usize, f: &mut Figures) {
    c.wait_mid_rotation(i);
    let mut node = c.nodes[i].take().unwrap();
    node.kill();
    let t0 = now_ms();
    c.gone.push(node);
    f.kills += 1;
    // What it held when it died (its leases stay in its name until they expire).
    let held: Vec<(String, String)> = Db::of(&c.sb.vault).rows(&format!(
        "SELECT r.id, r.account_id FROM leases l JOIN rotations r ON r.account_id = l.account_id \
         WHERE l.owner LIKE 'node{i}:%' AND r.phase NOT IN ('done', 'aborted')"
    ));
    for (rotation, _) in &held {
        f.failovers.push(failover(&c.sb, rotation, t0));
    }
    c.start(i);
}

fn pause(c: &Cluster, i: usize, f: &mut Figures) {
    let node = c.node(i);
    let held = until("node paused mid-rotation", PATIENCE, || {
        c.wait_mid_rotation(i);
        node.signal("STOP");
        let held = c.held_by(i);
        if held.is_empty() {
            node.signal("CONT");
            return None;
        }
        Some(held)
    });
    let t0 = now_ms();
    f.pauses += 1;
    until("another node takes the paused node's leases over", PATIENCE, || c.taken_from(i, &held).then_some(()));
    node.signal("CONT");
    for (rotation, _) in &held {
        f.failovers.push(failover(&c.sb, rotation, t0));
    }
    until("the resumed node says it was fenced", PATIENCE, || {
        node.log_text().contains("fenced: the lease was taken over").then_some(())
    });
}

fn cut(c: &Cluster, i: usize, f: &mut Figures) {
    let held = c.wait_mid_rotation(i);
    let node = c.node(i);
    let outages_before = node.log_text().matches("the vault's database is out").count();
    c.links[i].cut();
    f.cuts += 1;
    let not_ready = until("the cut node says it is not ready", PATIENCE, || {
        let (status, body) = node.json("GET", "/readyz", None, None);
        (status == 503).then_some(body)
    });
    assert!(not_ready["problems"].to_string().contains("store"), "{not_ready}");
    until("another node takes the cut node's leases over", PATIENCE, || c.taken_from(i, &held).then_some(()));
    until("the cut node logs the outage", PATIENCE, || {
        (node.log_text().matches("the vault's database is out").count() > outages_before).then_some(())
    });
    c.links[i].heal();
    until("the healed node is ready again", PATIENCE, || {
        (node.call("GET", "/readyz", None, None).0 == 200).then_some(())
    });
    // Logged when it starts (by the store, and by the scheduler), not at every call or tick.
    let outages = node.log_text().matches("the vault's database is out").count() - outages_before;
    assert!((1..=4).contains(&outages), "the outage is logged a few times, not in a loop: {outages}");
}

/// Committed rotations per account, after checking that none started within the period its
/// predecessor's commit opened: a scheduled rotation claims its period when the account's next
/// due time (the commit's clock, no earlier than the write before it, plus the interval) has
/// passed.
fn once_per_period(sb: &Sandbox) -> BTreeMap<String, usize> {
    let mut by_account: BTreeMap<String, Vec<suite::Journaled>> = BTreeMap::new();
    for r in suite::journal(sb).into_values() {
        by_account.entry(r.account.clone()).or_default().push(r);
    }
    let mut committed = BTreeMap::new();
    for (account, mut rotations) in by_account {
        rotations.sort_by_key(suite::Journaled::started);
        let mut previous: Option<&suite::Journaled> = None;
        for r in &rotations {
            if let Some(p) = previous {
                let opened = p.before_commit().unwrap();
                assert!(
                    r.started() >= opened + EVERY_MS,
                    "account {account} rotated twice in one period: {} started {} ms after {} committed",
                    r.id,
                    r.started() - opened,
                    p.id
                );
            }
            if r.at("committed").is_some() {
                previous = Some(r);
                *committed.entry(account.clone()).or_default() += 1;
            }
        }
    }
    committed
}
