//! Consensus: the ledger on the Malachite BFT engine (0.8.2, app-channel interface).
//!
//! - [`context`]: the engine's types for this ledger — heights, the genesis validator set,
//!   the value (a block's header hash), votes, proposals and proposal parts — and the
//!   conversion of the engine's commit certificate into the ledger's.
//! - [`signing`]: the signer and verifier, over exactly the bytes SPEC.md §13 defines.
//! - [`codec`]: the canonical, strict encodings of everything sent to peers or logged.
//! - [`driver`]: starts the engine and answers its requests with the ledger.
//! - [`timeouts`]: the round timeouts, and how a busy node shortens them to its network's pace.
//!
//! # Network identity and admission
//!
//! Each node's libp2p identity is an Ed25519 key pair: on an Ed25519 chain its validator
//! signing key (the same 32-byte seed), so its peer id is a function of the public key in
//! genesis; on an SM2 chain (libp2p has no SM2 keys) one derived from the SM2 secret, whose
//! peer id the validator's address in genesis, or in the proposal that added it, pins
//! ([`validator_peer_id`]). The driver gives the engine every other validator as a persistent peer,
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
pub mod timeouts;

use std::collections::HashMap;

use evidence_core::keys::{PublicKey, SigningKey};
use evidence_genesis::GenesisValidator;
use evidence_genesis::network;
use libp2p_identity::{Keypair, PeerId};

pub use context::{
    BlockHash, BlockHeight, EvidenceContext, ProposalPart, ValidatorAddress,
    from_ledger_certificate, to_ledger_certificate,
};
pub use driver::{
    ConsensusConfig, ConsensusHandle, ConsensusTimeouts, DriverError, DriverHandle, DriverParams,
    start, start_with, validator_peer_address, wal_path,
};

/// The libp2p key pair of the node whose validator key is `key`: on an Ed25519 chain the same
/// seed, so the node's peer id is [`validator_peer_id`] of its public key; on an SM2 chain
/// the Ed25519 key derived from the SM2 secret ([`evidence_genesis::network`]), whose peer id
/// the validator's address pins.
pub fn network_keypair(key: &SigningKey) -> Keypair {
    let mut seed = *network::network_seed(key);
    // A 32-byte Ed25519 seed is always a valid libp2p secret key.
    let Ok(keypair) = Keypair::ed25519_from_bytes(&mut seed) else {
        unreachable!("a 32-byte seed is a valid Ed25519 secret key");
    };
    keypair
}

/// The libp2p peer id of the validator with `public_key` and `address` (its address in genesis
/// or in the configuration in force): the identity multihash of its protobuf-encoded Ed25519
/// network key, as libp2p defines it. An Ed25519 validator's key is its network key, so every
/// node computes its peer id from the key alone; an SM2 validator's address pins it
/// (`…/p2p/<peer id>`).
///
/// # Errors
/// An SM2 validator whose address pins no Ed25519 peer id, or an address that pins another
/// peer id than an Ed25519 validator's own.
pub fn validator_peer_id(
    public_key: &PublicKey,
    address: Option<&str>,
) -> Result<PeerId, network::PeerIdError> {
    let text = network::validator_peer_id(public_key, address)?;
    text.parse().map_err(|_| network::PeerIdError::NotEd25519 {
        key: *public_key,
        found: text,
    })
}

/// The peer ids of `keys`, found from the validator records in `records` (the configuration
/// in force first, then genesis) for the keys that need their address. A key whose peer id
/// cannot be found is left out: such a validator cannot be admitted as a peer.
pub fn peer_ids_of<'a>(
    keys: impl IntoIterator<Item = &'a PublicKey>,
    records: &[&[GenesisValidator]],
) -> HashMap<PeerId, PublicKey> {
    keys.into_iter()
        .filter_map(|key| {
            let address = records
                .iter()
                .flat_map(|list| list.iter())
                .find(|v| v.public_key == *key)
                .and_then(|v| v.address.as_deref());
            validator_peer_id(key, address).ok().map(|id| (id, *key))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use evidence_core::keys::SignatureAlgorithm;

    #[test]
    fn the_network_identity_follows_the_validator_key() {
        let key = SigningKey::from_seed(&[5; 32]);
        let keypair = network_keypair(&key);
        let own = validator_peer_id(&key.public_key(), None).unwrap();
        assert_eq!(keypair.public().to_peer_id(), own);
        let other = SigningKey::from_seed(&[6; 32]);
        assert_ne!(validator_peer_id(&other.public_key(), None).unwrap(), own);
        // Deterministic: the same key always gives the same peer id.
        assert_eq!(network_keypair(&key).public(), keypair.public());
    }

    #[test]
    fn an_sm2_validator_is_the_peer_its_address_pins() {
        let key = SigningKey::from_secret(SignatureAlgorithm::Sm2, &[5; 32]).unwrap();
        let keypair = network_keypair(&key);
        let peer = keypair.public().to_peer_id();
        // The genesis crate's text form and libp2p's agree.
        assert_eq!(network::network_peer_id(&key), peer.to_string());
        let address = format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}");
        assert_eq!(
            validator_peer_id(&key.public_key(), Some(&address)).unwrap(),
            peer
        );
        assert!(validator_peer_id(&key.public_key(), None).is_err());
        let record = GenesisValidator {
            member: "court".to_owned(),
            public_key: key.public_key(),
            voting_power: 1,
            address: Some(address),
        };
        let ed = SigningKey::from_seed(&[6; 32]).public_key();
        let stranger = SigningKey::from_secret(SignatureAlgorithm::Sm2, &[7; 32])
            .unwrap()
            .public_key();
        let ids = peer_ids_of([&key.public_key(), &ed, &stranger], &[&[record]]);
        assert_eq!(ids.len(), 2, "the SM2 key without a record has no peer id");
        assert_eq!(ids[&peer], key.public_key());
    }
}
