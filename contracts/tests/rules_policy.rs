//! Write policy, provenance, size limits and replay protection.

mod common;

use common::*;
use evidence_contracts::{Transaction, TxError};
use evidence_core::entry::{AnchorBody, Record, SignedBatch};
use evidence_genesis::{DEFAULT_KINDS, KindPolicy};

/// A change made to a signed anchor.
type Alteration = fn(&mut AnchorBody);
/// Sets one field of an anchor.
type SetField = fn(&mut AnchorBody, &str);

// Policy: who may anchor what.

#[test]
fn allowed_anchor_is_accepted_as_an_entry_with_its_index_height_and_time() {
    let mut ledger = Ledger::new();
    let drawing = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    let tx = ledger.anchor(&drawing);
    let applied = ledger.accept(&tx);

    assert_eq!(Some(applied.tx_id), tx.id(ALG));
    assert_eq!(applied.entries.len(), 1);
    let entry = &applied.entries[0];
    assert_eq!(
        (entry.index, entry.height, entry.sequenced_at_ms),
        (0, 1, Ledger::block_time(1))
    );
    let Record::Anchor(document) = &entry.record else {
        panic!("expected an anchor record, got {:?}", entry.record);
    };
    assert_eq!(document.body, drawing);
    assert_eq!(document.signature, batch_of(&tx).signature);
    document
        .verify_filer_signature(ALG)
        .expect("the entry proves who filed it");

    let version = ledger.version(PROJECT, "dwg-001", 1);
    assert_eq!((version.entry_index, version.height), (0, 1));
    assert_eq!(version.digest, drawing.digest);

    // A second block continues the log: a batch of two gets the next two indices.
    let report = ledger.body(BUREAU, INSPECTION_REPORT, PROJECT, "rpt-001");
    let drawing2 = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-002");
    let applied = ledger.accept(&ledger.signed(vec![report.clone(), drawing2.clone()]));
    let positions: Vec<_> = applied
        .entries
        .iter()
        .map(|e| (e.index, e.height, e.sequenced_at_ms))
        .collect();
    assert_eq!(
        positions,
        [(1, 2, Ledger::block_time(2)), (2, 2, Ledger::block_time(2))]
    );
    let bodies: Vec<_> = applied
        .entries
        .iter()
        .map(|e| e.anchor().expect("anchor").body.clone())
        .collect();
    assert_eq!(bodies, [report, drawing2]);
    for entry in &applied.entries {
        entry
            .anchor()
            .expect("anchor")
            .verify_filer_signature(ALG)
            .expect("each document of a batch carries its path to the signed root");
    }
    assert_eq!(ledger.version(PROJECT, "dwg-002", 1).entry_index, 2);
    assert_eq!(ledger.log_size, 3);
}

#[test]
fn fund_transfer_by_bureau_is_refused_by_policy() {
    let mut ledger = Ledger::new();
    let mut body = ledger.body(BUREAU, FUND_TRANSFER, PROJECT, "pay-001");
    body.claim = payment("foundation", 100);
    let error = ledger.reject(&ledger.anchor(&body));
    assert_eq!(
        error,
        TxError::KindNotAllowedForMember {
            member: BUREAU.to_owned(),
            kind: FUND_TRANSFER.to_owned(),
        }
    );
    assert!(error.is_policy_violation());
    assert_eq!(error.code(), "kind-not-allowed-for-member");
}

#[test]
fn completion_drawing_by_finance_is_refused_by_policy() {
    let mut ledger = Ledger::new();
    let body = ledger.body(FINANCE, COMPLETION_DRAWING, PROJECT, "dwg-001");
    assert_eq!(
        ledger.reject(&ledger.anchor(&body)),
        TxError::KindNotAllowedForMember {
            member: FINANCE.to_owned(),
            kind: COMPLETION_DRAWING.to_owned(),
        }
    );
}

