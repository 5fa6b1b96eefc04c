//! QUIC transport for ICN: identity-bound mutual TLS, length-prefixed frames, sessions and discovery.
//!
//! Filled by the network issue; today it holds no code.
