//! The gossip payload of topic `icn/ledger`: one op, or several ops of one author in one entry.
//!
//! A node publishes the own ops of one local batch together, so a burst of payments costs one
//! entry signature, one gossip store write and one announce instead of one of each per op.
//! Every op keeps its own signature and is validated on its own; the entry is only transport.
//!
//! ```text
//! one op:      SignedOp::encode()        (its first byte is the Op variant: 0, 1 or 2)
//! several ops: 0x42                      BATCH_TAG, never the first byte of one op
//!              count:u16 LE              2..=MAX_OPS_PER_PAYLOAD
//!              count × (len:u16 LE, SignedOp::encode())
//! ```
//! Fixed-width counts and lengths, and canonical ops, give a list of ops exactly one payload;
//! one op always travels in the first form.

use std::ops::Range;

use crate::{OpError, SignedOp};

/// First byte of a payload holding several ops.
pub const BATCH_TAG: u8 = 0x42;

/// Most ops one payload may hold.
pub const MAX_OPS_PER_PAYLOAD: usize = 1024;

/// Bytes of a batch payload before its first op: tag and count.
const HEADER: usize = 3;
/// Bytes before each op of a batch payload: its length.
const LEN_PREFIX: usize = 2;

fn malformed(reason: impl Into<String>) -> OpError {
    OpError::Malformed {
        reason: reason.into(),
    }
}

/// Parses a payload into its ops (each at most `max_op_bytes`, never more than
/// [`crate::MAX_OP_BYTES`]). Does not verify signatures.
///
/// # Errors
/// The first op's [`OpError`] that does not decode ([`SignedOp::decode`]);
/// [`OpError::Malformed`] for a batch with fewer than 2 or more than
/// [`MAX_OPS_PER_PAYLOAD`] ops, a length past the end, or trailing bytes.
pub fn decode_payload(bytes: &[u8], max_op_bytes: usize) -> Result<Vec<SignedOp>, OpError> {
    if bytes.first() != Some(&BATCH_TAG) {
        return SignedOp::decode(bytes, max_op_bytes).map(|op| vec![op]);
    }
    let Some(count) = read_u16(bytes, 1) else {
        return Err(malformed("batch without a count"));
    };
    if !(2..=MAX_OPS_PER_PAYLOAD).contains(&count) {
        return Err(malformed(format!("batch of {count} ops")));
    }
    let mut ops = Vec::with_capacity(count);
    let mut at = HEADER;
    for _ in 0..count {
        let Some(len) = read_u16(bytes, at) else {
            return Err(malformed("batch ends inside an op length"));
        };
        let start = at + LEN_PREFIX;
        let Some(op) = bytes.get(start..start + len) else {
            return Err(malformed("batch ends inside an op"));
        };
        ops.push(SignedOp::decode(op, max_op_bytes)?);
        at = start + len;
    }
    if at != bytes.len() {
        return Err(malformed(format!("{} trailing bytes", bytes.len() - at)));
    }
    Ok(ops)
}

fn read_u16(bytes: &[u8], at: usize) -> Option<usize> {
    let pair = bytes.get(at..at + 2)?;
    Some(usize::from(u16::from_le_bytes([pair[0], pair[1]])))
}

/// Packs `ops`, in order, into as few payloads as fit `max_bytes` each (and
/// [`MAX_OPS_PER_PAYLOAD`] ops); returns each payload with the range of `ops` it holds. An op
/// alone is in its own wire form, so an op larger than `max_bytes` still gets a payload.
pub fn pack(ops: &[SignedOp], max_bytes: usize) -> Vec<(Range<usize>, Vec<u8>)> {
    let encoded: Vec<Vec<u8>> = ops.iter().map(SignedOp::encode).collect();
    pack_encoded(&encoded, max_bytes)
}

/// [`pack`] for ops already in their wire form ([`SignedOp::encode`]).
pub fn pack_encoded(encoded: &[Vec<u8>], max_bytes: usize) -> Vec<(Range<usize>, Vec<u8>)> {
    let mut packed = Vec::new();
    let mut run_bytes = HEADER;
    let mut start = 0;
    for (i, op) in encoded.iter().enumerate() {
        let cost = LEN_PREFIX + op.len();
        let run = i - start;
        if run > 0 && (run_bytes + cost > max_bytes || run == MAX_OPS_PER_PAYLOAD) {
            packed.push((start..i, payload_of(&encoded[start..i], run_bytes)));
            run_bytes = HEADER;
            start = i;
        }
        run_bytes += cost;
    }
    if start < encoded.len() {
        packed.push((
            start..encoded.len(),
            payload_of(&encoded[start..], run_bytes),
        ));
    }
    packed
}

/// The payload of a run of encoded ops (`bytes`: its batch size).
fn payload_of(run: &[Vec<u8>], bytes: usize) -> Vec<u8> {
    if let [op] = run {
        return op.clone();
    }
    let mut out = Vec::with_capacity(bytes);
    out.push(BATCH_TAG);
    // At most MAX_OPS_PER_PAYLOAD ops, and an encoded op is at most MAX_OP_BYTES: both fit.
    out.extend_from_slice(&(run.len() as u16).to_le_bytes());
    for op in run {
        out.extend_from_slice(&(op.len() as u16).to_le_bytes());
        out.extend_from_slice(op);
    }
    out
}

