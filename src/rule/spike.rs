//! `type: spike`: the count in the current `window` against the one before it. With
//! `spike_height: 3`, an alert when the current window holds at least 3× the previous
//! (`spike_type: up`), at most a third of it (`down`), or either (`both`, the default);
//! `threshold_cur` / `threshold_ref` are the least counts each window must hold, so small
//! numbers page nobody.
//!
//! At instant `t` the current window is `(t - window, t]` and the reference window
//! `(t - 2·window, t - window]`. A key is compared only once it has been watched for two
//! windows, and counts change only when an event arrives or crosses a window edge, so those
//! are the instants checked, whatever the clock's ticking. After an alert both windows
//! start empty again (as ElastAlert does).
//!
//! An alert's sample is a line from the current window `(t - window, t]` — the earliest of
//! the lines kept of it (the first and last line of each `window`-long stretch of time are
//! kept, which always leaves one inside a window holding events) — or, for a spike down to
//! an empty window, the latest kept line of the window before.

use chrono::{DateTime, Duration, Utc};

use super::track::Track;
use serde::{Deserialize, Serialize};

use super::{
    count_in, human, micros, time_of, BuildContext, Keyed, KeyedMatch, Match, Params, RuleError,
    RuleStats, RuleType, StateChange, Visit, UNGROUPED_KEY,
};
use crate::event::Event;
use crate::types::HumanDuration;

/// `type: spike` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpikeParams {
    /// The length of each compared window.
    pub window: HumanDuration,
    /// How many times bigger one window must be than the other (at least 1).
    pub spike_height: f64,
    /// `up`, `down` or `both` (default).
    #[serde(default)]
    pub spike_type: Option<SpikeDirection>,
    /// Least count in the current window for an alert (default 0).
    #[serde(default)]
    pub threshold_cur: Option<u64>,
    /// Least count in the reference (previous) window for an alert (default 0).
    #[serde(default)]
    pub threshold_ref: Option<u64>,
}

#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SpikeDirection {
    Up,
    Down,
    #[default]
    Both,
}

impl Params for SpikeParams {
    /// 2: lines are kept per stretch of time (for a sample from the spike's window), not
    /// the key's last line.
    const STATE_VERSION: u32 = 2;

    fn counted_over(&self) -> Option<HumanDuration> {
        Some(self.window)
    }

    fn build(&self, cx: &mut BuildContext<'_>) -> Option<Box<dyn RuleType>> {
        let window = cx.positive("window", self.window);
        // NaN is not at least 1 either.
        if self.spike_height.is_nan() || self.spike_height < 1.0 {
            cx.problem("spike_height", "`spike_height` must be at least 1");
        }
        Some(Box::new(SpikeRule::new(Spike {
            window,
            height: self.spike_height,
            direction: self.spike_type.unwrap_or_default(),
            threshold_cur: self.threshold_cur.unwrap_or(0),
            threshold_ref: self.threshold_ref.unwrap_or(0),
            grouped: cx.grouped,
            cap: cx.max_keys,
        })))
    }
}

/// A spike rule's settings, in runtime values.
pub struct Spike {
    pub window: Duration,
    pub height: f64,
    pub direction: SpikeDirection,
    pub threshold_cur: u64,
    pub threshold_ref: u64,
    pub grouped: bool,
    pub cap: usize,
}

pub struct SpikeRule {
    p: Spike,
    window: i64,
    keys: Keyed<Track>,
    /// Keys that cleared since `settle` last ran.
    cleared: Vec<String>,
}

