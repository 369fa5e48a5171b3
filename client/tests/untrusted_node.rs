//! The client takes nothing on a node's word. A scripted gRPC server plays a node that answers
//! with receipts of other documents, under-signed checkpoints, broken proofs and another
//! consortium's genesis; every such answer is an error, never a result. It also plays a busy
//! node, which the client retries with backoff.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use evidence_client::{
    Client, ClientError, ClientOptions, LookupQuery, ReceiptQuery, RetryPolicy, StatusSubject,
};
use evidence_core::checkpoint::Checkpoint;
use evidence_core::digest::Digest;
use evidence_core::encoding::Encode;
use evidence_core::keys::SigningKey;
use evidence_core::receipt::Receipt;
use evidence_core::verify::VerifyError;
use evidence_genesis::Genesis;
use evidence_proto::v1 as pb;
use evidence_proto::v1::ledger_server::Ledger;
use tonic::{Request, Response, Status};

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/vectors")
}

fn receipt(name: &str) -> Receipt {
    Receipt::from_json(&std::fs::read_to_string(vectors().join(name)).unwrap()).unwrap()
}

fn genesis() -> Genesis {
    Genesis::load(&vectors().join("genesis.json")).unwrap()
}

/// What the scripted node answers.
struct Script {
    genesis_hash: Vec<u8>,
    receipt: pb::Receipt,
    checkpoint: pb::Checkpoint,
    proof: Vec<u8>,
    /// Answer "busy" to this many GetCheckpoint calls first.
    busy: AtomicU32,
    checkpoint_calls: AtomicU32,
    /// How many times a lookup answer repeats its one result.
    lookup_copies: usize,
    /// A lookup answer says more results follow, without a token to read them.
    lookup_more_without_token: bool,
    /// The answer to GetFiler (NOT_FOUND when `None`).
    filer: Option<pb::GetFilerResponse>,
    /// The answers to GetStatusProof, in turn, the last one repeated (NOT_FOUND when none).
    status_proofs: std::sync::Mutex<Vec<pb::GetStatusProofResponse>>,
    /// The answer to GetProposal (NOT_FOUND when `None`).
    proposal: Option<pb::GetProposalResponse>,
}

struct Liar(Arc<Script>);

type CheckpointStream = tonic::codegen::BoxStream<pb::Checkpoint>;

