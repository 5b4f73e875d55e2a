//! Seeding and inspecting moto's IAM through the AWS SDK.

use super::Moto;
use aws_sdk_iam::Client;

/// Runs a future to completion on a fresh runtime (tests are synchronous).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

/// An IAM client for moto, signed with moto's default test credentials.
pub fn client(moto: &Moto) -> Client {
    client_with(moto, "testing", "testing")
}

/// Creates a user.
pub fn create_user(moto: &Moto, name: &str) {
    block_on(client(moto).create_user().user_name(name).send()).expect("create user");
}

/// Creates an access key: (id, secret).
pub fn create_key(moto: &Moto, user: &str) -> (String, String) {
    let out = block_on(client(moto).create_access_key().user_name(user).send()).expect("create key");
    let k = out.access_key.expect("key");
    (k.access_key_id, k.secret_access_key)
}

/// Gives a user a console password.
pub fn create_login_profile(moto: &Moto, user: &str, password: &str) {
    block_on(client(moto).create_login_profile().user_name(user).password(password).send()).expect("login profile");
}

/// The ids of a user's access keys.
pub fn key_ids(moto: &Moto, user: &str) -> Vec<String> {
    keys_of(&client(moto), user).into_iter().map(|k| k.0).collect()
}

/// A user's access keys, every page: (id, active). IAM (and the model in front of moto) pages
/// `ListAccessKeys`, so a single call may return only the first key.
pub fn keys_of(c: &Client, user: &str) -> Vec<(String, bool)> {
    let pages = block_on(c.list_access_keys().user_name(user).into_paginator().items().send().collect::<Vec<_>>());
    pages
        .into_iter()
        .map(|k| k.expect("list keys"))
        .map(|k| (k.access_key_id.unwrap_or_default(), k.status.is_some_and(|s| s.as_str() == "Active")))
        .collect()
}

/// An admin user with a key, for providers: (id, secret).
pub fn admin(moto: &Moto) -> (String, String) {
    create_user(moto, "admin");
    create_key(moto, "admin")
}

/// An IAM client for moto signed with a specific key.
pub fn client_with(moto: &Moto, key_id: &str, secret: &str) -> Client {
    let creds = aws_credential_types::Credentials::new(key_id, secret, None, None, "test");
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new("us-east-1"))
        .endpoint_url(&moto.url)
        .credentials_provider(creds)
        .build();
    Client::from_conf(conf)
}

/// What [`seed_with_auth`] made.
pub struct Seeded {
    pub admin: (String, String),
    pub svc: (String, String),
}

/// Requests [`seed_with_auth`] makes; moto must be started with
/// `INITIAL_NO_AUTH_ACTION_COUNT` equal to this so that every later request is authenticated
/// (and authorised) for real.
pub const SEED_REQUESTS: &str = "9";

/// Users `admin` (rekey's provider), `svc` (an access key) and `alice` (a console password
/// `Alice-Initial-1!`), admin and svc allowed everything.
pub fn seed_with_auth(moto: &Moto) -> Seeded {
    let c = client(moto);
    block_on(async {
        for u in ["admin", "svc", "alice"] {
            c.create_user().user_name(u).send().await.expect("user");
        }
        let mut keys = Vec::new();
        for u in ["admin", "svc"] {
            let k = c.create_access_key().user_name(u).send().await.expect("key").access_key.expect("key");
            keys.push((k.access_key_id, k.secret_access_key));
        }
        c.create_login_profile().user_name("alice").password("Alice-Initial-1!").send().await.expect("profile");
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        let p = c.create_policy().policy_name("all").policy_document(doc).send().await.expect("policy");
        let arn = p.policy.and_then(|p| p.arn).expect("policy arn");
        for u in ["admin", "svc"] {
            c.attach_user_policy().user_name(u).policy_arn(&arn).send().await.expect("attach");
        }
        let svc = keys.pop().expect("svc key");
        let admin = keys.pop().expect("admin key");
        Seeded { admin, svc }
    })
}

/// The console password moto stores for `user`.
pub fn stored_password(moto: &Moto, user: &str) -> Option<String> {
    let state = moto.state();
    state["iam"]["User"].as_array()?.iter().find(|u| u["name"] == user)?["password"].as_str().map(str::to_owned)
}
