//! Test support, never shipped: local fakes of the APIs rekey delivers keys to — GitHub Actions
//! secrets ([`github`]), GitLab CI/CD variables ([`gitlab`]) and Kubernetes Secrets
//! ([`kubernetes`], over TLS with its own CA, see [`tls`]) — each following the documented
//! contract (paths, status codes, authentication headers, the checks the real service makes)
//! closely enough that a delivery that works against the fake works against the service.
//!
//! A fake serves on 127.0.0.1 on its own thread ([`serve`]), so synchronous tests can drive the
//! real `rekey` binary against it and inspect what arrived; [`faults`] makes chosen requests
//! fail (a 5xx) or lose their answer after taking effect. The `rekey-fakes` binary starts them
//! for scripts (the sandbox).
//!
//! # Layout
//!
//! - This file: [`Fake`] and the starters, [`start_github`], [`start_gitlab`],
//!   [`start_kubernetes`].
//! - [`github`]: Actions secrets (sealed-box encryption to the holder's public key).
//! - [`gitlab`]: CI/CD variables of projects and groups, with environment scopes.
//! - [`kubernetes`]: Secrets (optimistic concurrency by `resourceVersion`) and the Deployments
//!   a delivery restarts.
//! - [`serve`]: the HTTP(S) server under every fake and the [`serve::Req`] handlers see;
//!   [`tls`]: the throw-away CA; [`faults`]: failures a test arms.
//! - `bin/rekey-fakes.rs`: all three for scripts.

pub mod faults;
pub mod github;
pub mod gitlab;
pub mod kubernetes;
pub mod serve;
pub mod tls;

use std::sync::Arc;

/// A running fake and its state.
#[derive(Debug)]
pub struct Fake<T> {
    /// The fake's state, to inspect.
    pub state: Arc<T>,
    /// The server (stops when dropped).
    pub server: serve::Running,
}

/// Starts a GitHub fake over plain HTTP on 127.0.0.1 (`port` 0: a free port below 32768).
pub fn start_github(state: github::Github, port: u16) -> std::io::Result<Fake<github::Github>> {
    let state = Arc::new(state);
    let server = serve::start(state.clone(), port, None)?;
    Ok(Fake { state, server })
}

/// Starts a GitLab fake over plain HTTP on 127.0.0.1.
pub fn start_gitlab(state: gitlab::Gitlab, port: u16) -> std::io::Result<Fake<gitlab::Gitlab>> {
    let state = Arc::new(state);
    let server = serve::start(state.clone(), port, None)?;
    Ok(Fake { state, server })
}

/// Starts a Kubernetes fake over HTTPS on 127.0.0.1 with a certificate of `ca`.
pub fn start_kubernetes(
    state: kubernetes::Kubernetes,
    ca: &tls::TestCa,
    port: u16,
) -> std::io::Result<Fake<kubernetes::Kubernetes>> {
    let state = Arc::new(state);
    let server = serve::start(state.clone(), port, Some(ca.server_config().map_err(std::io::Error::other)?))?;
    Ok(Fake { state, server })
}
