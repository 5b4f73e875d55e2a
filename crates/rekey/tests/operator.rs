//! What an operator of many accounts sees and does, through the real binary: `--help` that puts a
//! command's own options first, shell completions and manual pages, `account show` and
//! `provider show` with their settings, the audit log newest first a page at a time, removing
//! accounts by filter, and removing one delivery target.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{iam, Moto, Sandbox};
use std::process::Output;

const PASSWORD: &str = "Initial-Pass-1!";

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The value on the `label  value` line of a record shown as a table.
fn field(table: &str, label: &str) -> String {
    let line = table.lines().find(|l| l.strip_prefix(label).is_some_and(|r| r.starts_with("  ")));
    line.map(|l| l[label.len()..].trim().to_owned()).unwrap_or_default()
}

/// Runs `rekey args` and asserts success.
fn ok(sb: &Sandbox, args: &[&str]) -> Output {
    let out = sb.rekey().args(args).output().unwrap();
    assert!(out.status.success(), "rekey {args:?} failed:\n{}", stderr(&out));
    out
}

/// A vault with provider `p` and password accounts for `users` (adopted).
fn world(users: &[&str]) -> (Moto, Sandbox) {
    let moto = Moto::start();
    let admin = iam::admin(&moto);
    let sb = Sandbox::new();
    sb.init_with_key_file();
    sb.add_provider(&moto, "p", &admin);
    for u in users {
        iam::create_user(&moto, u);
        iam::create_login_profile(&moto, u, PASSWORD);
        sb.adopt_password("p", u, PASSWORD);
    }
    (moto, sb)
}

#[test]
fn help_lists_a_commands_own_options_before_the_global_ones() {
    let sb = Sandbox::new();
    let help = stdout(&ok(&sb, &["account", "set", "--help"]));
    let own = help.find("--every <DURATION>").unwrap();
    let global = help.find("Global options:").unwrap();
    let vault = help.find("--vault <URL>").unwrap();
    assert!(own < global && global < vault, "own options first, then the global ones:\n{help}");
    let short = stdout(&ok(&sb, &["audit", "list", "--help"]));
    assert!(short.find("--limit").unwrap() < short.find("Global options:").unwrap(), "{short}");
}

#[test]
fn completions_cover_every_shell_and_the_subcommands() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = stdout(&ok(&sb, &["completions", shell]));
        for word in ["account", "rotate", "audit", "completions"] {
            assert!(script.contains(word), "{shell}: {word} missing");
        }
    }
    assert!(stdout(&ok(&sb, &["completions", "bash"])).contains("complete -F"), "a bash completion function");
    let out = sb.rekey().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a usage error");
    assert!(stderr(&out).contains("possible values") && out.stdout.is_empty(), "{}", stderr(&out));
}

/// Roff as `man` reads it: a title line, then the usual sections; `--dir` writes a page per
/// command (`man -l` is not installed everywhere, so the structure is checked instead).
#[test]
fn man_pages_are_roff_with_the_usual_sections() {
    let sb = Sandbox::new();
    let page = stdout(&ok(&sb, &["man"]));
    assert!(page.lines().any(|l| l.starts_with(".TH rekey 1")), "a .TH title line:\n{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS", ".SH SUBCOMMANDS", ".SH VERSION"] {
        assert!(page.contains(section), "{section} missing");
    }
    assert!(page.contains("rekey\\-account(1)"), "subcommands refer to their own pages");
    let dir = sb.path("man1");
    std::fs::create_dir(&dir).unwrap();
    let out = ok(&sb, &["man", "--dir", dir.to_str().unwrap()]);
    assert!(out.stdout.is_empty() && stderr(&out).contains("Wrote the manual pages"));
    for name in ["rekey.1", "rekey-account.1", "rekey-account-set.1", "rekey-audit-list.1", "rekey-completions.1"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(text.starts_with(".ie \\n(.g .ds Aq") || text.contains(".TH "), "{name} is roff");
    }
    let set = std::fs::read_to_string(dir.join("rekey-account-set.1")).unwrap();
    assert!(set.contains("\\-\\-previous\\-key"), "the page lists the command's options");
}

