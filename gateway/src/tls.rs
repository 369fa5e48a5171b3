//! HTTPS for the gateway's listener (TLS 1.3 and 1.2, rustls with ring), and, with a client
//! CA, callers identified by their certificates.
//!
//! With `[tls] client_ca`, every connection must present a certificate that chains to one of
//! the CAs in that file; the handshake fails otherwise. The certificate's common name is then
//! the caller's name, handed to each request on the connection, and no API token is needed
//! (a token is still accepted). Without it, TLS only protects the link and callers present
//! tokens.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use crate::config::GatewayTls;

/// How long a connection may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The caller named by its verified client certificate (a request extension): its common
/// name and its role (the organisational unit, as the members' CAs write it).
#[derive(Debug, Clone)]
pub(crate) struct CertifiedCaller {
    pub(crate) name: String,
    pub(crate) role: Option<String>,
}

/// How long a stopping gateway waits for the requests in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
}

/// The server configuration for `tls`.
///
/// # Errors
/// A file cannot be read or holds no usable PEM, the key may be read by others, or rustls
/// refuses the combination.
pub(crate) fn server_config(tls: &GatewayTls) -> Result<Arc<rustls::ServerConfig>, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&tls.private_key)
            .map_err(|e| format!("{}: {e}", tls.private_key.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "the TLS key {} may be read by others (mode {:o}); make it 0600",
                tls.private_key.display(),
                mode & 0o777
            ));
        }
    }
    let chain = CertificateDer::pem_slice_iter(&read(&tls.certificate, "TLS certificate")?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", tls.certificate.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{} holds no certificate in PEM form",
            tls.certificate.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&tls.private_key, "TLS key")?).map_err(|e| {
        format!(
            "{}: no private key in PEM form: {e}",
            tls.private_key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &tls.client_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for certificate in CertificateDer::pem_slice_iter(&read(path, "client CA file")?) {
                let certificate = certificate.map_err(|e| format!("{}: {e}", path.display()))?;
                roots
                    .add(certificate)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("{} holds no CA certificate", path.display()));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| e.to_string())?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("the gateway's certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Who a verified certificate names: its subject's common name and organisational unit.
fn certified(certificate: &CertificateDer<'_>) -> Option<CertifiedCaller> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    let subject = parsed.subject();
    let name = subject.iter_common_name().next()?.as_str().ok()?.to_owned();
    let role = subject
        .iter_organizational_unit()
        .next()
        .and_then(|unit| unit.as_str().ok())
        .map(str::to_owned);
    Some(CertifiedCaller { name, role })
}

/// Serves `app` over TLS on `listener` until `stop` fires; then stops accepting, lets each
/// connection finish the request it is serving (for at most [`SHUTDOWN_GRACE`]), and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    config: Arc<rustls::ServerConfig>,
    mut stop: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // Forget the connections that ended.
        while connections.try_join_next().is_some() {}
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let mut stopped = stopped.clone();
        connections.spawn(async move {
            let stream =
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::info!(%remote, %error, "a TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(%remote, "a TLS handshake timed out");
                        return;
                    }
                };
            let caller = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(certified);
            let service = hyper::service::service_fn(
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    if let Some(caller) = &caller {
                        request.extensions_mut().insert(caller.clone());
                    }
                    tower::ServiceExt::oneshot(app.clone(), request)
                },
            );
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => Some(ended),
                _ = stopped.wait_for(|s| *s) => None,
            };
            let ended = match ended {
                Some(ended) => ended,
                None => {
                    // Finish the request in progress, take no other.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(%remote, %error, "a connection ended with an error");
            }
        });
    }
    let _ = stopping.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still open after the grace period were closed");
    }
    Ok(())
}
