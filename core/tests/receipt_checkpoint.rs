//! Checkpoint verification on its own (SPEC.md §9.2), the checkpoint file's JSON form
//! (SPEC.md §8.2), and the caching [`Verifier`]: same verdicts as [`verify_receipt`], nothing
//! cached that failed, and a bounded cache.

mod common;

use common::TestChain;
use evidence_core::certificate::{CommitCertificate, CommitSignature};
use evidence_core::checkpoint::{Checkpoint, VerifiedCheckpoint};
use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::header::{VoteKind, vote_signing_bytes};
use evidence_core::keys::SigningKey;
use evidence_core::receipt::{Receipt, Verifier, verify_receipt};
use evidence_core::verify::VerifyError;

const SEED: u64 = 21;

/// Three blocks: one document certified by validators 0, 1, 2; a batch of three by all four; one
/// document by 3, 1, 0. Returns the chain and each anchored document's bytes by entry.
fn chain() -> (TestChain, Vec<Vec<u8>>) {
    let mut chain = TestChain::new(SEED);
    let documents: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("document {i}").into_bytes())
        .collect();
    let body = |chain: &TestChain, i: usize| {
        chain.anchor_body(
            "bureau",
            "completion-drawing",
            &format!("DRW-{i}"),
            &documents[i],
        )
    };
    let records = chain.batch("bureau", vec![body(&chain, 0)]);
    chain.commit_block_signed_by(records, &[0, 1, 2]);
    let bodies = (1..4).map(|i| body(&chain, i)).collect();
    let records = chain.batch("bureau", bodies);
    chain.commit_block_signed_by(records, &[0, 1, 2, 3]);
    let records = chain.batch("bureau", vec![body(&chain, 4)]);
    chain.commit_block_signed_by(records, &[3, 1, 0]);
    (chain, documents)
}

fn code<T>(result: &Result<T, VerifyError>) -> &'static str {
    result.as_ref().map_or_else(VerifyError::code, |_| "valid")
}

/// A precommit signature by `key` for what `certificate` names.
fn precommit(key: &SigningKey, chain_id: &str, certificate: &CommitCertificate) -> CommitSignature {
    let message = vote_signing_bytes(
        chain_id,
        VoteKind::Precommit,
        certificate.height,
        certificate.round,
        Some(&certificate.block_hash),
    );
    CommitSignature {
        validator: key.public_key(),
        signature: key.sign(&message),
    }
}

/// `checkpoint` with its certificate re-signed by the validators at `signers`.
fn signed_by(chain: &TestChain, checkpoint: &Checkpoint, signers: &[usize]) -> Checkpoint {
    let mut checkpoint = checkpoint.clone();
    let certificate = checkpoint.certificate.clone();
    checkpoint.certificate.signatures = signers
        .iter()
        .map(|i| precommit(chain.validator_key(*i), &chain.chain_id, &certificate))
        .collect();
    checkpoint
}

/// How many checkpoints `verifier` holds.
fn cached(verifier: &Verifier) -> usize {
    verifier.cached_checkpoints()
}

#[test]
fn a_certified_checkpoint_verifies_and_states_what_it_certifies() {
    let (chain, _) = chain();
    let signers = [3u64, 4, 3];
    for (checkpoint, signers) in chain.checkpoints.iter().zip(signers) {
        let verified = checkpoint.verify(&chain.trust_anchor).unwrap();
        assert_eq!(
            verified,
            VerifiedCheckpoint {
                header_hash: checkpoint.header.hash(chain.algorithm),
                height: checkpoint.header.height,
                time_ms: checkpoint.header.time_ms,
                log_size: checkpoint.header.log_size,
                log_root: checkpoint.header.log_root,
                state_root: checkpoint.header.state_root,
                signed_power: signers,
                total_power: 4,
            }
        );
        assert_eq!(
            verified.header_hash,
            checkpoint.header_hash(chain.algorithm)
        );
    }
    // A certificate from a later round, in any signer order, is as good.
    let last = chain.checkpoints.last().unwrap();
    let mut later_round = last.clone();
    later_round.certificate.round = 7;
    let later_round = signed_by(&chain, &later_round, &[2, 0, 3, 1]);
    let verified = later_round.verify(&chain.trust_anchor).unwrap();
    assert_eq!(verified.signed_power, 4);
}

