//! A signing key file: arbitrary UTF-8 through `SigningKey::from_key_file`.
//!
//! Nothing panics; a key that loads writes back a file that loads to the same key, and signs
//! messages its public key verifies.

#![no_main]

use evidence_core::keys::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(key) = SigningKey::from_key_file(text) else {
        return;
    };
    let again = SigningKey::from_key_file(&key.to_key_file()).expect("written key file loads");
    assert_eq!(again.seed(), key.seed());
    assert_eq!(again.public_key(), key.public_key());
    let signature = key.sign(data);
    key.public_key()
        .verify(data, &signature)
        .expect("own signature verifies");
});
