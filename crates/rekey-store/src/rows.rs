//! Rows as the database returns them, and their conversion into records.
//!
//! Each table's columns are read into a `…Row` struct (`sqlx::FromRow`, the columns' stored
//! types), then converted with `TryFrom` into its [`crate::model`] record: a stored value that
//! does not parse back into its domain type is [`StoreError::Corrupt`], naming the column. Rows
//! the barrier protects are verified against their MAC first ([`ProviderRow::verified`],
//! [`SecretRow::verified`]); an account's failure is recorded on it instead
//! ([`AccountRow::checked`]), so a listing still shows the others.

use crate::barrier::{self, Barrier, RowParts};
use crate::settings::AccountSettings;
use crate::{from_millis, model::*, Result, StoreError};
use rekey_domain::Folder;
use sqlx::FromRow;
use std::str::FromStr;

/// Parses a stored column back into its domain type; a failure means the row was damaged.
pub(crate) fn parse_col<T: FromStr>(value: &str, column: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e: T::Err| StoreError::Corrupt { location: format!("column {column}"), problem: e.to_string() })
}

/// Parses a stored JSON column; a failure means the row was damaged.
pub(crate) fn json_col<T: serde::de::DeserializeOwned>(value: &str, column: &str) -> Result<T> {
    serde_json::from_str(value)
        .map_err(|e| StoreError::Corrupt { location: format!("column {column}"), problem: e.to_string() })
}

/// The stored JSON text of `value`.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// The columns of `providers`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ProviderRow {
    pub name: String,
    pub region: String,
    pub endpoint_url: Option<String>,
    pub auth: String,
    pub mfa_serial: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub mac: Option<String>,
}

impl ProviderRow {
    /// The row's authenticated columns, with `auth` as given.
    pub(crate) fn parts(&self, auth: &str) -> RowParts {
        barrier::provider_row(&self.name, &self.region, self.endpoint_url.as_deref(), auth, self.mfa_serial.as_deref())
    }

    /// `Tampered` unless the row matches its MAC.
    pub(crate) fn verify(&self, b: &Barrier) -> Result<()> {
        b.verify(&self.parts(&self.auth), self.mac.as_deref(), || format!("provider {:?}", self.name))
    }

    /// The provider, after checking the row's MAC (`Tampered` if it fails).
    pub(crate) fn verified(self, b: &Barrier) -> Result<Provider> {
        self.verify(b)?;
        self.try_into()
    }
}

impl TryFrom<ProviderRow> for Provider {
    type Error = StoreError;

    fn try_from(r: ProviderRow) -> Result<Self> {
        Ok(Provider {
            name: parse_col(&r.name, "providers.name")?,
            region: parse_col(&r.region, "providers.region")?,
            endpoint_url: r.endpoint_url,
            auth: json_col(&r.auth, "providers.auth")?,
            mfa_serial: r.mfa_serial,
            created_at: from_millis(r.created_at),
            updated_at: from_millis(r.updated_at),
        })
    }
}

/// The columns of an account joined with its current secret version (`ACCOUNT_SELECT`).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AccountRow {
    pub id: String,
    pub provider: String,
    pub user_name: String,
    pub user_id: String,
    pub arn: String,
    pub kind: String,
    pub folder: Option<String>,
    pub title: Option<String>,
    pub status: String,
    pub settings: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub current_version: Option<i64>,
    pub current_key_id: Option<String>,
    pub current_origin: Option<String>,
    pub current_mac: Option<String>,
    pub mac: Option<String>,
    pub last_rotated_at: Option<i64>,
    pub next_due_at: Option<i64>,
    pub heartbeat_at: Option<i64>,
    pub heartbeat_status: Option<String>,
    pub heartbeat_detail: Option<String>,
}

impl AccountRow {
    /// The account, flagged [`Account::tampered`] if it or its current secret version fails
    /// its integrity check.
    pub(crate) fn checked(self, b: &Barrier) -> Result<Account> {
        let row = barrier::account_row(
            &self.id,
            &self.provider,
            &self.user_name,
            &self.user_id,
            &self.arn,
            &self.kind,
            self.folder.as_deref(),
            &self.settings,
        );
        let mut tampered = b.verify(&row, self.mac.as_deref(), || format!("account {:?}", self.id)).err();
        if let Some(version) = self.current_version {
            let origin = self.current_origin.as_deref().unwrap_or_default();
            let row = barrier::secret_row(&self.id, version, "current", self.current_key_id.as_deref(), origin);
            let what = || format!("secret version {version} of {}", self.id);
            tampered = tampered.or(b.verify(&row, self.current_mac.as_deref(), what).err());
        }
        let mut account = Account::try_from(self)?;
        account.tampered = tampered.map(|e| match e {
            StoreError::Tampered { what, problem } => format!("{what}: {problem}"),
            other => other.to_string(),
        });
        Ok(account)
    }
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;

