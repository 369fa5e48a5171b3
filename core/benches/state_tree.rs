//! The stored state tree: one block's update (new pages, hashes) and a proof, on a tree of a
//! million keys, the shape a chain has after some hundreds of thousands of documents.
//!
//! Run with `cargo bench -p evidence-core --bench state_tree`. One thread; the pages are held
//! in memory, so the figures are the tree's own work, without the store's.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use evidence_core::digest::HashAlgorithm;
use evidence_core::state_tree::{self, MemoryPages, NodeHash, Slot};
use evidence_core::status::{StatusProof, verify_status_proof};

const KEYS: u64 = 1_000_000;
const BLOCK: u64 = 5_000;

fn key(algorithm: HashAlgorithm, i: u64) -> NodeHash {
    state_tree::key_hash(algorithm, &i.to_be_bytes())
}

fn value(algorithm: HashAlgorithm, i: u64) -> NodeHash {
    state_tree::value_hash(algorithm, &(i ^ 0x5a5a).to_be_bytes())
}

/// A tree of [`KEYS`] keys, written in blocks of 50,000.
fn tree(algorithm: HashAlgorithm) -> (MemoryPages, Slot) {
    let mut pages = MemoryPages::default();
    let mut root = Slot::Empty;
    for (height, start) in (0..KEYS).step_by(50_000).enumerate() {
        let changes: BTreeMap<NodeHash, Option<NodeHash>> = (start..start + 50_000)
            .map(|i| (key(algorithm, i), Some(value(algorithm, i))))
            .collect();
        let update = state_tree::update(algorithm, &pages, root, height as u64 + 1, &changes)
            .expect("memory pages");
        pages.apply(height as u64 + 1, &update);
        pages.prune(&update);
        root = update.root.expect("a root");
    }
    (pages, root)
}

fn block(c: &mut Criterion) {
    for algorithm in [HashAlgorithm::Blake3, HashAlgorithm::Sm3] {
        let (pages, root) = tree(algorithm);
        let mut group = c.benchmark_group(format!("state_tree_{algorithm}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(6));
        // One block: 5,000 new keys (a block of new documents' records).
        group.throughput(Throughput::Elements(BLOCK));
        group.bench_function("update_5000_new_keys_in_1m", |b| {
            b.iter_batched(
                || {
                    (KEYS..KEYS + BLOCK)
                        .map(|i| (key(algorithm, i), Some(value(algorithm, i))))
                        .collect::<BTreeMap<_, _>>()
                },
                |changes| {
                    state_tree::update(algorithm, &pages, root, 1_000, black_box(&changes))
                        .expect("memory pages")
                },
                BatchSize::LargeInput,
            );
        });
        group.throughput(Throughput::Elements(1));
        let probe = key(algorithm, 123_456);
        group.bench_function("prove_in_1m", |b| {
            b.iter(|| state_tree::prove(algorithm, &pages, root, black_box(&probe)).unwrap());
        });
        group.finish();
    }
}

/// A court's side: verifying a saved status proof (a golden vector: the document record and an
/// earlier version's record of a superseded report, under a checkpoint three hand-offs from
/// genesis), from its JSON text, against the genesis file's trust anchor.
fn status_proof(c: &mut Criterion) {
    let vectors = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let genesis = evidence_genesis::Genesis::load(&vectors.join("genesis.json")).expect("genesis");
    let anchor = genesis.trust_anchor().expect("trust anchor");
    let text = std::fs::read_to_string(vectors.join("status/valid/superseded.status.json"))
        .expect("the status-proof vector");
    let mut group = c.benchmark_group("status_proof");
    group.throughput(Throughput::Elements(1));
    group.bench_function("from_json_and_verify_cold", |b| {
        b.iter(|| {
            let proof = StatusProof::from_json(black_box(&text)).expect("a status proof");
            verify_status_proof(&proof, &anchor).expect("valid")
        });
    });
    group.finish();
}

criterion_group!(benches, block, status_proof);
criterion_main!(benches);
