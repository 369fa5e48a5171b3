//! The Merkle log against an independent RFC 6962 / 9162 implementation (the `ct-merkle`
//! crate, with BLAKE3 through the `digest` traits): roots, inclusion proofs and consistency
//! proofs must agree byte for byte, including roots and proofs for earlier sizes of a larger
//! log. Also: proofs from the log verify for every (index, size) and (old, new) pair, and every
//! single-bit change to a valid proof, its sizes, the leaf or the trusted root is rejected.

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof as CtConsistency, InclusionProof as CtInclusion, RootHash};
use evidence_core::HashAlgorithm;
use evidence_core::merkle::{
    self, ConsistencyProof, InclusionProof, MemoryStore, MerkleLog, NodeHash, TreeHead,
    verify_consistency, verify_inclusion,
};
use proptest::prelude::*;

type Oracle = MemoryBackedTree<blake3::Hasher, Vec<u8>>;

const BLAKE3: HashAlgorithm = HashAlgorithm::Blake3;

/// A deterministic generator for sampling within one proptest case.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `[lo, hi]`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// Leaf data of varying length (0..=80 bytes); distinct for distinct indices.
fn leaf_data(seed: u64, index: u64) -> Vec<u8> {
    let mut rng = SplitMix(seed ^ index.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let len = rng.range(0, 72) as usize;
    let mut data = index.to_be_bytes().to_vec();
    data.extend((0..len).map(|_| rng.next() as u8));
    data
}

/// Our log over leaves `0..n` of `seed`. The oracle is built incrementally by each test, since
/// it only proves at its current size.
fn our_log(algorithm: HashAlgorithm, seed: u64, n: u64) -> MerkleLog<MemoryStore> {
    let mut log = MerkleLog::new(algorithm, MemoryStore::with_capacity(n));
    for i in 0..n {
        let index = log
            .append(merkle::leaf_hash(algorithm, &leaf_data(seed, i)))
            .unwrap();
        assert_eq!(index, i);
    }
    log
}

fn path_bytes(path: &[NodeHash]) -> Vec<u8> {
    path.concat()
}

fn oracle_root(oracle: &Oracle) -> NodeHash {
    oracle.root().as_bytes().as_slice().try_into().unwrap()
}

/// Compares everything at the oracle's current size `s` against `log` (which may be larger).
fn compare_at_size(
    log: &MerkleLog<MemoryStore>,
    oracle: &Oracle,
    seed: u64,
    indices: &[u64],
    old_sizes: &[u64],
) {
    let s = oracle.len();
    let root = oracle_root(oracle);
    assert_eq!(log.root_at(s).unwrap(), root, "root at size {s}");
    let head = TreeHead::new(s, root);
    let ct_root = oracle.root();
    for &i in indices {
        let ours = log.inclusion_proof(i, s).unwrap();
        let theirs = oracle.prove_inclusion(i as usize);
        assert_eq!(
            path_bytes(&ours.path),
            theirs.as_bytes(),
            "inclusion path of {i} in {s}"
        );
        let data = leaf_data(seed, i);
        // Each verifier accepts the other's proof.
        verify_inclusion(BLAKE3, &merkle::leaf_hash(BLAKE3, &data), &ours, &head).unwrap();
        let as_ct = CtInclusion::<blake3::Hasher>::from_bytes(path_bytes(&ours.path));
        ct_root.verify_inclusion(&data, i, &as_ct).unwrap();
    }
    for &old in old_sizes {
        let ours = log.consistency_proof(old, s).unwrap();
        let theirs = oracle.prove_consistency((s - old) as usize);
        assert_eq!(
            path_bytes(&ours.path),
            theirs.as_bytes(),
            "consistency path {old} -> {s}"
        );
        let old_root = log.root_at(old).unwrap();
        verify_consistency(BLAKE3, &ours, &TreeHead::new(old, old_root), &head).unwrap();
        if old < s {
            let as_ct =
                CtConsistency::<blake3::Hasher>::try_from_bytes(path_bytes(&ours.path)).unwrap();
            let ct_old = RootHash::<blake3::Hasher>::new(old_root.into(), old);
            ct_root.verify_consistency(&ct_old, &as_ct).unwrap();
        }
    }
}

#[test]
fn agrees_with_the_oracle_on_every_proof_of_small_trees() {
    let seed = 7;
    let log = our_log(BLAKE3, seed, 70);
    let mut oracle = Oracle::new();
    assert_eq!(log.root_at(0).unwrap(), oracle_root(&oracle));
    for s in 1..=70u64 {
        oracle.push(leaf_data(seed, s - 1));
        let indices: Vec<u64> = (0..s).collect();
        let old_sizes: Vec<u64> = (1..=s).collect();
        compare_at_size(&log, &oracle, seed, &indices, &old_sizes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: proptest_cases(96), ..ProptestConfig::default() })]

    /// Random trees up to 3000 leaves, compared at random earlier sizes and at the full size.
    #[test]
    fn agrees_with_the_oracle_on_random_trees(n in 1u64..=3000, seed in any::<u64>()) {
        let log = our_log(BLAKE3, seed, n);
        let mut rng = SplitMix(seed);
        let mut sizes: Vec<u64> = (0..6).map(|_| rng.range(1, n)).collect();
        sizes.push(n);
        sizes.sort_unstable();
        sizes.dedup();
        let mut oracle = Oracle::new();
        for s in sizes {
            while oracle.len() < s {
                oracle.push(leaf_data(seed, oracle.len()));
            }
            let mut indices: Vec<u64> = (0..8).map(|_| rng.range(0, s - 1)).collect();
            indices.extend([0, s - 1]);
            let mut old_sizes: Vec<u64> = (0..8).map(|_| rng.range(1, s)).collect();
            old_sizes.extend([1, s]);
            compare_at_size(&log, &oracle, seed, &indices, &old_sizes);
        }
        prop_assert_eq!(log.root(), oracle_root(&oracle));
    }

    /// Every proof the log produces verifies, for every pair, under every algorithm.
    #[test]
    fn every_proof_verifies(n in 1u64..=64, seed in any::<u64>(), algorithm in 0u8..3) {
        let algorithm = [HashAlgorithm::Blake3, HashAlgorithm::Sha256, HashAlgorithm::Sm3]
            [usize::from(algorithm)];
        let log = our_log(algorithm, seed, n);
        let heads: Vec<TreeHead> = (0..=n).map(|s| log.head_at(s).unwrap()).collect();
        for s in 1..=n {
            for i in 0..s {
                let proof = log.inclusion_proof(i, s).unwrap();
                let leaf = log.leaf(i).unwrap();
                prop_assert_eq!(verify_inclusion(algorithm, &leaf, &proof, &heads[s as usize]), Ok(()));
            }
            for old in 1..=s {
                let proof = log.consistency_proof(old, s).unwrap();
                prop_assert_eq!(
                    verify_consistency(algorithm, &proof, &heads[old as usize], &heads[s as usize]),
                    Ok(())
                );
            }
        }
    }

    /// Any single-bit change to an inclusion proof (path, index, size), the leaf hash or the
    /// trusted head (size, root) is rejected.
    #[test]
    fn every_bit_flip_breaks_an_inclusion_proof(n in 1u64..=400, seed in any::<u64>()) {
        let log = our_log(BLAKE3, seed, n);
        let mut rng = SplitMix(seed);
        let s = rng.range(1, n);
        let i = rng.range(0, s - 1);
        let head = log.head_at(s).unwrap();
        let leaf = log.leaf(i).unwrap();
        let proof = log.inclusion_proof(i, s).unwrap();
        prop_assert!(verify_inclusion(BLAKE3, &leaf, &proof, &head).is_ok());
        let rejects = |leaf: &NodeHash, proof: &InclusionProof, head: &TreeHead| {
            verify_inclusion(BLAKE3, leaf, proof, head).is_err()
        };
        for (k, bit) in all_hash_bits(proof.path.len()) {
            let mut bad = proof.clone();
            bad.path[k][bit / 8] ^= 1 << (bit % 8);
            prop_assert!(rejects(&leaf, &bad, &head), "path[{}] bit {}", k, bit);
        }
        for bit in 0..64 {
            let bad = InclusionProof { leaf_index: i ^ (1 << bit), ..proof.clone() };
            prop_assert!(rejects(&leaf, &bad, &head), "index bit {}", bit);
            let bad = InclusionProof { tree_size: s ^ (1 << bit), ..proof.clone() };
            prop_assert!(rejects(&leaf, &bad, &head), "proof size bit {}", bit);
            let bad_head = TreeHead::new(s ^ (1 << bit), head.root);
            prop_assert!(rejects(&leaf, &proof, &bad_head), "head size bit {}", bit);
        }
        for bit in 0..256 {
            let mut bad_leaf = leaf;
            bad_leaf[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(rejects(&bad_leaf, &proof, &head), "leaf bit {}", bit);
            let mut bad_head = head;
            bad_head.root[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(rejects(&leaf, &proof, &bad_head), "root bit {}", bit);
        }
    }

    /// Any single-bit change to a consistency proof (path, sizes) or to either trusted head is
    /// rejected.
    #[test]
    fn every_bit_flip_breaks_a_consistency_proof(n in 1u64..=400, seed in any::<u64>()) {
        let log = our_log(BLAKE3, seed, n);
        let mut rng = SplitMix(seed);
        let new_size = rng.range(1, n);
        let old_size = rng.range(1, new_size);
        let old = log.head_at(old_size).unwrap();
        let new = log.head_at(new_size).unwrap();
        let proof = log.consistency_proof(old_size, new_size).unwrap();
        prop_assert!(verify_consistency(BLAKE3, &proof, &old, &new).is_ok());
        let rejects = |proof: &ConsistencyProof, old: &TreeHead, new: &TreeHead| {
            verify_consistency(BLAKE3, proof, old, new).is_err()
        };
        for (k, bit) in all_hash_bits(proof.path.len()) {
            let mut bad = proof.clone();
            bad.path[k][bit / 8] ^= 1 << (bit % 8);
            prop_assert!(rejects(&bad, &old, &new), "path[{}] bit {}", k, bit);
        }
        for bit in 0..64 {
            let bad = ConsistencyProof { old_size: old_size ^ (1 << bit), ..proof.clone() };
            prop_assert!(rejects(&bad, &old, &new), "proof old size bit {}", bit);
            let bad = ConsistencyProof { new_size: new_size ^ (1 << bit), ..proof.clone() };
            prop_assert!(rejects(&bad, &old, &new), "proof new size bit {}", bit);
            let bad_old = TreeHead::new(old_size ^ (1 << bit), old.root);
            prop_assert!(rejects(&proof, &bad_old, &new), "old head size bit {}", bit);
            let bad_new = TreeHead::new(new_size ^ (1 << bit), new.root);
            prop_assert!(rejects(&proof, &old, &bad_new), "new head size bit {}", bit);
        }
        for bit in 0..256 {
            let mut bad_old = old;
            bad_old.root[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(rejects(&proof, &bad_old, &new), "old root bit {}", bit);
            let mut bad_new = new;
            bad_new.root[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(rejects(&proof, &old, &bad_new), "new root bit {}", bit);
        }
    }

    /// Proofs survive the canonical encoding unchanged, and decoding rejects any truncation.
    #[test]
    fn proof_encodings_round_trip(n in 1u64..=500, seed in any::<u64>()) {
        use evidence_core::{Decode, Encode};
        let log = our_log(BLAKE3, seed, n);
        let mut rng = SplitMix(seed);
        let s = rng.range(1, n);
        let inclusion = log.inclusion_proof(rng.range(0, s - 1), s).unwrap();
        let bytes = inclusion.to_canonical_bytes();
        prop_assert_eq!(&InclusionProof::from_canonical_bytes(&bytes).unwrap(), &inclusion);
        prop_assert!(InclusionProof::from_canonical_bytes(&bytes[..bytes.len() - 1]).is_err());
        let consistency = log.consistency_proof(rng.range(1, s), s).unwrap();
        let bytes = consistency.to_canonical_bytes();
        prop_assert_eq!(&ConsistencyProof::from_canonical_bytes(&bytes).unwrap(), &consistency);
        prop_assert!(ConsistencyProof::from_canonical_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
}

/// Every (path element, bit) position of a path of `len` hashes.
fn all_hash_bits(len: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..len).flat_map(|k| (0..256).map(move |bit| (k, bit)))
}

/// The number of property-test cases: `default`, or `PROPTEST_CASES` from the environment when
/// set (for the long runs; CI uses the defaults).
fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}
