//! Decompressed public keys of recently seen DIDs.
//!
//! Checking 32 bytes as a DID (decompress the point, check its encoding is canonical and it is
//! not of small order) costs about as much as half a signature verification, and every decoded
//! message carries DIDs: authors, payers, payees. A network has few distinct keys, so the
//! checked keys are kept in a bounded process-wide cache; a hit costs a hash lookup. Only valid
//! keys are cached, so junk keys cannot evict them by being refused.

use std::sync::OnceLock;

use ed25519_dalek::VerifyingKey;
use quick_cache::sync::Cache;

/// Keys kept (about 200 bytes each).
pub const CAPACITY: usize = 8192;

fn cache() -> &'static Cache<[u8; 32], VerifyingKey> {
    static KEYS: OnceLock<Cache<[u8; 32], VerifyingKey>> = OnceLock::new();
    KEYS.get_or_init(|| Cache::new(CAPACITY))
}

/// The key behind `bytes` if they are a canonical, non-weak Ed25519 public key; otherwise
/// which check failed.
pub(crate) fn checked_key(bytes: &[u8; 32]) -> Result<VerifyingKey, &'static str> {
    if let Some(key) = cache().get(bytes) {
        return Ok(key);
    }
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| "not a point on the curve")?;
    // Decompression accepts some non-canonical encodings; two strings for one key would break
    // equality, so only the canonical one is allowed.
    if key.to_edwards().compress().to_bytes() != *bytes {
        return Err("non-canonical point encoding");
    }
    if key.is_weak() {
        return Err("weak (small-order) key");
    }
    cache().insert(*bytes, key);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;

    #[test]
    fn answers_are_the_same_from_the_cache() {
        let key = Keypair::generate();
        let bytes = key.public_key_bytes();
        let first = checked_key(&bytes).unwrap();
        assert!(cache().get(&bytes).is_some(), "a valid key is kept");
        assert_eq!(checked_key(&bytes).unwrap(), first);

        let mut weak = [0u8; 32];
        weak[0] = 1;
        for _ in 0..2 {
            assert_eq!(checked_key(&weak), Err("weak (small-order) key"));
        }
        assert!(cache().get(&weak).is_none(), "a refused key is never kept");
    }

    #[test]
    fn a_cached_key_still_verifies_only_its_own_signatures() {
        let (a, b) = (Keypair::generate(), Keypair::generate());
        let msg = b"cached";
        let sig = a.sign(msg);
        for _ in 0..2 {
            assert!(a.did().verify(msg, &sig).is_ok());
            assert!(b.did().verify(msg, &sig).is_err());
        }
    }
}