#[test]
fn court_filer_anchoring_any_kind_is_refused() {
    let mut ledger = Ledger::new();
    for (kind, _, _) in DEFAULT_KINDS {
        let mut body = ledger.body(COURT, kind, PROJECT, &format!("court-{kind}"));
        if *kind == FUND_TRANSFER {
            body.claim = payment("foundation", 1);
        }
        assert_eq!(
            ledger.reject(&ledger.anchor(&body)),
            TxError::KindNotAllowedForMember {
                member: COURT.to_owned(),
                kind: (*kind).to_owned(),
            },
            "court anchoring {kind}"
        );
    }
    assert_eq!(ledger.log_size, 0);
}

#[test]
fn archive_filer_is_granted_no_kind_even_the_one_its_member_may_anchor() {
    let mut ledger = Ledger::new();
    let body = ledger.body(ARCHIVE, ARCHIVE_RECORD, PROJECT, "arc-001");
    assert_eq!(
        ledger.reject(&ledger.anchor(&body)),
        TxError::KindNotAllowedForFiler {
            filer: ledger.filer(ARCHIVE),
            kind: ARCHIVE_RECORD.to_owned(),
        }
    );
    let body = ledger.body(ARCHIVE, COMPLETION_DRAWING, PROJECT, "arc-002");
    assert_eq!(
        ledger.reject(&ledger.anchor(&body)),
        TxError::KindNotAllowedForMember {
            member: ARCHIVE.to_owned(),
            kind: COMPLETION_DRAWING.to_owned(),
        }
    );
}

#[test]
fn bureau_filer_is_refused_a_bureau_kind_it_was_not_granted() {
    // The default policy lets the bureau anchor acceptance reports; its filer holds only
    // completion drawings and inspection reports.
    let mut ledger = Ledger::new();
    let body = ledger.body(BUREAU, ACCEPTANCE_REPORT, PROJECT, "acc-001");
    let error = ledger.reject(&ledger.anchor(&body));
    assert_eq!(
        error,
        TxError::KindNotAllowedForFiler {
            filer: ledger.filer(BUREAU),
            kind: ACCEPTANCE_REPORT.to_owned(),
        }
    );
    assert!(error.is_policy_violation());
}

#[test]
fn filer_is_refused_a_kind_added_to_its_members_policy_but_not_to_the_filer() {
    let site_photo = |genesis: &mut evidence_genesis::Genesis| {
        genesis.policy.kinds.push(KindPolicy {
            kind: "site-photo".to_owned(),
            description: "site photograph".to_owned(),
            members: vec![BUREAU.to_owned()],
        });
    };
    let mut ledger = Ledger::with_genesis(site_photo);
    let body = ledger.body(BUREAU, "site-photo", PROJECT, "photo-001");
    assert_eq!(
        ledger.reject(&ledger.anchor(&body)),
        TxError::KindNotAllowedForFiler {
            filer: ledger.filer(BUREAU),
            kind: "site-photo".to_owned(),
        }
    );

    // Granting it to the filer as well makes the same anchor acceptable.
    let mut ledger = Ledger::with_genesis(|genesis| {
        site_photo(genesis);
        let filer = genesis
            .filers
            .iter_mut()
            .find(|f| f.member == BUREAU)
            .expect("bureau filer");
        filer.kinds.push("site-photo".to_owned());
    });
    ledger.accept(&ledger.anchor(&body));
}

#[test]
fn unknown_kind_is_refused() {
    let mut ledger = Ledger::new();
    let body = ledger.body(BUREAU, "blueprint", PROJECT, "bp-001");
    let error = ledger.reject(&ledger.anchor(&body));
    assert_eq!(error, TxError::UnknownKind("blueprint".to_owned()));
    assert!(!error.is_policy_violation());
}

#[test]
fn anchor_signed_by_a_key_not_in_genesis_is_refused_as_unknown_filer() {
    let mut ledger = Ledger::new();
    let stranger = stranger_key();
    let mut body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    body.filer = stranger.public_key();
    let error = ledger.reject(&sign_batch(&stranger, vec![body]));
    assert_eq!(error, TxError::UnknownFiler(stranger.public_key()));
    assert!(error.is_policy_violation());
}

