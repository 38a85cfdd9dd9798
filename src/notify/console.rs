//! `type: console`: one readable block per alert on standard output.

use std::io::Write;
use std::sync::Mutex;

use serde::Deserialize;

use super::channel::{Channel, DeliveryError};
use super::digest::RenderedDigest;
use super::render::Rendered;
use super::stages::DeliveryOptions;
use crate::alert::Alert;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    #[serde(default)]
    pub format: ConsoleFormat,
    /// Rate limit, retries, fallback (see `notify::stages::DeliveryOptions`).
    #[serde(default)]
    pub delivery: DeliveryOptions,
}

/// How much of an alert the console shows.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
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
            out: Mutex::new(out),
        }
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

    async fn send(&self, alert: &Alert) -> Result<(), DeliveryError> {
        // `Rendered` already replaced control characters, so a log line cannot drive the terminal.
        let rendered = Rendered::new(alert);
        let block = match self.format {
            ConsoleFormat::Block => format!("── {} ──\n{}\n", self.name, rendered.plain_text()),
            ConsoleFormat::Line => format!(
                "{} {} count={} → {}\n",
                alert.fired_at.format("%H:%M:%S"),
                rendered.title,
                alert.count,
                self.name
            ),
        };
        self.write(&block)
    }

    async fn send_digest(&self, alerts: &[Alert]) -> Result<(), DeliveryError> {
        let digest = RenderedDigest::new(alerts);
        let block = match self.format {
            ConsoleFormat::Block => format!("── {} ──\n{}\n", self.name, digest.plain_text()),
            ConsoleFormat::Line => format!("{} → {}\n", digest.title, self.name),
        };
        self.write(&block)
    }
}

impl ConsoleChannel {
    fn write(&self, block: &str) -> Result<(), DeliveryError> {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.write_all(block.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| DeliveryError::Retryable {
                message: format!("writing to the console failed: {e}"),
                retry_after: None,
            })
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
