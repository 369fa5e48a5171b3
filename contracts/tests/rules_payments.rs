//! Project contracts and milestone payments: payments follow passed inspections (按节点拨付),
//! and no milestone or contract may be overpaid (超付预警).

mod common;

use common::*;
use evidence_contracts::state::{MilestoneAccount, ProjectRecord, VersionStatus};
use evidence_contracts::{Transaction, TxError};
use evidence_core::entry::{AnchorBody, MILESTONES_MAX, Record};

/// A ledger with the standard contract registered for `PROJECT`.
fn registered() -> Ledger {
    let mut ledger = Ledger::new();
    ledger.register_standard_project(PROJECT);
    ledger
}

/// A ledger with the standard contract and a passed inspection of `milestone`.
fn inspected(milestone: &str) -> (Ledger, AnchorBody) {
    let mut ledger = registered();
    let report = ledger.file_inspection(PROJECT, &format!("rpt-{milestone}"), milestone, true);
    (ledger, report)
}

fn not_inspected(milestone: &str) -> TxError {
    TxError::MilestoneNotInspected {
        project_id: PROJECT.to_owned(),
        milestone: milestone.to_owned(),
    }
}

/// A named contract (total and milestones) and why it is invalid.
type ContractCase<'a> = (&'a str, u64, Vec<(&'a str, u64)>, String);

// Registration.

#[test]
fn project_registration_by_a_member_that_is_not_a_registrar_is_refused() {
    let mut ledger = Ledger::new();
    for member in [FINANCE, COURT, ARCHIVE] {
        let registration =
            ledger.registration(member, PROJECT, CONTRACT_TOTAL, CONTRACT_MILESTONES);
        let error = ledger.reject(&ledger.register(registration));
        assert_eq!(error, TxError::NotARegistrar(member.to_owned()));
        assert!(error.is_policy_violation());
    }
    assert_eq!(ledger.project(PROJECT), None);
}

#[test]
fn project_registration_by_the_bureau_is_recorded() {
    let mut ledger = Ledger::new();
    let tx =
        ledger.register(ledger.registration(BUREAU, PROJECT, CONTRACT_TOTAL, CONTRACT_MILESTONES));
    let applied = ledger.accept(&tx);
    let Transaction::RegisterProject(signed) = &tx else {
        unreachable!()
    };
    assert_eq!(applied.entries.len(), 1);
    assert_eq!(applied.entries[0].index, 0);
    assert_eq!(
        applied.entries[0].record,
        Record::Registration(signed.clone())
    );
    assert_eq!(
        ledger.project(PROJECT),
        Some(ProjectRecord {
            registrar_member: BUREAU.to_owned(),
            total_value_minor: CONTRACT_TOTAL,
            paid_minor: 0,
            milestones: CONTRACT_MILESTONES
                .iter()
                .map(|(id, amount)| MilestoneAccount {
                    id: (*id).to_owned(),
                    amount_minor: *amount,
                    paid_minor: 0,
                })
                .collect(),
        })
    );
}

#[test]
fn registering_a_project_twice_is_refused() {
    let mut ledger = registered();
    let again = ledger.registration(BUREAU, PROJECT, 5 * CONTRACT_TOTAL, &[("all", 1)]);
    assert_eq!(
        ledger.reject(&ledger.register(again)),
        TxError::ProjectAlreadyRegistered(PROJECT.to_owned())
    );
    assert_eq!(
        ledger.project(PROJECT).expect("project").total_value_minor,
        CONTRACT_TOTAL
    );
}

#[test]
fn invalid_contracts_are_refused() {
    let too_many: Vec<(String, u64)> = (0..=MILESTONES_MAX)
        .map(|i| (format!("m{i:03}"), 1))
        .collect();
    let too_many: Vec<(&str, u64)> = too_many.iter().map(|(id, a)| (id.as_str(), *a)).collect();
    let cases: Vec<ContractCase<'_>> = vec![
        (
            "zero total",
            0,
            vec![("foundation", 1)],
            "the total value must be more than zero".to_owned(),
        ),
        (
            "no milestones",
            1_000,
            vec![],
            format!("a contract has 1 to {MILESTONES_MAX} milestones, got 0"),
        ),
        (
            "duplicate milestone",
            1_000,
            vec![("foundation", 400), ("roof", 300), ("foundation", 300)],
            "milestone \"foundation\" is listed twice".to_owned(),
        ),
        (
            "milestone of zero",
            1_000,
            vec![("foundation", 400), ("roof", 0)],
            "milestone \"roof\" amount 0 must be between 1 and the total value 1000".to_owned(),
        ),
        (
            "milestone above the total",
            1_000,
            vec![("foundation", 1_001)],
            "milestone \"foundation\" amount 1001 must be between 1 and the total value 1000"
                .to_owned(),
        ),
        (
            "empty milestone id",
            1_000,
            vec![("foundation", 400), (" ", 300)],
            "a milestone id is empty".to_owned(),
        ),
    ];
    let mut ledger = Ledger::new();
    for (name, total, milestones, reason) in cases {
        let registration = ledger.registration(BUREAU, PROJECT, total, &milestones);
        let error = ledger.reject(&ledger.register(registration));
        assert_eq!(error, TxError::InvalidContract(reason), "{name}");
        assert_eq!(error.code(), "invalid-contract");
    }
    // More milestones than the encoding allows cannot even be decoded, so the registration is
    // refused as malformed before any contract rule runs.
    let registration = ledger.registration(BUREAU, PROJECT, 1_000, &too_many);
    let error = ledger.reject(&ledger.register(registration));
    assert!(
        matches!(
            error,
            TxError::Malformed(evidence_core::DecodeError::TooLong { len: 257, .. })
        ),
        "{error:?}"
    );
    assert_eq!(ledger.project(PROJECT), None);

    // The edges themselves are valid: a milestone worth the whole contract, and the most
    // milestones a contract may have.
    let whole = ledger.registration(BUREAU, PROJECT, 1_000, &[("all", 1_000)]);
    ledger.accept(&ledger.register(whole));
    let most: Vec<(String, u64)> = (0..MILESTONES_MAX)
        .map(|i| (format!("m{i:03}"), 1))
        .collect();
    let most: Vec<(&str, u64)> = most.iter().map(|(id, a)| (id.as_str(), *a)).collect();
    let registration = ledger.registration(BUREAU, "proj-many", 1_000, &most);
    ledger.accept(&ledger.register(registration));
}

