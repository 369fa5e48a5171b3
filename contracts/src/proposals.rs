//! Proposals and votes of the members together (SPEC.md §11.4): a member proposes changes to
//! the configuration with an expiry, the members vote, and when the approving members meet the
//! threshold the changes are applied, all or none, to the configuration in force from the next
//! height.

use evidence_core::encoding::Writer;
use evidence_core::governance::{Change, Proposal, Vote};
use evidence_core::keys::PublicKey;
use evidence_genesis::{Configuration, GenesisValidator, KindPolicy, Member, pki::CaCertificate};

use crate::error::TxError;
use crate::execute::{ApplyError, BlockContext, check_key_algorithm, key_in_use, non_empty};
use crate::state::{
    Overlay, ProposalRecord, ProposalStatus, StateStore, VoteRecord, configuration_key,
    governance_key_key, proposal_key, removed_member_key,
};

/// How far past the block time a proposal may expire: a year and a day.
pub const PROPOSAL_LIFETIME_MAX_MS: u64 = 366 * 24 * 60 * 60 * 1000;

/// What accepting a proposal writes besides the configuration.
struct Applied {
    configuration: Configuration,
    /// Governance and validator keys given to members, with the member.
    new_keys: Vec<(PublicKey, String)>,
    removed_members: Vec<String>,
}

/// Checks the peer id the validator `key` at `address` is admitted under (SPEC.md §10.3): its
/// address pins one for an SM2 key, and no other validator of `next` (but `replaced`) pins or
/// derives the same one.
fn check_peer_id(
    next: &Configuration,
    key: &PublicKey,
    address: Option<&str>,
    replaced: Option<&PublicKey>,
) -> Result<(), String> {
    let peer_id =
        evidence_genesis::network::validator_peer_id(key, address).map_err(|e| e.to_string())?;
    let taken = next
        .validators
        .iter()
        .filter(|v| Some(&v.public_key) != replaced)
        .any(|v| {
            evidence_genesis::network::validator_peer_id(&v.public_key, v.address.as_deref())
                .is_ok_and(|other| other == peer_id)
        });
    if taken {
        Err(format!("peer id {peer_id} is pinned by another validator"))
    } else {
        Ok(())
    }
}

