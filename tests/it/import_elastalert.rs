//! `klaxon import elastalert` over a corpus of ElastAlert 2 rule files: the output checked
//! in under `elastalert/expected/` (rewrite it with `KLAXON_BLESS=1`), every converted file
//! passing `klaxon check`, no secret copied, and converted rules firing on the events
//! ElastAlert's semantics (docs/MIGRATING.md) fire on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::binary::klaxon;
use crate::support::write;

/// The fake secrets the corpus holds; none may reach any output.
const SECRETS: &[&str] = &[
    "XXXXSECRETXXXX",
    "YYYYSECRETYYYY",
    "ZZZZSECRETZZZZ",
    "dingtalk-secret-token-123",
    "dingtalk-sign-secret-456",
    "post-secret-bearer-789",
    "post-static-apikey-secret-000",
    "post2-secret-basic-abc",
    "pagerduty-secret-key-111",
    "telegram-secret-token-222",
    "es-secret-password-333",
];

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/elastalert")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The `!file` lists the corpus names, so converted list rules can be checked.
fn write_list_files() {
    let lists = Path::new("/tmp/klaxon-import-lists");
    std::fs::create_dir_all(lists).unwrap();
    for (name, text) in [
        ("banned_ips.txt", "10.6.6.6\n"),
        ("tor_exit_nodes.txt", "10.7.7.7\n"),
        ("admins.txt", "root\n# comment\nalice\n"),
    ] {
        std::fs::write(lists.join(name), text).unwrap();
    }
    for name in ["blacklist1", "blacklist2", "whitelist1", "whitelist2"] {
        std::fs::write(format!("/tmp/{name}.txt"), "value\n").unwrap();
    }
}

fn import(dir: &Path, args: &[&str]) -> Output {
    klaxon()
        .current_dir(dir)
        .args(["import", "elastalert"])
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Every file under `dir`, by path relative to it.
fn files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

/// `${NAME}` references in `text`.
fn env_refs(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        rest = &rest[i + 2..];
        let end = rest.find('}').unwrap();
        let name = &rest[..end];
        if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_corpus_converts_to_the_checked_in_output_and_passes_check() {
    write_list_files();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&here().join("corpus"), &dir.path().join("elastalert"));
    let out = import(dir.path(), &["elastalert", "--out", "rules"]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    // Some corpus files cannot be converted (percentage_match, geo_distance, broken YAML).
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let mut produced = files(&dir.path().join("rules"));
    let converted = produced.len();
    produced = produced
        .into_iter()
        .map(|(k, v)| (format!("rules/{k}"), v))
        .collect();
    produced.insert("klaxon.yaml".into(), stdout.clone());
    produced.insert("report.txt".into(), stderr.clone());

    let expected_dir = here().join("expected");
    if std::env::var_os("KLAXON_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(&expected_dir);
        for (rel, body) in &produced {
            let path = expected_dir.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
    }
    let expected = files(&expected_dir);
    assert_eq!(
        produced.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the converted files differ from tests/it/elastalert/expected (KLAXON_BLESS=1 rewrites it)"
    );
    for (rel, body) in &produced {
        assert_eq!(
            body, &expected[rel],
            "{rel} differs from the checked-in expectation"
        );
    }

    // The corpus is large enough, and every file is accounted for: converted or refused.
    let corpus = files(&dir.path().join("elastalert"));
    let rule_files: Vec<&String> = corpus.keys().filter(|k| k.ends_with(".yaml")).collect();
    assert!(rule_files.len() >= 40, "{} corpus files", rule_files.len());
    for file in &rule_files {
        let stem = file.trim_end_matches(".yaml");
        let converted = produced.keys().any(|k| {
            k.strip_prefix("rules/")
                .is_some_and(|r| r == format!("{stem}.yaml") || r.starts_with(&format!("{stem}-")))
        });
        let refused = stderr.contains(&format!("elastalert/{file}:")) && stderr.contains("error:");
        assert!(
            converted || refused,
            "{file} was neither converted nor refused"
        );
        if converted {
            let body = produced
                .get(&format!("rules/{stem}.yaml"))
                .or_else(|| produced.get(&format!("rules/{stem}-1.yaml")))
                .unwrap();
            let source = Path::new(file)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            assert!(
                body.starts_with(&format!("# Converted from the ElastAlert 2 rule {source} ")),
                "{file}: {body}"
            );
        }
    }
    assert!(converted >= 60, "only {converted} rule files");
    // Broken YAML is refused at its line and column.
    assert!(
        stderr.contains("elastalert/broken_yaml.yaml:15:10: error:"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "elastalert/filter_geo_distance_unconvertible.yaml:8:3: error: `filter.1.geo_distance`"
        ),
        "{stderr}"
    );

    // No secret is copied anywhere: rules, klaxon.yaml, report.
    for (rel, body) in &produced {
        for secret in SECRETS {
            assert!(!body.contains(secret), "{rel} holds the secret {secret}");
        }
    }
    let names = env_refs(&stdout);
    assert!(names.contains(&"SLACK_WEBHOOK_URL".to_string()), "{stdout}");
    assert!(names.contains(&"ES_PASSWORD".to_string()), "{stdout}");
    // Three distinct Slack webhooks in the corpus: three variables, not one per rule.
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("SLACK_WEBHOOK_URL"))
            .count(),
        3,
        "{names:?}"
    );

    // Every converted file passes `klaxon check` with the klaxon.yaml printed beside it.
    write(&dir.path().join("klaxon.yaml"), &stdout);
    let mut check = klaxon();
    check
        .current_dir(dir.path())
        .args(["check", "-c", "klaxon.yaml"]);
    for name in &names {
        check.env(
            name,
            format!("https://example.invalid/{}", name.to_lowercase()),
        );
    }
    let checked = check.output().unwrap();
    let report = text(&checked.stderr);
    assert!(checked.status.success(), "klaxon check failed:\n{report}");
    assert!(
        text(&checked.stdout).contains(&format!("ok ({converted} rules")),
        "{}",
        text(&checked.stdout)
    );
    assert!(!report.contains("error"), "{report}");
}

#[test]
fn existing_rule_files_are_not_replaced_without_force() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("ea/one.yaml"),
        "name: one\ntype: any\nindex: logs-*\nfilter: [{term: {level: ERROR}}]\nalert: debug\n",
    );
    assert!(import(dir.path(), &["ea", "--out", "rules"])
        .status
        .success());
    write(&dir.path().join("rules/one.yaml"), "# mine\n");
    let again = import(dir.path(), &["ea", "--out", "rules"]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("rules/one.yaml"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("rules/one.yaml")).unwrap(),
        "# mine\n"
    );
    assert!(import(dir.path(), &["ea", "--out", "rules", "--force"])
        .status
        .success());
    let body = std::fs::read_to_string(dir.path().join("rules/one.yaml")).unwrap();
    assert!(body.contains("query: level:\"ERROR\""), "{body}");
}

