use icn_identity::{IdentityError, Keypair, Signature};

#[test]
fn sign_and_verify() {
    let kp = crate::keypair(7);
    let msg = b"gossip message";
    let sig = kp.sign(msg);
    assert_eq!(kp.did().verify(msg, &sig), Ok(()));
    // Ed25519 is deterministic.
    assert_eq!(kp.sign(msg), sig);
    assert_eq!(Signature::from_bytes(&sig.to_bytes()), sig);
}

#[test]
fn tampered_message_fails() {
    let kp = crate::keypair(7);
    let sig = kp.sign(b"pay alice 10");
    assert_eq!(
        kp.did().verify(b"pay alice 11", &sig),
        Err(IdentityError::InvalidSignature)
    );
    assert_eq!(
        kp.did().verify(b"", &sig),
        Err(IdentityError::InvalidSignature)
    );
}

#[test]
fn tampered_signature_fails() {
    let kp = crate::keypair(7);
    let msg = b"hello";
    let sig = kp.sign(msg).to_bytes();
    for i in 0..64 {
        for bit in [0x01u8, 0x80] {
            let mut bad = sig;
            bad[i] ^= bit;
            assert_eq!(
                kp.did().verify(msg, &Signature::from_bytes(&bad)),
                Err(IdentityError::InvalidSignature),
                "byte {i} bit {bit:#x}"
            );
        }
    }
    assert!(
        kp.did()
            .verify(msg, &Signature::from_bytes(&[0; 64]))
            .is_err()
    );
}

#[test]
fn other_key_fails() {
    let a = crate::keypair(1);
    let b = crate::keypair(2);
    let sig = a.sign(b"m");
    assert_eq!(
        b.did().verify(b"m", &sig),
        Err(IdentityError::InvalidSignature)
    );
}

#[test]
fn secret_round_trip_and_clone() {
    let kp = Keypair::generate();
    let again = Keypair::from_secret_bytes(&kp.secret_bytes());
    assert_eq!(again.did(), kp.did());
    assert_eq!(again.sign(b"x"), kp.sign(b"x"));
    let cloned = kp.clone();
    assert_eq!(cloned.did(), kp.did());
    assert_ne!(Keypair::generate().did(), kp.did());
    // Seeded generation is reproducible.
    assert_eq!(crate::keypair(3).did(), crate::keypair(3).did());
    assert_ne!(crate::keypair(3).did(), crate::keypair(4).did());
}

#[test]
fn debug_never_shows_the_secret() {
    for seed in 0..8 {
        let kp = crate::keypair(seed);
        let secret = kp.secret_bytes();
        for dbg in [format!("{kp:?}"), format!("{kp:#?}")] {
            assert!(dbg.contains(&kp.did().to_string()), "{dbg}");
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            let lower = dbg.to_lowercase();
            // Any 8-byte window of the secret, in hex (either case) or base58.
            for window in secret.windows(8) {
                let h: String = window.iter().map(|b| format!("{b:02x}")).collect();
                assert!(!lower.contains(&h), "hex of secret in {dbg}");
            }
            assert!(!lower.contains(&hex));
            assert!(!dbg.contains(&bs58::encode(&secret[..]).into_string()));
            assert!(!dbg.contains(&bs58::encode(&secret[..16]).into_string()));
            // Nor the array as Debug would print it.
            assert!(
                !dbg.contains(
                    &format!("{:?}", &secret[..4])
                        .trim_end_matches(']')
                        .to_string()
                )
            );
        }
    }
}

#[test]
fn pkcs8_is_accepted_by_rcgen() {
    let kp = crate::keypair(9);
    let der = kp.pkcs8_der().unwrap();
    let key = rcgen::KeyPair::try_from(der.as_slice()).unwrap();
    assert_eq!(key.algorithm(), &rcgen::PKCS_ED25519);
    assert_eq!(key.public_key_raw(), kp.public_key_bytes());
    let cert = rcgen::CertificateParams::new(vec!["icn".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    assert!(!cert.der().is_empty());
}
