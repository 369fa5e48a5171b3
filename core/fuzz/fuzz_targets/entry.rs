//! A log entry from its canonical bytes (what a receipt and a node's store carry).
//!
//! Decoding never panics; what decodes re-encodes to exactly the input (the encoding is
//! canonical); hashing and signature checks on a decoded entry never panic.

#![no_main]

use evidence_core::encoding::{Decode as _, Encode as _};
use evidence_core::entry::{Entry, Record};
use evidence_core_fuzz::ALGORITHMS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entry) = Entry::from_canonical_bytes(data) else {
        return;
    };
    assert_eq!(
        entry.to_canonical_bytes(),
        data,
        "entry decoding is not canonical"
    );
    for algorithm in ALGORITHMS {
        let _ = entry.leaf_hash(algorithm);
    }
    match &entry.record {
        Record::Anchor(document) => {
            for algorithm in ALGORITHMS {
                let root = document.batch_root(algorithm);
                let signed = document.verify_filer_signature(algorithm);
                // A signature can only verify over a batch root the path leads to.
                assert!(signed.is_err() || root.is_ok());
            }
        }
        Record::Revocation(revocation) => {
            let _ = revocation.verify();
        }
        Record::Registration(registration) => {
            let _ = registration.verify();
        }
        Record::Governance(governance) => {
            let _ = governance.verify();
        }
    }
});
