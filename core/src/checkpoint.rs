//! Checkpoints (a header with its commit certificate), the trust anchor taken from genesis,
//! and checkpoint verification.

use serde::{Deserialize, Serialize};

use crate::certificate::CommitCertificate;
use crate::digest::{Digest, HashAlgorithm};
use crate::encoding::{Decode, Encode};
use crate::header::BlockHeader;
use crate::keys::{PublicKey, SignatureAlgorithm};
use crate::validators::ValidatorSet;
use crate::verify::VerifyError;

/// What an offline verifier trusts: the chain's identity, its algorithm suite and the validator
/// set, all taken from the genesis file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    pub chain_id: String,
    pub genesis_hash: Digest,
    pub digest_algorithm: HashAlgorithm,
    pub signature_algorithm: SignatureAlgorithm,
    validators: ValidatorSet,
    validator_set_hash: Digest,
    /// The genesis filers: (key, member). A receipt whose filer is not one of them proves the
    /// filer's registration on the ledger (SPEC.md §9.5).
    genesis_filers: Vec<(PublicKey, String)>,
}

impl TrustAnchor {
    pub fn new(
        chain_id: String,
        genesis_hash: Digest,
        digest_algorithm: HashAlgorithm,
        signature_algorithm: SignatureAlgorithm,
        validators: ValidatorSet,
    ) -> Self {
        let validator_set_hash = validators.hash(digest_algorithm);
        Self {
            chain_id,
            genesis_hash,
            digest_algorithm,
            signature_algorithm,
            validators,
            validator_set_hash,
            genesis_filers: Vec::new(),
        }
    }

    /// The same anchor with the genesis file's filers, `(key, member)`.
    #[must_use]
    pub fn with_genesis_filers(mut self, filers: Vec<(PublicKey, String)>) -> Self {
        self.genesis_filers = filers;
        self
    }

    /// The member of genesis filer `key`, if it is one.
    pub fn genesis_filer(&self, key: &PublicKey) -> Option<&str> {
        self.genesis_filers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, member)| member.as_str())
    }

    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    pub fn validator_set_hash(&self) -> &Digest {
        &self.validator_set_hash
    }

    /// The same chain with `validators` in place of this anchor's set.
    pub fn with_validators(&self, validators: ValidatorSet) -> Self {
        Self::new(
            self.chain_id.clone(),
            self.genesis_hash,
            self.digest_algorithm,
            self.signature_algorithm,
            validators,
        )
        .with_genesis_filers(self.genesis_filers.clone())
    }

    /// Follows `handoffs` from this anchor's set (SPEC.md §9.4): each hand-off's checkpoint
    /// must verify against the set before it, come after the one before it, and name as the
    /// next set the set it carries, which must differ from its own. Returns the anchor of the
    /// set the last hand-off leads to, and that hand-off's height (this anchor and 0 when
    /// there are none).
    ///
    /// # Errors
    /// The first hand-off that fails, with why.
    pub fn follow(&self, handoffs: &[Handoff]) -> Result<(TrustAnchor, u64), VerifyError> {
        follow_handoffs(self, handoffs, |anchor, checkpoint| {
            checkpoint.verify(anchor)
        })
    }
}

/// One change of the validator set as a verifier follows it: the checkpoint of the block whose
/// accepted proposal changed the set (certified by the set before the change), and the new
/// set, whose hash that block's header names as `next_validator_set_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub checkpoint: Checkpoint,
    pub validators: ValidatorSet,
}

/// [`TrustAnchor::follow`], with `verify` checking each hand-off's checkpoint against the
/// anchor of the set before it (a cache may stand in for it).
pub(crate) fn follow_handoffs(
    anchor: &TrustAnchor,
    handoffs: &[Handoff],
    mut verify: impl FnMut(&TrustAnchor, &Checkpoint) -> Result<VerifiedCheckpoint, VerifyError>,
) -> Result<(TrustAnchor, u64), VerifyError> {
    let mut current = anchor.clone();
    let mut last = 0;
    for (index, handoff) in handoffs.iter().enumerate() {
        let header = &handoff.checkpoint.header;
        let height = header.height;
        verify(&current, &handoff.checkpoint).map_err(|reason| VerifyError::BadHandoff {
            index,
            height,
            reason: Box::new(reason),
        })?;
        if height <= last {
            return Err(VerifyError::HandoffOutOfOrder {
                index,
                height,
                previous: last,
            });
        }
        let carried = handoff.validators.hash(current.digest_algorithm);
        if header.next_validator_set_hash != carried {
            return Err(VerifyError::HandoffSetMismatch {
                index,
                height,
                named: header.next_validator_set_hash,
                carried,
            });
        }
        if carried == header.validator_set_hash {
            return Err(VerifyError::HandoffNotAChange { index, height });
        }
        current = current.with_validators(handoff.validators.clone());
        last = height;
    }
    Ok((current, last))
}

