//! `node.toml`: where a node listens, who its peers are, where it keeps its data, its limits.
//!
//! Every field has a default, so an empty file is a valid configuration for a node whose
//! home holds `genesis.json` and `node.key`. Unknown fields are refused (a misspelt option
//! must not be silently ignored). Relative paths are relative to the home directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::access::AccessSection;
use crate::app::AppLimits;
use crate::mempool::MempoolLimits;

/// The configuration file's name inside the home directory.
pub const CONFIG_FILE: &str = "node.toml";
/// The genesis file's name inside the home directory.
pub const GENESIS_FILE: &str = "genesis.json";

/// Why the configuration could not be read.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid node configuration: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    pub node: NodeSection,
    pub consensus: ConsensusSection,
    pub api: ApiSection,
    pub metrics: MetricsSection,
    pub limits: LimitsSection,
    pub relay: RelaySection,
    pub tls: TlsSection,
    pub access: AccessSection,
    pub alerts: AlertsSection,
    pub testing: TestingSection,
}

/// Rule events for payment alerts (`StreamRuleEvents`, ARCHITECTURE.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsSection {
    /// The last events kept in memory for consumers that reconnect.
    pub rule_events_kept: usize,
    /// Payments that leave a milestone paid to at least this share of its amount, in percent
    /// (1 to 100), raise a `milestone-near-cap` event.
    pub milestone_warning_percent: u8,
}

impl Default for AlertsSection {
    fn default() -> Self {
        Self {
            rule_events_kept: crate::events::RULE_EVENTS_KEPT_DEFAULT,
            milestone_warning_percent: crate::events::MILESTONE_WARNING_PERCENT_DEFAULT,
        }
    }
}

/// The node's TLS certificate: issued by its member's CA (in genesis) with role
/// `member-node`, and used both to serve the API and to relay to the other members' nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// The certificate chain, PEM, the node's own certificate first.
    pub certificate: PathBuf,
    /// Its private key, PEM; the file must be readable by its owner only.
    pub private_key: PathBuf,
}

impl Default for TlsSection {
    fn default() -> Self {
        Self {
            certificate: "tls/node.crt".into(),
            private_key: "tls/node.key".into(),
        }
    }
}

/// Relaying admitted transactions to the other members' nodes, so that whichever validator
/// proposes next holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelaySection {
    /// The other members' API endpoints (`https://host:port`; `http://` only when this node's
    /// API is plaintext too). Empty: nothing is relayed, and a transaction waits for this
    /// node's turn to propose.
    pub peers: Vec<String>,
    /// Transactions queued per peer; beyond, they are not relayed to that peer (this node
    /// still keeps and proposes them).
    pub queue_transactions: usize,
    /// Transaction bytes queued per peer, likewise.
    pub queue_bytes: usize,
}

impl Default for RelaySection {
    fn default() -> Self {
        Self {
            peers: Vec::new(),
            queue_transactions: 100_000,
            queue_bytes: 64 << 20,
        }
    }
}

/// Identity and files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// A name for logs.
    pub moniker: String,
    /// The validator's signing key file (0600).
    pub key_file: PathBuf,
    /// The database and the consensus write-ahead log.
    pub data_dir: PathBuf,
    /// The member this node belongs to. Needed only by a validator the members added on the
    /// ledger (its key is not in the genesis file); a genesis validator's member is genesis's.
    pub member: String,
    /// How many of the latest heights' state trees the node keeps; the pages only older
    /// heights read are deleted as blocks commit. Status proofs are of the latest height, so
    /// a few suffice; 0 keeps the tree of every height the pages were written at (every 32
    /// blocks, sooner for large blocks), and the tree's disk use then grows with every block.
    pub state_tree_keep_heights: u64,
}

impl Default for NodeSection {
    fn default() -> Self {
        Self {
            moniker: "node".into(),
            key_file: "node.key".into(),
            data_dir: "data".into(),
            member: String::new(),
            state_tree_keep_heights: crate::storage::STATE_TREE_KEEP_DEFAULT,
        }
    }
}

