//! `evidence-testnet chaos`: the four real node processes under a notarize load, with a
//! fault-injecting TCP proxy of this tool on every consensus link and nodes killed and
//! restarted, then everything healed and checked.
//!
//! Every node reaches every other through a proxy of its own (node `i`'s consensus peers are
//! rewritten to point at the proxy for the link `i → j`; libp2p's Noise handshake is end to
//! end, so the proxy only sees ciphertext). The proxies delay traffic, cut links (a member
//! partitioned away from the others) and heal them. Faults come from a seed, and never more
//! than one member is faulty at a time (killed or partitioned): BFT with four members
//! promises liveness with one faulty, and safety always.
//!
//! At the end every link is healed and every node runs; the soak waits until all four nodes
//! are at one height and checks:
//! - every acknowledged receipt verifies offline against the genesis file;
//! - every node serves each acknowledged entry with identical bytes;
//! - every node has the same checkpoint header at the common height.
//!
//! Traffic stays on 127.0.0.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use evidence_client::{Client, ClientOptions, DocumentMeta, ReceiptQuery};
use evidence_core::encoding::Encode;
use evidence_core::receipt::{Receipt, verify_receipt};
use evidence_genesis::pki::{ROLE_AUDITOR, ROLE_FILER_SYSTEM};
use evidence_node::config::NodeConfig;
use evidence_node::local::free_port;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::{Layout, Network, TestnetError, create_or_reuse};

/// How many filings are in flight at once (each a filing system waiting for its receipt).
const FILERS: u64 = 4;

/// What a soak does.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// How long faults are injected (then everything is healed and checked).
    pub duration: Duration,
    /// Where the faults come from.
    pub seed: u64,
}

/// What a soak did and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChaosReport {
    pub seed: u64,
    pub acknowledged: u64,
    pub refused_or_failed: u64,
    pub kills: u64,
    pub partitions: u64,
    pub delay_changes: u64,
    /// The height all nodes reached after healing.
    pub final_height: u64,
}

/// A broken promise, or a soak that could not run.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    #[error(transparent)]
    Testnet(#[from] TestnetError),
    #[error("{0} already holds a testnet; the soak needs a new directory")]
    NotNew(PathBuf),
    #[error("proxy: {0}")]
    Proxy(std::io::Error),
    #[error("after healing, the nodes did not reach one height within {seconds} s: {heights:?}")]
    NotConverged { seconds: u64, heights: Vec<u64> },
    #[error("acknowledged receipt of entry {index} does not verify offline: {reason}")]
    ReceiptInvalid { index: u64, reason: String },
    #[error("the {member} node serves entry {index} differently: {reason}")]
    EntryDiffers {
        member: String,
        index: u64,
        reason: String,
    },
    #[error("checkpoints at height {height} differ between the {first} and {second} nodes")]
    CheckpointsDiffer {
        height: u64,
        first: String,
        second: String,
    },
}

/// The faults of one link `from → to`: a delay added to each chunk, and whether it is cut.
#[derive(Debug)]
struct LinkControl {
    delay_ms: AtomicU64,
    /// Bumped to cut every open connection of the link; odd while the link is cut.
    cut: watch::Sender<u64>,
}

impl LinkControl {
    fn is_cut(&self) -> bool {
        *self.cut.borrow() % 2 == 1
    }

    fn set_cut(&self, cut: bool) {
        if self.is_cut() != cut {
            self.cut.send_modify(|generation| *generation += 1);
        }
    }
}

/// The proxy of one link: accepts what node `from` dials and forwards it to `to`'s listener,
/// with the link's faults.
async fn run_proxy(listener: TcpListener, upstream: SocketAddr, control: Arc<LinkControl>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        if control.is_cut() {
            drop(inbound);
            continue;
        }
        let control = Arc::clone(&control);
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (inbound_read, inbound_write) = inbound.into_split();
            let (outbound_read, outbound_write) = outbound.into_split();
            let cut = control.cut.subscribe();
            tokio::select! {
                () = pump(inbound_read, outbound_write, &control) => {}
                () = pump(outbound_read, inbound_write, &control) => {}
                () = wait_for_cut(cut) => {}
            }
            // Dropping both halves closes the connection: libp2p sees it go and redials.
        });
    }
}

