//! The harness shared by the rule tests: a seeded default consortium, an in-memory state, a
//! block runner that commits each block's writes and tracks height, log size and state root,
//! and builders for signed anchors, revocations and project registrations.

// Each test binary uses its own part of the harness.
#![allow(dead_code)]

use std::collections::BTreeMap;

use evidence_contracts::state::{
    DocumentRecord, MilestoneEvidence, ProjectRecord, VersionRecord, document_key,
    milestone_evidence_key, project_key,
};
use evidence_contracts::{
    Applied, BlockContext, BlockOutcome, MemoryState, Overlay, Transaction, TxError, execute_block,
};
use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::encoding::Decode;
use evidence_core::entry::{
    AnchorBody, Entry, Milestone, MilestoneClaim, ProjectRegistrationBody, RevocationBody,
    SignedBatch,
};
use evidence_core::governance::{GovernanceAction, GovernanceBody};
use evidence_core::keys::{PublicKey, SigningKey};
use evidence_core::state_tree::Slot;
use evidence_genesis::{Configuration, Consortium, Genesis, default_consortium};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub(crate) const CHAIN_ID: &str = "evidence-test";
/// When the test consortium was formed.
pub(crate) const T0: u64 = 1_750_000_000_000;
pub(crate) const SEED: u64 = 20_240_601;
pub(crate) const BLOCK_INTERVAL_MS: u64 = 2_000;
/// The default suite's digest algorithm.
pub(crate) const ALG: HashAlgorithm = HashAlgorithm::Blake3;
pub(crate) const MEMBERS: [&str; 4] = ["bureau", "finance", "court", "archive"];

pub(crate) const COMPLETION_DRAWING: &str = "completion-drawing";
pub(crate) const INSPECTION_REPORT: &str = "inspection-report";
pub(crate) const ACCEPTANCE_REPORT: &str = "acceptance-report";
pub(crate) const FUND_TRANSFER: &str = "fund-transfer";
pub(crate) const ARCHIVE_RECORD: &str = "archive-record";

pub(crate) const BUREAU: &str = "bureau";
pub(crate) const FINANCE: &str = "finance";
pub(crate) const COURT: &str = "court";
pub(crate) const ARCHIVE: &str = "archive";

/// The project most scenarios use.
pub(crate) const PROJECT: &str = "proj-riverside-school";

/// The standard contract: milestones add up to more than the total, so both the milestone and
/// the contract overpayment rules can be reached.
pub(crate) const CONTRACT_TOTAL: u64 = 1_000_000;
pub(crate) const CONTRACT_MILESTONES: &[(&str, u64)] = &[
    ("foundation", 400_000),
    ("structure", 500_000),
    ("roof", 300_000),
];

/// The default consortium every test starts from (same seed, same keys, same genesis).
pub(crate) fn consortium() -> Consortium {
    default_consortium(CHAIN_ID, T0, &mut ChaCha20Rng::seed_from_u64(SEED))
}

/// A signing key no genesis knows.
pub(crate) fn stranger_key() -> SigningKey {
    SigningKey::generate_with(&mut ChaCha20Rng::seed_from_u64(SEED ^ 0x5eed))
}

/// The digest of a document with content `text`.
pub(crate) fn digest_of(text: &str) -> Digest {
    ALG.hash(text.as_bytes())
}

pub(crate) fn inspection(milestone: &str, passed: bool) -> Option<MilestoneClaim> {
    Some(MilestoneClaim::Inspection {
        milestone: milestone.to_owned(),
        passed,
    })
}

pub(crate) fn payment(milestone: &str, amount_minor: u64) -> Option<MilestoneClaim> {
    Some(MilestoneClaim::Payment {
        milestone: milestone.to_owned(),
        amount_minor,
    })
}

/// The next version of `previous`: one more, superseding it, with new content and the same
/// claim.
pub(crate) fn next_version(previous: &AnchorBody) -> AnchorBody {
    let version = previous.document_version + 1;
    AnchorBody {
        document_version: version,
        digest: digest_of(&format!(
            "{}/{}/v{version}",
            previous.project_id, previous.document_id
        )),
        supersedes: Some(previous.digest),
        ..previous.clone()
    }
}

/// Signs `anchors` as one batch with `key`.
pub(crate) fn sign_batch(key: &SigningKey, anchors: Vec<AnchorBody>) -> Transaction {
    Transaction::Anchor(SignedBatch::sign(ALG, anchors, key).expect("a batch of 1 to 65536"))
}

