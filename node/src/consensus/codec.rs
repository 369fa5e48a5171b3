//! The canonical encodings of everything the consensus engine sends to peers or writes to its
//! write-ahead log: consensus messages, liveness messages, proposal parts and their stream
//! frames, value-sync status, requests and responses, proposed values and polka certificates.
//!
//! Every encoding uses the ledger's canonical rules (`evidence_core::encoding`: fixed-width
//! big-endian integers, length-prefixed bytes, one-byte tags, SPEC.md §2) and starts with a
//! one-byte wire version ([`WIRE_VERSION`]). Decoding is strict and bounded: the input's total
//! size is checked against a per-message limit before anything is read, every length and count
//! against its field's limit before anything is allocated, unknown tags and versions are
//! errors, and trailing bytes are an error. Every failure is a typed [`CodecError`].
//!
//! Rounds are `u32`. Where a round may be absent (a proposal's proof-of-lock round, a proposed
//! value's valid round) "none" is written as `0xffffffff`, as in `proposal_signing_bytes`; so
//! the round `0xffffffff` itself is never encoded. Vote extensions have no encoding: this
//! ledger does not use them, and a message carrying one is refused.

use bytes::Bytes;
use evidence_core::digest::Digest;
use evidence_core::encoding::{DecodeError, Reader, Writer};
use evidence_core::keys::{PublicKey, Signature};
use evidence_core::validators::VALIDATORS_MAX;
use malachite::app::types::streaming::{StreamId, StreamMessage};
use malachite::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachite::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachite_codec::{Codec, HasEncodedLen};
use malachite_core_types::{
    ExtendedCommitCertificate, ExtendedCommitSignature, NilOrVal, PolkaCertificate, PolkaSignature,
    Round, RoundCertificate, RoundCertificateType, RoundSignature, SignedMessage, ValidatorProof,
    Validity, VoteType,
};
use malachite_engine::util::streaming::StreamContent;
use malachite_sync::{ValueRequest, ValueResponse};
use thiserror::Error;

use super::context::{
    BlockHash, BlockHeight, ConsensusProposal, ConsensusSignature, ConsensusVote, EvidenceContext,
    PART_DATA_MAX, ProposalPart, ValidatorAddress,
};
use crate::block::BLOCK_BYTES_MAX;

type LivenessMsg = malachite::app::consensus::LivenessMsg<EvidenceContext>;

/// The version byte every encoding here starts with.
pub const WIRE_VERSION: u8 = 1;

/// Largest encoded vote or proposal message.
pub const CONSENSUS_MESSAGE_BYTES_MAX: usize = 4 * 1024;
/// Largest encoded liveness message (a round certificate can hold two votes per validator).
pub const LIVENESS_MESSAGE_BYTES_MAX: usize = 160 * 1024;
/// Largest encoded proposal part or stream frame: one data chunk and its framing.
pub const PART_MESSAGE_BYTES_MAX: usize = PART_DATA_MAX + 1024;
/// Largest stream id a proposer may choose.
pub const STREAM_ID_BYTES_MAX: u32 = 64;
/// Largest encoded libp2p peer id.
pub const PEER_ID_BYTES_MAX: u32 = 64;
/// Largest encoded validator proof.
pub const VALIDATOR_PROOF_BYTES_MAX: usize = 1024;
/// Largest encoded sync status or request.
pub const SYNC_SMALL_MESSAGE_BYTES_MAX: usize = 1024;
/// Largest encoded value-sync response: one block of the largest size and its certificate,
/// with room to spare. The node's network limits for sync responses are set to this.
pub const SYNC_RESPONSE_BYTES_MAX: usize = BLOCK_BYTES_MAX + 256 * 1024;
/// Most decided values in one sync response.
pub const SYNC_VALUES_MAX: u32 = 1024;
/// Largest encoded proposed value or polka certificate in the write-ahead log.
pub const WAL_ENTRY_BYTES_MAX: usize = 64 * 1024;

/// Signatures a polka or commit certificate may hold: one per validator.
const CERTIFICATE_SIGNATURES_MAX: u32 = VALIDATORS_MAX as u32;
/// Signatures a round certificate may hold: a prevote and a precommit per validator.
const ROUND_SIGNATURES_MAX: u32 = 2 * VALIDATORS_MAX as u32;

const DIGEST_LEN: usize = 33;
/// The longest encoded public key: the algorithm tag and an SM2 key's 33 bytes.
const PUBLIC_KEY_LEN: usize = 1 + evidence_core::keys::PUBLIC_KEY_LEN_MAX;
const SIGNATURE_LEN: usize = 65;

/// Why a message could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// The bytes do not hold a valid encoding.
    #[error("cannot decode {what}: {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: DecodeError,
    },
    /// The input is larger than any valid encoding of the message.
    #[error("{what} is {len} bytes, at most {max} are accepted")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// The value has no encoding (for example a vote without a round, or a vote extension).
    #[error("cannot encode {what}: {reason}")]
    Unencodable {
        what: &'static str,
        reason: &'static str,
    },
}

/// The codec for the network, value sync and the write-ahead log. It holds no state.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvidenceCodec;

type Encoded = Result<(), CodecError>;

fn unencodable(what: &'static str, reason: &'static str) -> CodecError {
    CodecError::Unencodable { what, reason }
}

fn invalid(what: &'static str, reason: &str) -> DecodeError {
    DecodeError::InvalidValue {
        what,
        reason: reason.to_owned(),
    }
}

/// Encodes a top-level message: the wire version, then `body`.
fn encode_top(body: impl FnOnce(&mut Writer) -> Encoded) -> Result<Bytes, CodecError> {
    let mut writer = Writer::new();
    writer.u8(WIRE_VERSION);
    body(&mut writer)?;
    Ok(Bytes::from(writer.into_bytes()))
}

