//! Consensus: the ledger on the Malachite BFT engine (0.8.2, app-channel interface).
//!
//! - [`context`]: the engine's types for this ledger — heights, the genesis validator set,
//!   the value (a block's header hash), votes, proposals and proposal parts — and the
//!   conversion of the engine's commit certificate into the ledger's.
//! - [`signing`]: the signer and verifier, over exactly the bytes SPEC.md §13 defines.
//! - [`codec`]: the canonical, strict encodings of everything sent to peers or logged.
//! - [`driver`]: starts the engine and answers its requests with the ledger.
//!
//! # Network identity and admission
//!
//! Each node's libp2p identity is the Ed25519 key pair of its validator signing key (the same
//! 32-byte seed), so its peer id is a function of the public key in genesis
//! ([`peer_id_of`]). The driver gives the engine every other validator as a persistent peer,
//! addressed with a `/p2p/<peer id>` suffix, and sets `persistent_peers_only`. The engine's
//! network crate is built with a patch (`vendor/README.md`) that then refuses a connection, in
//! either direction, as soon as the Noise handshake has proved the peer's id (it holds the key
//! behind it) unless that id is pinned by the `/p2p/` part of a persistent address: the
//! connection is never established, no protocol of the peer is served, and the refusal is
//! logged ("Refused an incoming connection"). Unpatched, the engine waits for the peer's
//! Identify message (`arc-malachitebft-discovery` 0.8.2, `handle_new_peer`), and a peer that
//! never sends one is served meanwhile. Dialling is gated the same way, so the node never
//! connects out to a peer it was not given. Messages that reach consensus are in any case
//! signed and checked against the validator set, and proposal parts are taken only from
//! validators' peer ids.
//! The transport is TCP (with Noise and Yamux); QUIC listen addresses are refused.

pub mod codec;
pub mod context;
pub mod driver;
pub mod host;
pub mod signing;

use evidence_core::keys::{PublicKey, SigningKey};
use libp2p_identity::{Keypair, PeerId};

pub use context::{
    BlockHash, BlockHeight, EvidenceContext, ProposalPart, ValidatorAddress,
    from_ledger_certificate, to_ledger_certificate,
};
pub use driver::{
    ConsensusConfig, ConsensusHandle, ConsensusTimeouts, DriverError, DriverHandle, DriverParams,
    start, start_with, validator_peer_address, wal_path,
};

/// The libp2p key pair of the node whose validator key is `key`: the same Ed25519 seed, so
/// the node's peer id is [`peer_id_of`] its public key.
pub fn network_keypair(key: &SigningKey) -> Keypair {
    let mut seed = key.seed();
    // A 32-byte Ed25519 seed is always a valid libp2p secret key.
    let Ok(keypair) = Keypair::ed25519_from_bytes(&mut seed) else {
        unreachable!("a 32-byte seed is a valid Ed25519 secret key");
    };
    keypair
}

/// The libp2p peer id of the validator with `public_key`: the identity multihash of its
/// protobuf-encoded Ed25519 public key, as libp2p defines it. Every node computes the peer ids
/// of the other validators from genesis alone.
pub fn peer_id_of(public_key: &PublicKey) -> PeerId {
    // The ledger's public keys are valid Ed25519 points, which libp2p accepts.
    let Ok(key) = libp2p_identity::ed25519::PublicKey::try_from_bytes(public_key.as_bytes()) else {
        unreachable!("a ledger public key is a valid Ed25519 point");
    };
    libp2p_identity::PublicKey::from(key).to_peer_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_identity_follows_the_validator_key() {
        let key = SigningKey::from_seed(&[5; 32]);
        let keypair = network_keypair(&key);
        assert_eq!(keypair.public().to_peer_id(), peer_id_of(&key.public_key()));
        let other = SigningKey::from_seed(&[6; 32]);
        assert_ne!(
            peer_id_of(&other.public_key()),
            peer_id_of(&key.public_key())
        );
        // Deterministic: the same key always gives the same peer id.
        assert_eq!(network_keypair(&key).public(), keypair.public());
    }
}