// Payments need a registered project, a known milestone and a passed inspection.

#[test]
fn payment_for_an_unknown_project_is_refused() {
    let mut ledger = Ledger::new();
    assert_eq!(
        ledger.reject(&ledger.pay("proj-none", "pay-001", "foundation", 100)),
        TxError::UnknownProject("proj-none".to_owned())
    );
}

#[test]
fn payment_for_an_unknown_milestone_is_refused() {
    let mut ledger = registered();
    assert_eq!(
        ledger.reject(&ledger.pay(PROJECT, "pay-001", "landscaping", 100)),
        TxError::UnknownMilestone {
            project_id: PROJECT.to_owned(),
            milestone: "landscaping".to_owned(),
        }
    );
}

#[test]
fn payment_before_any_inspection_is_refused() {
    let mut ledger = registered();
    let error = ledger.reject(&ledger.pay(PROJECT, "pay-001", "foundation", 100));
    assert_eq!(error, not_inspected("foundation"));
    assert_eq!(error.code(), "milestone-not-inspected");
}

#[test]
fn failed_inspection_does_not_unlock_payment() {
    let mut ledger = registered();
    ledger.file_inspection(PROJECT, "rpt-001", "foundation", false);
    assert!(
        ledger
            .evidence(PROJECT, "foundation")
            .passing_reports
            .is_empty()
    );
    assert_eq!(
        ledger.reject(&ledger.pay(PROJECT, "pay-001", "foundation", 100)),
        not_inspected("foundation")
    );
}

