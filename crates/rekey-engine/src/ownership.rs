//! Key and password ownership: who an IAM user's access keys and console password belong to,
//! and which keys a rotation may delete. The rotation's pre-flight, the dry-run plan,
//! `heartbeat`, `discover` and its import all decide here, so a plan can never disagree with
//! the rotation it describes, nor an import with the discovery it follows.
//!
//! # The ownership tag
//!
//! A vault marks the keys it creates with one tag per account on the IAM user:
//!
//! ```text
//! rekey:<vault-id>/<account-id> = AKIA…1=rot_0123456789abcdef/AKIA…2=add
//! ```
//!
//! Each entry names a key and what created it: a rotation of the vault (`rot_…`), `account add
//! --create` (`add`) or an adopted key (`adopted`). A rotation rewrites the whole value in one
//! `TagUser` when it creates its key (the entries whose key IAM still has, plus the new one), so
//! marking costs one mutating call per rotation and retiring a key needs no `UntagUser`. IAM
//! allows the characters used (letters, digits, `: / = _`), keys of 128 and values of 256
//! characters: the key is 31 characters, an entry at most 42, and a value holds at most
//! [`MAX_ENTRIES`] of them. Entries are separated by `/`, not by spaces: IAM allows spaces, but
//! moto miscomputes the signature of a request whose form values hold one, and the tests run
//! on moto. Spaces are read as separators too.
//!
//! Tags of earlier versions (`<key-id> = managed-by-rekey[:rot_…]`) are read where they are
//! unambiguous — their rotation is one this vault knows — and replaced by the next rotation.
//!
//! The tag of a password account marks the console password instead (`password=ORIGIN`, see
//! below), and an access-key account's value carries `creating=ORIGIN` while a key is being
//! created. The format is in [`tag`]. Budget: one tag per account of each vault on the user
//! (IAM allows 50 per user): an access-key and a password account per provider of each vault
//! that manages the user. A value stays within 256 characters: the `creating` item (45 at
//! most) goes first and key entries follow as far as they fit — IAM's two keys always do.
//!
//! # Passwords
//!
//! Two accounts that both set one console password leave one of them holding a dead password.
//! So an account marks the password as its own, and nothing takes or sets a password another
//! account (of any vault, or another provider's of this one) marks:
//!
//! - `discover --import` and `account add --kind password` read the user's tags, refuse a
//!   marked password, write the new account's mark, read the tags again, and create the account
//!   only if no other mark appeared (else they remove their mark and refuse). Two takers racing
//!   each write before they read, so at least one of them sees the other's mark: at most one
//!   takes the password (both may refuse; neither has set anything).
//! - A rotation refuses at pre-flight when another account marks the password; once its new
//!   password is sealed, it writes its mark (`password=rot_…`, keeping it current) and reads the
//!   tags again before it sets the password, so it also refuses an import that raced it. An
//!   account of an earlier version has no mark until its first rotation writes one.
//! - `account remove` removes the account's tag, mark or key entries once the account is deleted
//!   from the store, never before (a tag gone while the account stays would let another vault
//!   take what this vault still holds) — best effort; a tag left
//!   names its account, which this vault no longer has, and what it names is refused until
//!   `rekey account clear-tag` removes it).
//!
//! Two marks on one password can only come from an account of an earlier version: each of the
//! two accounts' rotations then refuses, naming the other, until one account is removed.
//!
//! # A key being created
//!
//! Between `CreateAccessKey` and the `TagUser` that names the key, a rotation's new key (its
//! secret sealed, or about to be) is untagged, and an import would take it for nobody's. So the
//! rotation first writes its account's tag with `creating=rot_…` in front (one more `TagUser`
//! per rotation, before its first create and again whenever the create phase is resumed —
//! after the sweep, which read the tag as it is, so no entry another state of this vault wrote
//! is lost), and the `TagUser` after the create replaces the value, dropping it; an abort takes
//! the item out of the value IAM has then. `account add --create` does the same with
//! `creating=add`.
//!
//! An import lists the user's keys *first* and reads the tags *after*. A key in that listing
//! was created after its creator's `creating` item was written, and that item is only replaced
//! by the value naming the key: so the tags read afterwards either name the key or carry the
//! item — whatever the interleaving, as long as IAM answers a read with the writes that
//! finished before it (moto does; real IAM is eventually consistent, so this holds once its
//! writes have propagated, seconds at most). While another account's item is on the user, no
//! untagged key of the user is nobody's ([`Knowledge::claimed`]): the import skips it, naming
//! the rotation. A window of time after a key's creation proves nothing — a rotation can stop
//! for hours between the two calls — whereas the item stays until the rotation tags its key or
//! aborts. A vault that never resumes its rotation leaves the item; remove the tag by hand
//! once that rotation is known dead. A rotation's sweep of its own orphans reads the same way
//! (keys, then tags) and deletes no untagged key while another account's item is on the user.
//!
//! # Taking an existing key
//!
//! A key rekey did not create (`discover --import`, `account add --access-key-id`) is taken as
//! a password is: once [`Knowledge::claimed`] finds it nobody's, the new account's tag naming
//! it (`KEY=import`, `KEY=adopted`) is written, the tags are read again, and the account is
//! created only if no other account of any vault claims the key then (else the tag is removed
//! and nothing taken). Two takers each write before they read, so at most one takes the key:
//! two vaults never both hold one key as current, where the first rotation of one would delete
//! the key the other holds. A taker stopped between its tag and its account leaves a tag naming
//! an account this vault does not have ([`Foreign::UnknownAccount`]), which refuses every later
//! taker until `rekey account clear-tag` removes it (`clear.rs`).
//!
//! # One question
//!
//! Whether a key is someone's is answered by [`Knowledge::claimed`] alone: an import or
//! adoption asks it of the keys it might take (before and after writing its tag), and discovery of every key no account of the provider holds (so both
//! see the same tags, the same sibling accounts under other providers, and the same `creating`
//! items). Whose a password is: [`Knowledge::password_claimed`], for import, `account add`,
//! rotation and discovery alike.
//!
//! # What is deleted
//!
//! The tag is written only after the key's secret is sealed in a vault. So a tagged key this
//! vault does not hold was stored *somewhere*: by another vault, or by a state of this vault it
//! no longer has (restored from a backup — even one taken during the very rotation the tag
//! names, whose restored journal then shows no key or another one). Such a key is [`Foreign`]
//! and never deleted, except an inactive one with `--reclaim-foreign`. No journal of one vault
//! can prove that no other state of it stored a key, so a tag never makes a key an orphan.
//!
//! An [`Owner::Orphan`] is a key nobody can hold: one a `CreateAccessKey` of the rotation
//! holding the lease left when its answer was lost — not in the pre-flight snapshot, unknown
//! to the vault, untagged, created about when one of the create's attempts was made
//! ([`Knowledge::after_create`]). It is deleted before the create is tried again.

