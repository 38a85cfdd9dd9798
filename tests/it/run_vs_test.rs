//! `klaxon test -c` and `klaxon run` read a file the same way and raise the same alerts:
//! every shipped rule over a generated order-service log, and one rule per decoder (logfmt,
//! nginx regex, plain with a leading time in a zone, Java stack traces as multiline), all
//! in one running Klaxon, each compared with its offline replay.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use klaxon::demo::{LogGen, RULES};

use crate::support::binary::{klaxon, Klaxon};
use crate::support::state::{alerts, wait_handled};
use crate::support::{wait_for, write};

const CONFIG: &str = r#"sources:
  order-logs:
    type: file
    include: ["logs/orders.log"]
    format: json
    time_field: "@timestamp"
    poll_interval: 50ms
  gateway:
    type: file
    include: ["logs/gateway.log"]
    format: logfmt
    time_field: time
    poll_interval: 50ms
  nginx:
    type: file
    include: ["logs/access.log"]
    format: regex
    pattern: nginx_combined
    time_field: time_local
    time_format: '%d/%b/%Y:%H:%M:%S %z'
    poll_interval: 50ms
  plain:
    type: file
    include: ["logs/plain.log"]
    time_format: '%Y-%m-%d %H:%M:%S'
    timezone: Asia/Shanghai
    poll_interval: 50ms
  java:
    type: file
    include: ["logs/java.log"]
    time_format: '%Y-%m-%d %H:%M:%S%.f'
    timezone: Asia/Shanghai
    multiline: { start_pattern: '^\d{4}-\d{2}-\d{2} ', mode: halt_before, timeout: 200ms }
    poll_interval: 50ms
channels:
  ops-chat: { type: console }
  oncall-email: { type: console }
fields:
  status: number
rules: rules
state_dir: state
"#;

/// Decoder samples: (rule file, rule, log file, log).
const SAMPLES: &[(&str, &str, &str, &str)] = &[
    (
        "gateway-timeouts.yaml",
        "name: gateway-timeouts\nsource: gateway\nquery: 'level:ERROR AND msg:timed'\ntype: frequency\nthreshold: 2\nwindow: 1m\ngroup_by: [sku]\nrealert: 0s\nnotify: [ops-chat]\n",
        "gateway.log",
        "time=2026-06-08T11:00:00.250+08:00 level=INFO msg=\"order paid\" order_id=O-1 sku=A-1\n\
         time=2026-06-08T11:00:00.900+08:00 level=ERROR msg=\"payment callback timed out\" order_id=O-2 sku=A-7\n\
         time=2026-06-08T11:00:20.000+08:00 level=ERROR msg=\"payment callback timed out\" order_id=O-3 sku=A-7\n\
         time=2026-06-08T11:00:30.000+08:00 level=ERROR msg=\"payment callback timed out\" order_id=O-4 sku=A-1\n\
         time=2026-06-08T11:02:30.000+08:00 level=ERROR msg=\"payment callback timed out\" order_id=O-5 sku=A-1\n\
         time=2026-06-08T11:02:40.000+08:00 level=ERROR msg=\"payment callback timed out\" order_id=O-6 sku=A-7\n\
         time=2026-06-08T11:02:45.000+08:00 level=ERROR msg=\"payment callback timed out\" order_id=O-7 sku=A-7\n",
    ),
    (
        "upstream-5xx.yaml",
        "name: upstream-5xx\nsource: nginx\nquery: 'status:>=500'\ngroup_by: [path]\nrealert: 1m\nnotify: [ops-chat]\n",
        "access.log",
        "203.0.113.7 - - [08/Jun/2026:11:00:00 +0800] \"GET /api/orders/O-1 HTTP/1.1\" 200 512 \"-\" \"okhttp/4.12.0\"\n\
         198.51.100.23 - ops [08/Jun/2026:11:00:01 +0800] \"POST /api/pay HTTP/2.0\" 504 167 \"-\" \"Mozilla/5.0\"\n\
         198.51.100.23 - ops [08/Jun/2026:11:00:31 +0800] \"POST /api/pay HTTP/2.0\" 502 167 \"-\" \"Mozilla/5.0\"\n\
         198.51.100.23 - ops [08/Jun/2026:11:01:02 +0800] \"POST /api/pay HTTP/2.0\" 503 167 \"-\" \"Mozilla/5.0\"\n\
         192.0.2.1 - - [08/Jun/2026:11:01:05 +0800] \"GET /api/stock HTTP/1.1\" 500 157 \"-\" \"-\"\n",
    ),
    (
        "plain-timeouts.yaml",
        "name: plain-timeouts\nsource: plain\nquery: 'ERROR AND timeout'\ntype: frequency\nthreshold: 3\nwindow: 1m\nrealert: 0s\nnotify: [ops-chat]\n",
        "plain.log",
        "2026-06-08 11:00:00 ERROR payment timeout order=1\n\
         2026-06-08 11:00:10 INFO payment ok order=2\n\
         2026-06-08 11:00:20 ERROR payment timeout order=3\n\
         2026-06-08 11:00:50 ERROR stock timeout order=4\n\
         2026-06-08 11:03:00 ERROR payment timeout order=5\n",
    ),
    (
        "java-npe.yaml",
        "name: java-npe\nsource: java\nquery: 'java.lang.NullPointerException'\nrealert: 0s\nnotify: [ops-chat]\n",
        "java.log",
        "2026-06-08 11:00:00.123 INFO  c.e.o.OrderController : order O-1 paid\n\
         2026-06-08 11:00:00.457 ERROR c.e.o.OrderService : confirm failed\n\
         java.lang.IllegalStateException: wrapped\n\
         \tat com.example.orders.OrderService.confirm(OrderService.java:212)\n\
         Caused by: java.lang.NullPointerException: order.sku is null\n\
         \t... 87 more\n\
         2026-06-08 11:00:01.002 INFO  c.e.o.OrderController : order O-3 paid\n\
         2026-06-08 11:00:09.000 ERROR c.e.o.OrderService : java.lang.NullPointerException\n\
         \tat com.example.orders.OrderService.pick(OrderService.java:99)\n\
         2026-06-08 11:00:10.000 INFO  c.e.o.OrderController : order O-4 paid\n",
    ),
];