async fn wait_for_cut(mut cut: watch::Receiver<u64>) {
    loop {
        if cut.changed().await.is_err() || *cut.borrow() % 2 == 1 {
            return;
        }
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    control: &LinkControl,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let delay = control.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// The consensus TCP port in a libp2p address such as `/ip4/127.0.0.1/tcp/4000/p2p/...`.
fn tcp_port(address: &str) -> Option<u16> {
    let mut parts = address.split('/');
    while let Some(part) = parts.next() {
        if part == "tcp" {
            return parts.next()?.parse().ok();
        }
    }
    None
}

/// Puts a proxy on every consensus link of `layout`: rewrites each node's peers to point at
/// its proxies, and returns the controls, by `(from, to)`.
async fn install_proxies(
    layout: &Layout,
) -> Result<Vec<((usize, usize), Arc<LinkControl>)>, ChaosError> {
    let mut configs = Vec::new();
    for (_, home) in &layout.homes {
        configs.push(NodeConfig::load(home).map_err(TestnetError::from)?);
    }
    let listen_ports: Vec<u16> = configs
        .iter()
        .map(|config| tcp_port(&config.consensus.listen).unwrap_or(0))
        .collect();
    let mut links = Vec::new();
    for (from, config) in configs.iter_mut().enumerate() {
        let mut peers = Vec::new();
        for peer in &config.consensus.peers {
            let Some(to) =
                tcp_port(peer).and_then(|port| listen_ports.iter().position(|p| *p == port))
            else {
                peers.push(peer.clone());
                continue;
            };
            let port = free_port().map_err(ChaosError::Proxy)?;
            let listener = TcpListener::bind(("127.0.0.1", port))
                .await
                .map_err(ChaosError::Proxy)?;
            let control = Arc::new(LinkControl {
                delay_ms: AtomicU64::new(0),
                cut: watch::channel(0).0,
            });
            let upstream = SocketAddr::from(([127, 0, 0, 1], listen_ports[to]));
            tokio::spawn(run_proxy(listener, upstream, Arc::clone(&control)));
            peers.push(peer.replacen(
                &format!("/tcp/{}/", listen_ports[to]),
                &format!("/tcp/{port}/"),
                1,
            ));
            links.push(((from, to), control));
        }
        config.consensus.peers = peers;
        let path = layout.homes[from]
            .1
            .join(evidence_node::config::CONFIG_FILE);
        std::fs::write(&path, config.to_toml()).map_err(|source| TestnetError::Io {
            path: path.clone(),
            source,
        })?;
    }
    Ok(links)
}

/// Runs a soak in `dir` (a new directory) with the node binary `binary`.
///
/// # Errors
/// The network cannot be set up, or a check fails (see [`ChaosError`]).
pub async fn run(
    dir: &Path,
    binary: &Path,
    options: &ChaosOptions,
) -> Result<ChaosReport, ChaosError> {
    if dir.join(crate::GENESIS_FILE).exists() {
        return Err(ChaosError::NotNew(dir.to_owned()));
    }
    let (layout, _) = create_or_reuse(dir, 4)?;
    let links = install_proxies(&layout).await?;
    let mut network = Network::start(layout.clone(), binary).await?;
    let mut rng = ChaCha20Rng::seed_from_u64(options.seed);
    let mut report = ChaosReport {
        seed: options.seed,
        ..ChaosReport::default()
    };
    let members: Vec<String> = layout.homes.iter().map(|(m, _)| m.clone()).collect();
    let endpoints: Vec<String> = network.info().nodes.iter().map(|n| n.api.clone()).collect();

    // The load: the bureau's filing system notarizes small documents, one at a time, at a
    // node drawn at random; what is acknowledged is kept.
    let (stop_load, load_stopped) = watch::channel(false);
    let loads: Vec<_> = (0..FILERS)
        .map(|filer| {
            tokio::spawn(notarize_load(
                layout.clone(),
                endpoints.clone(),
                options.seed,
                filer,
                load_stopped.clone(),
            ))
        })
        .collect();

    let started = Instant::now();
    let mut down: Option<(usize, Instant)> = None;
    let mut partitioned: Option<(usize, Instant)> = None;
    while started.elapsed() < options.duration {
        tokio::time::sleep(Duration::from_millis(
            500 + u64::from(rng.next_u32() % 1_500),
        ))
        .await;
        let now = Instant::now();
        if let Some((node, until)) = down
            && now >= until
        {
            network.restart_node(node, binary)?;
            down = None;
        }
        if let Some((member, until)) = partitioned
            && now >= until
        {
            for ((from, to), control) in &links {
                if *from == member || *to == member {
                    control.set_cut(false);
                }
            }
            partitioned = None;
        }
        let faulty = down.is_some() || partitioned.is_some();
        match rng.next_u32() % 4 {
            0 if !faulty => {
                let node = rng.next_u32() as usize % members.len();
                network.kill_node(node);
                report.kills += 1;
                let back = Duration::from_millis(1_000 + u64::from(rng.next_u32() % 4_000));
                down = Some((node, now + back));
            }
            1 if !faulty => {
                let member = rng.next_u32() as usize % members.len();
                for ((from, to), control) in &links {
                    if *from == member || *to == member {
                        control.set_cut(true);
                    }
                }
                report.partitions += 1;
                let heal = Duration::from_millis(1_000 + u64::from(rng.next_u32() % 5_000));
                partitioned = Some((member, now + heal));
            }
            2 => {
                for (_, control) in &links {
                    let delay = u64::from(rng.next_u32() % 60);
                    control.delay_ms.store(delay, Ordering::Relaxed);
                }
                report.delay_changes += 1;
            }
            _ => {}
        }
    }

    // Heal everything: links, delays, the node that is down.
    for (_, control) in &links {
        control.set_cut(false);
        control.delay_ms.store(0, Ordering::Relaxed);
    }
    if let Some((node, _)) = down {
        network.restart_node(node, binary)?;
    }
    let _ = stop_load.send(true);
    let mut acknowledged = Vec::new();
    for load in loads {
        let (mut filed, failed) = load.await.unwrap_or_default();
        acknowledged.append(&mut filed);
        report.refused_or_failed += failed;
    }
    report.acknowledged = acknowledged.len() as u64;

    let result = check(&layout, &endpoints, &members, &acknowledged, &mut report).await;
    network.stop();
    result.map(|()| report)
}

/// Notarizes until told to stop; returns the acknowledged (document, receipt) pairs and the
/// number of calls that failed (refused while a node was down, timed out, ...).
async fn notarize_load(
    layout: Layout,
    endpoints: Vec<String>,
    seed: u64,
    filer: u64,
    mut stop: watch::Receiver<bool>,
) -> (Vec<(Vec<u8>, Receipt)>, u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ (0x4c4f_4144 + filer));
    let mut acknowledged = Vec::new();
    let mut failed = 0;
    let Ok(key) = evidence_genesis::read_key_file(&layout.filer_key_path("bureau")) else {
        return (acknowledged, failed);
    };
    let Ok(options) = layout.client_options("bureau", ROLE_FILER_SYSTEM) else {
        return (acknowledged, failed);
    };
    let options = ClientOptions {
        notarize_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        ..options
    };
    let mut n = 0u64;
    while !*stop.borrow() {
        n += 1;
        let endpoint = &endpoints[rng.next_u32() as usize % endpoints.len()];
        let content = format!("chaos document {seed}-{filer}-{n}").into_bytes();
        let meta = DocumentMeta::new(
            "completion-drawing",
            "P-CHAOS",
            format!("DOC-{filer}-{n}"),
            "bureau-filing-system",
        );
        let attempt = async {
            let client = Client::connect_with(
                endpoint,
                Some(key.clone()),
                layout.genesis.clone(),
                options.clone(),
            )
            .await?;
            client.notarize(content.clone(), meta).await
        };
        tokio::select! {
            result = attempt => match result {
                Ok(receipt) => acknowledged.push((content, receipt)),
                Err(_) => failed += 1,
            },
            _ = stop.changed() => break,
        }
    }
    (acknowledged, failed)
}

/// The checks after healing.
async fn check(
    layout: &Layout,
    endpoints: &[String],
    members: &[String],
    acknowledged: &[(Vec<u8>, Receipt)],
    report: &mut ChaosReport,
) -> Result<(), ChaosError> {
    let options = ClientOptions {
        connect_timeout: Duration::from_secs(2),
        ..layout.client_options("bureau", ROLE_AUDITOR)?
    };
    // All four at one height, at least as high as every acknowledged receipt.
    let needed = acknowledged
        .iter()
        .map(|(_, r)| r.checkpoint.header.height)
        .max()
        .unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut clients = Vec::new();
    let height = loop {
        let mut heights = Vec::new();
        clients.clear();
        for endpoint in endpoints {
            match Client::connect_with(endpoint, None, layout.genesis.clone(), options.clone())
                .await
            {
                Ok(client) => {
                    heights.push(client.status().await.map(|s| s.height).unwrap_or(0));
                    clients.push(client);
                }
                Err(_) => heights.push(0),
            }
        }
        let low = heights.iter().copied().min().unwrap_or(0);
        if clients.len() == endpoints.len() && low >= needed.max(1) {
            break low;
        }
        if Instant::now() >= deadline {
            return Err(ChaosError::NotConverged {
                seconds: 90,
                heights,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    report.final_height = height;

    let anchor = layout
        .genesis
        .trust_anchor()
        .map_err(|e| TestnetError::Pki(e.to_string()))?;
    for (content, receipt) in acknowledged {
        let index = receipt.entry.index;
        let digest = layout.genesis.suite.digest.hash(content);
        verify_receipt(&digest, receipt, &anchor).map_err(|e| ChaosError::ReceiptInvalid {
            index,
            reason: e.to_string(),
        })?;
        let expected = receipt.entry.to_canonical_bytes();
        for (client, member) in clients.iter().zip(members) {
            let served = client
                .receipt(ReceiptQuery::Index(index), Some(height))
                .await
                .map_err(|e| ChaosError::EntryDiffers {
                    member: member.clone(),
                    index,
                    reason: e.to_string(),
                })?;
            if served.receipt.entry.to_canonical_bytes() != expected {
                return Err(ChaosError::EntryDiffers {
                    member: member.clone(),
                    index,
                    reason: "other bytes".into(),
                });
            }
        }
    }
    let mut first: Option<(String, Vec<u8>)> = None;
    for (client, member) in clients.iter().zip(members) {
        let (checkpoint, _) =
            client
                .checkpoint(Some(height))
                .await
                .map_err(|e| ChaosError::EntryDiffers {
                    member: member.clone(),
                    index: 0,
                    reason: format!("no checkpoint at {height}: {e}"),
                })?;
        let header = checkpoint.header.to_canonical_bytes();
        match &first {
            None => first = Some((member.clone(), header)),
            Some((other, bytes)) if *bytes != header => {
                return Err(ChaosError::CheckpointsDiffer {
                    height,
                    first: other.clone(),
                    second: member.clone(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}
