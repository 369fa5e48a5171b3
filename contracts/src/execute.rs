//! The state machine: `apply(state, transaction, block context)` and whole-block execution.
//!
//! Execution is deterministic: it reads only the state, the transaction and the block context
//! (never a clock or a random source), iterates only ordered collections, and every validator
//! that executes the same block over the same state reaches the same writes, entries and state
//! root. A rejected transaction leaves no write behind: its writes go to an overlay that is
//! merged only when every rule passed.

use std::collections::BTreeMap;

use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::encoding::{Decode, Encode};
use evidence_core::entry::{
    AnchorBody, BATCH_LEN_MAX, Entry, MILESTONES_MAX, MilestoneClaim, SignedBatch,
    SignedRegistration, SignedRevocation,
};
use evidence_core::governance::{
    FilerRegistration, FilerRevocation, GovernanceAction, SignedGovernance,
};
use evidence_core::keys::PublicKey;
use evidence_core::merkle::{MemoryStore, MerkleLog};
use evidence_core::state_tree::{Slot, TreeUpdate};
use evidence_genesis::{Configuration, Filer, Genesis};

use crate::error::TxError;
use crate::state::{
    AppliedTransaction, BlockReads, DocumentRecord, FilerRecord, FilerRevocationRecord,
    MilestoneAccount, MilestoneEvidence, Overlay, ProjectRecord, ReportRef, StateStore, StoreError,
    Supersession, VersionRecord, VersionRevocation, applied_transaction_key, document_key,
    filer_key, governance_key_key, milestone_evidence_key, project_key, update_state_tree,
    version_key,
};
use crate::transaction::{Prepared, Transaction};
use crate::verified::VerifiedSignatures;

/// The kind whose anchors are payments.
pub const FUND_TRANSFER: &str = "fund-transfer";
/// The kind whose anchors may unlock milestone payments.
pub const INSPECTION_REPORT: &str = "inspection-report";

/// What the block being executed tells each transaction.
#[derive(Debug, Clone, Copy)]
pub struct BlockContext<'a> {
    pub genesis: &'a Genesis,
    /// The configuration in force at this height: the genesis one, or the one the last
    /// proposal accepted before this height left ([`crate::query::configuration`] of the
    /// state before the block).
    pub config: &'a Configuration,
    pub height: u64,
    /// The block's timestamp (the proposer's clock), in Unix milliseconds.
    pub time_ms: u64,
    /// Entries in the log before this block; the block's first entry gets this index.
    pub log_size: u64,
    /// Signatures this node already verified; `None` verifies every signature. Verified ones
    /// are added. The outcome is the same either way (see [`VerifiedSignatures`]).
    pub verified: Option<&'a VerifiedSignatures>,
}

impl BlockContext<'_> {
    fn algorithm(&self) -> HashAlgorithm {
        self.genesis.suite.digest
    }
}

/// What one applied transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub tx_id: Digest,
    /// The log entries it appends, in order, with their indices already assigned.
    pub entries: Vec<Entry>,
}

