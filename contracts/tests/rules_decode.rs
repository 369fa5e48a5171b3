//! Malformed transaction bytes: every failure is a typed `DecodeError`, never a panic, and
//! valid transactions round-trip through their canonical encoding.

mod common;

use common::*;
use evidence_contracts::Transaction;
use evidence_core::encoding::{Decode, DecodeError, Encode};
use evidence_core::entry::{AnchorBody, MilestoneClaim};
use evidence_core::governance::{FilerRegistration, FilerRevocation, GovernanceAction};
use evidence_core::keys::SigningKey;
use proptest::prelude::*;

/// One valid transaction of each kind.
fn samples() -> Vec<Transaction> {
    let ledger = Ledger::new();
    let mut report = ledger.body(BUREAU, INSPECTION_REPORT, PROJECT, "rpt-001");
    report.claim = inspection("foundation", true);
    let drawing = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
    vec![
        ledger.anchor(&drawing),
        ledger.signed(vec![report.clone(), next_version(&report), drawing.clone()]),
        ledger.pay(PROJECT, "pay-001", "foundation", 42),
        ledger.revoke(ledger.revocation(&drawing, "drawn on the wrong grid")),
        ledger.register(ledger.registration(BUREAU, PROJECT, CONTRACT_TOTAL, CONTRACT_MILESTONES)),
        ledger.governance(
            BUREAU,
            GovernanceAction::RotateFiler {
                revoke: FilerRevocation {
                    public_key: ledger.filer(BUREAU),
                    reason: "the old scanner was retired".to_owned(),
                    effective_height: 9,
                },
                register: FilerRegistration {
                    name: "bureau-scanner-2".to_owned(),
                    public_key: SigningKey::from_seed(&[9; 32]).public_key(),
                    kinds: vec![COMPLETION_DRAWING.to_owned()],
                    source_system: "scanner".to_owned(),
                },
            },
        ),
    ]
}

fn decode(bytes: &[u8]) -> Result<Transaction, DecodeError> {
    Transaction::from_canonical_bytes(bytes)
}

#[test]
fn samples_round_trip() {
    for tx in samples() {
        assert_eq!(decode(&tx.to_canonical_bytes()), Ok(tx));
    }
}

#[test]
fn empty_input_is_an_unexpected_end() {
    assert_eq!(
        decode(&[]),
        Err(DecodeError::UnexpectedEnd {
            what: "transaction version",
            needed: 1,
            remaining: 0,
        })
    );
    assert_eq!(
        decode(&[1]),
        Err(DecodeError::UnexpectedEnd {
            what: "transaction kind",
            needed: 1,
            remaining: 0,
        })
    );
}

#[test]
fn unknown_version_byte_is_unsupported() {
    for version in [0u8, 2, 0x7f, 0xff] {
        let mut bytes = samples()[0].to_canonical_bytes();
        bytes[0] = version;
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::UnsupportedVersion {
                what: "transaction",
                version,
            })
        );
    }
}

#[test]
fn unknown_kind_tag_is_refused() {
    for tag in [0u8, 5, 0xff] {
        let mut bytes = samples()[0].to_canonical_bytes();
        bytes[1] = tag;
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::UnknownTag {
                what: "transaction kind",
                tag,
            })
        );
    }
}

#[test]
fn kind_tag_of_another_transaction_type_does_not_decode() {
    // Each body read as another kind fails somewhere inside; which error depends on where.
    for tx in samples() {
        let bytes = tx.to_canonical_bytes();
        for tag in 1..=3u8 {
            if tag == bytes[1] {
                continue;
            }
            let mut swapped = bytes.clone();
            swapped[1] = tag;
            assert!(
                decode(&swapped).is_err(),
                "{} read as tag {tag}",
                tx.kind_name()
            );
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    for tx in samples() {
        for extra in [&[0u8][..], &[1, 2, 3], &[0; 64]] {
            let mut bytes = tx.to_canonical_bytes();
            bytes.extend_from_slice(extra);
            assert_eq!(
                decode(&bytes),
                Err(DecodeError::TrailingBytes {
                    what: std::any::type_name::<Transaction>(),
                    trailing: extra.len(),
                })
            );
        }
    }
}

#[test]
fn every_truncation_of_a_valid_transaction_is_refused() {
    for tx in samples() {
        let bytes = tx.to_canonical_bytes();
        for len in 0..bytes.len() {
            match decode(&bytes[..len]) {
                Err(DecodeError::UnexpectedEnd { .. } | DecodeError::TooLong { .. }) => {}
                other => panic!(
                    "{} truncated to {len} of {} bytes: {other:?}",
                    tx.kind_name(),
                    bytes.len()
                ),
            }
        }
    }
}

#[test]
fn garbage_is_refused() {
    let cases: [&[u8]; 6] = [
        b"not a transaction",
        &[0xff; 32],
        &[1, 1, 0xff, 0xff, 0xff, 0xff],
        &[1, 1, 0, 0, 0, 0, 1, 0],
        &[1, 2, 0, 0, 0, 0],
        &[1, 3, 9],
    ];
    for bytes in cases {
        assert!(decode(bytes).is_err(), "{bytes:?}");
    }
    // A batch count larger than the input is refused before anything is allocated.
    assert!(matches!(
        decode(&[1, 1, 0xff, 0xff, 0xff, 0xff]),
        Err(DecodeError::TooLong { .. })
    ));
    // An empty batch does not decode.
    let mut empty_batch = vec![1, 1, 0, 0, 0, 0];
    empty_batch.push(1);
    empty_batch.extend_from_slice(&[0; 64]);
    assert!(matches!(
        decode(&empty_batch),
        Err(DecodeError::InvalidValue {
            what: "batch anchors",
            ..
        })
    ));
}

#[test]
fn invalid_field_values_are_refused() {
    let drawing = samples().remove(0);
    let bytes = drawing.to_canonical_bytes();
    // Layout: version, kind, batch count (4), then the body: body version, chain id.
    let body_version_at = 6;
    let mut wrong_body_version = bytes.clone();
    wrong_body_version[body_version_at] = 9;
    assert_eq!(
        decode(&wrong_body_version),
        Err(DecodeError::UnsupportedVersion {
            what: "anchor body",
            version: 9,
        })
    );
    // The chain id's first byte made invalid UTF-8.
    let chain_id_at = body_version_at + 1 + 4;
    let mut bad_utf8 = bytes.clone();
    bad_utf8[chain_id_at] = 0xff;
    assert_eq!(
        decode(&bad_utf8),
        Err(DecodeError::InvalidUtf8 { what: "chain id" })
    );
    // The chain id's length made longer than an identifier may be.
    let mut long_id = bytes;
    long_id[body_version_at + 1..chain_id_at].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    assert!(matches!(
        decode(&long_id),
        Err(DecodeError::TooLong {
            what: "chain id",
            ..
        })
    ));
}

// Properties.

fn id() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._-]{0,24}"
}

