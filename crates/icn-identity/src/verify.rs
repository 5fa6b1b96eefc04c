//! Which Ed25519 signatures ICN accepts, checked one at a time or in batches.
//!
//! A signature is accepted under the rules of [ZIP-215]: `s` is canonical, `R` is any encoding
//! that decompresses to a curve point, and the cofactored equation `[8](sB − R − kA) = 0` holds.
//! The signer's key is held to more: a [`Did`] is a canonical, non-weak point, checked when it
//! is parsed. These are the rules under which checking a batch of signatures accepts exactly
//! what checking each alone accepts, so whether a node checks an entry or an op alone or in a
//! batch never changes whether it is accepted (with dalek's `verify_strict` a batch could accept
//! a signature that a single check refuses, and nodes would disagree).
//!
//! - **Alone** ([`Did::verify`]): dalek's `verify_strict` first, the fast path (every signature
//!   it accepts, ZIP-215 accepts too); `ed25519-zebra` (the Zcash Foundation's ZIP-215
//!   implementation) decides only when it refuses.
//! - **In a batch** ([`verify_batch`]): `ed25519-zebra`'s batch verifier, one random linear
//!   combination checked with one multiscalar multiplication (on curve25519-dalek's AVX2
//!   backend where the CPU has it), in which signatures by one key share a term. Measured here,
//!   µs per signature by one key: 35 in a batch of 3, 29 of 4, 18 of 64, against 47–60 alone
//!   (journal `2026-11-25-throughput-floor.md`). When a batch fails, each of its signatures is
//!   checked alone, so a bad signature costs its sender a single check, not the batch.
//!
//! The batch's random coefficients come from the OS-seeded thread RNG, never from a protocol
//! core's seeded RNG: they must be unpredictable to whoever crafted the signatures. The answer
//! does not depend on them (a batch holding a bad signature passes with probability 2⁻¹²⁸), so a
//! core that checks signatures in batches still replays the same run from the same seed.
//!
//! [ZIP-215]: https://zips.z.cash/zip-0215

use ed25519_dalek::VerifyingKey;

use crate::{Did, IdentityError, Signature};

/// Batches smaller than this are checked one signature at a time (a batch of 2 already costs
/// less per signature than two single checks).
pub const MIN_BATCH: usize = 2;

/// Checks `sig` over `msg` by `key` (the key of `did`).
pub(crate) fn verify_one(
    did: &Did,
    key: &VerifyingKey,
    msg: &[u8],
    sig: &Signature,
) -> Result<(), IdentityError> {
    let bytes = sig.to_bytes();
    if key
        .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&bytes))
        .is_ok()
    {
        return Ok(());
    }
    let key = ed25519_zebra::VerificationKey::try_from(*did.as_bytes())
        .map_err(|_| IdentityError::InvalidPublicKey)?;
    key.verify(&ed25519_zebra::Signature::from(bytes), msg)
        .map_err(|_| IdentityError::InvalidSignature)
}

/// Checks every `(signer, message, signature)` item; the result of an item is the one
/// [`Did::verify`] gives for it.
pub fn verify_batch(items: &[(&Did, &[u8], &Signature)]) -> Vec<Result<(), IdentityError>> {
    if items.len() >= MIN_BATCH {
        let mut batch = ed25519_zebra::batch::Verifier::new();
        for (did, msg, sig) in items {
            batch.queue((
                ed25519_zebra::VerificationKeyBytes::from(*did.as_bytes()),
                ed25519_zebra::Signature::from(sig.to_bytes()),
                *msg,
            ));
        }
        if batch.verify(rand::thread_rng()).is_ok() {
            return items.iter().map(|_| Ok(())).collect();
        }
    }
    items
        .iter()
        .map(|(did, msg, sig)| did.verify(msg, sig))
        .collect()
}

/// A signature to check: the signer, the signed message, the signature.
pub type Signed = (Did, Vec<u8>, Signature);

/// Checks, as one batch, the signatures `signed` picks out of `items` (`None`: no check for
/// that item), and answers in place: each picked item's result is the one [`Did::verify`]
/// gives for it, the others are `None`.
pub fn verify_batch_where<T>(
    items: &[T],
    signed: impl Fn(&T) -> Option<Signed>,
) -> Vec<Option<Result<(), IdentityError>>> {
    let picked: Vec<(usize, Signed)> = items
        .iter()
        .enumerate()
        .filter_map(|(at, item)| Some((at, signed(item)?)))
        .collect();
    let batch: Vec<(&Did, &[u8], &Signature)> = picked
        .iter()
        .map(|(_, (did, msg, sig))| (did, msg.as_slice(), sig))
        .collect();
    let mut out: Vec<Option<Result<(), IdentityError>>> = items.iter().map(|_| None).collect();
    for ((at, _), result) in picked.iter().zip(verify_batch(&batch)) {
        out[*at] = Some(result);
    }
    out
}

#[cfg(test)]
mod tests;
