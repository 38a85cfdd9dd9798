//! The cluster's outbox: a JetStream stream with one subject per channel. A partition's
//! owner publishes each message its lifecycle decided with an id made of the partition and
//! a digest of the message — the same id when a new owner decides it again while replaying
//! past the last snapshot, so the stream's duplicate window drops the repeat. One worker per channel (a delivery lease)
//! pulls the channel's subject through a durable consumer, sends, then acknowledges: a
//! notification is sent once, except one in flight when its sender dies (redelivered
//! after `ack_wait`).

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use serde::{Deserialize, Serialize};

use super::config::OUTBOX_PREFIX;
use super::streams::{hex, ClusterError};
use sha2::{Digest, Sha256};

use crate::alert::Alert;
use crate::store::Notification;

/// One message to one channel: an alert, or several as one digest (a group's flush).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: String,
    pub channel: String,
    pub alerts: Vec<Alert>,
}

impl OutboxMessage {
    /// The partition owner's lifecycle decisions as messages: the notifications of one
    /// channel and one batch (a group's flush) become one digest, in order. The id is
    /// the partition and a digest of the content: the same decision taken again by a new
    /// owner replaying past the last snapshot is the same message, and the outbox's
    /// duplicate window drops it.
    pub fn from_notifications(partition: u16, notifications: Vec<Notification>) -> Vec<Self> {
        let mut out: Vec<(Option<String>, OutboxMessage)> = Vec::new();
        for n in notifications {
            let same = out.iter_mut().find(|(batch, m)| {
                n.batch.is_some() && *batch == n.batch && m.channel == n.channel
            });
            match same {
                Some((_, m)) => m.alerts.push(n.alert),
                None => out.push((
                    n.batch,
                    OutboxMessage {
                        id: String::new(),
                        channel: n.channel,
                        alerts: vec![n.alert],
                    },
                )),
            }
        }
        out.into_iter()
            .map(|(_, mut m)| {
                let mut h = Sha256::new();
                h.update(m.channel.as_bytes());
                for a in &m.alerts {
                    // All but the wall-clock instant it was raised at, which a replay
                    // after a failover does not reproduce.
                    let same = Alert {
                        fired_at: chrono::DateTime::UNIX_EPOCH,
                        ..a.clone()
                    };
                    h.update([0xff]);
                    h.update(serde_json::to_vec(&same).expect("alerts serialize"));
                }
                let digest: String = h.finalize()[..16]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                m.id = format!("p{partition}:{digest}");
                m
            })
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(rule: &str, sku: &str) -> Alert {
        Alert {
            rule: rule.into(),
            key: crate::alert::AlertKey::new([("sku".to_string(), sku.to_string())]),
            ..Alert::example()
        }
    }

    fn note(channel: &str, batch: Option<&str>, a: Alert) -> Notification {
        Notification {
            alert: a,
            channel: channel.into(),
            batch: batch.map(String::from),
        }
    }

    #[test]
    fn a_batch_is_one_digest_and_ids_follow_the_content() {
        let made = || {
            OutboxMessage::from_notifications(
                3,
                vec![
                    note("ops", Some("g1"), alert("r", "A")),
                    note("mail", Some("g1"), alert("r", "A")),
                    note("ops", Some("g1"), alert("r", "B")),
                    note("ops", None, alert("r", "C")),
                ],
            )
        };
        let out = made();
        assert_eq!(out.len(), 3);
        assert_eq!((out[0].channel.as_str(), out[0].alerts.len()), ("ops", 2));
        assert_eq!((out[1].channel.as_str(), out[1].alerts.len()), ("mail", 1));
        assert_eq!((out[2].channel.as_str(), out[2].alerts.len()), ("ops", 1));
        assert!(out[0].id.starts_with("p3:"));
        assert_ne!(out[0].id, out[1].id);
        let mut again = made();
        again[2].alerts[0].fired_at = chrono::Utc::now();
        let redone = OutboxMessage::from_notifications(
            3,
            again
                .iter()
                .flat_map(|m| {
                    m.alerts.iter().map(|a| Notification {
                        alert: a.clone(),
                        channel: m.channel.clone(),
                        batch: (m.alerts.len() > 1).then(|| "g1".to_string()),
                    })
                })
                .collect(),
        );
        let ids = |ms: &[OutboxMessage]| ms.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&redone), ids(&out), "decided again later, the same ids");
    }
}
