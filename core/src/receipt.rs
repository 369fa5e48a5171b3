//! Receipts — the self-contained evidence for one document — and their offline verification.
//!
//! A receipt holds the log entry, its inclusion proof, and the checkpoint (header and commit
//! certificate) whose log root the proof leads to, and, when the validator set changed since
//! genesis, the hand-offs that lead from the genesis set to the set that certified the
//! checkpoint. With nothing but the genesis file's trust anchor, [`verify_receipt`] establishes
//! that the document with the given digest was anchored by the stated filer and sequenced by a
//! quorum of the consortium (SPEC.md §9).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::certificate::CommitCertificate;
use crate::checkpoint::{
    Checkpoint, Handoff, HandoffJson, JsonObject, TrustAnchor, VerifiedCheckpoint,
    check_version_among, decode_hex_field, follow_handoffs, json_object, version_literal,
};
use crate::digest::{Digest, HashAlgorithm};
use crate::encoding::Encode;
use crate::entry::{AnchorBody, Entry};
use crate::keys::PublicKey;
use crate::merkle::{self, InclusionProof, NodeHash};
use crate::verify::VerifyError;

const RECEIPT_TYPE: &str = "evidence-receipt";

/// The evidence for one log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub entry: Entry,
    /// Proof that the entry is leaf `entry.index` of the log at the checkpoint's size.
    pub inclusion_proof: InclusionProof,
    pub checkpoint: Checkpoint,
    /// The changes of the validator set from genesis up to the set that certified the
    /// checkpoint, in order; empty when genesis's set certified it.
    pub handoffs: Vec<Handoff>,
    /// For a filer registered on the ledger (not in genesis): the entry that registered it,
    /// included in the checkpoint's log.
    pub registration: Option<EntryProof>,
    /// When the filer's key was revoked by the checkpoint's height: the entry that revoked
    /// it, included in the checkpoint's log.
    pub revocation: Option<EntryProof>,
}

/// A log entry and its inclusion proof in the log of the receipt's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryProof {
    pub entry: Entry,
    pub inclusion_proof: InclusionProof,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptJson {
    #[serde(rename = "type")]
    kind: String,
    version: Box<serde_json::value::RawValue>,
    entry: String,
    inclusion_proof: String,
    header: String,
    certificate: String,
    /// Version 2 only, never empty. Absent is `None`; present, it must be an array (a `null`
    /// is not JSON of this format, not an absent field).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_handoffs"
    )]
    handoffs: Option<Vec<HandoffJson>>,
    /// Version 2 only: the filer's registration on the ledger.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_entry_proof"
    )]
    registration: Option<EntryProofJson>,
    /// Version 2 only: the filer's revocation on the ledger.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_entry_proof"
    )]
    revocation: Option<EntryProofJson>,
}

/// A log entry with its inclusion proof, in a receipt file: each as the hex of its canonical
/// bytes.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryProofJson {
    entry: String,
    inclusion_proof: String,
}

/// Reads a `registration` or `revocation` field that is present: an object, never `null`
/// (nor an array).
fn present_entry_proof<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<EntryProofJson>, D::Error> {
    JsonObject::<EntryProofJson>::deserialize(deserializer).map(|JsonObject(json)| Some(json))
}

impl EntryProof {
    fn to_json_value(&self) -> EntryProofJson {
        EntryProofJson {
            entry: hex::encode(self.entry.to_canonical_bytes()),
            inclusion_proof: hex::encode(self.inclusion_proof.to_canonical_bytes()),
        }
    }

    fn from_json_value(json: &EntryProofJson, what: &'static str) -> Result<Self, VerifyError> {
        let (entry, proof) = match what {
            "registration" => ("registration.entry", "registration.inclusion_proof"),
            _ => ("revocation.entry", "revocation.inclusion_proof"),
        };
        Ok(Self {
            entry: decode_hex_field(&json.entry, entry)?,
            inclusion_proof: decode_hex_field(&json.inclusion_proof, proof)?,
        })
    }
}

