//! `icnd run` flags that secure the metrics listener: token file and TLS files.

use icn_testkit::process::IcndProcess;

use crate::{icnd, run_expecting_exit};

#[test]
fn missing_tls_cert_exits_non_zero_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("missing-cert.pem");
    let key = dir.path().join("missing-key.pem");
    let (ok, stderr) = run_expecting_exit(
        &dir.path().join("n1"),
        &[
            "--metrics-tls-cert".as_ref(),
            cert.as_os_str(),
            "--metrics-tls-key".as_ref(),
            key.as_os_str(),
        ],
    );
    assert!(!ok, "{stderr}");
    assert!(stderr.contains(&cert.display().to_string()), "{stderr}");
    // Nothing was left listening: the failure came before the listener was bound.
    assert!(!dir.path().join("n1").join("metrics.addr").exists());

    // Half a pair is a configuration error naming both keys.
    let (ok, stderr) = run_expecting_exit(
        &dir.path().join("n2"),
        &["--metrics-tls-cert".as_ref(), cert.as_os_str()],
    );
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("tls_cert") && stderr.contains("tls_key"),
        "{stderr}"
    );
}

#[test]
fn token_file_flag_guards_the_page_and_loose_mode_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "flag-token\n").unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let token_arg = token_file.to_str().unwrap();
    let node = IcndProcess::start(
        icnd(),
        &dir.path().join("n1"),
        &["--metrics-token-file", token_arg],
    )
    .unwrap();
    let stderr = node.stderr();
    assert!(stderr.contains("chmod 600"), "{stderr}");
    let addr = node.metrics_addr().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (without, with, health) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("http://{addr}/metrics");
        let without = client.get(&url).send().await.unwrap().status().as_u16();
        let with = client
            .get(&url)
            .bearer_auth("flag-token")
            .send()
            .await
            .unwrap();
        let health = client
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        (without, with.text().await.unwrap(), health)
    });
    assert_eq!(without, 401);
    assert!(
        with.contains("icn_obs_scrape_duration_seconds_count"),
        "{with}"
    );
    assert_eq!(health, 200);

    // An empty token file stops start-up, naming the file.
    let empty = dir.path().join("empty-token");
    std::fs::write(&empty, "").unwrap();
    let (ok, stderr) = run_expecting_exit(
        &dir.path().join("n2"),
        &["--metrics-token-file".as_ref(), empty.as_os_str()],
    );
    assert!(!ok, "{stderr}");
    assert!(stderr.contains(&empty.display().to_string()), "{stderr}");
}
