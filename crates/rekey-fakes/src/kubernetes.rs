//! A fake Kubernetes API server for Secrets and Deployments, served over TLS with a
//! certificate of its own CA (written out for the client to trust):
//!
//! - `GET /api/v1/namespaces/{ns}/secrets/{name}` → 200 the Secret, 404 `Status` NotFound;
//! - `POST /api/v1/namespaces/{ns}/secrets` → 201, 409 AlreadyExists;
//! - `PUT /api/v1/namespaces/{ns}/secrets/{name}` → 200; 409 Conflict when the body's
//!   `metadata.resourceVersion` is not the current one (optimistic concurrency; an update
//!   without one is unconditional, as for Secrets on a real server); 404 when missing; 422 when
//!   a `data` value is not base64;
//! - `GET|PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}` (strategic or JSON merge
//!   patch) → 200; a changed pod template bumps the Deployment's generation (a rollout).
//!
//! Every request needs `Authorization: Bearer TOKEN` with the configured token (401 `Status`
//! Unauthorized otherwise). Errors are `Status` objects like the real server's.

use crate::serve::{Handler, Reply, Req};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::{collections::BTreeMap, sync::Mutex};

/// A Deployment's state, as far as restarts go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployment {
    /// Pod template annotations.
    pub template_annotations: BTreeMap<String, String>,
    /// Bumped by every change of the pod template (each one a rollout).
    pub generation: u64,
}

#[derive(Debug, Default)]
struct State {
    rv: u64,
    secrets: BTreeMap<(String, String), Value>,
    deployments: BTreeMap<(String, String), Deployment>,
    /// The next N updates find the Secret changed by someone else first.
    interleave: u32,
}

/// The fake's state.
#[derive(Debug)]
pub struct Kubernetes {
    token: String,
    state: Mutex<State>,
}

fn status(code: u16, reason: &str, message: &str) -> Reply {
    (
        code,
        Some(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code,
        })),
    )
}

impl Kubernetes {
    /// A fake accepting `token`, with these Deployments (`(namespace, name)`).
    pub fn new(token: &str, deployments: &[(&str, &str)]) -> Self {
        let mut state = State::default();
        for (ns, name) in deployments {
            state
                .deployments
                .insert(((*ns).into(), (*name).into()), Deployment { generation: 1, ..Default::default() });
        }
        Self { token: token.to_owned(), state: Mutex::new(state) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The decoded data of Secret `ns/name`.
    pub fn secret_data(&self, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
        let st = self.lock();
        let obj = st.secrets.get(&(ns.to_owned(), name.to_owned()))?;
        let data = obj["data"].as_object()?;
        Some(
            data.iter()
                .filter_map(|(k, v)| {
                    let bytes = base64::engine::general_purpose::STANDARD.decode(v.as_str()?).ok()?;
                    Some((k.clone(), String::from_utf8(bytes).ok()?))
                })
                .collect(),
        )
    }

    /// Secret `ns/name` as stored.
    pub fn secret(&self, ns: &str, name: &str) -> Option<Value> {
        self.lock().secrets.get(&(ns.to_owned(), name.to_owned())).cloned()
    }

    /// Stores a Secret directly (a value someone else put there).
    pub fn put_secret(&self, ns: &str, name: &str, data: &[(&str, &str)]) {
        let mut st = self.lock();
        st.rv += 1;
        let enc: Map<String, Value> = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(base64::engine::general_purpose::STANDARD.encode(v))))
            .collect();
        let obj = json!({ "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": { "name": name, "namespace": ns, "resourceVersion": st.rv.to_string() }, "data": enc });
        st.secrets.insert((ns.to_owned(), name.to_owned()), obj);
    }

    /// Deployment `ns/name`.
    pub fn deployment(&self, ns: &str, name: &str) -> Option<Deployment> {
        self.lock().deployments.get(&(ns.to_owned(), name.to_owned())).cloned()
    }

    /// The next `n` updates of a Secret find it changed by another writer since they read it.
    pub fn interleave_writers(&self, n: u32) {
        self.lock().interleave = n;
    }

    fn create(&self, ns: &str, body: Value) -> Reply {
        let Some(name) = body["metadata"]["name"].as_str().map(str::to_owned) else {
            return status(422, "Invalid", "Secret \"\" is invalid: metadata.name: Required value");
        };
        if body["kind"] != "Secret" || body["metadata"]["namespace"].as_str().is_some_and(|n| n != ns) {
            return status(
                400,
                "BadRequest",
                "the namespace of the object does not match the namespace of the request",
            );
        }
        let mut st = self.lock();
        if st.secrets.contains_key(&(ns.to_owned(), name.clone())) {
            return status(409, "AlreadyExists", &format!("secrets \"{name}\" already exists"));
        }
        st.rv += 1;
        let stored = stamp(body, ns, st.rv);
        st.secrets.insert((ns.to_owned(), name), stored.clone());
        (201, Some(stored))
    }

