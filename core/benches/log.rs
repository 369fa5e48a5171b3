//! The Merkle log over the memory store: appends, roots, proof generation at a million leaves,
//! and proof verification.
//!
//! Run with `cargo bench -p evidence-core --bench log`. Figures are single-threaded: the log is
//! appended to and read from one thread.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use evidence_core::HashAlgorithm;
use evidence_core::encoding::Encode as _;
use evidence_core::merkle::{
    ConsistencyProof, InclusionProof, MemoryStore, MerkleLog, NodeHash, TreeHead, leaf_hash,
    verify_consistency, verify_inclusion,
};

/// Leaves in the log that appends fill and proofs are drawn from. Not a power of two, so the
/// tree has several peaks and proofs mix stored subtrees with computed ones.
const LEAVES: u64 = 1_000_000;

/// Precomputed proofs the verification benchmarks cycle through.
const PROOFS: usize = 1024;

const ALGORITHMS: [HashAlgorithm; 3] = [
    HashAlgorithm::Blake3,
    HashAlgorithm::Sha256,
    HashAlgorithm::Sm3,
];

/// A distinct leaf hash per index, as cheap as possible so the benchmark measures the log.
fn leaf(i: u64) -> NodeHash {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&i.to_le_bytes());
    hash
}

/// The `k`-th of a fixed, well-spread sequence of values in `[0, bound)`.
fn spread(k: u64, bound: u64) -> u64 {
    k.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) % bound
}

fn full_log(algorithm: HashAlgorithm) -> MerkleLog<MemoryStore> {
    let mut log = MerkleLog::new(algorithm, MemoryStore::with_capacity(LEAVES));
    for i in 0..LEAVES {
        log.append(leaf(i)).expect("memory store");
    }
    log
}

/// Appending a million precomputed leaf hashes to an empty log, per algorithm. The store is
/// allocated (not touched) outside the timed part; first-touch page faults are inside it, as
/// they are for a node's memory store.
fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("log/append");
    group
        .throughput(Throughput::Elements(LEAVES))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for algorithm in ALGORITHMS {
        group.bench_function(BenchmarkId::new("leaf_hash", algorithm), |b| {
            b.iter_batched(
                || MerkleLog::new(algorithm, MemoryStore::with_capacity(LEAVES)),
                |mut log| {
                    for i in 0..LEAVES {
                        log.append(black_box(leaf(i))).expect("memory store");
                    }
                    log
                },
                BatchSize::PerIteration,
            );
        });
    }

    // What a node does per entry: hash the entry's canonical bytes into its leaf hash, then
    // append. The bytes are a real single-document anchor entry with its index rewritten.
    let chain = {
        let mut chain = common::TestChain::new(7);
        let body = chain.anchor_body("bureau", "completion-drawing", "DRW-1", b"drawing");
        let records = chain.batch("bureau", vec![body]);
        chain.commit_block(records);
        chain
    };
    let template = chain.entries[0].to_canonical_bytes();
    let algorithm = HashAlgorithm::Blake3;
    group.bench_function(
        BenchmarkId::new(
            format!("entry_{}_bytes_with_leaf_hashing", template.len()),
            algorithm,
        ),
        |b| {
            b.iter_batched(
                || {
                    (
                        MerkleLog::new(algorithm, MemoryStore::with_capacity(LEAVES)),
                        template.clone(),
                    )
                },
                |(mut log, mut entry)| {
                    for i in 0..LEAVES {
                        // Byte 0 is the entry version; the index follows, big-endian.
                        entry[1..9].copy_from_slice(&i.to_be_bytes());
                        log.append(leaf_hash(algorithm, black_box(&entry)))
                            .expect("memory store");
                    }
                    log
                },
                BatchSize::PerIteration,
            );
        },
    );
    group.finish();
}

/// Roots and proofs read from a log of a million leaves, and their verification.
fn proofs(c: &mut Criterion) {
    let mut group = c.benchmark_group("log/1M");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let algorithm = HashAlgorithm::Blake3;
    let log = full_log(algorithm);
    let head = log.head();

    group.bench_function(BenchmarkId::new("root", algorithm), |b| {
        b.iter(|| black_box(&log).root());
    });
    let mut k = 0u64;
    group.bench_function(BenchmarkId::new("root_at_earlier_size", algorithm), |b| {
        b.iter(|| {
            k += 1;
            log.root_at(1 + spread(k, LEAVES)).expect("in range")
        });
    });
    let mut k = 0u64;
    group.bench_function(BenchmarkId::new("inclusion_proof", algorithm), |b| {
        b.iter(|| {
            k += 1;
            log.inclusion_proof(spread(k, LEAVES), LEAVES)
                .expect("in range")
        });
    });
    let mut k = 0u64;
    group.bench_function(BenchmarkId::new("consistency_proof", algorithm), |b| {
        b.iter(|| {
            k += 1;
            log.consistency_proof(1 + spread(k, LEAVES), LEAVES)
                .expect("in range")
        });
    });
    drop(log);
    black_box(head);

    // Verification costs one hash per path element, so it is measured for every algorithm.
    for algorithm in ALGORITHMS {
        let log = full_log(algorithm);
        let head = log.head();
        let inclusion: Vec<(NodeHash, InclusionProof)> = (0..PROOFS as u64)
            .map(|k| {
                let index = spread(k, LEAVES);
                (
                    leaf(index),
                    log.inclusion_proof(index, LEAVES).expect("in range"),
                )
            })
            .collect();
        let consistency: Vec<(TreeHead, ConsistencyProof)> = (0..PROOFS as u64)
            .map(|k| {
                let old = 1 + spread(k, LEAVES);
                (
                    log.head_at(old).expect("in range"),
                    log.consistency_proof(old, LEAVES).expect("in range"),
                )
            })
            .collect();
        drop(log);

        let mut k = 0usize;
        group.bench_function(BenchmarkId::new("verify_inclusion", algorithm), |b| {
            b.iter(|| {
                k = (k + 1) % PROOFS;
                let (leaf, proof) = &inclusion[k];
                verify_inclusion(algorithm, leaf, proof, &head).expect("valid proof");
            });
        });
        let mut k = 0usize;
        group.bench_function(BenchmarkId::new("verify_consistency", algorithm), |b| {
            b.iter(|| {
                k = (k + 1) % PROOFS;
                let (old, proof) = &consistency[k];
                verify_consistency(algorithm, proof, old, &head).expect("valid proof");
            });
        });
    }
    group.finish();
}

criterion_group!(benches, append, proofs);
criterion_main!(benches);
