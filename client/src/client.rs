//! [`Client`]: one member node's gRPC API, with every answer verified before it is returned.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use evidence_contracts::transaction::{Transaction, anchor_id};
use evidence_core::certificate::CommitCertificate;
use evidence_core::checkpoint::{Checkpoint, Handoff, VerifiedCheckpoint};
use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::encoding::{Decode, Encode};
use evidence_core::entry::{
    AnchorBody, Entry, Milestone, ProjectRegistrationBody, Record, SignedBatch,
};
use evidence_core::governance::{GovernanceAction, GovernanceBody, Proposal};
use evidence_core::header::BlockHeader;
use evidence_core::keys::{PublicKey, SigningKey};
use evidence_core::merkle::{self, ConsistencyProof, InclusionProof, TreeHead};
use evidence_core::receipt::{EntryProof, Receipt, Verifier};
use evidence_core::records::StateKey;
use evidence_core::state_tree::StateProof;
use evidence_core::status::{ProvenState, StateFact, StatusProof, verify_status_proof};
use evidence_core::validators::ValidatorSet;
use evidence_core::verify::VerifyError;
use evidence_genesis::{Configuration, Filer, Genesis};
use evidence_proto::v1 as pb;
use evidence_proto::v1::ledger_client::LedgerClient;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::document::{DocumentMeta, DocumentSource, Version};
use crate::error::{ClientError, from_status, is_transient_code};
use crate::offline::verify_entry;

/// How often and how patiently a call is retried when the node is busy or unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait before the second attempt; it doubles each time up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 8,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// Tuning for a [`Client`]; the defaults suit a filing system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    pub retry: RetryPolicy,
    /// How long `Notarize` waits for the transaction to commit.
    pub notarize_timeout: Duration,
    pub connect_timeout: Duration,
    /// The longest wait for any one answer of the node: a node that accepts a call and never
    /// answers is given up on. `Notarize` waits at least `notarize_timeout` and 5 s more.
    pub call_timeout: Duration,
    /// Most documents under one filer signature (one transaction); also bounded by the
    /// limits in force on batch length and transaction size.
    pub batch_documents_max: usize,
    /// TLS for `https://` endpoints: the caller's certificate, and roots beyond the member CAs
    /// of the genesis file.
    pub tls: TlsOptions,
}

/// TLS for a connection to a node. The node's certificate is checked against the member CAs
/// in the genesis file (and `extra_roots_pem`, if given); the caller presents `identity`, a
/// certificate a member's CA issued with the caller's role, which the node's access rules
/// read. Used for `https://` endpoints; `http://` endpoints (a development node) get none.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// More trusted CA certificates, PEM (for example a gateway's).
    pub extra_roots_pem: Option<String>,
    /// The caller's certificate chain and private key, PEM.
    pub identity: Option<(String, zeroize::Zeroizing<String>)>,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("extra_roots", &self.extra_roots_pem.is_some())
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

impl TlsOptions {
    /// Reads the caller's certificate and key files (the key must be readable by its owner
    /// only) and, if given, a file of extra trusted CA certificates.
    ///
    /// # Errors
    /// A file cannot be read, holds no PEM, or the key may be read by others.
    pub fn from_files(
        certificate: Option<&Path>,
        private_key: Option<&Path>,
        extra_roots: Option<&Path>,
    ) -> Result<Self, ClientError> {
        let read = |path: &Path, what: &str| -> Result<String, ClientError> {
            let text = std::fs::read_to_string(path).map_err(|source| ClientError::Read {
                path: path.to_owned(),
                source,
            })?;
            if !text.contains("-----BEGIN ") {
                return Err(ClientError::Invalid(format!(
                    "{} holds no {what} in PEM form",
                    path.display()
                )));
            }
            Ok(text)
        };
        let identity = match (certificate, private_key) {
            (None, None) => None,
            (Some(certificate), Some(key)) => {
                check_private(key)?;
                Some((
                    read(certificate, "certificate")?,
                    zeroize::Zeroizing::new(read(key, "private key")?),
                ))
            }
            _ => {
                return Err(ClientError::Invalid(
                    "a TLS client certificate needs both its certificate and its private key \
                     file"
                        .into(),
                ));
            }
        };
        let extra_roots_pem = extra_roots
            .map(|path| read(path, "CA certificate"))
            .transpose()?;
        Ok(Self {
            extra_roots_pem,
            identity,
        })
    }

    fn client_config(&self, genesis: &Genesis) -> ClientTlsConfig {
        let mut roots = genesis.ca_bundle_pem();
        if let Some(extra) = &self.extra_roots_pem {
            roots.push_str(extra);
        }
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(roots));
        if let Some((certificate, key)) = &self.identity {
            config = config.identity(Identity::from_pem(certificate, key.as_bytes()));
        }
        config
    }
}

/// Refuses a private key file that users other than its owner may read.
fn check_private(path: &Path) -> Result<(), ClientError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|source| ClientError::Read {
                path: path.to_owned(),
                source,
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(ClientError::Invalid(format!(
                "{} may be read by other users (mode {mode:o}); a private key must be readable \
                 by its owner only: chmod 600 {}",
                path.display(),
                path.display()
            )));
        }
    }
    Ok(())
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            notarize_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            batch_documents_max: 1000,
            tls: TlsOptions::default(),
        }
    }
}

/// Which receipt to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptQuery {
    /// The first entry of a transaction.
    Transaction(Digest),
    /// The most recent entry anchoring a document digest.
    Digest(Digest),
    /// A log index.
    Index(u64),
}

/// What to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupQuery {
    Digest(Digest),
    /// Every version of a document, oldest first.
    Document {
        project_id: String,
        document_id: String,
    },
    /// A project's entries, oldest first.
    Project(String),
}

/// What a status proof is asked about (SPEC.md §8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusSubject {
    /// A member's document: its lineage head (latest version, or never filed); with
    /// `version`, that version's record too when it is not the latest.
    Document {
        member: String,
        project_id: String,
        document_id: String,
        version: Option<u32>,
    },
    /// A project's contract, milestones and payments (or that none is registered).
    Project(String),
}

impl StatusSubject {
    /// The state keys a proof of this subject carries, in order.
    pub fn keys(&self) -> Vec<StateKey> {
        match self {
            Self::Document {
                member,
                project_id,
                document_id,
                version,
            } => {
                let mut keys = vec![StateKey::Document {
                    member: member.clone(),
                    project_id: project_id.clone(),
                    document_id: document_id.clone(),
                }];
                // Version 0 names nothing: it asks for the head alone, as the API reads it.
                if let Some(version) = version.filter(|version| *version != 0) {
                    keys.push(StateKey::Version {
                        member: member.clone(),
                        project_id: project_id.clone(),
                        document_id: document_id.clone(),
                        version,
                    });
                }
                keys
            }
            Self::Project(project_id) => vec![StateKey::Project {
                project_id: project_id.clone(),
            }],
        }
    }
}

/// A status proof the client verified, with what it proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedStatus {
    /// The proof, to be kept as a file ([`StatusProof::to_json`]) and verified offline later.
    pub proof: StatusProof,
    pub state: ProvenState,
}

/// A document version's status as the node reports it. It comes from the node's state and is
/// not part of any proof: a receipt proves what was anchored; this says what the node believes
/// happened to it since. A revoked version is reported as revoked, with the version that
/// superseded it when one did (the ledger keeps both facts, SPEC.md §11.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionStatus {
    Current,
    Superseded(Supersession),
    Revoked {
        reason: String,
        revocation_entry_index: u64,
        /// The height that sequenced the revocation.
        height: u64,
        /// The later version that replaced the revoked one, if any.
        superseded: Option<Supersession>,
    },
    /// The node gave no status (entries that are not anchors).
    Unknown,
}

/// A later version that replaced a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supersession {
    pub by_version: u32,
    pub by_digest: Option<Digest>,
    /// The height that anchored the later version.
    pub height: u64,
}

/// An entry whose receipt verified, with the checkpoint it verified against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    pub receipt: Receipt,
    pub checkpoint: VerifiedCheckpoint,
}

/// One lookup result: a verified entry and the node's report of its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupResult {
    pub entry: VerifiedEntry,
    pub status: VersionStatus,
}

/// One page of lookup results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupPage {
    pub results: Vec<LookupResult>,
    /// More results exist past this page.
    pub more: bool,
    /// When `more`: the token that reads the next page (opaque; give it to
    /// [`Client::lookup`] with the same query).
    pub next_page_token: Vec<u8>,
}