#[test]
fn passed_inspection_unlocks_only_its_own_milestone() {
    let (mut ledger, _) = inspected("structure");
    assert_eq!(
        ledger.reject(&ledger.pay(PROJECT, "pay-001", "foundation", 100)),
        not_inspected("foundation")
    );
    ledger.accept(&ledger.pay(PROJECT, "pay-001", "structure", 100));
}

#[test]
fn passed_inspection_unlocks_payment_within_limits() {
    let (mut ledger, report) = inspected("foundation");
    assert_eq!(
        ledger.evidence(PROJECT, "foundation").document_ids(),
        [report.document_id.as_str()]
    );
    assert_eq!(
        ledger
            .document(PROJECT, &report.document_id)
            .expect("report")
            .passing_milestone
            .as_deref(),
        Some("foundation")
    );
    let transfer = ledger.payment_body(PROJECT, "pay-001", "foundation", 150_000);
    let applied = ledger.accept(&ledger.anchor(&transfer));
    assert_eq!(applied.entries[0].anchor().expect("anchor").body, transfer);
    assert_eq!(ledger.paid(PROJECT, "foundation"), (150_000, 150_000));
    assert_eq!(ledger.paid(PROJECT, "structure"), (0, 150_000));
}

#[test]
fn cumulative_payments_may_not_exceed_the_milestone() {
    let (mut ledger, _) = inspected("foundation");
    ledger.accept(&ledger.pay(PROJECT, "pay-001", "foundation", 300_000));
    let error = ledger.reject(&ledger.pay(PROJECT, "pay-002", "foundation", 150_000));
    assert_eq!(
        error,
        TxError::MilestoneOverpayment {
            milestone: "foundation".to_owned(),
            paid: 300_000,
            amount: 150_000,
            limit: 400_000,
        }
    );
    assert_eq!(error.code(), "milestone-overpayment");
    assert_eq!(ledger.paid(PROJECT, "foundation"), (300_000, 300_000));

    // Exactly the rest is fine; one more unit is not.
    ledger.accept(&ledger.pay(PROJECT, "pay-002", "foundation", 100_000));
    assert_eq!(ledger.paid(PROJECT, "foundation"), (400_000, 400_000));
    assert_eq!(
        ledger.reject(&ledger.pay(PROJECT, "pay-003", "foundation", 1)),
        TxError::MilestoneOverpayment {
            milestone: "foundation".to_owned(),
            paid: 400_000,
            amount: 1,
            limit: 400_000,
        }
    );
    // An amount that would overflow is an overpayment, not a wrap-around.
    assert_eq!(
        ledger.reject(&ledger.pay(PROJECT, "pay-004", "foundation", u64::MAX)),
        TxError::MilestoneOverpayment {
            milestone: "foundation".to_owned(),
            paid: 400_000,
            amount: u64::MAX,
            limit: 400_000,
        }
    );
}

#[test]
fn payments_may_not_exceed_the_contract_when_milestones_add_up_to_more() {
    let mut ledger = registered();
    for milestone in ["foundation", "structure", "roof"] {
        ledger.file_inspection(PROJECT, &format!("rpt-{milestone}"), milestone, true);
    }
    ledger.accept(&ledger.pay(PROJECT, "pay-001", "foundation", 400_000));
    ledger.accept(&ledger.pay(PROJECT, "pay-002", "structure", 500_000));
    let error = ledger.reject(&ledger.pay(PROJECT, "pay-003", "roof", 200_000));
    assert_eq!(
        error,
        TxError::ContractOverpayment {
            project_id: PROJECT.to_owned(),
            paid: 900_000,
            amount: 200_000,
            limit: CONTRACT_TOTAL,
        }
    );
    assert_eq!(error.code(), "contract-overpayment");
    ledger.accept(&ledger.pay(PROJECT, "pay-003", "roof", 100_000));
    assert_eq!(ledger.paid(PROJECT, "roof"), (100_000, CONTRACT_TOTAL));
    assert_eq!(
        ledger.reject(&ledger.pay(PROJECT, "pay-004", "roof", 1)),
        TxError::ContractOverpayment {
            project_id: PROJECT.to_owned(),
            paid: CONTRACT_TOTAL,
            amount: 1,
            limit: CONTRACT_TOTAL,
        }
    );
}