impl Handoff {
    pub(crate) fn to_json_value(&self) -> HandoffJson {
        HandoffJson {
            header: hex::encode(self.checkpoint.header.to_canonical_bytes()),
            certificate: hex::encode(self.checkpoint.certificate.to_canonical_bytes()),
            validators: hex::encode(self.validators.to_canonical_bytes()),
        }
    }

    pub(crate) fn from_json_value(json: &HandoffJson) -> Result<Self, VerifyError> {
        Ok(Self {
            checkpoint: Checkpoint {
                header: decode_hex_field(&json.header, "handoffs.header")?,
                certificate: decode_hex_field(&json.certificate, "handoffs.certificate")?,
            },
            validators: decode_hex_field(&json.validators, "handoffs.validators")?,
        })
    }
}

/// A hand-off in a receipt file (SPEC.md §8.1): each part as the hex of its canonical bytes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HandoffJson {
    header: String,
    certificate: String,
    validators: String,
}

/// A signed log head: a block header and the certificate that commits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub header: BlockHeader,
    pub certificate: CommitCertificate,
}

/// What a verified checkpoint establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    pub header_hash: Digest,
    pub height: u64,
    pub time_ms: u64,
    pub log_size: u64,
    pub log_root: Digest,
    /// The root of the state tree after the block (SPEC.md §11.3), which status proofs
    /// are checked against.
    pub state_root: Digest,
    pub signed_power: u64,
    pub total_power: u64,
}

impl Checkpoint {
    /// The header hash under the chain's algorithm.
    pub fn header_hash(&self, algorithm: HashAlgorithm) -> Digest {
        self.header.hash(algorithm)
    }

    /// Verifies the checkpoint against `anchor`: right chain, right validator set, the
    /// certificate is for this header, and its signers hold a quorum (SPEC.md §9.2).
    ///
    /// # Errors
    /// The first check that fails, in that order.
    pub fn verify(&self, anchor: &TrustAnchor) -> Result<VerifiedCheckpoint, VerifyError> {
        let header_hash = self.check_binding(anchor)?;
        let signed_power = self
            .certificate
            .verify(&anchor.chain_id, anchor.validators())?;
        Ok(self.verified(header_hash, signed_power, anchor))
    }

    /// SPEC.md §9.2 steps 1–3: chain, validator set, and that the certificate names this header.
    pub(crate) fn check_binding(&self, anchor: &TrustAnchor) -> Result<Digest, VerifyError> {
        // The header names its chain's suite: the genesis hash's algorithm and the proposer
        // key's. Another suite is another chain, said plainly before anything else.
        let found_digest = self.header.genesis_hash.algorithm;
        let found_signature = self.header.proposer.algorithm();
        if found_digest != anchor.digest_algorithm || found_signature != anchor.signature_algorithm
        {
            return Err(VerifyError::WrongSuite {
                what: "the checkpoint's header",
                expected: suite_name(anchor.digest_algorithm, anchor.signature_algorithm),
                found: suite_name(found_digest, found_signature),
            });
        }
        if self.header.chain_id != anchor.chain_id {
            return Err(VerifyError::WrongChain {
                expected: anchor.chain_id.clone(),
                found: self.header.chain_id.clone(),
            });
        }
        if self.header.genesis_hash != anchor.genesis_hash {
            return Err(VerifyError::WrongGenesis {
                expected: anchor.genesis_hash,
                found: self.header.genesis_hash,
            });
        }
        if self.header.validator_set_hash != *anchor.validator_set_hash() {
            return Err(VerifyError::UnknownValidatorSet {
                expected: *anchor.validator_set_hash(),
                found: self.header.validator_set_hash,
            });
        }
        let header_hash = self.header.hash(anchor.digest_algorithm);
        if self.certificate.height != self.header.height
            || self.certificate.block_hash != header_hash
        {
            return Err(VerifyError::CertificateForOtherBlock {
                header_height: self.header.height,
                header_hash,
                certified_height: self.certificate.height,
                certified_hash: self.certificate.block_hash,
            });
        }
        Ok(header_hash)
    }

    pub(crate) fn verified(
        &self,
        header_hash: Digest,
        signed_power: u64,
        anchor: &TrustAnchor,
    ) -> VerifiedCheckpoint {
        VerifiedCheckpoint {
            header_hash,
            height: self.header.height,
            time_ms: self.header.time_ms,
            log_size: self.header.log_size,
            log_root: self.header.log_root,
            state_root: self.header.state_root,
            signed_power,
            total_power: anchor.validators().total_power(),
        }
    }

