//! Notarize one file, as a filing system would, and verify its receipt offline.
//!
//! With a testnet running (`scripts/testnet.sh up`, see README.md):
//!
//! ```text
//! cargo run -p evidence-client --example notarize -- \
//!     testnet-data/testnet.json testnet-data/filers/bureau.key some-drawing.pdf
//! ```

use std::path::PathBuf;

use evidence_client::{Client, DocumentMeta, verify_file};
use evidence_genesis::{Genesis, read_key_file};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let usage = "usage: notarize TESTNET_JSON FILER_KEY FILE";
    let testnet = args.next().ok_or(usage)?;
    let key = args.next().ok_or(usage)?;
    let file = args.next().ok_or(usage)?;

    // The testnet's description names the genesis file and each member's endpoint.
    let description: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&testnet)?)?;
    let genesis_path = description["genesis"]
        .as_str()
        .ok_or("no genesis in the testnet file")?;
    let endpoint = description["nodes"][0]["api"]
        .as_str()
        .ok_or("no node in the testnet file")?;
    let genesis = Genesis::load(genesis_path.as_ref())?;

    let client = Client::connect(endpoint, Some(read_key_file(&key)?), genesis.clone()).await?;
    let document_id = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let meta = DocumentMeta::new(
        "completion-drawing",
        "SZ-2026-0001",
        document_id,
        "example-filing-system",
    );
    let receipt = client.notarize(file.clone(), meta).await?;
    println!(
        "anchored as entry {} at height {}",
        receipt.entry.index, receipt.checkpoint.header.height
    );

    // What a court does years later: the file, the receipt and the genesis file, no network.
    let verdict = verify_file(&file, &receipt, &genesis)?;
    println!(
        "verified offline: {} version {} of project {}, certified by voting power {} of {}",
        verdict.anchor.document_id,
        verdict.anchor.document_version,
        verdict.anchor.project_id,
        verdict.checkpoint.signed_power,
        verdict.checkpoint.total_power
    );
    Ok(())
}
