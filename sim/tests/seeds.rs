//! The simulator's bounded sample, run by CI: `SIM_SEEDS` seeds (default 200) from
//! `SIM_SEED_START` (default 0), each with faults drawn from its seed. The long form is
//! `cargo run -p evidence-sim -- --seeds 0..100000` (see TESTING.md).

use evidence_sim::{Crash, SimConfig, Simulation, replay_command, run_seed};

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
    let mut payments = 0;
    let mut set_changes = 0;
    let mut national = 0;
    for seed in start..start + count {
        let config = SimConfig::from_seed(seed);
        partitions += u64::from(config.partition.is_some());
        national += u64::from(config.national_suite);
        match Simulation::new(config).and_then(Simulation::run) {
            Ok(report) => {
                lost += report.messages_lost;
                committed += report.transactions_committed;
                payments += report.payments;
                set_changes += report.validator_set_changes;
            }
            Err(violation) => panic!("seed {seed}: {violation}\nreplay: {}", replay_command(seed)),
        }
    }
    // The sample exercised what it claims to.
    if count >= 50 {
        assert!(partitions > 0, "some seeds partition the network");
        assert!(lost > 0, "some seeds lose messages");
        assert!(committed > 0, "transactions are committed");
        assert!(
            payments > 0,
            "payments are committed, and checked against the rules"
        );
        assert!(
            set_changes > 0,
            "validator sets change on the ledger, and the hand-off walk checks every height"
        );
        assert!(
            national > 0,
            "some chains run on the national suite: every signature SM2, every hash SM3"
        );
    }
}

#[test]
fn on_the_national_suite_validators_join_leave_and_are_replaced_at_the_peer_ids_they_pin() {
    let seed = (0..)
        .find(|seed| {
            let config = SimConfig::from_seed(*seed);
            config.national_suite && config.validator_changes
        })
        .unwrap();
    let report = Simulation::new(SimConfig::healthy(seed))
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(report.validator_set_changes, 3, "seed {seed}: {report:?}");
}

#[test]
fn a_validator_joins_one_leaves_a_key_is_replaced_and_a_power_raised_on_a_healthy_network() {
    let seed = (0..)
        .find(|seed| SimConfig::from_seed(*seed).validator_changes)
        .unwrap();
    let report = Simulation::new(SimConfig::healthy(seed))
        .unwrap()
        .run()
        .unwrap();
    // All three proposals are accepted: the set goes from four to five, back to four, and to a
    // new key and a new power; every header, certificate and receipt is checked against the
    // set of its own height.
    assert_eq!(report.validator_set_changes, 3, "{report:?}");
}

#[test]
fn a_member_down_stops_being_asked_to_propose_and_is_asked_again_once_back() {
    let mut config = SimConfig::healthy(11);
    config.validators = 4;
    config.voting_powers = Vec::new();
    config.validator_changes = false;
    config.tx_per_second = 0;
    let (down_at, down_for) = (3_000, 50_000);
    config.crashes = vec![Crash {
        node: 3,
        at_ms: down_at,
        down_ms: down_for,
    }];
    config.heights = 700;
    config.deadline_ms = 400_000;
    let report = Simulation::new(config).unwrap().run().unwrap();
    let back = down_at + down_for;
    let down: Vec<_> = report
        .chain
        .iter()
        .filter(|h| h.time_ms > down_at && h.time_ms < back)
        .collect();
    let late =
        |heights: &[&evidence_sim::ChainHeight]| heights.iter().filter(|h| h.round > 0).count();
    // Node 3's turns fail until it has missed two (its window), then it is skipped: besides
    // those, only the probes fail, one each time block time crosses a multiple of 10 s.
    let probes = (back / 10_000 - down_at / 10_000) as usize;
    assert!(
        down.len() > 100,
        "{} heights while node 3 was down",
        down.len()
    );
    assert!(
        late(&down) <= 2 + probes,
        "{} of {} heights decided after round 0 while node 3 was down",
        late(&down),
        down.len()
    );
    assert!(down.iter().all(|h| h.proposer != Some(3)));
    // Each probe of the absent node waits the probe timeout (250 ms) for its proposal and
    // again for its nil precommits, then round 1 runs: about 770 ms of block time here. When
    // the engine waited the precommit timeout (500 ms) after the probe's nil precommits, each
    // took 990-1,030 ms. The first two late heights are node 3's own turns, at full timeouts.
    let gaps = late_gaps(&report, |h| h.time_ms > down_at && h.time_ms < back);
    assert!(gaps.len() > 2, "no probe while node 3 was down: {gaps:?}");
    for (height, gap) in &gaps[2..] {
        assert!(
            *gap < 900,
            "the probe at height {height} took {gap} ms of block time; late heights: {gaps:?}"
        );
    }
    eprintln!("late heights while node 3 was down (height, ms): {gaps:?}");
    // Back, it proposes again at the next probe (within 10 s of block time), and from then
    // on in turn.
    let after: Vec<_> = report.chain.iter().filter(|h| h.time_ms >= back).collect();
    let first = after
        .iter()
        .find(|h| h.proposer == Some(3))
        .unwrap_or_else(|| panic!("node 3 never proposed again: {after:?}"));
    assert!(first.time_ms < back + 11_000, "{first:?}");
    eprintln!(
        "down: {} heights, {} late; back at {back} ms, proposing from {} ms",
        down.len(),
        late(&down),
        first.time_ms
    );
    let last: Vec<_> = report.chain.iter().rev().take(40).collect();
    for node in 0..4 {
        let turns = last.iter().filter(|h| h.proposer == Some(node)).count();
        assert!(
            turns >= 8,
            "node {node} proposed {turns} of the last 40 heights"
        );
    }
}

