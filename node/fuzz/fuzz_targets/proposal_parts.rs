//! Bytes a peer sends on the proposal-parts channel (stream frames carrying a block's parts)
//! and proposed values from the write-ahead log and value sync.
//!
//! Decoding never panics; what decodes re-encodes to exactly the input.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    evidence_node::consensus::codec::decoders::proposal_parts(data);
});
