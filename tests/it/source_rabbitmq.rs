//! Issue 14, `type: rabbitmq` against a real broker: `klaxon run` polls a RabbitMQ of the
//! test's own (Debian's rabbitmq-server, started in a temporary directory on free ports:
//! `support::rabbitmq`) every second. 2,000 messages published to a queue nobody consumes
//! fire a `metric` backlog alert at a webhook; a queue without consumers fires a
//! "no consumers" alert; consuming the backlog resolves the first by itself.
//!
//! Needs `rabbitmq-server` (scripts/test installs it); `KLAXON_SKIP_RABBITMQ=1` skips.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::support::binary::{klaxon, Klaxon};
use crate::support::endpoint::{Behaviour, Endpoint};
use crate::support::rabbitmq::{self, Broker};
use crate::support::{wait_until, write};

/// The alerts the webhook was told of: (rule, queue, status, the whole alert).
fn told(hook: &Endpoint) -> Vec<(String, String, String, Value)> {
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
                text(&a["key"]["queue"]),
                a["status"].as_str().unwrap_or("firing").to_string(),
                a,
            )
        })
        .collect()
}

fn statuses(hook: &Endpoint, rule: &str) -> Vec<String> {
    told(hook)
        .into_iter()
        .filter(|t| t.0 == rule)
        .map(|t| t.2)
        .collect()
}

#[test]
fn a_backlog_on_a_real_broker_fires_and_resolves_once_consumed() {
    if !rabbitmq::installed() {
        return;
    }
    let broker = Broker::start();
    broker.declare("orders.payment");
    broker.declare("orders.callback");
    broker.declare("billing.invoices");
    broker.publish("orders.payment", 2000);
    broker.publish("billing.invoices", 1500); // not one of `queues`: never polled
    wait_until(
        "the broker to count 2,000 ready",
        Duration::from_secs(20),
        || broker.ready("orders.payment") == Some(2000),
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let hook = rt.block_on(Endpoint::start(Behaviour::Ok));
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("klaxon.yaml"),
        &format!(
            "sources:\n  rabbit:\n    type: rabbitmq\n    url: {}\n    username: ${{RABBIT_USER}}\n    password: ${{RABBIT_PASSWORD}}\n    queues: [\"orders.*\"]\n    interval: 1s\n    timeout: 5s\n\
             channels:\n  ops:\n    type: webhook\n    url: {}\n\
             rules: rules\nstate_dir: state\nshutdown_timeout: 2s\ngrouping: {{group_interval: 1s}}\n",
            broker.api(),
            hook.url("/hook")
        ),
    );
    // "More than 1,000 ready messages throughout the window" (the window short for the test).
    write(
        &dir.path().join("rules/backlog.yaml"),
        "name: queue-backlog\nsource: rabbit\nquery: 'messages_ready:*'\ntype: metric\nfield: messages_ready\n\
         metric: min\nabove: 1000\nwindow: 3s\ngroup_by: [queue]\nrealert: 0s\nnotify: [ops]\n",
    );
    write(
        &dir.path().join("rules/no-consumers.yaml"),
        "name: no-consumers\nsource: rabbit\nquery: 'queue:\"orders.callback\"'\ntype: metric\nfield: consumers\n\
         metric: max\nbelow: 1\nwindow: 2s\ngroup_by: [queue]\nnotify: [ops]\n",
    );
    let klaxon = Klaxon::spawn(
        klaxon()
            .current_dir(dir.path())
            .args(["run", "-c", "klaxon.yaml"])
            .env("RABBIT_USER", rabbitmq::USER)
            .env("RABBIT_PASSWORD", rabbitmq::PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    );

    wait_until(
        "the backlog and no-consumers alerts",
        Duration::from_secs(30),
        || {
            statuses(&hook, "queue-backlog") == ["firing"]
                && statuses(&hook, "no-consumers") == ["firing"]
        },
    );
    let (_, queue, _, alert) = told(&hook)
        .into_iter()
        .find(|t| t.0 == "queue-backlog")
        .unwrap();
    assert_eq!(queue, "orders.payment");
    assert_eq!(
        alert["detail"], "min(messages_ready) over 3s = 2000 (above 1000)",
        "{alert}"
    );
    let sample = alert["sample"].as_str().unwrap_or_default();
    assert!(
        sample.contains("queue orders.payment: 2000 ready, 0 unacked, 0 consumers"),
        "{alert}"
    );

    assert_eq!(broker.consume("orders.payment", 2000), 2000);
    wait_until(
        "the backlog alert resolved",
        Duration::from_secs(30),
        || statuses(&hook, "queue-backlog") == ["firing", "resolved"],
    );
    // Only the backlogged queue: `orders.callback` is empty, `billing.invoices` not polled.
    let backlogged: Vec<String> = told(&hook)
        .into_iter()
        .filter(|t| t.0 == "queue-backlog")
        .map(|t| t.1)
        .collect();
    assert_eq!(backlogged, ["orders.payment", "orders.payment"]);
    assert_eq!(
        statuses(&hook, "no-consumers"),
        ["firing"],
        "still no consumer"
    );
    drop(klaxon);
    drop(broker);
}

/// The `# path` YAML blocks of docs/SOURCES.md, as (path, text).
fn documented_files() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/SOURCES.md"),
    )
    .unwrap();
    let mut files = Vec::new();
    for block in doc.split("```yaml\n").skip(1) {
        let text = block.split("```").next().unwrap();
        if let Some(path) = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# "))
            .filter(|p| p.ends_with(".yaml"))
        {
            files.push((path.to_string(), text.to_string()));
        }
    }
    files
}

