//! The passphrase-encrypted identity file, `<data-dir>/identity.key`.
//!
//! # Format (version 1)
//!
//! A small JSON document, so an operator can see what it is and which DID it holds:
//!
//! ```json
//! {
//!   "version": 1,
//!   "did": "did:icn:…",
//!   "kdf": { "algorithm": "argon2id", "m_cost": 19456, "t_cost": 2, "p_cost": 1,
//!            "salt": "<16 bytes, hex>" },
//!   "cipher": { "algorithm": "chacha20poly1305", "nonce": "<12 bytes, hex>",
//!               "ciphertext": "<48 bytes, hex>" }
//! }
//! ```
//!
//! The 32-byte key is Argon2id (v0x13) of the passphrase with the salt and the stored costs
//! (`m_cost` in KiB). It seals the 32-byte Ed25519 secret with ChaCha20-Poly1305; the
//! associated data is `icn-identity-keystore/v1/` followed by the DID string, so the clear
//! DID cannot be edited without decryption failing. Salt and nonce are fresh random bytes
//! for every file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use crate::error::KeystoreError;
use crate::{Did, Keypair, hex};

/// File name of the keystore inside the node's data directory.
pub const IDENTITY_FILE: &str = "identity.key";

const FORMAT_VERSION: u32 = 1;
const KDF_ARGON2ID: &str = "argon2id";
const AEAD_CHACHA20POLY1305: &str = "chacha20poly1305";
const AAD_PREFIX: &str = "icn-identity-keystore/v1/";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
/// 32-byte secret plus the 16-byte Poly1305 tag.
const CIPHERTEXT_LEN: usize = 48;
/// A real keystore is well under 1 KiB; the cap keeps a wrong path from being read whole.
const MAX_FILE_LEN: u64 = 64 * 1024;

/// Argon2id costs for deriving the keystore key from the passphrase.
///
/// Stored in the file, so [`Keystore::load`] always uses the costs the file was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory cost in KiB.
    pub m_cost: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Degree of parallelism (lanes).
    pub p_cost: u32,
}

