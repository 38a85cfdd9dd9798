//! `type: cardinality`: distinct values of `field` within `window` (per key) above
//! `max_cardinality` or below `min_cardinality` — one user paying from 30 cards in ten
//! minutes, or payments suddenly going through a single gateway.
//!
//! The window at instant `t` is `[t - window, t]`: a value seen exactly `window` ago still
//! counts. While the limits are small (≤ 10,000) every value is tracked exactly and only as
//! many as the limits need are kept; above that, values go into HyperLogLog sketches per
//! sixteenth of the window (about 1.6% error; the window is rounded up to whole
//! sixteenths). An alert fires when the count goes past a limit, and again only after it
//! has come back within them; its `first_seen` is when the values it counted were first
//! seen (since they last entered the window).
//!
//! With only `max_cardinality` the count is checked as each event arrives (it only grows
//! then). `min_cardinality` is about values going away, which needs no event at all: such
//! a rule fires on the clock. It checks every instant its count changes — an event
//! arriving, a value leaving the window — up to the watermark, so a key that falls silent
//! fires at the instant its count drops below the minimum; instants before an event are
//! checked when the event comes. The minimum applies once a key has been watched a whole
//! window (from its first event; without `group_by`, the one key from the rule's first
//! clock tick).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::crossing::{Crossing, Past};
use super::distinct::{Counting, Distinct};
use super::{
    human, micros, set_text, span, time_of, BuildContext, Keyed, KeyedMatch, Match, Params,
    RuleError, RuleStats, RuleType, StateChange, Visit, UNGROUPED_KEY,
};
use crate::event::Event;
use crate::types::HumanDuration;

/// `type: cardinality` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardinalityParams {
    /// The field whose distinct values are counted.
    pub field: String,
    pub window: HumanDuration,
    /// Fire when more distinct values than this are seen within `window`.
    #[serde(default)]
    pub max_cardinality: Option<u64>,
    /// Fire when fewer distinct values than this are seen within `window`.
    #[serde(default)]
    pub min_cardinality: Option<u64>,
}

impl Params for CardinalityParams {
    /// 2: each value's first sighting, the limit the count is past, the instant checked up
    /// to and the last line are stored.
    const STATE_VERSION: u32 = 2;

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
        Some(Box::new(CardinalityRule::new(Cardinality {
            field: self.field.clone(),
            window,
            max: self.max_cardinality,
            min: self.min_cardinality,
            grouped: cx.grouped,
            cap: cx.max_keys,
        })))
    }
}

/// Limits up to this are tracked exactly.
const EXACT_LIMIT: u64 = 10_000;

/// A cardinality rule's settings, in runtime values.
pub struct Cardinality {
    pub field: String,
    pub window: Duration,
    pub max: Option<u64>,
    pub min: Option<u64>,
    pub grouped: bool,
    pub cap: usize,
}

/// What deciding needs, apart from the keys (borrowed beside them).
#[derive(Debug, Clone, Copy)]
struct Limits {
    max: Option<u64>,
    min: Option<u64>,
    counting: Counting,
}

impl Limits {
    /// Where `count` stands; the minimum applies only to a key `watched` a whole window.
    fn reading(&self, count: u64, watched: bool) -> Past {
        if self.max.is_some_and(|m| count > m) {
            Past::Above
        } else if watched && self.min.is_some_and(|m| count < m) {
            Past::Below
        } else {
            Past::Within
        }
    }

    fn detail(&self, field: &str, count: u64, past: Past) -> String {
        let limit = match past {
            Past::Above => format!("more than {}", self.max.unwrap_or_default()),
            _ => format!("fewer than {}", self.min.unwrap_or_default()),
        };
        let window = human(self.counting.window);
        format!("{count} distinct {field} in {window} ({limit})")
    }

