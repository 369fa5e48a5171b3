//! The ledger: build a block, validate a proposed block, commit a decided one, and answer
//! questions about what is committed.
//!
//! This is plain code. It knows nothing of the consensus engine, the network or the clock:
//! every time it needs is a parameter, so a deterministic simulator can drive the very same
//! functions the node runs. Consensus guarantees that blocks are proposed, validated and
//! committed one height at a time; the ledger checks it anyway and refuses a block for any
//! height but the next.

use std::collections::{HashMap, VecDeque};
#[cfg(feature = "rocksdb")]
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use evidence_contracts::error::TxError;
use evidence_contracts::execute::{BlockContext, execute_prepared_block};
use evidence_contracts::state::StoreError as StateError;
use evidence_contracts::state::{StatePages, StateStore, configuration_key};
use evidence_contracts::transaction::{Prepared, Transaction};
use evidence_contracts::verified::VerifiedSignatures;
use evidence_core::certificate::{CertificateError, CommitCertificate};
use evidence_core::checkpoint::{Checkpoint, Handoff};
use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::encoding::{Decode, DecodeError};
use evidence_core::entry::Entry;
use evidence_core::header::{BlockHeader, transactions_root};
use evidence_core::keys::PublicKey;
use evidence_core::merkle::{ConsistencyProof, InclusionProof, LogError, MerkleLog, NodeHash};
use evidence_core::receipt::{EntryProof, Receipt};
use evidence_core::records::StateKey;
use evidence_core::state_tree::{self, Slot, TreeUpdate};
use evidence_core::status::{StateFact, StatusProof};
use evidence_core::validators::ValidatorSet;
use evidence_genesis::{Configuration, Genesis};
use thiserror::Error;

use crate::block::{BLOCK_TRANSACTIONS_MAX, Block};
use crate::entries::{EntrySources, LogNodes};
use crate::signatures::{VERIFIED_CONSENSUS_SIGNATURES_MAX, VerifiedConsensusSignatures};
use crate::storage::{
    CommitBatch, MemoryDatabase, NodeStoreError, OverlayNodes, Rejection, StorageError, Store,
    TransactionRecord,
};

/// How many executed-but-undecided blocks are kept, so that the block a validator checked is
/// committed without executing it again. Several proposals for one height are normal (one per
/// round); more than this many means something is wrong and the rest are re-executed.
const EXECUTED_CACHE_MAX: usize = 16;

/// A block of at least this many transaction bytes (about 500 documents) is decoded and
/// prepared, and its log leaves hashed, on several threads: a catching-up node's critical
/// path, while its other cores wait. Below it, starting a thread costs more than it shares.
const PARALLEL_BLOCK_BYTES_MIN: usize = 128 << 10;

/// How many verified (transaction, signature) pairs are remembered: more than a full mempool
/// holds, so that admission's check serves the block that carries the transaction.
const VERIFIED_SIGNATURES_MAX: usize = 100_000;

/// Checkpoints of the last blocks committed kept in memory ([`Ledger::checkpoint`]).
const RECENT_CHECKPOINTS: usize = 8;

/// A failure of the ledger itself (not of a block or transaction).
#[derive(Debug, Error)]
pub enum LedgerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("contract state: {0}")]
    State(#[from] StateError),
    #[error("Merkle log: {0}")]
    Log(#[from] LogError<NodeStoreError>),
    #[error("genesis: {0}")]
    Genesis(String),
    /// A decided block that this node cannot commit: it is not for the next height, its
    /// certificate does not certify it, or re-executing it gives other roots than the quorum
    /// signed. The node must stop rather than diverge.
    #[error("cannot commit block at height {height}: {reason}")]
    Commit { height: u64, reason: String },
    /// The database and the genesis file do not belong together.
    #[error("the database does not match the genesis file: {0}")]
    WrongDatabase(String),
}

/// Why a proposed block is refused. Each names the first check that failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlockError {
    #[error("block is for chain {found:?}, this is {expected:?}")]
    WrongChain { expected: String, found: String },
    #[error("block height {found}, expected {expected}")]
    WrongHeight { expected: u64, found: u64 },
    #[error("block's parent hash {found} is not the last committed header {expected}")]
    WrongParent { expected: Digest, found: Digest },
    #[error("block time {time_ms} is not after its parent's {parent_ms}")]
    TimeNotAfterParent { time_ms: u64, parent_ms: u64 },
    #[error("block time {time_ms} is more than {bound_ms} ms ahead of local time {now_ms}")]
    TimeTooFarAhead {
        time_ms: u64,
        now_ms: u64,
        bound_ms: u64,
    },
    #[error(
        "block time {time_ms} is more than {bound_ms} ms behind local time {now_ms}: a new \
         proposal is dated when it is proposed"
    )]
    TimeTooOld {
        time_ms: u64,
        now_ms: u64,
        bound_ms: u64,
    },
    #[error("block proposer {found} is not the round's proposer {expected}")]
    WrongProposer {
        expected: PublicKey,
        found: PublicKey,
    },
    #[error("block names validator set {found}, the set is {expected}")]
    WrongValidatorSet { expected: Digest, found: Digest },
    #[error("block names {found} as the next validator set, the next set is {expected}")]
    WrongNextValidatorSet { expected: Digest, found: Digest },
    #[error("header counts {header} transactions, the block carries {carried}")]
    TransactionCount { header: u32, carried: usize },
    #[error("transaction {position} does not decode: {error}")]
    MalformedTransaction { position: usize, error: DecodeError },
    /// A transaction no honest proposer includes: it does not authenticate (an unknown, not
    /// yet active or revoked filer, a removed member's filer, an unknown governance key, a
    /// batch of several filers, or a bad signature), is malformed or oversized, or was already
    /// applied.
    #[error("transaction {position} may not be in a block: {error}")]
    InadmissibleTransaction { position: usize, error: TxError },
    #[error("header's {field} is {found}, re-execution gives {computed}")]
    RootMismatch {
        field: &'static str,
        found: String,
        computed: String,
    },
    #[error("execution failed: {0}")]
    Execution(String),
}

/// The last committed block, or the genesis state before the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    pub height: u64,
    /// The last header's hash; the genesis hash at height 0.
    pub header_hash: Digest,
    /// The last block's time; the genesis time at height 0.
    pub time_ms: u64,
    pub log_size: u64,
    pub log_root: Digest,
    /// The state root after the last block (the state tree's root; the empty tree's at height
    /// 0).
    pub state_root: Digest,
    /// The state tree's root slot after the last block, where the next block's update starts.
    pub state_tree: Slot,
    /// The configuration in force at the next height (the members, their governance keys, the
    /// write policy, the threshold and the validators): genesis's until a proposal changes it.
    pub configuration: Arc<Configuration>,
    /// The validator set that certifies the next height (the configuration's).
    pub validators: Arc<ValidatorSet>,
    /// Its hash: the next header's `validator_set_hash`.
    pub validator_set_hash: Digest,
}

/// The validator set `configuration` names, with its hash under `algorithm`.
fn validators_of(
    configuration: &Configuration,
    algorithm: HashAlgorithm,
) -> Result<(Arc<ValidatorSet>, Digest), String> {
    let set = configuration
        .validator_set()
        .map_err(|e| format!("the configuration's validators: {e}"))?;
    let hash = set.hash(algorithm);
    Ok((Arc::new(set), hash))
}

/// What became of one transaction of a committed block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedTransaction {
    pub tx_id: Digest,
    pub record: TransactionRecord,
}

/// A committed block and the outcome of each of its transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    pub checkpoint: Checkpoint,
    pub transactions: Vec<CommittedTransaction>,
    pub entries: u64,
    /// The block's transactions refused by a payment rule (`events::PAYMENT_RULES`): their
    /// position in the block and the error.
    pub payment_refusals: Vec<(usize, TxError)>,
    /// The milestones the block's payments were made to (project, milestone, the payments'
    /// sum, the last payment's member and document), each once.
    pub payments: Vec<BlockPayment>,
}

/// What a committed block paid to one milestone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPayment {
    pub project_id: String,
    pub milestone: String,
    pub amount_minor: u64,
    pub member: String,
    pub document_id: String,
}

/// Transactions a proposer left out of its block: their bytes and why no block may carry them.
pub type LeftOut = Vec<(Vec<u8>, TxError)>;

/// A block executed against the committed state: what committing it will write.
#[derive(Debug)]
struct Executed {
    header_fields: ComputedRoots,
    entries: Vec<Entry>,
    log_nodes: Vec<(u8, u64, NodeHash)>,
    writes: std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
    /// The state tree's pages and root after the block.
    state_tree: TreeUpdate,
    transactions: Vec<(Digest, TransactionRecord)>,
    /// Transactions that no block may carry (position, why).
    inadmissible: Vec<(usize, TxError)>,
    /// Transactions refused by a payment rule (position, why), for the rule events.
    payment_refusals: Vec<(usize, TxError)>,
    /// The tip it was executed on.
    parent: Digest,
    /// [`body_digest`] of the transaction bytes executed.
    body: Digest,
    /// The configuration an accepted proposal wrote, in force from the next height, with its
    /// validator set and the set's hash; `None` when the block changes none.
    configuration: Option<(Arc<Configuration>, Arc<ValidatorSet>, Digest)>,
}

/// The payments among a block's entries, summed per milestone, in the order first paid.
fn block_payments(entries: &[Entry]) -> Vec<BlockPayment> {
    let mut payments: Vec<BlockPayment> = Vec::new();
    // (project, milestone) → its place in `payments`.
    let mut index: std::collections::HashMap<(String, String), usize> =
        std::collections::HashMap::new();
    for entry in entries {
        let Some(document) = entry.anchor() else {
            continue;
        };
        let body = &document.body;
        let Some(evidence_core::entry::MilestoneClaim::Payment {
            milestone,
            amount_minor,
        }) = &body.claim
        else {
            continue;
        };
        match index
            .get(&(body.project_id.clone(), milestone.clone()))
            .and_then(|&i| payments.get_mut(i))
        {
            Some(payment) => {
                payment.amount_minor = payment.amount_minor.saturating_add(*amount_minor);
                payment.member.clone_from(&body.member);
                payment.document_id.clone_from(&body.document_id);
            }
            None => {
                index.insert((body.project_id.clone(), milestone.clone()), payments.len());
                payments.push(BlockPayment {
                    project_id: body.project_id.clone(),
                    milestone: milestone.clone(),
                    amount_minor: *amount_minor,
                    member: body.member.clone(),
                    document_id: body.document_id.clone(),
                });
            }
        }
    }
    payments
}

