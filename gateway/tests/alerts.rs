//! Payment alerts end to end: a four-member network on this machine, the finance bureau's
//! gateway in front of its node with two webhooks — a receiver that checks each delivery's
//! signature, and an address where nothing listens — and payments filed through the gateway.
//! A payment that leaves a milestone near its cap, and one that would overpay it, reach the
//! receiver signed; the unreachable webhook's alerts land in the dead-letter file; the feed
//! lists both.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use evidence_client::{Client, ClientOptions, DocumentMeta, TlsOptions};
use evidence_core::entry::{Milestone, MilestoneClaim};
use evidence_gateway::{AlertsConfig, Gateway, SIGNATURE_HEADER, WebhookConfig, signature};
use evidence_genesis::Suite;
use evidence_genesis::pki::ROLE_FILER_SYSTEM;
use evidence_node::local::{caller_files, free_port};
use serde_json::{Value, json};

mod support;

use support::write_private;

const SECRET: &str = "a shared webhook secret, 40 bytes long..";

/// A delivery as the receiver saw it: its headers (lower-case names) and body.
type Delivery = (Vec<(String, String)>, Vec<u8>);

/// A webhook receiver: answers 200 to each POST and hands on its headers and body.
fn receiver() -> (SocketAddr, mpsc::Receiver<Delivery>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (sender, received) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut headers = Vec::new();
            let mut line = String::new();
            // The request line, then headers up to the blank line.
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                }
            }
            let length: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let mut stream: TcpStream = reader.into_inner();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if sender.send((headers, body)).is_err() {
                return;
            }
        }
    });
    (address, received)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// A request with the token and a JSON body; the answer's status and JSON body.
