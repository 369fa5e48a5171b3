//! The consortium genesis file: chain id, algorithm suite, members, validators, filers and
//! write policy; its validation, its hash, key files, and the default four-member consortium.
//!
//! The genesis file is the only thing an offline verifier trusts. Every member's node starts
//! from the same file, and its hash is the parent of block 1.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::domain;
use evidence_core::encoding::{Encode, Writer};
use evidence_core::entry::{BATCH_LEN_MAX, ID_LEN_MAX};
use evidence_core::keys::{KeyError, PublicKey, SignatureAlgorithm, SigningKey};
use evidence_core::{TrustAnchor, Validator, ValidatorSet};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub mod configuration;
pub mod network;
pub mod pki;

pub use configuration::Configuration;

use crate::pki::{CaCertificate, MemberCa};

/// The `type` field of every genesis file.
pub const GENESIS_TYPE: &str = "evidence-genesis";
/// The genesis format version this build reads and writes. Version 2 added each member's
/// transport CA certificate (`members[].tls_ca`); version 3 added each member's governance
/// keys (`members[].governance_keys`) and the governance threshold (`governance`). Older
/// files are not read: no deployment held one.
pub const GENESIS_VERSION: u32 = 3;

/// Most governance keys one member may hold.
pub const GOVERNANCE_KEYS_MAX: usize = 16;
/// Largest denominator of the governance threshold.
pub const THRESHOLD_DENOMINATOR_MAX: u32 = 1000;

/// Kinds of document the default consortium knows, with the member allowed to anchor each.
pub const DEFAULT_KINDS: &[(&str, &str, &str)] = &[
    (
        "completion-drawing",
        "bureau",
        "completion drawing (竣工图)",
    ),
    (
        "inspection-report",
        "bureau",
        "inspection or test report (检测报告)",
    ),
    (
        "acceptance-report",
        "bureau",
        "acceptance report (验收报告)",
    ),
    (
        "change-record",
        "bureau",
        "design or construction change record",
    ),
    (
        "fund-transfer",
        "finance",
        "payment into a project or wage account",
    ),
    ("archive-record", "archive", "archival transfer record"),
];

/// The genesis file, as read from and written to JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    #[serde(rename = "type")]
    pub file_type: String,
    pub version: u32,
    pub chain_id: String,
    /// When the consortium was formed, in Unix milliseconds; block 1's time must be later.
    pub genesis_time_ms: u64,
    pub suite: Suite,
    pub members: Vec<Member>,
    pub validators: Vec<GenesisValidator>,
    pub filers: Vec<Filer>,
    pub policy: Policy,
    pub governance: Governance,
}

/// How the members decide together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Governance {
    /// A proposal is accepted when the members approving it are more than this fraction of
    /// all members.
    pub threshold: Threshold,
}

/// A fraction `numerator / denominator`, from one half up to (not including) one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub numerator: u32,
    pub denominator: u32,
}

impl Threshold {
    /// More than two thirds: the default.
    pub const TWO_THIRDS: Self = Self {
        numerator: 2,
        denominator: 3,
    };

    /// Whether `approving` of `members` members are more than this fraction of them.
    pub fn is_met(&self, approving: u64, members: u64) -> bool {
        u128::from(approving) * u128::from(self.denominator)
            > u128::from(members) * u128::from(self.numerator)
    }

    /// The fewest approving members that meet the threshold among `members`.
    pub fn approvals_needed(&self, members: u64) -> u64 {
        let floor =
            u128::from(members) * u128::from(self.numerator) / u128::from(self.denominator.max(1));
        u64::try_from(floor + 1).unwrap_or(u64::MAX)
    }
}

impl Default for Governance {
    fn default() -> Self {
        Self {
            threshold: Threshold::TWO_THIRDS,
        }
    }
}

/// The algorithms fixed for the life of the chain: BLAKE3 (or SHA-256, or SM3) with Ed25519,
/// or the national suite, SM3 with SM2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Hashes the log, headers, validator sets, transaction ids, the genesis and state roots.
    /// (A document digest names its own algorithm.)
    pub digest: HashAlgorithm,
    pub signature: SignatureAlgorithm,
}

impl Suite {
    /// The default suite: BLAKE3 and Ed25519.
    pub const DEFAULT: Self = Self {
        digest: HashAlgorithm::Blake3,
        signature: SignatureAlgorithm::Ed25519,
    };
    /// The national-algorithm suite (国密): SM3 and SM2.
    pub const NATIONAL: Self = Self {
        digest: HashAlgorithm::Sm3,
        signature: SignatureAlgorithm::Sm2,
    };

