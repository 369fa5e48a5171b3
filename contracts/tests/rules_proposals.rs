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
use evidence_core::keys::{PublicKey, SignatureAlgorithm, SigningKey};
use evidence_genesis::pki::MemberCa;
use evidence_genesis::{Configuration, GenesisValidator};

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

/// The key of `member`'s genesis validator (the default consortium gives each member one).
fn genesis_validator(ledger: &Ledger, member: &str) -> PublicKey {
    ledger
        .genesis
        .validators
        .iter()
        .find(|v| v.member == member)
        .unwrap_or_else(|| panic!("{member} runs no genesis validator"))
        .public_key
}

/// The configuration in force from the next height, as a reader of the state finds it.
fn configuration(ledger: &Ledger) -> Configuration {
    query::configuration(&ledger.state, &ledger.genesis).unwrap()
}

/// The bureau proposes `changes` and finance, then the court approve them: checks that the
/// configuration stays as it was until the court's approval meets the threshold and that the
/// proposal is then accepted; returns the configuration it leads to.
fn decide(ledger: &mut Ledger, id: &str, changes: Vec<Change>) -> Configuration {
    let before = configuration(ledger);
    ledger.accept(&propose(ledger, BUREAU, weekly(ledger, id, changes)));
    approve(ledger, id, &[FINANCE]);
    assert_eq!(record(ledger, id).status, ProposalStatus::Open, "{id}");
    assert_eq!(
        configuration(ledger),
        before,
        "{id}: nothing changes before the threshold is met"
    );
    approve(ledger, id, &[COURT]);
    assert_eq!(
        record(ledger, id).status,
        ProposalStatus::Accepted {
            height: ledger.height
        },
        "{id}"
    );
    let after = configuration(ledger);
    assert_ne!(after, before, "{id}");
    after
}

/// The bureau's proposal of `changes`, which must be refused; the error.
#[track_caller]
fn refused(ledger: &mut Ledger, changes: Vec<Change>) -> TxError {
    let tx = propose(ledger, BUREAU, weekly(ledger, "refused", changes));
    ledger.reject(&tx)
}

/// The bureau's proposal of `changes`, which must be refused as `invalid-proposal` with a
/// reason that contains `reason`.
#[track_caller]
fn refused_as_invalid(ledger: &mut Ledger, changes: Vec<Change>, reason: &str) {
    let error = refused(ledger, changes);
    assert_eq!(error.code(), "invalid-proposal", "{error}");
    assert!(
        error.to_string().contains(reason),
        "{error} does not say {reason:?}"
    );
}

fn add_validator(member: &str, public_key: PublicKey, voting_power: u64) -> Change {
    Change::AddValidator {
        member: member.to_owned(),
        public_key,
        voting_power,
        address: None,
    }
}

fn replace_validator(public_key: PublicKey, new_public_key: PublicKey) -> Change {
    Change::ReplaceValidator {
        public_key,
        new_public_key,
        address: None,
    }
}

