use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::scalar::Scalar;
use proptest::prelude::*;
use sha2::{Digest, Sha512};

use super::*;
use crate::Keypair;

/// A signature by `secret` whose `R` carries a small-order component: valid under ZIP-215's
/// cofactored equation, refused by `verify_strict`. Built by hand as RFC 8032 signs, with
/// `R = rB + T` for a point `T` of order 8.
fn torsioned_signature(secret: &[u8; 32], msg: &[u8]) -> Signature {
    let h: [u8; 64] = Sha512::digest(secret).into();
    let mut a = [0u8; 32];
    a.copy_from_slice(&h[..32]);
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    let a = Scalar::from_bytes_mod_order(a);
    let public = (ED25519_BASEPOINT_POINT * a).compress();
    let r: [u8; 64] = Sha512::new()
        .chain_update(&h[32..])
        .chain_update(msg)
        .finalize()
        .into();
    let r = Scalar::from_bytes_mod_order_wide(&r);
    let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[1]).compress();
    let k: [u8; 64] = Sha512::new()
        .chain_update(big_r.as_bytes())
        .chain_update(public.as_bytes())
        .chain_update(msg)
        .finalize()
        .into();
    let s = r + Scalar::from_bytes_mod_order_wide(&k) * a;
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(big_r.as_bytes());
    bytes[32..].copy_from_slice(s.as_bytes());
    Signature::from_bytes(&bytes)
}

/// `n` honest signatures: `(signer, message, signature)`; `keys` distinct signers.
fn signed(n: usize, keys: usize) -> Vec<(Did, Vec<u8>, Signature)> {
    let keypairs: Vec<Keypair> = (0..keys).map(|_| Keypair::generate()).collect();
    (0..n)
        .map(|i| {
            let key = &keypairs[i % keys];
            let msg = format!("message {i}").into_bytes();
            let sig = key.sign(&msg);
            (key.did(), msg, sig)
        })
        .collect()
}

fn items(signed: &[(Did, Vec<u8>, Signature)]) -> Vec<(&Did, &[u8], &Signature)> {
    signed
        .iter()
        .map(|(d, m, s)| (d, m.as_slice(), s))
        .collect()
}

fn singles(items: &[(&Did, &[u8], &Signature)]) -> Vec<bool> {
    items
        .iter()
        .map(|(d, m, s)| d.verify(m, s).is_ok())
        .collect()
}

#[test]
fn a_batch_of_honest_signatures_is_accepted() {
    for keys in [1, 5] {
        let signed = signed(20, keys);
        let results = verify_batch(&items(&signed));
        assert_eq!(results.len(), 20);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    }
    assert!(verify_batch(&[]).is_empty());
}

#[test]
fn a_bad_signature_fails_only_its_own_item() {
    let mut signed = signed(16, 3);
    let other = Keypair::generate().sign(b"something else");
    signed[7].2 = other;
    signed[11].1.push(b'!');
    let results = verify_batch(&items(&signed));
    for (i, result) in results.iter().enumerate() {
        match i {
            7 | 11 => assert!(
                matches!(result, Err(IdentityError::InvalidSignature)),
                "{i}: {result:?}"
            ),
            _ => assert!(result.is_ok(), "{i}: {result:?}"),
        }
    }
}

#[test]
fn only_picked_items_are_checked_and_answered_in_place() {
    let mut signed = signed(12, 2);
    signed[4].1.push(b'!');
    signed[5].1.push(b'!');
    // Even items are picked: 4 is bad; 5 is bad too but not picked, so not answered.
    let at: Vec<usize> = (0..12).collect();
    let results = verify_batch_where(&at, |i| (i % 2 == 0).then(|| signed[*i].clone()));
    assert_eq!(results.len(), 12);
    for (i, result) in results.iter().enumerate() {
        match i {
            _ if i % 2 == 1 => assert!(result.is_none(), "{i}: {result:?}"),
            4 => assert!(
                matches!(result, Some(Err(IdentityError::InvalidSignature))),
                "{result:?}"
            ),
            _ => assert!(matches!(result, Some(Ok(()))), "{i}: {result:?}"),
        }
    }
}

#[test]
fn a_small_order_component_is_accepted_alone_and_in_a_batch() {
    let key = Keypair::generate();
    let msg = b"torsion";
    let sig = torsioned_signature(&key.secret_bytes(), msg);
    let strict = ed25519_dalek::VerifyingKey::from_bytes(&key.public_key_bytes())
        .unwrap()
        .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig.to_bytes()));
    assert!(
        strict.is_err(),
        "the signature must exercise the ZIP-215 path"
    );
    assert!(key.did().verify(msg, &sig).is_ok());

    let mut signed = signed(8, 2);
    signed.push((key.did(), msg.to_vec(), sig));
    let results = verify_batch(&items(&signed));
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

#[test]
fn a_non_canonical_s_is_refused_alone_and_in_a_batch() {
    // s + L: the same point equation, a second encoding of the signature.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut signed = signed(8, 1);
    let mut bytes = signed[3].2.to_bytes();
    let mut carry = 0u16;
    for (b, l) in bytes[32..].iter_mut().zip(L) {
        let sum = u16::from(*b) + u16::from(l) + carry;
        *b = sum as u8;
        carry = sum >> 8;
    }
    signed[3].2 = Signature::from_bytes(&bytes);
    let results = verify_batch(&items(&signed));
    assert!(results[3].is_err());
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 7);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever is damaged, a batch gives each item the answer a single check gives.
    #[test]
    fn batch_and_single_checks_agree(
        n in 0usize..12,
        damage in proptest::collection::vec((0usize..12, 0usize..96, 1u8..=255), 0..4),
        torsion in proptest::option::of(0usize..12),
    ) {
        let mut signed = signed(n, 3);
        if let Some(i) = torsion.filter(|i| *i < n) {
            let key = Keypair::generate();
            let msg = signed[i].1.clone();
            signed[i] = (key.did(), msg.clone(), torsioned_signature(&key.secret_bytes(), &msg));
        }
        for (i, at, xor) in damage {
            if i >= n {
                continue;
            }
            if at < 64 {
                let mut bytes = signed[i].2.to_bytes();
                bytes[at] ^= xor;
                signed[i].2 = Signature::from_bytes(&bytes);
            } else {
                let msg = &mut signed[i].1;
                let at = (at - 64) % msg.len();
                msg[at] ^= xor;
            }
        }
        let items = items(&signed);
        let batch: Vec<bool> = verify_batch(&items).iter().map(Result::is_ok).collect();
        prop_assert_eq!(batch, singles(&items));
    }
}
