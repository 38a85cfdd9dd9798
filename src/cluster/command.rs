//! Commands for a partition's owner (`klaxon ack` / `klaxon resolve` with a `cluster:`
//! config): published on the partition's subject with [`KIND_HEADER`], answered on a
//! core NATS inbox the sender listens on.

use std::time::Duration;

use futures::StreamExt;

use super::config::MATCH_PREFIX;
use super::partition::subject;
use super::streams::{ClusterError, Connected};
use super::wire::{CommandMessage, KIND_COMMAND, KIND_HEADER};

/// Which partition an alert id belongs to: each partition's lifecycle numbers its alerts
/// from `partition << 40`.
pub fn partition_of_alert(id: u64, partitions: u16) -> Option<u16> {
    u16::try_from(id >> ID_SHIFT)
        .ok()
        .filter(|p| *p < partitions)
}

/// Alert ids of partition `p` start at `(p << 40) | 1`.
pub const ID_SHIFT: u32 = 40;

/// Sends `command` to partition `partition`'s owner; its answer, if one comes within `wait`.
pub async fn send(
    conn: &Connected,
    partition: u16,
    mut command: CommandMessage,
    wait: Duration,
) -> Result<Option<String>, ClusterError> {
    let inbox = conn.client.new_inbox();
    let mut answers = conn
        .client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| ClusterError::Nats(e.to_string()))?;
    command.reply_to = Some(inbox);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(KIND_HEADER, KIND_COMMAND);
    headers.insert("Nats-Msg-Id", format!("cmd:{}", command.id).as_str());
    let body = serde_json::to_vec(&command).expect("a command serializes");
    conn.js
        .publish_with_headers(subject(MATCH_PREFIX, partition), headers, body.into())
        .await
        .map_err(|e| ClusterError::Nats(e.to_string()))?
        .await
        .map_err(|e| ClusterError::Nats(e.to_string()))?;
    Ok(tokio::time::timeout(wait, answers.next())
        .await
        .ok()
        .flatten()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned()))
}

/// Sends `command` to the owners of every partition (silences concern them all); `Ok`
/// once JetStream has stored it for each.
pub async fn broadcast(
    conn: &Connected,
    partitions: u16,
    command: &CommandMessage,
) -> Result<(), ClusterError> {
    let body = bytes::Bytes::from(serde_json::to_vec(command).expect("a command serializes"));
    let mut acks = Vec::with_capacity(usize::from(partitions));
    for p in 0..partitions {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(KIND_HEADER, KIND_COMMAND);
        headers.insert("Nats-Msg-Id", format!("cmd:{}:{p}", command.id).as_str());
        acks.push(
            conn.js
                .publish_with_headers(subject(MATCH_PREFIX, p), headers, body.clone())
                .await
                .map_err(|e| ClusterError::Nats(e.to_string()))?,
        );
    }
    for ack in acks {
        ack.await.map_err(|e| ClusterError::Nats(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_ids_name_their_partition() {
        assert_eq!(partition_of_alert(1, 64), Some(0));
        assert_eq!(partition_of_alert((13 << ID_SHIFT) | 1, 64), Some(13));
        assert_eq!(partition_of_alert((64 << ID_SHIFT) | 1, 64), None);
        assert_eq!(partition_of_alert(u64::MAX, 64), None);
    }
}
