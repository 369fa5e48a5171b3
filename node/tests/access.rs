//! Attacks on the trust boundary, through the real server and real TLS: a four-member network in
//! one process (real RocksDB, real libp2p), each node serving its API over TLS 1.3 with
//! certificates issued by the members' CAs from genesis. Each attack checks the outcome the
//! caller sees, that nothing was admitted or stored, that the node keeps serving, and that the
//! access audit log recorded it.

use std::time::Duration;

use evidence_core::digest::HashAlgorithm;
use evidence_genesis::pki::{
    self, CertificateRequest, MemberCa, ROLE_AUDITOR, ROLE_COURT, ROLE_FILER_SYSTEM,
};
use evidence_genesis::{Consortium, default_consortium};
use evidence_node::access::{AuditLine, Method};
use evidence_node::app::now_ms;
use evidence_node::config::NodeConfig;
use evidence_node::local::{
    CertificateFiles, LocalNetwork, anchor_transaction, caller_files, channel, write_homes,
};
use evidence_proto::v1 as pb;
use evidence_proto::v1::ledger_client::LedgerClient;
use tokio::io::AsyncReadExt as _;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

struct Fixture {
    dir: tempfile::TempDir,
    consortium: Consortium,
    network: LocalNetwork,
}

async fn start() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let consortium = default_consortium("evidence-test", now_ms() - 60_000, &mut rand_core::OsRng);
    let homes = write_homes(dir.path(), &consortium, |_, config: &mut NodeConfig| {
        config.consensus.timeout_propose_ms = 1_000;
        config.consensus.idle_block_interval_ms = 200;
        config.metrics.enabled = false;
        config.api.handshake_timeout_ms = 500;
    })
    .unwrap();
    let network = LocalNetwork::start(consortium.genesis.clone(), homes)
        .await
        .unwrap();
    Fixture {
        dir,
        consortium,
        network,
    }
}

impl Fixture {
    fn endpoint(&self) -> String {
        format!("https://{}", self.network.node(0).unwrap().api_address())
    }

    async fn client_as(&self, files: Option<&CertificateFiles>) -> LedgerClient<Channel> {
        let channel = channel(&self.consortium.genesis, &self.endpoint(), files)
            .await
            .unwrap();
        LedgerClient::new(channel)
    }

    async fn client(&self, member: &str, role: &str) -> LedgerClient<Channel> {
        self.client_as(Some(&caller_files(self.dir.path(), member, role)))
            .await
    }

    fn anchor(&self, document_id: &str) -> Vec<u8> {
        let filer = &self
            .consortium
            .filer_keys
            .iter()
            .find(|(m, _)| m == "bureau")
            .unwrap()
            .1;
        anchor_transaction(
            &self.consortium.genesis,
            filer,
            "bureau",
            "completion-drawing",
            "P-ACCESS",
            &[(
                document_id.to_owned(),
                HashAlgorithm::Blake3.hash(document_id.as_bytes()),
            )],
            now_ms(),
        )
        .unwrap()
    }

    /// The log size and mempool depth of node 0, read by a caller that may read.
    async fn log_and_mempool(&self) -> (u64, u64) {
        let status = self
            .client("bureau", ROLE_AUDITOR)
            .await
            .status(pb::StatusRequest {})
            .await
            .unwrap()
            .into_inner();
        (status.log_size, status.mempool_depth)
    }

    fn audit_lines(&self) -> Vec<AuditLine> {
        let path = self.network.homes[0].home.join("audit.log");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("each audit line is one JSON object"))
            .collect()
    }
}

