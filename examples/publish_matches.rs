//! The publish cost alone, for `scripts/bench-cluster`: `N` matches shaped like the
//! benchmark's (a SKU key, five fields, a 130-byte sample) published to a JetStream server
//! in batches the way an edge does (`publish_batch`, every acknowledgement awaited), into
//! a stream made the way an edge makes it. Prints the seconds it took.
//!
//!     cargo run --release --example publish_matches -- nats://127.0.0.1:4222 40000 1024

use std::collections::BTreeMap;
use std::time::Instant;

use klaxon::cluster::config::MATCH_PREFIX;
use klaxon::cluster::publish::{publish_batch, PublishTarget};
use klaxon::cluster::wire::MatchMessage;
use klaxon::cluster::ClusterConfig;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url, n, batch) = match &args[1..] {
        [url, n, batch] => (
            url.clone(),
            n.parse::<usize>().unwrap(),
            batch.parse::<usize>().unwrap(),
        ),
        _ => panic!("usage: publish_matches NATS_URL MATCHES BATCH"),
    };
    let config: ClusterConfig =
        serde_saphyr::from_str(&format!("role: edge\nservers: [{url}]\nworker_id: bench\n"))
            .unwrap();
    let setup = config.setup().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let conn = klaxon::cluster::streams::connect(&setup).await.unwrap();
        klaxon::cluster::streams::match_stream(&conn.js, &setup).await.unwrap();
        let target = PublishTarget {
            prefix: MATCH_PREFIX.into(),
            partitions: setup.partitions,
            ack_timeout: std::time::Duration::from_secs(10),
        };
        let all: Vec<MatchMessage> = (0..n)
            .map(|i| {
                let sku = format!("SKU-{}", i % 5000);
                MatchMessage {
                    rule: "rollbacks".into(),
                    key: format!("{{\"sku\":\"{sku}\"}}"),
                    event_time: chrono::Utc::now(),
                    fields: BTreeMap::from([
                        ("msg".into(), "inventory_rollback".into()),
                        ("sku".into(), sku.clone().into()),
                        ("ts".into(), "2025-11-30T00:00:00.000Z".into()),
                    ]),
                    sample: format!("{{\"ts\":\"2025-11-30T00:00:00.000Z\",\"level\":\"ERROR\",\"msg\":\"inventory_rollback\",\"sku\":\"{sku}\",\"order_id\":\"o{i}\"}}"),
                    source: "orders".into(),
                    fingerprint: "0123456789abcdef0123456789abcdef".into(),
                    offset: i as u64 * 130,
                }
            })
            .collect();
        let started = Instant::now();
        for chunk in all.chunks(batch.max(1)) {
            publish_batch(&conn.js, &target, chunk).await.unwrap();
        }
        println!("{:.3}", started.elapsed().as_secs_f64());
    });
}
