//! The `rekey` binary: parse the command line, run the command, map failures to exit codes.

// Output goes through `outln!`/`errln!` (mod stdio): the std macros panic on a closed pipe.
#![warn(clippy::print_stdout, clippy::print_stderr)]

#[macro_use]
mod stdio;
mod cli;
mod cli_targets;
mod cmd;
mod context;
mod detail;
mod exit;
mod output;
mod progress;
mod prompt;
mod views;

use clap::Parser;

/// mimalloc: rows are decoded on the database driver's thread and dropped on the runtime's, and
/// glibc's allocator spends a fifth of a 10,000-account listing on such cross-thread frees
/// (BENCHMARKS.md, P4).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use cli::{Cli, Command, Format};
use std::{io::IsTerminal, process::ExitCode};

fn main() -> ExitCode {
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    // Before any thread starts: the environment and resource limits are process-wide.
    harden_process();
    let cli = Cli::parse();
    let format = cli.global.output.unwrap_or(Format::Table);
    output::fit_tables(cli.global.wide);
    if let Err(e) = init_logging().and_then(|()| check_env()) {
        return exit::report(&e, format);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::report(&e, format),
    };
    match stdio::lost() {
        // What the command printed (a new token, a checked-out password) did not arrive.
        Some(why) => {
            errln!("error: the output could not be written: {why}");
            errln!("  hint: write it where there is room (the command itself has run; a token or password shown once must be made again)");
            ExitCode::from(exit::INTERNAL)
        }
        None => code,
    }
}

/// No core dumps (a dump holds the vault key and every secret in memory), and no secrets left
/// in the environment.
fn harden_process() {
    use nix::sys::resource::{setrlimit, Resource};
    if let Err(e) = setrlimit(Resource::RLIMIT_CORE, 0, 0) {
        errln!("warning: cannot disable core dumps: {e}");
    }
    context::take_environment();
}

/// Settings read from the environment that every command depends on, checked before anything
/// runs: the engine's limits (per-provider cap, AWS attempt timeout, initial pace), and
/// `TOKIO_WORKER_THREADS`, on which the async runtime would panic if it cannot use the value.
fn check_env() -> rekey_engine::Result<()> {
    context::limits()?;
    let usable = match std::env::var("TOKIO_WORKER_THREADS") {
        Err(std::env::VarError::NotPresent) => true,
        Ok(v) => v.parse::<usize>().is_ok_and(|n| n > 0),
        Err(std::env::VarError::NotUnicode(_)) => false,
    };
    if usable {
        return Ok(());
    }
    Err(rekey_engine::Error::usage(
        "TOKIO_WORKER_THREADS is set but is not a positive whole number",
        "unset it, or set it to the number of worker threads to use, e.g. TOKIO_WORKER_THREADS=2",
    ))
}

async fn run(cli: Cli) -> rekey_engine::Result<()> {
    let g = &cli.global;
    let format = g.output.unwrap_or(Format::Table);
    match cli.command {
        Command::Init(args) => cmd::init::run(g, args).await,
        Command::Provider(c) => cmd::provider::run(g, format, c).await,
        Command::Account(c) => cmd::account::run(g, format, c).await,
        Command::Audit(c) => cmd::audit::run(g, format, c).await,
        Command::Rotate(args) => cmd::rotate::rotate(g, format, args).await,
        Command::Incident(args) => cmd::incident::run(g, format, args).await,
        Command::Recover => cmd::rotate::recover(g, format).await,
        Command::Heartbeat(s) => cmd::heartbeat::run(g, format, s).await,
        Command::RunDue(args) => cmd::run_due::run(g, format, args).await,
        Command::Rollback(args) => cmd::rollback::run(g, format, args).await,
        Command::Rotation(c) => cmd::rotation::run(g, format, c).await,
        Command::Discover(args) => cmd::discover::run(g, format, args).await,
        Command::Report(args) => cmd::report::run(g, format, args).await,
        Command::Serve(args) => cmd::serve::run(g, args).await,
        Command::Token(c) => cmd::token::run(g, format, c).await,
        Command::Vault(c) => cmd::vault::run(g, format, c).await,
        Command::Policy(args) => cmd::policy::run(g, args).await,
        Command::Completions(args) => cmd::docs::completions(&args),
        Command::Man(args) => cmd::docs::man(&args),
    }
}

