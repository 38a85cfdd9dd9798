//! `type: metric`: an aggregate (`min`, `max`, `avg`, `sum`, `p50`…`p99`) of a numeric
//! field within `window` per key goes `above` or `below` a threshold — payment latency p95
//! over 2s, refunds summing over a limit, takings dropping under a floor. The window at
//! instant `t` is `[t - window, t]`. Fires when the value goes past a limit, and again only
//! after it has come back; coming back is the condition clearing, so the alert resolves
//! then (a queue's backlog drained). Fields that are not numbers (or numeric strings) are
//! ignored.
//!
//! An empty window has a `sum` of 0 and no `avg`, `min`, `max` or percentile at all: no
//! value, which neither fires nor clears.
//!
//! With only `above`, the aggregate is checked as each event arrives. `below` is about
//! values going away, which needs no event at all: such a rule fires on the clock. It checks
//! every instant the aggregate changes — an event arriving, a value leaving the window — up
//! to the watermark, so a key that falls silent fires at the instant its aggregate drops
//! below; instants before an event are checked when the event comes. A `sum` is compared
//! with `below` only once the key has been watched a whole window (from its first event;
//! without `group_by`, the one key from the rule's first clock tick), since a window not
//! yet watched whole sums low only for being partial.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::aggregate::Suffixes;
use super::crossing::{leaves, Crossing, Past};
use super::{
    human, insert_sorted, micros, set_text, span, time_of, BuildContext, Keyed, KeyedMatch, Match,
    Params, RuleError, RuleStats, RuleType, StateChange, Visit, UNGROUPED_KEY,
};
use crate::event::Event;
use crate::types::{rounded, HumanDuration};

/// `type: metric` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricParams {
    /// The numeric field.
    pub field: String,
    pub window: HumanDuration,
    /// min, max, avg, sum, or p50 … p99.
    pub metric: MetricKind,
    /// Fire when the value goes above this.
    #[serde(default)]
    pub above: Option<f64>,
    /// Fire when the value goes below this.
    #[serde(default)]
    pub below: Option<f64>,
}

impl Params for MetricParams {
    /// 2: the limit the aggregate is past (not just whether it is), when the key was first
    /// watched, the instant checked up to and the last line are stored.
    const STATE_VERSION: u32 = 2;

    fn counted_over(&self) -> Option<HumanDuration> {
        Some(self.window)
    }

    fn build(&self, cx: &mut BuildContext<'_>) -> Option<Box<dyn RuleType>> {
        let window = cx.positive("window", self.window);
        cx.any_of(
            "metric",
            ("above", self.above.is_some()),
            ("below", self.below.is_some()),
        );
        Some(Box::new(MetricRule::new(Metric {
            field: self.field.clone(),
            kind: self.metric,
            window,
            above: self.above,
            below: self.below,
            grouped: cx.grouped,
            cap: cx.max_keys,
        })))
    }
}

/// The aggregate a `metric` rule computes over its window.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String", into = "String")]
pub enum MetricKind {
    Min,
    Max,
    Avg,
    Sum,
    /// p50 … p99.
    Percentile(u8),
}

crate::types::impl_text_schema!(
    MetricKind,
    "MetricKind",
    "The aggregate: `min`, `max`, `avg`, `sum`, or a percentile `p50` … `p99`.",
    "min|max|avg|sum|p[5-9][0-9]"
);

impl TryFrom<String> for MetricKind {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let p = |n: &str| n.parse::<u8>().ok().filter(|n| (50..=99).contains(n));
        match s.as_str() {
            "min" => Ok(MetricKind::Min),
            "max" => Ok(MetricKind::Max),
            "avg" => Ok(MetricKind::Avg),
            "sum" => Ok(MetricKind::Sum),
            other => match other.strip_prefix('p').and_then(p) {
                Some(n) => Ok(MetricKind::Percentile(n)),
                None => Err(format!(
                    "unknown metric `{other}`; expected min, max, avg, sum or p50 … p99"
                )),
            },
        }
    }
}

impl std::fmt::Display for MetricKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetricKind::Min => f.write_str("min"),
            MetricKind::Max => f.write_str("max"),
            MetricKind::Avg => f.write_str("avg"),
            MetricKind::Sum => f.write_str("sum"),
            MetricKind::Percentile(n) => write!(f, "p{n}"),
        }
    }
}

impl From<MetricKind> for String {
    fn from(kind: MetricKind) -> String {
        kind.to_string()
    }
}

