//! Governance transactions: what a member signs with one of its governance keys to change the
//! consortium on the ledger (SPEC.md §6.7).
//!
//! A member alone registers, revokes and rotates its own filers' keys. The members together
//! change the consortium itself: one proposes a list of changes with an expiry, the others
//! vote, and once the approving members meet the governance threshold the changes take effect
//! from the next height. Each governance transaction becomes a log entry, so auditors replay
//! every change and a receipt can prove a filer's registration with the entry's inclusion
//! proof.

use serde::{Deserialize, Serialize};

use crate::domain;
use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use crate::entry::{ID_LEN_MAX, REASON_LEN_MAX};
use crate::keys::{PublicKey, Signature, SignatureError, SigningKey};

const GOVERNANCE_BODY_VERSION: u8 = 1;

/// Most kinds one filer registration may list.
pub const FILER_KINDS_MAX: u32 = 64;
/// Most changes one proposal may carry.
pub const PROPOSAL_CHANGES_MAX: u32 = 32;
/// Most governance keys one member may hold (as in genesis).
pub const GOVERNANCE_KEYS_MAX: u32 = 16;
/// Most members a kind's policy, or the list of project registrars, may name.
pub const POLICY_MEMBERS_MAX: u32 = 256;
/// Largest member CA certificate, in DER bytes (as in genesis).
pub const CA_CERTIFICATE_BYTES_MAX: u32 = 8 * 1024;
/// Longest proposal summary, in bytes.
pub const SUMMARY_LEN_MAX: u32 = 4096;

fn read_text(reader: &mut Reader<'_>, max: u32, what: &'static str) -> Result<String, DecodeError> {
    Ok(reader.str_max(max, what)?.to_owned())
}

/// A filer key a member registers for one of its filing systems.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilerRegistration {
    /// A name for people, e.g. `bureau-archive-scanner`.
    pub name: String,
    pub public_key: PublicKey,
    /// The kinds it may anchor: each must be a policy kind allowed to the member.
    pub kinds: Vec<String>,
    /// The system it files from; its anchors must name exactly this source system.
    pub source_system: String,
}

impl Encode for FilerRegistration {
    fn encode(&self, writer: &mut Writer) {
        writer
            .str(&self.name)
            .put(&self.public_key)
            .seq(&self.kinds, |w, kind| {
                w.str(kind);
            })
            .str(&self.source_system);
    }
}

impl Decode for FilerRegistration {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            name: read_text(reader, ID_LEN_MAX, "filer name")?,
            public_key: reader.get()?,
            kinds: reader.seq_max(FILER_KINDS_MAX, "filer kinds", |r| {
                read_text(r, ID_LEN_MAX, "kind")
            })?,
            source_system: read_text(reader, ID_LEN_MAX, "source system")?,
        })
    }
}

/// A member's withdrawal of one of its filer keys, from `effective_height` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilerRevocation {
    pub public_key: PublicKey,
    pub reason: String,
    /// The first height at which the key may no longer file. It may be earlier than the
    /// height that records the revocation (a key known to have leaked since then): what the
    /// key filed from that height on is then filed by a revoked key.
    pub effective_height: u64,
}

impl Encode for FilerRevocation {
    fn encode(&self, writer: &mut Writer) {
        writer
            .put(&self.public_key)
            .str(&self.reason)
            .u64(self.effective_height);
    }
}

impl Decode for FilerRevocation {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            public_key: reader.get()?,
            reason: read_text(reader, REASON_LEN_MAX, "revocation reason")?,
            effective_height: reader.u64("effective height")?,
        })
    }
}

