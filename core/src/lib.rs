//! The evidence ledger's pure foundation: digests, keys, the canonical encoding, the Merkle log
//! and its proofs, block headers, commit certificates, checkpoints, receipts and their offline
//! verification.
//!
//! This crate does no I/O beyond hashing a file or reader and reads no clock, so the same code
//! runs in a node, a client and an offline verifier. It spawns threads only to share large
//! work (the file hasher, [`parallel`]), with the result one thread would give. SPEC.md at the
//! repository root defines every format byte for byte.

pub mod certificate;
pub mod checkpoint;
pub mod digest;
pub mod domain;
pub mod encoding;
pub mod entry;
pub mod governance;
pub mod header;
pub mod keys;
pub mod merkle;
pub mod parallel;
pub mod receipt;
pub mod records;
pub mod state_tree;
pub mod status;
pub mod validators;
pub mod verify;

pub use certificate::{CertificateError, CommitCertificate, CommitSignature};
pub use checkpoint::{Checkpoint, TrustAnchor, VerifiedCheckpoint};
pub use digest::{Digest, HashAlgorithm};
pub use encoding::{Decode, DecodeError, Encode, Reader, Writer};
pub use entry::{
    AnchorBody, AnchoredDocument, Entry, Milestone, MilestoneClaim, ProjectRegistrationBody,
    Record, RevocationBody, SignedBatch, SignedRegistration, SignedRevocation,
};
pub use header::{BlockHeader, VoteKind};
pub use keys::{PublicKey, Signature, SignatureAlgorithm, SigningKey};
pub use receipt::{Receipt, Verdict, Verifier, verify_receipt};
pub use validators::{Validator, ValidatorSet};
pub use verify::VerifyError;
