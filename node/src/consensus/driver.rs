//! The consensus driver: starts the Malachite engine for this validator and answers every
//! request the engine makes of the application, with the ledger.
//!
//! The engine talks to the application over a channel of [`AppMsg`]s, one at a time:
//!
//! - `ConsensusReady`: start at the height after the ledger's tip, with the genesis validator
//!   set and the configured timeouts.
//! - `StartedRound`: the current height moves on; proposals that arrived early for this height
//!   are validated now, and every value already validated for this round is handed back (after
//!   a restart the engine also replays its write-ahead log, which holds the values it had).
//! - `GetValue` (this node proposes): wait until the mempool holds a transaction or a bounded
//!   idle interval passes, build the block with the ledger (kept as pending), answer with its
//!   hash, then stream the block to the other validators as proposal parts.
//! - `ReceivedProposalPart`: reassemble the stream; once complete, check that the parts come
//!   from the round's proposer (its signature in the final part), decode the block and
//!   validate it with the ledger against the local clock; answer with the value and its
//!   validity.
//! - `RestreamProposal`: stream a pending block again (a re-proposal in a later round).
//! - `Decided`: convert the certificate, find the pending block by hash and commit it (the
//!   ledger verifies the certificate against the genesis validator set with
//!   `CommitCertificate::verify`) **before** acknowledging. A block that cannot be committed
//!   stops the node: going on would diverge from the quorum.
//! - `Finalized`: start the next height with the same validator set.
//! - `GetHistoryMinHeight`, `GetDecidedValues`: serve committed blocks to peers catching up
//!   (the requested range is clamped to what is stored, and the answer is bounded).
//! - `ProcessSyncedValue`: a block fetched by value sync while catching up. The engine has
//!   already checked the certificate that came with it (with [`ConsensusVerifier`], the same
//!   strict rule) before handing over the bytes; the block is decoded, validated and kept as
//!   pending, and the engine then decides it and sends `Decided` with that certificate, which
//!   the ledger verifies again before applying the block. Several synced heights in a row
//!   mean the node is catching up: it says so ([`ConsensusHandle::synced`]) and the API
//!   turns writes away until a height is decided through consensus again ([`CatchUp`]).
//!
//! Everything a node needs is in [`ConsensusConfig`] and the [`App`]; there is no global
//! state, so several nodes run in one process (tests) as long as their ports, write-ahead logs
//! and monikers differ. [`ConsensusHandle::shutdown`] stops the engine's actors and the loop.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::keys::{PublicKey, SigningKey};
use evidence_genesis::Genesis;
use libp2p_identity::PeerId as NetworkPeerId;
use malachite::app::config::NodeConfig as EngineNodeConfig;
use malachite::app::consensus::VoteExtensionError;
use malachite::app::net::Multiaddr;
use malachite::app::types::streaming::{StreamId, StreamMessage};
use malachite::app::types::sync::RawDecidedValue;
use malachite::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachite::{
    AppMsg, Channels, ConsensusContext, EngineHandle, NetworkContext, NetworkIdentity, NetworkMsg,
    RequestContext, SyncContext, WalContext,
};
use malachite_config::{
    ConsensusConfig as EngineConsensusConfig, P2pConfig, PubSubProtocol, ValuePayload,
    ValueSyncConfig,
};
use malachite_core_types::{
    CommitCertificate as EngineCertificate, LinearTimeouts, Round, Validity,
};
use malachite_engine::host::{HeightParams, Next, SyncedValueOutcome};
use malachite_engine::util::streaming::StreamContent;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::codec::{EvidenceCodec, SYNC_RESPONSE_BYTES_MAX};
use super::context::{
    BlockHash, BlockHeight, CertificateConversionError, ConsensusSignature, ConsensusValidatorSet,
    EvidenceContext, PART_DATA_MAX, ProposalPart, ValidatorAddress, from_ledger_certificate,
    proposal_signing_bytes, to_ledger_certificate,
};
use super::signing::{ConsensusSigner, ConsensusVerifier};
use super::{network_keypair, peer_id_of};
use crate::app::{App, now_ms};
use crate::block::{BLOCK_BYTES_MAX, Block};
use crate::config::{ConsensusSection, TestingSection};
use crate::ledger::LedgerError;

type Ctx = EvidenceContext;

/// Most decided blocks returned for one value-sync request.
pub const DECIDED_VALUES_MAX: u64 = 32;
/// Most proposal streams buffered per publishing peer.
pub const STREAMS_PER_PEER_MAX: usize = 4;
/// Most proposal streams buffered in all.
pub const STREAMS_MAX: usize = 64;
/// Most bytes of unfinished streams buffered per publishing peer.
pub const STREAM_BYTES_PER_PEER_MAX: usize = 2 * BLOCK_BYTES_MAX;
/// Most bytes of unfinished streams buffered in all, whoever publishes them: the oldest
/// stream goes first when a part would pass it.
pub const STREAM_BYTES_MAX: usize = 3 * BLOCK_BYTES_MAX;
/// How many rounds ahead of the current one a proposal stream is accepted (for a later
/// height: rounds up to this). A proposer of round r sends its stream when round r starts,
/// and rounds advance together within a few timeouts, so later rounds are noise or an attack.
pub const ROUNDS_AHEAD_MAX: u32 = 2;
/// Most proposals of one round validated and kept pending (on disk) from other validators:
/// an honest proposer sends one per round (a height may take many rounds, each with a new
/// block), so more than a few in one round means equivocation.
pub const PENDING_BLOCKS_PER_ROUND_MAX: usize = 4;
/// How many heights ahead of the current one a proposal stream is accepted.
pub const FUTURE_HEIGHTS_MAX: u64 = 2;
/// Most complete proposals kept for heights this node has not reached yet.
pub const FUTURE_PROPOSALS_MAX: usize = 8;
/// Most block bytes kept in proposals for heights this node has not reached yet.
pub const FUTURE_PROPOSAL_BYTES_MAX: usize = 2 * BLOCK_BYTES_MAX;
/// The most parts one stream can have: an opening part, the data chunks of the largest block,
/// and a closing part.
const PARTS_PER_STREAM_MAX: u64 = (BLOCK_BYTES_MAX / PART_DATA_MAX) as u64 + 2;
/// How many finished streams are remembered so that late duplicates are ignored.
const FINISHED_STREAMS_REMEMBERED: usize = 256;
/// How long shutting down waits for the engine's actors.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// Consensus timeouts. The defaults suit a four-member consortium on a LAN: a proposal is
/// waited for 1 s, a mixed quorum of prevotes or precommits 500 ms. Each grows by half its
/// base per round, so a network that is slower than assumed still converges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsensusTimeouts {
    /// How long validators wait for the round's proposal before prevoting nil.
    pub propose: Duration,
    /// How long validators wait after a quorum of prevotes for different values.
    pub prevote: Duration,
    /// How long validators wait after a quorum of precommits for different values.
    pub precommit: Duration,
}

impl Default for ConsensusTimeouts {
    fn default() -> Self {
        Self {
            propose: Duration::from_secs(1),
            prevote: Duration::from_millis(500),
            precommit: Duration::from_millis(500),
        }
    }
}

