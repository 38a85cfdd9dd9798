//! Issue 15, the rule semantics an ElastAlert side-by-side run found wrong, through the real
//! binary: lower limits (`min_cardinality`, metric `below`) firing when a key falls silent,
//! also across a kill -9; a spike's sample and a cardinality alert's `first_seen` from the
//! window they are about; each new term an alert of its own; a term stamped inside learning
//! but read after it; CIDR blocks on fields declared `ip`, matched locally and sent to
//! Elasticsearch.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::SecondsFormat;
use serde_json::{json, Value};

use crate::support::binary::{klaxon, replay, write_config, Klaxon};
use crate::support::files::append;
use crate::support::state::{alerts, wait_handled};
use crate::support::{json_line, t0, write};

fn at(secs: i64) -> String {
    (t0() + chrono::Duration::seconds(secs)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `klaxon test --json` of `rule` (the frame added) over `log`.
fn replayed(rule: &str, log: &[String]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let rule_path = dir.path().join("rule.yaml");
    write(
        &rule_path,
        &format!("name: r\nsource: orders\nnotify: [ops]\n{rule}"),
    );
    let input = dir.path().join("input.log");
    write(&input, &log.concat());
    replay(&rule_path, &input)
}

/// Lines in time order (ties in the order given).
fn in_time_order(mut lines: Vec<(i64, String)>) -> Vec<String> {
    lines.sort_by_key(|(t, _)| *t);
    lines.into_iter().map(|(_, l)| l).collect()
}

fn pay(t: i64, user: &str, card: &str) -> (i64, String) {
    (
        t,
        json_line(t, json!({"message": "pay", "user": user, "card": card})),
    )
}

fn sale(t: i64, shop: &str, amount: i64) -> (i64, String) {
    (
        t,
        json_line(
            t,
            json!({"message": "paid", "shop": shop, "amount": amount}),
        ),
    )
}

#[test]
fn min_cardinality_fires_when_a_key_falls_silent() {
    // u1 pays with a and b, then stops; u2 keeps paying with two cards.
    let mut lines = vec![pay(0, "u1", "a"), pay(30, "u1", "b")];
    for t in (0..=200).step_by(10) {
        lines.push(pay(t, "u2", if t % 20 == 0 { "x" } else { "y" }));
    }
    let log = in_time_order(lines);
    let rule = "query: pay\ntype: cardinality\nfield: card\ngroup_by: [user]\nwindow: 1m\n\
                min_cardinality: 2\nallowed_lateness: 0s\nrealert: 0s\n";
    let alerts = replayed(rule, &log);
    // a leaves the window just after 60 s: one value left. b leaving later is the same
    // crossing.
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a["key"], json!({"user": "u1"}));
    assert_eq!(a["count"], 1);
    assert_eq!(a["detail"], "1 distinct card in 1m (fewer than 2)");
    assert_eq!(a["last_seen"], at(60));
    assert_eq!(
        a["first_seen"],
        at(30),
        "the first event of the value counted"
    );
    assert_eq!(a["fired_at"], at(60));
    assert_eq!(
        a["sample"].as_str().unwrap(),
        log.iter().find(|l| l.contains("\"b\"")).unwrap().trim_end(),
        "the key's last line"
    );
}

#[test]
fn min_cardinality_at_the_end_of_input_and_only_after_a_whole_window() {
    // One key, alone: the watermark reaches its last event at the end of input.
    let log = in_time_order(vec![
        pay(0, "u1", "a"),
        pay(30, "u1", "b"),
        pay(100, "u1", "c"),
    ]);
    let rule = "query: pay\ntype: cardinality\nfield: card\ngroup_by: [user]\nwindow: 1m\n\
                min_cardinality: 2\nrealert: 0s\n";
    let alerts = replayed(rule, &log);
    // Just after 60 s only b is left (found when c comes); back to 2 never happens.
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["last_seen"], at(60));
    assert_eq!(
        alerts[0]["fired_at"],
        at(90),
        "lateness 30 s after the instant"
    );
    // Seen once and then silent for less than a window: not watched a whole window.
    let alerts = replayed(
        rule,
        &in_time_order(vec![pay(0, "u1", "a"), pay(59, "u2", "z")]),
    );
    assert!(alerts.is_empty(), "{alerts:#?}");
}