/// Consensus networking and timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusSection {
    /// The libp2p listen address (TCP).
    pub listen: String,
    /// The other validators, as libp2p multiaddresses ending in `/p2p/<peer id>`. When empty,
    /// the addresses in the genesis file are used. Only peers whose keys are in the genesis
    /// file are admitted, whatever is listed here.
    pub peers: Vec<String>,
    /// How long validators wait for a proposal before voting nil.
    pub timeout_propose_ms: u64,
    /// How long validators wait for more prevotes after seeing a quorum of mixed ones.
    pub timeout_prevote_ms: u64,
    /// How long validators wait for more precommits after seeing a quorum of mixed ones.
    pub timeout_precommit_ms: u64,
    /// How long validators wait for the proposal of a round 0 that probes a validator taken
    /// for absent (it proposed none of its recent turns; ARCHITECTURE.md, "Who proposes"),
    /// and then for that round's precommits. One that is back proposes at once; one still away
    /// costs twice this. At most `timeout_propose_ms`. A member whose block cannot reach the others this fast stays
    /// skipped: 250 ms suits a LAN, 500–1,000 ms a WAN consortium.
    pub timeout_probe_ms: u64,
    /// The least the timeouts of a busy height (transactions waiting in this node's mempool
    /// when it began) adapt down to. At such a height round 0 waits twice the longest this
    /// node waited for round 0's proposal over its last 32 busy heights, within this floor
    /// and the configured timeouts; later rounds wait as configured or longer (ARCHITECTURE.md,
    /// "Timeouts that fit the network"). A member down then costs this instead of the propose
    /// timeout under load until it is taken for absent. 200 ms suits a LAN, 500 ms a WAN
    /// consortium; a floor at or above `timeout_propose_ms` turns adaptation off.
    pub timeout_floor_ms: u64,
    /// How long a proposer waits for a transaction before proposing an empty block; it
    /// proposes at once when transactions wait. Bounded by half the propose timeout.
    pub idle_block_interval_ms: u64,
    /// How far a proposed block's time may be ahead of this node's clock.
    pub clock_bound_ms: u64,
    /// How far a newly proposed block's time may be behind this node's clock when it votes.
    /// An honest proposer stamps its block with its own clock as it proposes; without this
    /// bound, the first proposer after an outage could date its block just after the last one,
    /// hours back. (A block re-proposed in a later round keeps its time: a quorum accepted
    /// it in its first round.)
    pub block_age_max_ms: u64,
    /// `true`: consensus messages travel by GossipSub, which relays them around a broken
    /// link between two members. `false` (default): each is sent directly to every connected
    /// validator, which for a consortium of a few members fully connected is faster.
    pub gossipsub: bool,
}

impl Default for ConsensusSection {
    fn default() -> Self {
        Self {
            listen: "/ip4/127.0.0.1/tcp/26656".into(),
            peers: Vec::new(),
            timeout_propose_ms: 2_000,
            timeout_prevote_ms: 500,
            timeout_precommit_ms: 500,
            timeout_probe_ms: 250,
            timeout_floor_ms: 200,
            idle_block_interval_ms: 1_000,
            clock_bound_ms: 500,
            block_age_max_ms: 10_000,
            gossipsub: false,
        }
    }
}

impl ConsensusSection {
    pub fn timeout_propose(&self) -> Duration {
        Duration::from_millis(self.timeout_propose_ms)
    }

    pub fn idle_block_interval(&self) -> Duration {
        Duration::from_millis(self.idle_block_interval_ms.min(self.timeout_propose_ms / 2))
    }
}

/// The gRPC API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    pub listen: SocketAddr,
    /// The `Notarize` deadline when the caller sets none.
    pub notarize_timeout_ms: u64,
    /// The longest deadline a caller may ask for.
    pub notarize_timeout_max_ms: u64,
    /// Most results one `Lookup` returns.
    pub lookup_limit: u32,
    /// Largest gRPC message accepted, in bytes.
    pub max_message_bytes: usize,
    /// `true` serves the API without TLS, so nobody is authenticated and every caller may
    /// call every method. For local development only; the node warns at start.
    pub plaintext: bool,
    /// Most connections open at once; one more is closed as soon as it is accepted.
    pub connections_max: usize,
    /// How long a new connection may take to finish its TLS handshake.
    pub handshake_timeout_ms: u64,
    /// Calls served at once over all connections (streams not counted); one more is answered
    /// `RESOURCE_EXHAUSTED` (reason `busy`) at once, and clients retry with backoff.
    pub calls_max: usize,
    /// Calls one caller (one client certificate) may have in progress at once, so that one
    /// caller cannot take every place of `calls_max` from the others; beyond, `busy`.
    pub calls_per_caller_max: usize,
    /// Streams (calls) one connection may have open at once (HTTP/2's concurrent streams).
    pub streams_per_connection_max: u32,
    /// `StreamCheckpoints` subscribers at once.
    pub checkpoint_subscribers_max: usize,
    /// Threads of the API's own runtime (TLS, decoding requests, encoding answers), apart
    /// from the threads consensus runs on.
    pub worker_threads: usize,
    /// How far below the node's other threads the API's threads (workers and blocking pool)
    /// are scheduled, as niceness added to theirs (0 to 19; Linux only). When the CPU is
    /// short, consensus, execution and commits run first and the calls wait: at half of
    /// the maximum load on a machine shared by four validators, 5 cut the notarize p99 by
    /// 12–21 % and raised the single-signed maximum about 2 % (BENCHMARKS.md). 0 leaves
    /// the API's threads at the node's priority.
    pub thread_niceness: u8,
    /// API database reads running at once on the blocking pool, and, apart from them,
    /// admission checks (submissions and relayed batches); more waits its turn. It keeps a
    /// flood of calls from taking the CPU that consensus needs to keep its heights on time,
    /// and a flood of reads from holding up submissions.
    pub blocking_tasks_max: usize,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            notarize_timeout_ms: 10_000,
            notarize_timeout_max_ms: 120_000,
            lookup_limit: 1_000,
            max_message_bytes: 8 << 20,
            plaintext: false,
            connections_max: 1_024,
            handshake_timeout_ms: 5_000,
            calls_max: 512,
            calls_per_caller_max: 256,
            streams_per_connection_max: 128,
            checkpoint_subscribers_max: 64,
            blocking_tasks_max: 2,
            worker_threads: 1,
            thread_niceness: 5,
        }
    }
}

