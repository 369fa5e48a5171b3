//! The evidence ledger's client: notarize documents, fetch receipts, look documents up, audit
//! the log's growth, and verify a document against its receipt offline.
//!
//! A [`Client`] talks to one member's node over gRPC and verifies every answer with
//! `evidence-core` against the consortium's genesis file before returning it: receipts,
//! checkpoints and consistency proofs that do not verify are errors, never results. The node
//! is trusted for nothing but liveness; the only thing it says that cannot be proven is a
//! document version's current status in a lookup, which [`LookupResult::status`] marks as the
//! node's report.
//!
//! Offline verification, [`verify_file`], needs no network at all: the file, its receipt and
//! the genesis file.

mod client;
mod document;
mod error;
mod offline;

pub use client::{
    Client, ClientOptions, FilerRevocationStatus, FilerStatus, LookupPage, LookupQuery,
    LookupResult, ProposalView, ProposalVoteView, ReceiptQuery, RetryPolicy, RuleEvent,
    RuleEventStream, StatusSubject, Supersession, TlsOptions, VerifiedEntry, VerifiedStatus,
    VersionStatus,
};
pub use document::{DocumentMeta, DocumentSource, Version};
pub use error::{ClientError, RuleRefusal};
pub use offline::{VerifyFileError, verify_entry, verify_file, verify_receipt_file};
