//! `type: flatline`: fewer than `threshold` matches within `window` — orders stopped
//! flowing, a heartbeat went quiet. Fires on the clock, not on events.
//!
//! The window is `(t - window, t]`: an event exactly `window` old has left it. A key is
//! watched from its first event (without `group_by`, the one key is watched from the rule's
//! first clock tick), and fires at the first instant `t` at least one `window` after that
//! where the count is below `threshold`. Counts only fall when an event leaves the window,
//! so those instants are the only candidates, and the alert does not depend on how often
//! the clock ticks. After firing the key is watched afresh from `t` (so a key that stays
//! quiet fires again once per `window`), or forgotten with `forget_keys`. When the clock
//! leaps over several windows in which the key stays silent (a backlog read at once, a
//! restart after downtime), it fires for the first and the last of them only: a forged or
//! distant timestamp cannot make it loop over millions of empty windows.

use chrono::{DateTime, Duration, Utc};

use super::track::Track;
use serde::{Deserialize, Serialize};

use super::{
    count_in, human, micros, span, time_of, BuildContext, Keyed, KeyedMatch, Match, Params,
    RuleError, RuleStats, RuleType, StateChange, Visit, UNGROUPED_KEY,
};
use crate::event::Event;
use crate::types::HumanDuration;

/// `type: flatline` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlatlineParams {
    /// Fewer matches than this within `window` fire.
    pub threshold: u64,
    pub window: HumanDuration,
    /// Forget a key once it has fired (it comes back with its next event).
    #[serde(default)]
    pub forget_keys: bool,
}

impl Params for FlatlineParams {
    const STATE_VERSION: u32 = 1;

    fn counted_over(&self) -> Option<HumanDuration> {
        Some(self.window)
    }

    fn build(&self, cx: &mut BuildContext<'_>) -> Option<Box<dyn RuleType>> {
        let threshold = cx.at_least_one("threshold", self.threshold);
        let window = cx.positive("window", self.window);
        Some(Box::new(FlatlineRule::new(
            threshold,
            window,
            cx.grouped,
            self.forget_keys,
            cx.max_keys,
        )))
    }
}

pub struct FlatlineRule {
    threshold: u64,
    window: i64,
    grouped: bool,
    forget_keys: bool,
    keys: Keyed<Track>,
    /// Keys that cleared since `settle` last ran.
    cleared: Vec<String>,
}

impl FlatlineRule {
    pub fn new(
        threshold: u64,
        window: Duration,
        grouped: bool,
        forget_keys: bool,
        max_keys: usize,
    ) -> Self {
        FlatlineRule {
            threshold: threshold.max(1),
            window: span(window).max(1),
            grouped,
            forget_keys,
            keys: Keyed::new(max_keys),
            cleared: Vec::new(),
        }
    }
}

/// Fires of one key up to `wm`, as (instant, count in the window there).
fn evaluate(tr: &mut Track, wm: i64, window: i64, threshold: u64, forget: bool) -> Vec<(i64, u64)> {
    let mut fired = Vec::new();
    loop {
        let first = tr.since.saturating_add(window);
        let leaves = tr.times.iter().map(|&e| e.saturating_add(window));
        let hit = std::iter::once(first)
            .chain(leaves.filter(|&c| c > first))
            .filter(|&c| c >= tr.checked)
            .take_while(|&c| c < wm)
            .map(|c| (c, count_in(&tr.times, c.saturating_sub(window), c)))
            .find(|&(_, n)| n < threshold);
        match hit {
            Some((c, n)) => {
                fired.push((c, n));
                tr.since = c;
                if forget {
                    return fired;
                }
                // Nothing after `c`: every window from here to the watermark is empty and
                // would fire. Fire once more, at the last of them, rather than once per
                // window: a watermark that leaps years ahead costs two alerts, not a loop
                // over millions of windows.
                if tr.times.back().is_none_or(|&e| e <= c) {
                    let windows = wm.saturating_sub(1).saturating_sub(c) / window;
                    if windows >= 1 {
                        let last = c.saturating_add(windows.saturating_mul(window));
                        fired.push((last, 0));
                        tr.since = last;
                    }
                    break;
                }
            }
            None => break,
        }
    }
    tr.checked = wm;
    fired
}

impl RuleType for FlatlineRule {
    fn fields(&self) -> Option<Vec<String>> {
        Some(Vec::new())
    }

    fn observe(&mut self, key: &str, event: &Event, _now: DateTime<Utc>) -> Option<Match> {
        let since = micros(event.time);
        self.keys.touch(key, || Track::new(since)).record(event);
        None
    }

