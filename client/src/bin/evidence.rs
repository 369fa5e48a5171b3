//! `evidence`: notarize documents, verify them offline, look them up and audit the log.
//!
//! Exit codes: 0 success; 1 the ledger or the evidence says no (a refusal, an invalid receipt,
//! an inconsistent log, some documents not notarized); 2 the command could not run (bad
//! arguments, unreadable files, no node to talk to).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use evidence_client::{
    Client, ClientError, ClientOptions, DocumentMeta, DocumentSource, LookupQuery, StatusSubject,
    Supersession, TlsOptions, Version, VersionStatus, verify_file,
};
use evidence_core::checkpoint::{Checkpoint, VerifiedCheckpoint};
use evidence_core::digest::Digest;
use evidence_core::entry::{AnchorBody, Milestone, MilestoneClaim, Record};
use evidence_core::governance::{
    Change, FilerRegistration, FilerRevocation, GovernanceAction, Proposal, Vote,
};
use evidence_core::keys::{PublicKey, SignatureAlgorithm, SigningKey};
use evidence_core::receipt::{Receipt, Verdict};
use evidence_core::records::{ProjectRecord, StateKey};
use evidence_core::status::{
    ProvenFact, ProvenState, ProvenVersion, Record as StatusRecord, StatusProof,
    verify_status_proof,
};
use evidence_genesis::Genesis;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

/// Notarize documents on the consortium evidence ledger and verify them offline.
#[derive(Debug, Parser)]
#[command(
    name = "evidence",
    version,
    after_help = "Exit codes: 0 success; 1 the ledger or the evidence says no (a refusal, an \
                  invalid receipt, an inconsistent log, some documents not notarized); 2 the \
                  command could not run (bad arguments, unreadable files, no node to talk to)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per run; the filer commands hold public keys"
)]
enum Command {
    /// Generate a new key (a filer's, a governance or a validator key) in a file only its
    /// owner can read, of the algorithm the consortium's genesis suite signs with.
    Keygen {
        /// Where to write the key; an existing file is never overwritten.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The signature algorithm: ed25519 or sm2. Default: the one the genesis file's suite
        /// names, or ed25519 without a genesis file.
        #[arg(long, value_name = "ALGORITHM")]
        algorithm: Option<SignatureAlgorithm>,
        /// The consortium's genesis file, whose suite chooses the algorithm.
        #[arg(long, value_name = "FILE", env = "EVIDENCE_GENESIS")]
        genesis: Option<PathBuf>,
        /// Print one JSON object on standard output instead of text (exit codes unchanged).
        #[arg(long)]
        json: bool,
    },
    /// Anchor documents: hash each file locally, sign, submit, and save each verified receipt
    /// as FILE.receipt.json beside the file (or under --out).
    Notarize(NotarizeArgs),
    /// Register a project's contract value and payment milestones (registrar members only).
    RegisterProject(RegisterArgs),
    /// Verify a file against its receipt, offline: no network, only the genesis file (with
    /// --status, a status proof is fetched from a node first and verified offline the same way).
    Verify {
        /// The document.
        file: PathBuf,
        /// Its receipt (default: FILE.receipt.json).
        #[arg(long, value_name = "FILE")]
        receipt: Option<PathBuf>,
        /// The consortium's genesis file, the only thing trusted.
        #[arg(long, value_name = "FILE", env = "EVIDENCE_GENESIS")]
        genesis: PathBuf,
        /// Also prove the version's status (current, superseded or revoked) with this saved
        /// status proof, offline.
        #[arg(long, value_name = "FILE", conflicts_with = "fetch")]
        status_proof: Option<PathBuf>,
        #[command(flatten)]
        status: StatusFetchArgs,
        /// Print one JSON object on standard output instead of text (exit codes unchanged).
        #[arg(long)]
        json: bool,
    },
    /// Check a saved status proof offline and print what it proves: a document's status, a
    /// document never filed, a project's payments.
    StatusProof {
        /// The status proof file.
        file: PathBuf,
        /// The consortium's genesis file, the only thing trusted.
        #[arg(long, value_name = "FILE", env = "EVIDENCE_GENESIS")]
        genesis: PathBuf,
        /// Print one JSON object on standard output instead of text (exit codes unchanged).
        #[arg(long)]
        json: bool,
    },
    /// Prove a project's payments against its milestones (an auditor's check of 超付预警):
    /// the contract value, each milestone's amount, what has been paid and the room left, all
    /// proved under a certified checkpoint.
    Payments {
        #[command(flatten)]
        node: NodeArgs,
        /// The project id.
        #[arg(long, value_name = "ID")]
        project: String,
        /// Save the status proof here, to check again offline (evidence status-proof).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print one JSON object on standard output instead of text (exit codes unchanged).
        #[arg(long)]
        json: bool,
    },
    /// Look entries up by digest, document or project; every result's proof is checked.
    Lookup(LookupArgs),
    /// Check that the log only grew since the checkpoint saved in FILE, then save the latest.
    Audit {
        #[command(flatten)]
        node: NodeArgs,
        /// The saved checkpoint (created on the first run).
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        /// Print one JSON object on standard output instead of text (exit codes unchanged).
        #[arg(long)]
        json: bool,
    },
    /// The node's view of the chain.
    Status {
        #[command(flatten)]
        node: NodeArgs,
        /// Print one JSON object on standard output instead of text (exit codes unchanged).
        #[arg(long)]
        json: bool,
    },
    /// A member's filer keys on the ledger: register, revoke, rotate (signed with the
    /// member's governance key), and show one.
    #[command(subcommand)]
    Filer(FilerCommand),
    /// Decisions of the members together: propose changes to the consortium, vote, and show
    /// proposals and the configuration in force.
    #[command(subcommand)]
    Governance(GovernanceCommand),
}