/// Decodes a top-level message of at most `max` bytes, consuming every byte.
fn decode_top<T>(
    bytes: &Bytes,
    what: &'static str,
    max: usize,
    body: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<T, CodecError> {
    if bytes.len() > max {
        return Err(CodecError::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    let run = || {
        let mut reader = Reader::new(bytes);
        let version = reader.u8("wire version")?;
        if version != WIRE_VERSION {
            return Err(DecodeError::UnsupportedVersion { what, version });
        }
        let value = body(&mut reader)?;
        reader.finish(what)?;
        Ok(value)
    };
    run().map_err(|source| CodecError::Decode { what, source })
}

/// Length-prefixed bytes of at most `max`, returned as a slice of `input` without copying.
/// `reader` must be reading `input`.
fn bytes_of(
    reader: &mut Reader<'_>,
    input: &Bytes,
    max: u32,
    what: &'static str,
) -> Result<Bytes, DecodeError> {
    let len = reader.bytes_max(max, what)?.len();
    let end = input.len() - reader.remaining();
    Ok(input.slice(end - len..end))
}

// ---------------------------------------------------------------------------------------------
// Field encodings.

fn put_round(w: &mut Writer, round: Round, what: &'static str) -> Encoded {
    match round.as_u32() {
        Some(r) if r != u32::MAX => {
            w.u32(r);
            Ok(())
        }
        Some(_) => Err(unencodable(what, "round 0xffffffff is reserved")),
        None => Err(unencodable(what, "the round is not defined")),
    }
}

fn get_round(r: &mut Reader<'_>, what: &'static str) -> Result<Round, DecodeError> {
    match r.u32(what)? {
        u32::MAX => Err(invalid(what, "round 0xffffffff is reserved")),
        round => Ok(Round::new(round)),
    }
}

fn put_optional_round(w: &mut Writer, round: Round, what: &'static str) -> Encoded {
    match round.as_u32() {
        Some(u32::MAX) => Err(unencodable(what, "round 0xffffffff is reserved")),
        Some(r) => {
            w.u32(r);
            Ok(())
        }
        None => {
            w.u32(u32::MAX);
            Ok(())
        }
    }
}

fn get_optional_round(r: &mut Reader<'_>, what: &'static str) -> Result<Round, DecodeError> {
    match r.u32(what)? {
        u32::MAX => Ok(Round::Nil),
        round => Ok(Round::new(round)),
    }
}

fn put_vote_type(w: &mut Writer, vote_type: VoteType) {
    w.u8(match vote_type {
        VoteType::Prevote => 1,
        VoteType::Precommit => 2,
    });
}

fn get_vote_type(r: &mut Reader<'_>) -> Result<VoteType, DecodeError> {
    match r.u8("vote type")? {
        1 => Ok(VoteType::Prevote),
        2 => Ok(VoteType::Precommit),
        tag => Err(DecodeError::UnknownTag {
            what: "vote type",
            tag,
        }),
    }
}

fn put_value_id(w: &mut Writer, value: &NilOrVal<Digest>) {
    let value = match value {
        NilOrVal::Nil => None,
        NilOrVal::Val(digest) => Some(digest),
    };
    w.option(value, |w, d| {
        w.put(d);
    });
}

fn get_value_id(r: &mut Reader<'_>) -> Result<NilOrVal<Digest>, DecodeError> {
    Ok(match r.option("voted value", Reader::get::<Digest>)? {
        None => NilOrVal::Nil,
        Some(digest) => NilOrVal::Val(digest),
    })
}

fn get_address(r: &mut Reader<'_>) -> Result<ValidatorAddress, DecodeError> {
    Ok(ValidatorAddress(r.get::<PublicKey>()?))
}

fn get_signature(r: &mut Reader<'_>) -> Result<ConsensusSignature, DecodeError> {
    Ok(ConsensusSignature(r.get::<Signature>()?))
}

fn put_vote(w: &mut Writer, vote: &ConsensusVote) -> Encoded {
    put_vote_type(w, vote.vote_type);
    w.u64(vote.height.0);
    put_round(w, vote.round, "vote")?;
    put_value_id(w, &vote.value);
    w.put(&vote.validator.0);
    Ok(())
}

fn get_vote(r: &mut Reader<'_>) -> Result<ConsensusVote, DecodeError> {
    Ok(ConsensusVote {
        vote_type: get_vote_type(r)?,
        height: BlockHeight(r.u64("vote height")?),
        round: get_round(r, "vote round")?,
        value: get_value_id(r)?,
        validator: get_address(r)?,
    })
}

fn put_signed_vote(
    w: &mut Writer,
    vote: &SignedMessage<EvidenceContext, ConsensusVote>,
) -> Encoded {
    put_vote(w, &vote.message)?;
    w.put(&vote.signature.0);
    Ok(())
}

fn get_signed_vote(
    r: &mut Reader<'_>,
) -> Result<SignedMessage<EvidenceContext, ConsensusVote>, DecodeError> {
    let vote = get_vote(r)?;
    Ok(SignedMessage::new(vote, get_signature(r)?))
}

fn put_proposal(w: &mut Writer, proposal: &ConsensusProposal) -> Encoded {
    w.u64(proposal.height.0);
    put_round(w, proposal.round, "proposal")?;
    put_optional_round(w, proposal.pol_round, "proposal")?;
    w.put(&proposal.value.0).put(&proposal.proposer.0);
    Ok(())
}

fn get_proposal(r: &mut Reader<'_>) -> Result<ConsensusProposal, DecodeError> {
    Ok(ConsensusProposal {
        height: BlockHeight(r.u64("proposal height")?),
        round: get_round(r, "proposal round")?,
        pol_round: get_optional_round(r, "proposal pol round")?,
        value: BlockHash(r.get()?),
        proposer: get_address(r)?,
    })
}

fn put_signed_consensus_msg(w: &mut Writer, msg: &SignedConsensusMsg<EvidenceContext>) -> Encoded {
    match msg {
        SignedConsensusMsg::Vote(vote) => {
            w.u8(1);
            put_signed_vote(w, vote)
        }
        SignedConsensusMsg::Proposal(proposal) => {
            w.u8(2);
            put_proposal(w, &proposal.message)?;
            w.put(&proposal.signature.0);
            Ok(())
        }
    }
}

fn get_signed_consensus_msg(
    r: &mut Reader<'_>,
) -> Result<SignedConsensusMsg<EvidenceContext>, DecodeError> {
    match r.u8("consensus message")? {
        1 => Ok(SignedConsensusMsg::Vote(get_signed_vote(r)?)),
        2 => {
            let proposal = get_proposal(r)?;
            Ok(SignedConsensusMsg::Proposal(SignedMessage::new(
                proposal,
                get_signature(r)?,
            )))
        }
        tag => Err(DecodeError::UnknownTag {
            what: "consensus message",
            tag,
        }),
    }
}

fn put_polka_certificate(
    w: &mut Writer,
    certificate: &PolkaCertificate<EvidenceContext>,
) -> Encoded {
    if certificate.polka_signatures.len() > CERTIFICATE_SIGNATURES_MAX as usize {
        return Err(unencodable("polka certificate", "too many signatures"));
    }
    w.u64(certificate.height.0);
    put_round(w, certificate.round, "polka certificate")?;
    w.put(&certificate.value_id);
    w.seq(&certificate.polka_signatures, |w, s| {
        w.put(&s.address.0).put(&s.signature.0);
    });
    Ok(())
}

fn get_polka_certificate(
    r: &mut Reader<'_>,
) -> Result<PolkaCertificate<EvidenceContext>, DecodeError> {
    Ok(PolkaCertificate {
        height: BlockHeight(r.u64("polka height")?),
        round: get_round(r, "polka round")?,
        value_id: r.get()?,
        polka_signatures: r.seq_max(CERTIFICATE_SIGNATURES_MAX, "polka signatures", |r| {
            let address = get_address(r)?;
            Ok(PolkaSignature::new(address, get_signature(r)?))
        })?,
    })
}

fn put_round_certificate(
    w: &mut Writer,
    certificate: &RoundCertificate<EvidenceContext>,
) -> Encoded {
    if certificate.round_signatures.len() > ROUND_SIGNATURES_MAX as usize {
        return Err(unencodable("round certificate", "too many signatures"));
    }
    w.u64(certificate.height.0);
    put_round(w, certificate.round, "round certificate")?;
    w.u8(match certificate.cert_type {
        RoundCertificateType::Skip => 1,
        RoundCertificateType::Precommit => 2,
    });
    w.seq(&certificate.round_signatures, |w, s| {
        put_vote_type(w, s.vote_type);
        put_value_id(w, &s.value_id);
        w.put(&s.address.0).put(&s.signature.0);
    });
    Ok(())
}

fn get_round_certificate(
    r: &mut Reader<'_>,
) -> Result<RoundCertificate<EvidenceContext>, DecodeError> {
    let height = BlockHeight(r.u64("round certificate height")?);
    let round = get_round(r, "round certificate round")?;
    let cert_type = match r.u8("round certificate type")? {
        1 => RoundCertificateType::Skip,
        2 => RoundCertificateType::Precommit,
        tag => {
            return Err(DecodeError::UnknownTag {
                what: "round certificate type",
                tag,
            });
        }
    };
    let round_signatures = r.seq_max(ROUND_SIGNATURES_MAX, "round signatures", |r| {
        let vote_type = get_vote_type(r)?;
        let value_id = get_value_id(r)?;
        let address = get_address(r)?;
        Ok(RoundSignature::new(
            vote_type,
            value_id,
            address,
            get_signature(r)?,
        ))
    })?;
    Ok(RoundCertificate {
        height,
        round,
        cert_type,
        round_signatures,
    })
}

fn put_proposal_part(w: &mut Writer, part: &ProposalPart) -> Encoded {
    match part {
        ProposalPart::Init {
            height,
            round,
            proposer,
            pol_round,
        } => {
            w.u8(1).u64(height.0);
            put_round(w, *round, "proposal part")?;
            w.put(&proposer.0);
            put_optional_round(w, *pol_round, "proposal part")
        }
        ProposalPart::Data(chunk) => {
            if chunk.is_empty() || chunk.len() > PART_DATA_MAX {
                return Err(unencodable(
                    "proposal part",
                    "a data chunk must hold 1 to 131072 bytes",
                ));
            }
            w.u8(2).bytes(chunk);
            Ok(())
        }
        ProposalPart::Fin { signature } => {
            w.u8(3).put(&signature.0);
            Ok(())
        }
    }
}

fn get_proposal_part(r: &mut Reader<'_>, input: &Bytes) -> Result<ProposalPart, DecodeError> {
    match r.u8("proposal part")? {
        1 => Ok(ProposalPart::Init {
            height: BlockHeight(r.u64("part height")?),
            round: get_round(r, "part round")?,
            proposer: get_address(r)?,
            pol_round: get_optional_round(r, "part pol round")?,
        }),
        2 => {
            let chunk = bytes_of(r, input, PART_DATA_MAX as u32, "part data")?;
            if chunk.is_empty() {
                return Err(invalid("part data", "an empty data chunk"));
            }
            Ok(ProposalPart::Data(chunk))
        }
        3 => Ok(ProposalPart::Fin {
            signature: get_signature(r)?,
        }),
        tag => Err(DecodeError::UnknownTag {
            what: "proposal part",
            tag,
        }),
    }
}

fn put_commit_certificate(
    w: &mut Writer,
    certificate: &ExtendedCommitCertificate<EvidenceContext>,
) -> Encoded {
    if certificate.commit_signatures.len() > CERTIFICATE_SIGNATURES_MAX as usize {
        return Err(unencodable("commit certificate", "too many signatures"));
    }
    if certificate
        .commit_signatures
        .iter()
        .any(|s| s.extension.is_some())
    {
        return Err(unencodable(
            "commit certificate",
            "vote extensions are not used by this ledger",
        ));
    }
    w.u64(certificate.height.0);
    put_round(w, certificate.round, "commit certificate")?;
    w.put(&certificate.value_id);
    w.seq(&certificate.commit_signatures, |w, s| {
        w.put(&s.address.0).put(&s.signature.0);
    });
    Ok(())
}

fn get_commit_certificate(
    r: &mut Reader<'_>,
) -> Result<ExtendedCommitCertificate<EvidenceContext>, DecodeError> {
    Ok(ExtendedCommitCertificate {
        height: BlockHeight(r.u64("certificate height")?),
        round: get_round(r, "certificate round")?,
        value_id: r.get()?,
        commit_signatures: r.seq_max(CERTIFICATE_SIGNATURES_MAX, "commit signatures", |r| {
            let address = get_address(r)?;
            Ok(ExtendedCommitSignature::new(
                address,
                get_signature(r)?,
                None,
            ))
        })?,
    })
}

fn commit_certificate_len(certificate: &ExtendedCommitCertificate<EvidenceContext>) -> usize {
    // Each signature: the signer's key (its tag and bytes: 33 for Ed25519, 34 for SM2), then
    // the tagged signature.
    let signatures: usize = certificate
        .commit_signatures
        .iter()
        .map(|s| 1 + s.address.0.as_bytes().len() + SIGNATURE_LEN)
        .sum();
    8 + 4 + DIGEST_LEN + 4 + signatures
}

fn put_response(w: &mut Writer, response: &Response<EvidenceContext>) -> Encoded {
    let Response::ValueResponse(response) = response;
    if response.values.len() > SYNC_VALUES_MAX as usize {
        return Err(unencodable("sync response", "too many values"));
    }
    w.u8(1).u64(response.start_height.0);
    w.u32(response.values.len() as u32);
    for value in &response.values {
        if value.value_bytes.len() > BLOCK_BYTES_MAX {
            return Err(unencodable(
                "sync response",
                "a value is larger than a block",
            ));
        }
        w.bytes(&value.value_bytes);
        put_commit_certificate(w, &value.certificate)?;
    }
    Ok(())
}

fn get_response(
    r: &mut Reader<'_>,
    input: &Bytes,
) -> Result<Response<EvidenceContext>, DecodeError> {
    match r.u8("sync response")? {
        1 => {
            let start_height = BlockHeight(r.u64("sync start height")?);
            let values = r.seq_max(SYNC_VALUES_MAX, "sync values", |r| {
                let value_bytes = bytes_of(r, input, BLOCK_BYTES_MAX as u32, "synced value")?;
                Ok(RawDecidedValue::new(
                    value_bytes,
                    get_commit_certificate(r)?,
                ))
            })?;
            Ok(Response::ValueResponse(ValueResponse::new(
                start_height,
                values,
            )))
        }
        tag => Err(DecodeError::UnknownTag {
            what: "sync response",
            tag,
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Codec implementations.

impl Codec<SignedConsensusMsg<EvidenceContext>> for EvidenceCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<SignedConsensusMsg<EvidenceContext>, CodecError> {
        decode_top(
            &bytes,
            "consensus message",
            CONSENSUS_MESSAGE_BYTES_MAX,
            get_signed_consensus_msg,
        )
    }

    fn encode(&self, msg: &SignedConsensusMsg<EvidenceContext>) -> Result<Bytes, CodecError> {
        encode_top(|w| put_signed_consensus_msg(w, msg))
    }
}

impl Codec<LivenessMsg> for EvidenceCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<LivenessMsg, CodecError> {
        decode_top(
            &bytes,
            "liveness message",
            LIVENESS_MESSAGE_BYTES_MAX,
            |r| match r.u8("liveness message")? {
                1 => Ok(LivenessMsg::Vote(get_signed_vote(r)?)),
                2 => Ok(LivenessMsg::PolkaCertificate(get_polka_certificate(r)?)),
                3 => Ok(LivenessMsg::SkipRoundCertificate(get_round_certificate(r)?)),
                tag => Err(DecodeError::UnknownTag {
                    what: "liveness message",
                    tag,
                }),
            },
        )
    }

    fn encode(&self, msg: &LivenessMsg) -> Result<Bytes, CodecError> {
        encode_top(|w| match msg {
            LivenessMsg::Vote(vote) => {
                w.u8(1);
                put_signed_vote(w, vote)
            }
            LivenessMsg::PolkaCertificate(certificate) => {
                w.u8(2);
                put_polka_certificate(w, certificate)
            }
            LivenessMsg::SkipRoundCertificate(certificate) => {
                w.u8(3);
                put_round_certificate(w, certificate)
            }
        })
    }
}

impl Codec<ProposalPart> for EvidenceCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<ProposalPart, CodecError> {
        decode_top(&bytes, "proposal part", PART_MESSAGE_BYTES_MAX, |r| {
            get_proposal_part(r, &bytes)
        })
    }

    fn encode(&self, part: &ProposalPart) -> Result<Bytes, CodecError> {
        encode_top(|w| put_proposal_part(w, part))
    }
}

impl Codec<StreamMessage<ProposalPart>> for EvidenceCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<StreamMessage<ProposalPart>, CodecError> {
        decode_top(
            &bytes,
            "proposal stream message",
            PART_MESSAGE_BYTES_MAX,
            |r| {
                let stream_id =
                    StreamId::new(bytes_of(r, &bytes, STREAM_ID_BYTES_MAX, "stream id")?);
                let sequence = r.u64("stream sequence")?;
                let content = match r.u8("stream content")? {
                    1 => StreamContent::Data(get_proposal_part(r, &bytes)?),
                    2 => StreamContent::Fin,
                    tag => {
                        return Err(DecodeError::UnknownTag {
                            what: "stream content",
                            tag,
                        });
                    }
                };
                Ok(StreamMessage::new(stream_id, sequence, content))
            },
        )
    }

    fn encode(&self, msg: &StreamMessage<ProposalPart>) -> Result<Bytes, CodecError> {
        encode_top(|w| {
            let stream_id = msg.stream_id.to_bytes();
            if stream_id.len() > STREAM_ID_BYTES_MAX as usize {
                return Err(unencodable("proposal stream message", "stream id too long"));
            }
            w.bytes(&stream_id).u64(msg.sequence);
            match &msg.content {
                StreamContent::Data(part) => {
                    w.u8(1);
                    put_proposal_part(w, part)
                }
                StreamContent::Fin => {
                    w.u8(2);
                    Ok(())
                }
            }
        })
    }
}

impl Codec<ValidatorProof<EvidenceContext>> for EvidenceCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<EvidenceContext>, CodecError> {
        decode_top(&bytes, "validator proof", VALIDATOR_PROOF_BYTES_MAX, |r| {
            let public_key = r
                .bytes_max(PUBLIC_KEY_LEN as u32, "proof public key")?
                .to_vec();
            let peer_id = r.bytes_max(PEER_ID_BYTES_MAX, "proof peer id")?.to_vec();
            Ok(ValidatorProof::new(public_key, peer_id, get_signature(r)?))
        })
    }

    fn encode(&self, proof: &ValidatorProof<EvidenceContext>) -> Result<Bytes, CodecError> {
        encode_top(|w| {
            if proof.public_key.len() > PUBLIC_KEY_LEN
                || proof.peer_id.len() > PEER_ID_BYTES_MAX as usize
            {
                return Err(unencodable("validator proof", "a field is too long"));
            }
            w.bytes(&proof.public_key)
                .bytes(&proof.peer_id)
                .put(&proof.signature.0);
            Ok(())
        })
    }
}

impl Codec<PolkaCertificate<EvidenceContext>> for EvidenceCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<PolkaCertificate<EvidenceContext>, CodecError> {
        decode_top(
            &bytes,
            "polka certificate",
            WAL_ENTRY_BYTES_MAX,
            get_polka_certificate,
        )
    }

    fn encode(&self, certificate: &PolkaCertificate<EvidenceContext>) -> Result<Bytes, CodecError> {
        encode_top(|w| put_polka_certificate(w, certificate))
    }
}

impl Codec<ProposedValue<EvidenceContext>> for EvidenceCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<ProposedValue<EvidenceContext>, CodecError> {
        decode_top(&bytes, "proposed value", WAL_ENTRY_BYTES_MAX, |r| {
            Ok(ProposedValue {
                height: BlockHeight(r.u64("value height")?),
                round: get_optional_round(r, "value round")?,
                valid_round: get_optional_round(r, "value valid round")?,
                proposer: get_address(r)?,
                value: BlockHash(r.get()?),
                validity: Validity::from_bool(r.bool("validity")?),
            })
        })
    }

    fn encode(&self, value: &ProposedValue<EvidenceContext>) -> Result<Bytes, CodecError> {
        encode_top(|w| {
            w.u64(value.height.0);
            put_optional_round(w, value.round, "proposed value")?;
            put_optional_round(w, value.valid_round, "proposed value")?;
            w.put(&value.proposer.0)
                .put(&value.value.0)
                .bool(value.validity.is_valid());
            Ok(())
        })
    }
}