/// Why `apply` stopped: the transaction broke a rule, or the store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[expect(
    clippy::large_enum_variant,
    reason = "rejections carry the offending keys as evidence; they are built once per failure"
)]
pub enum ApplyError {
    #[error(transparent)]
    Rejected(#[from] TxError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Applies one transaction to `state`.
///
/// On success its writes are in `state` and its entries are returned. On rejection, `state`
/// holds nothing of it — except that an *authentic* transaction (its signer is a genesis filer
/// and its signature verifies) that broke a later rule is marked as consumed, so that the same
/// signed bytes can never be applied later, when circumstances have changed (a payment
/// refused for want of an inspection must be signed again, knowingly, to be filed). An
/// unauthenticated transaction leaves no mark: otherwise anyone could burn a filer's
/// transaction id with a forged signature.
///
/// `next_index` is the log index the transaction's first entry gets.
///
/// # Errors
/// [`ApplyError::Rejected`] with the rule broken, or [`ApplyError::Store`].
pub fn apply<S: StateStore + ?Sized>(
    state: &mut Overlay<'_, S>,
    transaction: &Transaction,
    context: &BlockContext<'_>,
    next_index: u64,
) -> Result<Applied, ApplyError> {
    apply_prepared(
        state,
        &Prepared::new(transaction, context.algorithm()),
        context,
        next_index,
    )
}

/// As [`apply`], for a transaction whose identifier and batch tree were computed already (a
/// node's mempool computes them to find a transaction it holds, then applies it).
///
/// # Errors
/// As [`apply`].
pub fn apply_prepared<S: StateStore + ?Sized>(
    state: &mut Overlay<'_, S>,
    prepared: &Prepared<'_>,
    context: &BlockContext<'_>,
    next_index: u64,
) -> Result<Applied, ApplyError> {
    let Checked {
        tx_id,
        replay_key,
        signer,
    } = check_before_rules(state, prepared, context)?;
    // What an accepted transaction appends to the log is a function of the transaction alone,
    // so a node's store keeps its block and derives the entries from it (`Prepared::records`).
    // A transaction has records exactly when it has an id, which the checks required: this
    // refusal is never reached, and is the checks' own if it were.
    let Some(records) = prepared.records() else {
        return Err(TxError::BadBatchLength {
            len: 0,
            max: BATCH_LEN_MAX,
        }
        .into());
    };
    let transaction = prepared.transaction();

    // Rules run against a transaction-local overlay, merged only on success.
    let mut local = Overlay::new(&*state);
    let outcome = match (transaction, &signer) {
        (Transaction::Anchor(batch), Signer::Filer(filer)) => {
            apply_anchor_batch(&mut local, batch, filer, context, next_index)
        }
        (Transaction::Revoke(revocation), Signer::Filer(filer)) => {
            apply_revocation(&mut local, revocation, &filer.filer, context, next_index)
        }
        (Transaction::RegisterProject(registration), Signer::Filer(filer)) => {
            apply_registration(&mut local, registration, &filer.filer, context)
        }
        (Transaction::Governance(governance), Signer::Member(member)) => {
            apply_governance(&mut local, governance, member, context, next_index)
        }
        _ => unreachable!("authenticate answers a filer for filer transactions, a member else"),
    };
    match outcome {
        Ok(()) => {}
        Err(ApplyError::Rejected(error)) => {
            drop(local);
            state.put_record(
                replay_key,
                &AppliedTransaction {
                    height: context.height,
                    accepted: false,
                },
            );
            return Err(error.into());
        }
        Err(store) => return Err(store),
    };
    local.put_record(
        replay_key,
        &AppliedTransaction {
            height: context.height,
            accepted: true,
        },
    );
    let writes = local.into_writes();
    state.merge(writes);
    let entries = records
        .into_iter()
        .zip(next_index..)
        .map(|(record, index)| Entry {
            index,
            height: context.height,
            sequenced_at_ms: context.time_ms,
            record,
        })
        .collect();
    Ok(Applied { tx_id, entries })
}

/// What [`check_before_rules`] found: the transaction's id, its replay key and who signed it.
struct Checked {
    tx_id: Digest,
    replay_key: Vec<u8>,
    signer: Signer,
}

/// Every check of [`apply_prepared`] that comes before the contract's rules: the
/// transaction's size and form, that it was not applied before, and that a filer active at
/// the block's height (or a member's governance key) signed it. A refusal here leaves no mark
/// in state (nothing shows who signed it), which is why a node's ledger lets no block carry
/// such a transaction.
fn check_before_rules<S: StateStore + ?Sized>(
    state: &Overlay<'_, S>,
    prepared: &Prepared<'_>,
    context: &BlockContext<'_>,
) -> Result<Checked, ApplyError> {
    debug_assert_eq!(
        prepared.algorithm(),
        context.algorithm(),
        "a transaction prepared under another algorithm than the chain's"
    );
    let transaction = prepared.transaction();
    // A transaction built in memory rather than decoded may hold values the encoding's limits
    // forbid (an over-long identifier, say). Its entries could then never be decoded from the
    // log, so it must be refused exactly as its bytes would be. A decoded one is its bytes.
    let (size, decodes) = match prepared.encoded_len() {
        Some(len) => (len, Ok(())),
        None => {
            let bytes = transaction.to_canonical_bytes();
            (
                bytes.len(),
                Transaction::from_canonical_bytes(&bytes).map(drop),
            )
        }
    };
    let max = context.config.policy.limits.transaction_bytes_max as usize;
    if size > max {
        return Err(TxError::TooLarge { size, max }.into());
    }
    if let Transaction::Anchor(batch) = transaction {
        let max = (context.config.policy.limits.batch_len_max as usize).min(BATCH_LEN_MAX);
        if batch.anchors.is_empty() || batch.anchors.len() > max {
            return Err(TxError::BadBatchLength {
                len: batch.anchors.len(),
                max,
            }
            .into());
        }
    }
    if let Err(error) = decodes {
        return Err(TxError::Malformed(error).into());
    }
    // An anchor batch of a length no chain accepts has no batch tree, hence no id.
    let Some(tx_id) = prepared.id() else {
        return Err(TxError::BadBatchLength {
            len: 0,
            max: BATCH_LEN_MAX,
        }
        .into());
    };
    let replay_key = applied_transaction_key(&tx_id);
    if let Some(applied) = state.get_record::<AppliedTransaction>(&replay_key)? {
        return Err(TxError::Replayed {
            tx_id,
            height: applied.height,
        }
        .into());
    }

    let signer = authenticate(state, prepared, &tx_id, context)?;
    Ok(Checked {
        tx_id,
        replay_key,
        signer,
    })
}

/// The checks a transaction relayed by another member's node must pass before it waits in
/// this node's pool: all that [`apply_prepared`] checks before the contract's rules (see
/// [`check_before_rules`]), against committed `state`. A transaction that fails one of them
/// may not be carried by any block, or is refused before any rule runs; the rules themselves
/// run when a block carrying it is executed. Returns the transaction's id.
///
/// # Errors
/// [`ApplyError::Rejected`] with the check failed, or [`ApplyError::Store`].
pub fn check_relayed<S: StateStore + ?Sized>(
    state: &Overlay<'_, S>,
    prepared: &Prepared<'_>,
    context: &BlockContext<'_>,
) -> Result<Digest, ApplyError> {
    check_before_rules(state, prepared, context).map(|checked| checked.tx_id)
}

/// The outcome of executing a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One result per transaction, in block order; an accepted one carries its entries.
    pub results: Vec<Result<Applied, TxError>>,
    /// Every key whose value the block changed, with its new value, to be committed
    /// atomically with the block.
    pub writes: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The state root after the block: the root of the state tree (SPEC.md §11.3).
    pub state_root: Digest,
    /// The state tree's new root and the pages to store with the block.
    pub state_tree: TreeUpdate,
}

impl BlockOutcome {
    /// Every entry the block appends to the log, in order: the accepted transactions'.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.results
            .iter()
            .flatten()
            .flat_map(|applied| &applied.entries)
    }
}

