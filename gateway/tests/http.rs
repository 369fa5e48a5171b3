//! The gateway as a filing system meets it: a four-member network on this machine (real
//! RocksDB, libp2p, TLS), the gateway in front of the bureau's node, and plain HTTP/1.1
//! requests. A second client, in Python with only the standard library, knows nothing but the
//! OpenAPI document the gateway serves (`openapi_client.py`).

use std::path::Path;

use evidence_core::receipt::Receipt;
use evidence_gateway::{Gateway, Limits};
use evidence_genesis::Suite;
use serde_json::{Value, json};

mod support;

use support::request;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_filing_system_notarizes_fetches_verifies_and_proves_status_over_http() {
    let fixture = support::start("gateway-test", Suite::default()).await;
    let (mut config, token) = fixture.gateway_config("bureau");
    config.limits = Limits {
        request_bytes_max: 64 << 10,
        upload_bytes_max: 1 << 20,
        documents_per_request_max: 50,
        ..Limits::default()
    };
    let consortium = &fixture.consortium;
    let gateway = Gateway::start(config.clone()).await.unwrap();
    let address = gateway.address();
    let bearer = format!("Bearer {token}");
    let genesis = consortium.genesis.clone();
    let genesis_bytes = std::fs::read(&fixture.genesis_path).unwrap();
    let answers = tokio::task::spawn_blocking(move || {
        let auth = [("authorization", bearer.as_str())];
        let json_auth = [
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
        ];

        // The OpenAPI document needs no token and names every operation used below.
        let openapi = request(address, "GET", "/openapi.json", &[], b"");
        assert_eq!(openapi.status, 200);
        let openapi = openapi.json();
        assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
        // Every path and method the document names is served (whatever the answer, it is
        // not "no such path").
        for (template, item) in openapi["paths"].as_object().unwrap() {
            let path = template
                .replace("{version}", "1")
                .replace(['{', '}'], "");
            for method in item.as_object().unwrap().keys() {
                let answer = request(address, &method.to_uppercase(), &path, &[], b"");
                assert_ne!(answer.status, 405, "{method} {template}");
                if answer.status == 404 {
                    assert_ne!(answer.problem(), "no-such-path", "{method} {template}");
                }
            }
        }

        // What a court takes away, without a token: the genesis file, byte for byte, and the
        // web verifier, a page that allows itself no connection.
        let genesis_file = request(address, "GET", "/genesis.json", &[], b"");
        assert_eq!(genesis_file.status, 200);
        assert_eq!(genesis_file.body, genesis_bytes);
        let page = request(address, "GET", "/verifier", &[], b"");
        assert_eq!(page.status, 200);
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        let page = String::from_utf8(page.body).unwrap();
        assert!(page.contains("connect-src 'none'"), "{}", &page[..300]);
        // The project view: a page that may call its own gateway and nothing else.
        let view = request(address, "GET", "/projects/P-GW", &[], b"");
        assert_eq!(view.status, 200);
        assert_eq!(view.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(view.text().contains("connect-src 'self'"));

        // Without a token, or with a wrong one: 401, nothing filed.
        let document = json!({"documents": [{
            "kind": "completion-drawing", "project_id": "P-GW", "document_id": "DRAWING-1",
            "digest": genesis.suite.digest.hash(b"drawing one").to_string(),
        }]})
        .to_string();
        let none = request(address, "POST", "/v1/documents", &[], document.as_bytes());
        assert_eq!((none.status, none.problem().as_str()), (401, "unauthorized"));
        let wrong = request(
            address,
            "POST",
            "/v1/documents",
            &[("authorization", "Bearer egw_not-a-token")],
            document.as_bytes(),
        );
        assert_eq!((wrong.status, wrong.problem().as_str()), (401, "unauthorized"));

        // Notarize by digest, with an idempotency key: a receipt that verifies offline.
        let keyed = [
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
            ("idempotency-key", "4b7f0c1e-0001"),
        ];
        let first = request(address, "POST", "/v1/documents", &keyed, document.as_bytes());
        assert_eq!(first.status, 200, "{}", String::from_utf8_lossy(&first.body));
        let first_body = first.json();
        let notarized = &first_body["documents"][0];
        assert_eq!(notarized["version"], json!(1));
        let receipt = Receipt::from_json(&notarized["receipt"].to_string()).unwrap();
        let verdict = evidence_core::receipt::verify_receipt(
            &genesis.suite.digest.hash(b"drawing one"),
            &receipt,
            &genesis.trust_anchor().unwrap(),
        )
        .unwrap();
        assert_eq!(verdict.anchor.source_system, "bureau-filing");

        // The same request under the same key: the same answer, marked as replayed.
        let again = request(address, "POST", "/v1/documents", &keyed, document.as_bytes());
        assert_eq!(again.status, 200);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.json(), first_body);
        // The key on another request: refused, nothing filed.
        let other = json!({"documents": [{
            "kind": "completion-drawing", "project_id": "P-GW", "document_id": "DRAWING-2",
            "digest": genesis.suite.digest.hash(b"drawing two").to_string(),
        }]})
        .to_string();
        let reused = request(address, "POST", "/v1/documents", &keyed, other.as_bytes());
        assert_eq!(
            (reused.status, reused.problem().as_str()),
            (422, "idempotency-key-reused")
        );

        // Upload: the body is the document, hashed as it streams in. Version 2 supersedes 1.
        let upload = request(
            address,
            "POST",
            "/v1/documents/upload?kind=completion-drawing&project_id=P-GW&document_id=DRAWING-1",
            &[
                ("authorization", bearer.as_str()),
                ("content-type", "application/octet-stream"),
            ],
            b"drawing one, revised",
        );
        assert_eq!(upload.status, 200, "{}", String::from_utf8_lossy(&upload.body));
        let uploaded = upload.json();
        assert_eq!(uploaded["version"], json!(2));
        assert_eq!(
            uploaded["digest"],
            json!(genesis
                .suite
                .digest
                .hash(b"drawing one, revised")
                .to_string())
        );

        // The receipt again, from its URL.
        let url = uploaded["receipt_url"].as_str().unwrap().to_owned();
        assert_eq!(url, "/v1/receipts/P-GW/DRAWING-1/2");
        let fetched = request(address, "GET", &url, &auth, b"");
        assert_eq!(fetched.status, 200);
        assert_eq!(fetched.json(), uploaded["receipt"]);
        let missing = request(address, "GET", "/v1/receipts/P-GW/DRAWING-1/9", &auth, b"");
        assert_eq!((missing.status, missing.problem().as_str()), (404, "not-found"));

        // Verify: the right digest is valid; another is not, with the check that failed.
        let verify = |digest: String| {
            let body = json!({"receipt": uploaded["receipt"], "digest": digest}).to_string();
            request(address, "POST", "/v1/verify", &json_auth, body.as_bytes()).json()
        };
        let digest = |bytes: &[u8]| genesis.suite.digest.hash(bytes).to_string();
        let valid = verify(digest(b"drawing one, revised"));
        assert_eq!(valid["valid"], json!(true));
        assert_eq!(valid["document"]["version"], json!(2));
        let tampered = verify(digest(b"drawing one, tampered"));
        assert_eq!(tampered["valid"], json!(false));
        assert_eq!(tampered["code"], json!("digest-mismatch"));

        // Verify an uploaded file against its receipt (multipart: the receipt, then the file).
        let multipart = |first: &str, file: &[u8]| {
            let mut body = format!(
                "--XyZ\r\ncontent-disposition: form-data; name=\"{first}\"\r\ncontent-type: \
                 application/json\r\n\r\n{}\r\n--XyZ\r\ncontent-disposition: form-data; \
                 name=\"file\"; filename=\"drawing.pdf\"\r\n\r\n",
                uploaded["receipt"]
            )
            .into_bytes();
            body.extend_from_slice(file);
            body.extend_from_slice(b"\r\n--XyZ--\r\n");
            request(
                address,
                "POST",
                "/v1/verify/upload",
                &[
                    ("authorization", bearer.as_str()),
                    ("content-type", "multipart/form-data; boundary=XyZ"),
                ],
                &body,
            )
        };
        let answer = multipart("receipt", b"drawing one, revised");
        assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
        assert_eq!(answer.json()["valid"], json!(true));
        let answer = multipart("receipt", b"drawing one, tampered");
        assert_eq!(answer.json()["code"], json!("digest-mismatch"));
        let answer = multipart("file", b"x");
        assert_eq!((answer.status, answer.problem().as_str()), (400, "bad-multipart"));
        let answer = request(address, "POST", "/v1/verify/upload", &json_auth, b"{}");
        assert_eq!((answer.status, answer.problem().as_str()), (400, "bad-multipart"));

        // Lookup by document: both versions, verified, oldest first.
        let lookup = request(
            address,
            "GET",
            "/v1/lookup?project_id=P-GW&document_id=DRAWING-1",
            &auth,
            b"",
        );
        assert_eq!(lookup.status, 200);
        let results = lookup.json()["results"].as_array().unwrap().clone();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["reported_status"]["status"], json!("superseded"));

        // Status, proved: version 1 superseded by 2; a document never filed, proved absent.
        let status = request(
            address,
            "GET",
            "/v1/status/P-GW/DRAWING-1?version=1",
            &auth,
            b"",
        )
        .json();
        assert_eq!(status["filed"], json!(true));
        assert_eq!(status["latest_version"], json!(2));
        assert_eq!(status["version"]["status"], json!("superseded"));
        assert_eq!(status["version"]["superseded_by"]["version"], json!(2));
        let proof =
            evidence_core::status::StatusProof::from_json(&status["status_proof"].to_string())
                .unwrap();
        evidence_core::status::verify_status_proof(
            &proof,
            &genesis.trust_anchor().unwrap(),
        )
        .unwrap();
        let never = request(address, "GET", "/v1/status/P-GW/NEVER-FILED", &auth, b"").json();
        assert_eq!(never["filed"], json!(false));
        assert_eq!(never["version"], Value::Null);
        let payments = request(address, "GET", "/v1/projects/P-GW/payments", &auth, b"").json();
        assert_eq!(payments["registered"], json!(false));

        // A rule of the ledger refuses (the bureau may not file fund transfers): the ledger's
        // code, nothing filed.
        let refused = json!({"documents": [{
            "kind": "fund-transfer", "project_id": "P-GW", "document_id": "PAY-1",
            "digest": digest(b"a payment"),
            "claim": {"type": "payment", "milestone": "M1", "amount_minor": 100},
        }]})
        .to_string();
        let refused = request(address, "POST", "/v1/documents", &json_auth, refused.as_bytes());
        assert_eq!(refused.status, 403);
        assert_eq!(refused.problem(), "kind-not-allowed-for-member");

        // The same new document filed twice at once (a retry racing its first attempt, say):
        // one filing, and both answered with its receipt.
        let race = json!({"documents": [{
            "kind": "completion-drawing", "project_id": "P-GW", "document_id": "RACE-1",
            "digest": digest(b"raced"),
        }]})
        .to_string();
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let (race, bearer) = (race.clone(), bearer.clone());
                std::thread::spawn(move || {
                    request(
                        address,
                        "POST",
                        "/v1/documents",
                        &[
                            ("authorization", bearer.as_str()),
                            ("content-type", "application/json"),
                        ],
                        race.as_bytes(),
                    )
                })
            })
            .collect();
        let answers: Vec<Value> = racers
            .into_iter()
            .map(|racer| {
                let answer = racer.join().unwrap();
                assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
                answer.json()["documents"][0].clone()
            })
            .collect();
        assert_eq!(answers[0]["version"], json!(1));
        assert_eq!(answers[0]["entry_index"], answers[1]["entry_index"]);

        // An explicit version sent again (its first answer lost, say): the same document is
        // answered with its receipt; another document under that version is refused.
        let explicit = |content: &[u8]| {
            json!({"documents": [{
                "kind": "completion-drawing", "project_id": "P-GW", "document_id": "EXPLICIT-1",
                "digest": digest(content), "version": 1,
            }]})
            .to_string()
        };
        let first = request(address, "POST", "/v1/documents", &json_auth, explicit(b"e").as_bytes());
        assert_eq!(first.status, 200, "{}", String::from_utf8_lossy(&first.body));
        let again = request(address, "POST", "/v1/documents", &json_auth, explicit(b"e").as_bytes());
        assert_eq!(again.status, 200, "{}", String::from_utf8_lossy(&again.body));
        assert_eq!(
            again.json()["documents"][0]["entry_index"],
            first.json()["documents"][0]["entry_index"]
        );
        let other = request(address, "POST", "/v1/documents", &json_auth, explicit(b"f").as_bytes());
        assert_eq!(other.status, 422, "{}", String::from_utf8_lossy(&other.body));

        // Malformed input: clear problems, nothing filed.
        let malformed: &[(&str, &str, &[u8], u16, &str)] = &[
            ("POST", "/v1/documents", b"{not json", 400, "malformed-json"),
            ("POST", "/v1/documents", b"{\"documents\": []}", 400, "invalid-request"),
            (
                "POST",
                "/v1/documents",
                b"{\"documents\": [{\"kind\": \"k\", \"project_id\": \"p\", \"document_id\": \"d\", \"digest\": \"sha256:00\"}]}",
                400,
                "bad-digest",
            ),
            (
                "POST",
                "/v1/documents",
                format!(
                    "{{\"documents\": [{{\"kind\": \"k\", \"project_id\": \"p\", \"document_id\": \"d\", \"digest\": \"sha256:{}\"}}]}}",
                    "0".repeat(64)
                )
                .leak()
                .as_bytes(),
                400,
                "wrong-digest-algorithm",
            ),
            (
                "POST",
                "/v1/documents",
                b"{\"documents\": [], \"colour\": 1}",
                400,
                "malformed-json",
            ),
            ("POST", "/v1/verify", b"{\"receipt\": {}, \"digest\": \"x\"}", 400, "not-a-receipt"),
            ("GET", "/v1/lookup?limit=nine", b"", 400, "bad-query"),
            ("GET", "/v1/lookup", b"", 400, "bad-query"),
            ("GET", "/v1/receipts/P/D/not-a-number", b"", 400, "bad-path"),
            ("GET", "/v1/nothing-here", b"", 404, "no-such-path"),
            (
                "POST",
                "/v1/documents/upload?kind=k&project_id=p&document_id=d&milestone=M1",
                b"x",
                400,
                "invalid-request",
            ),
        ];
        for (method, path, body, status, code) in malformed {
            let answer = request(address, method, path, &json_auth, body);
            assert_eq!(
                (answer.status, answer.problem().as_str()),
                (*status, *code),
                "{method} {path}"
            );
        }
        // Too large: a JSON body over the limit, an upload over its limit, too many documents.
        let big = vec![b' '; 70 << 10];
        let answer = request(address, "POST", "/v1/documents", &json_auth, &big);
        assert_eq!((answer.status, answer.problem().as_str()), (413, "request-too-large"));
        let upload_big = vec![7u8; (1 << 20) + 1];
        let answer = request(
            address,
            "POST",
            "/v1/documents/upload?kind=completion-drawing&project_id=P-GW&document_id=BIG",
            &auth,
            &upload_big,
        );
        assert_eq!((answer.status, answer.problem().as_str()), (413, "upload-too-large"));
        let many: Vec<Value> = (0..51)
            .map(|i| {
                json!({"kind": "completion-drawing", "project_id": "P-GW",
                       "document_id": format!("MANY-{i}"), "digest": digest(&[i as u8])})
            })
            .collect();
        let many = json!({ "documents": many }).to_string();
        let answer = request(address, "POST", "/v1/documents", &json_auth, many.as_bytes());
        assert_eq!((answer.status, answer.problem().as_str()), (413, "too-many-documents"));
        let bad_key = request(
            address,
            "POST",
            "/v1/documents",
            &[
                ("authorization", bearer.as_str()),
                ("idempotency-key", "has space"),
            ],
            document.as_bytes(),
        );
        assert_eq!(
            (bad_key.status, bad_key.problem().as_str()),
            (400, "bad-idempotency-key")
        );

        // Nothing above filed anything more: DRAWING-1 has two versions, BIG and MANY none.
        for (query, expected) in [
            ("project_id=P-GW&document_id=DRAWING-1", 2),
            ("project_id=P-GW&document_id=DRAWING-2", 0),
            ("project_id=P-GW&document_id=BIG", 0),
            ("project_id=P-GW&document_id=MANY-0", 0),
            ("project_id=P-GW&document_id=PAY-1", 0),
            ("project_id=P-GW&document_id=RACE-1", 1),
            ("project_id=P-GW&document_id=EXPLICIT-1", 1),
        ] {
            let found = request(address, "GET", &format!("/v1/lookup?{query}"), &auth, b"");
            assert_eq!(
                found.json()["results"].as_array().unwrap().len(),
                expected,
                "{query}"
            );
        }
        (address, token)
    })
    .await
    .unwrap();

    // A client that knows only the OpenAPI document: Python's standard library.
    let (address, token) = answers;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi_client.py");
    let output = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(format!("http://{address}"))
        .arg(&token)
        .output()
        .await
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the OpenAPI client failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // The idempotency record outlives the gateway: a restarted gateway answers the retry.
    gateway.shutdown().await;
    let gateway = Gateway::start(config).await.unwrap();
    let address = gateway.address();
    let bearer = format!("Bearer {token}");
    let drawing_one = consortium.genesis.suite.digest.hash(b"drawing one");
    let replayed = tokio::task::spawn_blocking(move || {
        let document = json!({"documents": [{
            "kind": "completion-drawing", "project_id": "P-GW", "document_id": "DRAWING-1",
            "digest": drawing_one.to_string(),
        }]})
        .to_string();
        request(
            address,
            "POST",
            "/v1/documents",
            &[
                ("authorization", bearer.as_str()),
                ("idempotency-key", "4b7f0c1e-0001"),
            ],
            document.as_bytes(),
        )
    })
    .await
    .unwrap();
    assert_eq!(replayed.status, 200);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.json()["documents"][0]["version"], json!(1));
    gateway.shutdown().await;
    fixture.network.shutdown().await;
}
