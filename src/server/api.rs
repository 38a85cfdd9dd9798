//! `/api/…`: alerts (list, get with history, acknowledge, resolve), silences (list, get,
//! add, expire), dead letters (list, retry, drop), and the status summary. Reads are
//! open; changes need the bearer token.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::state::{Refusal, ServerState};
use super::views::{AlertView, DeadLetterView, HistoryView, SilenceView};
use crate::alert::Status;
use crate::store::{LifecycleStore, StateStore};

type Shared = State<Arc<ServerState>>;

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"klaxon\""),
            );
        }
        response
    }
}

/// Most alerts one listing returns.
const MAX_LIST: usize = 1_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertFilter {
    /// `firing`, `acknowledged`, `resolved`, `open` (firing or acknowledged; default), `all`.
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

pub async fn list_alerts(
    State(s): Shared,
    Query(f): Query<AlertFilter>,
) -> Result<Json<serde_json::Value>, Refusal> {
    let state = f.state.as_deref().unwrap_or("open");
    let wanted = |st: Status| match state {
        "all" => Ok(true),
        "open" => Ok(st != Status::Resolved),
        "firing" | "acknowledged" | "resolved" => Ok(st.as_str() == state),
        other => Err(Refusal(
            StatusCode::BAD_REQUEST,
            format!("state `{other}`: one of firing, acknowledged, resolved, open, all"),
        )),
    };
    wanted(Status::Firing)?;
    let limit = f.limit.unwrap_or(MAX_LIST).min(MAX_LIST);
    let mut alerts = Vec::new();
    for a in s.alerts()? {
        if alerts.len() >= limit {
            break;
        }
        if wanted(a.status)?
            && f.rule.as_ref().is_none_or(|r| *r == a.alert.rule)
            && f.severity
                .as_ref()
                .is_none_or(|v| v == a.alert.severity.as_str())
        {
            alerts.push(AlertView::new(&a));
        }
    }
    Ok(Json(json!({ "alerts": alerts })))
}

pub async fn get_alert(
    State(s): Shared,
    Path(id): Path<u64>,
) -> Result<Json<serde_json::Value>, Refusal> {
    let a = s.alert(id)?;
    let history: Vec<HistoryView> = s.store().history(id)?.into_iter().map(Into::into).collect();
    Ok(Json(
        json!({ "alert": AlertView::new(&a), "history": history }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Who {
    /// Who does it (shown in the notice and the history).
    #[serde(default)]
    by: Option<String>,
}

pub async fn ack_alert(
    s: Shared,
    headers: HeaderMap,
    id: Path<u64>,
    body: Option<Json<Who>>,
) -> Result<Response, Refusal> {
    change_alert(s, headers, id, body, "ack").await
}

pub async fn resolve_alert(
    s: Shared,
    headers: HeaderMap,
    id: Path<u64>,
    body: Option<Json<Who>>,
) -> Result<Response, Refusal> {
    change_alert(s, headers, id, body, "resolve").await
}

async fn change_alert(
    State(s): Shared,
    headers: HeaderMap,
    Path(id): Path<u64>,
    body: Option<Json<Who>>,
    kind: &str,
) -> Result<Response, Refusal> {
    s.authorize(&headers)?;
    let by = body.and_then(|b| b.0.by).unwrap_or_else(|| "api".into());
    let result = s.command(kind, id, &by).await?;
    let alert = AlertView::new(&s.alert(id)?);
    // 200: done; 202: queued, the pipeline has not answered yet; 409: refused as things
    // stand (acknowledging an alert that is not firing, resolving a resolved one).
    let done = match kind {
        "ack" => format!("alert {id} acknowledged"),
        _ => format!("alert {id} resolved"),
    };
    let status = if result == done {
        StatusCode::OK
    } else if result.starts_with("queued") {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CONFLICT
    };
    Ok((status, Json(json!({ "result": result, "alert": alert }))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceFilter {
    /// Ended silences too.
    #[serde(default)]
    all: bool,
}

pub async fn list_silences(
    State(s): Shared,
    Query(f): Query<SilenceFilter>,
) -> Result<Json<serde_json::Value>, Refusal> {
    let now = s.now();
    let rows = if f.all {
        s.store().all_silences()?
    } else {
        s.store().silences(now)?
    };
    let silences: Vec<SilenceView> = rows.into_iter().map(|r| SilenceView::new(r, now)).collect();
    Ok(Json(json!({ "silences": silences })))
}

pub async fn get_silence(
    State(s): Shared,
    Path(id): Path<u64>,
) -> Result<Json<SilenceView>, Refusal> {
    let now = s.now();
    let row = s.store().all_silences()?.into_iter().find(|r| r.id == id);
    row.map(|r| Json(SilenceView::new(r, now)))
        .ok_or_else(|| Refusal(StatusCode::NOT_FOUND, format!("no silence {id}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// `["rule = ghost-orders", "sku =~ A-.*"]`.
    pub matchers: Vec<String>,
    /// How long (`2h`), or `ends_at`.
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub ends_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub starts_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub author: Option<String>,
    pub comment: String,
}

impl NewSilence {
    /// Adds it; its id, or why not.
    pub fn add(&self, s: &ServerState, default_author: &str) -> Result<u64, Refusal> {
        let bad = |m: String| Refusal(StatusCode::BAD_REQUEST, m);
        let now = s.now();
        let starts_at = self.starts_at.unwrap_or(now);
        let ends_at = match (&self.duration, self.ends_at) {
            (Some(d), None) => {
                let d =
                    crate::types::parse_duration(d).map_err(|e| bad(format!("duration: {e}")))?;
                chrono::Duration::from_std(d)
                    .ok()
                    .and_then(|d| starts_at.checked_add_signed(d))
                    .ok_or_else(|| bad("duration: too long".into()))?
            }
            (None, Some(t)) => t,
            _ => {
                return Err(bad(
                    "say how long: `duration` (2h) or `ends_at` (RFC 3339)".into()
                ))
            }
        };
        let author = self
            .author
            .as_deref()
            .map(super::state::person)
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| default_author.to_string());
        let comment: String = self.comment.chars().take(1_000).collect();
        let row = crate::dispatch::new_silence_row(
            &self.matchers,
            starts_at,
            ends_at,
            &author,
            &comment,
            now,
        )
        .map_err(bad)?;
        let id = s.store().add_silence(&row)?;
        s.wake.notify_one();
        Ok(id)
    }
}

pub async fn add_silence(
    State(s): Shared,
    headers: HeaderMap,
    Json(new): Json<NewSilence>,
) -> Result<Response, Refusal> {
    s.authorize(&headers)?;
    let id = new.add(&s, "api")?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

pub async fn expire_silence(
    State(s): Shared,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Json<serde_json::Value>, Refusal> {
    s.authorize(&headers)?;
    let now = s.now();
    if !s.store().expire_silence(id, now)? {
        return Err(Refusal(
            StatusCode::NOT_FOUND,
            format!("no silence {id} in force"),
        ));
    }
    s.wake.notify_one();
    Ok(Json(json!({ "expired": id })))
}

/// Most dead letters one listing returns.
const MAX_DEAD: usize = 1_000;

pub async fn list_dlq(State(s): Shared) -> Result<Json<serde_json::Value>, Refusal> {
    let dead: Vec<DeadLetterView> = s
        .store()
        .dead_letters(MAX_DEAD)?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(json!({ "dead_letters": dead })))
}

pub async fn retry_dead(
    State(s): Shared,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, Refusal> {
    s.authorize(&headers)?;
    dead_letter_action(&s, Some(id), true)
}

pub async fn retry_all_dead(
    State(s): Shared,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, Refusal> {
    s.authorize(&headers)?;
    dead_letter_action(&s, None, true)
}

pub async fn drop_dead(
    State(s): Shared,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, Refusal> {
    s.authorize(&headers)?;
    dead_letter_action(&s, Some(id), false)
}

/// Retries or drops dead letter `id` (all with `None`).
pub fn dead_letter_action(
    s: &ServerState,
    id: Option<i64>,
    retry: bool,
) -> Result<Json<serde_json::Value>, Refusal> {
    let n = if retry {
        s.store().retry_dead(id, s.now())?
    } else {
        s.store().drop_dead(id)?
    };
    if n == 0 && id.is_some() {
        return Err(Refusal(StatusCode::NOT_FOUND, "no such dead letter".into()));
    }
    if retry && n > 0 {
        // Delivery picks them up at once rather than at its next idle look.
        s.wake.notify_one();
    }
    Ok(Json(
        json!({ if retry { "retried" } else { "dropped" }: n }),
    ))
}

pub async fn status(State(s): Shared) -> Json<crate::telemetry::Status> {
    Json(s.status())
}

pub async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}
