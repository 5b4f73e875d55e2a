//! The tag format, the classifier and the slot decision.

use super::*;

const VAULT: &str = "0123456789abcdef";
const OTHER: &str = "fedcba9876543210";
const K1: &str = "AKIA0000000000000001";
const K2: &str = "AKIA0000000000000002";
const K3: &str = "AKIA0000000000000003";
const R1: &str = "rot_00000000000000a1";
const R2: &str = "rot_00000000000000a2";

fn key(id: &str, active: bool) -> AccessKeyMeta {
    AccessKeyMeta { id: id.into(), active, created: None }
}

fn facts(tags: &[(String, String)]) -> Knowledge {
    Knowledge { vault: VAULT.into(), account: "ACCT0001".into(), tags: tags.to_vec(), ..Knowledge::default() }
}

fn own_tag(value: &str) -> (String, String) {
    (tag_key(VAULT, "ACCT0001"), value.into())
}

#[test]
fn a_tag_renders_and_parses_back() {
    let entries = vec![Entry::rotation(K1, R1), Entry { key_id: K2.into(), origin: Origin::Added }];
    let value = render(&entries);
    assert_eq!(value, format!("{K1}={R1}/{K2}=add"));
    let key = tag_key(VAULT, "ACCT0001");
    assert_eq!(key, "rekey:0123456789abcdef/ACCT0001");
    assert_eq!(
        parse(&key, &value),
        Some(Tag::Vault {
            vault: VAULT.into(),
            account: "ACCT0001".into(),
            entries: entries.clone(),
            password: None,
            creating: None
        })
    );
    // IAM's limits and character set: key ≤ 128, value ≤ 256, letters digits space _ . : / = + - @.
    let ok = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c));
    assert!(key.len() <= 128 && ok(&key) && ok(&value));
    let many: Vec<Entry> = (0..20).map(|i| Entry::rotation(&format!("AKIA{i:016}"), R1)).collect();
    let long = render(&many);
    assert!(long.len() <= 256, "{}", long.len());
    assert!(long.starts_with(&format!("AKIA{:016}=", 0)), "the first (newest) entries are kept");
    assert_eq!(render(&[Entry::rotation(K1, R1), Entry::rotation(K1, R2)]), format!("{K1}={R1}"), "no repeats");
    let spaced = parse(&key, &format!("{K1}={R1} {K2}=add"));
    assert_eq!(spaced, parse(&key, &value), "spaces separate entries too");
}

#[test]
fn legacy_and_foreign_tags_parse_and_junk_does_not() {
    assert_eq!(
        parse(K1, &format!("managed-by-rekey:{R1}")),
        Some(Tag::Legacy { key_id: K1.into(), rotation: Some(R1.into()) })
    );
    assert_eq!(parse(K1, "managed-by-rekey"), Some(Tag::Legacy { key_id: K1.into(), rotation: None }));
    assert_eq!(parse(K1, "managed-by-rekeyX"), None);
    assert_eq!(parse("rekey:exempt", "true"), None, "other rekey: tags are not ownership tags");
    assert_eq!(parse("rekey:0123/ACCT0001", &format!("{K1}={R1}")), None, "a vault id is 16 hex digits");
    assert_eq!(parse(&tag_key(VAULT, "A"), &format!("{K1}=rot_zz")), None);
    assert_eq!(parse(&tag_key(VAULT, "A"), "AKIA=add"), None, "too short for a key id");
    assert_eq!(parse("Owner", "alice"), None);
}

