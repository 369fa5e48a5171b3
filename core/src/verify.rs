//! Why a receipt or checkpoint does not verify. Each variant names the check that failed and
//! carries the values involved, so a verdict can say exactly what is wrong.

use thiserror::Error;

use crate::certificate::CertificateError;
use crate::digest::Digest;
use crate::encoding::DecodeError;
use crate::entry::BatchError;
use crate::keys::PublicKey;
use crate::merkle::ProofError;
use crate::state_tree::StateProofError;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    #[error("not valid JSON: {0}")]
    NotJson(String),
    #[error("wrong file type: expected {expected:?}, found {found:?}")]
    WrongFileType {
        expected: &'static str,
        found: String,
    },
    /// `version` is the JSON integer literal as written in the file.
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion { what: &'static str, version: String },
    #[error("field `{field}` is not hex: {reason}")]
    BadHex { field: &'static str, reason: String },
    #[error("field `{field}` is malformed: {error}")]
    Malformed {
        field: &'static str,
        error: DecodeError,
    },
    /// A header, filer key or signature of another algorithm suite than the genesis file's.
    #[error(
        "wrong suite: {what} is of the suite {found}, but the genesis file's chain uses {expected} \
         (a receipt of another chain, or a genesis file of another chain)"
    )]
    WrongSuite {
        what: &'static str,
        expected: String,
        found: String,
    },
    #[error("wrong chain: the trust anchor is for {expected:?}, this is for {found:?}")]
    WrongChain { expected: String, found: String },
    /// The header names another genesis than the verifier's: evidence of another consortium
    /// (one that may share the chain id and even the validator keys).
    #[error(
        "wrong chain: the header was certified for the chain of genesis {found}, but the genesis \
         file given hashes to {expected}"
    )]
    WrongGenesis { expected: Digest, found: Digest },
    #[error("unknown validator set {found}: the trust anchor's validator set hashes to {expected}")]
    UnknownValidatorSet { expected: Digest, found: Digest },
    #[error(
        "the certificate is for block {certified_height} ({certified_hash}), not for this header \
         at height {header_height} ({header_hash})"
    )]
    CertificateForOtherBlock {
        header_height: u64,
        header_hash: Digest,
        certified_height: u64,
        certified_hash: Digest,
    },
    #[error("signer {0} is not in the validator set")]
    UnknownSigner(PublicKey),
    #[error("validator {0} signed more than once")]
    DuplicateSigner(PublicKey),
    #[error("signature of validator {0} does not verify")]
    BadValidatorSignature(PublicKey),
    #[error(
        "too little voting power: signers hold {signed} of {total}; more than two thirds \
         ({needed}) is needed"
    )]
    InsufficientPower {
        signed: u64,
        total: u64,
        needed: u64,
    },
    #[error(
        "the inclusion proof is for a log of {proof_size} entries but the header's log has \
         {header_size}"
    )]
    LogSizeMismatch { proof_size: u64, header_size: u64 },
    #[error("the entry says it is leaf {entry_index} but the proof is for leaf {proof_index}")]
    EntryIndexMismatch { entry_index: u64, proof_index: u64 },
    #[error("bad inclusion proof: {0}")]
    BadInclusionProof(ProofError),
    #[error(
        "the inclusion proof leads to root {computed}, but the certified header has {expected}"
    )]
    HeaderRootMismatch { computed: Digest, expected: Digest },
    #[error(
        "the entry is not a document anchor (it records a revocation or a project registration)"
    )]
    NotAnAnchor,
    #[error("the entry is for chain {found:?}, the trust anchor for {expected:?}")]
    EntryWrongChain { expected: String, found: String },
    #[error("the filer's batch has {len} anchors; 1 to {max} are allowed")]
    BadBatchLength { len: u64, max: u64 },
    #[error("the filer's batch path is bad: {0}")]
    BadBatchProof(ProofError),
    #[error("the filer signature of {0} does not verify")]
    BadFilerSignature(PublicKey),
    #[error("digest mismatch: the receipt anchors {anchored}, the document hashes to {actual}")]
    DigestMismatch { anchored: Digest, actual: Digest },
    /// A hand-off's checkpoint does not verify against the set it hands off from.
    #[error("hand-off {index} (height {height}) is not certified by the set before it: {reason}")]
    BadHandoff {
        index: usize,
        height: u64,
        reason: Box<VerifyError>,
    },
    #[error("hand-off {index} is at height {height}, not after the one before it ({previous})")]
    HandoffOutOfOrder {
        index: usize,
        height: u64,
        previous: u64,
    },
    #[error(
        "hand-off {index} (height {height}): its header names {named} as the next validator \
         set, the set it carries hashes to {carried}"
    )]
    HandoffSetMismatch {
        index: usize,
        height: u64,
        named: Digest,
        carried: Digest,
    },
    #[error("hand-off {index} (height {height}) does not change the validator set")]
    HandoffNotAChange { index: usize, height: u64 },
    #[error(
        "the checkpoint at height {checkpoint_height} is not after the last hand-off (height \
         {handoff_height})"
    )]
    CheckpointBeforeHandoff {
        checkpoint_height: u64,
        handoff_height: u64,
    },
    #[error(
        "the hand-offs disagree with those verified before at height {height}: two certified \
         histories of the validator set"
    )]
    ConflictingHandoffs { height: u64 },
    #[error(
        "filer {filer} is not a genesis filer of member {member:?}, and the receipt carries no \
         registration of it"
    )]
    FilerNotRegistered { filer: PublicKey, member: String },
    #[error("the filer's registration is not in the certified log: {reason}")]
    BadRegistrationProof { reason: String },
    #[error("the registration does not register this filer for this filing: {reason}")]
    RegistrationMismatch { reason: String },
    #[error("the filer's revocation is not in the certified log: {reason}")]
    BadRevocationProof { reason: String },
    #[error("the revocation is not a revocation of this filer: {reason}")]
    RevocationMismatch { reason: String },
    #[error(
        "the document was filed at height {filed_height} by a key its member revoked from \
         height {effective_height} ({reason})"
    )]
    FilerRevoked {
        filed_height: u64,
        effective_height: u64,
        reason: String,
    },
    /// A status proof's fact does not hold under the checkpoint's state root.
    #[error("fact {index} of the status proof does not hold: {reason}")]
    BadStateProof {
        index: usize,
        reason: StateProofError,
    },
    /// The status proof is valid but does not carry what the question needs.
    #[error("the status proof does not prove the status asked for: {reason}")]
    StatusNotProved { reason: String },
    /// The status proof's record is of another filing than the receipt's.
    #[error("the status proof contradicts the receipt: {reason}")]
    StatusMismatch { reason: String },
}

