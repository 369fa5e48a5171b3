//! A document to notarize: where its bytes come from and what its filer states about it.

use std::io::Read;
use std::path::PathBuf;

use evidence_core::digest::{Digest, HashAlgorithm, hash_file, hash_reader};
use evidence_core::entry::MilestoneClaim;

use crate::error::ClientError;

/// Where a document's bytes come from. Only its digest leaves the machine.
pub enum DocumentSource {
    /// A file, hashed in streaming fashion (large files on several threads).
    File(PathBuf),
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// Any reader, read to its end.
    Reader(Box<dyn Read + Send>),
    /// A digest computed elsewhere, under the chain's hash algorithm.
    Digest(Digest),
}

impl std::fmt::Debug for DocumentSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            Self::Reader(_) => f.write_str("Reader"),
            Self::Digest(digest) => f.debug_tuple("Digest").field(digest).finish(),
        }
    }
}

impl From<PathBuf> for DocumentSource {
    fn from(path: PathBuf) -> Self {
        Self::File(path)
    }
}

impl From<&std::path::Path> for DocumentSource {
    fn from(path: &std::path::Path) -> Self {
        Self::File(path.to_owned())
    }
}

impl From<Vec<u8>> for DocumentSource {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Bytes(bytes)
    }
}

impl DocumentSource {
    /// The document's digest under `algorithm`. Blocking: call it off the async runtime.
    ///
    /// # Errors
    /// The file or reader cannot be read, or a given digest is of another algorithm.
    pub fn digest(self, algorithm: HashAlgorithm) -> Result<Digest, ClientError> {
        match self {
            Self::File(path) => {
                hash_file(algorithm, &path).map_err(|source| ClientError::Read { path, source })
            }
            Self::Bytes(bytes) => Ok(algorithm.hash(&bytes)),
            Self::Reader(reader) => {
                hash_reader(algorithm, reader).map_err(|source| ClientError::Read {
                    path: PathBuf::from("<reader>"),
                    source,
                })
            }
            Self::Digest(digest) if digest.algorithm == algorithm => Ok(digest),
            Self::Digest(digest) => Err(ClientError::Invalid(format!(
                "the digest {digest} is not a {} digest, which this chain uses",
                algorithm.name()
            ))),
        }
    }
}

/// Which version of its document an upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version {
    /// Ask the ledger: version 1 for a new document id, otherwise one more than the filing
    /// member's latest version, superseding it. The answer is verified like any other.
    #[default]
    Next,
    /// This exact version; for version > 1, `supersedes` is the digest of the version before.
    Exact {
        version: u32,
        supersedes: Option<Digest>,
    },
}

/// What the filer states about a document: the provenance the ledger records and signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentMeta {
    /// The document kind, e.g. `completion-drawing`; the genesis policy decides who may anchor it.
    pub kind: String,
    pub project_id: String,
    /// The document's id within the project; its versions share it.
    pub document_id: String,
    /// The system that captured the document (e.g. the bureau's filing system).
    pub source_system: String,
    /// When the source system captured it, in Unix milliseconds; `None` for now.
    pub captured_at_ms: Option<u64>,
    pub version: Version,
    /// Milestone facts: an inspection result for `inspection-report`, a payment for
    /// `fund-transfer`.
    pub claim: Option<MilestoneClaim>,
}

impl DocumentMeta {
    /// A first-or-next version of `document_id` of `kind` in `project_id`, captured now.
    pub fn new(
        kind: impl Into<String>,
        project_id: impl Into<String>,
        document_id: impl Into<String>,
        source_system: impl Into<String>,
    ) -> Self {
        Self {
            kind: kind.into(),
            project_id: project_id.into(),
            document_id: document_id.into(),
            source_system: source_system.into(),
            captured_at_ms: None,
            version: Version::Next,
            claim: None,
        }
    }

    /// The same, with a milestone claim.
    #[must_use]
    pub fn with_claim(mut self, claim: MilestoneClaim) -> Self {
        self.claim = Some(claim);
        self
    }
}
