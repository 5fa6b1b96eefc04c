//! Topic-based pull gossip for ICN: a pure protocol state machine, its actor and its store.
//!
//! Filled by the gossip issue; today it holds no code.
//!
//! # Layout
//! - [`reconcile`]: range-based set reconciliation of entry ids, pure, used by anti-entropy.

pub mod reconcile;