#[test]
fn keys_are_classified_by_ownership_not_age() {
    let mut f =
        facts(&[own_tag(&format!("{K3}={R1}")), (tag_key(OTHER, "ZZZZ0001"), format!("AKIA0000000000000009={R2}"))]);
    f.current = Some(K1.into());
    f.known.insert(K2.into(), 1);
    f.siblings.insert("AKIA0000000000000008".into(), "SIBL0001".into());
    f.rotations.insert(R1.into(), KnownRotation { account: "ACCT0001".into() });
    let keys =
        [K1, K2, K3, "AKIA0000000000000009", "AKIA0000000000000008", "AKIA0000000000000007"].map(|k| key(k, true));
    let owners: Vec<Owner> = f.classify(&keys).into_iter().map(|(_, o)| o).collect();
    assert_eq!(
        owners,
        vec![
            Owner::Current,
            Owner::Ours(1),
            Owner::Foreign(Foreign::AfterLastState(Some(R1.into()))),
            Owner::Foreign(Foreign::OtherVault(OTHER.into())),
            Owner::Foreign(Foreign::Sibling("SIBL0001".into())),
            Owner::Foreign(Foreign::Untagged),
        ]
    );
}

#[test]
fn a_tagged_key_is_never_an_orphan() {
    // Unknown rotation: a state after this vault's (a restored backup) created the key.
    let tagged = facts(&[own_tag(&format!("{K3}={R1}"))]);
    assert_eq!(tagged.owner(K3), Owner::Foreign(Foreign::AfterLastState(Some(R1.into()))));
    // Known rotation (the backup was taken during it, and the restored vault finished it
    // differently): the tag still proves the key's secret was stored, by the other state.
    let mut f = tagged.clone();
    f.rotations.insert(R1.into(), KnownRotation { account: "ACCT0001".into() });
    assert_eq!(f.owner(K3), Owner::Foreign(Foreign::AfterLastState(Some(R1.into()))));
    // Even right after a create of that rotation, inside the sweep's window.
    assert_eq!(f.after_create(K3, &[], true, R1), Owner::Foreign(Foreign::AfterLastState(Some(R1.into()))));
    // The same rotation id under another vault's tag is that vault's.
    let mut f = facts(&[(tag_key(OTHER, "ACCT0001"), format!("{K3}={R1}"))]);
    f.rotations.insert(R1.into(), KnownRotation { account: "ACCT0001".into() });
    assert_eq!(f.owner(K3), Owner::Foreign(Foreign::OtherVault(OTHER.into())));
}

#[test]
fn an_orphan_is_an_untagged_key_a_retried_create_left() {
    let mut f = facts(&[]);
    f.current = Some(K1.into());
    f.known.insert(K2.into(), 1);
    f.siblings.insert("AKIA0000000000000008".into(), "SIBL0001".into());
    let snapshot = [K1.to_owned()];
    assert_eq!(f.after_create(K3, &snapshot, true, R1), Owner::Orphan(R1.into()));
    assert_eq!(f.after_create(K3, &snapshot, false, R1), Owner::Foreign(Foreign::Untagged), "older than the request");
    assert_eq!(f.after_create(K3, &[K3.to_owned()], true, R1), Owner::Foreign(Foreign::Untagged), "in the snapshot");
    assert_eq!(f.after_create(K1, &[], true, R1), Owner::Current);
    assert_eq!(f.after_create(K2, &[], true, R1), Owner::Ours(1), "its secret is stored (the create's own key)");
    assert!(matches!(f.after_create("AKIA0000000000000008", &[], true, R1), Owner::Foreign(Foreign::Sibling(_))));
    // Pre-flight never finds orphans: without the create's window, an untagged key is foreign.
    assert_eq!(f.owner(K3), Owner::Foreign(Foreign::Untagged));
}

#[test]
fn an_import_takes_only_a_key_that_is_nobodys() {
    // An import's knowledge: no account yet, so no current key and no versions.
    let mut f = Knowledge { vault: VAULT.into(), ..Knowledge::default() };
    f.tags = vec![
        (tag_key(OTHER, "ZZZZ0001"), format!("{K1}={R1}")),
        (tag_key(VAULT, "ACCT0002"), format!("{K2}={R2}")),
        (K3.into(), "managed-by-rekey".into()),
    ];
    f.siblings.insert("AKIA0000000000000008".into(), "SIBL0001".into());
    assert_eq!(f.claimed(K1), Some(Foreign::OtherVault(OTHER.into())), "another vault's rotation made it");
    assert_eq!(f.claimed(K2), Some(Foreign::AfterLastState(Some(R2.into()))), "this vault's tag names it");
    assert_eq!(f.claimed(K3), Some(Foreign::LegacyUnknown), "an earlier version's tag names it");
    assert_eq!(f.claimed("AKIA0000000000000008"), Some(Foreign::Sibling("SIBL0001".into())));
    assert_eq!(f.claimed("AKIA0000000000000007"), None, "untagged and held by no account: nobody's");
}

