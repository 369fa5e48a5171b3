//! Status proofs (SPEC.md §8.3, §9.6, §9.7): records of the state tree — a document's lineage
//! head, an earlier version, a project's payments — or their absence, proved against the state
//! root of a certified checkpoint, so that "current", "superseded", "revoked", "never filed"
//! and "paid so far" are checked offline like receipts, with only the genesis file.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{
    Checkpoint, Handoff, HandoffJson, JsonObject, TrustAnchor, VerifiedCheckpoint,
    check_version_literal, decode_hex_field, json_object, version_one,
};
use crate::digest::Digest;
use crate::encoding::{Decode, DecodeError, Encode};
use crate::receipt::{Verdict, present_handoffs};
use crate::records::{DocumentRecord, ProjectRecord, StateKey, VersionRecord};
use crate::state_tree::{StateProof, StateProofError};
use crate::verify::VerifyError;

/// The `type` of a status-proof file.
pub const STATUS_PROOF_TYPE: &str = "evidence-status-proof";

/// At most this many facts in one status proof (SPEC.md §8.3).
pub const FACTS_MAX: usize = 64;

/// One state key with what it holds (`value`, the record's bytes) or `None` (the key is
/// absent), and the proof of that under the checkpoint's state root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFact {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub proof: StateProof,
}

/// A status proof: a checkpoint (with the hand-offs that lead to the set that certified it)
/// and facts about the state after its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusProof {
    pub checkpoint: Checkpoint,
    pub handoffs: Vec<Handoff>,
    pub facts: Vec<StateFact>,
}

/// A record a status proof proves, decoded by its key's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Document(DocumentRecord),
    Version(VersionRecord),
    Project(ProjectRecord),
}

/// A proved fact: the key, and its record (`None`: proved absent — never written, since state
/// keys are never deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenFact {
    pub key: StateKey,
    pub record: Option<Record>,
}

/// What a valid status proof establishes: the state after the checkpoint's block holds these
/// records (and not the absent ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenState {
    pub checkpoint: VerifiedCheckpoint,
    /// The heights of the blocks that changed the validator set, from genesis to the set
    /// that certified the checkpoint.
    pub handoff_heights: Vec<u64>,
    pub facts: Vec<ProvenFact>,
}

/// A document version's status as a status proof shows it (SPEC.md §9.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenVersion {
    pub version: u32,
    pub record: VersionRecord,
    /// The document's latest version as of the checkpoint, and its digest.
    pub latest_version: u32,
    pub latest_digest: Digest,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusProofJson {
    #[serde(rename = "type")]
    kind: String,
    version: Box<serde_json::value::RawValue>,
    header: String,
    certificate: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_handoffs"
    )]
    handoffs: Option<Vec<HandoffJson>>,
    facts: Vec<JsonObject<FactJson>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FactJson {
    key: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_string"
    )]
    value: Option<String>,
    proof: String,
}

fn present_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    String::deserialize(deserializer).map(Some)
}

impl Serialize for JsonObject<FactJson> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

fn hex_bytes(text: &str, field: &'static str) -> Result<Vec<u8>, VerifyError> {
    hex::decode(text).map_err(|e| VerifyError::BadHex {
        field,
        reason: e.to_string(),
    })
}

fn facts_error(reason: String) -> VerifyError {
    VerifyError::Malformed {
        field: "facts",
        error: DecodeError::InvalidValue {
            what: "status proof facts",
            reason,
        },
    }
}

