//! The HTTPS shell: the routes (built apart from serving, so tests can drive them), the
//! accept loop and its limits (`listener`), TLS and its reloader (`tls`), the idle
//! timeout (`idle`). Each review is answered inline: the decision is microseconds of
//! CPU and never waits.

mod idle;
pub mod listener;
pub mod tls;

pub use listener::{Limits, serve};

use crate::admission::{self, Endpoint, Webhook};
use crate::metrics::{KindLabels, Metrics, ReasonLabels, kind_label};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The API server never sends more than 3 MiB in one request.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

pub struct AppState {
    pub webhook: Webhook,
    pub metrics: Arc<Metrics>,
    ready: AtomicBool,
}

impl AppState {
    pub fn new(webhook: Webhook, metrics: Arc<Metrics>) -> Self {
        AppState {
            webhook,
            metrics,
            ready: AtomicBool::new(true),
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
}

/// The HTTPS routes: the two webhooks and the probes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/mutate",
            post(|state, body| async move { admit(Endpoint::Mutate, state, body) }),
        )
        .route(
            "/validate",
            post(|state, body| async move { admit(Endpoint::Validate, state, body) }),
        )
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
    state.metrics.observe_table(&state.webhook.store.current());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
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

/// One webhook call: the review answered, or a 4xx saying why not; counted either way.
fn admit(
    endpoint: Endpoint,
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let metrics = &state.metrics;
    let refused = |status: StatusCode, reason: &'static str, message: &str| {
        tracing::warn!(endpoint = endpoint.as_str(), %status, reason, error = message, "bad admission request");
        metrics
            .bad_requests
            .get_or_create(&ReasonLabels { reason })
            .inc();
        json(status, admission::error_body(message))
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let message = format!(
                "the body is over the {} MiB limit",
                MAX_BODY_BYTES / (1024 * 1024)
            );
            return refused(rejection.status(), "too_large", &message);
        }
        Err(rejection) => {
            return refused(
                rejection.status(),
                "unreadable_body",
                &rejection.body_text(),
            );
        }
    };
    match state.webhook.answer(endpoint, &body) {
        Ok(answer) => {
            if answer.capability_check_skipped {
                metrics
                    .capability_check_skips
                    .get_or_create(&KindLabels {
                        kind: kind_label(answer.kind),
                    })
                    .inc();
            }
            metrics.record_admission(
                endpoint,
                answer.kind,
                answer.operation,
                answer.outcome,
                answer.duration,
            );
            json(StatusCode::OK, answer.body)
        }
        Err(bad) => refused(StatusCode::BAD_REQUEST, bad.reason(), &bad.to_string()),
    }
}
