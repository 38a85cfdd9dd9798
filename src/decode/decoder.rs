//! The per-line decoder: one instance per source, shared by reference on the hot path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::pattern::Pattern;
use super::time::{TimeFormat, TimeParser};
use super::{json, logfmt, DecodeError, DecodeOptions, FieldSelection, LineFormat, TimeLimits};
use crate::event::{Event, Origin, MESSAGE_FIELD};

/// Decodes lines of one source. Counters are atomics so a shared `&Decoder` can count.
#[derive(Debug)]
pub struct Decoder {
    format: LineFormat,
    pattern: Option<Pattern>,
    time_field: Option<String>,
    /// The top-level keys reading `time_field` needs (kept whatever the rules read).
    time_keys: Vec<String>,
    time: Option<TimeParser>,
    limits: TimeLimits,
    invalid_lines: AtomicU64,
    time_fallbacks: AtomicU64,
    times_out_of_range: AtomicU64,
    repaired_lines: AtomicU64,
}

impl Decoder {
    pub fn with_options(options: &DecodeOptions) -> Result<Decoder, DecodeError> {
        let fielded = options.format.has_fields();
        let time_format = match (fielded, &options.time_field, &options.time_format) {
            (false, Some(field), _) => return Err(DecodeError::TimeFieldNeedsJson(field.clone())),
            (true, None, Some(_)) => return Err(DecodeError::TimeFormatNeedsField),
            (true, Some(_), None) => Some(TimeFormat::Rfc3339),
            (_, _, format) => format.clone(),
        };
        let pattern = match (options.format, &options.pattern) {
            (LineFormat::Regex, Some(p)) => Some(Pattern::new(p)?),
            (LineFormat::Regex, None) => return Err(DecodeError::RegexNeedsPattern),
            (_, Some(_)) => return Err(DecodeError::PatternNeedsRegex),
            (_, None) => None,
        };
        Ok(Decoder {
            format: options.format,
            pattern,
            time_field: options.time_field.clone(),
            time_keys: options
                .time_field
                .iter()
                .flat_map(|f| {
                    let root = f.split_once('.').map(|(r, _)| r.to_string());
                    std::iter::once(f.clone()).chain(root)
                })
                .collect(),
            time: time_format
                .as_ref()
                .map(|f| TimeParser::new(f, options.timezone))
                .transpose()?,
            limits: options.limits,
            invalid_lines: AtomicU64::new(0),
            time_fallbacks: AtomicU64::new(0),
            times_out_of_range: AtomicU64::new(0),
            repaired_lines: AtomicU64::new(0),
        })
    }

    /// Whether `line` fits the format, building nothing (`None` for plain lines, which
    /// always do). The warning about a wrong `format` checks lines no rule decoded.
    pub fn fits(&self, line: &str) -> Option<bool> {
        match self.format {
            LineFormat::Plain => None,
            LineFormat::Json => Some(json::parse_keeping(line, &|_| false).is_some()),
            LineFormat::Logfmt => Some(logfmt::parse(line).is_some()),
            LineFormat::Regex => Some(
                self.pattern
                    .as_ref()
                    .is_some_and(|p| p.fields(line).is_some()),
            ),
        }
    }

    /// Decodes one line (or one multiline event). Never fails: a line that does not
    /// decode is kept as a plain event (and counted), because dropping it could hide the
    /// very error an alert is for.
    pub fn decode(&self, raw: String, origin: Origin, arrival: DateTime<Utc>) -> Event {
        self.decode_keeping(raw, origin, arrival, None)
    }

    /// Like [`Decoder::decode`], building only the fields `keep` names (and the time field)
    /// for JSON lines; `None` keeps every field.
    pub fn decode_keeping(
        &self,
        raw: String,
        origin: Origin,
        arrival: DateTime<Utc>,
        keep: Option<&Arc<FieldSelection>>,
    ) -> Event {
        let fields = match self.format {
            LineFormat::Plain => {
                let mut event = Event::plain(raw, arrival, origin);
                if let Some(parser) = &self.time {
                    let found = parser.parse_prefix(&event.raw);
                    self.stamp(&mut event, found, arrival);
                }
                return event;
            }
            LineFormat::Json => json::parse_keeping(&raw, &|key| {
                keep.is_none_or(|k| k.keeps(key)) || self.time_keys.iter().any(|t| **t == *key)
            })
            .map(|(fields, repaired)| {
                if repaired {
                    self.repaired_lines.fetch_add(1, Ordering::Relaxed);
                }
                fields
            }),
            LineFormat::Logfmt => logfmt::parse(&raw).map(|f| with_message(f, &raw)),
            LineFormat::Regex => self
                .pattern
                .as_ref()
                .and_then(|p| p.fields(&raw))
                .map(|f| with_message(f, &raw)),
        };
        match fields {
            Some(fields) => {
                let fields_for = match self.format {
                    LineFormat::Json => keep.map(|k| k.id()),
                    _ => None,
                };
                let mut event = Event {
                    time: arrival,
                    raw,
                    fields: Some(fields),
                    origin,
                    time_guessed: false,
                    fields_for,
                };
                if let (Some(field), Some(parser)) = (&self.time_field, &self.time) {
                    let found = event.value(field).and_then(|v| parser.parse_value(v));
                    self.stamp(&mut event, found, arrival);
                }
                event
            }
            None => {
                self.invalid_lines.fetch_add(1, Ordering::Relaxed);
                let mut event = Event::plain(raw, arrival, origin);
                if self.time.is_some() {
                    self.stamp(&mut event, None, arrival);
                }
                event
            }
        }
    }

