//! Anchors, revocations and log entries: what a filer signs and what becomes a leaf of the log.
//!
//! A filer signs the Merkle root of a *batch* of anchor bodies (a single document is a batch of
//! one), so every document still gets its own entry, and every entry carries the path from its
//! body to the signed batch root. A receipt therefore proves who filed the document even when
//! thousands were filed under one signature (SPEC.md §6).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::digest::{Digest, HashAlgorithm};
use crate::domain;
use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use crate::governance::SignedGovernance;
use crate::keys::{PublicKey, Signature, SignatureError, SigningKey};
use crate::merkle::{self, InclusionProof, MemoryStore, MerkleLog, NodeHash};

/// Longest identifier (chain id, member, project id, document id, kind, source system,
/// milestone), in bytes of UTF-8.
pub const ID_LEN_MAX: u32 = 256;
/// Longest revocation reason, in bytes of UTF-8.
pub const REASON_LEN_MAX: u32 = 4096;
/// Most anchors one filer signature may cover.
pub const BATCH_LEN_MAX: usize = 65_536;

const ANCHOR_BODY_VERSION: u8 = 1;
const REVOCATION_BODY_VERSION: u8 = 1;
const ENTRY_VERSION: u8 = 1;

fn read_id(reader: &mut Reader<'_>, what: &'static str) -> Result<String, DecodeError> {
    Ok(reader.str_max(ID_LEN_MAX, what)?.to_owned())
}

fn read_version(reader: &mut Reader<'_>, what: &'static str, known: u8) -> Result<(), DecodeError> {
    let version = reader.u8(what)?;
    if version == known {
        Ok(())
    } else {
        Err(DecodeError::UnsupportedVersion { what, version })
    }
}

/// What an anchor says about a project milestone, for the payment rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum MilestoneClaim {
    /// An inspection report's result for `milestone`; `passed` is its conclusion.
    Inspection { milestone: String, passed: bool },
    /// A payment of `amount_minor` (minor currency units, e.g. fen) for `milestone`.
    Payment {
        milestone: String,
        amount_minor: u64,
    },
}

impl Encode for MilestoneClaim {
    fn encode(&self, writer: &mut Writer) {
        match self {
            Self::Inspection { milestone, passed } => {
                writer.u8(1).str(milestone).bool(*passed);
            }
            Self::Payment {
                milestone,
                amount_minor,
            } => {
                writer.u8(2).str(milestone).u64(*amount_minor);
            }
        }
    }
}

impl Decode for MilestoneClaim {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.u8("milestone claim")? {
            1 => Ok(Self::Inspection {
                milestone: read_id(reader, "milestone")?,
                passed: reader.bool("inspection passed")?,
            }),
            2 => Ok(Self::Payment {
                milestone: read_id(reader, "milestone")?,
                amount_minor: reader.u64("payment amount")?,
            }),
            tag => Err(DecodeError::UnknownTag {
                what: "milestone claim",
                tag,
            }),
        }
    }
}

/// The provenance of one document version, as its filer states and signs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorBody {
    /// The chain this anchor is meant for; another chain rejects it.
    pub chain_id: String,
    /// The filer's key; it must be registered to `member` in genesis.
    pub filer: PublicKey,
    /// The member organisation the filer files for.
    pub member: String,
    /// The system that captured the document (for example the bureau's filing system).
    pub source_system: String,
    /// When the source system captured the document, in Unix milliseconds (the filer's claim).
    pub captured_at_ms: u64,
    pub project_id: String,
    pub document_id: String,
    /// 1 for a new document; each later version is one more and supersedes the one before.
    pub document_version: u32,
    /// The document kind, e.g. `completion-drawing`; genesis policy decides who may anchor it.
    pub kind: String,
    /// The digest of the document's bytes.
    pub digest: Digest,
    /// For version > 1: the digest of the version it replaces.
    pub supersedes: Option<Digest>,
    /// Milestone facts for inspection reports and fund transfers.
    pub claim: Option<MilestoneClaim>,
}