/// A change to a certified header.
type HeaderChange = fn(&mut Checkpoint, HashAlgorithm);

/// Every way a checkpoint can be wrong, with the code it must give.
fn bad_checkpoints(chain: &TestChain) -> Vec<(&'static str, &'static str, Checkpoint)> {
    let good = &chain.checkpoints[0];
    let alg = chain.algorithm;
    let mut cases = Vec::new();

    cases.push((
        "another chain id, same validators",
        "wrong-chain",
        chain_with_other_id_checkpoint(),
    ));
    // Another consortium's validators, certifying headers that claim this genesis.
    let mut others = TestChain::new(SEED + 1);
    others.header_genesis_hash = chain.trust_anchor.genesis_hash;
    let foreign = others.commit_block(Vec::new());
    cases.push(("another validator set", "unknown-validator-set", foreign));
    // The same chain id and validators, another genesis file.
    let mut twin = TestChain::with_genesis(SEED, &chain.chain_id, alg, |genesis| {
        genesis.members[0].name = "Another bureau".to_owned();
    });
    cases.push((
        "another genesis, same chain id and validators",
        "wrong-chain",
        twin.commit_block(Vec::new()),
    ));

    // The header changed after certification, field by field.
    let header_changes: [(&'static str, HeaderChange); 9] = [
        ("height", |c, _| c.header.height += 1),
        ("time", |c, _| c.header.time_ms += 1),
        ("parent hash", |c, a| c.header.parent_hash = a.hash(b"x")),
        ("transactions root", |c, a| {
            c.header.transactions_root = a.hash(b"x");
        }),
        ("transaction count", |c, _| c.header.transaction_count += 1),
        ("log size", |c, _| c.header.log_size += 1),
        ("log root", |c, a| c.header.log_root = a.hash(b"x")),
        ("state root", |c, a| c.header.state_root = a.hash(b"x")),
        ("proposer", |c, _| {
            c.header.proposer = SigningKey::from_seed(&[9; 32]).public_key();
        }),
    ];
    for (what, change) in header_changes {
        let mut changed = good.clone();
        change(&mut changed, alg);
        cases.push((what, "certificate-for-other-block", changed));
    }
    let mut swapped = good.clone();
    swapped.certificate = chain.checkpoints[1].certificate.clone();
    cases.push((
        "another block's certificate",
        "certificate-for-other-block",
        swapped,
    ));
    let mut wrong_height = good.clone();
    wrong_height.certificate.height += 1;
    let wrong_height = signed_by(chain, &wrong_height, &[0, 1, 2]);
    cases.push((
        "the right hash at another height, really signed",
        "certificate-for-other-block",
        wrong_height,
    ));
    let mut wrong_tag = good.clone();
    wrong_tag.certificate.block_hash = Digest::new(
        HashAlgorithm::Sha256,
        wrong_tag.certificate.block_hash.bytes,
    );
    let wrong_tag = signed_by(chain, &wrong_tag, &[0, 1, 2]);
    cases.push((
        "the right hash bytes under another algorithm tag",
        "certificate-for-other-block",
        wrong_tag,
    ));

    // The certificate's signatures.
    let certificate = &good.certificate;
    let v = |i: usize| precommit(chain.validator_key(i), &chain.chain_id, certificate);
    let outsider = precommit(
        &SigningKey::from_seed(&[7; 32]),
        &chain.chain_id,
        certificate,
    );
    let filer = precommit(chain.filer_key("bureau"), &chain.chain_id, certificate);
    let mut flipped = v(1);
    flipped.signature.bytes[5] ^= 0x40;
    let mut swapped_keys = v(1);
    swapped_keys.validator = chain.validator_key(3).public_key();
    let mut prevote = v(1);
    prevote.signature = chain.validator_key(1).sign(&vote_signing_bytes(
        &chain.chain_id,
        VoteKind::Prevote,
        certificate.height,
        certificate.round,
        Some(&certificate.block_hash),
    ));
    let mut nil = v(1);
    nil.signature = chain.validator_key(1).sign(&vote_signing_bytes(
        &chain.chain_id,
        VoteKind::Precommit,
        certificate.height,
        certificate.round,
        None,
    ));
    let mut bad3 = v(3);
    bad3.signature.bytes[0] ^= 1;
    let signature_cases: Vec<(&'static str, &'static str, Vec<CommitSignature>)> = vec![
        (
            "an outsider",
            "unknown-signer",
            vec![v(0), outsider, v(1), v(2)],
        ),
        (
            "a filer key",
            "unknown-signer",
            vec![filer, v(0), v(1), v(2)],
        ),
        (
            "a repeated signer",
            "duplicate-signer",
            vec![v(0), v(1), v(0)],
        ),
        (
            "four with one repeated",
            "duplicate-signer",
            vec![v(0), v(1), v(2), v(2)],
        ),
        (
            "a flipped bit",
            "bad-validator-signature",
            vec![v(0), flipped, v(2), v(3)],
        ),
        (
            "another validator's signature",
            "bad-validator-signature",
            vec![v(0), swapped_keys],
        ),
        (
            "a prevote",
            "bad-validator-signature",
            vec![v(0), prevote, v(2)],
        ),
        (
            "a nil precommit",
            "bad-validator-signature",
            vec![v(0), nil, v(2)],
        ),
        ("no signature", "insufficient-power", vec![]),
        ("one signer", "insufficient-power", vec![v(3)]),
        ("two signers", "insufficient-power", vec![v(2), v(0)]),
        // Every signature is checked, in list order, before the power is summed.
        (
            "a bad one before an outsider",
            "bad-validator-signature",
            vec![v(1), bad3, outsider],
        ),
        (
            "an outsider before a bad one",
            "unknown-signer",
            vec![v(0), outsider, bad3],
        ),
        (
            "a bad one among too few",
            "bad-validator-signature",
            vec![bad3],
        ),
    ];
    for (what, expected, signatures) in signature_cases {
        let mut changed = good.clone();
        changed.certificate.signatures = signatures;
        cases.push((what, expected, changed));
    }

    // Several faults at once: the earliest step decides.
    let mut wrong_chain_too = chain_with_other_id_checkpoint();
    wrong_chain_too.certificate.signatures.clear();
    cases.push((
        "another chain, no signatures",
        "wrong-chain",
        wrong_chain_too,
    ));
    let mut altered_unsigned = good.clone();
    altered_unsigned.header.log_size += 1;
    altered_unsigned.certificate.signatures.truncate(1);
    cases.push((
        "an altered header, one signature",
        "certificate-for-other-block",
        altered_unsigned,
    ));
    cases
}

fn chain_with_other_id_checkpoint() -> Checkpoint {
    let mut elsewhere = TestChain::with_chain_id(SEED, "evidence-elsewhere");
    elsewhere.commit_block(Vec::new())
}

#[test]
fn each_fault_fails_the_checkpoint_at_its_step() {
    let (chain, _) = chain();
    let mut verifier = Verifier::new(chain.trust_anchor.clone());
    for (what, expected, checkpoint) in bad_checkpoints(&chain) {
        let outcome = checkpoint.verify(&chain.trust_anchor);
        assert_eq!(code(&outcome), expected, "{what}: {outcome:?}");
        assert_eq!(verifier.verify_checkpoint(&checkpoint), outcome, "{what}");
    }
    assert_eq!(cached(&verifier), 0, "a rejected checkpoint was cached");
}

#[test]
fn checkpoint_files_round_trip() {
    let (chain, _) = chain();
    let mut all: Vec<Checkpoint> = chain.checkpoints.clone();
    all.extend(bad_checkpoints(&chain).into_iter().map(|(_, _, c)| c));
    for checkpoint in &all {
        let text = checkpoint.to_json();
        assert_eq!(text, checkpoint.to_json());
        assert!(text.ends_with("}\n"));
        let read = Checkpoint::from_json(&text).unwrap();
        assert_eq!(&read, checkpoint);
        assert_eq!(read.to_json(), text);
        // Reading is not verifying: the verdict is the same before and after.
        assert_eq!(
            read.verify(&chain.trust_anchor),
            checkpoint.verify(&chain.trust_anchor)
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let object = value.as_object().unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["certificate", "header", "type", "version"]);
        assert_eq!(object["type"], "evidence-checkpoint");
        assert_eq!(object["version"], 1);
        for field in ["header", "certificate"] {
            let hex = object[field].as_str().unwrap();
            assert_eq!(hex, hex.to_lowercase());
        }
    }
}

#[test]
fn a_receipt_carries_its_checkpoint_file_byte_for_byte() {
    let (chain, _) = chain();
    let checkpoint = &chain.checkpoints[2];
    let receipt = chain.receipt(1, checkpoint);
    let receipt_file: serde_json::Value = serde_json::from_str(&receipt.to_json()).unwrap();
    let checkpoint_file: serde_json::Value = serde_json::from_str(&checkpoint.to_json()).unwrap();
    for field in ["header", "certificate"] {
        assert_eq!(receipt_file[field], checkpoint_file[field]);
    }
}

/// Receipts of the chain, valid and not, each with the document digest it is checked with.
fn receipts(chain: &TestChain, documents: &[Vec<u8>]) -> Vec<(Receipt, Digest)> {
    let digest = |i: usize| chain.algorithm.hash(&documents[i]);
    let mut out = Vec::new();
    for (c, checkpoint) in chain.checkpoints.iter().enumerate() {
        for index in 0..checkpoint.header.log_size {
            out.push((chain.receipt(index, checkpoint), digest(index as usize)));
            // A copy of the same receipt whose certificate is replaced by each bad one, so that
            // valid and invalid certificates of one header meet in the cache.
            if c == 0 {
                for (_, _, bad) in bad_checkpoints(chain) {
                    let mut receipt = chain.receipt(index, checkpoint);
                    receipt.checkpoint.certificate = bad.certificate;
                    out.push((receipt, digest(index as usize)));
                }
            }
        }
        // Another valid certificate of the same header, by other signers.
        let other_signers = signed_by(chain, checkpoint, &[1, 2, 3]);
        let mut receipt = chain.receipt(0, checkpoint);
        receipt.checkpoint = other_signers;
        out.push((receipt, digest(0)));
        // The wrong document.
        out.push((chain.receipt(0, checkpoint), digest(1)));
    }
    out
}

#[test]
fn the_verifier_gives_the_verdicts_of_verify_receipt_in_any_order() {
    let (chain, documents) = chain();
    let receipts = receipts(&chain, &documents);
    let expected: Vec<_> = receipts
        .iter()
        .map(|(receipt, digest)| verify_receipt(digest, receipt, &chain.trust_anchor))
        .collect();
    assert!(expected.iter().any(Result::is_ok));
    assert!(expected.iter().any(Result::is_err));
    let n = receipts.len();
    let orders: Vec<Vec<usize>> = vec![
        (0..n).collect(),
        (0..n).rev().collect(),
        (0..n).map(|i| (i * 7) % n).collect(),
        (0..n).chain(0..n).collect(),
    ];
    for capacity in [1, 2, 3, Verifier::DEFAULT_CAPACITY] {
        for order in &orders {
            let mut verifier = Verifier::with_capacity(chain.trust_anchor.clone(), capacity);
            for &i in order {
                let (receipt, digest) = &receipts[i];
                assert_eq!(
                    verifier.verify_receipt(digest, receipt),
                    expected[i],
                    "receipt {i}, capacity {capacity}"
                );
                assert!(cached(&verifier) <= capacity);
            }
        }
    }
}

#[test]
fn a_bad_certificate_is_never_taken_from_the_cache() {
    let (chain, documents) = chain();
    let good = chain.receipt(0, &chain.checkpoints[0]);
    let digest = chain.algorithm.hash(&documents[0]);
    let mut verifier = Verifier::new(chain.trust_anchor.clone());
    for (what, expected, bad) in bad_checkpoints(&chain) {
        let mut receipt = good.clone();
        receipt.checkpoint.certificate = bad.certificate;
        if receipt.checkpoint.header != bad.header {
            continue;
        }
        // Twice before the header's good certificate is known, twice after.
        for round in 0..4 {
            if round == 2 {
                verifier.verify_receipt(&digest, &good).unwrap();
            }
            let outcome = verifier.verify_receipt(&digest, &receipt);
            assert_eq!(code(&outcome), expected, "{what}, round {round}");
        }
    }
    assert_eq!(cached(&verifier), 1);
}

#[test]
fn a_verdict_names_the_signers_of_its_own_certificate() {
    let (chain, documents) = chain();
    let digest = chain.algorithm.hash(&documents[0]);
    let three = chain.receipt(0, &chain.checkpoints[0]);
    let mut four = three.clone();
    four.checkpoint = signed_by(&chain, &three.checkpoint, &[3, 2, 1, 0]);
    let mut verifier = Verifier::new(chain.trust_anchor.clone());
    for receipt in [&three, &four, &three, &four] {
        let verdict = verifier.verify_receipt(&digest, receipt).unwrap();
        assert_eq!(verdict.signers, receipt.checkpoint.certificate.signers());
        assert_eq!(
            verdict.checkpoint.signed_power,
            receipt.checkpoint.certificate.signatures.len() as u64
        );
        assert_eq!(
            Ok(verdict),
            verify_receipt(&digest, receipt, &chain.trust_anchor)
        );
    }
}

#[test]
fn the_cache_holds_at_most_its_capacity() {
    let (chain, _) = chain();
    let anchor = chain.trust_anchor.clone();
    for capacity in [0, 1, 2, 3, 10] {
        let mut verifier = Verifier::with_capacity(anchor.clone(), capacity);
        assert_eq!(verifier.trust_anchor(), &anchor);
        for round in 0..3 {
            for checkpoint in &chain.checkpoints {
                let verified = verifier.verify_checkpoint(checkpoint).unwrap();
                assert_eq!(verified, checkpoint.verify(&anchor).unwrap());
                let held = cached(&verifier);
                assert!(
                    (1..=capacity.max(1)).contains(&held),
                    "capacity {capacity}, round {round}: {held} held"
                );
            }
        }
        if capacity >= chain.checkpoints.len() {
            assert_eq!(cached(&verifier), chain.checkpoints.len());
        }
    }
    let verifier = Verifier::new(anchor);
    assert_eq!(cached(&verifier), 0);
}

/// A chain whose validator set changes twice: block 2 hands off from genesis's set to a set
/// of three new keys, block 4 from that set to one where the first new key counts twice.
/// Five blocks; `checkpoints[i]` is block `i + 1`.
fn changing_chain() -> TestChain {
    let mut chain = TestChain::new(SEED);
    let keys: Vec<SigningKey> = (0..3)
        .map(|i| SigningKey::from_seed(&[40 + i; 32]))
        .collect();
    let record = |chain: &TestChain, i: usize| {
        let body = chain.anchor_body(
            "bureau",
            "completion-drawing",
            &format!("DRW-H{i}"),
            format!("handed off {i}").as_bytes(),
        );
        chain.batch("bureau", vec![body])
    };
    let records = record(&chain, 1);
    chain.commit_block_signed_by(records, &[0, 1, 2]);
    chain.change_validators(keys.iter().map(|k| (k.clone(), 1)).collect());
    let records = record(&chain, 2);
    chain.commit_block_signed_by(records, &[0, 1, 2]);
    let records = record(&chain, 3);
    chain.commit_block_signed_by(records, &[0, 1, 2]);
    chain.change_validators(vec![
        (keys[0].clone(), 2),
        (keys[1].clone(), 1),
        (keys[2].clone(), 1),
    ]);
    let records = record(&chain, 4);
    chain.commit_block_signed_by(records, &[0, 1, 2]);
    let records = record(&chain, 5);
    chain.commit_block_signed_by(records, &[0, 1]);
    chain
}

#[test]
fn a_verifier_that_learned_the_handoffs_verifies_checkpoints_of_every_set_at_their_heights() {
    let chain = changing_chain();
    assert_eq!(chain.handoffs.len(), 2);
    let mut verifier = Verifier::new(chain.trust_anchor.clone());
    // Before it learns them, only the genesis set's checkpoints verify.
    verifier.verify_checkpoint(&chain.checkpoints[0]).unwrap();
    verifier.verify_checkpoint(&chain.checkpoints[1]).unwrap();
    assert!(matches!(
        verifier.verify_checkpoint(&chain.checkpoints[2]),
        Err(VerifyError::UnknownValidatorSet { .. })
    ));
    // Learning the first hand-off reaches the second set, not the third.
    verifier.learn_handoffs(&chain.handoffs[..1]).unwrap();
    verifier.verify_checkpoint(&chain.checkpoints[2]).unwrap();
    assert!(verifier.verify_checkpoint(&chain.checkpoints[4]).is_err());
    // Both: every checkpoint, old and new, against the set of its height.
    verifier.learn_handoffs(&chain.handoffs).unwrap();
    for checkpoint in &chain.checkpoints {
        verifier.verify_checkpoint(checkpoint).unwrap();
    }
    // A shorter chain that agrees changes nothing; learning again is idempotent.
    verifier.learn_handoffs(&chain.handoffs[..1]).unwrap();
    verifier.learn_handoffs(&chain.handoffs).unwrap();
    verifier.verify_checkpoint(&chain.checkpoints[4]).unwrap();
    // The set of a later height does not certify an earlier one: block 2's checkpoint (the
    // hand-off itself, certified by genesis's set) is still taken by genesis's set only.
    let verified = verifier.verify_checkpoint(&chain.checkpoints[1]).unwrap();
    assert_eq!(verified.total_power, 4);
}

#[test]
fn handoffs_that_do_not_verify_or_disagree_with_those_learned_are_refused() {
    let chain = changing_chain();
    // A hand-off under too little of the old set.
    let mut weak = chain.handoffs.clone();
    weak[0].checkpoint.certificate.signatures.truncate(2);
    let mut verifier = Verifier::new(chain.trust_anchor.clone());
    assert!(matches!(
        verifier.learn_handoffs(&weak),
        Err(VerifyError::BadHandoff { index: 0, .. })
    ));
    assert!(
        verifier.verify_checkpoint(&chain.checkpoints[2]).is_err(),
        "nothing was learned from a chain that failed"
    );
    // Once the real chain is learned, another history of the same height is a conflict.
    verifier.learn_handoffs(&chain.handoffs).unwrap();
    let mut other = chain.handoffs.clone();
    other[1].validators = chain.handoffs[0].validators.clone();
    assert!(matches!(
        verifier.learn_handoffs(&other),
        Err(VerifyError::ConflictingHandoffs { .. })
    ));
    // A receipt's own hand-offs are followed the same way by the caching verifier and by
    // verify_receipt.
    let receipt = chain.receipt(4, &chain.checkpoints[4]);
    let digest = HashAlgorithm::Blake3.hash(b"handed off 5");
    let mut fresh = Verifier::new(chain.trust_anchor.clone());
    let cached = fresh.verify_receipt(&digest, &receipt).unwrap();
    let plain = verify_receipt(&digest, &receipt, &chain.trust_anchor).unwrap();
    assert_eq!(cached, plain);
    assert_eq!(plain.handoff_heights, vec![2, 4]);
    let stripped = Receipt {
        handoffs: Vec::new(),
        ..receipt
    };
    assert!(matches!(
        verify_receipt(&digest, &stripped, &chain.trust_anchor),
        Err(VerifyError::UnknownValidatorSet { .. })
    ));
}
