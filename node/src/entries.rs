//! Committed log entries, derived from the blocks that appended them. The store keeps no row
//! per entry (see `storage`): an entry is its transaction's record number `offset`
//! (`Prepared::records` in the contracts, the function execution takes them from), sequenced at
//! its block's height and time. The blocks read last and the transactions decoded last are
//! kept in memory, so a batch's receipts, a page of a project's listing or a scan of the log
//! decode each block and each transaction once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use evidence_contracts::transaction::{Prepared, Transaction};
use evidence_core::digest::HashAlgorithm;
use evidence_core::encoding::Decode;
use evidence_core::entry::{Entry, Record};
use evidence_core::merkle::{NodeHash, NodeStore, node_hash};

use crate::block::Block;
use crate::storage::{
    EntrySource, EntrySpans, LOG_LEVEL_STORED_MIN, NodeStoreError, StorageError, Store,
};

/// Blocks kept decoded: a few, since a block may hold megabytes of transactions.
const BLOCKS_KEPT: usize = 4;
/// Transactions kept with their records: more than a block of single documents' worth of
/// callers asks for at once.
const TRANSACTIONS_KEPT: usize = 512;

/// Blocks' spans rows kept: a proof's low levels read the entries of a few neighbouring blocks.
const SPANS_KEPT: usize = 16;

/// One committed transaction's records and its block's time.
#[derive(Debug)]
pub struct Appended {
    pub height: u64,
    pub time_ms: u64,
    pub records: Vec<Record>,
    /// The records' leaf hashes in the log, computed when first asked for.
    leaves: std::sync::OnceLock<Vec<NodeHash>>,
}

impl Appended {
    /// The leaf hash of the transaction's entry `offset`, the transaction's first entry being
    /// `first` in the log.
    fn leaf_hash(&self, algorithm: HashAlgorithm, first: u64, offset: usize) -> Option<NodeHash> {
        self.leaves
            .get_or_init(|| {
                (0..self.records.len())
                    .filter_map(|k| self.entry(first + k as u64, k))
                    .map(|entry| entry.leaf_hash(algorithm))
                    .collect()
            })
            .get(offset)
            .copied()
    }

    /// The entry `offset` of the transaction, numbered `index` in the log.
    pub fn entry(&self, index: u64, offset: usize) -> Option<Entry> {
        self.records.get(offset).map(|record| Entry {
            index,
            height: self.height,
            sequenced_at_ms: self.time_ms,
            record: record.clone(),
        })
    }
}

/// The recently read blocks and decoded transactions.
#[derive(Debug, Default)]
pub struct EntrySources {
    recent: Mutex<Recent>,
}

#[derive(Debug, Default)]
struct Recent {
    blocks: VecDeque<(u64, Arc<Block>)>,
    transactions: VecDeque<((u64, u32), Arc<Appended>)>,
    /// `(first entry, end, spans)` of blocks' spans rows.
    spans: VecDeque<(u64, u64, Arc<EntrySpans>)>,
    /// The leaf hashes of the last blocks committed, from their first entry on.
    leaves: VecDeque<(u64, Arc<Vec<NodeHash>>)>,
}

impl EntrySources {
    /// Which transaction of which block appended entry `index` (`None` past the committed
    /// log), from the block's spans row ([`Store::entry_spans`]), the rows read last kept.
    ///
    /// # Errors
    /// Read failure or damaged bytes.
    pub fn source(&self, store: &Store, index: u64) -> Result<Option<EntrySource>, StorageError> {
        let kept = self
            .lock()
            .spans
            .iter()
            .find(|(first, end, _)| (*first..*end).contains(&index))
            .map(|(first, _, spans)| (*first, Arc::clone(spans)));
        if let Some((first, spans)) = kept {
            return Ok(spans.source(first, index));
        }
        let Some((first, spans)) = store.entry_spans(index)? else {
            return Ok(None);
        };
        let source = spans.source(first, index);
        let end = first.saturating_add(spans.len());
        let mut recent = self.lock();
        if recent.spans.len() >= SPANS_KEPT {
            recent.spans.pop_front();
        }
        recent.spans.push_back((first, end, Arc::new(spans)));
        Ok(source)
    }

