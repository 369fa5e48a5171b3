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

// The stored tree ---------------------------------------------------------------------------

/// A place in the tree as the stored tree keeps it: the nibbles (4-bit halves of the key hash,
/// high half first) from the root, at most 64.
pub type NibblePath = Vec<u8>;

/// Nibble `index` of a key hash.
pub fn nibble(key_hash: &NodeHash, index: usize) -> u8 {
    let byte = key_hash[index / 2];
    if index.is_multiple_of(2) {
        byte >> 4
    } else {
        byte & 0x0f
    }
}

/// One of the sixteen places of a page, or the root of a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// No key below.
    Empty,
    /// Exactly one key below: its leaf.
    Leaf {
        key_hash: NodeHash,
        value_hash: NodeHash,
    },
    /// Two keys or more below: the page at the next depth, written at `height`, whose hash
    /// (the root of its subtree) is `hash`.
    Page { height: u64, hash: NodeHash },
}

impl Slot {
    /// The hash of the subtree the slot stands for.
    pub fn hash(&self, algorithm: HashAlgorithm) -> NodeHash {
        match self {
            Self::Empty => PLACEHOLDER,
            Self::Leaf {
                key_hash,
                value_hash,
            } => leaf_hash(algorithm, key_hash, value_hash),
            Self::Page { hash, .. } => *hash,
        }
    }
}

/// A slot's encoding: tag `0` empty, `1` leaf (key hash, value hash), `2` page (height, hash).
impl Encode for Slot {
    fn encode(&self, writer: &mut Writer) {
        match self {
            Self::Empty => {
                writer.u8(0);
            }
            Self::Leaf {
                key_hash,
                value_hash,
            } => {
                writer.u8(1).raw(key_hash).raw(value_hash);
            }
            Self::Page { height, hash } => {
                writer.u8(2).u64(*height).raw(hash);
            }
        }
    }
}

impl Decode for Slot {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.u8("state tree slot")? {
            0 => Ok(Self::Empty),
            1 => Ok(Self::Leaf {
                key_hash: reader.array::<32>("leaf key hash")?,
                value_hash: reader.array::<32>("leaf value hash")?,
            }),
            2 => Ok(Self::Page {
                height: reader.u64("page height")?,
                hash: reader.array::<32>("page hash")?,
            }),
            tag => Err(DecodeError::UnknownTag {
                what: "state tree slot",
                tag,
            }),
        }
    }
}

/// A stored node of the tree: the four binary levels below one place (sixteen slots). A page
/// exists exactly where two keys or more share its path; its hash is that subtree's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub slots: [Slot; 16],
}

impl Page {
    /// The root of the page's subtree.
    pub fn hash(&self, algorithm: HashAlgorithm) -> NodeHash {
        range_hash(algorithm, &self.slots)
    }
}

/// The hash of the binary subtree over `slots` (a power of two of them): a placeholder when
/// all are empty, the leaf's hash when the only one that is not empty is a leaf, else an
/// internal node over the two halves.
fn range_hash(algorithm: HashAlgorithm, slots: &[Slot]) -> NodeHash {
    match lone(slots) {
        Lone::Empty => PLACEHOLDER,
        Lone::Leaf(slot) => slot.hash(algorithm),
        Lone::More if slots.len() == 1 => slots[0].hash(algorithm),
        Lone::More => {
            let (left, right) = slots.split_at(slots.len() / 2);
            internal_hash(
                algorithm,
                &range_hash(algorithm, left),
                &range_hash(algorithm, right),
            )
        }
    }
}

enum Lone {
    Empty,
    /// Exactly one slot is not empty, and it is a leaf.
    Leaf(Slot),
    More,
}

fn lone(slots: &[Slot]) -> Lone {
    let mut found = None;
    for slot in slots {
        match slot {
            Slot::Empty => {}
            Slot::Page { .. } => return Lone::More,
            leaf @ Slot::Leaf { .. } => {
                if found.is_some() {
                    return Lone::More;
                }
                found = Some(*leaf);
            }
        }
    }
    found.map_or(Lone::Empty, Lone::Leaf)
}

