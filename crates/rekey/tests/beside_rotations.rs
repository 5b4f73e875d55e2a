//! The work that changes an account beside its rotations, with several real processes at once
//! on one vault (SQLite, and PostgreSQL when REKEY_TEST_POSTGRES_URL is set), moto with
//! authentication through the model of real AWS. Each case runs `REKEY_SOAK_TRIALS` trials
//! (default 5) and checks the promise after every one (common/invariants.rs). A process is held
//! at an exact step by a failpoint that stops it (`NAME=return(stop)`, SIGSTOP) until the test
//! has done what must happen meanwhile and continues it (SIGCONT): no timed pause.
//!
//! - Heartbeat ∥ rotation: a heartbeat stopped after reading the account, while a rotation
//!   replaces (and deletes) the key it read, stores nothing and says `busy`, naming the
//!   rotation; heartbeats looping beside the rotation are `ok` or `busy`, never `failed`; the
//!   account keeps the rotation's own check.
//! - Lapsed check-out ∥ several `run-due` processes ticking, one of them stopped between its read
//!   of the lapsed check-outs and its lease: the password is rotated and the check-out ended
//!   exactly once (one rotation, one `account.checkout-end`).
//! - `account remove --delete-managed-key` ∥ rotation: refused as busy (exit 4, naming the
//!   rotation) while a rotation is under way; a rotation is refused while a removal holds the
//!   account; both at once, in any order: the account goes, its lease with it, and IAM keeps no
//!   key of its user.
//! - Every command beside a rotation under way: each one refused because the account is busy
//!   exits 4 (conflict) naming the rotation, and changes nothing; a batch whose only shortfall
//!   is the busy account exits 4 too; a heartbeat by folder skips it (exit 0).
//! - `account remove` never leaves the account in the vault with its ownership tag gone: killed
//!   between deleting the account and removing the tag (failpoint `account-remove:deleted`), the
//!   account is gone and its tag stays (for `account clear-tag`); a deletion the database
//!   refuses, or one fenced because its lease was taken over, leaves both.
//! - A rotation whose lease was taken over while it was stopped right after its CreateAccessKey
//!   cannot store the new key's secret (its write is fenced), and does not delete that key
//!   either (every IAM call is made under the lease): the worker holding the lease sweeps it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{
    iam,
    invariants::{self, Db},
    pg,
    suite::{self, soak, until},
    Sandbox,
};
use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader, Read},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

/// Short verification and an immediate deletion of the previous key: a stale view of the
/// account names a key IAM no longer has.
const FAST: &[&str] =
    &["--verify-successes", "1", "--verify-backoff", "50ms", "--verify-deadline", "20s", "--previous-key", "delete"];
/// A bound on any one wait of the test (a hung test fails instead of hanging CI).
const PATIENCE: Duration = Duration::from_secs(120);

/// One finished command: exit code, stdout, stderr.
type Run = (i32, String, String);

