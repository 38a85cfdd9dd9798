//! `type: cardinality`: distinct values of `field` within `window` (per key) above
//! `max_cardinality` or below `min_cardinality` — one user paying from 30 cards in ten
//! minutes, or payments suddenly going through a single gateway.
//!
//! The window ends at the key's newest event and reaches back `window`, inclusive. While
//! the thresholds are small (≤ 10,000) every value is tracked exactly and only as many as
//! the thresholds need are kept; above that, values go into HyperLogLog sketches per
//! sixteenth of the window (about 1.6% error; the window is rounded up to whole
//! sixteenths). Checked as events arrive; fires when the count crosses the limit and again
//! only after it has come back.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{
    human, micros, span, time_of, BuildContext, HyperLogLog, Keyed, Match, Params, RuleError,
    RuleStats, RuleType, StateChange,
};
use crate::event::Event;
use crate::types::HumanDuration;

/// `type: cardinality` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardinalityParams {
    /// The field whose distinct values are counted.
    pub field: String,
    pub window: HumanDuration,
    #[serde(default)]
    pub max_cardinality: Option<u64>,
    #[serde(default)]
    pub min_cardinality: Option<u64>,
}

impl Params for CardinalityParams {
    const STATE_VERSION: u32 = 1;

    fn counted_over(&self) -> Option<HumanDuration> {
        Some(self.window)
    }

    fn counts_distinct(&self) -> bool {
        true
    }

    fn build(&self, cx: &mut BuildContext<'_>) -> Option<Box<dyn RuleType>> {
        let window = cx.positive("window", self.window);
        cx.any_of(
            "cardinality",
            ("max_cardinality", self.max_cardinality.is_some()),
            ("min_cardinality", self.min_cardinality.is_some()),
        );
        if let (Some(min), Some(max)) = (self.min_cardinality, self.max_cardinality) {
            if min > max {
                cx.problem(
                    "min_cardinality",
                    format!(
                        "`min_cardinality` ({min}) must not be above `max_cardinality` ({max})"
                    ),
                );
            }
        }
        Some(Box::new(CardinalityRule::new(
            self.field.clone(),
            window,
            self.max_cardinality,
            self.min_cardinality,
            cx.max_keys,
        )))
    }
}

/// Thresholds up to this are tracked exactly.
const EXACT_LIMIT: u64 = 10_000;
/// Sketch buckets per window.
const BUCKETS: i64 = 16;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Distinct {
    since: i64,
    newest: i64,
    /// Exact mode: value → last seen (µs).
    exact: HashMap<String, i64>,
    /// Sketch mode: (bucket start µs, sketch), ascending.
    buckets: VecDeque<(i64, HyperLogLog)>,
    /// Sketch mode: the union of `buckets` (rebuilt when a bucket leaves the window).
    #[serde(skip)]
    union: Option<HyperLogLog>,
    /// Over the limit now: no new alert until it comes back.
    firing: bool,
}

pub struct CardinalityRule {
    field: String,
    window: i64,
    max: Option<u64>,
    min: Option<u64>,
    exact: bool,
    keys: Keyed<Distinct>,
}

impl CardinalityRule {
    pub fn new(
        field: String,
        window: Duration,
        max: Option<u64>,
        min: Option<u64>,
        max_keys: usize,
    ) -> Self {
        let need = max.map_or(0, |m| m.saturating_add(1)).max(min.unwrap_or(0));
        CardinalityRule {
            field,
            window: span(window).max(1),
            max,
            min,
            exact: need <= EXACT_LIMIT,
            keys: Keyed::new(max_keys),
        }
    }

    /// Enough values kept to decide both thresholds.
    fn keep(&self) -> usize {
        let need = self
            .max
            .map_or(0, |m| m.saturating_add(1))
            .max(self.min.unwrap_or(0));
        need.max(1) as usize
    }
}

/// Distinct values in the window of `d`, tracking exactly: drops values out of the window
/// and, beyond `keep`, the least recently seen (the count is then known to be ≥ `keep`).
fn exact_count(d: &mut Distinct, window: i64, keep: usize) -> u64 {
    let from = d.newest.saturating_sub(window);
    d.exact.retain(|_, &mut last| last >= from);
    while d.exact.len() > keep {
        let oldest = d
            .exact
            .iter()
            .min_by_key(|(v, &t)| (t, (*v).clone()))
            .map(|(v, _)| v.clone());
        match oldest {
            Some(v) => d.exact.remove(&v),
            None => break,
        };
    }
    d.exact.len() as u64
}

fn sketch_count(d: &mut Distinct, window: i64, value: &str) -> u64 {
    let width = (window / BUCKETS).max(1);
    let from = d.newest.saturating_sub(window);
    while d.buckets.front().is_some_and(|(s, _)| s + width <= from) {
        d.buckets.pop_front();
        d.union = None;
    }
    let buckets = &d.buckets;
    let union = d.union.get_or_insert_with(|| {
        let mut all = HyperLogLog::default();
        for (_, h) in buckets {
            all.merge(h);
        }
        all
    });
    union.insert(value);
    union.count()
}

impl RuleType for CardinalityRule {
    fn fields(&self) -> Option<Vec<String>> {
        Some(vec![self.field.clone()])
    }