/// Reads a `handoffs` field that is present: an array, never `null`, of objects.
pub(crate) fn present_handoffs<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<HandoffJson>>, D::Error> {
    Vec::<JsonObject<HandoffJson>>::deserialize(deserializer)
        .map(|handoffs| Some(handoffs.into_iter().map(|JsonObject(json)| json).collect()))
}

impl Receipt {
    /// The JSON form (SPEC.md §8.1): each part as the hex of its canonical bytes; version 1
    /// when genesis's set certified the checkpoint and the receipt carries no filer evidence,
    /// else version 2 with the hand-offs, the registration and the revocation it carries.
    pub fn to_json(&self) -> String {
        let plain =
            self.handoffs.is_empty() && self.registration.is_none() && self.revocation.is_none();
        let file = ReceiptJson {
            kind: RECEIPT_TYPE.to_owned(),
            version: version_literal(if plain { 1 } else { 2 }),
            entry: hex::encode(self.entry.to_canonical_bytes()),
            inclusion_proof: hex::encode(self.inclusion_proof.to_canonical_bytes()),
            header: hex::encode(self.checkpoint.header.to_canonical_bytes()),
            certificate: hex::encode(self.checkpoint.certificate.to_canonical_bytes()),
            handoffs: (!self.handoffs.is_empty())
                .then(|| self.handoffs.iter().map(Handoff::to_json_value).collect()),
            registration: self.registration.as_ref().map(EntryProof::to_json_value),
            revocation: self.revocation.as_ref().map(EntryProof::to_json_value),
        };
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads the JSON form.
    ///
    /// # Errors
    /// Not JSON, unknown fields, the wrong type or version, `handoffs` in a version 1 file or
    /// missing or empty in a version 2 file, bad hex, or bytes that do not decode.
    pub fn from_json(text: &str) -> Result<Self, VerifyError> {
        let file: ReceiptJson = json_object(text)?;
        let version = check_version_among(&file.version, "receipt", &["1", "2"], || {
            if file.kind == RECEIPT_TYPE {
                Ok(())
            } else {
                Err(VerifyError::WrongFileType {
                    expected: RECEIPT_TYPE,
                    found: file.kind.clone(),
                })
            }
        })?;
        let evidence = file.registration.is_some() || file.revocation.is_some();
        let handoffs = match (version, &file.handoffs) {
            ("1", None) if !evidence => Vec::new(),
            ("2", None) if evidence => Vec::new(),
            ("2", Some(handoffs)) if !handoffs.is_empty() => handoffs
                .iter()
                .map(Handoff::from_json_value)
                .collect::<Result<_, _>>()?,
            ("1", _) => {
                return Err(VerifyError::NotJson(
                    "a version 1 receipt has no `handoffs`, `registration` or `revocation` \
                     (version 2 carries them)"
                        .into(),
                ));
            }
            _ => {
                return Err(VerifyError::NotJson(
                    "a version 2 receipt carries one or more `handoffs`, a `registration` or a \
                     `revocation`"
                        .into(),
                ));
            }
        };
        Ok(Self {
            entry: decode_hex_field(&file.entry, "entry")?,
            inclusion_proof: decode_hex_field(&file.inclusion_proof, "inclusion_proof")?,
            checkpoint: Checkpoint {
                header: decode_hex_field(&file.header, "header")?,
                certificate: decode_hex_field(&file.certificate, "certificate")?,
            },
            handoffs,
            registration: file
                .registration
                .as_ref()
                .map(|json| EntryProof::from_json_value(json, "registration"))
                .transpose()?,
            revocation: file
                .revocation
                .as_ref()
                .map(|json| EntryProof::from_json_value(json, "revocation"))
                .transpose()?,
        })
    }
}

/// What a valid receipt establishes, for a verdict a court clerk can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The anchor as filed and signed: document, project, kind, filer, member, source system,
    /// capture time, version and what it supersedes.
    pub anchor: AnchorBody,
    pub entry_index: u64,
    /// The block that sequenced the entry, and its time.
    pub sequenced_height: u64,
    pub sequenced_at_ms: u64,
    /// The checkpoint the receipt is verified against.
    pub checkpoint: VerifiedCheckpoint,
    /// The validators whose signatures certify the checkpoint.
    pub signers: Vec<PublicKey>,
    /// The hash of the validator set that certified the checkpoint (genesis's, or the one the
    /// hand-offs lead to).
    pub validator_set: Digest,
    /// The heights of the blocks that changed the validator set, from genesis to that set.
    pub handoff_heights: Vec<u64>,
    /// The filer's registration on the ledger; `None` for a genesis filer.
    pub registration: Option<FilerRegistered>,
    /// The filer's revocation, when the receipt carries one (it took effect after the filing).
    pub revocation: Option<FilerRevoked>,
}

