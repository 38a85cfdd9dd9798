//! Issue #11, the alert lifecycle through the real binary: a burst grouped into a handful of
//! messages at a real HTTP listener; an escalation due while Klaxon was killed fires once
//! after the restart; `klaxon ack`, `klaxon alerts` and `klaxon silence` beside a running
//! Klaxon.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::binary::{klaxon, Klaxon};
use crate::support::endpoint::{Behaviour, Endpoint};
use crate::support::files::append;
use crate::support::{wait_until, write};

/// Webhook channels named by `hooks` (name → endpoint), the rules, and `extra` YAML.
fn scene(hooks: &[(&str, &Endpoint)], rules: &[(&str, &str)], extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let channels: String = hooks
        .iter()
        .map(|(name, e)| {
            format!(
                "  {name}:\n    type: webhook\n    url: {}\n",
                e.url("/hook")
            )
        })
        .collect();
    let config = format!(
        "sources:\n  app:\n    type: file\n    include: [\"logs/app.log\"]\n    format: json\n    poll_interval: 50ms\n\
         channels:\n{channels}rules: rules\nstate_dir: state\nshutdown_timeout: 2s\n{extra}"
    );
    write(&dir.path().join("klaxon.yaml"), &config);
    for (name, text) in rules {
        write(&dir.path().join("rules").join(name), text);
    }
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    dir
}

fn cli(dir: &Path, args: &[&str]) -> Output {
    klaxon()
        .current_dir(dir)
        .args(args)
        .args(["-c", "klaxon.yaml"])
        .output()
        .unwrap()
}

/// Alerts an endpoint received: (rule, sku, status, escalation level), digests unpacked.
fn received(endpoint: &Endpoint) -> Vec<(String, String, String, u64)> {
    let mut out = Vec::new();
    for body in endpoint.accepted_bodies() {
        let alerts = match body.get("alerts") {
            Some(list) => list.as_array().cloned().unwrap_or_default(),
            None => vec![body],
        };
        for a in alerts {
            out.push((
                a["rule"].as_str().unwrap_or_default().to_string(),
                a["key"]["sku"].as_str().unwrap_or_default().to_string(),
                a["status"].as_str().unwrap_or("firing").to_string(),
                a["escalation"]["level"].as_u64().unwrap_or(0),
            ));
        }
    }
    out
}

#[test]
fn a_burst_of_ten_thousand_matches_over_two_hundred_keys_is_a_handful_of_messages() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ops = rt.block_on(Endpoint::start(Behaviour::Ok));
    let rule = "name: ghost\nsource: app\nquery: 'level:ERROR'\ngroup_by: [sku]\nrealert: 10m\nnotify: [ops]\n";
    let dir = scene(
        &[("ops", &ops)],
        &[("ghost.yaml", rule)],
        "grouping: {group_interval: 3s}\n",
    );
    let klaxon = Klaxon::run(&dir.path().join("klaxon.yaml"));
    let lines: String = (0..10_000)
        .map(|i| {
            format!(
                "{{\"level\":\"ERROR\",\"sku\":\"S{:03}\",\"n\":{i}}}\n",
                i % 200
            )
        })
        .collect();
    append(&dir.path().join("logs/app.log"), lines);
    wait_until("all 200 keys told", Duration::from_secs(30), || {
        let keys: std::collections::BTreeSet<String> =
            received(&ops).into_iter().map(|r| r.1).collect();
        keys.len() == 200
    });
    // Settle: nothing more comes for a while (no repeats within repeat_interval).
    std::thread::sleep(Duration::from_secs(4));
    let requests = ops.hits().len();
    assert!(
        (1..=5).contains(&requests),
        "{requests} requests for one burst"
    );
    drop(klaxon);
}

const POLICY: &str = "escalation_policies:\n  oncall:\n    levels:\n      - after: 3s\n        notify: [leads]\n      - after: 6s\n        notify: [managers]\n";

async fn three_endpoints() -> (Endpoint, Endpoint, Endpoint) {
    (
        Endpoint::start(Behaviour::Ok).await,
        Endpoint::start(Behaviour::Ok).await,
        Endpoint::start(Behaviour::Ok).await,
    )
}

fn escalating_rule() -> &'static str {
    "name: ghost\nsource: app\nquery: 'level:ERROR'\ngroup_by: [sku]\nrealert: 10m\nnotify: [ops]\nescalation: oncall\n"
}

#[test]
fn an_escalation_due_while_klaxon_was_killed_fires_once_after_the_restart() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ops, leads, managers) = rt.block_on(three_endpoints());
    let dir = scene(
        &[("ops", &ops), ("leads", &leads), ("managers", &managers)],
        &[("ghost.yaml", escalating_rule())],
        POLICY,
    );
    let config = dir.path().join("klaxon.yaml");
    let mut klaxon = Klaxon::run(&config);
    append(
        &dir.path().join("logs/app.log"),
        "{\"level\":\"ERROR\",\"sku\":\"A\"}\n",
    );
    wait_until("the first message", Duration::from_secs(10), || {
        !ops.hits().is_empty()
    });
    let fired = Instant::now();
    klaxon.kill();
    // Down past both levels' times.
    std::thread::sleep(Duration::from_secs(7).saturating_sub(fired.elapsed()));
    assert!(leads.hits().is_empty() && managers.hits().is_empty());
    let klaxon = Klaxon::run(&config);
    wait_until(
        "both levels after the restart",
        Duration::from_secs(10),
        || !leads.hits().is_empty() && !managers.hits().is_empty(),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        received(&leads),
        [("ghost".into(), "A".into(), "firing".into(), 1)]
    );
    assert_eq!(
        received(&managers),
        [("ghost".into(), "A".into(), "firing".into(), 2)]
    );
    assert_eq!(ops.hits().len(), 1, "the first message was not sent again");
    drop(klaxon);
}

