//! GitLab CI/CD variables of a project or a group, created or updated (GitLab's REST API v4):
//! `PUT /projects/:id/variables/:key` (or `/groups/:id/…`) updates a variable of the target's
//! environment scope (`filter[environment_scope]`); a 404 means there is none yet, so
//! `POST …/variables` creates it; a create that finds it exists after all (a concurrent writer,
//! or a retry after a lost answer) falls back to the update. Each write sets the value and the
//! masked and protected flags, so a delivery repeated after a crash writes the same thing.
//!
//! The token (a project, group or personal access token with the `api` scope, role Maintainer
//! or Owner) is read from its variable or file at each send and sent as `PRIVATE-TOKEN`.

use super::{
    http::{read_token, segment, Http, Request},
    Delivery, Sink,
};
use crate::{failpoint::crash_point, Result};
use async_trait::async_trait;
use http::{Method, StatusCode};
use rekey_crypto::Secret;
use rekey_domain::targets::{token_source, GitlabScope, GitlabTarget};
use std::time::Duration;
use zeroize::Zeroizing;

/// A GitLab CI/CD variables target.
#[derive(Debug, Clone)]
pub struct Gitlab(pub GitlabTarget);

impl Gitlab {
    fn variables_url(&self) -> String {
        let holder = match self.0.scope {
            GitlabScope::Project => "projects",
            GitlabScope::Group => "groups",
        };
        format!("{}/api/v4/{holder}/{}/variables", self.0.url.trim_end_matches('/'), segment(&self.0.path))
    }

    fn token(&self) -> Result<Zeroizing<String>> {
        let src = token_source(self.0.token_env.as_ref(), self.0.token_file.as_ref(), "GitLab token")?;
        read_token(&src, "GitLab token")
    }

    fn body(&self, name: &str, value: &Secret) -> serde_json::Value {
        serde_json::json!({
            "key": name,
            "value": value.expose(),
            "masked": self.0.masked,
            "protected": self.0.protected,
            "environment_scope": self.0.environment_scope,
            "variable_type": "env_var",
            "raw": true,
        })
    }

    async fn update(&self, http: &Http, token: &str, name: &str, value: &Secret) -> Result<StatusCode> {
        let url = format!(
            "{}/{name}?filter%5Benvironment_scope%5D={}",
            self.variables_url(),
            segment(&self.0.environment_scope)
        );
        let what = format!("{}: PUT {name}", self.describe());
        let req =
            Request::new(Method::PUT, url).header("private-token", token.to_owned()).json(&self.body(name, value));
        let a = http.send(&req, &what).await?;
        match a.status {
            s if s.is_success() => Ok(s),
            StatusCode::NOT_FOUND => Ok(StatusCode::NOT_FOUND),
            _ => Err(a.failure(&what)),
        }
    }

    async fn create(&self, http: &Http, token: &str, name: &str, value: &Secret) -> Result<StatusCode> {
        let what = format!("{}: POST {name}", self.describe());
        let req = Request::new(Method::POST, self.variables_url())
            .header("private-token", token.to_owned())
            .json(&self.body(name, value));
        let a = http.send(&req, &what).await?;
        match a.status {
            s if s.is_success() => Ok(s),
            // "has already been taken": it exists after all.
            StatusCode::BAD_REQUEST if String::from_utf8_lossy(&a.body).contains("already been taken") => {
                Ok(StatusCode::CONFLICT)
            }
            _ => Err(a.failure(&what)),
        }
    }

    async fn write(&self, http: &Http, token: &str, name: &str, value: &Secret) -> Result<()> {
        if self.update(http, token, name, value).await? != StatusCode::NOT_FOUND {
            return Ok(());
        }
        if self.create(http, token, name, value).await? != StatusCode::CONFLICT {
            return Ok(());
        }
        match self.update(http, token, name, value).await? {
            StatusCode::NOT_FOUND => Err(crate::Error::Delivery(format!(
                "{}: variable {name} exists and does not exist (deleted while rekey wrote it?)",
                self.describe()
            ))),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl Sink for Gitlab {
    fn describe(&self) -> String {
        self.0.describe()
    }

    fn writes_in_parts(&self) -> bool {
        true
    }

    fn ready(&self) -> Result<()> {
        self.token().map(drop)
    }

    async fn deliver(&self, d: &Delivery<'_>) -> Result<()> {
        let token = self.token()?;
        let http = Http::system(Duration::from_millis(self.0.timeout_ms))?;
        let key_id = Secret::new(d.key_id.unwrap_or_default());
        self.write(&http, &token, &self.0.key_id_name, &key_id).await?;
        crash_point("delivery:gitlab:after-key-id");
        self.write(&http, &token, &self.0.secret_name, d.secret).await
    }
}
