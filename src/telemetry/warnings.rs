//! Warnings about failures that make no noise: a glob that matches no file, a decoder
//! that does not fit the lines, a time field that is not there, a rule that has matched
//! nothing for a long time while its source is busy. Each is logged once when it starts
//! and when it ends, counted in `klaxon_warnings`, and listed by `/api/status`.
//! The watches are plain state machines fed counters and the time, so tests drive them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::types::HumanDuration;

/// `warnings:` in klaxon.yaml.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WarningsConfig {
    /// A rule that has matched nothing for this long while its source read at least
    /// `rule_silent_lines` lines is warned about (default 24h; `0s` turns it off).
    #[serde(default = "default_rule_silent_after")]
    pub rule_silent_after: HumanDuration,
    /// How many lines the rule's source must have read in `rule_silent_after` before its silence is warned about.
    #[serde(default = "default_rule_silent_lines")]
    pub rule_silent_lines: u64,
}

impl Default for WarningsConfig {
    fn default() -> Self {
        WarningsConfig {
            rule_silent_after: default_rule_silent_after(),
            rule_silent_lines: default_rule_silent_lines(),
        }
    }
}

fn default_rule_silent_after() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(24 * 3600))
}

fn default_rule_silent_lines() -> u64 {
    10_000
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// A file source's `include` globs match no file.
    NoFiles,
    /// Most lines of a source do not fit its `format`.
    DecodeFailures,
    /// Most lines lack the source's `time_field`.
    TimeFieldMissing,
    /// A rule has matched nothing for a long time while its source read many lines.
    RuleSilent,
}

impl WarningKind {
    pub const ALL: [WarningKind; 4] = [
        WarningKind::NoFiles,
        WarningKind::DecodeFailures,
        WarningKind::TimeFieldMissing,
        WarningKind::RuleSilent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WarningKind::NoFiles => "no_files",
            WarningKind::DecodeFailures => "decode_failures",
            WarningKind::TimeFieldMissing => "time_field_missing",
            WarningKind::RuleSilent => "rule_silent",
        }
    }
}

/// One active warning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub kind: WarningKind,
    /// The source or rule it is about.
    pub subject: String,
    pub message: String,
    pub since: DateTime<Utc>,
}

/// The active warnings.
#[derive(Debug, Default)]
pub struct Warnings {
    active: Mutex<BTreeMap<(WarningKind, String), Warning>>,
}

impl Warnings {
    fn active(&self) -> std::sync::MutexGuard<'_, BTreeMap<(WarningKind, String), Warning>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Raises (or keeps, with its first `since`) a warning; logged when it is new.
    pub fn raise(&self, kind: WarningKind, subject: &str, message: String, now: DateTime<Utc>) {
        let mut active = self.active();
        let key = (kind, subject.to_string());
        match active.get_mut(&key) {
            Some(w) => w.message = message,
            None => {
                tracing::warn!(warning = kind.as_str(), "{message}");
                active.insert(
                    key,
                    Warning {
                        kind,
                        subject: subject.to_string(),
                        message,
                        since: now,
                    },
                );
            }
        }
    }

    /// Ends a warning, if it was raised; logged when it was.
    pub fn clear(&self, kind: WarningKind, subject: &str) {
        if let Some(w) = self.active().remove(&(kind, subject.to_string())) {
            tracing::info!(warning = kind.as_str(), "no longer true: {}", w.message);
        }
    }

    pub fn list(&self) -> Vec<Warning> {
        self.active().values().cloned().collect()
    }

    /// Active warnings of each kind (every kind, zeros included).
    pub fn counts(&self) -> Vec<(&'static str, i64)> {
        let active = self.active();
        WarningKind::ALL
            .iter()
            .map(|k| {
                (
                    k.as_str(),
                    active.keys().filter(|(kind, _)| kind == k).count() as i64,
                )
            })
            .collect()
    }
}

/// Lines seen and how many of them were bad, over the last `window`: the share of bad
/// lines, once at least `min_lines` were seen. Fed cumulative counters.
#[derive(Debug)]
pub struct RatioWatch {
    window: chrono::Duration,
    min_lines: u64,
    /// (when, total, bad) cumulative readings, oldest first.
    readings: VecDeque<(DateTime<Utc>, u64, u64)>,
}

/// What a [`RatioWatch`] concludes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Too few lines to say.
    Unknown,
    /// No line at all for a whole window: nothing is wrong that can be seen.
    Quiet,
    /// `bad / total` of the lines in the window were bad.
    Share { bad: u64, total: u64 },
}

impl RatioWatch {
    pub fn new(window: chrono::Duration, min_lines: u64) -> RatioWatch {
        RatioWatch {
            window,
            min_lines,
            readings: VecDeque::new(),
        }
    }

    /// Records the counters at `now` and judges the lines of the last window (or since the
    /// first reading, until a window has passed).
    pub fn observe(&mut self, now: DateTime<Utc>, total: u64, bad: u64) -> Verdict {
        if self.readings.is_empty() {
            // The counters start at zero with the process: what was read before the first
            // reading counts too (a whole file may be read before it).
            self.readings.push_back((now, 0, 0));
        }
        self.readings.push_back((now, total, bad));
        while self.readings.len() > 2
            && self
                .readings
                .get(1)
                .is_some_and(|(t, _, _)| now.signed_duration_since(*t) >= self.window)
        {
            self.readings.pop_front();
        }
        let Some(&(_, total0, bad0)) = self.readings.front() else {
            return Verdict::Unknown;
        };
        let total = total.saturating_sub(total0);
        let bad = bad.saturating_sub(bad0).min(total);
        let full_window = self
            .readings
            .front()
            .is_some_and(|(t, _, _)| now.signed_duration_since(*t) >= self.window);
        if total == 0 && full_window {
            return Verdict::Quiet;
        }
        if total < self.min_lines {
            return Verdict::Unknown;
        }
        Verdict::Share { bad, total }
    }
}

