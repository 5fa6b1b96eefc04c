//! `did:icn:` identifiers: the public half of a node identity.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{IdentityError, Signature};

/// The prefix of every ICN DID string.
pub const DID_PREFIX: &str = "did:icn:";

/// Base58 of 32 bytes is at most 44 characters. Inputs up to twice that are decoded so a
/// near miss reports its byte length; longer ones are rejected before decoding (base58
/// decoding is quadratic in the input length).
const MAX_ENCODED_LEN: usize = 88;

/// Number of base58 characters [`Did::short`] keeps.
const SHORT_LEN: usize = 12;

/// A node identifier: an Ed25519 public key, written `did:icn:<base58btc of the 32 bytes>`.
///
/// A `Did` always holds a valid, canonically encoded, non-weak Ed25519 point: every
/// constructor checks this, so [`Did::verify`] never fails because of the key itself.
///
/// Serde: the DID string in human-readable formats (JSON, TOML), the 32 raw bytes in binary
/// formats (bincode). Deserialization validates the key.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Did([u8; 32]);

/// Why a string or byte array is not a valid [`Did`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DidParseError {
    /// The string does not start with `did:icn:`.
    #[error("DID must start with `{DID_PREFIX}`")]
    MissingPrefix,
    /// The part after the prefix is not base58btc.
    #[error("DID is not valid base58: {0}")]
    InvalidBase58(#[source] bs58::decode::Error),
    /// The base58 part is far longer than any 32-byte key encodes to (not decoded).
    #[error("DID is too long: {len} base58 characters (a key needs at most 44)")]
    TooLong {
        /// Number of characters after the prefix.
        len: usize,
    },
    /// The decoded key is not 32 bytes long.
    #[error("DID key must be 32 bytes, got {len}")]
    InvalidLength {
        /// Number of decoded bytes.
        len: usize,
    },
    /// The 32 bytes are not a usable Ed25519 public key.
    #[error("DID bytes are not a valid Ed25519 public key: {reason}")]
    InvalidKey {
        /// Which check failed.
        reason: &'static str,
    },
}

impl Did {
    /// Builds a DID from a 32-byte Ed25519 public key.
    ///
    /// # Errors
    ///
    /// [`DidParseError::InvalidKey`] if the bytes are not a point on the curve, are a
    /// non-canonical encoding of one, or are a weak (small-order) key that `verify_strict`
    /// would reject for every signature.
    pub fn from_public_key_bytes(bytes: &[u8; 32]) -> Result<Did, DidParseError> {
        crate::key_cache::checked_key(bytes)
            .map(|_| Did(*bytes))
            .map_err(|reason| DidParseError::InvalidKey { reason })
    }

    /// Wraps bytes already known to be a valid key (taken from a signing key).
    pub(crate) fn from_verifying_key(key: &VerifyingKey) -> Did {
        Did(key.to_bytes())
    }

    /// The 32 public-key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Checks `sig` over `msg` with this DID's key, under the rules of [`crate::verify`]
    /// (ZIP-215: the rules under which [`crate::verify_batch`] agrees with this check).
    ///
    /// # Errors
    ///
    /// [`IdentityError::InvalidSignature`] if the signature does not verify.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<(), IdentityError> {
        let key =
            crate::key_cache::checked_key(&self.0).map_err(|_| IdentityError::InvalidPublicKey)?;
        crate::verify::verify_one(self, &key, msg, sig)
    }

    /// The first few base58 characters (after the prefix), for log lines.
    pub fn short(&self) -> String {
        let mut s = bs58::encode(&self.0).into_string();
        s.truncate(SHORT_LEN);
        s
    }
}

impl fmt::Display for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{DID_PREFIX}{}", bs58::encode(&self.0).into_string())
    }
}

impl fmt::Debug for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Did {
    type Err = DidParseError;

    fn from_str(s: &str) -> Result<Did, DidParseError> {
        let encoded = s
            .strip_prefix(DID_PREFIX)
            .ok_or(DidParseError::MissingPrefix)?;
        if encoded.len() > MAX_ENCODED_LEN {
            return Err(DidParseError::TooLong { len: encoded.len() });
        }
        let bytes = bs58::decode(encoded)
            .into_vec()
            .map_err(DidParseError::InvalidBase58)?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| DidParseError::InvalidLength { len: bytes.len() })?;
        Did::from_public_key_bytes(&bytes)
    }
}

impl Serialize for Did {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Did {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Did, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(DidVisitor)
        } else {
            deserializer.deserialize_bytes(DidVisitor)
        }
    }
}

struct DidVisitor;

impl<'de> Visitor<'de> for DidVisitor {
    type Value = Did;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a `did:icn:` string or 32 Ed25519 public-key bytes")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Did, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Did, E> {
        let bytes: &[u8; 32] = v
            .try_into()
            .map_err(|_| E::invalid_length(v.len(), &self))?;
        Did::from_public_key_bytes(bytes).map_err(E::custom)
    }

    // Some binary formats hand byte strings over as sequences of u8.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Did, A::Error> {
        let bytes = crate::signature::visit_byte_seq::<32, A>(seq, &self)?;
        Did::from_public_key_bytes(&bytes).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_weak_key() {
        // The identity point (y = 1) is on the curve but has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(VerifyingKey::from_bytes(&identity).is_ok());
        assert_eq!(
            Did::from_public_key_bytes(&identity),
            Err(DidParseError::InvalidKey {
                reason: "weak (small-order) key"
            })
        );
    }

    #[test]
    fn rejects_non_canonical_encoding() {
        // y = p + 1 (p = 2^255 - 19) decompresses to the same point as y = 1, but it is not
        // the canonical encoding.
        let mut bytes = [0xffu8; 32];
        bytes[0] = 0xee;
        bytes[31] = 0x7f;
        assert!(VerifyingKey::from_bytes(&bytes).is_ok());
        assert_eq!(
            Did::from_public_key_bytes(&bytes),
            Err(DidParseError::InvalidKey {
                reason: "non-canonical point encoding"
            })
        );
    }
}
