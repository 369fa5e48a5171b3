//! Ed25519 keys and signatures that carry their algorithm, key files, and the one verification
//! rule used everywhere.
//!
//! Verification is *strict* (SPEC.md §4): the signature's `S` must be canonical, the public key
//! and `R` must not be of small order, and the cofactorless equation must hold. Every signed
//! message starts with a domain prefix chosen by the caller (see [`crate::domain`]).

use std::fmt;
use std::str::FromStr;

use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::Signer as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};

/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// A signature algorithm, with its one-byte tag in the canonical encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SignatureAlgorithm {
    /// Ed25519 (RFC 8032) with strict verification (tag 1). Tag 2 is reserved for SM2.
    Ed25519,
}

impl SignatureAlgorithm {
    pub const fn tag(self) -> u8 {
        match self {
            Self::Ed25519 => 1,
        }
    }

    pub fn from_tag(tag: u8) -> Result<Self, DecodeError> {
        match tag {
            1 => Ok(Self::Ed25519),
            tag => Err(DecodeError::UnknownTag {
                what: "signature algorithm",
                tag,
            }),
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
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
    #[error("unknown signature algorithm {0:?} (expected ed25519)")]
    UnknownAlgorithm(String),
    #[error("key text must look like `ed25519:<64 hex digits>`, got {0:?}")]
    MissingAlgorithm(String),
    #[error("bad hex in {what}: {reason}")]
    BadHex { what: &'static str, reason: String },
    #[error("{0} is not a valid Ed25519 public key (not the canonical encoding of a curve point)")]
    NotACurvePoint(String),
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

/// A public key that verifies signatures. Decoding checks that it is a valid curve point.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey {
    key: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    pub fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::Ed25519
    }

    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.key.to_bytes()
    }

    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        self.key.as_bytes()
    }

    /// A public key from its 32 bytes.
    ///
    /// Decoding decompresses the curve point (about as costly as a third of a signature
    /// check). A chain has few keys (validators and filers) that arrive in every transaction,
    /// vote and header, so each thread remembers the keys it decoded last; only keys that
    /// passed every check are remembered, so a hit is the same verdict.
    ///
    /// # Errors
    /// The bytes are not the encoding of a curve point.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<Self, KeyError> {
        if let Some(key) = DECODED_KEYS.with(|cache| cache.borrow().get(bytes).copied()) {
            return Ok(key);
        }
        // RFC 8032 §5.1.3 decoding: the bytes must be the canonical encoding of a point
        // (y < p, and not x = 0 with the sign bit set); the curve-point check follows.
        if !is_canonical_encoding(bytes) {
            return Err(KeyError::NotACurvePoint(hex::encode(bytes)));
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(|key| Self { key })
            .map_err(|_| KeyError::NotACurvePoint(hex::encode(bytes)))?;
        DECODED_KEYS.with(|cache| {
            let mut cache = cache.borrow_mut();
            if cache.len() >= DECODED_KEYS_MAX {
                cache.clear();
            }
            cache.insert(*bytes, key);
        });
        Ok(key)
    }

    /// Strict verification of `signature` over `message` (SPEC.md §4).
    ///
    /// # Errors
    /// [`SignatureError`] when the signature does not verify or is not an Ed25519 signature.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        if signature.algorithm != self.algorithm() {
            return Err(SignatureError { signer: *self });
        }
        let signature = ed25519_dalek::Signature::from_bytes(&signature.bytes);
        self.key
            .verify_strict(message, &signature)
            .map_err(|_| SignatureError { signer: *self })
    }

    /// Whether the key is a point of small order (`[8]A` is the identity). Such a key decodes
    /// but can never sign: strict verification refuses it (SPEC.md §4.2), so a genesis file
    /// that named one would hold a member, validator or filer that can never act.
    pub fn is_small_order(&self) -> bool {
        CompressedEdwardsY(self.to_bytes())
            .decompress()
            .is_none_or(|point| point.is_small_order())
    }

    /// A short, stable identifier for logs and messages: the first 8 bytes in hex.
    pub fn short_id(&self) -> String {
        hex::encode(&self.as_bytes()[..8])
    }
}

/// Keys each thread remembers having decoded; cleared when full.
const DECODED_KEYS_MAX: usize = 1024;

