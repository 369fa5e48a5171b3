//! The gRPC API: the `evidence.v1.Ledger` service of `proto/evidence/v1/ledger.proto`, served
//! over the node's [`App`].
//!
//! Everything a caller verifies or signs crosses the API as the canonical bytes SPEC.md
//! defines; receipts and checkpoints also carry their JSON files. Reads go to RocksDB on the
//! blocking thread pool, so a large lookup does not stall the runtime that drives consensus;
//! only a small transaction's admission and receipts run in place
//! ([`INLINE_TRANSACTION_BYTES`]).
//!
//! Which checkpoint a receipt is proven against: `Notarize` answers with the checkpoint of the
//! block that committed the transaction; `GetReceipt` with the one at `at_height`, or the
//! latest for 0; `Lookup` with the latest, read once for the whole page. A lookup that finds
//! nothing is an empty page, not `NOT_FOUND`.
//!
//! # Errors
//!
//! Every failure is a [`tonic::Status`] built by one function, [`to_status`], from an
//! [`ApiError`]: the code the proto's header comment names, a readable message, and a
//! `google.rpc.ErrorInfo` detail in domain [`ERROR_DOMAIN`] whose `reason` is the contract
//! rule's code (SPEC.md §11.4) or one of the API's own reasons in [`reason`]. Rule codes map
//! to status codes by what the caller must change ([`rule_status_code`]):
//!
//! - `PERMISSION_DENIED`, who may do what: `unknown-filer`, `filer-not-yet-active`,
//!   `filer-revoked`, `source-system-mismatch`, `unknown-governance-key`, `member-mismatch`,
//!   `kind-not-allowed-for-member`, `kind-not-allowed-for-filer`, `not-a-registrar`.
//! - `INVALID_ARGUMENT`, the transaction itself is wrong: `malformed`, `too-large`,
//!   `bad-batch-length`, `mixed-filers`, `bad-signature`, `wrong-chain`, `empty-field`,
//!   `unknown-kind`, `claim-not-allowed`, `missing-payment`, `zero-amount`,
//!   `invalid-contract`, `invalid-filer-registration`, and the lineage codes `not-a-first-version`, `kind-changed`,
//!   `version-conflict`, `supersedes-mismatch` (the filer must name another version).
//! - `FAILED_PRECONDITION`, a rule over the ledger's state: `replayed`, the payment,
//!   revocation and registration rules, and any code added later.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use evidence_contracts::error::TxError;
use evidence_contracts::query;
use evidence_contracts::state::{
    ProposalRecord, ProposalStatus, StoreError as StateError, VersionRecord, filer_key,
    filer_prefix, proposal_key, proposal_prefix,
};
use evidence_core::checkpoint::{Checkpoint, Handoff};
use evidence_core::digest::{DIGEST_LEN, Digest};
use evidence_core::encoding::{Decode, Encode};
use evidence_core::entry::{Entry, ID_LEN_MAX, Record};
use evidence_core::merkle::LogError;
use evidence_core::receipt::{EntryProof, Receipt};
use evidence_core::records::StateKey;
use evidence_proto::v1 as pb;
use evidence_proto::v1::ledger_server::{Ledger as LedgerRpc, LedgerServer};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::transport::Server;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::access::{AccessLayer, AuditLog, CallLimits, Policy};
use crate::app::App;
use crate::config::ApiSection;
use crate::ledger::LedgerError;
use crate::mempool::AdmitError;
use crate::metrics::Metrics;
use crate::relay::{RELAY_BATCH_BYTES, RELAY_BATCH_TRANSACTIONS};
use crate::storage::{StorageError, TransactionRecord};
use crate::tls::{ConnectionLimits, Transport};

/// The `domain` of every `google.rpc.ErrorInfo` the API sends.
pub const ERROR_DOMAIN: &str = "evidence.v1";

/// The `ErrorInfo` reasons that are not contract rule codes.
pub mod reason {
    /// A request field is missing, has the wrong length or does not decode.
    pub const MALFORMED: &str = "malformed";
    /// A size, index or height outside what the ledger holds.
    pub const OUT_OF_RANGE: &str = "out-of-range";
    /// No such entry, transaction, checkpoint or document.
    pub const NOT_FOUND: &str = "not-found";
    /// The transaction is admitted and waits for a block.
    pub const NOT_COMMITTED: &str = "not-committed";
    /// The mempool is full.
    pub const BUSY: &str = "busy";
    /// The transaction was admitted but not committed before the deadline.
    pub const DEADLINE_EXCEEDED: &str = "deadline-exceeded";
    /// The node is catching up with its peers.
    pub const CATCHING_UP: &str = "catching-up";
    /// The node is shutting down.
    pub const SHUTTING_DOWN: &str = "shutting-down";
    /// The node failed (its database, a task).
    pub const INTERNAL: &str = "internal";
    /// A request carries more than its documented bound (a `Relay` batch).
    pub const TOO_LARGE: &str = "too-large";
    /// The caller presented no TLS client certificate (`UNAUTHENTICATED`).
    pub const NO_CLIENT_CERTIFICATE: &str = "no-client-certificate";
    /// The caller's certificate chains to a member CA but names no role or name
    /// (`UNAUTHENTICATED`).
    pub const BAD_CLIENT_CERTIFICATE: &str = "bad-client-certificate";
    /// The caller's role is not granted the method in this node's `node.toml`
    /// (`PERMISSION_DENIED`).
    pub const METHOD_NOT_GRANTED: &str = "method-not-granted";
}

/// Index rows read from RocksDB at a time while paging through a lookup.
const INDEX_CHUNK: usize = 1024;
/// The largest `Lookup` answer, in encoded bytes: under the 4 MiB that stock gRPC clients
/// (Java, Python, Go) accept by default, with room for the framing.
pub const LOOKUP_ANSWER_BYTES_MAX: usize = 3_584 * 1024;
/// The version byte of a lookup page token.
const PAGE_TOKEN_VERSION: u8 = 1;
/// A page token: version, the next entry index, and 8 bytes binding it to its query.
const PAGE_TOKEN_LEN: usize = 1 + 8 + 8;
/// Checkpoints buffered per `StreamCheckpoints` call before the node waits for the caller.
const STREAM_BUFFER: usize = 16;
/// The longest a `Notarize` answer keeps before the caller's own deadline, so that the caller
/// receives `DEADLINE_EXCEEDED` from the node rather than a cancelled call.
const DEADLINE_MARGIN_MAX: Duration = Duration::from_millis(250);
/// How long [`serve`] waits for open connections to finish after its shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Transactions up to this size (a single document's is about 270 bytes; about twenty
/// documents fit) are admitted, and their receipts read, on the API's own worker thread.
/// Larger ones go to the blocking pool, so a batch of thousands cannot hold a worker for
/// milliseconds. A single document's admission (one signature check, a few reads from memory)
/// costs less than the two thread hand-offs of the pool: single-signed documents/s rose about
/// 13 % (BENCHMARKS.md, "Small transactions admitted on the API's worker").
pub const INLINE_TRANSACTION_BYTES: usize = 4 * 1024;

/// Why an API call failed. [`to_status`] turns it into the status the caller receives.
#[derive(Debug, Error)]
pub enum ApiError {
    /// A request field is missing, has the wrong length or does not decode.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// A size, index or height outside what the ledger holds.
    #[error("{0}")]
    OutOfRange(String),
    /// A request larger than its documented bound.
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    NotFound(String),
    /// The transaction is in the mempool, not yet in a block.
    #[error("transaction {0} is admitted and waits for a block; ask again after it commits")]
    NotCommitted(Digest),
    /// Admission refused the transaction (a rule, a full mempool, or storage).
    #[error(transparent)]
    Admit(#[from] AdmitError),
    /// An admitted transaction that a proposer later found unfit for any block.
    #[error("transaction {tx_id} was dropped: {error}")]
    Dropped { tx_id: Digest, error: TxError },
    /// The transaction was committed, and a contract rule refused it there.
    #[error("transaction {tx_id} was committed at height {height} and refused: {message}")]
    Refused {
        tx_id: Digest,
        height: u64,
        code: String,
        message: String,
    },
    #[error(
        "transaction {tx_id} was admitted but not committed within {waited_ms} ms; it may still \
         commit: ask GetReceipt by transaction id later"
    )]
    DeadlineExceeded { tx_id: Digest, waited_ms: u64 },
    #[error("the node is catching up with its peers and does not take transactions; retry later")]
    CatchingUp,
    #[error("the node is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("contract state: {0}")]
    State(#[from] StateError),
    #[error("{0}")]
    Internal(String),
}

/// The status code for a contract rule's code (see the module documentation). Codes this
/// build does not know are `FAILED_PRECONDITION`.
pub fn rule_status_code(code: &str) -> Code {
    match code {
        "unknown-filer"
        | "filer-not-yet-active"
        | "filer-revoked"
        | "source-system-mismatch"
        | "unknown-governance-key"
        | "member-mismatch"
        | "kind-not-allowed-for-member"
        | "kind-not-allowed-for-filer"
        | "not-a-registrar" => Code::PermissionDenied,
        "malformed"
        | "too-large"
        | "bad-batch-length"
        | "mixed-filers"
        | "bad-signature"
        | "wrong-chain"
        | "empty-field"
        | "unknown-kind"
        | "claim-not-allowed"
        | "missing-payment"
        | "zero-amount"
        | "invalid-contract"
        | "invalid-filer-registration"
        | "not-a-first-version"
        | "kind-changed"
        | "version-conflict"
        | "supersedes-mismatch" => Code::InvalidArgument,
        _ => Code::FailedPrecondition,
    }
}