impl Codec<Status<EvidenceContext>> for EvidenceCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<Status<EvidenceContext>, CodecError> {
        decode_top(&bytes, "sync status", SYNC_SMALL_MESSAGE_BYTES_MAX, |r| {
            let peer_id = PeerId::from_bytes(r.bytes_max(PEER_ID_BYTES_MAX, "peer id")?)
                .map_err(|e| invalid("peer id", &e.to_string()))?;
            Ok(Status {
                peer_id,
                tip_height: BlockHeight(r.u64("tip height")?),
                history_min_height: BlockHeight(r.u64("history min height")?),
            })
        })
    }

    fn encode(&self, status: &Status<EvidenceContext>) -> Result<Bytes, CodecError> {
        encode_top(|w| {
            let peer_id = status.peer_id.to_bytes();
            if peer_id.len() > PEER_ID_BYTES_MAX as usize {
                return Err(unencodable("sync status", "peer id too long"));
            }
            w.bytes(&peer_id)
                .u64(status.tip_height.0)
                .u64(status.history_min_height.0);
            Ok(())
        })
    }
}

impl Codec<Request<EvidenceContext>> for EvidenceCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<Request<EvidenceContext>, CodecError> {
        decode_top(
            &bytes,
            "sync request",
            SYNC_SMALL_MESSAGE_BYTES_MAX,
            |r| match r.u8("sync request")? {
                1 => {
                    let start = BlockHeight(r.u64("range start")?);
                    let end = BlockHeight(r.u64("range end")?);
                    Ok(Request::ValueRequest(ValueRequest::new(start..=end)))
                }
                tag => Err(DecodeError::UnknownTag {
                    what: "sync request",
                    tag,
                }),
            },
        )
    }

    fn encode(&self, request: &Request<EvidenceContext>) -> Result<Bytes, CodecError> {
        let Request::ValueRequest(request) = request;
        encode_top(|w| {
            w.u8(1)
                .u64(request.range.start().0)
                .u64(request.range.end().0);
            Ok(())
        })
    }
}

