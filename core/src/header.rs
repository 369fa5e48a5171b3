//! Block headers and what validators sign about them: votes and proposals.

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, HashAlgorithm};
use crate::domain;
use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use crate::entry::ID_LEN_MAX;
use crate::keys::PublicKey;
use crate::merkle::{self, MemoryStore, MerkleLog};

/// Version 2 added `genesis_hash`, version 3 `next_validator_set_hash`; older headers are not
/// read (SPEC.md, changes).
const HEADER_VERSION: u8 = 3;

/// The header of a block. Its hash is what validators vote for, so a commit certificate over
/// the hash certifies every field, in particular the log root and size after the block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    pub chain_id: String,
    /// The hash of the genesis file the chain started from (SPEC.md §10.2). A certificate over
    /// this header thus names its consortium: a receipt of one consortium never verifies
    /// against another's genesis file, even one with the same chain id and validator keys.
    pub genesis_hash: Digest,
    /// 1 for the first block after genesis.
    pub height: u64,
    /// The proposer's clock when it proposed, in Unix milliseconds; strictly after the parent's.
    pub time_ms: u64,
    /// The hash of the previous header; the genesis hash for height 1.
    pub parent_hash: Digest,
    /// The Merkle root (RFC 9162 shape) over the block's transaction identifiers; the empty-tree
    /// root for a block without transactions.
    pub transactions_root: Digest,
    pub transaction_count: u32,
    /// Entries in the log after this block.
    pub log_size: u64,
    /// The log's Merkle root at `log_size`.
    pub log_root: Digest,
    /// The contract state commitment after this block.
    pub state_root: Digest,
    /// The hash of the validator set that certifies this block.
    pub validator_set_hash: Digest,
    /// The hash of the validator set that certifies the next block: the link a verifier
    /// follows from one set to the next (equal to `validator_set_hash` while the set does not
    /// change).
    pub next_validator_set_hash: Digest,
    pub proposer: PublicKey,
}

impl BlockHeader {
    /// `H(prefix || canonical encoding)` under the chain's `algorithm`.
    pub fn hash(&self, algorithm: HashAlgorithm) -> Digest {
        let mut writer = Writer::with_domain(domain::BLOCK_HEADER);
        writer.put(self);
        algorithm.hash(writer.as_slice())
    }
}

impl Encode for BlockHeader {
    fn encode(&self, writer: &mut Writer) {
        writer
            .u8(HEADER_VERSION)
            .str(&self.chain_id)
            .put(&self.genesis_hash)
            .u64(self.height)
            .u64(self.time_ms)
            .put(&self.parent_hash)
            .put(&self.transactions_root)
            .u32(self.transaction_count)
            .u64(self.log_size)
            .put(&self.log_root)
            .put(&self.state_root)
            .put(&self.validator_set_hash)
            .put(&self.next_validator_set_hash)
            .put(&self.proposer);
    }
}

impl Decode for BlockHeader {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = reader.u8("block header version")?;
        if version != HEADER_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "block header",
                version,
            });
        }
        Ok(Self {
            chain_id: reader.str_max(ID_LEN_MAX, "chain id")?.to_owned(),
            genesis_hash: reader.get()?,
            height: reader.u64("height")?,
            time_ms: reader.u64("time")?,
            parent_hash: reader.get()?,
            transactions_root: reader.get()?,
            transaction_count: reader.u32("transaction count")?,
            log_size: reader.u64("log size")?,
            log_root: reader.get()?,
            state_root: reader.get()?,
            validator_set_hash: reader.get()?,
            next_validator_set_hash: reader.get()?,
            proposer: reader.get()?,
        })
    }
}

/// The transactions root of a header: the Merkle root (SPEC.md §12) whose leaf data are the
/// 32 bytes of each transaction identifier, in block order; the empty-tree root for none.
pub fn transactions_root(algorithm: HashAlgorithm, transaction_ids: &[Digest]) -> Digest {
    let mut log = MerkleLog::new(algorithm, MemoryStore::default());
    for id in transaction_ids {
        // A memory store cannot fail, and a block holds far fewer than 2^63 transactions.
        let Ok(_) = log.append(merkle::leaf_hash(algorithm, &id.bytes)) else {
            unreachable!("memory log append failed");
        };
    }
    Digest::new(algorithm, log.root())
}

/// The two kinds of consensus vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoteKind {
    /// First-round vote (tag 1).
    Prevote,
    /// Second-round vote (tag 2); a quorum of precommits for a block commits it.
    Precommit,
}

impl VoteKind {
    pub const fn tag(self) -> u8 {
        match self {
            Self::Prevote => 1,
            Self::Precommit => 2,
        }
    }
}

/// The exact bytes a validator signs for a vote: prefix, kind, chain id, height, round, and the
/// voted block hash (absent for a vote for nothing, "nil").
pub fn vote_signing_bytes(
    chain_id: &str,
    kind: VoteKind,
    height: u64,
    round: u32,
    block_hash: Option<&Digest>,
) -> Vec<u8> {
    let mut writer = Writer::with_domain(domain::VOTE);
    writer
        .u8(kind.tag())
        .str(chain_id)
        .u64(height)
        .u32(round)
        .option(block_hash, |w, d| {
            w.put(d);
        });
    writer.into_bytes()
}

/// The exact bytes a proposer signs for a proposal: prefix, chain id, height, round, the
/// proof-of-lock round (`u32::MAX` for none) and the proposed block hash.
pub fn proposal_signing_bytes(
    chain_id: &str,
    height: u64,
    round: u32,
    pol_round: Option<u32>,
    block_hash: &Digest,
) -> Vec<u8> {
    let mut writer = Writer::with_domain(domain::PROPOSAL);
    writer
        .str(chain_id)
        .u64(height)
        .u32(round)
        .u32(pol_round.unwrap_or(u32::MAX))
        .put(block_hash);
    writer.into_bytes()
}
