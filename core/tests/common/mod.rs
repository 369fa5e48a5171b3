//! A small chain builder for tests, golden vectors and benchmarks: a seeded four-member
//! consortium, an in-memory log, and blocks certified by real validator signatures, so that
//! receipts are produced exactly as a node produces them. The validator set may change
//! ([`TestChain::change_validators`]); receipts then carry the hand-offs (SPEC.md §9.4). A
//! receipt for an anchor whose filer was registered on the chain carries its registration,
//! and its revocation when the checkpoint's log holds one (SPEC.md §9.5).
#![allow(dead_code, unreachable_pub)]

use evidence_core::certificate::CommitCertificate;
use evidence_core::checkpoint::{Checkpoint, Handoff, TrustAnchor};
use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::encoding::Encode as _;
use evidence_core::entry::{
    AnchorBody, Entry, Milestone, MilestoneClaim, ProjectRegistrationBody, Record, RevocationBody,
    SignedBatch,
};
use evidence_core::governance::GovernanceAction;
use evidence_core::header::{BlockHeader, transactions_root};
use evidence_core::keys::{PublicKey, SigningKey};
use evidence_core::merkle::{self, MemoryStore, MerkleLog};
use evidence_core::receipt::{EntryProof, Receipt};
use evidence_core::validators::{Validator, ValidatorSet};
use evidence_genesis::{Consortium, default_consortium_with_suite};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;

pub const CHAIN_ID: &str = "evidence-vectors";
/// The project every anchor body of [`TestChain::anchor_body`] is filed under.
pub const PROJECT_ID: &str = "luohu-2026-001";
pub const GENESIS_TIME_MS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// A chain under construction.
pub struct TestChain {
    /// The chain id of the genesis, of every header and of every anchor body this builder makes.
    pub chain_id: String,
    pub consortium: Consortium,
    pub trust_anchor: TrustAnchor,
    pub algorithm: HashAlgorithm,
    pub log: MerkleLog<MemoryStore>,
    pub entries: Vec<Entry>,
    pub checkpoints: Vec<Checkpoint>,
    /// The genesis hash the headers name: this chain's own, unless a test makes them claim
    /// another consortium's.
    pub header_genesis_hash: Digest,
    /// One hand-off per change of the validator set so far, in height order: the checkpoint
    /// of the block that made the change and the set it names as the next.
    pub handoffs: Vec<Handoff>,
    parent_hash: Digest,
    time_ms: u64,
    /// The set that certifies the next block committed: genesis's until a change.
    certifying_set: ValidatorSet,
    /// That set's keys, in the order `signers` indices name them (genesis order at first).
    certifying_keys: Vec<SigningKey>,
    /// The set the next block committed names as the next one, when it changes the set.
    next_validators: Option<(ValidatorSet, Vec<SigningKey>)>,
    /// The state root the next block committed names, in place of the stand-in derived from
    /// its height ([`Self::commit_block_with_state_root`]).
    next_state_root: Option<Digest>,
}

impl TestChain {
    /// A fresh chain whose every key comes from `seed`.
    pub fn new(seed: u64) -> Self {
        Self::with_options(seed, CHAIN_ID, HashAlgorithm::Blake3)
    }

    /// As [`Self::new`], for another chain id. The keys depend on `seed` only, so two chains
    /// built from one seed have the same validators and filers.
    pub fn with_chain_id(seed: u64, chain_id: &str) -> Self {
        Self::with_options(seed, chain_id, HashAlgorithm::Blake3)
    }

    /// As [`Self::new`], with `algorithm` as the chain's hash algorithm (`suite.digest`).
    pub fn with_algorithm(seed: u64, algorithm: HashAlgorithm) -> Self {
        Self::with_options(seed, CHAIN_ID, algorithm)
    }

    /// A fresh chain of the default consortium under `suite` (the national suite, say), every
    /// key from `seed`.
    pub fn with_suite(seed: u64, chain_id: &str, suite: evidence_genesis::Suite) -> Self {
        Self::build(seed, chain_id, suite, |_| {})
    }

    /// A fresh chain with the given chain id and hash algorithm, every key from `seed`.
    pub fn with_options(seed: u64, chain_id: &str, algorithm: HashAlgorithm) -> Self {
        Self::with_genesis(seed, chain_id, algorithm, |_| {})
    }

    /// As [`Self::with_options`], with `change` applied to the genesis file before it is used
    /// (another consortium that shares chain id and keys, say).
    pub fn with_genesis(
        seed: u64,
        chain_id: &str,
        algorithm: HashAlgorithm,
        change: impl FnOnce(&mut evidence_genesis::Genesis),
    ) -> Self {
        let suite = evidence_genesis::Suite {
            digest: algorithm,
            ..evidence_genesis::Suite::DEFAULT
        };
        Self::build(seed, chain_id, suite, change)
    }

