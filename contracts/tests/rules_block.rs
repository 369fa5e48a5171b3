//! Block execution: atomic batches, isolated rejections, and deterministic writes and roots.

mod common;

use common::*;
use evidence_contracts::state::applied_transaction_key;
use evidence_contracts::{BlockOutcome, Transaction, TxError, execute_block};
use evidence_core::digest::Digest;
use evidence_core::state_tree::{MemoryStateTree, PLACEHOLDER};

// Atomicity.

#[test]
fn batch_breaking_a_rule_at_its_second_anchor_is_rejected_whole() {
    let mut ledger = Ledger::new();
    ledger.register_standard_project(PROJECT);
    let state_before = ledger.state.clone();
    let log_before = ledger.log_size;

    // The first anchor is a passing inspection, so a leaked write would unlock a payment.
    let mut report = ledger.body(BUREAU, INSPECTION_REPORT, PROJECT, "rpt-001");
    report.claim = inspection("foundation", true);
    let mut bad = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    bad.document_version = 2;
    let drawing = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-002");
    let outcome =
        ledger.execute(&[ledger.signed(vec![report.clone(), bad.clone(), drawing.clone()])]);

    let error = outcome.results[0].clone().expect_err("rejected");
    assert_eq!(
        error,
        TxError::InBatch {
            position: 1,
            error: Box::new(TxError::NotAFirstVersion {
                document_id: "dwg-001".to_owned(),
                version: 2,
            }),
        }
    );
    assert_eq!(error.code(), "not-a-first-version");
    // The only write is the mark that consumes the authentic transaction's id.
    let tx = ledger.signed(vec![report.clone(), bad.clone(), drawing.clone()]);
    let consumed = applied_transaction_key(&tx.id(ALG).unwrap());
    assert_eq!(
        outcome.writes.keys().collect::<Vec<_>>(),
        [&consumed],
        "no writes but the consumed id: {:?}",
        outcome.writes
    );
    assert!(outcome.entries().next().is_none());
    let mut expected_state = state_before.clone();
    expected_state.apply(&outcome.writes);
    assert_eq!(ledger.state, expected_state);
    assert!(matches!(ledger.submit(&tx), Err(TxError::Replayed { .. })));
    assert_eq!(ledger.log_size, log_before);
    assert_eq!(ledger.document(PROJECT, "rpt-001"), None);
    assert!(
        ledger
            .evidence(PROJECT, "foundation")
            .passing_reports
            .is_empty()
    );

    // A later, valid block still works and numbers its entries from where the log stands.
    bad.document_version = 1;
    let applied = ledger.accept(&ledger.signed(vec![report, bad, drawing]));
    let indices: Vec<_> = applied.entries.iter().map(|e| e.index).collect();
    assert_eq!(indices, [log_before, log_before + 1, log_before + 2]);
    ledger.accept(&ledger.pay(PROJECT, "pay-001", "foundation", 100));
}

#[test]
fn batch_error_names_the_position_of_the_offending_anchor() {
    let mut ledger = Ledger::new();
    for position in 0..3 {
        let mut anchors: Vec<_> = (0..3)
            .map(|i| {
                ledger.body(
                    BUREAU,
                    COMPLETION_DRAWING,
                    PROJECT,
                    &format!("dwg-{position}-{i}"),
                )
            })
            .collect();
        anchors[position].kind = "blueprint".to_owned();
        let error = ledger.reject(&ledger.signed(anchors));
        assert_eq!(
            in_batch(error, position),
            TxError::UnknownKind("blueprint".to_owned())
        );
    }
    // A batch of one reports the bare error.
    let mut single = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-single");
    single.kind = "blueprint".to_owned();
    assert_eq!(
        ledger.reject(&ledger.anchor(&single)),
        TxError::UnknownKind("blueprint".to_owned())
    );
}

