//! The HTTP listener: router, authentication, RED metrics and shutdown (handlers: `handlers`).
//!
//! Request path, outermost first: `observe` (metrics, on every request including rejected and
//! unrouted ones) → `authorize` (bearer token) → the route's handler, or the JSON 404/405
//! fallbacks. Both middlewares are added with `Router::layer`, so they run after routing and see
//! the matched route, which [`routes::method_for`] turns into the `method` label.
//!
//! # Metrics of streamed answers
//! A request's RED span ends with its answer's head: `observe` counts it, records its duration
//! and leaves `icn_rpc_active_requests` when the handler returns the response, before any body is
//! sent. For the ordinary JSON calls the body follows at once. For `GET /v1/watch` the head goes
//! out as soon as the backend has accepted the watch, so the request counts as `ok` then, its
//! duration is the time to open the stream, and an open stream does not hold the active gauge up
//! (otherwise every running `icnctl subscribe` would look like a stuck request and put hour-long
//! samples in the latency histogram). A watch the backend refuses counts as its error status.
//!
//! # Shutdown
//! [`RpcServer::serve`] stops accepting, ends open watch streams (their bodies never end by
//! themselves, and graceful shutdown waits for every body), and lets other requests finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use icn_obs::LabelValue;
use icn_obs::labels::{RpcMethod, RpcStatus};
use icn_obs::registry::RpcMetrics;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::backend::{RpcBackend, error_response};
use crate::handlers::{AppState, endpoint};
use crate::routes;
use crate::token::RpcToken;

/// A bound (not yet serving) RPC listener.
pub struct RpcServer {
    listener: TcpListener,
    router: Router,
    local_addr: SocketAddr,
    /// Shared with the handlers; cancelled when serving stops, to end open watch streams.
    streams: CancellationToken,
}

impl std::fmt::Debug for RpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Why the RPC listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum RpcServerError {
    /// The address could not be bound (for example, the port is in use).
    #[error("cannot bind the RPC listener on {addr}")]
    Bind {
        /// The address we tried to bind.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl RpcServer {
    /// Binds the listener at once, so a port clash is reported before the node starts anything
    /// else, with the address in the message.
    ///
    /// The API is meant for local use; binding a non-loopback address is allowed (the token still
    /// guards every call, but travels in clear text) and logged as a warning.
    ///
    /// # Errors
    /// [`RpcServerError::Bind`] when the address cannot be bound.
    pub async fn bind<B: RpcBackend>(
        addr: SocketAddr,
        token: RpcToken,
        metrics: RpcMetrics,
        backend: Arc<B>,
    ) -> Result<Self, RpcServerError> {
        let bind_err = |source| RpcServerError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        if !local_addr.ip().is_loopback() {
            tracing::warn!(
                addr = %local_addr,
                "RPC listener is not on a loopback address; the token travels unencrypted"
            );
        }
        let streams = CancellationToken::new();
        let state = AppState {
            backend,
            streams: streams.clone(),
        };
        Ok(Self {
            listener,
            router: router(token, metrics, state),
            local_addr,
            streams,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, ends open watch streams and
    /// lets in-flight requests finish.
    ///
    /// # Errors
    /// The accept loop's IO error.
    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        // However serving ends, no watch stream outlives it.
        let _end_streams = self.streams.clone().drop_guard();
        let streams = self.streams;
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move {
                shutdown.cancelled().await;
                streams.cancel();
            })
            .await
    }
}

/// The full application: one route per [`RpcMethod`], JSON fallbacks, then the middlewares.
fn router<B: RpcBackend>(token: RpcToken, metrics: RpcMetrics, state: AppState<B>) -> Router {
    let mut api = Router::new();
    for &method in RpcMethod::ALL {
        if let (Some(path), Some(endpoint)) = (routes::path(method), endpoint::<B>(method)) {
            api = api.route(path, endpoint);
        }
    }
    api.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        // Layers added later run first: `observe` wraps `authorize`.
        .layer(middleware::from_fn_with_state(Arc::new(token), authorize))
        .layer(middleware::from_fn_with_state(Arc::new(metrics), observe))
}

/// Counts the request by method and outcome, times it and tracks it as in flight.
async fn observe(State(metrics): State<Arc<RpcMetrics>>, request: Request, next: Next) -> Response {
    let method = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(RpcMethod::Unknown, |route| {
            routes::method_for(route.as_str())
        });
    let _in_flight = InFlight::enter(&metrics);
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.requests.inc(method, classify(response.status()));
    metrics
        .duration
        .get(method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Lets the request through only with `Authorization: Bearer <the token>`.
async fn authorize(State(token): State<Arc<RpcToken>>, request: Request, next: Next) -> Response {
    match bearer(request.headers()) {
        Some(candidate) if token.verify(candidate) => next.run(request).await,
        presented => {
            let reason = if presented.is_some() {
                "invalid RPC token"
            } else {
                "missing bearer token (Authorization: Bearer <contents of rpc.token>)"
            };
            let mut response = error_response(StatusCode::UNAUTHORIZED, reason.to_string());
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            response
        }
    }
}

/// The credentials of an `Authorization: Bearer ...` header (scheme case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

/// The `status` label of an answer.
fn classify(status: StatusCode) -> RpcStatus {
    if status == StatusCode::UNAUTHORIZED {
        RpcStatus::Unauthorized
    } else if status.is_server_error() {
        RpcStatus::ServerError
    } else if status.is_client_error() {
        RpcStatus::ClientError
    } else {
        RpcStatus::Ok
    }
}

/// Holds the in-flight gauge up while alive; dropping it (also when the client disconnects and
/// the request future is dropped) brings it back down.
struct InFlight<'a>(&'a RpcMetrics);

impl<'a> InFlight<'a> {
    fn enter(metrics: &'a RpcMetrics) -> Self {
        metrics.active.increment(1.0);
        Self(metrics)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.active.decrement(1.0);
    }
}

async fn not_found(request: Request) -> Response {
    let message = format!("no RPC method at {}", request.uri().path());
    error_response(StatusCode::NOT_FOUND, message)
}

async fn method_not_allowed(request: Request) -> Response {
    let message = format!(
        "{} is not allowed on {}",
        request.method(),
        request.uri().path()
    );
    error_response(StatusCode::METHOD_NOT_ALLOWED, message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn classify_maps_status_classes() {
        assert_eq!(classify(StatusCode::OK), RpcStatus::Ok);
        assert_eq!(classify(StatusCode::UNAUTHORIZED), RpcStatus::Unauthorized);
        assert_eq!(classify(StatusCode::BAD_REQUEST), RpcStatus::ClientError);
        assert_eq!(classify(StatusCode::NOT_FOUND), RpcStatus::ClientError);
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE),
            RpcStatus::ServerError
        );
    }

    #[test]
    fn bearer_parses_scheme_case_insensitively() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}
