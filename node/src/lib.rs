//! A consortium member's node: it orders transactions with the other members' validators by
//! BFT consensus, executes them with `evidence-contracts`, stores blocks, log and state in
//! RocksDB, and serves the gRPC API.
//!
//! The ledger logic ([`ledger`], [`app`]) is plain code that knows nothing of the consensus
//! engine; the engine drives it through the consensus driver.
//!
//! The `rocksdb` feature (on by default) is the node's database and the node itself; without
//! it the crate is its ledger, consensus application and wire codecs over the in-memory store,
//! which is what the fuzz targets of the wire decoders build.

pub mod access;
pub mod api;
pub mod app;
pub mod block;
pub mod config;
pub mod consensus;
pub mod entries;
pub mod events;
pub mod ledger;
#[cfg(feature = "rocksdb")]
pub mod local;
pub mod mempool;
pub mod metrics;
#[cfg(feature = "rocksdb")]
pub mod node;
pub mod relay;
pub mod signatures;
pub mod storage;
pub mod tls;