/// Unwraps an anchor transaction's batch.
pub(crate) fn batch_of(transaction: &Transaction) -> &SignedBatch {
    match transaction {
        Transaction::Anchor(batch) => batch,
        other => panic!("expected an anchor transaction, got {}", other.kind_name()),
    }
}

/// The ledger under test: genesis, committed state and the chain's position.
#[derive(Debug)]
pub(crate) struct Ledger {
    pub(crate) genesis: Genesis,
    filer_keys: BTreeMap<String, SigningKey>,
    governance_keys: BTreeMap<String, SigningKey>,
    /// Filer keys registered on the ledger by a test, so that `key_of` finds them.
    registered_keys: Vec<SigningKey>,
    pub(crate) state: MemoryState,
    /// The state root after the last block (the empty tree's before block 1).
    pub(crate) state_root: Digest,
    /// The state tree's root slot after the last block.
    pub(crate) tree: Slot,
    /// The height of the last executed block (0 before block 1).
    pub(crate) height: u64,
    /// Entries in the log.
    pub(crate) log_size: u64,
    /// Every entry appended so far.
    pub(crate) log: Vec<Entry>,
    /// The configuration in force at the next height.
    pub(crate) config: Configuration,
}

impl Ledger {
    /// A fresh ledger over the default consortium.
    pub(crate) fn new() -> Self {
        Self::with_genesis(|_| {})
    }

    /// A fresh ledger over the default consortium with its genesis changed by `change`. The
    /// changed genesis must still be one a chain could start from.
    pub(crate) fn with_genesis(change: impl FnOnce(&mut Genesis)) -> Self {
        let Consortium {
            mut genesis,
            filer_keys,
            governance_keys,
            ..
        } = consortium();
        change(&mut genesis);
        genesis.validate().expect("the changed genesis is valid");
        let state_root = Digest::new(ALG, evidence_core::state_tree::PLACEHOLDER);
        let config = Configuration::from_genesis(&genesis);
        Self {
            config,
            genesis,
            filer_keys: filer_keys.into_iter().collect(),
            governance_keys: governance_keys.into_iter().collect(),
            registered_keys: Vec::new(),
            state: MemoryState::new(),
            state_root,
            tree: Slot::Empty,
            height: 0,
            log_size: 0,
            log: Vec::new(),
        }
    }

    /// The timestamp the harness gives block `height`.
    pub(crate) fn block_time(height: u64) -> u64 {
        T0 + height * BLOCK_INTERVAL_MS
    }

