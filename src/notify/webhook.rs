//! `type: webhook`: POST the alert as JSON to any HTTP endpoint.
//!
//! Body: the [`Alert`] itself, serialized as JSON, e.g.
//! `{"rule": "order-errors", "description": "…", "severity": "critical", "source": "…",
//! "query": "…", "key": {"sku": "A-1"}, "count": 5, "first_seen": "2026-06-08T03:00:00Z",
//! "last_seen": "…", "sample": "…", "held_back": 0, "fired_at": "…", "kibana_url": null}`.
//! `sample` and `key` values are raw log text: receivers must treat them as untrusted.
//! When more alerts wait than the channel's rate limit lets through, one request carries
//! several: `{"digest": true, "alerts": [ … ]}`. A `body` / `digest_body` template replaces
//! these with any JSON the receiver wants (values are written as JSON values).
//!
//! With `signing_secret`, every request carries `X-Klaxon-Timestamp` (Unix seconds) and
//! `X-Klaxon-Signature: sha256=<hex>`, the HMAC-SHA256 of `<timestamp>.<body bytes>` under
//! the secret: a receiver recomputes it, compares in constant time, and refuses old
//! timestamps, so a captured request cannot be replayed later.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use serde::Deserialize;
use sha2::Sha256;

use super::channel::{Channel, DeliveryError, Receipt};
use super::stages::DeliveryOptions;
use super::template::{Markup, Part, Role, TemplateParts, Templates};
use super::{default_timeout, http, NotifyError};
use crate::alert::Alert;
use crate::clock::Clock;
use crate::types::{HumanDuration, Secret, TimeZone};

/// The template parts of a webhook channel: none by default (the body is the alert as JSON).
pub const PARTS: &[Part] = &[
    Part {
        name: "body",
        markup: Markup::Json,
        role: Role::Body,
        default: None,
    },
    Part {
        name: "digest_body",
        markup: Markup::Json,
        role: Role::DigestBody,
        default: None,
    },
];

pub const TIMESTAMP_HEADER: &str = "x-klaxon-timestamp";
pub const SIGNATURE_HEADER: &str = "x-klaxon-signature";

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Endpoint; a secret because such URLs often embed a token.
    pub url: Secret,
    /// Extra request headers, e.g. `Authorization: Bearer …`; values are never logged.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Rate limit, retries, fallback (see `notify::stages::DeliveryOptions`).
    #[serde(default)]
    pub delivery: DeliveryOptions,
    /// Signs every request (HMAC-SHA256; see the module docs).
    #[serde(default)]
    pub signing_secret: Option<Secret>,
    /// Replaces the JSON body: `body`, `digest_body`.
    #[serde(default)]
    pub templates: TemplateParts,
    /// The zone templates show times in (with UTC); default `display_timezone`.
    #[serde(default)]
    pub timezone: Option<TimeZone>,
}

pub struct WebhookChannel {
    name: String,
    templates: Templates,
    signing_secret: Option<Secret>,
    url: reqwest::Url,
    headers: HeaderMap,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    secrets: Vec<String>,
}

impl WebhookChannel {
    pub fn new(
        name: &str,
        config: &WebhookConfig,
        clock: Arc<dyn Clock>,
        templates: Templates,
    ) -> Result<Self, NotifyError> {
        if config.signing_secret.as_ref().is_some_and(|s| s.is_empty()) {
            return Err(NotifyError::invalid(name, "signing_secret", "is empty"));
        }
        let url = super::parse_http_url(name, "url", config.url.expose())?;
        let mut headers = HeaderMap::new();
        for (key, value) in &config.headers {
            let header = HeaderName::from_bytes(key.as_bytes()).map_err(|_| {
                NotifyError::invalid(name, "headers", format!("bad header name `{key}`"))
            })?;
            // The value is deliberately left out of the message: it may be a credential.
            let mut value = HeaderValue::from_str(value.expose()).map_err(|_| {
                NotifyError::invalid(name, "headers", format!("bad value for header `{key}`"))
            })?;
            value.set_sensitive(true);
            headers.insert(header, value);
        }
        let mut secrets = http::url_secrets(&url);
        secrets.push(config.url.expose().to_string());
        secrets.extend(config.headers.values().map(|v| v.expose().to_string()));
        secrets.extend(config.signing_secret.iter().map(|s| s.expose().to_string()));
        Ok(WebhookChannel {
            name: name.to_string(),
            templates,
            signing_secret: config.signing_secret.clone(),
            url,
            headers,
            client: http::client(name, config.timeout.0)?,
            clock,
            secrets,
        })
    }
}

#[async_trait::async_trait]
impl Channel for WebhookChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alert: &Alert) -> Result<Receipt, DeliveryError> {
        self.post(self.alert_body(alert)).await
    }

    async fn send_digest(&self, alerts: &[Alert]) -> Result<Receipt, DeliveryError> {
        self.post(self.digest_body(alerts)).await
    }
}

/// `sha256=<hex>`: HMAC-SHA256 of `<timestamp>.<body>` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

impl WebhookChannel {
    /// The body for one alert: the `body` template, or the alert as JSON.
    pub(crate) fn alert_body(&self, alert: &Alert) -> String {
        match self.templates.render_alert("body", alert) {
            Some(body) => body,
            None => serde_json::to_string(alert).expect("alerts serialize"),
        }
    }

    /// The body for a digest: the `digest_body` template, or the alerts as JSON.
    pub(crate) fn digest_body(&self, alerts: &[Alert]) -> String {
        match self.templates.render_digest("digest_body", alerts) {
            Some(body) => body,
            None => serde_json::json!({"digest": true, "alerts": alerts}).to_string(),
        }
    }

    async fn post(&self, body: String) -> Result<Receipt, DeliveryError> {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let mut headers = self.headers.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(secret) = &self.signing_secret {
            let ts = self.clock.now().timestamp();
            let sig = signature(secret.expose(), ts, body.as_bytes());
            headers.insert(TIMESTAMP_HEADER, HeaderValue::from(ts));
            headers.insert(
                SIGNATURE_HEADER,
                HeaderValue::from_str(&sig).expect("hex is a header value"),
            );
        }
        // Sent as the exact bytes signed.
        let request = self
            .client
            .post(self.url.clone())
            .headers(headers)
            .body(body);
        let (status, answer) = http::send(request, &*self.clock, &secrets).await?;
        Ok(http::receipt(status, &answer, &secrets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Reference value computed independently:
        // printf '1780887630.{"a":1}' | openssl dgst -sha256 -hmac s3cret
        assert_eq!(
            signature("s3cret", 1_780_887_630, br#"{"a":1}"#),
            "sha256=c127c7748d8e6a079c43c5eaa598c27b30f95e30e9cff9432b1f32c03f0d8682"
        );
    }
}
