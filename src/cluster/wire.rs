//! What an edge publishes for each match: the rule, the key, the event time, the fields
//! the rule reads, a sample line, and where the line was read (source, file fingerprint,
//! offset) — which also makes its JetStream message id, so a re-publish after an edge
//! restart is dropped by the stream's duplicate window.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The most bytes of a sample line a match carries (alerts show 8,000 characters at most).
pub const MAX_SAMPLE_BYTES: usize = 8 * 1024;

/// The header that tells a command from a match on a partition's subject.
pub const KIND_HEADER: &str = "Klaxon-Kind";
pub const KIND_COMMAND: &str = "command";

/// `klaxon ack` / `klaxon resolve` for an alert of a partition, put into the partition's own
/// subject: the owner applies it in order with the matches, and a new owner replaying
/// past its snapshot applies it again (acknowledging twice says "already").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandMessage {
    pub id: i64,
    /// `ack` or `resolve`.
    pub kind: String,
    /// JSON: `{"id": 7}` or `{"rule": "…", "key": "…"}`.
    pub target: String,
    pub author: String,
    pub at: DateTime<Utc>,
    /// Where the owner answers (core NATS; nobody may be listening any more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

impl CommandMessage {
    /// A new command from this process at `at`; its id (the message's dedup id) is the
    /// instant and the process id, so two commands never share one.
    pub fn new(kind: &str, target: String, author: String, at: DateTime<Utc>) -> Self {
        CommandMessage {
            id: at.timestamp_nanos_opt().unwrap_or_default() ^ i64::from(std::process::id()),
            kind: kind.to_string(),
            target,
            author,
            at,
            reply_to: None,
        }
    }
}

/// The part of `line` a match carries as its sample: at most [`MAX_SAMPLE_BYTES`], cut at
/// a character boundary (so an edge copies no more of a long line than it sends).
pub fn sample_of(line: &str) -> &str {
    let mut end = line.len().min(MAX_SAMPLE_BYTES);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

/// One match, as it crosses the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchMessage {
    pub rule: String,
    /// The key's canonical text (`AlertKey::id`).
    pub key: String,
    pub event_time: DateTime<Utc>,
    /// The fields the rule reads (every field when the rule does not say which), with
    /// their JSON types; empty for a plain line.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, serde_json::Value>,
    pub sample: String,
    pub source: String,
    /// The file's fingerprint and the line's byte offset in it.
    pub fingerprint: String,
    pub offset: u64,
}

impl MatchMessage {
    /// The `Nats-Msg-Id`: the same line matched by the same rule is the same message,
    /// however often an edge publishes it.
    pub fn msg_id(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.source, self.fingerprint, self.offset, self.rule
        )
    }

    /// The sample cut to [`MAX_SAMPLE_BYTES`] at a character boundary.
    pub fn clip_sample(&mut self) {
        let end = sample_of(&self.sample).len();
        self.sample.truncate(end);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a match serializes")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<MatchMessage, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MatchMessage {
        MatchMessage {
            rule: "order-errors".into(),
            key: r#"{"sku":"A-1"}"#.into(),
            event_time: "2026-11-22T03:00:00.123Z".parse().unwrap(),
            fields: BTreeMap::from([("sku".into(), "A-1".into()), ("n".into(), 3.into())]),
            sample: "ERROR order_timeout sku=A-1".into(),
            source: "order-logs".into(),
            fingerprint: "c0ffee".into(),
            offset: 4096,
        }
    }

    #[test]
    fn round_trips_and_names_its_line() {
        let m = sample();
        assert_eq!(MatchMessage::from_bytes(&m.to_bytes()).unwrap(), m);
        assert_eq!(m.msg_id(), "order-logs:c0ffee:4096:order-errors");
        let mut other = m.clone();
        other.rule = "other".into();
        assert_ne!(
            other.msg_id(),
            m.msg_id(),
            "one line, two rules: two messages"
        );
    }

    #[test]
    fn samples_are_bounded_at_a_character_boundary() {
        let long = "é".repeat(MAX_SAMPLE_BYTES);
        let cut = sample_of(&long);
        assert!(cut.len() <= MAX_SAMPLE_BYTES && cut.len() > MAX_SAMPLE_BYTES - 2);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(sample_of("short"), "short");
        assert!(MatchMessage::from_bytes(b"{\"rule\":1}").is_err());
    }
}