/// What both must agree on: rule, key, count, first and last seen.
type Seen = (String, String, u64, String, String);

fn seen(rule: &str, key: &serde_json::Value, count: u64, first: &str, last: &str) -> Seen {
    let first = chrono::DateTime::parse_from_rfc3339(first)
        .unwrap()
        .to_utc();
    let last = chrono::DateTime::parse_from_rfc3339(last).unwrap().to_utc();
    (
        rule.to_string(),
        key.to_string(),
        count,
        first.timestamp_millis().to_string(),
        last.timestamp_millis().to_string(),
    )
}

/// Every alert of one rule that `klaxon test -c klaxon.yaml` replays from `log`.
fn replayed(dir: &Path, rule_file: &str, log: &str) -> BTreeSet<Seen> {
    let out = klaxon()
        .current_dir(dir)
        .args(["test", "-c", "klaxon.yaml", "--json", "--input"])
        .arg(format!("logs/{log}"))
        .arg(format!("rules/{rule_file}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{rule_file}: {stderr}");
    assert!(stderr.contains("matched the query"), "{stderr}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let a: serde_json::Value = serde_json::from_str(l).unwrap();
            let text = |k: &str| a[k].as_str().unwrap().to_string();
            seen(
                &text("rule"),
                &a["key"],
                a["count"].as_u64().unwrap(),
                &text("first_seen"),
                &text("last_seen"),
            )
        })
        .collect()
}

#[test]
fn klaxon_test_replays_exactly_what_klaxon_run_raises() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("klaxon.yaml"), CONFIG);
    for (name, text) in RULES {
        write(&d.join("rules").join(name), text);
    }
    let start = Utc.with_ymd_and_hms(2026, 6, 8, 3, 0, 0).unwrap();
    let story = LogGen::new(8).story(
        start,
        chrono::Duration::minutes(40),
        chrono::Duration::seconds(6),
    );
    write(&d.join("logs/orders.log"), &(story.join("\n") + "\n"));
    for (rule_file, rule, log, lines) in SAMPLES {
        write(&d.join("rules").join(rule_file), rule);
        write(&d.join("logs").join(log), lines);
    }

    let mut expected = BTreeSet::new();
    for (rule_file, _) in RULES {
        expected.extend(replayed(d, rule_file, "orders.log"));
    }
    for (rule_file, _, log, _) in SAMPLES {
        let replay = replayed(d, rule_file, log);
        assert!(
            !replay.is_empty(),
            "{rule_file} raises nothing on its sample"
        );
        expected.extend(replay);
    }
    let alerting: BTreeSet<&str> = expected.iter().map(|s| s.0.as_str()).collect();
    for (rule_file, _) in RULES {
        let name = rule_file.trim_end_matches(".yaml");
        assert!(
            alerting.contains(name),
            "{name} fires on the story: {alerting:?}"
        );
    }

    let klaxon = Klaxon::run(&d.join("klaxon.yaml"));
    let sources = [
        ("order-logs", "orders.log"),
        ("gateway", "gateway.log"),
        ("nginx", "access.log"),
        ("plain", "plain.log"),
        ("java", "java.log"),
    ];
    for (source, log) in sources {
        wait_handled(&d.join("state"), source, &d.join("logs").join(log));
    }
    // Once every file is read, each source's clock idles for its grace and then follows
    // wall time: what was due by the end of the file (minus `allowed_lateness`) has fired.
    let state = d.join("state");
    let got = || -> BTreeSet<Seen> {
        alerts(&state)
            .iter()
            .map(|a| {
                let key = serde_json::to_value(&a.key).unwrap();
                (
                    a.rule.clone(),
                    key.to_string(),
                    a.count,
                    a.first_seen.timestamp_millis().to_string(),
                    a.last_seen.timestamp_millis().to_string(),
                )
            })
            .collect()
    };
    wait_for(Duration::from_secs(45), || got() == expected);
    klaxon.terminate();
    let run = got();
    let missing: Vec<_> = expected.difference(&run).collect();
    let extra: Vec<_> = run.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "klaxon run differs from klaxon test\nonly in test: {missing:#?}\nonly in run: {extra:#?}\nstderr: {}",
        klaxon.stderr()
    );
}
