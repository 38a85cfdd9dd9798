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
            servers: shown(&setup.servers),
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
    retry(|| js.get_or_create_stream(config.clone()))
        .await
        .map_err(|e| ClusterError::Setup {
            what: "stream",
            name: name.to_string(),
            message: e.to_string(),
        })
}

/// How long a start keeps trying to set up a stream or bucket: a JetStream cluster still
/// electing its leaders, or busy, times requests out for a while.
const SETUP_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// `attempt` until it succeeds or [`SETUP_PATIENCE`] has passed (then its last error).
async fn retry<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    mut attempt: impl FnMut() -> F,
) -> Result<T, E> {
    let started = std::time::Instant::now();
    let mut wait = std::time::Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) if started.elapsed() >= SETUP_PATIENCE => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "JetStream setup failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(2));
            }
        }
    }
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
    let config = kv::Config {
        bucket: name.to_string(),
        history: 1,
        max_age,
        num_replicas: setup.replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    retry(|| async {
        if let Ok(store) = js.get_key_value(name).await {
            return Ok(store);
        }
        match js.create_key_value(config.clone()).await {
            Ok(store) => Ok(store),
            // Another process made it in between.
            Err(first) => js.get_key_value(name).await.map_err(|_| first),
        }
    })
    .await
    .map_err(|e| ClusterError::Setup {
        what: "key-value bucket",
        name: name.to_string(),
        message: e.to_string(),
    })
}

/// Server URLs for logs and errors: credentials in a URL (`nats://user:pass@host`) are
/// replaced by `***`.
pub fn shown(servers: &[String]) -> String {
    servers
        .iter()
        .map(|url| match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}***{}", &url[..scheme + 3], &url[at..])
            }
            (None, Some(at)) => format!("***{}", &url[at..]),
            _ => url.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Hex of a name, for a subject token or KV key that must hold any text (channel names,
/// worker ids).
pub fn hex(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_server_urls_are_not_shown() {
        let servers = [
            "nats://ops:s3cret@nats-0:4222".to_string(),
            "nats://nats-1:4222".to_string(),
            "token@nats-2".to_string(),
        ];
        let text = shown(&servers);
        assert_eq!(text, "nats://***@nats-0:4222,nats://nats-1:4222,***@nats-2");
        assert!(!text.contains("s3cret") && !text.contains("token"));
    }
}
