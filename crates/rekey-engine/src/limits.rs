//! The limits an engine works under, passed in by the front end (the CLI from its environment,
//! the server from its configuration) — the engine reads no environment itself: how many
//! accounts at most are worked at once against one provider, how long one AWS attempt may take,
//! and the pace AWS calls start at (see [`rekey_aws::pace`]).

use crate::{Error, Result};
use rekey_aws::pace::PaceSettings;
use std::time::Duration;

/// The environment variable of [`Limits::provider_concurrency`].
pub const PROVIDER_CONCURRENCY_ENV: &str = "REKEY_PROVIDER_CONCURRENCY";
/// The environment variable of [`Limits::attempt_timeout`].
pub const ATTEMPT_TIMEOUT_ENV: &str = "REKEY_AWS_ATTEMPT_TIMEOUT";
/// The environment variable of [`Limits::pace`].
pub const PACE_ENV: &str = "REKEY_AWS_PACE";
/// The most accounts worked at once, overall or against one provider.
pub const MAX_CONCURRENCY: usize = 1024;

/// What an engine works under.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Most accounts worked at once against one provider; `None`: only the command's
    /// concurrency limits them (the pace keeps IAM from throttling them).
    pub provider_concurrency: Option<usize>,
    /// Timeout of one attempt of an AWS call; `None`: 20 s.
    pub attempt_timeout: Option<Duration>,
    /// The pace each provider's calls start at.
    pub pace: PaceSettings,
}

impl Limits {
    /// The limits named by settings (`lookup` gives a variable's value, e.g. from the
    /// environment or a configuration file): a usage error names the first bad one.
    pub fn from_settings(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Ok(Self {
            provider_concurrency: lookup(PROVIDER_CONCURRENCY_ENV).map(|v| provider_concurrency(&v)).transpose()?,
            attempt_timeout: lookup(ATTEMPT_TIMEOUT_ENV).map(|v| attempt_timeout(&v)).transpose()?,
            pace: lookup(PACE_ENV).map(|v| pace(&v)).transpose()?.unwrap_or_default(),
        })
    }
}

/// What [`Limits::provider_concurrency`] takes.
pub const PROVIDER_CONCURRENCY: rekey_domain::Whole =
    rekey_domain::Whole::new(1, MAX_CONCURRENCY as u64, 32, "a provider's cap is", "accounts worked at once");

/// `REKEY_PROVIDER_CONCURRENCY`: 1 to [`MAX_CONCURRENCY`], written as a whole number is
/// everywhere ([`rekey_domain::Whole`]: no sign, no spaces).
pub fn provider_concurrency(v: &str) -> Result<usize> {
    PROVIDER_CONCURRENCY.read(v).map_err(|problem| {
        Error::usage(
            format!("{PROVIDER_CONCURRENCY_ENV}: {problem}"),
            format!(
                "{}; or unset it (the pace keeps IAM from throttling; --concurrency limits the rest)",
                PROVIDER_CONCURRENCY.allowed()
            ),
        )
    })
}

/// `REKEY_AWS_ATTEMPT_TIMEOUT`: a positive duration.
pub fn attempt_timeout(v: &str) -> Result<Duration> {
    let bad = |why: String| Error::usage(format!("{ATTEMPT_TIMEOUT_ENV}: {why}"), "use a duration such as 5s or 500ms");
    match rekey_domain::duration::parse_duration_ms(v) {
        Ok(0) => Err(bad("must be more than 0ms".into())),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// `REKEY_AWS_PACE`: initial rates, `iam=16,iam-mutating=8,sts=100` (any subset).
pub fn pace(v: &str) -> Result<PaceSettings> {
    PaceSettings::parse(v).map_err(|why| {
        Error::usage(
            format!("{PACE_ENV}: {why}"),
            "leave it unset (rekey learns the pace), or give initial calls per second, e.g. iam=16,iam-mutating=8,sts=100",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_parsed_and_bad_ones_named() {
        let env = |k: &str| match k {
            PROVIDER_CONCURRENCY_ENV => Some("32".to_owned()),
            ATTEMPT_TIMEOUT_ENV => Some("2s".to_owned()),
            _ => None,
        };
        let l = Limits::from_settings(env).unwrap_or_default();
        assert_eq!((l.provider_concurrency, l.attempt_timeout), (Some(32), Some(Duration::from_secs(2))));
        assert_eq!(l.pace, PaceSettings::default());
        assert_eq!(Limits::from_settings(|_| None).ok(), Some(Limits::default()));
        for (k, v) in [(PROVIDER_CONCURRENCY_ENV, "0"), (ATTEMPT_TIMEOUT_ENV, "0s"), (PACE_ENV, "iam=fast")] {
            let e = Limits::from_settings(|n| (n == k).then(|| v.to_owned())).expect_err(k);
            assert!(e.to_string().contains(k), "{e}");
        }
    }

    #[test]
    fn the_provider_cap_is_a_whole_number_written_alone() {
        assert_eq!(provider_concurrency("32").ok(), Some(32));
        for (v, wrong) in [
            ("0", "0 is out of range"),
            ("1025", "1025 is out of range"),
            ("+32", r#""+32" has a "+" sign"#),
            (" 32", r#"" 32" has spaces around the number"#),
            ("many", r#""many" is not a whole number"#),
        ] {
            let e = provider_concurrency(v).expect_err(v);
            assert!(e.to_string().starts_with(&format!("{PROVIDER_CONCURRENCY_ENV}: {wrong}")), "{v}: {e}");
            let hint = e.hint().unwrap_or_default();
            assert!(hint.starts_with("a provider's cap is 1 to 1024 accounts worked at once; use e.g. 32"), "{hint}");
        }
    }
}
