//! The evidence ledger's deterministic state machine: anchoring with lineage, revocation,
//! write policy from genesis, replay protection, project contracts with milestone payments,
//! and the state root every validator computes identically.
//!
//! `apply(state, transaction, block context)` is pure: no clock, no randomness, no I/O beyond
//! the [`state::StateStore`] it is given.

pub mod error;
pub mod execute;
pub mod proposals;
pub mod query;
pub mod state;
pub mod transaction;
pub mod verified;

pub use error::TxError;
pub use execute::{
    Applied, ApplyError, BlockContext, BlockOutcome, apply, execute_block, execute_prepared_block,
};
pub use state::{MemoryState, Overlay, StateStore, StoreError};
pub use transaction::Transaction;
pub use verified::VerifiedSignatures;
