//! `rekey-bench`: helpers for `scripts/bench.sh`, never shipped.
//!
//! - `seed-iam` creates IAM users (optionally each with one access key) on an endpoint (moto),
//!   many in flight, and writes them as TSV: user, user id, ARN, key id, secret.
//! - `seed-vault` adds accounts for such users to an existing vault through rekey's libraries:
//!   the vault key is unwrapped as `rekey` unwraps it, every secret is sealed with
//!   `rekey_crypto::seal`, every account is inserted with `Store::insert_account` (with its audit
//!   event, so the hash chain stays valid). It can add filler accounts for users that exist only
//!   in the vault (never due, never decrypted: scheduler-tick and listing benchmarks).
//! - `ceiling` drives the IAM/STS calls of one access-key rotation as fast as the endpoint
//!   answers them, with no journal and no waiting, to measure what the endpoint can serve.
//! - `load` fires a burst of concurrent requests at a running `rekey serve` (the API mix, or
//!   `/healthz` as the baseline) and prints count, errors and latency percentiles (see `load.rs`).
//! - `heartbeat-floor` sends the IAM calls of N heartbeats straight to the endpoint at once,
//!   with nothing stored: what the endpoint alone takes to answer a burst of heartbeats.
//! - `rusage` runs a command and writes its wall time, CPU time and peak RSS as JSON.
//! - `check-vault` checks after a run that no credential was lost: every vault key against
//!   moto's own state (see `check.rs`).

