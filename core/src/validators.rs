//! Validator sets: who votes, with what power, and when a set of signers is a quorum.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::digest::{Digest, HashAlgorithm};
use crate::domain;
use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use crate::keys::PublicKey;

/// Most validators a set may hold. Far above any consortium this ledger is built for; it bounds
/// decoding and certificate checks.
pub const VALIDATORS_MAX: usize = 256;

/// One voting member's key and power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validator {
    pub public_key: PublicKey,
    pub voting_power: u64,
}

/// Why a list of validators is not a valid set.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidatorSetError {
    #[error("a validator set needs at least one validator")]
    Empty,
    #[error("a validator set holds at most {max} validators, got {count}")]
    TooMany { count: usize, max: usize },
    #[error("validator {0} appears more than once")]
    Duplicate(PublicKey),
    #[error("validator {0} has zero voting power")]
    ZeroPower(PublicKey),
    #[error("total voting power overflows")]
    PowerOverflow,
}

/// A validated, canonically ordered (by public key bytes) set of validators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    total_power: u64,
}

impl ValidatorSet {
    /// Builds a set, sorting it by public key.
    ///
    /// # Errors
    /// Empty, too many, a duplicate key, zero power, or a total power that overflows `u64`
    /// (the quorum rule multiplies the total by 3, so the total is kept below `u64::MAX / 3`).
    pub fn new(mut validators: Vec<Validator>) -> Result<Self, ValidatorSetError> {
        if validators.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        if validators.len() > VALIDATORS_MAX {
            return Err(ValidatorSetError::TooMany {
                count: validators.len(),
                max: VALIDATORS_MAX,
            });
        }
        validators.sort_by_key(|v| v.public_key);
        let mut total_power: u64 = 0;
        for (i, validator) in validators.iter().enumerate() {
            if i > 0 && validators[i - 1].public_key == validator.public_key {
                return Err(ValidatorSetError::Duplicate(validator.public_key));
            }
            if validator.voting_power == 0 {
                return Err(ValidatorSetError::ZeroPower(validator.public_key));
            }
            total_power = total_power
                .checked_add(validator.voting_power)
                .filter(|total| *total <= u64::MAX / 3)
                .ok_or(ValidatorSetError::PowerOverflow)?;
        }
        Ok(Self {
            validators,
            total_power,
        })
    }

    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    pub fn len(&self) -> usize {
        self.validators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    pub fn total_power(&self) -> u64 {
        self.total_power
    }

    /// The validator with `key`, if it is in the set.
    pub fn get(&self, key: &PublicKey) -> Option<&Validator> {
        self.validators
            .binary_search_by(|v| v.public_key.cmp(key))
            .ok()
            .map(|i| &self.validators[i])
    }

    /// Position of `key` in the canonical order.
    pub fn index_of(&self, key: &PublicKey) -> Option<usize> {
        self.validators
            .binary_search_by(|v| v.public_key.cmp(key))
            .ok()
    }

    /// True when `power` is more than two thirds of the total (`3 * power > 2 * total`), the
    /// "2f+1 of 3f+1" rule by voting power.
    pub fn is_quorum(&self, power: u64) -> bool {
        // total_power <= u64::MAX / 3 and power <= total_power, so neither side overflows.
        power.saturating_mul(3) > self.total_power * 2
    }

    /// The least power that is a quorum.
    pub fn quorum_power(&self) -> u64 {
        self.total_power * 2 / 3 + 1
    }

    /// `H(prefix || canonical encoding)` under `algorithm`.
    pub fn hash(&self, algorithm: HashAlgorithm) -> Digest {
        let mut writer = Writer::with_domain(domain::VALIDATOR_SET);
        writer.put(self);
        algorithm.hash(writer.as_slice())
    }
}

impl Encode for ValidatorSet {
    fn encode(&self, writer: &mut Writer) {
        writer.seq(&self.validators, |w, v| {
            w.put(&v.public_key).u64(v.voting_power);
        });
    }
}

impl Decode for ValidatorSet {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let validators = reader.seq_max(VALIDATORS_MAX as u32, "validators", |r| {
            Ok(Validator {
                public_key: r.get()?,
                voting_power: r.u64("voting power")?,
            })
        })?;
        let set = Self::new(validators.clone()).map_err(|e| DecodeError::InvalidValue {
            what: "validator set",
            reason: e.to_string(),
        })?;
        // Canonical form: the encoding must already be in sorted order.
        if set.validators != validators {
            return Err(DecodeError::InvalidValue {
                what: "validator set",
                reason: "validators are not in ascending public-key order".to_owned(),
            });
        }
        Ok(set)
    }
}
