//! The Elasticsearch source held to Elasticsearch 8's wire format: a local listener answers
//! with recorded response bodies (`tests/it/recorded/elasticsearch/`, and where they come
//! from) — a point in time, pages with `search_after`, a rejected search (429), a 200 with a
//! failed shard, a 400 — and the test checks what the source asked and what it made of it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use klaxon::clock::ManualClock;
use klaxon::event::Event;
use klaxon::source::elasticsearch::{ElasticsearchSource, ElasticsearchSourceConfig, SearchQuery};
use klaxon::source::{Batch, Checkpoint, Source};

fn recorded(name: &str) -> String {
    let path = format!(
        "{}/tests/it/recorded/elasticsearch/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What a search finding nothing answers (after the recorded answers are used up).
const EMPTY_PAGE: &str = r#"{"took":1,"timed_out":false,"_shards":{"total":2,"successful":2,"skipped":0,"failed":0},"hits":{"max_score":null,"hits":[]}}"#;

#[derive(Clone, Default)]
struct Cluster {
    /// Answers to `/_search`, in order: (status, body).
    searches: Arc<Mutex<VecDeque<(u16, String)>>>,
    /// Every request: (method, path and query, body).
    seen: Arc<Mutex<Vec<(Method, String, Value)>>>,
    /// The `Authorization` header of every request.
    auth: Arc<Mutex<Vec<String>>>,
    /// Answer point-in-time requests as a cluster without them does.
    no_pit: bool,
}

async fn answer(
    State(c): State<Cluster>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    if let Some(a) = headers.get("authorization") {
        c.auth
            .lock()
            .unwrap()
            .push(a.to_str().unwrap_or("").to_string());
    }
    let path = uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    c.seen
        .lock()
        .unwrap()
        .push((method.clone(), path.clone(), json));
    let (status, body) = if path.contains("/_pit") && c.no_pit {
        (
            404,
            r#"{"error":"Incorrect HTTP method for uri","status":405}"#.to_string(),
        )
    } else if path.contains("/_pit") && method == Method::POST {
        (200, recorded("open_pit.json"))
    } else if path.starts_with("/_pit") {
        (200, recorded("close_pit.json"))
    } else if path.starts_with("/_search") || path.contains("/_search") {
        c.searches
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or((200, EMPTY_PAGE.to_string()))
    } else {
        (404, "{}".into())
    };
    (
        StatusCode::from_u16(status).unwrap(),
        [
            ("content-type", "application/json"),
            ("x-elastic-product", "Elasticsearch"),
        ],
        body,
    )
        .into_response()
}

impl Cluster {
    /// Answers on a loopback port of its own; the address.
    async fn serve(&self) -> std::net::SocketAddr {
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }
}

/// Runs `source` until a batch carries its checkpoint, then stops it: the events handed
/// over until then, and that checkpoint.
async fn until_checkpoint(source: ElasticsearchSource) -> (Vec<Event>, Checkpoint) {
    let (tx, mut rx) = mpsc::channel::<Batch>(8);
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(Box::new(source).run(tx, shutdown));
    let mut events = Vec::new();
    let checkpoint = loop {
        let batch = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("a batch")
            .expect("the source runs");
        events.extend(batch.events);
        if let Some(c) = batch.checkpoints.into_iter().next() {
            break c;
        }
    };
    let _ = stop.send(true);
    let _ = task.await;
    (events, checkpoint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_a_point_in_time_after_a_rejection_and_a_failed_shard() {
    let cluster = Cluster::default();
    cluster.searches.lock().unwrap().extend([
        (429, recorded("error_rejected_429.json")),
        (200, recorded("search_shard_failure.json")),
        (503, recorded("error_unavailable_503.json")),
        (200, recorded("search_page_1.json")),
        (200, recorded("search_page_2.json")),
    ]);
    let addr = cluster.serve().await;

    let cfg: ElasticsearchSourceConfig = serde_saphyr::from_str(&format!(
        "urls: [\"http://{addr}\"]\nindex: \"logs-orders-*\"\nquery_delay: 1s\noverlap: 10s\n\
         poll_interval: 20ms\npage_size: 2\ntimeout: 5s\n"
    ))
    .unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-29T10:00:10Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let clock = Arc::new(ManualClock::new(now));
    let query = Arc::new(SearchQuery::new(Some(
        serde_json::json!({"match": {"level": {"query": "ERROR"}}}),
    )));
    let source = ElasticsearchSource::new("orders", &cfg, Vec::new(), clock, query).unwrap();

    // The hits come once the cluster answers; the checkpoint with the last page.
    let (events, cp) = until_checkpoint(source).await;
    let orders: Vec<String> = events
        .iter()
        .map(|e| e.text("order_id").unwrap().into_owned())
        .collect();
    assert_eq!(orders, ["O1", "O2", "O3"]);
    assert_eq!(events[0].origin.path.as_ref(), "logs-orders-2026.11.29");
    assert_eq!(
        events[2]
            .time
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "2026-11-29T10:00:03.500Z"
    );
    assert_eq!(
        cp.offset as i64,
        (now - chrono::Duration::seconds(1)).timestamp_millis()
    );

    // What the source asked: a point in time on the index; searches in it, with no index in
    // the path; the window and the rules' query; the sort with the shard-doc tiebreaker;
    // the second page after the first page's last sort values.
    let seen = cluster.seen.lock().unwrap().clone();
    let pits: Vec<&(Method, String, Value)> = seen
        .iter()
        .filter(|(m, p, _)| *m == Method::POST && p.contains("/_pit"))
        .collect();
    assert!(
        pits.iter()
            .all(|(_, p, _)| p.starts_with("/logs-orders-*/_pit?keep_alive=1m")),
        "{pits:?}"
    );
    let searches: Vec<&Value> = seen
        .iter()
        .filter(|(_, p, _)| p.starts_with("/_search"))
        .map(|(_, _, b)| b)
        .collect();
    assert_eq!(searches.len(), 5, "429, failed shard, 503, then two pages");
    let last_two = &searches[3..];
    for s in last_two {
        assert!(
            s["pit"]["id"].as_str().unwrap().starts_with("46ToAwMD"),
            "{s}"
        );
        assert_eq!(s["size"], 2);
        assert_eq!(s["sort"][1], serde_json::json!({"_shard_doc": "asc"}));
        let range = &s["query"]["bool"]["filter"][0]["range"]["@timestamp"];
        assert_eq!(range["gt"], "2026-11-29T09:59:59.000Z");
        assert_eq!(range["lte"], "2026-11-29T10:00:09.000Z");
        assert_eq!(
            s["query"]["bool"]["filter"][1]["match"]["level"]["query"],
            "ERROR"
        );
    }
    assert!(last_two[0].get("search_after").is_none());
    assert_eq!(
        last_two[1]["search_after"],
        serde_json::json!([1795514402000u64, 7])
    );
    // Every point in time opened was closed.
    let closed = seen
        .iter()
        .filter(|(m, p, _)| *m == Method::DELETE && p.starts_with("/_pit"))
        .count();
    assert_eq!(closed, pits.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_the_cluster_refuses_moves_nothing_and_is_retried() {
    let cluster = Cluster::default();
    cluster.searches.lock().unwrap().extend([
        (400, recorded("error_parsing_400.json")),
        (400, recorded("error_parsing_400.json")),
    ]);
    let addr = cluster.serve().await;
    let cfg: ElasticsearchSourceConfig = serde_saphyr::from_str(&format!(
        "urls: [\"http://{addr}\"]\nindex: \"logs-*\"\npoll_interval: 10ms\ntimeout: 5s\n"
    ))
    .unwrap();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let query = Arc::new(SearchQuery::new(Some(serde_json::json!({"match_all": {}}))));
    let metrics = klaxon::telemetry::Metrics::new();
    let m = metrics.polled_source("logs");
    let source = ElasticsearchSource::new("logs", &cfg, Vec::new(), clock, query)
        .unwrap()
        .with_metrics(m.clone());
    // Two refusals, then an empty answer: only then does a checkpoint come.
    let (events, _) = until_checkpoint(source).await;
    assert!(events.is_empty());
    assert_eq!(m.poll_failures.get(), 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while m.poll_failing.get() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "still failing after an answer"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Without point in time (an older cluster): pages follow the time alone, searches name
/// the index, and an API key goes in every request's `Authorization`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_point_in_time_pages_on_time_with_the_api_key() {
    let cluster = Cluster {
        no_pit: true,
        ..Cluster::default()
    };
    cluster.searches.lock().unwrap().extend([
        (200, recorded("search_page_1.json")),
        (200, recorded("search_page_2.json")),
    ]);
    let addr = cluster.serve().await;
    let cfg: ElasticsearchSourceConfig = serde_saphyr::from_str(&format!(
        "urls: [\"http://{addr}\"]\nindex: \"logs-orders-*\"\nquery_delay: 1s\noverlap: 10s\n\
         poll_interval: 20ms\npage_size: 2\napi_key: \"aWQ6c2VjcmV0\"\n"
    ))
    .unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-29T10:00:10Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let query = Arc::new(SearchQuery::new(Some(serde_json::json!({"match_all": {}}))));
    let source = ElasticsearchSource::new(
        "orders",
        &cfg,
        Vec::new(),
        Arc::new(ManualClock::new(now)),
        query,
    )
    .unwrap();
    let (events, _) = until_checkpoint(source).await;
    assert_eq!(events.len(), 3);
    let seen = cluster.seen.lock().unwrap().clone();
    let searches: Vec<&(Method, String, Value)> = seen
        .iter()
        .filter(|(_, p, _)| p.contains("_search"))
        .collect();
    assert_eq!(searches.len(), 2);
    for (_, path, body) in &searches {
        assert!(
            path.starts_with("/logs-orders-*/_search"),
            "{path} {seen:?}"
        );
        assert!(
            body.get("pit").is_none() && body["sort"].as_array().unwrap().len() == 1,
            "{body}"
        );
    }
    // The second page starts at the first page's last time (just before it: `gt`).
    let range = &searches[1].2["query"]["bool"]["filter"][0]["range"]["@timestamp"];
    assert_eq!(range["gt"], "2026-11-29T10:00:01.999Z", "{range}");
    let auth = cluster.auth.lock().unwrap().clone();
    assert!(
        !auth.is_empty() && auth.iter().all(|a| a == "ApiKey aWQ6c2VjcmV0"),
        "{auth:?}"
    );
}
