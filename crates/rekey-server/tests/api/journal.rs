//! A rotation's journal `data` as the API shows it: every time in it is RFC 3339 in UTC with
//! milliseconds, as every other timestamp of the API; new journal writes store that form, and a
//! journal written before (any RFC 3339 precision or offset) is shown in it too.

use crate::world::World;
use serde_json::Value;

/// Whether `t` is `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn one_form(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
    let marks = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'.'), (23, b'Z')];
    b.len() == 24 && digits.iter().all(|&i| b[i].is_ascii_digit()) && marks.iter().all(|&(i, c)| b[i] == c)
}

/// The times of a journal's data: its `…_at`, `…_by` and `…_since` strings.
fn times(data: &Value) -> Vec<(String, String)> {
    let fields = data.as_object().unwrap();
    let timed = |k: &str| k.ends_with("_at") || k == "confirm_by" || k.ends_with("_since");
    fields
        .iter()
        .filter(|(k, v)| timed(k) && v.is_string())
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn the_one_form_is_what_it_says() {
    assert!(one_form("2026-11-24T08:06:59.123Z"));
    for other in ["2026-11-24T08:06:59Z", "2026-11-24T08:06:59.123456Z", "2026-11-24T08:06:59.123+00:00"] {
        assert!(!one_form(other), "{other}");
    }
}

#[tokio::test]
async fn journal_times_are_stored_and_shown_in_one_form() {
    let w = World::new().await;
    let token = Some(w.token("admin"));
    let id = w.rotation_ops.clone();
    let stored = w.sql_texts("SELECT data FROM rotations WHERE id = ?", &[&id]).await;
    let stored: Value = serde_json::from_str(&stored[0]).unwrap();
    let written = times(&stored);
    assert!(written.iter().any(|(k, _)| k == "create_requested_at"), "a rotation records its times: {stored}");
    for (k, t) in &written {
        assert!(one_form(t), "stored {k} = {t}");
    }
    // A journal written before: whole seconds, nanoseconds, an offset.
    let old = serde_json::json!({
        "create_requested_at": "2026-11-24T08:06:59Z",
        "cutover_at": "2026-11-24T08:07:00.123456789Z",
        "confirm_by": "2026-11-24T10:07:00.5+02:00",
        "phases": ["preflight", "done"],
    });
    let n = w.sql("UPDATE rotations SET data = ? WHERE id = ?", &[&old.to_string(), &id]).await;
    assert_eq!(n, 1);
    let shown = w.call("GET", &format!("/api/v1/rotations/{id}"), token, None).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    let data = &shown.body["data"];
    assert_eq!(data["create_requested_at"], "2026-11-24T08:06:59.000Z", "{data}");
    assert_eq!(data["cutover_at"], "2026-11-24T08:07:00.123Z", "{data}");
    assert_eq!(data["confirm_by"], "2026-11-24T08:07:00.500Z", "{data}");
    assert_eq!(data["phases"], serde_json::json!(["preflight", "done"]), "the rest as it is");
    let listed = w.call("GET", "/api/v1/rotations", token, None).await;
    let item = listed.body["items"].as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).cloned().unwrap();
    for (k, t) in times(&item["data"]) {
        assert!(one_form(&t), "listed {k} = {t}");
    }
}
