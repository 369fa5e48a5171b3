//! The authenticated state map: a sparse Merkle tree over the contract state, with proofs that
//! a key holds a value, or holds none, under a root.
//!
//! The tree is the binary view of a Jellyfish Merkle tree (the 16-ary tree of Diem and Penumbra,
//! whose roots and proofs are those of this binary tree): every key is hashed to 256 bits, read
//! from the most significant bit of the first byte; a subtree holding no key hashes to a fixed
//! placeholder, one holding exactly one key is that key's leaf (the leaf sits as high as the
//! keys around it allow, not at depth 256), and any other subtree is an internal node over its
//! two halves. With `H` the chain's hash algorithm:
//!
//! - key hash `H(key)`, value hash `H(value)`;
//! - leaf `H("JMT::LeafNode" || key hash || value hash)`;
//! - internal node `H("JMT::IntrnalNode" || left || right)`;
//! - empty subtree: the 32 ASCII bytes `SPARSE_MERKLE_PLACEHOLDER_HASH__`.
//!
//! The hashing is exactly the Jellyfish Merkle tree's, so that its implementations (and the
//! `jmt` crate, the oracle of this module's tests) compute the same roots and proofs. A proof
//! ([`StateProof`]) is the leaf found where the key's path ends (its own, another key's, or
//! none) with the siblings from there up to the root.
//!
//! [`MemoryStateTree`] computes roots and proofs from a map held in memory; it is the reference
//! the node's stored tree is tested against and what tests and vectors build proofs with.

use std::collections::BTreeMap;
use std::ops::Bound;

use thiserror::Error;

use crate::digest::HashAlgorithm;
use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};

/// What a leaf's hash starts with.
pub const LEAF_DOMAIN: &[u8] = b"JMT::LeafNode";
/// What an internal node's hash starts with.
pub const INTERNAL_DOMAIN: &[u8] = b"JMT::IntrnalNode";
/// The hash of an empty subtree (and the root of an empty map).
pub const PLACEHOLDER: [u8; 32] = *b"SPARSE_MERKLE_PLACEHOLDER_HASH__";
/// The most siblings a proof has: one per bit of a key hash.
pub const SIBLINGS_MAX: usize = 256;

/// A 32-byte node hash (the chain's algorithm is implied, as in the Merkle log).
pub type NodeHash = [u8; 32];

/// The hash of a state key, which decides its place in the tree.
pub fn key_hash(algorithm: HashAlgorithm, key: &[u8]) -> NodeHash {
    algorithm.hash(key).bytes
}

/// The hash of a state value.
pub fn value_hash(algorithm: HashAlgorithm, value: &[u8]) -> NodeHash {
    algorithm.hash(value).bytes
}

/// The hash of the leaf of `key_hash` holding a value whose hash is `value_hash`.
pub fn leaf_hash(algorithm: HashAlgorithm, key_hash: &NodeHash, value_hash: &NodeHash) -> NodeHash {
    algorithm
        .hash_parts(&[LEAF_DOMAIN, key_hash, value_hash])
        .bytes
}

/// The hash of an internal node over `left` and `right`.
pub fn internal_hash(algorithm: HashAlgorithm, left: &NodeHash, right: &NodeHash) -> NodeHash {
    algorithm.hash_parts(&[INTERNAL_DOMAIN, left, right]).bytes
}

/// Bit `index` of a key hash, from the most significant bit of byte 0.
pub fn bit(key_hash: &NodeHash, index: usize) -> bool {
    key_hash[index / 8] & (0x80 >> (index % 8)) != 0
}

/// The number of leading bits two key hashes share.
pub fn common_prefix_bits(a: &NodeHash, b: &NodeHash) -> usize {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let differ = x ^ y;
        if differ != 0 {
            return i * 8 + differ.leading_zeros() as usize;
        }
    }
    256
}

/// A proof that a key holds a value, or none, under a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateProof {
    /// The leaf where the key's path ends: `(key hash, value hash)` of the key itself (it is
    /// present), of the only other key in that subtree (it is absent), or nothing (the subtree
    /// is empty: it is absent).
    pub leaf: Option<(NodeHash, NodeHash)>,
    /// The siblings on the way from that subtree up to the root, the lowest first.
    pub siblings: Vec<NodeHash>,
}

