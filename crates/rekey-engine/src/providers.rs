//! Providers: the AWS account connections rekey acts through (what PAM suites call a
//! configuration). A static provider's secret is sealed in the vault under `provider/NAME`.

use crate::{vault::check_secret_size, Engine, Error, Result};
use rekey_aws::{CallerIdentity, Conn, ConnCredentials};
use rekey_crypto::Secret;
use rekey_domain::{error::quote, AccessKeyId, Arn, AuditOutcome, ProviderName, Region, SecretState};
use rekey_store::{provider_secret_record, Origin, Provider, ProviderAuth};
use serde_json::json;

/// How a new provider authenticates.
#[derive(Debug, Clone)]
pub enum AuthSpec {
    /// A static access key and its secret.
    StaticKey {
        /// Key id.
        access_key_id: AccessKeyId,
        /// Secret access key.
        secret: Secret,
    },
    /// The AWS default credential chain.
    DefaultChain,
    /// AssumeRole on top of `source` (or the default chain).
    AssumeRole {
        /// Role ARN.
        role_arn: Arn,
        /// External id.
        external_id: Option<String>,
        /// Source provider.
        source: Option<ProviderName>,
    },
}

/// A provider to add.
#[derive(Debug, Clone)]
pub struct NewProvider {
    /// Its unique name, used by accounts and on the command line.
    pub name: ProviderName,
    /// The region its clients call.
    pub region: Region,
    /// Endpoint override.
    pub endpoint_url: Option<String>,
    /// How rekey authenticates to it: a static key, the default chain, or assume-role.
    pub auth: AuthSpec,
}

/// Checks an endpoint URL: `http(s)://host[:port][/path]`. A URL every call would fail on (a
/// port that cannot be, a query or fragment the signed requests would carry) is refused here,
/// where it is given, rather than met as a connection error at every call.
pub fn check_endpoint_url(url: &str) -> Result<()> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    // Credentials in the URL would be stored and shown with the provider: refuse without
    // repeating them.
    if rest.is_some_and(|r| r.split(['/', '?', '#']).next().unwrap_or("").contains('@')) {
        return Err(Error::usage(
            "the endpoint URL has credentials in it (USER:PASSWORD@HOST); they would be stored and shown in clear",
            "give the endpoint as http(s)://HOST[:PORT] and the credentials with --access-key-id/--secret-stdin, \
             --role-arn or --default-chain",
        ));
    }
    let invalid = |why: &str| {
        Error::usage(
            format!("invalid endpoint URL {}: {why}", quote(url)),
            "use http://HOST:PORT or https://HOST[/PATH], e.g. http://127.0.0.1:5000, with a port from 1 to 65535",
        )
    };
    let Some(rest) = rest.filter(|r| !r.chars().any(|c| c.is_whitespace() || c.is_control())) else {
        return Err(invalid("not an http:// or https:// URL"));
    };
    if rest.contains(['?', '#']) {
        return Err(invalid("a query or fragment would be sent with every AWS call"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    // An IPv6 address is bracketed: `[::1]:5000`.
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':').or(Some(tail).filter(|t| !t.is_empty()))),
            None => return Err(invalid("an IPv6 address without its closing ]")),
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(invalid("no host"));
    }
    if let Some(port) = port {
        let valid = port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !valid {
            return Err(invalid(&format!("port {} is not a number from 1 to 65535", quote(port))));
        }
    }
    Ok(())
}

fn check_external_id(x: &str) -> Result<()> {
    let ok = (2..=1224).contains(&x.len()) && x.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c));
    if !ok {
        return Err(Error::usage(
            format!("invalid external id {}", quote(x)),
            "an external id is 2 to 1224 letters, digits or + = , . @ : / - _",
        ));
    }
    Ok(())
}

