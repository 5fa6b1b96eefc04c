//! The metrics listener's access controls on a real in-process node: bearer token, `auth_all`,
//! HTTPS with the test's own CA, start-up errors for unusable files, and the scrape timer.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use icn_core::{Node, NodeConfig};
use icn_testkit::Metrics;
use icn_testkit::pki::TestPki;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "correct-horse-battery-staple";

/// The harness's test config (loopback, port 0) with a 100 ms gauge refresh.
fn config(dir: &tempfile::TempDir) -> NodeConfig {
    let mut config = icn_testkit::cluster::test_config(dir.path().join("data")).unwrap();
    config.metrics.refresh_interval = Duration::from_millis(100);
    config
}

/// Writes `text` to `dir/name` with mode 0600.
fn secret_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Plain-HTTP GET with an optional bearer token: status, `WWW-Authenticate`, body.
async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, Option<String>, String) {
    let mut request = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    (status, challenge, response.text().await.unwrap())
}

fn scrape_count(page: &str) -> f64 {
    Metrics::parse(page)
        .unwrap()
        .histogram("icn_obs_scrape_duration_seconds")
        .unwrap()
        .count
}

#[tokio::test]
async fn token_guards_the_page_but_not_the_probes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.metrics.token_file = Some(secret_file(dir.path(), "token", &format!("{TOKEN}\n")));
    let node = Node::start(config, None).await.unwrap();
    let addr = node.metrics_addr().unwrap();

    let (status, challenge, body) = get(addr, "/metrics", None).await;
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"icn-metrics\""));
    assert!(!body.contains("icn_"), "{body}");
    for wrong in [
        "wrong",
        "correct-horse-battery-stapl",
        "correct-horse-battery-staple2",
    ] {
        assert_eq!(get(addr, "/metrics", Some(wrong)).await.0, 401, "{wrong}");
    }
    let (status, _, body) = get(addr, "/metrics", Some(TOKEN)).await;
    assert_eq!(status, 200);
    let page = Metrics::parse(&body).unwrap();
    assert_eq!(page.value("icn_system_actors_active"), Some(0.0));

    // Probes stay open: /health and /ready answer (503: no identity), /healthz too.
    let (status, _, body) = get(addr, "/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["status"],
        "degraded"
    );
    assert_eq!(get(addr, "/ready", None).await.0, 503);
    assert_eq!(get(addr, "/healthz", None).await.0, 200);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn auth_all_guards_health_and_ready_but_never_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.metrics.token_file = Some(secret_file(dir.path(), "token", TOKEN));
    config.metrics.auth_all = true;
    let node = Node::start(config, None).await.unwrap();
    let addr = node.metrics_addr().unwrap();

    for path in ["/metrics", "/health", "/ready"] {
        assert_eq!(get(addr, path, None).await.0, 401, "{path}");
        assert_eq!(get(addr, path, Some("nope")).await.0, 401, "{path}");
    }
    let (status, _, body) = get(addr, "/health", Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"status\""), "{body}");
    assert_eq!(get(addr, "/ready", Some(TOKEN)).await.0, 503);
    assert_eq!(get(addr, "/metrics", Some(TOKEN)).await.0, 200);
    let (status, _, body) = get(addr, "/healthz", None).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    // Unknown paths are 404 with or without a token: the guard is per route.
    assert_eq!(get(addr, "/nope", None).await.0, 404);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn scrape_duration_counts_each_served_scrape_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.metrics.token_file = Some(secret_file(dir.path(), "token", TOKEN));
    let node = Node::start(config, None).await.unwrap();
    let addr = node.metrics_addr().unwrap();

    const SCRAPES: u32 = 5;
    for i in 0..SCRAPES {
        // Rejected requests render nothing and are not counted.
        assert_eq!(get(addr, "/metrics", None).await.0, 401);
        let (status, _, body) = get(addr, "/metrics", Some(TOKEN)).await;
        assert_eq!(status, 200);
        // A scrape's own time is recorded after its page is rendered.
        assert_eq!(scrape_count(&body), f64::from(i));
    }
    // Rendering in-process is not a scrape, and shows the last one.
    let page = Metrics::parse(&node.metrics().render()).unwrap();
    let histogram = page.histogram("icn_obs_scrape_duration_seconds").unwrap();
    assert_eq!(histogram.count, f64::from(SCRAPES));
    assert!(histogram.sum > 0.0);
    assert_eq!(histogram.buckets.last().unwrap().1, f64::from(SCRAPES));
    node.shutdown().await.unwrap();
}

