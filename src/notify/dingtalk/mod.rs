//! `type: dingtalk`: a DingTalk custom robot (自定义机器人): markdown or actionCard
//! messages from templates (`message.rs`), signed when the robot uses 加签.
//!
//! DingTalk answers HTTP 200 even for failures; the body's `errcode` decides.

mod message;
mod sign;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

pub use message::{DingTalkAt, MessageType, PARTS};
pub use sign::sign;

use super::channel::{Channel, DeliveryError, Receipt};
use super::stages::DeliveryOptions;
use super::template::{worst_first, TemplateParts, Templates};
use super::{default_timeout, http, NotifyError};
use crate::alert::{Alert, Severity};
use crate::clock::Clock;
use crate::types::{HumanDuration, Secret, TimeZone};

pub const DEFAULT_BASE_URL: &str = "https://oapi.dingtalk.com/robot/send";

/// "Send too fast": the robot is throttled (20 messages/minute).
const ERRCODE_TOO_FAST: i64 = 130101;
/// "System busy" on DingTalk's side.
const ERRCODE_BUSY: i64 = -1;
/// The limit is per minute, so waiting a minute is the earliest retry that can succeed.
const TOO_FAST_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DingTalkConfig {
    /// The full webhook URL including `access_token`; or use `access_token` (+ `base_url`).
    #[serde(default)]
    pub url: Option<Secret>,
    /// The robot's `access_token` alone (with `base_url`), instead of the whole `url`.
    #[serde(default)]
    pub access_token: Option<Secret>,
    /// Where `access_token` is sent (default DingTalk's own robot endpoint); for a proxy
    /// or a test server.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Signing secret (`SEC…`) when the robot uses 加签.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Phone numbers to @-mention in every message.
    #[serde(default)]
    pub at_mobiles: Vec<String>,
    /// DingTalk user ids to @-mention in every message.
    #[serde(default)]
    pub at_user_ids: Vec<String>,
    /// More people to mention by severity: `{critical: {at_mobiles: […]}}`. @everyone is
    /// for a rule to ask (`dingtalk: {at_all: true}`), never a channel.
    #[serde(default)]
    pub at_severity: BTreeMap<Severity, DingTalkAt>,
    /// Refused when true: @everyone is for a rule to ask, never for every alert of a channel.
    #[serde(default)]
    pub at_all: bool,
    /// For robots with keyword security: put in the title (and the text, if missing).
    #[serde(default)]
    pub keyword: Option<String>,
    /// `auto` (default): an actionCard with buttons when nobody is mentioned, else markdown.
    #[serde(default)]
    pub message_type: MessageType,
    /// Replaces template parts: `title`, `text`, `digest_title`, `digest_text`.
    #[serde(default)]
    pub templates: TemplateParts,
    /// The zone messages show times in (with UTC); default `display_timezone`.
    #[serde(default)]
    pub timezone: Option<TimeZone>,
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
    message_type: MessageType,
    /// Mentioned in every message.
    mentions: DingTalkAt,
    at_severity: BTreeMap<Severity, DingTalkAt>,
    templates: Templates,
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
        templates: Templates,
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
        let mentions = DingTalkAt {
            at_mobiles: config.at_mobiles.clone(),
            at_user_ids: config.at_user_ids.clone(),
            at_all: false,
        };
        mentions
            .check()
            .map_err(|(field, reason)| NotifyError::invalid(name, field, reason))?;
        if config.at_all {
            return Err(NotifyError::invalid(
                name,
                "at_all",
                "@everyone for every alert of a channel is refused; a rule that warrants it says `dingtalk: {at_all: true}`",
            ));
        }
        for at in config.at_severity.values() {
            at.check()
                .map_err(|(_, reason)| NotifyError::invalid(name, "at_severity", reason))?;
            if at.at_all {
                return Err(NotifyError::invalid(
                    name,
                    "at_severity",
                    "`at_all` is for a rule to ask (`dingtalk: {at_all: true}`), never a channel",
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
            message_type: config.message_type,
            mentions,
            at_severity: config.at_severity.clone(),
            templates,
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

    async fn send(&self, alert: &Alert) -> Result<Receipt, DeliveryError> {
        self.post(&self.alert_body(alert)).await
    }

    async fn send_digest(&self, alerts: &[Alert]) -> Result<Receipt, DeliveryError> {
        self.post(&self.digest_body(alerts)).await
    }
}

impl DingTalkChannel {
    /// The request body for one alert.
    pub(crate) fn alert_body(&self, alert: &Alert) -> serde_json::Value {
        let t = &self.templates;
        let buttons = [
            ("Open in Kibana", &alert.kibana_url),
            ("Acknowledge", &alert.ack_url),
        ]
        .into_iter()
        .filter_map(|(label, url)| {
            let url = url.as_ref().filter(|u| {
                super::escape::is_web_url(u) && u.len() <= super::template::MAX_LINK_BYTES
            })?;
            Some(message::Button {
                label,
                url: url.clone(),
            })
        })
        .collect();
        let msg = message::Message {
            title: t.render_alert("title", alert).unwrap_or_default(),
            text: t.render_alert("text", alert).unwrap_or_default(),
            buttons,
            mentions: self.mentions_for(&[alert]),
        };
        message::body(msg, self.keyword.as_deref(), self.message_type)
    }

    /// The request body for a digest of `alerts`.
    pub(crate) fn digest_body(&self, alerts: &[Alert]) -> serde_json::Value {
        let t = &self.templates;
        let msg = message::Message {
            title: t.render_digest("digest_title", alerts).unwrap_or_default(),
            text: t.render_digest("digest_text", alerts).unwrap_or_default(),
            buttons: Vec::new(),
            mentions: self.mentions_for(&worst_first(alerts)),
        };
        message::body(msg, self.keyword.as_deref(), self.message_type)
    }

    /// The channel's people, those of each alert's severity, and those its rule names.
    fn mentions_for(&self, alerts: &[&Alert]) -> DingTalkAt {
        let mut at = self.mentions.clone();
        for alert in alerts {
            if let Some(extra) = self.at_severity.get(&alert.severity) {
                at.add(extra);
            }
            if let Some(rule) = self.templates.rule_message(&alert.rule) {
                at.add(&rule.dingtalk);
            }
            // An escalation level's own people (from klaxon.yaml, never from log text).
            if let Some(level) = &alert.escalation {
                at.add(&DingTalkAt {
                    at_mobiles: level.at_mobiles.clone(),
                    at_user_ids: level.at_user_ids.clone(),
                    at_all: false,
                });
            }
        }
        at
    }
}

impl DingTalkChannel {
    async fn post(&self, body: &serde_json::Value) -> Result<Receipt, DeliveryError> {
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
            0 => Ok(http::receipt(status, &text, &secrets)),
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
        DingTalkChannel::new(
            "dt",
            &config(yaml),
            Arc::new(SystemClock),
            Templates::defaults("dt", PARTS),
        )
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
        let all = build("access_token: t\nat_all: true\n").err().unwrap();
        assert!(
            all.to_string().contains("dingtalk: {at_all: true}"),
            "{all}"
        );
        assert!(build("access_token: t\nat_all: false\n").is_ok());
        let mobile = build("access_token: t\nat_mobiles: ['138 [x](y)']\n")
            .err()
            .unwrap();
        assert!(mobile.to_string().contains("at_mobiles"), "{mobile}");
        assert!(build("access_token: t\n").is_ok());
    }
}
