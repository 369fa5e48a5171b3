//! What the fuzz targets share: a fixed consortium (its trust anchor is what fuzzed receipts,
//! checkpoints and certificates are verified against), a valid receipt to mutate, and small
//! helpers.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::sync::LazyLock;

use evidence_core::checkpoint::TrustAnchor;
use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::encoding::Encode as _;
use evidence_core::receipt::{Receipt, verify_receipt};

pub use common::CHAIN_ID;

pub const ALGORITHMS: [HashAlgorithm; 3] = [
    HashAlgorithm::Blake3,
    HashAlgorithm::Sha256,
    HashAlgorithm::Sm3,
];

/// A chain of two certified blocks and a receipt for a document in the middle of a batch, so
/// that both the log inclusion path and the batch path are non-empty.
#[derive(Debug)]
pub struct Fixture {
    pub trust_anchor: TrustAnchor,
    pub receipt: Receipt,
    /// The digest of the receipt's document.
    pub digest: Digest,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let mut chain = common::TestChain::new(0x5eed);
    let body = chain.anchor_body("bureau", "completion-drawing", "DRW-1", b"sheet 1");
    let records = chain.batch("bureau", vec![body]);
    chain.commit_block(records);
    let documents: [&[u8]; 3] = [b"report a", b"report b", b"report c"];
    let bodies = documents
        .iter()
        .enumerate()
        .map(|(i, doc)| chain.anchor_body("bureau", "inspection-report", &format!("INS-{i}"), doc))
        .collect();
    let records = chain.batch("bureau", bodies);
    let checkpoint = chain.commit_block(records);
    let receipt = chain.receipt(2, &checkpoint);
    let digest = chain.algorithm.hash(documents[1]);
    verify_receipt(&digest, &receipt, &chain.trust_anchor).expect("fixture receipt verifies");
    Fixture {
        trust_anchor: chain.trust_anchor,
        receipt,
        digest,
    }
});

pub fn fixture() -> &'static Fixture {
    &FIXTURE
}

/// The receipt's four parts as canonical bytes: entry, inclusion proof, header, certificate.
pub fn receipt_parts(receipt: &Receipt) -> [Vec<u8>; 4] {
    [
        receipt.entry.to_canonical_bytes(),
        receipt.inclusion_proof.to_canonical_bytes(),
        receipt.checkpoint.header.to_canonical_bytes(),
        receipt.checkpoint.certificate.to_canonical_bytes(),
    ]
}

/// The receipt JSON form (SPEC.md §8.1) over raw parts, which need not decode.
pub fn receipt_json(parts: &[Vec<u8>; 4]) -> String {
    format!(
        r#"{{"type":"evidence-receipt","version":1,"entry":"{}","inclusion_proof":"{}","header":"{}","certificate":"{}"}}"#,
        hex::encode(&parts[0]),
        hex::encode(&parts[1]),
        hex::encode(&parts[2]),
        hex::encode(&parts[3]),
    )
}

/// Applies edits to the receipt parts. Each 4-byte group of `edits` is one edit:
/// `[selector, position high, position low, value]`; the selector's low two bits pick the part,
/// the next two the operation (overwrite twice as likely as insert or delete).
pub fn apply_edits(parts: &mut [Vec<u8>; 4], edits: &[u8]) {
    for edit in edits.chunks_exact(4) {
        let part = &mut parts[usize::from(edit[0] & 3)];
        let position = usize::from(u16::from_be_bytes([edit[1], edit[2]]));
        let value = edit[3];
        match (edit[0] >> 2) & 3 {
            0 | 1 if !part.is_empty() => {
                let at = position % part.len();
                part[at] = value;
            }
            2 => {
                let at = position % (part.len() + 1);
                part.insert(at, value);
            }
            3 if !part.is_empty() => {
                let at = position % part.len();
                part.remove(at);
            }
            _ => {}
        }
    }
}
