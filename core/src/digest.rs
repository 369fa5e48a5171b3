//! Digests that carry their algorithm, and the streaming document hasher.
//!
//! Every digest in a format is written as a one-byte algorithm tag followed by 32 bytes
//! (SPEC.md §3). The algorithm of the ledger's own structures (Merkle log, header hashes) is
//! fixed per chain at genesis; a document digest names its own algorithm.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;
use thiserror::Error;

use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};

/// Length in bytes of every digest this ledger uses.
pub const DIGEST_LEN: usize = 32;

/// Files at least this large are hashed with BLAKE3's memory-mapped, multi-threaded path.
/// Below it the thread start-up costs more than it saves.
pub const PARALLEL_HASH_THRESHOLD_BYTES: u64 = 1 << 20;

/// A hash algorithm, with its one-byte tag in the canonical encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashAlgorithm {
    /// BLAKE3 with 32-byte output (tag 1); the default suite.
    Blake3,
    /// SHA-256, FIPS 180-4 (tag 2).
    Sha256,
    /// SM3, GB/T 32905-2016 (tag 3), for the national-algorithm suite.
    Sm3,
}

/// The longest input [`HashAlgorithm::hash_parts`] gathers on the stack.
const SHORT_INPUT_MAX: usize = 128;

impl HashAlgorithm {
    pub const fn tag(self) -> u8 {
        match self {
            Self::Blake3 => 1,
            Self::Sha256 => 2,
            Self::Sm3 => 3,
        }
    }

    pub fn from_tag(tag: u8) -> Result<Self, DecodeError> {
        match tag {
            1 => Ok(Self::Blake3),
            2 => Ok(Self::Sha256),
            3 => Ok(Self::Sm3),
            tag => Err(DecodeError::UnknownTag {
                what: "hash algorithm",
                tag,
            }),
        }
    }

    /// The lower-case name used in text forms (`blake3`, `sha256`, `sm3`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Blake3 => "blake3",
            Self::Sha256 => "sha256",
            Self::Sm3 => "sm3",
        }
    }

    /// A fresh incremental hasher for this algorithm.
    pub fn hasher(self) -> Hasher {
        Hasher {
            state: match self {
                Self::Blake3 => HasherState::Blake3(Box::new(blake3::Hasher::new())),
                Self::Sha256 => HasherState::Sha256(sha2::Sha256::new()),
                Self::Sm3 => HasherState::Sm3(sm3::Sm3::new()),
            },
        }
    }

    /// The digest of `parts` concatenated.
    ///
    /// The hasher lives on the stack (the incremental [`Hasher`] boxes BLAKE3's large state):
    /// Merkle nodes and state-tree nodes hash tens of thousands of short inputs per block.
    pub fn hash_parts(self, parts: &[&[u8]]) -> Digest {
        // Short inputs (Merkle and state-tree nodes: 65 to 80 bytes) are gathered on the stack
        // and hashed in one call, which spares BLAKE3 its incremental hasher's set-up.
        let total: usize = parts.iter().map(|part| part.len()).sum();
        if self == Self::Blake3 && total <= SHORT_INPUT_MAX {
            let mut buffer = [0u8; SHORT_INPUT_MAX];
            let mut at = 0;
            for part in parts {
                buffer[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            return Digest::new(self, *blake3::hash(&buffer[..total]).as_bytes());
        }
        let bytes: [u8; DIGEST_LEN] = match self {
            Self::Blake3 => {
                let mut hasher = blake3::Hasher::new();
                for part in parts {
                    hasher.update(part);
                }
                *hasher.finalize().as_bytes()
            }
            Self::Sha256 => {
                let mut hasher = sha2::Sha256::new();
                for part in parts {
                    sha2::Digest::update(&mut hasher, part);
                }
                hasher.finalize().into()
            }
            Self::Sm3 => {
                let mut hasher = sm3::Sm3::new();
                for part in parts {
                    sm3::Digest::update(&mut hasher, part);
                }
                hasher.finalize().into()
            }
        };
        Digest::new(self, bytes)
    }

    /// The digest of `bytes`.
    pub fn hash(self, bytes: &[u8]) -> Digest {
        self.hash_parts(&[bytes])
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlgorithm {
    type Err = ParseDigestError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "blake3" => Ok(Self::Blake3),
            "sha256" => Ok(Self::Sha256),
            "sm3" => Ok(Self::Sm3),
            other => Err(ParseDigestError::UnknownAlgorithm(other.to_owned())),
        }
    }
}

impl Serialize for HashAlgorithm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for HashAlgorithm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental hasher over one of the supported algorithms.
pub struct Hasher {
    state: HasherState,
}

enum HasherState {
    Blake3(Box<blake3::Hasher>),
    Sha256(sha2::Sha256),
    Sm3(sm3::Sm3),
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl Hasher {
    pub fn algorithm(&self) -> HashAlgorithm {
        match self.state {
            HasherState::Blake3(_) => HashAlgorithm::Blake3,
            HasherState::Sha256(_) => HashAlgorithm::Sha256,
            HasherState::Sm3(_) => HashAlgorithm::Sm3,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) -> &mut Self {
        match &mut self.state {
            HasherState::Blake3(h) => {
                h.update(bytes);
            }
            HasherState::Sha256(h) => h.update(bytes),
            HasherState::Sm3(h) => sm3::Digest::update(h, bytes),
        }
        self
    }

    pub fn finalize(self) -> Digest {
        let algorithm = self.algorithm();
        let bytes: [u8; DIGEST_LEN] = match self.state {
            HasherState::Blake3(h) => *h.finalize().as_bytes(),
            HasherState::Sha256(h) => h.finalize().into(),
            HasherState::Sm3(h) => sm3::Digest::finalize(h).into(),
        };
        Digest { algorithm, bytes }
    }
}

/// A 32-byte digest together with the algorithm that produced it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    pub algorithm: HashAlgorithm,
    pub bytes: [u8; DIGEST_LEN],
}

impl Digest {
    pub const fn new(algorithm: HashAlgorithm, bytes: [u8; DIGEST_LEN]) -> Self {
        Self { algorithm, bytes }
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }
}

impl Encode for Digest {
    fn encode(&self, writer: &mut Writer) {
        writer.u8(self.algorithm.tag()).raw(&self.bytes);
    }
}

impl Decode for Digest {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let algorithm = HashAlgorithm::from_tag(reader.u8("digest algorithm")?)?;
        let bytes = reader.array("digest")?;
        Ok(Self { algorithm, bytes })
    }
}

/// The text form `algorithm:hex`, for example `blake3:af13…`.
impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a digest's text form could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseDigestError {
    #[error("digest must look like `blake3:<64 hex digits>`, got {0:?}")]
    MissingAlgorithm(String),
    #[error("unknown hash algorithm {0:?} (expected blake3, sha256 or sm3)")]
    UnknownAlgorithm(String),
    #[error("digest hex must be 64 hex digits: {0}")]
    BadHex(String),
}

