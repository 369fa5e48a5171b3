//! A chain on the national-algorithm suite (SM3 hashing, SM2 signatures): receipts and
//! checkpoints verify from its genesis file, across a change of the validator set, and a
//! verifier holding one suite's genesis file refuses the other suite's evidence by name.

mod common;

use common::{CHAIN_ID, TestChain};
use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::keys::{SignatureAlgorithm, SigningKey};
use evidence_core::receipt::{Receipt, Verifier, verify_receipt};
use evidence_core::verify::VerifyError;
use evidence_genesis::Suite;

const SEED: u64 = 12;

fn code<T>(result: &Result<T, VerifyError>) -> &'static str {
    result.as_ref().map_or_else(VerifyError::code, |_| "valid")
}

/// Two blocks of anchors on an SM chain, then a change of the validator set to three new SM2
/// keys and one more block certified by them.
fn sm_chain() -> (TestChain, Vec<Vec<u8>>) {
    let mut chain = TestChain::with_suite(SEED, CHAIN_ID, Suite::NATIONAL);
    let documents: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("国密 document {i}").into_bytes())
        .collect();
    let body = |chain: &TestChain, i: usize| {
        chain.anchor_body(
            "bureau",
            "inspection-report",
            &format!("INS-{i}"),
            &documents[i],
        )
    };
    let records = chain.batch("bureau", vec![body(&chain, 0)]);
    chain.commit_block_signed_by(records, &[0, 1, 2]);
    let records = chain.batch("bureau", (1..4).map(|i| body(&chain, i)).collect());
    chain.commit_block_signed_by(records, &[0, 1, 2, 3]);
    let keys: Vec<SigningKey> = (0..3u8)
        .map(|i| SigningKey::from_secret(SignatureAlgorithm::Sm2, &[60 + i; 32]).unwrap())
        .collect();
    chain.change_validators(keys.iter().map(|k| (k.clone(), 1)).collect());
    let records = chain.batch("bureau", vec![body(&chain, 4)]);
    chain.commit_block_signed_by(records, &[0, 1, 2]);
    let records = chain.batch("bureau", vec![body(&chain, 0)]);
    chain.commit_block_signed_by(records, &[0, 1, 2]);
    (chain, documents)
}

#[test]
fn every_key_and_hash_of_an_sm_chain_is_national() {
    let (chain, _) = sm_chain();
    let genesis = &chain.consortium.genesis;
    assert_eq!(genesis.suite, Suite::NATIONAL);
    assert_eq!(genesis.hash().algorithm, HashAlgorithm::Sm3);
    let keys = genesis
        .validators
        .iter()
        .map(|v| v.public_key)
        .chain(genesis.filers.iter().map(|f| f.public_key))
        .chain(
            genesis
                .members
                .iter()
                .flat_map(|m| m.governance_keys.clone()),
        );
    for key in keys {
        assert_eq!(key.algorithm(), SignatureAlgorithm::Sm2, "{key}");
    }
    for validator in &genesis.validators {
        let address = validator.address.as_deref().unwrap();
        assert!(address.starts_with("/p2p/12D3KooW"), "{address}");
    }
    for checkpoint in &chain.checkpoints {
        assert_eq!(checkpoint.header.log_root.algorithm, HashAlgorithm::Sm3);
        for signature in &checkpoint.certificate.signatures {
            assert_eq!(signature.signature.algorithm, SignatureAlgorithm::Sm2);
        }
    }
}

