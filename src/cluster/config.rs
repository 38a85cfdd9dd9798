//! What klaxon.yaml's `cluster:` section says, as plain data. Without the section Klaxon
//! is single-node (nothing here is read); with it, `klaxon run` is an edge or a worker.
//! [`ClusterConfig::setup`] checks it and makes the [`ClusterSetup`] the roles run on.

use std::time::Duration;

use serde::Deserialize;

use crate::types::HumanDuration;

/// Which half of the cluster this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Tails and matches where the logs are; publishes each match to JetStream.
    Edge,
    /// Owns partitions of (rule, key): runs rule state, raises and delivers alerts.
    Worker,
}

/// `cluster:` — scale-out on NATS JetStream (docs/SCALING.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub role: Role,
    /// NATS server URLs (`nats://host:4222`); any one reachable is enough.
    pub servers: Vec<String>,
    /// Partitions of (rule, key). Every edge and worker must agree; more than the most
    /// workers you will run (default 64).
    #[serde(default = "default_partitions")]
    pub partitions: u16,
    /// This worker's name in leases (default: host name and process id; `KLAXON_WORKER_ID`).
    #[serde(default)]
    pub worker_id: Option<String>,
    /// How long a lease lasts unrenewed: a dead worker's partitions move after it (default 6s).
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl: HumanDuration,
    /// How often a worker snapshots each partition's rule state (default 5s).
    #[serde(default = "default_snapshot_interval")]
    pub snapshot_interval: HumanDuration,
    /// How long JetStream remembers a message id: a re-publish within it is dropped
    /// (default 10m; longer than an edge restart and a worker failover).
    #[serde(default = "default_duplicate_window")]
    pub duplicate_window: HumanDuration,
    /// How long matches and outbox messages are kept in their streams (default 24h; longer
    /// than the longest edge outage and than a snapshot interval).
    #[serde(default = "default_stream_retention")]
    pub retention: HumanDuration,
    /// Copies of each stream and bucket in a JetStream cluster (1 or 3; default 1).
    #[serde(default = "default_replicas")]
    pub replicas: u8,
    /// Stream of matches; subjects `klaxon.match.<partition>`.
    #[serde(default = "default_match_stream")]
    pub match_stream: String,
    /// Stream of notifications; subjects `klaxon.outbox.<channel, hex>`.
    #[serde(default = "default_outbox_stream")]
    pub outbox_stream: String,
    /// KV bucket of leases (partitions, channel delivery) and worker heartbeats.
    #[serde(default = "default_lease_bucket")]
    pub lease_bucket: String,
    /// KV bucket of per-partition snapshots of rule state.
    #[serde(default = "default_snapshot_bucket")]
    pub snapshot_bucket: String,
}

fn default_partitions() -> u16 {
    64
}
fn default_lease_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(6))
}
fn default_snapshot_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_duplicate_window() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}
fn default_stream_retention() -> HumanDuration {
    HumanDuration(Duration::from_secs(24 * 3600))
}
fn default_replicas() -> u8 {
    1
}
fn default_match_stream() -> String {
    "KLAXON_MATCHES".into()
}
fn default_outbox_stream() -> String {
    "KLAXON_OUTBOX".into()
}
fn default_lease_bucket() -> String {
    "KLAXON_LEASES".into()
}
fn default_snapshot_bucket() -> String {
    "KLAXON_SNAPSHOTS".into()
}

/// The checked `cluster:` section, as the roles use it.
#[derive(Debug, Clone)]
pub struct ClusterSetup {
    pub role: Role,
    pub servers: Vec<String>,
    pub partitions: u16,
    pub worker_id: String,
    pub lease_ttl: Duration,
    pub snapshot_interval: Duration,
    pub duplicate_window: Duration,
    pub retention: Duration,
    pub replicas: usize,
    pub match_stream: String,
    pub outbox_stream: String,
    pub lease_bucket: String,
    pub snapshot_bucket: String,
}

/// Subject prefix of the match stream: partition `P` is `klaxon.match.P`.
pub const MATCH_PREFIX: &str = "klaxon.match";
/// Subject prefix of the outbox stream: channel `c` is `klaxon.outbox.<hex of c>`.
pub const OUTBOX_PREFIX: &str = "klaxon.outbox";

impl ClusterConfig {
    /// Checks the section; `Err` names the key and why.
    pub fn setup(&self) -> Result<ClusterSetup, String> {
        if self.servers.is_empty() {
            return Err("cluster.servers: at least one NATS server URL is needed".into());
        }
        if self.partitions == 0 {
            return Err("cluster.partitions: must be at least 1".into());
        }
        if !matches!(self.replicas, 1..=5) {
            return Err("cluster.replicas: must be between 1 and 5".into());
        }
        let ttl = self.lease_ttl.0;
        if ttl < Duration::from_secs(1) {
            return Err("cluster.lease_ttl: must be at least 1s".into());
        }
        if self.duplicate_window.0 > self.retention.0 {
            return Err("cluster.duplicate_window: must not exceed cluster.retention".into());
        }
        for (key, name) in [
            ("match_stream", &self.match_stream),
            ("outbox_stream", &self.outbox_stream),
            ("lease_bucket", &self.lease_bucket),
            ("snapshot_bucket", &self.snapshot_bucket),
        ] {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(format!(
                    "cluster.{key}: `{name}` is not a JetStream name (letters, digits, _ and -)"
                ));
            }
        }
        let worker_id = self
            .worker_id
            .clone()
            .or_else(|| std::env::var("KLAXON_WORKER_ID").ok())
            .unwrap_or_else(default_worker_id);
        if worker_id.is_empty() || worker_id.len() > 200 {
            return Err("cluster.worker_id: must be 1 to 200 characters".into());
        }
        Ok(ClusterSetup {
            role: self.role,
            servers: self.servers.clone(),
            partitions: self.partitions,
            worker_id,
            lease_ttl: ttl,
            snapshot_interval: self.snapshot_interval.0.max(Duration::from_millis(100)),
            duplicate_window: self.duplicate_window.0,
            retention: self.retention.0,
            replicas: usize::from(self.replicas),
            match_stream: self.match_stream.clone(),
            outbox_stream: self.outbox_stream.clone(),
            lease_bucket: self.lease_bucket.clone(),
            snapshot_bucket: self.snapshot_bucket.clone(),
        })
    }
}

/// `host:pid`: unique among live processes, which is all a lease needs.
fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "klaxon".into());
    format!("{host}:{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> ClusterConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_and_checks() {
        let c = parse("role: worker\nservers: [nats://127.0.0.1:4222]\nworker_id: w1\n");
        let s = c.setup().unwrap();
        assert_eq!(s.partitions, 64);
        assert_eq!(s.worker_id, "w1");
        assert_eq!(s.lease_ttl, Duration::from_secs(6));
        assert_eq!(s.match_stream, "KLAXON_MATCHES");
        let bad = parse("role: edge\nservers: []\n");
        assert!(bad.setup().unwrap_err().contains("cluster.servers"));
        let bad = parse("role: edge\nservers: [x]\nmatch_stream: a.b\n");
        assert!(bad.setup().unwrap_err().contains("cluster.match_stream"));
        let bad = parse("role: edge\nservers: [x]\npartitions: 0\n");
        assert!(bad.setup().unwrap_err().contains("cluster.partitions"));
    }
}
