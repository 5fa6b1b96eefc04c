//! The floor of the throughput scenario: the work that delivering one entry to every receiver
//! costs whatever the implementation, measured in this process right after the raw quinn
//! baseline, so that a throughput result can be set against the best any implementation of
//! the same guarantees could reach on this machine at that moment.
//!
//! Per entry of `S` bytes delivered to `R` receivers, the unavoidable work is:
//! - the transport: `R · S` bytes over QUIC, at the CPU per byte the raw quinn baseline used
//!   (sender and receiver together);
//! - at the author: the entry's id (blake3 over the entry) and its signature;
//! - at each receiver: the entry's limits, the id again and its share of a batch signature
//!   check ([`Entry::check_signatures_where`] over [`BATCH`] entries);
//! - at every node, author included: writing the entry to a file as the stores write it (a
//!   large entry in whole pages past the page cache where the filesystem allows) and syncing
//!   it (one `fdatasync` per [`SYNC_EVERY`] entries, as a group commit would).
//!
//! Nothing else counts: no framing, no copies between layers, no database, no scheduling. The
//! floor ratio is `R · S · quinn cost per byte ÷ that total`: the throughput ratio to raw quinn
//! an implementation doing only this work would have if it got the cores the baseline got.
//! Every cost is CPU time: the process's, over tight loops run after the cluster is shut down
//! (so the process does nothing else); the time a sync waits for the disk is not work.
//!
//! A second bound is the disk's: every node writes every entry, so a sustained stream cannot
//! deliver more than `R / (R + 1)` of what the disk takes in, written as the stores write
//! large entries and synced (`disk_mb_per_s`, one file written and synced; the cluster's
//! nodes share that disk).

use std::path::Path;
use std::time::{Duration, Instant};

use icn_gossip::db_file::direct::{ALIGN, DirectWrites, MIN_DIRECT_WRITE};
use icn_gossip::entry::signing_message;
use icn_gossip::{Entry, EntryLimits, GossipMessage, Topic};
use icn_identity::Keypair;
use redb::StorageBackend as _;
use serde::Serialize;

use crate::quinn_baseline::Baseline;
use crate::stats::process_cpu_seconds;

/// Entries written between two syncs of the floor's file.
pub const SYNC_EVERY: usize = 64;
/// Entries whose signatures are checked as one batch.
pub const BATCH: usize = 64;

/// The unavoidable costs of delivering one entry, and the throughput ratio they allow.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Floor {
    /// The author's work per entry (id and signature), microseconds.
    pub sign_us: f64,
    /// A receiver's check of an entry (limits, id, and its share of a batch signature check),
    /// microseconds.
    pub verify_us: f64,
    /// Writing an entry to a file, with its share of a sync, microseconds.
    pub store_us: f64,
    /// Moving one entry's bytes to one receiver over raw quinn (CPU), microseconds.
    pub transport_us: f64,
    /// The best throughput ratio to raw quinn that this work allows (see the module's docs);
    /// `None` when the baseline used less than one 10 ms clock tick of CPU.
    pub ratio: Option<f64>,
    /// What the disk takes in, written as the stores write large entries (past the page
    /// cache where the filesystem allows) and synced, MB (10^6 bytes) per second.
    pub disk_mb_per_s: f64,
    /// The best throughput ratio to raw quinn that the disk allows a sustained stream:
    /// `disk_mb_per_s · R / (R + 1) / quinn_mb_per_s`.
    pub disk_ratio: f64,
}

/// Measures the floor for entries of `size` bytes delivered to `receivers` nodes, each cost
/// timed for about `budget`; `quinn` is the baseline measured just before, and
/// `disk_mb_per_s` what [`disk_mb_per_s`] measured in this run. The write is timed in a fresh
/// file in a temporary directory under `dir`. Blocks the calling thread for about three `budget`s.
///
/// # Errors
/// When the file cannot be written or synced, or the entries cannot be built.
pub fn measure(
    size: usize,
    receivers: usize,
    quinn: &Baseline,
    budget: Duration,
    disk_mb_per_s: f64,
    dir: &Path,
) -> anyhow::Result<Floor> {
    let keypair = Keypair::generate();
    let topic = Topic::new("bench/floor")?;
    let now_ms = 1;
    let entry = Entry::sign(&keypair, topic, now_ms, vec![0x5A; size]);
    let limits = EntryLimits {
        max_payload_bytes: size.max(1),
        ..EntryLimits::default()
    };
    let sign_us = mean_cpu_us(8, budget, || {
        let id = std::hint::black_box(&entry).id();
        std::hint::black_box(keypair.sign(&signing_message(&id)));
        Ok(())
    })?;
    // The entries and their ids, built once; each timed call limits-checks and hashes every
    // entry again, then checks the signatures as one batch.
    let batch = vec![(entry.clone(), entry.id()); BATCH];
    let batch_us = mean_cpu_us(1, budget, || {
        for (entry, _) in std::hint::black_box(&batch) {
            entry
                .check_limits(&limits, now_ms)
                .map_err(|reason| anyhow::anyhow!("the floor's entry fails its check: {reason}"))?;
            std::hint::black_box(entry.id());
        }
        let checks = Entry::check_signatures_where(&batch, |_, _| true);
        anyhow::ensure!(
            checks.iter().all(|c| matches!(c, Some(Ok(())))),
            "the floor's entries fail their signature check"
        );
        Ok(())
    })?;
    let verify_us = batch_us / BATCH as f64;
    let store_us = store_us(&entry, budget, dir)?;
    let transport_us = quinn.cpu_seconds_per_byte() * size as f64 * 1e6;
    let r = receivers as f64;
    let mut floor = Floor {
        sign_us,
        verify_us,
        store_us,
        transport_us,
        ratio: None,
        disk_mb_per_s,
        disk_ratio: disk_mb_per_s * r / (r + 1.0) / quinn.mb_per_s,
    };
    floor.ratio = floor.bound(receivers);
    Ok(floor)
}

