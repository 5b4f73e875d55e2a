//! Discovery and import end to end against moto: the credential-report path and the per-user
//! path find the same users and facts; credentials are classified against the vault; exempt
//! and owner tags are honoured; imported accounts are rotated so the vault knows their secrets;
//! a second vault neither imports nor adds a password or key the first one manages.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{iam, invariants::Db, Moto, Sandbox};
use serde_json::Value;

fn tag(moto: &Moto, user: &str, key: &str, value: &str) {
    let c = iam::client(moto);
    let t = aws_sdk_iam::types::Tag::builder().key(key).value(value).build().unwrap();
    iam::block_on(c.tag_user().user_name(user).tags(t).send()).unwrap();
}

fn user<'a>(d: &'a Value, name: &str) -> &'a Value {
    d[0]["users"].as_array().unwrap().iter().find(|u| u["user_name"] == name).unwrap_or_else(|| panic!("{name} found"))
}

#[test]
fn both_paths_agree_and_import_brings_credentials_under_management() {
    let moto = Moto::start();
    let admin = iam::admin(&moto);
    for u in ["alice", "svc-ci", "svc-old", "robot"] {
        iam::create_user(&moto, u);
    }
    iam::create_login_profile(&moto, "alice", "Alice-Pw-1!");
    let ci = iam::create_key(&moto, "svc-ci");
    iam::create_key(&moto, "svc-old");
    iam::create_key(&moto, "robot");
    tag(&moto, "robot", "rekey:exempt", "true");
    tag(&moto, "svc-old", "rekey:owner", "team-payments");
    let sb = Sandbox::new();
    sb.init();
    sb.add_provider(&moto, "p", &admin);
    sb.adopt_key("p", "svc-ci", &ci);

    // IAM throttles below the pace rekey starts at: discovery must slow down, not fail.
    moto.model()
        .set(&["throttle=on", "throttle.iam.rate=8", "throttle.iam.burst=2", "throttle.iam-mutating.rate=4"])
        .unwrap();
    let report = sb.json(&["discover", "p"]);
    let per_user = sb.json(&["discover", "p", "--per-user"]);
    assert!(moto.model().stats().throttled.values().sum::<u64>() > 0, "discovery was never throttled");
    assert_eq!(report[0]["path"], "credential-report");
    assert_eq!(per_user[0]["path"], "per-user");
    let names = |d: &Value| {
        let mut n: Vec<String> =
            d[0]["users"].as_array().unwrap().iter().map(|u| u["user_name"].as_str().unwrap().to_owned()).collect();
        n.sort();
        n
    };
    assert_eq!(names(&report), vec!["admin", "alice", "robot", "svc-ci", "svc-old"]);
    assert_eq!(names(&report), names(&per_user));
    for d in [&report, &per_user] {
        assert_eq!(user(d, "alice")["password_enabled"], true);
        assert_eq!(user(d, "alice")["password_ownership"], "foreign");
        assert_eq!(user(d, "alice")["password_ownership_detail"], "not managed by rekey");
        assert_eq!(user(d, "svc-old")["password_ownership"], Value::Null, "no password");
        assert_eq!(user(d, "svc-ci")["keys"][0]["ownership"], "managed");
        assert_eq!(user(d, "svc-ci")["keys"][0]["id"], ci.0.as_str());
        assert_eq!(user(d, "svc-old")["keys"][0]["ownership"], "foreign");
        assert_eq!(user(d, "svc-old")["owner"], "team-payments");
        assert_eq!(user(d, "robot")["exempt"], true);
    }
    assert_eq!(user(&report, "alice")["sources"]["password"], "credential-report");
    assert_eq!(user(&per_user, "alice")["sources"]["password"], "per-user");
    assert!(
        report[0]["api_calls"].as_u64().unwrap() < per_user[0]["api_calls"].as_u64().unwrap(),
        "the report path makes fewer calls"
    );

    // Import everything not managed yet (robot is exempt), and rotate it at once.
    sb.fast_verify("p/svc-ci/access-key").assert().success();
    let out = sb
        .rekey()
        .args(["discover", "p", "--import", "--folder", "imported", "--filter", "*", "-o", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let imported: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(imported["rotations"], serde_json::json!([]), "no --reset-on-import: nothing rotated");
    let refs: Vec<&str> = imported["imported"].as_array().unwrap().iter().map(|a| a["ref"].as_str().unwrap()).collect();
    assert!(refs.contains(&"p/svc-old/access-key") && refs.contains(&"p/alice/password"), "{refs:?}");
    assert!(!refs.iter().any(|r| r.contains("robot")), "exempt users are never imported");
    assert!(!refs.contains(&"p/svc-ci/access-key"), "a managed credential is not imported again");
    let old = sb.json(&["account", "show", "p/svc-old/access-key"]);
    assert_eq!(old["status"], "needs-rotation");
    sb.rekey().args(["account", "reveal", "p/svc-old/access-key"]).assert().code(3);
    sb.rekey().args(["heartbeat", "p/svc-old/access-key"]).assert().code(9);
    sb.fast_verify("p/svc-old/access-key").args(["--previous-key", "delete"]).assert().success();
    let reports = sb.json(&["rotate", "--folder", "imported"]);
    assert!(reports.as_array().unwrap().iter().all(|r| r["outcome"] == "done"), "{reports}");
    sb.rekey().args(["heartbeat", "--folder", "imported"]).assert().success();
    let keys = iam::key_ids(&moto, "svc-old");
    assert_eq!(
        keys,
        vec![sb.json(&["account", "show", "p/svc-old/access-key"])["current_key_id"].as_str().unwrap().to_owned()],
        "the unknown key was replaced and deleted"
    );
}

/// The value of `data-k="KEY"` in the HTML report.
fn html_number(html: &str, key: &str) -> usize {
    let pat = format!("data-k=\"{key}\">");
    let at = html.find(&pat).unwrap_or_else(|| panic!("{key} in the HTML")) + pat.len();
    html[at..].split('<').next().unwrap().parse().unwrap()
}

#[test]
fn the_report_finds_what_needs_attention_and_html_equals_json() {
    let moto = Moto::start();
    let admin = iam::admin(&moto);
    for u in ["alice", "svc-old", "svc-ci", "gone"] {
        iam::create_user(&moto, u);
    }
    iam::create_login_profile(&moto, "alice", "Alice-Pw-1!");
    iam::create_key(&moto, "svc-old");
    let ci = iam::create_key(&moto, "svc-ci");
    let gone = iam::create_key(&moto, "gone");
    let sb = Sandbox::new();
    sb.init();
    sb.add_provider(&moto, "p", &admin);
    sb.adopt_key("p", "svc-ci", &ci);
    sb.adopt_key("p", "gone", &gone);
    // The user is deleted in IAM after rekey adopted its key.
    let c = iam::client(&moto);
    iam::block_on(c.delete_access_key().user_name("gone").access_key_id(&gone.0).send()).unwrap();
    iam::block_on(c.delete_user().user_name("gone").send()).unwrap();
    let out = sb.rekey().args(["report", "-o", "json"]).assert().code(9).get_output().stdout.clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    let row = |user: &str| report["rows"].as_array().unwrap().iter().find(|r| r["user"] == user).unwrap().clone();
    assert!(row("alice")["findings"].to_string().contains("no-mfa"), "console access without MFA");
    assert!(row("svc-old")["findings"].to_string().contains("foreign"), "a key rekey does not manage");
    assert!(row("svc-ci")["account"].as_str().is_some(), "the managed key is linked to its account");
    assert!(!row("svc-ci")["findings"].to_string().contains("foreign"));
    assert_eq!(row("gone")["findings"], serde_json::json!(["user-missing"]), "the vault's account of a deleted user");
    assert_eq!(row("gone")["key_id"], gone.0.as_str());

    let html_path = sb.path("report.html");
    sb.rekey().args(["report", "--format", "html", "--out"]).arg(&html_path).assert().code(9);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert_eq!(html.matches("http").count(), html.matches("http://www.w3.org/2000/svg").count(), "no external assets");
    assert!(!html.contains("<script") && !html.contains("<link"), "self-contained");
    assert_eq!(html_number(&html, "credentials"), report["rows"].as_array().unwrap().len());
    for (finding, n) in report["findings"].as_object().unwrap() {
        assert_eq!(html_number(&html, &format!("finding-{finding}")) as u64, n.as_u64().unwrap(), "{finding}");
    }
    // The charts: one bar per age bucket, with the JSON's counts.
    let age = &html[html.find("<svg id=\"age\"").unwrap()..];
    let age = &age[..age.find("</svg>").unwrap()];
    let buckets = report["age_buckets"].as_array().unwrap();
    assert_eq!(age.matches("class=\"bar\"").count(), buckets.len());
    for b in buckets {
        assert!(age.contains(&format!("data-label=\"{}\" data-value=\"{}\"", b[0].as_str().unwrap(), b[1])), "{b}");
    }
    assert_eq!(html.matches("<tr class=\"row\">").count(), report["rows"].as_array().unwrap().len());
}

fn org_client(moto: &Moto) -> aws_sdk_organizations::Client {
    let creds = aws_credential_types::Credentials::new("testing", "testing", None, None, "test");
    let conf = aws_sdk_organizations::Config::builder()
        .behavior_version(aws_sdk_organizations::config::BehaviorVersion::latest())
        .region(aws_sdk_organizations::config::Region::new("us-east-1"))
        .endpoint_url(&moto.url)
        .credentials_provider(creds)
        .build();
    aws_sdk_organizations::Client::from_conf(conf)
}

#[test]
fn add_org_creates_one_provider_per_account_and_is_idempotent() {
    let moto = Moto::start();
    let admin = iam::admin(&moto);
    let org = org_client(&moto);
    iam::block_on(async {
        org.create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .unwrap();
        for name in ["dev", "prod"] {
            org.create_account().account_name(name).email(format!("{name}@example.com")).send().await.unwrap();
        }
    });
    let sb = Sandbox::new();
    sb.init();
    sb.add_provider(&moto, "mgmt", &admin);
    let sync = |extra: &[&str]| -> Value {
        let out = sb
            .rekey()
            .args(["provider", "add-org", "org", "--role-name", "OrganizationAccountAccessRole", "--source", "mgmt"])
            .args(extra)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    };
    let first = sync(&["--exclude", "123456789012"]);
    assert_eq!(first["added"].as_array().unwrap().len(), 2, "{first}");
    assert_eq!(first["excluded"], serde_json::json!(["123456789012"]), "the management account is left out");
    let again = sync(&["--exclude", "123456789012"]);
    assert_eq!(again["added"].as_array().unwrap().len(), 0, "re-running adds nothing: {again}");
    assert_eq!(again["unchanged"].as_array().unwrap().len(), 2);
    let name = first["added"][0].as_str().unwrap();
    let shown = sb.json(&["provider", "show", name]);
    assert_eq!(shown["auth"]["kind"], "assume-role");
    assert_eq!(shown["auth"]["source"], "mgmt");
    let id = name.trim_start_matches("org-");
    assert_eq!(shown["auth"]["role_arn"], format!("arn:aws:iam::{id}:role/OrganizationAccountAccessRole"));
    // The provider works: AssumeRole through the management account, then GetCallerIdentity.
    let who = sb.json(&["provider", "test", name]);
    assert!(who["arn"].as_str().unwrap().contains("assumed-role/OrganizationAccountAccessRole"), "{who}");
    sb.rekey().args(["provider", "add-org", "org", "--role-name", "bad role", "--source", "mgmt"]).assert().code(2);
}

fn vault_id(sb: &Sandbox) -> String {
    Db::of(&sb.vault).rows::<(String,)>("SELECT vault_id FROM vault_header").remove(0).0
}

/// `discover --import -o json` in `sb` of the users `filter` matches: its JSON and stderr.
fn import(sb: &Sandbox, filter: &str) -> (Value, String) {
    let out = sb.std_rekey().args(["discover", "p", "--import", "--filter", filter, "-o", "json"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

fn refs(done: &Value, what: &str) -> Vec<String> {
    let mut r: Vec<String> = done[what]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ref"].as_str().map_or_else(|| format!("p/{}/{}", a["user_name"], a["kind"]), str::to_owned))
        .map(|r| r.replace('"', ""))
        .collect();
    r.sort();
    r
}

/// Vault A (SQLite) manages `shared`'s console password and an access key; vault B (PostgreSQL
/// when REKEY_TEST_POSTGRES_URL is set) discovers them as A's and neither imports nor adds them,
/// while it imports `free`'s, which nobody manages — and A then refuses `free`'s password as
/// B's. A's password rotation still works, and once A removes its password account, B may take
/// the password.
#[test]
fn a_second_vault_takes_neither_the_password_nor_the_key_another_vault_manages() {
    let moto = Moto::start();
    let admin = iam::admin(&moto);
    for u in ["shared", "free"] {
        iam::create_user(&moto, u);
        iam::create_login_profile(&moto, u, "Initial-Pw-1!");
    }
    let a = Sandbox::new();
    a.init();
    a.add_provider(&moto, "p", &admin);
    let pg = common::pg::schema();
    let b = pg.as_ref().map_or_else(Sandbox::new, |s| Sandbox::with_vault(s.url.clone()));
    b.init();
    b.add_provider(&moto, "p", &admin);
    let id_a = vault_id(&a);
    let id_b = vault_id(&b);
    a.rekey().args(["account", "add", "--provider", "p", "--user", "shared", "--kind", "password"]).assert().success();
    a.rekey()
        .args(["account", "add", "--provider", "p", "--user", "shared", "--kind", "access-key", "--create"])
        .assert()
        .success();
    let a_key = a.json(&["account", "show", "p/shared/access-key"])["current_key_id"].as_str().unwrap().to_owned();

    // B sees both of A's credentials as A's, on both paths.
    let why_a = format!("managed by another rekey vault {id_a}");
    for args in [&["discover", "p"][..], &["discover", "p", "--per-user"]] {
        let d = b.json(args);
        let u = user(&d, "shared");
        assert_eq!(
            (&u["password_ownership"], &u["password_ownership_detail"]),
            (&"foreign".into(), &why_a.clone().into())
        );
        assert_eq!(user(&d, "free")["password_ownership_detail"], "not managed by rekey");
    }
    let d = b.json(&["discover", "p", "--per-user"]);
    let key = &user(&d, "shared")["keys"][0];
    assert_eq!((&key["id"], &key["ownership_detail"]), (&a_key.clone().into(), &why_a.clone().into()));

    // B's import skips both, saying whose they are, and takes free's password.
    let (done, stderr) = import(&b, "{shared,free}");
    assert_eq!(refs(&done, "imported"), vec!["p/free/password"], "{done}");
    assert_eq!(refs(&done, "skipped"), vec!["p/shared/access-key", "p/shared/password"], "{done}");
    for s in done["skipped"].as_array().unwrap() {
        assert!(s["reason"].as_str().unwrap().contains(&why_a), "{s}");
    }
    assert!(stderr.contains("skipped p/shared/password: ") && stderr.contains("dead password"), "{stderr}");
    let failed: Vec<(String,)> = Db::of(&b.vault)
        .rows("SELECT target FROM audit_events WHERE action = 'account.import' AND outcome = 'failed' ORDER BY target");
    assert_eq!(failed, vec![("p/shared/access-key".into(),), ("p/shared/password".into(),)]);
    // Nor does `account add` take A's password; A refuses B's.
    let out = b
        .rekey()
        .args(["account", "add", "--provider", "p", "--user", "shared", "--kind", "password"])
        .assert()
        .code(4);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains(&why_a), "{stderr}");
    let (done, _) = import(&a, "free");
    assert_eq!(refs(&done, "imported"), Vec::<String>::new(), "{done}");
    let reason = done["skipped"][0]["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("managed by another rekey vault {id_b}")), "{done}");
    assert!(b.json(&["account", "list"]).as_array().unwrap().iter().all(|x| x["user_name"] != "shared"));

    // Each vault's password rotation sets the password it holds; A's key is untouched.
    for (sb, user) in [(&a, "shared"), (&b, "free")] {
        let r = sb.json(&["rotate", &format!("p/{user}/password")]);
        assert_eq!(r[0]["outcome"], "done", "{r}");
        let revealed =
            sb.json(&["account", "reveal", &format!("p/{user}/password")])["secret"].as_str().unwrap().to_owned();
        assert_eq!(iam::stored_password(&moto, user), Some(revealed), "{user}'s password is its vault's");
    }
    assert_eq!(iam::key_ids(&moto, "shared"), vec![a_key], "A's key alone");

    // A's rotation kept its mark: B still refuses; once A removes the account, B may take it.
    let (done, _) = import(&b, "shared");
    assert_eq!(refs(&done, "imported"), Vec::<String>::new(), "{done}");
    a.rekey().args(["account", "remove", "p/shared/password"]).assert().success();
    let (done, _) = import(&b, "shared");
    assert_eq!(refs(&done, "imported"), vec!["p/shared/password"], "{done}");
}
