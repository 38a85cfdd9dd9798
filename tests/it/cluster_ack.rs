//! The alert lifecycle on a cluster worker, end to end (issue 17): an edge publishes a
//! match, the partition's owner raises the alert, tells `ops` at once and escalates to
//! `managers` while nobody acknowledges; `klaxon ack ID` with the cluster's config reaches
//! the owner of the alert's partition through the partition's own subject, is answered,
//! and stops the escalation of that alert while another alert escalates on. Edited rule
//! files reach the worker's partitions; a silence reaches every partition and mutes until
//! it is expired.

use std::time::Duration;

use serde_json::Value;

use crate::support::binary::{klaxon, Klaxon};
use crate::support::endpoint::{Behaviour, Endpoint};
use crate::support::nats::Server;
use crate::support::{wait_until, write};

fn config(
    dir: &std::path::Path,
    role: &str,
    nats: u16,
    ops: &str,
    managers: &str,
) -> std::path::PathBuf {
    let path = dir.join(format!("{role}.yaml"));
    write(
        &path,
        &format!(
            "sources:\n  app:\n    type: file\n    include: [\"{logs}/*.log\"]\n    format: json\n\
             \x20   time_field: ts\n    poll_interval: 50ms\n    max_alert_age: 1d\n\
             channels:\n  ops:\n    type: webhook\n    url: {ops}\n  managers:\n    type: webhook\n    url: {managers}\n\
             escalation_policies:\n  oncall:\n    levels:\n      - after: 2s\n        notify: [managers]\n\
             grouping:\n  group_by: [rule, sku]\n\
             rules: rules\nstate_dir: state-{role}\nserver: none\n\
             cluster:\n  role: {role}\n  servers: [nats://127.0.0.1:{nats}]\n  partitions: 8\n\
             \x20 lease_ttl: 3s\n  snapshot_interval: 1s\n  worker_id: w-{role}\n",
            logs = dir.join("logs").display(),
        ),
    );
    path
}

/// The alerts a hook received: (sku, id, escalation level).
fn told(hook: &Endpoint) -> Vec<(String, u64, Option<u64>)> {
    hook.accepted_bodies()
        .iter()
        .map(|b: &Value| {
            (
                b["key"]["sku"].as_str().unwrap_or_default().to_string(),
                b["id"].as_u64().unwrap_or_default(),
                b["escalation"]["level"].as_u64(),
            )
        })
        .collect()
}

#[test]
fn an_acknowledgement_reaches_the_partition_owner_and_stops_its_escalation() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ops = rt.block_on(Endpoint::start(Behaviour::Ok));
    let managers = rt.block_on(Endpoint::start(Behaviour::Ok));
    let nats = Server::start();
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("rules/rollbacks.yaml"),
        "name: rollbacks\nsource: app\nquery: 'msg:inventory_rollback'\ngroup_by: [sku]\n\
         escalation: oncall\nnotify: [ops]\n",
    );
    let (ops_url, managers_url) = (ops.url("/ops"), managers.url("/managers"));
    let worker = config(dir.path(), "worker", nats.port, &ops_url, &managers_url);
    let edge = config(dir.path(), "edge", nats.port, &ops_url, &managers_url);
    let _worker = Klaxon::run(&worker);
    let _edge = Klaxon::run(&edge);
    let now = chrono::Utc::now().to_rfc3339();
    write(
        &dir.path().join("logs/app.log"),
        &format!(
            "{{\"ts\":\"{now}\",\"msg\":\"inventory_rollback\",\"sku\":\"A-1\"}}\n\
             {{\"ts\":\"{now}\",\"msg\":\"inventory_rollback\",\"sku\":\"B-2\"}}\n"
        ),
    );
    wait_until("both alerts told to ops", Duration::from_secs(30), || {
        told(&ops).len() == 2
    });
    let a1 = told(&ops).into_iter().find(|t| t.0 == "A-1").unwrap();
    assert!(a1.1 > 0, "the alert carries its id: {:?}", told(&ops));

    let out = klaxon()
        .arg("ack")
        .arg(a1.1.to_string())
        .arg("-c")
        .arg(&worker)
        .args(["--by", "alice"])
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && answer.contains("acknowledged"),
        "klaxon ack: {answer} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // B-2 escalates after 2s; A-1, acknowledged, never does.
    wait_until("B-2 escalated to managers", Duration::from_secs(30), || {
        told(&managers).iter().any(|t| t.0 == "B-2")
    });
    std::thread::sleep(Duration::from_secs(3));
    let escalated: Vec<String> = told(&managers).into_iter().map(|t| t.0).collect();
    assert_eq!(escalated, vec!["B-2".to_string()], "{:?}", told(&managers));

    // Rule files edited while the cluster runs: the worker's partitions take the new
    // rules (the edge reloads as a single node does): C-3 goes to managers only.
    write(
        &dir.path().join("rules/rollbacks.yaml"),
        "name: rollbacks\nsource: app\nquery: 'msg:inventory_rollback'\ngroup_by: [sku]\n\
         notify: [managers]\n",
    );
    std::thread::sleep(Duration::from_secs(3));
    let now = chrono::Utc::now().to_rfc3339();
    let mut log = crate::support::files::Appender::open(&dir.path().join("logs/app.log"));
    log.line(format_args!(
        "{{\"ts\":\"{now}\",\"msg\":\"inventory_rollback\",\"sku\":\"C-3\"}}"
    ));
    log.flush();
    wait_until("C-3 told to managers", Duration::from_secs(30), || {
        told(&managers).iter().any(|t| t.0 == "C-3")
    });
    assert!(!told(&ops).iter().any(|t| t.0 == "C-3"), "{:?}", told(&ops));

    // A silence reaches every partition: D-4 is muted while E-5 is told; expired, the
    // muted alert is let through.
    let out = klaxon()
        .args(["silence", "add", "--match", "sku = D-4", "--for", "1h"])
        .args(["--comment", "maintenance", "-c"])
        .arg(&worker)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "silence add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let silence = String::from_utf8_lossy(&out.stdout).trim().to_string();
    std::thread::sleep(Duration::from_secs(2));
    let out = klaxon()
        .args(["silence", "list", "-c"])
        .arg(&worker)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && listed
                .lines()
                .any(|l| l.starts_with(&format!("{silence}\tactive\t"))
                    && l.contains("sku = D-4")
                    && l.contains("maintenance")),
        "silence list: {listed} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let now = chrono::Utc::now().to_rfc3339();
    for sku in ["D-4", "E-5"] {
        log.line(format_args!(
            "{{\"ts\":\"{now}\",\"msg\":\"inventory_rollback\",\"sku\":\"{sku}\"}}"
        ));
    }
    log.flush();
    wait_until("E-5 told to managers", Duration::from_secs(30), || {
        told(&managers).iter().any(|t| t.0 == "E-5")
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !told(&managers).iter().any(|t| t.0 == "D-4"),
        "silenced D-4 was told: {:?}",
        told(&managers)
    );
    let out = klaxon()
        .args(["silence", "expire", &silence, "-c"])
        .arg(&worker)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "silence expire: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        "D-4 told once its silence ended",
        Duration::from_secs(30),
        || told(&managers).iter().any(|t| t.0 == "D-4"),
    );

    // An id no partition of this cluster has is refused before anything is sent.
    let out = klaxon()
        .args(["ack", &u64::MAX.to_string(), "-c"])
        .arg(&worker)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an alert id of this cluster"));
}