impl ConsensusTimeouts {
    /// The engine's timeouts: these bases, each growing by half its base per round, a
    /// rebroadcast of the node's votes after a whole round's worth of time, and no timeout
    /// above 30 s.
    pub fn to_engine(self) -> LinearTimeouts {
        LinearTimeouts {
            propose: self.propose,
            propose_delta: self.propose / 2,
            prevote: self.prevote,
            prevote_delta: self.prevote / 2,
            precommit: self.precommit,
            precommit_delta: self.precommit / 2,
            rebroadcast: self.propose + self.prevote + self.precommit,
            max_timeout: Duration::from_secs(30),
        }
    }
}

/// Everything the driver needs besides the application.
#[derive(Debug, Clone)]
pub struct ConsensusConfig {
    /// The node's name in logs and engine metrics; distinct per node in one process.
    pub moniker: String,
    /// The validator's signing key; it must be in the genesis validator set. The node's
    /// libp2p identity is derived from it ([`network_keypair`]).
    pub signing_key: SigningKey,
    /// The libp2p listen address; it must use TCP (e.g. `/ip4/0.0.0.0/tcp/26656`).
    pub listen: Multiaddr,
    /// The other validators' addresses, each ending in `/p2p/<peer id>` with the peer id of a
    /// genesis validator (see [`validator_peer_address`]). Only these peers are admitted.
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

/// A peer address as the engine needs it: `address` with `/p2p/<peer id of key>` appended,
/// or `address` itself if it already ends with exactly that component.
///
/// # Errors
/// The address is not a multiaddress, or ends with the peer id of another key.
pub fn validator_peer_address(address: &str, key: &PublicKey) -> Result<Multiaddr, DriverError> {
    let peer_id = peer_id_of(key);
    let invalid = |reason: String| DriverError::InvalidPeer {
        address: address.to_owned(),
        reason,
    };
    let full = match address.rsplit_once("/p2p/") {
        Some((_, id)) if id == peer_id.to_string() => address.to_owned(),
        Some((_, id)) => {
            return Err(invalid(format!(
                "it names peer {id}, but validator {key} is peer {peer_id}"
            )));
        }
        None => format!("{}/p2p/{peer_id}", address.trim_end_matches('/')),
    };
    full.parse().map_err(|e| invalid(format!("{e}")))
}

/// Why consensus could not start or had to stop.
#[derive(Debug, Error)]
pub enum DriverError {
    #[error("listen address {address} is not usable: {reason}")]
    InvalidListenAddress { address: String, reason: String },
    #[error("peer address {address} is not usable: {reason}")]
    InvalidPeer { address: String, reason: String },
    #[error("this node's key {0} is not a genesis validator")]
    NotAValidator(PublicKey),
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
    /// through value sync; see [`CatchUp`]).
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

/// Checks that every peer address pins the peer id of a genesis validator other than this
/// node.
fn check_peers(
    peers: &[Multiaddr],
    validators: &ConsensusValidatorSet,
    own: &ValidatorAddress,
) -> Result<(), DriverError> {
    let allowed: HashMap<String, PublicKey> = validators
        .validators()
        .iter()
        .map(|v| *mc_address(v))
        .filter(|a| a != own)
        .map(|a| (peer_id_of(&a.0).to_string(), a.0))
        .collect();
    for peer in peers {
        let text = peer.to_string();
        let invalid = |reason: &str| DriverError::InvalidPeer {
            address: text.clone(),
            reason: reason.into(),
        };
        let Some((_, id)) = text.rsplit_once("/p2p/") else {
            return Err(invalid("it does not end with /p2p/<peer id>"));
        };
        if !allowed.contains_key(id) {
            return Err(invalid(
                "its peer id is not that of another genesis validator",
            ));
        }
    }
    Ok(())
}

fn mc_address(validator: &super::context::ConsensusValidator) -> &ValidatorAddress {
    malachite_core_types::Validator::<Ctx>::address(validator)
}

/// Starts the engine for this validator and the loop that answers it.
///
/// # Errors
/// An unusable listen or peer address, a key that is not a genesis validator, or an engine
/// that fails to start (for example a port already in use or an unreadable write-ahead log).
pub async fn start_with(
    config: ConsensusConfig,
    app: Arc<App>,
) -> Result<ConsensusHandle, DriverError> {
    let ledger = app.ledger();
    let chain_id = ledger.genesis().chain_id.clone();
    let validators = ConsensusValidatorSet::new(ledger.validators().clone());
    let address = ValidatorAddress(config.signing_key.public_key());
    if ledger.validators().get(&address.0).is_none() {
        return Err(DriverError::NotAValidator(address.0));
    }
    check_listen(&config.listen)?;
    check_peers(&config.peers, &validators, &address)?;

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
    let signer = ConsensusSigner::new(chain_id.clone(), config.signing_key.clone());
    let verifier = ConsensusVerifier::new(chain_id.clone());

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

    let params = HeightParams::new(validators.clone(), config.timeouts.to_engine(), None);
    let validator_peers = validators
        .validators()
        .iter()
        .filter_map(|v| PeerId::from_bytes(&peer_id_of(&mc_address(v).0).to_bytes()).ok())
        .collect();
    let driver = Driver {
        algorithm: ledger.algorithm(),
        app,
        chain_id,
        validators,
        signer,
        address,
        params,
        idle_block_interval: config.idle_block_interval,
        byzantine_wrong_state_root: config.byzantine_wrong_state_root,
        byzantine_back_date: config.byzantine_back_date,
        current_height: 0,
        stream_nonce: 0,
        streams: PartStreams::default(),
        future: Vec::new(),
        undecided: BTreeMap::new(),
        own_proposals: HashMap::new(),
        fin_signatures: HashMap::new(),
        catch_up: CatchUp::default(),
        synced: Arc::new(AtomicBool::new(true)),
        validator_peers,
        pending_per_height: BTreeMap::new(),
    };
    let synced = Arc::clone(&driver.synced);
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

/// How many heights in a row must arrive through value sync before the node counts as
/// catching up. One or two happen at the tip too, when a node falls a height behind under
/// load and fetches it; turning writes away for that would only make clients retry.
pub const CATCH_UP_AFTER_SYNCED_HEIGHTS: u64 = 3;

/// Whether the node is catching up: fed the heights that arrive through value sync and the
/// heights decided, it answers whether the node follows consensus at the tip.
///
/// A node that was down, or is new, receives the heights it missed from its peers by value
/// sync, one after another; while it does, admitting transactions against its old state would
/// accept what the chain has already used up (a replayed transaction, a payment over the
/// limit), so the API turns writes away. It counts as caught up again once a height is decided
/// that did not arrive through value sync, i.e. consensus at the tip decided it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// The highest height received through value sync.
    synced_through: u64,
    /// How many consecutive heights, up to `synced_through`, arrived through value sync.
    in_a_row: u64,
    catching_up: bool,
}

impl CatchUp {
    /// A block for `height` arrived through value sync.
    pub fn synced_value(&mut self, height: u64) {
        if height == self.synced_through.saturating_add(1) {
            self.in_a_row += 1;
        } else if height > self.synced_through {
            self.in_a_row = 1;
        }
        self.synced_through = self.synced_through.max(height);
        if self.in_a_row >= CATCH_UP_AFTER_SYNCED_HEIGHTS {
            self.catching_up = true;
        }
    }

    /// The block at `height` was committed.
    pub fn decided(&mut self, height: u64) {
        if height > self.synced_through {
            self.in_a_row = 0;
            self.catching_up = false;
        }
    }

