//! A restart test per stateful rule type: feed half the log to `klaxon run`, kill it with
//! SIGKILL, restart it, feed the rest — the alerts recorded in the real SQLite state must
//! be exactly those of one uninterrupted replay of the whole log (`klaxon test`), and
//! exactly the ones each scenario expects.

use std::path::{Path, PathBuf};

use chrono::Utc;
use serde_json::{json, Value};

use crate::support::binary::{replay, write_config, Klaxon};
use crate::support::files::append;
use crate::support::json_line;
use crate::support::state::{alerts, wait_handled};
use crate::support::write;

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    rule: PathBuf,
    log: PathBuf,
}

fn setup(rule: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("logs")).unwrap();
    let config = write_config(
        root,
        "orders",
        "logs/*.log",
        "format: json\ntime_field: ts\n",
        "ops",
    );
    let rule_path = root.join("rules/rule.yaml");
    write(
        &rule_path,
        &format!(
            "name: r\nsource: orders\nnotify: [ops]\nrealert: 0s\nallowed_lateness: 0s\n{rule}"
        ),
    );
    Setup {
        config,
        rule: rule_path,
        log: root.join("logs/app.log"),
        dir,
    }
}

/// What identifies an alert across runs (not when it was raised on the wall clock).
fn identity(a: &Value) -> String {
    format!(
        "{} {} count={} {}..{} {}",
        a["rule"], a["key"], a["count"], a["first_seen"], a["last_seen"], a["detail"]
    )
}

fn stored_alerts(state: &Path) -> Vec<String> {
    let mut out: Vec<String> = alerts(state)
        .iter()
        .map(|a| {
            let ms =
                |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            identity(&json!({
                "rule": a.rule, "key": a.key, "count": a.count,
                "first_seen": ms(a.first_seen), "last_seen": ms(a.last_seen), "detail": a.detail,
            }))
        })
        .collect();
    out.sort();
    out
}

fn replayed_alerts(s: &Setup) -> Vec<String> {
    let mut alerts: Vec<String> = replay(&s.rule, &s.log).iter().map(identity).collect();
    alerts.sort();
    alerts
}

/// Runs the scenario with a kill -9 between the halves; returns the alerts stored, after
/// checking they equal one replay of the whole log.
fn killed_between(rule: &str, first: &[String], rest: &[String]) -> Vec<String> {
    let s = setup(rule);
    let state = s.dir.path().join("state");
    append(&s.log, first.concat());
    let child = Klaxon::run(&s.config);
    wait_handled(&state, "orders", &s.log);
    drop(child); // SIGKILL
    let before = stored_alerts(&state);
    append(&s.log, rest.concat());
    let child = Klaxon::run(&s.config);
    wait_handled(&state, "orders", &s.log);
    drop(child);
    let after = stored_alerts(&state);
    assert!(after.starts_with(&before) || before.iter().all(|b| after.contains(b)));
    assert_eq!(
        after,
        replayed_alerts(&s),
        "killed-and-restarted run differs from one replay"
    );
    after
}

#[test]
fn frequency_window_survives_a_kill() {
    let e = |t| json_line(t, json!({"message": "ERROR order_timeout", "sku": "A"}));
    let rule = "query: ERROR\ntype: frequency\nthreshold: 3\nwindow: 1h\ngroup_by: [sku]\n";
    let alerts = killed_between(rule, &[e(0), e(10)], &[e(20)]);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("count=3"), "{alerts:?}");
}

