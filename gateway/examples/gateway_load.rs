//! Load through the filing gateway: starts a four-member network on this machine (in one
//! process, as the node's load generator does), the bureau's gateway in front of the bureau's
//! node, and drives `POST /v1/documents` over HTTP/1.1 keep-alive connections.
//!
//! It reports notarized documents per second and the request latency (p50, p99) as the
//! filing system sees it; compare with the node's load generator (`cargo run -p
//! evidence-node --example load`) for what the gateway costs.
//!
//! ```text
//! cargo run -p evidence-gateway --example gateway_load -- --batch 100 --concurrency 16
//! cargo run -p evidence-gateway --example gateway_load -- --batch 100 --first-versions
//! cargo run -p evidence-gateway --example gateway_load -- --batch 1 --concurrency 64
//! ```

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use evidence_gateway::{AlertsConfig, Gateway, GatewayConfig, Limits, NodeTls, TokenEntry};
use evidence_genesis::default_consortium;
use evidence_genesis::pki::ROLE_FILER_SYSTEM;
use evidence_node::app::now_ms;
use evidence_node::local::{LocalNetwork, caller_files, write_homes};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use serde_json::json;
use tokio::sync::Mutex;

/// Drives the bureau's gateway and reports throughput and latency.
#[derive(Debug, Parser)]
struct Args {
    /// Documents per request.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Requests in flight at once, each on its own keep-alive connection.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long to measure, in seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Send each document as version 1 explicitly, so the gateway need not look up whether
    /// the document id was filed before (by default it asks, as a filing system that does
    /// not know would).
    #[arg(long)]
    first_versions: bool,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let consortium = default_consortium("gateway-load", now_ms() - 60_000, &mut rand_core::OsRng);
    let homes = write_homes(dir.path(), &consortium, |_, config| {
        config.metrics.enabled = false;
        config.consensus.idle_block_interval_ms = 200;
    })?;
    let network = LocalNetwork::start(consortium.genesis.clone(), homes).await?;
    let genesis_path = dir.path().join("genesis.json");
    std::fs::write(&genesis_path, consortium.genesis.to_json())?;
    let key_path = dir.path().join("bureau.key");
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let filer = &consortium
            .filer_keys
            .iter()
            .find(|(m, _)| m == "bureau")
            .ok_or("no bureau filer")?
            .1;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key_path)?
            .write_all(filer.to_key_file().as_bytes())?;
    }
    let caller = caller_files(dir.path(), "bureau", ROLE_FILER_SYSTEM);
    let (token, entry) = TokenEntry::generate("load");
    let gateway = Gateway::start(GatewayConfig {
        listen: "127.0.0.1:0".parse()?,
        genesis: genesis_path,
        node: network.endpoints()[0].clone(),
        filer_key: key_path,
        source_system: "load".into(),
        data_dir: dir.path().join("gateway"),
        tls: None,
        node_tls: Some(NodeTls {
            certificate: caller.certificate,
            private_key: caller.private_key,
            extra_roots: None,
        }),
        limits: Limits {
            documents_per_request_max: args.batch.max(1),
            request_bytes_max: 64 << 20,
            ..Limits::default()
        },
        tokens: vec![entry],
        alerts: AlertsConfig::default(),
        webhooks: Vec::new(),
    })
    .await?;
    let address = gateway.address();
    let algorithm = consortium.genesis.suite.digest;

    eprintln!(
        "driving the bureau's gateway for {} s: {} requests in flight of {} documents{}",
        args.seconds,
        args.concurrency,
        args.batch,
        if args.first_versions {
            ", each version 1"
        } else {
            ""
        }
    );
    let next = Arc::new(AtomicUsize::new(0));
    let documents = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (next, documents, errors, latencies) = (
            Arc::clone(&next),
            Arc::clone(&documents),
            Arc::clone(&errors),
            Arc::clone(&latencies),
        );
        let token = token.clone();
        let batch = args.batch.max(1);
        let first_versions = args.first_versions;
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(address).await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            while Instant::now() < end {
                let request_number = next.fetch_add(1, Ordering::Relaxed);
                let items: Vec<_> = (0..batch)
                    .map(|d| {
                        let id = format!("DOC-{request_number}-{d}");
                        let mut item = json!({
                            "kind": "completion-drawing",
                            "project_id": "P-GATEWAY-LOAD",
                            "document_id": id,
                            "digest": algorithm.hash(id.as_bytes()).to_string(),
                        });
                        if first_versions {
                            item["version"] = json!(1);
                        }
                        item
                    })
                    .collect();
                let body = json!({ "documents": items }).to_string();
                let request = hyper::Request::post("/v1/documents")
                    .header(hyper::header::HOST, address.to_string())
                    .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(body)))?;
                let began = Instant::now();
                let response = sender.send_request(request).await?;
                let status = response.status();
                let answer = response.into_body().collect().await?.to_bytes();
                if status.is_success() {
                    documents.fetch_add(batch as u64, Ordering::Relaxed);
                    latencies
                        .lock()
                        .await
                        .push(began.elapsed().as_micros() as u64);
                } else if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("error {status}: {}", String::from_utf8_lossy(&answer));
                }
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }));
    }
    for task in tasks {
        if let Err(error) = task.await? {
            eprintln!("a connection failed: {error}");
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut latencies = latencies.lock().await.clone();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[rank] as f64 / 1000.0
    };
    let documents = documents.load(Ordering::Relaxed);
    println!(
        "notarized through the gateway: {documents} documents in {} requests: {:.0} documents/s",
        latencies.len(),
        documents as f64 / elapsed
    );
    println!(
        "request latency: p50 {:.2} ms, p99 {:.2} ms",
        percentile(0.5),
        percentile(0.99)
    );
    println!("errors: {}", errors.load(Ordering::Relaxed));
    gateway.shutdown().await;
    network.shutdown().await;
    Ok(())
}
