//! Receipt verification, cold (the checkpoint's certificate checked every time), warm (the
//! checkpoint already verified and cached, the filer signature checked), and warm with the
//! filer's batch signature also cached (another document of the same batch verified before);
//! each on a default chain (BLAKE3, Ed25519) and on a national-suite chain (SM3, SM2); and the
//! signing and verification that dominate, for both algorithms; and the curve arithmetic of a
//! strict Ed25519 check, `[S]B − [k]A`, with and without tables of the two points' multiples.
//!
//! Run with `cargo bench -p evidence-core --bench receipt`. Every figure is for one thread.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use common::TestChain;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use evidence_core::digest::Digest;
use evidence_core::encoding::{Decode as _, Encode as _};
use evidence_core::keys::{self, PublicKey, Signature, SignatureAlgorithm, SigningKey};
use evidence_core::receipt::{Receipt, Verifier, verify_receipt};
use evidence_genesis::Suite;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;

/// Documents filed under one filer signature in the large-batch case.
const LARGE_BATCH: usize = 4096;

/// Signatures in the batch-verification reference case.
const SIGNATURE_BATCH: usize = 64;

struct Fixture {
    chain: TestChain,
    /// A document filed alone (a batch of one), and its digest.
    single: (Receipt, Digest),
    /// A document in the middle of a batch of [`LARGE_BATCH`], and its digest.
    batched: (Receipt, Digest),
    /// The next document of the same batch, under the same filer signature.
    neighbour: (Receipt, Digest),
}

/// A chain of three blocks: a single document, a batch of [`LARGE_BATCH`] documents, and
/// another single document; receipts are against the last checkpoint (certified by three of the
/// four validators).
fn fixture(suite: Suite) -> Fixture {
    let mut chain = TestChain::with_suite(2026, common::CHAIN_ID, suite);
    let single_doc = b"completion drawing, sheet 1".to_vec();
    let body = chain.anchor_body("bureau", "completion-drawing", "DRW-0001", &single_doc);
    let records = chain.batch("bureau", vec![body]);
    chain.commit_block(records);

    let documents: Vec<Vec<u8>> = (0..LARGE_BATCH)
        .map(|i| format!("inspection report {i}").into_bytes())
        .collect();
    let bodies = documents
        .iter()
        .enumerate()
        .map(|(i, doc)| chain.anchor_body("bureau", "inspection-report", &format!("INS-{i}"), doc))
        .collect();
    let records = chain.batch("bureau", bodies);
    chain.commit_block(records);

    let body = chain.anchor_body("bureau", "completion-drawing", "DRW-0002", b"sheet 2");
    let records = chain.batch("bureau", vec![body]);
    let checkpoint = chain.commit_block(records);

    let single = (
        chain.receipt(0, &checkpoint),
        chain.algorithm.hash(&single_doc),
    );
    let middle = LARGE_BATCH / 2 + 1;
    let batched = (
        chain.receipt(1 + middle as u64, &checkpoint),
        chain.algorithm.hash(&documents[middle]),
    );
    let neighbour = (
        chain.receipt(2 + middle as u64, &checkpoint),
        chain.algorithm.hash(&documents[middle + 1]),
    );
    for (receipt, digest) in [&single, &batched, &neighbour] {
        verify_receipt(digest, receipt, &chain.trust_anchor).expect("fixture receipt verifies");
    }
    assert_eq!(
        batched.0.entry.anchor().unwrap().batch_proof.tree_size,
        LARGE_BATCH as u64
    );
    Fixture {
        chain,
        single,
        batched,
        neighbour,
    }
}

fn receipts(c: &mut Criterion) {
    receipts_of(c, "receipt", Suite::DEFAULT);
    receipts_of(c, "receipt_sm", Suite::NATIONAL);
}

