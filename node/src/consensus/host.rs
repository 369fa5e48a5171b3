//! The application side of consensus as plain functions: what the node does when the engine
//! asks it for a value, hands it a proposal part, decides, or syncs a block, over the
//! [`App`] and its ledger, with the clock passed in. No channels, no runtime, no wall clock.
//!
//! [`Host`] is shared by the node's driver ([`super::driver`], which turns the engine's
//! messages into calls and runs the ones that touch the database on a blocking thread) and
//! the deterministic simulator (which calls it from one thread on a virtual clock), so both
//! run the same proposal assembly, stream bounds, validation, restreaming and sync.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::keys::PublicKey;
use malachite::app::types::streaming::{StreamId, StreamMessage};
use malachite::app::types::sync::RawDecidedValue;
use malachite::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachite_core_types::{
    CommitCertificate as EngineCertificate, LinearTimeouts, Round, Validity,
};
use malachite_engine::host::SyncedValueOutcome;
use malachite_engine::util::streaming::StreamContent;
use thiserror::Error;
use tracing::{debug, error, info, warn};

use super::codec::SYNC_RESPONSE_BYTES_MAX;
use super::context::{
    ATTENDANCE_HISTORY_MAX, Attendance, BlockHash, BlockHeight, ConsensusSignature,
    ConsensusValidatorSet, EvidenceContext, PART_DATA_MAX, ProposalPart, Proposed,
    ValidatorAddress, from_ledger_certificate, proposal_signing_bytes, to_ledger_certificate,
};
use super::driver::DriverError;
use super::peer_ids_of;
use super::signing::ConsensusSigner;
use super::timeouts::{ConsensusTimeouts, Pace};
use crate::app::App;
use crate::block::{BLOCK_BYTES_MAX, Block};
use crate::ledger::LedgerError;

type Ctx = EvidenceContext;

/// The libp2p peer ids of `validators`, the addresses that pin SM2 validators' peer ids taken
/// from the configuration in force and genesis.
fn peers_of(validators: &ConsensusValidatorSet, app: &App) -> HashSet<PeerId> {
    let tip = app.tip();
    let keys: Vec<_> = validators
        .validators()
        .iter()
        .map(|v| mc_address(v).0)
        .collect();
    peer_ids_of(
        &keys,
        &[
            &tip.configuration.validators,
            &app.ledger().genesis().validators,
        ],
    )
    .into_keys()
    .filter_map(|id| PeerId::from_bytes(&id.to_bytes()).ok())
    .collect()
}

fn mc_address(validator: &super::context::ConsensusValidator) -> &ValidatorAddress {
    malachite_core_types::Validator::<Ctx>::address(validator)
}

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

    /// Whether the height before `height` arrived through value sync: the node was behind a
    /// moment ago, and may still be.
    pub fn follows_sync(&self, height: u64) -> bool {
        self.in_a_row > 0 && self.synced_through.saturating_add(1) == height
    }
}

/// A complete proposal stream: who proposed what, and the block bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamedProposal {
    pub height: u64,
    pub round: Round,
    pub pol_round: Round,
    pub proposer: ValidatorAddress,
    pub block_bytes: Vec<u8>,
    pub signature: ConsensusSignature,
}

/// Faults a test build may switch on, to show that the other validators refuse them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByzantineFaults {
    /// Propose blocks whose header carries a state root no execution produces.
    pub wrong_state_root: bool,
    /// Propose blocks dated as early as the ledger allows (just after the parent).
    pub back_date: bool,
    /// Allow [`Host::propose_conflicting`]: a second, different block for a round this node
    /// already proposed in (the simulator's equivocating proposer).
    pub equivocate: bool,
    /// A deliberate bug, not a fault of a Byzantine node: take other validators' proposals as
    /// valid without executing them (no check of roots, transactions or time). The simulator
    /// switches it on in honest nodes to show that a seed catches the bug.
    pub skip_validation: bool,
}

