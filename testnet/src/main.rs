//! `evidence-testnet`: a four-member consortium on this machine.
//!
//! - `evidence-testnet up [--dir DIR] [--nodes N]` creates the consortium under DIR (default
//!   `./testnet-data`) or reuses the one there, starts each member's node as a process on
//!   loopback, writes `DIR/testnet.json`, and stops them all on Ctrl-C (or SIGTERM).
//! - `evidence-testnet demo [--dir DIR]` runs a fresh network through the filing flow and its
//!   rejections, then stops it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use evidence_genesis::Suite;
use evidence_testnet::{Network, create_or_reuse_with_suite, demo, leftover_nodes, node_binary};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// A local consortium of evidence-ledger nodes.
#[derive(Debug, Parser)]
#[command(name = "evidence-testnet", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create (or reuse) a consortium under DIR and run its nodes until Ctrl-C.
    Up {
        /// The testnet directory.
        #[arg(long, value_name = "DIR", default_value = "testnet-data")]
        dir: PathBuf,
        /// Validators (one per member); 4 survives one faulty member.
        #[arg(long, value_name = "N", default_value_t = 4)]
        nodes: usize,
        /// The evidence-node binary (default: beside this program).
        #[arg(long, value_name = "FILE", env = "EVIDENCE_NODE_BINARY")]
        node_binary: Option<PathBuf>,
        /// The algorithm suite of a new consortium: ed25519-blake3 (the default),
        /// ed25519-sha256, ed25519-sm3, or sm (the national suite: SM2 signatures, SM3
        /// hashing). An existing consortium keeps its own (and refuses another).
        #[arg(long, value_name = "SUITE", value_parser = Suite::from_name)]
        suite: Option<Suite>,
    },
    /// Run the four nodes under a notarize load with faults on every consensus link (delay,
    /// a member cut off) and nodes killed and restarted, then heal and check that nothing
    /// acknowledged was lost and every node agrees.
    Chaos {
        /// A new directory for the soak's network (default: a temporary one, removed after).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// How long to inject faults, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 120)]
        seconds: u64,
        /// Where the faults come from (the same seed gives the same fault schedule).
        #[arg(long, value_name = "N", default_value_t = 1)]
        seed: u64,
        /// The evidence-node binary (default: beside this program).
        #[arg(long, value_name = "FILE", env = "EVIDENCE_NODE_BINARY")]
        node_binary: Option<PathBuf>,
    },
    /// Run a fresh network through notarize, verify, tamper, policy and payment rules.
    Demo {
        /// A new directory for the demo's network (default: a temporary one, removed after).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The evidence-node binary (default: beside this program).
        #[arg(long, value_name = "FILE", env = "EVIDENCE_NODE_BINARY")]
        node_binary: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Up {
                dir,
                nodes,
                node_binary: binary,
                suite,
            } => up(&dir, nodes, binary.as_deref(), suite).await,
            Command::Demo {
                dir,
                node_binary: binary,
            } => run_demo(dir, binary.as_deref()).await,
            Command::Chaos {
                dir,
                seconds,
                seed,
                node_binary: binary,
            } => run_chaos(dir, seconds, seed, binary.as_deref()).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn up(
    dir: &Path,
    nodes: usize,
    binary: Option<&Path>,
    suite: Option<Suite>,
) -> Result<(), String> {
    let binary = node_binary(binary).map_err(|e| e.to_string())?;
    let leftovers = leftover_nodes(dir);
    if !leftovers.is_empty() {
        let list: Vec<String> = leftovers
            .iter()
            .map(|(member, pid)| format!("{member} (pid {pid})"))
            .collect();
        return Err(format!(
            "nodes of an earlier run under {} still run: {}; stop them (kill PID) first",
            dir.display(),
            list.join(", ")
        ));
    }
    let (layout, created) =
        create_or_reuse_with_suite(dir, nodes, suite).map_err(|e| e.to_string())?;
    println!(
        "{} the consortium in {}",
        if created { "Created" } else { "Reusing" },
        layout.dir.display()
    );
    // Watched from before the first node starts: a signal during start-up stops the nodes
    // started so far (dropping the unfinished start stops them) instead of orphaning them.
    let mut stop = StopSignals::watch()?;
    let mut network = tokio::select! {
        network = Network::start(layout, &binary) => network.map_err(|e| e.to_string())?,
        how = stop.received() => return Err(format!("{how} while starting; the nodes were stopped")),
    };
    let info_path = network.write_info().map_err(|e| e.to_string())?;
    let info = network.info();
    println!(
        "\n{} nodes of chain {} are running:",
        info.nodes.len(),
        info.chain_id
    );
    for node in &info.nodes {
        println!(
            "  {:<8} gRPC {}   metrics {}   log {}",
            node.member,
            node.api,
            node.metrics,
            node.log.display()
        );
    }
    println!("\nGenesis:      {}", info.genesis.display());
    for (member, key) in &info.filers {
        println!("Filer key:    {:<8} {}", member, key.display());
    }
    for (member, key) in &info.governance {
        println!("Governance:   {:<8} {}", member, key.display());
    }
    println!("Description:  {}", info_path.display());
    println!("\nTo use it from another terminal:");
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_owned))
    {
        println!("  export PATH=\"{}:$PATH\"", dir.display());
    }
    println!("  export EVIDENCE_GENESIS={}", info.genesis.display());
    println!("  export EVIDENCE_NODE={}", info.nodes[0].api);
    if let Some(caller) = info
        .callers
        .get(&info.nodes[0].member)
        .and_then(|roles| roles.get(evidence_genesis::pki::ROLE_FILER_SYSTEM))
    {
        println!(
            "  export EVIDENCE_TLS_CERT={}",
            caller.certificate.display()
        );
        println!("  export EVIDENCE_TLS_KEY={}", caller.private_key.display());
    }
    if let Some(dir) = info.filers.values().next().and_then(|key| key.parent()) {
        println!("  KEYS={}", dir.display());
    }
    if let Some(dir) = info.governance.values().next().and_then(|key| key.parent()) {
        println!("  GOVERNANCE={}", dir.display());
    }
    if let Some(bureau) = info.filers.get("bureau") {
        println!(
            "  evidence notarize FILE --key {} --kind completion-drawing --project SZ-2026-0001",
            bureau.display()
        );
    }
    println!("  evidence verify FILE --receipt FILE.receipt.json");
    println!("\nPress Ctrl-C to stop the network.");

    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = stop.received() => break,
            _ = tick.tick() => {
                for (member, status) in network.reap_exited() {
                    eprintln!(
                        "warning: the {member} node exited ({status}); {} of {} still run",
                        network.running(),
                        info.nodes.len()
                    );
                    let _ = network.write_info();
                }
                for (member, pid) in network.adopt_restarted() {
                    eprintln!(
                        "the {member} node runs again (pid {pid}, started by hand); {} of {} run",
                        network.running(),
                        info.nodes.len()
                    );
                    let _ = network.write_info();
                }
                if network.running() == 0 {
                    return Err("every node has exited; see the node logs".into());
                }
            }
        }
    }
    println!("\nStopping the nodes...");
    network.stop();
    let _ = network.write_info();
    println!(
        "Stopped. The data stays in {}; `up` again resumes it.",
        dir.display()
    );
    Ok(())
}

