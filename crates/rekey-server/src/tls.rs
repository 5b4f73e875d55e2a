//! HTTPS: a rustls acceptor from PEM files, and a listener that hands axum only connections
//! whose handshake completed. Handshakes run in their own tasks (with a timeout), so a slow or
//! silent client never holds up others.

use crate::ConfigError;
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_rustls::{server::TlsStream, TlsAcceptor};

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

/// Accepts TCP connections and yields them once TLS is established.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<tokio::net::TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        let local = tcp.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = tcp.accept().await else { continue };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Self { ready, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task ended (it never does while the listener lives): wait forever.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener").field("local", &self.local).finish()
    }
}