impl FromStr for Digest {
    type Err = ParseDigestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, hex_part) = text
            .split_once(':')
            .ok_or_else(|| ParseDigestError::MissingAlgorithm(text.to_owned()))?;
        let algorithm = name.parse()?;
        let mut bytes = [0u8; DIGEST_LEN];
        hex::decode_to_slice(hex_part, &mut bytes)
            .map_err(|e| ParseDigestError::BadHex(e.to_string()))?;
        Ok(Self { algorithm, bytes })
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Hashes everything `reader` yields, in 64 KiB reads.
///
/// # Errors
/// Any error the reader returns.
pub fn hash_reader(algorithm: HashAlgorithm, mut reader: impl Read) -> std::io::Result<Digest> {
    let mut hasher = algorithm.hasher();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(hasher.finalize()),
            Ok(n) => {
                hasher.update(&buffer[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Hashes the file at `path`. BLAKE3 files of [`PARALLEL_HASH_THRESHOLD_BYTES`] or more are
/// memory-mapped and hashed on all cores; other files are streamed.
///
/// The file must not change while it is hashed: a memory-mapped file that another process
/// truncates meanwhile can end the process with a bus error, and one modified meanwhile
/// hashes to neither version. Hash a copy the caller controls (as a filing system does with
/// an upload it has just stored), or use [`hash_reader`] on a file that others may write.
///
/// # Errors
/// The file cannot be opened or read.
pub fn hash_file(algorithm: HashAlgorithm, path: &Path) -> std::io::Result<Digest> {
    if algorithm == HashAlgorithm::Blake3 {
        let len = std::fs::metadata(path)?.len();
        if len >= PARALLEL_HASH_THRESHOLD_BYTES {
            let mut hasher = blake3::Hasher::new();
            hasher.update_mmap_rayon(path)?;
            return Ok(Digest::new(algorithm, *hasher.finalize().as_bytes()));
        }
    }
    hash_reader(algorithm, std::fs::File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // Published test vectors for the empty string and "abc".
        assert_eq!(
            HashAlgorithm::Blake3.hash(b"").to_hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(
            HashAlgorithm::Sha256.hash(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            HashAlgorithm::Sm3.hash(b"abc").to_hex(),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn text_form_round_trips_and_rejects_garbage() {
        let d = HashAlgorithm::Blake3.hash(b"drawing");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert!(matches!(
            "af13".parse::<Digest>(),
            Err(ParseDigestError::MissingAlgorithm(_))
        ));
        assert!(matches!(
            "md5:00".parse::<Digest>(),
            Err(ParseDigestError::UnknownAlgorithm(_))
        ));
        assert!(matches!(
            "blake3:zz".parse::<Digest>(),
            Err(ParseDigestError::BadHex(_))
        ));
    }

    #[test]
    fn unknown_algorithm_tag_is_a_decode_error() {
        let mut bytes = vec![9u8];
        bytes.extend_from_slice(&[0; 32]);
        assert!(matches!(
            Digest::from_canonical_bytes(&bytes),
            Err(DecodeError::UnknownTag { tag: 9, .. })
        ));
    }

    #[test]
    fn file_hash_matches_in_memory_hash_on_both_paths() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1000, PARALLEL_HASH_THRESHOLD_BYTES as usize + 4097] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &data).unwrap();
            for algorithm in [
                HashAlgorithm::Blake3,
                HashAlgorithm::Sha256,
                HashAlgorithm::Sm3,
            ] {
                assert_eq!(hash_file(algorithm, &path).unwrap(), algorithm.hash(&data));
            }
        }
    }
}
