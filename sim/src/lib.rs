//! A deterministic simulation of the consortium.
//!
//! `n` validators run in one thread on a virtual clock. Each is the engine's pure consensus
//! core (`arc-malachitebft-core-consensus`: its state machine and effects, no actors, no
//! runtime) together with the node's own application side ([`Host`]: proposal assembly,
//! stream bounds, validation, restreaming, value sync) over the node's ledger on an
//! in-memory store. What the engine's actors do around the core (timers, signing, the network,
//! asking the application) is done here, as plain events in one queue ordered by virtual time.
//!
//! Everything random (keys, workload, message loss, delay, duplication, partitions) comes
//! from one seed, so a run is a function of its seed: the same seed gives the same ledger
//! digest, and any failure is replayed exactly from the seed it prints.
//!
//! After every committed block and at the end, the run checks its invariants (see
//! [`Violation`]): agreement, identical state at each height, no acknowledged transaction
//! lost, receipts that verify offline against genesis, and liveness after the network heals.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::entry::Record;
use evidence_core::receipt::verify_receipt;
use evidence_core::verify::VerifyError;
use evidence_genesis::{Consortium, Genesis, Suite, default_consortium_with_suite};
use evidence_node::app::{App, AppLimits};
use evidence_node::consensus::context::{
    BlockHash, BlockHeight, ConsensusValidatorSet, EvidenceContext, ProposalPart, ValidatorAddress,
};
use evidence_node::consensus::host::{ByzantineFaults, Host};
use evidence_node::consensus::network_keypair;
use evidence_node::consensus::signing::{ConsensusSigner, ConsensusVerifier};
use evidence_node::ledger::Ledger;
use evidence_node::local::{anchor_transaction, governance_transaction};
use evidence_node::metrics::Metrics as NodeMetrics;
use evidence_node::storage::MemoryDatabase;
use malachite_core_consensus::{
    Effect, Input, LivenessMsg, Params, Resumable, Resume, SignedConsensusMsg, State,
};
use malachite_core_types::{
    Context as _, Height as _, LinearTimeouts, Round, ThresholdParam, ThresholdParams, Timeout,
    ValueOrigin, ValuePayload, ValueResponse, VoteExtensionPolicy,
};
use malachite_engine::host::SyncedValueOutcome;
use malachite_engine::util::streaming::StreamMessage;
use malachite_peer::PeerId;
use malachite_signing::{Signer as _, Verifier as _, VerifierExt as _};
use malachite_sync::RawDecidedValue;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

type Ctx = EvidenceContext;

/// The genesis time of every simulated chain; virtual time starts one minute later.
pub const GENESIS_TIME_MS: u64 = 1_767_225_600_000;

/// How often each node tells its peers its committed height (the engine's sync status).
const STATUS_INTERVAL_MS: u64 = 200;
/// How long a proposer waits for transactions before proposing an empty block (not after a
/// height that came by value sync: `Host::propose_at_once`, as the node's driver does), and
/// at most half the round's propose timeout. (The driver's proposer also stops waiting when a
/// transaction arrives; the simulator's waits the whole interval.)
const IDLE_BLOCK_MS: u64 = 100;
/// The contract workload (registration, inspections, payments, a revocation) is filed in
/// this much virtual time, and a run with a workload lasts at least until it is over.
const CONTRACT_SPAN_MS: u64 = 2_000;
/// A run whose validator set changes lasts at least this long, so that both changes are
/// proposed, voted on and in force for a while.
const VALIDATOR_CHANGES_SPAN_MS: u64 = 18_000;
/// Most heights asked for in one sync request.
const SYNC_HEIGHTS_MAX: u64 = 8;

/// What a run is made of. [`SimConfig::from_seed`] draws one from a seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub seed: u64,
    /// Number of validators (equal voting power).
    pub validators: usize,
    /// The run succeeds once every node has committed this height.
    pub heights: u64,
    /// Virtual time after which the network is healed: no loss, no partition, delays at most
    /// `delay_max_ms`.
    pub gst_ms: u64,
    /// Virtual time by which every node must have reached `heights` (liveness).
    pub deadline_ms: u64,
    /// Probability that a message is lost, before `gst_ms`.
    pub loss: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Delivery delay, uniform in this range (messages overtake each other).
    pub delay_min_ms: u64,
    pub delay_max_ms: u64,
    /// Before `gst_ms`, nodes in this set hear only each other (and the rest only the rest).
    pub partition: Option<Vec<usize>>,
    /// Transactions submitted per virtual second, to random nodes.
    pub tx_per_second: u64,
    /// Nodes that crash (lose everything but their database and write-ahead log) and restart,
    /// one at a time.
    pub crashes: Vec<Crash>,
    /// At most one faulty validator, and how it misbehaves.
    pub byzantine: Option<Byzantine>,
    /// Each validator's clock error in milliseconds (positive: ahead). Within the bound the
    /// nodes allow (`clock_bound_ms`, 500 ms) nothing may change; one node beyond it is a
    /// faulty node: its blocks or its votes are refused, and safety must hold.
    pub clock_skew_ms: Vec<i64>,
    /// Each validator's voting power, in genesis order; empty: 1 each. Drawn so that any one
    /// validator holds less than a third of the power (the one faulty member the network must
    /// survive) and no half of the network holds a quorum.
    pub voting_powers: Vec<u64>,
    /// The validator set changes on the ledger: a fifth node (of the court) runs from the
    /// start without being a validator, and the members add it by a proposal; later they
    /// remove one of the first four (the faulty one, if a validator is faulty); last they
    /// replace the fifth node's key by that of a sixth node (which also ran from the start)
    /// and raise the voting power of a validator.
    pub validator_changes: bool,
    /// The chain runs on the national-algorithm suite (SM3 hashing, SM2 signatures) instead
    /// of BLAKE3 and Ed25519: every vote, proposal, certificate and transaction is SM2.
    pub national_suite: bool,
    /// How many heights of the state tree each node keeps (older pages pruned as blocks
    /// commit): 1, 2 or 4 in most seeds, so pruning runs under crashes, restarts and sync.
    pub state_tree_keep: u64,
    /// When each node writes its state tree's pages: every this many blocks, or sooner when
    /// the second number of pages wait (drawn with the kept heights). The node's interval (32)
    /// is longer than most seeds, so most seeds draw shorter ones, and one a small page cap,
    /// so that pages are written, pruned and rebuilt from the journal within a seed.
    pub tree_flush: (u64, usize),
    /// Deliberate bugs, to show that the invariants catch them (never set by a seed).
    pub bugs: Bugs,
}

/// A Byzantine validator: which one, and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Byzantine {
    pub node: usize,
    pub kind: ByzantineKind,
}

/// The misbehaviours a Byzantine validator of the simulation has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByzantineKind {
    /// Its blocks carry a state root that no execution produces.
    WrongStateRoot,
    /// On its turns it proposes two different blocks, each signed, each to half its peers.
    Equivocate,
    /// Each vote it casts goes to half its peers; the other half get a conflicting vote.
    DoubleVote,
    /// Two nodes run its key, each seeing part of the network and neither knowing of the other.
    Twins,
}

/// Deliberate bugs a test switches on to show that a seed catches each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bugs {
    /// A restarted node does not replay its write-ahead log: it forgets the votes it cast and
    /// the value it locked on.
    pub forget_wal: bool,
    /// Honest nodes take proposals as valid without executing them (no state-root check).
    pub skip_validation: bool,
    /// A crash loses the undecided proposals a node had validated (as if they were written
    /// without a sync before the node voted for them).
    pub unsynced_pending: bool,
    /// Votes and certificates whose signers hold 2f of 3f + 1 of the power (two of four) pass
    /// as a quorum, in the consensus core and in the ledger's certificate check.
    pub two_f_quorum: bool,
    /// A restarted node does not read back the configuration accepted proposals left in its
    /// state: it admits and executes under genesis's.
    pub forget_configuration: bool,
}

/// A crash of one node at `at_ms`, restarted `down_ms` later from what it had persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crash {
    pub node: usize,
    pub at_ms: u64,
    pub down_ms: u64,
}

impl SimConfig {
    /// A configuration drawn from `seed`: four validators, and faults of every kind in
    /// varying strength.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x5349_4d5f_434f_4e46);
        let validators = 4;
        let partition = if rng.next_u32().is_multiple_of(3) {
            // One member cut off, or the network split in halves.
            let size = 1 + (rng.next_u32() as usize % 2);
            let mut members: Vec<usize> = (0..validators).collect();
            shuffle(&mut members, &mut rng);
            members.truncate(size);
            members.sort_unstable();
            Some(members)
        } else {
            None
        };
        let delay_min_ms = u64::from(rng.next_u32() % 5);
        let mut crashes = Vec::new();
        let mut at_ms = 0;
        for _ in 0..rng.next_u32() % 4 {
            // One node down at a time (at most f of four), each back before the next goes.
            at_ms += 50 + u64::from(rng.next_u32() % 4_000);
            let down_ms = 1 + u64::from(rng.next_u32() % 4_000);
            crashes.push(Crash {
                node: rng.next_u32() as usize % validators,
                at_ms,
                down_ms,
            });
            at_ms += down_ms;
        }
        Self {
            seed,
            validators,
            heights: 6 + u64::from(rng.next_u32() % 6),
            gst_ms: u64::from(rng.next_u32() % 8_000),
            deadline_ms: 90_000,
            loss: f64::from(rng.next_u32() % 30) / 100.0,
            duplicate: f64::from(rng.next_u32() % 10) / 100.0,
            delay_min_ms,
            delay_max_ms: delay_min_ms + 1 + u64::from(rng.next_u32() % 120),
            partition,
            tx_per_second: u64::from(rng.next_u32() % 40),
            crashes,
            byzantine: match rng.next_u32() % 8 {
                0 => Some(ByzantineKind::WrongStateRoot),
                1 => Some(ByzantineKind::Equivocate),
                2 => Some(ByzantineKind::DoubleVote),
                3 => Some(ByzantineKind::Twins),
                _ => None,
            }
            .map(|kind| Byzantine {
                node: rng.next_u32() as usize % validators,
                kind,
            }),
            clock_skew_ms: Vec::new(),
            voting_powers: Vec::new(),
            validator_changes: false,
            national_suite: false,
            state_tree_keep: 64,
            tree_flush: (
                evidence_node::storage::TREE_FLUSH_INTERVAL,
                evidence_node::storage::TREE_CACHE_PAGES_MAX,
            ),
            bugs: Bugs::default(),
        }
        .with_skew(&mut rng)
        .with_powers(&mut rng)
        .with_validator_changes(&mut rng)
        .with_suite(&mut rng)
        .with_state_tree_keep(&mut rng)
    }

    /// Draws how many heights of the state tree the nodes keep, then when they write its
    /// pages (drawn after everything else, so that every other choice of a seed is what it
    /// was before).
    fn with_state_tree_keep(mut self, rng: &mut ChaCha20Rng) -> Self {
        self.state_tree_keep = [1, 2, 4, 64][rng.next_u32() as usize % 4];
        let node = (
            evidence_node::storage::TREE_FLUSH_INTERVAL,
            evidence_node::storage::TREE_CACHE_PAGES_MAX,
        );
        self.tree_flush = [(2, node.1), (4, node.1), (8, 16), node][rng.next_u32() as usize % 4];
        self
    }

    /// Draws the national suite for one seed in eight (drawn last, so that every other choice
    /// of a seed is what it was before the suite was drawn).
    fn with_suite(mut self, rng: &mut ChaCha20Rng) -> Self {
        self.national_suite = rng.next_u32().is_multiple_of(8);
        self
    }

    /// The genesis suite the configuration runs.
    pub fn suite(&self) -> Suite {
        if self.national_suite {
            Suite::NATIONAL
        } else {
            Suite::DEFAULT
        }
    }

    /// Draws validator-set changes for a third of the seeds (not those with twins, which
    /// already run a fifth node).
    fn with_validator_changes(mut self, rng: &mut ChaCha20Rng) -> Self {
        let twins = matches!(
            self.byzantine,
            Some(Byzantine {
                kind: ByzantineKind::Twins,
                ..
            })
        );
        self.validator_changes = !twins && rng.next_u32().is_multiple_of(3);
        self
    }

    /// Draws voting powers: 1 each in half the seeds; in the other half, with four validators,
    /// 3, 3, 3 and 4 in a drawn order (the heavy one holds 4 of 13, under a third; any two hold
    /// at most 7, short of the 9 a quorum needs), so the weighted proposer rotation and
    /// quorums counted by power are exercised.
    fn with_powers(mut self, rng: &mut ChaCha20Rng) -> Self {
        if self.validators == 4 && rng.next_u32().is_multiple_of(2) {
            let heavy = rng.next_u32() as usize % 4;
            self.voting_powers = (0..4).map(|i| if i == heavy { 4 } else { 3 }).collect();
        }
        self
    }

    /// Draws clock errors: none in a third of the seeds, all within ±200 ms in another third
    /// (two clocks differ by at most 400 ms, under the 500 ms bound), and in the rest the same
    /// with one node 1–20 s ahead or behind, when no validator is Byzantine already.
    fn with_skew(mut self, rng: &mut ChaCha20Rng) -> Self {
        let mode = rng.next_u32() % 3;
        if mode == 0 {
            return self;
        }
        self.clock_skew_ms = (0..self.validators)
            .map(|_| i64::from(rng.next_u32() % 401) - 200)
            .collect();
        if mode == 2 && self.byzantine.is_none() {
            let node = rng.next_u32() as usize % self.validators;
            let size = 1_000 + i64::from(rng.next_u32() % 19_000);
            self.clock_skew_ms[node] = if rng.next_u32().is_multiple_of(2) {
                size
            } else {
                -size
            };
        }
        self
    }

    /// The same configuration with a healthy network from the start.
    pub fn healthy(seed: u64) -> Self {
        Self {
            gst_ms: 0,
            loss: 0.0,
            duplicate: 0.0,
            partition: None,
            crashes: Vec::new(),
            byzantine: None,
            clock_skew_ms: Vec::new(),
            ..Self::from_seed(seed)
        }
    }
}