#[test]
fn revocation_and_registration_by_a_key_not_in_genesis_are_refused_as_unknown_filer() {
    let mut ledger = Ledger::new();
    let stranger = stranger_key();
    let drawing = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    ledger.accept(&ledger.anchor(&drawing));

    let mut revocation = ledger.revocation(&drawing, "withdrawn");
    revocation.filer = stranger.public_key();
    assert_eq!(
        ledger.reject(&Transaction::Revoke(revocation.sign(&stranger))),
        TxError::UnknownFiler(stranger.public_key())
    );

    let mut registration =
        ledger.registration(BUREAU, "proj-other", CONTRACT_TOTAL, CONTRACT_MILESTONES);
    registration.registrar = stranger.public_key();
    assert_eq!(
        ledger.reject(&Transaction::RegisterProject(registration.sign(&stranger))),
        TxError::UnknownFiler(stranger.public_key())
    );
}

#[test]
fn anchor_whose_member_is_not_the_filers_member_is_refused() {
    let mut ledger = Ledger::new();
    for claimed in [FINANCE, COURT, "nobody"] {
        let mut body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
        body.member = claimed.to_owned();
        let error = ledger.reject(&ledger.anchor(&body));
        assert_eq!(
            error,
            TxError::MemberMismatch {
                filer: ledger.filer(BUREAU),
                registered: BUREAU.to_owned(),
                claimed: claimed.to_owned(),
            }
        );
        assert!(error.is_policy_violation());
    }
}

#[test]
fn finance_filer_cannot_register_a_project_by_claiming_to_be_the_bureau() {
    let mut ledger = Ledger::new();
    let mut registration =
        ledger.registration(FINANCE, PROJECT, CONTRACT_TOTAL, CONTRACT_MILESTONES);
    registration.member = BUREAU.to_owned();
    assert_eq!(
        ledger.reject(&ledger.register(registration)),
        TxError::MemberMismatch {
            filer: ledger.filer(FINANCE),
            registered: FINANCE.to_owned(),
            claimed: BUREAU.to_owned(),
        }
    );
    assert_eq!(ledger.project(PROJECT), None);
}

#[test]
fn revocation_whose_member_is_not_the_filers_member_is_refused() {
    let mut ledger = Ledger::new();
    let drawing = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    ledger.accept(&ledger.anchor(&drawing));
    let mut revocation = ledger.revocation(&drawing, "withdrawn");
    revocation.member = FINANCE.to_owned();
    assert_eq!(
        ledger.reject(&ledger.revoke(revocation)),
        TxError::MemberMismatch {
            filer: ledger.filer(BUREAU),
            registered: BUREAU.to_owned(),
            claimed: FINANCE.to_owned(),
        }
    );
}

#[test]
fn anchor_revocation_and_registration_for_another_chain_are_refused() {
    let mut ledger = Ledger::new();
    let wrong_chain = || TxError::WrongChain {
        expected: CHAIN_ID.to_owned(),
        found: "evidence-other".to_owned(),
    };

    let mut body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    body.chain_id = "evidence-other".to_owned();
    assert_eq!(ledger.reject(&ledger.anchor(&body)), wrong_chain());

    let drawing = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    ledger.accept(&ledger.anchor(&drawing));
    let mut revocation = ledger.revocation(&drawing, "withdrawn");
    revocation.chain_id = "evidence-other".to_owned();
    assert_eq!(ledger.reject(&ledger.revoke(revocation)), wrong_chain());

    let mut registration =
        ledger.registration(BUREAU, PROJECT, CONTRACT_TOTAL, CONTRACT_MILESTONES);
    registration.chain_id = "evidence-other".to_owned();
    assert_eq!(ledger.reject(&ledger.register(registration)), wrong_chain());
}

