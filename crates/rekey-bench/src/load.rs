//! `load`: fires a burst of concurrent HTTP requests at a running `rekey serve` and reports
//! their latencies and errors as one JSON line.
//!
//! Two mixes: `api` is what a console and a few scripts do to the API (mostly reads of
//! accounts, rotations, the audit log, metrics; some heartbeats, which call IAM and write the
//! store), every request with the bearer token; `healthz` sends the same number of requests to
//! the unauthenticated `/healthz`, the HTTP floor without store or auth work, as the baseline.
//! Each request's latency runs from the moment it may start (its concurrency permit) until its
//! whole body has arrived; a non-2xx status, a transport error or a timeout counts as an error,
//! grouped by kind.

use anyhow::{bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, header::AUTHORIZATION, Method, Request};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use serde_json::{json, Map, Value};
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::{sync::Semaphore, task::JoinSet};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mix {
    /// The authenticated API mix (see [`Target::api`]).
    Api,
    /// `GET /healthz` only: the baseline.
    Healthz,
}

/// How to run one burst.
#[derive(Debug)]
pub struct LoadArgs {
    /// `http://HOST:PORT`, no trailing slash.
    pub url: String,
    /// The API token (`rk_…`).
    pub token: String,
    /// Account references (`PROVIDER/USER/KIND`) read by the API mix.
    pub accounts: Vec<String>,
    /// Account references the API mix heartbeats (none: those requests read an account instead).
    pub heartbeat: Vec<String>,
    /// Requests in all.
    pub requests: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Per-request time bound.
    pub timeout: Duration,
    /// Which mix.
    pub mix: Mix,
}

/// One request of the mix: a label for the per-route figures, a method and a path.
#[derive(Debug, Clone)]
struct Target {
    route: &'static str,
    method: Method,
    path: String,
}

impl Target {
    fn get(route: &'static str, path: String) -> Self {
        Self { route, method: Method::GET, path }
    }

    /// The `i`-th request of the API mix, in twentieths: 6 show one account, 2 list every
    /// account, 3 list recent rotations, 2 list one account's rotations, 2 read the newest audit
    /// page (one filtered by action), 1 lists providers, 1 scrapes `/metrics`, 1 shows a
    /// provider, 2 heartbeat an account.
    fn api(i: usize, accounts: &[String], heartbeat: &[String]) -> Self {
        let account = encode(&accounts[i % accounts.len()]);
        match i % 20 {
            0..=5 => Self::get("account.show", format!("/api/v1/accounts/{account}")),
            6 | 7 => Self::get("account.list", "/api/v1/accounts".into()),
            8..=10 => Self::get("rotation.list", "/api/v1/rotations?limit=20".into()),
            11 | 12 => Self::get("rotation.list_account", format!("/api/v1/rotations?account={account}&limit=10")),
            13 => Self::get("audit.page", "/api/v1/audit?limit=100".into()),
            14 => Self::get("audit.page", "/api/v1/audit?action=rotation.phase&limit=100".into()),
            15 => Self::get("provider.list", "/api/v1/providers".into()),
            16 => Self::get("metrics", "/metrics".into()),
            17 => Self::get("provider.show", format!("/api/v1/providers/{}", provider_of(&accounts[0]))),
            _ if heartbeat.is_empty() => Self::get("account.show", format!("/api/v1/accounts/{account}")),
            _ => Self {
                route: "account.heartbeat",
                method: Method::POST,
                path: format!("/api/v1/accounts/{}/heartbeat", encode(&heartbeat[i % heartbeat.len()])),
            },
        }
    }
}

fn provider_of(reference: &str) -> &str {
    reference.split('/').next().unwrap_or(reference)
}

/// Percent-encodes everything but RFC 3986's unreserved characters (so `/` becomes `%2F`).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The routes of the mix that call IAM.
const CALLS_IAM: [&str; 1] = ["account.heartbeat"];

/// One request's result: route, latency, and the error kind if it failed.
type Outcome = (&'static str, Duration, Option<String>);

async fn send(client: &HttpClient, args: &LoadArgs, t: &Target) -> Option<String> {
    let mut req = Request::builder().method(t.method.clone()).uri(format!("{}{}", args.url, t.path));
    if args.mix == Mix::Api {
        req = req.header(AUTHORIZATION, format!("Bearer {}", args.token));
    }
    let req = match req.body(Full::new(Bytes::new())) {
        Ok(r) => r,
        Err(e) => return Some(format!("request: {e}")),
    };
    let exchange = async {
        let resp = client.request(req).await.map_err(|e| transport_kind(&e))?;
        let status = resp.status();
        let body = resp.into_body().collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
        if status.is_success() {
            return Ok(());
        }
        let code = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["code"].as_str().map(str::to_owned));
        Err(format!("status {} {}", status.as_u16(), code.unwrap_or_default()).trim_end().to_owned())
    };
    match tokio::time::timeout(args.timeout, exchange).await {
        Ok(Ok(())) => None,
        Ok(Err(kind)) => Some(kind),
        Err(_) => Some("timeout".into()),
    }
}