#[derive(Debug, Subcommand)]
enum GovernanceCommand {
    /// Propose changes (read from a JSON file) with an expiry; proposing approves them. They
    /// take effect from the height after the approving members meet the threshold.
    Propose {
        #[command(flatten)]
        governance: GovernanceArgs,
        /// The proposal's id (never used twice on the chain).
        #[arg(long, value_name = "ID")]
        id: String,
        /// A JSON array of changes, each an object with a "type": add-member, remove-member,
        /// set-governance-keys, set-threshold, set-kind, remove-kind, set-project-registrars,
        /// set-limits (see the README).
        #[arg(long, value_name = "FILE")]
        changes: PathBuf,
        /// What it does and why, for the other members (kept on the ledger).
        #[arg(long, default_value = "")]
        summary: String,
        /// How long votes count, in hours from now.
        #[arg(long, value_name = "HOURS", default_value_t = 168)]
        expires_in_hours: u64,
    },
    /// Vote on an open proposal.
    Vote {
        #[command(flatten)]
        governance: GovernanceArgs,
        /// The proposal's id.
        #[arg(long, value_name = "ID")]
        id: String,
        /// Approve it.
        #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
        approve: bool,
        /// Reject it.
        #[arg(long)]
        reject: bool,
    },
    /// Show one proposal with its votes (each proved by its entry's receipt).
    Status {
        #[command(flatten)]
        node: NodeArgs,
        /// The proposal's id.
        #[arg(long, value_name = "ID")]
        id: String,
        /// Print one JSON object on standard output instead of text (exit codes unchanged).
        #[arg(long)]
        json: bool,
    },
    /// List the proposals (the node's report).
    List {
        #[command(flatten)]
        node: NodeArgs,
        /// Print one JSON object on standard output instead of text (exit codes unchanged).
        #[arg(long)]
        json: bool,
    },
    /// Show the configuration in force: members and governance keys, validators, policy,
    /// limits, threshold (the node's report).
    Configuration {
        #[command(flatten)]
        node: NodeArgs,
        /// Print one JSON object on standard output instead of text (exit codes unchanged).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per run; a rotation holds two public keys"
)]
enum FilerCommand {
    /// Register a filer key for one of the member's filing systems; it files from the next
    /// block on, only the kinds given, only from the source system given.
    Register {
        #[command(flatten)]
        governance: GovernanceArgs,
        #[command(flatten)]
        filer: NewFilerArgs,
    },
    /// Revoke one of the member's filer keys from a height on (default: at once). What it
    /// filed before stays valid.
    Revoke {
        #[command(flatten)]
        governance: GovernanceArgs,
        #[command(flatten)]
        revocation: RevocationArgs,
    },
    /// Revoke one of the member's filer keys and register its successor in one transaction.
    Rotate {
        #[command(flatten)]
        governance: GovernanceArgs,
        #[command(flatten)]
        revocation: RevocationArgs,
        #[command(flatten)]
        filer: NewFilerArgs,
    },
    /// List the filer keys, from genesis and registered on the ledger (the node's report; `show`
    /// proves one).
    List {
        #[command(flatten)]
        node: NodeArgs,
        /// Only this member's.
        #[arg(long, value_name = "MEMBER")]
        member: Option<String>,
        /// Print one JSON object on standard output instead of text (exit codes unchanged).
        #[arg(long)]
        json: bool,
    },
    /// Show a filer key as the ledger holds it, with the proofs of its registration and
    /// revocation.
    Show {
        #[command(flatten)]
        node: NodeArgs,
        /// The filer's public key (ed25519:HEX or sm2:HEX).
        #[arg(long, value_name = "KEY")]
        public_key: PublicKey,
        /// Print one JSON object on standard output instead of text (exit codes unchanged).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct GovernanceArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The member's governance key file (its member is the one whose genesis entry lists it).
    #[arg(long, value_name = "FILE", env = "EVIDENCE_GOVERNANCE_KEY")]
    governance_key: PathBuf,
    /// The member the key acts for: needed only for a key a proposal gave (one the genesis
    /// file does not list).
    #[arg(long, value_name = "MEMBER")]
    member: Option<String>,
    /// Print one JSON object on standard output instead of text (exit codes unchanged).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct NewFilerArgs {
    /// A name for people, e.g. bureau-site-scanner.
    #[arg(long)]
    name: String,
    /// The new filer's public key (ed25519:HEX or sm2:HEX), as `evidence keygen` prints it.
    #[arg(long = "public-key", value_name = "KEY")]
    public_key: PublicKey,
    /// A kind it may anchor (repeat for several; none: it may only revoke).
    #[arg(long = "kind", value_name = "KIND")]
    kinds: Vec<String>,
    /// The system it files from; its anchors must name exactly this.
    #[arg(long, value_name = "NAME")]
    source_system: String,
}

#[derive(Debug, Args)]
struct RevocationArgs {
    /// The filer key to revoke (ed25519:HEX).
    #[arg(long = "revoke", value_name = "KEY")]
    revoke: PublicKey,
    /// Why (kept on the ledger).
    #[arg(long)]
    reason: String,
    /// The first height at which the key may no longer file; may lie in the past (a key
    /// known to have leaked since then). Default: the node's next height.
    #[arg(long, value_name = "HEIGHT")]
    effective_height: Option<u64>,
}

#[derive(Debug, Args)]
struct NodeArgs {
    /// The node's gRPC endpoint, e.g. https://127.0.0.1:7101.
    #[arg(long, value_name = "URL", env = "EVIDENCE_NODE")]
    node: String,
    /// The consortium's genesis file: every answer of the node is verified against it, and
    /// its member CAs are the roots the node's TLS certificate is checked against.
    #[arg(long, value_name = "FILE", env = "EVIDENCE_GENESIS")]
    genesis: PathBuf,
    /// This caller's TLS certificate (PEM), issued by a member's CA with the caller's role
    /// (filer-system, auditor, court); the node's access rules read it. (Named --tls-cert
    /// because --key is the filer's signing key.)
    #[arg(long, value_name = "FILE", env = "EVIDENCE_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM, readable by its owner only).
    #[arg(long, value_name = "FILE", env = "EVIDENCE_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// More trusted CA certificates (PEM) besides the member CAs in the genesis file.
    #[arg(long, value_name = "FILE", env = "EVIDENCE_TLS_CA")]
    tls_ca: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct NotarizeArgs {
    /// The documents.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    node: NodeArgs,
    /// The filer key file.
    #[arg(long, value_name = "FILE", env = "EVIDENCE_KEY")]
    key: PathBuf,
    /// The document kind, e.g. completion-drawing, inspection-report, fund-transfer.
    #[arg(long)]
    kind: String,
    /// The project the documents belong to.
    #[arg(long, value_name = "ID")]
    project: String,
    /// The document id (one FILE only); default: the file's name.
    #[arg(long, value_name = "ID")]
    document_id: Option<String>,
    /// The system that captured the documents (default: the one a filer key registered on the
    /// ledger was registered for; for a genesis filer, evidence-cli).
    #[arg(long, value_name = "NAME")]
    source_system: Option<String>,
    /// The version to anchor (one FILE only); default: 1 for a new document id, else the next.
    #[arg(long, requires = "document_id")]
    version: Option<u32>,
    /// With --version > 1: the digest of the version it replaces (blake3:HEX).
    #[arg(long, value_name = "DIGEST", requires = "version")]
    supersedes: Option<String>,
    /// The project milestone an inspection report or fund transfer is about.
    #[arg(long, value_name = "ID")]
    milestone: Option<String>,
    /// A fund transfer's amount, in minor currency units (fen).
    #[arg(long, value_name = "N", requires = "milestone")]
    amount: Option<u64>,
    /// An inspection report's conclusion: the milestone passed.
    #[arg(long, requires = "milestone", conflicts_with_all = ["failed", "amount"])]
    passed: bool,
    /// An inspection report's conclusion: the milestone failed.
    #[arg(long, requires = "milestone", conflicts_with = "amount")]
    failed: bool,
    /// Write receipts under this directory instead of beside each file.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Documents per transaction (one filer signature each).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Batches in flight at once. Consensus commits a block per height, so one batch at a time
    /// leaves most of each height unused; several in flight share heights. Payments and
    /// inspection reports (--milestone) always go one batch at a time, in file order.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    concurrency: u32,
    /// Print one JSON object on standard output instead of text (exit codes unchanged).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RegisterArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The registrar's filer key file.
    #[arg(long, value_name = "FILE", env = "EVIDENCE_KEY")]
    key: PathBuf,
    /// The project's id, as filers will name it with --project.
    #[arg(long, value_name = "ID")]
    project: String,
    /// The contract's total value, in minor currency units (fen).
    #[arg(long, value_name = "N")]
    total: u64,
    /// A payment milestone and the most that may be paid against it: ID=AMOUNT (fen).
    #[arg(long = "milestone", value_name = "ID=AMOUNT", value_parser = parse_milestone, required = true)]
    milestones: Vec<Milestone>,
    /// Print one JSON object on standard output instead of text (exit codes unchanged).
    #[arg(long)]
    json: bool,
}

/// Fetching a status proof while verifying (`evidence verify --status`).
#[derive(Debug, Args)]
struct StatusFetchArgs {
    /// Fetch a status proof of the version from --node, verify it, and save it (default:
    /// FILE.status.json) so that it can be verified offline later with --status-proof.
    #[arg(long = "status", id = "fetch", requires = "status_node")]
    fetch: bool,
    /// The node to fetch the status proof from (with --status).
    #[arg(
        long = "node",
        id = "status_node",
        value_name = "URL",
        env = "EVIDENCE_NODE"
    )]
    node: Option<String>,
    /// This caller's TLS certificate (PEM), for --status.
    #[arg(long, value_name = "FILE", env = "EVIDENCE_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", env = "EVIDENCE_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// More trusted CA certificates (PEM) besides the member CAs in the genesis file.
    #[arg(long, value_name = "FILE", env = "EVIDENCE_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// Where to save the fetched status proof (default: FILE.status.json).
    #[arg(long, value_name = "FILE", requires = "fetch")]
    status_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("by").required(true).multiple(true).args(["digest", "document", "project"])))]
struct LookupArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// A document digest (blake3:HEX, or HEX).
    #[arg(long, conflicts_with_all = ["document", "project"])]
    digest: Option<String>,
    /// A document id; needs --project.
    #[arg(long, value_name = "ID", requires = "project")]
    document: Option<String>,
    /// A project id: its entries (or, with --document, that document's versions).
    #[arg(long, value_name = "ID")]
    project: Option<String>,
    /// With --document: the member whose document it is. The lookup then also proves the
    /// document's lineage head — or that the member never filed it — under a certified
    /// checkpoint.
    #[arg(long, value_name = "ID", requires = "document")]
    member: Option<String>,
    /// With --member: save the status proof of the lineage head here.
    #[arg(long, value_name = "FILE", requires = "member")]
    status_out: Option<PathBuf>,
    /// Results to show at most.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Print one JSON object on standard output instead of text (exit codes unchanged).
    #[arg(long)]
    json: bool,
}

fn parse_milestone(text: &str) -> Result<Milestone, String> {
    let (id, amount) = text
        .split_once('=')
        .ok_or_else(|| format!("expected ID=AMOUNT, got {text:?}"))?;
    if id.is_empty() {
        return Err(format!("the milestone id is empty in {text:?}"));
    }
    let amount_minor = amount
        .parse()
        .map_err(|_| format!("the amount {amount:?} is not a whole number of fen"))?;
    Ok(Milestone {
        id: id.to_owned(),
        amount_minor,
    })
}

/// A failure of a command, and its exit code.
#[derive(Debug)]
enum Failure {
    /// The ledger or the evidence said no: exit 1.
    No(String),
    /// The command could not run: exit 2.
    Cannot(String),
}

