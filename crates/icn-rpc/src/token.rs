//! The RPC token: a random secret the node writes to `<data-dir>/rpc.token` (mode 0600) and every
//! client presents as `Authorization: Bearer <token>`.
//!
//! Whoever can read the data directory can drive the node, exactly like bitcoind's cookie file; a
//! fresh token is made at every start, so a token leaked from an old run is worthless.

use std::path::{Path, PathBuf};

use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::files::{FileError, write_private_atomic};

/// Name of the token file inside the data directory.
pub const TOKEN_FILE: &str = "rpc.token";

/// Random bytes in a token (64 hex characters).
const TOKEN_BYTES: usize = 32;

/// A bearer token for the control API. Its `Debug` output never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct RpcToken {
    /// Lowercase hex of [`TOKEN_BYTES`] random bytes.
    hex: String,
}

/// A token file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read.
    #[error(transparent)]
    File(#[from] FileError),
    /// The file does not hold a token of the expected shape.
    #[error(
        "{} does not hold an RPC token (expected {} hex characters)",
        path.display(),
        TOKEN_BYTES * 2
    )]
    Malformed {
        /// The file.
        path: PathBuf,
    },
}

impl RpcToken {
    /// A new token from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let hex = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self { hex }
    }

    /// Writes the token to `<data_dir>/rpc.token` with mode 0600, atomically replacing any token
    /// of an earlier run. Returns the file's path.
    ///
    /// # Errors
    /// [`FileError`] when the file cannot be written.
    pub fn write_to(&self, data_dir: &Path) -> Result<PathBuf, FileError> {
        write_private_atomic(data_dir, TOKEN_FILE, &self.hex)
    }

    /// Reads a token file (surrounding whitespace ignored).
    ///
    /// # Errors
    /// [`TokenError::File`] when the file cannot be read, [`TokenError::Malformed`] when it does
    /// not hold 64 hex characters.
    pub fn read(path: &Path) -> Result<Self, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|e| FileError::read(path, e))?;
        Self::parse(text.trim()).ok_or_else(|| TokenError::Malformed {
            path: path.to_path_buf(),
        })
    }

    /// Parses a token's text form; `None` unless it is exactly 64 hex characters.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = text.len() == TOKEN_BYTES * 2 && text.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| Self {
            hex: text.to_ascii_lowercase(),
        })
    }

    /// The secret, as sent in the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.hex
    }

    /// Whether `candidate` is this token, in time independent of where they differ.
    ///
    /// The length is not secret (always 64), so a candidate of another length fails at once.
    pub fn verify(&self, candidate: &str) -> bool {
        bool::from(self.hex.as_bytes().ct_eq(candidate.as_bytes()))
    }
}

impl std::fmt::Debug for RpcToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RpcToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn generated_tokens_are_64_hex_and_distinct() {
        let a = RpcToken::generate();
        let b = RpcToken::generate();
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(a.verify(a.expose()));
        assert!(!a.verify(b.expose()));
        assert!(!a.verify(""));
        assert!(!a.verify(&a.expose()[..63]));
    }

    #[test]
    fn debug_hides_the_secret() {
        let t = RpcToken::generate();
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn parse_rejects_wrong_shapes() {
        assert!(RpcToken::parse("abc").is_none());
        assert!(RpcToken::parse(&"g".repeat(64)).is_none());
        let upper = "AB".repeat(32);
        assert_eq!(RpcToken::parse(&upper).unwrap().expose(), "ab".repeat(32));
    }

    #[test]
    fn write_then_read_round_trips_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let first = RpcToken::generate();
        let path = first.write_to(dir.path()).unwrap();
        assert_eq!(path, dir.path().join(TOKEN_FILE));
        assert_eq!(RpcToken::read(&path).unwrap(), first);
        let second = RpcToken::generate();
        second.write_to(dir.path()).unwrap();
        assert_eq!(RpcToken::read(&path).unwrap(), second);
    }

    #[test]
    fn malformed_and_missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOKEN_FILE);
        let missing = RpcToken::read(&path).unwrap_err();
        assert!(matches!(missing, TokenError::File(_)));
        assert!(missing.to_string().contains(TOKEN_FILE));
        std::fs::write(&path, "hunter2\n").unwrap();
        let bad = RpcToken::read(&path).unwrap_err();
        assert!(matches!(bad, TokenError::Malformed { .. }));
        assert!(bad.to_string().contains("RPC token"), "{bad}");
    }
}
