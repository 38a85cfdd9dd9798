//! `type: slack`: a Slack incoming webhook, Block Kit message.
//!
//! Untrusted text is escaped with exactly `&` `<` `>` (so `<!channel>`, `<@U…>` and links
//! cannot form) and sent as mrkdwn with `verbatim: true` (no auto-linking of URLs or
//! channel names). Every text object is cut to Slack's limits.

use std::sync::Arc;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::channel::{Channel, DeliveryError};
use super::digest::RenderedDigest;
use super::render::Rendered;
use super::stages::DeliveryOptions;
use super::{default_timeout, escape, http, NotifyError};
use crate::alert::Alert;
use crate::clock::Clock;
use crate::types::{HumanDuration, Secret};

/// Slack's documented limits, in characters.
const MAX_TEXT: usize = 40_000;
const MAX_SECTION_TEXT: usize = 3_000;
const MAX_FIELD_TEXT: usize = 2_000;
const MAX_HEADER_TEXT: usize = 150;
const MAX_BUTTON_URL: usize = 3_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// `https://hooks.slack.com/services/…`: the path is the credential.
    pub webhook_url: Secret,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Rate limit, retries, fallback (see `notify::stages::DeliveryOptions`).
    #[serde(default)]
    pub delivery: DeliveryOptions,
}

pub struct SlackChannel {
    name: String,
    url: reqwest::Url,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    redact: Vec<String>,
}

impl SlackChannel {
    pub fn new(
        name: &str,
        config: &SlackConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, NotifyError> {
        let url = super::parse_http_url(name, "webhook_url", config.webhook_url.expose())?;
        // The path segments after /services/ are the credential.
        let mut redact = http::url_secrets(&url);
        redact.push(config.webhook_url.expose().to_string());
        Ok(SlackChannel {
            name: name.to_string(),
            url,
            client: http::client(name, config.timeout.0)?,
            clock,
            redact,
        })
    }
}

/// A mrkdwn text object that Slack shows as written (no auto-links).
fn mrkdwn(text: String) -> Value {
    json!({"type": "mrkdwn", "text": text, "verbatim": true})
}

/// The Slack message for one alert: `text` (notification fallback) plus `blocks`.
pub fn message(r: &Rendered) -> Value {
    let fields: Vec<Value> = r
        .fields
        .iter()
        // Slack allows at most 10 fields per section; we have at most 7.
        .take(10)
        .map(|f| {
            let label = format!("*{}*\n", f.label);
            let budget = MAX_FIELD_TEXT - label.chars().count();
            mrkdwn(format!("{label}{}", escape::slack(&f.value, budget)))
        })
        .collect();
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": {"type": "plain_text", "text": escape::slack(&r.title, MAX_HEADER_TEXT), "emoji": false},
        }),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(h) = &r.held_back {
        blocks.push(
            json!({"type": "context", "elements": [mrkdwn(escape::slack(h, MAX_SECTION_TEXT))]}),
        );
    }
    if let Some(d) = &r.description {
        let label = "*Description*\n";
        blocks.push(json!({"type": "section", "text": mrkdwn(format!(
            "{label}{}",
            escape::slack(d, MAX_SECTION_TEXT - label.chars().count())
        ))}));
    }
    let (open, close) = ("*Sample*\n```\n", "\n```");
    let budget = MAX_SECTION_TEXT - open.chars().count() - close.chars().count();
    blocks.push(json!({"type": "section", "text": mrkdwn(format!(
        "{open}{}{close}",
        escape::slack_code(&r.sample, budget)
    ))}));
    if let Some(url) = r.kibana_url.as_ref().filter(|u| u.len() <= MAX_BUTTON_URL) {
        blocks.push(json!({"type": "actions", "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": "Open in Kibana"},
            "url": url,
        }]}));
    }
    json!({
        "text": escape::slack(&r.plain_text(), MAX_TEXT),
        "blocks": blocks,
    })
}

