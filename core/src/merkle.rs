//! The append-only Merkle log, in the tree shape of RFC 9162 (Certificate Transparency v2) §2.1.
//!
//! The byte-level rules (leaf and node hashing, proof encodings, verification algorithms) are
//! normative in SPEC.md §"Merkle log"; this module implements them.
//!
//! * A leaf hash is `H(0x00 || leaf_data)`, an interior node is `H(0x01 || left || right)`, and
//!   the root of the empty log is `H("")`. `H` is the chain's hash algorithm (a runtime
//!   parameter: BLAKE3 by default, SHA-256 or SM3 for the other suites).
//! * The tree over `n` leaves splits at the largest power of two strictly smaller than `n`, so
//!   every left part is a complete subtree. A [`NodeStore`] keeps only complete subtrees, each
//!   written once and never changed, which makes every root and proof computable with
//!   `O(log n)` reads.
//! * [`MerkleLog`] appends leaf hashes and produces roots and proofs for any earlier size;
//!   [`verify_inclusion`] and [`verify_consistency`] check proofs without any store, against a
//!   [`TreeHead`] (size and root) the caller trusts, typically from a signed checkpoint.

use std::convert::Infallible;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use thiserror::Error;

use crate::digest::HashAlgorithm;
use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};

/// A leaf hash, an interior node hash or a root: always 32 bytes.
pub type NodeHash = [u8; 32];

/// Largest number of leaves a log may hold, and the largest tree size a verifier accepts
/// (2^63). It keeps every proof path at most [`MAX_PATH_LEN`] hashes long.
pub const MAX_TREE_SIZE: u64 = 1 << 63;

/// Largest number of hashes in an inclusion or consistency proof path; decoders reject longer
/// paths before allocating.
pub const MAX_PATH_LEN: usize = 64;

/// Domain-separation byte prefixed to leaf data.
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation byte prefixed to a pair of child hashes.
const NODE_PREFIX: u8 = 0x01;

/// The hash of a leaf: `H(0x00 || leaf_data)` (RFC 9162 §2.1.1).
pub fn leaf_hash(algorithm: HashAlgorithm, leaf_data: &[u8]) -> NodeHash {
    let prefix = [LEAF_PREFIX];
    match algorithm {
        HashAlgorithm::Blake3 => {
            let mut hasher = blake3::Hasher::new();
            hasher.update(&prefix);
            hasher.update(leaf_data);
            *hasher.finalize().as_bytes()
        }
        HashAlgorithm::Sha256 => {
            let mut hasher = sha2::Sha256::new();
            hasher.update(prefix);
            hasher.update(leaf_data);
            hasher.finalize().into()
        }
        HashAlgorithm::Sm3 => {
            let mut hasher = sm3::Sm3::new();
            sm3::Digest::update(&mut hasher, prefix);
            sm3::Digest::update(&mut hasher, leaf_data);
            sm3::Digest::finalize(hasher).into()
        }
    }
}

/// The hash of an interior node: `H(0x01 || left || right)` (RFC 9162 §2.1.1).
///
/// Does not allocate; this is the hot path of [`MerkleLog::append`].
pub fn node_hash(algorithm: HashAlgorithm, left: &NodeHash, right: &NodeHash) -> NodeHash {
    let mut input = [0u8; 65];
    input[0] = NODE_PREFIX;
    input[1..33].copy_from_slice(left);
    input[33..].copy_from_slice(right);
    match algorithm {
        HashAlgorithm::Blake3 => *blake3::hash(&input).as_bytes(),
        HashAlgorithm::Sha256 => sha2::Sha256::digest(input).into(),
        HashAlgorithm::Sm3 => <sm3::Sm3 as sm3::Digest>::digest(input).into(),
    }
}

/// The root of the empty log: `H("")`, the RFC 9162 Merkle Tree Hash of the empty list.
pub fn empty_root(algorithm: HashAlgorithm) -> NodeHash {
    algorithm.hash(b"").bytes
}

/// The largest power of two strictly smaller than `len` (`len >= 2`): where RFC 9162 splits a
/// tree of `len` leaves.
fn split_point(len: u64) -> u64 {
    debug_assert!(len >= 2);
    1 << (63 - (len - 1).leading_zeros())
}

/// A size and root the caller trusts (for example from a signed checkpoint): what proofs are
/// verified against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TreeHead {
    /// Number of leaves.
    pub size: u64,
    /// Root hash of the tree over those leaves.
    pub root: NodeHash,
}

impl TreeHead {
    pub const fn new(size: u64, root: NodeHash) -> Self {
        Self { size, root }
    }
}

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

/// Where a [`MerkleLog`] keeps its complete subtrees.
///
/// Node `(level, index)` is the root of the complete subtree of `2^level` leaves covering
/// leaves `[index << level, (index + 1) << level)`; level 0 holds the leaf hashes. The log
/// writes each node exactly once, when its last leaf is appended, in increasing index order per
/// level, and never writes a node that is not complete. It never deletes.
pub trait NodeStore {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The hash of node `(level, index)`, or `None` if it was never stored.
    ///
    /// # Errors
    /// The storage failed.
    fn get(&self, level: u8, index: u64) -> Result<Option<NodeHash>, Self::Error>;

    /// Stores the hash of node `(level, index)`.
    ///
    /// # Errors
    /// The storage failed.
    fn put(&mut self, level: u8, index: u64, hash: NodeHash) -> Result<(), Self::Error>;
}

impl<S: NodeStore + ?Sized> NodeStore for &mut S {
    type Error = S::Error;

    fn get(&self, level: u8, index: u64) -> Result<Option<NodeHash>, Self::Error> {
        (**self).get(level, index)
    }

    fn put(&mut self, level: u8, index: u64, hash: NodeHash) -> Result<(), Self::Error> {
        (**self).put(level, index, hash)
    }
}

/// An in-memory [`NodeStore`]: one vector per level. About `2n` hashes for `n` leaves.
///
/// A put beyond the end of a level leaves the skipped nodes absent (they read as `None`), so
/// the store is meant for logs built by appending from empty.
#[derive(Clone, Default)]
pub struct MemoryStore {
    levels: Vec<Vec<Option<NodeHash>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with room for `leaves` leaves without reallocating.
    pub fn with_capacity(leaves: u64) -> Self {
        let levels = (0..=64 - leaves.leading_zeros())
            .map(|level| Vec::with_capacity(usize::try_from(leaves >> level).unwrap_or(0)))
            .collect();
        Self { levels }
    }

    /// Number of nodes stored, over all levels.
    pub fn node_count(&self) -> usize {
        self.levels
            .iter()
            .map(|level| level.iter().filter(|node| node.is_some()).count())
            .sum()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("levels", &self.levels.len())
            .field("leaves", &self.levels.first().map_or(0, Vec::len))
            .finish()
    }
}

impl NodeStore for MemoryStore {
    type Error = Infallible;

    fn get(&self, level: u8, index: u64) -> Result<Option<NodeHash>, Infallible> {
        let node = self
            .levels
            .get(usize::from(level))
            .zip(usize::try_from(index).ok())
            .and_then(|(nodes, index)| nodes.get(index).copied().flatten());
        Ok(node)
    }