fn shuffle<T>(items: &mut [T], rng: &mut ChaCha20Rng) {
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// A broken invariant: the run stops at the first one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("validator sets: node {node} at height {height}: {reason}")]
    ValidatorSet {
        node: usize,
        height: u64,
        reason: String,
    },
    #[error("agreement: node {node} committed {hash} at height {height}, another node {other}")]
    Agreement {
        node: usize,
        height: u64,
        hash: Digest,
        other: Digest,
    },
    #[error("node {node} could not commit what consensus decided at height {height}: {reason}")]
    Commit {
        node: usize,
        height: u64,
        reason: String,
    },
    #[error("state: node {node} has header {hash} at height {height}, node {other_node} {other}")]
    State {
        node: usize,
        height: u64,
        hash: Digest,
        other_node: usize,
        other: Digest,
    },
    #[error(
        "transaction {tx_id} committed at height {height} is unknown to node {node} at height {tip}"
    )]
    LostTransaction {
        tx_id: Digest,
        height: u64,
        node: usize,
        tip: u64,
    },
    #[error("receipt of entry {index} does not verify offline: {reason}")]
    Receipt { index: u64, reason: String },
    #[error("payment rules: entry {index} {reason}")]
    PaymentRule { index: u64, reason: String },
    #[error("filer rules: entry {index} {reason}")]
    FilerRule { index: u64, reason: String },
    #[error("governance rules: {reason}")]
    GovernanceRule { reason: String },
    #[error(
        "liveness: by {deadline_ms} ms node {node} reached height {tip} of {target} (every \
         node's height: {heights:?})"
    )]
    Liveness {
        node: usize,
        tip: u64,
        target: u64,
        deadline_ms: u64,
        heights: Vec<u64>,
    },
    #[error(
        "node {node} signed two different {what} for height {height}, round {round}: {first} and {second}"
    )]
    DoubleSign {
        node: usize,
        what: &'static str,
        height: u64,
        round: i64,
        first: String,
        second: String,
    },
    #[error("node {node}: {reason}")]
    Node { node: usize, reason: String },
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    /// A digest of every node's committed chain: equal for equal seeds.
    pub ledger_digest: Digest,
    /// The virtual time at which the last node reached the target height.
    pub finished_ms: u64,
    pub heights: u64,
    pub transactions_committed: u64,
    pub messages_sent: u64,
    pub messages_lost: u64,
    pub events: u64,
    pub crashes: u64,
    /// Restarts that replayed write-ahead log entries of an unfinished height.
    pub replays: u64,
    /// Heights decided by a node through value sync rather than its own votes.
    pub synced: u64,
    /// The highest round in which a height was decided.
    pub round_max: i64,
    /// The Byzantine validator's misbehaviour, if the seed has one.
    pub byzantine: Option<ByzantineKind>,
    /// Conflicting messages the Byzantine validator sent (second proposals, second votes).
    pub conflicting: u64,
    /// Proposals honest nodes validated and found invalid.
    pub refused: u64,
    /// Payments committed (each checked against the payment rules).
    pub payments: u64,
    /// Filings committed by a filer key registered on the ledger (each checked against the
    /// filer rules).
    pub registered_filings: u64,
    /// Proposals of the members accepted (each checked against the governance rules).
    pub accepted_proposals: u64,
    /// Heights at which the validator set changed (on the first honest node's log).
    pub validator_set_changes: u64,
    /// Every committed height of the first honest node's chain, in order.
    pub chain: Vec<ChainHeight>,
    /// Heights nodes entered with a validator taken for absent (counted per node), and of
    /// those, the ones whose round 0 probed it.
    pub absent_heights: u64,
    pub probes: u64,
    /// Heights nodes began with transactions waiting and a window of waits, whose round 0
    /// was shortened to the network's pace (counted per node).
    pub adapted_heights: u64,
}

/// One committed height, as the report gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHeight {
    pub height: u64,
    /// The block's time, as the virtual milliseconds since the run began (the nodes' clocks
    /// start a minute after the genesis time).
    pub time_ms: u64,
    /// The node whose validator proposed the block (`None`: a key no node holds now).
    pub proposer: Option<usize>,
    /// The highest round in which a node decided the height (past 0: a round failed first).
    pub round: i64,
}

/// A message on the simulated network.
#[derive(Clone, Debug)]
enum NetMsg {
    Consensus(SignedConsensusMsg<Ctx>),
    Liveness(LivenessMsg<Ctx>),
    Part(PeerId, StreamMessage<ProposalPart>),
    Status {
        tip: u64,
    },
    SyncRequest {
        from: u64,
        to: u64,
    },
    SyncResponse(Vec<RawDecidedValue<Ctx>>),
    /// A transaction a node admitted, relayed to the others as the node's `Relay` call does.
    Relay(Vec<u8>),
}

#[derive(Debug)]
enum EventKind {
    Deliver {
        from: usize,
        msg: Box<NetMsg>,
    },
    Timer {
        timeout: Timeout,
        epoch: u64,
    },
    Propose {
        incarnation: u64,
        height: u64,
        round: Round,
    },
    Status {
        incarnation: u64,
    },
    Submit {
        bytes: Vec<u8>,
    },
    Crash,
    Restart,
}

#[derive(Debug)]
struct Event {
    at: u64,
    seq: u64,
    node: usize,
    kind: EventKind,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// What a node's write-ahead log holds: the inputs of one height.
#[derive(Debug, Default)]
struct Wal {
    height: u64,
    entries: Vec<Input<Ctx>>,
    /// While the log is replayed after a restart, nothing is appended (as in the engine).
    replaying: bool,
}

/// One simulated validator.
struct SimNode {
    /// Counts restarts: events of an earlier life of the node are dropped.
    incarnation: u64,
    peer: PeerId,
    state: State<Ctx>,
    host: Host,
    signer: ConsensusSigner,
    verifier: ConsensusVerifier,
    /// The current epoch of each scheduled timeout; a timer event of another epoch was
    /// cancelled.
    timers: HashMap<Timeout, u64>,
    /// The height it asked its peers for last, and when.
    sync_asked: Option<(u64, u64)>,
    /// The core's metrics (it tracks each node's steps in them).
    metrics: malachite_metrics::Metrics,
}

impl SimNode {
    fn app(&self) -> &Arc<App> {
        self.host.app()
    }
}

/// What handling one input asks the simulation to do.
enum Output {
    Broadcast(NetMsg),
    Schedule(Timeout, Duration),
    Cancel(Timeout),
    CancelAll,
    /// This node proposes for (height, round); the round's propose timeout.
    Propose(u64, Round, Duration),
    /// More inputs for the same node, in order, at the same virtual time.
    Input(Input<Ctx>),
    Decided(u64, Digest, i64),
    Synced,
    /// A node began a height with its round 0 shortened to the network's pace.
    Adapted,
    /// A node entered a height at which attendance takes a validator or more for absent,
    /// probing one of them in round 0 or not.
    Attendance {
        probe: bool,
    },
    Signed {
        what: &'static str,
        height: u64,
        round: i64,
        step: u8,
        value: String,
    },
}

/// The simulation of one seed.
pub struct Simulation {
    config: SimConfig,
    consortium: Consortium,
    /// The keys of the node that joins the validator set by a proposal and of the node whose
    /// key replaces it later, when the seed changes the set.
    joiner: Option<(
        evidence_core::keys::SigningKey,
        evidence_core::keys::SigningKey,
    )>,
    algorithm: HashAlgorithm,
    nodes: Vec<SimNode>,
    /// Each node's validator key (twins share one).
    keys: Vec<evidence_core::keys::SigningKey>,
    /// Which nodes follow the protocol: the invariants are about them.
    honest: Vec<bool>,
    /// Which node can reach which (twins see part of the network each).
    reach: Vec<Vec<bool>>,
    /// An equivocating proposer's second proposal, by (node, height, round).
    equivocations: HashMap<(usize, u64, i64), malachite_core_types::SignedProposal<Ctx>>,
    /// What survives a crash: each node's database and write-ahead log.
    databases: Vec<MemoryDatabase>,
    wals: Vec<Wal>,
    down: Vec<bool>,
    /// Every vote and proposal each node signed, by (node, height, round, step): an honest
    /// node never signs two different ones, restarts included.
    signed: HashMap<(usize, u64, i64, u8), String>,
    crashes: u64,
    replays: u64,
    synced: u64,
    round_max: i64,
    /// The highest round in which each height was decided, by any node.
    decided_rounds: HashMap<u64, i64>,
    /// Heights a node entered with a validator taken for absent, and of those, the heights
    /// whose round 0 probed one.
    absent_heights: u64,
    probes: u64,
    /// Heights a node began with its round 0 shortened to the network's pace.
    adapted_heights: u64,
    conflicting: u64,
    refused: u64,
    queue: BinaryHeap<Reverse<Event>>,
    seq: u64,
    now: u64,
    rng: ChaCha20Rng,
    /// The block hash committed at each height, by the first node that committed it.
    committed: BTreeMap<u64, (usize, Digest)>,
    /// Transactions committed somewhere, with their heights: none may be lost.
    acknowledged: BTreeMap<Digest, u64>,
    messages_sent: u64,
    messages_lost: u64,
    events: u64,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("config", &self.config)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl Simulation {
    /// Builds the consortium and its nodes for `config`.
    ///
    /// # Errors
    /// A node's ledger cannot be opened.
    pub fn new(config: SimConfig) -> Result<Self, Violation> {
        let mut rng = ChaCha20Rng::seed_from_u64(config.seed);
        let mut consortium = default_consortium_with_suite(
            "evidence-sim",
            GENESIS_TIME_MS,
            config.suite(),
            &mut rng,
        );
        for (validator, power) in consortium
            .genesis
            .validators
            .iter_mut()
            .zip(&config.voting_powers)
        {
            validator.voting_power = *power;
        }
        let genesis = consortium.genesis.clone();
        let algorithm = genesis.suite.digest;
        let mut keys: Vec<evidence_core::keys::SigningKey> = consortium
            .validator_keys
            .iter()
            .take(config.validators)
            .map(|(_, key)| key.clone())
            .collect();
        let mut faults = vec![
            ByzantineFaults {
                skip_validation: config.bugs.skip_validation,
                ..ByzantineFaults::default()
            };
            keys.len()
        ];
        let mut honest = vec![true; keys.len()];
        if let Some(byzantine) = config.byzantine
            && byzantine.node < keys.len()
        {
            honest[byzantine.node] = false;
            match byzantine.kind {
                ByzantineKind::WrongStateRoot => faults[byzantine.node].wrong_state_root = true,
                ByzantineKind::Equivocate => faults[byzantine.node].equivocate = true,
                ByzantineKind::DoubleVote => {}
                ByzantineKind::Twins => {
                    keys.push(keys[byzantine.node].clone());
                    faults.push(ByzantineFaults::default());
                    honest.push(false);
                }
            }
        }
        // Two nodes of the court that are no validators yet: the members add the first on the
        // ledger, and later replace its key by the second's.
        let joiner = config.validator_changes.then(|| {
            let mut key = || {
                let key = evidence_core::keys::SigningKey::generate_for_with(
                    config.suite().signature,
                    &mut rng,
                );
                keys.push(key.clone());
                faults.push(ByzantineFaults {
                    skip_validation: config.bugs.skip_validation,
                    ..ByzantineFaults::default()
                });
                honest.push(true);
                key
            };
            (key(), key())
        });
        let n = keys.len();
        let mut reach = vec![vec![true; n]; n];
        if let Some(Byzantine {
            node: twin,
            kind: ByzantineKind::Twins,
        }) = config.byzantine
        {
            // The twins do not hear each other; each hears two of the three honest nodes, and
            // one honest node hears both.
            let other = n - 1;
            let mut others: Vec<usize> = (0..n).filter(|i| honest[*i]).collect();
            shuffle(&mut others, &mut rng);
            reach[twin][other] = false;
            reach[other][twin] = false;
            for (i, peer) in others.iter().enumerate() {
                let (hears_first, hears_second) = match i {
                    0 => (true, false),
                    1 => (true, true),
                    _ => (false, true),
                };
                reach[twin][*peer] = hears_first;
                reach[*peer][twin] = hears_first;
                reach[other][*peer] = hears_second;
                reach[*peer][other] = hears_second;
            }
        }
        let mut nodes = Vec::new();
        let mut databases = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            let database = MemoryDatabase::new();
            let node = open_node(
                &genesis,
                key.clone(),
                database.clone(),
                faults[index],
                config.bugs,
                config.state_tree_keep,
                config.tree_flush,
            )
            .map_err(|reason| Violation::Node {
                node: index,
                reason,
            })?;
            databases.push(database);
            nodes.push(node);
        }
        let n = nodes.len();
        Ok(Self {
            config,
            consortium,
            joiner,
            algorithm,
            nodes,
            keys,
            honest,
            reach,
            equivocations: HashMap::new(),
            databases,
            wals: (0..n).map(|_| Wal::default()).collect(),
            down: vec![false; n],
            signed: HashMap::new(),
            crashes: 0,
            replays: 0,
            synced: 0,
            round_max: 0,
            decided_rounds: HashMap::new(),
            absent_heights: 0,
            adapted_heights: 0,
            probes: 0,
            conflicting: 0,
            refused: 0,
            queue: BinaryHeap::new(),
            seq: 0,
            now: 0,
            rng,
            committed: BTreeMap::new(),
            acknowledged: BTreeMap::new(),
            messages_sent: 0,
            messages_lost: 0,
            events: 0,
        })
    }

