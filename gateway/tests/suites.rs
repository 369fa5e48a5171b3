//! Every algorithm suite a genesis may choose works through the gateway: a document uploaded
//! on a SHA-256 chain and on an SM2/SM3 chain is notarized under the chain's hash, and its
//! receipt verifies through `/v1/verify` and offline.

use evidence_core::receipt::Receipt;
use evidence_gateway::Gateway;
use evidence_genesis::Suite;
use serde_json::json;

mod support;

use support::request;

async fn notarize_and_verify_on(suite: &str) {
    let fixture = support::start("gateway-suite", Suite::from_name(suite).unwrap()).await;
    let consortium = &fixture.consortium;
    let (config, token) = fixture.gateway_config("bureau");
    let gateway = Gateway::start(config).await.unwrap();
    let address = gateway.address();
    let content = b"a completion drawing".to_vec();
    let expected = consortium.genesis.suite.digest.hash(&content);
    let anchor = consortium.genesis.trust_anchor().unwrap();
    tokio::task::spawn_blocking(move || {
        let bearer = format!("Bearer {token}");
        let answer = request(
            address,
            "POST",
            "/v1/documents/upload?kind=completion-drawing&project_id=P-SUITE&document_id=D-1",
            &[("authorization", &bearer)],
            &content,
        );
        let (status, notarized) = (answer.status, answer.json());
        assert_eq!(status, 200, "{notarized}");
        assert_eq!(notarized["digest"], json!(expected.to_string()));
        let receipt = Receipt::from_json(&notarized["receipt"].to_string()).unwrap();
        evidence_core::receipt::verify_receipt(&expected, &receipt, &anchor).unwrap();
        let body = json!({"receipt": notarized["receipt"], "digest": expected.to_string()});
        let answer = request(
            address,
            "POST",
            "/v1/verify",
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            body.to_string().as_bytes(),
        );
        let (status, verdict) = (answer.status, answer.json());
        assert_eq!(
            (status, &verdict["valid"]),
            (200, &json!(true)),
            "{verdict}"
        );
    })
    .await
    .unwrap();
    gateway.shutdown().await;
    fixture.network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sha256_chain_notarizes_and_verifies_through_the_gateway() {
    notarize_and_verify_on("ed25519-sha256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sm2_sm3_chain_notarizes_and_verifies_through_the_gateway() {
    notarize_and_verify_on("sm").await;
}
