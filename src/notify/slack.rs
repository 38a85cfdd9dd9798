//! `type: slack`: a Slack incoming webhook, Block Kit message.
//!
//! Untrusted text is escaped with exactly `&` `<` `>` (so `<!channel>`, `<@U…>` and links
//! cannot form) and sent as mrkdwn with `verbatim: true` (no auto-linking of URLs or
//! channel names). Every text object is cut to Slack's limits.

use std::sync::Arc;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::channel::{Channel, DeliveryError, Receipt};
use super::stages::DeliveryOptions;
use super::template::{defaults, Markup, Part, Role, TemplateParts, Templates};
use super::{default_timeout, escape, http, NotifyError};
use crate::alert::Alert;
use crate::clock::Clock;
use crate::types::{HumanDuration, Secret, TimeZone};

/// Slack's documented limits, in characters.
const MAX_TEXT: usize = 40_000;
const MAX_SECTION_TEXT: usize = 3_000;
const MAX_FIELD_TEXT: usize = 2_000;
const MAX_HEADER_TEXT: usize = 150;
const MAX_BUTTON_URL: usize = 3_000;
const MAX_BLOCKS: usize = 50;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// `https://hooks.slack.com/services/…`: the path is the credential.
    pub webhook_url: Secret,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Rate limit, retries, fallback (see `notify::stages::DeliveryOptions`).
    #[serde(default)]
    pub delivery: DeliveryOptions,
    /// Replaces template parts: `header`, `text`, `digest_header`, `digest_text`.
    #[serde(default)]
    pub templates: TemplateParts,
    /// The zone messages show times in (with UTC); default `display_timezone`.
    #[serde(default)]
    pub timezone: Option<TimeZone>,
}

pub struct SlackChannel {
    name: String,
    templates: Templates,
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
        templates: Templates,
    ) -> Result<Self, NotifyError> {
        let url = super::parse_http_url(name, "webhook_url", config.webhook_url.expose())?;
        // The path segments after /services/ are the credential.
        let mut redact = http::url_secrets(&url);
        redact.push(config.webhook_url.expose().to_string());
        Ok(SlackChannel {
            name: name.to_string(),
            templates,
            url,
            client: http::client(name, config.timeout.0)?,
            clock,
            redact,
        })
    }
}

/// The template parts of a Slack channel.
pub const PARTS: &[Part] = &[
    Part::new("header", Markup::Slack, Role::Title, defaults::TITLE),
    Part::new("text", Markup::Slack, Role::Body, defaults::SLACK_ALERT),
    Part::new(
        "digest_header",
        Markup::Slack,
        Role::DigestTitle,
        defaults::DIGEST_TITLE,
    ),
    Part::new(
        "digest_text",
        Markup::Slack,
        Role::DigestBody,
        defaults::SLACK_DIGEST,
    ),
];

/// A mrkdwn text object that Slack shows as written (no auto-links).
fn mrkdwn(text: String) -> Value {
    json!({"type": "mrkdwn", "text": text, "verbatim": true})
}

fn header(text: &str) -> Value {
    json!({
        "type": "header",
        "text": {"type": "plain_text", "text": escape::truncate(text, MAX_HEADER_TEXT), "emoji": false},
    })
}

/// A labelled field (the label is ours; the value is already escaped).
fn field(label: &str, value: &str) -> Value {
    let label = format!("*{label}*\n");
    let budget = MAX_FIELD_TEXT - label.chars().count();
    mrkdwn(format!("{label}{}", escape::truncate(value, budget)))
}

