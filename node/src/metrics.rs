//! Prometheus metrics, served as text at `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The node's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Last committed height.
    pub height: Gauge,
    /// Log entries committed since start.
    pub committed_entries: Counter,
    /// Transactions committed since start (accepted or refused by a rule).
    pub committed_transactions: Counter,
    /// Committed transactions a contract rule refused.
    pub refused_transactions: Counter,
    /// From a block's timestamp (its proposal) to its commit on this node, in seconds.
    pub commit_latency: Histogram,
    /// From a `Notarize` call to its answer, in seconds.
    pub notarize_latency: Histogram,
    /// Transactions waiting in the mempool.
    pub mempool_depth: Gauge,
    /// Submissions answered "busy".
    pub mempool_busy: Counter,
    /// Submissions refused at admission.
    pub admission_refused: Counter,
    /// Connected consensus peers.
    pub peers: Gauge,
    /// Transactions not relayed to a peer because its queue was full.
    pub relay_dropped: Counter,
    /// 1 while the node catches up through value sync (writes are turned away), else 0.
    pub catching_up: Gauge,
    /// Times the node found itself behind and started catching up.
    pub catch_ups: Counter,
    /// API connections closed at once because the connection cap was reached.
    pub api_connections_refused: Counter,
    /// API connections closed in their TLS handshake (failed or too slow).
    pub api_handshakes_failed: Counter,
    /// Access audit lines lost because the audit writer fell behind.
    pub audit_lines_lost: Counter,
    /// Proposal parts dropped because their publisher is no validator.
    pub consensus_parts_refused: Counter,
    /// Validators taken for absent at the current height: they proposed none of their recent
    /// turns, and propose only when probed.
    pub validators_absent: Gauge,
    /// Heights whose round 0 probed a validator taken for absent.
    pub absence_probes: Counter,
    /// How long this node waited for round 0's proposal at heights it began with
    /// transactions waiting, to its validation, in seconds.
    pub proposal_wait: Histogram,
    /// Round 0's propose timeout at the current height, in seconds (shorter than configured
    /// at a busy height or a probe).
    pub propose_timeout: Gauge<f64, AtomicU64>,
    /// Rounds started after round 0 (a proposer down or late, or split votes).
    pub later_rounds: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("evidence");
        let height = Gauge::default();
        let committed_entries = Counter::default();
        let committed_transactions = Counter::default();
        let refused_transactions = Counter::default();
        // 0.5 ms to ~8 s.
        let commit_latency = Histogram::new(exponential_buckets(0.0005, 2.0, 15));
        let notarize_latency = Histogram::new(exponential_buckets(0.0005, 2.0, 15));
        let mempool_depth = Gauge::default();
        let mempool_busy = Counter::default();
        let admission_refused = Counter::default();
        let peers = Gauge::default();
        let relay_dropped = Counter::default();
        let catching_up = Gauge::default();
        let catch_ups = Counter::default();
        let api_connections_refused = Counter::default();
        let api_handshakes_failed = Counter::default();
        let audit_lines_lost = Counter::default();
        let consensus_parts_refused = Counter::default();
        let validators_absent = Gauge::default();
        let absence_probes = Counter::default();
        // 0.5 ms to ~8 s.
        let proposal_wait = Histogram::new(exponential_buckets(0.0005, 2.0, 15));
        let propose_timeout = Gauge::<f64, AtomicU64>::default();
        let later_rounds = Counter::default();
        registry.register(
            "proposal_wait_seconds",
            "Time this node waited for round 0's proposal (to its validation) at heights it \
             began with transactions waiting; busy heights' timeouts adapt to it",
            proposal_wait.clone(),
        );
        registry.register(
            "propose_timeout_seconds",
            "Round 0's propose timeout at the current height (shortened at busy heights and \
             probes)",
            propose_timeout.clone(),
        );
        registry.register(
            "later_rounds",
            "Consensus rounds started after round 0 (a proposer down or late, or split votes)",
            later_rounds.clone(),
        );
        registry.register(
            "validators_absent",
            "Validators taken for absent at the current height (no block of theirs in their \
             recent turns); they propose only when probed",
            validators_absent.clone(),
        );
        registry.register(
            "absence_probes",
            "Heights whose round 0 was given to a validator taken for absent, to show it is back",
            absence_probes.clone(),
        );
        registry.register(
            "consensus_parts_refused",
            "Proposal parts dropped because their publisher is not a genesis validator",
            consensus_parts_refused.clone(),
        );
        registry.register(
            "api_connections_refused",
            "API connections closed at once because the connection cap was reached",
            api_connections_refused.clone(),
        );
        registry.register(
            "api_handshakes_failed",
            "API connections closed in their TLS handshake (failed, or not done in time)",
            api_handshakes_failed.clone(),
        );
        registry.register(
            "audit_lines_lost",
            "Access audit lines lost because the audit log writer fell behind",
            audit_lines_lost.clone(),
        );
        registry.register("height", "Last committed block height", height.clone());
        registry.register(
            "committed_entries",
            "Log entries committed by this node since it started",
            committed_entries.clone(),
        );
        registry.register(
            "committed_transactions",
            "Transactions committed since start, accepted or refused by a contract rule",
            committed_transactions.clone(),
        );
        registry.register(
            "refused_transactions",
            "Committed transactions that a contract rule refused",
            refused_transactions.clone(),
        );
        registry.register(
            "commit_latency_seconds",
            "Time from a block's proposal timestamp to its commit on this node",
            commit_latency.clone(),
        );
        registry.register(
            "notarize_latency_seconds",
            "Time from a Notarize call to its answer",
            notarize_latency.clone(),
        );
        registry.register(
            "mempool_depth",
            "Transactions waiting in the mempool",
            mempool_depth.clone(),
        );
        registry.register(
            "mempool_busy",
            "Submissions answered busy because the mempool was full",
            mempool_busy.clone(),
        );
        registry.register(
            "admission_refused",
            "Submissions refused at admission (malformed, unauthorised, policy, replay)",
            admission_refused.clone(),
        );
        registry.register("peers", "Connected consensus peers", peers.clone());
        registry.register(
            "relay_dropped",
            "Transactions not relayed to a peer because its relay queue was full",
            relay_dropped.clone(),
        );
        registry.register(
            "catching_up",
            "1 while the node catches up through value sync and turns writes away, else 0",
            catching_up.clone(),
        );
        registry.register(
            "catch_ups",
            "Times the node found itself behind and started catching up",
            catch_ups.clone(),
        );
        Self {
            registry,
            height,
            committed_entries,
            committed_transactions,
            refused_transactions,
            commit_latency,
            notarize_latency,
            mempool_depth,
            mempool_busy,
            admission_refused,
            peers,
            relay_dropped,
            catching_up,
            catch_ups,
            api_connections_refused,
            api_handshakes_failed,
            audit_lines_lost,
            proposal_wait,
            propose_timeout,
            later_rounds,
            consensus_parts_refused,
            validators_absent,
            absence_probes,
        }
    }

    /// The text exposition format: this node's metrics, then the consensus engine's (its
    /// step times, rounds, peers and more, registered by the engine in its own registry).
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        // One exposition ends with one end marker: drop ours before appending the engine's.
        if let Some(body) = text.strip_suffix("# EOF\n") {
            text.truncate(body.len());
        }
        malachite_metrics::export(&mut text);
        text
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        // Over the cap, a scraper's connection is closed at once.
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            continue;
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let _slot = slot;
            let service = service_fn(move |request: Request<Incoming>| {
                let metrics = Arc::clone(&metrics);
                async move { Ok::<_, std::convert::Infallible>(respond(&request, &metrics)) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(REQUEST_TIMEOUT)
                .keep_alive(false);
            // A connection that holds its place without finishing is dropped.
            let _ = tokio::time::timeout(
                CONNECTION_TIMEOUT,
                builder.serve_connection(TokioIo::new(stream), service),
            )
            .await;
        });
    }
}

