//! Issue 14, `type: http_json` through the binary: `klaxon run` polls a real HTTP listener,
//! a `metric` rule over a picked number fires and resolves, a `flatline` rule says when the
//! endpoint stops answering (logged once, without the token) and when it is back;
//! `klaxon run --once` polls once; `klaxon check` accepts good polled sources and places
//! bad ones; `klaxon test` says a polled source cannot be replayed.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::binary::{klaxon, Klaxon};
use crate::support::endpoint::{Behaviour, Endpoint};
use crate::support::http::Recorder;
use crate::support::{state, wait_until, write};

const TOKEN: &str = "tok-0123456789-secret";

fn workers(w2_pending: u64) -> String {
    serde_json::json!({"workers": [
        {"name": "w1", "state": "ok", "queue": {"pending": 3}},
        {"name": "w2", "state": if w2_pending > 100 { "stuck" } else { "ok" }, "queue": {"pending": w2_pending}}
    ]})
    .to_string()
}

fn config(dir: &Path, url: &str, channels: &str) {
    write(
        &dir.join("klaxon.yaml"),
        &format!(
            "sources:\n  gateway:\n    type: http_json\n    url: {url}\n    headers:\n      Authorization: Bearer ${{GATEWAY_TOKEN}}\n    interval: 300ms\n    timeout: 2s\n    items: /workers\n    fields: {{worker: /name, pending: /queue/pending, state: /state}}\n\
             channels:\n{channels}rules: rules\nstate_dir: state\nshutdown_timeout: 2s\ngrouping: {{group_interval: 1s}}\n"
        ),
    );
}

/// (rule, worker, status) of what the webhook was told.
fn told(hook: &Endpoint) -> Vec<(String, String, String)> {
    hook.accepted_bodies()
        .into_iter()
        .flat_map(|body| match body.get("alerts") {
            Some(list) => list.as_array().cloned().unwrap_or_default(),
            None => vec![body],
        })
        .map(|a| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                text(&a["rule"]),
                text(&a["key"]["worker"]),
                a["status"].as_str().unwrap_or("firing").to_string(),
            )
        })
        .collect()
}

fn of(hook: &Endpoint, rule: &str) -> Vec<(String, String)> {
    told(hook)
        .into_iter()
        .filter(|t| t.0 == rule)
        .map(|t| (t.1, t.2))
        .collect()
}

fn pair(worker: &str, status: &str) -> (String, String) {
    (worker.to_string(), status.to_string())
}

#[test]
fn a_polled_endpoint_drives_metric_and_flatline_rules_through_klaxon_run() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gateway = rt.block_on(Recorder::start(&workers(912)));
    let hook = rt.block_on(Endpoint::start(Behaviour::Ok));
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        &gateway.url("/admin/status?verbose=1"),
        &format!(
            "  ops:\n    type: webhook\n    url: {}\n",
            hook.url("/hook")
        ),
    );
    write(
        &dir.path().join("rules/pending.yaml"),
        "name: pending\nsource: gateway\nquery: 'pending:*'\ntype: metric\nfield: pending\nmetric: max\nabove: 100\n\
         window: 1s\ngroup_by: [worker]\nnotify: [ops]\n",
    );
    write(
        &dir.path().join("rules/quiet.yaml"),
        "name: gateway-quiet\nsource: gateway\nquery: 'worker:*'\ntype: flatline\nthreshold: 1\nwindow: 2s\n\
         allowed_lateness: 0s\nnotify: [ops]\n",
    );
    let klaxon = Klaxon::spawn(
        klaxon()
            .current_dir(dir.path())
            .args(["run", "-c", "klaxon.yaml"])
            .env("GATEWAY_TOKEN", TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    );
    wait_until("w2's pending alert", Duration::from_secs(20), || {
        of(&hook, "pending") == [pair("w2", "firing")]
    });
    let asked = gateway.requests();
    assert_eq!(asked[0].path_and_query, "/admin/status?verbose=1");
    assert_eq!(
        asked[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );

    gateway.reply(200, &[], &workers(0));
    wait_until("w2 resolved", Duration::from_secs(20), || {
        of(&hook, "pending") == [pair("w2", "firing"), pair("w2", "resolved")]
    });

    // The endpoint fails, echoing the token as some error pages do.
    gateway.reply(500, &[], &format!("upstream down (Bearer {TOKEN})"));
    wait_until("the quiet alert", Duration::from_secs(20), || {
        of(&hook, "gateway-quiet") == [pair("", "firing")]
    });
    gateway.reply(200, &[], &workers(0));
    wait_until("the quiet alert resolved", Duration::from_secs(20), || {
        of(&hook, "gateway-quiet") == [pair("", "firing"), pair("", "resolved")]
    });
    let log = klaxon.stderr();
    drop(klaxon);
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("failed")).collect();
    assert_eq!(failed.len(), 1, "once per streak:\n{log}");
    let shown = format!("polling http://{}/admin/status failed: HTTP 500 Internal Server Error: upstream down (***)", gateway.addr);
    assert!(failed[0].contains(&shown), "{log}");
    assert!(!log.contains(TOKEN), "{log}");
    assert!(!log.contains("verbose"), "the query is not shown: {log}");
    assert_eq!(told(&hook).len(), 4, "nothing else: {:?}", told(&hook));
}

