//! `klaxon test RULE --input FILE --json` for every rule type: the real binary replays a
//! real log file through one rule and prints the alerts it would raise. Absence and
//! flatline fire at the end of input for the deadlines that passed by then.

use std::path::Path;

use chrono::SecondsFormat;
use serde_json::{json, Value};

use crate::support::binary::klaxon;
use crate::support::json_line;
use crate::support::{t0, write};

fn at(secs: i64) -> String {
    (t0() + chrono::Duration::seconds(secs)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Writes the rule and the log, runs `klaxon test --json`, parses one alert per line.
fn replay(dir: &Path, rule: &str, log: &[String]) -> Vec<Value> {
    let rule_path = dir.join("rule.yaml");
    write(
        &rule_path,
        &format!("source: orders\nnotify: [ops]\nrealert: 0s\n{rule}"),
    );
    write(&dir.join("input.log"), &log.concat());
    crate::support::binary::replay(&rule_path, &dir.join("input.log"))
}

/// (key, count, detail) of each alert.
fn summary(alerts: &[Value]) -> Vec<(Value, u64, String)> {
    alerts
        .iter()
        .map(|a| {
            (
                a["key"].clone(),
                a["count"].as_u64().unwrap(),
                a["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn any_fires_for_every_matching_event() {
    let dir = tempfile::tempdir().unwrap();
    let log = [
        json_line(0, json!({"message": "ERROR order_timeout"})),
        json_line(1, json!({"message": "INFO ok"})),
        json_line(2, json!({"message": "ERROR inventory_rollback"})),
    ];
    let alerts = replay(dir.path(), "name: errors\nquery: ERROR\n", &log);
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1]["sample"].as_str().unwrap(), log[2].trim_end());
}

#[test]
fn frequency_fires_at_the_threshold_within_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let log: Vec<String> = [0, 30, 61, 90]
        .iter()
        .map(|&t| json_line(t, json!({"message": "ERROR order_timeout", "sku": "A"})))
        .collect();
    let rule =
        "name: f\nquery: ERROR\ntype: frequency\nthreshold: 3\nwindow: 1m\ngroup_by: [sku]\n";
    let alerts = replay(dir.path(), rule, &log);
    // 0 left the window by 61; 30, 61 and 90 make three (90 - 60 = 30 is inclusive).
    assert_eq!(
        summary(&alerts),
        vec![(json!({"sku": "A"}), 3, String::new())]
    );
    assert_eq!(alerts[0]["first_seen"], at(30));
}

#[test]
fn flatline_fires_for_a_key_that_went_quiet_including_at_end_of_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Vec::new();
    for t in (0..=100).step_by(10) {
        log.push(json_line(t, json!({"message": "heartbeat", "svc": "B"})));
        if t <= 20 {
            log.push(json_line(t, json!({"message": "heartbeat", "svc": "A"})));
        }
    }
    let rule = "name: quiet\nquery: heartbeat\ntype: flatline\nthreshold: 1\nwindow: 30s\n\
                group_by: [svc]\nallowed_lateness: 0s\n";
    let alerts = replay(dir.path(), rule, &log);
    // A's last beat (20) leaves the window at 50; still quiet, again at 80; 110 is past the end.
    let got: Vec<(Value, String)> = alerts
        .iter()
        .map(|a| {
            (
                a["key"].clone(),
                a["last_seen"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![(json!({"svc": "A"}), at(50)), (json!({"svc": "A"}), at(80))]
    );
    assert_eq!(alerts[0]["detail"], "0 in 30s (fewer than 1)");
}

#[test]
fn spike_fires_when_the_current_window_triples_the_previous() {
    let dir = tempfile::tempdir().unwrap();
    let log: Vec<String> = [0, 70, 130, 140, 150, 160, 200]
        .iter()
        .map(|&t| json_line(t, json!({"message": "ERROR payment"})))
        .collect();
    let rule = "name: s\nquery: ERROR\ntype: spike\nwindow: 1m\nspike_height: 3\nspike_type: up\n\
                threshold_cur: 3\nthreshold_ref: 1\nallowed_lateness: 0s\n";
    let alerts = replay(dir.path(), rule, &log);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["last_seen"], at(150));
    assert_eq!(alerts[0]["count"], 3);
    assert_eq!(
        alerts[0]["detail"],
        "spike up: 3 in the last 1m vs 1 in the 1m before"
    );
}

#[test]
fn change_fires_when_an_order_state_goes_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let log: Vec<String> = [(0, "created"), (5, "paid"), (9, "picked"), (12, "paid")]
        .iter()
        .map(|&(t, s)| {
            json_line(
                t,
                json!({"message": "order_state", "order": "o1", "state": s}),
            )
        })
        .collect();
    let rule = "name: backwards\nquery: order_state\ntype: change\nfield: state\n\
                sequence: [created, paid, picked, shipped]\ngroup_by: [order]\n";
    let alerts = replay(dir.path(), rule, &log);
    assert_eq!(
        summary(&alerts),
        vec![(
            json!({"order": "o1"}),
            1,
            "state: picked → paid".to_string()
        )]
    );
}

#[test]
fn blacklist_and_whitelist_read_inline_values_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = [
        json_line(
            0,
            json!({"message": "login", "ip": "10.6.6.6", "gateway": "alipay"}),
        ),
        json_line(
            1,
            json!({"message": "login", "ip": "10.0.0.1", "gateway": "paypal"}),
        ),
    ];
    let black = replay(
        dir.path(),
        "name: b\nquery: login\ntype: blacklist\nfield: ip\nvalues: [10.6.6.6]\n",
        &log,
    );
    assert_eq!(
        summary(&black),
        vec![(json!({}), 1, "ip=10.6.6.6 is blacklisted".into())]
    );
    std::fs::write(dir.path().join("gateways.txt"), "alipay\nwechat\n").unwrap();
    let white = replay(
        dir.path(),
        "name: w\nquery: login\ntype: whitelist\nfield: gateway\nvalues_file: gateways.txt\n",
        &log,
    );
    assert_eq!(
        summary(&white),
        vec![(json!({}), 1, "gateway=paypal is not whitelisted".into())]
    );
}

#[test]
fn new_term_fires_for_values_first_seen_after_learning() {
    let dir = tempfile::tempdir().unwrap();
    let log: Vec<String> = [(0, "A"), (30, "B"), (70, "A"), (80, "C"), (90, "C")]
        .iter()
        .map(|&(t, s)| json_line(t, json!({"message": "sold", "sku": s})))
        .collect();
    let rule = "name: n\nquery: sold\ntype: new_term\nfield: sku\nlearning: 1m\n";
    let alerts = replay(dir.path(), rule, &log);
    assert_eq!(
        summary(&alerts),
        vec![(json!({"sku": "C"}), 1, "new sku: C".into())]
    );
}

#[test]
fn cardinality_fires_above_the_max_distinct_values() {
    let dir = tempfile::tempdir().unwrap();
    let log: Vec<String> = [(0, "a"), (10, "b"), (20, "a"), (30, "c"), (40, "d")]
        .iter()
        .map(|&(t, c)| json_line(t, json!({"message": "pay", "user": "u1", "card": c})))
        .collect();
    let rule = "name: c\nquery: pay\ntype: cardinality\nfield: card\nmax_cardinality: 2\n\
                window: 1m\ngroup_by: [user]\n";
    let alerts = replay(dir.path(), rule, &log);
    assert_eq!(
        summary(&alerts),
        vec![(
            json!({"user": "u1"}),
            3,
            "3 distinct card in 1m (more than 2)".into()
        )]
    );
}

#[test]
fn metric_fires_when_the_average_crosses_above() {
    let dir = tempfile::tempdir().unwrap();
    let log: Vec<String> = [(0, 50), (10, 60), (20, 400), (30, 500)]
        .iter()
        .map(|&(t, ms)| json_line(t, json!({"message": "paid", "ms": ms})))
        .collect();
    let rule =
        "name: m\nquery: paid\ntype: metric\nfield: ms\nmetric: avg\nabove: 100\nwindow: 1m\n";
    let alerts = replay(dir.path(), rule, &log);
    assert_eq!(
        summary(&alerts),
        vec![(json!({}), 3, "avg(ms) over 1m = 170 (above 100)".into())]
    );
}

#[test]
fn absence_fires_for_ghost_orders_including_deadlines_passed_at_end_of_input() {
    let dir = tempfile::tempdir().unwrap();
    let ev = |t, msg: &str, order: &str| json_line(t, json!({"message": msg, "order": order}));
    let log = [
        ev(0, "payment_succeeded", "o1"),
        ev(30, "payment_succeeded", "o2"),
        ev(60, "inventory_deducted", "o1"),
        ev(280, "payment_succeeded", "o6"),
        ev(400, "payment_succeeded", "o3"),
        ev(600, "inventory_deducted", "o4"),
    ];
    let rule = "name: ghost\nquery: payment_succeeded OR inventory_deducted\ntype: absence\n\
                start: payment_succeeded\nexpect: inventory_deducted\nwithin: 5m\ngroup_by: [order]\n";
    let alerts = replay(dir.path(), rule, &log);
    // o2's deadline (330) passes while replaying; o6's (580) only at the end of input
    // (the last event, 600, minus the default 30s lateness is 570); o3's (700) never.
    assert_eq!(
        summary(&alerts),
        vec![
            (
                json!({"order": "o2"}),
                1,
                "nothing followed within 5m".into()
            ),
            (
                json!({"order": "o6"}),
                1,
                "nothing followed within 5m".into()
            ),
        ]
    );
}

#[test]
fn mismatch_fires_when_two_reporters_disagree() {
    let dir = tempfile::tempdir().unwrap();
    let ev = |t, svc: &str, state: &str| {
        json_line(
            t,
            json!({"message": "order_state", "service": svc, "order": "o1", "state": state}),
        )
    };
    let log = [
        ev(0, "app", "in_transit"),
        ev(5, "logistics", "in_transit"),
        ev(60, "app", "delivered"),
        ev(61, "app", "delivered"),
    ];
    let rule = "name: split\nquery: order_state\ntype: mismatch\nwindow: 10m\ngroup_by: [order]\n\
                left: {query: 'service:app', field: state}\n\
                right: {query: 'service:logistics', field: state}\n";
    let alerts = replay(dir.path(), rule, &log);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["key"], json!({"order": "o1"}));
    assert!(alerts[0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("state=delivered (orders) but state=in_transit (orders)"));
}

#[test]
fn a_broken_rule_is_refused_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let rule_path = dir.path().join("rule.yaml");
    write(
        &rule_path,
        "name: z\nsource: orders\nnotify: [ops]\nquery: x\ntype: absence\nstart: order_created\nwithin: 72h\n",
    );
    write(
        &dir.path().join("input.log"),
        &json_line(0, json!({"message": "x"})),
    );
    let out = klaxon()
        .arg("test")
        .arg(&rule_path)
        .arg("--input")
        .arg(dir.path().join("input.log"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("rule.yaml:5:7"), "{stderr}");
    assert!(stderr.contains("requires `expect`"), "{stderr}");
}
