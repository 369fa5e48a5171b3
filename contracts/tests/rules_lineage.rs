//! Document lineage (versions, supersession, ownership) and revocation.

mod common;

use common::*;
use evidence_contracts::TxError;
use evidence_contracts::state::{DocumentRecord, VersionStatus};
use evidence_core::entry::{AnchorBody, Record};

const DOC: &str = "dwg-001";

/// A ledger holding version 1 of the bureau's drawing `DOC`.
fn ledger_with_v1() -> (Ledger, AnchorBody) {
    let mut ledger = Ledger::new();
    let v1 = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, DOC);
    ledger.accept(&ledger.anchor(&v1));
    (ledger, v1)
}

// Lineage.

#[test]
fn version_1_of_a_new_document_is_accepted_and_current() {
    let (ledger, v1) = ledger_with_v1();
    let version = ledger.version(PROJECT, DOC, 1);
    assert_eq!(version.digest, v1.digest);
    assert_eq!(version.status(), VersionStatus::Current);
    assert_eq!((version.entry_index, version.height), (0, 1));
    assert_eq!(
        ledger.document(PROJECT, DOC),
        Some(DocumentRecord {
            kind: COMPLETION_DRAWING.to_owned(),
            member: BUREAU.to_owned(),
            latest_version: 1,
            passing_milestone: None,
            latest: version,
        })
    );
}

#[test]
fn version_1_again_is_a_version_conflict() {
    let (mut ledger, v1) = ledger_with_v1();
    let mut again = v1.clone();
    again.digest = digest_of("another drawing under the same id");
    assert_eq!(
        ledger.reject(&ledger.anchor(&again)),
        TxError::VersionConflict {
            document_id: DOC.to_owned(),
            latest: 1,
            expected: 2,
            found: 1,
        }
    );
    assert_eq!(ledger.version(PROJECT, DOC, 1).digest, v1.digest);
}

#[test]
fn skipping_to_version_3_is_a_version_conflict() {
    let (mut ledger, v1) = ledger_with_v1();
    let mut v3 = next_version(&v1);
    v3.document_version = 3;
    assert_eq!(
        ledger.reject(&ledger.anchor(&v3)),
        TxError::VersionConflict {
            document_id: DOC.to_owned(),
            latest: 1,
            expected: 2,
            found: 3,
        }
    );
}

#[test]
fn version_2_without_or_with_the_wrong_supersedes_is_refused() {
    let (mut ledger, v1) = ledger_with_v1();
    let wrong = digest_of("some other version");
    for found in [None, Some(wrong)] {
        let mut v2 = next_version(&v1);
        v2.supersedes = found;
        assert_eq!(
            ledger.reject(&ledger.anchor(&v2)),
            TxError::SupersedesMismatch {
                document_id: DOC.to_owned(),
                version: 2,
                latest_digest: v1.digest,
                found,
            }
        );
    }
    assert_eq!(
        ledger.version(PROJECT, DOC, 1).status(),
        VersionStatus::Current
    );
}

#[test]
fn version_2_supersedes_version_1_which_stays_readable() {
    let (mut ledger, v1) = ledger_with_v1();
    let v2 = next_version(&v1);
    let applied = ledger.accept(&ledger.anchor(&v2));
    assert_eq!(applied.entries[0].index, 1);

    assert_eq!(
        ledger.version(PROJECT, DOC, 1).status(),
        VersionStatus::SupersededBy {
            version: 2,
            digest: v2.digest,
        }
    );
    let version2 = ledger.version(PROJECT, DOC, 2);
    assert_eq!(version2.status(), VersionStatus::Current);
    assert_eq!(
        (version2.digest, version2.entry_index, version2.height),
        (v2.digest, 1, 2)
    );
    let document = ledger.document(PROJECT, DOC).expect("document");
    assert_eq!(
        (document.latest_version, document.latest_digest()),
        (2, v2.digest)
    );

    // v3 now supersedes v2, and v1 keeps pointing at v2.
    let v3 = next_version(&v2);
    ledger.accept(&ledger.anchor(&v3));
    assert_eq!(
        ledger.version(PROJECT, DOC, 1).status(),
        VersionStatus::SupersededBy {
            version: 2,
            digest: v2.digest,
        }
    );
    assert_eq!(
        ledger.version(PROJECT, DOC, 2).status(),
        VersionStatus::SupersededBy {
            version: 3,
            digest: v3.digest,
        }
    );
}

