//! Keys and signatures that carry their algorithm — Ed25519 and SM2 — key files, and the one
//! verification rule per algorithm used everywhere.
//!
//! - **Ed25519** is verified *strictly* (SPEC.md §4.2): the signature's `S` must be canonical,
//!   the public key and `R` must not be of small order, and the cofactorless equation must
//!   hold. The check accepts exactly what ed25519-dalek's `verify_strict` accepts, at less
//!   cost (the argument is at `ed25519_verify_with`).
//! - **SM2** (GB/T 32918.2, on the curve GB/T 32918.5 recommends) signs `e = SM3(Z || M)`,
//!   where `Z` binds the signer's public key and the default user id `1234567812345678` as
//!   GM/T 0009 defines it (SPEC.md §4.2). A public key is a compressed SEC1 point; a signature
//!   is `r || s`, each 32 bytes big-endian and in `1 ..= n − 1`.
//!
//! A chain uses one algorithm for every key (its genesis suite, SPEC.md §10); a signature
//! whose algorithm differs from its key's never verifies. Every signed message starts with a
//! domain prefix chosen by the caller (see [`crate::domain`]).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsBasepointTableRadix64, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::BasepointTable as _;
use ed25519_dalek::Signer as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;
use sm2::elliptic_curve::sec1::ToSec1Point as _;
use thiserror::Error;

use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};

/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an SM2 public key: a compressed SEC1 point (`0x02` or `0x03`, then `x`).
pub const SM2_PUBLIC_KEY_LEN: usize = 33;
/// The longest public key of any algorithm.
pub const PUBLIC_KEY_LEN_MAX: usize = SM2_PUBLIC_KEY_LEN;
/// Length of a signature of either algorithm (Ed25519 `R || S`, SM2 `r || s`).
pub const SIGNATURE_LEN: usize = 64;
/// Length of a secret key of either algorithm (the Ed25519 seed, the SM2 private scalar).
pub const SECRET_KEY_LEN: usize = 32;
/// The SM2 user id (distinguishing identifier) every SM2 signature of the ledger binds: the
/// default of GM/T 0009-2012, sixteen ASCII bytes, so `ENTL` is `0x0080` (SPEC.md §4.2).
pub const SM2_USER_ID: &str = "1234567812345678";

/// A signature algorithm, with its one-byte tag in the canonical encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SignatureAlgorithm {
    /// Ed25519 (RFC 8032) with strict verification (tag 1).
    Ed25519,
    /// SM2 (GB/T 32918.2) with SM3 and the default user id (tag 2).
    Sm2,
}

impl SignatureAlgorithm {
    /// Every algorithm, in tag order.
    pub const ALL: [Self; 2] = [Self::Ed25519, Self::Sm2];

    pub const fn tag(self) -> u8 {
        match self {
            Self::Ed25519 => 1,
            Self::Sm2 => 2,
        }
    }

    pub fn from_tag(tag: u8) -> Result<Self, DecodeError> {
        match tag {
            1 => Ok(Self::Ed25519),
            2 => Ok(Self::Sm2),
            tag => Err(DecodeError::UnknownTag {
                what: "signature algorithm",
                tag,
            }),
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::Sm2 => "sm2",
        }
    }

    /// The length of this algorithm's public keys.
    pub const fn public_key_len(self) -> usize {
        match self {
            Self::Ed25519 => PUBLIC_KEY_LEN,
            Self::Sm2 => SM2_PUBLIC_KEY_LEN,
        }
    }
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SignatureAlgorithm {
    type Err = KeyError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "ed25519" => Ok(Self::Ed25519),
            "sm2" => Ok(Self::Sm2),
            other => Err(KeyError::UnknownAlgorithm(other.to_owned())),
        }
    }
}

impl Serialize for SignatureAlgorithm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for SignatureAlgorithm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Why a key, signature or key file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("unknown signature algorithm {0:?} (expected ed25519 or sm2)")]
    UnknownAlgorithm(String),
    #[error(
        "key text must look like `ed25519:<64 hex digits>` or `sm2:<66 hex digits>`, got {0:?}"
    )]
    MissingAlgorithm(String),
    #[error("bad hex in {what}: {reason}")]
    BadHex { what: &'static str, reason: String },
    #[error(
        "{0} is not a valid public key (not the canonical encoding of a point on the \
         algorithm's curve)"
    )]
    NotACurvePoint(String),
    #[error(
        "an SM2 secret key must be a number from 1 to n - 2 (n the order of the curve), \
         written as 64 hex digits"
    )]
    SecretOutOfRange,
    #[error("key file is not valid JSON: {0}")]
    KeyFileNotJson(String),
    #[error("not an evidence key file: field `type` is {0:?}, expected \"evidence-signing-key\"")]
    KeyFileWrongType(String),
    #[error("unsupported key file version {0} (this build reads version 1)")]
    KeyFileVersion(u32),
    #[error(
        "key file is damaged: its public key {stated} does not match the one derived from its \
         secret key, {derived}"
    )]
    KeyFileDamaged { stated: String, derived: String },
}

/// A public key that verifies signatures. Decoding checks that it is the canonical encoding of
/// a point on its algorithm's curve.
#[derive(Clone, Copy)]
pub struct PublicKey {
    inner: KeyInner,
}

#[derive(Clone, Copy)]
enum KeyInner {
    /// The key (its bytes and decompressed point), and whether the point is of small order,
    /// decided once at decoding.
    Ed25519 {
        key: ed25519_dalek::VerifyingKey,
        small_order: bool,
    },
    Sm2 {
        bytes: [u8; SM2_PUBLIC_KEY_LEN],
        point: sm2::AffinePoint,
    },
}

impl PublicKey {
    pub fn algorithm(&self) -> SignatureAlgorithm {
        match self.inner {
            KeyInner::Ed25519 { .. } => SignatureAlgorithm::Ed25519,
            KeyInner::Sm2 { .. } => SignatureAlgorithm::Sm2,
        }
    }

    /// The key's bytes in its canonical encoding, without the algorithm tag: 32 bytes for
    /// Ed25519, 33 for SM2.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.inner {
            KeyInner::Ed25519 { key, .. } => key.as_bytes(),
            KeyInner::Sm2 { bytes, .. } => bytes,
        }
    }

    /// The key's bytes, as [`Self::as_bytes`], owned.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    /// An Ed25519 public key from its 32 bytes; see [`Self::from_algorithm_bytes`].
    ///
    /// # Errors
    /// The bytes are not the canonical encoding of a curve point.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<Self, KeyError> {
        Self::from_algorithm_bytes(SignatureAlgorithm::Ed25519, bytes)
    }

    /// A public key of `algorithm` from its canonical bytes (SPEC.md §4.1).
    ///
    /// Decoding decompresses the curve point (for Ed25519 about as costly as a third of a
    /// signature check). A chain has few keys (validators and filers) that arrive in every
    /// transaction, vote and header, so each thread remembers the keys it decoded last; only
    /// keys that passed every check are remembered, so a hit is the same verdict.
    ///
    /// # Errors
    /// The bytes are not the canonical encoding of a point on the algorithm's curve (for SM2:
    /// not 33 bytes, a first byte other than `0x02` or `0x03`, `x ≥ p`, or no point with that
    /// `x`).
    pub fn from_algorithm_bytes(
        algorithm: SignatureAlgorithm,
        bytes: &[u8],
    ) -> Result<Self, KeyError> {
        let not_a_point =
            || KeyError::NotACurvePoint(format!("{algorithm}:{}", hex::encode(bytes)));
        if bytes.len() != algorithm.public_key_len() {
            return Err(not_a_point());
        }
        let mut cache_key = [0u8; PUBLIC_KEY_LEN_MAX + 1];
        cache_key[0] = algorithm.tag();
        cache_key[1..=bytes.len()].copy_from_slice(bytes);
        if let Some(key) = DECODED_KEYS.with(|cache| cache.borrow().get(&cache_key).copied()) {
            return Ok(key);
        }
        let key = match algorithm {
            SignatureAlgorithm::Ed25519 => {
                let mut array = [0u8; PUBLIC_KEY_LEN];
                array.copy_from_slice(bytes);
                // RFC 8032 §5.1.3 decoding: the bytes must be the canonical encoding of a
                // point (y < p, and not x = 0 with the sign bit set); the curve-point check
                // follows.
                if !is_canonical_encoding(&array) {
                    return Err(not_a_point());
                }
                let key =
                    ed25519_dalek::VerifyingKey::from_bytes(&array).map_err(|_| not_a_point())?;
                Self {
                    inner: ed25519_key(key),
                }
            }
            SignatureAlgorithm::Sm2 => {
                // Only the compressed form: the uncompressed and hybrid forms (and the
                // identity, `0x00`) would be other encodings of a key.
                if bytes[0] != 0x02 && bytes[0] != 0x03 {
                    return Err(not_a_point());
                }
                let public = sm2::PublicKey::from_sec1_bytes(bytes).map_err(|_| not_a_point())?;
                let point = *public.as_affine();
                // Re-encoding must give the bytes back (x < p, the parity as given).
                let encoded = point.to_sec1_point(true);
                if encoded.as_bytes() != bytes {
                    return Err(not_a_point());
                }
                let mut array = [0u8; SM2_PUBLIC_KEY_LEN];
                array.copy_from_slice(bytes);
                Self {
                    inner: KeyInner::Sm2 {
                        bytes: array,
                        point,
                    },
                }
            }
        };
        DECODED_KEYS.with(|cache| {
            let mut cache = cache.borrow_mut();
            if cache.len() >= DECODED_KEYS_MAX {
                cache.clear();
            }
            cache.insert(cache_key, key);
        });
        Ok(key)
    }

    /// Verification of `signature` over `message` by the rule of the key's algorithm
    /// (SPEC.md §4.2): strict Ed25519, or SM2 with the default user id.
    ///
    /// # Errors
    /// [`SignatureError`] when the signature does not verify, or is of another algorithm.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        let refuse = || SignatureError { signer: *self };
        if signature.algorithm != self.algorithm() {
            return Err(refuse());
        }
        match &self.inner {
            KeyInner::Ed25519 { key, small_order } => {
                if ed25519_verify(key, *small_order, message, &signature.bytes) {
                    Ok(())
                } else {
                    Err(refuse())
                }
            }
            KeyInner::Sm2 { point, .. } => {
                // `r` and `s` must each be in 1 ..= n − 1: the parse refuses zero and any
                // value of n or more.
                let signature = sm2::dsa::Signature::from_bytes(&signature.bytes.into())
                    .map_err(|_| refuse())?;
                let key = sm2::dsa::VerifyingKey::from_affine(SM2_USER_ID, *point)
                    .map_err(|_| refuse())?;
                sm2::dsa::signature::Verifier::verify(&key, message, &signature)
                    .map_err(|_| refuse())
            }
        }
    }

    /// Whether the key is a point of small order (`[8]A` is the identity). Such an Ed25519
    /// key decodes but can never sign: strict verification refuses it (SPEC.md §4.2), so a
    /// genesis file that named one would hold a member, validator or filer that can never
    /// act. The SM2 curve has prime order and the identity has no compressed encoding, so no
    /// SM2 key is of small order.
    pub fn is_small_order(&self) -> bool {
        match &self.inner {
            KeyInner::Ed25519 { small_order, .. } => *small_order,
            KeyInner::Sm2 { .. } => false,
        }
    }

    /// A short, stable identifier for logs and messages: the first 8 bytes in hex (for SM2
    /// these include the parity byte, so a key and its negation differ).
    pub fn short_id(&self) -> String {
        hex::encode(&self.as_bytes()[..8])
    }
}

