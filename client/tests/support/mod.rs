//! What the client tests' scripted nodes share: the wire form of receipts and checkpoints,
//! and serving a `Ledger` implementation on a loopback port.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use evidence_core::checkpoint::Checkpoint;
use evidence_core::encoding::Encode;
use evidence_core::receipt::Receipt;
use evidence_proto::v1 as pb;
use evidence_proto::v1::ledger_server::{Ledger, LedgerServer};

/// `receipt` as a node sends it.
/// A hand-off as a node sends it.
pub fn handoff_pb(handoff: &evidence_core::checkpoint::Handoff) -> pb::Handoff {
    pb::Handoff {
        header: handoff.checkpoint.header.to_canonical_bytes(),
        certificate: handoff.checkpoint.certificate.to_canonical_bytes(),
        validators: handoff.validators.to_canonical_bytes(),
    }
}

pub fn receipt_pb(receipt: &Receipt) -> pb::Receipt {
    pb::Receipt {
        entry: receipt.entry.to_canonical_bytes(),
        inclusion_proof: receipt.inclusion_proof.to_canonical_bytes(),
        header: receipt.checkpoint.header.to_canonical_bytes(),
        certificate: receipt.checkpoint.certificate.to_canonical_bytes(),
        json: receipt.to_json(),
        entry_index: receipt.entry.index,
        height: receipt.checkpoint.header.height,
        handoffs: receipt.handoffs.iter().map(handoff_pb).collect(),
        registration: receipt.registration.as_ref().map(entry_proof_pb),
        revocation: receipt.revocation.as_ref().map(entry_proof_pb),
    }
}

fn entry_proof_pb(proof: &evidence_core::receipt::EntryProof) -> pb::EntryProof {
    pb::EntryProof {
        entry: proof.entry.to_canonical_bytes(),
        inclusion_proof: proof.inclusion_proof.to_canonical_bytes(),
    }
}

/// `checkpoint` as a node sends it.
pub fn checkpoint_pb(checkpoint: &Checkpoint) -> pb::Checkpoint {
    pb::Checkpoint {
        header: checkpoint.header.to_canonical_bytes(),
        certificate: checkpoint.certificate.to_canonical_bytes(),
        json: checkpoint.to_json(),
        height: checkpoint.header.height,
        log_size: checkpoint.header.log_size,
        handoffs: Vec::new(),
    }
}

/// Serves `ledger` on a free loopback port for the rest of the test; returns its endpoint.
pub async fn serve(ledger: impl Ledger) -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    let service = LedgerServer::new(ledger);
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .serve_with_incoming_shutdown(
                service,
                tonic::transport::server::TcpIncoming::from(listener),
                std::future::pending::<()>(),
            )
            .await
    });
    format!("http://{address}")
}
