//! The model's decisions about one call, in the order AWS makes them: a key that has not
//! propagated is not authenticated (403), an authenticated call takes a token from its
//! account's buckets or is throttled (400), a call that would break a quota is refused (409);
//! whatever passes is forwarded to moto, and moto's answer is learnt from (new keys, users'
//! tags) and cut into a page. Everything here runs under one lock and never waits.

use crate::{
    bucket::TokenBucket,
    config::ModelConfig,
    keys::{NewKeys, Verdict},
    paging::{self, PageRequest},
    quota::Shadow,
    request::{Call, Service},
    respond::{Refusal, Stats},
    xml,
};
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, MutexGuard, PoisonError,
    },
    time::{Duration, Instant},
};

/// One simulated AWS account's buckets.
#[derive(Debug)]
struct Buckets {
    iam: TokenBucket,
    iam_mutating: TokenBucket,
    sts: TokenBucket,
}

impl Buckets {
    fn full(c: &ModelConfig, now: Duration) -> Self {
        Self {
            iam: TokenBucket::full(c.throttle.iam, now),
            iam_mutating: TokenBucket::full(c.throttle.iam_mutating, now),
            sts: TokenBucket::full(c.throttle.sts, now),
        }
    }

    /// Takes the tokens `call` needs, or names the bucket that is empty.
    fn take(&mut self, c: &ModelConfig, call: &Call, now: Duration) -> Result<(), &'static str> {
        let t = &c.throttle;
        match call.service {
            Service::Iam => {
                if !self.iam.has_token(t.iam, now) {
                    return Err("iam");
                }
                if call.is_mutating() {
                    if !self.iam_mutating.has_token(t.iam_mutating, now) {
                        return Err("iam-mutating");
                    }
                    self.iam_mutating.take();
                }
                self.iam.take();
            }
            Service::Sts => {
                if !self.sts.has_token(t.sts, now) {
                    return Err("sts");
                }
                self.sts.take();
            }
            Service::Other => {}
        }
        Ok(())
    }
}

/// Everything the model keeps between calls.
#[derive(Debug)]
struct State {
    accounts: Vec<Buckets>,
    keys: NewKeys,
    shadow: Shadow,
    stats: Stats,
}

