//! Helpers of the concurrency suite (`concurrency.rs`, `cluster.rs`): trial counts from the
//! soak variables, a world of many accounts, the rotations a vault journaled (from its audit
//! log), and waiting for a condition.

use super::{iam, invariants::Db, Moto, Sandbox};
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

/// A count from the environment (a soak run raises it), at least `min`.
pub fn soak(var: &str, default: usize, min: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default).max(min)
}

/// Waits until `check` returns `Some`, polling every 20 ms, for at most `limit` (a bound on a
/// hung test, not a timing assertion): the value, or a panic naming `what`.
pub fn until<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting ({} s) for: {what}", limit.as_secs());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// moto with authentication on, and a vault (SQLite, or `vault` if given) opened by a key file,
/// with provider `p` signed by admin's key. The seeded user svc's key is deleted: the suite's
/// users are its own, and IAM holds no key that no vault has.
pub fn world(vault: Option<String>) -> (Moto, Sandbox, iam::Seeded) {
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", iam::SEED_REQUESTS)]);
    let seeded = iam::seed_with_auth(&moto);
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    iam::block_on(admin.delete_access_key().user_name("svc").access_key_id(&seeded.svc.0).send()).expect("delete");
    let sb = vault.map_or_else(Sandbox::new, Sandbox::with_vault);
    sb.init_with_key_file();
    sb.add_provider(&moto, "p", &seeded.admin);
    (moto, sb, seeded)
}

/// Creates IAM users `{prefix}0…` (admin signs) and adds each as an access-key account with a
/// key rekey creates, in `folder`, with `settings` (`account set` flags). Returns the account
/// references.
pub fn accounts(
    moto: &Moto,
    sb: &Sandbox,
    admin: &(String, String),
    prefix: &str,
    n: usize,
    folder: &str,
    settings: &[&str],
) -> Vec<String> {
    let c = iam::client_with(moto, &admin.0, &admin.1);
    let refs: Vec<String> = (0..n).map(|i| format!("p/{prefix}{i}/access-key")).collect();
    for i in 0..n {
        let user = format!("{prefix}{i}");
        iam::block_on(c.create_user().user_name(&user).send()).expect("create user");
        sb.rekey()
            .args(["account", "add", "--provider", "p", "--user", &user, "--kind", "access-key", "--create"])
            .args(["--folder", folder])
            .assert()
            .success();
    }
    for r in &refs {
        sb.rekey().args(["account", "set", r]).args(settings).assert().success();
    }
    refs
}

/// One rotation as its journal (the audit log) tells it.
#[derive(Debug, Clone, Default)]
pub struct Journaled {
    pub id: String,
    pub account: String,
    /// Each journaled phase with the time of its write (ms since the epoch), in order.
    pub phases: Vec<(String, i64)>,
}

impl Journaled {
    /// When `phase` was first journaled.
    pub fn at(&self, phase: &str) -> Option<i64> {
        self.phases.iter().find(|(p, _)| p == phase).map(|(_, t)| *t)
    }

    /// The first journal write (the claim of a scheduled rotation).
    pub fn started(&self) -> i64 {
        self.phases.first().map_or(0, |(_, t)| *t)
    }

    /// The last write before `committed`: the commit's schedule (next due = its clock + the
    /// interval) was read no earlier than this.
    pub fn before_commit(&self) -> Option<i64> {
        let i = self.phases.iter().position(|(p, _)| p == "committed")?;
        self.phases.get(i.checked_sub(1)?).map(|(_, t)| *t)
    }
}

/// Every rotation of the vault, by id, from its audit log (a stale writer cannot hide there:
/// each journal write appends its event in its own transaction).
pub fn journal(sb: &Sandbox) -> BTreeMap<String, Journaled> {
    let rows: Vec<(String, i64, Option<String>)> = Db::of(&sb.vault)
        .rows("SELECT detail, at, target FROM audit_events WHERE action = 'rotation.phase' ORDER BY seq");
    let mut out: BTreeMap<String, Journaled> = BTreeMap::new();
    for (detail, at, target) in rows {
        let v: serde_json::Value = serde_json::from_str(&detail).expect("audit detail is JSON");
        let id = v["rotation"].as_str().unwrap_or_default().to_owned();
        let r = out.entry(id.clone()).or_insert_with(|| Journaled {
            id,
            account: target.unwrap_or_default(),
            ..Journaled::default()
        });
        r.phases.push((v["phase"].as_str().unwrap_or_default().to_owned(), at));
    }
    out
}

/// The vault's clock now, in ms since the epoch (the test and the nodes share the host's).
pub fn now_ms() -> i64 {
    rekey_domain::Clock::now(&rekey_domain::SystemClock).timestamp_millis()
}