/// A filer key as the ledger holds it, with what of it is proved (see [`Client::filer_status`]).
#[derive(Debug, Clone)]
pub struct FilerStatus {
    pub filer: Filer,
    /// The source system its anchors must name; `None` for a genesis filer.
    pub source_system: Option<String>,
    /// The height that registered it; 0 for a genesis filer.
    pub registered_height: u64,
    /// The verified receipt of the governance entry that registered it; `None` for a genesis
    /// filer.
    pub registration: Option<Receipt>,
    /// Its revocation, proved by the receipt of the entry that revoked it.
    pub revocation: Option<FilerRevocationStatus>,
}

/// A filer key's revocation.
#[derive(Debug, Clone)]
pub struct FilerRevocationStatus {
    /// The first height at which the key may no longer file.
    pub effective_height: u64,
    pub reason: String,
    /// The verified receipt of the governance entry that revoked it.
    pub receipt: Receipt,
}

/// A proposal of the members as a node reports it, with what the receipts prove.
#[derive(Debug, Clone)]
pub struct ProposalView {
    /// What was proposed, by whom, proved by the verified receipt of its entry.
    pub proposal: Proposal,
    pub proposer: String,
    pub receipt: Receipt,
    /// Every vote in the order cast (the proposer's approval first), each proved by the
    /// verified receipt of its entry.
    pub votes: Vec<ProposalVoteView>,
    /// `open`, `expired`, `accepted` or `rejected`: the node's report.
    pub status: String,
    /// The height that accepted or rejected it (the node's report); 0 while undecided.
    pub decided_height: u64,
}

/// One member's vote on a proposal.
#[derive(Debug, Clone)]
pub struct ProposalVoteView {
    pub member: String,
    pub approve: bool,
    pub height: u64,
    pub receipt: Receipt,
}

/// A rule event as a node reports it (see [`Client::rule_events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEvent {
    /// The node's run and the event's number in it: give both back to resume after it.
    pub boot_id: u64,
    pub sequence: u64,
    pub time_ms: u64,
    /// `payment-refused` or `milestone-near-cap`.
    pub kind: String,
    /// The payment rule's code, or `milestone-near-cap`.
    pub code: String,
    pub message: String,
    pub project_id: String,
    pub milestone: String,
    pub amount_minor: Option<u64>,
    pub paid_minor: Option<u64>,
    pub cap_minor: Option<u64>,
    pub member: String,
    pub document_id: String,
    pub transaction_id: Option<Digest>,
    /// The block's height; 0 for a refusal when the transaction was submitted.
    pub height: u64,
}

/// The open stream of a node's rule events.
#[derive(Debug)]
pub struct RuleEventStream {
    inner: tonic::Streaming<pb::RuleEvent>,
    algorithm: HashAlgorithm,
}

impl RuleEventStream {
    /// The next event; `None` when the node closed the stream.
    ///
    /// # Errors
    /// The connection failed, or the node sent something that is not an event.
    pub async fn next(&mut self) -> Result<Option<RuleEvent>, ClientError> {
        let Some(event) = self
            .inner
            .message()
            .await
            .map_err(|status| from_status(&status))?
        else {
            return Ok(None);
        };
        let transaction_id = match event.transaction_id.len() {
            0 => None,
            32 => {
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(&event.transaction_id);
                Some(Digest::new(self.algorithm, bytes))
            }
            n => {
                return Err(bad_answer(
                    "rule event",
                    format!("a transaction id of {n} bytes"),
                ));
            }
        };
        if event.sequence == 0 || event.boot_id == 0 {
            return Err(bad_answer("rule event", "no run or sequence number"));
        }
        Ok(Some(RuleEvent {
            boot_id: event.boot_id,
            sequence: event.sequence,
            time_ms: event.time_ms,
            kind: event.kind,
            code: event.code,
            message: event.message,
            project_id: event.project_id,
            milestone: event.milestone,
            amount_minor: event.amount_minor,
            paid_minor: event.paid_minor,
            cap_minor: event.cap_minor,
            member: event.member,
            document_id: event.document_id,
            transaction_id,
            height: event.height,
        }))
    }
}

/// A connection to one member's node. Cheap to share: every method takes `&self`.
#[derive(Debug)]
pub struct Client {
    endpoint: String,
    rpc: LedgerClient<Channel>,
    genesis: Genesis,
    filer: Option<(SigningKey, Filer)>,
    /// The source system a filer key registered on the ledger must name.
    filer_source_system: Option<String>,
    /// The limits batches are split by: the configuration in force as the node reported it at
    /// connect, or genesis's if it could not say.
    limits: evidence_genesis::Limits,
    verifier: Mutex<Verifier>,
    /// The highest height of a status proof this client has verified: a later answer under an
    /// older checkpoint is a node showing an older state, not an answer.
    status_height: std::sync::atomic::AtomicU64,
    options: ClientOptions,
}

/// The largest answer accepted from a node (a `Notarize` of a large batch carries one receipt
/// per document).
const MESSAGE_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Bytes of a transaction besides its anchors' bodies: version, tag, sequence length,
/// signature, with room to spare.
const TRANSACTION_OVERHEAD: usize = 256;
/// Most lookup pages read to find a document's latest version (a node that keeps saying
/// "more" is not followed for ever).
const LOOKUP_PAGES_MAX: usize = 1_000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One document of a batch, planned: its anchor, or the receipt of the same filing made before.
enum Planned {
    Anchor {
        body: Box<AnchorBody>,
        /// Version 1 of a document not looked up ([`Client::notarize_batch`]).
        guessed: bool,
    },
    Filed(Box<Receipt>),
}

/// The lineage rule's refusals of a first version whose document exists (the contracts'
/// `TxError::VersionConflict`, `KindChanged` and `PaymentRecordImmutable`).
const LINEAGE_REFUSALS: [&str; 3] = [
    "version-conflict",
    "kind-changed",
    "payment-record-immutable",
];

/// `error`, with the receipts of the documents notarized before it when there are any.
fn partly(receipts: Vec<Option<Receipt>>, error: ClientError) -> ClientError {
    if receipts.iter().all(Option::is_none) {
        return error;
    }
    ClientError::PartlyNotarized {
        receipts,
        error: Box::new(error),
    }
}

fn is_lineage_refusal(error: &ClientError) -> bool {
    matches!(error, ClientError::Refused(refusal) if LINEAGE_REFUSALS.contains(&refusal.reason.as_str()))
}

fn bad_answer(what: &str, error: impl std::fmt::Display) -> ClientError {
    ClientError::BadAnswer(format!("{what}: {error}"))
}

fn decode<T: Decode>(bytes: &[u8], field: &'static str) -> Result<T, ClientError> {
    T::from_canonical_bytes(bytes)
        .map_err(|error| ClientError::Unverified(VerifyError::Malformed { field, error }))
}

fn decode_receipt(receipt: &pb::Receipt) -> Result<Receipt, ClientError> {
    Ok(Receipt {
        entry: decode::<Entry>(&receipt.entry, "entry")?,
        inclusion_proof: decode::<InclusionProof>(&receipt.inclusion_proof, "inclusion_proof")?,
        checkpoint: Checkpoint {
            header: decode::<BlockHeader>(&receipt.header, "header")?,
            certificate: decode::<CommitCertificate>(&receipt.certificate, "certificate")?,
        },
        handoffs: decode_handoffs(&receipt.handoffs)?,
        registration: receipt
            .registration
            .as_ref()
            .map(|proof| decode_entry_proof(proof, "registration"))
            .transpose()?,
        revocation: receipt
            .revocation
            .as_ref()
            .map(|proof| decode_entry_proof(proof, "revocation"))
            .transpose()?,
    })
}

fn decode_entry_proof(proof: &pb::EntryProof, what: &str) -> Result<EntryProof, ClientError> {
    let (entry, inclusion) = if what == "registration" {
        ("registration.entry", "registration.inclusion_proof")
    } else {
        ("revocation.entry", "revocation.inclusion_proof")
    };
    Ok(EntryProof {
        entry: decode::<Entry>(&proof.entry, entry)?,
        inclusion_proof: decode::<InclusionProof>(&proof.inclusion_proof, inclusion)?,
    })
}

fn decode_handoffs(handoffs: &[pb::Handoff]) -> Result<Vec<Handoff>, ClientError> {
    handoffs
        .iter()
        .map(|handoff| {
            Ok(Handoff {
                checkpoint: Checkpoint {
                    header: decode::<BlockHeader>(&handoff.header, "handoffs.header")?,
                    certificate: decode::<CommitCertificate>(
                        &handoff.certificate,
                        "handoffs.certificate",
                    )?,
                },
                validators: decode::<ValidatorSet>(&handoff.validators, "handoffs.validators")?,
            })
        })
        .collect()
}

