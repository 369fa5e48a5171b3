//! Commit certificates: a quorum of validator precommit signatures over one block hash.

use thiserror::Error;

use crate::digest::Digest;
use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use crate::header::{VoteKind, vote_signing_bytes};
use crate::keys::{PublicKey, Signature, SigningKey};
use crate::validators::{VALIDATORS_MAX, ValidatorSet};

const CERTIFICATE_VERSION: u8 = 1;

/// One validator's precommit signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitSignature {
    pub validator: PublicKey,
    pub signature: Signature,
}

/// Signatures of at least a quorum (by voting power) of validators, each over the precommit
/// vote bytes for `block_hash` at `height` and `round`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitCertificate {
    pub height: u64,
    pub round: u32,
    pub block_hash: Digest,
    pub signatures: Vec<CommitSignature>,
}

/// Why a certificate does not certify its block.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertificateError {
    #[error("signer {0} is not in the validator set")]
    UnknownSigner(PublicKey),
    #[error("validator {0} signed more than once")]
    DuplicateSigner(PublicKey),
    #[error("signature of validator {0} does not verify")]
    BadSignature(PublicKey),
    #[error(
        "signers hold voting power {signed} of {total}; more than two thirds ({needed}) is needed"
    )]
    InsufficientPower {
        signed: u64,
        total: u64,
        needed: u64,
    },
}

impl CommitCertificate {
    /// A certificate signed by `keys` (used by tests, fixtures and the node's own assembly).
    pub fn sign(
        chain_id: &str,
        height: u64,
        round: u32,
        block_hash: Digest,
        keys: &[&SigningKey],
    ) -> Self {
        let message = vote_signing_bytes(
            chain_id,
            VoteKind::Precommit,
            height,
            round,
            Some(&block_hash),
        );
        let signatures = keys
            .iter()
            .map(|key| CommitSignature {
                validator: key.public_key(),
                signature: key.sign(&message),
            })
            .collect();
        Self {
            height,
            round,
            block_hash,
            signatures,
        }
    }

    /// Checks every signature strictly, in order, and that the signers hold a quorum of
    /// `validators`' power. Returns the signed power.
    ///
    /// # Errors
    /// The first unknown signer, duplicate signer or bad signature in list order; otherwise
    /// too little power.
    pub fn verify(
        &self,
        chain_id: &str,
        validators: &ValidatorSet,
    ) -> Result<u64, CertificateError> {
        self.verify_with(chain_id, validators, |key, message, signature| {
            key.verify(message, signature).is_ok()
        })
    }

    /// [`Self::verify`] with `check` deciding whether each signature is valid for its key over
    /// the precommit's signing bytes. `check` must accept exactly the signatures strict
    /// verification ([`PublicKey::verify`]) accepts: a node answers from the verdicts it
    /// already reached on the very same key, bytes and signature, and verifies the rest.
    /// Signers, duplicates and the quorum are checked here whatever `check` says.
    ///
    /// # Errors
    /// As [`Self::verify`].
    pub fn verify_with(
        &self,
        chain_id: &str,
        validators: &ValidatorSet,
        mut check: impl FnMut(&PublicKey, &[u8], &Signature) -> bool,
    ) -> Result<u64, CertificateError> {
        let message = vote_signing_bytes(
            chain_id,
            VoteKind::Precommit,
            self.height,
            self.round,
            Some(&self.block_hash),
        );
        let mut seen = vec![false; validators.len()];
        let mut signed: u64 = 0;
        for entry in &self.signatures {
            let index = validators
                .index_of(&entry.validator)
                .ok_or(CertificateError::UnknownSigner(entry.validator))?;
            if std::mem::replace(&mut seen[index], true) {
                return Err(CertificateError::DuplicateSigner(entry.validator));
            }
            if !check(&entry.validator, &message, &entry.signature) {
                return Err(CertificateError::BadSignature(entry.validator));
            }
            signed += validators.validators()[index].voting_power;
        }
        if validators.is_quorum(signed) {
            Ok(signed)
        } else {
            Err(CertificateError::InsufficientPower {
                signed,
                total: validators.total_power(),
                needed: validators.quorum_power(),
            })
        }
    }

