//! Transactions: what a filer or registrar submits, their canonical encoding and identifiers.

use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use evidence_core::entry::{
    Record, SignedBatch, SignedRegistration, SignedRevocation, batch_root, batch_signing_bytes,
    batch_tree, transaction_id, transaction_kind,
};
use evidence_core::governance::SignedGovernance;
use evidence_core::merkle::{MemoryStore, MerkleLog, NodeHash};

const TRANSACTION_VERSION: u8 = 1;

/// A signed request to change the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transaction {
    /// Anchor one or more documents under one filer signature (tag 1).
    Anchor(SignedBatch),
    /// Revoke one document version (tag 2).
    Revoke(SignedRevocation),
    /// Register a project contract and its milestones (tag 3).
    RegisterProject(SignedRegistration),
    /// A member's governance transaction, signed by one of its governance keys (tag 4).
    Governance(Box<SignedGovernance>),
}

impl Transaction {
    /// A governance transaction (boxed: it is rare and large).
    pub fn governance(signed: SignedGovernance) -> Self {
        Self::Governance(Box::new(signed))
    }

    const fn tag(&self) -> u8 {
        match self {
            Self::Anchor(_) => transaction_kind::ANCHOR,
            Self::Revoke(_) => transaction_kind::REVOKE,
            Self::RegisterProject(_) => transaction_kind::REGISTER_PROJECT,
            Self::Governance(_) => transaction_kind::GOVERNANCE,
        }
    }

    /// A short name for logs and errors.
    pub const fn kind_name(&self) -> &'static str {
        match self {
            Self::Anchor(_) => "anchor",
            Self::Revoke(_) => "revoke",
            Self::RegisterProject(_) => "register-project",
            Self::Governance(governance) => governance.body.action.name(),
        }
    }

    /// The transaction identifier: `H(prefix || tag || signed bytes)`, over what the signer
    /// signed and not the signature itself, so it is also the replay-protection key (SPEC.md
    /// §7.2). `None` for an anchor batch that is empty or too long, which no chain accepts.
    pub fn id(&self, algorithm: HashAlgorithm) -> Option<Digest> {
        let signed = match self {
            Self::Anchor(batch) => {
                let root = batch_root(algorithm, &batch.anchors).ok()?;
                return Some(anchor_id(algorithm, batch, &root));
            }
            Self::Revoke(revocation) => revocation.body.signing_bytes(),
            Self::RegisterProject(registration) => registration.body.signing_bytes(),
            Self::Governance(governance) => governance.body.signing_bytes(),
        };
        Some(transaction_id(algorithm, self.tag(), &signed))
    }
}

/// The identifier of an anchor batch whose batch root is `root` (as [`Transaction::id`]).
pub fn anchor_id(algorithm: HashAlgorithm, batch: &SignedBatch, root: &NodeHash) -> Digest {
    transaction_id(
        algorithm,
        transaction_kind::ANCHOR,
        &batch_signing_bytes(algorithm, batch.anchors.len() as u32, root),
    )
}

/// A transaction with its identifier computed once and, for an anchor batch, the batch tree
/// that the identifier, the filer's signature and the documents' paths all need: built once
/// for one execution of the transaction instead of once for each of them.
#[derive(Debug)]
pub struct Prepared<'t> {
    transaction: &'t Transaction,
    algorithm: HashAlgorithm,
    id: Option<Digest>,
    batch_tree: Option<MerkleLog<MemoryStore>>,
    /// The length of the bytes the transaction was decoded from, when it was.
    encoded_len: Option<usize>,
}

impl<'t> Prepared<'t> {
    pub fn new(transaction: &'t Transaction, algorithm: HashAlgorithm) -> Self {
        let (id, batch_tree) = match transaction {
            Transaction::Anchor(batch) => match batch_tree(algorithm, &batch.anchors) {
                Ok(tree) => (Some(anchor_id(algorithm, batch, &tree.root())), Some(tree)),
                Err(_) => (None, None),
            },
            other => (other.id(algorithm), None),
        };
        Self {
            transaction,
            algorithm,
            id,
            batch_tree,
            encoded_len: None,
        }
    }

    /// As [`Prepared::new`], for a transaction decoded from `encoded_len` bytes (the caller
    /// passes the length of the very bytes it decoded). Decoding is canonical (what decodes
    /// encodes to the same bytes), so execution takes its size from here and need not encode
    /// it again to check its size and the encoding's limits.
    pub fn decoded(
        transaction: &'t Transaction,
        algorithm: HashAlgorithm,
        encoded_len: usize,
    ) -> Self {
        Self {
            encoded_len: Some(encoded_len),
            ..Self::new(transaction, algorithm)
        }
    }

    /// The length of the bytes the transaction was decoded from, if it was.
    pub const fn encoded_len(&self) -> Option<usize> {
        self.encoded_len
    }

