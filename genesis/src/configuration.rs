//! The consortium's configuration in force: the part of genesis the members may change on the
//! ledger by an accepted proposal — who the members are and their governance keys, the write
//! policy with its limits, the governance threshold and the validators (SPEC.md §11.2).
//!
//! At height 1 it is the genesis file's; an accepted proposal stores a new one in the contract
//! state, which execution and admission use from the next height on, and whose validators
//! certify the next height. What genesis alone fixes — the chain id, the suite and the genesis
//! filers — is not here.

use std::collections::BTreeSet;

use evidence_core::encoding::{BYTES_LEN_MAX, Decode, DecodeError, Encode, Reader, Writer};
use evidence_core::entry::ID_LEN_MAX;
use evidence_core::governance::{
    CA_CERTIFICATE_BYTES_MAX, GOVERNANCE_KEYS_MAX as KEYS_MAX, POLICY_MEMBERS_MAX,
};
use evidence_core::keys::PublicKey;
use evidence_core::validators::{VALIDATORS_MAX, ValidatorSet, ValidatorSetError};

use crate::pki::CaCertificate;
use crate::{
    Genesis, GenesisError, GenesisValidator, Governance, KindPolicy, Limits, Member, Policy,
    Threshold, encode_members, encode_policy_and_threshold, encode_validators,
    validate_governance_keys, validate_members, validate_policy, validate_threshold,
    validate_validators, validator_set_of,
};

const CONFIGURATION_VERSION: u8 = 2;
/// Most members a configuration may hold.
pub const MEMBERS_MAX: u32 = 256;
/// Most document kinds a policy may hold.
pub const KINDS_MAX: u32 = 1024;

/// The members, their governance keys, the write policy and the governance threshold in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    pub members: Vec<Member>,
    /// The validators that certify the next height, in the order they were added.
    pub validators: Vec<GenesisValidator>,
    pub policy: Policy,
    pub governance: Governance,
}

impl Configuration {
    /// The configuration genesis sets, in force until a proposal changes it.
    pub fn from_genesis(genesis: &Genesis) -> Self {
        Self {
            members: genesis.members.clone(),
            validators: genesis.validators.clone(),
            policy: genesis.policy.clone(),
            governance: genesis.governance,
        }
    }

    /// Checks the rules genesis validation applies to these parts (SPEC.md §10.3): member ids,
    /// names and CAs; 1 to 16 governance keys a member, none of small order, none used twice;
    /// the threshold; a policy that names only members, with limits in range; validators of
    /// members only, of keys used once, forming a valid set.
    ///
    /// # Errors
    /// The first rule broken, naming the field as in a genesis file.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let members = validate_members(&self.members)?;
        let mut keys = BTreeSet::new();
        validate_validators(&self.validators, &members, &mut keys)?;
        validate_governance_keys(&self.members, &mut keys)?;
        validate_threshold(self.governance.threshold)?;
        validate_policy(&self.policy, &members)
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// The validator set that certifies the next height, in canonical order.
    ///
    /// # Errors
    /// The validators do not form a valid set (a validated configuration always does).
    pub fn validator_set(&self) -> Result<ValidatorSet, ValidatorSetError> {
        validator_set_of(&self.validators)
    }

    /// The validator with `key`.
    pub fn validator(&self, key: &PublicKey) -> Option<&GenesisValidator> {
        self.validators.iter().find(|v| v.public_key == *key)
    }

    /// The member that holds governance key `key`.
    pub fn governance_member(&self, key: &PublicKey) -> Option<&Member> {
        self.members
            .iter()
            .find(|member| member.governance_keys.contains(key))
    }

    pub fn kind_policy(&self, kind: &str) -> Option<&KindPolicy> {
        self.policy.kinds.iter().find(|k| k.kind == kind)
    }

    pub fn threshold(&self) -> Threshold {
        self.governance.threshold
    }

    /// `(member, CA subject DER)` for every member, as [`crate::pki::identify`] takes them. A
    /// member whose CA does not parse is left out (a validated configuration has none).
    pub fn ca_subjects(&self) -> Vec<(String, Vec<u8>)> {
        self.members
            .iter()
            .filter_map(|m| Some((m.id.clone(), m.tls_ca.check(&m.id).ok()?)))
            .collect()
    }
}