#[test]
fn metric_sum_below_fires_at_the_instant_the_sum_falls() {
    // Shop 1 sells twice and stops; shop 2 keeps selling.
    let mut lines = vec![sale(0, "1", 6), sale(10, "1", 6)];
    for t in (0..=200).step_by(10) {
        lines.push(sale(t, "2", 20));
    }
    let rule = "query: paid\ntype: metric\nfield: amount\nmetric: sum\nbelow: 10\nwindow: 1m\n\
                group_by: [shop]\nallowed_lateness: 0s\nrealert: 0s\n";
    let alerts = replayed(rule, &in_time_order(lines));
    // The 6 of 0 s leaves just after 60 s: 6 left. Then 0 (an empty window sums to 0): the
    // same crossing.
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a["key"], json!({"shop": "1"}));
    assert_eq!(a["detail"], "sum(amount) over 1m = 6 (below 10)");
    assert_eq!(
        (a["count"].clone(), a["last_seen"].clone()),
        (json!(1), json!(at(60)))
    );
    assert_eq!(a["first_seen"], at(10));
}

#[test]
fn metric_below_on_an_average_stops_at_an_empty_window() {
    // avg 260, then the 500 leaves (avg 20: below), then nothing at all: no average, which
    // neither fires again nor resolves.
    let mut lines = vec![sale(0, "1", 500), sale(30, "1", 20)];
    lines.extend((0..=300).step_by(10).map(|t| sale(t, "2", 150)));
    let rule = "query: paid\ntype: metric\nfield: amount\nmetric: avg\nbelow: 100\nwindow: 1m\n\
                group_by: [shop]\nallowed_lateness: 0s\nrealert: 0s\n";
    let alerts = replayed(rule, &in_time_order(lines));
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["detail"], "avg(amount) over 1m = 20 (below 100)");
    assert_eq!(alerts[0]["last_seen"], at(60));
    // Only the 500, then silence: avg 500 and then no value; never below.
    let lines = in_time_order(vec![sale(0, "1", 500), sale(200, "2", 150)]);
    assert!(replayed(rule, &lines).is_empty());
}

/// `klaxon run` over the first half, kill -9, again over the rest: the alerts stored are
/// those of one replay of the whole log.
fn killed_between(rule: &str, first: &[String], rest: &[String]) -> Vec<Value> {
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
        &format!("name: r\nsource: orders\nnotify: [ops]\nrealert: 0s\n{rule}"),
    );
    let log = root.join("logs/app.log");
    let state = root.join("state");
    let stored = |state: &Path| -> Vec<Value> {
        alerts(state)
            .iter()
            .map(|a| {
                json!({"key": a.key, "count": a.count, "detail": a.detail,
                "last_seen": a.last_seen.to_rfc3339_opts(SecondsFormat::Millis, true)})
            })
            .collect()
    };
    append(&log, first.concat());
    let child = Klaxon::run(&config);
    wait_handled(&state, "orders", &log);
    drop(child); // SIGKILL
    append(&log, rest.concat());
    let child = Klaxon::run(&config);
    wait_handled(&state, "orders", &log);
    drop(child);
    let after = stored(&state);
    let whole: Vec<Value> = replay(&rule_path, &log)
        .iter()
        .map(|a| {
            json!({"key": a["key"], "count": a["count"], "detail": a["detail"],
            "last_seen": a["last_seen"]})
        })
        .collect();
    assert_eq!(
        after, whole,
        "killed-and-restarted run differs from one replay"
    );
    after
}

#[test]
fn a_silent_key_fires_once_across_a_kill() {
    let busy = |from: i64, to: i64| -> Vec<(i64, String)> {
        (from..=to).step_by(10).map(|t| sale(t, "2", 20)).collect()
    };
    let mut first = vec![sale(0, "1", 6), sale(10, "1", 6)];
    first.extend(busy(0, 40));
    let rule = "query: paid\ntype: metric\nfield: amount\nmetric: sum\nbelow: 10\nwindow: 1m\n\
                group_by: [shop]\nallowed_lateness: 0s\n";
    let alerts = killed_between(rule, &in_time_order(first), &in_time_order(busy(50, 150)));
    assert_eq!(
        alerts,
        vec![json!({"key": {"shop": "1"}, "count": 1,
            "detail": "sum(amount) over 1m = 6 (below 10)", "last_seen": at(60)})]
    );
    // The same for a minimum of distinct values.
    let mut first = vec![pay(0, "u1", "a"), pay(10, "u1", "b")];
    first.extend((0..=40).step_by(10).map(|t| pay(t, "u2", "x")));
    first.extend((0..=40).step_by(10).map(|t| pay(t, "u2", "y")));
    let rest: Vec<(i64, String)> = (50..=150)
        .step_by(10)
        .flat_map(|t| [pay(t, "u2", "x"), pay(t, "u2", "y")])
        .collect();
    let rule = "query: pay\ntype: cardinality\nfield: card\ngroup_by: [user]\nwindow: 1m\n\
                min_cardinality: 2\nallowed_lateness: 0s\n";
    let alerts = killed_between(rule, &in_time_order(first), &in_time_order(rest));
    assert_eq!(
        alerts,
        vec![json!({"key": {"user": "u1"}, "count": 1,
            "detail": "1 distinct card in 1m (fewer than 2)", "last_seen": at(60)})]
    );
}

