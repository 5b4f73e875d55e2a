//! The promise, checked after every trial of the concurrency tests (and wherever else it helps):
//!
//! 1. every vault account's current credential works: its access key authenticates against moto
//!    (which verifies signatures) as its user; its password is the one moto stores;
//! 2. IAM holds no key whose secret no vault has (no orphan);
//! 3. no user holds more keys than its accounts' policies allow (one under policy `delete`
//!    once nothing is in flight, else IAM's two);
//! 4. no rotation's phases repeat or go backwards (read from the audit log, which records every
//!    journal write in the write's own transaction, so a stale writer cannot hide), and no
//!    record has two `current` secret versions.
//!
//! Facts that are not secret (key ids, states, settings, the audit log) are read from the vault's
//! database directly; secrets only through `rekey account reveal`.

use super::{iam, Moto, Sandbox};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What a check covered, for the figures a test prints.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Figures {
    /// Vault accounts whose credential was proven to work.
    pub credentials: usize,
    /// Keys IAM holds (all users).
    pub iam_keys: usize,
    /// Keys IAM holds that no vault has a secret for (always 0 after a passing check).
    pub orphans: usize,
    /// Rotations whose journal was checked.
    pub rotations: usize,
}

/// Users (besides those in `ignore`) whose keys are checked: every IAM user.
pub fn check(moto: &Moto, admin: &(String, String), vaults: &[&Sandbox]) -> Figures {
    check_except(moto, admin, vaults, &[])
}

/// [`check`], leaving out the keys of users in `ignore` (a test's deliberately foreign keys).
pub fn check_except(moto: &Moto, admin: &(String, String), vaults: &[&Sandbox], ignore: &[&str]) -> Figures {
    let facts: Vec<VaultFacts> = vaults.iter().map(|sb| VaultFacts::read(sb)).collect();
    let mut figures = Figures::default();
    for (sb, f) in vaults.iter().zip(&facts) {
        figures.credentials += credentials_work(moto, sb, f);
        figures.rotations += phases_never_go_backwards(f);
        one_current_per_record(f);
    }
    let (keys, orphans) = no_orphans_and_policy_counts(moto, admin, &facts, ignore);
    figures.iam_keys = keys;
    figures.orphans = orphans;
    figures
}

/// One vault's non-secret facts, read from its database.
struct VaultFacts {
    label: String,
    /// (id, provider/user/kind, user, kind, settings JSON).
    accounts: Vec<(String, String, String, String, String)>,
    /// (record, version, state, key id).
    versions: Vec<(String, i64, String, Option<String>)>,
    /// (rotation id, phase), in audit order.
    phase_events: Vec<(String, String)>,
    /// Rotations still open (any phase but done/aborted).
    open: usize,
}

