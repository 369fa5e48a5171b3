//! Domain-separation prefixes. Every signed or hashed structure starts with its own prefix, so
//! bytes signed for one purpose can never be taken for another. Changing a prefix is a format
//! break (SPEC.md §5 lists them all).

/// What a filer signs: the root of a batch of anchors.
pub const ANCHOR_BATCH: &[u8] = b"evidence/v1/anchor-batch\n";
/// What a filer signs to revoke one document version.
pub const REVOCATION: &[u8] = b"evidence/v1/revocation\n";
/// What a registrar signs to register a project contract and its milestones.
pub const PROJECT_REGISTRATION: &[u8] = b"evidence/v1/project-registration\n";
/// What a member's governance key signs.
pub const GOVERNANCE: &[u8] = b"evidence/v1/governance\n";
/// Prefix of a transaction identifier (the replay-protection key).
pub const TRANSACTION_ID: &[u8] = b"evidence/v1/transaction-id\n";
/// Prefix of a block header hash.
pub const BLOCK_HEADER: &[u8] = b"evidence/v1/block-header\n";
/// What a validator signs when it votes (prevote or precommit).
pub const VOTE: &[u8] = b"evidence/v1/vote\n";
/// What a proposer signs when it proposes a block.
pub const PROPOSAL: &[u8] = b"evidence/v1/proposal\n";
/// Prefix of a validator-set hash.
pub const VALIDATOR_SET: &[u8] = b"evidence/v1/validator-set\n";
/// Prefix of the genesis hash.
pub const GENESIS: &[u8] = b"evidence/v1/genesis\n";

/// Prefix of the derivation of a validator node's network (libp2p) key from an SM2 validator
/// key (SPEC.md §4.4); never signed, never in a receipt.
pub const NETWORK_KEY: &[u8] = b"evidence/v1/network-key\n";
/// Every prefix, for the test that they are distinct and none is a prefix of another.
pub const ALL: &[&[u8]] = &[
    ANCHOR_BATCH,
    REVOCATION,
    PROJECT_REGISTRATION,
    GOVERNANCE,
    TRANSACTION_ID,
    BLOCK_HEADER,
    VOTE,
    PROPOSAL,
    VALIDATOR_SET,
    GENESIS,
    NETWORK_KEY,
];

#[cfg(test)]
mod tests {
    #[test]
    fn prefixes_are_distinct_and_prefix_free() {
        for (i, a) in super::ALL.iter().enumerate() {
            assert!(a.ends_with(b"\n") && a.starts_with(b"evidence/v1/"));
            for (j, b) in super::ALL.iter().enumerate() {
                if i != j {
                    assert!(!b.starts_with(a), "{a:?} is a prefix of {b:?}");
                }
            }
        }
    }
}