/// A filer's registration, as a receipt proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilerRegistered {
    pub entry_index: u64,
    pub height: u64,
    /// The name the member gave the filer.
    pub name: String,
}

/// A filer's revocation that took effect after the filing, as a receipt proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilerRevoked {
    pub entry_index: u64,
    pub height: u64,
    pub effective_height: u64,
    pub reason: String,
}

/// Verifies `receipt` for a document whose digest is `document_digest`, against the genesis
/// trust anchor, with no network and no other input (SPEC.md §9 gives the steps and order):
/// the hand-offs from the genesis set, the checkpoint against the set they lead to, then the
/// entry.
///
/// # Errors
/// A [`VerifyError`] naming the first check that failed.
pub fn verify_receipt(
    document_digest: &Digest,
    receipt: &Receipt,
    anchor: &TrustAnchor,
) -> Result<Verdict, VerifyError> {
    let (certifying, last) = anchor.follow(&receipt.handoffs)?;
    let checkpoint = receipt.checkpoint.verify(&certifying)?;
    check_after_handoffs(&checkpoint, last)?;
    verify_against_checkpoint(document_digest, receipt, &certifying, checkpoint, None)
}

/// SPEC.md §9.4: the checkpoint comes after the last hand-off (the set it leads to certifies
/// only the heights after it).
fn check_after_handoffs(checkpoint: &VerifiedCheckpoint, last: u64) -> Result<(), VerifyError> {
    if checkpoint.height <= last {
        return Err(VerifyError::CheckpointBeforeHandoff {
            checkpoint_height: checkpoint.height,
            handoff_height: last,
        });
    }
    Ok(())
}

/// SPEC.md §9.3 steps 2–3: the receipt's inclusion proof is for its entry's index under its
/// checkpoint's log size, and leads from the entry's leaf hash to the header's log root. It
/// holds for every kind of entry (anchor, revocation, registration); the checkpoint itself is
/// not verified here.
///
/// # Errors
/// [`VerifyError::LogSizeMismatch`], [`VerifyError::EntryIndexMismatch`],
/// [`VerifyError::BadInclusionProof`] or [`VerifyError::HeaderRootMismatch`].
pub fn verify_inclusion(receipt: &Receipt, algorithm: HashAlgorithm) -> Result<(), VerifyError> {
    let proof = &receipt.inclusion_proof;
    let header = &receipt.checkpoint.header;
    if proof.tree_size != header.log_size {
        return Err(VerifyError::LogSizeMismatch {
            proof_size: proof.tree_size,
            header_size: header.log_size,
        });
    }
    if proof.leaf_index != receipt.entry.index {
        return Err(VerifyError::EntryIndexMismatch {
            entry_index: receipt.entry.index,
            proof_index: proof.leaf_index,
        });
    }
    let leaf: NodeHash = receipt.entry.leaf_hash(algorithm);
    let computed = merkle::root_from_inclusion(algorithm, &leaf, proof)
        .map_err(VerifyError::BadInclusionProof)?;
    if header.log_root.algorithm != algorithm || computed != header.log_root.bytes {
        return Err(VerifyError::HeaderRootMismatch {
            computed: Digest::new(algorithm, computed),
            expected: header.log_root,
        });
    }
    Ok(())
}