/// A block holding at least this many documents (or other transactions) is prepared on several
/// threads ([`evidence_core::parallel`]), and one writing at least this many keys its rules
/// never read (a superseded version's) reads their old values on several threads: below it,
/// starting a thread costs more than it shares.
pub const PARALLEL_RECORDS_MIN: usize = 512;

/// Whether a block of `transactions` is worth preparing on several threads.
pub fn worth_splitting(transactions: &[Transaction]) -> bool {
    let records: usize = transactions
        .iter()
        .map(|tx| match tx {
            Transaction::Anchor(batch) => batch.anchors.len(),
            _ => 1,
        })
        .sum();
    transactions.len() > 1 && records >= PARALLEL_RECORDS_MIN
}

/// Executes `transactions` in order over `state`: each is applied or rejected on its own, the
/// accepted ones' writes are collected, and the state tree whose root after the parent block
/// is `parent_tree` (empty before block 1) is updated with them, giving the new state root.
///
/// # Errors
/// Only a store failure; rejected transactions are reported in `results`.
pub fn execute_block<S: StateStore + ?Sized>(
    state: &S,
    context: &BlockContext<'_>,
    parent_tree: Slot,
    transactions: &[Transaction],
) -> Result<BlockOutcome, StoreError> {
    let algorithm = context.algorithm();
    let prepared =
        evidence_core::parallel::map(transactions, worth_splitting(transactions), |tx| {
            Prepared::new(tx, algorithm)
        });
    execute_prepared_block(state, context, parent_tree, &prepared)
}

/// As [`execute_block`], for transactions prepared already (a node prepares the transactions
/// it decoded from a block with [`Prepared::decoded`]). What they append to the log, their
/// writes and the new root are the same as for [`execute_block`] of the same transactions.
///
/// # Errors
/// As [`execute_block`].
pub fn execute_prepared_block<S: StateStore + ?Sized>(
    state: &S,
    context: &BlockContext<'_>,
    parent_tree: Slot,
    transactions: &[Prepared<'_>],
) -> Result<BlockOutcome, StoreError> {
    let reads = BlockReads::new(state);
    let mut overlay = Overlay::new(&reads);
    let mut results = Vec::with_capacity(transactions.len());
    let mut next_index = context.log_size;
    for transaction in transactions {
        match apply_prepared(&mut overlay, transaction, context, next_index) {
            Ok(applied) => {
                next_index += applied.entries.len() as u64;
                results.push(Ok(applied));
            }
            Err(ApplyError::Rejected(error)) => results.push(Err(error)),
            Err(ApplyError::Store(error)) => return Err(error),
        }
    }
    let mut writes = overlay.into_writes();
    let seen = reads.into_seen();
    // Only changes count: a put that leaves a value as it was is not a write, so the state
    // root depends on the state alone and not on how an implementation reached it. The rules
    // read nearly every key they write, so most old values are known; the others are read
    // here, independently, so a large block's are shared over threads.
    let mut unchanged = Vec::new();
    let mut unread: Vec<(&Vec<u8>, &Vec<u8>)> = Vec::new();
    for (key, value) in &writes {
        match seen.get(key) {
            Some(old) if old.as_ref() == Some(value) => unchanged.push(key.clone()),
            Some(_) => {}
            None => unread.push((key, value)),
        }
    }
    let split = unread.len() >= PARALLEL_RECORDS_MIN;
    let kept = evidence_core::parallel::map(&unread, split, |(key, value)| {
        state.get(key).map(|old| old.as_ref() != Some(*value))
    });
    for ((key, _), kept) in unread.into_iter().zip(kept) {
        if !kept? {
            unchanged.push(key.clone());
        }
    }
    drop(seen);
    for key in unchanged {
        writes.remove(&key);
    }
    let algorithm = context.algorithm();
    let state_tree = update_state_tree(algorithm, state, parent_tree, context.height, &writes)?;
    let root = state_tree.root.unwrap_or(parent_tree);
    Ok(BlockOutcome {
        results,
        writes,
        state_root: Digest::new(algorithm, root.hash(algorithm)),
        state_tree,
    })
}

/// A filer as execution sees it: its genesis form (member, kinds) and, for a key registered on
/// the ledger, the source system its anchors must name.
#[derive(Debug, Clone)]
struct AuthorizedFiler {
    filer: Filer,
    source_system: Option<String>,
}

/// Who signed a transaction, once authenticated (one per transaction, on the stack).
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "one value per transaction, never stored; boxing would only add an allocation"
)]
enum Signer {
    /// A filer key active at the block's height.
    Filer(AuthorizedFiler),
    /// A governance key of this member.
    Member(String),
}

