//! Bounding what one peer can make us buffer: each connection has a budget of received but
//! not yet processed bytes. A reader takes a frame's length from the budget before reading the
//! frame's body, and the permit travels with the bytes ([`InboundBytes`]) until the node has
//! processed them. A peer that sends faster than we process waits (QUIC flow control then
//! stops it), so a flood of maximum-size frames costs at most the budget per peer, and
//! honest peers keep their own budgets.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One connection's budget of unprocessed inbound bytes.
#[derive(Clone, Debug)]
pub struct InboundBudget {
    bytes: Arc<Semaphore>,
    capacity: usize,
}

impl InboundBudget {
    /// A budget of `capacity` bytes (at least one maximum frame, so every frame fits).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// Takes `len` bytes from the budget (all of it for a larger frame), calling `on_wait`
    /// first if it has to wait for bytes to be freed (the peer is being throttled). `None`
    /// only if the budget was closed.
    pub async fn reserve(
        &self,
        len: usize,
        on_wait: impl FnOnce(),
    ) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(len.clamp(1, self.capacity)).ok()?;
        match self.bytes.clone().try_acquire_many_owned(n) {
            Ok(permit) => Some(permit),
            Err(_) => {
                on_wait();
                self.bytes.clone().acquire_many_owned(n).await.ok()
            }
        }
    }

    /// Bytes currently held by frames in flight.
    pub fn in_use(&self) -> usize {
        self.capacity - self.bytes.available_permits()
    }
}

/// Received bytes that still count against their connection's [`InboundBudget`]; dropping
/// them gives the budget back.
pub struct InboundBytes {
    bytes: Bytes,
    _permit: Option<OwnedSemaphorePermit>,
}

impl InboundBytes {
    /// Wraps bytes held under `permit`.
    pub fn new(bytes: Bytes, permit: OwnedSemaphorePermit) -> Self {
        Self {
            bytes,
            _permit: Some(permit),
        }
    }

    /// The bytes, still under the budget (slices of them may outlive it).
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The bytes (the budget is given back; slices of them may outlive it).
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }
}

/// Bytes outside any budget (tests, local injection).
impl From<Bytes> for InboundBytes {
    fn from(bytes: Bytes) -> Self {
        Self {
            bytes,
            _permit: None,
        }
    }
}

/// Bytes outside any budget (tests, local injection).
impl From<Vec<u8>> for InboundBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl Deref for InboundBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for InboundBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InboundBytes({} bytes)", self.bytes.len())
    }
}

/// The same bytes outside the budget (only the original holds the permit).
impl Clone for InboundBytes {
    fn clone(&self) -> Self {
        self.bytes.clone().into()
    }
}

impl PartialEq for InboundBytes {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl PartialEq<Vec<u8>> for InboundBytes {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.bytes[..] == other[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn budget_is_returned_when_bytes_are_dropped() {
        let budget = InboundBudget::new(100);
        let a = budget.reserve(60, || panic!("no wait")).await.unwrap();
        let held = InboundBytes::new(vec![0; 60].into(), a);
        assert_eq!(budget.in_use(), 60);
        // 60 + 60 > 100: the second reservation waits until the first bytes are dropped.
        let second = tokio::spawn({
            let budget = budget.clone();
            async move {
                let mut waited = false;
                let permit = budget.reserve(60, || waited = true).await;
                (permit.is_some(), waited)
            }
        });
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        drop(held);
        assert_eq!(second.await.unwrap(), (true, true));
        // A frame larger than the whole budget still fits alone.
        let _big = budget.reserve(1_000, || panic!("no wait")).await.unwrap();
        assert_eq!(budget.in_use(), 100);
    }
}
