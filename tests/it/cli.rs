//! End-to-end tests of the `klaxon` binary: real files, a real process killed with
//! SIGKILL, the real SQLite state read back.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::support::binary::{klaxon, replay, write_config, Klaxon};
use crate::support::files::{append, Appender};
use crate::support::state::{alert_count, alerts};
use crate::support::{wait_for, write};

/// A config with one `any` rule over plain lines, notifying the console.
fn config_for(dir: &Path, rule_extra: &str) -> PathBuf {
    let config = write_config(dir, "app", "logs/*.log", "", "out");
    write(
        &dir.join("rules/every-line.yaml"),
        &format!("name: every-line\nsource: app\nquery: line\nnotify: [out]\n{rule_extra}"),
    );
    config
}

fn recorded_samples(state: &Path) -> Vec<String> {
    alerts(state).into_iter().map(|a| a.sample).collect()
}

#[test]
fn run_killed_and_restarted_handles_every_line_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), "realert: 0s\n");
    let log = dir.path().join("logs/app.log");
    write(&log, "");
    let state = dir.path().join("state");
    let total = 8000;
    // The file grows steadily for ~4 s while Klaxon is killed and restarted under it.
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut out = Appender::open(&log);
            for n in 1..=total {
                out.line(format_args!("line {n}"));
                out.flush();
                if n % 20 == 0 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        })
    };
    // How many lines were handled at each kill: proof the kills landed mid-stream.
    let mut handled_at_kill = Vec::new();
    let mut child = Klaxon::run(&config);
    for round in 0..6 {
        std::thread::sleep(Duration::from_millis(300 + 70 * round));
        child.kill(); // SIGKILL
        handled_at_kill.push(alert_count(&state));
        child = Klaxon::run(&config);
    }
    writer.join().unwrap();
    let mid_stream = handled_at_kill
        .iter()
        .filter(|&&handled| 0 < handled && handled < total)
        .count();
    assert!(
        mid_stream >= 3,
        "kills did not interrupt reading: {handled_at_kill:?}"
    );
    wait_for(Duration::from_secs(60), || alert_count(&state) >= total);
    // Give a duplicate, if any were coming, the chance to show up.
    std::thread::sleep(Duration::from_millis(500));
    let samples = recorded_samples(&state);
    child.kill();
    let mut seen = vec![0u32; total + 1];
    for s in &samples {
        let n: usize = s.strip_prefix("line ").unwrap().parse().unwrap();
        seen[n] += 1;
    }
    let missing: Vec<usize> = (1..=total).filter(|&n| seen[n] == 0).collect();
    let twice: Vec<usize> = (1..=total).filter(|&n| seen[n] > 1).collect();
    assert!(missing.is_empty(), "lines never handled: {missing:?}");
    assert!(twice.is_empty(), "lines handled twice: {twice:?}");
    assert_eq!(samples.len(), total);
}

#[test]
fn check_names_file_line_and_column_of_a_misspelled_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), "");
    write(
        &dir.path().join("rules/typo.yaml"),
        "name: typo\nsource: app\nquery: ERROR\ntype: frequency\nthresold: 5\nwindow: 1m\nnotify: [out]\n",
    );
    let out = klaxon()
        .args(["check", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("typo.yaml:5:1"), "{stderr}");
    assert!(stderr.contains("thresold"), "{stderr}");
    assert!(
        stderr.contains("threshold"),
        "names the expected key: {stderr}"
    );
}