/// One change to the consortium a proposal carries. Changes of the validator set (tags 9 to
/// 12) take effect like the others after the block that accepts them: the new set certifies
/// the next height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Change {
    /// A new member with its transport CA and governance keys (tag 1).
    AddMember {
        id: String,
        name: String,
        /// The member's CA certificate, DER (hex in JSON).
        #[serde(with = "hex_bytes")]
        tls_ca: Vec<u8>,
        governance_keys: Vec<PublicKey>,
    },
    /// A member leaves: its governance keys and filers act no more, and the policy stops naming
    /// it (tag 2).
    RemoveMember { id: String },
    /// A member's governance keys are replaced by these (tag 3).
    SetGovernanceKeys {
        member: String,
        keys: Vec<PublicKey>,
    },
    /// The governance threshold becomes `numerator / denominator` (tag 4).
    SetThreshold { numerator: u32, denominator: u32 },
    /// A document kind is added, or its policy replaced (tag 5).
    SetKind {
        kind: String,
        description: String,
        members: Vec<String>,
    },
    /// A document kind is no longer accepted (tag 6).
    RemoveKind { kind: String },
    /// The members whose filers may register project contracts (tag 7).
    SetProjectRegistrars { members: Vec<String> },
    /// The bounds every node enforces (tag 8).
    SetLimits {
        batch_len_max: u32,
        transaction_bytes_max: u32,
    },
    /// A new validator of a member (tag 9). `address` is where peers may reach it (a libp2p
    /// multiaddress), a hint as in genesis.
    AddValidator {
        member: String,
        public_key: PublicKey,
        voting_power: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// A validator leaves the set (tag 10).
    RemoveValidator { public_key: PublicKey },
    /// A validator's key is replaced by a new one, keeping its member and power (tag 11); the
    /// address becomes `address`.
    ReplaceValidator {
        public_key: PublicKey,
        new_public_key: PublicKey,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// A validator's voting power becomes `voting_power` (tag 12).
    SetVotingPower {
        public_key: PublicKey,
        voting_power: u64,
    },
}

impl Change {
    /// A short name for logs and errors.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::AddMember { .. } => "add-member",
            Self::RemoveMember { .. } => "remove-member",
            Self::SetGovernanceKeys { .. } => "set-governance-keys",
            Self::SetThreshold { .. } => "set-threshold",
            Self::SetKind { .. } => "set-kind",
            Self::RemoveKind { .. } => "remove-kind",
            Self::SetProjectRegistrars { .. } => "set-project-registrars",
            Self::SetLimits { .. } => "set-limits",
            Self::AddValidator { .. } => "add-validator",
            Self::RemoveValidator { .. } => "remove-validator",
            Self::ReplaceValidator { .. } => "replace-validator",
            Self::SetVotingPower { .. } => "set-voting-power",
        }
    }
}

fn write_members(writer: &mut Writer, members: &[String]) {
    writer.seq(members, |w, member| {
        w.str(member);
    });
}

fn read_members(reader: &mut Reader<'_>) -> Result<Vec<String>, DecodeError> {
    reader.seq_max(POLICY_MEMBERS_MAX, "members", |r| {
        read_text(r, ID_LEN_MAX, "member")
    })
}

fn read_address(reader: &mut Reader<'_>) -> Result<Option<String>, DecodeError> {
    reader.option("validator address", |r| {
        read_text(r, ID_LEN_MAX, "validator address")
    })
}

fn read_keys(reader: &mut Reader<'_>) -> Result<Vec<PublicKey>, DecodeError> {
    reader.seq_max(GOVERNANCE_KEYS_MAX, "governance keys", Reader::get)
}