#[test]
fn payments_earlier_in_a_batch_count_towards_the_limit() {
    let (mut ledger, _) = inspected("foundation");
    let first = ledger.payment_body(PROJECT, "pay-001", "foundation", 300_000);
    let second = ledger.payment_body(PROJECT, "pay-002", "foundation", 150_000);
    let error = ledger.reject(&ledger.signed(vec![first, second]));
    assert_eq!(
        in_batch(error, 1),
        TxError::MilestoneOverpayment {
            milestone: "foundation".to_owned(),
            paid: 300_000,
            amount: 150_000,
            limit: 400_000,
        }
    );
    // Nothing of the rejected batch was paid.
    assert_eq!(ledger.paid(PROJECT, "foundation"), (0, 0));
}

#[test]
fn payment_of_zero_is_refused() {
    let (mut ledger, _) = inspected("foundation");
    assert_eq!(
        ledger.reject(&ledger.pay(PROJECT, "pay-001", "foundation", 0)),
        TxError::ZeroAmount
    );
    // Zero is refused before anything is looked up.
    assert_eq!(
        ledger.reject(&ledger.pay("proj-none", "pay-001", "nowhere", 0)),
        TxError::ZeroAmount
    );
}

#[test]
fn fund_transfer_without_a_payment_claim_is_refused() {
    let (mut ledger, _) = inspected("foundation");
    let transfer = ledger.body(FINANCE, FUND_TRANSFER, PROJECT, "pay-001");
    assert_eq!(
        ledger.reject(&ledger.anchor(&transfer)),
        TxError::MissingPayment
    );
}

#[test]
fn claims_on_kinds_that_may_not_carry_them_are_refused() {
    let mut ledger = registered();
    let cases = [
        (
            BUREAU,
            COMPLETION_DRAWING,
            payment("foundation", 100),
            "a payment",
        ),
        (
            BUREAU,
            COMPLETION_DRAWING,
            inspection("foundation", true),
            "an inspection result",
        ),
        (
            BUREAU,
            INSPECTION_REPORT,
            payment("foundation", 100),
            "a payment",
        ),
        (
            FINANCE,
            FUND_TRANSFER,
            inspection("foundation", true),
            "an inspection result",
        ),
    ];
    for (member, kind, claim, what) in cases {
        let mut body = ledger.body(member, kind, PROJECT, "doc-001");
        body.claim = claim;
        assert_eq!(
            ledger.reject(&ledger.anchor(&body)),
            TxError::ClaimNotAllowed {
                kind: kind.to_owned(),
                claim: what,
            },
            "{kind} carrying {what}"
        );
    }
    assert!(
        ledger
            .evidence(PROJECT, "foundation")
            .passing_reports
            .is_empty()
    );
}

#[test]
fn inspection_report_without_a_claim_is_accepted_but_unlocks_nothing() {
    let mut ledger = registered();
    let report = ledger.body(BUREAU, INSPECTION_REPORT, PROJECT, "rpt-001");
    ledger.accept(&ledger.anchor(&report));
    assert_eq!(
        ledger.reject(&ledger.pay(PROJECT, "pay-001", "foundation", 100)),
        not_inspected("foundation")
    );
}

// The latest version of a report decides.

