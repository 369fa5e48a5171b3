//! The records a verifier reads from the state tree (SPEC.md §11.1, §11.2): a document's
//! lineage head with its latest version, an earlier version's record, a project's contract
//! and payments; and the keys they live under. The contracts write them; a status proof
//! (SPEC.md §8.3) carries them, and a verifier decodes them from here.

use crate::digest::Digest;
use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use crate::entry::{ID_LEN_MAX, MILESTONES_MAX, REASON_LEN_MAX};

/// Key tags (SPEC.md §11.1) of the records in this module.
pub mod tag {
    pub const DOCUMENT: u8 = b'd';
    pub const VERSION: u8 = b'v';
    pub const PROJECT: u8 = b'p';
}

/// Document ids are a member's own: each member's filing system numbers its documents, so
/// lineage is keyed by member as well as project and id, and no member can take (or block)
/// another's ids.
pub fn document_key(member: &str, project_id: &str, document_id: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(tag::DOCUMENT)
        .str(member)
        .str(project_id)
        .str(document_id);
    w.into_bytes()
}

pub fn version_key(member: &str, project_id: &str, document_id: &str, version: u32) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(tag::VERSION)
        .str(member)
        .str(project_id)
        .str(document_id)
        .u32(version);
    w.into_bytes()
}

pub fn project_key(project_id: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(tag::PROJECT).str(project_id);
    w.into_bytes()
}

fn read_id(reader: &mut Reader<'_>, what: &'static str) -> Result<String, DecodeError> {
    Ok(reader.str_max(ID_LEN_MAX, what)?.to_owned())
}

/// A document's lineage head (under [`document_key`]), carrying its latest version's record.
///
/// The latest version's record lives here, not under its own [`version_key`]: filing a new
/// document writes one state key, not two. When a later version supersedes it, the record
/// (now marked superseded) moves to its [`version_key`], and the new version's takes its
/// place here (SPEC.md §11.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    pub kind: String,
    /// The member that filed version 1; only its filers may add versions or revoke.
    pub member: String,
    pub latest_version: u32,
    /// The milestone the latest version's inspection claim names, if it passed.
    pub passing_milestone: Option<String>,
    /// The latest version's record.
    pub latest: VersionRecord,
}

impl DocumentRecord {
    /// The latest version's digest.
    pub fn latest_digest(&self) -> Digest {
        self.latest.digest
    }
}

impl Encode for DocumentRecord {
    fn encode(&self, writer: &mut Writer) {
        writer
            .str(&self.kind)
            .str(&self.member)
            .u32(self.latest_version)
            .option(self.passing_milestone.as_ref(), |w, m| {
                w.str(m);
            })
            .put(&self.latest);
    }
}

impl Decode for DocumentRecord {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            kind: read_id(reader, "kind")?,
            member: read_id(reader, "member")?,
            latest_version: reader.u32("latest version")?,
            passing_milestone: reader.option("passing milestone", |r| read_id(r, "milestone"))?,
            latest: reader.get()?,
        })
    }
}

/// What a document version's record says of it, in one word (SPEC.md §11.2): a revoked
/// version is revoked whatever else happened to it, a version replaced by a later one is
/// superseded, any other is current. The record keeps both facts
/// ([`VersionRecord::superseded_by`], [`VersionRecord::revocation`]); this is their summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionStatus {
    /// The newest version, not revoked.
    Current,
    /// A later version replaced it.
    SupersededBy { version: u32, digest: Digest },
    /// Withdrawn by the revocation at log index `entry_index` (it may also be superseded).
    Revoked { reason: String, entry_index: u64 },
}

/// The later version that replaced a version: its number, its digest and the height that
/// anchored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supersession {
    pub version: u32,
    pub digest: Digest,
    pub height: u64,
}

/// The revocation of a version by its filer: the reason, the revocation's log index and the
/// height that sequenced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRevocation {
    pub reason: String,
    pub entry_index: u64,
    pub height: u64,
}

/// One document version: the latest's inside its [`DocumentRecord`], each earlier one under
/// its [`version_key`].
///
/// Supersession and revocation are two acts with two meanings — a newer version exists (the
/// document's currency), the filer withdrew this one (its validity) — so the record keeps each
/// on its own: a version revoked and then superseded, or superseded and then revoked, shows
/// both, and neither act hides the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    pub digest: Digest,
    /// The log index of the entry that anchored this version.
    pub entry_index: u64,
    pub height: u64,
    /// The version that replaced this one, once one did.
    pub superseded_by: Option<Supersession>,
    /// The revocation of this version, once its filer revoked it.
    pub revocation: Option<VersionRevocation>,
}

