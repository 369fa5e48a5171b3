//! Governance by the members together: proposals, votes, the threshold and expiry, and the
//! changes an accepted proposal makes to the configuration in force from the next height
//! (SPEC.md §11.4). Each rule has a case that passes and a case that breaks it.

mod common;

use common::*;
use evidence_contracts::query;
use evidence_contracts::state::{ProposalRecord, ProposalStatus};
use evidence_contracts::{Transaction, TxError};
use evidence_core::entry::Record;
use evidence_core::governance::{Change, FilerRegistration, GovernanceAction, Proposal, Vote};
use evidence_core::keys::SigningKey;
use evidence_genesis::pki::MemberCa;

/// A day of block time.
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

fn proposal(id: &str, expires_at_ms: u64, changes: Vec<Change>) -> Proposal {
    Proposal {
        id: id.to_owned(),
        expires_at_ms,
        summary: format!("{id}: what the members are asked to decide"),
        changes,
    }
}

/// A proposal expiring a week after the next block.
fn weekly(ledger: &Ledger, id: &str, changes: Vec<Change>) -> Proposal {
    proposal(
        id,
        Ledger::block_time(ledger.height + 1) + 7 * DAY_MS,
        changes,
    )
}

fn propose(ledger: &Ledger, member: &str, proposal: Proposal) -> Transaction {
    ledger.governance(member, GovernanceAction::Propose(proposal))
}

fn vote(ledger: &Ledger, member: &str, proposal_id: &str, approve: bool) -> Transaction {
    ledger.governance(
        member,
        GovernanceAction::Vote(Vote {
            proposal_id: proposal_id.to_owned(),
            approve,
        }),
    )
}

fn record(ledger: &Ledger, id: &str) -> ProposalRecord {
    query::proposal(&ledger.state, id)
        .unwrap()
        .unwrap_or_else(|| panic!("no proposal {id}"))
}

fn limits(batch_len_max: u32) -> Change {
    Change::SetLimits {
        batch_len_max,
        transaction_bytes_max: 1 << 20,
    }
}

