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
use std::sync::atomic::{AtomicU64, Ordering};
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

/// The alerts seen last, numbered by the gateway, for `/v1/alerts`. Numbers restart with each
/// run of the gateway; the paging token names the run, so a token from an earlier run reads
/// from the oldest kept alert instead of skipping any.
#[derive(Debug)]
pub(crate) struct Feed {
    run: u64,
    kept: Mutex<(VecDeque<(u64, Value)>, u64)>,
    capacity: usize,
}

impl Feed {
    pub(crate) fn new(capacity: usize) -> Self {
        use rand_core::RngCore as _;
        Self {
            run: rand_core::OsRng.next_u64(),
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

    fn token(&self, number: u64) -> String {
        format!("{:016x}.{number}", self.run)
    }

    /// Up to `limit` alerts after the one `after` names (from the oldest kept when it is
    /// absent or of another run), oldest first, and the token that reads on.
    ///
    /// # Errors
    /// `after` is not a token this API gave.
    pub(crate) fn after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Value>, String), String> {
        let after = match after {
            None => 0,
            Some(token) => {
                let (run, number) = token
                    .split_once('.')
                    .and_then(|(run, number)| {
                        Some((
                            u64::from_str_radix(run, 16).ok()?,
                            number.parse::<u64>().ok()?,
                        ))
                    })
                    .ok_or_else(|| format!("{token:?} is not a token this API gave"))?;
                if run == self.run { number } else { 0 }
            }
        };
        let kept = self.lock();
        let alerts: Vec<(u64, Value)> = kept
            .0
            .iter()
            .filter(|(number, _)| *number > after)
            .take(limit)
            .cloned()
            .collect();
        let last = alerts
            .last()
            .map_or(after.min(kept.1), |(number, _)| *number);
        drop(kept);
        Ok((
            alerts.into_iter().map(|(_, alert)| alert).collect(),
            self.token(last),
        ))
    }
}

/// A webhook ready to deliver: its configuration and secret.
#[derive(Debug, Clone)]
struct Webhook {
    config: WebhookConfig,
    secret: Vec<u8>,
}

/// How far delivery has come: the events handed to the webhooks, by the gateway's own
/// running number, with the node position each stands for; and each webhook's last finished
/// number (delivered, dead-lettered or not for it). The position saved is that of the last
/// event every webhook has finished, so a gateway that stops loses nothing queued: it asks the
/// node again from there (delivery is at least once).
#[derive(Debug, Default)]
struct Progress {
    handed: Mutex<VecDeque<(u64, Cursor)>>,
    /// Per webhook: the last number put in its queue (by the follower only).
    enqueued: Vec<AtomicU64>,
    /// Per webhook: the last number its worker finished.
    finished: Vec<AtomicU64>,
}

impl Progress {
    /// The position every webhook has finished, if it moved; forgets what it passed. A
    /// webhook whose worker finished all it was given holds nothing back (what did not fit
    /// its queue went to the dead-letter file); one still working holds back from its last
    /// finished event. Called by the follower only, which alone fills the queues.
    fn settled(&self) -> Option<Cursor> {
        let mut handed = self
            .handed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let safe = self
            .enqueued
            .iter()
            .zip(&self.finished)
            .map(|(enqueued, finished)| {
                let finished = finished.load(Ordering::Acquire);
                if finished >= enqueued.load(Ordering::Acquire) {
                    u64::MAX
                } else {
                    finished
                }
            })
            .min()
            .unwrap_or(u64::MAX);
        let mut settled = None;
        while handed.front().is_some_and(|(number, _)| *number <= safe) {
            settled = handed.pop_front().map(|(_, cursor)| cursor);
        }
        settled
    }
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
    let dead_letter = Arc::new(data_dir.join("dead-letter.jsonl"));
    let progress = Arc::new(Progress {
        handed: Mutex::default(),
        enqueued: webhooks.iter().map(|_| AtomicU64::new(0)).collect(),
        finished: webhooks.iter().map(|_| AtomicU64::new(0)).collect(),
    });
    let mut queues = Vec::new();
    for (index, webhook) in webhooks.iter().enumerate() {
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
            Arc::clone(&progress),
            index,
        ));
        queues.push((webhook.clone(), sender));
    }
    let chain_id = client.genesis().chain_id.clone();
    let cursor_path = data_dir.join("alerts-cursor.json");
    let follower_feed = Arc::clone(&feed);
    tokio::spawn(async move {
        let saved = {
            let path = cursor_path.clone();
            tokio::task::spawn_blocking(move || read_cursor(&path))
                .await
                .unwrap_or_default()
        };
        // The last event handed on (what the stream resumes after) and the last saved.
        let mut seen = saved;
        let mut stored = saved;
        let mut number = 0u64;
        let mut pause = Duration::from_millis(200);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            match client.rule_events(seen.boot_id, seen.sequence).await {
                Ok(mut stream) => loop {
                    let next = tokio::select! {
                        next = stream.next() => next,
                        _ = tick.tick() => {
                            save(&progress, &cursor_path, &mut stored).await;
                            continue;
                        }
                    };
                    match next {
                        Ok(Some(event)) => {
                            pause = Duration::from_millis(200);
                            if event.boot_id == seen.boot_id && event.sequence <= seen.sequence {
                                continue;
                            }
                            if event.boot_id == seen.boot_id && event.sequence > seen.sequence + 1 {
                                tracing::warn!(
                                    missed = event.sequence - seen.sequence - 1,
                                    "the node no longer kept some rule events"
                                );
                            }
                            seen = Cursor {
                                boot_id: event.boot_id,
                                sequence: event.sequence,
                            };
                            number += 1;
                            let alert = alert_json(&event, &chain_id, &gateway_member);
                            follower_feed.push(alert.clone());
                            progress
                                .handed
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push_back((number, seen));
                            for (index, (webhook, queue)) in queues.iter().enumerate() {
                                if queue.try_send((number, alert.clone())).is_ok() {
                                    progress.enqueued[index].store(number, Ordering::Release);
                                } else {
                                    dead_letter_write(
                                        &dead_letter,
                                        webhook,
                                        0,
                                        "the webhook's queue is full",
                                        &alert,
                                    )
                                    .await;
                                }
                            }
                            if queues.is_empty() {
                                save(&progress, &cursor_path, &mut stored).await;
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

/// Saves the position every webhook has finished, when it moved.
async fn save(progress: &Progress, path: &Path, stored: &mut Cursor) {
    let Some(cursor) = progress.settled() else {
        return;
    };
    if cursor == *stored {
        return;
    }
    let path = path.to_owned();
    match tokio::task::spawn_blocking(move || write_cursor(&path, cursor)).await {
        Ok(Ok(())) => *stored = cursor,
        Ok(Err(error)) => tracing::warn!(%error, "the alerts position could not be saved"),
        Err(error) => tracing::warn!(%error, "the alerts position could not be saved"),
    }
}

async fn dead_letter_write(
    file: &Arc<PathBuf>,
    webhook: &WebhookConfig,
    attempts: u32,
    error: &str,
    alert: &Value,
) {
    use std::io::Write as _;
    let line = json!({
        "webhook": webhook.name,
        "url": webhook.url,
        "attempts": attempts,
        "last_error": error,
        "alert": alert,
    })
    .to_string();
    let path = Arc::clone(file);
    let text = format!("{line}\n");
    // One writer at a time keeps lines whole: appends of one short line are atomic, and the
    // workers write through the blocking pool one call each.
    let written = tokio::task::spawn_blocking(move || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&*path)
            .and_then(|mut file| {
                file.write_all(text.as_bytes())?;
                file.sync_data()
            })
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|result| result);
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
    mut queue: mpsc::Receiver<(u64, Value)>,
    dead_letter: Arc<PathBuf>,
    progress: Arc<Progress>,
    index: usize,
) {
    while let Some((number, alert)) = queue.recv().await {
        let wanted = webhook.config.kinds.is_empty()
            || webhook
                .config
                .kinds
                .iter()
                .any(|kind| Some(kind.as_str()) == alert["type"].as_str());
        if wanted {
            deliver_one(&webhook, &config, &alert, &dead_letter).await;
        }
        progress.finished[index].fetch_max(number, Ordering::AcqRel);
    }
}

/// Delivers one alert, retrying; after the last attempt, writes it to the dead-letter file.
async fn deliver_one(
    webhook: &Webhook,
    config: &AlertsConfig,
    alert: &Value,
    dead_letter: &Arc<PathBuf>,
) {
    let body = alert.to_string();
    let id = alert["id"].as_str().unwrap_or_default().to_owned();
    let mut backoff = Duration::from_millis(config.initial_backoff_ms);
    let mut last_error = String::new();
    for attempt in 1..=config.delivery_attempts.max(1) {
        match post(webhook, &id, &body).await {
            Ok(()) => return,
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
    dead_letter_write(
        dead_letter,
        &webhook.config,
        config.delivery_attempts,
        &last_error,
        alert,
    )
    .await;
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
    let authority = uri
        .authority()
        .map_or_else(|| host.clone(), |a| a.as_str().to_owned());
    // An IPv6 literal is bracketed in a URL, not in a socket address.
    let connect_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let request = hyper::Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(hyper::header::HOST, authority)
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
        let stream = tokio::net::TcpStream::connect((connect_host.as_str(), port))
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
    fn the_feed_keeps_the_last_alerts_and_pages_after_a_token_of_its_run() {
        let feed = Feed::new(2);
        for n in 0..3 {
            feed.push(json!({ "n": n }));
        }
        let (alerts, next) = feed.after(None, 10).unwrap();
        assert_eq!(alerts, [json!({"n": 1}), json!({"n": 2})]);
        let (alerts, again) = feed.after(Some(&next), 10).unwrap();
        assert!(alerts.is_empty());
        assert_eq!(again, next);
        feed.push(json!({ "n": 3 }));
        assert_eq!(feed.after(Some(&next), 10).unwrap().0, [json!({"n": 3})]);
        // A token of another run (the gateway restarted) reads from the oldest kept.
        let other = format!("{:016x}.1", feed.run ^ 1);
        assert_eq!(feed.after(Some(&other), 10).unwrap().0.len(), 2);
        assert!(feed.after(Some("not-a-token"), 10).is_err());
    }

    #[test]
    fn the_saved_position_waits_for_every_webhook() {
        let progress = Progress {
            handed: Mutex::default(),
            enqueued: vec![AtomicU64::new(3), AtomicU64::new(3)],
            finished: vec![AtomicU64::new(0), AtomicU64::new(0)],
        };
        for n in 1..=3 {
            progress.handed.lock().unwrap().push_back((
                n,
                Cursor {
                    boot_id: 9,
                    sequence: 10 + n,
                },
            ));
        }
        assert_eq!(progress.settled(), None);
        progress.finished[0].store(3, Ordering::Release);
        progress.finished[1].store(1, Ordering::Release);
        assert_eq!(progress.settled().map(|c| c.sequence), Some(11));
        progress.finished[1].store(3, Ordering::Release);
        assert_eq!(progress.settled().map(|c| c.sequence), Some(13));
        assert_eq!(progress.settled(), None);
    }

    #[test]
    fn an_alert_that_did_not_fit_a_full_queue_does_not_move_the_position_past_the_queue() {
        // Webhook 0 got 1 and 2 in its queue and finished only 1; 3 did not fit (it went to
        // the dead-letter file). The position stays at 1 until 2 is finished.
        let progress = Progress {
            handed: Mutex::default(),
            enqueued: vec![AtomicU64::new(2)],
            finished: vec![AtomicU64::new(1)],
        };
        for n in 1..=3 {
            progress.handed.lock().unwrap().push_back((
                n,
                Cursor {
                    boot_id: 9,
                    sequence: n,
                },
            ));
        }
        assert_eq!(progress.settled().map(|c| c.sequence), Some(1));
        progress.finished[0].store(2, Ordering::Release);
        assert_eq!(progress.settled().map(|c| c.sequence), Some(3));
        // No webhooks: everything handed on is settled.
        let none = Progress::default();
        none.handed.lock().unwrap().push_back((
            1,
            Cursor {
                boot_id: 9,
                sequence: 1,
            },
        ));
        assert_eq!(none.settled().map(|c| c.sequence), Some(1));
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
