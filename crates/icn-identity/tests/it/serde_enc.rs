use icn_identity::{Did, Signature};
use serde::{Deserialize, Serialize};

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Signed {
    from: Did,
    sig: Signature,
}

#[test]
fn did_json_is_the_string() {
    let did = crate::keypair(1).did();
    let json = serde_json::to_string(&did).unwrap();
    assert_eq!(json, format!("\"{did}\""));
    assert_eq!(serde_json::from_str::<Did>(&json).unwrap(), did);
}

#[test]
fn did_json_rejects_invalid() {
    for bad in [
        "\"did:icn:0\"",
        "\"did:key:abc\"",
        "\"\"",
        "42",
        "null",
        &serde_json::to_string(&crate::keypair(1).did().as_bytes().to_vec()).unwrap(),
    ] {
        assert!(serde_json::from_str::<Did>(bad).is_err(), "{bad}");
    }
}

#[test]
fn signature_json_is_hex() {
    let sig = crate::keypair(1).sign(b"m");
    let json = serde_json::to_string(&sig).unwrap();
    assert_eq!(json.len(), 128 + 2);
    assert!(json[1..129].bytes().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(serde_json::from_str::<Signature>(&json).unwrap(), sig);
    // Upper case is accepted too; wrong lengths and non-hex are not.
    assert_eq!(
        serde_json::from_str::<Signature>(&json.to_uppercase()).unwrap(),
        sig
    );
    assert!(serde_json::from_str::<Signature>("\"abcd\"").is_err());
    let not_hex = format!("\"{}\"", "g".repeat(128));
    assert!(serde_json::from_str::<Signature>(&not_hex).is_err());
}

#[test]
fn struct_json_round_trip() {
    let kp = crate::keypair(5);
    let v = Signed {
        from: kp.did(),
        sig: kp.sign(b"payload"),
    };
    let json = serde_json::to_string(&v).unwrap();
    assert!(json.contains(&kp.did().to_string()));
    assert_eq!(serde_json::from_str::<Signed>(&json).unwrap(), v);
}

#[test]
fn did_bincode_is_compact() {
    let did = crate::keypair(2).did();
    let bytes = bincode::serde::encode_to_vec(did, config()).unwrap();
    // One varint length byte, then the raw key.
    assert_eq!(bytes.len(), 33);
    assert_eq!(&bytes[1..], did.as_bytes());
    let (back, used): (Did, usize) = bincode::serde::decode_from_slice(&bytes, config()).unwrap();
    assert_eq!((back, used), (did, 33));
    // The owned (reader) path hands bytes over differently; it must work too.
    let back: Did = bincode::serde::decode_from_std_read(&mut bytes.as_slice(), config()).unwrap();
    assert_eq!(back, did);
    // Even with fixed-width integers the length prefix is at most 8 bytes.
    let legacy = bincode::config::legacy();
    let bytes = bincode::serde::encode_to_vec(did, legacy).unwrap();
    assert!(bytes.len() <= 32 + 8, "{}", bytes.len());
    let (back, _): (Did, usize) = bincode::serde::decode_from_slice(&bytes, legacy).unwrap();
    assert_eq!(back, did);
}

#[test]
fn did_bincode_validates() {
    // Right length, but the identity point is a weak key.
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let bytes = bincode::serde::encode_to_vec(weak.to_vec(), config()).unwrap();
    assert!(bincode::serde::decode_from_slice::<Did, _>(&bytes, config()).is_err());
    // Wrong length.
    let good = crate::keypair(2).did();
    let bytes = bincode::serde::encode_to_vec(good.as_bytes()[..31].to_vec(), config()).unwrap();
    assert!(bincode::serde::decode_from_slice::<Did, _>(&bytes, config()).is_err());
    // Truncated input.
    let bytes = bincode::serde::encode_to_vec(good, config()).unwrap();
    assert!(bincode::serde::decode_from_slice::<Did, _>(&bytes[..20], config()).is_err());
}

#[test]
fn signature_and_struct_bincode() {
    let kp = crate::keypair(3);
    let sig = kp.sign(b"m");
    let bytes = bincode::serde::encode_to_vec(sig, config()).unwrap();
    assert_eq!(bytes.len(), 65);
    assert_eq!(&bytes[1..], &sig.to_bytes()[..]);
    let (back, _): (Signature, usize) =
        bincode::serde::decode_from_slice(&bytes, config()).unwrap();
    assert_eq!(back, sig);

    let v = Signed {
        from: kp.did(),
        sig,
    };
    let bytes = bincode::serde::encode_to_vec(&v, config()).unwrap();
    assert_eq!(bytes.len(), 33 + 65);
    let (back, _): (Signed, usize) = bincode::serde::decode_from_slice(&bytes, config()).unwrap();
    assert_eq!(back, v);
}