impl Encode for Change {
    fn encode(&self, writer: &mut Writer) {
        match self {
            Self::AddMember {
                id,
                name,
                tls_ca,
                governance_keys,
            } => {
                writer.u8(1).str(id).str(name).bytes(tls_ca);
                writer.seq(governance_keys, |w, key| {
                    w.put(key);
                });
            }
            Self::RemoveMember { id } => {
                writer.u8(2).str(id);
            }
            Self::SetGovernanceKeys { member, keys } => {
                writer.u8(3).str(member).seq(keys, |w, key| {
                    w.put(key);
                });
            }
            Self::SetThreshold {
                numerator,
                denominator,
            } => {
                writer.u8(4).u32(*numerator).u32(*denominator);
            }
            Self::SetKind {
                kind,
                description,
                members,
            } => {
                writer.u8(5).str(kind).str(description);
                write_members(writer, members);
            }
            Self::RemoveKind { kind } => {
                writer.u8(6).str(kind);
            }
            Self::SetProjectRegistrars { members } => {
                writer.u8(7);
                write_members(writer, members);
            }
            Self::SetLimits {
                batch_len_max,
                transaction_bytes_max,
            } => {
                writer.u8(8).u32(*batch_len_max).u32(*transaction_bytes_max);
            }
            Self::AddValidator {
                member,
                public_key,
                voting_power,
                address,
            } => {
                writer
                    .u8(9)
                    .str(member)
                    .put(public_key)
                    .u64(*voting_power)
                    .option(address.as_ref(), |w, a| {
                        w.str(a);
                    });
            }
            Self::RemoveValidator { public_key } => {
                writer.u8(10).put(public_key);
            }
            Self::ReplaceValidator {
                public_key,
                new_public_key,
                address,
            } => {
                writer.u8(11).put(public_key).put(new_public_key).option(
                    address.as_ref(),
                    |w, a| {
                        w.str(a);
                    },
                );
            }
            Self::SetVotingPower {
                public_key,
                voting_power,
            } => {
                writer.u8(12).put(public_key).u64(*voting_power);
            }
        }
    }
}

impl Decode for Change {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match reader.u8("change")? {
            1 => Self::AddMember {
                id: read_text(reader, ID_LEN_MAX, "member id")?,
                name: read_text(reader, ID_LEN_MAX, "member name")?,
                tls_ca: reader
                    .bytes_max(CA_CERTIFICATE_BYTES_MAX, "CA certificate")?
                    .to_vec(),
                governance_keys: read_keys(reader)?,
            },
            2 => Self::RemoveMember {
                id: read_text(reader, ID_LEN_MAX, "member id")?,
            },
            3 => Self::SetGovernanceKeys {
                member: read_text(reader, ID_LEN_MAX, "member id")?,
                keys: read_keys(reader)?,
            },
            4 => Self::SetThreshold {
                numerator: reader.u32("threshold numerator")?,
                denominator: reader.u32("threshold denominator")?,
            },
            5 => Self::SetKind {
                kind: read_text(reader, ID_LEN_MAX, "kind")?,
                description: read_text(reader, ID_LEN_MAX, "kind description")?,
                members: read_members(reader)?,
            },
            6 => Self::RemoveKind {
                kind: read_text(reader, ID_LEN_MAX, "kind")?,
            },
            7 => Self::SetProjectRegistrars {
                members: read_members(reader)?,
            },
            8 => Self::SetLimits {
                batch_len_max: reader.u32("batch length limit")?,
                transaction_bytes_max: reader.u32("transaction size limit")?,
            },
            9 => Self::AddValidator {
                member: read_text(reader, ID_LEN_MAX, "member id")?,
                public_key: reader.get()?,
                voting_power: reader.u64("voting power")?,
                address: read_address(reader)?,
            },
            10 => Self::RemoveValidator {
                public_key: reader.get()?,
            },
            11 => Self::ReplaceValidator {
                public_key: reader.get()?,
                new_public_key: reader.get()?,
                address: read_address(reader)?,
            },
            12 => Self::SetVotingPower {
                public_key: reader.get()?,
                voting_power: reader.u64("voting power")?,
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "change",
                    tag,
                });
            }
        })
    }
}

/// A proposal of changes to the consortium, open to the members' votes until `expires_at_ms`.
/// Proposing counts as the proposing member's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The proposal's name, chosen by its proposer and never used again on the chain.
    pub id: String,
    /// The last block time (Unix milliseconds) at which a vote counts.
    pub expires_at_ms: u64,
    /// What it does and why, for people.
    pub summary: String,
    /// Applied in order, all or none, when the proposal is accepted.
    pub changes: Vec<Change>,
}