/// SPEC.md §9.3 steps 2–7: the entry is in the certified log, it is an anchor for this chain, the filer
/// signed it, and it anchors this document.
fn verify_against_checkpoint(
    document_digest: &Digest,
    receipt: &Receipt,
    anchor: &TrustAnchor,
    checkpoint: VerifiedCheckpoint,
    filer_signatures: Option<&mut BoundedSet>,
) -> Result<Verdict, VerifyError> {
    let algorithm = anchor.digest_algorithm;
    verify_inclusion(receipt, algorithm)?;
    let document = receipt.entry.anchor().ok_or(VerifyError::NotAnAnchor)?;
    if document.body.chain_id != anchor.chain_id {
        return Err(VerifyError::EntryWrongChain {
            expected: anchor.chain_id.clone(),
            found: document.body.chain_id.clone(),
        });
    }
    let filer_algorithm = document.body.filer.algorithm();
    if filer_algorithm != anchor.signature_algorithm
        || document.signature.algorithm != anchor.signature_algorithm
    {
        return Err(VerifyError::WrongSuite {
            what: "the anchor's filer key or signature",
            expected: anchor.signature_algorithm.to_string(),
            found: if filer_algorithm == anchor.signature_algorithm {
                document.signature.algorithm.to_string()
            } else {
                filer_algorithm.to_string()
            },
        });
    }
    match filer_signatures {
        None => document.verify_filer_signature(algorithm)?,
        Some(cache) => {
            // The same filer, message and signature verify the same way every time, so a
            // batch's signature is checked once for all of its documents.
            let root = document.batch_root(algorithm)?;
            let key = algorithm.hash_parts(&[
                document.body.filer.as_bytes(),
                &document.batch_proof.tree_size.to_be_bytes(),
                &root,
                &document.signature.bytes,
            ]);
            if !cache.contains(&key) {
                document.verify_filer_signature_over(algorithm, &root)?;
                cache.insert(key);
            }
        }
    }
    if document.body.digest != *document_digest {
        return Err(VerifyError::DigestMismatch {
            anchored: document.body.digest,
            actual: *document_digest,
        });
    }
    let (registration, revocation) = verify_filer_evidence(receipt, anchor, &document.body)?;
    Ok(Verdict {
        registration,
        revocation,
        anchor: document.body.clone(),
        entry_index: receipt.entry.index,
        sequenced_height: receipt.entry.height,
        sequenced_at_ms: receipt.entry.sequenced_at_ms,
        checkpoint,
        signers: receipt.checkpoint.certificate.signers(),
        validator_set: *anchor.validator_set_hash(),
        handoff_heights: receipt
            .handoffs
            .iter()
            .map(|h| h.checkpoint.header.height)
            .collect(),
    })
}

/// SPEC.md §9.5: the filer of `body` is a genesis filer of its member or the receipt proves
/// its registration (an entry of the certified log registering this key for this member,
/// kind and source system, in an earlier block); a revocation the receipt carries is of this
/// key by its member and took effect after the filing.
fn verify_filer_evidence(
    receipt: &Receipt,
    anchor: &TrustAnchor,
    body: &AnchorBody,
) -> Result<(Option<FilerRegistered>, Option<FilerRevoked>), VerifyError> {
    use crate::governance::GovernanceAction;
    let filed_height = receipt.entry.height;
    let registration = match &receipt.registration {
        None => {
            if anchor.genesis_filer(&body.filer) != Some(body.member.as_str()) {
                return Err(VerifyError::FilerNotRegistered {
                    filer: body.filer,
                    member: body.member.clone(),
                });
            }
            None
        }
        Some(proof) => {
            let mismatch = |reason: String| VerifyError::RegistrationMismatch { reason };
            let signed =
                governance(receipt, proof, anchor, body).map_err(|(proof_failed, reason)| {
                    if proof_failed {
                        VerifyError::BadRegistrationProof { reason }
                    } else {
                        mismatch(reason)
                    }
                })?;
            let registered = match &signed.body.action {
                GovernanceAction::RegisterFiler(registration)
                | GovernanceAction::RotateFiler {
                    register: registration,
                    ..
                } => registration,
                _ => return Err(mismatch("it registers no filer".into())),
            };
            if registered.public_key != body.filer {
                return Err(mismatch(format!(
                    "it registers {}, the filer is {}",
                    registered.public_key, body.filer
                )));
            }
            if !registered.kinds.contains(&body.kind) {
                return Err(mismatch(format!("it does not allow kind {:?}", body.kind)));
            }
            if registered.source_system != body.source_system {
                return Err(mismatch(format!(
                    "it names source system {:?}, the filing {:?}",
                    registered.source_system, body.source_system
                )));
            }
            if proof.entry.height >= filed_height {
                return Err(mismatch(format!(
                    "it is at height {}, not before the filing at height {filed_height}",
                    proof.entry.height
                )));
            }
            Some(FilerRegistered {
                entry_index: proof.entry.index,
                height: proof.entry.height,
                name: registered.name.clone(),
            })
        }
    };
    let revocation = match &receipt.revocation {
        None => None,
        Some(proof) => {
            let mismatch = |reason: String| VerifyError::RevocationMismatch { reason };
            let signed =
                governance(receipt, proof, anchor, body).map_err(|(proof_failed, reason)| {
                    if proof_failed {
                        VerifyError::BadRevocationProof { reason }
                    } else {
                        mismatch(reason)
                    }
                })?;
            let revoked = match &signed.body.action {
                GovernanceAction::RevokeFiler(revocation)
                | GovernanceAction::RotateFiler {
                    revoke: revocation, ..
                } => revocation,
                _ => return Err(mismatch("it revokes no filer".into())),
            };
            if revoked.public_key != body.filer {
                return Err(mismatch(format!(
                    "it revokes {}, the filer is {}",
                    revoked.public_key, body.filer
                )));
            }
            if revoked.effective_height <= filed_height {
                return Err(VerifyError::FilerRevoked {
                    filed_height,
                    effective_height: revoked.effective_height,
                    reason: revoked.reason.clone(),
                });
            }
            Some(FilerRevoked {
                entry_index: proof.entry.index,
                height: proof.entry.height,
                effective_height: revoked.effective_height,
                reason: revoked.reason.clone(),
            })
        }
    };
    Ok((registration, revocation))
}

