//! What every handler shares: the telemetry, a store connection of the server's own, the
//! authorizers, and a way to wake the pipeline when a command is queued.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};

use super::auth::{ApiToken, Sessions};
use crate::alert::AckLinks;
use crate::clock::Clock;
use crate::dispatch::{AlertState, Target};
use crate::store::{LifecycleStore, SqliteStore, StoreError};
use crate::telemetry::{Status, Telemetry};

/// Longest name of a person (who acknowledged, who silenced) taken from a request.
const MAX_PERSON_CHARS: usize = 100;

/// A name as a request gives it, kept to one line and [`MAX_PERSON_CHARS`].
pub fn person(text: &str) -> String {
    crate::types::flat(text.trim())
        .chars()
        .take(MAX_PERSON_CHARS)
        .collect()
}

/// How long a request that queued a command waits for the pipeline's answer.
const COMMAND_WAIT: Duration = Duration::from_secs(5);

pub struct ServerState {
    pub telemetry: Arc<Telemetry>,
    /// The server's own connection (SQLite in WAL mode: reads never wait for the pipeline).
    pub store: Mutex<SqliteStore>,
    pub token: Option<ApiToken>,
    pub sessions: Sessions,
    /// `public_url` is https: the session cookie is `Secure`.
    pub https: bool,
    pub ack_links: Arc<AckLinks>,
    /// Rung after a command is queued, so the pipeline applies it at once.
    pub wake: Arc<tokio::sync::Notify>,
    pub clock: Arc<dyn Clock>,
    pub breaker_open_max: chrono::Duration,
}

/// An answer that is not a success: a status and a message (JSON for the API).
#[derive(Debug)]
pub struct Refusal(pub StatusCode, pub String);

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        tracing::error!("HTTP API: {e}");
        Refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the state store failed".into(),
        )
    }
}

impl ServerState {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn store(&self) -> std::sync::MutexGuard<'_, SqliteStore> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> Status {
        let t = &self.telemetry;
        t.health.status(
            self.now(),
            self.breaker_open_max,
            &t.metrics,
            t.warnings.list(),
        )
    }

    /// Refuses a changing request without the API token.
    pub fn authorize(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        match &self.token {
            None => Err(Refusal(
                StatusCode::FORBIDDEN,
                "changes over HTTP are off: set server.token in klaxon.yaml".into(),
            )),
            Some(t) if t.authorizes(headers) => Ok(()),
            Some(_) => Err(Refusal(
                StatusCode::UNAUTHORIZED,
                "a valid `Authorization: Bearer <server.token>` header is required".into(),
            )),
        }
    }

    /// Every alert, newest first.
    pub fn alerts(&self) -> Result<Vec<AlertState>, Refusal> {
        let (records, _) = self.store().lifecycle()?;
        let mut alerts: Vec<AlertState> = records
            .iter()
            .filter_map(|r| serde_json::from_str(&r.record).ok())
            .collect();
        alerts.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)));
        Ok(alerts)
    }

    pub fn alert(&self, id: u64) -> Result<AlertState, Refusal> {
        self.store()
            .alert_record(id)?
            .and_then(|r| serde_json::from_str(&r.record).ok())
            .ok_or_else(|| Refusal(StatusCode::NOT_FOUND, format!("no alert {id}")))
    }

    /// Queues `ack` or `resolve` of alert `id` for the pipeline, wakes it, and waits for
    /// its answer (what it did, or why not). A stopped pipeline applies it when it starts.
    pub async fn command(&self, kind: &str, id: u64, by: &str) -> Result<String, Refusal> {
        self.alert(id)?;
        let target = serde_json::to_string(&Target::Id { id }).unwrap_or_default();
        let by = person(by);
        let by = if by.is_empty() { "web".to_string() } else { by };
        let command = self.store().queue_command(kind, &target, &by, self.now())?;
        self.wake.notify_one();
        let deadline = tokio::time::Instant::now() + COMMAND_WAIT;
        while tokio::time::Instant::now() < deadline {
            if let Some(result) = self.store().command(command)?.and_then(|c| c.result) {
                return Ok(result);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok("queued: Klaxon applies it within a few seconds".into())
    }
}
