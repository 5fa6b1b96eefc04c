//! Fuzz target `config`: the body is `icn_core::fuzzing::config`, which a bounded test also runs in CI.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| icn_core::fuzzing::config(data));