/// Applies `changes` in order to `configuration`, checking each against the state (ids and
/// keys are never used twice) and the result against the configuration rules.
fn apply_changes<S: StateStore + ?Sized>(
    state: &Overlay<'_, S>,
    context: &BlockContext<'_>,
    changes: &[Change],
) -> Result<Applied, ApplyError> {
    let invalid = |position: usize, change: &Change, reason: String| {
        ApplyError::Rejected(TxError::InvalidProposal(format!(
            "change {position} ({}): {reason}",
            change.name()
        )))
    };
    if changes.is_empty() {
        return Err(TxError::InvalidProposal("it changes nothing".to_owned()).into());
    }
    // Changes build on the configuration the last accepted proposal left, even one accepted
    // earlier in this block (it is in force only from the next height).
    let mut next = match stored_configuration(state)? {
        Some(pending) => pending,
        None => context.config.clone(),
    };
    let mut new_keys: Vec<(PublicKey, String)> = Vec::new();
    let mut removed_members = Vec::new();
    // A key is free when the consortium never used it, in genesis or on the ledger, and no
    // earlier change of this proposal takes it; `holder` may keep the keys it holds.
    let check_keys = |keys: &[PublicKey],
                      holder: Option<&Member>,
                      taken: &[(PublicKey, String)]|
     -> Result<(), ApplyError> {
        for key in keys {
            check_key_algorithm(context.genesis, key)?;
            let held = holder.is_some_and(|member| member.governance_keys.contains(key));
            if !held
                && (taken.iter().any(|(k, _)| k == key) || key_in_use(state, context.genesis, key)?)
            {
                return Err(TxError::KeyInUse(*key).into());
            }
        }
        Ok(())
    };
    for (position, change) in changes.iter().enumerate() {
        match change {
            Change::AddMember {
                id,
                name,
                tls_ca,
                governance_keys,
            } => {
                if next.member(id).is_some()
                    || context.genesis.member(id).is_some()
                    || state.get(&removed_member_key(id))?.is_some()
                {
                    return Err(invalid(
                        position,
                        change,
                        format!("{id:?} is or was a member; a member id is never given twice"),
                    ));
                }
                check_keys(governance_keys, None, &new_keys)?;
                new_keys.extend(governance_keys.iter().map(|key| (*key, id.clone())));
                next.members.push(Member {
                    id: id.clone(),
                    name: name.clone(),
                    tls_ca: CaCertificate::from_der(tls_ca.clone()),
                    governance_keys: governance_keys.clone(),
                });
            }
            Change::RemoveMember { id } => {
                if next.member(id).is_none() {
                    return Err(invalid(position, change, format!("{id:?} is not a member")));
                }
                if let Some(validator) = next.validators.iter().find(|v| v.member == *id) {
                    return Err(invalid(
                        position,
                        change,
                        format!(
                            "{id:?} runs validator {}; a member leaves once its validators \
                             have (remove them first, in this proposal or an earlier one)",
                            validator.public_key
                        ),
                    ));
                }
                next.members.retain(|member| member.id != *id);
                for kind in &mut next.policy.kinds {
                    kind.members.retain(|member| member != id);
                }
                next.policy.project_registrars.retain(|member| member != id);
                removed_members.push(id.clone());
            }
            Change::SetGovernanceKeys { member, keys } => {
                let Some(holder) = next.member(member) else {
                    return Err(invalid(
                        position,
                        change,
                        format!("{member:?} is not a member"),
                    ));
                };
                check_keys(keys, Some(holder), &new_keys)?;
                let fresh: Vec<_> = keys
                    .iter()
                    .filter(|key| !holder.governance_keys.contains(key))
                    .map(|key| (*key, member.clone()))
                    .collect();
                new_keys.extend(fresh);
                if let Some(holder) = next.members.iter_mut().find(|m| m.id == *member) {
                    holder.governance_keys.clone_from(keys);
                }
            }
            Change::SetThreshold {
                numerator,
                denominator,
            } => {
                next.governance.threshold = evidence_genesis::Threshold {
                    numerator: *numerator,
                    denominator: *denominator,
                };
            }
            Change::SetKind {
                kind,
                description,
                members,
            } => {
                let policy = KindPolicy {
                    kind: kind.clone(),
                    description: description.clone(),
                    members: members.clone(),
                };
                match next.policy.kinds.iter_mut().find(|k| k.kind == *kind) {
                    Some(existing) => *existing = policy,
                    None => next.policy.kinds.push(policy),
                }
            }
            Change::RemoveKind { kind } => {
                if next.kind_policy(kind).is_none() {
                    return Err(invalid(
                        position,
                        change,
                        format!("{kind:?} is not a policy kind"),
                    ));
                }
                next.policy.kinds.retain(|k| k.kind != *kind);
            }
            Change::SetProjectRegistrars { members } => {
                next.policy.project_registrars.clone_from(members);
            }
            Change::SetLimits {
                batch_len_max,
                transaction_bytes_max,
            } => {
                next.policy.limits = evidence_genesis::Limits {
                    batch_len_max: *batch_len_max,
                    transaction_bytes_max: *transaction_bytes_max,
                };
            }
            Change::AddValidator {
                member,
                public_key,
                voting_power,
                address,
            } => {
                if next.member(member).is_none() {
                    return Err(invalid(
                        position,
                        change,
                        format!("{member:?} is not a member"),
                    ));
                }
                check_keys(std::slice::from_ref(public_key), None, &new_keys)?;
                check_peer_id(&next, public_key, address.as_deref(), None)
                    .map_err(|reason| invalid(position, change, reason))?;
                new_keys.push((*public_key, member.clone()));
                next.validators.push(GenesisValidator {
                    member: member.clone(),
                    public_key: *public_key,
                    voting_power: *voting_power,
                    address: address.clone(),
                });
            }
            Change::RemoveValidator { public_key } => {
                if next.validator(public_key).is_none() {
                    return Err(invalid(position, change, not_a_validator(public_key)));
                }
                next.validators.retain(|v| v.public_key != *public_key);
            }
            Change::ReplaceValidator {
                public_key,
                new_public_key,
                address,
            } => {
                let Some(validator) = next.validator(public_key) else {
                    return Err(invalid(position, change, not_a_validator(public_key)));
                };
                let member = validator.member.clone();
                check_keys(std::slice::from_ref(new_public_key), None, &new_keys)?;
                check_peer_id(&next, new_public_key, address.as_deref(), Some(public_key))
                    .map_err(|reason| invalid(position, change, reason))?;
                new_keys.push((*new_public_key, member));
                if let Some(validator) = next
                    .validators
                    .iter_mut()
                    .find(|v| v.public_key == *public_key)
                {
                    validator.public_key = *new_public_key;
                    validator.address.clone_from(address);
                }
            }
            Change::SetVotingPower {
                public_key,
                voting_power,
            } => {
                let Some(validator) = next
                    .validators
                    .iter_mut()
                    .find(|v| v.public_key == *public_key)
                else {
                    return Err(invalid(position, change, not_a_validator(public_key)));
                };
                validator.voting_power = *voting_power;
            }
        }
    }
    next.validate().map_err(|error| {
        TxError::InvalidProposal(format!("the configuration it leads to: {error}"))
    })?;
    Ok(Applied {
        configuration: next,
        new_keys,
        removed_members,
    })
}

