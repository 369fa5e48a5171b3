//! Assembling a node from its home directory: configuration, genesis, key, ledger, consensus,
//! API and metrics; and stopping it again.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use evidence_core::keys::SigningKey;
use evidence_genesis::Genesis;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::access::AuditLog;
use crate::api::{self, LedgerService, ServeOptions};
use crate::app::App;
use crate::config::{ConfigError, GENESIS_FILE, NodeConfig};
use crate::consensus::driver::{self, DriverHandle, DriverParams};
use crate::ledger::{Ledger, LedgerError};
use crate::metrics::{self, Metrics};
use crate::relay::Relay;
use crate::tls::{NodeIdentity, Transport};

/// Why a node could not start or stopped.
#[derive(Debug, Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("genesis file {path}: {message}")]
    Genesis { path: PathBuf, message: String },
    #[error("key file {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error(
        "the key in {path} is not a validator in the genesis file (public key {public_key}); \
         a validator the members added on the ledger names its member in node.toml \
         ([node] member)"
    )]
    NotAValidator { path: PathBuf, public_key: String },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("consensus: {0}")]
    Consensus(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Audit(#[from] crate::access::AuditLogError),
}

/// The API's own runtime, shut down in the background when dropped (a runtime cannot be
/// dropped in place inside another one).
#[derive(Debug)]
struct ApiRuntime(Option<tokio::runtime::Runtime>);

impl ApiRuntime {
    /// A runtime of `worker_threads` whose threads (its blocking pool's too) run
    /// `niceness` steps below the priority of the thread that builds it.
    fn new(worker_threads: usize, niceness: u8) -> std::io::Result<Self> {
        let priority = ApiPriority::below_current(niceness);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads.max(1))
            .thread_name("api")
            .on_thread_start(move || priority.apply())
            .enable_all()
            .build()
            .map(|runtime| Self(Some(runtime)))
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
        match &self.0 {
            Some(runtime) => runtime.spawn(task),
            None => tokio::spawn(task),
        }
    }
}

/// The niceness the API's threads run at. It is fixed once, from the thread that builds the
/// runtime: a new thread starts at its creator's niceness, and the blocking pool's threads
/// are started by API workers that already run at it, so adding to a thread's own niceness
/// would lower those twice. Raising niceness needs no privilege. A failure is logged once
/// and the thread keeps its priority. On systems other than Linux threads have no niceness
/// of their own and nothing is done.
#[derive(Debug, Clone, Copy)]
struct ApiPriority {
    /// The niceness to run at (at most 19, the lowest priority); `None`: leave it.
    niceness: Option<i32>,
}

impl ApiPriority {
    fn below_current(steps: u8) -> Self {
        #[cfg(target_os = "linux")]
        if steps > 0 {
            match rustix::process::getpriority_process(Some(rustix::thread::gettid())) {
                Ok(current) => {
                    return Self {
                        niceness: Some((current + i32::from(steps)).min(19)),
                    };
                }
                Err(error) => Self::warn(error),
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = steps;
        Self { niceness: None }
    }

    /// Sets the calling thread's niceness, unless it already runs at that or lower.
    fn apply(self) {
        #[cfg(target_os = "linux")]
        if let Some(niceness) = self.niceness {
            let tid = rustix::thread::gettid();
            let result = rustix::process::getpriority_process(Some(tid)).and_then(|current| {
                if current < niceness {
                    rustix::process::setpriority_process(Some(tid), niceness)
                } else {
                    Ok(())
                }
            });
            if let Err(error) = result {
                Self::warn(error);
            }
        }
    }

    #[cfg(target_os = "linux")]
    fn warn(error: rustix::io::Errno) {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            tracing::warn!(
                %error,
                "could not lower the API threads' priority (api.thread_niceness)"
            );
        });
    }
}

impl Drop for ApiRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    _api_runtime: ApiRuntime,
    app: Arc<App>,
    member: String,
    api_address: SocketAddr,
    metrics_address: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    consensus: DriverHandle,
}

impl Node {
    /// Starts the node whose home directory is `home`: reads `node.toml`, `genesis.json` and
    /// the key file named in the configuration.
    ///
    /// # Errors
    /// A missing or invalid file, a key that is not a genesis validator, a database that
    /// cannot be opened or belongs to another chain, an address already in use.
    pub async fn start(home: &Path) -> Result<Self, NodeError> {
        let config = NodeConfig::load(home)?;
        let genesis_path = home.join(GENESIS_FILE);
        let genesis = Genesis::load(&genesis_path).map_err(|e| NodeError::Genesis {
            path: genesis_path.clone(),
            message: e.to_string(),
        })?;
        let key_path = NodeConfig::resolve(home, &config.node.key_file);
        let key = evidence_genesis::read_key_file(&key_path).map_err(|e| NodeError::Key {
            path: key_path.clone(),
            message: e.to_string(),
        })?;
        Self::start_with(home, config, genesis, key).await
    }

