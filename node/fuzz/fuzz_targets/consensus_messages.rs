//! Bytes a peer sends on the consensus and liveness channels: signed votes and proposals,
//! round and polka certificates, validator proofs.
//!
//! Decoding never panics; what decodes re-encodes to exactly the input.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    evidence_node::consensus::codec::decoders::consensus_messages(data);
});