#[test]
fn a_spike_is_shown_with_a_line_of_its_window() {
    let line = |t: i64, msg: &str, endpoint: &str| {
        json_line(t, json!({"message": msg, "endpoint": endpoint}))
    };
    let log = vec![
        line(0, "ERROR timeout", "/a"),
        line(70, "ERROR timeout", "/a"),
        line(130, "ERROR payment declined", "/pay"),
        line(140, "ERROR payment declined", "/pay"),
        line(150, "ERROR payment declined", "/pay"),
        // After the spike, elsewhere: not what spiked.
        line(160, "ERROR health check", "/health"),
        line(200, "ERROR health check", "/health"),
    ];
    let rule = "query: ERROR\ntype: spike\nwindow: 1m\nspike_height: 3\nspike_type: up\n\
                threshold_cur: 3\nthreshold_ref: 1\nallowed_lateness: 0s\nrealert: 0s\n";
    let alerts = replayed(rule, &log);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["last_seen"], at(150));
    assert_eq!(alerts[0]["sample"].as_str().unwrap(), log[2].trim_end());
}

#[test]
fn a_cardinality_alert_is_first_seen_at_the_first_value_counted() {
    let log = in_time_order(vec![
        pay(10, "u1", "a"),
        pay(20, "u1", "b"),
        pay(30, "u1", "a"),
        pay(50, "u1", "c"),
    ]);
    let rule = "query: pay\ntype: cardinality\nfield: card\ngroup_by: [user]\nwindow: 1m\n\
                max_cardinality: 2\nrealert: 0s\n";
    let alerts = replayed(rule, &log);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    // Not the window's start (-10 s): a's first event.
    assert_eq!(alerts[0]["first_seen"], at(10));
    assert_eq!(alerts[0]["last_seen"], at(50));
}

