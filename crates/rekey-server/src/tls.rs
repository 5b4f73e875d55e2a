//! HTTPS: a rustls acceptor from PEM files. Each connection's handshake runs in the
//! connection's own task, under the header timeout (see [`crate::listen`]), so a slow or silent
//! client never holds up others.

use crate::ConfigError;
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use std::{path::Path, sync::Arc};
use tokio_rustls::TlsAcceptor;

fn bad(path: &Path, what: &str, e: impl std::fmt::Display) -> ConfigError {
    ConfigError {
        message: format!("cannot read the TLS {what} {}: {e}", path.display()),
        hint: "pass PEM files with --tls-cert / --tls-key".into(),
    }
}

/// An acceptor for the certificate chain and key in `cert` and `key` (PEM).
pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ConfigError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, "certificate", e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(cert, "certificate", e))?;
    if chain.is_empty() {
        return Err(bad(cert, "certificate", "no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, "key", e))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, "configuration", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| bad(cert, "certificate and key", e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
