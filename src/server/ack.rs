//! `/ack/{token}`: the acknowledge link in messages. GET shows what would be acknowledged
//! and a button (chat and mail clients open links to preview them, so a GET must never
//! change anything); the button's POST acknowledges, if the token is genuine, has not
//! expired, and the alert has not started firing again since the link was made (a new
//! incident needs a new message, and a new link).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::page::{esc, link, page};
use super::state::ServerState;
use crate::alert::AckTokenError;
use crate::dispatch::AlertState;

/// The alert a token names, or the status and the reason it is refused.
fn alert_of(s: &ServerState, token: &str) -> Result<AlertState, (StatusCode, String)> {
    let t = s.ack_links.verify(token, s.now()).map_err(|e| {
        let status = match e {
            AckTokenError::Invalid => StatusCode::FORBIDDEN,
            AckTokenError::Expired => StatusCode::GONE,
        };
        (status, e.to_string())
    })?;
    let a = s.alert(t.alert_id).map_err(|_| {
        (
            StatusCode::NOT_FOUND,
            "this alert is no longer known (resolved and forgotten)".to_string(),
        )
    })?;
    if a.started_at.timestamp() > t.issued {
        return Err((
            StatusCode::GONE,
            "this link is about an earlier firing of the alert; it fired again since — use the link in the newer message".into(),
        ));
    }
    Ok(a)
}

pub async fn confirm(State(s): State<Arc<ServerState>>, Path(token): Path<String>) -> Response {
    let a = match alert_of(&s, &token) {
        Ok(a) => a,
        Err((status, why)) => return refused(status, &why),
    };
    let (id, state) = (a.id, a.status.as_str());
    let kibana = a
        .alert
        .kibana_url
        .as_deref()
        .map(|u| link(u, "Open the evidence in Kibana"))
        .unwrap_or_default();
    let body = format!(
        "<h1>Acknowledge alert {id}?</h1>\
         <p><b>{rule}</b> <span class=\"{state}\">{state}</span> {key}</p>\
         <pre>{sample}</pre><p>{kibana}</p>\
         <form method=\"post\" class=\"ack-confirm\">\
         <label>Your name <input name=\"by\" maxlength=\"60\" autocomplete=\"name\"></label> \
         <button type=\"submit\">Acknowledge</button></form>\
         <p>Acknowledging stops the escalation and tells whoever was paged that you own it.</p>",
        rule = esc(&a.alert.rule),
        key = esc(&a.alert.key_text()),
        sample = esc(&a.alert.sample),
    );
    page(&format!("Acknowledge alert {id}"), &body)
}

#[derive(Debug, Default, Deserialize)]
pub struct AckForm {
    #[serde(default)]
    by: Option<String>,
}

/// Longest name taken from the form (the history adds "(link)" after it).
const MAX_NAME_CHARS: usize = 60;

pub async fn acknowledge(
    State(s): State<Arc<ServerState>>,
    Path(token): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    // A bare POST (`curl -X POST <link>`) acknowledges too: the form is optional.
    let form: AckForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let a = match alert_of(&s, &token) {
        Ok(a) => a,
        Err((status, why)) => return refused(status, &why),
    };
    // Whoever holds a link may type any name: the history says it came through a link.
    let name: String = form
        .by
        .as_deref()
        .map(|b| {
            crate::types::flat(b.trim())
                .chars()
                .take(MAX_NAME_CHARS)
                .collect()
        })
        .unwrap_or_default();
    let by = if name.is_empty() {
        "someone with the acknowledge link".to_string()
    } else {
        format!("{name} (link)")
    };
    match s.command("ack", a.id, &by).await {
        Ok(result) => page(
            "Acknowledged",
            &format!(
                "<h1>Alert {}</h1><p class=\"flash\">{}</p>",
                a.id,
                esc(&result)
            ),
        ),
        Err(r) => refused(r.0, &r.1),
    }
}

fn refused(status: StatusCode, why: &str) -> Response {
    (
        status,
        page(
            "Not acknowledged",
            &format!("<h1>Not acknowledged</h1><p>{}</p>", esc(why)),
        ),
    )
        .into_response()
}
