//! Mutual-credit ledger for ICN: a deterministic state machine over signed ops, its actor and storage.
//!
//! Filled by the ledger issue; today it holds no code.
