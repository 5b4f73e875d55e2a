//! Taking an existing credential — an access key `discover --import` finds, a console password
//! `account add` adopts — with several real `rekey` processes at once (moto with authentication
//! through the model of real AWS; one vault on SQLite, the other on PostgreSQL when
//! REKEY_TEST_POSTGRES_URL is set). Each case runs `REKEY_SOAK_TRIALS` trials (default 5).
//!
//! - Two vaults, two processes each, import the same unmanaged users' keys at once: every key
//!   is taken by at most one account of either vault; every process that did not take it
//!   reports it as someone else's; no tag of a process that backed out stays on a user; and
//!   both vaults' rotations then leave each other's keys alone (common/invariants.rs).
//! - `account add` of a password, and `discover --import` of a key, killed between writing the
//!   account's tag and storing the account (failpoints `account-add:marked`, `import:marked`):
//!   the retry is refused, its hint naming `rekey account clear-tag` with the exact arguments;
//!   the command refuses an account the vault has and a tag it does not find, shows the tag in a
//!   dry run, removes it audited, and the retry then succeeds.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{
    iam,
    invariants::{self, Db},
    pg,
    suite::{self, soak},
    Sandbox,
};
use std::{collections::BTreeMap, thread};

/// Short verification and an immediate deletion of the previous key.
const FAST: &[&str] =
    &["--verify-successes", "1", "--verify-backoff", "50ms", "--verify-deadline", "20s", "--previous-key", "delete"];

/// The vault id a sandbox's vault drew at `init`.
fn vault_id(sb: &Sandbox) -> String {
    Db::of(&sb.vault).rows::<(String,)>("SELECT vault_id FROM vault_header").remove(0).0
}

/// A second vault on the same moto, with provider `p`: PostgreSQL when its URL is set.
fn second_vault(moto: &common::Moto, seeded: &iam::Seeded, pg: Option<&pg::PgSchema>) -> Sandbox {
    let b = pg.map_or_else(Sandbox::new, |s| Sandbox::with_vault(s.url.clone()));
    b.init_with_key_file();
    b.add_provider(moto, "p", &seeded.admin);
    b
}

/// The user's ownership tags (`rekey:…` but the owner tag), key → value.
fn ownership_tags(admin: &aws_sdk_iam::Client, user: &str) -> BTreeMap<String, String> {
    let out = iam::block_on(admin.list_user_tags().user_name(user).send()).unwrap();
    out.tags
        .into_iter()
        .filter(|t| t.key.starts_with("rekey:") && t.key != "rekey:owner")
        .map(|t| (t.key, t.value))
        .collect()
}

/// The vault's access-key accounts by user: (account id, current key).
fn key_accounts(sb: &Sandbox) -> BTreeMap<String, (String, String)> {
    Db::of(&sb.vault)
        .rows::<(String, String, String)>(
            "SELECT a.user_name, a.id, v.key_id FROM accounts a JOIN secret_versions v ON v.record_id = a.id \
             WHERE a.kind = 'access-key' AND v.state = 'current'",
        )
        .into_iter()
        .map(|(u, id, k)| (u, (id, k)))
        .collect()
}

/// One import's answer: the users it imported and those it skipped, with the reason.
struct Answer {
    imported: Vec<String>,
    skipped: BTreeMap<String, String>,
}

fn import_answer(out: &std::process::Output) -> Answer {
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "import failed: {err}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text} {err}"));
    parse_answer(&json)
}

fn parse_answer(json: &serde_json::Value) -> Answer {
    let imported =
        json["imported"].as_array().unwrap().iter().map(|a| a["user_name"].as_str().unwrap().into()).collect();
    let skipped = json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["user_name"].as_str().unwrap().into(), s["reason"].as_str().unwrap().into()))
        .collect();
    Answer { imported, skipped }
}

