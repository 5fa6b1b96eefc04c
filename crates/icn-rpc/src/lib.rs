//! Local control API of an ICN node (HTTP+JSON on `127.0.0.1:7778`) and the typed client
//! `icnctl` uses.
//!
//! Every request carries `Authorization: Bearer <token>`, where the token is a random secret the
//! node writes to `<data-dir>/rpc.token` (mode 0600) at start, like bitcoind's cookie file; the
//! bound address goes to `<data-dir>/rpc.addr`, so a client only needs the data directory. The
//! node side is the [`RpcBackend`] trait; the server only routes, authenticates, records the RED
//! metrics (`icn_rpc_*`, handles from `icn-obs`) and turns [`RpcError`]s into JSON error bodies.
//!
//! Calls: node (status, peers, dial), gossip (publish, entries, subscribe, unsubscribe, topics,
//! and the streaming watch, NDJSON) and ledger (currency, credit limit, pay, balance, history,
//! digest); [`routes`] lists their paths.
//!
//! # Layout
//! - [`types`]: the request and response bodies, shared by server and client.
//! - [`backend`]: [`RpcBackend`], what the node implements, and [`RpcError`], what it may return.
//! - [`routes`]: the one table of paths and their metric label ([`icn_obs::labels::RpcMethod`]).
//! - [`server`]: [`RpcServer`]: bind, router, authentication and metrics middleware, shutdown.
//! - `handlers` (private): one handler per method: decode, check, call the backend.
//! - [`watch`]: the NDJSON watch stream, both ends; [`EntryStream`] is the client's reader.
//! - [`client`]: [`RpcClient`], the typed client, and [`ClientError`].
//! - [`token`]: [`RpcToken`]: generation, the 0600 token file, constant-time verification.
//! - [`files`]: atomic private writes of runtime files and the `rpc.addr` file.

pub mod backend;
pub mod client;
pub mod files;
mod handlers;
pub mod routes;
pub mod server;
pub mod token;
pub mod types;
pub mod watch;

pub use backend::{RpcBackend, RpcError};
pub use client::{ClientError, RpcClient};
pub use files::{ADDR_FILE, AddrFileError, FileError, read_addr_file, write_addr_file};
pub use server::{RpcServer, RpcServerError};
pub use token::{RpcToken, TOKEN_FILE, TokenError};
pub use types::{
    BalanceInfo, BalanceQuery, CreditLimitRequest, CurrencyRequest, DEFAULT_ENTRIES_LIMIT,
    DialRequest, DialResult, DigestInfo, EntriesQuery, EntryInfo, ErrorBody, HistoryItem,
    HistoryQuery, MAX_ENTRIES_LIMIT, OpResult, PayRequest, PayResult, PeerInfo, PublishRequest,
    PublishResult, StatusInfo, TopicInfo, TopicRequest, TopicResult,
};
pub use watch::EntryStream;