/// Why a state proof does not prove what it was asked to.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StateProofError {
    #[error("the proof has {0} siblings; a key hash has only 256 bits")]
    TooManySiblings(usize),
    #[error("the proof's leaf is another key's, so it proves the key absent, not present")]
    OtherKey,
    #[error("the proof's leaf holds another value than the one claimed")]
    ValueMismatch,
    #[error("the proof shows an empty subtree, so it proves the key absent, not present")]
    EmptySubtree,
    #[error("the proof's leaf is the key's own: it proves the key present, not absent")]
    KeyPresent,
    #[error(
        "the proof's leaf shares only {shared} leading bits with the key, but stands at depth \
         {depth}: the key's path does not end there"
    )]
    NotOnPath { shared: usize, depth: usize },
    #[error("the proof leads to another root than the one certified")]
    RootMismatch,
}

impl StateProof {
    /// The root the proof leads to from `key_hash`, given what the key holds (`Some` value hash)
    /// or that it holds nothing (`None`), after checking that the leaf fits that claim.
    ///
    /// # Errors
    /// The proof is too long, or its leaf contradicts the claim.
    pub fn root(
        &self,
        algorithm: HashAlgorithm,
        key_hash: &NodeHash,
        claimed: Option<&NodeHash>,
    ) -> Result<NodeHash, StateProofError> {
        let depth = self.siblings.len();
        if depth > SIBLINGS_MAX {
            return Err(StateProofError::TooManySiblings(depth));
        }
        match (claimed, &self.leaf) {
            (Some(value), Some((leaf_key, leaf_value))) => {
                if leaf_key != key_hash {
                    return Err(StateProofError::OtherKey);
                }
                if leaf_value != value {
                    return Err(StateProofError::ValueMismatch);
                }
            }
            (Some(_), None) => return Err(StateProofError::EmptySubtree),
            (None, Some((leaf_key, _))) => {
                if leaf_key == key_hash {
                    return Err(StateProofError::KeyPresent);
                }
                let shared = common_prefix_bits(leaf_key, key_hash);
                if shared < depth {
                    return Err(StateProofError::NotOnPath { shared, depth });
                }
            }
            (None, None) => {}
        }
        let mut hash = match &self.leaf {
            Some((leaf_key, leaf_value)) => leaf_hash(algorithm, leaf_key, leaf_value),
            None => PLACEHOLDER,
        };
        for (level, sibling) in self.siblings.iter().enumerate() {
            // The lowest sibling is at depth `depth`, beside the bit `depth - 1` of the key.
            let index = depth - 1 - level;
            hash = if bit(key_hash, index) {
                internal_hash(algorithm, sibling, &hash)
            } else {
                internal_hash(algorithm, &hash, sibling)
            };
        }
        Ok(hash)
    }

    /// Verifies that under `root` the key `key` holds `value` (`Some`) or nothing (`None`).
    ///
    /// # Errors
    /// The proof contradicts the claim or leads to another root.
    pub fn verify(
        &self,
        algorithm: HashAlgorithm,
        root: &NodeHash,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), StateProofError> {
        let key_hash = key_hash(algorithm, key);
        let value_hash = value.map(|value| value_hash(algorithm, value));
        if self.root(algorithm, &key_hash, value_hash.as_ref())? == *root {
            Ok(())
        } else {
            Err(StateProofError::RootMismatch)
        }
    }
}

impl Encode for StateProof {
    fn encode(&self, writer: &mut Writer) {
        match &self.leaf {
            None => {
                writer.u8(0);
            }
            Some((key, value)) => {
                writer.u8(1).raw(key).raw(value);
            }
        }
        writer.u32(self.siblings.len() as u32);
        for sibling in &self.siblings {
            writer.raw(sibling);
        }
    }
}

impl Decode for StateProof {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let leaf = match reader.u8("state proof leaf")? {
            0 => None,
            1 => Some((
                reader.array::<32>("leaf key hash")?,
                reader.array::<32>("leaf value hash")?,
            )),
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "state proof leaf",
                    tag,
                });
            }
        };
        let count = reader.u32("state proof siblings")? as usize;
        if count > SIBLINGS_MAX {
            return Err(DecodeError::InvalidValue {
                what: "state proof siblings",
                reason: format!("{count} siblings; at most {SIBLINGS_MAX}"),
            });
        }
        let mut siblings = Vec::with_capacity(count);
        for _ in 0..count {
            siblings.push(reader.array::<32>("state proof sibling")?);
        }
        Ok(Self { leaf, siblings })
    }
}

/// A state map held in memory (key hash → value hash), with its root and proofs computed from
/// the whole map: the reference for the stored tree, and the builder of tests' proofs.
#[derive(Debug, Clone)]
pub struct MemoryStateTree {
    algorithm: HashAlgorithm,
    leaves: BTreeMap<NodeHash, NodeHash>,
}

impl MemoryStateTree {
    pub fn new(algorithm: HashAlgorithm) -> Self {
        Self {
            algorithm,
            leaves: BTreeMap::new(),
        }
    }

