//! Event time: the formats a timestamp may be written in, and reading one from a JSON
//! value or from the start of a plain line.
//!
//! Times without a zone (`2026-06-08 03:00:00.123`) are read in the source's `timezone`
//! (default: the local zone); times with an offset or epochs need none.

use std::fmt;
use std::str::FromStr;

use chrono::format::{self, Fixed, Item, Parsed, StrftimeItems};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::DecodeError;
use crate::types::TimeZone;

/// How a timestamp is written, as configured by `time_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// `2026-06-08T03:00:00.123Z`; also `2026-06-08 03:00:00.123` without a zone.
    Rfc3339,
    /// Seconds since the Unix epoch, integer or fractional, as a number or a string.
    EpochSeconds,
    /// Milliseconds since the Unix epoch.
    EpochMillis,
    /// A chrono strftime pattern such as `%Y-%m-%d %H:%M:%S%.f`.
    Strftime(String),
}

impl FromStr for TimeFormat {
    type Err = DecodeError;

    fn from_str(s: &str) -> Result<Self, DecodeError> {
        match s {
            "rfc3339" => Ok(TimeFormat::Rfc3339),
            "epoch_s" => Ok(TimeFormat::EpochSeconds),
            "epoch_ms" => Ok(TimeFormat::EpochMillis),
            pattern if pattern.contains('%') => {
                compile_pattern(pattern)?;
                Ok(TimeFormat::Strftime(pattern.to_string()))
            }
            other => Err(DecodeError::InvalidTimeFormat {
                format: other.to_string(),
                reason: "expected rfc3339, epoch_s, epoch_ms or a strftime pattern \
                         such as %Y-%m-%d %H:%M:%S%.f"
                    .to_string(),
            }),
        }
    }
}

impl fmt::Display for TimeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeFormat::Rfc3339 => f.write_str("rfc3339"),
            TimeFormat::EpochSeconds => f.write_str("epoch_s"),
            TimeFormat::EpochMillis => f.write_str("epoch_ms"),
            TimeFormat::Strftime(p) => f.write_str(p),
        }
    }
}

impl<'de> Deserialize<'de> for TimeFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

crate::types::impl_text_schema!(
    TimeFormat,
    "TimeFormat",
    "`rfc3339` (default), `epoch_s`, `epoch_ms`, or a chrono strftime pattern such as \
     `%Y-%m-%d %H:%M:%S%.f`.",
    "rfc3339|epoch_s|epoch_ms|.*%.*"
);

fn compile_pattern(pattern: &str) -> Result<Vec<Item<'static>>, DecodeError> {
    StrftimeItems::new(pattern)
        .parse_to_owned()
        .map_err(|e| DecodeError::InvalidTimeFormat {
            format: pattern.to_string(),
            reason: e.to_string(),
        })
}

/// Near-RFC 3339 forms the default `rfc3339` format also accepts (zone-less ones are read
/// in the source's time zone), in order.
const FALLBACK_PATTERNS: [&str; 3] = [
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f%z",
];

/// A [`TimeFormat`] compiled once, so the hot path never re-parses the pattern.
#[derive(Debug)]
pub(crate) struct TimeParser {
    kind: ParserKind,
    /// For times written without an offset.
    zone: TimeZone,
}

