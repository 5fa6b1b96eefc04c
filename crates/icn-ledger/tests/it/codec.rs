//! Signing bytes, ids and the wire form.

use icn_identity::{Keypair, Signature};
use icn_ledger::{MAX_OP_BYTES, Op, OpError, OpId};

use crate::*;

fn golden_op() -> (Keypair, Op) {
    let author = Keypair::from_secret_bytes(&[7; 32]);
    let to = Keypair::from_secret_bytes(&[8; 32]).did();
    let op = Op::from(Transfer {
        currency: code("USD"),
        from: author.did(),
        to,
        amount: 1234,
        seq: 5,
        timestamp_ms: T0,
        memo: "rent".to_owned(),
    });
    (author, op)
}

#[test]
fn signing_bytes_layout_is_the_documented_one() {
    let (author, op) = golden_op();
    let Op::Transfer(t) = &op else { unreachable!() };
    let bytes = op.signing_bytes(&author.did());
    let mut expected = Vec::new();
    expected.extend_from_slice(b"ICN-LEDGER-OP-V1");
    expected.extend_from_slice(author.did().as_bytes());
    expected.push(3);
    expected.extend_from_slice(&3u32.to_le_bytes());
    expected.extend_from_slice(b"USD");
    expected.extend_from_slice(t.from.as_bytes());
    expected.extend_from_slice(t.to.as_bytes());
    expected.extend_from_slice(&1234u64.to_le_bytes());
    expected.extend_from_slice(&5u64.to_le_bytes());
    expected.extend_from_slice(&T0.to_le_bytes());
    expected.extend_from_slice(&4u32.to_le_bytes());
    expected.extend_from_slice(b"rent");
    assert_eq!(bytes, expected);
    assert_eq!(
        op.id(&author.did()).as_bytes(),
        blake3::hash(&bytes).as_bytes()
    );
}

#[test]
fn op_id_is_stable() {
    // A change here changes every op id on the network: only with a new domain version.
    let (author, op) = golden_op();
    assert_eq!(
        op.id(&author.did()).to_string(),
        "add9eb2c4a1cabbc74ee9b558801380b4ae3015fef4df9076f55319cddd04d7d"
    );
}

#[test]
fn wire_form_is_stable() {
    // Ed25519 signatures are deterministic, so the whole payload is; a change here means
    // nodes of different versions disagree on gossip payloads.
    let (author, op) = golden_op();
    let bytes = op.sign(&author).encode();
    assert_eq!(bytes.len(), 187);
    assert_eq!(
        blake3::hash(&bytes).to_hex().as_str(),
        "4597ae15ad149a246019f732d6cd61cadf97258f1fe97ac8cfc48c12cd4a1cd2"
    );
}

#[test]
fn every_field_changes_the_id() {
    let (author, op) = golden_op();
    let Op::Transfer(t) = op.clone() else {
        unreachable!()
    };
    let other = keypair(99).did();
    let variants = [
        Transfer {
            currency: code("EUR"),
            ..t.clone()
        },
        Transfer {
            from: other,
            ..t.clone()
        },
        Transfer {
            to: other,
            ..t.clone()
        },
        Transfer {
            amount: 1235,
            ..t.clone()
        },
        Transfer {
            seq: 6,
            ..t.clone()
        },
        Transfer {
            timestamp_ms: T0 + 1,
            ..t.clone()
        },
        Transfer {
            memo: "rent!".to_owned(),
            ..t.clone()
        },
    ];
    let base = op.id(&author.did());
    assert_ne!(base, op.id(&other), "author is part of the id");
    for v in variants {
        assert_ne!(Op::from(v).id(&author.did()), base);
    }
    // A string boundary cannot be shifted between fields: "USD"+"x" vs "USDX"... lengths differ.
    let a = Op::from(Transfer {
        currency: code("AB"),
        memo: "C".into(),
        ..t.clone()
    });
    let b = Op::from(Transfer {
        currency: code("A"),
        memo: "BC".into(),
        ..t
    });
    assert_ne!(a.id(&author.did()), b.id(&author.did()));
}

#[test]
fn op_kinds_have_distinct_ids_for_similar_fields() {
    let a = keypair(1);
    let c = create(&a, "USD", 5, T0);
    let s = set_limit(&a, "USD", a.did(), 5, T0);
    assert_ne!(c.id(), s.id());
}

#[test]
fn wire_round_trip() {
    let a = keypair(1);
    let b = keypair(2);
    for op in [
        create(&a, "USD", 100, T0),
        set_limit(&a, "USD", b.did(), 7, T0 + 1),
        transfer_memo(&a, "USD", b.did(), 42, 1, T0 + 2, "héllo"),
    ] {
        let bytes = op.encode();
        assert!(bytes.len() < 400, "{} bytes", bytes.len());
        let back = SignedOp::decode(&bytes, MAX_OP_BYTES).unwrap();
        assert_eq!(back, op);
        assert_eq!(back.id(), op.id());
        back.verify_signature().unwrap();
    }
}

