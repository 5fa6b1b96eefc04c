//! Local control API of an ICN node (HTTP+JSON on `127.0.0.1:7778`) and the typed client
//! `icnctl` uses.
//!
//! Every request carries `Authorization: Bearer <token>`, where the token is a random secret the
//! node writes to `<data-dir>/rpc.token` (mode 0600) at start, like bitcoind's cookie file; the
//! bound address goes to `<data-dir>/rpc.addr`, so a client only needs the data directory. The
//! node side is the [`RpcBackend`] trait; the server only routes, authenticates, records the RED
//! metrics (`icn_rpc_*`, handles from `icn-obs`) and turns [`RpcError`]s into JSON error bodies.
//!
//! # Layout
//! - [`types`]: the request and response bodies, shared by server and client.
//! - [`backend`]: [`RpcBackend`], what the node implements, and [`RpcError`], what it may return.
//! - [`routes`]: the one table of paths and their metric label ([`icn_obs::labels::RpcMethod`]).
//! - [`server`]: [`RpcServer`]: bind, router, authentication and metrics middleware, handlers.
//! - [`client`]: [`RpcClient`], the typed client, and [`ClientError`].
//! - [`token`]: [`RpcToken`]: generation, the 0600 token file, constant-time verification.
//! - [`files`]: atomic private writes of runtime files and the `rpc.addr` file.

pub mod backend;
pub mod client;
pub mod files;
pub mod routes;
pub mod server;
pub mod token;
pub mod types;

pub use backend::{RpcBackend, RpcError};
pub use client::{ClientError, RpcClient};
pub use files::{ADDR_FILE, AddrFileError, FileError, read_addr_file, write_addr_file};
pub use server::{RpcServer, RpcServerError};
pub use token::{RpcToken, TOKEN_FILE, TokenError};
pub use types::{DialRequest, DialResult, ErrorBody, PeerInfo, StatusInfo};