impl Codec<Response<EvidenceContext>> for EvidenceCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<Response<EvidenceContext>, CodecError> {
        decode_top(&bytes, "sync response", SYNC_RESPONSE_BYTES_MAX, |r| {
            get_response(r, &bytes)
        })
    }

    fn encode(&self, response: &Response<EvidenceContext>) -> Result<Bytes, CodecError> {
        encode_top(|w| put_response(w, response))
    }
}

impl HasEncodedLen<Response<EvidenceContext>> for EvidenceCodec {
    /// The exact length [`Codec::encode`] would produce, computed without encoding (the engine
    /// asks for it once per value when trimming a response to its size limit).
    fn encoded_len(&self, response: &Response<EvidenceContext>) -> Result<usize, CodecError> {
        let Response::ValueResponse(response) = response;
        let mut len = 1 + 1 + 8 + 4;
        for value in &response.values {
            len += 4 + value.value_bytes.len() + commit_certificate_len(&value.certificate);
        }
        Ok(len)
    }
}

/// Every decoder of bytes a peer sends, as the property tests and the fuzz targets
/// (`node/fuzz`) run them: each must answer any bytes with a value or a typed error, never a
/// panic, and whatever decodes must encode back to exactly the same bytes (one encoding per
/// value, so a peer cannot send two forms of one message). A breach panics.
pub mod decoders {
    use super::*;

