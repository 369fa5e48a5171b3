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

/// The validator set as consensus sees it: the genesis set, in the same canonical order
/// (ascending public-key bytes, SPEC.md §13.2), with the same quorum rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusValidatorSet {
    set: ValidatorSet,
    validators: Vec<ConsensusValidator>,
}

impl ConsensusValidatorSet {
    /// The consensus view of a validated ledger validator set.
    pub fn new(set: ValidatorSet) -> Self {
        let validators = set
            .validators()
            .iter()
            .map(|v| ConsensusValidator::new(v.public_key, v.voting_power))
            .collect();
        Self { set, validators }
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
    /// proposer is the holder of slot `(height + round) mod total_power`, so over any
    /// `total_power` consecutive heights each validator proposes in proportion to its power,
    /// and each new round moves one slot on. With equal powers this is plain round-robin,
    /// index `(height + round) mod n`. Every honest node computes the same proposer from the
    /// same set, so a block's `proposer` field can be checked.
    pub fn proposer(&self, height: u64, round: u32) -> &ConsensusValidator {
        // A ValidatorSet is never empty and every power is at least 1: total >= n >= 1.
        let total = u128::from(self.set.total_power().max(1));
        let mut slot = (u128::from(height) + u128::from(round)) % total;
        for validator in &self.validators {
            let power = u128::from(validator.voting_power);
            if slot < power {
                return validator;
            }
            slot -= power;
        }
        unreachable!("the slots of the validators cover the total power")
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
