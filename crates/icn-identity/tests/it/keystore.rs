use std::fs;
use std::path::{Path, PathBuf};

use icn_identity::{IDENTITY_FILE, KdfParams, Keypair, Keystore, KeystoreError};
use serde_json::Value;

const PASS: &[u8] = b"correct horse battery staple";

fn fast() -> KdfParams {
    KdfParams::insecure_for_tests()
}

/// A temp dir with a keystore for `keypair(seed)` in it.
fn setup(seed: u64) -> (tempfile::TempDir, PathBuf, Keypair) {
    let dir = tempfile::tempdir().unwrap();
    let path = Keystore::path_in(dir.path());
    let kp = crate::keypair(seed);
    Keystore::create(&path, &kp, PASS, fast()).unwrap();
    (dir, path, kp)
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut doc: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    edit(&mut doc);
    fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

fn flip_hex_char(s: &str, index: usize) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    chars[index] = if chars[index] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn create_then_load_round_trip() {
    let (dir, path, kp) = setup(1);
    assert_eq!(path, dir.path().join(IDENTITY_FILE));
    assert_eq!(dir_entries(dir.path()), vec![IDENTITY_FILE.to_owned()]);

    let loaded = Keystore::load(&path, PASS).unwrap();
    assert_eq!(loaded.did(), kp.did());
    assert_eq!(*loaded.secret_bytes(), *kp.secret_bytes());
    assert_eq!(loaded.sign(b"msg"), kp.sign(b"msg"));
    assert_eq!(Keystore::read_did(&path).unwrap(), kp.did());

    // The DID is readable in clear; the secret is in no obvious encoding.
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(&kp.did().to_string()));
    let secret_hex: String = kp
        .secret_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!text.contains(&secret_hex));
    assert!(!text.contains(&bs58::encode(&kp.secret_bytes()[..]).into_string()));
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["kdf"]["algorithm"], "argon2id");
    assert_eq!(doc["cipher"]["algorithm"], "chacha20poly1305");
    assert_eq!(doc["kdf"]["salt"].as_str().unwrap().len(), 32);
    assert_eq!(doc["cipher"]["nonce"].as_str().unwrap().len(), 24);
}

#[test]
fn salt_and_nonce_are_fresh() {
    let (_d1, p1, kp) = setup(1);
    let d2 = tempfile::tempdir().unwrap();
    let p2 = Keystore::path_in(d2.path());
    Keystore::create(&p2, &kp, PASS, fast()).unwrap();
    let a: Value = serde_json::from_slice(&fs::read(p1).unwrap()).unwrap();
    let b: Value = serde_json::from_slice(&fs::read(p2).unwrap()).unwrap();
    assert_ne!(a["kdf"]["salt"], b["kdf"]["salt"]);
    assert_ne!(a["cipher"]["nonce"], b["cipher"]["nonce"]);
    assert_ne!(a["cipher"]["ciphertext"], b["cipher"]["ciphertext"]);
}

#[test]
fn default_params_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = Keystore::path_in(dir.path());
    let kp = crate::keypair(2);
    Keystore::create(&path, &kp, PASS, KdfParams::default()).unwrap();
    let doc: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(doc["kdf"]["m_cost"], 19456);
    assert_eq!(doc["kdf"]["t_cost"], 2);
    assert_eq!(doc["kdf"]["p_cost"], 1);
    assert_eq!(Keystore::load(&path, PASS).unwrap().did(), kp.did());
}

#[cfg(unix)]
#[test]
fn file_mode_is_0600() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path, _) = setup(3);
    let mode = fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}

