//! An account whose row failed its integrity check (changed in the database without the master
//! key): the API lists and shows it with the status `tampered`, as the CLI does, in the shape
//! the OpenAPI document declares; the accounts around it keep their stored status.

use crate::{schema, world::World};

#[tokio::test]
async fn an_altered_account_is_listed_and_shown_as_tampered() {
    let w = World::new().await;
    let (svc, bob) = (w.svc.id.to_string(), w.bob.id.to_string());
    assert_eq!(w.sql("UPDATE accounts SET user_id = 'AIDAALTEREDBEHINDREKEY' WHERE id = ?", &[&svc]).await, 1);
    let doc = w.doc().await;
    let token = Some(w.token("admin"));
    let list = w.call("GET", "/api/v1/accounts", token, None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let s = schema::response_schema(&doc, "get", "/api/v1/accounts", 200).unwrap();
    assert_eq!(schema::check(&doc, s, &list.body), Vec::<String>::new());
    let status_of = |id: &str| {
        let items = list.body["items"].as_array().unwrap();
        items.iter().find(|i| i["id"] == id).map(|i| i["status"].clone())
    };
    assert_eq!(status_of(&svc), Some("tampered".into()), "{}", list.body);
    assert_eq!(status_of(&bob), Some("ok".into()), "the others keep their status: {}", list.body);
    let one = w.call("GET", &format!("/api/v1/accounts/{svc}"), token, None).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["status"], "tampered", "{}", one.body);
    let s = schema::response_schema(&doc, "get", "/api/v1/accounts/{account}", 200).unwrap();
    assert_eq!(schema::check(&doc, s, &one.body), Vec::<String>::new());
    // Named by its path, the same.
    let by_path = w.call("GET", "/api/v1/accounts/p%2Fsvc%2Faccess-key", token, None).await;
    assert_eq!(by_path.status, 200, "{}", by_path.body);
    assert_eq!(by_path.body["id"], one.body["id"], "{}", by_path.body);
    assert_eq!(by_path.body["status"], "tampered", "{}", by_path.body);
    let other = w.call("GET", &format!("/api/v1/accounts/{bob}"), token, None).await;
    assert_eq!(other.body["status"], "ok", "{}", other.body);
}

/// A revoked token whose row is put back as it was before the revocation (an authentic row: its
/// MAC binds the content, not the age) stays revoked: the revocation is read from the audit log
/// too.
#[tokio::test]
async fn a_revoked_token_put_back_as_it_was_stays_revoked() {
    let w = World::new().await;
    let minted = w.engine.create_token("leaked", rekey_domain::Role::Operator, vec![], None).await.unwrap();
    let (id, bearer) = (minted.token.id.clone(), minted.bearer.expose().to_owned());
    w.sql("CREATE TABLE before_revoke AS SELECT * FROM api_tokens WHERE id = ?", &[&id]).await;
    w.engine.revoke_token(&id).await.unwrap();
    let put_back = "UPDATE api_tokens SET revoked_at = (SELECT revoked_at FROM before_revoke), \
                    mac = (SELECT mac FROM before_revoke) WHERE id = ?";
    assert_eq!(w.sql(put_back, &[&id]).await, 1);
    assert_eq!(
        w.sql_texts("SELECT id FROM api_tokens WHERE revoked_at IS NULL AND id = ?", &[&id]).await,
        std::slice::from_ref(&id)
    );
    for path in ["/api/v1/whoami", "/api/v1/accounts?limit=1"] {
        let a = w.call("GET", path, Some(&bearer), None).await;
        assert_eq!(a.status, 401, "{path}: {}", a.body);
        assert_eq!(a.body["message"], "the API token was revoked", "{path}: {}", a.body);
    }
    let other = w.call("GET", "/api/v1/whoami", Some(w.token("operator")), None).await;
    assert_eq!(other.status, 200, "other tokens are untouched: {}", other.body);
}
