//! Consensus signatures a node has already verified, so that it checks each one once.
//!
//! Every vote and proposal signature is checked strictly when it arrives (the engine's
//! verifier, [`crate::consensus::signing::ConsensusVerifier`]). Then the engine checks the
//! precommits of the certificate it assembles when it decides, and the ledger checks the same
//! certificate again before it commits the block: each precommit of a height was checked three
//! times, and a node's own votes and proposals, which the engine also checks, once more than
//! needed. Strict verification of the same key, bytes and signature always gives the same
//! verdict, so the node remembers the ones that passed and answers the repeats from memory.
//! A signature it has not seen, or saw fail, is verified afresh; a failure is never
//! remembered, so nothing here can make a bad signature pass.
//!
//! The signatures this node makes itself are remembered too (see
//! [`VerifiedConsensusSignatures::record_own`]): a signature made with a validator's own key
//! over the bytes is valid by construction.

use std::sync::Arc;

use evidence_contracts::verified::VerifiedSignatures;
use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::encoding::Encode;
use evidence_core::keys::{PublicKey, Signature};

/// How many verified consensus signatures a node remembers: a height brings about a dozen
/// (votes of two steps, a proposal, a round or two more when one fails), so this spans
/// hundreds of heights, far more than the few a certificate is checked across.
pub const VERIFIED_CONSENSUS_SIGNATURES_MAX: usize = 4_096;

/// Domain of the cache key, so that it cannot be mistaken for any other digest.
const KEY_DOMAIN: &[u8] = b"evidence/node/verified-consensus-signature\n";

/// A bounded memory of (key, signed bytes, signature) triples that verified strictly. Clones
/// share it: the engine's verifier, the node's signer and the ledger hold one each.
#[derive(Debug, Clone)]
pub struct VerifiedConsensusSignatures {
    inner: Arc<VerifiedSignatures>,
}

impl VerifiedConsensusSignatures {
    /// A memory of at most `capacity` signatures; the oldest are forgotten first.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(VerifiedSignatures::new(capacity)),
        }
    }

    /// The key and bytes a signature is remembered under: the key's canonical encoding
    /// (algorithm and length fixed by its tag) followed by the signed bytes, hashed.
    fn digest(public_key: &PublicKey, bytes: &[u8]) -> Digest {
        HashAlgorithm::Blake3.hash_parts(&[KEY_DOMAIN, &public_key.to_canonical_bytes(), bytes])
    }

    /// Whether `signature` by `public_key` over `bytes` passes strict verification
    /// ([`PublicKey::verify`]): from memory when this very triple passed before, else checked
    /// now and remembered if it passes.
    pub fn verify(&self, public_key: &PublicKey, bytes: &[u8], signature: &Signature) -> bool {
        let digest = Self::digest(public_key, bytes);
        if self.inner.contains(&digest, signature) {
            return true;
        }
        let valid = public_key.verify(bytes, signature).is_ok();
        if valid {
            self.inner.insert(&digest, signature);
        }
        valid
    }

    /// Remembers a signature this node made with its own key over `bytes`.
    pub fn record_own(&self, public_key: &PublicKey, bytes: &[u8], signature: &Signature) {
        self.inner
            .insert(&Self::digest(public_key, bytes), signature);
    }

    /// Signatures remembered.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use evidence_core::keys::SigningKey;

    use super::*;

    #[test]
    fn passes_remembered_failures_checked_every_time_and_bytes_keys_and_signatures_kept_apart() {
        let key = SigningKey::from_seed(&[1; 32]);
        let other = SigningKey::from_seed(&[2; 32]);
        let verified = VerifiedConsensusSignatures::new(16);
        let signature = key.sign(b"vote");

        assert!(verified.verify(&key.public_key(), b"vote", &signature));
        assert_eq!(verified.len(), 1, "a signature that passed is remembered");
        assert!(verified.verify(&key.public_key(), b"vote", &signature));
        assert_eq!(verified.len(), 1);

        // The remembered triple vouches for nothing else: other bytes, another key, another
        // signature are each checked, fail, and are not remembered.
        assert!(!verified.verify(&key.public_key(), b"other vote", &signature));
        assert!(!verified.verify(&other.public_key(), b"vote", &signature));
        assert!(!verified.verify(&key.public_key(), b"vote", &other.sign(b"vote")));
        assert_eq!(verified.len(), 1, "failures are never remembered");

        // A signature this node made is remembered as it is made.
        let own = other.sign(b"proposal");
        verified.record_own(&other.public_key(), b"proposal", &own);
        assert_eq!(verified.len(), 2);
        assert!(verified.verify(&other.public_key(), b"proposal", &own));
        assert_eq!(verified.len(), 2);
    }

    #[test]
    fn clones_share_one_memory_and_the_oldest_is_forgotten() {
        let key = SigningKey::from_seed(&[3; 32]);
        let verified = VerifiedConsensusSignatures::new(2);
        let shared = verified.clone();
        for message in [b"a", b"b", b"c"] {
            assert!(shared.verify(&key.public_key(), message, &key.sign(message)));
        }
        assert_eq!(
            verified.len(),
            2,
            "bounded, and the clone wrote to the same memory"
        );
    }
}
