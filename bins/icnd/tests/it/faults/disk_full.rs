//! A full disk under one node (a small tmpfs as its data directory): writes fail cleanly and are
//! counted, the node stays up, and once space is freed writes work again with nothing lost.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use icn_rpc::ClientError;
use icn_testkit::{ProcessCluster, wait_until};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::signal::Signal;

use super::load::{self, Acked, CURRENCY, TOPIC};
use super::{runtime, wait_converged};
use crate::icnd;

/// Size of the tmpfs: room for the node's stores and some growth, small enough to fill fast.
const TMPFS_SIZE: &str = "size=24m";
/// The node on the tmpfs.
const FULL: usize = 0;
/// A node on an ordinary disk.
const ROOMY: usize = 1;

/// A tmpfs mounted for the test, unmounted (lazily, even if busy) when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        mount(
            Some("tmpfs"),
            dir.path(),
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(TMPFS_SIZE),
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot mount a tmpfs at {} ({e}): this test needs root (CAP_SYS_ADMIN) to \
                 simulate a full disk",
                dir.path().display()
            )
        })?;
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Err(e) = umount2(self.dir.path(), MntFlags::MNT_DETACH) {
            eprintln!("cannot unmount {}: {e}", self.dir.path().display());
        }
    }
}

/// Fills the file system holding `dir` with `dir/filler` until a write fails for lack of space.
fn fill(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path)?;
    for chunk in [1 << 20, 64 << 10, 4 << 10, 512] {
        let block = vec![0x5a_u8; chunk];
        loop {
            match file.write_all(&block) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
                Err(e) => return Err(e.into()),
            }
        }
    }
    // Whatever the page cache holds must reach the tmpfs now, not at some later write.
    let _ = file.sync_all();
    Ok(path)
}

/// Publishes and pays on `client` `n` times, recording what was acknowledged.
async fn write_some(
    client: &icn_rpc::RpcClient,
    payee: &str,
    n: usize,
    acked: &mut Acked,
) -> anyhow::Result<()> {
    for i in 0..n {
        let id = client
            .publish(TOPIC, format!("round {i}").into_bytes())
            .await?;
        acked.entries.insert(id.id);
        let paid = client.pay(CURRENCY, payee, 1, "").await?;
        acked.payments.insert(paid.op_id);
    }
    Ok(())
}

/// Asserts that a failed write is the node's clear refusal, not a hang or a dropped connection.
fn assert_clean_failure(what: &str, error: &ClientError, took: Duration) {
    assert!(
        matches!(
            error,
            ClientError::Server {
                status: 500..=599,
                ..
            }
        ),
        "{what}: {error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("No space left on device") || text.contains("no space"),
        "{what}: {text}"
    );
    assert!(took < Duration::from_secs(5), "{what} took {took:?}");
}

#[test]
fn a_full_disk_fails_writes_cleanly_counts_them_and_recovers() {
    let tmpfs = Tmpfs::mount().unwrap();
    let rt = runtime();
    let mut cluster = ProcessCluster::start_with(icnd(), 2, |i| {
        (i == FULL).then(|| tmpfs.path().join("node0"))
    })
    .unwrap();
    rt.block_on(cluster.wait_connected(Duration::from_secs(30)))
        .unwrap();
    rt.block_on(load::setup_currency(&cluster)).unwrap();
    let (full, roomy) = (
        cluster.client(FULL).unwrap(),
        cluster.client(ROOMY).unwrap(),
    );
    let (did_full, did_roomy) = (
        cluster.node(FULL).did.clone(),
        cluster.node(ROOMY).did.clone(),
    );
    let mut acked = vec![Acked::default(), Acked::default()];
    rt.block_on(write_some(&full, &did_roomy, 10, &mut acked[FULL]))
        .unwrap();

    let filler = fill(tmpfs.path()).unwrap();
    let (mut publish_failures, mut pay_failures, mut attempts) = (0, 0, 0);
    rt.block_on(async {
        // A commit may still fit in pages the store file already owns: try until several fail.
        while (publish_failures < 3 || pay_failures < 3) && attempts < 100 {
            attempts += 1;
            let started = Instant::now();
            match full.publish(TOPIC, format!("while full {attempts}")).await {
                Ok(r) => {
                    acked[FULL].entries.insert(r.id);
                }
                Err(e) => {
                    assert_clean_failure("publish", &e, started.elapsed());
                    publish_failures += 1;
                }
            }
            let started = Instant::now();
            match full.pay(CURRENCY, did_roomy.clone(), 1, "").await {
                Ok(r) => {
                    acked[FULL].payments.insert(r.op_id);
                }
                Err(e) => {
                    assert_clean_failure("pay", &e, started.elapsed());
                    pay_failures += 1;
                }
            }
        }
        // The other node keeps writing; the full node cannot store what it receives.
        write_some(&roomy, &did_full, 10, &mut acked[ROOMY]).await
    })
    .unwrap();
    assert!(
        publish_failures >= 3 && pay_failures >= 3,
        "{attempts} attempts: {publish_failures} publishes and {pay_failures} payments failed"
    );

    // Still up, still scraped, and the failures are counted by store.
    let page = rt.block_on(cluster.scrape(FULL)).unwrap();
    let counted = |store: &str| {
        page.value_with(
            "icn_system_storage_errors_total",
            &[("store", store), ("reason", "no_space")],
        )
        .unwrap_or(0.0)
    };
    assert!(
        counted("gossip") >= publish_failures as f64,
        "{}",
        page.raw()
    );
    assert!(counted("ledger") >= 1.0, "{}", page.raw());
    assert!(cluster.is_running(FULL), "{}", cluster.stderr(FULL));

    // Free the space: writes work again, and nothing acknowledged before is lost.
    std::fs::remove_file(&filler).unwrap();
    let recovered = Instant::now();
    rt.block_on(wait_until(
        Duration::from_secs(20),
        "a publish to succeed after freeing space",
        || {
            let full = full.clone();
            async move { full.publish(TOPIC, "after freeing").await.is_ok() }
        },
    ))
    .unwrap();
    let writable_after = recovered.elapsed();
    rt.block_on(write_some(&full, &did_roomy, 5, &mut acked[FULL]))
        .unwrap();
    let took = rt
        .block_on(wait_converged(&cluster, &acked, Duration::from_secs(30)))
        .unwrap();
    println!(
        "FAULTS disk full: {attempts} rounds while full, {publish_failures} publishes and \
         {pay_failures} payments refused ({} gossip, {} ledger errors counted); writable {:?} \
         after freeing; {} entries and {} payments acknowledged, all on both nodes after {took:?}",
        counted("gossip"),
        counted("ledger"),
        writable_after,
        acked.iter().map(|a| a.entries.len()).sum::<usize>(),
        acked.iter().map(|a| a.payments.len()).sum::<usize>(),
    );

    // And after a restart on the same (once full) data directory.
    let status = cluster
        .stop(FULL, Signal::SIGTERM, Duration::from_secs(5))
        .unwrap();
    assert!(status.success(), "{}", cluster.all_stderr());
    cluster.start_node(FULL).unwrap();
    rt.block_on(wait_converged(&cluster, &acked, Duration::from_secs(30)))
        .unwrap();
    drop(cluster);
    drop(tmpfs);
}