#[test]
fn check_accepts_a_good_config_and_reports_query_errors_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), "");
    let ok = klaxon()
        .args(["check", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok (1 rules"));
    write(
        &dir.path().join("rules/bad-query.yaml"),
        "name: bad-query\nsource: app\nquery: 'ERROR AND (timeout'\nnotify: [out]\n",
    );
    let out = klaxon()
        .args(["check", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bad-query.yaml:3:"), "{stderr}");
}

/// Runs `klaxon test RULE --input LOG --json` and parses the output lines.
fn offline(dir: &Path, rule: &str, log: &str) -> Vec<serde_json::Value> {
    write(&dir.join("rule.yaml"), rule);
    write(&dir.join("input.log"), log);
    replay(&dir.join("rule.yaml"), &dir.join("input.log"))
}

fn json_lines(lines: &[(u32, &str, &str)]) -> String {
    lines
        .iter()
        .map(|(sec, sku, msg)| {
            format!(
                "{{\"ts\":\"2026-06-08T03:00:{sec:02}Z\",\"sku\":\"{sku}\",\"message\":\"{msg}\"}}\n"
            )
        })
        .collect()
}

const FREQUENCY_RULE: &str = "name: order-errors\nsource: orders\n\
    query: '\"ERROR\" AND (order_timeout OR inventory_rollback)'\n\
    type: frequency\nthreshold: 3\nwindow: 1m\ngroup_by: [sku]\nrealert: 0s\nnotify: [ops]\n";

#[test]
fn frequency_fires_at_exactly_the_threshold_and_not_below() {
    let dir = tempfile::tempdir().unwrap();
    let below = json_lines(&[
        (1, "A", "ERROR order_timeout o=1"),
        (2, "A", "ERROR inventory_rollback o=2"),
        (3, "B", "ERROR order_timeout o=3"),
        (4, "A", "INFO order_timeout recovered"),
        (5, "A", "WARN order_timeout o=4"),
    ]);
    assert!(offline(dir.path(), FREQUENCY_RULE, &below).is_empty());
    let at = format!(
        "{below}{}",
        json_lines(&[(9, "A", "ERROR order_timeout o=5")])
    );
    let alerts = offline(dir.path(), FREQUENCY_RULE, &at);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["rule"], "order-errors");
    assert_eq!(a["key"], serde_json::json!({"sku": "A"}));
    assert_eq!(a["count"], 3);
    assert_eq!(a["first_seen"], "2026-06-08T03:00:01.000Z");
    assert_eq!(a["last_seen"], "2026-06-08T03:00:09.000Z");
    assert!(a["sample"]
        .as_str()
        .unwrap()
        .contains("ERROR order_timeout o=1"));
}

#[test]
fn realert_holds_back_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let rule =
        "name: ghost\nsource: orders\nquery: payment_callback\nrealert: 10s\nnotify: [ops]\n";
    let log = json_lines(&[
        (0, "A", "payment_callback timeout 1"),
        (2, "A", "payment_callback timeout 2"),
        (5, "A", "payment_callback timeout 3"),
        (9, "A", "payment_callback timeout 4"),
        (10, "A", "payment_callback timeout 5"),
        (12, "A", "payment_callback timeout 6"),
        (25, "A", "payment_callback timeout 7"),
    ]);
    let alerts = offline(dir.path(), rule, &log);
    let summary: Vec<(String, u64)> = alerts
        .iter()
        .map(|a| {
            (
                a["last_seen"].as_str().unwrap().to_string(),
                a["held_back"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("2026-06-08T03:00:00.000Z".to_string(), 0),
            ("2026-06-08T03:00:10.000Z".to_string(), 3),
            ("2026-06-08T03:00:25.000Z".to_string(), 1),
        ]
    );
}

#[test]
fn stdin_source_alerts_on_piped_lines_and_exits_at_eof() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("klaxon.yaml");
    write(
        &config,
        "sources:\n  pipe:\n    type: stdin\n    format: json\n    time_field: ts\n    max_alert_age: 3650d\n\
         channels:\n  out:\n    type: console\n    format: line\nrules: rules\nstate_dir: state\n",
    );
    write(
        &dir.path().join("rules/ghost.yaml"),
        "name: ghost\nsource: pipe\nquery: payment_callback AND timeout\ngroup_by: [order]\nnotify: [out]\n",
    );
    let mut child = Klaxon::spawn(
        klaxon()
            .args(["run", "-c"])
            .arg(&config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let lines = json_lines(&[
        (1, "A", "payment_callback received"),
        (2, "A", "payment_callback timeout"),
        (3, "B", "inventory_locked"),
    ])
    .replace("\"sku\"", "\"order\"");
    child.stdin().write_all(lines.as_bytes()).unwrap();
    child.close_stdin(); // EOF
    let out = child.finish(
        Duration::from_secs(30),
        "klaxon run did not exit at end of stdin",
    );
    assert!(out.status.success(), "{}", out.stderr);
    let stdout = out.stdout;
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("ghost (order=A) count=1 → out"), "{stdout}");
}

#[test]
fn demo_fires_every_shipped_rule_and_ends_by_itself() {
    let out = klaxon()
        .args(["demo", "--duration", "10s"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout
        .split("── Summary")
        .nth(1)
        .expect("a summary at the end");
    for (name, _) in klaxon::demo::RULES {
        let rule = name.trim_end_matches(".yaml");
        let row = summary
            .lines()
            .find(|l| l.split_whitespace().next() == Some(rule))
            .unwrap_or_else(|| panic!("no summary row for {rule}:\n{summary}"));
        let alerts: u64 = row.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(alerts >= 1, "{rule} never fired:\n{summary}");
    }
    // The error burst is 30 order timeouts for one SKU: realert sends one, holds the rest.
    let order_errors = summary
        .lines()
        .find(|l| l.starts_with("order-errors"))
        .unwrap();
    let held: u64 = order_errors
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert!(held >= 5, "{order_errors}");
    assert!(summary.contains("0 failed"), "{summary}");
}

fn wait_for_samples(state: &Path, n: usize) -> Vec<String> {
    wait_for(Duration::from_secs(30), || alert_count(state) >= n);
    recorded_samples(state)
}

#[test]
fn prefilter_follows_a_reloaded_rule_to_its_new_literal() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), "realert: 0s\n");
    let rule = dir.path().join("rules/every-line.yaml");
    std::fs::write(
        &rule,
        "name: every-line\nsource: app\nquery: alpha\nrealert: 0s\nnotify: [out]\n",
    )
    .unwrap();
    let log = dir.path().join("logs/app.log");
    write(&log, "");
    let state = dir.path().join("state");
    let _klaxon = Klaxon::run(&config);
    append(&log, "beta 1\nalpha 1\n");
    assert_eq!(wait_for_samples(&state, 1), vec!["alpha 1"]);
    // The new query's literal was filtered out so far: the reload must swap the prefilter.
    std::fs::write(
        &rule,
        "name: every-line\nsource: app\nquery: beta\nrealert: 0s\nnotify: [out]\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    append(&log, "alpha 2\nbeta 2\n");
    assert_eq!(wait_for_samples(&state, 2), vec!["alpha 1", "beta 2"]);
}

#[test]
fn file_changes_wake_the_tailer_before_the_next_poll() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), "realert: 0s\n");
    let slow = std::fs::read_to_string(&config)
        .unwrap()
        .replace("poll_interval: 50ms", "poll_interval: 1h");
    std::fs::write(&config, slow).unwrap();
    let log = dir.path().join("logs/app.log");
    write(&log, "");
    let state = dir.path().join("state");
    let _klaxon = Klaxon::run(&config);
    std::thread::sleep(Duration::from_millis(1500)); // past the first poll
    append(&log, "line 1\n");
    wait_for(Duration::from_secs(10), || alert_count(&state) > 0);
    assert_eq!(
        recorded_samples(&state),
        vec!["line 1"],
        "an hourly poll alone would not have read it yet"
    );
}

#[test]
fn sigterm_stops_a_stdin_source_that_is_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("klaxon.yaml");
    write(
        &config,
        "sources:\n  pipe:\n    type: stdin\nchannels:\n  out:\n    type: console\nrules: rules\nstate_dir: state\n",
    );
    write(
        &dir.path().join("rules/r.yaml"),
        "name: r\nsource: pipe\nquery: ERROR\nnotify: [out]\n",
    );
    let mut child = Klaxon::spawn(
        klaxon()
            .args(["run", "-c"])
            .arg(&config)
            .stdin(Stdio::piped()) // kept open: no EOF
            .stdout(Stdio::null()),
    );
    std::thread::sleep(Duration::from_millis(1000));
    child.terminate();
    let status = child
        .wait_timeout(Duration::from_secs(10))
        .expect("klaxon run did not exit after SIGTERM with stdin still open");
    assert!(status.success());
}

/// CPU time (user + system, in clock ticks) a process has used, from /proc.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn an_idle_file_source_does_not_spin() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), "");
    let log = dir.path().join("logs/app.log");
    write(&log, "line 0\n");
    let klaxon = Klaxon::run(&config);
    std::thread::sleep(Duration::from_millis(1500));
    let before = cpu_ticks(klaxon.id());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(klaxon.id()) - before;
    // Polling every 50 ms costs a little; waking on its own file opens would burn a core
    // (about 200 ticks in 2 s).
    assert!(used < 60, "idle klaxon used {used} ticks of CPU in 2 s");
}
