//! AWS Organizations: the member accounts a management account can reach.

use crate::{AwsError, Conn, Result};

/// An active member account: (id, name).
pub async fn active_accounts(conn: &Conn) -> Result<Vec<(String, String)>> {
    let client = aws_sdk_organizations::Client::new(&conn.sdk_config().await);
    let mut out = Vec::new();
    let mut pages = client.list_accounts().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("organizations:ListAccounts", e))?;
        for a in page.accounts.unwrap_or_default() {
            let active = a.state.as_ref().map(|s| s.as_str() == "ACTIVE").unwrap_or_else(|| {
                #[allow(deprecated)] // older endpoints only report `Status`
                a.status.as_ref().is_some_and(|s| s.as_str() == "ACTIVE")
            });
            if let (Some(id), true) = (a.id, active) {
                out.push((id, a.name.unwrap_or_default()));
            }
        }
    }
    out.sort();
    Ok(out)
}
