//! Tests of `type: cardinality`: crossings as events arrive, and on the clock for
//! `min_cardinality`.

use super::*;
use crate::rule::See;
use crate::rule::{at, json_at};

fn rule(max: Option<u64>, min: Option<u64>) -> CardinalityRule {
    CardinalityRule::new(Cardinality {
        field: "card".into(),
        window: Duration::seconds(60),
        max,
        min,
        grouped: true,
        cap: 10,
    })
}

fn card(r: &mut CardinalityRule, t: i64, card: &str) -> Option<(u64, String)> {
    r.see("u1", &json_at(t, &format!(r#"{{"card":"{card}"}}"#)))
        .map(|m| (m.count, m.detail.unwrap()))
}

/// Seconds past the test epoch, to the microsecond.
fn secs(t: DateTime<Utc>) -> f64 {
    (t - at(0)).num_microseconds().unwrap() as f64 / 1e6
}

/// (instant, count, first seen, detail) of what fired on the clock up to `wm`, and of
/// what an event found due before it.
fn due(r: &mut CardinalityRule, wm: Option<i64>) -> Vec<(f64, u64, f64, String)> {
    let mut out = Vec::new();
    match wm {
        Some(wm) => r.advance(at(wm), &mut out),
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

#[test]
fn fires_once_when_distinct_values_exceed_the_max() {
    let mut r = rule(Some(2), None);
    assert!(!r.fires_on_clock(), "a maximum is checked as events arrive");
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
fn first_seen_is_the_first_event_of_the_values_counted() {
    let mut r = rule(Some(2), None);
    let seen = |r: &mut CardinalityRule, t: i64, card: &str| {
        r.see("u1", &json_at(t, &format!(r#"{{"card":"{card}"}}"#)))
            .map(|m| (secs(m.first_seen), secs(m.last_seen)))
    };
    assert_eq!(seen(&mut r, 10, "a"), None);
    assert_eq!(seen(&mut r, 20, "b"), None);
    assert_eq!(seen(&mut r, 30, "a"), None);
    // Not the window's start (-10): the first event of a, b and c.
    assert_eq!(seen(&mut r, 50, "c"), Some((10.0, 50.0)));
    // A value seen again after it left the window counts from its return.
    let mut r = rule(Some(1), None);
    assert_eq!(seen(&mut r, 0, "a"), None);
    assert_eq!(seen(&mut r, 100, "a"), None);
    assert_eq!(seen(&mut r, 110, "b"), Some((100.0, 110.0)));
}

#[test]
fn an_event_exactly_a_window_old_still_counts() {
    let mut r = rule(Some(1), None);
    assert_eq!(card(&mut r, 0, "a"), None);
    assert_eq!(card(&mut r, 60, "b").map(|m| m.0), Some(2));
}

#[test]
fn fires_below_the_min_only_after_a_full_window() {
    let mut r = rule(None, Some(2));
    assert_eq!(card(&mut r, 0, "a"), None, "not watched a full window yet");
    assert_eq!(card(&mut r, 30, "b"), None);
    // At 70 "a" (0) has left [10, 70]: only "b" is left, 1 < 2. It left at 60 s and
    // 1 µs, which the event finds due before it.
    assert_eq!(card(&mut r, 70, "b"), None);
    assert_eq!(
        due(&mut r, None),
        vec![(
            60.000001,
            1,
            30.0,
            "1 distinct card in 1m (fewer than 2)".into()
        )]
    );
}

#[test]
fn a_key_that_falls_silent_fires_on_the_clock_when_its_count_drops() {
    let mut r = rule(None, Some(2));
    assert!(r.fires_on_clock());
    card(&mut r, 0, "a");
    card(&mut r, 30, "b");
    // At 60 a is exactly a window old and still counts; the watermark is exclusive.
    assert!(due(&mut r, Some(60)).is_empty());
    assert_eq!(
        due(&mut r, Some(61)),
        vec![(
            60.000001,
            1,
            30.0,
            "1 distinct card in 1m (fewer than 2)".into()
        )]
    );
    // b leaving too does not fire again: still below, the same crossing.
    assert!(due(&mut r, Some(1000)).is_empty());
    // Back to two values: re-armed; silent again: fires again when a value leaves.
    assert_eq!(card(&mut r, 1100, "c"), None);
    assert_eq!(card(&mut r, 1101, "d"), None);
    assert!(due(&mut r, None).is_empty());
    assert_eq!(
        due(&mut r, Some(2000)),
        vec![(
            1160.000001,
            1,
            1101.0,
            "1 distinct card in 1m (fewer than 2)".into()
        )]
    );
}

#[test]
fn the_clock_fires_at_the_instant_however_it_ticks() {
    let feed = |r: &mut CardinalityRule| {
        card(r, 0, "a");
        card(r, 30, "b");
    };
    let mut coarse = rule(None, Some(2));
    feed(&mut coarse);
    let mut fine = rule(None, Some(2));
    feed(&mut fine);
    let mut step_by_step = Vec::new();
    for wm in (0..=200).step_by(7) {
        step_by_step.extend(due(&mut fine, Some(wm)));
    }
    let at_once = due(&mut coarse, Some(200));
    assert_eq!(step_by_step, at_once);
    assert_eq!(
        at_once,
        vec![(
            60.000001,
            1,
            30.0,
            "1 distinct card in 1m (fewer than 2)".into()
        )]
    );
}

#[test]
fn a_key_seen_once_fires_when_watched_a_whole_window() {
    let mut r = rule(None, Some(2));
    card(&mut r, 0, "a");
    // At 60 it has been watched a whole window and holds one value.
    assert_eq!(
        due(&mut r, Some(100)),
        vec![(60.0, 1, 0.0, "1 distinct card in 1m (fewer than 2)".into())]
    );
}

#[test]
fn an_ungrouped_rule_is_watched_from_its_first_tick() {
    let mut r = CardinalityRule::new(Cardinality {
        field: "card".into(),
        window: Duration::seconds(60),
        max: None,
        min: Some(1),
        grouped: false,
        cap: 10,
    });
    let mut out = Vec::new();
    r.advance(at(0), &mut out);
    r.advance(at(61), &mut out);
    let got: Vec<(String, f64, u64)> = out
        .iter()
        .map(|m| (m.key.clone(), secs(m.due), m.found.count))
        .collect();
    assert_eq!(got, vec![(UNGROUPED_KEY.to_string(), 60.0, 0)]);
    assert_eq!(
        out[0].found.detail.as_deref(),
        Some("0 distinct card in 1m (fewer than 1)")
    );
}

#[test]
fn both_limits_on_the_clock_fire_for_each_crossing() {
    let mut r = rule(Some(2), Some(2));
    card(&mut r, 0, "a");
    card(&mut r, 1, "b");
    assert_eq!(card(&mut r, 2, "c").map(|m| m.0), Some(3));
    // All three leave within two seconds: from more than 2 straight to fewer than 2
    // (the count is exactly 2 for one second between: re-armed there).
    assert_eq!(
        due(&mut r, Some(200))
            .into_iter()
            .map(|(t, n, _, _)| (t, n))
            .collect::<Vec<_>>(),
        vec![(61.000001, 1)]
    );
}

#[test]
fn state_survives_a_restart_without_firing_twice() {
    let mut r = rule(None, Some(2));
    card(&mut r, 0, "a");
    card(&mut r, 30, "b");
    assert_eq!(due(&mut r, Some(61)).len(), 1);
    let mut changes = Vec::new();
    r.take_changes(&mut changes);
    let mut back = rule(None, Some(2));
    for c in changes {
        back.restore(&c.key, &c.state.unwrap()).unwrap();
    }
    assert!(
        due(&mut back, Some(500)).is_empty(),
        "fired before the restart"
    );
    // And a key restored mid-window still fires when its count drops.
    let mut r = rule(None, Some(2));
    card(&mut r, 0, "a");
    card(&mut r, 30, "b");
    assert!(due(&mut r, Some(45)).is_empty());
    let mut changes = Vec::new();
    r.take_changes(&mut changes);
    let mut back = rule(None, Some(2));
    for c in changes {
        back.restore(&c.key, &c.state.unwrap()).unwrap();
    }
    assert_eq!(due(&mut back, Some(500)).len(), 1);
}

#[test]
fn large_limits_use_sketches() {
    let mut r = CardinalityRule::new(Cardinality {
        field: "card".into(),
        window: Duration::seconds(600),
        max: Some(12_000),
        min: None,
        grouped: true,
        cap: 10,
    });
    let mut first = None;
    for i in 0..15_000 {
        if let Some(m) = card(&mut r, i / 100, &format!("c{i}")) {
            first.get_or_insert(m.0);
        }
    }
    let n = first.expect("crossed 12,000") as f64;
    assert!((n - 12_000.0).abs() < 12_000.0 * 0.05, "{n}");
}

#[test]
fn sketches_fire_below_the_min_as_buckets_leave() {
    let mut r = CardinalityRule::new(Cardinality {
        field: "card".into(),
        window: Duration::seconds(160),
        max: None,
        min: Some(15_000),
        grouped: true,
        cap: 10,
    });
    // 20,000 values over the first 100 s (buckets of 10 s), then silence.
    for i in 0..20_000 {
        assert_eq!(card(&mut r, i / 200, &format!("c{i}")), None);
    }
    let got = due(&mut r, Some(1000));
    assert_eq!(got.len(), 1, "{got:?}");
    // The first two buckets (4,000 values) have left by 180 s: about 16,000 remain;
    // the third leaves at 190 s.
    let (t, n, first, _) = got[0].clone();
    assert_eq!(t, 190.0);
    assert!((n as f64 - 14_000.0).abs() < 14_000.0 * 0.05, "{n}");
    assert_eq!(first, 30.0, "the first event of the first bucket counted");
}
