//! Contract state: a key-value view the node backs with RocksDB, an in-memory store for tests
//! and light use, the write overlay that makes a rejected transaction leave no trace, and the
//! typed records stored under each key (SPEC.md §11).
//!
//! Nothing is ever deleted: every write is a put, and history lives in the log.

use std::collections::BTreeMap;

use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use evidence_core::entry::{ID_LEN_MAX, REASON_LEN_MAX};
use evidence_core::governance::{Change, FILER_KINDS_MAX, SUMMARY_LEN_MAX};
use evidence_core::keys::PublicKey;
pub use evidence_core::records::{
    DocumentRecord, MilestoneAccount, ProjectRecord, Supersession, VersionRecord,
    VersionRevocation, VersionStatus, document_key, project_key, version_key,
};
use evidence_core::state_tree::{
    self, MemoryPages, NodeHash, Page, PageReader, Slot, TreeError, TreeUpdate,
};
use thiserror::Error;

/// A storage failure. Execution stops on it: it says nothing about the transaction.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("state store failed: {0}")]
pub struct StoreError(pub String);

/// Read access to committed state. A large block reads its old values and its state tree's
/// pages from several threads at once, hence `Sync`.
pub trait StateStore: Sync {
    /// The value stored under `key`, if any.
    ///
    /// # Errors
    /// The store could not be read.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The state tree's page at `path` written at `height` (SPEC.md §11.3), if any.
    ///
    /// # Errors
    /// The store could not be read.
    fn tree_page(&self, path: &[u8], height: u64) -> Result<Option<Page>, StoreError>;
}

/// State held in memory, ordered by key, with the pages of its state tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryState {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    pages: MemoryPages,
}

impl MemoryState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a block's writes.
    pub fn apply(&mut self, writes: &BTreeMap<Vec<u8>, Vec<u8>>) {
        for (key, value) in writes {
            self.entries.insert(key.clone(), value.clone());
        }
    }

    /// Keeps the state-tree pages block `height` wrote.
    pub fn apply_tree(&mut self, height: u64, update: &TreeUpdate) {
        self.pages.apply(height, update);
    }

    /// Every key and value, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&Vec<u8>, &Vec<u8>)> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl StateStore for MemoryState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.entries.get(key).cloned())
    }

    fn tree_page(&self, path: &[u8], height: u64) -> Result<Option<Page>, StoreError> {
        let Ok(page) = self.pages.page(path, height);
        Ok(page)
    }
}

/// Committed state as one block's execution reads it: each value read from `base` is kept, so
/// a key read again costs no second read of the store. A block reads some keys once per
/// transaction (its filers' records), and the check that drops unchanged values reads every
/// written key's old value, most of which the rules read already. Sound only while `base`
/// does not change during the block's execution: the node executes and commits blocks on one
/// thread at a time (its consensus host), so no commit lands in between. State-tree pages
/// are passed through.
#[derive(Debug)]
pub struct BlockReads<'a, S: StateStore + ?Sized> {
    base: &'a S,
    seen: std::sync::Mutex<std::collections::HashMap<Vec<u8>, Option<Vec<u8>>>>,
}

impl<'a, S: StateStore + ?Sized> BlockReads<'a, S> {
    pub fn new(base: &'a S) -> Self {
        Self {
            base,
            seen: std::sync::Mutex::default(),
        }
    }

    /// The values read, by key (`None` for a key the store did not hold).
    pub fn into_seen(self) -> std::collections::HashMap<Vec<u8>, Option<Vec<u8>>> {
        self.seen
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn seen(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<Vec<u8>, Option<Vec<u8>>>> {
        // A panic while the map was held left it whole: each insert is one call.
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<S: StateStore + ?Sized> StateStore for BlockReads<'_, S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = self.seen().get(key) {
            return Ok(value.clone());
        }
        let value = self.base.get(key)?;
        self.seen().insert(key.to_vec(), value.clone());
        Ok(value)
    }

    fn tree_page(&self, path: &[u8], height: u64) -> Result<Option<Page>, StoreError> {
        self.base.tree_page(path, height)
    }
}

/// Buffered writes over a base store; reads see the buffer first.
#[derive(Debug)]
pub struct Overlay<'a, S: StateStore + ?Sized> {
    base: &'a S,
    writes: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl<'a, S: StateStore + ?Sized> Overlay<'a, S> {
    pub fn new(base: &'a S) -> Self {
        Self {
            base,
            writes: BTreeMap::new(),
        }
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, value);
    }

    pub fn writes(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.writes
    }

    pub fn into_writes(self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.writes
    }