/// The model shared by every connection of every account.
#[derive(Debug)]
pub struct Shared {
    config: Mutex<ModelConfig>,
    state: Mutex<State>,
    /// moto.
    pub upstream: SocketAddr,
    epoch: Instant,
    request_ids: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// A model of `accounts` AWS accounts in front of moto at `upstream`.
    pub fn new(config: ModelConfig, upstream: SocketAddr, accounts: usize) -> Self {
        let epoch = Instant::now();
        let state = State {
            accounts: (0..accounts.max(1)).map(|_| Buckets::full(&config, Duration::ZERO)).collect(),
            keys: NewKeys::new(config.seed),
            shadow: Shadow::default(),
            stats: Stats::default(),
        };
        Self { config: Mutex::new(config), state: Mutex::new(state), upstream, epoch, request_ids: AtomicU64::new(1) }
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// A fresh request id for the model's own answers.
    pub fn request_id(&self) -> u64 {
        self.request_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// The settings in force.
    pub fn config(&self) -> ModelConfig {
        lock(&self.config).clone()
    }

    /// Changes the settings (the buckets keep their tokens and refill at the new rates).
    pub fn configure(&self, f: impl FnOnce(&mut ModelConfig)) {
        f(&mut lock(&self.config));
    }

    /// The counts so far.
    pub fn stats(&self) -> Stats {
        lock(&self.state).stats.clone()
    }

    /// Forgets new keys, tags and counts, and fills the buckets (moto was reset).
    pub fn reset(&self) {
        let config = self.config();
        let now = self.now();
        let mut st = lock(&self.state);
        st.accounts.iter_mut().for_each(|b| *b = Buckets::full(&config, now));
        st.keys.clear();
        st.shadow = Shadow::default();
        st.stats = Stats::default();
    }

    /// Whether a quota check needs the user's tags that the model has not seen yet.
    pub fn needs_state(&self, call: &Call) -> bool {
        let user = call.param("UserName").unwrap_or_default();
        call.action.as_deref() == Some("TagUser")
            && lock(&self.config).quotas.enabled
            && !lock(&self.state).shadow.knows(user)
    }

    /// Learns users' tags from moto's state.
    pub fn load_state(&self, state: &serde_json::Value) {
        lock(&self.state).shadow.load_state(state);
    }

    /// The latency to add to `call`, and whether it is forwarded or refused.
    pub fn admit(&self, account: usize, call: &Call, label: &str) -> (Duration, Result<(), Refusal>) {
        let c = self.config();
        let now = self.now();
        let mut st = lock(&self.state);
        *st.stats.requests.entry(label.to_owned()).or_default() += 1;
        let latency = match (c.latency.enabled, call.service) {
            (true, Service::Iam) => c.latency.iam,
            (true, Service::Sts) => c.latency.sts,
            _ => Duration::ZERO,
        };
        if call.service == Service::Other {
            return (latency, Ok(()));
        }
        (latency, Self::decide(&mut st, &c, account, call, label, now))
    }

    fn decide(
        st: &mut State,
        c: &ModelConfig,
        account: usize,
        call: &Call,
        label: &str,
        now: Duration,
    ) -> Result<(), Refusal> {
        if let (true, Some(key)) = (c.propagation.enabled, call.key_id.as_deref()) {
            match st.keys.check(key, now, &c.propagation) {
                Verdict::Pass => {}
                Verdict::NotYet => {
                    st.stats.not_yet_propagated += 1;
                    return Err(Refusal::invalid_token());
                }
                Verdict::Flap => {
                    st.stats.flapped += 1;
                    return Err(Refusal::invalid_token());
                }
            }
        }
        if c.throttle.enabled {
            let i = account.min(st.accounts.len() - 1);
            if let Err(bucket) = st.accounts[i].take(c, call, now) {
                *st.stats.throttled.entry(bucket.to_owned()).or_default() += 1;
                *st.stats.throttled_actions.entry(label.to_owned()).or_default() += 1;
                return Err(Refusal::throttling());
            }
        }
        if c.quotas.enabled && call.service == Service::Iam {
            if let Err(e) = st.shadow.check(call, &c.quotas) {
                *st.stats.quota_refusals.entry(label.to_owned()).or_default() += 1;
                return Err(Refusal::limit(e.0));
            }
        }
        if c.paging.enabled && call.param("Marker").is_some() && paging::is_paged(label) {
            st.stats.marker_requests += 1;
        }
        Ok(())
    }

    /// Learns from moto's successful answer to `call` and cuts it into a page; a marker the model
    /// did not make is refused as IAM refuses it.
    pub fn answered(&self, call: &Call, body: String) -> Result<String, Refusal> {
        let c = self.config();
        let now = self.now();
        let action = call.action.as_deref().unwrap_or_default();
        let mut st = lock(&self.state);
        if action == "CreateAccessKey" && c.propagation.enabled {
            if let Some(id) = xml::text(&body, "AccessKeyId") {
                st.keys.created(&id, now, &c.propagation);
            }
        }
        st.shadow.learn(call, &body);
        if !c.paging.enabled || !paging::is_paged(action) {
            return Ok(body);
        }
        let req = PageRequest {
            max_items: call.param("MaxItems").and_then(|m| m.parse().ok()),
            marker: call.param("Marker"),
            page_size: c.paging.page_size,
        };
        match paging::page(action, &body, req) {
            None => Ok(body),
            Some(Ok((page, truncated))) => {
                st.stats.truncated_pages += u64::from(truncated);
                Ok(page)
            }
            Some(Err(paging::BadMarker)) => Err(Refusal::validation("Invalid value for parameter Marker.")),
        }
    }
}
