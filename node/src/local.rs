//! A whole consortium on this machine, in one process: each member's node with its own home
//! directory (real RocksDB, real write-ahead log) and real libp2p on 127.0.0.1. The multi-node
//! tests and the load generator use it; `evidence-testnet` runs the same layout as separate
//! processes.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};

use evidence_core::keys::SigningKey;
use evidence_genesis::{Consortium, Genesis};

use evidence_genesis::pki::{self, CertificateRequest};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::config::{GENESIS_FILE, NodeConfig};
use crate::consensus::network_keypair;
use crate::node::{Node, NodeError};

/// Ports [`free_port`] chooses from: below Linux's default ephemeral range (32768–60999), so
/// that no outgoing connection of any process is given one of them between the moment a
/// testnet writes it into a configuration and the moment its node binds it. (Asking the
/// kernel for port 0 returns an ephemeral port, which a client connection can take in
/// between: seen as "Address already in use" when a node started.)
pub const LOCAL_PORTS: std::ops::Range<u16> = 20_000..32_768;

/// A free TCP port on 127.0.0.1 for a node of a local network: drawn at random from
/// [`LOCAL_PORTS`], never the same twice in one process, and bound once to check that it is
/// free. Another process drawing the same port in the moment before the node binds it is
/// the one race left, and it is rare.
///
/// # Errors
/// No free port was found in many draws.
pub fn free_port() -> std::io::Result<u16> {
    use rand_core::RngCore;
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let span = u32::from(LOCAL_PORTS.end - LOCAL_PORTS.start);
    for _ in 0..1_000 {
        let port = LOCAL_PORTS.start + (rand_core::OsRng.next_u32() % span) as u16;
        if given.contains(&port) {
            continue;
        }
        if StdListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!(
            "no free port found in {}..{}",
            LOCAL_PORTS.start, LOCAL_PORTS.end
        ),
    ))
}

/// One member's files and addresses.
#[derive(Debug, Clone)]
pub struct MemberHome {
    pub member: String,
    pub home: PathBuf,
    pub key: SigningKey,
    pub config: NodeConfig,
}

/// Roles a local network issues caller certificates for, under `root/callers/<member>/`.
pub const CALLER_ROLES: &[&str] = &[pki::ROLE_FILER_SYSTEM, pki::ROLE_AUDITOR, pki::ROLE_COURT];

/// How long the certificates of a local network are valid.
const LOCAL_CERTIFICATE_DAYS: u32 = 3_650;

/// A certificate and key file pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

/// Writes a certificate of `member`'s CA for `name` in `role` to `dir/<file>.crt` and its key to
/// `dir/<file>.key` (0600), unless both exist already. With `hosts`, the certificate also
/// serves TLS for those names and addresses.
///
/// # Errors
/// No CA key for `member` in `consortium`, or a file cannot be written.
pub fn write_certificate(
    consortium: &Consortium,
    member: &str,
    request: &CertificateRequest<'_>,
    dir: &Path,
    file: &str,
) -> std::io::Result<CertificateFiles> {
    let files = CertificateFiles {
        certificate: dir.join(format!("{file}.crt")),
        private_key: dir.join(format!("{file}.key")),
    };
    if files.certificate.exists() && files.private_key.exists() {
        return Ok(files);
    }
    std::fs::create_dir_all(dir)?;
    let issued = consortium
        .member_ca(member)
        .and_then(|ca| ca.issue(request))
        .map_err(std::io::Error::other)?;
    write_private(&files.private_key, issued.private_key_pem.as_bytes())?;
    std::fs::write(&files.certificate, issued.certificate_pem)?;
    Ok(files)
}

/// Writes `bytes` to a new file readable by its owner only, replacing any earlier one.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The caller certificate files a local network writes for `member` in `role`.
pub fn caller_files(root: &Path, member: &str, role: &str) -> CertificateFiles {
    let dir = root.join("callers").join(member);
    CertificateFiles {
        certificate: dir.join(format!("{role}.crt")),
        private_key: dir.join(format!("{role}.key")),
    }
}

/// A gRPC channel to `endpoint`: over TLS (trusting the member CAs of `genesis`, presenting
/// `identity` when given) for `https://` endpoints, plain for `http://` ones.
///
/// # Errors
/// A bad endpoint, unreadable certificate files, or no connection.
pub async fn channel(
    genesis: &Genesis,
    endpoint: &str,
    identity: Option<&CertificateFiles>,
) -> Result<Channel, Box<dyn std::error::Error + Send + Sync>> {
    let mut target = Endpoint::from_shared(endpoint.to_owned())?;
    if endpoint.starts_with("https://") {
        let mut tls =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(genesis.ca_bundle_pem()));
        if let Some(files) = identity {
            tls = tls.identity(Identity::from_pem(
                std::fs::read(&files.certificate)?,
                std::fs::read(&files.private_key)?,
            ));
        }
        target = target.tls_config(tls)?;
    }
    Ok(target.connect().await?)
}

