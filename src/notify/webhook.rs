//! `type: webhook`: POST the alert as JSON to any HTTP endpoint.
//!
//! Body: the [`Alert`] itself, serialized as JSON, e.g.
//! `{"rule": "order-errors", "description": "…", "severity": "critical", "source": "…",
//! "query": "…", "key": {"sku": "A-1"}, "count": 5, "first_seen": "2026-06-08T03:00:00Z",
//! "last_seen": "…", "sample": "…", "held_back": 0, "fired_at": "…", "kibana_url": null}`.
//! `sample` and `key` values are raw log text: receivers must treat them as untrusted.
//! When more alerts wait than the channel's rate limit lets through, one request carries
//! several: `{"digest": true, "alerts": [ … ]}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::channel::{Channel, DeliveryError};
use super::stages::DeliveryOptions;
use super::{default_timeout, http, NotifyError};
use crate::alert::Alert;
use crate::clock::Clock;
use crate::types::{HumanDuration, Secret};

#[derive(Debug, Clone, Deserialize)]
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
}

pub struct WebhookChannel {
    name: String,
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
    ) -> Result<Self, NotifyError> {
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
        Ok(WebhookChannel {
            name: name.to_string(),
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

    async fn send(&self, alert: &Alert) -> Result<(), DeliveryError> {
        self.post(&serde_json::to_value(alert).expect("alerts serialize"))
            .await
    }

    async fn send_digest(&self, alerts: &[Alert]) -> Result<(), DeliveryError> {
        self.post(&serde_json::json!({"digest": true, "alerts": alerts}))
            .await
    }
}

impl WebhookChannel {
    async fn post(&self, body: &serde_json::Value) -> Result<(), DeliveryError> {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let request = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .json(body);
        http::send(request, &*self.clock, &secrets)
            .await
            .map(|_| ())
    }
}