/// The filer `key` if it may file at the block's height: a genesis filer or one registered on
/// the ledger before this height, not revoked from this height or earlier.
fn active_filer<S: StateStore + ?Sized>(
    state: &Overlay<'_, S>,
    context: &BlockContext<'_>,
    key: &PublicKey,
) -> Result<AuthorizedFiler, ApplyError> {
    let record =
        crate::query::filer(state, context.genesis, key)?.ok_or(TxError::UnknownFiler(*key))?;
    if context.config.member(&record.member).is_none() {
        return Err(TxError::MemberRemoved {
            filer: *key,
            member: record.member,
        }
        .into());
    }
    if record.registered_height >= context.height {
        return Err(TxError::FilerNotYetActive {
            filer: *key,
            from_height: record.registered_height + 1,
        }
        .into());
    }
    if let Some(revocation) = &record.revocation
        && context.height >= revocation.effective_height
    {
        return Err(TxError::FilerRevoked {
            filer: *key,
            effective_height: revocation.effective_height,
        }
        .into());
    }
    Ok(AuthorizedFiler {
        filer: Filer {
            name: record.name,
            member: record.member,
            public_key: *key,
            kinds: record.kinds,
        },
        source_system: record.source_system,
    })
}

/// Who signed the transaction: a filer active at this height, or a member's governance key,
/// whose signature verifies. Checked before any rule, in this order: unknown signer (a filer
/// not yet active or revoked counts as unknown, with its own code), mixed filers in a batch,
/// bad signature.
fn authenticate<S: StateStore + ?Sized>(
    state: &Overlay<'_, S>,
    prepared: &Prepared<'_>,
    tx_id: &Digest,
    context: &BlockContext<'_>,
) -> Result<Signer, ApplyError> {
    let transaction = prepared.transaction();
    let signature = match transaction {
        Transaction::Anchor(batch) => &batch.signature,
        Transaction::Revoke(revocation) => &revocation.signature,
        Transaction::RegisterProject(registration) => &registration.signature,
        Transaction::Governance(governance) => &governance.signature,
    };
    let known = context
        .verified
        .is_some_and(|verified| verified.contains(tx_id, signature));
    let signer = match transaction {
        Transaction::Anchor(batch) => {
            let filer_key = batch.anchors[0].filer;
            let filer = active_filer(state, context, &filer_key)?;
            if let Some(other) = batch.anchors.iter().find(|a| a.filer != filer_key) {
                return Err(TxError::MixedFilers {
                    first: filer_key,
                    other: other.filer,
                }
                .into());
            }
            if !known {
                let root = batch_tree_of(prepared, batch)?.root();
                batch
                    .verify_root(context.algorithm(), &filer_key, &root)
                    .map_err(|_| TxError::BadSignature(filer_key))?;
            }
            Signer::Filer(filer)
        }
        Transaction::Revoke(revocation) => {
            let key = revocation.body.filer;
            let filer = active_filer(state, context, &key)?;
            if !known {
                revocation
                    .verify()
                    .map_err(|_| TxError::BadSignature(key))?;
            }
            Signer::Filer(filer)
        }
        Transaction::RegisterProject(registration) => {
            let key = registration.body.registrar;
            let filer = active_filer(state, context, &key)?;
            if !known {
                registration
                    .verify()
                    .map_err(|_| TxError::BadSignature(key))?;
            }
            Signer::Filer(filer)
        }
        Transaction::Governance(governance) => {
            let key = governance.body.signer;
            let member = context
                .config
                .governance_member(&key)
                .ok_or(TxError::UnknownGovernanceKey(key))?;
            if !known {
                governance
                    .verify()
                    .map_err(|_| TxError::BadSignature(key))?;
            }
            Signer::Member(member.id.clone())
        }
    };
    if !known && let Some(verified) = context.verified {
        verified.insert(tx_id, signature);
    }
    Ok(signer)
}

fn check_chain(context: &BlockContext<'_>, chain_id: &str) -> Result<(), TxError> {
    if chain_id == context.genesis.chain_id {
        Ok(())
    } else {
        Err(TxError::WrongChain {
            expected: context.genesis.chain_id.clone(),
            found: chain_id.to_owned(),
        })
    }
}

fn check_member(filer: &Filer, claimed: &str) -> Result<(), TxError> {
    if filer.member == claimed {
        Ok(())
    } else {
        Err(TxError::MemberMismatch {
            filer: filer.public_key,
            registered: filer.member.clone(),
            claimed: claimed.to_owned(),
        })
    }
}

/// A required field is empty when it has no bytes or only ASCII white space (tab, line feed,
/// form feed, carriage return, space): a byte-level rule every implementation can follow.
pub(crate) fn non_empty(field: &'static str, value: &str) -> Result<(), TxError> {
    if is_blank(value) {
        Err(TxError::EmptyField { field })
    } else {
        Ok(())
    }
}

