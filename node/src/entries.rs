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

use crate::block::Block;
use crate::storage::{StorageError, Store};

/// Blocks kept decoded: a few, since a block may hold megabytes of transactions.
const BLOCKS_KEPT: usize = 4;
/// Transactions kept with their records: more than a block of single documents' worth of
/// callers asks for at once.
const TRANSACTIONS_KEPT: usize = 512;

/// One committed transaction's records and its block's time.
#[derive(Debug)]
pub struct Appended {
    pub height: u64,
    pub time_ms: u64,
    pub records: Vec<Record>,
}

impl Appended {
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
}

impl EntrySources {
    /// The records the transaction at `position` of the committed block at `height` appended
    /// (every record of an accepted transaction; a refused one appended none, and its records
    /// are never asked for).
    ///
    /// # Errors
    /// Read failure, a block that is not stored, or a transaction that does not decode.
    pub fn transaction(
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

    /// Keeps the block just committed at `height`: the callers that waited for it ask for
    /// its transactions' entries next, all at once, and would otherwise each read it.
    pub fn committed(&self, height: u64, block: Block) {
        self.keep_block(height, Arc::new(block));
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