    fn build(
        seed: u64,
        chain_id: &str,
        suite: evidence_genesis::Suite,
        change: impl FnOnce(&mut evidence_genesis::Genesis),
    ) -> Self {
        let algorithm = suite.digest;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut consortium =
            default_consortium_with_suite(chain_id, GENESIS_TIME_MS, suite, &mut rng);
        change(&mut consortium.genesis);
        consortium.genesis.validate().expect("valid genesis");
        let trust_anchor = consortium.genesis.trust_anchor().expect("valid genesis");
        let parent_hash = consortium.genesis.hash();
        let certifying_set = trust_anchor.validators().clone();
        let certifying_keys = consortium
            .validator_keys
            .iter()
            .map(|(_, key)| key.clone())
            .collect();
        Self {
            chain_id: chain_id.to_owned(),
            consortium,
            trust_anchor,
            algorithm,
            log: MerkleLog::new(algorithm, MemoryStore::default()),
            entries: Vec::new(),
            checkpoints: Vec::new(),
            header_genesis_hash: parent_hash,
            handoffs: Vec::new(),
            parent_hash,
            time_ms: GENESIS_TIME_MS,
            certifying_set,
            certifying_keys,
            next_validators: None,
            next_state_root: None,
        }
    }

    pub fn filer_key(&self, member: &str) -> &SigningKey {
        &self
            .consortium
            .filer_keys
            .iter()
            .find(|(m, _)| m == member)
            .expect("member has a filer")
            .1
    }

    pub fn validator_keys(&self) -> Vec<&SigningKey> {
        self.consortium
            .validator_keys
            .iter()
            .map(|(_, k)| k)
            .collect()
    }

    /// An anchor body for `document` filed by `member`'s filer.
    pub fn anchor_body(
        &self,
        member: &str,
        kind: &str,
        document_id: &str,
        document: &[u8],
    ) -> AnchorBody {
        AnchorBody {
            chain_id: self.chain_id.clone(),
            filer: self.filer_key(member).public_key(),
            member: member.to_owned(),
            source_system: format!("{member}-filing-system"),
            captured_at_ms: self.time_ms + 500,
            project_id: PROJECT_ID.to_owned(),
            document_id: document_id.to_owned(),
            document_version: 1,
            kind: kind.to_owned(),
            digest: self.algorithm.hash(document),
            supersedes: None,
            claim: None,
        }
    }

    /// Signs `bodies` as one batch by `member`'s filer and returns the records.
    pub fn batch(&self, member: &str, bodies: Vec<AnchorBody>) -> Vec<Record> {
        SignedBatch::sign(self.algorithm, bodies, self.filer_key(member))
            .expect("valid batch")
            .into_documents(self.algorithm)
            .expect("valid batch")
            .into_iter()
            .map(Record::Anchor)
            .collect()
    }

    /// The keys of the set that certifies the next block committed, in the order `signers`
    /// indices name them: the genesis validators in genesis order until a change, then the
    /// order given to [`Self::change_validators`].
    pub fn certifying_keys(&self) -> Vec<&SigningKey> {
        self.certifying_keys.iter().collect()
    }

    /// The validator set that certifies the next block committed.
    pub fn certifying_set(&self) -> &ValidatorSet {
        &self.certifying_set
    }

    /// Changes the validator set as an accepted proposal does (SPEC.md §11.4): the next block
    /// committed is certified by the current set and names the set of `validators` (each key
    /// with its voting power, in the order later `signers` indices name them) as
    /// `next_validator_set_hash`; it becomes a hand-off in [`Self::handoffs`], and the blocks
    /// after it are certified by the new set. Returns the new set.
    pub fn change_validators(&mut self, validators: Vec<(SigningKey, u64)>) -> ValidatorSet {
        let set = ValidatorSet::new(
            validators
                .iter()
                .map(|(key, voting_power)| Validator {
                    public_key: key.public_key(),
                    voting_power: *voting_power,
                })
                .collect(),
        )
        .expect("a valid validator set");
        assert_ne!(
            set.hash(self.algorithm),
            self.certifying_set.hash(self.algorithm),
            "a change names another set"
        );
        let keys = validators.into_iter().map(|(key, _)| key).collect();
        self.next_validators = Some((set.clone(), keys));
        set
    }

    /// Appends `records` as one block and certifies it with the validators at `signers`
    /// (indices into [`Self::certifying_keys`]: the genesis validator list until the set
    /// changes). Returns the checkpoint.
    pub fn commit_block_signed_by(
        &mut self,
        records: Vec<Record>,
        signers: &[usize],
    ) -> Checkpoint {
        self.commit_block_with_patched_entries(records, signers, |_, bytes| bytes)
    }

