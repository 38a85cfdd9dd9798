//! Issue #10: delivery under faults, against real local servers and the real binary —
//! rate limits, DingTalk's throttle, a slow channel beside a healthy one, an SMTP server
//! that never answers, and a bounded shutdown.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::binary::Klaxon;
use crate::support::endpoint::{Behaviour, Endpoint};
use crate::support::files::append;
use crate::support::{wait_for, wait_until, write};

/// A config with one file source over `logs/app.log`, `channels` as YAML and the rules;
/// every alert its own group, sent at once (these tests are about delivery, not grouping).
fn scene(channels: &str, rules: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "sources:\n  app:\n    type: file\n    include: [\"logs/app.log\"]\n    format: json\n    poll_interval: 50ms\n\
         channels:\n{channels}rules: rules\nstate_dir: state\nshutdown_timeout: 3s\n\
         grouping: {{group_by: [rule, id], group_interval: 0s}}\n"
    );
    write(&dir.path().join("klaxon.yaml"), &config);
    for (name, text) in rules {
        write(&dir.path().join("rules").join(name), text);
    }
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    dir
}

/// An `any` rule over `level:<level>`, one alert per `id`, nothing held back.
fn rule(name: &str, level: &str, channel: &str) -> String {
    format!(
        "name: {name}\nsource: app\nquery: 'level:{level}'\ngroup_by: [id]\nrealert: 0s\nnotify: [{channel}]\n"
    )
}

fn lines(level: &str, ids: std::ops::Range<usize>) -> String {
    ids.map(|i| format!("{{\"level\":\"{level}\",\"id\":\"{i}\"}}\n"))
        .collect()
}

/// Outbox rows by status: (pending, sent, dead).
fn outbox(dir: &Path) -> (i64, i64, i64) {
    let path = dir.join("state/klaxon.sqlite");
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return (0, 0, 0);
    };
    let count = |status: &str| -> i64 {
        conn.query_row(
            "SELECT count(*) FROM outbox WHERE status = ?1",
            [status],
            |r| r.get(0),
        )
        .unwrap_or(0)
    };
    (count("pending"), count("sent"), count("dead"))
}

/// The alert ids a webhook endpoint accepted (single alerts and digests).
fn webhook_ids(endpoint: &Endpoint) -> Vec<String> {
    let mut ids = Vec::new();
    for body in endpoint.accepted_bodies() {
        let alerts = match body.get("alerts") {
            Some(list) => list.as_array().cloned().unwrap_or_default(),
            None => vec![body],
        };
        for a in alerts {
            ids.push(a["key"]["id"].as_str().unwrap_or_default().to_string());
        }
    }
    ids
}

#[test]
fn a_rate_limited_endpoint_gets_every_alert_and_never_more_than_its_limit() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let endpoint = rt.block_on(Endpoint::start(Behaviour::Limit { per_second: 10 }));
    let channels = format!(
        "  hook:\n    type: webhook\n    url: {}\n    delivery: {{ rate_limit: 9/s }}\n",
        endpoint.url("/alerts")
    );
    let dir = scene(
        &channels,
        &[("errors.yaml", &rule("errors", "ERROR", "hook"))],
    );
    let klaxon = Klaxon::run(&dir.path().join("klaxon.yaml"));
    append(&dir.path().join("logs/app.log"), lines("ERROR", 0..2000));
    wait_until("2,000 alerts delivered", Duration::from_secs(120), || {
        outbox(dir.path()).1 == 2000
    });
    let ids: BTreeSet<String> = webhook_ids(&endpoint).into_iter().collect();
    assert_eq!(ids.len(), 2000);
    assert_eq!(outbox(dir.path()), (0, 2000, 0), "none dead");
    assert!(endpoint.busiest(Duration::from_secs(1)) <= 10);
    assert!(
        endpoint.hits().len() < 200,
        "merged into digests: {} requests",
        endpoint.hits().len()
    );
    drop(klaxon);
}