    /// Gives `event` the line's own time if it has a believable one, else its arrival time
    /// (counted, and marked as guessed).
    fn stamp(&self, event: &mut Event, found: Option<DateTime<Utc>>, arrival: DateTime<Utc>) {
        match found {
            Some(t) if self.believable(t, arrival) => event.time = t,
            Some(_) => {
                self.times_out_of_range.fetch_add(1, Ordering::Relaxed);
                event.time = arrival;
                event.time_guessed = true;
            }
            None => {
                self.time_fallbacks.fetch_add(1, Ordering::Relaxed);
                event.time = arrival;
                event.time_guessed = true;
            }
        }
    }

    /// Within `[arrival - max_event_age, arrival + max_clock_skew]`; a bound beyond what a
    /// date can hold does not bound.
    fn believable(&self, t: DateTime<Utc>, arrival: DateTime<Utc>) -> bool {
        let span = |d: std::time::Duration| chrono::Duration::from_std(d).ok();
        let oldest = span(self.limits.max_event_age).and_then(|d| arrival.checked_sub_signed(d));
        let newest = span(self.limits.max_clock_skew).and_then(|d| arrival.checked_add_signed(d));
        oldest.is_none_or(|o| t >= o) && newest.is_none_or(|n| t <= n)
    }

    /// Lines that did not decode in the source's format (not a JSON object, no logfmt
    /// pair, no regex match), kept as plain events.
    pub fn invalid_lines(&self) -> u64 {
        self.invalid_lines.load(Ordering::Relaxed)
    }

    /// Events whose time was configured but could not be read, so arrival time was used.
    pub fn time_fallbacks(&self) -> u64 {
        self.time_fallbacks.load(Ordering::Relaxed)
    }

    /// Events whose time was too far in the past or the future to believe (see
    /// [`TimeLimits`]), so arrival time was used.
    pub fn times_out_of_range(&self) -> u64 {
        self.times_out_of_range.load(Ordering::Relaxed)
    }

    /// JSON lines with a value only lenient reading could keep (a lone surrogate, a number
    /// out of range), decoded with the other fields intact.
    pub fn repaired_lines(&self) -> u64 {
        self.repaired_lines.load(Ordering::Relaxed)
    }
}