/// The governance transaction an included entry records, checked like every part of a
/// receipt: in the certified log (else `Err((true, why))`), a governance entry for this chain,
/// signed by its signer, of the filing's member (else `Err((false, why))`).
fn governance<'a>(
    receipt: &Receipt,
    proof: &'a EntryProof,
    anchor: &TrustAnchor,
    body: &AnchorBody,
) -> Result<&'a crate::governance::SignedGovernance, (bool, String)> {
    use crate::entry::Record;
    included(receipt, proof, anchor.digest_algorithm).map_err(|reason| (true, reason))?;
    let Record::Governance(signed) = &proof.entry.record else {
        return Err((
            false,
            format!("entry {} is no governance entry", proof.entry.index),
        ));
    };
    if signed.body.chain_id != anchor.chain_id {
        return Err((false, format!("it is for chain {:?}", signed.body.chain_id)));
    }
    signed
        .verify()
        .map_err(|e| (false, format!("its signature does not verify: {e}")))?;
    if signed.body.member != body.member {
        return Err((
            false,
            format!(
                "it is member {:?}'s, the filing member {:?}'s",
                signed.body.member, body.member
            ),
        ));
    }
    Ok(signed)
}

/// `proof` proves its entry is in the log of the receipt's checkpoint.
fn included(receipt: &Receipt, proof: &EntryProof, algorithm: HashAlgorithm) -> Result<(), String> {
    let header = &receipt.checkpoint.header;
    let inclusion = &proof.inclusion_proof;
    if inclusion.tree_size != header.log_size {
        return Err(format!(
            "its proof is for a log of {} entries, the header's has {}",
            inclusion.tree_size, header.log_size
        ));
    }
    if inclusion.leaf_index != proof.entry.index {
        return Err(format!(
            "the entry says it is leaf {}, the proof is for leaf {}",
            proof.entry.index, inclusion.leaf_index
        ));
    }
    let leaf = proof.entry.leaf_hash(algorithm);
    let root = merkle::root_from_inclusion(algorithm, &leaf, inclusion)
        .map_err(|e| format!("bad proof: {e}"))?;
    if header.log_root.algorithm != algorithm || root != header.log_root.bytes {
        return Err("its proof does not lead to the header's log root".into());
    }
    Ok(())
}