/// A checkpoint from the node, with the hand-offs from genesis to the set that certified it.
fn decode_checkpoint(
    checkpoint: Option<&pb::Checkpoint>,
) -> Result<(Checkpoint, Vec<Handoff>), ClientError> {
    let checkpoint =
        checkpoint.ok_or_else(|| ClientError::BadAnswer("no checkpoint in the answer".into()))?;
    Ok((
        Checkpoint {
            header: decode::<BlockHeader>(&checkpoint.header, "header")?,
            certificate: decode::<CommitCertificate>(&checkpoint.certificate, "certificate")?,
        },
        decode_handoffs(&checkpoint.handoffs)?,
    ))
}

/// The project an entry belongs to; governance entries belong to none.
fn entry_project(entry: &Entry) -> Option<&str> {
    match &entry.record {
        Record::Anchor(document) => Some(&document.body.project_id),
        Record::Revocation(revocation) => Some(&revocation.body.project_id),
        Record::Registration(registration) => Some(&registration.body.project_id),
        Record::Governance(_) => None,
    }
}

fn version_status(status: Option<pb::VersionStatus>) -> VersionStatus {
    let Some(status) = status else {
        return VersionStatus::Unknown;
    };
    let superseded = status.superseded.map(|s| Supersession {
        by_version: s.by_version,
        by_digest: Digest::from_canonical_bytes(&s.by_digest).ok(),
        height: s.height,
    });
    match (status.revoked, superseded) {
        (Some(r), superseded) => VersionStatus::Revoked {
            reason: r.reason,
            revocation_entry_index: r.revocation_entry_index,
            height: r.height,
            superseded,
        },
        (None, Some(superseded)) => VersionStatus::Superseded(superseded),
        (None, None) => VersionStatus::Current,
    }
}

impl Client {
    /// Connects to the node at `endpoint` (e.g. `http://127.0.0.1:7001`) with the default
    /// options. `filer` is the key that signs what this client submits (`None` for a client
    /// that only reads); `genesis` is the consortium's genesis file, the only thing the client
    /// trusts. The node must serve the chain of that genesis.
    ///
    /// # Errors
    /// A bad endpoint, a node that cannot be reached or serves another chain, or a key that is
    /// not a filer in `genesis`.
    pub async fn connect(
        endpoint: &str,
        filer: Option<SigningKey>,
        genesis: Genesis,
    ) -> Result<Self, ClientError> {
        Self::connect_with(endpoint, filer, genesis, ClientOptions::default()).await
    }

