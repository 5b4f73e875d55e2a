//! `rekey token …`: the API tokens `rekey serve` accepts — minted (printed once, only a hash
//! stored), listed, revoked. The tokens themselves live in the engine (`rekey_engine::tokens`).

use crate::{
    cli::{duration_ms, hinted, Format, Global},
    context,
    output::{self, opt, time},
};
use clap::Subcommand;
use rekey_domain::{Folder, Role};
use rekey_engine::{Error, Result};
use rekey_store::ApiToken;

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token; it is printed once and only its hash is stored
    Create {
        /// admin, operator or auditor
        #[arg(long, value_parser = hinted::<Role>)]
        role: Role,
        /// A label for people
        #[arg(long)]
        name: String,
        /// Confine the token to this folder (and sub-folders); repeatable
        #[arg(long = "folder", value_name = "FOLDER", value_parser = hinted::<Folder>)]
        folders: Vec<Folder>,
        /// Lifetime, e.g. 30d (default: no expiry)
        #[arg(long, value_name = "DURATION", value_parser = duration_ms)]
        expires: Option<u64>,
    },
    /// List tokens (never their secrets)
    List,
    /// Revoke a token by id
    Revoke {
        /// Token id (the part after `rk_`)
        id: String,
    },
}

pub async fn run(global: &Global, format: Format, cmd: TokenCmd) -> Result<()> {
    match cmd {
        TokenCmd::Create { role, name, folders, expires: ttl } => {
            if ttl == Some(0) {
                return Err(Error::usage("--expires must be positive", "use e.g. 30d, or leave it out"));
            }
            let engine = context::engine(global).await?;
            let expires_at = ttl.map(|ms| {
                engine.clock().now() + chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX / 2))
            });
            let minted = engine.create_token(&name, role, folders, expires_at).await?;
            match format {
                Format::Json => outln!(
                    "{}",
                    serde_json::json!({ "id": minted.token.id, "role": minted.token.role, "token": minted.bearer.expose() })
                ),
                _ => {
                    outln!("{}", minted.bearer.expose());
                    errln!("token {} ({}) created; it is shown only now", minted.token.id, minted.token.role);
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
            errln!("token {id} revoked");
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
        let when = |v: Option<chrono::DateTime<chrono::Utc>>| opt(v.map(time));
        vec![
            t.id.clone(),
            t.name.clone(),
            t.role.to_string(),
            if t.folders.is_empty() {
                "*".into()
            } else {
                t.folders.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
            },
            time(t.created_at),
            when(t.expires_at),
            when(t.revoked_at),
        ]
    }
}