#[test]
fn flatline_watch_survives_a_kill() {
    let beat = |t, svc: &str| json_line(t, json!({"message": "heartbeat", "svc": svc}));
    let first: Vec<String> = (0..=50)
        .step_by(10)
        .flat_map(|t| {
            let mut v = vec![beat(t, "B")];
            if t <= 10 {
                v.push(beat(t, "A"));
            }
            v
        })
        .collect();
    let rest: Vec<String> = (60..=280).step_by(10).map(|t| beat(t, "B")).collect();
    let rule = "query: heartbeat\ntype: flatline\nthreshold: 1\nwindow: 100s\ngroup_by: [svc]\n";
    let alerts = killed_between(rule, &first, &rest);
    // A's last beat (10) leaves at 110; quiet again at 210.
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(
        alerts.iter().all(|a| a.contains(r#""svc":"A""#)),
        "{alerts:?}"
    );
}

#[test]
fn spike_windows_survive_a_kill() {
    let e = |t| json_line(t, json!({"message": "ERROR payment"}));
    let rule = "query: ERROR\ntype: spike\nwindow: 1m\nspike_height: 3\nspike_type: up\n\
                threshold_cur: 3\nthreshold_ref: 1\n";
    let alerts = killed_between(
        rule,
        &[e(0), e(70), e(130)],
        &[e(140), e(150), e(160), e(200)],
    );
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("spike up: 3"), "{alerts:?}");
}

#[test]
fn change_last_value_survives_a_kill() {
    let e = |t, s: &str| {
        json_line(
            t,
            json!({"message": "order_state", "order": "o1", "state": s}),
        )
    };
    let rule = "query: order_state\ntype: change\nfield: state\n\
                sequence: [created, paid, picked]\ngroup_by: [order]\n";
    let alerts = killed_between(rule, &[e(0, "created"), e(5, "picked")], &[e(9, "paid")]);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("picked → paid"), "{alerts:?}");
}

#[test]
fn new_term_seen_terms_and_learning_survive_a_kill() {
    let e = |t, s: &str| json_line(t, json!({"message": "sold", "sku": s}));
    let rule = "query: sold\ntype: new_term\nfield: sku\nlearning: 1m\n";
    let alerts = killed_between(
        rule,
        &[e(0, "A"), e(30, "B")],
        &[e(70, "A"), e(80, "C"), e(90, "B")],
    );
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("new sku: C"), "{alerts:?}");
}

#[test]
fn cardinality_values_survive_a_kill() {
    let e = |t, c: &str| json_line(t, json!({"message": "pay", "user": "u1", "card": c}));
    let rule = "query: pay\ntype: cardinality\nfield: card\nmax_cardinality: 2\nwindow: 1m\ngroup_by: [user]\n";
    let alerts = killed_between(rule, &[e(0, "a"), e(10, "b")], &[e(20, "a"), e(30, "c")]);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("count=3"), "{alerts:?}");
}

#[test]
fn metric_series_survives_a_kill() {
    let e = |t, ms: u32| json_line(t, json!({"message": "paid", "ms": ms}));
    let rule = "query: paid\ntype: metric\nfield: ms\nmetric: avg\nabove: 100\nwindow: 1m\n";
    let alerts = killed_between(rule, &[e(0, 50), e(10, 60)], &[e(20, 400)]);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("= 170 (above 100)"), "{alerts:?}");
}

#[test]
fn absence_pending_starts_survive_a_kill() {
    let e = |t, msg: &str, order: &str| json_line(t, json!({"message": msg, "order": order}));
    let rule = "query: payment_succeeded OR inventory_deducted\ntype: absence\n\
                start: payment_succeeded\nexpect: inventory_deducted\nwithin: 5m\ngroup_by: [order]\n";
    let alerts = killed_between(
        rule,
        &[
            e(0, "payment_succeeded", "o1"),
            e(30, "payment_succeeded", "o2"),
        ],
        &[
            e(60, "inventory_deducted", "o1"),
            e(400, "inventory_deducted", "o9"),
        ],
    );
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains(r#""order":"o2""#), "{alerts:?}");
}

#[test]
fn mismatch_facts_survive_a_kill() {
    let e = |t, svc: &str, s: &str| {
        json_line(
            t,
            json!({"message": "order_state", "service": svc, "order": "o1", "state": s}),
        )
    };
    let rule = "query: order_state\ntype: mismatch\nwindow: 10m\ngroup_by: [order]\n\
                left: {query: 'service:app', field: state}\n\
                right: {query: 'service:logistics', field: state}\n";
    let alerts = killed_between(
        rule,
        &[e(0, "app", "in_transit"), e(5, "logistics", "in_transit")],
        &[e(60, "app", "delivered")],
    );
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("state=delivered"), "{alerts:?}");
}