    /// The suite a short name selects: `ed25519-blake3` (the default), `ed25519-sha256`,
    /// `ed25519-sm3` or `sm` (SM2 with SM3).
    ///
    /// # Errors
    /// An unknown name, with the list of known ones.
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "ed25519-blake3" => Ok(Self::DEFAULT),
            "ed25519-sha256" => Ok(Self {
                digest: HashAlgorithm::Sha256,
                signature: SignatureAlgorithm::Ed25519,
            }),
            "ed25519-sm3" => Ok(Self {
                digest: HashAlgorithm::Sm3,
                signature: SignatureAlgorithm::Ed25519,
            }),
            "sm" => Ok(Self::NATIONAL),
            other => Err(format!(
                "unknown suite {other:?}: expected ed25519-blake3 (the default), \
                 ed25519-sha256, ed25519-sm3 or sm (SM2 signatures with SM3)"
            )),
        }
    }
}

impl Default for Suite {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A member organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Short identifier used everywhere else (`bureau`, `finance`, `court`, `archive`).
    pub id: String,
    /// Full name, for people.
    pub name: String,
    /// The member's certificate authority for transport security (TLS): the certificates of
    /// its nodes and of the systems that call them are issued under it. DER, hex in JSON.
    pub tls_ca: CaCertificate,
    /// The keys that sign the member's governance transactions (its filers' registrations,
    /// proposals and votes): 1 to 16, each used for nothing else.
    pub governance_keys: Vec<PublicKey>,
}

/// A member's voting node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    pub member: String,
    pub public_key: PublicKey,
    pub voting_power: u64,
    /// Where peers may reach this validator (a libp2p multiaddress); a hint, not trusted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_string"
    )]
    pub address: Option<String>,
}

/// An optional string field that, when present, must be a string: `null` is refused rather
/// than read as absent, so that two readers of one file never disagree about it.
fn present_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    String::deserialize(deserializer).map(Some)
}

/// A key allowed to anchor documents for a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filer {
    /// A name for people, e.g. `bureau-filing-system`.
    pub name: String,
    pub member: String,
    pub public_key: PublicKey,
    /// The kinds this filer may anchor; each must be allowed to its member by the policy.
    pub kinds: Vec<String>,
}

/// Who may write what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Every document kind the chain accepts, with the members whose filers may anchor it.
    pub kinds: Vec<KindPolicy>,
    /// Members whose filers may register project contracts and milestones.
    pub project_registrars: Vec<String>,
    pub limits: Limits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindPolicy {
    pub kind: String,
    #[serde(default)]
    pub description: String,
    pub members: Vec<String>,
}

/// Bounds every node enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Most anchors under one filer signature.
    pub batch_len_max: u32,
    /// Largest encoded transaction, in bytes.
    pub transaction_bytes_max: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            batch_len_max: 4096,
            transaction_bytes_max: 4 * 1024 * 1024,
        }
    }
}

/// What is wrong with a genesis file. `field` is a path into the JSON such as
/// `validators[2].voting_power`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GenesisError {
    #[error("genesis file is not valid: {0}")]
    NotJson(String),
    #[error("genesis field `{field}`: {reason}")]
    Invalid { field: String, reason: String },
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
}

fn invalid(field: impl Into<String>, reason: impl fmt::Display) -> GenesisError {
    GenesisError::Invalid {
        field: field.into(),
        reason: reason.to_string(),
    }
}

/// Checks an identifier: 1 to 64 bytes of lower-case ASCII letters, digits, `-`, `_` or `.`.
fn check_id(field: &str, id: &str) -> Result<(), GenesisError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{id:?} is not an identifier (1 to 64 of a-z, 0-9, '-', '_', '.')"),
        ))
    }
}

/// Refuses a key of small order: it decodes, but no signature by it ever verifies.
fn check_key(field: String, key: &PublicKey) -> Result<(), GenesisError> {
    if key.is_small_order() {
        Err(invalid(
            field,
            format!("{key} is of small order: no signature by it can verify"),
        ))
    } else {
        Ok(())
    }
}

