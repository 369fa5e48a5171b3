//! A transaction from its canonical bytes, as a node receives it from a client.
//!
//! Nothing panics; what decodes re-encodes to the input and has an identifier under every
//! algorithm (every decoded batch has a valid length).

#![no_main]

use evidence_contracts::Transaction;
use evidence_core::encoding::{Decode as _, Encode as _};
use evidence_core_fuzz::ALGORITHMS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(transaction) = Transaction::from_canonical_bytes(data) else {
        return;
    };
    assert_eq!(
        transaction.to_canonical_bytes(),
        data,
        "transaction decoding is not canonical"
    );
    let _ = transaction.kind_name();
    for algorithm in ALGORITHMS {
        assert!(
            transaction.id(algorithm).is_some(),
            "decoded transaction has no id"
        );
    }
});
