//! Inclusion and consistency proofs from their canonical bytes and their JSON form, verified
//! against arbitrary leaves, roots and sizes.
//!
//! Input: a selector byte (bit 0: inclusion or consistency; the rest: hash algorithm), two
//! 32-byte hashes (leaf and root, or old and new root), then the proof bytes.
//!
//! Nothing panics; what decodes re-encodes to the input; a root computed from an inclusion
//! proof verifies against a head of that size and root.

#![no_main]

use evidence_core::encoding::{Decode as _, Encode as _};
use evidence_core::merkle::{
    ConsistencyProof, InclusionProof, NodeHash, TreeHead, root_from_inclusion, verify_consistency,
    verify_inclusion,
};
use evidence_core_fuzz::ALGORITHMS;
use libfuzzer_sys::fuzz_target;

fn json_round_trip<T>(bytes: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = serde_json::from_slice::<T>(bytes) {
        let text = serde_json::to_string(&value).expect("serialises");
        assert_eq!(serde_json::from_str::<T>(&text).expect("reparses"), value);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if rest.len() < 64 {
        return;
    }
    let algorithm = ALGORITHMS[usize::from(selector >> 1) % ALGORITHMS.len()];
    let (hashes, proof_bytes) = rest.split_at(64);
    let first: NodeHash = hashes[..32].try_into().expect("32 bytes");
    let second: NodeHash = hashes[32..].try_into().expect("32 bytes");

    if selector & 1 == 0 {
        json_round_trip::<InclusionProof>(proof_bytes);
        let Ok(proof) = InclusionProof::from_canonical_bytes(proof_bytes) else {
            return;
        };
        assert_eq!(proof.to_canonical_bytes(), proof_bytes);
        let leaf = first;
        let _ = verify_inclusion(
            algorithm,
            &leaf,
            &proof,
            &TreeHead::new(proof.tree_size, second),
        );
        if let Ok(root) = root_from_inclusion(algorithm, &leaf, &proof) {
            verify_inclusion(
                algorithm,
                &leaf,
                &proof,
                &TreeHead::new(proof.tree_size, root),
            )
            .expect("a computed root verifies");
        }
    } else {
        json_round_trip::<ConsistencyProof>(proof_bytes);
        let Ok(proof) = ConsistencyProof::from_canonical_bytes(proof_bytes) else {
            return;
        };
        assert_eq!(proof.to_canonical_bytes(), proof_bytes);
        let old = TreeHead::new(proof.old_size, first);
        let new = TreeHead::new(proof.new_size, second);
        let _ = verify_consistency(algorithm, &proof, &old, &new);
        // Heads of other sizes are refused, never a panic.
        let _ = verify_consistency(
            algorithm,
            &proof,
            &TreeHead::new(proof.new_size, first),
            &TreeHead::new(proof.old_size, second),
        );
    }
});