#[test]
fn wrong_passphrase_is_reported_and_file_untouched() {
    let (_dir, path, _) = setup(4);
    let before = fs::read(&path).unwrap();
    for wrong in [
        &b"correct horse battery stapl"[..],
        b"x",
        b"correct horse battery staple\n",
    ] {
        let err = Keystore::load(&path, wrong).unwrap_err();
        assert!(
            matches!(err, KeystoreError::WrongPassphrase { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("wrong passphrase"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }
    assert_eq!(fs::read(&path).unwrap(), before);
    // And the right one still works afterwards.
    assert!(Keystore::load(&path, PASS).is_ok());
}

#[test]
fn empty_passphrase_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = Keystore::path_in(dir.path());
    let err = Keystore::create(&path, &crate::keypair(5), b"", fast()).unwrap_err();
    assert!(matches!(err, KeystoreError::EmptyPassphrase), "{err:?}");
    assert!(!path.exists());
    let (_dir, path, _) = setup(5);
    let err = Keystore::load(&path, b"").unwrap_err();
    assert!(matches!(err, KeystoreError::EmptyPassphrase), "{err:?}");
}

#[test]
fn create_refuses_to_overwrite() {
    let (dir, path, _) = setup(6);
    let before = fs::read(&path).unwrap();
    let err = Keystore::create(&path, &crate::keypair(7), b"other", fast()).unwrap_err();
    assert!(
        matches!(err, KeystoreError::AlreadyExists { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(dir_entries(dir.path()), vec![IDENTITY_FILE.to_owned()]);

    // Any existing file counts, even an empty one.
    let other = dir.path().join("other.key");
    fs::write(&other, b"").unwrap();
    let err = Keystore::create(&other, &crate::keypair(7), PASS, fast()).unwrap_err();
    assert!(
        matches!(err, KeystoreError::AlreadyExists { .. }),
        "{err:?}"
    );
    assert_eq!(fs::read(&other).unwrap(), b"");
}

#[test]
fn create_in_missing_directory_is_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir").join(IDENTITY_FILE);
    let err = Keystore::create(&path, &crate::keypair(8), PASS, fast()).unwrap_err();
    assert!(matches!(err, KeystoreError::Io { .. }), "{err:?}");
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn invalid_params_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = Keystore::path_in(dir.path());
    for params in [
        KdfParams {
            m_cost: 1,
            t_cost: 1,
            p_cost: 1,
        },
        KdfParams {
            m_cost: 64,
            t_cost: 0,
            p_cost: 1,
        },
        KdfParams {
            m_cost: u32::MAX,
            t_cost: 1,
            p_cost: 1,
        },
    ] {
        let err = Keystore::create(&path, &crate::keypair(8), PASS, params).unwrap_err();
        assert!(
            matches!(err, KeystoreError::InvalidKdfParams { .. }),
            "{err:?}"
        );
    }
    assert!(!path.exists());
}

#[test]
fn missing_file_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = Keystore::path_in(dir.path());
    let err = Keystore::load(&path, PASS).unwrap_err();
    assert!(matches!(err, KeystoreError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));
    assert!(matches!(
        Keystore::read_did(&path),
        Err(KeystoreError::NotFound { .. })
    ));
}

fn assert_corrupt(path: &Path, what: &str) {
    let before = fs::read(path).unwrap();
    let err = Keystore::load(path, PASS).unwrap_err();
    assert!(
        matches!(err, KeystoreError::Corrupt { .. }),
        "{what}: {err:?}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(
        matches!(Keystore::read_did(path), Err(KeystoreError::Corrupt { .. })),
        "{what}"
    );
    assert_eq!(
        fs::read(path).unwrap(),
        before,
        "{what}: load modified the file"
    );
}

fn assert_wrong_passphrase(path: &Path, what: &str) {
    let err = Keystore::load(path, PASS).unwrap_err();
    assert!(
        matches!(err, KeystoreError::WrongPassphrase { .. }),
        "{what}: {err:?}"
    );
}

#[test]
fn truncated_files_are_corrupt() {
    let (_dir, path, _) = setup(10);
    let full = fs::read(&path).unwrap();
    // Every proper prefix of the JSON document is malformed (the trailing newline aside).
    let body_len = full.len() - 1;
    for len in 0..body_len {
        fs::write(&path, &full[..len]).unwrap();
        assert_corrupt(&path, &format!("truncated to {len}"));
    }
}

#[test]
fn garbage_files_are_corrupt() {
    let (_dir, path, _) = setup(11);
    let garbage: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0x00, 0x01],
        b"{}".to_vec(),
        b"null".to_vec(),
        b"[1,2,3]".to_vec(),
        b"-----BEGIN PRIVATE KEY-----\n".to_vec(),
        (0..=255u8).cycle().take(4096).collect(),
        vec![b' '; 70 * 1024],
    ];
    for g in garbage {
        fs::write(&path, &g).unwrap();
        assert_corrupt(&path, &format!("{:?}", &g[..g.len().min(16)]));
    }
}

#[test]
fn flipped_sealed_bytes_fail_decryption() {
    for (section, field) in [
        ("cipher", "ciphertext"),
        ("cipher", "nonce"),
        ("kdf", "salt"),
    ] {
        for index in [0usize, 5, 23] {
            let (_dir, path, _) = setup(12);
            edit_json(&path, |doc| {
                let old = doc[section][field].as_str().unwrap().to_owned();
                doc[section][field] = Value::from(flip_hex_char(&old, index));
            });
            assert_wrong_passphrase(&path, &format!("{field}[{index}]"));
        }
    }
    // A flipped tag byte (the end of the ciphertext) too.
    let (_dir, path, _) = setup(12);
    edit_json(&path, |doc| {
        let old = doc["cipher"]["ciphertext"].as_str().unwrap().to_owned();
        doc["cipher"]["ciphertext"] = Value::from(flip_hex_char(&old, old.len() - 1));
    });
    assert_wrong_passphrase(&path, "tag");
}

#[test]
fn edited_did_is_detected() {
    // Swapped for another valid DID: authenticated as associated data, so decryption fails.
    let (_dir, path, _) = setup(13);
    let other = crate::keypair(99).did();
    edit_json(&path, |doc| doc["did"] = Value::from(other.to_string()));
    assert_eq!(Keystore::read_did(&path).unwrap(), other);
    assert_wrong_passphrase(&path, "swapped DID");

    // Not a DID at all: rejected before decryption.
    let (_dir, path, kp) = setup(13);
    let mangled = kp.did().to_string().replace("did:icn:", "did:icn:0");
    edit_json(&path, |doc| doc["did"] = Value::from(mangled));
    assert_corrupt(&path, "mangled DID");
}

#[test]
fn malformed_fields_are_corrupt() {
    type Edit = fn(&mut Value);
    let edits: &[(&str, Edit)] = &[
        ("version 2", |d| d["version"] = Value::from(2)),
        ("version string", |d| d["version"] = Value::from("1")),
        ("no version", |d| {
            d.as_object_mut().unwrap().remove("version");
        }),
        ("scrypt", |d| d["kdf"]["algorithm"] = Value::from("scrypt")),
        ("aes", |d| {
            d["cipher"]["algorithm"] = Value::from("aes-256-gcm")
        }),
        ("short salt", |d| d["kdf"]["salt"] = Value::from("00ff")),
        ("short nonce", |d| d["cipher"]["nonce"] = Value::from("00")),
        ("long ciphertext", |d| {
            let c = d["cipher"]["ciphertext"].as_str().unwrap().to_owned();
            d["cipher"]["ciphertext"] = Value::from(format!("{c}00"));
        }),
        ("non-hex", |d| {
            d["kdf"]["salt"] = Value::from("zz".repeat(16))
        }),
        ("huge m_cost", |d| {
            d["kdf"]["m_cost"] = Value::from(u32::MAX)
        }),
        ("zero t_cost", |d| d["kdf"]["t_cost"] = Value::from(0)),
        ("negative p_cost", |d| d["kdf"]["p_cost"] = Value::from(-1)),
        ("unknown field", |d| d["extra"] = Value::from(true)),
        ("missing cipher", |d| {
            d.as_object_mut().unwrap().remove("cipher");
        }),
    ];
    for (what, edit) in edits {
        let (_dir, path, _) = setup(14);
        edit_json(&path, edit);
        assert_corrupt(&path, what);
    }
}

#[test]
fn unsupported_version_is_named() {
    let (_dir, path, _) = setup(15);
    edit_json(&path, |d| d["version"] = Value::from(7));
    let err = Keystore::load(&path, PASS).unwrap_err();
    assert!(err.to_string().contains("version 7"), "{err}");
}

/// Re-implements the documented format from the spec in the module doc: a file whose DID is
/// correctly authenticated but belongs to another key must be reported as corrupt, and the
/// documented derivation must decrypt what `create` wrote.
#[test]
fn format_matches_documentation() {
    use argon2::{Algorithm, Argon2, Params, Version};
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    let (_dir, path, kp) = setup(16);
    let doc: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let kdf = &doc["kdf"];
    let params = Params::new(
        kdf["m_cost"].as_u64().unwrap() as u32,
        kdf["t_cost"].as_u64().unwrap() as u32,
        kdf["p_cost"].as_u64().unwrap() as u32,
        Some(32),
    )
    .unwrap();
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(PASS, &unhex(kdf["salt"].as_str().unwrap()), &mut key)
        .unwrap();
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
    let nonce = unhex(doc["cipher"]["nonce"].as_str().unwrap());
    let aad = format!("icn-identity-keystore/v1/{}", kp.did());
    let plain = cipher
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &unhex(doc["cipher"]["ciphertext"].as_str().unwrap()),
                aad: aad.as_bytes(),
            },
        )
        .unwrap();
    assert_eq!(plain, kp.secret_bytes().to_vec());

    // Seal another key's secret under this file's DID: authentic, but inconsistent.
    let intruder = crate::keypair(17);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &intruder.secret_bytes()[..],
                aad: aad.as_bytes(),
            },
        )
        .unwrap();
    let sealed_hex: String = sealed.iter().map(|b| format!("{b:02x}")).collect();
    edit_json(&path, |d| {
        d["cipher"]["ciphertext"] = Value::from(sealed_hex)
    });
    let err = Keystore::load(&path, PASS).unwrap_err();
    assert!(matches!(err, KeystoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("does not match"), "{err}");
}
