//! The node's HTTP listener: `/metrics` (Prometheus text format), `/health` (JSON), `/ready`.
//!
//! We serve HTTP ourselves (axum) instead of using the exporter's listener because a node serves
//! more than one route and, in an in-process cluster, one listener per node.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ObsError;
use crate::health::NodeStatus;
use crate::registry::NodeMetrics;

/// Content type of the Prometheus text exposition format 0.0.4.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Reserved routes that the metrics path may not shadow.
const RESERVED_PATHS: &[&str] = &["/health", "/ready", "/healthz"];

/// Where and how to serve.
#[derive(Clone, Debug)]
pub struct MetricsServerConfig {
    /// Listen address.
    pub addr: SocketAddr,
    /// Path of the Prometheus page, e.g. `/metrics`.
    pub path: String,
}

/// A bound (not yet serving) metrics listener.
pub struct MetricsServer {
    listener: TcpListener,
    router: Router,
    local_addr: SocketAddr,
}

#[derive(Clone)]
struct AppState {
    metrics: NodeMetrics,
    status: Arc<dyn NodeStatus>,
}

impl MetricsServer {
    /// Binds the listener. Binding happens here, before any actor starts, so a port clash is
    /// reported at once with the address in the message.
    ///
    /// # Errors
    /// [`ObsError::Bind`] when the address cannot be bound, [`ObsError::BadPath`] for a bad path.
    pub async fn bind(
        config: &MetricsServerConfig,
        metrics: NodeMetrics,
        status: Arc<dyn NodeStatus>,
    ) -> Result<Self, ObsError> {
        if !config.path.starts_with('/') || RESERVED_PATHS.contains(&config.path.as_str()) {
            return Err(ObsError::BadPath(config.path.clone()));
        }
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| ObsError::Bind {
                addr: config.addr,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| ObsError::Bind {
            addr: config.addr,
            source,
        })?;
        let state = AppState { metrics, status };
        let router = Router::new()
            .route(&config.path, get(metrics_handler))
            .route("/health", get(health_handler))
            .route("/ready", get(ready_handler))
            .route("/healthz", get(liveness_handler))
            .fallback(not_found)
            .with_state(state);
        Ok(Self {
            listener,
            router,
            local_addr,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` is cancelled.
    ///
    /// # Errors
    /// The underlying accept loop's IO error.
    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    }
}

async fn metrics_handler(State(state): State<AppState>) -> Response {
    // Rendering sorts and formats every series: keep it off the async workers.
    let rendered = tokio::task::spawn_blocking(move || {
        state.status.refresh_gauges();
        state.metrics.render()
    })
    .await;
    match rendered {
        Ok(body) => ([(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics render task failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "render failed\n").into_response()
        }
    }
}

async fn health_handler(State(state): State<AppState>) -> Response {
    axum::Json(state.status.health()).into_response()
}

async fn ready_handler(State(state): State<AppState>) -> Response {
    let readiness = state.status.readiness();
    let code = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(readiness)).into_response()
}

/// Liveness: the process answers HTTP. Says nothing about peers or storage (that is `/ready`).
async fn liveness_handler() -> &'static str {
    "ok\n"
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}
