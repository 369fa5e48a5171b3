//! The network (libp2p) identity of a validator's node, and the peer id genesis pins for it.
//!
//! Peers are admitted at the Noise handshake by their libp2p peer id, which every node must
//! know for every validator from genesis and the configuration in force. libp2p identities are
//! Ed25519 keys here:
//!
//! - on an Ed25519 chain, a node's network key is its validator key (the same 32-byte seed),
//!   so the peer id is a function of the validator's public key and the address needs no
//!   peer id;
//! - libp2p has no SM2 keys, so on an SM2 chain the node's network key is an Ed25519 key
//!   derived from the SM2 secret, `seed = SM3("evidence/v1/network-key\n" || d)`, and the
//!   validator's `address` names its peer id (`…/p2p/<peer id>`): the genesis file, or the
//!   proposal that added the validator, binds the peer id to the validator (SPEC.md §4.4).

use evidence_core::domain;
use evidence_core::keys::{PublicKey, SignatureAlgorithm, SigningKey};
use zeroize::Zeroizing;

/// The bytes before an Ed25519 public key in a libp2p peer id: the identity multihash
/// (code 0x00, length 36) of the protobuf `PublicKey { Type = Ed25519 (1), Data = 32 bytes }`.
const ED25519_PEER_ID_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/// The Ed25519 seed of the network key of the node whose validator key is `key`.
pub fn network_seed(key: &SigningKey) -> Zeroizing<[u8; 32]> {
    match key.algorithm() {
        SignatureAlgorithm::Ed25519 => Zeroizing::new(key.seed()),
        SignatureAlgorithm::Sm2 => {
            let secret = Zeroizing::new(key.seed());
            let mut input = Zeroizing::new(Vec::with_capacity(domain::NETWORK_KEY.len() + 32));
            input.extend_from_slice(domain::NETWORK_KEY);
            input.extend_from_slice(secret.as_slice());
            Zeroizing::new(evidence_core::HashAlgorithm::Sm3.hash(&input).bytes)
        }
    }
}

/// The peer id (base58 text) of the libp2p Ed25519 public key `network_key`.
pub fn peer_id_of_network_key(network_key: &[u8; 32]) -> String {
    let mut bytes = ED25519_PEER_ID_PREFIX.to_vec();
    bytes.extend_from_slice(network_key);
    bs58::encode(bytes).into_string()
}

/// The peer id of the node whose validator key is `key`.
pub fn network_peer_id(key: &SigningKey) -> String {
    let network = SigningKey::from_seed(&network_seed(key));
    let mut public = [0u8; 32];
    public.copy_from_slice(network.public_key().as_bytes());
    peer_id_of_network_key(&public)
}

/// The peer id an address pins: the text after its last `/p2p/`, if any.
pub fn pinned_peer_id(address: &str) -> Option<&str> {
    address.rsplit_once("/p2p/").map(|(_, id)| id)
}

/// Whether `text` is the peer id of an Ed25519 libp2p key (the only kind this ledger uses).
pub fn is_ed25519_peer_id(text: &str) -> bool {
    bs58::decode(text).into_vec().is_ok_and(|bytes| {
        bytes.len() == ED25519_PEER_ID_PREFIX.len() + 32
            && bytes.starts_with(&ED25519_PEER_ID_PREFIX)
            && PublicKey::from_algorithm_bytes(
                SignatureAlgorithm::Ed25519,
                &bytes[ED25519_PEER_ID_PREFIX.len()..],
            )
            .is_ok()
    })
}

/// Why a validator has no usable peer id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerIdError {
    #[error(
        "validator {key} signs with SM2, so its address must end with /p2p/<peer id> of its \
         node's network key (`evidence-node --home DIR --print-peer-id` prints it); it has {address:?}"
    )]
    Missing {
        key: PublicKey,
        address: Option<String>,
    },
    #[error(
        "validator {key}'s address pins {found:?}, which is not the peer id of an Ed25519 libp2p key"
    )]
    NotEd25519 { key: PublicKey, found: String },
    #[error("validator {key}'s address pins peer {found}, but its key's peer id is {expected}")]
    Mismatch {
        key: PublicKey,
        found: String,
        expected: String,
    },
}

/// The peer id of the validator with `key` and `address`: derived from an Ed25519 key (an
/// address may repeat it, and must then agree), pinned by the address for an SM2 key.
///
/// # Errors
/// An SM2 validator whose address pins no Ed25519 peer id, or an Ed25519 validator whose
/// address pins another peer id.
pub fn validator_peer_id(key: &PublicKey, address: Option<&str>) -> Result<String, PeerIdError> {
    let pinned = address.and_then(pinned_peer_id);
    match key.algorithm() {
        SignatureAlgorithm::Ed25519 => {
            let mut public = [0u8; 32];
            public.copy_from_slice(key.as_bytes());
            let expected = peer_id_of_network_key(&public);
            match pinned {
                Some(found) if found != expected => Err(PeerIdError::Mismatch {
                    key: *key,
                    found: found.to_owned(),
                    expected,
                }),
                _ => Ok(expected),
            }
        }
        SignatureAlgorithm::Sm2 => match pinned {
            None => Err(PeerIdError::Missing {
                key: *key,
                address: address.map(str::to_owned),
            }),
            Some(found) if !is_ed25519_peer_id(found) => Err(PeerIdError::NotEd25519 {
                key: *key,
                found: found.to_owned(),
            }),
            Some(found) => Ok(found.to_owned()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_validators_are_their_own_network_key() {
        let key = SigningKey::from_seed(&[5; 32]);
        assert_eq!(*network_seed(&key), [5; 32]);
        let peer = network_peer_id(&key);
        assert!(peer.starts_with("12D3KooW"), "{peer}");
        assert!(is_ed25519_peer_id(&peer));
        assert_eq!(validator_peer_id(&key.public_key(), None).unwrap(), peer);
        let address = format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}");
        assert_eq!(
            validator_peer_id(&key.public_key(), Some(&address)).unwrap(),
            peer
        );
        let other = network_peer_id(&SigningKey::from_seed(&[6; 32]));
        assert!(matches!(
            validator_peer_id(&key.public_key(), Some(&format!("/p2p/{other}"))),
            Err(PeerIdError::Mismatch { .. })
        ));
    }

    #[test]
    fn sm2_validators_derive_a_network_key_and_pin_its_peer_id() {
        let key = SigningKey::from_secret(SignatureAlgorithm::Sm2, &[7; 32]).unwrap();
        let seed = network_seed(&key);
        assert_ne!(*seed, key.seed());
        assert_eq!(*seed, *network_seed(&key), "deterministic");
        let peer = network_peer_id(&key);
        assert!(is_ed25519_peer_id(&peer));
        let public = key.public_key();
        assert!(matches!(
            validator_peer_id(&public, None),
            Err(PeerIdError::Missing { .. })
        ));
        assert!(matches!(
            validator_peer_id(&public, Some("/ip4/127.0.0.1/tcp/1")),
            Err(PeerIdError::Missing { .. })
        ));
        assert!(matches!(
            validator_peer_id(&public, Some("/p2p/QmNotAnEd25519PeerId")),
            Err(PeerIdError::NotEd25519 { .. })
        ));
        assert_eq!(
            validator_peer_id(
                &public,
                Some(&format!("/ip4/10.0.0.1/tcp/26656/p2p/{peer}"))
            )
            .unwrap(),
            peer
        );
    }
}