impl Encode for AnchorBody {
    fn encode(&self, writer: &mut Writer) {
        writer
            .u8(ANCHOR_BODY_VERSION)
            .str(&self.chain_id)
            .put(&self.filer)
            .str(&self.member)
            .str(&self.source_system)
            .u64(self.captured_at_ms)
            .str(&self.project_id)
            .str(&self.document_id)
            .u32(self.document_version)
            .str(&self.kind)
            .put(&self.digest)
            .option(self.supersedes.as_ref(), |w, d| {
                w.put(d);
            })
            .option(self.claim.as_ref(), |w, c| {
                w.put(c);
            });
    }
}

impl Decode for AnchorBody {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_version(reader, "anchor body", ANCHOR_BODY_VERSION)?;
        Ok(Self {
            chain_id: read_id(reader, "chain id")?,
            filer: reader.get()?,
            member: read_id(reader, "member")?,
            source_system: read_id(reader, "source system")?,
            captured_at_ms: reader.u64("capture time")?,
            project_id: read_id(reader, "project id")?,
            document_id: read_id(reader, "document id")?,
            document_version: reader.u32("document version")?,
            kind: read_id(reader, "kind")?,
            digest: reader.get()?,
            supersedes: reader.option("supersedes", Reader::get)?,
            claim: reader.option("milestone claim", Reader::get)?,
        })
    }
}

impl AnchorBody {
    /// The leaf hash of this body in its batch tree.
    pub fn batch_leaf_hash(&self, algorithm: HashAlgorithm) -> NodeHash {
        merkle::leaf_hash(algorithm, &self.to_canonical_bytes())
    }
}

/// The bytes a filer signs for a batch: prefix, batch length, batch root.
pub fn batch_signing_bytes(algorithm: HashAlgorithm, batch_len: u32, root: &NodeHash) -> Vec<u8> {
    let mut writer = Writer::with_domain(domain::ANCHOR_BATCH);
    writer.u32(batch_len).put(&Digest::new(algorithm, *root));
    writer.into_bytes()
}

/// Why a batch could not be formed or checked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    #[error("a batch holds 1 to {max} anchors, got {len}")]
    BadLength { len: usize, max: usize },
    #[error("batch path does not lead to a root: {0}")]
    BadPath(merkle::ProofError),
    #[error(transparent)]
    BadSignature(#[from] SignatureError),
}

/// A batch of anchor bodies under one filer signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBatch {
    pub anchors: Vec<AnchorBody>,
    pub signature: Signature,
}

/// The Merkle root of a batch of anchor bodies, and each body's leaf hash.
///
/// # Errors
/// The batch is empty or longer than [`BATCH_LEN_MAX`].
pub fn batch_tree(
    algorithm: HashAlgorithm,
    anchors: &[AnchorBody],
) -> Result<MerkleLog<MemoryStore>, BatchError> {
    if anchors.is_empty() || anchors.len() > BATCH_LEN_MAX {
        return Err(BatchError::BadLength {
            len: anchors.len(),
            max: BATCH_LEN_MAX,
        });
    }
    let mut log = MerkleLog::new(algorithm, MemoryStore::default());
    for anchor in anchors {
        // A memory store cannot fail.
        let Ok(_) = log.append(anchor.batch_leaf_hash(algorithm)) else {
            unreachable!("memory store append failed");
        };
    }
    Ok(log)
}

impl SignedBatch {
    /// Signs `anchors` as one batch with `key`.
    ///
    /// # Errors
    /// The batch is empty or too long.
    pub fn sign(
        algorithm: HashAlgorithm,
        anchors: Vec<AnchorBody>,
        key: &SigningKey,
    ) -> Result<Self, BatchError> {
        Self::sign_with_tree(algorithm, anchors, key).map(|(batch, _)| batch)
    }

    /// As [`SignedBatch::sign`], also answering the batch tree it signed the root of (for the
    /// documents' paths and the transaction id, without building it again).
    ///
    /// # Errors
    /// The batch is empty or too long.
    pub fn sign_with_tree(
        algorithm: HashAlgorithm,
        anchors: Vec<AnchorBody>,
        key: &SigningKey,
    ) -> Result<(Self, MerkleLog<MemoryStore>), BatchError> {
        let tree = batch_tree(algorithm, &anchors)?;
        let signature = key.sign(&batch_signing_bytes(
            algorithm,
            anchors.len() as u32,
            &tree.root(),
        ));
        Ok((Self { anchors, signature }, tree))
    }