    /// Decodes `bytes` as a `T` and checks that a value re-encodes to the same bytes.
    ///
    /// # Panics
    /// When a decoded value has another encoding (or none).
    fn decodes_canonically<T>(bytes: &[u8])
    where
        EvidenceCodec: Codec<T, Error = CodecError>,
        T: std::fmt::Debug,
    {
        if let Ok(value) =
            <EvidenceCodec as Codec<T>>::decode(&EvidenceCodec, Bytes::copy_from_slice(bytes))
        {
            match EvidenceCodec.encode(&value) {
                Ok(again) => assert_eq!(&again[..], bytes, "{value:?} has another encoding"),
                Err(e) => panic!("{value:?} decoded but does not encode: {e}"),
            }
        }
    }

    /// Consensus and liveness messages, polka certificates and validator proofs.
    pub fn consensus_messages(bytes: &[u8]) {
        decodes_canonically::<SignedConsensusMsg<EvidenceContext>>(bytes);
        decodes_canonically::<LivenessMsg>(bytes);
        decodes_canonically::<PolkaCertificate<EvidenceContext>>(bytes);
        decodes_canonically::<ValidatorProof<EvidenceContext>>(bytes);
    }

    /// Proposal parts, their stream frames and proposed values.
    pub fn proposal_parts(bytes: &[u8]) {
        decodes_canonically::<ProposalPart>(bytes);
        decodes_canonically::<StreamMessage<ProposalPart>>(bytes);
        decodes_canonically::<ProposedValue<EvidenceContext>>(bytes);
    }

    /// Value sync: status, requests and responses.
    pub fn sync_messages(bytes: &[u8]) {
        decodes_canonically::<Status<EvidenceContext>>(bytes);
        decodes_canonically::<Request<EvidenceContext>>(bytes);
        decodes_canonically::<Response<EvidenceContext>>(bytes);
    }

