//! Regressions found reviewing issue #8, each named `r8_…`, on the real binary.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use crate::support::binary::{klaxon, Klaxon};
use crate::support::files::append_lines;
use crate::support::state::wait_handled;
use crate::support::{wait_until, write};

const CONFIG: &str = concat!(
    "sources:\n",
    "  app:\n    type: file\n    include: [\"logs/app.log\"]\n    format: json\n",
    "    time_field: ts\n    poll_interval: 50ms\n",
    "  other:\n    type: file\n    include: [\"logs/other.log\"]\n    format: json\n",
    "    time_field: ts\n    poll_interval: 50ms\n",
    "channels:\n  out: { type: console }\n",
    "rules: rules\nstate_dir: state\n",
);

fn setup(rules: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("klaxon.yaml"), CONFIG);
    for (name, text) in rules {
        write(&dir.path().join("rules").join(name), text);
    }
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    dir
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    klaxon().current_dir(dir).args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `file:line:col` of each error `klaxon check` printed, in order.
fn places(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.contains(": error: "))
        .map(|l| {
            let head = l.split(": error: ").next().unwrap();
            let file = Path::new(head).file_name().unwrap().to_string_lossy();
            file.into_owned()
        })
        .collect()
}

#[test]
fn r8_check_reports_every_problem_of_every_file_in_file_order() {
    let dir = setup(&[
        (
            "a.yaml",
            "name: a\nsource: app\nquery: x\nnotify: [nope]\n",
        ),
        (
            "b.yaml",
            "name: b\nsource: app\nquery: 'x AND ('\ntype: frequency\nthreshold: 0\nwindow: 0s\nnotify: [nope]\n",
        ),
        (
            "c.yaml",
            "name: c\nsource: app\nquery: x\ntreshold: 2\nwindw: 1m\nseverity: huge\nnotify: [out]\n",
        ),
    ]);
    let out = run_in(dir.path(), &["check", "-c", "klaxon.yaml"]);
    assert!(!out.status.success());
    let got = places(&out);
    assert_eq!(
        got,
        [
            "a.yaml:4:10",
            "b.yaml:3:16",
            "b.yaml:5:12",
            "b.yaml:6:9",
            "b.yaml:7:10",
            "c.yaml:4:1",
            "c.yaml:5:1",
            "c.yaml:6:11",
        ],
        "{}",
        stderr(&out)
    );
    let text = stderr(&out);
    assert!(
        text.contains("unknown key `treshold` for `type: any`"),
        "{text}"
    );
}

#[test]
fn r8_a_mismatch_side_must_name_a_defined_source() {
    let rule = "name: m\nsource: app\nquery: '*'\ntype: mismatch\nwindow: 1m\ngroup_by: [order]\n\
        left: {field: state}\nright: {source: othr, field: state}\nnotify: [out]\n";
    let dir = setup(&[("m.yaml", rule)]);
    let out = run_in(dir.path(), &["check", "-c", "klaxon.yaml"]);
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.contains("m.yaml:8:17: error: unknown source `othr`; did you mean `other`?"),
        "{text}"
    );
}

#[test]
fn r8_check_builds_every_channel() {
    let dir = setup(&[("a.yaml", "name: a\nsource: app\nquery: x\nnotify: [out]\n")]);
    let config = CONFIG.replace(
        "channels:\n  out: { type: console }\n",
        "channels:\n  out: { type: console }\n  mail:\n    type: email\n    smtp: { host: localhost }\n    from: not an address\n    to: [ops@example.com]\n",
    );
    write(&dir.path().join("klaxon.yaml"), &config);
    let out = run_in(dir.path(), &["check", "-c", "klaxon.yaml"]);
    assert!(!out.status.success(), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains("klaxon.yaml:17:5: error: channel `mail`: invalid `from`"),
        "{text}"
    );
}

#[test]
fn r8_durations_no_date_can_hold_are_refused_by_check_not_crashing_run() {
    for (key, value) in [
        ("realert", "100000000d"),
        ("allowed_lateness", "100000000d"),
        ("window", "18446744073709551615s1s"),
        ("window", "300000000000000d"),
    ] {
        let rule = format!(
            "name: f\nsource: app\nquery: x\ntype: flatline\nthreshold: 1\nwindow: 1m\nnotify: [out]\n{key}: {value}\n"
        )
        .replacen("window: 1m\n", if key == "window" { "" } else { "window: 1m\n" }, 1);
        let dir = setup(&[("f.yaml", &rule)]);
        let out = run_in(dir.path(), &["check", "-c", "klaxon.yaml"]);
        let text = stderr(&out);
        assert!(!out.status.success(), "{key}: {value}: {text}");
        assert!(text.contains("at most 3650d"), "{key}: {value}: {text}");
        assert!(!text.contains("panicked"), "{text}");
    }
}

/// The split-brain case of the review: one order, the app log and the logistics feed.
const MISMATCH: &str =
    "name: mm\nsource: app\nquery: 'state:*'\ntype: mismatch\nwindow: 1m\ngroup_by: [order]\n\
    left: {field: state}\nright: {source: other, field: state}\nrealert: 0s\nnotify: [out]\n";