    fn advance(&mut self, watermark: DateTime<Utc>, out: &mut Vec<KeyedMatch>) {
        let wm = micros(watermark);
        if !self.grouped && self.keys.is_empty() {
            self.keys.touch(UNGROUPED_KEY, || Track::new(wm));
        }
        let (window, threshold, forget) = (self.window, self.threshold, self.forget_keys);
        let mut fired = Vec::new();
        let cleared = &mut self.cleared;
        self.keys.visit(|key, tr| {
            // Cleared: events again, as many in the last window as the threshold asks.
            if tr.firing && count_in(&tr.times, wm.saturating_sub(window), wm) >= threshold {
                tr.firing = false;
                cleared.push(key.to_string());
                return Visit::Changed;
            }
            if tr.since.saturating_add(window) >= wm {
                return Visit::Unchanged;
            }
            let hits = evaluate(tr, wm, window, threshold, forget);
            let any = !hits.is_empty();
            tr.firing |= any;
            for (c, n) in hits {
                fired.push((c, key.to_string(), n, tr.last_line.clone()));
            }
            if any && forget {
                return Visit::Remove;
            }
            let before = tr.times.len();
            // An event still yields the candidate instant it leaves at, until that is past.
            while tr
                .times
                .front()
                .is_some_and(|&e| e.saturating_add(window) < wm)
            {
                tr.times.pop_front();
            }
            if any || tr.times.len() != before {
                Visit::Changed
            } else {
                Visit::Unchanged
            }
        });
        fired.sort();
        for (c, key, n, sample) in fired {
            out.push(KeyedMatch {
                key,
                due: time_of(c),
                found: Match {
                    count: n,
                    first_seen: time_of(c.saturating_sub(window)),
                    last_seen: time_of(c),
                    sample,
                    detail: Some(format!("{n} in {} (fewer than {threshold})", human(window))),
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
        self.keys.restore(key, state)?;
        // Stored before `checked` was (no STATE_VERSION bump: the keys watched must stay).
        if self.keys.get(key).is_some_and(Track::checked_unknown) {
            if let Some(tr) = self.keys.get_mut(key) {
                tr.settle_unknown_checked(self.window);
            }
        }
        Ok(())
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

    fn rule(threshold: u64, grouped: bool, forget: bool) -> FlatlineRule {
        FlatlineRule::new(threshold, Duration::seconds(60), grouped, forget, 100)
    }

    fn fires(rule: &mut FlatlineRule, wm: i64) -> Vec<(String, u64, i64)> {
        let mut out = Vec::new();
        rule.advance(at(wm), &mut out);
        out.into_iter()
            .map(|m| {
                let secs = m.found.last_seen.timestamp() - at(0).timestamp();
                (m.key, m.found.count, secs)
            })
            .collect()
    }

    #[test]
    fn fires_when_the_count_drops_below_the_threshold_at_the_exact_instant() {
        let mut r = rule(2, true, false);
        for t in [0, 10, 20] {
            r.see("a", &event_at(t, &format!("beat {t}")));
        }
        assert!(
            fires(&mut r, 60).is_empty(),
            "not watched a full window before 60"
        );
        // At 60: (0, 60] holds 10 and 20 — exactly the threshold, no alert.
        assert!(fires(&mut r, 61).is_empty());
        // At 70 the event at 10 leaves: 1 < 2. Found even though the clock jumped to 100.
        assert_eq!(fires(&mut r, 100), vec![("a".into(), 1, 70)]);
        // Still quiet: it fires again one window after the last alert.
        // The watermark is exclusive: instant 130 is decided once the clock is past it.
        assert!(fires(&mut r, 130).is_empty());
        assert_eq!(fires(&mut r, 131), vec![("a".into(), 0, 130)]);
    }

    #[test]
    fn the_result_does_not_depend_on_how_often_the_clock_ticks() {
        let mut coarse = rule(1, true, false);
        let mut fine = rule(1, true, false);
        for r in [&mut coarse, &mut fine] {
            r.see("a", &event_at(0, "x"));
            r.see("a", &event_at(30, "y"));
        }
        let mut step_by_step = Vec::new();
        for wm in (0..=300).step_by(7) {
            step_by_step.extend(fires(&mut fine, wm));
        }
        step_by_step.extend(fires(&mut fine, 300));
        assert_eq!(
            step_by_step,
            vec![
                ("a".into(), 0, 90),
                ("a".into(), 0, 150),
                ("a".into(), 0, 210),
                ("a".into(), 0, 270)
            ]
        );
        // A clock that leaps several empty windows at once fires the first and the last of
        // them, not each one.
        assert_eq!(
            fires(&mut coarse, 300),
            vec![("a".into(), 0, 90), ("a".into(), 0, 270)]
        );
    }

    #[test]
    fn a_clock_leaping_centuries_ahead_costs_two_alerts_not_a_loop() {
        let mut r = rule(1, true, false);
        r.see("a", &event_at(0, "x"));
        let century = 100 * 365 * 86_400;
        let started = std::time::Instant::now();
        let got = fires(&mut r, century);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0], ("a".into(), 0, 60));
        assert_eq!(
            got[1],
            ("a".into(), 0, century - 60),
            "the last window before it"
        );
    }

    #[test]
    fn forgotten_keys_fire_once_and_ungrouped_rules_fire_without_any_event() {
        let mut r = rule(1, true, true);
        r.see("gone", &event_at(0, "last words"));
        assert_eq!(fires(&mut r, 1000), vec![("gone".into(), 0, 60)]);
        assert!(fires(&mut r, 5000).is_empty(), "forgotten after firing");
        assert_eq!(r.stats().keys, 0);

        let mut quiet = rule(1, false, false);
        assert!(
            fires(&mut quiet, 0).is_empty(),
            "watching starts at the first tick"
        );
        assert_eq!(fires(&mut quiet, 61), vec![(UNGROUPED_KEY.into(), 0, 60)]);
    }

    #[test]
    fn an_event_exactly_at_the_window_boundary_has_left() {
        let mut r = rule(1, true, false);
        r.see("a", &event_at(0, "x"));
        r.see("a", &event_at(60, "y"));
        // (60, 120] has nothing once t reaches 120: the event at 60 left at exactly 120.
        assert_eq!(fires(&mut r, 121), vec![("a".into(), 0, 120)]);
    }

    #[test]
    fn state_survives_a_restart_between_ticks() {
        let mut r = rule(2, true, false);
        r.see("a", &event_at(0, "x"));
        assert!(fires(&mut r, 30).is_empty());
        let mut changes = Vec::new();
        r.take_changes(&mut changes);
        let mut back = rule(2, true, false);
        for c in changes {
            back.restore(&c.key, &c.state.unwrap()).unwrap();
        }
        back.see("a", &event_at(40, "y"));
        assert_eq!(fires(&mut back, 100), vec![("a".into(), 1, 60)]);
    }

    #[test]
    fn clears_when_events_come_back_to_the_threshold() {
        let mut r = rule(2, true, false);
        for t in [0, 10, 20] {
            r.see("a", &event_at(t, "beat"));
        }
        assert_eq!(fires(&mut r, 100).len(), 1);
        let mut cleared = Vec::new();
        r.see("a", &event_at(110, "beat"));
        fires(&mut r, 115);
        r.settle(at(115), &mut cleared);
        assert!(cleared.is_empty(), "one event is below the threshold of 2");
        r.see("a", &event_at(120, "beat"));
        fires(&mut r, 125);
        r.settle(at(125), &mut cleared);
        assert_eq!(cleared, ["a"]);
        fires(&mut r, 126);
        r.settle(at(126), &mut cleared);
        assert_eq!(cleared, ["a"], "once");
    }

    #[test]
    fn a_restart_does_not_evaluate_windows_whose_events_were_dropped() {
        let mut r = rule(1, true, false);
        for t in (0..=1000).step_by(10) {
            r.see("a", &event_at(t, "beat"));
        }
        assert!(fires(&mut r, 970).is_empty());
        let mut changes = Vec::new();
        r.take_changes(&mut changes);
        let mut back = rule(1, true, false);
        for c in &changes {
            back.restore(&c.key, c.state.as_deref().unwrap()).unwrap();
        }
        assert!(fires(&mut back, 990).is_empty(), "beats all along");
        // The last beat (1000) leaves at 1060: that still fires.
        assert_eq!(fires(&mut back, 1100), vec![("a".into(), 0, 1060)]);
        // A state stored before `checked` was stored reads back as safely.
        let old = regex::Regex::new(r#","checked":-?\d+"#)
            .unwrap()
            .replace(changes[0].state.as_deref().unwrap(), "")
            .into_owned();
        assert!(!old.contains("checked"), "{old}");
        let mut legacy = rule(1, true, false);
        legacy.restore("a", &old).unwrap();
        assert!(fires(&mut legacy, 990).is_empty());
        assert_eq!(fires(&mut legacy, 1100), vec![("a".into(), 0, 1060)]);
    }
}
