//! Binding, runtime files and shutdown.

use std::time::Duration;

use icn_obs::NodeMetrics;
use icn_rpc::{
    ADDR_FILE, ClientError, RpcClient, RpcServer, RpcServerError, RpcToken, TOKEN_FILE,
    write_addr_file,
};

use crate::backend::{TestBackend, fixed_status};
use crate::harness::Harness;

#[tokio::test]
async fn shutdown_completes_and_the_node_is_then_not_running() {
    let h = Harness::start().await;
    let client = h.client();
    // Keep a pooled keep-alive connection open across the shutdown.
    client.status().await.unwrap();
    let addr = h.addr;
    h.stop().await;

    let err = client.status().await.unwrap_err();
    assert!(matches!(err, ClientError::NotRunning { .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("node not running at {addr}"));
}

#[tokio::test]
async fn a_port_clash_names_the_address() {
    let h = Harness::start().await;
    let err = RpcServer::bind(
        h.addr,
        RpcToken::generate(),
        NodeMetrics::new().unwrap().rpc().clone(),
        std::sync::Arc::new(TestBackend::default()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RpcServerError::Bind { addr, .. } if addr == h.addr));
    assert!(err.to_string().contains(&h.addr.to_string()), "{err}");
    h.stop().await;
}

#[cfg(unix)]
#[test]
fn token_file_is_private_and_64_hex() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let token = RpcToken::generate();
    let path = token.write_to(dir.path()).unwrap();
    assert_eq!(path, dir.path().join(TOKEN_FILE));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let text = std::fs::read_to_string(&path).unwrap();
    let hex = text.trim_end();
    assert_eq!(hex.len(), 64);
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(RpcToken::read(&path).unwrap(), token);

    // Replacing an old, world-readable token keeps the new file private.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    RpcToken::generate().write_to(dir.path()).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode after replace {mode:o}");
}

#[tokio::test]
async fn a_client_finds_the_node_through_its_data_dir() {
    let h = Harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_addr_file(dir.path(), h.addr).unwrap();
    h.token.write_to(dir.path()).unwrap();
    assert!(dir.path().join(ADDR_FILE).exists());

    let client = RpcClient::from_data_dir(dir.path(), None, None).unwrap();
    assert_eq!(client.addr(), h.addr);
    assert_eq!(client.status().await.unwrap(), fixed_status());
    h.stop().await;
}

#[tokio::test]
async fn a_refused_connection_is_not_running() {
    // Bind then drop, so nothing listens on the port.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = RpcClient::new(addr, RpcToken::generate())
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let err = client.peers().await.unwrap_err();
    assert_eq!(err.to_string(), format!("node not running at {addr}"));
}
