//! A local consortium on one machine: its files under one directory, and its member nodes as
//! separate `evidence-node` processes on loopback.
//!
//! The directory layout (default `./testnet-data`):
//!
//! ```text
//! genesis.json                 the consortium's genesis file (the courts' trust anchor)
//! testnet.json                 endpoints, homes and process ids of the running network
//! filers/<member>.key          each member's filer key (0600)
//! ca/<member>.key              each member's TLS certificate authority key (0600); its
//!                              certificate is in genesis.json
//! governance/<member>.key      each member's governance key (0600): it signs the member's
//!                              filer registrations, proposals and votes
//! callers/<member>/<role>.crt  TLS certificates for callers of each member in the roles
//!                              filer-system, auditor and court, with their keys (.key, 0600)
//! <member>/                    each member's node home: node.toml, genesis.json, node.key,
//!                              tls/node.crt and tls/node.key (its member-node certificate),
//!                              data/ (RocksDB, consensus WAL), audit.log and node.log
//! ```

pub mod chaos;
pub mod demo;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evidence_client::{Client, ClientOptions, RetryPolicy, TlsOptions};
use evidence_genesis::pki::ROLE_AUDITOR;
use evidence_genesis::{
    Consortium, Filer, Genesis, GenesisValidator, Suite, default_consortium_with_suite, network,
    write_key_file,
};
use evidence_node::config::NodeConfig;
use evidence_node::local::{CALLER_ROLES, caller_files, free_port, write_homes};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The chain id of a generated testnet.
pub const CHAIN_ID: &str = "evidence-testnet";
/// The description of a running network, under the testnet directory.
pub const TESTNET_FILE: &str = "testnet.json";
/// The genesis file, under the testnet directory.
pub const GENESIS_FILE: &str = "genesis.json";
/// Fewest validators: BFT with n = 3f + 1 tolerates one faulty member from four.
pub const NODES_MIN: usize = 4;
/// Most validators a testnet generates.
pub const NODES_MAX: usize = 16;
/// How long `start` waits for every node to answer.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long `stop` waits for a node to shut down after SIGTERM before killing it.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// Why the testnet could not be set up, started or stopped.
#[derive(Debug, Error)]
pub enum TestnetError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a testnet has {min} to {max} nodes, not {0}", min = NODES_MIN, max = NODES_MAX)]
    NodeCount(usize),
    #[error(
        "{dir} already holds a testnet of the suite {existing}; --suite {asked} would need a new \
         directory (or remove it to start afresh)"
    )]
    SuiteMismatch {
        dir: PathBuf,
        existing: String,
        asked: String,
    },
    #[error(
        "{dir} already holds a testnet of {existing} nodes; --nodes {asked} would need a new \
         directory (or remove it to start afresh)"
    )]
    NodeCountMismatch {
        dir: PathBuf,
        existing: usize,
        asked: usize,
    },
    #[error(
        "{dir} holds an unfinished testnet ({found} exist, but no genesis.json: its creation was \
         interrupted); remove them, or choose another --dir"
    )]
    Unfinished { dir: PathBuf, found: String },
    #[error("genesis: {0}")]
    Genesis(#[from] evidence_genesis::GenesisError),
    #[error(
        "{dir} holds a testnet made by an older version ({reason}); remove the directory to \
         make a new one, or choose another --dir"
    )]
    OlderFormat { dir: PathBuf, reason: String },
    #[error("key file: {0}")]
    Key(#[from] evidence_genesis::KeyFileError),
    #[error("node configuration: {0}")]
    Config(#[from] evidence_node::config::ConfigError),
    #[error("certificates: {0}")]
    Pki(String),
    #[error("the testnet has no node {0}")]
    NoSuchNode(usize),
    #[error("the {0} node still runs; stop it first")]
    StillRunning(String),
    #[error("TLS client files: {0}")]
    Tls(#[from] evidence_client::ClientError),
    #[error(
        "the node binary was not found at {0}; build it with `cargo build -p evidence-node` (or \
         run scripts/testnet.sh, which builds everything), or name it with --node-binary"
    )]
    NodeBinaryMissing(PathBuf),
    #[error("cannot start the {member} node ({binary}): {source}")]
    Spawn {
        member: String,
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("the {member} node exited during start-up ({status}); the end of {log}:\n{tail}")]
    ExitedEarly {
        member: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("the {member} node did not answer at {api} within {seconds} s: {reason}")]
    NotAnswering {
        member: String,
        api: String,
        seconds: u64,
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TestnetError + '_ {
    move |source| TestnetError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One member's node in the testnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub member: String,
    /// The gRPC endpoint, e.g. `https://127.0.0.1:40101`.
    pub api: String,
    /// The Prometheus endpoint.
    pub metrics: String,
    pub home: PathBuf,
    pub log: PathBuf,
    /// The process id while the network runs.
    pub pid: Option<u32>,
}

/// `testnet.json`: what a script needs to use the running network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestnetInfo {
    pub chain_id: String,
    /// The genesis file (absolute path).
    pub genesis: PathBuf,
    pub nodes: Vec<NodeInfo>,
    /// Each member's filer key file (absolute paths), by member.
    pub filers: std::collections::BTreeMap<String, PathBuf>,
    /// Each member's governance key file (absolute paths), by member.
    #[serde(default)]
    pub governance: std::collections::BTreeMap<String, PathBuf>,
    /// TLS certificates for callers, by member and then role (absolute paths).
    pub callers:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, CallerFiles>>,
}

