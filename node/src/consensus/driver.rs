//! The consensus driver: starts the Malachite engine for this validator and answers every
//! request the engine makes of the application, with the ledger.
//!
//! The engine talks to the application over a channel of [`AppMsg`]s, one at a time:
//!
//! - `ConsensusReady`: start at the height after the ledger's tip, with the validator set the
//!   ledger holds for it and the configured timeouts.
//! - `StartedRound`: the current height moves on; proposals that arrived early for this height
//!   are validated now, and every value already validated for this round is handed back (after
//!   a restart the engine also replays its write-ahead log, which holds the values it had).
//! - `GetValue` (this node proposes): wait until the mempool holds a transaction or a bounded
//!   idle interval passes (not after a height that came by value sync), build the block with
//!   the ledger (kept as pending), answer with its hash, then stream the block to the other
//!   validators as proposal parts.
//! - `ReceivedProposalPart`: reassemble the stream; once complete, check that the parts come
//!   from the round's proposer (its signature in the final part), decode the block and
//!   validate it with the ledger against the local clock; answer with the value and its
//!   validity.
//! - `RestreamProposal`: stream a pending block again (a re-proposal in a later round).
//! - `Decided`: convert the certificate, find the pending block by hash and commit it (the
//!   ledger verifies the certificate against the validator set of that height with
//!   `CommitCertificate::verify_with`, each precommit strictly or by the verdict the engine's
//!   verifier already reached on it; see `crate::signatures`) **before** acknowledging. A block that cannot be committed
//!   stops the node: going on would diverge from the quorum.
//! - `Finalized`: start the next height with the validator set the ledger holds for it: the
//!   configuration after the block just committed names it (an accepted proposal may have
//!   changed it). When the set changes, the network follows it: a new validator's address (from
//!   the configuration) becomes a persistent peer, whose peer id is then admitted, and a
//!   removed validator's is dropped.
//! - `GetHistoryMinHeight`, `GetDecidedValues`: serve committed blocks to peers catching up
//!   (the requested range is clamped to what is stored, and the answer is bounded).
//! - `ProcessSyncedValue`: a block fetched by value sync while catching up. The engine has
//!   already checked the certificate that came with it (with [`ConsensusVerifier`], the same
//!   strict rule) before handing over the bytes; the block is decoded, validated and kept as
//!   pending, and the engine then decides it and sends `Decided` with that certificate, which
//!   the ledger verifies again before applying the block. Several synced heights in a row
//!   mean the node is catching up: it says so ([`ConsensusHandle::synced`]) and the API
//!   turns writes away until a height is decided through consensus again ([`CatchUp`](super::host::CatchUp)).
//!
//! Everything a node needs is in [`ConsensusConfig`] and the [`App`]; there is no global
//! state, so several nodes run in one process (tests) as long as their ports, write-ahead logs
//! and monikers differ. [`ConsensusHandle::shutdown`] stops the engine's actors and the loop.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use evidence_core::digest::Digest;
use evidence_core::keys::{PublicKey, SigningKey};
use evidence_genesis::{Genesis, GenesisValidator};
use libp2p_identity::PeerId as NetworkPeerId;
use malachite::app::config::NodeConfig as EngineNodeConfig;
use malachite::app::consensus::VoteExtensionError;
use malachite::app::net::Multiaddr;
use malachite::app::types::streaming::StreamMessage;
use malachite::{
    AppMsg, Channels, ConsensusContext, EngineHandle, NetworkContext, NetworkIdentity, NetworkMsg,
    RequestContext, SyncContext, WalContext,
};
use malachite_config::{
    ConsensusConfig as EngineConsensusConfig, P2pConfig, PubSubProtocol, ValuePayload,
    ValueSyncConfig,
};
use malachite_engine::host::{HeightParams, Next};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::codec::{EvidenceCodec, SYNC_RESPONSE_BYTES_MAX};
use super::context::{
    BlockHeight, CertificateConversionError, ConsensusValidatorSet, EvidenceContext, ProposalPart,
    ValidatorAddress,
};
use super::host::{ByzantineFaults, Host};
use super::signing::{ConsensusSigner, ConsensusVerifier};
use super::{network_keypair, peer_ids_of, validator_peer_id};
use crate::app::{App, now_ms};
use crate::config::{ConsensusSection, TestingSection};
use crate::ledger::LedgerError;

type Ctx = EvidenceContext;

/// How long shutting down waits for the engine's actors.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

pub use super::timeouts::ConsensusTimeouts;

