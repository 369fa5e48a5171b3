//! A whole four-member network in one test process: real RocksDB in temporary directories,
//! real libp2p on 127.0.0.1, the real gRPC API. Receipts are verified offline with
//! `evidence-core` against the genesis file alone (once the members changed the validator set,
//! through the hand-offs the receipts carry).
//!
//! The scenarios run one at a time (each starts four nodes; two cores are shared).

use std::time::Duration;

use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::receipt::{Receipt, verify_receipt};
use evidence_genesis::pki::ROLE_FILER_SYSTEM;
use evidence_genesis::{Consortium, default_consortium};
use evidence_node::app::now_ms;
use evidence_node::config::NodeConfig;
use evidence_node::consensus::codec::EvidenceCodec;
use evidence_node::consensus::{BlockHeight, ProposalPart, ValidatorAddress};
use evidence_node::local::{LocalNetwork, anchor_transaction, caller_files, channel, write_homes};
use evidence_proto::v1::ledger_client::LedgerClient;
use evidence_proto::v1::{
    GetCheckpointRequest, NotarizeRequest, NotarizeResponse, StatusRequest, Transaction,
};
use malachite::app::types::streaming::{StreamId, StreamMessage};
use malachite_core_types::Round;
use malachite_engine::util::streaming::StreamContent;
use tonic::Code;
use tonic::transport::Channel;

mod support;

/// One scenario at a time (the lock works across the tests' separate runtimes).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const PROJECT: &str = "P-2026-001";

struct Fixture {
    dir: tempfile::TempDir,
    consortium: Consortium,
    network: LocalNetwork,
}

async fn start(adjust: impl FnMut(&str, &mut NodeConfig)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let consortium = default_consortium("evidence-test", now_ms() - 60_000, &mut rand_core::OsRng);
    let homes = write_homes(dir.path(), &consortium, adjust).unwrap();
    let network = LocalNetwork::start(consortium.genesis.clone(), homes)
        .await
        .unwrap();
    Fixture {
        dir,
        consortium,
        network,
    }
}

fn fast(_: &str, config: &mut NodeConfig) {
    config.consensus.timeout_propose_ms = 1_000;
    config.consensus.idle_block_interval_ms = 200;
    config.metrics.enabled = false;
}

impl Fixture {
    /// The public key of `member`'s validator.
    fn validator(&self, member: &str) -> evidence_core::keys::PublicKey {
        self.consortium
            .validator_keys
            .iter()
            .find(|(m, _)| m == member)
            .unwrap()
            .1
            .public_key()
    }

    /// The home directory and configuration of a node that is not one of the four: a
    /// plaintext API, a free consensus port, fast timeouts, and the first `peers` of the four
    /// nodes as its peers.
    fn extra_node(&self, moniker: &str, peers: usize) -> (std::path::PathBuf, NodeConfig) {
        let home = self.dir.path().join(moniker);
        std::fs::create_dir_all(&home).unwrap();
        let mut config = NodeConfig::default();
        config.node.moniker = moniker.into();
        config.api.plaintext = true;
        config.api.listen = "127.0.0.1:0".parse().unwrap();
        config.metrics.enabled = false;
        config.consensus.listen = format!(
            "/ip4/127.0.0.1/tcp/{}",
            evidence_node::local::free_port().unwrap()
        );
        config.consensus.timeout_propose_ms = 1_000;
        config.consensus.idle_block_interval_ms = 200;
        config.consensus.peers = self.network.homes[..peers]
            .iter()
            .zip(&self.consortium.validator_keys)
            .map(|(home, (_, key))| {
                format!(
                    "{}/p2p/{}",
                    home.config.consensus.listen,
                    evidence_node::consensus::validator_peer_id(&key.public_key(), None).unwrap()
                )
            })
            .collect();
        (home, config)
    }

    fn filer(&self, member: &str) -> &evidence_core::keys::SigningKey {
        &self
            .consortium
            .filer_keys
            .iter()
            .find(|(m, _)| m == member)
            .unwrap()
            .1
    }

    /// A signed anchor of one document with `content`, filed by `member` as `kind`.
    fn anchor(&self, member: &str, kind: &str, document_id: &str, content: &[u8]) -> Vec<u8> {
        anchor_transaction(
            &self.consortium.genesis,
            self.filer(member),
            member,
            kind,
            PROJECT,
            &[(document_id.to_owned(), digest(content))],
            now_ms(),
        )
        .unwrap()
    }