    /// As [`Self::commit_block_signed_by`], except that the log leaf of each new entry is the
    /// hash of `patch(entry, canonical bytes of entry)` instead of the canonical bytes: a way to
    /// put under a certificate entry bytes the types cannot hold (a key encoding the decoder
    /// refuses, say). `self.entries` keeps the entries as built, so a receipt for a patched
    /// entry must carry the patched bytes. A patched entry's record adds no transaction id (no
    /// node could decode its transaction); the others add theirs as usual.
    pub fn commit_block_with_patched_entries(
        &mut self,
        records: Vec<Record>,
        signers: &[usize],
        patch: impl Fn(&Entry, Vec<u8>) -> Vec<u8>,
    ) -> Checkpoint {
        self.time_ms += 1000;
        let height = self.checkpoints.len() as u64 + 1;
        // No contract runs here: unless a test gives one, the state root is a stand-in.
        let state_root = self.next_state_root.take().unwrap_or_else(|| {
            self.algorithm
                .hash_parts(&[b"fixture state", &height.to_be_bytes()])
        });
        // Consecutive records from one transaction (the documents of one batch) share its id.
        let mut transaction_ids: Vec<Digest> = Vec::new();
        for record in records {
            let entry = Entry {
                index: self.log.size(),
                height,
                sequenced_at_ms: self.time_ms,
                record,
            };
            let canonical = entry.to_canonical_bytes();
            let bytes = patch(&entry, canonical.clone());
            if bytes == canonical
                && let Ok(id) = entry.record.transaction_id(self.algorithm)
                && transaction_ids.last() != Some(&id)
            {
                transaction_ids.push(id);
            }
            self.log
                .append(merkle::leaf_hash(self.algorithm, &bytes))
                .expect("memory log");
            self.entries.push(entry);
        }
        let proposer =
            self.certifying_keys[(height as usize) % self.certifying_keys.len()].public_key();
        let next_set = self
            .next_validators
            .as_ref()
            .map_or(&self.certifying_set, |(set, _)| set);
        let header = BlockHeader {
            chain_id: self.chain_id.clone(),
            genesis_hash: self.header_genesis_hash,
            height,
            time_ms: self.time_ms,
            parent_hash: self.parent_hash,
            transactions_root: transactions_root(self.algorithm, &transaction_ids),
            transaction_count: transaction_ids.len() as u32,
            log_size: self.log.size(),
            log_root: Digest::new(self.algorithm, self.log.root()),
            state_root,
            validator_set_hash: self.certifying_set.hash(self.algorithm),
            next_validator_set_hash: next_set.hash(self.algorithm),
            proposer,
        };
        let block_hash = header.hash(self.algorithm);
        let keys: Vec<&SigningKey> = signers.iter().map(|i| &self.certifying_keys[*i]).collect();
        let certificate = CommitCertificate::sign(&self.chain_id, height, 0, block_hash, &keys);
        self.parent_hash = block_hash;
        let checkpoint = Checkpoint {
            header,
            certificate,
        };
        self.checkpoints.push(checkpoint.clone());
        if let Some((set, keys)) = self.next_validators.take() {
            self.handoffs.push(Handoff {
                checkpoint: checkpoint.clone(),
                validators: set.clone(),
            });
            self.certifying_set = set;
            self.certifying_keys = keys;
        }
        checkpoint
    }

    /// As [`Self::commit_block_signed_by`], with `state_root` in the header in place of the
    /// stand-in derived from the height: the root of a state tree the test built (SPEC.md
    /// §11.3), so that status proofs can be made against the block.
    pub fn commit_block_with_state_root(
        &mut self,
        records: Vec<Record>,
        signers: &[usize],
        state_root: Digest,
    ) -> Checkpoint {
        self.next_state_root = Some(state_root);
        self.commit_block_signed_by(records, signers)
    }

    /// As [`Self::commit_block_signed_by`], signed by the first three validators (a quorum of
    /// four).
    pub fn commit_block(&mut self, records: Vec<Record>) -> Checkpoint {
        self.commit_block_signed_by(records, &[0, 1, 2])
    }

    /// The receipt for entry `index` against `checkpoint`, as a node gives it: with the
    /// hand-offs of the changes of the validator set below the checkpoint's height (none while
    /// genesis's set certifies) and, for an anchor, its filer's registration and revocation as
    /// far as the checkpoint's log holds them ([`Self::filer_evidence`]).
    pub fn receipt(&self, index: u64, checkpoint: &Checkpoint) -> Receipt {
        let entry = self.entries[index as usize].clone();
        let log_size = checkpoint.header.log_size;
        let (registration, revocation) = entry.anchor().map_or((None, None), |document| {
            self.filer_evidence(&document.body.filer, log_size)
        });
        Receipt {
            entry,
            inclusion_proof: self
                .log
                .inclusion_proof(index, log_size)
                .expect("entry is in the log"),
            checkpoint: checkpoint.clone(),
            handoffs: self
                .handoffs
                .iter()
                .filter(|h| h.checkpoint.header.height < checkpoint.header.height)
                .cloned()
                .collect(),
            registration,
            revocation,
        }
    }

