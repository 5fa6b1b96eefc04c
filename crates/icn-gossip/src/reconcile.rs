//! Range-based set reconciliation over sets of 32-byte ids (Aljoscha Meyer, "Range-Based Set
//! Reconciliation"; the scheme negentropy implements), used by gossip anti-entropy.
//!
//! # Contract
//! - In: our own set of ids (any [`IdSet`]: a sorted, deduplicated `[Id]`/`Vec<Id>`, or a
//!   `BTreeSet<Id>`) and the peer's [`ReconcileMessage`]s, which are untrusted.
//! - Out: [`initiate`] opens a session with one message. Each side then answers every message
//!   it receives with [`respond`], which yields a [`Step`]: the next message to send (`None`
//!   ends the session: send nothing more), the ids we hold that the peer lacks (`have`: push
//!   them) and the ids the peer holds that we lack (`need`: request them). When the session
//!   ends, every id in the symmetric difference of the two sets (as they were during the
//!   session) has appeared in one side's `have` or the other side's `need`; applying those
//!   transfers leaves both sides holding the union.
//! - A malformed or oversized message is a typed [`ReconcileError`], never a panic; our own
//!   messages always satisfy the same [`Limits`] we enforce on the peer's, and a [`Step`]'s
//!   `have` and `need` hold at most `max_ids` ids each, so a small message never makes us
//!   build a large answer (a range whose `have` would overflow is partly handed back and
//!   resolved in later rounds).
//! - Pure and deterministic: no IO, clock or randomness; the same inputs give the same
//!   messages, byte for byte.
//!
//! # Why message size grows with the difference, not with the set
//! A message partitions the id space into contiguous ranges, each carrying a 16-byte
//! fingerprint, the sender's full id list (when it holds at most [`ID_LIST_THRESHOLD`] ids
//! there), or `Skip`. A receiver whose own fingerprint matches answers `Skip` (consecutive
//! skips coalesce into one range); only a differing range is split, by count, into
//! [`BRANCH_FACTOR`] sub-ranges; an id list is resolved by its receiver at once. Equal sets thus
//! cost one fingerprint; `d` differences cost about `d · BRANCH_FACTOR · log₁₆(n)` fingerprints
//! over `O(log n)` rounds, whatever the size `n` of the sets.
//!
//! # Fingerprints
//! `blake3(count as u64 LE ‖ (sum of blake3(id) as 256-bit little-endian integers mod 2²⁵⁶))`,
//! truncated to 16 bytes: order-independent and cheap to compute. A sum is not collision
//! resistant against ids chosen on purpose, but ids are blake3 hashes of signed entries, and a
//! collision only hides a difference until either set changes (liveness, not safety).
//!
//! # Limits and truncation
//! When answering a message would exceed [`Limits`], the reply stops early and describes the
//! whole rest of the id space as one range, which the peer splits again in later rounds. Every
//! round still resolves or narrows the first unresolved range, so the session terminates; an id
//! may then be reported in more than one step, and callers should ignore duplicates.

use std::collections::BTreeSet;
use std::ops::Bound as OpsBound;

use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// An entry id: a blake3 hash, so ids are uniformly distributed.
pub type Id = [u8; 32];

/// Summary of the ids in a range; see the module doc for its definition.
pub type Fingerprint = [u8; 16];

/// Number of sub-ranges a differing range is split into.
pub const BRANCH_FACTOR: usize = 16;

/// A range holding at most this many of the sender's ids is sent as a list, not a fingerprint.
pub const ID_LIST_THRESHOLD: usize = 16;

// Splitting by count needs at least one id per sub-range.
const _: () = assert!(ID_LIST_THRESHOLD >= BRANCH_FACTOR);

/// The smallest id, the implicit lower bound of the first range.
const MIN_ID: Id = [0; 32];

/// Exclusive upper bound of a range.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Bound {
    /// The id made of these bytes followed by zeros. Canonical form: 1 to 32 bytes, the last
    /// one non-zero; we send the shortest prefix that separates two neighbouring ids.
    Prefix(Vec<u8>),
    /// Above every id: the bound of the last range.
    Infinity,
}

