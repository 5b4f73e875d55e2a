//! `rekey serve` (the server over this vault) and `rekey token` (its API tokens).

use crate::{
    cli::{Format, Global, ServeArgs, TokenCmd},
    cmd::run_due::terminated,
    context, output,
};
use rekey_domain::duration::parse_duration_ms;
use rekey_domain::Role;
use rekey_engine::{Error, Result};
use rekey_server::{Config, Jobs, Overrides, Shared};
use rekey_store::ApiToken;
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

pub async fn token(global: &Global, format: Format, cmd: TokenCmd) -> Result<()> {
    match cmd {
        TokenCmd::Create { role, name, folders, expires } => {
            let role: Role = role.parse()?;
            let folders = folders.iter().map(|f| f.parse()).collect::<std::result::Result<Vec<_>, _>>()?;
            let ttl = expires.as_deref().map(parse_duration_ms).transpose()?;
            if ttl == Some(0) {
                return Err(Error::usage("--expires must be positive", "use e.g. 30d, or leave it out"));
            }
            let engine = context::engine(global).await?;
            let expires_at = ttl.map(|ms| {
                engine.clock().now() + chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX / 2))
            });
            let minted = engine.create_token(&name, role, folders, expires_at).await?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::json!({ "id": minted.token.id, "role": minted.token.role, "token": minted.bearer.expose() })
                ),
                _ => {
                    println!("{}", minted.bearer.expose());
                    eprintln!("token {} ({}) created; it is shown only now", minted.token.id, minted.token.role);
                }
            }
        }
        TokenCmd::List => {
            let tokens = context::engine(global).await?.tokens().await?;
            let views: Vec<TokenView> = tokens.into_iter().map(TokenView).collect();
            output::list(format, &views);
        }
        TokenCmd::Revoke { id } => {
            context::engine(global).await?.revoke_token(&id).await?;
            eprintln!("token {id} revoked");
        }
    }
    Ok(())
}

#[derive(Debug, serde::Serialize)]
#[serde(transparent)]
struct TokenView(ApiToken);

impl output::Tabular for TokenView {
    fn headers() -> Vec<&'static str> {
        vec!["id", "name", "role", "folders", "created", "expires", "revoked"]
    }
    fn cells(&self) -> Vec<String> {
        let t = &self.0;
        let time = |v: Option<chrono::DateTime<chrono::Utc>>| v.map_or("-".into(), |t| t.to_rfc3339());
        vec![
            t.id.clone(),
            t.name.clone(),
            t.role.clone(),
            if t.folders.is_empty() {
                "*".into()
            } else {
                t.folders.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
            },
            t.created_at.to_rfc3339(),
            time(t.expires_at),
            time(t.revoked_at),
        ]
    }
}