fn not_a_validator(key: &PublicKey) -> String {
    format!("{key} is not a validator in the configuration")
}

/// Counts the votes of current members: accepts the proposal when its approvals meet the
/// threshold (applying its changes), rejects it when they no longer can.
fn tally<S: StateStore + ?Sized>(
    state: &mut Overlay<'_, S>,
    record: &mut ProposalRecord,
    context: &BlockContext<'_>,
) -> Result<(), ApplyError> {
    let members = context.config.members.len() as u64;
    let counted = |approve: bool| {
        record
            .votes
            .iter()
            .filter(|vote| vote.approve == approve && context.config.member(&vote.member).is_some())
            .count() as u64
    };
    let approvals = counted(true);
    let rejections = counted(false);
    let threshold = context.config.threshold();
    if threshold.is_met(approvals, members) {
        let applied = apply_changes(state, context, &record.changes)?;
        for (key, member) in &applied.new_keys {
            let mut value = Writer::new();
            value.str(member);
            state.put(governance_key_key(key), value.into_bytes());
        }
        for member in &applied.removed_members {
            state.put(
                removed_member_key(member),
                context.height.to_be_bytes().to_vec(),
            );
        }
        state.put_record(configuration_key(), &applied.configuration);
        record.status = ProposalStatus::Accepted {
            height: context.height,
        };
    } else if !threshold.is_met(members.saturating_sub(rejections), members) {
        record.status = ProposalStatus::Rejected {
            height: context.height,
        };
    }
    Ok(())
}

/// A member proposes changes, approving them.
pub(crate) fn propose<S: StateStore + ?Sized>(
    state: &mut Overlay<'_, S>,
    proposal: &Proposal,
    member: &str,
    context: &BlockContext<'_>,
    entry_index: u64,
) -> Result<(), ApplyError> {
    non_empty("proposal id", &proposal.id)?;
    let key = proposal_key(&proposal.id);
    if state.get(&key)?.is_some() {
        return Err(TxError::ProposalExists(proposal.id.clone()).into());
    }
    if proposal.expires_at_ms <= context.time_ms
        || proposal.expires_at_ms - context.time_ms > PROPOSAL_LIFETIME_MAX_MS
    {
        return Err(TxError::BadExpiry {
            expires_at_ms: proposal.expires_at_ms,
            block_time_ms: context.time_ms,
            max_ms: PROPOSAL_LIFETIME_MAX_MS,
        }
        .into());
    }
    // Refuse now what could never be applied to the configuration in force.
    apply_changes(state, context, &proposal.changes)?;
    let mut record = ProposalRecord {
        proposer: member.to_owned(),
        height: context.height,
        entry_index,
        expires_at_ms: proposal.expires_at_ms,
        summary: proposal.summary.clone(),
        changes: proposal.changes.clone(),
        votes: vec![VoteRecord {
            member: member.to_owned(),
            approve: true,
            height: context.height,
            entry_index,
        }],
        status: ProposalStatus::Open,
    };
    tally(state, &mut record, context)?;
    state.put_record(key, &record);
    Ok(())
}

/// A member votes on an open proposal.
pub(crate) fn vote<S: StateStore + ?Sized>(
    state: &mut Overlay<'_, S>,
    vote: &Vote,
    member: &str,
    context: &BlockContext<'_>,
    entry_index: u64,
) -> Result<(), ApplyError> {
    let key = proposal_key(&vote.proposal_id);
    let mut record = state
        .get_record::<ProposalRecord>(&key)?
        .ok_or_else(|| TxError::UnknownProposal(vote.proposal_id.clone()))?;
    match record.status {
        ProposalStatus::Open => {}
        ProposalStatus::Accepted { height } | ProposalStatus::Rejected { height } => {
            return Err(TxError::ProposalClosed {
                proposal_id: vote.proposal_id.clone(),
                status: record.status.name(),
                height,
            }
            .into());
        }
    }
    if context.time_ms > record.expires_at_ms {
        return Err(TxError::ProposalExpired {
            proposal_id: vote.proposal_id.clone(),
            expires_at_ms: record.expires_at_ms,
            block_time_ms: context.time_ms,
        }
        .into());
    }
    if record.has_voted(member) {
        return Err(TxError::AlreadyVoted {
            proposal_id: vote.proposal_id.clone(),
            member: member.to_owned(),
        }
        .into());
    }
    record.votes.push(VoteRecord {
        member: member.to_owned(),
        approve: vote.approve,
        height: context.height,
        entry_index,
    });
    tally(state, &mut record, context)?;
    state.put_record(key, &record);
    Ok(())
}

/// The configuration `state` holds, if a proposal was ever accepted.
pub(crate) fn stored_configuration<S: StateStore + ?Sized>(
    state: &S,
) -> Result<Option<Configuration>, crate::state::StoreError> {
    Overlay::new(state).get_record(&configuration_key())
}
