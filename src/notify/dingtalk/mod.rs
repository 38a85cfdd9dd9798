//! `type: dingtalk`: a DingTalk custom robot (自定义机器人), markdown messages.
//!
//! DingTalk answers HTTP 200 even for failures; the body's `errcode` decides.

mod message;
mod sign;

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

pub use message::Mentions;
pub use sign::sign;

use super::channel::{Channel, DeliveryError};
use super::digest::RenderedDigest;
use super::render::Rendered;
use super::stages::DeliveryOptions;
use super::{default_timeout, http, NotifyError};
use crate::alert::Alert;
use crate::clock::Clock;
use crate::types::{HumanDuration, Secret};

pub const DEFAULT_BASE_URL: &str = "https://oapi.dingtalk.com/robot/send";

/// "Send too fast": the robot is throttled (20 messages/minute).
const ERRCODE_TOO_FAST: i64 = 130101;
/// "System busy" on DingTalk's side.
const ERRCODE_BUSY: i64 = -1;
/// The limit is per minute, so waiting a minute is the earliest retry that can succeed.
const TOO_FAST_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DingTalkConfig {
    /// The full webhook URL including `access_token`; or use `access_token` (+ `base_url`).
    #[serde(default)]
    pub url: Option<Secret>,
    #[serde(default)]
    pub access_token: Option<Secret>,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Signing secret (`SEC…`) when the robot uses 加签.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Mobiles to @-mention in every alert.
    #[serde(default)]
    pub at_mobiles: Vec<String>,
    /// @everyone in the group. Config only: log text can never set it.
    #[serde(default)]
    pub at_all: bool,
    /// For robots with keyword security: prepended to the title.
    #[serde(default)]
    pub keyword: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Rate limit, retries, fallback (see `notify::stages::DeliveryOptions`).
    #[serde(default)]
    pub delivery: DeliveryOptions,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

pub struct DingTalkChannel {
    name: String,
    /// The webhook URL with `access_token`, without `timestamp`/`sign` (added per send).
    endpoint: String,
    secret: Option<Secret>,
    keyword: Option<String>,
    mentions: Mentions,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// Token, signing secret and endpoint, scrubbed from any error text.
    redact: Vec<String>,
}

impl DingTalkChannel {
    pub fn new(
        name: &str,
        config: &DingTalkConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, NotifyError> {
        let (mut url, field) = match (&config.url, &config.access_token) {
            (Some(url), None) => (super::parse_http_url(name, "url", url.expose())?, "url"),
            (None, Some(token)) => {
                if token.is_empty() {
                    return Err(NotifyError::invalid(name, "access_token", "is empty"));
                }
                let mut url = super::parse_http_url(name, "base_url", &config.base_url)?;
                url.query_pairs_mut()
                    .append_pair("access_token", token.expose());
                (url, "access_token")
            }
            (Some(_), Some(_)) => {
                return Err(NotifyError::invalid(
                    name,
                    "url",
                    "set either `url` or `access_token`, not both",
                ))
            }
            (None, None) => {
                return Err(NotifyError::invalid(
                    name,
                    "url",
                    "missing: set `url` (with access_token) or `access_token`",
                ))
            }
        };
        // A pasted, already-signed URL would otherwise carry a stale signature forever.
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "timestamp" && k != "sign")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if !kept
            .iter()
            .any(|(k, v)| k == "access_token" && !v.is_empty())
        {
            return Err(NotifyError::invalid(
                name,
                field,
                "the URL has no `access_token` query parameter",
            ));
        }
        url.query_pairs_mut().clear().extend_pairs(&kept);
        if let Some(s) = &config.secret {
            if s.is_empty() {
                return Err(NotifyError::invalid(name, "secret", "is empty"));
            }
        }
        for m in &config.at_mobiles {
            let ok = (3..=20).contains(&m.len())
                && m.chars()
                    .all(|c| c.is_ascii_digit() || c == '+' || c == '-');
            if !ok {
                return Err(NotifyError::invalid(
                    name,
                    "at_mobiles",
                    format!("`{m}` is not a phone number"),
                ));
            }
        }
        let mut redact = http::url_secrets(&url);
        redact.extend(config.secret.iter().map(|s| s.expose().to_string()));
        Ok(DingTalkChannel {
            name: name.to_string(),
            endpoint: url.to_string(),
            secret: config.secret.clone(),
            keyword: config.keyword.clone().filter(|k| !k.trim().is_empty()),
            mentions: Mentions {
                at_mobiles: config.at_mobiles.clone(),
                at_all: config.at_all,
            },
            client: http::client(name, config.timeout.0)?,
            clock,
            redact,
        })
    }

    /// The URL for one send: signed with a fresh timestamp when a secret is set.
    fn send_url(&self) -> String {
        match &self.secret {
            None => self.endpoint.clone(),
            Some(secret) => {
                let ts = self.clock.now().timestamp_millis();
                // `sign` is already percent-encoded; appending the raw string encodes it once.
                format!(
                    "{}&timestamp={ts}&sign={}",
                    self.endpoint,
                    sign(secret.expose(), ts)
                )
            }
        }
    }
}

#[derive(Deserialize)]
struct DingTalkReply {
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

#[async_trait::async_trait]
impl Channel for DingTalkChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alert: &Alert) -> Result<(), DeliveryError> {
        let body = message::markdown_body(
            &Rendered::new(alert),
            self.keyword.as_deref(),
            &self.mentions,
        );
        self.post(&body).await
    }

    async fn send_digest(&self, alerts: &[Alert]) -> Result<(), DeliveryError> {
        let body = message::digest_body(
            &RenderedDigest::new(alerts),
            self.keyword.as_deref(),
            &self.mentions,
        );
        self.post(&body).await
    }
}