#[tonic::async_trait]
impl Ledger for Liar {
    async fn notarize(
        &self,
        _: Request<pb::NotarizeRequest>,
    ) -> Result<Response<pb::NotarizeResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
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
        Ok(Response::new(pb::GetReceiptResponse {
            receipt: Some(self.0.receipt.clone()),
        }))
    }

    async fn get_checkpoint(
        &self,
        _: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::GetCheckpointResponse>, Status> {
        self.0.checkpoint_calls.fetch_add(1, Ordering::SeqCst);
        let busy = self
            .0
            .busy
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if busy {
            return Err(Status::resource_exhausted("the mempool is full"));
        }
        Ok(Response::new(pb::GetCheckpointResponse {
            checkpoint: Some(self.0.checkpoint.clone()),
        }))
    }

    async fn get_consistency_proof(
        &self,
        _: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::GetConsistencyProofResponse>, Status> {
        Ok(Response::new(pb::GetConsistencyProofResponse {
            proof: self.0.proof.clone(),
            new_checkpoint: None,
        }))
    }

    async fn lookup(
        &self,
        _: Request<pb::LookupRequest>,
    ) -> Result<Response<pb::LookupResponse>, Status> {
        let result = pb::LookupResult {
            receipt: Some(self.0.receipt.clone()),
            status: None,
        };
        Ok(Response::new(pb::LookupResponse {
            results: vec![result; self.0.lookup_copies],
            more: self.0.lookup_more_without_token,
            next_page_token: Vec::new(),
        }))
    }

    async fn get_status_proof(
        &self,
        _: Request<pb::GetStatusProofRequest>,
    ) -> Result<Response<pb::GetStatusProofResponse>, Status> {
        let mut answers = self.0.status_proofs.lock().unwrap();
        let answer = if answers.len() > 1 {
            Some(answers.remove(0))
        } else {
            answers.first().cloned()
        };
        answer
            .map(Response::new)
            .ok_or_else(|| Status::not_found("not scripted"))
    }

    type StreamCheckpointsStream = CheckpointStream;

    async fn stream_checkpoints(
        &self,
        _: Request<pb::StreamCheckpointsRequest>,
    ) -> Result<Response<Self::StreamCheckpointsStream>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    type StreamRuleEventsStream = tonic::codegen::BoxStream<pb::RuleEvent>;

    async fn stream_rule_events(
        &self,
        _: Request<pb::StreamRuleEventsRequest>,
    ) -> Result<Response<Self::StreamRuleEventsStream>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        Ok(Response::new(pb::StatusResponse {
            chain_id: "scripted".into(),
            genesis_hash: self.0.genesis_hash.clone(),
            ..pb::StatusResponse::default()
        }))
    }

    async fn get_filer(
        &self,
        _: Request<pb::GetFilerRequest>,
    ) -> Result<Response<pb::GetFilerResponse>, Status> {
        self.0
            .filer
            .clone()
            .map(Response::new)
            .ok_or_else(|| Status::not_found("no such filer"))
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
        self.0
            .proposal
            .clone()
            .map(Response::new)
            .ok_or_else(|| Status::not_found("no such proposal"))
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

fn script(receipt: &Receipt, checkpoint: &Checkpoint) -> Script {
    Script {
        genesis_hash: genesis().hash().to_canonical_bytes(),
        receipt: support::receipt_pb(receipt),
        checkpoint: support::checkpoint_pb(checkpoint),
        proof: Vec::new(),
        busy: AtomicU32::new(0),
        checkpoint_calls: AtomicU32::new(0),
        lookup_copies: 1,
        lookup_more_without_token: false,
        filer: None,
        status_proofs: std::sync::Mutex::default(),
        proposal: None,
    }
}

async fn serve(script: Script) -> (String, Arc<Script>) {
    let script = Arc::new(script);
    (support::serve(Liar(Arc::clone(&script))).await, script)
}

fn quick() -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
        },
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn a_node_of_another_consortium_is_refused_at_connect() {
    let valid = receipt("valid/single-document.receipt.json");
    let mut lying = script(&valid, &valid.checkpoint);
    lying.genesis_hash =
        Digest::new(evidence_core::digest::HashAlgorithm::Blake3, [7; 32]).to_canonical_bytes();
    let (endpoint, _) = serve(lying).await;
    let error = Client::connect_with(&endpoint, None, genesis(), quick())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::WrongConsortium { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_key_that_is_no_filer_in_genesis_nor_on_the_ledger_is_refused_at_connect() {
    let valid = receipt("valid/single-document.receipt.json");
    let (endpoint, _) = serve(script(&valid, &valid.checkpoint)).await;
    let error = Client::connect_with(
        &endpoint,
        Some(SigningKey::from_seed(&[9; 32])),
        genesis(),
        quick(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ClientError::NotAFiler(_)), "{error}");
}

/// The vectors' site scanner: registered on the ledger by the bureau in entry 19 (block 8).
fn scanner() -> SigningKey {
    SigningKey::from_seed(&[0x5c; 32])
}

/// What an honest node answers about the scanner's key.
fn scanner_answer() -> pb::GetFilerResponse {
    pb::GetFilerResponse {
        name: "bureau-site-scanner".into(),
        member: "bureau".into(),
        kinds: vec!["completion-drawing".into()],
        source_system: "site-scanner".into(),
        registered_height: 8,
        registration: Some(support::receipt_pb(&receipt(
            "invalid/not-an-anchor.governance.receipt.json",
        ))),
        revocation: None,
    }
}

#[tokio::test]
async fn a_filer_registered_on_the_ledger_is_taken_with_the_proof_of_its_registration() {
    let valid = receipt("valid/single-document.receipt.json");
    let mut honest = script(&valid, &valid.checkpoint);
    honest.filer = Some(scanner_answer());
    let (endpoint, _) = serve(honest).await;
    let client = Client::connect_with(&endpoint, Some(scanner()), genesis(), quick())
        .await
        .unwrap();
    let filer = client.filer().unwrap();
    assert_eq!(filer.member, "bureau");
    assert_eq!(filer.kinds, ["completion-drawing"]);
    assert_eq!(client.filer_source_system(), Some("site-scanner"));
    let status = client.filer_status(&scanner().public_key()).await.unwrap();
    assert_eq!(status.registration.unwrap().entry.index, 19);
    assert!(status.revocation.is_none());
}

#[tokio::test]
async fn a_filer_answer_that_its_receipts_do_not_prove_is_not_an_answer() {
    let valid = receipt("valid/single-document.receipt.json");
    let registration = scanner_answer().registration;
    let lies: Vec<(&str, pb::GetFilerResponse)> = vec![
        (
            "another member",
            pb::GetFilerResponse {
                member: "finance".into(),
                ..scanner_answer()
            },
        ),
        (
            "more kinds",
            pb::GetFilerResponse {
                kinds: vec!["completion-drawing".into(), "inspection-report".into()],
                ..scanner_answer()
            },
        ),
        (
            "another source system",
            pb::GetFilerResponse {
                source_system: String::new(),
                ..scanner_answer()
            },
        ),
        (
            "another height",
            pb::GetFilerResponse {
                registered_height: 7,
                ..scanner_answer()
            },
        ),
        (
            "an anchor's receipt for the registration",
            pb::GetFilerResponse {
                registration: Some(support::receipt_pb(&valid)),
                ..scanner_answer()
            },
        ),
        (
            "no registration at all",
            pb::GetFilerResponse {
                registration: None,
                ..scanner_answer()
            },
        ),
        (
            "a revocation proved by the registration's receipt",
            pb::GetFilerResponse {
                revocation: Some(pb::FilerRevocation {
                    effective_height: 9,
                    reason: "lost".into(),
                    receipt: registration,
                }),
                ..scanner_answer()
            },
        ),
        (
            "a revocation without a receipt",
            pb::GetFilerResponse {
                revocation: Some(pb::FilerRevocation {
                    effective_height: 9,
                    reason: "lost".into(),
                    receipt: None,
                }),
                ..scanner_answer()
            },
        ),
    ];
    for (what, lie) in lies {
        let mut liar = script(&valid, &valid.checkpoint);
        liar.filer = Some(lie);
        let (endpoint, _) = serve(liar).await;
        let error = Client::connect_with(&endpoint, Some(scanner()), genesis(), quick())
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::BadAnswer(_)),
            "{what}: {error}"
        );
    }
    // A genesis filer said to be registered on the ledger, or listed otherwise than genesis.
    let bureau = genesis().filers[0].clone();
    for (what, lie) in [
        (
            "a registration receipt",
            pb::GetFilerResponse {
                name: bureau.name.clone(),
                member: bureau.member.clone(),
                kinds: bureau.kinds.clone(),
                ..scanner_answer()
            },
        ),
        (
            "other kinds",
            pb::GetFilerResponse {
                name: bureau.name.clone(),
                member: bureau.member.clone(),
                kinds: vec!["fund-transfer".into()],
                source_system: String::new(),
                registered_height: 0,
                registration: None,
                revocation: None,
            },
        ),
    ] {
        let mut liar = script(&valid, &valid.checkpoint);
        liar.filer = Some(lie);
        let (endpoint, _) = serve(liar).await;
        let client = Client::connect_with(&endpoint, None, genesis(), quick())
            .await
            .unwrap();
        let error = client.filer_status(&bureau.public_key).await.unwrap_err();
        assert!(
            matches!(error, ClientError::BadAnswer(_)),
            "{what}: {error}"
        );
    }
}

#[tokio::test]
async fn lookup_pages_out_of_log_order_or_without_a_way_on_are_not_answers() {
    let single = receipt("valid/single-document.receipt.json");
    let digest = single.entry.anchor().unwrap().body.digest;
    for (copies, more) in [(2, false), (1, true)] {
        let mut liar = script(&single, &single.checkpoint);
        liar.lookup_copies = copies;
        liar.lookup_more_without_token = more;
        let (endpoint, _) = serve(liar).await;
        let client = Client::connect_with(&endpoint, None, genesis(), quick())
            .await
            .unwrap();
        let error = client
            .lookup(&LookupQuery::Digest(digest), &[], 0)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::BadAnswer(_)),
            "copies {copies}, more {more}: {error}"
        );
    }
}