/// Polls every 15 s for 20 minutes, written as `klaxon test` reads events: orders.payment
/// empty, then 1,200 ready from 5 min on; orders.callback losing its consumers at 3 min; no
/// answer at all between 15 and 19 min.
fn polls() -> String {
    let t0 = crate::support::t0();
    let mut out = String::new();
    for s in (0..=1200).step_by(15) {
        if s > 900 && s < 1140 {
            continue;
        }
        let ts =
            (t0 + chrono::Duration::seconds(s)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let ready = if s >= 300 { 1200 } else { 0 };
        let consumers = if s >= 180 { 0 } else { 2 };
        for (queue, ready, consumers) in [
            ("orders.payment", ready, 1),
            ("orders.callback", 0, consumers),
        ] {
            let event = serde_json::json!({"ts": ts, "queue": queue, "vhost": "/",
                "messages_ready": ready, "messages_unacknowledged": 0, "messages": ready,
                "consumers": consumers,
                "message": format!("queue {queue}: {ready} ready, 0 unacked, {consumers} consumers")});
            out.push_str(&format!("{event}\n"));
        }
    }
    out
}

#[test]
fn the_documented_examples_check_and_fire_as_described() {
    let files = documented_files();
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "klaxon.yaml",
            "rules/queue-backlog.yaml",
            "rules/no-consumers.yaml",
            "rules/rabbit-unreachable.yaml"
        ]
    );
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in &files {
        write(&dir.path().join(path), text);
    }
    let checked = klaxon()
        .current_dir(dir.path())
        .args(["check", "-c", "klaxon.yaml"])
        .env("RABBITMQ_USER", "klaxon")
        .env("RABBITMQ_PASSWORD", "s3cret-pw")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&checked.stdout).into_owned()
        + &String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success(), "{said}");
    assert!(
        said.contains("ok (3 rules, 1 sources, 1 channels)"),
        "{said}"
    );

    write(&dir.path().join("polls.jsonl"), &polls());
    let at = |secs: i64| {
        (crate::support::t0() + chrono::Duration::seconds(secs))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let replay = |rule: &str| -> Vec<Value> {
        let out = klaxon()
            .current_dir(dir.path())
            .args([
                "test",
                rule,
                "--input",
                "polls.jsonl",
                "--no-config",
                "--json",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    // Over 1,000 from 300 s on: every poll of the 5 minutes before 600 s is.
    let backlog = replay("rules/queue-backlog.yaml");
    assert_eq!(backlog.len(), 1, "{backlog:?}");
    assert_eq!(backlog[0]["key"]["queue"], "orders.payment");
    assert_eq!(backlog[0]["fired_at"], at(600));
    assert_eq!(
        backlog[0]["detail"],
        "min(messages_ready) over 5m = 1200 (above 1000)"
    );
    // No consumer from 180 s on: a whole minute of none at 240 s.
    let idle = replay("rules/no-consumers.yaml");
    assert_eq!(idle.len(), 1, "{idle:?}");
    assert_eq!(idle[0]["key"]["queue"], "orders.callback");
    assert_eq!(idle[0]["fired_at"], at(240));
    // The last answer before the gap at 900 s left the window at 1020 s.
    let unreachable = replay("rules/rabbit-unreachable.yaml");
    assert_eq!(unreachable.len(), 1, "{unreachable:?}");
    assert_eq!(unreachable[0]["fired_at"], at(1020));
}
