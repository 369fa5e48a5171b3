//! Governance transactions: what a member signs with one of its governance keys to change the
//! consortium on the ledger (SPEC.md §6.7).
//!
//! A member alone registers, revokes and rotates its own filers' keys. Each governance
//! transaction becomes a log entry, so auditors replay every change and a receipt can prove a
//! filer's registration with the entry's inclusion proof.

use serde::{Deserialize, Serialize};

use crate::domain;
use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use crate::entry::{ID_LEN_MAX, REASON_LEN_MAX};
use crate::keys::{PublicKey, Signature, SignatureError, SigningKey};

const GOVERNANCE_BODY_VERSION: u8 = 1;

/// Most kinds one filer registration may list.
pub const FILER_KINDS_MAX: u32 = 64;

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
}

impl GovernanceAction {
    /// A short name for logs and errors.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::RegisterFiler(_) => "register-filer",
            Self::RevokeFiler(_) => "revoke-filer",
            Self::RotateFiler { .. } => "rotate-filer",
        }
    }
}

impl Encode for GovernanceAction {
    fn encode(&self, writer: &mut Writer) {
        match self {
            Self::RegisterFiler(registration) => writer.u8(1).put(registration),
            Self::RevokeFiler(revocation) => writer.u8(2).put(revocation),
            Self::RotateFiler { revoke, register } => writer.u8(3).put(revoke).put(register),
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
            .u8(9);
        assert!(matches!(
            GovernanceBody::from_canonical_bytes(writer.as_slice()),
            Err(DecodeError::UnknownTag { .. })
        ));
    }
}