impl Encode for Proposal {
    fn encode(&self, writer: &mut Writer) {
        writer
            .str(&self.id)
            .u64(self.expires_at_ms)
            .str(&self.summary)
            .seq(&self.changes, |w, change| {
                w.put(change);
            });
    }
}

impl Decode for Proposal {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            id: read_text(reader, ID_LEN_MAX, "proposal id")?,
            expires_at_ms: reader.u64("proposal expiry")?,
            summary: read_text(reader, SUMMARY_LEN_MAX, "proposal summary")?,
            changes: reader.seq_max(PROPOSAL_CHANGES_MAX, "changes", Reader::get)?,
        })
    }
}

/// A member's vote on an open proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub proposal_id: String,
    pub approve: bool,
}

impl Encode for Vote {
    fn encode(&self, writer: &mut Writer) {
        writer.str(&self.proposal_id).bool(self.approve);
    }
}

impl Decode for Vote {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            proposal_id: read_text(reader, ID_LEN_MAX, "proposal id")?,
            approve: reader.bool("approval")?,
        })
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

/// What a governance transaction does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[expect(
    clippy::large_enum_variant,
    reason = "a rotation names two keys; an action is built once per transaction, and records \
              box the whole transaction"
)]
pub enum GovernanceAction {
    /// Register a filer key of the member (tag 1).
    RegisterFiler(FilerRegistration),
    /// Revoke a filer key of the member (tag 2).
    RevokeFiler(FilerRevocation),
    /// Revoke one filer key of the member and register its successor, at once (tag 3).
    RotateFiler {
        revoke: FilerRevocation,
        register: FilerRegistration,
    },
    /// Propose changes to the consortium, approving them (tag 4).
    Propose(Proposal),
    /// Vote on an open proposal (tag 5).
    Vote(Vote),
}

impl GovernanceAction {
    /// A short name for logs and errors.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::RegisterFiler(_) => "register-filer",
            Self::RevokeFiler(_) => "revoke-filer",
            Self::RotateFiler { .. } => "rotate-filer",
            Self::Propose(_) => "propose",
            Self::Vote(_) => "vote",
        }
    }
}

impl Encode for GovernanceAction {
    fn encode(&self, writer: &mut Writer) {
        match self {
            Self::RegisterFiler(registration) => writer.u8(1).put(registration),
            Self::RevokeFiler(revocation) => writer.u8(2).put(revocation),
            Self::RotateFiler { revoke, register } => writer.u8(3).put(revoke).put(register),
            Self::Propose(proposal) => writer.u8(4).put(proposal),
            Self::Vote(vote) => writer.u8(5).put(vote),
        };
    }
}

impl Decode for GovernanceAction {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match reader.u8("governance action")? {
            1 => Ok(Self::RegisterFiler(reader.get()?)),
            2 => Ok(Self::RevokeFiler(reader.get()?)),
            3 => Ok(Self::RotateFiler {
                revoke: reader.get()?,
                register: reader.get()?,
            }),
            4 => Ok(Self::Propose(reader.get()?)),
            5 => Ok(Self::Vote(reader.get()?)),
            tag => Err(DecodeError::UnknownTag {
                what: "governance action",
                tag,
            }),
        }
    }
}

/// What a member signs with one of its governance keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernanceBody {
    pub chain_id: String,
    /// The member acting.
    pub member: String,
    /// One of the member's governance keys; it signs the body.
    pub signer: PublicKey,
    /// When the member signed, in Unix milliseconds (the member's claim).
    pub issued_at_ms: u64,
    pub action: GovernanceAction,
}

