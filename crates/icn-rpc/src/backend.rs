//! The node side of the API: what the server asks, and the errors it may get back.

use std::future::Future;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::types::{DialResult, ErrorBody, PeerInfo, StatusInfo};

/// What a node implements to be driven over RPC.
///
/// Methods take `&self` and may run concurrently: the server calls them from many requests at
/// once. Each call should answer promptly (the client gives up after its request timeout), so
/// long operations such as a dial must be bounded by the backend.
pub trait RpcBackend: Send + Sync + 'static {
    /// The node's identity, version, uptime and connectivity.
    fn status(&self) -> impl Future<Output = Result<StatusInfo, RpcError>> + Send;

    /// Peers with an open session.
    fn peers(&self) -> impl Future<Output = Result<Vec<PeerInfo>, RpcError>> + Send;

    /// Opens (or reuses) a session with `target` (`did:icn:...@host:port` or `host:port`).
    fn dial(&self, target: String) -> impl Future<Output = Result<DialResult, RpcError>> + Send;
}

/// Why a call failed; each variant maps to one HTTP status, and its text becomes
/// [`ErrorBody::error`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The request is wrong (malformed target, bad body): 400.
    #[error("{0}")]
    BadRequest(String),
    /// The thing asked about does not exist: 404.
    #[error("{0}")]
    NotFound(String),
    /// The node cannot do this now (e.g. no identity, so no network): 503.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure inside the node: 500.
    #[error("{0}")]
    Internal(String),
}

impl RpcError {
    /// The HTTP status this error is answered with.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for RpcError {
    fn into_response(self) -> Response {
        if let Self::Internal(message) = &self {
            tracing::warn!(error = %message, "rpc call failed inside the node");
        }
        error_response(self.status_code(), self.to_string())
    }
}

/// A JSON [`ErrorBody`] answer with `status`.
pub(crate) fn error_response(status: StatusCode, error: String) -> Response {
    (status, Json(ErrorBody { error })).into_response()
}