/// Keys each thread remembers having decoded (by tag and bytes); cleared when full.
const DECODED_KEYS_MAX: usize = 1024;

thread_local! {
    static DECODED_KEYS: std::cell::RefCell<std::collections::HashMap<[u8; PUBLIC_KEY_LEN_MAX + 1], PublicKey>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.algorithm() == other.algorithm() && self.as_bytes() == other.as_bytes()
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.algorithm().tag().hash(state);
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Keys order by their encoded bytes (the algorithm tag, then the key's bytes), which is the
/// order validator sets are hashed in. A chain's keys are all of one algorithm, so within a
/// chain this is the order of the key bytes.
impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.algorithm().tag(), self.as_bytes()).cmp(&(other.algorithm().tag(), other.as_bytes()))
    }
}

impl Encode for PublicKey {
    fn encode(&self, writer: &mut Writer) {
        writer.u8(self.algorithm().tag()).raw(self.as_bytes());
    }
}

impl Decode for PublicKey {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let algorithm = SignatureAlgorithm::from_tag(reader.u8("public key algorithm")?)?;
        let bytes = match algorithm {
            SignatureAlgorithm::Ed25519 => reader.array::<PUBLIC_KEY_LEN>("public key")?.to_vec(),
            SignatureAlgorithm::Sm2 => reader.array::<SM2_PUBLIC_KEY_LEN>("public key")?.to_vec(),
        };
        Self::from_algorithm_bytes(algorithm, &bytes).map_err(|e| DecodeError::InvalidValue {
            what: "public key",
            reason: e.to_string(),
        })
    }
}

/// The text form `ed25519:<hex>` or `sm2:<hex>`.
impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm(), hex::encode(self.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, hex_part) = text
            .split_once(':')
            .ok_or_else(|| KeyError::MissingAlgorithm(text.to_owned()))?;
        let algorithm: SignatureAlgorithm = name.parse()?;
        let mut bytes = [0u8; PUBLIC_KEY_LEN_MAX];
        let bytes = &mut bytes[..algorithm.public_key_len()];
        hex::decode_to_slice(hex_part, bytes).map_err(|e| KeyError::BadHex {
            what: "public key",
            reason: e.to_string(),
        })?;
        Self::from_algorithm_bytes(algorithm, bytes)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A signature together with its algorithm: Ed25519 `R || S`, or SM2 `r || s` (each 32 bytes,
/// big-endian).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature {
    pub algorithm: SignatureAlgorithm,
    pub bytes: [u8; SIGNATURE_LEN],
}

impl Signature {
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }
}

impl Encode for Signature {
    fn encode(&self, writer: &mut Writer) {
        writer.u8(self.algorithm.tag()).raw(&self.bytes);
    }
}

impl Decode for Signature {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let algorithm = SignatureAlgorithm::from_tag(reader.u8("signature algorithm")?)?;
        let bytes = reader.array::<SIGNATURE_LEN>("signature")?;
        Ok(Self { algorithm, bytes })
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.to_hex())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Signature {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, hex_part) = text
            .split_once(':')
            .ok_or_else(|| KeyError::MissingAlgorithm(text.to_owned()))?;
        let algorithm = name.parse()?;
        let mut bytes = [0u8; SIGNATURE_LEN];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|e| KeyError::BadHex {
            what: "signature",
            reason: e.to_string(),
        })?;
        Ok(Self { algorithm, bytes })
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A signature that did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("signature by {signer} does not verify")]
pub struct SignatureError {
    pub signer: PublicKey,
}

/// A secret signing key. It never appears in `Debug` output.
#[derive(Clone)]
pub struct SigningKey {
    inner: SecretInner,
}

#[derive(Clone)]
enum SecretInner {
    Ed25519(ed25519_dalek::SigningKey),
    Sm2(sm2::dsa::SigningKey),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// The JSON key file (SPEC.md §4.3).
#[derive(Serialize, Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    algorithm: SignatureAlgorithm,
    public_key: String,
    secret_key: String,
}

const KEY_FILE_TYPE: &str = "evidence-signing-key";

impl SigningKey {
    /// A new Ed25519 key from the operating system's random number generator.
    pub fn generate() -> Self {
        Self::generate_with(&mut rand_core::OsRng)
    }

    /// A new Ed25519 key from `rng` (tests and fixtures pass a seeded generator).
    pub fn generate_with(rng: &mut (impl rand_core::CryptoRng + rand_core::RngCore)) -> Self {
        Self::generate_for_with(SignatureAlgorithm::Ed25519, rng)
    }

    /// A new key of `algorithm` from the operating system's random number generator.
    pub fn generate_for(algorithm: SignatureAlgorithm) -> Self {
        Self::generate_for_with(algorithm, &mut rand_core::OsRng)
    }

    /// A new key of `algorithm` from `rng`: 32 random bytes, drawn again (for SM2) until they
    /// are a valid private scalar.
    pub fn generate_for_with(
        algorithm: SignatureAlgorithm,
        rng: &mut (impl rand_core::CryptoRng + rand_core::RngCore),
    ) -> Self {
        loop {
            let mut secret = zeroize::Zeroizing::new([0u8; SECRET_KEY_LEN]);
            rng.fill_bytes(secret.as_mut_slice());
            if let Ok(key) = Self::from_secret(algorithm, &secret) {
                return key;
            }
        }
    }