impl GovernanceBody {
    /// The bytes the governance key signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut writer = Writer::with_domain(domain::GOVERNANCE);
        writer.put(self);
        writer.into_bytes()
    }

    pub fn sign(self, key: &SigningKey) -> SignedGovernance {
        let signature = key.sign(&self.signing_bytes());
        SignedGovernance {
            body: self,
            signature,
        }
    }
}

impl Encode for GovernanceBody {
    fn encode(&self, writer: &mut Writer) {
        writer
            .u8(GOVERNANCE_BODY_VERSION)
            .str(&self.chain_id)
            .str(&self.member)
            .put(&self.signer)
            .u64(self.issued_at_ms)
            .put(&self.action);
    }
}

impl Decode for GovernanceBody {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = reader.u8("governance body version")?;
        if version != GOVERNANCE_BODY_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "governance body",
                version,
            });
        }
        Ok(Self {
            chain_id: read_text(reader, ID_LEN_MAX, "chain id")?,
            member: read_text(reader, ID_LEN_MAX, "member")?,
            signer: reader.get()?,
            issued_at_ms: reader.u64("issue time")?,
            action: reader.get()?,
        })
    }
}

/// A governance body with its governance key's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedGovernance {
    pub body: GovernanceBody,
    pub signature: Signature,
}

impl SignedGovernance {
    /// # Errors
    /// The signature does not verify against `body.signer`.
    pub fn verify(&self) -> Result<(), SignatureError> {
        self.body
            .signer
            .verify(&self.body.signing_bytes(), &self.signature)
    }
}

impl Encode for SignedGovernance {
    fn encode(&self, writer: &mut Writer) {
        writer.put(&self.body).put(&self.signature);
    }
}

