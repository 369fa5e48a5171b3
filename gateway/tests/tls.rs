//! The gateway over HTTPS with client certificates: a caller holding a `filer-system`
//! certificate of the member's CA notarizes without an API token; the same CA's auditor
//! certificate is refused (its role may not file); a caller without one is refused at the
//! handshake. The client is Python's standard library (`tls_client.py`).

use std::path::Path;

use evidence_gateway::{Gateway, GatewayTls};
use evidence_genesis::Suite;
use evidence_genesis::pki::{CertificateRequest, ROLE_AUDITOR, ROLE_FILER_SYSTEM};
use evidence_node::app::now_ms;
use evidence_node::local::{caller_files, write_certificate};

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_with_a_member_certificate_notarize_over_https_and_others_are_refused() {
    let fixture = support::start("gateway-tls", Suite::default()).await;
    let (consortium, dir) = (&fixture.consortium, &fixture.dir);
    let (mut config, _) = fixture.gateway_config("bureau");
    // The gateway's own certificate, from the bureau's CA, for 127.0.0.1; callers must hold
    // a certificate of the same CA.
    let server = write_certificate(
        consortium,
        "bureau",
        &CertificateRequest {
            name: "bureau-gateway",
            role: "filing-gateway",
            hosts: &["127.0.0.1".to_owned()],
            not_before_ms: now_ms() - 86_400_000,
            validity_days: 30,
        },
        &dir.path().join("gateway-tls"),
        "gateway",
    )
    .unwrap();
    let bureau_ca = dir.path().join("bureau-ca.pem");
    let member = consortium
        .genesis
        .members
        .iter()
        .find(|m| m.id == "bureau")
        .unwrap();
    std::fs::write(&bureau_ca, member.tls_ca.to_pem()).unwrap();
    let caller = caller_files(dir.path(), "bureau", ROLE_FILER_SYSTEM);
    // The same CA's auditor certificate: it verifies, but its role may not file.
    let auditor = caller_files(dir.path(), "bureau", ROLE_AUDITOR);
    config.tls = Some(GatewayTls {
        certificate: server.certificate,
        private_key: server.private_key,
        client_ca: Some(bureau_ca.clone()),
        client_roles: vec![ROLE_FILER_SYSTEM.to_owned()],
    });
    // No token: the certificate identifies the caller.
    config.tokens = Vec::new();
    let gateway = Gateway::start(config).await.unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls_client.py");
    let output = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(format!("https://{}", gateway.address()))
        .arg(&bureau_ca)
        .arg(&caller.certificate)
        .arg(&caller.private_key)
        .arg(consortium.genesis.suite.digest.name())
        .arg(&auditor.certificate)
        .arg(&auditor.private_key)
        .output()
        .await
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the HTTPS client failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    gateway.shutdown().await;
    fixture.network.shutdown().await;
}
