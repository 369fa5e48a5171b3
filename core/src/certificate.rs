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
            entry
                .validator
                .verify(&message, &entry.signature)
                .map_err(|_| CertificateError::BadSignature(entry.validator))?;
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