fn is_blank(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_whitespace())
}

/// The write policy: the kind exists, the member may anchor it, and so may this filer.
fn check_kind_allowed(config: &Configuration, filer: &Filer, kind: &str) -> Result<(), TxError> {
    let policy = config
        .kind_policy(kind)
        .ok_or_else(|| TxError::UnknownKind(kind.to_owned()))?;
    if !policy.members.contains(&filer.member) {
        return Err(TxError::KindNotAllowedForMember {
            member: filer.member.clone(),
            kind: kind.to_owned(),
        });
    }
    if !filer.kinds.iter().any(|k| k == kind) {
        return Err(TxError::KindNotAllowedForFiler {
            filer: filer.public_key,
            kind: kind.to_owned(),
        });
    }
    Ok(())
}

fn apply_anchor_batch<S: StateStore + ?Sized>(
    state: &mut Overlay<'_, S>,
    batch: &SignedBatch,
    filer: &AuthorizedFiler,
    context: &BlockContext<'_>,
    first_index: u64,
) -> Result<(), ApplyError> {
    for (position, body) in batch.anchors.iter().enumerate() {
        let index = first_index + position as u64;
        apply_anchor(state, body, filer, context, index).map_err(|error| match error {
            ApplyError::Rejected(error) if batch.anchors.len() > 1 => {
                ApplyError::Rejected(TxError::InBatch {
                    position,
                    error: Box::new(error),
                })
            }
            other => other,
        })?;
    }
    Ok(())
}

/// A prepared anchor batch's tree. It exists whenever the transaction has an id (a batch of a
/// length any chain accepts), which [`apply_prepared`] checks first.
fn batch_tree_of<'p>(
    prepared: &'p Prepared<'_>,
    batch: &SignedBatch,
) -> Result<&'p MerkleLog<MemoryStore>, TxError> {
    prepared.batch_tree().ok_or(TxError::BadBatchLength {
        len: batch.anchors.len(),
        max: BATCH_LEN_MAX,
    })
}

/// The rules for one anchor: provenance, policy, lineage, and the milestone rules.
fn apply_anchor<S: StateStore + ?Sized>(
    state: &mut Overlay<'_, S>,
    body: &AnchorBody,
    authorized: &AuthorizedFiler,
    context: &BlockContext<'_>,
    entry_index: u64,
) -> Result<(), ApplyError> {
    let filer = &authorized.filer;
    check_chain(context, &body.chain_id)?;
    check_member(filer, &body.member)?;
    non_empty("project_id", &body.project_id)?;
    non_empty("document_id", &body.document_id)?;
    non_empty("source_system", &body.source_system)?;
    if let Some(registered) = &authorized.source_system
        && *registered != body.source_system
    {
        return Err(TxError::SourceSystemMismatch {
            filer: filer.public_key,
            registered: registered.clone(),
            found: body.source_system.clone(),
        }
        .into());
    }
    check_kind_allowed(context.config, filer, &body.kind)?;

    let is_payment = body.kind == FUND_TRANSFER;
    match (&body.claim, body.kind.as_str()) {
        (None, FUND_TRANSFER) => return Err(TxError::MissingPayment.into()),
        (Some(MilestoneClaim::Payment { .. }), FUND_TRANSFER) => {}
        (Some(MilestoneClaim::Inspection { .. }), INSPECTION_REPORT) => {}
        (None, _) => {}
        (Some(MilestoneClaim::Payment { .. }), kind) => {
            return Err(TxError::ClaimNotAllowed {
                kind: kind.to_owned(),
                claim: "a payment",
            }
            .into());
        }
        (Some(MilestoneClaim::Inspection { .. }), kind) => {
            return Err(TxError::ClaimNotAllowed {
                kind: kind.to_owned(),
                claim: "an inspection result",
            }
            .into());
        }
    }

    // Lineage.
    let doc_key = document_key(&body.member, &body.project_id, &body.document_id);
    let existing = state.get_record::<DocumentRecord>(&doc_key)?;
    let previous_passing = match &existing {
        None => {
            if body.document_version != 1 || body.supersedes.is_some() {
                return Err(TxError::NotAFirstVersion {
                    document_id: body.document_id.clone(),
                    version: body.document_version,
                }
                .into());
            }
            None
        }
        Some(document) => {
            if document.kind != body.kind {
                return Err(TxError::KindChanged {
                    document_id: body.document_id.clone(),
                    existing: document.kind.clone(),
                    found: body.kind.clone(),
                }
                .into());
            }
            if is_payment {
                return Err(TxError::PaymentRecordImmutable.into());
            }
            let expected = document.latest_version.saturating_add(1);
            if body.document_version != expected {
                return Err(TxError::VersionConflict {
                    document_id: body.document_id.clone(),
                    latest: document.latest_version,
                    expected,
                    found: body.document_version,
                }
                .into());
            }
            if body.supersedes != Some(document.latest_digest()) {
                return Err(TxError::SupersedesMismatch {
                    document_id: body.document_id.clone(),
                    version: body.document_version,
                    latest_digest: document.latest_digest(),
                    found: body.supersedes,
                }
                .into());
            }
            document.passing_milestone.clone()
        }
    };

    // Milestone rules.
    let mut passing_milestone = None;
    match &body.claim {
        Some(MilestoneClaim::Payment {
            milestone,
            amount_minor,
        }) => apply_payment(state, &body.project_id, milestone, *amount_minor)?,
        Some(MilestoneClaim::Inspection { milestone, passed }) => {
            if let Some(project) =
                state.get_record::<ProjectRecord>(&project_key(&body.project_id))?
                && project.milestone(milestone).is_none()
            {
                return Err(TxError::UnknownMilestone {
                    project_id: body.project_id.clone(),
                    milestone: milestone.clone(),
                }
                .into());
            }
            if *passed {
                passing_milestone = Some(milestone.clone());
            }
        }
        None => {}
    }
    // The latest version of a report decides: withdraw the previous version's pass, then
    // record this version's.
    if let Some(milestone) = &previous_passing {
        update_evidence(state, &body.project_id, milestone, |e| {
            e.remove(&report_ref(&body.member, &body.document_id))
        })?;
    }
    if let Some(milestone) = &passing_milestone {
        update_evidence(state, &body.project_id, milestone, |e| {
            e.add(report_ref(&body.member, &body.document_id))
        })?;
    }

    // Record the version; the one it supersedes, marked so, moves to its own key.
    if let Some(document) = existing {
        // Whether or not the filer revoked it, the previous version is now superseded: the
        // record keeps both facts (SPEC.md §11.2).
        let mut old = document.latest;
        old.superseded_by = Some(Supersession {
            version: body.document_version,
            digest: body.digest,
            height: context.height,
        });
        state.put_record(
            version_key(
                &body.member,
                &body.project_id,
                &body.document_id,
                document.latest_version,
            ),
            &old,
        );
    }
    state.put_record(
        doc_key,
        &DocumentRecord {
            kind: body.kind.clone(),
            member: body.member.clone(),
            latest_version: body.document_version,
            passing_milestone,
            latest: VersionRecord {
                digest: body.digest,
                entry_index,
                height: context.height,
                superseded_by: None,
                revocation: None,
            },
        },
    );
    Ok(())
}