/// logfmt and regex fields rarely include the whole line; keeping it as `message` lets
/// free-text queries (which search `message`) still see every word of the line.
fn with_message(mut fields: Map<String, Value>, raw: &str) -> Map<String, Value> {
    if !fields.contains_key(MESSAGE_FIELD) {
        fields.insert(MESSAGE_FIELD.to_string(), Value::String(raw.to_string()));
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TimeZone;
    use crate::event::test_origin;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn decoder(format: LineFormat, field: Option<&str>, time: Option<&str>) -> Decoder {
        Decoder::with_options(&DecodeOptions {
            format,
            time_field: field.map(String::from),
            time_format: time.map(|t| t.parse().unwrap()),
            timezone: TimeZone::Utc,
            ..DecodeOptions::default()
        })
        .unwrap()
    }

    const ARRIVAL: &str = "2030-01-01T00:00:00Z";

    #[test]
    fn unbelievable_and_extreme_times_fall_back_to_arrival_without_panicking() {
        let arrival = at(ARRIVAL);
        let rfc = decoder(LineFormat::Json, Some("ts"), None);
        for line in [
            r#"{"ts":"-262143-01-01T00:00:00"}"#,
            r#"{"ts":"+262142-12-31T23:59:59Z"}"#,
            r#"{"ts":"9999-12-31T23:59:59Z"}"#,
            r#"{"ts":"1970-01-01T00:00:00Z"}"#,
            r#"{"ts":"2030-01-03T00:00:00Z"}"#,
            r#"{"ts":"2030-01-01T00:00:00Z","ts":"9000-01-01T00:00:00Z"}"#,
        ] {
            let ev = rfc.decode(line.into(), test_origin(), arrival);
            assert_eq!(ev.time, arrival, "{line}");
        }
        assert_eq!(rfc.times_out_of_range() + rfc.time_fallbacks(), 6);
        assert!(rfc.times_out_of_range() >= 4, "parsed but not believed");
        let epoch = decoder(LineFormat::Json, Some("ts"), Some("epoch_s"));
        for line in [
            r#"{"ts": 8210266876799}"#,
            r#"{"ts": -9223372036854775808}"#,
            r#"{"ts": 1e300}"#,
            r#"{"ts": "18446744073709551616"}"#,
        ] {
            let ev = epoch.decode(line.into(), test_origin(), arrival);
            assert_eq!(ev.time, arrival, "{line}");
        }
        // A time a little in the past or ahead (clock skew) is believed.
        let ev = rfc.decode(
            r#"{"ts":"2030-01-01T12:00:00Z"}"#.into(),
            test_origin(),
            arrival,
        );
        assert_eq!(ev.time, at("2030-01-01T12:00:00Z"));
        let plain = decoder(LineFormat::Plain, None, Some("%Y-%m-%d %H:%M:%S"));
        let ev = plain.decode("-262143-01-01 00:00:00 x".into(), test_origin(), arrival);
        assert_eq!(ev.time, arrival);
    }

    #[test]
    fn one_odd_json_value_does_not_hide_the_other_fields() {
        let d = decoder(LineFormat::Json, None, None);
        let line = format!(
            r#"{{"level":"ERROR","note":"\ud800","amount":{},"sku":"A-1"}}"#,
            "9".repeat(500)
        );
        let ev = d.decode(line, test_origin(), at(ARRIVAL));
        assert_eq!(ev.text("level").as_deref(), Some("ERROR"));
        assert_eq!(ev.text("note").as_deref(), Some("\u{FFFD}"));
        assert_eq!(ev.text("amount").map(|a| a.len()), Some(500));
        assert_eq!((d.repaired_lines(), d.invalid_lines()), (1, 0));
    }

    #[test]
    fn plain_lines_have_no_fields_and_arrival_time() {
        let d = decoder(LineFormat::Plain, None, None);
        let ev = d.decode("ERROR boom".into(), test_origin(), at(ARRIVAL));
        assert!(ev.fields.is_none());
        assert_eq!(ev.text("message").as_deref(), Some("ERROR boom"));
        assert_eq!(ev.time, at(ARRIVAL));
    }

    #[test]
    fn plain_lines_take_a_leading_timestamp() {
        let d = decoder(LineFormat::Plain, None, Some("%Y-%m-%d %H:%M:%S%.f"));
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
        let d = decoder(LineFormat::Json, Some("log.ts"), None);
        let line = r#"{"level":"error","log":{"ts":"2026-06-08T03:00:00Z"}}"#;
        let ev = d.decode(line.into(), test_origin(), at(ARRIVAL));
        assert_eq!(ev.text("level").as_deref(), Some("error"));
        assert_eq!(ev.time, at("2026-06-08T03:00:00Z"));
        assert_eq!(ev.raw, line);
        assert_eq!((d.invalid_lines(), d.time_fallbacks()), (0, 0));
    }

    #[test]
    fn json_epoch_ms_time_field() {
        let d = decoder(LineFormat::Json, Some("ts"), Some("epoch_ms"));
        let ev = d.decode(r#"{"ts":1780887600500}"#.into(), test_origin(), at(ARRIVAL));
        assert_eq!(ev.time, at("2026-06-08T03:00:00.5Z"));
    }

    #[test]
    fn json_missing_or_unparseable_time_falls_back_to_arrival() {
        let d = decoder(LineFormat::Json, Some("ts"), None);
        let ev = d.decode(r#"{"msg":"x"}"#.into(), test_origin(), at(ARRIVAL));
        assert_eq!(ev.time, at(ARRIVAL));
        let ev = d.decode(r#"{"ts":"noon"}"#.into(), test_origin(), at(ARRIVAL));
        assert_eq!(ev.time, at(ARRIVAL));
        assert_eq!(d.time_fallbacks(), 2);
        assert_eq!(d.invalid_lines(), 0);
    }

    #[test]
    fn invalid_json_and_non_objects_are_kept_as_plain_and_counted() {
        let d = decoder(LineFormat::Json, None, None);
        for line in ["not json {", "[1,2]", "42", ""] {
            let ev = d.decode(line.into(), test_origin(), at(ARRIVAL));
            assert!(ev.fields.is_none(), "{line}");
            assert_eq!(ev.text("message").as_deref(), Some(line));
        }
        assert_eq!(d.invalid_lines(), 4);
    }

    #[test]
    fn inconsistent_configs_are_rejected() {
        let plain_field = DecodeOptions {
            time_field: Some("ts".into()),
            ..DecodeOptions::default()
        };
        assert!(matches!(
            Decoder::with_options(&plain_field),
            Err(DecodeError::TimeFieldNeedsJson(_))
        ));
        let json_no_field = DecodeOptions {
            format: LineFormat::Json,
            time_format: Some(TimeFormat::EpochSeconds),
            ..DecodeOptions::default()
        };
        assert!(matches!(
            Decoder::with_options(&json_no_field),
            Err(DecodeError::TimeFormatNeedsField)
        ));
    }
}