/// The virtual milliseconds of block time each height of `report`'s chain took after the one
/// before, with the height, for the heights decided after round 0 among those for which `keep`
/// holds.
fn late_gaps(
    report: &evidence_sim::Report,
    keep: impl Fn(&evidence_sim::ChainHeight) -> bool,
) -> Vec<(u64, u64)> {
    report
        .chain
        .windows(2)
        .filter(|pair| pair[1].round > 0 && keep(&pair[1]))
        .map(|pair| (pair[1].height, pair[1].time_ms - pair[0].time_ms))
        .collect()
}

#[test]
fn a_member_down_under_load_costs_a_short_round_not_the_propose_timeout() {
    // A LAN (messages take 1-20 ms) where transactions keep arriving, so every node begins
    // most heights with some waiting and adapts its round 0 to the network's pace (the 200 ms
    // floor here, instead of the configured 1 s propose timeout). Node 3 crashes: the turns it
    // misses before it is taken for absent, and the probes, each cost a short round 0.
    let mut config = SimConfig::healthy(12);
    config.delay_min_ms = 1;
    config.delay_max_ms = 20;
    config.validators = 4;
    config.voting_powers = Vec::new();
    config.validator_changes = false;
    config.tx_per_second = 300;
    let (down_at, down_for) = (6_000, 30_000);
    config.crashes = vec![Crash {
        node: 3,
        at_ms: down_at,
        down_ms: down_for,
    }];
    config.heights = 300;
    config.deadline_ms = 300_000;
    let report = Simulation::new(config).unwrap().run().unwrap();
    let back = down_at + down_for;
    let late = late_gaps(&report, |h| h.time_ms > down_at && h.time_ms < back);
    assert!(report.adapted_heights > 0, "no height was adapted");
    // Node 3's first two turns fail: heights that are not probes (a probe's round 0 is short
    // whatever the pace), each short because of the pace.
    assert!(late.len() >= 2, "node 3's first turns failed: {late:?}");
    for (height, gap) in &late {
        assert!(
            *gap < 800,
            "height {height} took {gap} ms of block time; late heights: {late:?}"
        );
    }
    eprintln!(
        "late heights while node 3 was down (height, ms): {late:?}; {} node-heights adapted",
        report.adapted_heights
    );
}

#[test]
fn a_flapping_member_costs_a_few_turns_each_time_and_rotation_returns_once_it_stays_up() {
    // Node 3 goes down for 8 s and comes back for 8 s, five times, then stays up. Safety and
    // every other invariant hold throughout (the run checks them); each time it is down, only
    // the turns it misses before it is taken for absent and the probes fail; once it stays
    // up, every member proposes its share again.
    let mut config = SimConfig::healthy(13);
    config.validators = 4;
    config.voting_powers = Vec::new();
    config.validator_changes = false;
    config.tx_per_second = 20;
    let (down_for, up_for) = (8_000, 8_000);
    config.crashes = (0..5)
        .map(|k| Crash {
            node: 3,
            at_ms: 3_000 + k * (down_for + up_for),
            down_ms: down_for,
        })
        .collect();
    let last_back = 3_000 + 4 * (down_for + up_for) + down_for;
    config.heights = 900;
    config.deadline_ms = 600_000;
    let report = Simulation::new(config.clone()).unwrap().run().unwrap();
    assert_eq!(report.crashes, 5, "{report:?}");
    for crash in &config.crashes {
        let (from, to) = (crash.at_ms, crash.at_ms + crash.down_ms);
        let down: Vec<_> = report
            .chain
            .iter()
            .filter(|h| h.time_ms > from && h.time_ms < to)
            .collect();
        let late = down.iter().filter(|h| h.round > 0).count();
        // Its two turns before it is skipped, and a probe each time block time crosses a
        // multiple of 10 s (at most one in 8 s), and one spare for a turn it had just begun.
        assert!(
            late <= 4,
            "{late} of {} heights late while node 3 was down from {from} ms",
            down.len()
        );
    }
    let settled: Vec<_> = report
        .chain
        .iter()
        .filter(|h| h.time_ms > last_back + 11_000)
        .collect();
    assert!(
        settled.len() >= 40,
        "{} heights after it settled",
        settled.len()
    );
    let last: Vec<_> = settled.iter().rev().take(40).collect();
    for node in 0..4 {
        let turns = last.iter().filter(|h| h.proposer == Some(node)).count();
        assert!(
            turns >= 8,
            "node {node} proposed {turns} of the last 40 heights"
        );
    }
    assert!(
        last.iter().all(|h| h.round == 0),
        "heights late after every member is back: {last:?}"
    );
}