#[test]
fn rejected_transaction_between_two_accepted_ones_leaves_no_trace() {
    let block = |ledger: &Ledger, with_rejected: bool| {
        let first = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
        let mut rejected = ledger.body(BUREAU, FUND_TRANSFER, PROJECT, "pay-001");
        rejected.claim = payment("foundation", 100);
        let third = ledger.body(BUREAU, INSPECTION_REPORT, PROJECT, "rpt-001");
        let mut txs = vec![ledger.anchor(&first)];
        if with_rejected {
            txs.push(ledger.anchor(&rejected));
        }
        txs.push(ledger.anchor(&third));
        txs
    };
    let mut ledger = Ledger::new();
    ledger.register_standard_project(PROJECT); // entry 0
    let txs = block(&ledger, true);
    let outcome = ledger.execute(&txs);
    assert!(outcome.results[0].is_ok());
    assert_eq!(
        outcome.results[1],
        Err(TxError::KindNotAllowedForMember {
            member: BUREAU.to_owned(),
            kind: FUND_TRANSFER.to_owned(),
        })
    );
    let third = outcome.results[2].as_ref().expect("accepted");
    assert_eq!(
        third.entries[0].index, 2,
        "no index is spent on the rejection"
    );
    let indices: Vec<_> = outcome.entries().map(|e| e.index).collect();
    assert_eq!(indices, [1, 2]);
    assert_eq!(ledger.version(PROJECT, "dwg-001", 1).entry_index, 1);
    assert_eq!(ledger.version(PROJECT, "rpt-001", 1).entry_index, 2);

    // The same block without the rejected transaction has the same entries, and the same
    // writes but for the mark that consumes the rejected transaction's id.
    let mut without = Ledger::new();
    without.register_standard_project(PROJECT);
    let txs = block(&without, false);
    let clean = without.execute(&txs);
    assert!(clean.entries().eq(outcome.entries()));
    let rejected_mark = applied_transaction_key(&block(&ledger, true)[1].id(ALG).unwrap());
    let mut writes = outcome.writes.clone();
    assert!(writes.remove(&rejected_mark).is_some());
    assert_eq!(clean.writes, writes);
    // The consumed-transaction marks are not in the state tree: the same state, the same root.
    assert_eq!(clean.state_root, outcome.state_root);
}

#[test]
fn transactions_in_one_block_see_the_writes_of_those_before_them() {
    let mut ledger = Ledger::new();
    let registration =
        ledger.register(ledger.registration(BUREAU, PROJECT, CONTRACT_TOTAL, CONTRACT_MILESTONES));
    let mut report = ledger.body(BUREAU, INSPECTION_REPORT, PROJECT, "rpt-001");
    report.claim = inspection("foundation", true);
    let v2 = next_version(&report);
    let txs = [
        ledger.pay(PROJECT, "pay-000", "foundation", 100), // too early
        registration,
        ledger.anchor(&report),
        ledger.pay(PROJECT, "pay-001", "foundation", 300_000),
        ledger.pay(PROJECT, "pay-002", "foundation", 200_000), // over the milestone
        ledger.anchor(&v2),
    ];
    let outcome = ledger.execute(&txs);
    let verdicts: Vec<_> = outcome
        .results
        .iter()
        .map(|r| r.as_ref().map(|_| ()).map_err(TxError::code))
        .collect();
    assert_eq!(
        verdicts,
        [
            Err("unknown-project"),
            Ok(()),
            Ok(()),
            Ok(()),
            Err("milestone-overpayment"),
            Ok(()),
        ]
    );
    assert_eq!(outcome.entries().count(), 4);
    assert_eq!(ledger.paid(PROJECT, "foundation"), (300_000, 300_000));
}

// Determinism.