impl Encode for Page {
    fn encode(&self, writer: &mut Writer) {
        let mut bitmap = 0u16;
        for (i, slot) in self.slots.iter().enumerate() {
            if *slot != Slot::Empty {
                bitmap |= 1 << i;
            }
        }
        writer.u16(bitmap);
        for slot in &self.slots {
            match slot {
                Slot::Empty => {}
                Slot::Leaf {
                    key_hash,
                    value_hash,
                } => {
                    writer.u8(1).raw(key_hash).raw(value_hash);
                }
                Slot::Page { height, hash } => {
                    writer.u8(2).u64(*height).raw(hash);
                }
            }
        }
    }
}

impl Decode for Page {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bitmap = reader.u16("page bitmap")?;
        let mut slots = [Slot::Empty; 16];
        for (i, slot) in slots.iter_mut().enumerate() {
            if bitmap & (1 << i) == 0 {
                continue;
            }
            *slot = match reader.u8("page slot")? {
                1 => Slot::Leaf {
                    key_hash: reader.array::<32>("leaf key hash")?,
                    value_hash: reader.array::<32>("leaf value hash")?,
                },
                2 => Slot::Page {
                    height: reader.u64("page height")?,
                    hash: reader.array::<32>("page hash")?,
                },
                tag => {
                    return Err(DecodeError::UnknownTag {
                        what: "page slot",
                        tag,
                    });
                }
            };
        }
        Ok(Self { slots })
    }
}

/// Where the stored tree reads its pages: by path and the height that wrote them. A large
/// update reads from several threads at once (see [`update`]), hence `Sync`.
pub trait PageReader: Sync {
    type Error: Send;

    /// The page at `path` written at `height`.
    ///
    /// # Errors
    /// The store failed; a page a slot names that is not there is
    /// [`TreeError::MissingPage`], reported by the tree.
    fn page(&self, path: &[u8], height: u64) -> Result<Option<Page>, Self::Error>;
}

/// Why the stored tree could not be read or updated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TreeError<E> {
    #[error("the state tree's store failed: {0}")]
    Store(E),
    #[error("the state tree lacks the page at {path:?} written at height {height}")]
    MissingPage { path: NibblePath, height: u64 },
}

/// What one block's update of the stored tree produced: the new root, the pages to write and
/// the pages no longer reachable from it (each `(path, height)`), which a pruner may delete once
/// no retained height reads them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TreeUpdate {
    pub root: Option<Slot>,
    /// Boxed: a page is about 1.2 KB, and a block of thousands of keys writes thousands of
    /// them, so growing and joining a vector of pages by value copied megabytes into fresh
    /// memory (about a tenth of a batched load's CPU, BENCHMARKS.md "State-tree pages
    /// boxed").
    pub pages: Vec<(NibblePath, Box<Page>)>,
    pub stale: Vec<(NibblePath, u64)>,
    /// The changes the update applied (key hash → value hash, or `None` for a removal), in key
    /// hash order: enough to apply the same update again from the same root.
    pub changes: Vec<(NodeHash, Option<NodeHash>)>,
}

/// Updates the tree whose root is `root` with `changes` (key hash → new value hash, or `None` to
/// remove the key), writing new pages at `height`. Returns the new root and what to write.
///
/// Only the pages on the changed keys' paths are read and rewritten: O(changes · depth). An
/// update of at least [`PARALLEL_CHANGES_MIN`] keys splits the root page's sixteen subtrees
/// into contiguous runs, one a thread (as many as [`crate::parallel::threads`] gives). The
/// result, the order of its pages and stale pages included, is the same as one thread's.
///
/// # Errors
/// A page cannot be read.
pub fn update<R: PageReader>(
    algorithm: HashAlgorithm,
    reader: &R,
    root: Slot,
    height: u64,
    changes: &BTreeMap<NodeHash, Option<NodeHash>>,
) -> Result<TreeUpdate, TreeError<R::Error>> {
    let parts = if changes.len() >= PARALLEL_CHANGES_MIN {
        crate::parallel::threads()
    } else {
        1
    };
    update_in_parts(algorithm, reader, root, height, changes, parts)
}

/// An update of at least this many keys runs on several threads: below it, starting a thread
/// costs more than the hashing it would share (a new key rehashes about 8 µs of pages).
pub const PARALLEL_CHANGES_MIN: usize = 1_024;