fn report_ref(member: &str, document_id: &str) -> ReportRef {
    ReportRef {
        member: member.to_owned(),
        document_id: document_id.to_owned(),
    }
}

fn update_evidence<S: StateStore + ?Sized>(
    state: &mut Overlay<'_, S>,
    project_id: &str,
    milestone: &str,
    change: impl FnOnce(&mut MilestoneEvidence),
) -> Result<(), StoreError> {
    let key = milestone_evidence_key(project_id, milestone);
    let mut evidence = state
        .get_record::<MilestoneEvidence>(&key)?
        .unwrap_or_default();
    change(&mut evidence);
    state.put_record(key, &evidence);
    Ok(())
}

/// 按节点拨付 and 超付预警: a payment needs a passed inspection of its milestone, and may not
/// take the milestone or the contract past its value.
fn apply_payment<S: StateStore + ?Sized>(
    state: &mut Overlay<'_, S>,
    project_id: &str,
    milestone: &str,
    amount: u64,
) -> Result<(), ApplyError> {
    if amount == 0 {
        return Err(TxError::ZeroAmount.into());
    }
    let key = project_key(project_id);
    let mut project = state
        .get_record::<ProjectRecord>(&key)?
        .ok_or_else(|| TxError::UnknownProject(project_id.to_owned()))?;
    let total = project.total_value_minor;
    let project_paid = project.paid_minor;
    let account = project
        .milestone_mut(milestone)
        .ok_or_else(|| TxError::UnknownMilestone {
            project_id: project_id.to_owned(),
            milestone: milestone.to_owned(),
        })?;
    let evidence = state
        .get_record::<MilestoneEvidence>(&milestone_evidence_key(project_id, milestone))?
        .unwrap_or_default();
    if evidence.passing_reports.is_empty() {
        return Err(TxError::MilestoneNotInspected {
            project_id: project_id.to_owned(),
            milestone: milestone.to_owned(),
        }
        .into());
    }
    let milestone_paid = account
        .paid_minor
        .checked_add(amount)
        .filter(|paid| *paid <= account.amount_minor)
        .ok_or_else(|| TxError::MilestoneOverpayment {
            milestone: milestone.to_owned(),
            paid: account.paid_minor,
            amount,
            limit: account.amount_minor,
        })?;
    let contract_paid = project_paid
        .checked_add(amount)
        .filter(|paid| *paid <= total)
        .ok_or_else(|| TxError::ContractOverpayment {
            project_id: project_id.to_owned(),
            paid: project_paid,
            amount,
            limit: total,
        })?;
    account.paid_minor = milestone_paid;
    project.paid_minor = contract_paid;
    state.put_record(key, &project);
    Ok(())
}

