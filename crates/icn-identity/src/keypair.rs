//! The node's signing keypair.

use std::fmt;

use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::{Signer, SigningKey};
use rand::rngs::OsRng;
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::{Did, IdentityError, Signature};

/// An Ed25519 signing keypair.
///
/// The secret is zeroized when the value (or any clone of it) is dropped, and `Debug` prints
/// only the [`Did`]. Getting the secret out takes an explicit call to
/// [`Keypair::secret_bytes`] or [`Keypair::pkcs8_der`], both of which return zeroizing buffers.
#[derive(Clone)]
pub struct Keypair {
    // `SigningKey` zeroizes its secret on drop (ed25519-dalek `zeroize` feature).
    signing: SigningKey,
}

impl Keypair {
    /// Generates a fresh keypair from the operating system's random number generator.
    pub fn generate() -> Keypair {
        Keypair::generate_with(&mut OsRng)
    }

    /// Generates a keypair from the given cryptographic RNG (seeded RNGs make tests
    /// deterministic).
    pub fn generate_with(rng: &mut (impl CryptoRng + RngCore)) -> Keypair {
        Keypair {
            signing: SigningKey::generate(rng),
        }
    }

    /// Rebuilds a keypair from its 32-byte secret (the Ed25519 seed).
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(secret),
        }
    }

    /// A copy of the 32-byte secret, wiped when the returned buffer is dropped.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// This keypair's public identifier.
    pub fn did(&self) -> Did {
        Did::from_verifying_key(&self.signing.verifying_key())
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Signs `msg` (pure Ed25519, deterministic).
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature::from_bytes(&self.signing.sign(msg).to_bytes())
    }

    /// The key as PKCS#8 v2 DER (RFC 8410, including the public key), as TLS libraries such
    /// as rcgen and rustls expect it. The buffer is wiped when dropped.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Pkcs8`] if the DER encoder fails (it does not for valid keys).
    pub fn pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
        // `SecretDocument` zeroizes its own buffer on drop.
        let doc = self
            .signing
            .to_pkcs8_der()
            .map_err(|e| IdentityError::Pkcs8 {
                reason: e.to_string(),
            })?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("did", &self.did())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::DecodePrivateKey;

    #[test]
    fn pkcs8_round_trips_and_is_v2() {
        let kp = Keypair::generate();
        let der = kp.pkcs8_der().expect("encode");
        let back = SigningKey::from_pkcs8_der(&der).expect("decode");
        assert_eq!(back.to_bytes(), *kp.secret_bytes());
        // v2 (OneAsymmetricKey) carries the public key, which ring requires.
        let pk = kp.public_key_bytes();
        assert!(der.windows(32).any(|w| w == pk), "public key not in DER");
    }
}
