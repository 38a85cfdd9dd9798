//! What the HTTP channels (webhook, DingTalk, Slack) share: the client, error mapping that
//! never leaks the URL, status classification and `Retry-After`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

use super::channel::{DeliveryError, Receipt};
use super::NotifyError;

/// How much of a response body goes into an error message.
const BODY_EXCERPT_CHARS: usize = 300;

pub(crate) fn client(channel: &str, timeout: Duration) -> Result<reqwest::Client, NotifyError> {
    reqwest::Client::builder()
        .timeout(timeout)
        // A redirect could carry secret headers or the signed query to another host.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("klaxon/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| NotifyError::Setup {
            channel: channel.to_string(),
            reason: error_chain(&e.without_url()),
        })
}

/// A failed request (no response). The URL is stripped because it may carry a token.
pub(crate) fn transport_error(e: reqwest::Error, secrets: &[&str]) -> DeliveryError {
    let e = e.without_url();
    let message = redact(&format!("request failed: {}", error_chain(&e)), secrets);
    if e.is_builder() {
        DeliveryError::Permanent { message }
    } else {
        // Connect, timeout, reset, body errors: the endpoint may be back later.
        DeliveryError::Retryable {
            message,
            retry_after: None,
        }
    }
}

/// Sends `request` and classifies the reply (see [`classify`]); on success, the status and
/// body for channels that look further (DingTalk's `errcode`, Slack's plain 200).
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    clock: &dyn crate::clock::Clock,
    secrets: &[&str],
) -> Result<(StatusCode, String), DeliveryError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(e, secrets))?;
    let status = response.status();
    let headers = response.headers().clone();
    // A body we cannot read only matters for the message; the status decides.
    let body = response.text().await.unwrap_or_default();
    classify(status, &headers, &body, clock.now(), secrets)?;
    Ok((status, body))
}

/// What an accepted request was answered: `HTTP 200 OK: ok`, the body cut and redacted as
/// in errors (a service may echo a token back).
pub(crate) fn receipt(status: StatusCode, body: &str, secrets: &[&str]) -> Receipt {
    Receipt::new(redact(
        &format!("HTTP {status}: {}", body_excerpt(body)),
        secrets,
    ))
}

/// Generic classification: 2xx ok; 408/429/5xx retryable (honouring `Retry-After`);
/// anything else permanent.
pub(crate) fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    now: DateTime<Utc>,
    secrets: &[&str],
) -> Result<(), DeliveryError> {
    if status.is_success() {
        return Ok(());
    }
    let message = redact(&format!("HTTP {status}: {}", body_excerpt(body)), secrets);
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(DeliveryError::RateLimited {
            message,
            retry_after: retry_after(headers, now),
        });
    }
    if status == StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
        Err(DeliveryError::Retryable {
            message,
            retry_after: retry_after(headers, now),
        })
    } else {
        Err(DeliveryError::Permanent { message })
    }
}

/// `Retry-After` as delay-seconds or an HTTP-date (relative to the injected clock).
pub(crate) fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The first few hundred characters of a body, on one line.
pub(crate) fn body_excerpt(body: &str) -> String {
    let one_line = body.trim().replace(['\r', '\n'], " ");
    if one_line.is_empty() {
        return "(empty body)".to_string();
    }
    super::escape::truncate(&one_line, BODY_EXCERPT_CHARS)
}

pub(crate) use crate::types::redact;

/// The parts of a URL that may be credentials: query values, the userinfo password and
/// long path segments (Slack/Discord-style tokens live in the path). The whole URL too.
pub(crate) fn url_secrets(url: &reqwest::Url) -> Vec<String> {
    let mut out = vec![url.to_string()];
    out.extend(url.query_pairs().map(|(_, v)| v.into_owned()));
    out.extend(url.password().map(str::to_string));
    out.extend(
        url.path_segments()
            .into_iter()
            .flatten()
            .filter(|s| s.len() >= 8)
            .map(str::to_string),
    );
    out
}

pub(crate) use crate::types::error_chain;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use reqwest::header::HeaderValue;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 8, 3, 0, 0).unwrap()
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Mon, 08 Jun 2026 03:01:30 GMT"),
        );
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(90)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now()), None);
    }

    #[test]
    fn classifies_statuses() {
        let h = HeaderMap::new();
        assert!(classify(StatusCode::NO_CONTENT, &h, "", now(), &[]).is_ok());
        for s in [408, 500, 503] {
            let st = StatusCode::from_u16(s).unwrap();
            assert!(matches!(
                classify(st, &h, "x", now(), &[]),
                Err(DeliveryError::Retryable { .. })
            ));
        }
        // "Too many": the channel pauses; the message is not at fault.
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, &h, "x", now(), &[]),
            Err(DeliveryError::RateLimited { .. })
        ));
        for s in [301, 400, 401, 404] {
            let st = StatusCode::from_u16(s).unwrap();
            assert!(matches!(
                classify(st, &h, "x", now(), &[]),
                Err(DeliveryError::Permanent { .. })
            ));
        }
    }

    #[test]
    fn url_secrets_cover_query_password_and_long_path_segments() {
        let url = reqwest::Url::parse("https://u:pw12@h/services/T0/B0LONGTOKEN?t=abcd").unwrap();
        let s = url_secrets(&url);
        for want in ["pw12", "services", "B0LONGTOKEN", "abcd"] {
            assert!(s.iter().any(|x| x == want), "{want} missing from {s:?}");
        }
        assert!(!s.iter().any(|x| x == "T0"));
    }

    #[test]
    fn redacts_echoed_secrets() {
        let err = classify(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            "bad token tok-12345",
            now(),
            &["tok-12345"],
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "HTTP 400 Bad Request: bad token ***");
    }
}
