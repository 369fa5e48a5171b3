//! Rule events: what a finance bureau's payment alert (超付预警) listens for.
//!
//! Two kinds, each the node's report (not a proof; the project's proved payments are the
//! authority, `GetStatusProof`):
//!
//! - **payment-refused**: a fund transfer refused by a payment rule (`milestone-overpayment`,
//!   `contract-overpayment`, `milestone-not-inspected`): at admission, for transactions
//!   submitted to this node (height 0: it never reached a block), or in a committed block
//!   (any node, the block's height);
//! - **milestone-near-cap**: a committed block's payments left a milestone paid to at least
//!   the configured share of its amount (`[alerts] milestone_warning_percent`), once per
//!   milestone per block.
//!
//! A block committed more than [`HISTORY_AGE_MS`] after its time raises none (catching up on
//! history is not news).
//!
//! Events are numbered from 1 in each run of the node (`boot_id` names the run); the last
//! `[alerts] rule_events_kept` are kept in memory, so a consumer that reconnects within them
//! misses none, and one that was away longer, or across a restart of the node, starts again
//! from those kept.

use std::collections::VecDeque;
use std::sync::Mutex;

use evidence_contracts::error::TxError;
use evidence_contracts::transaction::Transaction;
use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::entry::{AnchorBody, MilestoneClaim};
use tokio::sync::broadcast;

/// The payment rules whose refusals are events.
pub const PAYMENT_RULES: [&str; 3] = [
    "milestone-overpayment",
    "contract-overpayment",
    "milestone-not-inspected",
];

/// The code of a near-cap warning.
pub const NEAR_CAP: &str = "milestone-near-cap";

/// Blocks committed more than this long after their time raise no events: a node catching
/// up after a long outage, or a new node syncing the chain, is reading history.
pub const HISTORY_AGE_MS: u64 = 600_000;

/// How many events a node keeps by default.
pub const RULE_EVENTS_KEPT_DEFAULT: usize = 4_096;

/// The share of a milestone's amount, in percent, from which payments raise a warning.
pub const MILESTONE_WARNING_PERCENT_DEFAULT: u8 = 90;

