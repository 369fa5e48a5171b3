//! The gateway's configuration file (`gateway.toml`): where it listens, which node it talks to
//! and as whom, the member's filer key, the API tokens it accepts and its limits. Relative
//! paths are read from the configuration file's directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use thiserror::Error;

/// Why a configuration could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("the configuration is not usable: {0}")]
    Invalid(String),
}

/// The whole configuration, as in `gateway.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// The HTTP address to listen on, e.g. `127.0.0.1:8480`.
    pub listen: SocketAddr,
    /// The consortium's genesis file: the only thing the gateway trusts.
    pub genesis: PathBuf,
    /// The member's node: `https://host:port` (or `http://` for a development node).
    pub node: String,
    /// The filer key the gateway signs anchors with (one of the member's filers).
    pub filer_key: PathBuf,
    /// The source system stamped on anchors whose request names none (e.g. the filing
    /// system's name). A filer registered on the ledger must use the one it was registered
    /// for.
    pub source_system: String,
    /// Where the gateway keeps what it must remember across restarts (idempotency records).
    pub data_dir: PathBuf,
    /// The gateway's certificate towards the node (the member's `filer-system` caller).
    #[serde(default)]
    pub node_tls: Option<NodeTls>,
    /// HTTPS for the gateway's own listener; without it, the listener is plain HTTP (only on
    /// a host or link the member trusts).
    #[serde(default)]
    pub tls: Option<GatewayTls>,
    #[serde(default)]
    pub limits: Limits,
    /// The API tokens callers present as `Authorization: Bearer <token>`, by their SHA-256
    /// (`evidence-gateway token` makes one).
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    /// Payment alerts: following the node's rule events.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// Where alerts are posted.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
}

/// How alerts are followed, kept and delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Follow the node's rule events (the feed and the webhooks need it).
    pub enabled: bool,
    /// Alerts the feed (`/v1/alerts`) keeps, in memory.
    pub feed_kept: usize,
    /// Alerts waiting for one webhook; beyond, they go to the dead-letter file at once.
    pub queue_max: usize,
    /// Attempts to deliver one alert to one webhook before it goes to the dead-letter file.
    pub delivery_attempts: u32,
    /// The wait before the second attempt, doubling up to `max_backoff_ms`.
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            feed_kept: 1_000,
            queue_max: 10_000,
            delivery_attempts: 8,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 60_000,
        }
    }
}

/// The alert kinds a webhook may ask for.
pub const ALERT_KINDS: [&str; 2] = ["payment-refused", "milestone-near-cap"];

/// One webhook: alerts are posted to `url`, signed with the secret in `secret_file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// A name for the log and the dead-letter file.
    pub name: String,
    /// `http://host:port/path`.
    pub url: String,
    /// A file (readable by its owner only) holding the signing secret the receiver shares.
    pub secret_file: PathBuf,
    /// The alert kinds to post (`payment-refused`, `milestone-near-cap`); empty: all.
    #[serde(default)]
    pub kinds: Vec<String>,
}

/// Reads a webhook secret: the file's text, trimmed; the file must be readable by its owner
/// only and the secret at least 16 bytes.
///
/// # Errors
/// The file cannot be read, others may read it, or the secret is too short.
pub fn read_secret(path: &Path) -> std::io::Result<Vec<u8>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(std::io::Error::other(format!(
                "{} may be read by others (mode {:o}); make it 0600",
                path.display(),
                mode & 0o777
            )));
        }
    }
    let secret = std::fs::read_to_string(path)?.trim().as_bytes().to_vec();
    if secret.len() < 16 {
        return Err(std::io::Error::other(format!(
            "the secret in {} is shorter than 16 bytes",
            path.display()
        )));
    }
    Ok(secret)
}

/// The certificate and key the gateway presents to the node, and extra trusted roots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeTls {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    #[serde(default)]
    pub extra_roots: Option<PathBuf>,
}

/// The gateway's own certificate and key (PEM; the key readable by its owner only), and the
/// CAs whose client certificates identify callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayTls {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    /// With it, every caller must present a certificate from one of these CAs (PEM); its
    /// common name is the caller's name, and no API token is needed.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// The roles (a certificate's organisational unit, as the members' CAs write it) whose
    /// certificates may call; others are refused. Default: `filer-system`.
    #[serde(default = "default_client_roles")]
    pub client_roles: Vec<String>,
}

fn default_client_roles() -> Vec<String> {
    vec![evidence_genesis::pki::ROLE_FILER_SYSTEM.to_owned()]
}