/// [`update`] with the root page's subtrees split into at most `parts` runs, one a thread.
fn update_in_parts<R: PageReader>(
    algorithm: HashAlgorithm,
    reader: &R,
    root: Slot,
    height: u64,
    changes: &BTreeMap<NodeHash, Option<NodeHash>>,
    parts: usize,
) -> Result<TreeUpdate, TreeError<R::Error>> {
    let changes: Vec<(NodeHash, Option<NodeHash>)> =
        changes.iter().map(|(k, v)| (*k, *v)).collect();
    let mut out = TreeUpdate::default();
    let mut updater = Updater::new(algorithm, reader, height, &mut out);
    let new_root = match root {
        Slot::Page {
            height: root_height,
            ..
        } if parts > 1 && !changes.is_empty() => {
            updater.apply_root_in_parts(root_height, &changes, parts)?
        }
        _ => updater.apply(root, &mut Vec::new(), &changes)?,
    };
    out.root = Some(new_root);
    out.changes = changes;
    Ok(out)
}

struct Updater<'a, R> {
    algorithm: HashAlgorithm,
    reader: &'a R,
    height: u64,
    out: &'a mut TreeUpdate,
}

impl<'a, R: PageReader> Updater<'a, R> {
    const fn new(
        algorithm: HashAlgorithm,
        reader: &'a R,
        height: u64,
        out: &'a mut TreeUpdate,
    ) -> Self {
        Self {
            algorithm,
            reader,
            height,
            out,
        }
    }

    fn read(&self, path: &[u8], height: u64) -> Result<Page, TreeError<R::Error>> {
        self.reader
            .page(path, height)
            .map_err(TreeError::Store)?
            .ok_or_else(|| TreeError::MissingPage {
                path: path.to_vec(),
                height,
            })
    }

    /// The root page (written at `root_height`) after `changes` (sorted, at least one), its
    /// subtrees updated in up to `parts` contiguous runs of nibbles, each on its own thread
    /// with its own output. The runs' outputs are joined in nibble order, between the root's
    /// stale entry and its new page, which is where [`Updater::apply`] puts them.
    fn apply_root_in_parts(
        &mut self,
        root_height: u64,
        changes: &[(NodeHash, Option<NodeHash>)],
        parts: usize,
    ) -> Result<Slot, TreeError<R::Error>> {
        let page = self.read(&[], root_height)?;
        self.out.stale.push((Vec::new(), root_height));
        // The changes under nibble `n` are `changes[bounds[n]..bounds[n + 1]]`.
        let mut bounds = [0usize; 17];
        for n in 0..16 {
            let start = bounds[n];
            bounds[n + 1] = start
                + changes[start..]
                    .iter()
                    .take_while(|(k, _)| usize::from(nibble(k, 0)) == n)
                    .count();
        }
        // Runs of nibbles `cuts[i]..cuts[i + 1]` with about equal numbers of changes.
        let mut cuts = vec![0usize];
        for part in 1..parts {
            let target = changes.len() * part / parts;
            let cut = (1..16).find(|n| bounds[*n] >= target).unwrap_or(16);
            if cut > *cuts.last().unwrap_or(&0) && cut < 16 {
                cuts.push(cut);
            }
        }
        cuts.push(16);
        let (algorithm, reader, height) = (self.algorithm, self.reader, self.height);
        let run = &|from: usize, to: usize| {
            let mut out = TreeUpdate::default();
            let mut updater = Updater::new(algorithm, reader, height, &mut out);
            let mut slots = Vec::new();
            for n in from..to {
                let below = &changes[bounds[n]..bounds[n + 1]];
                if below.is_empty() {
                    continue;
                }
                let mut path = vec![n as u8];
                slots.push((n, updater.apply(page.slots[n], &mut path, below)?));
            }
            Ok::<_, TreeError<R::Error>>((out, slots))
        };
        let runs = crate::parallel::each(cuts.len() - 1, |i| run(cuts[i], cuts[i + 1]));
        let mut slots = page.slots;
        for run in runs {
            let (out, updated) = run?;
            self.out.stale.extend(out.stale);
            self.out.pages.extend(out.pages);
            for (n, slot) in updated {
                slots[n] = slot;
            }
        }
        Ok(self.finish(&Vec::new(), slots))
    }