/// Everything the driver needs besides the application.
#[derive(Debug, Clone)]
pub struct ConsensusConfig {
    /// The node's name in logs and engine metrics; distinct per node in one process.
    pub moniker: String,
    /// The validator's signing key. A key not (yet) in the validator set follows the chain
    /// and votes from the height whose set includes it. The node's libp2p identity is derived
    /// from it ([`network_keypair`]).
    pub signing_key: SigningKey,
    /// The libp2p listen address; it must use TCP (e.g. `/ip4/0.0.0.0/tcp/26656`).
    pub listen: Multiaddr,
    /// The other validators' addresses, each ending in `/p2p/<peer id>` with the peer id of a
    /// validator in genesis or in the configuration in force (see [`validator_peer_address`]).
    /// Only these peers, and the validators the configuration adds later, are admitted.
    pub peers: Vec<Multiaddr>,
    /// The engine's write-ahead log file (see [`wal_path`]).
    pub wal_path: PathBuf,
    /// Round timeouts.
    pub timeouts: ConsensusTimeouts,
    /// How long a proposer waits for a transaction before proposing an empty block; it is
    /// also bounded by half the time the engine allows for building a value. Default 1 s.
    pub idle_block_interval: Duration,
    /// Gossip protocol: GossipSub (default; relays messages around a broken link) or plain
    /// broadcast to every connected peer.
    pub gossipsub: bool,
    /// How often a node tells its peers its height (value sync uses it to notice it is
    /// behind). Default 1 s.
    pub sync_status_interval: Duration,
    /// **Test only.** When this node proposes, it puts a wrong state root in the header, so
    /// that honest validators must refuse its block. Never set on a real network.
    pub byzantine_wrong_state_root: bool,
    /// **Test only.** When this node proposes, it dates its block just after the previous
    /// one (back-dated). Never set on a real network.
    pub byzantine_back_date: bool,
}

impl ConsensusConfig {
    /// A configuration with the default timeouts and intervals.
    pub fn new(
        moniker: impl Into<String>,
        signing_key: SigningKey,
        listen: Multiaddr,
        peers: Vec<Multiaddr>,
        wal_path: PathBuf,
    ) -> Self {
        Self {
            moniker: moniker.into(),
            signing_key,
            listen,
            peers,
            wal_path,
            timeouts: ConsensusTimeouts::default(),
            idle_block_interval: Duration::from_secs(1),
            gossipsub: true,
            sync_status_interval: Duration::from_secs(1),
            byzantine_wrong_state_root: false,
            byzantine_back_date: false,
        }
    }
}

/// What a node gives the driver, straight from its configuration file and home directory.
#[derive(Debug, Clone)]
pub struct DriverParams {
    /// The node's application (ledger, mempool, waiters).
    pub app: Arc<App>,
    /// The validator's signing key.
    pub key: SigningKey,
    /// The genesis file: its validator addresses are the peers when `config.peers` is empty.
    pub genesis: Genesis,
    /// The `[consensus]` section of `node.toml`.
    pub config: ConsensusSection,
    /// The `[testing]` section of `node.toml` (fault injection).
    pub testing: TestingSection,
    /// The directory of the engine's write-ahead log.
    pub wal_dir: PathBuf,
    /// The node's name in logs and engine metrics.
    pub moniker: String,
}

/// The handle [`start`] returns.
pub type DriverHandle = ConsensusHandle;

/// The write-ahead log file inside its directory.
pub const WAL_FILE: &str = "consensus.wal";

impl DriverParams {
    /// The driver configuration these parameters describe: the listen address, the peers
    /// (those configured, or else every other genesis validator that has an address, each
    /// pinned to its peer id), the timeouts, the idle-block interval and the test fault.
    ///
    /// # Errors
    /// An unparsable listen address, or a peer address that is not a multiaddress or names
    /// the wrong peer id.
    pub fn consensus_config(&self) -> Result<ConsensusConfig, DriverError> {
        config_from_sections(
            &self.key,
            &self.genesis,
            &self.config,
            &self.testing,
            &self.wal_dir,
            &self.moniker,
        )
    }
}