/// Checks the suite and that every key follows it (SPEC.md §10.3): SM2 only with SM3 (the
/// national suite), every validator, governance and filer key of the suite's signature
/// algorithm, and on an SM2 chain every validator's address pinning its node's peer id.
fn validate_suite(genesis: &Genesis) -> Result<(), GenesisError> {
    let suite = genesis.suite;
    if suite.signature == SignatureAlgorithm::Sm2 && suite.digest != HashAlgorithm::Sm3 {
        return Err(invalid(
            "suite",
            format!(
                "a chain that signs with sm2 uses the national suite and hashes with sm3, \
                 not {}",
                suite.digest
            ),
        ));
    }
    let check = |field: String, key: &PublicKey| {
        if key.algorithm() == suite.signature {
            Ok(())
        } else {
            Err(invalid(
                field,
                format!(
                    "{key} is an {} key, but the suite signs with {}",
                    key.algorithm(),
                    suite.signature
                ),
            ))
        }
    };
    let mut peer_ids = BTreeMap::new();
    for (i, validator) in genesis.validators.iter().enumerate() {
        check(format!("validators[{i}].public_key"), &validator.public_key)?;
        let peer_id =
            network::validator_peer_id(&validator.public_key, validator.address.as_deref())
                .map_err(|e| invalid(format!("validators[{i}].address"), e))?;
        // One node, one identity: two validators pinning one peer id would leave one of them
        // unable to connect. (A key given twice is reported as such, by the validators' check.)
        if let Some(other) = peer_ids.insert(peer_id.clone(), validator.public_key)
            && other != validator.public_key
        {
            return Err(invalid(
                format!("validators[{i}].address"),
                format!("peer id {peer_id} is pinned by another validator too"),
            ));
        }
    }
    for (i, member) in genesis.members.iter().enumerate() {
        for (j, key) in member.governance_keys.iter().enumerate() {
            check(format!("members[{i}].governance_keys[{j}]"), key)?;
        }
    }
    for (i, filer) in genesis.filers.iter().enumerate() {
        check(format!("filers[{i}].public_key"), &filer.public_key)?;
    }
    Ok(())
}

/// Checks the members: identifiers, names and CA certificates (SPEC.md §10.3). Returns their
/// ids.
fn validate_members(members: &[Member]) -> Result<BTreeSet<&str>, GenesisError> {
    let mut ids = BTreeSet::new();
    let mut ca_subjects = BTreeSet::new();
    for (i, member) in members.iter().enumerate() {
        check_id(&format!("members[{i}].id"), &member.id)?;
        if !ids.insert(member.id.as_str()) {
            return Err(invalid(
                format!("members[{i}].id"),
                format!("{:?} is listed twice", member.id),
            ));
        }
        if member.name.trim().is_empty() || member.name.len() > ID_LEN_MAX as usize {
            return Err(invalid(
                format!("members[{i}].name"),
                "must be 1 to 256 bytes",
            ));
        }
        let subject = member
            .tls_ca
            .check(&member.id)
            .map_err(|e| invalid(format!("members[{i}].tls_ca"), e))?;
        if !ca_subjects.insert(subject) {
            return Err(invalid(
                format!("members[{i}].tls_ca"),
                "its subject is the same as another member's CA: callers' certificates \
                 would not say which member issued them",
            ));
        }
    }
    if ids.is_empty() {
        return Err(invalid("members", "at least one member is needed"));
    }
    Ok(ids)
}

/// Checks the validators: at least one, each of a member in `members` with a power of at least
/// 1 and a key of no small order used once, together forming a valid set; their keys join
/// `keys` (the keys used in any role).
fn validate_validators(
    validators: &[GenesisValidator],
    members: &BTreeSet<&str>,
    keys: &mut BTreeSet<PublicKey>,
) -> Result<(), GenesisError> {
    if validators.is_empty() {
        return Err(invalid("validators", "at least one validator is needed"));
    }
    for (i, validator) in validators.iter().enumerate() {
        if !members.contains(validator.member.as_str()) {
            return Err(invalid(
                format!("validators[{i}].member"),
                format!("{:?} is not a member", validator.member),
            ));
        }
        if validator.voting_power == 0 {
            return Err(invalid(
                format!("validators[{i}].voting_power"),
                "must be at least 1",
            ));
        }
        check_key(format!("validators[{i}].public_key"), &validator.public_key)?;
        if !keys.insert(validator.public_key) {
            return Err(invalid(
                format!("validators[{i}].public_key"),
                format!("{} is used twice", validator.public_key),
            ));
        }
        if let Some(address) = &validator.address
            && (address.is_empty() || address.len() > ID_LEN_MAX as usize)
        {
            return Err(invalid(
                format!("validators[{i}].address"),
                "must be 1 to 256 bytes when present",
            ));
        }
    }
    validator_set_of(validators).map_err(|e| invalid("validators", e))?;
    Ok(())
}

