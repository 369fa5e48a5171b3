//! A checkpoint file: arbitrary UTF-8 through `Checkpoint::from_json`, then verification
//! against a fixed trust anchor. Nothing panics; a parsed checkpoint survives a JSON round trip.

#![no_main]

use evidence_core::checkpoint::Checkpoint;
use evidence_core_fuzz::{ALGORITHMS, fixture};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(checkpoint) = Checkpoint::from_json(text) else {
        return;
    };
    assert_eq!(
        Checkpoint::from_json(&checkpoint.to_json()).as_ref(),
        Ok(&checkpoint)
    );
    for algorithm in ALGORITHMS {
        let _ = checkpoint.header_hash(algorithm);
    }
    let _ = checkpoint.verify(&fixture().trust_anchor);
});
