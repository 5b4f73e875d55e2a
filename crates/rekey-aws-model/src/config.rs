//! What the model does, behaviour by behaviour: each one switched on or off and parameterised.
//! The defaults are real AWS as documented or reported (the README's testing section says where
//! each figure comes from); [`ModelConfig::suite`] is what every test suite runs with (paging and
//! quotas on, the timing behaviours off); settings are changed by `key=value` strings
//! ([`ModelConfig::set`]), the form the binary's `--set` and the `/model/config` endpoint take.

use crate::ModelError;
use std::time::Duration;

/// A token bucket's refill rate and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Tokens the bucket holds when full (the burst a quiet client may send at once).
    pub burst: f64,
}

/// Time added to every call of a service before it is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latency {
    /// On or off.
    pub enabled: bool,
    /// Per IAM call.
    pub iam: Duration,
    /// Per STS call.
    pub sts: Duration,
}

/// Per-account token buckets; a call finding its bucket empty is answered `Throttling`.
#[derive(Debug, Clone, PartialEq)]
pub struct Throttle {
    /// On or off.
    pub enabled: bool,
    /// Every IAM call.
    pub iam: Rate,
    /// IAM calls that change something (they take a token from both buckets).
    pub iam_mutating: Rate,
    /// Every STS call.
    pub sts: Rate,
}

/// A new access key is rejected (403 `InvalidClientTokenId`) for a while after its creation.
#[derive(Debug, Clone, PartialEq)]
pub struct Propagation {
    /// On or off.
    pub enabled: bool,
    /// Shortest delay before a new key works (each key draws its delay from `min..=max`).
    pub min: Duration,
    /// Longest delay.
    pub max: Duration,
    /// After the delay, a window in which the key still fails now and then.
    pub flap: Duration,
    /// The share of requests that fail within the flapping window (0–1).
    pub flap_failure: f64,
}

/// List calls answered in pages, as IAM does (moto ignores `MaxItems` and `Marker`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    /// On or off.
    pub enabled: bool,
    /// Most items per page (a smaller `MaxItems` wins).
    pub page_size: usize,
}

/// IAM's quotas that moto does not enforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quotas {
    /// On or off.
    pub enabled: bool,
    /// Tags per IAM user.
    pub tags_per_user: usize,
    /// Characters (whitespace not counted) of a managed policy document.
    pub managed_policy: usize,
    /// Characters (whitespace not counted) of all of a user's inline policies together.
    pub inline_user_policy: usize,
}

/// Every behaviour of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Latency per service.
    pub latency: Latency,
    /// Per-account token buckets for IAM and STS (`Throttling` errors).
    pub throttle: Throttle,
    /// New-key propagation delay.
    pub propagation: Propagation,
    /// Paging of list calls.
    pub paging: Paging,
    /// IAM's tag and policy-size quotas (`LimitExceeded` errors).
    pub quotas: Quotas,
    /// Seed of the model's random draws (propagation delays, flapping).
    pub seed: u64,
}

impl Default for ModelConfig {
    /// Real AWS: every behaviour on, at its documented or reported figure.
    fn default() -> Self {
        Self {
            latency: Latency { enabled: true, iam: Duration::from_millis(80), sts: Duration::from_millis(80) },
            throttle: Throttle {
                enabled: true,
                iam: Rate { per_second: 20.0, burst: 20.0 },
                iam_mutating: Rate { per_second: 10.0, burst: 10.0 },
                sts: Rate { per_second: 600.0, burst: 600.0 },
            },
            propagation: Propagation {
                enabled: true,
                min: Duration::from_secs(6),
                max: Duration::from_secs(10),
                flap: Duration::ZERO,
                flap_failure: 0.3,
            },
            paging: Paging { enabled: true, page_size: 100 },
            quotas: Quotas { enabled: true, tags_per_user: 50, managed_policy: 6_144, inline_user_policy: 2_048 },
            seed: 1,
        }
    }
}

impl ModelConfig {
    /// Real AWS (the defaults).
    pub fn real_aws() -> Self {
        Self::default()
    }