#[test]
fn global_config_supplies_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("config.yaml"),
        "es_host: es.internal\nes_port: 9243\nuse_ssl: true\nes_username: ea\nes_password: hunter2-secret\nbuffer_time: {minutes: 15}\nrun_every: {seconds: 30}\n",
    );
    write(
        &dir.path().join("ea/m.yaml"),
        "name: m\ntype: metric_aggregation\nindex: logs-*\nmetric_agg_key: ms\nmetric_agg_type: avg\nmax_threshold: 100\nfilter: []\nalert: debug\n",
    );
    let out = import(
        dir.path(),
        &["ea", "--config", "config.yaml", "--out", "rules"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    assert!(yaml.contains("urls: [https://es.internal:9243]"), "{yaml}");
    assert!(yaml.contains("password: ${ES_PASSWORD}"), "{yaml}");
    assert!(yaml.contains("poll_interval: 30s"), "{yaml}");
    assert!(!yaml.contains("hunter2"), "{yaml}");
    let rule = std::fs::read_to_string(dir.path().join("rules/m.yaml")).unwrap();
    assert!(rule.contains("window: 15m"), "{rule}");
    assert!(rule.contains("query: '*:*'"), "{rule}");
}

// ---------------------------------------------------------------------------------------
// Same events, same alerts: converted rules against ElastAlert's semantics as MIGRATING.md
// describes them, run live (its wall clock is the events' time).

/// One log event: time in ms from t0, fields.
struct Ev {
    ms: i64,
    level: &'static str,
    sku: &'static str,
    ip: &'static str,
}

const T0: i64 = 1_780_000_000_000;

fn stamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(T0 + ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn log_of(events: &[Ev]) -> String {
    events
        .iter()
        .map(|e| {
            format!(
                "{}\n",
                serde_json::json!({"@timestamp": stamp(e.ms), "level": e.level, "sku": e.sku, "ip": e.ip})
            )
        })
        .collect()
}

/// A deterministic stream: 400 events over about 40 minutes, times with milliseconds.
fn stream() -> Vec<Ev> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut ms = 0;
    (0..400)
        .map(|_| {
            ms += (next() % 12_000) as i64 + 1;
            let r = next();
            Ev {
                ms,
                level: ["ERROR", "ERROR", "INFO"][(r % 3) as usize],
                sku: ["A", "B", "C"][((r >> 8) % 3) as usize],
                ip: ["10.0.0.1", "10.6.6.6", "10.0.0.2", "10.6.6.7"][((r >> 16) % 4) as usize],
            }
        })
        .collect()
}

/// ElastAlert's frequency rule: per query_key an EventWindow that drops its oldest event
/// while `last - first >= timeframe`; at `num_events` it matches and the window is
/// emptied; an alert for a key is held back until `realert` after the last one sent.
fn elastalert_frequency(
    events: &[Ev],
    n: usize,
    timeframe: i64,
    realert: i64,
) -> Vec<(String, i64)> {
    let mut windows: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut silenced_until: BTreeMap<&str, i64> = BTreeMap::new();
    let mut alerts = Vec::new();
    for e in events.iter().filter(|e| e.level == "ERROR") {
        let w = windows.entry(e.sku).or_default();
        w.push(e.ms);
        while w.last().unwrap() - w[0] >= timeframe {
            w.remove(0);
        }
        if w.len() >= n {
            w.clear();
            if silenced_until.get(e.sku).is_none_or(|until| e.ms >= *until) {
                alerts.push((e.sku.to_string(), e.ms));
                silenced_until.insert(e.sku, e.ms + realert);
            }
        }
    }
    alerts
}

/// ElastAlert's any rule: every match, held back per query_key for `realert`.
fn elastalert_any(events: &[Ev], realert: i64) -> Vec<(String, i64)> {
    let mut silenced_until: BTreeMap<&str, i64> = BTreeMap::new();
    let mut alerts = Vec::new();
    for e in events.iter().filter(|e| e.level == "ERROR") {
        if silenced_until.get(e.sku).is_none_or(|until| e.ms >= *until) {
            alerts.push((e.sku.to_string(), e.ms));
            silenced_until.insert(e.sku, e.ms + realert);
        }
    }
    alerts
}

/// ElastAlert's blacklist rule: an event whose compare_key is listed; realert 0.
fn elastalert_blacklist(events: &[Ev], listed: &[&str]) -> Vec<(String, i64)> {
    events
        .iter()
        .filter(|e| listed.contains(&e.ip))
        .map(|e| (e.ip.to_string(), e.ms))
        .collect()
}

/// Converts `rule` (ElastAlert YAML), replays `events` through it, and returns the alerts
/// as (key value, ms from t0).
fn klaxon_alerts(
    rule: &str,
    events: &[Ev],
    key_field: &str,
    edit: impl Fn(String) -> String,
) -> Vec<(String, i64)> {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("ea/rule.yaml"), rule);
    let out = import(dir.path(), &["ea", "--out", "rules"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let converted = dir.path().join("rules/rule.yaml");
    let body = edit(std::fs::read_to_string(&converted).unwrap());
    write(&converted, &body);
    write(&dir.path().join("logs/app.log"), &log_of(events));
    let replay = klaxon()
        .current_dir(dir.path().join("logs"))
        .args(["test"])
        .arg(&converted)
        .args([
            "--input",
            "app.log",
            "--format",
            "json",
            "--time-field",
            "@timestamp",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}\n{body}", text(&replay.stderr));
    text(&replay.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let alert: serde_json::Value = serde_json::from_str(l).unwrap();
            let fired = chrono::DateTime::parse_from_rfc3339(alert["fired_at"].as_str().unwrap())
                .unwrap()
                .timestamp_millis()
                - T0;
            let key = alert["key_fields"]
                .as_array()
                .and_then(|k| k.iter().find(|f| f["field"] == key_field))
                .and_then(|f| f["value"].as_str())
                .map(str::to_string)
                .or_else(|| {
                    let sample: serde_json::Value =
                        serde_json::from_str(alert["sample"].as_str()?).ok()?;
                    Some(sample[key_field].as_str()?.to_string())
                })
                .unwrap_or_default();
            (key, fired)
        })
        .collect()
}

const FREQUENCY: &str = "name: order-errors\ntype: frequency\nindex: logs-*\nnum_events: 3\n\
    timeframe: {minutes: 1}\nquery_key: sku\nrealert: {minutes: 2}\n\
    filter: [{term: {level: ERROR}}]\nalert: debug\n";

#[test]
fn a_converted_frequency_rule_fires_where_elastalert_does() {
    let events = stream();
    let expected = elastalert_frequency(&events, 3, 60_000, 120_000);
    assert!(
        expected.len() >= 5,
        "the stream should fire several times: {expected:?}"
    );
    assert_eq!(klaxon_alerts(FREQUENCY, &events, "sku", |b| b), expected);
}

#[test]
fn an_event_exactly_timeframe_old_counts_in_klaxon_not_in_elastalert() {
    // MIGRATING.md: Klaxon's window includes its far edge; `window` less one millisecond
    // reproduces ElastAlert.
    let events: Vec<Ev> = [0, 30_000, 60_000]
        .into_iter()
        .map(|ms| Ev {
            ms,
            level: "ERROR",
            sku: "A",
            ip: "10.0.0.1",
        })
        .collect();
    assert_eq!(elastalert_frequency(&events, 3, 60_000, 120_000), vec![]);
    assert_eq!(
        klaxon_alerts(FREQUENCY, &events, "sku", |b| b),
        vec![("A".into(), 60_000)]
    );
    let reproduced = klaxon_alerts(FREQUENCY, &events, "sku", |b| {
        b.replace("window: 1m", "window: 59s999ms")
    });
    assert_eq!(reproduced, vec![]);
}

#[test]
fn a_converted_any_rule_fires_where_elastalert_does() {
    let rule = "name: errors\ntype: any\nindex: logs-*\nquery_key: sku\nrealert: {minutes: 3}\n\
        filter: [{query: {query_string: {query: 'level:ERROR'}}}]\nalert: debug\n";
    let events = stream();
    let expected = elastalert_any(&events, 180_000);
    assert!(expected.len() >= 10, "{expected:?}");
    assert_eq!(klaxon_alerts(rule, &events, "sku", |b| b), expected);
}

#[test]
fn a_converted_blacklist_rule_fires_where_elastalert_does() {
    let rule = "name: banned\ntype: blacklist\nindex: logs-*\ncompare_key: ip\n\
        blacklist: ['10.6.6.6', '10.6.6.7']\nrealert: {minutes: 0}\nfilter: []\nalert: debug\n";
    let events = stream();
    let expected = elastalert_blacklist(&events, &["10.6.6.6", "10.6.6.7"]);
    assert!(expected.len() >= 100, "{}", expected.len());
    assert_eq!(klaxon_alerts(rule, &events, "ip", |b| b), expected);
}

#[test]
fn hostile_text_in_a_rule_file_stays_text() {
    // A name that tries to end its line, a description that looks like an environment
    // reference, a filter value that tries to widen the query: all stay literal.
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("ea/evil.yaml"),
        "name: \"x'\\n# notify: [all]\\nquery: '*:*'\"\n\
         description: 'reads ${HOME} and $${X}'\n\
         type: any\nindex: \"logs-*\\ntype: file\"\n\
         filter: [{term: {user: 'a\" OR *:* OR \"b'}}]\nalert: debug\n",
    );
    let out = import(dir.path(), &["ea", "--out", "rules"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let body = std::fs::read_to_string(dir.path().join("rules/evil.yaml")).unwrap();
    let parsed: serde_json::Value = serde_saphyr::from_str(&body).unwrap();
    assert_eq!(parsed["name"], "x'\n# notify: [all]\nquery: '*:*'");
    assert_eq!(parsed["notify"], serde_json::json!(["console"]));
    write(&dir.path().join("klaxon.yaml"), &text(&out.stdout));
    let check = klaxon()
        .current_dir(dir.path())
        .args(["check", "-c", "klaxon.yaml"])
        .env("HOME", "/should/not/appear")
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    // The query matches only the literal value.
    let rule = dir.path().join("rules/evil.yaml");
    write(
        &dir.path().join("app.log"),
        "{\"user\":\"a\\\" OR *:* OR \\\"b\",\"@timestamp\":\"2026-01-01T00:00:00Z\"}\n{\"user\":\"other\",\"@timestamp\":\"2026-01-01T00:00:01Z\"}\n",
    );
    let replay = klaxon()
        .current_dir(dir.path())
        .arg("test")
        .arg(&rule)
        .args(["--no-config", "--input", "app.log", "--format", "json"])
        .args(["--time-field", "@timestamp", "--json"])
        .output()
        .unwrap();
    let alerts = text(&replay.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .count();
    assert_eq!(
        alerts,
        1,
        "{}{}",
        text(&replay.stdout),
        text(&replay.stderr)
    );
    let desc = parsed["description"].as_str().unwrap();
    assert_eq!(
        desc, "reads $${HOME} and $$${X}",
        "written escaped; Klaxon reads it back literally"
    );
}
