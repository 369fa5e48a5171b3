//! The ledger application: what consensus drives and what the API reads.
//!
//! It joins the ledger, the mempool, the clients waiting for their transactions and the
//! checkpoint stream, so that committing a block is one call: write it, take its transactions
//! out of the mempool, answer whoever waits for them, publish the checkpoint, count it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use evidence_contracts::error::TxError;
use evidence_core::certificate::CommitCertificate;
use evidence_core::checkpoint::Checkpoint;
use evidence_core::digest::Digest;
use evidence_core::keys::PublicKey;
use tokio::sync::{broadcast, oneshot};

use evidence_contracts::transaction::Transaction;
use evidence_core::encoding::Decode as _;
use evidence_core::records::ProjectRecord;

use crate::block::{BLOCK_BYTES_MAX, Block};
use crate::events::{self, RuleEvent, RuleEventKind, RuleEvents};
use crate::ledger::{BlockError, CommitOutcome, Ledger, LedgerError, Tip};
use crate::mempool::{AdmitError, Mempool, MempoolLimits};
use crate::metrics::Metrics;
use crate::relay::Relay;
use crate::storage::TransactionRecord;

/// The current time in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The fewest transactions with waiters at which abandoned waiters are dropped.
const WAITERS_PRUNE_MIN: usize = 4_096;

/// Drops the waiters whose callers stopped waiting, and the transactions left with none.
fn drop_abandoned(waiters: &mut HashMap<Digest, Vec<oneshot::Sender<TxOutcome>>>) {
    waiters.retain(|_, senders| {
        senders.retain(|s| !s.is_closed());
        !senders.is_empty()
    });
}

/// Tunables of block building and validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppLimits {
    /// Most transactions a proposer puts in one block.
    pub block_transactions: usize,
    /// Most transaction bytes a proposer puts in one block.
    pub block_bytes: usize,
    /// How far ahead of the local clock a proposed block's time may be, in milliseconds.
    pub clock_bound_ms: u64,
    /// How far behind the local clock a newly proposed block's time may be, in milliseconds.
    pub block_age_max_ms: u64,
    pub mempool: MempoolLimits,
    /// Rule events kept for consumers that reconnect ([`crate::events`]).
    pub rule_events_kept: usize,
    /// Payments that leave a milestone paid to at least this share of its amount, in
    /// percent, raise a `milestone-near-cap` event.
    pub milestone_warning_percent: u8,
}

impl Default for AppLimits {
    fn default() -> Self {
        Self {
            block_transactions: 5_000,
            block_bytes: 16 << 20,
            clock_bound_ms: 500,
            block_age_max_ms: 10_000,
            mempool: MempoolLimits::default(),
            rule_events_kept: crate::events::RULE_EVENTS_KEPT_DEFAULT,
            milestone_warning_percent: crate::events::MILESTONE_WARNING_PERCENT_DEFAULT,
        }
    }
}

/// What a client waiting for its transaction learns.
pub type TxOutcome = Result<TransactionRecord, TxError>;

/// The node's application state, shared by consensus and the API.
#[derive(Debug)]
pub struct App {
    ledger: Ledger,
    mempool: Mempool,
    limits: AppLimits,
    waiters: Mutex<HashMap<Digest, Vec<oneshot::Sender<TxOutcome>>>>,
    /// How many transactions may have waiters before the abandoned ones are dropped (see
    /// [`App::subscribe`]).
    prune_waiters_at: AtomicUsize,
    checkpoints: broadcast::Sender<Checkpoint>,
    events: RuleEvents,
    metrics: Arc<Metrics>,
    relay: OnceLock<Relay>,
}

impl App {
    pub fn new(ledger: Ledger, limits: AppLimits, metrics: Arc<Metrics>) -> Self {
        let (checkpoints, _) = broadcast::channel(256);
        metrics
            .height
            .set(i64::try_from(ledger.tip().height).unwrap_or(i64::MAX));
        Self {
            ledger,
            mempool: Mempool::new(limits.mempool),
            limits,
            waiters: Mutex::new(HashMap::new()),
            prune_waiters_at: AtomicUsize::new(WAITERS_PRUNE_MIN),
            checkpoints,
            events: RuleEvents::new(limits.rule_events_kept, limits.milestone_warning_percent),
            metrics,
            relay: OnceLock::new(),
        }
    }

