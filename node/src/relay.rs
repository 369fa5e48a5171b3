//! Relaying admitted transactions to the other members' nodes.
//!
//! Each node keeps its own mempool, and the proposer changes every height, so a transaction
//! admitted by one node must reach the others for the next proposer to include it without
//! waiting for the admitting node's turn. Every newly admitted transaction is handed to one
//! task per peer, which sends them in batches over the peer's gRPC `Relay` call. The peer
//! checks each up to the contract's rules (size, encoding, replay, signer and signature;
//! `Mempool::admit_relayed`); the rules run when a block carrying it is executed. No relayed
//! transaction is trusted to be one a block may carry.
//!
//! Relaying is best effort and loses nothing: a peer that is down, slow or busy misses the
//! transaction, but the admitting node keeps it in its own mempool until a block carries it,
//! and proposes it itself when its turn comes. Each peer's queue is bounded in transactions
//! and in bytes; when either is reached (a peer that is down stops draining its queue), new
//! transactions are not relayed to that peer (counted in the `relay_dropped` metric).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use evidence_proto::v1::ledger_client::LedgerClient;
use evidence_proto::v1::{RelayRequest, Transaction};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// Most transactions in one `Relay` call.
pub const RELAY_BATCH_TRANSACTIONS: usize = 1_024;
/// Most transaction bytes in one `Relay` call (well under the API's default message limit),
/// unless the call carries a single, larger transaction.
pub const RELAY_BATCH_BYTES: usize = 4 << 20;
/// How long one `Relay` call may take.
const RELAY_TIMEOUT: Duration = Duration::from_secs(5);

/// The relay: one bounded queue and task per peer.
#[derive(Debug)]
pub struct Relay {
    queues: Vec<PeerQueue>,
    queue_bytes: usize,
    tasks: Vec<JoinHandle<()>>,
    dropped: Counter,
}

/// One peer's queue and the bytes waiting in it.
#[derive(Debug)]
struct PeerQueue {
    sender: mpsc::Sender<Arc<Vec<u8>>>,
    bytes: Arc<AtomicUsize>,
}

/// Bounds on each peer's relay queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub transactions: usize,
    pub bytes: usize,
}

/// A peer endpoint that is not a valid URL.
#[derive(Debug, thiserror::Error)]
#[error("relay peer {endpoint:?} is not a valid endpoint: {reason}")]
pub struct RelayConfigError {
    pub endpoint: String,
    pub reason: String,
}

impl Relay {
    /// Starts one task per peer endpoint (`https://host:port` of another member's API), each
    /// with a queue of `queue_transactions`. With `tls`, calls go over mutual TLS with this
    /// node's member-node certificate (the only role other nodes grant `Relay` to).
    /// Connections are made lazily and re-made after failures.
    ///
    /// # Errors
    /// An endpoint that is not a URL.
    pub fn start(
        peers: &[String],
        limits: QueueLimits,
        tls: Option<ClientTlsConfig>,
        dropped: Counter,
    ) -> Result<Self, RelayConfigError> {
        let mut queues = Vec::new();
        let mut tasks = Vec::new();
        for endpoint in peers {
            let invalid = |e: tonic::transport::Error| RelayConfigError {
                endpoint: endpoint.clone(),
                reason: e.to_string(),
            };
            let mut target = Endpoint::from_shared(endpoint.clone()).map_err(invalid)?;
            if let Some(tls) = &tls {
                target = target.tls_config(tls.clone()).map_err(invalid)?;
            }
            let channel = target
                .connect_timeout(Duration::from_secs(2))
                .tcp_nodelay(true)
                .connect_lazy();
            let (sender, receiver) = mpsc::channel(limits.transactions.max(1));
            let bytes = Arc::new(AtomicUsize::new(0));
            queues.push(PeerQueue {
                sender,
                bytes: Arc::clone(&bytes),
            });
            tasks.push(tokio::spawn(relay_to(
                endpoint.clone(),
                LedgerClient::new(channel),
                receiver,
                bytes,
            )));
        }
        Ok(Self {
            queues,
            queue_bytes: limits.bytes,
            tasks,
            dropped,
        })
    }

    /// Queues a newly admitted transaction for every peer. Never waits.
    pub fn relay(&self, transaction: Vec<u8>) {
        if self.queues.is_empty() {
            return;
        }
        let size = transaction.len();
        let transaction = Arc::new(transaction);
        for queue in &self.queues {
            let queued = queue.bytes.fetch_add(size, Ordering::Relaxed);
            if queued + size > self.queue_bytes
                || queue.sender.try_send(Arc::clone(&transaction)).is_err()
            {
                queue.bytes.fetch_sub(size, Ordering::Relaxed);
                self.dropped.inc();
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn relay_to(
    endpoint: String,
    mut client: LedgerClient<Channel>,
    mut queue: mpsc::Receiver<Arc<Vec<u8>>>,
    queued_bytes: Arc<AtomicUsize>,
) {
    let mut failures = 0u32;
    // A transaction taken from the queue that did not fit the last batch.
    let mut carried: Option<Arc<Vec<u8>>> = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => match queue.recv().await {
                Some(first) => {
                    queued_bytes.fetch_sub(first.len(), Ordering::Relaxed);
                    first
                }
                None => return,
            },
        };
        let mut bytes = first.len();
        let mut transactions = vec![Transaction {
            canonical: first.as_ref().clone(),
        }];
        while transactions.len() < RELAY_BATCH_TRANSACTIONS && bytes < RELAY_BATCH_BYTES {
            let Ok(next) = queue.try_recv() else {
                break;
            };
            queued_bytes.fetch_sub(next.len(), Ordering::Relaxed);
            if bytes + next.len() > RELAY_BATCH_BYTES {
                // The receiving node refuses a batch over its bounds whole: this one waits
                // for the next batch.
                carried = Some(next);
                break;
            }
            bytes += next.len();
            transactions.push(Transaction {
                canonical: next.as_ref().clone(),
            });
        }
        let count = transactions.len();
        let mut request = tonic::Request::new(RelayRequest { transactions });
        request.set_timeout(RELAY_TIMEOUT);
        match client.relay(request).await {
            Ok(_) => failures = 0,
            Err(status) => {
                failures += 1;
                // Logged once per outage, not once per batch.
                if failures == 1 {
                    tracing::warn!(
                        %endpoint,
                        code = ?status.code(),
                        message = status.message(),
                        count,
                        "relaying to a peer failed; this node keeps the transactions and proposes them on its turn"
                    );
                } else {
                    tracing::debug!(%endpoint, count, "relay still failing");
                }
                // Back off a little so a peer that is down costs little.
                tokio::time::sleep(Duration::from_millis(100 * u64::from(failures.min(10)))).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_peer_that_does_not_drain_its_queue_gets_no_more_than_its_bytes() {
        // A peer that accepts connections and never answers: the relay task waits on its first
        // call while the queue fills.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", silent.local_addr().unwrap());
        let dropped = Counter::default();
        let relay = Relay::start(
            &[endpoint],
            QueueLimits {
                transactions: 1_000,
                bytes: 100,
            },
            None,
            dropped.clone(),
        )
        .unwrap();
        relay.relay(vec![0; 10]);
        // The task takes the first one and waits on the silent peer.
        tokio::time::sleep(Duration::from_millis(200)).await;
        for _ in 0..3 {
            relay.relay(vec![1; 60]);
        }
        assert_eq!(
            dropped.get(),
            2,
            "60 bytes fit under 100, the next two do not"
        );
        assert_eq!(relay.queues[0].bytes.load(Ordering::Relaxed), 60);
    }
}