    /// Whether the node counts as caught up.
    pub fn is_synced(&self) -> bool {
        !self.catching_up
    }
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

/// A complete proposal stream: who proposed what, and the block bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StreamedProposal {
    height: u64,
    round: Round,
    pol_round: Round,
    proposer: ValidatorAddress,
    block_bytes: Vec<u8>,
    signature: ConsensusSignature,
}

/// The loop's state.
struct Driver {
    app: Arc<App>,
    chain_id: String,
    algorithm: HashAlgorithm,
    validators: ConsensusValidatorSet,
    signer: ConsensusSigner,
    address: ValidatorAddress,
    params: HeightParams<Ctx>,
    idle_block_interval: Duration,
    byzantine_wrong_state_root: bool,
    byzantine_back_date: bool,
    /// The height consensus works on.
    current_height: u64,
    stream_nonce: u64,
    streams: PartStreams,
    /// Complete proposals for heights not reached yet.
    future: Vec<StreamedProposal>,
    /// Values validated per (height, round), handed back when a round (re)starts.
    undecided: BTreeMap<(u64, u32), Vec<ProposedValue<Ctx>>>,
    /// This node's proposal per (height, round).
    own_proposals: HashMap<(u64, u32), Digest>,
    /// The proposer's signature over each received proposal, by (height, round, block hash),
    /// so that another validator's proposal can be streamed again.
    fin_signatures: HashMap<(u64, u32, Digest), (ValidatorAddress, Round, ConsensusSignature)>,
    /// Whether the node is catching up, and the flag the API reads.
    catch_up: CatchUp,
    synced: Arc<AtomicBool>,
    /// The libp2p peer ids of the genesis validators: the only publishers of proposals.
    validator_peers: HashSet<PeerId>,
    /// Other validators' proposals validated and kept pending, per (height, round).
    pending_per_height: BTreeMap<(u64, u32), usize>,
}

impl Driver {
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
                let height = self.app.tip().height + 1;
                self.enter_height(height);
                info!(height, "consensus ready");
                let _ = reply.send((BlockHeight(height), self.params.clone()));
            }
            AppMsg::StartedRound {
                height,
                round,
                proposer,
                role,
                reply_value,
            } => {
                debug!(%height, %round, %proposer, ?role, "round started");
                if height.0 > self.current_height {
                    self.enter_height(height.0);
                }
                if height.0 == self.current_height
                    && let Some(round) = round.as_u32()
                {
                    self.streams.started_round(round);
                }
                let values = self.values_for_round(height.0, round).await;
                let _ = reply_value.send(values);
            }
            AppMsg::GetValue {
                height,
                round,
                timeout,
                reply,
            } => self.get_value(height, round, timeout, reply, network).await,
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
                self.restream(height.0, round, valid_round, address, value_id, network)
                    .await;
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
                // Only validators publish proposals; anything else is dropped before it is
                // buffered (the network should not have let such a peer in at all).
                let value = if self.validator_peers.contains(&publisher) {
                    self.received_part(publisher, part).await
                } else {
                    self.app.metrics().consensus_parts_refused.inc();
                    debug!(%publisher, "proposal part from a peer that is no validator dropped");
                    None
                };
                let _ = reply.send(value);
            }
            AppMsg::Decided {
                certificate, reply, ..
            } => {
                self.decided(&certificate).await?;
                let _ = reply.send(());
            }
            AppMsg::Finalized {
                certificate, reply, ..
            } => {
                let next = certificate.height.0 + 1;
                self.enter_height(next);
                let _ = reply.send(Next::Start(BlockHeight(next), self.params.clone()));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let values = self.decided_values(range).await;
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
                    .synced_value(height.0, round, proposer, value_bytes)
                    .await;
                let _ = reply.send(outcome);
            }
        }
        Ok(())
    }

    /// Moves on to `height`, forgetting everything about lower heights.
    fn enter_height(&mut self, height: u64) {
        self.current_height = height;
        self.streams.started_round(0);
        self.pending_per_height.retain(|(h, _), _| *h >= height);
        self.streams.prune_below(height);
        self.future.retain(|p| p.height >= height);
        self.undecided.retain(|(h, _), _| *h >= height);
        self.own_proposals.retain(|(h, _), _| *h >= height);
        self.fin_signatures.retain(|(h, _, _), _| *h >= height);
    }

    /// The values to hand the engine when `round` of `height` starts: those validated
    /// earlier for this round, and those that arrived complete before this height began
    /// (validated now).
    async fn values_for_round(&mut self, height: u64, round: Round) -> Vec<ProposedValue<Ctx>> {
        let early: Vec<StreamedProposal> = {
            let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.future)
                .into_iter()
                .partition(|p| p.height == height);
            self.future = later;
            now
        };
        let mut values = Vec::new();
        for proposal in early {
            if let Some(value) = self.validate_streamed(proposal).await {
                values.push(value);
            }
        }
        if let Some(r) = round.as_u32()
            && let Some(seen) = self.undecided.get(&(height, r))
        {
            for value in seen {
                if !values.contains(value) {
                    values.push(value.clone());
                }
            }
        }
        values
    }

    async fn get_value(
        &mut self,
        height: BlockHeight,
        round: Round,
        timeout: Duration,
        reply: oneshot::Sender<LocallyProposedValue<Ctx>>,
        network: &mpsc::Sender<NetworkMsg<Ctx>>,
    ) {
        let Some(r) = round.as_u32() else {
            warn!(%height, "asked to propose without a round");
            return;
        };
        let hash = match self.own_proposals.get(&(height.0, r)) {
            Some(hash) => *hash,
            None => match self.build_block(height.0, timeout).await {
                Some(hash) => hash,
                None => return,
            },
        };
        self.own_proposals.insert((height.0, r), hash);
        let _ = reply.send(LocallyProposedValue::new(height, round, BlockHash(hash)));
        self.stream_own(height.0, round, Round::Nil, hash, network)
            .await;
    }

    /// Waits for transactions (bounded), builds the next block and keeps it pending.
    async fn build_block(&mut self, height: u64, timeout: Duration) -> Option<Digest> {
        let wait = self.idle_block_interval.min(timeout / 2);
        let deadline = tokio::time::Instant::now() + wait;
        self.app.wait_for_transactions(deadline).await;
        let app = Arc::clone(&self.app);
        let proposer = self.address.0;
        let byzantine = self.byzantine_wrong_state_root;
        // Test-only fault: time 0 is raised by the ledger to just after the parent's time.
        let time_ms = if self.byzantine_back_date {
            0
        } else {
            now_ms()
        };
        let algorithm = self.algorithm;
        let built = tokio::task::spawn_blocking(move || {
            let mut block = app.propose(time_ms, proposer)?;
            if byzantine {
                // Test-only fault: a header whose state root no execution produces.
                let wrong =
                    algorithm.hash_parts(&[b"wrong state root", &block.header.state_root.bytes]);
                block.header.state_root = wrong;
                app.ledger().put_pending(&block)?;
            }
            Ok::<Block, LedgerError>(block)
        })
        .await;
        let block = match built {
            Ok(Ok(block)) => block,
            Ok(Err(error)) => {
                error!(height, %error, "building a block failed");
                return None;
            }
            Err(error) => {
                error!(height, %error, "the block-building task failed");
                return None;
            }
        };
        if block.header.height != height {
            error!(
                height,
                built = block.header.height,
                "the ledger built a block for another height"
            );
            return None;
        }
        let hash = block.hash(self.algorithm);
        if self.byzantine_wrong_state_root {
            warn!(height, %hash, "test fault: proposing a block with a wrong state root");
        }
        debug!(height, %hash, transactions = block.transactions.len(), "proposing block");
        Some(hash)
    }

    /// Streams this node's proposal `hash` for `round` (re-proposed from `pol_round`).
    async fn stream_own(
        &mut self,
        height: u64,
        round: Round,
        pol_round: Round,
        hash: Digest,
        network: &mpsc::Sender<NetworkMsg<Ctx>>,
    ) {
        let Some(bytes) =
            proposal_signing_bytes(&self.chain_id, BlockHeight(height), round, pol_round, &hash)
        else {
            return;
        };
        let signature = self.signer.sign_bytes(&bytes);
        let proposer = self.address;
        self.stream(height, round, pol_round, proposer, hash, signature, network)
            .await;
    }

    /// Publishes the pending block `hash` as a stream of proposal parts.
    #[allow(clippy::too_many_arguments)]
    async fn stream(
        &mut self,
        height: u64,
        round: Round,
        pol_round: Round,
        proposer: ValidatorAddress,
        hash: Digest,
        signature: ConsensusSignature,
        network: &mpsc::Sender<NetworkMsg<Ctx>>,
    ) {
        let block = match self.app.pending(&hash) {
            Ok(Some(block)) => block,
            Ok(None) => {
                warn!(height, %hash, "cannot stream a block that is not pending");
                return;
            }
            Err(error) => {
                error!(height, %hash, %error, "reading a pending block failed");
                return;
            }
        };
        self.stream_nonce += 1;
        let mut id = Vec::with_capacity(20);
        id.extend_from_slice(&height.to_be_bytes());
        id.extend_from_slice(&round.as_u32().unwrap_or(u32::MAX).to_be_bytes());
        id.extend_from_slice(&self.stream_nonce.to_be_bytes());
        let stream_id = StreamId::new(Bytes::from(id));
        for (sequence, content) in proposal_stream(
            BlockHeight(height),
            round,
            pol_round,
            proposer,
            &block,
            signature,
        )
        .into_iter()
        .enumerate()
        {
            let message = StreamMessage::new(stream_id.clone(), sequence as u64, content);
            if network
                .send(NetworkMsg::PublishProposalPart(message))
                .await
                .is_err()
            {
                warn!(height, "the network stopped while streaming a proposal");
                return;
            }
        }
    }

    async fn restream(
        &mut self,
        height: u64,
        round: Round,
        valid_round: Round,
        address: ValidatorAddress,
        value_id: Digest,
        network: &mpsc::Sender<NetworkMsg<Ctx>>,
    ) {
        if address == self.address {
            self.stream_own(height, round, valid_round, value_id, network)
                .await;
            return;
        }
        let Some(r) = round.as_u32() else { return };
        match self.fin_signatures.get(&(height, r, value_id)) {
            Some((proposer, pol_round, signature))
                if *proposer == address && *pol_round == valid_round =>
            {
                let signature = *signature;
                self.stream(
                    height,
                    round,
                    valid_round,
                    address,
                    value_id,
                    signature,
                    network,
                )
                .await;
            }
            _ => warn!(
                height,
                %round,
                %value_id,
                "cannot restream another validator's proposal without its signature"
            ),
        }
    }

    async fn received_part(
        &mut self,
        publisher: PeerId,
        part: StreamMessage<ProposalPart>,
    ) -> Option<ProposedValue<Ctx>> {
        let proposal = match self.streams.insert(publisher, part, self.current_height) {
            Ok(Some(proposal)) => proposal,
            Ok(None) => return None,
            Err(error) => {
                warn!(%publisher, %error, "dropping a proposal stream");
                return None;
            }
        };
        if proposal.height > self.current_height {
            self.keep_for_later(proposal);
            return None;
        }
        self.validate_streamed(proposal).await
    }

    /// Keeps a proposal for a height not reached yet, within [`FUTURE_PROPOSALS_MAX`] and
    /// [`FUTURE_PROPOSAL_BYTES_MAX`]; the ones furthest ahead go first.
    fn keep_for_later(&mut self, proposal: StreamedProposal) {
        self.future.push(proposal);
        loop {
            let bytes: usize = self.future.iter().map(|p| p.block_bytes.len()).sum();
            if self.future.len() <= FUTURE_PROPOSALS_MAX && bytes <= FUTURE_PROPOSAL_BYTES_MAX {
                return;
            }
            let Some((index, _)) = self.future.iter().enumerate().max_by_key(|(_, p)| p.height)
            else {
                return;
            };
            self.future.swap_remove(index);
        }
    }

    /// Checks a complete stream and validates its block for the current height. `None` when
    /// the stream is not a proposal at all (wrong proposer, bad signature, undecodable bytes):
    /// there is no value to give a verdict on.
    async fn validate_streamed(
        &mut self,
        proposal: StreamedProposal,
    ) -> Option<ProposedValue<Ctx>> {
        let StreamedProposal {
            height,
            round,
            pol_round,
            proposer,
            block_bytes,
            signature,
        } = proposal;
        let r = round.as_u32()?;
        if height != self.current_height {
            return None;
        }
        let expected = self.validators.proposer(height, r);
        if *mc_address(expected) != proposer {
            warn!(
                height,
                %round,
                %proposer,
                "proposal parts from a validator that is not the round's proposer"
            );
            return None;
        }
        let block = match Block::from_bytes(&block_bytes) {
            Ok(block) => block,
            Err(error) => {
                warn!(height, %round, %proposer, %error, "proposed block does not decode");
                return None;
            }
        };
        let hash = block.hash(self.algorithm);
        let bytes =
            proposal_signing_bytes(&self.chain_id, BlockHeight(height), round, pol_round, &hash)?;
        if proposer.0.verify(&bytes, &signature.0).is_err() {
            warn!(height, %round, %proposer, "proposal parts carry a bad signature");
            return None;
        }
        self.fin_signatures
            .insert((height, r, hash), (proposer, pol_round, signature));

        // A fresh proposal must be the proposer's own block; a re-proposal (from pol_round)
        // carries the block of an earlier round's proposer, which must be a validator.
        let block_proposer = block.header.proposer;
        let fresh = if pol_round.is_nil() {
            crate::ledger::Ledger::check_fresh(&block, now_ms(), self.app.limits().block_age_max_ms)
        } else {
            Ok(())
        };
        let validity = if pol_round.is_nil() && block_proposer != proposer.0 {
            warn!(height, %round, %hash, "proposed block names another proposer");
            Validity::Invalid
        } else if let Err(reason) = fresh {
            warn!(height, %round, %hash, %reason, "refusing a back-dated proposal");
            Validity::Invalid
        } else if self.validators.ledger_set().get(&block_proposer).is_none() {
            warn!(
                height,
                %round,
                %hash,
                "proposed block names a proposer outside the validator set"
            );
            Validity::Invalid
        } else {
            let kept = self.pending_per_height.entry((height, r)).or_default();
            if *kept >= PENDING_BLOCKS_PER_ROUND_MAX {
                warn!(
                    height,
                    %round,
                    %hash,
                    kept = *kept,
                    "too many proposals kept for this round (equivocation?); this one is dropped"
                );
                return None;
            }
            let validity = self.validate_block(block, block_proposer, None).await?;
            if validity == Validity::Valid {
                *self.pending_per_height.entry((height, r)).or_default() += 1;
            }
            validity
        };
        debug!(height, %round, %hash, ?validity, "received proposal");
        let value = ProposedValue {
            height: BlockHeight(height),
            round,
            valid_round: pol_round,
            proposer,
            value: BlockHash(hash),
            validity,
        };
        let seen = self.undecided.entry((height, r)).or_default();
        if !seen.contains(&value) {
            seen.push(value.clone());
        }
        Some(value)
    }

    /// Validates `block` with the ledger, keeping it pending if it is valid. `now_floor`
    /// raises the local clock for the "not too far ahead" check (synced blocks, whose time a
    /// quorum has already accepted). `None` when the ledger itself failed.
    async fn validate_block(
        &self,
        block: Block,
        expected_proposer: PublicKey,
        now_floor: Option<u64>,
    ) -> Option<Validity> {
        let app = Arc::clone(&self.app);
        let height = block.header.height;
        let result = tokio::task::spawn_blocking(move || {
            let ledger = app.ledger();
            let now = now_ms().max(now_floor.unwrap_or(0));
            let verdict =
                ledger.validate(&block, &expected_proposer, now, app.limits().clock_bound_ms)?;
            if verdict.is_ok() {
                ledger.put_pending(&block)?;
            }
            Ok::<_, LedgerError>(verdict)
        })
        .await;
        match result {
            Ok(Ok(Ok(()))) => Some(Validity::Valid),
            Ok(Ok(Err(reason))) => {
                warn!(height, %reason, "refusing a proposed block");
                Some(Validity::Invalid)
            }
            Ok(Err(error)) => {
                error!(height, %error, "validating a block failed");
                None
            }
            Err(error) => {
                error!(height, %error, "the validation task failed");
                None
            }
        }
    }

    async fn synced_value(
        &mut self,
        height: u64,
        round: Round,
        proposer: ValidatorAddress,
        value_bytes: Bytes,
    ) -> SyncedValueOutcome<Ctx> {
        let block = match Block::from_bytes(&value_bytes) {
            Ok(block) => block,
            Err(error) => {
                warn!(height, %error, "synced block does not decode");
                return SyncedValueOutcome::PeerFault;
            }
        };
        let hash = block.hash(self.algorithm);
        self.catch_up.synced_value(height);
        self.publish_sync_state(height);
        // The block's proposer is the one of the round it was first proposed in, which a
        // re-proposal does not tell; the certificate already vouches for the block, so any
        // validator is accepted here, and the block's own time is taken as "now".
        let block_proposer = block.header.proposer;
        let time = block.header.time_ms;
        let validity = if self.validators.ledger_set().get(&block_proposer).is_none() {
            Validity::Invalid
        } else {
            match self.validate_block(block, block_proposer, Some(time)).await {
                Some(validity) => validity,
                None => return SyncedValueOutcome::LocalTransientError,
            }
        };
        info!(height, %hash, ?validity, "synced block");
        SyncedValueOutcome::Verdict(ProposedValue {
            height: BlockHeight(height),
            round,
            valid_round: Round::Nil,
            proposer,
            value: BlockHash(hash),
            validity,
        })
    }

    async fn decided(&mut self, certificate: &EngineCertificate<Ctx>) -> Result<(), DriverError> {
        let certificate = to_ledger_certificate(certificate)?;
        let height = certificate.height;
        let hash = certificate.block_hash;
        let tip = self.app.tip();
        if height <= tip.height {
            // Already committed (for example decided again after a restart).
            let stored = self
                .app
                .decided_block(height)?
                .map(|(block, _)| block.hash(self.algorithm));
            return match stored {
                Some(stored) if stored == hash => Ok(()),
                Some(stored) => Err(DriverError::Diverged {
                    height,
                    stored,
                    decided: hash,
                }),
                None => Err(DriverError::MissingBlock { height, hash }),
            };
        }
        let Some(block) = self.app.pending(&hash)? else {
            return Err(DriverError::MissingBlock { height, hash });
        };
        let app = Arc::clone(&self.app);
        let outcome = tokio::task::spawn_blocking(move || app.commit(&block, &certificate))
            .await
            .map_err(|e| DriverError::Task(e.to_string()))??;
        info!(
            height,
            %hash,
            transactions = outcome.transactions.len(),
            entries = outcome.entries,
            "committed block"
        );
        self.catch_up.decided(height);
        self.publish_sync_state(height);
        Ok(())
    }

    /// Publishes [`CatchUp`]'s verdict to the API, logging each change.
    fn publish_sync_state(&self, height: u64) {
        let synced = self.catch_up.is_synced();
        if self.synced.swap(synced, Ordering::Relaxed) != synced {
            let metrics = self.app.metrics();
            metrics.catching_up.set(i64::from(!synced));
            if !synced {
                metrics.catch_ups.inc();
            }
            if synced {
                info!(
                    height,
                    "caught up: following consensus at the tip, writes accepted"
                );
            } else {
                info!(
                    height,
                    "catching up through value sync: writes wait until caught up"
                );
            }
        }
    }

    async fn decided_values(
        &self,
        range: RangeInclusive<BlockHeight>,
    ) -> Vec<RawDecidedValue<Ctx>> {
        let tip = self.app.tip().height;
        let start = range.start().0.max(1);
        let end = range
            .end()
            .0
            .min(tip)
            .min(start.saturating_add(DECIDED_VALUES_MAX - 1));
        if start > end {
            return Vec::new();
        }
        let app = Arc::clone(&self.app);
        let result = tokio::task::spawn_blocking(move || {
            let mut values = Vec::new();
            let mut bytes = 0usize;
            for height in start..=end {
                let Some((block, certificate)) = app.decided_block(height)? else {
                    break;
                };
                let block_bytes = block.to_bytes();
                bytes += block_bytes.len();
                if !values.is_empty() && bytes > SYNC_RESPONSE_BYTES_MAX {
                    break;
                }
                values.push(RawDecidedValue::new(
                    Bytes::from(block_bytes),
                    from_ledger_certificate(&certificate),
                ));
            }
            Ok::<_, LedgerError>(values)
        })
        .await;
        match result {
            Ok(Ok(values)) => values,
            Ok(Err(error)) => {
                error!(%error, "reading decided blocks failed");
                Vec::new()
            }
            Err(error) => {
                error!(%error, "the decided-blocks task failed");
                Vec::new()
            }
        }
    }
}