mod check;
mod load;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use rekey_aws::{Conn, ConnCredentials};
use rekey_crypto::{seal, KdfParams, Secret, VaultKey};
use rekey_domain::{AccountId, Clock, CredentialKind, ProviderName, SecretState, SystemClock, UserName};
use rekey_store::{Account, AccountPatch, AuditEntry, Heartbeat, JournalWrite, OpenMode, Origin, SecretVersion};
use std::{
    io::Write,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

/// The context under which rekey wraps the vault key (crates/rekey-engine/src/vault.rs).
const WRAP_CONTEXT: &str = "rekey-vault-key-v1";

#[derive(Parser)]
#[command(name = "rekey-bench", about = "Seeding and measuring helpers for scripts/bench.sh")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a command (standard streams inherited) and write `{"wall", "cpu", "maxrss_kib",
    /// "code"}` to `--out`; exits with the command's exit code.
    ///
    /// The command is started from this small process, not from the harness: Linux carries the
    /// parent's peak RSS into a forked child's `ru_maxrss` across exec, so a child of the Python
    /// harness never reports less than the harness's own RSS.
    Rusage {
        /// Where the JSON goes.
        #[arg(long)]
        out: String,
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        cmd: Vec<String>,
    },
    /// Create IAM users (and access keys) on an endpoint; print them as TSV.
    SeedIam {
        #[arg(long)]
        endpoint: String,
        /// User names are PREFIX-000000, PREFIX-000001, …
        #[arg(long)]
        prefix: String,
        #[arg(long)]
        count: usize,
        /// IAM path of the users.
        #[arg(long, default_value = "/")]
        path: String,
        /// Give every K-th user an access key (1 = every user, 0 = none).
        #[arg(long, default_value_t = 1)]
        key_every: usize,
        /// Give every K-th user a console password (0 = none).
        #[arg(long, default_value_t = 0)]
        password_every: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Write the TSV here (default: standard output).
        #[arg(long)]
        out: Option<String>,
    },
    /// Add accounts to an existing passphrase vault (passphrase from REKEY_PASSPHRASE).
    SeedVault {
        /// `sqlite:PATH` or a PostgreSQL URL.
        #[arg(long)]
        vault: String,
        /// The provider the accounts belong to (must exist).
        #[arg(long)]
        provider: String,
        /// TSV from `seed-iam`; users without a key get a sealed fake key (never used).
        #[arg(long)]
        users: Option<String>,
        /// Make the accounts from `--users` due now (their schedule: every 90 days).
        #[arg(long)]
        due: bool,
        /// Also add this many filler accounts (vault-only users, due in 30–90 days).
        #[arg(long, default_value_t = 0)]
        filler: usize,
        /// User-name prefix of the filler accounts.
        #[arg(long, default_value = "filler")]
        filler_prefix: String,
        /// Rotation settings of every account, a JSON object, e.g. '{"previous_key":"delete"}'.
        #[arg(long, default_value = "{}")]
        settings: String,
    },
    /// Measure the calls per second an endpoint serves for the call mix of a rotation.
    Ceiling {
        #[arg(long)]
        endpoint: String,
        /// TSV from `seed-iam` (users with keys); each worker rotates its own users.
        #[arg(long)]
        users: String,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// How long to run.
        #[arg(long, default_value_t = 8.0)]
        seconds: f64,
    },
    /// Fire concurrent requests at a running server; print count, errors and latencies as JSON.
    Load {
        /// The server's base URL, e.g. http://127.0.0.1:8270 (plain HTTP).
        #[arg(long)]
        url: String,
        /// The API token (from `rekey token create`); kept out of argv.
        #[arg(long, env = "REKEY_BENCH_TOKEN", hide_env_values = true, default_value = "")]
        token: String,
        /// The provider of the accounts named by `--users` and `--heartbeat-users`.
        #[arg(long, default_value = "bench")]
        provider: String,
        /// TSV from `seed-iam`: the accounts the API mix reads.
        #[arg(long)]
        users: Option<String>,
        /// An account the API mix reads, as PROVIDER/USER/KIND; repeatable.
        #[arg(long = "account", value_name = "REF")]
        accounts: Vec<String>,
        /// TSV from `seed-iam`: accounts the API mix heartbeats (keep them out of the due set).
        #[arg(long)]
        heartbeat_users: Option<String>,
        /// Requests in all.
        #[arg(long, default_value_t = 1000)]
        requests: usize,
        /// Requests in flight at once (default: all of them).
        #[arg(long)]
        concurrency: Option<usize>,
        /// Per-request time bound, in seconds.
        #[arg(long, default_value_t = 120.0)]
        timeout: f64,
        /// `api` (the authenticated mix) or `healthz` (the baseline).
        #[arg(long, value_enum, default_value = "api")]
        mix: load::Mix,
    },
    /// Send the IAM calls of N heartbeats at once (GetUser, ListAccessKeys, GetCallerIdentity
    /// signed with the user's key: the calls `Engine::heartbeat` makes for an access key) and
    /// print count and latency percentiles of the whole sequence as JSON.
    HeartbeatFloor {
        #[arg(long)]
        endpoint: String,
        /// TSV from `seed-iam` (users with keys), taken round-robin.
        #[arg(long)]
        users: String,
        /// Heartbeats in all, every one in flight at once.
        #[arg(long, default_value_t = 100)]
        requests: usize,
    },
    /// Check a vault against moto's state (`/moto-api/data.json` saved to a file): every
    /// access-key account's current secret is its user's active key in IAM, and IAM holds no key
    /// of those users that the vault lacks. Prints counts and problems as JSON (no secrets).
    CheckVault {
        /// `sqlite:PATH` or a PostgreSQL URL (passphrase from REKEY_PASSPHRASE).
        #[arg(long)]
        vault: String,
        /// moto's `/moto-api/data.json`, saved to a file.
        #[arg(long)]
        moto_state: String,
    },
}

/// One line of the users TSV.
#[derive(Debug, Clone)]
struct SeededUser {
    user: String,
    user_id: String,
    arn: String,
    key_id: String,
    secret: String,
}

fn read_users(path: &str) -> Result<Vec<SeededUser>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() != 5 {
                bail!("{path}: expected 5 tab-separated fields in {l:?}");
            }
            Ok(SeededUser {
                user: f[0].into(),
                user_id: f[1].into(),
                arn: f[2].into(),
                key_id: f[3].into(),
                secret: f[4].into(),
            })
        })
        .collect()
}

