//! Tests of `type: metric`: crossings as events arrive, and on the clock for `below`.

use super::*;
use crate::rule::json_at;
use crate::rule::See;

fn rule(kind: MetricKind, above: Option<f64>, below: Option<f64>) -> MetricRule {
    MetricRule::new(Metric {
        field: "ms".into(),
        kind,
        window: Duration::seconds(60),
        above,
        below,
        grouped: true,
        cap: 10,
    })
}

fn ms(r: &mut MetricRule, t: i64, ms: &str) -> Option<String> {
    r.see("k", &json_at(t, &format!(r#"{{"ms":{ms}}}"#)))
        .map(|m| m.detail.unwrap())
}

#[test]
fn avg_fires_when_crossing_above_and_rearms_below() {
    let mut r = rule(MetricKind::Avg, Some(100.0), None);
    assert_eq!(
        ms(&mut r, 0, "100"),
        None,
        "exactly at the limit is not above"
    );
    assert_eq!(
        ms(&mut r, 1, "104").as_deref(),
        Some("avg(ms) over 1m = 102 (above 100)")
    );
    assert_eq!(ms(&mut r, 2, "400"), None, "still above: no second alert");
    // At 70 the window [10, 70] holds only this value.
    assert_eq!(ms(&mut r, 70, "50"), None);
    assert!(ms(&mut r, 71, "300").is_some(), "came back, crossed again");
    assert_eq!(ms(&mut r, 72, r#""n/a""#), None, "not a number: ignored");
}

#[test]
fn coming_back_within_the_limits_clears_the_key_once() {
    let mut r = rule(MetricKind::Min, Some(1000.0), None);
    let mut cleared = Vec::new();
    assert!(ms(&mut r, 0, "1200").is_some());
    assert_eq!(ms(&mut r, 1, "1500"), None);
    r.settle(json_at(1, "{}").time, &mut cleared);
    assert!(cleared.is_empty(), "still above");
    assert_eq!(ms(&mut r, 2, "0"), None);
    assert_eq!(ms(&mut r, 3, "0"), None);
    r.settle(json_at(3, "{}").time, &mut cleared);
    assert_eq!(cleared, ["k"], "back within the limit, once");
    r.settle(json_at(4, "{}").time, &mut cleared);
    assert_eq!(cleared, ["k"]);
    // Cleared and over the limit again before `settle`: nothing to resolve.
    assert!(ms(&mut r, 70, "2000").is_some());
    assert_eq!(ms(&mut r, 71, "5"), None);
    assert!(ms(&mut r, 200, "3000").is_some());
    r.settle(json_at(200, "{}").time, &mut cleared);
    assert_eq!(cleared, ["k"]);
    // A key that never fired has nothing to resolve.
    let mut quiet = rule(MetricKind::Max, Some(10.0), None);
    assert_eq!(ms(&mut quiet, 0, "1"), None);
    quiet.settle(json_at(0, "{}").time, &mut cleared);
    assert_eq!(cleared, ["k"]);
}

#[test]
fn percentiles_use_nearest_rank_and_min_fires_below() {
    let mut r = rule(MetricKind::Percentile(90), Some(900.0), None);
    for (t, v) in (0..9).map(|i| (i, "100")) {
        assert_eq!(ms(&mut r, t, v), None);
    }
    // 10 values: p90 is the 9th smallest = 100; the 10th (1000) does not move it.
    assert_eq!(ms(&mut r, 9, "1000"), None);
    assert!(ms(&mut r, 10, "1000")
        .unwrap()
        .starts_with("p90(ms) over 1m = 1000"));
    let mut low = rule(MetricKind::Min, None, Some(5.0));
    assert_eq!(ms(&mut low, 0, r#""7""#), None, "numeric strings count");
    assert!(ms(&mut low, 1, "4.5").unwrap().contains("= 4.5 (below 5)"));
}

/// Seconds past the test epoch, to the microsecond.
fn secs(t: DateTime<Utc>) -> f64 {
    (t - crate::rule::at(0)).num_microseconds().unwrap() as f64 / 1e6
}

/// (instant, count, first seen, detail) of what fired on the clock up to `wm` (or, with
/// `None`, what the last event found due before it).
fn due(r: &mut MetricRule, wm: Option<i64>) -> Vec<(f64, u64, f64, String)> {
    let mut out = Vec::new();
    match wm {
        Some(wm) => r.advance(crate::rule::at(wm), &mut out),
        None => r.take_found(&mut out),
    }
    out.into_iter()
        .map(|m| {
            assert_eq!(m.due, m.found.last_seen);
            (
                secs(m.due),
                m.found.count,
                secs(m.found.first_seen),
                m.found.detail.unwrap(),
            )
        })
        .collect()
}

fn cleared(r: &mut MetricRule) -> Vec<String> {
    let mut out = Vec::new();
    r.settle(crate::rule::at(0), &mut out);
    out
}

#[test]
fn a_sum_below_fires_on_the_clock_when_events_stop() {
    let mut r = rule(MetricKind::Sum, None, Some(10.0));
    assert!(r.fires_on_clock());
    assert_eq!(ms(&mut r, 0, "6"), None);
    assert_eq!(ms(&mut r, 10, "6"), None);
    assert!(
        due(&mut r, Some(60)).is_empty(),
        "12 until the first leaves"
    );
    // The 6 at 0 s leaves one microsecond after 60 s: 6 left, below 10.
    assert_eq!(
        due(&mut r, Some(100)),
        vec![(60.000001, 1, 10.0, "sum(ms) over 1m = 6 (below 10)".into())]
    );
    // The window empties at 70 s: a sum of 0, still below — the same crossing.
    assert!(due(&mut r, Some(1000)).is_empty());
    assert!(cleared(&mut r).is_empty());
    // Events back above the limit: the alert resolves, and the rule re-arms.
    assert_eq!(ms(&mut r, 1001, "20"), None);
    assert_eq!(cleared(&mut r), ["k"]);
    assert_eq!(
        due(&mut r, Some(2000)),
        vec![(
            1061.000001,
            0,
            1001.000001,
            "sum(ms) over 1m = 0 (below 10)".into()
        )]
    );
}

#[test]
fn a_sum_is_compared_with_below_once_watched_a_whole_window() {
    let mut r = rule(MetricKind::Sum, None, Some(10.0));
    assert_eq!(ms(&mut r, 0, "3"), None, "a partial window sums low");
    assert_eq!(ms(&mut r, 30, "3"), None);
    // At 60 s the key has been watched a whole window: [0, 60] sums to 6.
    assert_eq!(
        due(&mut r, Some(61)),
        vec![(60.0, 2, 0.0, "sum(ms) over 1m = 6 (below 10)".into())]
    );
    // Other aggregates are not biased by a partial window.
    let mut avg = rule(MetricKind::Avg, None, Some(10.0));
    assert_eq!(
        ms(&mut avg, 0, "3").as_deref(),
        Some("avg(ms) over 1m = 3 (below 10)")
    );
}

#[test]
fn an_empty_window_has_no_average_and_neither_fires_nor_clears() {
    let mut r = rule(MetricKind::Avg, None, Some(100.0));
    assert_eq!(ms(&mut r, 0, "500"), None);
    assert_eq!(ms(&mut r, 30, "20"), None, "avg 260");
    // The 500 leaves: avg 20, below.
    assert_eq!(
        due(&mut r, Some(80)),
        vec![(
            60.000001,
            1,
            30.0,
            "avg(ms) over 1m = 20 (below 100)".into()
        )]
    );
    // The 20 leaves at 90 s: no average at all. Nothing fires, nothing clears.
    assert!(due(&mut r, Some(5000)).is_empty());
    assert!(cleared(&mut r).is_empty());
    // A value below again is the same crossing; one within the limits clears it.
    assert_eq!(ms(&mut r, 5001, "30"), None);
    assert_eq!(ms(&mut r, 5002, "400"), None);
    assert_eq!(cleared(&mut r), ["k"]);
    for kind in [MetricKind::Min, MetricKind::Max, MetricKind::Percentile(95)] {
        let mut r = rule(kind, None, Some(100.0));
        assert_eq!(ms(&mut r, 0, "500"), None);
        assert!(due(&mut r, Some(5000)).is_empty(), "{kind}: no value");
    }
}

#[test]
fn an_event_finds_the_instants_before_it_and_clears_after() {
    let mut r = rule(MetricKind::Max, None, Some(1.0));
    // Polls of a consumer count: 2 until 165 s, then 0.
    for t in (0..=165).step_by(15) {
        assert_eq!(ms(&mut r, t, "2"), None);
    }
    for t in (180..=225).step_by(15) {
        assert_eq!(ms(&mut r, t, "0"), None);
    }
    assert!(due(&mut r, None).is_empty());
    // The 240 s poll arrives before the clock got past 225 s: the 2 at 165 s left at
    // 225 s and 1 µs, which it finds due before itself.
    assert_eq!(ms(&mut r, 240, "0"), None);
    assert_eq!(
        due(&mut r, None),
        vec![(225.000001, 4, 180.0, "max(ms) over 1m = 0 (below 1)".into())]
    );
    assert!(due(&mut r, Some(240)).is_empty(), "decided once");
    assert_eq!(ms(&mut r, 255, "1"), None);
    assert_eq!(cleared(&mut r), ["k"]);
}

#[test]
fn above_only_rules_are_checked_as_events_arrive() {
    let mut r = rule(MetricKind::Min, Some(100.0), None);
    assert!(!r.fires_on_clock());
    assert_eq!(ms(&mut r, 0, "50"), None);
    assert_eq!(ms(&mut r, 10, "200"), None);
    assert!(due(&mut r, Some(1000)).is_empty());
    assert!(due(&mut r, None).is_empty());
}

#[test]
fn the_clock_fires_at_the_instant_however_it_ticks_and_across_a_restart() {
    let feed = |r: &mut MetricRule| {
        for (t, v) in [(0, "5"), (20, "5"), (40, "5")] {
            ms(r, t, v);
        }
    };
    let mut coarse = rule(MetricKind::Sum, None, Some(12.0));
    feed(&mut coarse);
    let at_once = due(&mut coarse, Some(500));
    assert_eq!(
        at_once,
        vec![(60.000001, 2, 20.0, "sum(ms) over 1m = 10 (below 12)".into())]
    );
    // Ticking every 3 s, and restarting after each tick from what was stored.
    let mut store = std::collections::HashMap::new();
    let mut fine = rule(MetricKind::Sum, None, Some(12.0));
    feed(&mut fine);
    let mut step_by_step = Vec::new();
    for wm in (0..=500).step_by(3) {
        step_by_step.extend(due(&mut fine, Some(wm)));
        let mut changes = Vec::new();
        fine.take_changes(&mut changes);
        for c in changes {
            match c.state {
                Some(state) => store.insert(c.key, state),
                None => store.remove(&c.key),
            };
        }
        fine = rule(MetricKind::Sum, None, Some(12.0));
        for (key, state) in &store {
            fine.restore(key, state).unwrap();
        }
    }
    assert_eq!(step_by_step, at_once);
}

#[test]
fn an_ungrouped_sum_below_is_watched_from_the_first_tick() {
    let mut r = MetricRule::new(Metric {
        field: "ms".into(),
        kind: MetricKind::Sum,
        window: Duration::seconds(60),
        above: None,
        below: Some(1.0),
        grouped: false,
        cap: 10,
    });
    assert!(due(&mut r, Some(0)).is_empty());
    assert_eq!(
        due(&mut r, Some(61)),
        vec![(60.0, 0, 0.0, "sum(ms) over 1m = 0 (below 1)".into())]
    );
}
