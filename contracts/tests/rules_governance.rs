//! Governance by one member: registering, revoking and rotating its own filers' keys
//! (SPEC.md §11.4). Each rule has a case that passes and a case that breaks it.

mod common;

use common::*;
use evidence_contracts::query;
use evidence_contracts::{Transaction, TxError};
use evidence_core::entry::Record;
use evidence_core::governance::{FilerRegistration, FilerRevocation, GovernanceAction};
use evidence_core::keys::{PublicKey, SigningKey};

/// A new key for a scanner of the bureau's archive, from `seed`.
fn scanner_key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

fn registration(key: &SigningKey, kinds: &[&str]) -> FilerRegistration {
    FilerRegistration {
        name: "bureau-archive-scanner".to_owned(),
        public_key: key.public_key(),
        kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        source_system: "archive-scanner".to_owned(),
    }
}

fn revocation(key: PublicKey, effective_height: u64) -> FilerRevocation {
    FilerRevocation {
        public_key: key,
        reason: "the scanner was stolen".to_owned(),
        effective_height,
    }
}

fn register(ledger: &Ledger, member: &str, registration: FilerRegistration) -> Transaction {
    ledger.governance(member, GovernanceAction::RegisterFiler(registration))
}

fn revoke(ledger: &Ledger, member: &str, revocation: FilerRevocation) -> Transaction {
    ledger.governance(member, GovernanceAction::RevokeFiler(revocation))
}

/// A drawing filed by `key` (a registered filer of the bureau) from the scanner's system.
fn scanned_drawing(ledger: &Ledger, key: &SigningKey, document: &str) -> Transaction {
    let mut body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, document);
    body.filer = key.public_key();
    body.source_system = "archive-scanner".to_owned();
    sign_batch(key, vec![body])
}

/// The bureau registers a scanner key; from the next height it files drawings.
fn ledger_with_scanner() -> (Ledger, SigningKey) {
    let mut ledger = Ledger::new();
    let key = scanner_key(41);
    ledger.accept(&register(
        &ledger,
        BUREAU,
        registration(&key, &[COMPLETION_DRAWING]),
    ));
    ledger.remember_key(key.clone());
    (ledger, key)
}

#[test]
fn a_registered_filer_files_from_the_next_height_and_its_registration_is_a_log_entry() {
    let mut ledger = Ledger::new();
    let key = scanner_key(41);
    let tx = register(&ledger, BUREAU, registration(&key, &[COMPLETION_DRAWING]));
    // Registration and a filing in one block: the filer is not active until the next height.
    let results = ledger.run(&[tx.clone(), scanned_drawing(&ledger, &key, "dwg-1")]);
    let applied = results[0].as_ref().expect("the registration is accepted");
    assert_eq!(applied.entries.len(), 1);
    let Transaction::Governance(signed) = &tx else {
        unreachable!()
    };
    assert_eq!(
        applied.entries[0].record,
        Record::Governance(signed.clone())
    );
    assert_eq!(
        results[1],
        Err(TxError::FilerNotYetActive {
            filer: key.public_key(),
            from_height: 2,
        })
    );
    assert_eq!(
        results[1].as_ref().unwrap_err().code(),
        "filer-not-yet-active"
    );

    ledger.remember_key(key.clone());
    ledger.accept(&scanned_drawing(&ledger, &key, "dwg-1"));
    let record = query::filer(&ledger.state, &ledger.genesis, &key.public_key())
        .unwrap()
        .unwrap();
    assert_eq!(record.member, BUREAU);
    assert_eq!(record.registered_height, 1);
    assert_eq!(record.registration_entry_index, Some(0));
    assert_eq!(record.source_system.as_deref(), Some("archive-scanner"));
    assert!(record.revocation.is_none());

    // The same signed registration again is a replay.
    assert_eq!(ledger.reject(&tx).code(), "replayed");
}

#[test]
fn a_registered_filer_is_held_to_its_source_system_and_kinds() {
    let (mut ledger, key) = ledger_with_scanner();
    let mut body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-2");
    body.filer = key.public_key();
    body.source_system = "some-other-system".to_owned();
    assert_eq!(
        ledger.reject(&sign_batch(&key, vec![body])),
        TxError::SourceSystemMismatch {
            filer: key.public_key(),
            registered: "archive-scanner".to_owned(),
            found: "some-other-system".to_owned(),
        }
    );
    let mut body = ledger.body(BUREAU, INSPECTION_REPORT, PROJECT, "rep-1");
    body.filer = key.public_key();
    body.source_system = "archive-scanner".to_owned();
    assert_eq!(
        ledger.reject(&sign_batch(&key, vec![body])).code(),
        "kind-not-allowed-for-filer"
    );
    // Its member stays the member that registered it.
    let mut body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-3");
    body.filer = key.public_key();
    body.source_system = "archive-scanner".to_owned();
    body.member = FINANCE.to_owned();
    assert_eq!(
        ledger.reject(&sign_batch(&key, vec![body])).code(),
        "member-mismatch"
    );
    // A genesis filer names any source system it likes.
    let mut body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-4");
    body.source_system = "anything".to_owned();
    ledger.accept(&ledger.anchor(&body));
}

