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