fn admin_conn(endpoint: &str) -> Conn {
    let id = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "testing".into());
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "testing".into());
    let mut conn = Conn::new(
        "us-east-1",
        Some(endpoint.to_owned()),
        ConnCredentials::Static { access_key_id: id, secret: Secret::new(secret) },
    );
    conn.max_attempts = 8;
    conn
}

async fn iam_client(conn: &Conn) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&conn.sdk_config().await)
}

#[allow(clippy::too_many_arguments)]
async fn seed_iam(
    endpoint: &str,
    prefix: &str,
    count: usize,
    path: &str,
    key_every: usize,
    password_every: usize,
    concurrency: usize,
    out: Option<&str>,
) -> Result<()> {
    let iam = iam_client(&admin_conn(endpoint)).await;
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (iam, next, prefix, path) = (iam.clone(), next.clone(), prefix.to_owned(), path.to_owned());
        tasks.spawn(async move {
            let mut rows = Vec::new();
            loop {
                let i = usize::try_from(next.fetch_add(1, Ordering::Relaxed))?;
                if i >= count {
                    return Ok::<_, anyhow::Error>(rows);
                }
                let name = format!("{prefix}-{i:06}");
                let u = iam.create_user().user_name(&name).path(&path).send().await?;
                let u = u.user.ok_or_else(|| anyhow!("CreateUser returned no user"))?;
                let (mut key_id, mut secret) = (String::new(), String::new());
                if key_every > 0 && i % key_every == 0 {
                    let k = iam.create_access_key().user_name(&name).send().await?;
                    let k = k.access_key.ok_or_else(|| anyhow!("CreateAccessKey returned no key"))?;
                    key_id = k.access_key_id;
                    secret = k.secret_access_key;
                }
                if password_every > 0 && i % password_every == 0 {
                    iam.create_login_profile().user_name(&name).password(format!("Pw-{i}-Initial!x")).send().await?;
                }
                rows.push((i, format!("{name}\t{}\t{}\t{key_id}\t{secret}\n", u.user_id, u.arn)));
            }
        });
    }
    let mut rows = Vec::with_capacity(count);
    while let Some(r) = tasks.join_next().await {
        rows.extend(r??);
    }
    rows.sort_by_key(|(i, _)| *i);
    let text: String = rows.into_iter().map(|(_, l)| l).collect();
    match out {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {p}"))?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(())
}

/// Unwraps the vault key the way `rekey` does for a passphrase vault, and installs the store's
/// integrity barrier with it.
async fn vault_key(store: &dyn rekey_store::Store) -> Result<VaultKey> {
    let h = store.header().await?.ok_or_else(|| anyhow!("the vault has no header: run `rekey init` first"))?;
    if h.key_source != "passphrase" {
        bail!("seed-vault supports passphrase vaults only (this one uses {})", h.key_source);
    }
    let kdf: KdfParams = serde_json::from_value(h.key_params["params"].clone())?;
    let pass = Secret::new(std::env::var("REKEY_PASSPHRASE").context("REKEY_PASSPHRASE is not set")?);
    let key = VaultKey::unwrap_from(&kdf.derive(&pass)?, &h.wrapped_vault_key, WRAP_CONTEXT)?;
    // Rows are signed when written and verified when read, as `rekey` does once unlocked.
    store.install_barrier(rekey_store::Barrier::new(&key));
    Ok(key)
}

struct Seed<'a> {
    user: &'a str,
    user_id: &'a str,
    arn: &'a str,
    key_id: &'a str,
    secret: &'a str,
    next_due: chrono::DateTime<chrono::Utc>,
    every_ms: u64,
    settings: &'a serde_json::Map<String, serde_json::Value>,
}