/// Prometheus metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    pub enabled: bool,
    pub listen: SocketAddr,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9100)),
        }
    }
}

/// Bounds on what the node holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Most transactions waiting in the mempool; beyond, submissions are answered "busy".
    pub mempool_transactions: usize,
    /// Most bytes waiting in the mempool.
    pub mempool_bytes: usize,
    /// Most transactions in one block.
    pub block_transactions: usize,
    /// Most transaction bytes in one block.
    pub block_bytes: usize,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let app = AppLimits::default();
        Self {
            mempool_transactions: app.mempool.transactions,
            mempool_bytes: app.mempool.bytes,
            block_transactions: app.block_transactions,
            block_bytes: app.block_bytes,
        }
    }
}

/// Switches for fault-injection tests. Never set them on a real network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TestingSection {
    /// When this node proposes, it puts a wrong state root in the header. Honest validators
    /// refuse such a block and the round moves on to the next proposer.
    pub byzantine_wrong_state_root: bool,
    /// When this node proposes, it dates its block just after the previous block instead of
    /// now (a back-dated block). Honest validators refuse it when that is further back than
    /// `consensus.block_age_max_ms`.
    pub byzantine_back_date: bool,
}

impl NodeConfig {
    /// Reads `home/node.toml`; a missing file means all defaults.
    ///
    /// # Errors
    /// The file cannot be read, is not TOML, has unknown fields or invalid values.
    pub fn load(home: &Path) -> Result<Self, ConfigError> {
        let path = home.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Self::parse(&text, &path)
    }

