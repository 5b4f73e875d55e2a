//! Failed authentication: throttled per source address and audited in aggregate.
//!
//! A request whose token is wrong (malformed, unknown, a wrong secret, revoked, expired) counts
//! against its source address; after `auth.max_failures` such failures within
//! `auth.failure_window`, the source is answered 429 (with `Retry-After`) for the rest of the
//! window without its token being looked at. A request without a token does not count (it is no
//! guess), but is audited like the others.
//!
//! Failures are never attributed to a token: the actor is `anonymous`, the token id the request
//! claimed is a detail. They are audited as `api.auth-failed` events, one per source and claimed
//! token id per window, each counting the failures it stands for by reason: the first failure of
//! a window is written at once, later ones are added up and written when the window ends (or at
//! shutdown). A flood of guesses costs a few audit events, not one per guess.

use crate::{
    auth::{self, Caller, Rejected},
    config::AuthConfig,
    error::ApiError,
    AppState,
};
use axum::{
    extract::ConnectInfo,
    http::{
        header::{AUTHORIZATION, RETRY_AFTER},
        HeaderMap, HeaderValue, StatusCode,
    },
    response::{IntoResponse, Response},
};
use rekey_engine::Engine;
use serde_json::json;
use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Sources and (source, token) pairs tracked at most; beyond that, windows that ended are
/// dropped, and a new source is not tracked while every slot is in use.
const MAX_TRACKED: usize = 10_000;

/// What a source may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check its token.
    Check,
    /// Refuse: too many failures; retry after this long.
    Throttled(Duration),
}

#[derive(Debug)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Failures of one (source, claimed token) not yet in the audit log.
#[derive(Debug)]
struct Pending {
    started: Instant,
    written: bool,
    reasons: BTreeMap<&'static str, u64>,
    first: chrono::DateTime<chrono::Utc>,
    last: chrono::DateTime<chrono::Utc>,
}

type Key = (String, Option<String>);

/// The failures of this process.
#[derive(Debug)]
pub struct AuthFailures {
    max_failures: u32,
    window: Duration,
    state: Mutex<(HashMap<IpAddr, Window>, HashMap<Key, Pending>)>,
}

impl AuthFailures {
    /// Limits from `[auth]`.
    pub fn new(config: &AuthConfig) -> Self {
        Self { max_failures: config.max_failures, window: config.failure_window.duration(), state: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<IpAddr, Window>, HashMap<Key, Pending>)> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `source` may try a token now.
    pub fn verdict(&self, source: Option<IpAddr>) -> Verdict {
        let Some(ip) = source else { return Verdict::Check };
        let now = Instant::now();
        let guard = self.lock();
        match guard.0.get(&ip) {
            Some(w) if w.failures >= self.max_failures && now.duration_since(w.started) < self.window => {
                Verdict::Throttled(self.window - now.duration_since(w.started))
            }
            _ => Verdict::Check,
        }
    }

    /// Records a failure; returns the audit event to write now, if this is the first of its
    /// window (later ones are written by [`AuthFailures::due`]).
    pub fn record(&self, engine: &Engine, source: Option<IpAddr>, why: &Rejected) -> Option<rekey_store::AuditEntry> {
        let now = Instant::now();
        let at = engine.clock().now();
        let mut guard = self.lock();
        let (windows, pending) = &mut *guard;
        if let (Some(ip), true) = (source, counts(why)) {
            prune(windows, |w| now.duration_since(w.started) >= self.window);
            if windows.len() < MAX_TRACKED || windows.contains_key(&ip) {
                let w = windows.entry(ip).or_insert(Window { started: now, failures: 0 });
                if now.duration_since(w.started) >= self.window {
                    *w = Window { started: now, failures: 0 };
                }
                w.failures += 1;
            }
        }
        let source = source.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        let mut key = (source, claimed(why).map(str::to_owned));
        if pending.len() >= MAX_TRACKED && !pending.contains_key(&key) {
            key = ("other sources".into(), None);
        }
        let p = pending.entry(key.clone()).or_insert_with(|| Pending {
            started: now,
            written: false,
            reasons: BTreeMap::new(),
            first: at,
            last: at,
        });
        *p.reasons.entry(reason(why)).or_default() += 1;
        p.last = at;
        if p.written {
            return None;
        }
        p.written = true;
        let entry = event(engine, &key, p);
        p.reasons.clear();
        Some(entry)
    }

    /// Events for the failures held back, of windows that ended (all of them with `all`);
    /// their slots are freed.
    pub fn due(&self, engine: &Engine, all: bool) -> Vec<rekey_store::AuditEntry> {
        let now = Instant::now();
        let mut guard = self.lock();
        let ended: Vec<Key> = guard
            .1
            .iter()
            .filter(|(_, p)| all || now.duration_since(p.started) >= self.window)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for key in ended {
            if let Some(p) = guard.1.remove(&key) {
                if !p.reasons.is_empty() {
                    out.push(event(engine, &key, &p));
                }
            }
        }
        out
    }

    /// How often [`AuthFailures::due`] should run.
    pub fn window(&self) -> Duration {
        self.window
    }
}

fn prune<K: std::hash::Hash + Eq + Clone, V>(map: &mut HashMap<K, V>, ended: impl Fn(&V) -> bool) {
    if map.len() >= MAX_TRACKED {
        map.retain(|_, v| !ended(v));
    }
}

/// Whether the failure is a guess (a token was presented).
fn counts(why: &Rejected) -> bool {
    !matches!(why, Rejected::Missing | Rejected::NotBearer | Rejected::Unavailable)
}

fn claimed(why: &Rejected) -> Option<&str> {
    match why {
        Rejected::Invalid(Some(id)) | Rejected::Revoked(id) | Rejected::Expired(id) => Some(id),
        Rejected::Throttled(id) => id.as_deref(),
        Rejected::Missing | Rejected::NotBearer | Rejected::Invalid(None) | Rejected::Unavailable => None,
    }
}

fn reason(why: &Rejected) -> &'static str {
    match why {
        Rejected::Missing => "missing",
        Rejected::NotBearer => "not-bearer",
        Rejected::Invalid(_) => "invalid",
        Rejected::Revoked(_) => "revoked",
        Rejected::Expired(_) => "expired",
        Rejected::Throttled(_) => "throttled",
        Rejected::Unavailable => "unavailable",
    }
}

