//! Issue #14, `type: elasticsearch` against a real Elasticsearch-API server (noida-db):
//! more hits than a page, a document arriving late inside the overlap, a restart
//! mid-stream (kill -9), an outage of the server — every matching document alerted once,
//! none twice, none missed.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::binary::{klaxon, Klaxon};
use crate::support::http::closed_port;
use crate::support::noida::Noida;
use crate::support::{wait_until, write};

const INDEX: &str = "logs-orders";

fn doc(n: u64, level: &str, age_ms: i64) -> (String, Value) {
    let t = chrono::Utc::now() - chrono::Duration::milliseconds(age_ms);
    (
        format!("d{n}"),
        json!({
            "@timestamp": t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "level": level,
            "n": n,
            "message": format!("{level} order_timeout order {n}"),
        }),
    )
}

/// `(alerts, every alert seen exactly once)` from the API of the Klaxon at `port`.
fn alerts(port: u16) -> Option<(usize, bool)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let body = reqwest::get(format!(
            "http://127.0.0.1:{port}/api/alerts?state=all&limit=1000"
        ))
        .await
        .ok()?
        .json::<Value>()
        .await
        .ok()?;
        let list = body["alerts"].as_array()?.clone();
        Some((list.len(), list.iter().all(|a| a["occurrences"] == 1)))
    })
}

