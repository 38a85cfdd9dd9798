//! Joining the lines of one logical record (a Java or Python stack trace) into one event:
//! a start pattern, a continuation rule, and a timeout that flushes the last record.

use std::time::{Duration, Instant};

use regex::Regex;
use serde::Deserialize;

use crate::types::HumanDuration;

/// `multiline:` of a source.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// A line matching this begins a record (e.g. `^\d{4}-\d{2}-\d{2}` for lines that
    /// start with a date).
    pub start_pattern: String,
    /// `continue_through`: lines matching `condition_pattern` continue the record.
    /// `halt_before`: lines continue the record until one matches `condition_pattern`
    /// (default: `start_pattern`), which begins the next.
    pub mode: MultilineMode,
    /// The regex `mode` tests lines with (default: `start_pattern`).
    #[serde(default)]
    pub condition_pattern: Option<String>,
    /// A record with no new line for this long is complete (the last record of a file
    /// that stopped growing).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Most lines in one record; a longer one is split (nothing is dropped).
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MultilineMode {
    ContinueThrough,
    HaltBefore,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}

fn default_max_lines() -> usize {
    500
}

impl MultilineConfig {
    /// Pure checks; the message names the offending option.
    pub fn validate(&self) -> Result<(), String> {
        Multiline::new(self, usize::MAX).map(|_| ())
    }
}

/// A compiled [`MultilineConfig`].
#[derive(Debug)]
pub(crate) struct Multiline {
    start: Regex,
    condition: Regex,
    mode: MultilineMode,
    pub(crate) timeout: Duration,
    max_lines: usize,
    max_bytes: usize,
}

/// A record being assembled.
#[derive(Debug)]
pub(crate) struct Pending {
    pub text: String,
    lines: usize,
    /// Offset where its first line starts: the checkpoint while it is incomplete.
    pub start_offset: u64,
    /// Offset just past its last line.
    pub end_offset: u64,
    last_line_at: Instant,
}

/// A finished record (or a line that belongs to none).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub text: String,
    pub end_offset: u64,
}

impl Multiline {
    /// `max_bytes` caps a record's text; a longer record is split.
    pub(crate) fn new(config: &MultilineConfig, max_bytes: usize) -> Result<Self, String> {
        let compile = |option: &str, pattern: &str| {
            Regex::new(pattern)
                .map_err(|e| format!("multiline.{option} `{pattern}` is not a valid regex: {e}"))
        };
        let start = compile("start_pattern", &config.start_pattern)?;
        let condition = match (&config.condition_pattern, config.mode) {
            (Some(p), _) => compile("condition_pattern", p)?,
            (None, MultilineMode::HaltBefore) => start.clone(),
            (None, MultilineMode::ContinueThrough) => {
                return Err("multiline.mode continue_through needs `condition_pattern` \
                            (the lines that continue a record, e.g. '^\\s')"
                    .into())
            }
        };
        if config.max_lines == 0 {
            return Err("multiline.max_lines must be at least 1".into());
        }
        if config.timeout.0.is_zero() {
            return Err("multiline.timeout must be greater than 0".into());
        }
        Ok(Multiline {
            start,
            condition,
            mode: config.mode,
            timeout: config.timeout.0,
            max_lines: config.max_lines,
            max_bytes,
        })
    }

    /// Feeds the line `[start_offset, end_offset)` of the stream; `emit` receives every
    /// record this completes, in order.
    pub(crate) fn push(
        &self,
        pending: &mut Option<Pending>,
        line: &str,
        start_offset: u64,
        end_offset: u64,
        now: Instant,
        mut emit: impl FnMut(Record),
    ) {
        if let Some(p) = pending {
            let continues = match self.mode {
                MultilineMode::ContinueThrough => self.condition.is_match(line),
                MultilineMode::HaltBefore => !self.condition.is_match(line),
            };
            let fits = p.lines < self.max_lines && p.text.len() + 1 + line.len() <= self.max_bytes;
            if continues && fits {
                p.text.push('\n');
                p.text.push_str(line);
                p.lines += 1;
                p.end_offset = end_offset;
                p.last_line_at = now;
                return;
            }
            emit(finish(pending.take()));
            if continues {
                // Too long: the overflow starts a record of its own rather than being lost.
                *pending = Some(begin(line, start_offset, end_offset, now));
                return;
            }
        }
        if self.start.is_match(line) {
            *pending = Some(begin(line, start_offset, end_offset, now));
        } else {
            emit(Record {
                text: line.to_string(),
                end_offset,
            });
        }
    }