/// Three drawings of the bureau in one batch.
fn batch_of_three(ledger: &Ledger, prefix: &str) -> Transaction {
    ledger.signed(
        (1..=3)
            .map(|n| {
                ledger.body(
                    BUREAU,
                    COMPLETION_DRAWING,
                    PROJECT,
                    &format!("{prefix}-{n}"),
                )
            })
            .collect(),
    )
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

/// A new member `id` with a CA and one governance key, both from `seed`.
fn add_member(id: &str, seed: u8) -> (Change, SigningKey) {
    let governance = key(seed);
    let ca = MemberCa::new(id, &key(seed.wrapping_add(100)), T0).unwrap();
    (
        Change::AddMember {
            id: id.to_owned(),
            name: format!("The {id} office"),
            tls_ca: ca.certificate().der().to_vec(),
            governance_keys: vec![governance.public_key()],
        },
        governance,
    )
}

/// `members` approve `id` (after its proposer), one block each.
fn approve(ledger: &mut Ledger, id: &str, members: &[&str]) {
    for member in members {
        ledger.accept(&vote(ledger, member, id, true));
    }
}

#[test]
fn a_proposal_takes_effect_from_the_height_after_its_threshold_is_met() {
    let mut ledger = Ledger::new();
    let tx = propose(
        &ledger,
        BUREAU,
        weekly(&ledger, "small-batches", vec![limits(2)]),
    );
    let applied = ledger.accept(&tx);
    let Transaction::Governance(signed) = &tx else {
        unreachable!()
    };
    assert_eq!(applied.entries.len(), 1, "a proposal is a log entry");
    assert_eq!(
        applied.entries[0].record,
        Record::Governance(signed.clone())
    );
    let open = record(&ledger, "small-batches");
    assert_eq!(open.proposer, BUREAU);
    assert_eq!(open.status, ProposalStatus::Open);
    assert_eq!(open.votes.len(), 1, "proposing is approving");
    assert!(open.votes[0].approve);

    // Two of four approve: more than two thirds are needed.
    ledger.accept(&vote(&ledger, FINANCE, "small-batches", true));
    assert_eq!(
        record(&ledger, "small-batches").status,
        ProposalStatus::Open
    );
    ledger.accept(&batch_of_three(&ledger, "before"));

    // The third approval accepts it; a batch of three in the same block is still admitted.
    let results = ledger.run(&[
        vote(&ledger, COURT, "small-batches", true),
        batch_of_three(&ledger, "same-block"),
    ]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let accepted_at = ledger.height;
    let accepted = record(&ledger, "small-batches");
    assert_eq!(
        accepted.status,
        ProposalStatus::Accepted {
            height: accepted_at
        }
    );
    assert_eq!(accepted.votes.len(), 3);
    assert_eq!(ledger.config.policy.limits.batch_len_max, 2);

    // From the next height, the new limit holds.
    assert_eq!(
        ledger.reject(&batch_of_three(&ledger, "after")),
        TxError::BadBatchLength { len: 3, max: 2 }
    );
    // An accepted proposal takes no more votes.
    let late = ledger.reject(&vote(&ledger, ARCHIVE, "small-batches", true));
    assert_eq!(
        late,
        TxError::ProposalClosed {
            proposal_id: "small-batches".into(),
            status: "accepted",
            height: accepted_at,
        }
    );
    assert_eq!(late.code(), "proposal-closed");
}

#[test]
fn each_member_votes_once_and_only_members_vote() {
    let mut ledger = Ledger::new();
    ledger.accept(&propose(
        &ledger,
        BUREAU,
        weekly(&ledger, "small-batches", vec![limits(2)]),
    ));
    // The proposer has approved already.
    let twice = ledger.reject(&vote(&ledger, BUREAU, "small-batches", false));
    assert_eq!(
        twice,
        TxError::AlreadyVoted {
            proposal_id: "small-batches".into(),
            member: BUREAU.into(),
        }
    );
    assert_eq!(twice.code(), "already-voted");
    ledger.accept(&vote(&ledger, FINANCE, "small-batches", false));
    assert_eq!(
        ledger
            .reject(&vote(&ledger, FINANCE, "small-batches", true))
            .code(),
        "already-voted"
    );
    // The same signed vote again is a replay.
    assert_eq!(
        ledger
            .reject(&vote(&ledger, FINANCE, "small-batches", false))
            .code(),
        "replayed"
    );

    // A key no member holds votes nothing.
    let stranger = stranger_key();
    let body = evidence_core::governance::GovernanceBody {
        signer: stranger.public_key(),
        ..ledger.governance_body(
            COURT,
            GovernanceAction::Vote(Vote {
                proposal_id: "small-batches".into(),
                approve: true,
            }),
        )
    };
    assert_eq!(
        ledger.reject(&Transaction::governance(body.sign(&stranger))),
        TxError::UnknownGovernanceKey(stranger.public_key())
    );
    // A member's key does not vote for another member.
    let mut posing = ledger.governance_body(
        COURT,
        GovernanceAction::Vote(Vote {
            proposal_id: "small-batches".into(),
            approve: true,
        }),
    );
    posing.member = ARCHIVE.into();
    assert_eq!(
        ledger
            .reject(&Transaction::governance(
                posing.sign(ledger.governance_key(COURT))
            ))
            .code(),
        "member-mismatch"
    );
    // A vote on a proposal nobody made.
    assert_eq!(
        ledger.reject(&vote(&ledger, COURT, "no-such-proposal", true)),
        TxError::UnknownProposal("no-such-proposal".into())
    );
    assert_eq!(record(&ledger, "small-batches").votes.len(), 2);
}

#[test]
fn a_proposal_without_its_threshold_before_expiry_does_nothing() {
    let mut ledger = Ledger::new();
    let expires_at_ms = Ledger::block_time(ledger.height + 3);
    ledger.accept(&propose(
        &ledger,
        BUREAU,
        proposal("short-lived", expires_at_ms, vec![limits(2)]),
    ));
    ledger.accept(&vote(&ledger, FINANCE, "short-lived", true));
    // Height 3's block time is the expiry itself: a vote then still counts.
    ledger.accept(&batch_of_three(&ledger, "waiting"));
    assert_eq!(ledger.height, 3);
    let late = ledger.reject(&vote(&ledger, COURT, "short-lived", true));
    assert_eq!(
        late,
        TxError::ProposalExpired {
            proposal_id: "short-lived".into(),
            expires_at_ms,
            block_time_ms: Ledger::block_time(4),
        }
    );
    assert_eq!(late.code(), "proposal-expired");
    let expired = record(&ledger, "short-lived");
    assert_eq!(expired.status, ProposalStatus::Open);
    assert_eq!(expired.status_at(Ledger::block_time(4)), "expired");
    assert_eq!(ledger.config.policy.limits.batch_len_max, 4096);
    ledger.accept(&batch_of_three(&ledger, "unchanged"));
}

#[test]
fn rejections_close_a_proposal_that_can_no_longer_be_accepted() {
    let mut ledger = Ledger::new();
    ledger.accept(&propose(
        &ledger,
        BUREAU,
        weekly(&ledger, "small-batches", vec![limits(2)]),
    ));
    ledger.accept(&vote(&ledger, FINANCE, "small-batches", false));
    assert_eq!(
        record(&ledger, "small-batches").status,
        ProposalStatus::Open,
        "three approvals could still come"
    );
    ledger.accept(&vote(&ledger, COURT, "small-batches", false));
    let rejected_at = ledger.height;
    assert_eq!(
        record(&ledger, "small-batches").status,
        ProposalStatus::Rejected {
            height: rejected_at
        }
    );
    assert_eq!(
        ledger.reject(&vote(&ledger, ARCHIVE, "small-batches", true)),
        TxError::ProposalClosed {
            proposal_id: "small-batches".into(),
            status: "rejected",
            height: rejected_at,
        }
    );
    assert_eq!(ledger.config.policy.limits.batch_len_max, 4096);
}

#[test]
fn malformed_proposals_are_refused_before_anyone_votes() {
    let mut ledger = Ledger::new();
    let next = Ledger::block_time(ledger.height + 1);
    let refuse = |ledger: &mut Ledger, proposal: Proposal| {
        let tx = propose(ledger, BUREAU, proposal);
        ledger.reject(&tx)
    };
    let refuse_weekly = |ledger: &mut Ledger, id: &str, changes: Vec<Change>| {
        let proposal = weekly(ledger, id, changes);
        refuse(ledger, proposal)
    };
    let code = |ledger: &mut Ledger, changes: Vec<Change>| {
        let proposal = weekly(ledger, "bad", changes);
        refuse(ledger, proposal).code()
    };

    assert_eq!(
        refuse_weekly(&mut ledger, " ", vec![limits(2)]),
        TxError::EmptyField {
            field: "proposal id"
        }
    );
    for expires_at_ms in [next - 1, next, next + 367 * DAY_MS] {
        let error = refuse(
            &mut ledger,
            proposal("bad-expiry", expires_at_ms, vec![limits(2)]),
        );
        assert_eq!(error.code(), "bad-expiry", "{expires_at_ms}: {error}");
    }
    assert_eq!(code(&mut ledger, vec![]), "invalid-proposal");
    // Limits, threshold and policy must stay within the genesis rules.
    assert_eq!(code(&mut ledger, vec![limits(0)]), "invalid-proposal");
    assert_eq!(
        code(
            &mut ledger,
            vec![Change::SetThreshold {
                numerator: 1,
                denominator: 3
            }]
        ),
        "invalid-proposal"
    );
    assert_eq!(
        code(
            &mut ledger,
            vec![Change::SetKind {
                kind: "audit-report".into(),
                description: String::new(),
                members: vec!["nobody".into()],
            }]
        ),
        "invalid-proposal"
    );
    assert_eq!(
        code(
            &mut ledger,
            vec![Change::RemoveKind {
                kind: "no-such-kind".into()
            }]
        ),
        "invalid-proposal"
    );
    assert_eq!(
        code(
            &mut ledger,
            vec![Change::SetProjectRegistrars {
                members: vec![BUREAU.into(), BUREAU.into()],
            }]
        ),
        "invalid-proposal"
    );
    // Members: an id is given once; a member that runs a validator stays.
    assert_eq!(
        code(
            &mut ledger,
            vec![Change::RemoveMember {
                id: "nobody".into()
            }]
        ),
        "invalid-proposal"
    );
    let error = refuse_weekly(
        &mut ledger,
        "bad",
        vec![Change::RemoveMember { id: COURT.into() }],
    );
    assert!(error.to_string().contains("runs validator"), "{error}");
    let (mut again, _) = add_member(COURT, 7);
    assert_eq!(code(&mut ledger, vec![again.clone()]), "invalid-proposal");
    if let Change::AddMember { id, tls_ca, .. } = &mut again {
        *id = "audit".into();
        *tls_ca = vec![0x30, 0x00];
    }
    let error = refuse_weekly(&mut ledger, "bad", vec![again]);
    assert!(error.to_string().contains("tls_ca"), "{error}");
    // Keys are never shared nor used twice: a validator's key, another member's governance
    // key, a filer's key.
    let validator = ledger.genesis.validators[0].public_key;
    let court_key = ledger.governance_key(COURT).public_key();
    let filer = ledger.filer(FINANCE);
    for used in [validator, court_key, filer] {
        let (mut change, _) = add_member("audit", 8);
        if let Change::AddMember {
            governance_keys, ..
        } = &mut change
        {
            governance_keys.push(used);
        }
        assert_eq!(
            refuse_weekly(&mut ledger, "bad", vec![change]),
            TxError::KeyInUse(used)
        );
        assert_eq!(
            refuse_weekly(
                &mut ledger,
                "bad",
                vec![Change::SetGovernanceKeys {
                    member: BUREAU.into(),
                    keys: vec![used],
                }]
            ),
            TxError::KeyInUse(used)
        );
    }
    // One change that breaks a rule refuses the whole proposal.
    assert_eq!(
        code(&mut ledger, vec![limits(2), limits(0)]),
        "invalid-proposal"
    );

    // The id is taken once a proposal uses it, whatever becomes of it.
    ledger.accept(&propose(
        &ledger,
        BUREAU,
        weekly(&ledger, "taken", vec![limits(2)]),
    ));
    let mut second = weekly(&ledger, "taken", vec![limits(3)]);
    second.summary = "another text".into();
    assert_eq!(
        ledger.reject(&propose(&ledger, FINANCE, second)),
        TxError::ProposalExists("taken".into())
    );
}

#[test]
fn a_new_member_governs_and_files_from_the_next_height() {
    let mut ledger = Ledger::new();
    let (join, audit_key) = add_member("audit", 9);
    let changes = vec![
        join,
        Change::SetKind {
            kind: "audit-report".into(),
            description: "audit report (审计报告)".into(),
            members: vec!["audit".into()],
        },
    ];
    ledger.accept(&propose(
        &ledger,
        FINANCE,
        weekly(&ledger, "audit", changes),
    ));
    approve(&mut ledger, "audit", &[COURT, ARCHIVE]);
    assert!(ledger.config.member("audit").is_some());
    assert_eq!(ledger.config.members.len(), 5);
    ledger.remember_governance_key("audit", audit_key.clone());

    // Its governance key registers a filer; the filer files an audit report.
    let filer = key(19);
    ledger.accept(&ledger.governance(
        "audit",
        GovernanceAction::RegisterFiler(FilerRegistration {
            name: "audit-archive".into(),
            public_key: filer.public_key(),
            kinds: vec!["audit-report".into()],
            source_system: "audit-desk".into(),
        }),
    ));
    let mut body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, "audit-2026-1");
    body.member = "audit".into();
    body.kind = "audit-report".into();
    body.filer = filer.public_key();
    body.source_system = "audit-desk".into();
    ledger.accept(&sign_batch(&filer, vec![body]));

    // Five members now: four approvals are needed.
    ledger.accept(&propose(
        &ledger,
        "audit",
        weekly(&ledger, "small-batches", vec![limits(2)]),
    ));
    approve(&mut ledger, "small-batches", &[BUREAU, FINANCE]);
    assert_eq!(
        record(&ledger, "small-batches").status,
        ProposalStatus::Open
    );
    approve(&mut ledger, "small-batches", &[COURT]);
    assert!(matches!(
        record(&ledger, "small-batches").status,
        ProposalStatus::Accepted { .. }
    ));
}

#[test]
fn a_removed_member_acts_no_more_and_its_id_is_never_given_again() {
    let mut ledger = Ledger::new();
    let (join, audit_key) = add_member("audit", 9);
    ledger.accept(&propose(
        &ledger,
        BUREAU,
        weekly(
            &ledger,
            "join",
            vec![
                join,
                Change::SetKind {
                    kind: COMPLETION_DRAWING.into(),
                    description: String::new(),
                    members: vec![BUREAU.into(), "audit".into()],
                },
                Change::SetProjectRegistrars {
                    members: vec![BUREAU.into(), "audit".into()],
                },
            ],
        ),
    ));
    approve(&mut ledger, "join", &[FINANCE, COURT]);
    ledger.remember_governance_key("audit", audit_key.clone());
    let filer = key(19);
    ledger.accept(&ledger.governance(
        "audit",
        GovernanceAction::RegisterFiler(FilerRegistration {
            name: "audit-scanner".into(),
            public_key: filer.public_key(),
            kinds: vec![COMPLETION_DRAWING.into()],
            source_system: "audit-desk".into(),
        }),
    ));
    let drawing = |ledger: &Ledger, document: &str| {
        let mut body = ledger.body(BUREAU, COMPLETION_DRAWING, PROJECT, document);
        body.member = "audit".into();
        body.filer = filer.public_key();
        body.source_system = "audit-desk".into();
        sign_batch(&filer, vec![body])
    };
    ledger.accept(&drawing(&ledger, "copy-1"));

    // It is voted out (with its own vote against counted until then).
    ledger.accept(&propose(
        &ledger,
        COURT,
        weekly(
            &ledger,
            "leave",
            vec![Change::RemoveMember { id: "audit".into() }],
        ),
    ));
    ledger.accept(&vote(&ledger, "audit", "leave", false));
    approve(&mut ledger, "leave", &[BUREAU, FINANCE, ARCHIVE]);
    assert!(ledger.config.member("audit").is_none());
    assert_eq!(
        ledger
            .config
            .kind_policy(COMPLETION_DRAWING)
            .unwrap()
            .members,
        vec![BUREAU.to_owned()],
        "the policy no longer names it"
    );
    assert_eq!(ledger.config.policy.project_registrars, vec![BUREAU]);

    // Its filer and its governance key act no more.
    let refused = ledger.reject(&drawing(&ledger, "copy-2"));
    assert_eq!(
        refused,
        TxError::MemberRemoved {
            filer: filer.public_key(),
            member: "audit".into(),
        }
    );
    assert!(refused.is_policy_violation());
    assert_eq!(
        ledger.reject(&propose(
            &ledger,
            "audit",
            weekly(&ledger, "return", vec![limits(2)])
        )),
        TxError::UnknownGovernanceKey(audit_key.public_key())
    );
    // Its id and its key are never given again.
    let (rejoin, _) = add_member("audit", 10);
    let error = ledger.reject(&propose(
        &ledger,
        BUREAU,
        weekly(&ledger, "rejoin", vec![rejoin]),
    ));
    assert!(error.to_string().contains("never given twice"), "{error}");
    let (mut other, _) = add_member("audit-2", 11);
    if let Change::AddMember {
        governance_keys, ..
    } = &mut other
    {
        *governance_keys = vec![audit_key.public_key()];
    }
    assert_eq!(
        ledger.reject(&propose(
            &ledger,
            BUREAU,
            weekly(&ledger, "rejoin", vec![other])
        )),
        TxError::KeyInUse(audit_key.public_key())
    );
    // The document it filed stays, under its id.
    assert!(
        query::document(&ledger.state, "audit", PROJECT, "copy-1")
            .unwrap()
            .is_some()
    );
}

#[test]
fn governance_keys_are_replaced_and_the_old_ones_never_return() {
    let mut ledger = Ledger::new();
    let old = ledger.governance_key(BUREAU).clone();
    let new = key(23);
    ledger.accept(&propose(
        &ledger,
        BUREAU,
        weekly(
            &ledger,
            "bureau-keys",
            vec![Change::SetGovernanceKeys {
                member: BUREAU.into(),
                keys: vec![new.public_key()],
            }],
        ),
    ));
    approve(&mut ledger, "bureau-keys", &[FINANCE, COURT]);
    assert_eq!(
        ledger.reject(&propose(
            &ledger,
            BUREAU,
            weekly(&ledger, "with-the-old-key", vec![limits(2)])
        )),
        TxError::UnknownGovernanceKey(old.public_key())
    );
    ledger.remember_governance_key(BUREAU, new.clone());
    // A member may keep a key it holds and add another.
    let extra = key(24);
    ledger.accept(&propose(
        &ledger,
        BUREAU,
        weekly(
            &ledger,
            "bureau-second-key",
            vec![Change::SetGovernanceKeys {
                member: BUREAU.into(),
                keys: vec![new.public_key(), extra.public_key()],
            }],
        ),
    ));
    // The replaced key is never given back, to the bureau or anyone else.
    for member in [BUREAU, COURT] {
        assert_eq!(
            ledger.reject(&propose(
                &ledger,
                BUREAU,
                weekly(
                    &ledger,
                    &format!("old-key-for-{member}"),
                    vec![Change::SetGovernanceKeys {
                        member: member.into(),
                        keys: vec![old.public_key()],
                    }],
                )
            )),
            TxError::KeyInUse(old.public_key())
        );
    }
}

#[test]
fn a_higher_threshold_needs_more_approvals_from_the_next_height() {
    let mut ledger = Ledger::new();
    ledger.accept(&propose(
        &ledger,
        BUREAU,
        weekly(
            &ledger,
            "unanimity",
            vec![Change::SetThreshold {
                numerator: 3,
                denominator: 4,
            }],
        ),
    ));
    approve(&mut ledger, "unanimity", &[FINANCE, COURT]);
    ledger.accept(&propose(
        &ledger,
        BUREAU,
        weekly(&ledger, "small-batches", vec![limits(2)]),
    ));
    approve(&mut ledger, "small-batches", &[FINANCE, COURT]);
    assert_eq!(
        record(&ledger, "small-batches").status,
        ProposalStatus::Open,
        "three of four are not more than three quarters"
    );
    approve(&mut ledger, "small-batches", &[ARCHIVE]);
    assert!(matches!(
        record(&ledger, "small-batches").status,
        ProposalStatus::Accepted { .. }
    ));
}

#[test]
fn proposals_accepted_in_one_block_build_on_each_other_and_a_stale_one_waits() {
    let mut ledger = Ledger::new();
    let (join, _) = add_member("audit", 9);
    ledger.accept(&propose(
        &ledger,
        BUREAU,
        weekly(&ledger, "join", vec![join.clone()]),
    ));
    ledger.accept(&propose(
        &ledger,
        FINANCE,
        weekly(&ledger, "join-again", vec![join]),
    ));
    ledger.accept(&propose(
        &ledger,
        COURT,
        weekly(&ledger, "small-batches", vec![limits(2)]),
    ));
    approve(&mut ledger, "join", &[FINANCE]);
    approve(&mut ledger, "small-batches", &[BUREAU]);
    // One block completes both "join" and "small-batches": both take effect.
    let results = ledger.run(&[
        vote(&ledger, COURT, "join", true),
        vote(&ledger, FINANCE, "small-batches", true),
    ]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(ledger.config.member("audit").is_some());
    assert_eq!(ledger.config.policy.limits.batch_len_max, 2);

    // "join-again" would add the member a second time: the vote that would accept it (the
    // fourth of five members now) is refused, and the proposal stays open until it expires.
    approve(&mut ledger, "join-again", &[BUREAU, COURT]);
    let stale = ledger.reject(&vote(&ledger, ARCHIVE, "join-again", true));
    assert_eq!(stale.code(), "invalid-proposal", "{stale}");
    assert_eq!(record(&ledger, "join-again").status, ProposalStatus::Open);
}

#[test]
fn a_proposal_and_its_votes_are_entries_an_auditor_replays() {
    let mut ledger = Ledger::new();
    let txs = [
        propose(
            &ledger,
            BUREAU,
            weekly(&ledger, "small-batches", vec![limits(2)]),
        ),
        vote(&ledger, FINANCE, "small-batches", false),
        vote(&ledger, COURT, "small-batches", true),
        vote(&ledger, ARCHIVE, "small-batches", true),
    ];
    for tx in &txs {
        ledger.accept(tx);
    }
    let replayed: Vec<(String, GovernanceAction)> = ledger
        .log
        .iter()
        .filter_map(|entry| match &entry.record {
            Record::Governance(signed) => {
                Some((signed.body.member.clone(), signed.body.action.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(replayed.len(), 4);
    assert!(matches!(replayed[0].1, GovernanceAction::Propose(_)));
    assert_eq!(
        replayed
            .iter()
            .filter(|(_, action)| matches!(
                action,
                GovernanceAction::Vote(Vote { approve: true, .. })
            ))
            .count(),
        2
    );
    let votes = record(&ledger, "small-batches").votes;
    let members: Vec<&str> = votes.iter().map(|v| v.member.as_str()).collect();
    assert_eq!(members, [BUREAU, FINANCE, COURT, ARCHIVE]);
    let entry_indices: Vec<u64> = votes.iter().map(|v| v.entry_index).collect();
    assert_eq!(entry_indices, [0, 1, 2, 3]);
}
