//! The node's database: one RocksDB instance with a column family per kind of record.
//!
//! | column family   | key                                         | value                       |
//! |-----------------|---------------------------------------------|-----------------------------|
//! | `meta`          | `height`                                    | committed height (u64 BE)   |
//! | `meta`          | `tree_root/` ‖ height (u64 BE)              | the state tree's root slot after that height |
//! | `blocks`        | height (u64 BE)                             | block bytes (header + txs)  |
//! | `headers`       | height                                      | header bytes                |
//! | `certificates`  | height                                      | commit certificate bytes    |
//! | `entries`       | a block's first entry index (u64 BE)        | where its entries come from ([`EntrySpans`]) |
//! | `log_nodes`     | level (u8, 4 or more) ‖ index (u64 BE)      | 32-byte subtree hash        |
//! | `by_digest`     | digest bytes ‖ entry index                  | empty                       |
//! | `by_document`   | member ‖ project ‖ document id ‖ entry index | empty (strings length-prefixed) |
//! | `by_project`    | project ‖ entry index                       | empty                       |
//! | `transactions`  | transaction id bytes                        | [`TransactionRecord`]       |
//! | `state`         | contract state key                          | contract state value        |
//! | `state_tree`    | nibble count (u8) ‖ nibbles ‖ height (u64 BE) | state-tree page ([`Page`]) |
//! | `pending`       | block hash bytes                            | undecided proposal bytes    |
//!
//! An entry is not stored as such: it is a function of the transaction that appended it
//! (`Prepared::records` in the contracts), which the block holds, so the `entries` family keeps
//! one row a block saying which of its transactions appended how many entries, and the ledger
//! derives an entry from the block when asked. Storing each entry as well (its batch path,
//! signature and body again) took about 200 bytes a document and one row. For the same reason
//! the log's Merkle nodes are stored from level [`LOG_LEVEL_STORED_MIN`] up: a lower node is
//! hashed again from at most 8 entries.
//!
//! Everything a committed block changes is written in one synced [`WriteBatch`]
//! ([`Store::commit`]): after a crash the database holds every block it acknowledged, and
//! nothing of a block it did not. Only complete Merkle subtrees are stored, so any inclusion
//! or consistency proof reads `O(log n)` nodes.
//!
//! The same store also runs over memory ([`Store::memory`], [`MemoryDatabase`]) for the
//! deterministic simulator: the same families, keys, encodings and atomic batches, with the
//! disk replaced by ordered maps that outlive the store, so a simulated crash reopens what was
//! committed.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
#[cfg(feature = "rocksdb")]
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use evidence_contracts::state::{StateStore, StoreError as StateError};
use evidence_core::certificate::CommitCertificate;
use evidence_core::digest::Digest;
use evidence_core::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use evidence_core::entry::Entry;
use evidence_core::header::BlockHeader;
use evidence_core::merkle::{NodeHash, NodeStore};
use evidence_core::state_tree::{Page, Slot, TreeUpdate};
#[cfg(feature = "rocksdb")]
use rocksdb::{ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch};
use thiserror::Error;

use crate::block::Block;

const CF_META: &str = "meta";
const CF_BLOCKS: &str = "blocks";
const CF_HEADERS: &str = "headers";
const CF_CERTIFICATES: &str = "certificates";
const CF_ENTRIES: &str = "entries";
const CF_LOG_NODES: &str = "log_nodes";
const CF_BY_DIGEST: &str = "by_digest";
const CF_BY_DOCUMENT: &str = "by_document";
const CF_BY_PROJECT: &str = "by_project";
const CF_TRANSACTIONS: &str = "transactions";
const CF_STATE: &str = "state";
const CF_STATE_TREE: &str = "state_tree";
const CF_PENDING: &str = "pending";

const COLUMN_FAMILIES: [&str; 13] = [
    CF_META,
    CF_BLOCKS,
    CF_HEADERS,
    CF_CERTIFICATES,
    CF_ENTRIES,
    CF_LOG_NODES,
    CF_BY_DIGEST,
    CF_BY_DOCUMENT,
    CF_BY_PROJECT,
    CF_TRANSACTIONS,
    CF_STATE,
    CF_STATE_TREE,
    CF_PENDING,
];

const KEY_HEIGHT: &[u8] = b"height";

/// The lowest level of the log's Merkle nodes that is stored: a node below it is the root of
/// at most 8 entries, which the ledger hashes again from the entries (derived from their
/// blocks) when a proof needs it. Storing the leaves and the three levels above them took
/// about 1.9 rows and 80 bytes a document.
pub const LOG_LEVEL_STORED_MIN: u8 = 4;
/// `handoff/ || u64 height` → the validator set block `height` handed off to (it certifies
/// the heights after it).
const HANDOFF_PREFIX: &[u8] = b"handoff/";

/// A storage failure.
#[derive(Debug, Error)]
pub enum StorageError {
    #[cfg(feature = "rocksdb")]
    #[error("database error: {0}")]
    Db(#[from] rocksdb::Error),
    /// Stored bytes did not decode: the database is damaged or was written by something else.
    #[error("stored {what} is damaged: {source}")]
    Corrupt {
        what: &'static str,
        #[source]
        source: DecodeError,
    },
    #[error("stored {what} is damaged: {reason}")]
    Inconsistent { what: &'static str, reason: String },
}

/// A contract-state key and its value.
pub type StateRow = (Vec<u8>, Vec<u8>);

/// A row of any family: its key and value.
type Row = (Vec<u8>, Vec<u8>);

/// What became of one transaction of a committed block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRecord {
    pub height: u64,
    /// Position in the block.
    pub position: u32,
    /// The first log entry it appended and how many (0 when rejected).
    pub first_entry: u64,
    pub entry_count: u32,
    /// `None` when accepted; otherwise the rule it broke.
    pub rejection: Option<Rejection>,
}

/// A rejection as stored: the stable code and the readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: String,
    pub message: String,
}

impl Encode for TransactionRecord {
    fn encode(&self, writer: &mut Writer) {
        writer
            .u64(self.height)
            .u32(self.position)
            .u64(self.first_entry)
            .u32(self.entry_count)
            .option(self.rejection.as_ref(), |w, r| {
                w.str(&r.code).str(&r.message);
            });
    }
}

impl Decode for TransactionRecord {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            height: reader.u64("height")?,
            position: reader.u32("position")?,
            first_entry: reader.u64("first entry")?,
            entry_count: reader.u32("entry count")?,
            rejection: reader.option("rejection", |r| {
                Ok(Rejection {
                    code: r.string("code")?,
                    message: r.string("message")?,
                })
            })?,
        })
    }
}

/// Which transactions of a committed block appended entries, and how many each: the row of
/// the `entries` family, keyed by the block's first entry index. Entries are numbered on in
/// the order of the spans, which is the transactions' order in the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySpans {
    pub height: u64,
    /// `(position of the transaction in the block, entries it appended)`, each count above 0.
    pub spans: Vec<(u32, u32)>,
}

impl Encode for EntrySpans {
    fn encode(&self, writer: &mut Writer) {
        writer
            .u64(self.height)
            .seq(&self.spans, |w, (position, count)| {
                w.u32(*position).u32(*count);
            });
    }
}

impl Decode for EntrySpans {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            height: reader.u64("height")?,
            spans: reader.seq("entry spans", |r| {
                Ok((r.u32("position")?, r.u32("entry count")?))
            })?,
        })
    }
}

impl EntrySpans {
    /// How many entries the block appended.
    pub fn len(&self) -> u64 {
        self.spans.iter().map(|(_, count)| u64::from(*count)).sum()
    }

    /// Whether the block appended none (a stored row never is).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where entry `index` comes from, when these spans (of a block whose entries start at
    /// `first`) hold it.
    pub fn source(&self, first: u64, index: u64) -> Option<EntrySource> {
        let mut next = first;
        for (position, count) in &self.spans {
            let end = next.saturating_add(u64::from(*count));
            if (next..end).contains(&index) {
                return Some(EntrySource {
                    height: self.height,
                    position: *position,
                    // Below `count`, a u32.
                    offset: (index - next) as u32,
                    count: *count,
                });
            }
            next = end;
        }
        // Past the block's entries (the next block's, or not committed yet).
        None
    }
}

/// Where a committed entry comes from: the transaction at `position` of the block at `height`
/// appended it as its entry number `offset` (from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntrySource {
    pub height: u64,
    pub position: u32,
    pub offset: u32,
    /// How many entries the transaction appended.
    pub count: u32,
}

/// Everything one committed block writes, applied atomically by [`Store::commit`].
#[derive(Debug, Clone)]
pub struct CommitBatch<'a> {
    pub block: &'a Block,
    pub certificate: &'a CommitCertificate,
    pub entries: &'a [Entry],
    /// Merkle nodes completed by the block's entries.
    pub log_nodes: &'a [(u8, u64, NodeHash)],
    /// Contract state changes.
    pub state_writes: &'a std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
    /// The state tree's pages the block wrote, and its root after the block.
    pub state_tree: &'a TreeUpdate,
    /// One record per transaction id.
    pub transactions: &'a [(Digest, TransactionRecord)],
    /// The validator set the block hands off to, when it changes the set.
    pub handoff: Option<&'a evidence_core::validators::ValidatorSet>,
    /// How many heights of the state tree are kept: written pages that only roots below the
    /// last `state_tree_keep` heights (and below the last flush) read are deleted in this
    /// batch; 0 deletes none. Heights between two flushes are never whole on disk.
    pub state_tree_keep: u64,
}

