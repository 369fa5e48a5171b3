//! The consensus engine's view of the ledger: heights, validators, the value voted on (a block
//! hash), votes, proposals and proposal parts, and the conversion of the engine's commit
//! certificate into the ledger's.
//!
//! The value consensus decides is the **header hash** of a block. Blocks themselves travel as
//! proposal parts and are kept by the ledger; votes and proposals only carry the hash. What a
//! validator signs for a vote or a proposal is exactly `evidence_core::header::vote_signing_bytes`
//! or `proposal_signing_bytes` (SPEC.md §13.3, §13.4), so the precommit signatures the engine
//! gathers into a commit certificate are, one for one, the signatures of an
//! [`evidence_core::certificate::CommitCertificate`] that verifies offline.

use std::fmt;

use bytes::Bytes;
use evidence_core::certificate::{CommitCertificate, CommitSignature};
use evidence_core::digest::Digest;
use evidence_core::encoding::DecodeError;
use evidence_core::header::VoteKind;
use evidence_core::keys::{KeyError, PublicKey, Signature, SigningKey};
use evidence_core::validators::ValidatorSet;
use malachite_core_types as mc;
use malachite_core_types::{NilOrVal, Round, SignedExtension, VoteType};
use thiserror::Error;

/// A validator's address in consensus: its public key. Consensus addresses and ledger keys are
/// the same thing, so a certificate's signers need no lookup table to be checked offline.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValidatorAddress(pub PublicKey);

impl ValidatorAddress {
    /// The validator's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.0
    }
}

impl From<PublicKey> for ValidatorAddress {
    fn from(key: PublicKey) -> Self {
        Self(key)
    }
}

impl fmt::Display for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl mc::Address for ValidatorAddress {}

/// A block height. Height 0 is the genesis state; the first block is height 1.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockHeight(pub u64);

impl BlockHeight {
    /// The height as a number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for BlockHeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for BlockHeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHeight({})", self.0)
    }
}

impl mc::Height for BlockHeight {
    const ZERO: Self = Self(0);
    const INITIAL: Self = Self(1);

    fn increment_by(&self, n: u64) -> Self {
        Self(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Self)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// The value consensus decides: the header hash of a block. Its id is the same digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockHash(pub Digest);

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({})", self.0)
    }
}

impl mc::Value for BlockHash {
    type Id = Digest;

    fn id(&self) -> Digest {
        self.0
    }
}

/// A signature in consensus messages. It wraps the ledger's signature type only to give it
/// the total order the engine requires (by algorithm tag, then bytes); the order has no
/// meaning beyond letting the engine keep signatures in sorted collections.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConsensusSignature(pub Signature);

impl PartialOrd for ConsensusSignature {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ConsensusSignature {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0.algorithm.tag(), &self.0.bytes).cmp(&(other.0.algorithm.tag(), &other.0.bytes))
    }
}

impl fmt::Debug for ConsensusSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Why a key or signature given to the engine as raw bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemeDecodeError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The signing scheme: Ed25519 as the ledger defines it (SPEC.md §4), with keys and signatures
/// in their canonical encodings (algorithm tag, then the raw bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ed25519Scheme;

impl mc::SigningScheme for Ed25519Scheme {
    type DecodingError = SchemeDecodeError;
    type Signature = ConsensusSignature;
    type PublicKey = PublicKey;
    type PrivateKey = SigningKey;

    fn decode_signature(bytes: &[u8]) -> Result<ConsensusSignature, SchemeDecodeError> {
        use evidence_core::encoding::Decode;
        Ok(ConsensusSignature(Signature::from_canonical_bytes(bytes)?))
    }

    fn encode_signature(signature: &ConsensusSignature) -> Vec<u8> {
        use evidence_core::encoding::Encode;
        signature.0.to_canonical_bytes()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<PublicKey, SchemeDecodeError> {
        use evidence_core::encoding::Decode;
        Ok(PublicKey::from_canonical_bytes(bytes)?)
    }

    fn encode_public_key(public_key: &PublicKey) -> Vec<u8> {
        use evidence_core::encoding::Encode;
        public_key.to_canonical_bytes()
    }
}

/// One validator as consensus sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsensusValidator {
    address: ValidatorAddress,
    voting_power: u64,
}

impl ConsensusValidator {
    /// The validator with `public_key` and `voting_power`.
    pub fn new(public_key: PublicKey, voting_power: u64) -> Self {
        Self {
            address: ValidatorAddress(public_key),
            voting_power,
        }
    }
}

impl mc::Validator<EvidenceContext> for ConsensusValidator {
    fn address(&self) -> &ValidatorAddress {
        &self.address
    }

    fn public_key(&self) -> &PublicKey {
        &self.address.0
    }

    fn voting_power(&self) -> u64 {
        self.voting_power
    }
}