#[test]
fn r8_test_merges_two_inputs_by_event_time_whatever_their_order() {
    let dir = setup(&[("mm.yaml", MISMATCH)]);
    write(
        &dir.path().join("logs/app.log"),
        "{\"ts\":\"2026-06-08T03:00:10Z\",\"order\":\"1\",\"state\":\"delivered\"}\n",
    );
    write(
        &dir.path().join("logs/other.log"),
        "{\"ts\":\"2026-06-08T03:00:05Z\",\"order\":\"1\",\"state\":\"in_transit\"}\n\
         {\"ts\":\"2026-06-08T03:00:20Z\",\"order\":\"1\",\"state\":\"delivered\"}\n",
    );
    let alerts = |args: &[&str]| {
        let mut all = vec!["test", "rules/mm.yaml", "--json"];
        all.extend(args);
        let out = run_in(dir.path(), &all);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let one = alerts(&["--input", "logs/app.log", "--input", "other=logs/other.log"]);
    let other = alerts(&["--input", "other=logs/other.log", "--input", "logs/app.log"]);
    assert_eq!(one, other);
    assert_eq!(
        one.lines().count(),
        1,
        "in_transit at :05 vs delivered at :10: {one}"
    );
}

#[test]
fn r8_test_counts_late_events_and_dates_clock_fired_alerts_at_their_deadline() {
    let rule = "name: ghost\nsource: app\nquery: 'event:created OR event:paid'\ntype: absence\n\
        start: 'event:created'\nexpect: 'event:paid'\nwithin: 1m\ngroup_by: [order]\nnotify: [out]\n";
    let dir = setup(&[("ghost.yaml", rule)]);
    // Order 1 is created at 03:00:00; 1,100 other orders are paid over the next 5.5
    // minutes; order 1's payment, dated 03:00:30, is written last: by then (a later batch
    // of 1,024 lines) the clock is far past its deadline, and `run` drops it as late too.
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-06-08T03:00:00Z").unwrap();
    let at = |ms: i64| (t0 + chrono::Duration::milliseconds(ms)).to_rfc3339();
    let mut log = format!(
        "{{\"ts\":\"{}\",\"event\":\"created\",\"order\":\"1\"}}\n",
        at(0)
    );
    for i in 1..=1100 {
        log.push_str(&format!(
            "{{\"ts\":\"{}\",\"event\":\"paid\",\"order\":\"n{i}\"}}\n",
            at(i * 300)
        ));
    }
    log.push_str(&format!(
        "{{\"ts\":\"{}\",\"event\":\"paid\",\"order\":\"1\"}}\n",
        at(30_000)
    ));
    write(&dir.path().join("logs/app.log"), &log);
    let out = run_in(
        dir.path(),
        &[
            "test",
            "rules/ghost.yaml",
            "--input",
            "logs/app.log",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let alerts: Vec<serde_json::Value> = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["key"]["order"], "1");
    // The deadline passed at 03:01:00; with 30 s allowed lateness a live Klaxon would
    // have fired at 03:01:30, not when the batch that noticed it ended.
    assert_eq!(
        alerts[0]["fired_at"],
        "2026-06-08T03:01:30+00:00".replace("+00:00", ".000Z")
    );
    assert!(
        stderr(&out).contains("(1 of them dropped as later than `allowed_lateness`)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn r8_test_with_a_config_refuses_what_run_refuses() {
    let dir = setup(&[("a.yaml", "name: a\nsource: app\nquery: x\nnotify: [nope]\n")]);
    write(&dir.path().join("logs/app.log"), "{\"message\":\"x\"}\n");
    let out = run_in(
        dir.path(),
        &["test", "rules/a.yaml", "--input", "logs/app.log"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown channel `nope`"),
        "{}",
        stderr(&out)
    );
    // --no-config reads the file as described on the command line instead.
    let out = run_in(
        dir.path(),
        &[
            "test",
            "rules/a.yaml",
            "--input",
            "logs/app.log",
            "--no-config",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 matched the query"),
        "{}",
        stderr(&out)
    );
}

fn frequency(name: &str, extra: &str) -> String {
    format!(
        "name: {name}\nsource: app\nquery: 'level:ERROR'\ntype: frequency\nthreshold: 9\nwindow: 1h\n\
         group_by: [sku]\nnotify: [out]\n{extra}"
    )
}

fn spawn_info(dir: &Path) -> Klaxon {
    Klaxon::spawn(
        klaxon()
            .current_dir(dir)
            .env("KLAXON_LOG", "info")
            .args(["run", "-c", "klaxon.yaml"])
            .stdout(Stdio::null()),
    )
}

#[test]
fn r8_a_reloaded_max_keys_applies_at_once_and_a_taken_name_is_refused() {
    let dir = setup(&[("b.yaml", &frequency("x", ""))]);
    let root = dir.path();
    let log = root.join("logs/app.log");
    append_lines(&log, &["{\"level\":\"INFO\"}"]);
    let child = spawn_info(root);
    wait_handled(&root.join("state"), "app", &log);
    let minute = Duration::from_secs(60);

    write(&root.join("rules/b.yaml"), &frequency("x", "max_keys: 1\n"));
    wait_until("the reload of b.yaml", minute, || {
        child.stderr().contains("rule file reloaded")
    });
    for sku in ["A", "B", "C", "D"] {
        append_lines(
            &log,
            &[&format!("{{\"level\":\"ERROR\",\"sku\":\"{sku}\"}}")],
        );
    }
    wait_until(
        "the rule to evict keys over its new max_keys",
        minute,
        || child.stderr().contains("evicted=3"),
    );

    // A new file whose rule takes the running rule's name is refused; x keeps running.
    write(&root.join("rules/a.yaml"), &frequency("x", ""));
    wait_until("the clash to be refused", minute, || {
        child.stderr().contains("its rule name is already used")
    });
    assert!(child.stderr().contains("a.yaml"), "{}", child.stderr());
    let check = run_in(root, &["check", "-c", "klaxon.yaml"]);
    assert!(
        !check.status.success(),
        "the clash is an error for check too"
    );
    drop(child);
}
