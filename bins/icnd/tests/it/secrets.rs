//! No secret ever reaches the logs: a node initialised, run and driven at trace level with
//! JSON logs, whose output is then searched for the passphrase, the RPC and metrics tokens and
//! the identity's secret key in every usual text encoding.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use icn_identity::Keystore;
use icn_testkit::process::IcndProcess;

use crate::icnd;
use crate::{ctl, init};

#[test]
fn secrets_never_appear_in_trace_logs() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("n1");
    let passphrase = "pass-7f3a91c2e05b48d6a1";
    let metrics_token = "mtok-c8e21d90b7aa4f13";
    let password_file = root.path().join("pass");
    std::fs::write(&password_file, passphrase).unwrap();
    let token_file = root.path().join("metrics-token");
    std::fs::write(&token_file, metrics_token).unwrap();
    let mut logs = String::new();
    logs.push_str(&init(&dir, &password_file));

    let pw = password_file.to_str().unwrap();
    let mt = token_file.to_str().unwrap();
    let mut node = IcndProcess::start(
        icnd(),
        &dir,
        &[
            "--password-file",
            pw,
            "--metrics-token-file",
            mt,
            "--log-format",
            "json",
            "--log-level",
            "trace",
        ],
    )
    .unwrap();
    // RPC calls with the token, and scrapes with the metrics token (and a wrong one).
    ctl(&dir, &["status"]);
    ctl(&dir, &["publish", "news", "hello"]);
    ctl(&dir, &["currency", "create", "HOUR", "--limit", "10"]);
    let addr = node.metrics_addr().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("http://{addr}/metrics");
        for token in [metrics_token, "wrong-token"] {
            client.get(&url).bearer_auth(token).send().await.unwrap();
        }
    });
    node.signal(nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = node.wait_exit(std::time::Duration::from_secs(10)).unwrap();
    assert!(status.success(), "{status}");
    logs.push_str(&node.stderr());

    // The logs are real: JSON lines covering the whole run. (At trace level they hold every
    // event of the icn crates; quinn and rustls log through the `log` crate, which is not
    // bridged into tracing, so they never reach these logs at all.)
    let json_lines = logs
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count();
    assert!(json_lines >= 5, "only {json_lines} JSON log lines:\n{logs}");
    for expected in ["node started", "serving the control API", "stopped"] {
        assert!(logs.contains(expected), "no {expected:?} line:\n{logs}");
    }

    let rpc_token = std::fs::read_to_string(dir.join("rpc.token")).unwrap();
    let keypair = Keystore::load(&Keystore::path_in(&dir), passphrase.as_bytes()).unwrap();
    let secret = keypair.secret_bytes();
    let mut secrets: Vec<(String, String)> = vec![
        ("passphrase".into(), passphrase.into()),
        ("metrics token".into(), metrics_token.into()),
        ("rpc token".into(), rpc_token.trim().into()),
        ("secret key (hex)".into(), hex(&secret[..])),
        ("secret key (HEX)".into(), hex(&secret[..]).to_uppercase()),
        (
            "secret key (base58)".into(),
            bs58::encode(&secret[..]).into_string(),
        ),
        (
            "secret key (byte list)".into(),
            format!("{:?}", &secret[..]),
        ),
    ];
    for (name, engine) in [
        ("base64", &STANDARD),
        ("base64 unpadded", &STANDARD_NO_PAD),
        ("base64url", &URL_SAFE),
        ("base64url unpadded", &URL_SAFE_NO_PAD),
    ] {
        secrets.push((format!("secret key ({name})"), engine.encode(&secret[..])));
    }
    // A prefix is enough to count as a leak (a secret may be cut or escaped at its end).
    for (name, value) in &secrets {
        let probe = &value[..value.len().min(16)];
        assert!(!probe.is_empty());
        assert!(!logs.contains(probe), "the {name} appears in the logs");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