fn reason(status: &tonic::Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

/// Calls `method` with an empty (or minimal) request; the outcome's code.
async fn call(client: &mut LedgerClient<Channel>, method: Method) -> Result<(), tonic::Status> {
    let transaction = Some(pb::Transaction {
        canonical: b"not a transaction".to_vec(),
    });
    match method {
        Method::Notarize => client
            .notarize(pb::NotarizeRequest {
                transaction,
                omit_json: false,
            })
            .await
            .map(drop),
        Method::Submit => client
            .submit(pb::SubmitRequest { transaction })
            .await
            .map(drop),
        Method::GetReceipt => client
            .get_receipt(pb::GetReceiptRequest::default())
            .await
            .map(drop),
        Method::GetCheckpoint => client
            .get_checkpoint(pb::GetCheckpointRequest { height: 0 })
            .await
            .map(drop),
        Method::GetConsistencyProof => client
            .get_consistency_proof(pb::GetConsistencyProofRequest::default())
            .await
            .map(drop),
        Method::Lookup => client.lookup(pb::LookupRequest::default()).await.map(drop),
        Method::GetStatusProof => client
            .get_status_proof(pb::GetStatusProofRequest::default())
            .await
            .map(drop),
        Method::StreamCheckpoints => client
            .stream_checkpoints(pb::StreamCheckpointsRequest { from_height: 1 })
            .await
            .map(drop),
        Method::StreamRuleEvents => client
            .stream_rule_events(pb::StreamRuleEventsRequest::default())
            .await
            .map(drop),
        Method::Status => client.status(pb::StatusRequest {}).await.map(drop),
        Method::GetFiler => client
            .get_filer(pb::GetFilerRequest::default())
            .await
            .map(drop),
        Method::ListFilers => client
            .list_filers(pb::ListFilersRequest::default())
            .await
            .map(drop),
        Method::GetConfiguration => client
            .get_configuration(pb::GetConfigurationRequest {})
            .await
            .map(drop),
        Method::GetProposal => client
            .get_proposal(pb::GetProposalRequest::default())
            .await
            .map(drop),
        Method::ListProposals => client
            .list_proposals(pb::ListProposalsRequest::default())
            .await
            .map(drop),
        Method::Relay => client
            .relay(pb::RelayRequest {
                transactions: Vec::new(),
            })
            .await
            .map(drop),
    }
}

fn assert_refused(result: Result<(), tonic::Status>, code: Code, expected_reason: &str) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(reason(&status), expected_reason, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_trust_boundary_holds_against_each_attack() {
    let fixture = start().await;
    let (log_before, _) = fixture.log_and_mempool().await;

    // No client certificate: TLS completes, every method is UNAUTHENTICATED with the reason,
    // and a transaction sent that way is not admitted.
    let mut anonymous = fixture.client_as(None).await;
    for method in Method::ALL {
        assert_refused(
            call(&mut anonymous, method).await,
            Code::Unauthenticated,
            "no-client-certificate",
        );
    }
    let status = anonymous
        .notarize(pb::NotarizeRequest {
            transaction: Some(pb::Transaction {
                canonical: fixture.anchor("ANON-1"),
            }),
            omit_json: false,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        status
            .message()
            .contains("certificate issued by a consortium member's CA"),
        "{status:?}"
    );

    // A certificate from a CA that is not in genesis fails the TLS handshake itself.
    let stranger = MemberCa::new(
        "stranger",
        &evidence_core::keys::SigningKey::generate(),
        now_ms(),
    )
    .unwrap();
    let stranger_dir = fixture.dir.path().join("stranger");
    std::fs::create_dir_all(&stranger_dir).unwrap();
    let issued = stranger
        .issue(&CertificateRequest {
            name: "stranger-filing",
            role: ROLE_FILER_SYSTEM,
            hosts: &[],
            not_before_ms: now_ms() - 60_000,
            validity_days: 1,
        })
        .unwrap();
    let stranger_files = CertificateFiles {
        certificate: stranger_dir.join("filer.crt"),
        private_key: stranger_dir.join("filer.key"),
    };
    std::fs::write(&stranger_files.certificate, &issued.certificate_pem).unwrap();
    std::fs::write(&stranger_files.private_key, &issued.private_key_pem).unwrap();
    let mut foreign = fixture.client_as(Some(&stranger_files)).await;
    // (In TLS 1.3 the client finishes its side before the server has checked its certificate,
    // so the caller sees the "unknown CA" alert, or the connection closing: before its request
    // went out, or while it was on its way, which tonic reports as cancelled.)
    let status = foreign.status(pb::StatusRequest {}).await.unwrap_err();
    assert!(
        matches!(
            status.code(),
            Code::Unknown | Code::Unavailable | Code::Cancelled
        ) && reason(&status).is_empty(),
        "a transport failure, not an answer: {status:?}"
    );
    // The node counts the failed handshake when its side of it ends, which may be just after
    // the caller saw it fail.
    let metrics = fixture.network.node(0).unwrap().app().metrics();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while metrics.api_handshakes_failed.get() < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the failed handshake is never counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A certificate of a member CA that names no role: UNAUTHENTICATED, with the reason.
    let roleless = issue_roleless(&fixture);
    let mut unreadable = fixture.client_as(Some(&roleless)).await;
    assert_refused(
        call(&mut unreadable, Method::Status).await,
        Code::Unauthenticated,
        "bad-client-certificate",
    );

    // A filing system relaying 100,000 empty transactions: refused before the request is
    // decoded, nothing admitted.
    let mut filer = fixture.client("bureau", ROLE_FILER_SYSTEM).await;
    let flood = pb::RelayRequest {
        transactions: vec![pb::Transaction { canonical: vec![] }; 100_000],
    };
    let status = filer.relay(flood).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(reason(&status), "method-not-granted");
    assert!(status.message().contains("member-node"), "{status:?}");

    // Every role against every method: what is not granted is PERMISSION_DENIED, what is
    // granted gets past the access rules (its own answer may still be an error about the
    // request).
    let granted = |role: &str, method: Method| match role {
        ROLE_FILER_SYSTEM => !matches!(method, Method::Relay),
        ROLE_AUDITOR | ROLE_COURT => {
            !matches!(method, Method::Relay | Method::Notarize | Method::Submit)
        }
        _ => unreachable!(),
    };
    for role in [ROLE_FILER_SYSTEM, ROLE_AUDITOR, ROLE_COURT] {
        let mut client = fixture.client("finance", role).await;
        for method in Method::ALL {
            let result = call(&mut client, method).await;
            if granted(role, method) {
                if let Err(status) = &result {
                    assert_ne!(status.code(), Code::PermissionDenied, "{role} {method}");
                    assert_ne!(status.code(), Code::Unauthenticated, "{role} {method}");
                }
            } else {
                assert_refused(result, Code::PermissionDenied, "method-not-granted");
            }
        }
    }

    // A member node may relay.
    let node_files = CertificateFiles {
        certificate: fixture.network.homes[1].home.join("tls/node.crt"),
        private_key: fixture.network.homes[1].home.join("tls/node.key"),
    };
    let mut member_node = fixture.client_as(Some(&node_files)).await;
    call(&mut member_node, Method::Relay).await.unwrap();
    // Even a member node may not relay more than a batch holds: 100,000 empty transactions
    // are refused whole, and none is admitted.
    let status = member_node
        .relay(pb::RelayRequest {
            transactions: vec![pb::Transaction { canonical: vec![] }; 100_000],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(reason(&status), "too-large");

    // A caller that opens TCP and never starts TLS is closed after the handshake deadline.
    let mut idle = tokio::net::TcpStream::connect(fixture.network.node(0).unwrap().api_address())
        .await
        .unwrap();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buffer))
        .await
        .expect("the node closes a connection that does not finish its handshake");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    // Plaintext gRPC to the TLS port gets nowhere.
    let plain = tonic::transport::Endpoint::from_shared(format!(
        "http://{}",
        fixture.network.node(0).unwrap().api_address()
    ))
    .unwrap()
    .connect_timeout(Duration::from_secs(2))
    .connect()
    .await;
    if let Ok(plain) = plain {
        let status = LedgerClient::new(plain)
            .status(pb::StatusRequest {})
            .await
            .unwrap_err();
        assert_ne!(status.code(), Code::Ok);
    }

    // Nothing was stored or admitted by any of it, and the node still serves.
    let (log_after, mempool) = fixture.log_and_mempool().await;
    assert_eq!(log_after, log_before, "nothing reached the log");
    assert_eq!(mempool, 0, "nothing was admitted");
    let response = filer
        .notarize(pb::NotarizeRequest {
            transaction: Some(pb::Transaction {
                canonical: fixture.anchor("DWG-1"),
            }),
            omit_json: false,
        })
        .await
        .expect("an authorised filing system still notarizes")
        .into_inner();
    assert_eq!(response.receipts.len(), 1);

    // The audit log has a line for each call, with the caller and the outcome. A line is
    // written when its answer has been sent, by the log's own thread: wait for the last one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines = fixture.audit_lines();
        let notarized = lines.iter().any(|l| {
            l.method == "Notarize"
                && l.outcome == "OK"
                && l.name.as_deref() == Some("bureau-filer-system")
        });
        if notarized {
            break lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the notarize call is in the audit log"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let relay_denied = lines
        .iter()
        .find(|l| l.method == "Relay" && l.role.as_deref() == Some(ROLE_FILER_SYSTEM))
        .expect("the refused relay is in the audit log");
    assert_eq!(relay_denied.outcome, "PERMISSION_DENIED");
    assert_eq!(relay_denied.member.as_deref(), Some("bureau"));
    assert_eq!(relay_denied.authentication, "authenticated");
    assert_eq!(relay_denied.request_bytes, 0, "refused before it was read");
    assert!(lines.iter().any(|l| {
        l.method == "Notarize"
            && l.authentication == "no-certificate"
            && l.outcome == "UNAUTHENTICATED"
    }));
    assert!(lines.iter().any(|l| {
        l.method == "Notarize"
            && l.outcome == "OK"
            && l.name.as_deref() == Some("bureau-filer-system")
            && l.request_bytes > 0
            && l.response_bytes > 0
    }));
    assert!(
        lines
            .iter()
            .any(|l| l.authentication == "bad-certificate" && l.outcome == "UNAUTHENTICATED")
    );

    // Node 0 relayed the transaction to the other members' nodes over mutual TLS, as the
    // bureau's member node.
    let relayed = |home: &std::path::Path| {
        std::fs::read_to_string(home.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<AuditLine>(line).ok())
            .any(|l| {
                l.method == "Relay"
                    && l.outcome == "OK"
                    && l.role.as_deref() == Some(pki::ROLE_MEMBER_NODE)
                    && l.member.as_deref() == Some("bureau")
            })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !fixture.network.homes[1..].iter().all(|h| relayed(&h.home)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "every other node logs the bureau node's relay"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fixture.network.shutdown().await;
}

/// A certificate issued by the bureau's CA whose subject names no role (no OU).
/// Certificate files for a caller of `role` issued by `ca`, written under the fixture's
/// directory.
fn issue_with(fixture: &Fixture, ca: &MemberCa, name: &str, role: &str) -> CertificateFiles {
    let issued = ca
        .issue(&CertificateRequest {
            name,
            role,
            hosts: &[],
            not_before_ms: now_ms() - 60_000,
            validity_days: 1,
        })
        .unwrap();
    let dir = fixture.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let files = CertificateFiles {
        certificate: dir.join("caller.crt"),
        private_key: dir.join("caller.key"),
    };
    std::fs::write(&files.certificate, &issued.certificate_pem).unwrap();
    std::fs::write(&files.private_key, &issued.private_key_pem).unwrap();
    files
}

/// Submits `member`'s governance transaction through a filing system's connection.
async fn govern(
    fixture: &Fixture,
    member: &str,
    action: evidence_core::governance::GovernanceAction,
) {
    let bytes = evidence_node::local::governance_transaction(
        &fixture.consortium.genesis,
        member,
        fixture.consortium.governance_key(member).unwrap(),
        action,
        now_ms(),
    );
    fixture
        .client("bureau", ROLE_FILER_SYSTEM)
        .await
        .notarize(pb::NotarizeRequest {
            transaction: Some(pb::Transaction { canonical: bytes }),
            omit_json: false,
        })
        .await
        .unwrap();
}

/// A proposal's status as node 0 reports it.
async fn proposal_status(fixture: &Fixture, id: &str) -> String {
    fixture
        .client("bureau", ROLE_AUDITOR)
        .await
        .get_proposal(pb::GetProposalRequest {
            proposal_id: id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

/// Calls `Status` as the caller of `files` until the outcome is `ok`, for at most a few
/// seconds (node 0 applies a decided configuration when it commits the block).
async fn status_becomes(fixture: &Fixture, files: &CertificateFiles, ok: bool) {
    for _ in 0..100 {
        let answered = match channel(
            &fixture.consortium.genesis,
            &fixture.endpoint(),
            Some(files),
        )
        .await
        {
            Ok(channel) => LedgerClient::new(channel)
                .status(pb::StatusRequest {})
                .await
                .is_ok(),
            Err(_) => false,
        };
        if answered == ok {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the caller's Status never became {}",
        if ok { "answered" } else { "refused" }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_added_by_the_members_reaches_the_api_with_its_own_ca_until_it_is_removed() {
    use evidence_core::governance::{Change, GovernanceAction, Proposal, Vote};
    let fixture = start().await;
    let audit_ca = MemberCa::new(
        "audit",
        &evidence_core::keys::SigningKey::generate(),
        now_ms(),
    )
    .unwrap();
    let auditor = issue_with(&fixture, &audit_ca, "audit-office", ROLE_AUDITOR);
    // Not a member: its CA is no root, the handshake fails.
    status_becomes(&fixture, &auditor, false).await;

    let propose = |id: &str, change: Change| {
        GovernanceAction::Propose(Proposal {
            id: id.to_owned(),
            expires_at_ms: now_ms() + 3_600_000,
            summary: String::new(),
            changes: vec![change],
        })
    };
    let approve = |id: &str| {
        GovernanceAction::Vote(Vote {
            proposal_id: id.to_owned(),
            approve: true,
        })
    };
    let audit_governance = evidence_core::keys::SigningKey::generate();
    govern(
        &fixture,
        "bureau",
        propose(
            "audit-joins",
            Change::AddMember {
                id: "audit".to_owned(),
                name: "Audit Office".to_owned(),
                tls_ca: audit_ca.certificate().der().to_vec(),
                governance_keys: vec![audit_governance.public_key()],
            },
        ),
    )
    .await;
    govern(&fixture, "finance", approve("audit-joins")).await;
    govern(&fixture, "court", approve("audit-joins")).await;
    assert_eq!(proposal_status(&fixture, "audit-joins").await, "accepted");
    status_becomes(&fixture, &auditor, true).await;
    // The audit log, written by its own thread, names the new member and its role.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !fixture.audit_lines().iter().any(|line| {
        line.member.as_deref() == Some("audit") && line.role.as_deref() == Some(ROLE_AUDITOR)
    }) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the audit log never names the new member"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Five members now: four approvals remove it, and its CA is no root any more.
    govern(
        &fixture,
        "court",
        propose(
            "audit-leaves",
            Change::RemoveMember {
                id: "audit".to_owned(),
            },
        ),
    )
    .await;
    for member in ["bureau", "finance", "archive"] {
        govern(&fixture, member, approve("audit-leaves")).await;
    }
    assert_eq!(proposal_status(&fixture, "audit-leaves").await, "accepted");
    status_becomes(&fixture, &auditor, false).await;
    fixture.network.shutdown().await;
}

fn issue_roleless(fixture: &Fixture) -> CertificateFiles {
    let ca = fixture.consortium.member_ca("bureau").unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "no-role");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let certificate = ca.sign(params, &key).unwrap();
    let dir = fixture.dir.path().join("roleless");
    std::fs::create_dir_all(&dir).unwrap();
    let files = CertificateFiles {
        certificate: dir.join("caller.crt"),
        private_key: dir.join("caller.key"),
    };
    std::fs::write(&files.certificate, certificate.pem()).unwrap();
    std::fs::write(&files.private_key, key.serialize_pem()).unwrap();
    files
}

#[tokio::test]
async fn a_node_refuses_to_start_with_tls_files_it_must_not_use() {
    let dir = tempfile::tempdir().unwrap();
    let consortium = default_consortium("evidence-test", now_ms() - 60_000, &mut rand_core::OsRng);
    let homes = write_homes(dir.path(), &consortium, |_, config: &mut NodeConfig| {
        config.metrics.enabled = false;
    })
    .unwrap();
    let start = |i: usize| {
        let home = homes[i].clone();
        let genesis = consortium.genesis.clone();
        async move {
            evidence_node::node::Node::start_with(&home.home, home.config, genesis, home.key)
                .await
                .map(|_| ())
                .unwrap_err()
                .to_string()
        }
    };
    let tls = |i: usize, file: &str| homes[i].home.join("tls").join(file);

    // A private key that others may read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(tls(0, "node.key"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let error = start(0).await;
        assert!(error.contains("chmod 600"), "{error}");
    }

    // Another member's node certificate (and key).
    std::fs::copy(tls(2, "node.crt"), tls(1, "node.crt")).unwrap();
    let error = start(1).await;
    assert!(
        error.contains("member-node certificate of member \"finance\""),
        "{error}"
    );

    // A caller's certificate of the right member instead of a node's.
    let caller = caller_files(dir.path(), "court", ROLE_COURT);
    std::fs::copy(&caller.certificate, tls(2, "node.crt")).unwrap();
    std::fs::copy(&caller.private_key, tls(2, "node.key")).unwrap();
    let error = start(2).await;
    assert!(error.contains("court of court"), "{error}");

    // Not PEM at all.
    std::fs::write(tls(3, "node.crt"), "not a certificate").unwrap();
    let error = start(3).await;
    assert!(error.contains("holds no certificate"), "{error}");
}