    /// All of them.
    pub fn all(bytes: &[u8]) {
        consensus_messages(bytes);
        proposal_parts(bytes);
        sync_messages(bytes);
    }
}

#[cfg(test)]
mod tests {
    use evidence_core::certificate::CommitCertificate;
    use evidence_core::digest::HashAlgorithm;
    use evidence_core::keys::SigningKey;
    use malachite_core_types::Context as _;

    use super::super::context::from_ledger_certificate;
    use super::*;

    fn key(i: u8) -> SigningKey {
        SigningKey::from_seed(&[i; 32])
    }

    fn address(i: u8) -> ValidatorAddress {
        ValidatorAddress(key(i).public_key())
    }

    fn hash(data: &[u8]) -> Digest {
        HashAlgorithm::Blake3.hash(data)
    }

    fn signature(i: u8) -> ConsensusSignature {
        ConsensusSignature(key(i).sign(b"anything"))
    }

    fn round_trip<T>(value: &T) -> Bytes
    where
        EvidenceCodec: Codec<T, Error = CodecError>,
        T: PartialEq + std::fmt::Debug,
    {
        let bytes = EvidenceCodec.encode(value).unwrap();
        let decoded: T = EvidenceCodec.decode(bytes.clone()).unwrap();
        assert_eq!(&decoded, value);
        bytes
    }

    /// Every strict prefix and every extension by one byte of a valid encoding is refused with a
    /// typed error, and so is a wrong version byte.
    fn assert_strict<T>(bytes: &Bytes)
    where
        EvidenceCodec: Codec<T, Error = CodecError>,
        T: std::fmt::Debug,
    {
        for cut in 0..bytes.len() {
            let result: Result<T, _> = EvidenceCodec.decode(bytes.slice(..cut));
            assert!(
                matches!(result, Err(CodecError::Decode { .. })),
                "prefix of {cut} bytes: {result:?}"
            );
        }
        let mut trailing = bytes.to_vec();
        trailing.push(0);
        let result: Result<T, _> = EvidenceCodec.decode(Bytes::from(trailing));
        assert!(
            matches!(
                result,
                Err(CodecError::Decode {
                    source: DecodeError::TrailingBytes { .. },
                    ..
                })
            ),
            "{result:?}"
        );
        let mut version = bytes.to_vec();
        version[0] = 2;
        let result: Result<T, _> = EvidenceCodec.decode(Bytes::from(version));
        assert!(
            matches!(
                result,
                Err(CodecError::Decode {
                    source: DecodeError::UnsupportedVersion { .. },
                    ..
                })
            ),
            "{result:?}"
        );
    }

    fn vote(round: Round, value: NilOrVal<Digest>) -> ConsensusVote {
        EvidenceContext::new().new_precommit(BlockHeight(7), round, value, address(1))
    }

    fn signed_vote() -> SignedMessage<EvidenceContext, ConsensusVote> {
        SignedMessage::new(vote(Round::new(3), NilOrVal::Val(hash(b"b"))), signature(1))
    }

    #[test]
    fn consensus_messages_round_trip_and_are_strict() {
        let vote = SignedConsensusMsg::Vote(signed_vote());
        let bytes = round_trip(&vote);
        assert_strict::<SignedConsensusMsg<EvidenceContext>>(&bytes);
        let nil_vote =
            SignedConsensusMsg::Vote(SignedMessage::new(vote_nil_prevote(), signature(2)));
        round_trip(&nil_vote);
        let proposal = SignedConsensusMsg::Proposal(SignedMessage::new(
            ConsensusProposal {
                height: BlockHeight(7),
                round: Round::new(2),
                value: BlockHash(hash(b"b")),
                pol_round: Round::Nil,
                proposer: address(2),
            },
            signature(2),
        ));
        let bytes = round_trip(&proposal);
        assert_strict::<SignedConsensusMsg<EvidenceContext>>(&bytes);
        let relocked = SignedConsensusMsg::Proposal(SignedMessage::new(
            ConsensusProposal {
                height: BlockHeight(7),
                round: Round::new(2),
                value: BlockHash(hash(b"b")),
                pol_round: Round::new(1),
                proposer: address(2),
            },
            signature(2),
        ));
        round_trip(&relocked);
    }

    fn vote_nil_prevote() -> ConsensusVote {
        EvidenceContext::new().new_prevote(BlockHeight(1), Round::new(0), NilOrVal::Nil, address(2))
    }

    #[test]
    fn unencodable_values_are_refused() {
        let no_round = SignedConsensusMsg::Vote(SignedMessage::new(
            vote(Round::Nil, NilOrVal::Nil),
            signature(1),
        ));
        assert!(matches!(
            EvidenceCodec.encode(&no_round),
            Err(CodecError::Unencodable { .. })
        ));
        let reserved = SignedConsensusMsg::Vote(SignedMessage::new(
            vote(Round::new(u32::MAX), NilOrVal::Nil),
            signature(1),
        ));
        assert!(matches!(
            EvidenceCodec.encode(&reserved),
            Err(CodecError::Unencodable { .. })
        ));
        let empty = ProposalPart::Data(Bytes::new());
        assert!(EvidenceCodec.encode(&empty).is_err());
        let huge = ProposalPart::Data(Bytes::from(vec![0; PART_DATA_MAX + 1]));
        assert!(EvidenceCodec.encode(&huge).is_err());
    }

    #[test]
    fn malformed_fields_are_typed_errors() {
        let bytes = EvidenceCodec
            .encode(&SignedConsensusMsg::Vote(signed_vote()))
            .unwrap()
            .to_vec();
        // Unknown message tag.
        let mut tag = bytes.clone();
        tag[1] = 9;
        let result: Result<SignedConsensusMsg<EvidenceContext>, _> =
            EvidenceCodec.decode(Bytes::from(tag));
        assert!(matches!(
            result,
            Err(CodecError::Decode {
                source: DecodeError::UnknownTag { tag: 9, .. },
                ..
            })
        ));
        // Unknown vote type.
        let mut kind = bytes.clone();
        kind[2] = 3;
        let result: Result<SignedConsensusMsg<EvidenceContext>, _> =
            EvidenceCodec.decode(Bytes::from(kind));
        assert!(matches!(
            result,
            Err(CodecError::Decode {
                source: DecodeError::UnknownTag { tag: 3, .. },
                ..
            })
        ));
        // The reserved round.
        let mut round = bytes.clone();
        round[11..15].copy_from_slice(&u32::MAX.to_be_bytes());
        let result: Result<SignedConsensusMsg<EvidenceContext>, _> =
            EvidenceCodec.decode(Bytes::from(round));
        assert!(matches!(
            result,
            Err(CodecError::Decode {
                source: DecodeError::InvalidValue { .. },
                ..
            })
        ));
        // Oversize input is refused before it is read.
        let result: Result<SignedConsensusMsg<EvidenceContext>, _> =
            EvidenceCodec.decode(Bytes::from(vec![1; CONSENSUS_MESSAGE_BYTES_MAX + 1]));
        assert!(matches!(result, Err(CodecError::TooLarge { .. })));
    }