/// Two vaults, two processes each, import the same users' unmanaged keys at once.
#[test]
fn two_vaults_importing_the_same_keys_at_once_take_each_once() {
    let (moto, a, seeded) = suite::world(None);
    let pg = pg::schema();
    let b = second_vault(&moto, &seeded, pg.as_ref());
    let ids = [vault_id(&a), vault_id(&b)];
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    let trials = soak("REKEY_SOAK_TRIALS", 5, 2);
    let (mut taken, mut untaken) = ([0, 0], 0);
    // Users whose key nobody took (every taker backed out): a key no vault has, by design.
    let mut nobodys: Vec<String> = Vec::new();
    for trial in 1..=trials {
        let users: Vec<String> = (0..4).map(|i| format!("race{trial}x{i}")).collect();
        let (mut keys, mut secrets) = (BTreeMap::new(), BTreeMap::new());
        for u in &users {
            iam::block_on(admin.create_user().user_name(u).send()).unwrap();
            let k = iam::block_on(admin.create_access_key().user_name(u).send()).unwrap().access_key.unwrap();
            keys.insert(u.clone(), k.access_key_id);
            secrets.insert(u.clone(), k.secret_access_key);
        }
        let filter = format!("race{trial}x*");
        let procs: Vec<_> = [
            (0, a.std_rekey_factory()),
            (0, a.std_rekey_factory()),
            (1, b.std_rekey_factory()),
            (1, b.std_rekey_factory()),
        ]
        .into_iter()
        .map(|(v, cmd)| {
            let filter = filter.clone();
            thread::spawn(move || {
                let args = ["discover", "p", "--import", "--kind", "access-key", "--filter", &filter, "-o", "json"];
                (v, cmd().args(args).output().unwrap())
            })
        })
        .collect();
        let answers: Vec<(usize, Answer)> =
            procs.into_iter().map(|h| h.join().unwrap()).map(|(v, o)| (v, import_answer(&o))).collect();
        let held = [key_accounts(&a), key_accounts(&b)];
        for u in &users {
            let holders: Vec<usize> = (0..2).filter(|v| held[*v].contains_key(u)).collect();
            assert!(holders.len() <= 1, "trial {trial}: {u}'s key {} taken by both vaults", keys[u]);
            let tags = ownership_tags(&admin, u);
            match holders.first() {
                Some(&v) => {
                    let (account, key) = &held[v][u];
                    assert_eq!(key, &keys[u], "trial {trial}: {u}");
                    taken[v] += 1;
                    // Only the taker's tag stays: every process that backed out removed its own.
                    let want = BTreeMap::from([(format!("rekey:{}/{account}", ids[v]), format!("{key}=import"))]);
                    assert_eq!(tags, want, "trial {trial}: {u}");
                    let importers = answers.iter().filter(|(_, ans)| ans.imported.contains(u)).count();
                    assert_eq!(importers, 1, "trial {trial}: {u} imported by {importers} processes");
                    // Every process of the other vault said whose it is: that vault's, or (seen
                    // while its sibling process was taking it too) an account of its own vault.
                    for (w, ans) in answers.iter().filter(|(w, _)| *w != v) {
                        let why = ans.skipped.get(u).unwrap_or_else(|| panic!("trial {trial}: {u} not skipped"));
                        let theirs = why.contains(&format!("managed by another rekey vault {}", ids[v]));
                        assert!(theirs || why.contains("of this vault"), "trial {trial}: vault {w}: {why}");
                    }
                    // Adopting it in the other vault, with its secret, is refused alike.
                    let other = [&a, &b][1 - v];
                    let adopt = ["account", "add", "--provider", "p", "--user", u, "--kind", "access-key"];
                    let out = other
                        .rekey()
                        .args(adopt)
                        .args(["--access-key-id", key, "--secret-stdin"])
                        .write_stdin(secrets[u].as_str())
                        .output()
                        .unwrap();
                    let err = String::from_utf8_lossy(&out.stderr);
                    assert_eq!(out.status.code(), Some(4), "trial {trial}: {err}");
                    assert!(
                        err.contains(&format!("managed by another rekey vault {}", ids[v])),
                        "trial {trial}: {err}"
                    );
                }
                None => {
                    // Every taker backed out (each saw another's tag): none stays.
                    untaken += 1;
                    assert_eq!(tags, BTreeMap::new(), "trial {trial}: {u}");
                    assert!(answers.iter().all(|(_, ans)| ans.skipped.contains_key(u)), "trial {trial}: {u}");
                }
            }
        }
        // Both vaults rotate what they took this trial: neither deletes the other's key.
        for (sb, h) in [(&a, &held[0]), (&b, &held[1])] {
            let refs: Vec<String> =
                users.iter().filter(|u| h.contains_key(*u)).map(|u| format!("p/{u}/access-key")).collect();
            for r in &refs {
                sb.rekey().args(["account", "set", r]).args(FAST).assert().success();
            }
            if !refs.is_empty() {
                sb.rekey().arg("rotate").args(&refs).assert().success();
            }
        }
        nobodys.extend(users.iter().filter(|u| !held.iter().any(|h| h.contains_key(*u))).cloned());
        let ignore: Vec<&str> = nobodys.iter().map(String::as_str).collect();
        invariants::check_except(&moto, &seeded.admin, &[&a, &b], &ignore);
    }
    // Backing out is allowed in a trial, but a taking that always fails is a regression.
    assert!(taken[0] + taken[1] > 0, "no key taken in {trials} trials: {untaken} left to nobody");
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite (REKEY_TEST_POSTGRES_URL unset)" };
    eprintln!(
        "{trials} trials, vault B on {backend}: A took {} keys, B {}, {untaken} left to nobody (every taker backed \
         out); no key taken twice",
        taken[0], taken[1]
    );
}

