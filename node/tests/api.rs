//! The gRPC API end to end: a node's ledger in a temporary RocksDB, the server on a local port
//! and the generated client. Blocks are committed directly (propose, certify with three of
//! the four validator keys, commit); no consensus runs.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use evidence_contracts::error::TxError;
use evidence_contracts::transaction::Transaction;
use evidence_core::certificate::CommitCertificate;
use evidence_core::checkpoint::{Checkpoint, TrustAnchor};
use evidence_core::digest::Digest;
use evidence_core::encoding::{Decode as _, Encode as _};
use evidence_core::entry::{AnchorBody, RevocationBody, SignedBatch};
use evidence_core::keys::SigningKey;
use evidence_core::merkle::{ConsistencyProof, TreeHead, verify_consistency};
use evidence_core::receipt::{Receipt, verify_receipt};
use evidence_genesis::{Consortium, Genesis, default_consortium};
use evidence_node::api::{
    ERROR_DOMAIN, INLINE_TRANSACTION_BYTES, LedgerService, ServeOptions, serve,
};
use evidence_node::app::{App, AppLimits, now_ms};
use evidence_node::config::ApiSection;
use evidence_node::ledger::Ledger;
use evidence_node::mempool::{AdmitError, MempoolLimits};
use evidence_node::metrics::Metrics;
use evidence_proto::v1 as pb;
use evidence_proto::v1::ledger_client::LedgerClient;
use pb::get_receipt_request::By as ReceiptBy;
use pb::lookup_request::By as LookupBy;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt as _;

const CHAIN_ID: &str = "evidence-api-test";
const PROJECT: &str = "proj-riverside-school";
const DRAWING: &str = "completion-drawing";
const WAIT: Duration = Duration::from_secs(10);

/// One node serving the API, with the keys to sign transactions and certify blocks.
struct Node {
    consortium: Consortium,
    trust_anchor: TrustAnchor,
    app: Arc<App>,
    synced: Arc<AtomicBool>,
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    _dir: tempfile::TempDir,
}

impl Node {
    async fn start() -> Self {
        Self::start_with(AppLimits::default(), ApiSection::default(), |_| {}).await
    }

