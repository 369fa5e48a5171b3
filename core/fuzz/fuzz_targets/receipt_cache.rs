//! The checkpoint cache must not change a verdict: for edits of a valid receipt (as in
//! `receipt_mutation`), a `Verifier` that has already verified the original checkpoint gives
//! the same result as a cold `verify_receipt`.

#![no_main]

use std::sync::Mutex;

use evidence_core::receipt::{Receipt, Verifier, verify_receipt};
use evidence_core_fuzz::{apply_edits, fixture, receipt_json, receipt_parts};
use libfuzzer_sys::fuzz_target;

static WARM: Mutex<Option<Verifier>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let mut parts = receipt_parts(&fixture.receipt);
    apply_edits(&mut parts, data);
    let Ok(receipt) = Receipt::from_json(&receipt_json(&parts)) else {
        return;
    };
    let cold = verify_receipt(&fixture.digest, &receipt, &fixture.trust_anchor);
    let mut warm = WARM.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let verifier = warm.get_or_insert_with(|| {
        let mut verifier = Verifier::new(fixture.trust_anchor.clone());
        verifier
            .verify_receipt(&fixture.digest, &fixture.receipt)
            .expect("fixture receipt verifies");
        verifier
    });
    let cached = verifier.verify_receipt(&fixture.digest, &receipt);
    assert_eq!(cold, cached, "the checkpoint cache changed the verdict");
});
