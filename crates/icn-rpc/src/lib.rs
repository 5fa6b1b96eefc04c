//! Local control API of an ICN node and the typed client `icnctl` uses.
//!
//! Filled by the network/RPC issue; today it holds no code.
