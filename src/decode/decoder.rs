//! The per-line decoder: one instance per source, shared by reference on the hot path.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::time::{TimeFormat, TimeParser};
use super::{DecodeConfig, DecodeError, Format};
use crate::event::{Event, Origin};

/// Decodes lines of one source. Counters are atomics so a shared `&Decoder` can count.
#[derive(Debug)]
pub struct Decoder {
    format: Format,
    time_field: Option<String>,
    time: Option<TimeParser>,
    invalid_lines: AtomicU64,
    time_fallbacks: AtomicU64,
}

impl Decoder {
    pub fn new(config: &DecodeConfig) -> Result<Decoder, DecodeError> {
        let format = match (config.format, &config.time_field, &config.time_format) {
            (Format::Plain, Some(field), _) => {
                return Err(DecodeError::TimeFieldNeedsJson(field.clone()))
            }
            (Format::Json, None, Some(_)) => return Err(DecodeError::TimeFormatNeedsField),
            (Format::Json, Some(_), None) => Some(TimeFormat::Rfc3339),
            (_, _, format) => format.clone(),
        };
        Ok(Decoder {
            format: config.format,
            time_field: config.time_field.clone(),
            time: format.as_ref().map(TimeParser::new).transpose()?,
            invalid_lines: AtomicU64::new(0),
            time_fallbacks: AtomicU64::new(0),
        })
    }

    /// Decodes one line. Never fails: a line that does not decode is kept as a plain event
    /// (and counted), because dropping it could hide the very error an alert is for.
    pub fn decode(&self, raw: String, origin: Origin, arrival: DateTime<Utc>) -> Event {
        match self.format {
            Format::Plain => {
                let time = match &self.time {
                    Some(parser) => self.or_arrival(parser.parse_prefix(&raw), arrival),
                    None => arrival,
                };
                Event::plain(raw, time, origin)
            }
            Format::Json => match serde_json::from_str::<Map<String, Value>>(&raw) {
                Ok(fields) => {
                    let mut event = Event {
                        time: arrival,
                        raw,
                        fields: Some(fields),
                        origin,
                    };
                    if let (Some(field), Some(parser)) = (&self.time_field, &self.time) {
                        let found = event.value(field).and_then(|v| parser.parse_value(v));
                        event.time = self.or_arrival(found, arrival);
                    }
                    event
                }
                Err(_) => {
                    self.invalid_lines.fetch_add(1, Ordering::Relaxed);
                    let time = match self.time {
                        Some(_) => self.or_arrival(None, arrival),
                        None => arrival,
                    };
                    Event::plain(raw, time, origin)
                }
            },
        }
    }

    fn or_arrival(&self, found: Option<DateTime<Utc>>, arrival: DateTime<Utc>) -> DateTime<Utc> {
        found.unwrap_or_else(|| {
            self.time_fallbacks.fetch_add(1, Ordering::Relaxed);
            arrival
        })
    }

    /// Lines of a `json` source that were not a JSON object (kept as plain events).
    pub fn invalid_lines(&self) -> u64 {
        self.invalid_lines.load(Ordering::Relaxed)
    }

    /// Events whose time was configured but could not be read, so arrival time was used.
    pub fn time_fallbacks(&self) -> u64 {
        self.time_fallbacks.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::test_origin;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn decoder(format: Format, field: Option<&str>, time: Option<&str>) -> Decoder {
        Decoder::new(&DecodeConfig {
            format,
            time_field: field.map(String::from),
            time_format: time.map(|t| t.parse().unwrap()),
        })
        .unwrap()
    }

    const ARRIVAL: &str = "2030-01-01T00:00:00Z";

    #[test]
    fn plain_lines_have_no_fields_and_arrival_time() {
        let d = decoder(Format::Plain, None, None);
        let ev = d.decode("ERROR boom".into(), test_origin(), at(ARRIVAL));
        assert!(ev.fields.is_none());
        assert_eq!(ev.text("message").as_deref(), Some("ERROR boom"));
        assert_eq!(ev.time, at(ARRIVAL));
    }

    #[test]
    fn plain_lines_take_a_leading_timestamp() {
        let d = decoder(Format::Plain, None, Some("%Y-%m-%d %H:%M:%S%.f"));
        let ev = d.decode(
            "2026-06-08 03:00:00.123 ERROR boom".into(),
            test_origin(),
            at(ARRIVAL),
        );
        assert_eq!(ev.time, at("2026-06-08T03:00:00.123Z"));
        assert_eq!(ev.raw, "2026-06-08 03:00:00.123 ERROR boom");
        let ev = d.decode("\tat Foo.bar()".into(), test_origin(), at(ARRIVAL));
        assert_eq!(ev.time, at(ARRIVAL));
        assert_eq!(d.time_fallbacks(), 1);
    }

    #[test]
    fn json_fields_and_nested_time_field() {
        let d = decoder(Format::Json, Some("log.ts"), None);
        let line = r#"{"level":"error","log":{"ts":"2026-06-08T03:00:00Z"}}"#;
        let ev = d.decode(line.into(), test_origin(), at(ARRIVAL));
        assert_eq!(ev.text("level").as_deref(), Some("error"));
        assert_eq!(ev.time, at("2026-06-08T03:00:00Z"));
        assert_eq!(ev.raw, line);
        assert_eq!((d.invalid_lines(), d.time_fallbacks()), (0, 0));
    }

    #[test]
    fn json_epoch_ms_time_field() {
        let d = decoder(Format::Json, Some("ts"), Some("epoch_ms"));
        let ev = d.decode(r#"{"ts":1780887600500}"#.into(), test_origin(), at(ARRIVAL));
        assert_eq!(ev.time, at("2026-06-08T03:00:00.5Z"));
    }

    #[test]
    fn json_missing_or_unparseable_time_falls_back_to_arrival() {
        let d = decoder(Format::Json, Some("ts"), None);
        let ev = d.decode(r#"{"msg":"x"}"#.into(), test_origin(), at(ARRIVAL));
        assert_eq!(ev.time, at(ARRIVAL));
        let ev = d.decode(r#"{"ts":"noon"}"#.into(), test_origin(), at(ARRIVAL));
        assert_eq!(ev.time, at(ARRIVAL));
        assert_eq!(d.time_fallbacks(), 2);
        assert_eq!(d.invalid_lines(), 0);
    }

    #[test]
    fn invalid_json_and_non_objects_are_kept_as_plain_and_counted() {
        let d = decoder(Format::Json, None, None);
        for line in ["not json {", "[1,2]", "42", ""] {
            let ev = d.decode(line.into(), test_origin(), at(ARRIVAL));
            assert!(ev.fields.is_none(), "{line}");
            assert_eq!(ev.text("message").as_deref(), Some(line));
        }
        assert_eq!(d.invalid_lines(), 4);
    }

    #[test]
    fn inconsistent_configs_are_rejected() {
        let plain_field = DecodeConfig {
            format: Format::Plain,
            time_field: Some("ts".into()),
            time_format: None,
        };
        assert!(matches!(
            Decoder::new(&plain_field),
            Err(DecodeError::TimeFieldNeedsJson(_))
        ));
        let json_no_field = DecodeConfig {
            format: Format::Json,
            time_field: None,
            time_format: Some(TimeFormat::EpochSeconds),
        };
        assert!(matches!(
            Decoder::new(&json_no_field),
            Err(DecodeError::TimeFormatNeedsField)
        ));
    }
}
