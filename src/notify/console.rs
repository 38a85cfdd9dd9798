//! `type: console`: one readable block per alert on standard output.

use std::io::Write;
use std::sync::Mutex;

use serde::Deserialize;

use super::channel::{Channel, DeliveryError, Receipt};
use super::stages::DeliveryOptions;
use super::template::{defaults, Markup, Part, Role, TemplateParts, Templates};
use crate::alert::Alert;
use crate::types::TimeZone;

/// The template parts of a console channel.
pub const PARTS: &[Part] = &[
    Part::new("text", Markup::Text, Role::Body, defaults::TEXT_ALERT),
    Part::new(
        "digest_text",
        Markup::Text,
        Role::DigestBody,
        defaults::TEXT_DIGEST,
    ),
];

#[derive(Debug, Clone, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// `block` (default): every detail, as a chat message would carry it; `line`: one
    /// line per alert (time, title, count, channel).
    #[serde(default)]
    pub format: ConsoleFormat,
    /// Rate limit, retries, fallback (see `notify::stages::DeliveryOptions`).
    #[serde(default)]
    pub delivery: DeliveryOptions,
    /// Replaces template parts: `text`, `digest_text`.
    #[serde(default)]
    pub templates: TemplateParts,
    /// The zone messages show times in (with UTC); default `display_timezone`.
    #[serde(default)]
    pub timezone: Option<TimeZone>,
}

/// How much of an alert the console shows.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleFormat {
    /// Every detail, as a chat message would carry it.
    #[default]
    Block,
    /// One line: time, title, count, channel.
    Line,
}

/// Writes alerts to a writer (stdout unless injected).
pub struct ConsoleChannel {
    name: String,
    format: ConsoleFormat,
    templates: Templates,
    out: Mutex<Box<dyn Write + Send>>,
}

impl ConsoleChannel {
    pub fn new(name: &str) -> Self {
        Self::with_writer(name, Box::new(std::io::stdout()))
    }

    /// For tests and embedding: write to any writer instead of stdout.
    pub fn with_writer(name: &str, out: Box<dyn Write + Send>) -> Self {
        ConsoleChannel {
            name: name.to_string(),
            format: ConsoleFormat::Block,
            templates: Templates::defaults(name, PARTS),
            out: Mutex::new(out),
        }
    }

    pub fn with_templates(mut self, templates: Templates) -> Self {
        self.templates = templates;
        self
    }

    pub fn with_format(mut self, format: ConsoleFormat) -> Self {
        self.format = format;
        self
    }
}

#[async_trait::async_trait]
impl Channel for ConsoleChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alert: &Alert) -> Result<Receipt, DeliveryError> {
        let block = match self.format {
            ConsoleFormat::Block => {
                let text = self
                    .templates
                    .render_alert("text", alert)
                    .unwrap_or_default();
                format!("── {} ──\n{text}\n\n", self.name)
            }
            ConsoleFormat::Line => format!(
                "{} {} count={} → {}\n",
                alert.fired_at.format("%H:%M:%S"),
                crate::types::flat(&alert.title()),
                alert.count,
                self.name
            ),
        };
        self.write(&block)
    }

    async fn send_digest(&self, alerts: &[Alert]) -> Result<Receipt, DeliveryError> {
        let block = match self.format {
            ConsoleFormat::Block => {
                let text = self
                    .templates
                    .render_digest("digest_text", alerts)
                    .unwrap_or_default();
                format!("── {} ──\n{text}\n\n", self.name)
            }
            ConsoleFormat::Line => format!("{} alerts → {}\n", alerts.len(), self.name),
        };
        self.write(&block)
    }
}

impl ConsoleChannel {
    fn write(&self, block: &str) -> Result<Receipt, DeliveryError> {
        // Values are already clean; this also covers what a template itself wrote, so
        // nothing printed can drive the terminal.
        let block = super::escape::sanitize(block);
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.write_all(block.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| DeliveryError::Retryable {
                message: format!("writing to the console failed: {e}"),
                retry_after: None,
            })?;
        Ok(Receipt::new(format!(
            "written to standard output ({} bytes)",
            block.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::sample_alert;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn prints_one_block_per_alert_without_terminal_escapes() {
        let buf = Shared::default();
        let ch = ConsoleChannel::with_writer("console", Box::new(buf.clone()));
        let mut alert = sample_alert();
        alert.sample = "boom \u{1b}[2J cleared".into();
        ch.send(&alert).await.unwrap();
        ch.send(&alert).await.unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text.matches("[CRITICAL] order-errors (sku=A-1)\n").count(),
            2
        );
        assert!(text.contains("  boom \u{FFFD}[2J cleared\n"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }
}