    /// The account as stored, not yet checked against its MAC (`tampered` is `None`).
    fn try_from(r: AccountRow) -> Result<Self> {
        let heartbeat = match r.heartbeat_at {
            Some(at) => Some(Heartbeat {
                at: from_millis(at),
                status: parse_col(&r.heartbeat_status.unwrap_or_default(), "accounts.heartbeat_status")?,
                detail: json_col(r.heartbeat_detail.as_deref().unwrap_or("null"), "accounts.heartbeat_detail")?,
            }),
            None => None,
        };
        Ok(Account {
            tampered: None,
            id: parse_col(&r.id, "accounts.id")?,
            provider: parse_col(&r.provider, "accounts.provider")?,
            user_name: parse_col(&r.user_name, "accounts.user_name")?,
            user_id: r.user_id,
            arn: parse_col(&r.arn, "accounts.arn")?,
            kind: parse_col(&r.kind, "accounts.kind")?,
            folder: r.folder.map(|f| parse_col::<Folder>(&f, "accounts.folder")).transpose()?,
            title: r.title,
            status: parse_col(&r.status, "accounts.status")?,
            settings: AccountSettings::from_stored(json_col(&r.settings, "accounts.settings")?),
            created_at: from_millis(r.created_at),
            updated_at: from_millis(r.updated_at),
            current_version: r.current_version,
            current_key_id: r.current_key_id,
            last_rotated_at: r.last_rotated_at.map(from_millis),
            next_due_at: r.next_due_at.map(from_millis),
            heartbeat,
        })
    }
}

/// The columns of `rotations`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RotationRow {
    pub id: String,
    pub account_id: String,
    pub kind: String,
    pub phase: String,
    pub old_key_id: Option<String>,
    pub new_key_id: Option<String>,
    pub old_version: Option<i64>,
    pub new_version: Option<i64>,
    pub data: String,
    pub error: Option<String>,
    pub started_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

impl TryFrom<RotationRow> for Rotation {
    type Error = StoreError;

    fn try_from(r: RotationRow) -> Result<Self> {
        Ok(Rotation {
            id: r.id,
            account_id: parse_col(&r.account_id, "rotations.account_id")?,
            kind: parse_col(&r.kind, "rotations.kind")?,
            phase: parse_col(&r.phase, "rotations.phase")?,
            old_key_id: r.old_key_id,
            new_key_id: r.new_key_id,
            old_version: r.old_version,
            new_version: r.new_version,
            data: json_col(&r.data, "rotations.data")?,
            error: r.error,
            started_at: from_millis(r.started_at),
            updated_at: from_millis(r.updated_at),
            finished_at: r.finished_at.map(from_millis),
        })
    }
}

/// The columns of `secret_versions`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SecretRow {
    pub record_id: String,
    pub version: i64,
    pub state: String,
    pub key_id: Option<String>,
    pub origin: String,
    pub wrapped_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub created_at: i64,
    pub mac: Option<String>,
}

impl SecretRow {
    /// The row's authenticated columns.
    pub(crate) fn parts(&self) -> RowParts {
        barrier::secret_row(&self.record_id, self.version, &self.state, self.key_id.as_deref(), &self.origin)
    }

    /// The version, after checking the row's MAC (`Tampered` if it fails).
    pub(crate) fn verified(self, b: &Barrier) -> Result<SecretVersion> {
        b.verify(&self.parts(), self.mac.as_deref(), || {
            format!("secret version {} of {}", self.version, self.record_id)
        })?;
        self.try_into()
    }
}

impl TryFrom<SecretRow> for SecretVersion {
    type Error = StoreError;

    fn try_from(r: SecretRow) -> Result<Self> {
        Ok(SecretVersion {
            state: parse_col(&r.state, "secret_versions.state")?,
            origin: Origin::parse(&r.origin),
            record_id: r.record_id,
            version: r.version,
            key_id: r.key_id,
            wrapped_key: r.wrapped_key,
            ciphertext: r.ciphertext,
            created_at: from_millis(r.created_at),
        })
    }
}