    /// Sets `key` to `value`, or removes it (`None`).
    pub fn set(&mut self, key: &[u8], value: Option<&[u8]>) {
        let key_hash = key_hash(self.algorithm, key);
        match value {
            Some(value) => {
                self.leaves
                    .insert(key_hash, value_hash(self.algorithm, value));
            }
            None => {
                self.leaves.remove(&key_hash);
            }
        }
    }

    /// Sets the leaf of `key_hash` to `value_hash` directly, or removes it.
    pub fn set_hashed(&mut self, key_hash: NodeHash, value_hash: Option<NodeHash>) {
        match value_hash {
            Some(value_hash) => {
                self.leaves.insert(key_hash, value_hash);
            }
            None => {
                self.leaves.remove(&key_hash);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The root hash.
    pub fn root(&self) -> NodeHash {
        self.subtree_root(&[0u8; 32], 0)
    }

    /// A proof for `key`: present with its value, or absent.
    pub fn prove(&self, key: &[u8]) -> StateProof {
        self.prove_hashed(&key_hash(self.algorithm, key))
    }

    /// A proof for the key whose hash is `key_hash`.
    pub fn prove_hashed(&self, key_hash: &NodeHash) -> StateProof {
        let mut siblings = Vec::new();
        let mut depth = 0;
        loop {
            let (lower, upper) = range_of(key_hash, depth);
            let mut keys = self.range(&lower, &upper);
            let first = keys.next();
            let second = keys.next();
            match (first, second) {
                (None, _) => {
                    siblings.reverse();
                    return StateProof {
                        leaf: None,
                        siblings,
                    };
                }
                (Some((key, value)), None) => {
                    siblings.reverse();
                    return StateProof {
                        leaf: Some((*key, *value)),
                        siblings,
                    };
                }
                _ => {
                    // The sibling is the other half at depth + 1.
                    let mut other = *key_hash;
                    flip(&mut other, depth);
                    siblings.push(self.subtree_root(&other, depth + 1));
                    depth += 1;
                }
            }
        }
    }

    /// The root of the subtree at `depth` on `path`'s way (the first `depth` bits of `path`).
    fn subtree_root(&self, path: &NodeHash, depth: usize) -> NodeHash {
        let (lower, upper) = range_of(path, depth);
        let mut keys = self.range(&lower, &upper);
        match (keys.next(), keys.next()) {
            (None, _) => PLACEHOLDER,
            (Some((key, value)), None) => leaf_hash(self.algorithm, key, value),
            _ => {
                let mut left = *path;
                clear(&mut left, depth);
                let mut right = *path;
                set(&mut right, depth);
                internal_hash(
                    self.algorithm,
                    &self.subtree_root(&left, depth + 1),
                    &self.subtree_root(&right, depth + 1),
                )
            }
        }
    }

    fn range(
        &self,
        lower: &NodeHash,
        upper: &NodeHash,
    ) -> std::collections::btree_map::Range<'_, NodeHash, NodeHash> {
        self.leaves
            .range((Bound::Included(*lower), Bound::Included(*upper)))
    }
}

/// The smallest and largest key hashes that share the first `depth` bits of `path`.
fn range_of(path: &NodeHash, depth: usize) -> (NodeHash, NodeHash) {
    let mut lower = *path;
    let mut upper = *path;
    for index in depth..256 {
        clear(&mut lower, index);
        set(&mut upper, index);
    }
    (lower, upper)
}

fn set(hash: &mut NodeHash, index: usize) {
    hash[index / 8] |= 0x80 >> (index % 8);
}

fn clear(hash: &mut NodeHash, index: usize) {
    hash[index / 8] &= !(0x80 >> (index % 8));
}

fn flip(hash: &mut NodeHash, index: usize) {
    hash[index / 8] ^= 0x80 >> (index % 8);
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALG: HashAlgorithm = HashAlgorithm::Blake3;

    fn tree(keys: &[&str]) -> MemoryStateTree {
        let mut tree = MemoryStateTree::new(ALG);
        for key in keys {
            tree.set(key.as_bytes(), Some(format!("value of {key}").as_bytes()));
        }
        tree
    }

    #[test]
    fn an_empty_map_has_the_placeholder_root_and_proves_any_key_absent() {
        let tree = MemoryStateTree::new(ALG);
        assert_eq!(tree.root(), PLACEHOLDER);
        let proof = tree.prove(b"d:anything");
        assert_eq!(
            proof,
            StateProof {
                leaf: None,
                siblings: vec![]
            }
        );
        proof
            .verify(ALG, &PLACEHOLDER, b"d:anything", None)
            .unwrap();
        assert_eq!(
            proof.verify(ALG, &PLACEHOLDER, b"d:anything", Some(b"x")),
            Err(StateProofError::EmptySubtree)
        );
    }

    #[test]
    fn one_key_is_its_own_leaf_at_the_root() {
        let tree = tree(&["a"]);
        let kh = key_hash(ALG, b"a");
        let vh = value_hash(ALG, b"value of a");
        assert_eq!(tree.root(), leaf_hash(ALG, &kh, &vh));
        let proof = tree.prove(b"a");
        assert!(proof.siblings.is_empty());
        proof
            .verify(ALG, &tree.root(), b"a", Some(b"value of a"))
            .unwrap();
        // Any other key is absent, proved by the same lone leaf.
        let absent = tree.prove(b"b");
        assert_eq!(absent.leaf, Some((kh, vh)));
        absent.verify(ALG, &tree.root(), b"b", None).unwrap();
    }

    #[test]
    fn every_key_proves_present_and_others_absent_and_nothing_else() {
        let keys: Vec<String> = (0..200).map(|i| format!("key {i}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let tree = tree(&refs);
        let root = tree.root();
        for key in &keys {
            let value = format!("value of {key}");
            let proof = tree.prove(key.as_bytes());
            proof
                .verify(ALG, &root, key.as_bytes(), Some(value.as_bytes()))
                .unwrap();
            assert_eq!(
                proof.verify(ALG, &root, key.as_bytes(), Some(b"another value")),
                Err(StateProofError::ValueMismatch)
            );
            assert_eq!(
                proof.verify(ALG, &root, key.as_bytes(), None),
                Err(StateProofError::KeyPresent)
            );
            // Round trip through the canonical encoding.
            let bytes = proof.to_canonical_bytes();
            assert_eq!(StateProof::from_canonical_bytes(&bytes).unwrap(), proof);
        }
        for i in 0..200 {
            let key = format!("absent {i}");
            let proof = tree.prove(key.as_bytes());
            proof.verify(ALG, &root, key.as_bytes(), None).unwrap();
            assert!(
                proof
                    .verify(ALG, &root, key.as_bytes(), Some(b"v"))
                    .is_err()
            );
            // A proof of one absent key does not prove another key absent unless its path
            // ends at the same place.
            let other = format!("key {i}");
            assert!(proof.verify(ALG, &root, other.as_bytes(), None).is_err());
        }
    }

    #[test]
    fn a_changed_sibling_or_root_fails() {
        let tree = tree(&["a", "b", "c", "d", "e"]);
        let root = tree.root();
        let mut proof = tree.prove(b"c");
        assert!(!proof.siblings.is_empty());
        proof.siblings[0][0] ^= 1;
        assert_eq!(
            proof.verify(ALG, &root, b"c", Some(b"value of c")),
            Err(StateProofError::RootMismatch)
        );
        let mut other_root = root;
        other_root[31] ^= 1;
        assert_eq!(
            tree.prove(b"c")
                .verify(ALG, &other_root, b"c", Some(b"value of c")),
            Err(StateProofError::RootMismatch)
        );
    }

    #[test]
    fn proofs_with_too_many_siblings_or_a_bad_leaf_tag_do_not_decode() {
        let proof = StateProof {
            leaf: None,
            siblings: vec![[7; 32]; 257],
        };
        assert!(StateProof::from_canonical_bytes(&proof.to_canonical_bytes()).is_err());
        assert_eq!(
            proof.root(ALG, &[0; 32], None),
            Err(StateProofError::TooManySiblings(257))
        );
        assert!(matches!(
            StateProof::from_canonical_bytes(&[2, 0, 0, 0, 0]),
            Err(DecodeError::UnknownTag { tag: 2, .. })
        ));
        assert!(StateProof::from_canonical_bytes(&[0, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn a_non_inclusion_proof_must_end_on_the_keys_path() {
        // Two keys: the root is internal; the proof for an absent key whose first bit differs
        // from both would end at an empty half; a forged proof that names a leaf from the other
        // half at depth 1 is refused.
        let tree = tree(&["a", "b", "c"]);
        let root = tree.root();
        let a = key_hash(ALG, b"a");
        let mut forged = tree.prove(b"a");
        let depth = forged.siblings.len();
        // Pretend some absent key whose path leaves a's at bit 0 ends at a's leaf.
        let mut absent = a;
        flip(&mut absent, 0);
        forged.leaf = Some((a, value_hash(ALG, b"value of a")));
        assert!(matches!(
            forged.root(ALG, &absent, None),
            Err(StateProofError::NotOnPath { shared: 0, .. })
        ));
        assert!(depth >= 1);
        let _ = root;
    }
}
