//! The web console at `/`: open alerts with their history and Kibana links, acknowledge
//! buttons (through the same signed links messages carry), and — signed in with the API
//! token — silence, resolve, expire and dead-letter buttons; silences, dead letters, and
//! the health of sources and channels. Plain HTML forms, no script: it reads and works
//! without JavaScript.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use super::api::NewSilence;
use super::auth::{Sessions, SESSION_COOKIE};
use super::page::{esc, link, page};
use super::state::ServerState;
use crate::dispatch::AlertState;
use crate::store::{LifecycleStore, StateStore};

/// Most alerts the page shows (newest first).
const MAX_SHOWN: usize = 200;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    all: Option<String>,
}

/// The signed-in session of a request, if any (none while no token is configured: the
/// session key is derived from the token, so changing it signs everyone out too).
fn session(s: &ServerState, headers: &HeaderMap) -> Option<String> {
    s.token.as_ref()?;
    Sessions::from_headers(headers).filter(|v| s.sessions.valid(v, s.now()))
}

pub async fn index(
    State(s): State<Arc<ServerState>>,
    headers: HeaderMap,
    Query(flash): Query<Flash>,
) -> Response {
    match render(&s, &headers, &flash) {
        Ok(body) => page("Klaxon", &body),
        Err(r) => (r.0, page("Klaxon", &format!("<p>{}</p>", esc(&r.1)))).into_response(),
    }
}