    /// The slot at `path` after `changes` (sorted, all below `path`).
    fn apply(
        &mut self,
        current: Slot,
        path: &mut NibblePath,
        changes: &[(NodeHash, Option<NodeHash>)],
    ) -> Result<Slot, TreeError<R::Error>> {
        if changes.is_empty() {
            return Ok(current);
        }
        match current {
            Slot::Empty => {
                let leaves: Vec<(NodeHash, NodeHash)> = changes
                    .iter()
                    .filter_map(|(k, v)| v.map(|v| (*k, v)))
                    .collect();
                Ok(self.build(path, &leaves))
            }
            Slot::Leaf {
                key_hash,
                value_hash,
            } => {
                // The lone key, unless a change names it, joins the changes' survivors.
                let mut leaves: Vec<(NodeHash, NodeHash)> = changes
                    .iter()
                    .filter_map(|(k, v)| v.map(|v| (*k, v)))
                    .collect();
                if changes.binary_search_by(|(k, _)| k.cmp(&key_hash)).is_err() {
                    let at = leaves.partition_point(|(k, _)| *k < key_hash);
                    leaves.insert(at, (key_hash, value_hash));
                }
                Ok(self.build(path, &leaves))
            }
            Slot::Page { height, .. } => {
                let page = self.read(path, height)?;
                self.out.stale.push((path.clone(), height));
                let depth = path.len();
                let mut slots = page.slots;
                let mut start = 0;
                while start < changes.len() {
                    let n = nibble(&changes[start].0, depth);
                    let end = start
                        + changes[start..]
                            .iter()
                            .take_while(|(k, _)| nibble(k, depth) == n)
                            .count();
                    path.push(n);
                    slots[usize::from(n)] =
                        self.apply(slots[usize::from(n)], path, &changes[start..end])?;
                    path.pop();
                    start = end;
                }
                Ok(self.finish(path, slots))
            }
        }
    }

    /// The slot for `leaves` (sorted, all below `path`) built afresh.
    fn build(&mut self, path: &mut NibblePath, leaves: &[(NodeHash, NodeHash)]) -> Slot {
        match leaves {
            [] => Slot::Empty,
            [(key_hash, value_hash)] => Slot::Leaf {
                key_hash: *key_hash,
                value_hash: *value_hash,
            },
            _ => {
                let depth = path.len();
                let mut slots = [Slot::Empty; 16];
                let mut start = 0;
                while start < leaves.len() {
                    let n = nibble(&leaves[start].0, depth);
                    let end = start
                        + leaves[start..]
                            .iter()
                            .take_while(|(k, _)| nibble(k, depth) == n)
                            .count();
                    path.push(n);
                    slots[usize::from(n)] = self.build(path, &leaves[start..end]);
                    path.pop();
                    start = end;
                }
                self.finish(path, slots)
            }
        }
    }

    /// A page of `slots` at `path`, written at this height; or, when it holds one key or none,
    /// the slot that takes its place (a page exists only above two keys or more).
    fn finish(&mut self, path: &NibblePath, slots: [Slot; 16]) -> Slot {
        match lone(&slots) {
            Lone::Empty => Slot::Empty,
            Lone::Leaf(leaf) => leaf,
            Lone::More => {
                let page = Page { slots };
                let hash = page.hash(self.algorithm);
                self.out.pages.push((path.clone(), Box::new(page)));
                Slot::Page {
                    height: self.height,
                    hash,
                }
            }
        }
    }
}

/// A proof for `key_hash` from the tree whose root is `root`.
///
/// # Errors
/// A page cannot be read.
pub fn prove<R: PageReader>(
    algorithm: HashAlgorithm,
    reader: &R,
    root: Slot,
    key_hash: &NodeHash,
) -> Result<StateProof, TreeError<R::Error>> {
    let mut siblings = Vec::new();
    let mut path: NibblePath = Vec::new();
    let mut current = root;
    let leaf = loop {
        match current {
            Slot::Empty => break None,
            Slot::Leaf {
                key_hash,
                value_hash,
            } => break Some((key_hash, value_hash)),
            Slot::Page { height, .. } => {
                let page = reader
                    .page(&path, height)
                    .map_err(TreeError::Store)?
                    .ok_or_else(|| TreeError::MissingPage {
                        path: path.clone(),
                        height,
                    })?;
                let n = usize::from(nibble(key_hash, path.len()));
                // Four binary levels inside the page; the path may end at any of them.
                let mut range = &page.slots[..];
                let mut offset = 0;
                let mut ended = None;
                while range.len() > 1 {
                    let half = range.len() / 2;
                    let (left, right) = range.split_at(half);
                    let (mine, other) = if n - offset < half {
                        (left, right)
                    } else {
                        offset += half;
                        (right, left)
                    };
                    siblings.push(range_hash(algorithm, other));
                    range = mine;
                    match lone(range) {
                        Lone::Empty => {
                            ended = Some(None);
                            break;
                        }
                        Lone::Leaf(Slot::Leaf {
                            key_hash,
                            value_hash,
                        }) => {
                            ended = Some(Some((key_hash, value_hash)));
                            break;
                        }
                        _ => {}
                    }
                }
                if let Some(leaf) = ended {
                    break leaf;
                }
                path.push(n as u8);
                current = range[0];
            }
        }
    };
    siblings.reverse();
    Ok(StateProof { leaf, siblings })
}