#[tokio::test]
async fn the_receipt_of_another_document_is_not_an_answer() {
    let other = receipt("valid/third-of-five-in-batch.receipt.json");
    let (endpoint, _) = serve(script(&other, &other.checkpoint)).await;
    let client = Client::connect_with(&endpoint, None, genesis(), quick())
        .await
        .unwrap();
    let asked = receipt("valid/single-document.receipt.json")
        .entry
        .anchor()
        .unwrap()
        .body
        .digest;
    let error = client
        .receipt(ReceiptQuery::Digest(asked), None)
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::BadAnswer(_)), "{error}");
    let error = client
        .lookup(&LookupQuery::Digest(asked), &[], 0)
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::BadAnswer(_)), "{error}");
    let error = client
        .receipt(ReceiptQuery::Index(other.entry.index + 1), None)
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::BadAnswer(_)), "{error}");
    // The same answer to the right question is accepted.
    let found = client
        .receipt(ReceiptQuery::Index(other.entry.index), None)
        .await
        .unwrap();
    assert_eq!(found.receipt, other);
}

#[tokio::test]
async fn an_under_signed_checkpoint_is_not_an_answer() {
    let weak = receipt("invalid/insufficient-power.receipt.json");
    let (endpoint, _) = serve(script(&weak, &weak.checkpoint)).await;
    let client = Client::connect_with(&endpoint, None, genesis(), quick())
        .await
        .unwrap();
    let error = client.checkpoint(None).await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Unverified(VerifyError::InsufficientPower { .. })
        ),
        "{error}"
    );
    let error = client
        .receipt(ReceiptQuery::Index(weak.entry.index), None)
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Unverified(_)), "{error}");
}

