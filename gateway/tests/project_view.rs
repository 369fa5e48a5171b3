//! The project view as a project manager uses it: a four-member network on this machine, a
//! project registered with three milestones, inspection reports and payments filed against
//! them, the finance bureau's gateway in front of its node — and the page the gateway serves at
//! `/projects/{id}`, opened in real headless Chromium by `web/test/project.mjs`, which checks
//! the milestones, the paid-versus-cap bars (in a screenshot), that every receipt verified in
//! the browser, and that what a lying gateway could do — alter a receipt, slip in another
//! project's payment, list one twice, serve another genesis file — shows as failing.
//!
//! Needs Node.js, the npm packages of `web/` and Debian's chromium: `scripts/test.sh` installs
//! them (through `scripts/test-web.sh`) before running this test. `SKIP_WEB_TESTS=1` skips it.

use std::path::Path;
use std::time::Duration;

use evidence_client::{Client, ClientOptions, DocumentMeta, TlsOptions};
use evidence_core::entry::{Milestone, MilestoneClaim};
use evidence_gateway::Gateway;
use evidence_genesis::Suite;
use evidence_genesis::pki::ROLE_FILER_SYSTEM;
use evidence_node::local::caller_files;

mod support;

const PROJECT: &str = "SZ-2026-0001";
/// Another project with a milestone of the same name: its filings must not show under the first.
const OTHER_PROJECT: &str = "SZ-2026-0002";

async fn member_client(fixture: &support::Fixture, member: &str) -> Client {
    let caller = caller_files(fixture.dir.path(), member, ROLE_FILER_SYSTEM);
    Client::connect_with(
        &fixture.endpoint(member),
        Some(fixture.filer_key(member)),
        fixture.consortium.genesis.clone(),
        ClientOptions {
            tls: TlsOptions::from_files(Some(&caller.certificate), Some(&caller.private_key), None)
                .unwrap(),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap()
}

fn inspection(project: &str, document_id: &str, milestone: &str, passed: bool) -> DocumentMeta {
    DocumentMeta::new("inspection-report", project, document_id, "bureau-filing").with_claim(
        MilestoneClaim::Inspection {
            milestone: milestone.into(),
            passed,
        },
    )
}

fn payment(project: &str, document_id: &str, milestone: &str, amount_minor: u64) -> DocumentMeta {
    DocumentMeta::new("fund-transfer", project, document_id, "finance-payments").with_claim(
        MilestoneClaim::Payment {
            milestone: milestone.into(),
            amount_minor,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_project_view_shows_milestones_and_payments_verified_in_the_browser() {
    if std::env::var("SKIP_WEB_TESTS").as_deref() == Ok("1") {
        eprintln!("SKIP_WEB_TESTS=1: the project view's browser test is skipped");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    assert!(
        root.join("web/node_modules/playwright-core").exists(),
        "the web packages are missing: run scripts/install-web-deps.sh (scripts/test.sh does), \
         or set SKIP_WEB_TESTS=1"
    );
    let fixture = support::start("gateway-project-view", Suite::default()).await;

    // The bureau registers the project (three milestones, 10,000.00 yuan in all) and files the
    // inspections: foundation and structure passed, completion failed; and a drawing with no
    // milestone.
    let bureau = member_client(&fixture, "bureau").await;
    bureau
        .register_project(
            PROJECT,
            1_000_000,
            vec![
                Milestone {
                    id: "foundation".into(),
                    amount_minor: 400_000,
                },
                Milestone {
                    id: "structure".into(),
                    amount_minor: 500_000,
                },
                Milestone {
                    id: "completion".into(),
                    amount_minor: 100_000,
                },
            ],
        )
        .await
        .unwrap();
    bureau
        .register_project(
            OTHER_PROJECT,
            100_000,
            vec![Milestone {
                id: "foundation".into(),
                amount_minor: 100_000,
            }],
        )
        .await
        .unwrap();
    for (project, document_id, milestone, passed) in [
        (PROJECT, "INS-FOUNDATION", "foundation", true),
        (PROJECT, "INS-STRUCTURE", "structure", true),
        (PROJECT, "INS-COMPLETION", "completion", false),
        (OTHER_PROJECT, "INS-P2-FOUNDATION", "foundation", true),
    ] {
        bureau
            .notarize(
                format!("{project} {document_id}: {passed}").into_bytes(),
                inspection(project, document_id, milestone, passed),
            )
            .await
            .unwrap();
    }
    let last = bureau
        .notarize(
            b"completion drawing sheet 1".to_vec(),
            DocumentMeta::new("completion-drawing", PROJECT, "DRW-S01", "bureau-filing"),
        )
        .await
        .unwrap();

    // The finance bureau pays: the foundation in full (two transfers), the structure to 92 %.
    let finance = member_client(&fixture, "finance").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while finance.status().await.unwrap().height < last.checkpoint.header.height {
        assert!(
            std::time::Instant::now() < deadline,
            "the finance node lags"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (project, document_id, milestone, amount) in [
        (PROJECT, "PAY-FOUNDATION-1", "foundation", 250_000),
        (PROJECT, "PAY-FOUNDATION-2", "foundation", 150_000),
        (PROJECT, "PAY-STRUCTURE-1", "structure", 460_000),
        (OTHER_PROJECT, "PAY-P2-FOUNDATION-1", "foundation", 50_000),
    ] {
        finance
            .notarize(
                format!("{project} {document_id}: {amount}").into_bytes(),
                payment(project, document_id, milestone, amount),
            )
            .await
            .unwrap();
    }

    // The finance bureau's gateway serves the page; the script opens it in Chromium.
    let (config, token) = fixture.gateway_config("finance");
    let gateway = Gateway::start(config).await.unwrap();
    let script = root.join("web/test/project.mjs");
    let output = tokio::process::Command::new("node")
        .arg(&script)
        .arg(format!("http://{}", gateway.address()))
        .arg(&token)
        .arg(PROJECT)
        .arg(OTHER_PROJECT)
        .arg(fixture.consortium.genesis.hash().to_string())
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the project view's browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    gateway.shutdown().await;
    fixture.network.shutdown().await;
}