#[test]
fn failing_new_version_of_a_passing_report_withdraws_the_pass() {
    let (mut ledger, v1) = inspected("foundation");
    let mut v2 = next_version(&v1);
    v2.claim = inspection("foundation", false);
    ledger.accept(&ledger.anchor(&v2));
    assert!(
        ledger
            .evidence(PROJECT, "foundation")
            .passing_reports
            .is_empty()
    );
    assert_eq!(
        ledger.reject(&ledger.pay(PROJECT, "pay-001", "foundation", 100)),
        not_inspected("foundation")
    );

    // A passing third version restores it.
    let mut v3 = next_version(&v2);
    v3.claim = inspection("foundation", true);
    ledger.accept(&ledger.anchor(&v3));
    // The refused payment's id is consumed; the finance bureau files it again, signed anew.
    ledger.accept(&ledger.anchor(&signed_again(&ledger.payment_body(
        PROJECT,
        "pay-001",
        "foundation",
        100,
    ))));
}

#[test]
fn new_version_of_a_report_without_a_claim_withdraws_the_pass() {
    let (mut ledger, v1) = inspected("foundation");
    let mut v2 = next_version(&v1);
    v2.claim = None;
    ledger.accept(&ledger.anchor(&v2));
    assert_eq!(
        ledger.reject(&ledger.pay(PROJECT, "pay-001", "foundation", 100)),
        not_inspected("foundation")
    );
}

#[test]
fn new_version_naming_another_milestone_moves_the_pass() {
    let (mut ledger, v1) = inspected("foundation");
    let mut v2 = next_version(&v1);
    v2.claim = inspection("structure", true);
    ledger.accept(&ledger.anchor(&v2));
    assert_eq!(
        ledger.reject(&ledger.pay(PROJECT, "pay-001", "foundation", 100)),
        not_inspected("foundation")
    );
    ledger.accept(&ledger.pay(PROJECT, "pay-001", "structure", 100));
}

#[test]
fn revoking_the_passing_report_withdraws_the_pass() {
    let (mut ledger, report) = inspected("foundation");
    ledger.accept(&ledger.revoke(ledger.revocation(&report, "laboratory not accredited")));
    assert!(
        ledger
            .evidence(PROJECT, "foundation")
            .passing_reports
            .is_empty()
    );
    assert_eq!(
        ledger
            .document(PROJECT, &report.document_id)
            .expect("report")
            .passing_milestone,
        None
    );
    assert_eq!(
        ledger.reject(&ledger.pay(PROJECT, "pay-001", "foundation", 100)),
        not_inspected("foundation")
    );
}

#[test]
fn revoking_a_superseded_version_leaves_the_current_pass() {
    let (mut ledger, v1) = inspected("foundation");
    let v2 = next_version(&v1); // passes too
    ledger.accept(&ledger.anchor(&v2));
    ledger.accept(&ledger.revoke(ledger.revocation(&v1, "superseded and withdrawn")));
    assert!(matches!(
        ledger.version(PROJECT, &v1.document_id, 1).status(),
        VersionStatus::Revoked { .. }
    ));
    ledger.accept(&ledger.pay(PROJECT, "pay-001", "foundation", 100));
}

#[test]
fn revoking_one_of_two_passing_reports_leaves_the_other() {
    let (mut ledger, first) = inspected("foundation");
    let second = ledger.file_inspection(PROJECT, "rpt-second-lab", "foundation", true);
    assert_eq!(
        ledger.evidence(PROJECT, "foundation").document_ids(),
        [first.document_id.as_str(), second.document_id.as_str()]
    );
    ledger.accept(&ledger.revoke(ledger.revocation(&first, "withdrawn")));
    assert_eq!(
        ledger.evidence(PROJECT, "foundation").document_ids(),
        [second.document_id.as_str()]
    );
    ledger.accept(&ledger.pay(PROJECT, "pay-001", "foundation", 100));
    ledger.accept(&ledger.revoke(ledger.revocation(&second, "withdrawn")));
    assert_eq!(
        ledger.reject(&ledger.pay(PROJECT, "pay-002", "foundation", 100)),
        not_inspected("foundation")
    );
}