use rekey_aws::AccessKeyMeta;
use rekey_domain::KeyOwnership;
use std::collections::{HashMap, HashSet};
use std::fmt;

pub use tag::*;

/// What this vault knows of a rotation a tag names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownRotation {
    /// The account it rotated.
    pub account: String,
}

/// Everything the classifier needs, read beforehand (it makes no call).
#[derive(Debug, Clone, Default)]
pub struct Knowledge {
    /// This vault's id.
    pub vault: String,
    /// The account whose keys are classified.
    pub account: String,
    /// Its current key.
    pub current: Option<String>,
    /// The keys of its secret versions → version.
    pub known: HashMap<String, i64>,
    /// Keys other accounts of this vault hold for the same user → that account.
    pub siblings: HashMap<String, String>,
    /// Rotations of this vault that the user's legacy tags name (see [`named_rotations`]).
    pub rotations: HashMap<String, KnownRotation>,
    /// Accounts of this vault that its password marks on the user name and that it has (see
    /// [`named_accounts`]).
    pub accounts: HashSet<String>,
    /// The user's tags.
    pub tags: Vec<(String, String)>,
}

/// Why a key is not this account's to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Foreign {
    /// No ownership tag names it: not created by rekey.
    Untagged,
    /// Another rekey vault's tag names it.
    OtherVault(String),
    /// Another account of this vault holds it (the same user under another provider).
    Sibling(String),
    /// This vault's tag names it, but this vault does not hold it: it was created by a state of
    /// this vault after the one it has (restored from a backup), by this rotation if known.
    AfterLastState(Option<String>),
    /// A tag of an earlier version names it, with a rotation this vault does not know.
    LegacyUnknown,
    /// A rotation of an account of a vault (or its `account add --create`) is creating a key
    /// that its tag does not name yet: an untagged key may be it.
    Creating {
        /// The vault.
        vault: String,
        /// What is creating it.
        by: Origin,
    },
    /// This vault's tag names an account this vault does not have as holding the password or
    /// a key it did not create by rotation: removed, made by a state of this vault after the one
    /// it has, or the account of an `account add` or import that stopped between writing the
    /// tag and storing the account (`rekey account clear-tag` removes such a tag).
    UnknownAccount(String),
}