impl StatusProof {
    /// The JSON form (SPEC.md §8.3).
    pub fn to_json(&self) -> String {
        let file = StatusProofJson {
            kind: STATUS_PROOF_TYPE.to_owned(),
            version: version_one(),
            header: hex::encode(self.checkpoint.header.to_canonical_bytes()),
            certificate: hex::encode(self.checkpoint.certificate.to_canonical_bytes()),
            handoffs: (!self.handoffs.is_empty())
                .then(|| self.handoffs.iter().map(Handoff::to_json_value).collect()),
            facts: self
                .facts
                .iter()
                .map(|fact| {
                    JsonObject(FactJson {
                        key: hex::encode(&fact.key),
                        value: fact.value.as_ref().map(hex::encode),
                        proof: hex::encode(fact.proof.to_canonical_bytes()),
                    })
                })
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads the JSON form: the file's shape, hex and the canonical encodings of the header,
    /// certificate, hand-offs and proofs. Keys and values are read when verified.
    ///
    /// # Errors
    /// Not JSON, unknown or missing fields, the wrong type or version, empty `handoffs`, no
    /// facts or more than [`FACTS_MAX`], bad hex, or bytes that do not decode.
    pub fn from_json(text: &str) -> Result<Self, VerifyError> {
        let file: StatusProofJson = json_object(text)?;
        check_version_literal(&file.version, "status proof", || {
            if file.kind == STATUS_PROOF_TYPE {
                Ok(())
            } else {
                Err(VerifyError::WrongFileType {
                    expected: STATUS_PROOF_TYPE,
                    found: file.kind.clone(),
                })
            }
        })?;
        let handoffs = match &file.handoffs {
            None => Vec::new(),
            Some(handoffs) if handoffs.is_empty() => {
                return Err(VerifyError::NotJson(
                    "`handoffs`, when present, holds at least one hand-off".into(),
                ));
            }
            Some(handoffs) => handoffs
                .iter()
                .map(Handoff::from_json_value)
                .collect::<Result<_, _>>()?,
        };
        let checkpoint = Checkpoint {
            header: decode_hex_field(&file.header, "header")?,
            certificate: decode_hex_field(&file.certificate, "certificate")?,
        };
        if file.facts.is_empty() || file.facts.len() > FACTS_MAX {
            return Err(facts_error(format!(
                "{} facts; a status proof carries 1 to {FACTS_MAX}",
                file.facts.len()
            )));
        }
        let facts = file
            .facts
            .iter()
            .map(|JsonObject(fact)| {
                Ok(StateFact {
                    key: hex_bytes(&fact.key, "facts.key")?,
                    value: fact
                        .value
                        .as_deref()
                        .map(|v| hex_bytes(v, "facts.value"))
                        .transpose()?,
                    proof: decode_hex_field(&fact.proof, "facts.proof")?,
                })
            })
            .collect::<Result<Vec<_>, VerifyError>>()?;
        Ok(Self {
            checkpoint,
            handoffs,
            facts,
        })
    }
}

/// Verifies a status proof against the genesis trust anchor (SPEC.md §9.6): the hand-offs and
/// the checkpoint as for a receipt, then each fact — its key one of the record keys, its value
/// that key's record in canonical form, and its proof leading to the checkpoint's state root.
///
/// # Errors
/// A [`VerifyError`] naming the first check that failed.
pub fn verify_status_proof(
    proof: &StatusProof,
    anchor: &TrustAnchor,
) -> Result<ProvenState, VerifyError> {
    let (certifying, last) = anchor.follow(&proof.handoffs)?;
    let checkpoint = proof.checkpoint.verify(&certifying)?;
    if checkpoint.height <= last {
        return Err(VerifyError::CheckpointBeforeHandoff {
            checkpoint_height: checkpoint.height,
            handoff_height: last,
        });
    }
    if proof.facts.is_empty() || proof.facts.len() > FACTS_MAX {
        return Err(facts_error(format!(
            "{} facts; a status proof carries 1 to {FACTS_MAX}",
            proof.facts.len()
        )));
    }
    let algorithm = anchor.digest_algorithm;
    let mut facts: Vec<ProvenFact> = Vec::with_capacity(proof.facts.len());
    for (index, fact) in proof.facts.iter().enumerate() {
        let key = StateKey::from_bytes(&fact.key).map_err(|error| VerifyError::Malformed {
            field: "facts.key",
            error,
        })?;
        if facts.iter().any(|earlier| earlier.key == key) {
            return Err(facts_error(format!(
                "fact {index} repeats the key of an earlier fact"
            )));
        }
        let record = fact
            .value
            .as_deref()
            .map(|bytes| decode_record(&key, bytes))
            .transpose()
            .map_err(|error| VerifyError::Malformed {
                field: "facts.value",
                error,
            })?;
        fact.proof
            .verify(
                algorithm,
                &checkpoint.state_root.bytes,
                &fact.key,
                fact.value.as_deref(),
            )
            .map_err(|reason| VerifyError::BadStateProof { index, reason })?;
        // The root is the header's, of the chain's algorithm: a root of another tag is not
        // the one the proof leads to, whatever its bytes.
        if checkpoint.state_root.algorithm != algorithm {
            return Err(VerifyError::BadStateProof {
                index,
                reason: StateProofError::RootMismatch,
            });
        }
        facts.push(ProvenFact { key, record });
    }
    Ok(ProvenState {
        checkpoint,
        handoff_heights: proof
            .handoffs
            .iter()
            .map(|h| h.checkpoint.header.height)
            .collect(),
        facts,
    })
}

fn decode_record(key: &StateKey, bytes: &[u8]) -> Result<Record, DecodeError> {
    Ok(match key {
        StateKey::Document { .. } => Record::Document(DocumentRecord::from_canonical_bytes(bytes)?),
        StateKey::Version { .. } => Record::Version(VersionRecord::from_canonical_bytes(bytes)?),
        StateKey::Project { .. } => Record::Project(ProjectRecord::from_canonical_bytes(bytes)?),
    })
}

impl ProvenState {
    /// The fact about `key`, if the proof carries one: `Some(None)` when it proves the key
    /// absent.
    pub fn fact(&self, key: &StateKey) -> Option<Option<&Record>> {
        self.facts
            .iter()
            .find(|fact| fact.key == *key)
            .map(|fact| fact.record.as_ref())
    }

    /// The document's lineage head: `Ok(None)` when the proof shows it was never filed (as of
    /// the checkpoint).
    ///
    /// # Errors
    /// [`VerifyError::StatusNotProved`] when the proof carries no fact about the document.
    pub fn document(
        &self,
        member: &str,
        project_id: &str,
        document_id: &str,
    ) -> Result<Option<&DocumentRecord>, VerifyError> {
        let key = StateKey::Document {
            member: member.to_owned(),
            project_id: project_id.to_owned(),
            document_id: document_id.to_owned(),
        };
        match self.fact(&key) {
            None => Err(VerifyError::StatusNotProved {
                reason: format!(
                    "the status proof says nothing of document {document_id:?} of project \
                     {project_id:?} filed by {member:?}"
                ),
            }),
            Some(None) => Ok(None),
            Some(Some(Record::Document(record))) => Ok(Some(record)),
            Some(Some(_)) => unreachable!("a document key's record is a document record"),
        }
    }

    /// Version `version` of the document, as of the checkpoint (SPEC.md §9.7): from the
    /// document record when it is the latest, else from its own version fact.
    ///
    /// # Errors
    /// [`VerifyError::StatusNotProved`] when the proof lacks a fact it needs, or shows the
    /// version was not filed as of its checkpoint.
    pub fn version(
        &self,
        member: &str,
        project_id: &str,
        document_id: &str,
        version: u32,
    ) -> Result<ProvenVersion, VerifyError> {
        let height = self.checkpoint.height;
        let Some(document) = self.document(member, project_id, document_id)? else {
            return Err(VerifyError::StatusNotProved {
                reason: format!(
                    "the status proof shows document {document_id:?} not filed as of height \
                     {height}"
                ),
            });
        };
        let record = if version == document.latest_version {
            document.latest.clone()
        } else if version >= 1 && version < document.latest_version {
            let key = StateKey::Version {
                member: member.to_owned(),
                project_id: project_id.to_owned(),
                document_id: document_id.to_owned(),
                version,
            };
            match self.fact(&key) {
                Some(Some(Record::Version(record))) => record.clone(),
                Some(Some(_)) => unreachable!("a version key's record is a version record"),
                Some(None) | None => {
                    return Err(VerifyError::StatusNotProved {
                        reason: format!(
                            "version {version} is not the latest ({}) and the status proof \
                             carries no record of it",
                            document.latest_version
                        ),
                    });
                }
            }
        } else {
            return Err(VerifyError::StatusNotProved {
                reason: format!(
                    "the status proof's latest version of {document_id:?} is {} as of height \
                     {height}; version {version} came later or does not exist",
                    document.latest_version
                ),
            });
        };
        Ok(ProvenVersion {
            version,
            record,
            latest_version: document.latest_version,
            latest_digest: document.latest_digest(),
        })
    }

    /// The status of the version a verified receipt anchors (SPEC.md §9.7): the proof must
    /// carry its record, and the record must be the receipt's (same digest, same log entry).
    ///
    /// # Errors
    /// [`VerifyError::StatusNotProved`], or [`VerifyError::StatusMismatch`] when the record
    /// is of another filing than the receipt's.
    pub fn receipt_status(&self, verdict: &Verdict) -> Result<ProvenVersion, VerifyError> {
        let anchor = &verdict.anchor;
        let proven = self.version(
            &anchor.member,
            &anchor.project_id,
            &anchor.document_id,
            anchor.document_version,
        )?;
        if proven.record.digest != anchor.digest || proven.record.entry_index != verdict.entry_index
        {
            return Err(VerifyError::StatusMismatch {
                reason: format!(
                    "the status proof's version {} is digest {} at entry {}, the receipt's is \
                     {} at entry {}",
                    proven.version,
                    proven.record.digest,
                    proven.record.entry_index,
                    anchor.digest,
                    verdict.entry_index
                ),
            });
        }
        Ok(proven)
    }

    /// The project's record: `Ok(None)` when the proof shows no project registered under
    /// `project_id`.
    ///
    /// # Errors
    /// [`VerifyError::StatusNotProved`] when the proof carries no fact about the project.
    pub fn project(&self, project_id: &str) -> Result<Option<&ProjectRecord>, VerifyError> {
        let key = StateKey::Project {
            project_id: project_id.to_owned(),
        };
        match self.fact(&key) {
            None => Err(VerifyError::StatusNotProved {
                reason: format!("the status proof says nothing of project {project_id:?}"),
            }),
            Some(None) => Ok(None),
            Some(Some(Record::Project(record))) => Ok(Some(record)),
            Some(Some(_)) => unreachable!("a project key's record is a project record"),
        }
    }
}