    /// Parses configuration text; `path` only names it in errors.
    ///
    /// # Errors
    /// Not TOML, unknown fields, or invalid values.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.check().map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        let c = &self.consensus;
        if c.timeout_propose_ms == 0
            || c.timeout_prevote_ms == 0
            || c.timeout_precommit_ms == 0
            || c.timeout_probe_ms == 0
            || c.timeout_floor_ms == 0
        {
            return Err("consensus timeouts must be positive".into());
        }
        if c.timeout_probe_ms > c.timeout_propose_ms {
            return Err(format!(
                "consensus.timeout_probe_ms ({}) exceeds consensus.timeout_propose_ms ({})",
                c.timeout_probe_ms, c.timeout_propose_ms
            ));
        }
        if c.block_age_max_ms == 0 {
            return Err("consensus.block_age_max_ms must be positive".into());
        }
        let l = &self.limits;
        if l.mempool_transactions == 0 || l.block_transactions == 0 {
            return Err(
                "limits.mempool_transactions and limits.block_transactions must be positive".into(),
            );
        }
        if l.block_transactions > crate::block::BLOCK_TRANSACTIONS_MAX as usize {
            return Err(format!(
                "limits.block_transactions may be at most {}",
                crate::block::BLOCK_TRANSACTIONS_MAX
            ));
        }
        let alerts = &self.alerts;
        if alerts.rule_events_kept == 0 || alerts.rule_events_kept > 100_000 {
            return Err("alerts.rule_events_kept must be 1 to 100000".into());
        }
        if !(1..=100).contains(&alerts.milestone_warning_percent) {
            return Err("alerts.milestone_warning_percent must be 1 to 100".into());
        }
        if self.api.notarize_timeout_ms > self.api.notarize_timeout_max_ms {
            return Err("api.notarize_timeout_ms exceeds api.notarize_timeout_max_ms".into());
        }
        let a = &self.api;
        if a.connections_max == 0
            || a.handshake_timeout_ms == 0
            || a.calls_max == 0
            || a.calls_per_caller_max == 0
            || a.streams_per_connection_max == 0
            || a.checkpoint_subscribers_max == 0
            || a.blocking_tasks_max == 0
            || a.worker_threads == 0
        {
            return Err(
                "api.connections_max, api.handshake_timeout_ms, api.calls_max, \
                 api.calls_per_caller_max, api.streams_per_connection_max, api.checkpoint_subscribers_max, \
                 api.blocking_tasks_max and api.worker_threads must be positive"
                    .into(),
            );
        }
        if a.thread_niceness > 19 {
            return Err(format!(
                "api.thread_niceness is {}; niceness goes from 0 to 19",
                a.thread_niceness
            ));
        }
        for peer in &self.relay.peers {
            let tls = peer.starts_with("https://");
            if !tls && !peer.starts_with("http://") {
                return Err(format!(
                    "relay.peers: {peer:?} must start with https:// (or http:// for a \
                     plaintext development network)"
                ));
            }
            if !tls && !a.plaintext {
                return Err(format!(
                    "relay.peers: {peer:?} is plaintext; a node with TLS relays over TLS only \
                     (https://)"
                ));
            }
        }
        self.access.check()
    }

    /// The TOML text of this configuration.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Resolves a path from the file against the home directory.
    pub fn resolve(home: &Path, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            home.join(path)
        }
    }

    /// The application limits this configuration sets.
    pub fn app_limits(&self) -> AppLimits {
        AppLimits {
            block_transactions: self.limits.block_transactions,
            block_bytes: self.limits.block_bytes,
            clock_bound_ms: self.consensus.clock_bound_ms,
            block_age_max_ms: self.consensus.block_age_max_ms,
            mempool: MempoolLimits {
                transactions: self.limits.mempool_transactions,
                bytes: self.limits.mempool_bytes,
            },
            rule_events_kept: self.alerts.rule_events_kept,
            milestone_warning_percent: self.alerts.milestone_warning_percent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults_and_round_trips() {
        let config = NodeConfig::parse("", Path::new("node.toml")).unwrap();
        assert_eq!(config, NodeConfig::default());
        let again = NodeConfig::parse(&config.to_toml(), Path::new("node.toml")).unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn malformed_files_are_refused_with_the_reason() {
        for (text, needle) in [
            ("[node]\nmonikr = \"x\"\n", "unknown field"),
            ("[api]\nlisten = \"not an address\"\n", "invalid"),
            ("[consensus]\ntimeout_propose_ms = 0\n", "positive"),
            ("[consensus]\ntimeout_probe_ms = 0\n", "positive"),
            ("[consensus]\ntimeout_floor_ms = 0\n", "positive"),
            (
                "[consensus]\ntimeout_propose_ms = 500\ntimeout_probe_ms = 600\n",
                "exceeds consensus.timeout_propose_ms",
            ),
            ("[limits]\nblock_transactions = 100000000\n", "at most"),
            ("not toml at all [", "node.toml"),
            ("[api]\ncalls_max = 0\n", "positive"),
            ("[api]\nthread_niceness = 20\n", "from 0 to 19"),
            ("[api]\nthread_niceness = -1\n", "invalid value"),
            ("[relay]\npeers = [\"http://127.0.0.1:1\"]\n", "TLS only"),
            ("[relay]\npeers = [\"ftp://127.0.0.1:1\"]\n", "https://"),
            (
                "[[access.grants]]\nrole = \"filer-system\"\nmethods = [\"Relay\"]\n",
                "only to role",
            ),
            (
                "[[access.grants]]\nrole = \"auditor\"\nmethods = [\"Everything\"]\n",
                "unknown variant",
            ),
            (
                "[api]\nnotarize_timeout_ms = 5\nnotarize_timeout_max_ms = 1\n",
                "exceeds",
            ),
        ] {
            let error = NodeConfig::parse(text, Path::new("node.toml")).unwrap_err();
            assert!(
                error.to_string().contains(needle),
                "{text:?}: {error} should mention {needle:?}"
            );
        }
    }

    #[test]
    fn missing_file_means_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(NodeConfig::load(dir.path()).unwrap(), NodeConfig::default());
    }
}
