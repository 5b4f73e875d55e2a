//! `rekey-aws-model`: the model of real AWS in front of a running moto, for scripts. Prints one
//! endpoint URL per simulated account on standard output, then serves until SIGINT or SIGTERM.

use clap::Parser;
use rekey_aws_model::{bind_low, serve, ModelConfig, Shared};
use std::{io::Write, net::SocketAddr, sync::Arc};

/// A model of real AWS IAM and STS (latency, throttling, key propagation, paging, quotas) in
/// front of moto. Settings: see the README's testing section.
#[derive(Debug, Parser)]
#[command(name = "rekey-aws-model")]
struct Args {
    /// moto's address, e.g. http://127.0.0.1:5000
    #[arg(long)]
    upstream: String,
    /// Simulated AWS accounts: one listener each, with its own token buckets
    #[arg(long, default_value_t = 1)]
    accounts: usize,
    /// Starting point: real-aws, suite or off
    #[arg(long, default_value = "real-aws")]
    preset: String,
    /// A setting, KEY=VALUE (repeatable), e.g. --set propagation.max=15s
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rekey-aws-model: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = ModelConfig::preset(&args.preset)?;
    config.set_all(args.settings.iter().map(String::as_str))?;
    let hostport = args.upstream.trim_start_matches("http://").trim_end_matches('/');
    let upstream: SocketAddr = hostport.parse().map_err(|e| format!("--upstream {}: {e}", args.upstream))?;
    let listeners = (0..args.accounts.max(1)).map(|_| bind_low()).collect::<Result<Vec<_>, _>>()?;
    let mut out = std::io::stdout().lock();
    for l in &listeners {
        writeln!(out, "http://127.0.0.1:{}", l.local_addr()?.port())?;
    }
    out.flush()?;
    drop(out);
    let shared = Arc::new(Shared::new(config, upstream, args.accounts));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(shared, listeners, stopped()))?;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn stopped() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else { return };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