fn request(address: SocketAddr, method: &str, path: &str, token: &str, body: &str) -> (u16, Value) {
    let bearer = format!("Bearer {token}");
    let answer = support::request(
        address,
        method,
        path,
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    );
    (
        answer.status,
        serde_json::from_slice(&answer.body).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_overpayment_and_a_milestone_near_its_cap_reach_a_webhook_signed() {
    let fixture = support::start("gateway-alerts", Suite::default()).await;
    let (consortium, dir) = (&fixture.consortium, &fixture.dir);

    // The bureau registers the project and files a passed inspection of its milestone.
    let bureau_caller = caller_files(dir.path(), "bureau", ROLE_FILER_SYSTEM);
    let bureau = Client::connect_with(
        &fixture.endpoint("bureau"),
        Some(fixture.filer_key("bureau")),
        consortium.genesis.clone(),
        ClientOptions {
            tls: TlsOptions::from_files(
                Some(&bureau_caller.certificate),
                Some(&bureau_caller.private_key),
                None,
            )
            .unwrap(),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    bureau
        .register_project(
            "P-ALERT",
            1_000,
            vec![Milestone {
                id: "M1".into(),
                amount_minor: 1_000,
            }],
        )
        .await
        .unwrap();
    let inspection = bureau
        .notarize(
            b"inspection of M1: passed".to_vec(),
            DocumentMeta::new(
                "inspection-report",
                "P-ALERT",
                "INSPECTION-M1",
                "bureau-filing",
            )
            .with_claim(MilestoneClaim::Inspection {
                milestone: "M1".into(),
                passed: true,
            }),
        )
        .await
        .unwrap();

    // The finance bureau's gateway, with a receiver and a webhook nobody answers.
    let (receiver_address, received) = receiver();
    let secret_file = dir.path().join("webhook.secret");
    write_private(&secret_file, SECRET);
    let dead_port = free_port().unwrap();
    let (mut config, token) = fixture.gateway_config("finance");
    let data_dir = config.data_dir.clone();
    config.alerts = AlertsConfig {
        delivery_attempts: 2,
        initial_backoff_ms: 10,
        ..AlertsConfig::default()
    };
    config.webhooks = vec![
        WebhookConfig {
            name: "finance-alerts".into(),
            url: format!("http://{receiver_address}/alerts"),
            secret_file: secret_file.clone(),
            kinds: Vec::new(),
        },
        WebhookConfig {
            name: "nobody-listens".into(),
            url: format!("http://127.0.0.1:{dead_port}/alerts"),
            secret_file,
            kinds: Vec::new(),
        },
    ];
    let gateway = Gateway::start(config).await.unwrap();
    let address = gateway.address();

    // The finance node must hold the inspection before a payment can follow it.
    let inspection_height = inspection.checkpoint.header.height;
    let token_for_http = token.clone();
    let answers = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (_, health) = request(address, "GET", "/v1/health", &token_for_http, "");
            if health["node_height"].as_u64().unwrap_or(0) >= inspection_height {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the finance node lags"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let pay = |document_id: &str, amount: u64| {
            let body = json!({"documents": [{
                "kind": "fund-transfer", "project_id": "P-ALERT", "document_id": document_id,
                "digest": format!("blake3:{}", hex::encode([amount as u8; 32])),
                "claim": {"type": "payment", "milestone": "M1", "amount_minor": amount},
            }]});
            request(
                address,
                "POST",
                "/v1/documents",
                &token_for_http,
                &body.to_string(),
            )
        };
        // 950 of 1,000: accepted, and past the 90 % warning line.
        let (status, paid) = pay("PAY-1", 950);
        assert_eq!(status, 200, "{paid}");
        // 100 more would overpay: refused, with the ledger's rule.
        let (status, refused) = pay("PAY-2", 100);
        assert_eq!(
            (status, refused["code"].as_str()),
            (422, Some("milestone-overpayment"))
        );
        (paid, refused)
    })
    .await
    .unwrap();
    let _ = answers;

    // Both alerts reach the receiver, in order, each signed with the shared secret.
    let mut alerts = Vec::new();
    for _ in 0..2 {
        let (headers, body) = tokio::task::block_in_place(|| {
            received
                .recv_timeout(Duration::from_secs(30))
                .expect("an alert")
        });
        let signed = header(&headers, SIGNATURE_HEADER);
        let timestamp: u64 = signed
            .strip_prefix("t=")
            .and_then(|rest| rest.split(',').next())
            .and_then(|t| t.parse().ok())
            .unwrap();
        assert_eq!(signed, signature(SECRET.as_bytes(), timestamp, &body));
        let alert: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            header(&headers, "evidence-event-id"),
            alert["id"].as_str().unwrap()
        );
        alerts.push(alert);
    }
    assert_eq!(alerts[0]["type"], json!("milestone-near-cap"));
    assert_eq!(
        (&alerts[0]["paid_minor"], &alerts[0]["cap_minor"]),
        (&json!(950), &json!(1_000))
    );
    assert_eq!(alerts[1]["type"], json!("payment-refused"));
    assert_eq!(alerts[1]["code"], json!("milestone-overpayment"));
    assert_eq!(
        (
            &alerts[1]["amount_minor"],
            &alerts[1]["paid_minor"],
            &alerts[1]["document_id"]
        ),
        (&json!(100), &json!(950), &json!("PAY-2"))
    );

    // The feed lists them; the unreachable webhook's copies are in the dead-letter file.
    let feed =
        tokio::task::spawn_blocking(move || request(address, "GET", "/v1/alerts", &token, ""))
            .await
            .unwrap();
    assert_eq!(feed.0, 200);
    let listed: Vec<&str> = feed.1["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["milestone-near-cap", "payment-refused"]);
    let dead_letter = data_dir.join("dead-letter.jsonl");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let lines = loop {
        let lines: Vec<Value> = std::fs::read_to_string(&dead_letter)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        if lines.len() == 2 || std::time::Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l["webhook"] == json!("nobody-listens")
        && l["attempts"] == json!(2)
        && l["last_error"].as_str().unwrap().contains("connect")));
    assert_eq!(lines[1]["alert"]["code"], json!("milestone-overpayment"));

    gateway.shutdown().await;
    fixture.network.shutdown().await;
}