#[test]
fn a_current_key_another_holder_names_is_not_replaced() {
    let mut f = facts(&[(tag_key(OTHER, "ZZZZ0001"), format!("{K1}={R1}")), own_tag(&format!("{K2}={R2}"))]);
    assert_eq!(f.current_held_elsewhere(), None, "no current key");
    f.current = Some(K1.into());
    let why = f.current_held_elsewhere().unwrap();
    assert!(why.contains(K1) && why.contains(&format!("managed by another rekey vault {OTHER}")), "{why}");
    f.current = Some(K2.into());
    assert_eq!(f.current_held_elsewhere(), None, "this account's own tag");
    f.current = Some(K3.into());
    assert_eq!(f.current_held_elsewhere(), None, "an untagged key (an import's)");
    f.siblings.insert(K3.into(), "SIBL0001".into());
    assert!(f.current_held_elsewhere().unwrap().contains("held by account SIBL0001 of this vault"));
}

#[test]
fn legacy_tags_count_only_where_unambiguous() {
    let mut f = facts(&[(K3.into(), format!("managed-by-rekey:{R1}")), (K2.into(), "managed-by-rekey".into())]);
    assert_eq!(f.owner(K3), Owner::Foreign(Foreign::LegacyUnknown), "unknown rotation: another vault's");
    assert_eq!(f.owner(K2), Owner::Foreign(Foreign::LegacyUnknown), "no rotation named");
    f.rotations.insert(R1.into(), KnownRotation { account: "ACCT0001".into() });
    assert_eq!(f.owner(K3), Owner::Foreign(Foreign::AfterLastState(Some(R1.into()))), "a known rotation's");
    // The legacy tag of a key this vault carries over, and that of a key IAM no longer has, go.
    f.known.insert(K1.into(), 3);
    f.tags.push((K1.into(), format!("managed-by-rekey:{R2}")));
    let mut gone = f.legacy_to_remove(&[K1.into(), K2.into(), K3.into()]);
    gone.sort();
    assert_eq!(gone, vec![K1.to_owned(), K3.to_owned()], "K2's rotation is unknown and the key is in IAM");
    assert_eq!(f.legacy_to_remove(&[]).len(), 3);
    // Only legacy tags' rotations need looking up.
    f.tags.push(own_tag(&format!("AKIA0000000000000009={R2}")));
    let mut named: Vec<String> = named_rotations(&f.tags).into_iter().collect();
    named.sort();
    assert_eq!(named, vec![R1.to_owned(), R2.to_owned()], "R2 via K1's legacy tag, not the new-format one");
    assert!(named_rotations(&[own_tag(&format!("{K1}={R1}"))]).is_empty());
}

#[test]
fn a_rotation_carries_its_accounts_entries_forward() {
    let mut f = facts(&[
        own_tag(&format!("{K1}={R1}/AKIA0000000000000009={R2}")),
        (K2.into(), format!("managed-by-rekey:{R2}")),
        (tag_key(OTHER, "ACCT0001"), format!("{K3}={R2}")),
    ]);
    f.rotations.insert(R2.into(), KnownRotation { account: "ACCT0001".into() });
    f.known.insert("AKIA0000000000000005".into(), 1);
    let keep = [K1, K2, K3, "AKIA0000000000000005"].map(String::from);
    assert_eq!(
        f.entries_for(&keep),
        vec![
            Entry::rotation(K1, R1),
            Entry::rotation(K2, R2),
            Entry { key_id: "AKIA0000000000000005".into(), origin: Origin::Adopted },
        ],
        "own entries and legacy ones of known rotations; never another vault's"
    );
}