#[test]
fn two_versions_of_a_document_in_one_batch_are_chained() {
    let mut ledger = Ledger::new();
    let v1 = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, DOC);
    let v2 = next_version(&v1);
    let applied = ledger.accept(&ledger.signed(vec![v1, v2.clone()]));
    assert_eq!(applied.entries.len(), 2);
    assert_eq!(ledger.version(PROJECT, DOC, 2).entry_index, 1);
    assert_eq!(
        ledger.version(PROJECT, DOC, 1).status(),
        VersionStatus::SupersededBy {
            version: 2,
            digest: v2.digest,
        }
    );
}

#[test]
fn new_version_may_not_change_the_kind() {
    let (mut ledger, v1) = ledger_with_v1();
    let mut v2 = next_version(&v1);
    v2.kind = INSPECTION_REPORT.to_owned();
    assert_eq!(
        ledger.reject(&ledger.anchor(&v2)),
        TxError::KindChanged {
            document_id: DOC.to_owned(),
            existing: COMPLETION_DRAWING.to_owned(),
            found: INSPECTION_REPORT.to_owned(),
        }
    );
}

#[test]
fn document_ids_are_each_members_own() {
    // Finance may also anchor drawings here; its "dwg-001" is its own document, and neither
    // member can block or continue the other's.
    let mut ledger = Ledger::with_genesis(|genesis| {
        let kind = genesis
            .policy
            .kinds
            .iter_mut()
            .find(|k| k.kind == COMPLETION_DRAWING)
            .unwrap();
        kind.members.push(FINANCE.to_owned());
        let filer = genesis
            .filers
            .iter_mut()
            .find(|f| f.member == FINANCE)
            .unwrap();
        filer.kinds.push(COMPLETION_DRAWING.to_owned());
    });
    let bureau_v1 = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, DOC);
    ledger.accept(&ledger.anchor(&bureau_v1));
    let mut finance_v1 = ledger.body(FINANCE, COMPLETION_DRAWING, PROJECT, DOC);
    finance_v1.digest = digest_of("finance's own drawing");
    ledger.accept(&ledger.anchor(&finance_v1));
    // Finance cannot continue the bureau's lineage: for finance, its own v1 is the latest.
    let mut takeover = next_version(&bureau_v1);
    takeover.filer = ledger.filer(FINANCE);
    takeover.member = FINANCE.to_owned();
    assert!(matches!(
        ledger.reject(&ledger.anchor(&takeover)),
        TxError::SupersedesMismatch { .. }
    ));
    // The bureau's lineage goes on untouched.
    ledger.accept(&ledger.anchor(&next_version(&bureau_v1)));
    let bureau = evidence_contracts::query::versions(&ledger.state, BUREAU, PROJECT, DOC).unwrap();
    let finance =
        evidence_contracts::query::versions(&ledger.state, FINANCE, PROJECT, DOC).unwrap();
    assert_eq!((bureau.len(), finance.len()), (2, 1));
    assert_eq!(finance[0].1.digest, finance_v1.digest);
}

#[test]
fn same_document_id_in_another_project_is_another_document() {
    let (mut ledger, _) = ledger_with_v1();
    let elsewhere = ledger.body(BUREAU, COMPLETION_DRAWING, "proj-harbour-bridge", DOC);
    ledger.accept(&ledger.anchor(&elsewhere));
    assert_eq!(
        ledger
            .document("proj-harbour-bridge", DOC)
            .expect("document")
            .latest_version,
        1
    );
}