/// Bounds on what one request may ask of the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest JSON request body, in bytes.
    pub request_bytes_max: usize,
    /// The largest uploaded document, in bytes (hashed as it streams in, never stored).
    pub upload_bytes_max: u64,
    /// The most documents one notarize request may carry.
    pub documents_per_request_max: usize,
    /// How long an idempotency key's answer is kept, in hours.
    pub idempotency_hours: u64,
    /// Requests handled at once; more wait for a turn (bounded by the connections the
    /// listener accepts).
    pub concurrent_requests_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_bytes_max: 4 << 20,
            upload_bytes_max: 16 << 30,
            documents_per_request_max: 1_000,
            idempotency_hours: 24,
            concurrent_requests_max: 256,
        }
    }
}

/// One accepted API token: a name for the audit trail and the token's SHA-256, hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub name: String,
    pub sha256: String,
}

impl TokenEntry {
    /// A new random token for `name`: the token to give the caller, and its entry for the
    /// configuration.
    pub fn generate(name: &str) -> (String, Self) {
        use rand_core::RngCore as _;
        let mut bytes = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut bytes);
        let token = format!("egw_{}", hex::encode(bytes));
        let entry = Self {
            name: name.to_owned(),
            sha256: token_hash(&token),
        };
        (token, entry)
    }
}

/// The SHA-256 of a token, hex, as the configuration holds it.
pub fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

