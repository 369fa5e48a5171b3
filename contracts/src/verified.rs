//! Signatures already verified, so that the same transaction is not verified again by every
//! step that executes it.
//!
//! A node verifies a transaction's signature when it admits it, then executes it again when it
//! proposes or validates a block and when it commits one. Strict Ed25519 verification is the
//! largest cost of execution, and the outcome for the same signed bytes and signature never
//! changes, so a node may remember it. The key is the transaction id (which hashes every
//! signed byte, the signer's key included) with the signature bytes: a different signature on
//! the same content is verified afresh. Skipping a check whose result is known cannot change
//! any outcome, so execution stays deterministic across nodes with different caches.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use evidence_core::digest::Digest;
use evidence_core::keys::Signature;

/// A remembered pair, kept by value (no allocation per lookup). The whole pair is hashed: a
/// signer can make any number of valid signatures on one transaction, and keys hashed by the
/// transaction id alone would let it pile them into one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    tx_id: Digest,
    signature: Signature,
}

/// A bounded set of (transaction id, signature) pairs whose signature verified; the oldest
/// are forgotten first.
#[derive(Debug)]
pub struct VerifiedSignatures {
    capacity: usize,
    inner: Mutex<(HashSet<Key>, VecDeque<Key>)>,
}

impl VerifiedSignatures {
    /// A set remembering at most `capacity` pairs.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashSet<Key>, VecDeque<Key>)> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `signature` on transaction `tx_id` verified before.
    pub fn contains(&self, tx_id: &Digest, signature: &Signature) -> bool {
        self.lock().0.contains(&Key {
            tx_id: *tx_id,
            signature: *signature,
        })
    }

    /// Remembers that `signature` on transaction `tx_id` verified.
    pub fn insert(&self, tx_id: &Digest, signature: &Signature) {
        let key = Key {
            tx_id: *tx_id,
            signature: *signature,
        };
        let mut inner = self.lock();
        if inner.0.insert(key) {
            inner.1.push_back(key);
            while inner.1.len() > self.capacity {
                if let Some(old) = inner.1.pop_front() {
                    inner.0.remove(&old);
                }
            }
        }
    }

    /// Pairs remembered.
    pub fn len(&self) -> usize {
        self.lock().0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use evidence_core::keys::SigningKey;

    use super::*;

    #[test]
    fn remembers_pairs_and_forgets_the_oldest() {
        let key = SigningKey::from_seed(&[1; 32]);
        let a = evidence_core::digest::HashAlgorithm::Blake3.hash(b"a");
        let b = evidence_core::digest::HashAlgorithm::Blake3.hash(b"b");
        let signature = key.sign(b"x");
        let other = key.sign(b"y");
        let set = VerifiedSignatures::new(1);
        assert!(!set.contains(&a, &signature));
        set.insert(&a, &signature);
        assert!(set.contains(&a, &signature));
        assert!(
            !set.contains(&a, &other),
            "another signature is checked afresh"
        );
        set.insert(&b, &signature);
        assert!(
            !set.contains(&a, &signature),
            "capacity 1 forgets the oldest"
        );
        assert!(set.contains(&b, &signature));
        assert_eq!(set.len(), 1);
    }
}