/// A metric rule's settings, in runtime values.
pub struct Metric {
    pub field: String,
    pub kind: MetricKind,
    pub window: Duration,
    pub above: Option<f64>,
    pub below: Option<f64>,
    pub grouped: bool,
    pub cap: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Series {
    /// Watched since (µs): `sum … below` applies once a whole window has passed.
    since: i64,
    times: VecDeque<i64>,
    /// Parallel to `times`.
    values: VecDeque<f64>,
    /// The limit the aggregate is past.
    past: Past,
    /// Instants up to this (µs) were checked. Stored only when something else changes, so a
    /// restart may check some instants again — finding what it found then: nothing.
    checked: i64,
    /// With `below`: the key's last line, the sample of an alert fired between its events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    last_line: String,
}

impl Series {
    /// A key first watched at `t` (µs).
    fn watched_from(t: i64) -> Self {
        Series {
            since: t,
            checked: i64::MIN,
            ..Series::default()
        }
    }
}

pub struct MetricRule {
    p: Metric,
    window: i64,
    keys: Keyed<Series>,
    /// Reused for the aggregates of a window.
    suffixes: Suffixes,
    /// Reused for the instants a sweep checks.
    instants: Vec<i64>,
    /// Keys back within the limits since `settle` last ran: their alerts resolve.
    cleared: Vec<String>,
    /// What the last `observe` found due before its event.
    found: Vec<KeyedMatch>,
}

impl MetricRule {
    pub fn new(p: Metric) -> Self {
        MetricRule {
            window: span(p.window),
            keys: Keyed::new(p.cap),
            suffixes: Suffixes::default(),
            instants: Vec::new(),
            cleared: Vec::new(),
            found: Vec::new(),
            p,
        }
    }

    /// A lower limit is about values going away: the rule must look on the clock.
    fn on_clock(&self) -> bool {
        self.p.below.is_some()
    }
}

impl Metric {
    /// Where the aggregate `v` stands (`None`: there is none); `sum` is compared with
    /// `below` only for a key `watched` a whole window.
    fn reading(&self, v: Option<f64>, watched: bool) -> Option<Past> {
        let v = v?;
        Some(if self.above.is_some_and(|a| v > a) {
            Past::Above
        } else if self.below.is_some_and(|b| v < b) && (watched || self.kind != MetricKind::Sum) {
            Past::Below
        } else {
            Past::Within
        })
    }

    fn detail(&self, window: i64, v: Option<f64>, past: Option<Past>) -> String {
        let limit = match past {
            Some(Past::Above) => format!("above {}", rounded(self.above.unwrap_or_default())),
            _ => format!("below {}", rounded(self.below.unwrap_or_default())),
        };
        format!(
            "{}({}) over {} = {} ({limit})",
            self.kind,
            self.field,
            human(window),
            rounded(v.unwrap_or_default())
        )
    }
}

/// What a sweep works with besides the key: the rule's settings and buffers.
struct Sweep<'a> {
    p: &'a Metric,
    window: i64,
    suffixes: &'a mut Suffixes,
    instants: &'a mut Vec<i64>,
    found: &'a mut Vec<KeyedMatch>,
    cleared: &'a mut Vec<String>,
}

impl Sweep<'_> {
    /// Checks the instants in `(s.checked, until)` where the aggregate of `key` changes
    /// without an event (a value leaving the window; for `sum`, the instant it has been
    /// watched a whole window), in order. True when state worth storing changed.
    fn run(&mut self, key: &str, s: &mut Series, until: i64) -> bool {
        let (p, window) = (self.p, self.window);
        let after = s.checked;
        self.instants.clear();
        // Times are sorted, so the instants they leave at are too.
        let leaving = s.times.partition_point(|&t| leaves(t, window) <= after);
        self.instants.extend(
            s.times
                .range(leaving..)
                .map(|&t| leaves(t, window))
                .take_while(|&c| c < until),
        );
        let watched = s.since.saturating_add(window);
        if p.kind == MetricKind::Sum && watched > after && watched < until {
            self.instants.push(watched);
        }
        self.instants.sort_unstable();
        self.instants.dedup();
        let mut changed = false;
        if let Some(&c) = self.instants.first() {
            let from = s.times.partition_point(|&t| t < c.saturating_sub(window));
            self.suffixes.begin(p.kind, &s.values, from);
        }
        for &c in self.instants.iter() {
            let start = s.times.partition_point(|&t| t < c.saturating_sub(window));
            let v = self.suffixes.at(p.kind, &s.values, start);
            let past = p.reading(v, c.saturating_sub(s.since) >= window);
            match s.past.step(past) {
                Crossing::Nothing => continue,
                Crossing::Cleared => self.cleared.push(key.to_string()),
                Crossing::Fired => {
                    // Back and past again before the clearing was handed on: the alert
                    // goes on.
                    self.cleared.retain(|k| k != key);
                    let first = s.times.get(start).copied();
                    self.found.push(KeyedMatch {
                        key: key.to_string(),
                        due: time_of(c),
                        found: Match {
                            count: (s.times.len() - start) as u64,
                            first_seen: time_of(first.unwrap_or(c.saturating_sub(window))),
                            last_seen: time_of(c),
                            sample: s.last_line.clone(),
                            detail: Some(p.detail(window, v, past)),
                            identity: Vec::new(),
                        },
                    });
                }
            }
            changed = true;
        }
        s.checked = s.checked.max(until.saturating_sub(1));
        // Forget what has left the window by then.
        let before = s.times.len();
        while s
            .times
            .front()
            .is_some_and(|&t| leaves(t, window) <= s.checked)
        {
            s.times.pop_front();
            s.values.pop_front();
        }
        changed || s.times.len() != before
    }
}

