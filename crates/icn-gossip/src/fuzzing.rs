//! Fuzz harness body for the gossip core, shared by the cargo-fuzz target in `fuzz/` and the
//! bounded test that runs in CI. Not a stable API.
//!
//! [`core_session`] reads arbitrary bytes as a script of inputs to one [`GossipCore`] (node 0):
//! peers 1 to 4 coming up and going down, time passing, local publishes, and peer messages,
//! either built from the bytes (announces, requests, responses with valid, forged or unsolicited
//! entries, reconcile messages with arbitrary ranges) or decoded from raw bytes by the real
//! codec. Small caps make every limit reachable. After every input the core's invariants and
//! caps must hold and every message it sends must encode; anything else panics.

use std::sync::LazyLock;

use arbitrary::Unstructured;
use icn_identity::{Did, Keypair};

use crate::entry::{Entry, EntryId, EntryLimits};
use crate::message::{self, GossipMessage, MAX_FRAME_BYTES};
use crate::proto::{GossipConfig, GossipCore, Input, Output};
use crate::reconcile::{Bound, Limits, Range, RangeMode, ReconcileMessage};
use crate::topic::Topic;

/// Harness clock origin: a plausible wall clock.
const T0: u64 = 1_800_000_000_000;

/// Peers the script talks about (node 0 is the core itself).
const PEERS: u8 = 4;

struct Fixture {
    keys: Vec<Keypair>,
    topics: Vec<Topic>,
    /// Valid entries on the first two topics (subscribed) and the third (not subscribed).
    entries: Vec<Entry>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let keys: Vec<Keypair> = (0..=PEERS)
        .map(|n| Keypair::from_secret_bytes(&[n + 1; 32]))
        .collect();
    let topics: Vec<Topic> = ["a", "b", "c"]
        .iter()
        .filter_map(|t| Topic::new(t).ok())
        .collect();
    let entries = (0..24u32)
        .map(|n| {
            let key = &keys[(n % u32::from(PEERS + 1)) as usize];
            let topic = topics[(n % 3) as usize].clone();
            Entry::sign(key, topic, T0 + u64::from(n), n.to_le_bytes().to_vec())
        })
        .collect();
    Fixture {
        keys,
        topics,
        entries,
    }
});

/// Small caps, so a short script reaches every limit.
fn config() -> GossipConfig {
    GossipConfig {
        entry_limits: EntryLimits {
            max_payload_bytes: 64,
            ..EntryLimits::default()
        },
        max_pending_requests: 16,
        max_outstanding_per_peer: 6,
        max_pending_per_peer: 10,
        max_ids_per_message: 8,
        max_announcers_per_id: 2,
        max_topics_per_peer: 3,
        max_reconcile_sessions: 3,
        reconcile_limits: Limits::MIN,
        rate_window_ms: 500,
        max_announced_ids_per_window: 20,
        max_requested_ids_per_window: 20,
        max_reconciles_per_window: 4,
        ..GossipConfig::default()
    }
}

/// Runs one script; see the module documentation.
pub fn core_session(data: &[u8]) {
    let fx = &*FIXTURE;
    let me = fx.keys[0].did();
    let mut core = GossipCore::new(
        config(),
        me,
        7,
        std::iter::empty(),
        fx.topics[..2].iter().cloned(),
    );
    let mut u = Unstructured::new(data);
    let mut now = T0;
    while !u.is_empty() {
        let Ok(input) = next_input(&mut u, fx, &mut now) else {
            break;
        };
        let out = core.handle(input, now);
        check(&core, &out);
    }
}

fn peer(u: &mut Unstructured<'_>, fx: &Fixture) -> arbitrary::Result<Did> {
    Ok(fx.keys[usize::from(u.int_in_range(1..=PEERS)?)].did())
}

fn topic(u: &mut Unstructured<'_>, fx: &Fixture) -> arbitrary::Result<Topic> {
    Ok(u.choose(&fx.topics)?.clone())
}

fn entry_id(u: &mut Unstructured<'_>, fx: &Fixture) -> arbitrary::Result<EntryId> {
    if u.ratio(3, 4)? {
        Ok(u.choose(&fx.entries)?.id())
    } else {
        Ok(EntryId::from_bytes(u.arbitrary()?))
    }
}

fn ids(u: &mut Unstructured<'_>, fx: &Fixture) -> arbitrary::Result<Vec<EntryId>> {
    let n = u.int_in_range(0..=12)?;
    (0..n).map(|_| entry_id(u, fx)).collect()
}