impl Foreign {
    /// Whether `--reclaim-foreign` may delete it once inactive. A sibling's key is held by this
    /// vault: never.
    pub fn reclaimable(&self) -> bool {
        !matches!(self, Self::Sibling(_))
    }
}

impl fmt::Display for Foreign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Untagged => write!(f, "not created by rekey"),
            Self::OtherVault(v) => write!(f, "managed by another rekey vault {v}"),
            Self::Sibling(a) => write!(f, "held by account {a} of this vault"),
            Self::AfterLastState(rot) => {
                write!(f, "created after this vault's last known state")?;
                if let Some(r) = rot {
                    write!(f, " (tagged as rotation {r}'s, whose key this vault does not hold)")?;
                }
                write!(f, "; was the vault restored from a backup?")
            }
            Self::LegacyUnknown => {
                write!(f, "tagged {LEGACY_TAG_VALUE} by a rotation this vault does not know (another vault's)")
            }
            Self::Creating { vault, by } => {
                match by {
                    Origin::Rotation(r) => write!(f, "maybe the key rotation {r}")?,
                    _ => write!(f, "maybe the key an `account add --create`")?,
                }
                write!(f, " of rekey vault {vault} is creating (its ownership tag does not name the key yet)")
            }
            Self::UnknownAccount(a) => write!(
                f,
                "marked as managed by account {a} of this vault, which this vault does not have (removed, a state \
                 after its last known one, or an `account add` or import that stopped before storing it)"
            ),
        }
    }
}

/// How a key relates to the account being rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// The account's current key.
    Current,
    /// A key the account holds (a previous one, or a pending one of a rotation): this version.
    Ours(i64),
    /// Left by an interrupted `CreateAccessKey` of the rotation holding the lease (see
    /// [`Knowledge::after_create`]), this rotation's id: nobody holds its secret.
    Orphan(String),
    /// Not this account's.
    Foreign(Foreign),
}

impl Owner {
    /// How discovery and reports show it.
    pub fn ownership(&self) -> KeyOwnership {
        match self {
            Self::Current => KeyOwnership::Managed,
            Self::Ours(_) => KeyOwnership::Known,
            Self::Orphan(_) => KeyOwnership::Orphan,
            Self::Foreign(_) => KeyOwnership::Foreign,
        }
    }
}

/// The rotation ids the tags of earlier versions name: the only ones to look up before
/// classifying (a tag of this format names its vault; a legacy one counts as this vault's only
/// when its rotation is one this vault knows).
pub fn named_rotations(tags: &[(String, String)]) -> HashSet<String> {
    tags.iter()
        .filter_map(|(k, v)| match parse(k, v)? {
            Tag::Legacy { rotation, .. } => rotation,
            Tag::Vault { .. } => None,
        })
        .collect()
}

/// The accounts of `vault` that tags among `tags` name (password marks, and the keys an
/// import, adoption or `account add` took): the only ones to look up before deciding whose a
/// password or such a key is.
pub fn named_accounts(vault: &str, tags: &[(String, String)]) -> HashSet<String> {
    tags.iter()
        .filter_map(|(k, v)| match parse(k, v)? {
            Tag::Vault { vault: v, account, .. } if v == vault => Some(account),
            _ => None,
        })
        .collect()
}

