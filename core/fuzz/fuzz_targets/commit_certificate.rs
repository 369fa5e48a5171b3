//! A commit certificate (selector byte even) or a validator set (odd) from canonical bytes.
//!
//! Nothing panics; what decodes re-encodes to the input; a certificate is verified against the
//! fixed consortium's validators (and a decoded validator set), and a decoded validator set is
//! sorted, duplicate-free and hashes under every algorithm.

#![no_main]

use evidence_core::certificate::CommitCertificate;
use evidence_core::encoding::{Decode as _, Encode as _};
use evidence_core::validators::ValidatorSet;
use evidence_core_fuzz::{ALGORITHMS, CHAIN_ID, fixture};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let anchor = &fixture().trust_anchor;
    if selector & 1 == 0 {
        let Ok(certificate) = CommitCertificate::from_canonical_bytes(bytes) else {
            return;
        };
        assert_eq!(
            certificate.to_canonical_bytes(),
            bytes,
            "certificate decoding is not canonical"
        );
        if let Ok(power) = certificate.verify(CHAIN_ID, anchor.validators()) {
            assert!(anchor.validators().is_quorum(power));
        }
        let _ = certificate.signers();
    } else {
        let Ok(validators) = ValidatorSet::from_canonical_bytes(bytes) else {
            return;
        };
        assert_eq!(
            validators.to_canonical_bytes(),
            bytes,
            "validator set decoding is not canonical"
        );
        assert!(
            validators
                .validators()
                .windows(2)
                .all(|pair| pair[0].public_key < pair[1].public_key),
            "decoded validator set is not strictly sorted"
        );
        for algorithm in ALGORITHMS {
            let _ = validators.hash(algorithm);
        }
        let _ = validators.quorum_power();
        let _ = fixture()
            .receipt
            .checkpoint
            .certificate
            .verify(CHAIN_ID, &validators);
    }
});
