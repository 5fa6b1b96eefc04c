//! Fuzz target `wire_message`: the body is `icn_net::fuzzing::wire_message`, which a bounded test also runs in CI.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| icn_net::fuzzing::wire_message(data));