    #[test]
    fn proposal_parts_and_stream_frames_round_trip_and_are_strict() {
        let init = ProposalPart::Init {
            height: BlockHeight(4),
            round: Round::new(0),
            proposer: address(3),
            pol_round: Round::Nil,
        };
        let data = ProposalPart::Data(Bytes::from(vec![7u8; 1000]));
        let fin = ProposalPart::Fin {
            signature: signature(3),
        };
        for part in [&init, &data, &fin] {
            let bytes = round_trip(part);
            assert_strict::<ProposalPart>(&bytes);
        }
        let stream_id = StreamId::new(Bytes::from_static(b"stream-1"));
        for (sequence, content) in [
            (0, StreamContent::Data(init)),
            (1, StreamContent::Data(data)),
            (2, StreamContent::Data(fin)),
            (3, StreamContent::Fin),
        ] {
            let message = StreamMessage::new(stream_id.clone(), sequence, content);
            let bytes = round_trip(&message);
            assert_strict::<StreamMessage<ProposalPart>>(&bytes);
        }
    }

    #[test]
    fn oversize_lengths_are_refused() {
        // A data chunk whose length prefix claims more than a chunk may hold.
        let mut bytes = vec![WIRE_VERSION, 2];
        bytes.extend_from_slice(&((PART_DATA_MAX as u32) + 1).to_be_bytes());
        bytes.extend_from_slice(&[0; 16]);
        let result: Result<ProposalPart, _> = EvidenceCodec.decode(Bytes::from(bytes));
        assert!(matches!(
            result,
            Err(CodecError::Decode {
                source: DecodeError::TooLong { .. },
                ..
            })
        ));
        // An empty data chunk.
        let bytes = Bytes::from(vec![WIRE_VERSION, 2, 0, 0, 0, 0]);
        let result: Result<ProposalPart, _> = EvidenceCodec.decode(bytes);
        assert!(matches!(
            result,
            Err(CodecError::Decode {
                source: DecodeError::InvalidValue { .. },
                ..
            })
        ));
        // A stream id longer than allowed.
        let mut bytes = vec![WIRE_VERSION];
        bytes.extend_from_slice(&(STREAM_ID_BYTES_MAX + 1).to_be_bytes());
        bytes.extend_from_slice(&[0; 80]);
        let result: Result<StreamMessage<ProposalPart>, _> =
            EvidenceCodec.decode(Bytes::from(bytes));
        assert!(matches!(
            result,
            Err(CodecError::Decode {
                source: DecodeError::TooLong { .. },
                ..
            })
        ));
        // A polka certificate claiming a billion signatures.
        let mut bytes = vec![WIRE_VERSION];
        bytes.extend_from_slice(&1u64.to_be_bytes());
        bytes.extend_from_slice(&0u32.to_be_bytes());
        bytes.push(1);
        bytes.extend_from_slice(&[0; 32]);
        bytes.extend_from_slice(&1_000_000_000u32.to_be_bytes());
        let result: Result<PolkaCertificate<EvidenceContext>, _> =
            EvidenceCodec.decode(Bytes::from(bytes));
        assert!(matches!(
            result,
            Err(CodecError::Decode {
                source: DecodeError::TooLong { .. },
                ..
            })
        ));
    }

    #[test]
    fn liveness_messages_round_trip() {
        let vote = LivenessMsg::Vote(signed_vote());
        assert_strict::<LivenessMsg>(&round_trip(&vote));
        let polka = LivenessMsg::PolkaCertificate(PolkaCertificate {
            height: BlockHeight(9),
            round: Round::new(1),
            value_id: hash(b"v"),
            polka_signatures: (1..=3)
                .map(|i| PolkaSignature::new(address(i), signature(i)))
                .collect(),
        });
        assert_strict::<LivenessMsg>(&round_trip(&polka));
        let skip = LivenessMsg::SkipRoundCertificate(RoundCertificate {
            height: BlockHeight(9),
            round: Round::new(4),
            cert_type: RoundCertificateType::Skip,
            round_signatures: vec![
                RoundSignature::new(VoteType::Prevote, NilOrVal::Nil, address(1), signature(1)),
                RoundSignature::new(
                    VoteType::Precommit,
                    NilOrVal::Val(hash(b"v")),
                    address(2),
                    signature(2),
                ),
            ],
        });
        assert_strict::<LivenessMsg>(&round_trip(&skip));
    }

    #[test]
    fn wal_entries_round_trip() {
        let value = ProposedValue {
            height: BlockHeight(5),
            round: Round::new(0),
            valid_round: Round::Nil,
            proposer: address(4),
            value: BlockHash(hash(b"block")),
            validity: Validity::Invalid,
        };
        assert_strict::<ProposedValue<EvidenceContext>>(&round_trip(&value));
        let polka = PolkaCertificate {
            height: BlockHeight(5),
            round: Round::new(0),
            value_id: hash(b"block"),
            polka_signatures: vec![PolkaSignature::new(address(1), signature(1))],
        };
        assert_strict::<PolkaCertificate<EvidenceContext>>(&round_trip(&polka));
        let mut bytes = EvidenceCodec.encode(&value).unwrap().to_vec();
        let last = bytes.len() - 1;
        bytes[last] = 2;
        let result: Result<ProposedValue<EvidenceContext>, _> =
            EvidenceCodec.decode(Bytes::from(bytes));
        assert!(matches!(
            result,
            Err(CodecError::Decode {
                source: DecodeError::UnknownTag { tag: 2, .. },
                ..
            })
        ));
    }

    #[test]
    fn validator_proofs_round_trip() {
        let proof = ValidatorProof::<EvidenceContext>::new(
            key(1).public_key().to_bytes().to_vec(),
            vec![0, 36, 8, 1],
            signature(1),
        );
        assert_strict::<ValidatorProof<EvidenceContext>>(&round_trip(&proof));
    }

