//! The configuration's loading order, its refusals and its bounds.

use super::*;

fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = std::env::temp_dir().join(format!("rekey-config-{}", rand::random::<u64>()));
    std::fs::write(&dir, toml).expect("write config");
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    let r =
        Config::load(Some(&dir), |k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()), &Overrides::default());
    let _ = std::fs::remove_file(&dir);
    r
}

#[test]
fn file_then_env_then_validation() {
    let c =
        load("listen = \"127.0.0.1:9000\"\n[scheduler]\ninterval = \"5s\"\n", &[("REKEY_SCHEDULER_CONCURRENCY", "3")])
            .expect("valid");
    assert_eq!((c.listen.as_str(), c.scheduler.interval.ms(), c.scheduler.concurrency), ("127.0.0.1:9000", 5_000, 3));
    let c = load("listen = \"127.0.0.1:9000\"", &[("REKEY_LISTEN", "127.0.0.1:9001")]).expect("valid");
    assert_eq!(c.listen, "127.0.0.1:9001", "the environment overrides the file");
}

#[test]
fn unknown_keys_and_bad_values_are_rejected() {
    let e = load("listn = \"x\"", &[]).expect_err("typo");
    assert!(e.message.contains("listn"), "{e}");
    let e = load("[scheduler]\nconcurency = 2", &[]).expect_err("typo in a table");
    assert!(e.message.contains("concurency"), "{e}");
    assert!(e.message.contains("at line 2, column 1"), "the typo's place in the file: {e}");
    let e = load("listen = \"127.0.0.1:9000\"\n[scheduler]\nenabled = true\nconcurrency = \"four\"\n", &[])
        .expect_err("a string where a number goes");
    assert!(e.message.contains("line 4, column 15") && e.message.contains(r#""four" is not a whole number"#), "{e}");
    assert!(load("listen = \"nowhere\"", &[]).is_err());
    assert!(load("tls_cert = \"/a.pem\"", &[]).is_err(), "a certificate without a key");
    assert!(load("[scheduler]\ninterval = \"0s\"", &[]).is_err());
    assert!(load("", &[("REKEY_PUBLIC_METRICS", "maybe")]).is_err());
    assert!(load("", &[("REKEY_SCHEDULER_CONCURRENCY", "100")]).is_err());
}

#[test]
fn limits_and_auth_throttling_are_bounded() {
    let c = load("[limits]\nmax_connections = 64\n", &[("REKEY_HEADER_TIMEOUT", "2s")]).expect("valid");
    assert_eq!((c.limits.max_connections, c.limits.header_timeout.ms()), (64, 2000));
    for (var, value) in [
        ("REKEY_MAX_CONNECTIONS", "0"),
        ("REKEY_HEADER_TIMEOUT", "50ms"),
        ("REKEY_SHUTDOWN_GRACE", "soon"),
        ("REKEY_AUTH_MAX_FAILURES", "0"),
        ("REKEY_AUTH_FAILURE_WINDOW", "10ms"),
    ] {
        assert!(load("", &[(var, value)]).is_err(), "{var}={value}");
    }
    assert!(load("[limits]\nidle = \"5s\"\n", &[]).is_err(), "unknown keys in [limits]");
}

#[test]
fn the_lease_ttl_and_node_name_are_validated() {
    let c = load("[cluster]\nlease_ttl = \"10s\"\n", &[("REKEY_NODE", "node-1.eu")]).expect("valid");
    let leases = c.cluster.leases();
    assert_eq!((leases.ttl_ms, leases.node.as_str()), (10_000, "node-1.eu"));
    let d = load("", &[]).expect("defaults").cluster.leases();
    assert_eq!((d.ttl_ms, d.node), (30_000, rekey_engine::lease::host()));
    for (var, value) in [
        ("REKEY_LEASE_TTL", "4s"),
        ("REKEY_LEASE_TTL", "2h"),
        ("REKEY_LEASE_TTL", "soon"),
        ("REKEY_NODE", "a:b"),
        ("REKEY_NODE", "n#1"),
        ("REKEY_NODE", ""),
        ("REKEY_SCHEDULER_STALL_AFTER", "5s"),
    ] {
        let e = load("", &[(var, value)]).expect_err(var);
        assert!(!e.hint.is_empty(), "{var}={value}: {e}");
    }
    assert!(load("[cluster]\nttl = \"5s\"\n", &[]).is_err(), "unknown keys in [cluster]");
}

/// Values that parse but cannot work are refused at start (issue 18).
#[test]
fn a_checkout_ttl_longer_than_any_checkout_is_refused() {
    let e = load("[checkout]\ndefault_ttl = \"48h\"\n", &[]).expect_err("48h");
    assert!(e.message.contains("at most 24h") && !e.hint.is_empty(), "{e}");
    assert!(load("", &[("REKEY_CHECKOUT_DEFAULT_TTL", "25h")]).is_err());
    load("[checkout]\ndefault_ttl = \"24h\"\n", &[]).expect("24h is the longest");
}

/// A duration that is not one is refused as the file or the variable is read, saying where.
#[test]
fn a_duration_that_is_not_one_is_refused_where_it_is_read() {
    let e = load("[scheduler]\nenabled = true\nstall_after = \"soon\"\n", &[]).expect_err("soon");
    assert!(e.message.contains("line 3, column 15") && e.message.contains("\"soon\" is not a duration"), "{e}");
    let e = load("[[export]]\nname = \"f\"\nkind = \"file\"\npath = \"/tmp/a\"\ninterval = \"10\"\n", &[])
        .expect_err("a duration without a unit");
    assert!(e.message.contains("line 5") && e.message.contains("not a duration"), "{e}");
    let e = load("", &[("REKEY_SHUTDOWN_GRACE", "later")]).expect_err("later");
    assert!(e.message.contains("REKEY_SHUTDOWN_GRACE") && e.message.contains("\"later\""), "{e}");
    assert!(e.hint.contains("30s"), "{e:?}");
}

/// A duration that parses but is out of its key's bounds is refused, naming the key.
#[test]
fn a_duration_out_of_bounds_names_its_key() {
    let cases = [
        ("REKEY_SCHEDULER_INTERVAL", "0s", "scheduler.interval must be positive"),
        ("REKEY_SCHEDULER_STALL_AFTER", "9s", "scheduler.stall_after must be at least 10s, not 9s"),
        ("REKEY_AUTH_FAILURE_WINDOW", "999ms", "auth.failure_window must be at least 1s"),
        ("REKEY_HEADER_TIMEOUT", "99ms", "limits.header_timeout must be at least 100ms"),
        ("REKEY_SHUTDOWN_GRACE", "0ms", "limits.shutdown_grace must be positive"),
        ("REKEY_CHECKOUT_DEFAULT_TTL", "0s", "checkout.default_ttl must be positive"),
        ("REKEY_LEASE_TTL", "2h", "cluster.lease_ttl must be from 5s to 1h, not 2h"),
        ("REKEY_AWS_ATTEMPT_TIMEOUT", "0s", "REKEY_AWS_ATTEMPT_TIMEOUT"),
    ];
    for (var, value, needle) in cases {
        let e = load("", &[(var, value)]).expect_err(var);
        assert!(e.message.contains(needle), "{var}={value}: {e}");
    }
    let c = load("[notify]\nurl = \"https://hooks.example.com/x\"\nkey_env = \"K\"\noverdue_after = \"90m\"\n", &[])
        .expect("valid");
    let n = c.notify.expect("[notify]");
    assert_eq!((n.overdue_after.ms(), n.overdue_every.ms(), n.interval.ms()), (5_400_000, 86_400_000, 10_000));
    assert_eq!(c.scheduler.interval, DurationMs::from_secs(30), "the defaults are durations too");
}

/// Every count of the configuration, given wrong in the file or the environment, is refused as
/// it is read in the words of every whole-number field: what was given, the key, the range and
/// an example; never the parser's "invalid type: …, expected u32".
#[test]
fn a_count_that_is_wrong_says_what_the_key_takes() {
    let takes = [
        (
            "scheduler",
            "concurrency",
            "REKEY_SCHEDULER_CONCURRENCY",
            "scheduler.concurrency takes 1 to 64 accounts calling AWS at once; use e.g. 8",
        ),
        (
            "auth",
            "max_failures",
            "REKEY_AUTH_MAX_FAILURES",
            "auth.max_failures takes 1 to 10000 failed authentications per window; use e.g. 10",
        ),
        (
            "limits",
            "max_connections",
            "REKEY_MAX_CONNECTIONS",
            "limits.max_connections takes 1 to 100000 open connections; use e.g. 512",
        ),
        (
            "aws",
            "provider_concurrency",
            "REKEY_PROVIDER_CONCURRENCY",
            "aws.provider_concurrency takes 1 to 1024 accounts of one provider at once; use e.g. 32",
        ),
    ];
    for (table, key, var, allowed) in takes {
        for (value, wrong) in [
            ("\"four\"", r#""four" is not a whole number"#),
            ("\"8\"", r#""8" is text, not a number: write 8 without quotes"#),
            ("2.5", "2.5 is not a whole number"),
            ("true", "true is not a whole number"),
            ("[1]", "a list is not a whole number"),
            ("0", "0 is out of range"),
            ("-3", "-3 is out of range"),
            ("100001", "100001 is out of range"),
        ] {
            let e = load(&format!("[{table}]\n{key} = {value}\n"), &[]).expect_err(value);
            let at = format!("at line 2, column {}: {wrong}", key.len() + 4);
            assert!(e.message.contains(&at) && e.message.ends_with(allowed), "{key} = {value}: {e}");
            assert!(!e.message.contains("invalid type") && !e.message.contains("expected"), "{key} = {value}: {e}");
        }
        for (value, wrong) in [
            ("four", r#""four" is not a whole number"#),
            ("+8", r#""+8" has a "+" sign: write the digits alone"#),
            (" 8", r#"" 8" has spaces around the number: write the digits alone"#),
            ("0", "0 is out of range"),
            ("100001", "100001 is out of range"),
        ] {
            let e = load("", &[(var, value)]).expect_err(value);
            assert_eq!(
                (e.message.as_str(), e.hint.as_str()),
                (format!("{var}: {wrong}").as_str(), allowed),
                "{var}={value:?}"
            );
        }
    }
    let e =
        load("[[export]]\nname = \"f\"\nkind = \"file\"\npath = \"/tmp/a\"\nbatch = 0\n", &[]).expect_err("batch 0");
    assert!(
        e.message.contains("line 5")
            && e.message.ends_with("0 is out of range: an [[export]]'s batch takes 1 to 10000 events; use e.g. 500"),
        "{e}"
    );
    let c = load("[scheduler]\nconcurrency = 64\n[auth]\nmax_failures = 1\n[aws]\nprovider_concurrency = 1024\n", &[])
        .expect("the bounds themselves are allowed");
    assert_eq!((c.scheduler.concurrency, c.auth.max_failures, c.aws.provider_concurrency), (64, 1, Some(1024)));
    let d = load("", &[]).expect("defaults");
    assert_eq!((d.scheduler.concurrency, d.limits.max_connections, d.aws.provider_concurrency), (8, 512, None));
}

/// A [`Config`] built in code is held to the same bounds, in the same words.
#[test]
fn validation_holds_counts_built_in_code_to_their_range() {
    let mut c = Config::default();
    c.scheduler.concurrency = 65;
    let e = c.validate().expect_err("65");
    assert_eq!(
        e.message,
        "65 is out of range: scheduler.concurrency takes 1 to 64 accounts calling AWS at once; use e.g. 8"
    );
    let mut c = Config::default();
    c.aws.provider_concurrency = Some(0);
    assert!(c.validate().expect_err("0").message.contains("aws.provider_concurrency takes 1 to 1024"));
}
