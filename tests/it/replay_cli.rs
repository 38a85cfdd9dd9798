//! `klaxon test` as a user runs it: the input read as klaxon.yaml's source reads it, in
//! event time, with a report of what was read, matched and raised.

use std::path::Path;
use std::process::Output;

use crate::support::binary::klaxon;
use crate::support::write;

const CONFIG: &str = "sources:\n  gw:\n    type: file\n    include: [\"logs/*.log\"]\n    format: logfmt\n    time_field: time\n\
    channels:\n  out: { type: console }\nfields:\n  time: date\nrules: rules\n";

/// A year-old logfmt log: two errors for A-7 twenty seconds apart, one info line.
const LOG: &str =
    "time=2025-06-08T03:00:00Z level=ERROR msg=\"payment callback timed out\" sku=A-7\n\
time=2025-06-08T03:00:10Z level=INFO msg=\"order paid\" sku=A-1\n\
time=2025-06-08T03:00:20Z level=ERROR msg=\"payment callback timed out\" sku=A-7";

const RULE: &str =
    "name: gw-errors\nsource: gw\nquery: 'level:ERROR AND time:>now-1m'\ntype: frequency\n\
    threshold: 2\nwindow: 1m\ngroup_by: [sku]\nnotify: [out]\n";

fn setup(dir: &Path) {
    write(&dir.join("klaxon.yaml"), CONFIG);
    write(&dir.join("rules/gw.yaml"), RULE);
    write(&dir.join("logs/gw.log"), LOG);
}

fn test_cmd(dir: &Path, args: &[&str]) -> Output {
    klaxon()
        .current_dir(dir)
        .arg("test")
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_input_is_read_as_the_source_reads_it_in_event_time() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    // ./klaxon.yaml is used when present: logfmt fields, `time` as event time and a date.
    let out = test_cmd(
        dir.path(),
        &["rules/gw.yaml", "--input", "logs/gw.log", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let alerts: Vec<serde_json::Value> = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // `now-1m` is the time of the line being handled, not today: a year-old log matches.
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["key"]["sku"], "A-7");
    assert_eq!(alerts[0]["count"], 2);
    // It would have fired when its second line was written (the last line has no `\n`:
    // the file is complete, so it counts).
    assert_eq!(alerts[0]["fired_at"], "2025-06-08T03:00:20.000Z");
    let report = stderr(&out);
    assert!(
        report.contains("3 line(s) read from logs/gw.log"),
        "{report}"
    );
    assert!(
        report.contains("2 matched the query of `gw-errors`; 1 alert(s)"),
        "{report}"
    );
}

#[test]
fn without_a_config_the_shortcut_flags_describe_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("rules/gw.yaml"), RULE);
    write(&dir.path().join("logs/gw.log"), LOG);
    // Read as plain lines the events have no `level` field: nothing matches.
    let plain = test_cmd(dir.path(), &["rules/gw.yaml", "--input", "logs/gw.log"]);
    assert!(plain.status.success(), "{}", stderr(&plain));
    assert!(
        stderr(&plain).contains("0 matched the query"),
        "{}",
        stderr(&plain)
    );
    let logfmt = test_cmd(
        dir.path(),
        &[
            "rules/gw.yaml",
            "--input",
            "logs/gw.log",
            "--format",
            "logfmt",
            "--time-field",
            "time",
        ],
    );
    assert!(logfmt.status.success(), "{}", stderr(&logfmt));
    // Without `fields:` nothing says `time` is a date; with the date clause gone, both
    // errors match once the lines are read as logfmt.
    write(
        &dir.path().join("rules/gw.yaml"),
        &RULE.replace(" AND time:>now-1m", ""),
    );
    let logfmt = test_cmd(
        dir.path(),
        &[
            "rules/gw.yaml",
            "--input",
            "logs/gw.log",
            "--format",
            "logfmt",
        ],
    );
    assert!(
        stderr(&logfmt).contains("2 matched the query"),
        "{}",
        stderr(&logfmt)
    );
}

#[test]
fn shortcut_flags_are_refused_next_to_a_config() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let out = test_cmd(
        dir.path(),
        &[
            "rules/gw.yaml",
            "--input",
            "logs/gw.log",
            "--format",
            "json",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--format only applies without a klaxon.yaml"),
        "{}",
        stderr(&out)
    );
    let unknown = test_cmd(
        dir.path(),
        &["rules/gw.yaml", "--input", "nope=logs/gw.log"],
    );
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("source `nope` is not defined"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn log_text_cannot_forge_a_line_or_a_terminal_escape() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let hostile = "time=2025-06-08T03:00:00Z level=ERROR sku=\"A\u{1b}[2J\" msg=\"x\ny\"\n\
                   time=2025-06-08T03:00:01Z level=ERROR sku=\"A\u{1b}[2J\" msg=\"forged\"\n";
    write(&dir.path().join("logs/gw.log"), hostile);
    write(
        &dir.path().join("rules/gw.yaml"),
        &RULE.replace(" AND time:>now-1m", ""),
    );
    let out = test_cmd(dir.path(), &["rules/gw.yaml", "--input", "logs/gw.log"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    // One alert: a header line and its sample line, nothing more.
    assert_eq!(stdout.lines().count(), 2, "{stdout:?}");
}
