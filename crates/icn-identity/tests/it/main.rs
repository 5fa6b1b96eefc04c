//! Integration tests of icn-identity's public API (one test binary, see STYLE.md).

// Helpers outside `#[test]` functions unwrap too; clippy's in-test exemption misses them.
#![allow(clippy::unwrap_used)]

mod did;
mod keypair;
mod keystore;
mod passphrase;
mod serde_enc;

use icn_identity::Keypair;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A deterministic keypair for `seed`.
pub fn keypair(seed: u64) -> Keypair {
    Keypair::generate_with(&mut StdRng::seed_from_u64(seed))
}