impl Knowledge {
    /// Whether a tag of `vault`'s `account` is this account's own.
    fn own(&self, vault: &str, account: &str) -> bool {
        vault == self.vault && account == self.account
    }

    /// A rotation of another account (of any vault) that is creating a key its tag does not
    /// name yet (see the module docs).
    pub fn creating_elsewhere(&self) -> Option<Foreign> {
        self.tags.iter().find_map(|(k, v)| match parse(k, v)? {
            Tag::Vault { vault, account, creating: Some(by), .. } if !self.own(&vault, &account) => {
                Some(Foreign::Creating { vault, by })
            }
            _ => None,
        })
    }

    /// Whose the user's console password is, if another account's (of any vault) marks it as
    /// managed: the question an import or `account add` asks before taking the password, and a
    /// rotation before it sets one.
    pub fn password_claimed(&self) -> Option<Foreign> {
        self.tags.iter().find_map(|(k, v)| match parse(k, v)? {
            Tag::Vault { vault, account, password: Some(_), .. } if !self.own(&vault, &account) => {
                Some(if vault != self.vault { Foreign::OtherVault(vault) } else { self.vault_account(account) })
            }
            _ => None,
        })
    }

    /// Another account of this vault that a tag names: held by it if this vault has it.
    fn vault_account(&self, account: String) -> Foreign {
        if self.accounts.contains(&account) {
            Foreign::Sibling(account)
        } else {
            Foreign::UnknownAccount(account)
        }
    }

    /// Why this password account must not set a password: another account marks the password
    /// as its own, and one of them would hold a dead password.
    pub fn password_held_elsewhere(&self) -> Option<String> {
        let whose = self.password_claimed()?;
        Some(format!(
            "the console password is not this account's alone ({whose}): two accounts setting it leave one of them \
             holding a dead password; remove one of the accounts (`rekey account remove`, which releases its mark)"
        ))
    }

    /// What the tags say of `key`: the vault and account (`None` for a legacy tag) and origin.
    /// `others`: only the tags of accounts other than this one (a taker's own entry, written
    /// before it reads the tags again, is nobody else's claim).
    fn tagged(&self, key: &str, others: bool) -> Option<(Option<(String, String)>, Origin)> {
        let mut legacy = None;
        for (k, v) in &self.tags {
            match parse(k, v) {
                Some(Tag::Vault { vault, account, .. }) if others && self.own(&vault, &account) => {}
                Some(Tag::Vault { vault, account, entries, .. }) => {
                    if let Some(e) = entries.into_iter().find(|e| e.key_id == key) {
                        return Some((Some((vault, account)), e.origin));
                    }
                }
                Some(Tag::Legacy { key_id, rotation }) if key_id == key => {
                    legacy = Some((None, rotation.map_or(Origin::Added, Origin::Rotation)));
                }
                _ => {}
            }
        }
        legacy
    }

    /// Classifies one key — by ownership, never by age.
    pub fn owner(&self, key: &str) -> Owner {
        self.owner_seen(key, false)
    }

    /// [`Self::owner`], reading only the tags of other accounts when `others`.
    fn owner_seen(&self, key: &str, others: bool) -> Owner {
        if Some(key) == self.current.as_deref() {
            return Owner::Current;
        }
        if let Some(v) = self.known.get(key) {
            return Owner::Ours(*v);
        }
        if let Some(a) = self.siblings.get(key) {
            return Owner::Foreign(Foreign::Sibling(a.clone()));
        }
        match self.tagged(key, others) {
            None => Owner::Foreign(Foreign::Untagged),
            Some((Some((vault, _)), _)) if vault != self.vault => Owner::Foreign(Foreign::OtherVault(vault)),
            Some((Some(_), origin)) => Owner::Foreign(Foreign::AfterLastState(origin.rotation().map(str::to_owned))),
            Some((None, origin)) => match origin.rotation() {
                Some(r) if self.rotations.contains_key(r) => {
                    Owner::Foreign(Foreign::AfterLastState(Some(r.to_owned())))
                }
                _ => Owner::Foreign(Foreign::LegacyUnknown),
            },
        }
    }

