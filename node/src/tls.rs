//! Transport security for the API: TLS 1.3 with the consortium's member CAs (from genesis) as
//! the only roots, for the node's own certificate and for its callers' certificates.
//!
//! The node does its TLS handshakes itself rather than through the gRPC server, so that it
//! controls what a caller may hold before a single gRPC byte is read: a cap on open
//! connections (one over the cap is closed at once), a deadline on the handshake (a caller that
//! connects and never speaks TLS costs one timer), and the caller's identity, read once per
//! connection from its verified certificate and handed to every call on it.
//!
//! Client certificates are asked for but not required at the TLS layer: a caller without one
//! completes the handshake and is then answered `UNAUTHENTICATED` with the reason, which a
//! misconfigured filing system can act on (a TLS alert cannot say as much). A certificate
//! that does not chain to a member's CA fails the handshake itself.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use evidence_genesis::pki::{self, Identity};
use evidence_genesis::{Configuration, Genesis, Member};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use crate::metrics::Metrics;

/// Why the node's TLS material could not be loaded.
#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path} may be read by other users (mode {mode:o}); a private key must be readable by its \
         owner only: chmod 600 {path}"
    )]
    KeyReadableByOthers { path: PathBuf, mode: u32 },
    #[error("{path} holds no {what} in PEM form")]
    NoPem { path: PathBuf, what: &'static str },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "the node's certificate {path} must be a member-node certificate of member {member:?} \
         (issued by its CA in genesis, OU {role:?}): {reason}"
    )]
    NotThisMembersNode {
        path: PathBuf,
        member: String,
        role: &'static str,
        reason: String,
    },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// A certificate and its private key, read from PEM files.
#[derive(Clone)]
pub struct NodeIdentity {
    pub certificate_pem: String,
    pub private_key_pem: zeroize::Zeroizing<String>,
    chain: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl NodeIdentity {
    /// Reads the node's certificate (PEM; the leaf first, then any intermediates) and its
    /// private key (PEM, readable by its owner only), and checks that the certificate is a
    /// `member-node` certificate issued by `member`'s CA in `genesis`.
    ///
    /// # Errors
    /// A file that cannot be read, a key readable by others, no PEM, or a certificate of
    /// another member or role.
    pub fn load(
        certificate: &Path,
        private_key: &Path,
        genesis: &Genesis,
        member: &str,
    ) -> Result<Self, TlsError> {
        let certificate_pem = read(certificate)?;
        check_private(private_key)?;
        let private_key_pem = zeroize::Zeroizing::new(read(private_key)?);
        let chain = CertificateDer::pem_slice_iter(certificate_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Invalid {
                path: certificate.to_owned(),
                reason: e.to_string(),
            })?;
        let Some(leaf) = chain.first() else {
            return Err(TlsError::NoPem {
                path: certificate.to_owned(),
                what: "certificate",
            });
        };
        let not_this = |reason: String| TlsError::NotThisMembersNode {
            path: certificate.to_owned(),
            member: member.to_owned(),
            role: pki::ROLE_MEMBER_NODE,
            reason,
        };
        let identity =
            pki::identify(leaf, &genesis.ca_subjects()).map_err(|e| not_this(e.to_string()))?;
        if identity.member != member || identity.role != pki::ROLE_MEMBER_NODE {
            return Err(not_this(format!("it is {identity}")));
        }
        PrivateKeyDer::from_pem_slice(private_key_pem.as_bytes()).map_err(|e| TlsError::NoPem {
            path: private_key.to_owned(),
            what: if matches!(e, rustls_pki_types::pem::Error::NoItemsFound) {
                "private key"
            } else {
                "valid private key"
            },
        })?;
        Ok(Self {
            certificate_pem,
            private_key_pem,
            chain,
        })
    }

    fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        PrivateKeyDer::from_pem_slice(self.private_key_pem.as_bytes())
            .map_err(|e| TlsError::Config(format!("private key: {e}")))
    }

