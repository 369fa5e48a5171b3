mod common;

use common::TestChain;
use evidence_core::receipt::verify_receipt;

#[test]
fn a_receipt_built_like_a_node_builds_it_verifies() {
    let mut chain = TestChain::new(1);
    let body = chain.anchor_body(
        "bureau",
        "completion-drawing",
        "drawing-1",
        b"drawing bytes",
    );
    let records = chain.batch("bureau", vec![body.clone()]);
    let checkpoint = chain.commit_block(records);
    let receipt = chain.receipt(0, &checkpoint);
    let verdict = verify_receipt(&body.digest, &receipt, &chain.trust_anchor).unwrap();
    assert_eq!(verdict.anchor, body);
    assert_eq!(verdict.checkpoint.signed_power, 3);
}
