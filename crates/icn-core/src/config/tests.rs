use std::collections::HashMap;
use std::io::Write;

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn file_with(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

#[test]
fn defaults() {
    let config = NodeConfig::load_with_env(None, env_of(&[]), &ConfigOverrides::default()).unwrap();
    assert_eq!(config, NodeConfig::default());
    assert_eq!(config.metrics.addr.to_string(), "127.0.0.1:9090");
    assert_eq!(config.metrics.path, "/metrics");
    assert_eq!(config.metrics.refresh_interval, Duration::from_secs(10));
    assert!(config.metrics.enabled);
}

#[test]
fn precedence_defaults_file_env_flags() {
    let file = file_with(
        r#"
        data_dir = "/from/file"
        [metrics]
        addr = "127.0.0.1:1111"
        path = "/file-metrics"
        refresh_interval = "3s"
        [log]
        format = "json"
        level = "debug"
        "#,
    );
    // File over defaults.
    let from_file =
        NodeConfig::load_with_env(Some(file.path()), env_of(&[]), &ConfigOverrides::default())
            .unwrap();
    assert_eq!(from_file.data_dir, PathBuf::from("/from/file"));
    assert_eq!(from_file.metrics.addr.to_string(), "127.0.0.1:1111");
    assert_eq!(from_file.metrics.path, "/file-metrics");
    assert_eq!(from_file.metrics.refresh_interval, Duration::from_secs(3));
    assert_eq!(from_file.log.format, LogFormat::Json);
    assert_eq!(from_file.log.level.as_deref(), Some("debug"));

    // Env over file, key by key: what env does not set stays from the file.
    let env = env_of(&[
        ("ICN_METRICS_ADDR", "127.0.0.1:2222"),
        ("ICN_METRICS_ENABLED", "false"),
        ("ICN_LOG_FORMAT", "pretty"),
    ]);
    let from_env =
        NodeConfig::load_with_env(Some(file.path()), &env, &ConfigOverrides::default()).unwrap();
    assert_eq!(from_env.metrics.addr.to_string(), "127.0.0.1:2222");
    assert!(!from_env.metrics.enabled);
    assert_eq!(from_env.log.format, LogFormat::Pretty);
    assert_eq!(from_env.metrics.path, "/file-metrics");

    // Flags over env.
    let flags = ConfigOverrides {
        metrics_addr: Some("127.0.0.1:3333".parse().unwrap()),
        metrics_path: Some("/flag".into()),
        log_format: Some(LogFormat::Json),
        ..Default::default()
    };
    let from_flags = NodeConfig::load_with_env(Some(file.path()), &env, &flags).unwrap();
    assert_eq!(from_flags.metrics.addr.to_string(), "127.0.0.1:3333");
    assert_eq!(from_flags.metrics.path, "/flag");
    assert_eq!(from_flags.log.format, LogFormat::Json);
    // Not overridden by a flag: env value stays.
    assert!(!from_flags.metrics.enabled);
    assert_eq!(from_flags.data_dir, PathBuf::from("/from/file"));
}

#[test]
fn unknown_key_in_file_is_an_error_naming_it() {
    let file = file_with("[metrics]\nadress = \"127.0.0.1:9\"\n");
    let err = NodeConfig::load_with_env(Some(file.path()), env_of(&[]), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("adress"), "{err}");
    assert!(err.contains(&file.path().display().to_string()), "{err}");

    let file = file_with("colour = \"blue\"\n");
    let err = NodeConfig::load_with_env(Some(file.path()), env_of(&[]), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn bad_values_are_errors_naming_their_source() {
    let err = NodeConfig::load_with_env(
        None,
        env_of(&[("ICN_METRICS_ADDR", "not-an-addr")]),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("ICN_METRICS_ADDR"), "{err}");

    let err = NodeConfig::load_with_env(
        None,
        env_of(&[("ICN_METRICS_ENABLED", "maybe")]),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("ICN_METRICS_ENABLED"), "{err}");

    let err = NodeConfig::load_with_env(
        None,
        env_of(&[("ICN_LOG_FORMAT", "xml")]),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("xml"), "{err}");

    let file = file_with("[metrics]\nrefresh_interval = \"0s\"\n");
    let err = NodeConfig::load_with_env(Some(file.path()), env_of(&[]), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("refresh_interval"), "{err}");

    let missing = NodeConfig::load_with_env(
        Some(Path::new("/nonexistent/icn.toml")),
        env_of(&[]),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(missing.contains("/nonexistent/icn.toml"), "{missing}");
}

#[test]
fn env_table_matches_published_list() {
    let listed: Vec<&str> = ENV_TABLE.iter().map(|(v, ..)| *v).collect();
    assert_eq!(listed, ENV_VARS);
    // Every variable maps to a key the config actually has.
    let defaults = toml::Table::try_from(NodeConfig {
        log: LogConfig {
            level: Some("info".into()),
            ..Default::default()
        },
        network: NetConfig {
            advertise: Some("127.0.0.1:1".parse().unwrap()),
            ..Default::default()
        },
        metrics: MetricsConfig {
            token_file: Some("/t".into()),
            tls_cert: Some("/c".into()),
            tls_key: Some("/k".into()),
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    for (var, section, key, _) in ENV_TABLE {
        let present = if section.is_empty() {
            defaults.contains_key(*key)
        } else {
            defaults[*section].as_table().unwrap().contains_key(*key)
        };
        assert!(present, "{var} maps to unknown key {section}.{key}");
    }
}

#[test]
fn network_settings_from_env_and_flags() {
    let env = env_of(&[
        ("ICN_NETWORK_BOOTSTRAP", "127.0.0.1:1, 127.0.0.1:2"),
        ("ICN_NETWORK_MAX_PEERS", "7"),
        ("ICN_NETWORK_LISTEN", "127.0.0.1:0"),
    ]);
    let config = NodeConfig::load_with_env(None, &env, &Default::default()).unwrap();
    assert_eq!(config.network.bootstrap, vec!["127.0.0.1:1", "127.0.0.1:2"]);
    assert_eq!(config.network.max_peers, 7);
    let flags = ConfigOverrides {
        bootstrap: vec!["127.0.0.1:3".into()],
        listen: Some("127.0.0.1:9".parse().unwrap()),
        ..Default::default()
    };
    let config = NodeConfig::load_with_env(None, &env, &flags).unwrap();
    assert_eq!(config.network.bootstrap, vec!["127.0.0.1:3"]);
    assert_eq!(config.network.listen.port(), 9);
    let err = NodeConfig::load_with_env(
        None,
        env_of(&[("ICN_NETWORK_BOOTSTRAP", "nonsense")]),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("nonsense"), "{err}");
    let err = NodeConfig::load_with_env(
        None,
        env_of(&[("ICN_NETWORK_MAX_PEERS", "many")]),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("ICN_NETWORK_MAX_PEERS"), "{err}");
}

#[test]
fn metrics_security_settings_layer_like_the_rest() {
    let defaults = NodeConfig::default();
    assert_eq!(defaults.metrics.token_file, None);
    assert!(!defaults.metrics.auth_all);
    assert_eq!(defaults.metrics.tls_files(), None);

    let file = file_with(
        r#"
        [metrics]
        token_file = "/file/token"
        tls_cert = "/file/cert.pem"
        tls_key = "/file/key.pem"
        "#,
    );
    let from_file =
        NodeConfig::load_with_env(Some(file.path()), env_of(&[]), &Default::default()).unwrap();
    assert_eq!(
        from_file.metrics.token_file,
        Some(PathBuf::from("/file/token"))
    );
    assert_eq!(
        from_file.metrics.tls_files(),
        Some(icn_obs::TlsFiles {
            cert: "/file/cert.pem".into(),
            key: "/file/key.pem".into(),
        })
    );
    assert!(!from_file.metrics.auth_all);

    let env = env_of(&[
        ("ICN_METRICS_TOKEN_FILE", "/env/token"),
        ("ICN_METRICS_AUTH_ALL", "true"),
        ("ICN_METRICS_TLS_CERT", "/env/cert.pem"),
    ]);
    let from_env = NodeConfig::load_with_env(Some(file.path()), &env, &Default::default()).unwrap();
    assert_eq!(
        from_env.metrics.token_file,
        Some(PathBuf::from("/env/token"))
    );
    assert!(from_env.metrics.auth_all);
    assert_eq!(
        from_env.metrics.tls_cert,
        Some(PathBuf::from("/env/cert.pem"))
    );
    assert_eq!(
        from_env.metrics.tls_key,
        Some(PathBuf::from("/file/key.pem"))
    );

    let flags = ConfigOverrides {
        metrics_token_file: Some("/flag/token".into()),
        metrics_tls_cert: Some("/flag/cert.pem".into()),
        metrics_tls_key: Some("/flag/key.pem".into()),
        ..Default::default()
    };
    let from_flags = NodeConfig::load_with_env(Some(file.path()), &env, &flags).unwrap();
    assert_eq!(
        from_flags.metrics.token_file,
        Some(PathBuf::from("/flag/token"))
    );
    assert_eq!(
        from_flags.metrics.tls_files(),
        Some(icn_obs::TlsFiles {
            cert: "/flag/cert.pem".into(),
            key: "/flag/key.pem".into(),
        })
    );

    let flag_only = ConfigOverrides {
        metrics_token_file: Some("/flag/token".into()),
        metrics_auth_all: true,
        ..Default::default()
    };
    let config = NodeConfig::load_with_env(None, env_of(&[]), &flag_only).unwrap();
    assert!(config.metrics.auth_all);
}

#[test]
fn half_a_tls_pair_or_auth_all_without_token_is_an_error_naming_the_keys() {
    for env in [
        env_of(&[("ICN_METRICS_TLS_CERT", "/c.pem")]),
        env_of(&[("ICN_METRICS_TLS_KEY", "/k.pem")]),
    ] {
        let err = NodeConfig::load_with_env(None, env, &Default::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("metrics.tls_cert") && err.contains("metrics.tls_key"),
            "{err}"
        );
    }
    let flags = ConfigOverrides {
        metrics_tls_key: Some("/k.pem".into()),
        ..Default::default()
    };
    let err = NodeConfig::load_with_env(None, env_of(&[]), &flags)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--metrics-tls-cert"), "{err}");

    let err = NodeConfig::load_with_env(
        None,
        env_of(&[("ICN_METRICS_AUTH_ALL", "yes")]),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("auth_all") && err.contains("token_file"),
        "{err}"
    );
    let err = NodeConfig::load_with_env(
        None,
        env_of(&[("ICN_METRICS_AUTH_ALL", "sometimes")]),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("ICN_METRICS_AUTH_ALL"), "{err}");
}

#[test]
fn mdns_is_off_by_default_and_layers_like_the_rest() {
    assert!(!NodeConfig::default().network.mdns);
    assert!(NodeConfig::default().network.mdns_interfaces.is_empty());

    let file = file_with("[network]\nmdns = true\nmdns_interfaces = [\"eth1\"]\n");
    let from_file =
        NodeConfig::load_with_env(Some(file.path()), env_of(&[]), &Default::default()).unwrap();
    assert!(from_file.network.mdns);
    assert_eq!(from_file.network.mdns_interfaces, vec!["eth1"]);

    let env = env_of(&[
        ("ICN_NETWORK_MDNS", "true"),
        ("ICN_NETWORK_MDNS_INTERFACES", "eth0, wlan0"),
    ]);
    let from_env = NodeConfig::load_with_env(None, &env, &Default::default()).unwrap();
    assert!(from_env.network.mdns);
    assert_eq!(from_env.network.mdns_interfaces, vec!["eth0", "wlan0"]);

    let flags = ConfigOverrides {
        mdns: true,
        mdns_interfaces: vec!["veth0".into()],
        ..Default::default()
    };
    let from_flags = NodeConfig::load_with_env(None, &env, &flags).unwrap();
    assert_eq!(from_flags.network.mdns_interfaces, vec!["veth0"]);
    let flag_only = NodeConfig::load_with_env(None, env_of(&[]), &flags).unwrap();
    assert!(flag_only.network.mdns);

    let err = NodeConfig::load_with_env(
        None,
        env_of(&[("ICN_NETWORK_MDNS", "maybe")]),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("ICN_NETWORK_MDNS"), "{err}");
    let err = NodeConfig::load_with_env(
        None,
        env_of(&[("ICN_NETWORK_MDNS_INTERFACES", "eth0")]),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("network.mdns_interfaces needs network.mdns"),
        "{err}"
    );
    let err = NodeConfig::load_with_env(
        None,
        env_of(&[
            ("ICN_NETWORK_MDNS", "1"),
            ("ICN_NETWORK_MDNS_INTERFACES", "a-name-much-too-long"),
        ]),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("a-name-much-too-long"), "{err}");
}