#[test]
fn anchor_altered_after_signing_is_refused_as_a_bad_signature() {
    let mut ledger = Ledger::new();
    let body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    let alterations: [(&str, Alteration); 4] = [
        ("digest", |b| b.digest = digest_of("forged content")),
        ("document id", |b| b.document_id = "dwg-999".to_owned()),
        ("capture time", |b| b.captured_at_ms += 1),
        ("kind", |b| b.kind = INSPECTION_REPORT.to_owned()),
    ];
    for (what, alter) in alterations {
        let mut tx = ledger.anchor(&body);
        let Transaction::Anchor(batch) = &mut tx else {
            unreachable!()
        };
        alter(&mut batch.anchors[0]);
        assert_eq!(
            ledger.reject(&tx),
            TxError::BadSignature(ledger.filer(BUREAU)),
            "altered {what}"
        );
    }

    // One anchor of a batch altered.
    let other = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-002");
    let mut tx = ledger.signed(vec![body.clone(), other]);
    let Transaction::Anchor(batch) = &mut tx else {
        unreachable!()
    };
    batch.anchors[1].document_version = 7;
    assert_eq!(
        ledger.reject(&tx),
        TxError::BadSignature(ledger.filer(BUREAU))
    );

    // Signed by another registered filer on the bureau filer's behalf.
    let tx = sign_batch(ledger.filer_key(FINANCE), vec![body]);
    assert_eq!(
        ledger.reject(&tx),
        TxError::BadSignature(ledger.filer(BUREAU))
    );
    assert_eq!(ledger.log_size, 0);
}

#[test]
fn revocation_and_registration_altered_after_signing_are_refused_as_bad_signatures() {
    let mut ledger = Ledger::new();
    let drawing = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    ledger.accept(&ledger.anchor(&drawing));

    let mut tx = ledger.revoke(ledger.revocation(&drawing, "superseded on site"));
    let Transaction::Revoke(revocation) = &mut tx else {
        unreachable!()
    };
    revocation.body.reason = "forged reason".to_owned();
    assert_eq!(
        ledger.reject(&tx),
        TxError::BadSignature(ledger.filer(BUREAU))
    );

    let mut tx =
        ledger.register(ledger.registration(BUREAU, PROJECT, CONTRACT_TOTAL, CONTRACT_MILESTONES));
    let Transaction::RegisterProject(registration) = &mut tx else {
        unreachable!()
    };
    registration.body.total_value_minor *= 10;
    assert_eq!(
        ledger.reject(&tx),
        TxError::BadSignature(ledger.filer(BUREAU))
    );
    assert_eq!(ledger.project(PROJECT), None);
}

#[test]
fn batch_mixing_filers_is_refused() {
    let mut ledger = Ledger::new();
    let drawing = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    let mut transfer = ledger.body(FINANCE, FUND_TRANSFER, PROJECT, "pay-001");
    transfer.claim = payment("foundation", 100);
    let tx = sign_batch(
        ledger.filer_key(BUREAU),
        vec![drawing.clone(), transfer.clone()],
    );
    let error = ledger.reject(&tx);
    assert_eq!(
        error,
        TxError::MixedFilers {
            first: ledger.filer(BUREAU),
            other: ledger.filer(FINANCE),
        }
    );
    // Not wrapped in a batch position: it is about the batch as a whole.
    assert_eq!(error.code(), "mixed-filers");

    // Also when the stray anchor names a key genesis does not know.
    let mut stray = drawing.clone();
    stray.document_id = "dwg-002".to_owned();
    stray.filer = stranger_key().public_key();
    let tx = sign_batch(ledger.filer_key(BUREAU), vec![drawing, stray]);
    assert_eq!(
        ledger.reject(&tx),
        TxError::MixedFilers {
            first: ledger.filer(BUREAU),
            other: stranger_key().public_key(),
        }
    );
}

// Limits.