    /// Verifies the filer signature over this batch's root against `filer`.
    ///
    /// # Errors
    /// Bad length or a signature that does not verify.
    pub fn verify(&self, algorithm: HashAlgorithm, filer: &PublicKey) -> Result<(), BatchError> {
        let root = batch_root(algorithm, &self.anchors)?;
        self.verify_root(algorithm, filer, &root)
    }

    /// Verifies the filer signature against `filer`, given this batch's root (from
    /// [`batch_tree`], built once for the id, the signature and the documents' paths).
    ///
    /// # Errors
    /// A signature that does not verify.
    pub fn verify_root(
        &self,
        algorithm: HashAlgorithm,
        filer: &PublicKey,
        root: &NodeHash,
    ) -> Result<(), BatchError> {
        let message = batch_signing_bytes(algorithm, self.anchors.len() as u32, root);
        filer.verify(&message, &self.signature)?;
        Ok(())
    }

    /// Splits the batch into one anchored document per body, each with its path to the root.
    ///
    /// # Errors
    /// The batch is empty or too long.
    pub fn into_documents(
        self,
        algorithm: HashAlgorithm,
    ) -> Result<Vec<AnchoredDocument>, BatchError> {
        let log = batch_tree(algorithm, &self.anchors)?;
        Ok(self.documents(&log))
    }

    /// One anchored document per body, each with its path in `tree`, which must be this
    /// batch's [`batch_tree`] (built from these bodies, under the algorithm the paths are for).
    ///
    /// # Panics
    /// If `tree` holds another number of leaves than the batch has bodies.
    pub fn documents(&self, tree: &MerkleLog<MemoryStore>) -> Vec<AnchoredDocument> {
        let size = tree.size();
        assert_eq!(
            size,
            self.anchors.len() as u64,
            "the tree is not this batch's"
        );
        self.anchors
            .iter()
            .enumerate()
            .map(|(position, body)| {
                let Ok(batch_proof) = tree.inclusion_proof(position as u64, size) else {
                    unreachable!("memory store proof failed");
                };
                AnchoredDocument {
                    body: body.clone(),
                    batch_proof,
                    signature: self.signature,
                }
            })
            .collect()
    }
}

/// The root of the batch tree over `anchors`.
///
/// # Errors
/// The batch is empty or too long.
pub fn batch_root(
    algorithm: HashAlgorithm,
    anchors: &[AnchorBody],
) -> Result<NodeHash, BatchError> {
    let log = batch_tree(algorithm, anchors)?;
    Ok(log.root())
}

impl Encode for SignedBatch {
    fn encode(&self, writer: &mut Writer) {
        writer.seq(&self.anchors, |w, a| {
            w.put(a);
        });
        writer.put(&self.signature);
    }
}

impl Decode for SignedBatch {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let anchors = reader.seq_max(BATCH_LEN_MAX as u32, "batch anchors", Reader::get)?;
        if anchors.is_empty() {
            return Err(DecodeError::InvalidValue {
                what: "batch anchors",
                reason: format!("a batch holds 1 to {BATCH_LEN_MAX} anchors, got none"),
            });
        }
        Ok(Self {
            anchors,
            signature: reader.get()?,
        })
    }
}

/// One document as it stands in the log: its body, the path from the body to the signed
/// batch root, and the filer's signature over that root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchoredDocument {
    pub body: AnchorBody,
    /// The body's position in its batch, the batch length and the path to the batch root.
    pub batch_proof: InclusionProof,
    pub signature: Signature,
}

impl AnchoredDocument {
    /// Checks that the body is in the batch the filer signed, and the filer's signature.
    ///
    /// # Errors
    /// A bad path or a signature that does not verify against `body.filer`.
    pub fn verify_filer_signature(&self, algorithm: HashAlgorithm) -> Result<(), BatchError> {
        let root = self.batch_root(algorithm)?;
        self.verify_filer_signature_over(algorithm, &root)
    }