    /// The signing validators' keys, in certificate order.
    pub fn signers(&self) -> Vec<PublicKey> {
        self.signatures.iter().map(|s| s.validator).collect()
    }
}

impl Encode for CommitCertificate {
    fn encode(&self, writer: &mut Writer) {
        writer
            .u8(CERTIFICATE_VERSION)
            .u64(self.height)
            .u32(self.round)
            .put(&self.block_hash)
            .seq(&self.signatures, |w, s| {
                w.put(&s.validator).put(&s.signature);
            });
    }
}

impl Decode for CommitCertificate {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = reader.u8("certificate version")?;
        if version != CERTIFICATE_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "commit certificate",
                version,
            });
        }
        let height = reader.u64("certificate height")?;
        let round = reader.u32("certificate round")?;
        let block_hash = reader.get()?;
        let signatures = reader.seq_max(VALIDATORS_MAX as u32, "certificate signatures", |r| {
            Ok(CommitSignature {
                validator: r.get()?,
                signature: r.get()?,
            })
        })?;
        Ok(Self {
            height,
            round,
            block_hash,
            signatures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::HashAlgorithm;
    use crate::validators::Validator;

    const CHAIN: &str = "certificate-test-chain";

    fn keys() -> Vec<SigningKey> {
        (1..=4u8).map(|i| SigningKey::from_seed(&[i; 32])).collect()
    }

    fn set(keys: &[SigningKey]) -> ValidatorSet {
        ValidatorSet::new(
            keys.iter()
                .map(|key| Validator {
                    public_key: key.public_key(),
                    voting_power: 1,
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn a_check_decides_signatures_only_and_is_asked_with_the_precommit_bytes() {
        let keys = keys();
        let validators = set(&keys);
        let hash = HashAlgorithm::Blake3.hash(b"block");
        let signers: Vec<&SigningKey> = keys.iter().take(3).collect();
        let certificate = CommitCertificate::sign(CHAIN, 7, 0, hash, &signers);
        let precommit = vote_signing_bytes(CHAIN, VoteKind::Precommit, 7, 0, Some(&hash));

        let mut asked = Vec::new();
        let power = certificate.verify_with(CHAIN, &validators, |key, message, signature| {
            assert_eq!(message, precommit.as_slice());
            asked.push(*key);
            key.verify(message, signature).is_ok()
        });
        assert_eq!(power, Ok(3));
        assert_eq!(asked, certificate.signers());
        assert_eq!(certificate.verify(CHAIN, &validators), Ok(3));

        // A check that refuses the second signature names it.
        let second = keys[1].public_key();
        assert_eq!(
            certificate.verify_with(CHAIN, &validators, |key, _, _| *key != second),
            Err(CertificateError::BadSignature(second))
        );

        // A check that accepts everything still leaves the signers and the quorum to the
        // certificate's own rules.
        let accept = |_: &PublicKey, _: &[u8], _: &Signature| true;
        let two = CommitCertificate::sign(CHAIN, 7, 0, hash, &signers[..2]);
        assert!(matches!(
            two.verify_with(CHAIN, &validators, accept),
            Err(CertificateError::InsufficientPower { signed: 2, .. })
        ));
        let mut duplicated = two.clone();
        duplicated.signatures.push(two.signatures[0]);
        assert_eq!(
            duplicated.verify_with(CHAIN, &validators, accept),
            Err(CertificateError::DuplicateSigner(keys[0].public_key()))
        );
        let stranger = SigningKey::from_seed(&[9; 32]);
        let mut unknown = certificate.clone();
        unknown.signatures[0].validator = stranger.public_key();
        assert_eq!(
            unknown.verify_with(CHAIN, &validators, accept),
            Err(CertificateError::UnknownSigner(stranger.public_key()))
        );
    }
}