/// A filer registration of `key` by the bureau, for its drawings.
fn register_bureau_filer(ledger: &Ledger, key: PublicKey) -> Transaction {
    ledger.governance(
        BUREAU,
        GovernanceAction::RegisterFiler(FilerRegistration {
            name: "bureau-scanner".into(),
            public_key: key,
            kinds: vec![COMPLETION_DRAWING.into()],
            source_system: "bureau-scanner".into(),
        }),
    )
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
    // Members: an id is given once; a member that runs a validator stays until its validators
    // have left.
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

#[test]
fn an_added_validator_joins_the_set_from_the_height_after_its_proposal_is_accepted() {
    let mut ledger = Ledger::new();
    let new = key(40).public_key();
    let address = "/dns4/court-2.example/tcp/26656";
    let config = decide(
        &mut ledger,
        "court-second-validator",
        vec![Change::AddValidator {
            member: COURT.into(),
            public_key: new,
            voting_power: 2,
            address: Some(address.into()),
        }],
    );
    assert_eq!(config.validators.len(), 5);
    assert_eq!(
        config.validators[..4],
        ledger.genesis.validators[..],
        "the genesis validators stay, the new one follows them"
    );
    assert_eq!(
        config.validators[4],
        GenesisValidator {
            member: COURT.into(),
            public_key: new,
            voting_power: 2,
            address: Some(address.into()),
        }
    );
    let set = config.validator_set().unwrap();
    assert_eq!(set.len(), 5);
    assert_eq!(set.total_power(), 6);
    assert_eq!(set.get(&new).map(|v| v.voting_power), Some(2));
    // Genesis is not rewritten: the change lives in the configuration record.
    assert_eq!(ledger.genesis.validators.len(), 4);
    assert_eq!(ledger.config, config);
}

#[test]
fn a_removed_validator_leaves_the_set_from_the_height_after_its_proposal_is_accepted() {
    let mut ledger = Ledger::new();
    let archive = genesis_validator(&ledger, ARCHIVE);
    let config = decide(
        &mut ledger,
        "archive-validator-leaves",
        vec![Change::RemoveValidator {
            public_key: archive,
        }],
    );
    assert!(config.validator(&archive).is_none());
    assert_eq!(config.validators.len(), 3);
    assert_eq!(config.validator_set().unwrap().total_power(), 3);
    assert!(
        config.member(ARCHIVE).is_some(),
        "its member stays a member"
    );
    // It is no longer a validator to remove, replace or give power, and its key never returns.
    refused_as_invalid(
        &mut ledger,
        vec![Change::RemoveValidator {
            public_key: archive,
        }],
        "change 0 (remove-validator)",
    );
    assert_eq!(
        refused(&mut ledger, vec![add_validator(ARCHIVE, archive, 1)]),
        TxError::KeyInUse(archive)
    );
}

#[test]
fn a_replaced_validator_keeps_its_member_and_power_and_takes_the_new_key_and_address() {
    let mut ledger = Ledger::new();
    let added = key(41).public_key();
    let successor = key(42).public_key();
    let bureau = genesis_validator(&ledger, BUREAU);
    let bureau_successor = key(43).public_key();
    let address = "/ip4/10.0.0.7/tcp/26656";
    decide(
        &mut ledger,
        "court-second-validator",
        vec![Change::AddValidator {
            member: COURT.into(),
            public_key: added,
            voting_power: 2,
            address: Some("/dns4/court-2.example/tcp/26656".into()),
        }],
    );
    let config = decide(
        &mut ledger,
        "new-validator-keys",
        vec![
            replace_validator(added, successor),
            Change::ReplaceValidator {
                public_key: bureau,
                new_public_key: bureau_successor,
                address: Some(address.into()),
            },
        ],
    );
    assert_eq!(
        config.validators[4],
        GenesisValidator {
            member: COURT.into(),
            public_key: successor,
            voting_power: 2,
            address: None,
        },
        "the address is the replacement's, here none"
    );
    assert_eq!(
        config.validators[0],
        GenesisValidator {
            member: BUREAU.into(),
            public_key: bureau_successor,
            voting_power: 1,
            address: Some(address.into()),
        }
    );
    assert!(config.validator(&added).is_none() && config.validator(&bureau).is_none());
    assert_eq!(config.validator_set().unwrap().total_power(), 6);
    // The replaced keys are validators no more and are never given a role again.
    for old in [added, bureau] {
        refused_as_invalid(
            &mut ledger,
            vec![replace_validator(old, key(44).public_key())],
            "change 0 (replace-validator)",
        );
        assert_eq!(
            refused(&mut ledger, vec![add_validator(COURT, old, 1)]),
            TxError::KeyInUse(old)
        );
    }
    assert_eq!(
        ledger.reject(&register_bureau_filer(&ledger, added)),
        TxError::FilerKeyInUse(added)
    );
    // Nor are the new keys given again, in any role.
    for new in [successor, bureau_successor] {
        assert_eq!(
            refused(&mut ledger, vec![add_validator(ARCHIVE, new, 1)]),
            TxError::KeyInUse(new)
        );
        assert_eq!(
            ledger.reject(&register_bureau_filer(&ledger, new)),
            TxError::FilerKeyInUse(new)
        );
    }
}

#[test]
fn a_validators_voting_power_is_set_from_the_height_after_its_proposal_is_accepted() {
    let mut ledger = Ledger::new();
    let finance = genesis_validator(&ledger, FINANCE);
    let config = decide(
        &mut ledger,
        "finance-weighs-more",
        vec![Change::SetVotingPower {
            public_key: finance,
            voting_power: 5,
        }],
    );
    assert_eq!(
        config.validator(&finance),
        Some(&GenesisValidator {
            voting_power: 5,
            ..ledger.genesis.validators[1].clone()
        })
    );
    assert_eq!(ledger.genesis.validators[1].public_key, finance);
    assert_eq!(config.validator_set().unwrap().total_power(), 8);
}

#[test]
fn a_validator_key_is_a_key_the_consortium_never_used() {
    let mut ledger = Ledger::new();
    // Keys earlier proposals gave: a governance key and a validator key; and a filer key
    // registered on the ledger.
    let governance_given = key(45).public_key();
    let bureau_governance = ledger.governance_key(BUREAU).public_key();
    decide(
        &mut ledger,
        "bureau-second-key",
        vec![Change::SetGovernanceKeys {
            member: BUREAU.into(),
            keys: vec![bureau_governance, governance_given],
        }],
    );
    let validator_given = key(46).public_key();
    decide(
        &mut ledger,
        "archive-second-validator",
        vec![add_validator(ARCHIVE, validator_given, 1)],
    );
    let registered = key(47).public_key();
    ledger.accept(&register_bureau_filer(&ledger, registered));

    let court = genesis_validator(&ledger, COURT);
    let used = [
        (
            "a genesis validator key",
            genesis_validator(&ledger, FINANCE),
        ),
        (
            "a genesis governance key",
            ledger.governance_key(COURT).public_key(),
        ),
        ("a genesis filer key", ledger.filer(FINANCE)),
        ("a filer key registered on the ledger", registered),
        ("a governance key a proposal gave", governance_given),
        ("a validator key a proposal gave", validator_given),
    ];
    for (what, used) in used {
        let error = refused(&mut ledger, vec![add_validator(COURT, used, 1)]);
        assert_eq!(error, TxError::KeyInUse(used), "adding {what}");
        assert_eq!(error.code(), "key-in-use");
        assert_eq!(
            refused(&mut ledger, vec![replace_validator(court, used)]),
            TxError::KeyInUse(used),
            "replacing with {what}"
        );
    }
    // A validator is not replaced by its own key.
    assert_eq!(
        refused(&mut ledger, vec![replace_validator(court, court)]),
        TxError::KeyInUse(court)
    );
    // Nor is a key taken twice within one proposal, in whatever roles.
    let fresh = key(48).public_key();
    let court_governance = ledger.governance_key(COURT).public_key();
    for changes in [
        vec![
            add_validator(COURT, fresh, 1),
            add_validator(ARCHIVE, fresh, 1),
        ],
        vec![
            replace_validator(court, fresh),
            add_validator(ARCHIVE, fresh, 1),
        ],
        vec![
            add_validator(COURT, fresh, 1),
            Change::SetGovernanceKeys {
                member: COURT.into(),
                keys: vec![court_governance, fresh],
            },
        ],
        vec![
            Change::SetGovernanceKeys {
                member: COURT.into(),
                keys: vec![court_governance, fresh],
            },
            add_validator(COURT, fresh, 1),
        ],
    ] {
        assert_eq!(
            refused(&mut ledger, changes.clone()),
            TxError::KeyInUse(fresh),
            "{changes:?}"
        );
    }
    // A validator key a proposal gave registers no filer either.
    assert_eq!(
        ledger.reject(&register_bureau_filer(&ledger, validator_given)),
        TxError::FilerKeyInUse(validator_given)
    );
}

#[test]
fn validator_changes_that_cannot_apply_are_refused_before_anyone_votes() {
    let mut ledger = Ledger::new();
    let fresh = key(49).public_key();
    let court = genesis_validator(&ledger, COURT);

    // A validator is a member's.
    refused_as_invalid(
        &mut ledger,
        vec![add_validator("nobody", fresh, 1)],
        "change 0 (add-validator): \"nobody\" is not a member",
    );
    // Only a validator of the configuration is removed, replaced or given power: a key of
    // another role, or of none, is not one.
    let not_validators = [
        stranger_key().public_key(),
        ledger.filer(BUREAU),
        ledger.governance_key(COURT).public_key(),
    ];
    for key in not_validators {
        refused_as_invalid(
            &mut ledger,
            vec![Change::RemoveValidator { public_key: key }],
            "change 0 (remove-validator)",
        );
        refused_as_invalid(
            &mut ledger,
            vec![replace_validator(key, fresh)],
            "change 0 (replace-validator)",
        );
        refused_as_invalid(
            &mut ledger,
            vec![Change::SetVotingPower {
                public_key: key,
                voting_power: 2,
            }],
            "change 0 (set-voting-power)",
        );
    }
    // Nor is one an earlier change of the proposal removed or replaced, or a later one adds.
    let removed = Change::RemoveValidator { public_key: court };
    refused_as_invalid(
        &mut ledger,
        vec![removed.clone(), removed.clone()],
        "change 1 (remove-validator)",
    );
    refused_as_invalid(
        &mut ledger,
        vec![replace_validator(court, fresh), removed.clone()],
        "change 1 (remove-validator)",
    );
    refused_as_invalid(
        &mut ledger,
        vec![
            Change::SetVotingPower {
                public_key: fresh,
                voting_power: 2,
            },
            add_validator(COURT, fresh, 1),
        ],
        "change 0 (set-voting-power)",
    );
    // The set the changes lead to must be one that can certify: every power at least 1, the
    // total at most (2^64 - 1) / 3.
    let leads_to = "the configuration it leads to";
    refused_as_invalid(&mut ledger, vec![add_validator(COURT, fresh, 0)], leads_to);
    for voting_power in [0, u64::MAX / 3, u64::MAX] {
        refused_as_invalid(
            &mut ledger,
            vec![Change::SetVotingPower {
                public_key: court,
                voting_power,
            }],
            leads_to,
        );
    }
    // An address, when given, is 1 to 256 bytes.
    refused_as_invalid(
        &mut ledger,
        vec![Change::AddValidator {
            member: COURT.into(),
            public_key: fresh,
            voting_power: 1,
            address: Some(String::new()),
        }],
        leads_to,
    );
    refused_as_invalid(
        &mut ledger,
        vec![Change::ReplaceValidator {
            public_key: court,
            new_public_key: fresh,
            address: Some(String::new()),
        }],
        leads_to,
    );
    // A longer one does not even decode.
    let long = refused(
        &mut ledger,
        vec![Change::AddValidator {
            member: COURT.into(),
            public_key: fresh,
            voting_power: 1,
            address: Some("a".repeat(257)),
        }],
    );
    assert_eq!(long.code(), "malformed", "{long}");
    // A key of small order could never sign a vote.
    let small_order = PublicKey::from_bytes(&{
        let mut y = [0u8; 32];
        y[0] = 1;
        y
    })
    .unwrap();
    refused_as_invalid(
        &mut ledger,
        vec![add_validator(COURT, small_order, 1)],
        leads_to,
    );
    // None of it changed anything; a 256-byte address is fine.
    assert_eq!(
        configuration(&ledger),
        Configuration::from_genesis(&ledger.genesis)
    );
    let config = decide(
        &mut ledger,
        "long-address",
        vec![Change::AddValidator {
            member: COURT.into(),
            public_key: fresh,
            voting_power: 1,
            address: Some("a".repeat(256)),
        }],
    );
    assert_eq!(config.validators.len(), 5);
}

#[test]
fn the_last_validator_never_leaves() {
    let mut ledger = Ledger::new();
    let [bureau, finance, court, archive] =
        MEMBERS.map(|member| genesis_validator(&ledger, member));
    let everyone: Vec<Change> = [bureau, finance, court, archive]
        .into_iter()
        .map(|public_key| Change::RemoveValidator { public_key })
        .collect();
    refused_as_invalid(&mut ledger, everyone, "at least one validator");
    let config = decide(
        &mut ledger,
        "one-validator",
        [bureau, finance, court]
            .into_iter()
            .map(|public_key| Change::RemoveValidator { public_key })
            .collect(),
    );
    assert_eq!(config.validators, ledger.genesis.validators[3..]);
    refused_as_invalid(
        &mut ledger,
        vec![Change::RemoveValidator {
            public_key: archive,
        }],
        "at least one validator",
    );
    // It may be replaced: the set keeps a validator.
    let config = decide(
        &mut ledger,
        "archive-new-key",
        vec![replace_validator(archive, key(50).public_key())],
    );
    assert_eq!(config.validators.len(), 1);
}

#[test]
fn a_member_leaves_once_its_validators_have_left() {
    let mut ledger = Ledger::new();
    let archive = genesis_validator(&ledger, ARCHIVE);
    // While it runs a validator, a member stays; its validator leaving after it is too late.
    refused_as_invalid(
        &mut ledger,
        vec![Change::RemoveMember { id: ARCHIVE.into() }],
        &format!("change 0 (remove-member): \"archive\" runs validator {archive}"),
    );
    refused_as_invalid(
        &mut ledger,
        vec![
            Change::RemoveMember { id: ARCHIVE.into() },
            Change::RemoveValidator {
                public_key: archive,
            },
        ],
        "change 0 (remove-member)",
    );
    // Its validator leaving first, in the same proposal, lets it leave.
    let config = decide(
        &mut ledger,
        "archive-leaves",
        vec![
            Change::RemoveValidator {
                public_key: archive,
            },
            Change::RemoveMember { id: ARCHIVE.into() },
        ],
    );
    assert!(config.member(ARCHIVE).is_none());
    assert_eq!(config.validators, ledger.genesis.validators[..3]);

    // A member with two validators leaves once both have, in this proposal or an earlier one.
    let court = genesis_validator(&ledger, COURT);
    let second = key(51).public_key();
    decide(
        &mut ledger,
        "court-second-validator",
        vec![add_validator(COURT, second, 1)],
    );
    refused_as_invalid(
        &mut ledger,
        vec![
            Change::RemoveValidator { public_key: court },
            Change::RemoveMember { id: COURT.into() },
        ],
        &format!("change 1 (remove-member): \"court\" runs validator {second}"),
    );
    decide(
        &mut ledger,
        "court-first-validator-leaves",
        vec![Change::RemoveValidator { public_key: court }],
    );
    let config = decide(
        &mut ledger,
        "court-leaves",
        vec![
            Change::RemoveValidator { public_key: second },
            Change::RemoveMember { id: COURT.into() },
        ],
    );
    assert!(config.member(COURT).is_none());
    assert_eq!(config.validators, ledger.genesis.validators[..2]);
    // A former member is given no validator.
    refused_as_invalid(
        &mut ledger,
        vec![add_validator(COURT, key(52).public_key(), 1)],
        "change 0 (add-validator): \"court\" is not a member",
    );
}

#[test]
fn validator_changes_of_one_proposal_compose_in_order() {
    let mut ledger = Ledger::new();
    let added = key(53).public_key();
    let config = decide(
        &mut ledger,
        "bureau-second-validator",
        vec![
            add_validator(BUREAU, added, 1),
            Change::SetVotingPower {
                public_key: added,
                voting_power: 4,
            },
        ],
    );
    assert_eq!(config.validator(&added).map(|v| v.voting_power), Some(4));
    assert_eq!(config.validator_set().unwrap().total_power(), 8);

    // Added, given power and replaced in one proposal: the successor holds the power, and the
    // key in between is never given again.
    let between = key(54).public_key();
    let successor = key(55).public_key();
    let address = "/dns4/finance-2.example/tcp/26656";
    let config = decide(
        &mut ledger,
        "finance-second-validator",
        vec![
            add_validator(FINANCE, between, 1),
            Change::SetVotingPower {
                public_key: between,
                voting_power: 3,
            },
            Change::ReplaceValidator {
                public_key: between,
                new_public_key: successor,
                address: Some(address.into()),
            },
        ],
    );
    assert!(config.validator(&between).is_none());
    assert_eq!(
        config.validator(&successor),
        Some(&GenesisValidator {
            member: FINANCE.into(),
            public_key: successor,
            voting_power: 3,
            address: Some(address.into()),
        })
    );
    assert_eq!(
        refused(&mut ledger, vec![add_validator(FINANCE, between, 1)]),
        TxError::KeyInUse(between)
    );

    // A member that joins runs a validator from the same proposal.
    let (join, _) = add_member("audit", 57);
    let audit_validator = key(58).public_key();
    let config = decide(
        &mut ledger,
        "audit-joins-with-a-validator",
        vec![join, add_validator("audit", audit_validator, 1)],
    );
    assert_eq!(
        config
            .validator(&audit_validator)
            .map(|v| v.member.as_str()),
        Some("audit")
    );
}

#[test]
fn a_validator_change_made_stale_by_another_proposal_waits_and_is_refused() {
    let mut ledger = Ledger::new();
    let archive = genesis_validator(&ledger, ARCHIVE);
    let fresh = key(56).public_key();
    ledger.accept(&propose(
        &ledger,
        BUREAU,
        weekly(
            &ledger,
            "archive-validator-leaves",
            vec![Change::RemoveValidator {
                public_key: archive,
            }],
        ),
    ));
    ledger.accept(&propose(
        &ledger,
        FINANCE,
        weekly(
            &ledger,
            "archive-weighs-more",
            vec![Change::SetVotingPower {
                public_key: archive,
                voting_power: 2,
            }],
        ),
    ));
    ledger.accept(&propose(
        &ledger,
        COURT,
        weekly(
            &ledger,
            "court-second-validator",
            vec![add_validator(COURT, fresh, 1)],
        ),
    ));
    ledger.accept(&propose(
        &ledger,
        ARCHIVE,
        weekly(
            &ledger,
            "archive-second-validator",
            vec![add_validator(ARCHIVE, fresh, 1)],
        ),
    ));
    approve(&mut ledger, "archive-validator-leaves", &[FINANCE]);
    approve(&mut ledger, "court-second-validator", &[BUREAU]);
    // One block accepts both: the second builds on the first.
    let results = ledger.run(&[
        vote(&ledger, COURT, "archive-validator-leaves", true),
        vote(&ledger, FINANCE, "court-second-validator", true),
    ]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(ledger.config.validator(&archive).is_none());
    assert!(ledger.config.validator(&fresh).is_some());
    assert_eq!(ledger.config.validators.len(), 4);

    // The archive's validator is gone and the fresh key taken: the votes that would accept
    // the other two are refused, and they stay open.
    approve(&mut ledger, "archive-weighs-more", &[BUREAU]);
    let stale = ledger.reject(&vote(&ledger, COURT, "archive-weighs-more", true));
    assert_eq!(stale.code(), "invalid-proposal", "{stale}");
    assert_eq!(
        record(&ledger, "archive-weighs-more").status,
        ProposalStatus::Open
    );
    approve(&mut ledger, "archive-second-validator", &[BUREAU]);
    assert_eq!(
        ledger.reject(&vote(&ledger, COURT, "archive-second-validator", true)),
        TxError::KeyInUse(fresh)
    );
    assert_eq!(
        record(&ledger, "archive-second-validator").status,
        ProposalStatus::Open
    );
}

#[test]
fn keys_of_another_algorithm_or_addresses_pinning_another_peer_are_refused() {
    let mut ledger = Ledger::new();
    let sm2 = SigningKey::from_secret(SignatureAlgorithm::Sm2, &[71; 32])
        .unwrap()
        .public_key();
    // This chain signs with Ed25519: an SM2 validator or governance key could never act here.
    let error = refused(&mut ledger, vec![add_validator(COURT, sm2, 1)]);
    assert_eq!(error.code(), "wrong-key-algorithm", "{error}");
    assert!(error.to_string().contains("ed25519"), "{error}");
    let court = ledger.genesis.validator_of(COURT).unwrap().public_key;
    let error = refused(&mut ledger, vec![replace_validator(court, sm2)]);
    assert_eq!(error.code(), "wrong-key-algorithm", "{error}");
    let error = refused(
        &mut ledger,
        vec![Change::SetGovernanceKeys {
            member: COURT.into(),
            keys: vec![sm2],
        }],
    );
    assert_eq!(error.code(), "wrong-key-algorithm", "{error}");
    // An Ed25519 validator's address may repeat its own peer id, never another key's.
    let fresh = SigningKey::from_seed(&[72; 32]).public_key();
    let other = evidence_genesis::network::network_peer_id(&SigningKey::from_seed(&[73; 32]));
    refused_as_invalid(
        &mut ledger,
        vec![Change::AddValidator {
            member: COURT.into(),
            public_key: fresh,
            voting_power: 1,
            address: Some(format!("/ip4/10.0.0.9/tcp/26656/p2p/{other}")),
        }],
        "change 0 (add-validator)",
    );
    let own = evidence_genesis::network::network_peer_id(&SigningKey::from_seed(&[72; 32]));
    decide(
        &mut ledger,
        "pinned",
        vec![Change::AddValidator {
            member: COURT.into(),
            public_key: fresh,
            voting_power: 1,
            address: Some(format!("/ip4/10.0.0.9/tcp/26656/p2p/{own}")),
        }],
    );
}