    /// The clock reading node `node` sees: genesis time, a minute, virtual time, and the
    /// node's clock error. A twin shares the clock of the last validator; the nodes that join
    /// the validator set later keep good time (a faulty clock would make them faulty too).
    fn clock(&self, node: usize) -> u64 {
        let skew = if self.joiner.is_some() && node >= self.config.validators {
            0
        } else {
            self.config
                .clock_skew_ms
                .get(node.min(self.config.validators.saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        (GENESIS_TIME_MS + 60_000 + self.now).saturating_add_signed(skew)
    }

    fn schedule(&mut self, at: u64, node: usize, kind: EventKind) {
        self.seq += 1;
        self.queue.push(Reverse(Event {
            at,
            seq: self.seq,
            node,
            kind,
        }));
    }

    fn chance(&mut self, probability: f64) -> bool {
        probability > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < probability
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.rng.next_u64() % (high - low + 1)
    }

    /// Runs the seed to the target height (or a violation).
    ///
    /// # Errors
    /// The first invariant the run broke.
    pub fn run(mut self) -> Result<Report, Violation> {
        let n = self.nodes.len();
        for node in 0..n {
            self.start_node(node)?;
        }
        for crash in self.config.crashes.clone() {
            if crash.node < n {
                self.schedule(crash.at_ms, crash.node, EventKind::Crash);
                self.schedule(crash.at_ms + crash.down_ms, crash.node, EventKind::Restart);
            }
        }
        self.schedule_workload();
        self.schedule_contract_workload();
        let mut finished_ms = None;
        while let Some(Reverse(event)) = self.queue.pop() {
            if event.at > self.config.deadline_ms {
                break;
            }
            self.now = event.at;
            self.events += 1;
            self.handle(event)?;
            let workload_over = (self.config.tx_per_second == 0
                || self.now >= CONTRACT_SPAN_MS + 1_500)
                && (!self.config.validator_changes || self.now >= VALIDATOR_CHANGES_SPAN_MS);
            if workload_over
                && self
                    .nodes
                    .iter()
                    .zip(&self.honest)
                    .filter(|(_, honest)| **honest)
                    .all(|(node, _)| node.app().tip().height >= self.config.heights)
            {
                finished_ms = Some(self.now);
                break;
            }
        }
        let Some(finished_ms) = finished_ms else {
            let (node, tip) = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| self.honest[*i])
                .map(|(i, node)| (i, node.app().tip().height))
                .min_by_key(|(_, tip)| *tip)
                .unwrap_or((0, 0));
            return Err(Violation::Liveness {
                node,
                tip,
                target: self.config.heights,
                deadline_ms: self.config.deadline_ms,
                heights: self.nodes.iter().map(|n| n.app().tip().height).collect(),
            });
        };
        let (payments, registered_filings, accepted_proposals, validator_set_changes) =
            self.check_end()?;
        Ok(Report {
            payments,
            registered_filings,
            accepted_proposals,
            validator_set_changes,
            seed: self.config.seed,
            ledger_digest: self.ledger_digest(),
            finished_ms,
            heights: self.config.heights,
            transactions_committed: self.acknowledged.len() as u64,
            messages_sent: self.messages_sent,
            messages_lost: self.messages_lost,
            events: self.events,
            crashes: self.crashes,
            replays: self.replays,
            synced: self.synced,
            round_max: self.round_max,
            byzantine: self.config.byzantine.map(|b| b.kind),
            conflicting: self.conflicting,
            refused: self.refused,
            chain: self.chain(),
            absent_heights: self.absent_heights,
            adapted_heights: self.adapted_heights,
            probes: self.probes,
        })
    }

    /// The first honest node's committed heights, with their proposers and rounds.
    fn chain(&self) -> Vec<ChainHeight> {
        let Some(first) = (0..self.nodes.len()).find(|&i| self.honest[i]) else {
            return Vec::new();
        };
        let app = self.nodes[first].app();
        let keys: Vec<_> = self.nodes.iter().map(|n| n.host.address().0).collect();
        (1..=app.tip().height)
            .filter_map(|height| {
                let header = app.ledger().store().header(height).ok().flatten()?;
                Some(ChainHeight {
                    height,
                    time_ms: header.time_ms.saturating_sub(GENESIS_TIME_MS + 60_000),
                    proposer: keys.iter().position(|k| *k == header.proposer),
                    round: self.decided_rounds.get(&height).copied().unwrap_or(-1),
                })
            })
            .collect()
    }

    /// Starts consensus on node `node` at the height after its tip, replaying its write-ahead
    /// log if it holds that height (after a restart), as the engine does.
    fn start_node(&mut self, node: usize) -> Result<(), Violation> {
        let start = self.nodes[node].host.start_height();
        let input = Input::StartHeight(
            BlockHeight(start),
            self.nodes[node].host.validators().clone(),
            false,
            None,
            VoteExtensionPolicy::Disabled,
        );
        self.process(node, input)?;
        let replay = !self.config.bugs.forget_wal;
        if replay && self.wals[node].height == start && !self.wals[node].entries.is_empty() {
            let entries = self.wals[node].entries.clone();
            let state = &mut self.nodes[node].state;
            state.record_recovered_own_precommit_extensions(entries.iter());
            state.index_wal_entries(entries.iter());
            self.wals[node].replaying = true;
            self.replays += 1;
            for entry in entries {
                self.process(node, entry)?;
            }
            self.wals[node].replaying = false;
            self.nodes[node].state.reset_entries_index();
        } else if self.wals[node].height != start {
            self.wals[node] = Wal {
                height: start,
                ..Wal::default()
            };
        }
        let first_status = self.now + self.between(1, STATUS_INTERVAL_MS);
        let incarnation = self.nodes[node].incarnation;
        self.schedule(first_status, node, EventKind::Status { incarnation });
        Ok(())
    }

    /// Filers submit anchors to random nodes at the configured rate; a few are submitted
    /// again to another node (replays), and a few are damaged (bad signatures).
    /// A project contract and its life, in a seed with a workload: the bureau registers
    /// project `P-SIM-PAY` (three milestones of 300,000 fen, 800,000 in all), files
    /// inspection reports for them (some failing, some later versions flipping the verdict),
    /// and a drawing it later revokes; the finance bureau files payments of 50,000–200,000
    /// fen against random milestones at random times. Many payments break a rule (no passed
    /// inspection yet, over the milestone, over the contract) and must be refused; the
    /// payment oracle at the end checks the committed ones.
    fn schedule_contract_workload(&mut self) {
        use evidence_contracts::transaction::Transaction;
        use evidence_core::encoding::Encode;
        use evidence_core::entry::{
            AnchorBody, Milestone, MilestoneClaim, ProjectRegistrationBody, RevocationBody,
            SignedBatch,
        };
        if self.config.tx_per_second == 0 {
            return;
        }
        let genesis = self.consortium.genesis.clone();
        let key_of = |member: &str| {
            self.consortium
                .filer_keys
                .iter()
                .find(|(m, _)| m == member)
                .map(|(_, key)| key.clone())
        };
        let (Some(bureau), Some(finance)) = (key_of("bureau"), key_of("finance")) else {
            return;
        };
        let base = GENESIS_TIME_MS + 60_000;
        let span = CONTRACT_SPAN_MS;
        let project = "P-SIM-PAY";
        let milestones = ["M1", "M2", "M3"];
        let mut submissions: Vec<(u64, Vec<u8>)> = Vec::new();
        let registration = ProjectRegistrationBody {
            chain_id: genesis.chain_id.clone(),
            registrar: bureau.public_key(),
            member: "bureau".into(),
            project_id: project.into(),
            total_value_minor: 800_000,
            milestones: milestones
                .iter()
                .map(|id| Milestone {
                    id: (*id).into(),
                    amount_minor: 300_000,
                })
                .collect(),
            registered_at_ms: base,
        }
        .sign(&bureau);
        submissions.push((
            self.between(0, 300),
            Transaction::RegisterProject(registration).to_canonical_bytes(),
        ));
        let anchor = |sim: &mut Self,
                      key: &evidence_core::keys::SigningKey,
                      member: &str,
                      kind: &str,
                      document_id: String,
                      version: u32,
                      supersedes: Option<Digest>,
                      claim: Option<MilestoneClaim>,
                      at: u64|
         -> Option<(Vec<u8>, Digest)> {
            let digest = sim
                .algorithm
                .hash(format!("{document_id} v{version} {claim:?}").as_bytes());
            let body = AnchorBody {
                chain_id: genesis.chain_id.clone(),
                filer: key.public_key(),
                member: member.into(),
                source_system: format!("{member}-filing-system"),
                captured_at_ms: base + at,
                project_id: project.into(),
                document_id,
                document_version: version,
                kind: kind.into(),
                digest,
                supersedes,
                claim,
            };
            let batch = SignedBatch::sign(sim.algorithm, vec![body], key).ok()?;
            Some((Transaction::Anchor(batch).to_canonical_bytes(), digest))
        };
        // Inspection reports: version 1 with a random verdict, and sometimes a version 2
        // that flips it, filed a little later.
        for milestone in milestones {
            let at = self.between(200, span / 2);
            let passed = self.chance(0.7);
            let id = format!("INSPECTION-{milestone}");
            let claim = MilestoneClaim::Inspection {
                milestone: milestone.into(),
                passed,
            };
            let Some((bytes, digest)) = anchor(
                self,
                &bureau,
                "bureau",
                "inspection-report",
                id.clone(),
                1,
                None,
                Some(claim),
                at,
            ) else {
                continue;
            };
            submissions.push((at, bytes));
            if self.chance(0.5) {
                let later = at + self.between(200, 800);
                let claim = MilestoneClaim::Inspection {
                    milestone: milestone.into(),
                    passed: !passed,
                };
                if let Some((bytes, _)) = anchor(
                    self,
                    &bureau,
                    "bureau",
                    "inspection-report",
                    id,
                    2,
                    Some(digest),
                    Some(claim),
                    later,
                ) {
                    submissions.push((later, bytes));
                }
            }
        }
        // Payments.
        for i in 0..12 {
            let at = self.between(200, span);
            let milestone = milestones[(self.rng.next_u32() as usize) % milestones.len()];
            let amount = self.between(50_000, 200_000);
            let claim = MilestoneClaim::Payment {
                milestone: milestone.into(),
                amount_minor: amount,
            };
            if let Some((bytes, _)) = anchor(
                self,
                &finance,
                "finance",
                "fund-transfer",
                format!("TRANSFER-{i}"),
                1,
                None,
                Some(claim),
                at,
            ) {
                submissions.push((at, bytes));
            }
        }
        // A drawing, and its revocation some time later.
        let at = self.between(100, span / 2);
        if let Some((bytes, digest)) = anchor(
            self,
            &bureau,
            "bureau",
            "completion-drawing",
            "DWG-REVOKED".into(),
            1,
            None,
            None,
            at,
        ) {
            submissions.push((at, bytes));
            let later = at + self.between(300, 1_000);
            let revocation = RevocationBody {
                chain_id: genesis.chain_id.clone(),
                filer: bureau.public_key(),
                member: "bureau".into(),
                project_id: project.into(),
                document_id: "DWG-REVOKED".into(),
                document_version: 1,
                digest,
                reason: "superseded by the as-built survey".into(),
                revoked_at_ms: base + later,
            }
            .sign(&bureau);
            submissions.push((later, Transaction::Revoke(revocation).to_canonical_bytes()));
        }
        // A filer key's life: the bureau's governance key registers a site scanner's key; the
        // scanner files drawings at random times (those before its registration is committed
        // are refused and retried); later the bureau revokes the key, from an effective height
        // that may lie in the past, and what the scanner files from then on is refused.
        if let Some(governance) = self.consortium.governance_key("bureau").cloned() {
            use evidence_core::governance::{FilerRegistration, FilerRevocation, GovernanceAction};
            let scanner = evidence_core::keys::SigningKey::generate_for_with(
                self.config.suite().signature,
                &mut self.rng,
            );
            let act = |at: u64, action: GovernanceAction| {
                let bytes =
                    governance_transaction(&genesis, "bureau", &governance, action, base + at);
                (at, bytes)
            };
            let at = self.between(0, span / 2);
            submissions.push(act(
                at,
                GovernanceAction::RegisterFiler(FilerRegistration {
                    name: "bureau-site-scanner".into(),
                    public_key: scanner.public_key(),
                    kinds: vec!["completion-drawing".into()],
                    source_system: "site-scanner".into(),
                }),
            ));
            for i in 0..6 {
                let at = self.between(0, span);
                let document_id = format!("SCAN-{i}");
                let body = AnchorBody {
                    chain_id: genesis.chain_id.clone(),
                    filer: scanner.public_key(),
                    member: "bureau".into(),
                    source_system: "site-scanner".into(),
                    captured_at_ms: base + at,
                    project_id: project.into(),
                    digest: self.algorithm.hash(document_id.as_bytes()),
                    document_id,
                    document_version: 1,
                    kind: "completion-drawing".into(),
                    supersedes: None,
                    claim: None,
                };
                if let Ok(batch) = SignedBatch::sign(self.algorithm, vec![body], &scanner) {
                    submissions.push((at, Transaction::Anchor(batch).to_canonical_bytes()));
                }
            }
            let at = self.between(span / 2, span);
            let effective_height = self.between(2, 7);
            submissions.push(act(
                at,
                GovernanceAction::RevokeFiler(FilerRevocation {
                    public_key: scanner.public_key(),
                    reason: "the scanner was lost on site".into(),
                    effective_height,
                }),
            ));
        }
        // A proposal of the members together: the bureau proposes smaller batches and a new
        // kind; the other members vote at random times, most of them approving, some after the
        // drawn expiry. An independent oracle checks the outcome (check_governance_rules).
        let keys: Vec<_> = ["bureau", "finance", "court", "archive"]
            .iter()
            .filter_map(|member| Some((*member, self.consortium.governance_key(member)?.clone())))
            .collect();
        if let [(proposer, proposer_key), voters @ ..] = keys.as_slice() {
            use evidence_core::governance::{Change, GovernanceAction, Proposal, Vote};
            let act = |at: u64, member: &str, key: &evidence_core::keys::SigningKey, action| {
                (
                    at,
                    governance_transaction(&genesis, member, key, action, base + at),
                )
            };
            // Early and close together, so that short runs decide it more often than not.
            let at = self.between(0, 1_000);
            let batch_len_max = u32::try_from(self.between(1, 64)).unwrap_or(1);
            let proposal = Proposal {
                id: "site-photos".into(),
                expires_at_ms: base + at + self.between(2_000, 12_000),
                summary: "site photos become a kind; batches stay small".into(),
                changes: vec![
                    Change::SetKind {
                        kind: "site-photo".into(),
                        description: "photograph taken on site".into(),
                        members: vec!["bureau".into()],
                    },
                    Change::SetLimits {
                        batch_len_max,
                        transaction_bytes_max: 1 << 20,
                    },
                ],
            };
            submissions.push(act(
                at,
                proposer,
                proposer_key,
                GovernanceAction::Propose(proposal),
            ));
            for (member, key) in voters {
                let when = self.between(at + 500, at + 3_000);
                let approve = self.chance(0.8);
                let (_, bytes) = act(
                    when,
                    member,
                    key,
                    GovernanceAction::Vote(Vote {
                        proposal_id: "site-photos".into(),
                        approve,
                    }),
                );
                // A member whose vote is refused while the proposal is not yet committed
                // sends it again later.
                for again in 0..6 {
                    submissions.push((when + again * 1_500, bytes.clone()));
                }
            }
        }
        // The validator set changes: the court proposes its second node (which runs from the
        // start without being a validator) and the others approve; later the finance bureau
        // proposes to retire one of the first four validators (the faulty one if any, so that
        // fewer than a third of the power stays faulty) and the others approve.
        if let Some((joiner, successor, joiner_address, successor_address)) =
            self.joiner.as_ref().map(|(joiner, successor)| {
                // An SM2 validator's address pins its node's peer id; an Ed25519 one needs
                // none.
                let address = |key: &evidence_core::keys::SigningKey| {
                    self.config.national_suite.then(|| {
                        format!("/p2p/{}", evidence_genesis::network::network_peer_id(key))
                    })
                };
                (
                    joiner.public_key(),
                    successor.public_key(),
                    address(joiner),
                    address(successor),
                )
            })
        {
            use evidence_core::governance::{Change, GovernanceAction, Proposal, Vote};
            let keys: Vec<_> = ["bureau", "finance", "court", "archive"]
                .iter()
                .filter_map(|member| {
                    Some((*member, self.consortium.governance_key(member)?.clone()))
                })
                .collect();
            let act = |at: u64, member: &str, key: &evidence_core::keys::SigningKey, action| {
                (
                    at,
                    governance_transaction(&genesis, member, key, action, base + at),
                )
            };
            let power = self
                .consortium
                .genesis
                .validators
                .iter()
                .map(|v| v.voting_power)
                .min()
                .unwrap_or(1);
            let faulty = self.config.byzantine.map(|b| b.node).or_else(|| {
                self.config
                    .clock_skew_ms
                    .iter()
                    .position(|skew| skew.unsigned_abs() >= 1_000)
            });
            let retired = match faulty {
                Some(node) => node,
                None => self.rng.next_u32() as usize % 4,
            };
            let retired_key = self.consortium.validator_keys[retired].1.public_key();
            // Raised: a validator that stays (after the faulty one left, any power is safe).
            let raised = (retired + 1 + self.rng.next_u32() as usize % 3) % 4;
            let raised = self.consortium.genesis.validators[raised].clone();
            let schedule = [
                (
                    "court",
                    "court-second-node",
                    self.between(0, 2_000),
                    Change::AddValidator {
                        member: "court".into(),
                        public_key: joiner,
                        voting_power: power,
                        address: joiner_address,
                    },
                ),
                (
                    "finance",
                    "retire-a-node",
                    self.between(4_000, 7_000),
                    Change::RemoveValidator {
                        public_key: retired_key,
                    },
                ),
            ];
            let mut schedule: Vec<_> = schedule
                .into_iter()
                .map(|(proposer, id, at, change)| (proposer, id, at, vec![change]))
                .collect();
            schedule.push((
                "bureau",
                "new-court-key",
                self.between(8_000, 10_000),
                vec![
                    Change::ReplaceValidator {
                        public_key: joiner,
                        new_public_key: successor,
                        address: successor_address,
                    },
                    Change::SetVotingPower {
                        public_key: raised.public_key,
                        voting_power: raised.voting_power + 1,
                    },
                ],
            ));
            for (proposer, id, at, changes) in schedule {
                for (member, key) in &keys {
                    let action = if *member == proposer {
                        GovernanceAction::Propose(Proposal {
                            id: id.into(),
                            expires_at_ms: base + at + 60_000,
                            summary: format!("the validator set changes: {}", changes[0].name()),
                            changes: changes.clone(),
                        })
                    } else {
                        GovernanceAction::Vote(Vote {
                            proposal_id: id.into(),
                            approve: true,
                        })
                    };
                    let when = if *member == proposer {
                        at
                    } else {
                        self.between(at + 300, at + 2_000)
                    };
                    let (_, bytes) = act(when, member, key, action);
                    for again in 0..8 {
                        submissions.push((when + again * 1_500, bytes.clone()));
                    }
                }
            }
        }
        // Each to a random node; a refused submission (its rule not met yet, say) is tried
        // again later at another node, as a filing system retries.
        for (at, bytes) in submissions {
            for attempt in 0..3u64 {
                let node = self.rng.next_u32() as usize % self.config.validators;
                let when = at + attempt * self.between(200, 600);
                self.schedule(
                    when,
                    node,
                    EventKind::Submit {
                        bytes: bytes.clone(),
                    },
                );
            }
        }
    }

    fn schedule_workload(&mut self) {
        if self.config.tx_per_second == 0 {
            return;
        }
        let genesis = self.consortium.genesis.clone();
        let filers = self.consortium.filer_keys.clone();
        let span = self.config.deadline_ms.min(30_000);
        let count = self.config.tx_per_second * span / 1_000;
        for i in 0..count {
            let at = self.between(0, span);
            let (member, key) = &filers[(self.rng.next_u32() as usize) % filers.len()];
            let document = format!("DOC-{}-{i}", self.config.seed);
            let digest = self.algorithm.hash(document.as_bytes());
            let Ok(mut bytes) = anchor_transaction(
                &genesis,
                key,
                member,
                "inspection-report",
                "P-SIM",
                &[(document, digest)],
                GENESIS_TIME_MS + 60_000 + at,
            ) else {
                continue;
            };
            let node = self.rng.next_u32() as usize % self.nodes.len();
            if self.chance(0.05) {
                let last = bytes.len() - 1;
                bytes[last] ^= 0x01;
            } else if self.chance(0.1) {
                let again = self.rng.next_u32() as usize % self.nodes.len();
                let later = at + self.between(1, 2_000);
                self.schedule(
                    later,
                    again,
                    EventKind::Submit {
                        bytes: bytes.clone(),
                    },
                );
            }
            self.schedule(at, node, EventKind::Submit { bytes });
        }
    }

    fn handle(&mut self, event: Event) -> Result<(), Violation> {
        let node = event.node;
        if self.down[node] && !matches!(event.kind, EventKind::Restart) {
            // A crashed node hears nothing, and its timers died with it.
            return Ok(());
        }
        match event.kind {
            EventKind::Crash => {
                self.down[node] = true;
                self.crashes += 1;
                Ok(())
            }
            EventKind::Restart => {
                if self.config.bugs.unsynced_pending {
                    self.databases[node].lose_pending();
                }
                let key = self.keys[node].clone();
                let faults = self.faults_of(node);
                let mut fresh = open_node(
                    &self.consortium.genesis,
                    key,
                    self.databases[node].clone(),
                    faults,
                    self.config.bugs,
                    self.config.state_tree_keep,
                    self.config.tree_flush,
                )
                .map_err(|reason| Violation::Node { node, reason })?;
                fresh.incarnation = self.nodes[node].incarnation + 1;
                self.nodes[node] = fresh;
                self.down[node] = false;
                self.start_node(node)
            }
            EventKind::Deliver { from, msg } => self.deliver(node, from, *msg),
            EventKind::Timer { timeout, epoch } => {
                if self.nodes[node].timers.get(&timeout) == Some(&epoch) {
                    self.nodes[node].timers.remove(&timeout);
                    self.process(node, Input::TimeoutElapsed(timeout))?;
                }
                Ok(())
            }
            EventKind::Propose {
                incarnation,
                height,
                round,
            } => {
                let now = self.clock(node);
                let current = self.nodes[node].state.height().as_u64();
                if current != height || incarnation != self.nodes[node].incarnation {
                    return Ok(());
                }
                let proposed = self.nodes[node].host.propose(height, round, now);
                if let Some((value, parts)) = proposed {
                    let peer = self.nodes[node].peer;
                    let conflicting = self.nodes[node]
                        .host
                        .propose_conflicting(height, round, now);
                    match conflicting {
                        Some((other, other_parts)) => {
                            // Half the peers get one block, the other half the other; the
                            // signed proposal messages follow the same split (see
                            // `publish`).
                            let proposal = EvidenceContext::new().new_proposal(
                                BlockHeight(height),
                                round,
                                BlockHash(other),
                                Round::Nil,
                                self.nodes[node].host.address(),
                            );
                            let signed = futures::executor::block_on(
                                self.nodes[node].signer.sign_proposal(proposal),
                            )
                            .map_err(|e| Violation::Node {
                                node,
                                reason: e.to_string(),
                            })?;
                            self.equivocations
                                .insert((node, height, round.as_i64()), signed);
                            let (first, second) = self.halves(node);
                            for part in parts {
                                for to in &first {
                                    self.send(node, *to, NetMsg::Part(peer, part.clone()));
                                }
                            }
                            for part in other_parts {
                                for to in &second {
                                    self.send(node, *to, NetMsg::Part(peer, part.clone()));
                                }
                            }
                        }
                        None => {
                            for part in parts {
                                self.broadcast(node, NetMsg::Part(peer, part));
                            }
                        }
                    }
                    self.process(node, Input::Propose(value))?;
                }
                Ok(())
            }
            EventKind::Status { incarnation } => {
                if incarnation != self.nodes[node].incarnation {
                    return Ok(());
                }
                let tip = self.nodes[node].app().tip().height;
                self.broadcast(node, NetMsg::Status { tip });
                let next = self.now + STATUS_INTERVAL_MS;
                self.schedule(next, node, EventKind::Status { incarnation });
                Ok(())
            }
            EventKind::Submit { bytes } => {
                let now = self.clock(node);
                // Refusals (bad signature, replay, busy) are the node's answer to the filer.
                let admitted = self.nodes[node].app().admit_at(bytes.clone(), now);
                // A node relays what it newly admitted to the others, which check it up to
                // the contract's rules. A Byzantine node relays whatever it was given, so
                // that what a block may not carry reaches the others' checks too.
                if matches!(admitted, Ok((_, true))) || !self.honest[node] {
                    self.broadcast(node, NetMsg::Relay(bytes));
                }
                Ok(())
            }
        }
    }

    fn deliver(&mut self, node: usize, from: usize, msg: NetMsg) -> Result<(), Violation> {
        let now = self.clock(node);
        match msg {
            NetMsg::Consensus(SignedConsensusMsg::Vote(vote)) => {
                self.process(node, Input::Vote(vote))
            }
            NetMsg::Consensus(SignedConsensusMsg::Proposal(proposal)) => {
                self.process(node, Input::Proposal(proposal))
            }
            NetMsg::Liveness(LivenessMsg::Vote(vote)) => self.process(node, Input::Vote(vote)),
            NetMsg::Liveness(LivenessMsg::PolkaCertificate(certificate)) => {
                self.process(node, Input::PolkaCertificate(certificate))
            }
            NetMsg::Liveness(LivenessMsg::SkipRoundCertificate(certificate)) => {
                self.process(node, Input::RoundCertificate(certificate))
            }
            NetMsg::Part(publisher, part) => {
                let host = &mut self.nodes[node].host;
                let Some(proposal) = host.received_part(publisher, part) else {
                    return Ok(());
                };
                let validated = host.validate_streamed(proposal, now);
                host.proposal_timed(now);
                match validated {
                    Some(value) => {
                        if value.validity == malachite_core_types::Validity::Invalid
                            && self.honest[node]
                        {
                            self.refused += 1;
                        }
                        self.process(node, Input::ProposedValue(value, ValueOrigin::Consensus))
                    }
                    None => Ok(()),
                }
            }
            NetMsg::Relay(bytes) => {
                // Refusals are counted by the node, not answered (as the `Relay` call does).
                let _ = self.nodes[node].app().admit_relayed_at(bytes, now);
                Ok(())
            }
            NetMsg::Status { tip } => {
                let height = self.nodes[node].state.height().as_u64();
                let recently = matches!(
                    self.nodes[node].sync_asked,
                    Some((asked, at)) if asked == height && self.now < at + 4 * STATUS_INTERVAL_MS
                );
                if tip >= height && !recently {
                    self.nodes[node].sync_asked = Some((height, self.now));
                    let to = tip.min(height + SYNC_HEIGHTS_MAX - 1);
                    self.send(node, from, NetMsg::SyncRequest { from: height, to });
                }
                Ok(())
            }
            NetMsg::SyncRequest { from: low, to } => {
                let values = self.nodes[node]
                    .host
                    .decided_values(BlockHeight(low)..=BlockHeight(to));
                if !values.is_empty() {
                    self.send(node, from, NetMsg::SyncResponse(values));
                }
                Ok(())
            }
            NetMsg::SyncResponse(values) => {
                let peer = self.nodes[from].peer;
                for value in values {
                    // The core takes a synced value for its current height only; later ones
                    // are asked for again once this one is decided.
                    if value.certificate.height != self.nodes[node].state.height() {
                        continue;
                    }
                    let response = ValueResponse {
                        peer,
                        value_bytes: value.value_bytes,
                        certificate: value.certificate,
                    };
                    self.process(node, Input::SyncValueResponse(response))?;
                }
                Ok(())
            }
        }
    }

    fn send(&mut self, from: usize, to: usize, msg: NetMsg) {
        self.messages_sent += 1;
        let before_gst = self.now < self.config.gst_ms;
        if before_gst {
            if let Some(side) = &self.config.partition
                && side.contains(&from) != side.contains(&to)
            {
                self.messages_lost += 1;
                return;
            }
            let loss = self.config.loss;
            if self.chance(loss) {
                self.messages_lost += 1;
                return;
            }
        }
        let (low, high) = (self.config.delay_min_ms, self.config.delay_max_ms);
        let at = self.now + self.between(low, high);
        let duplicate = self.config.duplicate;
        if self.chance(duplicate) {
            let again = at + self.between(low, high);
            self.schedule(
                again,
                to,
                EventKind::Deliver {
                    from,
                    msg: Box::new(msg.clone()),
                },
            );
        }
        self.schedule(
            at,
            to,
            EventKind::Deliver {
                from,
                msg: Box::new(msg),
            },
        );
    }

    fn broadcast(&mut self, from: usize, msg: NetMsg) {
        for to in 0..self.nodes.len() {
            if to != from && self.reach[from][to] {
                self.send(from, to, msg.clone());
            }
        }
    }

    /// The peers node `from` reaches, split in two halves (for a Byzantine node that tells
    /// each half something else).
    fn halves(&self, from: usize) -> (Vec<usize>, Vec<usize>) {
        let peers: Vec<usize> = (0..self.nodes.len())
            .filter(|to| *to != from && self.reach[from][*to])
            .collect();
        let middle = peers.len().div_ceil(2);
        (peers[..middle].to_vec(), peers[middle..].to_vec())
    }

    /// What the ByzantineFaults of node `node` are.
    fn faults_of(&self, node: usize) -> ByzantineFaults {
        let mut faults = ByzantineFaults {
            skip_validation: self.config.bugs.skip_validation,
            ..ByzantineFaults::default()
        };
        if let Some(byzantine) = self.config.byzantine
            && byzantine.node == node
        {
            faults.wrong_state_root = byzantine.kind == ByzantineKind::WrongStateRoot;
            faults.equivocate = byzantine.kind == ByzantineKind::Equivocate;
        }
        faults
    }

    /// Publishes a consensus message of node `from`: to every peer it reaches, unless it is
    /// Byzantine and tells half of them something else.
    fn publish(&mut self, from: usize, msg: NetMsg) -> Result<(), Violation> {
        let kind = self
            .config
            .byzantine
            .filter(|b| b.node == from)
            .map(|b| b.kind);
        let conflicting = match (&msg, kind) {
            (
                NetMsg::Consensus(SignedConsensusMsg::Proposal(proposal)),
                Some(ByzantineKind::Equivocate),
            ) => {
                use malachite_core_types::Proposal as _;
                let key = (from, proposal.height().as_u64(), proposal.round().as_i64());
                self.equivocations
                    .get(&key)
                    .cloned()
                    .map(|other| NetMsg::Consensus(SignedConsensusMsg::Proposal(other)))
            }
            (
                NetMsg::Consensus(SignedConsensusMsg::Vote(vote)),
                Some(ByzantineKind::DoubleVote),
            ) => Some(NetMsg::Consensus(SignedConsensusMsg::Vote(
                self.conflicting_vote(from, vote)?,
            ))),
            _ => None,
        };
        match conflicting {
            Some(other) => {
                self.conflicting += 1;
                let (first, second) = self.halves(from);
                for to in first {
                    self.send(from, to, msg.clone());
                }
                for to in second {
                    self.send(from, to, other.clone());
                }
            }
            None => self.broadcast(from, msg),
        }
        Ok(())
    }

    /// A vote of the same kind, height and round as `vote`, for something else, signed by
    /// node `node`.
    fn conflicting_vote(
        &mut self,
        node: usize,
        vote: &malachite_core_types::SignedVote<Ctx>,
    ) -> Result<malachite_core_types::SignedVote<Ctx>, Violation> {
        use malachite_core_types::{NilOrVal, Vote as _, VoteType};
        let other = match vote.value() {
            NilOrVal::Nil => {
                let mut bytes = [0u8; 32];
                self.rng.fill_bytes(&mut bytes);
                NilOrVal::Val(Digest {
                    algorithm: self.algorithm,
                    bytes,
                })
            }
            NilOrVal::Val(_) => NilOrVal::Nil,
        };
        let ctx = EvidenceContext::new();
        let address = self.nodes[node].host.address();
        let conflicting = match vote.vote_type() {
            VoteType::Prevote => ctx.new_prevote(vote.height(), vote.round(), other, address),
            VoteType::Precommit => ctx.new_precommit(vote.height(), vote.round(), other, address),
        };
        futures::executor::block_on(self.nodes[node].signer.sign_vote(conflicting)).map_err(|e| {
            Violation::Node {
                node,
                reason: e.to_string(),
            }
        })
    }

    /// Hands `input` to node `node`'s consensus core and carries out what it asks, then the
    /// inputs that follow from it.
    fn process(&mut self, node: usize, input: Input<Ctx>) -> Result<(), Violation> {
        let mut inputs = std::collections::VecDeque::from([input]);
        while let Some(input) = inputs.pop_front() {
            let now = self.clock(node);
            let outputs = {
                let SimNode {
                    peer,
                    state,
                    host,
                    signer,
                    verifier,
                    metrics,
                    ..
                } = &mut self.nodes[node];
                let wal = &mut self.wals[node];
                let timeouts = host.timeouts();
                let mut effects = Effects {
                    peer: *peer,
                    host,
                    signer,
                    verifier,
                    wal,
                    timeouts,
                    now,
                    outputs: Vec::new(),
                    node,
                    failure: None,
                };
                let result: Result<(), malachite_core_consensus::Error<Ctx>> = malachite_core_consensus::process!(
                    input: input,
                    state: state,
                    metrics: metrics,
                    with: effect => effects.handle(effect)
                );
                // The core refusing an input (a vote for another height, say) is logged by
                // the engine and passed over; so here.
                drop(result);
                if let Some(violation) = effects.failure {
                    return Err(violation);
                }
                effects.outputs
            };
            for output in outputs {
                match output {
                    Output::Broadcast(msg) => self.publish(node, msg)?,
                    Output::Schedule(timeout, duration) => {
                        self.seq += 1;
                        let epoch = self.seq;
                        self.nodes[node].timers.insert(timeout, epoch);
                        let at = self.now + duration.as_millis() as u64;
                        self.schedule(at, node, EventKind::Timer { timeout, epoch });
                    }
                    Output::Cancel(timeout) => {
                        self.nodes[node].timers.remove(&timeout);
                    }
                    Output::CancelAll => self.nodes[node].timers.clear(),
                    Output::Propose(height, round, timeout) => {
                        // As the driver: at most half the round's propose timeout.
                        let wait = if self.nodes[node].app().mempool().is_empty()
                            && !self.nodes[node].host.propose_at_once(height)
                        {
                            IDLE_BLOCK_MS.min(timeout.as_millis() as u64 / 2).max(1)
                        } else {
                            1
                        };
                        let incarnation = self.nodes[node].incarnation;
                        self.schedule(
                            self.now + wait,
                            node,
                            EventKind::Propose {
                                incarnation,
                                height,
                                round,
                            },
                        );
                    }
                    Output::Input(input) => inputs.push_back(input),
                    Output::Synced => self.synced += 1,
                    Output::Adapted => self.adapted_heights += 1,
                    Output::Attendance { probe } => {
                        self.absent_heights += 1;
                        self.probes += u64::from(probe);
                    }
                    Output::Decided(height, hash, round) => {
                        self.round_max = self.round_max.max(round);
                        let decided = self.decided_rounds.entry(height).or_insert(round);
                        *decided = (*decided).max(round);
                        self.check_decided(node, height, hash)?;
                    }
                    Output::Signed {
                        what,
                        height,
                        round,
                        step,
                        value,
                    } => {
                        let key = (node, height, round, step);
                        if !self.honest[node] {
                            continue;
                        }
                        match self.signed.get(&key) {
                            Some(first) if *first != value => {
                                return Err(Violation::DoubleSign {
                                    node,
                                    what,
                                    height,
                                    round,
                                    first: first.clone(),
                                    second: value,
                                });
                            }
                            Some(_) => {}
                            None => {
                                self.signed.insert(key, value);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// After node `node` committed `hash` at `height`: agreement, and every transaction of
    /// the block is acknowledged.
    fn check_decided(&mut self, node: usize, height: u64, hash: Digest) -> Result<(), Violation> {
        if !self.honest[node] {
            return Ok(());
        }
        match self.committed.get(&height) {
            Some((_, other)) if *other != hash => {
                return Err(Violation::Agreement {
                    node,
                    height,
                    hash,
                    other: *other,
                });
            }
            Some(_) => {}
            None => {
                self.committed.insert(height, (node, hash));
            }
        }
        let app = Arc::clone(self.nodes[node].app());
        let ledger = app.ledger();
        let tip = ledger.tip();
        if tip.height != height || tip.header_hash != hash {
            return Err(Violation::Commit {
                node,
                height,
                reason: format!(
                    "after the commit the tip is {} at height {}",
                    tip.header_hash, tip.height
                ),
            });
        }
        if let Ok(Some((block, _))) = ledger.decided_block(height) {
            for bytes in &block.transactions {
                let Ok(tx) = <evidence_contracts::transaction::Transaction as evidence_core::encoding::Decode>::from_canonical_bytes(bytes) else {
                    continue;
                };
                if let Some(tx_id) = tx.id(self.algorithm) {
                    self.acknowledged.entry(tx_id).or_insert(height);
                }
            }
        }
        Ok(())
    }

    /// At the end: identical headers at every height, no acknowledged transaction lost,
    /// every anchor's receipt verifies offline against genesis.
    fn check_end(&self) -> Result<(u64, u64, u64, u64), Violation> {
        let honest: Vec<(usize, &SimNode)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| self.honest[*i])
            .collect();
        let heights = honest
            .iter()
            .map(|(_, node)| node.app().tip().height)
            .min()
            .unwrap_or(0);
        for height in 1..=heights {
            let mut first: Option<(usize, Digest)> = None;
            for (i, node) in honest.iter().copied() {
                let header = node
                    .app()
                    .ledger()
                    .store()
                    .header(height)
                    .map_err(|e| Violation::Node {
                        node: i,
                        reason: e.to_string(),
                    })?
                    .ok_or_else(|| Violation::Node {
                        node: i,
                        reason: format!("no header at height {height}"),
                    })?;
                let hash = header.hash(self.algorithm);
                match first {
                    None => first = Some((i, hash)),
                    Some((other_node, other)) if other != hash => {
                        return Err(Violation::State {
                            node: i,
                            height,
                            hash,
                            other_node,
                            other,
                        });
                    }
                    Some(_) => {}
                }
            }
        }
        for (tx_id, height) in &self.acknowledged {
            for (i, node) in honest.iter().copied() {
                let tip = node.app().tip().height;
                let record = node.app().ledger().transaction(tx_id);
                if tip >= *height && !matches!(record, Ok(Some(_))) {
                    return Err(Violation::LostTransaction {
                        tx_id: *tx_id,
                        height: *height,
                        node: i,
                        tip,
                    });
                }
                // What the checks before the rules refuse leaves no mark, so no block may
                // carry it: a committed record never holds such a refusal.
                if let Ok(Some(record)) = record
                    && let Some(rejection) = &record.rejection
                    && evidence_contracts::error::REFUSED_BEFORE_RULES
                        .contains(&rejection.code.as_str())
                {
                    return Err(Violation::Node {
                        node: i,
                        reason: format!(
                            "block {} carries transaction {tx_id}, refused before the rules: {}",
                            record.height, rejection.code
                        ),
                    });
                }
            }
        }
        let Some((first, first_honest)) = honest.first() else {
            return Ok((0, 0, 0, 0));
        };
        // Nodes may end at different heights: each is checked against its own log.
        let mut accepted_proposals = 0;
        let mut set_changes = 0;
        let mut first_sets = Vec::new();
        for (node, sim_node) in &honest {
            let ledger = sim_node.app().ledger();
            let (accepted, after) = check_governance_rules(*node, ledger)?;
            let (sets, changes) = check_validator_sets(*node, ledger, &after)?;
            accepted_proposals = accepted;
            if node == first {
                set_changes = changes;
                first_sets = sets;
            }
        }
        let genesis = &self.consortium.genesis;
        let anchor = genesis.trust_anchor().map_err(|e| Violation::Node {
            node: *first,
            reason: e.to_string(),
        })?;
        let ledger = first_honest.app().ledger();
        for index in 0..ledger.tip().log_size {
            let receipt = match ledger.receipt(index) {
                Ok(Some(receipt)) => receipt,
                other => {
                    return Err(Violation::Receipt {
                        index,
                        reason: format!("not served: {other:?}"),
                    });
                }
            };
            if let Record::Anchor(document) = &receipt.entry.record {
                // Verified offline with the genesis file alone, following the hand-offs the
                // receipt carries; the set they lead to must be the one the walk found.
                let height = receipt.checkpoint.header.height;
                let Some(set) = height
                    .checked_sub(1)
                    .and_then(|i| first_sets.get(i as usize))
                else {
                    return Err(Violation::Receipt {
                        index,
                        reason: format!("its checkpoint height {height} is past the log"),
                    });
                };
                let digest = document.body.digest;
                let verdict = match verify_receipt(&digest, &receipt, &anchor) {
                    Ok(verdict) => verdict,
                    // A key its member revoked retroactively, from a height at or before the
                    // filing, by an entry after it in the log: the ledger took the filing (the
                    // key was valid when it was executed), and a verifier shown the
                    // revocation rightly calls the document filed by a revoked key.
                    Err(VerifyError::FilerRevoked { .. })
                        if receipt
                            .revocation
                            .as_ref()
                            .is_some_and(|r| r.entry.index > receipt.entry.index) =>
                    {
                        continue;
                    }
                    Err(e) => {
                        return Err(Violation::Receipt {
                            index,
                            reason: e.to_string(),
                        });
                    }
                };
                if verdict.validator_set != set.hash(genesis.suite.digest) {
                    return Err(Violation::Receipt {
                        index,
                        reason: format!(
                            "certified by set {} per its hand-offs, the set of height {height} \
                             is {}",
                            verdict.validator_set,
                            set.hash(genesis.suite.digest)
                        ),
                    });
                }
            }
        }
        let payments = check_payment_rules(ledger)?;
        let registered_filings = check_filer_rules(ledger)?;
        Ok((
            payments,
            registered_filings,
            accepted_proposals,
            set_changes,
        ))
    }

    /// A digest of every node's chain: heights and header hashes.
    fn ledger_digest(&self) -> Digest {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        for (node, _) in self.nodes.iter().zip(&self.honest).filter(|(_, h)| **h) {
            let tip = node.app().tip();
            parts.push(tip.height.to_be_bytes().to_vec());
            parts.push(tip.header_hash.bytes.to_vec());
            parts.push(tip.state_root.bytes.to_vec());
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        self.algorithm.hash_parts(&refs)
    }
}

/// The filer rules, checked independently of the contracts over the committed log: a filing
/// by a key registered on the ledger comes after its registration, in a later block, for the
/// member that registered it and from the source system it named; no filing by a key follows
/// the key's revocation in the log at a height from its effective height on. Returns the
/// filings by registered keys.
fn check_filer_rules(ledger: &Ledger) -> Result<u64, Violation> {
    use evidence_core::governance::GovernanceAction;
    use evidence_core::keys::PublicKey;
    let genesis = ledger.genesis();
    // key -> (member, source system, registration height)
    let mut registered: HashMap<PublicKey, (String, String, u64)> = HashMap::new();
    // key -> effective height
    let mut revoked: HashMap<PublicKey, u64> = HashMap::new();
    let mut filings = 0;
    for index in 0..ledger.tip().log_size {
        let entry = match ledger.entry(index) {
            Ok(Some(entry)) => entry,
            other => {
                return Err(Violation::FilerRule {
                    index,
                    reason: format!("is not stored: {other:?}"),
                });
            }
        };
        let fail = |reason: String| Err(Violation::FilerRule { index, reason });
        match &entry.record {
            Record::Governance(governance) => {
                let body = &governance.body;
                let (revoke, register) = match &body.action {
                    GovernanceAction::RegisterFiler(registration) => (None, Some(registration)),
                    GovernanceAction::RevokeFiler(revocation) => (Some(revocation), None),
                    GovernanceAction::RotateFiler { revoke, register } => {
                        (Some(revoke), Some(register))
                    }
                    GovernanceAction::Propose(_) | GovernanceAction::Vote(_) => (None, None),
                };
                if let Some(revocation) = revoke
                    && revoked
                        .insert(revocation.public_key, revocation.effective_height)
                        .is_some()
                {
                    return fail(format!("revokes {} a second time", revocation.public_key));
                }
                if let Some(registration) = register {
                    let key = registration.public_key;
                    if genesis.filer(&key).is_some() || registered.contains_key(&key) {
                        return fail(format!("registers {key}, a key already in use"));
                    }
                    registered.insert(
                        key,
                        (
                            body.member.clone(),
                            registration.source_system.clone(),
                            entry.height,
                        ),
                    );
                }
            }
            Record::Anchor(document) => {
                let body = &document.body;
                if let Some(effective) = revoked.get(&body.filer)
                    && entry.height >= *effective
                {
                    return fail(format!(
                        "is filed at height {} by {}, revoked from height {effective}",
                        entry.height, body.filer
                    ));
                }
                if genesis.filer(&body.filer).is_some() {
                    continue;
                }
                let Some((member, source, height)) = registered.get(&body.filer) else {
                    return fail(format!("is filed by {}, never registered", body.filer));
                };
                if entry.height <= *height {
                    return fail(format!(
                        "is filed at height {} by a key registered at height {height}",
                        entry.height
                    ));
                }
                if body.member != *member || body.source_system != *source {
                    return fail(format!(
                        "is filed for {} from {} by a key registered to {member} for {source}",
                        body.member, body.source_system
                    ));
                }
                filings += 1;
            }
            Record::Revocation(_) | Record::Registration(_) => {}
        }
    }
    Ok(filings)
}

/// The governance rules, checked independently of the contracts over the committed log: a
/// proposal is proposed once; each member votes at most once; no vote is committed after the
/// proposal's expiry (by block time) nor after it was decided; it is accepted at the height
/// of the vote that makes more than two thirds of the four members approve, rejected once two
/// reject. The node must then report that status and the configuration it implies. Returns the
/// proposals accepted and the configuration in force after each height that accepted one.
fn check_governance_rules(
    node: usize,
    ledger: &Ledger,
) -> Result<(u64, Vec<(u64, evidence_genesis::Configuration)>), Violation> {
    use evidence_contracts::state::ProposalStatus;
    use evidence_core::governance::{Change, GovernanceAction, Proposal};
    use evidence_genesis::Configuration;
    fn fail<T>(reason: String) -> Result<T, Violation> {
        Err(Violation::GovernanceRule { reason })
    }
    let genesis = ledger.genesis();
    let members = genesis.members.len() as u64;
    let mut proposals: BTreeMap<String, Tally> = BTreeMap::new();
    for index in 0..ledger.tip().log_size {
        let Ok(Some(entry)) = ledger.entry(index) else {
            return fail(format!("entry {index} is not stored"));
        };
        let Record::Governance(governance) = &entry.record else {
            continue;
        };
        let body = &governance.body;
        match &body.action {
            GovernanceAction::Propose(proposal) => {
                let tally = Tally {
                    proposal: proposal.clone(),
                    votes: Vec::new(),
                    decided: None,
                };
                if proposals.insert(proposal.id.clone(), tally).is_some() {
                    return fail(format!("entry {index} proposes {:?} again", proposal.id));
                }
            }
            GovernanceAction::Vote(_) => {}
            _ => continue,
        }
        let (id, approve) = match &body.action {
            GovernanceAction::Propose(proposal) => (&proposal.id, true),
            GovernanceAction::Vote(vote) => (&vote.proposal_id, vote.approve),
            _ => continue,
        };
        let Some(tally) = proposals.get_mut(id) else {
            return fail(format!("entry {index} votes on {id:?}, never proposed"));
        };
        tally
            .vote(&body.member, approve, members, &entry)
            .map_err(|reason| Violation::GovernanceRule {
                reason: format!("entry {index} {reason}"),
            })?;
    }
    // The configuration the accepted proposals lead to, in the order accepted (the workload's
    // changes only set a kind and the limits).
    let mut expected = Configuration::from_genesis(genesis);
    let mut accepted: Vec<(u64, &Proposal)> = proposals
        .values()
        .filter_map(|tally| match tally.decided {
            Some((true, height)) => Some((height, &tally.proposal)),
            _ => None,
        })
        .collect();
    accepted.sort_by_key(|(height, _)| *height);
    let mut after: Vec<(u64, Configuration)> = Vec::new();
    for (height, proposal) in &accepted {
        for change in &proposal.changes {
            match change {
                Change::SetKind {
                    kind,
                    description,
                    members,
                } => {
                    let policy = evidence_genesis::KindPolicy {
                        kind: kind.clone(),
                        description: description.clone(),
                        members: members.clone(),
                    };
                    match expected.policy.kinds.iter_mut().find(|k| k.kind == *kind) {
                        Some(existing) => *existing = policy,
                        None => expected.policy.kinds.push(policy),
                    }
                }
                Change::SetLimits {
                    batch_len_max,
                    transaction_bytes_max,
                } => {
                    expected.policy.limits = evidence_genesis::Limits {
                        batch_len_max: *batch_len_max,
                        transaction_bytes_max: *transaction_bytes_max,
                    };
                }
                Change::AddValidator {
                    member,
                    public_key,
                    voting_power,
                    address,
                } => expected
                    .validators
                    .push(evidence_genesis::GenesisValidator {
                        member: member.clone(),
                        public_key: *public_key,
                        voting_power: *voting_power,
                        address: address.clone(),
                    }),
                Change::RemoveValidator { public_key } => {
                    expected.validators.retain(|v| v.public_key != *public_key);
                }
                Change::ReplaceValidator {
                    public_key,
                    new_public_key,
                    address,
                } => {
                    for validator in &mut expected.validators {
                        if validator.public_key == *public_key {
                            validator.public_key = *new_public_key;
                            validator.address.clone_from(address);
                        }
                    }
                }
                Change::SetVotingPower {
                    public_key,
                    voting_power,
                } => {
                    for validator in &mut expected.validators {
                        if validator.public_key == *public_key {
                            validator.voting_power = *voting_power;
                        }
                    }
                }
                other => return fail(format!("the oracle does not model {}", other.name())),
            }
        }
        match after.last_mut() {
            Some((last, configuration)) if last == height => *configuration = expected.clone(),
            _ => after.push((*height, expected.clone())),
        }
    }
    {
        let tip = ledger.tip();
        if *tip.configuration != expected {
            let held = &tip.configuration;
            let mut differs = Vec::new();
            if held.members != expected.members {
                differs.push("members".to_owned());
            }
            if held.policy.limits != expected.policy.limits {
                differs.push(format!(
                    "limits {:?}, expected {:?}",
                    held.policy.limits, expected.policy.limits
                ));
            }
            if held.policy != expected.policy && held.policy.limits == expected.policy.limits {
                differs.push(format!(
                    "{} kinds, expected {}",
                    held.policy.kinds.len(),
                    expected.policy.kinds.len()
                ));
            }
            if held.validators != expected.validators {
                let keys = |c: &Configuration| -> Vec<String> {
                    c.validators
                        .iter()
                        .map(|v| format!("{}×{}", v.public_key, v.voting_power))
                        .collect()
                };
                differs.push(format!(
                    "validators {:?}, expected {:?}",
                    keys(held),
                    keys(&expected)
                ));
            }
            if held.governance != expected.governance {
                differs.push("the threshold".to_owned());
            }
            return fail(format!(
                "node {node} holds a configuration other than the accepted proposals imply: {}",
                differs.join("; ")
            ));
        }
        for (id, Tally { votes, decided, .. }) in &proposals {
            let record = match evidence_contracts::query::proposal(ledger.store(), id) {
                Ok(Some(record)) => record,
                other => return fail(format!("node {node} has no proposal {id:?}: {other:?}")),
            };
            let status = match decided {
                None => ProposalStatus::Open,
                Some((true, height)) => ProposalStatus::Accepted { height: *height },
                Some((false, height)) => ProposalStatus::Rejected { height: *height },
            };
            if record.status != status || record.votes.len() != votes.len() {
                return fail(format!(
                    "node {node} reports proposal {id:?} {:?} with {} votes; the log says {status:?} \
                     with {}",
                    record.status,
                    record.votes.len(),
                    votes.len()
                ));
            }
        }
    }
    Ok((accepted.len() as u64, after))
}

/// The hand-off walk a verifier of a later receipt makes, over `node`'s own log: the set
/// that certifies height 1 is genesis's; each header names the set that certifies it and the
/// one that certifies the next height, which must be the validators of the configuration the
/// oracle derived for after that height (`after`: the configuration after each height that
/// accepted a proposal); each certificate must verify against its height's set. Returns the
/// set of each height (index `h - 1`) and how many times the set changed.
fn check_validator_sets(
    node: usize,
    ledger: &Ledger,
    after: &[(u64, evidence_genesis::Configuration)],
) -> Result<(Vec<Arc<evidence_core::validators::ValidatorSet>>, u64), Violation> {
    let fail = |height: u64, reason: String| Violation::ValidatorSet {
        node,
        height,
        reason,
    };
    let genesis = ledger.genesis();
    let algorithm = genesis.suite.digest;
    let set_after = |height: u64| -> Result<evidence_core::validators::ValidatorSet, Violation> {
        let validators = after
            .iter()
            .rev()
            .find(|(h, _)| *h <= height)
            .map_or(&genesis.validators, |(_, c)| &c.validators);
        evidence_genesis::Configuration {
            validators: validators.clone(),
            ..evidence_genesis::Configuration::from_genesis(genesis)
        }
        .validator_set()
        .map_err(|e| fail(height, e.to_string()))
    };
    let mut sets = Vec::new();
    let mut changes = 0;
    let mut set = Arc::new(set_after(0)?);
    for height in 1..=ledger.tip().height {
        let (Ok(Some(header)), Ok(Some(certificate))) = (
            ledger.store().header(height),
            ledger.store().certificate(height),
        ) else {
            return Err(fail(height, "header or certificate not stored".into()));
        };
        if header.validator_set_hash != set.hash(algorithm) {
            return Err(fail(
                height,
                format!(
                    "the header names set {}, the set in force is {}",
                    header.validator_set_hash,
                    set.hash(algorithm)
                ),
            ));
        }
        certificate
            .verify(&genesis.chain_id, &set)
            .map_err(|e| fail(height, format!("certificate: {e}")))?;
        sets.push(Arc::clone(&set));
        let next = set_after(height)?;
        if header.next_validator_set_hash != next.hash(algorithm) {
            return Err(fail(
                height,
                format!(
                    "the header names {} as the next set, the accepted proposals give {}",
                    header.next_validator_set_hash,
                    next.hash(algorithm)
                ),
            ));
        }
        if next != *set {
            changes += 1;
            set = Arc::new(next);
        }
    }
    Ok((sets, changes))
}

/// A proposal as the governance oracle counts it.
struct Tally {
    proposal: evidence_core::governance::Proposal,
    /// (member, approve), in log order.
    votes: Vec<(String, bool)>,
    /// (accepted, height) once decided.
    decided: Option<(bool, u64)>,
}

impl Tally {
    /// Counts `member`'s vote cast by `entry` among `members` members; more than two thirds
    /// accept, so many rejections that the rest cannot accept reject.
    fn vote(
        &mut self,
        member: &str,
        approve: bool,
        members: u64,
        entry: &evidence_core::entry::Entry,
    ) -> Result<(), String> {
        let id = &self.proposal.id;
        if let Some((accepted, at)) = self.decided {
            return Err(format!(
                "votes on {id:?}, decided ({}) at height {at}",
                if accepted { "accepted" } else { "rejected" }
            ));
        }
        if entry.sequenced_at_ms > self.proposal.expires_at_ms {
            return Err(format!(
                "votes on {id:?} at block time {}, after its expiry {}",
                entry.sequenced_at_ms, self.proposal.expires_at_ms
            ));
        }
        if self.votes.iter().any(|(m, _)| m == member) {
            return Err(format!("is {member}'s second vote on {id:?}"));
        }
        self.votes.push((member.to_owned(), approve));
        let approvals = self.votes.iter().filter(|(_, a)| *a).count() as u64;
        let rejections = self.votes.len() as u64 - approvals;
        if approvals * 3 > members * 2 {
            self.decided = Some((true, entry.height));
        } else if (members - rejections) * 3 <= members * 2 {
            self.decided = Some((false, entry.height));
        }
        Ok(())
    }
}

/// The payment rules (按节点拨付, 超付预警), checked independently of the contracts over the
/// committed log: every committed payment names a registered milestone, comes after a passed
/// inspection of it whose report's latest version (at that point of the log) still passes,
/// and takes neither the milestone nor the contract past its value.
fn check_payment_rules(ledger: &Ledger) -> Result<u64, Violation> {
    let mut payments = 0;
    use evidence_core::entry::MilestoneClaim;
    // project -> (total, paid, milestone -> (limit, paid))
    type Accounts = HashMap<String, (u64, u64)>;
    let mut projects: HashMap<String, (u64, u64, Accounts)> = HashMap::new();
    // (project, member, document id) -> (milestone, passed) of its latest version
    let mut reports: HashMap<(String, String, String), (String, bool)> = HashMap::new();
    for index in 0..ledger.tip().log_size {
        let entry = match ledger.entry(index) {
            Ok(Some(entry)) => entry,
            other => {
                return Err(Violation::PaymentRule {
                    index,
                    reason: format!("is not stored: {other:?}"),
                });
            }
        };
        let fail = |reason: String| Err(Violation::PaymentRule { index, reason });
        match &entry.record {
            Record::Registration(registration) => {
                let body = &registration.body;
                projects.insert(
                    body.project_id.clone(),
                    (
                        body.total_value_minor,
                        0,
                        body.milestones
                            .iter()
                            .map(|m| (m.id.clone(), (m.amount_minor, 0)))
                            .collect(),
                    ),
                );
            }
            Record::Anchor(document) => {
                let body = &document.body;
                match &body.claim {
                    Some(MilestoneClaim::Inspection { milestone, passed }) => {
                        reports.insert(
                            (
                                body.project_id.clone(),
                                body.member.clone(),
                                body.document_id.clone(),
                            ),
                            (milestone.clone(), *passed),
                        );
                    }
                    Some(MilestoneClaim::Payment {
                        milestone,
                        amount_minor,
                    }) => {
                        let inspected = reports.iter().any(|((project, _, _), (m, passed))| {
                            *project == body.project_id && m == milestone && *passed
                        });
                        if !inspected {
                            return fail(format!(
                                "pays {amount_minor} for {milestone} with no passed inspection"
                            ));
                        }
                        let Some((total, paid, accounts)) = projects.get_mut(&body.project_id)
                        else {
                            return fail(format!("pays into unregistered {}", body.project_id));
                        };
                        let Some((limit, milestone_paid)) = accounts.get_mut(milestone) else {
                            return fail(format!("pays for unknown milestone {milestone}"));
                        };
                        *milestone_paid += amount_minor;
                        *paid += amount_minor;
                        if *milestone_paid > *limit {
                            return fail(format!(
                                "takes {milestone} to {milestone_paid}, over its {limit}"
                            ));
                        }
                        if *paid > *total {
                            return fail(format!("takes the contract to {paid}, over its {total}"));
                        }
                        payments += 1;
                    }
                    None => {}
                }
            }
            Record::Revocation(_) | Record::Governance(_) => {}
        }
    }
    Ok(payments)
}

/// Opens a validator's node over `database`.
fn open_node(
    genesis: &Genesis,
    key: evidence_core::keys::SigningKey,
    database: MemoryDatabase,
    faults: ByzantineFaults,
    bugs: Bugs,
    state_tree_keep: u64,
    (flush_interval, flush_pages): (u64, usize),
) -> Result<SimNode, String> {
    let ledger = Ledger::open_memory(database, genesis.clone()).map_err(|e| e.to_string())?;
    ledger.set_state_tree_keep(state_tree_keep);
    ledger.store().set_tree_flush(flush_interval, flush_pages);
    if bugs.two_f_quorum {
        ledger.accept_two_f_certificates();
    }
    if bugs.forget_configuration {
        ledger.forget_configuration();
    }
    let validators = ConsensusValidatorSet::new((*ledger.validators()).clone());
    // As in the node: the engine's checks and the ledger's share one memory of verified
    // signatures.
    let verified = ledger.consensus_signatures().clone();
    let app = Arc::new(App::new(
        ledger,
        AppLimits::default(),
        Arc::new(NodeMetrics::new()),
    ));
    let public_key = key.public_key();
    let address = ValidatorAddress(public_key);
    let network_peer = network_keypair(&key).public().to_peer_id();
    let signer =
        ConsensusSigner::new(genesis.chain_id.clone(), key).recording_into(verified.clone());
    let verifier = ConsensusVerifier::new(genesis.chain_id.clone(), verified);
    let host = Host::new(Arc::clone(&app), validators.clone(), signer.clone(), faults);
    let peer = PeerId::from_bytes(&network_peer.to_bytes()).map_err(|e| format!("peer id: {e}"))?;
    let params = Params {
        address,
        threshold_params: if bugs.two_f_quorum {
            // 2f of 3f + 1 counted as a quorum: "more than a third" is met by 2 of 4, not by 1.
            ThresholdParams {
                quorum: ThresholdParam::F_PLUS_ONE,
                honest: ThresholdParam::F_PLUS_ONE,
            }
        } else {
            ThresholdParams::default()
        },
        value_payload: ValuePayload::ProposalAndParts,
        enabled: true,
    };
    let height = BlockHeight(app.tip().height + 1);
    let state = State::new(EvidenceContext::new(), height, validators, params, 10, 500);
    Ok(SimNode {
        peer,
        state,
        host,
        signer,
        verifier,
        timers: HashMap::new(),
        incarnation: 0,
        sync_asked: None,
        metrics: malachite_metrics::Metrics::new(),
    })
}

/// Carries out the core's effects for one node, as the engine's consensus actor does.
struct Effects<'a> {
    /// The node's own peer id.
    peer: PeerId,
    host: &'a mut Host,
    signer: &'a ConsensusSigner,
    verifier: &'a ConsensusVerifier,
    wal: &'a mut Wal,
    timeouts: LinearTimeouts,
    now: u64,
    outputs: Vec<Output>,
    node: usize,
    /// Set when the node cannot go on (it could not commit a decision).
    failure: Option<Violation>,
}

impl Effects<'_> {
    fn handle(&mut self, effect: Effect<Ctx>) -> Result<Resume<Ctx>, std::convert::Infallible> {
        let ctx = EvidenceContext::new();
        Ok(match effect {
            Effect::CancelAllTimeouts(r) => {
                self.outputs.push(Output::CancelAll);
                r.resume_with(())
            }
            Effect::CancelTimeout(timeout, r) => {
                self.outputs.push(Output::Cancel(timeout));
                r.resume_with(())
            }
            Effect::ScheduleTimeout(timeout, r) => {
                let duration = self.timeouts.duration_for(timeout);
                self.outputs.push(Output::Schedule(timeout, duration));
                r.resume_with(())
            }
            Effect::StartRound(height, round, _proposer, _role, r) => {
                for value in self.host.started_round(height.as_u64(), round, self.now) {
                    self.outputs.push(Output::Input(Input::ProposedValue(
                        value,
                        ValueOrigin::Consensus,
                    )));
                }
                r.resume_with(())
            }
            Effect::PublishConsensusMsg(msg, r) => {
                self.outputs.push(Output::Broadcast(NetMsg::Consensus(msg)));
                r.resume_with(())
            }
            Effect::PublishLivenessMsg(msg, r) => {
                self.outputs.push(Output::Broadcast(NetMsg::Liveness(msg)));
                r.resume_with(())
            }
            Effect::RepublishVote(vote, r) => {
                self.outputs
                    .push(Output::Broadcast(NetMsg::Liveness(LivenessMsg::Vote(vote))));
                r.resume_with(())
            }
            Effect::RepublishRoundCertificate(certificate, r) => {
                self.outputs.push(Output::Broadcast(NetMsg::Liveness(
                    LivenessMsg::SkipRoundCertificate(certificate),
                )));
                r.resume_with(())
            }
            Effect::GetValue(height, round, timeout, r) => {
                let timeout = self.timeouts.duration_for(timeout);
                self.outputs
                    .push(Output::Propose(height.as_u64(), round, timeout));
                r.resume_with(())
            }
            Effect::RestreamProposal(height, round, valid_round, address, value_id, r) => {
                let peer = self.peer;
                let parts =
                    self.host
                        .restream(height.as_u64(), round, valid_round, address, value_id);
                {
                    for part in parts {
                        self.outputs
                            .push(Output::Broadcast(NetMsg::Part(peer, part)));
                    }
                }
                r.resume_with(())
            }
            Effect::CertVerifiedSyncValue(value, proposer, r) => {
                let height = value.certificate.height;
                let round = value.certificate.round;
                let value_id = value.certificate.value_id;
                match self.host.synced_value(
                    height.as_u64(),
                    round,
                    proposer,
                    value.value_bytes,
                    self.now,
                ) {
                    SyncedValueOutcome::Verdict(proposed) if proposed.value.0 == value_id => {
                        self.outputs.push(Output::Synced);
                        self.outputs.push(Output::Input(Input::ProposedValue(
                            proposed,
                            ValueOrigin::Sync,
                        )));
                    }
                    _ => {}
                }
                r.resume_with(())
            }
            Effect::CertRejectedSyncValue(_peer, _height, _error, r) => r.resume_with(()),
            Effect::Decide(certificate, _extensions, r) => {
                let height = certificate.height.as_u64();
                let hash = certificate.value_id;
                let round = certificate.round.as_i64();
                match self.host.decided(&certificate) {
                    Ok(()) => self.outputs.push(Output::Decided(height, hash, round)),
                    Err(error) => {
                        self.failure = Some(Violation::Commit {
                            node: self.node,
                            height,
                            reason: error.to_string(),
                        })
                    }
                }
                r.resume_with(())
            }
            Effect::Finalize(certificate, _extensions, _evidence, r) => {
                let next = certificate.height.as_u64() + 1;
                self.host.enter_height(next);
                let attendance = self.host.validators().attendance();
                if attendance.absent_count() > 0 {
                    self.outputs.push(Output::Attendance {
                        probe: attendance.probe().is_some(),
                    });
                }
                if self.host.adapted().is_some() {
                    self.outputs.push(Output::Adapted);
                }
                *self.wal = Wal {
                    height: next,
                    ..Wal::default()
                };
                // The set of the next height: the configuration after the block just committed.
                self.outputs.push(Output::Input(Input::StartHeight(
                    BlockHeight(next),
                    self.host.validators().clone(),
                    false,
                    None,
                    VoteExtensionPolicy::Disabled,
                )));
                r.resume_with(())
            }
            Effect::SignVote(vote, r) => {
                use malachite_core_types::Vote as _;
                let step = match vote.vote_type() {
                    malachite_core_types::VoteType::Prevote => 1,
                    malachite_core_types::VoteType::Precommit => 2,
                };
                self.outputs.push(Output::Signed {
                    what: "votes",
                    height: vote.height().as_u64(),
                    round: vote.round().as_i64(),
                    step,
                    value: format!("{:?}", vote.value()),
                });
                match futures::executor::block_on(self.signer.sign_vote(vote)) {
                    Ok(signed) => r.resume_with(signed),
                    Err(error) => {
                        self.failure = Some(Violation::Node {
                            node: self.node,
                            reason: format!("signing a vote: {error}"),
                        });
                        return Ok(Resume::Continue);
                    }
                }
            }
            Effect::SignProposal(proposal, r) => {
                use malachite_core_types::Proposal as _;
                self.outputs.push(Output::Signed {
                    what: "proposals",
                    height: proposal.height().as_u64(),
                    round: proposal.round().as_i64(),
                    step: 0,
                    value: format!("{:?} from {:?}", proposal.value(), proposal.pol_round()),
                });
                match futures::executor::block_on(self.signer.sign_proposal(proposal)) {
                    Ok(signed) => r.resume_with(signed),
                    Err(error) => {
                        self.failure = Some(Violation::Node {
                            node: self.node,
                            reason: format!("signing a proposal: {error}"),
                        });
                        return Ok(Resume::Continue);
                    }
                }
            }
            Effect::VerifySignature(msg, public_key, r) => {
                use malachite_core_consensus::ConsensusMsg;
                let result = match &msg.message {
                    ConsensusMsg::Vote(vote) => futures::executor::block_on(
                        self.verifier
                            .verify_signed_vote(vote, &msg.signature, &public_key),
                    ),
                    ConsensusMsg::Proposal(proposal) => futures::executor::block_on(
                        self.verifier
                            .verify_signed_proposal(proposal, &msg.signature, &public_key),
                    ),
                };
                r.resume_with(matches!(result, Ok(verdict) if verdict.is_valid()))
            }
            Effect::VerifyCommitCertificate(certificate, validators, thresholds, r) => r
                .resume_with(futures::executor::block_on(
                    self.verifier.verify_commit_certificate(
                        &ctx,
                        &certificate,
                        &validators,
                        thresholds,
                    ),
                )),
            Effect::VerifyExtendedCommitCertificate(
                certificate,
                validators,
                thresholds,
                policy,
                r,
            ) => r.resume_with(futures::executor::block_on(
                self.verifier.verify_extended_commit_certificate(
                    &ctx,
                    &certificate,
                    &validators,
                    thresholds,
                    policy,
                ),
            )),
            Effect::VerifyPolkaCertificate(certificate, validators, thresholds, r) => r
                .resume_with(futures::executor::block_on(
                    self.verifier.verify_polka_certificate(
                        &ctx,
                        &certificate,
                        &validators,
                        thresholds,
                    ),
                )),
            Effect::VerifyRoundCertificate(certificate, validators, thresholds, r) => r
                .resume_with(futures::executor::block_on(
                    self.verifier.verify_round_certificate(
                        &ctx,
                        &certificate,
                        &validators,
                        thresholds,
                    ),
                )),
            Effect::WalAppend(height, input, r) => {
                if !self.wal.replaying {
                    if self.wal.height != height.as_u64() {
                        *self.wal = Wal {
                            height: height.as_u64(),
                            ..Wal::default()
                        };
                    }
                    self.wal.entries.push(input);
                }
                r.resume_with(())
            }
            Effect::ExtendVote(_, _, _, _, r) => r.resume_with(None),
            Effect::VerifyVoteExtension(_, _, _, _, _, _, r) => r.resume_with(Err(
                malachite_core_consensus::VoteExtensionError::InvalidVoteExtension,
            )),
        })
    }
}

/// Runs `seed` with the configuration drawn from it.
///
/// # Errors
/// The invariant the run broke.
pub fn run_seed(seed: u64) -> Result<Report, Violation> {
    Simulation::new(SimConfig::from_seed(seed))?.run()
}

/// The command that replays `seed` exactly.
pub fn replay_command(seed: u64) -> String {
    format!("cargo run -p evidence-sim -- --seed {seed}")
}