#[test]
fn new_document_must_start_at_version_1_with_nothing_superseded() {
    let mut ledger = Ledger::new();
    let mut v2 = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, DOC);
    v2.document_version = 2;
    v2.supersedes = Some(digest_of("never anchored"));
    assert_eq!(
        ledger.reject(&ledger.anchor(&v2)),
        TxError::NotAFirstVersion {
            document_id: DOC.to_owned(),
            version: 2,
        }
    );

    let mut v1 = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, DOC);
    v1.supersedes = Some(digest_of("never anchored"));
    assert_eq!(
        ledger.reject(&ledger.anchor(&v1)),
        TxError::NotAFirstVersion {
            document_id: DOC.to_owned(),
            version: 1,
        }
    );

    let mut v0 = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, DOC);
    v0.document_version = 0;
    assert_eq!(
        ledger.reject(&ledger.anchor(&v0)),
        TxError::NotAFirstVersion {
            document_id: DOC.to_owned(),
            version: 0,
        }
    );
    assert_eq!(ledger.document(PROJECT, DOC), None);
}

// Revocation.

#[test]
fn revocation_is_recorded_as_an_entry_and_marks_the_version_revoked() {
    let (mut ledger, v1) = ledger_with_v1();
    let tx = ledger.revoke(ledger.revocation(&v1, "drawn on the wrong grid"));
    let applied = ledger.accept(&tx);
    assert_eq!(applied.entries.len(), 1);
    let entry = &applied.entries[0];
    assert_eq!((entry.index, entry.height), (1, 2));
    let evidence_contracts::Transaction::Revoke(signed) = &tx else {
        unreachable!()
    };
    assert_eq!(entry.record, Record::Revocation(signed.clone()));

    let version = ledger.version(PROJECT, DOC, 1);
    assert_eq!(
        version.status(),
        VersionStatus::Revoked {
            reason: "drawn on the wrong grid".to_owned(),
            entry_index: 1,
        }
    );
    // The version keeps where it was anchored.
    assert_eq!(
        (version.digest, version.entry_index, version.height),
        (v1.digest, 0, 1)
    );
}

#[test]
fn revoking_twice_is_refused() {
    let (mut ledger, v1) = ledger_with_v1();
    ledger.accept(&ledger.revoke(ledger.revocation(&v1, "first reason")));
    let mut again = ledger.revocation(&v1, "second reason");
    again.revoked_at_ms += 1;
    assert_eq!(
        ledger.reject(&ledger.revoke(again)),
        TxError::AlreadyRevoked {
            document_id: DOC.to_owned(),
            version: 1,
        }
    );
    assert_eq!(
        ledger.version(PROJECT, DOC, 1).status(),
        VersionStatus::Revoked {
            reason: "first reason".to_owned(),
            entry_index: 1,
        }
    );
}

#[test]
fn revocation_naming_the_wrong_digest_is_refused() {
    let (mut ledger, v1) = ledger_with_v1();
    let mut revocation = ledger.revocation(&v1, "withdrawn");
    revocation.digest = digest_of("not what was anchored");
    assert_eq!(
        ledger.reject(&ledger.revoke(revocation)),
        TxError::RevokedDigestMismatch {
            document_id: DOC.to_owned(),
            version: 1,
            stored: v1.digest,
            stated: digest_of("not what was anchored"),
        }
    );
}

#[test]
fn revoking_an_unknown_version_or_document_is_refused() {
    let (mut ledger, v1) = ledger_with_v1();
    let mut revocation = ledger.revocation(&v1, "withdrawn");
    revocation.document_version = 2;
    assert_eq!(
        ledger.reject(&ledger.revoke(revocation)),
        TxError::UnknownVersion {
            document_id: DOC.to_owned(),
            version: 2,
        }
    );
    let mut revocation = ledger.revocation(&v1, "withdrawn");
    revocation.document_id = "dwg-404".to_owned();
    assert_eq!(
        ledger.reject(&ledger.revoke(revocation)),
        TxError::UnknownVersion {
            document_id: "dwg-404".to_owned(),
            version: 1,
        }
    );
}

