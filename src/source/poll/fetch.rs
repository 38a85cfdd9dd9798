//! One GET of a JSON document, as both polled sources need it: bounded in time and size,
//! never following a redirect, and with errors that name neither the URL nor a secret.
//!
//! (The HTTP channels in `notify/http.rs` have helpers of the same spirit; `source` must
//! not import `notify`, so the few lines this needs are here.)

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::types::{clip, error_chain, flat, redact};

/// The largest response body read: a management API or status endpoint answering more
/// than this is not what was meant, and a hostile one cannot make Klaxon hold more.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How much of an error response's body goes into the message.
const EXCERPT_BYTES: usize = 200;

/// Why a poll failed, already fit for a log line: one line, no URL, no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollError(String);

impl PollError {
    pub fn new(message: impl Into<String>) -> Self {
        PollError(message.into())
    }
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An `http`/`https` URL from the config, checked when the config is read (so `klaxon
/// check` points at the value). `Debug` shows it as logs do, without credentials.
#[derive(Clone, PartialEq)]
pub struct PollUrl(reqwest::Url);

impl fmt::Debug for PollUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PollUrl({})", self.display())
    }
}

impl PollUrl {
    pub fn url(&self) -> &reqwest::Url {
        &self.0
    }

    /// What logs, alerts and `Origin::path` show: without a user or password, and without
    /// the query (whose values are where tokens tend to live).
    pub fn display(&self) -> String {
        let mut shown = self.0.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        shown.set_query(None);
        shown.set_fragment(None);
        shown.to_string()
    }

    /// The parts of the URL that may be credentials, to redact from error text.
    pub fn secrets(&self) -> Vec<String> {
        let u = &self.0;
        let mut out = vec![u.to_string()];
        out.extend(u.query_pairs().map(|(_, v)| v.into_owned()));
        out.extend(u.password().map(str::to_string));
        out
    }
}

impl TryFrom<String> for PollUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        // The text itself stays out of the message: it may hold a password.
        let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("invalid URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "invalid URL: the scheme must be http or https, not `{}`",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("invalid URL: it names no host".into());
        }
        Ok(PollUrl(url))
    }
}

impl<'de> Deserialize<'de> for PollUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PollUrl::try_from(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

crate::types::impl_text_schema!(
    PollUrl,
    "PollUrl",
    "An `http://` or `https://` URL with a host.",
    r"\s*[hH][tT][tT][pP][sS]?://.+"
);

/// A client for one source, and the text its errors must never show.
pub struct Fetcher {
    client: reqwest::Client,
    secrets: Vec<String>,
}

/// A document fetched: the JSON and how many bytes its body had.
pub struct Fetched {
    pub json: Value,
    pub bytes: u64,
}

impl Fetcher {
    /// `timeout` bounds a whole request, body included. `secrets` (header values, the
    /// password, the URL's query) are replaced by `***` in every error.
    pub fn new(timeout: Duration, secrets: Vec<String>) -> Result<Fetcher, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A redirect would carry the credentials to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("klaxon/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up HTTP: {}", error_chain(&e.without_url())))?;
        Ok(Fetcher { client, secrets })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request` and reads its body as JSON: a 2xx status, at most
    /// [`MAX_BODY_BYTES`], nested at most as deep as serde_json allows (128).
    pub async fn json(&self, request: reqwest::RequestBuilder) -> Result<Fetched, PollError> {
        let mut response = request
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.failed(e))?;
        let status = response.status();
        if !status.is_success() {
            let body = read_capped(&mut response, EXCERPT_BYTES * 4)
                .await
                .map(|(b, _)| b)
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            let excerpt = if text.is_empty() {
                "(empty body)".to_string()
            } else {
                clip(&flat(text), EXCERPT_BYTES).into_owned()
            };
            return Err(self.error(format!("HTTP {status}: {excerpt}")));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(self.too_large());
        }
        let (body, complete) = read_capped(&mut response, MAX_BODY_BYTES)
            .await
            .map_err(|e| self.failed(e))?;
        if !complete {
            return Err(self.too_large());
        }
        // serde_json's errors say where, never what: no text of the body is echoed.
        let json = serde_json::from_slice(&body)
            .map_err(|e| self.error(format!("the response is not JSON: {e}")))?;
        Ok(Fetched {
            json,
            bytes: body.len() as u64,
        })
    }

    fn too_large(&self) -> PollError {
        self.error(format!(
            "the response is larger than {} MiB",
            MAX_BODY_BYTES / (1024 * 1024)
        ))
    }

    /// A request that got no (whole) answer; the URL is taken out of reqwest's text.
    fn failed(&self, e: reqwest::Error) -> PollError {
        let timed_out = e.is_timeout();
        let mut text = format!("request failed: {}", error_chain(&e.without_url()));
        if timed_out && !text.contains("timed out") {
            text.push_str(" (timed out)");
        }
        self.error(text)
    }

    fn error(&self, text: String) -> PollError {
        PollError(redact(&flat(&text), &self.secrets))
    }
}

/// Reads at most `cap` bytes of the body; `false` when there was more.
async fn read_capped(
    response: &mut reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > cap {
            let room = cap - body.len();
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, false));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_shown_without_credentials() {
        let url = PollUrl::try_from(
            "https://bob:hunter22@mq.example.com:15672/api?token=abcdef#x".to_string(),
        )
        .unwrap();
        assert_eq!(url.display(), "https://mq.example.com:15672/api");
        assert_eq!(
            format!("{url:?}"),
            "PollUrl(https://mq.example.com:15672/api)"
        );
        assert!(url.secrets().contains(&"hunter22".to_string()));
        assert!(url.secrets().contains(&"abcdef".to_string()));
        for bad in ["", "not a url", "ftp://x/", "file:///etc/passwd", "http://"] {
            let e = PollUrl::try_from(bad.to_string()).unwrap_err();
            assert!(e.starts_with("invalid URL"), "{bad}: {e}");
        }
        let e = PollUrl::try_from("ftp://bob:hunter22@x/".to_string()).unwrap_err();
        assert!(!e.contains("hunter22"), "{e}");
    }

    #[test]
    fn redaction_skips_tiny_secrets() {
        let secrets = vec!["s3cr3t".to_string(), "ab".to_string()];
        assert_eq!(redact("a s3cr3t ab", &secrets), "a *** ab");
    }
}