    /// The filer's signature over `root`, which must be [`AnchoredDocument::batch_root`]'s
    /// answer for this document (a caller that has it already need not hash the path again).
    pub(crate) fn verify_filer_signature_over(
        &self,
        algorithm: HashAlgorithm,
        root: &NodeHash,
    ) -> Result<(), BatchError> {
        let batch_len =
            u32::try_from(self.batch_proof.tree_size).map_err(|_| BatchError::BadLength {
                len: usize::MAX,
                max: BATCH_LEN_MAX,
            })?;
        self.body.filer.verify(
            &batch_signing_bytes(algorithm, batch_len, root),
            &self.signature,
        )?;
        Ok(())
    }

    /// The batch root this document's path leads to.
    ///
    /// # Errors
    /// The path does not fit the stated position and batch length.
    pub fn batch_root(&self, algorithm: HashAlgorithm) -> Result<NodeHash, BatchError> {
        let size = self.batch_proof.tree_size;
        if size == 0 || size > BATCH_LEN_MAX as u64 {
            return Err(BatchError::BadLength {
                len: usize::try_from(size).unwrap_or(usize::MAX),
                max: BATCH_LEN_MAX,
            });
        }
        merkle::root_from_inclusion(
            algorithm,
            &self.body.batch_leaf_hash(algorithm),
            &self.batch_proof,
        )
        .map_err(BatchError::BadPath)
    }
}

impl Encode for AnchoredDocument {
    fn encode(&self, writer: &mut Writer) {
        writer
            .put(&self.body)
            .put(&self.batch_proof)
            .put(&self.signature);
    }
}

impl Decode for AnchoredDocument {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            body: reader.get()?,
            batch_proof: reader.get()?,
            signature: reader.get()?,
        })
    }
}

/// A filer's statement that one document version is withdrawn, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationBody {
    pub chain_id: String,
    pub filer: PublicKey,
    pub member: String,
    pub project_id: String,
    pub document_id: String,
    /// The revoked version.
    pub document_version: u32,
    /// The digest of the revoked version, so the revocation names exactly what it withdraws.
    pub digest: Digest,
    pub reason: String,
    /// When the filer decided the revocation, in Unix milliseconds (the filer's claim).
    pub revoked_at_ms: u64,
}

impl RevocationBody {
    /// The bytes the filer signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut writer = Writer::with_domain(domain::REVOCATION);
        writer.put(self);
        writer.into_bytes()
    }

    pub fn sign(self, key: &SigningKey) -> SignedRevocation {
        let signature = key.sign(&self.signing_bytes());
        SignedRevocation {
            body: self,
            signature,
        }
    }
}

impl Encode for RevocationBody {
    fn encode(&self, writer: &mut Writer) {
        writer
            .u8(REVOCATION_BODY_VERSION)
            .str(&self.chain_id)
            .put(&self.filer)
            .str(&self.member)
            .str(&self.project_id)
            .str(&self.document_id)
            .u32(self.document_version)
            .put(&self.digest)
            .str(&self.reason)
            .u64(self.revoked_at_ms);
    }
}

impl Decode for RevocationBody {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_version(reader, "revocation body", REVOCATION_BODY_VERSION)?;
        Ok(Self {
            chain_id: read_id(reader, "chain id")?,
            filer: reader.get()?,
            member: read_id(reader, "member")?,
            project_id: read_id(reader, "project id")?,
            document_id: read_id(reader, "document id")?,
            document_version: reader.u32("document version")?,
            digest: reader.get()?,
            reason: reader
                .str_max(REASON_LEN_MAX, "revocation reason")?
                .to_owned(),
            revoked_at_ms: reader.u64("revocation time")?,
        })
    }
}

/// A revocation with its filer's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRevocation {
    pub body: RevocationBody,
    pub signature: Signature,
}

impl SignedRevocation {
    /// # Errors
    /// The signature does not verify against `body.filer`.
    pub fn verify(&self) -> Result<(), SignatureError> {
        self.body
            .filer
            .verify(&self.body.signing_bytes(), &self.signature)
    }
}

