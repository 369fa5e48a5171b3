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
    for seed in range {
        let config = SimConfig::from_seed(seed);
        if single {
            println!("{config:?}");
        }
        let result = Simulation::new(config).and_then(Simulation::run);
        match result {
            Ok(report) => {
                if single {
                    println!("{report:?}");
                }
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
    ExitCode::SUCCESS
}