    /// # Panics
    /// If `index` does not fit in `usize` (a memory store cannot hold that many nodes).
    fn put(&mut self, level: u8, index: u64, hash: NodeHash) -> Result<(), Infallible> {
        let level = usize::from(level);
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Vec::new);
        }
        let nodes = &mut self.levels[level];
        let index = usize::try_from(index).expect("memory store index exceeds the address space");
        if index < nodes.len() {
            nodes[index] = Some(hash);
        } else {
            nodes.resize(index, None);
            nodes.push(Some(hash));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The log
// ---------------------------------------------------------------------------------------------

/// Why a [`MerkleLog`] operation failed. `E` is the store's error type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LogError<E> {
    /// The node store failed.
    #[error("node store: {0}")]
    Store(E),
    /// A complete subtree the log's size implies was not in the store.
    #[error("node at level {level} index {index} is missing from the store")]
    MissingNode { level: u8, index: u64 },
    /// A leaf index at or beyond the tree size.
    #[error("leaf index {leaf_index} is out of range for tree size {tree_size}")]
    IndexOutOfRange { leaf_index: u64, tree_size: u64 },
    /// A tree size larger than the log.
    #[error("tree size {requested} exceeds the log size {size}")]
    SizeOutOfRange { requested: u64, size: u64 },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("old tree size {old_size} is greater than new tree size {new_size}")]
    OldSizeGreater { old_size: u64, new_size: u64 },
    /// A consistency proof from the empty tree, which would prove nothing.
    #[error("a consistency proof needs an old tree size of at least 1")]
    OldSizeZero,
    /// The log already holds [`MAX_TREE_SIZE`] leaves, or `open` was given a larger size.
    #[error("log size {size} would exceed the maximum {max}")]
    Full { size: u64, max: u64 },
}

/// An append-only Merkle log over a [`NodeStore`].
///
/// The log keeps its size and the roots of its maximal complete subtrees (at most 64 hashes) in
/// memory, so [`append`](Self::append) and [`root`](Self::root) never read the store. Appends
/// hash one node on average and allocate nothing beyond what the store does.
#[derive(Clone)]
pub struct MerkleLog<S: NodeStore> {
    store: S,
    algorithm: HashAlgorithm,
    size: u64,
    /// Roots of the maximal complete subtrees of the current tree, largest (leftmost) first:
    /// one per set bit of `size`, so `peaks[..size.count_ones()]` is meaningful.
    peaks: [NodeHash; 64],
}

impl<S: NodeStore> fmt::Debug for MerkleLog<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerkleLog")
            .field("algorithm", &self.algorithm)
            .field("size", &self.size)
            .field("root", &hex::encode(self.root()))
            .finish_non_exhaustive()
    }
}

impl<S: NodeStore> MerkleLog<S> {
    /// An empty log writing into `store`. Nodes already in the store are overwritten as leaves
    /// are appended.
    pub fn new(algorithm: HashAlgorithm, store: S) -> Self {
        Self {
            store,
            algorithm,
            size: 0,
            peaks: [[0; 32]; 64],
        }
    }

