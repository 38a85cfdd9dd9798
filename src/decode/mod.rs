//! Turning a raw line into an `Event`: fields and event time.

mod decoder;
mod time;

use serde::Deserialize;

pub use decoder::Decoder;
pub use time::TimeFormat;

/// How a source's lines are decoded.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DecodeConfig {
    #[serde(default)]
    pub format: Format,
    /// JSON field (a dotted path such as `log.time` reaches into objects) holding the
    /// event time. Without it the event time is the arrival time.
    #[serde(default)]
    pub time_field: Option<String>,
    /// How the time is written (default `rfc3339`). For plain lines a format here means
    /// "each line starts with a timestamp in this format".
    #[serde(default)]
    pub time_format: Option<TimeFormat>,
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

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid time_format `{format}`: {reason}")]
    InvalidTimeFormat { format: String, reason: String },
    #[error("time_field `{0}` needs `format: json` (plain lines have no fields; set time_format to read a leading timestamp)")]
    TimeFieldNeedsJson(String),
    #[error("time_format is set but time_field is not: name the JSON field that holds the time")]
    TimeFormatNeedsField,
}