/// A TLS client that trusts `ca` only.
fn tls_client(ca: &rustls::pki_types::CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// `GET path` over HTTPS as `server_name`: status and body.
async fn https_get(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    server_name: &str,
    path: &str,
    token: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(server_name.to_string()).unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {server_name}\r\n{auth}Connection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response).await {
        Ok(_) => {}
        // Some servers close without close_notify; the response is complete by then.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e),
    }
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Ok((status, body.to_string()))
}

#[tokio::test]
async fn https_with_the_tests_own_ca_and_no_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate().unwrap();
    let mut config = config(&dir);
    config.metrics.tls_cert = Some(secret_file(dir.path(), "cert.pem", &pki.cert_pem));
    config.metrics.tls_key = Some(secret_file(dir.path(), "key.pem", &pki.key_pem));
    config.metrics.token_file = Some(secret_file(dir.path(), "token", TOKEN));
    let node = Node::start(config, None).await.unwrap();
    let addr = node.metrics_addr().unwrap();
    let client = tls_client(&pki.ca_der);

    for name in ["localhost", "127.0.0.1"] {
        let (status, body) = https_get(&client, addr, name, "/metrics", Some(TOKEN))
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        let page = Metrics::parse(&body).unwrap();
        assert!(page.names().contains("icn_build_info"));
        assert!(page.histogram("icn_obs_scrape_duration_seconds").is_some());
    }
    // The token still applies over TLS, and the probes stay open.
    let (status, _) = https_get(&client, addr, "localhost", "/metrics", None)
        .await
        .unwrap();
    assert_eq!(status, 401);
    let (status, body) = https_get(&client, addr, "localhost", "/health", None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");

    // A client trusting another CA refuses the server; a name the certificate lacks too.
    let stranger = tls_client(&TestPki::generate().unwrap().ca_der);
    assert!(
        https_get(&stranger, addr, "localhost", "/metrics", Some(TOKEN))
            .await
            .is_err()
    );
    assert!(
        https_get(&client, addr, "example.org", "/metrics", Some(TOKEN))
            .await
            .is_err()
    );
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    // The listener survived the failed handshakes.
    let (status, _) = https_get(&client, addr, "localhost", "/healthz", None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    node.shutdown().await.unwrap();
}

/// A change to a test configuration.
type Tweak<'a> = Box<dyn Fn(&mut NodeConfig) + 'a>;

#[tokio::test]
async fn unusable_token_or_tls_files_fail_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate().unwrap();
    let other = TestPki::generate().unwrap();
    let cert = secret_file(dir.path(), "cert.pem", &pki.cert_pem);
    let key = secret_file(dir.path(), "key.pem", &pki.key_pem);
    let cases: Vec<(&str, Tweak<'_>, PathBuf)> = vec![
        (
            "missing token file",
            Box::new(|c| c.metrics.token_file = Some(dir.path().join("no-token"))),
            dir.path().join("no-token"),
        ),
        (
            "empty token file",
            Box::new(|c| c.metrics.token_file = Some(secret_file(dir.path(), "empty", "\n"))),
            dir.path().join("empty"),
        ),
        (
            "missing certificate",
            Box::new(|c| {
                c.metrics.tls_cert = Some(dir.path().join("no-cert.pem"));
                c.metrics.tls_key = Some(key.clone());
            }),
            dir.path().join("no-cert.pem"),
        ),
        (
            "garbage certificate",
            Box::new(|c| {
                c.metrics.tls_cert = Some(secret_file(dir.path(), "junk.pem", "not a pem\n"));
                c.metrics.tls_key = Some(key.clone());
            }),
            dir.path().join("junk.pem"),
        ),
        (
            "missing key",
            Box::new(|c| {
                c.metrics.tls_cert = Some(cert.clone());
                c.metrics.tls_key = Some(dir.path().join("no-key.pem"));
            }),
            dir.path().join("no-key.pem"),
        ),
        (
            "key of another certificate",
            Box::new(|c| {
                c.metrics.tls_cert = Some(cert.clone());
                c.metrics.tls_key = Some(secret_file(dir.path(), "other.pem", &other.key_pem));
            }),
            dir.path().join("other.pem"),
        ),
    ];
    for (what, set, named) in cases {
        let mut config = config(&dir);
        set(&mut config);
        let err = match Node::start(config, None).await {
            Ok(_) => panic!("{what}: the node started"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(&named.display().to_string()), "{what}: {err}");
    }
}