fn next_input(u: &mut Unstructured<'_>, fx: &Fixture, now: &mut u64) -> arbitrary::Result<Input> {
    let from = peer(u, fx)?;
    let msg = match u.int_in_range(0..=9u8)? {
        0 => {
            let n = u.int_in_range(0..=4)?;
            let topics = (0..n).map(|_| topic(u, fx)).collect::<Result<_, _>>()?;
            return Ok(Input::PeerUp { peer: from, topics });
        }
        1 => return Ok(Input::PeerDown { peer: from }),
        2 => {
            *now += u64::from(u.arbitrary::<u16>()?);
            return Ok(Input::Tick);
        }
        3 => return Ok(Input::Publish(u.choose(&fx.entries)?.clone())),
        4 => GossipMessage::Announce {
            topic: topic(u, fx)?,
            ids: ids(u, fx)?,
        },
        5 => GossipMessage::Request { ids: ids(u, fx)? },
        6 => {
            let n = u.int_in_range(0..=4)?;
            let mut entries = Vec::new();
            for _ in 0..n {
                let mut entry = u.choose(&fx.entries)?.clone();
                match u.int_in_range(0..=3u8)? {
                    0 => {
                        let mut payload = entry.payload.to_vec();
                        payload.push(u.arbitrary()?);
                        entry.payload = payload.into();
                    }
                    1 => entry.timestamp_ms = u.arbitrary()?,
                    2 => entry.payload = vec![0; 100].into(),
                    _ => {}
                }
                entries.push(entry);
            }
            GossipMessage::Response { entries }
        }
        7 => GossipMessage::Reconcile {
            topic: topic(u, fx)?,
            msg: reconcile_message(u, fx)?,
            have: ids(u, fx)?,
        },
        8 => GossipMessage::Topics {
            topics: (0..u.int_in_range(0..=5)?)
                .map(|_| topic(u, fx))
                .collect::<Result<_, _>>()?,
        },
        _ => {
            let len = u.int_in_range(0..=256)?;
            match message::decode(u.bytes(len)?, MAX_FRAME_BYTES) {
                Ok(msg) => msg,
                Err(_) => return Ok(Input::Tick),
            }
        }
    };
    Ok(Input::Message { from, msg })
}

/// Arbitrary ranges: sometimes well-formed, often not (the core must refuse those cleanly).
fn reconcile_message(
    u: &mut Unstructured<'_>,
    fx: &Fixture,
) -> arbitrary::Result<Option<ReconcileMessage>> {
    if u.ratio(1, 5)? {
        return Ok(None);
    }
    let n = u.int_in_range(0..=6)?;
    let mut ranges = Vec::new();
    for i in 0..n {
        let upper = if i + 1 == n && u.ratio(4, 5)? {
            Bound::Infinity
        } else {
            let len = u.int_in_range(1..=3)?;
            Bound::Prefix(u.bytes(len)?.to_vec())
        };
        let mode = match u.int_in_range(0..=2u8)? {
            0 => RangeMode::Skip,
            1 => RangeMode::Fingerprint(u.arbitrary()?),
            _ => {
                let mut list: Vec<[u8; 32]> = ids(u, fx)?.iter().map(|id| *id.as_bytes()).collect();
                if u.ratio(4, 5)? {
                    list.sort_unstable();
                    list.dedup();
                }
                RangeMode::IdList(list)
            }
        };
        ranges.push(Range { upper, mode });
    }
    Ok(Some(ReconcileMessage { ranges }))
}

/// The oracles: caps and invariants hold, sent messages encode, requested entries are held.
fn check(core: &GossipCore, out: &[Output]) {
    if let Err(e) = core.check_invariants() {
        panic!("gossip core invariant broken: {e}");
    }
    for o in out {
        match o {
            Output::Send { msg, .. } => {
                if let Err(e) = message::encode(msg) {
                    panic!("core produced an unencodable message: {e}");
                }
            }
            Output::SendEntries { ids, .. } => {
                assert!(ids.len() <= core.config().max_ids_per_message);
                assert!(
                    ids.iter().all(|id| core.has(id)),
                    "sending an entry not held"
                );
            }
            Output::Push {
                to,
                entries,
                pushed_to,
            } => {
                assert!(
                    entries.iter().all(|e| core.has(&e.id())
                        && (e.author == core.me() || crate::message::relay_pushable(e))),
                    "pushing an entry not held, or a large one not ours"
                );
                assert!(
                    to.iter().all(|peer| pushed_to.contains(peer)),
                    "a push that does not name its recipients"
                );
            }
            Output::Store { id, entry, .. } => assert_eq!(*id, entry.id()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The fuzz harness over random scripts (each byte string is a script of inputs).
        #[test]
        fn core_session_harness(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            super::core_session(&data);
        }
    }
}