/// What a range says about the sender's ids in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RangeMode {
    /// Nothing to do here: already equal, or resolved.
    Skip,
    /// Fingerprint of the sender's ids in the range.
    Fingerprint(Fingerprint),
    /// All of the sender's ids in the range, strictly ascending.
    IdList(Vec<Id>),
}

/// One range of a message; its lower bound is the previous range's upper bound, or the
/// smallest id for the first range.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Range {
    /// Exclusive upper bound; strictly above the previous range's.
    pub upper: Bound,
    /// What the sender says about this range.
    pub mode: RangeMode,
}

/// One reconciliation message: contiguous ranges covering the whole id space in order, the
/// last one ending at [`Bound::Infinity`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReconcileMessage {
    /// The ranges, ascending.
    pub ranges: Vec<Range>,
}

/// The outcome of handling one message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Step {
    /// Message to send back; `None` when the session is over.
    pub reply: Option<ReconcileMessage>,
    /// Ids we hold that the peer lacks (ascending): send these entries.
    pub have: Vec<Id>,
    /// Ids the peer holds that we lack (ascending): request these entries.
    pub need: Vec<Id>,
}

/// Bounds on the size of a message, enforced on the peer's and respected by ours. Both sides
/// should use the same values (the defaults), or a reply may be rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most ranges in one message (default 8192).
    pub max_ranges: usize,
    /// Most ids, summed over all id lists, in one message (default 8192).
    pub max_ids: usize,
}

impl Limits {
    /// The smallest limits under which every round still makes progress.
    pub const MIN: Limits = Limits {
        max_ranges: BRANCH_FACTOR + 3,
        max_ids: 2 * ID_LIST_THRESHOLD,
    };
}

impl Default for Limits {
    /// About 700 KB per message in the worst case, well within a network frame.
    fn default() -> Self {
        Limits {
            max_ranges: 8192,
            max_ids: 8192,
        }
    }
}

/// What a message exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excess {
    /// Too many ranges.
    Ranges,
    /// Too many ids in id lists.
    Ids,
}

/// Why a message was rejected. Any of these means the peer is broken or hostile (or uses
/// other limits): abandon the session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// The message has no ranges.
    #[error("reconcile message has no ranges")]
    Empty,
    /// The message exceeds [`Limits`].
    #[error("reconcile message too large: {got} {what:?}, limit {limit}")]
    TooLarge {
        /// What was exceeded.
        what: Excess,
        /// How many the message holds.
        got: usize,
        /// The limit.
        limit: usize,
    },
    /// A bound is empty, longer than an id, or ends in a zero byte.
    #[error("range {index}: malformed bound")]
    MalformedBound {
        /// Index of the offending range.
        index: usize,
    },
    /// A bound is not strictly above the previous one (or follows `Infinity`).
    #[error("range {index}: bound not above the previous one")]
    UnorderedBounds {
        /// Index of the offending range.
        index: usize,
    },
    /// The last range does not end at `Infinity`.
    #[error("last range does not end at infinity")]
    MissingInfinity,
    /// An id list is not strictly ascending.
    #[error("range {index}: id list not strictly ascending")]
    UnsortedIds {
        /// Index of the offending range.
        index: usize,
    },
    /// An id list holds an id outside its range.
    #[error("range {index}: id outside the range")]
    IdOutOfRange {
        /// Index of the offending range.
        index: usize,
    },
    /// Our own limits are below [`Limits::MIN`].
    #[error("reconcile limits below the minimum")]
    InvalidLimits,
}

/// A set of ids that can be read range by range.
pub trait IdSet {
    /// The ids `x` with `lower <= x < upper`, ascending; `upper == None` means no upper limit.
    fn ids_in(&self, lower: Id, upper: Option<Id>) -> impl Iterator<Item = &Id>;
}