impl Verdict {
    /// The bad share, in percent, when it is at least `threshold` (0–1).
    pub fn percent_over(self, threshold: f64) -> Option<u64> {
        match self {
            Verdict::Share { bad, total } if total > 0 => {
                let share = bad as f64 / total as f64;
                (share >= threshold).then(|| (share * 100.0).round() as u64)
            }
            _ => None,
        }
    }

    /// The bad share is below `threshold`, or no line came for a whole window: a raised
    /// warning may end.
    pub fn under(self, threshold: f64) -> bool {
        match self {
            Verdict::Quiet => true,
            Verdict::Share { bad, total } => total > 0 && (bad as f64 / total as f64) < threshold,
            Verdict::Unknown => false,
        }
    }
}

/// A rule that matched nothing for `after` while its source read at least `min_lines`.
#[derive(Debug)]
pub struct SilenceWatch {
    after: chrono::Duration,
    min_lines: u64,
    /// When the rule last matched (or was first watched), and its source's lines then.
    since: Option<(DateTime<Utc>, u64)>,
    matched: u64,
}

impl SilenceWatch {
    pub fn new(after: chrono::Duration, min_lines: u64) -> SilenceWatch {
        SilenceWatch {
            after,
            min_lines,
            since: None,
            matched: 0,
        }
    }

    /// Fed the rule's matches and its source's lines read (both cumulative); `Some((since,
    /// lines))` while the rule has been silent too long on a busy source.
    pub fn observe(
        &mut self,
        now: DateTime<Utc>,
        matched: u64,
        source_lines: u64,
    ) -> Option<(DateTime<Utc>, u64)> {
        let (since, lines_then) = match self.since {
            Some(s) if matched == self.matched => s,
            _ => {
                self.matched = matched;
                self.since = Some((now, source_lines));
                return None;
            }
        };
        let lines = source_lines.saturating_sub(lines_then);
        (now.signed_duration_since(since) >= self.after && lines >= self.min_lines)
            .then_some((since, lines))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn ratio_judges_the_last_window_only() {
        let mut w = RatioWatch::new(chrono::Duration::seconds(60), 20);
        assert_eq!(w.observe(t(0), 0, 0), Verdict::Unknown);
        assert_eq!(w.observe(t(1), 10, 10), Verdict::Unknown, "too few lines");
        // Lines read before the first reading count.
        let mut first = RatioWatch::new(chrono::Duration::seconds(60), 20);
        assert_eq!(first.observe(t(0), 200, 200).percent_over(0.5), Some(100));
        let v = w.observe(t(2), 100, 98);
        assert_eq!(v.percent_over(0.5), Some(98));
        // Good lines for more than a window: the old bad ones no longer count.
        for s in 3..70 {
            w.observe(t(s), 100 + (s as u64 - 2) * 100, 98);
        }
        let v = w.observe(t(70), 7000, 98);
        assert_eq!(v.percent_over(0.5), None);
        assert!(v.under(0.1), "{v:?}");
        // A source gone quiet: after a whole window without lines, nothing stays raised.
        let mut quiet = RatioWatch::new(chrono::Duration::seconds(60), 20);
        assert_eq!(quiet.observe(t(0), 100, 100).percent_over(0.5), Some(100));
        assert_eq!(quiet.observe(t(30), 100, 100).percent_over(0.5), Some(100));
        for s in 31..=200 {
            quiet.observe(t(s), 100, 100);
        }
        assert!(quiet.observe(t(201), 100, 100).under(0.1));
    }

    #[test]
    fn silence_needs_time_and_a_busy_source() {
        let mut w = SilenceWatch::new(chrono::Duration::hours(1), 1000);
        assert_eq!(w.observe(t(0), 5, 0), None);
        assert_eq!(w.observe(t(3600), 5, 10), None, "the source was quiet too");
        assert_eq!(w.observe(t(3601), 5, 5000), Some((t(0), 5000)));
        assert_eq!(w.observe(t(3602), 6, 5001), None, "a match ends it");
        assert_eq!(w.observe(t(3603), 6, 9000), None, "not yet long enough");
    }

    #[test]
    fn warnings_keep_their_first_time_and_count_by_kind() {
        let w = Warnings::default();
        w.raise(WarningKind::NoFiles, "a", "x".into(), t(0));
        w.raise(WarningKind::NoFiles, "a", "y".into(), t(5));
        w.raise(WarningKind::RuleSilent, "r", "z".into(), t(5));
        let list = w.list();
        assert_eq!(list.len(), 2);
        assert_eq!((list[0].since, list[0].message.as_str()), (t(0), "y"));
        assert!(w.counts().contains(&("no_files", 1)));
        w.clear(WarningKind::NoFiles, "a");
        assert!(w.counts().contains(&("no_files", 0)));
    }
}