fn number(event: &Event, field: &str) -> Option<f64> {
    match event.value(field) {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|v: &f64| v.is_finite())
}

impl RuleType for MetricRule {
    fn fields(&self) -> Option<Vec<String>> {
        Some(vec![self.p.field.clone()])
    }

    fn observe(&mut self, key: &str, event: &Event, _now: DateTime<Utc>) -> Option<Match> {
        let value = number(event, &self.p.field)?;
        let t = micros(event.time);
        let on_clock = self.on_clock();
        let window = self.window;
        let s = self.keys.touch(key, || Series::watched_from(t));
        if on_clock && t > s.checked {
            let mut sweep = Sweep {
                p: &self.p,
                window,
                suffixes: &mut self.suffixes,
                instants: &mut self.instants,
                found: &mut self.found,
                cleared: &mut self.cleared,
            };
            sweep.run(key, s, t);
        }
        if on_clock {
            set_text(&mut s.last_line, &event.raw);
        }
        let at = insert_sorted(&mut s.times, t);
        s.values.insert(at, value);
        let newest = *s.times.back().expect("just inserted");
        while s
            .times
            .front()
            .is_some_and(|&x| x < newest.saturating_sub(window))
        {
            s.times.pop_front();
            s.values.pop_front();
        }
        let v = self.suffixes.once(self.p.kind, &s.values, 0);
        let past = self.p.reading(v, newest.saturating_sub(s.since) >= window);
        s.checked = s.checked.max(newest);
        match s.past.step(past) {
            Crossing::Nothing => return None,
            Crossing::Cleared => {
                self.cleared.push(key.to_string());
                return None;
            }
            Crossing::Fired => {}
        }
        // Back and past again before the clearing was handed on: the alert goes on (a
        // clear handed on after this new alert would resolve it).
        self.cleared.retain(|k| k != key);
        Some(Match {
            count: s.values.len() as u64,
            first_seen: time_of(*s.times.front().expect("not empty")),
            last_seen: time_of(newest),
            sample: super::kept(&event.raw),
            detail: Some(self.p.detail(window, v, past)),
            identity: Vec::new(),
        })
    }

    fn advance(&mut self, watermark: DateTime<Utc>, out: &mut Vec<KeyedMatch>) {
        if !self.on_clock() {
            return;
        }
        let wm = micros(watermark);
        if !self.p.grouped && self.keys.is_empty() {
            self.keys.touch(UNGROUPED_KEY, || Series::watched_from(wm));
        }
        let mut fired = Vec::new();
        let mut sweep = Sweep {
            p: &self.p,
            window: self.window,
            suffixes: &mut self.suffixes,
            instants: &mut self.instants,
            found: &mut fired,
            cleared: &mut self.cleared,
        };
        self.keys.visit(|key, s| {
            if sweep.run(key, s, wm) {
                Visit::Changed
            } else {
                Visit::Unchanged
            }
        });
        fired.sort_by(|a, b| (a.due, &a.key).cmp(&(b.due, &b.key)));
        out.append(&mut fired);
    }

    fn take_found(&mut self, out: &mut Vec<KeyedMatch>) {
        out.append(&mut self.found);
    }

    fn fires_on_clock(&self) -> bool {
        self.on_clock()
    }

    fn settle(&mut self, _watermark: DateTime<Utc>, cleared: &mut Vec<String>) {
        cleared.append(&mut self.cleared);
    }

    fn take_changes(&mut self, out: &mut Vec<StateChange>) {
        self.keys.take_changes(out);
    }

    fn restore(&mut self, key: &str, state: &str) -> Result<(), RuleError> {
        self.keys.restore(key, state)
    }

    fn clear_state(&mut self) {
        self.keys.clear();
        self.cleared.clear();
        self.found.clear();
    }

    fn set_max_keys(&mut self, cap: usize) {
        self.keys.set_cap(cap);
    }

    fn stats(&self) -> RuleStats {
        self.keys.stats()
    }
}

#[cfg(test)]
#[path = "metric_tests.rs"]
mod tests;
