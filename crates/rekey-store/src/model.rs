//! The records the store keeps. Plain data: validation happens in rekey-domain types, encryption
//! in rekey-crypto; the store sees only sealed bytes.

use crate::settings::AccountSettings;
use chrono::{DateTime, Utc};
use rekey_domain::{
    AccountId, AccountStatus, Arn, CredentialKind, Folder, HeartbeatStatus, Phase, ProviderName, Region,
    RotationSettings, SecretState, UserName, VaultId,
};
use serde::{Deserialize, Serialize};

/// Which master key source protects the vault key, with its non-secret parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultHeader {
    /// The vault's stable identity (named by the ownership tags it puts on IAM users).
    pub vault_id: VaultId,
    /// Layout version of the vault.
    pub format: i64,
    /// `passphrase`, `key-file` or `kms`.
    pub key_source: String,
    /// Source parameters (KDF salt and costs, key file path, KMS key id …) as JSON.
    pub key_params: serde_json::Value,
    /// The vault key, wrapped by the master key.
    pub wrapped_vault_key: Vec<u8>,
    /// When the vault was created.
    pub created_at: DateTime<Utc>,
    /// The key check (see [`crate::Barrier::key_check`]); `None` in a vault written before the
    /// barrier and not yet upgraded. Written by the store, ignored in [`crate::Store::init`].
    pub key_check: Option<String>,
    /// The first audit event whose link is keyed (see [`crate::chain`]); written by the store.
    pub audit_keyed_from: Option<i64>,
}

/// How a provider authenticates as the admin principal.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ProviderAuth {
    /// A static access key; its secret is the provider's sealed record in the vault.
    StaticKey {
        /// The access key id (not secret).
        access_key_id: String,
    },
    /// The AWS default credential chain (env, profile, SSO, instance role).
    DefaultChain,
    /// AssumeRole on top of another provider, or of the default chain.
    AssumeRole {
        /// The role to assume.
        role_arn: Arn,
        /// External id, when the role's trust policy requires one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        external_id: Option<String>,
        /// The provider whose credentials call AssumeRole; the default chain when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<ProviderName>,
    },
}

/// One AWS account connection.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    /// Unique name.
    pub name: ProviderName,
    /// AWS region.
    pub region: Region,
    /// Endpoint override (emulators, partitions).
    pub endpoint_url: Option<String>,
    /// How it authenticates.
    pub auth: ProviderAuth,
    /// MFA device serial for assume-role, when required.
    pub mfa_serial: Option<String>,
    /// When the provider was added.
    #[serde(serialize_with = "rekey_domain::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(serialize_with = "rekey_domain::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl Provider {
    /// The vault record id of this provider's static secret.
    pub fn secret_record(&self) -> String {
        provider_secret_record(&self.name)
    }
}

/// The vault record id of a provider's static secret.
pub fn provider_secret_record(name: &ProviderName) -> String {
    format!("provider/{name}")
}

/// One managed IAM user credential.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Short stable id; also the vault record id of its secrets.
    pub id: AccountId,
    /// The provider it is reached through.
    pub provider: ProviderName,
    /// IAM user name.
    pub user_name: UserName,
    /// IAM's immutable UserId (detects a re-created user of the same name).
    pub user_id: String,
    /// The user's ARN.
    pub arn: Arn,
    /// Password or access key.
    pub kind: CredentialKind,
    /// Folder, for grouping and access scoping.
    pub folder: Option<Folder>,
    /// Human title.
    pub title: Option<String>,
    /// Whether the vault holds the credential in use (see [`AccountStatus`]); listed accounts
    /// ([`crate::listing::AccountItem`]) show `tampered` instead when the row failed its
    /// integrity check.
    #[cfg_attr(feature = "openapi", schema(value_type = rekey_domain::ShownStatus))]
    pub status: AccountStatus,
    /// Rotation settings, typed when the row is read (shown as stored).
    #[cfg_attr(feature = "openapi", schema(value_type = serde_json::Value))]
    pub settings: AccountSettings,
    /// When the account was added to the vault.
    #[serde(serialize_with = "rekey_domain::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(serialize_with = "rekey_domain::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    /// Number of the current secret version (read-only; derived from the secret versions).
    #[serde(default)]
    pub current_version: Option<i64>,
    /// Access key id of the current secret version (read-only; derived).
    #[serde(default)]
    pub current_key_id: Option<String>,
    /// When the last rotation committed.
    #[serde(default)]
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub last_rotated_at: Option<DateTime<Utc>>,
    /// When the next scheduled rotation is due.
    #[serde(default)]
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub next_due_at: Option<DateTime<Utc>>,
    /// The last heartbeat, if any.
    #[serde(default)]
    pub heartbeat: Option<Heartbeat>,
    /// Why the row (or its current secret version) failed its integrity check, when it did:
    /// listings hand such accounts out flagged (so one altered account does not hide the
    /// others), and nothing may act on one.
    #[serde(skip)]
    pub tampered: Option<String>,
}

