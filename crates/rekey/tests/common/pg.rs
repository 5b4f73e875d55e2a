//! A fresh PostgreSQL schema per test (from REKEY_TEST_POSTGRES_URL), dropped afterwards.

use super::iam::block_on;

/// A schema and the vault URL that selects it.
pub struct PgSchema {
    pub url: String,
    base: String,
    schema: String,
}

/// A new schema, or `None` (with a "skipped" line) when REKEY_TEST_POSTGRES_URL is unset.
pub fn schema() -> Option<PgSchema> {
    let Ok(base) = std::env::var("REKEY_TEST_POSTGRES_URL") else {
        eprintln!("skipped: REKEY_TEST_POSTGRES_URL not set");
        return None;
    };
    let schema = format!("e2e_{}_{}", std::process::id(), rand_suffix());
    block_on(async {
        let pool = sqlx::PgPool::connect(&base).await.expect("REKEY_TEST_POSTGRES_URL is reachable");
        sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&pool).await.expect("create schema");
    });
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    Some(PgSchema { url, base, schema })
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now()) % 1_000_000_000
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (base, schema) = (self.base.clone(), self.schema.clone());
        block_on(async move {
            if let Ok(pool) = sqlx::PgPool::connect(&base).await {
                let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&pool).await;
            }
        });
    }
}
