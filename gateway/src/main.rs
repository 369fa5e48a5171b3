//! `evidence-gateway`: the filing gateway's binary.
//!
//! ```text
//! evidence-gateway run --config gateway.toml    # serve
//! evidence-gateway token --name filing-system   # a new API token and its configuration entry
//! evidence-gateway openapi                      # print the OpenAPI document
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use evidence_gateway::{Gateway, GatewayConfig, OPENAPI, TokenEntry};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "The filing gateway: HTTP/JSON notarization for a member's filing systems"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API until stopped (Ctrl-C or SIGTERM).
    Run {
        /// The configuration file (README.md, "The filing gateway").
        #[arg(long, default_value = "gateway.toml")]
        config: PathBuf,
    },
    /// Make a new API token: prints the token (give it to the caller, once) and the entry to
    /// add to the configuration (which holds only its hash).
    Token {
        /// The caller's name, recorded in the gateway's log with each call.
        #[arg(long)]
        name: String,
    },
    /// Print the OpenAPI document the gateway serves at /openapi.json.
    Openapi,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Command::Token { name } => {
            let (token, entry) = TokenEntry::generate(&name);
            println!("token: {token}");
            println!();
            println!("[[tokens]]");
            println!("name = {:?}", entry.name);
            println!("sha256 = {:?}", entry.sha256);
            ExitCode::SUCCESS
        }
        Command::Openapi => {
            print!("{OPENAPI}");
            ExitCode::SUCCESS
        }
        Command::Run { config } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
                )
                .with_writer(std::io::stderr)
                .init();
            let config = match GatewayConfig::load(&config) {
                Ok(config) => config,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("error: cannot start the runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(run(config))
        }
    }
}

async fn run(config: GatewayConfig) -> ExitCode {
    let gateway = match Gateway::start(config).await {
        Ok(gateway) => gateway,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", gateway.address());
    let stop = async {
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(_) => return std::future::pending().await,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    };
    stop.await;
    tracing::info!("stopping");
    gateway.shutdown().await;
    ExitCode::SUCCESS
}