    /// Moves `writes` into this overlay (a transaction's writes into its block's).
    pub fn merge(&mut self, writes: BTreeMap<Vec<u8>, Vec<u8>>) {
        self.writes.extend(writes);
    }

    /// Reads and decodes a typed record.
    ///
    /// # Errors
    /// The store failed, or the stored bytes do not decode (corruption, reported as a store
    /// error because it says nothing about the transaction).
    pub fn get_record<T: Decode>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.get(key)? {
            None => Ok(None),
            Some(bytes) => T::from_canonical_bytes(&bytes).map(Some).map_err(|e| {
                StoreError(format!(
                    "stored value under key {} is corrupt: {e}",
                    hex_key(key)
                ))
            }),
        }
    }

    pub fn put_record<T: Encode>(&mut self, key: Vec<u8>, value: &T) {
        self.put(key, value.to_canonical_bytes());
    }
}

impl<S: StateStore + ?Sized> StateStore for Overlay<'_, S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.writes.get(key) {
            Some(value) => Ok(Some(value.clone())),
            None => self.base.get(key),
        }
    }

    fn tree_page(&self, path: &[u8], height: u64) -> Result<Option<Page>, StoreError> {
        self.base.tree_page(path, height)
    }
}

/// The committed pages of a state store, as the state tree reads them.
#[derive(Debug)]
pub struct StatePages<'a, S: StateStore + ?Sized>(pub &'a S);

impl<S: StateStore + ?Sized> PageReader for StatePages<'_, S> {
    type Error = StoreError;

    fn page(&self, path: &[u8], height: u64) -> Result<Option<Page>, StoreError> {
        self.0.tree_page(path, height)
    }
}

/// Whether `key` is in the state tree: every state key but the consumed transactions' (`'t'`),
/// which replay protection needs and no verifier asks about (SPEC.md §11.3).
pub fn in_state_tree(key: &[u8]) -> bool {
    key.first() != Some(&tag::APPLIED_TRANSACTION)
}

/// Updates the state tree whose root is `parent` with a block's `writes` (SPEC.md §11.3): each
/// key of the tree written takes the hash of its new value. Returns the pages to store and the
/// new root.
///
/// # Errors
/// A page of the tree cannot be read, or is missing.
pub fn update_state_tree<S: StateStore + ?Sized>(
    algorithm: HashAlgorithm,
    state: &S,
    parent: Slot,
    height: u64,
    writes: &BTreeMap<Vec<u8>, Vec<u8>>,
) -> Result<TreeUpdate, StoreError> {
    let changes: BTreeMap<NodeHash, Option<NodeHash>> = writes
        .iter()
        .filter(|(key, _)| in_state_tree(key))
        .map(|(key, value)| {
            (
                state_tree::key_hash(algorithm, key),
                Some(state_tree::value_hash(algorithm, value)),
            )
        })
        .collect();
    state_tree::update(algorithm, &StatePages(state), parent, height, &changes).map_err(|e| match e
    {
        TreeError::Store(error) => error,
        missing @ TreeError::MissingPage { .. } => StoreError(missing.to_string()),
    })
}

fn hex_key(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Key tags. Every key is a tag byte followed by canonically encoded parts, so no two
/// distinct keys can collide. The document, version and project tags are
/// [`evidence_core::records::tag`]'s.
mod tag {
    pub(super) const APPLIED_TRANSACTION: u8 = b't';
    pub(super) const MILESTONE_EVIDENCE: u8 = b'm';
    pub(super) const FILER: u8 = b'f';
    pub(super) const CONFIGURATION: u8 = b'c';
    pub(super) const PROPOSAL: u8 = b'g';
    pub(super) const GOVERNANCE_KEY: u8 = b'k';
    pub(super) const REMOVED_MEMBER: u8 = b'r';
}

/// The configuration in force from the next height (under this key, a single byte): written
/// when a proposal is accepted. Absent, the genesis configuration is in force.
pub fn configuration_key() -> Vec<u8> {
    vec![tag::CONFIGURATION]
}

/// A proposal's record (under this key), from the transaction that proposed it on.
pub fn proposal_key(proposal_id: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(tag::PROPOSAL).str(proposal_id);
    w.into_bytes()
}

/// The tag every proposal record's key starts with.
pub fn proposal_prefix() -> Vec<u8> {
    vec![tag::PROPOSAL]
}

/// A governance or validator key given to a member by an accepted proposal (value: the
/// member's id), kept after the key is replaced, so no key of the consortium is ever used
/// again.
pub fn governance_key_key(public_key: &PublicKey) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(tag::GOVERNANCE_KEY).put(public_key);
    w.into_bytes()
}

