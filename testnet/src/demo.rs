//! `evidence-testnet demo`: a fresh network, the filing flow end to end, and the rejections a
//! court and an auditor rely on. Every step checks its outcome, so the demo doubles as a smoke
//! test: it fails loudly if the ledger does not behave as shown.

use std::path::{Path, PathBuf};

use evidence_client::{Client, ClientError, DocumentMeta, LookupQuery, VersionStatus, verify_file};
use evidence_core::entry::{Milestone, MilestoneClaim};
use evidence_core::verify::VerifyError;
use evidence_genesis::pki::ROLE_FILER_SYSTEM;
use evidence_genesis::read_key_file;
use thiserror::Error;

use crate::{Network, TestnetError, create_or_reuse};

/// Why the demo stopped.
#[derive(Debug, Error)]
pub enum DemoError {
    #[error(transparent)]
    Testnet(#[from] TestnetError),
    #[error("{step}: {error}")]
    Client {
        step: &'static str,
        error: ClientError,
    },
    #[error("{step}: expected {expected}, but {found}")]
    Unexpected {
        step: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

const PROJECT: &str = "SZ-2026-0001";

fn write(path: &Path, bytes: &[u8]) -> Result<(), DemoError> {
    std::fs::write(path, bytes).map_err(|source| DemoError::Io {
        path: path.to_owned(),
        source,
    })
}

fn step<T>(step: &'static str, result: Result<T, ClientError>) -> Result<T, DemoError> {
    result.map_err(|error| DemoError::Client { step, error })
}

/// Expects a refusal by the rule `reason`.
fn expect_refusal<T: std::fmt::Debug>(
    step: &'static str,
    expected: &'static str,
    result: Result<T, ClientError>,
) -> Result<String, DemoError> {
    match result {
        Err(ClientError::Refused(refusal)) if refusal.reason == expected => Ok(refusal.to_string()),
        other => Err(DemoError::Unexpected {
            step,
            expected,
            found: format!("{other:?}"),
        }),
    }
}

/// Runs the demo in `dir` (a new directory), printing each step. The network is stopped at the
/// end, whatever happens.
///
/// # Errors
/// A step did not behave as it should.
pub async fn run(dir: &Path, binary: &Path) -> Result<(), DemoError> {
    println!("1. A new four-member consortium under {}", dir.display());
    let (layout, _) = create_or_reuse(dir, crate::NODES_MIN)?;
    let genesis = layout.genesis.clone();
    let mut network = Network::start(layout, binary).await?;
    network.write_info()?;
    let info = network.info();
    for node in &info.nodes {
        println!("   {:<8} node at {}", node.member, node.api);
    }
    let result = steps(&network, &genesis, dir).await;
    println!("\nStopping the network.");
    network.stop();
    result
}

async fn steps(
    network: &Network,
    genesis: &evidence_genesis::Genesis,
    dir: &Path,
) -> Result<(), DemoError> {
    let info = network.info();
    let key = |member: &str| {
        read_key_file(&network.layout.filer_key_path(member)).map_err(TestnetError::from)
    };
    let options = |member: &str| network.layout.client_options(member, ROLE_FILER_SYSTEM);
    let bureau = step(
        "connecting as the bureau's filing system (TLS, with its filer-system certificate)",
        Client::connect_with(
            &info.nodes[0].api,
            Some(key("bureau")?),
            genesis.clone(),
            options("bureau")?,
        )
        .await,
    )?;
    let finance = step(
        "connecting as the finance bureau's payment system",
        Client::connect_with(
            &info.nodes[1].api,
            Some(key("finance")?),
            genesis.clone(),
            options("finance")?,
        )
        .await,
    )?;
    let documents = dir.join("documents");
    std::fs::create_dir_all(&documents).map_err(|source| DemoError::Io {
        path: documents.clone(),
        source,
    })?;

    println!("\n2. The bureau registers project {PROJECT}: 1,000,000.00 yuan in two milestones");
    let registration = step(
        "registering the project",
        bureau
            .register_project(
                PROJECT,
                100_000_000,
                vec![
                    Milestone {
                        id: "foundation".into(),
                        amount_minor: 40_000_000,
                    },
                    Milestone {
                        id: "completion".into(),
                        amount_minor: 60_000_000,
                    },
                ],
            )
            .await,
    )?;
    println!(
        "   registered as entry {} at height {}",
        registration.entry.index, registration.checkpoint.header.height
    );

    println!("\n3. Documents of each kind are notarized");
    let drawing = documents.join("completion-drawing-A1.pdf");
    write(&drawing, b"%PDF-1.7 completion drawing A1, revision 1\n")?;
    let report = documents.join("foundation-inspection.pdf");
    write(&report, b"%PDF-1.7 foundation inspection: passed\n")?;
    let transfer = documents.join("transfer-0001.json");
    write(
        &transfer,
        br#"{"from":"finance","to":"wage-account","amount_fen":30000000}"#,
    )?;
    let drawing_receipt = step(
        "notarizing the completion drawing",
        bureau
            .notarize(
                drawing.clone(),
                DocumentMeta::new("completion-drawing", PROJECT, "A1", "bureau-filing-system"),
            )
            .await,
    )?;
    let report_receipt = step(
        "notarizing the inspection report",
        bureau
            .notarize(
                report.clone(),
                DocumentMeta::new(
                    "inspection-report",
                    PROJECT,
                    "inspection-foundation",
                    "bureau-filing-system",
                )
                .with_claim(MilestoneClaim::Inspection {
                    milestone: "foundation".into(),
                    passed: true,
                }),
            )
            .await,
    )?;
    // The finance bureau's node checks the payment against its own state: it must hold the
    // inspection report's block first.
    step(
        "waiting for the finance node to hold the inspection report",
        finance
            .wait_for_height(
                report_receipt.checkpoint.header.height,
                std::time::Duration::from_secs(30),
            )
            .await,
    )?;
    let transfer_receipt = step(
        "notarizing the fund transfer",
        finance
            .notarize(
                transfer.clone(),
                DocumentMeta::new(
                    "fund-transfer",
                    PROJECT,
                    "transfer-0001",
                    "finance-payments",
                )
                .with_claim(MilestoneClaim::Payment {
                    milestone: "foundation".into(),
                    amount_minor: 30_000_000,
                }),
            )
            .await,
    )?;
    for (file, receipt) in [
        (&drawing, &drawing_receipt),
        (&report, &report_receipt),
        (&transfer, &transfer_receipt),
    ] {
        let path = receipt_path(file);
        write(&path, receipt.to_json().as_bytes())?;
        println!(
            "   {} -> entry {} at height {}, receipt {}",
            file.display(),
            receipt.entry.index,
            receipt.checkpoint.header.height,
            path.display()
        );
    }

    println!("\n4. Each file is verified offline against its receipt and the genesis file");
    for (file, receipt) in [
        (&drawing, &drawing_receipt),
        (&report, &report_receipt),
        (&transfer, &transfer_receipt),
    ] {
        let verdict =
            verify_file(file, receipt, genesis).map_err(|error| DemoError::Unexpected {
                step: "verifying offline",
                expected: "a valid receipt",
                found: error.to_string(),
            })?;
        println!(
            "   VALID {} {} v{} filed by {} for {}, certified by voting power {} of {}",
            verdict.anchor.kind,
            verdict.anchor.document_id,
            verdict.anchor.document_version,
            verdict.anchor.member,
            verdict.anchor.project_id,
            verdict.checkpoint.signed_power,
            verdict.checkpoint.total_power
        );
    }

    println!("\n5. One byte of the drawing is changed: the receipt no longer matches");
    let tampered = documents.join("completion-drawing-A1-tampered.pdf");
    let mut bytes = std::fs::read(&drawing).map_err(|source| DemoError::Io {
        path: drawing.clone(),
        source,
    })?;
    bytes[10] ^= 0x01;
    write(&tampered, &bytes)?;
    match verify_file(&tampered, &drawing_receipt, genesis) {
        Err(evidence_client::VerifyFileError::Invalid(
            error @ VerifyError::DigestMismatch { .. },
        )) => {
            println!("   INVALID, as it must be: {error}");
        }
        other => {
            return Err(DemoError::Unexpected {
                step: "verifying a tampered file",
                expected: "a digest mismatch",
                found: format!("{other:?}"),
            });
        }
    }

    println!("\n6. The ledger's rules refuse what the policy and the contract forbid");
    let message = expect_refusal(
        "the bureau anchoring a fund transfer",
        "kind-not-allowed-for-member",
        bureau
            .notarize(
                b"a payment the bureau may not record".to_vec(),
                DocumentMeta::new("fund-transfer", PROJECT, "transfer-by-bureau", "bureau")
                    .with_claim(MilestoneClaim::Payment {
                        milestone: "foundation".into(),
                        amount_minor: 1,
                    }),
            )
            .await,
    )?;
    println!("   the bureau may not anchor fund transfers: {message}");
    let message = expect_refusal(
        "paying more than the milestone allows",
        "milestone-overpayment",
        finance
            .notarize(
                b"transfer-0002: 150,000.00 yuan".to_vec(),
                DocumentMeta::new(
                    "fund-transfer",
                    PROJECT,
                    "transfer-0002",
                    "finance-payments",
                )
                .with_claim(MilestoneClaim::Payment {
                    milestone: "foundation".into(),
                    amount_minor: 15_000_000,
                }),
            )
            .await,
    )?;
    println!("   overpayment refused: {message}");
    let message = expect_refusal(
        "paying a milestone that has no passed inspection",
        "milestone-not-inspected",
        finance
            .notarize(
                b"transfer-0003: completion payment".to_vec(),
                DocumentMeta::new(
                    "fund-transfer",
                    PROJECT,
                    "transfer-0003",
                    "finance-payments",
                )
                .with_claim(MilestoneClaim::Payment {
                    milestone: "completion".into(),
                    amount_minor: 1_000_000,
                }),
            )
            .await,
    )?;
    println!("   payment before inspection refused: {message}");

    println!("\n7. A corrected drawing is a new version; nothing is deleted");
    let corrected = documents.join("completion-drawing-A1-rev2.pdf");
    write(&corrected, b"%PDF-1.7 completion drawing A1, revision 2\n")?;
    let corrected_receipt = step(
        "notarizing the corrected drawing",
        bureau
            .notarize(
                corrected.clone(),
                DocumentMeta::new("completion-drawing", PROJECT, "A1", "bureau-filing-system"),
            )
            .await,
    )?;
    let page = step(
        "looking the drawing up",
        bureau
            .lookup(
                &LookupQuery::Document {
                    project_id: PROJECT.into(),
                    document_id: "A1".into(),
                },
                &[],
                0,
            )
            .await,
    )?;
    for result in &page.results {
        if let Some(document) = result.entry.receipt.entry.anchor() {
            let status = match &result.status {
                VersionStatus::Current => "current".to_owned(),
                VersionStatus::Superseded(next) => {
                    format!("superseded by version {}", next.by_version)
                }
                VersionStatus::Revoked { reason, .. } => format!("revoked: {reason}"),
                VersionStatus::Unknown => "-".to_owned(),
            };
            println!(
                "   A1 version {} ({}), entry {}: {status}",
                document.body.document_version,
                document.body.digest,
                result.entry.receipt.entry.index
            );
        }
    }
    let versions = page.results.len();
    if versions != 2
        || corrected_receipt
            .entry
            .anchor()
            .map(|d| d.body.document_version)
            != Some(2)
    {
        return Err(DemoError::Unexpected {
            step: "looking up the drawing's versions",
            expected: "versions 1 and 2",
            found: format!("{versions} versions"),
        });
    }

    println!("\n8. An auditor checks that the log only grew");
    let (first, first_verified) = step(
        "fetching the registration's checkpoint",
        bureau
            .checkpoint(Some(registration.checkpoint.header.height))
            .await,
    )?;
    let (latest, latest_verified) = step(
        "fetching the latest checkpoint",
        finance.checkpoint(None).await,
    )?;
    step(
        "checking consistency",
        finance.consistency(&first, &latest).await,
    )?;
    println!(
        "   the log at height {} ({} entries) is a prefix of the log at height {} ({} entries)",
        first_verified.height,
        first_verified.log_size,
        latest_verified.height,
        latest_verified.log_size
    );
    println!("\nThe demo completed: every outcome was as expected.");
    Ok(())
}

fn receipt_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".receipt.json");
    file.with_file_name(name)
}
