//! A genesis file: arbitrary UTF-8 through `Genesis::from_json`.
//!
//! Nothing panics; a genesis that validates yields a trust anchor, survives a JSON round trip
//! with the same hash.

#![no_main]

use evidence_genesis::Genesis;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(genesis) = Genesis::from_json(text) else {
        return;
    };
    genesis
        .trust_anchor()
        .expect("a validated genesis has a trust anchor");
    let again = Genesis::from_json(&genesis.to_json()).expect("written genesis reloads");
    assert_eq!(again, genesis);
    assert_eq!(again.hash(), genesis.hash());
});
