//! What a filer or a member submits, from canonical bytes: the selector byte picks an anchor
//! body, a signed batch, an anchored document, a signed revocation, a signed registration or a
//! signed governance transaction.
//!
//! Nothing panics; what decodes re-encodes to the input; a batch whose signature verifies
//! splits into documents whose signatures verify, each leading to the batch root.

#![no_main]

use evidence_core::encoding::{Decode, Encode};
use evidence_core::entry::{
    AnchorBody, AnchoredDocument, SignedBatch, SignedRegistration, SignedRevocation, batch_root,
};
use evidence_core::governance::SignedGovernance;
use evidence_core_fuzz::ALGORITHMS;
use libfuzzer_sys::fuzz_target;

fn decode<T: Decode + Encode>(bytes: &[u8]) -> Option<T> {
    let value = T::from_canonical_bytes(bytes).ok()?;
    assert_eq!(
        value.to_canonical_bytes(),
        bytes,
        "decoding is not canonical"
    );
    Some(value)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    match selector % 6 {
        0 => {
            if let Some(body) = decode::<AnchorBody>(bytes) {
                let text = serde_json::to_string(&body).expect("serialises");
                assert_eq!(
                    serde_json::from_str::<AnchorBody>(&text).expect("reparses"),
                    body
                );
                for algorithm in ALGORITHMS {
                    let _ = body.batch_leaf_hash(algorithm);
                }
            }
        }
        1 => {
            let Some(batch) = decode::<SignedBatch>(bytes) else {
                return;
            };
            for algorithm in ALGORITHMS {
                let filer = batch.anchors[0].filer;
                let verified = batch.verify(algorithm, &filer).is_ok();
                let root = batch_root(algorithm, &batch.anchors).expect("decoded batch length");
                let documents = batch
                    .clone()
                    .into_documents(algorithm)
                    .expect("decoded batch length");
                assert_eq!(documents.len(), batch.anchors.len());
                for document in &documents {
                    assert_eq!(document.batch_root(algorithm), Ok(root));
                    if document.body.filer == filer {
                        assert_eq!(
                            document.verify_filer_signature(algorithm).is_ok(),
                            verified,
                            "batch and document signature checks disagree"
                        );
                    }
                }
            }
        }
        2 => {
            if let Some(document) = decode::<AnchoredDocument>(bytes) {
                for algorithm in ALGORITHMS {
                    let _ = document.verify_filer_signature(algorithm);
                }
            }
        }
        3 => {
            if let Some(revocation) = decode::<SignedRevocation>(bytes) {
                let _ = revocation.verify();
            }
        }
        4 => {
            if let Some(registration) = decode::<SignedRegistration>(bytes) {
                let _ = registration.verify();
            }
        }
        _ => {
            if let Some(governance) = decode::<SignedGovernance>(bytes) {
                let _ = governance.verify();
            }
        }
    }
});