    /// A client of node `node` over TLS, as the bureau's filing system.
    async fn client(&self, node: usize) -> LedgerClient<Channel> {
        let address = self.network.node(node).unwrap().api_address();
        let caller = caller_files(self.dir.path(), "bureau", ROLE_FILER_SYSTEM);
        let channel = channel(
            &self.consortium.genesis,
            &format!("https://{address}"),
            Some(&caller),
        )
        .await
        .unwrap();
        LedgerClient::new(channel)
    }

    fn check_receipts(&self, response: &NotarizeResponse, content: &[u8]) -> Vec<Receipt> {
        let anchor = self.consortium.genesis.trust_anchor().unwrap();
        assert!(!response.receipts.is_empty());
        response
            .receipts
            .iter()
            .map(|r| {
                let receipt = Receipt::from_json(&r.json).unwrap();
                let verdict = verify_receipt(&digest(content), &receipt, &anchor)
                    .expect("receipt verifies offline against the genesis file");
                assert_eq!(verdict.entry_index, r.entry_index);
                assert!(verdict.signers.len() >= 3, "a quorum of 4 signed");
                receipt
            })
            .collect()
    }
}

fn digest(content: &[u8]) -> Digest {
    HashAlgorithm::Blake3.hash(content)
}

/// Notarizes `transaction`, retrying while the node answers UNAVAILABLE (a node that started
/// after its peers catches up first), as every client does.
async fn notarize(
    client: &mut LedgerClient<Channel>,
    transaction: Vec<u8>,
) -> Result<NotarizeResponse, tonic::Status> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut request = tonic::Request::new(NotarizeRequest {
            transaction: Some(Transaction {
                canonical: transaction.clone(),
            }),
            omit_json: false,
        });
        request.set_timeout(Duration::from_secs(30));
        match client.notarize(request).await {
            Err(status)
                if status.code() == Code::Unavailable && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            answer => return answer.map(tonic::Response::into_inner),
        }
    }
}