#[test]
fn transaction_larger_than_the_genesis_limit_is_refused() {
    let mut ledger = Ledger::with_genesis(|genesis| {
        genesis.policy.limits.transaction_bytes_max = 1024;
    });
    let anchors: Vec<_> = (0..8)
        .map(|i| ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, &format!("dwg-{i:03}")))
        .collect();
    let tx = ledger.signed(anchors.clone());
    let size = {
        use evidence_core::encoding::Encode as _;
        tx.to_canonical_bytes().len()
    };
    assert!(size > 1024, "the batch must exceed the limit, is {size}");
    assert_eq!(ledger.reject(&tx), TxError::TooLarge { size, max: 1024 });

    // The same documents in small transactions fit.
    for body in &anchors {
        ledger.accept(&ledger.anchor(body));
    }

    // A revocation with a long (but decodable) reason is measured too.
    let revocation = ledger.revocation(&anchors[0], &"x".repeat(2_000));
    let tx = ledger.revoke(revocation);
    let error = ledger.reject(&tx);
    assert!(
        matches!(error, TxError::TooLarge { size, max: 1024 } if size > 2_000),
        "got {error:?}"
    );
}

#[test]
fn batch_longer_than_the_genesis_limit_is_refused() {
    let mut ledger = Ledger::with_genesis(|genesis| genesis.policy.limits.batch_len_max = 2);
    let anchors: Vec<_> = (0..3)
        .map(|i| ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, &format!("dwg-{i:03}")))
        .collect();
    assert_eq!(
        ledger.reject(&ledger.signed(anchors.clone())),
        TxError::BadBatchLength { len: 3, max: 2 }
    );
    let applied = ledger.accept(&ledger.signed(anchors[..2].to_vec()));
    assert_eq!(applied.entries.len(), 2);
}

#[test]
fn empty_batch_is_refused() {
    let mut ledger = Ledger::new();
    let body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    let signature = batch_of(&ledger.anchor(&body)).signature;
    let tx = Transaction::Anchor(SignedBatch {
        anchors: Vec::new(),
        signature,
    });
    assert_eq!(tx.id(ALG), None);
    assert_eq!(
        ledger.reject(&tx),
        TxError::BadBatchLength { len: 0, max: 4096 }
    );
}

