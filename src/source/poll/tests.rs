//! The polling loop and both pollers against real HTTP servers on 127.0.0.1: what they
//! send, what they make of good, bad, slow and huge answers, and that no secret ever
//! reaches an error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::http_json::{HttpJsonConfig, HttpJsonPoller};
use super::rabbitmq::{RabbitMqConfig, RabbitMqPoller};
use super::*;
use crate::clock::ManualClock;

/// One answer: status, body, and how long to wait before giving it.
#[derive(Clone)]
struct Reply(u16, String, Duration);

fn ok(body: &str) -> Reply {
    Reply(200, body.to_string(), Duration::ZERO)
}

/// A server giving the scripted replies in order (the last one for ever after), and
/// keeping what was asked.
struct Server {
    addr: std::net::SocketAddr,
    asked: Arc<Mutex<Vec<(String, HeaderMap)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(replies: Vec<Reply>) -> Server {
        let script = Arc::new(Mutex::new(replies));
        let asked: Arc<Mutex<Vec<(String, HeaderMap)>>> = Arc::default();
        let seen = asked.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let script = script.clone();
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push((uri.to_string(), headers));
                let reply = {
                    let mut s = script.lock().unwrap();
                    if s.len() > 1 {
                        s.remove(0)
                    } else {
                        s[0].clone()
                    }
                };
                tokio::time::sleep(reply.2).await;
                (StatusCode::from_u16(reply.0).unwrap(), reply.1).into_response()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server { addr, asked, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn asked(&self) -> Vec<(String, HeaderMap)> {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn http_json(yaml: &str) -> HttpJsonConfig {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn rabbitmq(yaml: &str) -> RabbitMqConfig {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

async fn poll_once(config: &HttpJsonConfig) -> Result<Polled, PollError> {
    HttpJsonPoller::new(config).unwrap().poll().await
}

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 8, 3, 0, 0).unwrap()
}

/// A polling source on `poller` every `interval`, running until the returned sender says
/// stop; its batches come out of the receiver.
fn running(
    poller: Box<dyn Poller>,
    interval: Duration,
    metrics: SourceMetrics,
) -> (
    mpsc::Receiver<Batch>,
    watch::Sender<bool>,
    tokio::task::JoinHandle<Result<(), SourceError>>,
) {
    let clock = Arc::new(ManualClock::new(at()));
    let source =
        PollSource::new("svc", "http://svc/".into(), interval, poller, clock).with_metrics(metrics);
    let (tx, rx) = mpsc::channel(16);
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(Box::new(source).run(tx, shutdown));
    (rx, stop, task)
}

async fn next_batch(rx: &mut mpsc::Receiver<Batch>) -> Batch {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a batch within 10 s")
        .expect("the source still runs")
}

#[tokio::test]
async fn fields_are_picked_by_pointer_and_numbers_stay_numbers() {
    let body = json!({"queue": {"depth": 1200, "name": "orders", "a/b": true},
                      "ratio": 0.25, "big": 18446744073709551615u64, "tags": ["x"]});
    let server = Server::start(vec![ok(&body.to_string())]).await;
    let config = http_json(&format!(
        "url: {}\nfields:\n  depth: /queue/depth\n  name: /queue/name\n  slash: /queue/a~1b\n  ratio: /ratio\n  big: /big\n  tags: /tags\n  missing: /nope\n",
        server.url("/stats")
    ));
    let polled = poll_once(&config).await.unwrap();
    assert_eq!(polled.records.len(), 1);
    assert_eq!(
        Value::Object(polled.records[0].clone()),
        json!({"depth": 1200, "name": "orders", "slash": true, "ratio": 0.25,
               "big": 18446744073709551615u64, "tags": ["x"]}),
        "a pointer that finds nothing leaves its field out"
    );
    assert_eq!(polled.bytes, body.to_string().len() as u64);
}

#[tokio::test]
async fn items_make_one_event_per_element_with_relative_pointers() {
    let body = json!({"data": {"queues": [
        {"name": "a", "stats": {"depth": 1}},
        {"name": "b", "stats": {"depth": 2}},
        {"name": "c"}
    ]}});
    let server = Server::start(vec![ok(&body.to_string())]).await;
    let url = server.url("/q");
    let config = http_json(&format!(
        "url: {url}\nitems: /data/queues\nfields: {{queue: /name, depth: /stats/depth}}\n"
    ));
    let polled = poll_once(&config).await.unwrap();
    let got: Vec<Value> = polled.records.into_iter().map(Value::Object).collect();
    assert_eq!(
        got,
        [
            json!({"queue": "a", "depth": 1}),
            json!({"queue": "b", "depth": 2}),
            json!({"queue": "c"})
        ]
    );
    let not_array = http_json(&format!("url: {url}\nitems: /data\nfields: {{q: /name}}\n"));
    let e = poll_once(&not_array).await.unwrap_err();
    assert_eq!(e.to_string(), "`items` /data is not an array in the answer");
    let many = format!("{{\"data\":[{}0]}}", "0,".repeat(MAX_RECORDS));
    let server_many = Server::start(vec![ok(&many)]).await;
    let config = http_json(&format!(
        "url: {}\nitems: /data\nfields: {{q: /name}}\n",
        server_many.url("/")
    ));
    let e = poll_once(&config).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "`items` /data has 100001 elements; at most 100000 are read per poll"
    );
    let absent = http_json(&format!("url: {url}\nitems: /nope\nfields: {{q: /name}}\n"));
    let e = poll_once(&absent).await.unwrap_err();
    assert_eq!(e.to_string(), "`items` /nope is not in the answer");
}

#[tokio::test]
async fn garbage_deep_and_huge_answers_are_errors_that_quote_nothing() {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let huge = format!("\"{}\"", "x".repeat(MAX_BODY_BYTES + 10));
    let server = Server::start(vec![
        ok("<html>secret-page-text</html>"),
        ok(""),
        ok(&deep),
        ok(&huge),
        ok("{\"n\": 1}"),
    ])
    .await;
    let config = http_json(&format!("url: {}\nfields: {{n: /n}}\n", server.url("/")));
    let poller = HttpJsonPoller::new(&config).unwrap();
    let e = poller.poll().await.unwrap_err().to_string();
    assert!(
        e.starts_with("the response is not JSON: expected value"),
        "{e}"
    );
    assert!(!e.contains("secret-page-text"), "{e}");
    let e = poller.poll().await.unwrap_err().to_string();
    assert!(e.contains("EOF"), "{e}");
    let e = poller.poll().await.unwrap_err().to_string();
    assert!(e.contains("recursion limit exceeded"), "{e}");
    let e = poller.poll().await.unwrap_err().to_string();
    assert_eq!(e, "the response is larger than 16 MiB");
    assert_eq!(poller.poll().await.unwrap().records.len(), 1);
}

/// A body sent in chunks with no length announced is cut at the cap too.
#[tokio::test]
async fn a_chunked_body_past_the_cap_is_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = conn.read(&mut buf).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        conn.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..20 {
            let size = format!("{:x}\r\n", chunk.len());
            if conn.write_all(size.as_bytes()).await.is_err()
                || conn.write_all(&chunk).await.is_err()
                || conn.write_all(b"\r\n").await.is_err()
            {
                return;
            }
        }
        let _ = conn.write_all(b"0\r\n\r\n").await;
    });
    let config = http_json(&format!("url: http://{addr}/\nfields: {{n: /n}}\n"));
    let e = poll_once(&config).await.unwrap_err();
    assert_eq!(e.to_string(), "the response is larger than 16 MiB");
    server.abort();
}