fn status(code: Code, reason: &str, message: String, metadata: Vec<(&str, String)>) -> Status {
    let metadata: HashMap<String, String> = metadata
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata),
    )
}

fn tx_metadata(tx_id: &Digest) -> (&'static str, String) {
    ("transaction_id", tx_id.to_hex())
}

/// The status a caller receives for `error`: the code of the proto's header comment, the
/// error's message, and an `ErrorInfo` with the reason (and, where one is known, the
/// transaction id in hex under `transaction_id`).
pub fn to_status(error: &ApiError) -> Status {
    let message = error.to_string();
    match error {
        ApiError::Malformed(_) => status(Code::InvalidArgument, reason::MALFORMED, message, vec![]),
        ApiError::OutOfRange(_) => {
            status(Code::InvalidArgument, reason::OUT_OF_RANGE, message, vec![])
        }
        ApiError::TooLarge(_) => status(Code::InvalidArgument, reason::TOO_LARGE, message, vec![]),
        ApiError::NotFound(_) => status(Code::NotFound, reason::NOT_FOUND, message, vec![]),
        ApiError::NotCommitted(tx_id) => status(
            Code::NotFound,
            reason::NOT_COMMITTED,
            message,
            vec![tx_metadata(tx_id)],
        ),
        ApiError::Admit(AdmitError::Busy { .. }) => {
            status(Code::ResourceExhausted, reason::BUSY, message, vec![])
        }
        ApiError::Admit(AdmitError::Rejected(rule)) => {
            let metadata = match rule {
                TxError::Replayed { tx_id, height } => {
                    vec![tx_metadata(tx_id), ("height", height.to_string())]
                }
                _ => vec![],
            };
            status(
                rule_status_code(rule.code()),
                rule.code(),
                message,
                metadata,
            )
        }
        ApiError::Dropped { tx_id, error } => status(
            rule_status_code(error.code()),
            error.code(),
            message,
            vec![tx_metadata(tx_id)],
        ),
        ApiError::Refused {
            tx_id,
            height,
            code,
            ..
        } => status(
            rule_status_code(code),
            code,
            message,
            vec![tx_metadata(tx_id), ("height", height.to_string())],
        ),
        ApiError::DeadlineExceeded { tx_id, .. } => status(
            Code::DeadlineExceeded,
            reason::DEADLINE_EXCEEDED,
            message,
            vec![tx_metadata(tx_id)],
        ),
        ApiError::CatchingUp => status(Code::Unavailable, reason::CATCHING_UP, message, vec![]),
        ApiError::ShuttingDown => status(Code::Unavailable, reason::SHUTTING_DOWN, message, vec![]),
        ApiError::Ledger(LedgerError::Log(
            LogError::IndexOutOfRange { .. }
            | LogError::SizeOutOfRange { .. }
            | LogError::OldSizeGreater { .. }
            | LogError::OldSizeZero,
        )) => status(Code::InvalidArgument, reason::OUT_OF_RANGE, message, vec![]),
        ApiError::Admit(AdmitError::Storage(_))
        | ApiError::Ledger(_)
        | ApiError::Storage(_)
        | ApiError::State(_)
        | ApiError::Internal(_) => {
            // The detail (which may name files) goes to the operator's log, not the caller.
            tracing::error!(%error, "API call failed inside the node");
            status(
                Code::Internal,
                reason::INTERNAL,
                "the node failed to answer; its log has the details".to_owned(),
                vec![],
            )
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        to_status(&error)
    }
}

/// Reads the `grpc-timeout` header (gRPC over HTTP/2: up to 8 digits and a unit).
fn caller_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let text = metadata.get("grpc-timeout")?.to_str().ok()?;
    let digits = text.get(..text.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match text.get(digits.len()..)? {
        "H" => Duration::from_secs(value * 3600),
        "M" => Duration::from_secs(value * 60),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

/// A committed transaction's record if a rule accepted it; its refusal otherwise.
fn accepted(tx_id: Digest, record: TransactionRecord) -> Result<TransactionRecord, ApiError> {
    match record.rejection {
        Some(rejection) => Err(ApiError::Refused {
            tx_id,
            height: record.height,
            code: rejection.code,
            message: rejection.message,
        }),
        None => Ok(record),
    }
}

/// How long `Notarize` waits for the commit: the caller's deadline (answered a little before
/// it, so that the caller gets this node's answer) capped by the configured maximum, or the
/// configured default when the caller set none.
fn notarize_wait(config: &ApiSection, metadata: &MetadataMap) -> Duration {
    let max = Duration::from_millis(config.notarize_timeout_max_ms);
    match caller_timeout(metadata) {
        None => Duration::from_millis(config.notarize_timeout_ms).min(max),
        Some(asked) if asked > max => max,
        Some(asked) => asked - (asked / 10).min(DEADLINE_MARGIN_MAX),
    }
}

fn transaction_bytes(transaction: Option<pb::Transaction>) -> Result<Vec<u8>, ApiError> {
    transaction
        .map(|t| t.canonical)
        .ok_or_else(|| ApiError::Malformed("`transaction` is required".into()))
}

fn canonical_digest(bytes: &[u8], field: &str) -> Result<Digest, ApiError> {
    Digest::from_canonical_bytes(bytes).map_err(|e| {
        ApiError::Malformed(format!(
            "`{field}` must be a canonical digest (1 algorithm byte and {DIGEST_LEN} bytes): {e}"
        ))
    })
}

/// The protobuf form of a checkpoint, with the hand-offs from genesis to the set that
/// certified it.
pub fn checkpoint_message(checkpoint: &Checkpoint, handoffs: &[Handoff]) -> pb::Checkpoint {
    pb::Checkpoint {
        header: checkpoint.header.to_canonical_bytes(),
        certificate: checkpoint.certificate.to_canonical_bytes(),
        json: checkpoint.to_json(),
        height: checkpoint.header.height,
        log_size: checkpoint.header.log_size,
        handoffs: handoffs.iter().map(handoff_message).collect(),
    }
}

/// The protobuf form of a hand-off.
pub fn handoff_message(handoff: &Handoff) -> pb::Handoff {
    pb::Handoff {
        header: handoff.checkpoint.header.to_canonical_bytes(),
        certificate: handoff.checkpoint.certificate.to_canonical_bytes(),
        validators: handoff.validators.to_canonical_bytes(),
    }
}

/// [`checkpoint_message`] with the hand-offs the ledger holds for it.
fn certified_checkpoint_message(
    ledger: &crate::ledger::Ledger,
    checkpoint: &Checkpoint,
) -> Result<pb::Checkpoint, ApiError> {
    let handoffs = ledger.handoffs(checkpoint.header.height)?;
    Ok(checkpoint_message(checkpoint, &handoffs))
}

/// The protobuf form of a receipt.
pub fn receipt_message(receipt: &Receipt) -> pb::Receipt {
    receipt_message_with(
        receipt,
        receipt.checkpoint.header.to_canonical_bytes(),
        receipt.checkpoint.certificate.to_canonical_bytes(),
        true,
    )
}

/// The protobuf forms of a transaction's receipts, the JSON files left out when `json` is
/// false. Receipts of one batch share their checkpoint: its header and certificate are
/// encoded once.
pub fn receipt_messages(receipts: &[Receipt], json: bool) -> Vec<pb::Receipt> {
    let mut encoded: Option<(&Checkpoint, Vec<u8>, Vec<u8>)> = None;
    receipts
        .iter()
        .map(|receipt| {
            let (header, certificate) = match &encoded {
                Some((checkpoint, header, certificate)) if **checkpoint == receipt.checkpoint => {
                    (header.clone(), certificate.clone())
                }
                _ => {
                    let header = receipt.checkpoint.header.to_canonical_bytes();
                    let certificate = receipt.checkpoint.certificate.to_canonical_bytes();
                    encoded = Some((&receipt.checkpoint, header.clone(), certificate.clone()));
                    (header, certificate)
                }
            };
            receipt_message_with(receipt, header, certificate, json)
        })
        .collect()
}

fn receipt_message_with(
    receipt: &Receipt,
    header: Vec<u8>,
    certificate: Vec<u8>,
    json: bool,
) -> pb::Receipt {
    pb::Receipt {
        entry: receipt.entry.to_canonical_bytes(),
        inclusion_proof: receipt.inclusion_proof.to_canonical_bytes(),
        header,
        certificate,
        json: if json {
            receipt.to_json()
        } else {
            String::new()
        },
        entry_index: receipt.entry.index,
        height: receipt.checkpoint.header.height,
        handoffs: receipt.handoffs.iter().map(handoff_message).collect(),
        registration: receipt.registration.as_ref().map(entry_proof_message),
        revocation: receipt.revocation.as_ref().map(entry_proof_message),
    }
}

/// The protobuf form of an entry with its inclusion proof.
pub fn entry_proof_message(proof: &EntryProof) -> pb::EntryProof {
    pb::EntryProof {
        entry: proof.entry.to_canonical_bytes(),
        inclusion_proof: proof.inclusion_proof.to_canonical_bytes(),
    }
}

fn status_message(record: &VersionRecord) -> pb::VersionStatus {
    use pb::version_status::{Revoked, Superseded};
    pb::VersionStatus {
        superseded: record.superseded_by.as_ref().map(|next| Superseded {
            by_version: next.version,
            by_digest: next.digest.to_canonical_bytes(),
            height: next.height,
        }),
        revoked: record.revocation.as_ref().map(|revocation| Revoked {
            reason: revocation.reason.clone(),
            revocation_entry_index: revocation.entry_index,
            height: revocation.height,
        }),
    }
}

/// Reads the index rows of one prefix in chunks, in log order.
struct Cursor<'a> {
    fetch: Box<dyn FnMut(u64, usize) -> Result<Vec<u64>, StorageError> + 'a>,
    buffer: VecDeque<u64>,
    next_from: u64,
    exhausted: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor over the rows `fetch` reads, from entry index `start` on.
    fn new(
        start: u64,
        fetch: impl FnMut(u64, usize) -> Result<Vec<u64>, StorageError> + 'a,
    ) -> Self {
        Self {
            fetch: Box::new(fetch),
            buffer: VecDeque::new(),
            next_from: start,
            exhausted: false,
        }
    }

    fn peek(&mut self) -> Result<Option<u64>, StorageError> {
        if self.buffer.is_empty() && !self.exhausted {
            let chunk = (self.fetch)(self.next_from, INDEX_CHUNK)?;
            self.exhausted = chunk.len() < INDEX_CHUNK;
            if let Some(last) = chunk.last() {
                self.next_from = last.saturating_add(1);
            }
            self.buffer.extend(chunk);
        }
        Ok(self.buffer.front().copied())
    }

    fn pop(&mut self) {
        self.buffer.pop_front();
    }

    /// The last index, reading every row.
    fn last(&mut self) -> Result<Option<u64>, StorageError> {
        let mut last = None;
        while self.peek()?.is_some() {
            last = self.buffer.back().copied();
            self.buffer.clear();
        }
        Ok(last)
    }
}

/// Merges `cursors` in log order and returns at most `limit` indexes, with the next index
/// when more follow.
fn page(cursors: &mut [Cursor<'_>], limit: usize) -> Result<(Vec<u64>, Option<u64>), StorageError> {
    let mut found = Vec::new();
    loop {
        let mut smallest: Option<(usize, u64)> = None;
        for (position, cursor) in cursors.iter_mut().enumerate() {
            if let Some(index) = cursor.peek()?
                && smallest.is_none_or(|(_, best)| index < best)
            {
                smallest = Some((position, index));
            }
        }
        let Some((position, index)) = smallest else {
            return Ok((found, None));
        };
        if found.len() >= limit {
            return Ok((found, Some(index)));
        }
        if let Some(cursor) = cursors.get_mut(position) {
            cursor.pop();
        }
        found.push(index);
    }
}

/// 8 bytes that bind a page token to its query.
fn query_binding(by: &pb::lookup_request::By) -> [u8; 8] {
    use pb::lookup_request::By;
    let mut writer = evidence_core::encoding::Writer::new();
    match by {
        By::DocumentDigest(bytes) => writer.u8(1).bytes(bytes),
        By::Document(document) => writer
            .u8(2)
            .str(&document.project_id)
            .str(&document.document_id),
        By::ProjectId(project_id) => writer.u8(3).str(project_id),
    };
    let digest = evidence_core::digest::HashAlgorithm::Blake3.hash(writer.as_slice());
    let mut binding = [0u8; 8];
    binding.copy_from_slice(&digest.bytes[..8]);
    binding
}

/// The token that continues `by` at entry index `next`.
fn page_token(by: &pb::lookup_request::By, next: u64) -> Vec<u8> {
    let mut token = Vec::with_capacity(PAGE_TOKEN_LEN);
    token.push(PAGE_TOKEN_VERSION);
    token.extend_from_slice(&next.to_be_bytes());
    token.extend_from_slice(&query_binding(by));
    token
}

/// The entry index a page token continues at (0 for no token).
fn read_page_token(by: &pb::lookup_request::By, token: &[u8]) -> Result<u64, ApiError> {
    if token.is_empty() {
        return Ok(0);
    }
    let malformed = |why: &str| {
        ApiError::Malformed(format!(
            "`page_token` {why}: send the `next_page_token` of the previous answer to the same \
             query, or none for the first page"
        ))
    };
    if token.len() != PAGE_TOKEN_LEN || token[0] != PAGE_TOKEN_VERSION {
        return Err(malformed("is not a page token of this node"));
    }
    if token[9..] != query_binding(by) {
        return Err(malformed("belongs to another query"));
    }
    let mut next = [0u8; 8];
    next.copy_from_slice(&token[1..9]);
    Ok(u64::from_be_bytes(next))
}

/// The height that decided a proposal, 0 while it is open.
fn decided_height(status: ProposalStatus) -> u64 {
    match status {
        ProposalStatus::Open => 0,
        ProposalStatus::Accepted { height } | ProposalStatus::Rejected { height } => height,
    }
}

/// Synchronous reads of committed data, run on the blocking pool (a small transaction's
/// receipts in place).
struct Reader<'a> {
    app: &'a App,
}

impl Reader<'_> {
    fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, ApiError> {
        Ok(self.app.ledger().checkpoint(None)?)
    }

    fn entry(&self, index: u64) -> Result<Entry, ApiError> {
        self.app
            .ledger()
            .entry(index)?
            .ok_or_else(|| ApiError::NotFound(format!("no entry {index} is committed")))
    }

    /// A filer key's record: genesis, or the ledger's filer record, with the receipts of the
    /// entries that registered and revoked it (each against the block that sequenced it).
    fn get_filer(&self, request: pb::GetFilerRequest) -> Result<pb::GetFilerResponse, ApiError> {
        let key = evidence_core::keys::PublicKey::from_canonical_bytes(&request.public_key)
            .map_err(|error| {
                ApiError::Malformed(format!(
                    "`public_key` is not a canonical public key: {error}"
                ))
            })?;
        let ledger = self.app.ledger();
        let record = query::filer(ledger.store(), ledger.genesis(), &key)?
            .ok_or_else(|| ApiError::NotFound(format!("{key} is no filer of this consortium")))?;
        let receipt_of = |index: u64| -> Result<pb::Receipt, ApiError> {
            let entry = self.entry(index)?;
            Ok(receipt_message(&self.receipt(entry, None)?))
        };
        let registration = record
            .registration_entry_index
            .map(receipt_of)
            .transpose()?;
        let revocation = record
            .revocation
            .as_ref()
            .map(|revocation| -> Result<pb::FilerRevocation, ApiError> {
                Ok(pb::FilerRevocation {
                    effective_height: revocation.effective_height,
                    reason: revocation.reason.clone(),
                    receipt: Some(receipt_of(revocation.entry_index)?),
                })
            })
            .transpose()?;
        Ok(pb::GetFilerResponse {
            name: record.name,
            member: record.member,
            kinds: record.kinds,
            source_system: record.source_system.unwrap_or_default(),
            registered_height: record.registered_height,
            registration,
            revocation,
        })
    }

    /// A page of filer keys (genesis's and the ledger's) in the byte order of their keys.
    fn list_filers(
        &self,
        request: pb::ListFilersRequest,
    ) -> Result<pb::ListFilersResponse, ApiError> {
        const DEFAULT: usize = 100;
        const MAX: usize = 1000;
        let limit = match request.limit as usize {
            0 => DEFAULT,
            n => n.min(MAX),
        };
        let after = if request.after.is_empty() {
            None
        } else {
            Some(
                evidence_core::keys::PublicKey::from_canonical_bytes(&request.after).map_err(
                    |error| {
                        ApiError::Malformed(format!(
                            "`after` is not a canonical public key: {error}"
                        ))
                    },
                )?,
            )
        };
        let ledger = self.app.ledger();
        let genesis = ledger.genesis();
        let wanted = |member: &str| request.member.is_empty() || request.member == member;
        let summary = |key: &evidence_core::keys::PublicKey,
                       record: evidence_contracts::state::FilerRecord| {
            pb::FilerSummary {
                public_key: key.to_canonical_bytes(),
                name: record.name,
                member: record.member,
                kinds: record.kinds,
                source_system: record.source_system.unwrap_or_default(),
                registered_height: record.registered_height,
                revoked_from_height: record
                    .revocation
                    .map_or(0, |revocation| revocation.effective_height),
            }
        };
        // Keys in canonical order: the ledger's filer records (a seek past `after`), merged
        // with the genesis filers that have none.
        let mut found: std::collections::BTreeMap<Vec<u8>, pb::FilerSummary> =
            std::collections::BTreeMap::new();
        let prefix = filer_prefix();
        let mut seek = after.map(|key| filer_key(&key)).unwrap_or_default();
        // Rows of other members are skipped, so read on until a page is full or none are left;
        // `read_to` is the last key read when rows may remain beyond it.
        let read_to = loop {
            let rows = ledger.store().state_rows(&prefix, &seek, limit + 1)?;
            let exhausted = rows.len() <= limit;
            for (key, value) in &rows {
                let public = evidence_core::keys::PublicKey::from_canonical_bytes(&key[1..])
                    .map_err(|e| ApiError::Internal(format!("stored filer key: {e}")))?;
                let record = evidence_contracts::state::FilerRecord::from_canonical_bytes(value)
                    .map_err(|e| ApiError::Internal(format!("stored filer record: {e}")))?;
                if wanted(&record.member) {
                    found.insert(key[1..].to_vec(), summary(&public, record));
                }
            }
            match rows.last() {
                Some((last, _)) if !exhausted => {
                    seek = last.clone();
                    if found.len() > limit {
                        break Some(last[1..].to_vec());
                    }
                }
                _ => break None,
            }
        };
        // Genesis filers without a record, within the range of keys read.
        for filer in &genesis.filers {
            let bytes = filer.public_key.to_canonical_bytes();
            let past = after.is_none_or(|after| bytes > after.to_canonical_bytes());
            let within = read_to.as_ref().is_none_or(|last| bytes <= *last);
            if past
                && within
                && wanted(&filer.member)
                && !found.contains_key(&bytes)
                && let Some(record) = query::filer(ledger.store(), genesis, &filer.public_key)?
            {
                found.insert(bytes, summary(&filer.public_key, record));
            }
        }
        let more = found.len() > limit || read_to.is_some();
        let filers: Vec<pb::FilerSummary> = found.into_values().take(limit).collect();
        let next_after = if more {
            filers
                .last()
                .map(|f| f.public_key.clone())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(pb::ListFilersResponse { filers, next_after })
    }

    /// The configuration in force from the height after the node's last block.
    fn get_configuration(&self) -> Result<pb::GetConfigurationResponse, ApiError> {
        let tip = self.app.ledger().tip();
        Ok(pb::GetConfigurationResponse {
            configuration: tip.configuration.to_canonical_bytes(),
            height: tip.height + 1,
        })
    }

    /// A proposal with the receipts of its entry and of every vote's.
    fn get_proposal(
        &self,
        request: pb::GetProposalRequest,
    ) -> Result<pb::GetProposalResponse, ApiError> {
        let ledger = self.app.ledger();
        let tip = ledger.tip();
        let id = request.proposal_id;
        let record = query::proposal(ledger.store(), &id)?
            .ok_or_else(|| ApiError::NotFound(format!("no proposal {id:?}")))?;
        let receipt_of = |index: u64| -> Result<pb::Receipt, ApiError> {
            let entry = self.entry(index)?;
            Ok(receipt_message(&self.receipt(entry, None)?))
        };
        let votes = record
            .votes
            .iter()
            .map(|vote| -> Result<pb::ProposalVote, ApiError> {
                Ok(pb::ProposalVote {
                    member: vote.member.clone(),
                    approve: vote.approve,
                    height: vote.height,
                    receipt: Some(receipt_of(vote.entry_index)?),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(pb::GetProposalResponse {
            status: record.status_at(tip.time_ms).to_owned(),
            decided_height: decided_height(record.status),
            proposal: Some(receipt_of(record.entry_index)?),
            proposal_id: id,
            proposer: record.proposer,
            expires_at_ms: record.expires_at_ms,
            votes,
        })
    }

    /// A page of proposal summaries in the order of their state keys (shorter ids first, then
    /// byte order).
    fn list_proposals(
        &self,
        request: pb::ListProposalsRequest,
    ) -> Result<pb::ListProposalsResponse, ApiError> {
        const DEFAULT: usize = 100;
        const MAX: usize = 1000;
        let limit = match request.limit as usize {
            0 => DEFAULT,
            n => n.min(MAX),
        };
        let ledger = self.app.ledger();
        let tip = ledger.tip();
        let prefix = proposal_prefix();
        let after = if request.after.is_empty() {
            Vec::new()
        } else {
            proposal_key(&request.after)
        };
        let rows = ledger.store().state_rows(&prefix, &after, limit + 1)?;
        let more = rows.len() > limit;
        let mut proposals = Vec::with_capacity(rows.len().min(limit));
        for (key, value) in rows.into_iter().take(limit) {
            let corrupt = |what: String| ApiError::Internal(format!("stored proposal: {what}"));
            let mut reader = evidence_core::encoding::Reader::new(&key[1..]);
            let id = reader
                .string("proposal id")
                .map_err(|e| corrupt(e.to_string()))?;
            let record =
                ProposalRecord::from_canonical_bytes(&value).map_err(|e| corrupt(e.to_string()))?;
            let approvals = record.votes.iter().filter(|v| v.approve).count() as u32;
            proposals.push(pb::ProposalSummary {
                proposal_id: id,
                status: record.status_at(tip.time_ms).to_owned(),
                decided_height: decided_height(record.status),
                approvals,
                rejections: record.votes.len() as u32 - approvals,
                proposer: record.proposer,
                summary: record.summary,
                expires_at_ms: record.expires_at_ms,
                proposed_height: record.height,
            });
        }
        let next_after = if more {
            proposals
                .last()
                .map(|p| p.proposal_id.clone())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListProposalsResponse {
            proposals,
            next_after,
        })
    }

    /// The receipt for `entry` against `at` when `at` covers it, otherwise against the
    /// checkpoint of the block that sequenced it (the case of an entry committed after `at`
    /// was read).
    fn receipt(&self, entry: Entry, at: Option<&Checkpoint>) -> Result<Receipt, ApiError> {
        let ledger = self.app.ledger();
        let checkpoint = match at {
            Some(checkpoint) if entry.index < checkpoint.header.log_size => checkpoint.clone(),
            _ => ledger.checkpoint(Some(entry.height))?.ok_or_else(|| {
                ApiError::Internal(format!(
                    "entry {} names height {}, which has no checkpoint",
                    entry.index, entry.height
                ))
            })?,
        };
        Ok(ledger.receipt_under(entry, checkpoint)?)
    }

    /// What became of a committed transaction that a rule accepted; why not otherwise.
    fn accepted_transaction(&self, tx_id: Digest) -> Result<TransactionRecord, ApiError> {
        let Some(record) = self.app.ledger().transaction(&tx_id)? else {
            return Err(if self.app.mempool().contains(&tx_id) {
                ApiError::NotCommitted(tx_id)
            } else {
                ApiError::NotFound(format!("no transaction {tx_id} is known"))
            });
        };
        accepted(tx_id, record)
    }

    /// The receipts of every entry a committed transaction appended, against the checkpoint
    /// of its block; its refusal if a rule refused it. `record` is the transaction's, as its
    /// commit told the caller that waited for it.
    fn transaction_receipts(
        &self,
        tx_id: Digest,
        record: TransactionRecord,
    ) -> Result<Vec<Receipt>, ApiError> {
        let record = accepted(tx_id, record)?;
        let checkpoint = self.app.ledger().checkpoint(Some(record.height))?;
        let first = record.first_entry;
        let end = first.saturating_add(u64::from(record.entry_count));
        let entries = self.app.ledger().transaction_entries(&record)?;
        match checkpoint {
            // The block's own checkpoint holds every entry of its transactions: one pass.
            Some(checkpoint) if end <= checkpoint.header.log_size => {
                Ok(self.app.ledger().receipts_under(entries, &checkpoint)?)
            }
            checkpoint => entries
                .into_iter()
                .map(|entry| self.receipt(entry, checkpoint.as_ref()))
                .collect(),
        }
    }

    fn get_receipt(&self, request: pb::GetReceiptRequest) -> Result<pb::Receipt, ApiError> {
        use pb::get_receipt_request::By;
        let ledger = self.app.ledger();
        let at = if request.at_height == 0 {
            self.latest_checkpoint()?
        } else {
            Some(ledger.checkpoint(Some(request.at_height))?.ok_or_else(|| {
                ApiError::NotFound(format!("no checkpoint at height {}", request.at_height))
            })?)
        };
        let entry = match request.by {
            None => {
                return Err(ApiError::Malformed(
                    "one of `transaction_id`, `document_digest` or `entry_index` is required"
                        .into(),
                ));
            }
            Some(By::TransactionId(bytes)) => {
                let bytes: [u8; DIGEST_LEN] = bytes.as_slice().try_into().map_err(|_| {
                    ApiError::Malformed(format!(
                        "`transaction_id` must be {DIGEST_LEN} bytes, not {}",
                        bytes.len()
                    ))
                })?;
                let tx_id = Digest::new(ledger.algorithm(), bytes);
                let record = self.accepted_transaction(tx_id)?;
                if record.entry_count == 0 {
                    return Err(ApiError::NotFound(format!(
                        "transaction {tx_id} appended no entry"
                    )));
                }
                self.entry(record.first_entry)?
            }
            Some(By::DocumentDigest(bytes)) => {
                let digest = canonical_digest(&bytes, "document_digest")?;
                let store = ledger.store();
                let last = Cursor::new(0, |from, limit| {
                    store.entries_by_digest(&digest, from, limit)
                })
                .last()?
                .ok_or_else(|| {
                    ApiError::NotFound(format!("no entry anchors a document {digest}"))
                })?;
                self.entry(last)?
            }
            Some(By::EntryIndex(index)) => self.entry(index)?,
        };
        if let Some(at) = &at
            && request.at_height != 0
            && entry.height > at.header.height
        {
            return Err(ApiError::OutOfRange(format!(
                "entry {} was sequenced at height {}, after the checkpoint asked for ({})",
                entry.index, entry.height, at.header.height
            )));
        }
        Ok(receipt_message(&self.receipt(entry, at.as_ref())?))
    }

    fn get_checkpoint(&self, height: u64) -> Result<pb::Checkpoint, ApiError> {
        let checkpoint = self
            .app
            .ledger()
            .checkpoint((height != 0).then_some(height))?
            .ok_or_else(|| {
                ApiError::NotFound(if height == 0 {
                    "no block is committed yet".to_owned()
                } else {
                    format!("no checkpoint at height {height}")
                })
            })?;
        certified_checkpoint_message(self.app.ledger(), &checkpoint)
    }

    /// The checkpoint whose header's log size is `log_size`, found by binary search over the
    /// heights (log sizes never decrease with height). The lowest such height when several
    /// blocks appended nothing.
    fn checkpoint_with_log_size(&self, log_size: u64) -> Result<Option<Checkpoint>, ApiError> {
        let ledger = self.app.ledger();
        let store = ledger.store();
        let size_at = |height: u64| -> Result<u64, ApiError> {
            let header = store.header(height)?.ok_or_else(|| {
                ApiError::Internal(format!("header {height} is missing below the tip"))
            })?;
            Ok(header.log_size)
        };
        let (mut low, mut high) = (1, ledger.tip().height);
        if high == 0 {
            return Ok(None);
        }
        // The lowest height in [low, high] whose log size is at least `log_size`.
        while low < high {
            let middle = low + (high - low) / 2;
            if size_at(middle)? >= log_size {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
        if size_at(low)? != log_size {
            return Ok(None);
        }
        Ok(ledger.checkpoint(Some(low))?)
    }

    fn consistency_proof(
        &self,
        request: pb::GetConsistencyProofRequest,
    ) -> Result<pb::GetConsistencyProofResponse, ApiError> {
        let ledger = self.app.ledger();
        let latest = ledger.tip().log_size;
        let old_size = request.old_size;
        let new_size = if request.new_size == 0 {
            latest
        } else {
            request.new_size
        };
        if old_size == 0 || old_size > new_size || new_size > latest {
            return Err(ApiError::OutOfRange(format!(
                "sizes must satisfy 1 <= old_size <= new_size <= {latest} (the log size); got \
                 old_size {old_size} and new_size {new_size}"
            )));
        }
        let proof = ledger.consistency_proof(old_size, new_size)?;
        let new_checkpoint = self.checkpoint_with_log_size(new_size)?;
        Ok(pb::GetConsistencyProofResponse {
            proof: proof.to_canonical_bytes(),
            new_checkpoint: new_checkpoint
                .as_ref()
                .map(|checkpoint| certified_checkpoint_message(ledger, checkpoint))
                .transpose()?,
        })
    }

    /// The current status of the version an anchor entry anchored.
    fn version_status(&self, entry: &Entry) -> Result<Option<pb::VersionStatus>, ApiError> {
        let Record::Anchor(document) = &entry.record else {
            return Ok(None);
        };
        let body = &document.body;
        let version = query::version(
            self.app.ledger().store(),
            &body.member,
            &body.project_id,
            &body.document_id,
            body.document_version,
        )?;
        Ok(version
            .filter(|v| v.entry_index == entry.index)
            .map(|v| status_message(&v)))
    }

    fn status_proof(
        &self,
        request: pb::GetStatusProofRequest,
    ) -> Result<pb::GetStatusProofResponse, ApiError> {
        use pb::get_status_proof_request::Subject;
        let id = |value: &str, what: &str| -> Result<String, ApiError> {
            if value.is_empty() || value.len() > ID_LEN_MAX as usize {
                return Err(ApiError::Malformed(format!(
                    "`{what}` must be 1 to {ID_LEN_MAX} bytes, got {}",
                    value.len()
                )));
            }
            Ok(value.to_owned())
        };
        let keys = match &request.subject {
            None => {
                return Err(ApiError::Malformed(
                    "one of `document` or `project_id` is required".into(),
                ));
            }
            Some(Subject::Document(document)) => {
                let member = id(&document.member, "document.member")?;
                let project_id = id(&document.project_id, "document.project_id")?;
                let document_id = id(&document.document_id, "document.document_id")?;
                let mut keys = vec![StateKey::Document {
                    member: member.clone(),
                    project_id: project_id.clone(),
                    document_id: document_id.clone(),
                }];
                if document.version != 0 {
                    keys.push(StateKey::Version {
                        member,
                        project_id,
                        document_id,
                        version: document.version,
                    });
                }
                keys
            }
            Some(Subject::ProjectId(project_id)) => vec![StateKey::Project {
                project_id: id(project_id, "project_id")?,
            }],
        };
        let proof = self
            .app
            .ledger()
            .status_proof(&keys)?
            .ok_or_else(|| ApiError::NotFound("no block is committed yet".into()))?;
        Ok(pb::GetStatusProofResponse {
            header: proof.checkpoint.header.to_canonical_bytes(),
            certificate: proof.checkpoint.certificate.to_canonical_bytes(),
            handoffs: proof.handoffs.iter().map(handoff_message).collect(),
            facts: proof
                .facts
                .iter()
                .map(|fact| pb::StateFact {
                    key: fact.key.clone(),
                    value: fact.value.clone(),
                    proof: fact.proof.to_canonical_bytes(),
                })
                .collect(),
            json: proof.to_json(),
        })
    }

    fn lookup(&self, request: pb::LookupRequest, max: u32) -> Result<pb::LookupResponse, ApiError> {
        use pb::lookup_request::By;
        let ledger = self.app.ledger();
        let store = ledger.store();
        let max = max.max(1);
        let limit = if request.limit == 0 {
            max
        } else {
            request.limit.min(max)
        } as usize;
        let Some(by) = &request.by else {
            return Err(ApiError::Malformed(
                "one of `document_digest`, `document` or `project_id` is required".into(),
            ));
        };
        let start = read_page_token(by, &request.page_token)?;
        let mut cursors = match by {
            By::DocumentDigest(bytes) => {
                let digest = canonical_digest(bytes, "document_digest")?;
                vec![Cursor::new(start, move |from, limit| {
                    store.entries_by_digest(&digest, from, limit)
                })]
            }
            By::Document(document) => {
                if document.project_id.is_empty() || document.document_id.is_empty() {
                    return Err(ApiError::Malformed(
                        "`document` needs a `project_id` and a `document_id`".into(),
                    ));
                }
                // Lineage is keyed by member too: a document id is looked up under each.
                ledger
                    .genesis()
                    .members
                    .iter()
                    .map(|member| {
                        let member = member.id.as_str();
                        Cursor::new(start, move |from, limit| {
                            store.entries_by_document(
                                member,
                                &document.project_id,
                                &document.document_id,
                                from,
                                limit,
                            )
                        })
                    })
                    .collect()
            }
            By::ProjectId(project_id) => {
                if project_id.is_empty() {
                    return Err(ApiError::Malformed("`project_id` must not be empty".into()));
                }
                vec![Cursor::new(start, move |from, limit| {
                    store.entries_by_project(project_id, from, limit)
                })]
            }
        };
        let (indexes, mut next) = page(&mut cursors, limit)?;
        drop(cursors);
        let latest = self.latest_checkpoint()?;
        let mut results = Vec::with_capacity(indexes.len());
        // Room for the `more` flag and the next page token.
        let mut bytes = 2 + 2 + PAGE_TOKEN_LEN;
        for index in indexes {
            let entry = self.entry(index)?;
            let status = self.version_status(&entry)?;
            let receipt = self.receipt(entry, latest.as_ref())?;
            let result = pb::LookupResult {
                receipt: Some(receipt_message(&receipt)),
                status,
            };
            let size = prost::Message::encoded_len(&result);
            let framed = 1 + prost::encoding::encoded_len_varint(size as u64) as usize + size;
            // Always at least one result, so that paging makes progress.
            if !results.is_empty() && bytes + framed > LOOKUP_ANSWER_BYTES_MAX {
                next = Some(index);
                break;
            }
            bytes += framed;
            results.push(result);
        }
        Ok(pb::LookupResponse {
            results,
            more: next.is_some(),
            next_page_token: next.map(|n| page_token(by, n)).unwrap_or_default(),
        })
    }
}

/// The `evidence.v1.Ledger` service of one node.
#[derive(Debug, Clone)]
pub struct LedgerService {
    app: Arc<App>,
    config: ApiSection,
    member: String,
    peers: Arc<AtomicU32>,
    synced: Arc<AtomicBool>,
    /// Turned to `true` when the server shuts down: waiting calls and streams end.
    stopping: Arc<watch::Sender<bool>>,
    /// Places for API reads (`api.blocking_tasks_max`), on the blocking pool or in place.
    blocking: Arc<tokio::sync::Semaphore>,
    /// Places for admission checks, apart from reads: a flood of reads does not hold up
    /// submissions.
    admitting: Arc<tokio::sync::Semaphore>,
}

impl LedgerService {
    /// The service over `app` for the node of `member`. `peers` is the number of validators
    /// the node is connected to, kept up to date by the networking side; the node counts as
    /// synced until told otherwise ([`Self::with_synced`]).
    pub fn new(
        app: Arc<App>,
        config: ApiSection,
        member: impl Into<String>,
        peers: Arc<AtomicU32>,
    ) -> Self {
        Self {
            app,
            member: member.into(),
            peers,
            synced: Arc::new(AtomicBool::new(true)),
            stopping: Arc::new(watch::channel(false).0),
            blocking: Arc::new(tokio::sync::Semaphore::new(
                config.blocking_tasks_max.max(1),
            )),
            admitting: Arc::new(tokio::sync::Semaphore::new(
                config.blocking_tasks_max.max(1),
            )),
            config,
        }
    }

    /// Uses `synced` as the node's "caught up with its peers" flag. While it is false,
    /// `Notarize` and `Submit` answer `UNAVAILABLE` (reason `catching-up`): admission against
    /// an old state would accept what the chain has already used up. Reads are served.
    #[must_use]
    pub fn with_synced(mut self, synced: Arc<AtomicBool>) -> Self {
        self.synced = synced;
        self
    }

    /// Waits for a place for a read.
    async fn blocking_place(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        Self::place(&self.blocking).await
    }

    async fn place(
        places: &Arc<tokio::sync::Semaphore>,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        Arc::clone(places)
            .acquire_owned()
            .await
            .map_err(|_| ApiError::ShuttingDown)
    }

    fn check_serving(&self) -> Result<(), ApiError> {
        if *self.stopping.borrow() {
            return Err(ApiError::ShuttingDown);
        }
        if !self.synced.load(Ordering::Relaxed) {
            return Err(ApiError::CatchingUp);
        }
        Ok(())
    }

    /// Runs `read` on the blocking pool, when one of the API's places there is free.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Reader<'_>) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self.blocking_place().await?;
        let app = Arc::clone(&self.app);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            read(&Reader { app: &app })
        })
        .await
        .map_err(|e| ApiError::Internal(format!("a read task failed: {e}")))?
    }

    /// Admits a transaction (admission verifies signatures and runs the contract rules): a
    /// small one in place, a larger one on the blocking pool ([`INLINE_TRANSACTION_BYTES`]).
    async fn admit(&self, bytes: Vec<u8>) -> Result<Digest, ApiError> {
        self.check_serving()?;
        let permit = Self::place(&self.admitting).await?;
        if bytes.len() <= INLINE_TRANSACTION_BYTES {
            let _permit = permit;
            return self.app.submit(bytes).map_err(ApiError::from);
        }
        let app = Arc::clone(&self.app);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            app.submit(bytes)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("an admission task failed: {e}")))?
        .map_err(ApiError::from)
    }

    async fn notarize_inner(
        &self,
        request: Request<pb::NotarizeRequest>,
    ) -> Result<pb::NotarizeResponse, ApiError> {
        let wait = notarize_wait(&self.config, request.metadata());
        let deadline = Instant::now() + wait;
        let request = request.into_inner();
        let json = !request.omit_json;
        let bytes = transaction_bytes(request.transaction)?;
        let small = bytes.len() <= INLINE_TRANSACTION_BYTES;
        let tx_id = match self.admit(bytes).await {
            Ok(tx_id) => tx_id,
            // Already committed: answer as the first call was answered.
            Err(ApiError::Admit(AdmitError::Rejected(TxError::Replayed { tx_id, .. }))) => tx_id,
            Err(error) => return Err(error),
        };
        let outcome = self.app.subscribe(tx_id)?;
        let mut stopping = self.stopping.subscribe();
        let outcome = tokio::select! {
            outcome = outcome => outcome.map_err(|_| ApiError::ShuttingDown)?,
            () = tokio::time::sleep_until(deadline) => {
                return Err(ApiError::DeadlineExceeded {
                    tx_id,
                    waited_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                });
            }
            _ = stopping.wait_for(|stopping| *stopping) => return Err(ApiError::ShuttingDown),
        };
        let record = match outcome {
            Ok(record) => record,
            Err(error) => return Err(ApiError::Dropped { tx_id, error }),
        };
        // A small transaction's receipts are read in place, as it was admitted.
        let receipts = if small {
            let _permit = self.blocking_place().await?;
            Reader { app: &self.app }.transaction_receipts(tx_id, record)?
        } else {
            self.read(move |reader| reader.transaction_receipts(tx_id, record))
                .await?
        };
        Ok(pb::NotarizeResponse {
            transaction_id: tx_id.bytes.to_vec(),
            receipts: receipt_messages(&receipts, json),
        })
    }

    /// Sends committed checkpoints from `next` on into `sender`: stored ones first, then live
    /// ones; after a gap (the caller read slower than blocks commit) it reads the store again.
    async fn stream_from(
        service: Self,
        mut next: u64,
        mut live: broadcast::Receiver<Checkpoint>,
        sender: mpsc::Sender<Result<pb::Checkpoint, Status>>,
        mut stopping: watch::Receiver<bool>,
    ) {
        let app = Arc::clone(&service.app);
        loop {
            while next <= app.tip().height {
                // Stored checkpoints are read on the blocking pool, like every API read.
                let height = next;
                let item = service
                    .read(
                        move |reader| match reader.app.ledger().checkpoint(Some(height)) {
                            Ok(Some(checkpoint)) => {
                                certified_checkpoint_message(reader.app.ledger(), &checkpoint)
                            }
                            Ok(None) => Err(ApiError::Internal(format!(
                                "checkpoint {height} is missing below the tip"
                            ))),
                            Err(error) => Err(error.into()),
                        },
                    )
                    .await;
                let failed = item.is_err();
                if !send_or_stop(&sender, item.map_err(Status::from), &mut stopping).await || failed
                {
                    return;
                }
                next += 1;
            }
            let received = tokio::select! {
                received = live.recv() => received,
                () = sender.closed() => return,
                _ = stopping.wait_for(|s| *s) => {
                    let _ = sender.try_send(Err(ApiError::ShuttingDown.into()));
                    return;
                }
            };
            match received {
                Ok(checkpoint) if checkpoint.header.height == next => {
                    let item = service
                        .read(move |reader| {
                            certified_checkpoint_message(reader.app.ledger(), &checkpoint)
                        })
                        .await;
                    let failed = item.is_err();
                    if !send_or_stop(&sender, item.map_err(Status::from), &mut stopping).await
                        || failed
                    {
                        return;
                    }
                    next += 1;
                }
                // Older ones were sent from the store; after a newer one or a lag, the store
                // has everything up to it.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => {
                    let _ = sender.try_send(Err(ApiError::ShuttingDown.into()));
                    return;
                }
            }
        }
    }
}

/// A rule event as the API sends it.
fn rule_event_message(boot_id: u64, event: &crate::events::RuleEvent) -> pb::RuleEvent {
    pb::RuleEvent {
        boot_id,
        sequence: event.sequence,
        time_ms: event.time_ms,
        kind: event.kind.name().to_owned(),
        code: event.code.clone(),
        message: event.message.clone(),
        project_id: event.project_id.clone(),
        milestone: event.milestone.clone(),
        amount_minor: event.amount_minor,
        paid_minor: event.paid_minor,
        cap_minor: event.cap_minor,
        member: event.member.clone(),
        document_id: event.document_id.clone(),
        transaction_id: event
            .transaction_id
            .map(|id| id.bytes.to_vec())
            .unwrap_or_default(),
        height: event.height,
    }
}

/// Sends `item` unless the server stops first; false when it was not sent.
async fn send_or_stop<T>(
    sender: &mpsc::Sender<T>,
    item: T,
    stopping: &mut watch::Receiver<bool>,
) -> bool {
    tokio::select! {
        sent = sender.send(item) => sent.is_ok(),
        _ = stopping.wait_for(|s| *s) => false,
    }
}

#[tonic::async_trait]
impl LedgerRpc for LedgerService {
    async fn notarize(
        &self,
        request: Request<pb::NotarizeRequest>,
    ) -> Result<Response<pb::NotarizeResponse>, Status> {
        let started = Instant::now();
        let result = self.notarize_inner(request).await;
        self.app
            .metrics()
            .notarize_latency
            .observe(started.elapsed().as_secs_f64());
        Ok(Response::new(result?))
    }

    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let bytes = transaction_bytes(request.into_inner().transaction)?;
        let tx_id = self.admit(bytes).await?;
        Ok(Response::new(pb::SubmitResponse {
            transaction_id: tx_id.bytes.to_vec(),
        }))
    }

    async fn get_receipt(
        &self,
        request: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::GetReceiptResponse>, Status> {
        let request = request.into_inner();
        let receipt = self.read(move |reader| reader.get_receipt(request)).await?;
        Ok(Response::new(pb::GetReceiptResponse {
            receipt: Some(receipt),
        }))
    }

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::GetCheckpointResponse>, Status> {
        let height = request.into_inner().height;
        let checkpoint = self
            .read(move |reader| reader.get_checkpoint(height))
            .await?;
        Ok(Response::new(pb::GetCheckpointResponse {
            checkpoint: Some(checkpoint),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::GetConsistencyProofResponse>, Status> {
        let request = request.into_inner();
        let response = self
            .read(move |reader| reader.consistency_proof(request))
            .await?;
        Ok(Response::new(response))
    }

    async fn lookup(
        &self,
        request: Request<pb::LookupRequest>,
    ) -> Result<Response<pb::LookupResponse>, Status> {
        let request = request.into_inner();
        let max = self.config.lookup_limit;
        let response = self.read(move |reader| reader.lookup(request, max)).await?;
        Ok(Response::new(response))
    }

    async fn get_status_proof(
        &self,
        request: Request<pb::GetStatusProofRequest>,
    ) -> Result<Response<pb::GetStatusProofResponse>, Status> {
        let request = request.into_inner();
        let response = self
            .read(move |reader| reader.status_proof(request))
            .await?;
        Ok(Response::new(response))
    }

    type StreamCheckpointsStream = ReceiverStream<Result<pb::Checkpoint, Status>>;

    async fn stream_checkpoints(
        &self,
        request: Request<pb::StreamCheckpointsRequest>,
    ) -> Result<Response<Self::StreamCheckpointsStream>, Status> {
        // Subscribe before reading the tip, so no checkpoint falls between the two.
        let live = self.app.checkpoints();
        let from = request.into_inner().from_height;
        let next = if from == 0 {
            self.app.tip().height + 1
        } else {
            from
        };
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(Self::stream_from(
            self.clone(),
            next,
            live,
            sender,
            self.stopping.subscribe(),
        ));
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    type StreamRuleEventsStream = ReceiverStream<Result<pb::RuleEvent, Status>>;

    async fn stream_rule_events(
        &self,
        request: Request<pb::StreamRuleEventsRequest>,
    ) -> Result<Response<Self::StreamRuleEventsStream>, Status> {
        let request = request.into_inner();
        let app = Arc::clone(&self.app);
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        let mut stopping = self.stopping.subscribe();
        tokio::spawn(async move {
            let events = app.rule_events();
            let boot_id = events.boot_id();
            let (mut backlog, mut live) = events.subscribe(request.boot_id, request.after_sequence);
            // What the caller has already: a lag re-reads the kept events after it, not all.
            let mut last = if request.boot_id == boot_id {
                request.after_sequence
            } else {
                0
            };
            loop {
                for event in backlog.drain(..) {
                    last = event.sequence;
                    let message = rule_event_message(boot_id, &event);
                    if !send_or_stop(&sender, Ok(message), &mut stopping).await {
                        return;
                    }
                }
                let received = tokio::select! {
                    received = live.recv() => received,
                    () = sender.closed() => return,
                    _ = stopping.wait_for(|s| *s) => {
                        let _ = sender.try_send(Err(ApiError::ShuttingDown.into()));
                        return;
                    }
                };
                match received {
                    Ok(event) if event.sequence > last => backlog.push(event),
                    Ok(_) => {}
                    // Fell behind the live channel: read what was missed from the kept events.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        (backlog, live) = events.subscribe(boot_id, last);
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        let _ = sender.try_send(Err(ApiError::ShuttingDown.into()));
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let ledger = self.app.ledger();
        let tip = ledger.tip();
        Ok(Response::new(pb::StatusResponse {
            chain_id: ledger.genesis().chain_id.clone(),
            genesis_hash: ledger.genesis_hash().to_canonical_bytes(),
            member: self.member.clone(),
            height: tip.height,
            log_size: tip.log_size,
            mempool_depth: self.app.mempool().len() as u64,
            mempool_capacity: self.app.limits().mempool.transactions as u64,
            peers: self.peers.load(Ordering::Relaxed),
            synced: self.synced.load(Ordering::Relaxed),
        }))
    }

    async fn get_filer(
        &self,
        request: Request<pb::GetFilerRequest>,
    ) -> Result<Response<pb::GetFilerResponse>, Status> {
        let request = request.into_inner();
        let response = self.read(move |reader| reader.get_filer(request)).await?;
        Ok(Response::new(response))
    }

    async fn list_filers(
        &self,
        request: Request<pb::ListFilersRequest>,
    ) -> Result<Response<pb::ListFilersResponse>, Status> {
        let request = request.into_inner();
        let response = self.read(move |reader| reader.list_filers(request)).await?;
        Ok(Response::new(response))
    }

    async fn get_configuration(
        &self,
        _request: Request<pb::GetConfigurationRequest>,
    ) -> Result<Response<pb::GetConfigurationResponse>, Status> {
        let response = self.read(move |reader| reader.get_configuration()).await?;
        Ok(Response::new(response))
    }

    async fn get_proposal(
        &self,
        request: Request<pb::GetProposalRequest>,
    ) -> Result<Response<pb::GetProposalResponse>, Status> {
        let request = request.into_inner();
        let response = self
            .read(move |reader| reader.get_proposal(request))
            .await?;
        Ok(Response::new(response))
    }

    async fn list_proposals(
        &self,
        request: Request<pb::ListProposalsRequest>,
    ) -> Result<Response<pb::ListProposalsResponse>, Status> {
        let request = request.into_inner();
        let response = self
            .read(move |reader| reader.list_proposals(request))
            .await?;
        Ok(Response::new(response))
    }

    async fn relay(
        &self,
        request: Request<pb::RelayRequest>,
    ) -> Result<Response<pb::RelayResponse>, Status> {
        self.check_serving()?;
        let transactions = request.into_inner().transactions;
        let bytes: usize = transactions.iter().map(|t| t.canonical.len()).sum();
        if transactions.len() > RELAY_BATCH_TRANSACTIONS
            || (transactions.len() > 1 && bytes > RELAY_BATCH_BYTES)
        {
            return Err(ApiError::TooLarge(format!(
                "a relay batch is at most {RELAY_BATCH_TRANSACTIONS} transactions of at most \
                 {RELAY_BATCH_BYTES} bytes together (or one larger transaction); this one has \
                 {} transactions of {bytes} bytes",
                transactions.len()
            ))
            .into());
        }
        let permit = Self::place(&self.admitting).await?;
        let app = Arc::clone(&self.app);
        // Each is checked up to the contract's rules, which the relaying node ran and
        // execution runs again; refusals are the relaying node's business (it keeps its own
        // copy), so they are counted, not returned.
        let admitted = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut admitted = 0u32;
            for transaction in transactions {
                match app.submit_relayed(transaction.canonical) {
                    Ok((_, true)) => admitted += 1,
                    Ok((_, false)) => {}
                    Err(error) => tracing::debug!(%error, "relayed transaction not admitted"),
                }
            }
            admitted
        })
        .await
        .map_err(|e| ApiError::Internal(format!("a relay task failed: {e}")))?;
        Ok(Response::new(pb::RelayResponse { admitted }))
    }
}

/// How [`serve`] secures, bounds and records the API.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub transport: Transport,
    pub connections: ConnectionLimits,
    pub calls: CallLimits,
    /// Streams one HTTP/2 connection may have open at once.
    pub streams_per_connection_max: u32,
    pub policy: Policy,
    pub audit: Option<AuditLog>,
    pub metrics: Arc<Metrics>,
}

impl ServeOptions {
    /// The options `api` and `grants` of `node.toml` set, over `transport`.
    pub fn from_config(
        transport: Transport,
        api: &ApiSection,
        grants: &[crate::access::Grant],
        audit: Option<AuditLog>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            transport,
            connections: ConnectionLimits {
                connections_max: api.connections_max,
                handshake_timeout: Duration::from_millis(api.handshake_timeout_ms),
            },
            calls: CallLimits {
                calls_max: api.calls_max,
                subscribers_max: api.checkpoint_subscribers_max,
                calls_per_caller_max: api.calls_per_caller_max,
            },
            streams_per_connection_max: api.streams_per_connection_max,
            policy: Policy::new(grants),
            audit,
            metrics,
        }
    }

    /// No TLS, the default grants, no audit log, the bounds of `api`: for tests and tools that
    /// exercise the API itself on loopback.
    pub fn plaintext(api: &ApiSection, metrics: Arc<Metrics>) -> Self {
        Self::from_config(
            Transport::Plaintext,
            api,
            &crate::access::AccessSection::default().grants,
            None,
            metrics,
        )
    }
}

/// Serves `service` on `listener` until `shutdown` completes. Then it stops accepting, ends
/// waiting `Notarize` calls and checkpoint streams with `UNAVAILABLE`, lets the calls in
/// flight finish, and returns; connections still open [`SHUTDOWN_GRACE`] later (a client that
/// connected and never spoke, say) are left behind rather than holding the node up. Messages
/// larger than the configured `max_message_bytes` are refused in both directions.
///
/// Every connection is accepted under `options` ([`crate::tls::incoming`]: TLS, the connection
/// cap, the handshake deadline) and every call passes the access rules, the call bounds and the
/// audit log ([`crate::access`]) before its request is decoded.
///
/// # Errors
/// The transport failed (not a single connection: a client that sends garbage only loses its
/// own connection).
pub async fn serve(
    listener: TcpListener,
    service: LedgerService,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let max = service.config.max_message_bytes;
    let stopping = Arc::clone(&service.stopping);
    let mut stopped = stopping.subscribe();
    let server = LedgerServer::new(service)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let incoming = crate::tls::incoming(
        listener,
        options.transport,
        options.connections,
        options.metrics,
        stopping.subscribe(),
    );
    let serving = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .max_concurrent_streams(options.streams_per_connection_max)
        .layer(AccessLayer::new(
            options.policy,
            options.calls,
            options.audit,
        ))
        .serve_with_incoming_shutdown(server, incoming, async move {
            shutdown.await;
            stopping.send_replace(true);
        });
    tokio::pin!(serving);
    tokio::select! {
        result = &mut serving => return result,
        _ = stopped.wait_for(|stopped| *stopped) => {}
    }
    match tokio::time::timeout(SHUTDOWN_GRACE, serving).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                grace = ?SHUTDOWN_GRACE,
                "API connections still open after shutdown; stopping without them"
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use evidence_core::keys::SigningKey;
    use tonic::metadata::MetadataValue;

    use super::*;

    fn with_timeout(text: &'static str) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        metadata.insert("grpc-timeout", MetadataValue::from_static(text));
        metadata
    }

    #[test]
    fn grpc_timeout_header_is_read_per_the_protocol() {
        for (text, expected) in [
            ("1H", Some(Duration::from_secs(3600))),
            ("2M", Some(Duration::from_secs(120))),
            ("3S", Some(Duration::from_secs(3))),
            ("300m", Some(Duration::from_millis(300))),
            ("5u", Some(Duration::from_micros(5))),
            ("7n", Some(Duration::from_nanos(7))),
            ("99999999S", Some(Duration::from_secs(99_999_999))),
            ("123456789S", None),
            ("S", None),
            ("", None),
            ("10x", None),
            ("-1S", None),
            ("1.5S", None),
        ] {
            assert_eq!(caller_timeout(&with_timeout(text)), expected, "{text:?}");
        }
        assert_eq!(caller_timeout(&MetadataMap::new()), None);
    }

    #[test]
    fn notarize_waits_for_the_caller_within_the_configured_bounds() {
        let config = ApiSection {
            notarize_timeout_ms: 2_000,
            notarize_timeout_max_ms: 5_000,
            ..ApiSection::default()
        };
        assert_eq!(
            notarize_wait(&config, &MetadataMap::new()),
            Duration::from_secs(2)
        );
        assert_eq!(
            notarize_wait(&config, &with_timeout("1H")),
            Duration::from_secs(5)
        );
        // Answered a little before the caller's deadline.
        assert_eq!(
            notarize_wait(&config, &with_timeout("300m")),
            Duration::from_millis(270)
        );
        assert_eq!(
            notarize_wait(&config, &with_timeout("4S")),
            Duration::from_millis(3_750)
        );
    }

    /// A cursor over `rows` (sorted), read the way the store reads an index.
    fn cursor(rows: Vec<u64>, start: u64) -> Cursor<'static> {
        Cursor::new(start, move |from, limit| {
            Ok(rows
                .iter()
                .copied()
                .filter(|&index| index >= from)
                .take(limit)
                .collect())
        })
    }

    #[test]
    fn pages_merge_sources_in_log_order_across_chunk_boundaries() {
        let evens: Vec<u64> = (0..3000).map(|i| i * 2).collect();
        let odds: Vec<u64> = (0..1000).map(|i| i * 2 + 1).collect();
        let all: Vec<u64> = {
            let mut all = [evens.clone(), odds.clone()].concat();
            all.sort_unstable();
            all
        };
        for (start, limit) in [
            (0, 10),
            (0, 5000),
            (1999, 3),
            (3990, 100),
            (5997, 1),
            (9999, 1),
        ] {
            let mut cursors = [cursor(evens.clone(), start), cursor(odds.clone(), start)];
            let (found, next) = page(&mut cursors, limit).unwrap();
            let from_start: Vec<u64> = all.iter().copied().filter(|&i| i >= start).collect();
            let expected: Vec<u64> = from_start.iter().copied().take(limit).collect();
            assert_eq!(found, expected, "start {start} limit {limit}");
            assert_eq!(
                next,
                from_start.get(limit).copied(),
                "start {start} limit {limit}"
            );
        }
        // Reading page after page from each answer's next index gives every index once.
        let mut read = Vec::new();
        let mut start = 0;
        loop {
            let mut cursors = [cursor(evens.clone(), start), cursor(odds.clone(), start)];
            let (found, next) = page(&mut cursors, 777).unwrap();
            read.extend(found);
            match next {
                Some(next) => start = next,
                None => break,
            }
        }
        assert_eq!(read, all);
        assert_eq!(cursor(evens, 0).last().unwrap(), Some(5998));
        assert_eq!(cursor(vec![], 0).last().unwrap(), None);
        assert_eq!(cursor((0..1024).collect(), 0).last().unwrap(), Some(1023));
    }

    #[test]
    fn page_tokens_continue_their_own_query_only() {
        use pb::lookup_request::By;
        let project = By::ProjectId("P-1".into());
        let other = By::ProjectId("P-2".into());
        let token = page_token(&project, 4242);
        assert_eq!(read_page_token(&project, &token).unwrap(), 4242);
        assert_eq!(read_page_token(&project, &[]).unwrap(), 0);
        for bad in [
            read_page_token(&other, &token),
            read_page_token(&project, &token[..5]),
            read_page_token(&project, b"offset=10"),
            read_page_token(&project, &[&[9u8][..], &token[1..]].concat()),
        ] {
            assert!(matches!(bad, Err(ApiError::Malformed(_))), "{bad:?}");
        }
    }

    #[test]
    fn who_may_do_what_is_permission_denied_and_nothing_else_is() {
        let key = SigningKey::generate_with(&mut rand_core::OsRng).public_key();
        let digest = Digest::new(evidence_core::digest::HashAlgorithm::Blake3, [7; 32]);
        let text = || "x".to_owned();
        let errors = vec![
            TxError::Malformed(evidence_core::encoding::DecodeError::UnknownTag {
                what: "record",
                tag: 9,
            }),
            TxError::TooLarge { size: 2, max: 1 },
            TxError::BadBatchLength { len: 0, max: 1 },
            TxError::Replayed {
                tx_id: digest,
                height: 1,
            },
            TxError::UnknownFiler(key),
            TxError::BadSignature(key),
            TxError::MixedFilers {
                first: key,
                other: key,
            },
            TxError::WrongChain {
                expected: text(),
                found: text(),
            },
            TxError::MemberMismatch {
                filer: key,
                registered: text(),
                claimed: text(),
            },
            TxError::EmptyField { field: "x" },
            TxError::UnknownKind(text()),
            TxError::KindNotAllowedForMember {
                member: text(),
                kind: text(),
            },
            TxError::KindNotAllowedForFiler {
                filer: key,
                kind: text(),
            },
            TxError::NotAFirstVersion {
                document_id: text(),
                version: 2,
            },
            TxError::VersionConflict {
                document_id: text(),
                latest: 1,
                expected: 2,
                found: 3,
            },
            TxError::MilestoneNotInspected {
                project_id: text(),
                milestone: text(),
            },
            TxError::MilestoneOverpayment {
                milestone: text(),
                paid: 1,
                amount: 1,
                limit: 1,
            },
            TxError::NotARegistrar(text()),
            TxError::FilerRevoked {
                filer: key,
                effective_height: 4,
            },
            TxError::FilerNotYetActive {
                filer: key,
                from_height: 4,
            },
            TxError::SourceSystemMismatch {
                filer: key,
                registered: text(),
                found: text(),
            },
            TxError::UnknownGovernanceKey(key),
            TxError::GovernanceMemberMismatch {
                key,
                registered: text(),
                claimed: text(),
            },
            TxError::FilerKeyInUse(key),
            TxError::InvalidFilerRegistration(text()),
            TxError::NotAFiler(key),
            TxError::FilerAlreadyRevoked {
                filer: key,
                effective_height: 4,
            },
            TxError::BadEffectiveHeight {
                filer: key,
                registered_height: 4,
                effective_height: 4,
            },
            TxError::AlreadyRevoked {
                document_id: text(),
                version: 1,
            },
            TxError::InBatch {
                position: 3,
                error: Box::new(TxError::KindNotAllowedForMember {
                    member: text(),
                    kind: text(),
                }),
            },
            TxError::InBatch {
                position: 0,
                error: Box::new(TxError::ZeroAmount),
            },
        ];
        for error in errors {
            let code = rule_status_code(error.code());
            assert_eq!(
                code == Code::PermissionDenied,
                error.is_policy_violation(),
                "{error}: {code:?}"
            );
        }
        // The examples of the proto's header comment.
        for (rule, code) in [
            ("malformed", Code::InvalidArgument),
            ("too-large", Code::InvalidArgument),
            ("version-conflict", Code::InvalidArgument),
            ("unknown-filer", Code::PermissionDenied),
            ("kind-not-allowed-for-member", Code::PermissionDenied),
            ("milestone-not-inspected", Code::FailedPrecondition),
            ("milestone-overpayment", Code::FailedPrecondition),
            ("replayed", Code::FailedPrecondition),
            ("a-rule-from-the-future", Code::FailedPrecondition),
        ] {
            assert_eq!(rule_status_code(rule), code, "{rule}");
        }
    }

    #[test]
    fn every_status_carries_its_reason_in_the_error_domain() {
        let digest = Digest::new(evidence_core::digest::HashAlgorithm::Blake3, [1; 32]);
        for (error, code, expected_reason) in [
            (
                ApiError::Malformed("x".into()),
                Code::InvalidArgument,
                reason::MALFORMED,
            ),
            (
                ApiError::Admit(AdmitError::Busy {
                    pending: 1,
                    bytes: 2,
                }),
                Code::ResourceExhausted,
                reason::BUSY,
            ),
            (
                ApiError::Admit(AdmitError::Rejected(TxError::Replayed {
                    tx_id: digest,
                    height: 4,
                })),
                Code::FailedPrecondition,
                "replayed",
            ),
            (
                ApiError::Refused {
                    tx_id: digest,
                    height: 2,
                    code: "milestone-overpayment".into(),
                    message: "too much".into(),
                },
                Code::FailedPrecondition,
                "milestone-overpayment",
            ),
            (
                ApiError::DeadlineExceeded {
                    tx_id: digest,
                    waited_ms: 5,
                },
                Code::DeadlineExceeded,
                reason::DEADLINE_EXCEEDED,
            ),
            (
                ApiError::NotFound("no".into()),
                Code::NotFound,
                reason::NOT_FOUND,
            ),
            (ApiError::CatchingUp, Code::Unavailable, reason::CATCHING_UP),
            (
                ApiError::Admit(AdmitError::Storage("disk".into())),
                Code::Internal,
                reason::INTERNAL,
            ),
        ] {
            let status = to_status(&error);
            assert_eq!(status.code(), code, "{error}");
            let info = status
                .get_details_error_info()
                .expect("an ErrorInfo detail");
            assert_eq!(info.reason, expected_reason);
            assert_eq!(info.domain, ERROR_DOMAIN);
        }
        let refused = to_status(&ApiError::Refused {
            tx_id: digest,
            height: 2,
            code: "zero-amount".into(),
            message: "payment amount must be more than zero".into(),
        });
        assert!(
            refused
                .message()
                .contains("payment amount must be more than zero")
        );
        let info = refused
            .get_details_error_info()
            .expect("an ErrorInfo detail");
        assert_eq!(info.metadata.get("transaction_id"), Some(&digest.to_hex()));
        // Internal details stay in the log.
        let internal = to_status(&ApiError::Internal("/secret/path".into()));
        assert!(!internal.message().contains("/secret/path"));
    }
}
