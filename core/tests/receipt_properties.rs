//! Property tests of receipts over random chains: random blocks of random batches (with
//! revocations and registrations in between), random quorums, all three hash algorithms.
//!
//! * Every receipt, against the checkpoint that sequenced its entry and against every later
//!   one, verifies (or, for an entry that is not an anchor, fails as `not-an-anchor`), with and
//!   without the checkpoint cache.
//! * Every single-bit flip of any decoded part of a receipt (entry, inclusion proof, header,
//!   certificate) is rejected, at decoding or at a verification step that fits the part.
//! * Changing any byte of the document gives `digest-mismatch`.
//!
//! Case counts are kept small so that a debug build runs this in seconds.

mod common;

use common::TestChain;
use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::encoding::{Decode, Encode};
use evidence_core::receipt::{Receipt, Verifier, verify_receipt};
use evidence_core::verify::VerifyError;
use proptest::prelude::*;
use proptest::sample::Index;

/// The filers that may anchor, and a kind each may anchor.
const FILERS: [(&str, &str); 2] = [
    ("bureau", "completion-drawing"),
    ("finance", "fund-transfer"),
];

const ALGORITHMS: [HashAlgorithm; 3] = [
    HashAlgorithm::Blake3,
    HashAlgorithm::Sha256,
    HashAlgorithm::Sm3,
];

/// One record (or batch of records) of a block.
#[derive(Debug, Clone)]
enum Item {
    /// A batch by filer `filer` of these documents, their digests under `digest`.
    Batch {
        filer: usize,
        digest: usize,
        documents: Vec<Vec<u8>>,
    },
    Registration,
    Revocation,
}

#[derive(Debug, Clone)]
struct BlockPlan {
    items: Vec<Item>,
    /// Genesis indices of the validators that certify the block, in certificate order.
    signers: Vec<usize>,
}

fn item() -> impl Strategy<Value = Item> {
    let batch = (
        0..FILERS.len(),
        0..ALGORITHMS.len(),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..7),
    )
        .prop_map(|(filer, digest, documents)| Item::Batch {
            filer,
            digest,
            documents,
        });
    prop_oneof![
        6 => batch,
        1 => Just(Item::Registration),
        1 => Just(Item::Revocation),
    ]
}

/// Three or four of the four validators, in any order: always a quorum.
fn quorum() -> impl Strategy<Value = Vec<usize>> {
    (Just(vec![0usize, 1, 2, 3]).prop_shuffle(), 3usize..=4).prop_map(|(mut signers, n)| {
        signers.truncate(n);
        signers
    })
}

fn block() -> impl Strategy<Value = BlockPlan> {
    (prop::collection::vec(item(), 0..4), quorum())
        .prop_map(|(items, signers)| BlockPlan { items, signers })
}

fn blocks() -> impl Strategy<Value = Vec<BlockPlan>> {
    prop::collection::vec(block(), 1..4)
}

/// A chain built from a plan, and each entry's document (`None` for non-anchors).
struct Built {
    chain: TestChain,
    documents: Vec<Option<Vec<u8>>>,
}

fn build(seed: u64, algorithm: usize, plan: &[BlockPlan]) -> Built {
    let mut chain = TestChain::with_algorithm(seed, ALGORITHMS[algorithm]);
    let mut documents = Vec::new();
    for block in plan {
        let mut records = Vec::new();
        for item in &block.items {
            let n = documents.len();
            match item {
                Item::Batch {
                    filer,
                    digest,
                    documents: batch,
                } => {
                    let (member, kind) = FILERS[*filer];
                    let bodies = batch
                        .iter()
                        .enumerate()
                        .map(|(i, document)| {
                            let mut body =
                                chain.anchor_body(member, kind, &format!("DOC-{n}-{i}"), document);
                            body.digest = ALGORITHMS[*digest].hash(document);
                            body
                        })
                        .collect();
                    records.extend(chain.batch(member, bodies));
                    documents.extend(batch.iter().cloned().map(Some));
                }
                Item::Registration => {
                    let project = format!("project-{n}");
                    records.push(chain.registration("bureau", &project, &[("m1", 100)]));
                    documents.push(None);
                }
                Item::Revocation => {
                    let revoked = chain.anchor_body("bureau", "completion-drawing", "X", b"x");
                    records.push(chain.revocation("bureau", &revoked, "filed in error"));
                    documents.push(None);
                }
            }
        }
        chain.commit_block_signed_by(records, &block.signers);
    }
    Built { chain, documents }
}

/// The digest a verifier computes for `document` when checking `receipt`.
fn digest_for(receipt: &Receipt, document: &[u8]) -> Digest {
    receipt
        .entry
        .anchor()
        .unwrap()
        .body
        .digest
        .algorithm
        .hash(document)
}