    /// The pending record, if no line has continued it for `timeout`.
    pub(crate) fn flush_due(&self, pending: &mut Option<Pending>, now: Instant) -> Option<Record> {
        let due = pending
            .as_ref()
            .is_some_and(|p| now.saturating_duration_since(p.last_line_at) >= self.timeout);
        due.then(|| finish(pending.take()))
    }
}

/// The pending record, complete now (its file ended or was replaced).
pub(crate) fn flush(pending: &mut Option<Pending>) -> Option<Record> {
    pending.is_some().then(|| finish(pending.take()))
}

fn begin(line: &str, start_offset: u64, end_offset: u64, now: Instant) -> Pending {
    Pending {
        text: line.to_string(),
        lines: 1,
        start_offset,
        end_offset,
        last_line_at: now,
    }
}

fn finish(pending: Option<Pending>) -> Record {
    let p = pending.expect("a pending record");
    Record {
        text: p.text,
        end_offset: p.end_offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> MultilineConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    /// Feeds `text` line by line; the records and what is still pending.
    fn run(m: &Multiline, text: &str) -> (Vec<Record>, Option<Pending>) {
        let (mut out, mut pending, mut offset) = (Vec::new(), None, 0u64);
        for line in text.lines() {
            let end = offset + line.len() as u64 + 1;
            m.push(&mut pending, line, offset, end, Instant::now(), |r| {
                out.push(r)
            });
            offset = end;
        }
        (out, pending)
    }

    #[test]
    fn continue_through_joins_indented_lines() {
        let m = Multiline::new(
            &config("start_pattern: '^\\S'\nmode: continue_through\ncondition_pattern: '^\\s'\n"),
            1 << 20,
        )
        .unwrap();
        let (records, pending) = run(&m, "a\n  a1\n  a2\nb\nc\n  c1\n");
        let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["a\n  a1\n  a2", "b"]);
        assert_eq!(records[0].end_offset, 12);
        let pending = pending.unwrap();
        assert_eq!(
            (pending.text.as_str(), pending.start_offset),
            ("c\n  c1", 14)
        );
    }

    #[test]
    fn halt_before_takes_everything_up_to_the_next_start() {
        let m = Multiline::new(
            &config("start_pattern: '^\\d{4}-'\nmode: halt_before\n"),
            1 << 20,
        )
        .unwrap();
        let (records, pending) = run(&m, "orphan\n2026-01 x\nTraceback\nError: y\n2026-02 z\n");
        let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["orphan", "2026-01 x\nTraceback\nError: y"]);
        assert_eq!(pending.unwrap().text, "2026-02 z");
    }

    #[test]
    fn long_records_are_split_not_lost_and_timeouts_flush() {
        let mut cfg = config("start_pattern: '^S'\nmode: halt_before\ntimeout: 50ms\n");
        cfg.max_lines = 2;
        let m = Multiline::new(&cfg, 1 << 20).unwrap();
        let (records, mut pending) = run(&m, "S\n1\n2\n3\n");
        let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["S\n1"]);
        assert_eq!(pending.as_ref().unwrap().text, "2\n3");
        assert!(m.flush_due(&mut pending, Instant::now()).is_none());
        let later = Instant::now() + Duration::from_millis(60);
        assert_eq!(m.flush_due(&mut pending, later).unwrap().text, "2\n3");
        assert!(pending.is_none());
        let bytes = Multiline::new(&cfg, 5).unwrap();
        let (records, pending) = run(&bytes, "S 1234\nxy\n");
        assert_eq!(records[0].text, "S 1234");
        assert_eq!(pending.unwrap().text, "xy");
    }

    #[test]
    fn bad_configs_name_the_option() {
        let err = config("start_pattern: '('\nmode: halt_before\n")
            .validate()
            .unwrap_err();
        assert!(err.contains("multiline.start_pattern"), "{err}");
        let err = config("start_pattern: 'x'\nmode: continue_through\n")
            .validate()
            .unwrap_err();
        assert!(err.contains("condition_pattern"), "{err}");
        assert!(
            serde_saphyr::from_str::<MultilineConfig>("start_pattern: x\nmode: sideways\n")
                .is_err()
        );
    }
}