    /// Resumes a log of `size` leaves whose nodes are in `store` (written by a log of the same
    /// algorithm). Reads the `size.count_ones()` peak nodes; the rest of the store is trusted
    /// as is.
    ///
    /// # Errors
    /// [`LogError::Full`] if `size` exceeds [`MAX_TREE_SIZE`]; [`LogError::MissingNode`] if a
    /// peak is absent; [`LogError::Store`] if the store fails.
    pub fn open(algorithm: HashAlgorithm, store: S, size: u64) -> Result<Self, LogError<S::Error>> {
        if size > MAX_TREE_SIZE {
            return Err(LogError::Full {
                size,
                max: MAX_TREE_SIZE,
            });
        }
        let mut log = Self::new(algorithm, store);
        let mut start = 0u64;
        let mut count = 0usize;
        for level in (0..64u8).rev() {
            let width = 1u64 << level;
            if size & width != 0 {
                log.peaks[count] = log.node(level, start >> level)?;
                count += 1;
                start += width;
            }
        }
        log.size = size;
        Ok(log)
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The hash algorithm of every node.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn into_store(self) -> S {
        self.store
    }

    /// Appends a leaf hash (see [`leaf_hash`]) and returns its index. Writes the leaf at level
    /// 0 and then every subtree it completes, bottom up.
    ///
    /// # Errors
    /// [`LogError::Full`] at [`MAX_TREE_SIZE`] leaves; [`LogError::Store`] if a write fails. On
    /// error the log is unchanged (size and root as before); nodes already written lie beyond
    /// the size and are overwritten by the next successful append.
    pub fn append(&mut self, leaf_hash: NodeHash) -> Result<u64, LogError<S::Error>> {
        let index = self.size;
        if index >= MAX_TREE_SIZE {
            return Err(LogError::Full {
                size: index,
                max: MAX_TREE_SIZE,
            });
        }
        self.store
            .put(0, index, leaf_hash)
            .map_err(LogError::Store)?;
        // Each trailing one bit of `index` is a peak this leaf completes into a larger subtree.
        let merges = index.trailing_ones() as usize;
        let peak_count = index.count_ones() as usize;
        let mut hash = leaf_hash;
        for level in 1..=merges {
            hash = node_hash(self.algorithm, &self.peaks[peak_count - level], &hash);
            // `level <= 63` because `index < 2^63`.
            self.store
                .put(level as u8, index >> level, hash)
                .map_err(LogError::Store)?;
        }
        self.peaks[peak_count - merges] = hash;
        self.size = index + 1;
        Ok(index)
    }

    /// The current root. Reads nothing from the store.
    pub fn root(&self) -> NodeHash {
        let count = self.size.count_ones() as usize;
        match self.peaks[..count].split_last() {
            None => empty_root(self.algorithm),
            Some((last, rest)) => rest
                .iter()
                .rev()
                .fold(*last, |right, left| node_hash(self.algorithm, left, &right)),
        }
    }

    /// The current size and root.
    pub fn head(&self) -> TreeHead {
        TreeHead::new(self.size, self.root())
    }

    /// The root the log had when it held `tree_size` leaves. Reads at most 64 nodes.
    ///
    /// # Errors
    /// [`LogError::SizeOutOfRange`] if `tree_size > self.size()`; [`LogError::MissingNode`] or
    /// [`LogError::Store`] if the store cannot supply a node.
    pub fn root_at(&self, tree_size: u64) -> Result<NodeHash, LogError<S::Error>> {
        self.check_size(tree_size)?;
        if tree_size == self.size {
            Ok(self.root())
        } else if tree_size == 0 {
            Ok(empty_root(self.algorithm))
        } else {
            self.range_hash(0, tree_size)
        }
    }

    /// [`root_at`](Self::root_at) with its size.
    ///
    /// # Errors
    /// As [`root_at`](Self::root_at).
    pub fn head_at(&self, tree_size: u64) -> Result<TreeHead, LogError<S::Error>> {
        Ok(TreeHead::new(tree_size, self.root_at(tree_size)?))
    }

    /// The stored hash of leaf `leaf_index`.
    ///
    /// # Errors
    /// [`LogError::IndexOutOfRange`] if `leaf_index >= self.size()`; store errors as above.
    pub fn leaf(&self, leaf_index: u64) -> Result<NodeHash, LogError<S::Error>> {
        if leaf_index >= self.size {
            return Err(LogError::IndexOutOfRange {
                leaf_index,
                tree_size: self.size,
            });
        }
        self.node(0, leaf_index)
    }

    /// The RFC 9162 §2.1.3.1 inclusion proof of leaf `leaf_index` in the tree of the first
    /// `tree_size` leaves. Reads `O(log tree_size)` nodes.
    ///
    /// # Errors
    /// [`LogError::SizeOutOfRange`] if `tree_size > self.size()`;
    /// [`LogError::IndexOutOfRange`] if `leaf_index >= tree_size`; store errors as above.
    pub fn inclusion_proof(
        &self,
        leaf_index: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, LogError<S::Error>> {
        self.check_size(tree_size)?;
        if leaf_index >= tree_size {
            return Err(LogError::IndexOutOfRange {
                leaf_index,
                tree_size,
            });
        }
        let mut path = Vec::with_capacity(inclusion_path_len(leaf_index, tree_size));
        // Walk down from the root; each step records the sibling of the part holding the leaf.
        let (mut lo, mut hi) = (0u64, tree_size);
        while hi - lo > 1 {
            let k = split_point(hi - lo);
            if leaf_index < lo + k {
                path.push(self.range_hash(lo + k, hi - lo - k)?);
                hi = lo + k;
            } else {
                path.push(self.range_hash(lo, k)?);
                lo += k;
            }
        }
        path.reverse();
        Ok(InclusionProof {
            leaf_index,
            tree_size,
            path,
        })
    }

    /// The RFC 9162 §2.1.4.1 consistency proof between the trees of the first `old_size` and
    /// `new_size` leaves. Empty when the sizes are equal. Reads `O(log new_size)` nodes.
    ///
    /// # Errors
    /// [`LogError::SizeOutOfRange`] if `new_size > self.size()`; [`LogError::OldSizeGreater`]
    /// if `old_size > new_size`; [`LogError::OldSizeZero`] if `old_size == 0` (every tree
    /// extends the empty tree, so there is nothing to prove); store errors as above.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, LogError<S::Error>> {
        self.check_size(new_size)?;
        if old_size > new_size {
            return Err(LogError::OldSizeGreater { old_size, new_size });
        }
        if old_size == 0 {
            return Err(LogError::OldSizeZero);
        }
        let mut path = Vec::with_capacity(consistency_path_len(old_size, new_size));
        // SUBPROOF(m, D[lo:hi], whole), unrolled from the top; the hashes it appends after
        // recursing are collected top-down and reversed at the end.
        let (mut lo, mut hi, mut whole) = (0u64, new_size, true);
        while old_size != hi {
            let k = split_point(hi - lo);
            if old_size - lo <= k {
                path.push(self.range_hash(lo + k, hi - lo - k)?);
                hi = lo + k;
            } else {
                path.push(self.range_hash(lo, k)?);
                lo += k;
                whole = false;
            }
        }
        // Unless the old tree is itself a node of the new tree (it never left the left edge),
        // the path starts with the node `[lo, old_size)` where the walk stopped.
        if !whole {
            path.push(self.range_hash(lo, hi - lo)?);
        }
        path.reverse();
        Ok(ConsistencyProof {
            old_size,
            new_size,
            path,
        })
    }

    fn check_size(&self, tree_size: u64) -> Result<(), LogError<S::Error>> {
        if tree_size > self.size {
            return Err(LogError::SizeOutOfRange {
                requested: tree_size,
                size: self.size,
            });
        }
        Ok(())
    }

    fn node(&self, level: u8, index: u64) -> Result<NodeHash, LogError<S::Error>> {
        match self.store.get(level, index) {
            Ok(Some(hash)) => Ok(hash),
            Ok(None) => Err(LogError::MissingNode { level, index }),
            Err(error) => Err(LogError::Store(error)),
        }
    }

    /// The Merkle Tree Hash of leaves `[start, start + len)`, `len >= 1`, where `start` is a
    /// multiple of the largest power of two `<= len` (true of every subtree of an RFC 9162
    /// tree). The range is the stored complete subtrees for the set bits of `len`, largest
    /// first, combined right to left: `popcount(len)` reads.
    fn range_hash(&self, start: u64, len: u64) -> Result<NodeHash, LogError<S::Error>> {
        debug_assert!(len >= 1);
        debug_assert_eq!(start % (1u64 << (63 - len.leading_zeros())), 0);
        let mut rest = len;
        let mut acc: Option<NodeHash> = None;
        // Lowest bit first: that is the rightmost subtree.
        while rest != 0 {
            let level = rest.trailing_zeros();
            rest &= rest - 1;
            let hash = self.node(level as u8, (start + rest) >> level)?;
            acc = Some(match acc {
                None => hash,
                Some(right) => node_hash(self.algorithm, &hash, &right),
            });
        }
        Ok(acc.expect("len >= 1"))
    }
}

// ---------------------------------------------------------------------------------------------
// Proofs
// ---------------------------------------------------------------------------------------------

/// Number of hashes in the inclusion proof of `leaf_index` in a tree of `tree_size` leaves
/// (`leaf_index < tree_size`).
fn inclusion_path_len(leaf_index: u64, tree_size: u64) -> usize {
    let (mut lo, mut hi, mut len) = (0u64, tree_size, 0usize);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if leaf_index < lo + k {
            hi = lo + k;
        } else {
            lo += k;
        }
        len += 1;
    }
    len
}

/// Number of hashes in the consistency proof from `old_size` to `new_size`
/// (`0 < old_size <= new_size`).
fn consistency_path_len(old_size: u64, new_size: u64) -> usize {
    let (mut lo, mut hi, mut whole, mut len) = (0u64, new_size, true, 0usize);
    while old_size != hi {
        let k = split_point(hi - lo);
        if old_size - lo <= k {
            hi = lo + k;
        } else {
            lo += k;
            whole = false;
        }
        len += 1;
    }
    len + usize::from(!whole)
}

/// Proof that a leaf hash is at `leaf_index` in the tree of `tree_size` leaves: the RFC 9162
/// §2.1.3.1 audit path, bottom up.
///
/// Canonical encoding: `u64 leaf_index`, `u64 tree_size`, `u32 count`, then `count` raw 32-byte
/// hashes; `count <= 64`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    #[serde(with = "hex_path")]
    pub path: Vec<NodeHash>,
}

/// Proof that the tree of `old_size` leaves is a prefix of the tree of `new_size` leaves: the
/// RFC 9162 §2.1.4.1 consistency path.
///
/// Canonical encoding: `u64 old_size`, `u64 new_size`, `u32 count`, then `count` raw 32-byte
/// hashes; `count <= 64`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    #[serde(with = "hex_path")]
    pub path: Vec<NodeHash>,
}