#[test]
fn acknowledging_from_the_cli_stops_the_escalation_and_tells_who_was_told() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ops, leads, managers) = rt.block_on(three_endpoints());
    let dir = scene(
        &[("ops", &ops), ("leads", &leads), ("managers", &managers)],
        &[("ghost.yaml", escalating_rule())],
        POLICY,
    );
    let klaxon = Klaxon::run(&dir.path().join("klaxon.yaml"));
    append(
        &dir.path().join("logs/app.log"),
        "{\"level\":\"ERROR\",\"sku\":\"A\"}\n",
    );
    wait_until("level 1", Duration::from_secs(10), || {
        !leads.hits().is_empty()
    });
    let listed = cli(dir.path(), &["alerts"]);
    let table = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        table.contains("1\tfiring\t-\t1/2\tghost\tsku=A\t"),
        "{table}"
    );
    assert!(table.contains("level 2 at"), "{table}");
    let ack = cli(
        dir.path(),
        &["ack", "--rule", "ghost", "--key", "sku=A", "--by", "alice"],
    );
    assert!(
        ack.status.success(),
        "{}",
        String::from_utf8_lossy(&ack.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ack.stdout).trim(),
        "alert 1 acknowledged"
    );
    wait_until("the notices", Duration::from_secs(5), || {
        ops.hits().len() == 2 && leads.hits().len() == 2
    });
    // Past level 2's time: nobody else is told.
    std::thread::sleep(Duration::from_secs(5));
    assert!(managers.hits().is_empty(), "no level 2 once acknowledged");
    let notice = ops.accepted_bodies().pop().unwrap();
    assert_eq!(notice["status"], "acknowledged");
    assert_eq!(notice["acknowledged_by"], "alice");
    let listed = cli(dir.path(), &["alerts", "--history"]);
    let table = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(table.contains("acknowledged by alice"), "{table}");
    for kind in ["fired", "notified", "escalated", "acknowledged"] {
        assert!(table.contains(&format!("\t{kind}\t")), "{kind}: {table}");
    }
    drop(klaxon);
}

#[test]
fn a_silence_from_the_cli_mutes_and_its_expiry_lets_the_alert_through_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ops = rt.block_on(Endpoint::start(Behaviour::Ok));
    let rule = "name: ghost\nsource: app\nquery: 'level:ERROR'\ngroup_by: [sku]\nrealert: 10m\nnotify: [ops]\n";
    let dir = scene(&[("ops", &ops)], &[("ghost.yaml", rule)], "");
    let added = cli(
        dir.path(),
        &[
            "silence",
            "add",
            "--match",
            "sku = A",
            "--for",
            "1h",
            "--comment",
            "deploying",
        ],
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let id = String::from_utf8_lossy(&added.stdout).trim().to_string();
    let bad = cli(
        dir.path(),
        &[
            "silence",
            "add",
            "--match",
            "sku",
            "--for",
            "1h",
            "--comment",
            "x",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a matcher"));
    let klaxon = Klaxon::run(&dir.path().join("klaxon.yaml"));
    append(
        &dir.path().join("logs/app.log"),
        "{\"level\":\"ERROR\",\"sku\":\"A\"}\n{\"level\":\"ERROR\",\"sku\":\"B\"}\n",
    );
    wait_until("B told", Duration::from_secs(10), || !ops.hits().is_empty());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        received(&ops),
        [("ghost".into(), "B".into(), "firing".into(), 0)]
    );
    let listed = String::from_utf8_lossy(&cli(dir.path(), &["alerts"]).stdout).into_owned();
    assert!(
        listed.contains(&format!("firing\tsilence {id}\t")),
        "{listed}"
    );
    let expired = cli(dir.path(), &["silence", "expire", &id]);
    assert!(expired.status.success());
    wait_until("A let through", Duration::from_secs(5), || {
        ops.hits().len() == 2
    });
    std::thread::sleep(Duration::from_secs(2));
    let got = received(&ops);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].1, "A");
    drop(klaxon);
}

#[test]
fn a_frequency_alert_resolves_by_itself_and_a_new_burst_fires_again() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ops = rt.block_on(Endpoint::start(Behaviour::Ok));
    let rule = "name: burst\nsource: app\nquery: 'level:ERROR'\ntype: frequency\nthreshold: 2\nwindow: 2s\nrealert: 0s\nallowed_lateness: 0s\nnotify: [ops]\n";
    let dir = scene(&[("ops", &ops)], &[("burst.yaml", rule)], "");
    let klaxon = Klaxon::run(&dir.path().join("klaxon.yaml"));
    let log = dir.path().join("logs/app.log");
    let burst = "{\"level\":\"ERROR\"}\n{\"level\":\"ERROR\"}\n";
    append(&log, burst);
    wait_until("fired", Duration::from_secs(10), || ops.hits().len() == 1);
    // Quiet for more than a window: the source's clock moves with wall time, and the
    // condition clears.
    wait_until("resolved", Duration::from_secs(10), || {
        ops.hits().len() == 2
    });
    let statuses: Vec<String> = received(&ops).into_iter().map(|r| r.2).collect();
    assert_eq!(statuses, ["firing", "resolved"]);
    append(&log, burst);
    wait_until("fired again", Duration::from_secs(10), || {
        ops.hits().len() == 3
    });
    assert_eq!(received(&ops)[2].2, "firing");
    drop(klaxon);
}