/// See [`DriverParams::consensus_config`].
fn config_from_sections(
    key: &SigningKey,
    genesis: &Genesis,
    section: &ConsensusSection,
    testing: &TestingSection,
    wal_dir: &Path,
    moniker: &str,
) -> Result<ConsensusConfig, DriverError> {
    let listen = section
        .listen
        .parse()
        .map_err(|e| DriverError::InvalidListenAddress {
            address: section.listen.clone(),
            reason: format!("{e}"),
        })?;
    let own = key.public_key();
    let peers = if section.peers.is_empty() {
        genesis
            .validators
            .iter()
            .filter(|v| v.public_key != own)
            .filter_map(|v| v.address.as_deref().map(|a| (a, v.public_key)))
            .map(|(address, key)| validator_peer_address(address, &key))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        section
            .peers
            .iter()
            .map(|address| {
                address.parse().map_err(|e| DriverError::InvalidPeer {
                    address: address.clone(),
                    reason: format!("{e}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let mut config =
        ConsensusConfig::new(moniker, key.clone(), listen, peers, wal_dir.join(WAL_FILE));
    config.timeouts = ConsensusTimeouts {
        propose: Duration::from_millis(section.timeout_propose_ms),
        prevote: Duration::from_millis(section.timeout_prevote_ms),
        precommit: Duration::from_millis(section.timeout_precommit_ms),
        probe: Duration::from_millis(section.timeout_probe_ms),
        floor: Duration::from_millis(section.timeout_floor_ms),
    };
    config.idle_block_interval = section.idle_block_interval();
    config.gossipsub = section.gossipsub;
    config.byzantine_wrong_state_root = testing.byzantine_wrong_state_root;
    config.byzantine_back_date = testing.byzantine_back_date;
    Ok(config)
}

/// Starts consensus for a node from its configuration sections (see
/// [`DriverParams::consensus_config`] and [`start_with`]).
///
/// # Errors
/// As [`DriverParams::consensus_config`] and [`start_with`].
pub async fn start(params: DriverParams) -> Result<ConsensusHandle, DriverError> {
    let config = params.consensus_config()?;
    start_with(config, params.app).await
}

/// The write-ahead log's place inside a node's data directory.
pub fn wal_path(data_dir: &Path) -> PathBuf {
    data_dir.join("wal").join(WAL_FILE)
}

/// A peer address as the engine needs it, for the validator with `key` reached at `address`:
/// for an Ed25519 validator, `address` with `/p2p/<peer id of key>` appended, or `address`
/// itself if it already ends with exactly that component; for an SM2 validator, `address`
/// itself, which must pin the peer id (its address in genesis or in the configuration does).
///
/// # Errors
/// The address is not a multiaddress, pins another key's peer id, or (SM2) pins none.
pub fn validator_peer_address(address: &str, key: &PublicKey) -> Result<Multiaddr, DriverError> {
    let invalid = |reason: String| DriverError::InvalidPeer {
        address: address.to_owned(),
        reason,
    };
    let peer_id = validator_peer_id(key, Some(address)).map_err(|e| invalid(e.to_string()))?;
    let full = if address.contains("/p2p/") {
        address.to_owned()
    } else {
        format!("{}/p2p/{peer_id}", address.trim_end_matches('/'))
    };
    if full.starts_with("/p2p/") {
        return Err(invalid(
            "it names a peer id but no transport (/ip4/…/tcp/…) to reach it at".to_owned(),
        ));
    }
    full.parse().map_err(|e| invalid(format!("{e}")))
}

/// Why consensus could not start or had to stop.
#[derive(Debug, Error)]
pub enum DriverError {
    #[error("listen address {address} is not usable: {reason}")]
    InvalidListenAddress { address: String, reason: String },
    #[error("peer address {address} is not usable: {reason}")]
    InvalidPeer { address: String, reason: String },
    /// The validator's record pins another peer id than this node's key gives: every peer
    /// would refuse it.
    #[error(
        "this node's network identity is peer {own}, but its validator's address pins {pinned}: \
         the key file is not the one the validator was registered with (evidence-node \
         --print-peer-id prints a key's peer id)"
    )]
    PeerIdMismatch { own: String, pinned: String },
    #[error("the consensus engine failed to start: {0}")]
    Engine(String),
    /// The ledger failed while committing a decided block; the node must not go on.
    #[error("ledger failure: {0}")]
    Ledger(#[from] LedgerError),
    #[error("decided certificate: {0}")]
    Certificate(#[from] CertificateConversionError),
    /// Consensus decided a block this node does not have.
    #[error("decided block {hash} at height {height} is not among the pending blocks")]
    MissingBlock { height: u64, hash: Digest },
    /// Consensus decided, for a height this node already committed, another block.
    #[error("height {height} was committed as {stored}, but consensus decided {decided}")]
    Diverged {
        height: u64,
        stored: Digest,
        decided: Digest,
    },
    #[error("a ledger task failed: {0}")]
    Task(String),
}

/// The running engine and driver loop of one node. Dropping it stops both without waiting;
/// [`Self::shutdown`] stops them and waits.
pub struct ConsensusHandle {
    engine: Option<EngineHandle>,
    task: Option<JoinHandle<Result<(), DriverError>>>,
    stop: Option<oneshot::Sender<()>>,
    stopped: watch::Receiver<Option<String>>,
    peer_id: NetworkPeerId,
    address: ValidatorAddress,
    peers: Arc<AtomicU32>,
    synced: Arc<AtomicBool>,
    peer_poller: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ConsensusHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsensusHandle")
            .field("address", &self.address)
            .field("peer_id", &self.peer_id)
            .field("running", &!self.is_finished())
            .finish()
    }
}

impl ConsensusHandle {
    /// This node's libp2p peer id.
    pub fn peer_id(&self) -> NetworkPeerId {
        self.peer_id
    }

    /// This node's validator address.
    pub fn address(&self) -> ValidatorAddress {
        self.address
    }

    /// How many peers the network layer is connected to (refreshed every
    /// [`PEER_POLL_INTERVAL`]).
    pub fn peers(&self) -> Arc<AtomicU32> {
        Arc::clone(&self.peers)
    }

    /// Whether the node follows consensus at the chain's tip (`false` while it catches up
    /// through value sync; see [`CatchUp`](super::host::CatchUp)).
    pub fn synced(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.synced)
    }

    /// True once the driver loop has ended (after a shutdown or a fatal error).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits until consensus stops by itself — a fatal error (for example a block the ledger
    /// cannot commit) or the engine stopping — and returns why. Returns at once if it already
    /// has.
    pub async fn stopped(&self) -> String {
        let mut stopped = self.stopped.clone();
        match stopped.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            Err(_) => "the consensus task ended".to_owned(),
        }
    }

    /// Stops the driver loop and the engine's actors (network, write-ahead log, consensus,
    /// sync) and waits for them. A fatal error that had already ended the loop is logged.
    pub async fn shutdown(mut self) {
        if let Some(poller) = self.peer_poller.take() {
            poller.abort();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.stop_engine().await;
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => warn!(%error, "consensus had stopped on a fatal error"),
                Err(error) if error.is_cancelled() => {}
                Err(error) => warn!(%error, "the consensus task failed"),
            }
        }
    }

    async fn stop_engine(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine
                .actor
                .stop_children_and_wait(Some("shutdown".into()), Some(SHUTDOWN_WAIT))
                .await;
            // The node actor may already have stopped itself once its children ended.
            let _ = engine
                .actor
                .stop_and_wait(Some("shutdown".into()), Some(SHUTDOWN_WAIT))
                .await;
            let _ = tokio::time::timeout(SHUTDOWN_WAIT, engine.handle).await;
        }
    }
}

impl Drop for ConsensusHandle {
    fn drop(&mut self) {
        if let Some(poller) = self.peer_poller.take() {
            poller.abort();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(engine) = self.engine.take() {
            engine.actor.stop_children(Some("handle dropped".into()));
            engine.actor.stop(Some("handle dropped".into()));
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The engine's node configuration.
#[derive(Debug, Clone)]
struct EngineConfig {
    moniker: String,
    consensus: EngineConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl EngineNodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }

    fn consensus(&self) -> &EngineConsensusConfig {
        &self.consensus
    }

    fn consensus_mut(&mut self) -> &mut EngineConsensusConfig {
        &mut self.consensus
    }

    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }

    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

fn check_listen(listen: &Multiaddr) -> Result<(), DriverError> {
    let stack: Vec<&str> = listen.protocol_stack().collect();
    let reason = if stack.contains(&"udp") || stack.iter().any(|p| p.starts_with("quic")) {
        Some("only TCP is supported")
    } else if !stack.contains(&"tcp") {
        Some("it has no /tcp/ component")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(DriverError::InvalidListenAddress {
            address: listen.to_string(),
            reason: reason.into(),
        }),
    }
}

/// Checks that every peer address pins the peer id of a validator other than this node, in
/// `known` (genesis's and the configuration's in force, with the addresses that pin the peer
/// ids of SM2 validators); returns each peer's key.
fn check_peers(
    peers: &[Multiaddr],
    known: &[&[GenesisValidator]],
    own: &ValidatorAddress,
) -> Result<HashMap<PublicKey, Multiaddr>, DriverError> {
    let keys: Vec<PublicKey> = known
        .iter()
        .flat_map(|list| list.iter())
        .map(|v| v.public_key)
        .filter(|key| *key != own.0)
        .collect();
    let allowed: HashMap<String, PublicKey> = peer_ids_of(&keys, known)
        .into_iter()
        .map(|(id, key)| (id.to_string(), key))
        .collect();
    let mut keys = HashMap::new();
    for peer in peers {
        let text = peer.to_string();
        let invalid = |reason: &str| DriverError::InvalidPeer {
            address: text.clone(),
            reason: reason.into(),
        };
        let Some((_, id)) = text.rsplit_once("/p2p/") else {
            return Err(invalid("it does not end with /p2p/<peer id>"));
        };
        let Some(key) = allowed.get(id) else {
            return Err(invalid(
                "its peer id is not that of another validator in genesis or in the \
                 configuration in force",
            ));
        };
        keys.insert(*key, peer.clone());
    }
    Ok(keys)
}

fn mc_address(validator: &super::context::ConsensusValidator) -> &ValidatorAddress {
    malachite_core_types::Validator::<Ctx>::address(validator)
}

/// Starts the engine for this validator and the loop that answers it.
///
/// # Errors
/// An unusable listen or peer address, a key that was never a validator (in genesis or in the
/// configuration in force) and names no member, or an engine that fails to start (for example
/// a port already in use or an unreadable write-ahead log).
pub async fn start_with(
    config: ConsensusConfig,
    app: Arc<App>,
) -> Result<ConsensusHandle, DriverError> {
    let ledger = app.ledger();
    let chain_id = ledger.genesis().chain_id.clone();
    let tip = ledger.tip();
    let validators = ConsensusValidatorSet::new((*tip.validators).clone());
    let address = ValidatorAddress(config.signing_key.public_key());
    if tip.validators.get(&address.0).is_none() {
        warn!(
            key = %address,
            height = tip.height + 1,
            "this node's key is not in the validator set of the next height: it follows the \
             chain and votes from the height whose set includes it"
        );
    }
    check_listen(&config.listen)?;
    let own_peer = network_keypair(&config.signing_key).public().to_peer_id();
    if let Some(pinned) = tip
        .configuration
        .validators
        .iter()
        .chain(&ledger.genesis().validators)
        .find(|v| v.public_key == address.0)
        .and_then(|v| v.address.as_deref())
        .and_then(evidence_genesis::network::pinned_peer_id)
        && pinned != own_peer.to_string()
    {
        return Err(DriverError::PeerIdMismatch {
            own: own_peer.to_string(),
            pinned: pinned.to_owned(),
        });
    }
    let peer_addresses = check_peers(
        &config.peers,
        &[&tip.configuration.validators, &ledger.genesis().validators],
        &address,
    )?;

    let engine_config = EngineConfig {
        moniker: config.moniker.clone(),
        consensus: EngineConsensusConfig {
            enabled: true,
            value_payload: ValuePayload::ProposalAndParts,
            p2p: {
                let mut p2p = P2pConfig {
                    listen_addr: config.listen.clone(),
                    persistent_peers: config.peers.clone(),
                    persistent_peers_only: true,
                    ..P2pConfig::default()
                };
                p2p.protocol = if config.gossipsub {
                    PubSubProtocol::default()
                } else {
                    PubSubProtocol::Broadcast
                };
                p2p.rpc_max_size = bytesize::ByteSize::b(SYNC_RESPONSE_BYTES_MAX as u64);
                p2p
            },
            ..EngineConsensusConfig::default()
        },
        value_sync: ValueSyncConfig {
            enabled: true,
            status_update_interval: config.sync_status_interval,
            max_response_size: bytesize::ByteSize::b(SYNC_RESPONSE_BYTES_MAX as u64),
            ..ValueSyncConfig::default()
        },
    };

    let keypair = network_keypair(&config.signing_key);
    let peer_id = keypair.public().to_peer_id();
    let identity = NetworkIdentity::new(config.moniker.clone(), keypair, Some(address.to_string()));
    // The engine's checks and the ledger's share one memory of verified signatures.
    let verified = ledger.consensus_signatures().clone();
    let signer = ConsensusSigner::new(chain_id.clone(), config.signing_key.clone())
        .recording_into(verified.clone());
    let verifier = ConsensusVerifier::new(chain_id.clone(), verified);

    let (channels, engine) = malachite::start_engine(
        EvidenceContext::new(),
        engine_config,
        WalContext::new(config.wal_path.clone(), EvidenceCodec),
        NetworkContext::new(identity, EvidenceCodec),
        ConsensusContext::new_validator(address, Box::new(verifier), Box::new(signer.clone())),
        SyncContext::new(EvidenceCodec),
        RequestContext::new(100),
    )
    .await
    .map_err(|e| DriverError::Engine(format!("{e:#}")))?;
    info!(
        moniker = %config.moniker,
        %address,
        %peer_id,
        listen = %config.listen,
        "consensus engine started"
    );

    let host = Host::new(
        Arc::clone(&app),
        validators,
        signer,
        ByzantineFaults {
            wrong_state_root: config.byzantine_wrong_state_root,
            back_date: config.byzantine_back_date,
            equivocate: false,
            skip_validation: false,
        },
    )
    .with_timeouts(config.timeouts);
    let synced = host.synced();
    let driver = Driver {
        host: Some(host),
        app,
        idle_block_interval: config.idle_block_interval,
        peers: PeerFollower {
            own: address.0,
            addresses: Arc::new(std::sync::Mutex::new(peer_addresses)),
            unreachable: std::collections::HashSet::new(),
            requests: channels.net_requests.clone(),
        },
    };
    let peers = Arc::new(AtomicU32::new(0));
    let peer_poller = tokio::spawn(poll_peers(
        channels.net_requests.clone(),
        Arc::clone(&peers),
        Arc::clone(&driver.app),
    ));
    let (stop_tx, stop_rx) = oneshot::channel();
    let (stopped_tx, stopped_rx) = watch::channel(None);
    let node = engine.actor.clone();
    let task = tokio::spawn(async move {
        let result = driver.run(channels, stop_rx).await;
        let reason = match &result {
            Ok(()) => "the consensus engine stopped".to_owned(),
            Err(error) => {
                error!(%error, "consensus stopped on a fatal error");
                node.stop_children(Some(format!("fatal: {error}")));
                node.stop(Some(format!("fatal: {error}")));
                error.to_string()
            }
        };
        let _ = stopped_tx.send(Some(reason));
        result
    });
    Ok(ConsensusHandle {
        engine: Some(engine),
        task: Some(task),
        stop: Some(stop_tx),
        stopped: stopped_rx,
        peer_id,
        address,
        peers,
        synced,
        peer_poller: Some(peer_poller),
    })
}

/// How often the connected-peer count is refreshed.
pub const PEER_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Asks the network layer for its state now and then and publishes the number of connected
/// peers (for `Status` and the `peers` metric).
async fn poll_peers(
    requests: mpsc::Sender<malachite::NetworkRequest>,
    peers: Arc<AtomicU32>,
    app: Arc<App>,
) {
    let mut ticker = tokio::time::interval(PEER_POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Ok(Some(dump)) = malachite::NetworkRequest::dump_state(&requests).await else {
            continue;
        };
        let count = u32::try_from(dump.peers.len()).unwrap_or(u32::MAX);
        peers.store(count, Ordering::Relaxed);
        app.metrics().peers.set(i64::from(count));
    }
}

/// A persistent peer to add or drop, with its validator's key.
#[derive(Debug)]
enum PeerChange {
    Add(PublicKey, Multiaddr),
    Remove(PublicKey, Multiaddr),
}

/// Keeps the network's persistent peers (and so the peers it admits) to the validators of the
/// current height.
struct PeerFollower {
    own: PublicKey,
    /// The persistent peers by validator key; an addition the network refused is taken out
    /// again, so the next height tries it again.
    addresses: Arc<std::sync::Mutex<HashMap<PublicKey, Multiaddr>>>,
    /// Validators already reported as unreachable (no usable address), reported once.
    unreachable: std::collections::HashSet<PublicKey>,
    requests: mpsc::Sender<malachite::NetworkRequest>,
}

impl PeerFollower {
    /// Adds the validators of `validators` that are not peers yet, at the address the
    /// configuration gives (one without an address cannot be reached or admitted, which is
    /// logged), and drops the peers that are no validators any more.
    fn follow(&mut self, validators: &ConsensusValidatorSet, app: &App) {
        let configuration = app.tip().configuration;
        let wanted: Vec<PublicKey> = validators
            .validators()
            .iter()
            .map(|v| mc_address(v).0)
            .filter(|key| *key != self.own)
            .collect();
        let mut changes = Vec::new();
        {
            let mut addresses = lock(&self.addresses);
            for key in &wanted {
                if addresses.contains_key(key) {
                    continue;
                }
                let address = configuration
                    .validator(key)
                    .and_then(|v| v.address.as_deref())
                    .ok_or_else(|| "it has no address in the configuration".to_owned())
                    .and_then(|address| {
                        validator_peer_address(address, key).map_err(|e| e.to_string())
                    });
                match address {
                    Ok(address) => {
                        addresses.insert(*key, address.clone());
                        changes.push(PeerChange::Add(*key, address));
                    }
                    Err(reason) => {
                        if self.unreachable.insert(*key) {
                            warn!(validator = %key, %reason, "a validator this node cannot reach");
                        }
                    }
                }
            }
            let gone: Vec<PublicKey> = addresses
                .keys()
                .filter(|key| !wanted.contains(key))
                .copied()
                .collect();
            for key in gone {
                if let Some(address) = addresses.remove(&key) {
                    changes.push(PeerChange::Remove(key, address));
                }
            }
        }
        if changes.is_empty() {
            return;
        }
        let requests = self.requests.clone();
        let addresses = Arc::clone(&self.addresses);
        tokio::spawn(async move {
            for change in changes {
                let result = match &change {
                    PeerChange::Add(_, address) => {
                        malachite::NetworkRequest::add_persistent_peer(&requests, address.clone())
                            .await
                    }
                    PeerChange::Remove(_, address) => {
                        malachite::NetworkRequest::remove_persistent_peer(
                            &requests,
                            address.clone(),
                        )
                        .await
                    }
                };
                let (PeerChange::Add(key, address) | PeerChange::Remove(key, address)) = &change;
                let added = matches!(change, PeerChange::Add(..));
                let failed = match result {
                    Ok(Ok(())) => {
                        info!(validator = %key, %address, added, "the peers follow the validator set");
                        false
                    }
                    Ok(Err(error)) => {
                        warn!(validator = %key, %address, added, %error, "updating a peer failed");
                        true
                    }
                    Err(error) => {
                        warn!(validator = %key, %address, added, %error, "the network did not take a peer update");
                        true
                    }
                };
                if failed && added {
                    lock(&addresses).remove(key);
                }
            }
        });
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The map stays consistent whatever a panicking holder did: keep going.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The loop: each message of the engine answered by the [`Host`]. Calls that read or write
/// the database run on a blocking thread (the host goes with them and comes back), so the
/// runtime's workers stay free for the network.
struct Driver {
    /// `None` only while a blocking call holds it.
    host: Option<Host>,
    app: Arc<App>,
    idle_block_interval: Duration,
    peers: PeerFollower,
}

impl Driver {
    /// The engine's parameters for the height the host works on.
    fn params(&mut self) -> Result<HeightParams<Ctx>, DriverError> {
        let host = self.host()?;
        Ok(HeightParams::new(
            host.validators().clone(),
            host.timeouts(),
            None,
        ))
    }

    /// Points the network at the validators of the height the host works on.
    fn follow_validators(&mut self) -> Result<(), DriverError> {
        let host = self.host.as_ref().ok_or_else(|| {
            DriverError::Task("the consensus host was lost in a failed task".into())
        })?;
        self.peers.follow(host.validators(), &self.app);
        Ok(())
    }

    fn host(&mut self) -> Result<&mut Host, DriverError> {
        self.host
            .as_mut()
            .ok_or_else(|| DriverError::Task("the consensus host was lost in a failed task".into()))
    }

    /// Runs `work` on the host on a blocking thread.
    async fn blocking<R: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut Host) -> R + Send + 'static,
    ) -> Result<R, DriverError> {
        let mut host = self.host.take().ok_or_else(|| {
            DriverError::Task("the consensus host was lost in a failed task".into())
        })?;
        let (host, result) = tokio::task::spawn_blocking(move || {
            let result = work(&mut host);
            (host, result)
        })
        .await
        .map_err(|e| DriverError::Task(e.to_string()))?;
        self.host = Some(host);
        Ok(result)
    }

    async fn run(
        mut self,
        mut channels: Channels<Ctx>,
        mut stop: oneshot::Receiver<()>,
    ) -> Result<(), DriverError> {
        loop {
            let message = tokio::select! {
                _ = &mut stop => return Ok(()),
                message = channels.consensus.recv() => message,
            };
            let Some(message) = message else {
                info!("the consensus engine stopped");
                return Ok(());
            };
            self.handle(message, &channels.network).await?;
        }
    }

    async fn handle(
        &mut self,
        message: AppMsg<Ctx>,
        network: &mpsc::Sender<NetworkMsg<Ctx>>,
    ) -> Result<(), DriverError> {
        match message {
            AppMsg::ConsensusReady { reply } => {
                let height = self.host()?.start_height();
                info!(height, "consensus ready");
                self.follow_validators()?;
                let _ = reply.send((BlockHeight(height), self.params()?));
            }
            AppMsg::StartedRound {
                height,
                round,
                proposer,
                role,
                reply_value,
            } => {
                debug!(%height, %round, %proposer, ?role, "round started");
                let values = self
                    .blocking(move |host| host.started_round(height.0, round, now_ms()))
                    .await?;
                let _ = reply_value.send(values);
            }
            AppMsg::GetValue {
                height,
                round,
                timeout,
                reply,
            } => {
                let host = self.host()?;
                if !host.has_proposed(height.0, round) && !host.propose_at_once(height.0) {
                    // A new block: wait until a transaction is there or a bounded idle
                    // interval passes (not while catching up: see `Host::propose_at_once`).
                    let wait = self.idle_block_interval.min(timeout / 2);
                    let deadline = tokio::time::Instant::now() + wait;
                    self.app.wait_for_transactions(deadline).await;
                }
                let proposed = self
                    .blocking(move |host| host.propose(height.0, round, now_ms()))
                    .await?;
                if let Some((value, parts)) = proposed {
                    let _ = reply.send(value);
                    publish(network, parts).await;
                }
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtensions {
                extensions, reply, ..
            } => {
                let verdicts = extensions
                    .into_iter()
                    .map(|(address, ())| (address, Err(VoteExtensionError::InvalidVoteExtension)))
                    .collect();
                let _ = reply.send(verdicts);
            }
            AppMsg::RestreamProposal {
                height,
                round,
                valid_round,
                address,
                value_id,
            } => {
                let parts = self
                    .blocking(move |host| {
                        host.restream(height.0, round, valid_round, address, value_id)
                    })
                    .await?;
                publish(network, parts).await;
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(BlockHeight(1));
            }
            AppMsg::ReceivedProposalPart {
                from,
                published_by,
                part,
                reply,
            } => {
                let publisher = published_by.unwrap_or(from);
                let value = match self.host()?.received_part(publisher, part) {
                    Some(proposal) => {
                        self.blocking(move |host| {
                            let value = host.validate_streamed(proposal, now_ms());
                            host.proposal_timed(now_ms());
                            value
                        })
                        .await?
                    }
                    None => None,
                };
                let _ = reply.send(value);
            }
            AppMsg::Decided {
                certificate, reply, ..
            } => {
                self.blocking(move |host| host.decided(&certificate))
                    .await??;
                let _ = reply.send(());
            }
            AppMsg::Finalized {
                certificate, reply, ..
            } => {
                let next = certificate.height.0 + 1;
                self.host()?.enter_height(next);
                self.follow_validators()?;
                let _ = reply.send(Next::Start(BlockHeight(next), self.params()?));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let values = self
                    .blocking(move |host| host.decided_values(range))
                    .await?;
                let _ = reply.send(values);
            }
            AppMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply,
            } => {
                let outcome = self
                    .blocking(move |host| {
                        host.synced_value(height.0, round, proposer, value_bytes, now_ms())
                    })
                    .await?;
                let _ = reply.send(outcome);
            }
        }
        Ok(())
    }
}

/// Sends a proposal's parts to the network, in order.
async fn publish(network: &mpsc::Sender<NetworkMsg<Ctx>>, parts: Vec<StreamMessage<ProposalPart>>) {
    for message in parts {
        if network
            .send(NetworkMsg::PublishProposalPart(message))
            .await
            .is_err()
        {
            warn!("the network stopped while streaming a proposal");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> SigningKey {
        SigningKey::from_seed(&[i; 32])
    }

    #[test]
    fn peer_addresses_pin_the_validator_identity() {
        let k = key(2).public_key();
        let address = validator_peer_address("/ip4/127.0.0.1/tcp/4000", &k).unwrap();
        assert_eq!(
            address.to_string(),
            format!(
                "/ip4/127.0.0.1/tcp/4000/p2p/{}",
                super::super::validator_peer_id(&k, None).unwrap()
            )
        );
        assert_eq!(
            validator_peer_address(&address.to_string(), &k).unwrap(),
            address
        );
        let other = key(3).public_key();
        assert!(validator_peer_address(&address.to_string(), &other).is_err());
    }

    #[test]
    fn listen_addresses_must_be_tcp() {
        assert!(check_listen(&"/ip4/127.0.0.1/tcp/4000".parse().unwrap()).is_ok());
        assert!(check_listen(&"/ip4/127.0.0.1/udp/4000/quic-v1".parse().unwrap()).is_err());
        assert!(check_listen(&"/ip4/127.0.0.1".parse().unwrap()).is_err());
    }

    #[test]
    fn configuration_sections_become_the_driver_configuration() {
        let mut consortium = evidence_genesis::default_consortium(
            "sections",
            1_700_000_000_000,
            &mut rand_core::OsRng,
        );
        for (i, v) in consortium.genesis.validators.iter_mut().enumerate() {
            v.address = Some(format!("/ip4/10.0.0.{i}/tcp/26656"));
        }
        let key = consortium.validator_keys[0].1.clone();
        let mut section = ConsensusSection::default();
        let testing = TestingSection {
            byzantine_wrong_state_root: true,
            byzantine_back_date: false,
        };
        let wal_dir = Path::new("wal");
        let config = config_from_sections(
            &key,
            &consortium.genesis,
            &section,
            &testing,
            wal_dir,
            "bureau",
        )
        .unwrap();
        // Peers from genesis: the three others, pinned to their peer ids.
        assert_eq!(config.peers.len(), 3);
        for (v, peer) in consortium.genesis.validators[1..].iter().zip(&config.peers) {
            assert!(
                peer.to_string().ends_with(
                    &super::super::validator_peer_id(&v.public_key, None)
                        .unwrap()
                        .to_string()
                )
            );
        }
        assert_eq!(config.wal_path, wal_dir.join(WAL_FILE));
        assert_eq!(
            config.timeouts.propose,
            Duration::from_millis(section.timeout_propose_ms)
        );
        assert!(config.byzantine_wrong_state_root);

        // Configured peers win over genesis; a malformed one is refused.
        section.peers = vec![config.peers[0].to_string()];
        let configured = config_from_sections(
            &key,
            &consortium.genesis,
            &section,
            &TestingSection::default(),
            wal_dir,
            "bureau",
        )
        .unwrap();
        assert_eq!(configured.peers, vec![config.peers[0].clone()]);
        section.peers = vec!["not an address".into()];
        assert!(matches!(
            config_from_sections(&key, &consortium.genesis, &section, &testing, wal_dir, "b"),
            Err(DriverError::InvalidPeer { .. })
        ));
        section.peers.clear();
        section.listen = "nonsense".into();
        assert!(matches!(
            config_from_sections(&key, &consortium.genesis, &section, &testing, wal_dir, "b"),
            Err(DriverError::InvalidListenAddress { .. })
        ));
    }
}