#[tokio::test]
async fn secrets_in_headers_and_the_url_never_reach_an_error() {
    // A server that echoes what it was sent, as some error pages do.
    let server = Server::start(vec![Reply(
        401,
        "bad token Bearer tok-SECRET-123 for /stats?api_key=KEY-SECRET-456 user bob:PW-SECRET-789"
            .into(),
        Duration::ZERO,
    )])
    .await;
    let url = format!(
        "http://bob:PW-SECRET-789@{}/stats?api_key=KEY-SECRET-456",
        server.addr
    );
    let config = http_json(&format!(
        "url: {url}\nheaders: {{Authorization: Bearer tok-SECRET-123}}\nfields: {{n: /n}}\n"
    ));
    let e = poll_once(&config).await.unwrap_err().to_string();
    assert!(e.starts_with("HTTP 401 Unauthorized: bad token"), "{e}");
    for secret in ["tok-SECRET-123", "KEY-SECRET-456", "PW-SECRET-789"] {
        assert!(!e.contains(secret), "{secret} leaked: {e}");
    }
    let (_, headers) = server.asked().remove(0);
    assert_eq!(headers["authorization"], "Bearer tok-SECRET-123");
    // No answer at all: reqwest's own text would name the URL.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = http_json(&format!(
        "url: http://bob:PW-SECRET-789@127.0.0.1:{closed}/s?api_key=KEY-SECRET-456\nfields: {{n: /n}}\n"
    ));
    let e = poll_once(&config).await.unwrap_err().to_string();
    assert!(e.starts_with("request failed"), "{e}");
    for secret in ["KEY-SECRET-456", "PW-SECRET-789", "127.0.0.1"] {
        assert!(!e.contains(secret), "{secret} shown: {e}");
    }
    // Nor does the config's Debug (what a panic or a trace would print).
    let shown = format!("{config:?}");
    for secret in ["KEY-SECRET-456", "PW-SECRET-789"] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    let with_header = http_json(&format!(
        "url: {url}\nheaders: {{Authorization: Bearer tok-SECRET-123}}\nfields: {{n: /n}}\n"
    ));
    let shown = format!("{with_header:?}");
    assert!(!shown.contains("tok-SECRET"), "{shown}");
}