async fn run_chaos(
    dir: Option<PathBuf>,
    seconds: u64,
    seed: u64,
    binary: Option<&Path>,
) -> Result<(), String> {
    let binary = node_binary(binary).map_err(|e| e.to_string())?;
    let (dir, _temporary) = match dir {
        Some(dir) => (dir, None),
        None => {
            let temporary = tempfile::tempdir().map_err(|e| e.to_string())?;
            (temporary.path().join("net"), Some(temporary))
        }
    };
    println!(
        "Chaos soak: seed {seed}, {seconds} s of faults, network in {}",
        dir.display()
    );
    let options = evidence_testnet::chaos::ChaosOptions {
        duration: Duration::from_secs(seconds),
        seed,
    };
    match evidence_testnet::chaos::run(&dir, &binary, &options).await {
        Ok(report) => {
            println!(
                "Passed: {} filings acknowledged ({} calls failed while faults were on), {} kills, \
                 {} partitions, {} delay changes; after healing all four nodes are at height {}, \
                 every acknowledged receipt verifies offline and every node serves it with \
                 identical bytes.",
                report.acknowledged,
                report.refused_or_failed,
                report.kills,
                report.partitions,
                report.delay_changes,
                report.final_height
            );
            Ok(())
        }
        Err(error) => Err(format!(
            "chaos soak (seed {seed}) failed: {error}; replay with \
             evidence-testnet chaos --seed {seed} --seconds {seconds}"
        )),
    }
}

async fn run_demo(dir: Option<PathBuf>, binary: Option<&Path>) -> Result<(), String> {
    let binary = node_binary(binary).map_err(|e| e.to_string())?;
    let (dir, _temporary) = match dir {
        Some(dir) => {
            if dir.join(evidence_testnet::GENESIS_FILE).exists() {
                return Err(format!(
                    "{} already holds a testnet; the demo needs a new directory",
                    dir.display()
                ));
            }
            (dir, None)
        }
        None => {
            let temporary = tempfile::Builder::new()
                .prefix("evidence-demo-")
                .tempdir()
                .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
            (temporary.path().to_owned(), Some(temporary))
        }
    };
    // Interrupted, the demo's future is dropped: its nodes are stopped and the temporary
    // directory removed, as at its end.
    let mut stop = StopSignals::watch()?;
    tokio::select! {
        result = demo::run(&dir, &binary) => result.map_err(|e| e.to_string()),
        how = stop.received() => Err(format!("{how}; the demo's nodes were stopped")),
    }
}

/// Ctrl-C (SIGINT) and SIGTERM, watched from the moment this is made.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn watch() -> Result<Self, String> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())
                .map_err(|e| format!("cannot watch for SIGINT: {e}"))?,
            terminate: signal(SignalKind::terminate())
                .map_err(|e| format!("cannot watch for SIGTERM: {e}"))?,
        })
    }

    /// Waits for either signal; says which ("interrupted" or "terminated").
    async fn received(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "interrupted",
            _ = self.terminate.recv() => "terminated",
        }
    }
}