/// Precondition: the slice is sorted and free of duplicates (otherwise the peer may reject
/// our messages, but nothing panics).
impl IdSet for [Id] {
    fn ids_in(&self, lower: Id, upper: Option<Id>) -> impl Iterator<Item = &Id> {
        let start = self.partition_point(|x| *x < lower);
        let end = match upper {
            Some(upper) => self.partition_point(|x| *x < upper).max(start),
            None => self.len(),
        };
        self[start..end].iter()
    }
}

/// Same precondition as for `[Id]`.
impl IdSet for Vec<Id> {
    fn ids_in(&self, lower: Id, upper: Option<Id>) -> impl Iterator<Item = &Id> {
        self.as_slice().ids_in(lower, upper)
    }
}

impl IdSet for BTreeSet<Id> {
    fn ids_in(&self, lower: Id, upper: Option<Id>) -> impl Iterator<Item = &Id> {
        let end = match upper {
            // `BTreeSet::range` panics on an inverted range; an empty one is fine.
            Some(upper) => OpsBound::Excluded(upper.max(lower)),
            None => OpsBound::Unbounded,
        };
        self.range((OpsBound::Included(lower), end))
    }
}

/// Fingerprint of a collection of distinct ids (order does not matter).
pub fn fingerprint<'a>(ids: impl IntoIterator<Item = &'a Id>) -> Fingerprint {
    let mut count: u64 = 0;
    let mut sum = [0u64; 4];
    for id in ids {
        count = count.wrapping_add(1);
        // Sum hashes of the ids, not the ids: structured ids (long shared prefixes, small
        // numbers) would otherwise collide as easily as {1, 4} and {2, 3}.
        let hashed = blake3::hash(id);
        let hashed = hashed.as_bytes();
        let mut carry = false;
        for (i, limb) in sum.iter_mut().enumerate() {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&hashed[8 * i..8 * i + 8]);
            let (partial, c1) = limb.overflowing_add(u64::from_le_bytes(bytes));
            let (total, c2) = partial.overflowing_add(u64::from(carry));
            *limb = total;
            carry = c1 || c2;
        }
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(&count.to_le_bytes());
    for limb in sum {
        hasher.update(&limb.to_le_bytes());
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    out
}

/// Opens a session: one range over the whole id space, a fingerprint (or our ids if few).
pub fn initiate<S: IdSet + ?Sized>(set: &S) -> ReconcileMessage {
    ReconcileMessage {
        ranges: vec![Range {
            upper: Bound::Infinity,
            mode: describe(|| set.ids_in(MIN_ID, None)),
        }],
    }
}

/// Handles one message from the peer: validates it against `limits`, resolves its id lists,
/// compares its fingerprints with ours and builds the reply.
///
/// # Errors
/// [`ReconcileError`] when the message is malformed or exceeds `limits`, or when `limits` is
/// below [`Limits::MIN`].
pub fn respond<S: IdSet + ?Sized>(
    set: &S,
    msg: &ReconcileMessage,
    limits: &Limits,
) -> Result<Step, ReconcileError> {
    if limits.max_ranges < Limits::MIN.max_ranges || limits.max_ids < Limits::MIN.max_ids {
        return Err(ReconcileError::InvalidLimits);
    }
    let uppers = validate(msg, limits)?;
    let mut out = Writer::default();
    let mut have = Vec::new();
    let mut need = Vec::new();
    let mut lower = MIN_ID;
    for (range, &upper) in msg.ranges.iter().zip(&uppers) {
        let is_skip = matches!(range.mode, RangeMode::Skip);
        if !is_skip && !out.has_room(limits) {
            // Out of budget: hand the rest of the id space back as one range.
            out.push(Bound::Infinity, describe(|| set.ids_in(lower, None)));
            break;
        }
        match &range.mode {
            RangeMode::Skip => out.push(range.upper.clone(), RangeMode::Skip),
            RangeMode::Fingerprint(theirs) => {
                let ours: Vec<&Id> = set.ids_in(lower, upper).collect();
                if fingerprint(ours.iter().copied()) == *theirs {
                    out.push(range.upper.clone(), RangeMode::Skip);
                } else if ours.len() <= ID_LIST_THRESHOLD {
                    out.push(range.upper.clone(), describe(|| ours.iter().copied()));
                } else {
                    split(&ours, &range.upper, &mut out);
                }
            }
            RangeMode::IdList(theirs) => {
                let full = diff(
                    set.ids_in(lower, upper),
                    theirs,
                    &mut have,
                    &mut need,
                    limits,
                );
                match full {
                    None => out.push(range.upper.clone(), RangeMode::Skip),
                    Some((cut, rest_start)) => {
                        // `have` is full: the part below the cut is resolved, the rest goes
                        // back as a differing range (split like a fingerprint mismatch).
                        if let Some(cut) = cut {
                            out.push(cut, RangeMode::Skip);
                        }
                        let rest: Vec<&Id> = set.ids_in(rest_start, upper).collect();
                        if rest.len() <= ID_LIST_THRESHOLD {
                            out.push(range.upper.clone(), describe(|| rest.iter().copied()));
                        } else {
                            split(&rest, &range.upper, &mut out);
                        }
                    }
                }
            }
        }
        match upper {
            Some(upper) => lower = upper,
            None => break,
        }
    }
    Ok(Step {
        reply: out.finish(),
        have,
        need,
    })
}

/// Checks every rule a message must follow; returns each range's upper bound as an id
/// (`None` for `Infinity`).
fn validate(msg: &ReconcileMessage, limits: &Limits) -> Result<Vec<Option<Id>>, ReconcileError> {
    if msg.ranges.is_empty() {
        return Err(ReconcileError::Empty);
    }
    if msg.ranges.len() > limits.max_ranges {
        return Err(ReconcileError::TooLarge {
            what: Excess::Ranges,
            got: msg.ranges.len(),
            limit: limits.max_ranges,
        });
    }
    let ids = msg
        .ranges
        .iter()
        .map(|r| match &r.mode {
            RangeMode::IdList(ids) => ids.len(),
            _ => 0,
        })
        .fold(0usize, usize::saturating_add);
    if ids > limits.max_ids {
        return Err(ReconcileError::TooLarge {
            what: Excess::Ids,
            got: ids,
            limit: limits.max_ids,
        });
    }
    let mut uppers = Vec::with_capacity(msg.ranges.len());
    // `None` once a range ended at infinity: nothing may follow.
    let mut lower = Some(MIN_ID);
    for (index, range) in msg.ranges.iter().enumerate() {
        let Some(lo) = lower else {
            return Err(ReconcileError::UnorderedBounds { index });
        };
        let upper = parse_bound(&range.upper).ok_or(ReconcileError::MalformedBound { index })?;
        if upper.is_some_and(|up| up <= lo) {
            return Err(ReconcileError::UnorderedBounds { index });
        }
        if let RangeMode::IdList(ids) = &range.mode {
            if ids.windows(2).any(|w| w[0] >= w[1]) {
                return Err(ReconcileError::UnsortedIds { index });
            }
            let below = ids.first().is_some_and(|first| *first < lo);
            let above = matches!((ids.last(), upper), (Some(last), Some(up)) if *last >= up);
            if below || above {
                return Err(ReconcileError::IdOutOfRange { index });
            }
        }
        uppers.push(upper);
        lower = upper;
    }
    if lower.is_some() {
        return Err(ReconcileError::MissingInfinity);
    }
    Ok(uppers)
}

/// A bound as an id (`Some(None)` for `Infinity`), or `None` when malformed.
fn parse_bound(bound: &Bound) -> Option<Option<Id>> {
    match bound {
        Bound::Infinity => Some(None),
        Bound::Prefix(prefix) => {
            if prefix.is_empty() || prefix.len() > 32 || prefix.last() == Some(&0) {
                return None;
            }
            let mut id = MIN_ID;
            id[..prefix.len()].copy_from_slice(prefix);
            Some(Some(id))
        }
    }
}

/// How we describe our ids in a range: the list when short, else a fingerprint. Never
/// collects more than `ID_LIST_THRESHOLD + 1` ids, however large the range.
fn describe<'a, I: Iterator<Item = &'a Id>>(ours: impl Fn() -> I) -> RangeMode {
    let few: Vec<Id> = ours().take(ID_LIST_THRESHOLD + 1).copied().collect();
    if few.len() <= ID_LIST_THRESHOLD {
        RangeMode::IdList(few)
    } else {
        RangeMode::Fingerprint(fingerprint(ours()))
    }
}

/// Splits a differing range holding `ours` (more than `ID_LIST_THRESHOLD` ids) into
/// `BRANCH_FACTOR` fingerprinted sub-ranges of equal count, the last ending at `upper`.
fn split(ours: &[&Id], upper: &Bound, out: &mut Writer) {
    let n = ours.len();
    let mut start = 0;
    for k in 1..=BRANCH_FACTOR {
        let end = k * n / BRANCH_FACTOR;
        let bound = if k == BRANCH_FACTOR {
            upper.clone()
        } else {
            separator(ours[end - 1], ours[end])
        };
        let fp = fingerprint(ours[start..end].iter().copied());
        out.push(bound, RangeMode::Fingerprint(fp));
        start = end;
    }
}

/// The shortest prefix of `next` that, padded with zeros, is above `prev` (so it lies in
/// `(prev, next]`); its last byte is non-zero because `next > prev` at that position.
fn separator(prev: &Id, next: &Id) -> Bound {
    let at = prev
        .iter()
        .zip(next)
        .position(|(a, b)| a != b)
        .unwrap_or(31);
    Bound::Prefix(next[..=at].to_vec())
}

/// Merges our ids and theirs (both ascending) in one range into `have` and `need`, until
/// `have` holds `limits.max_ids` ids: a peer's short id list over a range where we hold
/// millions of ids must not make us build a million-id answer. Then returns where the
/// resolved part ends (a bound above every id handled, `None` if none was) and our first id
/// left over; the caller hands the rest of the range back to the peer.
fn diff<'a>(
    ours: impl Iterator<Item = &'a Id>,
    theirs: &[Id],
    have: &mut Vec<Id>,
    need: &mut Vec<Id>,
    limits: &Limits,
) -> Option<(Option<Bound>, Id)> {
    let mut theirs = theirs.iter().peekable();
    let mut prev: Option<Id> = None;
    for id in ours {
        while let Some(t) = theirs.next_if(|t| *t < id) {
            need.push(*t);
            prev = Some(*t);
        }
        if theirs.next_if_eq(&id).is_none() {
            if have.len() >= limits.max_ids {
                return Some((prev.map(|p| separator(&p, id)), *id));
            }
            have.push(*id);
        }
        prev = Some(*id);
    }
    need.extend(theirs.copied());
    None
}