/// Verifies many receipts against one trust anchor, remembering checkpoints and filer batch
/// signatures it has already verified, so that receipts sharing a checkpoint pay for its
/// validator signatures once, and documents of one batch pay for their filer signature once.
///
/// The cache holds at most `capacity` checkpoints; when full it is cleared and refilled, which
/// keeps memory bounded without any clock.
#[derive(Debug)]
pub struct Verifier {
    anchor: TrustAnchor,
    /// The hand-offs learned so far ([`Verifier::learn_handoffs`]), verified from genesis: the
    /// height of each and the anchor of the set it leads to, in order.
    sets: Vec<(u64, TrustAnchor)>,
    /// Keyed by header hash; the certificate that was verified is kept with it, so that only
    /// that very certificate is taken as verified, never another one for the same header.
    verified: HashMap<Digest, (CommitCertificate, VerifiedCheckpoint)>,
    /// Filer batch signatures already verified, keyed by a digest of (filer, batch length,
    /// batch root, signature).
    filer_signatures: BoundedSet,
    capacity: usize,
}

/// A set of digests that is cleared when it reaches its capacity: bounded memory, no clock.
#[derive(Debug)]
struct BoundedSet {
    items: HashSet<Digest>,
    capacity: usize,
}

impl BoundedSet {
    fn new(capacity: usize) -> Self {
        Self {
            items: HashSet::new(),
            capacity: capacity.max(1),
        }
    }

    fn contains(&self, item: &Digest) -> bool {
        self.items.contains(item)
    }

    fn insert(&mut self, item: Digest) {
        if self.items.len() >= self.capacity {
            self.items.clear();
        }
        self.items.insert(item);
    }
}

/// [`Checkpoint::verify`] against `anchor`, or the verdict `verified` holds for the same
/// header and certificate; a new verdict is kept (at most `capacity`, all dropped when full).
/// A kept checkpoint is taken only after its header's binding to `anchor` (chain, genesis,
/// validator set) has been checked again, so a verification under one set never stands for
/// another.
fn verify_checkpoint_cached(
    verified: &mut HashMap<Digest, (CommitCertificate, VerifiedCheckpoint)>,
    capacity: usize,
    anchor: &TrustAnchor,
    checkpoint: &Checkpoint,
) -> Result<VerifiedCheckpoint, VerifyError> {
    let header_hash = checkpoint.check_binding(anchor)?;
    let cached = verified.get(&header_hash);
    if let Some((_, known)) =
        cached.filter(|(certificate, _)| *certificate == checkpoint.certificate)
    {
        return Ok(known.clone());
    }
    let signed_power = checkpoint
        .certificate
        .verify(&anchor.chain_id, anchor.validators())?;
    let verdict = checkpoint.verified(header_hash, signed_power, anchor);
    if verified.len() >= capacity {
        verified.clear();
    }
    verified.insert(
        header_hash,
        (checkpoint.certificate.clone(), verdict.clone()),
    );
    Ok(verdict)
}

impl Verifier {
    /// Default number of checkpoints remembered.
    pub const DEFAULT_CAPACITY: usize = 4096;

    pub fn new(anchor: TrustAnchor) -> Self {
        Self::with_capacity(anchor, Self::DEFAULT_CAPACITY)
    }

    /// A verifier remembering at most `capacity` checkpoints and `capacity` filer batch
    /// signatures.
    pub fn with_capacity(anchor: TrustAnchor, capacity: usize) -> Self {
        Self {
            anchor,
            sets: Vec::new(),
            verified: HashMap::new(),
            filer_signatures: BoundedSet::new(capacity),
            capacity: capacity.max(1),
        }
    }

    pub fn trust_anchor(&self) -> &TrustAnchor {
        &self.anchor
    }

    /// How many verified checkpoints the cache holds now (at most its capacity).
    pub fn cached_checkpoints(&self) -> usize {
        self.verified.len()
    }

