//! How the Kubernetes target reaches its cluster: a kubeconfig (a context's cluster and user)
//! or, without one, the pod's service account (in-cluster). Either way the API server's
//! certificate is verified against the cluster's CA (`insecure-skip-tls-verify` is refused),
//! and the credential is a bearer token (`token`, `tokenFile`) or a client certificate.
//! Exec and auth-provider plugins are not run: rekey does not start programs a kubeconfig names.
//!
//! Everything read here is credential material: it is held in [`Zeroizing`] buffers and never
//! printed; errors name the file and the field, never a value.

use crate::{Error, Result};
use base64::Engine as _;
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::{
    path::{Path, PathBuf},
    sync::Arc,
};
use zeroize::Zeroizing;

/// Where the pod's service-account credentials are mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How requests authenticate.
pub enum Auth {
    /// `Authorization: Bearer TOKEN`.
    Token(Zeroizing<String>),
    /// A client certificate (PEM) and its key (PEM).
    ClientCert {
        /// The certificate chain.
        cert: Vec<u8>,
        /// The private key.
        key: Zeroizing<Vec<u8>>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Token(_) => "Token(<redacted>)",
            Self::ClientCert { .. } => "ClientCert(<redacted>)",
        })
    }
}

/// A cluster's API server and how to talk to it.
pub struct ClusterAccess {
    /// `https://HOST[:PORT]`.
    pub server: String,
    /// The cluster CA's certificates (PEM).
    pub ca: Vec<u8>,
    /// The credential.
    pub auth: Auth,
}

impl std::fmt::Debug for ClusterAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterAccess").field("server", &self.server).field("auth", &self.auth).finish()
    }
}

#[derive(Deserialize)]
struct Config {
    #[serde(rename = "current-context", default)]
    current_context: Option<String>,
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: String,
    #[serde(default)]
    certificate_authority: Option<String>,
    #[serde(default)]
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct User {
    #[serde(default)]
    token: Option<String>,
    #[serde(default, rename = "tokenFile")]
    token_file: Option<String>,
    #[serde(default)]
    client_certificate: Option<String>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key: Option<String>,
    #[serde(default)]
    client_key_data: Option<String>,
    #[serde(default)]
    exec: Option<serde_yaml_ng::Value>,
    #[serde(default, rename = "auth-provider")]
    auth_provider: Option<serde_yaml_ng::Value>,
}

#[derive(Deserialize)]
struct Context {
    cluster: String,
    user: String,
}

fn bad(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::usage(
        format!("kubeconfig {}: {what}", path.display()),
        "check the file (kubectl --kubeconfig FILE config view), or give another with --k8s-kubeconfig",
    )
}

/// Reads `path` (a kubeconfig) for `context` (default: its current context).
pub fn load(path: &Path, context: Option<&str>) -> Result<ClusterAccess> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| bad(path, format!("cannot read it: {e}")))?);
    // serde_yaml's errors quote positions, not values; still, only the kind of error is kept.
    let config: Config = serde_yaml_ng::from_str(&text).map_err(|_| bad(path, "not a valid kubeconfig (YAML)"))?;
    let name = context
        .map(str::to_owned)
        .or(config.current_context.clone())
        .ok_or_else(|| bad(path, "no context given and no current-context"))?;
    let ctx = find(&config.contexts, &name).ok_or_else(|| bad(path, format!("no context {name:?}")))?;
    let cluster =
        find(&config.clusters, &ctx.cluster).ok_or_else(|| bad(path, format!("no cluster {:?}", ctx.cluster)))?;
    let user = find(&config.users, &ctx.user).ok_or_else(|| bad(path, format!("no user {:?}", ctx.user)))?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    if cluster.insecure_skip_tls_verify {
        return Err(bad(path, "insecure-skip-tls-verify is set; rekey always verifies the API server"));
    }
    if !cluster.server.starts_with("https://") {
        return Err(bad(path, format!("server {:?} is not https://", cluster.server)));
    }
    let ca = match (&cluster.certificate_authority_data, &cluster.certificate_authority) {
        (Some(data), _) => decode(path, "certificate-authority-data", data)?.to_vec(),
        (None, Some(file)) => read_rel(dir, file, path, "certificate-authority")?.to_vec(),
        (None, None) => return Err(bad(path, "the cluster has no certificate-authority(-data)")),
    };
    let auth = user_auth(user, dir, path)?;
    Ok(ClusterAccess { server: cluster.server.trim_end_matches('/').to_owned(), ca, auth })
}