    /// The JSON form (SPEC.md §8.2).
    pub fn to_json(&self) -> String {
        let file = CheckpointJson {
            kind: CHECKPOINT_TYPE.to_owned(),
            version: version_one(),
            header: hex::encode(self.header.to_canonical_bytes()),
            certificate: hex::encode(self.certificate.to_canonical_bytes()),
        };
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads the JSON form.
    ///
    /// # Errors
    /// Not JSON, the wrong type or version, bad hex, or bytes that do not decode.
    pub fn from_json(text: &str) -> Result<Self, VerifyError> {
        let file: CheckpointJson = json_object(text)?;
        check_version_literal(&file.version, "checkpoint file", || {
            if file.kind == CHECKPOINT_TYPE {
                Ok(())
            } else {
                Err(VerifyError::WrongFileType {
                    expected: CHECKPOINT_TYPE,
                    found: file.kind.clone(),
                })
            }
        })?;
        Ok(Self {
            header: decode_hex_field(&file.header, "header")?,
            certificate: decode_hex_field(&file.certificate, "certificate")?,
        })
    }
}

const CHECKPOINT_TYPE: &str = "evidence-checkpoint";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointJson {
    #[serde(rename = "type")]
    kind: String,
    version: Box<serde_json::value::RawValue>,
    header: String,
    certificate: String,
}

/// Checks a file's `version` field as written: a JSON integer literal (an optional `-`, then
/// `0` or a digit string not starting with `0`; no fraction, no exponent) of any size, else the
/// file is not in the format at all (`not-json`); then it must be exactly `1`
/// (`unsupported-version`). SPEC.md §9.3 step 0. `kind_checked` runs between the two, because
/// the file's type is checked before its version.
pub(crate) fn check_version_literal(
    version: &serde_json::value::RawValue,
    what: &'static str,
    kind_checked: impl FnOnce() -> Result<(), VerifyError>,
) -> Result<(), VerifyError> {
    check_version_among(version, what, &["1"], kind_checked).map(|_| ())
}

/// As [`check_version_literal`], for a file of which each version in `supported` is read;
/// returns the version found.
pub(crate) fn check_version_among(
    version: &serde_json::value::RawValue,
    what: &'static str,
    supported: &[&'static str],
    kind_checked: impl FnOnce() -> Result<(), VerifyError>,
) -> Result<&'static str, VerifyError> {
    let literal = version.get().trim();
    let digits = literal.strip_prefix('-').unwrap_or(literal);
    let is_integer = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !is_integer {
        return Err(VerifyError::NotJson(format!(
            "`version` must be a JSON integer, got {literal}"
        )));
    }
    kind_checked()?;
    if let Some(found) = supported.iter().find(|v| **v == literal) {
        Ok(found)
    } else {
        Err(VerifyError::UnsupportedVersion {
            what,
            version: literal.to_owned(),
        })
    }
}

/// The `version` field of a file this build writes.
pub(crate) fn version_one() -> Box<serde_json::value::RawValue> {
    version_literal(1)
}

/// `version` as a JSON integer literal.
pub(crate) fn version_literal(version: u32) -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string(version.to_string())
        .unwrap_or_else(|_| unreachable!("an integer is valid JSON"))
}

/// A `T` read from a JSON object, and from nothing else. A derived deserializer of a struct
/// also takes a JSON array of the field values in order, which no file of SPEC.md §8 is (its
/// top level, a hand-off and a registration or revocation are objects), so every file part
/// read as a struct is read through this. Field checks (unknown, missing or repeated fields)
/// are `T`'s own.
pub(crate) struct JsonObject<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectOnly<T> {
            type Value = T;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(ObjectOnly(std::marker::PhantomData))
            .map(JsonObject)
    }
}

/// Reads a whole JSON file whose top level is an object, as `T`.
pub(crate) fn json_object<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, VerifyError> {
    serde_json::from_str::<JsonObject<T>>(text)
        .map(|JsonObject(file)| file)
        .map_err(|e| VerifyError::NotJson(e.to_string()))
}

/// Decodes a hex field of a JSON file into a canonical structure.
pub(crate) fn decode_hex_field<T: Decode>(
    text: &str,
    field: &'static str,
) -> Result<T, VerifyError> {
    let bytes = hex::decode(text).map_err(|e| VerifyError::BadHex {
        field,
        reason: e.to_string(),
    })?;
    T::from_canonical_bytes(&bytes).map_err(|error| VerifyError::Malformed { field, error })
}

/// A suite as text, `digest/signature` (for example `sm3/sm2`).
pub(crate) fn suite_name(digest: HashAlgorithm, signature: SignatureAlgorithm) -> String {
    format!("{digest}/{signature}")
}