#[test]
fn a_registration_must_be_within_the_members_policy_and_use_a_fresh_key() {
    let consortium = consortium();
    let validator_key = consortium.validator_keys[0].1.public_key();
    let governance_key = consortium.governance_keys[1].1.public_key();
    let genesis_filer = consortium.filer_keys[2].1.public_key();
    let small_order = PublicKey::from_bytes(&{
        let mut y = [0u8; 32];
        y[0] = 1;
        y
    })
    .unwrap();
    let (mut ledger, scanner) = ledger_with_scanner();
    let fresh = scanner_key(42);
    let cases: Vec<(&str, FilerRegistration, &str)> = vec![
        (
            "a kind the policy does not know",
            registration(&fresh, &["blueprint"]),
            "unknown-kind",
        ),
        (
            "a kind the policy gives to another member",
            registration(&fresh, &[FUND_TRANSFER]),
            "kind-not-allowed-for-member",
        ),
        (
            "a kind listed twice",
            registration(&fresh, &[COMPLETION_DRAWING, COMPLETION_DRAWING]),
            "invalid-filer-registration",
        ),
        (
            "a blank name",
            FilerRegistration {
                name: " \t".to_owned(),
                ..registration(&fresh, &[])
            },
            "empty-field",
        ),
        (
            "a blank source system",
            FilerRegistration {
                source_system: String::new(),
                ..registration(&fresh, &[])
            },
            "empty-field",
        ),
        (
            "a key of small order",
            FilerRegistration {
                public_key: small_order,
                ..registration(&fresh, &[])
            },
            "invalid-filer-registration",
        ),
        (
            "a validator's key",
            FilerRegistration {
                public_key: validator_key,
                ..registration(&fresh, &[])
            },
            "filer-key-in-use",
        ),
        (
            "a governance key",
            FilerRegistration {
                public_key: governance_key,
                ..registration(&fresh, &[])
            },
            "filer-key-in-use",
        ),
        (
            "a genesis filer's key",
            FilerRegistration {
                public_key: genesis_filer,
                ..registration(&fresh, &[])
            },
            "filer-key-in-use",
        ),
        (
            "a key registered before",
            FilerRegistration {
                name: "another-scanner".to_owned(),
                ..registration(&scanner, &[COMPLETION_DRAWING])
            },
            "filer-key-in-use",
        ),
    ];
    for (what, registration, code) in cases {
        let error = ledger.reject(&register(&ledger, BUREAU, registration));
        assert_eq!(error.code(), code, "{what}: {error}");
    }
    // A key that was registered and then revoked is never registered again.
    let height = ledger.height;
    ledger.accept(&revoke(
        &ledger,
        BUREAU,
        revocation(scanner.public_key(), height + 1),
    ));
    // (Another name, so that it is not the same signed bytes, which would be a replay.)
    let again = FilerRegistration {
        name: "bureau-archive-scanner-again".to_owned(),
        ..registration(&scanner, &[COMPLETION_DRAWING])
    };
    assert_eq!(
        ledger.reject(&register(&ledger, BUREAU, again)).code(),
        "filer-key-in-use"
    );
    // Within the policy, with no kinds at all (a filer that only revokes), it is accepted.
    ledger.accept(&register(&ledger, COURT, registration(&fresh, &[])));
}