/// The stream contents for a proposal: `Init`, the block bytes in chunks of at most
/// [`PART_DATA_MAX`], `Fin` with `signature`, then the end of the stream.
fn proposal_stream(
    height: BlockHeight,
    round: Round,
    pol_round: Round,
    proposer: ValidatorAddress,
    block: &Block,
    signature: ConsensusSignature,
) -> Vec<StreamContent<ProposalPart>> {
    let bytes = Bytes::from(block.to_bytes());
    let mut contents = Vec::with_capacity(bytes.len() / PART_DATA_MAX + 4);
    contents.push(StreamContent::Data(ProposalPart::Init {
        height,
        round,
        proposer,
        pol_round,
    }));
    let mut offset = 0;
    while offset < bytes.len() {
        let end = (offset + PART_DATA_MAX).min(bytes.len());
        contents.push(StreamContent::Data(ProposalPart::Data(
            bytes.slice(offset..end),
        )));
        offset = end;
    }
    contents.push(StreamContent::Data(ProposalPart::Fin { signature }));
    contents.push(StreamContent::Fin);
    contents
}

/// Why a proposal stream was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StreamError {
    #[error("part {sequence} is beyond the most parts a stream can have")]
    TooManyParts { sequence: u64 },
    #[error("the opening part is at position {sequence}, not 0")]
    MisplacedInit { sequence: u64 },
    #[error("position 0 holds a part other than the opening one")]
    MissingInit,
    #[error("the closing part is at position {sequence}, before any data")]
    EarlyFin { sequence: u64 },
    #[error("parts follow the closing part")]
    PartsAfterFin,
    #[error("the stream is for height {height}, outside {current}..={last}")]
    HeightOutOfRange {
        height: u64,
        current: u64,
        last: u64,
    },
    #[error("the stream carries more than {max} bytes")]
    TooLarge { max: usize },
    #[error("the stream has no round")]
    NoRound,
    #[error("the stream is for round {round}, beyond the last accepted round {last}")]
    RoundOutOfRange { round: u32, last: u32 },
}