fn claim() -> impl Strategy<Value = Option<MilestoneClaim>> {
    prop_oneof![
        Just(None),
        (id(), any::<bool>())
            .prop_map(|(milestone, passed)| Some(MilestoneClaim::Inspection { milestone, passed })),
        (id(), any::<u64>()).prop_map(|(milestone, amount_minor)| Some(MilestoneClaim::Payment {
            milestone,
            amount_minor
        })),
    ]
}

/// Changes to a template anchor body: (project, document, kind), (capture time, version,
/// digest), (supersedes, claim, source system).
type BodyFields = (
    (String, String, String),
    (u64, u32, [u8; 32]),
    (Option<[u8; 32]>, Option<MilestoneClaim>, String),
);

fn body_fields() -> impl Strategy<Value = BodyFields> {
    (
        (id(), id(), id()),
        (any::<u64>(), any::<u32>(), any::<[u8; 32]>()),
        (proptest::option::of(any::<[u8; 32]>()), claim(), ".{0,40}"),
    )
}

fn make_body(template: &AnchorBody, fields: &BodyFields) -> AnchorBody {
    let ((project, document, kind), (captured, version, digest), (supersedes, claim, source)) =
        fields;
    AnchorBody {
        project_id: project.clone(),
        document_id: document.clone(),
        kind: kind.clone(),
        captured_at_ms: *captured,
        document_version: *version,
        digest: evidence_core::digest::Digest::new(ALG, *digest),
        supersedes: supersedes.map(|d| evidence_core::digest::Digest::new(ALG, d)),
        claim: claim.clone(),
        source_system: source.clone(),
        ..template.clone()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::proptest_cases(256)))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn random_bodies_behind_a_valid_header_never_panic(
        tag in 0u8..5,
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut input = vec![1, tag];
        input.extend_from_slice(&bytes);
        let _ = decode(&input);
    }

    #[test]
    fn mutated_transactions_never_panic_and_what_decodes_is_canonical(
        which in 0usize..5,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = samples()[which].to_canonical_bytes();
        for (at, value) in &edits {
            let at = at.index(bytes.len());
            bytes[at] = *value;
        }
        if let Ok(tx) = decode(&bytes) {
            // One value, one encoding: anything that decodes re-encodes to the same bytes.
            prop_assert_eq!(tx.to_canonical_bytes(), bytes);
        }
    }

    #[test]
    fn valid_anchor_batches_round_trip(
        fields in proptest::collection::vec(body_fields(), 1..4),
    ) {
        let ledger = Ledger::new();
        let template = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "template");
        let anchors: Vec<_> = fields.iter().map(|f| make_body(&template, f)).collect();
        let tx = ledger.signed(anchors);
        let bytes = tx.to_canonical_bytes();
        let decoded = decode(&bytes);
        prop_assert_eq!(decoded.as_ref(), Ok(&tx));
        prop_assert_eq!(decoded.ok().and_then(|d| d.id(ALG)), tx.id(ALG));
    }

    #[test]
    fn valid_revocations_and_registrations_round_trip(
        version in any::<u32>(),
        reason in ".{1,200}",
        total in any::<u64>(),
        milestones in proptest::collection::vec((id(), any::<u64>()), 0..8),
        at in any::<u64>(),
    ) {
        let ledger = Ledger::new();
        let drawing = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-001");
        let mut revocation = ledger.revocation(&drawing, &reason);
        revocation.document_version = version;
        revocation.revoked_at_ms = at;
        let tx = ledger.revoke(revocation);
        prop_assert_eq!(decode(&tx.to_canonical_bytes()), Ok(tx));

        let milestones: Vec<(&str, u64)> =
            milestones.iter().map(|(m, a)| (m.as_str(), *a)).collect();
        let mut registration = ledger.registration(BUREAU, PROJECT, total, &milestones);
        registration.registered_at_ms = at;
        let tx = ledger.register(registration);
        prop_assert_eq!(decode(&tx.to_canonical_bytes()), Ok(tx));
    }
}
