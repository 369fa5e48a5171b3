//! End to end through the real binaries: `evidence-testnet up` runs four `evidence-node`
//! processes, and the `evidence` CLI notarizes, verifies offline, is refused by policy and by
//! the payment rules, looks up, audits, and keeps notarizing with one node killed; the filing
//! gateway runs from its binary and configuration as the README says.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use evidence_genesis::Genesis;
use evidence_testnet::{CallerFiles, TESTNET_FILE, TestnetInfo};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// One network at a time: each runs four nodes on a two-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

/// The directory cargo puts the workspace's binaries in.
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_evidence-testnet"))
        .parent()
        .expect("a directory")
        .to_owned()
}

/// The other packages' binaries this test drives, built (or found up to date) by cargo: when
/// this package is tested alone they may be missing or stale. The build selects the same
/// targets as `cargo test --workspace`, so features resolve the same way and, after that
/// command, nothing is rebuilt. The variables cargo sets for this test process (package name,
/// manifest dir, ...) are removed first: some build scripts (ring's) rerun when they differ,
/// which would rebuild half the dependency tree twice per test run.
fn binaries() -> (PathBuf, PathBuf) {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let mut cargo = Command::new(env!("CARGO"));
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            let set_for_this_crate = [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
            ]
            .iter()
            .any(|prefix| name_text.starts_with(prefix))
                || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"]
                    .contains(&name_text.as_ref());
            if set_for_this_crate {
                cargo.env_remove(&name);
            }
        }
        let status = cargo
            .args(["build", "--workspace", "--tests", "--bins"])
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "building the evidence and evidence-node binaries failed"
        );
    });
    let dir = bin_dir();
    (dir.join("evidence"), dir.join("evidence-node"))
}

/// A process killed (SIGKILL) when dropped, so a failing test leaves nothing running.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Testnet {
    process: Process,
    info: TestnetInfo,
}

impl Testnet {
    fn up(dir: &Path, node: &Path) -> Self {
        Self::up_with(dir, node, &[])
    }

