//! Turning a raw line into an `Event`: fields and event time.

use serde::Deserialize;

/// How a source's lines are decoded.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct DecodeConfig {
    #[serde(default)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The whole line is the `message`.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}
