//! The bounded pool of admitted transactions waiting for a block.
//!
//! Admission checks everything a block will check — size, encoding, the filer's signature,
//! policy and replay — against the committed state, so a client learns of a refusal at once
//! and blocks carry only transactions that were valid when admitted. A transaction another
//! member's node relayed was admitted there so, if that node is honest; here it is checked
//! up to the contract's rules (size, encoding, replay, signer and signature), which run when a
//! block carrying it is executed ([`Mempool::admit_relayed`]). A full pool answers
//! [`AdmitError::Busy`]; an admitted transaction stays until a committed block carries it (a
//! proposal that is not decided leaves it in place), or until this node, proposing, finds
//! that the committed state no longer admits it in any block, and in both cases whoever waits
//! for it is told.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use evidence_contracts::error::TxError;
use evidence_contracts::execute::{ApplyError, BlockContext, apply_prepared, check_relayed};
use evidence_contracts::state::{Overlay, StoreError};
use evidence_contracts::transaction::{Prepared, Transaction};
use evidence_core::digest::Digest;
use evidence_core::encoding::Decode;
use thiserror::Error;
use tokio::sync::Notify;

use crate::ledger::Ledger;
use crate::storage::Store;

/// Why a transaction was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[expect(
    clippy::large_enum_variant,
    reason = "rejections carry the offending keys as evidence; they are built once per failure"
)]
pub enum AdmitError {
    /// The pool is full; retry later.
    #[error("the node is busy: {pending} transactions ({bytes} bytes) are waiting; retry later")]
    Busy { pending: usize, bytes: usize },
    /// The transaction breaks a rule (malformed, too large, unknown filer, bad signature,
    /// policy, replay, ...).
    #[error(transparent)]
    Rejected(TxError),
    /// The node could not read its state.
    #[error("storage failure while checking the transaction: {0}")]
    Storage(String),
}

impl From<StoreError> for AdmitError {
    fn from(error: StoreError) -> Self {
        Self::Storage(error.0)
    }
}

/// Limits of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolLimits {
    /// Most transactions waiting.
    pub transactions: usize,
    /// Most bytes waiting.
    pub bytes: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        Self {
            transactions: 50_000,
            bytes: 256 << 20,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    /// Admission order.
    order: BTreeMap<u64, Digest>,
    txs: HashMap<Digest, (u64, Vec<u8>)>,
    bytes: usize,
}

/// The pool.
#[derive(Debug)]
pub struct Mempool {
    inner: Mutex<Inner>,
    notify: Notify,
    limits: MempoolLimits,
}

impl Mempool {
    pub fn new(limits: MempoolLimits) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            notify: Notify::new(),
            limits,
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks `bytes` against the committed state as if it were in the next block at
    /// `now_ms`, and admits it. Admitting a transaction already waiting is not an error: its
    /// id is returned again, with `false` (not newly admitted).
    ///
    /// # Errors
    /// [`AdmitError::Busy`] when full, [`AdmitError::Rejected`] with the rule broken.
    pub fn admit(
        &self,
        ledger: &Ledger,
        bytes: Vec<u8>,
        now_ms: u64,
    ) -> Result<(Digest, bool), AdmitError> {
        self.admit_observed(ledger, bytes, now_ms, |_, _| {})
    }

    /// [`Mempool::admit`], calling `refused` with the transaction and the reason when a check
    /// or a rule against the state refuses it (not when it is over the configured size, does
    /// not decode, or the pool is full).
    ///
    /// # Errors
    /// As [`Mempool::admit`].
    pub fn admit_observed(
        &self,
        ledger: &Ledger,
        bytes: Vec<u8>,
        now_ms: u64,
        refused: impl FnOnce(&Transaction, &TxError),
    ) -> Result<(Digest, bool), AdmitError> {
        self.admit_checked(ledger, bytes, now_ms, |overlay, prepared, context| {
            let mut overlay = overlay;
            match apply_prepared(&mut overlay, prepared, context, context.log_size) {
                Ok(applied) => Ok(applied.tx_id),
                Err(ApplyError::Rejected(error)) => {
                    refused(prepared.transaction(), &error);
                    Err(AdmitError::Rejected(error))
                }
                Err(ApplyError::Store(error)) => Err(error.into()),
            }
        })
    }

    /// Admits a transaction another member's node admitted and relayed. It is checked as
    /// [`Mempool::admit`] checks a submission up to the contract's rules: its size and form,
    /// that it was not applied before, and that an active filer (or a member's governance
    /// key) signed it, its signature verified here ([`check_relayed`]). The rules, which an
    /// honest relaying node ran on its own committed state, run when a block carrying it is
    /// executed; one it breaks by then is refused there and its id is used up, as it would be
    /// had the state changed after it was admitted. So a relayed transaction costs this node
    /// no state reads but the replay and signer lookups, and what no block may carry (unsigned
    /// junk from a faulty relaying node, say) never takes a place in the pool.
    ///
    /// # Errors
    /// As [`Mempool::admit`], with [`AdmitError::Rejected`] for the checks above only.
    pub fn admit_relayed(
        &self,
        ledger: &Ledger,
        bytes: Vec<u8>,
        now_ms: u64,
    ) -> Result<(Digest, bool), AdmitError> {
        self.admit_checked(ledger, bytes, now_ms, |overlay, prepared, context| {
            check_relayed(&overlay, prepared, context).map_err(|error| match error {
                ApplyError::Rejected(error) => AdmitError::Rejected(error),
                ApplyError::Store(error) => error.into(),
            })
        })
    }