#[test]
fn only_a_members_own_governance_key_acts_for_it() {
    let mut ledger = Ledger::new();
    let fresh = scanner_key(43);
    // A key that is no member's governance key: refused, and no mark is left.
    let stranger = stranger_key();
    let forged = Transaction::governance(
        evidence_core::governance::GovernanceBody {
            signer: stranger.public_key(),
            ..ledger.governance_body(
                BUREAU,
                GovernanceAction::RegisterFiler(registration(&fresh, &[])),
            )
        }
        .sign(&stranger),
    );
    assert_eq!(
        ledger.reject(&forged),
        TxError::UnknownGovernanceKey(stranger.public_key())
    );
    // A filer key is not a governance key.
    let filer = ledger.filer_key(BUREAU).clone();
    let by_filer = Transaction::governance(
        evidence_core::governance::GovernanceBody {
            signer: filer.public_key(),
            ..ledger.governance_body(
                BUREAU,
                GovernanceAction::RegisterFiler(registration(&fresh, &[])),
            )
        }
        .sign(&filer),
    );
    assert_eq!(ledger.reject(&by_filer).code(), "unknown-governance-key");
    // The bureau's key, but a signature by another key.
    let bad = Transaction::governance(
        ledger
            .governance_body(
                BUREAU,
                GovernanceAction::RegisterFiler(registration(&fresh, &[])),
            )
            .sign(&stranger),
    );
    assert_eq!(ledger.reject(&bad).code(), "bad-signature");
    // None of those consumed anything: the genuine transaction still applies.
    // The finance bureau's key acting for the bureau: authentic, so its id is consumed.
    let finance_for_bureau = Transaction::governance(
        evidence_core::governance::GovernanceBody {
            signer: ledger.governance_key(FINANCE).public_key(),
            ..ledger.governance_body(
                BUREAU,
                GovernanceAction::RegisterFiler(registration(&fresh, &[])),
            )
        }
        .sign(ledger.governance_key(FINANCE)),
    );
    assert_eq!(
        ledger.reject(&finance_for_bureau),
        TxError::GovernanceMemberMismatch {
            key: ledger.governance_key(FINANCE).public_key(),
            registered: FINANCE.to_owned(),
            claimed: BUREAU.to_owned(),
        }
    );
    assert_eq!(ledger.reject(&finance_for_bureau).code(), "replayed");
    // Another chain's transaction.
    let other_chain = Transaction::governance(
        evidence_core::governance::GovernanceBody {
            chain_id: "evidence-other".to_owned(),
            ..ledger.governance_body(
                BUREAU,
                GovernanceAction::RegisterFiler(registration(&fresh, &[])),
            )
        }
        .sign(ledger.governance_key(BUREAU)),
    );
    assert_eq!(ledger.reject(&other_chain).code(), "wrong-chain");
    ledger.accept(&register(&ledger, BUREAU, registration(&fresh, &[])));
}