/// Runs `rekey ARGS` in `sb`: exit code, stdout, stderr.
fn run(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = sb.std_rekey().args(args).envs(env.iter().copied()).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// The one tag of this vault on `user` (after a killed taker): its account id and value.
fn left_tag(admin: &aws_sdk_iam::Client, user: &str, vault: &str) -> (String, String) {
    let tags = ownership_tags(admin, user);
    assert_eq!(tags.len(), 1, "{user}: {tags:?}");
    let (k, v) = tags.into_iter().next().unwrap();
    let account = k.strip_prefix(&format!("rekey:{vault}/")).unwrap_or_else(|| panic!("{k}")).to_owned();
    (account, v)
}

/// `clear-tag` of `account`'s tag on `user` in `sb`, refused on the way and then done: a dry
/// run changes nothing, the removal is audited, and an account the vault has is refused.
fn clear_tag(sb: &Sandbox, admin: &aws_sdk_iam::Client, user: &str, account: &str, value: &str) {
    let clear = ["account", "clear-tag", "--provider", "p", "--user", user, account, "-o", "json"];
    let (code, out, err) = run(sb, &[&clear[..], &["--dry-run"]].concat(), &[]);
    assert_eq!(code, 0, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((shown["value"].as_str(), shown["removed"].as_bool()), (Some(value), Some(false)), "{shown}");
    assert_eq!(ownership_tags(admin, user).len(), 1, "a dry run removes nothing");
    let (code, out, err) = run(sb, &clear, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("which this vault does not have"), "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["removed"], true);
    assert_eq!(ownership_tags(admin, user), BTreeMap::new(), "the tag is gone");
    let events: Vec<(String, String)> = Db::of(&sb.vault)
        .rows("SELECT target, detail FROM audit_events WHERE action = 'account.clear-tag' AND outcome = 'ok'");
    assert!(events.iter().any(|(t, d)| t == account && d.contains(value)), "{events:?}");
    // Nothing left to clear: refused, naming what the user has.
    let (code, _, err) = run(sb, &clear, &[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no ownership tag of any vault"), "{err}");
}

/// The retry refused after a killed taker: the hint names the exact command.
fn refused_with_hint(err: &str, user: &str, account: &str) {
    let command = format!("rekey account clear-tag --provider p --user {user} {account}");
    assert!(err.contains(&format!("account {account} of this vault")) && err.contains(&command), "{err}");
}

/// A password's `account add`, and a key's import, killed between writing the account's tag
/// and storing the account: the retry is refused naming `account clear-tag`, which then removes
/// the tag (refusing an account the vault has), and the retry succeeds. On SQLite, and on
/// PostgreSQL when its URL is set.
#[test]
fn a_taker_killed_before_storing_its_account_leaves_a_tag_clear_tag_removes() {
    let (moto, a, seeded) = suite::world(None);
    let pg = pg::schema();
    let b = second_vault(&moto, &seeded, pg.as_ref());
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    let trials = soak("REKEY_SOAK_TRIALS", 5, 1);
    for trial in 1..=trials {
        for (n, sb) in [&a, &b].into_iter().enumerate() {
            let vault = vault_id(sb);
            // A password.
            let user = format!("pw{trial}v{n}");
            iam::block_on(admin.create_user().user_name(&user).send()).unwrap();
            iam::block_on(admin.create_login_profile().user_name(&user).password("Initial-Pa55word!").send()).unwrap();
            let add = ["account", "add", "--provider", "p", "--user", &user, "--kind", "password"];
            let (code, _, err) = run(sb, &add, &[("FAILPOINTS", "account-add:marked=return")]);
            assert!(code != 0 && err.contains("failpoint account-add:marked: aborting"), "{code}: {err}");
            let (account, value) = left_tag(&admin, &user, &vault);
            assert_eq!(value, "password=add");
            let (code, _, err) = run(sb, &add, &[]);
            assert_eq!(code, 4, "trial {trial}: {err}");
            refused_with_hint(&err, &user, &account);
            clear_tag(sb, &admin, &user, &account, &value);
            let (code, _, err) = run(sb, &add, &[]);
            assert_eq!(code, 0, "trial {trial}: {err}");
            // The account now exists: its tag is its own, never cleared.
            let (added, _) = left_tag(&admin, &user, &vault);
            let clear = ["account", "clear-tag", "--provider", "p", "--user", &user, &added];
            let (code, _, err) = run(sb, &clear, &[]);
            assert!(code == 4 && err.contains(&format!("rekey account remove {added}")), "{code}: {err}");
            assert_eq!(left_tag(&admin, &user, &vault), (added, "password=add".to_owned()), "the tag stays");
            // A key.
            let user = format!("key{trial}v{n}");
            iam::block_on(admin.create_user().user_name(&user).send()).unwrap();
            let key = iam::block_on(admin.create_access_key().user_name(&user).send()).unwrap().access_key.unwrap();
            let import = ["discover", "p", "--import", "--kind", "access-key", "--filter", &user, "-o", "json"];
            let (code, _, err) = run(sb, &import, &[("FAILPOINTS", "import:marked=return")]);
            assert!(code != 0 && err.contains("failpoint import:marked: aborting"), "{code}: {err}");
            let (account, value) = left_tag(&admin, &user, &vault);
            assert_eq!(value, format!("{}=import", key.access_key_id));
            let (code, out, err) = run(sb, &import, &[]);
            assert_eq!(code, 0, "trial {trial}: {err}");
            let answer = import_answer_of(&out, &err);
            assert!(answer.imported.is_empty(), "trial {trial}: {out}");
            refused_with_hint(&answer.skipped[&user], &user, &account);
            clear_tag(sb, &admin, &user, &account, &value);
            let (code, out, err) = run(sb, &import, &[]);
            assert_eq!(code, 0, "trial {trial}: {err}");
            assert_eq!(import_answer_of(&out, &err).imported, vec![user.clone()], "trial {trial}: {out}");
        }
    }
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite (REKEY_TEST_POSTGRES_URL unset)" };
    eprintln!("{trials} trials on SQLite and {backend}: each killed taker's tag refused the retry until clear-tag");
}

fn import_answer_of(out: &str, err: &str) -> Answer {
    let json: serde_json::Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    parse_answer(&json)
}

/// An imported key's account removed: its tag goes with it, and the key can be imported again.
#[test]
fn a_removed_accounts_tag_goes_with_it() {
    let (moto, sb, seeded) = suite::world(None);
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    iam::block_on(admin.create_user().user_name("again").send()).unwrap();
    iam::block_on(admin.create_access_key().user_name("again").send()).unwrap();
    let import = ["discover", "p", "--import", "--kind", "access-key", "--filter", "again", "-o", "json"];
    for round in 0..2 {
        let (code, out, err) = run(&sb, &import, &[]);
        assert_eq!(code, 0, "round {round}: {err}");
        assert_eq!(import_answer_of(&out, &err).imported, vec!["again".to_owned()], "round {round}: {out}");
        assert_eq!(ownership_tags(&admin, "again").len(), 1, "round {round}: the import's tag");
        sb.rekey().args(["account", "remove", "p/again/access-key"]).assert().success();
        assert_eq!(ownership_tags(&admin, "again"), BTreeMap::new(), "round {round}: removed with the account");
    }
}