/// A caller's TLS certificate and private key files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerFiles {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

impl TestnetInfo {
    /// Reads `dir/testnet.json`.
    ///
    /// # Errors
    /// The file cannot be read or is not a testnet description.
    pub fn load(dir: &Path) -> Result<Self, TestnetError> {
        let path = dir.join(TESTNET_FILE);
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        serde_json::from_str(&text).map_err(|error| TestnetError::Io {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, error),
        })
    }
}

/// A consortium's files under a directory.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
    pub genesis: Genesis,
    /// (member, node home), in genesis validator order.
    pub homes: Vec<(String, PathBuf)>,
}

impl Layout {
    pub fn genesis_path(&self) -> PathBuf {
        self.dir.join(GENESIS_FILE)
    }

    pub fn filer_key_path(&self, member: &str) -> PathBuf {
        self.dir.join("filers").join(format!("{member}.key"))
    }

    pub fn governance_key_path(&self, member: &str) -> PathBuf {
        self.dir.join("governance").join(format!("{member}.key"))
    }

    /// The TLS certificate files of `member`'s caller in `role`.
    pub fn caller(&self, member: &str, role: &str) -> CallerFiles {
        let files = caller_files(&self.dir, member, role);
        CallerFiles {
            certificate: files.certificate,
            private_key: files.private_key,
        }
    }

    /// Client options that present `member`'s caller certificate in `role`.
    ///
    /// # Errors
    /// The certificate or key file cannot be read.
    pub fn client_options(&self, member: &str, role: &str) -> Result<ClientOptions, TestnetError> {
        let files = self.caller(member, role);
        Ok(ClientOptions {
            tls: TlsOptions::from_files(Some(&files.certificate), Some(&files.private_key), None)?,
            ..ClientOptions::default()
        })
    }
}

