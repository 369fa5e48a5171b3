//! Bytes a peer sends for value sync: its status, requests for decided blocks and the
//! responses carrying blocks with their commit certificates.
//!
//! Decoding never panics; what decodes re-encodes to exactly the input.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    evidence_node::consensus::codec::decoders::sync_messages(data);
});
