use rand_core::SeedableRng as _;

use super::*;

fn consortium() -> Consortium {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    default_consortium("evidence-test", 1_700_000_000_000, &mut rng)
}

#[test]
fn default_consortium_is_valid_and_round_trips() {
    let c = consortium();
    c.genesis.validate().unwrap();
    let text = c.genesis.to_json();
    let back = Genesis::from_json(&text).unwrap();
    assert_eq!(back, c.genesis);
    assert_eq!(back.hash(), c.genesis.hash());
    assert_eq!(c.genesis.validators.len(), 4);
    let set = c.genesis.validator_set().unwrap();
    assert_eq!(set.total_power(), 4);
    assert!(set.is_quorum(3) && !set.is_quorum(2));
}

#[test]
fn default_filers_follow_the_issue_policy() {
    let g = consortium().genesis;
    let kinds = |member: &str| -> Vec<String> {
        g.filers
            .iter()
            .find(|f| f.member == member)
            .unwrap()
            .kinds
            .clone()
    };
    assert_eq!(kinds("bureau"), ["completion-drawing", "inspection-report"]);
    assert_eq!(kinds("finance"), ["fund-transfer"]);
    assert!(kinds("court").is_empty() && kinds("archive").is_empty());
}

#[test]
fn hash_depends_on_every_part_and_is_deterministic() {
    let c = consortium();
    let h = c.genesis.hash();
    assert_eq!(
        consortium().genesis.hash(),
        h,
        "same seed, same genesis, same hash"
    );
    let mut other = c.genesis.clone();
    other.chain_id = "evidence-other".into();
    assert_ne!(other.hash(), h);
    let mut other = c.genesis.clone();
    other.policy.kinds[0].members.push("court".into());
    assert_ne!(other.hash(), h);
    let mut other = c.genesis.clone();
    other.validators[0].voting_power = 2;
    assert_ne!(other.hash(), h);
    let mut other = c.genesis.clone();
    other.members[2].governance_keys[0] = other.filers[2].public_key;
    assert_ne!(other.hash(), h, "governance keys are covered");
    let mut other = c.genesis.clone();
    other.governance.threshold = Threshold {
        numerator: 3,
        denominator: 4,
    };
    assert_ne!(other.hash(), h, "the governance threshold is covered");
    let mut other = c.genesis;
    other.members[0].tls_ca = other.members[1].tls_ca.clone();
    assert_ne!(
        other.hash(),
        h,
        "the member CAs are covered by the genesis hash"
    );
}