/// One validator's application state for consensus: the streams it is reassembling, the
/// proposals it has validated, its own proposals, and the ledger behind them.
pub struct Host {
    app: Arc<App>,
    chain_id: String,
    algorithm: HashAlgorithm,
    validators: ConsensusValidatorSet,
    signer: ConsensusSigner,
    address: ValidatorAddress,
    byzantine: ByzantineFaults,
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
    /// The libp2p peer ids of the validators of the current height: the only publishers of
    /// proposals.
    validator_peers: HashSet<PeerId>,
    /// The peer ids of the set in force after the ledger's tip, by that set's hash (filled
    /// when a part from a peer outside the current set arrives).
    next_peers: (Digest, HashSet<PeerId>),
    /// Other validators' proposals validated and kept pending, per (height, round).
    pending_per_round: BTreeMap<(u64, u32), usize>,
    /// The last committed blocks as attendance reads them (at most
    /// [`ATTENDANCE_HISTORY_MAX`], ascending), read from the ledger as heights commit.
    history: VecDeque<Proposed>,
    /// The configured timeouts, and the engine's for the current height.
    timeouts: ConsensusTimeouts,
    engine_timeouts: LinearTimeouts,
    /// Whether transactions waited in the mempool when the current height began, and the
    /// bound its round 0 was shortened to then.
    began_busy: bool,
    adapted: Option<std::time::Duration>,
    /// The waits for round 0's proposal at busy heights (see [`super::timeouts`]).
    pace: Pace,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("address", &self.address)
            .field("current_height", &self.current_height)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// The host of validator `signer` over `app`'s ledger.
    pub fn new(
        app: Arc<App>,
        validators: ConsensusValidatorSet,
        signer: ConsensusSigner,
        byzantine: ByzantineFaults,
    ) -> Self {
        let ledger = app.ledger();
        let chain_id = ledger.genesis().chain_id.clone();
        let algorithm = ledger.algorithm();
        let address = signer.address();
        let validator_peers = peers_of(&validators, &app);
        Self {
            app,
            chain_id,
            algorithm,
            validators,
            signer,
            address,
            byzantine,
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
            next_peers: (Digest::new(algorithm, [0; 32]), HashSet::new()),
            pending_per_round: BTreeMap::new(),
            history: VecDeque::new(),
            timeouts: ConsensusTimeouts::default(),
            engine_timeouts: ConsensusTimeouts::default().to_engine(),
            began_busy: false,
            adapted: None,
            pace: Pace::default(),
        }
    }