#[test]
fn another_member_cannot_revoke_a_document() {
    // Finance has no document of that id, so there is nothing of its own to revoke.
    let (mut ledger, v1) = ledger_with_v1();
    let mut revocation = ledger.revocation(&v1, "withdrawn");
    revocation.filer = ledger.filer(FINANCE);
    revocation.member = FINANCE.to_owned();
    assert_eq!(
        ledger.reject(&ledger.revoke(revocation)),
        TxError::UnknownVersion {
            document_id: DOC.to_owned(),
            version: 1,
        }
    );
    assert_eq!(
        ledger.version(PROJECT, DOC, 1).status(),
        VersionStatus::Current
    );
}

#[test]
fn revocation_without_a_reason_is_refused() {
    let (mut ledger, v1) = ledger_with_v1();
    for reason in ["", "   "] {
        assert_eq!(
            ledger.reject(&ledger.revoke(ledger.revocation(&v1, reason))),
            TxError::EmptyField { field: "reason" },
            "reason {reason:?}"
        );
    }
}

#[test]
fn revoking_a_fund_transfer_is_refused() {
    let mut ledger = Ledger::new();
    ledger.register_standard_project(PROJECT);
    ledger.file_inspection(PROJECT, "rpt-001", "foundation", true);
    let transfer = ledger.payment_body(PROJECT, "pay-001", "foundation", 100_000);
    ledger.accept(&ledger.anchor(&transfer));
    let error = ledger.reject(&ledger.revoke(ledger.revocation(&transfer, "paid twice")));
    assert_eq!(error, TxError::PaymentRecordImmutable);
    assert_eq!(
        ledger.version(PROJECT, "pay-001", 1).status(),
        VersionStatus::Current
    );
    assert_eq!(ledger.paid(PROJECT, "foundation"), (100_000, 100_000));
}

#[test]
fn revocation_deletes_nothing() {
    let (mut ledger, v1) = ledger_with_v1();
    let v2 = next_version(&v1);
    ledger.accept(&ledger.anchor(&v2));
    ledger.accept(&ledger.revoke(ledger.revocation(&v2, "wrong sheet")));
    ledger.accept(&ledger.revoke(ledger.revocation(&v1, "also wrong")));

    let version1 = ledger.version(PROJECT, DOC, 1);
    let version2 = ledger.version(PROJECT, DOC, 2);
    assert_eq!(
        (version1.digest, version1.entry_index),
        (v1.digest, 0),
        "version 1 is still readable"
    );
    assert_eq!((version2.digest, version2.entry_index), (v2.digest, 1));
    assert!(matches!(
        version1.status(),
        VersionStatus::Revoked { entry_index: 3, .. }
    ));
    assert!(matches!(
        version2.status(),
        VersionStatus::Revoked { entry_index: 2, .. }
    ));
    // The lineage head is unchanged: the next version still supersedes version 2.
    let document = ledger.document(PROJECT, DOC).expect("document");
    assert_eq!(
        (document.latest_version, document.latest_digest()),
        (2, v2.digest)
    );
    ledger.accept(&ledger.anchor(&next_version(&v2)));
    assert_eq!(
        ledger.version(PROJECT, DOC, 3).status(),
        VersionStatus::Current
    );
    // Every anchor and revocation stays in the log.
    let kinds: Vec<_> = ledger
        .log
        .iter()
        .map(|e| match e.record {
            Record::Anchor(_) => "anchor",
            Record::Revocation(_) => "revocation",
            Record::Registration(_) => "registration",
            Record::Governance(_) => "governance",
        })
        .collect();
    assert_eq!(
        kinds,
        ["anchor", "anchor", "revocation", "revocation", "anchor"]
    );
    let indices: Vec<_> = ledger.log.iter().map(|e| e.index).collect();
    assert_eq!(indices, [0, 1, 2, 3, 4]);
}