fn encode_path(writer: &mut Writer, path: &[NodeHash]) {
    writer.seq(path, |writer, hash| {
        writer.raw(hash);
    });
}

fn decode_path(reader: &mut Reader<'_>, what: &'static str) -> Result<Vec<NodeHash>, DecodeError> {
    let count = reader.u32(what)?;
    if count as usize > MAX_PATH_LEN {
        return Err(DecodeError::TooLong {
            what,
            len: u64::from(count),
            max: MAX_PATH_LEN as u64,
        });
    }
    (0..count).map(|_| reader.array(what)).collect()
}

impl Encode for InclusionProof {
    fn encode(&self, writer: &mut Writer) {
        writer.u64(self.leaf_index).u64(self.tree_size);
        encode_path(writer, &self.path);
    }
}

impl Decode for InclusionProof {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            leaf_index: reader.u64("inclusion proof leaf index")?,
            tree_size: reader.u64("inclusion proof tree size")?,
            path: decode_path(reader, "inclusion proof path")?,
        })
    }
}

impl Encode for ConsistencyProof {
    fn encode(&self, writer: &mut Writer) {
        writer.u64(self.old_size).u64(self.new_size);
        encode_path(writer, &self.path);
    }
}

impl Decode for ConsistencyProof {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            old_size: reader.u64("consistency proof old size")?,
            new_size: reader.u64("consistency proof new size")?,
            path: decode_path(reader, "consistency proof path")?,
        })
    }
}

/// Serde form of a proof path: a list of 64-digit lower-case hex strings, at most
/// [`MAX_PATH_LEN`] long.
mod hex_path {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{MAX_PATH_LEN, NodeHash};

