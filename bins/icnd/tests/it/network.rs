//! The README flow with real processes: `icnd init`, two `icnd run`, `icnctl peers` on each.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use icn_testkit::process::IcndProcess;

use crate::icnd;

fn icnctl() -> PathBuf {
    let path = icnd().with_file_name("icnctl");
    assert!(
        path.exists(),
        "{} is missing: run the workspace tests (cargo nextest run --workspace)",
        path.display()
    );
    path
}

fn init(dir: &Path, password: &Path) -> String {
    let output = Command::new(icnd())
        .args(["init", "--data-dir"])
        .arg(dir)
        .arg("--password-file")
        .arg(password)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn peers_json(dir: &Path) -> serde_json::Value {
    let output = Command::new(icnctl())
        .args(["--json", "--data-dir"])
        .arg(dir)
        .arg("peers")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
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
    let n2 =
        IcndProcess::start(icnd(), &dir2, &["--password-file", pw, "--bootstrap", &bootstrap])
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
        assert!(Instant::now() < deadline, "nodes did not connect:\n{}\n{}", n1.stderr(), n2.stderr());
        std::thread::sleep(Duration::from_millis(100));
    }

    // A wrong passphrase refuses to start, and says so.
    let wrong = root.path().join("wrong");
    std::fs::write(&wrong, "nope").unwrap();
    let output = Command::new(icnd())
        .args(["run", "--metrics-addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0", "--data-dir"])
        .arg(&dir1)
        .arg("--password-file")
        .arg(&wrong)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("wrong passphrase"));
}