#[test]
fn decode_rejects_oversized_input() {
    let op = transfer_memo(
        &keypair(1),
        "USD",
        keypair(2).did(),
        1,
        1,
        T0,
        &"m".repeat(200),
    );
    let bytes = op.encode();
    assert!(matches!(
        SignedOp::decode(&bytes, bytes.len() - 1),
        Err(OpError::TooLarge { max, .. }) if max == bytes.len() - 1
    ));
    assert!(SignedOp::decode(&bytes, bytes.len()).is_ok());
    // The hard ceiling applies whatever the caller passes.
    let huge = vec![0u8; MAX_OP_BYTES + 1];
    assert!(matches!(
        SignedOp::decode(&huge, usize::MAX),
        Err(OpError::TooLarge {
            max: MAX_OP_BYTES,
            ..
        })
    ));
}

#[test]
fn decode_rejects_trailing_and_truncated_bytes() {
    let bytes = transfer(&keypair(1), "USD", keypair(2).did(), 1, 1, T0).encode();
    let mut long = bytes.clone();
    long.push(0);
    let err = SignedOp::decode(&long, MAX_OP_BYTES).unwrap_err();
    assert!(
        matches!(&err, OpError::Malformed { reason } if reason.contains("trailing")),
        "{err}"
    );
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        assert!(matches!(
            SignedOp::decode(&bytes[..cut], MAX_OP_BYTES),
            Err(OpError::Malformed { .. })
        ));
    }
}

#[test]
fn decode_rejects_non_canonical_varints() {
    let bytes = transfer(&keypair(1), "USD", keypair(2).did(), 1, 1, T0).encode();
    // The enum tag of `Op::Transfer` (2) comes first; 251 announces a u16 varint.
    assert_eq!(bytes[0], 2);
    let mut alt = vec![251, 2, 0];
    alt.extend_from_slice(&bytes[1..]);
    assert!(matches!(
        SignedOp::decode(&alt, MAX_OP_BYTES),
        Err(OpError::Malformed { .. })
    ));
}

#[test]
fn decode_rejects_invalid_codes_and_keys() {
    let op = transfer(&keypair(1), "USD", keypair(2).did(), 1, 1, T0);
    let bytes = op.encode();
    let at = bytes.windows(3).position(|w| w == b"USD").unwrap();
    let mut lower = bytes.clone();
    lower[at..at + 3].copy_from_slice(b"usd");
    assert!(matches!(
        SignedOp::decode(&lower, MAX_OP_BYTES),
        Err(OpError::Malformed { .. })
    ));
    // The identity point is a weak key: not a valid DID.
    let from = op.author.as_bytes();
    let at = bytes.windows(32).position(|w| w == from).unwrap();
    let mut weak = bytes.clone();
    weak[at..at + 32].copy_from_slice(&{
        let mut k = [0u8; 32];
        k[0] = 1;
        k
    });
    assert!(matches!(
        SignedOp::decode(&weak, MAX_OP_BYTES),
        Err(OpError::Malformed { .. })
    ));
}

#[test]
fn decode_never_panics_on_garbage() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let good = transfer(&keypair(1), "USD", keypair(2).did(), 1, 1, T0).encode();
    for _ in 0..2000 {
        let mut b = good.clone();
        let flips = rng.gen_range(1..4);
        for _ in 0..flips {
            let i = rng.gen_range(0..b.len());
            b[i] = rng.r#gen();
        }
        if let Ok(op) = SignedOp::decode(&b, MAX_OP_BYTES) {
            assert_eq!(op.encode(), b, "accepted bytes must be canonical");
        }
    }
    for len in 0..64 {
        let b: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        let _ = SignedOp::decode(&b, MAX_OP_BYTES);
    }
}

#[test]
fn signature_is_not_part_of_the_id() {
    let mut op = transfer(&keypair(1), "USD", keypair(2).did(), 1, 1, T0);
    let id = op.id();
    op.signature = Signature::from_bytes(&[0; 64]);
    assert_eq!(op.id(), id);
    assert!(matches!(
        op.verify_signature(),
        Err(OpError::BadSignature { .. })
    ));
}

#[test]
fn currency_code_syntax() {
    assert!(CurrencyCode::new("USD").is_ok());
    assert!(CurrencyCode::new("K9").is_ok());
    assert!(CurrencyCode::new(&"A".repeat(32)).is_ok());
    for bad in ["", "usd", "US D", "US-D", "ÜSD", &"A".repeat(33)] {
        assert!(
            matches!(CurrencyCode::new(bad), Err(OpError::InvalidCode { .. })),
            "{bad:?}"
        );
    }
    assert_eq!("HOURS".parse::<CurrencyCode>().unwrap().as_str(), "HOURS");
    assert!(serde_json::from_str::<CurrencyCode>("\"usd\"").is_err());
    assert_eq!(serde_json::to_string(&code("USD")).unwrap(), "\"USD\"");
}

#[test]
fn op_id_text_and_serde() {
    let id = transfer(&keypair(1), "USD", keypair(2).did(), 1, 1, T0).id();
    let text = id.to_string();
    assert_eq!(text.len(), 64);
    assert_eq!(text.parse::<OpId>().unwrap(), id);
    assert_eq!(text.to_uppercase().parse::<OpId>().unwrap(), id);
    assert!("xyz".parse::<OpId>().is_err());
    assert!(text[..63].parse::<OpId>().is_err());
    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(json, format!("\"{text}\""));
    assert_eq!(serde_json::from_str::<OpId>(&json).unwrap(), id);
    let bin = bincode::serde::encode_to_vec(id, bincode::config::standard()).unwrap();
    let (back, _): (OpId, usize) =
        bincode::serde::decode_from_slice(&bin, bincode::config::standard()).unwrap();
    assert_eq!(back, id);
}