fn expect_invalid(genesis: &Genesis, field: &str) {
    match genesis.validate() {
        Err(GenesisError::Invalid { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected an error in {field}, got {other:?}"),
    }
}

#[test]
fn validation_names_the_wrong_field() {
    let good = consortium().genesis;

    let mut g = good.clone();
    g.file_type = "something-else".into();
    expect_invalid(&g, "type");

    for version in [1, 2, 4] {
        let mut g = good.clone();
        g.version = version;
        expect_invalid(&g, "version");
    }

    // A member's CA must be a CA certificate, and no two members may share a CA subject.
    let mut g = good.clone();
    g.members[2].tls_ca = pki::CaCertificate::from_der(b"not a certificate".to_vec());
    expect_invalid(&g, "members[2].tls_ca");
    let mut g = good.clone();
    g.members[3].tls_ca = g.members[0].tls_ca.clone();
    expect_invalid(&g, "members[3].tls_ca");

    let mut g = good.clone();
    g.chain_id = "Has Spaces".into();
    expect_invalid(&g, "chain_id");

    let mut g = good.clone();
    g.members[1].id = "bureau".into();
    expect_invalid(&g, "members[1].id");

    let mut g = good.clone();
    g.validators[2].member = "nobody".into();
    expect_invalid(&g, "validators[2].member");

    let mut g = good.clone();
    g.validators[3].voting_power = 0;
    expect_invalid(&g, "validators[3].voting_power");

    let mut g = good.clone();
    g.validators[1].public_key = g.validators[0].public_key;
    expect_invalid(&g, "validators[1].public_key");

    let mut g = good.clone();
    g.filers[0].kinds.push("fund-transfer".into());
    expect_invalid(&g, "filers[0].kinds[2]");

    let mut g = good.clone();
    g.filers[1].kinds.push("no-such-kind".into());
    expect_invalid(&g, "filers[1].kinds[1]");

    let mut g = good.clone();
    g.filers[1].public_key = g.validators[0].public_key;
    expect_invalid(&g, "filers[1].public_key");

    let mut g = good.clone();
    g.policy.project_registrars.push("mayor".into());
    expect_invalid(&g, "policy.project_registrars[1]");

    let mut g = good.clone();
    g.policy.limits.batch_len_max = 0;
    expect_invalid(&g, "policy.limits.batch_len_max");

    let mut g = good.clone();
    g.filers[0].kinds.push("completion-drawing".into());
    expect_invalid(&g, "filers[0].kinds[2]");

    let mut g = good.clone();
    g.policy.project_registrars.push("bureau".into());
    expect_invalid(&g, "policy.project_registrars[1]");

    let mut g = good.clone();
    g.policy.kinds[0].members.push("bureau".into());
    expect_invalid(&g, "policy.kinds[0].members[1]");

    let mut g = good.clone();
    g.members[2].name = " \t".into();
    expect_invalid(&g, "members[2].name");

    let mut g = good.clone();
    g.filers[3].name = "n".repeat(257);
    expect_invalid(&g, "filers[3].name");

    let mut g = good.clone();
    g.policy.limits.transaction_bytes_max = 1023;
    expect_invalid(&g, "policy.limits.transaction_bytes_max");

    let mut g = good.clone();
    g.policy.limits.transaction_bytes_max = 64 * 1024 * 1024 + 1;
    expect_invalid(&g, "policy.limits.transaction_bytes_max");

    let mut g = good.clone();
    g.policy.kinds[1].kind = g.policy.kinds[0].kind.clone();
    expect_invalid(&g, "policy.kinds[1].kind");

    let mut g = good.clone();
    g.validators[0].voting_power = u64::MAX / 3;
    expect_invalid(&g, "validators");

    // Governance keys: 1 to 16 per member, each key in one role only, none of small order.
    let mut g = good.clone();
    g.members[1].governance_keys.clear();
    expect_invalid(&g, "members[1].governance_keys");
    let mut g = good.clone();
    g.members[1].governance_keys = (0..17u8)
        .map(|i| SigningKey::from_seed(&[i + 100; 32]).public_key())
        .collect();
    expect_invalid(&g, "members[1].governance_keys");
    let mut g = good.clone();
    let again = g.members[2].governance_keys[0];
    g.members[2].governance_keys.push(again);
    expect_invalid(&g, "members[2].governance_keys[1]");
    let mut g = good.clone();
    g.members[3].governance_keys[0] = g.members[0].governance_keys[0];
    expect_invalid(&g, "members[3].governance_keys[0]");
    let mut g = good.clone();
    g.members[0].governance_keys[0] = g.validators[1].public_key;
    expect_invalid(&g, "members[0].governance_keys[0]");
    let mut g = good.clone();
    g.filers[2].public_key = g.members[2].governance_keys[0];
    expect_invalid(&g, "filers[2].public_key");
    // The identity point (y = 1) decodes and has small order: refused in every role.
    let small = PublicKey::from_bytes(&{
        let mut y = [0u8; 32];
        y[0] = 1;
        y
    })
    .unwrap();
    assert!(small.is_small_order());
    let mut g = good.clone();
    g.members[1].governance_keys[0] = small;
    expect_invalid(&g, "members[1].governance_keys[0]");
    let mut g = good.clone();
    g.validators[2].public_key = small;
    expect_invalid(&g, "validators[2].public_key");
    let mut g = good.clone();
    g.filers[0].public_key = small;
    expect_invalid(&g, "filers[0].public_key");

    // The threshold is a fraction from one half up to (not including) one.
    for (numerator, denominator) in [(1, 3), (3, 3), (4, 3), (0, 0), (2, 0), (999, 1001)] {
        let mut g = good.clone();
        g.governance.threshold = Threshold {
            numerator,
            denominator,
        };
        expect_invalid(&g, "governance.threshold");
    }
    for (numerator, denominator) in [(1, 2), (2, 3), (3, 4), (999, 1000)] {
        let mut g = good.clone();
        g.governance.threshold = Threshold {
            numerator,
            denominator,
        };
        g.validate().unwrap();
    }

    let mut g = good;
    g.validators.clear();
    expect_invalid(&g, "validators");
}

#[test]
fn the_threshold_counts_members_strictly_above_the_fraction() {
    let two_thirds = Threshold::TWO_THIRDS;
    // (members, approvals needed): more than two thirds.
    for (members, needed) in [
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 3),
        (5, 4),
        (6, 5),
        (7, 5),
        (9, 7),
    ] {
        assert_eq!(two_thirds.approvals_needed(members), needed, "{members}");
        assert!(two_thirds.is_met(needed, members));
        assert!(!two_thirds.is_met(needed - 1, members));
    }
    let half = Threshold {
        numerator: 1,
        denominator: 2,
    };
    assert_eq!(
        half.approvals_needed(4),
        3,
        "half of four is not more than half"
    );
    assert_eq!(half.approvals_needed(5), 3);
}

#[test]
fn malformed_json_is_rejected_with_a_reason() {
    let text = consortium().genesis.to_json();
    for bad in [
        "",
        "{",
        "[]",
        &text.replace("\"chain_id\"", "\"chain\""),
        &text.replace("\"blake3\"", "\"md5\""),
        &text.replace("ed25519:", "rsa:"),
        &text.replacen("\"voting_power\": 1", "\"voting_power\": -1", 1),
        &text.replacen("\"members\": [", "\"surprise\": 1, \"members\": [", 1),
        &text.replacen(
            "\"voting_power\": 1",
            "\"voting_power\": 1, \"address\": null",
            1,
        ),
        &text.replacen("\"name\": \"bureau-filing-system\"", "\"name\": null", 1),
        &text.replacen("\"voting_power\": 1", "\"voting_power\": 1.0", 1),
    ] {
        assert!(
            matches!(Genesis::from_json(bad), Err(GenesisError::NotJson(_))),
            "accepted {bad:.60}"
        );
    }
}

#[test]
fn an_array_where_the_format_has_an_object_is_not_a_genesis_file() {
    let text = consortium().genesis.to_json();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Each object, written as the array of its values in field order (what a reader that
    // goes by field order would take), in turn.
    let as_array = |object: &serde_json::Value| {
        serde_json::Value::Array(object.as_object().unwrap().values().cloned().collect())
    };
    let paths: [&[&str]; 6] = [
        &["suite"],
        &["policy"],
        &["governance"],
        &["governance", "threshold"],
        &["policy", "limits"],
        &["filers", "0"],
    ];
    for path in paths {
        let mut bad = value.clone();
        let mut at = &mut bad;
        for step in path {
            at = match step.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*step],
            };
        }
        *at = as_array(at);
        let bad = serde_json::to_string(&bad).unwrap();
        assert!(
            matches!(Genesis::from_json(&bad), Err(GenesisError::NotJson(_))),
            "accepted {path:?} as an array"
        );
    }
    let duplicate = text.replacen("\"chain_id\"", "\"chain_id\": \"other\", \"chain_id\"", 1);
    assert!(matches!(
        Genesis::from_json(&duplicate),
        Err(GenesisError::NotJson(_))
    ));
}