fn classified(f: &Knowledge, keys: &[AccessKeyMeta]) -> Vec<(AccessKeyMeta, Owner)> {
    f.classify(keys)
}

#[test]
fn a_slot_is_freed_from_this_accounts_keys_or_refused() {
    let mut f = facts(&[(tag_key(OTHER, "ACCT0001"), format!("{K2}={R2}"))]);
    f.current = Some(K1.into());
    // Room already.
    let s = free_slot("u", &classified(&f, &[key(K1, true)]), false);
    assert_eq!((s.free, s.refused), (None, None));
    // The previous key of an earlier rotation goes.
    f.known.insert(K3.into(), 1);
    let s = free_slot("u", &classified(&f, &[key(K1, true), key(K3, false)]), false);
    assert_eq!(s.free, Some((K3.into(), Freed::Ours(1))));
    // Another vault's key is refused, active or not, without the flag.
    for active in [true, false] {
        let s = free_slot("u", &classified(&f, &[key(K1, true), key(K2, active)]), false);
        let why = s.refused.unwrap();
        assert!(why.contains(&format!("managed by another rekey vault {OTHER}")), "{why}");
        assert_eq!(s.free, None);
    }
    // With the flag, only an inactive one.
    let s = free_slot("u", &classified(&f, &[key(K1, true), key(K2, true)]), true);
    assert!(s.refused.is_some());
    let s = free_slot("u", &classified(&f, &[key(K1, true), key(K2, false)]), true);
    assert_eq!(s.free, Some((K2.into(), Freed::Reclaimed(Foreign::OtherVault(OTHER.into())))));
    // A sibling account's key is never reclaimed.
    f.siblings.insert(K2.into(), "SIBL0001".into());
    let s = free_slot("u", &classified(&f, &[key(K1, true), key(K2, false)]), true);
    assert!(s.refused.unwrap().contains("held by account SIBL0001 of this vault"));
    // Both slots held by another vault (the second vault's first rotation): refused, nothing deleted.
    let mut g = facts(&[(tag_key(OTHER, "ACCT0009"), format!("{K1}={R1}/{K2}={R2}"))]);
    g.current = None;
    let s = free_slot("u", &classified(&g, &[key(K1, true), key(K2, true)]), false);
    assert!(s.free.is_none());
    assert_eq!(s.foreign.len(), 2);
    assert!(s.refused.unwrap().contains(&format!("{K1} (active, managed by another rekey vault {OTHER})")));
}