    /// [`Client::connect`] with explicit options.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn connect_with(
        endpoint: &str,
        filer: Option<SigningKey>,
        genesis: Genesis,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let anchor = genesis.trust_anchor().map_err(|error| {
            ClientError::Invalid(format!("the genesis file is not valid: {error}"))
        })?;
        // A genesis filer is known at once; any other key is looked up on the ledger once
        // connected (a key a member registered there).
        let (filer, registered) = match filer {
            None => (None, None),
            Some(key) => match genesis.filer(&key.public_key()).cloned() {
                Some(entry) => (Some((key, entry)), None),
                None => (None, Some(key)),
            },
        };
        let bad_endpoint = |error: tonic::transport::Error| ClientError::BadEndpoint {
            endpoint: endpoint.to_owned(),
            reason: error.to_string(),
        };
        let mut target = Endpoint::from_shared(endpoint.to_owned())
            .map_err(bad_endpoint)?
            .connect_timeout(options.connect_timeout);
        if endpoint.starts_with("https://") {
            target = target
                .tls_config(options.tls.client_config(&genesis))
                .map_err(bad_endpoint)?;
        }
        let mut attempt = 0;
        let mut backoff = options.retry.initial_backoff;
        let channel = loop {
            attempt += 1;
            match target.connect().await {
                Ok(channel) => break channel,
                Err(error) if attempt >= options.retry.attempts => {
                    return Err(ClientError::Connect {
                        endpoint: endpoint.to_owned(),
                        reason: source_chain(&error),
                    });
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(options.retry.max_backoff);
                }
            }
        };
        let rpc = LedgerClient::new(channel)
            .max_decoding_message_size(MESSAGE_BYTES_MAX)
            .max_encoding_message_size(MESSAGE_BYTES_MAX);
        let mut client = Self {
            endpoint: endpoint.to_owned(),
            rpc,
            verifier: Mutex::new(Verifier::new(anchor)),
            limits: genesis.policy.limits,
            genesis,
            filer,
            filer_source_system: None,
            status_height: std::sync::atomic::AtomicU64::new(0),
            options,
        };
        let status = client.status().await?;
        let expected = client.genesis.hash();
        if status.genesis_hash != expected.to_canonical_bytes() {
            return Err(ClientError::WrongConsortium {
                endpoint: endpoint.to_owned(),
                chain_id: status.chain_id,
                expected,
                found: Digest::from_canonical_bytes(&status.genesis_hash)
                    .map_or_else(|_| hex::encode(&status.genesis_hash), |d| d.to_string()),
            });
        }
        if let Some(key) = registered {
            let public = key.public_key();
            let status = match client.filer_status(&public).await {
                Ok(status) => status,
                Err(error) if error.is_not_found() => return Err(ClientError::NotAFiler(public)),
                Err(error) => return Err(error),
            };
            client.filer_source_system = status.source_system.clone();
            client.filer = Some((key, status.filer));
        }
        if client.filer.is_some() {
            // Proposals may have changed the limits since genesis. A node that cannot say
            // (an older node, or one that does not grant the call) leaves genesis's; one that
            // says wrong only gets batches refused or split more than needed.
            if let Ok((configuration, _)) = client.configuration().await {
                client.limits = configuration.policy.limits;
            }
        }
        Ok(client)
    }

    /// What the ledger holds about the filer `key`, checked: a genesis filer must be as the
    /// genesis file lists it; a key registered on the ledger comes with the verified receipt
    /// of the member's governance entry that registered it, and must be exactly what that
    /// entry registered; a revocation comes with the verified receipt of the entry that
    /// revoked it. That a key is *not* revoked is the node's report.
    ///
    /// # Errors
    /// The key is no filer (a refusal with reason `not-found`), the call failed, or the answer
    /// does not verify or does not match its receipts.
    pub async fn filer_status(&self, key: &PublicKey) -> Result<FilerStatus, ClientError> {
        let public_key = key.to_canonical_bytes();
        let response = self
            .call(|mut rpc| {
                let request = pb::GetFilerRequest {
                    public_key: public_key.clone(),
                };
                async move { rpc.get_filer(request).await }
            })
            .await?;
        let filer = Filer {
            name: response.name.clone(),
            member: response.member.clone(),
            public_key: *key,
            kinds: response.kinds.clone(),
        };
        let source_system =
            (!response.source_system.is_empty()).then(|| response.source_system.clone());
        let mut verifier = self.verifier();
        let registration = match (self.genesis.filer(key), &response.registration) {
            (Some(listed), None) => {
                if *listed != filer || source_system.is_some() || response.registered_height != 0 {
                    return Err(bad_answer(
                        "filer",
                        format!("{key} is a genesis filer, and the answer differs from genesis"),
                    ));
                }
                None
            }
            (Some(_), Some(_)) => {
                return Err(bad_answer(
                    "filer",
                    format!("{key} is a genesis filer; the answer claims a registration"),
                ));
            }
            (None, None) => {
                return Err(bad_answer(
                    "filer",
                    format!("{key} is in no genesis file and the answer proves no registration"),
                ));
            }
            (None, Some(receipt)) => {
                let receipt = decode_receipt(receipt)?;
                verify_entry(&mut verifier, &receipt)?;
                let registered = match &receipt.entry.record {
                    Record::Governance(governance) => match &governance.body.action {
                        GovernanceAction::RegisterFiler(registration)
                        | GovernanceAction::RotateFiler {
                            register: registration,
                            ..
                        } => Some((governance.body.member.as_str(), registration)),
                        _ => None,
                    },
                    _ => None,
                };
                let matches = registered.is_some_and(|(member, registration)| {
                    registration.public_key == *key
                        && member == filer.member
                        && registration.name == filer.name
                        && registration.kinds == filer.kinds
                        && Some(&registration.source_system) == source_system.as_ref()
                        && receipt.entry.height == response.registered_height
                });
                if !matches {
                    return Err(bad_answer(
                        "filer",
                        format!(
                            "entry {} does not register {key} as the answer says",
                            receipt.entry.index
                        ),
                    ));
                }
                Some(receipt)
            }
        };
        let revocation = match &response.revocation {
            None => None,
            Some(revocation) => {
                let receipt = revocation
                    .receipt
                    .as_ref()
                    .ok_or_else(|| bad_answer("filer", "a revocation without its receipt"))?;
                let receipt = decode_receipt(receipt)?;
                verify_entry(&mut verifier, &receipt)?;
                let revoked = match &receipt.entry.record {
                    Record::Governance(governance) => match &governance.body.action {
                        GovernanceAction::RevokeFiler(revoke)
                        | GovernanceAction::RotateFiler { revoke, .. } => {
                            Some((governance.body.member.as_str(), revoke))
                        }
                        _ => None,
                    },
                    _ => None,
                };
                let matches = revoked.is_some_and(|(member, revoke)| {
                    revoke.public_key == *key
                        && member == filer.member
                        && revoke.effective_height == revocation.effective_height
                        && revoke.reason == revocation.reason
                });
                if !matches {
                    return Err(bad_answer(
                        "filer",
                        format!(
                            "entry {} does not revoke {key} as the answer says",
                            receipt.entry.index
                        ),
                    ));
                }
                Some(FilerRevocationStatus {
                    effective_height: revocation.effective_height,
                    reason: revocation.reason.clone(),
                    receipt,
                })
            }
        };
        Ok(FilerStatus {
            filer,
            source_system,
            registered_height: response.registered_height,
            registration,
            revocation,
        })
    }

    /// The configuration in force (the node's report) and the height from which the node
    /// knows it holds.
    ///
    /// # Errors
    /// The call failed, or the answer is not a valid configuration.
    pub async fn configuration(&self) -> Result<(Configuration, u64), ClientError> {
        let response =
            self.call(|mut rpc| async move {
                rpc.get_configuration(pb::GetConfigurationRequest {}).await
            })
            .await?;
        let configuration = Configuration::from_canonical_bytes(&response.configuration)
            .map_err(|e| bad_answer("configuration", e.to_string()))?;
        configuration
            .validate()
            .map_err(|e| bad_answer("configuration", e.to_string()))?;
        Ok((configuration, response.height))
    }

    /// A proposal of the members with its votes. What was proposed and every vote are proved
    /// by verified receipts of their entries, which must say exactly what the answer says; the
    /// status is the node's report.
    ///
    /// # Errors
    /// No such proposal (a refusal with reason `not-found`), the call failed, or the answer
    /// does not verify or does not match its receipts.
    pub async fn proposal(&self, proposal_id: &str) -> Result<ProposalView, ClientError> {
        let response = self
            .call(|mut rpc| {
                let request = pb::GetProposalRequest {
                    proposal_id: proposal_id.to_owned(),
                };
                async move { rpc.get_proposal(request).await }
            })
            .await?;
        let mut verifier = self.verifier();
        let receipt = decode_receipt(
            response
                .proposal
                .as_ref()
                .ok_or_else(|| bad_answer("proposal", "no receipt of the proposal"))?,
        )?;
        verify_entry(&mut verifier, &receipt)?;
        let proposal = match &receipt.entry.record {
            Record::Governance(governance) => match &governance.body.action {
                GovernanceAction::Propose(proposal)
                    if proposal.id == proposal_id
                        && governance.body.member == response.proposer
                        && proposal.expires_at_ms == response.expires_at_ms =>
                {
                    proposal.clone()
                }
                _ => {
                    return Err(bad_answer(
                        "proposal",
                        format!(
                            "entry {} is not the proposal {proposal_id:?} the answer describes",
                            receipt.entry.index
                        ),
                    ));
                }
            },
            _ => {
                return Err(bad_answer(
                    "proposal",
                    format!("entry {} is no governance entry", receipt.entry.index),
                ));
            }
        };
        let mut votes = Vec::with_capacity(response.votes.len());
        for (position, vote) in response.votes.iter().enumerate() {
            let vote_receipt = decode_receipt(
                vote.receipt
                    .as_ref()
                    .ok_or_else(|| bad_answer("proposal", "a vote without its receipt"))?,
            )?;
            verify_entry(&mut verifier, &vote_receipt)?;
            let matches = match &vote_receipt.entry.record {
                Record::Governance(governance) if governance.body.member == vote.member => {
                    match &governance.body.action {
                        // The proposer's approval is its proposal.
                        GovernanceAction::Propose(_) => {
                            position == 0
                                && vote.approve
                                && vote_receipt.entry.index == receipt.entry.index
                        }
                        GovernanceAction::Vote(cast) => {
                            cast.proposal_id == proposal_id && cast.approve == vote.approve
                        }
                        _ => false,
                    }
                }
                _ => false,
            } && vote_receipt.entry.height == vote.height;
            if !matches {
                return Err(bad_answer(
                    "proposal",
                    format!(
                        "entry {} is not {}'s vote as the answer says",
                        vote_receipt.entry.index, vote.member
                    ),
                ));
            }
            votes.push(ProposalVoteView {
                member: vote.member.clone(),
                approve: vote.approve,
                height: vote.height,
                receipt: vote_receipt,
            });
        }
        if votes
            .first()
            .is_none_or(|first| first.member != response.proposer)
        {
            return Err(bad_answer(
                "proposal",
                "the proposer's approval is not the first vote",
            ));
        }
        if !["open", "expired", "accepted", "rejected"].contains(&response.status.as_str()) {
            return Err(bad_answer(
                "proposal",
                format!("unknown status {:?}", response.status),
            ));
        }
        Ok(ProposalView {
            proposal,
            proposer: response.proposer,
            receipt,
            votes,
            status: response.status,
            decided_height: response.decided_height,
        })
    }

    /// One page of filer summaries (genesis's and the ledger's, of `member` or of all when it
    /// is empty) after the key `after`, with the key to continue after (`None`: no more). The
    /// node's report; [`Client::filer_status`] proves one key's registration and revocation.
    ///
    /// # Errors
    /// The call failed, or the answer names keys that do not decode or are out of order.
    pub async fn filers(
        &self,
        member: &str,
        after: Option<&PublicKey>,
        limit: u32,
    ) -> Result<(Vec<(PublicKey, pb::FilerSummary)>, Option<PublicKey>), ClientError> {
        let after_bytes = after.map(Encode::to_canonical_bytes).unwrap_or_default();
        let response = self
            .call(|mut rpc| {
                let request = pb::ListFilersRequest {
                    member: member.to_owned(),
                    after: after_bytes.clone(),
                    limit,
                };
                async move { rpc.list_filers(request).await }
            })
            .await?;
        let mut filers = Vec::with_capacity(response.filers.len());
        let mut previous = after_bytes;
        for summary in response.filers {
            let key = PublicKey::from_canonical_bytes(&summary.public_key)
                .map_err(|e| bad_answer("filer list", e.to_string()))?;
            if summary.public_key <= previous {
                return Err(bad_answer("filer list", "keys out of order"));
            }
            if !member.is_empty() && summary.member != member {
                return Err(bad_answer(
                    "filer list",
                    format!("{key} is {}'s, not {member}'s", summary.member),
                ));
            }
            previous.clone_from(&summary.public_key);
            filers.push((key, summary));
        }
        let next = if response.next_after.is_empty() {
            None
        } else {
            Some(
                PublicKey::from_canonical_bytes(&response.next_after)
                    .map_err(|e| bad_answer("filer list", e.to_string()))?,
            )
        };
        Ok((filers, next))
    }

    /// One page of proposal summaries after `after` (empty: from the first), with the id to
    /// continue after (empty: no more). The node's report.
    ///
    /// # Errors
    /// The call failed.
    pub async fn proposals(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<(Vec<pb::ProposalSummary>, String), ClientError> {
        let response = self
            .call(|mut rpc| {
                let request = pb::ListProposalsRequest {
                    after: after.to_owned(),
                    limit,
                };
                async move { rpc.list_proposals(request).await }
            })
            .await?;
        Ok((response.proposals, response.next_after))
    }

    /// The source system a filer key registered on the ledger must name (`None` for a genesis
    /// filer, which may name any).
    pub fn filer_source_system(&self) -> Option<&str> {
        self.filer_source_system.as_deref()
    }

    /// Submits a governance transaction of the member whose governance key `key` is, and
    /// waits for its verified receipt.
    ///
    /// # Errors
    /// `key` is no member's governance key (in genesis or the configuration in force), a
    /// refusal (the rule broken),
    /// or a failed or unverifiable answer.
    pub async fn govern(
        &self,
        key: &SigningKey,
        action: GovernanceAction,
    ) -> Result<Receipt, ClientError> {
        let public = key.public_key();
        // A key from genesis, else one a proposal gave (the node's report: a wrong member only
        // gets the transaction refused).
        let member = match self
            .genesis
            .members
            .iter()
            .find(|member| member.governance_keys.contains(&public))
        {
            Some(member) => member.id.clone(),
            None => {
                let (configuration, _) = self.configuration().await?;
                configuration
                    .governance_member(&public)
                    .map(|member| member.id.clone())
                    .ok_or(ClientError::NotAGovernanceKey(public))?
            }
        };
        self.govern_as(&member, key, action).await
    }

    /// Submits a governance transaction of `member` signed with its governance key `key`, and
    /// waits for its verified receipt. A key the member does not hold is refused by the ledger
    /// (`unknown-governance-key` or `member-mismatch`).
    ///
    /// # Errors
    /// A refusal (the rule broken), or a failed or unverifiable answer.
    pub async fn govern_as(
        &self,
        member: &str,
        key: &SigningKey,
        action: GovernanceAction,
    ) -> Result<Receipt, ClientError> {
        let signed = GovernanceBody {
            chain_id: self.genesis.chain_id.clone(),
            member: member.to_owned(),
            signer: key.public_key(),
            issued_at_ms: now_ms(),
            action,
        }
        .sign(key);
        let expected = vec![Record::Governance(Box::new(signed.clone()))];
        let mut receipts = self
            .submit_and_wait(Transaction::governance(signed), expected)
            .await?;
        receipts
            .pop()
            .ok_or_else(|| ClientError::BadAnswer("no receipt for the governance entry".into()))
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The filer this client signs as, from the genesis file.
    pub fn filer(&self) -> Option<&Filer> {
        self.filer.as_ref().map(|(_, filer)| filer)
    }

    fn algorithm(&self) -> HashAlgorithm {
        self.genesis.suite.digest
    }

    fn filer_key(&self) -> Result<(&SigningKey, &Filer), ClientError> {
        self.filer
            .as_ref()
            .map(|(key, filer)| (key, filer))
            .ok_or(ClientError::NoFilerKey)
    }

    fn verifier(&self) -> std::sync::MutexGuard<'_, Verifier> {
        // A panic while verifying leaves the cache consistent (it only ever holds verified
        // checkpoints), so a poisoned lock is still usable.
        self.verifier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `call`, retrying with backoff while the node is busy or unreachable.
    async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, ClientError>
    where
        F: FnMut(LedgerClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let retry = self.options.retry;
        let wait = self
            .options
            .call_timeout
            .max(self.options.notarize_timeout + Duration::from_secs(5));
        let mut backoff = retry.initial_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answer = tokio::time::timeout(wait, call(self.rpc.clone()))
                .await
                .unwrap_or_else(|_| {
                    Err(tonic::Status::deadline_exceeded(format!(
                        "the node did not answer within {} s",
                        wait.as_secs()
                    )))
                });
            match answer {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) if is_transient_code(status.code()) && attempt < retry.attempts => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(retry.max_backoff);
                }
                Err(status) if status.code() == Code::ResourceExhausted => {
                    return Err(ClientError::Busy {
                        attempts: attempt,
                        message: status.message().to_owned(),
                    });
                }
                Err(status) => return Err(from_status(&status)),
            }
        }
    }

    /// The node's view of the chain (its word, for display and monitoring).
    ///
    /// # Errors
    /// The call fails.
    pub async fn status(&self) -> Result<pb::StatusResponse, ClientError> {
        self.call(|mut rpc| async move { rpc.status(pb::StatusRequest {}).await })
            .await
    }

    /// The node's rule events (fund transfers refused by a payment rule, milestones near
    /// their cap), from those it kept after `after_sequence` of its run `boot_id` (all kept
    /// ones when the run is another, or `boot_id` is 0), then new ones as they happen. They are
    /// the node's report: the proved payments of a project are [`Client::status_proof`]'s.
    ///
    /// # Errors
    /// The call fails.
    pub async fn rule_events(
        &self,
        boot_id: u64,
        after_sequence: u64,
    ) -> Result<RuleEventStream, ClientError> {
        let inner = self
            .call(|mut rpc| async move {
                rpc.stream_rule_events(pb::StreamRuleEventsRequest {
                    boot_id,
                    after_sequence,
                })
                .await
            })
            .await?;
        Ok(RuleEventStream {
            inner,
            algorithm: self.algorithm(),
        })
    }

    /// Waits until the node has committed `height`, polling its status (every 20 ms at first,
    /// then less often), for at most `timeout`. A filing that depends on an entry another
    /// member's node committed (a payment after an inspection report, say) waits for that
    /// entry's height first: every node checks a transaction against its own committed state,
    /// and a node a block behind would refuse it.
    ///
    /// # Errors
    /// The node did not reach `height` within `timeout` ([`ClientError::Timeout`]), or a call
    /// failed.
    pub async fn wait_for_height(&self, height: u64, timeout: Duration) -> Result<(), ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(20);
        loop {
            let reached = self.status().await?.height;
            if reached >= height {
                return Ok(());
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(ClientError::Timeout(format!(
                    "the node is at height {reached}; it did not reach {height} within {} ms",
                    timeout.as_millis()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Notarizes one document: hashes it locally, signs its anchor with the filer key, submits
    /// it, waits for it to commit and returns its verified receipt.
    ///
    /// # Errors
    /// The document cannot be read, the ledger refuses it (the error names the rule), the node
    /// stays busy, or its answer does not verify.
    pub async fn notarize(
        &self,
        source: impl Into<DocumentSource>,
        meta: DocumentMeta,
    ) -> Result<Receipt, ClientError> {
        let mut receipts = self.notarize_batch(vec![(source.into(), meta)]).await?;
        receipts
            .pop()
            .ok_or_else(|| ClientError::BadAnswer("no receipt for the document".into()))
    }

    /// Notarizes many documents, one filer signature per transaction (as many documents per
    /// transaction as the options and the limits in force allow), and returns their verified
    /// receipts in the order given. All or nothing per transaction: a refused document fails
    /// its whole transaction, and the error says which rule and which document.
    ///
    /// A document given [`Version::Next`] is first filed as version 1 of a new document, with
    /// no lookup: the ledger's lineage rule (`version-conflict`, `kind-changed`,
    /// `payment-record-immutable` for a document that exists) is the authority on whether it
    /// exists, and a lookup could not prove that it does not. When a transaction carrying
    /// such a first version is refused by that rule, the client looks up each document of that
    /// transaction and of the ones after it, and files them again as before: the next version
    /// of the filing member's latest, superseding it. So new documents cost no round trip of
    /// their own, and an existing one costs one refused transaction and its lookup.
    ///
    /// Filing again is safe: a document given [`Version::Next`] whose latest version, filed by
    /// this member, already anchors the same digest with the same kind and claim is not
    /// anchored again; its existing receipt (verified) is returned. So a batch that failed
    /// half-way can simply be sent again.
    ///
    /// # Errors
    /// As [`Client::notarize`]. When a transaction fails after earlier ones of the batch
    /// committed, [`ClientError::PartlyNotarized`] carries the receipts of those.
    pub async fn notarize_batch(
        &self,
        documents: Vec<(DocumentSource, DocumentMeta)>,
    ) -> Result<Vec<Receipt>, ClientError> {
        let algorithm = self.algorithm();
        // Hash off the runtime: files may be large.
        let (sources, metas): (Vec<_>, Vec<_>) = documents.into_iter().unzip();
        let digests = tokio::task::spawn_blocking(move || {
            sources
                .into_iter()
                .map(|source| source.digest(algorithm))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|error| ClientError::Invalid(format!("hashing stopped: {error}")))??;
        let documents: Vec<(DocumentMeta, Digest)> = metas.into_iter().zip(digests).collect();

        let mut receipts: Vec<Option<Receipt>> = vec![None; documents.len()];
        // The first document not settled yet, and whether new documents are looked up.
        let mut start = 0;
        let mut look_up = false;
        'plan: while start < documents.len() {
            let planned = match self.plan(&documents[start..], look_up).await {
                Ok(planned) => planned,
                // Lookups after a refused guess: what committed before is kept.
                Err(error) => return Err(partly(receipts, error)),
            };
            let mut anchors = Vec::new();
            // For each anchor: its document's position, and whether its version is a guess.
            let mut positions: Vec<(usize, bool)> = Vec::new();
            for (offset, plan) in planned.into_iter().enumerate() {
                match plan {
                    Planned::Filed(receipt) => receipts[start + offset] = Some(*receipt),
                    Planned::Anchor { body, guessed } => {
                        positions.push((start + offset, guessed));
                        anchors.push(*body);
                    }
                }
            }
            let mut next = 0;
            for chunk in self.chunks(anchors) {
                let span = next..next + chunk.len();
                next = span.end;
                match self.anchor(chunk).await {
                    Ok(anchored) => {
                        for ((position, _), receipt) in positions[span].iter().zip(anchored) {
                            receipts[*position] = Some(receipt);
                        }
                    }
                    Err(error)
                        if !look_up
                            && is_lineage_refusal(&error)
                            && positions[span.clone()].iter().any(|(_, guessed)| *guessed) =>
                    {
                        // A guessed first version met a document that exists: settle this
                        // transaction's documents and those after it by lookups.
                        start = positions[span.start].0;
                        look_up = true;
                        continue 'plan;
                    }
                    Err(error) => return Err(partly(receipts, error)),
                }
            }
            break;
        }
        receipts
            .into_iter()
            .map(|receipt| {
                receipt.ok_or_else(|| ClientError::BadAnswer("a document has no receipt".into()))
            })
            .collect()
    }

    /// What to do with each document: its anchor, with the version resolved, or the receipt
    /// of the same filing made before. With `look_up`, a [`Version::Next`] document is looked
    /// up (verified) the first time it appears; without, it is guessed new (version 1) unless
    /// an earlier document of the same call carries its id.
    async fn plan(
        &self,
        documents: &[(DocumentMeta, Digest)],
        look_up: bool,
    ) -> Result<Vec<Planned>, ClientError> {
        let (_, filer) = self.filer_key()?;
        let member = filer.member.clone();
        let filer_key = filer.public_key;
        let mut latest: HashMap<(String, String), (u32, Digest)> = HashMap::new();
        let mut planned = Vec::with_capacity(documents.len());
        let now = now_ms();
        for (meta, digest) in documents {
            let (meta, digest) = (meta.clone(), *digest);
            let key = (meta.project_id.clone(), meta.document_id.clone());
            let (document_version, supersedes, guessed) = match meta.version {
                Version::Exact {
                    version,
                    supersedes,
                } => (version, supersedes, false),
                Version::Next => {
                    let (previous, guessed) = match latest.get(&key) {
                        Some(known) => (Some(*known), false),
                        None if !look_up => (None, true),
                        None => {
                            let found = self
                                .latest_version(&member, &meta.project_id, &meta.document_id)
                                .await?;
                            let found = found.as_ref().and_then(|receipt| {
                                receipt.entry.anchor().map(|d| (receipt, &d.body))
                            });
                            match found {
                                Some((receipt, body))
                                    if body.digest == digest
                                        && body.kind == meta.kind
                                        && body.claim == meta.claim =>
                                {
                                    // The same filing again: answer with its receipt.
                                    latest.insert(key, (body.document_version, digest));
                                    planned.push(Planned::Filed(Box::new(receipt.clone())));
                                    continue;
                                }
                                Some((_, body)) => {
                                    (Some((body.document_version, body.digest)), false)
                                }
                                None => (None, false),
                            }
                        }
                    };
                    match previous {
                        None => (1, None, guessed),
                        Some((version, digest)) => {
                            let next = version.checked_add(1).ok_or_else(|| {
                                ClientError::Invalid(format!(
                                    "document {:?} has no version after {version}",
                                    meta.document_id
                                ))
                            })?;
                            (next, Some(digest), false)
                        }
                    }
                }
            };
            latest.insert(key, (document_version, digest));
            planned.push(Planned::Anchor {
                body: Box::new(AnchorBody {
                    chain_id: self.genesis.chain_id.clone(),
                    filer: filer_key,
                    member: member.clone(),
                    source_system: meta.source_system,
                    captured_at_ms: meta.captured_at_ms.unwrap_or(now),
                    project_id: meta.project_id,
                    document_id: meta.document_id,
                    document_version,
                    kind: meta.kind,
                    digest,
                    supersedes,
                    claim: meta.claim,
                }),
                guessed,
            });
        }
        Ok(planned)
    }

    /// Splits anchors into transactions within the options and the limits in force.
    fn chunks(&self, anchors: Vec<AnchorBody>) -> Vec<Vec<AnchorBody>> {
        let limits = &self.limits;
        let count_max = self
            .options
            .batch_documents_max
            .min(limits.batch_len_max as usize)
            .max(1);
        let bytes_max =
            (limits.transaction_bytes_max as usize).saturating_sub(TRANSACTION_OVERHEAD);
        let mut chunks = Vec::new();
        let mut current = Vec::new();
        let mut bytes = 0;
        for anchor in anchors {
            let size = anchor.to_canonical_bytes().len();
            if !current.is_empty() && (current.len() >= count_max || bytes + size > bytes_max) {
                chunks.push(std::mem::take(&mut current));
                bytes = 0;
            }
            bytes += size;
            current.push(anchor);
        }
        if !current.is_empty() {
            chunks.push(current);
        }
        chunks
    }

    /// The receipt of the filing member's latest version of a document, from a verified
    /// lookup.
    async fn latest_version(
        &self,
        member: &str,
        project_id: &str,
        document_id: &str,
    ) -> Result<Option<Receipt>, ClientError> {
        let query = LookupQuery::Document {
            project_id: project_id.to_owned(),
            document_id: document_id.to_owned(),
        };
        let mut latest: Option<(u32, Receipt)> = None;
        let mut token = Vec::new();
        for _ in 0..LOOKUP_PAGES_MAX {
            let page = self.lookup(&query, &token, 0).await?;
            let more = page.more && !page.results.is_empty();
            token = page.next_page_token;
            for result in page.results {
                if let Record::Anchor(document) = &result.entry.receipt.entry.record
                    && document.body.member == member
                    && latest
                        .as_ref()
                        .is_none_or(|(v, _)| document.body.document_version > *v)
                {
                    latest = Some((document.body.document_version, result.entry.receipt));
                }
            }
            if !more {
                return Ok(latest.map(|(_, receipt)| receipt));
            }
        }
        Err(ClientError::BadAnswer(format!(
            "the versions of document {document_id:?} go on for more than {LOOKUP_PAGES_MAX} pages"
        )))
    }

    /// Signs and submits one batch of anchors; returns their verified receipts in order.
    async fn anchor(&self, anchors: Vec<AnchorBody>) -> Result<Vec<Receipt>, ClientError> {
        let (key, _) = self.filer_key()?;
        // One batch tree for the signature, the documents' paths and the transaction id.
        let (batch, tree) = SignedBatch::sign_with_tree(self.algorithm(), anchors, key)
            .map_err(|error| ClientError::Invalid(error.to_string()))?;
        let expected: Vec<Record> = batch
            .documents(&tree)
            .into_iter()
            .map(Record::Anchor)
            .collect();
        let tx_id = anchor_id(self.algorithm(), &batch, &tree.root());
        self.submit_with_id_and_wait(Transaction::Anchor(batch), tx_id, expected)
            .await
    }

    /// Registers a project's contract value and payment milestones (only members the genesis
    /// policy names as registrars may). Returns the registration's verified receipt.
    ///
    /// # Errors
    /// The ledger refuses it (for example `not-a-registrar`, `project-already-registered`),
    /// or as [`Client::notarize`].
    pub async fn register_project(
        &self,
        project_id: &str,
        total_value_minor: u64,
        milestones: Vec<Milestone>,
    ) -> Result<Receipt, ClientError> {
        let (key, filer) = self.filer_key()?;
        let body = ProjectRegistrationBody {
            chain_id: self.genesis.chain_id.clone(),
            registrar: key.public_key(),
            member: filer.member.clone(),
            project_id: project_id.to_owned(),
            total_value_minor,
            milestones,
            registered_at_ms: now_ms(),
        };
        let registration = body.sign(key);
        let expected = vec![Record::Registration(registration.clone())];
        let mut receipts = self
            .submit_and_wait(Transaction::RegisterProject(registration), expected)
            .await?;
        receipts
            .pop()
            .ok_or_else(|| ClientError::BadAnswer("no receipt for the registration".into()))
    }

    /// Submits `transaction`, waits for it to commit, and checks that the receipts prove
    /// exactly the `expected` records, in order.
    async fn submit_and_wait(
        &self,
        transaction: Transaction,
        expected: Vec<Record>,
    ) -> Result<Vec<Receipt>, ClientError> {
        let tx_id = transaction
            .id(self.algorithm())
            .ok_or_else(|| ClientError::Invalid("an empty or oversized batch".into()))?;
        self.submit_with_id_and_wait(transaction, tx_id, expected)
            .await
    }

    /// As [`Client::submit_and_wait`], for a transaction whose id is known.
    async fn submit_with_id_and_wait(
        &self,
        transaction: Transaction,
        tx_id: Digest,
        expected: Vec<Record>,
    ) -> Result<Vec<Receipt>, ClientError> {
        let canonical = transaction.to_canonical_bytes();
        let timeout = self.options.notarize_timeout;
        let answer = self
            .call(|mut rpc| {
                // The receipts are read from their binary fields: no JSON files on the wire.
                let mut request = tonic::Request::new(pb::NotarizeRequest {
                    transaction: Some(pb::Transaction {
                        canonical: canonical.clone(),
                    }),
                    omit_json: true,
                });
                request.set_timeout(timeout);
                async move { rpc.notarize(request).await }
            })
            .await;
        let receipts = match answer {
            Ok(response) => {
                if response.transaction_id != tx_id.bytes {
                    return Err(bad_answer(
                        "transaction id",
                        format!(
                            "expected {tx_id}, got {}",
                            hex::encode(&response.transaction_id)
                        ),
                    ));
                }
                response
                    .receipts
                    .iter()
                    .map(decode_receipt)
                    .collect::<Result<Vec<_>, _>>()?
            }
            // The same signed transaction is already on the ledger (an earlier attempt whose
            // answer was lost, or the same upload twice): its receipts are the answer.
            Err(ClientError::Refused(refusal)) if refusal.reason == "replayed" => {
                self.receipts_of_transaction(&tx_id, expected.len()).await?
            }
            Err(ClientError::Rpc {
                code: Code::DeadlineExceeded | Code::Cancelled,
                ..
            }) => return Err(ClientError::NotCommitted { tx_id }),
            Err(error) => return Err(error),
        };
        self.check_receipts(&receipts, &expected)?;
        Ok(receipts)
    }

    /// Verifies each receipt and checks that it proves the record expected of it.
    fn check_receipts(&self, receipts: &[Receipt], expected: &[Record]) -> Result<(), ClientError> {
        if receipts.len() != expected.len() {
            return Err(bad_answer(
                "receipts",
                format!("expected {}, got {}", expected.len(), receipts.len()),
            ));
        }
        let mut verifier = self.verifier();
        for (receipt, record) in receipts.iter().zip(expected) {
            verify_entry(&mut verifier, receipt)?;
            if receipt.entry.record != *record {
                return Err(bad_answer(
                    "receipt",
                    format!(
                        "entry {} is not the record that was submitted",
                        receipt.entry.index
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The receipts of a committed transaction's `count` entries (they are consecutive).
    async fn receipts_of_transaction(
        &self,
        tx_id: &Digest,
        count: usize,
    ) -> Result<Vec<Receipt>, ClientError> {
        let first = self
            .fetch_receipt(
                pb::get_receipt_request::By::TransactionId(tx_id.bytes.to_vec()),
                0,
            )
            .await?;
        let height = first.checkpoint.header.height;
        let mut receipts = vec![first];
        for offset in 1..count as u64 {
            let index = receipts[0].entry.index.checked_add(offset).ok_or_else(|| {
                bad_answer(
                    "entry index",
                    "the transaction's entries run past the last index",
                )
            })?;
            receipts.push(
                self.fetch_receipt(pb::get_receipt_request::By::EntryIndex(index), height)
                    .await?,
            );
        }
        Ok(receipts)
    }

    async fn fetch_receipt(
        &self,
        by: pb::get_receipt_request::By,
        at_height: u64,
    ) -> Result<Receipt, ClientError> {
        let response = self
            .call(|mut rpc| {
                let request = pb::GetReceiptRequest {
                    by: Some(by.clone()),
                    at_height,
                };
                async move { rpc.get_receipt(request).await }
            })
            .await?;
        let receipt = response
            .receipt
            .ok_or_else(|| ClientError::BadAnswer("no receipt in the answer".into()))?;
        decode_receipt(&receipt)
    }

    /// A verified receipt for an entry, proven against the checkpoint at `at_height` (`None`
    /// for the latest).
    ///
    /// # Errors
    /// No such entry (a refusal with reason `not-found`), or an answer that does not verify or
    /// is not the entry asked for.
    pub async fn receipt(
        &self,
        query: ReceiptQuery,
        at_height: Option<u64>,
    ) -> Result<VerifiedEntry, ClientError> {
        use pb::get_receipt_request::By;
        let by = match query {
            ReceiptQuery::Transaction(id) => By::TransactionId(id.bytes.to_vec()),
            ReceiptQuery::Digest(digest) => By::DocumentDigest(digest.to_canonical_bytes()),
            ReceiptQuery::Index(index) => By::EntryIndex(index),
        };
        let receipt = self.fetch_receipt(by, at_height.unwrap_or(0)).await?;
        let checkpoint = verify_entry(&mut self.verifier(), &receipt)?;
        let matches = match query {
            ReceiptQuery::Transaction(id) => receipt
                .entry
                .record
                .transaction_id(self.algorithm())
                .is_ok_and(|found| found == id),
            ReceiptQuery::Digest(digest) => receipt
                .entry
                .anchor()
                .is_some_and(|d| d.body.digest == digest),
            ReceiptQuery::Index(index) => receipt.entry.index == index,
        };
        if !matches {
            return Err(bad_answer(
                "receipt",
                format!("entry {} is not the entry asked for", receipt.entry.index),
            ));
        }
        if at_height.is_some_and(|h| h != checkpoint.height) {
            return Err(bad_answer(
                "receipt",
                format!(
                    "proven at height {}, not the height asked for",
                    checkpoint.height
                ),
            ));
        }
        Ok(VerifiedEntry {
            receipt,
            checkpoint,
        })
    }

    /// Looks entries up; each result's receipt is verified and checked to match the query.
    /// `page_token` is empty for the first page, else the previous page's `next_page_token`;
    /// `limit` 0 means the node's default page size.
    ///
    /// # Errors
    /// The call fails, or an answer does not verify, does not match the query, or goes back
    /// in the log.
    pub async fn lookup(
        &self,
        query: &LookupQuery,
        page_token: &[u8],
        limit: u32,
    ) -> Result<LookupPage, ClientError> {
        use pb::lookup_request::By;
        let by = match query {
            LookupQuery::Digest(digest) => By::DocumentDigest(digest.to_canonical_bytes()),
            LookupQuery::Document {
                project_id,
                document_id,
            } => By::Document(pb::DocumentRef {
                project_id: project_id.clone(),
                document_id: document_id.clone(),
            }),
            LookupQuery::Project(project_id) => By::ProjectId(project_id.clone()),
        };
        let response = self
            .call(|mut rpc| {
                let request = pb::LookupRequest {
                    by: Some(by.clone()),
                    limit,
                    page_token: page_token.to_vec(),
                };
                async move { rpc.lookup(request).await }
            })
            .await?;
        let mut results = Vec::with_capacity(response.results.len());
        for result in response.results {
            let receipt = result
                .receipt
                .as_ref()
                .ok_or_else(|| ClientError::BadAnswer("a lookup result without a receipt".into()))
                .and_then(decode_receipt)?;
            let checkpoint = verify_entry(&mut self.verifier(), &receipt)?;
            let matches = match query {
                LookupQuery::Digest(digest) => receipt
                    .entry
                    .anchor()
                    .is_some_and(|d| d.body.digest == *digest),
                LookupQuery::Document {
                    project_id,
                    document_id,
                } => receipt.entry.anchor().is_some_and(|d| {
                    d.body.project_id == *project_id && d.body.document_id == *document_id
                }),
                LookupQuery::Project(project_id) => {
                    entry_project(&receipt.entry) == Some(project_id.as_str())
                }
            };
            if !matches {
                return Err(bad_answer(
                    "lookup",
                    format!("entry {} does not match the query", receipt.entry.index),
                ));
            }
            results.push(LookupResult {
                entry: VerifiedEntry {
                    receipt,
                    checkpoint,
                },
                status: version_status(result.status),
            });
        }
        if results
            .windows(2)
            .any(|w| w[0].entry.receipt.entry.index >= w[1].entry.receipt.entry.index)
        {
            return Err(bad_answer(
                "lookup",
                "the results are not in log order".to_owned(),
            ));
        }
        if response.more && response.next_page_token.is_empty() {
            return Err(bad_answer(
                "lookup",
                "more results, but no token to read them".to_owned(),
            ));
        }
        Ok(LookupPage {
            results,
            more: response.more,
            next_page_token: response.next_page_token,
        })
    }

    /// A status proof of `subject` under the node's latest checkpoint, verified against the
    /// genesis file before it is returned: the facts are the ones the subject needs, in order;
    /// the checkpoint is certified; each fact holds under the header's state root; and the
    /// checkpoint is not older than that of a status proof this client verified before.
    ///
    /// # Errors
    /// The call fails (`not-found` before the first block), or the answer does not verify or
    /// is not about the subject asked for.
    pub async fn status_proof(
        &self,
        subject: &StatusSubject,
    ) -> Result<VerifiedStatus, ClientError> {
        use pb::get_status_proof_request::Subject;
        let request_subject = match subject {
            StatusSubject::Document {
                member,
                project_id,
                document_id,
                version,
            } => Subject::Document(pb::DocumentVersionRef {
                member: member.clone(),
                project_id: project_id.clone(),
                document_id: document_id.clone(),
                version: version.unwrap_or(0),
            }),
            StatusSubject::Project(project_id) => Subject::ProjectId(project_id.clone()),
        };
        let response = self
            .call(|mut rpc| {
                let request = pb::GetStatusProofRequest {
                    subject: Some(request_subject.clone()),
                };
                async move { rpc.get_status_proof(request).await }
            })
            .await?;
        // The facts must be the ones asked for, in order, before anything is verified.
        let asked = subject.keys();
        if response.facts.len() != asked.len()
            || response
                .facts
                .iter()
                .zip(&asked)
                .any(|(fact, key)| fact.key != key.to_bytes())
        {
            return Err(bad_answer(
                "status proof",
                "its facts are not about the subject asked for".to_owned(),
            ));
        }
        let proof = StatusProof {
            checkpoint: Checkpoint {
                header: decode::<BlockHeader>(&response.header, "header")?,
                certificate: decode::<CommitCertificate>(&response.certificate, "certificate")?,
            },
            handoffs: decode_handoffs(&response.handoffs)?,
            facts: response
                .facts
                .iter()
                .map(|fact| {
                    Ok(StateFact {
                        key: fact.key.clone(),
                        value: fact.value.clone(),
                        proof: decode::<StateProof>(&fact.proof, "facts.proof")?,
                    })
                })
                .collect::<Result<_, ClientError>>()?,
        };
        let state = verify_status_proof(&proof, self.verifier().trust_anchor())?;
        let height = state.checkpoint.height;
        let seen = self
            .status_height
            .fetch_max(height, std::sync::atomic::Ordering::Relaxed);
        if height < seen {
            return Err(bad_answer(
                "status proof",
                format!(
                    "it is of height {height}, older than the status proof of height {seen} \
                     this client verified before"
                ),
            ));
        }
        Ok(VerifiedStatus { proof, state })
    }

    /// The verified checkpoint at `height`, or the latest for `None`.
    ///
    /// # Errors
    /// No such checkpoint, or one that does not verify or is not at the height asked for.
    pub async fn checkpoint(
        &self,
        height: Option<u64>,
    ) -> Result<(Checkpoint, VerifiedCheckpoint), ClientError> {
        let response = self
            .call(|mut rpc| async move {
                rpc.get_checkpoint(pb::GetCheckpointRequest {
                    height: height.unwrap_or(0),
                })
                .await
            })
            .await?;
        let (checkpoint, handoffs) = decode_checkpoint(response.checkpoint.as_ref())?;
        let verified = {
            let mut verifier = self.verifier();
            // The hand-offs are verified from genesis and remembered, so that older
            // checkpoints (an auditor's saved one) verify against the set of their height.
            verifier.learn_handoffs(&handoffs)?;
            verifier.verify_checkpoint(&checkpoint)?
        };
        if height.is_some_and(|h| h != verified.height) {
            return Err(bad_answer(
                "checkpoint",
                format!("height {} is not the height asked for", verified.height),
            ));
        }
        Ok((checkpoint, verified))
    }

    /// Proves that `old`'s log is a prefix of `new`'s: both checkpoints are verified, and a
    /// consistency proof from the node is checked between their log roots.
    ///
    /// # Errors
    /// [`ClientError::Inconsistent`] when the logs are not one a prefix of the other (or the
    /// node cannot prove it): the loud failure an auditor watches for. Otherwise a checkpoint
    /// that does not verify, or a failed call.
    pub async fn consistency(&self, old: &Checkpoint, new: &Checkpoint) -> Result<(), ClientError> {
        let (old_verified, new_verified) = {
            let mut verifier = self.verifier();
            (
                verifier.verify_checkpoint(old)?,
                verifier.verify_checkpoint(new)?,
            )
        };
        let (old_size, new_size) = (old_verified.log_size, new_verified.log_size);
        let inconsistent = |reason: String| ClientError::Inconsistent {
            old_height: old_verified.height,
            new_height: new_verified.height,
            reason,
        };
        if old_verified.height > new_verified.height || old_size > new_size {
            return Err(inconsistent(format!(
                "the newer checkpoint (height {}, log size {new_size}) is behind the older one \
                 (height {}, log size {old_size})",
                new_verified.height, old_verified.height
            )));
        }
        if old_verified.height == new_verified.height
            && old_verified.header_hash != new_verified.header_hash
        {
            return Err(inconsistent(format!(
                "two different blocks certified at height {}: {} and {} (validators signed \
                 conflicting blocks)",
                old_verified.height, old_verified.header_hash, new_verified.header_hash
            )));
        }
        if old_size == 0 {
            return Ok(());
        }
        if old_size == new_size {
            return if old_verified.log_root == new_verified.log_root {
                Ok(())
            } else {
                Err(inconsistent(format!(
                    "two different log roots for log size {old_size}: {} and {}",
                    old_verified.log_root, new_verified.log_root
                )))
            };
        }
        let response = self
            .call(|mut rpc| async move {
                rpc.get_consistency_proof(pb::GetConsistencyProofRequest { old_size, new_size })
                    .await
            })
            .await;
        let response = match response {
            Ok(response) => response,
            // Both sizes are certified, so a node that refuses the proof cannot show that the
            // log only grew. A node that is unreachable or busy proves nothing either way.
            Err(error) if !error.is_transient() => {
                return Err(inconsistent(format!("the node did not prove it: {error}")));
            }
            Err(error) => return Err(error),
        };
        let proof = decode::<ConsistencyProof>(&response.proof, "consistency proof")
            .map_err(|error| inconsistent(format!("the node's proof is unreadable: {error}")))?;
        let algorithm = self.algorithm();
        merkle::verify_consistency(
            algorithm,
            &proof,
            &TreeHead::new(old_size, old_verified.log_root.bytes),
            &TreeHead::new(new_size, new_verified.log_root.bytes),
        )
        .map_err(|error| inconsistent(format!("the consistency proof does not verify: {error}")))
    }
}

/// An error and its sources, on one line.
fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use evidence_contracts::error::TxError;

    use crate::RuleRefusal;

    use super::*;

    #[test]
    fn the_lineage_refusals_are_the_ledgers_codes() {
        let refusals = [
            TxError::VersionConflict {
                document_id: "DWG-1".into(),
                latest: 1,
                expected: 2,
                found: 1,
            },
            TxError::KindChanged {
                document_id: "DWG-1".into(),
                existing: "completion-drawing".into(),
                found: "inspection-report".into(),
            },
            TxError::PaymentRecordImmutable,
        ];
        let codes: Vec<&str> = refusals.iter().map(TxError::code).collect();
        assert_eq!(codes, LINEAGE_REFUSALS);
        for code in codes {
            let error = ClientError::Refused(RuleRefusal {
                code: Code::FailedPrecondition,
                reason: code.into(),
                message: String::new(),
            });
            assert!(is_lineage_refusal(&error), "{code}");
        }
        let other = ClientError::Refused(RuleRefusal {
            code: Code::FailedPrecondition,
            reason: "milestone-not-inspected".into(),
            message: String::new(),
        });
        assert!(!is_lineage_refusal(&other));
        assert!(!is_lineage_refusal(&ClientError::NoFilerKey));
    }
}
