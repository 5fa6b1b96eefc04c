//! The README flow with real processes: `icnd init`, two `icnd run`, `icnctl peers` on each.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use icn_testkit::process::IcndProcess;

use crate::{ctl, icnctl, icnd, init, run_expecting_exit};

fn peers_json(dir: &Path) -> serde_json::Value {
    ctl(dir, &["peers"])
}

/// Polls `check` every 100 ms for up to 20 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_initialised_nodes_connect_and_list_each_other() {
    let root = tempfile::tempdir().unwrap();
    let password = root.path().join("pass");
    std::fs::write(&password, "correct horse\n").unwrap();
    let (dir1, dir2) = (root.path().join("n1"), root.path().join("n2"));
    let did1 = init(&dir1, &password);
    let did2 = init(&dir2, &password);
    assert!(did1.starts_with("did:icn:"));

    // Refuses to overwrite.
    let again = Command::new(icnd())
        .args(["init", "--data-dir"])
        .arg(&dir1)
        .arg("--password-file")
        .arg(&password)
        .output()
        .unwrap();
    assert!(!again.status.success());

    let pw = password.to_str().unwrap();
    let n1 = IcndProcess::start(icnd(), &dir1, &["--password-file", pw]).unwrap();
    let p2p1 = std::fs::read_to_string(dir1.join("p2p.addr")).unwrap();
    let bootstrap = format!("{did1}@{}", p2p1.trim());
    let n2 = IcndProcess::start(
        icnd(),
        &dir2,
        &["--password-file", pw, "--bootstrap", &bootstrap],
    )
    .unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (a, b) = (peers_json(&dir1), peers_json(&dir2));
        if a.as_array().map(Vec::len) == Some(1) && b.as_array().map(Vec::len) == Some(1) {
            assert_eq!(a[0]["did"], did2.as_str());
            assert_eq!(b[0]["did"], did1.as_str());
            assert_eq!(b[0]["direction"], "outbound");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nodes did not connect:\n{}\n{}",
            n1.stderr(),
            n2.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Gossip: a subscriber on n2 sees what n1 publishes.
    let mut watcher = Command::new(icnctl())
        .args(["--json", "--data-dir"])
        .arg(&dir2)
        .args(["subscribe", "news"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watcher.stdout.take().unwrap();
    let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    // The first line answers the subscribe call: n2 now replicates "news".
    let joined = line_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(joined.contains("news"), "{joined}");
    // Publishing joins the topic on n1; n2 follows it, so n1 announces to n2.
    let published = ctl(&dir1, &["publish", "news", "hello from n1"]);
    let id = published["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let seen = loop {
        let line = line_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("subscriber saw nothing");
        if line.contains(&id) {
            break line;
        }
    };
    let entry: serde_json::Value = serde_json::from_str(&seen).unwrap();
    assert_eq!(entry["author"], did1.as_str());
    let _ = watcher.kill();
    let _ = watcher.wait();
    let stored = ctl(&dir2, &["entries", "news"]);
    assert_eq!(stored[0]["id"], id.as_str());

    // Ledger: n1 issues a currency, n2 pays n1, both report the same balances.
    ctl(&dir1, &["currency", "create", "HOUR", "--limit", "100"]);
    eventually("n2 to learn the currency", || {
        Command::new(icnctl())
            .args(["--json", "--data-dir"])
            .arg(&dir2)
            .args(["balance", "HOUR"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    ctl(&dir2, &["pay", "HOUR", &did1, "30", "--memo", "thanks"]);
    // An overspend is refused with the balance and the limit.
    let over = Command::new(icnctl())
        .args(["--data-dir"])
        .arg(&dir2)
        .args(["pay", "HOUR", &did1, "80"])
        .output()
        .unwrap();
    assert!(!over.status.success());
    let message = String::from_utf8_lossy(&over.stderr);
    assert!(
        message.contains("-30") && message.contains("100"),
        "{message}"
    );
    eventually("n1 to see the payment", || {
        ctl(&dir1, &["balance", "HOUR"])[0]["balance"] == 30
    });
    for dir in [&dir1, &dir2] {
        let b1 = ctl(dir, &["balance", "HOUR", "--account", &did1]);
        let b2 = ctl(dir, &["balance", "HOUR", "--account", &did2]);
        assert_eq!(b1[0]["balance"], 30);
        assert_eq!(b2[0]["balance"], -30);
    }
    eventually("digests to agree", || {
        ctl(&dir1, &["ledger", "digest"])["digest"] == ctl(&dir2, &["ledger", "digest"])["digest"]
    });

    // A wrong passphrase refuses to start, and says so.
    let wrong = root.path().join("wrong");
    std::fs::write(&wrong, "nope").unwrap();
    let (ok, stderr) = run_expecting_exit(&dir1, &["--password-file".as_ref(), wrong.as_os_str()]);
    assert!(!ok);
    assert!(stderr.contains("wrong passphrase"));
}

#[test]
fn kill_9_loses_no_acknowledged_op() {
    let root = tempfile::tempdir().unwrap();
    let password = root.path().join("pass");
    std::fs::write(&password, "pw").unwrap();
    let dir = root.path().join("n1");
    init(&dir, &password);
    let pw = password.to_str().unwrap();
    let mut node = IcndProcess::start(icnd(), &dir, &["--password-file", pw]).unwrap();
    ctl(&dir, &["currency", "create", "HOUR", "--limit", "1000"]);
    let payee = icn_identity::Keypair::generate().did().to_string();
    for amount in 1..=20 {
        ctl(&dir, &["pay", "HOUR", &payee, &amount.to_string()]);
    }
    ctl(&dir, &["publish", "news", "kept"]);
    let digest = ctl(&dir, &["ledger", "digest"]);
    assert_eq!(digest["applied_transfers"], 20);

    node.signal(nix::sys::signal::Signal::SIGKILL).unwrap();
    node.wait_exit(Duration::from_secs(5)).unwrap();
    let _node = IcndProcess::start(icnd(), &dir, &["--password-file", pw]).unwrap();
    assert_eq!(ctl(&dir, &["ledger", "digest"]), digest);
    let balance = ctl(&dir, &["balance", "HOUR"]);
    assert_eq!(balance[0]["balance"], -210);
    assert_eq!(
        ctl(&dir, &["entries", "news"]).as_array().map(Vec::len),
        Some(1)
    );
    // Metrics restart cleanly: counters from zero, gauges from the restored state.
    let addr = std::fs::read_to_string(dir.join("metrics.addr")).unwrap();
    let page = std::thread::spawn(move || {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            icn_testkit::scrape(addr.trim().parse().unwrap())
                .await
                .unwrap()
        })
    })
    .join()
    .unwrap();
    assert_eq!(page.get("icn_ledger_transactions_total"), 0.0);
    assert_eq!(page.get("icn_ledger_currencies_total"), 1.0);
    assert_eq!(page.get("icn_gossip_entries_total"), 22.0);
}