#[derive(Debug)]
enum ParserKind {
    Rfc3339 { naive: Vec<Vec<Item<'static>>> },
    EpochSeconds,
    EpochMillis,
    Pattern(Vec<Item<'static>>),
}

impl TimeParser {
    pub(crate) fn new(format: &TimeFormat, zone: TimeZone) -> Result<Self, DecodeError> {
        let kind = match format {
            TimeFormat::Rfc3339 => ParserKind::Rfc3339 {
                naive: FALLBACK_PATTERNS
                    .iter()
                    .map(|p| compile_pattern(p))
                    .collect::<Result<_, _>>()?,
            },
            TimeFormat::EpochSeconds => ParserKind::EpochSeconds,
            TimeFormat::EpochMillis => ParserKind::EpochMillis,
            TimeFormat::Strftime(p) => ParserKind::Pattern(compile_pattern(p)?),
        };
        Ok(TimeParser { kind, zone })
    }

    /// The time a JSON field holds: a string in this format, or a number for epochs.
    pub(crate) fn parse_value(&self, value: &Value) -> Option<DateTime<Utc>> {
        match (&self.kind, value) {
            (_, Value::String(s)) => self.parse_str(s.trim()),
            (ParserKind::EpochSeconds, Value::Number(n)) => match n.as_i64() {
                Some(secs) => DateTime::from_timestamp(secs, 0),
                None => from_fractional_seconds(n.as_f64()?),
            },
            (ParserKind::EpochMillis, Value::Number(n)) => match n.as_i64() {
                Some(ms) => DateTime::from_timestamp_millis(ms),
                None => from_fractional_seconds(n.as_f64()? / 1000.0),
            },
            _ => None,
        }
    }

    /// The time a whole string holds.
    pub(crate) fn parse_str(&self, s: &str) -> Option<DateTime<Utc>> {
        match &self.kind {
            ParserKind::Rfc3339 { naive } => DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
                .or_else(|| {
                    naive.iter().find_map(|items| {
                        let mut parsed = Parsed::new();
                        format::parse(&mut parsed, s, items.iter()).ok()?;
                        self.resolve(&parsed)
                    })
                }),
            ParserKind::EpochSeconds => parse_epoch(s, 1.0),
            ParserKind::EpochMillis => parse_epoch(s, 1000.0),
            ParserKind::Pattern(items) => {
                let mut parsed = Parsed::new();
                format::parse(&mut parsed, s, items.iter()).ok()?;
                self.resolve(&parsed)
            }
        }
    }

    /// The time at the very start of a plain line (`2026-06-08 03:00:00.123 ERROR ...`).
    pub(crate) fn parse_prefix(&self, line: &str) -> Option<DateTime<Utc>> {
        match &self.kind {
            ParserKind::Rfc3339 { naive } => {
                let rfc = [Item::Fixed(Fixed::RFC3339)];
                std::iter::once(&rfc[..])
                    .chain(naive.iter().map(Vec::as_slice))
                    .find_map(|items| self.prefix_with(items, line))
            }
            ParserKind::EpochSeconds | ParserKind::EpochMillis => {
                let end = line
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .unwrap_or(line.len());
                self.parse_str(&line[..end])
            }
            ParserKind::Pattern(items) => self.prefix_with(items, line),
        }
    }

    fn prefix_with(&self, items: &[Item<'_>], line: &str) -> Option<DateTime<Utc>> {
        let mut parsed = Parsed::new();
        format::parse_and_remainder(&mut parsed, line, items.iter()).ok()?;
        self.resolve(&parsed)
    }

    /// A parsed time in UTC: by its own offset, else in the configured zone.
    fn resolve(&self, parsed: &Parsed) -> Option<DateTime<Utc>> {
        if parsed.offset().is_some() {
            parsed.to_datetime().ok().map(|t| t.with_timezone(&Utc))
        } else {
            let naive = parsed.to_naive_datetime_with_offset(0).ok()?;
            self.zone.resolve(&naive)
        }
    }
}

/// `per_second` is 1 for seconds, 1000 for milliseconds. Integers avoid float rounding.
fn parse_epoch(s: &str, per_second: f64) -> Option<DateTime<Utc>> {
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<i64>() {
        return if per_second == 1.0 {
            DateTime::from_timestamp(n, 0)
        } else {
            DateTime::from_timestamp_millis(n)
        };
    }
    from_fractional_seconds(s.parse::<f64>().ok()? / per_second)
}

fn from_fractional_seconds(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() {
        return None;
    }
    // Microsecond precision is all a float epoch can carry reliably.
    let micros = (secs * 1e6).round();
    if micros.abs() > i64::MAX as f64 {
        return None;
    }
    DateTime::from_timestamp_micros(micros as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn parser(format: &str) -> TimeParser {
        TimeParser::new(&format.parse().unwrap(), TimeZone::Utc).unwrap()
    }

    #[test]
    fn rfc3339_accepts_zones_and_naive_utc() {
        let p = parser("rfc3339");
        let want = at("2026-06-08T03:00:00.123Z");
        assert_eq!(p.parse_str("2026-06-08T03:00:00.123Z"), Some(want));
        assert_eq!(p.parse_str("2026-06-08T11:00:00.123+08:00"), Some(want));
        assert_eq!(p.parse_str("2026-06-08 03:00:00.123"), Some(want));
        assert_eq!(p.parse_str("2026-06-08T03:00:00.123"), Some(want));
        assert_eq!(p.parse_str("2026-06-08T11:00:00.123+0800"), Some(want));
        assert_eq!(p.parse_str("yesterday"), None);
        assert_eq!(p.parse_value(&json!(1780887600)), None);
    }

    #[test]
    fn epochs_from_numbers_and_strings() {
        let s = parser("epoch_s");
        let ms = parser("epoch_ms");
        let want = at("2026-06-08T03:00:00Z");
        assert_eq!(s.parse_value(&json!(1780887600)), Some(want));
        assert_eq!(s.parse_value(&json!("1780887600")), Some(want));
        assert_eq!(
            s.parse_value(&json!(1780887600.25)),
            Some(want + chrono::Duration::milliseconds(250))
        );
        assert_eq!(ms.parse_value(&json!(1780887600123_i64)).unwrap(), {
            want + chrono::Duration::milliseconds(123)
        });
        assert_eq!(ms.parse_value(&json!("1780887600000")), Some(want));
        assert_eq!(s.parse_value(&json!("soon")), None);
        assert_eq!(s.parse_value(&json!(true)), None);
    }

    #[test]
    fn strftime_patterns_parse_whole_values_and_line_prefixes() {
        let p = parser("%Y-%m-%d %H:%M:%S%.f");
        let want = at("2026-06-08T03:00:00.123Z");
        assert_eq!(p.parse_str("2026-06-08 03:00:00.123"), Some(want));
        assert_eq!(
            p.parse_prefix("2026-06-08 03:00:00.123 ERROR order failed"),
            Some(want)
        );
        assert_eq!(p.parse_prefix("ERROR 2026-06-08 03:00:00.123"), None);
        let zoned = parser("%d/%b/%Y:%H:%M:%S %z");
        assert_eq!(
            zoned.parse_prefix("08/Jun/2026:11:00:00 +0800 \"GET /\""),
            Some(at("2026-06-08T03:00:00Z"))
        );
    }

    #[test]
    fn rfc3339_and_epoch_prefixes_of_plain_lines() {
        let want = at("2026-06-08T03:00:00Z");
        assert_eq!(
            parser("rfc3339").parse_prefix("2026-06-08T03:00:00Z INFO up"),
            Some(want)
        );
        assert_eq!(
            parser("rfc3339").parse_prefix("2026-06-08 03:00:00 INFO up"),
            Some(want)
        );
        assert_eq!(
            parser("epoch_s").parse_prefix("1780887600 INFO up"),
            Some(want)
        );
        assert_eq!(parser("epoch_s").parse_prefix("INFO up"), None);
    }

    #[test]
    fn bad_formats_are_rejected_with_a_reason() {
        let err = "iso".parse::<TimeFormat>().unwrap_err().to_string();
        assert!(err.contains("expected rfc3339"), "{err}");
        assert!("%Y-%Q".parse::<TimeFormat>().is_err());
        assert_eq!(
            "%Y".parse::<TimeFormat>().unwrap(),
            TimeFormat::Strftime("%Y".into())
        );
    }
}