/// A member removed by an accepted proposal (value: `u64` the height that accepted it): its id
/// is never given to another member, since its documents stay on the ledger under that id.
pub fn removed_member_key(member: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(tag::REMOVED_MEMBER).str(member);
    w.into_bytes()
}

/// The tag every filer record's key starts with.
pub fn filer_prefix() -> Vec<u8> {
    vec![tag::FILER]
}

/// A filer key's record (under [`filer_key`]): written when a member registers the key, and
/// when a genesis or registered filer key is revoked.
pub fn filer_key(public_key: &PublicKey) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(tag::FILER).put(public_key);
    w.into_bytes()
}

pub fn applied_transaction_key(tx_id: &Digest) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(tag::APPLIED_TRANSACTION).put(tx_id);
    w.into_bytes()
}

pub fn milestone_evidence_key(project_id: &str, milestone: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(tag::MILESTONE_EVIDENCE).str(project_id).str(milestone);
    w.into_bytes()
}

fn read_id(reader: &mut Reader<'_>, what: &'static str) -> Result<String, DecodeError> {
    Ok(reader.str_max(ID_LEN_MAX, what)?.to_owned())
}

/// A consumed transaction id (under [`applied_transaction_key`]): the block that carried the
/// authentic transaction, and whether its rules passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedTransaction {
    pub height: u64,
    pub accepted: bool,
}

impl Encode for AppliedTransaction {
    fn encode(&self, writer: &mut Writer) {
        writer.u64(self.height).bool(self.accepted);
    }
}

impl Decode for AppliedTransaction {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            height: reader.u64("height")?,
            accepted: reader.bool("accepted")?,
        })
    }
}

/// An inspection report, named by its filing member and document id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReportRef {
    pub member: String,
    pub document_id: String,
}

/// The inspection reports whose current version passed a milestone (under
/// [`milestone_evidence_key`]), sorted by member, then document id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MilestoneEvidence {
    pub passing_reports: Vec<ReportRef>,
}

impl MilestoneEvidence {
    pub fn add(&mut self, report: ReportRef) {
        if let Err(at) = self.passing_reports.binary_search(&report) {
            self.passing_reports.insert(at, report);
        }
    }

    pub fn remove(&mut self, report: &ReportRef) {
        if let Ok(at) = self.passing_reports.binary_search(report) {
            self.passing_reports.remove(at);
        }
    }

    /// The passing reports' document ids, in order.
    pub fn document_ids(&self) -> Vec<&str> {
        self.passing_reports
            .iter()
            .map(|r| r.document_id.as_str())
            .collect()
    }
}

impl Encode for MilestoneEvidence {
    fn encode(&self, writer: &mut Writer) {
        writer.seq(&self.passing_reports, |w, r| {
            w.str(&r.member).str(&r.document_id);
        });
    }
}

impl Decode for MilestoneEvidence {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            passing_reports: reader.seq("passing reports", |r| {
                Ok(ReportRef {
                    member: read_id(r, "member")?,
                    document_id: read_id(r, "document id")?,
                })
            })?,
        })
    }
}

/// A filer key and what it may do (under [`filer_key`]). Genesis filers have no record until
/// one is revoked; [`crate::query::filer`] answers for both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilerRecord {
    pub name: String,
    pub member: String,
    pub kinds: Vec<String>,
    /// The source system its anchors must name; `None` for a genesis filer (any).
    pub source_system: Option<String>,
    /// The height that registered it; 0 for a genesis filer.
    pub registered_height: u64,
    /// The log entry that registered it; `None` for a genesis filer.
    pub registration_entry_index: Option<u64>,
    pub revocation: Option<FilerRevocationRecord>,
}

/// When and why a filer key was revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilerRevocationRecord {
    /// The first height at which the key may no longer file.
    pub effective_height: u64,
    pub reason: String,
    /// The log entry that revoked it, and that entry's height.
    pub entry_index: u64,
    pub height: u64,
}

impl FilerRecord {
    /// Whether the key may still file at `height`.
    pub fn is_active_at(&self, height: u64) -> bool {
        self.revocation
            .as_ref()
            .is_none_or(|revocation| height < revocation.effective_height)
    }
}

impl Encode for FilerRecord {
    fn encode(&self, writer: &mut Writer) {
        writer
            .str(&self.name)
            .str(&self.member)
            .seq(&self.kinds, |w, kind| {
                w.str(kind);
            })
            .option(self.source_system.as_ref(), |w, source| {
                w.str(source);
            })
            .u64(self.registered_height)
            .option(self.registration_entry_index.as_ref(), |w, index| {
                w.u64(*index);
            })
            .option(self.revocation.as_ref(), |w, revocation| {
                w.u64(revocation.effective_height)
                    .str(&revocation.reason)
                    .u64(revocation.entry_index)
                    .u64(revocation.height);
            });
    }
}

