//! The bad invocations tried against one vault, by class: names, provider and account options,
//! references, settings, and values that are surely mistakes.

use super::{add_account, add_provider, Case, CONFLICT, NOT_FOUND, USAGE};

pub(super) fn user_names() -> Vec<Case<'static>> {
    let pw = |user: &'static str| add_account(user, "password", &[]);
    vec![
        (pw(""), "", USAGE, r#"invalid user name: "" has 0 characters"#),
        (pw("a".repeat(65).leak()), "", USAGE, "has 65 characters"),
        (pw("bob smith"), "", USAGE, "contains ' '"),
        (pw("ops/alice"), "", USAGE, "contains '/'"),
        (pw("ünïcødé"), "", USAGE, "contains 'ü'"),
        // 40 characters but 80 bytes: refused for the character, not for its length.
        (pw("é".repeat(40).leak()), "", USAGE, "contains 'é'"),
        (pw("x;rm"), "", USAGE, "contains ';'"),
    ]
}

pub(super) fn provider_options(endpoint: &str) -> Vec<Case<'_>> {
    const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    let role = |arn: &'static str| add_provider("x", &["--role-arn", arn]);
    let static_key = |id: &'static str| add_provider("x", &["--access-key-id", id, "--secret-stdin"]);
    vec![
        (add_provider("bad name", &["--default-chain"]), "", USAGE, "is not a valid provider name"),
        (add_provider("_x", &["--default-chain"]), "", USAGE, "is not a valid provider name"),
        (vec!["provider", "add", "x", "--region", "Mars", "--default-chain"], "", USAGE, "not an AWS region code"),
        (vec!["provider", "add", "x", "--region", "us-east", "--default-chain"], "", USAGE, "not an AWS region code"),
        (add_provider("x", &["--default-chain", "--endpoint-url", "ftp://moto"]), "", USAGE, "invalid endpoint URL"),
        (add_provider("x", &["--default-chain", "--endpoint-url", "http://"]), "", USAGE, "invalid endpoint URL"),
        (add_provider("x", &["--default-chain", "--endpoint-url", "moto:5000"]), "", USAGE, "invalid endpoint URL"),
        // Endpoints every AWS call would fail on (met before as a connection error at each call).
        (add_provider("x", &["--default-chain", "--endpoint-url", "http://moto:0"]), "", USAGE, "port \"0\""),
        (add_provider("x", &["--default-chain", "--endpoint-url", "http://moto:65536"]), "", USAGE, "port \"65536\""),
        (add_provider("x", &["--default-chain", "--endpoint-url", "http://moto:"]), "", USAGE, "port \"\""),
        (add_provider("x", &["--default-chain", "--endpoint-url", "http://moto:5000/?a=1"]), "", USAGE, "a query or"),
        (add_provider("x", &["--default-chain", "--endpoint-url", "http://moto:5000#top"]), "", USAGE, "a query or"),
        (add_provider("x", &["--default-chain", "--endpoint-url", "http://[::1:5000"]), "", USAGE, "closing ]"),
        (role("not-an-arn"), "", USAGE, "does not have the form arn:"),
        (role("arn:aws:iam::123:role/x"), "", USAGE, "12 digits"),
        (role("arn:aws:iam::123456789012:user/x"), "", USAGE, "is not an IAM role ARN"),
        (role("arn:aws:sts::123456789012:assumed-role/x/s"), "", USAGE, "is not an IAM role ARN"),
        (role("arn:aws:iam::123456789012:role/"), "", USAGE, "is not an IAM role ARN"),
        (
            add_provider("x", &["--role-arn", "arn:aws:iam::123456789012:role/x", "--external-id", "a"]),
            "",
            USAGE,
            "invalid external id",
        ),
        (
            add_provider("x", &["--role-arn", "arn:aws:iam::123456789012:role/x", "--source", "ghost"]),
            "",
            NOT_FOUND,
            r#"provider "ghost" not found"#,
        ),
        (static_key("lowercase-id"), "secret", USAGE, "is not an access key id"),
        (static_key("AKIA"), "secret", USAGE, "is not an access key id"),
        (static_key(KEY), "", USAGE, "the secret access key is empty"),
        (static_key(KEY), "x".repeat(1025).leak(), USAGE, "rekey stores at most 1024"),
        (add_provider("x", &["--access-key-id", KEY]), "", USAGE, "standard input is not a terminal"),
        // The name is taken, whatever the new provider would have been.
        (add_provider("p", &["--default-chain"]), "", CONFLICT, "already exists"),
        (add_provider("p", &["--default-chain", "--endpoint-url", endpoint]), "", CONFLICT, "already exists"),
        (vec!["provider", "remove", "p"], "", CONFLICT, "used by 2 account"),
        (vec!["provider", "remove", "nope"], "", NOT_FOUND, r#"provider "nope" not found"#),
        (vec!["provider", "show", "nope"], "", NOT_FOUND, r#"provider "nope" not found"#),
        (vec!["provider", "show", "bad name"], "", USAGE, "is not a valid provider name"),
        (vec!["provider", "test", "nope"], "", NOT_FOUND, r#"provider "nope" not found"#),
    ]
}

pub(super) fn account_options(svc_key: &str) -> Vec<Case<'_>> {
    let secret = "a-secret-never-checked";
    vec![
        (add_account("bob", "key", &[]), "", USAGE, r#""key" is not a credential kind"#),
        (add_account("bob", "Password", &[]), "", USAGE, "is not a credential kind"),
        (add_account("bob", "", &[]), "", USAGE, "is not a credential kind"),
        (vec!["account", "add", "--provider", "ghost", "--user", "bob", "--kind", "password"], "", NOT_FOUND, "ghost"),
        (add_account("bob", "password", &["--create"]), "", USAGE, "apply to access-key accounts"),
        (add_account("bob", "password", &["--access-key-id", svc_key]), "", USAGE, "apply to access-key accounts"),
        (add_account("bob", "access-key", &[]), "", USAGE, "needs --access-key-id ID --secret-stdin"),
        (add_account("bob", "access-key", &["--secret-stdin"]), "pw-for-a-key", USAGE, "needs --access-key-id"),
        (add_account("bob", "access-key", &["--create", "--secret-stdin"]), "", USAGE, "exclude each other"),
        (add_account("bob", "password", &["--secret-stdin"]), "", USAGE, "the password is empty"),
        (add_account("bob", "password", &["--secret-stdin"]), "\n", USAGE, "the password is empty"),
        (add_account("bob", "password", &["--secret-stdin"]), "x".repeat(1025).leak(), USAGE, "at most 1024"),
        (add_account("bob", "password", &["--secret-stdin"]), "P".repeat(129).leak(), USAGE, "IAM's 128 characters"),
        (add_account("bob", "access-key", &["--access-key-id", svc_key]), "", USAGE, "not a terminal"),
        (
            add_account("bob", "access-key", &["--access-key-id", svc_key, "--secret-stdin"]),
            "",
            USAGE,
            "the secret access key is empty",
        ),
        (
            add_account("bob", "access-key", &["--access-key-id", svc_key, "--secret-stdin"]),
            "two words",
            USAGE,
            "contains white space",
        ),
        (add_account("bob", "password", &["--folder", "a//b"]), "", USAGE, "is not a valid folder"),
        (add_account("bob", "password", &["--folder", "/prod"]), "", USAGE, "is not a valid folder"),
        (add_account("bob", "password", &["--name", "tab\there"]), "", USAGE, "contains a control character"),
        // Already managed (checked before IAM is asked).
        (add_account("svc", "access-key", &["--create"]), "", CONFLICT, "account p/svc/access-key already exists"),
        (add_account("alice", "password", &[]), "", CONFLICT, "account p/alice/password already exists"),
        // IAM disagrees: no such user; a key the user does not have.
        (add_account("ghost", "password", &[]), "", NOT_FOUND, r#"IAM user "ghost" in provider p not found"#),
        (add_account("ghost", "access-key", &["--create"]), "", NOT_FOUND, r#"IAM user "ghost""#),
        (
            add_account("bob", "access-key", &["--access-key-id", svc_key, "--secret-stdin"]),
            secret,
            NOT_FOUND,
            "of IAM user bob not found",
        ),
        (
            add_account("bob", "access-key", &["--access-key-id", "AKIAAAAAAAAAAAAAAAAA", "--secret-stdin"]),
            secret,
            NOT_FOUND,
            "IAM user bob has no access keys",
        ),
        // bob has no console password to adopt.
        (add_account("bob", "password", &["--secret-stdin"]), "Bob-Pw-123!", CONFLICT, "no console password"),
    ]
}

pub(super) fn references() -> Vec<Case<'static>> {
    let cmd = |args: &[&'static str]| args.to_vec();
    vec![
        (cmd(&["account", "show", "a/b"]), "", USAGE, r#""a/b" is not an account reference"#),
        (cmd(&["account", "show", "p/svc/access-key/x"]), "", USAGE, "is not an account reference"),
        (cmd(&["account", "show", "p/svc/key"]), "", USAGE, "is not a credential kind"),
        (cmd(&["account", "show", "p/bob smith/password"]), "", USAGE, "contains ' '"),
        (cmd(&["account", "show", "ABCDEFGH"]), "", USAGE, "is not an account id"),
        (cmd(&["account", "show", "short"]), "", USAGE, "is not an account id"),
        (cmd(&["account", "show", "zzzzzzzz"]), "", NOT_FOUND, "account zzzzzzzz not found"),
        (cmd(&["account", "show", "p/nobody/password"]), "", NOT_FOUND, "account p/nobody/password not found"),
        (cmd(&["account", "show", "q/svc/access-key"]), "", NOT_FOUND, "not found"),
        (cmd(&["account", "reveal", "p/svc/password"]), "", NOT_FOUND, "account p/svc/password not found"),
        (cmd(&["account", "reveal", "zzzzzzzz"]), "", NOT_FOUND, "account zzzzzzzz not found"),
        (cmd(&["account", "remove", "zzzzzzzz"]), "", NOT_FOUND, "account zzzzzzzz not found"),
        (cmd(&["account", "remove", "a/b"]), "", USAGE, "is not an account reference"),
        (cmd(&["account", "list", "--provider", "ghost"]), "", NOT_FOUND, r#"provider "ghost" not found"#),
        (cmd(&["account", "list", "--folder", "a//b"]), "", USAGE, "is not a valid folder"),
        (cmd(&["rotate", "zzzzzzzz"]), "", NOT_FOUND, "account zzzzzzzz not found"),
        (cmd(&["rotate", "a/b"]), "", USAGE, "is not an account reference"),
        (cmd(&["rotate", "--folder", "nosuch"]), "", NOT_FOUND, "an account in folder nosuch not found"),
        (cmd(&["heartbeat", "--folder", "nosuch"]), "", NOT_FOUND, "an account in folder nosuch not found"),
        (cmd(&["rollback", "zzzzzzzz"]), "", NOT_FOUND, "account zzzzzzzz not found"),
        (cmd(&["account", "due", "zzzzzzzz"]), "", NOT_FOUND, "account zzzzzzzz not found"),
        (cmd(&["discover", "p", "--import", "--filter", "svc-[0-9"]), "", USAGE, "a [ without its ]"),
        (cmd(&["discover", "p", "--import", "--filter", "svc-{ci,cd"]), "", USAGE, "a { without its }"),
        (cmd(&["discover", "p", "--import", "--filter", "{a,{b,c}}"]), "", USAGE, "nested { } groups"),
        (cmd(&["account", "due", "p/svc"]), "", USAGE, "is not an account reference"),
        (cmd(&["heartbeat", "p/nobody/access-key"]), "", NOT_FOUND, "not found"),
        (cmd(&["rotation", "show", "nope"]), "", NOT_FOUND, r#"rotation "nope" not found"#),
        (cmd(&["discover", "ghost"]), "", NOT_FOUND, r#"provider "ghost" not found"#),
    ]
}

pub(super) fn settings_and_audit() -> Vec<Case<'static>> {
    let set = |rest: &[&'static str]| [&["account", "set", "p/svc/access-key"][..], rest].concat();
    vec![
        (set(&["--every", "soon"]), "", USAGE, r#""soon" is not a duration"#),
        (set(&["--max-age", "5 days"]), "", USAGE, "is not a duration"),
        (set(&["--cron", "61 * * * *"]), "", USAGE, "the minute field is 61, outside 0–59"),
        (
            vec!["account", "set", "p/alice/password", "--password-length", "4"],
            "",
            USAGE,
            "'--password-length <N>': 4 is out of range\n  hint: a generated password is 8 to 128 characters; use e.g. 32",
        ),
        (set(&["--previous-key", "shred"]), "", USAGE, "not a policy"),
        (set(&["--folder", "a b"]), "", USAGE, "is not a valid folder"),
        (
            set(&["--script", "/nonexistent/deploy.sh"]),
            "",
            USAGE,
            "deploy.sh is not an executable file on this machine",
        ),
        (set(&["--script", "/etc/passwd"]), "", USAGE, "/etc/passwd is not an executable file"),
        (set(&["--script", "no-such-deploy-script"]), "", USAGE, "no-such-deploy-script is not an executable file"),
        (
            vec!["account", "set", "p/alice/password", "--secrets-manager", "prod/alice"],
            "",
            USAGE,
            "delivery targets receive new access keys only",
        ),
        (vec!["account", "set", "zzzzzzzz", "--every", "1d"], "", NOT_FOUND, "account zzzzzzzz not found"),
        // Only an access key that rekey created may be deleted with the account.
        (vec!["account", "remove", "p/svc/access-key", "--delete-managed-key"], "", CONFLICT, "did not create"),
        (
            vec!["account", "remove", "p/alice/password", "--delete-managed-key"],
            "",
            USAGE,
            "applies to access-key accounts",
        ),
        (vec!["audit", "list", "--since", "yesterday"], "", USAGE, r#""yesterday" is not a time"#),
        (vec!["audit", "list", "--since", "5y"], "", USAGE, "is not a time"),
        (vec!["audit", "list", "--limit", "0"], "", USAGE, "'--limit <N>': 0 is out of range"),
        (vec!["audit", "list", "--limit=-1"], "", USAGE, "'--limit <N>': -1 is out of range"),
        (vec!["audit", "list", "--limit", "10001"], "", USAGE, "audit list prints 1 to 10000 events; use e.g. 100"),
        (vec!["audit", "list", "--before", "yesterday"], "", USAGE, r#""yesterday" is not a time"#),
        (vec!["audit", "list", "--after", "5y"], "", USAGE, "is not a time"),
        (vec!["audit", "list", "--after", "100000000d"], "", USAGE, "is not a time"),
        (vec!["audit", "list", "--after", "5", "--before", "6"], "", USAGE, "leave no event between them"),
        (vec!["audit", "list", "--before", "99999999999999999999"], "", USAGE, "no event has so large a number"),
        (vec!["rotation", "list", "--limit", "0"], "", USAGE, "out of range"),
        (vec!["report", "--max-age", "soon"], "", USAGE, "is not a duration"),
        (vec!["init"], "", CONFLICT, "already holds rekey vault "),
    ]
}

/// Whole-number options: not a number, or out of range, says so with the range and an example
/// (not the parser's "invalid digit found in string").
pub(super) fn whole_numbers() -> Vec<Case<'static>> {
    let key = |rest: &[&'static str]| [&["account", "set", "p/svc/access-key"][..], rest].concat();
    let pw = |rest: &[&'static str]| [&["account", "set", "p/alice/password"][..], rest].concat();
    let cmd = |args: &[&'static str]| args.to_vec();
    const SUCCESSES: &str = "hint: a new key is verified by 1 to 20 consecutive successes; use e.g. 3";
    const LENGTH: &str = "hint: a generated password is 8 to 128 characters; use e.g. 32";
    const CONCURRENCY: &str = "hint: rekey works on 1 to 1024 accounts at once; use e.g. 4";
    vec![
        (
            key(&["--verify-successes", "three"]),
            "",
            USAGE,
            r#"'--verify-successes <N>': "three" is not a whole number"#,
        ),
        (key(&["--verify-successes", "three"]), "", USAGE, SUCCESSES),
        (key(&["--verify-successes", "0"]), "", USAGE, "'--verify-successes <N>': 0 is out of range"),
        (key(&["--verify-successes", "21"]), "", USAGE, SUCCESSES),
        (key(&["--verify-successes=-1"]), "", USAGE, "-1 is out of range"),
        (key(&["--verify-successes", "99999999999"]), "", USAGE, "99999999999 is out of range"),
        (key(&["--verify-successes", "2.5"]), "", USAGE, r#""2.5" is not a whole number"#),
        (pw(&["--password-length", "long"]), "", USAGE, r#"'--password-length <N>': "long" is not a whole number"#),
        (pw(&["--password-length", "300"]), "", USAGE, LENGTH),
        (pw(&["--password-length", ""]), "", USAGE, r#""" is not a whole number"#),
        (cmd(&["rotate", "--all", "--concurrency", "0"]), "", USAGE, "'--concurrency <N>': 0 is out of range"),
        (cmd(&["rotate", "--all", "--concurrency", "many"]), "", USAGE, CONCURRENCY),
        // Written as a number is everywhere: digits alone, no sign, no spaces.
        (
            cmd(&["rotate", "--all", "--concurrency", "+4"]),
            "",
            USAGE,
            "'--concurrency <N>': \"+4\" has a \"+\" sign: write the digits alone\n  hint: rekey works on 1 to 1024",
        ),
        (cmd(&["heartbeat", "--all", "--concurrency", " 4"]), "", USAGE, "\" 4\" has spaces around the number"),
        (key(&["--verify-successes", "3 "]), "", USAGE, SUCCESSES),
        (cmd(&["audit", "list", "--limit", "+10"]), "", USAGE, "hint: audit list prints 1 to 10000 events"),
        (cmd(&["heartbeat", "--all", "--concurrency", "2000"]), "", USAGE, CONCURRENCY),
        (cmd(&["run-due", "--once", "--concurrency", "x"]), "", USAGE, r#""x" is not a whole number"#),
        (
            cmd(&["incident", "--all", "--concurrency", "257"]),
            "",
            USAGE,
            "257 is out of range\n  hint: an incident rotates 1 to 256 accounts at once; use e.g. 16",
        ),
        (cmd(&["audit", "list", "--limit", "ten"]), "", USAGE, r#"'--limit <N>': "ten" is not a whole number"#),
        (cmd(&["rotation", "list", "--limit", "1e3"]), "", USAGE, "hint: rotation list prints 1 to 100000 rotations"),
        (cmd(&["audit", "verify", "--expect-count=-1"]), "", USAGE, "'--expect-count <N>': -1 is out of range"),
        (cmd(&["audit", "verify", "--expect-count", "n"]), "", USAGE, "hint: the chain holds 0 or more events"),
    ]
}

/// Removing accounts by filter and one delivery target; generated pages and typed arguments.
pub(super) fn bulk_and_docs() -> Vec<Case<'static>> {
    let remove = |rest: &[&'static str]| [&["account", "remove"][..], rest].concat();
    let target = |account: &'static str, spec: &'static str| vec!["account", "targets", "remove", account, spec];
    vec![
        (remove(&[]), "", USAGE, "which account? none was named and no --filter given"),
        (remove(&["p/svc/access-key", "--filter", "*"]), "", USAGE, "give an account or --filter, not both"),
        (remove(&["p/svc/access-key", "--yes"]), "", USAGE, "--yes select(s) accounts for --filter only"),
        (remove(&["p/svc/access-key", "--dry-run", "--kind", "password"]), "", USAGE, "--kind, --dry-run"),
        (remove(&["--filter", "svc-[0-9"]), "", USAGE, "a [ without its ]"),
        (remove(&["--filter", "{a,{b}}"]), "", USAGE, "nested { } groups"),
        (remove(&["--filter", "nobody-*"]), "", NOT_FOUND, "an account matching the filter not found"),
        (remove(&["--filter", "*", "--provider", "ghost"]), "", NOT_FOUND, r#"provider "ghost" not found"#),
        (remove(&["--filter", "*", "--kind", "key"]), "", USAGE, "is not a credential kind"),
        (remove(&["--filter", "*", "--folder", "a//b"]), "", USAGE, "is not a valid folder"),
        // Without a terminal, a removal by filter needs --yes: the list is shown, nothing removed.
        (remove(&["--filter", "*"]), "", USAGE, "needs confirmation and standard input is not a terminal"),
        (remove(&["--filter", "svc", "--kind", "access-key"]), "y\n", USAGE, "standard input is not a terminal"),
        (target("p/svc/access-key", "1"), "", NOT_FOUND, "a delivery target on this account not found"),
        (target("p/alice/password", "ssm"), "", NOT_FOUND, "a delivery target on this account not found"),
        (target("zzzzzzzz", "1"), "", NOT_FOUND, "account zzzzzzzz not found"),
        (target("p/svc", "1"), "", USAGE, "is not an account reference"),
        (vec!["account", "targets", "list", "zzzzzzzz"], "", NOT_FOUND, "account zzzzzzzz not found"),
        (vec!["man", "--dir", "/nonexistent/rekey-man"], "", USAGE, "is not a directory"),
        (vec!["token", "create", "--role", "root", "--name", "x"], "", USAGE, "invalid role"),
        (
            vec!["token", "create", "--role", "admin", "--name", "x", "--expires", "soon"],
            "",
            USAGE,
            "is not a duration",
        ),
        (
            vec!["token", "create", "--role", "admin", "--name", "x", "--folder", "../etc"],
            "",
            USAGE,
            "not a valid folder",
        ),
        (vec!["policy", "--kinds", "password,keys"], "", USAGE, r#""keys" is not a credential kind"#),
        (vec!["account", "set", "p/svc/access-key", "--name", "tab\there"], "", USAGE, "contains a control character"),
        (vec!["account", "set", "p/svc/access-key", "--retirement", "soon"], "", USAGE, "use grace or confirmed"),
        (vec!["account", "set", "p/svc/access-key", "--cutover-deadline", "2w"], "", USAGE, "is not a duration"),
    ]
}

/// Settings that are surely mistakes: options for the other credential kind, no change at
/// all, a schedule that never fires, endpoints with credentials, secrets no AWS secret has.
pub(super) fn mistakes() -> Vec<Case<'static>> {
    let set = |account: &'static str, rest: &[&'static str]| [&["account", "set", account][..], rest].concat();
    let key = |rest: &[&'static str]| set("p/svc/access-key", rest);
    let pw = |rest: &[&'static str]| set("p/alice/password", rest);
    let key_only = "to access-key accounts only";
    let pw_only = "to password accounts only";
    let static_key =
        |secret| (add_provider("x", &["--access-key-id", "AKIAIOSFODNN7EXAMPLE", "--secret-stdin"]), secret);
    let adopt = add_account("bob", "access-key", &["--access-key-id", "AKIAIOSFODNN7EXAMPLE", "--secret-stdin"]);
    let (sk1, sk1_in) = static_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEé");
    let (sk2, sk2_in) = static_key("wJalrXUtnFEMI/K7MDENG\u{7}bPxRfiCYEXAMPLEKEY");
    vec![
        (pw(&["--previous-key", "delete"]), "", USAGE, key_only),
        (pw(&["--verify-successes", "2"]), "", USAGE, key_only),
        (pw(&["--deactivate-after", "1d", "--every", "30d"]), "", USAGE, "--deactivate-after applies to access-key"),
        (pw(&["--retirement", "confirmed"]), "", USAGE, key_only),
        (key(&["--password-length", "20"]), "", USAGE, pw_only),
        (key(&["--create-login-profile"]), "", USAGE, pw_only),
        (key(&["--password-use-symbols", "false", "--every", "30d"]), "", USAGE, pw_only),
        (key(&[]), "", USAGE, "nothing to change"),
        (key(&["--no-schedule"]), "", USAGE, "nothing to change"),
        (key(&["--previous-key", "deactivate"]), "", USAGE, "nothing to change"),
        (pw(&[]), "", USAGE, "nothing to change"),
        (key(&["--cron", "0 0 31 2 *"]), "", USAGE, "never fires"),
        (key(&["--cron", "0 0 30 2 *"]), "", USAGE, "never fires"),
        (key(&["--cron", "0 0 31 4,6,9,11 *"]), "", USAGE, "never fires"),
        (
            add_provider("x", &["--default-chain", "--endpoint-url", "http://u:p@moto:5000/"]),
            "",
            USAGE,
            "credentials in it",
        ),
        (
            add_provider("x", &["--default-chain", "--endpoint-url", "https://token@moto/"]),
            "",
            USAGE,
            "credentials in it",
        ),
        (add_account("bob", "password", &["--secret-stdin"]), "Pass\u{1}word-123", USAGE, "U+0001"),
        (add_account("bob", "password", &["--secret-stdin"]), "Pässwörd-🔑-123", USAGE, "U+1F511"),
        (adopt.clone(), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEé", USAGE, "no AWS secret key contains (U+00E9)"),
        (adopt, "wJalrXUtnFEMI/K7MDENG\u{1b}bPxRfiCYEXAMPLEKEY", USAGE, "(U+001B)"),
        (sk1, sk1_in, USAGE, "no AWS secret key contains"),
        (sk2, sk2_in, USAGE, "no AWS secret key contains"),
    ]
}

/// Durations below the minimum of their setting (README, "Limits"): each error names the
/// minimum. Stored settings are not re-checked, only values given.
pub(super) fn minimums() -> Vec<Case<'static>> {
    let key = |rest: &[&'static str]| [&["account", "set", "p/svc/access-key"][..], rest].concat();
    let webhook = ["--webhook", "https://hooks.example.com/rekey", "--webhook-key-env", "HOOK_KEY"];
    vec![
        (key(&["--every", "1ms"]), "", USAGE, "--every: 1ms is below the minimum of 1m"),
        (key(&["--every", "59s"]), "", USAGE, "below the minimum of 1m"),
        (key(&["--every", "30d", "--max-age", "30s"]), "", USAGE, "--max-age: 30s is below the minimum of 1m"),
        (key(&["--verify-deadline", "500ms"]), "", USAGE, "--verify-deadline: 500ms is below the minimum of 1s"),
        (key(&["--verify-backoff", "5m"]), "", USAGE, "longer than --verify-deadline 2m"),
        (key(&["--script", "/bin/true", "--script-timeout", "100ms"]), "", USAGE, "minimum of 1s"),
        ([&key(&webhook)[..], &["--webhook-timeout", "500ms"]].concat(), "", USAGE, "--webhook-timeout: 500ms"),
    ]
}

/// Options clap parses into typed values (durations, modes, names, patterns): refused before
/// anything runs, naming the option, with the value's own error and hint.
pub(super) fn typed_options() -> Vec<Case<'static>> {
    let set = |rest: &[&'static str]| [&["account", "set", "p/svc/access-key"][..], rest].concat();
    let github =
        |rest: &[&'static str]| set(&[&["--github-repo", "acme/app", "--github-token-env", "T"][..], rest].concat());
    let org = |rest: &[&'static str]| set(&[&["--github-org", "acme", "--github-token-env", "T"][..], rest].concat());
    let manual = |rest: &[&'static str]| set(&[&["--manual", "Mail vendor > SMTP relay"][..], rest].concat());
    let cmd = |args: &[&'static str]| args.to_vec();
    vec![
        (github(&["--api-timeout", "soon"]), "", USAGE, "'--api-timeout <DURATION>': invalid duration"),
        (github(&["--api-timeout", "10"]), "", USAGE, r#""10" is not a duration"#),
        (org(&["--github-visibility", "public"]), "", USAGE, "'--github-visibility <VISIBILITY>': invalid"),
        (manual(&["--manual-deadline", "tomorrow"]), "", USAGE, "'--manual-deadline <DURATION>': invalid duration"),
        (manual(&["--manual-on-deadline", "later"]), "", USAGE, "'--manual-on-deadline <ACTION>': invalid"),
        (cmd(&["discover", "p", "--import", "--kind", "keys"]), "", USAGE, r#""keys" is not a credential kind"#),
        (cmd(&["discover", "p", "--import", "--kind", "all"]), "", USAGE, "use `password`, `access-key` or `both`"),
        (cmd(&["discover", "p", "--import", "--folder", "a//b"]), "", USAGE, "'--folder <FOLDER>': invalid folder"),
        (cmd(&["discover", "bad name"]), "", USAGE, "is not a valid provider name"),
        (cmd(&["report", "--unused", "3mo"]), "", USAGE, "'--unused <DURATION>': invalid duration"),
        (cmd(&["report", "--max-age=-1d"]), "", USAGE, "'--max-age <DURATION>': invalid duration"),
        (cmd(&["report", "--format", "pdf"]), "", USAGE, r#""pdf" is not a report format"#),
        (cmd(&["report", "--max-age", "0d"]), "", USAGE, r#""0d" is no age"#),
        (cmd(&["report", "--unused", "0s"]), "", USAGE, r#""0s" is no age"#),
        (cmd(&["incident", "--target-kind", "bogus"]), "", USAGE, r#""bogus" is not a delivery target kind"#),
        (cmd(&["incident", "--target-kind", "github"]), "", USAGE, "use one of aws-credentials-file, secrets-manager"),
        (
            set(&["--github-repo", "acme", "--github-token-env", "T"]),
            "",
            USAGE,
            r#""acme" is not a repository: OWNER/REPO"#,
        ),
        (cmd(&["report", "--provider", "bad name"]), "", USAGE, "is not a valid provider name"),
        (cmd(&["run-due", "--once", "--interval", "0s"]), "", USAGE, r#""0s" is no pause between runs"#),
        (cmd(&["run-due", "--once", "--interval", "every minute"]), "", USAGE, "'--interval <DURATION>': invalid"),
        (cmd(&["run-due", "--once", "--heartbeat-every", "daily"]), "", USAGE, r#""daily" is not a duration"#),
    ]
}