async fn insert(store: &dyn rekey_store::Store, key: &VaultKey, provider: &ProviderName, s: &Seed<'_>) -> Result<()> {
    let now = SystemClock.now();
    let mut a = Account::new(
        provider.clone(),
        s.user.parse::<UserName>()?,
        s.user_id.into(),
        s.arn.parse()?,
        CredentialKind::AccessKey,
        now,
    );
    let mut settings = s.settings.clone();
    settings.insert("every_ms".into(), s.every_ms.into());
    a.settings = rekey_store::AccountSettings::from_stored(serde_json::Value::Object(settings));
    let id: &AccountId = &a.id;
    let sealed = seal(key, id.as_str(), 1, &Secret::new(s.secret));
    let version = SecretVersion {
        record_id: id.to_string(),
        version: 1,
        state: SecretState::Current,
        key_id: Some(s.key_id.into()),
        origin: Origin::Adopted,
        wrapped_key: sealed.wrapped_key,
        ciphertext: sealed.ciphertext,
        created_at: now,
    };
    let audit = AuditEntry {
        at: now,
        actor: "bench:rekey-bench".into(),
        action: "account.add".into(),
        target: Some(id.to_string()),
        outcome: "ok".into(),
        detail: serde_json::json!({ "seeded": true, "key_id": s.key_id }),
    };
    store.insert_account(&a, Some(&version), &audit).await?;
    // Scheduling facts as a rotation would leave them: a due date and a fresh heartbeat.
    let patch = AccountPatch {
        next_due_at: Some(Some(s.next_due)),
        heartbeat: Some(Heartbeat {
            at: now,
            status: rekey_domain::HeartbeatStatus::Ok,
            detail: serde_json::json!({ "findings": [], "source": "seed" }),
        }),
        ..AccountPatch::default()
    };
    store.write(&JournalWrite { at: now, account: Some((a.id.clone(), patch)), ..JournalWrite::default() }).await?;
    Ok(())
}