fn user_auth(user: &User, dir: &Path, path: &Path) -> Result<Auth> {
    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(bad(path, "the user authenticates with an exec or auth-provider plugin, which rekey does not run; use a service-account token or a client certificate"));
    }
    if let Some(t) = &user.token {
        return Ok(Auth::Token(Zeroizing::new(t.trim().to_owned())));
    }
    if let Some(f) = &user.token_file {
        let raw = read_rel(dir, f, path, "tokenFile")?;
        return Ok(Auth::Token(Zeroizing::new(String::from_utf8_lossy(&raw).trim().to_owned())));
    }
    let cert = match (&user.client_certificate_data, &user.client_certificate) {
        (Some(d), _) => Some(decode(path, "client-certificate-data", d)?.to_vec()),
        (None, Some(f)) => Some(read_rel(dir, f, path, "client-certificate")?.to_vec()),
        _ => None,
    };
    let key = match (&user.client_key_data, &user.client_key) {
        (Some(d), _) => Some(decode(path, "client-key-data", d)?),
        (None, Some(f)) => Some(read_rel(dir, f, path, "client-key")?),
        _ => None,
    };
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Auth::ClientCert { cert, key }),
        _ => Err(bad(path, "the user has no token, tokenFile or client certificate and key")),
    }
}

/// The pod's service account: `KUBERNETES_SERVICE_HOST`/`_PORT`, and the token and CA mounted
/// in `dir` (normally [`SERVICE_ACCOUNT_DIR`]). The token is read again at each delivery (the
/// kubelet rotates it).
pub fn in_cluster(dir: &Path) -> Result<ClusterAccess> {
    let hint = "run rekey in a pod with a service account, or give --k8s-kubeconfig";
    let host = std::env::var("KUBERNETES_SERVICE_HOST")
        .map_err(|_| Error::usage("not in a Kubernetes pod: KUBERNETES_SERVICE_HOST is not set", hint))?;
    let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    let read = |name: &str| {
        std::fs::read(dir.join(name)).map(Zeroizing::new).map_err(|e| {
            Error::usage(format!("cannot read the service account's {name} in {}: {e}", dir.display()), hint)
        })
    };
    let token = read("token")?;
    let ca = read("ca.crt")?.to_vec();
    Ok(ClusterAccess {
        server: format!("https://{host}:{port}"),
        ca,
        auth: Auth::Token(Zeroizing::new(String::from_utf8_lossy(&token).trim().to_owned())),
    })
}

impl ClusterAccess {
    /// TLS settings: only the cluster's CA is trusted; the client certificate if any.
    pub fn tls_config(&self) -> Result<rustls::ClientConfig> {
        let fail = |what: &str| {
            Error::usage(format!("Kubernetes TLS settings: {what}"), "check the CA and client certificate")
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&self.ca) {
            roots
                .add(cert.map_err(|_| fail("the CA is not PEM"))?)
                .map_err(|_| fail("the CA certificate is invalid"))?;
        }
        if roots.is_empty() {
            return Err(fail("the CA holds no certificate"));
        }
        let builder =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|_| fail("no TLS version"))?
                .with_root_certificates(roots);
        match &self.auth {
            Auth::Token(_) => Ok(builder.with_no_client_auth()),
            Auth::ClientCert { cert, key } => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<_, _>>()
                    .map_err(|_| fail("the client certificate is not PEM"))?;
                let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| fail("the client key is not PEM"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|_| fail("the client certificate and key do not match"))
            }
        }
    }

    /// The bearer token, if the credential is one.
    pub fn token(&self) -> Option<&str> {
        match &self.auth {
            Auth::Token(t) => Some(t.as_str()),
            Auth::ClientCert { .. } => None,
        }
    }
}

fn find<'a, T>(list: &'a [Named<T>], name: &str) -> Option<&'a T> {
    list.iter().find(|n| n.name == name).map(|n| &n.value)
}

fn decode(path: &Path, field: &str, data: &str) -> Result<Zeroizing<Vec<u8>>> {
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map(Zeroizing::new)
        .map_err(|_| bad(path, format!("{field} is not base64")))
}

fn read_rel(dir: &Path, file: &str, path: &Path, field: &str) -> Result<Zeroizing<Vec<u8>>> {
    let p = if Path::new(file).is_absolute() { PathBuf::from(file) } else { dir.join(file) };
    std::fs::read(&p).map(Zeroizing::new).map_err(|e| bad(path, format!("cannot read {field} {}: {e}", p.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: c1
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: ca.pem
contexts:
- name: prod
  context: {cluster: c1, user: u1}
- name: other
  context: {cluster: c1, user: u2}
users:
- name: u1
  user: {token: "sa-token-xyz"}
- name: u2
  user:
    exec: {command: aws}
"#;

    #[test]
    fn reads_a_context_and_refuses_what_it_cannot_do_safely() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n").unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, CONFIG).unwrap();
        let a = load(&path, None).unwrap();
        assert_eq!(a.server, "https://127.0.0.1:6443");
        assert_eq!(a.token(), Some("sa-token-xyz"));
        assert!(!format!("{a:?}").contains("sa-token-xyz"));
        let e = load(&path, Some("other")).unwrap_err().to_string();
        assert!(e.contains("exec"), "{e}");
        assert!(load(&path, Some("nope")).unwrap_err().to_string().contains("no context"));
        std::fs::write(&path, CONFIG.replace("certificate-authority: ca.pem", "insecure-skip-tls-verify: true"))
            .unwrap();
        assert!(load(&path, None).unwrap_err().to_string().contains("insecure"));
        std::fs::write(&path, "token: [").unwrap();
        let e = load(&path, None).unwrap_err().to_string();
        assert!(!e.contains("token"), "{e}");
    }
}