impl Decode for FilerRecord {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            name: read_id(reader, "filer name")?,
            member: read_id(reader, "filer member")?,
            kinds: reader.seq_max(FILER_KINDS_MAX, "filer kinds", |r| read_id(r, "kind"))?,
            source_system: reader.option("source system", |r| read_id(r, "source system"))?,
            registered_height: reader.u64("registration height")?,
            registration_entry_index: reader
                .option("registration entry", |r| r.u64("registration entry index"))?,
            revocation: reader.option("filer revocation", |r| {
                Ok(FilerRevocationRecord {
                    effective_height: r.u64("effective height")?,
                    reason: r.str_max(REASON_LEN_MAX, "revocation reason")?.to_owned(),
                    entry_index: r.u64("revocation entry index")?,
                    height: r.u64("revocation height")?,
                })
            })?,
        })
    }
}

/// A proposal of the members together (under [`proposal_key`]): what it changes, the votes
/// cast, and whether it is still open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalRecord {
    /// The member that proposed it (its approval is the first vote).
    pub proposer: String,
    /// The height and the log entry that proposed it.
    pub height: u64,
    pub entry_index: u64,
    /// The last block time at which a vote counts.
    pub expires_at_ms: u64,
    pub summary: String,
    pub changes: Vec<Change>,
    /// Every vote, in the order cast, the proposer's first.
    pub votes: Vec<VoteRecord>,
    pub status: ProposalStatus,
}

/// One member's vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteRecord {
    pub member: String,
    pub approve: bool,
    /// The height and the log entry that cast it.
    pub height: u64,
    pub entry_index: u64,
}

/// Where a proposal stands. An open proposal whose expiry has passed is expired: it takes no
/// more votes and never takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalStatus {
    /// Taking votes (tag 1).
    Open,
    /// The approving members met the threshold at `height`; its changes are in force from the
    /// next height (tag 2).
    Accepted { height: u64 },
    /// So many members rejected it at `height` that it can no longer be accepted (tag 3).
    Rejected { height: u64 },
}

impl ProposalStatus {
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Accepted { .. } => "accepted",
            Self::Rejected { .. } => "rejected",
        }
    }
}

impl ProposalRecord {
    /// The name of its status at block time `time_ms`: `open`, `expired`, `accepted` or
    /// `rejected`.
    pub fn status_at(&self, time_ms: u64) -> &'static str {
        match self.status {
            ProposalStatus::Open if time_ms > self.expires_at_ms => "expired",
            status => status.name(),
        }
    }

    /// Whether `member` has voted.
    pub fn has_voted(&self, member: &str) -> bool {
        self.votes.iter().any(|vote| vote.member == member)
    }
}

impl Encode for ProposalRecord {
    fn encode(&self, writer: &mut Writer) {
        writer
            .str(&self.proposer)
            .u64(self.height)
            .u64(self.entry_index)
            .u64(self.expires_at_ms)
            .str(&self.summary)
            .seq(&self.changes, |w, change| {
                w.put(change);
            })
            .seq(&self.votes, |w, vote| {
                w.str(&vote.member)
                    .bool(vote.approve)
                    .u64(vote.height)
                    .u64(vote.entry_index);
            });
        match self.status {
            ProposalStatus::Open => writer.u8(1),
            ProposalStatus::Accepted { height } => writer.u8(2).u64(height),
            ProposalStatus::Rejected { height } => writer.u8(3).u64(height),
        };
    }
}

impl Decode for ProposalRecord {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            proposer: read_id(reader, "proposer")?,
            height: reader.u64("proposal height")?,
            entry_index: reader.u64("proposal entry index")?,
            expires_at_ms: reader.u64("proposal expiry")?,
            summary: reader
                .str_max(SUMMARY_LEN_MAX, "proposal summary")?
                .to_owned(),
            changes: reader.seq("changes", Reader::get)?,
            votes: reader.seq("votes", |r| {
                Ok(VoteRecord {
                    member: read_id(r, "voting member")?,
                    approve: r.bool("approval")?,
                    height: r.u64("vote height")?,
                    entry_index: r.u64("vote entry index")?,
                })
            })?,
            status: match reader.u8("proposal status")? {
                1 => ProposalStatus::Open,
                2 => ProposalStatus::Accepted {
                    height: reader.u64("acceptance height")?,
                },
                3 => ProposalStatus::Rejected {
                    height: reader.u64("rejection height")?,
                },
                tag => {
                    return Err(DecodeError::UnknownTag {
                        what: "proposal status",
                        tag,
                    });
                }
            },
        })
    }
}