/// The node's database: RocksDB, or memory for the simulator.
pub struct Store {
    backend: Backend,
    /// The state-tree pages written since the last flush (SPEC.md says nothing of storage;
    /// ARCHITECTURE.md does): kept here and written every [`TREE_FLUSH_INTERVAL`] blocks, or
    /// sooner (`tree_flush_interval`, `tree_cache_pages_max`).
    tree: std::sync::Mutex<TreeCache>,
    /// Committed log nodes read lately, shared by every reader of the store.
    log_nodes: NodeCache,
    /// When the state tree's pages are written: every this many blocks
    /// ([`TREE_FLUSH_INTERVAL`] unless set), and ...
    tree_flush_interval: std::sync::atomic::AtomicU64,
    /// ... sooner when this many wait in memory ([`TREE_CACHE_PAGES_MAX`] unless set).
    tree_cache_pages_max: std::sync::atomic::AtomicUsize,
}

/// Committed Merkle-log nodes read lately. Every inclusion proof, and every log opened at a
/// size, reads the same few nodes near the top of the log (the peaks, and the roots of the
/// complete subtrees left of a recent entry); a receipt per call read them from RocksDB each
/// time. A stored node never changes and is never deleted, so nothing kept goes stale. Two
/// generations of [`NODE_CACHE_GENERATION`] nodes: a node read from the older one moves to
/// the newer; when the newer is full it becomes the older and the older is dropped, so the
/// nodes read again and again stay and the cache stays bounded (about 3 MB).
#[derive(Debug, Default)]
struct NodeCache {
    generations: std::sync::Mutex<[HashMap<(u8, u64), NodeHash>; 2]>,
}

/// Nodes in each of [`NodeCache`]'s two generations.
const NODE_CACHE_GENERATION: usize = 16_384;

impl NodeCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, [HashMap<(u8, u64), NodeHash>; 2]> {
        self.generations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, level: u8, index: u64) -> Option<NodeHash> {
        let mut generations = self.lock();
        if let Some(hash) = generations[0].get(&(level, index)) {
            return Some(*hash);
        }
        let hash = generations[1].remove(&(level, index))?;
        Self::keep(&mut generations, level, index, hash);
        Some(hash)
    }

    fn insert(&self, level: u8, index: u64, hash: NodeHash) {
        Self::keep(&mut self.lock(), level, index, hash);
    }

    fn keep(
        generations: &mut [HashMap<(u8, u64), NodeHash>; 2],
        level: u8,
        index: u64,
        hash: NodeHash,
    ) {
        if generations[0].len() >= NODE_CACHE_GENERATION {
            generations[1] = std::mem::take(&mut generations[0]);
        }
        generations[0].insert((level, index), hash);
    }
}

/// State-tree pages not yet written to the database, by row key ([`PageKey`]), encoded. Each
/// block's changes are journalled in the same batch as the block, so a node that stops before
/// the next flush rebuilds these pages from the journal when it opens
/// ([`Store::recover_state_tree`]).
///
/// Keys are fixed-size values hashed with foldhash, and a page made stale is marked in place,
/// rather than byte-vector keys under SipHash and a second set of the dead: a batched block
/// makes thousands of lookups, inserts and marks here (BENCHMARKS.md, "The state tree's waiting
/// pages by fixed-size key"). Against keys chosen to collide in its buckets: foldhash's seed
/// (one for the process, from addresses and the clock, mixed with one per map) is not known
/// outside the node, and nothing reveals the map's order (the flush sorts its rows), though
/// foldhash does not claim to hide the seed from an attacker who can time the map. Choosing
/// keys is costly besides: a key is a prefix of a key hash (the chain's hash of a state key,
/// so a given prefix of n nibbles takes about 16^n tries, and each key costs a transaction)
/// with the page's height. And the damage is bounded: the map holds at most the store's cap
/// and is emptied at each flush.
#[derive(Debug, Default)]
struct TreeCache {
    pages: HashMap<PageKey, CachedPage, foldhash::fast::RandomState>,
}

/// A page in [`TreeCache`]: its encoding (shared with the batch that writes it) and whether a
/// later block made it stale. A stale page is never written: no root from the next flush on
/// reads it (roots before that may still read it until then).
#[derive(Debug)]
struct CachedPage {
    bytes: Arc<[u8]>,
    dead: bool,
}

enum Backend {
    #[cfg(feature = "rocksdb")]
    Rocks(DB),
    Memory(MemoryDatabase),
}

/// A database held in memory, one ordered map per column family: the simulator's disk.
/// Clones share it; a store opened on a clone sees every write committed through another,
/// which is how a simulated node restarts from what it had made durable. Every write is
/// atomic (one lock for the whole batch), as RocksDB's synced batches are.
#[derive(Clone, Default)]
pub struct MemoryDatabase {
    families: Arc<Mutex<MemoryFamilies>>,
}

/// One ordered map per column family, in [`COLUMN_FAMILIES`] order.
type MemoryFamilies = [BTreeMap<Vec<u8>, Vec<u8>>; COLUMN_FAMILIES.len()];

impl std::fmt::Debug for MemoryDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryDatabase").finish_non_exhaustive()
    }
}

