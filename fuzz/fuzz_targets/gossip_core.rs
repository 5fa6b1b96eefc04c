//! Fuzz target `gossip_core`: the body is `icn_gossip::fuzzing::core_session`, which a bounded test also runs in CI.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| icn_gossip::fuzzing::core_session(data));
