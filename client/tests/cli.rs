//! The `evidence` binary without a network: offline verification of every golden vector, key
//! generation, and clear errors with exit code 2 for input it cannot use.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn evidence(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evidence"))
        .args(args)
        .env_remove("EVIDENCE_GENESIS")
        .env_remove("EVIDENCE_NODE")
        .env_remove("EVIDENCE_KEY")
        .env_remove("EVIDENCE_TLS_CERT")
        .env_remove("EVIDENCE_TLS_KEY")
        .env_remove("EVIDENCE_TLS_CA")
        .output()
        .expect("the evidence binary runs")
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/vectors")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn every_golden_vector_gets_the_expected_verdict_and_exit_code() {
    let dir = vectors();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let genesis = dir.join(manifest["genesis"].as_str().unwrap());
    let vectors = manifest["vectors"].as_array().unwrap();
    assert!(vectors.len() > 30);
    for vector in vectors {
        // A vector of another suite names its own genesis file.
        let genesis = vector["genesis"]
            .as_str()
            .map_or_else(|| genesis.clone(), |own| dir.join(own));
        let document = dir.join(vector["document"].as_str().unwrap());
        let receipt = dir.join(vector["receipt"].as_str().unwrap());
        let expected = vector["expected"].as_str().unwrap();
        let output = evidence(&[
            "verify",
            document.to_str().unwrap(),
            "--receipt",
            receipt.to_str().unwrap(),
            "--genesis",
            genesis.to_str().unwrap(),
            "--json",
        ]);
        let verdict: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{receipt:?}: not JSON ({e}): {}", text(&output)));
        if expected == "valid" {
            assert_eq!(
                output.status.code(),
                Some(0),
                "{receipt:?}: {}",
                text(&output)
            );
            assert_eq!(verdict["valid"], true);
            assert_eq!(verdict["digest"], vector["document_digest"]);
        } else {
            assert_eq!(
                output.status.code(),
                Some(1),
                "{receipt:?}: {}",
                text(&output)
            );
            assert_eq!(verdict["valid"], false, "{receipt:?}");
            assert_eq!(verdict["check"], expected, "{receipt:?}");
        }
    }
}

/// Every status-proof vector through the binary, offline: with its receipt, `evidence verify
/// --status-proof` (the receipt valid, then the status proved or refused by the check the
/// manifest names); without one, `evidence status-proof`.
#[test]
fn every_status_proof_vector_gets_the_expected_verdict_and_exit_code() {
    let dir = vectors();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let genesis = dir.join(manifest["genesis"].as_str().unwrap());
    let documents: std::collections::HashMap<&str, &str> = manifest["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["receipt"].as_str().unwrap(),
                v["document"].as_str().unwrap(),
            )
        })
        .collect();
    let proofs = manifest["status_proofs"].as_array().unwrap();
    assert!(proofs.len() > 20);
    for vector in proofs {
        let proof = dir.join(vector["status_proof"].as_str().unwrap());
        let expected = vector["expected"].as_str().unwrap();
        let proves = &vector["proves"];
        let output = match vector["receipt"].as_str() {
            Some(receipt) => evidence(&[
                "verify",
                dir.join(documents[receipt]).to_str().unwrap(),
                "--receipt",
                dir.join(receipt).to_str().unwrap(),
                "--status-proof",
                proof.to_str().unwrap(),
                "--genesis",
                genesis.to_str().unwrap(),
                "--json",
            ]),
            None => evidence(&[
                "status-proof",
                proof.to_str().unwrap(),
                "--genesis",
                genesis.to_str().unwrap(),
                "--json",
            ]),
        };
        let verdict: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{proof:?}: not JSON ({e}): {}", text(&output)));
        if expected != "valid" {
            assert_eq!(
                output.status.code(),
                Some(1),
                "{proof:?}: {}",
                text(&output)
            );
            assert_eq!(verdict["check"], expected, "{proof:?}");
            continue;
        }
        assert_eq!(
            output.status.code(),
            Some(0),
            "{proof:?}: {}",
            text(&output)
        );
        let height = &proves["height"];
        match proves["kind"].as_str().unwrap() {
            kind @ ("current" | "superseded" | "revoked") => {
                let status = &verdict["status"];
                assert_eq!(status["status"], kind, "{proof:?}: {verdict}");
                match kind {
                    "current" => assert_eq!(&status["proved_at_height"], height),
                    "superseded" => {
                        assert_eq!(status["superseded_by"]["version"], proves["by_version"]);
                        assert_eq!(status["superseded_by"]["digest"], proves["by_digest"]);
                        assert_eq!(&status["superseded_by"]["height"], height);
                    }
                    _ => {
                        assert_eq!(status["revocation"]["reason"], proves["reason"]);
                        assert_eq!(&status["revocation"]["height"], height);
                        if let Some(by) = proves.get("superseded_by_version") {
                            assert_eq!(&status["superseded_by"]["version"], by);
                        }
                    }
                }
            }
            "never-filed" => {
                assert_eq!(&verdict["checkpoint"]["height"], height, "{verdict}");
                let fact = &verdict["facts"][0];
                assert_eq!(fact["present"], false, "{verdict}");
                assert_eq!(fact["key"]["kind"], "document");
                for field in ["member", "project_id", "document_id"] {
                    assert_eq!(fact["key"][field], proves[field], "{verdict}");
                }
            }
            "project" => {
                assert_eq!(&verdict["checkpoint"]["height"], height, "{verdict}");
                let record = &verdict["facts"][0]["record"];
                for field in ["project_id", "total_value_minor", "paid_minor"] {
                    assert_eq!(record[field], proves[field], "{verdict}");
                }
                let milestones = record["milestones"].as_array().unwrap();
                let expected = proves["milestones"].as_array().unwrap();
                assert_eq!(milestones.len(), expected.len());
                for (found, wanted) in milestones.iter().zip(expected) {
                    for field in ["id", "amount_minor", "paid_minor"] {
                        assert_eq!(found[field], wanted[field], "{verdict}");
                    }
                }
            }
            other => panic!("{proof:?}: unknown kind {other}"),
        }
    }
}