/// Every (entry, checkpoint) pair whose checkpoint includes the entry.
fn receipt_pairs(chain: &TestChain) -> Vec<(u64, usize)> {
    let mut pairs = Vec::new();
    for (c, checkpoint) in chain.checkpoints.iter().enumerate() {
        for index in 0..checkpoint.header.log_size {
            pairs.push((index, c));
        }
    }
    pairs
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: common::proptest_cases(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_receipt_of_a_random_chain_verifies(
        seed in any::<u64>(),
        algorithm in 0..ALGORITHMS.len(),
        plan in blocks(),
    ) {
        let Built { chain, documents } = build(seed, algorithm, &plan);
        let mut verifier = Verifier::new(chain.trust_anchor.clone());
        for (index, c) in receipt_pairs(&chain) {
            let checkpoint = &chain.checkpoints[c];
            let receipt = chain.receipt(index, checkpoint);
            let entry = &chain.entries[index as usize];
            let digest = documents[index as usize]
                .as_ref()
                .map_or(chain.algorithm.hash(b""), |d| digest_for(&receipt, d));
            let direct = verify_receipt(&digest, &receipt, &chain.trust_anchor);
            prop_assert_eq!(&verifier.verify_receipt(&digest, &receipt), &direct);
            match (&documents[index as usize], direct) {
                (Some(_), Ok(verdict)) => {
                    prop_assert_eq!(&verdict.anchor, &entry.anchor().unwrap().body);
                    prop_assert_eq!(verdict.entry_index, index);
                    prop_assert_eq!(verdict.sequenced_height, entry.height);
                    prop_assert_eq!(verdict.checkpoint.height, checkpoint.header.height);
                    prop_assert_eq!(verdict.checkpoint.log_size, checkpoint.header.log_size);
                    let signers = plan[c].signers.len() as u64;
                    prop_assert_eq!(verdict.checkpoint.signed_power, signers);
                    prop_assert_eq!(verdict.signers, checkpoint.certificate.signers());
                }
                (None, Err(VerifyError::NotAnAnchor)) => {}
                (document, outcome) => {
                    prop_assert!(false, "entry {index} ({document:?}): {outcome:?}");
                }
            }
            // The JSON form gives back the same receipt.
            prop_assert_eq!(&Receipt::from_json(&receipt.to_json()).unwrap(), &receipt);
        }
    }

    #[test]
    fn any_changed_byte_of_the_document_is_a_digest_mismatch(
        seed in any::<u64>(),
        algorithm in 0..ALGORITHMS.len(),
        plan in blocks(),
        pick in any::<Index>(),
        xor in 1u8..,
    ) {
        let Built { chain, documents } = build(seed, algorithm, &plan);
        let anchors: Vec<(u64, usize)> = receipt_pairs(&chain)
            .into_iter()
            .filter(|(index, _)| documents[*index as usize].is_some())
            .collect();
        prop_assume!(!anchors.is_empty());
        let (index, c) = *pick.get(&anchors);
        let receipt = chain.receipt(index, &chain.checkpoints[c]);
        let document = documents[index as usize].clone().unwrap();
        verify_receipt(&digest_for(&receipt, &document), &receipt, &chain.trust_anchor).unwrap();
        for position in 0..document.len() {
            let mut changed = document.clone();
            changed[position] ^= xor;
            let outcome =
                verify_receipt(&digest_for(&receipt, &changed), &receipt, &chain.trust_anchor);
            prop_assert!(
                matches!(outcome, Err(VerifyError::DigestMismatch { .. })),
                "byte {position}: {outcome:?}"
            );
        }
        // One byte more or less is a different document too.
        let mut longer = document.clone();
        longer.push(0);
        let mut changed_lengths = vec![longer];
        if !document.is_empty() {
            let mut shorter = document;
            shorter.pop();
            changed_lengths.push(shorter);
        }
        for changed in changed_lengths {
            let outcome =
                verify_receipt(&digest_for(&receipt, &changed), &receipt, &chain.trust_anchor);
            prop_assert!(
                matches!(outcome, Err(VerifyError::DigestMismatch { .. })),
                "{outcome:?}"
            );
        }
    }
}

/// The four hex parts of a receipt file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Entry,
    InclusionProof,
    Header,
    Certificate,
}

impl Part {
    const ALL: [Self; 4] = [
        Self::Entry,
        Self::InclusionProof,
        Self::Header,
        Self::Certificate,
    ];