    /// The Ed25519 key whose 32-byte seed is `seed` (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; SECRET_KEY_LEN]) -> Self {
        Self {
            inner: SecretInner::Ed25519(ed25519_dalek::SigningKey::from_bytes(seed)),
        }
    }

    /// The key of `algorithm` whose secret is `secret`: for Ed25519 the RFC 8032 seed (any 32
    /// bytes), for SM2 the private scalar `d`, big-endian.
    ///
    /// # Errors
    /// [`KeyError::SecretOutOfRange`] for an SM2 scalar outside `1 ..= n − 2` (`d = n − 1`
    /// is refused because signing divides by `1 + d`).
    pub fn from_secret(
        algorithm: SignatureAlgorithm,
        secret: &[u8; SECRET_KEY_LEN],
    ) -> Result<Self, KeyError> {
        match algorithm {
            SignatureAlgorithm::Ed25519 => Ok(Self::from_seed(secret)),
            SignatureAlgorithm::Sm2 => {
                let key = sm2::dsa::SigningKey::from_slice(SM2_USER_ID, secret)
                    .map_err(|_| KeyError::SecretOutOfRange)?;
                // d = n − 1 makes 1 + d zero: the crate accepts the key, but it cannot sign.
                let d_plus_one = *key.as_nonzero_scalar().as_ref() + sm2::Scalar::ONE;
                if bool::from(d_plus_one.is_zero()) {
                    return Err(KeyError::SecretOutOfRange);
                }
                Ok(Self {
                    inner: SecretInner::Sm2(key),
                })
            }
        }
    }

    pub fn algorithm(&self) -> SignatureAlgorithm {
        match self.inner {
            SecretInner::Ed25519(_) => SignatureAlgorithm::Ed25519,
            SecretInner::Sm2(_) => SignatureAlgorithm::Sm2,
        }
    }

    /// The 32 secret bytes: the Ed25519 seed or the SM2 private scalar. Handle with care.
    pub fn seed(&self) -> [u8; SECRET_KEY_LEN] {
        match &self.inner {
            SecretInner::Ed25519(key) => key.to_bytes(),
            SecretInner::Sm2(key) => key.to_bytes().into(),
        }
    }

    pub fn public_key(&self) -> PublicKey {
        match &self.inner {
            SecretInner::Ed25519(key) => PublicKey {
                inner: ed25519_key(key.verifying_key()),
            },
            SecretInner::Sm2(key) => {
                let point = *key.verifying_key().as_affine();
                let mut bytes = [0u8; SM2_PUBLIC_KEY_LEN];
                bytes.copy_from_slice(point.to_sec1_point(true).as_bytes());
                PublicKey {
                    inner: KeyInner::Sm2 { bytes, point },
                }
            }
        }
    }

    /// Signs `message` (which must already start with its domain prefix).
    ///
    /// Ed25519 signatures are deterministic (RFC 8032). SM2 signatures are too: the nonce `k`
    /// is derived from the secret and `e` (RFC 6979 with HMAC-SM3); a verifier cannot tell,
    /// and need not.
    pub fn sign(&self, message: &[u8]) -> Signature {
        match &self.inner {
            SecretInner::Ed25519(key) => Signature {
                algorithm: SignatureAlgorithm::Ed25519,
                bytes: key.sign(message).to_bytes(),
            },
            SecretInner::Sm2(key) => Signature {
                algorithm: SignatureAlgorithm::Sm2,
                bytes: sm2_sign(key, message),
            },
        }
    }

    /// The key file text: JSON with the type, version, algorithm, public key and secret.
    pub fn to_key_file(&self) -> String {
        let file = KeyFile {
            kind: KEY_FILE_TYPE.to_owned(),
            version: 1,
            algorithm: self.algorithm(),
            public_key: self.public_key().to_string(),
            secret_key: hex::encode(self.seed()),
        };
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads a key file, checking that the stated public key matches the secret key so that a
    /// damaged file is caught rather than silently used.
    ///
    /// # Errors
    /// Not JSON, not a key file, an unknown version or algorithm, bad hex, an SM2 secret out of
    /// range, or a damaged file.
    pub fn from_key_file(text: &str) -> Result<Self, KeyError> {
        let file: KeyFile =
            serde_json::from_str(text).map_err(|e| KeyError::KeyFileNotJson(e.to_string()))?;
        if file.kind != KEY_FILE_TYPE {
            return Err(KeyError::KeyFileWrongType(file.kind));
        }
        if file.version != 1 {
            return Err(KeyError::KeyFileVersion(file.version));
        }
        let mut secret = zeroize::Zeroizing::new([0u8; SECRET_KEY_LEN]);
        hex::decode_to_slice(&file.secret_key, secret.as_mut_slice()).map_err(|e| {
            KeyError::BadHex {
                what: "secret key",
                reason: e.to_string(),
            }
        })?;
        let key = Self::from_secret(file.algorithm, &secret)?;
        let derived = key.public_key();
        // Compare keys, not text, so that upper-case hex is read like lower-case.
        let matches = file
            .public_key
            .parse::<PublicKey>()
            .is_ok_and(|stated| stated == derived);
        if !matches {
            return Err(KeyError::KeyFileDamaged {
                stated: file.public_key,
                derived: derived.to_string(),
            });
        }
        Ok(key)
    }
}

/// An SM2 signature `r || s` over `message` with the default user id.
///
/// The nonce is derived deterministically. In the rare case (about 3 in `n ≈ 2^256`) that it
/// gives `r = 0`, `r + k = n` or `s = 0`, signing is repeated with a counter as the extra input
/// RFC 6979 §3.6 allows, which changes `k` but not what is signed.
fn sm2_sign(key: &sm2::dsa::SigningKey, message: &[u8]) -> [u8; SIGNATURE_LEN] {
    if let Ok(signature) = sm2::dsa::signature::Signer::try_sign(key, message) {
        return signature.to_bytes().into();
    }
    let mut counter = CounterRng(0);
    loop {
        if let Ok(signature) =
            sm2::dsa::signature::RandomizedSigner::try_sign_with_rng(key, &mut counter, message)
        {
            return signature.to_bytes().into();
        }
    }
}

/// The extra input for a repeated SM2 signature: a counter, spread over the bytes asked for.
struct CounterRng(u64);

impl sm2::dsa::signature::rand_core::TryRng for CounterRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.0 += 1;
        Ok(self.0 as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 += 1;
        Ok(self.0)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0 += 1;
        for (i, byte) in dst.iter_mut().enumerate() {
            *byte = self.0.to_be_bytes()[i % 8];
        }
        Ok(())
    }
}

impl sm2::dsa::signature::rand_core::TryCryptoRng for CounterRng {}

/// Verifies many signatures at once, for bulk admission checks. Ed25519 signatures get the
/// per-signature parts of the strict rule of [`PublicKey::verify`], then one randomised batch
/// equation; SM2 has no batch equation, so a list holding any SM2 signature is verified one
/// signature at a time.
///
/// Each Ed25519 item is first checked against the parts of the strict rule a batch equation
/// cannot express (canonical `S`, no small-order key or `R`); the rest is one batched
/// multi-scalar check. If the batch fails, each signature is verified alone so the error names
/// the first bad one. Dalek's batch equation is randomised and, unlike the strict single check,
/// could accept a signature whose `R` carries a torsion component — a signature only the key's
/// own holder can make. Consensus-critical and court-facing checks (receipts, certificates)
/// use [`PublicKey::verify`]; this function is for bulk admission checks where a later strict
/// check follows.
///
/// # Errors
/// The index and error of the first signature that does not verify.
pub fn verify_batch(
    items: &[(&[u8], &Signature, &PublicKey)],
) -> Result<(), (usize, SignatureError)> {
    if items.is_empty() {
        return Ok(());
    }
    let mut messages = Vec::with_capacity(items.len());
    let mut signatures = Vec::with_capacity(items.len());
    let mut keys = Vec::with_capacity(items.len());
    for (index, (message, signature, key)) in items.iter().enumerate() {
        let bad = || (index, SignatureError { signer: **key });
        let KeyInner::Ed25519 {
            key: dalek_key,
            small_order,
        } = key.inner
        else {
            return verify_each(items);
        };
        if signature.algorithm != SignatureAlgorithm::Ed25519
            || small_order
            || !strict_signature_shape(signature)
        {
            return Err(bad());
        }
        messages.push(*message);
        signatures.push(ed25519_dalek::Signature::from_bytes(&signature.bytes));
        keys.push(dalek_key);
    }
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        return Ok(());
    }
    verify_each(items)?;
    // The batch failed yet every signature verified alone: cannot happen for well-formed
    // input, but report the first item rather than accept.
    Err((
        0,
        SignatureError {
            signer: *items[0].2,
        },
    ))
}

/// Verifies each signature alone, naming the first that fails.
fn verify_each(items: &[(&[u8], &Signature, &PublicKey)]) -> Result<(), (usize, SignatureError)> {
    for (index, (message, signature, key)) in items.iter().enumerate() {
        key.verify(message, signature).map_err(|e| (index, e))?;
    }
    Ok(())
}

/// True unless `bytes` is a non-canonical point encoding (RFC 8032 §5.1.3): a y-coordinate
/// of `p = 2^255 - 19` or more, or `x = 0` (which happens exactly when `y = 1` or `y = p - 1`)
/// with the sign bit set. Whether `y` is on the curve at all is left to decompression; this
/// check reads the bytes only, so it costs nothing next to it.
fn is_canonical_encoding(bytes: &[u8; 32]) -> bool {
    let sign = bytes[31] >> 7;
    let mut y = *bytes;
    y[31] &= 0x7f;
    // y >= p exactly when y is one of p .. 2^255 - 1: bytes ed..ff, then thirty ff, then 7f.
    let at_least_p = y[0] >= 0xed && y[1..31].iter().all(|b| *b == 0xff) && y[31] == 0x7f;
    if at_least_p {
        return false;
    }
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut p_minus_one = [0xffu8; 32];
    p_minus_one[0] = 0xec;
    p_minus_one[31] = 0x7f;
    !(sign == 1 && (y == one || y == p_minus_one))
}

/// Checks the parts of strict verification that concern the signature bytes alone: `S` is
/// a canonical scalar and `R` is the canonical encoding of a point that is not of small order.
fn strict_signature_shape(signature: &Signature) -> bool {
    let mut r_bytes = [0u8; 32];
    let mut s_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&signature.bytes[..32]);
    s_bytes.copy_from_slice(&signature.bytes[32..]);
    let canonical_s = bool::from(Scalar::from_canonical_bytes(s_bytes).is_some());
    let r_ok = CompressedEdwardsY(r_bytes)
        .decompress()
        .is_some_and(|point| !point.is_small_order());
    let r_ok = r_ok && is_canonical_encoding(&r_bytes);
    canonical_s && r_ok
}

// Strict Ed25519 verification ------------------------------------------------------------------

/// The [`KeyInner`] of an Ed25519 key: the key and whether its point is of small order.
fn ed25519_key(key: ed25519_dalek::VerifyingKey) -> KeyInner {
    KeyInner::Ed25519 {
        small_order: key.is_weak(),
        key,
    }
}

/// The canonical encodings of the eight points of small order, the points `T` with `[8]T` the
/// identity (the curve's group is `Z/8 × Z/ℓ`, so there are exactly eight): the identity
/// (`y = 1`), the point of order 2 (`y = p − 1`), the two of order 4 (`y = 0`, either sign of
/// `x`) and the four of order 8 (`y = ±y₈`, either sign of `x`).
const SMALL_ORDER_ENCODINGS: [[u8; 32]; 8] = [
    [
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ],
    [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x80,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0xfa,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x85,
    ],
];

