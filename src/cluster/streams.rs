//! The JetStream streams and KV buckets a cluster runs on, made if missing (idempotent:
//! every edge and worker calls this at start, whichever comes first creates them).

use async_nats::jetstream::{self, kv, stream};

use super::config::{ClusterSetup, MATCH_PREFIX, OUTBOX_PREFIX};

/// A connection and what the roles use of it.
pub struct Connected {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot connect to NATS at {servers}: {message}")]
    Connect { servers: String, message: String },
    #[error("JetStream {what} `{name}`: {message}")]
    Setup {
        what: &'static str,
        name: String,
        message: String,
    },
    #[error("JetStream: {0}")]
    Nats(String),
}

/// Connects to any of `setup.servers` (retrying in the background once connected).
pub async fn connect(setup: &ClusterSetup) -> Result<Connected, ClusterError> {
    let client = async_nats::ConnectOptions::new()
        .name(format!("klaxon-{}", setup.worker_id))
        .retry_on_initial_connect()
        .connection_timeout(std::time::Duration::from_secs(5))
        .connect(setup.servers.clone())
        .await
        .map_err(|e| ClusterError::Connect {
            servers: setup.servers.join(","),
            message: e.to_string(),
        })?;
    let js = jetstream::new(client.clone());
    Ok(Connected { client, js })
}

/// The match stream: file storage, limits retention of `setup.retention`, a duplicate
/// window of `setup.duplicate_window` (what drops an edge's re-publish).
pub async fn match_stream(
    js: &jetstream::Context,
    setup: &ClusterSetup,
) -> Result<stream::Stream, ClusterError> {
    ensure_stream(js, &setup.match_stream, MATCH_PREFIX, setup).await
}

/// The outbox stream: one subject per channel; the duplicate window drops a notification
/// a new partition owner raises again while replaying past its snapshot.
pub async fn outbox_stream(
    js: &jetstream::Context,
    setup: &ClusterSetup,
) -> Result<stream::Stream, ClusterError> {
    ensure_stream(js, &setup.outbox_stream, OUTBOX_PREFIX, setup).await
}

async fn ensure_stream(
    js: &jetstream::Context,
    name: &str,
    prefix: &str,
    setup: &ClusterSetup,
) -> Result<stream::Stream, ClusterError> {
    let config = stream::Config {
        name: name.to_string(),
        subjects: vec![format!("{prefix}.>")],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: setup.retention,
        duplicate_window: setup.duplicate_window,
        num_replicas: setup.replicas,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| ClusterError::Setup {
            what: "stream",
            name: name.to_string(),
            message: e.to_string(),
        })
}

/// The lease bucket: an entry lives `lease_ttl` after its last write, which is what makes
/// an unrenewed lease (a dead worker's) free.
pub async fn lease_bucket(
    js: &jetstream::Context,
    setup: &ClusterSetup,
) -> Result<kv::Store, ClusterError> {
    ensure_bucket(js, &setup.lease_bucket, setup.lease_ttl, setup).await
}

/// The snapshot bucket: kept for the stream's retention.
pub async fn snapshot_bucket(
    js: &jetstream::Context,
    setup: &ClusterSetup,
) -> Result<kv::Store, ClusterError> {
    ensure_bucket(js, &setup.snapshot_bucket, std::time::Duration::ZERO, setup).await
}

async fn ensure_bucket(
    js: &jetstream::Context,
    name: &str,
    max_age: std::time::Duration,
    setup: &ClusterSetup,
) -> Result<kv::Store, ClusterError> {
    if let Ok(store) = js.get_key_value(name).await {
        return Ok(store);
    }
    let config = kv::Config {
        bucket: name.to_string(),
        history: 1,
        max_age,
        num_replicas: setup.replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        // Another process made it in between.
        Err(first) => js
            .get_key_value(name)
            .await
            .map_err(|_| ClusterError::Setup {
                what: "key-value bucket",
                name: name.to_string(),
                message: first.to_string(),
            }),
    }
}

/// Hex of a name, for a subject token or KV key that must hold any text (channel names,
/// worker ids).
pub fn hex(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}
