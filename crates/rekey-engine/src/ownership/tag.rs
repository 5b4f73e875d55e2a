//! The ownership tag's format: parsing what any vault (or an earlier version) wrote, and
//! rendering this vault's values (see the module docs of [`super`] for what they mean).
//!
//! A value is items separated by `/`: `KEY_ID=ORIGIN` for a key, `password=ORIGIN` for the
//! console password of a password account, `creating=ORIGIN` while a rotation (or `account add
//! --create`) creates a key the value does not name yet. The two words are shorter than any key id (16 characters at least), so no item can be
//! read as another kind; earlier versions read a value holding them as malformed, which proves
//! nothing to them.

use std::collections::HashSet;

/// The prefix of an ownership tag's key.
pub const TAG_PREFIX: &str = "rekey:";
/// The value earlier versions put under the key id of each key they created.
pub const LEGACY_TAG_VALUE: &str = "managed-by-rekey";
/// Most entries a tag value holds (42 characters each, IAM's limit is 256).
pub const MAX_ENTRIES: usize = 6;
const MAX_VALUE: usize = 256;
/// What separates a tag value's entries (rendered with the first).
const SEPARATORS: [char; 2] = ['/', ' '];
/// The item naming a password account's console password.
const PASSWORD: &str = "password";
/// The item naming a rotation whose key is being created (not yet in the value).
const CREATING: &str = "creating";

/// What created a key (or set a password) named in a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A rotation of the vault (its id).
    Rotation(String),
    /// `account add` (`--create` for a key).
    Added,
    /// An adopted key or password (not created by rekey; the vault holds its secret).
    Adopted,
    /// `discover --import` (a password the vault manages but has no secret of yet).
    Imported,
}

impl Origin {
    fn render(&self) -> &str {
        match self {
            Self::Rotation(id) => id,
            Self::Added => "add",
            Self::Adopted => "adopted",
            Self::Imported => "import",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "add" => Some(Self::Added),
            "adopted" => Some(Self::Adopted),
            "import" => Some(Self::Imported),
            s if is_rotation_id(s) => Some(Self::Rotation(s.to_owned())),
            _ => None,
        }
    }

    /// The rotation, when a rotation made it.
    pub fn rotation(&self) -> Option<&str> {
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
    /// `rekey:<vault>/<account> = ITEM/ITEM…`.
    Vault {
        /// The vault that wrote it.
        vault: String,
        /// The account of that vault.
        account: String,
        /// The keys it names.
        entries: Vec<Entry>,
        /// The account manages the user's console password (what set it last).
        password: Option<Origin>,
        /// A rotation of the account (or `account add --create`) is creating a key: one it may
        /// have made is not named yet.
        creating: Option<Origin>,
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
        let (mut entries, mut password, mut creating) = (Vec::new(), None, None);
        for item in value.split(SEPARATORS).filter(|i| !i.is_empty()) {
            match item.split_once('=')? {
                (PASSWORD, origin) => password = Some(Origin::parse(origin)?),
                (CREATING, origin) => creating = Some(Origin::parse(origin)?),
                (key_id, origin) if is_key_id(key_id) => {
                    entries.push(Entry { key_id: key_id.to_owned(), origin: Origin::parse(origin)? });
                }
                _ => return None,
            }
        }
        return Some(Tag::Vault { vault: vault.to_owned(), account: account.to_owned(), entries, password, creating });
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

/// `items` joined by `/`, as many as fit in IAM's 256 characters.
fn join_within(items: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    for item in items {
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

/// Renders a tag value: one `KEY=ORIGIN` per key, `/` between them, the first ones kept if there are more than
/// [`MAX_ENTRIES`] (put the newest key first). Keys are never repeated.
pub fn render(entries: &[Entry]) -> String {
    let mut seen = HashSet::new();
    join_within(
        entries
            .iter()
            .filter(|e| seen.insert(e.key_id.clone()))
            .take(MAX_ENTRIES)
            .map(|e| format!("{}={}", e.key_id, e.origin.render())),
    )
}

/// The key entries of a value [`render`] made (anything else in it is dropped).
fn entries_of(kept: &str) -> impl Iterator<Item = Entry> + '_ {
    kept.split(SEPARATORS).filter_map(|item| {
        let (key_id, origin) = item.split_once('=')?;
        is_key_id(key_id).then_some(())?;
        Some(Entry { key_id: key_id.to_owned(), origin: Origin::parse(origin)? })
    })
}

/// A tag value with `new` first, then the entries of `kept` (a value [`render`] made).
pub fn with_new(new: Entry, kept: &str) -> String {
    let mut entries = vec![new];
    entries.extend(entries_of(kept));
    render(&entries)
}

/// The value written before a key is created (by a rotation, or `account add --create`):
/// `creating=ORIGIN` first (it always fits), then the entries of `kept` (a value [`render`] made).
pub fn creating(by: &Origin, kept: &str) -> String {
    let entries: Vec<Entry> = entries_of(kept).collect();
    join_within(std::iter::once(format!("{CREATING}={}", by.render())).chain(split_rendered(&render(&entries))))
}

/// `value` without the `creating` item of `by`; `None` when it has none.
pub fn without_creating(value: &str, by: &Origin) -> Option<String> {
    let item = format!("{CREATING}={}", by.render());
    let items: Vec<&str> = value.split(SEPARATORS).filter(|i| !i.is_empty()).collect();
    items.contains(&item.as_str()).then(|| items.iter().filter(|i| **i != item).copied().collect::<Vec<_>>().join("/"))
}

fn split_rendered(value: &str) -> impl Iterator<Item = String> + '_ {
    value.split(SEPARATORS[0]).filter(|i| !i.is_empty()).map(str::to_owned)
}

/// The value of a password account's tag: what set the password it manages.
pub fn password(origin: &Origin) -> String {
    format!("{PASSWORD}={}", origin.render())
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