fn render(
    s: &ServerState,
    headers: &HeaderMap,
    flash: &Flash,
) -> Result<String, super::state::Refusal> {
    let now = s.now();
    let session = session(s, headers);
    let csrf = session.as_deref().map(|v| s.sessions.csrf(v));
    let status = s.status();
    let mut h = String::new();
    let ready = if status.ready {
        "<span class=\"resolved\">ready</span>".to_string()
    } else {
        format!(
            "<span class=\"bad\">not ready: {}</span>",
            esc(&status.not_ready.join("; "))
        )
    };
    let _ = write!(
        h,
        "<h1>Klaxon <small>{}</small></h1><p id=\"readiness\">{ready} · {} rule{} · up since {}</p>",
        esc(&status.version),
        status.rules,
        if status.rules == 1 { "" } else { "s" },
        time(status.started_at)
    );
    match (&csrf, &s.token) {
        (Some(c), _) => {
            let _ = write!(
                h,
                "<form method=\"post\" action=\"/console/logout\" class=\"inline\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">signed in · <button>Sign out</button></form>",
                esc(c)
            );
        }
        (None, Some(_)) => h.push_str(
            "<form method=\"post\" action=\"/console/login\" id=\"login\">\
             <label>API token <input type=\"password\" name=\"token\" autocomplete=\"off\"></label> \
             <button>Sign in</button> (to acknowledge, resolve, silence and retry)</form>",
        ),
        (None, None) => h.push_str(
            "<p>Read-only: set <code>server.token</code> to acknowledge, resolve, silence and retry from here.</p>",
        ),
    }
    if let Some(done) = &flash.done {
        let _ = write!(h, "<p class=\"flash\" id=\"flash\">{}</p>", esc(done));
    }
    for w in &status.warnings {
        let _ = write!(
            h,
            "<p class=\"warn\">⚠ {} <small>(since {})</small></p>",
            esc(&w.message),
            time(w.since)
        );
    }

    let show_all = flash.all.is_some();
    let alerts: Vec<AlertState> = s
        .alerts()?
        .into_iter()
        .filter(|a| show_all || a.status != crate::alert::Status::Resolved)
        .take(MAX_SHOWN)
        .collect();
    let _ = write!(
        h,
        "<h2>Alerts ({} {})</h2><p><a href=\"/{}\">{}</a></p>",
        alerts.len(),
        if show_all { "recent" } else { "open" },
        if show_all { "" } else { "?all=1" },
        if show_all {
            "open only"
        } else {
            "resolved too"
        }
    );
    h.push_str(
        "<table id=\"alerts\"><tr><th>ID</th><th>State</th><th>Rule</th><th>Severity</th>\
         <th>Key</th><th>Since</th><th>Seen</th><th>Muted</th><th></th></tr>",
    );
    let store = s.store();
    for a in &alerts {
        let state = a.status.as_str();
        let shown_state = match (&a.acknowledged_by, a.status) {
            (Some(by), crate::alert::Status::Acknowledged) => format!("acknowledged by {by}"),
            _ => state.to_string(),
        };
        let muted = match (a.silenced_by, a.inhibited) {
            (Some(id), _) => format!("silence {id}"),
            (None, true) => "inhibited".into(),
            _ => String::new(),
        };
        let mut actions = String::new();
        if let Some(c) = &csrf {
            if a.is_firing() {
                let _ = write!(
                    actions,
                    "<form method=\"post\" action=\"/console/alerts/{id}/ack\" class=\"inline ack\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{c}\">\
                     <input name=\"by\" placeholder=\"your name\" maxlength=\"60\" size=\"10\"> \
                     <button type=\"submit\">Acknowledge</button></form> ",
                    id = a.id,
                    c = esc(c)
                );
            }
            if a.status != crate::alert::Status::Resolved {
                let _ = write!(
                    actions,
                    "<form method=\"post\" action=\"/console/alerts/{id}/resolve\" class=\"inline resolve\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{c}\"><button>Resolve</button></form> \
                     <form method=\"post\" action=\"/console/silence\" class=\"inline silence\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{c}\">\
                     <input type=\"hidden\" name=\"alert\" value=\"{id}\">\
                     <select name=\"duration\"><option>1h</option><option>4h</option><option>24h</option></select> \
                     <input name=\"comment\" placeholder=\"why\" required maxlength=\"1000\"> \
                     <button>Silence</button></form> ",
                    id = a.id,
                    c = esc(c)
                );
            }
        }
        if let Some(url) = &a.alert.kibana_url {
            actions.push_str(&link(url, "Kibana"));
        }
        let _ = write!(
            h,
            "<tr class=\"alert\" data-alert-id=\"{id}\"><td>{id}</td><td class=\"state {state}\">{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}×</td><td>{}</td><td class=\"actions\">{actions}</td></tr>",
            esc(&shown_state),
            esc(&a.alert.rule),
            a.alert.severity.as_str(),
            esc(&a.alert.key_text()),
            time(a.started_at),
            a.occurrences,
            esc(&muted),
            id = a.id,
        );
        let mut history = String::new();
        for row in store
            .history(a.id)
            .unwrap_or_default()
            .iter()
            .rev()
            .take(50)
        {
            let _ = write!(
                history,
                "<li>{} <b>{}</b> {}</li>",
                time(row.at),
                esc(&row.kind),
                esc(&row.detail)
            );
        }
        let _ = write!(
            h,
            "<tr class=\"history\" data-alert-id=\"{}\"><td></td><td colspan=\"8\"><details><summary>sample and history</summary>\
             <pre>{}</pre><ul>{history}</ul></details></td></tr>",
            a.id,
            esc(&a.alert.sample)
        );
    }
    if alerts.is_empty() {
        h.push_str("<tr><td colspan=\"9\">none</td></tr>");
    }
    h.push_str("</table>");

    let silences = store.silences(now)?;
    table(
        &mut h,
        &format!("Silences ({})", silences.len()),
        "silences",
        &["ID", "Matchers", "Ends", "By", "Why", ""],
        silences.is_empty(),
    );
    for row in silences {
        let view = super::views::SilenceView::new(row, now);
        let expire = csrf.as_ref().map_or(String::new(), |c| {
            format!(
                "<form method=\"post\" action=\"/console/silences/{}/expire\" class=\"inline\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button>Expire</button></form>",
                view.id,
                esc(c)
            )
        });
        let _ = write!(
            h,
            "<tr data-silence-id=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{expire}</td></tr>",
            view.id,
            view.id,
            esc(&view.matchers.join(", ")),
            time(view.ends_at),
            esc(&view.author),
            esc(&view.comment)
        );
    }
    h.push_str("</table>");

    let dead = store.dead_letters(MAX_SHOWN)?;
    table(
        &mut h,
        &format!("Dead letters ({})", dead.len()),
        "dlq",
        &["ID", "Channel", "Rule", "Key", "Attempts", "Error", ""],
        dead.is_empty(),
    );
    for d in dead {
        let d = super::views::DeadLetterView::from(d);
        let buttons = csrf.as_ref().map_or(String::new(), |c| {
            format!(
                "<form method=\"post\" action=\"/console/dlq/{id}/retry\" class=\"inline\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{c}\"><button>Retry</button></form> \
                 <form method=\"post\" action=\"/console/dlq/{id}/drop\" class=\"inline\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{c}\"><button>Drop</button></form>",
                id = d.id,
                c = esc(c)
            )
        });
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{buttons}</td></tr>",
            d.id,
            esc(&d.channel),
            esc(&d.rule),
            esc(&d.key),
            d.attempts,
            esc(&d.error)
        );
    }
    h.push_str("</table>");
    drop(store);

    h.push_str("<h2>Sources</h2><table id=\"sources\"><tr><th>Source</th><th>Reading</th><th>Files</th><th>Lines read</th><th>Skipped (no rule could match)</th><th>Decoded</th><th>Decode failures</th><th>Behind (bytes)</th></tr>");
    for src in &status.sources {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&src.name),
            match &src.error {
                Some(_) => format!("<span class=\"bad\">{}</span>", esc(&src.reading_text())),
                None => src.reading_text(),
            },
            src.files,
            src.lines_read,
            src.lines_skipped,
            src.lines_decoded,
            src.decode_failures,
            src.checkpoint_lag_bytes
        );
    }
    h.push_str("</table><h2>Channels</h2><table id=\"channels\"><tr><th>Channel</th><th>Sent</th><th>Failed</th><th>Dead</th><th>Waiting</th><th>Breaker</th><th>Last error</th></tr>");
    for c in &status.channels {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.name),
            c.sent,
            c.failed,
            c.dead,
            c.outbox_depth,
            c.breaker_open_since
                .map_or("closed".to_string(), |t| format!("<span class=\"bad\">open since {}</span>", time(t))),
            esc(c.last_error.as_deref().unwrap_or(""))
        );
    }
    h.push_str(
        "</table><p><a href=\"/metrics\">metrics</a> · <a href=\"/api/openapi.json\">API</a></p>",
    );
    Ok(h)
}