impl Default for KdfParams {
    /// OWASP's Argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    fn default() -> KdfParams {
        KdfParams {
            m_cost: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

impl KdfParams {
    /// Largest accepted memory cost (4 GiB), so a crafted file cannot demand unbounded memory.
    pub const MAX_M_COST: u32 = 4 * 1024 * 1024;
    /// Largest accepted number of passes.
    pub const MAX_T_COST: u32 = 64;
    /// Largest accepted number of lanes.
    pub const MAX_P_COST: u32 = 64;

    /// The smallest costs Argon2 accepts (8 KiB, 1 pass, 1 lane): fast and offering no
    /// protection. For tests only.
    pub fn insecure_for_tests() -> KdfParams {
        KdfParams {
            m_cost: argon2::Params::MIN_M_COST,
            t_cost: 1,
            p_cost: 1,
        }
    }

    fn to_argon2(self) -> Result<argon2::Params, String> {
        if self.m_cost > Self::MAX_M_COST {
            return Err(format!(
                "m_cost {} KiB exceeds the maximum {} KiB",
                self.m_cost,
                Self::MAX_M_COST
            ));
        }
        if self.t_cost > Self::MAX_T_COST {
            return Err(format!(
                "t_cost {} exceeds the maximum {}",
                self.t_cost,
                Self::MAX_T_COST
            ));
        }
        if self.p_cost > Self::MAX_P_COST {
            return Err(format!(
                "p_cost {} exceeds the maximum {}",
                self.p_cost,
                Self::MAX_P_COST
            ));
        }
        argon2::Params::new(self.m_cost, self.t_cost, self.p_cost, Some(32))
            .map_err(|e| format!("argon2 rejects m_cost/t_cost/p_cost: {e}"))
    }
}

/// Operations on the keystore file (a namespace: it has no values).
#[derive(Debug)]
pub enum Keystore {}

impl Keystore {
    /// The keystore path inside a data directory: `<data_dir>/identity.key`.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join(IDENTITY_FILE)
    }

    /// Encrypts `keypair` under `passphrase` and writes a new keystore at `path`.
    ///
    /// The file is written to a temporary file in the same directory, synced, then linked
    /// into place only if `path` does not exist, so a crash never leaves a half-written
    /// keystore and an existing one is never replaced. On Unix the file mode is 0600.
    ///
    /// # Errors
    ///
    /// [`KeystoreError::AlreadyExists`] if `path` exists (it is left untouched),
    /// [`KeystoreError::EmptyPassphrase`], [`KeystoreError::InvalidKdfParams`], or
    /// [`KeystoreError::Io`] (e.g. the directory does not exist or is not writable).
    pub fn create(
        path: &Path,
        keypair: &Keypair,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<(), KeystoreError> {
        if passphrase.is_empty() {
            return Err(KeystoreError::EmptyPassphrase);
        }
        let argon_params = params
            .to_argon2()
            .map_err(|reason| KeystoreError::InvalidKdfParams { reason })?;
        // Fail before the (deliberately slow) key derivation; the final link re-checks.
        if fs::symlink_metadata(path).is_ok() {
            return Err(already_exists(path));
        }

        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut salt, path)?;
        fill_random(&mut nonce, path)?;

        // Argon2 only fails on parameters it rejects.
        let key = derive_key(passphrase, &salt, argon_params)
            .map_err(|reason| KeystoreError::InvalidKdfParams { reason })?;
        let did = keypair.did();
        let secret = keypair.secret_bytes();
        let ciphertext = ChaCha20Poly1305::new(Key::from_slice(&key[..]))
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &secret[..],
                    aad: associated_data(&did).as_bytes(),
                },
            )
            .map_err(|_| KeystoreError::Io {
                path: path.to_path_buf(),
                source: io::Error::other("AEAD encryption failed"),
            })?;

        let doc = FileV1 {
            version: FORMAT_VERSION,
            did: did.to_string(),
            kdf: KdfSection {
                algorithm: KDF_ARGON2ID.to_owned(),
                m_cost: params.m_cost,
                t_cost: params.t_cost,
                p_cost: params.p_cost,
                salt: hex::encode(&salt),
            },
            cipher: CipherSection {
                algorithm: AEAD_CHACHA20POLY1305.to_owned(),
                nonce: hex::encode(&nonce),
                ciphertext: hex::encode(&ciphertext),
            },
        };
        let mut text = serde_json::to_string_pretty(&doc).map_err(|e| KeystoreError::Io {
            path: path.to_path_buf(),
            source: io::Error::other(e),
        })?;
        text.push('\n');
        write_new_atomically(path, text.as_bytes())
    }

    /// Decrypts the keystore at `path` with `passphrase`. Never modifies the file.
    ///
    /// # Errors
    ///
    /// [`KeystoreError::NotFound`], [`KeystoreError::WrongPassphrase`] (also returned when the
    /// sealed data or the DID was edited, which is indistinguishable),
    /// [`KeystoreError::Corrupt`], [`KeystoreError::EmptyPassphrase`] or
    /// [`KeystoreError::Io`].
    pub fn load(path: &Path, passphrase: &[u8]) -> Result<Keypair, KeystoreError> {
        if passphrase.is_empty() {
            return Err(KeystoreError::EmptyPassphrase);
        }
        let sealed = read_sealed(path)?;
        let argon_params = sealed.params.to_argon2().map_err(|r| corrupt(path, r))?;
        let key =
            derive_key(passphrase, &sealed.salt, argon_params).map_err(|r| corrupt(path, r))?;
        let plaintext = ChaCha20Poly1305::new(Key::from_slice(&key[..]))
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: associated_data(&sealed.did).as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| KeystoreError::WrongPassphrase {
                path: path.to_path_buf(),
            })?;
        let secret: Zeroizing<[u8; 32]> = Zeroizing::new(
            plaintext
                .as_slice()
                .try_into()
                .map_err(|_| corrupt(path, "decrypted secret is not 32 bytes"))?,
        );
        let keypair = Keypair::from_secret_bytes(&secret);
        if keypair.did() != sealed.did {
            return Err(corrupt(
                path,
                format!(
                    "the stored DID {} does not match the decrypted key ({})",
                    sealed.did,
                    keypair.did()
                ),
            ));
        }
        Ok(keypair)
    }

    /// Reads the DID stored in clear in the keystore, without the passphrase.
    ///
    /// The whole file is validated except the sealed secret, so this DID is not
    /// authenticated: [`Keystore::load`] is what detects an edited DID.
    ///
    /// # Errors
    ///
    /// [`KeystoreError::NotFound`], [`KeystoreError::Corrupt`] or [`KeystoreError::Io`].
    pub fn read_did(path: &Path) -> Result<Did, KeystoreError> {
        Ok(read_sealed(path)?.did)
    }
}

