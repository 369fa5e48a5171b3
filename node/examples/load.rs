//! Load generator: starts a four-member network on this machine (in one process, real
//! RocksDB, real libp2p on loopback, the real gRPC API) and drives it with `Notarize` calls.
//!
//! It reports committed documents per second and the notarize→receipt latency (p50, p99)
//! as seen by the callers. Transactions are signed before the clock starts, so the figures
//! measure the network, not the generator's signing.
//!
//! ```text
//! cargo run -p evidence-node --example load -- --mode single --seconds 20 --concurrency 64
//! cargo run -p evidence-node --example load -- --mode batched --batch 100 --seconds 20
//! cargo run -p evidence-node --example load -- --mode single --rate 1000 --seconds 20
//! cargo run -p evidence-node --example load -- --mode single --concurrency 1 --seconds 10
//! cargo run -p evidence-node --example load -- --concurrency 1024 --stop-node 3 --stop-after 5
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use evidence_genesis::pki::{ROLE_AUDITOR, ROLE_FILER_SYSTEM};
use evidence_genesis::{Suite, default_consortium_with_suite};
use evidence_node::app::now_ms;
use evidence_node::local::{LocalNetwork, anchor_transaction, caller_files, channel, write_homes};
use evidence_proto::v1::ledger_client::LedgerClient;
use evidence_proto::v1::{
    GetCheckpointRequest, LookupRequest, NotarizeRequest, StatusRequest, Transaction,
    lookup_request,
};
use tokio::sync::Mutex;

/// The process allocator: mimalloc, not the system's (BENCHMARKS.md, "Why the batched figure
/// falls over a run").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// One document per transaction (one filer signature each).
    Single,
    /// `--batch` documents per transaction under one filer signature.
    Batched,
}

/// Drives a local four-member network and reports throughput and latency.
#[derive(Debug, Parser)]
struct Args {
    #[arg(long, value_enum, default_value = "single")]
    mode: Mode,
    /// Documents per transaction in batched mode.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// How long to measure, in seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Calls in flight at once (closed loop). Ignored with --rate.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Open loop: start this many calls per second regardless of answers (0: closed loop).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Most transactions per block.
    #[arg(long, default_value_t = 5_000)]
    block_transactions: usize,
    /// Serve the API without TLS (to measure what TLS costs); by default the nodes serve TLS
    /// and the load generator calls as the bureau's filing system with its certificate.
    #[arg(long)]
    plaintext: bool,
    /// Besides the notarize load, this many callers (as the bureau's auditor) flood one node
    /// with reads (lookups of the load's project, checkpoints, status) as fast as it answers,
    /// to see whether consensus keeps its pace under an API flood.
    #[arg(long, default_value_t = 0)]
    flood: usize,
    /// The node the flood goes to (0 to 3). The notarize calls go to node 0 when one at a
    /// time (--concurrency 1), else to every node in turn.
    #[arg(long, default_value_t = 3)]
    flood_node: usize,
    /// The consortium's algorithm suite: ed25519-blake3 (the default), ed25519-sha256,
    /// ed25519-sm3, or sm (SM2 signatures with SM3).
    #[arg(long, default_value = "ed25519-blake3", value_parser = Suite::from_name)]
    suite: Suite,
    /// Keep this node (0 to 3) stopped while the load runs, then start it and report how fast
    /// it catches up on the blocks it missed (the load goes to the other three).
    #[arg(long)]
    catch_up_node: Option<usize>,
    /// Stop this node (1 to 3) `--stop-after` seconds into the run (a clean shutdown, whose
    /// connections close as a killed node's do) and keep it stopped (the load goes to the
    /// other three throughout); the figures are then also given for the calls begun from
    /// `--stop-after` on. Closed loop only (no --rate, no --flood).
    #[arg(long)]
    stop_node: Option<usize>,
    /// Seconds into the run at which `--stop-node` stops.
    #[arg(long, default_value_t = 5)]
    stop_after: u64,
    /// The nodes' `consensus.timeout_floor_ms` (default: the node's). At or above the propose
    /// timeout (2,000) it turns the adaptation of busy heights' timeouts off, to compare.
    #[arg(long)]
    timeout_floor_ms: Option<u64>,
    /// Write each answered call to this file, one line each in the order they began: when
    /// it began (milliseconds since the run began) and how long it took (microseconds),
    /// after a first line `# started T` with the run's start in Unix milliseconds, to see
    /// when the slow ones happen (with `RUST_LOG=evidence_node=info`, the nodes log each
    /// committed block).
    #[arg(long)]
    call_log: Option<std::path::PathBuf>,
}