impl VaultFacts {
    fn read(sb: &Sandbox) -> Self {
        let db = Db::of(&sb.vault);
        let accounts = db.rows::<(String, String, String, String, String)>(
            "SELECT id, provider, user_name, kind, settings FROM accounts",
        );
        let accounts = accounts.into_iter().map(|(id, p, u, k, s)| (id, format!("{p}/{u}/{k}"), u, k, s)).collect();
        let versions =
            db.rows("SELECT record_id, version, state, key_id FROM secret_versions ORDER BY record_id, version");
        let details: Vec<(String,)> =
            db.rows("SELECT detail FROM audit_events WHERE action = 'rotation.phase' ORDER BY seq");
        let phase_events = details
            .into_iter()
            .map(|(d,)| {
                let v: serde_json::Value = serde_json::from_str(&d).expect("audit detail is JSON");
                (
                    v["rotation"].as_str().unwrap_or_default().to_owned(),
                    v["phase"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let open: Vec<(i64,)> = db.rows("SELECT COUNT(*) FROM rotations WHERE phase NOT IN ('done', 'aborted')");
        Self { label: sb.vault.clone(), accounts, versions, phase_events, open: open[0].0 as usize }
    }
}

/// 1: each account's current credential works; returns how many were checked.
fn credentials_work(moto: &Moto, sb: &Sandbox, f: &VaultFacts) -> usize {
    for (id, reference, user, kind, _) in &f.accounts {
        let shown = sb.json(&["account", "reveal", id]);
        let secret = shown["secret"].as_str().unwrap_or_default().to_owned();
        if kind == "password" {
            assert_eq!(
                iam::stored_password(moto, user).as_deref(),
                Some(secret.as_str()),
                "{}: {reference}'s password is not the one IAM holds",
                f.label
            );
            continue;
        }
        let key_id = shown["access_key_id"].as_str().unwrap_or_default().to_owned();
        let arn = caller_arn(moto, &key_id, &secret)
            .unwrap_or_else(|e| panic!("{}: {reference}'s current key {key_id} does not authenticate: {e}", f.label));
        assert!(arn.ends_with(&format!(":user/{user}")), "{reference}'s key {key_id} authenticates as {arn}");
    }
    f.accounts.len()
}

/// GetCallerIdentity signed with the key (allowed to every authenticated principal): its ARN.
fn caller_arn(moto: &Moto, key_id: &str, secret: &str) -> Result<String, String> {
    let creds = aws_credential_types::Credentials::new(key_id, secret, None, None, "test");
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(&moto.url)
        .credentials_provider(creds)
        .build();
    let out = iam::block_on(aws_sdk_sts::Client::from_conf(conf).get_caller_identity().send());
    out.map(|o| o.arn.unwrap_or_default()).map_err(|e| format!("{e:?}"))
}

/// The order of phases: a rotation's journal moves strictly forward, except for the
/// [`REPEATABLE`] phases, which may be written again.
fn rank(phase: &str) -> u32 {
    match phase {
        "planned" => 0,
        "preflight" => 1,
        "create_requested" | "generated" => 2,
        "created" => 3,
        "tagged" => 4,
        "verifying" | "update_requested" => 5,
        "delivering" => 6,
        "aborting" => 7,
        "committed" => 8,
        "retiring" => 9,
        "deactivated" => 10,
        "done" | "aborted" => 11,
        other => panic!("unknown phase {other:?} in the audit log"),
    }
}

/// Phases journaled again without moving on: each delivery acknowledged, each grace checked,
/// each later attempt of ChangePassword or CreateAccessKey.
const REPEATABLE: [&str; 4] = ["create_requested", "delivering", "retiring", "update_requested"];

/// 4a: per rotation, the journaled phases in audit order; returns how many rotations.
fn phases_never_go_backwards(f: &VaultFacts) -> usize {
    let mut by_rotation: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (rot, phase) in &f.phase_events {
        by_rotation.entry(rot).or_default().push(phase);
    }
    for (rot, phases) in &by_rotation {
        for pair in phases.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let forward = rank(b) > rank(a) || (a == b && REPEATABLE.contains(&a));
            assert!(forward, "{}: rotation {rot} went from {a} to {b}: {phases:?}", f.label);
        }
    }
    by_rotation.len()
}

/// 4b: at most one `current` version per record.
fn one_current_per_record(f: &VaultFacts) {
    let mut current: HashMap<&str, Vec<i64>> = HashMap::new();
    for (record, version, state, _) in &f.versions {
        if state == "current" {
            current.entry(record).or_default().push(*version);
        }
    }
    for (record, versions) in current {
        assert!(
            versions.len() == 1,
            "{}: record {record} has {} current versions: {versions:?}",
            f.label,
            versions.len()
        );
    }
}

/// 2 and 3: every key IAM holds is one some vault has the secret of; no user holds more keys
/// than its accounts allow. Returns (keys seen, orphans = 0).
fn no_orphans_and_policy_counts(
    moto: &Moto,
    admin: &(String, String),
    facts: &[VaultFacts],
    ignore: &[&str],
) -> (usize, usize) {
    let known: HashSet<&str> = facts.iter().flat_map(|f| f.versions.iter().filter_map(|v| v.3.as_deref())).collect();
    let in_flight = facts.iter().any(|f| f.open > 0);
    let mut allowed: HashMap<&str, usize> = HashMap::new();
    for f in facts {
        for (_, _, user, kind, settings) in &f.accounts {
            if kind != "access-key" {
                continue;
            }
            let s: serde_json::Value = serde_json::from_str(settings).expect("settings are JSON");
            let one = s["previous_key"] == "delete" && !in_flight;
            let e = allowed.entry(user).or_default();
            *e = (*e + if one { 1 } else { 2 }).min(2);
        }
    }
    let c = iam::client_with(moto, &admin.0, &admin.1);
    let users = iam::block_on(all_users(&c));
    let mut seen = 0;
    for user in users.iter().filter(|u| !ignore.contains(&u.as_str())) {
        // Every page: the model answers in pages of one key.
        let ids: Vec<String> = iam::keys_of(&c, user).into_iter().map(|(id, _)| id).collect();
        seen += ids.len();
        for id in &ids {
            assert!(
                known.contains(id.as_str()),
                "IAM user {user} holds key {id}, whose secret no vault has (an orphan)"
            );
        }
        if let Some(max) = allowed.get(user.as_str()) {
            assert!(ids.len() <= *max, "IAM user {user} holds {} keys; its policy allows {max}: {ids:?}", ids.len());
        }
    }
    (seen, 0)
}

async fn all_users(c: &aws_sdk_iam::Client) -> Vec<String> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = c.list_users().set_marker(marker.clone()).send().await.expect("list users");
        out.extend(page.users.into_iter().map(|u| u.user_name));
        match page.marker.filter(|_| page.is_truncated) {
            Some(m) => marker = Some(m),
            None => return out,
        }
    }
}

/// A vault database, read directly. Each call connects anew: a pool belongs to the runtime
/// that made it, and every call here runs on a fresh one.
pub struct Db {
    vault: String,
}

impl Db {
    /// The database behind a vault URL as `rekey` takes it (`sqlite:PATH` or `postgres://…`).
    pub fn of(vault: &str) -> Self {
        Self { vault: vault.to_owned() }
    }

    /// Every row of `sql`.
    pub fn rows<T>(&self, sql: &str) -> Vec<T>
    where
        T: Send
            + Unpin
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        iam::block_on(async {
            match self.vault.strip_prefix("sqlite:") {
                Some(path) => {
                    let mut c = sqlx::ConnectOptions::connect(&file(path)).await.expect("open the vault file");
                    sqlx::query_as(sql).fetch_all(&mut c).await
                }
                None => {
                    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&self.vault).await.expect("connect");
                    sqlx::query_as(sql).fetch_all(&mut c).await
                }
            }
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs one statement (a test's deliberate change, e.g. a lease set as another node holds it).
    pub fn execute(&self, sql: &str) {
        iam::block_on(async {
            match self.vault.strip_prefix("sqlite:") {
                Some(path) => {
                    let mut c = sqlx::ConnectOptions::connect(&file(path)).await.expect("open the vault file");
                    sqlx::query(sql).execute(&mut c).await.map(drop)
                }
                None => {
                    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&self.vault).await.expect("connect");
                    sqlx::query(sql).execute(&mut c).await.map(drop)
                }
            }
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// The vault file at `path` (of a `sqlite:` URL). The processes under test write it too (a lease
/// renewal, say): a statement waits for its lock as they do, instead of failing at once.
fn file(path: &str) -> sqlx::sqlite::SqliteConnectOptions {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path.strip_prefix("//").unwrap_or(path))
        .busy_timeout(std::time::Duration::from_secs(30))
}