/// Strict Ed25519 verification of `signature` over `message` by `key` (SPEC.md §4.2), with
/// `small_order` whether the key's point is of small order: the check [`PublicKey::verify`]
/// makes, with a table of the key's multiples when the key is verified often (see
/// [`key_table`]).
fn ed25519_verify(
    key: &ed25519_dalek::VerifyingKey,
    small_order: bool,
    message: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> bool {
    // What is refused without any curve arithmetic does not count towards a key's table:
    // signatures that cost nothing to refuse must not make the node build tables.
    if ed25519_shape(small_order, signature).is_none() {
        return false;
    }
    let table = key_table(key);
    ed25519_verify_with(key, small_order, message, signature, table.as_deref())
}

/// The split signature `(R, S)` when it passes the checks that need no curve arithmetic: `S`
/// canonical, the key not of small order, `R` not the encoding of a point of small order.
fn ed25519_shape(small_order: bool, signature: &[u8; SIGNATURE_LEN]) -> Option<([u8; 32], Scalar)> {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&signature[..32]);
    s.copy_from_slice(&signature[32..]);
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s))?;
    if small_order || SMALL_ORDER_ENCODINGS.contains(&r) {
        return None;
    }
    Some((r, s))
}

/// Strict Ed25519 verification, optionally with `table`, a table of multiples of the key's
/// point `A`.
///
/// It accepts exactly the signatures ed25519-dalek's `VerifyingKey::verify_strict` accepts,
/// which checks, in this order: (1) `S < ℓ`; (2) `R` decompresses to a point; (3) neither `R`'s
/// point nor `A` is of small order; (4) `compress([S]B − [k]A)` equals the 32 bytes `R`, with
/// `k = SHA-512(R || A || M) mod ℓ` over the bytes as given. This function checks (1), (3) for
/// `A`, (3') `R` is not one of [`SMALL_ORDER_ENCODINGS`], and (4) — without decompressing `R`,
/// which costs about a tenth of a verification. (ed25519-dalek's `legacy_compatibility`
/// feature would loosen its check (1) to "the top three bits of `S` are clear"; nothing in the
/// dependency graph enables it, and the tests comparing verdicts on non-canonical `S` fail if
/// anything ever does.) The verdicts agree:
///
/// - `compress` maps each point to its one canonical encoding, and decompressing a canonical
///   encoding gives its point back (`y` determines `x` up to sign, and the sign bit is the
///   parity of the canonical `x`).
/// - If (4) holds, `R = compress(P)` for `P = [S]B − [k]A`, so `R` decompresses to `P`: (2)
///   holds; and `R`'s point is of small order exactly when `P` is one of the eight points of
///   small order, that is exactly when `R = compress(P)` is one of their eight canonical
///   encodings: (3) for `R` is (3'). If (4) fails, both refuse, whatever (2), (3) and (3').
///   A non-canonical `R` (`y ≥ p`, or `x = 0` with the sign bit set) never equals a
///   compression, so it fails (4) in both, whether or not it names a point of small order.
/// - The conditions are a conjunction, so the order of the checks changes no verdict; a
///   refusal carries no reason ([`SignatureError`] names only the signer).
/// - `k` is the same integer in both (the digest of the same bytes, reduced mod ℓ to
///   `0 ≤ k < ℓ`), and `[S]B − [k]A` is one group element however it is computed: the
///   double-base multiplication (ed25519-dalek's), or `[S]B − [k]A` from the base point's
///   table and `A`'s ([`KeyTable`]). The tables' multiplication adds the multiples `dᵢ·64ⁱ`
///   of each point for the signed radix-64 digits `dᵢ` of its scalar, with complete
///   addition formulas, taking `−dᵢ·64ⁱ·A` as the negation of the table's point. So `[k]A`
///   is exact even when `A` has a torsion component (there `[k]A` depends on `k mod 8ℓ`, so
///   the point is negated, never the scalar). It picks the table's entries by the digits'
///   values, in time that depends on them: the scalars of a verification are public.
fn ed25519_verify_with(
    key: &ed25519_dalek::VerifyingKey,
    small_order: bool,
    message: &[u8],
    signature: &[u8; SIGNATURE_LEN],
    table: Option<&KeyTable>,
) -> bool {
    let Some((r, s)) = ed25519_shape(small_order, signature) else {
        return false;
    };
    let mut hasher = sha2::Sha512::new();
    hasher.update(r);
    hasher.update(key.as_bytes());
    hasher.update(message);
    let mut wide = [0u8; 64];
    wide.copy_from_slice(&hasher.finalize());
    let k = Scalar::from_bytes_mod_order_wide(&wide);
    let expected = match table {
        Some(table) => BASE_TABLE.vartime_mul_base_difference(&s, table, &k),
        None => EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-key.to_edwards(), &s),
    };
    expected.compress().0 == r
}

/// A table of a point's multiples for [`ed25519_verify_with`]: radix 64, 120 KiB, 32 rows of
/// the 32 multiples `1..=32` of `64²ⁱ·P`.
///
/// With it, a verification is about 43 additions a scalar and 6 doublings (`[S]B − [k]A` in one
/// pass, `vartime_mul_base_difference` of the vendored curve arithmetic, vendor/README.md),
/// against about 253 doublings and 70 additions for the double-base multiplication:
/// about 11 µs against 31 µs on the machine of BENCHMARKS.md's section "Signatures with a
/// key's table in variable time" (`cargo bench -p evidence-core --bench receipt --
/// ed25519_curve`). Radix 16 (30 KiB) gives 15.5 µs, radix 256 (480 KiB) 8.8 µs.
type KeyTable = EdwardsBasepointTableRadix64;

/// The base point's [`KeyTable`], built on first use.
static BASE_TABLE: LazyLock<KeyTable> =
    LazyLock::new(|| KeyTable::create(&ED25519_BASEPOINT_POINT));

/// Verifications of one key, without a table, after which [`key_table`] builds the key's table.
///
/// A [`KeyTable`] takes about as long to build (3.7 ms) as 190 verifications save with it, so
/// the table is built once the key's verifications without it could have paid for it. A
/// chain's validators and busy filers get one within their first seconds of load; a key seen a
/// few times never does.
const KEY_TABLE_AFTER_USES: u32 = 256;
/// Key tables kept (about 4 MiB), the least recently used dropped first.
const KEY_TABLES_MAX: usize = 32;
/// Keys whose verifications [`key_table`] counts; the counts restart when there are more.
const KEY_USES_MAX: usize = 4096;

/// Tables of multiples of the Ed25519 keys verified most, shared by every thread: a chain's
/// validators and busiest filers sign again and again.
static KEY_TABLES: LazyLock<Mutex<KeyTables>> = LazyLock::new(Mutex::default);

#[derive(Default)]
struct KeyTables {
    /// Verifications so far of each key without a table.
    uses: HashMap<[u8; PUBLIC_KEY_LEN], u32>,
    /// Each table, with the tick of its last use.
    tables: HashMap<[u8; PUBLIC_KEY_LEN], (Arc<KeyTable>, u64)>,
    /// Counts lookups, to find the least recently used table.
    tick: u64,
}

