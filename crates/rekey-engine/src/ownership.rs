//! Key ownership: who an IAM user's access keys belong to, and which of them a rotation may
//! delete. The rotation's pre-flight, the dry-run plan, `heartbeat` and `discover` all decide
//! here, so a plan can never disagree with the rotation it describes.
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

/// The prefix of an ownership tag's key.
pub const TAG_PREFIX: &str = "rekey:";
/// The value earlier versions put under the key id of each key they created.
pub const LEGACY_TAG_VALUE: &str = "managed-by-rekey";
/// Most entries a tag value holds (42 characters each, IAM's limit is 256).
pub const MAX_ENTRIES: usize = 6;
const MAX_VALUE: usize = 256;
/// What separates a tag value's entries (rendered with the first).
const SEPARATORS: [char; 2] = ['/', ' '];

/// What created a key named in a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A rotation of the vault (its id).
    Rotation(String),
    /// `account add --create`.
    Added,
    /// An adopted key (not created by rekey; the vault holds its secret).
    Adopted,
}

impl Origin {
    fn render(&self) -> &str {
        match self {
            Self::Rotation(id) => id,
            Self::Added => "add",
            Self::Adopted => "adopted",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "add" => Some(Self::Added),
            "adopted" => Some(Self::Adopted),
            s if is_rotation_id(s) => Some(Self::Rotation(s.to_owned())),
            _ => None,
        }
    }

    fn rotation(&self) -> Option<&str> {
        match self {
            Self::Rotation(id) => Some(id),
            _ => None,
        }
    }
}