#[test]
fn password_and_creating_items_render_and_parse_back() {
    let key = tag_key(VAULT, "ACCT0001");
    let value = password(&Origin::Rotation(R1.into()));
    assert_eq!(value, format!("password={R1}"));
    let Some(Tag::Vault { entries, password: Some(p), creating: None, .. }) = parse(&key, &value) else {
        panic!("{value}")
    };
    assert_eq!((entries, p), (vec![], Origin::Rotation(R1.into())));
    for (origin, text) in [(Origin::Imported, "import"), (Origin::Added, "add"), (Origin::Adopted, "adopted")] {
        assert_eq!(password(&origin), format!("password={text}"));
        assert!(matches!(parse(&key, &password(&origin)), Some(Tag::Vault { password: Some(o), .. }) if o == origin));
    }
    // The creating item goes first, before the entries kept; the tag after the create drops it.
    let kept = render(&[Entry::rotation(K1, R1)]);
    let marked = creating(&Origin::Rotation(R2.into()), &kept);
    assert_eq!(marked, format!("creating={R2}/{K1}={R1}"));
    let Some(Tag::Vault { entries, creating: Some(by), .. }) = parse(&key, &marked) else { panic!("{marked}") };
    assert_eq!((entries, by), (vec![Entry::rotation(K1, R1)], Origin::Rotation(R2.into())));
    let tagged = with_new(Entry::rotation(K2, R2), &kept);
    assert!(matches!(parse(&key, &tagged), Some(Tag::Vault { creating: None, .. })), "{tagged}");
    assert_eq!(creating(&Origin::Added, ""), "creating=add");
    // An abort takes only its own item out, whatever else the value holds now.
    let now = format!("creating={R2}/{K2}={R1}/{K1}={R1}");
    assert_eq!(without_creating(&now, &Origin::Rotation(R2.into())), Some(format!("{K2}={R1}/{K1}={R1}")));
    assert_eq!(without_creating(&now, &Origin::Rotation(R1.into())), None, "another rotation's item");
    assert_eq!(without_creating(&kept, &Origin::Rotation(R2.into())), None, "no item");
    assert_eq!(without_creating(&creating(&Origin::Added, ""), &Origin::Added), Some(String::new()));
    // Within IAM's 256 characters whatever is kept, the item always there.
    let many: Vec<Entry> = (0..20).map(|i| Entry::rotation(&format!("AKIA{i:016}"), R1)).collect();
    let long = creating(&Origin::Rotation(format!("rot_{}", "f".repeat(32))), &render(&many));
    assert!(long.len() <= 256 && long.starts_with("creating=rot_"), "{}", long.len());
    // Nothing but these words and key ids: a value holding anything else proves nothing.
    assert_eq!(parse(&key, "passwd=add"), None);
    assert_eq!(parse(&key, "creating=later"), None);
    assert_eq!(parse(&key, "password=someone"), None);
}

#[test]
fn an_untagged_key_is_someones_while_another_account_creates_one() {
    let mut import = Knowledge { vault: VAULT.into(), ..Knowledge::default() };
    assert_eq!(import.claimed(K3), None, "untagged, nothing being created: nobody's");
    // Another vault's rotation is between its CreateAccessKey and its TagUser.
    import.tags = vec![(tag_key(OTHER, "ZZZZ0001"), creating(&Origin::Rotation(R1.into()), ""))];
    let theirs = Some(Foreign::Creating { vault: OTHER.into(), by: Origin::Rotation(R1.into()) });
    assert_eq!(import.claimed(K3), theirs);
    let why = import.claimed(K3).unwrap().to_string();
    assert!(why.contains(R1) && why.contains(OTHER), "{why}");
    // An account of this very vault creating one counts too (the import is not that account).
    import.tags = vec![(tag_key(VAULT, "ACCT0002"), creating(&Origin::Added, ""))];
    assert_eq!(import.claimed(K3), Some(Foreign::Creating { vault: VAULT.into(), by: Origin::Added }));
    assert!(import.claimed(K3).unwrap().to_string().contains("account add --create"));
    // A tagged key stays whose its tag says.
    import.tags.push((tag_key(OTHER, "ZZZZ0001"), format!("{K1}={R1}")));
    assert_eq!(import.claimed(K1), Some(Foreign::OtherVault(OTHER.into())));
    // The rotation's own item does not make its own orphan someone else's; another's does.
    let mut own = facts(&[own_tag(&creating(&Origin::Rotation(R1.into()), ""))]);
    assert_eq!(own.creating_elsewhere(), None);
    assert_eq!(own.after_create(K3, &[], true, R1), Owner::Orphan(R1.into()));
    own.tags.push((tag_key(OTHER, "ZZZZ0001"), creating(&Origin::Rotation(R2.into()), "")));
    assert_eq!(
        own.after_create(K3, &[], true, R1),
        Owner::Foreign(Foreign::Creating { vault: OTHER.into(), by: Origin::Rotation(R2.into()) }),
        "maybe the other rotation's key: never deleted"
    );
}