/// How many whole rotations a validator may go without a committed block of its own before it
/// is taken for absent: the window is this many times the set's total power, in blocks. A
/// validator holds its slots of the rotation consecutively, so a present one proposes at least
/// once in any `total power` consecutive heights (more often while others are skipped), and
/// only one that failed all its turns of two rotations is taken for absent: with equal powers,
/// its last two turns.
pub const ATTENDANCE_TURNS: u64 = 2;

/// The most committed blocks attendance looks back over: with a set whose total power is more
/// than half of this, nobody is ever taken for absent.
pub const ATTENDANCE_HISTORY_MAX: usize = 4096;

/// How often, in block time, an absent validator is given a round 0 to show it is back: at the
/// first height whose parent's time has crossed a multiple of this (the absent validators
/// taking turns when there are several).
pub const ATTENDANCE_PROBE_MS: u64 = 10_000;

/// One committed block, as attendance reads it: its height, time, proposer and the hash of the
/// validator set that certified it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposed {
    pub height: u64,
    pub time_ms: u64,
    pub proposer: PublicKey,
    pub validator_set_hash: Digest,
}

/// What the committed blocks before a height say of its validators (ARCHITECTURE.md, "Who
/// proposes"): which are absent, and which absent one, if any, is given round 0 to show it is
/// back. Every honest node reads the same committed blocks, so every one computes the same.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attendance {
    /// By canonical index: `true` for a validator taken for absent. Empty: none is.
    absent: Vec<bool>,
    /// The canonical index of the absent validator that proposes in round 0.
    probe: Option<usize>,
}

impl Attendance {
    /// Attendance at `height` for `set` (whose hash is `set_hash`), from `history`: the
    /// committed blocks just before `height`, in ascending height order, ending at
    /// `height - 1` (more than [`ATTENDANCE_HISTORY_MAX`] are not read).
    ///
    /// Only the blocks the same set certified count, the newest run of them. A validator is
    /// absent when it proposed none of the last [`Attendance::window`] of them, and that many
    /// exist; when every validator would be, none is. When the newest block's
    /// time has crossed a multiple of [`ATTENDANCE_PROBE_MS`] since the one before it, one
    /// absent validator (in turn, by that multiple) is given round 0.
    pub fn of(set: &ValidatorSet, set_hash: &Digest, height: u64, history: &[Proposed]) -> Self {
        let consecutive = history
            .last()
            .is_some_and(|last| last.height.checked_add(1) == Some(height));
        if !consecutive {
            return Self::default();
        }
        let same_set = history
            .iter()
            .rev()
            .take(ATTENDANCE_HISTORY_MAX)
            .take_while(|block| block.validator_set_hash == *set_hash)
            .count();
        let blocks = &history[history.len() - same_set..];
        let window = Self::window(set);
        if window > blocks.len() {
            return Self::default();
        }
        let recent = &blocks[blocks.len() - window..];
        let absent: Vec<bool> = set
            .validators()
            .iter()
            .map(|validator| !recent.iter().any(|b| b.proposer == validator.public_key))
            .collect();
        if !absent.contains(&true) || !absent.contains(&false) {
            return Self::default();
        }
        let probe = match blocks {
            [.., before, last] => {
                let crossed = last.time_ms / ATTENDANCE_PROBE_MS;
                (crossed != before.time_ms / ATTENDANCE_PROBE_MS).then(|| {
                    let absentees: Vec<usize> = (0..absent.len()).filter(|&i| absent[i]).collect();
                    let turn = usize::try_from(crossed % absentees.len() as u64).unwrap_or(0);
                    absentees[turn]
                })
            }
            _ => None,
        };
        Self { absent, probe }
    }

    /// How many of the newest committed blocks of `set` attendance reads:
    /// `ATTENDANCE_TURNS × total power`, or more than [`ATTENDANCE_HISTORY_MAX`] (never
    /// enough blocks, so nobody is absent) when that is larger.
    pub fn window(set: &ValidatorSet) -> usize {
        usize::try_from(ATTENDANCE_TURNS.saturating_mul(set.total_power().max(1)))
            .unwrap_or(usize::MAX)
            .min(ATTENDANCE_HISTORY_MAX + 1)
    }

    /// Whether the validator at canonical `index` is taken for absent.
    pub fn is_absent(&self, index: usize) -> bool {
        self.absent.get(index).copied().unwrap_or(false)
    }

    /// The canonical index of the absent validator given round 0, if any.
    pub fn probe(&self) -> Option<usize> {
        self.probe
    }

    /// How many validators are taken for absent.
    pub fn absent_count(&self) -> usize {
        self.absent.iter().filter(|absent| **absent).count()
    }

    /// The canonical indexes of the validators taken for absent, ascending.
    pub fn absentees(&self) -> Vec<usize> {
        (0..self.absent.len()).filter(|&i| self.absent[i]).collect()
    }
}

/// The validator set as consensus sees it: the genesis set, in the same canonical order
/// (ascending public-key bytes, SPEC.md §13.2), with the same quorum rule, and what committed
/// history says of who is present ([`Attendance`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusValidatorSet {
    set: ValidatorSet,
    validators: Vec<ConsensusValidator>,
    attendance: Attendance,
}

