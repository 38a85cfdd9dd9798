//! A channel owned by this worker: its outbox subject pulled through the shared durable
//! consumer, each message sent and then acknowledged.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use tokio::sync::watch;

use super::Shared;
use crate::cluster::outbox::{self, OutboxMessage};
use crate::notify::Channel;

/// Most attempts at one notification before it is given up (logged as a dead letter).
const MAX_ATTEMPTS: i64 = 10;

/// Delivers `name`'s outbox until `stop`: one notification at a time, acknowledged after
/// the channel took it; a failed send is retried with backoff, `MAX_ATTEMPTS` times.
pub(super) async fn deliver_channel(
    shared: Arc<Shared>,
    name: String,
    channel: Arc<dyn Channel>,
    send_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let ack_wait = (shared.setup.lease_ttl * 2).max(Duration::from_secs(2));
    let pull = outbox::delivery_consumer(&shared.outbox, &name, ack_wait)
        .await
        .map_err(|e| e.to_string())?;
    let mut incoming = pull
        .messages()
        .await
        .map_err(|e| format!("channel {name}: {e}"))?;
    tracing::info!(channel = %name, "delivering the channel's outbox");
    loop {
        let message = tokio::select! {
            _ = crate::source::stopped(&mut stop) => break,
            m = incoming.next() => match m {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::warn!(channel = %name, error = %e, "outbox read failed");
                    continue;
                }
                None => break,
            },
        };
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
        let Ok(n) = serde_json::from_slice::<OutboxMessage>(&message.payload) else {
            tracing::error!(channel = %name, "unreadable notification dropped");
            let _ = message.ack_with(jetstream::AckKind::Term).await;
            continue;
        };
        // Keeps the notification ours while a slow send runs past `ack_wait`.
        let progress = async {
            loop {
                tokio::time::sleep(ack_wait / 3).await;
                let _ = message.ack_with(jetstream::AckKind::Progress).await;
            }
        };
        let sent = tokio::select! {
            r = tokio::time::timeout(send_timeout, send(&*channel, &n.alerts)) => r,
            _ = progress => unreachable!("the progress loop never ends"),
        };
        match sent {
            Ok(Ok(_)) => {
                if let Err(e) = message.double_ack().await {
                    tracing::warn!(channel = %name, id = %n.id, error = %e, "sent, but the acknowledgement was not confirmed (may be sent again)");
                }
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {send_timeout:?}"),
                };
                if delivered >= MAX_ATTEMPTS {
                    tracing::error!(channel = %name, id = %n.id, rules = %n.alerts.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>().join(","), %error, "notification given up after {MAX_ATTEMPTS} attempts");
                    let _ = message.ack_with(jetstream::AckKind::Term).await;
                } else {
                    let delay = Duration::from_secs(1 << delivered.clamp(0, 8) as u32);
                    tracing::warn!(channel = %name, id = %n.id, %error, retry_in = ?delay, "send failed");
                    let _ = message.ack_with(jetstream::AckKind::Nak(Some(delay))).await;
                }
            }
        }
    }
    Ok(())
}

/// One alert as a message of its own; several (a group's flush) as one digest.
async fn send(
    channel: &dyn Channel,
    alerts: &[crate::alert::Alert],
) -> Result<crate::notify::Receipt, crate::notify::DeliveryError> {
    match alerts {
        [one] => channel.send(one).await,
        many => channel.send_digest(many).await,
    }
}