fn run(mut c: Command) -> Run {
    let out = c.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// A `rekey` process stopped at a failpoint; killed if the test ends before continuing it.
struct Stopped {
    child: Option<Child>,
    seen: String,
    stdout: Option<thread::JoinHandle<String>>,
    stderr: Option<thread::JoinHandle<String>>,
}

/// Starts `c` with failpoint `point` set to stop it, and returns once it is stopped there.
fn stopped_at(mut c: Command, point: &str) -> Stopped {
    c.env("FAILPOINTS", format!("{point}=return(stop)")).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let stdout = thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let (mut seen, needle) = (String::new(), format!("failpoint {point}: stopping"));
    while !seen.contains(&needle) {
        assert!(err.read_line(&mut seen).unwrap() > 0, "the process ended before {point}: {seen}");
    }
    let stderr = thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let pid = child.id();
    until(&format!("the process stopped at {point}"), PATIENCE, || (state(pid) == Some('T')).then_some(()));
    Stopped { child: Some(child), seen, stdout: Some(stdout), stderr: Some(stderr) }
}

/// The state letter of process `pid` (`T`: stopped).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

impl Stopped {
    /// Continues the process and waits for it: exit code, stdout, stderr.
    fn resume(mut self) -> Run {
        let mut child = self.child.take().unwrap();
        let cont = Command::new("kill").args(["-CONT", &child.id().to_string()]).status().unwrap();
        assert!(cont.success(), "SIGCONT");
        let code = child.wait().unwrap().code().unwrap_or(-1);
        let stdout = self.stdout.take().unwrap().join().unwrap();
        let stderr = format!("{}{}", self.seen, self.stderr.take().unwrap().join().unwrap());
        (code, stdout, stderr)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Rotation ids of `account` journaled so far.
fn rotations_of(sb: &Sandbox, account_id: &str) -> BTreeSet<String> {
    suite::journal(sb).into_values().filter(|r| r.account == account_id).map(|r| r.id).collect()
}

/// `rekey rotate ACCOUNT` held once its new key is made and stored, and the id of its rotation
/// (`id` is the account's).
fn rotating_held(sb: &Sandbox, account: &str, id: &str) -> (Stopped, String) {
    let mut rotate = sb.std_rekey();
    rotate.args(["rotate", account, "-o", "json"]);
    let rotating = stopped_at(rotate, "access-key:created");
    let open = sb.json(&["rotation", "list", "--open"]);
    let rot =
        open.as_array().unwrap().iter().find(|r| r["account_id"] == id).unwrap()["id"].as_str().unwrap().to_owned();
    (rotating, rot)
}

fn id_of(sb: &Sandbox, account: &str) -> String {
    sb.json(&["account", "show", account])["id"].as_str().unwrap().to_owned()
}

/// Runs `case` on a SQLite vault, and on a PostgreSQL one when REKEY_TEST_POSTGRES_URL is set.
macro_rules! on_both {
    ($case:ident: $sqlite:ident, $postgres:ident) => {
        #[test]
        fn $sqlite() {
            $case(None);
        }

        #[test]
        fn $postgres() {
            if let Some(schema) = pg::schema() {
                $case(Some(schema.url.clone()));
            }
        }
    };
}

on_both!(heartbeat_beside_rotation: heartbeat_beside_rotation_sqlite, heartbeat_beside_rotation_postgres);
on_both!(lapsed_checkout_with_several_ticks: lapsed_checkout_sqlite, lapsed_checkout_postgres);
on_both!(remove_beside_rotation: remove_beside_rotation_sqlite, remove_beside_rotation_postgres);
on_both!(every_command_beside_rotation: busy_exit_codes_sqlite, busy_exit_codes_postgres);
on_both!(fenced_create_cleanup: fenced_create_cleanup_sqlite, fenced_create_cleanup_postgres);
on_both!(remove_keeps_tag_with_account: remove_keeps_tag_sqlite, remove_keeps_tag_postgres);

/// A heartbeat that read the account before a rotation replaced its key stores nothing; the
/// rotation's result stands. Odd trials name the account (the heartbeat was refused as busy,
/// exit 4, as `rekey rotate` of a busy account); even ones select it by folder (skipped, exit 0).
fn heartbeat_beside_rotation(vault: Option<String>) {
    let (moto, sb, seeded) = suite::world(vault);
    let account = suite::accounts(&moto, &sb, &seeded.admin, "hb", 1, "beats", FAST).remove(0);
    let id = id_of(&sb, &account);
    let db = Db::of(&sb.vault);
    let trials = soak("REKEY_SOAK_TRIALS", 5, 5);
    let mut looped = 0;
    for trial in 1..=trials {
        let before = rotations_of(&sb, &id);
        let beats_before: Vec<(i64,)> = db
            .rows(&format!("SELECT COUNT(*) FROM audit_events WHERE action = 'account.heartbeat' AND target = '{id}'"));
        let named = trial % 2 == 1;
        let mut stale = sb.std_rekey();
        stale.args(["heartbeat", "-o", "json"]);
        if named {
            stale.arg(&account);
        } else {
            stale.args(["--folder", "beats"]);
        }
        let stale = stopped_at(stale, "heartbeat:read");
        // Heartbeats looping beside the rotation, each started afresh.
        let stop = Arc::new(AtomicBool::new(false));
        let loops: Vec<_> = (0..2)
            .map(|_| {
                let (cmd, stop, account) = (sb.std_rekey_factory(), stop.clone(), account.clone());
                thread::spawn(move || {
                    let mut runs = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let mut c = cmd();
                        c.args(["heartbeat", &account, "-o", "json"]);
                        runs.push(run(c));
                    }
                    runs
                })
            })
            .collect();
        let mut rotate = sb.std_rekey();
        rotate.args(["rotate", &account]);
        let (code, out, err) = run(rotate);
        stop.store(true, Ordering::SeqCst);
        assert_eq!(code, 0, "trial {trial}: rotate: {out}{err}");
        let new: Vec<String> = rotations_of(&sb, &id).difference(&before).cloned().collect();
        assert_eq!(new.len(), 1, "trial {trial}: one rotation: {new:?}");

        let (code, out, err) = stale.resume();
        let rows: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        let row = &rows[0];
        assert_eq!(row["status"], "busy", "trial {trial}: the stale heartbeat: {rows} {err}");
        let why = row["findings"][0].as_str().unwrap();
        assert!(why.contains(&new[0]) && why.contains("while the heartbeat checked"), "trial {trial}: {why}");
        assert_eq!(code, if named { 4 } else { 0 }, "trial {trial}: {out}{err}");
        assert!(err.contains("1 account(s) skipped"), "trial {trial}: {err}");

        for handle in loops {
            for (code, out, err) in handle.join().unwrap() {
                let rows: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
                match (code, rows[0]["status"].as_str().unwrap()) {
                    (0, "ok") => {}
                    (4, "busy") => {
                        // The rotation, once journaled; before that, the worker holding the
                        // lease, or that one took it (a `recover` that found nothing to do).
                        let why = rows[0]["findings"][0].as_str().unwrap();
                        assert!(
                            why.contains(&new[0])
                                || why.contains("being worked by another rekey worker")
                                || why.contains("took account"),
                            "trial {trial}: a busy heartbeat names what works the account: {why}"
                        );
                    }
                    other => panic!("trial {trial}: a heartbeat beside the rotation: {other:?} {rows} {err}"),
                }
                looped += 1;
            }
        }
        // The account holds a heartbeat that judged its current key: the rotation's own, or a
        // later heartbeat's; never a failed one.
        let (status, detail): (String, String) =
            db.rows(&format!("SELECT heartbeat_status, heartbeat_detail FROM accounts WHERE id = '{id}'")).remove(0);
        assert_eq!(status, "ok", "trial {trial}: {detail}");
        let failed: Vec<(String,)> = db.rows(&format!(
            "SELECT detail FROM audit_events WHERE action = 'account.heartbeat' AND target = '{id}' \
             AND outcome <> 'ok'"
        ));
        assert!(failed.is_empty(), "trial {trial}: a heartbeat beside the rotation was recorded failed: {failed:?}");
        let beats_after: Vec<(i64,)> = db
            .rows(&format!("SELECT COUNT(*) FROM audit_events WHERE action = 'account.heartbeat' AND target = '{id}'"));
        assert!(beats_after[0].0 >= beats_before[0].0, "trial {trial}");
        invariants::check(&moto, &seeded.admin, &[&sb]);
    }
    eprintln!("{trials} trials: a stale heartbeat each, {looped} heartbeats beside the rotations");
}

/// A lapsed check-out, several `run-due --once` processes ticking at once, one of them stopped
/// after reading the lapsed check-outs until the others are done: one rotation, one end.
fn lapsed_checkout_with_several_ticks(vault: Option<String>) {
    let (moto, sb, seeded) = suite::world(vault);
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    iam::block_on(admin.create_user().user_name("desk").send()).unwrap();
    iam::block_on(admin.create_login_profile().user_name("desk").password("Desk-Initial-1!").send()).unwrap();
    sb.adopt_password("p", "desk", "Desk-Initial-1!");
    let id = id_of(&sb, "p/desk/password");
    let db = Db::of(&sb.vault);
    let trials = soak("REKEY_SOAK_TRIALS", 5, 5);
    for trial in 1..=trials {
        let before = rotations_of(&sb, &id);
        let now = suite::now_ms();
        let checkout = format!("co_trial{trial}");
        // Checked out a minute ago and returned now (after the previous trial's rotation).
        db.execute(&format!(
            "INSERT INTO checkouts (id, account_id, holder, started_at, expires_at, ended_at, end_reason) \
             VALUES ('{checkout}', '{id}', 'token:tk_test', {}, {now}, NULL, 'checked-in')",
            now - 60_000
        ));
        let mut late = sb.std_rekey();
        late.args(["run-due", "--once"]);
        let late = stopped_at(late, "checkout:listed");
        let ticks: Vec<_> = (0..3)
            .map(|_| {
                let cmd = sb.std_rekey_factory();
                thread::spawn(move || {
                    let mut c = cmd();
                    c.args(["run-due", "--once"]);
                    run(c)
                })
            })
            .collect();
        for t in ticks {
            let (code, out, err) = t.join().unwrap();
            assert_eq!(code, 0, "trial {trial}: run-due: {out}{err}");
        }
        let (code, out, err) = late.resume();
        assert_eq!(code, 0, "trial {trial}: the late run-due: {out}{err}");
        assert!(err.contains("run-due: 0 rotation(s) worked"), "trial {trial}: the late tick rotated: {err}");

        let new: Vec<String> = rotations_of(&sb, &id).difference(&before).cloned().collect();
        assert_eq!(new.len(), 1, "trial {trial}: the password was rotated once: {new:?}");
        let ends: Vec<(String,)> = db.rows(&format!(
            "SELECT detail FROM audit_events WHERE action = 'account.checkout-end' AND detail LIKE '%{checkout}%'"
        ));
        assert_eq!(ends.len(), 1, "trial {trial}: the check-out was ended once: {ends:?}");
        let ended: Vec<(Option<i64>, Option<String>)> =
            db.rows(&format!("SELECT ended_at, end_reason FROM checkouts WHERE id = '{checkout}'"));
        assert!(ended[0].0.is_some(), "trial {trial}: ended: {ended:?}");
        let vault_has = sb.json(&["account", "reveal", "p/desk/password"])["secret"].as_str().unwrap().to_owned();
        assert_eq!(iam::stored_password(&moto, "desk").as_deref(), Some(vault_has.as_str()), "trial {trial}");
        assert_ne!(vault_has, "Desk-Initial-1!", "trial {trial}");
        invariants::check(&moto, &seeded.admin, &[&sb]);
    }
    eprintln!("{trials} trials: each lapsed check-out rotated and ended once by 4 ticking processes");
}

/// `account remove --delete-managed-key` beside a rotation of the same account, three ways per
/// trial, each on an account of its own.
fn remove_beside_rotation(vault: Option<String>) {
    let (moto, sb, seeded) = suite::world(vault);
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    let keys_of = |user: &str| iam::keys_of(&admin, user);
    let trials = soak("REKEY_SOAK_TRIALS", 5, 5);
    let (mut raced_removals, mut raced_busy) = (0, 0);
    for trial in 1..=trials {
        let [during, holding, raced]: [String; 3] = ["during", "holding", "raced"]
            .map(|how| suite::accounts(&moto, &sb, &seeded.admin, &format!("{how}{trial}x"), 1, "rm", FAST).remove(0));
        let user = |account: &str| account.split('/').nth(1).unwrap().to_owned();

        // A rotation under way (its new key made and stored): the removal is refused as busy.
        let id = id_of(&sb, &during);
        let (rotating, rot) = rotating_held(&sb, &during, &id);
        let (code, out, err) = run({
            let mut c = sb.std_rekey();
            c.args(["account", "remove", &during, "--delete-managed-key"]);
            c
        });
        assert_eq!(code, 4, "trial {trial}: refused as busy: {out}{err}");
        assert!(err.contains(&format!("rotation {rot} of account {id} is under way")), "trial {trial}: {err}");
        assert_eq!(keys_of(&user(&during)).len(), 2, "trial {trial}: IAM untouched: the old key and the new one");
        let (code, out, err) = rotating.resume();
        assert_eq!(code, 0, "trial {trial}: the rotation went on: {out}{err}");
        let current = sb.json(&["account", "show", &during])["current_key_id"].as_str().unwrap().to_owned();
        let (code, out, err) = run({
            let mut c = sb.std_rekey();
            c.args(["account", "remove", &during, "--delete-managed-key"]);
            c
        });
        assert_eq!(code, 0, "trial {trial}: removed once the rotation ended: {out}{err}");
        assert!(err.contains(&format!("deleted its access key {current}")), "trial {trial}: {err}");
        assert!(keys_of(&user(&during)).is_empty(), "trial {trial}: no key left with nobody holding it");
        let leases = |id: &str| {
            Db::of(&sb.vault).rows::<(i64,)>(&format!("SELECT COUNT(*) FROM leases WHERE account_id = '{id}'"))[0].0
        };
        assert_eq!(leases(&id), 0, "trial {trial}: the lease went with the account");

        // A removal holding the account: a rotation is refused, and the removal deletes the key.
        let holding_id = id_of(&sb, &holding);
        let mut remove = sb.std_rekey();
        remove.args(["account", "remove", &holding, "--delete-managed-key"]);
        let removing = stopped_at(remove, "account-remove:leased");
        let (code, out, err) = run({
            let mut c = sb.std_rekey();
            c.args(["rotate", &holding, "-o", "json"]);
            c
        });
        assert_eq!(code, 4, "trial {trial}: the rotation is refused as busy: {out}{err}");
        let reports: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(reports[0]["outcome"], "refused", "trial {trial}: {reports}");
        assert!(reports[0]["error"].as_str().unwrap().contains("being worked by another rekey worker"), "{reports}");
        let (code, out, err) = removing.resume();
        assert_eq!(code, 0, "trial {trial}: the removal went on: {out}{err}");
        assert!(keys_of(&user(&holding)).is_empty(), "trial {trial}: the managed key is gone");
        assert_eq!(leases(&holding_id), 0, "trial {trial}: the lease went with the account");

        // Both at once: whichever takes the account first, the other is refused or finds it gone.
        let spawn = |args: Vec<String>| {
            let cmd = sb.std_rekey_factory();
            thread::spawn(move || {
                let mut c = cmd();
                c.args(args);
                run(c)
            })
        };
        let rotate = spawn(vec!["rotate".into(), raced.clone(), "-o".into(), "json".into()]);
        let remove = spawn(vec!["account".into(), "remove".into(), raced.clone(), "--delete-managed-key".into()]);
        let (rotated, removed) = (rotate.join().unwrap(), remove.join().unwrap());
        assert!(matches!(rotated.0, 0 | 3 | 4 | 9), "trial {trial}: rotate: {rotated:?}");
        match removed.0 {
            0 => raced_removals += 1,
            4 => {
                let why = &removed.2;
                assert!(why.contains("is under way") || why.contains("being worked by"), "trial {trial}: {removed:?}");
                raced_busy += 1;
                sb.rekey().args(["account", "remove", &raced, "--delete-managed-key"]).assert().success();
            }
            _ => panic!("trial {trial}: remove: {removed:?}"),
        }
        assert!(keys_of(&user(&raced)).is_empty(), "trial {trial}: {rotated:?} {removed:?}");
        let left: Vec<(i64,)> = Db::of(&sb.vault).rows("SELECT COUNT(*) FROM accounts");
        assert_eq!(left[0].0, 0, "trial {trial}: every account removed");
        invariants::check(&moto, &seeded.admin, &[&sb]);
    }
    eprintln!(
        "{trials} trials; the raced removal went first {raced_removals} time(s) and met the rotation {raced_busy} time(s)"
    );
}

/// Every command that meets an account another worker holds — a rotation stopped right after its
/// new key was made — is refused with exit 4 (conflict), says which rotation holds it, and
/// changes nothing; the rotation then goes on as if nothing had happened.
fn every_command_beside_rotation(vault: Option<String>) {
    let (moto, sb, seeded) = suite::world(vault);
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    let [held, free]: [String; 2] =
        suite::accounts(&moto, &sb, &seeded.admin, "busy", 2, "held", FAST).try_into().unwrap();
    let (id, user) = (id_of(&sb, &held), held.split('/').nth(1).unwrap().to_owned());
    let trials = soak("REKEY_SOAK_TRIALS", 5, 5);
    for trial in 1..=trials {
        let (rotating, rot) = rotating_held(&sb, &held, &id);
        let keys = iam::keys_of(&admin, &user);
        let current = sb.json(&["account", "show", &held])["current_key_id"].clone();
        // (arguments, exit code, what the message says besides naming the rotation)
        let cases: [(Vec<&str>, i32, &str); 12] = [
            (vec!["rotate", &held], 4, "is under way"),
            (vec!["incident", &held, "--yes"], 4, "is under way"),
            (vec!["recover"], 4, "is under way"),
            (vec!["heartbeat", &held], 4, "is under way"),
            (vec!["rollback", &held], 4, "is under way"),
            (vec!["rotation", "abort", &rot], 4, "is under way"),
            (vec!["rotation", "confirm", &rot], 4, "is under way"),
            (vec!["account", "remove", &held], 4, "is under way"),
            // Batches whose other account completed: the busy one is their only shortfall.
            (vec!["rotate", &held, &free], 4, "1 of 2 account(s) were left alone"),
            (vec!["rotate", "--folder", "held"], 4, "1 of 2 account(s) were left alone"),
            (vec!["heartbeat", &held, &free], 4, "1 of 2 heartbeat(s) were left alone"),
            // Skipped by design: the rotation's own check stands.
            (vec!["heartbeat", "--folder", "held"], 0, "1 account(s) skipped"),
        ];
        for (args, want, says) in cases {
            let (code, out, err) = run({
                let mut c = sb.std_rekey();
                c.args(&args);
                c
            });
            let what = format!("trial {trial}: rekey {}: {out}{err}", args.join(" "));
            assert_eq!(code, want, "{what}");
            assert!(err.contains(says) && format!("{out}{err}").contains(&rot), "{what}");
            if want == 4 {
                assert!(err.contains("  hint: "), "a hint says what to do: {what}");
            }
        }
        assert_eq!(iam::keys_of(&admin, &user), keys, "trial {trial}: IAM untouched");
        assert_eq!(sb.json(&["account", "show", &held])["current_key_id"], current, "trial {trial}");
        let still: Vec<String> = sb
            .json(&["rotation", "list", "--open"])
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(still, vec![rot.clone()], "trial {trial}: only the held rotation is open");
        let (code, out, err) = rotating.resume();
        assert_eq!(code, 0, "trial {trial}: the rotation went on: {out}{err}");
        let reports: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(reports[0]["outcome"], "done", "trial {trial}: {reports}");
        invariants::check(&moto, &seeded.admin, &[&sb]);
    }
    eprintln!("{trials} trials: 12 commands beside a rotation under way each");
}

/// A rotation stopped right after its CreateAccessKey while its lease is taken over (the row
/// moved on, as a takeover moves it): once continued, its write of the new key's secret is
/// fenced, and the key whose secret it could not store stays for the lease's holder, which
/// sweeps it (`recover`, once the lease is free).
fn fenced_create_cleanup(vault: Option<String>) {
    let (moto, sb, seeded) = suite::world(vault);
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    let db = Db::of(&sb.vault);
    let trials = soak("REKEY_SOAK_TRIALS", 2, 1);
    for trial in 1..=trials {
        let account = suite::accounts(&moto, &sb, &seeded.admin, &format!("fenced{trial}x"), 1, "f", FAST).remove(0);
        let (id, user) = (id_of(&sb, &account), account.split('/').nth(1).unwrap().to_owned());
        let current = sb.json(&["account", "show", &account])["current_key_id"].as_str().unwrap().to_owned();
        let mut rotate = sb.std_rekey();
        rotate.args(["rotate", &account, "-o", "json"]);
        let rotating = stopped_at(rotate, "access-key:after-create-call");
        db.execute(&format!(
            "UPDATE leases SET owner = 'elsewhere:1:1#1', token = token + 1 WHERE account_id = '{id}'"
        ));
        let (code, out, err) = rotating.resume();
        assert_ne!(code, 0, "trial {trial}: the fenced rotation stops: {out}{err}");
        assert!(err.contains("did not delete a key whose secret was not stored"), "trial {trial}: {err}");
        let keys: Vec<String> = iam::keys_of(&admin, &user).into_iter().map(|k| k.0).collect();
        assert_eq!(keys.len(), 2, "trial {trial}: the new key stays for the lease's holder: {keys:?}\n{err}");
        let orphan = keys.iter().find(|k| **k != current).unwrap().clone();

        db.execute(&format!("UPDATE leases SET owner = '', expires_at = 0 WHERE account_id = '{id}'"));
        let (code, out, err) = run({
            let mut c = sb.std_rekey();
            c.args(["recover", "-o", "json"]);
            c
        });
        assert_eq!(code, 0, "trial {trial}: {out}{err}");
        let keys: Vec<String> = iam::keys_of(&admin, &user).into_iter().map(|k| k.0).collect();
        let now = sb.json(&["account", "show", &account])["current_key_id"].as_str().unwrap().to_owned();
        assert!(!keys.contains(&orphan), "trial {trial}: the key whose secret was lost is swept: {keys:?} {out}");
        assert!(keys.contains(&now) && now != current && now != orphan, "trial {trial}: rotated: {keys:?} {out}");
        invariants::check(&moto, &seeded.admin, &[&sb]);
    }
}

/// This vault's ownership tags on `user`, key → value.
fn vault_tags(admin: &aws_sdk_iam::Client, user: &str, vault: &str) -> Vec<(String, String)> {
    let out = iam::block_on(admin.list_user_tags().user_name(user).send()).unwrap();
    out.tags.into_iter().filter(|t| t.key.starts_with(&format!("rekey:{vault}/"))).map(|t| (t.key, t.value)).collect()
}

/// Installs (or with `on == false` drops) a trigger that makes the database refuse to delete
/// any account.
fn refuse_deletes(db: &Db, postgres: bool, on: bool) {
    match (postgres, on) {
        (false, true) => db.execute(
            "CREATE TRIGGER refuse_delete BEFORE DELETE ON accounts BEGIN SELECT RAISE(ABORT, 'refused by the test'); \
             END",
        ),
        (true, true) => {
            db.execute(
                "CREATE OR REPLACE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
            );
            db.execute(
                "CREATE TRIGGER refuse_delete BEFORE DELETE ON accounts FOR EACH ROW EXECUTE FUNCTION refuse_delete()",
            );
        }
        (false, false) => db.execute("DROP TRIGGER refuse_delete"),
        (true, false) => db.execute("DROP TRIGGER refuse_delete ON accounts"),
    }
}

/// `account remove` killed between deleting the account and removing its tag, refused by the
/// database, and fenced: afterwards the account is gone or its tag is still on the user — never
/// the account present with its tag gone (another vault could then take the key it holds).
fn remove_keeps_tag_with_account(vault: Option<String>) {
    let postgres = vault.is_some();
    let (moto, sb, seeded) = suite::world(vault);
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    let db = Db::of(&sb.vault);
    let vault_id = db.rows::<(String,)>("SELECT vault_id FROM vault_header").remove(0).0;
    let present = |id: &str| db.rows::<(i64,)>(&format!("SELECT COUNT(*) FROM accounts WHERE id = '{id}'"))[0].0 == 1;
    let trials = soak("REKEY_SOAK_TRIALS", 2, 1);
    for trial in 1..=trials {
        let [killed, refused, fenced]: [String; 3] =
            suite::accounts(&moto, &sb, &seeded.admin, &format!("keep{trial}x"), 3, "k", FAST).try_into().unwrap();
        let user = |account: &str| account.split('/').nth(1).unwrap().to_owned();
        let remove = |account: &str, extra: &[&str]| {
            let mut c = sb.std_rekey();
            c.args(["account", "remove", account]).args(extra);
            c
        };

        // Killed once the account is deleted: the account is gone, its tag stays, and the
        // `clear-tag` the refusals name removes it.
        let (id, u) = (id_of(&sb, &killed), user(&killed));
        let tags = vault_tags(&admin, &u, &vault_id);
        assert_eq!(tags.len(), 1, "trial {trial}: the account's tag: {tags:?}");
        let (code, out, err) = run({
            let mut c = remove(&killed, &["--delete-managed-key"]);
            c.env("FAILPOINTS", "account-remove:deleted=return");
            c
        });
        assert!(code != 0 && err.contains("failpoint account-remove:deleted: aborting"), "trial {trial}: {out}{err}");
        assert!(!present(&id), "trial {trial}: the account is gone");
        assert!(iam::keys_of(&admin, &u).is_empty(), "trial {trial}: its managed key was deleted first");
        assert_eq!(vault_tags(&admin, &u, &vault_id), tags, "trial {trial}: the tag stays");
        let (code, out, err) = run({
            let mut c = sb.std_rekey();
            c.args(["account", "clear-tag", "--provider", "p", "--user", &u, &id]);
            c
        });
        assert_eq!(code, 0, "trial {trial}: {out}{err}");
        assert_eq!(vault_tags(&admin, &u, &vault_id), vec![], "trial {trial}: cleared");

        // The database refuses the deletion: the account and its tag both stay; once it no
        // longer refuses, the removal takes both.
        let (id, u) = (id_of(&sb, &refused), user(&refused));
        let tags = vault_tags(&admin, &u, &vault_id);
        refuse_deletes(&db, postgres, true);
        let (code, out, err) = run(remove(&refused, &[]));
        refuse_deletes(&db, postgres, false);
        assert_ne!(code, 0, "trial {trial}: the removal failed: {out}{err}");
        assert!(present(&id), "trial {trial}: the account stays: {err}");
        assert_eq!(vault_tags(&admin, &u, &vault_id), tags, "trial {trial}: its tag stays with it: {err}");
        let (code, out, err) = run(remove(&refused, &[]));
        assert_eq!(code, 0, "trial {trial}: {out}{err}");
        assert!(!present(&id), "trial {trial}: removed");
        assert_eq!(vault_tags(&admin, &u, &vault_id), vec![], "trial {trial}: its tag went after it");

        // Its lease taken over while it was stopped: the fenced deletion leaves both.
        let (id, u) = (id_of(&sb, &fenced), user(&fenced));
        let tags = vault_tags(&admin, &u, &vault_id);
        let removing = stopped_at(remove(&fenced, &[]), "account-remove:leased");
        db.execute(&format!(
            "UPDATE leases SET owner = 'elsewhere:1:1#1', token = token + 1 WHERE account_id = '{id}'"
        ));
        let (code, out, err) = removing.resume();
        assert_eq!(code, 4, "trial {trial}: fenced: {out}{err}");
        assert!(present(&id), "trial {trial}: the account stays: {err}");
        assert_eq!(vault_tags(&admin, &u, &vault_id), tags, "trial {trial}: its tag stays with it: {err}");
        db.execute(&format!("UPDATE leases SET owner = '', expires_at = 0 WHERE account_id = '{id}'"));
        let (code, out, err) = run(remove(&fenced, &["--delete-managed-key"]));
        assert_eq!(code, 0, "trial {trial}: {out}{err}");
        assert!(!present(&id), "trial {trial}: removed");
        assert_eq!(vault_tags(&admin, &u, &vault_id), vec![], "trial {trial}: its tag went after it");
    }
    eprintln!("{trials} trials: a removal killed, refused or fenced never left the account without its tag");
}
