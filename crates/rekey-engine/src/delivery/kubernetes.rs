//! The Kubernetes Secret target. The Secret is read (`GET`), then replaced with an update that
//! names the `resourceVersion` read (`PUT`; the API server answers 409 if anyone changed it in
//! between, and the read and update are done again), or created (`POST`; a 409 there means it
//! appeared meanwhile). Other data keys of the Secret are kept. Then each named Deployment is
//! restarted the way `kubectl rollout restart` does it: a patch of its pod template's
//! annotations, here `rekey.dev/rotation: ROTATION` — a value stable per rotation, so a
//! delivery repeated after a crash changes nothing and starts no second rollout.
//!
//! Permissions (RBAC, in the Secret's namespace): `get`, `create`, `update` on `secrets`
//! (`resourceNames` can narrow it to the one Secret, except for `create`), and `patch` on
//! `deployments` (group `apps`) when restarting.

use super::{
    http::{segment, Http, Request},
    kubeconfig, Delivery, Sink,
};
use crate::{failpoint::crash_point, Error, Result};
use async_trait::async_trait;
use base64::Engine as _;
use http::{Method, StatusCode};
use rekey_domain::targets::KubernetesTarget;
use std::{path::Path, time::Duration};
use zeroize::Zeroizing;

/// Pod template annotation naming the rotation that restarted a Deployment.
pub const RESTART_ANNOTATION: &str = "rekey.dev/rotation";
/// Read-update rounds before giving up on a Secret others keep changing.
const CONFLICT_ROUNDS: u32 = 5;

/// A Kubernetes Secret target.
#[derive(Debug, Clone)]
pub struct Kubernetes(pub KubernetesTarget);

/// A connection to the API server.
struct Api {
    http: Http,
    access: kubeconfig::ClusterAccess,
}

impl Api {
    fn request(&self, method: Method, path: &str) -> Request<'static> {
        let req = Request::new(method, format!("{}{path}", self.access.server));
        match self.access.token() {
            Some(t) => req.header("authorization", format!("Bearer {t}")),
            None => req,
        }
    }
}

impl Kubernetes {
    fn connect(&self) -> Result<Api> {
        let access = match &self.0.kubeconfig {
            Some(p) => kubeconfig::load(Path::new(p), self.0.context.as_deref())?,
            None => kubeconfig::in_cluster(Path::new(kubeconfig::SERVICE_ACCOUNT_DIR))?,
        };
        let http = Http::with_tls(access.tls_config()?, Duration::from_millis(self.0.timeout_ms));
        Ok(Api { http, access })
    }

    fn secrets_path(&self) -> String {
        format!("/api/v1/namespaces/{}/secrets", segment(&self.0.namespace))
    }

    /// Writes the two data keys; other keys of the Secret are kept.
    async fn write_secret(&self, api: &Api, data: &[(&str, Zeroizing<String>)], rotation: &str) -> Result<()> {
        let item = format!("{}/{}", self.secrets_path(), segment(&self.0.name));
        for _ in 0..CONFLICT_ROUNDS {
            let what = format!("{}: GET", self.describe());
            let got = api.http.send(&api.request(Method::GET, &item), &what).await?;
            let (method, path, mut body) = match got.status {
                StatusCode::OK => (Method::PUT, item.clone(), got.json(&what)?),
                StatusCode::NOT_FOUND => (Method::POST, self.secrets_path(), self.new_secret()),
                _ => return Err(got.failure(&what)),
            };
            if !body["data"].is_object() {
                body["data"] = serde_json::json!({});
            }
            for (k, v) in data {
                body["data"][*k] = serde_json::Value::String(v.to_string());
            }
            if !body["metadata"]["annotations"].is_object() {
                body["metadata"]["annotations"] = serde_json::json!({});
            }
            body["metadata"]["annotations"][RESTART_ANNOTATION] = rotation.into();
            let what = format!("{}: {method}", self.describe());
            let answer = api.http.send(&api.request(method, &path).json(&body), &what).await?;
            match answer.status {
                s if s.is_success() => return Ok(()),
                // Changed (PUT) or created (POST) by someone else since the read: read again.
                StatusCode::CONFLICT => {
                    tracing::info!(k8s_secret = %self.describe(), "the Secret changed meanwhile; reading it again")
                }
                _ => return Err(answer.failure(&what)),
            }
        }
        Err(Error::Delivery(format!("{}: the Secret kept changing ({CONFLICT_ROUNDS} conflicts)", self.describe())))
    }

    fn new_secret(&self) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": self.0.name,
                "namespace": self.0.namespace,
                "labels": { "app.kubernetes.io/managed-by": "rekey" },
            },
            "data": {},
        })
    }

    /// `kubectl rollout restart`, with a value stable per rotation.
    async fn restart(&self, api: &Api, deployment: &str, rotation: &str) -> Result<()> {
        let path =
            format!("/apis/apps/v1/namespaces/{}/deployments/{}", segment(&self.0.namespace), segment(deployment));
        let patch = serde_json::json!({
            "spec": { "template": { "metadata": { "annotations": { RESTART_ANNOTATION: rotation } } } }
        });
        let mut req = api.request(Method::PATCH, &path).json(&patch);
        req.content_type = "application/strategic-merge-patch+json";
        let what = format!("{}: restart deployment {deployment}", self.describe());
        let answer = api.http.send(&req, &what).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(answer.failure(&what))
        }
    }
}

#[async_trait]
impl Sink for Kubernetes {
    fn describe(&self) -> String {
        self.0.describe()
    }

    fn writes_in_parts(&self) -> bool {
        true
    }

    fn ready(&self) -> Result<()> {
        self.connect().map(drop)
    }

    async fn deliver(&self, d: &Delivery<'_>) -> Result<()> {
        let api = self.connect()?;
        let b64 = |v: &str| Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(v));
        let data = [
            (self.0.key_id_key.as_str(), b64(d.key_id.unwrap_or_default())),
            (self.0.secret_key.as_str(), b64(d.secret.expose())),
        ];
        self.write_secret(&api, &data, d.rotation_id).await?;
        crash_point("delivery:kubernetes:after-secret");
        for deployment in &self.0.restart {
            self.restart(&api, deployment, d.rotation_id).await?;
        }
        Ok(())
    }
}
