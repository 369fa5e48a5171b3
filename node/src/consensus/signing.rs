//! Signing and verifying consensus messages with the ledger's keys.
//!
//! A vote is signed over `vote_signing_bytes` and a proposal over `proposal_signing_bytes`
//! (SPEC.md §13.3, §13.4), each starting with its domain prefix. Verification is the ledger's
//! one strict Ed25519 rule ([`PublicKey::verify`]), the same check an offline verifier applies
//! to a certificate, made once per (key, bytes, signature): the verifier, the signer and the
//! ledger share the verdicts that passed ([`crate::signatures`]).
//!
//! Two things the engine can sign are refused, because this ledger does not use them and its
//! validator keys sign only messages SPEC.md defines: vote extensions (disabled for every
//! height) and proof-of-validator statements (peers are admitted by a libp2p identity derived
//! from the genesis keys instead; see [`super::network_keypair`]).

use async_trait::async_trait;
use evidence_core::keys::{PublicKey, SigningKey};
use malachite_core_types::{SignedMessage, ValidatorProof, VoteExtensionScope};
use malachite_signing::{Error, Signer, VerificationResult, Verifier};

use crate::signatures::VerifiedConsensusSignatures;

use super::context::{
    ConsensusProposal, ConsensusSignature, ConsensusVote, EvidenceContext, ValidatorAddress,
};

/// Why the signer refused to sign.
// The keys in `NotOwnAddress` make it larger than the other variants; refusals are rare and
// built only on failure.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerRefusal {
    /// The message has no round, so it has no signed form.
    #[error("cannot sign a {0} without a round")]
    NoRound(&'static str),
    /// The message names another validator.
    #[error("cannot sign a {what} for validator {named}: this signer is {own}")]
    NotOwnAddress {
        what: &'static str,
        named: ValidatorAddress,
        own: ValidatorAddress,
    },
    /// Vote extensions are disabled on this ledger.
    #[error("vote extensions are not used by this ledger")]
    VoteExtension,
    /// Proof-of-validator statements are not used by this ledger.
    #[error("proof-of-validator statements are not used by this ledger")]
    ValidatorProof,
}

fn refuse(reason: SignerRefusal) -> Error {
    Error::from_source(reason)
}

/// Signs this validator's votes and proposals with its ledger key.
#[derive(Debug, Clone)]
pub struct ConsensusSigner {
    key: SigningKey,
    address: ValidatorAddress,
    chain_id: String,
    /// Where the signatures it makes are remembered as verified, if anywhere.
    verified: Option<VerifiedConsensusSignatures>,
}

impl ConsensusSigner {
    /// A signer for chain `chain_id` with the validator's `key`.
    pub fn new(chain_id: impl Into<String>, key: SigningKey) -> Self {
        let address = ValidatorAddress(key.public_key());
        Self {
            key,
            address,
            chain_id: chain_id.into(),
            verified: None,
        }
    }

    /// The same signer, remembering every signature it makes in `verified`, so that the
    /// engine's check of this validator's own votes and proposals is answered from memory.
    #[must_use]
    pub fn recording_into(mut self, verified: VerifiedConsensusSignatures) -> Self {
        self.verified = Some(verified);
        self
    }

    /// The address (public key) this signer signs for.
    pub fn address(&self) -> ValidatorAddress {
        self.address
    }

    /// Signs `bytes` (which already start with their domain prefix).
    pub fn sign_bytes(&self, bytes: &[u8]) -> ConsensusSignature {
        let signature = self.key.sign(bytes);
        if let Some(verified) = &self.verified {
            verified.record_own(&self.address.0, bytes, &signature);
        }
        ConsensusSignature(signature)
    }

    fn check_own(&self, what: &'static str, named: &ValidatorAddress) -> Result<(), Error> {
        if *named == self.address {
            Ok(())
        } else {
            Err(refuse(SignerRefusal::NotOwnAddress {
                what,
                named: *named,
                own: self.address,
            }))
        }
    }
}