/// The default consortium grown to `nodes` validators: members beyond the four defaults are
/// voting members with a filer that may anchor nothing.
fn consortium(nodes: usize, suite: Suite) -> Result<Consortium, TestnetError> {
    let now = evidence_node::app::now_ms();
    let mut rng = rand_core::OsRng;
    let mut consortium = default_consortium_with_suite(CHAIN_ID, now, suite, &mut rng);
    for n in NODES_MIN + 1..=nodes {
        let member = format!("member{n}");
        let validator_key =
            evidence_core::keys::SigningKey::generate_for_with(suite.signature, &mut rng);
        let filer_key =
            evidence_core::keys::SigningKey::generate_for_with(suite.signature, &mut rng);
        let address = (suite.signature == evidence_core::keys::SignatureAlgorithm::Sm2)
            .then(|| format!("/p2p/{}", network::network_peer_id(&validator_key)));
        consortium
            .add_member(&member, &format!("Member {n}"), &mut rng)
            .map_err(|e| TestnetError::Pki(e.to_string()))?;
        let genesis = &mut consortium.genesis;
        genesis.validators.push(GenesisValidator {
            member: member.clone(),
            public_key: validator_key.public_key(),
            voting_power: 1,
            address,
        });
        genesis.filers.push(Filer {
            name: format!("{member}-filing-system"),
            member: member.clone(),
            public_key: filer_key.public_key(),
            kinds: Vec::new(),
        });
        consortium
            .validator_keys
            .push((member.clone(), validator_key));
        consortium.filer_keys.push((member, filer_key));
    }
    Ok(consortium)
}

/// Creates a consortium of `nodes` members under `dir`, or reuses the one already there (its
/// keys, ports and data are kept).
///
/// # Errors
/// A file cannot be written or read, or an existing testnet has another node count.
pub fn create_or_reuse(dir: &Path, nodes: usize) -> Result<(Layout, bool), TestnetError> {
    create_or_reuse_with_suite(dir, nodes, None)
}

