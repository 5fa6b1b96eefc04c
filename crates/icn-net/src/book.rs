//! The address book: peers we know an address for, and when to dial them next.
//!
//! Bootstrap entries are kept forever and re-dialed with capped exponential backoff; addresses
//! learned through peer exchange are dropped after [`MAX_EXCHANGE_FAILURES`] failed dials in a row.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use icn_identity::Did;

/// Consecutive failures after which an exchanged (non-bootstrap) address is forgotten.
pub const MAX_EXCHANGE_FAILURES: u32 = 20;

/// One known address.
#[derive(Clone, Debug)]
pub struct BookEntry {
    /// Where to dial.
    pub addr: SocketAddr,
    /// Configured by the operator (never forgotten).
    pub bootstrap: bool,
    /// Consecutive failed dials.
    pub failures: u32,
    /// Earliest time of the next dial.
    pub next_attempt: Instant,
    /// A dial is in flight.
    pub dialing: bool,
}

impl BookEntry {
    fn new(addr: SocketAddr, bootstrap: bool, now: Instant) -> Self {
        Self {
            addr,
            bootstrap,
            failures: 0,
            next_attempt: now,
            dialing: false,
        }
    }
}

/// Known peers, by DID, plus bootstrap addresses whose DID we have not learned yet.
#[derive(Debug, Default)]
pub struct AddressBook {
    by_did: BTreeMap<Did, BookEntry>,
    anonymous: BTreeMap<SocketAddr, BookEntry>,
}

/// What to dial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialKey {
    /// A peer whose DID we know.
    Did(Did),
    /// A bootstrap address without a DID.
    Addr(SocketAddr),
}

impl AddressBook {
    /// Adds a bootstrap target.
    pub fn add_bootstrap(&mut self, did: Option<Did>, addr: SocketAddr, now: Instant) {
        match did {
            Some(did) => {
                self.by_did.insert(did, BookEntry::new(addr, true, now));
            }
            None => {
                self.anonymous.insert(addr, BookEntry::new(addr, true, now));
            }
        }
    }

    /// Records an address for `did` learned from a session or from peer exchange.
    pub fn learn(&mut self, did: Did, addr: SocketAddr, now: Instant) {
        let bootstrap = self.anonymous.remove(&addr).is_some_and(|e| e.bootstrap);
        let entry = self
            .by_did
            .entry(did)
            .or_insert_with(|| BookEntry::new(addr, bootstrap, now));
        entry.bootstrap |= bootstrap;
        if entry.addr != addr && !entry.dialing {
            entry.addr = addr;
            entry.failures = 0;
            entry.next_attempt = now;
        }
    }

    /// A session with `did` is up: reset its backoff.
    pub fn connected(&mut self, did: Did, now: Instant) {
        if let Some(entry) = self.by_did.get_mut(&did) {
            entry.failures = 0;
            entry.dialing = false;
            entry.next_attempt = now;
        }
    }

    /// Entries due for a dial, marked as dialing. `connected` filters out live peers.
    pub fn due(
        &mut self,
        now: Instant,
        limit: usize,
        connected: impl Fn(&Did) -> bool,
    ) -> Vec<(DialKey, SocketAddr)> {
        let mut out = Vec::new();
        for (did, entry) in &mut self.by_did {
            if out.len() >= limit {
                return out;
            }
            if !entry.dialing && entry.next_attempt <= now && !connected(did) {
                entry.dialing = true;
                out.push((DialKey::Did(*did), entry.addr));
            }
        }
        for (addr, entry) in &mut self.anonymous {
            if out.len() >= limit {
                break;
            }
            if !entry.dialing && entry.next_attempt <= now {
                entry.dialing = true;
                out.push((DialKey::Addr(*addr), *addr));
            }
        }
        out
    }

    /// A dial finished. On failure the next attempt is delayed by `min * 2^failures`, capped.
    pub fn dial_finished(
        &mut self,
        key: DialKey,
        success: bool,
        now: Instant,
        min: Duration,
        max: Duration,
    ) {
        let entry = match key {
            DialKey::Did(did) => self.by_did.get_mut(&did),
            DialKey::Addr(addr) => self.anonymous.get_mut(&addr),
        };
        let Some(entry) = entry else { return };
        entry.dialing = false;
        if success {
            entry.failures = 0;
            entry.next_attempt = now;
            return;
        }
        entry.failures = entry.failures.saturating_add(1);
        let factor = 1u32 << entry.failures.min(16).saturating_sub(1);
        entry.next_attempt = now + min.saturating_mul(factor).min(max);
        if !entry.bootstrap
            && entry.failures >= MAX_EXCHANGE_FAILURES
            && let DialKey::Did(did) = key
        {
            self.by_did.remove(&did);
        }
    }

    /// Removes a peer (e.g. its address turned out to be our own).
    pub fn forget(&mut self, key: DialKey) {
        match key {
            DialKey::Did(did) => {
                self.by_did.remove(&did);
            }
            DialKey::Addr(addr) => {
                self.anonymous.remove(&addr);
            }
        }
    }

    /// Distinct peers with a known DID and address.
    pub fn known_peers(&self) -> usize {
        self.by_did.len()
    }

    /// The address known for `did`.
    pub fn addr_of(&self, did: &Did) -> Option<SocketAddr> {
        self.by_did.get(did).map(|e| e.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let mut book = AddressBook::default();
        let t0 = Instant::now();
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        book.add_bootstrap(None, addr, t0);
        let min = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        let mut delays = Vec::new();
        for _ in 0..6 {
            let due = book.due(t0 + Duration::from_secs(3600), 10, |_| false);
            assert_eq!(due, vec![(DialKey::Addr(addr), addr)]);
            book.dial_finished(DialKey::Addr(addr), false, t0, min, max);
            delays.push(book.anonymous[&addr].next_attempt - t0);
        }
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1000, 1000]);
        // Not due before its time; bootstrap entries survive any number of failures.
        assert!(book.due(t0, 10, |_| false).is_empty());
    }

    #[test]
    fn learning_a_did_adopts_the_bootstrap_flag_and_exchange_entries_expire() {
        let mut book = AddressBook::default();
        let t0 = Instant::now();
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let did = icn_identity::Keypair::generate().did();
        book.add_bootstrap(None, addr, t0);
        book.learn(did, addr, t0);
        assert!(book.by_did[&did].bootstrap);
        assert!(book.anonymous.is_empty());

        let other = icn_identity::Keypair::generate().did();
        book.learn(other, "127.0.0.1:2".parse().unwrap(), t0);
        for _ in 0..MAX_EXCHANGE_FAILURES {
            book.dial_finished(
                DialKey::Did(other),
                false,
                t0,
                Duration::ZERO,
                Duration::ZERO,
            );
        }
        assert_eq!(book.addr_of(&other), None);
        assert_eq!(book.known_peers(), 1);
    }
}
