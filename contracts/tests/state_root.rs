//! Golden values for the state commitment (SPEC.md §11): a fixed chain of blocks, executed
//! from the seeded default consortium, must give exactly these transaction ids, write sets
//! and state roots. Any change to the state keys, records, rules or root is a format change
//! and fails here first.

mod common;

use common::*;
use evidence_core::governance::{FilerRegistration, FilerRevocation, GovernanceAction};

#[test]
fn a_fixed_chain_gives_the_pinned_ids_writes_and_roots() {
    let mut ledger = Ledger::new();
    let genesis_hash = ledger.genesis.hash().to_string();

    let registration = ledger.register(ledger.registration(
        BUREAU,
        PROJECT,
        1_000_000,
        &[("foundation", 400_000), ("structure", 600_000)],
    ));
    let mut report = ledger.body(BUREAU, INSPECTION_REPORT, PROJECT, "rpt-001");
    report.claim = inspection("foundation", true);
    let report = ledger.anchor(&report);
    let payment = ledger.pay(PROJECT, "pay-001", "foundation", 250_000);
    let refused = ledger.pay(PROJECT, "pay-002", "foundation", 200_000);

    // Governance: the bureau registers a scanner's key, and the court revokes its genesis
    // filer from height 5 (a genesis filer's record is created by its revocation).
    let scanner = evidence_core::keys::SigningKey::from_seed(&[0x5c; 32]);
    let register_scanner = ledger.governance(
        BUREAU,
        GovernanceAction::RegisterFiler(FilerRegistration {
            name: "bureau-site-scanner".to_owned(),
            public_key: scanner.public_key(),
            kinds: vec![COMPLETION_DRAWING.to_owned()],
            source_system: "site-scanner".to_owned(),
        }),
    );
    let revoke_court = ledger.governance(
        COURT,
        GovernanceAction::RevokeFiler(FilerRevocation {
            public_key: ledger.filer(COURT),
            reason: "the court's filing system was replaced".to_owned(),
            effective_height: 5,
        }),
    );

    let first = ledger.execute(&[registration.clone(), report.clone()]);
    let second = ledger.execute(&[payment.clone(), refused.clone()]);
    let third = ledger.execute(&[register_scanner.clone(), revoke_court.clone()]);
    assert!(third.results.iter().all(Result::is_ok));
    assert!(first.results.iter().all(Result::is_ok));
    assert!(second.results[0].is_ok());
    assert!(matches!(
        second.results[1],
        Err(evidence_contracts::TxError::MilestoneOverpayment { .. })
    ));

    let ids: Vec<String> = [
        &registration,
        &report,
        &payment,
        &refused,
        &register_scanner,
        &revoke_court,
    ]
    .iter()
    .map(|tx| tx.id(ALG).unwrap().to_string())
    .collect();
    let observed = format!(
        "genesis {genesis_hash}\nids {ids:?}\nwrites {} {} {}\nroots {} {} {}",
        first.writes.len(),
        second.writes.len(),
        third.writes.len(),
        first.state_root,
        second.state_root,
        third.state_root
    );
    let expected = include_str!("state_root.golden").trim_end();
    if std::env::var_os("EVIDENCE_UPDATE_VECTORS").is_some() {
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/state_root.golden"),
            format!("{observed}\n"),
        )
        .unwrap();
        return;
    }
    assert_eq!(observed, expected);
}
