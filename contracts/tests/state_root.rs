//! Golden values for the state commitment (SPEC.md §11): a fixed chain of blocks, executed
//! from the seeded default consortium, must give exactly these transaction ids, write sets
//! and state roots. Any change to the state keys, records, rules or root is a format change
//! and fails here first.

mod common;

use common::*;

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

    let first = ledger.execute(&[registration.clone(), report.clone()]);
    let second = ledger.execute(&[payment.clone(), refused.clone()]);
    assert!(first.results.iter().all(Result::is_ok));
    assert!(second.results[0].is_ok());
    assert!(matches!(
        second.results[1],
        Err(evidence_contracts::TxError::MilestoneOverpayment { .. })
    ));

    let ids: Vec<String> = [&registration, &report, &payment, &refused]
        .iter()
        .map(|tx| tx.id(ALG).unwrap().to_string())
        .collect();
    let observed = format!(
        "genesis {genesis_hash}\nids {ids:?}\nwrites {} {}\nroots {} {}",
        first.writes.len(),
        second.writes.len(),
        first.state_root,
        second.state_root
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
