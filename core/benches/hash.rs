//! Document hashing: `digest::hash_file` on a large file (BLAKE3 maps it and hashes on every
//! core from 1 MiB up), `digest::hash_reader` and in-memory hashing for smaller inputs.
//!
//! Run with `cargo bench -p evidence-core --bench hash`. The large file is 1 GiB of
//! pseudo-random bytes written once into a temporary directory (removed afterwards); set
//! `EVIDENCE_BENCH_FILE_MB` to use another size in MiB. The file was just written, so it is
//! hashed from the page cache: the figures are hashing speed, not disk speed.

use std::hint::black_box;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use evidence_core::HashAlgorithm;
use evidence_core::digest::{hash_file, hash_reader};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore as _, SeedableRng as _};

const MIB: usize = 1 << 20;

/// Size of the large file unless `EVIDENCE_BENCH_FILE_MB` says otherwise.
const DEFAULT_FILE_MIB: usize = 1024;

/// Size of the file every algorithm hashes (SHA-256 and SM3 are too slow for 1 GiB samples).
const ALL_ALGORITHMS_FILE_MIB: usize = 64;

const ALGORITHMS: [HashAlgorithm; 3] = [
    HashAlgorithm::Blake3,
    HashAlgorithm::Sha256,
    HashAlgorithm::Sm3,
];

fn file_mib() -> usize {
    match std::env::var("EVIDENCE_BENCH_FILE_MB") {
        Ok(text) => text
            .trim()
            .parse()
            .ok()
            .filter(|mib| *mib > 0)
            .unwrap_or_else(|| {
                panic!("EVIDENCE_BENCH_FILE_MB must be a positive integer, got {text:?}")
            }),
        Err(_) => DEFAULT_FILE_MIB,
    }
}

/// Writes `mib` MiB of pseudo-random (incompressible, not sparse) bytes to `path`.
fn write_random_file(path: &Path, mib: usize, seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create file"));
    let mut chunk = vec![0u8; 8 * MIB];
    let mut left = mib * MIB;
    while left > 0 {
        let n = left.min(chunk.len());
        rng.fill_bytes(&mut chunk[..n]);
        file.write_all(&chunk[..n]).expect("write file");
        left -= n;
    }
    file.into_inner()
        .expect("flush file")
        .sync_all()
        .expect("sync file");
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

fn files(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let large_mib = file_mib();
    let large = dir.path().join("large.bin");
    write_random_file(&large, large_mib, 1);
    let small_mib = ALL_ALGORITHMS_FILE_MIB.min(large_mib);
    let small = dir.path().join("small.bin");
    write_random_file(&small, small_mib, 2);

    let mut group = c.benchmark_group("hash_file");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Bytes((large_mib * MIB) as u64));
    let algorithm = HashAlgorithm::Blake3;
    group.bench_function(
        BenchmarkId::new(algorithm.name(), format!("{large_mib}MiB")),
        |b| {
            b.iter(|| hash_file(algorithm, black_box(&large)).expect("hash file"));
        },
    );
    group.throughput(Throughput::Bytes((small_mib * MIB) as u64));
    for algorithm in ALGORITHMS {
        group.bench_function(
            BenchmarkId::new(algorithm.name(), format!("{small_mib}MiB")),
            |b| {
                b.iter(|| hash_file(algorithm, black_box(&small)).expect("hash file"));
            },
        );
    }
    group.finish();
}

/// Single-threaded hashing: `hash_reader` streaming from memory in 64 KiB reads, and hashing a
/// byte slice at a few document sizes.
fn in_memory(c: &mut Criterion) {
    let mut group = c.benchmark_group("hash_memory");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    let stream = random_bytes(16 * MIB, 3);
    group.throughput(Throughput::Bytes(stream.len() as u64));
    for algorithm in ALGORITHMS {
        group.bench_function(
            BenchmarkId::new("hash_reader", format!("{algorithm}/16MiB")),
            |b| {
                b.iter(|| hash_reader(algorithm, black_box(stream.as_slice())).expect("in memory"));
            },
        );
    }
    for (label, len) in [("1KiB", 1 << 10), ("64KiB", 64 << 10), ("1MiB", MIB)] {
        let bytes = random_bytes(len, 4);
        group.throughput(Throughput::Bytes(len as u64));
        for algorithm in ALGORITHMS {
            group.bench_function(
                BenchmarkId::new("hash", format!("{algorithm}/{label}")),
                |b| {
                    b.iter(|| algorithm.hash(black_box(&bytes)));
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, files, in_memory);
criterion_main!(benches);