#[test]
fn the_verdict_names_document_filer_member_time_height_and_signers() {
    let dir = vectors();
    let output = evidence(&[
        "verify",
        dir.join("documents/inspection-report-foundation.txt")
            .to_str()
            .unwrap(),
        "--receipt",
        dir.join("valid/single-document.receipt.json")
            .to_str()
            .unwrap(),
        "--genesis",
        dir.join("genesis.json").to_str().unwrap(),
    ]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    for expected in [
        "VALID",
        "inspection-report",
        "Project:",
        "Filed by:",
        "For member:",
        "Captured at:",
        "On the ledger:   entry 1 at height 2",
        "Certified by:",
        "UTC",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn a_tampered_document_is_invalid_with_exit_code_1() {
    let dir = vectors();
    let output = evidence(&[
        "verify",
        dir.join("documents/completion-drawing-sheet-3.tampered.bin")
            .to_str()
            .unwrap(),
        "--receipt",
        dir.join("valid/third-of-five-in-batch.receipt.json")
            .to_str()
            .unwrap(),
        "--genesis",
        dir.join("genesis.json").to_str().unwrap(),
    ]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        out.contains("INVALID") && out.contains("digest-mismatch"),
        "{out}"
    );
}

#[test]
fn unreadable_inputs_are_exit_code_2_with_the_path_named() {
    let dir = vectors();
    let genesis = dir.join("genesis.json");
    let receipt = dir.join("valid/single-document.receipt.json");
    let document = dir.join("documents/inspection-report-foundation.txt");
    let scratch = tempfile::tempdir().unwrap();
    let garbage = scratch.path().join("garbage.json");
    std::fs::write(&garbage, b"\x00\xffnot a genesis").unwrap();

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "verify",
                "/nonexistent/doc.pdf",
                "--receipt",
                receipt.to_str().unwrap(),
                "--genesis",
                genesis.to_str().unwrap(),
            ],
            "/nonexistent/doc.pdf",
        ),
        (
            vec![
                "verify",
                document.to_str().unwrap(),
                "--receipt",
                "/nonexistent/r.json",
                "--genesis",
                genesis.to_str().unwrap(),
            ],
            "/nonexistent/r.json",
        ),
        (
            vec![
                "verify",
                document.to_str().unwrap(),
                "--receipt",
                receipt.to_str().unwrap(),
                "--genesis",
                garbage.to_str().unwrap(),
            ],
            "garbage.json",
        ),
        (
            vec![
                "lookup",
                "--node",
                "http://127.0.0.1:1",
                "--genesis",
                genesis.to_str().unwrap(),
                "--digest",
                "blake3:zz",
            ],
            "127.0.0.1:1",
        ),
        (
            vec![
                "status",
                "--node",
                "not a url",
                "--genesis",
                genesis.to_str().unwrap(),
            ],
            "not a url",
        ),
        (
            vec![
                "notarize",
                document.to_str().unwrap(),
                "--node",
                "http://127.0.0.1:1",
                "--genesis",
                genesis.to_str().unwrap(),
                "--key",
                "/nonexistent/key",
                "--kind",
                "completion-drawing",
                "--project",
                "P",
            ],
            "/nonexistent/key",
        ),
    ];
    for (args, named) in cases {
        let output = evidence(&args);
        let out = text(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {out}");
        assert!(out.contains("error:"), "{args:?}: {out}");
        assert!(out.contains(named), "{args:?} should name {named:?}: {out}");
    }
}

#[test]
fn bad_arguments_are_refused_before_anything_is_sent() {
    let genesis = vectors().join("genesis.json");
    let filer_key = evidence_genesis::Genesis::load(&genesis).unwrap().filers[0]
        .public_key
        .to_string();
    let genesis = genesis.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        // --document needs --project.
        vec![
            "lookup",
            "--node",
            "http://127.0.0.1:1",
            "--genesis",
            genesis,
            "--document",
            "A1",
        ],
        // One of --digest, --document, --project.
        vec![
            "lookup",
            "--node",
            "http://127.0.0.1:1",
            "--genesis",
            genesis,
        ],
        // A digest names its document: not with --project.
        vec![
            "lookup",
            "--node",
            "http://127.0.0.1:1",
            "--genesis",
            genesis,
            "--digest",
            "blake3:00",
            "--project",
            "P",
        ],
        // --member needs --document.
        vec![
            "lookup",
            "--node",
            "http://127.0.0.1:1",
            "--genesis",
            genesis,
            "--project",
            "P",
            "--member",
            "bureau",
        ],
        // --status needs --node to fetch from.
        vec!["verify", "f", "--genesis", genesis, "--status"],
        // --status and --status-proof are two sources of one proof.
        vec![
            "verify",
            "f",
            "--genesis",
            genesis,
            "--status",
            "--node",
            "http://127.0.0.1:1",
            "--status-proof",
            "s.json",
        ],
        // A milestone without ID=AMOUNT.
        vec![
            "register-project",
            "--node",
            "http://127.0.0.1:1",
            "--genesis",
            genesis,
            "--key",
            "k",
            "--project",
            "P",
            "--total",
            "5",
            "--milestone",
            "M1",
        ],
        // --amount with --passed.
        vec![
            "notarize",
            "f",
            "--node",
            "http://127.0.0.1:1",
            "--genesis",
            genesis,
            "--key",
            "k",
            "--kind",
            "fund-transfer",
            "--project",
            "P",
            "--milestone",
            "M1",
            "--amount",
            "5",
            "--passed",
        ],
        // A batch size of zero.
        vec![
            "notarize",
            "f",
            "--node",
            "http://127.0.0.1:1",
            "--genesis",
            genesis,
            "--key",
            "k",
            "--kind",
            "k",
            "--project",
            "P",
            "--batch-size",
            "0",
        ],
        // No genesis anywhere.
        vec!["verify", "f", "--receipt", "r"],
        // A filer's public key that is not one.
        vec![
            "filer",
            "register",
            "--node",
            "http://127.0.0.1:1",
            "--genesis",
            genesis,
            "--governance-key",
            "g",
            "--name",
            "scanner",
            "--public-key",
            "ed25519:0011",
            "--source-system",
            "s",
        ],
        // A revocation without a reason.
        vec![
            "filer",
            "revoke",
            "--node",
            "http://127.0.0.1:1",
            "--genesis",
            genesis,
            "--governance-key",
            "g",
            "--revoke",
            &filer_key,
        ],
        // An effective height that is no number.
        vec![
            "filer",
            "revoke",
            "--node",
            "http://127.0.0.1:1",
            "--genesis",
            genesis,
            "--governance-key",
            "g",
            "--revoke",
            &filer_key,
            "--reason",
            "lost",
            "--effective-height",
            "soon",
        ],
    ];
    for args in cases {
        let output = evidence(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
    }
}

/// A governance key file that cannot be read, or that holds a key no member's genesis entry
/// lists, is refused (exit 2, the file named) before the node is contacted.
#[test]
fn filer_commands_check_the_governance_key_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = vectors().join("genesis.json");
    let filer_key = evidence_core::keys::SigningKey::from_seed(&[0x77; 32])
        .public_key()
        .to_string();
    let stranger = dir.path().join("stranger.key");
    let output = evidence(&["keygen", "--out", stranger.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let missing = dir.path().join("missing.key");
    for (key, says) in [
        (&missing, "missing.key"),
        (&stranger, "no member's governance key"),
    ] {
        let output = evidence(&[
            "filer",
            "register",
            "--node",
            "http://127.0.0.1:1",
            "--genesis",
            genesis.to_str().unwrap(),
            "--governance-key",
            key.to_str().unwrap(),
            "--name",
            "scanner",
            "--public-key",
            &filer_key,
            "--source-system",
            "site-scanner",
        ]);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        assert!(text(&output).contains(says), "{}", text(&output));
        assert!(
            !text(&output).contains("cannot reach"),
            "the node was contacted: {}",
            text(&output)
        );
    }
}

#[test]
fn bad_tls_files_are_named_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = vectors().join("genesis.json");
    let genesis = genesis.to_str().unwrap();
    let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let certificate = dir.path().join("caller.crt");
    std::fs::write(&certificate, pem).unwrap();
    let open_key = dir.path().join("open.key");
    std::fs::write(
        &open_key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let not_pem = dir.path().join("not-pem.key");
    std::fs::write(&not_pem, "just text").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&not_pem, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let missing = dir.path().join("missing.crt");
    let (certificate, open_key, not_pem, missing) = (
        certificate.to_str().unwrap(),
        open_key.to_str().unwrap(),
        not_pem.to_str().unwrap(),
        missing.to_str().unwrap(),
    );
    let node = [
        "status",
        "--node",
        "https://127.0.0.1:1",
        "--genesis",
        genesis,
    ];
    for (extra, needle) in [
        (
            vec!["--tls-cert", certificate],
            "both its certificate and its private key",
        ),
        (
            vec!["--tls-cert", certificate, "--tls-key", open_key],
            "chmod 600",
        ),
        (
            vec!["--tls-cert", certificate, "--tls-key", not_pem],
            "no private key in PEM form",
        ),
        (
            vec!["--tls-cert", missing, "--tls-key", not_pem],
            "missing.crt",
        ),
        (vec!["--tls-ca", not_pem], "no CA certificate in PEM form"),
    ] {
        let args: Vec<&str> = node.iter().copied().chain(extra.iter().copied()).collect();
        let output = evidence(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        assert!(
            text(&output).contains(needle),
            "{args:?}: {} should say {needle:?}",
            text(&output)
        );
    }
}

#[test]
fn keygen_writes_an_owner_only_key_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("filer.key");
    let output = evidence(&["keygen", "--out", path.to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    let key = evidence_genesis::read_key_file(&path).unwrap();
    assert_eq!(answer["public_key"], key.public_key().to_string());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let before = std::fs::read(&path).unwrap();
    let again = evidence(&["keygen", "--out", path.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the key was overwritten"
    );
}

/// A proposal's changes file that cannot be read, is not JSON or names an unknown change is
/// refused (exit 2, the file named) before the node is contacted; a vote must say which way.
#[test]
fn governance_commands_check_their_input_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = vectors().join("genesis.json");
    let key = dir.path().join("member.key");
    let output = evidence(&["keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let not_json = dir.path().join("not-json.json");
    std::fs::write(&not_json, "set the limits to 2, please").unwrap();
    let unknown = dir.path().join("unknown-change.json");
    std::fs::write(&unknown, r#"[{"type": "dissolve-the-consortium"}]"#).unwrap();
    let not_array = dir.path().join("not-array.json");
    std::fs::write(
        &not_array,
        r#"{"type": "remove-kind", "kind": "archive-record"}"#,
    )
    .unwrap();
    let bad_validator = dir.path().join("bad-validator.json");
    std::fs::write(
        &bad_validator,
        r#"[{"type": "add-validator", "member": "court", "public_key": "ed25519:not-hex", "voting_power": 1}]"#,
    )
    .unwrap();
    let no_power = dir.path().join("no-power.json");
    std::fs::write(
        &no_power,
        r#"[{"type": "set-voting-power", "public_key": "ed25519:0000000000000000000000000000000000000000000000000000000000000000"}]"#,
    )
    .unwrap();
    let missing = dir.path().join("missing.json");
    for (changes, says) in [
        (&missing, "missing.json"),
        (&not_json, "not-json.json"),
        (&unknown, "dissolve-the-consortium"),
        (&not_array, "not-array.json"),
        (&bad_validator, "bad-validator.json"),
        (&no_power, "voting_power"),
    ] {
        let output = evidence(&[
            "governance",
            "propose",
            "--node",
            "http://127.0.0.1:1",
            "--genesis",
            genesis.to_str().unwrap(),
            "--governance-key",
            key.to_str().unwrap(),
            "--id",
            "p",
            "--changes",
            changes.to_str().unwrap(),
        ]);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        assert!(text(&output).contains(says), "{says}: {}", text(&output));
        assert!(
            !text(&output).contains("cannot reach"),
            "the node was contacted: {}",
            text(&output)
        );
    }
    // A well-formed file and a key no member holds: refused before sending, naming the key.
    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        r#"[{"type": "remove-kind", "kind": "archive-record"}]"#,
    )
    .unwrap();
    let base = [
        "--node",
        "http://127.0.0.1:1",
        "--genesis",
        genesis.to_str().unwrap(),
        "--governance-key",
        key.to_str().unwrap(),
        "--id",
        "p",
    ];
    let mut propose = vec!["governance", "propose"];
    propose.extend(base);
    propose.extend(["--changes", good.to_str().unwrap()]);
    let output = evidence(&propose);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("no member's governance key"),
        "{}",
        text(&output)
    );
    // A vote says which way, and only one.
    for way in [&[][..], &["--approve", "--reject"][..]] {
        let mut vote = vec!["governance", "vote"];
        vote.extend(base);
        vote.extend(way);
        let output = evidence(&vote);
        assert_eq!(output.status.code(), Some(2), "{way:?}: {}", text(&output));
    }
}

/// `evidence keygen` makes a key of the chain's algorithm: SM2 for a national-suite genesis
/// file, Ed25519 otherwise or when asked; an unknown algorithm, or one the genesis file's
/// chain does not sign with, is refused (exit 2) and nothing is written.
#[test]
fn keygen_follows_the_genesis_suite_and_refuses_another_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let sm_genesis = vectors().join("genesis-sm.json");
    let path = dir.path().join("sm.key");
    let output = evidence(&[
        "keygen",
        "--out",
        path.to_str().unwrap(),
        "--genesis",
        sm_genesis.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        answer["public_key"].as_str().unwrap().starts_with("sm2:"),
        "{answer}"
    );
    let key = evidence_genesis::read_key_file(&path).unwrap();
    assert_eq!(key.public_key().to_string(), answer["public_key"]);

    let asked = dir.path().join("asked.key");
    let output = evidence(&[
        "keygen",
        "--out",
        asked.to_str().unwrap(),
        "--algorithm",
        "sm2",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("sm2:"), "{}", text(&output));

    for (args, needle) in [
        (vec!["--algorithm", "rsa"], "rsa"),
        (
            vec![
                "--algorithm",
                "ed25519",
                "--genesis",
                sm_genesis.to_str().unwrap(),
            ],
            "signs with sm2",
        ),
    ] {
        let refused = dir.path().join("refused.key");
        let mut all = vec!["keygen", "--out", refused.to_str().unwrap()];
        all.extend(args.iter().copied());
        let output = evidence(&all);
        assert_eq!(output.status.code(), Some(2), "{all:?}: {}", text(&output));
        assert!(text(&output).contains(needle), "{all:?}: {}", text(&output));
        assert!(!refused.exists(), "{all:?} wrote a key");
    }
}

/// A receipt of the national-suite chain verifies offline against its own genesis file, and
/// the default chain's genesis file refuses it by name (wrong-suite), through the binary.
#[test]
fn an_sm_chain_receipt_verifies_against_its_genesis_and_not_against_another_suite() {
    let document = vectors().join("documents/inspection-report-foundation.txt");
    let receipt = vectors().join("valid/sm-chain.single-document.receipt.json");
    let sm_genesis = vectors().join("genesis-sm.json");
    let output = evidence(&[
        "verify",
        document.to_str().unwrap(),
        "--receipt",
        receipt.to_str().unwrap(),
        "--genesis",
        sm_genesis.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("VALID") && text(&output).contains("sm2:"),
        "{}",
        text(&output)
    );
    let output = evidence(&[
        "verify",
        document.to_str().unwrap(),
        "--receipt",
        receipt.to_str().unwrap(),
        "--genesis",
        vectors().join("genesis.json").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("wrong-suite"), "{}", text(&output));
}