/// A section's heading and the start of its table (closed by the caller), with a "none"
/// row when it has no rows.
fn table(h: &mut String, heading: &str, id: &str, columns: &[&str], empty: bool) {
    let _ = write!(h, "<h2>{}</h2><table id=\"{id}\"><tr>", esc(heading));
    for c in columns {
        let _ = write!(h, "<th>{c}</th>");
    }
    h.push_str("</tr>");
    if empty {
        let _ = write!(h, "<tr><td colspan=\"{}\">none</td></tr>", columns.len());
    }
}

#[derive(Debug, Deserialize)]
pub struct Login {
    token: String,
}

pub async fn login(State(s): State<Arc<ServerState>>, Form(form): Form<Login>) -> Response {
    let ok = s.token.as_ref().is_some_and(|t| t.matches(&form.token));
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            page(
                "Klaxon",
                "<p>That is not the API token. <a href=\"/\">Back</a></p>",
            ),
        )
            .into_response();
    }
    let session = s.sessions.issue(s.now());
    let cookie =
        format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

#[derive(Debug, Deserialize)]
pub struct Csrf {
    csrf: String,
}

/// The session of a console form, checked with its CSRF value: `None` when it holds,
/// else the refusal to answer with.
fn signed_in(s: &ServerState, headers: &HeaderMap, csrf: &str) -> Option<Response> {
    match session(s, headers) {
        Some(v) if s.sessions.csrf_matches(&v, csrf) => None,
        _ => Some(
            (
                StatusCode::FORBIDDEN,
                page(
                    "Klaxon",
                    "<p>Sign in first (or again). <a href=\"/\">Back</a></p>",
                ),
            )
                .into_response(),
        ),
    }
}