impl Account {
    /// A new account with a fresh id, default settings and no secret or history yet.
    pub fn new(
        provider: ProviderName,
        user_name: UserName,
        user_id: String,
        arn: Arn,
        kind: CredentialKind,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: AccountId::random(),
            provider,
            user_name,
            user_id,
            arn,
            kind,
            folder: None,
            title: None,
            status: AccountStatus::Ok,
            settings: AccountSettings::default(),
            created_at: now,
            updated_at: now,
            current_version: None,
            current_key_id: None,
            last_rotated_at: None,
            next_due_at: None,
            heartbeat: None,
            tampered: None,
        }
    }
}

/// The result of the last heartbeat of an account.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// When it ran.
    #[serde(serialize_with = "rekey_domain::timestamp::serialize")]
    pub at: DateTime<Utc>,
    /// What it found, in a word.
    pub status: HeartbeatStatus,
    /// `findings` (what it found, in sentences) and `foreign_keys` (ids of the user's keys no
    /// account of this vault owns).
    pub detail: serde_json::Value,
}

/// A journaled rotation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// Rotation id.
    pub id: String,
    /// The account rotated.
    pub account_id: AccountId,
    /// Its credential kind.
    pub kind: CredentialKind,
    /// Where the state machine stands.
    pub phase: Phase,
    /// The access key being replaced.
    pub old_key_id: Option<String>,
    /// The access key created.
    pub new_key_id: Option<String>,
    /// The secret version being replaced.
    pub old_version: Option<i64>,
    /// The secret version added.
    pub new_version: Option<i64>,
    /// Phase facts: pre-flight key snapshot, grace deadlines, delivery acks, phases done …
    /// Shown with its times in the one JSON form (older journals wrote other precisions).
    #[serde(serialize_with = "rekey_domain::timestamp::json::serialize")]
    pub data: serde_json::Value,
    /// Why it aborted or is stuck.
    pub error: Option<String>,
    /// When the rotation was created (its first journal write).
    #[serde(serialize_with = "rekey_domain::timestamp::serialize")]
    pub started_at: DateTime<Utc>,
    /// Last journal write.
    #[serde(serialize_with = "rekey_domain::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    /// Finished (done or aborted).
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// Proof of holding an account's lease: every journal write presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The account.
    pub account_id: AccountId,
    /// The token handed out when the lease was acquired.
    pub token: i64,
}

/// An account's lease as stored, held or released (see [`crate::Store::lease_record`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The worker holding it; empty once released.
    pub owner: String,
    /// The token of its latest acquisition (it grows at every one).
    pub token: i64,
    /// When it expires unless renewed.
    pub expires_at: DateTime<Utc>,
    /// How long until then, by the database's clock (zero or less: expired).
    pub left_ms: i64,
}

impl LeaseRecord {
    /// Whether a worker holds it, by the database's clock (taken, not released, not expired).
    pub fn held(&self) -> bool {
        !self.owner.is_empty() && self.left_ms > 0
    }
}

/// The condition of a write made without the account's lease from what was read before it
/// (a heartbeat): no worker has taken the lease since `token` was read, and none holds it
/// when the write is applied (see [`JournalWrite::unleased`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unleased {
    /// The account.
    pub account_id: AccountId,
    /// The lease's token as read before (0: never taken).
    pub token: i64,
}

/// The result of trying to take an account's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// Taken (it was free or released); journal writes must present this token.
    Acquired(Fence),
    /// Taken over from a holder that stopped renewing it (it expired) or that the caller proved
    /// dead: that holder's work stood still since its last renewal. Journal writes must present
    /// this token; the previous holder's token is fenced off.
    TakenOver {
        /// The new holder's proof.
        fence: Fence,
        /// The previous holder.
        from: String,
        /// When the previous holder last took or renewed it (its last sign of life); `None` for
        /// a lease written before renewals were recorded.
        last_renewed: Option<DateTime<Utc>>,
        /// When it was taken over, by the database's clock (as `last_renewed`).
        at: DateTime<Utc>,
    },
    /// Someone else holds it.
    Held {
        /// Who (JSON: host, pid, process start).
        owner: String,
        /// Until when, unless renewed.
        expires_at: DateTime<Utc>,
    },
}