#[test]
fn receipts_of_an_sm_chain_verify_from_its_genesis_file_alone() {
    let (chain, documents) = sm_chain();
    let anchor = chain.consortium.genesis.trust_anchor().unwrap();
    let mut verifier = Verifier::new(anchor.clone());
    let mut verified = 0;
    for checkpoint in &chain.checkpoints {
        for index in 0..checkpoint.header.log_size {
            let receipt = chain.receipt(index, checkpoint);
            // Through the file form, as a court receives it.
            let receipt = Receipt::from_json(&receipt.to_json()).unwrap();
            let document = &documents[(index as usize) % 5];
            let digest = HashAlgorithm::Sm3.hash(document);
            let verdict = verify_receipt(&digest, &receipt, &anchor).unwrap();
            assert_eq!(verdict.entry_index, index);
            verifier.verify_receipt(&digest, &receipt).unwrap();
            // The wrong document fails as on any chain.
            let other = HashAlgorithm::Sm3.hash(b"another document");
            assert_eq!(
                code(&verify_receipt(&other, &receipt, &anchor)),
                "digest-mismatch"
            );
            verified += 1;
        }
    }
    assert!(verified >= 10, "{verified}");
}

#[test]
fn a_receipt_of_one_suite_is_refused_by_name_against_the_other_suites_genesis() {
    let (sm, sm_documents) = sm_chain();
    let mut ed = TestChain::new(SEED);
    let body = ed.anchor_body("bureau", "inspection-report", "INS-0", b"document");
    let records = ed.batch("bureau", vec![body]);
    ed.commit_block_signed_by(records, &[0, 1, 2]);

    let sm_receipt = sm.receipt(0, &sm.checkpoints[0]);
    let sm_digest = HashAlgorithm::Sm3.hash(&sm_documents[0]);
    let ed_anchor = ed.consortium.genesis.trust_anchor().unwrap();
    let refused = verify_receipt(&sm_digest, &sm_receipt, &ed_anchor);
    assert_eq!(code(&refused), "wrong-suite");
    assert!(
        refused.unwrap_err().to_string().contains("sm3/sm2"),
        "the error names the suite found"
    );

    let ed_receipt = ed.receipt(0, &ed.checkpoints[0]);
    let ed_digest: Digest = HashAlgorithm::Blake3.hash(b"document");
    let sm_anchor = sm.consortium.genesis.trust_anchor().unwrap();
    assert_eq!(
        code(&verify_receipt(&ed_digest, &ed_receipt, &sm_anchor)),
        "wrong-suite"
    );
    assert_eq!(
        code(&ed_receipt.checkpoint.verify(&sm_anchor)),
        "wrong-suite"
    );
    // Each verifies against its own genesis.
    verify_receipt(&ed_digest, &ed_receipt, &ed_anchor).unwrap();
    verify_receipt(
        &sm_digest,
        &sm_receipt,
        &sm.consortium.genesis.trust_anchor().unwrap(),
    )
    .unwrap();
}

#[test]
fn a_genesis_file_that_mixes_suites_is_refused() {
    let (chain, _) = sm_chain();
    // An Ed25519 filer on an SM chain.
    let mut genesis = chain.consortium.genesis.clone();
    genesis.filers[0].public_key = SigningKey::from_seed(&[9; 32]).public_key();
    let error = genesis.validate().unwrap_err().to_string();
    assert!(error.contains("filers[0].public_key"), "{error}");
    // SM2 with another hash than SM3.
    let mut genesis = chain.consortium.genesis.clone();
    genesis.suite.digest = HashAlgorithm::Blake3;
    assert!(genesis.validate().unwrap_err().to_string().contains("sm3"));
    // An SM2 validator whose address pins no peer id.
    let mut genesis = chain.consortium.genesis.clone();
    genesis.validators[1].address = Some("/ip4/127.0.0.1/tcp/26656".to_owned());
    let error = genesis.validate().unwrap_err().to_string();
    assert!(error.contains("validators[1].address"), "{error}");
    // Two SM2 validators pinning one peer id: one of them could never connect.
    let mut genesis = chain.consortium.genesis.clone();
    genesis.validators[2].address = genesis.validators[1].address.clone();
    let error = genesis.validate().unwrap_err().to_string();
    assert!(
        error.contains("validators[2].address") && error.contains("another validator"),
        "{error}"
    );
    // Through the file: the text round-trips and validates.
    let text = chain.consortium.genesis.to_json();
    assert!(text.contains("\"signature\": \"sm2\""), "{text}");
    evidence_genesis::Genesis::from_json(&text).unwrap();
}