fn done(message: &str) -> Response {
    let q: String =
        percent_encoding::utf8_percent_encode(message, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    Redirect::to(&format!("/?done={q}")).into_response()
}

pub async fn logout(
    State(s): State<Arc<ServerState>>,
    headers: HeaderMap,
    Form(form): Form<Csrf>,
) -> Response {
    if let Some(r) = signed_in(&s, &headers, &form.csrf) {
        return r;
    }
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

#[derive(Debug, Deserialize)]
pub struct AlertForm {
    csrf: String,
    #[serde(default)]
    by: Option<String>,
}

/// Acknowledges or resolves an alert, as the signed-in user (the name typed, else
/// "console").
pub async fn alert_action(
    State(s): State<Arc<ServerState>>,
    headers: HeaderMap,
    Path((id, action)): Path<(u64, String)>,
    Form(form): Form<AlertForm>,
) -> Response {
    if let Some(r) = signed_in(&s, &headers, &form.csrf) {
        return r;
    }
    let kind = match action.as_str() {
        "ack" => "ack",
        "resolve" => "resolve",
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let by = form
        .by
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or("console");
    match s.command(kind, id, by).await {
        Ok(result) => done(&result),
        Err(r) => done(&r.1),
    }
}

#[derive(Debug, Deserialize)]
pub struct SilenceForm {
    csrf: String,
    alert: u64,
    duration: String,
    comment: String,
}

/// Silences the alert's rule and key (its labels `rule` and each `group_by` field).
pub async fn silence(
    State(s): State<Arc<ServerState>>,
    headers: HeaderMap,
    Form(form): Form<SilenceForm>,
) -> Response {
    if let Some(r) = signed_in(&s, &headers, &form.csrf) {
        return r;
    }
    let a = match s.alert(form.alert) {
        Ok(a) => a,
        Err(r) => return done(&r.1),
    };
    // Matcher values are taken between quotes as they are (nothing is escaped).
    let quote = |v: &str| format!("\"{v}\"");
    let mut matchers = vec![format!("rule = {}", quote(&a.alert.rule))];
    for (field, value) in a.alert.key.iter() {
        matchers.push(format!("{field} = {}", quote(value)));
    }
    let new = NewSilence {
        matchers,
        duration: Some(form.duration),
        ends_at: None,
        starts_at: None,
        author: Some("console".into()),
        comment: form.comment,
    };
    match new.add(&s, "console") {
        Ok(id) => done(&format!("Silence {id} added.")),
        Err(r) => done(&r.1),
    }
}

pub async fn expire(
    State(s): State<Arc<ServerState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<Csrf>,
) -> Response {
    if let Some(r) = signed_in(&s, &headers, &form.csrf) {
        return r;
    }
    let now = s.now();
    match s.store().expire_silence(id, now) {
        Ok(true) => {
            s.wake.notify_one();
            done(&format!("Silence {id} expired."))
        }
        _ => done(&format!("No silence {id} in force.")),
    }
}

pub async fn dead_letter(
    State(s): State<Arc<ServerState>>,
    headers: HeaderMap,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<Csrf>,
) -> Response {
    if let Some(r) = signed_in(&s, &headers, &form.csrf) {
        return r;
    }
    let retry = match action.as_str() {
        "retry" => true,
        "drop" => false,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match super::api::dead_letter_action(&s, Some(id), retry) {
        Ok(_) if retry => done(&format!("Dead letter {id} queued again.")),
        Ok(_) => done(&format!("Dead letter {id} dropped.")),
        Err(r) => done(&r.1),
    }
}