#[test]
fn an_address_when_present_round_trips_and_changes_the_hash() {
    let mut g = consortium().genesis;
    let before = g.hash();
    g.validators[0].address = Some("/ip4/127.0.0.1/tcp/26656".into());
    let back = Genesis::from_json(&g.to_json()).unwrap();
    assert_eq!(back, g);
    assert_ne!(back.hash(), before);
}

#[test]
fn an_address_when_present_is_1_to_256_bytes() {
    let mut g = consortium().genesis;
    g.validators[1].address = Some("a".repeat(256));
    g.validate().unwrap();
    for address in [String::new(), "a".repeat(257)] {
        g.validators[1].address = Some(address);
        expect_invalid(&g, "validators[1].address");
    }
}

#[test]
fn trust_anchor_carries_the_validator_set_and_hash() {
    let g = consortium().genesis;
    let anchor = g.trust_anchor().unwrap();
    assert_eq!(anchor.chain_id, g.chain_id);
    assert_eq!(anchor.genesis_hash, g.hash());
    assert_eq!(anchor.validators().len(), 4);
}

#[test]
fn key_files_are_private_never_overwritten_and_checked_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bureau.key");
    let key = consortium().filer_keys.remove(0).1;
    write_key_file(&path, &key).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(matches!(
        write_key_file(&path, &key),
        Err(KeyFileError::Write { .. })
    ));
    assert_eq!(read_key_file(&path).unwrap().public_key(), key.public_key());

    let garbage = dir.path().join("garbage.key");
    std::fs::write(&garbage, b"\x00\x01garbage").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_key_file(&garbage),
            Err(KeyFileError::ReadableByOthers { mode: 0o644, .. })
        ));
        std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            read_key_file(&path),
            Err(KeyFileError::ReadableByOthers { .. })
        ));
    }
    assert!(matches!(
        read_key_file(&garbage),
        Err(KeyFileError::Invalid { .. })
    ));
    assert!(matches!(
        read_key_file(&dir.path().join("missing.key")),
        Err(KeyFileError::Read { .. })
    ));
}