fn run(dir: &std::path::Path, port: u16) -> Klaxon {
    Klaxon::spawn(
        klaxon()
            .env("KLAXON_LISTEN", format!("127.0.0.1:{port}"))
            .current_dir(dir)
            .args(["run", "-c", "klaxon.yaml"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null()),
    )
}

#[test]
fn paging_late_documents_restart_and_outage_alert_each_document_once() {
    let mut es = Noida::start();
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("klaxon.yaml"),
        &format!(
            "sources:\n  orders:\n    type: elasticsearch\n    urls: [\"{}\"]\n    index: \"logs-*\"\n\
             query_delay: 1s\n    overlap: 6s\n    poll_interval: 200ms\n    page_size: 25\n    timeout: 5s\n\
             channels:\n  out:\n    type: console\n    format: line\nrules: rules\nstate_dir: state\nshutdown_timeout: 1s\n",
            es.url()
        )
        .replace("\nquery_delay", "\n    query_delay"),
    );
    write(
        &dir.path().join("rules/errors.yaml"),
        "name: order-errors\nsource: orders\nquery: 'level:ERROR'\ntype: any\ngroup_by: [n]\nrealert: 0s\nnotify: [out]\n",
    );
    let check = klaxon()
        .current_dir(dir.path())
        .args(["check", "-c", "klaxon.yaml"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    // More matching hits than four pages, among others; all inside the first window.
    let mut docs: Vec<(String, Value)> = (0..110).map(|n| doc(n, "ERROR", 1500)).collect();
    docs.extend((110..140).map(|n| doc(n, "INFO", 1500)));
    es.bulk(INDEX, &docs);
    let port = closed_port();
    let mut k = run(dir.path(), port);
    wait_until("110 alerts", Duration::from_secs(30), || {
        alerts(port) == Some((110, true))
    });

    // A document arriving late: its time is older than what was read, but inside the overlap.
    std::thread::sleep(Duration::from_millis(600));
    es.bulk(INDEX, &[doc(200, "ERROR", 2500)]);
    wait_until("the late document's alert", Duration::from_secs(20), || {
        alerts(port) == Some((111, true))
    });

    // Restart mid-stream: killed, more documents while down, started again. The overlap is
    // read again after the restart; what was handled before is not news.
    k.kill();
    es.bulk(
        INDEX,
        &(300..320).map(|n| doc(n, "ERROR", 500)).collect::<Vec<_>>(),
    );
    let mut k = run(dir.path(), port);
    wait_until(
        "131 alerts after the restart",
        Duration::from_secs(30),
        || alerts(port) == Some((131, true)),
    );

    // An outage: searches fail for a while; documents written just before it and just
    // after it are all found once it is back.
    es.bulk(
        INDEX,
        &(400..405).map(|n| doc(n, "ERROR", 300)).collect::<Vec<_>>(),
    );
    es.stop();
    std::thread::sleep(Duration::from_secs(2));
    es.up();
    es.bulk(
        INDEX,
        &(500..505).map(|n| doc(n, "ERROR", 200)).collect::<Vec<_>>(),
    );
    let mut last = None;
    let back = crate::support::wait_for(Duration::from_secs(40), || {
        last = alerts(port);
        last == Some((141, true))
    });
    assert!(back, "after the outage: {last:?} (alerts, each once)");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        alerts(port),
        Some((141, true)),
        "nothing alerted twice later"
    );
    let stderr = k.stderr();
    assert!(
        stderr.contains("search failed (the window is read again)"),
        "{stderr}"
    );
    k.terminate();
    assert!(k.wait_timeout(Duration::from_secs(15)).is_some());
}

/// The same rule file over a file of the documents and over the same documents in an
/// index raises the same alerts.
#[test]
fn a_rule_over_an_index_alerts_as_over_a_file_of_its_documents() {
    let es = Noida::start();
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("klaxon.yaml"),
        &format!(
            "sources:\n  orders:\n    type: elasticsearch\n    urls: [\"{}\"]\n    index: \"same-*\"\n    \
             query_delay: 1s\n    overlap: 10s\n    poll_interval: 200ms\n    page_size: 7\n\
             channels:\n  out:\n    type: console\n    format: line\nrules: rules\nstate_dir: state\n",
            es.url()
        ),
    );
    let rule = dir.path().join("rules/burst.yaml");
    write(
        &rule,
        "name: sku-burst\nsource: orders\nquery: 'level:ERROR AND message:timeout'\ntype: frequency\n\
         threshold: 3\nwindow: 1m\ngroup_by: [sku]\nnotify: [out]\n",
    );
    // skus 0..6 get 0..6 errors (those with 3 or more alert), plus noise.
    let mut docs = Vec::new();
    let mut n = 0;
    for sku in 0..7u64 {
        for _ in 0..sku {
            let (id, mut d) = doc(n, "ERROR", 6000 - (n as i64) * 50);
            d["sku"] = json!(format!("S-{sku}"));
            d["message"] = json!(format!("payment timeout for S-{sku}"));
            docs.push((id, d));
            n += 1;
        }
    }
    for i in 0..10 {
        let (id, mut d) = doc(1000 + i, "INFO", 5000);
        d["sku"] = json!("S-6");
        docs.push((id, d));
    }
    docs.sort_by(|a, b| a.1["@timestamp"].as_str().cmp(&b.1["@timestamp"].as_str()));
    let file = dir.path().join("docs.jsonl");
    write(
        &file,
        &docs
            .iter()
            .map(|(_, d)| format!("{d}\n"))
            .collect::<String>(),
    );
    let from_file = klaxon()
        .current_dir(dir.path())
        .args(["test"])
        .arg(&rule)
        .arg("--input")
        .arg(&file)
        .args(["--json", "-c", "klaxon.yaml"])
        .output()
        .unwrap();
    assert!(
        from_file.status.success(),
        "{}",
        String::from_utf8_lossy(&from_file.stderr)
    );
    let mut file_keys: Vec<(String, u64)> = String::from_utf8_lossy(&from_file.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|a| a.get("rule").is_some())
        .map(|a| {
            (
                a["key"]["sku"].as_str().unwrap_or("").to_string(),
                a["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    file_keys.sort();
    assert_eq!(
        file_keys
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>(),
        ["S-3", "S-4", "S-5", "S-6"],
        "{file_keys:?}"
    );

    es.bulk("same-1", &docs);
    let port = closed_port();
    let k = run(dir.path(), port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut index_keys = Vec::new();
    let got = crate::support::wait_for(Duration::from_secs(30), || {
        let body = rt.block_on(async {
            reqwest::get(format!("http://127.0.0.1:{port}/api/alerts?state=all"))
                .await
                .ok()?
                .json::<Value>()
                .await
                .ok()
        });
        index_keys = body
            .and_then(|b| b["alerts"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|a| {
                (
                    a["key"]
                        .as_str()
                        .unwrap_or("")
                        .trim_start_matches("sku=")
                        .to_string(),
                    a["count"].as_u64().unwrap_or(0),
                )
            })
            .collect::<Vec<_>>();
        index_keys.sort();
        index_keys.len() >= file_keys.len()
    });
    assert!(got, "{index_keys:?}\n{}", k.stderr());
    assert_eq!(
        index_keys, file_keys,
        "the same alerts, with the same counts"
    );
}

#[test]
fn check_places_elasticsearch_source_problems() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("rules/r.yaml"),
        "name: r\nsource: orders\nquery: x\ntype: any\nnotify: [out]\n",
    );
    let check = |source: &str| {
        write(
            &dir.path().join("klaxon.yaml"),
            &format!(
                "sources:\n  orders:\n    type: elasticsearch\n{source}channels:\n  out:\n    type: console\nrules: rules\nstate_dir: state\n"
            ),
        );
        let out = klaxon()
            .env("ES_PASSWORD", "pa55w0rd-secret")
            .current_dir(dir.path())
            .args(["check", "-c", "klaxon.yaml"])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = check("    urls: [\"http://127.0.0.1:9200\"]\n    index: \"logs-*\"\n");
    assert!(ok, "{err}");
    for (source, expected) in [
        ("    urls: []\n    index: \"logs-*\"\n", "`urls`: name at least one node"),
        ("    urls: [\"es1:9200\"]\n    index: \"logs-*\"\n", "`urls`: `es1:9200` is not an http(s) URL"),
        ("    urls: [\"http://es\"]\n    index: \"logs-*\"\n    page_size: 0\n", "`page_size`: between 1 and 10000"),
        (
            "    urls: [\"http://es\"]\n    index: \"logs-*\"\n    username: u\n    password: ${ES_PASSWORD}\n    api_key: k\n",
            "use one of `username`/`password`, `api_key`, `bearer_token`",
        ),
        ("    urls: [\"http://es\"]\n    index: \"logs-*\"\n    pagesize: 5\n", "unknown field `pagesize`"),
    ] {
        let (ok, err) = check(source);
        assert!(!ok, "{source}");
        assert!(err.contains("klaxon.yaml:") && err.contains(expected), "{source}\n{err}");
        assert!(!err.contains("pa55w0rd-secret"), "{err}");
    }
}