fn apply_revocation<S: StateStore + ?Sized>(
    state: &mut Overlay<'_, S>,
    revocation: &SignedRevocation,
    filer: &Filer,
    context: &BlockContext<'_>,
    entry_index: u64,
) -> Result<(), ApplyError> {
    let body = &revocation.body;
    check_chain(context, &body.chain_id)?;
    check_member(filer, &body.member)?;
    non_empty("reason", &body.reason)?;
    let doc_key = document_key(&body.member, &body.project_id, &body.document_id);
    let unknown = || TxError::UnknownVersion {
        document_id: body.document_id.clone(),
        version: body.document_version,
    };
    let mut document = state
        .get_record::<DocumentRecord>(&doc_key)?
        .ok_or_else(unknown)?;
    check_kind_allowed(context.config, filer, &document.kind)?;
    if document.kind == FUND_TRANSFER {
        return Err(TxError::PaymentRecordImmutable.into());
    }
    let latest = body.document_version == document.latest_version;
    let stored = if latest {
        document.latest.clone()
    } else if body.document_version < document.latest_version {
        state
            .get_record::<VersionRecord>(&version_key(
                &body.member,
                &body.project_id,
                &body.document_id,
                body.document_version,
            ))?
            .ok_or_else(unknown)?
    } else {
        return Err(unknown().into());
    };
    if stored.digest != body.digest {
        return Err(TxError::RevokedDigestMismatch {
            document_id: body.document_id.clone(),
            version: body.document_version,
            stored: stored.digest,
            stated: body.digest,
        }
        .into());
    }
    if stored.revocation.is_some() {
        return Err(TxError::AlreadyRevoked {
            document_id: body.document_id.clone(),
            version: body.document_version,
        }
        .into());
    }
    let revocation_record = Some(VersionRevocation {
        reason: body.reason.clone(),
        entry_index,
        height: context.height,
    });
    if latest {
        document.latest.revocation = revocation_record;
        // Revoking the latest version of a passing report withdraws its pass.
        if let Some(milestone) = document.passing_milestone.take() {
            update_evidence(state, &body.project_id, &milestone, |e| {
                e.remove(&report_ref(&body.member, &body.document_id))
            })?;
        }
        state.put_record(doc_key, &document);
    } else {
        let mut version = stored;
        version.revocation = revocation_record;
        state.put_record(
            version_key(
                &body.member,
                &body.project_id,
                &body.document_id,
                body.document_version,
            ),
            &version,
        );
    }
    Ok(())
}

fn apply_registration<S: StateStore + ?Sized>(
    state: &mut Overlay<'_, S>,
    registration: &SignedRegistration,
    filer: &Filer,
    context: &BlockContext<'_>,
) -> Result<(), ApplyError> {
    let body = &registration.body;
    check_chain(context, &body.chain_id)?;
    check_member(filer, &body.member)?;
    if !context
        .config
        .policy
        .project_registrars
        .contains(&body.member)
    {
        return Err(TxError::NotARegistrar(body.member.clone()).into());
    }
    non_empty("project_id", &body.project_id)?;
    let key = project_key(&body.project_id);
    if state.get(&key)?.is_some() {
        return Err(TxError::ProjectAlreadyRegistered(body.project_id.clone()).into());
    }
    let invalid = |reason: String| ApplyError::Rejected(TxError::InvalidContract(reason));
    if body.total_value_minor == 0 {
        return Err(invalid("the total value must be more than zero".to_owned()));
    }
    if body.milestones.is_empty() || body.milestones.len() > MILESTONES_MAX {
        return Err(invalid(format!(
            "a contract has 1 to {MILESTONES_MAX} milestones, got {}",
            body.milestones.len()
        )));
    }
    let mut milestones: Vec<MilestoneAccount> = Vec::with_capacity(body.milestones.len());
    for milestone in &body.milestones {
        if is_blank(&milestone.id) {
            return Err(invalid("a milestone id is empty".to_owned()));
        }
        if milestones.iter().any(|m| m.id == milestone.id) {
            return Err(invalid(format!(
                "milestone {:?} is listed twice",
                milestone.id
            )));
        }
        if milestone.amount_minor == 0 || milestone.amount_minor > body.total_value_minor {
            return Err(invalid(format!(
                "milestone {:?} amount {} must be between 1 and the total value {}",
                milestone.id, milestone.amount_minor, body.total_value_minor
            )));
        }
        milestones.push(MilestoneAccount {
            id: milestone.id.clone(),
            amount_minor: milestone.amount_minor,
            paid_minor: 0,
        });
    }
    state.put_record(
        key,
        &ProjectRecord {
            registrar_member: body.member.clone(),
            total_value_minor: body.total_value_minor,
            paid_minor: 0,
            milestones,
        },
    );
    Ok(())
}

