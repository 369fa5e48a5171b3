//! Why a transaction was rejected. Each variant names the rule broken and carries the values.

use evidence_core::digest::Digest;
use evidence_core::encoding::DecodeError;
use evidence_core::keys::PublicKey;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TxError {
    #[error("malformed transaction: {0}")]
    Malformed(DecodeError),
    #[error("transaction of {size} bytes exceeds the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("batch of {len} anchors is outside 1 to {max}")]
    BadBatchLength { len: usize, max: usize },
    #[error("transaction {tx_id} was already applied at height {height}")]
    Replayed { tx_id: Digest, height: u64 },
    #[error("signer {0} is not a filer of the consortium (in genesis or registered on the ledger)")]
    UnknownFiler(PublicKey),
    #[error("filer {filer} was registered on the ledger and may file from height {from_height}")]
    FilerNotYetActive { filer: PublicKey, from_height: u64 },
    #[error("filer {filer} was revoked from height {effective_height}")]
    FilerRevoked {
        filer: PublicKey,
        effective_height: u64,
    },
    #[error("filer {filer} files from source system {registered:?}, not {found:?}")]
    SourceSystemMismatch {
        filer: PublicKey,
        registered: String,
        found: String,
    },
    #[error("signer {0} is not a governance key of any member")]
    UnknownGovernanceKey(PublicKey),
    #[error("governance key {key} belongs to member {registered:?}, not {claimed:?}")]
    GovernanceMemberMismatch {
        key: PublicKey,
        registered: String,
        claimed: String,
    },
    #[error(
        "{0} is already a key of the consortium (validator, governance or filer, now or before)"
    )]
    FilerKeyInUse(PublicKey),
    #[error("invalid filer registration: {0}")]
    InvalidFilerRegistration(String),
    #[error(
        "{key} is an {} key, but this chain signs with {expected} (its genesis suite); \
         every key of a chain uses the chain's algorithm", key.algorithm()
    )]
    WrongKeyAlgorithm {
        key: PublicKey,
        expected: evidence_core::keys::SignatureAlgorithm,
    },
    #[error("{0} is not a filer of the consortium")]
    NotAFiler(PublicKey),
    #[error("filer {filer} is already revoked (from height {effective_height})")]
    FilerAlreadyRevoked {
        filer: PublicKey,
        effective_height: u64,
    },
    #[error(
        "a revocation of {filer} must take effect after the height that registered it ({registered_height}), \
         got {effective_height}"
    )]
    BadEffectiveHeight {
        filer: PublicKey,
        registered_height: u64,
        effective_height: u64,
    },
    #[error("signature by {0} does not verify")]
    BadSignature(PublicKey),
    #[error("anchors in one batch must share one filer: {first} and {other}")]
    MixedFilers { first: PublicKey, other: PublicKey },
    #[error("wrong chain: this chain is {expected:?}, the transaction is for {found:?}")]
    WrongChain { expected: String, found: String },
    #[error("filer {filer} belongs to member {registered:?}, not {claimed:?}")]
    MemberMismatch {
        filer: PublicKey,
        registered: String,
        claimed: String,
    },
    #[error("field `{field}` must not be empty")]
    EmptyField { field: &'static str },
    #[error("unknown document kind {0:?}")]
    UnknownKind(String),
    #[error("policy does not allow member {member:?} to anchor {kind:?}")]
    KindNotAllowedForMember { member: String, kind: String },
    #[error("filer {filer} is not allowed to anchor {kind:?}")]
    KindNotAllowedForFiler { filer: PublicKey, kind: String },
    #[error(
        "document {document_id:?} is new, so its version must be 1 with nothing superseded, got version {version}"
    )]
    NotAFirstVersion { document_id: String, version: u32 },
    #[error(
        "document {document_id:?} is at version {latest}; the next version is {expected}, got {found}"
    )]
    VersionConflict {
        document_id: String,
        latest: u32,
        expected: u32,
        found: u32,
    },
    #[error(
        "version {version} of {document_id:?} must name the digest it supersedes, {latest_digest}, got {found:?}"
    )]
    SupersedesMismatch {
        document_id: String,
        version: u32,
        latest_digest: Digest,
        found: Option<Digest>,
    },
    #[error(
        "document {document_id:?} is a {existing:?}; a new version cannot change it to {found:?}"
    )]
    KindChanged {
        document_id: String,
        existing: String,
        found: String,
    },
    #[error("a {kind:?} anchor may not carry {claim}")]
    ClaimNotAllowed { kind: String, claim: &'static str },
    #[error("a fund-transfer anchor must name a milestone and an amount")]
    MissingPayment,
    #[error("payment amount must be more than zero")]
    ZeroAmount,
    #[error("fund-transfer records cannot be superseded or revoked; record a new payment instead")]
    PaymentRecordImmutable,
    #[error("project {0:?} has no registered contract")]
    UnknownProject(String),
    #[error("project {project_id:?} has no milestone {milestone:?}")]
    UnknownMilestone {
        project_id: String,
        milestone: String,
    },
    #[error(
        "no accepted inspection report for milestone {milestone:?} of project {project_id:?}: \
         payments follow milestones"
    )]
    MilestoneNotInspected {
        project_id: String,
        milestone: String,
    },
    #[error(
        "overpayment of milestone {milestone:?}: {paid} already paid + {amount} exceeds its {limit}"
    )]
    MilestoneOverpayment {
        milestone: String,
        paid: u64,
        amount: u64,
        limit: u64,
    },
    #[error(
        "overpayment of project {project_id:?}: {paid} already paid + {amount} exceeds the contract \
         value {limit}"
    )]
    ContractOverpayment {
        project_id: String,
        paid: u64,
        amount: u64,
        limit: u64,
    },
    #[error("member {0:?} may not register project contracts")]
    NotARegistrar(String),
    #[error("project {0:?} is already registered")]
    ProjectAlreadyRegistered(String),
    #[error("invalid project contract: {0}")]
    InvalidContract(String),
    #[error("document {document_id:?} version {version} does not exist")]
    UnknownVersion { document_id: String, version: u32 },
    #[error("document {document_id:?} version {version} has digest {stored}, not {stated}")]
    RevokedDigestMismatch {
        document_id: String,
        version: u32,
        stored: Digest,
        stated: Digest,
    },
    #[error("document {document_id:?} version {version} is already revoked")]
    AlreadyRevoked { document_id: String, version: u32 },
    #[error("filer {filer} belongs to member {member:?}, which has left the consortium")]
    MemberRemoved { filer: PublicKey, member: String },
    #[error("proposal {0:?} already exists (a proposal id is never used twice)")]
    ProposalExists(String),
    #[error(
        "a proposal must expire after the block time {block_time_ms} and at most {max_ms} ms \
         later, got {expires_at_ms}"
    )]
    BadExpiry {
        expires_at_ms: u64,
        block_time_ms: u64,
        max_ms: u64,
    },
    #[error("invalid proposal: {0}")]
    InvalidProposal(String),
    #[error(
        "{0} is already a key of the consortium (validator, governance or filer, now or before)"
    )]
    KeyInUse(PublicKey),
    #[error("no proposal {0:?}")]
    UnknownProposal(String),
    #[error("proposal {proposal_id:?} was {status} at height {height}; it takes no more votes")]
    ProposalClosed {
        proposal_id: String,
        status: &'static str,
        height: u64,
    },
    #[error(
        "proposal {proposal_id:?} expired at {expires_at_ms}; the block time is {block_time_ms}"
    )]
    ProposalExpired {
        proposal_id: String,
        expires_at_ms: u64,
        block_time_ms: u64,
    },
    #[error("member {member:?} has already voted on proposal {proposal_id:?}")]
    AlreadyVoted { proposal_id: String, member: String },
    #[error("anchor {position} of the batch: {error}")]
    InBatch {
        position: usize,
        error: Box<TxError>,
    },
}