impl MemoryDatabase {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every undecided proposal, as a power cut would if `put_pending` did not sync
    /// its write. The simulator uses it to show why the sync matters: a node that voted for a
    /// block it then lost cannot commit the block when the quorum decides it.
    pub fn lose_pending(&self) {
        self.lock()[family_index(CF_PENDING)].clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryFamilies> {
        // Plain maps: a panic elsewhere while holding the lock cannot leave them half-written,
        // because every batch is applied after it is complete.
        self.families
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A family's position in [`COLUMN_FAMILIES`].
fn family_index(name: &'static str) -> usize {
    COLUMN_FAMILIES
        .iter()
        .position(|family| *family == name)
        .unwrap_or_else(|| unreachable!("{name} is one of COLUMN_FAMILIES"))
}

/// Writes gathered to be applied at once.
enum Batch {
    #[cfg(feature = "rocksdb")]
    Rocks(WriteBatch),
    Memory(Vec<(usize, Vec<u8>, Option<Vec<u8>>)>),
}

impl Store {
    fn batch(&self) -> Batch {
        self.batch_sized(0)
    }

    /// A batch whose buffer holds `bytes` before it grows. RocksDB's batch is one string that
    /// doubles as it fills; a flush's is tens of megabytes (the state tree's pages), and each
    /// doubling copied it into fresh memory that the kernel zeroed first. Reserving somewhat too
    /// much should cost little: with glibc's allocator (RocksDB's), a block this large is
    /// usually mapped on its own, and pages the batch never touches are never faulted in.
    fn batch_sized(&self, bytes: usize) -> Batch {
        match &self.backend {
            #[cfg(feature = "rocksdb")]
            Backend::Rocks(_) => Batch::Rocks(WriteBatch::with_capacity_bytes(bytes)),
            Backend::Memory(_) => Batch::Memory(Vec::new()),
        }
    }

    fn put(&self, batch: &mut Batch, family: &'static str, key: &[u8], value: &[u8]) {
        match (batch, &self.backend) {
            #[cfg(feature = "rocksdb")]
            (Batch::Rocks(batch), Backend::Rocks(db)) => batch.put_cf(cf(db, family), key, value),
            (Batch::Memory(ops), _) => {
                ops.push((family_index(family), key.to_vec(), Some(value.to_vec())));
            }
            #[cfg(feature = "rocksdb")]
            (Batch::Rocks(_), Backend::Memory(_)) => {
                unreachable!("a batch is made by its own store")
            }
        }
    }

    fn delete(&self, batch: &mut Batch, family: &'static str, key: &[u8]) {
        match (batch, &self.backend) {
            #[cfg(feature = "rocksdb")]
            (Batch::Rocks(batch), Backend::Rocks(db)) => batch.delete_cf(cf(db, family), key),
            (Batch::Memory(ops), _) => ops.push((family_index(family), key.to_vec(), None)),
            #[cfg(feature = "rocksdb")]
            (Batch::Rocks(_), Backend::Memory(_)) => {
                unreachable!("a batch is made by its own store")
            }
        }
    }

    /// Applies `batch` atomically, synced to disk before it returns.
    fn write(&self, batch: Batch) -> Result<(), StorageError> {
        match (batch, &self.backend) {
            #[cfg(feature = "rocksdb")]
            (Batch::Rocks(batch), Backend::Rocks(db)) => {
                let mut options = rocksdb::WriteOptions::default();
                options.set_sync(true);
                db.write_opt(batch, &options)?;
            }
            (Batch::Memory(ops), Backend::Memory(memory)) => {
                let mut families = memory.lock();
                for (family, key, value) in ops {
                    match value {
                        Some(value) => families[family].insert(key, value),
                        None => families[family].remove(&key),
                    };
                }
            }
            #[cfg(feature = "rocksdb")]
            _ => unreachable!("a batch is made by its own store"),
        }
        Ok(())
    }

    fn get(&self, family: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        match &self.backend {
            #[cfg(feature = "rocksdb")]
            Backend::Rocks(db) => Ok(db.get_cf(cf(db, family), key)?),
            Backend::Memory(memory) => Ok(memory.lock()[family_index(family)].get(key).cloned()),
        }
    }

    /// The row of `family` with the greatest key at or below `key`.
    fn floor(&self, family: &'static str, key: &[u8]) -> Result<Option<Row>, StorageError> {
        match &self.backend {
            #[cfg(feature = "rocksdb")]
            Backend::Rocks(db) => {
                let mut iter =
                    db.iterator_cf(cf(db, family), IteratorMode::From(key, Direction::Reverse));
                match iter.next() {
                    Some(item) => {
                        let (key, value) = item?;
                        Ok(Some((key.to_vec(), value.to_vec())))
                    }
                    None => Ok(None),
                }
            }
            Backend::Memory(memory) => Ok(memory.lock()[family_index(family)]
                .range(..=key.to_vec())
                .next_back()
                .map(|(key, value)| (key.clone(), value.clone()))),
        }
    }

    /// Visits the rows of `family` from `start` on, in key order, until `visit` breaks.
    fn scan(
        &self,
        family: &'static str,
        start: &[u8],
        mut visit: impl FnMut(&[u8]) -> Result<ControlFlow<()>, StorageError>,
    ) -> Result<(), StorageError> {
        match &self.backend {
            #[cfg(feature = "rocksdb")]
            Backend::Rocks(db) => {
                let iter = db.iterator_cf(
                    cf(db, family),
                    IteratorMode::From(start, Direction::Forward),
                );
                for item in iter {
                    let (key, _) = item?;
                    if visit(&key)?.is_break() {
                        break;
                    }
                }
            }
            Backend::Memory(memory) => {
                let families = memory.lock();
                for key in families[family_index(family)]
                    .range(start.to_vec()..)
                    .map(|(key, _)| key)
                {
                    if visit(key)?.is_break() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(feature = "rocksdb")]
fn cf<'a>(db: &'a DB, name: &'static str) -> &'a rocksdb::ColumnFamily {
    // Every family in COLUMN_FAMILIES is created by `open`.
    db.cf_handle(name)
        .unwrap_or_else(|| unreachable!("column family {name} is created at open"))
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.backend {
            #[cfg(feature = "rocksdb")]
            Backend::Rocks(db) => f.debug_struct("Store").field("path", &db.path()).finish(),
            Backend::Memory(_) => f.debug_struct("Store").field("path", &"memory").finish(),
        }
    }
}

fn handoff_key(height: u64) -> Vec<u8> {
    let mut key = HANDOFF_PREFIX.to_vec();
    key.extend_from_slice(&height.to_be_bytes());
    key
}

fn height_key(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}

fn node_key(level: u8, index: u64) -> [u8; 9] {
    let mut key = [0; 9];
    key[0] = level;
    key[1..].copy_from_slice(&index.to_be_bytes());
    key
}

/// The `by_document` prefix of one document's lineage.
pub fn document_prefix(member: &str, project_id: &str, document_id: &str) -> Vec<u8> {
    let mut writer = Writer::new();
    writer.str(member).str(project_id).str(document_id);
    writer.into_bytes()
}

/// The `by_project` prefix of one project's entries.
pub fn project_prefix(project_id: &str) -> Vec<u8> {
    let mut writer = Writer::new();
    writer.str(project_id);
    writer.into_bytes()
}

/// The `by_digest` prefix of one digest's entries.
pub fn digest_prefix(digest: &Digest) -> Vec<u8> {
    digest.to_canonical_bytes()
}

fn decode<T: Decode>(bytes: &[u8], what: &'static str) -> Result<T, StorageError> {
    T::from_canonical_bytes(bytes).map_err(|source| StorageError::Corrupt { what, source })
}

/// The size of the Bloom filter over a memtable's keys in the `state` and `transactions`
/// families, as a share of the memtable's size (about 1.3 MiB for RocksDB's 64 MiB).
#[cfg(feature = "rocksdb")]
const MEMTABLE_BLOOM_RATIO: f64 = 0.02;

/// The most the write-ahead log's files may hold before RocksDB flushes the column families
/// whose memtables keep its oldest file alive. A file is kept until every family that wrote
/// to it has flushed, and the small families (headers, certificates, the indexes of a quiet
/// project) fill their 64 MiB memtables slowly, so by RocksDB's own default (four times all
/// the memtables' room, about 7 GiB for these families) a busy node held gigabytes
/// of log it would replay at its next start: 1,100 bytes a document on disk after 30 s of
/// batched load, against 334 compacted (BENCHMARKS.md, "The write-ahead log bounded").
#[cfg(feature = "rocksdb")]
const WAL_TOTAL_MAX: u64 = 256 << 20;

impl Store {
    /// Opens the database at `path`, creating it and any missing column family.
    ///
    /// # Errors
    /// RocksDB could not open the directory (missing permissions, another process holds its
    /// lock, damaged files).
    #[cfg(feature = "rocksdb")]
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Self::open_with_wal_max(path, WAL_TOTAL_MAX)
    }

    /// [`Store::open`] with the write-ahead log bounded at `wal_max` bytes (0: RocksDB's
    /// default); the tests bound it low.
    #[cfg(feature = "rocksdb")]
    fn open_with_wal_max(path: &Path, wal_max: u64) -> Result<Self, StorageError> {
        let mut options = Options::default();
        options.set_max_total_wal_size(wal_max);
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Two background threads: flushes and compactions must not starve consensus on a
        // small machine.
        options.increase_parallelism(2);
        let descriptors = COLUMN_FAMILIES.iter().map(|name| {
            let mut cf = Options::default();
            if *name == CF_STATE || *name == CF_TRANSACTIONS {
                // Many reads of these families look for a key that is not there (a new
                // document's record, a new transaction's replay key; a transaction asked
                // for before it commits), and each search of a memtable's skip list for it
                // costs about a microsecond. A Bloom filter over each memtable's keys, 2 %
                // of its size, answers most of them at once (BENCHMARKS.md, "A Bloom filter
                // in the state's memtables").
                cf.set_memtable_prefix_bloom_ratio(MEMTABLE_BLOOM_RATIO);
                cf.set_memtable_whole_key_filtering(true);
            }
            if *name == CF_STATE_TREE {
                // Pages are hashes, which do not compress: LZ4 would spend CPU on every flush
                // and compaction for nothing.
                cf.set_compression_type(rocksdb::DBCompressionType::None);
            } else {
                cf.set_compression_type(rocksdb::DBCompressionType::Lz4);
            }
            ColumnFamilyDescriptor::new(*name, cf)
        });
        let db = DB::open_cf_descriptors(&options, path, descriptors)?;
        Ok(Self {
            backend: Backend::Rocks(db),
            tree: std::sync::Mutex::default(),
            log_nodes: NodeCache::default(),
            tree_flush_interval: TREE_FLUSH_INTERVAL.into(),
            tree_cache_pages_max: TREE_CACHE_PAGES_MAX.into(),
        })
    }

    /// What each column family holds on disk once every memtable is flushed and the tables
    /// are compacted: `(family, bytes of live tables)`, in `COLUMN_FAMILIES` order. Flushing
    /// also retires the write-ahead log the flushed rows were in, so the sum is the store's
    /// steady-state size. Compacting everything costs time in proportion to the data: this is
    /// for measurement and maintenance, not for a node under load.
    ///
    /// # Errors
    /// RocksDB failed to flush or compact.
    #[cfg(feature = "rocksdb")]
    pub fn footprint(&self) -> Result<Vec<(&'static str, u64)>, StorageError> {
        let Backend::Rocks(db) = &self.backend else {
            return Ok(Vec::new());
        };
        let mut sizes = Vec::with_capacity(COLUMN_FAMILIES.len());
        for name in COLUMN_FAMILIES {
            let family = cf(db, name);
            db.flush_cf(family)?;
            db.compact_range_cf(family, None::<&[u8]>, None::<&[u8]>);
            let bytes = db
                .property_int_value_cf(family, "rocksdb.live-sst-files-size")?
                .unwrap_or(0);
            sizes.push((name, bytes));
        }
        Ok(sizes)
    }

    /// A store over `database`, in memory (for the simulator). Opening another store on a
    /// clone of the same database later sees everything committed through this one.
    pub fn memory(database: MemoryDatabase) -> Self {
        Self {
            backend: Backend::Memory(database),
            tree: std::sync::Mutex::default(),
            log_nodes: NodeCache::default(),
            tree_flush_interval: TREE_FLUSH_INTERVAL.into(),
            tree_cache_pages_max: TREE_CACHE_PAGES_MAX.into(),
        }
    }

    /// The committed height (0 before the first block).
    ///
    /// # Errors
    /// Read failure or a damaged value.
    pub fn height(&self) -> Result<u64, StorageError> {
        match self.get(CF_META, KEY_HEIGHT)? {
            None => Ok(0),
            Some(bytes) => {
                let bytes: [u8; 8] =
                    bytes
                        .as_slice()
                        .try_into()
                        .map_err(|_| StorageError::Inconsistent {
                            what: "height",
                            reason: format!("{} bytes, expected 8", bytes.len()),
                        })?;
                Ok(u64::from_be_bytes(bytes))
            }
        }
    }

    /// The header committed at `height`.
    ///
    /// # Errors
    /// Read failure or damaged bytes.
    pub fn header(&self, height: u64) -> Result<Option<BlockHeader>, StorageError> {
        self.get(CF_HEADERS, &height_key(height))?
            .map(|b| decode(&b, "header"))
            .transpose()
    }

    /// The block committed at `height`.
    ///
    /// # Errors
    /// Read failure or damaged bytes.
    pub fn block(&self, height: u64) -> Result<Option<Block>, StorageError> {
        self.get(CF_BLOCKS, &height_key(height))?
            .map(|b| decode(&b, "block"))
            .transpose()
    }

    /// The certificate that committed the block at `height`.
    ///
    /// # Errors
    /// Read failure or damaged bytes.
    pub fn certificate(&self, height: u64) -> Result<Option<CommitCertificate>, StorageError> {
        self.get(CF_CERTIFICATES, &height_key(height))?
            .map(|b| decode(&b, "certificate"))
            .transpose()
    }

    /// The spans row of the block whose entries are the last to start at or before `index`,
    /// with that block's first entry index (the row's key).
    ///
    /// # Errors
    /// Read failure or damaged bytes.
    pub fn entry_spans(&self, index: u64) -> Result<Option<(u64, EntrySpans)>, StorageError> {
        let Some((key, value)) = self.floor(CF_ENTRIES, &index.to_be_bytes())? else {
            return Ok(None);
        };
        let first = u64::from_be_bytes(key.as_slice().try_into().map_err(|_| {
            StorageError::Inconsistent {
                what: "entry spans",
                reason: format!("a key of {} bytes", key.len()),
            }
        })?);
        Ok(Some((first, decode(&value, "entry spans")?)))
    }

    /// What became of the transaction with id `tx_id`, if a committed block carried it.
    ///
    /// # Errors
    /// Read failure or damaged bytes.
    pub fn transaction(&self, tx_id: &Digest) -> Result<Option<TransactionRecord>, StorageError> {
        self.get(CF_TRANSACTIONS, &tx_id.to_canonical_bytes())?
            .map(|b| decode(&b, "transaction record"))
            .transpose()
    }

    /// An undecided proposal kept by its block hash.
    ///
    /// # Errors
    /// Read failure or damaged bytes.
    pub fn pending(&self, hash: &Digest) -> Result<Option<Block>, StorageError> {
        self.get(CF_PENDING, &hash.to_canonical_bytes())?
            .map(|b| decode(&b, "pending block"))
            .transpose()
    }

    /// Keeps an undecided proposal so that it survives a restart within its height. The
    /// write is synced before it returns: the node tells consensus a block is valid (and may
    /// then vote for it, the vote made durable by the engine's write-ahead log) only after
    /// this, so a node that crashes after voting still holds every block it voted for when the
    /// quorum decides one of them. (Unsynced, a power loss could keep the vote and lose the
    /// block, and the node would stop at that height for good.) One fsync per validated
    /// proposal, about 0.2 ms on the benchmark machine, against a height of about 10 ms.
    ///
    /// # Errors
    /// Write failure.
    pub fn put_pending(&self, hash: &Digest, block: &Block) -> Result<(), StorageError> {
        let mut batch = self.batch();
        self.put(
            &mut batch,
            CF_PENDING,
            &hash.to_canonical_bytes(),
            &block.to_bytes(),
        );
        self.write(batch)
    }

    /// Entry indexes under `prefix` in index family `family`, in log order, starting at
    /// `from_index`, at most `limit`.
    fn indexed(
        &self,
        family: &'static str,
        prefix: &[u8],
        from_index: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StorageError> {
        let mut start = prefix.to_vec();
        start.extend_from_slice(&from_index.to_be_bytes());
        let mut found = Vec::new();
        self.scan(family, &start, |key| {
            if found.len() >= limit {
                return Ok(ControlFlow::Break(()));
            }
            // Every key of the family is an encoded prefix (fixed-size digest, or
            // length-prefixed strings) and an index, so the keys starting with `prefix` are
            // exactly this prefix's rows, contiguous in key order.
            if !key.starts_with(prefix) {
                return Ok(ControlFlow::Break(()));
            }
            if key.len() != prefix.len() + 8 {
                return Err(StorageError::Inconsistent {
                    what: family,
                    reason: format!("index key of {} bytes", key.len()),
                });
            }
            let mut index = [0; 8];
            index.copy_from_slice(&key[prefix.len()..]);
            found.push(u64::from_be_bytes(index));
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(found)
    }

    /// Entries whose document digest is `digest`, in log order.
    ///
    /// # Errors
    /// Read failure.
    pub fn entries_by_digest(
        &self,
        digest: &Digest,
        from_index: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StorageError> {
        self.indexed(CF_BY_DIGEST, &digest_prefix(digest), from_index, limit)
    }

    /// Entries of one document's lineage (anchors and revocations), in log order.
    ///
    /// # Errors
    /// Read failure.
    pub fn entries_by_document(
        &self,
        member: &str,
        project_id: &str,
        document_id: &str,
        from_index: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StorageError> {
        self.indexed(
            CF_BY_DOCUMENT,
            &document_prefix(member, project_id, document_id),
            from_index,
            limit,
        )
    }

    /// Up to `limit` contract-state rows whose keys start with `prefix` and sort after
    /// `after` (a full key; empty: from the first), in key order, with their values.
    ///
    /// # Errors
    /// Read failure.
    pub fn state_rows(
        &self,
        prefix: &[u8],
        after: &[u8],
        limit: usize,
    ) -> Result<Vec<StateRow>, StorageError> {
        let mut keys = Vec::new();
        let start = if after.is_empty() { prefix } else { after };
        self.scan(CF_STATE, start, |key| {
            if !key.starts_with(prefix) || keys.len() >= limit {
                return Ok(ControlFlow::Break(()));
            }
            if key != after {
                keys.push(key.to_vec());
            }
            Ok(ControlFlow::Continue(()))
        })?;
        keys.into_iter()
            .map(|key| {
                let value =
                    self.get(CF_STATE, &key)?
                        .ok_or_else(|| StorageError::Inconsistent {
                            what: "contract state",
                            reason: format!("row {} vanished while read", hex::encode(&key)),
                        })?;
                Ok((key, value))
            })
            .collect()
    }

    /// Entries filed under a project, in log order.
    ///
    /// # Errors
    /// Read failure.
    pub fn entries_by_project(
        &self,
        project_id: &str,
        from_index: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StorageError> {
        self.indexed(
            CF_BY_PROJECT,
            &project_prefix(project_id),
            from_index,
            limit,
        )
    }

    /// Writes a committed block and everything it changes in one synced batch, and removes
    /// the undecided proposals it supersedes (`pending` lists their hashes).
    ///
    /// # Errors
    /// Write failure; then nothing of the block is stored.
    pub fn commit(&self, commit: &CommitBatch<'_>, pending: &[Digest]) -> Result<(), StorageError> {
        let height = commit.block.header.height;
        let flushed = self.tree_flushed()?.unwrap_or(0);
        let new_pages = &commit.state_tree.pages;
        // The pages this block made stale: those still in the cache were never written (they
        // die there); the others are listed for the pruner. At a flush, every cached page still
        // live is written with the block's own, in key order.
        let (flush, dead, stale, rows) = {
            let cache = self.tree_cache();
            let flush = height - flushed >= self.tree_flush_interval.load(Ordering::Relaxed)
                || cache.pages.len() + new_pages.len()
                    > self.tree_cache_pages_max.load(Ordering::Relaxed);
            let (dead, stale): (Vec<PageKey>, Vec<PageKey>) = commit
                .state_tree
                .stale
                .iter()
                .map(|(path, page_height)| PageKey::new(path, *page_height))
                .partition(|key| cache.pages.contains_key(key));
            let mut rows: Vec<(PageKey, Arc<[u8]>)> = Vec::new();
            if flush {
                let dying: std::collections::HashSet<&PageKey, foldhash::fast::RandomState> =
                    dead.iter().collect();
                rows.reserve(cache.pages.len() + new_pages.len());
                rows.extend(
                    cache
                        .pages
                        .iter()
                        .filter(|(key, cached)| !cached.dead && !dying.contains(key))
                        .map(|(key, cached)| (*key, Arc::clone(&cached.bytes))),
                );
            }
            (flush, dead, stale, rows)
        };
        let mut new_rows: Vec<(PageKey, Arc<[u8]>)> = new_pages
            .iter()
            .map(|(path, page)| (PageKey::new(path, height), page.to_canonical_bytes().into()))
            .collect();
        let rows = if flush {
            let mut rows = rows;
            rows.append(&mut new_rows);
            // Keys are unique: the block's pages are new at this height (the cache holds only
            // lower ones), and an update writes a path once. So the unstable sort cannot
            // reorder equal keys; the check below runs in debug builds, the simulator's.
            rows.sort_unstable_by_key(|row| row.0);
            debug_assert!(
                rows.windows(2).all(|pair| pair[0].0 != pair[1].0),
                "a state-tree page written twice in one flush"
            );
            rows
        } else {
            new_rows
        };
        let block = commit.block.to_bytes();
        // A flush's batch is sized for its rows first (tens of megabytes of pages): each row's
        // key, value and a few bytes of tags and lengths, generously, and the pruner's deletes
        // (up to `PRUNE_HEIGHTS_PER_COMMIT` heights' stale lists, taken as about this block's
        // each). Other blocks' batches grow as they fill, as before; reserving theirs too was
        // not shown better or worse (BENCHMARKS.md).
        let reserve = if flush {
            2 * block.len()
                + rows
                    .iter()
                    .map(|(key, page)| usize::from(key.len) + page.len() + 8)
                    .sum::<usize>()
                + commit
                    .state_writes
                    .iter()
                    .map(|(key, value)| key.len() + value.len() + 8)
                    .sum::<usize>()
                + commit.entries.len() * 3 * 96
                + commit.transactions.len() * 128
                + commit.log_nodes.len() * 64
                + stale.len() * 56 * (1 + PRUNE_HEIGHTS_PER_COMMIT as usize)
                + 4096
        } else {
            0
        };
        let mut batch = self.batch_sized(reserve);
        self.put(&mut batch, CF_BLOCKS, &height_key(height), &block);
        self.put(
            &mut batch,
            CF_HEADERS,
            &height_key(height),
            &commit.block.header.to_canonical_bytes(),
        );
        self.put(
            &mut batch,
            CF_CERTIFICATES,
            &height_key(height),
            &commit.certificate.to_canonical_bytes(),
        );
        let spans: Vec<(u32, u32)> = commit
            .transactions
            .iter()
            .filter(|(_, record)| record.entry_count > 0)
            .map(|(_, record)| (record.position, record.entry_count))
            .collect();
        debug_assert_eq!(
            spans
                .iter()
                .map(|(_, count)| u64::from(*count))
                .sum::<u64>(),
            commit.entries.len() as u64,
            "the transactions' records do not account for the block's entries"
        );
        if let Some(first) = commit.entries.first() {
            self.put(
                &mut batch,
                CF_ENTRIES,
                &first.index.to_be_bytes(),
                &EntrySpans { height, spans }.to_canonical_bytes(),
            );
        }
        // Rows go into the batch in key order within each family wherever their natural order
        // is not (digests, document ids, hash-map order). RocksDB inserts a batch's rows into
        // each memtable's skip list in batch order, and an insert just after the previous one
        // starts its search from there: 4-5 % more batched documents/s and catch-up
        // (BENCHMARKS.md, "Rows in key order"). The sorts are stable, so a key that came twice
        // would keep its last value: the order changes nothing that is written.
        let mut index_rows: Vec<(&'static str, Vec<u8>)> =
            Vec::with_capacity(commit.entries.len() * 3);
        for entry in commit.entries {
            for (family, prefix) in index_keys(entry) {
                let mut key = prefix;
                key.extend_from_slice(&entry.index.to_be_bytes());
                index_rows.push((family, key));
            }
        }
        index_rows.sort();
        for (family, key) in &index_rows {
            self.put(&mut batch, family, key, &[]);
        }
        for (level, index, hash) in commit.log_nodes {
            if *level >= LOG_LEVEL_STORED_MIN {
                self.put(&mut batch, CF_LOG_NODES, &node_key(*level, *index), hash);
            }
        }
        for (key, value) in commit.state_writes {
            self.put(&mut batch, CF_STATE, key, value);
        }
        if flush {
            for (key, page) in &rows {
                self.put(&mut batch, CF_STATE_TREE, key.as_bytes(), page);
            }
            for journalled in flushed + 1..height {
                self.delete(&mut batch, CF_META, &tree_journal_key(journalled));
            }
            self.put(&mut batch, CF_META, KEY_TREE_FLUSHED, &height.to_be_bytes());
        } else {
            self.put(
                &mut batch,
                CF_META,
                &tree_journal_key(height),
                &encode_changes(&commit.state_tree.changes),
            );
        }
        if let Some(root) = &commit.state_tree.root {
            self.put(
                &mut batch,
                CF_META,
                &tree_root_key(height),
                &root.to_canonical_bytes(),
            );
        }
        let mut transactions: Vec<(Vec<u8>, &_)> = commit
            .transactions
            .iter()
            .map(|(tx_id, record)| (tx_id.to_canonical_bytes(), record))
            .collect();
        transactions.sort_by(|a, b| a.0.cmp(&b.0));
        for (tx_id, record) in transactions {
            self.put(
                &mut batch,
                CF_TRANSACTIONS,
                &tx_id,
                &record.to_canonical_bytes(),
            );
        }
        for hash in pending {
            self.delete(&mut batch, CF_PENDING, &hash.to_canonical_bytes());
        }
        if let Some(set) = commit.handoff {
            self.put(
                &mut batch,
                CF_META,
                &handoff_key(height),
                &set.to_canonical_bytes(),
            );
        }
        self.stale_pages(&mut batch, height, &stale);
        if commit.state_tree_keep > 0 {
            // The tree at the last flush stays whole: a node that stops rebuilds the pages
            // since then from it.
            let flushed_now = if flush { height } else { flushed };
            self.prune_state_tree(&mut batch, height, commit.state_tree_keep, flushed_now)?;
        }
        self.put(&mut batch, CF_META, KEY_HEIGHT, &height.to_be_bytes());
        self.write(batch)?;
        let mut cache = self.tree_cache();
        if flush {
            cache.pages.clear();
        } else {
            for key in &dead {
                if let Some(cached) = cache.pages.get_mut(key) {
                    cached.dead = true;
                }
            }
            cache.pages.extend(
                rows.into_iter()
                    .map(|(key, bytes)| (key, CachedPage { bytes, dead: false })),
            );
        }
        Ok(())
    }

    /// Whether the list of pages the block at `height` made stale is still stored (pruning
    /// deletes it with its pages).
    #[cfg(test)]
    pub(crate) fn has_stale_list(&self, height: u64) -> bool {
        matches!(self.get(CF_META, &tree_stale_key(height)), Ok(Some(_)))
    }

    /// The keys of the state-tree rows the database holds.
    #[cfg(test)]
    pub(crate) fn stored_tree_pages(&self) -> std::collections::BTreeSet<Vec<u8>> {
        let mut keys = std::collections::BTreeSet::new();
        self.scan(CF_STATE_TREE, &[], |key| {
            keys.insert(key.to_vec());
            Ok(ControlFlow::Continue(()))
        })
        .unwrap();
        keys
    }

    /// The row keys of the state-tree pages the root after `height` reads.
    #[cfg(test)]
    pub(crate) fn reachable_tree_pages(&self, height: u64) -> std::collections::BTreeSet<Vec<u8>> {
        fn walk(
            store: &Store,
            path: &mut Vec<u8>,
            slot: Slot,
            keys: &mut std::collections::BTreeSet<Vec<u8>>,
        ) {
            if let Slot::Page { height, .. } = slot {
                keys.insert(PageKey::new(path, height).as_bytes().to_vec());
                let page = store
                    .tree_page(path, height)
                    .unwrap()
                    .expect("a page the root reads");
                for (nibble, child) in (0u8..).zip(page.slots) {
                    path.push(nibble);
                    walk(store, path, child, keys);
                    path.pop();
                }
            }
        }
        let mut keys = std::collections::BTreeSet::new();
        walk(
            self,
            &mut Vec::new(),
            self.tree_root(height).unwrap(),
            &mut keys,
        );
        keys
    }

    /// The version of the state's records this database holds (SPEC.md version 10 changed
    /// the document record), if it says.
    ///
    /// # Errors
    /// Read failure.
    pub fn state_format(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(CF_META, KEY_STATE_FORMAT)
    }

    /// Records the version of the state's records this database holds.
    ///
    /// # Errors
    /// Write failure.
    pub fn set_state_format(&self, format: &[u8]) -> Result<(), StorageError> {
        let mut batch = self.batch();
        self.put(&mut batch, CF_META, KEY_STATE_FORMAT, format);
        self.write(batch)
    }

    /// Writes the state tree's pages every `interval` blocks (at least 1), or sooner when
    /// `pages_max` wait in memory, instead of [`TREE_FLUSH_INTERVAL`] and
    /// [`TREE_CACHE_PAGES_MAX`]. Nothing a root reads depends on it, only when pages reach
    /// the database: the simulator draws short intervals so that its short runs write,
    /// prune and rebuild pages, and tests force early writes with a small `pages_max`.
    pub fn set_tree_flush(&self, interval: u64, pages_max: usize) {
        self.tree_flush_interval
            .store(interval.max(1), Ordering::Relaxed);
        self.tree_cache_pages_max
            .store(pages_max, Ordering::Relaxed);
    }

    fn tree_cache(&self) -> std::sync::MutexGuard<'_, TreeCache> {
        self.tree
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The height whose state-tree pages were all written last (the flush mark), if marked.
    pub(crate) fn tree_flushed(&self) -> Result<Option<u64>, StorageError> {
        self.get(CF_META, KEY_TREE_FLUSHED)?
            .map(|bytes| {
                Ok(u64::from_be_bytes(bytes.as_slice().try_into().map_err(
                    |_| StorageError::Inconsistent {
                        what: "state tree flush mark",
                        reason: format!("{} bytes, not 8", bytes.len()),
                    },
                )?))
            })
            .transpose()
    }

    /// Rebuilds the state-tree pages written since the last flush, which lived in memory only,
    /// by applying each later block's journalled changes again from the flushed tree, and
    /// checks each height's root against the one its commit stored. Run when the store is
    /// opened, before anything reads the tree.
    ///
    /// # Errors
    /// A journal row or page is missing or damaged, or a rebuilt root differs.
    pub fn recover_state_tree(
        &self,
        algorithm: evidence_core::digest::HashAlgorithm,
        tip: u64,
    ) -> Result<(), StorageError> {
        // No mark: no flush yet, so every height since the first is journalled. (A database
        // from before the journal is of an older state format, which the ledger refuses.)
        let flushed = self.tree_flushed()?.unwrap_or(0);
        for height in flushed + 1..=tip {
            let inconsistent = |reason: String| StorageError::Inconsistent {
                what: "state tree journal",
                reason,
            };
            let bytes = self
                .get(CF_META, &tree_journal_key(height))?
                .ok_or_else(|| {
                    inconsistent(format!("the changes of height {height} are missing"))
                })?;
            let changes = decode_changes(&bytes).ok_or_else(|| {
                inconsistent(format!("the changes of height {height} are damaged"))
            })?;
            let parent = self.tree_root(height - 1)?;
            let update = evidence_core::state_tree::update(
                algorithm,
                &evidence_contracts::state::StatePages(self),
                parent,
                height,
                &changes.into_iter().collect(),
            )
            .map_err(|e| inconsistent(format!("rebuilding height {height}: {e}")))?;
            let stored = self.tree_root(height)?;
            if update.root != Some(stored) {
                return Err(inconsistent(format!(
                    "the rebuilt root of height {height} is not the one committed"
                )));
            }
            let mut cache = self.tree_cache();
            for (path, page_height) in &update.stale {
                if let Some(cached) = cache.pages.get_mut(&PageKey::new(path, *page_height)) {
                    cached.dead = true;
                }
            }
            for (path, page) in &update.pages {
                cache.pages.insert(
                    PageKey::new(path, height),
                    CachedPage {
                        bytes: page.to_canonical_bytes().into(),
                        dead: false,
                    },
                );
            }
        }
        Ok(())
    }

    /// Records the pages the block at `height` made stale (its root no longer reads them), for
    /// the pruner: each as its row key, length-prefixed.
    fn stale_pages(&self, batch: &mut Batch, height: u64, stale: &[PageKey]) {
        if stale.is_empty() {
            return;
        }
        let mut list = Vec::with_capacity(stale.len() * 48);
        for key in stale {
            list.push(key.len);
            list.extend_from_slice(key.as_bytes());
        }
        self.put(batch, CF_META, &tree_stale_key(height), &list);
    }

    /// Deletes the state-tree pages that no root of the last `keep` heights (up to `height`)
    /// reads: those made stale at a height `s <= height + 1 - keep` (a page made stale at `s`
    /// is read by roots below `s` only). At most [`PRUNE_HEIGHTS_PER_COMMIT`] heights' lists a
    /// commit, so a backlog (the setting lowered, or turned on) is worked off gradually.
    fn prune_state_tree(
        &self,
        batch: &mut Batch,
        height: u64,
        keep: u64,
        flushed: u64,
    ) -> Result<(), StorageError> {
        // Never this height's own list: it is in this batch, not yet in the database.
        let Some(upto) = (height + 1)
            .checked_sub(keep)
            .map(|upto| upto.min(flushed).min(height - 1))
            .filter(|upto| *upto > 0)
        else {
            return Ok(());
        };
        let pruned = match self.get(CF_META, KEY_TREE_PRUNED)? {
            Some(bytes) => u64::from_be_bytes(bytes.as_slice().try_into().map_err(|_| {
                StorageError::Inconsistent {
                    what: "state tree pruning mark",
                    reason: format!("{} bytes, not 8", bytes.len()),
                }
            })?),
            None => 0,
        };
        if pruned >= upto {
            return Ok(());
        }
        let last = upto.min(pruned + PRUNE_HEIGHTS_PER_COMMIT);
        for stale_at in pruned + 1..=last {
            let key = tree_stale_key(stale_at);
            let Some(list) = self.get(CF_META, &key)? else {
                continue;
            };
            let mut rest = list.as_slice();
            while let Some((&len, tail)) = rest.split_first() {
                let len = usize::from(len);
                if tail.len() < len {
                    return Err(StorageError::Inconsistent {
                        what: "state tree stale list",
                        reason: format!("the list of height {stale_at} is cut short"),
                    });
                }
                let (page, after) = tail.split_at(len);
                self.delete(batch, CF_STATE_TREE, page);
                rest = after;
            }
            self.delete(batch, CF_META, &key);
        }
        self.put(batch, CF_META, KEY_TREE_PRUNED, &last.to_be_bytes());
        Ok(())
    }

    /// The changes of the validator set at heights below `below`, in height order: each
    /// block's height and the set it handed off to.
    ///
    /// # Errors
    /// Read failure or a damaged row.
    pub fn handoffs(
        &self,
        below: u64,
    ) -> Result<Vec<(u64, evidence_core::validators::ValidatorSet)>, StorageError> {
        let mut heights = Vec::new();
        self.scan(CF_META, HANDOFF_PREFIX, |key| {
            let Some(height) = key.strip_prefix(HANDOFF_PREFIX) else {
                return Ok(ControlFlow::Break(()));
            };
            let height =
                u64::from_be_bytes(height.try_into().map_err(|_| StorageError::Inconsistent {
                    what: "hand-off",
                    reason: format!("key {} is not a height", hex::encode(key)),
                })?);
            if height >= below {
                return Ok(ControlFlow::Break(()));
            }
            heights.push(height);
            Ok(ControlFlow::Continue(()))
        })?;
        heights
            .into_iter()
            .map(|height| {
                let bytes = self.get(CF_META, &handoff_key(height))?.ok_or_else(|| {
                    StorageError::Inconsistent {
                        what: "hand-off",
                        reason: format!("the row of height {height} vanished while read"),
                    }
                })?;
                let set = evidence_core::validators::ValidatorSet::from_canonical_bytes(&bytes)
                    .map_err(|e| StorageError::Inconsistent {
                        what: "hand-off",
                        reason: format!("the set of height {height}: {e}"),
                    })?;
                Ok((height, set))
            })
            .collect()
    }

    /// Hashes of every stored undecided proposal.
    ///
    /// # Errors
    /// Read failure or damaged keys.
    pub fn pending_hashes(&self) -> Result<Vec<Digest>, StorageError> {
        let mut hashes = Vec::new();
        self.scan(CF_PENDING, &[], |key| {
            hashes.push(decode(key, "pending block key")?);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(hashes)
    }

    /// Read access to the stored Merkle nodes.
    pub fn log_nodes(&self) -> StoredNodes<'_> {
        StoredNodes { store: self }
    }

    /// Log nodes the store keeps in memory.
    #[cfg(test)]
    pub(crate) fn cached_log_nodes(&self) -> usize {
        let generations = self.log_nodes.lock();
        generations[0].len() + generations[1].len()
    }
}

/// The index rows an entry gets: by digest (anchors), by document lineage, by project.
fn index_keys(entry: &Entry) -> Vec<(&'static str, Vec<u8>)> {
    use evidence_core::entry::Record;
    match &entry.record {
        Record::Anchor(document) => {
            let body = &document.body;
            vec![
                (CF_BY_DIGEST, digest_prefix(&body.digest)),
                (
                    CF_BY_DOCUMENT,
                    document_prefix(&body.member, &body.project_id, &body.document_id),
                ),
                (CF_BY_PROJECT, project_prefix(&body.project_id)),
            ]
        }
        Record::Revocation(revocation) => {
            let body = &revocation.body;
            vec![
                (
                    CF_BY_DOCUMENT,
                    document_prefix(&body.member, &body.project_id, &body.document_id),
                ),
                (CF_BY_PROJECT, project_prefix(&body.project_id)),
            ]
        }
        Record::Registration(registration) => {
            vec![(CF_BY_PROJECT, project_prefix(&registration.body.project_id))]
        }
        // Found by their position in the log (auditors replay them), not by a project.
        Record::Governance(_) => Vec::new(),
    }
}

impl StateStore for Store {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Store::get(self, CF_STATE, key).map_err(|e| StateError(e.to_string()))
    }

    fn tree_page(&self, path: &[u8], height: u64) -> Result<Option<Page>, StateError> {
        let key = PageKey::new(path, height);
        let cached = self
            .tree_cache()
            .pages
            .get(&key)
            .map(|cached| Arc::clone(&cached.bytes));
        let decoded = match cached {
            Some(bytes) => Page::from_canonical_bytes(&bytes),
            None => match Store::get(self, CF_STATE_TREE, key.as_bytes())
                .map_err(|e| StateError(e.to_string()))?
            {
                Some(bytes) => Page::from_canonical_bytes(&bytes),
                None => return Ok(None),
            },
        };
        decoded.map(Some).map_err(|e| {
            StateError(format!(
                "state-tree page at height {height} is corrupt: {e}"
            ))
        })
    }
}

/// The row key of the state-tree page at `path` written at `height`: the nibble count, the
/// nibbles packed two to a byte, then the height, so a page's versions sit together. Held in
/// place: at most 1 + 32 + 8 bytes, zero after its length. Two keys of different lengths
/// differ in their first byte (the nibble count), so comparing the whole arrays orders keys
/// as their rows are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct PageKey {
    bytes: [u8; PAGE_KEY_MAX],
    len: u8,
}

/// The longest [`PageKey`]: a path of 64 nibbles (a whole key hash) and a height.
const PAGE_KEY_MAX: usize = 1 + 32 + 8;

impl PageKey {
    fn new(path: &[u8], height: u64) -> Self {
        debug_assert!(path.len() <= 64, "a state-tree path is at most 64 nibbles");
        let mut bytes = [0u8; PAGE_KEY_MAX];
        bytes[0] = path.len() as u8;
        let mut at = 1;
        for pair in path.chunks(2) {
            bytes[at] = (pair[0] << 4) | pair.get(1).copied().unwrap_or(0);
            at += 1;
        }
        bytes[at..at + 8].copy_from_slice(&height.to_be_bytes());
        Self {
            bytes,
            len: (at + 8) as u8,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The meta row of the state tree's root after `height`.
fn tree_root_key(height: u64) -> Vec<u8> {
    let mut key = TREE_ROOT_PREFIX.to_vec();
    key.extend_from_slice(&height.to_be_bytes());
    key
}

const TREE_ROOT_PREFIX: &[u8] = b"tree_root/";

/// The meta row listing the state-tree pages the block at `height` made stale.
fn tree_stale_key(height: u64) -> Vec<u8> {
    let mut key = TREE_STALE_PREFIX.to_vec();
    key.extend_from_slice(&height.to_be_bytes());
    key
}

const TREE_STALE_PREFIX: &[u8] = b"tree_stale/";

/// The meta row of the last height whose stale pages were deleted.
const KEY_TREE_PRUNED: &[u8] = b"tree_pruned";

/// The meta row naming the version of the state's records the database holds.
const KEY_STATE_FORMAT: &[u8] = b"state_format";

/// The meta row of the last height whose state-tree pages were all written.
const KEY_TREE_FLUSHED: &[u8] = b"tree_flushed";

/// The meta row journalling the state-tree changes of the block at `height`, until a flush.
fn tree_journal_key(height: u64) -> Vec<u8> {
    let mut key = b"tree_journal/".to_vec();
    key.extend_from_slice(&height.to_be_bytes());
    key
}

/// State-tree pages are written every this many blocks: the pages near the root, and most of
/// the fourth level, are rewritten by every block, so writing them once per interval instead
/// of once per block saves most of the tree's rows. 32 rather than 8 left about 30 % fewer
/// tree bytes on disk under blocks of a few hundred documents; with the larger
/// [`TREE_CACHE_PAGES_MAX`], which large blocks reach first, batched loads gained 4-11 %
/// (BENCHMARKS.md, "State-tree pages written less often"). A node that stops replays fewer
/// than this many blocks' journals when it opens.
pub const TREE_FLUSH_INTERVAL: u64 = 32;

/// A flush comes early when this many pages wait in memory: about 45 MB of encoded pages (a
/// page is about 375 bytes, plus 16 for its shared buffer's counts), and by arithmetic, not
/// measured, about 19 MB more for the map's buckets at this cap (262,144 of about 72 bytes,
/// kept between flushes), 8 MB for a flush's list of rows, and the flush's write batch about
/// as large as the pages while it is written. Large blocks reach it before
/// [`TREE_FLUSH_INTERVAL`] does: a block of 6,400 documents rewrites about 6,000 pages, most
/// of them deep in the tree.
pub const TREE_CACHE_PAGES_MAX: usize = 120_000;

/// A block's tree changes: each key hash, then `1` and its value hash or `0` for a removal.
fn encode_changes(changes: &[(NodeHash, Option<NodeHash>)]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(changes.len() * 65);
    for (key, value) in changes {
        bytes.extend_from_slice(key);
        match value {
            Some(value) => {
                bytes.push(1);
                bytes.extend_from_slice(value);
            }
            None => bytes.push(0),
        }
    }
    bytes
}

fn decode_changes(mut bytes: &[u8]) -> Option<Vec<(NodeHash, Option<NodeHash>)>> {
    let mut changes = Vec::new();
    while !bytes.is_empty() {
        let (key, rest) = bytes.split_first_chunk::<32>()?;
        let (&tag, rest) = rest.split_first()?;
        let (value, rest) = match tag {
            0 => (None, rest),
            1 => {
                let (value, rest) = rest.split_first_chunk::<32>()?;
                (Some(*value), rest)
            }
            _ => return None,
        };
        changes.push((*key, value));
        bytes = rest;
    }
    Some(changes)
}

/// At most this many heights' stale lists are applied in one commit.
pub(crate) const PRUNE_HEIGHTS_PER_COMMIT: u64 = 8;

/// How many heights of the state tree a node keeps provable by default.
pub const STATE_TREE_KEEP_DEFAULT: u64 = 64;

impl Store {
    /// The state tree's root slot after block `height` (empty at height 0).
    ///
    /// # Errors
    /// Read failure, or a missing or damaged row for a committed height.
    pub fn tree_root(&self, height: u64) -> Result<Slot, StorageError> {
        if height == 0 {
            return Ok(Slot::Empty);
        }
        let bytes = self.get(CF_META, &tree_root_key(height))?.ok_or_else(|| {
            StorageError::Inconsistent {
                what: "state tree root",
                reason: format!(
                    "the root after height {height} is missing: the database was written by an \
                     older version of the node, before the state tree (SPEC.md version 9); \
                     remove the node's data directory and let it sync from its peers"
                ),
            }
        })?;
        Slot::from_canonical_bytes(&bytes).map_err(|source| StorageError::Corrupt {
            what: "state tree root",
            source,
        })
    }
}

/// A read-only view of the committed Merkle nodes. Writes are refused: nodes are written only
/// through [`Store::commit`].
#[derive(Debug, Clone, Copy)]
pub struct StoredNodes<'a> {
    store: &'a Store,
}

/// A write to [`StoredNodes`], which is read-only.
#[derive(Debug, Error)]
pub enum NodeStoreError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the committed log is read-only; nodes are written with their block")]
    ReadOnly,
}

impl NodeStore for StoredNodes<'_> {
    type Error = NodeStoreError;

    fn get(&self, level: u8, index: u64) -> Result<Option<NodeHash>, Self::Error> {
        if let Some(hash) = self.store.log_nodes.get(level, index) {
            return Ok(Some(hash));
        }
        let found = self.read(level, index)?;
        if let Some(hash) = found {
            self.store.log_nodes.insert(level, index, hash);
        }
        Ok(found)
    }

    fn put(&mut self, _level: u8, _index: u64, _hash: NodeHash) -> Result<(), Self::Error> {
        Err(NodeStoreError::ReadOnly)
    }
}

impl StoredNodes<'_> {
    /// The node as the database holds it (a node not yet committed is `None`).
    fn read(&self, level: u8, index: u64) -> Result<Option<NodeHash>, NodeStoreError> {
        let key = node_key(level, index);
        let hash = |bytes: &[u8]| -> Result<NodeHash, StorageError> {
            bytes.try_into().map_err(|_| StorageError::Inconsistent {
                what: "log node",
                reason: format!("{} bytes, expected 32", bytes.len()),
            })
        };
        match &self.store.backend {
            // Pinned: no copy of the value on the proof path.
            #[cfg(feature = "rocksdb")]
            Backend::Rocks(db) => match db
                .get_pinned_cf(cf(db, CF_LOG_NODES), key)
                .map_err(StorageError::from)?
            {
                None => Ok(None),
                Some(bytes) => Ok(Some(hash(&bytes)?)),
            },
            Backend::Memory(memory) => {
                match memory.lock()[family_index(CF_LOG_NODES)].get(&key[..]) {
                    None => Ok(None),
                    Some(bytes) => Ok(Some(hash(bytes)?)),
                }
            }
        }
    }
}

/// A view of the committed nodes that remembers the nodes it found: many proofs in one log (the receipts of
/// a batch, whose entries are neighbours and whose paths share most nodes) read each node
/// from the database once. A committed node never changes, so nothing it remembers goes
/// stale; a node not found is asked for again (a later block may write it).
#[derive(Debug)]
pub struct CachedNodes<B> {
    inner: B,
    read: std::cell::RefCell<std::collections::HashMap<(u8, u64), NodeHash>>,
}

impl<B> CachedNodes<B> {
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            read: std::cell::RefCell::default(),
        }
    }
}

impl<B: NodeStore<Error = NodeStoreError>> NodeStore for CachedNodes<B> {
    type Error = NodeStoreError;

    fn get(&self, level: u8, index: u64) -> Result<Option<NodeHash>, Self::Error> {
        if let Some(hash) = self.read.borrow().get(&(level, index)) {
            return Ok(Some(*hash));
        }
        let hash = self.inner.get(level, index)?;
        if let Some(hash) = hash {
            self.read.borrow_mut().insert((level, index), hash);
        }
        Ok(hash)
    }

    fn put(&mut self, _level: u8, _index: u64, _hash: NodeHash) -> Result<(), Self::Error> {
        Err(NodeStoreError::ReadOnly)
    }
}

/// The committed nodes plus the nodes a block being prepared would add. Appending to a log
/// over an overlay computes the next root without touching the database; the added nodes are
/// committed with the block.
#[derive(Debug)]
pub struct OverlayNodes<B> {
    base: B,
    added: Vec<(u8, u64, NodeHash)>,
}

impl<B> OverlayNodes<B> {
    pub fn new(base: B) -> Self {
        Self {
            base,
            added: Vec::new(),
        }
    }

    /// The nodes added, in the order written.
    pub fn into_added(self) -> Vec<(u8, u64, NodeHash)> {
        self.added
    }
}

impl<B: NodeStore<Error = NodeStoreError>> NodeStore for OverlayNodes<B> {
    type Error = NodeStoreError;

    fn get(&self, level: u8, index: u64) -> Result<Option<NodeHash>, Self::Error> {
        // Recently added nodes are few (O(entries) per block) and looked up rarely: appends
        // read only peaks, which the log keeps in memory.
        if let Some((_, _, hash)) = self
            .added
            .iter()
            .rev()
            .find(|(l, i, _)| *l == level && *i == index)
        {
            return Ok(Some(*hash));
        }
        self.base.get(level, index)
    }

    fn put(&mut self, level: u8, index: u64, hash: NodeHash) -> Result<(), Self::Error> {
        self.added.push((level, index, hash));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page's row key is the nibble count, the nibbles two to a byte (an odd last one in the
    /// high half), then the height; the fixed-size key orders as its bytes do, which is the
    /// order the flush writes rows in.
    #[test]
    fn page_keys_are_their_rows_and_order_as_them() {
        // The row key as it was first written, kept here as the reference.
        fn reference(path: &[u8], height: u64) -> Vec<u8> {
            let mut key = vec![path.len() as u8];
            for pair in path.chunks(2) {
                key.push((pair[0] << 4) | pair.get(1).copied().unwrap_or(0));
            }
            key.extend_from_slice(&height.to_be_bytes());
            key
        }
        for len in 0..=64usize {
            let path: Vec<u8> = (0..len).map(|i| ((i * 7 + len) % 16) as u8).collect();
            for height in [0, 1, 0x0102_0304_0506_0708, u64::MAX] {
                let key = PageKey::new(&path, height);
                assert_eq!(key.as_bytes(), reference(&path, height), "{len} nibbles");
                assert_eq!(usize::from(key.len), key.as_bytes().len());
            }
        }
        assert_eq!(PageKey::new(&[], 7).as_bytes(), [0, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(
            PageKey::new(&[0x1, 0x2, 0x3], 0x0102).as_bytes(),
            [3, 0x12, 0x30, 0, 0, 0, 0, 0, 0, 0x01, 0x02]
        );
        let full = PageKey::new(&[0xf; 64], u64::MAX);
        assert_eq!(full.as_bytes().len(), PAGE_KEY_MAX);
        assert_eq!(full.as_bytes()[1..33], [0xff; 32]);
        let mut keys = Vec::new();
        for len in [0usize, 1, 2, 3, 4, 17, 64] {
            for first in [0u8, 1, 0xe, 0xf] {
                for height in [0u64, 1, 255, 256, u64::MAX] {
                    let path: Vec<u8> = (0..len).map(|i| (first + i as u8) & 0xf).collect();
                    keys.push(PageKey::new(&path, height));
                }
            }
        }
        for a in &keys {
            for b in &keys {
                assert_eq!(
                    a.cmp(b),
                    a.as_bytes().cmp(b.as_bytes()),
                    "{a:?} against {b:?}"
                );
                assert_eq!(a == b, a.as_bytes() == b.as_bytes());
            }
        }
    }

    /// The cache of log nodes stays within its two generations however many nodes pass
    /// through it, and a node read again and again stays in it.
    #[test]
    fn the_log_node_cache_is_bounded_and_keeps_what_is_read_again() {
        let cache = NodeCache::default();
        let hash = |index: u64| -> NodeHash {
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&index.to_be_bytes());
            hash
        };
        cache.insert(30, 0, hash(u64::MAX));
        for index in 0..5 * NODE_CACHE_GENERATION as u64 {
            cache.insert(4, index, hash(index));
            if index % 1_000 == 0 {
                assert_eq!(cache.get(30, 0), Some(hash(u64::MAX)), "read again, kept");
            }
            let generations = cache.lock();
            assert!(generations[0].len() <= NODE_CACHE_GENERATION);
            assert!(generations[1].len() <= NODE_CACHE_GENERATION);
        }
        assert_eq!(cache.get(30, 0), Some(hash(u64::MAX)));
        let last = 5 * NODE_CACHE_GENERATION as u64 - 1;
        assert_eq!(cache.get(4, last), Some(hash(last)), "the newest is kept");
        assert_eq!(cache.get(4, 0), None, "the oldest is gone");
        assert_eq!(cache.get(5, 0), None, "never inserted");
    }

    #[test]
    fn transaction_record_round_trips_and_rejects_garbage() {
        let record = TransactionRecord {
            height: 3,
            position: 1,
            first_entry: 10,
            entry_count: 0,
            rejection: Some(Rejection {
                code: "policy".into(),
                message: "no".into(),
            }),
        };
        let bytes = record.to_canonical_bytes();
        assert_eq!(TransactionRecord::from_canonical_bytes(&bytes), Ok(record));
        for cut in 0..bytes.len() {
            assert!(TransactionRecord::from_canonical_bytes(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn an_entry_is_found_through_its_blocks_spans_and_damaged_spans_are_refused() {
        let store = Store::memory(MemoryDatabase::new());
        let entry_source = |index: u64| {
            store
                .entry_spans(index)
                .map(|found| found.and_then(|(first, spans)| spans.source(first, index)))
        };
        let put = |key: &[u8], value: &[u8]| {
            let mut batch = store.batch();
            store.put(&mut batch, CF_ENTRIES, key, value);
            store.write(batch).unwrap();
        };
        assert_eq!(entry_source(0).unwrap(), None, "an empty log");
        // Block 2 appended entries 0..5 (positions 0 and 3), block 4 entries 5..6.
        let spans = |height, spans: &[(u32, u32)]| {
            EntrySpans {
                height,
                spans: spans.to_vec(),
            }
            .to_canonical_bytes()
        };
        put(&0u64.to_be_bytes(), &spans(2, &[(0, 3), (3, 2)]));
        put(&5u64.to_be_bytes(), &spans(4, &[(1, 1)]));
        let source = |height, position, offset, count| EntrySource {
            height,
            position,
            offset,
            count,
        };
        assert_eq!(entry_source(0).unwrap(), Some(source(2, 0, 0, 3)));
        assert_eq!(entry_source(2).unwrap(), Some(source(2, 0, 2, 3)));
        assert_eq!(entry_source(3).unwrap(), Some(source(2, 3, 0, 2)));
        assert_eq!(entry_source(4).unwrap(), Some(source(2, 3, 1, 2)));
        assert_eq!(entry_source(5).unwrap(), Some(source(4, 1, 0, 1)));
        assert_eq!(entry_source(6).unwrap(), None, "past the last block");
        assert_eq!(entry_source(u64::MAX).unwrap(), None);
        // Damaged rows: cut short, or a key that is not an index.
        let good = spans(7, &[(0, 1)]);
        for cut in 0..good.len() {
            put(&10u64.to_be_bytes(), &good[..cut]);
            assert!(matches!(
                entry_source(10),
                Err(StorageError::Corrupt {
                    what: "entry spans",
                    ..
                })
            ));
        }
        put(&[0xff; 3], &good);
        assert!(matches!(
            entry_source(u64::MAX),
            Err(StorageError::Inconsistent {
                what: "entry spans",
                ..
            })
        ));
    }

    #[test]
    fn index_prefixes_do_not_collide() {
        // ("ab", "c") and ("a", "bc") must differ: strings are length-prefixed.
        assert_ne!(
            document_prefix("m", "ab", "c"),
            document_prefix("m", "a", "bc")
        );
    }

    /// The `.log` files in a database directory: how many, and their bytes.
    fn wal_files(dir: &Path) -> (usize, u64) {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap())
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
            .fold((0, 0), |(n, bytes), entry| {
                (n + 1, bytes + entry.metadata().unwrap().len())
            })
    }

    /// Writes one small row to a family that is then left alone, and 6 MiB to another, the
    /// way a quiet index and the blocks do.
    fn pin_the_log_and_write_past_it(store: &Store) {
        let mut batch = store.batch();
        store.put(&mut batch, CF_HEADERS, b"quiet", b"row");
        store.write(batch).unwrap();
        let value = vec![7u8; 64 << 10];
        for i in 0u32..96 {
            let mut batch = store.batch();
            store.put(&mut batch, CF_BLOCKS, &i.to_be_bytes(), &value);
            store.write(batch).unwrap();
        }
    }

    #[test]
    fn the_write_ahead_log_is_bounded_and_nothing_is_lost() {
        let limit: u64 = 1 << 20;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_wal_max(dir.path(), limit).unwrap();
        pin_the_log_and_write_past_it(&store);
        // RocksDB checks the bound as a write comes in (not while the flush it forced last is
        // still running) and deletes a log file once that flush is done, in the background:
        // so a node's next writes bring it back under. Here, small writes stand in for them.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut held = wal_files(dir.path());
        while held.1 > 2 * limit && std::time::Instant::now() < deadline {
            let mut batch = store.batch();
            store.put(&mut batch, CF_META, b"nudge", b"");
            store.write(batch).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            held = wal_files(dir.path());
        }
        assert!(
            held.1 <= 2 * limit,
            "{} log files hold {} bytes, past twice the bound of {limit}",
            held.0,
            held.1
        );
        drop(store);
        let store = Store::open_with_wal_max(dir.path(), limit).unwrap();
        assert_eq!(
            store.get(CF_HEADERS, b"quiet").unwrap().as_deref(),
            Some(&b"row"[..])
        );
        for i in 0u32..96 {
            assert_eq!(
                store
                    .get(CF_BLOCKS, &i.to_be_bytes())
                    .unwrap()
                    .map(|v| v.len()),
                Some(64 << 10)
            );
        }

        // Without the bound, all of it stays in the log.
        let unbounded = tempfile::tempdir().unwrap();
        let store = Store::open_with_wal_max(unbounded.path(), 0).unwrap();
        pin_the_log_and_write_past_it(&store);
        let held = wal_files(unbounded.path());
        assert!(
            held.1 >= 6 << 20,
            "RocksDB's default kept only {} bytes",
            held.1
        );
    }

    #[test]
    fn reopens_empty_and_reports_height_zero() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.height().unwrap(), 0);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.height().unwrap(), 0);
        assert!(store.header(1).unwrap().is_none());
        assert!(store.log_nodes().get(0, 0).unwrap().is_none());
    }
}
