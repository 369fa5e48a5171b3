//! The simulator's bounded sample, run by CI: `SIM_SEEDS` seeds (default 200) from
//! `SIM_SEED_START` (default 0), each with faults drawn from its seed. The long form is
//! `cargo run -p evidence-sim -- --seeds 0..100000` (see TESTING.md).

use evidence_sim::{SimConfig, Simulation, replay_command, run_seed};

fn env(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}")),
        Err(_) => default,
    }
}

#[test]
fn every_seed_of_the_sample_keeps_every_invariant() {
    let start = env("SIM_SEED_START", 0);
    let count = env("SIM_SEEDS", 200);
    let mut partitions = 0;
    let mut lost = 0;
    let mut committed = 0;
    for seed in start..start + count {
        let config = SimConfig::from_seed(seed);
        partitions += u64::from(config.partition.is_some());
        match Simulation::new(config).and_then(Simulation::run) {
            Ok(report) => {
                lost += report.messages_lost;
                committed += report.transactions_committed;
            }
            Err(violation) => panic!("seed {seed}: {violation}\nreplay: {}", replay_command(seed)),
        }
    }
    // The sample exercised what it claims to.
    if count >= 50 {
        assert!(partitions > 0, "some seeds partition the network");
        assert!(lost > 0, "some seeds lose messages");
        assert!(committed > 0, "transactions are committed");
    }
}

#[test]
fn the_same_seed_gives_the_same_ledger_digest() {
    for seed in [3, 17] {
        let first = run_seed(seed).unwrap();
        let second = run_seed(seed).unwrap();
        assert_eq!(first, second, "seed {seed}");
    }
    assert_ne!(
        run_seed(3).unwrap().ledger_digest,
        run_seed(17).unwrap().ledger_digest,
        "different seeds, different chains"
    );
}

#[test]
fn a_healthy_network_reaches_the_target_quickly() {
    let report = Simulation::new(SimConfig::healthy(5))
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(report.messages_lost, 0);
    // Heights of a healthy network take a few message delays and the idle block interval.
    assert!(report.finished_ms < report.heights * 1_000, "{report:?}");
}

/// A restarted node that forgot its write-ahead log votes again in a round it already voted
/// in, for something else: the double-signing invariant catches it at the first seed with a
/// crash in the middle of a height.
#[test]
fn a_node_that_forgets_its_write_ahead_log_is_caught_double_signing() {
    let mut config = SimConfig::from_seed(0);
    assert!(!config.crashes.is_empty(), "seed 0 crashes a node");
    assert!(
        Simulation::new(config.clone()).unwrap().run().is_ok(),
        "without the bug, seed 0 keeps every invariant"
    );
    config.bugs.forget_wal = true;
    let violation = Simulation::new(config).unwrap().run().unwrap_err();
    assert!(
        matches!(violation, evidence_sim::Violation::DoubleSign { .. }),
        "{violation}"
    );
}

/// Honest nodes that vote for proposals without executing them accept a Byzantine
/// proposer's block whose state root no execution produces: the quorum decides it, and no
/// honest node can commit it (its ledger re-executes and the roots differ).
#[test]
fn nodes_that_skip_validation_are_caught_by_a_wrong_state_root() {
    let mut config = SimConfig::from_seed(21);
    assert_eq!(
        config.byzantine.map(|b| b.kind),
        Some(evidence_sim::ByzantineKind::WrongStateRoot),
        "seed 21 has a proposer with wrong state roots"
    );
    assert!(
        Simulation::new(config.clone()).unwrap().run().is_ok(),
        "validating nodes refuse its blocks and keep every invariant"
    );
    config.bugs.skip_validation = true;
    let violation = Simulation::new(config).unwrap().run().unwrap_err();
    eprintln!("{violation}");
    assert!(
        matches!(violation, evidence_sim::Violation::Commit { .. }),
        "{violation}"
    );
}