impl ConsensusValidatorSet {
    /// The consensus view of a validated ledger validator set.
    pub fn new(set: ValidatorSet) -> Self {
        let validators = set
            .validators()
            .iter()
            .map(|v| ConsensusValidator::new(v.public_key, v.voting_power))
            .collect();
        Self {
            set,
            validators,
            attendance: Attendance::default(),
        }
    }

    /// This set with `attendance` deciding who proposes.
    #[must_use]
    pub fn with_attendance(mut self, attendance: Attendance) -> Self {
        self.attendance = attendance;
        self
    }

    /// What committed history says of who is present.
    pub fn attendance(&self) -> &Attendance {
        &self.attendance
    }

    /// The ledger's validator set this view was built from.
    pub fn ledger_set(&self) -> &ValidatorSet {
        &self.set
    }

    /// The validators in canonical order.
    pub fn validators(&self) -> &[ConsensusValidator] {
        &self.validators
    }

    /// The proposer of `round` at `height`: round-robin weighted by voting power. Each
    /// validator holds as many consecutive slots as its power, in canonical order; the
    /// proposer is the holder of slot `(height + round) mod (their total power)`, so over that
    /// many consecutive heights each proposes in proportion to its power, and each new round
    /// moves one slot on. With equal powers this is plain round-robin, index
    /// `(height + round) mod n`.
    ///
    /// While [`Attendance`] takes validators for absent, the rounds below the number of
    /// validators present rotate over those only, so a height whose proposer fails moves on
    /// to another present one; later rounds rotate over every validator, so a height always
    /// reaches every validator's turn, whatever committed history says. Round 0 of a probe
    /// goes to the absent validator attendance names. Every honest node computes the same
    /// proposer from the same set and the same committed blocks, so a block's `proposer`
    /// field can be checked.
    pub fn proposer(&self, height: u64, round: u32) -> &ConsensusValidator {
        if round == 0
            && let Some(probed) = self.attendance.probe
            && let Some(validator) = self.validators.get(probed)
        {
            return validator;
        }
        let absent = self.attendance.absent_count();
        let among_present =
            absent > 0 && (round as usize) < self.validators.len().saturating_sub(absent);
        let present = |index: &usize| !among_present || !self.attendance.is_absent(*index);
        // A ValidatorSet is never empty and every power is at least 1; attendance never takes
        // every validator for absent. So total >= 1.
        let total: u128 = (0..self.validators.len())
            .filter(present)
            .map(|i| u128::from(self.validators[i].voting_power))
            .sum::<u128>()
            .max(1);
        let mut slot = (u128::from(height) + u128::from(round)) % total;
        for index in (0..self.validators.len()).filter(present) {
            let validator = &self.validators[index];
            let power = u128::from(validator.voting_power);
            if slot < power {
                return validator;
            }
            slot -= power;
        }
        unreachable!("the slots of the present validators cover their total power")
    }
}

impl mc::ValidatorSet<EvidenceContext> for ConsensusValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> u64 {
        self.set.total_power()
    }

    fn get_by_address(&self, address: &ValidatorAddress) -> Option<&ConsensusValidator> {
        self.set.index_of(&address.0).map(|i| &self.validators[i])
    }

    fn get_by_index(&self, index: usize) -> Option<&ConsensusValidator> {
        self.validators.get(index)
    }
}

/// A prevote or precommit, before signing. Its signed bytes are
/// `vote_signing_bytes(chain_id, kind, height, round, block_hash)` (SPEC.md §13.3).
///
/// Vote extensions are not used by this ledger: a vote never carries one (see
/// [`mc::Vote::extend`] below), and the codec has no encoding for one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusVote {
    /// Prevote or precommit.
    pub vote_type: VoteType,
    pub height: BlockHeight,
    /// Always defined for a vote the engine builds; a vote without one cannot be signed.
    pub round: Round,
    /// The voted block hash, or nil.
    pub value: NilOrVal<Digest>,
    /// The voting validator.
    pub validator: ValidatorAddress,
}

impl ConsensusVote {
    /// The ledger's name for this vote's kind.
    pub fn kind(&self) -> VoteKind {
        match self.vote_type {
            VoteType::Prevote => VoteKind::Prevote,
            VoteType::Precommit => VoteKind::Precommit,
        }
    }

    /// The voted block hash, `None` for a vote for nothing.
    pub fn block_hash(&self) -> Option<&Digest> {
        match &self.value {
            NilOrVal::Nil => None,
            NilOrVal::Val(hash) => Some(hash),
        }
    }

    /// The exact bytes a validator signs for this vote, or `None` when the vote has no round
    /// (the engine never builds such a vote; it cannot be signed or verified).
    pub fn signing_bytes(&self, chain_id: &str) -> Option<Vec<u8>> {
        let round = self.round.as_u32()?;
        Some(evidence_core::header::vote_signing_bytes(
            chain_id,
            self.kind(),
            self.height.0,
            round,
            self.block_hash(),
        ))
    }
}

