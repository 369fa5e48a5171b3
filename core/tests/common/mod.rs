//! A small chain builder for tests, golden vectors and benchmarks: a seeded four-member
//! consortium, an in-memory log, and blocks certified by real validator signatures, so that
//! receipts are produced exactly as a node produces them.
#![allow(dead_code, unreachable_pub)]

use evidence_core::certificate::CommitCertificate;
use evidence_core::checkpoint::{Checkpoint, TrustAnchor};
use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::entry::{AnchorBody, Entry, MilestoneClaim, Record, SignedBatch};
use evidence_core::header::BlockHeader;
use evidence_core::keys::SigningKey;
use evidence_core::merkle::{self, MemoryStore, MerkleLog};
use evidence_core::receipt::Receipt;
use evidence_genesis::{Consortium, default_consortium};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;

pub const CHAIN_ID: &str = "evidence-vectors";
pub const GENESIS_TIME_MS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// A chain under construction.
pub struct TestChain {
    pub consortium: Consortium,
    pub trust_anchor: TrustAnchor,
    pub algorithm: HashAlgorithm,
    pub log: MerkleLog<MemoryStore>,
    pub entries: Vec<Entry>,
    pub checkpoints: Vec<Checkpoint>,
    parent_hash: Digest,
    time_ms: u64,
}

impl TestChain {
    /// A fresh chain whose every key comes from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let consortium = default_consortium(CHAIN_ID, GENESIS_TIME_MS, &mut rng);
        let trust_anchor = consortium.genesis.trust_anchor().expect("valid genesis");
        let algorithm = consortium.genesis.suite.digest;
        let parent_hash = consortium.genesis.hash();
        Self {
            consortium,
            trust_anchor,
            algorithm,
            log: MerkleLog::new(algorithm, MemoryStore::default()),
            entries: Vec::new(),
            checkpoints: Vec::new(),
            parent_hash,
            time_ms: GENESIS_TIME_MS,
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
        self.consortium.validator_keys.iter().map(|(_, k)| k).collect()
    }

    /// An anchor body for `document` filed by `member`'s filer.
    pub fn anchor_body(&self, member: &str, kind: &str, document_id: &str, document: &[u8]) -> AnchorBody {
        AnchorBody {
            chain_id: CHAIN_ID.to_owned(),
            filer: self.filer_key(member).public_key(),
            member: member.to_owned(),
            source_system: format!("{member}-filing-system"),
            captured_at_ms: self.time_ms + 500,
            project_id: "luohu-2026-001".to_owned(),
            document_id: document_id.to_owned(),
            version: 1,
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

    /// Appends `records` as one block and certifies it with the validators at `signers`
    /// (indices into the genesis validator list). Returns the checkpoint.
    pub fn commit_block_signed_by(&mut self, records: Vec<Record>, signers: &[usize]) -> Checkpoint {
        self.time_ms += 1000;
        let height = self.checkpoints.len() as u64 + 1;
        let mut tx_log = MerkleLog::new(self.algorithm, MemoryStore::default());
        for record in records {
            let entry = Entry {
                index: self.log.size(),
                height,
                sequenced_at_ms: self.time_ms,
                record,
            };
            self.log.append(entry.leaf_hash(self.algorithm)).expect("memory log");
            tx_log
                .append(merkle::leaf_hash(self.algorithm, &entry.record_bytes_for_tx_root()))
                .expect("memory log");
            self.entries.push(entry);
        }
        let proposer = self.consortium.validator_keys[(height as usize) % 4].1.public_key();
        let header = BlockHeader {
            chain_id: CHAIN_ID.to_owned(),
            height,
            time_ms: self.time_ms,
            parent_hash: self.parent_hash,
            transactions_root: Digest::new(self.algorithm, tx_log.root()),
            transaction_count: tx_log.size() as u32,
            log_size: self.log.size(),
            log_root: Digest::new(self.algorithm, self.log.root()),
            state_root: self.algorithm.hash_parts(&[b"fixture state", &height.to_be_bytes()]),
            validator_set_hash: *self.trust_anchor.validator_set_hash(),
            proposer,
        };
        let block_hash = header.hash(self.algorithm);
        let keys: Vec<&SigningKey> = signers
            .iter()
            .map(|i| &self.consortium.validator_keys[*i].1)
            .collect();
        let certificate = CommitCertificate::sign(CHAIN_ID, height, 0, block_hash, &keys);
        self.parent_hash = block_hash;
        let checkpoint = Checkpoint {
            header,
            certificate,
        };
        self.checkpoints.push(checkpoint.clone());
        checkpoint
    }

    /// As [`Self::commit_block_signed_by`], signed by the first three validators (a quorum of
    /// four).
    pub fn commit_block(&mut self, records: Vec<Record>) -> Checkpoint {
        self.commit_block_signed_by(records, &[0, 1, 2])
    }

    /// The receipt for entry `index` against `checkpoint`.
    pub fn receipt(&self, index: u64, checkpoint: &Checkpoint) -> Receipt {
        Receipt {
            entry: self.entries[index as usize].clone(),
            inclusion_proof: self
                .log
                .inclusion_proof(index, checkpoint.header.log_size)
                .expect("entry is in the log"),
            checkpoint: checkpoint.clone(),
        }
    }

    /// A payment claim, for fund-transfer bodies.
    pub fn payment(milestone: &str, amount_minor: u64) -> Option<MilestoneClaim> {
        Some(MilestoneClaim::Payment {
            milestone: milestone.to_owned(),
            amount_minor,
        })
    }
}

/// Fixture-only extension: the bytes a fixture block hashes into its transactions root (the
/// record's encoding stands in for a transaction id; the node uses real transaction ids).
trait FixtureRecordBytes {
    fn record_bytes_for_tx_root(&self) -> Vec<u8>;
}

impl FixtureRecordBytes for Entry {
    fn record_bytes_for_tx_root(&self) -> Vec<u8> {
        use evidence_core::encoding::Encode as _;
        self.record.to_canonical_bytes()
    }
}
