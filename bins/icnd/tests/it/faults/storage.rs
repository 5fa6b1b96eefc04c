//! Damaged stores: `icnd run` must refuse to start with an error naming the file, never panic,
//! and leave the damaged file exactly as it found it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use icn_testkit::ProcessCluster;
use icn_testkit::process::IcndProcess;
use nix::sys::signal::Signal;

use super::load::{self, CURRENCY, TOPIC};
use super::runtime;
use crate::icnd;

/// Marks the payloads and memos written before the damage, so a test can find live data in
/// the file and damage exactly that.
const MARKER: &str = "MARKER-live-data-MARKER";

/// How a store file is damaged.
#[derive(Clone, Copy, Debug)]
enum Damage {
    /// Cut to half its length.
    Truncate,
    /// Pseudo-random bytes over every stored copy of the marker (live data in the middle of the
    /// file).
    OverwriteData,
    /// Pseudo-random bytes over the header's commit slots (the first 512 bytes but the magic).
    OverwriteHeader,
}

/// A few pseudo-random bytes (xorshift; the damage is the same on every run).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed.to_le_bytes()[0]
        })
        .collect()
}

fn damage(path: &Path, how: Damage) -> anyhow::Result<()> {
    let mut bytes = std::fs::read(path)?;
    match how {
        Damage::Truncate => bytes.truncate(bytes.len() / 2),
        Damage::OverwriteData => {
            // Every copy: redb writes copy-on-write, so older copies of a page may sit in freed
            // space, and damaging only the first one found may leave the live data intact.
            let copies: Vec<usize> = bytes
                .windows(MARKER.len())
                .enumerate()
                .filter(|(_, w)| *w == MARKER.as_bytes())
                .map(|(at, _)| at)
                .collect();
            anyhow::ensure!(
                !copies.is_empty(),
                "no live data marker in {}",
                path.display()
            );
            for at in copies {
                bytes[at..at + MARKER.len()]
                    .copy_from_slice(&noise(MARKER.len(), 0x9e37_79b9_7f4a_7c15));
            }
        }
        Damage::OverwriteHeader => {
            let end = bytes.len().min(512);
            let start = 16.min(end);
            bytes[start..end].copy_from_slice(&noise(end - start, 0x2545_f491_4f6c_dd1d));
        }
    }
    std::fs::write(path, bytes)?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// One node with entries and payments, stopped cleanly; returns the cluster (for its files)
/// and the node's data directory.
fn node_with_data() -> anyhow::Result<(ProcessCluster, PathBuf)> {
    let rt = runtime();
    let mut cluster = ProcessCluster::start(icnd(), 1)?;
    rt.block_on(async {
        load::setup_currency(&cluster).await?;
        let client = cluster.client(0)?;
        let payee = icn_identity::Keypair::generate().did().to_string();
        for i in 0..20 {
            client
                .publish(TOPIC, format!("{MARKER} entry {i}").into_bytes())
                .await?;
            client
                .pay(CURRENCY, payee.clone(), 1 + i, format!("{MARKER} {i}"))
                .await?;
        }
        anyhow::Ok(())
    })?;
    let status = cluster.stop(0, Signal::SIGTERM, Duration::from_secs(5))?;
    anyhow::ensure!(status.success(), "{}", cluster.all_stderr());
    let dir = cluster.node(0).data_dir.clone();
    Ok((cluster, dir))
}

#[test]
fn damaged_stores_refuse_to_start_naming_the_file_and_stay_untouched() {
    let (cluster, pristine) = node_with_data().unwrap();
    let password = cluster.password_file().display().to_string();
    let mut outcomes = Vec::new();
    for file in ["gossip.redb", "ledger.redb"] {
        for how in [
            Damage::Truncate,
            Damage::OverwriteData,
            Damage::OverwriteHeader,
        ] {
            let case = format!("{}-{how:?}", file.trim_end_matches(".redb"));
            let dir = cluster.root().join(&case);
            copy_dir(&pristine, &dir).unwrap();
            let target = dir.join(file);
            damage(&target, how).unwrap();
            let damaged = std::fs::read(&target).unwrap();

            let log = cluster.root().join(format!("{case}.stderr"));
            let mut process =
                IcndProcess::spawn_logged(icnd(), &dir, &["--password-file", &password], &log)
                    .unwrap();
            let status = process.wait_exit(Duration::from_secs(20));
            let stderr = process.stderr();
            let status = status.unwrap_or_else(|e| panic!("{case}: {e}; it started:\n{stderr}"));
            assert!(!status.success(), "{case} started:\n{stderr}");
            assert!(
                stderr.contains(&target.display().to_string()),
                "{case}: the error does not name {}:\n{stderr}",
                target.display()
            );
            assert!(!stderr.contains("panicked"), "{case} panicked:\n{stderr}");
            assert!(
                std::fs::read(&target).unwrap() == damaged,
                "{case}: the damaged file was modified"
            );
            let error = stderr
                .lines()
                .find(|l| l.contains("error"))
                .unwrap_or_default()
                .to_string();
            outcomes.push(format!("{case}: {status}: {error}"));
        }
    }
    println!("FAULTS damaged stores:\n{}", outcomes.join("\n"));
}