#[test]
fn show_tables_spell_out_the_settings() {
    let (_moto, sb) = world(&["alice"]);
    ok(&sb, &["account", "set", "p/alice/password", "--every", "30d", "--password-length", "40", "--folder", "ops"]);
    let shown = stdout(&ok(&sb, &["account", "show", "p/alice/password", "--wide"]));
    for (label, value) in [
        ("ref", "p/alice/password"),
        ("folder", "ops"),
        ("status", "ok (unverified)"),
        ("schedule", "every 30 days"),
        ("password", "40 characters: upper case, lower case, digits, symbols from"),
        ("create login", "no"),
        ("heartbeat", "never"),
    ] {
        assert!(field(&shown, label).starts_with(value), "{label}: {value:?} not in\n{shown}");
    }
    assert!(!shown.contains(PASSWORD) && !shown.contains("previous key"), "{shown}");
    let provider = stdout(&ok(&sb, &["provider", "show", "p", "--wide"]));
    assert_eq!(field(&provider, "auth"), "static access key (its secret is sealed in the vault)", "{provider}");
    assert_eq!(field(&provider, "accounts"), "1", "{provider}");
    // JSON is the record itself, as the API serves it.
    let json = sb.json(&["account", "show", "p/alice/password"]);
    assert_eq!((json["ref"].as_str(), json["folder"].as_str()), (Some("p/alice/password"), Some("ops")));
    assert_eq!(json["settings"]["every_ms"], 30 * 86_400_000_u64);
    assert_eq!(json["settings"]["password"]["length"], 40, "{json}");
    for key_only in ["verify", "previous_key", "targets", "retirement"] {
        assert!(json["settings"].get(key_only).is_none(), "no {key_only} on a password, as in the table: {json}");
    }
    assert!(json.get("overdue").is_some() && json.get("last_rotation").is_some(), "{json}");
    let p = sb.json(&["provider", "show", "p"]);
    assert_eq!(p["auth"]["kind"], "static-key", "{p}");
}

#[test]
fn the_audit_log_reads_newest_first_a_page_at_a_time() {
    let (_moto, sb) = world(&["u1", "u2", "u3"]);
    let all = sb.json(&["audit", "list"]);
    let seqs: Vec<i64> = all.as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let head = seqs[0];
    assert!(head >= 5 && seqs.windows(2).all(|w| w[0] == w[1] + 1), "newest first, every event: {seqs:?}");
    let out = ok(&sb, &["audit", "list", "--limit", "2", "-o", "json"]);
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let page: Vec<i64> = page.as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(page, vec![head, head - 1]);
    let next = format!("rekey audit list --before {} --limit 2", head - 1);
    assert!(stderr(&out).contains(&next), "the next page's command: {}", stderr(&out));
    let older = sb.json(&["audit", "list", "--before", &(head - 1).to_string(), "--limit", "2"]);
    assert_eq!(older[0]["seq"], head - 2);
    // Forward from the first event: the two right after it, newest first.
    let out = ok(&sb, &["audit", "list", "--after", "1", "--limit", "2", "-o", "json"]);
    let forward: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((forward[0]["seq"].as_i64(), forward[1]["seq"].as_i64()), (Some(3), Some(2)));
    assert!(stderr(&out).contains("rekey audit list --after 3 --limit 2"), "{}", stderr(&out));
    // The last page says nothing more; a time stands for the first event at or after it.
    let last = ok(&sb, &["audit", "list", "--before", "3"]);
    assert!(!stderr(&last).contains("More events"), "{}", stderr(&last));
    let since = sb.json(&["audit", "list", "--after", "2000-01-01"]);
    assert_eq!(since.as_array().unwrap().len(), seqs.len().min(100), "every event is after 2000");
    let before_then = sb.json(&["audit", "list", "--before", "2000-01-01"]);
    assert_eq!(before_then, serde_json::json!([]), "nothing happened before 2000");
}

