//! Real-world log samples through the real file source: a Java stack trace and a Python
//! traceback as single events, an nginx access log, logfmt from a Go service, JSON with
//! nested fields, and zone-less timestamps in Asia/Shanghai.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use klaxon::clock::SystemClock;
use klaxon::config::HumanDuration;
use klaxon::event::Event;
use klaxon::source::{build, FileSourceConfig, SourceConfig};

use crate::support::source::{SourceRun, NAME};

/// Writes `text` to a fresh file, tails it with the source described by `yaml` (the
/// options after `include`), and returns the first `n` events.
async fn tail(text: &str, yaml: &str, n: usize) -> Vec<Event> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, text).unwrap();
    let cfg = source_config(&log, yaml);
    let source = build(
        NAME,
        &SourceConfig::File(cfg),
        vec![],
        Arc::new(SystemClock),
    )
    .unwrap();
    let mut run = SourceRun::start(source, 8);
    let events = run
        .batches(n)
        .await
        .into_iter()
        .flat_map(|b| b.events)
        .collect();
    run.stop().await;
    events
}

fn source_config(log: &Path, yaml: &str) -> FileSourceConfig {
    let text = format!(
        "include: ['{}']\npoll_interval: 20ms\n{yaml}",
        log.display()
    );
    let mut cfg: FileSourceConfig = serde_saphyr::from_str(&text).unwrap();
    cfg.poll_interval = HumanDuration(Duration::from_millis(20));
    cfg.validate().unwrap();
    cfg
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

const JAVA: &str = "\
2026-06-08 11:00:00.120 INFO  [http-nio-8080-exec-3] c.e.o.OrderController : order O-1 paid
2026-06-08 11:00:00.457 ERROR [http-nio-8080-exec-7] c.e.o.OrderService : order_timeout while confirming O-2
org.springframework.dao.QueryTimeoutException: PreparedStatementCallback; SQL [update orders set state=? where id=?]; timeout
\tat org.springframework.jdbc.support.SQLStateSQLExceptionTranslator.doTranslate(SQLStateSQLExceptionTranslator.java:99)
\tat com.example.orders.OrderService.confirm(OrderService.java:212)
\t... 87 common frames omitted
Caused by: java.sql.SQLTimeoutException: Statement cancelled due to timeout or client request
\tat com.mysql.cj.jdbc.exceptions.SQLError.createSQLException(SQLError.java:113)
\t... 89 more
2026-06-08 11:00:01.002 INFO  [http-nio-8080-exec-1] c.e.o.OrderController : order O-3 paid
";

#[tokio::test]
async fn a_java_stack_trace_is_one_event_at_the_time_of_its_first_line() {
    let yaml = "time_format: '%Y-%m-%d %H:%M:%S%.f'\ntimezone: Asia/Shanghai\n\
                multiline:\n  start_pattern: '^\\d{4}-\\d{2}-\\d{2} '\n  mode: halt_before\n  timeout: 100ms\n";
    let events = tail(JAVA, yaml, 3).await;
    assert!(events[0].raw.ends_with("order O-1 paid"));
    let trace = &events[1].raw;
    assert!(trace.starts_with("2026-06-08 11:00:00.457 ERROR"));
    assert!(trace.contains("\nCaused by: java.sql.SQLTimeoutException"));
    assert!(trace.ends_with("\t... 89 more"));
    assert_eq!(trace.lines().count(), 8);
    // Shanghai is UTC+8 all year.
    assert_eq!(events[1].time, utc("2026-06-08T03:00:00.457Z"));
    let end_of_trace = JAVA.find("2026-06-08 11:00:01").unwrap() as u64;
    assert_eq!(events[1].origin.offset, end_of_trace);
    // The last record is complete once the timeout passes.
    assert!(events[2].raw.ends_with("order O-3 paid"));
}

const PYTHON: &str = "\
2026-06-08T03:00:02Z WARNING inventory sync slow
Traceback (most recent call last):
  File \"/srv/inventory/sync.py\", line 88, in run
    self.rollback(order)
  File \"/srv/inventory/sync.py\", line 131, in rollback
    raise InventoryRollback(f\"sku {sku} rolled back\")
inventory.errors.InventoryRollback: sku A-1 rolled back
2026-06-08T03:00:03Z INFO inventory sync done
";

#[tokio::test]
async fn a_python_traceback_is_one_event() {
    let yaml = "time_format: rfc3339\n\
                multiline:\n  start_pattern: '^\\d{4}-\\d{2}-\\d{2}T'\n  mode: halt_before\n  timeout: 100ms\n";
    let events = tail(PYTHON, yaml, 2).await;
    assert!(events[0].raw.starts_with("2026-06-08T03:00:02Z WARNING"));
    assert!(events[0]
        .raw
        .ends_with("InventoryRollback: sku A-1 rolled back"));
    assert_eq!(events[0].raw.lines().count(), 7);
    assert_eq!(events[0].time, utc("2026-06-08T03:00:02Z"));
    assert_eq!(
        events[1].raw,
        "2026-06-08T03:00:03Z INFO inventory sync done"
    );
}

const NGINX: &str = r#"203.0.113.7 - - [08/Jun/2026:11:00:00 +0800] "GET /api/orders/O-1 HTTP/1.1" 200 512 "-" "okhttp/4.12.0"
198.51.100.23 - ops [08/Jun/2026:11:00:01 +0800] "POST /api/orders/O-2/pay?channel=alipay HTTP/2.0" 504 167 "https://shop.example.com/checkout" "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Mobile Safari/537.36"
192.0.2.1 - - [08/Jun/2026:11:00:02 +0800] "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" 400 157 "-" "-"
"#;

#[tokio::test]
async fn an_nginx_access_log_decodes_with_the_combined_preset() {
    let yaml = "format: regex\npattern: nginx_combined\ntime_field: time_local\n\
                time_format: '%d/%b/%Y:%H:%M:%S %z'\n";
    let events = tail(NGINX, yaml, 3).await;
    let pay = &events[1];
    assert_eq!(pay.text("status").as_deref(), Some("504"));
    assert_eq!(pay.text("method").as_deref(), Some("POST"));
    assert_eq!(
        pay.text("path").as_deref(),
        Some("/api/orders/O-2/pay?channel=alipay")
    );
    assert_eq!(pay.text("remote_user").as_deref(), Some("ops"));
    assert!(pay.text("http_user_agent").unwrap().contains("Pixel 8"));
    assert_eq!(pay.time, utc("2026-06-08T03:00:01Z"));
    // A TLS handshake sent to the HTTP port: no method, still an event with its status.
    let probe = &events[2];
    assert_eq!(probe.text("status").as_deref(), Some("400"));
    assert_eq!(probe.text("method"), None);
    assert!(probe.text("message").unwrap().starts_with("192.0.2.1"));
}

const GO_LOGFMT: &str = r#"time=2026-06-08T11:00:00.250+08:00 level=INFO msg="order paid" service=orders order_id=O-1 sku=A-1 latency=12.5ms
time=2026-06-08T11:00:00.900+08:00 level=ERROR msg="payment callback timed out" service=orders order_id=O-2 sku=A-7 err="context deadline exceeded" retry=3
panic: runtime error: invalid memory address or nil pointer dereference
"#;

#[tokio::test]
async fn logfmt_from_a_go_service() {
    let yaml = "format: logfmt\ntime_field: time\n";
    let events = tail(GO_LOGFMT, yaml, 3).await;
    let err = &events[1];
    assert_eq!(err.text("level").as_deref(), Some("ERROR"));
    assert_eq!(
        err.text("msg").as_deref(),
        Some("payment callback timed out")
    );
    assert_eq!(
        err.text("err").as_deref(),
        Some("context deadline exceeded")
    );
    assert_eq!(err.text("retry").as_deref(), Some("3"));
    assert_eq!(err.time, utc("2026-06-08T03:00:00.900Z"));
    assert!(
        err.text("message").unwrap().contains("sku=A-7"),
        "whole line kept"
    );
    // The runtime's panic line is not logfmt: kept whole, as plain.
    assert!(events[2].fields.is_none());
    assert!(events[2].raw.starts_with("panic: runtime error"));
}

const JSON_NESTED: &str = r#"{"@timestamp":"2026-06-08 11:00:00.500","log":{"level":"error","logger":"orders.payment"},"http":{"request":{"method":"POST"},"response":{"status_code":502}},"order":{"id":"O-9","items":[{"sku":"A-1"},{"sku":"B-2"}]},"message":"upstream alipay gateway 502"}
{"@timestamp":1780887601500,"log":{"level":"info"},"message":"epoch millis from another service"}
"#;

#[tokio::test]
async fn json_with_nested_fields_and_a_zone_less_time() {
    let yaml = "format: json\ntime_field: '@timestamp'\ntimezone: Asia/Shanghai\n";
    let events = tail(JSON_NESTED, yaml, 2).await;
    let ev = &events[0];
    assert_eq!(ev.text("log.level").as_deref(), Some("error"));
    assert_eq!(ev.text("http.response.status_code").as_deref(), Some("502"));
    assert_eq!(ev.text("http.request.method").as_deref(), Some("POST"));
    assert!(ev.text("order.items").unwrap().contains("B-2"));
    // Written without an offset in Shanghai: 03:00:00.5 UTC.
    assert_eq!(ev.time, utc("2026-06-08T03:00:00.500Z"));
    let epoch = klaxon::decode::Decoder::with_options(&klaxon::decode::DecodeOptions {
        format: klaxon::decode::LineFormat::Json,
        time_field: Some("@timestamp".into()),
        time_format: Some("epoch_ms".parse().unwrap()),
        ..Default::default()
    })
    .unwrap();
    let again = epoch.decode(events[1].raw.clone(), events[1].origin.clone(), Utc::now());
    assert_eq!(again.time, utc("2026-06-08T03:00:01.500Z"));
}
