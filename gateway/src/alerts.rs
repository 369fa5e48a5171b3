//! Payment alerts (超付预警): the node's rule events delivered as signed webhooks and as a
//! feed.
//!
//! One task follows the node's `StreamRuleEvents`, reconnecting with backoff, and remembers
//! where it is (the node's run and the last sequence handed on) in the data directory, so a
//! restarted gateway does not deliver again what it already queued. Each event goes to the
//! feed (the last `feed_kept`, in memory, served at `/v1/alerts`) and to every webhook's
//! queue. Each webhook has its own worker, which posts events in order with an HMAC-SHA256
//! signature, retries with doubling backoff, and after the last attempt appends the event to
//! the dead-letter file (one JSON object per line) and goes on with the next. Delivery is at
//! least once: a receiver deduplicates by the event's `id`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evidence_client::{Client, RuleEvent};
use hmac::{Hmac, Mac as _};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::config::{AlertsConfig, WebhookConfig};

/// The header carrying a delivery's signature: `t=<unix seconds>,v1=<hex>`, where the hex is
/// HMAC-SHA256 under the webhook's secret of `<t>.<body>`.
pub const SIGNATURE_HEADER: &str = "evidence-signature";

/// The header carrying the event's id (the same on every retry).
pub const EVENT_ID_HEADER: &str = "evidence-event-id";

/// How long one delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The signature of `body` at `timestamp` under `secret`, as the header carries it.
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// An alert as webhooks and the feed carry it.
pub(crate) fn alert_json(event: &RuleEvent, chain_id: &str, gateway_member: &str) -> Value {
    json!({
        "id": format!("{:016x}-{}", event.boot_id, event.sequence),
        "type": event.kind,
        "code": event.code,
        "message": event.message,
        "project_id": event.project_id,
        "milestone": event.milestone,
        "amount_minor": event.amount_minor,
        "paid_minor": event.paid_minor,
        "cap_minor": event.cap_minor,
        "member": event.member,
        "document_id": event.document_id,
        "transaction_id": event.transaction_id.map(|id| id.to_string()),
        "height": event.height,
        "time_ms": event.time_ms,
        "chain_id": chain_id,
        "reported_by": gateway_member,
    })
}

/// Where the follower is in the node's events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    boot_id: u64,
    sequence: u64,
}

fn read_cursor(path: &Path) -> Cursor {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn write_cursor(path: &Path, cursor: Cursor) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, serde_json::to_vec(&cursor)?)?;
    std::fs::rename(&temporary, path)
}

/// The alerts seen last, numbered by the gateway, for `/v1/alerts`.
#[derive(Debug)]
pub(crate) struct Feed {
    kept: Mutex<(VecDeque<(u64, Value)>, u64)>,
    capacity: usize,
}

impl Feed {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            kept: Mutex::new((VecDeque::new(), 0)),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<(u64, Value)>, u64)> {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, alert: Value) {
        let mut kept = self.lock();
        kept.1 += 1;
        let number = kept.1;
        if kept.0.len() == self.capacity {
            kept.0.pop_front();
        }
        kept.0.push_back((number, alert));
    }

    /// Up to `limit` alerts numbered above `after`, oldest first, and the last number given.
    pub(crate) fn after(&self, after: u64, limit: usize) -> (Vec<Value>, u64) {
        let kept = self.lock();
        // A number above the last given is from before a restart of the gateway: start over.
        let after = if after > kept.1 { 0 } else { after };
        let alerts: Vec<(u64, Value)> = kept
            .0
            .iter()
            .filter(|(number, _)| *number > after)
            .take(limit)
            .cloned()
            .collect();
        let last = alerts.last().map_or(after, |(number, _)| *number);
        let alerts = alerts
            .into_iter()
            .map(|(number, mut alert)| {
                alert["feed_number"] = json!(number);
                alert
            })
            .collect();
        (alerts, last)
    }
}

/// A webhook ready to deliver: its configuration and secret.
#[derive(Debug, Clone)]
struct Webhook {
    config: WebhookConfig,
    secret: Vec<u8>,
}

/// Starts following the node's rule events and delivering them. Returns the feed.
///
/// # Errors
/// A webhook's secret file cannot be read.
pub(crate) fn start(
    client: Arc<Client>,
    config: &AlertsConfig,
    webhooks: &[WebhookConfig],
    data_dir: &Path,
    gateway_member: String,
) -> std::io::Result<Arc<Feed>> {
    let feed = Arc::new(Feed::new(config.feed_kept));
    let dead_letter = Arc::new(Mutex::new(data_dir.join("dead-letter.jsonl")));
    let mut queues = Vec::new();
    for webhook in webhooks {
        let secret = crate::config::read_secret(&webhook.secret_file)?;
        let (sender, receiver) = mpsc::channel(config.queue_max.max(1));
        tokio::spawn(deliver(
            Webhook {
                config: webhook.clone(),
                secret,
            },
            *config,
            receiver,
            Arc::clone(&dead_letter),
        ));
        queues.push((webhook.clone(), sender));
    }
    let chain_id = client.genesis().chain_id.clone();
    let cursor_path = data_dir.join("alerts-cursor.json");
    let follower_feed = Arc::clone(&feed);
    tokio::spawn(async move {
        let mut cursor = read_cursor(&cursor_path);
        let mut pause = Duration::from_millis(200);
        loop {
            match client.rule_events(cursor.boot_id, cursor.sequence).await {
                Ok(mut stream) => loop {
                    match stream.next().await {
                        Ok(Some(event)) => {
                            pause = Duration::from_millis(200);
                            if event.boot_id == cursor.boot_id && event.sequence <= cursor.sequence
                            {
                                continue;
                            }
                            let alert = alert_json(&event, &chain_id, &gateway_member);
                            follower_feed.push(alert.clone());
                            for (webhook, queue) in &queues {
                                if !webhook.kinds.is_empty() && !webhook.kinds.contains(&event.kind)
                                {
                                    continue;
                                }
                                if queue.try_send(alert.clone()).is_err() {
                                    dead_letter_write(
                                        &dead_letter,
                                        webhook,
                                        0,
                                        "the webhook's queue is full",
                                        &alert,
                                    );
                                }
                            }
                            cursor = Cursor {
                                boot_id: event.boot_id,
                                sequence: event.sequence,
                            };
                            if let Err(error) = write_cursor(&cursor_path, cursor) {
                                tracing::warn!(%error, "the alerts cursor could not be saved");
                            }
                        }
                        Ok(None) => break,
                        Err(error) => {
                            tracing::warn!(%error, "the node's rule events stopped");
                            break;
                        }
                    }
                },
                Err(error) => tracing::warn!(%error, "cannot follow the node's rule events"),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(30));
        }
    });
    Ok(feed)
}

