//! `rekey init`: create a vault protected by a passphrase, a key file or a KMS key.

use crate::{
    cli::{Global, InitArgs},
    context,
};
use rekey_engine::{providers::check_endpoint_url, Engine, MasterKey, Result};
use rekey_store::OpenMode;

pub async fn run(global: &Global, args: InitArgs) -> Result<()> {
    let master = if let Some(key_id) = args.kms_key_id {
        if let Some(url) = &args.kms_endpoint_url {
            check_endpoint_url(url)?;
        }
        let region = match args.kms_region {
            Some(r) => r,
            None => std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        };
        let region: rekey_domain::Region = region.parse()?;
        MasterKey::Kms { key_id, region: region.to_string(), endpoint_url: args.kms_endpoint_url }
    } else if let Some(path) = &global.key_file {
        MasterKey::KeyFile(path.clone())
    } else {
        let p = context::passphrase(global, true)?;
        rekey_engine::vault::check_passphrase(&p)?;
        MasterKey::Passphrase(p)
    };
    let url = context::vault_url(global)?;
    // A SQLite file this command creates is removed again if the vault cannot be set up.
    let new_file = url
        .strip_prefix("sqlite:")
        .map(|p| std::path::PathBuf::from(p.strip_prefix("//").unwrap_or(p)))
        .filter(|p| !p.exists());
    let result = async { Engine::init(context::deps(global, OpenMode::Create).await?, master).await }.await;
    match result {
        Ok(engine) => {
            errln!(
                "Created a {} vault at {} (vault id {}).",
                engine.backend(),
                rekey_store::redact_url(&url),
                engine.vault_id()
            );
            Ok(())
        }
        Err(e) => {
            if let Some(path) = new_file {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Err(e)
        }
    }
}