/// One stream being reassembled.
#[derive(Debug, Default)]
struct StreamBuffer {
    /// The height named by the opening part, once it arrived.
    height: Option<u64>,
    parts: BTreeMap<u64, ProposalPart>,
    bytes: usize,
    /// Position of the closing part, once it arrived.
    fin: Option<u64>,
    /// Arrival order, for evicting the oldest.
    order: u64,
}

/// Reassembly of proposal streams, keyed by the publishing peer and its stream id, bounded
/// per peer (streams and bytes), in all (streams and bytes), and by height and round.
#[derive(Debug)]
struct PartStreams {
    /// The round consensus works on at the current height.
    current_round: u32,
    /// [`STREAM_BYTES_MAX`] (smaller in tests).
    total_bytes_max: usize,
    streams: HashMap<(PeerId, StreamId), StreamBuffer>,
    finished: HashSet<(PeerId, StreamId)>,
    finished_order: VecDeque<((PeerId, StreamId), u64)>,
    next_order: u64,
}

impl Default for PartStreams {
    fn default() -> Self {
        Self {
            current_round: 0,
            total_bytes_max: STREAM_BYTES_MAX,
            streams: HashMap::new(),
            finished: HashSet::new(),
            finished_order: VecDeque::new(),
            next_order: 0,
        }
    }
}

