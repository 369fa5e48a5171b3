//! `evidence-node --home DIR`: runs one consortium member's validator node.
//!
//! The home directory holds `node.toml` (optional; see the `config` module for every option
//! and its default), `genesis.json` and the validator key file. Logs go to standard error;
//! `RUST_LOG` selects what is logged (default `info`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// The process allocator: mimalloc, not the system's (BENCHMARKS.md, "Why the batched figure
/// falls over a run").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs a consortium member's validator node.
#[derive(Debug, Parser)]
#[command(name = "evidence-node", version)]
struct Args {
    /// The node's home directory (node.toml, genesis.json, the key file, data/).
    #[arg(long, value_name = "DIR")]
    home: PathBuf,
    /// Print the configuration the node would run with (node.toml merged over the defaults)
    /// and exit.
    #[arg(long)]
    print_config: bool,
    /// Print the libp2p peer id of the node's network key (derived from its validator key)
    /// and exit. On an SM2 chain a validator's address in genesis, or in the proposal that
    /// adds it, ends with `/p2p/<this peer id>`.
    #[arg(long)]
    print_peer_id: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.print_config {
        return match evidence_node::config::NodeConfig::load(&args.home) {
            Ok(config) => {
                print!("{}", config.to_toml());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    if args.print_peer_id {
        return match print_peer_id(&args.home) {
            Ok(peer_id) => {
                println!("{peer_id}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let node = match evidence_node::node::Node::start(&args.home).await {
            Ok(node) => node,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(
            api = %node.api_address(),
            height = node.app().tip().height,
            "node started"
        );
        let stopped = node.wait_for_signal_or_failure().await;
        match stopped {
            Ok(()) => {
                tracing::info!("shutting down");
                node.shutdown().await;
                ExitCode::SUCCESS
            }
            Err(error) => {
                tracing::error!(%error, "node stopped");
                node.shutdown().await;
                ExitCode::FAILURE
            }
        }
    })
}

/// The peer id of the node whose home is `home`, from its key file.
fn print_peer_id(home: &std::path::Path) -> Result<String, String> {
    let config = evidence_node::config::NodeConfig::load(home).map_err(|e| e.to_string())?;
    let key = evidence_genesis::read_key_file(&evidence_node::config::NodeConfig::resolve(
        home,
        &config.node.key_file,
    ))
    .map_err(|e| e.to_string())?;
    Ok(evidence_node::consensus::network_keypair(&key)
        .public()
        .to_peer_id()
        .to_string())
}
