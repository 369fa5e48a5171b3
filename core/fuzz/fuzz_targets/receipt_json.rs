//! A receipt file: arbitrary UTF-8 through `Receipt::from_json`, then full verification against
//! a fixed trust anchor.
//!
//! Nothing panics; a parsed receipt survives a JSON round trip; a cold verification and a fresh
//! `Verifier` agree.

#![no_main]

use evidence_core::digest::Digest;
use evidence_core::receipt::{Receipt, Verifier, verify_receipt};
use evidence_core_fuzz::fixture;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(receipt) = Receipt::from_json(text) else {
        return;
    };
    assert_eq!(
        Receipt::from_json(&receipt.to_json()).as_ref(),
        Ok(&receipt)
    );
    let anchor = &fixture().trust_anchor;
    // Verify against the digest the receipt itself claims, so verification runs to the end.
    let digest = receipt
        .entry
        .anchor()
        .map_or(Digest::new(anchor.digest_algorithm, [0; 32]), |document| {
            document.body.digest
        });
    let cold = verify_receipt(&digest, &receipt, anchor);
    let fresh = Verifier::new(anchor.clone()).verify_receipt(&digest, &receipt);
    assert_eq!(cold, fresh);
});