impl Engine {
    /// Adds a provider (validating everything before writing).
    pub async fn add_provider(&self, p: NewProvider) -> Result<Provider> {
        self.check_new_provider(&p).await?;
        let now = self.clock.now();
        let (auth, secret) = match p.auth {
            AuthSpec::StaticKey { access_key_id, secret } => {
                let record = provider_secret_record(&p.name);
                let sealed = self.seal_version(
                    &record,
                    1,
                    SecretState::Current,
                    Some(access_key_id.to_string()),
                    Origin::Adopted,
                    &secret,
                );
                (ProviderAuth::StaticKey { access_key_id: access_key_id.to_string() }, Some(sealed))
            }
            AuthSpec::DefaultChain => (ProviderAuth::DefaultChain, None),
            AuthSpec::AssumeRole { role_arn, external_id, source } => {
                (ProviderAuth::AssumeRole { role_arn, external_id, source }, None)
            }
        };
        let provider = Provider {
            name: p.name,
            region: p.region,
            endpoint_url: p.endpoint_url,
            auth,
            mfa_serial: None,
            created_at: now,
            updated_at: now,
        };
        let detail = json!({ "region": provider.region, "auth": provider.auth, "endpoint_url": provider.endpoint_url });
        let audit = self.audit_entry("provider.add", Some(provider.name.as_str()), AuditOutcome::Ok, detail);
        self.store.insert_provider(&provider, secret.as_ref(), &audit).await.map_err(|e| match Error::from(e) {
            Error::Conflict { what, .. } => {
                Error::conflict(what, "choose another name, or `rekey provider remove` the existing one")
            }
            other => other,
        })?;
        Ok(provider)
    }

    /// Adds a provider once its credentials work: one STS GetCallerIdentity with them (as
    /// `provider test` makes) before anything is written. A failed call writes nothing, not
    /// even an audit event, and its error says what AWS answered.
    pub async fn add_provider_tested(&self, p: NewProvider) -> Result<(Provider, CallerIdentity)> {
        self.check_new_provider(&p).await?;
        let conn = self.new_conn(&p).await?;
        let id = self.aws.sts(&conn).await.caller_identity().await.map_err(|mut e| {
            e.message = format!(
                "{} (testing provider {}'s credentials: nothing was added; --no-test adds it untested)",
                e.message, p.name
            );
            Error::Aws(e)
        })?;
        Ok((self.add_provider(p).await?, id))
    }

    /// Everything about a new provider that can be checked without AWS.
    async fn check_new_provider(&self, p: &NewProvider) -> Result<()> {
        if self.store.provider(&p.name).await.is_ok() {
            return Err(Error::conflict(
                format!("provider {} already exists", p.name),
                "choose another name, or `rekey provider remove` the existing one",
            ));
        }
        if let Some(url) = &p.endpoint_url {
            check_endpoint_url(url)?;
        }
        match &p.auth {
            AuthSpec::StaticKey { secret, .. } => {
                check_secret_size("secret access key", secret)?;
                crate::vault::check_access_key_secret(secret)?;
            }
            AuthSpec::DefaultChain => {}
            AuthSpec::AssumeRole { external_id, source, .. } => {
                if let Some(x) = external_id {
                    check_external_id(x)?;
                }
                if let Some(s) = source {
                    if *s == p.name {
                        return Err(Error::usage("a provider cannot be its own --source", "name another provider"));
                    }
                    self.provider(s).await?;
                }
            }
        }
        Ok(())
    }

    /// The connection a provider that is not stored yet would have.
    async fn new_conn(&self, p: &NewProvider) -> Result<Conn> {
        let credentials = match &p.auth {
            AuthSpec::StaticKey { access_key_id, secret } => {
                ConnCredentials::Static { access_key_id: access_key_id.to_string(), secret: secret.clone() }
            }
            AuthSpec::DefaultChain => ConnCredentials::DefaultChain,
            AuthSpec::AssumeRole { role_arn, external_id, source } => {
                let source = match source {
                    Some(s) => self.conn(&self.provider(s).await?).await?,
                    None => self.limited(
                        Conn::new(p.region.as_str(), p.endpoint_url.clone(), ConnCredentials::DefaultChain),
                        &p.name,
                    ),
                };
                ConnCredentials::AssumeRole {
                    role_arn: role_arn.to_string(),
                    external_id: external_id.clone(),
                    source: Box::new(source),
                }
            }
        };
        Ok(self.limited(Conn::new(p.region.as_str(), p.endpoint_url.clone(), credentials), &p.name))
    }

    /// `c` with the engine's attempt timeout and the pace of provider `name`'s calls.
    fn limited(&self, mut c: Conn, name: &ProviderName) -> Conn {
        if let Some(t) = self.limits.attempt_timeout {
            c.attempt_timeout = t;
        }
        c.paced(rekey_aws::pace::pacer(name.as_str(), &self.limits.pace))
    }

    /// One provider.
    pub async fn provider(&self, name: &ProviderName) -> Result<Provider> {
        self.store.provider(name).await.map_err(|e| match Error::from(e) {
            Error::NotFound { what, .. } => {
                Error::NotFound { what, hint: "`rekey provider list` shows the providers".into() }
            }
            other => other,
        })
    }

