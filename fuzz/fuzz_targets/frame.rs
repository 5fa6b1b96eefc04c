//! Fuzz target `frame`: the body is `icn_net::fuzzing::frame`, which a bounded test also runs in CI.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| icn_net::fuzzing::frame(data));
