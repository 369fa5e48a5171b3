//! Read-only questions about the contract state, for the node's lookups and for auditors:
//! where a document's lineage stands, the status of one version, a project's payments.

use evidence_genesis::Configuration;

use crate::state::{
    DocumentRecord, FilerRecord, MilestoneEvidence, Overlay, ProjectRecord, ProposalRecord,
    StateStore, StoreError, VersionRecord, document_key, filer_key, milestone_evidence_key,
    project_key, proposal_key, version_key,
};

/// The head of a member's document's lineage, if the document exists.
///
/// # Errors
/// The store failed or holds a corrupt record.
pub fn document<S: StateStore + ?Sized>(
    state: &S,
    member: &str,
    project_id: &str,
    document_id: &str,
) -> Result<Option<DocumentRecord>, StoreError> {
    Overlay::new(state).get_record(&document_key(member, project_id, document_id))
}

/// One version of a document: its digest, the entry that anchored it, and whether it is
/// current, superseded (and by what) or revoked (and why).
///
/// # Errors
/// The store failed or holds a corrupt record.
pub fn version<S: StateStore + ?Sized>(
    state: &S,
    member: &str,
    project_id: &str,
    document_id: &str,
    version: u32,
) -> Result<Option<VersionRecord>, StoreError> {
    let Some(head) = document(state, member, project_id, document_id)? else {
        return Ok(None);
    };
    if version == head.latest_version {
        return Ok(Some(head.latest));
    }
    if version == 0 || version > head.latest_version {
        return Ok(None);
    }
    Overlay::new(state)
        .get_record::<VersionRecord>(&version_key(member, project_id, document_id, version))?
        .map(Some)
        .ok_or_else(|| {
            StoreError(format!(
                "document {document_id:?} of project {project_id:?} names version {version} \
                 but it is not stored"
            ))
        })
}

/// Every version of a document, oldest first (empty if the document does not exist).
///
/// # Errors
/// The store failed, holds a corrupt record, or lacks a version its lineage head names.
pub fn versions<S: StateStore + ?Sized>(
    state: &S,
    member: &str,
    project_id: &str,
    document_id: &str,
) -> Result<Vec<(u32, VersionRecord)>, StoreError> {
    let Some(head) = document(state, member, project_id, document_id)? else {
        return Ok(Vec::new());
    };
    let overlay = Overlay::new(state);
    let mut out = Vec::with_capacity(head.latest_version as usize);
    for number in 1..head.latest_version {
        let record = overlay
            .get_record::<VersionRecord>(&version_key(member, project_id, document_id, number))?
            .ok_or_else(|| {
                StoreError(format!(
                    "document {document_id:?} of project {project_id:?} names version {number} \
                     but it is not stored"
                ))
            })?;
        out.push((number, record));
    }
    out.push((head.latest_version, head.latest));
    Ok(out)
}

/// A registered project's contract value, milestones and what has been paid.
///
/// # Errors
/// The store failed or holds a corrupt record.
pub fn project<S: StateStore + ?Sized>(
    state: &S,
    project_id: &str,
) -> Result<Option<ProjectRecord>, StoreError> {
    Overlay::new(state).get_record(&project_key(project_id))
}

/// The inspection reports whose current version passed `milestone`.
///
/// # Errors
/// The store failed or holds a corrupt record.
pub fn milestone_evidence<S: StateStore + ?Sized>(
    state: &S,
    project_id: &str,
    milestone: &str,
) -> Result<MilestoneEvidence, StoreError> {
    Ok(Overlay::new(state)
        .get_record(&milestone_evidence_key(project_id, milestone))?
        .unwrap_or_default())
}

/// The filer `key`: its record on the ledger if it has one (registered there, or a genesis filer
/// that was revoked), else its genesis entry (registered at height 0), else `None`.
///
/// # Errors
/// The store failed or holds a corrupt record.
pub fn filer<S: StateStore + ?Sized>(
    state: &S,
    genesis: &evidence_genesis::Genesis,
    key: &evidence_core::keys::PublicKey,
) -> Result<Option<FilerRecord>, StoreError> {
    if let Some(record) = Overlay::new(state).get_record::<FilerRecord>(&filer_key(key))? {
        return Ok(Some(record));
    }
    Ok(genesis.filer(key).map(|filer| FilerRecord {
        name: filer.name.clone(),
        member: filer.member.clone(),
        kinds: filer.kinds.clone(),
        source_system: None,
        registered_height: 0,
        registration_entry_index: None,
        revocation: None,
    }))
}

/// The configuration in force at the height after the one `state` was committed at: the one
/// the last accepted proposal left, else the genesis configuration.
///
/// # Errors
/// The store failed or holds a corrupt record.
pub fn configuration<S: StateStore + ?Sized>(
    state: &S,
    genesis: &evidence_genesis::Genesis,
) -> Result<Configuration, StoreError> {
    Ok(crate::proposals::stored_configuration(state)?
        .unwrap_or_else(|| Configuration::from_genesis(genesis)))
}

/// A proposal of the members, with its votes and status.
///
/// # Errors
/// The store failed or holds a corrupt record.
pub fn proposal<S: StateStore + ?Sized>(
    state: &S,
    proposal_id: &str,
) -> Result<Option<ProposalRecord>, StoreError> {
    Overlay::new(state).get_record(&proposal_key(proposal_id))
}