impl Encode for SignedRevocation {
    fn encode(&self, writer: &mut Writer) {
        writer.put(&self.body).put(&self.signature);
    }
}

impl Decode for SignedRevocation {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            body: reader.get()?,
            signature: reader.get()?,
        })
    }
}

/// One milestone of a project contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    pub id: String,
    /// The most that may be paid against this milestone, in minor currency units.
    pub amount_minor: u64,
}

/// Most milestones one project contract may have.
pub const MILESTONES_MAX: usize = 256;

const REGISTRATION_BODY_VERSION: u8 = 1;

/// A registrar's statement of a project's contract value and payment milestones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRegistrationBody {
    pub chain_id: String,
    pub registrar: PublicKey,
    pub member: String,
    pub project_id: String,
    /// The contract's total value, in minor currency units (for CNY, fen).
    pub total_value_minor: u64,
    pub milestones: Vec<Milestone>,
    /// When the registrar signed, in Unix milliseconds (the registrar's claim).
    pub registered_at_ms: u64,
}

impl ProjectRegistrationBody {
    /// The bytes the registrar signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut writer = Writer::with_domain(domain::PROJECT_REGISTRATION);
        writer.put(self);
        writer.into_bytes()
    }

    pub fn sign(self, key: &SigningKey) -> SignedRegistration {
        let signature = key.sign(&self.signing_bytes());
        SignedRegistration {
            body: self,
            signature,
        }
    }
}

impl Encode for ProjectRegistrationBody {
    fn encode(&self, writer: &mut Writer) {
        writer
            .u8(REGISTRATION_BODY_VERSION)
            .str(&self.chain_id)
            .put(&self.registrar)
            .str(&self.member)
            .str(&self.project_id)
            .u64(self.total_value_minor)
            .seq(&self.milestones, |w, m| {
                w.str(&m.id).u64(m.amount_minor);
            })
            .u64(self.registered_at_ms);
    }
}

impl Decode for ProjectRegistrationBody {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_version(reader, "project registration", REGISTRATION_BODY_VERSION)?;
        let chain_id = read_id(reader, "chain id")?;
        let registrar = reader.get()?;
        let member = read_id(reader, "member")?;
        let project_id = read_id(reader, "project id")?;
        let total_value_minor = reader.u64("total value")?;
        let milestones = reader.seq_max(MILESTONES_MAX as u32, "milestones", |r| {
            Ok(Milestone {
                id: read_id(r, "milestone id")?,
                amount_minor: r.u64("milestone amount")?,
            })
        })?;
        Ok(Self {
            chain_id,
            registrar,
            member,
            project_id,
            total_value_minor,
            milestones,
            registered_at_ms: reader.u64("registration time")?,
        })
    }
}

/// A project registration with its registrar's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRegistration {
    pub body: ProjectRegistrationBody,
    pub signature: Signature,
}

impl SignedRegistration {
    /// # Errors
    /// The signature does not verify against `body.registrar`.
    pub fn verify(&self) -> Result<(), SignatureError> {
        self.body
            .registrar
            .verify(&self.body.signing_bytes(), &self.signature)
    }
}

impl Encode for SignedRegistration {
    fn encode(&self, writer: &mut Writer) {
        writer.put(&self.body).put(&self.signature);
    }
}

impl Decode for SignedRegistration {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            body: reader.get()?,
            signature: reader.get()?,
        })
    }
}

/// Transaction kind tags (SPEC.md §7.1), also hashed into transaction identifiers.
pub mod transaction_kind {
    /// An anchor batch.
    pub const ANCHOR: u8 = 1;
    /// A revocation.
    pub const REVOKE: u8 = 2;
    /// A project registration.
    pub const REGISTER_PROJECT: u8 = 3;
    /// A governance transaction of a member.
    pub const GOVERNANCE: u8 = 4;
}

/// A transaction identifier: `H(prefix || kind || signed bytes)` (SPEC.md §7.2).
pub fn transaction_id(algorithm: HashAlgorithm, kind: u8, signed_bytes: &[u8]) -> Digest {
    algorithm.hash_parts(&[domain::TRANSACTION_ID, &[kind], signed_bytes])
}

