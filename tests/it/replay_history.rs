//! `klaxon replay`: every rule over historical logs in event time, nothing sent; the
//! report's counts, hours, keys and holds; `--from`/`--to`; progress; hostile key values.

use std::path::Path;
use std::process::Output;

use serde_json::{json, Value};

use crate::support::binary::klaxon;
use crate::support::http::Recorder;
use crate::support::write;

/// 2026-11-22T00:00:00Z plus `secs`.
fn line(secs: i64, fields: Value) -> String {
    let t = chrono::DateTime::from_timestamp(1_795_305_600 + secs, 0).unwrap();
    let mut obj = json!({"@timestamp": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)});
    for (k, v) in fields.as_object().unwrap() {
        obj[k] = v.clone();
    }
    format!("{obj}\n")
}

/// Three hours of traffic: a burst of order timeouts on SKU A at 00:30 and on B at 02:10,
/// payment callbacks failing every 10 minutes through hour 1, healthy lines throughout.
fn history() -> String {
    let mut out = String::new();
    for s in (0..3 * 3600).step_by(20) {
        out.push_str(&line(
            s,
            json!({"level": "INFO", "message": "order_created", "sku": "C"}),
        ));
        if (1800..1860).contains(&s) {
            out.push_str(&line(
                s + 1,
                json!({"level": "ERROR", "message": "order_timeout", "sku": "A"}),
            ));
        }
        if (7800..7830).contains(&s) {
            out.push_str(&line(
                s + 1,
                json!({"level": "ERROR", "message": "order_timeout", "sku": "B"}),
            ));
        }
        if (3600..7200).contains(&s) && s % 600 == 0 {
            out.push_str(&line(
                s + 2,
                json!({"level": "ERROR", "message": "payment_callback failed", "sku": "D"}),
            ));
        }
    }
    out
}

fn setup(dir: &Path, webhook: &str) {
    write(
        &dir.join("klaxon.yaml"),
        &format!(
            "sources:\n  orders:\n    type: file\n    include: [\"{}/logs/*.log\"]\n    format: json\n    time_field: \"@timestamp\"\n\
             channels:\n  hook:\n    type: webhook\n    url: {webhook}\nrules: rules\nstate_dir: state\n",
            dir.display()
        ),
    );
    write(
        &dir.join("rules/timeouts.yaml"),
        "name: order-timeouts\nsource: orders\nquery: 'level:ERROR AND order_timeout'\ntype: frequency\n\
         threshold: 3\nwindow: 1m\ngroup_by: [sku]\nrealert: 30m\nnotify: [hook]\n",
    );
    write(
        &dir.join("rules/callbacks.yaml"),
        "name: callbacks\nsource: orders\nquery: payment_callback\ngroup_by: [sku]\nrealert: 25m\nnotify: [hook]\n",
    );
    write(&dir.join("logs/app.log"), &history());
}