impl Floor {
    /// The share of the floor's work per entry that is transport, with `receivers` receivers:
    /// `None` when the transport cost nothing measurable.
    fn bound(&self, receivers: usize) -> Option<f64> {
        let r = receivers as f64;
        let transport = r * self.transport_us;
        let total = transport + self.sign_us + self.store_us + r * (self.verify_us + self.store_us);
        (self.transport_us > 0.0).then(|| transport / total)
    }
}

/// Mean process CPU time of `f`, microseconds, over as many calls as fit in `budget` of
/// wall time (at least `min_calls`). 0 when the calls used less than one 10 ms clock tick.
fn mean_cpu_us(
    min_calls: u32,
    budget: Duration,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<f64> {
    let (started, cpu_before) = (Instant::now(), process_cpu_seconds()?);
    let mut calls = 0u32;
    while calls < min_calls || started.elapsed() < budget {
        f()?;
        calls += 1;
    }
    Ok((process_cpu_seconds()? - cpu_before) * 1e6 / f64::from(calls))
}

/// Mean cost of storing `entry`'s encoding (as a one-entry push, a few bytes more than the
/// stored form) in a fresh file, the way the stores write (through
/// [`DirectWrites`]: an entry of at least [`MIN_DIRECT_WRITE`] bytes fills whole pages,
/// written past the page cache where the filesystem allows; smaller ones are appended
/// through it), with its share of one `fdatasync` per [`SYNC_EVERY`] writes.
fn store_us(entry: &Entry, budget: Duration, dir: &Path) -> anyhow::Result<f64> {
    let mut bytes = icn_gossip::encode(&GossipMessage::Push {
        entries: vec![entry.clone()],
        pushed_to: Vec::new(),
    })?;
    if bytes.len() >= MIN_DIRECT_WRITE {
        bytes.resize(bytes.len().next_multiple_of(ALIGN), 0);
    }
    let dir = tempfile::tempdir_in(dir)?;
    let file = DirectWrites::open(&dir.path().join("store"))?;
    let mut offset = 0u64;
    let per_group = mean_cpu_us(1, budget, || {
        for _ in 0..SYNC_EVERY {
            file.write(offset, &bytes)?;
            offset += bytes.len() as u64;
        }
        file.sync_data()?;
        Ok(())
    })?;
    Ok(per_group / SYNC_EVERY as f64)
}

/// Writes `total` bytes in 1 MiB writes to a fresh file under `dir` and syncs it: MB per
/// second, first write to the end of the sync. The writes go as the stores' large writes do
/// (past the page cache where the filesystem allows, [`DirectWrites`]). The same for every
/// entry size, so measured once per run.
///
/// # Errors
/// When the file cannot be written or synced.
pub fn disk_mb_per_s(total: usize, dir: &Path) -> anyhow::Result<f64> {
    const CHUNK: usize = 1024 * 1024;
    let chunk = vec![0xA5u8; CHUNK];
    let dir = tempfile::tempdir_in(dir)?;
    let file = DirectWrites::open(&dir.path().join("disk"))?;
    let total = total.next_multiple_of(ALIGN);
    let started = Instant::now();
    let mut offset = 0usize;
    while offset < total {
        let n = CHUNK.min(total - offset);
        file.write(offset as u64, &chunk[..n])?;
        offset += n;
    }
    file.sync_data()?;
    Ok(crate::stats::mb_per_s(total as u64, started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_the_transports_share_of_every_nodes_work() {
        let floor = |sign_us, verify_us, store_us, transport_us| Floor {
            sign_us,
            verify_us,
            store_us,
            transport_us,
            ratio: None,
            disk_mb_per_s: 0.0,
            disk_ratio: 0.0,
        };
        // Nothing but transport: the baseline itself.
        assert_eq!(floor(0.0, 0.0, 0.0, 100.0).bound(3), Some(1.0));
        // 3 × 100 transport against 10 sign + 4 × 20 store + 3 × 30 check = 480 in all.
        let bound = floor(10.0, 30.0, 20.0, 100.0).bound(3).expect("a bound");
        assert!((bound - 300.0 / 480.0).abs() < 1e-12, "{bound}");
        assert_eq!(floor(10.0, 30.0, 20.0, 0.0).bound(3), None);
    }
}