async fn height(client: &mut LedgerClient<Channel>) -> u64 {
    client
        .status(StatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .height
}

/// Waits until node `i` reaches `target` height.
async fn wait_for_height(fixture: &Fixture, i: usize, target: u64) {
    let app = fixture.network.node(i).unwrap().app().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while app.tip().height < target {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node {i} stuck at height {} (want {target})",
            app.tip().height
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_members_notarize_and_receipts_verify_offline() {
    let _serial = SERIAL.lock().await;
    let fixture = start(fast).await;
    // Each member's node accepts the bureau's filings and answers with a receipt.
    for node in 0..4 {
        let mut client = fixture.client(node).await;
        let content = format!("completion drawing via node {node}");
        let tx = fixture.anchor(
            "bureau",
            "completion-drawing",
            &format!("DWG-{node}"),
            content.as_bytes(),
        );
        let response = notarize(&mut client, tx).await.unwrap();
        fixture.check_receipts(&response, content.as_bytes());
    }
    // Every node holds the same chain: the same header at a common height.
    let common = fixture
        .network
        .running()
        .map(|n| n.app().tip().height)
        .min()
        .unwrap();
    let mut headers = Vec::new();
    for node in 0..4 {
        let checkpoint = fixture
            .client(node)
            .await
            .get_checkpoint(GetCheckpointRequest { height: common })
            .await
            .unwrap()
            .into_inner()
            .checkpoint
            .unwrap();
        headers.push(checkpoint.header);
    }
    assert!(headers.windows(2).all(|w| w[0] == w[1]));
    fixture.network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_of_four_keep_committing_when_one_is_stopped() {
    let _serial = SERIAL.lock().await;
    let mut fixture = start(fast).await;
    let mut client = fixture.client(0).await;
    let tx = fixture.anchor("bureau", "inspection-report", "INS-1", b"before");
    notarize(&mut client, tx).await.unwrap();

    fixture.network.stop_node(3).await;
    for i in 0..5 {
        let content = format!("after stop {i}");
        let tx = fixture.anchor(
            "bureau",
            "inspection-report",
            &format!("INS-after-{i}"),
            content.as_bytes(),
        );
        let response = notarize(&mut client, tx).await.unwrap();
        fixture.check_receipts(&response, content.as_bytes());
    }
    fixture.network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_node_keeps_what_it_acknowledged_and_catches_up() {
    let _serial = SERIAL.lock().await;
    let mut fixture = start(fast).await;
    let mut client = fixture.client(2).await;
    let tx = fixture.anchor("bureau", "completion-drawing", "DWG-R", b"acknowledged");
    let acknowledged = notarize(&mut client, tx).await.unwrap();
    let index = acknowledged.receipts[0].entry_index;
    let acknowledged_height = fixture.network.node(2).unwrap().app().tip().height;
    drop(client);

    // Stop node 2 and keep the others committing while it is away.
    fixture.network.stop_node(2).await;
    let mut other = fixture.client(0).await;
    for i in 0..3 {
        let content = format!("while away {i}");
        let tx = fixture.anchor(
            "bureau",
            "completion-drawing",
            &format!("DWG-away-{i}"),
            content.as_bytes(),
        );
        notarize(&mut other, tx).await.unwrap();
    }
    // Idle blocks keep coming: let node 2 fall well behind, so that it has to catch up
    // through value sync rather than rejoin at the next height.
    wait_for_height(&fixture, 0, acknowledged_height + 10).await;
    let target = fixture.network.node(0).unwrap().app().tip().height;

    fixture.network.start_node(2).await.unwrap();
    let restarted = fixture.network.node(2).unwrap().app().clone();
    assert!(
        restarted.tip().height >= acknowledged_height,
        "nothing acknowledged is lost"
    );
    let receipt = restarted.ledger().receipt(index).unwrap().unwrap();
    let anchor = fixture.consortium.genesis.trust_anchor().unwrap();
    verify_receipt(&digest(b"acknowledged"), &receipt, &anchor).unwrap();

    wait_for_height(&fixture, 2, target).await;
    let mut client = fixture.client(2).await;
    assert!(height(&mut client).await >= target);
    // It noticed it was behind (writes waited meanwhile), and says it is synced once
    // consensus at the tip decides a height again.
    let metrics = restarted.metrics();
    assert!(metrics.catch_ups.get() >= 1, "the catch-up was not noticed");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = client.status(StatusRequest {}).await.unwrap().into_inner();
        if status.synced {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node 2 still catching up at height {}",
            status.height
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metrics.catching_up.get(), 0);
    // And it takes part again: a filing through it commits.
    let tx = fixture.anchor("bureau", "completion-drawing", "DWG-back", b"back");
    let response = notarize(&mut client, tx).await.unwrap();
    fixture.check_receipts(&response, b"back");
    fixture.network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_is_not_in_genesis_changes_nothing() {
    let _serial = SERIAL.lock().await;
    let fixture = start(fast).await;
    // A stranger runs a node of a forged genesis in which its key replaces the archive's
    // validator, so that it takes the other three as its peers, dials them, votes and, on its
    // turns, proposes and streams blocks to them.
    let stranger = evidence_core::keys::SigningKey::generate_with(&mut rand_core::OsRng);
    let mut forged = fixture.consortium.genesis.clone();
    forged.validators[3].public_key = stranger.public_key();
    forged.validate().unwrap();
    let (home, config) = fixture.extra_node("stranger", 3);
    let intruder = evidence_node::node::Node::start_with(&home, config, forged, stranger.clone())
        .await
        .unwrap();

    // The consortium goes on as before, and the stranger gets nowhere.
    let mut client = fixture.client(0).await;
    for i in 0..8 {
        let content = format!("with a stranger about {i}");
        let tx = fixture.anchor(
            "bureau",
            "completion-drawing",
            &format!("DWG-S{i}"),
            content.as_bytes(),
        );
        let response = notarize(&mut client, tx).await.unwrap();
        fixture.check_receipts(&response, content.as_bytes());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let app = fixture.network.node(0).unwrap().app().clone();
    for height in 1..=app.tip().height {
        let (block, _) = app.decided_block(height).unwrap().unwrap();
        assert_ne!(
            block.header.proposer,
            stranger.public_key(),
            "height {height}"
        );
    }
    assert_eq!(
        intruder.app().tip().height,
        0,
        "the stranger committed nothing: no quorum of its forged set, and the consortium's \
         blocks name another genesis"
    );
    for node in fixture.network.running() {
        assert!(
            node.app().metrics().peers.get() <= 3,
            "the stranger is not among a node's consensus peers"
        );
    }
    intruder.shutdown().await;
    fixture.network.shutdown().await;
}

/// What a stranger peer speaks: what the nodes speak. Ping, the simplest protocol every node
/// answers; the direct broadcast by which proposers stream proposal parts; and the engine's
/// value-sync protocol, by which a peer asks for decided blocks.
#[derive(libp2p::swarm::NetworkBehaviour)]
struct StrangerBehaviour {
    ping: libp2p::ping::Behaviour,
    broadcast: libp2p_scatter::Behaviour,
    sync: malachite_sync::Behaviour,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_that_is_not_in_genesis_is_refused_at_the_handshake() {
    use futures::StreamExt;
    use libp2p::swarm::SwarmEvent;
    use malachite_codec::Codec;

    let _serial = SERIAL.lock().await;
    let fixture = start(fast).await;
    wait_for_height(&fixture, 0, 2).await;
    // A stranger speaks the transport (TCP, Noise, Yamux) with a key of its own and never
    // identifies itself. It pings, streams proposal parts on the node's proposal topic and asks
    // for the first decided blocks. Were its connection kept until an identification that
    // never comes, the node would answer its pings, hand its parts to consensus and send it
    // the blocks themselves: a peer the consortium never admitted.
    let mut stranger = support::swarm(StrangerBehaviour {
        ping: libp2p::ping::Behaviour::new(
            libp2p::ping::Config::new().with_interval(Duration::from_millis(50)),
        ),
        broadcast: libp2p_scatter::Behaviour::default(),
        sync: malachite_sync::Behaviour::default(),
    });
    let request = EvidenceCodec
        .encode(&malachite_sync::Request::ValueRequest(
            malachite_sync::ValueRequest::new(BlockHeight(1)..=BlockHeight(2)),
        ))
        .unwrap();
    let part = EvidenceCodec
        .encode(&StreamMessage::new(
            StreamId::new(bytes::Bytes::from_static(b"stranger")),
            0,
            StreamContent::Data(ProposalPart::Init {
                height: BlockHeight(3),
                round: Round::new(0),
                proposer: ValidatorAddress(fixture.validator("bureau")),
                pol_round: Round::Nil,
            }),
        ))
        .unwrap();
    let target: libp2p::Multiaddr = fixture.network.homes[0]
        .config
        .consensus
        .listen
        .parse()
        .unwrap();
    let (mut opened, mut refused, mut answered) = (0, 0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    let mut next_dial = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_dial && opened + refused < 3 {
            // Dial again after each refusal: the node must refuse every attempt.
            stranger.dial(target.clone()).unwrap();
            next_dial = tokio::time::Instant::now() + Duration::from_secs(1);
        }
        let event = tokio::select! {
            event = stranger.select_next_some() => event,
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tokio::time::sleep_until(next_dial) => continue,
        };
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                opened += 1;
                stranger
                    .behaviour_mut()
                    .sync
                    .send_request(peer_id, request.clone());
            }
            SwarmEvent::OutgoingConnectionError { .. } => refused += 1,
            SwarmEvent::Behaviour(StrangerBehaviourEvent::Broadcast(
                libp2p_scatter::Event::Subscribed(_, topic),
            )) => {
                // The node announced its topics; stream parts on each.
                for _ in 0..16 {
                    stranger
                        .behaviour_mut()
                        .broadcast
                        .broadcast(&topic, part.clone());
                }
            }
            SwarmEvent::Behaviour(StrangerBehaviourEvent::Ping(libp2p::ping::Event {
                result: Ok(_),
                ..
            })) => answered += 1,
            SwarmEvent::Behaviour(StrangerBehaviourEvent::Sync(
                libp2p::request_response::Event::Message { .. },
            )) => answered += 1,
            _ => {}
        }
    }
    assert!(
        opened + refused >= 1,
        "the stranger reached the node's port"
    );
    assert_eq!(
        answered, 0,
        "no message of the stranger reached the node: no ping and no block request was answered"
    );
    assert_eq!(
        fixture
            .network
            .node(0)
            .unwrap()
            .app()
            .metrics()
            .consensus_parts_refused
            .get(),
        0,
        "none of the stranger's proposal parts reached consensus, not even to be refused there"
    );
    assert_eq!(
        stranger.connected_peers().count(),
        0,
        "no connection to the stranger is left open"
    );
    // The consortium goes on as before.
    let mut client = fixture.client(0).await;
    let tx = fixture.anchor("bureau", "completion-drawing", "DWG-H1", b"handshake");
    let response = notarize(&mut client, tx).await.unwrap();
    fixture.check_receipts(&response, b"handshake");
    fixture.network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_reads_on_one_node_leaves_consensus_committing_and_that_node_in_step() {
    use evidence_genesis::pki::ROLE_AUDITOR;
    use evidence_proto::v1::LookupRequest;
    use evidence_proto::v1::lookup_request::By as LookupBy;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let _serial = SERIAL.lock().await;
    let fixture = start(fast).await;
    let mut client = fixture.client(0).await;
    for i in 0..20 {
        let content = format!("before the flood {i}");
        let tx = fixture.anchor(
            "bureau",
            "completion-drawing",
            &format!("DWG-F{i}"),
            content.as_bytes(),
        );
        notarize(&mut client, tx).await.unwrap();
    }
    // 64 auditors read from node 3 as fast as it answers, for 4 s: lookups of the project,
    // checkpoints and status in turn.
    let flooded = fixture.network.node(3).unwrap().api_address();
    let caller = caller_files(fixture.dir.path(), "bureau", ROLE_AUDITOR);
    let answered = Arc::new(AtomicU64::new(0));
    let shed = Arc::new(AtomicU64::new(0));
    let window = Duration::from_secs(4);
    let end = tokio::time::Instant::now() + window;
    let mut readers = Vec::new();
    for k in 0..64u64 {
        let channel = channel(
            &fixture.consortium.genesis,
            &format!("https://{flooded}"),
            Some(&caller),
        )
        .await
        .unwrap();
        let mut reader = LedgerClient::new(channel);
        let (answered, shed) = (Arc::clone(&answered), Arc::clone(&shed));
        readers.push(tokio::spawn(async move {
            let mut turn = k;
            while tokio::time::Instant::now() < end {
                turn += 1;
                let result = match turn % 3 {
                    0 => reader
                        .lookup(LookupRequest {
                            by: Some(LookupBy::ProjectId(PROJECT.to_owned())),
                            page_token: Vec::new(),
                            limit: 0,
                        })
                        .await
                        .map(|_| ()),
                    1 => reader
                        .get_checkpoint(GetCheckpointRequest { height: 0 })
                        .await
                        .map(|_| ()),
                    _ => reader.status(StatusRequest {}).await.map(|_| ()),
                };
                match result {
                    Ok(()) => answered.fetch_add(1, Ordering::Relaxed),
                    Err(status) if status.code() == Code::ResourceExhausted => {
                        shed.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(status) => panic!("a reader got {status:?}"),
                };
            }
        }));
    }
    // Meanwhile the filing system notarizes through node 0, one call at a time.
    let start_height = fixture.network.node(0).unwrap().app().tip().height;
    let mut filed = 0;
    while tokio::time::Instant::now() < end {
        let content = format!("during the flood {filed}");
        let tx = fixture.anchor(
            "bureau",
            "completion-drawing",
            &format!("DWG-G{filed}"),
            content.as_bytes(),
        );
        let response = notarize(&mut client, tx).await.unwrap();
        fixture.check_receipts(&response, content.as_bytes());
        filed += 1;
    }
    for reader in readers {
        reader.await.unwrap();
    }
    let heights = fixture.network.node(0).unwrap().app().tip().height - start_height;
    let answered = answered.load(Ordering::Relaxed);
    let shed = shed.load(Ordering::Relaxed);
    eprintln!(
        "flood on node 3 for {window:?}: {answered} reads answered, {shed} shed; \
         {filed} filings through node 0, {heights} heights"
    );
    assert!(answered > 0, "the flooded node kept serving reads");
    assert!(filed >= 10, "filings kept committing during the flood");
    // The flooded node itself kept following consensus: at most a height or two behind.
    let tip = fixture.network.node(0).unwrap().app().tip().height;
    let flooded_tip = fixture.network.node(3).unwrap().app().tip().height;
    assert!(
        flooded_tip + 2 >= tip,
        "the flooded node is at height {flooded_tip}, the others at {tip}"
    );
    fixture.network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_back_dated_proposal_is_refused_and_the_network_moves_on() {
    let _serial = SERIAL.lock().await;
    // No empty blocks while the test waits between filings, so each filing's block follows
    // a gap: the faulty proposer dates its block just after the previous one, well over the
    // age bound back.
    let fixture = start(|member, config| {
        config.metrics.enabled = false;
        config.consensus.timeout_propose_ms = 20_000;
        config.consensus.idle_block_interval_ms = 10_000;
        config.consensus.block_age_max_ms = 400;
        if member == "court" {
            config.testing.byzantine_back_date = true;
        }
    })
    .await;
    let court = fixture.validator("court");
    let mut client = fixture.client(0).await;
    for i in 0..6 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        let content = format!("after a pause {i}");
        let tx = fixture.anchor(
            "bureau",
            "completion-drawing",
            &format!("DWG-T{i}"),
            content.as_bytes(),
        );
        let response = notarize(&mut client, tx).await.unwrap();
        fixture.check_receipts(&response, content.as_bytes());
    }
    let app = fixture.network.node(0).unwrap().app().clone();
    let tip = app.tip().height;
    let mut previous = 0;
    let mut later_rounds = 0;
    for height in 1..=tip {
        let (block, certificate) = app.decided_block(height).unwrap().unwrap();
        assert_ne!(
            block.header.proposer, court,
            "a back-dated block of the faulty member was committed at height {height}"
        );
        assert!(block.header.time_ms > previous);
        previous = block.header.time_ms;
        later_rounds += usize::from(certificate.round > 0);
    }
    assert!(
        later_rounds >= 1,
        "the faulty member's turn came and its proposal was refused (a height went to round 1)"
    );
    fixture.network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proposer_with_a_wrong_state_root_is_refused_and_the_network_moves_on() {
    let _serial = SERIAL.lock().await;
    let fixture = start(|member, config| {
        fast(member, config);
        if member == "court" {
            config.testing.byzantine_wrong_state_root = true;
        }
    })
    .await;
    let court = fixture.validator("court");
    let mut client = fixture.client(0).await;
    // Enough heights that the faulty member's turn to propose comes round several times.
    for i in 0..8 {
        let content = format!("filing {i}");
        let tx = fixture.anchor(
            "bureau",
            "completion-drawing",
            &format!("DWG-B{i}"),
            content.as_bytes(),
        );
        let response = notarize(&mut client, tx).await.unwrap();
        fixture.check_receipts(&response, content.as_bytes());
    }
    let app = fixture.network.node(0).unwrap().app().clone();
    let tip = app.tip().height;
    assert!(tip >= 8);
    for height in 1..=tip {
        let (block, _) = app.decided_block(height).unwrap().unwrap();
        assert_ne!(
            block.header.proposer, court,
            "no block proposed by the faulty member was committed (height {height})"
        );
    }
    fixture.network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_transactions_get_clear_errors_and_the_node_keeps_serving() {
    let _serial = SERIAL.lock().await;
    let fixture = start(fast).await;
    let mut client = fixture.client(1).await;

    // A key that is not in the genesis file.
    let stranger = evidence_core::keys::SigningKey::generate();
    let tx = anchor_transaction(
        &fixture.consortium.genesis,
        &stranger,
        "bureau",
        "completion-drawing",
        PROJECT,
        &[("DWG-X".into(), digest(b"x"))],
        now_ms(),
    )
    .unwrap();
    let status = notarize(&mut client, tx).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // A filer anchoring a kind its member may not anchor (the bureau files a payment).
    let tx = fixture.anchor("bureau", "fund-transfer", "PAY-1", b"pay");
    let status = notarize(&mut client, tx).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // A replayed transaction: the same signed bytes again are answered with the same
    // receipts (the submission is idempotent) and never appended twice.
    let tx = fixture.anchor("bureau", "completion-drawing", "DWG-1", b"once");
    let first = notarize(&mut client, tx.clone()).await.unwrap();
    let again = notarize(&mut client, tx.clone()).await.unwrap();
    assert_eq!(first.receipts[0].entry_index, again.receipts[0].entry_index);
    let submit = client
        .submit(evidence_proto::v1::SubmitRequest {
            transaction: Some(Transaction { canonical: tx }),
        })
        .await
        .unwrap_err();
    assert_eq!(submit.code(), Code::FailedPrecondition, "{submit:?}");

    // An oversized transaction.
    let max = fixture
        .consortium
        .genesis
        .policy
        .limits
        .transaction_bytes_max as usize;
    let status = notarize(&mut client, vec![1; max + 1]).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // Garbage transaction bytes.
    let status = notarize(&mut client, b"not a transaction".to_vec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // Garbage on the gRPC port itself.
    let address = fixture.network.node(1).unwrap().api_address();
    {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.0\r\n\r\n\x00\xff garbage \x16\x03\x01")
            .await
            .unwrap();
        let _ = stream.shutdown().await;
    }

    // The node still serves.
    let tx = fixture.anchor("bureau", "completion-drawing", "DWG-2", b"still serving");
    let response = notarize(&mut client, tx).await.unwrap();
    fixture.check_receipts(&response, b"still serving");
    fixture.network.shutdown().await;
}

/// Submits `member`'s governance transaction to node 0 through the bureau's filing system.
async fn govern(
    fixture: &Fixture,
    member: &str,
    action: evidence_core::governance::GovernanceAction,
) -> NotarizeResponse {
    let bytes = evidence_node::local::governance_transaction(
        &fixture.consortium.genesis,
        member,
        fixture.consortium.governance_key(member).unwrap(),
        action,
        now_ms(),
    );
    notarize(&mut fixture.client(0).await, bytes).await.unwrap()
}

/// Waits until node 0 holds a validator set for the next height that `holds` accepts.
async fn wait_for_set(
    fixture: &Fixture,
    holds: impl Fn(&evidence_core::validators::ValidatorSet) -> bool,
) {
    let app = fixture.network.node(0).unwrap().app().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !holds(&app.tip().validators) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the validator set never changed as proposed: {:?}",
            app.tip().validators
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Files documents through node 0 until a block `proposer` proposed is committed and a
/// certificate carries its vote (at most a minute); returns the height it proposed. Each
/// receipt is verified offline against the genesis file alone, following its hand-offs.
async fn file_until_proposed_by(
    fixture: &Fixture,
    proposer: evidence_core::keys::PublicKey,
    tag: &str,
) -> u64 {
    let app = fixture.network.node(0).unwrap().app().clone();
    let mut client = fixture.client(0).await;
    let genesis_anchor = fixture.consortium.genesis.trust_anchor().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let start = app.tip().height;
    for i in 0.. {
        let content = format!("{tag} {i}");
        let tx = fixture.anchor(
            "bureau",
            "completion-drawing",
            &format!("DWG-{tag}-{i}"),
            content.as_bytes(),
        );
        let response = notarize(&mut client, tx).await.unwrap();
        let tip = app.tip();
        for r in &response.receipts {
            // Offline, with the genesis file alone: the receipt carries the hand-offs from the
            // genesis set to the set that certified it.
            let receipt = Receipt::from_json(&r.json).unwrap();
            let verdict = verify_receipt(&digest(content.as_bytes()), &receipt, &genesis_anchor)
                .expect("the receipt verifies against the genesis file");
            assert_eq!(
                verdict.validator_set, receipt.checkpoint.header.validator_set_hash,
                "the verdict names the set that certified the receipt"
            );
            assert_eq!(
                verdict.handoff_heights.len(),
                receipt.handoffs.len(),
                "every hand-off is followed"
            );
            if receipt.checkpoint.header.validator_set_hash == tip.validator_set_hash {
                assert_eq!(verdict.validator_set, tip.validator_set_hash);
            }
        }
        let (mut proposed, mut signed) = (None, false);
        for height in start + 1..=tip.height {
            let (block, certificate) = app.decided_block(height).unwrap().unwrap();
            if block.header.proposer == proposer {
                proposed.get_or_insert(height);
            }
            signed |= certificate
                .signatures
                .iter()
                .any(|s| s.validator == proposer);
        }
        if let (Some(height), true) = (proposed, signed) {
            return height;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no block proposed by {proposer} committed in a minute (tip {})",
            tip.height
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

/// 4 -> 5 -> 4 through proposals of the members, with the network committing throughout: the
/// added validator (a node started before it was one) is dialled, votes and proposes; a node
/// down during the change catches up across it; the removed validator is dropped as a peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fifth_validator_joins_one_leaves_and_a_power_changes_while_the_network_commits() {
    use evidence_core::governance::{Change, GovernanceAction, Proposal, Vote};
    let _serial = SERIAL.lock().await;
    let mut fixture = start(fast).await;
    // The court's second node: a key of no role in genesis, its member named in node.toml.
    // It starts as no validator and follows the chain.
    let fifth = evidence_core::keys::SigningKey::generate_with(&mut rand_core::OsRng);
    let (home, mut config) = fixture.extra_node("court-2", 4);
    config.node.member = "court".into();
    let listen = config.consensus.listen.clone();
    let joiner = evidence_node::node::Node::start_with(
        &home,
        config,
        fixture.consortium.genesis.clone(),
        fifth.clone(),
    )
    .await
    .unwrap();

    let propose = |id: &str, changes: Vec<Change>| {
        GovernanceAction::Propose(Proposal {
            id: id.to_owned(),
            expires_at_ms: now_ms() + 600_000,
            summary: format!("validator changes: {id}"),
            changes,
        })
    };
    let approve = |id: &str| {
        GovernanceAction::Vote(Vote {
            proposal_id: id.to_owned(),
            approve: true,
        })
    };
    // The finance bureau's node is down while the set changes; it catches up across the
    // change afterwards.
    fixture.network.stop_node(1).await;
    // 4 -> 5: the court proposes its second node, the bureau and the finance bureau approve.
    govern(
        &fixture,
        "court",
        propose(
            "court-second-node",
            vec![Change::AddValidator {
                member: "court".into(),
                public_key: fifth.public_key(),
                voting_power: 1,
                address: Some(listen),
            }],
        ),
    )
    .await;
    govern(&fixture, "bureau", approve("court-second-node")).await;
    govern(&fixture, "finance", approve("court-second-node")).await;
    wait_for_set(&fixture, |set| {
        set.len() == 5 && set.get(&fifth.public_key()).is_some()
    })
    .await;
    // The new validator is reached, catches up, votes and proposes in its turn.
    let proposed = file_until_proposed_by(&fixture, fifth.public_key(), "five").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while joiner.app().tip().height < proposed {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fifth node lags"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The finance bureau's node restarts (its configured peers do not name the fifth node),
    // catches up across the change by value sync, and takes the fifth node among its peers.
    fixture.network.start_node(1).await.unwrap();
    wait_for_height(&fixture, 1, proposed).await;
    let finance_peers = || fixture.network.node(1).unwrap().app().metrics().peers.get();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while finance_peers() != 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restarted node has {} peers, not the 4 other validators",
            finance_peers()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Node 0 took the new validator among its peers (the address its proposal gave).
    let peers = || fixture.network.node(0).unwrap().app().metrics().peers.get();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while peers() != 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node 0 has {} peers, not the 4 other validators",
            peers()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // 5 -> 4: the archive's validator leaves and the bureau's counts twice.
    let archive = fixture.validator("archive");
    let bureau = fixture.validator("bureau");
    govern(
        &fixture,
        "finance",
        propose(
            "archive-leaves",
            vec![
                Change::RemoveValidator {
                    public_key: archive,
                },
                Change::SetVotingPower {
                    public_key: bureau,
                    voting_power: 2,
                },
            ],
        ),
    )
    .await;
    govern(&fixture, "bureau", approve("archive-leaves")).await;
    govern(&fixture, "court", approve("archive-leaves")).await;
    wait_for_set(&fixture, |set| {
        set.len() == 4
            && set.get(&archive).is_none()
            && set.get(&bureau).is_some_and(|v| v.voting_power == 2)
    })
    .await;
    // The archive's node, still running, is no peer of the others any more: node 0 keeps the
    // finance bureau's, the court's and the court's second node.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while peers() != 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node 0 has {} peers, not the 3 other validators",
            peers()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The archive's node stops; the four validators left (power 5, quorum 4) go on, and the
    // fifth node still proposes.
    fixture.network.stop_node(3).await;
    file_until_proposed_by(&fixture, fifth.public_key(), "four").await;
    joiner.shutdown().await;
    fixture.network.shutdown().await;
}
