//! The distinct values one `cardinality` key holds in its window: every value exactly (as many
//! as the limits need), or HyperLogLog sketches per sixteenth of the window when the limits are
//! too large for that. Besides counting, each knows when its values were first seen — an
//! alert's `first_seen` is the first event of the values it counted — and the instants its
//! values leave the window, which a key that fell silent is checked at.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::crossing::{leaves, Past};
use super::HyperLogLog;

/// How a rule's keys count: the same for every key of the rule.
#[derive(Debug, Clone, Copy)]
pub(super) struct Counting {
    /// µs.
    pub window: i64,
    /// Every value tracked exactly (else sketches).
    pub exact: bool,
    /// Exact mode: values kept at most (enough to decide both limits).
    pub keep: usize,
}

/// Sketch buckets per window.
const BUCKETS: i64 = 16;

impl Counting {
    /// Sketch mode: the width of a bucket (µs).
    fn width(&self) -> i64 {
        (self.window / BUCKETS).max(1)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Distinct {
    /// Watched since (µs): `min_cardinality` applies once a whole window has passed.
    pub since: i64,
    /// The newest event time (µs).
    pub newest: i64,
    /// Instants up to this (µs) were checked. Stored only when something else changes, so a
    /// restart may check some instants again — finding what it found then: nothing.
    pub checked: i64,
    /// Exact mode: value → (first, last) seen (µs); first since the value last entered the
    /// window.
    exact: HashMap<String, (i64, i64)>,
    /// Sketch mode: (bucket start µs, first event in it µs, sketch), ascending.
    buckets: VecDeque<(i64, i64, HyperLogLog)>,
    /// Sketch mode: the union of `buckets` (rebuilt when a bucket leaves the window).
    #[serde(skip)]
    union: Option<HyperLogLog>,
    /// The limit the count is past.
    pub past: Past,
    /// With `min_cardinality`: the key's last line, the sample of an alert fired between its
    /// events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_line: String,
}

impl Distinct {
    /// A key first watched at `t` (µs).
    pub fn watched_from(t: i64) -> Self {
        Distinct {
            since: t,
            newest: t,
            checked: i64::MIN,
            ..Distinct::default()
        }
    }

    /// Counts `value` seen at `t`; returns how many distinct values the window ending at the
    /// newest event holds (exactly, or at least `keep` once that many are). `precise`: the
    /// count must be exact below `keep`; otherwise, while it is at most `lazy_up_to`, the
    /// number of values held (some of which may have left the window) will do.
    pub fn record(&mut self, value: &str, t: i64, c: &Counting, lazy_up_to: Option<u64>) -> u64 {
        self.newest = self.newest.max(t);
        if !c.exact {
            return self.record_sketched(value, t, c);
        }
        let from = self.newest.saturating_sub(c.window);
        match self.exact.get_mut(value) {
            // It had left the window: a new stay starts here.
            Some(span) if t > span.1.saturating_add(c.window) => *span = (t, t),
            Some(span) => {
                // A late event outside the window says nothing of the stay in it.
                if t >= from {
                    span.0 = span.0.min(t);
                }
                span.1 = span.1.max(t);
            }
            None => {
                self.exact.insert(value.to_string(), (t, t));
            }
        }
        let len = self.exact.len() as u64;
        // Pruning costs a pass over the values: skipped while the count cannot matter.
        if lazy_up_to.is_some_and(|m| len <= m) && self.exact.len() <= c.keep {
            return len;
        }
        self.exact.retain(|_, &mut (_, last)| last >= from);
        while self.exact.len() > c.keep {
            // The least recently seen go first: they are the first to leave the window, so
            // the count stays exact below `keep`.
            let oldest = self
                .exact
                .iter()
                .min_by(|a, b| (a.1 .1, a.0).cmp(&(b.1 .1, b.0)))
                .map(|(v, _)| v.clone());
            match oldest {
                Some(v) => self.exact.remove(&v),
                None => break,
            };
        }
        self.exact.len() as u64
    }

    fn record_sketched(&mut self, value: &str, t: i64, c: &Counting) -> u64 {
        let width = c.width();
        let start = t - t.rem_euclid(width);
        let at = self.buckets.partition_point(|(s, _, _)| *s < start);
        match self.buckets.get_mut(at) {
            Some((s, first, _)) if *s == start => *first = (*first).min(t),
            _ => self.buckets.insert(at, (start, t, HyperLogLog::default())),
        }
        self.buckets[at].2.insert(value);
        let from = self.newest.saturating_sub(c.window);
        while self
            .buckets
            .front()
            .is_some_and(|(s, _, _)| s + width <= from)
        {
            self.buckets.pop_front();
            self.union = None;
        }
        let buckets = &self.buckets;
        let union = self.union.get_or_insert_with(|| union_of(buckets.iter()));
        union.insert(value);
        union.count()
    }

    /// When the values counted in the window ending at the newest event were first seen.
    pub fn first_seen(&self, c: &Counting) -> Option<i64> {
        self.first_at(self.newest, c)
    }

    /// When the values counted in the window ending at `t` (not before the newest event)
    /// were first seen.
    pub fn first_at(&self, t: i64, c: &Counting) -> Option<i64> {
        let from = t.saturating_sub(c.window);
        if c.exact {
            self.exact
                .values()
                .filter(|(_, last)| *last >= from)
                .map(|(first, _)| *first)
                .min()
        } else {
            let width = c.width();
            self.buckets
                .iter()
                .find(|(s, _, _)| s + width > from)
                .map(|(_, first, _)| *first)
        }
    }

    /// The distinct count in the window ending at `t` (not before the newest event), given
    /// the instants the values leave it, ascending (see [`Distinct::departures`]).
    pub fn count_at(&self, t: i64, c: &Counting, leaving: &[i64]) -> u64 {
        if c.exact {
            // A value counts until the instant it leaves.
            return (leaving.len() - leaving.partition_point(|&l| l <= t)) as u64;
        }
        let width = c.width();
        let from = t.saturating_sub(c.window);
        let counted = self.buckets.iter().filter(|(s, _, _)| s + width > from);
        union_of(counted).count()
    }

    /// The instants a value (exact) or a bucket (sketch) leaves the window.
    pub fn departures(&self, c: &Counting, out: &mut Vec<i64>) {
        if c.exact {
            out.extend(self.exact.values().map(|&(_, last)| leaves(last, c.window)));
        } else {
            let width = c.width();
            // A bucket counts while any instant of it is in the window.
            out.extend(
                self.buckets
                    .iter()
                    .map(|(s, _, _)| s.saturating_add(width).saturating_add(c.window)),
            );
        }
    }

    /// Forgets what left the window by `checked`; true when something was.
    pub fn forget_left(&mut self, c: &Counting) -> bool {
        let before = (self.exact.len(), self.buckets.len());
        let checked = self.checked;
        self.exact
            .retain(|_, &mut (_, last)| leaves(last, c.window) > checked);
        let width = c.width();
        while self
            .buckets
            .front()
            .is_some_and(|(s, _, _)| s.saturating_add(width).saturating_add(c.window) <= checked)
        {
            self.buckets.pop_front();
            self.union = None;
        }
        before != (self.exact.len(), self.buckets.len())
    }
}

fn union_of<'a>(buckets: impl Iterator<Item = &'a (i64, i64, HyperLogLog)>) -> HyperLogLog {
    let mut all = HyperLogLog::default();
    for (_, _, h) in buckets {
        all.merge(h);
    }
    all
}