#[tokio::test]
async fn garbage_bytes_in_an_answer_are_an_error() {
    let valid = receipt("valid/single-document.receipt.json");
    let mut lying = script(&valid, &valid.checkpoint);
    lying.receipt.entry = b"\xff\x00garbage".to_vec();
    lying.checkpoint.header.truncate(10);
    let (endpoint, _) = serve(lying).await;
    let client = Client::connect_with(&endpoint, None, genesis(), quick())
        .await
        .unwrap();
    let error = client
        .receipt(ReceiptQuery::Index(valid.entry.index), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Unverified(VerifyError::Malformed { .. })
        ),
        "{error}"
    );
    let error = client.checkpoint(None).await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Unverified(VerifyError::Malformed { .. })
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_consistency_proof_that_does_not_verify_is_a_loud_failure() {
    let old = receipt("valid/single-document.receipt.json").checkpoint;
    let new = receipt("valid/later-checkpoint.receipt.json").checkpoint;
    assert!(old.header.log_size < new.header.log_size);
    let (endpoint, _) = serve(script(&receipt("valid/single-document.receipt.json"), &new)).await;
    let client = Client::connect_with(&endpoint, None, genesis(), quick())
        .await
        .unwrap();
    // No proof at all, then a newer checkpoint offered as the older one.
    let error = client.consistency(&old, &new).await.unwrap_err();
    // (The scripted node's empty "proof" is unreadable: it proves nothing, loudly.)
    assert!(matches!(error, ClientError::Inconsistent { .. }), "{error}");
    let error = client.consistency(&new, &old).await.unwrap_err();
    assert!(matches!(error, ClientError::Inconsistent { .. }), "{error}");
    assert!(error.to_string().contains("INCONSISTENT"));
    // A checkpoint against itself needs no proof.
    client.consistency(&new, &new).await.unwrap();
}

#[tokio::test]
async fn a_busy_node_is_retried_with_backoff_and_then_given_up_on() {
    let valid = receipt("valid/later-checkpoint.receipt.json");
    let busy = script(&valid, &valid.checkpoint);
    busy.busy.store(2, Ordering::SeqCst);
    let (endpoint, script) = serve(busy).await;
    let client = Client::connect_with(&endpoint, None, genesis(), quick())
        .await
        .unwrap();
    let (_, verified) = client.checkpoint(None).await.unwrap();
    assert_eq!(verified.height, valid.checkpoint.header.height);
    assert_eq!(script.checkpoint_calls.load(Ordering::SeqCst), 3);

    script.busy.store(100, Ordering::SeqCst);
    let error = client.checkpoint(None).await.unwrap_err();
    assert!(
        matches!(error, ClientError::Busy { attempts: 4, .. }),
        "{error}"
    );
    assert!(error.is_transient());
}

