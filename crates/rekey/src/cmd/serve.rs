//! `rekey serve`: the server over this vault (its API tokens are `rekey token`'s).
//!
//! SIGTERM and SIGINT are caught from the first moment ([`Stop::install`]), not only once the
//! server answers: a signal during start-up (reading the configuration, opening and upgrading
//! the vault, unlocking it, binding) lets the step under way finish — an upgrade of the vault's
//! schema is never cut in half — starts nothing after it, says so on stderr and exits 0. The
//! passphrase prompt is the exception: nothing is under way while it waits, so a signal ends it
//! at once ([`crate::prompt::interrupt`]: echo back on, what was typed discarded), and the
//! process exits 0 the same way. Once serving, [`rekey_server::serve`] stops as it always has
//! (rotations at their next journal boundary, in-flight requests answered).

use crate::{
    cli::{Global, ServeArgs},
    context,
};
use rekey_engine::{failpoint::crash_point, Error, Result};
use rekey_server::{Config, Jobs, Overrides, Shared};
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};
use tokio::sync::watch;

pub async fn run(global: &Global, args: ServeArgs) -> Result<()> {
    let stop = Stop::install();
    let flags = Overrides { listen: args.listen, tls_cert: args.tls_cert, tls_key: args.tls_key };
    let config = Config::load(args.config.as_deref(), |k| std::env::var(k).ok(), &flags)
        .map_err(|e| Error::usage(e.message, e.hint))?;
    let jobs = Jobs::build(&config).map_err(|e| Error::usage(e.message, e.hint))?;
    let limits = config.aws.limits().map_err(|e| Error::usage(e.message, e.hint))?;
    if stop.stopped_after("reading the configuration") {
        return Ok(());
    }
    // Unlocking first proves the key; recovery runs once the server answers.
    let engine = context::engine(global).await;
    if engine.is_err() && stop.ended_prompt() {
        return Ok(());
    }
    let engine = engine?.acting_as("server").with_limits(limits).with_leases(config.cluster.leases());
    // Tests hold the start-up here (`sleep(MS)`) to signal the process in it.
    crash_point("serve:start-up");
    if stop.stopped_after("opening and unlocking the vault") {
        return Ok(());
    }
    let state = Shared::new(Arc::new(engine), config);
    // From here the server says how it stops.
    stop.starting.store(false, Ordering::Relaxed);
    rekey_server::serve(state, jobs, stop.wait()).await.map_err(|e| Error::usage(e.message, e.hint))
}

/// SIGTERM or SIGINT, caught from the moment [`Stop::install`] runs; the signal's name once one
/// arrived.
struct Stop {
    signal: watch::Receiver<Option<&'static str>>,
    /// Whether start-up is still under way (what a signal's line says).
    starting: Arc<AtomicBool>,
    /// Whether the signal ended the passphrase prompt.
    at_prompt: Arc<AtomicBool>,
}

impl Stop {
    /// Installs the handlers now (tokio's `ctrl_c()` would install its own only when first
    /// awaited, leaving the default action — death — until then).
    fn install() -> Self {
        let (tx, signal) = watch::channel(None);
        let (starting, at_prompt) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicBool::new(false)));
        let mut handlers = handlers();
        let (during_start_up, ended_prompt) = (starting.clone(), at_prompt.clone());
        tokio::spawn(async move {
            let name = first(&mut handlers).await;
            let _ = tx.send(Some(name));
            if during_start_up.load(Ordering::Relaxed) {
                // Said and recorded before the prompt answers, so that its caller finds it so.
                let ended = move || {
                    errln!("rekey serve: {name}: stopping (at the passphrase prompt, at once)");
                    ended_prompt.store(true, Ordering::SeqCst);
                };
                if crate::prompt::interrupt(ended) == crate::prompt::Interrupted::Closed {
                    errln!("rekey serve: {name}: stopping (during start-up, once the step under way ends)");
                }
            }
        });
        Self { signal, starting, at_prompt }
    }

    /// Whether a signal ended the passphrase prompt; if so, says so.
    fn ended_prompt(&self) -> bool {
        if !self.at_prompt.load(Ordering::SeqCst) {
            return false;
        }
        let name = (*self.signal.borrow()).unwrap_or("a signal");
        errln!("rekey serve: stopped during start-up ({name}) at the passphrase prompt; nothing was started");
        true
    }

    /// Whether a signal arrived; if so, says where start-up stopped.
    fn stopped_after(&self, step: &str) -> bool {
        let Some(name) = *self.signal.borrow() else { return false };
        errln!("rekey serve: stopped during start-up ({name}), after {step}; nothing else was started");
        true
    }

    /// Resolves once a signal arrived.
    async fn wait(mut self) {
        let _ = self.signal.wait_for(Option::is_some).await;
    }
}

#[cfg(unix)]
type Handlers = [(Option<tokio::signal::unix::Signal>, &'static str); 2];

#[cfg(unix)]
fn handlers() -> Handlers {
    use tokio::signal::unix::{signal, SignalKind};
    [(signal(SignalKind::terminate()).ok(), "SIGTERM"), (signal(SignalKind::interrupt()).ok(), "SIGINT")]
}

/// The name of the first signal to arrive (a handler that could not be installed never fires).
#[cfg(unix)]
async fn first(handlers: &mut Handlers) -> &'static str {
    async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let [(term, t), (int, i)] = handlers;
    tokio::select! {
        () = one(term) => t,
        () = one(int) => i,
    }
}

#[cfg(not(unix))]
type Handlers = ();

#[cfg(not(unix))]
fn handlers() -> Handlers {}

#[cfg(not(unix))]
async fn first(_: &mut Handlers) -> &'static str {
    match tokio::signal::ctrl_c().await {
        Ok(()) => "Ctrl-C",
        Err(_) => std::future::pending().await,
    }
}