/// As [`create_or_reuse`], with the algorithm suite of a new consortium (`None`: the default,
/// or whatever an existing one uses). An existing consortium of another suite than the one
/// asked for is not reused.
///
/// # Errors
/// As [`create_or_reuse`], or an existing testnet of another suite.
pub fn create_or_reuse_with_suite(
    dir: &Path,
    nodes: usize,
    suite: Option<Suite>,
) -> Result<(Layout, bool), TestnetError> {
    if !(NODES_MIN..=NODES_MAX).contains(&nodes) {
        return Err(TestnetError::NodeCount(nodes));
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let dir = dir.canonicalize().map_err(io(dir))?;
    let genesis_path = dir.join(GENESIS_FILE);
    if genesis_path.exists() {
        let genesis = Genesis::load(&genesis_path).map_err(|error| match error {
            evidence_genesis::GenesisError::Invalid { ref field, .. } if field == "version" => {
                TestnetError::OlderFormat {
                    dir: dir.clone(),
                    reason: error.to_string(),
                }
            }
            error => TestnetError::Genesis(error),
        })?;
        if let Some(asked) = suite
            && asked != genesis.suite
        {
            return Err(TestnetError::SuiteMismatch {
                dir,
                existing: format!("{}/{}", genesis.suite.digest, genesis.suite.signature),
                asked: format!("{}/{}", asked.digest, asked.signature),
            });
        }
        if genesis.validators.len() != nodes {
            return Err(TestnetError::NodeCountMismatch {
                dir,
                existing: genesis.validators.len(),
                asked: nodes,
            });
        }
        let homes = genesis
            .validators
            .iter()
            .map(|v| (v.member.clone(), dir.join(&v.member)))
            .collect();
        return Ok((
            Layout {
                dir,
                genesis,
                homes,
            },
            false,
        ));
    }
    let consortium = consortium(nodes, suite.unwrap_or_default())?;
    consortium.genesis.validate()?;
    // What a creation writes before genesis.json: if some of it is there, an earlier creation
    // was interrupted, and its keys would not match the new genesis.
    let leftovers: Vec<String> = consortium
        .genesis
        .validators
        .iter()
        .map(|v| v.member.clone())
        .chain(
            ["filers", "ca", "governance", "callers"]
                .iter()
                .map(|name| (*name).to_owned()),
        )
        .filter(|name| dir.join(name).exists())
        .collect();
    if !leftovers.is_empty() {
        return Err(TestnetError::Unfinished {
            dir,
            found: leftovers.join(", "),
        });
    }
    let homes = write_homes(&dir, &consortium, |_, config: &mut NodeConfig| {
        // A fixed metrics port, so that it can be scraped.
        if let Ok(port) = free_port() {
            config.metrics.listen.set_port(port);
        }
    })
    .map_err(io(&dir))?;
    let filers = dir.join("filers");
    std::fs::create_dir_all(&filers).map_err(io(&filers))?;
    for (member, key) in &consortium.filer_keys {
        write_key_file(&filers.join(format!("{member}.key")), key)?;
    }
    let cas = dir.join("ca");
    std::fs::create_dir_all(&cas).map_err(io(&cas))?;
    for (member, key) in &consortium.ca_keys {
        write_key_file(&cas.join(format!("{member}.key")), key)?;
    }
    let governance = dir.join("governance");
    std::fs::create_dir_all(&governance).map_err(io(&governance))?;
    for (member, key) in &consortium.governance_keys {
        write_key_file(&governance.join(format!("{member}.key")), key)?;
    }
    // The genesis file last: its presence marks a complete testnet directory.
    let temporary = dir.join("genesis.json.tmp");
    std::fs::write(&temporary, consortium.genesis.to_json()).map_err(io(&temporary))?;
    std::fs::rename(&temporary, &genesis_path).map_err(io(&genesis_path))?;
    Ok((
        Layout {
            dir,
            genesis: consortium.genesis,
            homes: homes.into_iter().map(|h| (h.member, h.home)).collect(),
        },
        true,
    ))
}

/// Node processes of an earlier run under `dir` that still run (for example after the testnet
/// tool itself was killed outright): (member, pid). A process counts only if it is still an
/// `evidence-node` for that member's home.
pub fn leftover_nodes(dir: &Path) -> Vec<(String, u32)> {
    let Ok(info) = TestnetInfo::load(dir) else {
        return Vec::new();
    };
    info.nodes
        .iter()
        .filter_map(|node| {
            let pid = node.pid?;
            runs_home(pid, &node.home).then(|| (node.member.clone(), pid))
        })
        .collect()
}

/// The `evidence-node` binary: `explicit`, or the one beside the running executable (where
/// cargo puts every binary of the workspace).
///
/// # Errors
/// No such file.
pub fn node_binary(explicit: Option<&Path>) -> Result<PathBuf, TestnetError> {
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => {
            let exe = std::env::current_exe().map_err(io(Path::new("the running executable")))?;
            let dir = exe.parent().unwrap_or(Path::new("."));
            // Test executables live one level down, in deps/.
            let dir = if dir.ends_with("deps") {
                dir.parent().unwrap_or(dir)
            } else {
                dir
            };
            dir.join(format!("evidence-node{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(TestnetError::NodeBinaryMissing(path))
    }
}

/// A node process: one this tool started (`child`), or one somebody else started for the
/// same home after the first exited (`adopted`, found by [`Network::adopt_restarted`]).
#[derive(Debug)]
struct NodeProcess {
    info: NodeInfo,
    child: Option<Child>,
    adopted: Option<u32>,
}

/// Whether `pid` is an `evidence-node` process for `home`.
fn runs_home(pid: u32, home: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    // Arguments are separated by NUL bytes: compare whole arguments.
    let arguments: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let home = home.as_os_str().as_encoded_bytes();
    arguments
        .first()
        .is_some_and(|program| program.ends_with(b"evidence-node"))
        && arguments
            .windows(2)
            .any(|w| w[0] == b"--home" && w[1] == home)
}

/// An `evidence-node` process for `home`, other than `except`, if one runs.
fn find_node_process(home: &Path) -> Option<u32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| runs_home(*pid, home))
}

/// The node processes of a testnet. Dropping it stops them.
#[derive(Debug)]
pub struct Network {
    pub layout: Layout,
    nodes: Vec<NodeProcess>,
}

/// Starts `binary` for `member`'s node in `home`, appending its output to `log`.
fn spawn_node(binary: &Path, member: &str, home: &Path, log: &Path) -> Result<Child, TestnetError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io(log))?;
    let stderr = file.try_clone().map_err(io(log))?;
    let mut command = Command::new(binary);
    command
        .arg("--home")
        .arg(home)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(stderr);
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info");
    }
    command.spawn().map_err(|source| TestnetError::Spawn {
        member: member.to_owned(),
        binary: binary.to_owned(),
        source,
    })
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Network {
    /// Starts every node of `layout` as a process of `binary`, each logging to `node.log` in
    /// its home, and waits until each answers on its API with the right genesis.
    ///
    /// # Errors
    /// A node cannot be started, exits, or does not answer in time; the others are stopped.
    pub async fn start(layout: Layout, binary: &Path) -> Result<Self, TestnetError> {
        let mut network = Self {
            layout,
            nodes: Vec::new(),
        };
        for (member, home) in network.layout.homes.clone() {
            let config = NodeConfig::load(&home)?;
            let log = home.join("node.log");
            let child = spawn_node(binary, &member, &home, &log)?;
            let metrics = if config.metrics.enabled {
                format!("http://{}/metrics", config.metrics.listen)
            } else {
                String::new()
            };
            network.nodes.push(NodeProcess {
                info: NodeInfo {
                    member,
                    api: format!(
                        "{}://{}",
                        if config.api.plaintext {
                            "http"
                        } else {
                            "https"
                        },
                        config.api.listen
                    ),
                    metrics,
                    home,
                    log,
                    pid: Some(child.id()),
                },
                child: Some(child),
                adopted: None,
            });
        }
        let deadline = Instant::now() + START_TIMEOUT;
        for i in 0..network.nodes.len() {
            network.wait_until_answering(i, deadline).await?;
        }
        Ok(network)
    }

    async fn wait_until_answering(
        &mut self,
        i: usize,
        deadline: Instant,
    ) -> Result<(), TestnetError> {
        let member = self.nodes[i].info.member.clone();
        let options = ClientOptions {
            retry: RetryPolicy {
                attempts: 1,
                ..RetryPolicy::default()
            },
            connect_timeout: Duration::from_secs(2),
            ..self.layout.client_options(&member, ROLE_AUDITOR)?
        };
        loop {
            let node = &mut self.nodes[i];
            if let Some(child) = node.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                node.child = None;
                return Err(TestnetError::ExitedEarly {
                    member: node.info.member.clone(),
                    status: status.to_string(),
                    log: node.info.log.clone(),
                    tail: tail(&node.info.log, 20),
                });
            }
            let answer = Client::connect_with(
                &node.info.api,
                None,
                self.layout.genesis.clone(),
                options.clone(),
            )
            .await;
            match answer {
                Ok(_) => return Ok(()),
                Err(error) if Instant::now() >= deadline => {
                    return Err(TestnetError::NotAnswering {
                        member: node.info.member.clone(),
                        api: node.info.api.clone(),
                        seconds: START_TIMEOUT.as_secs(),
                        reason: error.to_string(),
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// The running network's description.
    pub fn info(&self) -> TestnetInfo {
        TestnetInfo {
            chain_id: self.layout.genesis.chain_id.clone(),
            genesis: self.layout.genesis_path(),
            nodes: self.nodes.iter().map(|n| n.info.clone()).collect(),
            filers: self
                .layout
                .homes
                .iter()
                .map(|(member, _)| (member.clone(), self.layout.filer_key_path(member)))
                .filter(|(_, path)| path.exists())
                .collect(),
            governance: self
                .layout
                .genesis
                .members
                .iter()
                .map(|member| {
                    (
                        member.id.clone(),
                        self.layout.governance_key_path(&member.id),
                    )
                })
                .filter(|(_, path)| path.exists())
                .collect(),
            callers: self
                .layout
                .genesis
                .members
                .iter()
                .map(|member| {
                    let roles = CALLER_ROLES
                        .iter()
                        .map(|role| ((*role).to_owned(), self.layout.caller(&member.id, role)))
                        .filter(|(_, files)| files.certificate.exists())
                        .collect();
                    (member.id.clone(), roles)
                })
                .collect(),
        }
    }

    /// Writes `testnet.json`.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write_info(&self) -> Result<PathBuf, TestnetError> {
        let path = self.layout.dir.join(TESTNET_FILE);
        let temporary = self.layout.dir.join("testnet.json.tmp");
        let text = serde_json::to_string_pretty(&self.info()).unwrap_or_default();
        std::fs::write(&temporary, text + "\n").map_err(io(&temporary))?;
        std::fs::rename(&temporary, &path).map_err(io(&path))?;
        Ok(path)
    }

    /// Nodes that have exited since the last call: (member, exit status). An adopted process
    /// that is gone counts too (its status is not known: it is not this tool's child).
    pub fn reap_exited(&mut self) -> Vec<(String, String)> {
        let mut exited = Vec::new();
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                exited.push((node.info.member.clone(), status.to_string()));
                node.child = None;
                node.info.pid = None;
            }
            if let Some(pid) = node.adopted
                && !runs_home(pid, &node.info.home)
            {
                exited.push((node.info.member.clone(), "exit status unknown".to_owned()));
                node.adopted = None;
                node.info.pid = None;
            }
        }
        exited
    }

    /// Nodes whose process exited and that somebody started again by hand (`evidence-node
    /// --home` with the same home): their new processes are adopted, so that `testnet.json`
    /// shows their pids, they count as running, and stopping the network stops them.
    /// Returns (member, pid) for each node adopted now.
    pub fn adopt_restarted(&mut self) -> Vec<(String, u32)> {
        let mut adopted = Vec::new();
        for node in &mut self.nodes {
            if node.child.is_none()
                && node.adopted.is_none()
                && let Some(pid) = find_node_process(&node.info.home)
            {
                node.adopted = Some(pid);
                node.info.pid = Some(pid);
                adopted.push((node.info.member.clone(), pid));
            }
        }
        adopted
    }

    /// Starts node `i` again after it exited or was stopped (the chaos soak's restarts).
    ///
    /// # Errors
    /// The node still runs, or its process cannot be started.
    pub fn restart_node(&mut self, i: usize, binary: &Path) -> Result<u32, TestnetError> {
        let Some(node) = self.nodes.get_mut(i) else {
            return Err(TestnetError::NoSuchNode(i));
        };
        if let Some(child) = node.child.as_mut()
            && let Ok(None) = child.try_wait()
        {
            return Err(TestnetError::StillRunning(node.info.member.clone()));
        }
        if node
            .adopted
            .is_some_and(|pid| runs_home(pid, &node.info.home))
        {
            return Err(TestnetError::StillRunning(node.info.member.clone()));
        }
        let child = spawn_node(binary, &node.info.member, &node.info.home, &node.info.log)?;
        let pid = child.id();
        node.child = Some(child);
        node.adopted = None;
        node.info.pid = Some(pid);
        Ok(pid)
    }

    /// Kills node `i` at once (SIGKILL), as a crash would.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(node) = self.nodes.get_mut(i) {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            if let Some(pid) = node.adopted.take()
                && let Ok(pid) = i32::try_from(pid)
            {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            node.info.pid = None;
        }
    }

    /// How many node processes are running.
    pub fn running(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some() || n.adopted.is_some())
            .count()
    }

    /// Stops node `i` gracefully (SIGTERM, then SIGKILL after a grace period).
    pub fn stop_node(&mut self, i: usize) {
        if let Some(node) = self.nodes.get_mut(i) {
            if let Some(child) = node.child.take() {
                stop_child(child);
            }
            if let Some(pid) = node.adopted.take() {
                stop_adopted(pid, &node.info.home, Instant::now() + STOP_GRACE);
            }
            node.info.pid = None;
        }
    }

    /// Stops every node: SIGTERM to all, then waits for each (SIGKILL after a grace period).
    pub fn stop(&mut self) {
        let children: Vec<Child> = self
            .nodes
            .iter_mut()
            .filter_map(|node| {
                node.info.pid = None;
                node.child.take()
            })
            .collect();
        let adopted: Vec<(u32, PathBuf)> = self
            .nodes
            .iter_mut()
            .filter_map(|node| Some((node.adopted.take()?, node.info.home.clone())))
            .collect();
        for child in &children {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        // One grace period for all of them, not one each.
        let deadline = Instant::now() + STOP_GRACE;
        for (pid, home) in adopted {
            stop_adopted(pid, &home, deadline);
        }
        for child in children {
            wait_or_kill(child, deadline);
        }
    }
}

/// Stops a node process that is not this tool's child: SIGTERM, then SIGKILL at `deadline`
/// if it still runs that home.
fn stop_adopted(pid: u32, home: &Path, deadline: Instant) {
    let Ok(raw) = i32::try_from(pid) else {
        return;
    };
    let _ = kill(Pid::from_raw(raw), Signal::SIGTERM);
    while runs_home(pid, home) {
        if Instant::now() >= deadline {
            let _ = kill(Pid::from_raw(raw), Signal::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop_child(child: Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    wait_or_kill(child, Instant::now() + STOP_GRACE);
}

fn wait_or_kill(mut child: Child, deadline: Instant) {
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use evidence_node::config::CONFIG_FILE;

    use super::*;

    #[test]
    fn a_new_directory_gets_a_complete_consortium_and_is_reused_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let (layout, created) = create_or_reuse(dir.path(), 4).unwrap();
        assert!(created);
        assert_eq!(layout.homes.len(), 4);
        for member in ["bureau", "finance", "court", "archive"] {
            assert!(
                layout.filer_key_path(member).is_file(),
                "{member} filer key"
            );
            let governance = evidence_genesis::read_key_file(&layout.governance_key_path(member))
                .unwrap()
                .public_key();
            assert_eq!(
                layout.genesis.member(member).unwrap().governance_keys,
                vec![governance],
                "{member} governance key"
            );
            assert!(dir.path().join(member).join(CONFIG_FILE).is_file());
            assert!(dir.path().join(member).join("node.key").is_file());
        }
        let bureau = evidence_genesis::read_key_file(&layout.filer_key_path("bureau")).unwrap();
        let filer = layout.genesis.filer(&bureau.public_key()).unwrap();
        assert_eq!(filer.kinds, ["completion-drawing", "inspection-report"]);

        let (again, created) = create_or_reuse(dir.path(), 4).unwrap();
        assert!(!created);
        assert_eq!(again.genesis, layout.genesis);
        assert!(matches!(
            create_or_reuse(dir.path(), 5),
            Err(TestnetError::NodeCountMismatch {
                existing: 4,
                asked: 5,
                ..
            })
        ));
    }

    #[test]
    fn a_national_suite_consortium_is_all_sm2_and_is_reused_only_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let (layout, created) =
            create_or_reuse_with_suite(dir.path(), 5, Some(Suite::NATIONAL)).unwrap();
        assert!(created);
        assert_eq!(layout.genesis.suite, Suite::NATIONAL);
        for validator in &layout.genesis.validators {
            assert_eq!(
                validator.public_key.algorithm(),
                evidence_core::keys::SignatureAlgorithm::Sm2
            );
            // Its node's key file derives the peer id the genesis pins.
            let key = evidence_genesis::read_key_file(
                &dir.path().join(&validator.member).join("node.key"),
            )
            .unwrap();
            assert_eq!(
                validator.address.as_deref(),
                Some(format!("/p2p/{}", network::network_peer_id(&key)).as_str())
            );
        }
        let (again, created) = create_or_reuse_with_suite(dir.path(), 5, None).unwrap();
        assert!(!created);
        assert_eq!(again.genesis, layout.genesis);
        assert!(matches!(
            create_or_reuse_with_suite(dir.path(), 5, Some(Suite::DEFAULT)),
            Err(TestnetError::SuiteMismatch { .. })
        ));
    }

    #[test]
    fn node_counts_outside_the_range_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            create_or_reuse(dir.path(), 3),
            Err(TestnetError::NodeCount(3))
        ));
        assert!(matches!(
            create_or_reuse(dir.path(), 17),
            Err(TestnetError::NodeCount(17))
        ));
        assert!(!dir.path().join(GENESIS_FILE).exists());
    }

    #[test]
    fn more_nodes_make_more_voting_members() {
        let dir = tempfile::tempdir().unwrap();
        let (layout, _) = create_or_reuse(dir.path(), 7).unwrap();
        assert_eq!(layout.genesis.validators.len(), 7);
        layout.genesis.validate().unwrap();
    }

    #[test]
    fn an_interrupted_creation_is_named_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        create_or_reuse(dir.path(), 4).unwrap();
        // As if the creation had stopped before writing the genesis file.
        std::fs::remove_file(dir.path().join(GENESIS_FILE)).unwrap();
        let key = std::fs::read(dir.path().join("bureau").join("node.key")).unwrap();
        let error = create_or_reuse(dir.path(), 4).unwrap_err();
        assert!(
            matches!(&error, TestnetError::Unfinished { found, .. }
                if found.contains("bureau") && found.contains("filers")),
            "{error}"
        );
        assert!(error.to_string().contains("remove them"), "{error}");
        assert_eq!(
            std::fs::read(dir.path().join("bureau").join("node.key")).unwrap(),
            key,
            "nothing is overwritten"
        );
        assert!(!dir.path().join(GENESIS_FILE).exists());
    }

    #[test]
    fn a_testnet_of_an_older_genesis_version_says_to_start_afresh() {
        let dir = tempfile::tempdir().unwrap();
        create_or_reuse(dir.path(), 4).unwrap();
        let path = dir.path().join(GENESIS_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let current = format!("\"version\": {}", evidence_genesis::GENESIS_VERSION);
        assert!(text.contains(&current));
        let older = format!("\"version\": {}", evidence_genesis::GENESIS_VERSION - 1);
        std::fs::write(&path, text.replace(&current, &older)).unwrap();
        let error = create_or_reuse(dir.path(), 4).unwrap_err();
        assert!(matches!(error, TestnetError::OlderFormat { .. }), "{error}");
        assert!(
            error.to_string().contains("remove the directory"),
            "{error}"
        );
    }

    #[test]
    fn a_damaged_genesis_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(GENESIS_FILE), "{ not json").unwrap();
        assert!(matches!(
            create_or_reuse(dir.path(), 4),
            Err(TestnetError::Genesis(_))
        ));
    }

    #[test]
    fn only_live_node_processes_of_the_homes_count_as_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        assert!(leftover_nodes(dir.path()).is_empty());
        let info = TestnetInfo {
            chain_id: CHAIN_ID.into(),
            genesis: dir.path().join(GENESIS_FILE),
            nodes: vec![NodeInfo {
                member: "bureau".into(),
                api: "http://127.0.0.1:1".into(),
                metrics: String::new(),
                home: dir.path().join("bureau"),
                log: dir.path().join("bureau/node.log"),
                // This test's own process: alive, but not a node of that home.
                pid: Some(std::process::id()),
            }],
            filers: std::collections::BTreeMap::new(),
            governance: std::collections::BTreeMap::new(),
            callers: std::collections::BTreeMap::new(),
        };
        std::fs::write(
            dir.path().join(TESTNET_FILE),
            serde_json::to_string(&info).unwrap(),
        )
        .unwrap();
        assert!(leftover_nodes(dir.path()).is_empty());
        std::fs::write(dir.path().join(TESTNET_FILE), "{ damaged").unwrap();
        assert!(leftover_nodes(dir.path()).is_empty());
    }

    #[test]
    fn a_missing_node_binary_says_how_to_build_it() {
        let error = node_binary(Some(Path::new("/nonexistent/evidence-node"))).unwrap_err();
        assert!(error.to_string().contains("cargo build -p evidence-node"));
    }
}
