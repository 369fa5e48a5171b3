//! The client against a scripted node that keeps a real chain: it appends every anchor batch
//! it is sent as a block certified by real validator signatures (the core tests' chain
//! builder), answers with true receipts, and refuses on cue. So the client's own bookkeeping
//! is what is tested: a batch that is refused half-way keeps the receipts of what committed,
//! filing the same document again returns its receipt instead of a second version, and new
//! documents are filed without a lookup. Like the ledger, the node keeps the lineage rule: a
//! version must follow its document's latest (`version-conflict`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use evidence_client::{
    Client, ClientError, ClientOptions, DocumentMeta, DocumentSource, RetryPolicy,
};
use evidence_contracts::transaction::Transaction;
use evidence_core::digest::Digest;
use evidence_core::encoding::{Decode, Encode};
use evidence_core::entry::{AnchorBody, Record};
use evidence_core::receipt::Receipt;
use evidence_proto::v1 as pb;
use evidence_proto::v1::ledger_server::Ledger;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use common::{PROJECT_ID, TestChain};

/// A node whose chain is real; it refuses the `refuse_call`-th `Notarize` (counting from 1).
struct ScriptedNode {
    chain: Mutex<TestChain>,
    genesis_hash: Vec<u8>,
    notarize_calls: AtomicUsize,
    lookup_calls: AtomicUsize,
    refuse_call: AtomicUsize,
    /// Lookups are answered `UNAVAILABLE` while set.
    fail_lookups: std::sync::atomic::AtomicBool,
}

/// The ledger's lineage rule, as the contracts refuse it: version 1 for a new document (of a
/// member, in a project), else the version after the latest, superseding its digest.
fn lineage(chain: &TestChain, anchors: &[AnchorBody]) -> Result<(), Status> {
    let mut latest: HashMap<(String, String, String), (u32, Digest)> = HashMap::new();
    let filed = chain
        .entries
        .iter()
        .filter_map(|entry| entry.anchor().map(|d| d.body.clone()));
    for body in filed {
        let key = (body.member, body.project_id, body.document_id);
        latest.insert(key, (body.document_version, body.digest));
    }
    for body in anchors {
        let key = (
            body.member.clone(),
            body.project_id.clone(),
            body.document_id.clone(),
        );
        let expected = match latest.get(&key) {
            None => (1, None),
            Some((version, digest)) => (version + 1, Some(*digest)),
        };
        if (body.document_version, body.supersedes) != expected {
            return Err(Status::with_error_details(
                Code::FailedPrecondition,
                format!(
                    "document {:?} is at version {}; got {}",
                    body.document_id,
                    expected.0 - 1,
                    body.document_version
                ),
                ErrorDetails::with_error_info("version-conflict", "evidence.v1", HashMap::new()),
            ));
        }
        latest.insert(key, (body.document_version, body.digest));
    }
    Ok(())
}

fn refusal() -> Status {
    Status::with_error_details(
        Code::FailedPrecondition,
        "milestone M1 has no accepted inspection report",
        ErrorDetails::with_error_info(
            "milestone-not-inspected",
            "evidence.v1",
            std::collections::HashMap::new(),
        ),
    )
}

struct Node(Arc<ScriptedNode>);

#[tonic::async_trait]
impl Ledger for Node {
    async fn notarize(
        &self,
        request: Request<pb::NotarizeRequest>,
    ) -> Result<Response<pb::NotarizeResponse>, Status> {
        let call = self.0.notarize_calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call == self.0.refuse_call.load(Ordering::SeqCst) {
            return Err(refusal());
        }
        let bytes = request
            .into_inner()
            .transaction
            .unwrap_or_default()
            .canonical;
        let Ok(Transaction::Anchor(batch)) = Transaction::from_canonical_bytes(&bytes) else {
            return Err(Status::unimplemented("only anchor batches are scripted"));
        };
        let mut chain = self.0.chain.lock().unwrap();
        lineage(&chain, &batch.anchors)?;
        let algorithm = chain.algorithm;
        let tx_id = Transaction::Anchor(batch.clone()).id(algorithm).unwrap();
        let records: Vec<Record> = batch
            .into_documents(algorithm)
            .unwrap()
            .into_iter()
            .map(Record::Anchor)
            .collect();
        let first = chain.log.size();
        let count = records.len() as u64;
        let checkpoint = chain.commit_block(records);
        let receipts = (first..first + count)
            .map(|index| support::receipt_pb(&chain.receipt(index, &checkpoint)))
            .collect();
        Ok(Response::new(pb::NotarizeResponse {
            transaction_id: tx_id.bytes.to_vec(),
            receipts,
        }))
    }