/// Writes a home directory per validator of `consortium` under `root` (`root/<member>/`):
/// `genesis.json`, `node.key`, the node's TLS certificate and key (`tls/node.crt`,
/// `tls/node.key`, issued by its member's CA for 127.0.0.1 and localhost) and `node.toml` with
/// loopback ports, every other validator as a consensus peer and every other node's API as a
/// relay peer, and `adjust` applied to each configuration. It also writes caller certificates
/// for every member and each of [`CALLER_ROLES`] ([`caller_files`]).
///
/// # Errors
/// A file cannot be written or no port is free.
pub fn write_homes(
    root: &Path,
    consortium: &Consortium,
    mut adjust: impl FnMut(&str, &mut NodeConfig),
) -> std::io::Result<Vec<MemberHome>> {
    let ports: Vec<u16> = consortium
        .validator_keys
        .iter()
        .map(|_| free_port())
        .collect::<Result<_, _>>()?;
    let api_ports: Vec<u16> = consortium
        .validator_keys
        .iter()
        .map(|_| free_port())
        .collect::<Result<_, _>>()?;
    let addresses: Vec<String> = consortium
        .validator_keys
        .iter()
        .zip(&ports)
        .map(|((_, key), port)| {
            format!(
                "/ip4/127.0.0.1/tcp/{port}/p2p/{}",
                network_keypair(key).public().to_peer_id()
            )
        })
        .collect();
    let mut homes = Vec::new();
    for (i, (member, key)) in consortium.validator_keys.iter().enumerate() {
        let home = root.join(member);
        std::fs::create_dir_all(&home)?;
        std::fs::write(home.join(GENESIS_FILE), consortium.genesis.to_json())?;
        let key_path = home.join("node.key");
        if !key_path.exists() {
            evidence_genesis::write_key_file(&key_path, key).map_err(std::io::Error::other)?;
        }
        let mut config = NodeConfig::default();
        config.node.moniker = member.clone();
        config.consensus.listen = format!("/ip4/127.0.0.1/tcp/{}", ports[i]);
        config.consensus.peers = addresses
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, a)| a.clone())
            .collect();
        config.api.listen = SocketAddr::from(([127, 0, 0, 1], api_ports[i]));
        config.relay.peers = api_ports
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, port)| format!("https://127.0.0.1:{port}"))
            .collect();
        config.metrics.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        write_certificate(
            consortium,
            member,
            &CertificateRequest {
                name: &format!("{member}-node"),
                role: pki::ROLE_MEMBER_NODE,
                hosts: &["127.0.0.1".to_owned(), "localhost".to_owned()],
                not_before_ms: consortium
                    .genesis
                    .genesis_time_ms
                    .saturating_sub(86_400_000),
                validity_days: LOCAL_CERTIFICATE_DAYS,
            },
            &home.join("tls"),
            "node",
        )?;
        adjust(member, &mut config);
        if config.api.plaintext {
            for peer in &mut config.relay.peers {
                *peer = peer.replacen("https://", "http://", 1);
            }
        }
        std::fs::write(home.join(crate::config::CONFIG_FILE), config.to_toml())?;
        homes.push(MemberHome {
            member: member.clone(),
            home,
            key: key.clone(),
            config,
        });
    }
    for (member, _) in &consortium.ca_keys {
        for role in CALLER_ROLES {
            let files = caller_files(root, member, role);
            let dir = files.certificate.parent().unwrap_or(root);
            write_certificate(
                consortium,
                member,
                &CertificateRequest {
                    name: &format!("{member}-{role}"),
                    role,
                    hosts: &[],
                    not_before_ms: consortium
                        .genesis
                        .genesis_time_ms
                        .saturating_sub(86_400_000),
                    validity_days: LOCAL_CERTIFICATE_DAYS,
                },
                dir,
                role,
            )?;
        }
    }
    Ok(homes)
}

/// A running in-process network. Nodes can be stopped and started again from their homes.
#[derive(Debug)]
pub struct LocalNetwork {
    pub genesis: Genesis,
    pub homes: Vec<MemberHome>,
    nodes: Vec<Option<Node>>,
}

impl LocalNetwork {
    /// Starts every node of `homes`.
    ///
    /// # Errors
    /// A node fails to start.
    pub async fn start(genesis: Genesis, homes: Vec<MemberHome>) -> Result<Self, NodeError> {
        let mut network = Self {
            genesis,
            nodes: homes.iter().map(|_| None).collect(),
            homes,
        };
        for i in 0..network.homes.len() {
            network.start_node(i).await?;
        }
        Ok(network)
    }