/// Scrapers connected at once; Prometheus needs one or two.
const CONNECTIONS_MAX: usize = 16;
/// How long a scraper may take to send its request headers.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long one scrape connection may last in all.
const CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn respond(request: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, body, content_type) = if request.uri().path() == "/metrics" {
        (
            StatusCode::OK,
            metrics.render(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
    } else {
        (
            StatusCode::NOT_FOUND,
            "not found: metrics are at /metrics\n".to_owned(),
            "text/plain; charset=utf-8",
        )
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Binds the metrics listener.
///
/// # Errors
/// The address cannot be bound.
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scrapers_are_capped_and_idle_ones_are_dropped() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let address = listener.local_addr().unwrap();
        let (_stop, stopped) = watch::channel(false);
        tokio::spawn(serve(listener, Arc::new(Metrics::new()), stopped));
        // Connections that never send a request fill every place ...
        let mut idle = Vec::new();
        for _ in 0..CONNECTIONS_MAX {
            idle.push(tokio::net::TcpStream::connect(address).await.unwrap());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // ... so one more is closed at once.
        let mut extra = tokio::net::TcpStream::connect(address).await.unwrap();
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(std::time::Duration::from_secs(2), extra.read(&mut byte))
            .await
            .expect("closed at once");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        // The idle ones are dropped after the request timeout, and scraping works again.
        let read = tokio::time::timeout(
            REQUEST_TIMEOUT + std::time::Duration::from_secs(3),
            idle[0].read(&mut byte),
        )
        .await
        .expect("an idle scraper is dropped");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        drop(idle);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let mut scraper = tokio::net::TcpStream::connect(address).await.unwrap();
        scraper
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        scraper.read_to_string(&mut text).await.unwrap();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.contains("evidence_height"));
    }

    #[test]
    fn renders_every_metric() {
        let metrics = Metrics::new();
        metrics.height.set(7);
        metrics.commit_latency.observe(0.004);
        let text = metrics.render();
        assert_eq!(text.matches("# EOF").count(), 1, "one end marker:\n{text}");
        for name in [
            "evidence_height 7",
            "evidence_committed_entries_total",
            "evidence_commit_latency_seconds_bucket",
            "evidence_mempool_depth",
            "evidence_peers",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