/// The Slack message for several alerts: a header, then the rows as mrkdwn lines in as many
/// sections as Slack's limits need.
pub fn digest_message(d: &RenderedDigest) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": escape::slack(&d.title, MAX_HEADER_TEXT), "emoji": false},
    })];
    let mut section = String::new();
    let mut lines: Vec<String> = d
        .rows
        .iter()
        .map(|r| {
            let key = if r.key.is_empty() {
                String::new()
            } else {
                format!(" ({})", escape::slack(&r.key, 300))
            };
            format!(
                "• *{}*{key}: {} × {}, {} → {}",
                escape::slack(&r.rule, 300),
                r.severity,
                r.count,
                r.first_seen,
                r.last_seen
            )
        })
        .collect();
    lines.extend(d.more_line());
    for line in lines {
        if section.chars().count() + line.chars().count() + 1 > MAX_SECTION_TEXT {
            blocks.push(json!({"type": "section", "text": mrkdwn(std::mem::take(&mut section))}));
        }
        section.push_str(&line);
        section.push('\n');
    }
    if !section.is_empty() {
        blocks.push(json!({"type": "section", "text": mrkdwn(section)}));
    }
    json!({
        "text": escape::slack(&d.plain_text(), MAX_TEXT),
        "blocks": blocks,
    })
}

#[async_trait::async_trait]
impl Channel for SlackChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alert: &Alert) -> Result<(), DeliveryError> {
        self.post(&message(&Rendered::new(alert))).await
    }

    async fn send_digest(&self, alerts: &[Alert]) -> Result<(), DeliveryError> {
        self.post(&digest_message(&RenderedDigest::new(alerts)))
            .await
    }
}

impl SlackChannel {
    async fn post(&self, body: &Value) -> Result<(), DeliveryError> {
        let secrets: Vec<&str> = self.redact.iter().map(String::as_str).collect();
        // Slack's error is a short word in the body (`invalid_payload`, `no_text`, …).
        let request = self.client.post(self.url.clone()).json(body);
        let (status, _) = http::send(request, &*self.clock, &secrets).await?;
        if status != StatusCode::OK {
            return Err(DeliveryError::Permanent {
                message: format!("unexpected HTTP {status} from Slack"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::sample_alert;

    fn all_texts(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| all_texts(x, out)),
            Value::Object(o) => o.values().for_each(|x| all_texts(x, out)),
            _ => {}
        }
    }

    #[test]
    fn respects_slack_limits_on_huge_input() {
        let mut alert = sample_alert();
        alert.sample = "<&>".repeat(10_000);
        alert.key.insert("k", "v&".repeat(5_000));
        alert.description = Some("d".repeat(5_000));
        let msg = message(&Rendered::new(&alert));
        assert!(msg["text"].as_str().unwrap().chars().count() <= MAX_TEXT);
        for block in msg["blocks"].as_array().unwrap() {
            if let Some(t) = block["text"]["text"].as_str() {
                assert!(t.chars().count() <= MAX_SECTION_TEXT, "{}", t.len());
            }
            for f in block["fields"].as_array().into_iter().flatten() {
                assert!(f["text"].as_str().unwrap().chars().count() <= MAX_FIELD_TEXT);
            }
        }
        let header = msg["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(header.chars().count() <= MAX_HEADER_TEXT);
        let sample = msg["blocks"][3]["text"]["text"].as_str().unwrap();
        assert!(sample.ends_with("…\n```"), "{sample}");
        let mut texts = Vec::new();
        all_texts(&msg, &mut texts);
        assert!(texts.iter().all(|t| !t.contains('<')));
    }

    #[test]
    fn kibana_link_becomes_a_button() {
        let mut alert = sample_alert();
        alert.kibana_url = Some("http://kibana/app/discover#/?_a=(query:'x')".into());
        let msg = message(&Rendered::new(&alert));
        let last = msg["blocks"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["type"], "actions");
        assert_eq!(
            last["elements"][0]["url"],
            "http://kibana/app/discover#/?_a=(query:'x')"
        );
    }
}