#[test]
fn a_healthy_network_of_unequal_powers_takes_nobody_for_absent() {
    // A first version of attendance counted each validator's window in its own share of the
    // power; with consecutive slots, healthy validators of unequal power went longer than that
    // between their runs and were skipped from about the 16th height on.
    let seed = (0..)
        .find(|seed| {
            let config = SimConfig::from_seed(*seed);
            !config.validator_changes
                && config
                    .voting_powers
                    .iter()
                    .any(|p| *p != config.voting_powers[0])
        })
        .unwrap();
    let mut config = SimConfig::healthy(seed);
    config.heights = 120;
    config.tx_per_second = 0;
    let powers = config.voting_powers.clone();
    let report = Simulation::new(config).unwrap().run().unwrap();
    assert_eq!(
        (report.absent_heights, report.probes),
        (0, 0),
        "seed {seed}, powers {powers:?}"
    );
    for node in 0..powers.len() {
        assert!(
            report.chain.iter().any(|h| h.proposer == Some(node)),
            "seed {seed}: node {node} never proposed"
        );
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

/// The first seed in `seeds` whose configuration passes `select`, keeps every invariant as
/// it is, and breaks one with `bug` switched on; with the violation.
fn first_seed_catching(
    seeds: std::ops::Range<u64>,
    select: impl Fn(&SimConfig) -> bool,
    bug: impl Fn(&mut SimConfig),
) -> Option<(u64, evidence_sim::Violation)> {
    for seed in seeds {
        let mut config = SimConfig::from_seed(seed);
        if !select(&config) {
            continue;
        }
        assert!(
            Simulation::new(config.clone()).unwrap().run().is_ok(),
            "seed {seed} keeps every invariant without the bug"
        );
        bug(&mut config);
        if let Err(violation) = Simulation::new(config).unwrap().run() {
            return Some((seed, violation));
        }
    }
    None
}

/// A restarted node that forgot its write-ahead log votes again in a round it already voted
/// in, for something else: the double-signing invariant catches it within the first seeds
/// that crash a node in the middle of a height.
#[test]
fn a_node_that_forgets_its_write_ahead_log_is_caught_double_signing() {
    let (seed, violation) = first_seed_catching(
        0..40,
        |config| !config.crashes.is_empty(),
        |config| config.bugs.forget_wal = true,
    )
    .expect("a seed among the first 40 catches the bug");
    eprintln!("seed {seed}: {violation}");
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
    let (seed, violation) = first_seed_catching(
        0..100,
        |config| {
            config.byzantine.map(|b| b.kind) == Some(evidence_sim::ByzantineKind::WrongStateRoot)
        },
        |config| config.bugs.skip_validation = true,
    )
    .expect("a seed among the first 100 catches the bug");
    eprintln!("seed {seed}: {violation}");
    assert!(
        matches!(violation, evidence_sim::Violation::Commit { .. }),
        "{violation}"
    );
}

/// A node that voted for a block and lost it in a crash (had the block been kept without a
/// sync) cannot commit it when the quorum decides it: the commit invariant catches it.
#[test]
fn a_node_that_loses_the_blocks_it_voted_for_is_caught() {
    let (seed, violation) = first_seed_catching(
        0..100,
        |config| !config.crashes.is_empty(),
        |config| config.bugs.unsynced_pending = true,
    )
    .expect("a seed among the first 100 catches the bug");
    eprintln!("seed {seed}: {violation}");
    assert!(
        matches!(violation, evidence_sim::Violation::Commit { .. }),
        "{violation}"
    );
}

/// A node that forgets, when it restarts, the configuration an accepted proposal left in its
/// state (and goes back to genesis's) is caught: by the governance oracle, which replays the
/// proposals and votes of the node's own log; by its commits; or by its votes, when under the
/// forgotten configuration it signs a vote other than the one it signed in the same round
/// before the crash.
#[test]
fn a_node_that_forgets_the_configuration_in_force_at_restart_is_caught() {
    let (seed, violation) = first_seed_catching(
        0..300,
        |config| !config.crashes.is_empty(),
        |config| config.bugs.forget_configuration = true,
    )
    .expect("a seed among the first 300 catches the bug");
    eprintln!("seed {seed}: {violation}");
    if let evidence_sim::Violation::DoubleSign { node, .. } = violation {
        assert!(
            SimConfig::from_seed(seed)
                .crashes
                .iter()
                .any(|crash| crash.node == node),
            "the double vote is by a node that restarted: {violation}"
        );
        return;
    }
    assert!(
        matches!(
            violation,
            evidence_sim::Violation::GovernanceRule { .. } | evidence_sim::Violation::Commit { .. }
        ),
        "{violation}"
    );
}

/// Nodes that count 2f of 3f + 1 signatures (two of four) as a quorum, in their vote
/// counting and in their certificate checks, commit blocks on two votes: checked offline as a
/// verifier checks them — each certificate against the set of its height on the walk from
/// genesis, and each receipt — the first seed's certificates carry too little voting power.
#[test]
fn nodes_that_take_2f_signatures_for_a_quorum_are_caught() {
    let (seed, violation) = first_seed_catching(
        0..100,
        // "2f of 3f + 1" is a count: the seeds whose validators hold equal power.
        |config| config.voting_powers.is_empty(),
        |config| config.bugs.two_f_quorum = true,
    )
    .expect("a seed among the first 100 catches the bug");
    eprintln!("seed {seed}: {violation}");
    assert!(
        matches!(
            violation,
            evidence_sim::Violation::ValidatorSet { .. } | evidence_sim::Violation::Receipt { .. }
        ),
        "{violation}"
    );
}

/// With the same bug, a network split in halves before it heals lets each half decide a
/// block of its own at one height: in some such seeds the fork comes before any receipt is
/// checked, and the agreement invariant catches it.
#[test]
fn nodes_that_take_2f_signatures_for_a_quorum_fork_a_split_network() {
    let split = |config: &SimConfig| {
        config
            .partition
            .as_ref()
            .is_some_and(|side| side.len() == 2)
            && config.byzantine.is_none()
            && config.voting_powers.is_empty()
    };
    let (seed, violation) = (0..1000)
        .filter(|seed| split(&SimConfig::from_seed(*seed)))
        .find_map(|seed| {
            let mut config = SimConfig::from_seed(seed);
            config.bugs.two_f_quorum = true;
            match Simulation::new(config).unwrap().run() {
                Err(violation @ evidence_sim::Violation::Agreement { .. }) => {
                    Some((seed, violation))
                }
                _ => None,
            }
        })
        .expect("a split seed among the first 1000 forks");
    assert!(
        Simulation::new(SimConfig::from_seed(seed))
            .unwrap()
            .run()
            .is_ok(),
        "seed {seed} keeps every invariant without the bug"
    );
    eprintln!("seed {seed}: {violation}");
}

/// Seeds that once found a bug, kept so that it stays fixed. 10400: a node that crashed
/// before the first write of the state tree's pages reopened as if they had all been written,
/// so it did not rebuild them from the journal and stopped at its next block. It was found
/// when every node wrote its pages every 8 blocks; seeds now also draw when they write them,
/// so it runs with its drawn setting and with the node's own (32 blocks, later than any of its
/// crashes), which keeps a crash before the first write.
const SEEDS_THAT_FOUND_BUGS: &[u64] = &[10_400];

#[test]
fn seeds_that_found_bugs_keep_every_invariant() {
    for &seed in SEEDS_THAT_FOUND_BUGS {
        let drawn = SimConfig::from_seed(seed);
        assert!(drawn.state_tree_keep < 64 && !drawn.crashes.is_empty());
        let node = SimConfig {
            tree_flush: (
                evidence_node::storage::TREE_FLUSH_INTERVAL,
                evidence_node::storage::TREE_CACHE_PAGES_MAX,
            ),
            ..drawn.clone()
        };
        for config in [drawn, node] {
            let tree_flush = config.tree_flush;
            if let Err(violation) = Simulation::new(config).and_then(Simulation::run) {
                panic!(
                    "seed {seed} (pages written {tree_flush:?}): {violation}\nreplay: {}",
                    replay_command(seed)
                );
            }
        }
    }
}