    fn update(&self, ns: &str, name: &str, body: Value) -> Reply {
        if let Some(bad) = bad_data(&body) {
            return status(422, "Invalid", &format!("Secret \"{name}\" is invalid: data[{bad}]: illegal base64 data"));
        }
        let mut st = self.lock();
        let key = (ns.to_owned(), name.to_owned());
        if st.interleave > 0 && st.secrets.contains_key(&key) {
            st.interleave -= 1;
            st.rv += 1;
            let rv = st.rv.to_string();
            if let Some(obj) = st.secrets.get_mut(&key) {
                obj["metadata"]["resourceVersion"] = rv.into();
            }
        }
        let Some(current) = st.secrets.get(&key) else {
            return status(404, "NotFound", &format!("secrets \"{name}\" not found"));
        };
        let given = body["metadata"]["resourceVersion"].as_str();
        if given.is_some_and(|rv| Some(rv) != current["metadata"]["resourceVersion"].as_str()) {
            return status(409, "Conflict", &format!("Operation cannot be fulfilled on secrets \"{name}\": the object has been modified; please apply your changes to the latest version and try again"));
        }
        st.rv += 1;
        let stored = stamp(body, ns, st.rv);
        st.secrets.insert(key, stored.clone());
        (200, Some(stored))
    }

    fn patch_deployment(&self, ns: &str, name: &str, req: &Req) -> Reply {
        let ct = req.header("content-type").unwrap_or("");
        if !ct.starts_with("application/strategic-merge-patch+json") && !ct.starts_with("application/merge-patch+json")
        {
            return status(415, "UnsupportedMediaType", &format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, got {ct}"));
        }
        let Some(patch) = req.json() else { return status(400, "BadRequest", "invalid JSON") };
        let mut st = self.lock();
        let Some(d) = st.deployments.get_mut(&(ns.to_owned(), name.to_owned())) else {
            return status(404, "NotFound", &format!("deployments.apps \"{name}\" not found"));
        };
        let before = d.template_annotations.clone();
        if let Some(ann) = patch["spec"]["template"]["metadata"]["annotations"].as_object() {
            for (k, v) in ann {
                match v.as_str() {
                    Some(s) => d.template_annotations.insert(k.clone(), s.to_owned()),
                    None => d.template_annotations.remove(k),
                };
            }
        }
        if d.template_annotations != before {
            d.generation += 1;
        }
        (200, Some(deployment_json(ns, name, d)))
    }
}

fn stamp(mut body: Value, ns: &str, rv: u64) -> Value {
    body["metadata"]["namespace"] = ns.into();
    body["metadata"]["resourceVersion"] = rv.to_string().into();
    body
}

fn bad_data(body: &Value) -> Option<String> {
    let data = body["data"].as_object()?;
    data.iter()
        .find(|(_, v)| v.as_str().is_none_or(|s| base64::engine::general_purpose::STANDARD.decode(s).is_err()))
        .map(|(k, _)| k.clone())
}

fn deployment_json(ns: &str, name: &str, d: &Deployment) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": name, "namespace": ns, "generation": d.generation },
        "spec": { "template": { "metadata": { "annotations": d.template_annotations } } },
    })
}

impl Handler for Kubernetes {
    fn handle(&self, req: &Req) -> Reply {
        let auth = req.header("authorization").unwrap_or("");
        if auth.strip_prefix("Bearer ") != Some(self.token.as_str()) {
            return status(401, "Unauthorized", "Unauthorized");
        }
        let path = req.path();
        let body = req.json().unwrap_or(Value::Null);
        match (req.method.as_str(), path.as_slice()) {
            ("GET", ["api", "v1", "namespaces", ns, "secrets", name]) => match self.secret(ns, name) {
                Some(s) => (200, Some(s)),
                None => status(404, "NotFound", &format!("secrets \"{name}\" not found")),
            },
            ("POST", ["api", "v1", "namespaces", ns, "secrets"]) => self.create(ns, body),
            ("PUT", ["api", "v1", "namespaces", ns, "secrets", name]) => self.update(ns, name, body),
            ("GET", ["apis", "apps", "v1", "namespaces", ns, "deployments", name]) => match self.deployment(ns, name) {
                Some(d) => (200, Some(deployment_json(ns, name, &d))),
                None => status(404, "NotFound", &format!("deployments.apps \"{name}\" not found")),
            },
            ("PATCH", ["apis", "apps", "v1", "namespaces", ns, "deployments", name]) => {
                self.patch_deployment(ns, name, req)
            }
            _ => status(404, "NotFound", "the server could not find the requested resource"),
        }
    }
}