    async fn start_with(
        limits: AppLimits,
        api: ApiSection,
        change: impl FnOnce(&mut Genesis),
    ) -> Self {
        let mut consortium = default_consortium(CHAIN_ID, now_ms() - 60_000, &mut rand_core::OsRng);
        // The archive's filer may anchor archive records (the default policy allows its
        // member to), so that two members can file under one document id.
        for filer in &mut consortium.genesis.filers {
            if filer.member == "archive" {
                filer.kinds = vec!["archive-record".to_owned()];
            }
        }
        change(&mut consortium.genesis);
        let trust_anchor = consortium.genesis.trust_anchor().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path(), consortium.genesis.clone()).unwrap();
        let app = Arc::new(App::new(ledger, limits, Arc::new(Metrics::new())));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let synced = Arc::new(AtomicBool::new(true));
        let options = ServeOptions::plaintext(&api, Arc::new(Metrics::new()));
        let service =
            LedgerService::new(Arc::clone(&app), api, "bureau", Arc::new(AtomicU32::new(3)))
                .with_synced(Arc::clone(&synced));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, service, options, async {
            let _ = stopped.await;
        }));
        Self {
            consortium,
            trust_anchor,
            app,
            synced,
            address,
            stop: Some(stop),
            server,
            _dir: dir,
        }
    }

    async fn client(&self) -> LedgerClient<Channel> {
        LedgerClient::connect(format!("http://{}", self.address))
            .await
            .unwrap()
    }

    /// Commits the waiting transactions (or an empty block) as the next block.
    fn commit(&self) -> Checkpoint {
        let proposer = self.consortium.validator_keys[0].1.public_key();
        let block = self.app.propose(now_ms(), proposer).unwrap();
        let keys: Vec<&SigningKey> = self.consortium.validator_keys[..3]
            .iter()
            .map(|(_, key)| key)
            .collect();
        let hash = block.hash(self.app.ledger().algorithm());
        let certificate = CommitCertificate::sign(CHAIN_ID, block.header.height, 0, hash, &keys);
        self.app.commit(&block, &certificate).unwrap().checkpoint
    }

    fn filer(&self, member: &str) -> &SigningKey {
        &self
            .consortium
            .filer_keys
            .iter()
            .find(|(m, _)| m == member)
            .unwrap()
            .1
    }

    /// Version 1 of `document_id` filed by `member`, with `content` as the document.
    fn body(&self, member: &str, kind: &str, document_id: &str, content: &str) -> AnchorBody {
        AnchorBody {
            chain_id: CHAIN_ID.to_owned(),
            filer: self.filer(member).public_key(),
            member: member.to_owned(),
            source_system: format!("{member}-filing-system"),
            captured_at_ms: now_ms(),
            project_id: PROJECT.to_owned(),
            document_id: document_id.to_owned(),
            document_version: 1,
            kind: kind.to_owned(),
            digest: self.app.ledger().algorithm().hash(content.as_bytes()),
            supersedes: None,
            claim: None,
        }
    }

    fn next_version(&self, previous: &AnchorBody, content: &str) -> AnchorBody {
        AnchorBody {
            document_version: previous.document_version + 1,
            digest: self.app.ledger().algorithm().hash(content.as_bytes()),
            supersedes: Some(previous.digest),
            ..previous.clone()
        }
    }

    /// `bodies` signed as one batch by `key`, as canonical transaction bytes.
    fn signed(&self, key: &SigningKey, bodies: Vec<AnchorBody>) -> Vec<u8> {
        let batch = SignedBatch::sign(self.app.ledger().algorithm(), bodies, key).unwrap();
        Transaction::Anchor(batch).to_canonical_bytes()
    }

    /// `bodies` signed by the filer of `member`.
    fn anchor(&self, member: &str, bodies: Vec<AnchorBody>) -> Vec<u8> {
        self.signed(self.filer(member), bodies)
    }

    fn revocation(&self, anchored: &AnchorBody, reason: &str) -> Vec<u8> {
        let body = RevocationBody {
            chain_id: CHAIN_ID.to_owned(),
            filer: anchored.filer,
            member: anchored.member.clone(),
            project_id: anchored.project_id.clone(),
            document_id: anchored.document_id.clone(),
            document_version: anchored.document_version,
            digest: anchored.digest,
            reason: reason.to_owned(),
            revoked_at_ms: now_ms(),
        };
        Transaction::Revoke(body.sign(self.filer(&anchored.member))).to_canonical_bytes()
    }

    /// Waits until `count` transactions wait in the mempool.
    async fn mempool_holds(&self, count: usize) {
        tokio::time::timeout(WAIT, async {
            while self.app.mempool().len() < count {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
    }

    /// Notarizes `tx` through `client`, commits it as the next block once it waits in the
    /// mempool, and returns the node's answer.
    async fn notarize_committed(
        &self,
        client: &LedgerClient<Channel>,
        tx: &[u8],
    ) -> pb::NotarizeResponse {
        let call = tokio::spawn({
            let mut client = client.clone();
            let tx = tx.to_vec();
            async move { client.notarize(notarize_request(tx)).await }
        });
        self.mempool_holds(1).await;
        self.commit();
        call.await.unwrap().unwrap().into_inner()
    }

    /// Signals shutdown and waits for the server to return.
    async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(WAIT, &mut self.server)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

fn transaction(bytes: Vec<u8>) -> Option<pb::Transaction> {
    Some(pb::Transaction { canonical: bytes })
}

fn submit_request(bytes: Vec<u8>) -> pb::SubmitRequest {
    pb::SubmitRequest {
        transaction: transaction(bytes),
    }
}

fn notarize_request(bytes: Vec<u8>) -> pb::NotarizeRequest {
    pb::NotarizeRequest {
        transaction: transaction(bytes),
        omit_json: false,
    }
}

fn receipt_request(by: ReceiptBy, at_height: u64) -> pb::GetReceiptRequest {
    pb::GetReceiptRequest {
        by: Some(by),
        at_height,
    }
}

/// The `ErrorInfo` reason of a status, checking its code and domain.
#[track_caller]
fn assert_status(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.domain, ERROR_DOMAIN);
    assert_eq!(info.reason, reason, "{status:?}");
}

/// Checks that the receipt's bytes and JSON agree and that it verifies offline for `digest`.
#[track_caller]
fn verified(receipt: &pb::Receipt, digest: &Digest, anchor: &TrustAnchor) -> Receipt {
    let parsed = Receipt::from_json(&receipt.json).unwrap();
    assert_eq!(parsed.entry.to_canonical_bytes(), receipt.entry);
    assert_eq!(
        parsed.inclusion_proof.to_canonical_bytes(),
        receipt.inclusion_proof
    );
    assert_eq!(
        parsed.checkpoint.header.to_canonical_bytes(),
        receipt.header
    );
    assert_eq!(
        parsed.checkpoint.certificate.to_canonical_bytes(),
        receipt.certificate
    );
    assert_eq!(parsed.entry.index, receipt.entry_index);
    assert_eq!(parsed.checkpoint.header.height, receipt.height);
    let verdict = verify_receipt(digest, &parsed, anchor).unwrap();
    assert_eq!(verdict.entry_index, receipt.entry_index);
    parsed
}

#[tokio::test(flavor = "multi_thread")]
async fn submitted_transactions_have_receipts_by_every_key_that_verify_offline() {
    let node = Node::start().await;
    let mut client = node.client().await;
    let body = node.body("bureau", DRAWING, "drawing-1", "drawing one");
    let tx = node.anchor("bureau", vec![body.clone()]);

    let tx_id = client
        .submit(submit_request(tx))
        .await
        .unwrap()
        .into_inner()
        .transaction_id;
    assert_eq!(tx_id.len(), 32);
    let waiting = client
        .get_receipt(receipt_request(ReceiptBy::TransactionId(tx_id.clone()), 0))
        .await
        .unwrap_err();
    assert_status(&waiting, Code::NotFound, "not-committed");

    node.commit();
    let digest = body.digest;
    for by in [
        ReceiptBy::TransactionId(tx_id.clone()),
        ReceiptBy::DocumentDigest(digest.to_canonical_bytes()),
        ReceiptBy::EntryIndex(0),
    ] {
        let receipt = client
            .get_receipt(receipt_request(by, 0))
            .await
            .unwrap()
            .into_inner()
            .receipt
            .unwrap();
        assert_eq!((receipt.entry_index, receipt.height), (0, 1));
        verified(&receipt, &digest, &node.trust_anchor);
    }

    // Later blocks: 0 proves against the latest checkpoint, a height against that one.
    node.commit();
    let same_content = node.body("bureau", DRAWING, "drawing-1-copy", "drawing one");
    client
        .submit(submit_request(node.anchor("bureau", vec![same_content])))
        .await
        .unwrap();
    node.commit();
    for (at_height, expected) in [(0, 3), (1, 1), (2, 2), (3, 3)] {
        let receipt = client
            .get_receipt(receipt_request(ReceiptBy::EntryIndex(0), at_height))
            .await
            .unwrap()
            .into_inner()
            .receipt
            .unwrap();
        assert_eq!(receipt.height, expected);
        verified(&receipt, &digest, &node.trust_anchor);
    }
    // The digest's latest entry is the copy filed in block 3.
    let latest = client
        .get_receipt(receipt_request(
            ReceiptBy::DocumentDigest(digest.to_canonical_bytes()),
            0,
        ))
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    assert_eq!(latest.entry_index, 1);
    verified(&latest, &digest, &node.trust_anchor);

    // Entry 1 was sequenced at height 3: no receipt against height 2; nothing at height 9.
    let early = client
        .get_receipt(receipt_request(ReceiptBy::EntryIndex(1), 2))
        .await
        .unwrap_err();
    assert_status(&early, Code::InvalidArgument, "out-of-range");
    let future = client
        .get_receipt(receipt_request(ReceiptBy::EntryIndex(0), 9))
        .await
        .unwrap_err();
    assert_status(&future, Code::NotFound, "not-found");
    node.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn notarize_answers_with_a_receipt_per_document_and_again_when_resubmitted() {
    let node = Node::start().await;
    let bodies = vec![
        node.body("bureau", DRAWING, "drawing-1", "one"),
        node.body("bureau", "inspection-report", "report-1", "two"),
    ];
    let tx = node.anchor("bureau", bodies.clone());
    let mut client = node.client().await;
    let response = node.notarize_committed(&client, &tx).await;
    assert_eq!(response.transaction_id.len(), 32);
    assert_eq!(response.receipts.len(), 2);
    for (position, (receipt, body)) in response.receipts.iter().zip(&bodies).enumerate() {
        assert_eq!(receipt.entry_index, position as u64);
        let parsed = verified(receipt, &body.digest, &node.trust_anchor);
        assert_eq!(parsed.entry.anchor().unwrap().body, *body);
    }

    // The same transaction again: the same answer, not a replay error.
    let again = client
        .notarize(notarize_request(tx.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, response);

    // A batch's receipts are built in one pass (shared hand-offs, filer evidence and log
    // nodes); each is the receipt the node gives for that entry alone at that height.
    for receipt in &response.receipts {
        let alone = client
            .get_receipt(receipt_request(
                ReceiptBy::EntryIndex(receipt.entry_index),
                receipt.height,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(alone.receipt.as_ref(), Some(receipt));
    }

    // Asked without the JSON files: the same receipts, field for field, but the JSON.
    let binary = client
        .notarize(pb::NotarizeRequest {
            omit_json: true,
            ..notarize_request(tx)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(binary.receipts.len(), response.receipts.len());
    for (binary, full) in binary.receipts.iter().zip(&response.receipts) {
        assert!(binary.json.is_empty());
        assert_eq!(
            pb::Receipt {
                json: full.json.clone(),
                ..binary.clone()
            },
            *full
        );
    }
    node.shut_down().await;
}

/// A transaction above the node's inline limit ([`INLINE_TRANSACTION_BYTES`]) is admitted and
/// its receipts read on the blocking pool, a small one on the API's worker: both get the same
/// kind of answer.
#[tokio::test(flavor = "multi_thread")]
async fn small_and_large_transactions_are_answered_alike() {
    let node = Node::start().await;
    let mut client = node.client().await;
    let small = vec![node.body("bureau", DRAWING, "small-1", "small")];
    let large: Vec<AnchorBody> = (0..64)
        .map(|i| {
            node.body(
                "bureau",
                DRAWING,
                &format!("large-{i}"),
                &format!("large {i}"),
            )
        })
        .collect();
    for (bodies, above_limit) in [(small, false), (large, true)] {
        let tx = node.anchor("bureau", bodies.clone());
        assert_eq!(
            tx.len() > INLINE_TRANSACTION_BYTES,
            above_limit,
            "{} bytes",
            tx.len()
        );
        let response = node.notarize_committed(&client, &tx).await;
        assert_eq!(response.receipts.len(), bodies.len(), "{} bytes", tx.len());
        for (receipt, body) in response.receipts.iter().zip(&bodies) {
            let parsed = verified(receipt, &body.digest, &node.trust_anchor);
            assert_eq!(parsed.entry.anchor().unwrap().body, *body);
        }
        // Submitted again (the admission check, on the same side of the limit, finds it
        // committed): the same answer.
        let again = client.notarize(notarize_request(tx)).await.unwrap();
        assert_eq!(again.into_inner(), response);
    }
    node.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_a_rule_refuses_at_commit_is_answered_with_the_rule() {
    let node = Node::start().await;
    // Two version-1 anchors of one document: each is admissible alone; in the block the
    // second finds version 1 taken.
    let first = node.anchor("bureau", vec![node.body("bureau", DRAWING, "d-9", "a")]);
    let second = node.anchor("bureau", vec![node.body("bureau", DRAWING, "d-9", "b")]);
    let client = node.client().await;
    let notarize = |tx: Vec<u8>| {
        let mut client = client.clone();
        tokio::spawn(async move { client.notarize(notarize_request(tx)).await })
    };
    let first_call = notarize(first);
    node.mempool_holds(1).await;
    let second_call = notarize(second.clone());
    node.mempool_holds(2).await;
    node.commit();
    assert_eq!(
        first_call
            .await
            .unwrap()
            .unwrap()
            .into_inner()
            .receipts
            .len(),
        1
    );
    let refused = second_call.await.unwrap().unwrap_err();
    assert_status(&refused, Code::InvalidArgument, "version-conflict");
    assert!(refused.message().contains("d-9"), "{}", refused.message());
    let tx_id = refused
        .get_details_error_info()
        .unwrap()
        .metadata
        .get("transaction_id")
        .cloned()
        .unwrap();

    // Asked again, by Notarize or GetReceipt, the answer is the same; Submit sees a replay.
    let mut client = client.clone();
    let again = client
        .notarize(notarize_request(second.clone()))
        .await
        .unwrap_err();
    assert_status(&again, Code::InvalidArgument, "version-conflict");
    let by_id = client
        .get_receipt(receipt_request(
            ReceiptBy::TransactionId(hex::decode(tx_id).unwrap()),
            0,
        ))
        .await
        .unwrap_err();
    assert_status(&by_id, Code::InvalidArgument, "version-conflict");
    let replayed = client.submit(submit_request(second)).await.unwrap_err();
    assert_status(&replayed, Code::FailedPrecondition, "replayed");
    node.shut_down().await;
}

/// Transactions relayed by another member's node: what no block may carry (malformed bytes,
/// a forged signature, an unknown filer, a replay) is refused; one that only breaks a rule
/// waits, and its block refuses it with the rule a submission would have been told.
#[tokio::test(flavor = "multi_thread")]
async fn relayed_transactions_are_checked_up_to_the_rules_and_their_block_runs_them() {
    let node = Node::start().await;
    let mut client = node.client().await;
    let first_body = node.body("bureau", DRAWING, "d-7", "a");
    let first = node.anchor("bureau", vec![first_body]);
    client.submit(submit_request(first.clone())).await.unwrap();
    node.commit();

    let mut forged = node.anchor("bureau", vec![node.body("bureau", DRAWING, "d-8", "a")]);
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    let stranger = SigningKey::generate();
    let mut unknown_body = node.body("bureau", DRAWING, "d-8", "a");
    unknown_body.filer = stranger.public_key();
    let unknown = node.signed(&stranger, vec![unknown_body]);
    assert!(matches!(
        node.app.submit_relayed(unknown.clone()),
        Err(AdmitError::Rejected(TxError::UnknownFiler(key))) if key == stranger.public_key()
    ));
    // Version 1 of d-7 again, with other content: a submission is told of the conflict.
    let conflicting = node.anchor("bureau", vec![node.body("bureau", DRAWING, "d-7", "b")]);
    let refused = client
        .submit(submit_request(conflicting.clone()))
        .await
        .unwrap_err();
    assert_status(&refused, Code::InvalidArgument, "version-conflict");
    let good_body = node.body("bureau", DRAWING, "d-9", "c");
    let good = node.anchor("bureau", vec![good_body.clone()]);
    let id = |bytes: &[u8]| {
        Transaction::from_canonical_bytes(bytes)
            .unwrap()
            .id(node.app.ledger().algorithm())
            .unwrap()
    };
    let (conflict_id, good_id) = (id(&conflicting), id(&good));
    let refused_before = node.app.metrics().admission_refused.get();

    let relayed = |bytes: Vec<u8>| pb::Transaction { canonical: bytes };
    let response = client
        .relay(pb::RelayRequest {
            transactions: vec![
                relayed(first[..first.len() / 2].to_vec()),
                relayed(forged),
                relayed(unknown),
                relayed(first),
                relayed(conflicting.clone()),
                relayed(good),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.admitted, 2, "the rule-breaker and the good one");
    assert_eq!(
        node.app.metrics().admission_refused.get() - refused_before,
        4,
        "malformed, forged, unknown filer, replayed"
    );
    assert_eq!(node.app.mempool().len(), 2);
    assert!(node.app.mempool().contains(&conflict_id) && node.app.mempool().contains(&good_id));

    let checkpoint = node.commit();
    assert_eq!(
        checkpoint.header.log_size, 2,
        "one entry more: the good one"
    );
    let status = client
        .get_receipt(receipt_request(
            ReceiptBy::TransactionId(conflict_id.bytes.to_vec()),
            0,
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, "version-conflict");
    let receipt = client
        .get_receipt(receipt_request(
            ReceiptBy::DocumentDigest(good_body.digest.to_canonical_bytes()),
            0,
        ))
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    verified(&receipt, &good_body.digest, &node.trust_anchor);
    assert!(node.app.mempool().is_empty());
    node.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_carry_the_status_codes_and_reasons_of_the_contract() {
    let node = Node::start().await;
    let mut client = node.client().await;

    for garbage in [vec![], vec![1, 2, 3], vec![0xff; 100]] {
        let status = client
            .submit(submit_request(garbage.clone()))
            .await
            .unwrap_err();
        assert_status(&status, Code::InvalidArgument, "malformed");
        let status = client
            .notarize(notarize_request(garbage))
            .await
            .unwrap_err();
        assert_status(&status, Code::InvalidArgument, "malformed");
    }
    let missing = client
        .submit(pb::SubmitRequest { transaction: None })
        .await
        .unwrap_err();
    assert_status(&missing, Code::InvalidArgument, "malformed");

    // A key no genesis knows.
    let stranger = SigningKey::generate_with(&mut rand_core::OsRng);
    let mut body = node.body("bureau", DRAWING, "d-1", "x");
    body.filer = stranger.public_key();
    let status = client
        .submit(submit_request(node.signed(&stranger, vec![body])))
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "unknown-filer");

    // Finance may not anchor completion drawings.
    let status = client
        .submit(submit_request(node.anchor(
            "finance",
            vec![node.body("finance", DRAWING, "d-2", "y")],
        )))
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::PermissionDenied,
        "kind-not-allowed-for-member",
    );

    // A committed transaction submitted again.
    let tx = node.anchor("bureau", vec![node.body("bureau", DRAWING, "d-3", "z")]);
    client.submit(submit_request(tx.clone())).await.unwrap();
    node.commit();
    let status = client.submit(submit_request(tx)).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "replayed");

    // Malformed and unknown keys.
    for (request, code, reason) in [
        (
            receipt_request(ReceiptBy::EntryIndex(99), 0),
            Code::NotFound,
            "not-found",
        ),
        (
            receipt_request(ReceiptBy::TransactionId(vec![7; 32]), 0),
            Code::NotFound,
            "not-found",
        ),
        (
            receipt_request(ReceiptBy::TransactionId(vec![7; 31]), 0),
            Code::InvalidArgument,
            "malformed",
        ),
        (
            receipt_request(ReceiptBy::DocumentDigest(vec![1; 32]), 0),
            Code::InvalidArgument,
            "malformed",
        ),
        (
            receipt_request(ReceiptBy::DocumentDigest(vec![99; 33]), 0),
            Code::InvalidArgument,
            "malformed",
        ),
        (
            pb::GetReceiptRequest {
                by: None,
                at_height: 0,
            },
            Code::InvalidArgument,
            "malformed",
        ),
    ] {
        let status = client.get_receipt(request).await.unwrap_err();
        assert_status(&status, code, reason);
    }
    let unknown_digest = node.app.ledger().algorithm().hash(b"never filed");
    let status = client
        .get_receipt(receipt_request(
            ReceiptBy::DocumentDigest(unknown_digest.to_canonical_bytes()),
            0,
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "not-found");
    let status = client
        .lookup(pb::LookupRequest::default())
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, "malformed");
    let status = client
        .get_checkpoint(pb::GetCheckpointRequest { height: 99 })
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "not-found");
    node.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_transactions_and_messages_are_refused_and_the_server_goes_on() {
    let api = ApiSection {
        max_message_bytes: 64 << 10,
        ..ApiSection::default()
    };
    let node = Node::start_with(AppLimits::default(), api, |genesis| {
        genesis.policy.limits.transaction_bytes_max = 1024;
    })
    .await;
    let mut client = node.client().await;
    let status = client
        .submit(submit_request(vec![0; 2000]))
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, "too-large");
    // Past the gRPC message limit the transport refuses it before the service sees it.
    let status = client
        .submit(submit_request(vec![0; 100 << 10]))
        .await
        .unwrap_err();
    assert_ne!(status.code(), Code::Ok);
    client.status(pb::StatusRequest {}).await.unwrap();
    node.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_mempool_answers_busy() {
    let limits = AppLimits {
        mempool: MempoolLimits {
            transactions: 1,
            bytes: 1 << 20,
        },
        ..AppLimits::default()
    };
    let node = Node::start_with(limits, ApiSection::default(), |_| {}).await;
    let mut client = node.client().await;
    let first = node.anchor("bureau", vec![node.body("bureau", DRAWING, "a", "a")]);
    let second = node.anchor("bureau", vec![node.body("bureau", DRAWING, "b", "b")]);
    client.submit(submit_request(first)).await.unwrap();
    let status = client
        .submit(submit_request(second.clone()))
        .await
        .unwrap_err();
    assert_status(&status, Code::ResourceExhausted, "busy");
    let status = client
        .notarize(notarize_request(second.clone()))
        .await
        .unwrap_err();
    assert_status(&status, Code::ResourceExhausted, "busy");
    node.commit();
    client.submit(submit_request(second)).await.unwrap();
    node.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn notarize_gives_up_at_the_deadline_and_the_receipt_comes_later() {
    let api = ApiSection {
        notarize_timeout_ms: 200,
        ..ApiSection::default()
    };
    let node = Node::start_with(AppLimits::default(), api, |_| {}).await;
    let mut client = node.client().await;
    let body = node.body("bureau", DRAWING, "late", "late");
    let tx = node.anchor("bureau", vec![body.clone()]);

    // The caller's deadline.
    let mut request = Request::new(notarize_request(tx.clone()));
    request.set_timeout(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let status = client.notarize(request).await.unwrap_err();
    assert_status(&status, Code::DeadlineExceeded, "deadline-exceeded");
    assert!(started.elapsed() < Duration::from_secs(2));
    let tx_id = status
        .get_details_error_info()
        .unwrap()
        .metadata
        .get("transaction_id")
        .cloned()
        .unwrap();

    // No deadline: the node's default.
    let status = client.notarize(notarize_request(tx)).await.unwrap_err();
    assert_status(&status, Code::DeadlineExceeded, "deadline-exceeded");

    node.commit();
    let receipt = client
        .get_receipt(receipt_request(
            ReceiptBy::TransactionId(hex::decode(tx_id).unwrap()),
            0,
        ))
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    verified(&receipt, &body.digest, &node.trust_anchor);
    node.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_and_consistency_proofs_verify_against_genesis() {
    let node = Node::start().await;
    let mut client = node.client().await;
    let status = client
        .get_checkpoint(pb::GetCheckpointRequest { height: 0 })
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "not-found");
    let status = client
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            old_size: 1,
            new_size: 1,
        })
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, "out-of-range");

    // Log sizes after each block: 1, 3, 3, 4.
    let mut checkpoints = Vec::new();
    for documents in [1, 2, 0, 1] {
        if documents > 0 {
            let bodies = (0..documents)
                .map(|i| {
                    let id = format!("d-{}-{i}", checkpoints.len());
                    node.body("bureau", DRAWING, &id, &id)
                })
                .collect();
            node.app.submit(node.anchor("bureau", bodies)).unwrap();
        }
        checkpoints.push(node.commit());
    }
    let latest = client
        .get_checkpoint(pb::GetCheckpointRequest { height: 0 })
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    assert_eq!((latest.height, latest.log_size), (4, 4));
    for (height, expected) in (1..).zip(&checkpoints) {
        let message = client
            .get_checkpoint(pb::GetCheckpointRequest { height })
            .await
            .unwrap()
            .into_inner()
            .checkpoint
            .unwrap();
        let parsed = Checkpoint::from_json(&message.json).unwrap();
        assert_eq!(parsed, *expected);
        assert_eq!(parsed.header.to_canonical_bytes(), message.header);
        assert_eq!(parsed.certificate.to_canonical_bytes(), message.certificate);
        assert_eq!(message.log_size, expected.header.log_size);
        parsed.verify(&node.trust_anchor).unwrap();
    }

    let head = |size: u64| {
        checkpoints
            .iter()
            .find(|c| c.header.log_size == size)
            .map(|c| TreeHead::new(size, c.header.log_root.bytes))
    };
    let algorithm = node.app.ledger().algorithm();
    for (old_size, new_size, proven_new) in [
        (1, 3, 3),
        (1, 4, 4),
        (3, 4, 4),
        (2, 3, 3),
        (4, 4, 4),
        (1, 0, 4),
        (1, 2, 2),
    ] {
        let response = client
            .get_consistency_proof(pb::GetConsistencyProofRequest { old_size, new_size })
            .await
            .unwrap()
            .into_inner();
        let proof = ConsistencyProof::from_canonical_bytes(&response.proof).unwrap();
        assert_eq!((proof.old_size, proof.new_size), (old_size, proven_new));
        match head(proven_new) {
            Some(new_head) => {
                let checkpoint = response.new_checkpoint.unwrap();
                assert_eq!(checkpoint.log_size, proven_new);
                let parsed = Checkpoint::from_json(&checkpoint.json).unwrap();
                parsed.verify(&node.trust_anchor).unwrap();
                assert_eq!(parsed.header.log_root.bytes, new_head.root);
                if let Some(old_head) = head(old_size) {
                    verify_consistency(algorithm, &proof, &old_head, &new_head).unwrap();
                }
            }
            // Size 2 is no checkpoint's log size.
            None => assert!(response.new_checkpoint.is_none()),
        }
    }
    // The lowest height with log size 3 is 2 (block 3 appended nothing).
    let response = client
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            old_size: 1,
            new_size: 3,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.new_checkpoint.unwrap().height, 2);

    for (old_size, new_size) in [(0, 1), (3, 2), (1, 5), (5, 0)] {
        let status = client
            .get_consistency_proof(pb::GetConsistencyProofRequest { old_size, new_size })
            .await
            .unwrap_err();
        assert_status(&status, Code::InvalidArgument, "out-of-range");
    }
    node.shut_down().await;
}

fn indexes(response: &pb::LookupResponse) -> Vec<u64> {
    response
        .results
        .iter()
        .map(|r| r.receipt.as_ref().unwrap().entry_index)
        .collect()
}

/// A version's status in one word, as the node reports it: revoked (perhaps superseded too),
/// superseded, or current.
#[derive(Debug, Clone, PartialEq)]
enum VersionState {
    Current,
    Superseded(pb::version_status::Superseded),
    Revoked(pb::version_status::Revoked),
}

fn state(result: &pb::LookupResult) -> Option<VersionState> {
    result
        .status
        .as_ref()
        .map(|s| match (&s.revoked, &s.superseded) {
            (Some(revoked), _) => VersionState::Revoked(revoked.clone()),
            (None, Some(superseded)) => VersionState::Superseded(superseded.clone()),
            (None, None) => VersionState::Current,
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_beyond_the_bounds_are_shed_at_once_and_the_node_keeps_serving() {
    let api = ApiSection {
        calls_max: 1,
        checkpoint_subscribers_max: 2,
        ..ApiSection::default()
    };
    let node = Node::start_with(AppLimits::default(), api, |_| {}).await;
    let mut client = node.client().await;

    // Subscribers that never read hold their streams; one more than the cap is refused.
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(
            client
                .stream_checkpoints(pb::StreamCheckpointsRequest { from_height: 1 })
                .await
                .unwrap(),
        );
    }
    let status = client
        .stream_checkpoints(pb::StreamCheckpointsRequest { from_height: 1 })
        .await
        .unwrap_err();
    assert_status(&status, Code::ResourceExhausted, "busy");

    // A Notarize waiting for its block holds the one place for calls: the next call is shed
    // at once (busy, which clients retry), and served again once the place is free.
    let tx = node.anchor(
        "bureau",
        vec![node.body("bureau", DRAWING, "held", "held content")],
    );
    let mut waiting_client = client.clone();
    let waiting = tokio::spawn(async move {
        waiting_client
            .notarize(pb::NotarizeRequest {
                transaction: Some(pb::Transaction { canonical: tx }),
                omit_json: false,
            })
            .await
    });
    let deadline = tokio::time::Instant::now() + WAIT;
    while node.app.mempool().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the notarize call arrives"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = client.status(pb::StatusRequest {}).await.unwrap_err();
    assert_status(&status, Code::ResourceExhausted, "busy");
    node.commit();
    let answer = waiting.await.unwrap().unwrap().into_inner();
    assert_eq!(answer.receipts.len(), 1);
    client.status(pb::StatusRequest {}).await.unwrap();
    drop(held);
    node.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lookup_answers_fit_stock_grpc_clients_and_page_through_everything() {
    let node = Node::start().await;
    // 1,500 documents of one project: a full page of 1,000 receipts would be over 4 MB.
    let bodies: Vec<AnchorBody> = (0..1_500)
        .map(|i| {
            node.body(
                "bureau",
                DRAWING,
                &format!("drawing-{i:04}"),
                &format!("content {i}"),
            )
        })
        .collect();
    node.app.submit(node.anchor("bureau", bodies)).unwrap();
    node.commit();
    // The 4 MiB receive limit that stock gRPC clients in Java, Python and Go apply.
    let mut client = node
        .client()
        .await
        .max_decoding_message_size(4 * 1024 * 1024);
    let mut token = Vec::new();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let response = client
            .lookup(pb::LookupRequest {
                by: Some(LookupBy::ProjectId(PROJECT.to_owned())),
                page_token: token,
                limit: 0,
            })
            .await
            .expect("every page fits 4 MiB")
            .into_inner();
        assert!(prost::Message::encoded_len(&response) <= 3_584 * 1024);
        pages += 1;
        if pages == 1 {
            assert!(
                response.results.len() < 1_000 && response.more,
                "the first page is cut by bytes, not by the count limit: {}",
                response.results.len()
            );
        }
        seen.extend(indexes(&response));
        if !response.more {
            break;
        }
        token = response.next_page_token;
    }
    assert_eq!(
        seen,
        (0..1_500).collect::<Vec<u64>>(),
        "every entry once, in order"
    );
    node.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lookup_finds_versions_across_members_with_their_status() {
    let api = ApiSection {
        lookup_limit: 3,
        ..ApiSection::default()
    };
    let node = Node::start_with(AppLimits::default(), api, |_| {}).await;
    let mut client = node.client().await;
    let drawing_v1 = node.body("bureau", DRAWING, "doc-1", "doc-1 v1");
    let other = node.body("bureau", DRAWING, "doc-2", "doc-2 v1");
    let archived = node.body("archive", "archive-record", "doc-1", "archive's doc-1");
    // Block 1: entries 0 and 1 (bureau's batch), 2 (the archive's doc-1).
    node.app
        .submit(node.anchor("bureau", vec![drawing_v1.clone(), other.clone()]))
        .unwrap();
    node.app
        .submit(node.anchor("archive", vec![archived.clone()]))
        .unwrap();
    node.commit();
    // Block 2: entry 3 (doc-1 version 2), entry 4 (doc-2 revoked).
    let drawing_v2 = node.next_version(&drawing_v1, "doc-1 v2");
    node.app
        .submit(node.anchor("bureau", vec![drawing_v2.clone()]))
        .unwrap();
    node.app
        .submit(node.revocation(&other, "filed in error"))
        .unwrap();
    node.commit();

    let lookup = |by: LookupBy, page_token: Vec<u8>, limit: u32| pb::LookupRequest {
        by: Some(by),
        page_token,
        limit,
    };
    let doc_1 = || {
        LookupBy::Document(pb::DocumentRef {
            project_id: PROJECT.to_owned(),
            document_id: "doc-1".to_owned(),
        })
    };
    let response = client
        .lookup(lookup(doc_1(), vec![], 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(indexes(&response), [0, 2, 3]);
    assert!(!response.more);
    assert!(
        matches!(
            state(&response.results[0]),
            Some(VersionState::Superseded(pb::version_status::Superseded {
                by_version: 2,
                ref by_digest,
                height,
            })) if *by_digest == drawing_v2.digest.to_canonical_bytes() && height > 0
        ),
        "{:?}",
        state(&response.results[0])
    );
    assert!(matches!(
        state(&response.results[1]),
        Some(VersionState::Current)
    ));
    assert!(matches!(
        state(&response.results[2]),
        Some(VersionState::Current)
    ));
    for (result, body) in response
        .results
        .iter()
        .zip([&drawing_v1, &archived, &drawing_v2])
    {
        verified(
            result.receipt.as_ref().unwrap(),
            &body.digest,
            &node.trust_anchor,
        );
    }

    let doc_2 = LookupBy::Document(pb::DocumentRef {
        project_id: PROJECT.to_owned(),
        document_id: "doc-2".to_owned(),
    });
    let response = client
        .lookup(lookup(doc_2, vec![], 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(indexes(&response), [1, 4]);
    assert!(
        matches!(
            state(&response.results[0]),
            Some(VersionState::Revoked(pb::version_status::Revoked {
                ref reason,
                revocation_entry_index: 4,
                height,
            })) if reason == "filed in error" && height > 0
        ),
        "{:?}",
        state(&response.results[0])
    );
    // The revocation is an entry of the lineage without a version status of its own.
    assert_eq!(state(&response.results[1]), None);
    let revocation = response.results[1].receipt.as_ref().unwrap();
    Receipt::from_json(&revocation.json)
        .unwrap()
        .checkpoint
        .verify(&node.trust_anchor)
        .unwrap();

    let by_digest = LookupBy::DocumentDigest(drawing_v1.digest.to_canonical_bytes());
    let response = client
        .lookup(lookup(by_digest, vec![], 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(indexes(&response), [0]);
    let never = LookupBy::DocumentDigest(
        node.app
            .ledger()
            .algorithm()
            .hash(b"never filed")
            .to_canonical_bytes(),
    );
    let response = client
        .lookup(lookup(never, vec![], 0))
        .await
        .unwrap()
        .into_inner();
    assert!(response.results.is_empty() && !response.more);

    // A project's entries, paged by the token each answer gives; the node caps the page at
    // its lookup limit (3).
    let project = || LookupBy::ProjectId(PROJECT.to_owned());
    for (limit, pages) in [
        (2, vec![vec![0, 1], vec![2, 3], vec![4]]),
        (0, vec![vec![0, 1, 2], vec![3, 4]]),
        (100, vec![vec![0, 1, 2], vec![3, 4]]),
        (1, vec![vec![0], vec![1], vec![2], vec![3], vec![4]]),
    ] {
        let mut token = Vec::new();
        for (i, expected) in pages.iter().enumerate() {
            let response = client
                .lookup(lookup(project(), token.clone(), limit))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(&indexes(&response), expected, "limit {limit} page {i}");
            let last = i + 1 == pages.len();
            assert_eq!(response.more, !last, "limit {limit} page {i}");
            assert_eq!(response.next_page_token.is_empty(), last);
            token = response.next_page_token;
        }
    }
    // A token of another query, or one that is no token, is refused.
    let first = client
        .lookup(lookup(project(), vec![], 1))
        .await
        .unwrap()
        .into_inner();
    for token in [first.next_page_token.clone(), b"offset=1".to_vec()] {
        let status = client.lookup(lookup(doc_1(), token, 1)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("page_token"), "{status:?}");
    }
    node.shut_down().await;
}

async fn next_height(
    stream: &mut tonic::Streaming<pb::Checkpoint>,
    trust_anchor: &TrustAnchor,
) -> u64 {
    let checkpoint = tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("a checkpoint in time")
        .unwrap()
        .expect("the stream stays open");
    Checkpoint::from_json(&checkpoint.json)
        .unwrap()
        .verify(trust_anchor)
        .unwrap();
    checkpoint.height
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_stream_from_the_store_then_live_and_survive_a_slow_reader() {
    let node = Node::start().await;
    let mut client = node.client().await;
    node.commit();
    node.commit();
    let mut from_one = client
        .stream_checkpoints(pb::StreamCheckpointsRequest { from_height: 1 })
        .await
        .unwrap()
        .into_inner();
    let mut from_next = client
        .stream_checkpoints(pb::StreamCheckpointsRequest { from_height: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_height(&mut from_one, &node.trust_anchor).await, 1);
    assert_eq!(next_height(&mut from_one, &node.trust_anchor).await, 2);
    node.commit();
    assert_eq!(next_height(&mut from_one, &node.trust_anchor).await, 3);
    assert_eq!(next_height(&mut from_next, &node.trust_anchor).await, 3);

    // A reader that does not read while more blocks commit than the live channel holds
    // still gets every checkpoint, in order. Its connection's flow-control window is the
    // HTTP/2 minimum, so the node cannot push the checkpoints into it ahead of the reader.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", node.address))
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let mut slow = LedgerClient::new(channel)
        .stream_checkpoints(pb::StreamCheckpointsRequest { from_height: 4 })
        .await
        .unwrap()
        .into_inner();
    for _ in 0..600 {
        node.commit();
    }
    for expected in 4..=603 {
        assert_eq!(next_height(&mut slow, &node.trust_anchor).await, expected);
    }
    assert_eq!(next_height(&mut from_next, &node.trust_anchor).await, 4);
    node.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_the_node_and_writes_wait_while_it_catches_up() {
    let node = Node::start().await;
    let mut client = node.client().await;
    node.app
        .submit(node.anchor("bureau", vec![node.body("bureau", DRAWING, "s", "s")]))
        .unwrap();
    node.commit();
    node.app
        .submit(node.anchor("bureau", vec![node.body("bureau", DRAWING, "t", "t")]))
        .unwrap();
    let status = client
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let genesis = &node.consortium.genesis;
    assert_eq!(
        status,
        pb::StatusResponse {
            chain_id: CHAIN_ID.to_owned(),
            genesis_hash: genesis.hash().to_canonical_bytes(),
            member: "bureau".to_owned(),
            height: 1,
            log_size: 1,
            mempool_depth: 1,
            mempool_capacity: MempoolLimits::default().transactions as u64,
            peers: 3,
            synced: true,
        }
    );

    node.synced.store(false, Ordering::Relaxed);
    let tx = node.anchor("bureau", vec![node.body("bureau", DRAWING, "u", "u")]);
    let refused = client.submit(submit_request(tx.clone())).await.unwrap_err();
    assert_status(&refused, Code::Unavailable, "catching-up");
    let refused = client.notarize(notarize_request(tx)).await.unwrap_err();
    assert_status(&refused, Code::Unavailable, "catching-up");
    assert!(
        !client
            .status(pb::StatusRequest {})
            .await
            .unwrap()
            .into_inner()
            .synced
    );
    client
        .get_receipt(receipt_request(ReceiptBy::EntryIndex(0), 0))
        .await
        .unwrap();
    node.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_on_the_port_costs_only_its_own_connection() {
    let node = Node::start().await;
    let address = node.address;
    tokio::task::spawn_blocking(move || {
        let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7919 % 251) as u8).collect();
        let prefaced = [
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".as_slice(),
            &[0, 0, 4, 0xff, 0xff, 0, 0, 0, 1, 1, 2, 3, 4],
        ]
        .concat();
        for bytes in [
            garbage.as_slice(),
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            &prefaced,
        ] {
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            stream.set_read_timeout(Some(WAIT)).unwrap();
            // The server may close while we still write; either is fine.
            let _ = stream.write_all(bytes);
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink);
        }
    })
    .await
    .unwrap();
    // A connection that sends nothing stays open beside a normal call, and does not hold
    // up shutdown for longer than the grace period.
    let idle = std::net::TcpStream::connect(address).unwrap();
    let mut client = node.client().await;
    let status = client
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.chain_id, CHAIN_ID);
    node.shut_down().await;
    drop(idle);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_ends_waiting_calls_and_streams() {
    let api = ApiSection {
        notarize_timeout_ms: 60_000,
        ..ApiSection::default()
    };
    let node = Node::start_with(AppLimits::default(), api, |_| {}).await;
    let client = node.client().await;
    let mut stream = client
        .clone()
        .stream_checkpoints(pb::StreamCheckpointsRequest { from_height: 0 })
        .await
        .unwrap()
        .into_inner();
    let tx = node.anchor("bureau", vec![node.body("bureau", DRAWING, "w", "w")]);
    let waiting = tokio::spawn({
        let mut client = client.clone();
        async move { client.notarize(notarize_request(tx)).await }
    });
    node.mempool_holds(1).await;
    node.shut_down().await;
    let status = waiting.await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let end = tokio::time::timeout(WAIT, stream.message()).await.unwrap();
    assert!(!matches!(end, Ok(Some(_))), "{end:?}");
}

/// A filer key's life through the API: a genesis filer as genesis lists it; a key the bureau
/// registers on the ledger, answered with the receipt of its registration, that files from
/// the next block; its revocation, answered with its receipt, after which the key is refused
/// at admission. Unknown and malformed keys are refused with their reasons.
#[tokio::test(flavor = "multi_thread")]
async fn get_filer_follows_a_filer_key_from_registration_to_revocation() {
    use evidence_core::entry::Record;
    use evidence_core::governance::{
        FilerRegistration, FilerRevocation, GovernanceAction, GovernanceBody,
    };
    let node = Node::start().await;
    let mut client = node.client().await;
    let get = |key: Vec<u8>| pb::GetFilerRequest { public_key: key };

    let bureau = node.filer("bureau").public_key();
    let genesis_filer = client
        .get_filer(get(bureau.to_canonical_bytes()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(genesis_filer.member, "bureau");
    assert_eq!(genesis_filer.name, "bureau-filing-system");
    assert_eq!(genesis_filer.registered_height, 0);
    assert!(genesis_filer.registration.is_none() && genesis_filer.revocation.is_none());

    let scanner = SigningKey::from_seed(&[0x5c; 32]);
    let status = client
        .get_filer(get(scanner.public_key().to_canonical_bytes()))
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "not-found");
    let status = client.get_filer(get(vec![1, 2, 3])).await.unwrap_err();
    assert_status(&status, Code::InvalidArgument, "malformed");

    let governance = node.consortium.governance_key("bureau").unwrap().clone();
    let govern = |action: GovernanceAction| {
        Transaction::governance(
            GovernanceBody {
                chain_id: CHAIN_ID.to_owned(),
                member: "bureau".to_owned(),
                signer: governance.public_key(),
                issued_at_ms: now_ms(),
                action,
            }
            .sign(&governance),
        )
        .to_canonical_bytes()
    };
    client
        .submit(submit_request(govern(GovernanceAction::RegisterFiler(
            FilerRegistration {
                name: "bureau-site-scanner".to_owned(),
                public_key: scanner.public_key(),
                kinds: vec![DRAWING.to_owned()],
                source_system: "site-scanner".to_owned(),
            },
        ))))
        .await
        .unwrap();
    let registered_at = node.commit().header.height;
    let answer = client
        .get_filer(get(scanner.public_key().to_canonical_bytes()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.member, "bureau");
    assert_eq!(answer.source_system, "site-scanner");
    assert_eq!(answer.registered_height, registered_at);
    let registration = Receipt::from_json(&answer.registration.unwrap().json).unwrap();
    assert!(matches!(&registration.entry.record, Record::Governance(g)
            if matches!(&g.body.action, GovernanceAction::RegisterFiler(r)
                if r.public_key == scanner.public_key())));
    evidence_core::receipt::verify_inclusion(&registration, node.app.ledger().algorithm()).unwrap();

    // From the next block the scanner files.
    let mut body = node.body("bureau", DRAWING, "dwg-site-1", "scanned on site");
    body.filer = scanner.public_key();
    body.source_system = "site-scanner".to_owned();
    client
        .submit(submit_request(node.signed(&scanner, vec![body.clone()])))
        .await
        .unwrap();
    let filed = node.commit();
    assert_eq!(filed.header.log_size, 2, "the scanner's drawing is entry 1");

    // The bureau revokes it from the next height on.
    client
        .submit(submit_request(govern(GovernanceAction::RevokeFiler(
            FilerRevocation {
                public_key: scanner.public_key(),
                reason: "the scanner was lost on site".to_owned(),
                effective_height: filed.header.height + 1,
            },
        ))))
        .await
        .unwrap();
    node.commit();
    let answer = client
        .get_filer(get(scanner.public_key().to_canonical_bytes()))
        .await
        .unwrap()
        .into_inner();
    let revocation = answer.revocation.unwrap();
    assert_eq!(revocation.effective_height, filed.header.height + 1);
    assert_eq!(revocation.reason, "the scanner was lost on site");
    let revoked = Receipt::from_json(&revocation.receipt.unwrap().json).unwrap();
    assert_eq!(revoked.entry.index, 2);
    let mut later = node.body("bureau", DRAWING, "dwg-site-2", "scanned later");
    later.filer = scanner.public_key();
    later.source_system = "site-scanner".to_owned();
    let status = client
        .submit(submit_request(node.signed(&scanner, vec![later])))
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "filer-revoked");

    // The drawing's receipt proves the scanner's registration; under a checkpoint after the
    // revocation it also carries the revocation, which took effect after the filing: valid,
    // offline, with the genesis file alone.
    let anchor = node.consortium.genesis.trust_anchor().unwrap();
    let digest = body.digest;
    let at_filing = client
        .get_receipt(receipt_request(
            ReceiptBy::EntryIndex(1),
            filed.header.height,
        ))
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    let receipt = verified(&at_filing, &digest, &anchor);
    assert!(receipt.registration.is_some() && receipt.revocation.is_none());
    let verdict = verify_receipt(&digest, &receipt, &anchor).unwrap();
    assert_eq!(
        verdict.registration.map(|r| (r.entry_index, r.name)),
        Some((0, "bureau-site-scanner".to_owned()))
    );
    let latest = client
        .get_receipt(receipt_request(ReceiptBy::EntryIndex(1), 0))
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    let receipt = verified(&latest, &digest, &anchor);
    let verdict = verify_receipt(&digest, &receipt, &anchor).unwrap();
    assert_eq!(
        verdict
            .revocation
            .map(|r| (r.entry_index, r.effective_height)),
        Some((2, filed.header.height + 1))
    );
    // Without its registration the receipt of a filer not in genesis does not verify.
    let bare = Receipt {
        registration: None,
        ..receipt
    };
    assert_eq!(
        verify_receipt(&digest, &bare, &anchor).unwrap_err().code(),
        "filer-not-registered"
    );

    // A key revoked retroactively, from the height it filed at: its filing's receipt under a
    // later checkpoint shows the revocation, and a verifier refuses it.
    let camera = SigningKey::from_seed(&[0x5d; 32]);
    client
        .submit(submit_request(govern(GovernanceAction::RegisterFiler(
            FilerRegistration {
                name: "bureau-site-camera".to_owned(),
                public_key: camera.public_key(),
                kinds: vec![DRAWING.to_owned()],
                source_system: "site-camera".to_owned(),
            },
        ))))
        .await
        .unwrap();
    node.commit();
    let mut photo = node.body("bureau", DRAWING, "dwg-site-3", "photographed on site");
    photo.filer = camera.public_key();
    photo.source_system = "site-camera".to_owned();
    client
        .submit(submit_request(node.signed(&camera, vec![photo.clone()])))
        .await
        .unwrap();
    let photographed = node.commit();
    let photo_index = photographed.header.log_size - 1;
    client
        .submit(submit_request(govern(GovernanceAction::RevokeFiler(
            FilerRevocation {
                public_key: camera.public_key(),
                reason: "the camera's key leaked before it took this photo".to_owned(),
                effective_height: photographed.header.height,
            },
        ))))
        .await
        .unwrap();
    node.commit();
    let answer = client
        .get_receipt(receipt_request(ReceiptBy::EntryIndex(photo_index), 0))
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    let receipt = Receipt::from_json(&answer.json).unwrap();
    assert!(receipt.revocation.is_some());
    assert_eq!(
        verify_receipt(&photo.digest, &receipt, &anchor)
            .unwrap_err()
            .code(),
        "filer-revoked"
    );

    // The list: the four genesis filers, the scanner and the camera, in key order, a page at a
    // time.
    let list = |member: &str, after: Vec<u8>, limit: u32| pb::ListFilersRequest {
        member: member.to_owned(),
        after,
        limit,
    };
    let mut listed = Vec::new();
    let mut after = Vec::new();
    loop {
        let page = client
            .list_filers(list("", after.clone(), 2))
            .await
            .unwrap()
            .into_inner();
        assert!(page.filers.len() <= 2);
        listed.extend(page.filers);
        if page.next_after.is_empty() {
            break;
        }
        after = page.next_after;
    }
    let keys: Vec<&Vec<u8>> = listed.iter().map(|f| &f.public_key).collect();
    assert_eq!(keys.len(), 6, "{listed:?}");
    assert!(
        keys.windows(2).all(|pair| pair[0] < pair[1]),
        "in key order"
    );
    let scanner_entry = listed
        .iter()
        .find(|f| f.public_key == scanner.public_key().to_canonical_bytes())
        .unwrap();
    assert_eq!(scanner_entry.source_system, "site-scanner");
    assert_eq!(scanner_entry.registered_height, registered_at);
    assert_eq!(scanner_entry.revoked_from_height, filed.header.height + 1);
    let bureau_only = client
        .list_filers(list("bureau", Vec::new(), 0))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = bureau_only.filers.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"bureau-filing-system") && names.contains(&"bureau-site-scanner"));
    assert!(names.contains(&"bureau-site-camera"));
    assert!(bureau_only.next_after.is_empty());
    let status = client
        .list_filers(list("", vec![9, 9], 0))
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, "malformed");
    node.shut_down().await;
}

#[tokio::test]
async fn a_proposal_its_votes_and_the_configuration_in_force_through_the_api() {
    use evidence_core::governance::{Change, GovernanceAction, GovernanceBody, Proposal, Vote};
    use evidence_genesis::Configuration;
    let node = Node::start().await;
    let mut client = node.client().await;
    let govern = |member: &str, action: GovernanceAction| {
        let key = node.consortium.governance_key(member).unwrap();
        Transaction::governance(
            GovernanceBody {
                chain_id: CHAIN_ID.to_owned(),
                member: member.to_owned(),
                signer: key.public_key(),
                issued_at_ms: now_ms(),
                action,
            }
            .sign(key),
        )
        .to_canonical_bytes()
    };
    let vote = |member: &str, id: &str| {
        govern(
            member,
            GovernanceAction::Vote(Vote {
                proposal_id: id.to_owned(),
                approve: true,
            }),
        )
    };
    let get = |id: &str| pb::GetProposalRequest {
        proposal_id: id.to_owned(),
    };
    let status = client.get_proposal(get("small-batches")).await.unwrap_err();
    assert_status(&status, Code::NotFound, "not-found");

    let configuration = client
        .get_configuration(pb::GetConfigurationRequest {})
        .await
        .unwrap()
        .into_inner();
    let genesis_configuration =
        Configuration::from_canonical_bytes(&configuration.configuration).unwrap();
    assert_eq!(
        genesis_configuration,
        Configuration::from_genesis(&node.consortium.genesis)
    );
    assert_eq!(configuration.height, 1);

    let expires_at_ms = now_ms() + 3_600_000;
    let proposal = |id: &str, batch_len_max: u32| {
        GovernanceAction::Propose(Proposal {
            id: id.to_owned(),
            expires_at_ms,
            summary: "batches of two".to_owned(),
            changes: vec![Change::SetLimits {
                batch_len_max,
                transaction_bytes_max: 1 << 20,
            }],
        })
    };
    client
        .submit(submit_request(govern(
            "bureau",
            proposal("small-batches", 2),
        )))
        .await
        .unwrap();
    client
        .submit(submit_request(govern("court", proposal("z-later", 3))))
        .await
        .unwrap();
    let proposed_at = node.commit().header.height;
    let open = client
        .get_proposal(get("small-batches"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(open.status, "open");
    assert_eq!(open.proposer, "bureau");
    assert_eq!(open.decided_height, 0);
    assert_eq!(open.votes.len(), 1);
    let proposed = Receipt::from_json(&open.proposal.unwrap().json).unwrap();
    assert_eq!(proposed.entry.height, proposed_at);
    evidence_core::receipt::verify_inclusion(&proposed, node.app.ledger().algorithm()).unwrap();

    // Two more approvals: accepted at the height of the second.
    client
        .submit(submit_request(vote("finance", "small-batches")))
        .await
        .unwrap();
    node.commit();
    client
        .submit(submit_request(vote("court", "small-batches")))
        .await
        .unwrap();
    let accepted_at = node.commit().header.height;
    let accepted = client
        .get_proposal(get("small-batches"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(accepted.status, "accepted");
    assert_eq!(accepted.decided_height, accepted_at);
    let voters: Vec<&str> = accepted.votes.iter().map(|v| v.member.as_str()).collect();
    assert_eq!(voters, ["bureau", "finance", "court"]);
    for vote in &accepted.votes {
        let receipt = Receipt::from_json(&vote.receipt.as_ref().unwrap().json).unwrap();
        assert_eq!(receipt.entry.height, vote.height);
    }

    let configuration = client
        .get_configuration(pb::GetConfigurationRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(configuration.height, accepted_at + 1);
    let in_force = Configuration::from_canonical_bytes(&configuration.configuration).unwrap();
    assert_eq!(in_force.policy.limits.batch_len_max, 2);

    // Admission holds the new limit.
    let bodies = (1..=3)
        .map(|n| {
            node.body(
                "bureau",
                DRAWING,
                &format!("dwg-{n}"),
                &format!("drawing {n}"),
            )
        })
        .collect();
    let status = client
        .submit(submit_request(node.anchor("bureau", bodies)))
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, "bad-batch-length");
    // A vote on a decided proposal is refused.
    let status = client
        .submit(submit_request(vote("archive", "small-batches")))
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "proposal-closed");

    // The list, one page at a time: shorter ids first.
    let mut after = String::new();
    let mut listed = Vec::new();
    loop {
        let page = client
            .list_proposals(pb::ListProposalsRequest {
                after: after.clone(),
                limit: 1,
            })
            .await
            .unwrap()
            .into_inner();
        listed.extend(page.proposals);
        if page.next_after.is_empty() {
            break;
        }
        after = page.next_after;
    }
    let ids: Vec<(&str, &str, u32)> = listed
        .iter()
        .map(|p| (p.proposal_id.as_str(), p.status.as_str(), p.approvals))
        .collect();
    assert_eq!(
        ids,
        [("z-later", "open", 1), ("small-batches", "accepted", 3)]
    );
    node.shut_down().await;
}

/// Status proofs under the latest checkpoint: a superseded version, the current one, a revoked
/// one and a document never filed, each verified offline against genesis; a request that
/// names no subject, or an id the format cannot carry, is malformed.
#[tokio::test(flavor = "multi_thread")]
async fn status_proofs_prove_current_superseded_revoked_and_never_filed() {
    use evidence_core::records::StateKey;
    use evidence_core::status::{StatusProof, verify_status_proof};
    use pb::get_status_proof_request::Subject;

    let node = Node::start().await;
    let mut client = node.client().await;
    let request = |member: &str, document_id: &str, version: u32| pb::GetStatusProofRequest {
        subject: Some(Subject::Document(pb::DocumentVersionRef {
            member: member.to_owned(),
            project_id: PROJECT.to_owned(),
            document_id: document_id.to_owned(),
            version,
        })),
    };
    // Before the first block there is no checkpoint to prove anything under.
    let status = client
        .get_status_proof(request("bureau", "doc-1", 0))
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "not-found");

    let v1 = node.body("bureau", DRAWING, "doc-1", "doc-1 v1");
    let other = node.body("bureau", DRAWING, "doc-2", "doc-2 v1");
    node.app
        .submit(node.anchor("bureau", vec![v1.clone(), other.clone()]))
        .unwrap();
    node.commit();
    let v2 = node.next_version(&v1, "doc-1 v2");
    node.app
        .submit(node.anchor("bureau", vec![v2.clone()]))
        .unwrap();
    node.app
        .submit(node.revocation(&other, "filed in error"))
        .unwrap();
    let head = node.commit();

    let prove = |response: pb::GetStatusProofResponse| {
        let proof = StatusProof::from_json(&response.json).unwrap();
        assert_eq!(proof.checkpoint.header, head.header);
        let state = verify_status_proof(&proof, &node.trust_anchor).unwrap();
        assert_eq!(state.checkpoint.height, head.header.height);
        state
    };

    // Version 1: its own record, superseded by version 2.
    let state = prove(
        client
            .get_status_proof(request("bureau", "doc-1", 1))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(state.facts.len(), 2);
    let first = state.version("bureau", PROJECT, "doc-1", 1).unwrap();
    assert_eq!(first.record.digest, v1.digest);
    assert_eq!(first.latest_version, 2);
    assert_eq!(first.latest_digest, v2.digest);
    let next = first.record.superseded_by.as_ref().unwrap();
    assert_eq!((next.version, next.digest), (2, v2.digest));
    assert_eq!(next.height, head.header.height);
    assert!(first.record.revocation.is_none());

    // Version 2 is the latest: the lineage head holds it, current; its own key is absent.
    let state = prove(
        client
            .get_status_proof(request("bureau", "doc-1", 2))
            .await
            .unwrap()
            .into_inner(),
    );
    let second = state.version("bureau", PROJECT, "doc-1", 2).unwrap();
    assert_eq!(second.record.digest, v2.digest);
    assert!(second.record.superseded_by.is_none() && second.record.revocation.is_none());
    assert_eq!(
        state.fact(&StateKey::Version {
            member: "bureau".into(),
            project_id: PROJECT.into(),
            document_id: "doc-1".into(),
            version: 2,
        }),
        Some(None)
    );

    // doc-2: revoked, with the reason and the height.
    let state = prove(
        client
            .get_status_proof(request("bureau", "doc-2", 0))
            .await
            .unwrap()
            .into_inner(),
    );
    let revoked = state.version("bureau", PROJECT, "doc-2", 1).unwrap();
    let revocation = revoked.record.revocation.as_ref().unwrap();
    assert_eq!(revocation.reason, "filed in error");
    assert_eq!(revocation.height, head.header.height);

    // Never filed: by this member under this id, or by another member under doc-1.
    for (member, document_id) in [("bureau", "doc-9"), ("court", "doc-1")] {
        let state = prove(
            client
                .get_status_proof(request(member, document_id, 0))
                .await
                .unwrap()
                .into_inner(),
        );
        assert_eq!(state.document(member, PROJECT, document_id).unwrap(), None);
    }
    // A project never registered is proved so too.
    let state = prove(
        client
            .get_status_proof(pb::GetStatusProofRequest {
                subject: Some(Subject::ProjectId("no-such-project".into())),
            })
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(state.project("no-such-project").unwrap(), None);

    // Malformed requests.
    let too_long = "x".repeat(evidence_core::entry::ID_LEN_MAX as usize + 1);
    for request in [
        pb::GetStatusProofRequest { subject: None },
        request("", "doc-1", 0),
        request("bureau", "", 0),
        request("bureau", &too_long, 0),
        pb::GetStatusProofRequest {
            subject: Some(Subject::ProjectId(String::new())),
        },
    ] {
        let status = client.get_status_proof(request).await.unwrap_err();
        assert_status(&status, Code::InvalidArgument, "malformed");
    }
    node.shut_down().await;
}
