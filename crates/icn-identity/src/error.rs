//! The crate's error types: [`IdentityError`] for in-memory key operations and
//! [`KeystoreError`] for the keystore file and passphrase sources.

use std::io;
use std::path::PathBuf;

/// Failure of an identity operation that does not touch the keystore file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The signature does not verify for this message and public key.
    #[error("invalid signature")]
    InvalidSignature,
    /// The public key bytes do not decode to a usable Ed25519 key.
    #[error("invalid Ed25519 public key")]
    InvalidPublicKey,
    /// Encoding the secret key as PKCS#8 DER failed.
    #[error("cannot encode the secret key as PKCS#8: {reason}")]
    Pkcs8 {
        /// What the encoder reported.
        reason: String,
    },
}

/// Errors of the keystore and of reading a passphrase.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// There is no keystore file at the path.
    #[error("identity keystore not found at {}", .path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// [`Keystore::create`](crate::Keystore::create) found a file already at the path and
    /// left it untouched.
    #[error("identity keystore {} already exists; refusing to overwrite it", .path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// Decryption failed: the passphrase is wrong, or the sealed part of the file (or its
    /// DID) was modified.
    #[error(
        "wrong passphrase for identity keystore {} (or the file has been tampered with)",
        .path.display()
    )]
    WrongPassphrase {
        /// The keystore file.
        path: PathBuf,
    },
    /// The file is not a keystore this build can read.
    #[error("identity keystore {} is corrupt: {reason}", .path.display())]
    Corrupt {
        /// The keystore file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An operating-system error while reading or writing the file.
    #[error("I/O error on {}: {source}", .path.display())]
    Io {
        /// The file (or temporary file) the operation was on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The passphrase is empty; empty passphrases are refused.
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// No passphrase source was given and stdin is not a terminal to prompt on.
    #[error(
        "no passphrase available: pass --password-file <FILE> or set ICN_PASSPHRASE_FILE \
         (stdin is not a terminal, so there is no prompt)"
    )]
    NoPassphrase,
    /// The passphrase file could not be read.
    #[error("cannot read passphrase file {}: {source}", .path.display())]
    PassphraseFile {
        /// The passphrase file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The two passphrases typed at the confirmation prompt differ.
    #[error("the passphrases do not match")]
    PassphraseMismatch,
    /// Reading the passphrase from the terminal failed.
    #[error("cannot read the passphrase from the terminal")]
    Prompt {
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// [`Keystore::create`](crate::Keystore::create) was given KDF costs outside the accepted
    /// range.
    #[error("invalid key-derivation parameters: {reason}")]
    InvalidKdfParams {
        /// Which bound was violated.
        reason: String,
    },
}