impl PartStreams {
    /// Adds one stream message; returns the proposal once its stream is complete.
    ///
    /// # Errors
    /// The stream is malformed or out of bounds; it is dropped.
    fn insert(
        &mut self,
        publisher: PeerId,
        message: StreamMessage<ProposalPart>,
        current_height: u64,
    ) -> Result<Option<StreamedProposal>, StreamError> {
        let key = (publisher, message.stream_id.clone());
        if self.finished.contains(&key) {
            return Ok(None);
        }
        let result = self.insert_part(&key, message, current_height);
        match result {
            Ok(Some(_)) | Err(_) => {
                // The stream is done either way; only a completed one is remembered.
                if let Some(buffer) = self.streams.remove(&key)
                    && result.is_ok()
                {
                    self.remember_finished(key, buffer.height.unwrap_or(current_height));
                }
            }
            Ok(None) => {}
        }
        result
    }

    fn insert_part(
        &mut self,
        key: &(PeerId, StreamId),
        message: StreamMessage<ProposalPart>,
        current_height: u64,
    ) -> Result<Option<StreamedProposal>, StreamError> {
        let sequence = message.sequence;
        if sequence >= PARTS_PER_STREAM_MAX {
            return Err(StreamError::TooManyParts { sequence });
        }
        let StreamContent::Data(part) = message.content else {
            // The end-of-stream marker adds nothing: completeness is decided by the closing
            // part. Do not open a buffer for it.
            return Ok(None);
        };
        match (&part, sequence) {
            (ProposalPart::Init { .. }, 0) => {}
            (ProposalPart::Init { .. }, _) => return Err(StreamError::MisplacedInit { sequence }),
            (_, 0) => return Err(StreamError::MissingInit),
            (ProposalPart::Fin { .. }, 1) => return Err(StreamError::EarlyFin { sequence }),
            _ => {}
        }
        if let ProposalPart::Init { height, round, .. } = &part {
            let last = current_height.saturating_add(FUTURE_HEIGHTS_MAX);
            if height.0 < current_height || height.0 > last {
                return Err(StreamError::HeightOutOfRange {
                    height: height.0,
                    current: current_height,
                    last,
                });
            }
            let round = round.as_u32().ok_or(StreamError::NoRound)?;
            let last_round = if height.0 == current_height {
                self.current_round.saturating_add(ROUNDS_AHEAD_MAX)
            } else {
                ROUNDS_AHEAD_MAX
            };
            if round > last_round {
                return Err(StreamError::RoundOutOfRange {
                    round,
                    last: last_round,
                });
            }
        }
        if !self.streams.contains_key(key) {
            self.make_room(&key.0);
            let order = self.next_order;
            self.next_order += 1;
            self.streams.insert(
                key.clone(),
                StreamBuffer {
                    order,
                    ..StreamBuffer::default()
                },
            );
        }
        let Some(buffer) = self.streams.get_mut(key) else {
            return Ok(None);
        };
        if buffer.parts.contains_key(&sequence) {
            return Ok(None);
        }
        let size = match &part {
            ProposalPart::Data(chunk) => chunk.len(),
            _ => 0,
        };
        if buffer.bytes + size > BLOCK_BYTES_MAX {
            return Err(StreamError::TooLarge {
                max: BLOCK_BYTES_MAX,
            });
        }
        match &part {
            ProposalPart::Init { height, .. } => buffer.height = Some(height.0),
            ProposalPart::Fin { .. } => {
                if buffer.fin.is_some() {
                    return Err(StreamError::PartsAfterFin);
                }
                buffer.fin = Some(sequence);
            }
            ProposalPart::Data(_) => {}
        }
        if let Some(fin) = buffer.fin {
            let beyond = sequence > fin
                || buffer
                    .parts
                    .keys()
                    .next_back()
                    .is_some_and(|last| *last > fin);
            if beyond {
                return Err(StreamError::PartsAfterFin);
            }
        }
        buffer.bytes += size;
        buffer.parts.insert(sequence, part);
        self.enforce_peer_bytes(&key.0)?;
        self.enforce_total_bytes(key)?;

        let Some(buffer) = self.streams.get(key) else {
            return Ok(None);
        };
        let Some(fin) = buffer.fin else {
            return Ok(None);
        };
        if buffer.parts.len() as u64 != fin + 1 {
            return Ok(None);
        }
        assemble(buffer).map(Some)
    }

    /// Before opening a stream for `publisher`: evict its oldest if it has too many, and the
    /// oldest of all if there are too many in all.
    fn make_room(&mut self, publisher: &PeerId) {
        let own: Vec<_> = self
            .streams
            .iter()
            .filter(|((p, _), _)| p == publisher)
            .map(|(k, b)| (k.clone(), b.order))
            .collect();
        if own.len() >= STREAMS_PER_PEER_MAX
            && let Some((key, _)) = own.iter().min_by_key(|(_, order)| *order)
        {
            self.streams.remove(key);
        }
        if self.streams.len() >= STREAMS_MAX
            && let Some(key) = self
                .streams
                .iter()
                .min_by_key(|(_, b)| b.order)
                .map(|(k, _)| k.clone())
        {
            self.streams.remove(&key);
        }
    }

