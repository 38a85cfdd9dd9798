//! The HTTP server (`server:` in klaxon.yaml): `/healthz`, `/readyz`, `/metrics`, the
//! alert API under `/api/` (documented by `/api/openapi.json`), acknowledge links under
//! `/ack/`, and the web console at `/`. It reads the store through a connection of its
//! own and changes things only by queuing what the pipeline applies (as the CLI does), so
//! the pipeline never waits for it.

mod ack;
mod api;
mod auth;
mod config;
mod console;
mod hosts;
mod page;
mod state;
mod views;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use auth::ApiToken;
pub use config::{ServerConfig, ServerSetting, DEFAULT_LISTEN};
pub use state::ServerState;

use crate::alert::AckLinks;
use crate::clock::Clock;
use crate::store::SqliteStore;
use crate::telemetry::Telemetry;

/// Largest request body accepted (a silence, a form).
const MAX_BODY: usize = 64 * 1024;

/// Everything the server is built from.
pub struct ServerSetup {
    pub config: ServerConfig,
    pub telemetry: Arc<Telemetry>,
    pub store: SqliteStore,
    pub ack_links: Arc<AckLinks>,
    /// The key sessions are derived from (the acknowledge-link key).
    pub session_key: Vec<u8>,
    pub wake: Arc<tokio::sync::Notify>,
    pub clock: Arc<dyn Clock>,
    /// The address bound: on loopback, only requests naming it (or `public_url`) in
    /// `Host` are served.
    pub listen: std::net::SocketAddr,
}

pub fn router(setup: ServerSetup) -> Router {
    let token = setup.config.token.as_ref().map(ApiToken::new);
    let (setup_listen, public_url) = (setup.listen, setup.config.public_url.clone());
    let state = Arc::new(ServerState {
        telemetry: setup.telemetry,
        store: std::sync::Mutex::new(setup.store),
        token: token.clone(),
        sessions: auth::Sessions::new(&setup.session_key, token.as_ref()),
        https: setup
            .config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://")),
        ack_links: setup.ack_links,
        wake: setup.wake,
        clock: setup.clock,
        breaker_open_max: setup.config.breaker_open_max.as_chrono(),
    });
    Router::new()
        .route("/", get(console::index))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/status", get(api::status))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/alerts", get(api::list_alerts))
        .route("/api/alerts/{id}", get(api::get_alert))
        .route("/api/alerts/{id}/ack", post(api::ack_alert))
        .route("/api/alerts/{id}/resolve", post(api::resolve_alert))
        .route(
            "/api/silences",
            get(api::list_silences).post(api::add_silence),
        )
        .route(
            "/api/silences/{id}",
            get(api::get_silence).delete(api::expire_silence),
        )
        .route("/api/dlq", get(api::list_dlq))
        .route("/api/dlq/retry", post(api::retry_all_dead))
        .route("/api/dlq/{id}/retry", post(api::retry_dead))
        .route("/api/dlq/{id}", axum::routing::delete(api::drop_dead))
        .route("/ack/{token}", get(ack::confirm).post(ack::acknowledge))
        .route("/console/login", post(console::login))
        .route("/console/logout", post(console::logout))
        .route("/console/silence", post(console::silence))
        .route("/console/alerts/{id}/{action}", post(console::alert_action))
        .route("/console/silences/{id}/expire", post(console::expire))
        .route("/console/dlq/{id}/{action}", post(console::dead_letter))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(hosts::AllowedHosts::new(
                setup_listen,
                public_url.as_deref(),
            )),
            hosts::check,
        ))
        .with_state(state)
}

/// How long requests under way may finish once the server is told to stop.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves on `listener` until `shutdown` turns true, then lets requests under way finish
/// for at most [`DRAIN`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let (stopping, mut stopped) = tokio::sync::watch::channel(false);
    let signal = async move {
        while !*shutdown.borrow_and_update() {
            if shutdown.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        let _ = stopping.send(true);
    };
    let server = axum::serve(listener, router).with_graceful_shutdown(signal);
    tokio::select! {
        result = server => {
            if let Err(e) = result {
                tracing::error!("HTTP server: {e}");
            }
        }
        _ = async {
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(DRAIN).await;
        } => {}
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<Arc<ServerState>>) -> Response {
    let status = s.status();
    let code = if status.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(status)).into_response()
}

async fn metrics(State(s): State<Arc<ServerState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.telemetry.metrics.encode(),
    )
        .into_response()
}
