//! Reading receipt and checkpoint files (SPEC.md §8) from hostile input: every malformed file
//! gives a typed error with the code of SPEC.md §9.3 step 0, and nothing panics.

mod common;

use common::TestChain;
use evidence_core::checkpoint::Checkpoint;
use evidence_core::encoding::{DecodeError, Encode};
use evidence_core::receipt::Receipt;
use evidence_core::verify::VerifyError;
use serde_json::{Map, Value, json};

/// One of the two file formats, with a valid file and its binary parts.
struct Format {
    name: &'static str,
    read: fn(&str) -> Result<(), VerifyError>,
    /// A valid file, as written.
    file: String,
    /// The file's type string.
    file_type: &'static str,
    /// The hex fields and the bytes each holds in the valid file.
    parts: Vec<(&'static str, Vec<u8>)>,
}

impl Format {
    /// The code of reading `text`, or `"ok"`. Every error must also display without panicking.
    fn code(&self, text: &str) -> &'static str {
        match (self.read)(text) {
            Ok(()) => "ok",
            Err(error) => {
                assert!(!error.to_string().is_empty());
                error.code()
            }
        }
    }

    fn object(&self) -> Map<String, Value> {
        match serde_json::from_str(&self.file).unwrap() {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    /// The valid file with `field` set to `value`.
    fn with(&self, field: &str, value: Value) -> String {
        let mut object = self.object();
        object.insert(field.to_owned(), value);
        Value::Object(object).to_string()
    }

    /// The valid file with the hex field `field` holding `bytes`.
    fn with_bytes(&self, field: &str, bytes: &[u8]) -> String {
        self.with(field, Value::String(hex::encode(bytes)))
    }

    /// The error of reading the file with `field` holding `bytes`.
    fn error_with_bytes(&self, field: &str, bytes: &[u8]) -> VerifyError {
        let text = self.with_bytes(field, bytes);
        let error = match self.name {
            "receipt" => Receipt::from_json(&text).map(|_| ()),
            _ => Checkpoint::from_json(&text).map(|_| ()),
        }
        .expect_err("must not decode");
        assert!(!error.to_string().is_empty());
        error
    }
}

fn formats() -> [Format; 2] {
    let mut chain = TestChain::new(11);
    let body = chain.anchor_body("bureau", "completion-drawing", "DRW-1", b"sheet 1");
    let records = chain.batch("bureau", vec![body]);
    let checkpoint = chain.commit_block(records);
    let receipt = chain.receipt(0, &checkpoint);
    let header = checkpoint.header.to_canonical_bytes();
    let certificate = checkpoint.certificate.to_canonical_bytes();
    [
        Format {
            name: "receipt",
            read: |text| Receipt::from_json(text).map(|_| ()),
            file: receipt.to_json(),
            file_type: "evidence-receipt",
            parts: vec![
                ("entry", receipt.entry.to_canonical_bytes()),
                (
                    "inclusion_proof",
                    receipt.inclusion_proof.to_canonical_bytes(),
                ),
                ("header", header.clone()),
                ("certificate", certificate.clone()),
            ],
        },
        Format {
            name: "checkpoint",
            read: |text| Checkpoint::from_json(text).map(|_| ()),
            file: checkpoint.to_json(),
            file_type: "evidence-checkpoint",
            parts: vec![("header", header), ("certificate", certificate)],
        },
    ]
}

#[test]
fn the_valid_files_read_in_any_json_layout() {
    for format in formats() {
        assert_eq!(format.code(&format.file), "ok", "{}", format.name);
        // Compact, reordered (alphabetical) and padded forms are the same file.
        let compact = Value::Object(format.object()).to_string();
        assert_eq!(format.code(&compact), "ok");
        assert_eq!(format.code(&format!(" \n\t{compact}\r\n ")), "ok");
    }
}

#[test]
fn text_that_is_not_a_json_object_is_not_json() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for format in formats() {
        let truncated = &format.file[..format.file.len() / 2];
        let cases = [
            "",
            " ",
            "\n",
            "garbage",
            "{",
            "}",
            "{\"type\":",
            "null",
            "true",
            "42",
            "-0.5e999",
            "\"evidence-receipt\"",
            "[]",
            "[1, 2, 3]",
            "{}",
            deep.as_str(),
            truncated,
            &format!("\u{feff}{}", format.file),
            &format!("{}x", format.file),
            &format!("{}{}", format.file, format.file),
            &format.file.replace('"', "'"),
            &format.file.replacen(',', "", 1),
        ];
        for text in cases {
            let shown: String = text.chars().take(60).collect();
            assert_eq!(format.code(text), "not-json", "{}: {shown:?}", format.name);
        }
    }
}

#[test]
fn a_file_written_as_an_array_of_its_values_is_not_json() {
    // A reader that maps a JSON array onto the fields in order would take this for the file.
    for format in formats() {
        let object = format.object();
        let values: Vec<Value> = ["type", "version"]
            .into_iter()
            .chain(format.parts.iter().map(|(name, _)| *name))
            .map(|field| object[field].clone())
            .collect();
        let text = Value::Array(values).to_string();
        assert_eq!(format.code(&text), "not-json", "{}", format.name);
    }
}

#[test]
fn fields_of_the_wrong_type_are_not_json() {
    let wrong_values = [
        Value::Null,
        json!(true),
        json!(1),
        json!(-1),
        json!(1.5),
        json!([]),
        json!(["00"]),
        json!({}),
    ];
    for format in formats() {
        let mut fields = vec!["type", "version"];
        fields.extend(format.parts.iter().map(|(name, _)| *name));
        for field in fields {
            for value in &wrong_values {
                // An integer is the right type for the version (other integers are tested
                // below as unsupported versions).
                if field == "version" && (value == &json!(1) || value == &json!(-1)) {
                    continue;
                }
                let text = format.with(field, value.clone());
                assert_eq!(
                    format.code(&text),
                    "not-json",
                    "{}.{field} = {value}",
                    format.name
                );
            }
        }
        for version in [json!("1"), json!(1.0), json!(true), json!(null)] {
            let text = format.with("version", version.clone());
            assert_eq!(format.code(&text), "not-json", "version {version}");
        }
        // Any other JSON integer is a version this build does not know (a receipt is read in
        // versions 1 and 2, SPEC.md §8.1; a checkpoint file in version 1 only).
        let mut unknown = vec![json!(-1), json!(0), json!(3), json!(4_294_967_297_u64)];
        if format.file_type != "evidence-receipt" {
            unknown.push(json!(2));
        }
        for version in unknown {
            let text = format.with("version", version.clone());
            assert_eq!(
                format.code(&text),
                "unsupported-version",
                "version {version}"
            );
        }
        // Integer literals beyond every machine integer, and minus zero, are still integers.
        let one = format.with("version", json!(1));
        for literal in ["-0", "18446744073709551617", "-99999999999999999999999"] {
            let text = one.replacen("\"version\":1", &format!("\"version\":{literal}"), 1);
            assert_ne!(text, one, "the version field was found");
            assert_eq!(
                format.code(&text),
                "unsupported-version",
                "version {literal}"
            );
        }
        for literal in ["1e0", "01", "+1", "1.5", "1E0"] {
            let text = one.replacen("\"version\":1", &format!("\"version\":{literal}"), 1);
            assert_eq!(format.code(&text), "not-json", "version {literal}");
        }
    }
}

#[test]
fn missing_unknown_and_repeated_fields_are_not_json() {
    for format in formats() {
        let object = format.object();
        for field in object.keys() {
            let mut missing = object.clone();
            missing.remove(field);
            let text = Value::Object(missing).to_string();
            assert_eq!(
                format.code(&text),
                "not-json",
                "{} without {field}",
                format.name
            );
        }
        for extra in ["comment", "Type", "signature", ""] {
            let text = format.with(extra, json!("x"));
            assert_eq!(
                format.code(&text),
                "not-json",
                "{} with {extra:?}",
                format.name
            );
        }
        let repeated =
            format
                .file
                .replacen("\"version\": 1,", "\"version\": 1,\n  \"version\": 1,", 1);
        assert_ne!(repeated, format.file);
        assert_eq!(format.code(&repeated), "not-json");
    }
    // Each format's file is not the other's.
    let [receipt, checkpoint] = formats();
    assert_eq!(receipt.code(&checkpoint.file), "not-json");
    assert_eq!(checkpoint.code(&receipt.file), "not-json");
}

#[test]
fn the_type_and_version_are_checked() {
    for format in formats() {
        let other = if format.file_type == "evidence-receipt" {
            "evidence-checkpoint"
        } else {
            "evidence-receipt"
        };
        for file_type in [
            "",
            other,
            "evidence-genesis",
            "Evidence-Receipt",
            "evidence-receipt ",
            "evidence-checkpoint\n",
        ] {
            let text = format.with("type", json!(file_type));
            assert_eq!(format.code(&text), "wrong-file-type", "{file_type:?}");
        }
        let known = if format.file_type == "evidence-receipt" {
            2
        } else {
            1
        };
        for version in [0u32, known + 1, 10, u32::MAX] {
            let text = format.with("version", json!(version));
            assert_eq!(format.code(&text), "unsupported-version", "{version}");
        }
    }
}

#[test]
fn bad_hex_is_bad_hex_and_either_case_is_accepted() {
    for format in formats() {
        for (field, bytes) in &format.parts {
            let hex = hex::encode(bytes);
            let bad = [
                hex[1..].to_owned(),
                format!("{hex}0"),
                format!("0x{hex}"),
                format!("{}g{}", &hex[..2], &hex[3..]),
                format!("{} {}", &hex[..2], &hex[2..]),
                format!("{}é", &hex[..hex.len() - 2]),
                format!("{}\u{0}", &hex[..hex.len() - 1]),
            ];
            for text in bad {
                let file = format.with(field, json!(text));
                assert_eq!(format.code(&file), "bad-hex", "{}.{field}", format.name);
            }
            let upper = format.with(field, json!(hex.to_uppercase()));
            assert_eq!(format.code(&upper), "ok", "upper-case {field}");
        }
    }
}

/// The decoding error inside a `malformed` error for `field`.
fn decode_error(error: VerifyError, field: &str) -> DecodeError {
    match error {
        VerifyError::Malformed { field: f, error } => {
            assert_eq!(f, field);
            error
        }
        other => panic!("{field}: expected malformed, got {other:?}"),
    }
}

#[test]
fn truncated_padded_and_empty_parts_are_malformed() {
    for format in formats() {
        for (field, bytes) in &format.parts {
            for len in 0..bytes.len() {
                let error = decode_error(format.error_with_bytes(field, &bytes[..len]), field);
                // A cut can land in a length or count that then exceeds what is left.
                assert!(
                    matches!(
                        error,
                        DecodeError::UnexpectedEnd { .. } | DecodeError::TooLong { .. }
                    ),
                    "{field} cut to {len}: {error:?}"
                );
            }
            for tail in [&[0u8][..], &[0xff], &[0; 32]] {
                let mut padded = bytes.clone();
                padded.extend_from_slice(tail);
                let error = decode_error(format.error_with_bytes(field, &padded), field);
                assert!(
                    matches!(error, DecodeError::TrailingBytes { .. }),
                    "{error:?}"
                );
            }
            // Every part but the inclusion proof (SPEC.md §12.4) starts with its format version.
            if *field == "inclusion_proof" {
                continue;
            }
            // (Headers are at version 2, every other part at 1; version 1 headers are no
            // longer read.)
            let current = bytes[0];
            for version in [0u8, current - 1, current + 1, 0xff] {
                if version == current - 1 && version == 0 {
                    continue; // already tried
                }
                let mut other = bytes.clone();
                other[0] = version;
                let error = decode_error(format.error_with_bytes(field, &other), field);
                assert!(
                    matches!(error, DecodeError::UnsupportedVersion { .. }),
                    "{error:?}"
                );
            }
        }
    }
}

/// Big-endian bytes of `parts`, concatenated.
fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn huge_length_and_count_prefixes_are_rejected_before_allocating() {
    let [receipt, checkpoint] = formats();
    let max = u32::MAX.to_be_bytes();
    let big = 0x0100_0000u32.to_be_bytes();
    let zero64 = 0u64.to_be_bytes();
    let one64 = 1u64.to_be_bytes();
    // Entry: version, index, height, time, record tag 1 (anchor), body version, chain id.
    let entry_prefix = concat(&[&[1], &zero64, &one64, &one64, &[1, 1]]);
    for len in [max, big, 257u32.to_be_bytes()] {
        let bytes = concat(&[&entry_prefix, &len, b"evidence"]);
        let error = decode_error(receipt.error_with_bytes("entry", &bytes), "entry");
        assert!(matches!(error, DecodeError::TooLong { .. }), "{error:?}");
    }
    // A length within its limit but beyond the input.
    let bytes = concat(&[&entry_prefix, &256u32.to_be_bytes(), b"evidence"]);
    let error = decode_error(receipt.error_with_bytes("entry", &bytes), "entry");
    assert!(
        matches!(error, DecodeError::UnexpectedEnd { .. }),
        "{error:?}"
    );
    // Inclusion proof: leaf 0 of 1, then a path count.
    for count in [max, big, 65u32.to_be_bytes()] {
        let bytes = concat(&[&zero64, &one64, &count]);
        let error = decode_error(
            receipt.error_with_bytes("inclusion_proof", &bytes),
            "inclusion_proof",
        );
        assert!(matches!(error, DecodeError::TooLong { .. }), "{error:?}");
    }
    for format in [&receipt, &checkpoint] {
        // Header: version, then the chain id length.
        for len in [max, big] {
            let bytes = concat(&[&[3], &len, b"evidence"]);
            let error = decode_error(format.error_with_bytes("header", &bytes), "header");
            assert!(matches!(error, DecodeError::TooLong { .. }), "{error:?}");
        }
        // Certificate: version, height, round, block hash, then the signature count.
        let prefix = concat(&[&[1], &one64, &0u32.to_be_bytes(), &[1], &[7; 32]]);
        for count in [max, big, 257u32.to_be_bytes()] {
            let bytes = concat(&[&prefix, &count, &[0; 64]]);
            let error = decode_error(
                format.error_with_bytes("certificate", &bytes),
                "certificate",
            );
            assert!(matches!(error, DecodeError::TooLong { .. }), "{error:?}");
        }
    }
}

#[test]
fn unknown_tags_inside_a_part_are_malformed() {
    let [receipt, _] = formats();
    let (_, entry) = &receipt.parts[0];
    // The record tag follows the version and three u64s (tags 1 to 4 are records).
    for tag in [0u8, 5, 0xff] {
        let mut bytes = entry.clone();
        bytes[25] = tag;
        let error = decode_error(receipt.error_with_bytes("entry", &bytes), "entry");
        assert!(
            matches!(error, DecodeError::UnknownTag { what: "record", .. }),
            "{error:?}"
        );
    }
    // The certificate's block hash algorithm follows version, height and round.
    let (_, certificate) = &receipt.parts[3];
    for tag in [0u8, 4, 0xff] {
        let mut bytes = certificate.clone();
        bytes[13] = tag;
        let error = decode_error(
            receipt.error_with_bytes("certificate", &bytes),
            "certificate",
        );
        assert!(
            matches!(
                error,
                DecodeError::UnknownTag {
                    what: "hash algorithm",
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