    /// Whether a key is someone's — the one question an import or adoption (which has no
    /// account yet, so no current key or versions) and discovery (which reports a key no account
    /// of the provider holds) ask. `None` only for a key that is nobody's: no ownership tag of
    /// another account (of any vault) names it, no account of this vault holds it (`siblings`),
    /// and no rotation of another account is creating a key its tag does not name yet (the key
    /// may be that one). Otherwise whose it is: an import's first rotation would retire it under
    /// its holder. The taker's own tag (`account`'s, written before it reads the tags again) is
    /// no claim. A key this vault's tag names as imported, adopted or added by another account is
    /// that account's: [`Foreign::Sibling`] if this vault has it (in `accounts`), else
    /// [`Foreign::UnknownAccount`] (its taker stopped before the account was stored, or it was
    /// removed: `rekey account clear-tag` removes the tag).
    pub fn claimed(&self, key: &str) -> Option<Foreign> {
        if let (None, Some((Some((vault, account)), origin))) = (self.siblings.get(key), self.tagged(key, true)) {
            if vault == self.vault && origin.rotation().is_none() {
                return Some(self.vault_account(account));
            }
        }
        match self.owner_seen(key, true) {
            Owner::Foreign(Foreign::Untagged) => self.creating_elsewhere(),
            Owner::Foreign(f) => Some(f),
            // Knowledge for an import names no key of its own; a key it named would be held.
            Owner::Current | Owner::Ours(_) | Owner::Orphan(_) => Some(Foreign::Sibling(self.account.clone())),
        }
    }

    /// Why this account must not replace its current key: another vault's tag names it, or
    /// another account of this vault holds it. Only an import can have made such a key current
    /// (one of an earlier version, which took the newest key whoever held it, or one that raced
    /// the other vault's rotation before its tag was written); a rotation would retire the key
    /// under its holder, so it is refused.
    pub fn current_held_elsewhere(&self) -> Option<String> {
        let key = self.current.as_deref()?;
        let whose = match (self.siblings.get(key), self.tagged(key, false)) {
            (Some(a), _) => Foreign::Sibling(a.clone()),
            (None, Some((Some((vault, _)), _))) if vault != self.vault => Foreign::OtherVault(vault),
            _ => return None,
        };
        Some(format!(
            "the current key {key} of this account is not its own ({whose}): a rotation would retire it under its \
             holder; remove this account (`rekey account remove`, which leaves the key in IAM)"
        ))
    }

    /// Classifies a key found while `rotation`'s `CreateAccessKey` is tried again: an untagged
    /// key no account of the vault holds, not in the pre-flight `snapshot` and created about when
    /// one of the create's attempts was made (`made_then`) is that create's orphan — unless
    /// another account's rotation is creating a key too (the key may be that one's). A tagged key
    /// is not: its secret was stored when it was tagged.
    pub fn after_create(&self, key: &str, snapshot: &[String], made_then: bool, rotation: &str) -> Owner {
        match self.owner(key) {
            Owner::Foreign(Foreign::Untagged) if made_then && !snapshot.iter().any(|k| k == key) => {
                match self.creating_elsewhere() {
                    None => Owner::Orphan(rotation.to_owned()),
                    Some(f) => Owner::Foreign(f),
                }
            }
            other => other,
        }
    }

    /// Classifies a user's keys.
    pub fn classify(&self, keys: &[AccessKeyMeta]) -> Vec<(AccessKeyMeta, Owner)> {
        keys.iter().map(|k| (k.clone(), self.owner(&k.id))).collect()
    }