    /// Follows `handoffs` from the genesis set (as [`TrustAnchor::follow`]) and remembers the
    /// sets they lead to, so that [`Verifier::verify_checkpoint`] verifies a checkpoint against
    /// the set in force at its height. A chain that agrees with what was learned before and
    /// goes further replaces it; a shorter one that agrees changes nothing.
    ///
    /// # Errors
    /// A hand-off that does not verify, or [`VerifyError::ConflictingHandoffs`] when the
    /// chain disagrees with one learned before (two certified histories: evidence of a fork).
    pub fn learn_handoffs(&mut self, handoffs: &[Handoff]) -> Result<(), VerifyError> {
        let common = self.sets.len().min(handoffs.len());
        let disagreement =
            self.sets[..common]
                .iter()
                .zip(handoffs)
                .find(|((height, anchor), handoff)| {
                    *height != handoff.checkpoint.header.height
                        || *anchor.validators() != handoff.validators
                });
        if let Some((_, handoff)) = disagreement {
            return Err(VerifyError::ConflictingHandoffs {
                height: handoff.checkpoint.header.height,
            });
        }
        if handoffs.len() <= self.sets.len() {
            return Ok(());
        }
        let genesis = self.anchor.clone();
        follow_handoffs(&genesis, handoffs, |anchor, checkpoint| {
            self.verify_checkpoint_with(anchor, checkpoint)
        })?;
        let mut anchor = genesis;
        self.sets = handoffs
            .iter()
            .map(|handoff| {
                anchor = anchor.with_validators(handoff.validators.clone());
                (handoff.checkpoint.header.height, anchor.clone())
            })
            .collect();
        Ok(())
    }

    /// The anchor of the set in force at `height`, as far as the learned hand-offs tell.
    fn anchor_at(&self, height: u64) -> &TrustAnchor {
        self.sets
            .iter()
            .rev()
            .find(|(at, _)| *at < height)
            .map_or(&self.anchor, |(_, anchor)| anchor)
    }

    /// Verifies a checkpoint against the set in force at its height (genesis's, or one the
    /// learned hand-offs lead to), or finds it already verified.
    ///
    /// # Errors
    /// As [`Checkpoint::verify`]; a checkpoint certified by a set the learned hand-offs do not
    /// reach fails with [`VerifyError::UnknownValidatorSet`].
    pub fn verify_checkpoint(
        &mut self,
        checkpoint: &Checkpoint,
    ) -> Result<VerifiedCheckpoint, VerifyError> {
        let anchor = self.anchor_at(checkpoint.header.height).clone();
        self.verify_checkpoint_with(&anchor, checkpoint)
    }

    /// Verifies a checkpoint against `anchor` (the genesis anchor or one hand-offs lead to),
    /// or finds it already verified. A cached checkpoint is taken only after its header's
    /// binding to `anchor` (chain, genesis, validator set) has been checked again, so a
    /// verification under one set never stands for another.
    fn verify_checkpoint_with(
        &mut self,
        anchor: &TrustAnchor,
        checkpoint: &Checkpoint,
    ) -> Result<VerifiedCheckpoint, VerifyError> {
        verify_checkpoint_cached(&mut self.verified, self.capacity, anchor, checkpoint)
    }

    /// As [`verify_receipt`], with the checkpoint cache.
    ///
    /// # Errors
    /// As [`verify_receipt`].
    pub fn verify_receipt(
        &mut self,
        document_digest: &Digest,
        receipt: &Receipt,
    ) -> Result<Verdict, VerifyError> {
        if receipt.handoffs.is_empty() {
            // Genesis's set certified the checkpoint (the common case): no set to follow, and
            // no copy of the trust anchor (its validators' and filers' names and keys).
            let checkpoint = verify_checkpoint_cached(
                &mut self.verified,
                self.capacity,
                &self.anchor,
                &receipt.checkpoint,
            )?;
            check_after_handoffs(&checkpoint, 0)?;
            return verify_against_checkpoint(
                document_digest,
                receipt,
                &self.anchor,
                checkpoint,
                Some(&mut self.filer_signatures),
            );
        }
        let genesis = self.anchor.clone();
        let (certifying, last) = follow_handoffs(&genesis, &receipt.handoffs, |anchor, cp| {
            self.verify_checkpoint_with(anchor, cp)
        })?;
        let checkpoint = self.verify_checkpoint_with(&certifying, &receipt.checkpoint)?;
        check_after_handoffs(&checkpoint, last)?;
        verify_against_checkpoint(
            document_digest,
            receipt,
            &certifying,
            checkpoint,
            Some(&mut self.filer_signatures),
        )
    }
}