/// A member's governance transaction: its filers' registrations and revocations (SPEC.md §11.4).
fn apply_governance<S: StateStore + ?Sized>(
    state: &mut Overlay<'_, S>,
    governance: &SignedGovernance,
    member: &str,
    context: &BlockContext<'_>,
    entry_index: u64,
) -> Result<(), ApplyError> {
    let body = &governance.body;
    check_chain(context, &body.chain_id)?;
    if body.member != member {
        return Err(TxError::GovernanceMemberMismatch {
            key: body.signer,
            registered: member.to_owned(),
            claimed: body.member.clone(),
        }
        .into());
    }
    match &body.action {
        GovernanceAction::RegisterFiler(registration) => {
            register_filer(state, registration, member, context, entry_index)?;
        }
        GovernanceAction::RevokeFiler(revocation) => {
            revoke_filer(state, revocation, member, context, entry_index)?;
        }
        GovernanceAction::RotateFiler { revoke, register } => {
            revoke_filer(state, revoke, member, context, entry_index)?;
            register_filer(state, register, member, context, entry_index)?;
        }
        GovernanceAction::Propose(proposal) => {
            crate::proposals::propose(state, proposal, member, context, entry_index)?;
        }
        GovernanceAction::Vote(vote) => {
            crate::proposals::vote(state, vote, member, context, entry_index)?;
        }
    }
    Ok(())
}

/// Every key a chain gives a role uses the chain's signature algorithm (SPEC.md §10.3, §11.4).
pub(crate) fn check_key_algorithm(genesis: &Genesis, key: &PublicKey) -> Result<(), TxError> {
    let expected = genesis.suite.signature;
    if key.algorithm() == expected {
        Ok(())
    } else {
        Err(TxError::WrongKeyAlgorithm {
            key: *key,
            expected,
        })
    }
}

/// Whether `key` has ever been a key of the consortium: a genesis validator, governance or
/// filer key, a filer key registered on the ledger or a governance or validator key an
/// accepted proposal gave (revoked, replaced and removed ones included: a key is never given
/// a second life).
pub(crate) fn key_in_use<S: StateStore + ?Sized>(
    state: &Overlay<'_, S>,
    genesis: &Genesis,
    key: &PublicKey,
) -> Result<bool, StoreError> {
    Ok(genesis.validators.iter().any(|v| v.public_key == *key)
        || genesis
            .members
            .iter()
            .any(|m| m.governance_keys.contains(key))
        || genesis.filer(key).is_some()
        || state.get(&filer_key(key))?.is_some()
        || state.get(&governance_key_key(key))?.is_some())
}

fn register_filer<S: StateStore + ?Sized>(
    state: &mut Overlay<'_, S>,
    registration: &FilerRegistration,
    member: &str,
    context: &BlockContext<'_>,
    entry_index: u64,
) -> Result<(), ApplyError> {
    non_empty("name", &registration.name)?;
    non_empty("source_system", &registration.source_system)?;
    for (i, kind) in registration.kinds.iter().enumerate() {
        if registration.kinds[..i].contains(kind) {
            return Err(TxError::InvalidFilerRegistration(format!(
                "kind {kind:?} is listed twice"
            ))
            .into());
        }
        let policy = context
            .config
            .kind_policy(kind)
            .ok_or_else(|| TxError::UnknownKind(kind.clone()))?;
        if !policy.members.iter().any(|m| m == member) {
            return Err(TxError::KindNotAllowedForMember {
                member: member.to_owned(),
                kind: kind.clone(),
            }
            .into());
        }
    }
    let key = registration.public_key;
    check_key_algorithm(context.genesis, &key)?;
    if key.is_small_order() {
        return Err(TxError::InvalidFilerRegistration(format!(
            "{key} is of small order: no signature by it can verify"
        ))
        .into());
    }
    if key_in_use(state, context.genesis, &key)? {
        return Err(TxError::FilerKeyInUse(key).into());
    }
    state.put_record(
        filer_key(&key),
        &FilerRecord {
            name: registration.name.clone(),
            member: member.to_owned(),
            kinds: registration.kinds.clone(),
            source_system: Some(registration.source_system.clone()),
            registered_height: context.height,
            registration_entry_index: Some(entry_index),
            revocation: None,
        },
    );
    Ok(())
}

fn revoke_filer<S: StateStore + ?Sized>(
    state: &mut Overlay<'_, S>,
    revocation: &FilerRevocation,
    member: &str,
    context: &BlockContext<'_>,
    entry_index: u64,
) -> Result<(), ApplyError> {
    non_empty("reason", &revocation.reason)?;
    let key = revocation.public_key;
    let mut record =
        crate::query::filer(state, context.genesis, &key)?.ok_or(TxError::NotAFiler(key))?;
    if record.member != member {
        return Err(TxError::MemberMismatch {
            filer: key,
            registered: record.member,
            claimed: member.to_owned(),
        }
        .into());
    }
    if let Some(earlier) = &record.revocation {
        return Err(TxError::FilerAlreadyRevoked {
            filer: key,
            effective_height: earlier.effective_height,
        }
        .into());
    }
    if revocation.effective_height <= record.registered_height {
        return Err(TxError::BadEffectiveHeight {
            filer: key,
            registered_height: record.registered_height,
            effective_height: revocation.effective_height,
        }
        .into());
    }
    record.revocation = Some(FilerRevocationRecord {
        effective_height: revocation.effective_height,
        reason: revocation.reason.clone(),
        entry_index,
        height: context.height,
    });
    state.put_record(filer_key(&key), &record);
    Ok(())
}