/// What a comparison found: (current, reference, direction word).
type Found = (u64, u64, &'static str);

/// A spike: the instant, what was found, the sample line.
type Spiked = (i64, Found, String);

impl SpikeRule {
    pub fn new(p: Spike) -> Self {
        SpikeRule {
            window: super::span(p.window).max(1),
            keys: Keyed::new(p.cap),
            p,
            cleared: Vec::new(),
        }
    }

    fn compare(&self, cur: u64, reference: u64) -> Option<Found> {
        if cur < self.p.threshold_cur || reference < self.p.threshold_ref || cur + reference == 0 {
            return None;
        }
        let (c, r, h) = (cur as f64, reference as f64, self.p.height);
        let up = matches!(self.p.direction, SpikeDirection::Up | SpikeDirection::Both);
        let down = matches!(
            self.p.direction,
            SpikeDirection::Down | SpikeDirection::Both
        );
        if up && c >= r * h {
            Some((cur, reference, "up"))
        } else if down && c <= r / h {
            Some((cur, reference, "down"))
        } else {
            None
        }
    }

    /// Spikes of one key up to `wm`.
    fn evaluate(&self, tr: &mut Track, wm: i64) -> Vec<Spiked> {
        let w = self.window;
        let mut fired = Vec::new();
        loop {
            let first = tr.since.saturating_add(w.saturating_mul(2));
            let mut candidates: Vec<i64> = std::iter::once(first)
                .chain(tr.times.iter().flat_map(|&e| {
                    [
                        e,
                        e.saturating_add(w),
                        e.saturating_add(w.saturating_mul(2)),
                    ]
                }))
                .filter(|&c| c >= first && c >= tr.checked && c < wm)
                .collect();
            candidates.sort_unstable();
            candidates.dedup();
            let hit = candidates.into_iter().find_map(|c| {
                let cur = count_in(&tr.times, c.saturating_sub(w), c);
                let reference = count_in(
                    &tr.times,
                    c.saturating_sub(w.saturating_mul(2)),
                    c.saturating_sub(w),
                );
                self.compare(cur, reference).map(|s| (c, s))
            });
            match hit {
                Some((c, s)) => {
                    let two = w.saturating_mul(2);
                    let sample = tr
                        .first_line_in(c.saturating_sub(w), c)
                        .or_else(|| tr.last_line_in(c.saturating_sub(two), c.saturating_sub(w)))
                        .unwrap_or_default()
                        .to_string();
                    fired.push((c, s, sample));
                    tr.since = c;
                    tr.checked = c.saturating_add(1);
                    while tr.times.front().is_some_and(|&e| e <= c) {
                        tr.times.pop_front();
                    }
                }
                None => break,
            }
        }
        tr.checked = wm;
        fired
    }
}

impl RuleType for SpikeRule {
    fn fields(&self) -> Option<Vec<String>> {
        Some(Vec::new())
    }

    fn observe(&mut self, key: &str, event: &Event, _now: DateTime<Utc>) -> Option<Match> {
        let since = micros(event.time);
        let width = self.window;
        self.keys
            .touch(key, || Track::new(since))
            .record_kept(event, width);
        None
    }

    fn advance(&mut self, watermark: DateTime<Utc>, out: &mut Vec<KeyedMatch>) {
        let wm = micros(watermark);
        if !self.p.grouped && self.keys.is_empty() {
            self.keys.touch(UNGROUPED_KEY, || Track::new(wm));
        }
        let w = self.window;
        let mut keys = std::mem::replace(&mut self.keys, Keyed::new(1));
        let mut fired = Vec::new();
        let mut cleared = Vec::new();
        keys.visit(|key, tr| {
            if tr.since.saturating_add(w.saturating_mul(2)) >= wm {
                return Visit::Unchanged;
            }
            let hits = self.evaluate(tr, wm);
            let any = !hits.is_empty();
            // Cleared: two windows (a current and its reference) passed since the spike
            // without another.
            if tr.firing && !any {
                tr.firing = false;
                cleared.push(key.to_string());
                return Visit::Changed;
            }
            tr.firing |= any;
            for (c, s, sample) in hits {
                fired.push((c, key.to_string(), s, sample));
            }
            let before = (tr.times.len(), tr.stretches.len());
            while tr
                .times
                .front()
                .is_some_and(|&e| e.saturating_add(w.saturating_mul(2)) < wm)
            {
                tr.times.pop_front();
            }
            // The lines of a later spike's windows are all after `wm - 2·window`.
            tr.forget_lines_before(wm.saturating_sub(w.saturating_mul(2)), w);
            if any || (tr.times.len(), tr.stretches.len()) != before {
                Visit::Changed
            } else {
                Visit::Unchanged
            }
        });
        self.keys = keys;
        self.cleared.append(&mut cleared);
        fired.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        for (c, key, (cur, reference, dir), sample) in fired {
            out.push(KeyedMatch {
                key,
                due: time_of(c),
                found: Match {
                    count: cur,
                    first_seen: time_of(c.saturating_sub(w)),
                    last_seen: time_of(c),
                    sample,
                    detail: Some(format!(
                        "spike {dir}: {cur} in the last {} vs {reference} in the {} before",
                        human(w),
                        human(w)
                    )),
                    identity: Vec::new(),
                },
            });
        }
    }

    fn settle(&mut self, _watermark: DateTime<Utc>, cleared: &mut Vec<String>) {
        cleared.append(&mut self.cleared);
    }

    fn fires_on_clock(&self) -> bool {
        true
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
    use crate::rule::See;
    use crate::rule::{at, event_at};

    fn rule(direction: SpikeDirection, cur: u64, reference: u64) -> SpikeRule {
        SpikeRule::new(Spike {
            window: Duration::seconds(60),
            height: 3.0,
            direction,
            threshold_cur: cur,
            threshold_ref: reference,
            grouped: true,
            cap: 100,
        })
    }

    fn feed(r: &mut SpikeRule, times: &[i64]) {
        for &t in times {
            r.see("k", &event_at(t, &format!("e{t}")));
        }
    }

    fn fired(r: &mut SpikeRule, wm: i64) -> Vec<(i64, u64, String)> {
        let mut out = Vec::new();
        r.advance(at(wm), &mut out);
        out.into_iter()
            .map(|m| {
                let secs = m.found.last_seen.timestamp() - at(0).timestamp();
                (secs, m.found.count, m.found.detail.unwrap())
            })
            .collect()
    }

    #[test]
    fn fires_up_at_the_event_that_makes_three_times_the_reference() {
        let mut r = rule(SpikeDirection::Up, 3, 1);
        // At 150: current (90, 150] holds 130, 140, 150; reference (30, 90] holds 70: 3 = 3×1.
        feed(&mut r, &[0, 70, 130, 140, 150, 160]);
        let got = fired(&mut r, 200);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].0, got[0].1), (150, 3));
        assert!(
            got[0].2.starts_with("spike up: 3 in the last 1m vs 1"),
            "{}",
            got[0].2
        );
    }

    #[test]
    fn minimum_counts_keep_small_numbers_quiet() {
        let mut r = rule(SpikeDirection::Up, 5, 1);
        feed(&mut r, &[0, 70, 130, 140, 150, 160]);
        assert!(
            fired(&mut r, 200).is_empty(),
            "4 in the current window is below threshold_cur"
        );
    }

    #[test]
    fn fires_down_on_the_clock_when_events_stop() {
        let mut r = rule(SpikeDirection::Down, 0, 3);
        feed(&mut r, &[0, 61, 62, 63, 64]);
        // At 123 three of 61..64 have moved into the reference window: 1 vs 3 = a third.
        let got = fired(&mut r, 400);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].0, got[0].1), (123, 1));
        assert!(got[0].2.starts_with("spike down"), "{}", got[0].2);
    }

    #[test]
    fn clears_when_two_windows_pass_without_another_spike() {
        let mut r = rule(SpikeDirection::Up, 3, 1);
        feed(&mut r, &[0, 70, 130, 140, 150]);
        assert_eq!(fired(&mut r, 200).len(), 1);
        let mut cleared = Vec::new();
        r.settle(at(200), &mut cleared);
        assert!(cleared.is_empty());
        // Back to one event a minute: no spike in the two windows after 150.
        feed(&mut r, &[210, 270]);
        fired(&mut r, 271);
        fired(&mut r, 300);
        r.settle(at(300), &mut cleared);
        assert_eq!(cleared, ["k"]);
    }

    /// (instant, sample) of what fired up to `wm`.
    fn samples(r: &mut SpikeRule, wm: i64) -> Vec<(i64, String)> {
        let mut out = Vec::new();
        r.advance(at(wm), &mut out);
        out.into_iter()
            .map(|m| {
                (
                    m.found.last_seen.timestamp() - at(0).timestamp(),
                    m.found.sample,
                )
            })
            .collect()
    }

    #[test]
    fn the_sample_is_a_line_of_the_window_that_spiked() {
        let mut r = rule(SpikeDirection::Up, 3, 1);
        r.p.grouped = false;
        for (t, line) in [
            (0, "GET /a"),
            (70, "GET /a"),
            (130, "POST /pay 500"),
            (140, "POST /pay 500"),
            (150, "POST /pay 502"),
            // After the spike, from elsewhere: never its sample.
            (160, "GET /health"),
        ] {
            r.see(UNGROUPED_KEY, &event_at(t, line));
        }
        assert_eq!(samples(&mut r, 200), vec![(150, "POST /pay 500".into())]);
    }

    #[test]
    fn the_sample_is_found_in_the_window_whatever_its_events_stretch_over() {
        // Many events, spread so that the window's edges fall inside the kept stretches.
        let mut r = rule(SpikeDirection::Up, 10, 1);
        for t in [5, 95] {
            r.see("k", &event_at(t, &format!("quiet {t}")));
        }
        for t in 150..=175 {
            r.see("k", &event_at(t, &format!("burst {t}")));
        }
        let got = samples(&mut r, 400);
        assert_eq!(got.len(), 1, "{got:?}");
        let (c, sample) = &got[0];
        let t: i64 = sample.strip_prefix("burst ").unwrap().parse().unwrap();
        assert!(c - 60 < t && t <= *c, "{sample} in ({}, {c}]", c - 60);
    }

    #[test]
    fn a_spike_down_to_nothing_shows_the_last_line_before() {
        let mut r = rule(SpikeDirection::Down, 0, 3);
        r.see("k", &event_at(0, "start"));
        for line in ["order a", "order b", "order c"] {
            r.see("k", &event_at(61, line));
        }
        // At 121 the current window (61, 121] is empty, the one before holds the three.
        assert_eq!(samples(&mut r, 400), vec![(121, "order c".into())]);
    }

    #[test]
    fn kept_lines_are_bounded_and_survive_a_restart() {
        let mut r = rule(SpikeDirection::Up, 3, 1);
        for t in (0..2000).step_by(10) {
            r.see("k", &event_at(t, &format!("line {t}")));
            samples(&mut r, t - 30);
        }
        let kept = r.keys.get("k").unwrap().stretches.len();
        assert!(kept <= 4, "{kept} stretches kept");
        let mut changes = Vec::new();
        r.take_changes(&mut changes);
        let mut back = rule(SpikeDirection::Up, 3, 1);
        for c in changes {
            back.restore(&c.key, &c.state.unwrap()).unwrap();
        }
        for t in 2100..2110 {
            for n in 0..3 {
                back.see("k", &event_at(t, &format!("burst {t}.{n}")));
            }
        }
        // At 2100 s: three in (2040, 2100] against the one at 1990 s before.
        assert_eq!(
            samples(&mut back, 3000),
            vec![(2100, "burst 2100.0".into())]
        );
    }
}
