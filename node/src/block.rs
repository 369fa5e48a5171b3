//! Blocks: a header and the transactions it orders, as they travel between validators and
//! are stored.
//!
//! The header is the part that is signed and certified (its hash is the consensus value); the
//! transactions are the canonical bytes of `evidence_contracts::Transaction`s, in block order.
//! The header commits to them through `transactions_root` over their transaction ids.

use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use evidence_core::header::BlockHeader;

const BLOCK_VERSION: u8 = 1;

/// The most transactions one block may carry. A proposer stops filling a block here; a
/// decoder refuses more before allocating.
pub const BLOCK_TRANSACTIONS_MAX: u32 = 20_000;

/// The largest encoded block, in bytes. Bounds what a peer can make a validator buffer for a
/// proposal and what value sync can return for one height.
pub const BLOCK_BYTES_MAX: usize = 64 << 20;

/// The largest single transaction a block may carry, whatever the genesis limit says (the
/// genesis limit, checked by execution, is normally far smaller).
pub const TRANSACTION_BYTES_MAX: u32 = 16 << 20;

/// A header and its transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub header: BlockHeader,
    /// Canonical transaction bytes, in execution order.
    pub transactions: Vec<Vec<u8>>,
}

impl Block {
    /// The block's identity: its header hash under the chain's algorithm.
    pub fn hash(&self, algorithm: HashAlgorithm) -> Digest {
        self.header.hash(algorithm)
    }

    /// The canonical bytes: version, header, then the transactions as length-prefixed bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_canonical_bytes()
    }

    /// Reads a block from its canonical bytes.
    ///
    /// # Errors
    /// Truncated or trailing bytes, an unknown version, a header that does not decode, or more
    /// transactions or bytes than the limits above allow.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > BLOCK_BYTES_MAX {
            return Err(DecodeError::TooLong {
                what: "block",
                len: bytes.len() as u64,
                max: BLOCK_BYTES_MAX as u64,
            });
        }
        Self::from_canonical_bytes(bytes)
    }

    /// Bytes of all transactions together.
    pub fn transaction_bytes(&self) -> usize {
        self.transactions.iter().map(Vec::len).sum()
    }
}

impl Encode for Block {
    fn encode(&self, writer: &mut Writer) {
        writer
            .u8(BLOCK_VERSION)
            .put(&self.header)
            .seq(&self.transactions, |w, tx| {
                w.bytes(tx);
            });
    }
}

impl Decode for Block {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = reader.u8("block version")?;
        if version != BLOCK_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "block",
                version,
            });
        }
        let header = reader.get()?;
        let transactions = reader.seq_max(BLOCK_TRANSACTIONS_MAX, "block transactions", |r| {
            Ok(r.bytes_max(TRANSACTION_BYTES_MAX, "transaction")?.to_vec())
        })?;
        Ok(Self {
            header,
            transactions,
        })
    }
}

#[cfg(test)]
mod tests {
    use evidence_core::keys::SigningKey;

    use super::*;

    fn sample() -> Block {
        let algorithm = HashAlgorithm::Blake3;
        let zero = Digest::new(algorithm, [0; 32]);
        Block {
            header: BlockHeader {
                chain_id: "test-chain".into(),
                genesis_hash: zero,
                height: 7,
                time_ms: 1_700_000_000_000,
                parent_hash: zero,
                transactions_root: zero,
                transaction_count: 2,
                log_size: 3,
                log_root: zero,
                state_root: zero,
                validator_set_hash: zero,
                next_validator_set_hash: zero,
                proposer: SigningKey::from_seed(&[7; 32]).public_key(),
            },
            transactions: vec![vec![1, 2, 3], vec![]],
        }
    }

    #[test]
    fn round_trips() {
        let block = sample();
        let bytes = block.to_bytes();
        assert_eq!(Block::from_bytes(&bytes), Ok(block.clone()));
        assert_eq!(
            block.hash(HashAlgorithm::Blake3),
            block.header.hash(HashAlgorithm::Blake3)
        );
        assert_eq!(block.transaction_bytes(), 3);
    }

    #[test]
    fn malformed_bytes_are_typed_errors() {
        let bytes = sample().to_bytes();
        for cut in 0..bytes.len() {
            assert!(Block::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            Block::from_bytes(&trailing),
            Err(DecodeError::TrailingBytes { .. })
        ));
        let mut version = bytes.clone();
        version[0] = 9;
        assert!(matches!(
            Block::from_bytes(&version),
            Err(DecodeError::UnsupportedVersion { .. })
        ));
        // A forged transaction count far above the limit is refused before allocation.
        let header_len = sample().header.to_canonical_bytes().len();
        let mut count = bytes.clone();
        count[1 + header_len..1 + header_len + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            Block::from_bytes(&count),
            Err(DecodeError::TooLong { .. })
        ));
    }
}