impl Failure {
    fn from_client(error: ClientError) -> Self {
        match &error {
            ClientError::Refused(_)
            | ClientError::Unverified(_)
            | ClientError::Inconsistent { .. } => Self::No(error.to_string()),
            _ => Self::Cannot(error.to_string()),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let json = match &cli.command {
        Command::Keygen { json, .. }
        | Command::Verify { json, .. }
        | Command::StatusProof { json, .. }
        | Command::Payments { json, .. }
        | Command::Audit { json, .. }
        | Command::Status { json, .. } => *json,
        Command::Notarize(args) => args.json,
        Command::RegisterProject(args) => args.json,
        Command::Lookup(args) => args.json,
        Command::Filer(
            FilerCommand::Register { governance, .. }
            | FilerCommand::Revoke { governance, .. }
            | FilerCommand::Rotate { governance, .. },
        ) => governance.json,
        Command::Filer(FilerCommand::Show { json, .. } | FilerCommand::List { json, .. }) => *json,
        Command::Governance(
            GovernanceCommand::Propose { governance, .. }
            | GovernanceCommand::Vote { governance, .. },
        ) => governance.json,
        Command::Governance(
            GovernanceCommand::Status { json, .. }
            | GovernanceCommand::List { json, .. }
            | GovernanceCommand::Configuration { json, .. },
        ) => *json,
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(failure) => {
            let (code, message) = match failure {
                Failure::No(message) => (1, message),
                Failure::Cannot(message) => (2, message),
            };
            if json {
                println!("{}", json!({ "ok": false, "error": message }));
            } else {
                eprintln!("error: {message}");
            }
            ExitCode::from(code)
        }
    }
}

async fn run(command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Keygen {
            out,
            algorithm,
            genesis,
            json,
        } => keygen(&out, algorithm, genesis.as_deref(), json),
        Command::Notarize(args) => notarize(args).await,
        Command::RegisterProject(args) => register(args).await,
        Command::Verify {
            file,
            receipt,
            genesis,
            status_proof,
            status,
            json,
        } => verify(&file, receipt, &genesis, status_proof, &status, json).await,
        Command::StatusProof {
            file,
            genesis,
            json,
        } => status_proof_file(&file, &genesis, json),
        Command::Payments {
            node,
            project,
            out,
            json,
        } => payments(&node, &project, out.as_deref(), json).await,
        Command::Lookup(args) => lookup(args).await,
        Command::Audit {
            node,
            checkpoint,
            json,
        } => audit(&node, &checkpoint, json).await,
        Command::Status { node, json } => status(&node, json).await,
        Command::Filer(command) => filer(command).await,
        Command::Governance(command) => governance(command).await,
    }
}

fn load_genesis(path: &Path) -> Result<Genesis, Failure> {
    Genesis::load(path)
        .map_err(|error| Failure::Cannot(format!("genesis {}: {error}", path.display())))
}

fn load_key(path: &Path) -> Result<SigningKey, Failure> {
    evidence_genesis::read_key_file(path).map_err(|error| Failure::Cannot(error.to_string()))
}

async fn connect(node: &NodeArgs, key: Option<&Path>) -> Result<Client, Failure> {
    let genesis = load_genesis(&node.genesis)?;
    let key = key.map(load_key).transpose()?;
    let tls = TlsOptions::from_files(
        node.tls_cert.as_deref(),
        node.tls_key.as_deref(),
        node.tls_ca.as_deref(),
    )
    .map_err(|error| Failure::Cannot(error.to_string()))?;
    let options = ClientOptions {
        tls,
        ..ClientOptions::default()
    };
    Client::connect_with(&node.node, key, genesis, options)
        .await
        .map_err(Failure::from_client)
}

fn keygen(
    out: &Path,
    algorithm: Option<SignatureAlgorithm>,
    genesis: Option<&Path>,
    json: bool,
) -> Result<ExitCode, Failure> {
    let suite = genesis
        .map(load_genesis)
        .transpose()?
        .map(|genesis| genesis.suite.signature);
    let algorithm = match (algorithm, suite) {
        (Some(asked), Some(chain)) if asked != chain => {
            return Err(Failure::Cannot(format!(
                "--algorithm {asked}: the genesis file's chain signs with {chain}, so a key of \
                 another algorithm could never be registered there"
            )));
        }
        (Some(asked), _) => asked,
        (None, Some(chain)) => chain,
        (None, None) => SignatureAlgorithm::Ed25519,
    };
    let key = SigningKey::generate_for(algorithm);
    evidence_genesis::write_key_file(out, &key)
        .map_err(|error| Failure::Cannot(error.to_string()))?;
    let public = key.public_key();
    if json {
        println!(
            "{}",
            json!({ "ok": true, "key_file": out, "public_key": public.to_string() })
        );
    } else {
        println!("wrote {} (readable by its owner only)", out.display());
        println!("public key: {public}");
        println!(
            "A member registers this public key as its filer with its governance key \
             (evidence filer register), or lists it in a new consortium's genesis file."
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_digest(text: &str, genesis: &Genesis) -> Result<Digest, Failure> {
    let full = if text.contains(':') {
        text.to_owned()
    } else {
        format!("{}:{text}", genesis.suite.digest.name())
    };
    full.parse()
        .map_err(|error| Failure::Cannot(format!("--digest {text:?}: {error}")))
}

/// One file's outcome.
struct Outcome {
    file: PathBuf,
    result: Result<(PathBuf, Receipt), (String, Option<String>)>,
}

/// Notarizes one batch of files and saves their receipts. A refusal fails a whole
/// transaction, so the documents of a refused transaction are filed again one at a time: each
/// refused document is named and the others still go in. (Filing again is safe: a document
/// already anchored is answered with its receipt, not anchored twice.)
async fn notarize_file_batch(
    client: &Client,
    batch: &[(PathBuf, PathBuf, DocumentMeta)],
    progress: &ProgressBar,
) -> Vec<Outcome> {
    let documents = batch
        .iter()
        .map(|(file, _, meta)| (DocumentSource::File(file.clone()), meta.clone()))
        .collect();
    let (receipts, error): (Vec<Option<Receipt>>, Option<ClientError>) =
        match client.notarize_batch(documents).await {
            Ok(receipts) => (receipts.into_iter().map(Some).collect(), None),
            Err(ClientError::PartlyNotarized { receipts, error }) => (receipts, Some(*error)),
            Err(error) => (batch.iter().map(|_| None).collect(), Some(error)),
        };
    let refile = matches!(error, Some(ClientError::Refused(_))) && batch.len() > 1;
    let mut outcomes = Vec::with_capacity(batch.len());
    for ((file, target, meta), receipt) in batch.iter().zip(receipts) {
        let outcome = match (receipt, &error) {
            (Some(receipt), _) => save_receipt(file, target, receipt),
            (None, _) if refile => match client.notarize(file.clone(), meta.clone()).await {
                Ok(receipt) => save_receipt(file, target, receipt),
                Err(error) => Outcome {
                    file: file.clone(),
                    result: Err((error.to_string(), error.reason().map(str::to_owned))),
                },
            },
            (None, error) => Outcome {
                file: file.clone(),
                result: Err(match error {
                    Some(error) => (error.to_string(), error.reason().map(str::to_owned)),
                    None => ("no receipt came back for it".to_owned(), None),
                }),
            },
        };
        outcomes.push(outcome);
    }
    progress.inc(batch.len() as u64);
    outcomes
}

fn receipt_path(file: &Path, out: Option<&Path>) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".receipt.json");
    match out {
        Some(dir) => dir.join(name),
        None => file.with_file_name(name),
    }
}

/// Whether [`write_atomically`] may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existing {
    Keep,
    Replace,
}

/// Writes `text` to `path`: all of it or nothing (written beside it, synced, then moved into
/// place). With [`Existing::Keep`] it is linked into place instead, which fails if `path`
/// exists, so no other file is ever overwritten.
fn write_atomically(path: &Path, text: &str, existing: Existing) -> std::io::Result<()> {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".{}.tmp", std::process::id()));
    let temporary = path.with_file_name(name);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.sync_all()?;
        match existing {
            Existing::Keep => std::fs::hard_link(&temporary, path),
            Existing::Replace => std::fs::rename(&temporary, path),
        }
    })();
    let _ = std::fs::remove_file(&temporary);
    written?;
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        // Best effort: the link survives a crash once its directory is synced.
        let _ = std::fs::File::open(dir).and_then(|dir| dir.sync_all());
    }
    Ok(())
}