#[tokio::test]
async fn two_certified_blocks_at_one_height_are_a_loud_failure() {
    // A quorum that signs two different blocks at one height (here: the same log, another
    // state root) has forked the chain, even though both logs agree.
    let mut chain = common::TestChain::new(7);
    let body = chain.anchor_body("bureau", "completion-drawing", "DWG-1", b"drawing");
    let records = chain.batch("bureau", vec![body]);
    chain.commit_block(records);
    let certified = chain.commit_block(Vec::new());
    let mut header = certified.header.clone();
    header.state_root = chain.algorithm.hash_parts(&[b"another state"]);
    let keys: Vec<&SigningKey> = (0..3).map(|i| chain.validator_key(i)).collect();
    let certificate = evidence_core::certificate::CommitCertificate::sign(
        &chain.chain_id,
        header.height,
        0,
        header.hash(chain.algorithm),
        &keys,
    );
    let forked = Checkpoint {
        header,
        certificate,
    };
    let genesis = chain.consortium.genesis.clone();
    let mut node = script(&chain.receipt(0, &certified), &certified);
    node.genesis_hash = genesis.hash().to_canonical_bytes();
    let (endpoint, _) = serve(node).await;
    let client = Client::connect_with(&endpoint, None, genesis, quick())
        .await
        .unwrap();
    client.consistency(&certified, &certified).await.unwrap();
    let error = client.consistency(&certified, &forked).await.unwrap_err();
    assert!(matches!(error, ClientError::Inconsistent { .. }), "{error}");
    assert!(
        error.to_string().contains("two different blocks"),
        "{error}"
    );
}

#[tokio::test]
async fn a_proposal_answer_that_its_receipts_do_not_prove_is_not_an_answer() {
    let valid = receipt("valid/single-document.receipt.json");
    // The registration of a filer is a governance entry, but no proposal.
    let governance = support::receipt_pb(&receipt("invalid/not-an-anchor.governance.receipt.json"));
    let document = support::receipt_pb(&valid);
    let vote = |receipt: &pb::Receipt| pb::ProposalVote {
        member: "bureau".into(),
        approve: true,
        height: 8,
        receipt: Some(receipt.clone()),
    };
    let answer =
        |proposal: Option<pb::Receipt>, votes: Vec<pb::ProposalVote>| pb::GetProposalResponse {
            proposal_id: "small-batches".into(),
            proposer: "bureau".into(),
            expires_at_ms: 1,
            status: "accepted".into(),
            decided_height: 9,
            proposal,
            votes,
        };
    let lies = [
        ("no receipt of the proposal", answer(None, Vec::new())),
        (
            "a filer registration for the proposal",
            answer(Some(governance.clone()), vec![vote(&governance)]),
        ),
        (
            "an anchor's receipt for the proposal",
            answer(Some(document.clone()), vec![vote(&document)]),
        ),
    ];
    for (lie, answer) in lies {
        let mut lying = script(&valid, &valid.checkpoint);
        lying.proposal = Some(answer);
        let (endpoint, _) = serve(lying).await;
        let client = Client::connect_with(&endpoint, None, genesis(), quick())
            .await
            .unwrap();
        let error = client.proposal("small-batches").await.unwrap_err();
        assert!(
            matches!(
                error,
                ClientError::BadAnswer(_) | ClientError::Unverified(_)
            ),
            "{lie}: {error:?}"
        );
    }
    let (endpoint, _) = serve(script(&valid, &valid.checkpoint)).await;
    let client = Client::connect_with(&endpoint, None, genesis(), quick())
        .await
        .unwrap();
    assert!(client.proposal("none").await.unwrap_err().is_not_found());
}

/// A status-proof vector as a node would send it.
fn status_answer(
    name: &str,
) -> (
    pb::GetStatusProofResponse,
    Vec<evidence_core::records::StateKey>,
) {
    use evidence_core::status::StatusProof;
    let text = std::fs::read_to_string(vectors().join(name)).unwrap();
    let proof = StatusProof::from_json(&text).unwrap();
    let keys = proof
        .facts
        .iter()
        .map(|fact| evidence_core::records::StateKey::from_bytes(&fact.key).unwrap())
        .collect();
    let answer = pb::GetStatusProofResponse {
        header: proof.checkpoint.header.to_canonical_bytes(),
        certificate: proof.checkpoint.certificate.to_canonical_bytes(),
        handoffs: proof.handoffs.iter().map(support::handoff_pb).collect(),
        facts: proof
            .facts
            .iter()
            .map(|fact| pb::StateFact {
                key: fact.key.clone(),
                value: fact.value.clone(),
                proof: fact.proof.to_canonical_bytes(),
            })
            .collect(),
        json: text,
    };
    (answer, keys)
}