#[test]
fn a_password_another_account_marks_is_not_taken() {
    let mut f = Knowledge { vault: VAULT.into(), account: "ACCT0001".into(), ..Knowledge::default() };
    assert_eq!(f.password_claimed(), None, "no mark");
    f.tags = vec![own_tag(&password(&Origin::Imported)), (tag_key(OTHER, "ZZZZ0001"), format!("{K1}={R1}"))];
    assert_eq!(f.password_claimed(), None, "its own mark, and another vault's key tag");
    f.tags.push((tag_key(VAULT, "ACCT0002"), password(&Origin::Rotation(R1.into()))));
    assert_eq!(f.password_claimed(), Some(Foreign::UnknownAccount("ACCT0002".into())), "an account it lacks");
    f.accounts.insert("ACCT0002".into());
    assert_eq!(f.password_claimed(), Some(Foreign::Sibling("ACCT0002".into())), "another provider's account");
    f.tags.insert(0, (tag_key(OTHER, "ZZZZ0002"), password(&Origin::Imported)));
    assert_eq!(f.password_claimed(), Some(Foreign::OtherVault(OTHER.into())));
    let why = f.password_held_elsewhere().unwrap();
    assert!(why.contains(&format!("managed by another rekey vault {OTHER}")) && why.contains("dead password"), "{why}");
    // Only this vault's marks name accounts to look up.
    let mut named: Vec<String> = named_accounts(VAULT, &f.tags).into_iter().collect();
    named.sort();
    assert_eq!(named, vec!["ACCT0001".to_owned(), "ACCT0002".to_owned()]);
    // An import (no account yet) counts every mark, this vault's too.
    let import =
        Knowledge { vault: VAULT.into(), tags: vec![own_tag(&password(&Origin::Added))], ..Knowledge::default() };
    assert_eq!(import.password_claimed(), Some(Foreign::UnknownAccount("ACCT0001".into())));
}

#[test]
fn a_takers_own_tag_is_no_claim_and_another_takers_is() {
    // An import (or adoption) of ACCT0009, after writing its own tag naming K1.
    let imported = |k: &str| render(&[Entry { key_id: k.into(), origin: Origin::Imported }]);
    let mut f = Knowledge { vault: VAULT.into(), account: "ACCT0009".into(), ..Knowledge::default() };
    f.tags = vec![(tag_key(VAULT, "ACCT0009"), imported(K1))];
    assert_eq!(f.claimed(K1), None, "its own tag only");
    // Another vault's taker, racing: its tag names the key too, whichever comes first.
    f.tags.insert(0, (tag_key(OTHER, "ZZZZ0001"), imported(K1)));
    assert_eq!(f.claimed(K1), Some(Foreign::OtherVault(OTHER.into())));
    f.tags.reverse();
    assert_eq!(f.claimed(K1), Some(Foreign::OtherVault(OTHER.into())));
    // Another taker of this vault: an account it does not have (yet, or ever), or one it has.
    f.tags = vec![(tag_key(VAULT, "ACCT0009"), imported(K2)), (tag_key(VAULT, "ACCT0002"), imported(K2))];
    assert_eq!(f.claimed(K2), Some(Foreign::UnknownAccount("ACCT0002".into())));
    f.accounts.insert("ACCT0002".into());
    assert_eq!(f.claimed(K2), Some(Foreign::Sibling("ACCT0002".into())));
    // `account add`'s keys count alike; a rotation's stays a state after the last known one.
    f.tags =
        vec![(tag_key(VAULT, "ACCT0003"), format!("{K3}=adopted")), (tag_key(VAULT, "ACCT0004"), format!("{K2}={R2}"))];
    assert_eq!(f.claimed(K3), Some(Foreign::UnknownAccount("ACCT0003".into())));
    assert_eq!(f.claimed(K2), Some(Foreign::AfterLastState(Some(R2.into()))));
    assert_eq!(named_accounts(VAULT, &f.tags).len(), 2, "key tags name accounts to look up too");
    // The rotation's classifier still reads its own tag: a key it names that the account does
    // not hold was stored by a state of this vault it does not have.
    let own = facts(&[own_tag(&imported(K1))]);
    assert_eq!(own.owner(K1), Owner::Foreign(Foreign::AfterLastState(None)));
}