/// A digest of a block's transaction bytes exactly as carried. The header commits to
/// transaction ids, which leave out signatures, so two blocks under one header hash can carry
/// different bytes (a faulty proposer or sync peer can send both); a cached execution is
/// reused only for the very bytes it executed.
fn body_digest(algorithm: HashAlgorithm, transactions: &[Vec<u8>]) -> Digest {
    let lengths: Vec<[u8; 8]> = transactions
        .iter()
        .map(|tx| (tx.len() as u64).to_be_bytes())
        .collect();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(1 + 2 * transactions.len());
    parts.push(b"evidence/node/block-body\n");
    for (length, tx) in lengths.iter().zip(transactions) {
        parts.push(length);
        parts.push(tx);
    }
    algorithm.hash_parts(&parts)
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ComputedRoots {
    transactions_root: Digest,
    log_size: u64,
    log_root: Digest,
    state_root: Digest,
}

/// The ledger over one node's database.
pub struct Ledger {
    store: Store,
    genesis: Genesis,
    algorithm: HashAlgorithm,
    genesis_hash: Digest,
    tip: RwLock<Tip>,
    /// The heights of the blocks that changed the validator set (each a hand-off), so that
    /// receipts and checkpoints below the first change need no read for them.
    handoff_heights: RwLock<Vec<u64>>,
    executed: Mutex<HashMap<Digest, Arc<Executed>>>,
    /// Signatures verified at admission or in an earlier execution of the same transaction.
    verified: VerifiedSignatures,
    /// Consensus signatures verified once (shared with the engine's verifier): the precommits
    /// of a certificate were checked as they arrived.
    consensus_signatures: VerifiedConsensusSignatures,
    /// The blocks and transactions committed entries were derived from last.
    entry_sources: EntrySources,
    /// The checkpoints of the last [`RECENT_CHECKPOINTS`] blocks committed, oldest first:
    /// every caller that waited for a block asks for its checkpoint with its receipts.
    recent_checkpoints: Mutex<VecDeque<Checkpoint>>,
    /// Serialises commits (consensus already does; this makes it a property of the ledger).
    commit_lock: Mutex<()>,
    /// How many heights of the state tree stay provable (0: all); older pages are pruned.
    state_tree_keep: std::sync::atomic::AtomicU64,
    /// A deliberate bug, compiled only for the simulator's tests of itself.
    #[cfg(feature = "deliberate-bugs")]
    two_f_quorum: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("chain_id", &self.genesis.chain_id)
            .field("tip", &self.tip())
            .finish_non_exhaustive()
    }
}

/// The layout a database must have: the contract state's records of SPEC.md version 10 (the
/// document record carries its latest version's record), and entries derived from their
/// blocks rather than stored (`entries`, second layout).
const STATE_FORMAT: &[u8] = b"spec-10/entries-from-blocks";

