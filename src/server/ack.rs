//! `/ack/{token}`: the acknowledge link in messages. GET shows what would be acknowledged
//! and a button (chat and mail clients open links to preview them, so a GET must never
//! change anything); the button's POST acknowledges, if the token is genuine, names this
//! alert and has not expired.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{esc, link, local_path, page};
use super::state::ServerState;

pub async fn confirm(State(s): State<Arc<ServerState>>, Path(token): Path<String>) -> Response {
    let id = match s.ack_links.verify(&token, s.now()) {
        Ok(id) => id,
        Err(e) => return refused(&e.to_string()),
    };
    let Ok(a) = s.alert(id) else {
        return refused("this alert is no longer known (resolved and forgotten)");
    };
    let state = a.status.as_str();
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
         <label>Your name <input name=\"by\" maxlength=\"100\" autocomplete=\"name\"></label> \
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
    /// Where to go afterwards (the console); a local path only.
    #[serde(default, rename = "return")]
    back: Option<String>,
}

pub async fn acknowledge(
    State(s): State<Arc<ServerState>>,
    Path(token): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    // A bare POST (`curl -X POST <link>`) acknowledges too: the form is optional.
    let form: AckForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let id = match s.ack_links.verify(&token, s.now()) {
        Ok(id) => id,
        Err(e) => return refused(&e.to_string()),
    };
    let named = form.by.as_deref().map(str::trim).filter(|b| !b.is_empty());
    let by = match (named, form.back.is_some()) {
        // From the console's button: it says who, or that it was the console.
        (Some(b), true) => b.to_string(),
        (None, true) => "console".into(),
        (Some(b), false) => format!("{b} (link)"),
        (None, false) => "someone with the acknowledge link".into(),
    };
    let result = match s.command("ack", id, &by).await {
        Ok(result) => result,
        Err(r) => {
            return (
                r.0,
                page("Not acknowledged", &format!("<p>{}</p>", esc(&r.1))),
            )
                .into_response()
        }
    };
    if form.back.is_some() {
        let back = local_path(form.back.as_deref());
        let sep = if back.contains('?') { '&' } else { '?' };
        return Redirect::to(&format!("{back}{sep}acked={id}")).into_response();
    }
    page(
        "Acknowledged",
        &format!("<h1>Alert {id}</h1><p class=\"flash\">{}</p>", esc(&result)),
    )
}

fn refused(why: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        page(
            "Not acknowledged",
            &format!("<h1>Not acknowledged</h1><p>{}</p>", esc(why)),
        ),
    )
        .into_response()
}