    #[test]
    fn sync_messages_round_trip_and_lengths_are_exact() {
        let peer_id = PeerId::from_bytes(
            &super::super::validator_peer_id(&key(1).public_key(), None)
                .unwrap()
                .to_bytes(),
        )
        .unwrap();
        let status = Status {
            peer_id,
            tip_height: BlockHeight(10),
            history_min_height: BlockHeight(1),
        };
        assert_strict::<Status<EvidenceContext>>(&round_trip(&status));
        let request = Request::ValueRequest(ValueRequest::new(BlockHeight(3)..=BlockHeight(7)));
        assert_strict::<Request<EvidenceContext>>(&round_trip(&request));

        let refs: Vec<SigningKey> = (1..=3).map(key).collect();
        let refs: Vec<&SigningKey> = refs.iter().collect();
        let values = (3..=4u64)
            .map(|h| {
                let certificate =
                    CommitCertificate::sign("chain", h, 0, hash(&h.to_be_bytes()), &refs);
                RawDecidedValue::new(
                    Bytes::from(vec![h as u8; 300]),
                    from_ledger_certificate(&certificate),
                )
            })
            .collect();
        let response = Response::ValueResponse(ValueResponse::new(BlockHeight(3), values));
        let bytes = round_trip(&response);
        assert_strict::<Response<EvidenceContext>>(&bytes);
        assert_eq!(EvidenceCodec.encoded_len(&response).unwrap(), bytes.len());
        let empty = Response::ValueResponse(ValueResponse::new(BlockHeight(3), vec![]));
        assert_eq!(
            EvidenceCodec.encoded_len(&empty).unwrap(),
            EvidenceCodec.encode(&empty).unwrap().len()
        );
        // SM2 keys are a byte longer than Ed25519's: the length is still exact.
        let sm2: Vec<SigningKey> = (1..=20u8)
            .map(|i| {
                SigningKey::from_secret(evidence_core::keys::SignatureAlgorithm::Sm2, &[i; 32])
                    .unwrap()
            })
            .collect();
        let sm2: Vec<&SigningKey> = sm2.iter().collect();
        let certificate = CommitCertificate::sign("chain", 3, 0, hash(b"sm"), &sm2);
        let response = Response::ValueResponse(ValueResponse::new(
            BlockHeight(3),
            vec![RawDecidedValue::new(
                Bytes::from(vec![3u8; 300]),
                from_ledger_certificate(&certificate),
            )],
        ));
        assert_eq!(
            EvidenceCodec.encoded_len(&response).unwrap(),
            EvidenceCodec.encode(&response).unwrap().len()
        );
    }

    #[test]
    fn a_certificate_carrying_a_vote_extension_is_not_encoded() {
        let refs = [key(1)];
        let refs: Vec<&SigningKey> = refs.iter().collect();
        let mut certificate =
            from_ledger_certificate(&CommitCertificate::sign("c", 1, 0, hash(b"x"), &refs));
        certificate.commit_signatures[0].extension = Some(SignedMessage::new((), signature(1)));
        let response = Response::ValueResponse(ValueResponse::new(
            BlockHeight(1),
            vec![RawDecidedValue::new(Bytes::from_static(b"x"), certificate)],
        ));
        assert!(matches!(
            EvidenceCodec.encode(&response),
            Err(CodecError::Unencodable { .. })
        ));
    }

    fn every_decoder(bytes: &[u8]) {
        super::decoders::all(bytes);
    }

    /// Valid encodings of each kind of message, to mutate.
    fn valid_encodings() -> Vec<Bytes> {
        let refs: Vec<SigningKey> = (1..=3).map(key).collect();
        let refs: Vec<&SigningKey> = refs.iter().collect();
        let certificate = CommitCertificate::sign("chain", 3, 0, hash(b"3"), &refs);
        let peer_id = PeerId::from_bytes(
            &super::super::validator_peer_id(&key(1).public_key(), None)
                .unwrap()
                .to_bytes(),
        )
        .unwrap();
        let part = ProposalPart::Init {
            height: BlockHeight(4),
            round: Round::new(0),
            proposer: address(3),
            pol_round: Round::Nil,
        };
        vec![
            EvidenceCodec
                .encode(&SignedConsensusMsg::Vote(signed_vote()))
                .unwrap(),
            EvidenceCodec
                .encode(&LivenessMsg::Vote(signed_vote()))
                .unwrap(),
            EvidenceCodec
                .encode(&StreamMessage::new(
                    StreamId::new(Bytes::from_static(b"stream-1")),
                    0,
                    StreamContent::Data(part.clone()),
                ))
                .unwrap(),
            EvidenceCodec
                .encode(&ProposalPart::Data(Bytes::from(vec![7u8; 40])))
                .unwrap(),
            EvidenceCodec.encode(&part).unwrap(),
            EvidenceCodec
                .encode(&Status::<EvidenceContext> {
                    peer_id,
                    tip_height: BlockHeight(10),
                    history_min_height: BlockHeight(1),
                })
                .unwrap(),
            EvidenceCodec
                .encode(&Request::<EvidenceContext>::ValueRequest(
                    ValueRequest::new(BlockHeight(3)..=BlockHeight(7)),
                ))
                .unwrap(),
            EvidenceCodec
                .encode(&Response::<EvidenceContext>::ValueResponse(
                    ValueResponse::new(
                        BlockHeight(3),
                        vec![RawDecidedValue::new(
                            Bytes::from(vec![3u8; 30]),
                            from_ledger_certificate(&certificate),
                        )],
                    ),
                ))
                .unwrap(),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Bytes from anywhere: every decoder answers, with a value or a typed error.
        #[test]
        fn random_bytes_never_panic_a_decoder(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)
        ) {
            every_decoder(&bytes);
        }

        /// A valid message with one byte changed, cut short or with bytes added: every decoder
        /// answers, and whatever still decodes has exactly these bytes as its encoding.
        #[test]
        fn damaged_messages_never_panic_a_decoder(
            which in 0usize..8,
            position in proptest::prelude::any::<usize>(),
            byte in proptest::prelude::any::<u8>(),
            cut in proptest::prelude::any::<bool>(),
        ) {
            let valid = valid_encodings();
            let mut bytes = valid[which % valid.len()].to_vec();
            let at = position % bytes.len();
            if cut {
                bytes.truncate(at);
                bytes.push(byte);
            } else {
                bytes[at] = byte;
            }
            every_decoder(&bytes);
        }
    }
}
