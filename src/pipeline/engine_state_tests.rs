//! The engine's state across restarts and reloads, its clock-driven firing and its
//! handling of late events — driven with a `ManualClock` and a `MemoryStore`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::Engine;
use crate::clock::ManualClock;
use crate::event::{Event, Origin};
use crate::rule::{build_for_test, AbsenceParams, FrequencyParams, Rule, RuleConfig, RuleParams};
use crate::store::{MemoryStore, RaisedAlert, StateStore};
use crate::types::HumanDuration;

const T0: i64 = 1_780_000_000;

fn event(secs: i64, json: &str) -> Event {
    Event {
        time: Utc.timestamp_opt(T0 + secs, 0).unwrap(),
        raw: json.to_string(),
        fields: Some(serde_json::from_str(json).unwrap()),
        origin: Origin {
            source: "orders".into(),
            path: "x.log".into(),
            fingerprint: "fp".into(),
            offset: 0,
        },
        time_guessed: false,
        fields_for: None,
    }
}

fn secs(s: u64) -> HumanDuration {
    HumanDuration(Duration::from_secs(s))
}

fn frequency(name: &str, threshold: u64) -> RuleConfig {
    let params = RuleParams::Frequency(FrequencyParams {
        threshold,
        window: secs(600),
    });
    let mut c = RuleConfig::new(name, "orders", "ERROR", params);
    c.group_by = vec!["sku".into()];
    c.realert = secs(0);
    c.notify = vec!["ops".into()];
    c
}

fn absence() -> RuleConfig {
    let params = RuleParams::Absence(AbsenceParams {
        start: "payment_succeeded".into(),
        expect: "inventory_deducted".into(),
        within: secs(300),
    });
    let query = "payment_succeeded OR inventory_deducted";
    let mut c = RuleConfig::new("ghost", "orders", query, params);
    c.allowed_lateness = Some(secs(0));
    c.group_by = vec!["order".into()];
    c.realert = secs(0);
    c.notify = vec!["ops".into()];
    c
}

fn compile(rules: &[RuleConfig]) -> Vec<Rule> {
    rules.iter().map(build_for_test).collect()
}

fn engine(rules: &[RuleConfig], clock: &Arc<ManualClock>) -> Engine {
    Engine::new(compile(rules), Vec::new(), None, clock.clone())
}

fn wall(secs: i64) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Utc.timestamp_opt(T0 + secs, 0).unwrap()))
}

/// Feeds events, advances, commits; returns (rule, key) of every alert raised.
fn step(engine: &mut Engine, store: &mut MemoryStore, events: &[Event]) -> Vec<(String, String)> {
    let mut raised: Vec<RaisedAlert> = Vec::new();
    for e in events {
        engine.process(e, &mut raised);
    }
    engine.advance(&mut raised);
    let commit = engine.commit(Utc::now(), Vec::new(), raised.clone());
    store.commit(&commit).unwrap();
    raised
        .into_iter()
        .map(|r| (r.alert.key_text(), r.alert.rule))
        .map(|(k, r)| (r, k))
        .collect()
}

