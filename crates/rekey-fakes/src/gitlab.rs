//! A fake of GitLab's CI/CD variables API (REST v4) for projects and groups:
//!
//! - `GET|PUT /api/v4/{projects|groups}/:id/variables/:key[?filter[environment_scope]=S]`
//!   → 200 with the variable, 404 `{"message": "404 Variable Not Found"}`;
//! - `POST /api/v4/{projects|groups}/:id/variables` → 201, or 400
//!   `{"message": {"key": ["(KEY) has already been taken"]}}` when the key exists in that scope.
//!
//! `:id` is a number or a URL-encoded path (`group%2Fproject`). Every request needs
//! `PRIVATE-TOKEN` (or `Authorization: Bearer`) with the configured token (401 otherwise).
//! Masked values must be at least 8 characters of the Base64 alphabets (and `@:.~`), single line
//! (400 `{"message": {"value": ["is invalid"]}}` otherwise), as GitLab requires.

use crate::serve::{Handler, Reply, Req};
use serde_json::{json, Value};
use std::{collections::BTreeMap, sync::Mutex};

/// One variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Its value.
    pub value: String,
    /// Masked in job logs.
    pub masked: bool,
    /// Protected refs only.
    pub protected: bool,
    /// Writes so far.
    pub writes: u32,
}

/// Variables keyed by (holder `projects/ID` or `groups/ID`, key, environment scope).
type Vars = BTreeMap<(String, String, String), Variable>;

/// The fake's state.
#[derive(Debug)]
pub struct Gitlab {
    token: String,
    vars: Mutex<Vars>,
}

impl Gitlab {
    /// A fake accepting `token`.
    pub fn new(token: &str) -> Self {
        Self { token: token.to_owned(), vars: Mutex::new(BTreeMap::new()) }
    }

    /// The variable `key` of `holder` (`projects/acme/app`, `groups/acme`) in `scope`.
    pub fn variable(&self, holder: &str, key: &str, scope: &str) -> Option<Variable> {
        self.lock().get(&(holder.to_owned(), key.to_owned(), scope.to_owned())).cloned()
    }

    /// Every variable.
    pub fn all(&self) -> Vec<((String, String, String), Variable)> {
        self.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vars> {
        self.vars.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self, id: (String, String, String), body: &Value, create: bool) -> Reply {
        let Some(value) = body["value"].as_str() else { return invalid("value", "is missing") };
        let masked = body["masked"].as_bool().unwrap_or(false);
        if masked && !maskable(value) {
            return invalid("value", "is invalid");
        }
        let mut vars = self.lock();
        let exists = vars.contains_key(&id);
        match (create, exists) {
            (true, true) => return invalid("key", &format!("({}) has already been taken", id.1)),
            (false, false) => return (404, Some(json!({ "message": "404 Variable Not Found" }))),
            _ => {}
        }
        let v =
            vars.entry(id.clone()).or_insert(Variable { value: String::new(), masked, protected: false, writes: 0 });
        v.value = value.to_owned();
        v.masked = masked;
        v.protected = body["protected"].as_bool().unwrap_or(v.protected);
        v.writes += 1;
        let shown = json!({
            "key": id.1, "value": value, "masked": v.masked, "protected": v.protected,
            "environment_scope": id.2, "variable_type": "env_var",
        });
        (if create { 201 } else { 200 }, Some(shown))
    }
}

/// GitLab's rule for masked values: at least 8 characters of the Base64 alphabets of RFC 4648
/// (`+/` and `-_`, `=`) and `@ : . ~`.
fn maskable(v: &str) -> bool {
    v.len() >= 8 && v.chars().all(|c| c.is_ascii_alphanumeric() || "+/=-_@:.~".contains(c))
}

fn invalid(field: &str, why: &str) -> Reply {
    (400, Some(json!({ "message": { field: [why] } })))
}

impl Handler for Gitlab {
    fn handle(&self, req: &Req) -> Reply {
        let given = req
            .header("private-token")
            .or_else(|| req.header("authorization").and_then(|a| a.strip_prefix("Bearer ")))
            .unwrap_or("");
        if given != self.token {
            return (401, Some(json!({ "message": "401 Unauthorized" })));
        }
        let path = req.path();
        let (holder, rest) = match path.as_slice() {
            ["api", "v4", kind @ ("projects" | "groups"), id, "variables", rest @ ..] => (format!("{kind}/{id}"), rest),
            _ => return (404, Some(json!({ "error": "404 Not Found" }))),
        };
        let body = req.json().unwrap_or(Value::Null);
        let scope = req
            .query
            .get("filter[environment_scope]")
            .cloned()
            .or_else(|| body["environment_scope"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "*".into());
        match (req.method.as_str(), rest) {
            ("GET", [key]) => match self.variable(&holder, key, &scope) {
                Some(v) => (
                    200,
                    Some(
                        json!({ "key": key, "value": v.value, "masked": v.masked, "protected": v.protected, "environment_scope": scope }),
                    ),
                ),
                None => (404, Some(json!({ "message": "404 Variable Not Found" }))),
            },
            ("PUT", [key]) => self.write((holder, (*key).to_owned(), scope), &body, false),
            ("POST", []) => {
                let Some(key) = body["key"].as_str() else { return invalid("key", "is missing") };
                if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return invalid("key", "can contain only letters, digits and '_'.");
                }
                let scope = body["environment_scope"].as_str().unwrap_or("*").to_owned();
                self.write((holder, key.to_owned(), scope), &body, true)
            }
            _ => (404, Some(json!({ "error": "404 Not Found" }))),
        }
    }
}