impl mc::Vote<EvidenceContext> for ConsensusVote {
    fn height(&self) -> BlockHeight {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<Digest> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<Digest> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.vote_type
    }

    fn validator_address(&self) -> &ValidatorAddress {
        &self.validator
    }

    fn extension(&self) -> Option<&SignedExtension<EvidenceContext>> {
        None
    }

    fn take_extension(&mut self) -> Option<SignedExtension<EvidenceContext>> {
        None
    }

    /// Vote extensions are disabled for every height (the default policy), so the engine
    /// never attaches one; were it to, the extension is dropped rather than carried, because
    /// nothing this ledger signs or stores has room for it.
    fn extend(self, _extension: SignedExtension<EvidenceContext>) -> Self {
        self
    }
}

/// A proposal, before signing: the proposer's claim that `value` is its block for `round` at
/// `height`, re-proposed from `pol_round` if that is defined. Its signed bytes are
/// `proposal_signing_bytes(chain_id, height, round, pol_round, block_hash)` (SPEC.md §13.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusProposal {
    pub height: BlockHeight,
    pub round: Round,
    /// The proposed block's header hash.
    pub value: BlockHash,
    /// The round whose prevote quorum (polka) this re-proposal rests on; nil for a new block.
    pub pol_round: Round,
    /// The round's proposer.
    pub proposer: ValidatorAddress,
}

impl ConsensusProposal {
    /// The exact bytes the proposer signs, or `None` when the proposal has no round.
    pub fn signing_bytes(&self, chain_id: &str) -> Option<Vec<u8>> {
        proposal_signing_bytes(
            chain_id,
            self.height,
            self.round,
            self.pol_round,
            &self.value.0,
        )
    }
}

/// `proposal_signing_bytes` for engine rounds: `None` when `round` is nil, and a nil
/// `pol_round` written as "none".
pub fn proposal_signing_bytes(
    chain_id: &str,
    height: BlockHeight,
    round: Round,
    pol_round: Round,
    block_hash: &Digest,
) -> Option<Vec<u8>> {
    Some(evidence_core::header::proposal_signing_bytes(
        chain_id,
        height.0,
        round.as_u32()?,
        pol_round.as_u32(),
        block_hash,
    ))
}

impl mc::Proposal<EvidenceContext> for ConsensusProposal {
    fn height(&self) -> BlockHeight {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockHash {
        &self.value
    }

    fn take_value(self) -> BlockHash {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &ValidatorAddress {
        &self.proposer
    }
}

/// The largest chunk of block bytes one [`ProposalPart::Data`] carries (128 KiB).
pub const PART_DATA_MAX: usize = 128 * 1024;

/// One piece of a streamed proposal. A proposer streams, in order: one `Init`, the canonical
/// block bytes cut into `Data` chunks of at most [`PART_DATA_MAX`] bytes, and one `Fin` whose
/// signature (by the proposer named in `Init`) covers
/// `proposal_signing_bytes(chain_id, height, round, pol_round, block_hash)` — the same bytes
/// as the proposal itself, so the parts are bound to the proposer and to the block they carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalPart {
    /// Opens a stream: which proposal the following chunks belong to.
    Init {
        height: BlockHeight,
        round: Round,
        /// The proposer of `round`, whose signature closes the stream.
        proposer: ValidatorAddress,
        /// As in the proposal: nil for a new block, else the round it is re-proposed from.
        pol_round: Round,
    },
    /// A chunk of the canonical block bytes.
    Data(Bytes),
    /// Closes a stream with the proposer's signature.
    Fin { signature: ConsensusSignature },
}

impl mc::ProposalPart<EvidenceContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, Self::Init { .. })
    }

    fn is_last(&self) -> bool {
        matches!(self, Self::Fin { .. })
    }
}

/// The consensus context of the evidence ledger.
#[derive(Clone, Debug, Default)]
pub struct EvidenceContext;

impl EvidenceContext {
    /// The context (it holds no state: everything chain-specific lives in the signer, the
    /// verifier and the validator set).
    pub fn new() -> Self {
        Self
    }
}

impl mc::Context for EvidenceContext {
    type Address = ValidatorAddress;
    type Height = BlockHeight;
    type ProposalPart = ProposalPart;
    type Proposal = ConsensusProposal;
    type Validator = ConsensusValidator;
    type ValidatorSet = ConsensusValidatorSet;
    type Timeouts = mc::LinearTimeouts;
    type Value = BlockHash;
    type Vote = ConsensusVote;
    type Extension = ();
    type SigningScheme = Ed25519Scheme;