    /// The algorithm the id and the tree are computed with.
    pub const fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    pub const fn transaction(&self) -> &'t Transaction {
        self.transaction
    }

    /// As [`Transaction::id`].
    pub const fn id(&self) -> Option<Digest> {
        self.id
    }

    /// The batch tree of an anchor batch of a valid length.
    pub const fn batch_tree(&self) -> Option<&MerkleLog<MemoryStore>> {
        self.batch_tree.as_ref()
    }

    /// The records the transaction appends to the log when it is accepted, in order: one per
    /// document of an anchor batch, each with its path in the batch tree and the batch's
    /// signature; the transaction itself for the other kinds. `None` for an anchor batch of a
    /// length no chain accepts (it has no tree, and no id). Execution takes an accepted
    /// transaction's records from here, and a node's store derives a committed entry from its
    /// block the same way, so the two cannot differ.
    pub fn records(&self) -> Option<Vec<Record>> {
        Some(match self.transaction {
            Transaction::Anchor(batch) => batch
                .documents(self.batch_tree.as_ref()?)
                .into_iter()
                .map(Record::Anchor)
                .collect(),
            Transaction::Revoke(revocation) => vec![Record::Revocation(revocation.clone())],
            Transaction::RegisterProject(registration) => {
                vec![Record::Registration(registration.clone())]
            }
            Transaction::Governance(governance) => vec![Record::Governance(governance.clone())],
        })
    }
}

impl Encode for Transaction {
    fn encode(&self, writer: &mut Writer) {
        writer.u8(TRANSACTION_VERSION).u8(self.tag());
        match self {
            Self::Anchor(batch) => writer.put(batch),
            Self::Revoke(revocation) => writer.put(revocation),
            Self::RegisterProject(registration) => writer.put(registration),
            Self::Governance(governance) => writer.put(governance.as_ref()),
        };
    }
}

impl Decode for Transaction {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = reader.u8("transaction version")?;
        if version != TRANSACTION_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what: "transaction",
                version,
            });
        }
        match reader.u8("transaction kind")? {
            1 => Ok(Self::Anchor(reader.get()?)),
            2 => Ok(Self::Revoke(reader.get()?)),
            3 => Ok(Self::RegisterProject(reader.get()?)),
            4 => Ok(Self::Governance(Box::new(reader.get()?))),
            tag => Err(DecodeError::UnknownTag {
                what: "transaction kind",
                tag,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use evidence_core::digest::HashAlgorithm;
    use evidence_core::entry::{AnchorBody, Record, RevocationBody, SignedBatch};
    use evidence_core::keys::SigningKey;

    use super::{Prepared, Transaction};
    use evidence_core::entry::batch_root;

    fn body(key: &SigningKey, document_id: &str) -> AnchorBody {
        AnchorBody {
            chain_id: "evidence-test".into(),
            filer: key.public_key(),
            member: "bureau".into(),
            source_system: "filing".into(),
            captured_at_ms: 1,
            project_id: "p".into(),
            document_id: document_id.into(),
            document_version: 1,
            kind: "completion-drawing".into(),
            digest: HashAlgorithm::Blake3.hash(document_id.as_bytes()),
            supersedes: None,
            claim: None,
        }
    }

    #[test]
    fn a_prepared_transaction_has_the_same_id_and_tree() {
        let algorithm = HashAlgorithm::Blake3;
        let key = SigningKey::from_seed(&[6; 32]);
        let bodies = (0..7).map(|i| body(&key, &format!("d{i}"))).collect();
        let batch = SignedBatch::sign(algorithm, bodies, &key).unwrap();
        let transaction = Transaction::Anchor(batch.clone());
        let prepared = Prepared::new(&transaction, algorithm);
        assert_eq!(prepared.id(), transaction.id(algorithm));
        let tree = prepared.batch_tree().unwrap();
        assert_eq!(tree.root(), batch_root(algorithm, &batch.anchors).unwrap());
        assert_eq!(
            batch.documents(tree),
            batch.clone().into_documents(algorithm).unwrap()
        );
        batch
            .verify_root(algorithm, &key.public_key(), &tree.root())
            .unwrap();
        // An empty batch has neither.
        let empty = Transaction::Anchor(SignedBatch {
            anchors: Vec::new(),
            signature: batch.signature,
        });
        let prepared = Prepared::new(&empty, algorithm);
        assert!(prepared.id().is_none() && prepared.batch_tree().is_none());
    }

    #[test]
    fn every_record_of_a_transaction_names_its_id() {
        let algorithm = HashAlgorithm::Blake3;
        let key = SigningKey::from_seed(&[5; 32]);
        let bodies = (0..5).map(|i| body(&key, &format!("d{i}"))).collect();
        let batch = SignedBatch::sign(algorithm, bodies, &key).unwrap();
        let id = Transaction::Anchor(batch.clone()).id(algorithm).unwrap();
        for document in batch.into_documents(algorithm).unwrap() {
            assert_eq!(
                Record::Anchor(document).transaction_id(algorithm).unwrap(),
                id
            );
        }
        let revocation = RevocationBody {
            chain_id: "evidence-test".into(),
            filer: key.public_key(),
            member: "bureau".into(),
            project_id: "p".into(),
            document_id: "d0".into(),
            document_version: 1,
            digest: HashAlgorithm::Blake3.hash(b"d0"),
            reason: "wrong sheet".into(),
            revoked_at_ms: 2,
        }
        .sign(&key);
        assert_eq!(
            Record::Revocation(revocation.clone())
                .transaction_id(algorithm)
                .unwrap(),
            Transaction::Revoke(revocation).id(algorithm).unwrap()
        );
    }
}