#[tokio::test]
async fn failures_are_retried_with_backoff_and_counted_until_the_service_answers() {
    let server = Server::start(vec![
        Reply(500, "down".into(), Duration::ZERO),
        Reply(200, "{\"n\": 1}".into(), Duration::from_secs(3)), // past the timeout
        ok("{\"n\": 7}"),
    ])
    .await;
    let config = http_json(&format!(
        "url: {}\ninterval: 100ms\ntimeout: 500ms\nfields: {{n: /n}}\n",
        server.url("/")
    ));
    let metrics = SourceMetrics::default();
    let (mut rx, stop, task) = running(
        Box::new(HttpJsonPoller::new(&config).unwrap()),
        config.interval.0,
        metrics.clone(),
    );
    let batch = next_batch(&mut rx).await;
    assert!(batch.checkpoints.is_empty(), "a poll cannot be replayed");
    let event = &batch.events[0];
    assert_eq!(event.raw, "{\"n\":7}");
    assert_eq!(event.time, at(), "the poll's time, from the clock");
    assert_eq!(&*event.origin.source, "svc");
    assert_eq!(metrics.poll_failures.get(), 2, "a 500 and a timeout");
    assert_eq!(metrics.polls.get(), 3);
    assert_eq!(metrics.lines_read.get(), 1);
    assert_eq!(metrics.last_poll.get(), at().timestamp() as f64);
    // Then every interval.
    next_batch(&mut rx).await;
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_is_prompt_even_while_a_request_hangs() {
    let server = Server::start(vec![Reply(200, "{}".into(), Duration::from_secs(60))]).await;
    let config = http_json(&format!(
        "url: {}\ntimeout: 50s\nfields: {{n: /n}}\n",
        server.url("/")
    ));
    let (_rx, stop, task) = running(
        Box::new(HttpJsonPoller::new(&config).unwrap()),
        config.interval.0,
        SourceMetrics::default(),
    );
    tokio::time::timeout(Duration::from_secs(5), async {
        while server.asked().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let asked = std::time::Instant::now();
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("stopped within a second")
        .unwrap()
        .unwrap();
    assert!(asked.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn once_polls_a_single_time_and_a_failure_is_the_error() {
    let server = Server::start(vec![
        ok("{\"n\": 1}"),
        Reply(503, "".into(), Duration::ZERO),
    ])
    .await;
    let config = http_json(&format!("url: {}\nfields: {{n: /n}}\n", server.url("/")));
    let clock = Arc::new(ManualClock::new(at()));
    for expect_ok in [true, false] {
        let poller = Box::new(HttpJsonPoller::new(&config).unwrap());
        let source = PollSource::new(
            "svc",
            "http://svc/".into(),
            config.interval.0,
            poller,
            clock.clone(),
        )
        .once();
        let (tx, mut rx) = mpsc::channel(4);
        let (_stop, shutdown) = watch::channel(false);
        let result = Box::new(source).run(tx, shutdown).await;
        assert_eq!(result.is_ok(), expect_ok, "{result:?}");
        if expect_ok {
            assert_eq!(rx.recv().await.unwrap().events.len(), 1);
        } else {
            let e = result.unwrap_err().to_string();
            assert_eq!(e, "source `svc`: polling http://svc/ failed: HTTP 503 Service Unavailable: (empty body)");
        }
        assert!(rx.recv().await.is_none(), "ended");
    }
    assert_eq!(server.asked().len(), 2);
}

#[test]
fn backoff_starts_short_and_grows_to_the_interval_or_a_minute() {
    let s = Duration::from_secs;
    let waits: Vec<Duration> = (1..=8).map(|n| backoff(n, s(15))).collect();
    assert_eq!(waits, [s(1), s(2), s(4), s(8), s(16), s(32), s(60), s(60)]);
    assert_eq!(
        backoff(1, Duration::from_millis(100)),
        Duration::from_millis(100)
    );
    assert_eq!(
        backoff(u32::MAX, s(600)),
        s(600),
        "never past a long interval"
    );
}

#[tokio::test]
async fn rabbitmq_asks_for_the_vhost_queues_with_basic_auth_and_keeps_those_wanted() {
    let queues = json!([
        {"name":"orders.payment","vhost":"/","messages_ready":1200,"messages_unacknowledged":3,"messages":1203,"consumers":0},
        {"name":"orders.callback","vhost":"/","messages_ready":0,"messages_unacknowledged":0,"messages":0,"consumers":2},
        {"name":"billing","vhost":"/","messages_ready":5,"messages_unacknowledged":0,"messages":5,"consumers":1}
    ]);
    let server = Server::start(vec![ok(&queues.to_string()), ok("{\"error\":\"x\"}")]).await;
    let config = rabbitmq(&format!(
        "url: {}\nusername: klaxon\npassword: PW-SECRET-1\nqueues: [\"orders.*\"]\n",
        server.url("")
    ));
    let poller = RabbitMqPoller::new(&config).unwrap();
    let polled = poller.poll().await.unwrap();
    let names: Vec<&str> = polled
        .records
        .iter()
        .map(|r| r["queue"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["orders.payment", "orders.callback"]);
    assert_eq!(
        polled.records[0]["message"],
        "queue orders.payment: 1200 ready, 3 unacked, 0 consumers"
    );
    let (uri, headers) = server.asked().remove(0);
    assert_eq!(
        uri,
        "/api/queues/%2F?columns=name,vhost,messages_ready,messages_unacknowledged,messages,consumers"
    );
    // klaxon:PW-SECRET-1
    assert_eq!(headers["authorization"], "Basic a2xheG9uOlBXLVNFQ1JFVC0x");
    let e = poller.poll().await.unwrap_err().to_string();
    assert!(e.contains("not a list of queues"), "{e}");
}
