//! The real binary: four `evidence-node` processes on loopback. One is killed with SIGKILL
//! (no shutdown of any kind) while the others go on, then started again from its home: every
//! entry it had acknowledged is still there and it catches up. Its `/metrics` endpoint is read
//! over HTTP. In another network one is paused with SIGSTOP: once taken for absent its turns
//! cost nothing, and resumed it proposes again.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::receipt::{Receipt, verify_receipt};
use evidence_genesis::Genesis;
use evidence_genesis::pki::ROLE_FILER_SYSTEM;
use evidence_genesis::{Consortium, default_consortium};
use evidence_node::app::now_ms;
use evidence_node::local::{
    MemberHome, anchor_transaction, caller_files, channel, free_port, write_homes,
};
use evidence_proto::v1::ledger_client::LedgerClient;
use evidence_proto::v1::{
    GetReceiptRequest, NotarizeRequest, StatusRequest, Transaction, get_receipt_request,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;

/// A node process, killed when dropped so a failing test leaves nothing running.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(home: &MemberHome) -> Process {
    let child = Command::new(env!("CARGO_BIN_EXE_evidence-node"))
        .arg("--home")
        .arg(&home.home)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the node binary starts");
    Process(child)
}

/// A client over TLS, as the bureau's filing system (certificates from `write_homes`).
async fn connect(root: &Path, genesis: &Genesis, address: SocketAddr) -> LedgerClient<Channel> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let caller = caller_files(root, "bureau", ROLE_FILER_SYSTEM);
    loop {
        match channel(genesis, &format!("https://{address}"), Some(&caller)).await {
            Ok(channel) => return LedgerClient::new(channel),
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "node at {address} never answered: {error}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Notarizes `transaction`, retrying while the node answers UNAVAILABLE (a node that started
/// after its peers, or was restarted, catches up first), as every client does.
async fn notarize(client: &mut LedgerClient<Channel>, transaction: Vec<u8>) -> Vec<Receipt> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let response = loop {
        let mut request = tonic::Request::new(NotarizeRequest {
            transaction: Some(Transaction {
                canonical: transaction.clone(),
            }),
            omit_json: false,
        });
        request.set_timeout(Duration::from_secs(30));
        match client.notarize(request).await {
            Err(status)
                if status.code() == tonic::Code::Unavailable
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            answer => break answer.expect("notarized"),
        }
    };
    response
        .into_inner()
        .receipts
        .iter()
        .map(|r| Receipt::from_json(&r.json).unwrap())
        .collect()
}

async fn height(client: &mut LedgerClient<Channel>) -> u64 {
    client
        .status(StatusRequest {})
        .await
        .map(|r| r.into_inner().height)
        .unwrap_or(0)
}

async fn get_metrics(address: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text
}

fn digest(content: &[u8]) -> Digest {
    HashAlgorithm::Blake3.hash(content)
}

/// A consortium of four members on chain `chain_id` and their homes under `root`: a 1 s
/// propose timeout, empty blocks after 200 ms, metrics on a free loopback port.
fn four_members(root: &Path, chain_id: &str) -> (Consortium, Vec<MemberHome>) {
    let consortium = default_consortium(chain_id, now_ms() - 60_000, &mut rand_core::OsRng);
    let homes = write_homes(root, &consortium, |_, config| {
        config.consensus.timeout_propose_ms = 1_000;
        // The timeouts of busy heights do not adapt here, so that a paused member's turn
        // costs the propose timeout whether or not a filing was waiting when its height began.
        config.consensus.timeout_floor_ms = 1_000;
        config.consensus.idle_block_interval_ms = 200;
        config.metrics.listen = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    })
    .unwrap();
    (consortium, homes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_keeps_what_it_acknowledged_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let (consortium, homes) = four_members(dir.path(), "evidence-kill");
    let mut processes: Vec<Option<Process>> = homes.iter().map(|h| Some(spawn(h))).collect();
    let anchor = consortium.genesis.trust_anchor().unwrap();
    let filer = &consortium.filer_keys[0].1;
    let file = |id: &str, content: &[u8]| {
        anchor_transaction(
            &consortium.genesis,
            filer,
            "bureau",
            "completion-drawing",
            "P-KILL",
            &[(id.to_owned(), digest(content))],
            now_ms(),
        )
        .unwrap()
    };

    // Filed through the node that will be killed: it acknowledged this entry.
    let mut victim = connect(dir.path(), &consortium.genesis, homes[1].config.api.listen).await;
    let acknowledged = notarize(&mut victim, file("DWG-K1", b"acknowledged")).await;
    verify_receipt(&digest(b"acknowledged"), &acknowledged[0], &anchor).unwrap();
    let index = acknowledged[0].entry.index;

    // Its metrics are served over HTTP.
    let metrics = get_metrics(homes[1].config.metrics.listen).await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("evidence_height "), "{metrics}");
    assert!(metrics.contains("evidence_commit_latency_seconds_bucket"));

    // SIGKILL: no shutdown, no flush.
    drop(victim);
    processes[1].take();

    let mut other = connect(dir.path(), &consortium.genesis, homes[0].config.api.listen).await;
    for i in 0..3 {
        let content = format!("while killed {i}");
        notarize(&mut other, file(&format!("DWG-W{i}"), content.as_bytes())).await;
    }
    let target = height(&mut other).await;

    processes[1] = Some(spawn(&homes[1]));
    let mut restarted = connect(dir.path(), &consortium.genesis, homes[1].config.api.listen).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while height(&mut restarted).await < target {
        assert!(
            Instant::now() < deadline,
            "the restarted node never caught up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What it acknowledged before the kill is still there and still verifies.
    let receipt = restarted
        .get_receipt(GetReceiptRequest {
            by: Some(get_receipt_request::By::EntryIndex(index)),
            at_height: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    let receipt = Receipt::from_json(&receipt.json).unwrap();
    verify_receipt(&digest(b"acknowledged"), &receipt, &anchor).unwrap();
    // And it files again.
    let back = notarize(&mut restarted, file("DWG-K2", b"after restart")).await;
    verify_receipt(&digest(b"after restart"), &back[0], &anchor).unwrap();
    drop(processes);
}

/// Sends `signal` (`STOP`, `CONT`) to a node process.
fn signal(process: &Process, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(process.0.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} failed");
}

/// A gauge or counter's value in a `/metrics` text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_stops_costing_its_turns_and_proposes_again_once_resumed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (consortium, homes) = four_members(dir.path(), "evidence-pause");
    let processes: Vec<Process> = homes.iter().map(spawn).collect();
    let filer = &consortium.filer_keys[0].1;
    let file = |id: &str| {
        anchor_transaction(
            &consortium.genesis,
            filer,
            "bureau",
            "completion-drawing",
            "P-PAUSE",
            &[(id.to_owned(), digest(id.as_bytes()))],
            now_ms(),
        )
        .unwrap()
    };
    let mut client = connect(dir.path(), &consortium.genesis, homes[0].config.api.listen).await;
    notarize(&mut client, file("DWG-UP")).await;
    // All four present before the pause (a node that started late may have missed turns and
    // wait for a probe).
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(
        &get_metrics(homes[0].config.metrics.listen).await,
        "evidence_validators_absent",
    ) != 0.0
    {
        assert!(
            Instant::now() < deadline,
            "a node stays absent before the pause"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    for cycle in 0..2 {
        // Node 2 hangs without crashing. Its first turns cost a propose timeout (1 s) each; once it
        // has missed two, it is skipped, and one document at a time files without waiting. Then
        // it flaps: resumed and taken back, it hangs a second time, and the same holds.
        signal(&processes[2], "STOP");
        let mut latencies = Vec::new();
        for i in 0..28 {
            let started = Instant::now();
            notarize(&mut client, file(&format!("DWG-P{cycle}-{i}"))).await;
            latencies.push(started.elapsed());
        }
        // A turn of the paused node costs the propose timeout and a second round: 1.5 s here.
        // Well below that, a call only slowed by a busy machine is not counted.
        let slow = |latencies: &[Duration]| {
            latencies
                .iter()
                .filter(|l| **l >= Duration::from_millis(1_200))
                .count()
        };
        assert!(
            slow(&latencies[..12]) >= 1,
            "pause {cycle}: no turn of the paused node was waited for: {latencies:?}"
        );
        assert!(
            slow(&latencies[12..]) <= 1,
            "pause {cycle}: filings still wait for the paused node's turns: {latencies:?}"
        );
        let metrics = get_metrics(homes[0].config.metrics.listen).await;
        assert_eq!(metric(&metrics, "evidence_validators_absent"), 1.0);
        let probes_before = metric(&metrics, "evidence_absence_probes_total");

        // Resumed, it catches up, is probed within 10 s of block time and is present again.
        signal(&processes[2], "CONT");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let metrics = get_metrics(homes[0].config.metrics.listen).await;
            if metric(&metrics, "evidence_validators_absent") == 0.0 {
                // Taken back by a probe of its own, after the metrics read while paused.
                assert!(metric(&metrics, "evidence_absence_probes_total") > probes_before);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "pause {cycle}: the resumed node is still taken for absent"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        notarize(&mut client, file(&format!("DWG-BACK-{cycle}"))).await;
    }
    drop(processes);
}

/// Runs the `evidence-node` binary on `home` with `args` to its end (a node that starts would
/// run until killed; these homes make it exit at once).
fn node_binary(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_evidence-node"))
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(Stdio::null())
        .env("RUST_LOG", "off")
        .output()
        .unwrap()
}

/// `evidence-node --print-peer-id` prints the peer id of the home's key (for an SM2 validator,
/// the one its address in genesis pins) and exits; a home without a readable key file is
/// refused with the file named, and a key of another algorithm than the chain's stops the
/// node before anything opens.
#[test]
fn the_binary_prints_its_peer_id_and_refuses_a_key_of_another_suite() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_core::OsRng;
    let consortium = evidence_genesis::default_consortium_with_suite(
        "evidence-peer-id",
        now_ms(),
        evidence_genesis::Suite::NATIONAL,
        &mut rng,
    );
    let homes = write_homes(dir.path(), &consortium, |_, _| {}).unwrap();
    let home = &homes[0];
    let output = node_binary(&home.home, &["--print-peer-id"]);
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    let pinned = consortium.genesis.validators[0].address.clone().unwrap();
    assert_eq!(format!("/p2p/{}", printed.trim()), pinned);

    // A genesis that pins another peer id for this validator: the node refuses to start,
    // naming both ids, rather than start and be refused by every peer.
    let mut pinned_elsewhere = consortium.clone();
    let stranger = evidence_core::keys::SigningKey::from_secret(
        evidence_core::keys::SignatureAlgorithm::Sm2,
        &[0x42; 32],
    )
    .unwrap();
    let stranger_peer = evidence_genesis::network::network_peer_id(&stranger);
    pinned_elsewhere.genesis.validators[0].address = Some(format!("/p2p/{stranger_peer}"));
    pinned_elsewhere.genesis.validate().unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let other_homes = write_homes(other_dir.path(), &pinned_elsewhere, |_, _| {}).unwrap();
    let output = node_binary(&other_homes[0].home, &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&stranger_peer) && stderr.contains(printed.trim()),
        "{stderr}"
    );

    // No key file: refused, the file named.
    std::fs::remove_file(home.home.join("node.key")).unwrap();
    let output = node_binary(&home.home, &["--print-peer-id"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("node.key"),
        "{output:?}"
    );

    // An Ed25519 key on the SM2 chain: the node refuses to start, naming both algorithms.
    evidence_genesis::write_key_file(
        &home.home.join("node.key"),
        &evidence_core::keys::SigningKey::generate(),
    )
    .unwrap();
    let output = node_binary(&home.home, &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ed25519") && stderr.contains("sm2"),
        "{stderr}"
    );
}