/// The table of `key`'s multiples if there is one, or once `key` has been verified
/// [`KEY_TABLE_AFTER_USES`] times without one. Only speed depends on it, never a verdict.
fn key_table(key: &ed25519_dalek::VerifyingKey) -> Option<Arc<KeyTable>> {
    let bytes = key.to_bytes();
    {
        let mut guard = KEY_TABLES.lock().unwrap_or_else(PoisonError::into_inner);
        let KeyTables { uses, tables, tick } = &mut *guard;
        *tick += 1;
        if let Some((table, last_used)) = tables.get_mut(&bytes) {
            *last_used = *tick;
            return Some(Arc::clone(table));
        }
        if uses.len() >= KEY_USES_MAX && !uses.contains_key(&bytes) {
            uses.clear();
        }
        let count = uses.entry(bytes).or_insert(0);
        *count += 1;
        if *count < KEY_TABLE_AFTER_USES {
            return None;
        }
        uses.remove(&bytes);
    }
    // Built without holding the lock; another thread may build the same table meanwhile, and
    // the later one replaces the earlier.
    let table = Arc::new(KeyTable::create(&key.to_edwards()));
    let mut guard = KEY_TABLES.lock().unwrap_or_else(PoisonError::into_inner);
    let KeyTables { tables, tick, .. } = &mut *guard;
    if tables.len() >= KEY_TABLES_MAX && !tables.contains_key(&bytes) {
        let oldest = tables
            .iter()
            .min_by_key(|(_, (_, last_used))| *last_used)
            .map(|(oldest, _)| *oldest);
        if let Some(oldest) = oldest {
            tables.remove(&oldest);
        }
    }
    *tick += 1;
    tables.insert(bytes, (Arc::clone(&table), *tick));
    Some(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_seed(&[seed; 32])
    }

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 §7.1, TEST 1 (empty message).
        let mut seed = [0u8; 32];
        hex::decode_to_slice(
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            &mut seed,
        )
        .unwrap();
        let key = SigningKey::from_seed(&seed);
        assert_eq!(
            hex::encode(key.public_key().as_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let signature = key.sign(b"");
        assert_eq!(
            signature.to_hex(),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        key.public_key().verify(b"", &signature).unwrap();
    }

    #[test]
    fn wrong_message_or_key_is_rejected() {
        let signature = key(1).sign(b"evidence/v1/test\nhello");
        assert!(
            key(1)
                .public_key()
                .verify(b"evidence/v1/test\nhellO", &signature)
                .is_err()
        );
        assert!(
            key(2)
                .public_key()
                .verify(b"evidence/v1/test\nhello", &signature)
                .is_err()
        );
    }

    #[test]
    fn non_canonical_s_is_rejected() {
        let k = key(3);
        let mut signature = k.sign(b"m");
        // Adding the group order to S gives the same point but a non-canonical scalar.
        let order: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (s_byte, order_byte) in signature.bytes[32..].iter_mut().zip(order) {
            let sum = u16::from(*s_byte) + u16::from(order_byte) + carry;
            *s_byte = sum as u8;
            carry = sum >> 8;
        }
        assert!(k.public_key().verify(b"m", &signature).is_err());
        assert!(verify_batch(&[(b"m".as_slice(), &signature, &k.public_key())]).is_err());
    }

    #[test]
    fn batch_accepts_good_and_names_the_bad_one() {
        let keys: Vec<SigningKey> = (0..8).map(key).collect();
        let messages: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 10]).collect();
        let mut signatures: Vec<Signature> =
            keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
        let publics: Vec<PublicKey> = keys.iter().map(SigningKey::public_key).collect();
        let items = |sigs: &[Signature]| -> Vec<(Vec<u8>, Signature, PublicKey)> {
            (0..8)
                .map(|i| (messages[i].clone(), sigs[i], publics[i]))
                .collect()
        };
        let owned = items(&signatures);
        let refs: Vec<(&[u8], &Signature, &PublicKey)> =
            owned.iter().map(|(m, s, k)| (m.as_slice(), s, k)).collect();
        verify_batch(&refs).unwrap();
        signatures[5].bytes[40] ^= 1;
        let owned = items(&signatures);
        let refs: Vec<(&[u8], &Signature, &PublicKey)> =
            owned.iter().map(|(m, s, k)| (m.as_slice(), s, k)).collect();
        assert_eq!(verify_batch(&refs).unwrap_err().0, 5);
    }

    #[test]
    fn key_files_with_upper_case_hex_are_read() {
        let text = key(7).to_key_file();
        let file: serde_json::Value = serde_json::from_str(&text).unwrap();
        let public = file["public_key"].as_str().unwrap();
        let secret = file["secret_key"].as_str().unwrap();
        let upper = text
            .replace(public, &format!("ed25519:{}", public[8..].to_uppercase()))
            .replace(secret, &secret.to_uppercase());
        assert_eq!(
            SigningKey::from_key_file(&upper).unwrap().public_key(),
            key(7).public_key()
        );
    }

    #[test]
    fn key_file_round_trips() {
        let k = key(7);
        let text = k.to_key_file();
        let back = SigningKey::from_key_file(&text).unwrap();
        assert_eq!(back.public_key(), k.public_key());
    }

    #[test]
    fn damaged_or_foreign_key_files_are_rejected_clearly() {
        let text = key(7).to_key_file();
        assert!(matches!(
            SigningKey::from_key_file("not json"),
            Err(KeyError::KeyFileNotJson(_))
        ));
        assert!(matches!(
            SigningKey::from_key_file(&text.replace("evidence-signing-key", "ssh-key")),
            Err(KeyError::KeyFileWrongType(_))
        ));
        assert!(matches!(
            SigningKey::from_key_file(&text.replace("\"version\": 1", "\"version\": 9")),
            Err(KeyError::KeyFileVersion(9))
        ));
        // Flip one hex digit of the secret: the stated public key no longer matches.
        let secret_at = text.find("secret_key").unwrap() + 14;
        let mut damaged = text.clone().into_bytes();
        damaged[secret_at] = if damaged[secret_at] == b'0' {
            b'1'
        } else {
            b'0'
        };
        assert!(matches!(
            SigningKey::from_key_file(std::str::from_utf8(&damaged).unwrap()),
            Err(KeyError::KeyFileDamaged { .. })
        ));
        let truncated = text.replace(&hex::encode(key(7).seed()), "abcd");
        assert!(matches!(
            SigningKey::from_key_file(&truncated),
            Err(KeyError::BadHex { .. })
        ));
    }

    #[test]
    fn public_key_text_and_bytes_are_validated() {
        let k = key(9).public_key();
        assert_eq!(k.to_string().parse::<PublicKey>().unwrap(), k);
        assert!(matches!(
            "abc".parse::<PublicKey>(),
            Err(KeyError::MissingAlgorithm(_))
        ));
        assert!(matches!(
            "ecdsa:00".parse::<PublicKey>(),
            Err(KeyError::UnknownAlgorithm(_))
        ));
        assert!(matches!(
            "sm2:00".parse::<PublicKey>(),
            Err(KeyError::BadHex { .. })
        ));
        // About half of all 32-byte strings are not the y-coordinate of a curve point.
        let not_a_point = (0u8..=255)
            .map(|b| {
                let mut bytes = vec![1u8, b];
                bytes.extend_from_slice(&[0u8; 31]);
                bytes
            })
            .find(|bytes| PublicKey::from_canonical_bytes(bytes).is_err())
            .unwrap();
        assert!(matches!(
            PublicKey::from_canonical_bytes(&not_a_point),
            Err(DecodeError::InvalidValue { .. })
        ));
        assert!(matches!(
            PublicKey::from_canonical_bytes(&[5u8; 33]),
            Err(DecodeError::UnknownTag { tag: 5, .. })
        ));
    }

    #[test]
    fn non_canonical_public_key_encodings_are_rejected() {
        // For a small y on the curve, y + p (p = 2^255 - 19) still fits in 255 bits and names
        // the same point to a reader that does not insist on y < p.
        let y = (2u8..18)
            .find(|y| {
                let mut bytes = [0u8; 32];
                bytes[0] = *y;
                CompressedEdwardsY(bytes).decompress().is_some()
            })
            .unwrap();
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xed + y;
        non_canonical[31] = 0x7f;
        assert!(CompressedEdwardsY(non_canonical).decompress().is_some());
        assert!(matches!(
            PublicKey::from_bytes(&non_canonical),
            Err(KeyError::NotACurvePoint(_))
        ));
        // x = 0 with the sign bit set: the point y = 1 (the identity) written with sign 1.
        let mut negative_zero = [0u8; 32];
        negative_zero[0] = 1;
        negative_zero[31] = 0x80;
        assert!(matches!(
            PublicKey::from_bytes(&negative_zero),
            Err(KeyError::NotACurvePoint(_))
        ));
    }

    #[test]
    fn the_byte_level_canonical_check_agrees_with_re_encoding() {
        let mut candidates: Vec<[u8; 32]> = Vec::new();
        for low in 0u8..=255 {
            for high in [0x00u8, 0x7f, 0x80, 0xff] {
                let mut bytes = [0xffu8; 32];
                bytes[0] = low;
                bytes[31] = high;
                candidates.push(bytes);
                let mut bytes = [0u8; 32];
                bytes[0] = low;
                bytes[31] = high;
                candidates.push(bytes);
            }
        }
        for seed in 0u8..64 {
            candidates.push(
                SigningKey::from_seed(&[seed; 32])
                    .public_key()
                    .as_bytes()
                    .try_into()
                    .unwrap(),
            );
        }
        for bytes in candidates {
            if let Some(point) = CompressedEdwardsY(bytes).decompress() {
                assert_eq!(
                    is_canonical_encoding(&bytes),
                    point.compress().0 == bytes,
                    "{}",
                    hex::encode(bytes)
                );
            }
        }
    }

    // SM2 ------------------------------------------------------------------------------------

    fn sm2_key(seed: u8) -> SigningKey {
        SigningKey::from_secret(SignatureAlgorithm::Sm2, &[seed; 32]).unwrap()
    }

    /// The order `n` of the SM2 curve, big-endian.
    const SM2_N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x72, 0x03, 0xdf, 0x6b, 0x21, 0xc6, 0x05, 0x2b, 0x53, 0xbb, 0xf4, 0x09, 0x39, 0xd5,
        0x41, 0x23,
    ];

    fn hex32(text: &str) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).unwrap();
        bytes
    }

    /// `n - value` for a 32-byte big-endian value below `n`.
    fn n_minus(value: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut d = i16::from(SM2_N[i]) - i16::from(value[i]) - borrow;
            borrow = i16::from(d < 0);
            if d < 0 {
                d += 256;
            }
            out[i] = d as u8;
        }
        out
    }

    #[test]
    fn sm2_standard_example_verifies() {
        // The signature example of GB/T 32918.5 / GM/T 0003.5 on the recommended curve:
        // message "message digest", user id 1234567812345678 (also checked with an
        // independent implementation).
        let key = SigningKey::from_secret(
            SignatureAlgorithm::Sm2,
            &hex32("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"),
        )
        .unwrap();
        let public = key.public_key();
        // x = 09f9…5020; y = ccea…ad13 is odd, so the compressed prefix is 03.
        assert_eq!(
            public.to_string(),
            "sm2:0309f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
        );
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&hex32(
            "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3",
        ));
        bytes[32..].copy_from_slice(&hex32(
            "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa",
        ));
        let signature = Signature {
            algorithm: SignatureAlgorithm::Sm2,
            bytes,
        };
        public.verify(b"message digest", &signature).unwrap();
        assert!(public.verify(b"message digesT", &signature).is_err());
        // Our own signature over the same message verifies too (its nonce differs).
        let ours = key.sign(b"message digest");
        public.verify(b"message digest", &ours).unwrap();
        assert_eq!(ours, key.sign(b"message digest"), "deterministic");
    }

    #[test]
    fn sm2_signatures_bind_the_default_user_id() {
        let key = sm2_key(1);
        let message = b"evidence/v1/test\nhello";
        // The same key and message signed under another user id: a different Z, so a
        // different e; it must not verify under the ledger's rule.
        let foreign = sm2::dsa::SigningKey::from_slice("evidence", &key.seed()).unwrap();
        let foreign: sm2::dsa::Signature =
            sm2::dsa::signature::Signer::try_sign(&foreign, message).unwrap();
        let signature = Signature {
            algorithm: SignatureAlgorithm::Sm2,
            bytes: foreign.to_bytes().into(),
        };
        assert!(key.public_key().verify(message, &signature).is_err());
        key.public_key()
            .verify(message, &key.sign(message))
            .unwrap();
    }

    #[test]
    fn sm2_signatures_out_of_range_or_mangled_are_rejected() {
        let key = sm2_key(2);
        let public = key.public_key();
        let message = b"m";
        let good = key.sign(message);
        public.verify(message, &good).unwrap();
        let with = |r: [u8; 32], s: [u8; 32]| {
            let mut bytes = [0u8; 64];
            bytes[..32].copy_from_slice(&r);
            bytes[32..].copy_from_slice(&s);
            Signature {
                algorithm: SignatureAlgorithm::Sm2,
                bytes,
            }
        };
        let r: [u8; 32] = good.bytes[..32].try_into().unwrap();
        let s: [u8; 32] = good.bytes[32..].try_into().unwrap();
        // Zero, n and anything above n are outside 1 ..= n − 1.
        for bad in [[0u8; 32], SM2_N, [0xff; 32]] {
            assert!(public.verify(message, &with(bad, s)).is_err());
            assert!(public.verify(message, &with(r, bad)).is_err());
        }
        // The ECDSA-style twin (r, n − s) is no SM2 signature: t = r + s changes with s.
        assert!(public.verify(message, &with(r, n_minus(&s))).is_err());
        assert!(public.verify(message, &with(n_minus(&r), s)).is_err());
        // An SM2 signature under an Ed25519 tag, or from another key, fails.
        let relabelled = Signature {
            algorithm: SignatureAlgorithm::Ed25519,
            bytes: good.bytes,
        };
        assert!(public.verify(message, &relabelled).is_err());
        assert!(sm2_key(3).public_key().verify(message, &good).is_err());
        assert!(verify_batch(&[(message.as_slice(), &with(r, n_minus(&s)), &public)]).is_err());
    }

    #[test]
    fn sm2_secret_keys_must_be_in_range() {
        for bad in [
            [0u8; 32],
            SM2_N,
            [0xff; 32],
            n_minus(&{
                let mut one = [0u8; 32];
                one[31] = 1;
                one
            }),
        ] {
            assert_eq!(
                SigningKey::from_secret(SignatureAlgorithm::Sm2, &bad).unwrap_err(),
                KeyError::SecretOutOfRange
            );
        }
        let mut two = [0u8; 32];
        two[31] = 2;
        let largest = n_minus(&two);
        SigningKey::from_secret(SignatureAlgorithm::Sm2, &largest).unwrap();
    }

    #[test]
    fn sm2_public_keys_are_compressed_points_on_the_curve() {
        let public = sm2_key(4).public_key();
        assert_eq!(public.algorithm(), SignatureAlgorithm::Sm2);
        assert_eq!(public.as_bytes().len(), SM2_PUBLIC_KEY_LEN);
        assert_eq!(public.to_string().parse::<PublicKey>().unwrap(), public);
        let encoded = public.to_canonical_bytes();
        assert_eq!(encoded[0], 2);
        assert_eq!(PublicKey::from_canonical_bytes(&encoded).unwrap(), public);
        // The uncompressed form (and the identity) are other encodings: refused.
        let mut uncompressed = vec![0x04];
        uncompressed.extend_from_slice(&public.as_bytes()[1..]);
        uncompressed.extend_from_slice(&[0u8; 32]);
        assert!(PublicKey::from_algorithm_bytes(SignatureAlgorithm::Sm2, &uncompressed).is_err());
        assert!(PublicKey::from_algorithm_bytes(SignatureAlgorithm::Sm2, &[0u8; 33]).is_err());
        // The other parity is the negated point: a different, valid key.
        let mut negated = public.to_bytes();
        negated[0] ^= 1;
        let negated = PublicKey::from_algorithm_bytes(SignatureAlgorithm::Sm2, &negated).unwrap();
        assert_ne!(negated, public);
        // x = p (and above) is no field element; about half of all x are on no point.
        let mut x_is_p = vec![0x02];
        x_is_p.extend_from_slice(&hex32(
            "fffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffff",
        ));
        assert!(PublicKey::from_algorithm_bytes(SignatureAlgorithm::Sm2, &x_is_p).is_err());
        let off_curve = (0u8..=255)
            .map(|b| {
                let mut bytes = vec![2u8, 1u8];
                bytes.extend_from_slice(&[0u8; 30]);
                bytes.push(b);
                bytes
            })
            .find(|bytes| PublicKey::from_algorithm_bytes(SignatureAlgorithm::Sm2, bytes).is_err())
            .unwrap();
        let mut encoded = vec![2u8];
        encoded.extend_from_slice(&off_curve);
        assert!(matches!(
            PublicKey::from_canonical_bytes(&encoded),
            Err(DecodeError::InvalidValue { .. })
        ));
        // An Ed25519-length SM2 key or an SM2-length Ed25519 key is not a key.
        assert!(PublicKey::from_algorithm_bytes(SignatureAlgorithm::Sm2, &[2u8; 32]).is_err());
        assert!(PublicKey::from_algorithm_bytes(SignatureAlgorithm::Ed25519, &[2u8; 33]).is_err());
        assert!(!public.is_small_order());
    }

    #[test]
    fn sm2_key_files_round_trip_and_are_checked() {
        let key = sm2_key(5);
        let text = key.to_key_file();
        assert!(text.contains("\"algorithm\": \"sm2\""));
        let back = SigningKey::from_key_file(&text).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(back.algorithm(), SignatureAlgorithm::Sm2);
        // A secret of n − 1 is refused by name.
        let mut one = [0u8; 32];
        one[31] = 1;
        let out_of_range = text.replace(&hex::encode(key.seed()), &hex::encode(n_minus(&one)));
        assert_eq!(
            SigningKey::from_key_file(&out_of_range).unwrap_err(),
            KeyError::SecretOutOfRange
        );
        // An SM2 secret read as Ed25519 derives another key: damaged.
        let relabelled = text.replace("\"algorithm\": \"sm2\"", "\"algorithm\": \"ed25519\"");
        assert!(matches!(
            SigningKey::from_key_file(&relabelled),
            Err(KeyError::KeyFileDamaged { .. })
        ));
    }

    #[test]
    fn generated_keys_of_each_algorithm_sign_and_verify() {
        use rand_core::SeedableRng as _;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        for algorithm in SignatureAlgorithm::ALL {
            let key = SigningKey::generate_for_with(algorithm, &mut rng);
            assert_eq!(key.algorithm(), algorithm);
            let public = key.public_key();
            assert_eq!(public.algorithm(), algorithm);
            let signature = key.sign(b"evidence/v1/test\nx");
            assert_eq!(signature.algorithm, algorithm);
            public.verify(b"evidence/v1/test\nx", &signature).unwrap();
            verify_batch(&[(b"evidence/v1/test\nx".as_slice(), &signature, &public)]).unwrap();
            assert_eq!(
                signature.to_string().parse::<Signature>().unwrap(),
                signature
            );
        }
    }

    #[test]
    fn batches_with_sm2_signatures_name_the_bad_one() {
        let keys: Vec<SigningKey> = (1..=4).map(sm2_key).chain((1..=4).map(key)).collect();
        let message = b"m".as_slice();
        let mut signatures: Vec<Signature> = keys.iter().map(|k| k.sign(message)).collect();
        let publics: Vec<PublicKey> = keys.iter().map(SigningKey::public_key).collect();
        let check = |sigs: &[Signature]| {
            let items: Vec<(&[u8], &Signature, &PublicKey)> = sigs
                .iter()
                .zip(&publics)
                .map(|(s, k)| (message, s, k))
                .collect();
            verify_batch(&items)
        };
        check(&signatures).unwrap();
        signatures[2].bytes[10] ^= 1;
        assert_eq!(check(&signatures).unwrap_err().0, 2);
    }

    // Strict Ed25519 verification against ed25519-dalek's `verify_strict` ------------------

    use curve25519_dalek::constants::EIGHT_TORSION;
    use rand_core::{RngCore as _, SeedableRng as _};

    /// ℓ, the order of the base point, little-endian.
    const ED25519_ORDER: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    /// Runs every strict check on one case and insists they agree: ed25519-dalek's
    /// `verify_strict`, ours with the double-base multiplication, ours with a table of the key,
    /// and [`PublicKey::verify`] (through the shared table cache). The key is taken as bytes,
    /// so that non-canonical and small-order encodings can be tried too.
    struct StrictOracle {
        tables: HashMap<[u8; 32], KeyTable>,
        accepted: usize,
        refused: usize,
    }

    impl StrictOracle {
        fn new() -> Self {
            Self {
                tables: HashMap::new(),
                accepted: 0,
                refused: 0,
            }
        }

        /// The agreed verdict, or `None` when the key bytes are no curve point.
        fn verdict(
            &mut self,
            key: &[u8; 32],
            message: &[u8],
            signature: &[u8; 64],
        ) -> Option<bool> {
            let dalek = ed25519_dalek::VerifyingKey::from_bytes(key).ok()?;
            let expected = dalek
                .verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
                .is_ok();
            let what = format!(
                "key {} message {} signature {}",
                hex::encode(key),
                hex::encode(message),
                hex::encode(signature)
            );
            let KeyInner::Ed25519 {
                key: ours,
                small_order,
            } = ed25519_key(dalek)
            else {
                unreachable!()
            };
            assert_eq!(small_order, dalek.to_edwards().is_small_order(), "{what}");
            assert_eq!(
                ed25519_verify_with(&ours, small_order, message, signature, None),
                expected,
                "double-base path: {what}"
            );
            let table = self
                .tables
                .entry(*key)
                .or_insert_with(|| KeyTable::create(&dalek.to_edwards()));
            assert_eq!(
                ed25519_verify_with(&ours, small_order, message, signature, Some(table)),
                expected,
                "table path: {what}"
            );
            let public = PublicKey {
                inner: ed25519_key(dalek),
            };
            let tagged = Signature {
                algorithm: SignatureAlgorithm::Ed25519,
                bytes: *signature,
            };
            assert_eq!(public.verify(message, &tagged).is_ok(), expected, "{what}");
            if expected {
                self.accepted += 1;
            } else {
                self.refused += 1;
            }
            Some(expected)
        }
    }

    fn random_scalar(rng: &mut rand_chacha::ChaCha20Rng) -> Scalar {
        let mut wide = [0u8; 64];
        rng.fill_bytes(&mut wide);
        Scalar::from_bytes_mod_order_wide(&wide)
    }

    fn challenge(r: &[u8; 32], key: &[u8; 32], message: &[u8]) -> Scalar {
        let mut hasher = sha2::Sha512::new();
        hasher.update(r);
        hasher.update(key);
        hasher.update(message);
        let mut wide = [0u8; 64];
        wide.copy_from_slice(&hasher.finalize());
        Scalar::from_bytes_mod_order_wide(&wide)
    }

    fn signature_bytes(r: &[u8; 32], s: &[u8; 32]) -> [u8; 64] {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(r);
        bytes[32..].copy_from_slice(s);
        bytes
    }

    /// `[n]T` for a small `n`, by additions (exact for any point).
    fn small_multiple(point: &EdwardsPoint, n: u64) -> EdwardsPoint {
        (0..n).fold(EdwardsPoint::default(), |sum, _| sum + point)
    }

    /// Every 32-byte string that ed25519-dalek decompresses to a point of small order: `y` in
    /// `0 .. 2^255` with `y mod p` one of the five `y` of those points (`y + p` still fits for
    /// `y = 0` and `y = 1` only), with either sign bit. 14 strings: the 8 canonical encodings
    /// and 6 non-canonical ones (`y ≥ p`, or `x = 0` with the sign bit set).
    fn small_order_strings() -> Vec<[u8; 32]> {
        let p_plus = |low: u8| {
            let mut bytes = [0xffu8; 32];
            bytes[0] = low;
            bytes[31] = 0x7f;
            bytes
        };
        let mut ys: Vec<[u8; 32]> = SMALL_ORDER_ENCODINGS
            .iter()
            .map(|bytes| {
                let mut y = *bytes;
                y[31] &= 0x7f;
                y
            })
            .collect();
        ys.push(p_plus(0xed)); // y = p, that is 0
        ys.push(p_plus(0xee)); // y = p + 1, that is 1
        let mut out = Vec::new();
        for y in ys {
            for sign in [0u8, 0x80] {
                let mut bytes = y;
                bytes[31] |= sign;
                if !out.contains(&bytes) {
                    out.push(bytes);
                }
            }
        }
        out.retain(|bytes| {
            CompressedEdwardsY(*bytes)
                .decompress()
                .is_some_and(|point| point.is_small_order())
        });
        out
    }

    #[test]
    fn small_order_encodings_are_the_eight_torsion_points() {
        let mut from_points: Vec<[u8; 32]> = EIGHT_TORSION
            .iter()
            .map(|point| point.compress().0)
            .collect();
        let mut listed = SMALL_ORDER_ENCODINGS.to_vec();
        from_points.sort_unstable();
        listed.sort_unstable();
        listed.dedup();
        assert_eq!(listed, from_points);
        for point in EIGHT_TORSION {
            assert!(point.is_small_order());
            assert!(small_multiple(&point, 8) == EdwardsPoint::default());
        }
        let strings = small_order_strings();
        assert_eq!(strings.len(), 14);
        let canonical = strings
            .iter()
            .filter(|bytes| SMALL_ORDER_ENCODINGS.contains(bytes))
            .count();
        assert_eq!(canonical, 8);
        for bytes in &strings {
            let point = CompressedEdwardsY(*bytes).decompress().unwrap();
            assert_eq!(
                SMALL_ORDER_ENCODINGS.contains(bytes),
                point.compress().0 == *bytes,
                "{}",
                hex::encode(bytes)
            );
        }
    }

    #[test]
    fn strict_verification_agrees_with_dalek_on_valid_and_mangled_signatures() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4_2_1);
        let mut oracle = StrictOracle::new();
        let keys: Vec<SigningKey> = (0..48)
            .map(|_| SigningKey::generate_with(&mut rng))
            .collect();
        for round in 0..400 {
            let key = &keys[round % keys.len()];
            let public: [u8; 32] = key.public_key().as_bytes().try_into().unwrap();
            let mut message = vec![0u8; (rng.next_u32() % 300) as usize];
            rng.fill_bytes(&mut message);
            let signature = key.sign(&message).bytes;
            assert_eq!(oracle.verdict(&public, &message, &signature), Some(true));
            // One bit of the message, of R, of S flipped; another key; a random signature.
            if !message.is_empty() {
                let mut flipped = message.clone();
                let bit = rng.next_u32() as usize % (8 * flipped.len());
                flipped[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(oracle.verdict(&public, &flipped, &signature), Some(false));
            }
            for half in [0usize, 32] {
                let mut mangled = signature;
                let bit = rng.next_u32() as usize % 256;
                mangled[half + bit / 8] ^= 1 << (bit % 8);
                assert_eq!(oracle.verdict(&public, &message, &mangled), Some(false));
            }
            let other: [u8; 32] = keys[(round + 1) % keys.len()]
                .public_key()
                .as_bytes()
                .try_into()
                .unwrap();
            assert_eq!(oracle.verdict(&other, &message, &signature), Some(false));
            let mut random = [0u8; 64];
            rng.fill_bytes(&mut random);
            assert_eq!(oracle.verdict(&public, &message, &random), Some(false));
        }
        assert_eq!(oracle.accepted, 400);
        assert!(oracle.refused >= 4 * 400 - 1);
    }

    #[test]
    fn strict_verification_agrees_with_dalek_on_non_canonical_s() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let mut oracle = StrictOracle::new();
        let key = SigningKey::generate_with(&mut rng);
        let public: [u8; 32] = key.public_key().as_bytes().try_into().unwrap();
        let add = |a: &[u8], b: &[u8]| -> Option<[u8; 32]> {
            let mut out = [0u8; 32];
            let mut carry = 0u16;
            for i in 0..32 {
                let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
                out[i] = sum as u8;
                carry = sum >> 8;
            }
            (carry == 0).then_some(out)
        };
        for round in 0..64u8 {
            let message = [round; 40];
            let signature = key.sign(&message).bytes;
            let r: [u8; 32] = signature[..32].try_into().unwrap();
            let s = &signature[32..];
            assert_eq!(oracle.verdict(&public, &message, &signature), Some(true));
            // S + ℓ, S + 2ℓ, … while they fit in 256 bits: the same equation, refused.
            let mut high = add(s, &ED25519_ORDER);
            while let Some(value) = high {
                let mangled = signature_bytes(&r, &value);
                assert_eq!(oracle.verdict(&public, &message, &mangled), Some(false));
                high = add(&value, &ED25519_ORDER);
            }
            // S with the top bit set; ℓ itself, ℓ − 1, ℓ + 1 and 2^256 − 1.
            let mut top = [0u8; 32];
            top.copy_from_slice(s);
            top[31] |= 0x80;
            let mut order_minus_one = ED25519_ORDER;
            order_minus_one[0] -= 1;
            let mut order_plus_one = ED25519_ORDER;
            order_plus_one[0] += 1;
            for value in [
                top,
                ED25519_ORDER,
                order_minus_one,
                order_plus_one,
                [0xff; 32],
            ] {
                let mangled = signature_bytes(&r, &value);
                assert_eq!(oracle.verdict(&public, &message, &mangled), Some(false));
            }
        }
    }

    #[test]
    fn strict_verification_agrees_with_dalek_on_small_order_and_mixed_order_points() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(8);
        let mut oracle = StrictOracle::new();
        let strings = small_order_strings();
        let torsion_of = |bytes: &[u8; 32]| {
            let point = CompressedEdwardsY(*bytes).decompress().unwrap();
            let order = (1..=8u64)
                .find(|n| small_multiple(&point, *n) == EdwardsPoint::default())
                .unwrap();
            (point, order)
        };
        let mut cofactorless_holds = 0;
        for (index, r_bytes) in strings.iter().enumerate() {
            let (t, order) = torsion_of(r_bytes);
            // R a small-order point T, under the key A = [a]B − T: with S = k·a,
            // [S]B − [k]A = [k]T, which is T when k ≡ 1 mod the order of T. Then the
            // cofactorless equation holds (for a canonical R, dalek's non-strict `verify`
            // accepts), and only the small-order check on R refuses.
            let a = random_scalar(&mut rng);
            let key_point = EdwardsPoint::mul_base(&a) - t;
            let key = key_point.compress().0;
            let mut found = false;
            for attempt in 0u32..200 {
                let message = [index as u8, attempt as u8, (attempt >> 8) as u8];
                let k = challenge(r_bytes, &key, &message);
                let signature = signature_bytes(r_bytes, (k * a).as_bytes());
                if EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-key_point, &(k * a)) == t
                {
                    found = true;
                    cofactorless_holds += 1;
                    let dalek = ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap();
                    let plain = ed25519_dalek::Verifier::verify(
                        &dalek,
                        &message,
                        &ed25519_dalek::Signature::from_bytes(&signature),
                    );
                    assert_eq!(plain.is_ok(), SMALL_ORDER_ENCODINGS.contains(r_bytes));
                }
                assert_eq!(oracle.verdict(&key, &message, &signature), Some(false));
                if found {
                    break;
                }
            }
            assert!(found, "order {order}");
            // R of small order under honest keys, with random S.
            for _ in 0..4 {
                let honest = SigningKey::generate_with(&mut rng).public_key();
                let honest: [u8; 32] = honest.as_bytes().try_into().unwrap();
                let s = random_scalar(&mut rng);
                let signature = signature_bytes(r_bytes, s.as_bytes());
                assert_eq!(oracle.verdict(&honest, b"m", &signature), Some(false));
            }
        }
        assert_eq!(cofactorless_holds, strings.len());

        for (index, key) in strings.iter().enumerate() {
            // A small-order key T, canonical or not (ed25519-dalek decodes either): with
            // R = [r]B and S = r, [S]B − [k]T = R when k ≡ 0 mod the order of T, so only the
            // small-order check on A refuses (dalek's non-strict `verify` accepts).
            let (t, _) = torsion_of(key);
            let r = random_scalar(&mut rng);
            let r_bytes = EdwardsPoint::mul_base(&r).compress().0;
            let signature = signature_bytes(&r_bytes, r.as_bytes());
            let mut found = false;
            for attempt in 0u32..200 {
                let message = [0xa0, index as u8, attempt as u8, (attempt >> 8) as u8];
                let k = challenge(&r_bytes, key, &message);
                if t * k == EdwardsPoint::default() {
                    found = true;
                    let dalek = ed25519_dalek::VerifyingKey::from_bytes(key).unwrap();
                    assert!(
                        ed25519_dalek::Verifier::verify(
                            &dalek,
                            &message,
                            &ed25519_dalek::Signature::from_bytes(&signature),
                        )
                        .is_ok()
                    );
                }
                assert_eq!(oracle.verdict(key, &message, &signature), Some(false));
                if found {
                    break;
                }
            }
            assert!(found);
            // Small-order keys against small-order R, and random signatures.
            for r_bytes in &strings {
                let signature = signature_bytes(r_bytes, &[0u8; 32]);
                assert_eq!(oracle.verdict(key, b"", &signature), Some(false));
            }
            let mut random = [0u8; 64];
            rng.fill_bytes(&mut random);
            assert_eq!(oracle.verdict(key, b"x", &random), Some(false));
        }

        // Mixed-order keys A = [a]B + T and mixed-order R = [r]B + T_R: with S = r + k·a,
        // [S]B − [k]A = [r]B − [k]T, which is R exactly when T_R = −[k]T. Those signatures
        // are strictly valid (neither point is of small order); the others fail the
        // cofactorless equation by a torsion component only (a cofactored check would accept
        // them). Both kinds must get dalek's verdict, with and without a table, since [k]A
        // depends on the integer k, not only on k mod ℓ.
        let mut valid = 0;
        let mut torsion_only = 0;
        for round in 0..160u32 {
            let t = EIGHT_TORSION[1 + (round as usize % 7)];
            let a = random_scalar(&mut rng);
            let key_point = EdwardsPoint::mul_base(&a) + t;
            assert!(!key_point.is_small_order() && !key_point.is_torsion_free());
            let key = key_point.compress().0;
            let r = random_scalar(&mut rng);
            let t_r = EIGHT_TORSION[rng.next_u32() as usize % 8];
            let r_bytes = (EdwardsPoint::mul_base(&r) + t_r).compress().0;
            let message = round.to_le_bytes();
            let k = challenge(&r_bytes, &key, &message);
            let signature = signature_bytes(&r_bytes, (r + k * a).as_bytes());
            let holds = -(t * k) == t_r;
            assert_eq!(oracle.verdict(&key, &message, &signature), Some(holds));
            if holds {
                valid += 1;
            } else {
                torsion_only += 1;
                // Multiplied by the cofactor, the equation holds.
                let lhs = EdwardsPoint::vartime_double_scalar_mul_basepoint(
                    &k,
                    &-key_point,
                    &(r + k * a),
                );
                let r_point = CompressedEdwardsY(r_bytes).decompress().unwrap();
                assert!(lhs != r_point);
                assert!(lhs.mul_by_cofactor() == r_point.mul_by_cofactor());
            }
            // The same with the message changed: refused.
            let mut other = message;
            other[0] ^= 1;
            assert_eq!(oracle.verdict(&key, &other, &signature), Some(false));
        }
        assert!(valid >= 10 && torsion_only >= 80, "{valid} {torsion_only}");
    }

    #[test]
    fn strict_verification_agrees_with_dalek_on_non_canonical_and_off_curve_r() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let mut oracle = StrictOracle::new();
        let key = SigningKey::generate_with(&mut rng);
        let public: [u8; 32] = key.public_key().as_bytes().try_into().unwrap();
        let signature = key.sign(b"m").bytes;
        let s: [u8; 32] = signature[32..].try_into().unwrap();
        let mut candidates: Vec<[u8; 32]> = Vec::new();
        // y = p + c for every c that fits (c < 19), either sign; y = c, either sign.
        for c in 0u8..19 {
            for sign in [0u8, 0x80] {
                let mut high = [0xffu8; 32];
                high[0] = 0xed + c;
                high[31] = 0x7f | sign;
                candidates.push(high);
                let mut low = [0u8; 32];
                low[0] = c;
                low[31] = sign;
                candidates.push(low);
            }
        }
        // The valid R with its sign bit flipped (the negated point's x, if any).
        let mut flipped: [u8; 32] = signature[..32].try_into().unwrap();
        flipped[31] ^= 0x80;
        candidates.push(flipped);
        let mut on_curve = 0;
        for r_bytes in candidates {
            on_curve += usize::from(CompressedEdwardsY(r_bytes).decompress().is_some());
            let mangled = signature_bytes(&r_bytes, &s);
            assert_eq!(oracle.verdict(&public, b"m", &mangled), Some(false));
            let zero = signature_bytes(&r_bytes, &[0u8; 32]);
            assert_eq!(oracle.verdict(&public, b"m", &zero), Some(false));
        }
        assert!(on_curve > 10);
    }

    #[test]
    fn often_verified_keys_get_a_table_and_the_same_verdicts() {
        let key = key(200);
        let public = key.public_key();
        let KeyInner::Ed25519 { key: dalek, .. } = public.inner else {
            unreachable!()
        };
        let has_table = || {
            KEY_TABLES
                .lock()
                .unwrap()
                .tables
                .contains_key(public.as_bytes())
        };
        let good = key.sign(b"often");
        let mut bad = good;
        bad.bytes[3] ^= 4;
        for _ in 1..KEY_TABLE_AFTER_USES {
            public.verify(b"often", &good).unwrap();
        }
        assert!(!has_table());
        public.verify(b"often", &good).unwrap();
        assert!(has_table());
        assert!(key_table(&dalek).is_some());
        public.verify(b"often", &good).unwrap();
        assert!(public.verify(b"often", &bad).is_err());
        assert!(public.verify(b"Often", &good).is_err());
    }

    /// The tables' difference is the double-base multiplication's point, for scalars whose
    /// radix-64 digits reach both ends of their range or are all zero, and for points with and
    /// without a torsion component.
    #[test]
    fn the_tables_difference_is_the_double_base_point() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(64);
        let mut scalars = vec![
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(32u64),
            Scalar::from(33u64),
            -Scalar::from(32u64),
            Scalar::from(u64::MAX),
        ];
        scalars.extend((0..24).map(|_| random_scalar(&mut rng)));
        for torsion in [0, 1, 3, 4] {
            let point = EdwardsPoint::mul_base(&random_scalar(&mut rng)) + EIGHT_TORSION[torsion];
            let table = KeyTable::create(&point);
            for s in &scalars {
                for k in &scalars {
                    assert_eq!(
                        BASE_TABLE.vartime_mul_base_difference(s, &table, k),
                        EdwardsPoint::vartime_double_scalar_mul_basepoint(k, &-point, s),
                        "torsion {torsion}, s {s:?}, k {k:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let k = key(11);
        let shown = format!("{k:?}");
        assert!(!shown.contains(&hex::encode(k.seed())));
    }
}