/// The validator set `validators` form, in canonical order.
pub(crate) fn validator_set_of(
    validators: &[GenesisValidator],
) -> Result<ValidatorSet, evidence_core::validators::ValidatorSetError> {
    ValidatorSet::new(
        validators
            .iter()
            .map(|v| Validator {
                public_key: v.public_key,
                voting_power: v.voting_power,
            })
            .collect(),
    )
}

/// `seq<validator>`, a validator being `string member || public key || u64 voting_power ||
/// option<string address>` (SPEC.md §10.2).
pub(crate) fn encode_validators(writer: &mut Writer, validators: &[GenesisValidator]) {
    writer.seq(validators, |w, v| {
        w.str(&v.member)
            .put(&v.public_key)
            .u64(v.voting_power)
            .option(v.address.as_ref(), |w, a| {
                w.str(a);
            });
    });
}

/// Requires a JSON object wherever the genesis format has one (SPEC.md §10.1): the file, the
/// suite, each member, validator, filer and kind, the policy, its limits, the governance
/// section and its threshold. (A reader built on field order would otherwise take an array
/// of the fields' values in their place, which the format does not allow.)
fn check_objects(file: &serde_json::Value) -> Result<(), GenesisError> {
    use serde_json::Value;
    fn object<'v>(
        value: &'v Value,
        field: &str,
    ) -> Result<&'v serde_json::Map<String, Value>, GenesisError> {
        value
            .as_object()
            .ok_or_else(|| GenesisError::NotJson(format!("`{field}` must be a JSON object")))
    }
    let each = |value: Option<&Value>, field: &str| -> Result<(), GenesisError> {
        if let Some(Value::Array(items)) = value {
            for (i, item) in items.iter().enumerate() {
                object(item, &format!("{field}[{i}]"))?;
            }
        }
        Ok(())
    };
    let top = object(file, "the genesis file")?;
    for (field, inner) in [
        ("suite", None),
        ("policy", Some("limits")),
        ("governance", Some("threshold")),
    ] {
        if let Some(value) = top.get(field) {
            let section = object(value, field)?;
            if let Some(inner) = inner
                && let Some(value) = section.get(inner)
            {
                object(value, &format!("{field}.{inner}"))?;
            }
            if field == "policy" {
                each(section.get("kinds"), "policy.kinds")?;
            }
        }
    }
    for field in ["members", "validators", "filers"] {
        each(top.get(field), field)?;
    }
    Ok(())
}

/// Checks every member's governance keys: 1 to 16 each, none of small order, none in `keys`
/// (the keys already used in other roles), which they join.
fn validate_governance_keys(
    members: &[Member],
    keys: &mut BTreeSet<PublicKey>,
) -> Result<(), GenesisError> {
    for (i, member) in members.iter().enumerate() {
        let field = format!("members[{i}].governance_keys");
        if member.governance_keys.is_empty() || member.governance_keys.len() > GOVERNANCE_KEYS_MAX {
            return Err(invalid(field, "must hold 1 to 16 keys"));
        }
        for (j, key) in member.governance_keys.iter().enumerate() {
            let field = format!("{field}[{j}]");
            check_key(field.clone(), key)?;
            if !keys.insert(*key) {
                return Err(invalid(
                    field,
                    format!("{key} is already used by a validator or another governance key"),
                ));
            }
        }
    }
    Ok(())
}

/// Checks the governance threshold: a fraction from 1/2 up to (not including) 1.
fn validate_threshold(threshold: Threshold) -> Result<(), GenesisError> {
    if threshold.denominator == 0
        || threshold.denominator > THRESHOLD_DENOMINATOR_MAX
        || threshold.numerator >= threshold.denominator
        || u64::from(threshold.numerator) * 2 < u64::from(threshold.denominator)
    {
        return Err(invalid(
            "governance.threshold",
            format!(
                "{}/{} is not a fraction from 1/2 up to (not including) 1 with a denominator \
                 of 1 to {THRESHOLD_DENOMINATOR_MAX}",
                threshold.numerator, threshold.denominator
            ),
        ));
    }
    Ok(())
}