/// A few blocks exercising every transaction type, accepted and rejected.
fn history(ledger: &Ledger) -> Vec<Vec<Transaction>> {
    let registration =
        ledger.register(ledger.registration(BUREAU, PROJECT, CONTRACT_TOTAL, CONTRACT_MILESTONES));
    let mut report = ledger.body(BUREAU, INSPECTION_REPORT, PROJECT, "rpt-001");
    report.claim = inspection("foundation", true);
    let drawings: Vec<_> = (0..4)
        .map(|i| ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, &format!("dwg-{i}")))
        .collect();
    let v2 = next_version(&drawings[0]);
    vec![
        vec![registration, ledger.anchor(&report)],
        vec![
            ledger.signed(drawings.clone()),
            ledger.pay(PROJECT, "pay-001", "foundation", 250_000),
            ledger.pay(PROJECT, "pay-002", "foundation", 250_000),
        ],
        vec![],
        vec![
            ledger.anchor(&v2),
            ledger.revoke(ledger.revocation(&drawings[1], "wrong sheet")),
            ledger.anchor(&drawings[2]),
        ],
    ]
}

fn run_history(ledger: &mut Ledger) -> Vec<BlockOutcome> {
    history(ledger)
        .iter()
        .map(|block| ledger.execute(block))
        .collect()
}

#[test]
fn same_blocks_on_two_fresh_states_give_identical_writes_entries_and_roots() {
    let mut a = Ledger::new();
    let mut b = Ledger::new();
    let outcomes_a = run_history(&mut a);
    let outcomes_b = run_history(&mut b);
    assert_eq!(outcomes_a, outcomes_b);
    assert_eq!(a.state, b.state);
    assert_eq!(a.state_root, b.state_root);
    assert_eq!(a.log, b.log);
    // The history has both outcomes, so the comparison covers rejections too.
    let results: Vec<_> = outcomes_a.iter().flat_map(|o| &o.results).collect();
    assert!(results.iter().any(|r| r.is_ok()));
    assert!(results.iter().any(|r| r.is_err()));
}

#[test]
fn executing_a_block_does_not_change_the_state_it_reads() {
    let mut ledger = Ledger::new();
    let blocks = history(&ledger);
    ledger.execute(&blocks[0]);
    let context = ledger.next_context();
    let first =
        execute_block(&ledger.state, &context, ledger.tree, &blocks[1]).expect("memory store");
    let second =
        execute_block(&ledger.state, &context, ledger.tree, &blocks[1]).expect("memory store");
    assert_eq!(first, second);
}

/// The state root is the root of the state tree over every state key but the consumed
/// transactions' (SPEC.md §11.3): what a reference tree holding the same keys and values gives.
fn reference_root(ledger: &Ledger) -> Digest {
    let mut tree = MemoryStateTree::new(ALG);
    for (key, value) in ledger.state.entries() {
        if evidence_contracts::state::in_state_tree(key) {
            tree.set(key, Some(value));
        }
    }
    Digest::new(ALG, tree.root())
}

#[test]
fn the_state_root_is_the_root_of_the_state_tree() {
    let mut ledger = Ledger::new();
    assert_eq!(
        ledger.state_root,
        Digest::new(ALG, PLACEHOLDER),
        "before block 1 the tree is empty"
    );
    for block in history(&ledger) {
        let outcome = ledger.execute(&block);
        assert_eq!(outcome.state_root, reference_root(&ledger));
    }
    assert!(ledger.state.len() > 5, "the history writes state");
}

#[test]
fn the_state_root_depends_on_the_state_alone() {
    // Two anchors in either order: each version record names its own entry, so the states,
    // hence the roots, differ.
    let mut forward = Ledger::new();
    let mut backward = Ledger::new();
    let a = forward.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-a");
    let b = forward.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-b");
    let (tx_a, tx_b) = (forward.anchor(&a), forward.anchor(&b));
    let one = forward.execute(&[tx_a.clone(), tx_b.clone()]);
    let two = backward.execute(&[tx_b.clone(), tx_a.clone()]);
    assert!(one.results.iter().chain(&two.results).all(Result::is_ok));
    assert_ne!(one.state_root, two.state_root);
    assert_eq!(forward.version(PROJECT, "dwg-a", 1).entry_index, 0);
    assert_eq!(backward.version(PROJECT, "dwg-a", 1).entry_index, 1);

    // The same transactions in one block or two: the version records name their heights, so
    // the states differ too.
    let mut together = Ledger::new();
    let mut apart = Ledger::new();
    together.execute(&[tx_a.clone(), tx_b.clone()]);
    together.execute(&[]);
    apart.execute(&[tx_a]);
    apart.execute(&[tx_b]);
    assert_eq!(together.log_size, apart.log_size);
    assert_ne!(together.state_root, apart.state_root);
}