    /// What every test suite runs with: paging in pages of one item (so that even a user's two
    /// access keys take two pages) and the quotas on; no latency, no throttling, new keys work at
    /// once.
    pub fn suite() -> Self {
        let mut c = Self::default();
        c.latency.enabled = false;
        c.throttle.enabled = false;
        c.propagation.enabled = false;
        c.paging.page_size = 1;
        c
    }

    /// Everything off: a transparent proxy.
    pub fn off() -> Self {
        let mut c = Self::suite();
        c.paging.enabled = false;
        c.quotas.enabled = false;
        c
    }

    /// A preset by name: `real-aws`, `suite` or `off`.
    pub fn preset(name: &str) -> Result<Self, ModelError> {
        match name {
            "real-aws" => Ok(Self::real_aws()),
            "suite" => Ok(Self::suite()),
            "off" => Ok(Self::off()),
            other => Err(ModelError::Config(format!("unknown preset {other:?}: use real-aws, suite or off"))),
        }
    }

    /// Applies every `key=value` of `settings` (one per item, or one per line).
    pub fn set_all<'a>(&mut self, settings: impl IntoIterator<Item = &'a str>) -> Result<(), ModelError> {
        for line in settings.into_iter().flat_map(str::lines).map(str::trim).filter(|l| !l.is_empty()) {
            let (key, value) =
                line.split_once('=').ok_or_else(|| ModelError::Config(format!("{line:?} is not key=value")))?;
            self.set(key.trim(), value.trim())?;
        }
        Ok(())
    }

    /// Sets one setting; the keys are listed in the README's testing section.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ModelError> {
        let bad = |why: &str| ModelError::Config(format!("{key}={value}: {why}"));
        match key {
            "preset" => *self = Self::preset(value)?,
            "latency" => self.latency.enabled = on_off(value).ok_or_else(|| bad("use on or off"))?,
            "latency.iam" => self.latency.iam = duration(value).ok_or_else(|| bad("use a duration like 80ms"))?,
            "latency.sts" => self.latency.sts = duration(value).ok_or_else(|| bad("use a duration like 80ms"))?,
            "throttle" => self.throttle.enabled = on_off(value).ok_or_else(|| bad("use on or off"))?,
            "propagation" => self.propagation.enabled = on_off(value).ok_or_else(|| bad("use on or off"))?,
            "propagation.min" => {
                let p = &mut self.propagation;
                p.min = duration(value).ok_or_else(|| bad("use a duration"))?;
                p.max = p.max.max(p.min);
            }
            "propagation.max" => {
                let p = &mut self.propagation;
                p.max = duration(value).ok_or_else(|| bad("use a duration"))?;
                p.min = p.min.min(p.max);
            }
            "propagation.flap" => self.propagation.flap = duration(value).ok_or_else(|| bad("use a duration"))?,
            "propagation.flap-failure" => {
                self.propagation.flap_failure =
                    number(value).filter(|f| (0.0..=1.0).contains(f)).ok_or_else(|| bad("use 0 to 1"))?;
            }
            "paging" => self.paging.enabled = on_off(value).ok_or_else(|| bad("use on or off"))?,
            "paging.size" => {
                self.paging.page_size = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad("use 1 or more"))?;
            }
            "quotas" => self.quotas.enabled = on_off(value).ok_or_else(|| bad("use on or off"))?,
            "quotas.tags-per-user" => self.quotas.tags_per_user = count(value).ok_or_else(|| bad("use a count"))?,
            "quotas.managed-policy" => self.quotas.managed_policy = count(value).ok_or_else(|| bad("use a count"))?,
            "quotas.inline-user-policy" => {
                self.quotas.inline_user_policy = count(value).ok_or_else(|| bad("use a count"))?;
            }
            "seed" => self.seed = value.parse().map_err(|_| bad("use a whole number"))?,
            other => return self.set_rate(other, value),
        }
        Ok(())
    }

    /// `throttle.{iam,iam-mutating,sts}.{rate,burst}`.
    fn set_rate(&mut self, key: &str, value: &str) -> Result<(), ModelError> {
        let unknown = || ModelError::Config(format!("unknown setting {key:?}"));
        let rest = key.strip_prefix("throttle.").ok_or_else(unknown)?;
        let (bucket, field) = rest.split_once('.').ok_or_else(unknown)?;
        let rate = match bucket {
            "iam" => &mut self.throttle.iam,
            "iam-mutating" => &mut self.throttle.iam_mutating,
            "sts" => &mut self.throttle.sts,
            _ => return Err(unknown()),
        };
        let n = number(value)
            .filter(|n| *n > 0.0)
            .ok_or_else(|| ModelError::Config(format!("{key}={value}: use a number above 0")))?;
        match field {
            "rate" => rate.per_second = n,
            "burst" => rate.burst = n,
            _ => return Err(unknown()),
        }
        Ok(())
    }

    /// The settings as `key=value` lines (what `/model/config` answers).
    pub fn describe(&self) -> String {
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        let flag = |b: bool| if b { "on" } else { "off" };
        let t = &self.throttle;
        let p = &self.propagation;
        let q = &self.quotas;
        [
            format!("latency={}", flag(self.latency.enabled)),
            format!("latency.iam={}", ms(self.latency.iam)),
            format!("latency.sts={}", ms(self.latency.sts)),
            format!("throttle={}", flag(t.enabled)),
            format!("throttle.iam.rate={}", t.iam.per_second),
            format!("throttle.iam.burst={}", t.iam.burst),
            format!("throttle.iam-mutating.rate={}", t.iam_mutating.per_second),
            format!("throttle.iam-mutating.burst={}", t.iam_mutating.burst),
            format!("throttle.sts.rate={}", t.sts.per_second),
            format!("throttle.sts.burst={}", t.sts.burst),
            format!("propagation={}", flag(p.enabled)),
            format!("propagation.min={}", ms(p.min)),
            format!("propagation.max={}", ms(p.max)),
            format!("propagation.flap={}", ms(p.flap)),
            format!("propagation.flap-failure={}", p.flap_failure),
            format!("paging={}", flag(self.paging.enabled)),
            format!("paging.size={}", self.paging.page_size),
            format!("quotas={}", flag(q.enabled)),
            format!("quotas.tags-per-user={}", q.tags_per_user),
            format!("quotas.managed-policy={}", q.managed_policy),
            format!("quotas.inline-user-policy={}", q.inline_user_policy),
            format!("seed={}", self.seed),
        ]
        .join("\n")
    }
}