/// The columns of `audit_events`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<Self> {
        Ok(AuditRecord {
            seq: r.seq,
            entry: AuditEntry {
                at: from_millis(r.at),
                actor: r.actor,
                action: r.action,
                target: r.target,
                outcome: r.outcome,
                detail: json_col(&r.detail, "audit_events.detail")?,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}

/// The columns of `vault_header`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct HeaderRow {
    pub format: i64,
    pub key_source: String,
    pub key_params: String,
    pub wrapped_vault_key: Vec<u8>,
    pub created_at: i64,
    pub vault_id: Option<String>,
    pub key_check: Option<String>,
    pub audit_keyed_from: Option<i64>,
}

impl TryFrom<HeaderRow> for VaultHeader {
    type Error = StoreError;

    fn try_from(r: HeaderRow) -> Result<Self> {
        Ok(VaultHeader {
            vault_id: parse_col(r.vault_id.as_deref().unwrap_or_default(), "vault_header.vault_id")?,
            format: r.format,
            key_source: r.key_source,
            key_params: json_col(&r.key_params, "vault_header.key_params")?,
            wrapped_vault_key: r.wrapped_vault_key,
            created_at: from_millis(r.created_at),
            key_check: r.key_check,
            audit_keyed_from: r.audit_keyed_from,
        })
    }
}

/// The authenticated columns of an account as `resign_account` reads them.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SignedAccountRow {
    pub id: String,
    pub provider: String,
    pub user_name: String,
    pub user_id: String,
    pub arn: String,
    pub kind: String,
    pub folder: Option<String>,
    pub settings: String,
    pub mac: Option<String>,
}

impl SignedAccountRow {
    /// The row's authenticated columns with `folder` and `settings` as given.
    pub(crate) fn parts(&self, folder: Option<&str>, settings: &str) -> RowParts {
        barrier::account_row(
            &self.id,
            &self.provider,
            &self.user_name,
            &self.user_id,
            &self.arn,
            &self.kind,
            folder,
            settings,
        )
    }
}

/// Decodes an account row of any backend (what `listing_sql` reads with its own query).
pub(crate) fn account_from_row<R: sqlx::Row>(r: &R, b: &Barrier) -> Result<Account>
where
    AccountRow: for<'r> sqlx::FromRow<'r, R>,
{
    AccountRow::from_row(r)?.checked(b)
}

/// Decodes a rotation row of any backend.
pub(crate) fn rotation_from_row<R: sqlx::Row>(r: &R) -> Result<Rotation>
where
    RotationRow: for<'r> sqlx::FromRow<'r, R>,
{
    RotationRow::from_row(r)?.try_into()
}

/// Decodes an audit row of any backend.
pub(crate) fn audit_from_row<R: sqlx::Row>(r: &R) -> Result<AuditRecord>
where
    AuditRow: for<'r> sqlx::FromRow<'r, R>,
{
    AuditRow::from_row(r)?.try_into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotation_row(phase: &str, data: &str) -> RotationRow {
        RotationRow {
            id: "rot_1".into(),
            account_id: rekey_domain::AccountId::from_bits(7).to_string(),
            kind: "access-key".into(),
            phase: phase.into(),
            old_key_id: None,
            new_key_id: None,
            old_version: Some(1),
            new_version: None,
            data: data.into(),
            error: None,
            started_at: 1_000,
            updated_at: 2_000,
            finished_at: None,
        }
    }

    #[test]
    fn a_stored_value_that_does_not_parse_is_corrupt_and_names_its_column() {
        let ok = Rotation::try_from(rotation_row("verifying", "{}")).expect("a sound row");
        assert_eq!(
            (ok.phase.as_str(), ok.old_version, ok.updated_at.timestamp_millis()),
            ("verifying", Some(1), 2_000)
        );
        for (row, column) in
            [(rotation_row("flying", "{}"), "rotations.phase"), (rotation_row("done", "{"), "rotations.data")]
        {
            match Rotation::try_from(row) {
                Err(StoreError::Corrupt { location, .. }) => assert_eq!(location, format!("column {column}")),
                other => panic!("{column}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_unknown_origin_reads_as_adopted() {
        let row = SecretRow {
            record_id: "acc1".into(),
            version: 2,
            state: "current".into(),
            key_id: None,
            origin: "imported".into(),
            wrapped_key: vec![1],
            ciphertext: vec![2],
            created_at: 0,
            mac: None,
        };
        let v = SecretVersion::try_from(row).expect("a sound row");
        assert_eq!((v.origin, v.version, v.state.as_str()), (Origin::Adopted, 2, "current"));
    }
}