    /// All providers.
    pub async fn providers(&self) -> Result<Vec<Provider>> {
        Ok(self.store.providers().await?)
    }

    /// Removes a provider; refused while accounts or other providers use it.
    pub async fn remove_provider(&self, name: &ProviderName) -> Result<()> {
        self.provider(name).await?;
        let audit = self.audit_entry("provider.remove", Some(name.as_str()), AuditOutcome::Ok, json!({}));
        self.store.delete_provider(name, &audit).await.map_err(|e| match Error::from(e) {
            Error::Conflict { what, .. } => Error::conflict(what, "`rekey account list --provider NAME` shows them"),
            other => other,
        })
    }

    /// Calls GetCallerIdentity as the provider.
    pub async fn test_provider(&self, name: &ProviderName) -> Result<CallerIdentity> {
        let provider = self.provider(name).await?;
        let conn = self.conn(&provider).await?;
        let result = self.aws.sts(&conn).await.caller_identity().await.map_err(Error::from);
        match &result {
            Ok(id) => {
                let detail = json!({ "account": id.account, "arn": id.arn });
                self.store
                    .append_audit(&self.audit_entry("provider.test", Some(name.as_str()), AuditOutcome::Ok, detail))
                    .await?;
            }
            Err(e) => self.audit_failure("provider.test", Some(name.as_str()), e).await,
        }
        result
    }

    /// The connection a provider describes, with its secret opened and its source resolved,
    /// paced by the provider's pacer (the source of an assumed role by its own).
    pub async fn conn(&self, provider: &Provider) -> Result<Conn> {
        let with_limits = |c: Conn, p: &Provider| self.limited(c, &p.name);
        let mut chain = vec![provider.clone()];
        while let ProviderAuth::AssumeRole { source: Some(s), .. } = &chain[chain.len() - 1].auth {
            if chain.len() > 8 {
                return Err(Error::usage("assume-role sources nest more than 8 deep", "simplify the provider chain"));
            }
            let next = self.provider(s).await?;
            chain.push(next);
        }
        let mut conn: Option<Conn> = None;
        for p in chain.iter().rev() {
            let credentials = match &p.auth {
                ProviderAuth::StaticKey { access_key_id } => {
                    let record = p.secret_record();
                    let v = self.store.secret_in_state(&record, SecretState::Current).await?.ok_or_else(|| {
                        Error::Integrity { message: format!("provider {} has no stored secret", p.name) }
                    })?;
                    let key_id = v.key_id.clone().unwrap_or_else(|| access_key_id.clone());
                    ConnCredentials::Static { access_key_id: key_id, secret: self.open_version(&v)? }
                }
                ProviderAuth::DefaultChain => ConnCredentials::DefaultChain,
                ProviderAuth::AssumeRole { role_arn, external_id, .. } => {
                    let source = conn.take().unwrap_or_else(|| {
                        let chain = Conn::new(p.region.as_str(), p.endpoint_url.clone(), ConnCredentials::DefaultChain);
                        with_limits(chain, p)
                    });
                    ConnCredentials::AssumeRole {
                        role_arn: role_arn.to_string(),
                        external_id: external_id.clone(),
                        source: Box::new(source),
                    }
                }
            };
            conn = Some(with_limits(Conn::new(p.region.as_str(), p.endpoint_url.clone(), credentials), p));
        }
        conn.ok_or_else(|| Error::Internal("empty provider chain".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::check_endpoint_url;

    #[test]
    fn endpoint_urls_every_call_would_fail_on_are_refused() {
        for ok in [
            "http://127.0.0.1:5000",
            "https://iam.amazonaws.com",
            "https://proxy.example/aws/",
            "http://[::1]:5000",
            "http://[::1]/",
            "http://localhost:65535",
        ] {
            assert!(check_endpoint_url(ok).is_ok(), "{ok}");
        }
        for (bad, says) in [
            ("http://moto:0", "port \"0\""),
            ("http://moto:65536", "port \"65536\""),
            ("http://moto:", "port \"\""),
            ("http://moto:http", "port \"http\""),
            ("http://[::1]x/", "port \"x\""),
            ("http://moto:5000/?Action=ListUsers", "a query or fragment"),
            ("http://moto:5000#top", "a query or fragment"),
            ("http://[::1", "closing ]"),
            ("http://:5000", "no host"),
            ("ftp://moto", "not an http"),
            ("http://mo to", "not an http"),
        ] {
            let e = check_endpoint_url(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid endpoint URL") && e.contains(says), "{bad}: {e}");
        }
    }
}
