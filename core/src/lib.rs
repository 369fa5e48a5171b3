//! The evidence ledger's pure foundation: digests, keys, the canonical encoding, the Merkle log
//! and its proofs, block headers, commit certificates, checkpoints, receipts and their offline
//! verification.
//!
//! This crate does no I/O beyond hashing a file or reader, reads no clock and spawns nothing
//! (the multi-threaded file hasher aside), so the same code runs in a node, a client and an
//! offline verifier.

pub mod digest;
pub mod encoding;
pub mod merkle;

pub use digest::{Digest, HashAlgorithm};
pub use encoding::{Decode, DecodeError, Encode, Reader, Writer};
