//! What the gateway tests share: a four-member network on this machine, a gateway
//! configuration for one member, and plain HTTP/1.1 requests.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use evidence_gateway::{AlertsConfig, GatewayConfig, Limits, NodeTls, TokenEntry};
use evidence_genesis::pki::ROLE_FILER_SYSTEM;
use evidence_genesis::{Consortium, Suite, default_consortium_with_suite};
use evidence_node::app::now_ms;
use evidence_node::local::{LocalNetwork, caller_files, write_homes};
use serde_json::{Value, json};

/// Writes `text` to a new file readable by its owner only (key and secret files).
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// A running network, its consortium, and the directory holding its files.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub consortium: Consortium,
    pub network: LocalNetwork,
    /// The genesis file, written for the gateway to read.
    pub genesis_path: PathBuf,
}

/// Starts a four-member network of `suite` under a new temporary directory.
pub async fn start(chain_id: &str, suite: Suite) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let consortium =
        default_consortium_with_suite(chain_id, now_ms() - 60_000, suite, &mut rand_core::OsRng);
    let homes = write_homes(dir.path(), &consortium, |_, config| {
        config.metrics.enabled = false;
    })
    .unwrap();
    let network = LocalNetwork::start(consortium.genesis.clone(), homes)
        .await
        .unwrap();
    let genesis_path = dir.path().join("genesis.json");
    std::fs::write(&genesis_path, consortium.genesis.to_json()).unwrap();
    Fixture {
        dir,
        consortium,
        network,
        genesis_path,
    }
}

impl Fixture {
    /// `member`'s node endpoint.
    pub fn endpoint(&self, member: &str) -> String {
        let index = self
            .consortium
            .genesis
            .validators
            .iter()
            .position(|v| v.member == member)
            .unwrap();
        self.network.endpoints()[index].clone()
    }

    /// `member`'s filer key (the consortium's).
    pub fn filer_key(&self, member: &str) -> evidence_core::keys::SigningKey {
        self.consortium
            .filer_keys
            .iter()
            .find(|(m, _)| m == member)
            .unwrap()
            .1
            .clone()
    }

    /// A gateway configuration for `member`, in front of its node as its filing system, with
    /// default limits, alerts followed and no webhook; and the API token it accepts.
    pub fn gateway_config(&self, member: &str) -> (GatewayConfig, String) {
        let key_path = self.dir.path().join(format!("{member}-filer.key"));
        if !key_path.exists() {
            write_private(&key_path, &self.filer_key(member).to_key_file());
        }
        let caller = caller_files(self.dir.path(), member, ROLE_FILER_SYSTEM);
        let (token, entry) = TokenEntry::generate(&format!("{member}-filing-system"));
        let config = GatewayConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            genesis: self.genesis_path.clone(),
            node: self.endpoint(member),
            filer_key: key_path,
            source_system: format!("{member}-filing"),
            data_dir: self.dir.path().join(format!("{member}-gateway")),
            tls: None,
            node_tls: Some(NodeTls {
                certificate: caller.certificate,
                private_key: caller.private_key,
                extra_roots: None,
            }),
            limits: Limits::default(),
            tokens: vec![entry],
            alerts: AlertsConfig::default(),
            webhooks: Vec::new(),
        };
        (config, token)
    }
}

/// One answer: status, headers (lower-case names), body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A problem's code, checking it is one (RFC 9457 media type and members).
    pub fn problem(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        let body = self.json();
        assert_eq!(body["status"], json!(self.status));
        assert!(body["title"].is_string() && body["detail"].is_string());
        let code = body["code"].as_str().unwrap().to_owned();
        assert_eq!(
            body["type"],
            json!(format!("urn:evidence-ledger:problem:{code}"))
        );
        code
    }
}

/// A plain HTTP/1.1 request on a fresh connection (blocking: call it off the runtime).
pub fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer before reading a body it refuses; a broken pipe is then expected.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked")
    {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap(), 16).unwrap();
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}