    async fn submit(
        &self,
        _: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn get_receipt(
        &self,
        _: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::GetReceiptResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn get_checkpoint(
        &self,
        _: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::GetCheckpointResponse>, Status> {
        let chain = self.0.chain.lock().unwrap();
        let latest = chain.checkpoints.last().map(support::checkpoint_pb);
        Ok(Response::new(pb::GetCheckpointResponse {
            checkpoint: latest,
        }))
    }

    async fn get_consistency_proof(
        &self,
        _: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::GetConsistencyProofResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn get_status_proof(
        &self,
        _: Request<pb::GetStatusProofRequest>,
    ) -> Result<Response<pb::GetStatusProofResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    /// Every version of a document, oldest first, against the latest checkpoint.
    async fn lookup(
        &self,
        request: Request<pb::LookupRequest>,
    ) -> Result<Response<pb::LookupResponse>, Status> {
        self.0.lookup_calls.fetch_add(1, Ordering::SeqCst);
        if self.0.fail_lookups.load(Ordering::SeqCst) {
            return Err(Status::unavailable("lookups are down"));
        }
        let Some(pb::lookup_request::By::Document(wanted)) = request.into_inner().by else {
            return Err(Status::unimplemented("only document lookups are scripted"));
        };
        let chain = self.0.chain.lock().unwrap();
        let results = match chain.checkpoints.last() {
            None => Vec::new(),
            Some(checkpoint) => chain
                .entries
                .iter()
                .filter(|entry| {
                    entry.anchor().is_some_and(|d| {
                        d.body.project_id == wanted.project_id
                            && d.body.document_id == wanted.document_id
                    })
                })
                .map(|entry| pb::LookupResult {
                    receipt: Some(support::receipt_pb(&chain.receipt(entry.index, checkpoint))),
                    status: None,
                })
                .collect(),
        };
        Ok(Response::new(pb::LookupResponse {
            results,
            more: false,
            next_page_token: Vec::new(),
        }))
    }

    type StreamCheckpointsStream = tonic::codegen::BoxStream<pb::Checkpoint>;

    async fn stream_checkpoints(
        &self,
        _: Request<pb::StreamCheckpointsRequest>,
    ) -> Result<Response<Self::StreamCheckpointsStream>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    type StreamRuleEventsStream = tonic::codegen::BoxStream<pb::RuleEvent>;

    /// Three events: a good one, one whose transaction id is 5 bytes, one numbered 0.
    async fn stream_rule_events(
        &self,
        _: Request<pb::StreamRuleEventsRequest>,
    ) -> Result<Response<Self::StreamRuleEventsStream>, Status> {
        let good = pb::RuleEvent {
            boot_id: 9,
            sequence: 1,
            time_ms: 1,
            kind: "payment-refused".into(),
            code: "milestone-overpayment".into(),
            message: "overpayment".into(),
            project_id: PROJECT_ID.into(),
            milestone: "M1".into(),
            amount_minor: Some(100),
            paid_minor: Some(950),
            cap_minor: Some(1_000),
            member: "finance".into(),
            document_id: "PAY-2".into(),
            transaction_id: vec![7; 32],
            height: 0,
        };
        let short_id = pb::RuleEvent {
            sequence: 2,
            transaction_id: vec![7; 5],
            ..good.clone()
        };
        let unnumbered = pb::RuleEvent {
            sequence: 0,
            ..good.clone()
        };
        let events = [good, short_id, unnumbered].map(Ok);
        Ok(Response::new(Box::pin(futures_util::stream::iter(events))))
    }

    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        Ok(Response::new(pb::StatusResponse {
            chain_id: common::CHAIN_ID.into(),
            genesis_hash: self.0.genesis_hash.clone(),
            ..pb::StatusResponse::default()
        }))
    }

    async fn get_filer(
        &self,
        _: Request<pb::GetFilerRequest>,
    ) -> Result<Response<pb::GetFilerResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn list_filers(
        &self,
        _: Request<pb::ListFilersRequest>,
    ) -> Result<Response<pb::ListFilersResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn get_configuration(
        &self,
        _: Request<pb::GetConfigurationRequest>,
    ) -> Result<Response<pb::GetConfigurationResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn get_proposal(
        &self,
        _: Request<pb::GetProposalRequest>,
    ) -> Result<Response<pb::GetProposalResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn list_proposals(
        &self,
        _: Request<pb::ListProposalsRequest>,
    ) -> Result<Response<pb::ListProposalsResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn relay(
        &self,
        _: Request<pb::RelayRequest>,
    ) -> Result<Response<pb::RelayResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }
}

/// A scripted node and a client of the bureau's filer that puts `per_transaction` documents
/// in each transaction.
async fn start(per_transaction: usize) -> (Arc<ScriptedNode>, Client) {
    let chain = TestChain::new(11);
    let genesis = chain.consortium.genesis.clone();
    let filer = chain.filer_key("bureau").clone();
    let node = Arc::new(ScriptedNode {
        genesis_hash: genesis.hash().to_canonical_bytes(),
        chain: Mutex::new(chain),
        notarize_calls: AtomicUsize::new(0),
        lookup_calls: AtomicUsize::new(0),
        refuse_call: AtomicUsize::new(0),
        fail_lookups: std::sync::atomic::AtomicBool::new(false),
    });
    let endpoint = support::serve(Node(Arc::clone(&node))).await;
    let options = ClientOptions {
        retry: RetryPolicy {
            attempts: 2,
            initial_backoff: std::time::Duration::from_millis(5),
            max_backoff: std::time::Duration::from_millis(5),
        },
        batch_documents_max: per_transaction,
        ..ClientOptions::default()
    };
    let client = Client::connect_with(&endpoint, Some(filer), genesis, options)
        .await
        .unwrap();
    (node, client)
}

fn document(id: &str, content: &str) -> (DocumentSource, DocumentMeta) {
    (
        DocumentSource::Bytes(content.as_bytes().to_vec()),
        DocumentMeta::new("completion-drawing", PROJECT_ID, id, "scripted-test"),
    )
}

fn anchored_id(receipt: &Receipt) -> (String, u32) {
    let body = &receipt.entry.anchor().unwrap().body;
    (body.document_id.clone(), body.document_version)
}

#[tokio::test]
async fn a_batch_refused_half_way_keeps_the_receipts_of_what_committed() {
    let (node, client) = start(2).await;
    node.refuse_call.store(2, Ordering::SeqCst);
    let documents = (0..5)
        .map(|i| document(&format!("DWG-{i}"), &format!("sheet {i}")))
        .collect();
    let error = client.notarize_batch(documents).await.unwrap_err();
    let ClientError::PartlyNotarized { receipts, error } = error else {
        panic!("expected a partly notarized batch, got {error}");
    };
    assert!(matches!(*error, ClientError::Refused(_)), "{error}");
    assert_eq!(error.reason(), Some("milestone-not-inspected"));
    assert_eq!(receipts.len(), 5);
    let committed: Vec<_> = receipts.iter().flatten().map(anchored_id).collect();
    assert_eq!(
        committed,
        [("DWG-0".to_owned(), 1), ("DWG-1".to_owned(), 1)],
        "the first transaction's documents, in order"
    );
    assert!(receipts[2..].iter().all(Option::is_none));
    assert_eq!(node.notarize_calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        node.lookup_calls.load(Ordering::SeqCst),
        0,
        "new documents are filed as first versions without a lookup"
    );

    // Sending the whole batch again files only what is missing: the first two documents are
    // answered with their receipts, not anchored a second time. Their first versions are
    // refused (version-conflict), so the client looks up each of the five.
    let documents = (0..5)
        .map(|i| document(&format!("DWG-{i}"), &format!("sheet {i}")))
        .collect();
    let receipts = client.notarize_batch(documents).await.unwrap();
    let ids: Vec<_> = receipts.iter().map(anchored_id).collect();
    let expected: Vec<_> = (0..5).map(|i| (format!("DWG-{i}"), 1)).collect();
    assert_eq!(ids, expected);
    assert_eq!(receipts[0].entry.index, 0);
    assert_eq!(receipts[1].entry.index, 1);
    // One refused transaction, then three documents left, two per transaction.
    assert_eq!(node.notarize_calls.load(Ordering::SeqCst), 5);
    assert_eq!(node.lookup_calls.load(Ordering::SeqCst), 5);
    assert_eq!(node.chain.lock().unwrap().log.size(), 5);
}

#[tokio::test]
async fn the_same_bytes_again_are_the_same_version_and_new_bytes_the_next() {
    let (node, client) = start(100).await;
    let (source, meta) = document("DWG-7", "first drawing");
    let first = client.notarize(source, meta).await.unwrap();
    let (source, meta) = document("DWG-7", "first drawing");
    assert_eq!(node.lookup_calls.load(Ordering::SeqCst), 0);
    let again = client.notarize(source, meta).await.unwrap();
    assert_eq!(again.entry, first.entry);
    // Its first version refused, the lookup finds the same filing.
    assert_eq!(node.notarize_calls.load(Ordering::SeqCst), 2);
    assert_eq!(node.lookup_calls.load(Ordering::SeqCst), 1);

    // The same bytes under another kind are another filing: a new version.
    let (source, mut meta) = document("DWG-7", "first drawing");
    meta.kind = "inspection-report".into();
    let other_kind = client.notarize(source, meta).await.unwrap();
    assert_eq!(anchored_id(&other_kind), ("DWG-7".to_owned(), 2));

    let (source, meta) = document("DWG-7", "revised drawing");
    let revised = client.notarize(source, meta).await.unwrap();
    let body = &revised.entry.anchor().unwrap().body;
    assert_eq!(body.document_version, 3);
    assert_eq!(
        body.supersedes,
        Some(other_kind.entry.anchor().unwrap().body.digest)
    );
    // Each later filing: a refused first version, a lookup, the next version.
    assert_eq!(node.notarize_calls.load(Ordering::SeqCst), 6);
    assert_eq!(node.lookup_calls.load(Ordering::SeqCst), 3);
    assert_eq!(node.chain.lock().unwrap().log.size(), 3);
}

#[tokio::test]
async fn rule_events_are_read_and_malformed_ones_refused() {
    let (_node, client) = start(10).await;
    let mut events = client.rule_events(0, 0).await.unwrap();
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(
        (first.boot_id, first.sequence, first.code.as_str()),
        (9, 1, "milestone-overpayment")
    );
    assert_eq!(first.transaction_id.map(|id| id.bytes), Some([7; 32]));
    for _ in 0..2 {
        let error = events.next().await.unwrap_err();
        assert!(matches!(error, ClientError::BadAnswer(_)), "{error}");
    }
    assert!(events.next().await.unwrap().is_none());
}

#[tokio::test]
async fn a_document_that_exists_among_new_ones_is_looked_up_from_its_transaction_on() {
    let (node, client) = start(2).await;
    let first = client
        .notarize_batch(vec![document("DWG-1", "sheet 1")])
        .await
        .unwrap();
    assert_eq!(anchored_id(&first[0]), ("DWG-1".to_owned(), 1));

    // DWG-1 shares the first transaction with a new document: that transaction is refused,
    // and all three documents are looked up and filed again.
    let receipts = client
        .notarize_batch(vec![
            document("DWG-2", "sheet 2"),
            document("DWG-1", "sheet 1, revised"),
            document("DWG-3", "sheet 3"),
        ])
        .await
        .unwrap();
    let ids: Vec<_> = receipts.iter().map(anchored_id).collect();
    assert_eq!(
        ids,
        [
            ("DWG-2".to_owned(), 1),
            ("DWG-1".to_owned(), 2),
            ("DWG-3".to_owned(), 1)
        ]
    );
    let body = &receipts[1].entry.anchor().unwrap().body;
    assert_eq!(
        body.supersedes,
        Some(first[0].entry.anchor().unwrap().body.digest)
    );
    assert_eq!(node.notarize_calls.load(Ordering::SeqCst), 1 + 3);
    assert_eq!(node.lookup_calls.load(Ordering::SeqCst), 3);

    // DWG-1 alone in the second transaction: the first commits as guessed, and only the
    // second transaction's document is looked up.
    let receipts = client
        .notarize_batch(vec![
            document("DWG-4", "sheet 4"),
            document("DWG-5", "sheet 5"),
            document("DWG-1", "sheet 1, third issue"),
        ])
        .await
        .unwrap();
    let ids: Vec<_> = receipts.iter().map(anchored_id).collect();
    assert_eq!(
        ids,
        [
            ("DWG-4".to_owned(), 1),
            ("DWG-5".to_owned(), 1),
            ("DWG-1".to_owned(), 3)
        ]
    );
    assert_eq!(node.notarize_calls.load(Ordering::SeqCst), 4 + 3);
    assert_eq!(node.lookup_calls.load(Ordering::SeqCst), 3 + 1);
    assert_eq!(node.chain.lock().unwrap().log.size(), 7);
}

#[tokio::test]
async fn a_lookup_that_fails_after_a_refused_guess_keeps_the_receipts_of_what_committed() {
    let (node, client) = start(2).await;
    client
        .notarize_batch(vec![document("DWG-9", "sheet 9")])
        .await
        .unwrap();
    node.fail_lookups.store(true, Ordering::SeqCst);
    // The first transaction's guesses commit; the second's is refused (DWG-9 exists), and
    // its lookup fails.
    let error = client
        .notarize_batch(vec![
            document("DWG-10", "sheet 10"),
            document("DWG-11", "sheet 11"),
            document("DWG-9", "sheet 9, revised"),
        ])
        .await
        .unwrap_err();
    let ClientError::PartlyNotarized { receipts, error } = error else {
        panic!("expected a partly notarized batch, got {error}");
    };
    assert!(matches!(*error, ClientError::Rpc { .. }), "{error}");
    let committed: Vec<_> = receipts.iter().flatten().map(anchored_id).collect();
    assert_eq!(
        committed,
        [("DWG-10".to_owned(), 1), ("DWG-11".to_owned(), 1)]
    );
    assert!(receipts[2].is_none());
}