    /// The committed entry at `index` (`None` past the committed log).
    ///
    /// # Errors
    /// Read failure, damaged bytes, or a block that does not give the entries its spans say
    /// it appended.
    pub fn entry(
        &self,
        store: &Store,
        algorithm: HashAlgorithm,
        index: u64,
    ) -> Result<Option<Entry>, StorageError> {
        let Some((source, appended)) = self.appended(store, algorithm, index)? else {
            return Ok(None);
        };
        Ok(appended.entry(index, source.offset as usize))
    }

    /// The leaf hash of the committed entry at `index` (`None` past the committed log).
    ///
    /// # Errors
    /// As [`EntrySources::entry`].
    pub fn leaf_hash(
        &self,
        store: &Store,
        algorithm: HashAlgorithm,
        index: u64,
    ) -> Result<Option<NodeHash>, StorageError> {
        let kept = self
            .lock()
            .leaves
            .iter()
            .find(|(first, leaves)| (*first..*first + leaves.len() as u64).contains(&index))
            .map(|(first, leaves)| leaves[(index - first) as usize]);
        if kept.is_some() {
            return Ok(kept);
        }
        let Some((source, appended)) = self.appended(store, algorithm, index)? else {
            return Ok(None);
        };
        let offset = source.offset as usize;
        Ok(appended.leaf_hash(algorithm, index - offset as u64, offset))
    }

    fn appended(
        &self,
        store: &Store,
        algorithm: HashAlgorithm,
        index: u64,
    ) -> Result<Option<(EntrySource, Arc<Appended>)>, StorageError> {
        let Some(source) = self.source(store, index)? else {
            return Ok(None);
        };
        let appended = self.transaction(
            store,
            algorithm,
            source.height,
            source.position,
            source.count,
        )?;
        Ok(Some((source, appended)))
    }

    /// The records the transaction at `position` of the committed block at `height` appended,
    /// which the store says are `count` (every record of an accepted transaction; a refused
    /// one appended none, and its records are never asked for).
    ///
    /// # Errors
    /// Read failure, a block that is not stored, a transaction that does not decode, or one
    /// whose records are not `count`.
    pub fn transaction(
        &self,
        store: &Store,
        algorithm: HashAlgorithm,
        height: u64,
        position: u32,
        count: u32,
    ) -> Result<Arc<Appended>, StorageError> {
        let appended = self.decoded(store, algorithm, height, position)?;
        if appended.records.len() != count as usize {
            return Err(StorageError::Inconsistent {
                what: "entry spans",
                reason: format!(
                    "the transaction at position {position} of block {height} appended {count} \
                     entries, its records are {}",
                    appended.records.len()
                ),
            });
        }
        Ok(appended)
    }

    fn decoded(
        &self,
        store: &Store,
        algorithm: HashAlgorithm,
        height: u64,
        position: u32,
    ) -> Result<Arc<Appended>, StorageError> {
        if let Some(found) = self
            .lock()
            .transactions
            .iter()
            .find(|(key, _)| *key == (height, position))
        {
            return Ok(Arc::clone(&found.1));
        }
        let block = self.block(store, height)?;
        let bytes = block.transactions.get(position as usize).ok_or_else(|| {
            StorageError::Inconsistent {
                what: "entry spans",
                reason: format!(
                    "block {height} has {} transactions, not one at position {position}",
                    block.transactions.len()
                ),
            }
        })?;
        let transaction =
            Transaction::from_canonical_bytes(bytes).map_err(|source| StorageError::Corrupt {
                what: "block transaction",
                source,
            })?;
        let records = Prepared::new(&transaction, algorithm)
            .records()
            .ok_or_else(|| StorageError::Inconsistent {
                what: "entry spans",
                reason: format!(
                    "the transaction at position {position} of block {height} appended \
                     entries, but it is an anchor batch of a length no chain accepts"
                ),
            })?;
        let appended = Arc::new(Appended {
            height,
            time_ms: block.header.time_ms,
            records,
            leaves: std::sync::OnceLock::new(),
        });
        let mut recent = self.lock();
        if recent.transactions.len() >= TRANSACTIONS_KEPT {
            recent.transactions.pop_front();
        }
        recent
            .transactions
            .push_back(((height, position), Arc::clone(&appended)));
        Ok(appended)
    }

