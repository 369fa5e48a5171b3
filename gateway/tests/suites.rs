//! Every algorithm suite a genesis may choose works through the gateway: a document uploaded
//! on a SHA-256 chain and on an SM2/SM3 chain is notarized under the chain's hash, and its
//! receipt verifies through `/v1/verify` and offline.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use evidence_core::receipt::Receipt;
use evidence_gateway::{AlertsConfig, Gateway, GatewayConfig, Limits, NodeTls, TokenEntry};
use evidence_genesis::pki::ROLE_FILER_SYSTEM;
use evidence_genesis::{Suite, default_consortium_with_suite};
use evidence_node::app::now_ms;
use evidence_node::local::{LocalNetwork, caller_files, write_homes};
use serde_json::{Value, json};

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

fn request(
    address: SocketAddr,
    path: &str,
    token: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Value) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\nauthorization: Bearer \
         {token}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

async fn notarize_and_verify_on(suite: &str) {
    let suite = Suite::from_name(suite).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let consortium = default_consortium_with_suite(
        "gateway-suite",
        now_ms() - 60_000,
        suite,
        &mut rand_core::OsRng,
    );
    let homes = write_homes(dir.path(), &consortium, |_, config| {
        config.metrics.enabled = false;
    })
    .unwrap();
    let network = LocalNetwork::start(consortium.genesis.clone(), homes)
        .await
        .unwrap();
    let genesis_path = dir.path().join("genesis.json");
    std::fs::write(&genesis_path, consortium.genesis.to_json()).unwrap();
    let key_path = dir.path().join("bureau-filer.key");
    let filer = &consortium
        .filer_keys
        .iter()
        .find(|(m, _)| m == "bureau")
        .unwrap()
        .1;
    write_private(&key_path, &filer.to_key_file());
    let caller = caller_files(dir.path(), "bureau", ROLE_FILER_SYSTEM);
    let (token, entry) = TokenEntry::generate("filing-system");
    let gateway = Gateway::start(GatewayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        genesis: genesis_path,
        node: network.endpoints()[0].clone(),
        filer_key: key_path,
        source_system: "bureau-filing".into(),
        data_dir: dir.path().join("gateway-data"),
        tls: None,
        node_tls: Some(NodeTls {
            certificate: caller.certificate,
            private_key: caller.private_key,
            extra_roots: None,
        }),
        limits: Limits::default(),
        tokens: vec![entry],
        alerts: AlertsConfig::default(),
        webhooks: Vec::new(),
    })
    .await
    .unwrap();
    let address = gateway.address();
    let content = b"a completion drawing".to_vec();
    let expected = consortium.genesis.suite.digest.hash(&content);
    let anchor = consortium.genesis.trust_anchor().unwrap();
    tokio::task::spawn_blocking(move || {
        let (status, notarized) = request(
            address,
            "/v1/documents/upload?kind=completion-drawing&project_id=P-SUITE&document_id=D-1",
            &token,
            "application/octet-stream",
            &content,
        );
        assert_eq!(status, 200, "{notarized}");
        assert_eq!(notarized["digest"], json!(expected.to_string()));
        let receipt = Receipt::from_json(&notarized["receipt"].to_string()).unwrap();
        evidence_core::receipt::verify_receipt(&expected, &receipt, &anchor).unwrap();
        let body = json!({"receipt": notarized["receipt"], "digest": expected.to_string()});
        let (status, verdict) = request(
            address,
            "/v1/verify",
            &token,
            "application/json",
            body.to_string().as_bytes(),
        );
        assert_eq!(
            (status, &verdict["valid"]),
            (200, &json!(true)),
            "{verdict}"
        );
    })
    .await
    .unwrap();
    gateway.shutdown().await;
    network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sha256_chain_notarizes_and_verifies_through_the_gateway() {
    notarize_and_verify_on("ed25519-sha256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sm2_sm3_chain_notarizes_and_verifies_through_the_gateway() {
    notarize_and_verify_on("sm").await;
}