    /// The identity for the node's own gRPC calls to other members' nodes (relay).
    pub fn client_tls(&self, genesis: &Genesis) -> tonic::transport::ClientTlsConfig {
        tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(
                genesis.ca_bundle_pem(),
            ))
            .identity(tonic::transport::Identity::from_pem(
                &self.certificate_pem,
                self.private_key_pem.as_bytes(),
            ))
    }
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Refuses a private key file that users other than its owner may read.
///
/// # Errors
/// The file cannot be inspected, or its mode gives group or others any access.
pub fn check_private(path: &Path) -> Result<(), TlsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let metadata = std::fs::metadata(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(TlsError::KeyReadableByOthers {
                path: path.to_owned(),
                mode,
            });
        }
    }
    Ok(())
}

/// The roots a TLS check trusts: the CAs of `members`.
fn roots(members: &[Member]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for member in members {
        roots
            .add(CertificateDer::from(member.tls_ca.der().to_vec()))
            .map_err(|e| {
                TlsError::Config(format!("member {:?}'s CA certificate: {e}", member.id))
            })?;
    }
    Ok(roots)
}

/// The server side: TLS 1.3 only, HTTP/2 only, client certificates verified against the CAs of
/// `members` (the members in force) when offered.
///
/// # Errors
/// The key does not match the certificate, or the CAs cannot be used as roots.
pub fn server_config(
    identity: &NodeIdentity,
    members: &[Member],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(members)?), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain.clone(), identity.private_key()?)
        .map_err(|e| TlsError::Config(format!("the node's certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Who is calling, as known from the connection.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A verified certificate naming a member, role and name.
    Certified(Arc<Identity>),
    /// The connection is TLS but the caller offered no certificate.
    NoCertificate,
    /// The certificate chains to a member CA but does not say who or what the caller is.
    Unreadable(Arc<str>),
    /// The node serves plaintext (local development): nobody is authenticated.
    Plaintext,
}

/// What each call learns about its connection (tonic puts it in the request's extensions).
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub remote: Option<SocketAddr>,
    pub caller: Caller,
}

/// Bounds on connections to the API.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most connections open at once; one more is closed as soon as it is accepted.
    pub connections_max: usize,
    /// How long a new connection may take to complete its TLS handshake.
    pub handshake_timeout: Duration,
}

/// One accepted API connection, holding its place under the connection cap while open.
#[derive(Debug)]
pub struct ApiConnection {
    stream: Stream,
    info: PeerInfo,
    _permit: OwnedSemaphorePermit,
}

#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connected for ApiConnection {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl AsyncRead for ApiConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ApiConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How the API's connections are secured.
#[derive(Debug, Clone)]
pub enum Transport {
    /// TLS 1.3 trusting the member CAs of the configuration in force.
    Tls(Arc<TlsTrust>),
    /// No TLS (local development only).
    Plaintext,
}

/// `(member, CA subject DER)` of each member in force, to identify callers.
pub type CaSubjects = Arc<Vec<(String, Vec<u8>)>>;

/// The configuration in force, as the ledger holds it.
pub type ConfigurationSource = Box<dyn Fn() -> Arc<Configuration> + Send + Sync>;

/// What a TLS listener trusts: the CAs of the members in force. A proposal that adds a member
/// makes its CA a root for the next connection, and one that removes a member stops trusting
/// its CA (connections already open stay until they close).
pub struct TlsTrust {
    identity: NodeIdentity,
    configuration: ConfigurationSource,
    /// The configuration the server configuration and CA subjects were built for.
    current: std::sync::Mutex<TrustState>,
}

struct TrustState {
    configuration: Arc<Configuration>,
    server: Arc<rustls::ServerConfig>,
    cas: CaSubjects,
}

impl std::fmt::Debug for TlsTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTrust").finish_non_exhaustive()
    }
}

impl TlsTrust {
    /// Trust for `identity`'s listener, following `configuration`.
    ///
    /// # Errors
    /// The key does not match the certificate, or the CAs cannot be used as roots.
    pub fn new(
        identity: NodeIdentity,
        configuration: ConfigurationSource,
    ) -> Result<Self, TlsError> {
        let now = configuration();
        let state = TrustState::build(&identity, now)?;
        Ok(Self {
            identity,
            configuration,
            current: std::sync::Mutex::new(state),
        })
    }