/// Accumulates a reply, coalescing consecutive skips and counting ids.
#[derive(Default)]
struct Writer {
    ranges: Vec<Range>,
    ids: usize,
}

impl Writer {
    /// Whether one more range can be answered (a split or an id list, then possibly a skip)
    /// and still leave room for the closing range.
    fn has_room(&self, limits: &Limits) -> bool {
        self.ranges.len() + BRANCH_FACTOR + 2 <= limits.max_ranges
            && self.ids + 2 * ID_LIST_THRESHOLD <= limits.max_ids
    }

    fn push(&mut self, upper: Bound, mode: RangeMode) {
        match &mode {
            RangeMode::Skip => {
                if let Some(last) = self.ranges.last_mut()
                    && last.mode == RangeMode::Skip
                {
                    last.upper = upper;
                    return;
                }
            }
            RangeMode::IdList(ids) => self.ids += ids.len(),
            RangeMode::Fingerprint(_) => {}
        }
        self.ranges.push(Range { upper, mode });
    }

    /// The reply, or `None` when every range is skipped.
    fn finish(self) -> Option<ReconcileMessage> {
        let done = self.ranges.iter().all(|r| r.mode == RangeMode::Skip);
        (!done).then_some(ReconcileMessage {
            ranges: self.ranges,
        })
    }
}