impl GatewayConfig {
    /// Reads `path`, resolves relative paths against its directory and checks the result.
    ///
    /// # Errors
    /// The file cannot be read, is not valid TOML of this shape, or fails
    /// [`GatewayConfig::validate`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Self = toml::from_str(&text).map_err(|error| ConfigError::Parse {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        config.resolve(base);
        config.validate()?;
        Ok(config)
    }

    /// Makes every relative path relative to `base`.
    pub fn resolve(&mut self, base: &Path) {
        let at = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        at(&mut self.genesis);
        at(&mut self.filer_key);
        at(&mut self.data_dir);
        for webhook in &mut self.webhooks {
            at(&mut webhook.secret_file);
        }
        if let Some(tls) = &mut self.tls {
            at(&mut tls.certificate);
            at(&mut tls.private_key);
            if let Some(ca) = &mut tls.client_ca {
                at(ca);
            }
        }
        if let Some(tls) = &mut self.node_tls {
            at(&mut tls.certificate);
            at(&mut tls.private_key);
            if let Some(roots) = &mut tls.extra_roots {
                at(roots);
            }
        }
    }

    /// Checks what TOML cannot: at least one token, well-formed token hashes with distinct
    /// names, a node URL, non-zero limits.
    ///
    /// # Errors
    /// The first problem found, named.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |reason: String| Err(ConfigError::Invalid(reason));
        let certificates = self.tls.as_ref().is_some_and(|tls| tls.client_ca.is_some());
        if self.tokens.is_empty() && !certificates {
            return invalid(
                "no API token is configured and no client CA: every call needs one or the other \
                 (add a [[tokens]] entry made by `evidence-gateway token --name <caller>`, or \
                 [tls] client_ca)"
                    .into(),
            );
        }
        let mut names = std::collections::HashSet::new();
        for token in &self.tokens {
            if token.name.is_empty() || !names.insert(token.name.as_str()) {
                return invalid(format!(
                    "token names must be non-empty and distinct; {:?} is not",
                    token.name
                ));
            }
            if token.sha256.len() != 64 || hex::decode(&token.sha256).is_err() {
                return invalid(format!(
                    "the token {:?} has no valid sha256 (64 hex digits)",
                    token.name
                ));
            }
        }
        if !(self.node.starts_with("https://") || self.node.starts_with("http://")) {
            return invalid(format!(
                "node must be an http:// or https:// URL, not {:?}",
                self.node
            ));
        }
        if self.source_system.is_empty() {
            return invalid("source_system must not be empty".into());
        }
        let mut webhook_names = std::collections::HashSet::new();
        for webhook in &self.webhooks {
            if webhook.name.is_empty() || !webhook_names.insert(webhook.name.as_str()) {
                return invalid(format!(
                    "webhook names must be non-empty and distinct; {:?} is not",
                    webhook.name
                ));
            }
            if !webhook.url.starts_with("http://") {
                return invalid(format!(
                    "webhook {:?}: the URL must be http:// (the gateway does not post over TLS \
                     yet; put a TLS proxy on the receiver's side), not {:?}",
                    webhook.name, webhook.url
                ));
            }
            if let Some(kind) = webhook
                .kinds
                .iter()
                .find(|kind| !ALERT_KINDS.contains(&kind.as_str()))
            {
                return invalid(format!(
                    "webhook {:?}: unknown alert kind {kind:?} (known: {})",
                    webhook.name,
                    ALERT_KINDS.join(", ")
                ));
            }
        }
        if !self.webhooks.is_empty() && !self.alerts.enabled {
            return invalid("webhooks are configured but alerts.enabled is false".into());
        }
        let alerts = &self.alerts;
        if alerts.feed_kept == 0 || alerts.queue_max == 0 || alerts.delivery_attempts == 0 {
            return invalid(
                "alerts.feed_kept, queue_max and delivery_attempts must be above zero".into(),
            );
        }
        let limits = &self.limits;
        if limits.idempotency_hours > 24 * 366 {
            return invalid("limits.idempotency_hours may be at most a year (8784)".into());
        }
        if alerts.initial_backoff_ms == 0
            || alerts.initial_backoff_ms > alerts.max_backoff_ms
            || alerts.max_backoff_ms > 3_600_000
        {
            return invalid(
                "alerts: 0 < initial_backoff_ms <= max_backoff_ms <= 3600000 (an hour)".into(),
            );
        }
        if self
            .tls
            .as_ref()
            .is_some_and(|tls| tls.client_ca.is_some() && tls.client_roles.is_empty())
        {
            return invalid("tls.client_roles is empty: no certificate could call".into());
        }
        if limits.idempotency_hours == 0 {
            return invalid(
                "limits.idempotency_hours must be above zero (a retry must find the first answer)"
                    .into(),
            );
        }
        if limits.request_bytes_max == 0
            || limits.upload_bytes_max == 0
            || limits.documents_per_request_max == 0
            || limits.concurrent_requests_max == 0
        {
            return invalid("every limit must be above zero".into());
        }
        Ok(())
    }

    /// The configuration as TOML, as a file would hold it.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> String {
        let (_, entry) = TokenEntry::generate("filing-system");
        format!(
            "listen = \"127.0.0.1:8480\"\ngenesis = \"genesis.json\"\nnode = \
             \"https://127.0.0.1:7001\"\nfiler_key = \"filer.key\"\nsource_system = \
             \"bureau-filing\"\ndata_dir = \"data\"\n[[tokens]]\nname = \"{}\"\nsha256 = \
             \"{}\"\n",
            entry.name, entry.sha256
        )
    }

    fn load(text: &str) -> Result<GatewayConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, text).unwrap();
        GatewayConfig::load(&path)
    }

    #[test]
    fn a_minimal_file_loads_with_default_limits_and_paths_beside_it() {
        let config = load(&minimal()).unwrap();
        assert_eq!(config.limits, Limits::default());
        assert!(config.genesis.is_absolute());
        assert!(config.genesis.ends_with("genesis.json"));
        let again: GatewayConfig = toml::from_str(&config.to_toml()).unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn malformed_files_are_refused_with_the_reason() {
        let unknown = minimal().replacen("[[tokens]]", "colour = \"blue\"\n[[tokens]]", 1);
        assert!(matches!(load(&unknown), Err(ConfigError::Parse { .. })));
        assert!(matches!(load("listen = 5"), Err(ConfigError::Parse { .. })));
        let no_token = minimal().split("[[tokens]]").next().unwrap().to_owned();
        let error = load(&no_token).unwrap_err().to_string();
        assert!(error.contains("no API token"), "{error}");
        let bad_hash = minimal().replace("sha256 = \"", "sha256 = \"zz");
        assert!(load(&bad_hash).unwrap_err().to_string().contains("sha256"));
        let bad_node = minimal().replace("https://127.0.0.1:7001", "127.0.0.1:7001");
        assert!(
            load(&bad_node)
                .unwrap_err()
                .to_string()
                .contains("node must be")
        );
        let zero = format!("{}[limits]\nupload_bytes_max = 0\n", minimal());
        assert!(load(&zero).unwrap_err().to_string().contains("above zero"));
    }

    #[test]
    fn a_generated_token_matches_its_entry_and_no_other() {
        let (token, entry) = TokenEntry::generate("a");
        assert_eq!(token_hash(&token), entry.sha256);
        let (other, _) = TokenEntry::generate("b");
        assert_ne!(token_hash(&other), entry.sha256);
    }
}
