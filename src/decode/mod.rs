//! Turning a raw line into an `Event`: fields and event time.

mod decoder;
mod json;
mod logfmt;
mod pattern;
mod time;

use serde::Deserialize;

pub use crate::types::TimeZone;

/// Every field of a JSON line, for an event decoded with fewer (see
/// [`crate::event::Event::fields_for`]); `None` when the line is not a JSON object.
pub fn all_json_fields(raw: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    json::parse_keeping(raw, &|_| true).map(|(fields, _)| fields)
}
pub use crate::event::FieldSelection;
pub use decoder::Decoder;
pub use pattern::preset_names;
pub use time::TimeFormat;

/// Everything a source says about decoding its lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    pub format: LineFormat,
    /// For `format: regex`: a regex with named groups, or a preset name
    /// (`nginx_combined`, `apache_combined`, `apache_common`).
    pub pattern: Option<String>,
    /// Field holding the event time (formats with fields only); dotted paths reach into
    /// JSON objects.
    pub time_field: Option<String>,
    /// How the time is written (default `rfc3339`); for plain lines, the format of a
    /// leading timestamp.
    pub time_format: Option<TimeFormat>,
    /// The zone of timestamps written without an offset.
    pub timezone: TimeZone,
    /// The time window a parsed event time must fall in, around the time the line is read:
    /// older than `max_event_age` or further ahead than `max_clock_skew`, the line's
    /// time is not believed (a forged or garbled timestamp) and its arrival time is used.
    pub limits: TimeLimits,
}

/// How far from the time a line is read its own timestamp may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeLimits {
    pub max_event_age: std::time::Duration,
    pub max_clock_skew: std::time::Duration,
}

impl TimeLimits {
    /// 10 years back (old logs replayed still count), 1 day ahead (clock skew between
    /// hosts, not a line that could hold alerts back for years).
    pub const DEFAULT: TimeLimits = TimeLimits {
        max_event_age: std::time::Duration::from_secs(3650 * 86_400),
        max_clock_skew: std::time::Duration::from_secs(86_400),
    };
}

impl Default for TimeLimits {
    fn default() -> Self {
        TimeLimits::DEFAULT
    }
}

/// The `format:` of a source.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineFormat {
    /// The whole line is the `message`.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
    /// `key=value key2="quoted value"` pairs.
    Logfmt,
    /// The named groups of `pattern`.
    Regex,
}

impl LineFormat {
    /// As written in klaxon.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            LineFormat::Plain => "plain",
            LineFormat::Json => "json",
            LineFormat::Logfmt => "logfmt",
            LineFormat::Regex => "regex",
        }
    }

    /// Lines of this format carry fields (so `time_field` can name one).
    pub fn has_fields(self) -> bool {
        self != LineFormat::Plain
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid time_format `{format}`: {reason}")]
    InvalidTimeFormat { format: String, reason: String },
    #[error("time_field `{0}` needs a format with fields (json, logfmt or regex): plain lines have none; set time_format to read a leading timestamp")]
    TimeFieldNeedsJson(String),
    #[error("time_format is set but time_field is not: name the field that holds the time")]
    TimeFormatNeedsField,
    #[error("invalid pattern `{pattern}`: {reason}")]
    InvalidPattern { pattern: String, reason: String },
    #[error("format: regex needs `pattern` (a regex with named groups, or one of: nginx_combined, apache_combined, apache_common)")]
    RegexNeedsPattern,
    #[error("`pattern` is only used with format: regex")]
    PatternNeedsRegex,
}