    fn select_proposer<'a>(
        &self,
        validator_set: &'a ConsensusValidatorSet,
        height: BlockHeight,
        round: Round,
    ) -> &'a ConsensusValidator {
        // The engine only asks for defined rounds; a nil round is treated as round 0.
        validator_set.proposer(height.0, round.as_u32().unwrap_or(0))
    }

    fn new_proposal(
        &self,
        height: BlockHeight,
        round: Round,
        value: BlockHash,
        pol_round: Round,
        address: ValidatorAddress,
    ) -> ConsensusProposal {
        ConsensusProposal {
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: BlockHeight,
        round: Round,
        value_id: NilOrVal<Digest>,
        address: ValidatorAddress,
    ) -> ConsensusVote {
        ConsensusVote {
            vote_type: VoteType::Prevote,
            height,
            round,
            value: value_id,
            validator: address,
        }
    }

    fn new_precommit(
        &self,
        height: BlockHeight,
        round: Round,
        value_id: NilOrVal<Digest>,
        address: ValidatorAddress,
    ) -> ConsensusVote {
        ConsensusVote {
            vote_type: VoteType::Precommit,
            height,
            round,
            value: value_id,
            validator: address,
        }
    }
}

/// Why an engine certificate has no ledger form.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertificateConversionError {
    /// Certificates are always for a defined round.
    #[error("the certificate has no round")]
    NilRound,
    /// The ledger format holds at most this many signatures.
    #[error("the certificate has {count} signatures, at most {max} are allowed")]
    TooManySignatures { count: usize, max: usize },
}

/// The ledger's commit certificate for the engine's: the same height, round, block hash and
/// (validator, signature) pairs, in the same order. Because a consensus precommit is signed
/// over exactly the ledger's precommit bytes, the result verifies with
/// [`CommitCertificate::verify`] exactly when the engine's certificate is valid.
///
/// # Errors
/// A nil round or more signatures than the format allows.
pub fn to_ledger_certificate(
    certificate: &mc::CommitCertificate<EvidenceContext>,
) -> Result<CommitCertificate, CertificateConversionError> {
    let round = certificate
        .round
        .as_u32()
        .ok_or(CertificateConversionError::NilRound)?;
    let max = evidence_core::validators::VALIDATORS_MAX;
    if certificate.commit_signatures.len() > max {
        return Err(CertificateConversionError::TooManySignatures {
            count: certificate.commit_signatures.len(),
            max,
        });
    }
    Ok(CommitCertificate {
        height: certificate.height.0,
        round,
        block_hash: certificate.value_id,
        signatures: certificate
            .commit_signatures
            .iter()
            .map(|s| CommitSignature {
                validator: s.address.0,
                signature: s.signature.0,
            })
            .collect(),
    })
}

