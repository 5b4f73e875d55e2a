//! A model of real AWS IAM and STS, as a proxy in front of moto, for rekey's tests and
//! benchmarks. moto answers every call at once, never throttles, makes a new key work at once,
//! ignores paging and enforces few quotas; real IAM does none of that. The model adds, each
//! switchable and parameterised ([`ModelConfig`]): latency per service; per-account token
//! buckets for IAM (all calls, and mutating calls separately) and STS, answered with AWS's
//! `Throttling` error; a propagation delay for new access keys (403 `InvalidClientTokenId`),
//! optionally flapping; IAM's paging of list calls; and IAM's tag and policy-size quotas.
//!
//! # Layout
//!
//! - [`config`]: the behaviours, their defaults (real AWS) and presets, `key=value` settings.
//! - [`server`]: the HTTP proxy ([`Model`] on its own thread for test fixtures, [`serve`] for the
//!   binary), forwarding to moto and the `/model/…` control endpoints.
//! - [`moto`]: `moto_server` as a child process, for fixtures.
//! - `state`: what the model decides about each call and learns from each answer.
//! - `bucket`, `keys`, `paging`, `quota`: one behaviour each, pure and unit-tested with time
//!   passed in; `request` and `xml` read calls and answers; `respond` builds IAM's error answers
//!   and the counts.
//!
//! The binary `rekey-aws-model` runs the proxy for scripts (`scripts/bench.sh`).

mod bucket;
pub mod config;
mod keys;
pub mod moto;
mod paging;
mod quota;
mod request;
mod respond;
pub mod server;
mod state;
mod xml;

pub use config::ModelConfig;
pub use moto::MotoServer;
pub use respond::Stats;
pub use server::{bind_low, serve, Model};
pub use state::Shared;

/// What can go wrong starting or configuring the model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A bad setting.
    #[error("bad model setting: {0}")]
    Config(String),
    /// A socket or thread could not be set up.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// moto did not answer.
    #[error("upstream: {0}")]
    Upstream(String),
}