    /// The server configuration and CA subjects for the configuration in force, rebuilt when
    /// it changed. A configuration whose CAs cannot be used (which validation refuses, so
    /// never) leaves the last good one, with a warning.
    pub fn current(&self) -> (Arc<rustls::ServerConfig>, CaSubjects) {
        let now = (self.configuration)();
        let mut state = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !Arc::ptr_eq(&state.configuration, &now) && state.configuration.members != now.members {
            match TrustState::build(&self.identity, Arc::clone(&now)) {
                Ok(fresh) => {
                    tracing::info!(
                        members = now.members.len(),
                        "the member CAs trusted for TLS follow the configuration in force"
                    );
                    *state = fresh;
                }
                Err(error) => {
                    tracing::warn!(%error, "the configuration in force has CAs TLS cannot use");
                    state.configuration = now;
                }
            }
        } else {
            state.configuration = now;
        }
        (Arc::clone(&state.server), Arc::clone(&state.cas))
    }
}

impl TrustState {
    fn build(identity: &NodeIdentity, configuration: Arc<Configuration>) -> Result<Self, TlsError> {
        let server = server_config(identity, &configuration.members)?;
        let cas = Arc::new(configuration.ca_subjects());
        Ok(Self {
            configuration,
            server,
            cas,
        })
    }
}

/// Accepts connections on `listener` until `stop` turns true, and yields them once their
/// handshake is done. Handshakes run concurrently, each under the limits' deadline; a
/// connection over the cap is closed unanswered, and one whose handshake fails or times out is
/// closed and counted. The stream ends when `stop` turns true.
pub fn incoming(
    listener: TcpListener,
    transport: Transport,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) -> ReceiverStream<io::Result<ApiConnection>> {
    // Handshaken connections wait here for the server to take them; a handful is plenty, as
    // the server takes each at once.
    let (ready, receiver) = mpsc::channel(64);
    let slots = Arc::new(Semaphore::new(limits.connections_max.max(1)));
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stop.wait_for(|s| *s) => return,
            };
            let (stream, remote) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(%error, "accepting an API connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                metrics.api_connections_refused.inc();
                tracing::debug!(%remote, "API connection cap reached; connection closed");
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let transport = transport.clone();
            let ready = ready.clone();
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let connection = match transport {
                    Transport::Plaintext => Ok(ApiConnection {
                        stream: Stream::Plain(stream),
                        info: PeerInfo {
                            remote: Some(remote),
                            caller: Caller::Plaintext,
                        },
                        _permit: permit,
                    }),
                    Transport::Tls(trust) => {
                        let (config, cas) = trust.current();
                        let handshake = TlsAcceptor::from(config).accept(stream);
                        match tokio::time::timeout(limits.handshake_timeout, handshake).await {
                            Ok(Ok(tls)) => {
                                let caller = caller_of(&tls, &cas);
                                Ok(ApiConnection {
                                    stream: Stream::Tls(Box::new(tls)),
                                    info: PeerInfo {
                                        remote: Some(remote),
                                        caller,
                                    },
                                    _permit: permit,
                                })
                            }
                            Ok(Err(error)) => Err(error.to_string()),
                            Err(_) => Err(format!(
                                "no TLS handshake within {} ms",
                                limits.handshake_timeout.as_millis()
                            )),
                        }
                    }
                };
                match connection {
                    Ok(connection) => {
                        let _ = ready.send(Ok(connection)).await;
                    }
                    Err(reason) => {
                        metrics.api_handshakes_failed.inc();
                        tracing::debug!(%remote, %reason, "API connection closed in its TLS handshake");
                    }
                }
            });
        }
    });
    ReceiverStream::new(receiver)
}

fn caller_of(tls: &TlsStream<TcpStream>, cas: &[(String, Vec<u8>)]) -> Caller {
    match tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
        None => Caller::NoCertificate,
        Some(leaf) => match pki::identify(leaf, cas) {
            Ok(identity) => Caller::Certified(Arc::new(identity)),
            Err(error) => Caller::Unreadable(error.to_string().into()),
        },
    }
}