/// Splits rendered mrkdwn into section blocks within Slack's limits: at blank lines outside
/// code blocks, a paragraph too long for one section at line breaks (a code block split so
/// is closed and reopened), and only a single line too long for a section is cut.
fn sections(text: &str, blocks: &mut Vec<Value>) {
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_code = false;
    for line in text.split('\n') {
        if line.is_empty() && !in_code && !current.is_empty() {
            paragraphs.push(std::mem::take(&mut current));
            continue;
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
        in_code ^= line.matches("```").count() % 2 == 1;
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    let mut section = String::new();
    for piece in paragraphs.iter().flat_map(|p| split_long(p)) {
        let fits = section.chars().count() + piece.chars().count() + 2 <= MAX_SECTION_TEXT;
        if !section.is_empty() && !fits {
            blocks.push(json!({"type": "section", "text": mrkdwn(std::mem::take(&mut section))}));
        }
        if !section.is_empty() {
            section.push_str("\n\n");
        }
        section.push_str(&piece);
    }
    if !section.is_empty() {
        blocks.push(json!({"type": "section", "text": mrkdwn(section)}));
    }
}

/// A paragraph in pieces that each fit a section.
fn split_long(paragraph: &str) -> Vec<String> {
    const FENCE: usize = 4; // "```\n" or "\n```"
    let limit = MAX_SECTION_TEXT - 2 * FENCE;
    if paragraph.chars().count() <= MAX_SECTION_TEXT {
        return vec![paragraph.to_string()];
    }
    let mut pieces = Vec::new();
    let mut piece = String::new();
    let mut len = 0;
    let mut in_code = false;
    for line in paragraph.split('\n') {
        let line = escape::truncate(line, limit);
        let line_len = line.chars().count();
        if len > 0 && len + 1 + line_len > limit {
            if in_code {
                piece.push_str("\n```");
            }
            pieces.push(std::mem::take(&mut piece));
            if in_code {
                piece.push_str("```\n");
            }
            len = piece.chars().count();
        } else if len > 0 {
            piece.push('\n');
            len += 1;
        }
        piece.push_str(&line);
        len += line_len;
        in_code ^= line.matches("```").count() % 2 == 1;
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

/// The Slack message for one alert: `text` (the notification) plus blocks — header,
/// fields, the `text` template in sections, and a Kibana button.
pub fn message(templates: &Templates, alert: &Alert) -> Value {
    let title = templates.render_alert("header", alert).unwrap_or_default();
    let times = templates.times();
    let mut fields = vec![field("Severity", alert.severity.as_str())];
    if !alert.key.is_empty() {
        let key = crate::types::flat(&escape::sanitize(&alert.key_text())).into_owned();
        fields.push(field("Key", &escape::slack(&key, MAX_FIELD_TEXT)));
    }
    fields.push(field("First seen", &times.show(alert.first_seen)));
    fields.push(field("Last seen", &times.show(alert.last_seen)));
    let mut blocks = vec![header(&title), json!({"type": "section", "fields": fields})];
    let body = templates.render_alert("text", alert).unwrap_or_default();
    sections(&body, &mut blocks);
    let buttons: Vec<Value> = [
        ("Open in Kibana", &alert.kibana_url),
        ("Acknowledge", &alert.ack_url),
    ]
    .into_iter()
    .filter_map(|(label, url)| {
        let url = url
            .as_ref()
            .filter(|u| escape::is_web_url(u) && u.len() <= MAX_BUTTON_URL)?;
        Some(json!({
            "type": "button",
            "text": {"type": "plain_text", "text": label},
            "url": url,
        }))
    })
    .collect();
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    blocks.truncate(MAX_BLOCKS);
    json!({
        "text": escape::truncate(&title, MAX_TEXT),
        "blocks": blocks,
    })
}

/// The Slack message for several alerts: a header, then the `digest_text` template.
pub fn digest_message(templates: &Templates, alerts: &[Alert]) -> Value {
    let title = templates
        .render_digest("digest_header", alerts)
        .unwrap_or_default();
    let mut blocks = vec![header(&title)];
    let body = templates
        .render_digest("digest_text", alerts)
        .unwrap_or_default();
    sections(&body, &mut blocks);
    blocks.truncate(MAX_BLOCKS);
    json!({
        "text": escape::truncate(&title, MAX_TEXT),
        "blocks": blocks,
    })
}

#[async_trait::async_trait]
impl Channel for SlackChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alert: &Alert) -> Result<Receipt, DeliveryError> {
        self.post(&message(&self.templates, alert)).await
    }

    async fn send_digest(&self, alerts: &[Alert]) -> Result<Receipt, DeliveryError> {
        self.post(&digest_message(&self.templates, alerts)).await
    }
}

impl SlackChannel {
    async fn post(&self, body: &Value) -> Result<Receipt, DeliveryError> {
        let secrets: Vec<&str> = self.redact.iter().map(String::as_str).collect();
        // Slack's error is a short word in the body (`invalid_payload`, `no_text`, …).
        let request = self.client.post(self.url.clone()).json(body);
        let (status, answer) = http::send(request, &*self.clock, &secrets).await?;
        if status != StatusCode::OK {
            return Err(DeliveryError::Permanent {
                message: format!("unexpected HTTP {status} from Slack"),
            });
        }
        Ok(http::receipt(status, &answer, &secrets))
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

    fn defaults() -> Templates {
        Templates::defaults("slack", PARTS)
    }

    #[test]
    fn respects_slack_limits_on_huge_input() {
        let mut alert = sample_alert();
        alert.sample = "<&>".repeat(10_000);
        alert.key.insert("k", "v&".repeat(5_000));
        alert.description = Some("d".repeat(5_000));
        let msg = message(&defaults(), &alert);
        assert!(msg["text"].as_str().unwrap().chars().count() <= MAX_TEXT);
        let blocks = msg["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS);
        for block in blocks {
            if let Some(t) = block["text"]["text"].as_str() {
                assert!(t.chars().count() <= MAX_SECTION_TEXT, "{}", t.len());
            }
            for f in block["fields"].as_array().into_iter().flatten() {
                assert!(f["text"].as_str().unwrap().chars().count() <= MAX_FIELD_TEXT);
            }
        }
        let header = blocks[0]["text"]["text"].as_str().unwrap();
        assert!(header.chars().count() <= MAX_HEADER_TEXT);
        let sample = blocks
            .iter()
            .filter_map(|b| b["text"]["text"].as_str())
            .find(|t| t.contains("```"))
            .unwrap();
        assert!(sample.ends_with("…\n```"), "{sample}");
        let mut texts = Vec::new();
        all_texts(&msg, &mut texts);
        assert!(texts.iter().all(|t| !t.contains('<')));
    }

    #[test]
    fn kibana_link_becomes_a_button() {
        let mut alert = sample_alert();
        alert.kibana_url = Some("http://kibana/app/discover#/?_a=(query:'x')".into());
        let msg = message(&defaults(), &alert);
        let last = msg["blocks"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["type"], "actions");
        assert_eq!(
            last["elements"][0]["url"],
            "http://kibana/app/discover#/?_a=(query:'x')"
        );
    }

    #[test]
    fn a_long_paragraph_is_split_at_line_breaks_not_cut() {
        // A digest-like table: one paragraph of 40 long lines, then a last line.
        let rows: Vec<String> = (0..40)
            .map(|i| format!("• row {i:02} {}", "k".repeat(150)))
            .collect();
        let text = format!("{}\n… and 20 more", rows.join("\n"));
        let mut blocks = Vec::new();
        sections(&text, &mut blocks);
        let texts: Vec<&str> = blocks
            .iter()
            .map(|b| b["text"]["text"].as_str().unwrap())
            .collect();
        assert!(texts.len() > 1);
        assert!(texts.iter().all(|t| t.chars().count() <= MAX_SECTION_TEXT));
        let joined = texts.join("\n");
        assert_eq!(joined, text, "nothing lost");
        // A code block split across sections is closed and reopened.
        let code = format!(
            "```\n{}\n```",
            (0..500)
                .map(|i| format!("line {i:03}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let mut blocks = Vec::new();
        sections(&code, &mut blocks);
        assert!(blocks.len() > 1);
        for b in &blocks {
            let t = b["text"]["text"].as_str().unwrap();
            assert!(t.starts_with("```\n") && t.ends_with("\n```"), "{t}");
        }
    }

    #[test]
    fn sections_split_at_blank_lines_but_never_inside_a_code_block() {
        let text = format!("a\n\n```\nx\n\ny\n```\n\n{}", "b".repeat(2_990));
        let mut blocks = Vec::new();
        sections(&text, &mut blocks);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0]["text"]["text"], "a\n\n```\nx\n\ny\n```");
    }
}