fn err(secs: i64, sku: &str) -> Event {
    event(secs, &format!(r#"{{"message":"ERROR x","sku":"{sku}"}}"#))
}

#[test]
fn a_restart_mid_window_neither_loses_nor_double_counts() {
    let clock = wall(0);
    let mut store = MemoryStore::new();
    let mut first = engine(&[frequency("r", 3)], &clock);
    first.restore(&store).unwrap();
    assert!(step(&mut first, &mut store, &[err(0, "A"), err(1, "A")]).is_empty());
    drop(first); // the crash

    let mut second = engine(&[frequency("r", 3)], &clock);
    second.restore(&store).unwrap();
    let fired = step(&mut second, &mut store, &[err(2, "A")]);
    assert_eq!(fired, vec![("r".to_string(), "sku=A".to_string())]);
    // The window restarted after firing, and that too was stored.
    let mut third = engine(&[frequency("r", 3)], &clock);
    third.restore(&store).unwrap();
    assert!(step(&mut third, &mut store, &[err(3, "A"), err(4, "A")]).is_empty());
}

#[test]
fn a_rule_whose_counting_changed_while_down_starts_empty() {
    let clock = wall(0);
    let mut store = MemoryStore::new();
    let mut first = engine(&[frequency("r", 3)], &clock);
    first.restore(&store).unwrap();
    step(&mut first, &mut store, &[err(0, "A"), err(1, "A")]);

    let mut edited = engine(&[frequency("r", 2)], &clock);
    edited.restore(&store).unwrap();
    assert!(
        step(&mut edited, &mut store, &[err(2, "A")]).is_empty(),
        "old window dropped"
    );
    assert!(store
        .rule_states("r")
        .unwrap()
        .iter()
        .all(|(_, s)| s.contains("ERROR")));
    assert_eq!(step(&mut edited, &mut store, &[err(3, "A")]).len(), 1);
}

#[test]
fn a_reload_keeps_unchanged_rules_and_resets_edited_ones() {
    let clock = wall(0);
    let mut store = MemoryStore::new();
    let mut e = engine(&[frequency("a", 3), frequency("b", 3)], &clock);
    e.restore(&store).unwrap();
    step(&mut e, &mut store, &[err(0, "A"), err(1, "A")]);
    // b only changes where it notifies: same state identity, window kept. a's threshold changes.
    let mut b = frequency("b", 3);
    b.notify = vec!["pager".into()];
    e.replace_rules(compile(&[frequency("a", 4), b]));
    let fired = step(&mut e, &mut store, &[err(2, "A")]);
    assert_eq!(fired, vec![("b".to_string(), "sku=A".to_string())]);
    assert_eq!(store.rule_state_ids().unwrap().len(), 2);
    // Removing a rule drops its stored state.
    e.replace_rules(compile(&[frequency("b", 3)]));
    step(&mut e, &mut store, &[]);
    assert!(store.rule_states("a").unwrap().is_empty());
    assert_eq!(store.rule_state_ids().unwrap().len(), 1);
}

#[test]
fn absence_fires_on_a_quiet_system_as_wall_time_passes() {
    let clock = wall(0);
    let mut store = MemoryStore::new();
    let mut e = engine(&[absence()], &clock);
    e.restore(&store).unwrap();
    let paid = event(0, r#"{"message":"payment_succeeded","order":"o1"}"#);
    assert!(step(&mut e, &mut store, &[paid]).is_empty());
    // No more events. The clock idles for the grace, then follows wall time.
    clock.advance(chrono::Duration::seconds(300));
    assert!(
        step(&mut e, &mut store, &[]).is_empty(),
        "300s of wall - 2s grace < deadline"
    );
    clock.advance(chrono::Duration::seconds(3));
    let fired = step(&mut e, &mut store, &[]);
    assert_eq!(fired, vec![("ghost".to_string(), "order=o1".to_string())]);
}

#[test]
fn clock_fired_rules_drop_events_later_than_allowed_and_count_them() {
    let clock = wall(0);
    let mut store = MemoryStore::new();
    let mut e = engine(&[absence()], &clock);
    step(
        &mut e,
        &mut store,
        &[event(
            100,
            r#"{"message":"payment_succeeded","order":"o1"}"#,
        )],
    );
    // Older than the watermark (100 - 0s lateness): the past is decided, this is dropped.
    let late = event(50, r#"{"message":"payment_succeeded","order":"o2"}"#);
    step(&mut e, &mut store, &[late]);
    assert_eq!(e.reports()[0].late, 1);
    // Frequency rules are not clock-fired: out-of-order events still count.
    let mut f = engine(&[frequency("r", 2)], &clock);
    step(&mut f, &mut store, &[err(100, "A")]);
    assert_eq!(step(&mut f, &mut store, &[err(50, "A")]).len(), 1);
    assert_eq!(f.reports()[0].late, 0);
}

#[test]
fn state_that_does_not_read_back_resets_that_rule_only() {
    let clock = wall(0);
    let mut store = MemoryStore::new();
    let mut first = engine(&[frequency("a", 3), frequency("b", 3)], &clock);
    first.restore(&store).unwrap();
    step(&mut first, &mut store, &[err(0, "A"), err(1, "A")]);
    // An older Klaxon stored `a`'s window in a shape this one cannot read.
    let key = store.rule_states("a").unwrap()[0].0.clone();
    let garbage = crate::store::RuleStateChange {
        rule: "a".into(),
        key,
        state: Some("{\"not\":\"a window\"}".into()),
    };
    let commit = crate::store::Commit {
        rule_state: vec![garbage],
        ..Default::default()
    };
    store.commit(&commit).unwrap();

    let mut second = engine(&[frequency("a", 3), frequency("b", 3)], &clock);
    second
        .restore(&store)
        .expect("unreadable state never aborts startup");
    // `a` starts empty (its two stored events are gone); `b` kept its window.
    let fired = step(&mut second, &mut store, &[err(2, "A")]);
    assert_eq!(fired, vec![("b".to_string(), "sku=A".to_string())]);
    assert_eq!(
        store.rule_states("a").unwrap().len(),
        1,
        "only the new event"
    );
    assert!(!store.rule_states("a").unwrap()[0].1.contains("not"));
}

#[test]
fn sources_decode_only_the_fields_their_rules_read() {
    let clock = wall(0);
    let mut freq = frequency("burst", 3);
    freq.query = "level:error AND http.status:>=500".into();
    let e = engine(&[freq.clone(), absence()], &clock);
    let fields = e
        .prefilter("orders")
        .fields()
        .expect("every rule says what it reads");
    // The query's fields (a dotted path keeps its root too), group_by, and the absence
    // rule's start/expect queries (on the default field) and its key.
    assert_eq!(
        fields.keys(),
        ["http", "http.status", "level", "message", "order", "sku"]
    );
    // A rule type that may read any field (a mismatch) makes its source decode everything.
    let mut mismatch = freq;
    mismatch.name = "split".into();
    let side = |field: &str| crate::rule::MismatchSide {
        source: None,
        query: None,
        field: field.into(),
    };
    mismatch.params = RuleParams::Mismatch(crate::rule::MismatchParams {
        left: side("state"),
        right: side("status"),
        window: secs(60),
    });
    let e = engine(&[frequency("burst", 3), mismatch], &clock);
    assert!(e.prefilter("orders").fields().is_none());
}

#[test]
fn an_event_decoded_for_fewer_fields_is_decoded_whole_for_the_rules_now_running() {
    // Read before a reload: decoded for rules reading `message` only; the rule running now
    // groups by `sku`.
    let clock = wall(0);
    let mut e = engine(&[frequency("burst", 1)], &clock);
    let mut store = MemoryStore::new();
    let mut ev = event(1, r#"{"message":"ERROR boom","sku":"A-1"}"#);
    let narrow = crate::event::FieldSelection::of(["message"]);
    ev.fields = Some(serde_json::from_str(r#"{"message":"ERROR boom"}"#).unwrap());
    ev.fields_for = Some(narrow.id());
    let fired = step(&mut e, &mut store, &[ev]);
    assert_eq!(fired.len(), 1);
    assert!(
        fired[0].1.contains("A-1"),
        "keyed by the sku from the raw line: {fired:?}"
    );
}

fn shop_event(secs: i64, shop: &str, amount: i64) -> Event {
    event(
        secs,
        &format!(r#"{{"message":"paid","shop":"{shop}","amount":{amount}}}"#),
    )
}

#[test]
fn each_new_term_is_an_alert_of_its_own_within_realert() {
    let params = RuleParams::NewTerm(crate::rule::NewTermParams {
        field: Some("sku".into()),
        fields: Vec::new(),
        learning: Some(secs(60)),
    });
    let mut c = RuleConfig::new("skus", "orders", "sold", params);
    c.group_by = vec!["shop".into()];
    c.realert = secs(600);
    c.notify = vec!["ops".into()];
    let clock = wall(0);
    let mut store = MemoryStore::new();
    let mut e = engine(&[c], &clock);
    let sold = |t: i64, sku: &str| {
        event(
            t,
            &format!(r#"{{"message":"sold","shop":"1","sku":"{sku}"}}"#),
        )
    };
    assert!(
        step(&mut e, &mut store, &[sold(0, "A")]).is_empty(),
        "learning"
    );
    let fired = step(
        &mut e,
        &mut store,
        &[sold(70, "B"), sold(80, "C"), sold(90, "B"), sold(95, "A")],
    );
    // C is new 10 s after B, well within realert: still told. B again is not new.
    assert_eq!(
        fired,
        vec![
            ("skus".to_string(), "shop=1, sku=B".to_string()),
            ("skus".to_string(), "shop=1, sku=C".to_string())
        ]
    );
    // Realert holds each term back on its own.
    let realert = store.realert_states().unwrap();
    let mut keys: Vec<&str> = realert.iter().map(|r| r.key.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [r#"{"shop":"1","sku":"B"}"#, r#"{"shop":"1","sku":"C"}"#]
    );
}

#[test]
fn a_metric_below_fires_for_a_silent_key_once_across_restarts() {
    let params = RuleParams::Metric(crate::rule::MetricParams {
        field: "amount".into(),
        window: secs(60),
        metric: crate::rule::MetricKind::Sum,
        above: None,
        below: Some(10.0),
    });
    let mut c = RuleConfig::new("takings", "orders", "paid", params);
    c.group_by = vec!["shop".into()];
    c.allowed_lateness = Some(secs(0));
    c.realert = secs(0);
    c.notify = vec!["ops".into()];
    let clock = wall(0);
    let mut store = MemoryStore::new();
    let start = |store: &MemoryStore| {
        let mut e = engine(std::slice::from_ref(&c), &clock);
        e.restore(store).unwrap();
        e
    };
    // Shop 1 sells twice and falls silent; shop 2 keeps selling (and the clock going).
    let busy = |from: i64, to: i64| -> Vec<Event> {
        (from..=to)
            .step_by(10)
            .map(|t| shop_event(t, "2", 20))
            .collect()
    };
    let mut e = start(&store);
    let mut first = vec![shop_event(0, "1", 6), shop_event(10, "1", 6)];
    first.extend(busy(0, 50));
    assert!(step(&mut e, &mut store, &first).is_empty());
    drop(e);
    // After a restart the clock passes 60 s and a microsecond: shop 1's first sale left.
    let mut e = start(&store);
    assert_eq!(
        step(&mut e, &mut store, &busy(60, 100)),
        vec![("takings".to_string(), "shop=1".to_string())]
    );
    drop(e);
    // Still silent, still below: the same crossing, not told again after another restart.
    let mut e = start(&store);
    assert!(step(&mut e, &mut store, &busy(110, 300)).is_empty());
    assert_eq!(e.reports()[0].keys, 2);
}