    /// As [`Self::up`], with more arguments for `evidence-testnet up` (`--suite sm`).
    fn up_with(dir: &Path, node: &Path, extra: &[&str]) -> Self {
        let log = std::fs::File::create(dir.join("testnet.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_evidence-testnet"))
            .args(["up", "--dir"])
            .arg(dir.join("net"))
            .args(extra)
            .arg("--node-binary")
            .arg(node)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("evidence-testnet starts");
        let mut process = Process(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        let info_path = dir.join("net").join(TESTNET_FILE);
        loop {
            if let Some(status) = process.0.try_wait().unwrap() {
                panic!(
                    "evidence-testnet exited ({status}):\n{}",
                    std::fs::read_to_string(dir.join("testnet.log")).unwrap_or_default()
                );
            }
            if let Ok(info) = TestnetInfo::load(&dir.join("net")) {
                return Self { process, info };
            }
            assert!(Instant::now() < deadline, "no {info_path:?} after 120 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, as Ctrl-C would: the testnet stops its nodes and exits 0.
    fn down(&mut self) {
        let pid = Pid::from_raw(i32::try_from(self.process.0.id()).unwrap());
        kill(pid, Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.process.0.try_wait().unwrap() {
                assert!(status.success(), "evidence-testnet exited with {status}");
                break;
            }
            assert!(Instant::now() < deadline, "evidence-testnet did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
        for node in &self.info.nodes {
            if let Some(pid) = node.pid {
                let alive = kill(Pid::from_raw(pid as i32), None).is_ok();
                assert!(!alive, "the {} node (pid {pid}) still runs", node.member);
            }
        }
    }
}

impl Drop for Testnet {
    /// A failed test kills the testnet process outright, which cannot stop its nodes: kill
    /// them too, so nothing keeps running.
    fn drop(&mut self) {
        for node in &self.info.nodes {
            if let Some(pid) = node.pid.and_then(|pid| i32::try_from(pid).ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

struct Cli {
    binary: PathBuf,
    genesis: PathBuf,
    /// The caller's TLS certificate, passed as the environment variables users set.
    tls: Option<CallerFiles>,
}

impl Cli {
    fn run(&self, args: &[&str]) -> (Option<i32>, String) {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .env("EVIDENCE_GENESIS", &self.genesis)
            .env_remove("EVIDENCE_NODE")
            .env_remove("EVIDENCE_KEY")
            .env_remove("EVIDENCE_TLS_CERT")
            .env_remove("EVIDENCE_TLS_KEY")
            .env_remove("EVIDENCE_TLS_CA");
        if let Some(tls) = &self.tls {
            command
                .env("EVIDENCE_TLS_CERT", &tls.certificate)
                .env("EVIDENCE_TLS_KEY", &tls.private_key);
        }
        let output: Output = command.output().expect("the evidence binary runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code(), text)
    }

    fn json(&self, args: &[&str]) -> (Option<i32>, Value) {
        let mut all = args.to_vec();
        all.push("--json");
        let (code, text) = self.run(&all);
        let value = serde_json::from_str(text.lines().next().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"));
        (code, value)
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn notarize_verify_tamper_refuse_audit_and_survive_a_killed_node() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (evidence, node) = binaries();
    let dir = tempfile::tempdir().unwrap();
    let mut testnet = Testnet::up(dir.path(), &node);
    let info = testnet.info.clone();
    assert_eq!(info.nodes.len(), 4);
    let api = info.nodes[0].api.clone();
    assert!(api.starts_with("https://"), "the testnet serves TLS: {api}");
    let bureau = info.filers["bureau"].clone();
    let finance = info.filers["finance"].clone();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();

    // Without a client certificate the node says what is missing (exit 2: could not run);
    // as an auditor, notarizing is not granted (exit 1: refused, with the rule).
    let anonymous = Cli {
        binary: evidence.clone(),
        genesis: info.genesis.clone(),
        tls: None,
    };
    let (code, out) = anonymous.run(&["status", "--node", &api]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("certificate"), "{out}");
    let auditor = Cli {
        binary: evidence.clone(),
        genesis: info.genesis.clone(),
        tls: Some(info.callers["bureau"]["auditor"].clone()),
    };
    let refused = docs.join("refused.pdf");
    std::fs::write(&refused, b"an auditor may not file").unwrap();
    let (code, out) = auditor.run(&[
        "notarize",
        s(&refused),
        "--node",
        &api,
        "--key",
        s(&bureau),
        "--kind",
        "completion-drawing",
        "--project",
        "P-1",
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("method-not-granted"), "{out}");
    let (code, out) = auditor.run(&["status", "--node", &api]);
    assert_eq!(code, Some(0), "an auditor may read: {out}");

    let cli = Cli {
        binary: evidence,
        genesis: info.genesis.clone(),
        tls: Some(info.callers["bureau"]["filer-system"].clone()),
    };

    // Notarize with the CLI; the receipt lands beside the file.
    let drawing = docs.join("drawing-A1.pdf");
    std::fs::write(&drawing, b"%PDF-1.7 completion drawing A1\n").unwrap();
    let (code, answer) = cli.json(&[
        "notarize",
        s(&drawing),
        "--node",
        &api,
        "--key",
        s(&bureau),
        "--kind",
        "completion-drawing",
        "--project",
        "P-1",
        "--source-system",
        "bureau-filing",
    ]);
    assert_eq!(code, Some(0), "{answer}");
    assert_eq!(answer["results"][0]["document_version"], 1);
    let receipt = docs.join("drawing-A1.pdf.receipt.json");
    assert!(receipt.is_file());

    // Verify offline: only the file, the receipt and the genesis file.
    let (code, out) = cli.run(&["verify", s(&drawing), "--receipt", s(&receipt)]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("VALID") && out.contains("P-1") && out.contains("bureau"),
        "{out}"
    );
    let (code, verdict) = cli.json(&["verify", s(&drawing), "--receipt", s(&receipt)]);
    assert_eq!(code, Some(0));
    assert!(
        verdict["signers"].as_array().unwrap().len() >= 3,
        "{verdict}"
    );
    assert_eq!(verdict["source_system"], "bureau-filing");

    // One flipped byte: rejected.
    let mut bytes = std::fs::read(&drawing).unwrap();
    bytes[5] ^= 0x20;
    let tampered = docs.join("drawing-A1-tampered.pdf");
    std::fs::write(&tampered, &bytes).unwrap();
    let (code, out) = cli.run(&["verify", s(&tampered), "--receipt", s(&receipt)]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("INVALID") && out.contains("digest-mismatch"),
        "{out}"
    );

    // An edited receipt: one hex digit of the entry changed. Rejected.
    let text = std::fs::read_to_string(&receipt).unwrap();
    let mut json: Value = serde_json::from_str(&text).unwrap();
    let entry = json["entry"].as_str().unwrap().to_owned();
    let middle = entry.len() / 2;
    let flipped = if &entry[middle..=middle] == "0" {
        "1"
    } else {
        "0"
    };
    json["entry"] = Value::String(format!(
        "{}{flipped}{}",
        &entry[..middle],
        &entry[middle + 1..]
    ));
    let edited = docs.join("edited.receipt.json");
    std::fs::write(&edited, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    let (code, out) = cli.run(&["verify", s(&drawing), "--receipt", s(&edited)]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("INVALID"), "{out}");

    // The bureau's key may not anchor a fund transfer: refused by policy, the rule named.
    let transfer = docs.join("transfer-by-bureau.json");
    std::fs::write(&transfer, b"{\"amount\": 100}").unwrap();
    let (code, out) = cli.run(&[
        "notarize",
        s(&transfer),
        "--node",
        &api,
        "--key",
        s(&bureau),
        "--kind",
        "fund-transfer",
        "--project",
        "P-1",
        "--milestone",
        "M1",
        "--amount",
        "100",
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("kind-not-allowed-for-member"), "{out}");
    assert!(!docs.join("transfer-by-bureau.json.receipt.json").exists());

    // The milestone-payment flow.
    let (code, out) = cli.run(&[
        "register-project",
        "--node",
        &api,
        "--key",
        s(&bureau),
        "--project",
        "P-1",
        "--total",
        "1000",
        "--milestone",
        "M1=600",
        "--milestone",
        "M2=400",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let payment = docs.join("payment-1.json");
    std::fs::write(&payment, b"{\"milestone\": \"M1\", \"amount\": 500}").unwrap();
    let finance_api = info.nodes[1].api.clone();
    let pay = |file: &Path, amount: &str| {
        cli.run(&[
            "notarize",
            s(file),
            "--node",
            &finance_api,
            "--key",
            s(&finance),
            "--kind",
            "fund-transfer",
            "--project",
            "P-1",
            "--milestone",
            "M1",
            "--amount",
            amount,
        ])
    };
    let (code, out) = pay(&payment, "500");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("milestone-not-inspected"), "{out}");
    let report = docs.join("inspection-M1.pdf");
    std::fs::write(&report, b"%PDF-1.7 M1 inspection: passed\n").unwrap();
    let (code, out) = cli.run(&[
        "notarize",
        s(&report),
        "--node",
        &api,
        "--key",
        s(&bureau),
        "--kind",
        "inspection-report",
        "--project",
        "P-1",
        "--milestone",
        "M1",
        "--passed",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = pay(&payment, "500");
    assert_eq!(code, Some(0), "{out}");
    let payment_2 = docs.join("payment-2.json");
    std::fs::write(&payment_2, b"{\"milestone\": \"M1\", \"amount\": 200}").unwrap();
    let (code, out) = pay(&payment_2, "200");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("milestone-overpayment"), "{out}");

    // Lookups, each result's proof checked.
    let digest = verdict["digest"].as_str().unwrap().to_owned();
    let (code, found) = cli.json(&["lookup", "--node", &info.nodes[2].api, "--digest", &digest]);
    assert_eq!(code, Some(0), "{found}");
    assert_eq!(found["results"].as_array().unwrap().len(), 1);
    let (code, found) = cli.json(&["lookup", "--node", &api, "--project", "P-1"]);
    assert_eq!(code, Some(0), "{found}");
    assert_eq!(found["results"].as_array().unwrap().len(), 4, "{found}");

    // Audit: the first run saves a checkpoint, the next proves the log only grew.
    let saved = dir.path().join("audit-checkpoint.json");
    let (code, audit) = cli.json(&["audit", "--node", &api, "--checkpoint", s(&saved)]);
    assert_eq!(code, Some(0), "{audit}");
    assert_eq!(audit["first_run"], true);

    // Several files at once, in batches; a missing one is reported, the others go in.
    let mut files = Vec::new();
    for i in 0..5 {
        let file = docs.join(format!("sheet-{i}.pdf"));
        std::fs::write(&file, format!("%PDF-1.7 sheet {i}\n")).unwrap();
        files.push(file);
    }
    let missing = docs.join("missing.pdf");
    let mut args = vec!["notarize"];
    args.extend(files.iter().map(|f| s(f)));
    args.push(s(&missing));
    args.extend([
        "--node",
        &api,
        "--key",
        s(&bureau),
        "--kind",
        "completion-drawing",
        "--project",
        "P-2",
        "--batch-size",
        "2",
        "--out",
    ]);
    let out_dir = dir.path().join("receipts");
    args.push(s(&out_dir));
    let (code, batch) = cli.json(&args);
    assert_eq!(code, Some(1), "{batch}");
    assert_eq!(batch["notarized"], 5, "{batch}");
    assert_eq!(batch["failed"], 1, "{batch}");
    for file in &files {
        let name = format!(
            "{}.receipt.json",
            file.file_name().unwrap().to_str().unwrap()
        );
        let (code, out) = cli.run(&["verify", s(file), "--receipt", s(&out_dir.join(name))]);
        assert_eq!(code, Some(0), "{out}");
    }
    let first_indexes: Vec<Value> = batch["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ok"] == true)
        .map(|r| r["entry_index"].clone())
        .collect();

    // The same files again (say, after a run that was cut off): nothing is anchored twice,
    // each gets the receipt of its existing entry. Two files whose receipts or document ids
    // would collide are refused by name; the receipt already there is not overwritten.
    let other = docs.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let twin = other.join("sheet-0.pdf");
    std::fs::write(&twin, b"%PDF-1.7 another sheet 0\n").unwrap();
    let mut args = vec!["notarize"];
    args.extend(files.iter().map(|f| s(f)));
    args.push(s(&twin));
    let again_dir = dir.path().join("receipts-again");
    args.extend([
        "--node",
        &api,
        "--key",
        s(&bureau),
        "--kind",
        "completion-drawing",
        "--project",
        "P-2",
        "--batch-size",
        "2",
        "--out",
        s(&again_dir),
    ]);
    let (code, again) = cli.json(&args);
    assert_eq!(code, Some(1), "{again}");
    assert_eq!(again["notarized"], 5, "{again}");
    assert_eq!(again["failed"], 1, "{again}");
    let results = again["results"].as_array().unwrap();
    let again_indexes: Vec<Value> = results
        .iter()
        .filter(|r| r["ok"] == true)
        .map(|r| r["entry_index"].clone())
        .collect();
    assert_eq!(again_indexes, first_indexes, "{again}");
    let refused = results.iter().find(|r| r["ok"] == false).unwrap();
    assert_eq!(refused["file"], s(&twin), "{again}");
    assert!(
        refused["error"].as_str().unwrap().contains("like that of"),
        "{again}"
    );
    let kept = again_dir.join("sheet-0.pdf.receipt.json");
    let (code, out) = cli.run(&["verify", s(&files[0]), "--receipt", s(&kept)]);
    assert_eq!(code, Some(0), "{out}");

    let (code, audit) = cli.json(&[
        "audit",
        "--node",
        &info.nodes[3].api,
        "--checkpoint",
        s(&saved),
    ]);
    assert_eq!(code, Some(0), "{audit}");
    assert_eq!(audit["consistent"], true);
    assert_eq!(audit["first_run"], false);

    // A saved checkpoint that was tampered with: loud failure, and it is not overwritten.
    let checkpoint_text = std::fs::read_to_string(&saved).unwrap();
    let mut checkpoint: Value = serde_json::from_str(&checkpoint_text).unwrap();
    // The header ends with the proposer's 32-byte key (SPEC §13.1): name another validator as
    // proposer. The header still decodes, but the certificate no longer signs it.
    let header = checkpoint["header"].as_str().unwrap().to_owned();
    let (body, proposer) = header.split_at(header.len() - 64);
    let genesis: Value =
        serde_json::from_str(&std::fs::read_to_string(&info.genesis).unwrap()).unwrap();
    let other = genesis["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v["public_key"]
                .as_str()
                .unwrap()
                .trim_start_matches("ed25519:")
        })
        .find(|key| *key != proposer)
        .unwrap();
    checkpoint["header"] = Value::String(format!("{body}{other}"));
    let forged = serde_json::to_string_pretty(&checkpoint).unwrap();
    std::fs::write(&saved, &forged).unwrap();
    let (code, audit) = cli.json(&["audit", "--node", &api, "--checkpoint", s(&saved)]);
    assert_eq!(code, Some(1), "{audit}");
    assert_eq!(std::fs::read_to_string(&saved).unwrap(), forged);

    // Provable status. A second version supersedes the drawing; the first version's status is
    // proved under a certified checkpoint, saved beside the file, and proved again offline.
    let drawing_v2 = docs.join("drawing-A1-rev2.pdf");
    std::fs::write(&drawing_v2, b"%PDF-1.7 completion drawing A1, revision 2\n").unwrap();
    let (code, answer) = cli.json(&[
        "notarize",
        s(&drawing_v2),
        "--node",
        &api,
        "--key",
        s(&bureau),
        "--kind",
        "completion-drawing",
        "--project",
        "P-1",
        "--document-id",
        "drawing-A1.pdf",
    ]);
    assert_eq!(code, Some(0), "{answer}");
    assert_eq!(answer["results"][0]["document_version"], 2);
    let (code, out) = cli.run(&[
        "verify",
        s(&drawing),
        "--receipt",
        s(&receipt),
        "--status",
        "--node",
        &api,
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("Status:          valid; superseded by version 2"),
        "{out}"
    );
    let status_file = docs.join("drawing-A1.pdf.status.json");
    assert!(status_file.is_file());
    let (code, proved) = cli.json(&[
        "verify",
        s(&drawing),
        "--receipt",
        s(&receipt),
        "--status-proof",
        s(&status_file),
    ]);
    assert_eq!(code, Some(0), "{proved}");
    assert_eq!(proved["status"]["status"], "superseded", "{proved}");
    assert_eq!(proved["status"]["superseded_by"]["version"], 2, "{proved}");
    let v2_receipt = docs.join("drawing-A1-rev2.pdf.receipt.json");
    let v2_status = docs.join("rev2.status.json");
    let (code, proved) = cli.json(&[
        "verify",
        s(&drawing_v2),
        "--receipt",
        s(&v2_receipt),
        "--status",
        "--node",
        &info.nodes[2].api,
        "--status-out",
        s(&v2_status),
    ]);
    assert_eq!(code, Some(0), "{proved}");
    assert_eq!(proved["status"]["status"], "current", "{proved}");
    // Version 2's status proof says nothing of version 1's record: not a proof of its status.
    let (code, out) = cli.run(&[
        "verify",
        s(&drawing),
        "--receipt",
        s(&receipt),
        "--status-proof",
        s(&v2_status),
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("INVALID STATUS") && out.contains("status-not-proved"),
        "{out}"
    );
    // A status proof whose record was edited proves nothing.
    let mut edited: Value =
        serde_json::from_str(&std::fs::read_to_string(&status_file).unwrap()).unwrap();
    let value = edited["facts"][0]["value"].as_str().unwrap().to_owned();
    let flipped = if value.ends_with('0') { "1" } else { "0" };
    edited["facts"][0]["value"] = Value::String(format!("{}{flipped}", &value[..value.len() - 1]));
    let edited_file = docs.join("edited.status.json");
    std::fs::write(&edited_file, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    let (code, checked) = cli.json(&["status-proof", s(&edited_file)]);
    assert_eq!(code, Some(1), "{checked}");
    assert!(
        ["bad-state-proof", "malformed"].contains(&checked["check"].as_str().unwrap()),
        "{checked}"
    );

    // A document id the bureau never filed: proved so, and the proof kept.
    let never = docs.join("never.status.json");
    let (code, found) = cli.json(&[
        "lookup",
        "--node",
        &api,
        "--project",
        "P-1",
        "--document",
        "drawing-Z9.pdf",
        "--member",
        "bureau",
        "--status-out",
        s(&never),
    ]);
    assert_eq!(code, Some(0), "{found}");
    assert_eq!(found["results"].as_array().unwrap().len(), 0, "{found}");
    assert_eq!(found["lineage_head"]["present"], false, "{found}");
    let (code, checked) = cli.json(&["status-proof", s(&never)]);
    assert_eq!(code, Some(0), "{checked}");
    assert_eq!(checked["facts"][0]["present"], false, "{checked}");
    // The drawing's versions, each with its status proved.
    let (code, found) = cli.json(&[
        "lookup",
        "--node",
        &api,
        "--project",
        "P-1",
        "--document",
        "drawing-A1.pdf",
    ]);
    assert_eq!(code, Some(0), "{found}");
    let statuses: Vec<&Value> = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"]["status"])
        .collect();
    assert_eq!(statuses, ["superseded", "current"], "{found}");

    // The auditor's payments check: 500 of M1's 600 paid (the 200 more was refused), M2
    // untouched; proved, saved and checked again offline.
    let payments = docs.join("P-1.payments.status.json");
    let (code, paid) = cli.json(&[
        "payments",
        "--node",
        &api,
        "--project",
        "P-1",
        "--out",
        s(&payments),
    ]);
    assert_eq!(code, Some(0), "{paid}");
    assert_eq!(paid["total_value_minor"], 1000, "{paid}");
    assert_eq!(paid["paid_minor"], 500, "{paid}");
    assert_eq!(paid["milestones"][0]["id"], "M1", "{paid}");
    assert_eq!(paid["milestones"][0]["paid_minor"], 500, "{paid}");
    assert_eq!(paid["milestones"][0]["room_minor"], 100, "{paid}");
    assert_eq!(paid["milestones"][1]["room_minor"], 400, "{paid}");
    let (code, checked) = cli.json(&["status-proof", s(&payments)]);
    assert_eq!(code, Some(0), "{checked}");
    assert_eq!(
        checked["facts"][0]["record"]["paid_minor"], 500,
        "{checked}"
    );
    let (code, paid) = cli.json(&["payments", "--node", &api, "--project", "P-404"]);
    assert_eq!(code, Some(1), "{paid}");
    assert_eq!(paid["registered"], false, "{paid}");

    // Kill one member's node outright: the other three go on committing.
    let archive = &info.nodes[3];
    kill(Pid::from_raw(archive.pid.unwrap() as i32), Signal::SIGKILL).unwrap();
    let after = docs.join("after-kill.pdf");
    std::fs::write(&after, b"%PDF-1.7 filed with one node down\n").unwrap();
    let (code, out) = cli.run(&[
        "notarize",
        s(&after),
        "--node",
        &api,
        "--key",
        s(&bureau),
        "--kind",
        "completion-drawing",
        "--project",
        "P-1",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = cli.run(&[
        "verify",
        s(&after),
        "--receipt",
        &format!("{}.receipt.json", s(&after)),
    ]);
    assert_eq!(code, Some(0), "{out}");

    // testnet.json says the node is down, and learns of it when it is started again by hand.
    let net = dir.path().join("net");
    let wait_for = |what: &str, check: &dyn Fn(&TestnetInfo) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(info) = TestnetInfo::load(&net)
                && check(&info)
            {
                return info;
            }
            assert!(
                Instant::now() < deadline,
                "testnet.json never showed {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for("the killed node without a pid", &|info| {
        info.nodes[3].pid.is_none()
    });
    let restarted = Process(
        Command::new(&node)
            .arg("--home")
            .arg(&archive.home)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = restarted.0.id();
    wait_for("the restarted node's pid", &|info| {
        info.nodes[3].pid == Some(pid)
    });
    let again = docs.join("after-restart.pdf");
    std::fs::write(&again, b"%PDF-1.7 filed after the restart\n").unwrap();
    let (code, out) = cli.run(&[
        "notarize",
        s(&again),
        "--node",
        &info.nodes[3].api,
        "--key",
        s(&bureau),
        "--kind",
        "completion-drawing",
        "--project",
        "P-1",
    ]);
    assert_eq!(code, Some(0), "the restarted node serves: {out}");

    // Stopping the testnet stops the node started by hand too.
    testnet.down();
    let mut restarted = restarted;
    assert!(
        restarted.0.try_wait().unwrap().is_some(),
        "the node started by hand was stopped with the testnet"
    );
}

/// A filer key's life through the binaries: the bureau's governance key registers a key for
/// its site scanner; the scanner files with it (the CLI takes its source system from the
/// registration) and the receipt verifies offline with the original genesis file; the bureau
/// revokes the key; the scanner is refused; the receipt it got before stays valid.
#[test]
fn filers_registered_on_the_ledger_and_decisions_of_the_members_through_the_binaries() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (evidence, node) = binaries();
    let dir = tempfile::tempdir().unwrap();
    let mut testnet = Testnet::up(dir.path(), &node);
    let info = testnet.info.clone();
    let api = info.nodes[0].api.clone();
    let governance = info.governance["bureau"].clone();
    let cli = Cli {
        binary: evidence,
        genesis: info.genesis.clone(),
        tls: Some(info.callers["bureau"]["filer-system"].clone()),
    };
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let scanner = dir.path().join("scanner.key");
    let (code, key) = cli.json(&["keygen", "--out", s(&scanner)]);
    assert_eq!(code, Some(0), "{key}");
    let public = key["public_key"].as_str().unwrap().to_owned();
    let notarize = |file: &Path| {
        cli.json(&[
            "notarize",
            s(file),
            "--node",
            &api,
            "--key",
            s(&scanner),
            "--kind",
            "completion-drawing",
            "--project",
            "P-SITE",
        ])
    };

    // Before its registration, the key is no filer.
    let first = docs.join("site-scan-1.pdf");
    std::fs::write(&first, b"%PDF-1.7 site scan 1\n").unwrap();
    let (code, answer) = notarize(&first);
    assert_eq!(code, Some(2), "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("not a filer"),
        "{answer}"
    );

    let (code, answer) = cli.json(&[
        "filer",
        "register",
        "--node",
        &api,
        "--governance-key",
        s(&governance),
        "--name",
        "bureau-site-scanner",
        "--public-key",
        &public,
        "--kind",
        "completion-drawing",
        "--source-system",
        "site-scanner",
    ]);
    assert_eq!(code, Some(0), "{answer}");
    let (code, answer) = notarize(&first);
    assert_eq!(code, Some(0), "{answer}");
    let receipt = docs.join("site-scan-1.pdf.receipt.json");
    let (code, verdict) = cli.json(&["verify", s(&first), "--receipt", s(&receipt)]);
    assert_eq!(code, Some(0), "{verdict}");
    assert_eq!(verdict["source_system"], "site-scanner");
    assert_eq!(verdict["member"], "bureau");
    assert_eq!(
        verdict["filer_registration"]["name"], "bureau-site-scanner",
        "the receipt proves the filer's registration: {verdict}"
    );
    let (code, shown) = cli.json(&["filer", "show", "--node", &api, "--public-key", &public]);
    assert_eq!(code, Some(0), "{shown}");
    assert_eq!(shown["member"], "bureau");
    assert!(shown["registration_entry_index"].is_u64(), "{shown}");
    assert!(shown["revocation"].is_null(), "{shown}");

    // The bureau revokes the key (from the node's next height); the scanner is refused.
    let (code, answer) = cli.json(&[
        "filer",
        "revoke",
        "--node",
        &api,
        "--governance-key",
        s(&governance),
        "--revoke",
        &public,
        "--reason",
        "the scanner was lost on site",
    ]);
    assert_eq!(code, Some(0), "{answer}");
    let second = docs.join("site-scan-2.pdf");
    std::fs::write(&second, b"%PDF-1.7 site scan 2\n").unwrap();
    let (code, answer) = notarize(&second);
    assert_eq!(code, Some(1), "{answer}");
    assert!(answer.to_string().contains("filer-revoked"), "{answer}");
    let (code, shown) = cli.json(&["filer", "show", "--node", &api, "--public-key", &public]);
    assert_eq!(code, Some(0), "{shown}");
    assert_eq!(
        shown["revocation"]["reason"], "the scanner was lost on site",
        "{shown}"
    );

    // What it filed before its revocation still verifies, offline, with the genesis file.
    let (code, out) = cli.run(&["verify", s(&first), "--receipt", s(&receipt)]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("VALID"), "{out}");
    assert!(
        out.contains("registered by its member on the ledger"),
        "{out}"
    );

    // The members together: site photos become a kind the bureau files. Until the proposal
    // is accepted no filer may be registered for it.
    let photographer = dir.path().join("photographer.key");
    let (code, key) = cli.json(&["keygen", "--out", s(&photographer)]);
    assert_eq!(code, Some(0), "{key}");
    let photographer_public = key["public_key"].as_str().unwrap().to_owned();
    let register_photographer = || {
        cli.json(&[
            "filer",
            "register",
            "--node",
            &api,
            "--governance-key",
            s(&governance),
            "--name",
            "bureau-site-camera",
            "--public-key",
            &photographer_public,
            "--kind",
            "site-photo",
            "--source-system",
            "site-camera",
        ])
    };
    let (code, answer) = register_photographer();
    assert_eq!(code, Some(1), "{answer}");
    assert!(answer.to_string().contains("unknown-kind"), "{answer}");
    let changes = dir.path().join("site-photos.json");
    std::fs::write(
        &changes,
        r#"[{"type": "set-kind", "kind": "site-photo", "description": "photo taken on site",
             "members": ["bureau"]}]"#,
    )
    .unwrap();
    let govern = |member: &str, args: &[&str]| {
        let key = info.governance[member].clone();
        let mut all = vec!["governance", args[0], "--node", &api, "--governance-key"];
        all.push(s(&key));
        all.extend(&args[1..]);
        let (code, answer) = cli.json(&all);
        assert_eq!(code, Some(0), "{member} {args:?}: {answer}");
        answer
    };
    let answer = govern(
        "bureau",
        &[
            "propose",
            "--id",
            "site-photos",
            "--changes",
            s(&changes),
            "--summary",
            "site photos become a kind the bureau files",
        ],
    );
    assert_eq!(answer["proposal_status"], "open", "{answer}");
    let answer = govern("finance", &["vote", "--id", "site-photos", "--approve"]);
    assert_eq!(answer["proposal_status"], "open", "{answer}");
    let answer = govern("court", &["vote", "--id", "site-photos", "--approve"]);
    assert_eq!(answer["proposal_status"], "accepted", "{answer}");
    let (code, status) = cli.json(&[
        "governance",
        "status",
        "--node",
        &api,
        "--id",
        "site-photos",
    ]);
    assert_eq!(code, Some(0), "{status}");
    assert_eq!(status["status_reported_by_node"], "accepted", "{status}");
    assert_eq!(status["votes"].as_array().unwrap().len(), 3, "{status}");
    // A vote on a decided proposal is the ledger's no (exit 1).
    let key = info.governance["archive"].clone();
    let (code, answer) = cli.json(&[
        "governance",
        "vote",
        "--node",
        &api,
        "--governance-key",
        s(&key),
        "--id",
        "site-photos",
        "--reject",
    ]);
    assert_eq!(code, Some(1), "{answer}");
    assert!(answer.to_string().contains("proposal-closed"), "{answer}");
    let (code, configuration) = cli.json(&["governance", "configuration", "--node", &api]);
    assert_eq!(code, Some(0), "{configuration}");
    assert!(
        configuration["policy"]["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|kind| kind["kind"] == "site-photo"),
        "{configuration}"
    );
    assert_eq!(
        configuration["validators"].as_array().map(Vec::len),
        Some(4),
        "the four genesis validators are in force: {configuration}"
    );
    let (code, listed) = cli.json(&["governance", "list", "--node", &api]);
    assert_eq!(code, Some(0), "{listed}");
    assert_eq!(
        listed["proposals"][0]["proposal_id"], "site-photos",
        "{listed}"
    );

    // Now the bureau registers a camera for site photos, which files one; it verifies offline
    // with the original genesis file.
    let (code, answer) = register_photographer();
    assert_eq!(code, Some(0), "{answer}");
    let notarize_photo = |photo: &Path| {
        let (code, answer) = cli.json(&[
            "notarize",
            s(photo),
            "--node",
            &api,
            "--key",
            s(&photographer),
            "--kind",
            "site-photo",
            "--project",
            "P-SITE",
        ]);
        assert_eq!(code, Some(0), "{answer}");
    };
    let photo = docs.join("site-photo-1.jpg");
    std::fs::write(&photo, b"JFIF site photo 1").unwrap();
    notarize_photo(&photo);
    let (code, listed) = cli.json(&["filer", "list", "--node", &api, "--member", "bureau"]);
    assert_eq!(code, Some(0), "{listed}");
    let names: Vec<&str> = listed["filers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{listed}");
    assert!(names.contains(&"bureau-site-camera"), "{listed}");
    let photo_receipt = docs.join("site-photo-1.jpg.receipt.json");
    let (code, out) = cli.run(&["verify", s(&photo), "--receipt", s(&photo_receipt)]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("VALID"), "{out}");

    // An auditor saves a checkpoint certified by the genesis set.
    let audit = dir.path().join("audit-checkpoint.json");
    let (code, answer) = cli.json(&["audit", "--node", &api, "--checkpoint", s(&audit)]);
    assert_eq!(code, Some(0), "{answer}");
    assert_eq!(answer["first_run"], true, "{answer}");

    // The members change the validator set: the bureau's validator counts twice. A document
    // filed afterwards is certified by the new set; its receipt carries the hand-off from the
    // genesis set and verifies offline with the original genesis file, as do the earlier ones.
    let bureau_validator = configuration["validators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["member"] == "bureau")
        .unwrap()["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let power = dir.path().join("bureau-power.json");
    std::fs::write(
        &power,
        format!(
            r#"[{{"type": "set-voting-power", "public_key": "{bureau_validator}", "voting_power": 2}}]"#
        ),
    )
    .unwrap();
    govern(
        "bureau",
        &[
            "propose",
            "--id",
            "bureau-counts-twice",
            "--changes",
            s(&power),
            "--summary",
            "the bureau's validator counts twice",
        ],
    );
    govern(
        "finance",
        &["vote", "--id", "bureau-counts-twice", "--approve"],
    );
    let answer = govern(
        "court",
        &["vote", "--id", "bureau-counts-twice", "--approve"],
    );
    assert_eq!(answer["proposal_status"], "accepted", "{answer}");
    let later = docs.join("site-photo-2.jpg");
    std::fs::write(&later, b"JFIF site photo 2").unwrap();
    notarize_photo(&later);
    let later_receipt = docs.join("site-photo-2.jpg.receipt.json");
    let text = std::fs::read_to_string(&later_receipt).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file["version"], 2, "a receipt with hand-offs: {text}");
    let (code, verdict) = cli.json(&["verify", s(&later), "--receipt", s(&later_receipt)]);
    assert_eq!(code, Some(0), "{verdict}");
    assert_eq!(
        verdict["handoff_heights"].as_array().map(Vec::len),
        Some(1),
        "{verdict}"
    );
    let (code, out) = cli.run(&["verify", s(&later), "--receipt", s(&later_receipt)]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("handed off"), "{out}");
    for (document, receipt) in [(&first, &receipt), (&photo, &photo_receipt)] {
        let (code, out) = cli.run(&["verify", s(document), "--receipt", s(receipt)]);
        assert_eq!(code, Some(0), "{out}");
        assert!(out.contains("the genesis set"), "{out}");
    }
    // The auditor's checkpoint saved before the change is proved a prefix of the log
    // certified by the new set.
    let (code, answer) = cli.json(&["audit", "--node", &api, "--checkpoint", s(&audit)]);
    assert_eq!(code, Some(0), "{answer}");
    assert_eq!(answer["first_run"], false, "{answer}");
    testnet.down();
}

#[test]
fn a_national_suite_network_notarizes_and_verifies_through_the_binaries() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (evidence, node) = binaries();
    let dir = tempfile::tempdir().unwrap();
    let mut testnet = Testnet::up_with(dir.path(), &node, &["--suite", "sm"]);
    let info = testnet.info.clone();
    assert_eq!(info.nodes.len(), 4);
    let genesis = Genesis::load(&info.genesis).unwrap();
    assert_eq!(
        (genesis.suite.digest.name(), genesis.suite.signature.name()),
        ("sm3", "sm2")
    );
    // Each validator's address pins the peer id its node derives from its SM2 key.
    for validator in &genesis.validators {
        assert!(
            validator.public_key.to_string().starts_with("sm2:03")
                || validator.public_key.to_string().starts_with("sm2:02")
        );
        let home = dir.path().join("net").join(&validator.member);
        let output = Command::new(&node)
            .arg("--home")
            .arg(&home)
            .arg("--print-peer-id")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let peer_id = String::from_utf8(output.stdout).unwrap();
        assert_eq!(
            validator.address.as_deref(),
            Some(format!("/p2p/{}", peer_id.trim()).as_str())
        );
    }
    let api = info.nodes[0].api.clone();
    let cli = Cli {
        binary: evidence,
        genesis: info.genesis.clone(),
        tls: Some(info.callers["bureau"]["filer-system"].clone()),
    };
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();

    // The bureau's genesis filer (an SM2 key) notarizes; the receipt is all SM2 and SM3.
    let report = docs.join("inspection-1.pdf");
    std::fs::write(&report, "%PDF-1.7 竣工验收报告 1\n").unwrap();
    let bureau = info.filers["bureau"].clone();
    let (code, answer) = cli.json(&[
        "notarize",
        s(&report),
        "--node",
        &api,
        "--key",
        s(&bureau),
        "--kind",
        "inspection-report",
        "--project",
        "SZ-2026-0001",
    ]);
    assert_eq!(code, Some(0), "{answer}");
    let receipt_path = docs.join("inspection-1.pdf.receipt.json");
    let receipt = evidence_core::receipt::Receipt::from_json(
        &std::fs::read_to_string(&receipt_path).unwrap(),
    )
    .unwrap();
    assert_eq!(receipt.checkpoint.header.log_root.algorithm.name(), "sm3");
    for signature in &receipt.checkpoint.certificate.signatures {
        assert_eq!(signature.signature.algorithm.name(), "sm2");
    }
    let (code, out) = cli.run(&["verify", s(&report), "--receipt", s(&receipt_path)]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("VALID") && out.contains("sm3:"), "{out}");
    assert!(out.contains("sm2:"), "the filer's SM2 key is named: {out}");

    // Tampered: refused.
    let tampered = docs.join("inspection-1-tampered.pdf");
    std::fs::write(&tampered, "%PDF-1.7 竣工验收报告 2\n").unwrap();
    let (code, out) = cli.run(&["verify", s(&tampered), "--receipt", s(&receipt_path)]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("digest-mismatch"), "{out}");

    // A key made by `evidence keygen` follows the genesis suite; the bureau registers it with
    // its SM2 governance key, and the new filer's receipt proves its registration.
    let scanner = dir.path().join("scanner.key");
    let (code, key) = cli.json(&["keygen", "--out", s(&scanner)]);
    assert_eq!(code, Some(0), "{key}");
    let public = key["public_key"].as_str().unwrap().to_owned();
    assert!(public.starts_with("sm2:"), "{public}");
    let (code, refused) = cli.json(&[
        "keygen",
        "--out",
        s(&dir.path().join("wrong.key")),
        "--algorithm",
        "ed25519",
    ]);
    assert_eq!(
        code,
        Some(2),
        "an Ed25519 key for an SM2 chain is refused: {refused}"
    );
    let (code, answer) = cli.json(&[
        "filer",
        "register",
        "--node",
        &api,
        "--governance-key",
        s(&info.governance["bureau"]),
        "--name",
        "bureau-site-scanner",
        "--public-key",
        &public,
        "--kind",
        "completion-drawing",
        "--source-system",
        "site-scanner",
    ]);
    assert_eq!(code, Some(0), "{answer}");
    let scan = docs.join("site-scan.pdf");
    std::fs::write(&scan, b"%PDF-1.7 site scan\n").unwrap();
    let (code, answer) = cli.json(&[
        "notarize",
        s(&scan),
        "--node",
        &api,
        "--key",
        s(&scanner),
        "--kind",
        "completion-drawing",
        "--project",
        "SZ-2026-0001",
    ]);
    assert_eq!(code, Some(0), "{answer}");
    let scan_receipt = docs.join("site-scan.pdf.receipt.json");
    let (code, verdict) = cli.json(&["verify", s(&scan), "--receipt", s(&scan_receipt)]);
    assert_eq!(code, Some(0), "{verdict}");
    assert_eq!(verdict["filer_registration"]["name"], "bureau-site-scanner");

    // An Ed25519 chain's genesis file refuses the SM chain's receipt by name.
    let other = tempfile::tempdir().unwrap();
    let mut rng = rand_core::OsRng;
    let ed = evidence_genesis::default_consortium("evidence-testnet", 1_767_225_600_000, &mut rng);
    let ed_genesis = other.path().join("genesis.json");
    std::fs::write(&ed_genesis, ed.genesis.to_json()).unwrap();
    let (code, out) = cli.run(&[
        "verify",
        s(&report),
        "--receipt",
        s(&receipt_path),
        "--genesis",
        s(&ed_genesis),
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("wrong-suite"), "{out}");

    // The independent verifier, written from SPEC.md, agrees on the SM2 receipts.
    let verifier = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tools/spec-verifier/verify.py");
    for (file, receipt) in [(&report, &receipt_path), (&scan, &scan_receipt)] {
        let output = Command::new("python3")
            .arg(&verifier)
            .arg("--genesis")
            .arg(&info.genesis)
            .arg("--document")
            .arg(file)
            .arg("--receipt")
            .arg(receipt)
            .output()
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "spec-verifier: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    testnet.down();
}

#[test]
fn the_demo_runs_to_completion() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (_, node) = binaries();
    let output = Command::new(env!("CARGO_BIN_EXE_evidence-testnet"))
        .arg("demo")
        .arg("--node-binary")
        .arg(&node)
        .env("RUST_LOG", "warn")
        .output()
        .expect("evidence-testnet runs");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "VALID completion-drawing",
        "INVALID, as it must be",
        "kind-not-allowed-for-member",
        "overpayment refused",
        "payment before inspection refused",
        "superseded by version 2",
        "The demo completed",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn up_refuses_a_node_count_it_cannot_run_and_names_a_missing_binary() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_evidence-testnet"))
        .args(["up", "--nodes", "3", "--dir"])
        .arg(dir.path().join("net"))
        .arg("--node-binary")
        .arg(Path::new(env!("CARGO_BIN_EXE_evidence-testnet")))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("4 to 16 nodes"));

    let output = Command::new(env!("CARGO_BIN_EXE_evidence-testnet"))
        .args(["up", "--dir"])
        .arg(dir.path().join("net"))
        .args(["--node-binary", "/nonexistent/evidence-node"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cargo build -p evidence-node"));
    assert!(!dir.path().join("net").join("genesis.json").exists());

    // An unknown suite is refused before anything is written, with the names it takes.
    let output = Command::new(env!("CARGO_BIN_EXE_evidence-testnet"))
        .args(["up", "--suite", "rsa-md5", "--dir"])
        .arg(dir.path().join("net"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("rsa-md5") && stderr.contains("sm"),
        "{stderr}"
    );
    assert!(!dir.path().join("net").join("genesis.json").exists());
}

/// The chaos soak's bounded sample: `CHAOS_SECONDS` (default 45) of faults on every
/// consensus link and kills of real node processes under a notarize load, then healing and
/// the checks (TESTING.md). The long form is `evidence-testnet chaos --seconds 1800`.
#[test]
fn a_chaos_soak_loses_no_acknowledged_filing() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (_, node) = binaries();
    let seconds = std::env::var("CHAOS_SECONDS").unwrap_or_else(|_| "45".into());
    let seed = std::env::var("CHAOS_SEED").unwrap_or_else(|_| "1".into());
    let output = Command::new(env!("CARGO_BIN_EXE_evidence-testnet"))
        .args(["chaos", "--seconds", &seconds, "--seed", &seed])
        .arg("--node-binary")
        .arg(&node)
        .env("RUST_LOG", "warn")
        .output()
        .expect("evidence-testnet runs");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.contains("Passed:"), "{out}");
    eprintln!("{out}");
}

/// A plain HTTP/1.1 request to the gateway: the status and the body.
fn http(address: &str, method: &str, path: &str, token: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\nauthorization: \
         Bearer {token}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

#[test]
fn the_filing_gateway_runs_from_its_binary_as_the_readme_says() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (evidence, node) = binaries();
    let gateway_binary = bin_dir().join("evidence-gateway");
    let dir = tempfile::tempdir().unwrap();
    let mut testnet = Testnet::up(dir.path(), &node);
    let info = testnet.info.clone();

    // A configuration that is not there: a clear error, exit 1.
    let missing = Command::new(&gateway_binary)
        .args(["run", "--config"])
        .arg(dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("cannot read the configuration"),
        "{missing:?}"
    );

    // A token, and the configuration the README writes.
    let token = Command::new(&gateway_binary)
        .args(["token", "--name", "bureau-filing"])
        .output()
        .unwrap();
    assert!(token.status.success());
    let printed = String::from_utf8(token.stdout).unwrap();
    let secret = printed
        .lines()
        .find_map(|line| line.strip_prefix("token: "))
        .unwrap()
        .to_owned();
    let entry = &printed[printed.find("[[tokens]]").unwrap()..];
    let port = evidence_node::local::free_port().unwrap();
    let address = format!("127.0.0.1:{port}");
    let caller = &info.callers["bureau"]["filer-system"];
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"{address}\"\ngenesis = \"{}\"\nnode = \"{}\"\nfiler_key = \"{}\"\n\
             source_system = \"bureau-filing\"\ndata_dir = \"gateway-data\"\n\n[node_tls]\n\
             certificate = \"{}\"\nprivate_key = \"{}\"\n\n{entry}",
            s(&info.genesis),
            info.nodes[0].api,
            s(&info.filers["bureau"]),
            s(&caller.certificate),
            s(&caller.private_key),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("gateway.log")).unwrap();
    let mut gateway = Process(
        Command::new(&gateway_binary)
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(
            gateway.0.try_wait().unwrap().is_none(),
            "the gateway exited:\n{}",
            std::fs::read_to_string(dir.path().join("gateway.log")).unwrap_or_default()
        );
        assert!(Instant::now() < deadline, "the gateway did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Upload a document; its receipt verifies offline with the CLI.
    let drawing = dir.path().join("drawing-G1.pdf");
    std::fs::write(&drawing, b"%PDF-1.7 a drawing filed through the gateway\n").unwrap();
    let (status, body) = http(
        &address,
        "POST",
        "/v1/documents/upload?kind=completion-drawing&project_id=SZ-GW&document_id=drawing-G1.pdf",
        &secret,
        &std::fs::read(&drawing).unwrap(),
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let receipt = dir.path().join("drawing-G1.pdf.receipt.json");
    std::fs::write(&receipt, answer["receipt"].to_string()).unwrap();
    let cli = Cli {
        binary: evidence,
        genesis: info.genesis.clone(),
        tls: None,
    };
    let (code, out) = cli.run(&["verify", s(&drawing), "--receipt", s(&receipt)]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("VALID") && !out.contains("INVALID"), "{out}");
    // A wrong token is refused.
    let (status, body) = http(&address, "GET", "/v1/health", "egw_wrong", b"");
    assert_eq!(status, 401, "{body}");

    // SIGTERM stops it cleanly.
    let pid = Pid::from_raw(i32::try_from(gateway.0.id()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = gateway.0.try_wait().unwrap() {
            assert!(status.success(), "the gateway exited with {status}");
            break;
        }
        assert!(Instant::now() < deadline, "the gateway did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    testnet.down();
}
