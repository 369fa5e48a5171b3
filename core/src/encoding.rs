//! The canonical binary encoding used for everything that is hashed or signed.
//!
//! Rules (SPEC.md §2): integers are fixed-width big-endian; byte strings and UTF-8 strings are a
//! `u32` length followed by the bytes; sequences are a `u32` count followed by the elements;
//! an optional value is one byte `0` (absent) or `1` followed by the value; enumerations are a
//! one-byte tag. There are no maps and no floating point, so one value has exactly one encoding.
//! Decoding is strict: trailing bytes, unknown tags, non-UTF-8 strings and over-long lengths are
//! errors, never silently accepted.

use thiserror::Error;

/// Largest length prefix a decoder accepts for one byte string (16 MiB). Anything longer is not
/// a value this ledger produces and is rejected before any allocation.
pub const BYTES_LEN_MAX: u32 = 16 * 1024 * 1024;

/// Largest element count a decoder accepts for one sequence. Each element needs at least one
/// byte, so the count is further bounded by the bytes left in the input.
pub const SEQUENCE_LEN_MAX: u32 = 1 << 20;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("input ended while reading {what}: needed {needed} more bytes, {remaining} left")]
    UnexpectedEnd {
        what: &'static str,
        needed: usize,
        remaining: usize,
    },
    /// Bytes were left over after the value.
    #[error("{trailing} trailing bytes after {what}")]
    TrailingBytes { what: &'static str, trailing: usize },
    /// A one-byte tag had a value that is not defined.
    #[error("unknown tag {tag} for {what}")]
    UnknownTag { what: &'static str, tag: u8 },
    /// A length or count prefix was larger than allowed.
    #[error("{what} length {len} exceeds the limit {max}")]
    TooLong {
        what: &'static str,
        len: u64,
        max: u64,
    },
    /// A string was not valid UTF-8.
    #[error("{what} is not valid UTF-8")]
    InvalidUtf8 { what: &'static str },
    /// A format version this implementation does not know.
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion { what: &'static str, version: u8 },
    /// A field held a value outside its domain (for example a public key that is not a curve
    /// point).
    #[error("invalid {what}: {reason}")]
    InvalidValue { what: &'static str, reason: String },
}

/// Appends canonical encodings to a byte buffer.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer whose output starts with `domain` (a domain-separation prefix).
    pub fn with_domain(domain: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(domain);
        Self { bytes }
    }

    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.bytes.push(value);
        self
    }

    pub fn u16(&mut self, value: u16) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.u8(u8::from(value))
    }

    /// Raw bytes with no length prefix (for fixed-size fields).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(bytes);
        self
    }

    /// A `u32` length followed by the bytes.
    ///
    /// # Panics
    /// If `bytes` is longer than `u32::MAX`; values of this ledger are bounded far below that,
    /// so reaching it is a bug.
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        let len = u32::try_from(bytes.len()).expect("encoded byte string longer than u32::MAX");
        self.u32(len);
        self.raw(bytes)
    }

    /// A UTF-8 string as length-prefixed bytes.
    pub fn str(&mut self, value: &str) -> &mut Self {
        self.bytes(value.as_bytes())
    }

    /// A sequence: a `u32` count, then each element written by `each`.
    ///
    /// # Panics
    /// If the sequence has more than `u32::MAX` elements (a bug: every sequence is bounded).
    pub fn seq<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) -> &mut Self {
        let count = u32::try_from(items.len()).expect("encoded sequence longer than u32::MAX");
        self.u32(count);
        for item in items {
            each(self, item);
        }
        self
    }

    /// An optional value: `0`, or `1` followed by the value written by `each`.
    pub fn option<T>(&mut self, value: Option<&T>, each: impl FnOnce(&mut Self, &T)) -> &mut Self {
        match value {
            None => self.u8(0),
            Some(inner) => {
                self.u8(1);
                each(self, inner);
                self
            }
        }
    }

    /// Appends a value that knows its own encoding.
    pub fn put<T: Encode + ?Sized>(&mut self, value: &T) -> &mut Self {
        value.encode(self);
        self
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads canonical encodings from a byte slice, strictly.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.input.len()
    }

    /// Fails unless every byte was read.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                what,
                trailing: self.input.len(),
            })
        }
    }

    /// Exactly `len` raw bytes.
    pub fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.input.len() < len {
            return Err(DecodeError::UnexpectedEnd {
                what,
                needed: len,
                remaining: self.input.len(),
            });
        }
        let (head, tail) = self.input.split_at(len);
        self.input = tail;
        Ok(head)
    }

    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// A boolean, which must be exactly `0` or `1`.
    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::UnknownTag { what, tag }),
        }
    }

    /// Length-prefixed bytes, at most `max` long.
    pub fn bytes_max(&mut self, max: u32, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(what)?;
        if len > max {
            return Err(DecodeError::TooLong {
                what,
                len: u64::from(len),
                max: u64::from(max),
            });
        }
        self.take(len as usize, what)
    }

    /// Length-prefixed bytes, at most [`BYTES_LEN_MAX`] long.
    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        self.bytes_max(BYTES_LEN_MAX, what)
    }

    /// A length-prefixed UTF-8 string, at most `max` bytes long.
    pub fn str_max(&mut self, max: u32, what: &'static str) -> Result<&'a str, DecodeError> {
        let bytes = self.bytes_max(max, what)?;
        std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { what })
    }

    /// A length-prefixed UTF-8 string, at most [`BYTES_LEN_MAX`] bytes long.
    pub fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        Ok(self.str_max(BYTES_LEN_MAX, what)?.to_owned())
    }

    /// A sequence: a `u32` count (at most [`SEQUENCE_LEN_MAX`] and at most the bytes left),
    /// then each element read by `each`.
    pub fn seq<T>(
        &mut self,
        what: &'static str,
        each: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        self.seq_max(SEQUENCE_LEN_MAX, what, each)
    }

    /// A sequence of at most `max` elements. The count is checked against `max`, against
    /// [`SEQUENCE_LEN_MAX`] and against the bytes left *before* anything is decoded or
    /// allocated, so a forged count costs nothing.
    pub fn seq_max<T>(
        &mut self,
        max: u32,
        what: &'static str,
        mut each: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let count = self.u32(what)?;
        let bound = max
            .min(SEQUENCE_LEN_MAX)
            .min(u32::try_from(self.remaining()).unwrap_or(u32::MAX));
        if count > bound {
            return Err(DecodeError::TooLong {
                what,
                len: u64::from(count),
                max: u64::from(bound),
            });
        }
        // Elements may be much larger in memory than their minimum encoding, so grow as they
        // arrive rather than trusting the count for the whole allocation.
        let mut items = Vec::with_capacity((count as usize).min(1024));
        for _ in 0..count {
            items.push(each(self)?);
        }
        Ok(items)
    }

    /// An optional value: `0`, or `1` followed by the value read by `each`.
    pub fn option<T>(
        &mut self,
        what: &'static str,
        each: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => Ok(Some(each(self)?)),
            tag => Err(DecodeError::UnknownTag { what, tag }),
        }
    }

    /// Reads a value that knows its own encoding.
    pub fn get<T: Decode>(&mut self) -> Result<T, DecodeError> {
        T::decode(self)
    }
}