#[async_trait]
impl Signer<EvidenceContext> for ConsensusSigner {
    async fn sign_vote(
        &self,
        vote: ConsensusVote,
    ) -> Result<SignedMessage<EvidenceContext, ConsensusVote>, Error> {
        self.check_own("vote", &vote.validator)?;
        let bytes = vote
            .signing_bytes(&self.chain_id)
            .ok_or_else(|| refuse(SignerRefusal::NoRound("vote")))?;
        let signature = self.sign_bytes(&bytes);
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(
        &self,
        proposal: ConsensusProposal,
    ) -> Result<SignedMessage<EvidenceContext, ConsensusProposal>, Error> {
        self.check_own("proposal", &proposal.proposer)?;
        let bytes = proposal
            .signing_bytes(&self.chain_id)
            .ok_or_else(|| refuse(SignerRefusal::NoRound("proposal")))?;
        let signature = self.sign_bytes(&bytes);
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        _scope: VoteExtensionScope<EvidenceContext>,
        _extension: (),
    ) -> Result<SignedMessage<EvidenceContext, ()>, Error> {
        Err(refuse(SignerRefusal::VoteExtension))
    }

    async fn sign_validator_proof(
        &self,
        _public_key: Vec<u8>,
        _peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<EvidenceContext>, Error> {
        Err(refuse(SignerRefusal::ValidatorProof))
    }
}

/// Verifies consensus signatures strictly, for chain `chain_id`, each (key, bytes, signature)
/// once: a repeat is answered from `verified`.
#[derive(Debug, Clone)]
pub struct ConsensusVerifier {
    chain_id: String,
    verified: VerifiedConsensusSignatures,
}

impl ConsensusVerifier {
    /// A verifier for chain `chain_id` that remembers what passed in `verified` (shared with
    /// the ledger, which checks the same precommits in each certificate it commits).
    pub fn new(chain_id: impl Into<String>, verified: VerifiedConsensusSignatures) -> Self {
        Self {
            chain_id: chain_id.into(),
            verified,
        }
    }

    /// Strict verification of `signature` by `public_key` over `bytes`, where `named` is the
    /// validator the message claims as its author: it must be the key's owner.
    fn verify(
        &self,
        named: &ValidatorAddress,
        bytes: Option<Vec<u8>>,
        signature: &ConsensusSignature,
        public_key: &PublicKey,
    ) -> VerificationResult {
        let Some(bytes) = bytes else {
            return VerificationResult::Invalid;
        };
        VerificationResult::from_bool(
            named.0 == *public_key && self.verified.verify(public_key, &bytes, &signature.0),
        )
    }
}

#[async_trait]
impl Verifier<EvidenceContext> for ConsensusVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &ConsensusVote,
        signature: &ConsensusSignature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(self.verify(
            &vote.validator,
            vote.signing_bytes(&self.chain_id),
            signature,
            public_key,
        ))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &ConsensusProposal,
        signature: &ConsensusSignature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(self.verify(
            &proposal.proposer,
            proposal.signing_bytes(&self.chain_id),
            signature,
            public_key,
        ))
    }

    /// No extension is ever valid: extensions are disabled on this ledger.
    async fn verify_signed_vote_extension(
        &self,
        _scope: &VoteExtensionScope<EvidenceContext>,
        _extension: &(),
        _signature: &ConsensusSignature,
        _public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(VerificationResult::Invalid)
    }

