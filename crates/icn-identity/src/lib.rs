//! Node identity: Ed25519 keypairs, `did:icn:` identifiers and the encrypted keystore.
//!
//! Every ICN node is identified by an Ed25519 public key, written as a [`Did`]
//! (`did:icn:` followed by the base58btc encoding of the 32 key bytes). The secret half lives
//! in a [`Keypair`] in memory and, at rest, in `<data-dir>/identity.key`, encrypted under a
//! passphrase (argon2id + ChaCha20-Poly1305).
//!
//! # Layout
//!
//! - `did`: the [`Did`] type, its string form, parse errors and serde encoding.
//! - `keypair`: the [`Keypair`] that signs, exports PKCS#8 for TLS, and zeroizes its secret.
//! - `signature`: the 64-byte [`Signature`] value type and its serde encoding.
//! - [`verify`]: which signatures are accepted (ZIP-215), alone or in batches.
//! - `error`: [`IdentityError`] (signatures, key export) and [`KeystoreError`] (keystore file,
//!   passphrases).
//! - [`keystore`]: the passphrase-encrypted `identity.key` file format (create, load, read DID).
//! - [`passphrase`]: where the keystore passphrase comes from (file flag, env file, TTY prompt).

mod did;
mod error;
mod hex;
mod key_cache;
mod keypair;
pub mod keystore;
pub mod passphrase;
mod signature;
pub mod verify;

pub use did::{DID_PREFIX, Did, DidParseError};
pub use error::{IdentityError, KeystoreError};
pub use keypair::Keypair;
pub use keystore::{IDENTITY_FILE, KdfParams, Keystore};
pub use passphrase::{PassphraseSource, resolve_passphrase};
pub use signature::Signature;
pub use verify::{verify_batch, verify_batch_where};