#[derive(Debug, Default)]
struct Tally {
    /// Each answered call: when it began (µs since the run began) and its latency (µs).
    calls: Mutex<Vec<(u64, u64)>>,
    documents: AtomicU64,
    errors: AtomicU64,
    busy: AtomicU64,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank] as f64 / 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // Logs only when asked for (RUST_LOG), so they do not disturb the figures.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let dir = tempfile::tempdir()?;
    let consortium = default_consortium_with_suite(
        "evidence-load",
        now_ms() - 60_000,
        args.suite,
        &mut rand_core::OsRng,
    );
    let block_transactions = args.block_transactions;
    let plaintext = args.plaintext;
    let timeout_floor_ms = args.timeout_floor_ms;
    let homes = write_homes(dir.path(), &consortium, |_, config| {
        config.api.plaintext = plaintext;
        config.metrics.enabled = false;
        config.limits.block_transactions = block_transactions;
        config.consensus.idle_block_interval_ms = 200;
        if let Some(floor) = timeout_floor_ms {
            config.consensus.timeout_floor_ms = floor;
        }
    })?;
    if let Some(node) = args.catch_up_node.filter(|node| *node >= homes.len()) {
        return Err(format!(
            "--catch-up-node {node}: the network has nodes 0 to {}",
            homes.len() - 1
        )
        .into());
    }
    if let Some(node) = args.stop_node {
        if node == 0 || node >= homes.len() {
            return Err(format!(
                "--stop-node {node}: choose one of nodes 1 to {} (one call at a time goes to \
                 node 0)",
                homes.len() - 1
            )
            .into());
        }
        if args.catch_up_node.is_some() {
            return Err("--stop-node and --catch-up-node cannot be combined".into());
        }
        if args.flood > 0 || args.rate > 0 {
            // The flood's node is counted among all nodes, and the open loop's ticker would
            // stall while the node shuts down: neither is measured with a node stopped.
            return Err("--stop-node runs a closed loop without --flood or --rate".into());
        }
        if args.stop_after >= args.seconds {
            return Err(format!(
                "--stop-after {} must be less than --seconds {}",
                args.stop_after, args.seconds
            )
            .into());
        }
    }
    let first_home = homes[0].home.clone();
    let mut network = LocalNetwork::start(consortium.genesis.clone(), homes).await?;
    let mut behind_from = None;
    if let Some(node) = args.catch_up_node {
        let tip = network
            .node(node)
            .ok_or("the node is not running")?
            .app()
            .tip();
        network.stop_node(node).await;
        behind_from = Some((node, tip.height, tip.log_size));
    }
    let mut endpoints = network.endpoints();
    if let Some(node) = args.stop_node {
        // Every node runs, in order: the load goes to the others from the start.
        endpoints.remove(node);
    }

    let per_tx = match args.mode {
        Mode::Single => 1,
        Mode::Batched => args.batch.max(1),
    };
    // Enough transactions for the run, signed before measuring: at an open loop's rate, or
    // well above what the network reaches (10,000 single documents a second, 50,000 in
    // batches). A run that uses them up says so at the end.
    let planned = if args.rate > 0 {
        (args.rate * args.seconds) as usize + 1_000
    } else {
        let per_second = if per_tx == 1 {
            10_000
        } else {
            (50_000 / per_tx).max(20)
        };
        per_second * args.seconds as usize
    };
    eprintln!("signing {planned} transactions of {per_tx} documents...");
    let filer = &consortium
        .filer_keys
        .iter()
        .find(|(m, _)| m == "bureau")
        .ok_or("no bureau filer")?
        .1;
    let captured = now_ms();
    let mut transactions = Vec::with_capacity(planned);
    for t in 0..planned {
        let documents: Vec<_> = (0..per_tx)
            .map(|d| {
                let id = format!("DOC-{t}-{d}");
                let digest = args.suite.digest.hash(id.as_bytes());
                (id, digest)
            })
            .collect();
        transactions.push(anchor_transaction(
            &consortium.genesis,
            filer,
            "bureau",
            "completion-drawing",
            "P-LOAD",
            &documents,
            captured,
        )?);
    }
    let transactions = Arc::new(transactions);
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Tally::default());

    // The filing system's calls run on a runtime of their own, as they would in the filing
    // system's own process: its tasks (TLS, encoding, the connections' workers) share the
    // machine's cores with the nodes but not the nodes' task queues (the open loop's ticker,
    // which only starts the calls, stays on the main runtime).
    let callers = Callers(Some(
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("load-caller")
            .enable_all()
            .build()?,
    ));
    let mut clients = Vec::new();
    for endpoint in &endpoints {
        // A batch's answer carries a receipt per document: far above tonic's 4 MiB default.
        let caller = caller_files(dir.path(), "bureau", ROLE_FILER_SYSTEM);
        let genesis = consortium.genesis.clone();
        let endpoint = endpoint.clone();
        let connected = callers
            .runtime()
            .spawn(async move {
                channel(&genesis, &endpoint, Some(&caller))
                    .await
                    .map_err(|e| e.to_string())
            })
            .await??;
        clients.push(LedgerClient::new(connected).max_decoding_message_size(64 << 20));
    }
    eprintln!(
        "driving {} nodes for {} s ({:?}, {})",
        endpoints.len(),
        args.seconds,
        args.mode,
        if args.rate > 0 {
            format!("open loop at {} calls/s", args.rate)
        } else {
            format!("closed loop, {} in flight", args.concurrency)
        }
    );
    let start = Instant::now();
    let started_ms = now_ms();
    let end = start + Duration::from_secs(args.seconds);
    let stop_at = start + Duration::from_secs(args.stop_after);
    let mut to_stop = args.stop_node;
    // Every 10 s, what the last 10 s committed: a long run shows whether the rate holds.
    let progress = {
        let tally = Arc::clone(&tally);
        tokio::spawn(async move {
            let mut last = 0;
            let mut ticker = tokio::time::interval(Duration::from_secs(10));
            ticker.tick().await;
            while Instant::now() + Duration::from_secs(10) <= end {
                ticker.tick().await;
                let now = tally.documents.load(Ordering::Relaxed);
                eprintln!(
                    "{:>4.0} s: {:.0} documents/s over the last 10 s",
                    start.elapsed().as_secs_f64(),
                    (now - last) as f64 / 10.0
                );
                last = now;
            }
        })
    };

    let call = {
        let transactions = Arc::clone(&transactions);
        let next = Arc::clone(&next);
        let tally = Arc::clone(&tally);
        move |mut client: LedgerClient<tonic::transport::Channel>| {
            let transactions = Arc::clone(&transactions);
            let next = Arc::clone(&next);
            let tally = Arc::clone(&tally);
            async move {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(tx) = transactions.get(i) else {
                    return false;
                };
                let began = Instant::now();
                // As the Rust client asks: the receipts' binary fields, no JSON files.
                let mut request = tonic::Request::new(NotarizeRequest {
                    transaction: Some(Transaction {
                        canonical: tx.clone(),
                    }),
                    omit_json: true,
                });
                request.set_timeout(Duration::from_secs(30));
                match client.notarize(request).await {
                    Ok(response) => {
                        let elapsed = began.elapsed().as_micros() as u64;
                        tally.documents.fetch_add(
                            response.into_inner().receipts.len() as u64,
                            Ordering::Relaxed,
                        );
                        let at = began.duration_since(start).as_micros() as u64;
                        tally.calls.lock().await.push((at, elapsed));
                    }
                    // Busy, or a node still catching up after the start: try again.
                    Err(status)
                        if matches!(
                            status.code(),
                            tonic::Code::ResourceExhausted | tonic::Code::Unavailable
                        ) =>
                    {
                        tally.busy.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(status) => {
                        if tally.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("error: {status}");
                        }
                    }
                }
                true
            }
        }
    };

    let flood_calls = Arc::new(AtomicU64::new(0));
    let flood_busy = Arc::new(AtomicU64::new(0));
    let mut flood_tasks = Vec::new();
    if args.flood > 0 {
        let auditor = caller_files(dir.path(), "bureau", ROLE_AUDITOR);
        let flooder = LedgerClient::new(
            channel(
                &consortium.genesis,
                &endpoints[args.flood_node.min(endpoints.len() - 1)],
                Some(&auditor),
            )
            .await
            .map_err(|e| e.to_string())?,
        )
        .max_decoding_message_size(64 << 20);
        for k in 0..args.flood {
            let mut client = flooder.clone();
            let calls = Arc::clone(&flood_calls);
            let busy = Arc::clone(&flood_busy);
            flood_tasks.push(tokio::spawn(async move {
                let mut i = k;
                while Instant::now() < end {
                    i += 1;
                    let result = match i % 3 {
                        0 => client
                            .lookup(LookupRequest {
                                by: Some(lookup_request::By::ProjectId("P-LOAD".into())),
                                limit: 1_000,
                                ..LookupRequest::default()
                            })
                            .await
                            .map(drop),
                        1 => client
                            .get_checkpoint(GetCheckpointRequest { height: 0 })
                            .await
                            .map(drop),
                        _ => client.status(StatusRequest {}).await.map(drop),
                    };
                    match result {
                        Ok(()) => {
                            calls.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            busy.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
    }

    let mut tasks = Vec::new();
    if args.rate > 0 {
        let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut k = 0usize;
        while Instant::now() < end {
            ticker.tick().await;
            let client = clients[k % clients.len()].clone();
            k += 1;
            tasks.push(callers.runtime().spawn(call(client)));
        }
    } else {
        for k in 0..args.concurrency.max(1) {
            let client = clients[k % clients.len()].clone();
            let call = call.clone();
            tasks.push(callers.runtime().spawn(async move {
                while Instant::now() < end {
                    if !call(client.clone()).await {
                        break;
                    }
                }
                true
            }));
        }
    }
    if let Some(node) = to_stop.take() {
        tokio::time::sleep_until(stop_at.into()).await;
        network.stop_node(node).await;
        eprintln!(
            "{:.1} s: node {node} stopped",
            start.elapsed().as_secs_f64()
        );
    }
    for task in tasks {
        let _ = task.await;
    }
    for task in flood_tasks {
        let _ = task.await;
    }
    progress.abort();
    drop(clients);
    drop(callers);
    let elapsed = start.elapsed().as_secs_f64();
    let mut calls = tally.calls.lock().await.clone();
    calls.sort_unstable();
    if let Some(path) = &args.call_log {
        // The run's start on the wall clock (Unix milliseconds) first, to line the calls up
        // with the nodes' log lines; then the calls in the order they began.
        let mut text = String::with_capacity(calls.len() * 16 + 32);
        text.push_str(&format!("# started {started_ms}\n"));
        for (at, latency) in &calls {
            text.push_str(&format!("{:.3} {latency}\n", *at as f64 / 1000.0));
        }
        std::fs::write(path, text)?;
    }
    let mut latencies: Vec<u64> = calls.iter().map(|(_, latency)| *latency).collect();
    latencies.sort_unstable();
    let documents = tally.documents.load(Ordering::Relaxed);
    let height = network
        .running()
        .map(|n| n.app().tip().height)
        .max()
        .unwrap_or(0);
    // Rounds past round 0 (a proposer down or late, or split votes), as node 0 saw them.
    let later_rounds = network
        .node(0)
        .map_or(0, |n| n.app().metrics().later_rounds.get());
    println!("mode: {:?} ({per_tx} documents per transaction)", args.mode);
    println!("elapsed: {elapsed:.1} s, blocks: {height}, later rounds (node 0): {later_rounds}");
    if next.load(Ordering::Relaxed) >= planned {
        println!(
            "warning: all {planned} transactions signed for the run were sent before its end; \
             the rate is the generator's, not the network's"
        );
    }
    if args.flood > 0 {
        println!(
            "flood: {} callers, {:.0} reads/s answered, {} refused (busy or failed)",
            args.flood,
            flood_calls.load(Ordering::Relaxed) as f64 / elapsed,
            flood_busy.load(Ordering::Relaxed)
        );
    }
    println!(
        "committed: {documents} documents in {} transactions: {:.0} documents/s",
        latencies.len(),
        documents as f64 / elapsed
    );
    println!(
        "notarize latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    if let Some(node) = args.stop_node {
        let from = Duration::from_secs(args.stop_after).as_micros() as u64;
        let mut after: Vec<u64> = calls
            .iter()
            .filter(|(at, _)| *at >= from)
            .map(|(_, latency)| *latency)
            .collect();
        after.sort_unstable();
        println!(
            "after node {node} stopped ({} s in): {} calls, {:.0} calls/s; \
             p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            args.stop_after,
            after.len(),
            after.len() as f64 / (elapsed - args.stop_after as f64).max(0.001),
            percentile(&after, 0.50),
            percentile(&after, 0.99),
            percentile(&after, 1.0)
        );
    }
    println!(
        "busy answers: {}, errors: {}",
        tally.busy.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed)
    );
    if let Some((node, from_height, from_log)) = behind_from {
        let (target_height, target_log) = network
            .running()
            .map(|n| (n.app().tip().height, n.app().tip().log_size))
            .max()
            .unwrap_or((0, 0));
        let started = Instant::now();
        network.start_node(node).await?;
        let opened = started.elapsed();
        let app = network.node(node).ok_or("the node did not start")?.app();
        let mut first_progress = None;
        while app.tip().height < target_height {
            if first_progress.is_none() && app.tip().height > from_height {
                first_progress = Some(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(600) {
                return Err(format!(
                    "node {node} reached height {} of {target_height} in 600 s",
                    app.tip().height
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let missed = target_log - from_log;
        println!(
            "catch-up: node {node} missed {} blocks ({missed} entries); caught up in {elapsed:.1} s \
             from its start ({:.1} s to open, first block after {:.1} s): {:.0} entries/s",
            target_height - from_height,
            opened.as_secs_f64(),
            first_progress.unwrap_or(started.elapsed()).as_secs_f64(),
            missed as f64 / elapsed
        );
    }
    network.shutdown().await;
    // What the run left on disk: every node's database (tables and write-ahead log) and
    // consensus log, after a clean shutdown.
    let bytes = directory_bytes(dir.path());
    let nodes = consortium.validator_keys.len() as u64;
    println!(
        "disk: {:.1} MB for {nodes} nodes, {:.0} bytes per document per node",
        bytes as f64 / 1e6,
        bytes as f64 / nodes as f64 / (documents.max(1)) as f64
    );
    // The same, steady state: node 0's tables flushed and compacted (no write-ahead log),
    // by column family.
    let store = evidence_node::storage::Store::open(&first_home.join("data").join("db"))?;
    let footprint = store.footprint()?;
    let total: u64 = footprint.iter().map(|(_, bytes)| bytes).sum();
    let per_document = |bytes: u64| bytes as f64 / documents.max(1) as f64;
    println!(
        "compacted (node 0): {:.0} bytes per document: {}",
        per_document(total),
        footprint
            .iter()
            .filter(|(_, bytes)| *bytes > 0)
            .map(|(name, bytes)| format!("{name} {:.0}", per_document(*bytes)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// The callers' runtime, shut down without waiting when dropped: dropping a runtime inside
/// the main runtime's context would panic, on an early error return too.
struct Callers(Option<tokio::runtime::Runtime>);

impl Callers {
    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.0
            .as_ref()
            .expect("the callers' runtime lives until dropped")
    }
}

impl Drop for Callers {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

fn directory_bytes(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => directory_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
