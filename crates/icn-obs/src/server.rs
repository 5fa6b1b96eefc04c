//! The node's HTTP listener: `/metrics` (Prometheus text format), `/health` (JSON), `/ready`.
//!
//! We serve HTTP ourselves (axum) instead of using the exporter's listener because a node serves
//! more than one route and, in an in-process cluster, one listener per node.
//!
//! # Access
//! - With a token file, the Prometheus page answers 401 unless the request carries
//!   `Authorization: Bearer <token>` ([`crate::auth`]). `/health` and `/ready` stay open (load
//!   balancers and orchestrators probe them) unless `auth_all` is set.
//! - `/healthz` (liveness) is always open: it answers `ok` and reveals nothing, and a liveness
//!   probe that needs a secret restarts healthy nodes when the secret is rotated.
//! - With TLS files, the listener speaks HTTPS only ([`crate::tls`]); plain HTTP to it fails the
//!   handshake.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ObsError;
use crate::auth::{BearerToken, require_token};
use crate::health::NodeStatus;
use crate::registry::NodeMetrics;
use crate::tls::{TlsFiles, TlsListener};

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
    /// File holding the bearer token scrapers must send; `None` leaves the listener open.
    pub token_file: Option<PathBuf>,
    /// Also require the token on `/health` and `/ready` (`/healthz` always stays open).
    pub auth_all: bool,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsFiles>,
}

impl MetricsServerConfig {
    /// Plain HTTP without a token on `addr`, serving the Prometheus page at `path`.
    pub fn new(addr: SocketAddr, path: impl Into<String>) -> Self {
        Self {
            addr,
            path: path.into(),
            token_file: None,
            auth_all: false,
            tls: None,
        }
    }
}

/// A bound (not yet serving) metrics listener.
pub struct MetricsServer {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    authenticated: bool,
    router: Router,
    local_addr: SocketAddr,
}

#[derive(Clone)]
struct AppState {
    metrics: NodeMetrics,
    status: Arc<dyn NodeStatus>,
}

impl MetricsServer {
    /// Reads the token file, loads the TLS files and binds the listener. All of it happens here,
    /// before any actor starts, so a bad file or a port clash fails start-up at once, naming the
    /// file or the address.
    ///
    /// # Errors
    /// [`ObsError::BadPath`] for a bad path, [`ObsError::TokenFile`] / [`ObsError::Tls`] naming a
    /// file that cannot be used, [`ObsError::Bind`] when the address cannot be bound.
    pub async fn bind(
        config: &MetricsServerConfig,
        metrics: NodeMetrics,
        status: Arc<dyn NodeStatus>,
    ) -> Result<Self, ObsError> {
        if !config.path.starts_with('/') || RESERVED_PATHS.contains(&config.path.as_str()) {
            return Err(ObsError::BadPath(config.path.clone()));
        }
        let token = config
            .token_file
            .as_deref()
            .map(BearerToken::from_file)
            .transpose()?;
        let tls = config
            .tls
            .as_ref()
            .map(crate::tls::server_config)
            .transpose()?;
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
        let authenticated = token.is_some();
        let router = router(config, token).with_state(AppState { metrics, status });
        Ok(Self {
            listener,
            tls,
            authenticated,
            router,
            local_addr,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether the listener speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether the Prometheus page needs the bearer token.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Serves until `shutdown` is cancelled, then lets open requests finish.
    ///
    /// # Errors
    /// The underlying accept loop's IO error.
    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let stop = shutdown.cancelled_owned();
        match self.tls {
            None => {
                axum::serve(self.listener, self.router)
                    .with_graceful_shutdown(stop)
                    .await
            }
            Some(config) => {
                axum::serve(TlsListener::new(self.listener, config), self.router)
                    .with_graceful_shutdown(stop)
                    .await
            }
        }
    }
}

/// The routes, with the token check on the Prometheus page (and on `/health` and `/ready` when
/// `auth_all`); `/healthz` is never behind the token.
fn router(config: &MetricsServerConfig, token: Option<BearerToken>) -> Router<AppState> {
    let page = Router::new().route(&config.path, get(metrics_handler));
    let status = Router::new()
        .route("/health", get(health_handler))
        .route("/ready", get(ready_handler));
    let (guarded, open) = if config.auth_all {
        (page.merge(status), Router::new())
    } else {
        (page, status)
    };
    let guarded = match token {
        Some(token) => guarded.route_layer(middleware::from_fn_with_state(token, require_token)),
        None => guarded,
    };
    guarded
        .merge(open)
        .route("/healthz", get(liveness_handler))
        .fallback(not_found)
}

async fn metrics_handler(State(state): State<AppState>) -> Response {
    // Rendering sorts and formats every series: keep it off the async workers.
    let rendered = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        state.status.refresh_gauges();
        let page = state.metrics.render();
        // Recorded after the render, so each scrape's own cost shows on the next page.
        state
            .metrics
            .obs()
            .scrape_duration
            .record(started.elapsed().as_secs_f64());
        page
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