#[test]
fn a_throttled_dingtalk_robot_gets_every_alert_within_its_limit() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let robot = rt.block_on(Endpoint::start(Behaviour::DingTalk {
        per_minute: 20,
        block: Duration::from_secs(600),
    }));
    let channels = format!(
        "  dt:\n    type: dingtalk\n    access_token: token\n    base_url: {}\n",
        robot.url("/robot/send")
    );
    let dir = scene(
        &channels,
        &[("errors.yaml", &rule("errors", "ERROR", "dt"))],
    );
    let klaxon = Klaxon::run(&dir.path().join("klaxon.yaml"));
    let log = dir.path().join("logs/app.log");
    // Bursts over a little while: some alerts alone, most merged.
    for burst in 0..4 {
        append(&log, lines("ERROR", burst * 50..burst * 50 + 50));
        std::thread::sleep(Duration::from_millis(700));
    }
    wait_until("200 alerts delivered", Duration::from_secs(60), || {
        outbox(dir.path()).1 == 200
    });
    assert_eq!(outbox(dir.path()), (0, 200, 0), "none dead");
    assert!(robot.hits().iter().all(|h| h.accepted), "never throttled");
    assert!(robot.busiest(Duration::from_secs(60)) <= 20);
    drop(klaxon);
}

#[test]
fn a_slow_channel_never_delays_a_healthy_one() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let slow = rt.block_on(Endpoint::start(Behaviour::Slow(Duration::from_secs(5))));
    let healthy = rt.block_on(Endpoint::start(Behaviour::Ok));
    let channels = format!(
        "  slow:\n    type: webhook\n    url: {}\n  healthy:\n    type: webhook\n    url: {}\n",
        slow.url("/"),
        healthy.url("/")
    );
    let dir = scene(
        &channels,
        &[
            ("slow.yaml", &rule("to-slow", "WARN", "slow")),
            ("healthy.yaml", &rule("to-healthy", "ERROR", "healthy")),
        ],
    );
    let klaxon = Klaxon::run(&dir.path().join("klaxon.yaml"));
    let log = dir.path().join("logs/app.log");
    append(&log, lines("WARN", 0..5000));
    wait_until("5,000 alerts queued", Duration::from_secs(60), || {
        outbox(dir.path()).0 >= 4990
    });
    append(&log, lines("ERROR", 0..1));
    let written = Instant::now();
    wait_until("the healthy alert", Duration::from_secs(10), || {
        !healthy.hits().is_empty()
    });
    assert!(
        written.elapsed() < Duration::from_millis(1500),
        "{:?} (50 ms polling included)",
        written.elapsed()
    );
    assert!(slow.hits().len() <= 2, "the slow one is still on its first");
    drop(klaxon);
}

#[test]
fn an_smtp_server_that_never_answers_times_out_and_stalls_nothing_else() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let healthy = rt.block_on(Endpoint::start(Behaviour::Ok));
    // Accepts connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for conn in silent.incoming().take(8) {
            open.push(conn);
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    let channels = format!(
        concat!(
            "  mail:\n    type: email\n    smtp: {{ host: 127.0.0.1, port: {port}, tls: none }}\n",
            "    from: klaxon@example.com\n    to: [ops@example.com]\n",
            "    delivery: {{ send_timeout: 2s }}\n",
            "  hook:\n    type: webhook\n    url: {url}\n",
        ),
        port = port,
        url = healthy.url("/")
    );
    let both = "name: both\nsource: app\nquery: 'level:ERROR'\ngroup_by: [id]\nrealert: 0s\nnotify: [mail, hook]\n";
    let dir = scene(&channels, &[("both.yaml", both)]);
    let klaxon = Klaxon::run(&dir.path().join("klaxon.yaml"));
    let log = dir.path().join("logs/app.log");
    append(&log, lines("ERROR", 0..3));
    wait_until("the webhook alerts", Duration::from_secs(10), || {
        healthy.hits().len() >= 3
    });
    // The email is tried, times out, and waits for its retry; none is dead.
    let timed_out = wait_for(Duration::from_secs(15), || {
        klaxon.stderr().contains("no answer within 2s")
    });
    assert!(timed_out, "{}", klaxon.stderr());
    let (pending, sent, dead) = outbox(dir.path());
    assert_eq!((sent, dead), (3, 0));
    assert_eq!(pending, 3);
    drop(klaxon);
    drop(held);
}