/// The on-disk document, version 1.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV1 {
    version: u32,
    did: String,
    kdf: KdfSection,
    cipher: CipherSection,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfSection {
    algorithm: String,
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CipherSection {
    algorithm: String,
    nonce: String,
    ciphertext: String,
}

/// Read first, leniently, so a future version is reported as such rather than as a field
/// this version does not know.
#[derive(Deserialize)]
struct VersionProbe {
    version: u32,
}

/// A parsed and validated keystore, before decryption.
struct Sealed {
    did: Did,
    params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    ciphertext: [u8; CIPHERTEXT_LEN],
}

fn corrupt(path: &Path, reason: impl Into<String>) -> KeystoreError {
    KeystoreError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn already_exists(path: &Path) -> KeystoreError {
    KeystoreError::AlreadyExists {
        path: path.to_path_buf(),
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> KeystoreError + '_ {
    move |source| KeystoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn associated_data(did: &Did) -> String {
    format!("{AAD_PREFIX}{did}")
}

fn fill_random(buf: &mut [u8], path: &Path) -> Result<(), KeystoreError> {
    OsRng
        .try_fill_bytes(buf)
        .map_err(|e| io_error(path)(io::Error::other(e)))
}

fn derive_key(
    passphrase: &[u8],
    salt: &[u8],
    params: argon2::Params,
) -> Result<Zeroizing<[u8; 32]>, String> {
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, salt, &mut key[..])
        .map_err(|e| format!("argon2 failed: {e}"))?;
    Ok(key)
}

fn read_sealed(path: &Path) -> Result<Sealed, KeystoreError> {
    let file = File::open(path).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            KeystoreError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            io_error(path)(source)
        }
    })?;
    let mut raw = Vec::new();
    file.take(MAX_FILE_LEN + 1)
        .read_to_end(&mut raw)
        .map_err(io_error(path))?;
    if raw.len() as u64 > MAX_FILE_LEN {
        return Err(corrupt(
            path,
            format!("larger than {MAX_FILE_LEN} bytes; not a keystore"),
        ));
    }
    parse_sealed(&raw).map_err(|reason| corrupt(path, reason))
}