    /// Drops `publisher`'s oldest streams while its buffered bytes exceed the bound; fails if
    /// the stream just added is the one that had to go.
    fn enforce_peer_bytes(&mut self, publisher: &PeerId) -> Result<(), StreamError> {
        loop {
            let total: usize = self
                .streams
                .iter()
                .filter(|((p, _), _)| p == publisher)
                .map(|(_, b)| b.bytes)
                .sum();
            if total <= STREAM_BYTES_PER_PEER_MAX {
                return Ok(());
            }
            let oldest = self
                .streams
                .iter()
                .filter(|((p, _), _)| p == publisher)
                .min_by_key(|(_, b)| b.order)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(key) => {
                    self.streams.remove(&key);
                }
                None => {
                    return Err(StreamError::TooLarge {
                        max: STREAM_BYTES_PER_PEER_MAX,
                    });
                }
            }
        }
    }

    /// Drops the oldest streams of any publisher while all buffered bytes exceed
    /// [`STREAM_BYTES_MAX`]; fails if the stream of `key` is the one that had to go.
    fn enforce_total_bytes(&mut self, key: &(PeerId, StreamId)) -> Result<(), StreamError> {
        loop {
            let total: usize = self.streams.values().map(|b| b.bytes).sum();
            if total <= self.total_bytes_max {
                return Ok(());
            }
            let oldest = self
                .streams
                .iter()
                .min_by_key(|(_, b)| b.order)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(oldest) if oldest != *key => {
                    self.streams.remove(&oldest);
                }
                _ => {
                    return Err(StreamError::TooLarge {
                        max: self.total_bytes_max,
                    });
                }
            }
        }
    }

    /// Consensus started `round` of the current height.
    fn started_round(&mut self, round: u32) {
        self.current_round = round;
    }

    fn remember_finished(&mut self, key: (PeerId, StreamId), height: u64) {
        if self.finished.insert(key.clone()) {
            self.finished_order.push_back((key, height));
        }
        while self.finished_order.len() > FINISHED_STREAMS_REMEMBERED {
            if let Some((old, _)) = self.finished_order.pop_front() {
                self.finished.remove(&old);
            }
        }
    }

    /// Forgets streams for heights below `height` (already decided).
    fn prune_below(&mut self, height: u64) {
        self.streams
            .retain(|_, b| b.height.is_none_or(|h| h >= height));
        let finished = &mut self.finished;
        self.finished_order.retain(|(key, h)| {
            let keep = *h >= height;
            if !keep {
                finished.remove(key);
            }
            keep
        });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.streams.len()
    }
}