/// What a log entry records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A document version was anchored (tag 1).
    Anchor(AnchoredDocument),
    /// A document version was revoked (tag 2).
    Revocation(SignedRevocation),
    /// A project contract and its milestones were registered (tag 3).
    Registration(SignedRegistration),
    /// A member changed the consortium: its filers (tag 4). Boxed: governance entries are
    /// rare, and anchors, by far the most common, should not pay for their size.
    Governance(Box<SignedGovernance>),
}

impl Record {
    /// The identifier of the transaction that produced this record. For an anchored document
    /// it is computed from the document's path to its batch root, so any one document of a
    /// batch yields the batch's identifier.
    ///
    /// # Errors
    /// An anchored document whose batch path does not fit its stated position and length.
    pub fn transaction_id(&self, algorithm: HashAlgorithm) -> Result<Digest, BatchError> {
        Ok(match self {
            Self::Anchor(document) => {
                let root = document.batch_root(algorithm)?;
                let batch_len = document.batch_proof.tree_size as u32;
                transaction_id(
                    algorithm,
                    transaction_kind::ANCHOR,
                    &batch_signing_bytes(algorithm, batch_len, &root),
                )
            }
            Self::Revocation(revocation) => transaction_id(
                algorithm,
                transaction_kind::REVOKE,
                &revocation.body.signing_bytes(),
            ),
            Self::Registration(registration) => transaction_id(
                algorithm,
                transaction_kind::REGISTER_PROJECT,
                &registration.body.signing_bytes(),
            ),
            Self::Governance(governance) => transaction_id(
                algorithm,
                transaction_kind::GOVERNANCE,
                &governance.body.signing_bytes(),
            ),
        })
    }
}

impl Encode for Record {
    fn encode(&self, writer: &mut Writer) {
        match self {
            Self::Anchor(document) => writer.u8(1).put(document),
            Self::Revocation(revocation) => writer.u8(2).put(revocation),
            Self::Registration(registration) => writer.u8(3).put(registration),
            Self::Governance(governance) => writer.u8(4).put(governance.as_ref()),
        };
    }
}

impl Decode for Record {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.u8("record")? {
            1 => Ok(Self::Anchor(reader.get()?)),
            2 => Ok(Self::Revocation(reader.get()?)),
            3 => Ok(Self::Registration(reader.get()?)),
            4 => Ok(Self::Governance(Box::new(reader.get()?))),
            tag => Err(DecodeError::UnknownTag {
                what: "record",
                tag,
            }),
        }
    }
}

/// A leaf of the log: a record with the position and block that sequenced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The leaf index in the log (0-based).
    pub index: u64,
    /// The height of the block that sequenced the entry.
    pub height: u64,
    /// That block's timestamp, in Unix milliseconds.
    pub sequenced_at_ms: u64,
    pub record: Record,
}

impl Entry {
    /// The entry's leaf hash in the log: `H(0x00 || canonical bytes)`.
    pub fn leaf_hash(&self, algorithm: HashAlgorithm) -> NodeHash {
        merkle::leaf_hash(algorithm, &self.to_canonical_bytes())
    }

    /// The anchored document, if this entry anchors one.
    pub fn anchor(&self) -> Option<&AnchoredDocument> {
        match &self.record {
            Record::Anchor(document) => Some(document),
            Record::Revocation(_) | Record::Registration(_) | Record::Governance(_) => None,
        }
    }
}

impl Encode for Entry {
    fn encode(&self, writer: &mut Writer) {
        writer
            .u8(ENTRY_VERSION)
            .u64(self.index)
            .u64(self.height)
            .u64(self.sequenced_at_ms)
            .put(&self.record);
    }
}

impl Decode for Entry {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_version(reader, "entry", ENTRY_VERSION)?;
        Ok(Self {
            index: reader.u64("entry index")?,
            height: reader.u64("entry height")?,
            sequenced_at_ms: reader.u64("entry time")?,
            record: reader.get()?,
        })
    }
}