/// The codes of the refusals by the checks that come before the contract's rules
/// (`execute::check_relayed` runs them alone): a transaction refused with one of them left no
/// mark in state, and no block may carry it. A committed transaction record never holds one.
pub const REFUSED_BEFORE_RULES: [&str; 11] = [
    "malformed",
    "too-large",
    "bad-batch-length",
    "replayed",
    "unknown-filer",
    "filer-not-yet-active",
    "filer-revoked",
    "member-removed",
    "unknown-governance-key",
    "bad-signature",
    "mixed-filers",
];

impl TxError {
    /// A stable, machine-readable name of the rule broken (the API's error reason).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::TooLarge { .. } => "too-large",
            Self::BadBatchLength { .. } => "bad-batch-length",
            Self::Replayed { .. } => "replayed",
            Self::UnknownFiler(_) => "unknown-filer",
            Self::FilerNotYetActive { .. } => "filer-not-yet-active",
            Self::FilerRevoked { .. } => "filer-revoked",
            Self::SourceSystemMismatch { .. } => "source-system-mismatch",
            Self::UnknownGovernanceKey(_) => "unknown-governance-key",
            Self::GovernanceMemberMismatch { .. } => "member-mismatch",
            Self::FilerKeyInUse(_) => "filer-key-in-use",
            Self::WrongKeyAlgorithm { .. } => "wrong-key-algorithm",
            Self::InvalidFilerRegistration(_) => "invalid-filer-registration",
            Self::NotAFiler(_) => "not-a-filer",
            Self::FilerAlreadyRevoked { .. } => "filer-already-revoked",
            Self::BadEffectiveHeight { .. } => "bad-effective-height",
            Self::BadSignature(_) => "bad-signature",
            Self::MixedFilers { .. } => "mixed-filers",
            Self::WrongChain { .. } => "wrong-chain",
            Self::MemberMismatch { .. } => "member-mismatch",
            Self::EmptyField { .. } => "empty-field",
            Self::UnknownKind(_) => "unknown-kind",
            Self::KindNotAllowedForMember { .. } => "kind-not-allowed-for-member",
            Self::KindNotAllowedForFiler { .. } => "kind-not-allowed-for-filer",
            Self::NotAFirstVersion { .. } => "not-a-first-version",
            Self::VersionConflict { .. } => "version-conflict",
            Self::SupersedesMismatch { .. } => "supersedes-mismatch",
            Self::KindChanged { .. } => "kind-changed",
            Self::ClaimNotAllowed { .. } => "claim-not-allowed",
            Self::MissingPayment => "missing-payment",
            Self::ZeroAmount => "zero-amount",
            Self::PaymentRecordImmutable => "payment-record-immutable",
            Self::UnknownProject(_) => "unknown-project",
            Self::UnknownMilestone { .. } => "unknown-milestone",
            Self::MilestoneNotInspected { .. } => "milestone-not-inspected",
            Self::MilestoneOverpayment { .. } => "milestone-overpayment",
            Self::ContractOverpayment { .. } => "contract-overpayment",
            Self::NotARegistrar(_) => "not-a-registrar",
            Self::ProjectAlreadyRegistered(_) => "project-already-registered",
            Self::InvalidContract(_) => "invalid-contract",
            Self::UnknownVersion { .. } => "unknown-version",
            Self::RevokedDigestMismatch { .. } => "revoked-digest-mismatch",
            Self::AlreadyRevoked { .. } => "already-revoked",
            Self::MemberRemoved { .. } => "member-removed",
            Self::ProposalExists(_) => "proposal-exists",
            Self::BadExpiry { .. } => "bad-expiry",
            Self::InvalidProposal(_) => "invalid-proposal",
            Self::KeyInUse(_) => "key-in-use",
            Self::UnknownProposal(_) => "unknown-proposal",
            Self::ProposalClosed { .. } => "proposal-closed",
            Self::ProposalExpired { .. } => "proposal-expired",
            Self::AlreadyVoted { .. } => "already-voted",
            Self::InBatch { error, .. } => error.code(),
        }
    }

    /// True when the checks that come before the contract's rules refused the transaction
    /// (its size and form, a replay, its signer or its signature): such a refusal leaves no
    /// mark in state, and no block may carry the transaction ([`REFUSED_BEFORE_RULES`]).
    pub fn is_refused_before_rules(&self) -> bool {
        REFUSED_BEFORE_RULES.contains(&self.code())
    }

    /// True when the rejection is about who may do what (the API maps these to "permission
    /// denied" rather than "invalid argument").
    pub fn is_policy_violation(&self) -> bool {
        match self {
            Self::UnknownFiler(_)
            | Self::FilerRevoked { .. }
            | Self::FilerNotYetActive { .. }
            | Self::SourceSystemMismatch { .. }
            | Self::UnknownGovernanceKey(_)
            | Self::GovernanceMemberMismatch { .. }
            | Self::MemberMismatch { .. }
            | Self::KindNotAllowedForMember { .. }
            | Self::KindNotAllowedForFiler { .. }
            | Self::NotARegistrar(_)
            | Self::MemberRemoved { .. } => true,
            Self::InBatch { error, .. } => error.is_policy_violation(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use evidence_core::digest::HashAlgorithm;
    use evidence_core::keys::SigningKey;

    use super::*;

    /// The signer's refusals, which come before its signature is checked, count as refused
    /// before the rules; a rule's refusal, even one about who may do what, does not.
    #[test]
    fn the_signers_refusals_come_before_the_rules_and_a_rules_do_not() {
        let key = SigningKey::from_seed(&[7; 32]).public_key();
        let before = [
            TxError::UnknownFiler(key),
            TxError::FilerNotYetActive {
                filer: key,
                from_height: 3,
            },
            TxError::FilerRevoked {
                filer: key,
                effective_height: 2,
            },
            TxError::MemberRemoved {
                filer: key,
                member: "archive".into(),
            },
            TxError::UnknownGovernanceKey(key),
            TxError::BadSignature(key),
            TxError::Replayed {
                tx_id: HashAlgorithm::Blake3.hash(b"tx"),
                height: 1,
            },
            TxError::BadBatchLength { len: 0, max: 4 },
        ];
        for error in &before {
            assert!(error.is_refused_before_rules(), "{error}");
        }
        let rules = [
            TxError::SourceSystemMismatch {
                filer: key,
                registered: "a".into(),
                found: "b".into(),
            },
            TxError::MissingPayment,
            TxError::ZeroAmount,
        ];
        for error in &rules {
            assert!(!error.is_refused_before_rules(), "{error}");
        }
    }
}