    /// Checks the instants in `(d.checked, until)` where the count of `key` changes without
    /// an event (a value leaving the window; the instant it has been watched a whole
    /// window), in order: what fires goes to `found`. True when state worth storing
    /// changed.
    fn sweep(
        &self,
        field: &str,
        key: &str,
        d: &mut Distinct,
        until: i64,
        scratch: &mut Scratch,
        found: &mut Vec<KeyedMatch>,
    ) -> bool {
        let window = self.counting.window;
        let Scratch { leaving, instants } = scratch;
        leaving.clear();
        d.departures(&self.counting, leaving);
        let after = d.checked;
        instants.clear();
        instants.extend(leaving.iter().copied().filter(|&c| c > after && c < until));
        let watched = d.since.saturating_add(window);
        if watched > after && watched < until {
            instants.push(watched);
        }
        // Most sweeps (one per event) find nothing due: sorting waits until something is.
        if !instants.is_empty() {
            leaving.sort_unstable();
            instants.sort_unstable();
            instants.dedup();
        }
        let mut changed = false;
        for &c in instants.iter() {
            let count = d.count_at(c, &self.counting, leaving);
            let past = self.reading(count, c.saturating_sub(d.since) >= window);
            match d.past.step(Some(past)) {
                Crossing::Nothing => continue,
                Crossing::Cleared => {}
                Crossing::Fired => {
                    let first = d.first_at(c, &self.counting);
                    found.push(KeyedMatch {
                        key: key.to_string(),
                        due: time_of(c),
                        found: Match {
                            count,
                            first_seen: time_of(first.unwrap_or(c.saturating_sub(window))),
                            last_seen: time_of(c),
                            sample: d.last_line.clone(),
                            detail: Some(self.detail(field, count, past)),
                            identity: Vec::new(),
                        },
                    })
                }
            }
            changed = true;
        }
        d.checked = d.checked.max(until.saturating_sub(1));
        d.forget_left(&self.counting) || changed
    }
}

/// Buffers a sweep reuses: the instants values leave the window, the instants to check.
#[derive(Debug, Default)]
struct Scratch {
    leaving: Vec<i64>,
    instants: Vec<i64>,
}

pub struct CardinalityRule {
    field: String,
    limits: Limits,
    grouped: bool,
    keys: Keyed<Distinct>,
    /// What the last `observe` found due before its event.
    found: Vec<KeyedMatch>,
    scratch: Scratch,
}

impl CardinalityRule {
    pub fn new(p: Cardinality) -> Self {
        // Enough values kept to decide both limits.
        let keep = p
            .max
            .map_or(0, |m| m.saturating_add(1))
            .max(p.min.unwrap_or(0))
            .max(1);
        CardinalityRule {
            field: p.field,
            limits: Limits {
                max: p.max,
                min: p.min,
                counting: Counting {
                    window: span(p.window).max(1),
                    exact: keep <= EXACT_LIMIT,
                    keep: keep as usize,
                },
            },
            grouped: p.grouped,
            keys: Keyed::new(p.cap),
            found: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// A minimum is about values going away: the rule must look on the clock.
    fn on_clock(&self) -> bool {
        self.limits.min.is_some()
    }
}

impl RuleType for CardinalityRule {
    fn fields(&self) -> Option<Vec<String>> {
        Some(vec![self.field.clone()])
    }

    fn observe(&mut self, key: &str, event: &Event, _now: DateTime<Utc>) -> Option<Match> {
        let value = event.text(&self.field)?;
        let t = micros(event.time);
        let on_clock = self.on_clock();
        let limits = self.limits;
        let d = self.keys.touch(key, || Distinct::watched_from(t));
        if on_clock && t > d.checked {
            limits.sweep(&self.field, key, d, t, &mut self.scratch, &mut self.found);
        }
        if on_clock {
            set_text(&mut d.last_line, &event.raw);
        }
        // Without a minimum, a count at most the maximum decides nothing: the values held
        // will do without pruning those that left.
        let lazy = limits.max.filter(|_| limits.min.is_none());
        let count = d.record(&value, t, &limits.counting, lazy);
        let window = limits.counting.window;
        let past = limits.reading(count, d.newest.saturating_sub(d.since) >= window);
        d.checked = d.checked.max(d.newest);
        if d.past.step(Some(past)) != Crossing::Fired {
            return None;
        }
        let first = d.first_seen(&limits.counting);
        Some(Match {
            count,
            first_seen: time_of(first.unwrap_or(d.newest.saturating_sub(window))),
            last_seen: time_of(d.newest),
            sample: super::kept(&event.raw),
            detail: Some(limits.detail(&self.field, count, past)),
            identity: Vec::new(),
        })
    }

    fn advance(&mut self, watermark: DateTime<Utc>, out: &mut Vec<KeyedMatch>) {
        if !self.on_clock() {
            return;
        }
        let wm = micros(watermark);
        if !self.grouped && self.keys.is_empty() {
            self.keys
                .touch(UNGROUPED_KEY, || Distinct::watched_from(wm));
        }
        let (limits, field) = (self.limits, &self.field);
        let scratch = &mut self.scratch;
        let mut fired = Vec::new();
        self.keys.visit(|key, d| {
            if limits.sweep(field, key, d, wm, scratch, &mut fired) {
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

    fn take_changes(&mut self, out: &mut Vec<StateChange>) {
        self.keys.take_changes(out);
    }

    fn restore(&mut self, key: &str, state: &str) -> Result<(), RuleError> {
        self.keys.restore(key, state)
    }

    fn clear_state(&mut self) {
        self.keys.clear();
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
#[path = "cardinality_tests.rs"]
mod tests;