    /// This account's tag entries for the keys in `keep` (in that order), adding what this
    /// vault's legacy tags say of them: the entries a rotation carries into its tag.
    pub fn entries_for(&self, keep: &[String]) -> Vec<Entry> {
        let own = tag_key(&self.vault, &self.account);
        let mut out = Vec::new();
        for key in keep {
            let origin = self.tags.iter().find_map(|(k, v)| match parse(k, v)? {
                Tag::Vault { entries, .. } if *k == own => entries.into_iter().find(|e| e.key_id == *key),
                Tag::Legacy { key_id, rotation: Some(r) } if key_id == *key && self.rotations.contains_key(&r) => {
                    Some(Entry { key_id, origin: Origin::Rotation(r) })
                }
                _ => None,
            });
            match origin {
                Some(e) => out.push(e),
                None if self.known.contains_key(key) => {
                    out.push(Entry { key_id: key.clone(), origin: Origin::Adopted });
                }
                None => {}
            }
        }
        out
    }

    /// The legacy tags to remove: those of keys IAM no longer has, and those this vault's
    /// tag now carries (their rotation is this vault's and the key this account's).
    pub fn legacy_to_remove(&self, in_iam: &[String]) -> Vec<String> {
        self.tags
            .iter()
            .filter_map(|(k, v)| match parse(k, v)? {
                Tag::Legacy { key_id, rotation } => {
                    let gone = !in_iam.contains(&key_id);
                    let ours = self.known.contains_key(&key_id)
                        || rotation.is_some_and(|r| self.rotations.get(&r).is_some_and(|x| x.account == self.account));
                    (gone || ours).then_some(key_id)
                }
                Tag::Vault { .. } => None,
            })
            .collect()
    }
}

/// What a pre-flight must do to make room for a new key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The key to delete to free a slot, and why it may go.
    pub free: Option<(String, Freed)>,
    /// Why no slot can be freed: the rotation is refused.
    pub refused: Option<String>,
    /// Keys left alone, each with why it is not this account's.
    pub foreign: Vec<(String, Foreign)>,
}

/// Why a key may be deleted to free a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freed {
    /// A key of an earlier rotation of this account (this version).
    Ours(i64),
    /// An inactive foreign key, with `--reclaim-foreign`.
    Reclaimed(Foreign),
}

/// IAM's limit of access keys per user.
pub const KEYS_PER_USER: usize = 2;

/// Decides how a rotation of `user` gets a free key slot: if the slots are full, a key of this account's earlier rotations, or (with `reclaim_foreign`) an inactive
/// foreign key that another account of this vault does not hold. Otherwise it is refused —
/// never by deleting a key someone may be using.
pub fn free_slot(user: &str, classified: &[(AccessKeyMeta, Owner)], reclaim_foreign: bool) -> Slot {
    let mut slot = Slot { free: None, refused: None, foreign: vec![] };
    let mut remaining = Vec::new();
    for (k, o) in classified {
        match o {
            // Never classified at pre-flight; the sweep deletes them before a create.
            Owner::Orphan(_) => {}
            Owner::Foreign(f) => {
                slot.foreign.push((k.id.clone(), f.clone()));
                remaining.push((k, o));
            }
            _ => remaining.push((k, o)),
        }
    }
    if remaining.len() < KEYS_PER_USER {
        return slot;
    }
    let ours = remaining.iter().find_map(|(k, o)| match o {
        Owner::Ours(v) => Some((k.id.clone(), Freed::Ours(*v))),
        _ => None,
    });
    let reclaimed = || {
        remaining.iter().find_map(|(k, o)| match o {
            Owner::Foreign(f) if reclaim_foreign && !k.active && f.reclaimable() => {
                Some((k.id.clone(), Freed::Reclaimed(f.clone())))
            }
            _ => None,
        })
    };
    slot.free = ours.or_else(reclaimed);
    if slot.free.is_none() {
        let why: Vec<String> = slot
            .foreign
            .iter()
            .map(|(id, f)| {
                let state = if classified.iter().any(|(k, _)| k.id == *id && k.active) { "active" } else { "inactive" };
                format!("{id} ({state}, {f})")
            })
            .collect();
        slot.refused = Some(format!(
            "no free access-key slot: IAM user {user} has key(s) {} that this account did not create and will not delete; \
             delete one yourself, or deactivate it and pass --reclaim-foreign",
            why.join("; ")
        ));
    }
    slot
}

mod clear;
mod mark;
mod read;
mod tag;

pub use clear::ClearedTag;
pub(crate) use mark::Stored;

#[cfg(test)]
mod tests;