#[test]
fn accounts_are_removed_by_filter_after_a_dry_run_and_a_yes() {
    let (_moto, sb) = world(&["ci-1", "ci-2", "ci-3", "web-1"]);
    let listed = |sb: &Sandbox| -> Vec<String> {
        let list = sb.json(&["account", "list"]);
        list.as_array().unwrap().iter().map(|a| a["user_name"].as_str().unwrap().to_owned()).collect()
    };
    let dry = ok(&sb, &["account", "remove", "--filter", "ci-*", "--dry-run", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert!(rows.as_array().unwrap().iter().all(|r| r["removed"] == false));
    assert!(stderr(&dry).contains("3 account(s) match") && stderr(&dry).contains("p/ci-2/password"));
    assert_eq!(listed(&sb).len(), 4, "a dry run removes nothing");
    let refused = sb.rekey().args(["account", "remove", "--filter", "ci-*"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("standard input is not a terminal") && refused.stdout.is_empty());
    assert_eq!(listed(&sb).len(), 4, "nothing removed without a confirmation");
    let done = ok(&sb, &["account", "remove", "--filter", "ci-{1,3}", "--kind", "password", "--yes"]);
    assert!(stderr(&done).contains("Removed 2 of 2 account(s)"), "{}", stderr(&done));
    let mut left = listed(&sb);
    left.sort();
    assert_eq!(left, vec!["ci-2", "web-1"]);
    let audit = sb.json(&["audit", "list"]);
    let removals = audit.as_array().unwrap().iter().filter(|e| e["action"] == "account.remove").count();
    assert_eq!(removals, 2, "each removal is audited");
}

#[test]
fn one_delivery_target_is_removed_and_the_others_stay() {
    let moto = Moto::start();
    let admin = iam::admin(&moto);
    iam::create_user(&moto, "svc");
    let svc = iam::create_key(&moto, "svc");
    let sb = Sandbox::new();
    sb.init_with_key_file();
    sb.add_provider(&moto, "p", &admin);
    sb.adopt_key("p", "svc", &svc);
    for target in [["--ssm-parameter", "/ci/key"], ["--secrets-manager", "ci/app"], ["--ssm-parameter", "/prod/key"]] {
        ok(&sb, &["account", "set", "p/svc/access-key", target[0], target[1]]);
    }
    let listed = sb.json(&["account", "targets", "list", "p/svc/access-key"]);
    let described: Vec<&str> = listed.as_array().unwrap().iter().map(|t| t["description"].as_str().unwrap()).collect();
    assert_eq!(described, ["ssm-parameter /ci/key", "secrets-manager ci/app", "ssm-parameter /prod/key"]);
    let ambiguous = sb.rekey().args(["account", "targets", "remove", "p/svc/access-key", "ssm-parameter"]).output();
    let ambiguous = ambiguous.unwrap();
    assert_eq!(ambiguous.status.code(), Some(2), "{}", stderr(&ambiguous));
    assert!(stderr(&ambiguous).contains("matches 2 delivery targets"), "{}", stderr(&ambiguous));
    ok(&sb, &["account", "targets", "remove", "p/svc/access-key", "2"]);
    ok(&sb, &["account", "targets", "remove", "p/svc/access-key", "/prod/"]);
    let settings = sb.json(&["account", "show", "p/svc/access-key"])["settings"]["targets"].clone();
    assert_eq!(settings, serde_json::json!([{"type": "ssm", "name": "/ci/key"}]), "only the first stays");
    let audit = sb.json(&["audit", "list", "--limit", "2"]);
    assert!(audit.as_array().unwrap().iter().all(|e| e["action"] == "account.set"), "each removal is audited");
}