/// The pages of a tree held in memory, for tests and for building proofs of small trees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryPages {
    pages: BTreeMap<(NibblePath, u64), Page>,
}

impl MemoryPages {
    /// Keeps the pages of `update`, written at `height`.
    pub fn apply(&mut self, height: u64, update: &TreeUpdate) {
        for (path, page) in &update.pages {
            self.pages.insert((path.clone(), height), (**page).clone());
        }
    }

    /// Deletes the pages `update` made stale (a pruner's work once no height reads them).
    pub fn prune(&mut self, update: &TreeUpdate) {
        for key in &update.stale {
            self.pages.remove(key);
        }
    }

    pub fn len(&self) -> usize {
        self.pages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }
}

impl PageReader for MemoryPages {
    type Error = std::convert::Infallible;

    fn page(&self, path: &[u8], height: u64) -> Result<Option<Page>, Self::Error> {
        Ok(self.pages.get(&(path.to_vec(), height)).cloned())
    }
}

#[cfg(test)]
mod stored_tests {
    use super::*;
    use proptest::prelude::*;

    const ALG: HashAlgorithm = HashAlgorithm::Blake3;

    fn kh(k: u16) -> NodeHash {
        key_hash(ALG, format!("key {k}").as_bytes())
    }

    fn vh(v: u8) -> NodeHash {
        value_hash(ALG, &[v; 3])
    }

