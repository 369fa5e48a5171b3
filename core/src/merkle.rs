//! The Merkle log (RFC 9162 shape). Being written.