fn subject_of(keys: &[evidence_core::records::StateKey]) -> StatusSubject {
    use evidence_core::records::StateKey;
    match keys {
        [StateKey::Project { project_id }] => StatusSubject::Project(project_id.clone()),
        [
            StateKey::Document {
                member,
                project_id,
                document_id,
            },
            rest @ ..,
        ] => StatusSubject::Document {
            member: member.clone(),
            project_id: project_id.clone(),
            document_id: document_id.clone(),
            version: match rest {
                [StateKey::Version { version, .. }] => Some(*version),
                _ => None,
            },
        },
        other => panic!("no subject for {other:?}"),
    }
}

/// A status proof is taken only when it verifies against genesis and answers the question
/// asked: a proof of another document, or one whose fact does not lead to the certified state
/// root, is an error, never a status.
#[tokio::test]
async fn a_status_proof_that_does_not_prove_the_status_asked_for_is_not_an_answer() {
    let any = receipt("valid/single-document.receipt.json");
    // A client of a node that answers every status-proof request with `answer`.
    let client_of = async |answer: pb::GetStatusProofResponse| {
        let script = script(&any, &any.checkpoint);
        script.status_proofs.lock().unwrap().push(answer);
        let (endpoint, _) = serve(script).await;
        Client::connect_with(&endpoint, None, genesis(), quick())
            .await
            .unwrap()
    };

    // The right answer: version 1 superseded by version 2, proved.
    let (answer, keys) = status_answer("status/valid/superseded.status.json");
    let subject = subject_of(&keys);
    let client = client_of(answer).await;
    let verified = client.status_proof(&subject).await.unwrap();
    let StatusSubject::Document {
        member,
        project_id,
        document_id,
        ..
    } = &subject
    else {
        unreachable!()
    };
    let version = verified
        .state
        .version(member, project_id, document_id, 1)
        .unwrap();
    assert_eq!(version.record.superseded_by.unwrap().version, 2);
    assert_eq!(version.latest_version, 2);

    // The same proof for another document, or for the head alone: not the answer.
    for other in [
        StatusSubject::Document {
            member: member.clone(),
            project_id: project_id.clone(),
            document_id: "ANOTHER-DOCUMENT".into(),
            version: Some(1),
        },
        StatusSubject::Document {
            member: member.clone(),
            project_id: project_id.clone(),
            document_id: document_id.clone(),
            version: None,
        },
        StatusSubject::Project(project_id.clone()),
    ] {
        let error = client.status_proof(&other).await.unwrap_err();
        assert!(matches!(error, ClientError::BadAnswer(_)), "{error}");
    }

    // Broken proofs: a sibling changed, a value changed, a proof of another checkpoint.
    for (name, code) in [
        (
            "status/invalid/state-root-mismatch.status.json",
            "state-root-mismatch",
        ),
        (
            "status/invalid/bad-state-proof.value-mismatch.status.json",
            "bad-state-proof",
        ),
        (
            "status/invalid/insufficient-power.status.json",
            "insufficient-power",
        ),
    ] {
        let (answer, keys) = status_answer(name);
        let client = client_of(answer).await;
        let error = client.status_proof(&subject_of(&keys)).await.unwrap_err();
        match error {
            ClientError::Unverified(error) => assert_eq!(error.code(), code, "{name}: {error}"),
            other => panic!("{name}: {other}"),
        }
    }

    // A document never filed, proved.
    let (answer, keys) = status_answer("status/valid/never-filed.status.json");
    let subject = subject_of(&keys);
    let client = client_of(answer).await;
    let verified = client.status_proof(&subject).await.unwrap();
    let StatusSubject::Document {
        member,
        project_id,
        document_id,
        ..
    } = &subject
    else {
        unreachable!()
    };
    assert_eq!(
        verified
            .state
            .document(member, project_id, document_id)
            .unwrap(),
        None
    );

    // A node that answered under height 26 and then under 25 shows an older state: refused.
    let (newer, newer_keys) = status_answer("status/valid/revoked.status.json");
    let (older, older_keys) = status_answer("status/valid/current.status.json");
    let script = script(&any, &any.checkpoint);
    script.status_proofs.lock().unwrap().extend([newer, older]);
    let (endpoint, _) = serve(script).await;
    let client = Client::connect_with(&endpoint, None, genesis(), quick())
        .await
        .unwrap();
    let first = client.status_proof(&subject_of(&newer_keys)).await.unwrap();
    assert_eq!(first.state.checkpoint.height, 26);
    let error = client
        .status_proof(&subject_of(&older_keys))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::BadAnswer(reason) if reason.contains("older")),
        "{error}"
    );
}