    /// Why the checks before the contract's rules refuse `bytes` against the committed state,
    /// as for the next block at `now_ms`; `None` when they pass. A proposer that left a waiting
    /// transaction out of its block asks this before it drops it: the block's own earlier
    /// transactions can refuse one the committed state admits (a filer revoked earlier in the
    /// same block), and that block may not be decided.
    ///
    /// # Errors
    /// The store could not be read.
    pub fn refusal_on_committed_state(
        ledger: &Ledger,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<Option<TxError>, StoreError> {
        let transaction = match Transaction::from_canonical_bytes(bytes) {
            Ok(transaction) => transaction,
            Err(error) => return Ok(Some(TxError::Malformed(error))),
        };
        let tip = ledger.tip();
        let prepared = Prepared::decoded(&transaction, ledger.algorithm(), bytes.len());
        let context = BlockContext {
            genesis: ledger.genesis(),
            config: &tip.configuration,
            height: tip.height + 1,
            time_ms: now_ms.max(tip.time_ms + 1),
            log_size: tip.log_size,
            verified: Some(ledger.verified_signatures()),
        };
        match check_relayed(&Overlay::new(ledger.store()), &prepared, &context) {
            Ok(_) => Ok(None),
            Err(ApplyError::Rejected(error)) => Ok(Some(error)),
            Err(ApplyError::Store(error)) => Err(error),
        }
    }

    /// Admission around `check`, which is given a view of the committed state, the prepared
    /// transaction and the context of the next block at `now_ms`, and answers its id.
    fn admit_checked(
        &self,
        ledger: &Ledger,
        bytes: Vec<u8>,
        now_ms: u64,
        check: impl FnOnce(
            Overlay<'_, Store>,
            &Prepared<'_>,
            &BlockContext<'_>,
        ) -> Result<Digest, AdmitError>,
    ) -> Result<(Digest, bool), AdmitError> {
        let genesis = ledger.genesis();
        let tip = ledger.tip();
        // A block carries no transaction over TRANSACTION_BYTES_MAX whatever the configuration
        // allows: one admitted above it would make every block that carries it undecodable.
        let max = tip
            .configuration
            .policy
            .limits
            .transaction_bytes_max
            .min(crate::block::TRANSACTION_BYTES_MAX) as usize;
        if bytes.len() > max {
            return Err(AdmitError::Rejected(TxError::TooLarge {
                size: bytes.len(),
                max,
            }));
        }
        let transaction = Transaction::from_canonical_bytes(&bytes)
            .map_err(|e| AdmitError::Rejected(TxError::Malformed(e)))?;
        // Its id and batch tree, computed once for the lookup below and the checks.
        let prepared = Prepared::decoded(&transaction, ledger.algorithm(), bytes.len());
        // A transaction already waiting is answered as such even when the pool is full.
        if let Some(tx_id) = prepared.id()
            && self.inner().txs.contains_key(&tx_id)
        {
            return Ok((tx_id, false));
        }
        self.check_room(bytes.len())?;
        let context = BlockContext {
            genesis,
            config: &tip.configuration,
            height: tip.height + 1,
            time_ms: now_ms.max(tip.time_ms + 1),
            log_size: tip.log_size,
            verified: Some(ledger.verified_signatures()),
        };
        let tx_id = check(Overlay::new(ledger.store()), &prepared, &context)?;
        let mut inner = self.inner();
        if inner.txs.contains_key(&tx_id) {
            return Ok((tx_id, false));
        }
        if inner.txs.len() >= self.limits.transactions
            || inner.bytes + bytes.len() > self.limits.bytes
        {
            return Err(AdmitError::Busy {
                pending: inner.txs.len(),
                bytes: inner.bytes,
            });
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.bytes += bytes.len();
        inner.order.insert(seq, tx_id);
        inner.txs.insert(tx_id, (seq, bytes));
        drop(inner);
        self.notify.notify_waiters();
        Ok((tx_id, true))
    }

    fn check_room(&self, len: usize) -> Result<(), AdmitError> {
        let inner = self.inner();
        if inner.txs.len() >= self.limits.transactions || inner.bytes + len > self.limits.bytes {
            return Err(AdmitError::Busy {
                pending: inner.txs.len(),
                bytes: inner.bytes,
            });
        }
        Ok(())
    }

    /// The oldest waiting transactions, at most `max_transactions` and `max_bytes` together
    /// (at least one if any waits). They stay in the pool until [`remove`](Self::remove).
    pub fn batch(&self, max_transactions: usize, max_bytes: usize) -> Vec<Vec<u8>> {
        let inner = self.inner();
        let mut batch = Vec::new();
        let mut bytes = 0;
        for tx_id in inner.order.values() {
            if batch.len() >= max_transactions {
                break;
            }
            let Some((_, tx)) = inner.txs.get(tx_id) else {
                continue;
            };
            if !batch.is_empty() && bytes + tx.len() > max_bytes {
                break;
            }
            bytes += tx.len();
            batch.push(tx.clone());
        }
        batch
    }

    /// Removes transactions (committed, or found unfit for any block).
    pub fn remove<'a>(&self, tx_ids: impl IntoIterator<Item = &'a Digest>) {
        let mut inner = self.inner();
        for tx_id in tx_ids {
            if let Some((seq, tx)) = inner.txs.remove(tx_id) {
                inner.order.remove(&seq);
                inner.bytes -= tx.len();
            }
        }
    }

    pub fn contains(&self, tx_id: &Digest) -> bool {
        self.inner().txs.contains_key(tx_id)
    }

    /// Transactions waiting.
    pub fn len(&self) -> usize {
        self.inner().txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> usize {
        self.inner().bytes
    }

    /// Waits until a transaction waits or `deadline` passes; true if one waits.
    pub async fn wait_nonempty(&self, deadline: tokio::time::Instant) -> bool {
        loop {
            let notified = self.notify.notified();
            if !self.is_empty() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return !self.is_empty();
            }
        }
    }
}
