//! Runs simulated seeds: `evidence-sim --seed N` replays one seed exactly;
//! `evidence-sim --seeds A..B` runs a range and stops at the first violation.

use std::process::ExitCode;
use std::time::Instant;

use evidence_sim::{SimConfig, Simulation, replay_command};

fn usage() -> ExitCode {
    eprintln!("usage: evidence-sim --seed N | --seeds FIRST..END");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let range = match args.as_slice() {
        [flag, seed] if flag == "--seed" => match seed.parse::<u64>() {
            Ok(seed) => seed..seed + 1,
            Err(_) => return usage(),
        },
        [flag, range] if flag == "--seeds" => {
            let Some((first, end)) = range.split_once("..") else {
                return usage();
            };
            match (first.parse::<u64>(), end.parse::<u64>()) {
                (Ok(first), Ok(end)) if first < end => first..end,
                _ => return usage(),
            }
        }
        _ => return usage(),
    };
    let single = range.end - range.start == 1;
    let started = Instant::now();
    let count = range.end - range.start;
    let mut totals = Totals::default();
    for seed in range {
        let config = SimConfig::from_seed(seed);
        if !config.clock_skew_ms.is_empty() {
            totals.skewed += 1;
            totals.beyond += u64::from(config.clock_skew_ms.iter().any(|s| s.abs() > 500));
        }
        totals.weighted += u64::from(!config.voting_powers.is_empty());
        totals.set_seeds += u64::from(config.validator_changes);
        totals.national += u64::from(config.national_suite);
        if single {
            println!("{config:?}");
        }
        let result = Simulation::new(config).and_then(Simulation::run);
        match result {
            Ok(report) => {
                if single {
                    println!("{report:?}");
                }
                totals.add(&report);
            }
            Err(violation) => {
                eprintln!("seed {seed}: {violation}");
                eprintln!("replay: {}", replay_command(seed));
                return ExitCode::FAILURE;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{count} seeds passed in {seconds:.1} s ({:.1} seeds/s)",
        count as f64 / seconds
    );
    println!(
        "covered: {} heights, {} transactions committed ({} payments, {} filings by registered \
         filer keys, {} proposals of the members accepted), {} messages sent ({} lost), \
         {} crashes ({} restarts replayed a write-ahead log), {} heights synced, \
         {} heights entered with a validator taken for absent ({} probing it), \
         {} heights begun with round 0 shortened to the network's pace, decisions in rounds up to {}; Byzantine: {} seeds with a wrong state root, \
         {} equivocating, {} double-voting, {} with twins; {} conflicting messages sent, \
         {} invalid proposals refused; clocks skewed in {} seeds, one beyond the bound in {}; \
         unequal voting powers in {} seeds; validator-set changes drawn in {} seeds, {} changes \
         in force; the national suite (SM3, SM2) in {} seeds",
        totals.heights,
        totals.transactions,
        totals.payments,
        totals.registered_filings,
        totals.accepted_proposals,
        totals.messages,
        totals.lost,
        totals.crashes,
        totals.replays,
        totals.synced,
        totals.absent_heights,
        totals.probes,
        totals.adapted,
        totals.round_max,
        totals.kinds[0],
        totals.kinds[1],
        totals.kinds[2],
        totals.kinds[3],
        totals.conflicting,
        totals.refused,
        totals.skewed,
        totals.beyond,
        totals.weighted,
        totals.set_seeds,
        totals.set_changes,
        totals.national
    );
    ExitCode::SUCCESS
}

#[derive(Default)]
struct Totals {
    heights: u64,
    transactions: u64,
    messages: u64,
    lost: u64,
    crashes: u64,
    replays: u64,
    synced: u64,
    absent_heights: u64,
    probes: u64,
    adapted: u64,
    round_max: i64,
    kinds: [u64; 4],
    conflicting: u64,
    refused: u64,
    skewed: u64,
    beyond: u64,
    weighted: u64,
    payments: u64,
    registered_filings: u64,
    accepted_proposals: u64,
    set_seeds: u64,
    national: u64,
    set_changes: u64,
}

impl Totals {
    fn add(&mut self, report: &evidence_sim::Report) {
        self.heights += report.heights;
        self.transactions += report.transactions_committed;
        self.messages += report.messages_sent;
        self.lost += report.messages_lost;
        self.crashes += report.crashes;
        self.replays += report.replays;
        self.synced += report.synced;
        self.absent_heights += report.absent_heights;
        self.probes += report.probes;
        self.adapted += report.adapted_heights;
        self.round_max = self.round_max.max(report.round_max);
        self.conflicting += report.conflicting;
        self.payments += report.payments;
        self.registered_filings += report.registered_filings;
        self.accepted_proposals += report.accepted_proposals;
        self.set_changes += report.validator_set_changes;
        self.refused += report.refused;
        if let Some(kind) = report.byzantine {
            use evidence_sim::ByzantineKind::*;
            let index = match kind {
                WrongStateRoot => 0,
                Equivocate => 1,
                DoubleVote => 2,
                Twins => 3,
            };
            self.kinds[index] += 1;
        }
    }
}
