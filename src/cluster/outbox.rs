//! The cluster's outbox: a JetStream stream with one subject per channel. A partition's
//! owner publishes each notification with an id made of the partition, the stream sequence
//! of the match that raised it, its place among that match's alerts and the channel — the
//! same id when a new owner raises it again while replaying past the last snapshot, so the
//! stream's duplicate window drops the repeat. One worker per channel (a delivery lease)
//! pulls the channel's subject through a durable consumer, sends, then acknowledges: a
//! notification is sent once, except one in flight when its sender dies (redelivered
//! after `ack_wait`).

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use serde::{Deserialize, Serialize};

use super::config::OUTBOX_PREFIX;
use super::streams::{hex, ClusterError};
use crate::alert::Alert;

/// One notification: an alert for one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: String,
    pub channel: String,
    pub alert: Alert,
}

impl OutboxMessage {
    /// The notification raised as the `nth` alert of the match at stream sequence `seq`
    /// of partition `partition` (a clock-fired alert: `seq` is the last match handled).
    pub fn new(partition: u16, seq: u64, nth: usize, channel: &str, alert: Alert) -> Self {
        OutboxMessage {
            id: format!("p{partition}:s{seq}:n{nth}:{}", hex(channel)),
            channel: channel.to_string(),
            alert,
        }
    }
}

/// The outbox subject of `channel`.
pub fn subject(channel: &str) -> String {
    format!("{OUTBOX_PREFIX}.{}", hex(channel))
}

/// Publishes `messages`; `Ok` only once every one is acknowledged (stored or a duplicate).
pub async fn publish(
    js: &jetstream::Context,
    messages: &[OutboxMessage],
    ack_timeout: Duration,
) -> Result<(), ClusterError> {
    let mut pending = Vec::with_capacity(messages.len());
    for m in messages {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", m.id.as_str());
        let body = serde_json::to_vec(m).expect("a notification serializes");
        let ack = js
            .publish_with_headers(subject(&m.channel), headers, body.into())
            .await
            .map_err(|e| ClusterError::Nats(e.to_string()))?;
        pending.push(ack);
    }
    for ack in pending {
        tokio::time::timeout(ack_timeout, ack)
            .await
            .map_err(|_| ClusterError::Nats("outbox publish not acknowledged in time".into()))?
            .map_err(|e| ClusterError::Nats(e.to_string()))?;
    }
    Ok(())
}

/// The durable consumer the delivery owner of `channel` pulls from: shared by whoever owns
/// the channel, so a new owner resumes where the last acknowledged notification left off.
pub async fn delivery_consumer(
    outbox: &stream::Stream,
    channel: &str,
    ack_wait: Duration,
) -> Result<consumer::PullConsumer, ClusterError> {
    let name = format!("deliver-{}", hex(channel));
    let config = consumer::pull::Config {
        durable_name: Some(name.clone()),
        filter_subject: subject(channel),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait,
        // In order: the next notification waits for the one being sent.
        max_ack_pending: 1,
        ..Default::default()
    };
    outbox
        .get_or_create_consumer(&name, config)
        .await
        .map_err(|e| ClusterError::Setup {
            what: "consumer",
            name,
            message: e.to_string(),
        })
}