fn replay(dir: &Path, args: &[&str]) -> Output {
    klaxon()
        .current_dir(dir)
        .args(["replay", "-c", "klaxon.yaml"])
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn rule<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reports_what_each_rule_would_have_done_and_sends_nothing() {
    let hook = Recorder::start("ok").await;
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &hook.url("/hook"));
    let out = replay(dir.path(), &["--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines = history().lines().count() as u64;
    assert_eq!(report["lines"], lines);
    // Only lines some rule could match are decoded: the 5 timeouts and 6 callbacks.
    assert_eq!(report["events"], 11);

    let timeouts = rule(&report, "order-timeouts");
    // Bursts of 3 on A (00:30) and 2 on B (02:10): A fires once (its 3rd within a
    // minute), B never (only 2).
    assert_eq!(timeouts["alerts"], 1, "{timeouts}");
    assert_eq!(timeouts["by_hour"], json!({"2026-11-22T00:00:00Z": 1}));
    assert_eq!(timeouts["top_keys"], json!([{"key": "sku=A", "alerts": 1}]));
    assert_eq!(timeouts["matched"], 5);

    // Six callbacks 10 minutes apart with realert 25m: alerts at 01:00 and 01:30; the two
    // between and the two after held back (those after reported by no alert, but counted).
    let callbacks = rule(&report, "callbacks");
    assert_eq!(callbacks["alerts"], 2, "{callbacks}");
    assert_eq!(callbacks["by_hour"], json!({"2026-11-22T01:00:00Z": 2}));
    assert_eq!(callbacks["held_back_by_realert"], 4, "{callbacks}");
    assert!(callbacks["messages"].as_u64().unwrap() >= 1, "{callbacks}");
    assert!(
        hook.requests().is_empty(),
        "replay sent {:?}",
        hook.requests()
    );

    // The text report: a histogram line per hour with alerts, the keys, nothing sent.
    let out = replay(dir.path(), &[]);
    let report = text(&out.stdout);
    assert!(report.contains("Nothing was sent"), "{report}");
    assert!(
        report.contains("order-timeouts (source orders): 1 alert(s) from 5 matching event(s)"),
        "{report}"
    );
    assert!(
        report.contains("    2026-11-22 01:00  ######################################## 2"),
        "{report}"
    );
    assert!(report.contains("top keys: sku=A (1)"), "{report}");
    assert!(hook.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_delivers_the_earliest_alerts_marked_as_replayed() {
    let hook = Recorder::start("ok").await;
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &hook.url("/hook"));
    let out = replay(dir.path(), &["--send", "hook", "--send-limit", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("Nothing was sent"));
    let sent = hook.requests();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let first = sent[0].json();
    assert_eq!(first["rule"], "order-timeouts", "{first}");
    assert!(
        first["detail"]
            .as_str()
            .unwrap()
            .starts_with("(replayed from history)"),
        "{first}"
    );
    assert_eq!(first["labels"]["klaxon_replay"], "true", "{first}");
    let bad = replay(dir.path(), &["--send", "nope"]);
    assert!(
        text(&bad.stderr).contains("--send nope: no such channel"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn from_and_to_narrow_the_replay_to_event_times() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "http://127.0.0.1:9/");
    let out = replay(
        dir.path(),
        &[
            "--json",
            "--from",
            "2026-11-22T02:00",
            "--to",
            "2026-11-22T03:00",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["skipped"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(rule(&report, "callbacks")["alerts"], 0);
    assert_eq!(
        rule(&report, "order-timeouts")["matched"],
        2,
        "only B's burst is in range"
    );

    let bad = replay(dir.path(), &["--from", "yesterday"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("is not a time"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn progress_is_printed_without_a_terminal_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "http://127.0.0.1:9/");
    let quiet = replay(dir.path(), &["--json"]);
    assert!(
        !text(&quiet.stderr).contains("replay:"),
        "{}",
        text(&quiet.stderr)
    );
    let shown = replay(dir.path(), &["--json", "--progress", "always"]);
    let err = text(&shown.stderr);
    assert!(err.contains("replay: 100% of "), "{err}");
    assert!(
        !err.contains('\x1b'),
        "no escape codes without a terminal: {err:?}"
    );
}

#[test]
fn inputs_rules_and_sources_are_named_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "http://127.0.0.1:9/");
    // An explicit file, and one rule only.
    write(&dir.path().join("old.log"), &history());
    let out = replay(
        dir.path(),
        &["--json", "--input", "old.log", "--rule", "callbacks"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rules"].as_array().unwrap().len(), 1);
    assert_eq!(report["files"], 1);
    let out = replay(dir.path(), &["--rule", "nope"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no rule `nope`"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("callbacks"),
        "{}",
        text(&out.stderr)
    );
    let out = replay(dir.path(), &["--input", "other=old.log"]);
    assert!(
        text(&out.stderr).contains("source `other` is not defined"),
        "{}",
        text(&out.stderr)
    );
    let out = replay(dir.path(), &["--source", "nope"]);
    assert!(
        text(&out.stderr).contains("not a file source"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn hostile_key_values_stay_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "http://127.0.0.1:9/");
    let evil = "A\u{1b}[31m\nfake-rule (source x): 99 alert(s)";
    let mut log = String::new();
    for s in 0..3 {
        log.push_str(&line(
            s,
            json!({"level": "ERROR", "message": "order_timeout", "sku": evil}),
        ));
    }
    write(&dir.path().join("logs/app.log"), &log);
    let out = replay(dir.path(), &[]);
    let report = text(&out.stdout);
    assert!(!report.contains('\x1b'), "{report:?}");
    assert!(
        !report.lines().any(|l| l.starts_with("fake-rule")),
        "{report}"
    );
    assert!(report.contains("top keys: sku="), "{report}");
}
