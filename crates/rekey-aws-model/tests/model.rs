//! The model against a real moto, driven through the real AWS SDK: each behaviour on its own —
//! paging (through the SDK's own paginators), throttling per bucket and per account, new-key
//! propagation and flapping, the quotas, latency — and the control endpoints.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use aws_sdk_iam::{error::ProvideErrorMetadata, types::Tag};
use rekey_aws_model::{Model, ModelConfig, MotoServer};
use std::time::{Duration, Instant};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

struct World {
    model: Model,
    _moto: MotoServer,
}

fn world(settings: &[&str]) -> World {
    world_of(1, settings)
}

fn world_of(accounts: usize, settings: &[&str]) -> World {
    let moto = MotoServer::start(&[]).unwrap();
    let mut config = ModelConfig::suite();
    config.paging.page_size = 2; // the tests count pages of two
    config.set_all(settings.iter().copied()).unwrap();
    let model = Model::start_accounts(config, moto.port, accounts).unwrap();
    World { model, _moto: moto }
}

fn sdk_config(url: &str, key: &str, secret: &str) -> aws_config::SdkConfig {
    let creds = aws_credential_types::Credentials::new(key, secret, None, None, "test");
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build()
}

fn iam_at(url: &str) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&sdk_config(url, "testing", "testing"))
}

fn iam(w: &World) -> aws_sdk_iam::Client {
    iam_at(w.model.url())
}

fn sts_with(w: &World, key: &str, secret: &str) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&sdk_config(w.model.url(), key, secret))
}

fn tag(k: String) -> Tag {
    Tag::builder().key(k).value("v").build().unwrap()
}

/// Users u0..u4 with 3 tags each, and 2 keys for u0.
fn seed(c: &aws_sdk_iam::Client) {
    block_on(async {
        for i in 0..5 {
            let tags = (0..3).map(|j| tag(format!("k{j}"))).collect();
            c.create_user().user_name(format!("u{i}")).set_tags(Some(tags)).send().await.unwrap();
        }
        for _ in 0..2 {
            c.create_access_key().user_name("u0").send().await.unwrap();
        }
    });
}

#[test]
fn the_sdk_paginators_walk_every_page() {
    let w = world(&[]);
    let c = iam(&w);
    seed(&c);
    let one = block_on(c.list_users().send()).unwrap();
    assert!(one.is_truncated && one.users.len() == 2 && one.marker.is_some(), "{one:?}");
    let users: Vec<String> = block_on(c.list_users().into_paginator().items().send().collect::<Vec<_>>())
        .into_iter()
        .map(|u| u.unwrap().user_name)
        .collect();
    assert_eq!(users, ["u0", "u1", "u2", "u3", "u4"]);
    w.model.set(&["paging.size=1"]).unwrap();
    let keys = block_on(c.list_access_keys().user_name("u0").into_paginator().items().send().collect::<Vec<_>>());
    assert_eq!(keys.len(), 2, "two keys in pages of one");
    w.model.set(&["paging.size=2"]).unwrap();
    let tags = block_on(c.list_user_tags().user_name("u1").into_paginator().items().send().collect::<Vec<_>>());
    assert_eq!(tags.len(), 3);
    let mfa = block_on(c.list_mfa_devices().user_name("u1").into_paginator().items().send().collect::<Vec<_>>());
    assert!(mfa.is_empty());
    let details = block_on(
        c.get_account_authorization_details()
            .filter(aws_sdk_iam::types::EntityType::User)
            .into_paginator()
            .send()
            .collect::<Vec<_>>(),
    );
    assert_eq!(details.len(), 3, "5 users in pages of 2");
    let detailed: Vec<usize> = details
        .into_iter()
        .flat_map(|p| p.unwrap().user_detail_list.unwrap_or_default())
        .map(|u| u.tags.unwrap_or_default().len())
        .collect();
    assert_eq!(detailed, [3; 5], "each user with its tags");
    let s = w.model.stats();
    // Truncated: the single call, 2 of 3 user pages, 1 of 2 tag pages, 2 of 3 detail pages, and 1
    // of 2 key pages; a marker on every page but the first of each walk.
    assert_eq!((s.truncated_pages, s.marker_requests), (7, 6), "{s:?}");
}

