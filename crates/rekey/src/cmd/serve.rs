//! `rekey serve`: the server over this vault (its API tokens are `rekey token`'s).

use crate::{
    cli::{Global, ServeArgs},
    cmd::run_due::terminated,
    context,
};
use rekey_engine::{Error, Result};
use rekey_server::{Config, Jobs, Overrides, Shared};
use std::sync::Arc;

pub async fn run(global: &Global, args: ServeArgs) -> Result<()> {
    let flags = Overrides { listen: args.listen, tls_cert: args.tls_cert, tls_key: args.tls_key };
    let config = Config::load(args.config.as_deref(), |k| std::env::var(k).ok(), &flags)
        .map_err(|e| Error::usage(e.message, e.hint))?;
    let jobs = Jobs::build(&config).map_err(|e| Error::usage(e.message, e.hint))?;
    // Unlocking first proves the key; recovery runs once the server answers.
    let limits = config.aws.limits().map_err(|e| Error::usage(e.message, e.hint))?;
    let engine =
        context::engine(global).await?.acting_as("server").with_limits(limits).with_leases(config.cluster.leases());
    let state = Shared::new(Arc::new(engine), config);
    let shutdown = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminated() => {}
        }
    };
    rekey_server::serve(state, jobs, shutdown).await.map_err(|e| Error::usage(e.message, e.hint))
}
