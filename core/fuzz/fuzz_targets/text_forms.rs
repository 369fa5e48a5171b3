//! The text forms of digests, public keys, signatures and algorithm names, as typed on a
//! command line or found in JSON.
//!
//! Nothing panics; a value that parses prints back as the input with its hex in lower case,
//! and the same holds for its JSON string form.

#![no_main]

use std::fmt::Display;
use std::str::FromStr;

use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::keys::{PublicKey, Signature, SignatureAlgorithm};
use libfuzzer_sys::fuzz_target;

fn check<T>(text: &str)
where
    T: FromStr
        + Display
        + PartialEq
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let Ok(value) = text.parse::<T>() else {
        return;
    };
    assert_eq!(
        value.to_string(),
        text.to_ascii_lowercase(),
        "text form is not canonical"
    );
    assert_eq!(value.to_string().parse::<T>().ok().as_ref(), Some(&value));
    let json = serde_json::to_string(&value).expect("serialises");
    assert_eq!(serde_json::from_str::<T>(&json).expect("reparses"), value);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check::<Digest>(text);
    check::<PublicKey>(text);
    check::<Signature>(text);
    check::<HashAlgorithm>(text);
    check::<SignatureAlgorithm>(text);
    // The JSON string forms go through the same parsers.
    let _ = serde_json::from_str::<Digest>(text);
    let _ = serde_json::from_str::<PublicKey>(text);
    let _ = serde_json::from_str::<Signature>(text);
});