#[test]
fn sigterm_with_a_slow_receiver_exits_in_time_and_loses_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let slow = rt.block_on(Endpoint::start(Behaviour::Slow(Duration::from_secs(2))));
    let channels = format!("  hook:\n    type: webhook\n    url: {}\n", slow.url("/"));
    let dir = scene(
        &channels,
        &[("errors.yaml", &rule("errors", "ERROR", "hook"))],
    );
    let config = dir.path().join("klaxon.yaml");
    let klaxon = Klaxon::run(&config);
    append(&dir.path().join("logs/app.log"), lines("ERROR", 0..500));
    wait_until("500 alerts queued", Duration::from_secs(30), || {
        let (pending, sent, _) = outbox(dir.path());
        pending + sent == 500
    });
    klaxon.terminate();
    let stopped = Instant::now();
    let done = klaxon.finish(Duration::from_secs(10), "klaxon stops");
    assert!(done.status.success(), "{}", done.stderr);
    // shutdown_timeout is 3s.
    assert!(
        stopped.elapsed() < Duration::from_secs(4),
        "{:?}",
        stopped.elapsed()
    );
    let (pending, sent, dead) = outbox(dir.path());
    assert_eq!(pending + sent, 500);
    assert_eq!(dead, 0);
    assert!(pending > 0, "the rest stayed in the outbox");

    // After a restart with a receiver that keeps up, every one arrives.
    let fast = rt.block_on(Endpoint::start(Behaviour::Ok));
    let text = std::fs::read_to_string(&config).unwrap();
    write(&config, &text.replace(&slow.url("/"), &fast.url("/")));
    let klaxon = Klaxon::run(&config);
    wait_until("all 500 delivered", Duration::from_secs(60), || {
        outbox(dir.path()).1 == 500
    });
    let ids: BTreeSet<String> = webhook_ids(&slow)
        .into_iter()
        .chain(webhook_ids(&fast))
        .collect();
    assert_eq!(ids.len(), 500);
    drop(klaxon);
}

/// SIGKILLs while the outbox drains: every alert arrives; an alert is sent twice only when
/// a kill lands between its send and its record (at most one per kill here: one channel,
/// one request at a time). docs/RELIABILITY.md reports what this test measures.
#[test]
fn sigkills_while_draining_lose_nothing_and_double_only_what_was_in_flight() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let endpoint = rt.block_on(Endpoint::start(Behaviour::Slow(Duration::from_millis(20))));
    let channels = format!(
        "  hook:\n    type: webhook\n    url: {}\n",
        endpoint.url("/")
    );
    let dir = scene(
        &channels,
        &[("errors.yaml", &rule("errors", "ERROR", "hook"))],
    );
    let config = dir.path().join("klaxon.yaml");
    append(&dir.path().join("logs/app.log"), lines("ERROR", 0..400));
    let mut klaxon = Klaxon::run(&config);
    let mut kills = 0;
    let mut seed: u64 = 0x5eed_1234;
    while kills < 12 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(150 + seed % 300));
        if outbox(dir.path()).1 == 400 {
            break;
        }
        klaxon.kill();
        kills += 1;
        klaxon = Klaxon::run(&config);
    }
    assert!(kills >= 10, "only {kills} kills landed while draining");
    wait_until("all 400 delivered", Duration::from_secs(60), || {
        outbox(dir.path()).1 == 400
    });
    let ids = webhook_ids(&endpoint);
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 400, "every alert arrived");
    let doubled = ids.len() - distinct.len();
    eprintln!(
        "delivery under {kills} SIGKILLs: {} requests, {doubled} duplicates",
        ids.len()
    );
    assert!(doubled <= kills, "{doubled} duplicates for {kills} kills");
    drop(klaxon);
}