    /// The entries among the first `log_size` that register and revoke filer `key` (a
    /// governance transaction registering or revoking it, a rotation's either part), each
    /// with its inclusion proof in the log of `log_size` entries: the first of each, as the
    /// ledger accepts one registration of a key and one revocation. A genesis filer has no
    /// registration. The builder applies no rules, so a governance entry a correct node
    /// would refuse counts too (a way to make receipts that carry one).
    pub fn filer_evidence(
        &self,
        key: &PublicKey,
        log_size: u64,
    ) -> (Option<EntryProof>, Option<EntryProof>) {
        let governance = self.entries[..log_size as usize]
            .iter()
            .filter_map(|entry| match &entry.record {
                Record::Governance(signed) => Some((entry.index, &signed.body.action)),
                _ => None,
            });
        let mut registration = None;
        let mut revocation = None;
        for (index, action) in governance {
            let (revoked, registered) = match action {
                GovernanceAction::RegisterFiler(register) => (None, Some(register)),
                GovernanceAction::RevokeFiler(revoke) => (Some(revoke), None),
                GovernanceAction::RotateFiler { revoke, register } => {
                    (Some(revoke), Some(register))
                }
                GovernanceAction::Propose(_) | GovernanceAction::Vote(_) => (None, None),
            };
            if registration.is_none() && registered.is_some_and(|r| r.public_key == *key) {
                registration = Some(index);
            }
            if revocation.is_none() && revoked.is_some_and(|r| r.public_key == *key) {
                revocation = Some(index);
            }
        }
        (
            registration.map(|index| self.entry_proof(index, log_size)),
            revocation.map(|index| self.entry_proof(index, log_size)),
        )
    }

    /// Entry `index` with its inclusion proof in the log of `log_size` entries.
    pub fn entry_proof(&self, index: u64, log_size: u64) -> EntryProof {
        EntryProof {
            entry: self.entries[index as usize].clone(),
            inclusion_proof: self
                .log
                .inclusion_proof(index, log_size)
                .expect("entry is in the log"),
        }
    }

    /// The time of the last block committed (the genesis time before the first).
    pub fn time_ms(&self) -> u64 {
        self.time_ms
    }

    /// The validator key of genesis validator `index`.
    pub fn validator_key(&self, index: usize) -> &SigningKey {
        &self.consortium.validator_keys[index].1
    }

    /// A record revoking the document version `anchored`, signed by `member`'s filer.
    pub fn revocation(&self, member: &str, anchored: &AnchorBody, reason: &str) -> Record {
        let body = RevocationBody {
            chain_id: self.chain_id.clone(),
            filer: self.filer_key(member).public_key(),
            member: member.to_owned(),
            project_id: anchored.project_id.clone(),
            document_id: anchored.document_id.clone(),
            document_version: anchored.document_version,
            digest: anchored.digest,
            reason: reason.to_owned(),
            revoked_at_ms: self.time_ms + 500,
        };
        Record::Revocation(body.sign(self.filer_key(member)))
    }

    /// A record registering `project_id` with `milestones` (id, amount), whose total is the
    /// contract value, signed by `member`'s filer.
    pub fn registration(
        &self,
        member: &str,
        project_id: &str,
        milestones: &[(&str, u64)],
    ) -> Record {
        let body = ProjectRegistrationBody {
            chain_id: self.chain_id.clone(),
            registrar: self.filer_key(member).public_key(),
            member: member.to_owned(),
            project_id: project_id.to_owned(),
            total_value_minor: milestones.iter().map(|(_, amount)| amount).sum(),
            milestones: milestones
                .iter()
                .map(|(id, amount_minor)| Milestone {
                    id: (*id).to_owned(),
                    amount_minor: *amount_minor,
                })
                .collect(),
            registered_at_ms: self.time_ms + 500,
        };
        Record::Registration(body.sign(self.filer_key(member)))
    }

    /// A payment claim, for fund-transfer bodies.
    pub fn payment(milestone: &str, amount_minor: u64) -> Option<MilestoneClaim> {
        Some(MilestoneClaim::Payment {
            milestone: milestone.to_owned(),
            amount_minor,
        })
    }
}

/// The number of property-test cases: `default`, or `PROPTEST_CASES` from the environment when
/// set (for the long runs; CI uses the defaults).
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}