impl VersionRecord {
    /// The summary of the record's facts (revoked first, then superseded, else current).
    pub fn status(&self) -> VersionStatus {
        match (&self.revocation, &self.superseded_by) {
            (Some(revocation), _) => VersionStatus::Revoked {
                reason: revocation.reason.clone(),
                entry_index: revocation.entry_index,
            },
            (None, Some(next)) => VersionStatus::SupersededBy {
                version: next.version,
                digest: next.digest,
            },
            (None, None) => VersionStatus::Current,
        }
    }
}

impl Encode for VersionRecord {
    fn encode(&self, writer: &mut Writer) {
        writer
            .put(&self.digest)
            .u64(self.entry_index)
            .u64(self.height)
            .option(self.superseded_by.as_ref(), |w, next| {
                w.u32(next.version).put(&next.digest).u64(next.height);
            })
            .option(self.revocation.as_ref(), |w, revocation| {
                w.str(&revocation.reason)
                    .u64(revocation.entry_index)
                    .u64(revocation.height);
            });
    }
}

impl Decode for VersionRecord {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            digest: reader.get()?,
            entry_index: reader.u64("entry index")?,
            height: reader.u64("height")?,
            superseded_by: reader.option("superseded by", |r| {
                Ok(Supersession {
                    version: r.u32("superseding version")?,
                    digest: r.get()?,
                    height: r.u64("superseding height")?,
                })
            })?,
            revocation: reader.option("revocation", |r| {
                Ok(VersionRevocation {
                    reason: r.str_max(REASON_LEN_MAX, "revocation reason")?.to_owned(),
                    entry_index: r.u64("revocation entry index")?,
                    height: r.u64("revocation height")?,
                })
            })?,
        })
    }
}

/// A milestone of a registered project, with what has been paid against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilestoneAccount {
    pub id: String,
    pub amount_minor: u64,
    pub paid_minor: u64,
}

/// A registered project contract (under [`project_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRecord {
    pub registrar_member: String,
    pub total_value_minor: u64,
    pub paid_minor: u64,
    pub milestones: Vec<MilestoneAccount>,
}

impl ProjectRecord {
    pub fn milestone_mut(&mut self, id: &str) -> Option<&mut MilestoneAccount> {
        self.milestones.iter_mut().find(|m| m.id == id)
    }

    pub fn milestone(&self, id: &str) -> Option<&MilestoneAccount> {
        self.milestones.iter().find(|m| m.id == id)
    }
}

impl Encode for ProjectRecord {
    fn encode(&self, writer: &mut Writer) {
        writer
            .str(&self.registrar_member)
            .u64(self.total_value_minor)
            .u64(self.paid_minor)
            .seq(&self.milestones, |w, m| {
                w.str(&m.id).u64(m.amount_minor).u64(m.paid_minor);
            });
    }
}

impl Decode for ProjectRecord {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            registrar_member: read_id(reader, "registrar member")?,
            total_value_minor: reader.u64("total value")?,
            paid_minor: reader.u64("paid")?,
            milestones: reader.seq_max(MILESTONES_MAX as u32, "milestones", |r| {
                Ok(MilestoneAccount {
                    id: read_id(r, "milestone id")?,
                    amount_minor: r.u64("milestone amount")?,
                    paid_minor: r.u64("milestone paid")?,
                })
            })?,
        })
    }
}

/// A state key of a record a status proof may carry, read back into its parts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StateKey {
    /// [`document_key`]: a document's lineage head.
    Document {
        member: String,
        project_id: String,
        document_id: String,
    },
    /// [`version_key`]: an earlier version's record.
    Version {
        member: String,
        project_id: String,
        document_id: String,
        version: u32,
    },
    /// [`project_key`]: a project's contract and payments.
    Project { project_id: String },
}

impl StateKey {
    /// The key's bytes (SPEC.md §11.1).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Document {
                member,
                project_id,
                document_id,
            } => document_key(member, project_id, document_id),
            Self::Version {
                member,
                project_id,
                document_id,
                version,
            } => version_key(member, project_id, document_id, *version),
            Self::Project { project_id } => project_key(project_id),
        }
    }

    /// Reads a key of one of the three kinds, refusing any other tag, any part that does not
    /// decode, and bytes after the last part.
    ///
    /// # Errors
    /// The bytes are not such a key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let key = match reader.u8("state key tag")? {
            tag::DOCUMENT => Self::Document {
                member: read_id(&mut reader, "member")?,
                project_id: read_id(&mut reader, "project id")?,
                document_id: read_id(&mut reader, "document id")?,
            },
            tag::VERSION => Self::Version {
                member: read_id(&mut reader, "member")?,
                project_id: read_id(&mut reader, "project id")?,
                document_id: read_id(&mut reader, "document id")?,
                version: reader.u32("version")?,
            },
            tag::PROJECT => Self::Project {
                project_id: read_id(&mut reader, "project id")?,
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "state key of a status proof",
                    tag,
                });
            }
        };
        reader.finish("state key")?;
        Ok(key)
    }
}