/// A value with one canonical encoding.
pub trait Encode {
    fn encode(&self, writer: &mut Writer);

    /// The canonical bytes of this value.
    fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        self.encode(&mut writer);
        writer.into_bytes()
    }
}

/// A value that can be read back from its canonical encoding.
pub trait Decode: Sized {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes exactly one value from `bytes`; trailing bytes are an error.
    fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let value = Self::decode(&mut reader)?;
        reader.finish(std::any::type_name::<Self>())?;
        Ok(value)
    }
}

impl Encode for u64 {
    fn encode(&self, writer: &mut Writer) {
        writer.u64(*self);
    }
}

impl Decode for u64 {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.u64("u64")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_big_endian_and_fixed_width() {
        let mut w = Writer::new();
        w.u8(1)
            .u16(0x0203)
            .u32(0x0405_0607)
            .u64(0x0809_0a0b_0c0d_0e0f);
        assert_eq!(
            w.as_slice(),
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
        );
    }

    #[test]
    fn strings_and_options_round_trip() {
        let mut w = Writer::new();
        w.str("工程").option(Some(&7u64), |w, v| {
            w.u64(*v);
        });
        w.option(None::<&u64>, |w, v| {
            w.u64(*v);
        });
        let bytes = w.into_bytes();
        assert_eq!(&bytes[..4], &[0, 0, 0, 6]);
        let mut r = Reader::new(&bytes);
        assert_eq!(r.string("s").unwrap(), "工程");
        assert_eq!(r.option("o", |r| r.u64("v")).unwrap(), Some(7));
        assert_eq!(r.option("o", |r| r.u64("v")).unwrap(), None);
        r.finish("test").unwrap();
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut r = Reader::new(&[0, 0, 0, 9, 1, 2]);
        assert!(matches!(
            r.bytes("field"),
            Err(DecodeError::UnexpectedEnd {
                needed: 9,
                remaining: 2,
                ..
            })
        ));
    }

    #[test]
    fn huge_sequence_count_is_rejected_before_allocating() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0]);
        assert!(matches!(
            r.seq("items", |r| r.u8("item")),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn a_count_above_the_field_limit_is_rejected_before_any_element_is_read() {
        // The count (300) fits in the input but exceeds the field's limit (256); the elements
        // that follow are garbage that would fail if they were read.
        let mut bytes = vec![0, 0, 1, 44];
        bytes.extend_from_slice(&[0xff; 400]);
        let mut reader = Reader::new(&bytes);
        let mut elements_read = 0;
        let result = reader.seq_max(256, "items", |r| {
            elements_read += 1;
            r.u8("item")
        });
        assert!(matches!(
            result,
            Err(DecodeError::TooLong {
                len: 300,
                max: 256,
                ..
            })
        ));
        assert_eq!(elements_read, 0);
    }

    #[test]
    fn non_boolean_byte_and_bad_option_tag_are_rejected() {
        assert!(matches!(
            Reader::new(&[2]).bool("flag"),
            Err(DecodeError::UnknownTag { tag: 2, .. })
        ));
        assert!(matches!(
            Reader::new(&[7]).option("opt", |r| r.u8("v")),
            Err(DecodeError::UnknownTag { tag: 7, .. })
        ));
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        assert!(matches!(
            Reader::new(&[0, 0, 0, 1, 0xff]).string("name"),
            Err(DecodeError::InvalidUtf8 { .. })
        ));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        assert!(matches!(
            u64::from_canonical_bytes(&[0; 9]),
            Err(DecodeError::TrailingBytes { trailing: 1, .. })
        ));
    }
}
