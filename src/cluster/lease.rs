//! Ownership through a JetStream KV bucket whose entries expire `lease_ttl` after their
//! last write: a lease is taken by `create` (only if absent), kept by `update` on the
//! revision last written (compare-and-set), and lost when not renewed in time — so a
//! dead worker's leases free themselves, and a worker that was paused past its lease
//! finds out on its next renewal, which fails. Snapshots are fenced separately, by the
//! snapshot entry's own revision (`pipeline::worker`).
//!
//! Who *should* own what is decided without a coordinator: each live worker (a heartbeat
//! entry in the same bucket) ranks itself for every lease name by rendezvous hashing, and
//! the top-ranked live worker takes it; a worker holding a lease another live worker
//! ranks higher for hands it over. Every worker computes the same answer from the same
//! heartbeats, so partitions spread evenly and move only when the set of workers changes.

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::StreamExt;

use super::streams::{hex, ClusterError};

/// The KV key of partition `p`'s lease.
pub fn partition_key(p: u16) -> String {
    format!("partition.{p}")
}

/// The KV key of the delivery lease of `channel`.
pub fn delivery_key(channel: &str) -> String {
    format!("deliver.{}", hex(channel))
}

const HEARTBEAT_PREFIX: &str = "worker.";

#[derive(Clone)]
pub struct Leases {
    kv: kv::Store,
    me: String,
}

impl Leases {
    pub fn new(kv: kv::Store, me: String) -> Self {
        Leases { kv, me }
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    /// Says this worker is alive (for `lease_ttl`).
    pub async fn heartbeat(&self) -> Result<(), ClusterError> {
        self.kv
            .put(
                format!("{HEARTBEAT_PREFIX}{}", hex(&self.me)),
                Bytes::from(self.me.clone()),
            )
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::Nats(e.to_string()))
    }

    /// Every worker with a live heartbeat, sorted.
    pub async fn live_workers(&self) -> Result<Vec<String>, ClusterError> {
        let mut keys = self
            .kv
            .keys()
            .await
            .map_err(|e| ClusterError::Nats(e.to_string()))?;
        let mut ids = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| ClusterError::Nats(e.to_string()))?;
            if key.starts_with(HEARTBEAT_PREFIX) {
                if let Ok(Some(id)) = self.kv.get(key).await {
                    ids.push(String::from_utf8_lossy(&id).into_owned());
                }
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Takes lease `key` if nobody holds it: its revision.
    pub async fn acquire(&self, key: &str) -> Option<u64> {
        self.kv.create(key, Bytes::from(self.me.clone())).await.ok()
    }

    /// Renews lease `key` held at `revision`: the new revision, or `None` when it is no
    /// longer ours (it expired, and perhaps another worker took it).
    pub async fn renew(&self, key: &str, revision: u64) -> Option<u64> {
        self.kv
            .update(key, Bytes::from(self.me.clone()), revision)
            .await
            .ok()
    }

    /// Gives lease `key` up at once (a hand-over), if still held at `revision`.
    pub async fn release(&self, key: &str, revision: u64) {
        let _ = self.kv.delete_expect_revision(key, Some(revision)).await;
    }

    /// Who holds lease `key` now, if anyone.
    pub async fn holder(&self, key: &str) -> Option<String> {
        match self.kv.get(key).await {
            Ok(Some(v)) if !v.is_empty() => Some(String::from_utf8_lossy(&v).into_owned()),
            _ => None,
        }
    }
}

/// The live worker that should hold lease `name`: the highest rendezvous score.
pub fn preferred<'a>(live: &'a [String], name: &str) -> Option<&'a str> {
    live.iter()
        .max_by_key(|w| (score(w, name), w.as_str()))
        .map(String::as_str)
}

/// How much `worker` wants lease `name`: the partitions' stable hash, so any two builds
/// rank alike.
fn score(worker: &str, name: &str) -> u64 {
    super::partition::stable_hash(worker, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_spreads_and_moves_only_a_dead_workers_share() {
        let three: Vec<String> = ["w1", "w2", "w3"].map(String::from).to_vec();
        let owners: Vec<&str> = (0..64)
            .map(|p| preferred(&three, &partition_key(p)).unwrap())
            .collect();
        for w in &three {
            let n = owners.iter().filter(|o| *o == w).count();
            assert!((10..=32).contains(&n), "{w} owns {n} of 64");
        }
        let two: Vec<String> = ["w1", "w3"].map(String::from).to_vec();
        for (p, before) in owners.iter().enumerate() {
            let after = preferred(&two, &partition_key(p as u16)).unwrap();
            if *before != "w2" {
                assert_eq!(after, *before, "partition {p} moved without need");
            }
        }
        assert_eq!(preferred(&[], "x"), None);
    }
}
