//! Fuzz harness body for configuration loading, shared by the cargo-fuzz target in `fuzz/` and
//! the bounded test that runs in CI. Not a stable API.
//!
//! [`config`] reads arbitrary bytes as a TOML file followed, after the first NUL byte, by
//! `NAME=value` lines for the `ICN_*` variables. Loading must return a configuration or a
//! [`crate::CoreError::Config`], never panic; a configuration that loads must survive a
//! round trip through its own TOML serialization.

use std::path::Path;

use crate::config::{ConfigOverrides, ENV_VARS, NodeConfig};

/// Runs one input; see the module documentation.
pub fn config(data: &[u8]) {
    let (file, env) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(file) = std::str::from_utf8(file) else {
        return;
    };
    let env = String::from_utf8_lossy(env);
    let vars: Vec<(&str, &str)> = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(name, _)| ENV_VARS.contains(name))
        .collect();
    let lookup = |name: &str| {
        vars.iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    };
    let path = Path::new("fuzz.toml");
    let overrides = ConfigOverrides::default();
    let Ok(loaded) = NodeConfig::load_from_text(Some((file, path)), lookup, &overrides) else {
        return;
    };
    let text = match toml::to_string(&loaded) {
        Ok(text) => text,
        Err(e) => panic!("a loaded configuration does not serialize: {e}"),
    };
    match NodeConfig::load_from_text(Some((&text, path)), |_| None, &overrides) {
        Ok(again) => assert_eq!(again, loaded, "configuration changed in a round trip"),
        Err(e) => panic!("a loaded configuration does not load again: {e}\n{text}"),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// TOML-ish lines: real keys with plausible and hostile values, and junk.
    fn line() -> impl Strategy<Value = String> {
        let keys = prop::sample::select(vec![
            "data_dir",
            "listen",
            "max_peers",
            "max_frame_bytes",
            "keep_alive",
            "idle_timeout",
            "bootstrap",
            "addr",
            "enabled",
            "level",
            "format",
            "topics",
            "anti_entropy_interval",
            "max_clock_skew_ms",
            "max_memo_bytes",
            "token_file",
            "unknown_key",
        ]);
        let values = prop::sample::select(vec![
            "0",
            "1",
            "-1",
            "18446744073709551615",
            "99999999999999999999",
            "true",
            "\"5s\"",
            "\"0s\"",
            "\"1000000000000000h\"",
            "\"127.0.0.1:0\"",
            "\"[::1]:7777\"",
            "\"not an address\"",
            "\"json\"",
            "[\"icn/ledger\", \"\"]",
            "[\"did:icn:zzz@127.0.0.1:1\"]",
            "{}",
            "1.5",
            "\"\\u0000\"",
        ]);
        let sections = prop::sample::select(vec![
            "[network]",
            "[metrics]",
            "[rpc]",
            "[gossip]",
            "[ledger]",
            "[log]",
            "[[network]]",
            "[bogus]",
        ]);
        prop_oneof![
            (keys, values).prop_map(|(k, v)| format!("{k} = {v}")),
            sections.prop_map(str::to_owned),
            "\\PC{0,20}",
        ]
    }

    fn input() -> impl Strategy<Value = Vec<u8>> {
        let env = prop::collection::vec(
            (
                prop::sample::select(crate::config::ENV_VARS.to_vec()),
                "\\PC{0,12}",
            ),
            0..3,
        );
        (prop::collection::vec(line(), 0..10), env).prop_map(|(lines, env)| {
            let mut data = lines.join("\n").into_bytes();
            data.push(0);
            for (name, value) in env {
                data.extend_from_slice(format!("{name}={value}\n").as_bytes());
            }
            data
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The fuzz harness over generated TOML and environments.
        #[test]
        fn config_harness(data in input()) {
            super::config(&data);
        }
    }
}