fn parse_sealed(raw: &[u8]) -> Result<Sealed, String> {
    let probe: VersionProbe =
        serde_json::from_slice(raw).map_err(|e| format!("not a keystore JSON document: {e}"))?;
    if probe.version != FORMAT_VERSION {
        return Err(format!(
            "unsupported format version {} (this build reads version {FORMAT_VERSION})",
            probe.version
        ));
    }
    let doc: FileV1 = serde_json::from_slice(raw).map_err(|e| format!("invalid document: {e}"))?;
    if doc.kdf.algorithm != KDF_ARGON2ID {
        return Err(format!(
            "unsupported kdf {:?} (expected {KDF_ARGON2ID:?})",
            doc.kdf.algorithm
        ));
    }
    if doc.cipher.algorithm != AEAD_CHACHA20POLY1305 {
        return Err(format!(
            "unsupported cipher {:?} (expected {AEAD_CHACHA20POLY1305:?})",
            doc.cipher.algorithm
        ));
    }
    let did: Did = doc
        .did
        .parse()
        .map_err(|e| format!("invalid did field: {e}"))?;
    let params = KdfParams {
        m_cost: doc.kdf.m_cost,
        t_cost: doc.kdf.t_cost,
        p_cost: doc.kdf.p_cost,
    };
    params.to_argon2()?;
    Ok(Sealed {
        did,
        params,
        salt: hex::decode_array(&doc.kdf.salt).map_err(|e| format!("invalid salt: {e}"))?,
        nonce: hex::decode_array(&doc.cipher.nonce).map_err(|e| format!("invalid nonce: {e}"))?,
        ciphertext: hex::decode_array(&doc.cipher.ciphertext)
            .map_err(|e| format!("invalid ciphertext: {e}"))?,
    })
}

/// Removes the temporary file unless it has been renamed into place.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: a leftover temporary file is harmless and is never read back.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes `contents` to a new file at `path`, all or nothing, never replacing an existing file.
fn write_new_atomically(path: &Path, contents: &[u8]) -> Result<(), KeystoreError> {
    let file_name = path.file_name().ok_or_else(|| {
        io_error(path)(io::Error::new(
            io::ErrorKind::InvalidInput,
            "keystore path has no file name",
        ))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut suffix = [0u8; 8];
    fill_random(&mut suffix, path)?;
    let mut tmp = TempFile {
        path: dir.join(format!(
            ".{}.tmp-{}",
            file_name.to_string_lossy(),
            hex::encode(&suffix)
        )),
        armed: false,
    };

    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp.path).map_err(io_error(&tmp.path))?;
    tmp.armed = true;
    file.write_all(contents).map_err(io_error(&tmp.path))?;
    file.sync_all().map_err(io_error(&tmp.path))?;
    drop(file);

    // A hard link fails if the target exists, unlike rename, which would replace it.
    match fs::hard_link(&tmp.path, path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(already_exists(path)),
        Err(_) => {
            // The filesystem does not do hard links: check, then rename (racy only against
            // another writer creating the same file in between).
            if fs::symlink_metadata(path).is_ok() {
                return Err(already_exists(path));
            }
            fs::rename(&tmp.path, path).map_err(io_error(path))?;
            tmp.armed = false;
        }
    }
    drop(tmp);
    sync_dir(dir);
    Ok(())
}

/// Makes the new directory entry durable. Best effort: the file is already complete, and
/// some filesystems refuse to sync directories.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_params_are_owasp() {
        let p = KdfParams::default();
        assert_eq!((p.m_cost, p.t_cost, p.p_cost), (19456, 2, 1));
        assert!(p.to_argon2().is_ok());
        assert!(KdfParams::insecure_for_tests().to_argon2().is_ok());
    }

    #[test]
    fn params_out_of_range_are_rejected() {
        let too_big = KdfParams {
            m_cost: KdfParams::MAX_M_COST + 1,
            ..KdfParams::default()
        };
        assert!(too_big.to_argon2().is_err());
        let too_small = KdfParams {
            m_cost: 1,
            ..KdfParams::default()
        };
        assert!(too_small.to_argon2().is_err());
        let no_passes = KdfParams {
            t_cost: 0,
            ..KdfParams::default()
        };
        assert!(no_passes.to_argon2().is_err());
    }

    #[test]
    fn future_version_is_named() {
        let Err(reason) = parse_sealed(br#"{"version": 2, "something": "new"}"#) else {
            panic!("version 2 accepted");
        };
        assert!(reason.contains("unsupported format version 2"), "{reason}");
    }
}