#[test]
fn a_revoked_filer_files_nothing_from_its_effective_height() {
    let mut ledger = Ledger::new();
    let bureau = ledger.filer(BUREAU);
    let drawing = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-1");
    ledger.accept(&ledger.anchor(&drawing));
    // Revoked from two heights on: the next height still files, the one after does not.
    let effective = ledger.height + 3;
    let tx = revoke(&ledger, BUREAU, revocation(bureau, effective));
    let applied = ledger.accept(&tx);
    assert_eq!(applied.entries.len(), 1);
    let second = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-2");
    ledger.accept(&ledger.anchor(&second));
    let third = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "dwg-3");
    assert_eq!(
        ledger.reject(&ledger.anchor(&third)),
        TxError::FilerRevoked {
            filer: bureau,
            effective_height: effective,
        }
    );
    // Not its revocations of documents, nor its project registrations either.
    let withdraw = ledger.revoke(ledger.revocation(&drawing, "wrong sheet"));
    assert_eq!(ledger.reject(&withdraw).code(), "filer-revoked");
    let project = ledger.registration(BUREAU, PROJECT, CONTRACT_TOTAL, CONTRACT_MILESTONES);
    assert_eq!(
        ledger.reject(&ledger.register(project)).code(),
        "filer-revoked"
    );
    let record = query::filer(&ledger.state, &ledger.genesis, &bureau)
        .unwrap()
        .unwrap();
    let revoked = record
        .revocation
        .expect("the record carries the revocation");
    assert_eq!(revoked.effective_height, effective);
    assert_eq!(revoked.height, 2);
    assert_eq!(revoked.entry_index, 1);
    assert_eq!(record.registered_height, 0, "a genesis filer");
    // What it filed before stays: the first drawing is still the current version.
    assert!(
        query::document(&ledger.state, BUREAU, PROJECT, "dwg-1")
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_revocation_may_reach_back_to_when_a_key_leaked() {
    let (mut ledger, key) = ledger_with_scanner();
    ledger.accept(&scanned_drawing(&ledger, &key, "dwg-1"));
    ledger.accept(&scanned_drawing(&ledger, &key, "dwg-2"));
    // The scanner's key leaked at height 3: it is revoked from then on, which the quorum
    // records at height 4.
    ledger.accept(&revoke(&ledger, BUREAU, revocation(key.public_key(), 3)));
    assert_eq!(
        ledger
            .reject(&scanned_drawing(&ledger, &key, "dwg-3"))
            .code(),
        "filer-revoked"
    );
    let record = query::filer(&ledger.state, &ledger.genesis, &key.public_key())
        .unwrap()
        .unwrap();
    assert_eq!(record.revocation.unwrap().effective_height, 3);
}

#[test]
fn revocation_rules() {
    let (mut ledger, scanner) = ledger_with_scanner();
    let finance = ledger.filer(FINANCE);
    let next = ledger.height + 1;
    let cases: Vec<(&str, &str, FilerRevocation, &str)> = vec![
        (
            "a blank reason",
            BUREAU,
            FilerRevocation {
                reason: "\n".to_owned(),
                ..revocation(scanner.public_key(), next)
            },
            "empty-field",
        ),
        (
            "a key that is no filer",
            BUREAU,
            revocation(scanner_key(99).public_key(), next),
            "not-a-filer",
        ),
        (
            "another member's filer",
            BUREAU,
            revocation(finance, next),
            "member-mismatch",
        ),
        (
            "effective at the height that registered it",
            BUREAU,
            revocation(scanner.public_key(), 1),
            "bad-effective-height",
        ),
        (
            "a genesis filer effective at height 0",
            FINANCE,
            revocation(finance, 0),
            "bad-effective-height",
        ),
    ];
    for (what, member, revocation, code) in cases {
        let error = ledger.reject(&revoke(&ledger, member, revocation));
        assert_eq!(error.code(), code, "{what}: {error}");
    }
    let height = ledger.height;
    ledger.accept(&revoke(
        &ledger,
        BUREAU,
        revocation(scanner.public_key(), height + 10),
    ));
    let again = FilerRevocation {
        reason: "said twice".to_owned(),
        ..revocation(scanner.public_key(), height + 20)
    };
    assert_eq!(
        ledger.reject(&revoke(&ledger, BUREAU, again)),
        TxError::FilerAlreadyRevoked {
            filer: scanner.public_key(),
            effective_height: height + 10,
        }
    );
}

#[test]
fn a_rotation_revokes_the_old_key_and_registers_its_successor_in_one_entry() {
    let (mut ledger, old) = ledger_with_scanner();
    let new = scanner_key(44);
    let height = ledger.height;
    let rotation = ledger.governance(
        BUREAU,
        GovernanceAction::RotateFiler {
            revoke: revocation(old.public_key(), height + 3),
            register: FilerRegistration {
                name: "bureau-archive-scanner-2".to_owned(),
                ..registration(&new, &[COMPLETION_DRAWING])
            },
        },
    );
    let applied = ledger.accept(&rotation);
    assert_eq!(applied.entries.len(), 1);
    ledger.remember_key(new.clone());
    // The next heights: both may file (the old key until its effective height).
    ledger.accept(&scanned_drawing(&ledger, &old, "dwg-old"));
    ledger.accept(&scanned_drawing(&ledger, &new, "dwg-new"));
    assert_eq!(
        ledger
            .reject(&scanned_drawing(&ledger, &old, "dwg-old-2"))
            .code(),
        "filer-revoked"
    );
    // A rotation whose revocation fails registers nothing.
    let newer = scanner_key(45);
    let bad = ledger.governance(
        BUREAU,
        GovernanceAction::RotateFiler {
            revoke: revocation(old.public_key(), 50),
            register: registration(&newer, &[COMPLETION_DRAWING]),
        },
    );
    assert_eq!(ledger.reject(&bad).code(), "filer-already-revoked");
    assert!(
        query::filer(&ledger.state, &ledger.genesis, &newer.public_key())
            .unwrap()
            .is_none()
    );
    // A rotation to a key in use changes nothing either: the old key is not revoked.
    let (mut ledger, old) = ledger_with_scanner();
    let height = ledger.height;
    let validator = consortium().validator_keys[0].1.public_key();
    let bad = ledger.governance(
        BUREAU,
        GovernanceAction::RotateFiler {
            revoke: revocation(old.public_key(), height + 1),
            register: FilerRegistration {
                public_key: validator,
                ..registration(&newer, &[])
            },
        },
    );
    assert_eq!(ledger.reject(&bad).code(), "filer-key-in-use");
    ledger.accept(&scanned_drawing(&ledger, &old, "dwg-still"));
}

#[test]
fn a_filer_key_of_another_algorithm_is_refused() {
    let mut ledger = Ledger::new();
    let sm2 =
        SigningKey::from_secret(evidence_core::keys::SignatureAlgorithm::Sm2, &[42; 32]).unwrap();
    let error = ledger.reject(&register(
        &ledger,
        BUREAU,
        registration(&sm2, &[COMPLETION_DRAWING]),
    ));
    assert_eq!(error.code(), "wrong-key-algorithm", "{error}");
    assert!(error.to_string().contains("sm2"), "{error}");
}
