//! What can go wrong between a caller and the ledger.

use std::path::PathBuf;

use evidence_core::digest::Digest;
use evidence_core::keys::PublicKey;
use evidence_core::verify::VerifyError;
use thiserror::Error;
use tonic::Code;
use tonic_types::StatusExt as _;

/// The ledger refused a request by one of its rules: a contract rule (for example
/// `milestone-overpayment`, `kind-not-allowed-for-member`) or an API rule (`malformed`,
/// `not-found`). `reason` is the machine-readable code of SPEC.md §11.4 or of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRefusal {
    pub code: Code,
    pub reason: String,
    pub message: String,
}

impl std::fmt::Display for RuleRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (rule: {})", self.message, self.reason)
    }
}

/// Why a client call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("the node address {endpoint:?} is not a valid URL: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    #[error("cannot reach the node at {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error(
        "the node at {endpoint} serves chain {chain_id:?} with genesis {found}, but the genesis \
         file given hashes to {expected}: this node belongs to another consortium"
    )]
    WrongConsortium {
        endpoint: String,
        chain_id: String,
        expected: Digest,
        found: String,
    },
    /// The ledger refused the request by a rule; the request must change to succeed.
    #[error("refused: {0}")]
    Refused(RuleRefusal),
    #[error("the node stayed busy after {attempts} attempts: {message}")]
    Busy { attempts: u32, message: String },
    #[error(
        "transaction {tx_id} was accepted but not committed in time; it may still commit: ask \
         for its receipt later"
    )]
    NotCommitted { tx_id: Digest },
    /// Something the client waited for did not happen in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A failure of the call itself (connection lost, node unavailable, timeout).
    #[error("the call to the node failed: {code:?}: {message}")]
    Rpc { code: Code, message: String },
    /// The node answered with something that does not verify. The node is wrong or lying; the
    /// answer is discarded.
    #[error("the node's answer does not verify: {0}")]
    Unverified(#[from] VerifyError),
    /// The node answered with something that is not what was asked for.
    #[error("the node's answer is not what was asked for: {0}")]
    BadAnswer(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("this client has no filer key; connect with one to submit transactions")]
    NoFilerKey,
    #[error(
        "the key {0} is not a filer of this consortium: not in its genesis file, and not \
         registered on the ledger"
    )]
    NotAFiler(PublicKey),
    #[error(
        "the key {0} is no member's governance key (in the genesis file or the configuration in \
         force)"
    )]
    NotAGovernanceKey(PublicKey),
    /// Two checkpoints whose logs are not one a prefix of the other, or a node that cannot
    /// prove that they are: the log was rewritten, or the node misbehaves.
    #[error(
        "INCONSISTENT LOG between the checkpoints at heights {old_height} and {new_height}: \
         {reason}"
    )]
    Inconsistent {
        old_height: u64,
        new_height: u64,
        reason: String,
    },
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A batch went in as several transactions and a later one failed: the documents of the
    /// transactions committed before it are on the ledger, with their verified receipts here
    /// (in the order given; `None` for the documents not notarized).
    #[error("{} of {} documents were notarized, then: {error}", .receipts.iter().flatten().count(), .receipts.len())]
    PartlyNotarized {
        receipts: Vec<Option<evidence_core::receipt::Receipt>>,
        error: Box<ClientError>,
    },
}

impl ClientError {
    /// The machine-readable reason, where the ledger gave one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Refused(refusal) => Some(&refusal.reason),
            Self::Busy { .. } => Some("busy"),
            Self::NotCommitted { .. } => Some("deadline-exceeded"),
            Self::PartlyNotarized { error, .. } => error.reason(),
            _ => None,
        }
    }

    /// True when the node said that what was asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            Self::Refused(refusal) => refusal.code == Code::NotFound,
            Self::Rpc { code, .. } => *code == Code::NotFound,
            _ => false,
        }
    }

    /// True when trying the same request again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Busy { .. } | Self::NotCommitted { .. } | Self::Connect { .. }
        ) || matches!(self, Self::Rpc { code, .. } if is_transient_code(*code))
    }
}

pub(crate) fn is_transient_code(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::ResourceExhausted | Code::Aborted | Code::Unknown
    )
}

/// The `reason` of the status's `ErrorInfo` detail, when it carries one.
pub(crate) fn status_reason(status: &tonic::Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}

/// Classifies a failed call: a rule refusal (the ledger's verdict, with its reason) or a
/// failure of the call.
pub(crate) fn from_status(status: &tonic::Status) -> ClientError {
    match (status.code(), status_reason(status)) {
        (
            Code::InvalidArgument
            | Code::PermissionDenied
            | Code::FailedPrecondition
            | Code::NotFound
            | Code::OutOfRange,
            Some(reason),
        ) => ClientError::Refused(RuleRefusal {
            code: status.code(),
            reason,
            message: status.message().to_owned(),
        }),
        (code, _) => ClientError::Rpc {
            code,
            message: status.message().to_owned(),
        },
    }
}
