//! A consortium member's node: it orders transactions with the other members' validators by
//! BFT consensus, executes them with `evidence-contracts`, stores blocks, log and state in
//! RocksDB, and serves the gRPC API.
//!
//! The ledger logic ([`ledger`], [`app`]) is plain code that knows nothing of the consensus
//! engine; the engine drives it through the consensus driver.

pub mod access;
pub mod api;
pub mod app;
pub mod block;
pub mod config;
pub mod consensus;
pub mod ledger;
pub mod local;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod relay;
pub mod storage;
pub mod tls;