#[test]
fn court_filer_may_not_revoke_even_with_a_matching_digest() {
    // The court's filer files nothing, so it has nothing to revoke.
    let (mut ledger, v1) = ledger_with_v1();
    let mut revocation = ledger.revocation(&v1, "court order");
    revocation.filer = ledger.filer(COURT);
    revocation.member = COURT.to_owned();
    assert_eq!(
        ledger.reject(&ledger.revoke(revocation)),
        TxError::UnknownVersion {
            document_id: DOC.to_owned(),
            version: 1,
        }
    );
}

#[test]
fn queries_report_every_version_with_its_status() {
    use evidence_contracts::query;
    use evidence_contracts::state::VersionStatus;

    let mut ledger = Ledger::new();
    let v1 = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-q");
    ledger.accept(&ledger.anchor(&v1));
    let v2 = next_version(&v1);
    ledger.accept(&ledger.anchor(&v2));
    ledger.accept(&ledger.revoke(ledger.revocation(&v2, "wrong scale")));

    let versions = query::versions(&ledger.state, BUREAU, PROJECT, "dwg-q").unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        versions[0].1.status(),
        VersionStatus::SupersededBy {
            version: 2,
            digest: v2.digest
        }
    );
    assert!(matches!(
        &versions[1].1.status(),
        VersionStatus::Revoked { reason, .. } if reason == "wrong scale"
    ));
    let head = query::document(&ledger.state, BUREAU, PROJECT, "dwg-q")
        .unwrap()
        .unwrap();
    assert_eq!(head.latest_version, 2);
    assert!(
        query::versions(&ledger.state, BUREAU, PROJECT, "no-such")
            .unwrap()
            .is_empty()
    );
    assert!(query::project(&ledger.state, PROJECT).unwrap().is_none());
}

/// SPEC.md §11.2: supersession and revocation are kept side by side. A revoked latest version
/// that a new version then supersedes shows both (before, it stayed "revoked" and hid its
/// successor); a superseded version that is then revoked shows both too; the document's
/// current version is the newest one.
#[test]
fn a_version_keeps_both_its_revocation_and_its_supersession() {
    let (mut ledger, v1) = ledger_with_v1();
    let v2 = next_version(&v1);
    ledger.accept(&ledger.anchor(&v2));
    // Version 2, the latest, is revoked; then version 3 supersedes it.
    ledger.accept(&ledger.revoke(ledger.revocation(&v2, "wrong sheet")));
    let revoked_at = ledger.height;
    let v3 = next_version(&v2);
    ledger.accept(&ledger.anchor(&v3));
    let superseded_at = ledger.height;
    let version2 = ledger.version(PROJECT, DOC, 2);
    let revocation = version2.revocation.clone().expect("still revoked");
    assert_eq!(
        (revocation.reason.as_str(), revocation.height),
        ("wrong sheet", revoked_at)
    );
    let next = version2.superseded_by.clone().expect("and superseded");
    assert_eq!(
        (next.version, next.digest, next.height),
        (3, v3.digest, superseded_at)
    );
    // In one word it is revoked; version 3 is current, the document's latest.
    assert!(matches!(version2.status(), VersionStatus::Revoked { .. }));
    assert_eq!(
        ledger.version(PROJECT, DOC, 3).status(),
        VersionStatus::Current
    );
    assert_eq!(ledger.document(PROJECT, DOC).unwrap().latest_version, 3);

    // Version 1, superseded long ago, is revoked now: it keeps its successor.
    ledger.accept(&ledger.revoke(ledger.revocation(&v1, "also wrong")));
    let version1 = ledger.version(PROJECT, DOC, 1);
    assert_eq!(
        version1.superseded_by.as_ref().map(|next| next.version),
        Some(2)
    );
    assert_eq!(
        version1.revocation.as_ref().map(|r| r.reason.as_str()),
        Some("also wrong")
    );
    // A version is revoked once.
    let again = ledger.reject(&ledger.revoke(ledger.revocation(&v1, "once more")));
    assert_eq!(again.code(), "already-revoked", "{again}");
}