    /// Checks a peer's proof-of-validator statement strictly, should a peer send one (nodes of
    /// this ledger do not): the key must decode and its signature must cover the engine's
    /// canonical proof bytes. A valid proof only raises the peer's gossip score; admission to
    /// the network is decided by peer id alone.
    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<EvidenceContext>,
    ) -> Result<VerificationResult, Error> {
        let Ok(public_key) = proof.decoded_public_key() else {
            return Ok(VerificationResult::Invalid);
        };
        Ok(VerificationResult::from_bool(
            public_key
                .verify(&proof.preimage(), &proof.signature.0)
                .is_ok(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use evidence_core::certificate::CommitCertificate;
    use evidence_core::digest::HashAlgorithm;
    use evidence_core::validators::{Validator, ValidatorSet};
    use malachite_core_types::{Context as _, NilOrVal, Round};

    use super::super::context::{BlockHash, BlockHeight, to_ledger_certificate};
    use super::*;

    const CHAIN: &str = "signing-test-chain";

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    fn keys() -> Vec<SigningKey> {
        (1..=4u8).map(|i| SigningKey::from_seed(&[i; 32])).collect()
    }

    #[test]
    fn votes_and_proposals_sign_and_verify() {
        block_on(async {
            let ctx = EvidenceContext::new();
            let key = SigningKey::from_seed(&[1; 32]);
            let signer = ConsensusSigner::new(CHAIN, key.clone());
            let verifier = ConsensusVerifier::new(CHAIN, VerifiedConsensusSignatures::new(16));
            let hash = HashAlgorithm::Blake3.hash(b"block");
            let me = signer.address();

            let vote = ctx.new_prevote(BlockHeight(3), Round::new(0), NilOrVal::Val(hash), me);
            let signed = signer.sign_vote(vote.clone()).await.unwrap();
            assert!(
                verifier
                    .verify_signed_vote(&vote, &signed.signature, &key.public_key())
                    .await
                    .unwrap()
                    .is_valid()
            );
            // The same signature does not cover a different vote.
            let nil = ctx.new_prevote(BlockHeight(3), Round::new(0), NilOrVal::Nil, me);
            assert!(
                verifier
                    .verify_signed_vote(&nil, &signed.signature, &key.public_key())
                    .await
                    .unwrap()
                    .is_invalid()
            );
            // Nor does it verify for another chain.
            assert!(
                ConsensusVerifier::new("other-chain", VerifiedConsensusSignatures::new(16))
                    .verify_signed_vote(&vote, &signed.signature, &key.public_key())
                    .await
                    .unwrap()
                    .is_invalid()
            );

            let proposal = ctx.new_proposal(
                BlockHeight(3),
                Round::new(1),
                BlockHash(hash),
                Round::Nil,
                me,
            );
            let signed = signer.sign_proposal(proposal.clone()).await.unwrap();
            assert_eq!(
                signed.signature.0,
                key.sign(&evidence_core::header::proposal_signing_bytes(
                    CHAIN, 3, 1, None, &hash
                ))
            );
            assert!(
                verifier
                    .verify_signed_proposal(&proposal, &signed.signature, &key.public_key())
                    .await
                    .unwrap()
                    .is_valid()
            );
        });
    }

    /// The node's signer and verifier share one memory: the engine's check of the node's own
    /// vote is answered from it, and a forged signature on the same vote still fails.
    #[test]
    fn own_signatures_are_remembered_and_forgeries_still_fail() {
        block_on(async {
            let ctx = EvidenceContext::new();
            let keys = keys();
            let verified = VerifiedConsensusSignatures::new(16);
            let signer =
                ConsensusSigner::new(CHAIN, keys[0].clone()).recording_into(verified.clone());
            let verifier = ConsensusVerifier::new(CHAIN, verified.clone());
            let hash = HashAlgorithm::Blake3.hash(b"block");
            let vote = ctx.new_precommit(
                BlockHeight(4),
                Round::new(0),
                NilOrVal::Val(hash),
                signer.address(),
            );
            let signed = signer.sign_vote(vote.clone()).await.unwrap();
            assert_eq!(verified.len(), 1, "the signer remembered its signature");
            let own = keys[0].public_key();
            assert!(
                verifier
                    .verify_signed_vote(&vote, &signed.signature, &own)
                    .await
                    .unwrap()
                    .is_valid()
            );
            let forged = ConsensusSignature(keys[1].sign(&vote.signing_bytes(CHAIN).unwrap()));
            assert!(
                verifier
                    .verify_signed_vote(&vote, &forged, &own)
                    .await
                    .unwrap()
                    .is_invalid()
            );
            assert_eq!(verified.len(), 1);
        });
    }

    #[test]
    fn a_signature_checked_against_another_key_is_invalid() {
        block_on(async {
            let ctx = EvidenceContext::new();
            let keys = keys();
            let signer = ConsensusSigner::new(CHAIN, keys[0].clone());
            let verifier = ConsensusVerifier::new(CHAIN, VerifiedConsensusSignatures::new(16));
            let vote = ctx.new_precommit(
                BlockHeight(1),
                Round::new(0),
                NilOrVal::Nil,
                signer.address(),
            );
            let signed = signer.sign_vote(vote.clone()).await.unwrap();
            assert!(
                verifier
                    .verify_signed_vote(&vote, &signed.signature, &keys[1].public_key())
                    .await
                    .unwrap()
                    .is_invalid()
            );
        });
    }

    #[test]
    fn refuses_foreign_votes_nil_rounds_extensions_and_proofs() {
        block_on(async {
            let ctx = EvidenceContext::new();
            let keys = keys();
            let signer = ConsensusSigner::new(CHAIN, keys[0].clone());
            let other = ValidatorAddress(keys[1].public_key());
            let foreign = ctx.new_prevote(BlockHeight(1), Round::new(0), NilOrVal::Nil, other);
            assert!(signer.sign_vote(foreign).await.is_err());
            let no_round =
                ctx.new_prevote(BlockHeight(1), Round::Nil, NilOrVal::Nil, signer.address());
            assert!(signer.sign_vote(no_round).await.is_err());
            let scope = VoteExtensionScope::new(
                BlockHeight(1),
                Round::new(0),
                HashAlgorithm::Blake3.hash(b"x"),
                signer.address(),
            );
            assert!(signer.sign_vote_extension(scope, ()).await.is_err());
            assert!(signer.sign_validator_proof(vec![], vec![]).await.is_err());
        });
    }

    /// A certificate assembled from precommits made by the consensus signer, converted to the
    /// ledger's form, verifies with the ledger's own offline check.
    #[test]
    fn a_certificate_from_consensus_precommits_verifies_offline() {
        block_on(async {
            let ctx = EvidenceContext::new();
            let keys = keys();
            let set = ValidatorSet::new(
                keys.iter()
                    .map(|k| Validator {
                        public_key: k.public_key(),
                        voting_power: 1,
                    })
                    .collect(),
            )
            .unwrap();
            let hash = HashAlgorithm::Blake3.hash(b"decided header");
            let (height, round) = (BlockHeight(12), Round::new(2));
            let mut precommits = Vec::new();
            for key in &keys[..3] {
                let signer = ConsensusSigner::new(CHAIN, key.clone());
                let vote = ctx.new_precommit(height, round, NilOrVal::Val(hash), signer.address());
                precommits.push(signer.sign_vote(vote).await.unwrap());
            }
            let engine_certificate =
                malachite_core_types::CommitCertificate::new(height, round, hash, precommits);
            assert_eq!(engine_certificate.commit_signatures.len(), 3);
            let ledger: CommitCertificate = to_ledger_certificate(&engine_certificate).unwrap();
            assert_eq!(ledger.verify(CHAIN, &set), Ok(3));
            assert!(ledger.verify("another-chain", &set).is_err());

            // Two signatures are not a quorum of four.
            let mut short = ledger.clone();
            short.signatures.truncate(2);
            assert!(short.verify(CHAIN, &set).is_err());
        });
    }
}