/// The log filter without `REKEY_LOG`: warnings, except the AWS SDK's report that it could not
/// mark a pooled connection for closure (logged at ERROR on every call through a proxy-less
/// HTTP/1 endpoint such as moto, and nothing an operator can act on). `REKEY_LOG` replaces the
/// whole filter, so `REKEY_LOG=warn` shows it again.
const DEFAULT_LOG: &str = "warn,aws_smithy_runtime::client::http::connection_poisoning=off";

/// Logs go to stderr, warnings by default; `REKEY_LOG` takes an env-filter directive. A value
/// that is not one is refused rather than ignored: someone who asked for logs gets them or
/// knows why not.
fn init_logging() -> rekey_engine::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(std::env::var("REKEY_LOG"))?)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // A closed stderr (e.g. `2>&1 | head`) must not turn every log line into an error report.
        .log_internal_errors(false)
        .init();
    Ok(())
}

/// The filter `REKEY_LOG` (as read from the environment) asks for.
fn log_filter(rekey_log: Result<String, std::env::VarError>) -> rekey_engine::Result<tracing_subscriber::EnvFilter> {
    match rekey_log {
        Err(std::env::VarError::NotPresent) => Ok(tracing_subscriber::EnvFilter::new(DEFAULT_LOG)),
        Ok(v) if v.trim().is_empty() => Ok(tracing_subscriber::EnvFilter::new(DEFAULT_LOG)),
        Ok(v) => parse_log_filter(&v),
        Err(std::env::VarError::NotUnicode(_)) => Err(bad_log_filter("REKEY_LOG is not valid UTF-8".into())),
    }
}

/// `REKEY_LOG`'s filter. The env-filter syntax reads any bare word as a target name
/// (`REKEY_LOG=verbose` would silently log nothing of rekey's), so a bare word must be a level
/// or a module path (`rekey_engine`, `aws_smithy_runtime::client`).
fn parse_log_filter(v: &str) -> rekey_engine::Result<tracing_subscriber::EnvFilter> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    for d in v.split(',').map(str::trim).filter(|d| !d.is_empty() && !d.contains(['=', '['])) {
        if !LEVELS.contains(&d.to_ascii_lowercase().as_str()) && !d.contains(['_', ':']) {
            return Err(bad_log_filter(format!("REKEY_LOG: {d:?} is neither a level nor a module path")));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(v)
        .map_err(|e| bad_log_filter(format!("REKEY_LOG {v:?} is not a log filter: {e}")))
}

fn bad_log_filter(message: String) -> rekey_engine::Error {
    rekey_engine::Error::usage(
        message,
        "use a level (error, warn, info, debug, trace) or TARGET=LEVEL pairs separated by commas, \
         e.g. REKEY_LOG=info,rekey_engine=debug; unset it for warnings only",
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    /// What one ERROR event of `target` logs under the filter `REKEY_LOG` asks for.
    fn logged(rekey_log: Option<&str>, target_is_pool: bool) -> String {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let var = rekey_log.map(str::to_owned).ok_or(std::env::VarError::NotPresent);
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(super::log_filter(var).unwrap())
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            if target_is_pool {
                tracing::error!(target: "aws_smithy_runtime::client::http::connection_poisoning", "unable to mark");
            } else {
                tracing::error!(target: "rekey_engine::rotate", "a real error");
            }
        });
        let text = seen.lock().unwrap().clone();
        String::from_utf8(text).unwrap()
    }

    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_sdks_connection_pool_noise_is_silent_by_default_and_shown_when_asked_for() {
        assert_eq!(logged(None, true), "", "default filter");
        assert_eq!(logged(Some(" "), true), "", "an empty REKEY_LOG is the default");
        assert!(logged(None, false).contains("a real error"), "other errors are still logged");
        assert!(logged(Some("warn"), true).contains("unable to mark"), "an explicit REKEY_LOG shows it");
    }
}