    /// Starts a node from values already read (tests build them in memory).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub async fn start_with(
        home: &Path,
        config: NodeConfig,
        genesis: Genesis,
        key: SigningKey,
    ) -> Result<Self, NodeError> {
        let public_key = key.public_key();
        if public_key.algorithm() != genesis.suite.signature {
            return Err(NodeError::Key {
                path: NodeConfig::resolve(home, &config.node.key_file),
                message: format!(
                    "it holds an {} key, but this chain signs with {} (the genesis suite)",
                    public_key.algorithm(),
                    genesis.suite.signature
                ),
            });
        }
        // A genesis validator's member is genesis's; a validator added on the ledger names a
        // genesis member in node.toml (checked against the ledger once it is open).
        let member = match genesis
            .validators
            .iter()
            .find(|v| v.public_key == public_key)
        {
            Some(validator) => validator.member.clone(),
            None if genesis.member(&config.node.member).is_some() => config.node.member.clone(),
            None => {
                return Err(NodeError::NotAValidator {
                    path: NodeConfig::resolve(home, &config.node.key_file),
                    public_key: public_key.to_string(),
                });
            }
        };
        let data_dir = NodeConfig::resolve(home, &config.node.data_dir);
        std::fs::create_dir_all(&data_dir).map_err(|source| NodeError::Listen {
            address: data_dir.display().to_string(),
            source,
        })?;
        config
            .access
            .check_members(&genesis)
            .map_err(|message| ConfigError::Invalid {
                path: home.join(crate::config::CONFIG_FILE),
                message,
            })?;
        // The node's TLS identity, checked against genesis before anything else starts.
        let identity = if config.api.plaintext {
            tracing::warn!(
                "the API is served WITHOUT TLS (api.plaintext = true): callers are not \
                 authenticated and every caller may call every method; use this for local \
                 development only"
            );
            None
        } else {
            Some(NodeIdentity::load(
                &NodeConfig::resolve(home, &config.tls.certificate),
                &NodeConfig::resolve(home, &config.tls.private_key),
                &genesis,
                &member,
            )?)
        };
        let metrics = Arc::new(Metrics::new());
        let audit = if config.access.audit_log.as_os_str().is_empty() {
            None
        } else {
            Some(AuditLog::open(
                &NodeConfig::resolve(home, &config.access.audit_log),
                metrics.audit_lines_lost.clone(),
            )?)
        };
        let ledger = Ledger::open(&data_dir.join("db"), genesis.clone())?;
        ledger.set_state_tree_keep(config.node.state_tree_keep_heights);
        if let Some(validator) = ledger.tip().configuration.validator(&public_key)
            && validator.member != member
        {
            return Err(NodeError::Config(ConfigError::Invalid {
                path: home.join(crate::config::CONFIG_FILE),
                message: format!(
                    "node.member is {member:?}, but the ledger holds validator {public_key} \
                     as {:?}'s",
                    validator.member
                ),
            }));
        }
        let app = Arc::new(App::new(ledger, config.app_limits(), Arc::clone(&metrics)));
        let relay = Relay::start(
            &config.relay.peers,
            crate::relay::QueueLimits {
                transactions: config.relay.queue_transactions,
                bytes: config.relay.queue_bytes,
            },
            identity.as_ref().map(|i| i.client_tls(&genesis)),
            metrics.relay_dropped.clone(),
        )
        .map_err(|e| {
            NodeError::Config(ConfigError::Invalid {
                path: home.join(crate::config::CONFIG_FILE),
                message: e.to_string(),
            })
        })?;
        app.set_relay(relay);
        // The API trusts the member CAs of the configuration in force, as the ledger holds it.
        let transport = match identity {
            None => Transport::Plaintext,
            Some(identity) => {
                let ledger_app = Arc::clone(&app);
                Transport::Tls(Arc::new(crate::tls::TlsTrust::new(
                    identity,
                    Box::new(move || ledger_app.tip().configuration),
                )?))
            }
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();

        let api_listener = TcpListener::bind(config.api.listen)
            .await
            .map_err(|source| NodeError::Listen {
                address: config.api.listen.to_string(),
                source,
            })?;
        let api_address = api_listener
            .local_addr()
            .map_err(|source| NodeError::Listen {
                address: config.api.listen.to_string(),
                source,
            })?;

        let metrics_address = if config.metrics.enabled {
            let listener = metrics::bind(config.metrics.listen)
                .await
                .map_err(|source| NodeError::Listen {
                    address: config.metrics.listen.to_string(),
                    source,
                })?;
            let address = listener.local_addr().ok();
            tasks.push(tokio::spawn(metrics::serve(
                listener,
                Arc::clone(&metrics),
                shutdown_rx.clone(),
            )));
            address
        } else {
            None
        };

        let consensus = driver::start(DriverParams {
            app: Arc::clone(&app),
            key,
            genesis,
            config: config.consensus.clone(),
            testing: config.testing.clone(),
            wal_dir: data_dir.join("wal"),
            moniker: config.node.moniker.clone(),
        })
        .await
        .map_err(|e| NodeError::Consensus(e.to_string()))?;

        let service = LedgerService::new(
            Arc::clone(&app),
            config.api.clone(),
            member.clone(),
            consensus.peers(),
        )
        .with_synced(consensus.synced());
        let options = ServeOptions::from_config(
            transport,
            &config.api,
            &config.access.grants,
            audit,
            Arc::clone(&metrics),
        );
        let mut api_shutdown = shutdown_rx.clone();
        // The API runs on a runtime of its own, so that a flood of calls (TLS, decoding,
        // encoding answers) takes at most its threads, never the ones consensus runs on.
        let api_runtime = ApiRuntime::new(config.api.worker_threads, config.api.thread_niceness)
            .map_err(|source| NodeError::Listen {
                address: config.api.listen.to_string(),
                source,
            })?;
        let api_listener = api_listener
            .into_std()
            .map_err(|source| NodeError::Listen {
                address: config.api.listen.to_string(),
                source,
            })?;
        tasks.push(api_runtime.spawn(async move {
            let stop = async move {
                let _ = api_shutdown.wait_for(|stop| *stop).await;
            };
            let listener = match TcpListener::from_std(api_listener) {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::error!(%error, "the API listener cannot be used");
                    return;
                }
            };
            if let Err(error) = api::serve(listener, service, options, stop).await {
                tracing::error!(%error, "the API server stopped");
            }
        }));
        tracing::info!(%member, %api_address, "node running");
        Ok(Self {
            _api_runtime: api_runtime,
            app,
            member,
            api_address,
            metrics_address,
            shutdown,
            tasks,
            consensus,
        })
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The member this node's validator key belongs to.
    pub fn member(&self) -> &str {
        &self.member
    }

    /// Where the gRPC API listens.
    pub fn api_address(&self) -> SocketAddr {
        self.api_address
    }

    /// Where `/metrics` is served, if enabled.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    /// Waits for Ctrl-C or SIGTERM (`Ok`) or for consensus to stop on its own (`Err`, for
    /// example after a storage failure).
    ///
    /// # Errors
    /// Consensus stopped by itself.
    pub async fn wait_for_signal_or_failure(&self) -> Result<(), NodeError> {
        let terminate = async {
            #[cfg(unix)]
            {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            }
            #[cfg(not(unix))]
            std::future::pending::<()>().await;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Ok(()),
            () = terminate => Ok(()),
            reason = self.consensus.stopped() => Err(NodeError::Consensus(reason)),
        }
    }

    /// Stops consensus, the API and metrics, and waits for them.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.consensus.shutdown().await;
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn niceness() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
    }

    #[test]
    fn api_threads_run_below_the_node_priority() {
        let node = niceness();
        let runtime = ApiRuntime::new(1, 3).unwrap();
        let inner = runtime.0.as_ref().unwrap();
        let worker = inner.block_on(async { tokio::spawn(async { niceness() }).await.unwrap() });
        let blocking =
            inner.block_on(async { tokio::task::spawn_blocking(niceness).await.unwrap() });
        // A blocking thread that a worker (already lowered) starts is not lowered twice.
        let from_worker = inner.block_on(async {
            tokio::spawn(async {
                let held = std::sync::Arc::new(std::sync::Barrier::new(2));
                let other = std::sync::Arc::clone(&held);
                // One blocking thread kept busy, so that the next call needs a new one.
                let busy = tokio::task::spawn_blocking(move || {
                    other.wait();
                });
                let found = tokio::task::spawn_blocking(niceness).await.unwrap();
                held.wait();
                busy.await.unwrap();
                found
            })
            .await
            .unwrap()
        });
        assert_eq!(worker, (node + 3).min(19));
        assert_eq!(blocking, (node + 3).min(19));
        assert_eq!(from_worker, (node + 3).min(19));
        // The thread that built the runtime keeps its priority.
        assert_eq!(niceness(), node);

        let unchanged = ApiRuntime::new(1, 0).unwrap();
        let inner = unchanged.0.as_ref().unwrap();
        let worker = inner.block_on(async { tokio::spawn(async { niceness() }).await.unwrap() });
        assert_eq!(worker, node);
    }
}
