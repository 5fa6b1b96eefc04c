//! The floor of the throughput scenario: the work that delivering one entry to every receiver
//! costs whatever the implementation, measured in this process right after the raw quinn
//! baseline, so that a throughput result can be set against the best any implementation of
//! the same guarantees could reach on this machine at that moment.
//!
//! Per entry of `S` bytes delivered to `R` receivers, the unavoidable work is:
//! - the transport: `R · S` bytes over QUIC, at the CPU per byte the raw quinn baseline used
//!   (sender and receiver together);
//! - at the author: the entry's id (blake3 over the entry) and its signature;
//! - at each receiver: the id again and the signature's check ([`Entry::verify`]);
//! - at every node, author included: writing the entry to a file and syncing it (one
//!   `fdatasync` per [`SYNC_EVERY`] entries, as a group commit would).
//!
//! Nothing else counts: no framing, no copies between layers, no database, no scheduling. The
//! floor ratio is `R · S · quinn cost per byte ÷ that total`: the throughput ratio to raw quinn
//! an implementation doing only this work would have if it got the cores the baseline got.
//! Every cost is CPU time: the process's, over tight loops run after the cluster is shut down
//! (so the process does nothing else); the time a sync waits for the disk is not work. The
//! check is timed in batches of [`BATCH`] entries, as ICN checks what one message carries.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use icn_gossip::entry::SIGNING_DOMAIN;
use icn_gossip::{Entry, EntryLimits, GossipMessage, IdentifiedEntry, Topic};
use icn_identity::Keypair;
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
}

/// Measures the floor for entries of `size` bytes delivered to `receivers` nodes, each cost
/// timed for about `budget`; `quinn` is the baseline measured just before (`quinn_bytes` sent).
/// The write is timed in a fresh file under `dir`, removed afterwards.
///
/// # Errors
/// When the file cannot be written or synced, or the entries cannot be built.
pub fn measure(
    size: usize,
    receivers: usize,
    quinn: &Baseline,
    quinn_bytes: usize,
    budget: Duration,
    dir: &Path,
) -> anyhow::Result<Floor> {
    let keypair = Keypair::generate();
    let topic = Topic::new("bench/floor")?;
    let now_ms = 1;
    let entry = IdentifiedEntry::sign(&keypair, topic, now_ms, vec![0x5A; size])
        .into_parts()
        .0;
    let limits = EntryLimits {
        max_payload_bytes: size.max(1),
        ..EntryLimits::default()
    };
    let sign_us = mean_cpu_us(8, budget, || {
        let id = std::hint::black_box(&entry).id();
        let mut message = SIGNING_DOMAIN.to_vec();
        message.extend_from_slice(id.as_bytes());
        std::hint::black_box(keypair.sign(&message));
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
    let transport_us = quinn.cpu_seconds / quinn_bytes.max(1) as f64 * size as f64 * 1e6;
    let r = receivers as f64;
    let total_us = r * transport_us + sign_us + store_us + r * (verify_us + store_us);
    Ok(Floor {
        sign_us,
        verify_us,
        store_us,
        transport_us,
        ratio: (transport_us > 0.0).then(|| r * transport_us / total_us),
    })
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

/// Mean cost of appending `entry`'s encoding (as a one-entry push, a few bytes more than the
/// stored form) to a fresh file, with its share of one `fdatasync` per [`SYNC_EVERY`] writes.
fn store_us(entry: &Entry, budget: Duration, dir: &Path) -> anyhow::Result<f64> {
    let bytes = icn_gossip::encode(&GossipMessage::Push {
        entries: vec![entry.clone()],
        pushed_to: Vec::new(),
    })?;
    let file: File = tempfile::tempfile_in(dir)?;
    let mut offset = 0u64;
    let per_group = mean_cpu_us(1, budget, || {
        for _ in 0..SYNC_EVERY {
            file.write_all_at(&bytes, offset)?;
            offset += bytes.len() as u64;
        }
        file.sync_data()?;
        Ok(())
    })?;
    Ok(per_group / SYNC_EVERY as f64)
}