#[test]
fn empty_project_document_or_source_system_is_refused() {
    let mut ledger = Ledger::new();
    let cases: [(&'static str, &str, SetField); 6] = [
        ("project_id", "", |b, v| b.project_id = v.to_owned()),
        ("project_id", " \t", |b, v| b.project_id = v.to_owned()),
        ("document_id", "", |b, v| b.document_id = v.to_owned()),
        ("document_id", "  ", |b, v| b.document_id = v.to_owned()),
        ("source_system", "", |b, v| b.source_system = v.to_owned()),
        ("source_system", "\n", |b, v| b.source_system = v.to_owned()),
    ];
    for (field, value, set) in cases {
        let mut body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
        set(&mut body, value);
        let error = ledger.reject(&ledger.anchor(&body));
        assert_eq!(error, TxError::EmptyField { field }, "{field} = {value:?}");
        assert_eq!(error.code(), "empty-field");
    }
    let mut registration = ledger.registration(BUREAU, "", CONTRACT_TOTAL, CONTRACT_MILESTONES);
    assert_eq!(
        ledger.reject(&ledger.register(registration.clone())),
        TxError::EmptyField {
            field: "project_id"
        }
    );
    registration.project_id = PROJECT.to_owned();
    ledger.accept(&ledger.register(registration));
}

// Replay protection.

#[test]
fn same_signed_transaction_twice_in_one_block_is_replayed() {
    let mut ledger = Ledger::new();
    let body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    let tx = ledger.anchor(&body);
    let tx_id = tx.id(ALG).expect("an id");
    let outcome = ledger.execute(&[tx.clone(), tx]);
    assert!(outcome.results[0].is_ok());
    assert_eq!(
        outcome.results[1],
        Err(TxError::Replayed { tx_id, height: 1 })
    );
    assert_eq!(outcome.entries().count(), 1);
}

#[test]
fn same_signed_transaction_in_a_later_block_is_replayed_with_the_first_height() {
    let mut ledger = Ledger::new();
    let body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    let tx = ledger.anchor(&body);
    let tx_id = tx.id(ALG).expect("an id");
    ledger.execute(&[]);
    ledger.accept(&tx); // height 2
    ledger.execute(&[]);
    let error = ledger.reject(&tx); // height 4
    assert_eq!(error, TxError::Replayed { tx_id, height: 2 });
    assert_eq!(error.code(), "replayed");
}

#[test]
fn resigning_identical_content_gives_the_same_id_and_is_replayed() {
    let mut ledger = Ledger::new();
    let body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    let first = ledger.anchor(&body);
    ledger.accept(&first);
    let again = ledger.anchor(&body);
    assert_eq!(again, first, "signatures are deterministic");
    let tx_id = first.id(ALG).expect("an id");
    assert_eq!(again.id(ALG), Some(tx_id));
    assert_eq!(
        ledger.reject(&again),
        TxError::Replayed { tx_id, height: 1 }
    );

    // The id covers what was signed, not the signature: the same content under a damaged
    // signature is still the same transaction.
    let mut damaged = first.clone();
    let Transaction::Anchor(batch) = &mut damaged else {
        unreachable!()
    };
    batch.signature.bytes[0] ^= 1;
    assert_eq!(damaged.id(ALG), Some(tx_id));
    assert_eq!(
        ledger.reject(&damaged),
        TxError::Replayed { tx_id, height: 1 }
    );
}

#[test]
fn replayed_revocation_and_registration_are_refused() {
    let mut ledger = Ledger::new();
    let register =
        ledger.register(ledger.registration(BUREAU, PROJECT, CONTRACT_TOTAL, CONTRACT_MILESTONES));
    ledger.accept(&register); // height 1
    let drawing = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    ledger.accept(&ledger.anchor(&drawing)); // height 2
    let revoke = ledger.revoke(ledger.revocation(&drawing, "drawn on the wrong grid"));
    ledger.accept(&revoke); // height 3

    assert_eq!(
        ledger.reject(&register),
        TxError::Replayed {
            tx_id: register.id(ALG).expect("an id"),
            height: 1,
        }
    );
    assert_eq!(
        ledger.reject(&revoke),
        TxError::Replayed {
            tx_id: revoke.id(ALG).expect("an id"),
            height: 3,
        }
    );
}

#[test]
fn different_content_has_a_different_id() {
    let ledger = Ledger::new();
    let body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    let mut moved = body.clone();
    moved.captured_at_ms += 1;
    let a = ledger.anchor(&body).id(ALG);
    let b = ledger.anchor(&moved).id(ALG);
    let batch = ledger.signed(vec![body.clone(), moved]).id(ALG);
    assert_ne!(a, b);
    assert_ne!(a, batch);
    assert_ne!(b, batch);
}

#[test]
fn identifiers_longer_than_the_encoding_allows_are_refused() {
    use evidence_core::entry::ID_LEN_MAX;
    let long = "r".repeat(ID_LEN_MAX as usize + 1);
    let mut ledger = Ledger::new();
    ledger.register_standard_project(PROJECT);
    let mut report = ledger.body(BUREAU, INSPECTION_REPORT, PROJECT, &long);
    report.claim = inspection("foundation", true);
    let tx = ledger.anchor(&report);
    let context = ledger.next_context();
    let outcome = evidence_contracts::execute_block(
        &ledger.state,
        &context,
        ledger.tree,
        std::slice::from_ref(&tx),
    )
    .expect("the memory store does not fail");
    assert!(
        matches!(outcome.results[0], Err(TxError::Malformed(_))),
        "a document id of {} bytes cannot be decoded from the log: {:?}",
        long.len(),
        outcome.results[0]
    );
    assert!(outcome.writes.is_empty() && outcome.entries().next().is_none());
}