thread_local! {
    static DECODED_KEYS: std::cell::RefCell<std::collections::HashMap<[u8; PUBLIC_KEY_LEN], PublicKey>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Keys order by their encoded bytes, which is the order validator sets are hashed in.
impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Encode for PublicKey {
    fn encode(&self, writer: &mut Writer) {
        writer.u8(self.algorithm().tag()).raw(self.as_bytes());
    }
}

impl Decode for PublicKey {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        SignatureAlgorithm::from_tag(reader.u8("public key algorithm")?)?;
        let bytes = reader.array::<PUBLIC_KEY_LEN>("public key")?;
        Self::from_bytes(&bytes).map_err(|e| DecodeError::InvalidValue {
            what: "public key",
            reason: e.to_string(),
        })
    }
}

/// The text form `ed25519:<hex>`.
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
        let _algorithm: SignatureAlgorithm = name.parse()?;
        let mut bytes = [0u8; PUBLIC_KEY_LEN];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|e| KeyError::BadHex {
            what: "public key",
            reason: e.to_string(),
        })?;
        Self::from_bytes(&bytes)
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

/// A signature together with its algorithm.
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
    key: ed25519_dalek::SigningKey,
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
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Self {
        Self::generate_with(&mut rand_core::OsRng)
    }

    /// A new key from `rng` (tests and fixtures pass a seeded generator).
    pub fn generate_with(rng: &mut (impl rand_core::CryptoRng + rand_core::RngCore)) -> Self {
        Self {
            key: ed25519_dalek::SigningKey::generate(rng),
        }
    }

    /// The key whose 32-byte seed is `seed` (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    /// The 32-byte seed. Handle with care.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: self.key.verifying_key(),
        }
    }

    /// Signs `message` (which must already start with its domain prefix).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature {
            algorithm: SignatureAlgorithm::Ed25519,
            bytes: self.key.sign(message).to_bytes(),
        }
    }

    /// The key file text: JSON with the type, version, algorithm, public key and secret seed.
    pub fn to_key_file(&self) -> String {
        let file = KeyFile {
            kind: KEY_FILE_TYPE.to_owned(),
            version: 1,
            algorithm: SignatureAlgorithm::Ed25519,
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
    /// Not JSON, not a key file, an unknown version or algorithm, bad hex, or a damaged file.
    pub fn from_key_file(text: &str) -> Result<Self, KeyError> {
        let file: KeyFile =
            serde_json::from_str(text).map_err(|e| KeyError::KeyFileNotJson(e.to_string()))?;
        if file.kind != KEY_FILE_TYPE {
            return Err(KeyError::KeyFileWrongType(file.kind));
        }
        if file.version != 1 {
            return Err(KeyError::KeyFileVersion(file.version));
        }
        let mut seed = [0u8; 32];
        hex::decode_to_slice(&file.secret_key, &mut seed).map_err(|e| KeyError::BadHex {
            what: "secret key",
            reason: e.to_string(),
        })?;
        let key = Self::from_seed(&seed);
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

/// Verifies many signatures at once, for bulk admission checks: the per-signature parts of
/// the strict rule of [`PublicKey::verify`], then one randomised batch equation.
///
/// Each item is first checked against the parts of the strict rule a batch equation cannot
/// express (canonical `S`, no small-order key or `R`); the rest is one batched multi-scalar
/// check. If the batch fails, each signature is verified alone so the error names the first
/// bad one. Dalek's batch equation is randomised and, unlike the strict single check, could
/// accept a signature whose `R` carries a torsion component — a signature only the key's own
/// holder can make. Consensus-critical and court-facing checks (receipts, certificates) use
/// [`PublicKey::verify`]; this function is for bulk admission checks where a later strict
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
        if key.key.is_weak() || !strict_signature_shape(signature) {
            return Err(bad());
        }
        messages.push(*message);
        signatures.push(ed25519_dalek::Signature::from_bytes(&signature.bytes));
        keys.push(key.key);
    }
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        return Ok(());
    }
    for (index, (message, signature, key)) in items.iter().enumerate() {
        key.verify(message, signature).map_err(|e| (index, e))?;
    }
    // The batch failed yet every signature verified alone: cannot happen for well-formed
    // input, but report the first item rather than accept.
    Err((
        0,
        SignatureError {
            signer: *items[0].2,
        },
    ))
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
            "sm2:00".parse::<PublicKey>(),
            Err(KeyError::UnknownAlgorithm(_))
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
            candidates.push(*SigningKey::from_seed(&[seed; 32]).public_key().as_bytes());
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

    #[test]
    fn debug_output_hides_the_secret() {
        let k = key(11);
        let shown = format!("{k:?}");
        assert!(!shown.contains(&hex::encode(k.seed())));
    }
}
