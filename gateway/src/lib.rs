//! The filing gateway: a service a member runs beside its filing system. It holds the
//! member's filer key, talks to the member's node through `evidence-client` (verifying every
//! answer against the genesis file), and offers a plain HTTP/JSON API described by an OpenAPI
//! 3 document (served at `/openapi.json`): notarize documents by digest or by upload (hashed
//! as it streams in, never stored), with `Idempotency-Key` so a retried request never files
//! twice; fetch receipts; look documents up; verify a receipt; and prove a document's status
//! or a project's payments. Errors are RFC 9457 problem details carrying the ledger's rule
//! codes.

mod alerts;
mod api;
pub mod config;
mod idempotency;
mod problem;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use evidence_client::{Client, ClientError, ClientOptions, TlsOptions};
use evidence_genesis::Genesis;
use thiserror::Error;
use tokio::sync::oneshot;

pub use alerts::{EVENT_ID_HEADER, SIGNATURE_HEADER, signature};
pub use api::{OPENAPI, OPENAPI_PATH, receipt_url};
pub use config::{
    AlertsConfig, ConfigError, GatewayConfig, GatewayTls, Limits, NodeTls, TokenEntry,
    WebhookConfig, token_hash,
};
pub use problem::{PROBLEM_JSON, Problem};

/// Why the gateway could not start.
#[derive(Debug, Error)]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the genesis file {path} cannot be used: {reason}")]
    Genesis { path: String, reason: String },
    #[error("the filer key {path} cannot be used: {reason}")]
    FilerKey { path: String, reason: String },
    #[error("cannot connect to the node: {0}")]
    Node(#[from] ClientError),
    #[error("the data directory {path} cannot be used: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("the gateway's TLS cannot be set up: {0}")]
    Tls(String),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Gateway {
    /// Reads the genesis file and the filer key, connects to the node (checking it serves
    /// the genesis's chain), opens the data directory and starts serving.
    ///
    /// # Errors
    /// Any of those steps, named.
    pub async fn start(config: GatewayConfig) -> Result<Self, GatewayError> {
        config.validate()?;
        // Read once: the bytes served at /genesis.json (the trust anchor a court's verifier
        // takes) are the ones this gateway verifies against.
        let genesis_error = |reason: String| GatewayError::Genesis {
            path: config.genesis.display().to_string(),
            reason,
        };
        let genesis_text = std::fs::read_to_string(&config.genesis)
            .map_err(|error| genesis_error(error.to_string()))?;
        let genesis =
            Genesis::from_json(&genesis_text).map_err(|error| genesis_error(error.to_string()))?;
        let genesis_file = genesis_text.into_bytes();
        let key = evidence_genesis::read_key_file(&config.filer_key).map_err(|error| {
            GatewayError::FilerKey {
                path: config.filer_key.display().to_string(),
                reason: error.to_string(),
            }
        })?;
        let tls = match &config.node_tls {
            Some(tls) => TlsOptions::from_files(
                Some(&tls.certificate),
                Some(&tls.private_key),
                tls.extra_roots.as_deref(),
            )?,
            None => TlsOptions::default(),
        };
        let options = ClientOptions {
            tls,
            ..ClientOptions::default()
        };
        let algorithm = genesis.suite.digest;
        let client = Client::connect_with(&config.node, Some(key), genesis, options).await?;
        let member = client
            .filer()
            .map(|filer| filer.member.clone())
            .ok_or(ClientError::NoFilerKey)?;
        let data_error = |source| GatewayError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        };
        let idempotency = idempotency::IdempotencyStore::open(
            &config.data_dir.join("idempotency"),
            Duration::from_secs(config.limits.idempotency_hours * 3600),
        )
        .map_err(data_error)?;
        let tokens = config
            .tokens
            .iter()
            .filter_map(|token| {
                let hash: [u8; 32] = hex::decode(&token.sha256).ok()?.try_into().ok()?;
                Some((hash, token.name.clone()))
            })
            .collect();
        let tls = config
            .tls
            .as_ref()
            .map(tls::server_config)
            .transpose()
            .map_err(GatewayError::Tls)?;
        let client = Arc::new(client);
        let feed = if config.alerts.enabled {
            Some(
                alerts::start(
                    Arc::clone(&client),
                    &config.alerts,
                    &config.webhooks,
                    &config.data_dir,
                    member.clone(),
                )
                .map_err(data_error)?,
            )
        } else {
            None
        };
        let shared = Arc::new(api::Shared {
            client,
            feed,
            member,
            algorithm,
            source_system: config.source_system.clone(),
            limits: config.limits,
            tokens,
            client_roles: config
                .tls
                .as_ref()
                .map(|tls| tls.client_roles.clone())
                .unwrap_or_default(),
            idempotency,
            genesis_file,
            filings: Arc::new(tokio::sync::Semaphore::new(
                config.limits.concurrent_requests_max,
            )),
        });
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| GatewayError::Listen {
                address: config.listen,
                source,
            })?;
        let address = listener
            .local_addr()
            .map_err(|source| GatewayError::Listen {
                address: config.listen,
                source,
            })?;
        let sweeper = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(api::SWEEP_INTERVAL);
            loop {
                interval.tick().await;
                let store = Arc::clone(&sweeper);
                // A directory walk: on the blocking pool, not a runtime thread.
                match tokio::task::spawn_blocking(move || store.idempotency.sweep()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => tracing::warn!(%error, "sweeping idempotency records failed"),
                    Err(error) => tracing::warn!(%error, "sweeping idempotency records failed"),
                }
            }
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = api::router(shared);
        let task = match tls {
            Some(tls) => tokio::spawn(tls::serve(listener, app, tls, stopped)),
            None => tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
            }),
        };
        tracing::info!(%address, "the gateway is listening");
        Ok(Self {
            address,
            stop: Some(stop),
            task,
        })
    }

    /// The address it listens on (the configured one, with the port the system chose for 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, lets requests in progress finish, and returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Serves until the server fails (it does not stop on its own).
    ///
    /// # Errors
    /// The server's failure.
    pub async fn wait(mut self) -> std::io::Result<()> {
        match (&mut self.task).await {
            Ok(result) => result,
            Err(error) => Err(std::io::Error::other(error)),
        }
    }
}