type SdkError<E> = aws_sdk_iam::error::SdkError<E>;

fn code_of<E: ProvideErrorMetadata>(e: &SdkError<E>) -> Option<String> {
    e.as_service_error().and_then(|se| se.code()).map(str::to_owned)
}

fn status_of<E>(e: &SdkError<E>) -> u16 {
    e.raw_response().map_or(0, |r| r.status().as_u16())
}

#[test]
fn each_bucket_throttles_on_its_own() {
    let w = world_of(2, &[]);
    let c = iam(&w);
    w.model
        .set(&[
            "throttle=on",
            "throttle.iam.rate=0.001",
            "throttle.iam.burst=5",
            "throttle.iam-mutating.rate=0.001",
            "throttle.iam-mutating.burst=2",
            "throttle.sts.rate=0.001",
            "throttle.sts.burst=3",
        ])
        .unwrap();
    block_on(async {
        for i in 0..2 {
            c.create_user().user_name(format!("t{i}")).send().await.unwrap();
        }
        let e = c.create_user().user_name("t2").send().await.unwrap_err();
        assert_eq!((code_of(&e).as_deref(), status_of(&e)), (Some("Throttling"), 400));
        for _ in 0..3 {
            c.get_user().user_name("t0").send().await.expect("reads have their own bucket");
        }
        let e = c.get_user().user_name("t0").send().await.unwrap_err();
        assert_eq!(code_of(&e).as_deref(), Some("Throttling"));
        let sts = sts_with(&w, "testing", "testing");
        for _ in 0..3 {
            sts.get_caller_identity().send().await.expect("STS has its own bucket");
        }
        let e = sts.get_caller_identity().send().await.unwrap_err();
        assert_eq!(code_of(&e).as_deref(), Some("Throttling"), "in STS's error shape");
        iam_at(w.model.account_url(1)).create_user().user_name("t3").send().await.expect("another account");
    });
    let s = w.model.stats();
    assert_eq!(
        (s.throttled.get("iam-mutating"), s.throttled.get("iam"), s.throttled.get("sts")),
        (Some(&1), Some(&1), Some(&1))
    );
}

