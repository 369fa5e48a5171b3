//! A block header from its canonical bytes. Nothing panics; what decodes re-encodes to the
//! input, hashes under every algorithm, and survives a JSON round trip.

#![no_main]

use evidence_core::encoding::{Decode as _, Encode as _};
use evidence_core::header::BlockHeader;
use evidence_core_fuzz::ALGORITHMS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = BlockHeader::from_canonical_bytes(data) else {
        return;
    };
    assert_eq!(
        header.to_canonical_bytes(),
        data,
        "header decoding is not canonical"
    );
    for algorithm in ALGORITHMS {
        let _ = header.hash(algorithm);
    }
    let text = serde_json::to_string(&header).expect("serialises");
    assert_eq!(
        serde_json::from_str::<BlockHeader>(&text).expect("reparses"),
        header
    );
});
