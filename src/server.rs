//! The HTTPS shell: the router (built apart from serving, so tests can drive it) and
//! the TLS accept loop with graceful shutdown.

use crate::admission::{self, Endpoint};
use crate::capabilities::CapabilityStore;
use crate::cluster::ClusterRegions;
use crate::core::Policy;
use crate::idle::IdleTimeout;
use crate::metrics::{KindLabels, Metrics, ReasonLabels, ReloadResult};
use crate::tls::{self, Reload, ReloadingCert};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The API server never sends more than 3 MiB in one request.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// What one connection may take from the server, and how long shutdown may last.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A client that has not finished its TLS handshake by then is dropped.
    pub handshake_timeout: Duration,
    /// A client that has not sent its request headers by then is dropped (slowloris).
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves for this long is closed (both protocols).
    pub idle_timeout: Duration,
    /// Streams one HTTP/2 connection may have open; the API server needs few.
    pub max_concurrent_streams: u32,
    /// After the listener closes, how long in-flight requests may take.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            max_concurrent_streams: 250,
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

pub struct AppState {
    pub policy: Policy,
    pub store: Arc<CapabilityStore>,
    pub metrics: Arc<Metrics>,
    /// Cluster API regions, with `--cluster-api-regions`.
    pub cluster_regions: Option<Arc<ClusterRegions>>,
    ready: AtomicBool,
}

impl AppState {
    pub fn new(policy: Policy, store: Arc<CapabilityStore>, metrics: Arc<Metrics>) -> Self {
        AppState {
            policy,
            store,
            metrics,
            cluster_regions: None,
            ready: AtomicBool::new(true),
        }
    }

    /// Cluster API objects take their region from `regions` when it knows it.
    pub fn with_cluster_regions(mut self, regions: Arc<ClusterRegions>) -> Self {
        self.cluster_regions = Some(regions);
        self
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
}

/// The HTTPS routes: the two webhooks and the probes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/validate", post(validate))
        .merge(probes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The plain-HTTP routes of the metrics port: metrics and the probes the kubelet calls.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .merge(probes())
        .with_state(state)
}

fn probes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    state.metrics.observe_table(&state.store.current());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// Polls the certificate files and reloads them when they change.
pub fn spawn_cert_reloader(
    cert: Arc<ReloadingCert>,
    every: Duration,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    record_not_after(&cert, &metrics);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match cert.reload() {
                Ok(Reload::Unchanged) => {}
                Ok(Reload::Reloaded) => {
                    tracing::info!("serving certificate reloaded");
                    metrics.record_reload(ReloadResult::Success);
                    record_not_after(&cert, &metrics);
                }
                Err(err) => {
                    tracing::error!(error = %err, "serving certificate not reloaded; keeping the one in use");
                    metrics.record_reload(ReloadResult::Failure);
                }
            }
        }
    })
}

fn record_not_after(cert: &ReloadingCert, metrics: &Metrics) {
    if let Some(not_after) = tls::not_after_unix(&cert.current_cert()) {
        metrics.tls_expiry.set(not_after);
    }
}

async fn mutate(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(Endpoint::Mutate, &state, body)
}

async fn validate(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(Endpoint::Validate, &state, body)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        "ok".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
    }
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The decision is pure CPU work of microseconds: it runs inline, never waiting.
fn answer(endpoint: Endpoint, state: &AppState, body: Result<Bytes, BytesRejection>) -> Response {
    let metrics = &state.metrics;
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            tracing::warn!(endpoint = endpoint.as_str(), %status, "request body rejected");
            let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "too_large"
            } else {
                "unreadable_body"
            };
            metrics
                .bad_requests
                .get_or_create(&ReasonLabels { reason })
                .inc();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!(
                    "the body is over the {} MiB limit",
                    MAX_BODY_BYTES / (1024 * 1024)
                )
            } else {
                rejection.body_text()
            };
            return json(status, admission::error_body(&message));
        }
    };
    match admission::answer(
        endpoint,
        &body,
        &state.policy,
        &state.store,
        state.cluster_regions.as_deref(),
    ) {
        Ok(answered) => {
            if answered.capability_check_skipped {
                metrics
                    .capability_check_skips
                    .get_or_create(&KindLabels {
                        kind: admission::kind_label(answered.kind),
                    })
                    .inc();
            }
            metrics.record_admission(
                endpoint,
                answered.kind,
                answered.operation,
                answered.outcome,
                answered.duration,
            );
            json(StatusCode::OK, answered.body)
        }
        Err(bad) => {
            tracing::warn!(endpoint = endpoint.as_str(), reason = bad.reason(), error = %bad, "bad admission request");
            metrics
                .bad_requests
                .get_or_create(&ReasonLabels {
                    reason: bad.reason(),
                })
                .inc();
            json(
                StatusCode::BAD_REQUEST,
                admission::error_body(&bad.to_string()),
            )
        }
    }
}

fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        // Bounds the resets a client may cause (HTTP/2 rapid reset, CVE-2023-44487).
        .max_pending_accept_reset_streams(Some(20))
        .max_local_error_reset_streams(Some(1024));
    builder
}

/// Serves `app` over TLS on `listener` until `shutdown` completes, then lets in-flight
/// requests finish for up to the shutdown grace.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()>,
    limits: Limits,
) {
    let acceptor = TlsAcceptor::from(tls);
    let builder = connection_builder(&limits);
    let (handshake_timeout, idle_timeout) = (limits.handshake_timeout, limits.idle_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small answers go out at once: without this, Nagle's algorithm holds the end of
        // a response until the peer's delayed ACK, up to 40 ms on Linux.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, error = %err, "could not set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, error = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let connection = builder
                .serve_connection(TokioIo::new(IdleTimeout::new(tls, idle_timeout)), service)
                .into_owned();
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    let grace = limits.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace,
            "shutdown grace elapsed with requests still in flight"
        );
    }
}
