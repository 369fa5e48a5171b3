//! Relaying admitted transactions to the other members' nodes.
//!
//! Each node keeps its own mempool, and the proposer changes every height, so a transaction
//! admitted by one node must reach the others for the next proposer to include it without
//! waiting for the admitting node's turn. Every newly admitted transaction is handed to one
//! task per peer, which sends them in batches over the peer's gRPC `Relay` call. The peer
//! checks each as a submission; nothing is trusted.
//!
//! Relaying is best effort and loses nothing: a peer that is down, slow or busy misses the
//! transaction, but the admitting node keeps it in its own mempool until a block carries it,
//! and proposes it itself when its turn comes. Each peer's queue is bounded; when it is full,
//! new transactions are not relayed to that peer (counted in the `relay_dropped` metric).

use std::sync::Arc;
use std::time::Duration;

use evidence_proto::v1::ledger_client::LedgerClient;
use evidence_proto::v1::{RelayRequest, Transaction};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// Most transactions in one `Relay` call.
pub const RELAY_BATCH_TRANSACTIONS: usize = 1_024;
/// Most bytes in one `Relay` call (well under the API's default message limit).
pub const RELAY_BATCH_BYTES: usize = 4 << 20;
/// How long one `Relay` call may take.
const RELAY_TIMEOUT: Duration = Duration::from_secs(5);

/// The relay: one bounded queue and task per peer.
#[derive(Debug)]
pub struct Relay {
    queues: Vec<mpsc::Sender<Arc<Vec<u8>>>>,
    tasks: Vec<JoinHandle<()>>,
    dropped: Counter,
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
        queue_transactions: usize,
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
            let (sender, receiver) = mpsc::channel(queue_transactions.max(1));
            queues.push(sender);
            tasks.push(tokio::spawn(relay_to(
                endpoint.clone(),
                LedgerClient::new(channel),
                receiver,
            )));
        }
        Ok(Self {
            queues,
            tasks,
            dropped,
        })
    }

    /// Queues a newly admitted transaction for every peer. Never waits.
    pub fn relay(&self, transaction: Vec<u8>) {
        if self.queues.is_empty() {
            return;
        }
        let transaction = Arc::new(transaction);
        for queue in &self.queues {
            if queue.try_send(Arc::clone(&transaction)).is_err() {
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
) {
    let mut failures = 0u32;
    while let Some(first) = queue.recv().await {
        let mut bytes = first.len();
        let mut transactions = vec![Transaction {
            canonical: first.as_ref().clone(),
        }];
        while transactions.len() < RELAY_BATCH_TRANSACTIONS && bytes < RELAY_BATCH_BYTES {
            match queue.try_recv() {
                Ok(next) => {
                    bytes += next.len();
                    transactions.push(Transaction {
                        canonical: next.as_ref().clone(),
                    });
                }
                Err(_) => break,
            }
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
