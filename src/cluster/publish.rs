//! An edge's side of the match stream: publish a batch of matches, each on its partition's
//! subject with its `Nats-Msg-Id`, and say whether JetStream acknowledged *every* one. An
//! edge commits the checkpoint of a batch only on `Ok`: a batch that failed part-way is
//! published again, whole, and the stream's duplicate window drops what had already landed
//! (at-least-once up to the stream, exactly once in it within the window).

use std::time::Duration;

use super::partition::{partition_of, subject};
use super::wire::MatchMessage;

/// Where and how matches are published.
#[derive(Debug, Clone)]
pub struct PublishTarget {
    /// Subject prefix: partition `P` is `{prefix}.{P}`.
    pub prefix: String,
    pub partitions: u16,
    /// How long to wait for one acknowledgement.
    pub ack_timeout: Duration,
}

/// What a published batch came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    pub stored: usize,
    /// Acknowledged as duplicates: published before (an edge restarted before its
    /// checkpoint, or a batch published again after a partial failure).
    pub duplicates: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publishing a match failed: {0}")]
    Publish(String),
    #[error("JetStream did not acknowledge a match within {0:?}")]
    Timeout(Duration),
}

/// Publishes `batch`; `Ok` only when every match was acknowledged. All are sent before the
/// first acknowledgement is awaited, so a batch costs one round trip, not one per match.
pub async fn publish_batch(
    js: &async_nats::jetstream::Context,
    target: &PublishTarget,
    batch: &[MatchMessage],
) -> Result<Published, PublishError> {
    let mut pending = Vec::with_capacity(batch.len());
    for m in batch {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", m.msg_id().as_str());
        let part = partition_of(&m.rule, &m.key, target.partitions);
        let ack = js
            .publish_with_headers(subject(&target.prefix, part), headers, m.to_bytes().into())
            .await
            .map_err(|e| PublishError::Publish(e.to_string()))?;
        pending.push(ack);
    }
    let mut out = Published::default();
    for ack in pending {
        let ack = tokio::time::timeout(target.ack_timeout, ack)
            .await
            .map_err(|_| PublishError::Timeout(target.ack_timeout))?
            .map_err(|e| PublishError::Publish(e.to_string()))?;
        if ack.duplicate {
            out.duplicates += 1;
        } else {
            out.stored += 1;
        }
    }
    Ok(out)
}