impl From<CertificateError> for VerifyError {
    fn from(error: CertificateError) -> Self {
        match error {
            CertificateError::UnknownSigner(key) => Self::UnknownSigner(key),
            CertificateError::DuplicateSigner(key) => Self::DuplicateSigner(key),
            CertificateError::BadSignature(key) => Self::BadValidatorSignature(key),
            CertificateError::InsufficientPower {
                signed,
                total,
                needed,
            } => Self::InsufficientPower {
                signed,
                total,
                needed,
            },
        }
    }
}

impl VerifyError {
    /// A stable, machine-readable name for the failed check (used in JSON output and tests).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotJson(_) => "not-json",
            Self::WrongFileType { .. } => "wrong-file-type",
            Self::UnsupportedVersion { .. } => "unsupported-version",
            Self::BadHex { .. } => "bad-hex",
            Self::Malformed { .. } => "malformed",
            Self::WrongSuite { .. } => "wrong-suite",
            Self::WrongChain { .. } | Self::WrongGenesis { .. } => "wrong-chain",
            Self::UnknownValidatorSet { .. } => "unknown-validator-set",
            Self::CertificateForOtherBlock { .. } => "certificate-for-other-block",
            Self::UnknownSigner(_) => "unknown-signer",
            Self::DuplicateSigner(_) => "duplicate-signer",
            Self::BadValidatorSignature(_) => "bad-validator-signature",
            Self::InsufficientPower { .. } => "insufficient-power",
            Self::LogSizeMismatch { .. } => "log-size-mismatch",
            Self::EntryIndexMismatch { .. } => "entry-index-mismatch",
            Self::BadInclusionProof(_) => "bad-inclusion-proof",
            Self::HeaderRootMismatch { .. } => "header-root-mismatch",
            Self::NotAnAnchor => "not-an-anchor",
            Self::EntryWrongChain { .. } => "entry-wrong-chain",
            Self::BadBatchLength { .. } => "bad-batch-length",
            Self::BadBatchProof(_) => "bad-batch-proof",
            Self::BadFilerSignature(_) => "bad-filer-signature",
            Self::DigestMismatch { .. } => "digest-mismatch",
            Self::BadHandoff { .. } => "bad-handoff",
            Self::HandoffOutOfOrder { .. } => "handoff-out-of-order",
            Self::HandoffSetMismatch { .. } => "handoff-set-mismatch",
            Self::HandoffNotAChange { .. } => "handoff-not-a-change",
            Self::CheckpointBeforeHandoff { .. } => "checkpoint-before-handoff",
            Self::ConflictingHandoffs { .. } => "conflicting-handoffs",
            Self::FilerNotRegistered { .. } => "filer-not-registered",
            Self::BadRegistrationProof { .. } => "bad-registration-proof",
            Self::RegistrationMismatch { .. } => "registration-mismatch",
            Self::BadRevocationProof { .. } => "bad-revocation-proof",
            Self::RevocationMismatch { .. } => "revocation-mismatch",
            Self::FilerRevoked { .. } => "filer-revoked",
            Self::BadStateProof {
                reason: StateProofError::RootMismatch,
                ..
            } => "state-root-mismatch",
            Self::BadStateProof { .. } => "bad-state-proof",
            Self::StatusNotProved { .. } => "status-not-proved",
            Self::StatusMismatch { .. } => "status-mismatch",
        }
    }
}

impl From<BatchError> for VerifyError {
    fn from(error: BatchError) -> Self {
        match error {
            BatchError::BadPath(proof) => Self::BadBatchProof(proof),
            BatchError::BadSignature(e) => Self::BadFilerSignature(e.signer),
            BatchError::BadLength { len, max } => Self::BadBatchLength {
                len: len as u64,
                max: max as u64,
            },
        }
    }
}
