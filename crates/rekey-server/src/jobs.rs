//! The server's background jobs besides the scheduler — the audit exports and the notifier —
//! built and checked from the configuration before the vault is unlocked, so a bad `[[export]]`
//! or `[notify]` (or a signing key that cannot be read) stops `rekey serve` at start.

use crate::{
    config::{positive, Config, DEFAULT_TIMEOUT},
    error::{bad, ConfigError},
    export::{self, Exporter},
    notify::Notifier,
};
use rekey_domain::DurationMs;
use rekey_engine::delivery::webhook::Webhook;

/// The background jobs `[[export]]` and `[notify]` configure.
#[derive(Debug, Default)]
pub struct Jobs {
    /// One per `[[export]]`.
    pub(crate) exporters: Vec<Exporter>,
    /// `[notify]`, if configured.
    pub(crate) notifier: Option<Notifier>,
}

impl Jobs {
    /// Builds every job and reads its signing key once.
    pub fn build(config: &Config) -> Result<Self, ConfigError> {
        let mut exporters = Vec::with_capacity(config.exports.len());
        for (i, e) in config.exports.iter().enumerate() {
            if config.exports[..i].iter().any(|o| o.name == e.name) {
                return Err(bad(format!("two exports are named {:?}", e.name), "give each [[export]] its own name"));
            }
            exporters.push(Exporter::build(e)?);
        }
        let notifier = config.notify.as_ref().map(Notifier::build).transpose()?;
        let jobs = Self { exporters, notifier };
        jobs.check_keys()?;
        Ok(jobs)
    }

    /// Reads every signing key now, so a missing one stops the start instead of every round.
    fn check_keys(&self) -> Result<(), ConfigError> {
        let hooks = self.exporters.iter().filter_map(|x| match &x.destination {
            export::Destination::Webhook(h) => Some(h),
            _ => None,
        });
        for hook in hooks.chain(self.notifier.as_ref().map(Notifier::hook)) {
            hook.check_key().map_err(|e| ConfigError {
                message: format!("{}: {e}", hook.describe()),
                hint: e.hint().unwrap_or_default(),
            })?;
        }
        Ok(())
    }
}

/// A signed-webhook endpoint from its settings; `what` names the table in messages.
pub(crate) fn webhook(
    what: &str,
    url: &str,
    key_env: Option<&String>,
    key_file: Option<&String>,
    timeout: Option<DurationMs>,
) -> Result<Webhook, ConfigError> {
    let invalid = |e: rekey_domain::ValidationError| bad(format!("{what}: {}", e.problem), e.hint);
    rekey_domain::webhook::validate_url(url, "url").map_err(invalid)?;
    let key =
        rekey_domain::webhook::KeySource::from_parts(key_env.cloned(), key_file.cloned(), "key").map_err(invalid)?;
    let timeout = positive(&format!("{what}.timeout"), timeout.unwrap_or(DEFAULT_TIMEOUT))?;
    Ok(Webhook { url: url.to_owned(), key, timeout })
}