impl DingTalkChannel {
    async fn post(&self, body: &serde_json::Value) -> Result<(), DeliveryError> {
        let secrets: Vec<&str> = self.redact.iter().map(String::as_str).collect();
        let request = self.client.post(self.send_url()).json(&body);
        let (status, text) = http::send(request, &*self.clock, &secrets).await?;
        if status != StatusCode::OK {
            // Some other 2xx: DingTalk only ever confirms with 200 + errcode 0.
            return Err(DeliveryError::Permanent {
                message: format!("unexpected HTTP {status} from DingTalk"),
            });
        }
        let reply: DingTalkReply =
            serde_json::from_str(&text).map_err(|_| DeliveryError::Retryable {
                message: http::redact(
                    &format!(
                        "unexpected DingTalk response: {}",
                        http::body_excerpt(&text)
                    ),
                    &secrets,
                ),
                retry_after: None,
            })?;
        let message = || {
            http::redact(
                &format!(
                    "DingTalk errcode {}: {}",
                    reply.errcode,
                    http::body_excerpt(&reply.errmsg)
                ),
                &secrets,
            )
        };
        match reply.errcode {
            0 => Ok(()),
            ERRCODE_TOO_FAST => Err(DeliveryError::RateLimited {
                message: message(),
                retry_after: Some(TOO_FAST_RETRY_AFTER),
            }),
            ERRCODE_BUSY => Err(DeliveryError::Retryable {
                message: message(),
                retry_after: None,
            }),
            _ => Err(DeliveryError::Permanent { message: message() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn config(yaml: &str) -> DingTalkConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn build(yaml: &str) -> Result<DingTalkChannel, NotifyError> {
        DingTalkChannel::new("dt", &config(yaml), Arc::new(SystemClock))
    }

    #[test]
    fn access_token_is_encoded_once_onto_the_base_url() {
        let ch = build("access_token: 'a+b/c'\nbase_url: http://127.0.0.1:9/robot/send\n").unwrap();
        assert_eq!(
            ch.endpoint,
            "http://127.0.0.1:9/robot/send?access_token=a%2Bb%2Fc"
        );
    }

    #[test]
    fn stale_signature_in_a_pasted_url_is_dropped() {
        let ch = build("url: 'https://oapi.dingtalk.com/robot/send?access_token=T0K&timestamp=1&sign=abc'\nsecret: SECx\n").unwrap();
        assert_eq!(
            ch.endpoint,
            "https://oapi.dingtalk.com/robot/send?access_token=T0K"
        );
    }

    #[test]
    fn invalid_configs_are_refused_without_echoing_secrets() {
        let both = build(
            "url: 'https://x/robot/send?access_token=tok-SECRET'\naccess_token: tok-SECRET\n",
        )
        .err()
        .unwrap();
        assert!(both.to_string().contains("not both"), "{both}");
        assert!(!format!("{both} {both:?}").contains("tok-SECRET"));
        let no_token = build("url: 'https://x/robot/send?foo=1'\n").err().unwrap();
        assert!(no_token.to_string().contains("access_token"), "{no_token}");
        let bad_url = build("url: 'not a url tok-SECRET'\n").err().unwrap();
        assert!(!bad_url.to_string().contains("tok-SECRET"), "{bad_url}");
        let mobile = build("access_token: t\nat_mobiles: ['138 [x](y)']\n")
            .err()
            .unwrap();
        assert!(mobile.to_string().contains("at_mobiles"), "{mobile}");
        assert!(build("access_token: t\n").is_ok());
    }
}