fn is_rotation_id(s: &str) -> bool {
    s.strip_prefix("rot_").is_some_and(|h| !h.is_empty() && h.len() <= 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_key_id(s: &str) -> bool {
    (16..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// One entry of a tag value: a key and what created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Access key id.
    pub key_id: String,
    /// What created it.
    pub origin: Origin,
}

impl Entry {
    /// An entry for a key created by rotation `id`.
    pub fn rotation(key_id: &str, id: &str) -> Self {
        Self { key_id: key_id.to_owned(), origin: Origin::Rotation(id.to_owned()) }
    }
}

/// One ownership tag, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    /// `rekey:<vault>/<account> = KEY=ORIGIN …`.
    Vault {
        /// The vault that wrote it.
        vault: String,
        /// The account of that vault.
        account: String,
        /// The keys it names.
        entries: Vec<Entry>,
    },
    /// `<key> = managed-by-rekey[:rot_…]`, written by earlier versions.
    Legacy {
        /// The key.
        key_id: String,
        /// The rotation that created it, when the tag says.
        rotation: Option<String>,
    },
}

/// The tag key of `account` of `vault`.
pub fn tag_key(vault: &str, account: &str) -> String {
    format!("{TAG_PREFIX}{vault}/{account}")
}

/// Parses a user tag; `None` when it is not an ownership tag (or is malformed: a tag rekey
/// cannot read proves nothing, and the keys it would name are then untagged, hence foreign).
pub fn parse(key: &str, value: &str) -> Option<Tag> {
    if let Some(rest) = key.strip_prefix(TAG_PREFIX) {
        let (vault, account) = rest.split_once('/')?;
        let vault_ok = vault.len() == 16 && vault.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !vault_ok || account.is_empty() || !account.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let mut entries = Vec::new();
        for item in value.split(SEPARATORS).filter(|i| !i.is_empty()) {
            let (key_id, origin) = item.split_once('=')?;
            if !is_key_id(key_id) {
                return None;
            }
            entries.push(Entry { key_id: key_id.to_owned(), origin: Origin::parse(origin)? });
        }
        return Some(Tag::Vault { vault: vault.to_owned(), account: account.to_owned(), entries });
    }
    let rest = value.strip_prefix(LEGACY_TAG_VALUE)?;
    if !is_key_id(key) {
        return None;
    }
    let rotation = match rest.strip_prefix(':') {
        None if rest.is_empty() => None,
        Some(id) if is_rotation_id(id) => Some(id.to_owned()),
        _ => return None,
    };
    Some(Tag::Legacy { key_id: key.to_owned(), rotation })
}

/// Renders a tag value: one `KEY=ORIGIN` per key, `/` between them, the first ones kept if there are more than
/// [`MAX_ENTRIES`] (put the newest key first). Keys are never repeated.
pub fn render(entries: &[Entry]) -> String {
    let mut seen = HashSet::new();
    let mut out = String::new();
    for e in entries.iter().filter(|e| seen.insert(e.key_id.clone())).take(MAX_ENTRIES) {
        let item = format!("{}={}", e.key_id, e.origin.render());
        if out.len() + 1 + item.len() > MAX_VALUE {
            break;
        }
        if !out.is_empty() {
            out.push(SEPARATORS[0]);
        }
        out.push_str(&item);
    }
    out
}

/// A tag value with `new` first, then the entries of `kept` (a value [`render`] made).
pub fn with_new(new: Entry, kept: &str) -> String {
    let mut entries = vec![new];
    entries.extend(kept.split(SEPARATORS).filter(|i| !i.is_empty()).filter_map(|item| {
        let (key_id, origin) = item.split_once('=')?;
        Some(Entry { key_id: key_id.to_owned(), origin: Origin::parse(origin)? })
    }));
    render(&entries)
}

/// Every key any ownership tag names (of any vault, in any format).
pub fn tagged_keys(tags: &[(String, String)]) -> HashSet<String> {
    let mut keys = HashSet::new();
    for (k, v) in tags {
        match parse(k, v) {
            Some(Tag::Vault { entries, .. }) => keys.extend(entries.into_iter().map(|e| e.key_id)),
            Some(Tag::Legacy { key_id, .. }) => {
                keys.insert(key_id);
            }
            None => {}
        }
    }
    keys
}

/// What this vault knows of a rotation a tag names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownRotation {
    /// The account it rotated.
    pub account: String,
}

/// How a key that no account of this vault holds relates to the vault, as a rotation of the
/// account its tag names would see it (for discovery, which looks at every user at once).
pub fn unheld(vault: &str, tags: &[(String, String)], rotations: &HashMap<String, KnownRotation>, key: &str) -> Owner {
    let mut k =
        Knowledge { vault: vault.into(), tags: tags.to_vec(), rotations: rotations.clone(), ..Default::default() };
    if let Some((Some((_, account)), _)) = k.tagged(key) {
        k.account = account;
    }
    k.owner(key)
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

impl Knowledge {
    /// What the tags say of `key`: the vault and account (`None` for a legacy tag) and origin.
    fn tagged(&self, key: &str) -> Option<(Option<(String, String)>, Origin)> {
        let mut legacy = None;
        for (k, v) in &self.tags {
            match parse(k, v) {
                Some(Tag::Vault { vault, account, entries }) => {
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
        if Some(key) == self.current.as_deref() {
            return Owner::Current;
        }
        if let Some(v) = self.known.get(key) {
            return Owner::Ours(*v);
        }
        if let Some(a) = self.siblings.get(key) {
            return Owner::Foreign(Foreign::Sibling(a.clone()));
        }
        match self.tagged(key) {
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

    /// Whether an import (which has no account yet, so no current key or versions) may take
    /// `key`: only a key that is nobody's — no ownership tag of any vault names it and no
    /// account of this vault holds it. Otherwise whose it is: a key another vault's rotation
    /// made, or one of this vault's, is held, and the importing account's first rotation would
    /// retire it under its holder.
    pub fn claimed(&self, key: &str) -> Option<Foreign> {
        match self.owner(key) {
            Owner::Foreign(Foreign::Untagged) => None,
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
        let whose = match (self.siblings.get(key), self.tagged(key)) {
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
    /// one of the create's attempts was made (`made_then`) is that create's orphan. A tagged key
    /// is not: its secret was stored when it was tagged.
    pub fn after_create(&self, key: &str, snapshot: &[String], made_then: bool, rotation: &str) -> Owner {
        match self.owner(key) {
            Owner::Foreign(Foreign::Untagged) if made_then && !snapshot.iter().any(|k| k == key) => {
                Owner::Orphan(rotation.to_owned())
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

mod read;

#[cfg(test)]
mod tests;