#[test]
fn a_block_that_changes_no_state_keeps_the_state_root() {
    let mut ledger = Ledger::new();
    for _ in 1..=3 {
        let parent = ledger.state_root;
        let outcome = ledger.execute(&[]);
        assert!(outcome.results.is_empty() && outcome.entries().next().is_none());
        assert!(outcome.writes.is_empty());
        assert_eq!(
            outcome.state_root, parent,
            "an empty block changes no state"
        );
    }
    assert!(ledger.state.is_empty());

    // A block of only unauthenticated transactions writes nothing either.
    let parent = ledger.state_root;
    let mut forged = ledger.anchor(&ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-a"));
    if let Transaction::Anchor(batch) = &mut forged {
        batch.signature.bytes[0] ^= 1;
    }
    let outcome = ledger.execute(&[forged]);
    assert!(matches!(outcome.results[0], Err(TxError::BadSignature(_))));
    assert_eq!(outcome.state_root, parent);
}

// Remembered signatures.

#[test]
fn remembered_signatures_change_no_outcome_and_a_forged_signature_still_fails() {
    use evidence_contracts::VerifiedSignatures;

    let ledger = Ledger::new();
    let good = ledger.anchor(&ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001"));
    // The same content signed by a key that is not the filer's: a different signature on the
    // same transaction id.
    let mut forged = good.clone();
    if let Transaction::Anchor(batch) = &mut forged {
        batch.signature = stranger_key().sign(b"anything");
    }
    let transactions = [good.clone(), forged.clone()];

    let plain = execute_block(
        &ledger.state,
        &ledger.next_context(),
        ledger.tree,
        &transactions,
    )
    .unwrap();
    let verified = VerifiedSignatures::new(16);
    let mut context = ledger.next_context();
    context.verified = Some(&verified);
    // Twice: first filling the cache, then answering from it.
    for _ in 0..2 {
        let cached = execute_block(&ledger.state, &context, ledger.tree, &transactions).unwrap();
        assert_eq!(cached, plain);
        assert!(matches!(
            cached.results[1],
            Err(TxError::BadSignature(_)) | Err(TxError::Replayed { .. })
        ));
    }
    assert_eq!(verified.len(), 1, "only the good signature is remembered");
    // The forged copy alone, after the good one was remembered, is still refused.
    let alone = execute_block(&ledger.state, &context, ledger.tree, &[forged]).unwrap();
    assert!(matches!(alone.results[0], Err(TxError::BadSignature(_))));
}

/// A block large enough to be prepared on several threads, and the same block prepared from
/// the bytes a node decoded it from, execute exactly as its transactions prepared one by one
/// in order: results, entries, writes and root. (All three split the tree update alike;
/// `evidence-core`'s tests compare such splits with one thread.)
#[test]
fn a_large_block_prepared_on_threads_or_from_its_bytes_executes_as_one_prepared_in_order() {
    use evidence_contracts::execute::{PARALLEL_RECORDS_MIN, worth_splitting};
    use evidence_contracts::execute_prepared_block;
    use evidence_contracts::transaction::Prepared;
    use evidence_core::encoding::{Decode as _, Encode as _};

    let mut ledger = Ledger::new();
    ledger.register_standard_project(PROJECT);
    let mut block: Vec<Transaction> = (0..9)
        .map(|b| {
            let anchors = (0..100)
                .map(|d| ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, &format!("dwg-{b}-{d}")))
                .collect();
            ledger.signed(anchors)
        })
        .collect();
    // One rejected on the way: a document filed twice in the block.
    block.insert(
        4,
        ledger.signed(vec![ledger.body(
            BUREAU,
            COMPLETION_DRAWING,
            PROJECT,
            "dwg-1-7",
        )]),
    );
    assert!(worth_splitting(&block) && block.len() * 100 > PARALLEL_RECORDS_MIN);

    let context = ledger.next_context();
    let in_order: Vec<Prepared<'_>> = block.iter().map(|tx| Prepared::new(tx, ALG)).collect();
    let expected = execute_prepared_block(&ledger.state, &context, ledger.tree, &in_order).unwrap();
    assert!(
        expected.results[4].is_err() && expected.results.iter().filter(|r| r.is_ok()).count() == 9
    );

    let split = execute_block(&ledger.state, &context, ledger.tree, &block).unwrap();
    assert_eq!(split, expected);

    let bytes: Vec<Vec<u8>> = block.iter().map(|tx| tx.to_canonical_bytes()).collect();
    let decoded: Vec<Transaction> = bytes
        .iter()
        .map(|b| Transaction::from_canonical_bytes(b).unwrap())
        .collect();
    let from_bytes: Vec<Prepared<'_>> = decoded
        .iter()
        .zip(&bytes)
        .map(|(tx, b)| Prepared::decoded(tx, ALG, b.len()))
        .collect();
    let decoded_outcome =
        execute_prepared_block(&ledger.state, &context, ledger.tree, &from_bytes).unwrap();
    assert_eq!(decoded_outcome, expected);
    assert_eq!(expected.entries().count(), 900);
}

/// A block reads each committed key from the store at most once: the filer's record, which
/// each of its transactions looks up, and the old values of the keys it writes, which the
/// rules read before the block's unchanged values are dropped. The keys the rules never read
/// (a superseded version's, 600 of them here, enough to be read on several threads) are read
/// once, by that check. The outcome is the one read from the store directly.
#[test]
fn a_block_reads_each_committed_key_from_the_store_once() {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use evidence_contracts::state::{MemoryState, StateStore, StoreError, filer_key};
    use evidence_core::state_tree::Page;

    struct Counting<'a> {
        inner: &'a MemoryState,
        reads: Mutex<BTreeMap<Vec<u8>, usize>>,
    }
    impl StateStore for Counting<'_> {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            *self.reads.lock().unwrap().entry(key.to_vec()).or_default() += 1;
            self.inner.get(key)
        }
        fn tree_page(&self, path: &[u8], height: u64) -> Result<Option<Page>, StoreError> {
            self.inner.tree_page(path, height)
        }
    }

    let mut ledger = Ledger::new();
    ledger.register_standard_project(PROJECT);
    let filed: Vec<_> = (0..600)
        .map(|d| ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, &format!("old-{d}")))
        .collect();
    let earlier = ledger.execute(&[ledger.signed(filed.clone())]);
    assert!(earlier.results[0].is_ok(), "{:?}", earlier.results[0]);
    let mut block: Vec<Transaction> = (0..5)
        .map(|d| {
            ledger.signed(vec![ledger.body(
                BUREAU,
                COMPLETION_DRAWING,
                PROJECT,
                &format!("dwg-{d}"),
            )])
        })
        .collect();
    block.push(ledger.signed(filed.iter().map(next_version).collect()));
    let context = ledger.next_context();
    let counting = Counting {
        inner: &ledger.state,
        reads: Mutex::default(),
    };
    let outcome = execute_block(&counting, &context, ledger.tree, &block).unwrap();
    assert!(outcome.results.iter().all(Result::is_ok), "{outcome:?}");
    assert_eq!(
        outcome,
        execute_block(&ledger.state, &context, ledger.tree, &block).unwrap()
    );

    let reads = counting.reads.into_inner().unwrap();
    let filer = filer_key(&ledger.filer(BUREAU));
    assert_eq!(
        reads.get(&filer),
        Some(&1),
        "the filer's record, by six transactions"
    );
    assert!(
        outcome.writes.len() > 2 * 600,
        "the superseded versions' keys are written"
    );
    for key in outcome.writes.keys() {
        assert_eq!(reads.get(key), Some(&1), "written key {key:02x?}");
    }
    let twice: Vec<String> = reads
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(key, count)| format!("{key:02x?} ({count})"))
        .collect();
    assert!(twice.is_empty(), "read more than once: {twice:?}");
}
