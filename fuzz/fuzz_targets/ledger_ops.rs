//! Fuzz target `ledger_ops`: the body is `icn_ledger::fuzzing::ledger_ops`, which a bounded test also runs in CI.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| icn_ledger::fuzzing::ledger_ops(data));