/// The proposal of a complete stream (parts 0..=fin all present).
fn assemble(buffer: &StreamBuffer) -> Result<StreamedProposal, StreamError> {
    let mut head = None;
    let mut signature = None;
    let mut block_bytes = Vec::with_capacity(buffer.bytes);
    for part in buffer.parts.values() {
        match part {
            ProposalPart::Init {
                height,
                round,
                proposer,
                pol_round,
            } => head = Some((height.0, *round, *pol_round, *proposer)),
            ProposalPart::Data(chunk) => block_bytes.extend_from_slice(chunk),
            ProposalPart::Fin { signature: s } => signature = Some(*s),
        }
    }
    let (Some((height, round, pol_round, proposer)), Some(signature)) = (head, signature) else {
        return Err(StreamError::MissingInit);
    };
    if round.is_nil() {
        return Err(StreamError::NoRound);
    }
    Ok(StreamedProposal {
        height,
        round,
        pol_round,
        proposer,
        block_bytes,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use evidence_core::digest::HashAlgorithm;
    use evidence_core::header::BlockHeader;

    use super::*;

    fn key(i: u8) -> SigningKey {
        SigningKey::from_seed(&[i; 32])
    }

    #[test]
    fn a_node_catches_up_after_several_synced_heights_and_is_synced_at_the_next_decided_one() {
        let mut catch_up = CatchUp::default();
        assert!(catch_up.is_synced(), "a node starts out synced");
        // A restarted node receives heights 5, 6, 7, ... from its peers.
        for height in 5..5 + CATCH_UP_AFTER_SYNCED_HEIGHTS {
            assert!(catch_up.is_synced(), "{height}");
            catch_up.synced_value(height);
            catch_up.decided(height);
        }
        assert!(!catch_up.is_synced());
        for height in 5 + CATCH_UP_AFTER_SYNCED_HEIGHTS..20 {
            catch_up.synced_value(height);
            catch_up.decided(height);
            assert!(!catch_up.is_synced(), "{height}");
        }
        // Height 20 is decided through consensus: caught up.
        catch_up.decided(20);
        assert!(catch_up.is_synced());
        // Committing a height again (after a restart) changes nothing.
        catch_up.decided(19);
        assert!(catch_up.is_synced());
    }

    #[test]
    fn a_height_fetched_now_and_then_at_the_tip_is_not_catching_up() {
        let mut catch_up = CatchUp::default();
        for round in 0..50 {
            // One height behind under load, fetched by value sync, then back at the tip.
            let base = round * 10;
            catch_up.synced_value(base + 1);
            catch_up.decided(base + 1);
            for height in base + 2..base + 10 {
                catch_up.decided(height);
            }
            assert!(catch_up.is_synced(), "{base}");
            // Two in a row is still not catching up.
            catch_up.synced_value(base + 10);
            catch_up.decided(base + 10);
            assert!(catch_up.is_synced(), "{base}");
        }
        // Values for heights already received (a duplicate answer) do not count twice.
        let mut catch_up = CatchUp::default();
        for _ in 0..10 {
            catch_up.synced_value(7);
        }
        assert!(catch_up.is_synced());
    }

    fn peer(i: u8) -> PeerId {
        PeerId::from_bytes(&peer_id_of(&key(i).public_key()).to_bytes()).unwrap()
    }

    fn block(height: u64, transaction_bytes: usize) -> Block {
        let zero = Digest::new(HashAlgorithm::Blake3, [0; 32]);
        Block {
            header: BlockHeader {
                chain_id: "driver-test".into(),
                genesis_hash: zero,
                height,
                time_ms: 1,
                parent_hash: zero,
                transactions_root: zero,
                transaction_count: 1,
                log_size: 0,
                log_root: zero,
                state_root: zero,
                validator_set_hash: zero,
                proposer: key(1).public_key(),
            },
            transactions: vec![vec![7; transaction_bytes]],
        }
    }

    fn messages(height: u64, size: usize, id: &'static [u8]) -> Vec<StreamMessage<ProposalPart>> {
        let block = block(height, size);
        let signature = ConsensusSignature(key(1).sign(b"x"));
        proposal_stream(
            BlockHeight(height),
            Round::new(0),
            Round::Nil,
            ValidatorAddress(key(1).public_key()),
            &block,
            signature,
        )
        .into_iter()
        .enumerate()
        .map(|(i, content)| {
            StreamMessage::new(StreamId::new(Bytes::from_static(id)), i as u64, content)
        })
        .collect()
    }

    #[test]
    fn a_stream_reassembles_in_any_order() {
        let size = 3 * PART_DATA_MAX + 17;
        let mut parts = messages(5, size, b"s1");
        assert_eq!(parts.len(), 1 + 4 + 1 + 1);
        parts.reverse();
        let mut streams = PartStreams::default();
        let mut done = None;
        for part in parts {
            if let Some(proposal) = streams.insert(peer(1), part, 5).unwrap() {
                assert!(done.is_none());
                done = Some(proposal);
            }
        }
        let proposal = done.expect("complete");
        assert_eq!(proposal.height, 5);
        assert_eq!(Block::from_bytes(&proposal.block_bytes), Ok(block(5, size)));
        assert_eq!(streams.len(), 0);
        // A duplicate after completion is ignored.
        let again = messages(5, size, b"s1").remove(1);
        assert_eq!(streams.insert(peer(1), again, 5), Ok(None));
        assert_eq!(streams.len(), 0);
    }

    #[test]
    fn malformed_streams_are_dropped() {
        let mut streams = PartStreams::default();
        let parts = messages(5, 10, b"s2");
        // A data part at position 0.
        let misplaced = StreamMessage::new(parts[1].stream_id.clone(), 0, parts[1].content.clone());
        assert_eq!(
            streams.insert(peer(1), misplaced, 5),
            Err(StreamError::MissingInit)
        );
        // Too far ahead, or already decided.
        assert!(matches!(
            streams.insert(peer(1), messages(9, 10, b"s3").remove(0), 5),
            Err(StreamError::HeightOutOfRange { .. })
        ));
        assert!(matches!(
            streams.insert(peer(1), messages(4, 10, b"s4").remove(0), 5),
            Err(StreamError::HeightOutOfRange { .. })
        ));
        // A sequence number no stream can reach.
        let far = StreamMessage::new(
            parts[1].stream_id.clone(),
            PARTS_PER_STREAM_MAX,
            parts[1].content.clone(),
        );
        assert!(matches!(
            streams.insert(peer(1), far, 5),
            Err(StreamError::TooManyParts { .. })
        ));
        assert_eq!(streams.len(), 0);
    }

    #[test]
    fn streams_are_bounded_per_peer_and_pruned_by_height() {
        let mut streams = PartStreams::default();
        let ids: [&'static [u8]; 6] = [b"a", b"b", b"c", b"d", b"e", b"f"];
        for id in ids {
            // Only the opening part: the stream stays open.
            let init = messages(5, 10, id).remove(0);
            assert_eq!(streams.insert(peer(1), init, 5), Ok(None));
        }
        assert_eq!(streams.len(), STREAMS_PER_PEER_MAX);
        let init = messages(6, 10, b"other").remove(0);
        assert_eq!(streams.insert(peer(2), init, 5), Ok(None));
        assert_eq!(streams.len(), STREAMS_PER_PEER_MAX + 1);
        streams.prune_below(6);
        assert_eq!(streams.len(), 1);
    }

    /// The opening part of a stream for `round` of `height`.
    fn init_at(height: u64, round: u32, id: &'static [u8]) -> StreamMessage<ProposalPart> {
        StreamMessage::new(
            StreamId::new(Bytes::from_static(id)),
            0,
            StreamContent::Data(ProposalPart::Init {
                height: BlockHeight(height),
                round: Round::new(round),
                proposer: ValidatorAddress(key(1).public_key()),
                pol_round: Round::Nil,
            }),
        )
    }

    #[test]
    fn streams_for_rounds_far_ahead_are_dropped() {
        let mut streams = PartStreams::default();
        streams.started_round(3);
        assert_eq!(streams.insert(peer(1), init_at(5, 3, b"now"), 5), Ok(None));
        assert_eq!(
            streams.insert(peer(1), init_at(5, 3 + ROUNDS_AHEAD_MAX, b"soon"), 5),
            Ok(None)
        );
        assert_eq!(
            streams.insert(peer(2), init_at(5, 4 + ROUNDS_AHEAD_MAX, b"far"), 5),
            Err(StreamError::RoundOutOfRange {
                round: 4 + ROUNDS_AHEAD_MAX,
                last: 3 + ROUNDS_AHEAD_MAX
            })
        );
        // A later height starts at round 0: only its first rounds are taken.
        assert_eq!(
            streams.insert(peer(2), init_at(6, ROUNDS_AHEAD_MAX, b"next"), 5),
            Ok(None)
        );
        assert!(matches!(
            streams.insert(peer(2), init_at(6, ROUNDS_AHEAD_MAX + 1, b"next-far"), 5),
            Err(StreamError::RoundOutOfRange { .. })
        ));
        assert_eq!(streams.len(), 3);
    }

    #[test]
    fn all_unfinished_streams_together_are_bounded_by_bytes() {
        let size = 3 * PART_DATA_MAX;
        let mut streams = PartStreams {
            total_bytes_max: 5 * PART_DATA_MAX,
            ..PartStreams::default()
        };
        // Three peers each open a stream and send all but its last parts.
        let ids: [&'static [u8]; 3] = [b"p1", b"p2", b"p3"];
        for (i, id) in ids.into_iter().enumerate() {
            let mut parts = messages(5, size, id);
            parts.truncate(parts.len() - 2);
            for part in parts {
                // Each stream stays within every per-peer bound; together they pass the total,
                // and the oldest streams give way to the newest.
                let _ = streams.insert(peer(i as u8 + 1), part, 5);
            }
        }
        let total: usize = streams.streams.values().map(|b| b.bytes).sum();
        assert!(total <= 5 * PART_DATA_MAX, "{total} bytes buffered");
        assert!(
            streams.streams.keys().any(|(p, _)| *p == peer(3)),
            "the newest stream is kept"
        );
        assert!(
            !streams.streams.keys().any(|(p, _)| *p == peer(1)),
            "the oldest stream gave way"
        );
    }

    #[test]
    fn the_stream_of_a_block_has_bounded_chunks() {
        let block = block(1, 2 * PART_DATA_MAX);
        let contents = proposal_stream(
            BlockHeight(1),
            Round::new(0),
            Round::Nil,
            ValidatorAddress(key(1).public_key()),
            &block,
            ConsensusSignature(key(1).sign(b"x")),
        );
        let mut data = Vec::new();
        for content in &contents {
            if let StreamContent::Data(ProposalPart::Data(chunk)) = content {
                assert!(!chunk.is_empty() && chunk.len() <= PART_DATA_MAX);
                data.extend_from_slice(chunk);
            }
        }
        assert_eq!(data, block.to_bytes());
        assert!(matches!(contents.last(), Some(StreamContent::Fin)));
    }

    #[test]
    fn peer_addresses_pin_the_validator_identity() {
        let k = key(2).public_key();
        let address = validator_peer_address("/ip4/127.0.0.1/tcp/4000", &k).unwrap();
        assert_eq!(
            address.to_string(),
            format!("/ip4/127.0.0.1/tcp/4000/p2p/{}", peer_id_of(&k))
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
                peer.to_string()
                    .ends_with(&peer_id_of(&v.public_key).to_string())
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

    #[test]
    fn timeouts_grow_per_round_and_are_capped() {
        let engine = ConsensusTimeouts::default().to_engine();
        assert_eq!(engine.propose, Duration::from_secs(1));
        assert_eq!(engine.prevote, Duration::from_millis(500));
        assert_eq!(engine.propose_delta, Duration::from_millis(500));
        assert_eq!(engine.max_timeout, Duration::from_secs(30));
    }
}