#[test]
fn run_once_polls_once_and_records_what_it_found() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gateway = rt.block_on(Recorder::start(&workers(912)));
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        &gateway.url("/s"),
        "  ops:\n    type: console\n",
    );
    write(
        &dir.path().join("rules/stuck.yaml"),
        "name: stuck\nsource: gateway\nquery: 'state:stuck'\ngroup_by: [worker]\nnotify: [ops]\n",
    );
    let done = Klaxon::spawn(
        klaxon()
            .current_dir(dir.path())
            .args(["run", "--once", "-c", "klaxon.yaml"])
            .env("GATEWAY_TOKEN", TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )
    .finish(Duration::from_secs(30), "klaxon run --once to exit");
    assert!(done.status.success(), "{}", done.stderr);
    assert_eq!(gateway.requests().len(), 1);
    let alerts = state::alerts(&dir.path().join("state"));
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].rule, "stuck");
    assert!(
        alerts[0].sample.contains(r#""worker":"w2""#),
        "{}",
        alerts[0].sample
    );
}

fn check(dir: &Path) -> Output {
    klaxon()
        .current_dir(dir)
        .args(["check", "-c", "klaxon.yaml"])
        .env("GATEWAY_TOKEN", TOKEN)
        .output()
        .unwrap()
}

fn said(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn check_accepts_polled_sources_and_places_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = "sources:\n  gateway:\n    type: http_json\n    url: https://gw.example.com/status\n    headers: {Authorization: Bearer ${GATEWAY_TOKEN}}\n    fields: {depth: /queue/depth, all: \"\"}\n\
                \x20 rabbit:\n    type: rabbitmq\n    url: http://127.0.0.1:15672\n    username: guest\n    password: ${GATEWAY_TOKEN}\n    vhost: orders\n    queues: [\"orders.*\", \"/^pay/\", audit]\n\
                channels:\n  ops: {type: console}\nrules: rules\nstate_dir: state\n";
    write(&dir.path().join("klaxon.yaml"), good);
    write(
        &dir.path().join("rules/depth.yaml"),
        "name: depth\nsource: gateway\nquery: 'depth:>10'\nnotify: [ops]\n",
    );
    let out = check(dir.path());
    assert!(out.status.success(), "{}", said(&out));

    // Each problem at its line and column (the values are on lines 4 to 9 below).
    let cases: &[(&str, &str)] = &[
        ("    url: ftp://gw/status\n", "klaxon.yaml:4:10: error: invalid URL: the scheme must be http or https, not `ftp`"),
        ("    url: not a url\n", "klaxon.yaml:4:10: error: invalid URL: relative URL without a base"),
        ("    fields: {}\n", "klaxon.yaml:5:13: error: source `gateway`: `fields` must name at least one field"),
        ("    fields: {depth: queue/depth}\n", "klaxon.yaml:5:21: error: `queue/depth` is not a JSON pointer"),
        ("    fields: {depth: /a~2b}\n", "klaxon.yaml:5:21: error: `/a~2b` is not a JSON pointer: `~` must be followed by 0"),
        ("    interval: 0s\n", "klaxon.yaml:6:15: error: source `gateway`: `interval` must be longer than 0s"),
        ("    timeout: 0s\n", "klaxon.yaml:6:14: error: source `gateway`: `timeout` must be longer than 0s"),
        ("    headers: {\"bad header\": x}\n", "klaxon.yaml:6:14: error: source `gateway`: `headers`: `bad header` is not a header name"),
        ("    method: POST\n", "klaxon.yaml:6:5: error: unknown field `method`"),
    ];
    for (line, expected) in cases {
        let mut yaml = String::from(
            "sources:\n  gateway:\n    type: http_json\n    url: http://gw/status\n    fields: {depth: /d}\n",
        );
        if line.contains("url:") {
            yaml = yaml.replace("    url: http://gw/status\n", line);
        } else if line.contains("fields:") {
            yaml = yaml.replace("    fields: {depth: /d}\n", line);
        } else {
            yaml.push_str(line);
        }
        yaml.push_str("channels:\n  ops: {type: console}\nrules: rules\nstate_dir: state\n");
        write(&dir.path().join("klaxon.yaml"), &yaml);
        let out = check(dir.path());
        assert!(!out.status.success(), "accepted:\n{yaml}");
        assert!(
            said(&out).contains(expected),
            "{expected}\n---\n{}\n---\n{yaml}",
            said(&out)
        );
    }
    let yaml = "sources:\n  rabbit:\n    type: rabbitmq\n    url: http://127.0.0.1:15672\n    username: guest\n    password: guest\n    queues: [\"/(/\"]\n\
                channels:\n  ops: {type: console}\nrules: rules\nstate_dir: state\n";
    write(&dir.path().join("klaxon.yaml"), yaml);
    let out = check(dir.path());
    assert!(
        said(&out).contains("klaxon.yaml:7:14: error: invalid regex `(`: unclosed group"),
        "{}",
        said(&out)
    );
}

#[test]
fn klaxon_test_says_a_polled_source_cannot_be_replayed() {
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        "http://127.0.0.1:9/s",
        "  ops:\n    type: console\n",
    );
    write(
        &dir.path().join("rules/stuck.yaml"),
        "name: stuck\nsource: gateway\nquery: 'state:stuck'\nnotify: [ops]\n",
    );
    write(
        &dir.path().join("events.jsonl"),
        "{\"ts\":\"2026-06-08T03:00:00Z\",\"state\":\"stuck\"}\n",
    );
    let out = klaxon()
        .current_dir(dir.path())
        .args(["test", "rules/stuck.yaml", "--input", "events.jsonl"])
        .env("GATEWAY_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = said(&out);
    assert!(
        text.contains("source `gateway` (klaxon.yaml) cannot be replayed: it is a polled source (`type: http_json`)"),
        "{text}"
    );
    assert!(text.contains("--no-config"), "{text}");
    // What it suggests works.
    let out = klaxon()
        .current_dir(dir.path())
        .args([
            "test",
            "rules/stuck.yaml",
            "--input",
            "events.jsonl",
            "--no-config",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}