    /// Sets where newly admitted transactions are relayed (once; later calls are ignored).
    pub fn set_relay(&self, relay: Relay) {
        let _ = self.relay.set(relay);
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn limits(&self) -> &AppLimits {
        &self.limits
    }

    pub fn tip(&self) -> Tip {
        self.ledger.tip()
    }

    /// Checks and admits a transaction a client submitted, relays it to the other members'
    /// nodes if it is new here, and returns its id.
    ///
    /// # Errors
    /// See [`Mempool::admit`].
    pub fn submit(&self, bytes: Vec<u8>) -> Result<Digest, AdmitError> {
        let relay = self.relay.get();
        let copy = relay.map(|_| bytes.clone());
        let (tx_id, new) = self.admit(bytes)?;
        if new && let (Some(relay), Some(copy)) = (relay, copy) {
            relay.relay(copy);
        }
        Ok(tx_id)
    }

    /// Checks and admits a transaction another member's node relayed (not relayed again), up
    /// to the contract's rules ([`Mempool::admit_relayed`]); returns its id and whether it was
    /// new here.
    ///
    /// # Errors
    /// See [`Mempool::admit_relayed`].
    pub fn submit_relayed(&self, bytes: Vec<u8>) -> Result<(Digest, bool), AdmitError> {
        self.admit_relayed_at(bytes, now_ms())
    }

    fn admit(&self, bytes: Vec<u8>) -> Result<(Digest, bool), AdmitError> {
        self.admit_at(bytes, now_ms())
    }

    /// Checks and admits a transaction against the clock reading `now_ms` (the simulator's
    /// virtual clock; the node uses [`App::submit`]); nothing is relayed. Returns its id and
    /// whether it was new here.
    ///
    /// # Errors
    /// See [`Mempool::admit`].
    pub fn admit_at(&self, bytes: Vec<u8>, now_ms: u64) -> Result<(Digest, bool), AdmitError> {
        let algorithm = self.ledger.algorithm();
        let result =
            self.mempool
                .admit_observed(&self.ledger, bytes, now_ms, |transaction, error| {
                    if let Some(event) =
                        events::payment_refusal(algorithm, transaction, error, 0, now_ms)
                    {
                        self.events.publish(event);
                    }
                });
        self.count_admission(result)
    }

    /// Admits a transaction another member's node relayed, as [`Mempool::admit_relayed`]
    /// checks it, against the clock reading `now_ms` (the simulator's virtual clock; the node
    /// uses [`App::submit_relayed`]); nothing is relayed. Returns its id and whether it was
    /// new here.
    ///
    /// # Errors
    /// See [`Mempool::admit_relayed`].
    pub fn admit_relayed_at(
        &self,
        bytes: Vec<u8>,
        now_ms: u64,
    ) -> Result<(Digest, bool), AdmitError> {
        let result = self.mempool.admit_relayed(&self.ledger, bytes, now_ms);
        self.count_admission(result)
    }

    /// Counts an admission's outcome in the metrics and passes it on.
    fn count_admission(
        &self,
        result: Result<(Digest, bool), AdmitError>,
    ) -> Result<(Digest, bool), AdmitError> {
        match &result {
            Ok(_) => self.update_depth(),
            Err(AdmitError::Busy { .. }) => {
                self.metrics.mempool_busy.inc();
            }
            Err(_) => {
                self.metrics.admission_refused.inc();
            }
        }
        result
    }

    /// A receiver told when a block carrying `tx_id` commits (or when it is found unfit for
    /// any block). If it already committed, the receiver is answered at once.
    ///
    /// # Errors
    /// Storage failure.
    pub fn subscribe(&self, tx_id: Digest) -> Result<oneshot::Receiver<TxOutcome>, LedgerError> {
        let (sender, receiver) = oneshot::channel();
        // Register first, then look: a commit between the two finds the waiter.
        {
            let mut waiters = self.lock_waiters();
            waiters.entry(tx_id).or_default().push(sender);
            // Clients that gave up leave their waiters behind until their transaction is
            // answered; while nothing commits (no quorum) that is never. Drop them whenever
            // the map has doubled since the last time, which keeps the cost per call constant.
            let at = self.prune_waiters_at.load(Ordering::Relaxed);
            if waiters.len() >= at {
                drop_abandoned(&mut waiters);
                let next = (2 * waiters.len()).max(WAITERS_PRUNE_MIN);
                self.prune_waiters_at.store(next, Ordering::Relaxed);
            }
        }
        // A transaction still in the mempool now has not been answered: every path that
        // answers one (its block's commit, or its being left out of a block) removes it from
        // the mempool first, and so finds the waiter registered above. Only one that is not
        // there may have committed already, and costs a lookup. (A copy admitted while its
        // block committed stays until this node's next proposal leaves it out as replayed;
        // its waiters then get the committed record.)
        if !self.mempool.contains(&tx_id)
            && let Some(record) = self.ledger.transaction(&tx_id)?
        {
            self.answer(&tx_id, Ok(record));
        }
        Ok(receiver)
    }

    fn lock_waiters(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Digest, Vec<oneshot::Sender<TxOutcome>>>> {
        self.waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn answer(&self, tx_id: &Digest, outcome: TxOutcome) {
        let senders = self.lock_waiters().remove(tx_id);
        for sender in senders.into_iter().flatten() {
            // A client that stopped waiting is not an error.
            let _ = sender.send(outcome.clone());
        }
    }

    /// Drops waiters whose clients stopped waiting (called now and then so abandoned
    /// waits do not accumulate).
    pub fn prune_waiters(&self) {
        drop_abandoned(&mut self.lock_waiters());
    }

    fn update_depth(&self) {
        self.metrics
            .mempool_depth
            .set(i64::try_from(self.mempool.len()).unwrap_or(i64::MAX));
    }

    /// Waits until the mempool holds a transaction or `deadline` passes.
    pub async fn wait_for_transactions(&self, deadline: tokio::time::Instant) -> bool {
        self.mempool.wait_nonempty(deadline).await
    }

    /// Builds the next block as `proposer` from the oldest waiting transactions, and keeps it
    /// as an undecided proposal. Transactions found unfit for any block leave the mempool and
    /// their waiters are told why.
    ///
    /// # Errors
    /// A failure of the ledger.
    pub fn propose(&self, time_ms: u64, proposer: PublicKey) -> Result<Block, LedgerError> {
        let transactions = self.mempool.batch(
            self.limits.block_transactions,
            self.limits.block_bytes.min(BLOCK_BYTES_MAX / 2),
        );
        let (block, left_out) = self.ledger.propose(time_ms, proposer, transactions)?;
        if !left_out.is_empty() {
            let algorithm = self.ledger.algorithm();
            for (bytes, error) in left_out {
                // Left out on the state the block's earlier transactions leave: one the
                // committed state still admits (its filer revoked earlier in this block)
                // waits for a block that is decided, and is not answered yet.
                if matches!(
                    Mempool::refusal_on_committed_state(&self.ledger, &bytes, time_ms),
                    Ok(None)
                ) {
                    tracing::debug!(%error, "transaction left out of this block only");
                    continue;
                }
                let tx_id = evidence_core::encoding::Decode::from_canonical_bytes(&bytes)
                    .ok()
                    .and_then(|tx: evidence_contracts::transaction::Transaction| tx.id(algorithm));
                if let Some(tx_id) = tx_id {
                    tracing::warn!(%tx_id, %error, "transaction left out of the block");
                    // Out of the mempool before the waiters hear (see `subscribe`).
                    self.mempool.remove([&tx_id]);
                    // A copy admitted while its block committed is in the mempool although
                    // the transaction is committed: its waiters get the commit's record.
                    let outcome = match error {
                        TxError::Replayed { .. } => match self.ledger.transaction(&tx_id) {
                            Ok(Some(record)) => Ok(record),
                            _ => Err(error),
                        },
                        error => Err(error),
                    };
                    self.answer(&tx_id, outcome);
                }
            }
            self.update_depth();
        }
        self.ledger.put_pending(&block)?;
        Ok(block)
    }

    /// Validates a proposed block (see [`Ledger::validate`]) with the local clock, and keeps
    /// it as an undecided proposal if it is valid.
    ///
    /// # Errors
    /// `Ok(Err(_))` names why the block is invalid; `Err(_)` is a failure of the ledger.
    pub fn validate(
        &self,
        block: &Block,
        expected_proposer: &PublicKey,
    ) -> Result<Result<(), BlockError>, LedgerError> {
        let verdict = self.ledger.validate(
            block,
            expected_proposer,
            now_ms(),
            self.limits.clock_bound_ms,
        )?;
        if verdict.is_ok() {
            self.ledger.put_pending(block)?;
        }
        Ok(verdict)
    }

    /// Commits a decided block (see [`Ledger::commit`]), then removes its transactions from
    /// the mempool, answers their waiters and publishes the checkpoint.
    ///
    /// # Errors
    /// A failure of the ledger; the node must not go on.
    pub fn commit(
        &self,
        block: &Block,
        certificate: &CommitCertificate,
    ) -> Result<CommitOutcome, LedgerError> {
        let outcome = self.ledger.commit(block, certificate)?;
        // Out of the mempool before their waiters are answered: `subscribe` relies on it.
        self.mempool
            .remove(outcome.transactions.iter().map(|t| &t.tx_id));
        // Before the waiters learn of the block, so an alert is never behind a reply to a
        // later request.
        self.publish_rule_events(block, &outcome);
        let mut refused = 0u64;
        for tx in &outcome.transactions {
            if tx.record.rejection.is_some() {
                refused += 1;
            }
            self.answer(&tx.tx_id, Ok(tx.record.clone()));
        }
        let height = outcome.checkpoint.header.height;
        self.metrics
            .height
            .set(i64::try_from(height).unwrap_or(i64::MAX));
        self.metrics.committed_entries.inc_by(outcome.entries);
        self.metrics
            .committed_transactions
            .inc_by(outcome.transactions.len() as u64);
        self.metrics.refused_transactions.inc_by(refused);
        let latency_ms = now_ms().saturating_sub(outcome.checkpoint.header.time_ms);
        self.metrics
            .commit_latency
            .observe(latency_ms as f64 / 1000.0);
        self.update_depth();
        // Nobody listening is fine.
        let _ = self.checkpoints.send(outcome.checkpoint.clone());
        if height % 64 == 0 {
            self.prune_waiters();
        }
        Ok(outcome)
    }

    /// The rule events of a committed block: its transactions refused by a payment rule, and
    /// the milestones its payments left near their cap.
    /// A block older than [`events::HISTORY_AGE_MS`] (a node catching up after a long outage,
    /// or a new node syncing) raises none: it is history, which the ledger keeps.
    fn publish_rule_events(&self, block: &Block, outcome: &CommitOutcome) {
        let header = &outcome.checkpoint.header;
        if now_ms().saturating_sub(header.time_ms) > events::HISTORY_AGE_MS {
            return;
        }
        let algorithm = self.ledger.algorithm();
        for (position, error) in &outcome.payment_refusals {
            let Some(Ok(transaction)) = block
                .transactions
                .get(*position)
                .map(|bytes| Transaction::from_canonical_bytes(bytes))
            else {
                continue;
            };
            if let Some(event) = events::payment_refusal(
                algorithm,
                &transaction,
                error,
                header.height,
                header.time_ms,
            ) {
                self.events.publish(event);
            }
        }
        for payment in &outcome.payments {
            let key = evidence_core::records::project_key(&payment.project_id);
            let record = match evidence_contracts::StateStore::get(self.ledger.store(), &key) {
                Ok(Some(bytes)) => ProjectRecord::from_canonical_bytes(&bytes).ok(),
                _ => None,
            };
            let Some(milestone) = record
                .as_ref()
                .and_then(|record| record.milestone(&payment.milestone))
            else {
                continue;
            };
            if self
                .events
                .near_cap(milestone.paid_minor, milestone.amount_minor)
            {
                self.events.publish(RuleEvent {
                    sequence: 0,
                    time_ms: header.time_ms,
                    kind: RuleEventKind::MilestoneNearCap,
                    code: events::NEAR_CAP.to_owned(),
                    message: format!(
                        "milestone {:?} of project {:?} is paid {} of {} ({}% or more)",
                        payment.milestone,
                        payment.project_id,
                        milestone.paid_minor,
                        milestone.amount_minor,
                        self.events.warning_percent()
                    ),
                    project_id: payment.project_id.clone(),
                    milestone: payment.milestone.clone(),
                    amount_minor: Some(payment.amount_minor),
                    paid_minor: Some(milestone.paid_minor),
                    cap_minor: Some(milestone.amount_minor),
                    member: payment.member.clone(),
                    document_id: payment.document_id.clone(),
                    transaction_id: None,
                    height: header.height,
                });
            }
        }
    }

    /// The rule events of this run ([`crate::events`]).
    pub fn rule_events(&self) -> &RuleEvents {
        &self.events
    }

    /// New checkpoints as blocks commit.
    pub fn checkpoints(&self) -> broadcast::Receiver<Checkpoint> {
        self.checkpoints.subscribe()
    }

    /// The block committed at `height` and its certificate (for peers catching up).
    ///
    /// # Errors
    /// Storage failure.
    pub fn decided_block(
        &self,
        height: u64,
    ) -> Result<Option<(Block, CommitCertificate)>, LedgerError> {
        self.ledger.decided_block(height)
    }

    /// An undecided proposal by hash.
    ///
    /// # Errors
    /// Storage failure.
    pub fn pending(&self, hash: &Digest) -> Result<Option<Block>, LedgerError> {
        self.ledger.pending(hash)
    }
}

#[cfg(test)]
mod tests {
    use evidence_core::keys::SigningKey;
    use evidence_genesis::default_consortium;

    use super::*;
    use crate::ledger::tests::bureau_filer;

    /// The test consortium (genesis a minute before `now`) and an application over a fresh
    /// database in memory.
    fn memory_app(now: u64) -> (evidence_genesis::Consortium, App) {
        memory_app_with(now, AppLimits::default())
    }

    /// A round-0 certificate of `block` signed by three of the test consortium's four
    /// validators.
    fn certified(consortium: &evidence_genesis::Consortium, block: &Block) -> CommitCertificate {
        let keys: Vec<_> = consortium.validator_keys[..3]
            .iter()
            .map(|(_, key)| key)
            .collect();
        CommitCertificate::sign(
            &consortium.genesis.chain_id,
            block.header.height,
            0,
            block.hash(consortium.genesis.suite.digest),
            &keys,
        )
    }

    /// As [`memory_app`], with `limits`.
    fn memory_app_with(now: u64, limits: AppLimits) -> (evidence_genesis::Consortium, App) {
        let consortium = default_consortium("evidence-test", now - 60_000, &mut rand_core::OsRng);
        let ledger = Ledger::open_memory(
            crate::storage::MemoryDatabase::new(),
            consortium.genesis.clone(),
        )
        .unwrap();
        let app = App::new(ledger, limits, Arc::new(Metrics::new()));
        (consortium, app)
    }

    #[test]
    fn waiters_of_clients_that_gave_up_do_not_pile_up_while_nothing_commits() {
        let dir = tempfile::tempdir().unwrap();
        let consortium =
            default_consortium("evidence-test", now_ms() - 60_000, &mut rand_core::OsRng);
        let ledger = Ledger::open(&dir.path().join("db"), consortium.genesis.clone()).unwrap();
        let app = App::new(ledger, AppLimits::default(), Arc::new(Metrics::new()));
        let algorithm = consortium.genesis.suite.digest;
        // Many calls that wait, then give up (their receivers dropped), and no commit.
        for i in 0u32..10 * WAITERS_PRUNE_MIN as u32 {
            drop(app.subscribe(algorithm.hash(&i.to_be_bytes())).unwrap());
        }
        assert!(app.lock_waiters().len() <= WAITERS_PRUNE_MIN);
        // Waiters of calls still waiting are kept.
        let waiting: Vec<_> = (0u32..WAITERS_PRUNE_MIN as u32 + 10)
            .map(|i| {
                app.subscribe(algorithm.hash(&(u32::MAX - i).to_be_bytes()))
                    .unwrap()
            })
            .collect();
        assert!(app.lock_waiters().len() >= waiting.len());
        assert!(waiting.iter().all(|r| !r.is_terminated()));
    }

    /// A waiter registered while its transaction is in the mempool (no lookup) hears of the
    /// commit; one registered after the commit is answered at once from the store; both get
    /// the record the store holds.
    #[test]
    fn waiters_hear_of_a_commit_whether_they_came_before_or_after_it() {
        let now = now_ms();
        let (consortium, app) = memory_app(now);
        let genesis = consortium.genesis.clone();
        let filer = bureau_filer(&consortium);
        let bytes = crate::local::drawings(&genesis, filer, ["D-1".to_owned()], now).unwrap();
        let tx_id = app.submit(bytes).unwrap();
        assert!(app.mempool().contains(&tx_id));
        let mut before = app.subscribe(tx_id).unwrap();
        assert!(before.try_recv().is_err(), "not committed yet");

        let proposer = consortium.validator_keys[0].1.public_key();
        let block = app.propose(now, proposer).unwrap();
        assert_eq!(block.transactions.len(), 1);
        app.commit(&block, &certified(&consortium, &block)).unwrap();
        assert!(!app.mempool().contains(&tx_id));
        let stored = app.ledger().transaction(&tx_id).unwrap().unwrap();
        assert_eq!(before.try_recv().unwrap().unwrap(), stored);

        let mut after = app.subscribe(tx_id).unwrap();
        assert_eq!(after.try_recv().unwrap().unwrap(), stored);
        assert!(app.lock_waiters().is_empty(), "no waiter left behind");

        // A copy admitted while its block committed (here: committed through the ledger
        // alone, so the mempool keeps it): the waiter skips the lookup, and the next
        // proposal leaves the copy out as replayed and answers with the committed record.
        let bytes = crate::local::drawings(&genesis, filer, ["D-2".to_owned()], now).unwrap();
        let tx_id = app.submit(bytes).unwrap();
        let block = app.propose(now + 1, proposer).unwrap();
        app.ledger()
            .commit(&block, &certified(&consortium, &block))
            .unwrap();
        assert!(app.mempool().contains(&tx_id));
        let mut stale = app.subscribe(tx_id).unwrap();
        assert!(
            stale.try_recv().is_err(),
            "no lookup for a transaction in the mempool"
        );
        let next = app.propose(now + 2, proposer).unwrap();
        assert!(next.transactions.is_empty(), "the copy is left out");
        let stored = app.ledger().transaction(&tx_id).unwrap().unwrap();
        assert_eq!(stale.try_recv().unwrap().unwrap(), stored);
        assert!(!app.mempool().contains(&tx_id));
    }

    /// A relayed transaction is refused for what would make a block carrying it invalid (its
    /// form, a replay, an unknown signer, a bad signature), as a submission is; one that only
    /// breaks a contract rule waits in the pool, and the block carrying it records the same
    /// refusal a submission would have got.
    #[test]
    fn a_relayed_transaction_is_checked_up_to_the_rules_and_its_block_runs_them() {
        let now = now_ms();
        let (consortium, app) = memory_app(now);
        let genesis = consortium.genesis.clone();
        let filer_of = |member: &str| {
            &consortium
                .filer_keys
                .iter()
                .find(|(m, _)| m == member)
                .unwrap()
                .1
        };
        let bureau = filer_of("bureau");
        let proposer = consortium.validator_keys[0].1.public_key();
        let commit = |block: &Block| {
            app.commit(block, &certified(&consortium, block)).unwrap();
        };
        let first = crate::local::drawings(&genesis, bureau, ["D-1".to_owned()], now).unwrap();
        app.submit(first.clone()).unwrap();
        commit(&app.propose(now, proposer).unwrap());

        let refused = |bytes: Vec<u8>| match app.admit_relayed_at(bytes, now + 1) {
            Err(AdmitError::Rejected(error)) => error.code(),
            other => panic!("a relayed transaction a block may not carry was {other:?}"),
        };
        assert_eq!(refused(first[..first.len() - 1].to_vec()), "malformed");
        let oversized = vec![0; crate::block::TRANSACTION_BYTES_MAX as usize + 1];
        assert_eq!(refused(oversized), "too-large");
        assert_eq!(refused(first.clone()), "replayed");
        let stranger = SigningKey::generate();
        let unknown = crate::local::drawings(&genesis, &stranger, ["D-2".to_owned()], now);
        assert_eq!(refused(unknown.unwrap()), "unknown-filer");
        let mut forged = crate::local::drawings(&genesis, bureau, ["D-2".to_owned()], now).unwrap();
        let last = forged.len() - 1;
        forged[last] ^= 0x01;
        assert_eq!(refused(forged), "bad-signature");
        let vote =
            evidence_core::governance::GovernanceAction::Vote(evidence_core::governance::Vote {
                proposal_id: "P-404".to_owned(),
                approve: true,
            });
        let stranger_vote =
            crate::local::governance_transaction(&genesis, "bureau", &stranger, vote, now);
        assert_eq!(refused(stranger_vote), "unknown-governance-key");
        assert!(app.mempool().is_empty());

        // The finance bureau's filer filing in the construction bureau's name breaks a rule.
        let finance = filer_of("finance");
        let misfiled = crate::local::drawings(&genesis, finance, ["D-3".to_owned()], now).unwrap();
        let AdmitError::Rejected(error) = app.admit_at(misfiled.clone(), now + 1).unwrap_err()
        else {
            panic!("a submission breaking a rule is refused")
        };
        assert!(!crate::ledger::is_inadmissible(&error), "{error} is a rule");
        let code = error.code();
        let (tx_id, new) = app.admit_relayed_at(misfiled.clone(), now + 1).unwrap();
        assert!(new && app.mempool().contains(&tx_id));
        assert_eq!(
            app.admit_relayed_at(misfiled, now + 1).unwrap(),
            (tx_id, false)
        );

        let mut waiter = app.subscribe(tx_id).unwrap();
        let block = app.propose(now + 2, proposer).unwrap();
        assert_eq!(block.transactions.len(), 1, "a block may carry it");
        commit(&block);
        let record = app.ledger().transaction(&tx_id).unwrap().unwrap();
        let rejection = record.rejection.as_ref().expect("refused in its block");
        assert_eq!(rejection.code, code);
        assert_eq!(waiter.try_recv().unwrap().unwrap(), record);
        assert!(app.mempool().is_empty());
    }

    /// A full pool answers a relayed transaction as it answers a submission: busy, counted,
    /// nothing admitted.
    #[test]
    fn a_full_pool_answers_a_relayed_transaction_busy() {
        let now = now_ms();
        let limits = AppLimits {
            mempool: MempoolLimits {
                transactions: 1,
                ..MempoolLimits::default()
            },
            ..AppLimits::default()
        };
        let (consortium, app) = memory_app_with(now, limits);
        let genesis = consortium.genesis.clone();
        let filer = bureau_filer(&consortium);
        let drawing =
            |name: &str| crate::local::drawings(&genesis, filer, [name.to_owned()], now).unwrap();
        let (first, new) = app.admit_relayed_at(drawing("D-1"), now).unwrap();
        assert!(new);
        assert!(matches!(
            app.admit_relayed_at(drawing("D-2"), now),
            Err(AdmitError::Busy { pending: 1, .. })
        ));
        assert_eq!(app.metrics().mempool_busy.get(), 1);
        assert_eq!(app.mempool().len(), 1);
        // The one waiting is answered as such, full or not.
        assert_eq!(
            app.admit_relayed_at(drawing("D-1"), now).unwrap(),
            (first, false)
        );
    }

    /// A filing left out because a revocation earlier in the same block refuses its filer is
    /// not dropped while that block is undecided: the committed state still admits it, and
    /// another block may be decided instead. Once the revocation is committed, the next
    /// proposal drops it and its waiter hears why.
    #[test]
    fn a_filing_refused_only_by_its_own_block_waits_for_a_decided_one() {
        let now = now_ms();
        let (consortium, app) = memory_app(now);
        let genesis = consortium.genesis.clone();
        let filer = bureau_filer(&consortium);
        let governance = &consortium
            .governance_keys
            .iter()
            .find(|(member, _)| member == "bureau")
            .unwrap()
            .1;
        let revoke = crate::local::governance_transaction(
            &genesis,
            "bureau",
            governance,
            evidence_core::governance::GovernanceAction::RevokeFiler(
                evidence_core::governance::FilerRevocation {
                    public_key: filer.public_key(),
                    reason: "the key left the bureau".to_owned(),
                    effective_height: 1,
                },
            ),
            now,
        );
        app.submit(revoke).unwrap();
        let filing = crate::local::drawings(&genesis, filer, ["D-1".to_owned()], now).unwrap();
        let filing_id = app.submit(filing).unwrap();
        let mut waiter = app.subscribe(filing_id).unwrap();

        let proposer = consortium.validator_keys[0].1.public_key();
        let first = app.propose(now, proposer).unwrap();
        assert_eq!(first.transactions.len(), 1, "the revocation alone");
        assert!(app.mempool().contains(&filing_id), "still waiting");
        assert!(waiter.try_recv().is_err(), "not answered while undecided");

        app.commit(&first, &certified(&consortium, &first)).unwrap();
        let second = app.propose(now + 1, proposer).unwrap();
        assert!(second.transactions.is_empty());
        assert!(!app.mempool().contains(&filing_id));
        assert!(matches!(
            waiter.try_recv().unwrap(),
            Err(TxError::FilerRevoked { .. })
        ));
    }
}
