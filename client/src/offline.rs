//! Offline verification: a file, its receipt and the genesis file, and nothing else.

use std::path::{Path, PathBuf};

use evidence_core::checkpoint::VerifiedCheckpoint;
use evidence_core::digest::hash_file;
use evidence_core::entry::Record;
use evidence_core::receipt::{Receipt, Verdict, Verifier};
use evidence_core::verify::VerifyError;
use evidence_genesis::{Genesis, GenesisError};
use thiserror::Error;

/// Why a file could not be verified against its receipt.
#[derive(Debug, Error)]
pub enum VerifyFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the genesis file is not valid: {0}")]
    Genesis(#[from] GenesisError),
    #[error("the receipt file {path} is not a receipt: {error}")]
    NotAReceipt { path: PathBuf, error: VerifyError },
    /// The receipt does not establish that this file was anchored: the verdict is "invalid".
    #[error("{0}")]
    Invalid(#[from] VerifyError),
}

impl VerifyFileError {
    /// True when the evidence itself failed (as opposed to a file that could not be read).
    pub fn is_invalid_evidence(&self) -> bool {
        matches!(self, Self::Invalid(_))
    }
}

/// Verifies that the file at `path` is the document `receipt` anchors, under the consortium of
/// `genesis`: its digest, the filer's signature, its inclusion in the log, and the quorum of
/// validator signatures on the checkpoint (SPEC.md §9). No network.
///
/// # Errors
/// The file cannot be read, the genesis is invalid, or the evidence fails a check (the
/// [`VerifyFileError::Invalid`] error names the first check that failed).
pub fn verify_file(
    path: &Path,
    receipt: &Receipt,
    genesis: &Genesis,
) -> Result<Verdict, VerifyFileError> {
    let anchor = genesis.trust_anchor()?;
    // The document is hashed with the algorithm its anchor names (SPEC.md §3), which need not
    // be the chain's; a receipt that is not an anchor fails below whatever the digest.
    let algorithm = receipt
        .entry
        .anchor()
        .map_or(genesis.suite.digest, |document| {
            document.body.digest.algorithm
        });
    let digest = hash_file(algorithm, path).map_err(|source| VerifyFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(evidence_core::receipt::verify_receipt(
        &digest, receipt, &anchor,
    )?)
}

/// [`verify_file`] with the receipt read from its JSON file (SPEC.md §8.1).
///
/// # Errors
/// As [`verify_file`], and a receipt file that cannot be read or is not a receipt.
pub fn verify_receipt_file(
    path: &Path,
    receipt_path: &Path,
    genesis: &Genesis,
) -> Result<Verdict, VerifyFileError> {
    let text = std::fs::read_to_string(receipt_path).map_err(|source| VerifyFileError::Read {
        path: receipt_path.to_owned(),
        source,
    })?;
    let receipt = Receipt::from_json(&text).map_err(|error| VerifyFileError::NotAReceipt {
        path: receipt_path.to_owned(),
        error,
    })?;
    verify_file(path, &receipt, genesis)
}

/// Verifies any entry's receipt (anchor, revocation or registration): the checkpoint's quorum,
/// the entry's inclusion under the checkpoint's log root, and the signature of whoever signed
/// the record. For anchors this is [`Verifier::verify_receipt`] with the anchored digest.
///
/// # Errors
/// The first check that failed.
pub fn verify_entry(
    verifier: &mut Verifier,
    receipt: &Receipt,
) -> Result<VerifiedCheckpoint, VerifyError> {
    if let Record::Anchor(document) = &receipt.entry.record {
        let digest = document.body.digest;
        return verifier
            .verify_receipt(&digest, receipt)
            .map(|verdict| verdict.checkpoint);
    }
    // A receipt certified by a later set carries the hand-offs to it.
    verifier.learn_handoffs(&receipt.handoffs)?;
    let checkpoint = verifier.verify_checkpoint(&receipt.checkpoint)?;
    evidence_core::receipt::verify_inclusion(receipt, verifier.trust_anchor().digest_algorithm)?;
    let chain = &verifier.trust_anchor().chain_id;
    let (signed_chain, signer, signature_ok) = match &receipt.entry.record {
        Record::Anchor(_) => unreachable!("handled above"),
        Record::Revocation(revocation) => (
            &revocation.body.chain_id,
            revocation.body.filer,
            revocation.verify().is_ok(),
        ),
        Record::Registration(registration) => (
            &registration.body.chain_id,
            registration.body.registrar,
            registration.verify().is_ok(),
        ),
        Record::Governance(governance) => (
            &governance.body.chain_id,
            governance.body.signer,
            governance.verify().is_ok(),
        ),
    };
    if signed_chain != chain {
        return Err(VerifyError::EntryWrongChain {
            expected: chain.clone(),
            found: signed_chain.clone(),
        });
    }
    if !signature_ok {
        return Err(VerifyError::BadFilerSignature(signer));
    }
    Ok(checkpoint)
}