#[test]
fn a_new_key_is_refused_until_it_propagates() {
    let w = world(&["propagation=on", "propagation.min=120s"]);
    let c = iam(&w);
    let key = block_on(async {
        c.create_user().user_name("p").send().await.unwrap();
        c.create_access_key().user_name("p").send().await.unwrap().access_key.unwrap()
    });
    let sts = sts_with(&w, &key.access_key_id, &key.secret_access_key);
    let e = block_on(sts.get_caller_identity().send()).unwrap_err();
    assert_eq!(code_of(&e).as_deref(), Some("InvalidClientTokenId"));
    let with_new = aws_sdk_iam::Client::new(&sdk_config(w.model.url(), &key.access_key_id, &key.secret_access_key));
    let e = block_on(with_new.get_user().user_name("p").send()).unwrap_err();
    assert_eq!(code_of(&e).as_deref(), Some("InvalidClientTokenId"), "IAM too");
    block_on(c.get_user().user_name("p").send()).expect("an older key works");
    // A short delay: the key starts to work (waited for, not slept).
    w.model.set(&["propagation.min=500ms", "propagation.max=800ms"]).unwrap();
    let key = block_on(c.create_access_key().user_name("p").send()).unwrap().access_key.unwrap();
    let sts = sts_with(&w, &key.access_key_id, &key.secret_access_key);
    let created = Instant::now();
    let mut refused = 0;
    while block_on(sts.get_caller_identity().send()).is_err() {
        refused += 1;
        assert!(created.elapsed() < Duration::from_secs(30), "the key never worked");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(refused >= 1 && created.elapsed() >= Duration::from_millis(500), "{refused} refusals");
    assert!(w.model.stats().not_yet_propagated >= 3);
}

#[test]
fn a_propagated_key_can_flap() {
    let w = world(&["propagation=on", "propagation.max=0s", "propagation.flap=120s", "propagation.flap-failure=1"]);
    let c = iam(&w);
    let key = block_on(async {
        c.create_user().user_name("f").send().await.unwrap();
        c.create_access_key().user_name("f").send().await.unwrap().access_key.unwrap()
    });
    let sts = sts_with(&w, &key.access_key_id, &key.secret_access_key);
    assert!(block_on(sts.get_caller_identity().send()).is_err());
    w.model.set(&["propagation.flap-failure=0"]).unwrap();
    block_on(sts.get_caller_identity().send()).expect("no failures drawn any more");
    assert_eq!(w.model.stats().flapped, 1);
}

#[test]
fn quotas_moto_lacks_are_enforced() {
    let w = world(&[]);
    let c = iam(&w);
    block_on(async {
        c.create_user().user_name("q").send().await.unwrap();
        let tags = |r: std::ops::Range<usize>| Some(r.map(|i| tag(format!("t{i}"))).collect::<Vec<_>>());
        c.tag_user().user_name("q").set_tags(tags(0..30)).send().await.unwrap();
        c.tag_user().user_name("q").set_tags(tags(30..50)).send().await.unwrap();
        let e = c.tag_user().user_name("q").set_tags(tags(50..51)).send().await.unwrap_err();
        assert_eq!(code_of(&e).as_deref(), Some("LimitExceeded"));
        c.untag_user().user_name("q").tag_keys("t0").send().await.unwrap();
        c.tag_user().user_name("q").set_tags(tags(50..51)).send().await.expect("a slot was freed");
        let doc = |n: usize| {
            format!("{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"iam:GetUser\",\"Resource\":\"arn:aws:iam::123456789012:user/{}\"}}]}}", "x".repeat(n))
        };
        let base = doc(0).len();
        c.create_policy().policy_name("fits").policy_document(doc(6_144 - base)).send().await.unwrap();
        let e = c.create_policy().policy_name("big").policy_document(doc(6_145 - base)).send().await.unwrap_err();
        assert_eq!(code_of(&e).as_deref(), Some("LimitExceeded"));
        let e = c
            .put_user_policy()
            .user_name("q")
            .policy_name("i")
            .policy_document(doc(2_049 - base))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code_of(&e).as_deref(), Some("LimitExceeded"));
        c.put_user_policy().user_name("q").policy_name("i").policy_document(doc(2_048 - base)).send().await.unwrap();
    });
    w.model.set(&["quotas=off"]).unwrap();
    let big = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Sid\":\"".to_owned() + &"y".repeat(7_000) + "\"}]}";
    block_on(c.create_policy().policy_name("moto-alone").policy_document(big).send()).expect("moto alone takes it");
    assert_eq!(w.model.stats().quota_refusals.values().sum::<u64>(), 3);
}

#[test]
fn latency_is_added_per_service() {
    let w = world(&["latency=on", "latency.iam=300ms", "latency.sts=0ms"]);
    let started = Instant::now();
    block_on(iam(&w).list_users().send()).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn the_control_endpoints_and_a_moto_reset() {
    let w = world(&[]);
    seed(&iam(&w));
    let url = w.model.url().trim_start_matches("http://").to_owned();
    let request = |method: &str, path: &str, body: &str| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&url).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(request("POST", "/model/config", "paging.size=3\nthrottle.sts.rate=7").contains("paging.size=3"));
    assert_eq!(w.model.config().throttle.sts.per_second, 7.0);
    assert!(request("POST", "/model/config", "paging.size=none").starts_with("HTTP/1.1 400"));
    let stats = request("GET", "/model/stats", "");
    assert!(stats.contains("\"CreateUser\":5"), "{stats}");
    request("POST", "/moto-api/reset", "");
    assert!(!w.model.stats().requests.contains_key("CreateUser"), "a moto reset resets the counts");
    assert!(block_on(iam(&w).list_users().send()).unwrap().users.is_empty());
}