    /// Starts node `i` (again) from its home.
    ///
    /// # Errors
    /// The node fails to start.
    pub async fn start_node(&mut self, i: usize) -> Result<(), NodeError> {
        let home = &self.homes[i];
        let node = Node::start_with(
            &home.home,
            home.config.clone(),
            self.genesis.clone(),
            home.key.clone(),
        )
        .await?;
        self.nodes[i] = Some(node);
        Ok(())
    }

    /// Stops node `i` and waits until it has let go of its database.
    pub async fn stop_node(&mut self, i: usize) {
        if let Some(node) = self.nodes[i].take() {
            node.shutdown().await;
        }
    }

    /// Node `i`, if running.
    pub fn node(&self, i: usize) -> Option<&Node> {
        self.nodes[i].as_ref()
    }

    /// The running nodes.
    pub fn running(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().flatten()
    }

    /// Endpoints of the running nodes' APIs: `https://`, or `http://` for plaintext nodes.
    pub fn endpoints(&self) -> Vec<String> {
        self.nodes
            .iter()
            .zip(&self.homes)
            .filter_map(|(node, home)| {
                let scheme = if home.config.api.plaintext {
                    "http"
                } else {
                    "https"
                };
                node.as_ref()
                    .map(|n| format!("{scheme}://{}", n.api_address()))
            })
            .collect()
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        for i in 0..self.nodes.len() {
            self.stop_node(i).await;
        }
    }
}

/// The canonical bytes of an anchor transaction: `documents` (document id, digest), each at
/// version 1 of `kind` in `project_id`, filed by `member`'s filer `filer` at `captured_at_ms`,
/// all under one filer signature.
///
/// # Errors
/// The batch is empty or too long.
pub fn anchor_transaction(
    genesis: &Genesis,
    filer: &SigningKey,
    member: &str,
    kind: &str,
    project_id: &str,
    documents: &[(String, evidence_core::digest::Digest)],
    captured_at_ms: u64,
) -> Result<Vec<u8>, evidence_core::entry::BatchError> {
    use evidence_core::encoding::Encode;
    use evidence_core::entry::{AnchorBody, SignedBatch};
    let bodies = documents
        .iter()
        .map(|(document_id, digest)| AnchorBody {
            chain_id: genesis.chain_id.clone(),
            filer: filer.public_key(),
            member: member.to_owned(),
            source_system: format!("{member}-filing-system"),
            captured_at_ms,
            project_id: project_id.to_owned(),
            document_id: document_id.clone(),
            document_version: 1,
            kind: kind.to_owned(),
            digest: *digest,
            supersedes: None,
            claim: None,
        })
        .collect();
    let batch = SignedBatch::sign(genesis.suite.digest, bodies, filer)?;
    Ok(evidence_contracts::transaction::Transaction::Anchor(batch).to_canonical_bytes())
}

/// The canonical bytes of a bureau filer's batch of completion drawings in project `P-1`:
/// one document a name, its digest the hash of the name (tests and examples).
///
/// # Errors
/// The batch is empty or too long.
pub fn drawings(
    genesis: &Genesis,
    filer: &SigningKey,
    names: impl IntoIterator<Item = String>,
    captured_at_ms: u64,
) -> Result<Vec<u8>, evidence_core::entry::BatchError> {
    let documents: Vec<_> = names
        .into_iter()
        .map(|name| {
            let digest = genesis.suite.digest.hash(name.as_bytes());
            (name, digest)
        })
        .collect();
    anchor_transaction(
        genesis,
        filer,
        "bureau",
        "completion-drawing",
        "P-1",
        &documents,
        captured_at_ms,
    )
}

/// The canonical bytes of a governance transaction: `action`, by `member`, signed with its
/// governance key `key` at `issued_at_ms`.
pub fn governance_transaction(
    genesis: &Genesis,
    member: &str,
    key: &SigningKey,
    action: evidence_core::governance::GovernanceAction,
    issued_at_ms: u64,
) -> Vec<u8> {
    use evidence_core::encoding::Encode;
    evidence_contracts::transaction::Transaction::governance(
        evidence_core::governance::GovernanceBody {
            chain_id: genesis.chain_id.clone(),
            member: member.to_owned(),
            signer: key.public_key(),
            issued_at_ms,
            action,
        }
        .sign(key),
    )
    .to_canonical_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_outside_the_ephemeral_range_distinct_and_bindable() {
        let ports: Vec<u16> = (0..64).map(|_| free_port().unwrap()).collect();
        for port in &ports {
            assert!(LOCAL_PORTS.contains(port), "{port}");
        }
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "never the same port twice");
        // A port in use is not given out: hold one and draw many.
        let held = StdListener::bind(("127.0.0.1", ports[0])).unwrap();
        assert!((0..64).all(|_| free_port().unwrap() != ports[0]));
        drop(held);
    }
}