/// Whether a refusal's code is one of [`PAYMENT_RULES`].
pub fn is_payment_rule(code: &str) -> bool {
    PAYMENT_RULES.contains(&code)
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleEventKind {
    PaymentRefused,
    MilestoneNearCap,
}

impl RuleEventKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::PaymentRefused => "payment-refused",
            Self::MilestoneNearCap => "milestone-near-cap",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEvent {
    /// Its number in this run of the node, from 1 (set when published).
    pub sequence: u64,
    pub time_ms: u64,
    pub kind: RuleEventKind,
    /// The rule's code, or [`NEAR_CAP`].
    pub code: String,
    pub message: String,
    pub project_id: String,
    pub milestone: String,
    /// The refused payment's amount; for a warning, the block's payments to the milestone.
    pub amount_minor: Option<u64>,
    /// Paid on the milestone (or the contract, for `contract-overpayment`): before the refused
    /// payment, or after the block for a warning.
    pub paid_minor: Option<u64>,
    /// The milestone's amount (or the contract's value, for `contract-overpayment`).
    pub cap_minor: Option<u64>,
    /// The filing member and document of the payment (of the last one, for a warning).
    pub member: String,
    pub document_id: String,
    /// The transaction, when one payment is the subject.
    pub transaction_id: Option<Digest>,
    /// The block's height; 0 for a refusal at admission.
    pub height: u64,
}

/// The payment a refused transaction carried, and the amounts its error names.
///
/// `None` when the error is not a payment rule's or the transaction is not an anchor batch.
pub fn payment_refusal(
    algorithm: HashAlgorithm,
    transaction: &Transaction,
    error: &TxError,
    height: u64,
    time_ms: u64,
) -> Option<RuleEvent> {
    if !is_payment_rule(error.code()) {
        return None;
    }
    let Transaction::Anchor(batch) = transaction else {
        return None;
    };
    let (position, rule) = match error {
        TxError::InBatch { position, error } => (*position, error.as_ref()),
        other => (0, other),
    };
    let anchor: &AnchorBody = batch.anchors.get(position)?;
    let (milestone, amount) = match &anchor.claim {
        Some(MilestoneClaim::Payment {
            milestone,
            amount_minor,
        }) => (milestone.clone(), Some(*amount_minor)),
        _ => (String::new(), None),
    };
    let (paid, cap) = match rule {
        TxError::MilestoneOverpayment { paid, limit, .. }
        | TxError::ContractOverpayment { paid, limit, .. } => (Some(*paid), Some(*limit)),
        _ => (None, None),
    };
    Some(RuleEvent {
        sequence: 0,
        time_ms,
        kind: RuleEventKind::PaymentRefused,
        code: rule.code().to_owned(),
        message: rule.to_string(),
        project_id: anchor.project_id.clone(),
        milestone,
        amount_minor: amount,
        paid_minor: paid,
        cap_minor: cap,
        member: anchor.member.clone(),
        document_id: anchor.document_id.clone(),
        transaction_id: transaction.id(algorithm),
        height,
    })
}

/// The events of this run of the node: the last ones kept, and a channel of new ones.
#[derive(Debug)]
pub struct RuleEvents {
    boot_id: u64,
    capacity: usize,
    warning_percent: u8,
    inner: Mutex<Kept>,
    live: broadcast::Sender<RuleEvent>,
}

#[derive(Debug, Default)]
struct Kept {
    events: VecDeque<RuleEvent>,
    next: u64,
}

impl RuleEvents {
    /// Keeps the last `capacity` events (at least one); warns from `warning_percent` of a
    /// milestone's amount (1 to 100).
    pub fn new(capacity: usize, warning_percent: u8) -> Self {
        use rand_core::RngCore as _;
        let (live, _) = broadcast::channel(1_024);
        Self {
            // Never 0, so a consumer's 0 means "no run seen yet".
            boot_id: rand_core::OsRng.next_u64().max(1),
            capacity: capacity.max(1),
            warning_percent: warning_percent.clamp(1, 100),
            inner: Mutex::new(Kept {
                events: VecDeque::new(),
                next: 1,
            }),
            live,
        }
    }

    /// The id of this run of the node.
    pub fn boot_id(&self) -> u64 {
        self.boot_id
    }

    /// Whether a milestone paid `paid` of `amount` is near its cap.
    pub fn near_cap(&self, paid: u64, amount: u64) -> bool {
        amount > 0
            && u128::from(paid) * 100 >= u128::from(amount) * u128::from(self.warning_percent)
    }

    pub fn warning_percent(&self) -> u8 {
        self.warning_percent
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Numbers `event`, keeps it (dropping the oldest beyond the capacity) and sends it to
    /// the live subscribers.
    pub fn publish(&self, mut event: RuleEvent) {
        let mut kept = self.lock();
        event.sequence = kept.next;
        kept.next += 1;
        if kept.events.len() == self.capacity {
            kept.events.pop_front();
        }
        kept.events.push_back(event.clone());
        // Sent under the lock, so a subscriber sees each event once: in its backlog or live.
        let _ = self.live.send(event);
    }

    /// The kept events after `after` (all kept ones when `boot_id` is not this run's), and a
    /// receiver of the events published from then on.
    pub fn subscribe(
        &self,
        boot_id: u64,
        after: u64,
    ) -> (Vec<RuleEvent>, broadcast::Receiver<RuleEvent>) {
        let kept = self.lock();
        let after = if boot_id == self.boot_id { after } else { 0 };
        let backlog = kept
            .events
            .iter()
            .filter(|event| event.sequence > after)
            .cloned()
            .collect();
        (backlog, self.live.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(milestone: &str) -> RuleEvent {
        RuleEvent {
            sequence: 0,
            time_ms: 1,
            kind: RuleEventKind::MilestoneNearCap,
            code: NEAR_CAP.into(),
            message: String::new(),
            project_id: "P".into(),
            milestone: milestone.into(),
            amount_minor: None,
            paid_minor: Some(95),
            cap_minor: Some(100),
            member: "finance".into(),
            document_id: "PAY-1".into(),
            transaction_id: None,
            height: 3,
        }
    }

    #[test]
    fn events_are_numbered_kept_to_the_capacity_and_resumed_after_a_sequence() {
        let events = RuleEvents::new(2, 90);
        for milestone in ["M1", "M2", "M3"] {
            events.publish(event(milestone));
        }
        // The oldest fell out; a consumer of this run resumes after what it saw.
        let (all, _) = events.subscribe(events.boot_id(), 0);
        assert_eq!(
            all.iter()
                .map(|e| (e.sequence, e.milestone.as_str()))
                .collect::<Vec<_>>(),
            [(2, "M2"), (3, "M3")]
        );
        let (after, mut live) = events.subscribe(events.boot_id(), 2);
        assert_eq!(after.len(), 1);
        // A consumer of another run gets everything kept.
        assert_eq!(events.subscribe(events.boot_id() ^ 1, 3).0.len(), 2);
        events.publish(event("M4"));
        assert_eq!(live.try_recv().unwrap().sequence, 4);
    }

    #[test]
    fn the_warning_threshold_is_a_share_of_the_milestone() {
        let events = RuleEvents::new(8, 90);
        assert!(!events.near_cap(89, 100));
        assert!(events.near_cap(90, 100));
        assert!(events.near_cap(u64::MAX, u64::MAX));
        assert!(!events.near_cap(0, 0));
        assert_eq!(RuleEvents::new(8, 0).warning_percent(), 1);
    }
}