/// A held lease as the database sees it now. Its times are the database's: leases are judged
/// by the database's clock, never by a node's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    /// The token of its current holder.
    pub token: i64,
    /// When it expires unless renewed.
    pub expires_at: DateTime<Utc>,
    /// How long until then, by the database's clock (zero or less: expired, and free to be
    /// taken over).
    pub left_ms: i64,
}

/// Changes to an account made together with a journal write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountPatch {
    /// New status.
    pub status: Option<AccountStatus>,
    /// New settings (stored as `{}` when they are the defaults).
    pub settings: Option<RotationSettings>,
    /// New folder (Some(None) clears it).
    pub folder: Option<Option<Folder>>,
    /// New title (Some(None) clears it).
    pub title: Option<Option<String>>,
    /// Last rotation time.
    pub last_rotated_at: Option<DateTime<Utc>>,
    /// Next due time (Some(None) clears it).
    pub next_due_at: Option<Option<DateTime<Utc>>>,
    /// Heartbeat result.
    pub heartbeat: Option<Heartbeat>,
}

/// One atomic write: everything in it commits together or not at all, and only while the
/// writer still holds the lease named by `fence`.
#[derive(Debug, Clone, Default)]
pub struct JournalWrite {
    /// When the write happens (stamps `updated_at`).
    pub at: DateTime<Utc>,
    /// The lease the writer must still hold.
    pub fence: Option<Fence>,
    /// Insert or update this rotation.
    pub rotation: Option<Rotation>,
    /// Append these secret versions.
    pub new_secrets: Vec<SecretVersion>,
    /// Move these (record, version) to a state.
    pub secret_states: Vec<(String, i64, SecretState)>,
    /// Patch this account.
    pub account: Option<(AccountId, AccountPatch)>,
    /// Replace a provider's auth (self-rotation switches its key id).
    pub provider_auth: Option<(ProviderName, ProviderAuth)>,
    /// Audit events.
    pub audit: Vec<AuditEntry>,
    /// Only if this record's `current` version is still this one (`None`: it has none): a
    /// commit names the version it replaces, so a stale writer can never leave two current
    /// versions or replace a newer one (`Conflict` otherwise, and nothing is written).
    pub expect_current: Option<(String, Option<i64>)>,
    /// Only if this account's next rotation is due at `at`: a scheduled rotation claims its
    /// period with its first write, so each due account is rotated once per period however
    /// many workers read the due list (`NotDue` otherwise, and nothing is written).
    pub claim_due: Option<AccountId>,
    /// Only if nobody has taken this account's lease since it was read and nobody holds it when
    /// the write is applied (by the database's clock): a write that holds no lease, made from
    /// what it read before (a heartbeat), is never applied over a rotation that worked the
    /// account meanwhile (`Fenced` otherwise, and nothing is written).
    pub unleased: Option<Unleased>,
}

/// Filters for listing accounts.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// Only this provider.
    pub provider: Option<ProviderName>,
    /// Only this folder and its sub-folders.
    pub folder: Option<Folder>,
}

/// Where a secret version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The operator supplied an existing credential.
    Adopted,
    /// rekey created it in IAM.
    Created,
}

impl Origin {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adopted => "adopted",
            Self::Created => "created",
        }
    }
    pub(crate) fn parse(s: &str) -> Self {
        if s == "created" {
            Self::Created
        } else {
            Self::Adopted
        }
    }
}

/// One sealed version of a record's secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVersion {
    /// The record (account id or `provider/NAME`).
    pub record_id: String,
    /// 1, 2, …
    pub version: i64,
    /// Life state.
    pub state: SecretState,
    /// The access key id this secret belongs to, for access keys.
    pub key_id: Option<String>,
    /// Adopted or created by rekey.
    pub origin: Origin,
    /// The data key wrapped by the vault key.
    pub wrapped_key: Vec<u8>,
    /// The secret sealed by the data key.
    pub ciphertext: Vec<u8>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// An audit event before it is chained.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it happened, by the engine's clock.
    #[serde(serialize_with = "rekey_domain::timestamp::serialize")]
    pub at: DateTime<Utc>,
    /// Who: `cli:USER@HOST`, `token:ID`, `scheduler`.
    pub actor: String,
    /// What, e.g. `account.add`.
    pub action: String,
    /// Which object, e.g. an account id or provider name.
    pub target: Option<String>,
    /// How it ended: a [`rekey_domain::AuditOutcome`]'s spelling when rekey wrote it. Kept as stored, so that
    /// an event altered in the database reads back and breaks the chain where it was altered.
    pub outcome: String,
    /// Further non-secret facts.
    pub detail: serde_json::Value,
}

/// An audit event as stored, with its place in the hash chain.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// The event.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Hash of the previous event (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this event's canonical JSON.
    pub hash: String,
}