#[cfg(test)]
mod tests {
    use icn_identity::Keypair;

    use super::*;
    use crate::{MAX_OP_BYTES, Op, Transfer};

    fn ops(n: usize) -> Vec<SignedOp> {
        let payer = Keypair::from_secret_bytes(&[7; 32]);
        let payee = Keypair::from_secret_bytes(&[8; 32]).did();
        (1..=n as u64)
            .map(|seq| {
                Op::Transfer(Transfer {
                    currency: crate::CurrencyCode::new("USD").unwrap(),
                    from: payer.did(),
                    to: payee,
                    amount: 1,
                    seq,
                    timestamp_ms: 1_000 + seq,
                    memo: String::new(),
                })
                .sign(&payer)
            })
            .collect()
    }

    #[test]
    fn one_op_travels_in_its_own_wire_form() {
        let one = ops(1);
        let packed = pack(&one, 64 * 1024);
        assert_eq!(packed.len(), 1);
        assert_eq!(packed[0].0, 0..1);
        assert_eq!(packed[0].1, one[0].encode());
        assert_eq!(decode_payload(&packed[0].1, MAX_OP_BYTES).unwrap(), one);
    }

    #[test]
    fn ops_pack_into_payloads_that_fit_and_decode_in_order() {
        let all = ops(40);
        let size = all[0].encode().len() + LEN_PREFIX;
        // Room for 16 ops per payload: 40 → 16 + 16 + 8.
        let packed = pack(&all, HEADER + 16 * size);
        let ranges: Vec<_> = packed.iter().map(|(r, _)| r.clone()).collect();
        assert_eq!(ranges, vec![0..16, 16..32, 32..40]);
        for (range, payload) in &packed {
            assert!(payload.len() <= HEADER + 16 * size);
            assert_eq!(payload[0], BATCH_TAG);
            assert_eq!(
                decode_payload(payload, MAX_OP_BYTES).unwrap(),
                all[range.clone()]
            );
        }
        // Too small for two: every op alone, in its own form.
        let singles = pack(&all[..3], size);
        assert_eq!(singles.len(), 3);
        assert!(singles.iter().all(|(_, p)| p[0] != BATCH_TAG));
    }

    #[test]
    fn a_payload_holds_at_most_the_op_cap() {
        let all = ops(MAX_OPS_PER_PAYLOAD + 1);
        let packed = pack(&all, usize::MAX);
        assert_eq!(packed.len(), 2);
        assert_eq!(packed[0].0, 0..MAX_OPS_PER_PAYLOAD);
        assert_eq!(packed[1].1, all[MAX_OPS_PER_PAYLOAD].encode());
    }

    #[test]
    fn malformed_batches_are_refused() {
        let all = ops(3);
        let good = pack(&all, usize::MAX).remove(0).1;
        let refuse = |bytes: &[u8]| {
            let err = decode_payload(bytes, MAX_OP_BYTES).unwrap_err();
            assert_eq!(err.kind(), crate::RejectKind::Malformed, "{err}");
        };
        refuse(&[BATCH_TAG]);
        refuse(&[BATCH_TAG, 1]);
        // Counts of 0, 1 and one above the cap.
        for count in [0u16, 1, MAX_OPS_PER_PAYLOAD as u16 + 1] {
            let mut bad = good.clone();
            bad[1..3].copy_from_slice(&count.to_le_bytes());
            refuse(&bad);
        }
        // Truncated anywhere, or with a byte more.
        for cut in 3..good.len() {
            refuse(&good[..cut]);
        }
        let mut long = good.clone();
        long.push(0);
        refuse(&long);
        // A nested batch is not an op.
        let inner = pack(&all[..2], usize::MAX).remove(0).1;
        let mut nested = vec![BATCH_TAG, 2, 0];
        for part in [&inner, &all[2].encode()] {
            nested.extend_from_slice(&(part.len() as u16).to_le_bytes());
            nested.extend_from_slice(part);
        }
        refuse(&nested);
        assert_eq!(decode_payload(&good, MAX_OP_BYTES).unwrap(), all);
        // An op larger than the caller's bound is refused as too large.
        let small = decode_payload(&good, 16).unwrap_err();
        assert_eq!(small.kind(), crate::RejectKind::TooLarge);
    }

    proptest::proptest! {
        /// Whatever bytes arrive, decoding never panics, and what it accepts is the one
        /// payload of those ops.
        #[test]
        fn accepted_payloads_are_canonical(
            flips in proptest::collection::vec((0usize..4096, proptest::prelude::any::<u8>()), 0..4),
            cut in 0usize..4096,
        ) {
            let mut bytes = pack(&ops(5), usize::MAX).remove(0).1;
            for (at, value) in flips {
                let len = bytes.len();
                bytes[at % len] = value;
            }
            bytes.truncate(bytes.len() - cut % 8);
            if let Ok(decoded) = decode_payload(&bytes, MAX_OP_BYTES) {
                let again = pack(&decoded, usize::MAX);
                proptest::prop_assert_eq!(again.len(), 1);
                proptest::prop_assert_eq!(&again[0].1, &bytes);
            }
        }
    }
}