impl Decode for SignedGovernance {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            body: reader.get()?,
            signature: reader.get()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed(&[n; 32])
    }

    fn registration(n: u8) -> FilerRegistration {
        FilerRegistration {
            name: format!("scanner-{n}"),
            public_key: key(n).public_key(),
            kinds: vec!["completion-drawing".into(), "inspection-report".into()],
            source_system: "archive-scanner".into(),
        }
    }

    fn bodies() -> Vec<GovernanceBody> {
        let revoke = FilerRevocation {
            public_key: key(3).public_key(),
            reason: "the scanner's key left the building".into(),
            effective_height: 17,
        };
        [
            GovernanceAction::RegisterFiler(registration(4)),
            GovernanceAction::RevokeFiler(revoke.clone()),
            GovernanceAction::RotateFiler {
                revoke,
                register: registration(5),
            },
            GovernanceAction::Propose(Proposal {
                id: "welcome-the-audit-office".into(),
                expires_at_ms: 1_700_000_900_000,
                summary: "the audit office joins; it may file audit reports".into(),
                changes: vec![
                    Change::AddMember {
                        id: "audit".into(),
                        name: "Audit Office".into(),
                        tls_ca: vec![0x30, 0x03, 0x02, 0x01, 0x00],
                        governance_keys: vec![key(6).public_key(), key(7).public_key()],
                    },
                    Change::RemoveMember {
                        id: "archive".into(),
                    },
                    Change::SetGovernanceKeys {
                        member: "court".into(),
                        keys: vec![key(8).public_key()],
                    },
                    Change::SetThreshold {
                        numerator: 3,
                        denominator: 4,
                    },
                    Change::SetKind {
                        kind: "audit-report".into(),
                        description: "audit report (审计报告)".into(),
                        members: vec!["audit".into(), "finance".into()],
                    },
                    Change::RemoveKind {
                        kind: "archive-record".into(),
                    },
                    Change::SetProjectRegistrars {
                        members: vec!["bureau".into(), "finance".into()],
                    },
                    Change::SetLimits {
                        batch_len_max: 512,
                        transaction_bytes_max: 1 << 20,
                    },
                    Change::AddValidator {
                        member: "audit".into(),
                        public_key: key(9).public_key(),
                        voting_power: 2,
                        address: Some("/dns4/audit.example/tcp/26656".into()),
                    },
                    Change::RemoveValidator {
                        public_key: key(10).public_key(),
                    },
                    Change::ReplaceValidator {
                        public_key: key(11).public_key(),
                        new_public_key: key(12).public_key(),
                        address: None,
                    },
                    Change::SetVotingPower {
                        public_key: key(13).public_key(),
                        voting_power: 3,
                    },
                ],
            }),
            GovernanceAction::Vote(Vote {
                proposal_id: "welcome-the-audit-office".into(),
                approve: false,
            }),
        ]
        .into_iter()
        .map(|action| GovernanceBody {
            chain_id: "evidence-test".into(),
            member: "bureau".into(),
            signer: key(1).public_key(),
            issued_at_ms: 1_700_000_000_000,
            action,
        })
        .collect()
    }

    #[test]
    fn every_action_round_trips_and_signs() {
        for body in bodies() {
            let signed = body.clone().sign(&key(1));
            signed.verify().unwrap();
            let bytes = signed.to_canonical_bytes();
            assert_eq!(
                SignedGovernance::from_canonical_bytes(&bytes).unwrap(),
                signed
            );
            let mut other = body.clone();
            other.issued_at_ms += 1;
            assert!(
                SignedGovernance {
                    body: other,
                    signature: signed.signature
                }
                .verify()
                .is_err()
            );
            assert!(
                body.sign(&key(2)).verify().is_err(),
                "signed by another key"
            );
        }
    }

    #[test]
    fn every_action_survives_json() {
        for body in bodies() {
            let text = serde_json::to_string(&body.action).unwrap();
            let back: GovernanceAction = serde_json::from_str(&text).unwrap();
            assert_eq!(back, body.action, "{text}");
        }
    }

    #[test]
    fn unknown_change_tags_and_overlong_proposals_are_refused() {
        let proposal = |changes: Vec<Change>| Proposal {
            id: "p".into(),
            expires_at_ms: 1,
            summary: String::new(),
            changes,
        };
        let mut bytes =
            proposal(vec![Change::RemoveKind { kind: "k".into() }]).to_canonical_bytes();
        // The change's tag follows the id, expiry, summary and sequence length.
        let tag_at = 4 + 1 + 8 + 4 + 4;
        assert_eq!(bytes[tag_at], 6);
        for tag in [0, 13, 255] {
            bytes[tag_at] = tag;
            assert!(matches!(
                Proposal::from_canonical_bytes(&bytes),
                Err(DecodeError::UnknownTag { what: "change", .. })
            ));
        }
        let many = vec![Change::RemoveKind { kind: "k".into() }; PROPOSAL_CHANGES_MAX as usize + 1];
        assert!(matches!(
            Proposal::from_canonical_bytes(&proposal(many).to_canonical_bytes()),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn damaged_bytes_are_refused() {
        for body in bodies() {
            let bytes = body.sign(&key(1)).to_canonical_bytes();
            for cut in 0..bytes.len() {
                assert!(SignedGovernance::from_canonical_bytes(&bytes[..cut]).is_err());
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(SignedGovernance::from_canonical_bytes(&longer).is_err());
            let mut version = bytes.clone();
            version[0] = 2;
            assert!(matches!(
                SignedGovernance::from_canonical_bytes(&version),
                Err(DecodeError::UnsupportedVersion { .. })
            ));
        }
        // An unknown action tag.
        let body = &bodies()[0];
        let mut writer = Writer::new();
        writer
            .u8(GOVERNANCE_BODY_VERSION)
            .str(&body.chain_id)
            .str(&body.member)
            .put(&body.signer)
            .u64(body.issued_at_ms)
            .u8(6);
        assert!(matches!(
            GovernanceBody::from_canonical_bytes(writer.as_slice()),
            Err(DecodeError::UnknownTag { .. })
        ));
    }
}
