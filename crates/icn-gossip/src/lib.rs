//! Topic-based pull gossip for ICN: entries, the wire messages, a pure protocol state machine
//! and the set reconciliation it uses for anti-entropy.
//!
//! # Layout
//! - [`topic`]: [`Topic`], a validated topic name.
//! - [`entry`]: signed [`Entry`]s, content-addressed [`EntryId`]s and the checks every entry
//!   passes ([`RejectReason`] is the closed set of rejection labels).
//! - [`message`]: [`GossipMessage`] and its bounded bincode codec.
//! - [`proto`]: [`GossipCore`], the sans-IO state machine (inputs in, outputs out, time
//!   passed in).
//! - [`reconcile`]: range-based set reconciliation of entry ids, pure, used by anti-entropy.
//! - [`store`]: the redb store of entries, per-topic index and joined topics.
//! - [`db_file`]: a redb file verified before use, its failures counted, reopened after an I/O
//!   failure (shared with the ledger store).
//! - [`actor`]: [`GossipActor`] and [`GossipHandle`]: the core with the network, the store
//!   (group commit) and local subscribers around it.
//! - `fuzzing` (hidden): the fuzz harness of the core, shared with a bounded test in CI.

pub mod actor;
pub mod db_file;
pub mod entry;
#[doc(hidden)]
pub mod fuzzing;
pub mod message;
mod payload_bytes;
pub mod proto;
pub mod reconcile;
pub mod store;
pub mod topic;

pub use actor::{GossipActor, GossipError, GossipHandle, Subscription, SubscriptionEvent};
pub use entry::{Entry, EntryId, EntryLimits, IdentifiedEntry, RejectReason};
/// Identity types that appear in this crate's API.
pub use icn_identity::{Did, Keypair, Signature};
pub use message::{DecodeError, EncodeError, GossipMessage, decode, encode};
pub use proto::{GossipConfig, GossipCore, Input, Output, Source};
pub use store::{GossipStore, StoreError, WriteMode};
pub use topic::{Topic, TopicError};