async fn notarize(args: NotarizeArgs) -> Result<ExitCode, Failure> {
    if args.files.len() > 1 && args.document_id.is_some() {
        return Err(Failure::Cannot(
            "--document-id names one document: give one FILE, or leave it out to use each \
             file's name"
                .into(),
        ));
    }
    let claim = match (&args.milestone, args.amount, args.passed, args.failed) {
        (None, ..) => None,
        (Some(milestone), Some(amount_minor), false, false) => Some(MilestoneClaim::Payment {
            milestone: milestone.clone(),
            amount_minor,
        }),
        (Some(milestone), None, passed, failed) if passed != failed => {
            Some(MilestoneClaim::Inspection {
                milestone: milestone.clone(),
                passed,
            })
        }
        (Some(_), ..) => {
            return Err(Failure::Cannot(
                "--milestone needs --amount N (a fund transfer) or --passed / --failed (an \
                 inspection report)"
                    .into(),
            ));
        }
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|error| {
            Failure::Cannot(format!("cannot create {}: {error}", dir.display()))
        })?;
    }
    let client = connect(&args.node, Some(&args.key)).await?;
    let source_system = args
        .source_system
        .clone()
        .or_else(|| client.filer_source_system().map(str::to_owned))
        .unwrap_or_else(|| "evidence-cli".to_owned());
    let version = match args.version {
        None => Version::Next,
        Some(version) => Version::Exact {
            version,
            supersedes: args
                .supersedes
                .as_deref()
                .map(|text| parse_digest(text, client.genesis()))
                .transpose()?,
        },
    };

    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut pending: Vec<(PathBuf, PathBuf, DocumentMeta)> = Vec::new();
    // Which file each receipt path and each document id was taken by.
    let mut targets: HashMap<PathBuf, &Path> = HashMap::new();
    let mut ids: HashMap<String, &Path> = HashMap::new();
    for file in &args.files {
        let target = receipt_path(file, args.out.as_deref());
        let document_id = args.document_id.clone().unwrap_or_else(|| {
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let refusal = if !file.is_file() {
            Some(format!("{} is not a readable file", file.display()))
        } else if let Err(error) = std::fs::File::open(file) {
            Some(format!("cannot read {}: {error}", file.display()))
        } else if target.exists() {
            Some(format!(
                "{} already exists; move it away or choose --out, so no receipt is overwritten",
                target.display()
            ))
        } else if let Some(other) = targets.get(&target) {
            Some(format!(
                "its receipt would be {}, like that of {}: give each file its own name",
                target.display(),
                other.display()
            ))
        } else {
            ids.get(&document_id).map(|other| {
                format!(
                    "its document id {document_id:?} (its file name) is also that of {}: file \
                     them in separate commands, or name each with --document-id",
                    other.display()
                )
            })
        };
        if let Some(message) = refusal {
            outcomes.push(Outcome {
                file: file.clone(),
                result: Err((message, None)),
            });
            continue;
        }
        targets.insert(target.clone(), file);
        ids.insert(document_id.clone(), file);
        let mut meta = DocumentMeta::new(&args.kind, &args.project, document_id, &source_system);
        meta.version = version;
        meta.claim = claim.clone();
        pending.push((file.clone(), target, meta));
    }

    let progress = if args.json {
        ProgressBar::hidden()
    } else {
        let bar =
            ProgressBar::with_draw_target(Some(pending.len() as u64), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} notarizing [{bar:30}] {pos}/{len} documents ({per_sec}, {elapsed})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    };
    // Payments are checked against what was paid before them: keep them in file order.
    let concurrency = if claim.is_none() {
        args.concurrency as usize
    } else {
        1
    };
    let batches: Vec<Vec<Outcome>> =
        futures_util::stream::iter(pending.chunks(args.batch_size as usize))
            .map(|batch| notarize_file_batch(&client, batch, &progress))
            .buffered(concurrency)
            .collect()
            .await;
    outcomes.extend(batches.into_iter().flatten());
    progress.finish_and_clear();

    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    if args.json {
        let results: Vec<Value> = outcomes
            .iter()
            .map(|outcome| match &outcome.result {
                Ok((path, receipt)) => {
                    let anchor = receipt.entry.anchor().map(|d| &d.body);
                    json!({
                        "file": outcome.file,
                        "ok": true,
                        "receipt": path,
                        "digest": anchor.map(|a| a.digest.to_string()),
                        "document_id": anchor.map(|a| a.document_id.clone()),
                        "document_version": anchor.map(|a| a.document_version),
                        "entry_index": receipt.entry.index,
                        "height": receipt.checkpoint.header.height,
                    })
                }
                Err((message, reason)) => json!({
                    "file": outcome.file,
                    "ok": false,
                    "error": message,
                    "reason": reason,
                }),
            })
            .collect();
        println!(
            "{}",
            json!({ "ok": failed == 0, "notarized": outcomes.len() - failed, "failed": failed, "results": results })
        );
    } else {
        for outcome in &outcomes {
            match &outcome.result {
                Ok((path, receipt)) => {
                    let version = receipt
                        .entry
                        .anchor()
                        .map_or(0, |d| d.body.document_version);
                    println!(
                        "notarized {} (version {version}) as entry {} at height {} -> {}",
                        outcome.file.display(),
                        receipt.entry.index,
                        receipt.checkpoint.header.height,
                        path.display()
                    );
                }
                Err((message, _)) => {
                    println!("FAILED    {}: {message}", outcome.file.display());
                }
            }
        }
        println!(
            "{} of {} documents notarized{}",
            outcomes.len() - failed,
            outcomes.len(),
            if failed == 0 {
                ""
            } else {
                "; see FAILED lines above"
            }
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn save_receipt(file: &Path, target: &Path, receipt: Receipt) -> Outcome {
    match write_atomically(target, &receipt.to_json(), Existing::Keep) {
        Ok(()) => Outcome {
            file: file.to_owned(),
            result: Ok((target.to_owned(), receipt)),
        },
        Err(error) => Outcome {
            file: file.to_owned(),
            result: Err((
                format!(
                    "anchored as entry {}, but its receipt could not be written to {}: {error}; \
                     fetch it again by digest",
                    receipt.entry.index,
                    target.display()
                ),
                None,
            )),
        },
    }
}

async fn register(args: RegisterArgs) -> Result<ExitCode, Failure> {
    let client = connect(&args.node, Some(&args.key)).await?;
    let receipt = client
        .register_project(&args.project, args.total, args.milestones.clone())
        .await
        .map_err(Failure::from_client)?;
    if args.json {
        println!(
            "{}",
            json!({
                "ok": true,
                "project_id": args.project,
                "entry_index": receipt.entry.index,
                "height": receipt.checkpoint.header.height,
                "receipt": serde_json::from_str::<Value>(&receipt.to_json()).unwrap_or(Value::Null),
            })
        );
    } else {
        println!(
            "registered project {} (contract value {} fen, {} milestones) as entry {} at height {}",
            args.project,
            args.total,
            args.milestones.len(),
            receipt.entry.index,
            receipt.checkpoint.header.height
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `YYYY-MM-DD HH:MM:SS.mmm UTC` for Unix milliseconds.
/// Now, in Unix milliseconds.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn utc(ms: u64) -> String {
    let seconds = ms / 1000;
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        ms % 1000
    )
}

fn member_name(genesis: &Genesis, member: &str) -> String {
    genesis
        .member(member)
        .map_or_else(|| member.to_owned(), |m| format!("{member} — {}", m.name))
}

fn signer_members(genesis: &Genesis, verdict: &Verdict) -> Vec<String> {
    verdict
        .signers
        .iter()
        .map(|key| {
            genesis
                .validators
                .iter()
                .find(|v| v.public_key == *key)
                .map_or_else(
                    || format!("validator {key} (added since genesis)"),
                    |v| v.member.clone(),
                )
        })
        .collect()
}

fn claim_text(claim: &MilestoneClaim) -> String {
    match claim {
        MilestoneClaim::Inspection { milestone, passed } => format!(
            "inspection of milestone {milestone}: {}",
            if *passed { "passed" } else { "failed" }
        ),
        MilestoneClaim::Payment {
            milestone,
            amount_minor,
        } => format!("payment of {amount_minor} fen for milestone {milestone}"),
    }
}

fn verdict_json(genesis: &Genesis, file: &Path, verdict: &Verdict) -> Value {
    let a = &verdict.anchor;
    json!({
        "ok": true,
        "valid": true,
        "file": file,
        "digest": a.digest.to_string(),
        "kind": a.kind,
        "project_id": a.project_id,
        "document_id": a.document_id,
        "document_version": a.document_version,
        "supersedes": a.supersedes.map(|d| d.to_string()),
        "claim": a.claim,
        "member": a.member,
        "filer": a.filer.to_string(),
        "filer_name": genesis
            .filer(&a.filer)
            .map(|f| f.name.clone())
            .or_else(|| verdict.registration.as_ref().map(|r| r.name.clone())),
        "filer_registration": verdict.registration.as_ref().map(|r| json!({
            "entry_index": r.entry_index,
            "height": r.height,
            "name": r.name,
        })),
        "filer_revocation": verdict.revocation.as_ref().map(|r| json!({
            "entry_index": r.entry_index,
            "height": r.height,
            "effective_height": r.effective_height,
            "reason": r.reason,
        })),
        "source_system": a.source_system,
        "captured_at_ms": a.captured_at_ms,
        "entry_index": verdict.entry_index,
        "sequenced_height": verdict.sequenced_height,
        "sequenced_at_ms": verdict.sequenced_at_ms,
        "checkpoint_height": verdict.checkpoint.height,
        "checkpoint_log_size": verdict.checkpoint.log_size,
        "signed_power": verdict.checkpoint.signed_power,
        "total_power": verdict.checkpoint.total_power,
        "signers": signer_members(genesis, verdict),
        "validator_set": verdict.validator_set.to_string(),
        "handoff_heights": verdict.handoff_heights,
        "chain_id": genesis.chain_id,
        "genesis_hash": genesis.hash().to_string(),
    })
}

fn print_verdict(genesis: &Genesis, file: &Path, verdict: &Verdict) {
    let a = &verdict.anchor;
    println!("VALID: this file is the document the receipt anchors on the ledger.");
    println!("  Document:        {} ({})", file.display(), a.digest);
    println!("  Kind:            {}", a.kind);
    println!("  Project:         {}", a.project_id);
    match a.supersedes {
        Some(previous) => println!(
            "  Document id:     {}, version {} (replaces the version with digest {previous})",
            a.document_id, a.document_version
        ),
        None => println!(
            "  Document id:     {}, version {}",
            a.document_id, a.document_version
        ),
    }
    if let Some(claim) = &a.claim {
        println!("  Milestone:       {}", claim_text(claim));
    }
    let filer = genesis
        .filer(&a.filer)
        .map(|f| f.name.clone())
        .or_else(|| verdict.registration.as_ref().map(|r| r.name.clone()))
        .map_or_else(String::new, |name| format!("{name} "));
    println!("  Filed by:        {filer}(key {})", a.filer);
    match &verdict.registration {
        None => println!("  Filer key:       in the genesis file"),
        Some(r) => println!(
            "  Filer key:       registered by its member on the ledger at height {} (entry {}), \
             before this filing",
            r.height, r.entry_index
        ),
    }
    if let Some(r) = &verdict.revocation {
        println!(
            "  Filer revoked:   from height {} ({}), after this filing: it was filed while the \
             key was valid",
            r.effective_height, r.reason
        );
    }
    println!("  For member:      {}", member_name(genesis, &a.member));
    println!("  Source system:   {}", a.source_system);
    println!(
        "  Captured at:     {} (as stated and signed by the filer)",
        utc(a.captured_at_ms)
    );
    println!(
        "  On the ledger:   entry {} at height {}, {} (the block's time, as the validators \
         certified it: each checked it against its own clock)",
        verdict.entry_index,
        verdict.sequenced_height,
        utc(verdict.sequenced_at_ms)
    );
    println!(
        "  Certified by:    {} (voting power {} of {}) at height {}",
        signer_members(genesis, verdict).join(", "),
        verdict.checkpoint.signed_power,
        verdict.checkpoint.total_power,
        verdict.checkpoint.height
    );
    if verdict.handoff_heights.is_empty() {
        println!("  Validator set:   the genesis set");
    } else {
        let heights: Vec<String> = verdict
            .handoff_heights
            .iter()
            .map(ToString::to_string)
            .collect();
        println!(
            "  Validator set:   {} (the genesis set handed off by the members' decisions at \
             height{} {}, each certified by the set before it)",
            verdict.validator_set,
            if heights.len() == 1 { "" } else { "s" },
            heights.join(", ")
        );
    }
    println!(
        "  Consortium:      chain {}, genesis {}",
        genesis.chain_id,
        genesis.hash()
    );
}

async fn verify(
    file: &Path,
    receipt: Option<PathBuf>,
    genesis_path: &Path,
    status_proof: Option<PathBuf>,
    fetch: &StatusFetchArgs,
    json: bool,
) -> Result<ExitCode, Failure> {
    let genesis = load_genesis(genesis_path)?;
    let receipt_path = receipt.unwrap_or_else(|| receipt_path(file, None));
    let text = std::fs::read_to_string(&receipt_path).map_err(|error| {
        Failure::Cannot(format!("cannot read {}: {error}", receipt_path.display()))
    })?;
    let outcome = Receipt::from_json(&text)
        .map_err(|error| {
            (
                format!("the receipt file is not a valid receipt: {error}"),
                error.code(),
            )
        })
        .and_then(|receipt| {
            verify_file(file, &receipt, &genesis).map_err(|error| match error {
                evidence_client::VerifyFileError::Invalid(error) => {
                    (error.to_string(), error.code())
                }
                other => (other.to_string(), "unreadable"),
            })
        });
    let verdict = match outcome {
        Ok(verdict) => verdict,
        Err((message, "unreadable")) => return Err(Failure::Cannot(message)),
        Err((message, code)) => {
            if json {
                println!(
                    "{}",
                    json!({ "ok": false, "valid": false, "file": file, "check": code, "error": message })
                );
            } else {
                println!("INVALID: the receipt does not prove that this file was anchored.");
                println!("  File:            {}", file.display());
                println!("  Receipt:         {}", receipt_path.display());
                println!("  Failed check:    {code}");
                println!("  Reason:          {message}");
            }
            return Ok(ExitCode::from(1));
        }
    };

    // The status proof: a saved one, or one fetched now and saved beside the file.
    let status = match (&status_proof, fetch.fetch) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|error| {
                Failure::Cannot(format!("cannot read {}: {error}", path.display()))
            })?;
            Some((StatusProof::from_json(&text), path.clone()))
        }
        (None, true) => {
            let node = NodeArgs {
                node: fetch.node.clone().unwrap_or_default(),
                genesis: genesis_path.to_owned(),
                tls_cert: fetch.tls_cert.clone(),
                tls_key: fetch.tls_key.clone(),
                tls_ca: fetch.tls_ca.clone(),
            };
            let client = connect(&node, None).await?;
            let fetched = client
                .status_proof(&version_subject(&verdict.anchor))
                .await
                .map_err(Failure::from_client)?;
            let out = fetch
                .status_out
                .clone()
                .unwrap_or_else(|| status_proof_path(file));
            write_atomically(&out, &fetched.proof.to_json(), Existing::Replace).map_err(
                |error| Failure::Cannot(format!("cannot write {}: {error}", out.display())),
            )?;
            Some((Ok(fetched.proof), out))
        }
        (None, false) => None,
    };
    let proven = match &status {
        None => None,
        Some((proof, path)) => {
            let anchor = genesis
                .trust_anchor()
                .map_err(|error| Failure::Cannot(format!("genesis: {error}")))?;
            match proof
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|proof| verify_status_proof(proof, &anchor))
                .and_then(|state| state.receipt_status(&verdict).map(|v| (state, v)))
            {
                Ok(proven) => Some((proven, path)),
                Err(error) => {
                    if json {
                        println!(
                            "{}",
                            json!({
                                "ok": false,
                                "valid": true,
                                "status_valid": false,
                                "file": file,
                                "status_proof": path,
                                "check": error.code(),
                                "error": error.to_string(),
                            })
                        );
                    } else {
                        print_verdict(&genesis, file, &verdict);
                        println!(
                            "INVALID STATUS: the status proof does not prove this version's \
                             status."
                        );
                        println!("  Status proof:    {}", path.display());
                        println!("  Failed check:    {}", error.code());
                        println!("  Reason:          {error}");
                    }
                    return Ok(ExitCode::from(1));
                }
            }
        }
    };
    if json {
        let mut value = verdict_json(&genesis, file, &verdict);
        if let Some(((state, version), path)) = &proven {
            value["status"] = version_status_json(version, state);
            value["status_proof"] = json!(path);
        }
        println!("{value}");
    } else {
        print_verdict(&genesis, file, &verdict);
        if let Some(((state, version), path)) = &proven {
            println!(
                "  Status:          valid; {}",
                proven_status_text(version, state)
            );
            println!(
                "                   (proved under the checkpoint at height {}, by the status \
                 proof {})",
                state.checkpoint.height,
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The status-proof subject of the version an anchor filed.
fn version_subject(body: &AnchorBody) -> StatusSubject {
    StatusSubject::Document {
        member: body.member.clone(),
        project_id: body.project_id.clone(),
        document_id: body.document_id.clone(),
        version: Some(body.document_version),
    }
}

/// FILE.status.json beside the document.
fn status_proof_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".status.json");
    file.with_file_name(name)
}

/// A proved version status in words: revoked (and superseded, when both), superseded, or
/// current as of the checkpoint.
fn proven_status_text(version: &ProvenVersion, state: &ProvenState) -> String {
    let record = &version.record;
    let superseded = record.superseded_by.as_ref().map(|next| {
        format!(
            "superseded by version {} ({}) at height {}",
            next.version, next.digest, next.height
        )
    });
    match (&record.revocation, superseded) {
        (Some(revocation), superseded) => {
            let mut text = format!(
                "revoked at height {}: {}",
                revocation.height, revocation.reason
            );
            if let Some(superseded) = superseded {
                text.push_str("; ");
                text.push_str(&superseded);
            }
            text
        }
        (None, Some(superseded)) => superseded,
        (None, None) => format!(
            "current version as of height {} ({})",
            state.checkpoint.height,
            utc(state.checkpoint.time_ms)
        ),
    }
}

fn version_status_json(version: &ProvenVersion, state: &ProvenState) -> Value {
    let record = &version.record;
    let kind = if record.revocation.is_some() {
        "revoked"
    } else if record.superseded_by.is_some() {
        "superseded"
    } else {
        "current"
    };
    json!({
        "status": kind,
        "version": version.version,
        "digest": record.digest.to_string(),
        "latest_version": version.latest_version,
        "latest_digest": version.latest_digest.to_string(),
        "superseded_by": record.superseded_by.as_ref().map(|next| json!({
            "version": next.version,
            "digest": next.digest.to_string(),
            "height": next.height,
        })),
        "revocation": record.revocation.as_ref().map(|r| json!({
            "reason": r.reason,
            "entry_index": r.entry_index,
            "height": r.height,
        })),
        "proved_at_height": state.checkpoint.height,
        "proved_at_ms": state.checkpoint.time_ms,
    })
}

fn project_json(project_id: &str, record: Option<&ProjectRecord>) -> Value {
    match record {
        None => json!({ "project_id": project_id, "registered": false }),
        Some(record) => json!({
            "project_id": project_id,
            "registered": true,
            "registrar_member": record.registrar_member,
            "total_value_minor": record.total_value_minor,
            "paid_minor": record.paid_minor,
            "room_minor": record.total_value_minor.saturating_sub(record.paid_minor),
            "milestones": record.milestones.iter().map(|m| json!({
                "id": m.id,
                "amount_minor": m.amount_minor,
                "paid_minor": m.paid_minor,
                "room_minor": m.amount_minor.saturating_sub(m.paid_minor),
            })).collect::<Vec<_>>(),
        }),
    }
}

fn print_project(project_id: &str, record: Option<&ProjectRecord>, height: u64) {
    let Some(record) = record else {
        println!("Project {project_id}: not registered as of height {height} (proved).");
        return;
    };
    println!(
        "Project {project_id} (registered by {}), proved as of height {height}:",
        record.registrar_member
    );
    println!(
        "  Contract value {} fen, paid {} fen, room left {} fen",
        record.total_value_minor,
        record.paid_minor,
        record.total_value_minor.saturating_sub(record.paid_minor)
    );
    for m in &record.milestones {
        println!(
            "  milestone {:<16} amount {:>14} fen  paid {:>14} fen  room left {:>14} fen",
            m.id,
            m.amount_minor,
            m.paid_minor,
            m.amount_minor.saturating_sub(m.paid_minor)
        );
    }
    println!(
        "  (No committed state pays a milestone beyond its amount or the project beyond its \
         value: the contract refuses such a payment, milestone-overpayment or \
         contract-overpayment.)"
    );
}

/// What a proved fact says, in words.
fn fact_text(fact: &ProvenFact, state: &ProvenState) -> String {
    let height = state.checkpoint.height;
    match (&fact.key, &fact.record) {
        (
            StateKey::Document {
                member,
                project_id,
                document_id,
            },
            None,
        ) => format!(
            "document {document_id} of project {project_id}: never filed by {member} as of \
             height {height}"
        ),
        (
            StateKey::Document {
                member,
                project_id,
                document_id,
            },
            Some(StatusRecord::Document(record)),
        ) => {
            let latest = ProvenVersion {
                version: record.latest_version,
                record: record.latest.clone(),
                latest_version: record.latest_version,
                latest_digest: record.latest_digest(),
            };
            format!(
                "document {document_id} of project {project_id} by {member} ({}): latest \
                 version {} ({}), {}",
                record.kind,
                record.latest_version,
                record.latest_digest(),
                proven_status_text(&latest, state)
            )
        }
        (
            StateKey::Version {
                document_id,
                version,
                ..
            },
            None,
        ) => format!(
            "version {version} of {document_id}: no record of its own as of height {height} \
             (the latest version's record is the document's, and a later one does not exist)"
        ),
        (
            StateKey::Version {
                document_id,
                version,
                ..
            },
            Some(StatusRecord::Version(record)),
        ) => {
            let proven = ProvenVersion {
                version: *version,
                record: record.clone(),
                latest_version: 0,
                latest_digest: record.digest,
            };
            format!(
                "version {version} of {document_id} ({}): {}",
                record.digest,
                proven_status_text(&proven, state)
            )
        }
        (StateKey::Project { project_id }, None) => {
            format!("project {project_id}: not registered as of height {height}")
        }
        (StateKey::Project { project_id }, Some(StatusRecord::Project(record))) => format!(
            "project {project_id}: contract value {} fen, paid {} fen over {} milestones",
            record.total_value_minor,
            record.paid_minor,
            record.milestones.len()
        ),
        (_, Some(_)) => unreachable!("a key's record is of the key's kind"),
    }
}

fn fact_json(fact: &ProvenFact) -> Value {
    let key = match &fact.key {
        StateKey::Document {
            member,
            project_id,
            document_id,
        } => {
            json!({ "kind": "document", "member": member, "project_id": project_id, "document_id": document_id })
        }
        StateKey::Version {
            member,
            project_id,
            document_id,
            version,
        } => {
            json!({ "kind": "version", "member": member, "project_id": project_id, "document_id": document_id, "version": version })
        }
        StateKey::Project { project_id } => json!({ "kind": "project", "project_id": project_id }),
    };
    let record = match &fact.record {
        None => Value::Null,
        Some(StatusRecord::Document(d)) => json!({
            "kind": d.kind,
            "member": d.member,
            "latest_version": d.latest_version,
            "latest_digest": d.latest_digest().to_string(),
            "latest_superseded": d.latest.superseded_by.is_some(),
            "latest_revocation": d.latest.revocation.as_ref().map(|r| json!({
                "reason": r.reason, "entry_index": r.entry_index, "height": r.height,
            })),
        }),
        Some(StatusRecord::Version(v)) => json!({
            "digest": v.digest.to_string(),
            "entry_index": v.entry_index,
            "height": v.height,
            "superseded_by": v.superseded_by.as_ref().map(|n| json!({
                "version": n.version, "digest": n.digest.to_string(), "height": n.height,
            })),
            "revocation": v.revocation.as_ref().map(|r| json!({
                "reason": r.reason, "entry_index": r.entry_index, "height": r.height,
            })),
        }),
        Some(StatusRecord::Project(p)) => {
            let StateKey::Project { project_id } = &fact.key else {
                unreachable!("a project record is under a project key")
            };
            project_json(project_id, Some(p))
        }
    };
    json!({ "key": key, "present": fact.record.is_some(), "record": record })
}

fn status_proof_file(path: &Path, genesis_path: &Path, json: bool) -> Result<ExitCode, Failure> {
    let genesis = load_genesis(genesis_path)?;
    let anchor = genesis
        .trust_anchor()
        .map_err(|error| Failure::Cannot(format!("genesis: {error}")))?;
    let text = std::fs::read_to_string(path)
        .map_err(|error| Failure::Cannot(format!("cannot read {}: {error}", path.display())))?;
    let verified =
        StatusProof::from_json(&text).and_then(|proof| verify_status_proof(&proof, &anchor));
    match verified {
        Err(error) => {
            if json {
                println!(
                    "{}",
                    json!({ "ok": false, "valid": false, "status_proof": path, "check": error.code(), "error": error.to_string() })
                );
            } else {
                println!("INVALID: the status proof proves nothing.");
                println!("  Status proof:    {}", path.display());
                println!("  Failed check:    {}", error.code());
                println!("  Reason:          {error}");
            }
            Ok(ExitCode::from(1))
        }
        Ok(state) => {
            if json {
                println!(
                    "{}",
                    json!({
                        "ok": true,
                        "valid": true,
                        "status_proof": path,
                        "checkpoint": checkpoint_json(&state.checkpoint),
                        "handoff_heights": state.handoff_heights,
                        "facts": state.facts.iter().map(fact_json).collect::<Vec<_>>(),
                    })
                );
            } else {
                println!(
                    "VALID: the status proof holds under the checkpoint at height {} ({}), \
                     certified by voting power {} of {}.",
                    state.checkpoint.height,
                    utc(state.checkpoint.time_ms),
                    state.checkpoint.signed_power,
                    state.checkpoint.total_power
                );
                for fact in &state.facts {
                    match (&fact.key, &fact.record) {
                        (StateKey::Project { project_id }, Some(StatusRecord::Project(p))) => {
                            print_project(project_id, Some(p), state.checkpoint.height);
                        }
                        _ => println!("  {}", fact_text(fact, &state)),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn payments(
    node: &NodeArgs,
    project_id: &str,
    out: Option<&Path>,
    json: bool,
) -> Result<ExitCode, Failure> {
    let client = connect(node, None).await?;
    let verified = client
        .status_proof(&StatusSubject::Project(project_id.to_owned()))
        .await
        .map_err(Failure::from_client)?;
    if let Some(out) = out {
        write_atomically(out, &verified.proof.to_json(), Existing::Replace)
            .map_err(|error| Failure::Cannot(format!("cannot write {}: {error}", out.display())))?;
    }
    let record = verified
        .state
        .project(project_id)
        .map_err(|error| Failure::No(error.to_string()))?;
    let height = verified.state.checkpoint.height;
    if json {
        let mut value = project_json(project_id, record);
        value["ok"] = json!(record.is_some());
        value["proved_at_height"] = json!(height);
        value["proved_at_ms"] = json!(verified.state.checkpoint.time_ms);
        if let Some(out) = out {
            value["status_proof"] = json!(out);
        }
        println!("{value}");
    } else {
        print_project(project_id, record, height);
        if let Some(out) = out {
            println!("  Status proof saved to {}", out.display());
        }
    }
    Ok(if record.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn status_text(status: &VersionStatus) -> String {
    let superseded = |next: &Supersession| {
        format!(
            "superseded by version {}{} at height {}",
            next.by_version,
            next.by_digest
                .map_or_else(String::new, |d| format!(" ({d})")),
            next.height
        )
    };
    match status {
        VersionStatus::Current => "current".into(),
        VersionStatus::Superseded(next) => superseded(next),
        VersionStatus::Revoked {
            reason,
            revocation_entry_index,
            height,
            superseded: next,
        } => {
            let mut text =
                format!("revoked at height {height} (entry {revocation_entry_index}): {reason}");
            if let Some(next) = next {
                text.push_str("; ");
                text.push_str(&superseded(next));
            }
            text
        }
        VersionStatus::Unknown => "-".into(),
    }
}

fn describe(body: &AnchorBody) -> String {
    format!(
        "{} {} v{} of project {} ({}), filed by {}",
        body.kind,
        body.document_id,
        body.document_version,
        body.project_id,
        body.digest,
        body.member
    )
}

async fn lookup(args: LookupArgs) -> Result<ExitCode, Failure> {
    let client = connect(&args.node, None).await?;
    let query = match (&args.digest, &args.document, &args.project) {
        (Some(digest), ..) => LookupQuery::Digest(parse_digest(digest, client.genesis())?),
        (None, Some(document), Some(project)) => LookupQuery::Document {
            project_id: project.clone(),
            document_id: document.clone(),
        },
        (None, None, Some(project)) => LookupQuery::Project(project.clone()),
        _ => {
            return Err(Failure::Cannot(
                "give --digest, --document with --project, or --project".into(),
            ));
        }
    };
    let mut results = Vec::new();
    let mut token = Vec::new();
    let mut more = true;
    while more && results.len() < args.limit as usize {
        let page = client
            .lookup(&query, &token, args.limit - results.len() as u32)
            .await
            .map_err(Failure::from_client)?;
        token = page.next_page_token;
        more = page.more && !page.results.is_empty();
        results.extend(page.results);
    }
    // Each anchored version's status, proved under the latest checkpoint (the node's report
    // beside it is only its word).
    let mut proved: Vec<Option<(ProvenState, ProvenVersion)>> = Vec::with_capacity(results.len());
    for result in &results {
        let Record::Anchor(document) = &result.entry.receipt.entry.record else {
            proved.push(None);
            continue;
        };
        let body = &document.body;
        let verified = client
            .status_proof(&version_subject(body))
            .await
            .map_err(Failure::from_client)?;
        let version = verified
            .state
            .version(
                &body.member,
                &body.project_id,
                &body.document_id,
                body.document_version,
            )
            .map_err(|error| Failure::No(error.to_string()))?;
        proved.push(Some((verified.state, version)));
    }
    // With --member: the lineage head, or the proof that the member never filed the id.
    let head = match (&args.member, &args.document, &args.project) {
        (Some(member), Some(document), Some(project)) => {
            let verified = client
                .status_proof(&StatusSubject::Document {
                    member: member.clone(),
                    project_id: project.clone(),
                    document_id: document.clone(),
                    version: None,
                })
                .await
                .map_err(Failure::from_client)?;
            if let Some(out) = &args.status_out {
                write_atomically(out, &verified.proof.to_json(), Existing::Replace).map_err(
                    |error| Failure::Cannot(format!("cannot write {}: {error}", out.display())),
                )?;
            }
            Some(verified.state)
        }
        _ => None,
    };
    if args.json {
        let items: Vec<Value> = results
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let receipt = &r.entry.receipt;
                json!({
                    "entry_index": receipt.entry.index,
                    "height": receipt.entry.height,
                    "record": match &receipt.entry.record {
                        Record::Anchor(d) => serde_json::to_value(&d.body).unwrap_or(Value::Null),
                        Record::Revocation(v) => serde_json::to_value(&v.body).unwrap_or(Value::Null),
                        Record::Registration(g) => serde_json::to_value(&g.body).unwrap_or(Value::Null),
                        Record::Governance(g) => serde_json::to_value(&g.body).unwrap_or(Value::Null),
                    },
                    "type": match &receipt.entry.record {
                        Record::Anchor(_) => "anchor",
                        Record::Revocation(_) => "revocation",
                        Record::Registration(_) => "registration",
                        Record::Governance(_) => "governance",
                    },
                    "proof_verified_at_height": r.entry.checkpoint.height,
                    "status_reported_by_node": status_text(&r.status),
                    "status": proved[i].as_ref().map(|(state, version)| version_status_json(version, state)),
                    "receipt": serde_json::from_str::<Value>(&receipt.to_json()).unwrap_or(Value::Null),
                })
            })
            .collect();
        let lineage = head
            .as_ref()
            .map(|state| fact_json(&state.facts[0]))
            .unwrap_or(Value::Null);
        println!(
            "{}",
            json!({ "ok": true, "results": items, "more": more, "lineage_head": lineage })
        );
    } else {
        if results.is_empty() {
            println!("nothing found");
        }
        for (r, proved) in results.iter().zip(&proved) {
            let entry = &r.entry.receipt.entry;
            let what = match &entry.record {
                Record::Anchor(d) => describe(&d.body),
                Record::Revocation(v) => format!(
                    "revocation of {} v{} of project {}: {}",
                    v.body.document_id, v.body.document_version, v.body.project_id, v.body.reason
                ),
                Record::Registration(g) => format!(
                    "registration of project {} by {}: {} fen in {} milestones",
                    g.body.project_id,
                    g.body.member,
                    g.body.total_value_minor,
                    g.body.milestones.len()
                ),
                Record::Governance(g) => {
                    format!("governance by {}: {}", g.body.member, g.body.action.name())
                }
            };
            println!("entry {} (height {}): {what}", entry.index, entry.height);
            match proved {
                Some((state, version)) => println!(
                    "    receipt verified against the checkpoint at height {}; status (proved at \
                     height {}): {}",
                    r.entry.checkpoint.height,
                    state.checkpoint.height,
                    proven_status_text(version, state)
                ),
                None => println!(
                    "    receipt verified against the checkpoint at height {}",
                    r.entry.checkpoint.height
                ),
            }
        }
        if let Some(state) = &head {
            println!(
                "proved at height {}: {}",
                state.checkpoint.height,
                fact_text(&state.facts[0], state)
            );
            if let Some(out) = &args.status_out {
                println!("status proof saved to {}", out.display());
            }
        }
        if more {
            println!("(more results: raise --limit)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn checkpoint_json(verified: &VerifiedCheckpoint) -> Value {
    json!({
        "height": verified.height,
        "log_size": verified.log_size,
        "log_root": verified.log_root.to_string(),
        "time_ms": verified.time_ms,
        "signed_power": verified.signed_power,
        "total_power": verified.total_power,
    })
}

async fn audit(node: &NodeArgs, saved_path: &Path, json: bool) -> Result<ExitCode, Failure> {
    let client = connect(node, None).await?;
    let saved = match std::fs::read_to_string(saved_path) {
        Ok(text) => Some(Checkpoint::from_json(&text).map_err(|error| {
            Failure::Cannot(format!(
                "{} is not a checkpoint file: {error}",
                saved_path.display()
            ))
        })?),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(Failure::Cannot(format!(
                "cannot read {}: {error}",
                saved_path.display()
            )));
        }
    };
    let (latest, latest_verified) = client
        .checkpoint(None)
        .await
        .map_err(Failure::from_client)?;
    let old_verified = match &saved {
        Some(old) => {
            client
                .consistency(old, &latest)
                .await
                .map_err(Failure::from_client)?;
            // The saved checkpoint verified inside `consistency`; read its figures back.
            let anchor = client
                .genesis()
                .trust_anchor()
                .map_err(|error| Failure::Cannot(error.to_string()))?;
            Some(
                old.verify(&anchor)
                    .map_err(|error| Failure::No(error.to_string()))?,
            )
        }
        None => None,
    };
    write_atomically(saved_path, &latest.to_json(), Existing::Replace).map_err(|error| {
        Failure::Cannot(format!("cannot save {}: {error}", saved_path.display()))
    })?;
    if json {
        println!(
            "{}",
            json!({
                "ok": true,
                "consistent": true,
                "first_run": saved.is_none(),
                "previous": old_verified.as_ref().map(checkpoint_json),
                "latest": checkpoint_json(&latest_verified),
                "saved": saved_path,
            })
        );
    } else {
        match &old_verified {
            Some(old) if old.log_size == latest_verified.log_size => println!(
                "CONSISTENT: the log still holds the same {} entries (height {} then {}), under \
                 the same log root; nothing was rewritten.",
                old.log_size, old.height, latest_verified.height
            ),
            Some(old) => println!(
                "CONSISTENT: the log grew from {} entries (height {}) to {} entries (height {}); \
                 the consistency proof verifies, nothing was rewritten.",
                old.log_size, old.height, latest_verified.log_size, latest_verified.height
            ),
            None => println!(
                "No saved checkpoint yet: the latest one (height {}, {} entries) verifies and is \
                 now the starting point. Compare its log root with another member's node.",
                latest_verified.height, latest_verified.log_size
            ),
        }
        println!(
            "  latest checkpoint: height {}, log root {}, signed by voting power {} of {}, {}",
            latest_verified.height,
            latest_verified.log_root,
            latest_verified.signed_power,
            latest_verified.total_power,
            utc(latest_verified.time_ms)
        );
        println!("  saved to {}", saved_path.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn status(node: &NodeArgs, json: bool) -> Result<ExitCode, Failure> {
    let client = connect(node, None).await?;
    let status = client.status().await.map_err(Failure::from_client)?;
    if json {
        println!(
            "{}",
            json!({
                "ok": true,
                "chain_id": status.chain_id,
                "member": status.member,
                "height": status.height,
                "log_size": status.log_size,
                "mempool_depth": status.mempool_depth,
                "mempool_capacity": status.mempool_capacity,
                "peers": status.peers,
                "synced": status.synced,
            })
        );
    } else {
        println!(
            "{} node of chain {}: height {}, {} entries, mempool {}/{}, {} peers",
            status.member,
            status.chain_id,
            status.height,
            status.log_size,
            status.mempool_depth,
            status.mempool_capacity,
            status.peers
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn filer(command: FilerCommand) -> Result<ExitCode, Failure> {
    // The governance key is read and checked against genesis before the node is contacted.
    if let FilerCommand::Register { governance, .. }
    | FilerCommand::Revoke { governance, .. }
    | FilerCommand::Rotate { governance, .. } = &command
    {
        governance_key(governance)?;
    }
    let (governance, action) = match command {
        FilerCommand::Show {
            node,
            public_key,
            json,
        } => return filer_show(&node, &public_key, json).await,
        FilerCommand::List { node, member, json } => {
            return filer_list(&node, member.as_deref().unwrap_or(""), json).await;
        }
        FilerCommand::Register { governance, filer } => (
            governance,
            GovernanceAction::RegisterFiler(filer.registration()),
        ),
        FilerCommand::Revoke {
            governance,
            revocation,
        } => {
            let client = connect(&governance.node, None).await?;
            let revoke = revocation.revocation(&client).await?;
            return govern(&client, &governance, GovernanceAction::RevokeFiler(revoke)).await;
        }
        FilerCommand::Rotate {
            governance,
            revocation,
            filer,
        } => {
            let client = connect(&governance.node, None).await?;
            let revoke = revocation.revocation(&client).await?;
            let action = GovernanceAction::RotateFiler {
                revoke,
                register: filer.registration(),
            };
            return govern(&client, &governance, action).await;
        }
    };
    let client = connect(&governance.node, None).await?;
    govern(&client, &governance, action).await
}

impl NewFilerArgs {
    fn registration(&self) -> FilerRegistration {
        FilerRegistration {
            name: self.name.clone(),
            public_key: self.public_key,
            kinds: self.kinds.clone(),
            source_system: self.source_system.clone(),
        }
    }
}

impl RevocationArgs {
    async fn revocation(&self, client: &Client) -> Result<FilerRevocation, Failure> {
        let effective_height = match self.effective_height {
            Some(height) => height,
            None => client.status().await.map_err(Failure::from_client)?.height + 1,
        };
        Ok(FilerRevocation {
            public_key: self.revoke,
            reason: self.reason.clone(),
            effective_height,
        })
    }
}

/// The governance key of `args` and the member it acts for: the member whose genesis entry
/// lists the key, or for a key a proposal gave, the member `--member` names.
fn governance_key(args: &GovernanceArgs) -> Result<(SigningKey, String), Failure> {
    let genesis = load_genesis(&args.node.genesis)?;
    let key = load_key(&args.governance_key)?;
    let public = key.public_key();
    let listed = genesis
        .members
        .iter()
        .find(|member| member.governance_keys.contains(&public));
    match (listed, &args.member) {
        (Some(member), Some(named)) if member.id != *named => Err(Failure::Cannot(format!(
            "{}: the key {public} is member {:?}'s in the genesis file, not {named:?}'s",
            args.governance_key.display(),
            member.id
        ))),
        (Some(member), _) => Ok((key, member.id.clone())),
        (None, Some(named)) => Ok((key, named.clone())),
        (None, None) => Err(Failure::Cannot(format!(
            "{}: the key {public} is no member's governance key in the genesis file (for a key \
             a proposal gave, name its member with --member)",
            args.governance_key.display()
        ))),
    }
}

async fn govern(
    client: &Client,
    args: &GovernanceArgs,
    action: GovernanceAction,
) -> Result<ExitCode, Failure> {
    let (key, member) = governance_key(args)?;
    let what = describe_action(&action);
    let proposal_id = match &action {
        GovernanceAction::Propose(proposal) => Some(proposal.id.clone()),
        GovernanceAction::Vote(vote) => Some(vote.proposal_id.clone()),
        _ => None,
    };
    let receipt = client
        .govern_as(&member, &key, action)
        .await
        .map_err(Failure::from_client)?;
    // Where the proposal stands now (the node's report): a vote may have decided it.
    let status = match &proposal_id {
        Some(id) => Some(
            client
                .proposal(id)
                .await
                .map_err(Failure::from_client)?
                .status,
        ),
        None => None,
    };
    if args.json {
        println!(
            "{}",
            json!({
                "ok": true,
                "action": what,
                "entry_index": receipt.entry.index,
                "height": receipt.checkpoint.header.height,
                "proposal_status": status,
                "receipt": serde_json::from_str::<Value>(&receipt.to_json()).unwrap_or(Value::Null),
            })
        );
    } else {
        println!(
            "{what}: entry {} at height {} (certified; the receipt verifies offline)",
            receipt.entry.index, receipt.checkpoint.header.height
        );
        if let Some(status) = status {
            println!("the proposal is now {status} (the node's report)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_action(action: &GovernanceAction) -> String {
    let register = |r: &FilerRegistration| {
        format!(
            "registered filer {} ({}) for {} from {}",
            r.public_key,
            r.name,
            if r.kinds.is_empty() {
                "no kinds".to_owned()
            } else {
                r.kinds.join(", ")
            },
            r.source_system
        )
    };
    let revoke = |r: &FilerRevocation| {
        format!(
            "revoked filer {} from height {} ({})",
            r.public_key, r.effective_height, r.reason
        )
    };
    match action {
        GovernanceAction::RegisterFiler(registration) => register(registration),
        GovernanceAction::RevokeFiler(revocation) => revoke(revocation),
        GovernanceAction::RotateFiler {
            revoke: old,
            register: new,
        } => format!("{}; {}", revoke(old), register(new)),
        GovernanceAction::Propose(proposal) => format!(
            "proposed {:?} ({} change{}: {}), open until {}",
            proposal.id,
            proposal.changes.len(),
            if proposal.changes.len() == 1 { "" } else { "s" },
            proposal
                .changes
                .iter()
                .map(Change::name)
                .collect::<Vec<_>>()
                .join(", "),
            utc(proposal.expires_at_ms)
        ),
        GovernanceAction::Vote(vote) => format!(
            "voted to {} {:?}",
            if vote.approve { "approve" } else { "reject" },
            vote.proposal_id
        ),
    }
}

async fn governance(command: GovernanceCommand) -> Result<ExitCode, Failure> {
    match command {
        GovernanceCommand::Propose {
            governance,
            id,
            changes,
            summary,
            expires_in_hours,
        } => {
            // Everything local is checked before the node is contacted: the changes file,
            // then the governance key.
            let text = std::fs::read_to_string(&changes)
                .map_err(|e| Failure::Cannot(format!("cannot read {}: {e}", changes.display())))?;
            let changes: Vec<Change> = serde_json::from_str(&text).map_err(|e| {
                Failure::Cannot(format!(
                    "{}: not a JSON array of changes: {e}",
                    changes.display()
                ))
            })?;
            governance_key(&governance)?;
            let expires_at_ms = expires_in_hours
                .checked_mul(3_600_000)
                .and_then(|span| now_ms().checked_add(span))
                .ok_or_else(|| Failure::Cannot("--expires-in-hours is too large".into()))?;
            let client = connect(&governance.node, None).await?;
            let action = GovernanceAction::Propose(Proposal {
                id,
                expires_at_ms,
                summary,
                changes,
            });
            govern(&client, &governance, action).await
        }
        GovernanceCommand::Vote {
            governance,
            id,
            approve,
            reject: _,
        } => {
            governance_key(&governance)?;
            let client = connect(&governance.node, None).await?;
            let action = GovernanceAction::Vote(Vote {
                proposal_id: id,
                approve,
            });
            govern(&client, &governance, action).await
        }
        GovernanceCommand::Status { node, id, json } => proposal_status(&node, &id, json).await,
        GovernanceCommand::List { node, json } => proposal_list(&node, json).await,
        GovernanceCommand::Configuration { node, json } => configuration(&node, json).await,
    }
}

async fn proposal_status(node: &NodeArgs, id: &str, json: bool) -> Result<ExitCode, Failure> {
    let client = connect(node, None).await?;
    let view = client.proposal(id).await.map_err(Failure::from_client)?;
    let (configuration, _) = client.configuration().await.map_err(Failure::from_client)?;
    let members = configuration.members.len() as u64;
    let needed = configuration.threshold().approvals_needed(members);
    let approvals = view.votes.iter().filter(|v| v.approve).count();
    let rejections = view.votes.len() - approvals;
    if json {
        println!(
            "{}",
            json!({
                "ok": true,
                "proposal_id": view.proposal.id,
                "proposer": view.proposer,
                "summary": view.proposal.summary,
                "expires_at_ms": view.proposal.expires_at_ms,
                "changes": view.proposal.changes,
                "entry_index": view.receipt.entry.index,
                "votes": view.votes.iter().map(|v| json!({
                    "member": v.member,
                    "approve": v.approve,
                    "height": v.height,
                    "entry_index": v.receipt.entry.index,
                })).collect::<Vec<_>>(),
                "status_reported_by_node": view.status,
                "decided_height": view.decided_height,
                "members": members,
                "approvals_needed": needed,
            })
        );
    } else {
        println!(
            "proposal {:?} by {}: {} (the node's report){}",
            view.proposal.id,
            view.proposer,
            view.status,
            if view.decided_height > 0 {
                format!(" at height {}", view.decided_height)
            } else {
                String::new()
            }
        );
        if !view.proposal.summary.is_empty() {
            println!("  {}", view.proposal.summary);
        }
        println!(
            "  proposed at height {} by entry {} (proof verified); votes count until {}",
            view.receipt.entry.height,
            view.receipt.entry.index,
            utc(view.proposal.expires_at_ms)
        );
        for change in &view.proposal.changes {
            println!(
                "  change: {}",
                serde_json::to_string(change).unwrap_or_default()
            );
        }
        println!(
            "  {approvals} approving, {rejections} rejecting; {needed} of {members} members must \
             approve"
        );
        for vote in &view.votes {
            println!(
                "  {} {} at height {} (entry {}, proof verified)",
                vote.member,
                if vote.approve { "approved" } else { "rejected" },
                vote.height,
                vote.receipt.entry.index
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn proposal_list(node: &NodeArgs, json: bool) -> Result<ExitCode, Failure> {
    let client = connect(node, None).await?;
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let (page, next) = client
            .proposals(&after, 0)
            .await
            .map_err(Failure::from_client)?;
        all.extend(page);
        if next.is_empty() || next == after {
            break;
        }
        after = next;
    }
    if json {
        println!(
            "{}",
            json!({
                "ok": true,
                "proposals": all.iter().map(|p| json!({
                    "proposal_id": p.proposal_id,
                    "proposer": p.proposer,
                    "summary": p.summary,
                    "expires_at_ms": p.expires_at_ms,
                    "status": p.status,
                    "decided_height": p.decided_height,
                    "approvals": p.approvals,
                    "rejections": p.rejections,
                    "proposed_height": p.proposed_height,
                })).collect::<Vec<_>>(),
            })
        );
    } else if all.is_empty() {
        println!("no proposals (the node's report)");
    } else {
        println!(
            "{} proposal{} (the node's report):",
            all.len(),
            if all.len() == 1 { "" } else { "s" }
        );
        for p in &all {
            println!(
                "  {:?} by {}: {} ({} approving, {} rejecting; until {})",
                p.proposal_id,
                p.proposer,
                p.status,
                p.approvals,
                p.rejections,
                utc(p.expires_at_ms)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn configuration(node: &NodeArgs, json: bool) -> Result<ExitCode, Failure> {
    let client = connect(node, None).await?;
    let (configuration, height) = client.configuration().await.map_err(Failure::from_client)?;
    let threshold = configuration.threshold();
    if json {
        println!(
            "{}",
            json!({
                "ok": true,
                "in_force_from_height": height,
                "members": configuration.members.iter().map(|m| json!({
                    "id": m.id,
                    "name": m.name,
                    "governance_keys": m.governance_keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "validators": configuration.validators.iter().map(|v| json!({
                    "member": v.member,
                    "public_key": v.public_key.to_string(),
                    "voting_power": v.voting_power,
                    "address": v.address,
                })).collect::<Vec<_>>(),
                "policy": configuration.policy,
                "governance": configuration.governance,
            })
        );
    } else {
        println!("configuration in force at height {height} (the node's report)");
        for member in &configuration.members {
            println!(
                "  member {} ({}): {} governance key{}",
                member.id,
                member.name,
                member.governance_keys.len(),
                if member.governance_keys.len() == 1 {
                    ""
                } else {
                    "s"
                }
            );
        }
        for validator in &configuration.validators {
            println!(
                "  validator {} of {}: voting power {}",
                validator.public_key, validator.member, validator.voting_power
            );
        }
        for kind in &configuration.policy.kinds {
            println!("  kind {}: {}", kind.kind, kind.members.join(", "));
        }
        println!(
            "  project registrars: {}",
            configuration.policy.project_registrars.join(", ")
        );
        println!(
            "  limits: {} anchors a batch, {} bytes a transaction",
            configuration.policy.limits.batch_len_max,
            configuration.policy.limits.transaction_bytes_max
        );
        println!(
            "  threshold: more than {}/{} of the members ({} of {})",
            threshold.numerator,
            threshold.denominator,
            threshold.approvals_needed(configuration.members.len() as u64),
            configuration.members.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn filer_list(node: &NodeArgs, member: &str, json: bool) -> Result<ExitCode, Failure> {
    let client = connect(node, None).await?;
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = client
            .filers(member, after.as_ref(), 0)
            .await
            .map_err(Failure::from_client)?;
        all.extend(page);
        match next {
            Some(next) if Some(next) != after => after = Some(next),
            _ => break,
        }
    }
    if json {
        println!(
            "{}",
            json!({
                "ok": true,
                "filers": all.iter().map(|(key, f)| json!({
                    "public_key": key.to_string(),
                    "name": f.name,
                    "member": f.member,
                    "kinds": f.kinds,
                    "source_system": (!f.source_system.is_empty()).then_some(&f.source_system),
                    "registered_height": f.registered_height,
                    "revoked_from_height": (f.revoked_from_height > 0).then_some(f.revoked_from_height),
                })).collect::<Vec<_>>(),
            })
        );
    } else if all.is_empty() {
        println!("no filers (the node's report)");
    } else {
        println!(
            "{} filer key{} (the node's report):",
            all.len(),
            if all.len() == 1 { "" } else { "s" }
        );
        for (key, f) in &all {
            let origin = if f.registered_height == 0 {
                "genesis".to_owned()
            } else {
                format!("registered at height {}", f.registered_height)
            };
            let revoked = if f.revoked_from_height > 0 {
                format!(", revoked from height {}", f.revoked_from_height)
            } else {
                String::new()
            };
            println!(
                "  {key} {} of {} ({origin}{revoked}): {}",
                f.name,
                f.member,
                if f.kinds.is_empty() {
                    "no kinds".to_owned()
                } else {
                    f.kinds.join(", ")
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn filer_show(node: &NodeArgs, key: &PublicKey, json: bool) -> Result<ExitCode, Failure> {
    let client = connect(node, None).await?;
    let status = client
        .filer_status(key)
        .await
        .map_err(Failure::from_client)?;
    let filer = &status.filer;
    if json {
        println!(
            "{}",
            json!({
                "ok": true,
                "public_key": key.to_string(),
                "name": filer.name,
                "member": filer.member,
                "kinds": filer.kinds,
                "source_system": status.source_system,
                "registered_height": status.registered_height,
                "registration_entry_index": status.registration.as_ref().map(|r| r.entry.index),
                "revocation": status.revocation.as_ref().map(|r| json!({
                    "effective_height": r.effective_height,
                    "reason": r.reason,
                    "entry_index": r.receipt.entry.index,
                })),
                "not_revoked_reported_by_node": status.revocation.is_none(),
            })
        );
    } else {
        println!("filer {key} ({}) of member {}", filer.name, filer.member);
        println!(
            "  kinds: {}",
            if filer.kinds.is_empty() {
                "none".to_owned()
            } else {
                filer.kinds.join(", ")
            }
        );
        match &status.registration {
            None => println!("  listed in the genesis file"),
            Some(receipt) => println!(
                "  registered at height {} by entry {} (proof verified), from source system {}",
                status.registered_height,
                receipt.entry.index,
                status.source_system.as_deref().unwrap_or("-")
            ),
        }
        match &status.revocation {
            None => println!("  not revoked (the node's report)"),
            Some(revocation) => println!(
                "  revoked from height {} by entry {} (proof verified): {}",
                revocation.effective_height, revocation.receipt.entry.index, revocation.reason
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
        assert_eq!(utc(1_796_264_461_123), "2026-12-03 02:21:01.123 UTC");
    }

    #[test]
    fn milestones_parse_and_bad_ones_are_refused() {
        assert_eq!(
            parse_milestone("M1=500").unwrap(),
            Milestone {
                id: "M1".into(),
                amount_minor: 500
            }
        );
        assert!(parse_milestone("M1").is_err());
        assert!(parse_milestone("=5").is_err());
        assert!(parse_milestone("M1=-5").is_err());
        assert!(parse_milestone("M1=1.5").is_err());
    }

    #[test]
    fn receipts_go_beside_the_file_or_under_out() {
        assert_eq!(
            receipt_path(Path::new("a/b.pdf"), None),
            PathBuf::from("a/b.pdf.receipt.json")
        );
        assert_eq!(
            receipt_path(Path::new("a/b.pdf"), Some(Path::new("r"))),
            PathBuf::from("r/b.pdf.receipt.json")
        );
    }
}