    pub(super) fn serialize<S: Serializer>(
        path: &[NodeHash],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(path.iter().map(hex::encode))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<NodeHash>, D::Error> {
        let texts = Vec::<String>::deserialize(deserializer)?;
        if texts.len() > MAX_PATH_LEN {
            return Err(D::Error::custom(format!(
                "proof path has {} hashes, more than {MAX_PATH_LEN}",
                texts.len()
            )));
        }
        texts
            .iter()
            .map(|text| {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(text, &mut hash)
                    .map_err(|e| D::Error::custom(format!("proof path hash {text:?}: {e}")))?;
                Ok(hash)
            })
            .collect()
    }
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// An inclusion proof for a tree of size 0.
    #[error("tree size is 0: the empty tree includes no leaf")]
    EmptyTree,
    /// `leaf_index >= tree_size`.
    #[error("leaf index {leaf_index} is out of range for tree size {tree_size}")]
    IndexOutOfRange { leaf_index: u64, tree_size: u64 },
    /// A tree size above [`MAX_TREE_SIZE`].
    #[error("tree size {tree_size} exceeds the maximum {max}")]
    TreeTooLarge { tree_size: u64, max: u64 },
    /// A consistency proof from the empty tree, which would prove nothing.
    #[error("consistency from the empty tree proves nothing: old size must be at least 1")]
    OldTreeEmpty,
    /// A consistency proof from a larger tree to a smaller one.
    #[error("old tree size {old_size} is greater than new tree size {new_size}")]
    OldSizeGreater { old_size: u64, new_size: u64 },
    /// The inclusion proof is for another tree size than the trusted head.
    #[error("proof is for tree size {proof_size} but the tree head has size {head_size}")]
    TreeSizeMismatch { proof_size: u64, head_size: u64 },
    /// The consistency proof's old size is not the old head's size.
    #[error("proof is for old tree size {proof_size} but the old tree head has size {head_size}")]
    OldSizeMismatch { proof_size: u64, head_size: u64 },
    /// The consistency proof's new size is not the new head's size.
    #[error("proof is for new tree size {proof_size} but the new tree head has size {head_size}")]
    NewSizeMismatch { proof_size: u64, head_size: u64 },
    /// The path does not have the number of hashes the sizes and index determine.
    #[error("proof path has {actual} hashes, expected {expected}")]
    WrongPathLength { expected: usize, actual: usize },
    /// The root computed from an inclusion proof is not the trusted root.
    #[error("computed root {} does not match the expected root {}", hex::encode(.computed), hex::encode(.expected))]
    RootMismatch {
        computed: NodeHash,
        expected: NodeHash,
    },
    /// The old root computed from a consistency proof is not the trusted old root.
    #[error("computed old root {} does not match the expected old root {}", hex::encode(.computed), hex::encode(.expected))]
    OldRootMismatch {
        computed: NodeHash,
        expected: NodeHash,
    },
    /// The new root computed from a consistency proof (for equal sizes: the old root) is not
    /// the trusted new root.
    #[error("computed new root {} does not match the expected new root {}", hex::encode(.computed), hex::encode(.expected))]
    NewRootMismatch {
        computed: NodeHash,
        expected: NodeHash,
    },
}

fn check_tree_size(tree_size: u64) -> Result<(), ProofError> {
    if tree_size > MAX_TREE_SIZE {
        return Err(ProofError::TreeTooLarge {
            tree_size,
            max: MAX_TREE_SIZE,
        });
    }
    Ok(())
}

/// The root of the tree of `proof.tree_size` leaves implied by `leaf_hash` being at
/// `proof.leaf_index`, by the RFC 9162 §2.1.3.2 algorithm.
///
/// The result is only meaningful together with `proof.tree_size`: a path can also fit another
/// (index, size) pair, so compare against a root known to be of that size, as
/// [`verify_inclusion`] does.
///
/// # Errors
/// [`ProofError::EmptyTree`], [`ProofError::TreeTooLarge`], [`ProofError::IndexOutOfRange`],
/// or [`ProofError::WrongPathLength`] if the path length is not the one the index and size
/// determine.
pub fn root_from_inclusion(
    algorithm: HashAlgorithm,
    leaf_hash: &NodeHash,
    proof: &InclusionProof,
) -> Result<NodeHash, ProofError> {
    let (leaf_index, tree_size) = (proof.leaf_index, proof.tree_size);
    if tree_size == 0 {
        return Err(ProofError::EmptyTree);
    }
    check_tree_size(tree_size)?;
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange {
            leaf_index,
            tree_size,
        });
    }
    let expected = inclusion_path_len(leaf_index, tree_size);
    let wrong_length = ProofError::WrongPathLength {
        expected,
        actual: proof.path.len(),
    };
    if proof.path.len() != expected {
        return Err(wrong_length);
    }
    let (mut f, mut s) = (leaf_index, tree_size - 1);
    let mut r = *leaf_hash;
    for p in &proof.path {
        if s == 0 {
            return Err(wrong_length);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(algorithm, p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(algorithm, &r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(wrong_length);
    }
    Ok(r)
}

/// Checks that `leaf_hash` is leaf `proof.leaf_index` of the tree described by `head`.
///
/// On success the caller may rely on: the tree with `head.size` leaves and root `head.root`
/// has `leaf_hash` at index `proof.leaf_index` (barring a hash collision).
///
/// # Errors
/// [`ProofError::TreeSizeMismatch`] if `proof.tree_size != head.size`; any error of
/// [`root_from_inclusion`]; [`ProofError::RootMismatch`] if the computed root is not
/// `head.root`.
pub fn verify_inclusion(
    algorithm: HashAlgorithm,
    leaf_hash: &NodeHash,
    proof: &InclusionProof,
    head: &TreeHead,
) -> Result<(), ProofError> {
    if proof.tree_size != head.size {
        return Err(ProofError::TreeSizeMismatch {
            proof_size: proof.tree_size,
            head_size: head.size,
        });
    }
    let computed = root_from_inclusion(algorithm, leaf_hash, proof)?;
    if computed != head.root {
        return Err(ProofError::RootMismatch {
            computed,
            expected: head.root,
        });
    }
    Ok(())
}

/// Checks that the tree described by `old` is a prefix of the tree described by `new`, by the
/// RFC 9162 §2.1.4.2 algorithm. Equal sizes need an empty path and equal roots.
///
/// On success the caller may rely on: the first `old.size` leaves of the tree with root
/// `new.root` are exactly the leaves of the tree with root `old.root` (barring a hash
/// collision).
///
/// # Errors
/// [`ProofError::OldSizeMismatch`] / [`ProofError::NewSizeMismatch`] if the proof's sizes are
/// not the heads' sizes; [`ProofError::TreeTooLarge`]; [`ProofError::OldSizeGreater`];
/// [`ProofError::OldTreeEmpty`] if the old size is 0; [`ProofError::WrongPathLength`];
/// [`ProofError::OldRootMismatch`] / [`ProofError::NewRootMismatch`] if a computed root is not
/// the trusted one.
pub fn verify_consistency(
    algorithm: HashAlgorithm,
    proof: &ConsistencyProof,
    old: &TreeHead,
    new: &TreeHead,
) -> Result<(), ProofError> {
    let (old_size, new_size) = (proof.old_size, proof.new_size);
    if old_size != old.size {
        return Err(ProofError::OldSizeMismatch {
            proof_size: old_size,
            head_size: old.size,
        });
    }
    if new_size != new.size {
        return Err(ProofError::NewSizeMismatch {
            proof_size: new_size,
            head_size: new.size,
        });
    }
    check_tree_size(new_size)?;
    if old_size > new_size {
        return Err(ProofError::OldSizeGreater { old_size, new_size });
    }
    if old_size == 0 {
        return Err(ProofError::OldTreeEmpty);
    }
    let expected = consistency_path_len(old_size, new_size);
    let wrong_length = ProofError::WrongPathLength {
        expected,
        actual: proof.path.len(),
    };
    if proof.path.len() != expected {
        return Err(wrong_length);
    }
    if old_size == new_size {
        if old.root != new.root {
            return Err(ProofError::NewRootMismatch {
                computed: old.root,
                expected: new.root,
            });
        }
        return Ok(());
    }

    let mut path = proof.path.iter();
    // A power-of-two old tree is a complete subtree of the new one; its root starts the path.
    let seed = if old_size.is_power_of_two() {
        old.root
    } else {
        match path.next() {
            Some(first) => *first,
            None => return Err(wrong_length),
        }
    };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in path {
        if s == 0 {
            return Err(wrong_length);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(algorithm, c, &fr);
            sr = node_hash(algorithm, c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(algorithm, &sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(wrong_length);
    }
    if fr != old.root {
        return Err(ProofError::OldRootMismatch {
            computed: fr,
            expected: old.root,
        });
    }
    if sr != new.root {
        return Err(ProofError::NewRootMismatch {
            computed: sr,
            expected: new.root,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALGORITHMS: [HashAlgorithm; 3] = [
        HashAlgorithm::Blake3,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sm3,
    ];

    fn leaves(algorithm: HashAlgorithm, n: u64) -> Vec<NodeHash> {
        (0..n)
            .map(|i| leaf_hash(algorithm, format!("leaf {i}").as_bytes()))
            .collect()
    }

    fn log_of(algorithm: HashAlgorithm, leaves: &[NodeHash]) -> MerkleLog<MemoryStore> {
        let mut log = MerkleLog::new(algorithm, MemoryStore::new());
        for (i, leaf) in leaves.iter().enumerate() {
            assert_eq!(log.append(*leaf).unwrap(), i as u64);
        }
        log
    }

    // Direct transcriptions of the RFC 9162 recursive definitions over a slice of leaf hashes.
    fn mth(a: HashAlgorithm, d: &[NodeHash]) -> NodeHash {
        match d.len() {
            0 => empty_root(a),
            1 => d[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(a, &mth(a, &d[..k]), &mth(a, &d[k..]))
            }
        }
    }

    fn rfc_path(a: HashAlgorithm, m: usize, d: &[NodeHash]) -> Vec<NodeHash> {
        if d.len() <= 1 {
            return Vec::new();
        }
        let k = split_point(d.len() as u64) as usize;
        if m < k {
            let mut p = rfc_path(a, m, &d[..k]);
            p.push(mth(a, &d[k..]));
            p
        } else {
            let mut p = rfc_path(a, m - k, &d[k..]);
            p.push(mth(a, &d[..k]));
            p
        }
    }

    fn rfc_subproof(a: HashAlgorithm, m: usize, d: &[NodeHash], b: bool) -> Vec<NodeHash> {
        let n = d.len();
        if m == n {
            return if b { Vec::new() } else { vec![mth(a, d)] };
        }
        let k = split_point(n as u64) as usize;
        if m <= k {
            let mut p = rfc_subproof(a, m, &d[..k], b);
            p.push(mth(a, &d[k..]));
            p
        } else {
            let mut p = rfc_subproof(a, m - k, &d[k..], false);
            p.push(mth(a, &d[..k]));
            p
        }
    }

    #[test]
    fn hashing_is_domain_separated_and_matches_the_generic_hasher() {
        let (l, r) = ([7u8; 32], [9u8; 32]);
        for a in ALGORITHMS {
            assert_eq!(leaf_hash(a, b"abc"), a.hash_parts(&[&[0], b"abc"]).bytes);
            assert_eq!(node_hash(a, &l, &r), a.hash_parts(&[&[1], &l, &r]).bytes);
            assert_eq!(empty_root(a), a.hash(b"").bytes);
            assert_ne!(node_hash(a, &l, &r), node_hash(a, &r, &l));
            let mut concat = l.to_vec();
            concat.extend_from_slice(&r);
            assert_ne!(leaf_hash(a, &concat), node_hash(a, &l, &r));
        }
        assert_eq!(
            hex::encode(empty_root(HashAlgorithm::Blake3)),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        for (n, k) in [
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 4),
            (8, 4),
            (9, 8),
            (1 << 63, 1 << 62),
        ] {
            assert_eq!(split_point(n), k, "n = {n}");
        }
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }

    #[test]
    fn roots_and_proofs_match_the_rfc_definitions_for_small_trees() {
        for a in ALGORITHMS {
            let d = leaves(a, 20);
            let log = log_of(a, &d);
            for n in 0..=20usize {
                let n64 = n as u64;
                let root = mth(a, &d[..n]);
                assert_eq!(log.root_at(n64).unwrap(), root, "{a} n={n}");
                assert_eq!(log_of(a, &d[..n]).root(), root, "{a} n={n}");
                let head = TreeHead::new(n64, root);
                for m in 0..n {
                    let proof = log.inclusion_proof(m as u64, n64).unwrap();
                    assert_eq!(proof.path, rfc_path(a, m, &d[..n]), "{a} m={m} n={n}");
                    assert_eq!(proof.path.len(), inclusion_path_len(m as u64, n64));
                    verify_inclusion(a, &d[m], &proof, &head).unwrap();
                    assert_eq!(root_from_inclusion(a, &d[m], &proof).unwrap(), root);
                }
                for m in 1..=n {
                    let proof = log.consistency_proof(m as u64, n64).unwrap();
                    let expected = if m == n {
                        Vec::new()
                    } else {
                        rfc_subproof(a, m, &d[..n], true)
                    };
                    assert_eq!(proof.path, expected, "{a} m={m} n={n}");
                    assert_eq!(proof.path.len(), consistency_path_len(m as u64, n64));
                    let old = TreeHead::new(m as u64, mth(a, &d[..m]));
                    verify_consistency(a, &proof, &old, &head).unwrap();
                }
            }
        }
    }

    #[test]
    fn edge_sizes() {
        let a = HashAlgorithm::Blake3;
        let d = leaves(a, 9);
        let log = log_of(a, &d);
        // Size 0: the empty root, no inclusion, consistency from 0 refused.
        assert_eq!(log.root_at(0).unwrap(), empty_root(a));
        assert_eq!(MerkleLog::new(a, MemoryStore::new()).root(), empty_root(a));
        // Size 1: the root is the leaf hash and the proof is empty.
        assert_eq!(log.root_at(1).unwrap(), d[0]);
        let p = log.inclusion_proof(0, 1).unwrap();
        assert!(p.path.is_empty());
        verify_inclusion(a, &d[0], &p, &TreeHead::new(1, d[0])).unwrap();
        // Size 2, 3, 7, 8, 9 against hand-built trees.
        let h = |l: &NodeHash, r: &NodeHash| node_hash(a, l, r);
        let h01 = h(&d[0], &d[1]);
        let h23 = h(&d[2], &d[3]);
        let h45 = h(&d[4], &d[5]);
        let h0123 = h(&h01, &h23);
        let h4567 = h(&h45, &h(&d[6], &d[7]));
        assert_eq!(log.root_at(2).unwrap(), h01);
        assert_eq!(log.root_at(3).unwrap(), h(&h01, &d[2]));
        assert_eq!(log.root_at(7).unwrap(), h(&h0123, &h(&h45, &d[6])));
        assert_eq!(log.root_at(8).unwrap(), h(&h0123, &h4567));
        assert_eq!(log.root_at(9).unwrap(), h(&h(&h0123, &h4567), &d[8]));
        assert_eq!(log.root(), log.root_at(9).unwrap());
        assert_eq!(
            log.inclusion_proof(8, 9).unwrap().path,
            vec![h(&h0123, &h4567)]
        );
        assert_eq!(log.inclusion_proof(6, 7).unwrap().path, vec![h45, h0123]);
        assert_eq!(
            log.consistency_proof(3, 7).unwrap().path,
            vec![d[2], d[3], h01, h(&h45, &d[6])]
        );
        assert_eq!(log.consistency_proof(4, 8).unwrap().path, vec![h4567]);
        assert_eq!(
            log.consistency_proof(9, 9).unwrap().path,
            Vec::<NodeHash>::new()
        );
        assert_eq!(log.leaf(8).unwrap(), d[8]);
    }

    #[test]
    fn out_of_range_requests_are_typed_errors() {
        let a = HashAlgorithm::Blake3;
        let log = log_of(a, &leaves(a, 5));
        assert_eq!(
            log.inclusion_proof(5, 5).unwrap_err(),
            LogError::IndexOutOfRange {
                leaf_index: 5,
                tree_size: 5
            }
        );
        assert_eq!(
            log.inclusion_proof(0, 0).unwrap_err(),
            LogError::IndexOutOfRange {
                leaf_index: 0,
                tree_size: 0
            }
        );
        assert_eq!(
            log.inclusion_proof(0, 6).unwrap_err(),
            LogError::SizeOutOfRange {
                requested: 6,
                size: 5
            }
        );
        assert_eq!(
            log.root_at(6).unwrap_err(),
            LogError::SizeOutOfRange {
                requested: 6,
                size: 5
            }
        );
        assert_eq!(
            log.consistency_proof(4, 3).unwrap_err(),
            LogError::OldSizeGreater {
                old_size: 4,
                new_size: 3
            }
        );
        assert_eq!(
            log.consistency_proof(0, 3).unwrap_err(),
            LogError::OldSizeZero
        );
        assert_eq!(
            log.consistency_proof(1, 6).unwrap_err(),
            LogError::SizeOutOfRange {
                requested: 6,
                size: 5
            }
        );
        assert_eq!(
            log.leaf(5).unwrap_err(),
            LogError::IndexOutOfRange {
                leaf_index: 5,
                tree_size: 5
            }
        );
        assert_eq!(
            MerkleLog::open(a, MemoryStore::new(), MAX_TREE_SIZE + 1).unwrap_err(),
            LogError::Full {
                size: MAX_TREE_SIZE + 1,
                max: MAX_TREE_SIZE
            }
        );
        assert_eq!(
            log.inclusion_proof(7, 6).unwrap_err().to_string(),
            "tree size 6 exceeds the log size 5"
        );
    }

    /// A store that hides one node.
    #[derive(Debug)]
    struct Holey {
        inner: MemoryStore,
        hole: (u8, u64),
    }

    impl NodeStore for Holey {
        type Error = Infallible;
        fn get(&self, level: u8, index: u64) -> Result<Option<NodeHash>, Infallible> {
            if (level, index) == self.hole {
                return Ok(None);
            }
            self.inner.get(level, index)
        }
        fn put(&mut self, level: u8, index: u64, hash: NodeHash) -> Result<(), Infallible> {
            self.inner.put(level, index, hash)
        }
    }

    #[test]
    fn missing_node_is_an_error_not_a_panic() {
        let a = HashAlgorithm::Sha256;
        // Opening over an empty store: the first peak of 5 = 4 + 1 is node (2, 0).
        assert_eq!(
            MerkleLog::open(a, MemoryStore::new(), 5).unwrap_err(),
            LogError::MissingNode { level: 2, index: 0 }
        );
        let store = log_of(a, &leaves(a, 8)).into_store();
        let log = MerkleLog::open(
            a,
            Holey {
                inner: store,
                hole: (1, 1),
            },
            8,
        )
        .unwrap();
        assert_eq!(
            log.inclusion_proof(0, 8).unwrap_err(),
            LogError::MissingNode { level: 1, index: 1 }
        );
        assert_eq!(
            log.consistency_proof(2, 8).unwrap_err().to_string(),
            "node at level 1 index 1 is missing from the store"
        );
        // A root at an earlier size reads that size's peaks: 6 = 4 + 2 needs (2, 0) and (1, 2).
        let mut store = log.into_store();
        store.hole = (1, 2);
        let log = MerkleLog::open(a, store, 8).unwrap();
        assert_eq!(
            log.root_at(6).unwrap_err(),
            LogError::MissingNode { level: 1, index: 2 }
        );
        // Requests that do not need the hidden node still work.
        assert!(log.inclusion_proof(0, 4).is_ok());
    }

    #[derive(Debug, thiserror::Error)]
    #[error("disk full")]
    struct DiskFull;

    /// A store that fails every put once `budget` puts have succeeded.
    #[derive(Debug, Default)]
    struct Failing {
        inner: MemoryStore,
        budget: usize,
    }

    impl NodeStore for Failing {
        type Error = DiskFull;
        fn get(&self, level: u8, index: u64) -> Result<Option<NodeHash>, DiskFull> {
            Ok(self.inner.get(level, index).unwrap_or_else(|e| match e {}))
        }
        fn put(&mut self, level: u8, index: u64, hash: NodeHash) -> Result<(), DiskFull> {
            if self.budget == 0 {
                return Err(DiskFull);
            }
            self.budget -= 1;
            self.inner
                .put(level, index, hash)
                .unwrap_or_else(|e| match e {});
            Ok(())
        }
    }

    #[test]
    fn failed_append_leaves_the_log_unchanged() {
        let a = HashAlgorithm::Blake3;
        let d = leaves(a, 8);
        // Leaves 0..7 need 1+2+1+3+1+2+1 = 11 puts; leaf 7 needs 4 (leaf, levels 1, 2, 3).
        let mut log = MerkleLog::new(
            a,
            Failing {
                inner: MemoryStore::new(),
                budget: 13,
            },
        );
        for leaf in &d[..7] {
            log.append(*leaf).unwrap();
        }
        let before = log.head();
        let error = log.append(d[7]).unwrap_err();
        assert!(matches!(error, LogError::Store(DiskFull)));
        assert_eq!(error.to_string(), "node store: disk full");
        assert_eq!(log.head(), before);
        assert_eq!(log.root_at(7).unwrap(), before.root);
        // Retrying after the store recovers gives the same tree as an uninterrupted log.
        log.store.budget = 100;
        log.append(d[7]).unwrap();
        assert_eq!(log.root(), log_of(a, &d).root());
        assert_eq!(
            log.inclusion_proof(7, 8).unwrap(),
            log_of(a, &d).inclusion_proof(7, 8).unwrap()
        );
    }

    #[test]
    fn open_resumes_over_an_existing_store() {
        for a in ALGORITHMS {
            let d = leaves(a, 37);
            let full = log_of(a, &d);
            for cut in [0usize, 1, 5, 8, 16, 31, 36] {
                let store = log_of(a, &d[..cut]).into_store();
                let mut log = MerkleLog::open(a, store, cut as u64).unwrap();
                assert_eq!(log.root(), mth(a, &d[..cut]));
                for leaf in &d[cut..] {
                    log.append(*leaf).unwrap();
                }
                assert_eq!(log.head(), full.head());
                assert_eq!(log.store().node_count(), full.store().node_count());
            }
        }
    }

    #[test]
    fn append_works_through_a_borrowed_store() {
        let a = HashAlgorithm::Sm3;
        let d = leaves(a, 6);
        let mut store = MemoryStore::with_capacity(6);
        {
            let mut log = MerkleLog::new(a, &mut store);
            for leaf in &d {
                log.append(*leaf).unwrap();
            }
        }
        // 6 leaves + 3 at level 1 + 1 at level 2.
        assert_eq!(store.node_count(), 10);
        assert_eq!(MerkleLog::open(a, store, 6).unwrap().root(), mth(a, &d));
    }

    fn sample(a: HashAlgorithm) -> (Vec<NodeHash>, MerkleLog<MemoryStore>) {
        let d = leaves(a, 11);
        let log = log_of(a, &d);
        (d, log)
    }

    #[test]
    fn malformed_inclusion_proofs_are_rejected() {
        let a = HashAlgorithm::Blake3;
        let (d, log) = sample(a);
        let head = log.head();
        let good = log.inclusion_proof(3, 11).unwrap();
        let mut longer = good.clone();
        longer.path.push([0; 32]);
        assert_eq!(
            verify_inclusion(a, &d[3], &longer, &head),
            Err(ProofError::WrongPathLength {
                expected: 4,
                actual: 5
            })
        );
        let mut shorter = good.clone();
        shorter.path.pop();
        assert_eq!(
            verify_inclusion(a, &d[3], &shorter, &head),
            Err(ProofError::WrongPathLength {
                expected: 4,
                actual: 3
            })
        );
        let other_size = InclusionProof {
            tree_size: 10,
            ..good.clone()
        };
        assert_eq!(
            verify_inclusion(a, &d[3], &other_size, &head),
            Err(ProofError::TreeSizeMismatch {
                proof_size: 10,
                head_size: 11
            })
        );
        let out = InclusionProof {
            leaf_index: 11,
            ..good.clone()
        };
        assert_eq!(
            verify_inclusion(a, &d[3], &out, &head),
            Err(ProofError::IndexOutOfRange {
                leaf_index: 11,
                tree_size: 11
            })
        );
        let empty = InclusionProof {
            leaf_index: 0,
            tree_size: 0,
            path: Vec::new(),
        };
        assert_eq!(
            verify_inclusion(a, &d[0], &empty, &TreeHead::new(0, empty_root(a))),
            Err(ProofError::EmptyTree)
        );
        let huge = InclusionProof {
            leaf_index: 0,
            tree_size: u64::MAX,
            path: Vec::new(),
        };
        assert_eq!(
            root_from_inclusion(a, &d[0], &huge),
            Err(ProofError::TreeTooLarge {
                tree_size: u64::MAX,
                max: MAX_TREE_SIZE
            })
        );
        // Wrong leaf, wrong root, wrong algorithm.
        assert!(matches!(
            verify_inclusion(a, &d[4], &good, &head),
            Err(ProofError::RootMismatch { expected, .. }) if expected == head.root
        ));
        assert!(matches!(
            verify_inclusion(a, &d[3], &good, &TreeHead::new(11, [0; 32])),
            Err(ProofError::RootMismatch { .. })
        ));
        assert!(matches!(
            verify_inclusion(HashAlgorithm::Sha256, &d[3], &good, &head),
            Err(ProofError::RootMismatch { .. })
        ));
        let message = verify_inclusion(a, &d[3], &good, &TreeHead::new(11, [0xab; 32]))
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("computed root "), "{message}");
        assert!(
            message.ends_with(&format!("expected root {}", "ab".repeat(32))),
            "{message}"
        );
    }

    #[test]
    fn malformed_consistency_proofs_are_rejected() {
        let a = HashAlgorithm::Blake3;
        let (_, log) = sample(a);
        let new = log.head();
        let old = log.head_at(6).unwrap();
        let good = log.consistency_proof(6, 11).unwrap();
        verify_consistency(a, &good, &old, &new).unwrap();
        let mut longer = good.clone();
        longer.path.push([0; 32]);
        assert!(matches!(
            verify_consistency(a, &longer, &old, &new),
            Err(ProofError::WrongPathLength { actual, .. }) if actual == good.path.len() + 1
        ));
        let mut shorter = good.clone();
        shorter.path.pop();
        assert!(matches!(
            verify_consistency(a, &shorter, &old, &new),
            Err(ProofError::WrongPathLength { .. })
        ));
        // Heads swapped: the sizes no longer match the proof.
        assert_eq!(
            verify_consistency(a, &good, &new, &old),
            Err(ProofError::OldSizeMismatch {
                proof_size: 6,
                head_size: 11
            })
        );
        let bigger_new = TreeHead::new(12, new.root);
        assert_eq!(
            verify_consistency(a, &good, &old, &bigger_new),
            Err(ProofError::NewSizeMismatch {
                proof_size: 11,
                head_size: 12
            })
        );
        let reversed = ConsistencyProof {
            old_size: 11,
            new_size: 6,
            path: good.path.clone(),
        };
        assert_eq!(
            verify_consistency(a, &reversed, &new, &old),
            Err(ProofError::OldSizeGreater {
                old_size: 11,
                new_size: 6
            })
        );
        let from_empty = ConsistencyProof {
            old_size: 0,
            new_size: 11,
            path: Vec::new(),
        };
        assert_eq!(
            verify_consistency(a, &from_empty, &TreeHead::new(0, empty_root(a)), &new),
            Err(ProofError::OldTreeEmpty)
        );
        assert!(matches!(
            verify_consistency(a, &good, &TreeHead::new(6, [1; 32]), &new),
            Err(ProofError::OldRootMismatch { .. })
        ));
        assert!(matches!(
            verify_consistency(a, &good, &old, &TreeHead::new(11, [1; 32])),
            Err(ProofError::NewRootMismatch { .. })
        ));
        // Equal sizes: an empty path, valid exactly when the roots are equal.
        let same = log.consistency_proof(11, 11).unwrap();
        assert!(same.path.is_empty());
        verify_consistency(a, &same, &new, &new).unwrap();
        assert_eq!(
            verify_consistency(a, &same, &new, &TreeHead::new(11, [2; 32])),
            Err(ProofError::NewRootMismatch {
                computed: new.root,
                expected: [2; 32]
            })
        );
        let padded = ConsistencyProof {
            path: vec![new.root],
            ..same
        };
        assert_eq!(
            verify_consistency(a, &padded, &new, &new),
            Err(ProofError::WrongPathLength {
                expected: 0,
                actual: 1
            })
        );
        let huge = ConsistencyProof {
            old_size: 1,
            new_size: MAX_TREE_SIZE + 1,
            path: Vec::new(),
        };
        assert!(matches!(
            verify_consistency(
                a,
                &huge,
                &TreeHead::new(1, [0; 32]),
                &TreeHead::new(MAX_TREE_SIZE + 1, [0; 32])
            ),
            Err(ProofError::TreeTooLarge { .. })
        ));
    }

    #[test]
    fn proof_encoding_is_exact_and_strict() {
        let a = HashAlgorithm::Blake3;
        let (_, log) = sample(a);
        let inclusion = log.inclusion_proof(9, 11).unwrap();
        let bytes = inclusion.to_canonical_bytes();
        assert_eq!(bytes.len(), 8 + 8 + 4 + 32 * inclusion.path.len());
        assert_eq!(&bytes[..8], &9u64.to_be_bytes());
        assert_eq!(&bytes[8..16], &11u64.to_be_bytes());
        assert_eq!(&bytes[16..20], &(inclusion.path.len() as u32).to_be_bytes());
        assert_eq!(&bytes[20..52], &inclusion.path[0]);
        assert_eq!(
            InclusionProof::from_canonical_bytes(&bytes).unwrap(),
            inclusion
        );

        let consistency = log.consistency_proof(3, 11).unwrap();
        let bytes = consistency.to_canonical_bytes();
        assert_eq!(&bytes[..8], &3u64.to_be_bytes());
        assert_eq!(&bytes[8..16], &11u64.to_be_bytes());
        assert_eq!(
            ConsistencyProof::from_canonical_bytes(&bytes).unwrap(),
            consistency
        );

        // Trailing and missing bytes.
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            ConsistencyProof::from_canonical_bytes(&trailing),
            Err(DecodeError::TrailingBytes { trailing: 1, .. })
        ));
        assert!(matches!(
            ConsistencyProof::from_canonical_bytes(&bytes[..bytes.len() - 1]),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
        // Paths of 64 hashes decode; 65 are refused before reading them.
        let max = InclusionProof {
            leaf_index: 0,
            tree_size: 1,
            path: vec![[3; 32]; 64],
        };
        let bytes = max.to_canonical_bytes();
        assert_eq!(InclusionProof::from_canonical_bytes(&bytes).unwrap(), max);
        let mut over = bytes[..16].to_vec();
        over.extend_from_slice(&65u32.to_be_bytes());
        over.extend_from_slice(&[0; 65 * 32]);
        assert!(matches!(
            InclusionProof::from_canonical_bytes(&over),
            Err(DecodeError::TooLong {
                len: 65,
                max: 64,
                ..
            })
        ));
        let mut huge = bytes[..16].to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            ConsistencyProof::from_canonical_bytes(&huge),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn proofs_round_trip_through_json_with_hex_paths() {
        let a = HashAlgorithm::Blake3;
        let (_, log) = sample(a);
        let proof = log.inclusion_proof(2, 5).unwrap();
        let json = serde_json::to_string(&proof).unwrap();
        assert!(json.contains(&hex::encode(proof.path[0])), "{json}");
        assert_eq!(
            serde_json::from_str::<InclusionProof>(&json).unwrap(),
            proof
        );
        let proof = log.consistency_proof(2, 5).unwrap();
        let json = serde_json::to_string(&proof).unwrap();
        assert_eq!(
            serde_json::from_str::<ConsistencyProof>(&json).unwrap(),
            proof
        );

        let bad_hex = r#"{"leaf_index":0,"tree_size":2,"path":["zz"]}"#;
        assert!(serde_json::from_str::<InclusionProof>(bad_hex).is_err());
        let too_long = serde_json::json!({
            "old_size": 1,
            "new_size": 2,
            "path": vec![hex::encode([0u8; 32]); 65],
        });
        assert!(serde_json::from_value::<ConsistencyProof>(too_long).is_err());
    }

    #[test]
    fn debug_output_is_short() {
        let (_, log) = sample(HashAlgorithm::Blake3);
        let text = format!("{log:?}");
        assert!(text.contains("size: 11"), "{text}");
        assert!(text.len() < 200, "{text}");
    }
}