async fn seed_vault(
    url: &str,
    provider: &str,
    users: Option<&str>,
    due: bool,
    filler: usize,
    prefix: &str,
    settings: &str,
) -> Result<()> {
    const EVERY_MS: u64 = 90 * 86_400_000;
    let settings: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(settings).context("--settings must be a JSON object")?;
    let store = rekey_store::open(url, OpenMode::Existing).await?;
    let key = vault_key(store.as_ref()).await?;
    // Rows are signed (and read rows verified) under the vault's barrier, as rekey does.
    store.install_barrier(rekey_store::Barrier::new(&key));
    let provider: ProviderName = provider.parse()?;
    store.provider(&provider).await.with_context(|| format!("provider {provider}"))?;
    let now = SystemClock.now();
    let started = Instant::now();
    let mut added = 0usize;
    if let Some(path) = users {
        for u in read_users(path)? {
            // Users seeded without a key get a fake one: listing never opens it.
            let (key_id, secret) = if u.key_id.is_empty() {
                (format!("AKIAFAKE{:012}", added), format!("fake-secret-{added:032}"))
            } else {
                (u.key_id.clone(), u.secret.clone())
            };
            let next_due = if due { now - chrono::Duration::minutes(1) } else { now + chrono::Duration::days(60) };
            let seed = Seed {
                user: &u.user,
                user_id: &u.user_id,
                arn: &u.arn,
                key_id: &key_id,
                secret: &secret,
                next_due,
                every_ms: EVERY_MS,
                settings: &settings,
            };
            insert(store.as_ref(), &key, &provider, &seed).await?;
            added += 1;
        }
    }
    for i in 0..filler {
        let user = format!("{prefix}-{i:06}");
        let user_id = format!("AIDAFILLER{i:011}");
        let arn = format!("arn:aws:iam::123456789012:user/{user}");
        let key_id = format!("AKIAFILLER{i:010}");
        let secret = format!("filler-secret-{i:026}");
        // Spread over 30–90 days: never due in the benchmark.
        let spread = i64::try_from(i % 60)?;
        let seed = Seed {
            user: &user,
            user_id: &user_id,
            arn: &arn,
            key_id: &key_id,
            secret: &secret,
            next_due: now + chrono::Duration::days(30 + spread),
            every_ms: EVERY_MS,
            settings: &settings,
        };
        insert(store.as_ref(), &key, &provider, &seed).await?;
        added += 1;
    }
    eprintln!("seed-vault: {added} accounts in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// One worker of `ceiling`: rotates its users round-robin with the calls a rekey rotation makes
/// (GetUser, ListAccessKeys, CreateAccessKey, TagUser, three GetCallerIdentity with the new
/// key, UpdateAccessKey Inactive) plus DeleteAccessKey of the
/// old key so the loop can go on; counts every answered call.
async fn ceiling_worker(
    endpoint: String,
    mut users: Vec<SeededUser>,
    deadline: Instant,
    calls: Arc<AtomicU64>,
) -> Result<()> {
    let admin = admin_conn(&endpoint);
    let iam = iam_client(&admin).await;
    let count = |n: u64| calls.fetch_add(n, Ordering::Relaxed);
    let mut i = 0;
    while Instant::now() < deadline && !users.is_empty() {
        let len = users.len();
        let u = &mut users[i % len];
        i += 1;
        iam.get_user().user_name(&u.user).send().await?;
        iam.list_access_keys().user_name(&u.user).send().await?;
        let k = iam.create_access_key().user_name(&u.user).send().await?;
        let k = k.access_key.ok_or_else(|| anyhow!("CreateAccessKey returned no key"))?;
        count(3);
        let tag = aws_sdk_iam::types::Tag::builder().key(&k.access_key_id).value("rekey-bench").build()?;
        iam.tag_user().user_name(&u.user).tags(tag).send().await?;
        let sts = aws_sdk_sts::Client::new(
            &admin.with_key(&k.access_key_id, Secret::new(k.secret_access_key)).sdk_config().await,
        );
        for _ in 0..3 {
            sts.get_caller_identity().send().await?;
        }
        let inactive = aws_sdk_iam::types::StatusType::Inactive;
        iam.update_access_key().user_name(&u.user).access_key_id(&u.key_id).status(inactive).send().await?;
        iam.delete_access_key().user_name(&u.user).access_key_id(&u.key_id).send().await?;
        count(6);
        u.key_id = k.access_key_id;
    }
    Ok(())
}

async fn ceiling(endpoint: &str, users: &str, concurrency: usize, seconds: f64) -> Result<()> {
    let users: Vec<SeededUser> = read_users(users)?.into_iter().filter(|u| !u.key_id.is_empty()).collect();
    let n = concurrency.max(1).min(users.len().max(1));
    let calls = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..n {
        let mine: Vec<SeededUser> = users.iter().skip(w).step_by(n).cloned().collect();
        tasks.spawn(ceiling_worker(endpoint.to_owned(), mine, deadline, calls.clone()));
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let secs = started.elapsed().as_secs_f64();
    let calls = calls.load(Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss)]
    let per_s = calls as f64 / secs;
    println!("{}", serde_json::json!({ "calls": calls, "seconds": secs, "calls_per_s": per_s, "workers": n }));
    Ok(())
}

/// See [`Cmd::HeartbeatFloor`]. Every SDK client is made before the clock starts, so the
/// figures are the endpoint's answers alone (the server makes a heartbeat's STS client for
/// each heartbeat: that is rekey's cost, not the floor's). Calls are tried once (the emulator
/// refuses nothing; retries would only hide a failure): a failed sequence is counted, not fatal.
async fn heartbeat_floor(endpoint: &str, users: &str, requests: usize) -> Result<()> {
    let users: Vec<SeededUser> = read_users(users)?.into_iter().filter(|u| !u.key_id.is_empty()).collect();
    if users.is_empty() {
        bail!("heartbeat-floor: no user with an access key in the users file");
    }
    let mut admin = admin_conn(endpoint);
    admin.max_attempts = 1;
    let iam = iam_client(&admin).await;
    let mut stss = Vec::with_capacity(users.len());
    for u in &users {
        let conn = admin.with_key(&u.key_id, Secret::new(u.secret.clone()));
        stss.push(aws_sdk_sts::Client::new(&conn.sdk_config().await));
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..requests {
        let (iam, sts, user) = (iam.clone(), stss[i % users.len()].clone(), users[i % users.len()].user.clone());
        tasks.spawn(async move {
            let t = Instant::now();
            let answered = async {
                iam.get_user().user_name(&user).send().await?;
                iam.list_access_keys().user_name(&user).send().await?;
                sts.get_caller_identity().send().await?;
                anyhow::Ok(())
            }
            .await;
            (t.elapsed(), answered.is_ok())
        });
    }
    let (mut latencies, mut errors) = (Vec::with_capacity(requests), 0_usize);
    while let Some(r) = tasks.join_next().await {
        let (latency, ok) = r?;
        latencies.push(latency);
        errors += usize::from(!ok);
    }
    let mut out = load::figures(latencies);
    out.insert("errors".into(), serde_json::json!(errors));
    out.insert("calls".into(), serde_json::json!(3 * requests));
    out.insert("wall_s".into(), serde_json::json!((started.elapsed().as_secs_f64() * 1e3).round() / 1e3));
    println!("{}", serde_json::Value::from(out));
    Ok(())
}

/// Access-key account references (`PROVIDER/USER/access-key`) for the users of a TSV.
fn account_refs(provider: &str, path: Option<&str>) -> Result<Vec<String>> {
    let Some(path) = path else { return Ok(Vec::new()) };
    Ok(read_users(path)?.into_iter().map(|u| format!("{provider}/{}/access-key", u.user)).collect())
}

/// See [`Cmd::Rusage`]. Runs before any runtime thread exists, so the floor it adds to the
/// child's peak RSS is this process's few MiB.
fn rusage(out: &str, cmd: &[String]) -> Result<()> {
    use nix::sys::{
        resource::{getrusage, UsageWho},
        time::TimeValLike,
    };
    let (program, args) = cmd.split_first().context("rusage: no command given")?;
    let start = Instant::now();
    let status =
        std::process::Command::new(program).args(args).status().with_context(|| format!("running {program}"))?;
    let wall = start.elapsed().as_secs_f64();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).context("getrusage")?;
    let cpu = (usage.user_time().num_microseconds() + usage.system_time().num_microseconds()) as f64 / 1e6;
    let code =
        std::os::unix::process::ExitStatusExt::signal(&status).map_or(status.code().unwrap_or(1), |sig| 128 + sig);
    let figures = serde_json::json!({ "wall": wall, "cpu": cpu, "maxrss_kib": usage.max_rss(), "code": code });
    std::fs::write(out, figures.to_string()).with_context(|| format!("writing {out}"))?;
    std::process::exit(code)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Cmd::Rusage { out, cmd } = &cli.cmd {
        return rusage(out, cmd);
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Rusage { .. } => bail!("rusage runs before the runtime starts"),
        Cmd::SeedIam { endpoint, prefix, count, path, key_every, password_every, concurrency, out } => {
            seed_iam(&endpoint, &prefix, count, &path, key_every, password_every, concurrency, out.as_deref()).await
        }
        Cmd::SeedVault { vault, provider, users, due, filler, filler_prefix, settings } => {
            seed_vault(&vault, &provider, users.as_deref(), due, filler, &filler_prefix, &settings).await
        }
        Cmd::HeartbeatFloor { endpoint, users, requests } => heartbeat_floor(&endpoint, &users, requests).await,
        Cmd::CheckVault { vault, moto_state } => check::check_vault(&vault, &moto_state).await,
        Cmd::Ceiling { endpoint, users, concurrency, seconds } => {
            ceiling(&endpoint, &users, concurrency, seconds).await
        }
        Cmd::Load {
            url,
            token,
            provider,
            users,
            mut accounts,
            heartbeat_users,
            requests,
            concurrency,
            timeout,
            mix,
        } => {
            accounts.extend(account_refs(&provider, users.as_deref())?);
            let args = load::LoadArgs {
                url: url.trim_end_matches('/').to_owned(),
                token,
                accounts,
                heartbeat: account_refs(&provider, heartbeat_users.as_deref())?,
                requests,
                concurrency: concurrency.unwrap_or(requests).max(1),
                timeout: Duration::from_secs_f64(timeout),
                mix,
            };
            load::run(args).await
        }
    }
}
