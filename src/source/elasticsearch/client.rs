//! The calls a poll makes, through the `elasticsearch` crate: open a point in time, search
//! pages of it with `search_after`, close it; and what a failure means (try the window again
//! later, or a query the cluster refuses).

use elasticsearch::auth::Credentials;
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use elasticsearch::http::Url;
use elasticsearch::{Elasticsearch, OpenPointInTimeParts, SearchParts};
use serde_json::Value;

use super::config::ElasticsearchSourceConfig;

/// Most bytes of a response body read (a page of 10,000 large documents stays below it).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// The cluster is down, busy (429/503), slow, or answered with failed shards: the
    /// window is read again later, whole.
    #[error("{0}")]
    Retryable(String),
    /// The cluster refuses the request itself (400): retrying the same query cannot help.
    #[error("{0}")]
    Refused(String),
    /// Point in time is not available (an older cluster, or a compatible server without it).
    #[error("point in time not available: {0}")]
    NoPit(String),
}

/// One node's client.
pub struct Client {
    es: Elasticsearch,
    /// Where it points, without credentials (for messages).
    pub url: String,
}

impl Client {
    pub fn new(cfg: &ElasticsearchSourceConfig, url: &str) -> Result<Client, String> {
        let parsed = Url::parse(url).map_err(|e| format!("`urls`: {e}"))?;
        let shown = format!(
            "{}://{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or(""),
            parsed.port().map(|p| format!(":{p}")).unwrap_or_default()
        );
        let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(parsed))
            .timeout(cfg.timeout.0)
            .disable_proxy();
        let credentials = match (
            &cfg.username,
            &cfg.password,
            &cfg.api_key,
            &cfg.bearer_token,
        ) {
            (Some(u), Some(p), _, _) => Some(Credentials::Basic(
                u.expose().to_string(),
                p.expose().to_string(),
            )),
            (_, _, Some(k), _) => Some(Credentials::EncodedApiKey(k.expose().to_string())),
            (_, _, _, Some(t)) => Some(Credentials::Bearer(t.expose().to_string())),
            _ => None,
        };
        if let Some(c) = credentials {
            builder = builder.auth(c);
        }
        if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca).map_err(|e| format!("`ca_file`: {}: {e}", ca.display()))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| format!("`ca_file`: {}: {e}", ca.display()))?;
            builder = builder.cert_validation(CertificateValidation::Full(cert));
        }
        let transport = builder
            .build()
            .map_err(|e| format!("cannot build a client for {shown}: {e}"))?;
        Ok(Client {
            es: Elasticsearch::new(transport),
            url: shown,
        })
    }

    /// Opens a point in time over `index`; its id.
    pub async fn open_pit(&self, index: &str, keep_alive: &str) -> Result<String, SearchError> {
        let response = self
            .es
            .open_point_in_time(OpenPointInTimeParts::Index(&[index]))
            .keep_alive(keep_alive)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status_code().as_u16();
        let body = self.body(response).await?;
        if status == 404 || status == 405 || (status == 400 && !is_index_missing(&body)) {
            return Err(SearchError::NoPit(reason(&body, status)));
        }
        check(status, &body)?;
        body.get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| SearchError::NoPit("no `id` in the answer".into()))
    }

    /// Closes a point in time (best effort: it expires by itself).
    pub async fn close_pit(&self, id: &str) {
        let _ = self
            .es
            .close_point_in_time()
            .body(serde_json::json!({ "id": id }))
            .send()
            .await;
    }

    /// One search; the whole answer, once it holds no failure.
    pub async fn search(&self, index: Option<&str>, body: Value) -> Result<Value, SearchError> {
        let indices;
        let parts = match index {
            Some(i) => {
                indices = [i];
                SearchParts::Index(&indices)
            }
            None => SearchParts::None,
        };
        let response = self
            .es
            .search(parts)
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status_code().as_u16();
        let body = self.body(response).await?;
        check(status, &body)?;
        // A 200 with failed shards is a partial answer: the window is read again.
        let failed = body
            .pointer("/_shards/failed")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if failed > 0 {
            let why = body
                .pointer("/_shards/failures/0/reason/reason")
                .and_then(Value::as_str)
                .unwrap_or("no reason given");
            return Err(SearchError::Retryable(format!(
                "{failed} shard(s) failed: {}",
                crate::types::flat(why)
            )));
        }
        if body.get("timed_out").and_then(Value::as_bool) == Some(true) {
            return Err(SearchError::Retryable("the search timed out".into()));
        }
        Ok(body)
    }

    async fn body(
        &self,
        response: elasticsearch::http::response::Response,
    ) -> Result<Value, SearchError> {
        let bytes = response.bytes().await.map_err(|e| {
            SearchError::Retryable(format!("{}: {}", self.url, strip(&e.to_string())))
        })?;
        if bytes.len() > MAX_BODY {
            return Err(SearchError::Refused(format!(
                "{}: an answer of {} bytes (more than {MAX_BODY}): lower `page_size`",
                self.url,
                bytes.len()
            )));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| SearchError::Retryable(format!("{}: not JSON: {e}", self.url)))
    }

    fn transport_error(&self, e: elasticsearch::Error) -> SearchError {
        SearchError::Retryable(format!("{}: {}", self.url, strip(&e.to_string())))
    }
}

/// A status and body that are not a success, as an error.
fn check(status: u16, body: &Value) -> Result<(), SearchError> {
    match status {
        200..=299 => Ok(()),
        400 => Err(SearchError::Refused(reason(body, status))),
        _ => Err(SearchError::Retryable(reason(body, status))),
    }
}

fn is_index_missing(body: &Value) -> bool {
    body.pointer("/error/type").and_then(Value::as_str) == Some("index_not_found_exception")
}

/// `HTTP 400: parsing_exception: …` from an Elasticsearch error body.
fn reason(body: &Value, status: u16) -> String {
    let kind = body.pointer("/error/type").and_then(Value::as_str);
    let why = body
        .pointer("/error/reason")
        .and_then(Value::as_str)
        .or_else(|| body.get("error").and_then(Value::as_str));
    let text = match (kind, why) {
        (Some(k), Some(w)) => format!("{k}: {w}"),
        (None, Some(w)) => w.to_string(),
        _ => "no reason given".into(),
    };
    format!("HTTP {status}: {}", crate::types::flat(&text))
}

/// Errors from the HTTP layer can carry the URL, and with it credentials: drop it.
fn strip(message: &str) -> String {
    let cut = message
        .find(" for url (")
        .or_else(|| message.find(" (http"));
    crate::types::flat(match cut {
        Some(i) => &message[..i],
        None => message,
    })
    .into_owned()
}
