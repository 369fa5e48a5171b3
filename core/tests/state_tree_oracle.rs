//! The state tree against its oracle, the `jmt` crate (the Jellyfish Merkle tree): for random
//! sequences of writes and deletions, both compute the same root after every block, and the
//! crate's own proof check accepts exactly what this tree's proofs say (present with its value,
//! or absent), with SHA-256 as the hash.

use std::collections::BTreeMap;

use evidence_core::digest::HashAlgorithm;
use evidence_core::state_tree::{MemoryStateTree, PLACEHOLDER, StateProof, key_hash};
use jmt::mock::MockTreeStore;
use jmt::{KeyHash, RootHash, Sha256Jmt};
use proptest::prelude::*;

const ALG: HashAlgorithm = HashAlgorithm::Sha256;

/// One block of writes: keys from a small space (so that later blocks update and delete keys
/// of earlier ones), each set to a value or removed.
fn blocks() -> impl Strategy<Value = Vec<Vec<(u16, Option<u8>)>>> {
    prop::collection::vec(
        prop::collection::vec(
            (0u16..600, prop::option::weighted(0.85, any::<u8>())),
            1..60,
        ),
        1..8,
    )
}

/// The leaf of the oracle's proof, from its serialised form (its fields are not public).
fn leaf_of(proof: &serde_json::Value) -> Option<([u8; 32], [u8; 32])> {
    let bytes = |value: &serde_json::Value| -> [u8; 32] {
        let list: Vec<u8> = value
            .as_array()
            .expect("an array of bytes")
            .iter()
            .map(|b| u8::try_from(b.as_u64().expect("a byte")).expect("a byte"))
            .collect();
        list.try_into().expect("32 bytes")
    };
    let leaf = &proof["leaf"];
    (!leaf.is_null()).then(|| (bytes(&leaf["key_hash"]), bytes(&leaf["value_hash"])))
}

fn key(k: u16) -> Vec<u8> {
    format!("state key {k}").into_bytes()
}

fn value(v: u8) -> Vec<u8> {
    vec![v; 1 + usize::from(v % 7)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn roots_and_proofs_agree_with_the_jellyfish_merkle_tree(blocks in blocks()) {
        let store = MockTreeStore::default();
        let jmt = Sha256Jmt::new(&store);
        let mut ours = MemoryStateTree::new(ALG);
        let mut model: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
        for (version, block) in blocks.iter().enumerate() {
            // The last write of a key in a block wins, as in a block's write set.
            let mut writes: BTreeMap<u16, Option<u8>> = BTreeMap::new();
            for (k, v) in block {
                writes.insert(*k, *v);
            }
            let value_set: Vec<(KeyHash, Option<Vec<u8>>)> = writes
                .iter()
                .map(|(k, v)| (KeyHash(key_hash(ALG, &key(*k))), v.map(value)))
                .collect();
            let (root, batch) = jmt.put_value_set(value_set, version as u64).unwrap();
            store.write_tree_update_batch(batch).unwrap();
            for (k, v) in &writes {
                let v = v.map(value);
                ours.set(&key(*k), v.as_deref());
                match v {
                    Some(v) => { model.insert(*k, v); }
                    None => { model.remove(k); }
                }
            }
            prop_assert_eq!(ours.root(), root.0, "block {}", version);
            // Proofs for keys present and absent, checked by the oracle's verifier through
            // its own proof (same root) and by ours.
            for k in (0u16..600).step_by(37) {
                let expected = model.get(&k);
                let proof: StateProof = ours.prove(&key(k));
                proof
                    .verify(ALG, &ours.root(), &key(k), expected.map(Vec::as_slice))
                    .unwrap();
                let (found, jmt_proof) = jmt
                    .get_with_proof(KeyHash(key_hash(ALG, &key(k))), version as u64)
                    .unwrap();
                prop_assert_eq!(found.as_ref(), expected);
                jmt_proof
                    .verify(RootHash(ours.root()), KeyHash(key_hash(ALG, &key(k))), expected)
                    .unwrap();
                // The oracle's proof, read from its serialised form, is ours: the same leaf and
                // the same number of siblings.
                let text = serde_json::to_value(&jmt_proof).unwrap();
                if std::env::var_os("SHOW_JMT_PROOF").is_some() {
                    eprintln!("{text}");
                }
                prop_assert_eq!(
                    text["siblings"].as_array().unwrap().len(),
                    proof.siblings.len()
                );
                prop_assert_eq!(leaf_of(&text), proof.leaf);
            }
        }
    }
}

#[test]
fn the_empty_tree_is_the_placeholder_for_both() {
    assert_eq!(MemoryStateTree::new(ALG).root(), PLACEHOLDER);
    let store = MockTreeStore::default();
    let jmt = Sha256Jmt::new(&store);
    let (root, _) = jmt
        .put_value_set(Vec::<(KeyHash, Option<Vec<u8>>)>::new(), 0)
        .unwrap();
    assert_eq!(root.0, PLACEHOLDER);
}