/// Checks the write policy against the member ids: kinds, project registrars and limits.
fn validate_policy(policy: &Policy, members: &BTreeSet<&str>) -> Result<(), GenesisError> {
    let known_member = |field: String, id: &str| -> Result<(), GenesisError> {
        if members.contains(id) {
            Ok(())
        } else {
            Err(invalid(field, format!("{id:?} is not a member")))
        }
    };
    let mut kinds = BTreeSet::new();
    for (i, kind) in policy.kinds.iter().enumerate() {
        check_id(&format!("policy.kinds[{i}].kind"), &kind.kind)?;
        if !kinds.insert(kind.kind.as_str()) {
            return Err(invalid(
                format!("policy.kinds[{i}].kind"),
                format!("{:?} is listed twice", kind.kind),
            ));
        }
        for (j, member) in kind.members.iter().enumerate() {
            let field = format!("policy.kinds[{i}].members[{j}]");
            known_member(field.clone(), member)?;
            if kind.members[..j].contains(member) {
                return Err(invalid(field, format!("{member:?} is listed twice")));
            }
        }
    }
    for (i, member) in policy.project_registrars.iter().enumerate() {
        let field = format!("policy.project_registrars[{i}]");
        known_member(field.clone(), member)?;
        if policy.project_registrars[..i].contains(member) {
            return Err(invalid(field, format!("{member:?} is listed twice")));
        }
    }
    let limits = policy.limits;
    if limits.batch_len_max == 0 || limits.batch_len_max as usize > BATCH_LEN_MAX {
        return Err(invalid(
            "policy.limits.batch_len_max",
            format!("must be 1 to {BATCH_LEN_MAX}"),
        ));
    }
    if limits.transaction_bytes_max < 1024 || limits.transaction_bytes_max > 64 * 1024 * 1024 {
        return Err(invalid(
            "policy.limits.transaction_bytes_max",
            "must be 1 KiB to 64 MiB",
        ));
    }
    Ok(())
}