#[test]
fn each_new_term_is_its_own_alert_and_learning_goes_by_event_time() {
    let sold = |t: i64, sku: &str| json_line(t, json!({"message": "sold", "sku": sku}));
    let log = vec![
        sold(0, "A"),
        sold(30, "B"),
        sold(70, "C"),
        // Within `realert` of C, and new: told too.
        sold(80, "D"),
        sold(90, "C"),
        // Stamped inside learning, read after it ended: learned, not news...
        sold(40, "E"),
        // ...so not new when seen again.
        sold(100, "E"),
    ];
    let rule = "query: sold\ntype: new_term\nfield: sku\nlearning: 1m\nrealert: 10m\n";
    let alerts = replayed(rule, &log);
    let got: Vec<(Value, Value, u64)> = alerts
        .iter()
        .map(|a| {
            (
                a["key"].clone(),
                a["detail"].clone(),
                a["held_back"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (json!({"sku": "C"}), json!("new sku: C"), 0),
            (json!({"sku": "D"}), json!("new sku: D"), 0)
        ]
    );
}

/// A klaxon.yaml declaring `client_ip: ip`, a file source `web` and a rule `ips` with
/// `query`; returns (the config, the rule file).
fn ip_setup(dir: &Path, query: &str) -> (PathBuf, PathBuf) {
    let config = write_config(
        dir,
        "web",
        "in.log",
        "format: json\ntime_field: ts\n",
        "ops",
    );
    let text = std::fs::read_to_string(&config).unwrap();
    write(&config, &format!("{text}fields:\n  client_ip: ip\n"));
    let rule = dir.join("rules/ips.yaml");
    write(
        &rule,
        &format!("name: ips\nsource: web\nquery: '{query}'\nnotify: [ops]\nrealert: 0s\n"),
    );
    (config, rule)
}

#[test]
fn cidr_blocks_on_an_ip_field_match_locally_and_are_cidr_queries_for_elasticsearch() {
    let dir = tempfile::tempdir().unwrap();
    let query = r#"client_ip:"10.0.0.0/8" OR client_ip:"2001:db8::/32""#;
    let (config, _) = ip_setup(dir.path(), query);
    let ips = [
        json!("10.1.2.3"),
        json!("11.1.2.3"),
        json!("2001:db8::5"),
        json!("2001:db9::5"),
        json!(["8.8.8.8", "10.9.9.9"]),
        json!(["8.8.8.8", "2001:db9::1"]),
        json!("::ffff:10.1.1.1"),
        json!("10.0.0.0/8"),
        json!("not an address"),
        json!(10),
    ];
    let log: String = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            json_line(
                i as i64,
                json!({"message": format!("hit {i}"), "client_ip": ip}),
            )
        })
        .collect();
    write(&dir.path().join("in.log"), &log);
    let out = klaxon()
        .current_dir(dir.path())
        .args([
            "test",
            "rules/ips.yaml",
            "--input",
            "in.log",
            "--json",
            "-c",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hits: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|a| {
            let sample: Value = serde_json::from_str(a["sample"].as_str().unwrap()).unwrap();
            sample["message"].as_str().unwrap().to_string()
        })
        .collect();
    // IPv4 and IPv6 blocks, an element of an array, an IPv4 address written mapped.
    assert_eq!(hits, ["hit 0", "hit 2", "hit 4", "hit 6"]);

    // The same rule, built as `klaxon run` builds it, asks Elasticsearch for the blocks.
    let loaded = klaxon::config::load(&config).unwrap();
    let (rules, _) = klaxon::pipeline::compile_rules(&loaded).unwrap();
    let compiled = rules.iter().find(|r| r.name == "ips").unwrap();
    assert_eq!(
        compiled.query.to_elasticsearch(),
        json!({"bool": {"should": [
            {"term": {"client_ip": "10.0.0.0/8"}},
            {"term": {"client_ip": "2001:db8::/32"}}
        ], "minimum_should_match": 1}})
    );
    assert_eq!(
        compiled.query.to_lucene(),
        r#"(client_ip:"10.0.0.0/8" OR client_ip:"2001:db8::/32")"#
    );
    let clock: Arc<dyn klaxon::clock::Clock> = Arc::new(klaxon::clock::ManualClock::new(t0()));
    let engine = klaxon::pipeline::Engine::new(rules, Vec::new(), None, clock);
    let search = engine.search_query("web").expect("a rule reads `web`");
    let text = search.to_string();
    assert!(
        text.contains(r#"{"term":{"client_ip":"10.0.0.0/8"}}"#)
            && text.contains(r#"{"term":{"client_ip":"2001:db8::/32"}}"#),
        "{text}"
    );
}

#[test]
fn a_cidr_block_at_a_range_end_is_an_address_for_elasticsearch() {
    let dir = tempfile::tempdir().unwrap();
    let query = r#"client_ip:{"10.0.0.0/8" TO "2001:db8::/32"]"#;
    let (config, _) = ip_setup(dir.path(), query);
    let loaded = klaxon::config::load(&config).unwrap();
    let (rules, _) = klaxon::pipeline::compile_rules(&loaded).unwrap();
    // After every address of 10.0.0.0/8, up to the last of 2001:db8::/32.
    assert_eq!(
        rules[0].query.to_elasticsearch(),
        json!({"range": {"client_ip": {
            "gt": "10.255.255.255",
            "lte": "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
        }}})
    );
    let log: String = ["10.255.255.255", "11.0.0.0", "2001:db8:1::1", "2001:db9::"]
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            json_line(
                i as i64,
                json!({"message": format!("hit {i}"), "client_ip": ip}),
            )
        })
        .collect();
    write(&dir.path().join("in.log"), &log);
    let out = klaxon()
        .current_dir(dir.path())
        .args([
            "test",
            "rules/ips.yaml",
            "--input",
            "in.log",
            "--json",
            "-c",
            "klaxon.yaml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hits: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 2, "{hits:#?}");
    assert!(hits[0]["sample"].as_str().unwrap().contains("hit 1"));
    assert!(hits[1]["sample"].as_str().unwrap().contains("hit 2"));
}