    /// Runs `blocks` through the stored tree and the reference, checking roots and proofs after
    /// each block; returns the stored pages, the updates and the reference after each block.
    fn run(
        blocks: &[Vec<(u16, Option<u8>)>],
    ) -> (MemoryPages, Vec<(Slot, TreeUpdate)>, Vec<MemoryStateTree>) {
        let mut pages = MemoryPages::default();
        let mut reference = MemoryStateTree::new(ALG);
        let mut root = Slot::Empty;
        let mut history = Vec::new();
        let mut snapshots = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            let height = i as u64 + 1;
            let mut changes = BTreeMap::new();
            for (k, v) in block {
                changes.insert(kh(*k), v.map(vh));
            }
            for (k, v) in &changes {
                reference.set_hashed(*k, *v);
            }
            let update = update(ALG, &pages, root, height, &changes).unwrap();
            pages.apply(height, &update);
            root = update.root.unwrap();
            assert_eq!(root.hash(ALG), reference.root(), "block {height}");
            history.push((root, update));
            snapshots.push(reference.clone());
        }
        (pages, history, snapshots)
    }

    fn blocks() -> impl Strategy<Value = Vec<Vec<(u16, Option<u8>)>>> {
        prop::collection::vec(
            prop::collection::vec((0u16..400, prop::option::weighted(0.8, any::<u8>())), 1..80),
            1..10,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_stored_tree_has_the_references_roots_and_proofs_at_every_height(blocks in blocks()) {
            let (pages, history, snapshots) = run(&blocks);
            for ((root, _), reference) in history.iter().zip(&snapshots) {
                for k in (0u16..400).step_by(13) {
                    let proof = prove(ALG, &pages, *root, &kh(k)).unwrap();
                    prop_assert_eq!(&proof, &reference.prove_hashed(&kh(k)));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A block split over threads gives exactly what one thread gives: the root, the pages
        /// and the stale pages, in the same order, whatever the split and whatever the tree
        /// (empty, one leaf, pages, deletions).
        #[test]
        fn an_update_in_parts_is_the_update_on_one_thread(
            blocks in blocks(),
            last in prop::collection::vec(
                (0u16..400, prop::option::weighted(0.7, any::<u8>())),
                0..120,
            ),
        ) {
            let (pages, history, _) = run(&blocks);
            let root = history.last().map_or(Slot::Empty, |(root, _)| *root);
            let height = history.len() as u64 + 1;
            let changes: BTreeMap<NodeHash, Option<NodeHash>> =
                last.iter().map(|(k, v)| (kh(*k), v.map(vh))).collect();
            let one = update_in_parts(ALG, &pages, root, height, &changes, 1).unwrap();
            for parts in [2, 3, 4, 16, 17] {
                let split = update_in_parts(ALG, &pages, root, height, &changes, parts).unwrap();
                prop_assert_eq!(&split, &one, "{} parts", parts);
            }
        }
    }

    #[test]
    fn a_large_update_is_split_and_matches_the_reference() {
        // Above the threshold `update` itself splits the root's subtrees.
        let mut reference = MemoryStateTree::new(ALG);
        let mut pages = MemoryPages::default();
        let mut root = Slot::Empty;
        for height in 1..=3u64 {
            let changes: BTreeMap<NodeHash, Option<NodeHash>> = (0..PARALLEL_CHANGES_MIN as u64
                + 7)
                .map(|i| {
                    let k = key_hash(ALG, format!("large {}", i * height % 2_000).as_bytes());
                    (k, (i % 11 != 0 || height == 1).then(|| vh(height as u8)))
                })
                .collect();
            for (k, v) in &changes {
                reference.set_hashed(*k, *v);
            }
            let update = update(ALG, &pages, root, height, &changes).unwrap();
            let one = update_in_parts(ALG, &pages, root, height, &changes, 1).unwrap();
            let two = update_in_parts(ALG, &pages, root, height, &changes, 2).unwrap();
            assert_eq!(update, one, "height {height}");
            assert_eq!(two, one, "height {height}, two runs");
            pages.apply(height, &update);
            root = update.root.unwrap();
            assert_eq!(root.hash(ALG), reference.root(), "height {height}");
        }
    }

    #[test]
    fn pruning_stale_pages_keeps_the_latest_height_provable() {
        let blocks: Vec<Vec<(u16, Option<u8>)>> = (0..12u16)
            .map(|b| {
                (0..60u16)
                    .map(|i| {
                        (
                            (b * 17 + i * 7) % 300,
                            (i % 9 != 0).then_some((b + i) as u8),
                        )
                    })
                    .collect()
            })
            .collect();
        let (mut pages, history, snapshots) = run(&blocks);
        let before = pages.len();
        for (_, update) in &history {
            pages.prune(update);
        }
        assert!(
            pages.len() < before,
            "{} pages, {before} before",
            pages.len()
        );
        let (root, _) = history.last().unwrap();
        let reference = snapshots.last().unwrap();
        for k in 0..300u16 {
            assert_eq!(
                prove(ALG, &pages, *root, &kh(k)).unwrap(),
                reference.prove_hashed(&kh(k))
            );
        }
        // An old height's pages are gone once pruned: its proofs name the missing page.
        let (old_root, _) = &history[0];
        let missing = (0..300u16).find_map(|k| prove(ALG, &pages, *old_root, &kh(k)).err());
        assert!(matches!(missing, Some(TreeError::MissingPage { .. })));
    }

    #[test]
    fn deleting_all_but_one_key_collapses_the_pages_into_a_leaf() {
        let blocks = vec![
            (0..50u16).map(|k| (k, Some(1u8))).collect::<Vec<_>>(),
            (1..50u16).map(|k| (k, None)).collect(),
        ];
        let (_, history, _) = run(&blocks);
        assert_eq!(
            history[1].0,
            Slot::Leaf {
                key_hash: kh(0),
                value_hash: vh(1)
            }
        );
        assert!(history[1].1.pages.is_empty());
        let blocks = vec![
            vec![(3u16, Some(1u8)), (4, Some(2))],
            vec![(3, None), (4, None)],
        ];
        let (_, history, _) = run(&blocks);
        assert_eq!(history[1].0, Slot::Empty);
    }

    #[test]
    fn pages_round_trip_through_their_encoding() {
        let mut slots = [Slot::Empty; 16];
        slots[1] = Slot::Leaf {
            key_hash: [1; 32],
            value_hash: [2; 32],
        };
        slots[15] = Slot::Page {
            height: 9,
            hash: [3; 32],
        };
        let page = Page { slots };
        assert_eq!(
            Page::from_canonical_bytes(&page.to_canonical_bytes()).unwrap(),
            page
        );
        assert!(Page::from_canonical_bytes(&[0, 1, 7]).is_err());
    }
}
