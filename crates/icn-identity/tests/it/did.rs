use icn_identity::{DID_PREFIX, Did, DidParseError, Keypair};
use proptest::prelude::*;

proptest! {
    #[test]
    fn display_parse_round_trip(secret in proptest::array::uniform32(any::<u8>())) {
        let kp = Keypair::from_secret_bytes(&secret);
        let did = kp.did();
        let text = did.to_string();
        prop_assert!(text.starts_with("did:icn:"));
        let encoded = bs58::encode(kp.public_key_bytes()).into_string();
        prop_assert_eq!(&text[DID_PREFIX.len()..], encoded);
        let parsed: Did = text.parse().unwrap();
        prop_assert_eq!(parsed, did);
        prop_assert_eq!(parsed.as_bytes(), &kp.public_key_bytes());
        prop_assert_eq!(Did::from_public_key_bytes(&kp.public_key_bytes()), Ok(did));
        prop_assert_eq!(format!("{did:?}"), text.clone());
        let short = did.short();
        prop_assert_eq!(short.len(), 12);
        prop_assert!(text[DID_PREFIX.len()..].starts_with(&short));
    }
}

#[test]
fn rfc8032_test_vector_1() {
    // RFC 8032 §7.1, TEST 1 (empty message).
    let secret: [u8; 32] =
        hex_array("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let public: [u8; 32] =
        hex_array("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    let sig: [u8; 64] = hex_array(concat!(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155",
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ));
    let kp = Keypair::from_secret_bytes(&secret);
    assert_eq!(kp.public_key_bytes(), public);
    assert_eq!(kp.sign(b"").to_bytes(), sig);
    assert_eq!(
        kp.did().to_string(),
        format!("did:icn:{}", bs58::encode(public).into_string())
    );
}

fn hex_array<const N: usize>(s: &str) -> [u8; N] {
    let v: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

#[test]
fn missing_prefix() {
    let good = crate::keypair(1).did().to_string();
    let bare = &good[DID_PREFIX.len()..];
    for input in [
        "",
        bare,
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        &good.to_uppercase(),
        &format!(" {good}"),
        &format!("did:icn{bare}"),
    ] {
        assert_eq!(
            input.parse::<Did>(),
            Err(DidParseError::MissingPrefix),
            "{input:?}"
        );
    }
}

#[test]
fn invalid_base58() {
    // 0, O, I and l are not in the bitcoin alphabet; non-ASCII is rejected too.
    for input in [
        "did:icn:0abc",
        "did:icn:abcO",
        "did:icn:Il",
        "did:icn:ab c",
        "did:icn:é",
    ] {
        let err = input.parse::<Did>().unwrap_err();
        assert!(
            matches!(err, DidParseError::InvalidBase58(_)),
            "{input:?}: {err:?}"
        );
        assert!(err.to_string().contains("base58"), "{err}");
    }
}

#[test]
fn wrong_length() {
    for len in [0usize, 1, 31, 33, 64] {
        let input = format!("did:icn:{}", bs58::encode(vec![7u8; len]).into_string());
        assert_eq!(
            input.parse::<Did>(),
            Err(DidParseError::InvalidLength { len }),
            "{input}"
        );
    }
    let long = format!("did:icn:{}", "2".repeat(89));
    assert_eq!(long.parse::<Did>(), Err(DidParseError::TooLong { len: 89 }));
    // Far too long is rejected before any decoding work.
    let huge = format!("did:icn:{}", "z".repeat(1_000_000));
    assert!(matches!(
        huge.parse::<Did>(),
        Err(DidParseError::TooLong { .. })
    ));
}

#[test]
fn not_a_curve_point() {
    // About half of all y coordinates have no point on the curve; find one.
    let bad = (0u8..=255)
        .map(|i| {
            let mut b = [0u8; 32];
            b[0] = i;
            b[1] = 0x55;
            b
        })
        .find(|b| {
            matches!(
                Did::from_public_key_bytes(b),
                Err(DidParseError::InvalidKey {
                    reason: "not a point on the curve"
                })
            )
        })
        .expect("some y has no curve point");
    let input = format!("did:icn:{}", bs58::encode(bad).into_string());
    let err = input.parse::<Did>().unwrap_err();
    assert!(matches!(err, DidParseError::InvalidKey { .. }), "{err:?}");
    assert!(
        err.to_string().contains("not a valid Ed25519 public key"),
        "{err}"
    );
}

#[test]
fn weak_key_rejected() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let input = format!("did:icn:{}", bs58::encode(identity).into_string());
    assert!(matches!(
        input.parse::<Did>(),
        Err(DidParseError::InvalidKey { .. })
    ));
}

#[test]
fn ordering_and_hash_follow_bytes() {
    use std::collections::{BTreeSet, HashSet};
    let dids: Vec<Did> = (0..16).map(|s| crate::keypair(s).did()).collect();
    let set: HashSet<Did> = dids.iter().copied().collect();
    assert_eq!(set.len(), 16);
    let sorted: Vec<Did> = dids
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(sorted.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()));
}