fn receipts_of(c: &mut Criterion, group_name: &str, suite: Suite) {
    let fixture = fixture(suite);
    let anchor = &fixture.chain.trust_anchor;
    let mut group = c.benchmark_group(group_name);
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    for (name, (receipt, digest)) in [
        ("single_document", &fixture.single),
        ("batch_of_4096", &fixture.batched),
    ] {
        // Cold: the certificate's three validator signatures and the filer signature.
        group.bench_function(BenchmarkId::new("verify_cold", name), |b| {
            b.iter(|| verify_receipt(black_box(digest), black_box(receipt), anchor).unwrap());
        });
        // Warm: a verifier that has verified the checkpoint and nothing else, leaving the
        // inclusion proof, the batch path and the filer signature. (Verifying the same receipt
        // again would also find its filer signature cached.)
        group.bench_function(BenchmarkId::new("verify_warm", name), |b| {
            b.iter_batched_ref(
                || {
                    let mut verifier = Verifier::new(anchor.clone());
                    verifier.verify_checkpoint(&receipt.checkpoint).unwrap();
                    verifier
                },
                |verifier| {
                    verifier
                        .verify_receipt(black_box(digest), black_box(receipt))
                        .unwrap()
                },
                BatchSize::SmallInput,
            );
        });
        // The filer-signature step alone: the batch path to the signed root, then one
        // signature verification (strict Ed25519, or SM2).
        let document = receipt.entry.anchor().unwrap();
        let algorithm = anchor.digest_algorithm;
        group.bench_function(BenchmarkId::new("filer_signature", name), |b| {
            b.iter(|| {
                black_box(document)
                    .verify_filer_signature(algorithm)
                    .unwrap()
            });
        });
    }

    // Warm with the batch's filer signature cached too: another document of the same batch
    // was verified first, so this one costs hashing only.
    let (receipt, digest) = &fixture.batched;
    let (neighbour, neighbour_digest) = &fixture.neighbour;
    let mut verifier = Verifier::new(anchor.clone());
    verifier
        .verify_receipt(neighbour_digest, neighbour)
        .unwrap();
    group.bench_function(
        BenchmarkId::new("verify_warm_batch_signature_cached", "batch_of_4096"),
        |b| {
            b.iter(|| {
                verifier
                    .verify_receipt(black_box(digest), black_box(receipt))
                    .unwrap()
            });
        },
    );

    // The certificate check alone, and reading a receipt from its JSON form.
    let (receipt, _) = &fixture.single;
    group.bench_function("checkpoint_verify", |b| {
        b.iter(|| black_box(&receipt.checkpoint).verify(anchor).unwrap());
    });
    let json = receipt.to_json();
    group.bench_function("from_json", |b| {
        b.iter(|| Receipt::from_json(black_box(&json)).unwrap());
    });
    group.finish();
}

/// One strict Ed25519 verification, and a batch of [`SIGNATURE_BATCH`] through
/// `keys::verify_batch`, per signature; signing; and the same for SM2 (which has no batch
/// equation, so its batch is one verification after another).
fn signatures(c: &mut Criterion) {
    for algorithm in SignatureAlgorithm::ALL {
        let mut rng = ChaCha20Rng::seed_from_u64(25519);
        let keys: Vec<SigningKey> = (0..SIGNATURE_BATCH)
            .map(|_| SigningKey::generate_for_with(algorithm, &mut rng))
            .collect();
        let signed: Vec<(Vec<u8>, Signature, PublicKey)> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                // About the size of a precommit vote or a batch signing message.
                let message = format!("{i:0>96}").into_bytes();
                let signature = key.sign(&message);
                (message, signature, key.public_key())
            })
            .collect();
        let items: Vec<(&[u8], &Signature, &PublicKey)> = signed
            .iter()
            .map(|(message, signature, key)| (message.as_slice(), signature, key))
            .collect();

        let mut group = c.benchmark_group(algorithm.name());
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        group.throughput(Throughput::Elements(1));
        let (message, signature, key) = &signed[0];
        let verify_name = match algorithm {
            SignatureAlgorithm::Ed25519 => "verify_strict",
            SignatureAlgorithm::Sm2 => "verify",
        };
        group.bench_function(verify_name, |b| {
            b.iter(|| {
                key.verify(black_box(message), black_box(signature))
                    .unwrap()
            });
        });
        group.bench_function("sign", |b| {
            b.iter(|| keys[0].sign(black_box(message)));
        });
        // Decoding a public key this thread decoded before (the per-thread cache's path, the
        // one every vote and transaction of a running chain takes).
        let encoded = key.to_canonical_bytes();
        group.bench_function("decode_public_key_cached", |b| {
            b.iter(|| PublicKey::from_canonical_bytes(black_box(&encoded)).unwrap());
        });
        group.throughput(Throughput::Elements(SIGNATURE_BATCH as u64));
        group.bench_function(format!("verify_batch_{SIGNATURE_BATCH}"), |b| {
            b.iter(|| keys::verify_batch(black_box(&items)).unwrap());
        });
        group.finish();
    }
}

