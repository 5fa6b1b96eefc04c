//! Hostile peers: impersonation, foreign key types, garbage and oversized frames.