    fn observe(&mut self, key: &str, event: &Event, _now: DateTime<Utc>) -> Option<Match> {
        let value = event.text(&self.field)?;
        let t = micros(event.time);
        let (window, keep) = (self.window, self.keep());
        let d = self.keys.touch(key, || Distinct {
            since: t,
            newest: t,
            ..Distinct::default()
        });
        d.newest = d.newest.max(t);
        let count = if self.exact {
            match d.exact.get_mut(value.as_ref()) {
                Some(last) => *last = (*last).max(t),
                None => {
                    d.exact.insert(value.to_string(), t);
                }
            }
            // Counting needs pruning only near a threshold; the map is small otherwise.
            let len = d.exact.len() as u64;
            let near_max = self.max.is_some_and(|m| len > m);
            let near_min = self.min.is_some_and(|m| len >= m);
            if near_max || near_min || d.exact.len() > keep {
                exact_count(d, window, keep)
            } else {
                len
            }
        } else {
            let width = (window / BUCKETS).max(1);
            let start = t - t.rem_euclid(width);
            let at = d.buckets.partition_point(|(s, _)| *s < start);
            if d.buckets.get(at).is_none_or(|(s, _)| *s != start) {
                d.buckets.insert(at, (start, HyperLogLog::default()));
            }
            d.buckets[at].1.insert(&value);
            sketch_count(d, window, &value)
        };
        let watched_a_window = d.newest.saturating_sub(d.since) >= window;
        let over = self
            .max
            .filter(|&m| count > m)
            .map(|m| format!("more than {m}"));
        let under = self
            .min
            .filter(|&m| count < m && watched_a_window)
            .map(|m| format!("fewer than {m}"));
        let Some(limit) = over.or(under) else {
            d.firing = false;
            return None;
        };
        if std::mem::replace(&mut d.firing, true) {
            return None;
        }
        Some(Match {
            count,
            first_seen: time_of(d.newest.saturating_sub(window)),
            last_seen: time_of(d.newest),
            sample: super::kept(&event.raw),
            detail: Some(format!(
                "{count} distinct {} in {} ({limit})",
                self.field,
                human(window)
            )),
            identity: Vec::new(),
        })
    }

    fn take_changes(&mut self, out: &mut Vec<StateChange>) {
        self.keys.take_changes(out);
    }

    fn restore(&mut self, key: &str, state: &str) -> Result<(), RuleError> {
        self.keys.restore(key, state)
    }

    fn clear_state(&mut self) {
        self.keys.clear();
    }

    fn set_max_keys(&mut self, cap: usize) {
        self.keys.set_cap(cap);
    }

    fn stats(&self) -> RuleStats {
        self.keys.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::json_at;
    use crate::rule::See;

    fn card(r: &mut CardinalityRule, t: i64, card: &str) -> Option<(u64, String)> {
        r.see("u1", &json_at(t, &format!(r#"{{"card":"{card}"}}"#)))
            .map(|m| (m.count, m.detail.unwrap()))
    }

    #[test]
    fn fires_once_when_distinct_values_exceed_the_max() {
        let mut r = CardinalityRule::new("card".into(), Duration::seconds(60), Some(2), None, 10);
        assert_eq!(card(&mut r, 0, "a"), None);
        assert_eq!(card(&mut r, 1, "b"), None);
        assert_eq!(card(&mut r, 2, "a"), None, "repeats are not distinct");
        assert_eq!(
            card(&mut r, 3, "c"),
            Some((3, "3 distinct card in 1m (more than 2)".into()))
        );
        assert_eq!(
            card(&mut r, 4, "d"),
            None,
            "still over: one alert per crossing"
        );
        // At 64 "a" (last 2), "b" (1) and "c" (3) are more than 60s old: back to d, e.
        assert_eq!(card(&mut r, 64, "e"), None);
        assert_eq!(card(&mut r, 64, "f").map(|m| m.0), Some(3), "crossed again");
    }

    #[test]
    fn an_event_exactly_a_window_old_still_counts() {
        let mut r = CardinalityRule::new("card".into(), Duration::seconds(60), Some(1), None, 10);
        assert_eq!(card(&mut r, 0, "a"), None);
        assert_eq!(card(&mut r, 60, "b").map(|m| m.0), Some(2));
    }

    #[test]
    fn fires_below_the_min_only_after_a_full_window() {
        let mut r = CardinalityRule::new("card".into(), Duration::seconds(60), None, Some(2), 10);
        assert_eq!(card(&mut r, 0, "a"), None, "not watched a full window yet");
        assert_eq!(card(&mut r, 30, "b"), None);
        // At 70 "a" (0) has left [10, 70]: only "b" is left, 1 < 2.
        assert_eq!(
            card(&mut r, 70, "b"),
            Some((1, "1 distinct card in 1m (fewer than 2)".into()))
        );
    }

    #[test]
    fn large_limits_use_sketches() {
        let mut r = CardinalityRule::new(
            "card".into(),
            Duration::seconds(600),
            Some(12_000),
            None,
            10,
        );
        let mut first = None;
        for i in 0..15_000 {
            if let Some(m) = card(&mut r, i / 100, &format!("c{i}")) {
                first.get_or_insert(m.0);
            }
        }
        let n = first.expect("crossed 12,000") as f64;
        assert!((n - 12_000.0).abs() < 12_000.0 * 0.05, "{n}");
    }
}