    fn bytes(self, receipt: &Receipt) -> Vec<u8> {
        match self {
            Self::Entry => receipt.entry.to_canonical_bytes(),
            Self::InclusionProof => receipt.inclusion_proof.to_canonical_bytes(),
            Self::Header => receipt.checkpoint.header.to_canonical_bytes(),
            Self::Certificate => receipt.checkpoint.certificate.to_canonical_bytes(),
        }
    }

    /// The codes a flip in this part may produce: a decoding error, or a failure at a step
    /// that reads this part.
    fn allowed_codes(self) -> &'static [&'static str] {
        match self {
            Self::Entry => &["malformed", "entry-index-mismatch", "header-root-mismatch"],
            Self::InclusionProof => &[
                "malformed",
                "log-size-mismatch",
                "entry-index-mismatch",
                "bad-inclusion-proof",
                "header-root-mismatch",
            ],
            Self::Header => &[
                "malformed",
                // The genesis hash's algorithm tag names the suite: 1 (BLAKE3) flips to 3 (SM3).
                "wrong-suite",
                "wrong-chain",
                "unknown-validator-set",
                "certificate-for-other-block",
            ],
            Self::Certificate => &[
                "malformed",
                "certificate-for-other-block",
                "unknown-signer",
                "duplicate-signer",
                "bad-validator-signature",
                "insufficient-power",
            ],
        }
    }

    /// `receipt` with this part decoded from `bytes`, as a receipt file's reader decodes it.
    fn replaced(self, receipt: &Receipt, bytes: &[u8]) -> Result<Receipt, VerifyError> {
        fn decode<T: Decode>(bytes: &[u8], field: &'static str) -> Result<T, VerifyError> {
            T::from_canonical_bytes(bytes).map_err(|error| VerifyError::Malformed { field, error })
        }
        let mut receipt = receipt.clone();
        match self {
            Self::Entry => receipt.entry = decode(bytes, "entry")?,
            Self::InclusionProof => receipt.inclusion_proof = decode(bytes, "inclusion_proof")?,
            Self::Header => receipt.checkpoint.header = decode(bytes, "header")?,
            Self::Certificate => receipt.checkpoint.certificate = decode(bytes, "certificate")?,
        }
        Ok(receipt)
    }
}

proptest! {
    // Each case tries every bit of a receipt (about 10,000 flips, a few thousand of them with
    // signature checks), so fewer cases.
    #![proptest_config(ProptestConfig {
        cases: common::proptest_cases(12),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_single_bit_flip_of_a_receipt_is_rejected(
        seed in any::<u64>(),
        algorithm in 0..ALGORITHMS.len(),
        plan in blocks(),
        pick in any::<Index>(),
    ) {
        let Built { chain, documents } = build(seed, algorithm, &plan);
        let anchors: Vec<(u64, usize)> = receipt_pairs(&chain)
            .into_iter()
            .filter(|(index, _)| documents[*index as usize].is_some())
            .collect();
        prop_assume!(!anchors.is_empty());
        let (index, c) = *pick.get(&anchors);
        let receipt = chain.receipt(index, &chain.checkpoints[c]);
        let digest = digest_for(&receipt, documents[index as usize].as_ref().unwrap());
        let anchor = &chain.trust_anchor;
        // The unflipped parts, read from the receipt file, give the receipt back.
        let original = Receipt::from_json(&receipt.to_json()).unwrap();
        prop_assert_eq!(&original, &receipt);
        for part in Part::ALL {
            prop_assert_eq!(&part.replaced(&receipt, &part.bytes(&receipt)).unwrap(), &receipt);
        }
        verify_receipt(&digest, &original, anchor).unwrap();

        // Flips of the entry and the proof leave the checkpoint as it was: a verifier that has
        // already verified it checks the rest (the checkpoint steps are covered by the header and
        // certificate flips, without the cache).
        let mut warm = Verifier::new(anchor.clone());
        warm.verify_receipt(&digest, &original).unwrap();
        for part in Part::ALL {
            let bytes = part.bytes(&receipt);
            for bit in 0..bytes.len() * 8 {
                let mut flipped = bytes.clone();
                flipped[bit / 8] ^= 1 << (bit % 8);
                let outcome = part.replaced(&receipt, &flipped).and_then(
                    |flipped| match part {
                        Part::Entry | Part::InclusionProof => warm.verify_receipt(&digest, &flipped),
                        Part::Header | Part::Certificate => verify_receipt(&digest, &flipped, anchor),
                    },
                );
                let code = match &outcome {
                    Ok(_) => "valid",
                    Err(error) => error.code(),
                };
                prop_assert!(
                    part.allowed_codes().contains(&code),
                    "{part:?} bit {bit}: {outcome:?}"
                );
            }
        }
    }
}