fn on_off(v: &str) -> Option<bool> {
    match v {
        "on" | "true" | "1" => Some(true),
        "off" | "false" | "0" => Some(false),
        _ => None,
    }
}

fn number(v: &str) -> Option<f64> {
    v.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn count(v: &str) -> Option<usize> {
    v.parse().ok()
}

/// `250ms`, `6s`, `1.5s` (a bare number is milliseconds).
pub fn duration(v: &str) -> Option<Duration> {
    let (n, unit) = match v.strip_suffix("ms") {
        Some(n) => (n, 0.001),
        None => match v.strip_suffix('s') {
            Some(n) => (n, 1.0),
            None => (v, 0.001),
        },
    };
    let secs = number(n.trim())? * unit;
    (secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_describe() {
        let mut c = ModelConfig::suite();
        c.set_all(["throttle=on", "throttle.iam-mutating.rate=2.5", "propagation.max=1.5s", "paging.size=7"]).unwrap();
        assert!(c.throttle.enabled);
        assert_eq!(c.throttle.iam_mutating.per_second, 2.5);
        assert_eq!(c.propagation.max, Duration::from_millis(1500));
        let mut again = ModelConfig::off();
        again.set_all([c.describe().as_str()]).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut c = ModelConfig::default();
        for bad in ["throttle.iam.rate=0", "paging.size=0", "latency=maybe", "nope=1", "throttle.x.rate=1", "seed"] {
            assert!(c.set_all([bad]).is_err(), "{bad} was accepted");
        }
        assert_eq!(c, ModelConfig::default(), "a refused setting changed something");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(duration("80ms"), Some(Duration::from_millis(80)));
        assert_eq!(duration("6s"), Some(Duration::from_secs(6)));
        assert_eq!(duration("250"), Some(Duration::from_millis(250)));
        assert_eq!(duration("-1s"), None);
    }
}