fn event(engine: &Engine, (source, token): &Key, p: &Pending) -> rekey_store::AuditEntry {
    let failures: u64 = p.reasons.values().sum();
    let detail = json!({
        "source": source,
        "claimed_token": token,
        "failures": failures,
        "reasons": p.reasons,
        "first_at": p.first,
        "last_at": p.last,
    });
    engine.acting_as("anonymous").audit_entry(
        "api.auth-failed",
        token.as_deref(),
        rekey_domain::AuditOutcome::Denied,
        detail,
    )
}

/// Authenticates a request's bearer token from `source`, unless the source is throttled; on
/// failure, the 401 or 429 answer (the failure audited as described above).
pub(crate) async fn authenticate(
    s: &AppState,
    source: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<Caller, Response> {
    let (why, wait) = match s.auth_failures.verdict(source) {
        Verdict::Throttled(wait) => {
            let claimed = crate::api::bearer(headers).and_then(auth::claimed_id).map(str::to_owned);
            (Rejected::Throttled(claimed), Some(wait))
        }
        Verdict::Check => {
            let bearer = crate::api::bearer(headers);
            if let Some(caller) = bearer.and_then(|b| s.token_cache.get(b, s.engine.clock().now())) {
                return Ok(caller);
            }
            match auth::authenticate(&s.engine, bearer).await {
                Ok(caller) => {
                    if let Some(b) = bearer {
                        s.token_cache.put(b, &caller);
                    }
                    return Ok(caller);
                }
                Err(Rejected::Missing) if headers.contains_key(AUTHORIZATION) => (Rejected::NotBearer, None),
                Err(Rejected::Unavailable) => {
                    // Nothing is known of the token: no failure to count or audit.
                    let why = Rejected::Unavailable.message();
                    let e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage", why, "try again in a moment");
                    return Err(e.into_response());
                }
                Err(why) => (why, None),
            }
        }
    };
    if let Some(entry) = s.auth_failures.record(&s.engine, source, &why) {
        start_flusher(s);
        s.audit_writer.append(&s.engine, entry).await;
    }
    let Some(wait) = wait else { return Err(ApiError::unauthorized(why.message()).into_response()) };
    let secs = wait.as_secs().max(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        why.message(),
        format!("wait {secs} s; check the token (`rekey token list`)"),
    )
    .into_response();
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    Err(response)
}

/// The client's address, when the server knows it.
pub(crate) fn source(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip())
}

/// Writes the failures held back whose window ended, once per window, while the state lives.
fn start_flusher(s: &AppState) {
    if s.failure_flusher.set(()).is_err() {
        return;
    }
    let weak = Arc::downgrade(s);
    let every = s.auth_failures.window();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(s) = weak.upgrade() else { return };
            flush(&s, false).await;
        }
    });
}

/// Writes the failures held back (of windows that ended; all of them with `all`, at shutdown).
pub(crate) async fn flush(s: &AppState, all: bool) {
    for entry in s.auth_failures.due(&s.engine, all) {
        s.audit_writer.append(&s.engine, entry).await;
    }
}