/// Canonical encoding (SPEC.md §11.2): `u8 version (= 2) || seq<member> || seq<validator> ||
/// seq<kind policy> || seq<string registrar> || u32 batch_len_max || u32 transaction_bytes_max
/// || u32 numerator || u32 denominator`, a member being `string id || string name || bytes
/// tls_ca || seq<public key>`, a validator as in genesis, and a kind policy `string kind ||
/// string description || seq<string member>`.
impl Encode for Configuration {
    fn encode(&self, writer: &mut Writer) {
        writer.u8(CONFIGURATION_VERSION);
        encode_members(writer, &self.members);
        encode_validators(writer, &self.validators);
        encode_policy_and_threshold(writer, &self.policy, &self.governance);
    }
}

fn read_id(reader: &mut Reader<'_>, what: &'static str) -> Result<String, DecodeError> {
    Ok(reader.str_max(ID_LEN_MAX, what)?.to_owned())
}

fn read_member_ids(reader: &mut Reader<'_>) -> Result<Vec<String>, DecodeError> {
    reader.seq_max(POLICY_MEMBERS_MAX, "members", |r| read_id(r, "member"))
}

impl Decode for Configuration {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = reader.u8("configuration version")?;
        if version != CONFIGURATION_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "configuration",
                version,
            });
        }
        let members = reader.seq_max(MEMBERS_MAX, "members", |r| {
            Ok(Member {
                id: read_id(r, "member id")?,
                name: read_id(r, "member name")?,
                tls_ca: CaCertificate::from_der(
                    r.bytes_max(CA_CERTIFICATE_BYTES_MAX, "CA certificate")?
                        .to_vec(),
                ),
                governance_keys: r.seq_max(KEYS_MAX, "governance keys", Reader::get)?,
            })
        })?;
        let validators = reader.seq_max(VALIDATORS_MAX as u32, "validators", |r| {
            Ok(GenesisValidator {
                member: read_id(r, "validator member")?,
                public_key: r.get()?,
                voting_power: r.u64("voting power")?,
                address: r.option("validator address", |r| read_id(r, "validator address"))?,
            })
        })?;
        let kinds = reader.seq_max(KINDS_MAX, "kinds", |r| {
            Ok(KindPolicy {
                kind: read_id(r, "kind")?,
                description: r.str_max(BYTES_LEN_MAX, "kind description")?.to_owned(),
                members: read_member_ids(r)?,
            })
        })?;
        let project_registrars = read_member_ids(reader)?;
        let limits = Limits {
            batch_len_max: reader.u32("batch length limit")?,
            transaction_bytes_max: reader.u32("transaction size limit")?,
        };
        let threshold = Threshold {
            numerator: reader.u32("threshold numerator")?,
            denominator: reader.u32("threshold denominator")?,
        };
        Ok(Self {
            members,
            validators,
            policy: Policy {
                kinds,
                project_registrars,
                limits,
            },
            governance: Governance { threshold },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::default_consortium;

    fn configuration() -> Configuration {
        use rand_core::SeedableRng as _;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let consortium = default_consortium("evidence-test", 1_700_000_000_000, &mut rng);
        Configuration::from_genesis(&consortium.genesis)
    }

    #[test]
    fn the_genesis_configuration_is_valid_and_round_trips() {
        let configuration = configuration();
        configuration.validate().unwrap();
        let bytes = configuration.to_canonical_bytes();
        assert_eq!(
            Configuration::from_canonical_bytes(&bytes).unwrap(),
            configuration
        );
        for cut in 0..bytes.len() {
            assert!(Configuration::from_canonical_bytes(&bytes[..cut]).is_err());
        }
        let mut version = bytes;
        version[0] = 1;
        assert!(matches!(
            Configuration::from_canonical_bytes(&version),
            Err(DecodeError::UnsupportedVersion { .. })
        ));
    }

    #[test]
    fn validation_names_the_field() {
        let mut shared_key = configuration();
        let key = shared_key.members[0].governance_keys[0];
        shared_key.members[1].governance_keys.push(key);
        assert!(
            matches!(shared_key.validate(), Err(GenesisError::Invalid { field, .. }) if field == "members[1].governance_keys[1]")
        );
        let mut stranger = configuration();
        stranger.policy.kinds[0].members.push("stranger".into());
        assert!(
            matches!(stranger.validate(), Err(GenesisError::Invalid { field, .. }) if field == "policy.kinds[0].members[1]")
        );
        let mut threshold = configuration();
        threshold.governance.threshold = Threshold {
            numerator: 1,
            denominator: 3,
        };
        assert!(
            matches!(threshold.validate(), Err(GenesisError::Invalid { field, .. }) if field == "governance.threshold")
        );
        let mut nobody = configuration();
        nobody.members.clear();
        nobody.policy.kinds.clear();
        nobody.policy.project_registrars.clear();
        assert!(
            matches!(nobody.validate(), Err(GenesisError::Invalid { field, .. }) if field == "members")
        );
    }
}