/// `[S]B − [k]A`, the curve arithmetic of a strict Ed25519 check: the double-base
/// multiplication (no table, what a key seen a few times gets), two tables in constant time
/// (curve25519-dalek's `mul_base`, what the project used before its vendored patch), and the
/// patch's variable-time difference at each radix (the project uses radix 64). The tables are
/// built before the measurement, as a key's is before the checks that use it.
fn curve_tables(c: &mut Criterion) {
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use curve25519_dalek::edwards::{
        EdwardsBasepointTable, EdwardsBasepointTableRadix32, EdwardsBasepointTableRadix64,
        EdwardsBasepointTableRadix128, EdwardsBasepointTableRadix256, EdwardsPoint,
    };
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::BasepointTable as _;
    use rand_core::RngCore as _;

    let mut rng = ChaCha20Rng::seed_from_u64(64);
    let mut scalar = || {
        let mut wide = [0u8; 64];
        rng.fill_bytes(&mut wide);
        Scalar::from_bytes_mod_order_wide(&wide)
    };
    let key = EdwardsPoint::mul_base(&scalar());
    let pairs: Vec<(Scalar, Scalar)> = (0..256).map(|_| (scalar(), scalar())).collect();
    let mut group = c.benchmark_group("ed25519_curve");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let mut next = 0usize;
    let mut pair = move || {
        next = (next + 1) % pairs.len();
        pairs[next]
    };
    group.bench_function("double_base", |b| {
        b.iter(|| {
            let (s, k) = pair();
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-key, &s)
        });
    });
    let key_table = EdwardsBasepointTable::create(&key);
    group.bench_function("two_tables_constant_time_radix_16", |b| {
        b.iter(|| {
            let (s, k) = pair();
            EdwardsPoint::mul_base(&s) - key_table.mul_base(&k)
        });
    });
    macro_rules! variable_time {
        ($table:ty, $name:expr) => {{
            let base = <$table>::create(&ED25519_BASEPOINT_POINT);
            let table = <$table>::create(&key);
            group.bench_function($name, |b| {
                b.iter(|| {
                    let (s, k) = pair();
                    base.vartime_mul_base_difference(&s, &table, &k)
                });
            });
        }};
    }
    variable_time!(EdwardsBasepointTable, "variable_time_radix_16");
    variable_time!(EdwardsBasepointTableRadix32, "variable_time_radix_32");
    variable_time!(EdwardsBasepointTableRadix64, "variable_time_radix_64");
    variable_time!(EdwardsBasepointTableRadix128, "variable_time_radix_128");
    variable_time!(EdwardsBasepointTableRadix256, "variable_time_radix_256");
    // What a key's table costs to build, once, at its 256th verification.
    group.sample_size(20);
    group.bench_function("build_table_radix_64", |b| {
        b.iter(|| EdwardsBasepointTableRadix64::create(black_box(&key)));
    });
    group.finish();
}

criterion_group!(benches, receipts, signatures, curve_tables);
criterion_main!(benches);