/// Transactions a block may not carry: they leave no mark in state, so including them would
/// let a proposer fill blocks with junk that nobody signed. These are the refusals of every
/// check before the contract's rules (`check_before_rules` in the contracts crate): the
/// signer is looked up, and its activity checked, before its signature is, so a refusal for
/// a revoked, not yet active, removed or unknown signer says nothing of who signed either.
pub(crate) fn is_inadmissible(error: &TxError) -> bool {
    error.is_refused_before_rules()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data (a cache, a unit); keep going.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Ledger {
    /// Opens (or creates) the ledger in `path` for the chain `genesis` describes.
    ///
    /// # Errors
    /// The genesis file is invalid, the database cannot be opened, or it holds another chain.
    #[cfg(feature = "rocksdb")]
    pub fn open(path: &Path, genesis: Genesis) -> Result<Self, LedgerError> {
        Self::with_store(Store::open(path)?, genesis)
    }

    /// Opens (or creates) the ledger in a database held in memory, for the simulator; see
    /// [`MemoryDatabase`] for what survives a restart.
    ///
    /// # Errors
    /// As [`Ledger::open`].
    pub fn open_memory(database: MemoryDatabase, genesis: Genesis) -> Result<Self, LedgerError> {
        Self::with_store(Store::memory(database), genesis)
    }

    fn with_store(store: Store, genesis: Genesis) -> Result<Self, LedgerError> {
        genesis
            .validate()
            .map_err(|e| LedgerError::Genesis(e.to_string()))?;
        let algorithm = genesis.suite.digest;
        let genesis_hash = genesis.hash();
        let height = store.height()?;
        match store.state_format()? {
            Some(format) if format == STATE_FORMAT => {}
            None if height == 0 => store.set_state_format(STATE_FORMAT)?,
            _ => {
                return Err(LedgerError::WrongDatabase(format!(
                    "its layout is older than this node's ({}): the contract state's \
                     records (SPEC.md version 10) or the way entries are kept changed; remove \
                     the node's data directory and let it sync from its peers",
                    String::from_utf8_lossy(STATE_FORMAT)
                )));
            }
        }
        let configuration = Arc::new(
            evidence_contracts::query::configuration(&store, &genesis)
                .map_err(|e| LedgerError::WrongDatabase(e.to_string()))?,
        );
        let (validators, validator_set_hash) =
            validators_of(&configuration, algorithm).map_err(LedgerError::WrongDatabase)?;
        let tip = if height == 0 {
            Tip {
                height: 0,
                header_hash: genesis_hash,
                time_ms: genesis.genesis_time_ms,
                log_size: 0,
                log_root: Digest::new(algorithm, evidence_core::merkle::empty_root(algorithm)),
                state_root: Digest::new(algorithm, Slot::Empty.hash(algorithm)),
                state_tree: Slot::Empty,
                configuration,
                validators,
                validator_set_hash,
            }
        } else {
            let header = store
                .header(height)?
                .ok_or_else(|| LedgerError::WrongDatabase(format!("header {height} missing")))?;
            if header.chain_id != genesis.chain_id {
                return Err(LedgerError::WrongDatabase(format!(
                    "it holds chain {:?}, the genesis file is for {:?}",
                    header.chain_id, genesis.chain_id
                )));
            }
            if let Some(first) = store.header(1)?
                && first.parent_hash != genesis_hash
            {
                return Err(LedgerError::WrongDatabase(
                    "block 1's parent is not this genesis".into(),
                ));
            }
            // After the checks that the database is this chain's, before anything reads the
            // state tree.
            store.recover_state_tree(algorithm, height)?;
            Tip {
                height,
                header_hash: header.hash(algorithm),
                time_ms: header.time_ms,
                log_size: header.log_size,
                log_root: header.log_root,
                state_root: header.state_root,
                state_tree: store.tree_root(height)?,
                configuration,
                validators,
                validator_set_hash,
            }
        };
        let handoff_heights = store
            .handoffs(u64::MAX)?
            .into_iter()
            .map(|(height, _)| height)
            .collect();
        Ok(Self {
            store,
            genesis,
            algorithm,
            genesis_hash,
            tip: RwLock::new(tip),
            handoff_heights: RwLock::new(handoff_heights),
            executed: Mutex::new(HashMap::new()),
            verified: VerifiedSignatures::new(VERIFIED_SIGNATURES_MAX),
            consensus_signatures: VerifiedConsensusSignatures::new(
                VERIFIED_CONSENSUS_SIGNATURES_MAX,
            ),
            entry_sources: EntrySources::default(),
            recent_checkpoints: Mutex::default(),
            commit_lock: Mutex::new(()),
            state_tree_keep: std::sync::atomic::AtomicU64::new(
                crate::storage::STATE_TREE_KEEP_DEFAULT,
            ),
            #[cfg(feature = "deliberate-bugs")]
            two_f_quorum: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Switches on a deliberate bug: a certificate whose signers hold 2f of 3f + 1 of the power
    /// (two of four) passes as a quorum. Only the simulator's regression tests use it, to show
    /// that a seed catches the bug; the feature is never part of a node build.
    #[cfg(feature = "deliberate-bugs")]
    pub fn accept_two_f_certificates(&self) {
        self.two_f_quorum
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Switches on a deliberate bug: the ledger forgets the configuration accepted proposals
    /// left in its state and goes back to genesis's, as a node that did not read it back when
    /// it opened its database would. Only the simulator's regression tests use it.
    #[cfg(feature = "deliberate-bugs")]
    pub fn forget_configuration(&self) {
        let mut tip = self
            .tip
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let configuration = Configuration::from_genesis(&self.genesis);
        if let Ok((validators, hash)) = validators_of(&configuration, self.algorithm) {
            tip.validators = validators;
            tip.validator_set_hash = hash;
        }
        tip.configuration = Arc::new(configuration);
    }

    /// Prunes, as blocks commit, the written state-tree pages that only roots older than the
    /// last `keep` heights (and than the last flush) read; 0 prunes nothing. Pages are written
    /// every few blocks (`Store::set_tree_flush`), so the tree is whole on disk at the flushed
    /// heights and, with the pages in memory, at the tip; status proofs are of the tip, so a
    /// small number suffices.
    pub fn set_state_tree_keep(&self, keep: u64) {
        self.state_tree_keep
            .store(keep, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    pub fn genesis_hash(&self) -> &Digest {
        &self.genesis_hash
    }

    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The validator set that certifies the next height.
    pub fn validators(&self) -> Arc<ValidatorSet> {
        Arc::clone(
            &self
                .tip
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .validators,
        )
    }

    /// The consensus signatures this node verified (or made), shared by the engine's verifier
    /// and this ledger's certificate check; see [`crate::signatures`].
    pub fn consensus_signatures(&self) -> &VerifiedConsensusSignatures {
        &self.consensus_signatures
    }

    /// Signatures this node already verified (admission adds to them, execution uses them).
    pub fn verified_signatures(&self) -> &VerifiedSignatures {
        &self.verified
    }

    /// The database, for read-only queries (contract state, indexes).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The last committed block's summary.
    pub fn tip(&self) -> Tip {
        self.tip
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Executes `transactions` on the committed state as block `height` at `time_ms`.
    fn execute(
        &self,
        tip: &Tip,
        height: u64,
        time_ms: u64,
        transactions: &[Vec<u8>],
    ) -> Result<Result<Executed, BlockError>, LedgerError> {
        // Decoding and preparing (ids, batch trees) are the transactions' own, so a large block
        // does them on several threads; its rules then run in block order.
        let bytes: usize = transactions.iter().map(Vec::len).sum();
        let split = transactions.len() > 1 && bytes >= PARALLEL_BLOCK_BYTES_MIN;
        let mut decoded = Vec::with_capacity(transactions.len());
        let decodings = evidence_core::parallel::map(transactions, split, |bytes| {
            Transaction::from_canonical_bytes(bytes)
        });
        for (position, decoding) in decodings.into_iter().enumerate() {
            match decoding {
                Ok(tx) => decoded.push(tx),
                Err(error) => return Ok(Err(BlockError::MalformedTransaction { position, error })),
            }
        }
        let algorithm = self.algorithm;
        let sized: Vec<(&Transaction, usize)> = decoded
            .iter()
            .zip(transactions.iter().map(Vec::len))
            .collect();
        let prepared = evidence_core::parallel::map(&sized, split, |(tx, len)| {
            Prepared::decoded(tx, algorithm, *len)
        });
        let context = BlockContext {
            genesis: &self.genesis,
            config: &tip.configuration,
            height,
            time_ms,
            log_size: tip.log_size,
            verified: Some(&self.verified),
        };
        let mut outcome = execute_prepared_block(&self.store, &context, tip.state_tree, &prepared)?;

        let mut log = MerkleLog::open(
            self.algorithm,
            OverlayNodes::new(self.log_nodes()),
            tip.log_size,
        )?;
        let appended: Vec<&Entry> = outcome.entries().collect();
        let leaves =
            evidence_core::parallel::map(&appended, split, |entry| entry.leaf_hash(algorithm));
        for leaf in leaves {
            log.append(leaf)?;
        }
        let log_root = Digest::new(self.algorithm, log.root());
        let log_size = log.size();
        let log_nodes = log.into_store().into_added();

        let mut ids = Vec::with_capacity(decoded.len());
        let mut records = Vec::with_capacity(decoded.len());
        let mut inadmissible = Vec::new();
        let mut payment_refusals = Vec::new();
        let mut next_entry = tip.log_size;
        // The accepted transactions' entries move here, in order, instead of being copied.
        let mut entries = Vec::with_capacity((log_size - tip.log_size) as usize);
        for (position, (tx, result)) in decoded.iter().zip(&mut outcome.results).enumerate() {
            // An applied transaction's id was computed as it was applied. One without an id
            // cannot have authenticated; it is inadmissible below.
            let tx_id = match result {
                Ok(applied) => applied.tx_id,
                Err(_) => tx
                    .id(self.algorithm)
                    .unwrap_or_else(|| self.algorithm.hash(&transactions[position])),
            };
            ids.push(tx_id);
            let record = match result {
                Ok(applied) => {
                    let first = applied.entries.first().map_or(next_entry, |e| e.index);
                    next_entry += applied.entries.len() as u64;
                    let record = TransactionRecord {
                        height,
                        position: position as u32,
                        first_entry: first,
                        entry_count: applied.entries.len() as u32,
                        rejection: None,
                    };
                    entries.append(&mut applied.entries);
                    record
                }
                Err(error) => {
                    if is_inadmissible(error) {
                        inadmissible.push((position, error.clone()));
                    }
                    if crate::events::is_payment_rule(error.code()) {
                        payment_refusals.push((position, error.clone()));
                    }
                    TransactionRecord {
                        height,
                        position: position as u32,
                        first_entry: next_entry,
                        entry_count: 0,
                        rejection: Some(Rejection {
                            code: error.code().to_owned(),
                            message: error.to_string(),
                        }),
                    }
                }
            };
            records.push((tx_id, record));
        }
        // An accepted proposal wrote the configuration in force from the next height.
        let configuration = match outcome.writes.get(&configuration_key()) {
            Some(bytes) => {
                let configuration = Configuration::from_canonical_bytes(bytes).map_err(|e| {
                    LedgerError::Commit {
                        height,
                        reason: format!("the configuration the block writes: {e}"),
                    }
                })?;
                let (validators, hash) = validators_of(&configuration, self.algorithm)
                    .map_err(|reason| LedgerError::Commit { height, reason })?;
                Some((Arc::new(configuration), validators, hash))
            }
            None => None,
        };
        Ok(Ok(Executed {
            configuration,
            header_fields: ComputedRoots {
                transactions_root: transactions_root(self.algorithm, &ids),
                log_size,
                log_root,
                state_root: outcome.state_root,
            },
            entries,
            log_nodes,
            writes: outcome.writes,
            state_tree: outcome.state_tree,
            transactions: records,
            inadmissible,
            payment_refusals,
            parent: tip.header_hash,
            body: body_digest(self.algorithm, transactions),
        }))
    }

    fn remember(&self, hash: Digest, executed: Executed) -> Arc<Executed> {
        let executed = Arc::new(executed);
        let mut cache = lock(&self.executed);
        if cache.len() < EXECUTED_CACHE_MAX {
            cache.insert(hash, Arc::clone(&executed));
        }
        executed
    }

    /// Builds the next block from `transactions` (in order), proposed by `proposer` at
    /// `time_ms` (raised to just after the parent's time if the clock is behind it).
    /// Transactions no block may carry (see [`BlockError::InadmissibleTransaction`]) are left
    /// out and returned with the reason, for the caller to report to whoever submitted them.
    ///
    /// # Errors
    /// Only a failure of the ledger itself.
    pub fn propose(
        &self,
        time_ms: u64,
        proposer: PublicKey,
        mut transactions: Vec<Vec<u8>>,
    ) -> Result<(Block, LeftOut), LedgerError> {
        let tip = self.tip();
        let height = tip.height + 1;
        let time_ms = time_ms.max(tip.time_ms + 1);
        transactions.truncate(BLOCK_TRANSACTIONS_MAX as usize);
        let mut left_out = Vec::new();
        let executed = loop {
            match self.execute(&tip, height, time_ms, &transactions)? {
                Ok(executed) if executed.inadmissible.is_empty() => break executed,
                Ok(executed) => {
                    // Remove from the back so earlier positions stay valid.
                    for (position, error) in executed.inadmissible.into_iter().rev() {
                        left_out.push((transactions.remove(position), error));
                    }
                }
                Err(BlockError::MalformedTransaction { position, error }) => {
                    left_out.push((transactions.remove(position), TxError::Malformed(error)));
                }
                Err(other) => {
                    return Err(LedgerError::Commit {
                        height,
                        reason: format!("building a block failed: {other}"),
                    });
                }
            }
        };
        let header = BlockHeader {
            chain_id: self.genesis.chain_id.clone(),
            genesis_hash: self.genesis_hash,
            height,
            time_ms,
            parent_hash: tip.header_hash,
            transactions_root: executed.header_fields.transactions_root,
            transaction_count: transactions.len() as u32,
            log_size: executed.header_fields.log_size,
            log_root: executed.header_fields.log_root,
            state_root: executed.header_fields.state_root,
            validator_set_hash: tip.validator_set_hash,
            next_validator_set_hash: executed
                .configuration
                .as_ref()
                .map_or(tip.validator_set_hash, |(_, _, hash)| *hash),
            proposer,
        };
        let block = Block {
            header,
            transactions,
        };
        self.remember(block.hash(self.algorithm), executed);
        Ok((block, left_out))
    }

    /// Checks a proposed block as a validator must before voting for it: it extends the
    /// committed tip, names the expected proposer and validator set, its time is after its
    /// parent's and at most `clock_bound_ms` ahead of `now_ms`, and re-executing its
    /// transactions gives exactly the roots its header states.
    ///
    /// # Errors
    /// `Ok(Err(_))` names the first check the block failed; `Err(_)` is a failure of the
    /// ledger itself.
    pub fn validate(
        &self,
        block: &Block,
        expected_proposer: &PublicKey,
        now_ms: u64,
        clock_bound_ms: u64,
    ) -> Result<Result<(), BlockError>, LedgerError> {
        let tip = self.tip();
        let header = &block.header;
        if let Err(error) = self.check_header(&tip, block) {
            return Ok(Err(error));
        }
        if header.proposer != *expected_proposer {
            return Ok(Err(BlockError::WrongProposer {
                expected: *expected_proposer,
                found: header.proposer,
            }));
        }
        if header.time_ms > now_ms.saturating_add(clock_bound_ms) {
            return Ok(Err(BlockError::TimeTooFarAhead {
                time_ms: header.time_ms,
                now_ms,
                bound_ms: clock_bound_ms,
            }));
        }
        let hash = block.hash(self.algorithm);
        if let Some(executed) = lock(&self.executed).get(&hash)
            && executed.parent == tip.header_hash
            && executed.body == body_digest(self.algorithm, &block.transactions)
        {
            return Ok(Ok(()));
        }
        let executed =
            match self.execute(&tip, header.height, header.time_ms, &block.transactions)? {
                Ok(executed) => executed,
                Err(error) => return Ok(Err(error)),
            };
        if let Err(error) = self.check_execution(&tip, header, &executed) {
            return Ok(Err(error));
        }
        self.remember(hash, executed);
        Ok(Ok(()))
    }

    /// Whether a newly proposed block is dated at most `age_max_ms` before `now_ms` (a
    /// validator's clock when it votes). Not for blocks re-proposed from an earlier round or
    /// fetched by value sync: a quorum already accepted their time.
    ///
    /// # Errors
    /// The block is older than that.
    pub fn check_fresh(block: &Block, now_ms: u64, age_max_ms: u64) -> Result<(), BlockError> {
        let time_ms = block.header.time_ms;
        if time_ms.saturating_add(age_max_ms) < now_ms {
            return Err(BlockError::TimeTooOld {
                time_ms,
                now_ms,
                bound_ms: age_max_ms,
            });
        }
        Ok(())
    }

    /// The checks that need no execution and no clock.
    fn check_header(&self, tip: &Tip, block: &Block) -> Result<(), BlockError> {
        let header = &block.header;
        if header.chain_id != self.genesis.chain_id {
            return Err(BlockError::WrongChain {
                expected: self.genesis.chain_id.clone(),
                found: header.chain_id.clone(),
            });
        }
        if header.genesis_hash != self.genesis_hash {
            return Err(BlockError::WrongChain {
                expected: format!("genesis {}", self.genesis_hash),
                found: format!("genesis {}", header.genesis_hash),
            });
        }
        if header.height != tip.height + 1 {
            return Err(BlockError::WrongHeight {
                expected: tip.height + 1,
                found: header.height,
            });
        }
        if header.parent_hash != tip.header_hash {
            return Err(BlockError::WrongParent {
                expected: tip.header_hash,
                found: header.parent_hash,
            });
        }
        if header.time_ms <= tip.time_ms {
            return Err(BlockError::TimeNotAfterParent {
                time_ms: header.time_ms,
                parent_ms: tip.time_ms,
            });
        }
        if header.validator_set_hash != tip.validator_set_hash {
            return Err(BlockError::WrongValidatorSet {
                expected: tip.validator_set_hash,
                found: header.validator_set_hash,
            });
        }
        if header.transaction_count as usize != block.transactions.len() {
            return Err(BlockError::TransactionCount {
                header: header.transaction_count,
                carried: block.transactions.len(),
            });
        }
        Ok(())
    }

    fn check_execution(
        &self,
        tip: &Tip,
        header: &BlockHeader,
        executed: &Executed,
    ) -> Result<(), BlockError> {
        if let Some((position, error)) = executed.inadmissible.first() {
            return Err(BlockError::InadmissibleTransaction {
                position: *position,
                error: error.clone(),
            });
        }
        // The set that certifies the next height: the one the block's accepted proposals leave.
        let next = executed
            .configuration
            .as_ref()
            .map_or(tip.validator_set_hash, |(_, _, hash)| *hash);
        if header.next_validator_set_hash != next {
            return Err(BlockError::WrongNextValidatorSet {
                expected: next,
                found: header.next_validator_set_hash,
            });
        }
        let computed = &executed.header_fields;
        let mismatch = |field: &'static str, found: String, computed: String| {
            Err(BlockError::RootMismatch {
                field,
                found,
                computed,
            })
        };
        if header.transactions_root != computed.transactions_root {
            return mismatch(
                "transactions root",
                header.transactions_root.to_string(),
                computed.transactions_root.to_string(),
            );
        }
        if header.log_size != computed.log_size {
            return mismatch(
                "log size",
                header.log_size.to_string(),
                computed.log_size.to_string(),
            );
        }
        if header.log_root != computed.log_root {
            return mismatch(
                "log root",
                header.log_root.to_string(),
                computed.log_root.to_string(),
            );
        }
        if header.state_root != computed.state_root {
            return mismatch(
                "state root",
                header.state_root.to_string(),
                computed.state_root.to_string(),
            );
        }
        Ok(())
    }

    /// Commits a decided block: checks that `certificate` certifies it (strictly, against the
    /// validator set in force at its height), re-executes it unless this node already did, and writes
    /// everything in one synced batch.
    ///
    /// # Errors
    /// [`LedgerError::Commit`] when the block is not the next one, the certificate does not
    /// certify it, or execution disagrees with the header a quorum signed; storage failures.
    pub fn commit(
        &self,
        block: &Block,
        certificate: &CommitCertificate,
    ) -> Result<CommitOutcome, LedgerError> {
        let _guard = lock(&self.commit_lock);
        let tip = self.tip();
        let header = &block.header;
        let height = header.height;
        let fail = |reason: String| LedgerError::Commit { height, reason };
        let hash = block.hash(self.algorithm);
        if certificate.height != height || certificate.block_hash != hash {
            return Err(fail(format!(
                "the certificate is for height {} block {}, the block is {hash}",
                certificate.height, certificate.block_hash
            )));
        }
        // The set that certifies this height: the one the configuration named after its parent.
        let verified = certificate.verify_with(
            &self.genesis.chain_id,
            &tip.validators,
            |key, bytes, signature| self.consensus_signatures.verify(key, bytes, signature),
        );
        #[cfg(feature = "deliberate-bugs")]
        let verified = verified.or_else(|e| match e {
            CertificateError::InsufficientPower { signed, total, .. }
                if self.two_f_quorum.load(std::sync::atomic::Ordering::Relaxed)
                    && signed >= total.saturating_sub(1) / 3 * 2 =>
            {
                Ok(signed)
            }
            e => Err(e),
        });
        verified.map_err(|e: CertificateError| fail(format!("certificate: {e}")))?;
        self.check_header(&tip, block)
            .map_err(|e| fail(e.to_string()))?;

        let body = body_digest(self.algorithm, &block.transactions);
        let cached = lock(&self.executed)
            .get(&hash)
            .filter(|e| e.parent == tip.header_hash && e.body == body)
            .cloned();
        let executed = match cached {
            Some(executed) => executed,
            None => {
                let executed = self
                    .execute(&tip, height, header.time_ms, &block.transactions)?
                    .map_err(|e| fail(e.to_string()))?;
                self.check_execution(&tip, header, &executed)
                    .map_err(|e| fail(e.to_string()))?;
                Arc::new(executed)
            }
        };

        let (configuration, validators, validator_set_hash) = match &executed.configuration {
            Some((configuration, validators, hash)) => {
                (Arc::clone(configuration), Arc::clone(validators), *hash)
            }
            None => (
                Arc::clone(&tip.configuration),
                Arc::clone(&tip.validators),
                tip.validator_set_hash,
            ),
        };
        let pending = self.store.pending_hashes()?;
        self.store.commit(
            &CommitBatch {
                block,
                certificate,
                entries: &executed.entries,
                log_nodes: &executed.log_nodes,
                state_writes: &executed.writes,
                state_tree: &executed.state_tree,
                transactions: &executed.transactions,
                handoff: (validator_set_hash != tip.validator_set_hash).then_some(&*validators),
                state_tree_keep: self
                    .state_tree_keep
                    .load(std::sync::atomic::Ordering::Relaxed),
            },
            &pending,
        )?;
        {
            let mut tip = self
                .tip
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *tip = Tip {
                height,
                header_hash: hash,
                time_ms: header.time_ms,
                log_size: header.log_size,
                log_root: header.log_root,
                state_root: header.state_root,
                state_tree: executed.state_tree.root.unwrap_or(tip.state_tree),
                configuration,
                validators,
                validator_set_hash,
            };
        }
        if validator_set_hash != tip.validator_set_hash {
            self.handoff_heights
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(height);
        }
        let checkpoint = Checkpoint {
            header: header.clone(),
            certificate: certificate.clone(),
        };
        {
            let mut recent = lock(&self.recent_checkpoints);
            if recent.len() >= RECENT_CHECKPOINTS {
                recent.pop_front();
            }
            recent.push_back(checkpoint.clone());
        }
        if !executed.entries.is_empty() {
            // The callers waiting for this block ask for its entries next, all at once.
            let leaves = executed
                .log_nodes
                .iter()
                .filter(|(level, _, _)| *level == 0)
                .map(|(_, _, hash)| *hash)
                .collect();
            self.entry_sources
                .committed(height, block.clone(), tip.log_size, leaves);
        }
        lock(&self.executed).clear();
        Ok(CommitOutcome {
            checkpoint,
            transactions: executed
                .transactions
                .iter()
                .map(|(tx_id, record)| CommittedTransaction {
                    tx_id: *tx_id,
                    record: record.clone(),
                })
                .collect(),
            entries: executed.entries.len() as u64,
            payment_refusals: executed.payment_refusals.clone(),
            payments: block_payments(&executed.entries),
        })
    }

    /// Keeps an undecided proposal (after it was built or validated) under its hash.
    ///
    /// # Errors
    /// Storage failure.
    pub fn put_pending(&self, block: &Block) -> Result<Digest, LedgerError> {
        let hash = block.hash(self.algorithm);
        self.store.put_pending(&hash, block)?;
        Ok(hash)
    }

    /// An undecided proposal by its hash.
    ///
    /// # Errors
    /// Storage failure.
    pub fn pending(&self, hash: &Digest) -> Result<Option<Block>, LedgerError> {
        Ok(self.store.pending(hash)?)
    }

    /// The block committed at `height` and its certificate.
    ///
    /// # Errors
    /// Storage failure.
    pub fn decided_block(
        &self,
        height: u64,
    ) -> Result<Option<(Block, CommitCertificate)>, LedgerError> {
        let Some(block) = self.store.block(height)? else {
            return Ok(None);
        };
        let certificate =
            self.store
                .certificate(height)?
                .ok_or_else(|| StorageError::Inconsistent {
                    what: "certificate",
                    reason: format!("block {height} is stored without its certificate"),
                })?;
        Ok(Some((block, certificate)))
    }

    /// The checkpoint (header and certificate) at `height`, or the latest for `None`.
    ///
    /// # Errors
    /// Storage failure.
    pub fn checkpoint(&self, height: Option<u64>) -> Result<Option<Checkpoint>, LedgerError> {
        let height = height.unwrap_or_else(|| self.tip().height);
        if height == 0 {
            return Ok(None);
        }
        if let Some(checkpoint) = lock(&self.recent_checkpoints)
            .iter()
            .rev()
            .find(|checkpoint| checkpoint.header.height == height)
        {
            return Ok(Some(checkpoint.clone()));
        }
        let (Some(header), Some(certificate)) =
            (self.store.header(height)?, self.store.certificate(height)?)
        else {
            return Ok(None);
        };
        Ok(Some(Checkpoint {
            header,
            certificate,
        }))
    }

    /// The inclusion proof of entry `index` in the log of `tree_size` entries.
    ///
    /// # Errors
    /// Index or size out of range, or storage failure.
    pub fn inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, LedgerError> {
        let log = MerkleLog::open(self.algorithm, self.log_nodes(), tree_size)?;
        Ok(log.inclusion_proof(index, tree_size)?)
    }

    /// The consistency proof between the logs of `old_size` and `new_size` entries.
    ///
    /// # Errors
    /// Sizes out of order or beyond the committed log, or storage failure.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, LedgerError> {
        let size = self.tip().log_size;
        if new_size > size {
            return Err(LogError::SizeOutOfRange {
                requested: new_size,
                size,
            }
            .into());
        }
        let log = MerkleLog::open(self.algorithm, self.log_nodes(), new_size)?;
        Ok(log.consistency_proof(old_size, new_size)?)
    }

    /// The committed log entry at `index`, derived from the transaction that appended it
    /// (the store keeps the blocks, not the entries: see [`crate::entries`]).
    ///
    /// # Errors
    /// Storage failure, or a block that does not give the entries the store says it appended.
    pub fn entry(&self, index: u64) -> Result<Option<Entry>, LedgerError> {
        Ok(self
            .entry_sources
            .entry(&self.store, self.algorithm, index)?)
    }

    /// The committed log's Merkle nodes: the stored ones, and the lowest levels hashed again
    /// from the entries ([`crate::entries::LogNodes`]).
    fn log_nodes(&self) -> LogNodes<'_> {
        LogNodes {
            store: &self.store,
            sources: &self.entry_sources,
            algorithm: self.algorithm,
        }
    }

    /// Every entry the committed transaction `record` appended, in order (none for a refused
    /// one): the transaction decoded once for all of them.
    ///
    /// # Errors
    /// As [`Ledger::entry`].
    pub fn transaction_entries(
        &self,
        record: &TransactionRecord,
    ) -> Result<Vec<Entry>, LedgerError> {
        if record.entry_count == 0 {
            return Ok(Vec::new());
        }
        let appended = self.entry_sources.transaction(
            &self.store,
            self.algorithm,
            record.height,
            record.position,
            record.entry_count,
        )?;
        Ok((0..appended.records.len())
            .filter_map(|offset| appended.entry(record.first_entry + offset as u64, offset))
            .collect())
    }

    /// The receipt for entry `index`, against the checkpoint of the block that sequenced it
    /// (stable: asking again gives the same receipt).
    ///
    /// # Errors
    /// Storage failure.
    pub fn receipt(&self, index: u64) -> Result<Option<Receipt>, LedgerError> {
        let Some(entry) = self.entry(index)? else {
            return Ok(None);
        };
        let checkpoint =
            self.checkpoint(Some(entry.height))?
                .ok_or_else(|| StorageError::Inconsistent {
                    what: "checkpoint",
                    reason: format!(
                        "entry {index} names height {} which is not stored",
                        entry.height
                    ),
                })?;
        Ok(Some(self.receipt_under(entry, checkpoint)?))
    }

    /// The receipt of `entry` under `checkpoint` (which must cover it): its inclusion proof,
    /// the hand-offs from genesis to the set that certified the checkpoint, and, for an anchor,
    /// its filer's registration (a filer registered on the ledger) and revocation (when the
    /// checkpoint's log holds one), each with its inclusion proof.
    ///
    /// # Errors
    /// Storage failure, or an entry the checkpoint does not cover.
    pub fn receipt_under(
        &self,
        entry: Entry,
        checkpoint: Checkpoint,
    ) -> Result<Receipt, LedgerError> {
        let log_size = checkpoint.header.log_size;
        let inclusion_proof = self.inclusion_proof(entry.index, log_size)?;
        let handoffs = self.handoffs(checkpoint.header.height)?;
        let (registration, revocation) = match entry.anchor() {
            None => (None, None),
            Some(document) => self.filer_evidence(&document.body.filer, log_size)?,
        };
        Ok(Receipt {
            entry,
            inclusion_proof,
            checkpoint,
            handoffs,
            registration,
            revocation,
        })
    }

    /// Receipts of `entries` under one checkpoint, each as [`Ledger::receipt_under`] gives it,
    /// with the hand-offs and each filer's evidence read once and the log's nodes read once
    /// for all the inclusion proofs (a batch's entries are neighbours: their paths share most
    /// nodes). Every entry must be in the checkpoint's log.
    ///
    /// # Errors
    /// As [`Ledger::receipt_under`].
    pub fn receipts_under(
        &self,
        entries: Vec<Entry>,
        checkpoint: &Checkpoint,
    ) -> Result<Vec<Receipt>, LedgerError> {
        let log_size = checkpoint.header.log_size;
        let handoffs = self.handoffs(checkpoint.header.height)?;
        let log = MerkleLog::open(
            self.algorithm,
            crate::storage::CachedNodes::new(self.log_nodes()),
            log_size,
        )?;
        let mut filers: HashMap<PublicKey, (Option<EntryProof>, Option<EntryProof>)> =
            HashMap::new();
        entries
            .into_iter()
            .map(|entry| {
                let inclusion_proof = log.inclusion_proof(entry.index, log_size)?;
                let (registration, revocation) = match entry.anchor() {
                    None => (None, None),
                    Some(document) => {
                        let filer = document.body.filer;
                        match filers.get(&filer) {
                            Some(evidence) => evidence.clone(),
                            None => {
                                let evidence = self.filer_evidence(&filer, log_size)?;
                                filers.insert(filer, evidence.clone());
                                evidence
                            }
                        }
                    }
                };
                Ok(Receipt {
                    entry,
                    inclusion_proof,
                    checkpoint: checkpoint.clone(),
                    handoffs: handoffs.clone(),
                    registration,
                    revocation,
                })
            })
            .collect()
    }

    /// The entries that registered and revoked filer `key`, as far as the log of `log_size`
    /// entries holds them, with their inclusion proofs in it.
    fn filer_evidence(
        &self,
        key: &PublicKey,
        log_size: u64,
    ) -> Result<(Option<EntryProof>, Option<EntryProof>), LedgerError> {
        let Some(record) = evidence_contracts::query::filer(&self.store, &self.genesis, key)
            .map_err(|e| StorageError::Inconsistent {
                what: "filer record",
                reason: format!("filer {key}: {e}"),
            })?
        else {
            return Ok((None, None));
        };
        let proof = |index: u64| -> Result<Option<EntryProof>, LedgerError> {
            if index >= log_size {
                return Ok(None);
            }
            let entry = self
                .entry(index)?
                .ok_or_else(|| StorageError::Inconsistent {
                    what: "entry",
                    reason: format!("filer entry {index} is not stored"),
                })?;
            Ok(Some(EntryProof {
                entry,
                inclusion_proof: self.inclusion_proof(index, log_size)?,
            }))
        };
        let registration = match record.registration_entry_index {
            Some(index) => proof(index)?,
            None => None,
        };
        let revocation = match &record.revocation {
            Some(revocation) => proof(revocation.entry_index)?,
            None => None,
        };
        Ok((registration, revocation))
    }

    /// The changes of the validator set a verifier follows from genesis to the set that
    /// certifies `height`: each with the checkpoint of the block that made it.
    ///
    /// # Errors
    /// Storage failure, or a hand-off whose block is not stored.
    pub fn handoffs(&self, height: u64) -> Result<Vec<Handoff>, LedgerError> {
        let any_below = self
            .handoff_heights
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .first()
            .is_some_and(|first| *first < height);
        if !any_below {
            return Ok(Vec::new());
        }
        self.store
            .handoffs(height)?
            .into_iter()
            .map(|(at, validators)| {
                let checkpoint =
                    self.checkpoint(Some(at))?
                        .ok_or_else(|| StorageError::Inconsistent {
                            what: "hand-off",
                            reason: format!("the set changed at height {at}, which is not stored"),
                        })?;
                Ok(Handoff {
                    checkpoint,
                    validators,
                })
            })
            .collect()
    }

    /// A status proof of `keys` (SPEC.md §8.3) under the latest committed checkpoint: for
    /// each key, the record it holds or its absence, with its proof against the header's state
    /// root. `None` before the first block.
    ///
    /// The node keeps the latest value of each key only, so proofs are of the latest height:
    /// the tree's pages are read at that height and each value is checked against the proof's
    /// leaf; a block committed in between makes the answer start again at the new height.
    ///
    /// # Errors
    /// Storage failure, or commits kept overtaking the reads.
    pub fn status_proof(&self, keys: &[StateKey]) -> Result<Option<StatusProof>, LedgerError> {
        const ATTEMPTS: usize = 8;
        let algorithm = self.algorithm;
        for _ in 0..ATTEMPTS {
            let tip = self.tip();
            let Some(checkpoint) = self.checkpoint(Some(tip.height))? else {
                return Ok(None);
            };
            let mut facts = Vec::with_capacity(keys.len());
            let mut overtaken = false;
            for key in keys {
                let key = key.to_bytes();
                let key_hash = state_tree::key_hash(algorithm, &key);
                let proof = state_tree::prove(
                    algorithm,
                    &StatePages(&self.store),
                    tip.state_tree,
                    &key_hash,
                );
                let proof = match proof {
                    Ok(proof) => proof,
                    Err(state_tree::TreeError::Store(error)) => return Err(error.into()),
                    // Pruned under us: the tip moved on more than the kept heights.
                    Err(state_tree::TreeError::MissingPage { .. }) => {
                        overtaken = true;
                        break;
                    }
                };
                let value = StateStore::get(&self.store, &key)?;
                let holds = match (&value, &proof.leaf) {
                    (Some(value), Some((leaf_key, leaf_value))) => {
                        *leaf_key == key_hash
                            && *leaf_value == state_tree::value_hash(algorithm, value)
                    }
                    (Some(_), None) => false,
                    (None, Some((leaf_key, _))) => *leaf_key != key_hash,
                    (None, None) => true,
                };
                if !holds {
                    overtaken = true;
                    break;
                }
                facts.push(StateFact { key, value, proof });
            }
            if overtaken {
                if self.tip().height == tip.height {
                    return Err(StorageError::Inconsistent {
                        what: "state tree",
                        reason: format!(
                            "at height {}, a page of the tip's tree is missing or a value \
                             disagrees with it, and no block was committed meanwhile",
                            tip.height
                        ),
                    }
                    .into());
                }
                continue;
            }
            let handoffs = self.handoffs(tip.height)?;
            return Ok(Some(StatusProof {
                checkpoint,
                handoffs,
                facts,
            }));
        }
        Err(LedgerError::State(StateError(format!(
            "the state changed under {ATTEMPTS} attempts to prove it; try again"
        ))))
    }

    /// What became of a transaction, if a committed block carried it.
    ///
    /// # Errors
    /// Storage failure.
    pub fn transaction(&self, tx_id: &Digest) -> Result<Option<TransactionRecord>, LedgerError> {
        Ok(self.store.transaction(tx_id)?)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use evidence_core::keys::SigningKey;
    use evidence_genesis::default_consortium;

    use super::*;
    use crate::app::now_ms;
    use crate::local::anchor_transaction;

    /// The bureau's filer key in the test consortium.
    pub(crate) fn bureau_filer(consortium: &evidence_genesis::Consortium) -> &SigningKey {
        &consortium
            .filer_keys
            .iter()
            .find(|(member, _)| member == "bureau")
            .expect("the test consortium has a bureau filer")
            .1
    }

    /// Commits `block` (whose hash is `hash`) under a certificate of round 0 signed by `keys`.
    fn commit_in_round_0(ledger: &Ledger, block: &Block, hash: Digest, keys: &[&SigningKey]) {
        let certificate = evidence_core::certificate::CommitCertificate::sign(
            &ledger.genesis.chain_id,
            block.header.height,
            0,
            hash,
            keys,
        );
        ledger.commit(block, &certificate).unwrap();
    }

    /// The keys of three of the four validators: enough to certify a block.
    fn quorum_keys(consortium: &evidence_genesis::Consortium) -> Vec<&SigningKey> {
        consortium.validator_keys[..3]
            .iter()
            .map(|(_, key)| key)
            .collect()
    }

    /// The state keys of the bureau's drawings `names` (as [`commit_drawings`] files them).
    fn drawing_keys(names: &[String]) -> Vec<StateKey> {
        names
            .iter()
            .map(|id| StateKey::Document {
                member: "bureau".into(),
                project_id: "P-1".into(),
                document_id: id.clone(),
            })
            .collect()
    }

    /// Files `names` as the bureau's drawings in a block at `height` that `proposing` builds
    /// and a quorum certifies, and commits it to each of `ledgers`.
    fn commit_drawings(
        consortium: &evidence_genesis::Consortium,
        proposing: &Ledger,
        ledgers: &[&Ledger],
        height: u64,
        names: &[String],
        now: u64,
    ) {
        let genesis = &consortium.genesis;
        let transaction = crate::local::drawings(
            genesis,
            bureau_filer(consortium),
            names.iter().cloned(),
            now,
        )
        .unwrap();
        let proposer = consortium.validator_keys[0].1.public_key();
        let (block, _) = proposing
            .propose(now + height, proposer, vec![transaction])
            .unwrap();
        let certificate = CommitCertificate::sign(
            &genesis.chain_id,
            height,
            0,
            block.hash(genesis.suite.digest),
            &quorum_keys(consortium),
        );
        for ledger in ledgers {
            ledger.commit(&block, &certificate).unwrap();
        }
    }

    /// A transaction refused before the contract's rules leaves no mark, so no block may carry
    /// it: here a governance vote signed by a key no member holds. The proposer leaves it out,
    /// and a validator refuses a block that carries it.
    #[test]
    fn a_transaction_from_an_unknown_governance_key_is_carried_by_no_block() {
        let now = now_ms();
        let consortium = default_consortium("evidence-test", now - 60_000, &mut rand_core::OsRng);
        let genesis = &consortium.genesis;
        let ledger = Ledger::open_memory(MemoryDatabase::new(), genesis.clone()).unwrap();
        let stranger = SigningKey::generate();
        let junk = crate::local::governance_transaction(
            genesis,
            "bureau",
            &stranger,
            evidence_core::governance::GovernanceAction::Vote(evidence_core::governance::Vote {
                proposal_id: "P-404".to_owned(),
                approve: true,
            }),
            now,
        );
        let proposer = consortium.validator_keys[0].1.public_key();
        let (block, left_out) = ledger.propose(now, proposer, vec![junk.clone()]).unwrap();
        assert!(block.transactions.is_empty());
        assert!(matches!(
            left_out.as_slice(),
            [(_, TxError::UnknownGovernanceKey(key))] if *key == stranger.public_key()
        ));

        let mut carrying = block;
        carrying.transactions.push(junk);
        carrying.header.transaction_count = 1;
        let verdict = ledger.validate(&carrying, &proposer, now, 10_000).unwrap();
        assert!(
            matches!(
                verdict,
                Err(BlockError::InadmissibleTransaction {
                    position: 0,
                    error: TxError::UnknownGovernanceKey(_)
                })
            ),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_new_proposal_dated_too_far_back_is_not_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        let consortium = default_consortium("evidence-test", now - 60_000, &mut rand_core::OsRng);
        let ledger = Ledger::open(&dir.path().join("db"), consortium.genesis.clone()).unwrap();
        let proposer = consortium.validator_keys[0].1.public_key();
        let (block, _) = ledger.propose(now - 20_000, proposer, Vec::new()).unwrap();
        assert_eq!(block.header.time_ms, now - 20_000);
        assert!(matches!(
            Ledger::check_fresh(&block, now, 10_000),
            Err(BlockError::TimeTooOld {
                bound_ms: 10_000,
                ..
            })
        ));
        assert_eq!(Ledger::check_fresh(&block, now - 15_000, 10_000), Ok(()));
        assert_eq!(Ledger::check_fresh(&block, now, 30_000), Ok(()));
    }

    #[test]
    fn a_block_naming_another_validator_set_for_itself_or_the_next_height_is_refused() {
        let now = now_ms();
        let consortium = default_consortium("evidence-test", now - 60_000, &mut rand_core::OsRng);
        let ledger =
            Ledger::open_memory(MemoryDatabase::new(), consortium.genesis.clone()).unwrap();
        let proposer = consortium.validator_keys[0].1.public_key();
        let (block, _) = ledger.propose(now, proposer, Vec::new()).unwrap();
        assert_eq!(
            block.header.next_validator_set_hash, block.header.validator_set_hash,
            "the set does not change"
        );
        let other = ledger.algorithm().hash(b"another validator set");
        let mut wrong_next = block.clone();
        wrong_next.header.next_validator_set_hash = other;
        assert_eq!(
            ledger
                .validate(&wrong_next, &proposer, now, 10_000)
                .unwrap(),
            Err(BlockError::WrongNextValidatorSet {
                expected: block.header.validator_set_hash,
                found: other,
            })
        );
        let mut wrong_own = block.clone();
        wrong_own.header.validator_set_hash = other;
        assert!(matches!(
            ledger.validate(&wrong_own, &proposer, now, 10_000).unwrap(),
            Err(BlockError::WrongValidatorSet { .. })
        ));
        assert_eq!(
            ledger.validate(&block, &proposer, now, 10_000).unwrap(),
            Ok(())
        );
    }

    /// Pruning keeps the last `keep` heights' trees: the same roots as a ledger that keeps
    /// every height, status proofs at the tip that verify, and the pages only older heights
    /// read gone. Pages are written every few blocks; a ledger reopened between two writes
    /// (its unwritten pages lost, as in a crash) rebuilds them from the journal and goes on
    /// with the same roots.
    #[test]
    fn the_state_tree_is_pruned_to_the_kept_heights_and_the_tip_stays_provable() {
        use evidence_contracts::state::StatePages;
        use evidence_core::status::verify_status_proof;

        let now = now_ms();
        let consortium = default_consortium("evidence-test", now - 60_000, &mut rand_core::OsRng);
        let genesis = consortium.genesis.clone();
        let anchor = genesis.trust_anchor().unwrap();
        let database = MemoryDatabase::new();
        let mut pruned = Ledger::open_memory(database.clone(), genesis.clone()).unwrap();
        pruned.set_state_tree_keep(2);
        let kept = Ledger::open_memory(MemoryDatabase::new(), genesis.clone()).unwrap();
        kept.set_state_tree_keep(0);
        let tight_database = MemoryDatabase::new();
        let tight = Ledger::open_memory(tight_database.clone(), genesis.clone()).unwrap();
        tight.set_state_tree_keep(1);
        let mut filed = Vec::new();
        // Pages are written at heights `interval`, `2 * interval`, ...
        let interval = crate::storage::TREE_FLUSH_INTERVAL;
        // Keeping one height applies at most 8 heights' stale lists a commit, the second
        // write's own commit first, so every list up to that write is applied by
        // `2 * interval + interval / 8 - 1`; the run goes two heights past it.
        let last = 2 * interval + interval.div_ceil(crate::storage::PRUNE_HEIGHTS_PER_COMMIT) + 1;
        for height in 1..=last {
            // Many documents at the second flush, few just before it: the flush block
            // replaces pages written at the flush before, which its own stale list names.
            let count = match height {
                h if h == 2 * interval => 40,
                h if h > interval && h < 2 * interval => 1,
                _ => 3,
            };
            let names: Vec<String> = (0..count).map(|i| format!("DWG-{height}-{i}")).collect();
            commit_drawings(
                &consortium,
                &pruned,
                &[&pruned, &kept, &tight],
                height,
                &names,
                now,
            );
            assert_eq!(pruned.tip().state_tree, kept.tip().state_tree);
            assert_eq!(tight.tip().state_tree, kept.tip().state_tree);
            filed.extend(names);
            let keys = drawing_keys(&filed);
            let proof = pruned
                .status_proof(&keys[keys.len().saturating_sub(64)..])
                .unwrap()
                .unwrap();
            let state = verify_status_proof(&proof, &anchor).unwrap();
            assert_eq!(state.checkpoint.height, height);
            assert!(state.facts.iter().all(|fact| fact.record.is_some()));
            if [3, interval + 3, interval + 5].contains(&height) {
                // Stopped before the first write of the pages, or between the first two:
                // reopened, it rebuilds the pages of heights 1 to 3 (then those after the
                // first write) from the journal.
                drop(pruned);
                pruned = Ledger::open_memory(database.clone(), genesis.clone()).unwrap();
                pruned.set_state_tree_keep(2);
                assert_eq!(pruned.tip().state_tree, kept.tip().state_tree);
                let proof = pruned.status_proof(&keys[..1]).unwrap().unwrap();
                verify_status_proof(&proof, &anchor).unwrap();
            }
        }
        // The last height keeps itself and the one before: their roots are provable in the
        // pruned ledger; a root between the first two writes reads pages that were pruned or
        // never written.
        let key_hash = state_tree::key_hash(genesis.suite.digest, b"any key");
        for height in [last - 1, last] {
            let root = pruned.store().tree_root(height).unwrap();
            state_tree::prove(
                genesis.suite.digest,
                &StatePages(pruned.store()),
                root,
                &key_hash,
            )
            .unwrap();
        }
        let old = pruned.store().tree_root(interval + 2).unwrap();
        assert!(matches!(
            state_tree::prove(
                genesis.suite.digest,
                &StatePages(pruned.store()),
                old,
                &key_hash
            ),
            Err(state_tree::TreeError::MissingPage { .. })
        ));
        // Keeping one height, every stale list up to the last flush has been applied and
        // deleted, the flush block's own included; keeping all, none has.
        assert!((1..=2 * interval).all(|height| !tight.store().has_stale_list(height)));
        assert!((1..=2 * interval).any(|height| kept.store().has_stale_list(height)));
        // A database whose records are of another format is refused by name when it opens.
        tight.store().set_state_format(b"spec-9").unwrap();
        drop(tight);
        let refused = Ledger::open_memory(tight_database, genesis.clone()).unwrap_err();
        assert!(
            matches!(&refused, LedgerError::WrongDatabase(reason) if reason.contains("layout is older")),
            "{refused}"
        );
        // A ledger that keeps every height keeps the tree of each height the pages were
        // written at whole, not of the heights between writes.
        state_tree::prove(
            genesis.suite.digest,
            &StatePages(kept.store()),
            kept.store().tree_root(2 * interval).unwrap(),
            &key_hash,
        )
        .unwrap();
    }

    /// Keeping one height, the pruner deletes every stored page that no root reads: once the
    /// block after a flush has applied the flush block's own stale list, the database holds
    /// exactly the pages the flushed root reads (pages written at earlier flushes and made
    /// stale since included; pages that died before any flush were never written).
    #[test]
    fn keeping_one_height_the_database_holds_exactly_the_pages_the_flushed_root_reads() {
        let now = now_ms();
        let consortium = default_consortium("evidence-test", now - 60_000, &mut rand_core::OsRng);
        let genesis = consortium.genesis.clone();
        let ledger = Ledger::open_memory(MemoryDatabase::new(), genesis.clone()).unwrap();
        ledger.set_state_tree_keep(1);
        // The pruner applies up to this many heights' lists a commit: all of a flush interval's.
        const { assert!(4 <= crate::storage::PRUNE_HEIGHTS_PER_COMMIT) };
        ledger.store().set_tree_flush(4, usize::MAX);
        let usual = Ledger::open_memory(MemoryDatabase::new(), genesis).unwrap();
        for height in 1..=14u64 {
            let names: Vec<String> = (0..20).map(|i| format!("DWG-{height}-{i}")).collect();
            commit_drawings(&consortium, &usual, &[&usual, &ledger], height, &names, now);
            assert_eq!(ledger.tip().state_tree, usual.tip().state_tree);
            if height % 4 == 1 && height > 4 {
                assert_eq!(
                    ledger.store().stored_tree_pages(),
                    ledger.store().reachable_tree_pages(height - 1),
                    "the pages stored after the flush at {}",
                    height - 1
                );
            }
        }
    }

    #[test]
    fn the_state_tree_pages_are_written_early_when_the_cache_is_full() {
        use evidence_core::status::verify_status_proof;

        let now = now_ms();
        let consortium = default_consortium("evidence-test", now - 60_000, &mut rand_core::OsRng);
        let genesis = consortium.genesis.clone();
        let anchor = genesis.trust_anchor().unwrap();
        let database = MemoryDatabase::new();
        // Never by the interval (1,000 blocks); by a cap of one page at the heights that must
        // write early: 20 new keys fill some root slot twice, so every such block writes the
        // root and at least one page below it. At heights 5 and 6 the cap is out of reach and
        // the blocks are journalled.
        let early_at = |height: u64| !(5..=6).contains(&height);
        let set = |ledger: &Ledger, height: u64| {
            let cap = if early_at(height) { 1 } else { usize::MAX };
            ledger.store().set_tree_flush(1_000, cap);
        };
        let mut early = Ledger::open_memory(database.clone(), genesis.clone()).unwrap();
        early.set_state_tree_keep(2);
        let usual = Ledger::open_memory(MemoryDatabase::new(), genesis.clone()).unwrap();
        let mut filed = Vec::new();
        for height in 1..=8u64 {
            set(&early, height);
            let names: Vec<String> = (0..20).map(|i| format!("DWG-{height}-{i}")).collect();
            commit_drawings(&consortium, &usual, &[&usual, &early], height, &names, now);
            assert_eq!(early.tip().state_tree, usual.tip().state_tree);
            let written = if early_at(height) { height } else { 4 };
            assert_eq!(early.store().tree_flushed().unwrap(), Some(written));
            filed.extend(names);
            if height == 6 {
                // Reopened after an early write and two journalled blocks, it rebuilds their
                // pages from the journal onto the tree written early, with the same root.
                drop(early);
                early = Ledger::open_memory(database.clone(), genesis.clone()).unwrap();
                early.set_state_tree_keep(2);
                assert_eq!(early.tip().state_tree, usual.tip().state_tree);
            }
        }
        let keys = drawing_keys(&filed);
        let proof = early.status_proof(&keys[..64]).unwrap().unwrap();
        let state = verify_status_proof(&proof, &anchor).unwrap();
        assert!(state.facts.iter().all(|fact| fact.record.is_some()));
    }

    #[test]
    fn entries_derived_from_the_blocks_are_the_entries_execution_appended() {
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        let consortium = default_consortium("evidence-test", now - 60_000, &mut rand_core::OsRng);
        let genesis = consortium.genesis.clone();
        let ledger = Ledger::open(&dir.path().join("db"), genesis.clone()).unwrap();
        let filer = bureau_filer(&consortium);
        let keys = quorum_keys(&consortium);
        let proposer = consortium.validator_keys[0].1.public_key();
        let anchor = |documents: &[&str], captured: u64| {
            let documents: Vec<(String, Digest)> = documents
                .iter()
                .map(|d| ((*d).to_owned(), genesis.suite.digest.hash(d.as_bytes())))
                .collect();
            anchor_transaction(
                &genesis,
                filer,
                "bureau",
                "completion-drawing",
                "P-1",
                &documents,
                captured,
            )
            .unwrap()
        };
        let mut executed_entries = Vec::new();
        let mut records = Vec::new();
        let blocks = [
            // A batch, a single document, and the same document again (refused by a rule,
            // so it stays in the block and appends nothing), then another batch.
            vec![
                anchor(&["A-1", "A-2", "A-3"], now),
                anchor(&["B-1"], now),
                anchor(&["B-1"], now + 1),
                anchor(&["C-1", "C-2"], now),
            ],
            // A block with no entries at all, then one more.
            Vec::new(),
            vec![
                anchor(&["D-1"], now),
                anchor(
                    &[
                        "E-0", "E-1", "E-2", "E-3", "E-4", "E-5", "E-6", "E-7", "E-8", "E-9",
                        "E-10", "E-11",
                    ],
                    now,
                ),
            ],
        ];
        for (height, transactions) in (1u64..).zip(blocks) {
            let (block, left_out) = ledger
                .propose(now + height, proposer, transactions)
                .unwrap();
            assert!(left_out.is_empty());
            let hash = block.hash(genesis.suite.digest);
            let executed = lock(&ledger.executed).get(&hash).cloned().unwrap();
            executed_entries.extend(executed.entries.iter().cloned());
            records.extend(executed.transactions.iter().map(|(_, r)| r.clone()));
            commit_in_round_0(&ledger, &block, hash, &keys);
        }
        // 19 entries: a stored node at level 4 (entries 0 to 15) and derived ones below.
        assert_eq!(executed_entries.len(), 19);
        assert_eq!(ledger.tip().log_size, 19);
        let check = |ledger: &Ledger| {
            for entry in &executed_entries {
                assert_eq!(ledger.entry(entry.index).unwrap().as_ref(), Some(entry));
            }
            assert_eq!(ledger.entry(19).unwrap(), None, "past the log");
            assert_eq!(ledger.entry(u64::MAX).unwrap(), None);
            let mut listed = Vec::new();
            for record in &records {
                let entries = ledger.transaction_entries(record).unwrap();
                assert_eq!(entries.len(), record.entry_count as usize);
                if record.rejection.is_some() {
                    assert!(entries.is_empty());
                }
                listed.extend(entries);
            }
            assert_eq!(listed, executed_entries);
        };
        check(&ledger);
        // The log's low levels are hashed again from the entries (the leaves of the blocks
        // committed last are kept): every proof and root as a log of every node gives them.
        let mut full = MerkleLog::new(
            genesis.suite.digest,
            evidence_core::merkle::MemoryStore::default(),
        );
        for entry in &executed_entries {
            full.append(entry.leaf_hash(genesis.suite.digest)).unwrap();
        }
        let proofs = |ledger: &Ledger| {
            let log = MerkleLog::open(genesis.suite.digest, ledger.log_nodes(), 19).unwrap();
            use evidence_core::merkle::NodeStore;
            assert!(ledger.store().log_nodes().get(4, 0).unwrap().is_some());
            assert!(ledger.store().log_nodes().get(3, 0).unwrap().is_none());
            assert_eq!(
                Digest::new(genesis.suite.digest, log.root()),
                ledger.tip().log_root
            );
            for size in 1..=19 {
                for index in 0..size {
                    assert_eq!(
                        ledger.inclusion_proof(index, size).unwrap(),
                        full.inclusion_proof(index, size).unwrap()
                    );
                }
                assert_eq!(
                    ledger.consistency_proof(size, 19).unwrap(),
                    full.consistency_proof(size, 19).unwrap()
                );
            }
        };
        proofs(&ledger);
        // Derived again from the database alone, with nothing in memory.
        drop(ledger);
        let reopened = Ledger::open(&dir.path().join("db"), genesis.clone()).unwrap();
        check(&reopened);
        proofs(&reopened);
        // A record that claims more entries than its transaction appended is refused by name.
        let mut wrong = records[0].clone();
        wrong.entry_count += 1;
        let error = reopened.transaction_entries(&wrong).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("appended 4 entries, its records are 3"),
            "{error}"
        );
        let mut missing = records[0].clone();
        missing.position = 40;
        let error = reopened.transaction_entries(&missing).unwrap_err();
        assert!(
            error.to_string().contains("not one at position 40"),
            "{error}"
        );
    }

    /// The checkpoints of the last blocks and the log's upper nodes are served from memory
    /// once read: over more blocks than are kept, every checkpoint, inclusion proof and
    /// consistency proof the running ledger gives (asked twice, the second time from what it
    /// kept) is the one a ledger reopened on the same database reads from disk, and the
    /// proofs are those of a log that stores every node.
    #[test]
    fn checkpoints_and_log_nodes_kept_in_memory_are_those_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        let consortium = default_consortium("evidence-test", now - 60_000, &mut rand_core::OsRng);
        let genesis = consortium.genesis.clone();
        let ledger = Ledger::open(&dir.path().join("db"), genesis.clone()).unwrap();
        let filer = bureau_filer(&consortium);
        let keys = quorum_keys(&consortium);
        let proposer = consortium.validator_keys[0].1.public_key();
        let heights = RECENT_CHECKPOINTS as u64 + 5;
        let mut full = MerkleLog::new(
            genesis.suite.digest,
            evidence_core::merkle::MemoryStore::default(),
        );
        for height in 1..=heights {
            let names = (0..5).map(|i| format!("doc-{height}-{i}"));
            let transaction = crate::local::drawings(&genesis, filer, names, now).unwrap();
            let (block, left_out) = ledger
                .propose(now + height, proposer, vec![transaction])
                .unwrap();
            assert!(left_out.is_empty());
            let hash = block.hash(genesis.suite.digest);
            let executed = lock(&ledger.executed).get(&hash).cloned().unwrap();
            for entry in &executed.entries {
                full.append(entry.leaf_hash(genesis.suite.digest)).unwrap();
            }
            commit_in_round_0(&ledger, &block, hash, &keys);
        }
        let size = ledger.tip().log_size;
        assert_eq!(size, 5 * heights);
        let answers = |ledger: &Ledger| {
            let checkpoints: Vec<_> = (0..=heights + 1)
                .map(|height| ledger.checkpoint(Some(height)).unwrap())
                .collect();
            let inclusion: Vec<_> = (0..size)
                .map(|index| ledger.inclusion_proof(index, size).unwrap())
                .collect();
            let consistency: Vec<_> = (1..=size)
                .map(|old| ledger.consistency_proof(old, size).unwrap())
                .collect();
            (checkpoints, inclusion, consistency)
        };
        let first = answers(&ledger);
        assert_eq!(lock(&ledger.recent_checkpoints).len(), RECENT_CHECKPOINTS);
        assert!(
            ledger.store().cached_log_nodes() > 0,
            "the upper nodes were kept"
        );
        let again = answers(&ledger);
        drop(ledger);
        let reopened = Ledger::open(&dir.path().join("db"), genesis.clone()).unwrap();
        let from_disk = answers(&reopened);
        assert_eq!(first, from_disk);
        assert_eq!(again, from_disk);
        let (checkpoints, inclusion, consistency) = from_disk;
        assert!(checkpoints[0].is_none() && checkpoints[heights as usize + 1].is_none());
        for (height, checkpoint) in (1..=heights).zip(&checkpoints[1..=heights as usize]) {
            assert_eq!(checkpoint.as_ref().unwrap().header.height, height);
        }
        for (index, proof) in (0..size).zip(&inclusion) {
            assert_eq!(*proof, full.inclusion_proof(index, size).unwrap());
        }
        for (old, proof) in (1..=size).zip(&consistency) {
            assert_eq!(*proof, full.consistency_proof(old, size).unwrap());
        }
    }

    #[test]
    fn a_memory_ledger_agrees_with_rocksdb_block_for_block_and_keeps_its_commits_over_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        let consortium = default_consortium("evidence-test", now - 60_000, &mut rand_core::OsRng);
        let genesis = consortium.genesis.clone();
        let rocks = Ledger::open(&dir.path().join("db"), genesis.clone()).unwrap();
        let database = MemoryDatabase::new();
        let memory = Ledger::open_memory(database.clone(), genesis.clone()).unwrap();
        let filer = bureau_filer(&consortium);
        let keys = quorum_keys(&consortium);
        let proposer = consortium.validator_keys[0].1.public_key();
        for height in 1..=3u64 {
            let transactions: Vec<Vec<u8>> = (0..2)
                .map(|i| {
                    let document = format!("DWG-{height}-{i}");
                    let digest = genesis.suite.digest.hash(document.as_bytes());
                    anchor_transaction(
                        &genesis,
                        filer,
                        "bureau",
                        "completion-drawing",
                        "P-1",
                        &[(document, digest)],
                        now,
                    )
                    .unwrap()
                })
                .collect();
            let time = now + height;
            let (block, left_out) = rocks.propose(time, proposer, transactions.clone()).unwrap();
            assert!(left_out.is_empty());
            let (same, _) = memory.propose(time, proposer, transactions).unwrap();
            assert_eq!(
                block, same,
                "height {height}: the same block from the same state"
            );
            for ledger in [&rocks, &memory] {
                ledger
                    .validate(&block, &proposer, time, 10_000)
                    .unwrap()
                    .unwrap();
                ledger.put_pending(&block).unwrap();
            }
            let hash = block.hash(genesis.suite.digest);
            assert_eq!(memory.store().pending_hashes().unwrap(), vec![hash]);
            let certificate = evidence_core::certificate::CommitCertificate::sign(
                &genesis.chain_id,
                height,
                0,
                hash,
                &keys,
            );
            assert_eq!(
                rocks.commit(&block, &certificate).unwrap(),
                memory.commit(&block, &certificate).unwrap()
            );
            assert!(memory.store().pending_hashes().unwrap().is_empty());
        }
        assert_eq!(rocks.tip(), memory.tip());
        let same_answers = |memory: &Ledger| {
            for index in 0..6 {
                assert_eq!(
                    rocks.receipt(index).unwrap(),
                    memory.receipt(index).unwrap(),
                    "receipt {index}"
                );
            }
            assert_eq!(
                rocks.store().entries_by_project("P-1", 2, 3).unwrap(),
                memory.store().entries_by_project("P-1", 2, 3).unwrap()
            );
            assert_eq!(
                memory.store().entries_by_project("P-1", 0, 100).unwrap(),
                (0..6).collect::<Vec<u64>>()
            );
            assert_eq!(
                rocks.consistency_proof(2, 6).unwrap(),
                memory.consistency_proof(2, 6).unwrap()
            );
        };
        same_answers(&memory);
        // A crash: the ledger is gone, its database is not.
        drop(memory);
        let memory = Ledger::open_memory(database, genesis.clone()).unwrap();
        assert_eq!(rocks.tip(), memory.tip());
        same_answers(&memory);
        // A new database is a new node: nothing committed.
        let fresh = Ledger::open_memory(MemoryDatabase::new(), genesis).unwrap();
        assert_eq!(fresh.tip().height, 0);
    }

    #[test]
    fn a_block_validated_before_a_crash_is_still_there_to_commit_after_the_restart() {
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        let consortium = default_consortium("evidence-test", now - 60_000, &mut rand_core::OsRng);
        let genesis = consortium.genesis.clone();
        let path = dir.path().join("db");
        let proposer = consortium.validator_keys[1].1.public_key();
        let block = {
            // Another validator's proposal, validated here and kept pending: from this point
            // the node may vote for it.
            let builder_dir = tempfile::tempdir().unwrap();
            let builder = Ledger::open(&builder_dir.path().join("db"), genesis.clone()).unwrap();
            let (block, _) = builder.propose(now, proposer, Vec::new()).unwrap();
            let ledger = Ledger::open(&path, genesis.clone()).unwrap();
            ledger
                .validate(&block, &proposer, now, 10_000)
                .unwrap()
                .unwrap();
            ledger.put_pending(&block).unwrap();
            // The node stops here, before consensus decides (the ledger is dropped).
            block
        };
        let ledger = Ledger::open(&path, genesis.clone()).unwrap();
        let hash = block.hash(genesis.suite.digest);
        let kept = ledger
            .pending(&hash)
            .unwrap()
            .expect("the validated block survived");
        let keys = quorum_keys(&consortium);
        let certificate = evidence_core::certificate::CommitCertificate::sign(
            &genesis.chain_id,
            1,
            0,
            hash,
            &keys,
        );
        ledger.commit(&kept, &certificate).unwrap();
        assert_eq!(ledger.tip().height, 1);
        assert!(
            ledger.pending(&hash).unwrap().is_none(),
            "committed, no longer pending"
        );
    }

    #[test]
    fn other_bytes_under_a_validated_header_are_executed_not_taken_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        let consortium = default_consortium("evidence-test", now - 60_000, &mut rand_core::OsRng);
        let genesis = consortium.genesis.clone();
        let ledger = Ledger::open(&dir.path().join("db"), genesis.clone()).unwrap();
        let filer = bureau_filer(&consortium);
        let digest = genesis.suite.digest.hash(b"drawing");
        let tx = anchor_transaction(
            &genesis,
            filer,
            "bureau",
            "completion-drawing",
            "P-1",
            &[("DWG-1".to_owned(), digest)],
            now,
        )
        .unwrap();
        let proposer = consortium.validator_keys[0].1.public_key();
        let (block, left_out) = ledger.propose(now, proposer, vec![tx]).unwrap();
        assert!(left_out.is_empty());
        ledger
            .validate(&block, &proposer, now, 10_000)
            .unwrap()
            .unwrap();

        // The same header (transaction ids leave out signatures), another filer signature:
        // it must be executed, and then its log root is not the header's.
        let mut forged = block.clone();
        let last = forged.transactions[0].len() - 1;
        forged.transactions[0][last] ^= 0x01;
        assert_eq!(
            forged.hash(genesis.suite.digest),
            block.hash(genesis.suite.digest)
        );
        let verdict = ledger.validate(&forged, &proposer, now, 10_000).unwrap();
        assert!(verdict.is_err(), "the forged bytes were taken as valid");
        // The block itself still validates.
        ledger
            .validate(&block, &proposer, now, 10_000)
            .unwrap()
            .unwrap();
    }
}