    /// The context the next block executes in.
    pub(crate) fn next_context(&self) -> BlockContext<'_> {
        let height = self.height + 1;
        BlockContext {
            genesis: &self.genesis,
            config: &self.config,
            height,
            time_ms: Self::block_time(height),
            log_size: self.log_size,
            verified: None,
        }
    }

    /// Executes `transactions` as the next block and commits its writes.
    pub(crate) fn execute(&mut self, transactions: &[Transaction]) -> BlockOutcome {
        let context = self.next_context();
        let height = context.height;
        let outcome = execute_block(&self.state, &context, self.tree, transactions)
            .expect("the memory store does not fail");
        self.state.apply(&outcome.writes);
        self.state.apply_tree(height, &outcome.state_tree);
        self.tree = outcome.state_tree.root.unwrap_or(self.tree);
        self.config = evidence_contracts::query::configuration(&self.state, &self.genesis)
            .expect("the memory store does not fail");
        self.state_root = outcome.state_root;
        self.height = height;
        self.log_size += outcome.entries().count() as u64;
        self.log.extend(outcome.entries().cloned());
        outcome
    }

    /// Executes `transactions` as the next block; one result per transaction.
    pub(crate) fn run(&mut self, transactions: &[Transaction]) -> Vec<Result<Applied, TxError>> {
        self.execute(transactions).results
    }

    /// Executes `transaction` alone in the next block.
    pub(crate) fn submit(&mut self, transaction: &Transaction) -> Result<Applied, TxError> {
        self.run(std::slice::from_ref(transaction))
            .pop()
            .expect("one result per transaction")
    }

    /// Executes `transaction` alone in the next block; it must be accepted.
    #[track_caller]
    pub(crate) fn accept(&mut self, transaction: &Transaction) -> Applied {
        match self.submit(transaction) {
            Ok(applied) => applied,
            Err(error) => panic!("expected acceptance, got {error:?} ({error})"),
        }
    }

    /// Executes `transaction` alone in the next block; it must be rejected. Checks that the
    /// rejected block appended nothing and wrote nothing but, for an authentic transaction,
    /// the mark that consumes its id.
    #[track_caller]
    pub(crate) fn reject(&mut self, transaction: &Transaction) -> TxError {
        let outcome = self.execute(std::slice::from_ref(transaction));
        assert!(
            outcome.entries().next().is_none(),
            "a rejected transaction appended entries"
        );
        let consumed = transaction
            .id(ALG)
            .map(|id| evidence_contracts::state::applied_transaction_key(&id));
        assert!(
            outcome
                .writes
                .keys()
                .all(|key| Some(key) == consumed.as_ref()),
            "a rejected transaction left writes other than its consumed id"
        );
        match outcome.results.into_iter().next() {
            Some(Err(error)) => error,
            Some(Ok(applied)) => panic!("expected rejection, got {applied:?}"),
            None => panic!("no result"),
        }
    }

    // Keys.

    pub(crate) fn filer_key(&self, member: &str) -> &SigningKey {
        self.filer_keys
            .get(member)
            .unwrap_or_else(|| panic!("no filer for {member}"))
    }

    pub(crate) fn filer(&self, member: &str) -> PublicKey {
        self.filer_key(member).public_key()
    }

    /// The registered key whose public half is `public`.
    pub(crate) fn key_of(&self, public: &PublicKey) -> &SigningKey {
        self.filer_keys
            .values()
            .chain(&self.registered_keys)
            .find(|key| key.public_key() == *public)
            .unwrap_or_else(|| panic!("no registered key {public}"))
    }

    /// Lets `key_of` find `key` (a filer key a test registers on the ledger).
    pub(crate) fn remember_key(&mut self, key: SigningKey) {
        self.registered_keys.push(key);
    }

    /// Lets `governance` sign for `member` with `key` (a member or key a proposal added).
    pub(crate) fn remember_governance_key(&mut self, member: &str, key: SigningKey) {
        self.governance_keys.insert(member.to_owned(), key);
    }

    pub(crate) fn governance_key(&self, member: &str) -> &SigningKey {
        self.governance_keys
            .get(member)
            .unwrap_or_else(|| panic!("no governance key for {member}"))
    }

    /// A governance body of `member`, signed by its governance key.
    pub(crate) fn governance_body(&self, member: &str, action: GovernanceAction) -> GovernanceBody {
        GovernanceBody {
            chain_id: CHAIN_ID.to_owned(),
            member: member.to_owned(),
            signer: self.governance_key(member).public_key(),
            issued_at_ms: T0 + 1_000,
            action,
        }
    }

    /// `action` by `member`, signed by its governance key.
    pub(crate) fn governance(&self, member: &str, action: GovernanceAction) -> Transaction {
        Transaction::governance(
            self.governance_body(member, action)
                .sign(self.governance_key(member)),
        )
    }

    // Builders.

    /// Version 1 of `document` in `project`, filed by `member`'s filer, with no claim.
    pub(crate) fn body(
        &self,
        member: &str,
        kind: &str,
        project: &str,
        document: &str,
    ) -> AnchorBody {
        AnchorBody {
            chain_id: CHAIN_ID.to_owned(),
            filer: self.filer(member),
            member: member.to_owned(),
            source_system: format!("{member}-filing-system"),
            captured_at_ms: T0 - 60_000,
            project_id: project.to_owned(),
            document_id: document.to_owned(),
            document_version: 1,
            kind: kind.to_owned(),
            digest: digest_of(&format!("{project}/{document}/v1")),
            supersedes: None,
            claim: None,
        }
    }

    /// `anchors` signed as one batch by the registered key named in the first anchor.
    pub(crate) fn signed(&self, anchors: Vec<AnchorBody>) -> Transaction {
        sign_batch(self.key_of(&anchors[0].filer), anchors)
    }

    /// A single anchor signed by its filer.
    pub(crate) fn anchor(&self, body: &AnchorBody) -> Transaction {
        self.signed(vec![body.clone()])
    }

    /// A revocation of the version `anchored` by the same filer.
    pub(crate) fn revocation(&self, anchored: &AnchorBody, reason: &str) -> RevocationBody {
        RevocationBody {
            chain_id: CHAIN_ID.to_owned(),
            filer: anchored.filer,
            member: anchored.member.clone(),
            project_id: anchored.project_id.clone(),
            document_id: anchored.document_id.clone(),
            document_version: anchored.document_version,
            digest: anchored.digest,
            reason: reason.to_owned(),
            revoked_at_ms: T0 + 3_600_000,
        }
    }

    /// `body` signed by its (registered) filer.
    pub(crate) fn revoke(&self, body: RevocationBody) -> Transaction {
        let key = self.key_of(&body.filer);
        Transaction::Revoke(body.sign(key))
    }

    /// A registration of `project` by `member`'s filer.
    pub(crate) fn registration(
        &self,
        member: &str,
        project: &str,
        total_value_minor: u64,
        milestones: &[(&str, u64)],
    ) -> ProjectRegistrationBody {
        ProjectRegistrationBody {
            chain_id: CHAIN_ID.to_owned(),
            registrar: self.filer(member),
            member: member.to_owned(),
            project_id: project.to_owned(),
            total_value_minor,
            milestones: milestones
                .iter()
                .map(|(id, amount_minor)| Milestone {
                    id: (*id).to_owned(),
                    amount_minor: *amount_minor,
                })
                .collect(),
            registered_at_ms: T0 + 1_000,
        }
    }

    /// `body` signed by its (registered) registrar.
    pub(crate) fn register(&self, body: ProjectRegistrationBody) -> Transaction {
        let key = self.key_of(&body.registrar);
        Transaction::RegisterProject(body.sign(key))
    }

    /// Registers the standard contract for `project` (by the bureau).
    pub(crate) fn register_standard_project(&mut self, project: &str) {
        let tx =
            self.register(self.registration(BUREAU, project, CONTRACT_TOTAL, CONTRACT_MILESTONES));
        self.accept(&tx);
    }

    /// Files an inspection report for `milestone` with the given result; returns its body.
    pub(crate) fn file_inspection(
        &mut self,
        project: &str,
        document: &str,
        milestone: &str,
        passed: bool,
    ) -> AnchorBody {
        let mut body = self.body(BUREAU, INSPECTION_REPORT, project, document);
        body.claim = inspection(milestone, passed);
        let tx = self.anchor(&body);
        self.accept(&tx);
        body
    }

    /// A fund-transfer anchor (version 1) paying `amount_minor` against `milestone`.
    pub(crate) fn payment_body(
        &self,
        project: &str,
        document: &str,
        milestone: &str,
        amount_minor: u64,
    ) -> AnchorBody {
        let mut body = self.body(FINANCE, FUND_TRANSFER, project, document);
        body.claim = payment(milestone, amount_minor);
        body
    }

    /// A signed fund-transfer transaction.
    pub(crate) fn pay(
        &self,
        project: &str,
        document: &str,
        milestone: &str,
        amount_minor: u64,
    ) -> Transaction {
        self.anchor(&self.payment_body(project, document, milestone, amount_minor))
    }

    // State reads.

    pub(crate) fn read<T: Decode>(&self, key: &[u8]) -> Option<T> {
        Overlay::new(&self.state)
            .get_record::<T>(key)
            .expect("stored records decode")
    }

    /// Version `version` of `document`, filed by whichever member has a document of that id
    /// (the tests never give two members the same id unless they say so).
    pub(crate) fn version(&self, project: &str, document: &str, version: u32) -> VersionRecord {
        MEMBERS
            .iter()
            .find_map(|member| {
                evidence_contracts::query::version(&self.state, member, project, document, version)
                    .expect("stored records decode")
            })
            .unwrap_or_else(|| panic!("no version {version} of {project}/{document}"))
    }

    pub(crate) fn document(&self, project: &str, document: &str) -> Option<DocumentRecord> {
        MEMBERS
            .iter()
            .find_map(|member| self.read(&document_key(member, project, document)))
    }

    pub(crate) fn project(&self, project: &str) -> Option<ProjectRecord> {
        self.read(&project_key(project))
    }

    pub(crate) fn evidence(&self, project: &str, milestone: &str) -> MilestoneEvidence {
        self.read(&milestone_evidence_key(project, milestone))
            .unwrap_or_default()
    }

    /// What has been paid against `milestone` of `project`, and against the whole contract.
    pub(crate) fn paid(&self, project: &str, milestone: &str) -> (u64, u64) {
        let record = self
            .project(project)
            .unwrap_or_else(|| panic!("{project} is not registered"));
        let account = record
            .milestone(milestone)
            .unwrap_or_else(|| panic!("{project} has no milestone {milestone}"));
        (account.paid_minor, record.paid_minor)
    }
}

/// Unwraps `InBatch` and checks its position.
#[track_caller]
pub(crate) fn in_batch(error: TxError, expected_position: usize) -> TxError {
    match error {
        TxError::InBatch { position, error } => {
            assert_eq!(position, expected_position, "batch position");
            *error
        }
        other => panic!("expected InBatch at {expected_position}, got {other:?}"),
    }
}

/// The number of property-test cases: `default`, or `PROPTEST_CASES` from the environment when
/// set (for the long runs; CI uses the defaults).
pub(crate) fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}
