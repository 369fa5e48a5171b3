//! Append and proof throughput of the Merkle log over the memory store. Ignored by default;
//! run in release: `cargo test -p evidence-core --release --test merkle_throughput -- --ignored
//! --nocapture`.

use std::hint::black_box;
use std::time::Instant;

use evidence_core::HashAlgorithm;
use evidence_core::merkle::{MemoryStore, MerkleLog, NodeHash, verify_inclusion};

const LEAVES: u64 = 1 << 22;

fn fake_leaf(i: u64) -> NodeHash {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&i.to_le_bytes());
    hash
}

#[test]
#[ignore = "throughput measurement; run in release"]
fn append_and_prove_throughput() {
    for algorithm in [
        HashAlgorithm::Blake3,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sm3,
    ] {
        let mut log = MerkleLog::new(algorithm, MemoryStore::with_capacity(LEAVES));
        let start = Instant::now();
        for i in 0..LEAVES {
            log.append(fake_leaf(i)).unwrap();
        }
        let append = start.elapsed();
        black_box(log.root());

        let proofs = 100_000u64;
        let start = Instant::now();
        let mut generated = Vec::with_capacity(proofs as usize);
        for k in 0..proofs {
            let index = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) % LEAVES;
            generated.push(log.inclusion_proof(index, LEAVES).unwrap());
        }
        let prove = start.elapsed();
        let head = log.head();
        let start = Instant::now();
        for proof in &generated {
            verify_inclusion(algorithm, &fake_leaf(proof.leaf_index), proof, &head).unwrap();
        }
        let verify = start.elapsed();
        println!(
            "{algorithm}: {:.2} M appends/s, {:.0} k inclusion proofs/s, {:.0} k verifications/s \
             ({LEAVES} leaves)",
            LEAVES as f64 / append.as_secs_f64() / 1e6,
            proofs as f64 / prove.as_secs_f64() / 1e3,
            proofs as f64 / verify.as_secs_f64() / 1e3,
        );
    }
}