    /// The host with these configured timeouts (else [`ConsensusTimeouts::default`]).
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: ConsensusTimeouts) -> Self {
        self.timeouts = timeouts;
        self.engine_timeouts = timeouts.for_height(&self.validators, None);
        self
    }

    /// The engine's timeouts for the current height, fixed when the height began: the
    /// configured ones, with round 0 shortened at a busy height (to the network's pace,
    /// [`super::timeouts`]) and when it probes an absent validator.
    pub fn timeouts(&self) -> LinearTimeouts {
        self.engine_timeouts
    }

    /// The bound round 0 of the current height was shortened to, when the height began busy
    /// and the node had a window of waits ([`ConsensusTimeouts::adapted`]).
    pub fn adapted(&self) -> Option<std::time::Duration> {
        self.adapted
    }

    /// The clock reads `now_ms` after a proposal's validation: times the wait for round 0's
    /// proposal when it was that one ([`Pace::timed`]).
    pub fn proposal_timed(&mut self, now_ms: u64) {
        if let Some(wait) = self.pace.timed(now_ms) {
            self.app.metrics().proposal_wait.observe(wait.as_secs_f64());
        }
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    pub fn address(&self) -> ValidatorAddress {
        self.address
    }

    /// The flag the API reads: `false` while the node catches up through value sync.
    pub fn synced(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.synced)
    }

    /// The height consensus should start at: the one after the ledger's tip.
    pub fn start_height(&mut self) -> u64 {
        let height = self.app.tip().height + 1;
        self.enter_height(height);
        height
    }

    /// Whether `publisher` is a validator of the set that certifies the height after the
    /// ledger's tip, when that differs from the current height's (a validator added by the
    /// block just committed may stream its proposal for the next height before this node has
    /// entered it).
    fn next_validator_peer(&mut self, publisher: &PeerId) -> bool {
        let tip = self.app.tip();
        if tip.validator_set_hash == self.next_peers.0 {
            return self.next_peers.1.contains(publisher);
        }
        let peers = peers_of(
            &ConsensusValidatorSet::new((*tip.validators).clone()),
            &self.app,
        );
        let known = peers.contains(publisher);
        self.next_peers = (tip.validator_set_hash, peers);
        known
    }

    /// The validator set of the height consensus works on.
    pub fn validators(&self) -> &ConsensusValidatorSet {
        &self.validators
    }

    /// Moves on to `height`, forgetting everything about lower heights. When the ledger's tip
    /// is the height before, the validator set becomes the one the ledger holds for `height`
    /// (the set the configuration names after the tip's block).
    pub fn enter_height(&mut self, height: u64) {
        self.current_height = height;
        let tip = self.app.tip();
        if tip.height + 1 == height {
            if *tip.validators != *self.validators.ledger_set() {
                info!(
                    height,
                    validators = tip.validators.len(),
                    total_power = tip.validators.total_power(),
                    set = %tip.validator_set_hash,
                    "the validator set changes"
                );
                self.validators = ConsensusValidatorSet::new((*tip.validators).clone());
                self.validator_peers = peers_of(&self.validators, &self.app);
            }
            self.read_history(tip.height, Attendance::window(&tip.validators));
            let history = self.history.make_contiguous();
            let attendance =
                Attendance::of(&tip.validators, &tip.validator_set_hash, height, history);
            let absentees = attendance.absentees();
            if absentees != self.validators.attendance().absentees() {
                let absent: Vec<String> = absentees
                    .iter()
                    .filter_map(|&i| self.validators.validators().get(i))
                    .map(|v| mc_address(v).0.to_string())
                    .collect();
                info!(
                    height,
                    absent = ?absent,
                    "the validators taken for absent change (they propose only when probed)"
                );
            }
            let metrics = self.app.metrics();
            metrics
                .validators_absent
                .set(i64::try_from(absentees.len()).unwrap_or(i64::MAX));
            if let Some(probed) = attendance.probe() {
                metrics.absence_probes.inc();
                debug!(height, probed, "round 0 probes an absent validator");
            }
            self.validators = self.validators.clone().with_attendance(attendance);
        } else if self.validators.attendance().absent_count() > 0 {
            // Not at the tip: no history to judge by. Never keep another height's probe.
            self.validators = self
                .validators
                .clone()
                .with_attendance(Attendance::default());
        }
        self.began_busy = !self.app.mempool().is_empty();
        self.adapted = if self.began_busy {
            self.timeouts.adapted(self.pace.longest())
        } else {
            None
        };
        self.engine_timeouts = self.timeouts.for_height(&self.validators, self.adapted);
        self.app
            .metrics()
            .propose_timeout
            .set(self.engine_timeouts.propose.as_secs_f64());
        self.streams.started_round(0);
        self.pending_per_round.retain(|(h, _), _| *h >= height);
        self.streams.prune_below(height);
        self.future.retain(|p| p.height >= height);
        self.undecided.retain(|(h, _), _| *h >= height);
        self.own_proposals.retain(|(h, _), _| *h >= height);
        self.fin_signatures.retain(|(h, _, _), _| *h >= height);
    }

    /// Brings [`Host::history`] up to the committed block at `tip`, keeping the newest `keep`
    /// blocks (at most [`ATTENDANCE_HISTORY_MAX`]): reads the headers it lacks, one a height
    /// as blocks commit, up to `keep` after a start or a jump (8 for four equal members). A
    /// header that cannot be read leaves the history empty, which takes nobody for absent at
    /// this node for that height, and is logged.
    fn read_history(&mut self, tip: u64, keep: usize) {
        let keep = keep.clamp(2, ATTENDANCE_HISTORY_MAX);
        let first = tip.saturating_sub(keep as u64 - 1).max(1);
        // Every node must hold the same newest blocks, so what is kept is always read back to
        // `first`: a history that starts later (the window grew with the set) is read again.
        let next = match (self.history.front(), self.history.back()) {
            (Some(oldest), Some(last))
                if oldest.height <= first && last.height <= tip && last.height + 1 >= first =>
            {
                last.height + 1
            }
            _ => {
                self.history.clear();
                first
            }
        };
        for height in next..=tip {
            match self.app.ledger().store().header(height) {
                Ok(Some(header)) => self.history.push_back(Proposed {
                    height,
                    time_ms: header.time_ms,
                    proposer: header.proposer,
                    validator_set_hash: header.validator_set_hash,
                }),
                Ok(None) | Err(_) => {
                    error!(
                        height,
                        "a committed header could not be read for attendance"
                    );
                    self.history.clear();
                    return;
                }
            }
        }
        while self.history.len() > keep {
            self.history.pop_front();
        }
    }

    /// A round started: the values to hand the engine for it, those validated earlier for
    /// this round and those that arrived complete before this height began (validated now,
    /// against `now_ms`).
    pub fn started_round(
        &mut self,
        height: u64,
        round: Round,
        now_ms: u64,
    ) -> Vec<ProposedValue<Ctx>> {
        if height > self.current_height {
            self.enter_height(height);
        }
        if height == self.current_height
            && let Some(round) = round.as_u32()
        {
            self.streams.started_round(round);
            if round == 0 {
                self.pace
                    .round_zero_started(height, now_ms, self.began_busy);
            } else {
                self.app.metrics().later_rounds.inc();
            }
        }
        let early: Vec<StreamedProposal> = {
            let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.future)
                .into_iter()
                .partition(|p| p.height == height);
            self.future = later;
            now
        };
        let mut values = Vec::new();
        for proposal in early {
            if let Some(value) = self.validate_streamed(proposal, now_ms) {
                values.push(value);
            }
        }
        self.proposal_timed(now_ms);
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

    /// Whether this node's proposal at `height` goes out at once instead of waiting for
    /// transactions: the height before arrived through value sync, so the node may still be
    /// behind, and the engine holds the next synced block back until the proposal is
    /// answered. Waiting there would cost the idle interval at every height this node
    /// proposes while it catches up (a quarter of them among four).
    pub fn propose_at_once(&self, height: u64) -> bool {
        self.catch_up.follows_sync(height) || self.probed(height)
    }

    /// Whether round 0 of `height` probes this validator, taken for absent: it proposes at
    /// once, so that a validator that is back shows it within the probe's round.
    fn probed(&self, height: u64) -> bool {
        height == self.current_height
            && self
                .validators
                .attendance()
                .probe()
                .and_then(|i| self.validators.validators().get(i))
                .is_some_and(|v| *mc_address(v) == self.address)
    }

    /// Whether this node already built its proposal for `round` of `height`.
    pub fn has_proposed(&self, height: u64, round: Round) -> bool {
        round
            .as_u32()
            .is_some_and(|r| self.own_proposals.contains_key(&(height, r)))
    }

    /// This node proposes in `round` of `height`: the value (a block built now at `now_ms`,
    /// kept pending, or the one already built for this round) and the stream of parts that
    /// carries it to the other validators. `None` when no block could be built.
    pub fn propose(
        &mut self,
        height: u64,
        round: Round,
        now_ms: u64,
    ) -> Option<(LocallyProposedValue<Ctx>, Vec<StreamMessage<ProposalPart>>)> {
        let Some(r) = round.as_u32() else {
            warn!(height, "asked to propose without a round");
            return None;
        };
        let hash = match self.own_proposals.get(&(height, r)) {
            Some(hash) => *hash,
            None => self.build_block(height, now_ms)?,
        };
        self.own_proposals.insert((height, r), hash);
        let value = LocallyProposedValue::new(BlockHeight(height), round, BlockHash(hash));
        let parts = self.stream_own(height, round, Round::Nil, hash);
        Some((value, parts))
    }

    /// Test-only fault, allowed by [`ByzantineFaults::equivocate`]: after [`Host::propose`],
    /// a second block for the same round (dated a millisecond later, so its hash differs),
    /// kept pending and streamed under this validator's signature. `None` when the fault is
    /// off or no block could be built.
    pub fn propose_conflicting(
        &mut self,
        height: u64,
        round: Round,
        now_ms: u64,
    ) -> Option<(Digest, Vec<StreamMessage<ProposalPart>>)> {
        if !self.byzantine.equivocate {
            return None;
        }
        let hash = self.build_block(height, now_ms + 1)?;
        let parts = self.stream_own(height, round, Round::Nil, hash);
        Some((hash, parts))
    }

    /// Builds the next block from the mempool and keeps it pending.
    fn build_block(&mut self, height: u64, now_ms: u64) -> Option<Digest> {
        // Test-only fault: time 0 is raised by the ledger to just after the parent's time.
        let time_ms = if self.byzantine.back_date { 0 } else { now_ms };
        let built = (|| {
            let mut block = self.app.propose(time_ms, self.address.0)?;
            if self.byzantine.wrong_state_root {
                // Test-only fault: a header whose state root no execution produces.
                let wrong = self
                    .algorithm
                    .hash_parts(&[b"wrong state root", &block.header.state_root.bytes]);
                block.header.state_root = wrong;
                self.app.ledger().put_pending(&block)?;
            }
            Ok::<Block, LedgerError>(block)
        })();
        let block = match built {
            Ok(block) => block,
            Err(error) => {
                error!(height, %error, "building a block failed");
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
        if self.byzantine.wrong_state_root {
            warn!(height, %hash, "test fault: proposing a block with a wrong state root");
        }
        debug!(height, %hash, transactions = block.transactions.len(), "proposing block");
        Some(hash)
    }

    /// The stream of this node's proposal `hash` for `round` (re-proposed from `pol_round`).
    fn stream_own(
        &mut self,
        height: u64,
        round: Round,
        pol_round: Round,
        hash: Digest,
    ) -> Vec<StreamMessage<ProposalPart>> {
        let Some(bytes) =
            proposal_signing_bytes(&self.chain_id, BlockHeight(height), round, pol_round, &hash)
        else {
            return Vec::new();
        };
        let signature = self.signer.sign_bytes(&bytes);
        let proposer = self.address;
        self.stream(height, round, pol_round, proposer, hash, signature)
    }

    /// The pending block `hash` as a stream of proposal parts.
    fn stream(
        &mut self,
        height: u64,
        round: Round,
        pol_round: Round,
        proposer: ValidatorAddress,
        hash: Digest,
        signature: ConsensusSignature,
    ) -> Vec<StreamMessage<ProposalPart>> {
        let block = match self.app.pending(&hash) {
            Ok(Some(block)) => block,
            Ok(None) => {
                warn!(height, %hash, "cannot stream a block that is not pending");
                return Vec::new();
            }
            Err(error) => {
                error!(height, %hash, %error, "reading a pending block failed");
                return Vec::new();
            }
        };
        self.stream_nonce += 1;
        let mut id = Vec::with_capacity(20);
        id.extend_from_slice(&height.to_be_bytes());
        id.extend_from_slice(&round.as_u32().unwrap_or(u32::MAX).to_be_bytes());
        id.extend_from_slice(&self.stream_nonce.to_be_bytes());
        let stream_id = StreamId::new(Bytes::from(id));
        proposal_stream(
            BlockHeight(height),
            round,
            pol_round,
            proposer,
            &block,
            signature,
        )
        .into_iter()
        .enumerate()
        .map(|(sequence, content)| StreamMessage::new(stream_id.clone(), sequence as u64, content))
        .collect()
    }

    /// The engine asks for a proposal to be streamed again (a re-proposal in a later round):
    /// this node's own, or another validator's whose signature it kept.
    pub fn restream(
        &mut self,
        height: u64,
        round: Round,
        valid_round: Round,
        address: ValidatorAddress,
        value_id: Digest,
    ) -> Vec<StreamMessage<ProposalPart>> {
        if address == self.address {
            return self.stream_own(height, round, valid_round, value_id);
        }
        let Some(r) = round.as_u32() else {
            return Vec::new();
        };
        match self.fin_signatures.get(&(height, r, value_id)) {
            Some((proposer, pol_round, signature))
                if *proposer == address && *pol_round == valid_round =>
            {
                let signature = *signature;
                self.stream(height, round, valid_round, address, value_id, signature)
            }
            _ => {
                warn!(
                    height,
                    %round,
                    %value_id,
                    "cannot restream another validator's proposal without its signature"
                );
                Vec::new()
            }
        }
    }

    /// A proposal part arrived from `publisher`. Returns the proposal once its stream is
    /// complete and is for the current height (to be checked by [`Host::validate_streamed`]);
    /// complete proposals for later heights are kept for then. Parts from peers that are not
    /// validators (of the current height, or of the next when this node has committed the
    /// current one) are dropped before anything is buffered.
    pub fn received_part(
        &mut self,
        publisher: PeerId,
        part: StreamMessage<ProposalPart>,
    ) -> Option<StreamedProposal> {
        // Only validators publish proposals; anything else is dropped before it is
        // buffered (the network should not have let such a peer in at all).
        if !self.validator_peers.contains(&publisher) && !self.next_validator_peer(&publisher) {
            self.app.metrics().consensus_parts_refused.inc();
            debug!(%publisher, "proposal part from a peer that is no validator dropped");
            return None;
        }
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
        Some(proposal)
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

    /// Checks a complete stream and validates its block for the current height against the
    /// clock reading `now_ms`. `None` when the stream is not a proposal at all (wrong
    /// proposer, bad signature, undecodable bytes): there is no value to give a verdict on.
    pub fn validate_streamed(
        &mut self,
        proposal: StreamedProposal,
        now_ms: u64,
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
            crate::ledger::Ledger::check_fresh(&block, now_ms, self.app.limits().block_age_max_ms)
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
            let kept = self.pending_per_round.entry((height, r)).or_default();
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
            let validity = self.validate_block(block, block_proposer, now_ms)?;
            if validity == Validity::Valid {
                *self.pending_per_round.entry((height, r)).or_default() += 1;
                if r == 0 && pol_round.is_nil() {
                    self.pace.proposal_validated(height);
                }
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

    /// Validates `block` with the ledger against the clock reading `now_ms`, keeping it
    /// pending if it is valid. `None` when the ledger itself failed.
    fn validate_block(
        &self,
        block: Block,
        expected_proposer: PublicKey,
        now_ms: u64,
    ) -> Option<Validity> {
        let height = block.header.height;
        let ledger = self.app.ledger();
        if self.byzantine.skip_validation {
            return ledger.put_pending(&block).ok().map(|_| Validity::Valid);
        }
        let result = ledger
            .validate(
                &block,
                &expected_proposer,
                now_ms,
                self.app.limits().clock_bound_ms,
            )
            .and_then(|verdict| {
                if verdict.is_ok() {
                    ledger.put_pending(&block)?;
                }
                Ok(verdict)
            });
        match result {
            Ok(Ok(())) => Some(Validity::Valid),
            Ok(Err(reason)) => {
                warn!(height, %reason, "refusing a proposed block");
                Some(Validity::Invalid)
            }
            Err(error) => {
                error!(height, %error, "validating a block failed");
                None
            }
        }
    }

    /// A block fetched by value sync, whose certificate the engine has checked: decode it,
    /// validate it against the clock reading `now_ms`, raised to the block's own time (a
    /// quorum certified that time), and keep it pending.
    pub fn synced_value(
        &mut self,
        height: u64,
        round: Round,
        proposer: ValidatorAddress,
        value_bytes: Bytes,
        now_ms: u64,
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
            match self.validate_block(block, block_proposer, now_ms.max(time)) {
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

    /// Consensus decided: commit the pending block the certificate names (the ledger verifies
    /// the certificate). An error means the node cannot follow the quorum and must stop.
    pub fn decided(&mut self, certificate: &EngineCertificate<Ctx>) -> Result<(), DriverError> {
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
        let outcome = self.app.commit(&block, &certificate)?;
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

    /// Committed blocks and their certificates for a peer catching up: the range clamped to
    /// what is stored, at most [`DECIDED_VALUES_MAX`] blocks and about
    /// [`SYNC_RESPONSE_BYTES_MAX`] bytes.
    pub fn decided_values(&self, range: RangeInclusive<BlockHeight>) -> Vec<RawDecidedValue<Ctx>> {
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
        let app = &self.app;
        let result = (|| {
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
        })();
        match result {
            Ok(values) => values,
            Err(error) => {
                error!(%error, "reading decided blocks failed");
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
    use evidence_core::header::BlockHeader;
    use evidence_core::keys::SigningKey;

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

    #[test]
    fn a_proposal_goes_out_at_once_only_right_after_a_synced_height() {
        let mut catch_up = CatchUp::default();
        // A node at the tip waits for transactions before it proposes.
        for height in 1..5 {
            assert!(!catch_up.follows_sync(height), "{height}");
            catch_up.decided(height);
        }
        // Height 5 came by value sync: the proposal at 6 goes out at once, not at 7 or later.
        catch_up.synced_value(5);
        assert!(!catch_up.follows_sync(5));
        catch_up.decided(5);
        assert!(catch_up.follows_sync(6));
        assert!(!catch_up.follows_sync(7));
        // Height 6 decided through consensus at the tip: the node waits again at 7.
        catch_up.decided(6);
        assert!(!catch_up.follows_sync(7));
        // Catching up over many heights: at once after each of them.
        for height in 10..20 {
            catch_up.synced_value(height);
            catch_up.decided(height);
            assert!(catch_up.follows_sync(height + 1), "{height}");
        }
    }

    fn peer(i: u8) -> PeerId {
        PeerId::from_bytes(
            &super::super::validator_peer_id(&key(i).public_key(), None)
                .unwrap()
                .to_bytes(),
        )
        .unwrap()
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
                next_validator_set_hash: zero,
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
}