/// The engine's certificate (without vote extensions) for a ledger certificate, as value sync
/// hands decided blocks to peers.
pub fn from_ledger_certificate(
    certificate: &CommitCertificate,
) -> mc::ExtendedCommitCertificate<EvidenceContext> {
    mc::ExtendedCommitCertificate {
        height: BlockHeight(certificate.height),
        round: Round::new(certificate.round),
        value_id: certificate.block_hash,
        commit_signatures: certificate
            .signatures
            .iter()
            .map(|s| {
                mc::ExtendedCommitSignature::new(
                    ValidatorAddress(s.validator),
                    ConsensusSignature(s.signature),
                    None,
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use evidence_core::digest::HashAlgorithm;
    use evidence_core::validators::Validator;
    use malachite_core_types::{Context as _, Height as _, ValidatorSet as _, Value as _};

    use super::*;

    fn keys(n: u8) -> Vec<SigningKey> {
        (1..=n).map(|i| SigningKey::from_seed(&[i; 32])).collect()
    }

    fn set(keys: &[SigningKey]) -> ConsensusValidatorSet {
        ConsensusValidatorSet::new(
            ValidatorSet::new(
                keys.iter()
                    .map(|k| Validator {
                        public_key: k.public_key(),
                        voting_power: 1,
                    })
                    .collect(),
            )
            .unwrap(),
        )
    }

    /// Four validators of equal power in canonical order, their set and its hash.
    fn four() -> (Vec<PublicKey>, ValidatorSet, Digest) {
        let mut keys: Vec<PublicKey> = keys(4).iter().map(SigningKey::public_key).collect();
        keys.sort();
        let set = ValidatorSet::new(
            keys.iter()
                .map(|k| Validator {
                    public_key: *k,
                    voting_power: 1,
                })
                .collect(),
        )
        .unwrap();
        let hash = set.hash(HashAlgorithm::Blake3);
        (keys, set, hash)
    }

    /// Blocks `first..=last`, one a second from time 1,000 s, proposed by `proposer(height)`.
    fn blocks(
        first: u64,
        last: u64,
        set_hash: Digest,
        proposer: impl Fn(u64) -> PublicKey,
    ) -> Vec<Proposed> {
        (first..=last)
            .map(|height| Proposed {
                height,
                time_ms: 1_000_000 + height * 1_000,
                proposer: proposer(height),
                validator_set_hash: set_hash,
            })
            .collect()
    }

    #[test]
    fn everyone_proposing_in_turn_leaves_plain_round_robin() {
        let (keys, set, hash) = four();
        let history = blocks(1, 40, hash, |h| keys[(h % 4) as usize]);
        let attendance = Attendance::of(&set, &hash, 41, &history);
        assert_eq!(attendance, Attendance::default());
        let consensus = ConsensusValidatorSet::new(set).with_attendance(attendance);
        for height in 41..49u64 {
            for round in 0..3u32 {
                assert_eq!(
                    consensus.proposer(height, round).address.0,
                    keys[((height + u64::from(round)) % 4) as usize]
                );
            }
        }
    }

    #[test]
    fn a_validator_without_a_block_in_its_window_is_skipped_and_the_rest_share_its_turns() {
        let (keys, set, hash) = four();
        // Validator 2 stopped after height 20: its turns went to the next round's proposer.
        let proposer = |h: u64| {
            let i = (h % 4) as usize;
            if h > 20 && i == 2 { keys[3] } else { keys[i] }
        };
        // Its window is 2 turns of 4 heights: 8 blocks without one of its own. Its last
        // block is height 18.
        let history = blocks(1, 25, hash, proposer);
        assert!(!Attendance::of(&set, &hash, 26, &history).is_absent(2));
        let history = blocks(1, 26, hash, proposer);
        assert!(Attendance::of(&set, &hash, 27, &history).is_absent(2));
        let history = blocks(1, 38, hash, proposer);
        let attendance = Attendance::of(&set, &hash, 39, &history);
        assert!(attendance.is_absent(2));
        assert_eq!(attendance.absent_count(), 1);
        assert_eq!(attendance.probe(), None, "no multiple of 10 s crossed");
        let consensus = ConsensusValidatorSet::new(set).with_attendance(attendance);
        // Over 3 heights and over 3 rounds of one height, each present validator once.
        let mut by_height: Vec<PublicKey> = (39..42u64)
            .map(|h| consensus.proposer(h, 0).address.0)
            .collect();
        let mut by_round: Vec<PublicKey> = (0..3u32)
            .map(|r| consensus.proposer(39, r).address.0)
            .collect();
        // From round 3 (as many as are present) on, every validator's turn comes again.
        assert_eq!(
            consensus.proposer(39, 3).address.0,
            keys[((39 + 3) % 4) as usize]
        );
        assert_eq!(consensus.proposer(38, 4).address.0, keys[2]);
        by_height.sort();
        by_round.sort();
        let present = vec![keys[0], keys[1], keys[3]];
        assert_eq!(by_height, present);
        assert_eq!(by_round, present);
    }

    #[test]
    fn an_absent_validator_is_probed_when_block_time_crosses_the_interval_and_back_once_it_proposes()
     {
        let (keys, set, hash) = four();
        let proposer = |h: u64| {
            let i = (h % 4) as usize;
            if i == 2 { keys[3] } else { keys[i] }
        };
        let mut history = blocks(1, 40, hash, proposer);
        // The last block's time crosses a multiple of the interval.
        let crossing = (history[38].time_ms / ATTENDANCE_PROBE_MS + 1) * ATTENDANCE_PROBE_MS;
        history[39].time_ms = crossing;
        let attendance = Attendance::of(&set, &hash, 41, &history);
        assert_eq!(attendance.probe(), Some(2));
        let consensus = ConsensusValidatorSet::new(set.clone()).with_attendance(attendance);
        assert_eq!(consensus.proposer(41, 0).address.0, keys[2]);
        assert_ne!(consensus.proposer(41, 1).address.0, keys[2]);
        // It proposed the probed height: present again at once.
        history.push(Proposed {
            height: 41,
            time_ms: crossing + 5,
            proposer: keys[2],
            validator_set_hash: hash,
        });
        assert_eq!(
            Attendance::of(&set, &hash, 42, &history),
            Attendance::default()
        );
    }

    #[test]
    fn only_the_current_sets_consecutive_blocks_count_and_never_everyone_is_absent() {
        let (keys, set, hash) = four();
        let other = Digest::new(HashAlgorithm::Blake3, [9; 32]);
        // 30 blocks of another set, all by validator 0, then 7 of this set: too few to judge.
        let mut history = blocks(1, 30, other, |_| keys[0]);
        history.extend(blocks(31, 37, hash, |_| keys[0]));
        assert_eq!(
            Attendance::of(&set, &hash, 38, &history),
            Attendance::default()
        );
        history.extend(blocks(38, 40, hash, |_| keys[0]));
        assert_eq!(Attendance::of(&set, &hash, 41, &history).absent_count(), 3);
        // Each of the four among the last eight: nobody is.
        let mut history: Vec<Proposed> = history[..36].to_vec();
        history.extend(blocks(37, 40, hash, |h| keys[(h % 4) as usize]));
        assert_eq!(
            Attendance::of(&set, &hash, 41, &history),
            Attendance::default()
        );
        // Ten more of this set by validator 0 alone: the other three are absent.
        history.extend(blocks(41, 50, hash, |_| keys[0]));
        let attendance = Attendance::of(&set, &hash, 51, &history);
        assert_eq!(attendance.absent_count(), 3);
        // Block 50's time (1,050 s) crossed a multiple of 10 s, the 105th: of the three absent
        // validators, the first (105 mod 3 = 0) has round 0.
        assert_eq!(attendance.probe(), Some(1));
        let consensus = ConsensusValidatorSet::new(set.clone()).with_attendance(attendance);
        assert_eq!(consensus.proposer(51, 0).address.0, keys[1]);
        // One validator present: rounds from 1 on go round all four, as without attendance, so
        // the height reaches a live proposer whatever history says.
        for round in 1..9u32 {
            assert_eq!(
                consensus.proposer(51, round).address.0,
                keys[((51 + u64::from(round)) % 4) as usize]
            );
        }
        // History that does not end just below the height says nothing.
        assert_eq!(
            Attendance::of(&set, &hash, 52, &history),
            Attendance::default()
        );
        assert_eq!(Attendance::of(&set, &hash, 1, &[]), Attendance::default());
        // A set none of whose validators proposed (blocks by a key outside it): nobody.
        let stranger = SigningKey::from_seed(&[77; 32]).public_key();
        let history = blocks(1, 40, hash, |_| stranger);
        assert_eq!(
            Attendance::of(&set, &hash, 41, &history),
            Attendance::default()
        );
    }

    /// A set of `powers` in canonical order, with its keys and hash.
    fn weighted(powers: &[u64]) -> (Vec<PublicKey>, ValidatorSet, Digest) {
        let n = u8::try_from(powers.len()).unwrap();
        let mut keys: Vec<PublicKey> = keys(n).iter().map(SigningKey::public_key).collect();
        keys.sort();
        let set = ValidatorSet::new(
            keys.iter()
                .zip(powers)
                .map(|(key, power)| Validator {
                    public_key: *key,
                    voting_power: *power,
                })
                .collect(),
        )
        .unwrap();
        let hash = set.hash(HashAlgorithm::Blake3);
        (keys, set, hash)
    }

    #[test]
    fn with_unequal_powers_a_healthy_network_takes_nobody_for_absent() {
        // Each height proposed by its round-0 proposer under the rule itself, as on a network
        // where everyone is up: the consecutive slots of a heavy validator leave gaps of up
        // to `total − power` heights between another's blocks, which must not look like
        // absence.
        for powers in [
            &[3u64, 3, 3, 4][..],
            &[10, 10, 10, 10],
            &[1, 9],
            &[1, 2, 3, 5, 8],
        ] {
            let (_, set, hash) = weighted(powers);
            let mut history: Vec<Proposed> = Vec::new();
            let mut proposed = vec![0u64; powers.len()];
            for height in 1..=2_000u64 {
                let attendance = Attendance::of(&set, &hash, height, &history);
                assert_eq!(
                    attendance.absent_count(),
                    0,
                    "powers {powers:?}, height {height}"
                );
                let consensus = ConsensusValidatorSet::new(set.clone()).with_attendance(attendance);
                let proposer = consensus.proposer(height, 0).address.0;
                proposed[set.index_of(&proposer).unwrap()] += 1;
                history.push(Proposed {
                    height,
                    time_ms: 1_000_000 + height * 100,
                    proposer,
                    validator_set_hash: hash,
                });
            }
            // Each proposes in proportion to its power.
            let total: u64 = powers.iter().sum();
            for (i, power) in powers.iter().enumerate() {
                let share = 2_000 * power / total;
                assert!(
                    proposed[i].abs_diff(share) <= *power,
                    "{powers:?}: {proposed:?}"
                );
            }
        }
    }

    #[test]
    fn with_unequal_powers_the_window_is_two_rotations() {
        let (keys, set, hash) = weighted(&[1, 9]);
        assert_eq!(Attendance::window(&set), 20);
        // Validator 0 (power 1) has not proposed for 19 blocks: not yet absent; for 20, it is.
        let history = blocks(1, 19, hash, |_| keys[1]);
        assert_eq!(
            Attendance::of(&set, &hash, 20, &history),
            Attendance::default()
        );
        let history = blocks(1, 20, hash, |_| keys[1]);
        let attendance = Attendance::of(&set, &hash, 21, &history);
        assert!(attendance.is_absent(0));
        assert!(!attendance.is_absent(1));
        // A set too heavy for the history read takes nobody for absent.
        let (_, heavy, heavy_hash) = weighted(&[1_000, 1_000, 1_000, 1_000]);
        assert_eq!(Attendance::window(&heavy), ATTENDANCE_HISTORY_MAX + 1);
        let history = blocks(1, 5_000, heavy_hash, |_| keys[1]);
        assert_eq!(
            Attendance::of(&heavy, &heavy_hash, 5_001, &history),
            Attendance::default()
        );
    }

    #[test]
    fn heights_start_at_one_and_do_not_wrap() {
        assert_eq!(BlockHeight::INITIAL, BlockHeight(1));
        assert_eq!(BlockHeight::ZERO, BlockHeight::default());
        assert_eq!(BlockHeight(0).decrement(), None);
        assert_eq!(BlockHeight(u64::MAX).increment(), BlockHeight(u64::MAX));
    }

    #[test]
    fn proposer_rotation_follows_voting_power() {
        let keys = keys(3);
        let mut sorted: Vec<PublicKey> = keys.iter().map(SigningKey::public_key).collect();
        sorted.sort();
        let powers = [1u64, 3, 2];
        let set = ConsensusValidatorSet::new(
            ValidatorSet::new(
                sorted
                    .iter()
                    .zip(powers)
                    .map(|(key, voting_power)| Validator {
                        public_key: *key,
                        voting_power,
                    })
                    .collect(),
            )
            .unwrap(),
        );
        let ctx = EvidenceContext::new();
        // Over six heights (the total power): 1, 3 and 2 turns, in consecutive slots.
        let turns: Vec<PublicKey> = (12..18u64)
            .map(|height| {
                ctx.select_proposer(&set, BlockHeight(height), Round::new(0))
                    .address
                    .0
            })
            .collect();
        assert_eq!(
            turns,
            [
                sorted[0], sorted[1], sorted[1], sorted[1], sorted[2], sorted[2]
            ]
        );
        // A new round moves one slot on.
        let next = ctx.select_proposer(&set, BlockHeight(12), Round::new(1));
        assert_eq!(next.address.0, sorted[1]);
        // Heights near the end of the range do not overflow.
        let _ = ctx.select_proposer(&set, BlockHeight(u64::MAX), Round::new(u32::MAX - 1));
    }

    #[test]
    fn proposer_is_round_robin_over_the_sorted_set() {
        let keys = keys(4);
        let set = set(&keys);
        let ctx = EvidenceContext::new();
        let mut sorted: Vec<PublicKey> = keys.iter().map(SigningKey::public_key).collect();
        sorted.sort();
        for height in 1..10u64 {
            for round in 0..6u32 {
                let expected = sorted[((height + u64::from(round)) % 4) as usize];
                let chosen = ctx.select_proposer(&set, BlockHeight(height), Round::new(round));
                assert_eq!(chosen.address.0, expected, "h={height} r={round}");
            }
        }
        // No overflow at the extremes.
        let _ = set.proposer(u64::MAX, u32::MAX);
    }

    #[test]
    fn set_lookups_follow_the_ledger_set() {
        let keys = keys(4);
        let set = set(&keys);
        assert_eq!(set.count(), 4);
        assert_eq!(set.total_voting_power(), 4);
        for key in &keys {
            let address = ValidatorAddress(key.public_key());
            assert_eq!(
                set.get_by_address(&address).map(|v| v.address),
                Some(address)
            );
        }
        let stranger = ValidatorAddress(SigningKey::from_seed(&[99; 32]).public_key());
        assert!(set.get_by_address(&stranger).is_none());
        assert!(set.get_by_index(4).is_none());
    }

    #[test]
    fn value_id_is_the_block_hash() {
        let hash = HashAlgorithm::Blake3.hash(b"header");
        assert_eq!(BlockHash(hash).id(), hash);
    }

    #[test]
    fn vote_signing_bytes_are_the_ledger_bytes() {
        let key = SigningKey::from_seed(&[1; 32]);
        let hash = HashAlgorithm::Blake3.hash(b"header");
        let vote = EvidenceContext::new().new_precommit(
            BlockHeight(5),
            Round::new(2),
            NilOrVal::Val(hash),
            ValidatorAddress(key.public_key()),
        );
        assert_eq!(
            vote.signing_bytes("chain"),
            Some(evidence_core::header::vote_signing_bytes(
                "chain",
                VoteKind::Precommit,
                5,
                2,
                Some(&hash)
            ))
        );
        let nil_round = ConsensusVote {
            round: Round::Nil,
            ..vote
        };
        assert_eq!(nil_round.signing_bytes("chain"), None);
    }

    #[test]
    fn certificates_convert_both_ways() {
        let keys = keys(4);
        let hash = HashAlgorithm::Blake3.hash(b"header");
        let refs: Vec<&SigningKey> = keys.iter().collect();
        let ledger = CommitCertificate::sign("chain", 9, 1, hash, &refs[..3]);
        let engine = from_ledger_certificate(&ledger);
        assert_eq!(
            to_ledger_certificate(&engine.trim_vote_extensions()),
            Ok(ledger)
        );
        let nil = mc::CommitCertificate::<EvidenceContext> {
            round: Round::Nil,
            ..engine.trim_vote_extensions()
        };
        assert_eq!(
            to_ledger_certificate(&nil),
            Err(CertificateConversionError::NilRound)
        );
    }
}
