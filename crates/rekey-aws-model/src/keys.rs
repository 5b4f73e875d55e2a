//! New-key propagation: IAM answers `CreateAccessKey` at once, but the key is not accepted
//! everywhere for a few seconds. The model learns each new key from the `CreateAccessKey`
//! answers passing through it, draws the key's delay from the configured range, and rejects
//! requests signed with the key until the delay has passed — and, within an optional flapping
//! window after it, a share of them still (AWS warns that a new key may work and then fail
//! briefly). Time is passed in, as for the buckets.

use crate::config::Propagation;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::{collections::HashMap, time::Duration};

/// What the model does with a request signed by a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not a new key, or one that has propagated: forwarded.
    Pass,
    /// Younger than its delay: rejected.
    NotYet,
    /// Within its flapping window, and this request drew a failure.
    Flap,
}

/// The new keys and when each starts to work.
#[derive(Debug)]
pub struct NewKeys {
    /// Key id → (works from, flapping ends).
    keys: HashMap<String, (Duration, Duration)>,
    rng: StdRng,
}

impl NewKeys {
    /// No keys yet; random draws from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { keys: HashMap::new(), rng: StdRng::seed_from_u64(seed) }
    }

    /// A key created at `now`: draws its delay. Keys whose flapping ended are forgotten.
    pub fn created(&mut self, key_id: &str, now: Duration, p: &Propagation) {
        self.keys.retain(|_, (_, until)| *until > now);
        let delay = if p.max > p.min { self.rng.gen_range(p.min..=p.max) } else { p.min };
        self.keys.insert(key_id.to_owned(), (now + delay, now + delay + p.flap));
    }

    /// Whether a request signed with `key_id` at `now` goes through.
    pub fn check(&mut self, key_id: &str, now: Duration, p: &Propagation) -> Verdict {
        match self.keys.get(key_id) {
            Some((works, _)) if now < *works => Verdict::NotYet,
            Some((_, flap_ends)) if now < *flap_ends && self.rng.gen_bool(p.flap_failure.clamp(0.0, 1.0)) => {
                Verdict::Flap
            }
            _ => Verdict::Pass,
        }
    }

    /// Forgets every key (moto was reset).
    pub fn clear(&mut self) {
        self.keys.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: f64) -> Duration {
        Duration::from_secs_f64(n)
    }

    #[test]
    fn a_new_key_fails_until_its_delay_has_passed() {
        let p = Propagation { enabled: true, min: s(6.0), max: s(10.0), flap: Duration::ZERO, flap_failure: 0.0 };
        let mut keys = NewKeys::new(7);
        keys.created("K", s(100.0), &p);
        assert_eq!(keys.check("K", s(105.9), &p), Verdict::NotYet);
        assert_eq!(keys.check("K", s(110.0), &p), Verdict::Pass);
        assert_eq!(keys.check("OLD", s(100.0), &p), Verdict::Pass, "keys not seen created pass");
        let delay = (0..1000).map(|i| i as f64 / 100.0).find(|t| keys.check("K", s(100.0 + t), &p) == Verdict::Pass);
        assert!(delay.is_some_and(|d| (6.0..=10.0).contains(&d)), "{delay:?}");
    }

    #[test]
    fn delays_spread_over_the_range() {
        let p = Propagation { enabled: true, min: s(6.0), max: s(10.0), flap: Duration::ZERO, flap_failure: 0.0 };
        let mut keys = NewKeys::new(1);
        let mut works = Vec::new();
        for i in 0..200 {
            let id = format!("K{i}");
            keys.created(&id, Duration::ZERO, &p);
            works.push((0..=100).find(|t| keys.check(&id, s(*t as f64 / 10.0), &p) == Verdict::Pass).unwrap());
        }
        assert!(works.iter().all(|t| (60..=100).contains(t)));
        assert!(works.iter().any(|t| *t < 70) && works.iter().any(|t| *t > 90), "{works:?}");
    }

    #[test]
    fn flapping_fails_a_share_of_requests_after_the_delay() {
        let p = Propagation { enabled: true, min: s(1.0), max: s(1.0), flap: s(5.0), flap_failure: 0.5 };
        let mut keys = NewKeys::new(3);
        keys.created("K", Duration::ZERO, &p);
        let flaps = (0..400).filter(|i| keys.check("K", s(1.0 + *i as f64 / 100.0), &p) == Verdict::Flap).count();
        assert!((120..=280).contains(&flaps), "{flaps} of 400 failed at 50%");
        assert_eq!(keys.check("K", s(6.0), &p), Verdict::Pass, "the window is over");
    }
}