fn dead_letter_write(
    file: &Mutex<PathBuf>,
    webhook: &WebhookConfig,
    attempts: u32,
    error: &str,
    alert: &Value,
) {
    use std::io::Write as _;
    let path = file
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let line = json!({
        "webhook": webhook.name,
        "url": webhook.url,
        "attempts": attempts,
        "last_error": error,
        "alert": alert,
    });
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&*path)
        .and_then(|mut file| {
            file.write_all(format!("{line}\n").as_bytes())?;
            file.sync_data()
        });
    match written {
        Ok(()) => tracing::warn!(
            webhook = webhook.name,
            error,
            "an alert went to the dead-letter file"
        ),
        Err(write_error) => tracing::error!(
            webhook = webhook.name,
            %write_error,
            "an alert could not be delivered nor written to the dead-letter file: {line}"
        ),
    }
}

/// Delivers a webhook's queue in order.
async fn deliver(
    webhook: Webhook,
    config: AlertsConfig,
    mut queue: mpsc::Receiver<Value>,
    dead_letter: Arc<Mutex<PathBuf>>,
) {
    while let Some(alert) = queue.recv().await {
        let body = alert.to_string();
        let id = alert["id"].as_str().unwrap_or_default().to_owned();
        let mut backoff = Duration::from_millis(config.initial_backoff_ms);
        let mut last_error = String::new();
        let mut delivered = false;
        for attempt in 1..=config.delivery_attempts.max(1) {
            match post(&webhook, &id, &body).await {
                Ok(()) => {
                    delivered = true;
                    break;
                }
                Err(error) => {
                    tracing::info!(webhook = webhook.config.name, attempt, %error, "delivery failed");
                    last_error = error;
                }
            }
            if attempt < config.delivery_attempts {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(config.max_backoff_ms));
            }
        }
        if !delivered {
            dead_letter_write(
                &dead_letter,
                &webhook.config,
                config.delivery_attempts,
                &last_error,
                &alert,
            );
        }
    }
}

/// One delivery attempt: a POST that a 2xx answer acknowledges.
async fn post(webhook: &Webhook, id: &str, body: &str) -> Result<(), String> {
    let uri: hyper::Uri = webhook
        .config
        .url
        .parse()
        .map_err(|e| format!("bad URL: {e}"))?;
    let host = uri.host().ok_or("the URL has no host")?.to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let request = hyper::Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "evidence-gateway")
        .header(EVENT_ID_HEADER, id)
        .header(
            SIGNATURE_HEADER,
            signature(&webhook.secret, timestamp, body.as_bytes()),
        )
        .body(Full::new(Bytes::from(body.to_owned())))
        .map_err(|e| e.to_string())?;
    let attempt = async {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("the request failed: {e}"))?;
        let status = response.status();
        // Read the answer to its end so the connection closes cleanly.
        let _ = response.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {status}"))
        }
    };
    tokio::time::timeout(ATTEMPT_TIMEOUT, attempt)
        .await
        .map_err(|_| format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let header = signature(b"secret", 1_700_000_000, b"{}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert_ne!(header, signature(b"other", 1_700_000_000, b"{}"));
        assert_ne!(header, signature(b"secret", 1_700_000_001, b"{}"));
    }

    #[test]
    fn the_feed_keeps_the_last_alerts_and_pages_after_a_number() {
        let feed = Feed::new(2);
        for n in 0..3 {
            feed.push(json!({ "n": n }));
        }
        let (alerts, last) = feed.after(0, 10);
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0]["feed_number"], json!(2));
        assert_eq!(last, 3);
        let (alerts, last) = feed.after(2, 10);
        assert_eq!((alerts.len(), last), (1, 3));
        assert_eq!(feed.after(3, 10), (Vec::new(), 3));
        // A number from before a restart of the gateway (above the last) starts over.
        let (alerts, last) = feed.after(99, 10);
        assert_eq!((alerts.len(), last), (2, 3));
    }

    #[test]
    fn the_cursor_survives_and_a_damaged_one_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor.json");
        assert_eq!(read_cursor(&path), Cursor::default());
        let cursor = Cursor {
            boot_id: 7,
            sequence: 42,
        };
        write_cursor(&path, cursor).unwrap();
        assert_eq!(read_cursor(&path), cursor);
        std::fs::write(&path, "{damaged").unwrap();
        assert_eq!(read_cursor(&path), Cursor::default());
    }
}
