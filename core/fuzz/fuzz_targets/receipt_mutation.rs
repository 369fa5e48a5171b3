//! Edits to a valid receipt's canonical parts (entry, inclusion proof, header, certificate),
//! then parsing and verification for the original document.
//!
//! Nothing panics, and a receipt that still verifies is the original one: same entry, proof
//! and header, and a certificate with the same signatures (their order is free, SPEC.md §9.2).

#![no_main]

use evidence_core::certificate::CommitCertificate;
use evidence_core::receipt::{Receipt, verify_receipt};
use evidence_core_fuzz::{apply_edits, fixture, receipt_json, receipt_parts};
use libfuzzer_sys::fuzz_target;

fn same_signatures(a: &CommitCertificate, b: &CommitCertificate) -> bool {
    let key = |c: &CommitCertificate| {
        let mut signatures: Vec<_> = c
            .signatures
            .iter()
            .map(|s| (s.validator.to_bytes(), s.signature.bytes))
            .collect();
        signatures.sort_unstable();
        (c.height, c.round, c.block_hash, signatures)
    };
    key(a) == key(b)
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let mut parts = receipt_parts(&fixture.receipt);
    apply_edits(&mut parts, data);
    let Ok(receipt) = Receipt::from_json(&receipt_json(&parts)) else {
        return;
    };
    if verify_receipt(&fixture.digest, &receipt, &fixture.trust_anchor).is_ok() {
        let original = &fixture.receipt;
        assert_eq!(receipt.entry, original.entry);
        assert_eq!(receipt.inclusion_proof, original.inclusion_proof);
        assert_eq!(receipt.checkpoint.header, original.checkpoint.header);
        assert!(same_signatures(
            &receipt.checkpoint.certificate,
            &original.checkpoint.certificate
        ));
    }
});