impl Genesis {
    /// Parses and validates a genesis file.
    ///
    /// # Errors
    /// Not JSON, a missing or unknown field, or a validation error naming the field.
    pub fn from_json(text: &str) -> Result<Self, GenesisError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| GenesisError::NotJson(e.to_string()))?;
        check_objects(&value)?;
        // Typed from the text, not from the value: a value keeps the last of two fields of one
        // name, where the typed reader refuses the duplicate.
        let genesis: Self =
            serde_json::from_str(text).map_err(|e| GenesisError::NotJson(e.to_string()))?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// Reads and validates the genesis file at `path`.
    ///
    /// # Errors
    /// The file cannot be read, or as [`Genesis::from_json`].
    pub fn load(path: &Path) -> Result<Self, GenesisError> {
        let text = std::fs::read_to_string(path).map_err(|e| GenesisError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Self::from_json(&text)
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Checks every rule of SPEC.md §10.
    ///
    /// # Errors
    /// The first rule broken, naming the field.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.file_type != GENESIS_TYPE {
            return Err(invalid("type", format!("must be {GENESIS_TYPE:?}")));
        }
        if self.version != GENESIS_VERSION {
            return Err(invalid(
                "version",
                format!(
                    "version {} is not supported (this build reads {GENESIS_VERSION})",
                    self.version
                ),
            ));
        }
        check_id("chain_id", &self.chain_id)?;
        if self.suite.digest != HashAlgorithm::Blake3
            && self.suite.digest != HashAlgorithm::Sha256
            && self.suite.digest != HashAlgorithm::Sm3
        {
            return Err(invalid("suite.digest", "unsupported"));
        }
        validate_suite(self)?;
        let members = validate_members(&self.members)?;
        let known_member = |field: String, id: &str| -> Result<(), GenesisError> {
            if members.contains(id) {
                Ok(())
            } else {
                Err(invalid(field, format!("{id:?} is not a member")))
            }
        };
        let mut keys = BTreeSet::new();
        validate_validators(&self.validators, &members, &mut keys)?;
        validate_governance_keys(&self.members, &mut keys)?;
        validate_threshold(self.governance.threshold)?;
        validate_policy(&self.policy, &members)?;
        for (i, filer) in self.filers.iter().enumerate() {
            if filer.name.trim().is_empty() || filer.name.len() > ID_LEN_MAX as usize {
                return Err(invalid(
                    format!("filers[{i}].name"),
                    "must be 1 to 256 bytes",
                ));
            }
            known_member(format!("filers[{i}].member"), &filer.member)?;
            check_key(format!("filers[{i}].public_key"), &filer.public_key)?;
            if !keys.insert(filer.public_key) {
                return Err(invalid(
                    format!("filers[{i}].public_key"),
                    format!(
                        "{} is already used by a validator, a governance key or another filer",
                        filer.public_key
                    ),
                ));
            }
            for (j, kind) in filer.kinds.iter().enumerate() {
                let field = format!("filers[{i}].kinds[{j}]");
                if filer.kinds[..j].contains(kind) {
                    return Err(invalid(field, format!("{kind:?} is listed twice")));
                }
                let Some(policy) = self.kind_policy(kind) else {
                    return Err(invalid(
                        field,
                        format!("{kind:?} is not a kind in policy.kinds"),
                    ));
                };
                if !policy.members.contains(&filer.member) {
                    return Err(invalid(
                        field,
                        format!(
                            "policy does not allow member {:?} to anchor {kind:?}",
                            filer.member
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The validator set, in canonical order.
    ///
    /// # Errors
    /// The validators do not form a valid set.
    pub fn validator_set(
        &self,
    ) -> Result<ValidatorSet, evidence_core::validators::ValidatorSetError> {
        validator_set_of(&self.validators)
    }

    /// The genesis hash: `H(prefix || canonical encoding)` under the chain's digest algorithm
    /// (SPEC.md §10.2). It is the parent hash of block 1.
    pub fn hash(&self) -> Digest {
        let mut writer = Writer::with_domain(domain::GENESIS);
        writer.put(self);
        self.suite.digest.hash(writer.as_slice())
    }

    /// The trust anchor an offline verifier uses.
    ///
    /// # Errors
    /// The validators do not form a valid set (a genesis that passed validation always does).
    pub fn trust_anchor(&self) -> Result<TrustAnchor, GenesisError> {
        let validators = self.validator_set().map_err(|e| invalid("validators", e))?;
        Ok(TrustAnchor::new(
            self.chain_id.clone(),
            self.hash(),
            self.suite.digest,
            self.suite.signature,
            validators,
        )
        .with_genesis_filers(
            self.filers
                .iter()
                .map(|f| (f.public_key, f.member.clone()))
                .collect(),
        ))
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    pub fn filer(&self, key: &PublicKey) -> Option<&Filer> {
        self.filers.iter().find(|f| f.public_key == *key)
    }

    pub fn kind_policy(&self, kind: &str) -> Option<&KindPolicy> {
        self.policy.kinds.iter().find(|k| k.kind == kind)
    }

    pub fn validator_of(&self, member: &str) -> Option<&GenesisValidator> {
        self.validators.iter().find(|v| v.member == member)
    }

    /// Every member's CA certificate as one PEM bundle: the roots a node or a client trusts
    /// for TLS.
    pub fn ca_bundle_pem(&self) -> String {
        self.members.iter().map(|m| m.tls_ca.to_pem()).collect()
    }

    /// `(member, CA subject DER)` for every member, as [`pki::identify`] takes them. A member
    /// whose CA does not parse is left out (a validated genesis has none).
    pub fn ca_subjects(&self) -> Vec<(String, Vec<u8>)> {
        self.members
            .iter()
            .filter_map(|m| Some((m.id.clone(), m.tls_ca.check(&m.id).ok()?)))
            .collect()
    }
}

/// The members as the genesis hash and the configuration record encode them (SPEC.md §10.2,
/// §11.2): `seq<string id || string name || bytes tls_ca || seq<public key>>`.
pub(crate) fn encode_members(writer: &mut Writer, members: &[Member]) {
    writer.seq(members, |w, m| {
        w.str(&m.id)
            .str(&m.name)
            .bytes(m.tls_ca.der())
            .seq(&m.governance_keys, |w, k| {
                w.put(k);
            });
    });
}

/// The policy and the threshold as the genesis hash and the configuration record encode them:
/// kinds, project registrars, limits, threshold.
pub(crate) fn encode_policy_and_threshold(
    writer: &mut Writer,
    policy: &Policy,
    governance: &Governance,
) {
    writer
        .seq(&policy.kinds, |w, k| {
            w.str(&k.kind).str(&k.description).seq(&k.members, |w, m| {
                w.str(m);
            });
        })
        .seq(&policy.project_registrars, |w, m| {
            w.str(m);
        })
        .u32(policy.limits.batch_len_max)
        .u32(policy.limits.transaction_bytes_max)
        .u32(governance.threshold.numerator)
        .u32(governance.threshold.denominator);
}

impl Encode for Genesis {
    fn encode(&self, writer: &mut Writer) {
        writer
            .str(&self.file_type)
            .u32(self.version)
            .str(&self.chain_id)
            .u64(self.genesis_time_ms)
            .u8(self.suite.digest.tag())
            .u8(self.suite.signature.tag());
        encode_members(writer, &self.members);
        encode_validators(writer, &self.validators);
        writer.seq(&self.filers, |w, f| {
            w.str(&f.name)
                .str(&f.member)
                .put(&f.public_key)
                .seq(&f.kinds, |w, k| {
                    w.str(k);
                });
        });
        encode_policy_and_threshold(writer, &self.policy, &self.governance);
    }
}

/// A generated consortium: the genesis file and every secret key it names.
#[derive(Debug, Clone)]
pub struct Consortium {
    pub genesis: Genesis,
    /// (member, validator key), in genesis order.
    pub validator_keys: Vec<(String, SigningKey)>,
    /// (member, filer key), in genesis order.
    pub filer_keys: Vec<(String, SigningKey)>,
    /// (member, the key of its TLS certificate authority), in genesis member order.
    pub ca_keys: Vec<(String, SigningKey)>,
    /// (member, governance key), in genesis member order (one per member here).
    pub governance_keys: Vec<(String, SigningKey)>,
}

impl Consortium {
    /// The certificate authority of `member`, rebuilt from its key (the same certificate as
    /// in genesis).
    ///
    /// # Errors
    /// `member` has no CA key here, or the certificate cannot be built.
    pub fn member_ca(&self, member: &str) -> Result<MemberCa, pki::PkiError> {
        let (_, key) = self
            .ca_keys
            .iter()
            .find(|(m, _)| m == member)
            .ok_or_else(|| pki::PkiError::Generate(format!("no CA key for member {member:?}")))?;
        MemberCa::new(member, key, self.genesis.genesis_time_ms)
    }

    /// Adds a member with a new CA and one governance key (both from `rng`) to the genesis.
    ///
    /// # Errors
    /// The CA certificate cannot be built.
    pub fn add_member(
        &mut self,
        id: &str,
        name: &str,
        rng: &mut (impl rand_core::CryptoRng + rand_core::RngCore),
    ) -> Result<(), pki::PkiError> {
        // The CA key signs X.509 certificates for TLS, which has no SM2 here: it stays
        // Ed25519 whatever the suite (SPEC.md §10.1, `tls_ca`).
        let key = SigningKey::generate_with(rng);
        let ca = MemberCa::new(id, &key, self.genesis.genesis_time_ms)?;
        let governance_key = SigningKey::generate_for_with(self.genesis.suite.signature, rng);
        self.genesis.members.push(Member {
            id: id.to_owned(),
            name: name.to_owned(),
            tls_ca: ca.certificate(),
            governance_keys: vec![governance_key.public_key()],
        });
        self.ca_keys.push((id.to_owned(), key));
        self.governance_keys.push((id.to_owned(), governance_key));
        Ok(())
    }

    /// The governance key of `member`, if this consortium holds one.
    pub fn governance_key(&self, member: &str) -> Option<&SigningKey> {
        self.governance_keys
            .iter()
            .find(|(m, _)| m == member)
            .map(|(_, key)| key)
    }
}

/// The four default members.
pub const DEFAULT_MEMBERS: &[(&str, &str)] = &[
    ("bureau", "Housing and Construction Bureau (住建局)"),
    ("finance", "Finance Bureau (财政局)"),
    ("court", "People's Court (法院)"),
    ("archive", "City Construction Archives (城建档案馆)"),
];

/// Generates the default four-member consortium (`bureau`, `finance`, `court`, `archive`):
/// one validator per member with voting power 1, one filer per member (bureau:
/// `completion-drawing` and `inspection-report`; finance: `fund-transfer`; court and archive:
/// no kinds), and the default policy. `rng` supplies every key.
pub fn default_consortium(
    chain_id: &str,
    genesis_time_ms: u64,
    rng: &mut (impl rand_core::CryptoRng + rand_core::RngCore),
) -> Consortium {
    default_consortium_with_suite(chain_id, genesis_time_ms, Suite::default(), rng)
}

/// [`default_consortium`] with the algorithms of `suite`: every validator, governance and
/// filer key is of its signature algorithm. On an SM2 chain each validator's address is
/// `/p2p/<peer id>` of its node's network key ([`network`]), with no host part: the nodes'
/// configuration says where to dial.
pub fn default_consortium_with_suite(
    chain_id: &str,
    genesis_time_ms: u64,
    suite: Suite,
    rng: &mut (impl rand_core::CryptoRng + rand_core::RngCore),
) -> Consortium {
    let mut validator_keys = Vec::new();
    let mut filer_keys = Vec::new();
    let mut validators = Vec::new();
    let mut filers = Vec::new();
    let mut consortium = Consortium {
        genesis: Genesis {
            file_type: GENESIS_TYPE.to_owned(),
            version: GENESIS_VERSION,
            chain_id: chain_id.to_owned(),
            genesis_time_ms,
            suite,
            members: Vec::new(),
            validators: Vec::new(),
            filers: Vec::new(),
            policy: Policy {
                kinds: DEFAULT_KINDS
                    .iter()
                    .map(|(kind, member, description)| KindPolicy {
                        kind: (*kind).to_owned(),
                        description: (*description).to_owned(),
                        members: vec![(*member).to_owned()],
                    })
                    .collect(),
                project_registrars: vec!["bureau".to_owned()],
                limits: Limits::default(),
            },
            governance: Governance::default(),
        },
        validator_keys: Vec::new(),
        filer_keys: Vec::new(),
        ca_keys: Vec::new(),
        governance_keys: Vec::new(),
    };
    for (id, name) in DEFAULT_MEMBERS {
        consortium
            .add_member(id, name, rng)
            .expect("a CA certificate from a fresh Ed25519 key and a valid member id");
    }
    for (member, _) in DEFAULT_MEMBERS {
        let validator_key = SigningKey::generate_for_with(suite.signature, rng);
        let filer_key = SigningKey::generate_for_with(suite.signature, rng);
        let address = (suite.signature == SignatureAlgorithm::Sm2)
            .then(|| format!("/p2p/{}", network::network_peer_id(&validator_key)));
        validators.push(GenesisValidator {
            member: (*member).to_owned(),
            public_key: validator_key.public_key(),
            voting_power: 1,
            address,
        });
        let kinds: &[&str] = match *member {
            "bureau" => &["completion-drawing", "inspection-report"],
            "finance" => &["fund-transfer"],
            _ => &[],
        };
        filers.push(Filer {
            name: format!("{member}-filing-system"),
            member: (*member).to_owned(),
            public_key: filer_key.public_key(),
            kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        });
        validator_keys.push(((*member).to_owned(), validator_key));
        filer_keys.push(((*member).to_owned(), filer_key));
    }
    consortium.genesis.validators = validators;
    consortium.genesis.filers = filers;
    consortium.validator_keys = validator_keys;
    consortium.filer_keys = filer_keys;
    consortium
}

/// Why a key file could not be read or written.
#[derive(Debug, Error)]
pub enum KeyFileError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path}: {source}")]
    Invalid { path: PathBuf, source: KeyError },
    #[error(
        "key file {path} may be read by other users (mode {mode:o}); a key file must be readable \
         by its owner only: chmod 600 {path}"
    )]
    ReadableByOthers { path: PathBuf, mode: u32 },
}

/// Writes `key` to a new file at `path`, readable by its owner only (mode 0600 on Unix).
/// An existing file is never overwritten.
///
/// # Errors
/// The file exists or cannot be created or written.
pub fn write_key_file(path: &Path, key: &SigningKey) -> Result<(), KeyFileError> {
    let wrap = |source| KeyFileError::Write {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(wrap)?;
    file.write_all(key.to_key_file().as_bytes()).map_err(wrap)?;
    file.sync_all().map_err(wrap)
}

/// Reads a key file written by [`write_key_file`]. A file that users other than its owner
/// may read is refused: the key in it must be taken as known to them.
///
/// # Errors
/// The file cannot be read, may be read by others, or is not a valid, undamaged key file.
pub fn read_key_file(path: &Path) -> Result<SigningKey, KeyFileError> {
    let read_error = |source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(read_error)?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::ReadableByOthers {
                path: path.to_owned(),
                mode,
            });
        }
    }
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(read_error)?);
    SigningKey::from_key_file(&text).map_err(|source| KeyFileError::Invalid {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;
