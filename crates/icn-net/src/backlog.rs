//! What is queued to each peer and not yet handed to QUIC: the bytes and frames, and when the
//! peer's writer last moved a frame. It lets the node's own publishers wait for a peer that reads slower than
//! they publish ([`crate::NetworkHandle::backlogged`]) instead of overflowing its send queue,
//! whose frames would then be dropped and fetched again later by anti-entropy. A peer that stops
//! reading holds nobody back for longer than [`STUCK_AFTER`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Bytes queued to one peer at which its backlog holds back the node's publishers: 16 frames
/// of a 256 KiB response or push, a few milliseconds of a fast link. Half the send queue's
/// frames (`network.send_queue`) hold back too, however small they are.
pub const BACKLOG_HIGH_BYTES: usize = 4 * 1024 * 1024;

/// A peer whose writer moved no frame for this long is stuck, not slow: it holds nobody back
/// (what is sent to it is dropped once its queue is full).
pub const STUCK_AFTER: Duration = Duration::from_secs(1);

/// One peer's backlog. Shared by the session's writer and the handles that queue to it.
#[derive(Debug)]
pub(crate) struct Backlog {
    bytes: AtomicUsize,
    frames: AtomicUsize,
    /// Half the frames the peer's send queue holds: as far behind as a peer may get.
    behind_frames: usize,
    /// Woken when the peer comes back from behind (shared by every session of the node).
    room: Arc<Notify>,
    born: Instant,
    /// When the writer last moved a frame, in milliseconds since `born`.
    progress_ms: AtomicU64,
}

impl Backlog {
    /// The backlog of a send queue of `frame_capacity` frames, waking `room` when it comes
    /// back from behind.
    pub(crate) fn new(frame_capacity: usize, room: Arc<Notify>) -> Self {
        Self {
            bytes: AtomicUsize::new(0),
            frames: AtomicUsize::new(0),
            behind_frames: (frame_capacity / 2).max(1),
            room,
            born: Instant::now(),
            progress_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Bytes queued and not yet written.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// A frame of `len` bytes is about to be queued.
    pub(crate) fn queued(&self, len: usize) {
        self.bytes.fetch_add(len, Ordering::Relaxed);
        self.frames.fetch_add(1, Ordering::Relaxed);
    }

    /// A frame counted by [`Backlog::queued`] was not queued after all.
    pub(crate) fn refused(&self, len: usize) {
        self.bytes.fetch_sub(len, Ordering::Relaxed);
        self.frames.fetch_sub(1, Ordering::Relaxed);
    }

    /// The writer handed a queued frame of `len` bytes to QUIC; wakes the room's waiters when
    /// that brought the peer back from behind.
    pub(crate) fn written(&self, len: usize) {
        self.progress_ms.store(self.now_ms(), Ordering::Relaxed);
        let was_behind = self.is_behind();
        self.bytes.fetch_sub(len, Ordering::Relaxed);
        self.frames.fetch_sub(1, Ordering::Relaxed);
        if was_behind && !self.is_behind() {
            self.room.notify_waiters();
        }
    }

    /// At least [`BACKLOG_HIGH_BYTES`] queued, or half the queue's frames.
    fn is_behind(&self) -> bool {
        self.bytes() >= BACKLOG_HIGH_BYTES
            || self.frames.load(Ordering::Relaxed) >= self.behind_frames
    }

    /// Whether this peer holds back publishers: behind, and its writer moved a frame within
    /// [`STUCK_AFTER`].
    pub(crate) fn holds_back(&self) -> bool {
        const STUCK_MS: u128 = STUCK_AFTER.as_millis();
        self.is_behind()
            && u128::from(
                self.now_ms()
                    .saturating_sub(self.progress_ms.load(Ordering::Relaxed)),
            ) < STUCK_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_holds_back_from_the_byte_mark_until_its_writer_brings_it_under() {
        let room = Arc::new(Notify::new());
        let backlog = Backlog::new(1024, room.clone());
        backlog.queued(BACKLOG_HIGH_BYTES - 1);
        assert!(!backlog.holds_back());
        backlog.queued(1);
        assert!(backlog.holds_back());
        let woken = room.notified();
        let mut woken = std::pin::pin!(woken);
        backlog.written(1);
        assert!(!backlog.holds_back());
        assert!(ready(woken.as_mut()), "coming back wakes the waiters");
        backlog.queued(10);
        backlog.refused(10);
        assert_eq!(backlog.bytes(), BACKLOG_HIGH_BYTES - 1);
    }

    #[test]
    fn half_the_queues_frames_hold_back_however_small() {
        let room = Arc::new(Notify::new());
        let backlog = Backlog::new(8, room.clone());
        for _ in 0..3 {
            backlog.queued(100);
        }
        assert!(!backlog.holds_back());
        backlog.queued(100);
        assert!(backlog.holds_back(), "4 of 8 frames");
        let woken = room.notified();
        let mut woken = std::pin::pin!(woken);
        backlog.written(100);
        assert!(!backlog.holds_back());
        assert!(ready(woken.as_mut()));
    }

    #[test]
    fn a_peer_whose_writer_stopped_moving_holds_nobody_back() {
        let born = Instant::now()
            .checked_sub(STUCK_AFTER)
            .expect("the clock goes back a second");
        // Born a second ago, behind, and its writer never moved a frame.
        let backlog = Backlog {
            born,
            ..Backlog::new(1024, Arc::new(Notify::new()))
        };
        backlog.queued(BACKLOG_HIGH_BYTES);
        backlog.queued(BACKLOG_HIGH_BYTES);
        assert!(!backlog.holds_back());
        backlog.written(BACKLOG_HIGH_BYTES);
        assert!(backlog.holds_back(), "moving again, it holds back again");
    }

    /// Whether `future` is ready at its first poll.
    fn ready(future: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>) -> bool {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        future.poll(&mut cx).is_ready()
    }

    use std::future::Future as _;
}