#[test]
fn inspection_naming_a_milestone_the_project_does_not_have_is_refused() {
    let mut ledger = registered();
    let mut report = ledger.body(BUREAU, INSPECTION_REPORT, PROJECT, "rpt-001");
    report.claim = inspection("landscaping", true);
    assert_eq!(
        ledger.reject(&ledger.anchor(&report)),
        TxError::UnknownMilestone {
            project_id: PROJECT.to_owned(),
            milestone: "landscaping".to_owned(),
        }
    );
    // Also as a new version of a passing report: the old pass stays.
    let v1 = ledger.file_inspection(PROJECT, "rpt-002", "foundation", true);
    let mut v2 = next_version(&v1);
    v2.claim = inspection("landscaping", true);
    assert!(matches!(
        ledger.reject(&ledger.anchor(&v2)),
        TxError::UnknownMilestone { .. }
    ));
    assert_eq!(
        ledger.evidence(PROJECT, "foundation").document_ids(),
        ["rpt-002"]
    );
}

#[test]
fn inspection_filed_before_registration_counts_once_the_project_is_registered() {
    let mut ledger = Ledger::new();
    ledger.file_inspection(PROJECT, "rpt-001", "foundation", true);
    assert_eq!(
        ledger.reject(&ledger.pay(PROJECT, "pay-001", "foundation", 100)),
        TxError::UnknownProject(PROJECT.to_owned())
    );
    ledger.register_standard_project(PROJECT);
    ledger.accept(&ledger.anchor(&signed_again(&ledger.payment_body(
        PROJECT,
        "pay-001",
        "foundation",
        100,
    ))));
}

#[test]
fn fund_transfer_records_cannot_be_superseded() {
    let (mut ledger, _) = inspected("foundation");
    let v1 = ledger.payment_body(PROJECT, "pay-001", "foundation", 100_000);
    ledger.accept(&ledger.anchor(&v1));
    let mut v2 = next_version(&v1);
    v2.claim = payment("foundation", 50_000);
    let error = ledger.reject(&ledger.anchor(&v2));
    assert_eq!(error, TxError::PaymentRecordImmutable);
    assert_eq!(error.code(), "payment-record-immutable");
    // Not even a repeat of version 1 under a new digest.
    let mut again = v1.clone();
    again.digest = digest_of("corrected transfer slip");
    assert_eq!(
        ledger.reject(&ledger.anchor(&again)),
        TxError::PaymentRecordImmutable
    );
    assert_eq!(ledger.paid(PROJECT, "foundation"), (100_000, 100_000));
    assert_eq!(
        ledger.version(PROJECT, "pay-001", 1).status(),
        VersionStatus::Current
    );
}

#[test]
fn refused_payment_is_consumed_and_must_be_signed_again() {
    // An authentic transaction that breaks a rule is consumed: the same signed bytes cannot be
    // applied later, when the milestone happens to be inspected. The filer signs it again,
    // knowingly, with a new capture time.
    let mut ledger = registered();
    let transfer = ledger.pay(PROJECT, "pay-001", "foundation", 100);
    assert_eq!(ledger.reject(&transfer), not_inspected("foundation"));
    ledger.file_inspection(PROJECT, "rpt-001", "foundation", true);
    assert!(matches!(ledger.reject(&transfer), TxError::Replayed { .. }));
    assert_eq!(ledger.paid(PROJECT, "foundation"), (0, 0));
    let again = signed_again(&ledger.payment_body(PROJECT, "pay-001", "foundation", 100));
    ledger.accept(&ledger.anchor(&again));
    assert_eq!(ledger.paid(PROJECT, "foundation"), (100, 100));
}

/// The same statement signed again later: a new capture time, so a new transaction id.
fn signed_again(body: &AnchorBody) -> AnchorBody {
    AnchorBody {
        captured_at_ms: body.captured_at_ms + 60_000,
        ..body.clone()
    }
}