/// The innermost cause of a client error, which names what actually went wrong.
fn transport_kind(e: &hyper_util::client::legacy::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let what = if e.is_connect() { "connect" } else { "transport" };
    format!("{what}: {cause}")
}

/// Runs the burst and prints its summary as one JSON line.
pub async fn run(args: LoadArgs) -> Result<()> {
    if args.mix == Mix::Api && args.accounts.is_empty() {
        bail!("the api mix needs accounts (--users or --account)");
    }
    let args = Arc::new(args);
    let client: HttpClient =
        Client::builder(TokioExecutor::new()).pool_max_idle_per_host(args.concurrency).build(HttpConnector::new());
    let permits = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..args.requests {
        let target = match args.mix {
            Mix::Api => Target::api(i, &args.accounts, &args.heartbeat),
            Mix::Healthz => Target::get("healthz", "/healthz".into()),
        };
        let (client, args, permits) = (client.clone(), args.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let t0 = Instant::now();
            let error = send(&client, &args, &target).await;
            (target.route, t0.elapsed(), error)
        });
    }
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(args.requests);
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined.context("a request task failed")?);
    }
    let wall = started.elapsed();
    println!("{}", summary(&args, &outcomes, wall));
    Ok(())
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Nearest-rank percentile of sorted latencies.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Count, p50, p99 and max of `latencies`, in milliseconds.
pub(crate) fn figures(mut latencies: Vec<Duration>) -> Map<String, Value> {
    latencies.sort_unstable();
    let mut m = Map::new();
    m.insert("count".into(), json!(latencies.len()));
    m.insert("p50_ms".into(), json!(ms(percentile(&latencies, 0.50))));
    m.insert("p99_ms".into(), json!(ms(percentile(&latencies, 0.99))));
    m.insert("max_ms".into(), json!(ms(latencies.last().copied().unwrap_or_default())));
    m
}

fn summary(args: &LoadArgs, outcomes: &[Outcome], wall: Duration) -> Value {
    let mut errors: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_route: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for (route, latency, error) in outcomes {
        by_route.entry(route).or_default().push(*latency);
        if let Some(kind) = error {
            *errors.entry(kind.as_str()).or_default() += 1;
        }
    }
    let mut out = figures(outcomes.iter().map(|(_, l, _)| *l).collect());
    out.insert("mix".into(), json!(args.mix));
    out.insert("concurrency".into(), json!(args.concurrency));
    out.insert("errors".into(), json!(errors.values().sum::<usize>()));
    out.insert("errors_by_kind".into(), json!(errors));
    out.insert("wall_s".into(), json!((wall.as_secs_f64() * 1e3).round() / 1e3));
    // The routes answered from the vault alone: every one but the heartbeat, whose IAM calls
    // take what IAM (or the emulator) takes.
    let vault_only: Vec<Duration> =
        outcomes.iter().filter(|(r, _, _)| !CALLS_IAM.contains(r)).map(|(_, l, _)| *l).collect();
    out.insert("vault_only".into(), Value::from(figures(vault_only)));
    let routes: Map<String, Value> =
        by_route.into_iter().map(|(r, l)| (r.to_owned(), Value::from(figures(l)))).collect();
    out.insert("routes".into(), Value::from(routes));
    Value::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn account_references_are_one_path_segment() {
        assert_eq!(encode("bench/load-000001/access-key"), "bench%2Fload-000001%2Faccess-key");
        assert_eq!(encode("p/a+b@c/password"), "p%2Fa%2Bb%40c%2Fpassword");
    }

    #[test]
    fn the_summary_gives_the_routes_answered_from_the_vault_alone_apart() {
        let args = LoadArgs {
            url: String::new(),
            token: String::new(),
            accounts: Vec::new(),
            heartbeat: Vec::new(),
            requests: 3,
            concurrency: 3,
            timeout: Duration::from_secs(1),
            mix: Mix::Api,
        };
        let outcomes: Vec<Outcome> = vec![
            ("account.show", Duration::from_millis(5), None),
            ("account.heartbeat", Duration::from_millis(900), None),
            ("account.list", Duration::from_millis(7), None),
        ];
        let s = summary(&args, &outcomes, Duration::from_secs(1));
        assert_eq!((s["count"].as_u64(), s["max_ms"].as_f64()), (Some(3), Some(900.0)));
        assert_eq!((s["vault_only"]["count"].as_u64(), s["vault_only"]["max_ms"].as_f64()), (Some(2), Some(7.0)));
    }

    #[test]
    fn the_api_mix_heartbeats_only_when_given_accounts() {
        let accounts = vec!["bench/u1/access-key".to_owned()];
        let routes: Vec<&str> = (0..20).map(|i| Target::api(i, &accounts, &[]).route).collect();
        assert!(!routes.contains(&"account.heartbeat"));
        let hb = vec!["bench/h1/access-key".to_owned()];
        let beats = (0..20).filter(|i| Target::api(*i, &accounts, &hb).method == Method::POST).count();
        assert_eq!(beats, 2);
    }
}