    /// Keeps the block just committed at `height` and the leaf hashes of its entries (the
    /// first numbered `first`): the callers that waited for it ask for its transactions'
    /// entries and their proofs next, all at once, and would otherwise each read the block and
    /// hash their neighbours' entries again.
    pub fn committed(&self, height: u64, block: Block, first: u64, leaves: Vec<NodeHash>) {
        self.keep_block(height, Arc::new(block));
        let mut recent = self.lock();
        if recent.leaves.len() >= BLOCKS_KEPT {
            recent.leaves.pop_front();
        }
        recent.leaves.push_back((first, Arc::new(leaves)));
    }

    fn keep_block(&self, height: u64, block: Arc<Block>) {
        let mut recent = self.lock();
        if recent.blocks.iter().any(|(h, _)| *h == height) {
            return;
        }
        if recent.blocks.len() >= BLOCKS_KEPT {
            recent.blocks.pop_front();
        }
        recent.blocks.push_back((height, block));
    }

    fn block(&self, store: &Store, height: u64) -> Result<Arc<Block>, StorageError> {
        if let Some(found) = self.lock().blocks.iter().find(|(h, _)| *h == height) {
            return Ok(Arc::clone(&found.1));
        }
        let block = Arc::new(
            store
                .block(height)?
                .ok_or_else(|| StorageError::Inconsistent {
                    what: "entry spans",
                    reason: format!("they name block {height}, which is not stored"),
                })?,
        );
        self.keep_block(height, Arc::clone(&block));
        Ok(block)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The committed log's Merkle nodes as proofs and appends read them: the stored nodes from
/// [`LOG_LEVEL_STORED_MIN`] up, and below it each node hashed again from its entries' leaves
/// (at most 8), the entries derived from their blocks.
#[derive(Debug, Clone, Copy)]
pub struct LogNodes<'a> {
    pub store: &'a Store,
    pub sources: &'a EntrySources,
    pub algorithm: HashAlgorithm,
}

impl NodeStore for LogNodes<'_> {
    type Error = NodeStoreError;

    fn get(&self, level: u8, index: u64) -> Result<Option<NodeHash>, Self::Error> {
        if level >= LOG_LEVEL_STORED_MIN {
            return self.store.log_nodes().get(level, index);
        }
        // The subtree's leaves, combined pairwise level by level up to `level`.
        let width = 1u64 << level;
        let Some(start) = index.checked_mul(width) else {
            return Ok(None);
        };
        let mut hashes = Vec::with_capacity(width as usize);
        for leaf in start..start.saturating_add(width) {
            match self.sources.leaf_hash(self.store, self.algorithm, leaf)? {
                Some(hash) => hashes.push(hash),
                // Not a complete subtree of the committed log.
                None => return Ok(None),
            }
        }
        while hashes.len() > 1 {
            hashes = hashes
                .chunks_exact(2)
                .map(|pair| node_hash(self.algorithm, &pair[0], &pair[1]))
                .collect();
        }
        Ok(hashes.pop())
    }

    fn put(&mut self, _level: u8, _index: u64, _hash: NodeHash) -> Result<(), Self::Error> {
        Err(NodeStoreError::ReadOnly)
    }
}
