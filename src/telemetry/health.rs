//! Health: whether each source reads, the store takes commits, and each channel delivers.
//! The run loop and the delivery workers record; `/readyz`, `/api/status` and the console
//! read a [`Status`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Warning;

/// The health summary, as `/api/status` serves it and `klaxon status` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub ready: bool,
    /// Why it is not ready (empty when it is).
    pub not_ready: Vec<String>,
    pub rules: usize,
    pub sources: Vec<SourceStatus>,
    pub channels: Vec<ChannelStatus>,
    pub store: StoreStatus,
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub name: String,
    /// Its task runs (a source that ended, like stdin at its end, is not reading).
    pub reading: bool,
    pub files: i64,
    pub lines_read: u64,
    pub lines_skipped: u64,
    pub lines_decoded: u64,
    pub decode_failures: u64,
    pub checkpoint_lag_bytes: i64,
    /// Wall time minus the newest event time, in seconds.
    pub event_time_lag_seconds: f64,
    /// The error it stopped with, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SourceStatus {
    /// `yes`, `ended`, or `stopped: <error>` (plain text).
    pub fn reading_text(&self) -> String {
        match (&self.error, self.reading) {
            (Some(e), _) => format!("stopped: {}", crate::types::flat(e)),
            (None, true) => "yes".into(),
            (None, false) => "ended".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelStatus {
    pub name: String,
    pub outbox_depth: i64,
    pub sent: u64,
    pub failed: u64,
    pub dead: u64,
    /// Since when sends are paused after repeated failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker_open_since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreStatus {
    pub writable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_commit_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct SourceHealth {
    reading: bool,
    error: Option<String>,
}

#[derive(Debug, Default)]
struct ChannelHealth {
    breaker_open_since: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    started_at: Option<DateTime<Utc>>,
    rules: usize,
    sources: BTreeMap<String, SourceHealth>,
    channels: BTreeMap<String, ChannelHealth>,
    store_error: Option<String>,
    last_commit_at: Option<DateTime<Utc>>,
    /// The run loop's last turn.
    beat: Option<DateTime<Utc>>,
    stopping: bool,
}

/// A run loop that has not turned for this long is stuck.
const STUCK_AFTER: chrono::Duration = chrono::Duration::seconds(30);

/// Health as the stages report it.
#[derive(Debug, Default)]
pub struct Health {
    state: Mutex<State>,
}

impl Health {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn started(&self, at: DateTime<Utc>, rules: usize) {
        let mut s = self.state();
        s.started_at = Some(at);
        s.rules = rules;
    }

    /// The run loop turned (once a second when it is well).
    pub fn beat(&self, at: DateTime<Utc>) {
        self.state().beat = Some(at);
    }

    /// Shutting down: not ready any more.
    pub fn stopping(&self) {
        self.state().stopping = true;
    }

    pub fn set_rules(&self, rules: usize) {
        self.state().rules = rules;
    }

    pub fn source_started(&self, name: &str) {
        self.state()
            .sources
            .entry(name.to_string())
            .or_default()
            .reading = true;
    }

    /// The source's task ended, with its error if it failed.
    pub fn source_stopped(&self, name: &str, error: Option<String>) {
        let mut s = self.state();
        let source = s.sources.entry(name.to_string()).or_default();
        source.reading = false;
        source.error = error;
    }

    pub fn channel(&self, name: &str) {
        self.state().channels.entry(name.to_string()).or_default();
    }

    /// The channel's breaker opened (`Some(since)`) or closed (`None`).
    pub fn breaker(&self, name: &str, open_since: Option<DateTime<Utc>>) {
        let mut s = self.state();
        let channel = s.channels.entry(name.to_string()).or_default();
        // Re-opening after a failed probe keeps the first opening: it has been open since.
        channel.breaker_open_since = match (channel.breaker_open_since, open_since) {
            (Some(first), Some(_)) => Some(first),
            (_, now) => now,
        };
    }

    pub fn channel_error(&self, name: &str, error: Option<String>) {
        self.state()
            .channels
            .entry(name.to_string())
            .or_default()
            .last_error = error;
    }

    pub fn committed(&self, at: DateTime<Utc>) {
        let mut s = self.state();
        s.store_error = None;
        s.last_commit_at = Some(at);
    }

    pub fn store_failed(&self, error: String) {
        let mut s = self.state();
        s.store_error = Some(error);
    }

    /// The summary at `now`: not ready while a source stopped with an error, the store
    /// refused a commit, or a breaker has been open longer than `breaker_limit`.
    pub fn status(
        &self,
        now: DateTime<Utc>,
        breaker_limit: chrono::Duration,
        metrics: &super::Metrics,
        warnings: Vec<Warning>,
    ) -> Status {
        let s = self.state();
        let mut not_ready = Vec::new();
        let sources = s
            .sources
            .iter()
            .map(|(name, h)| {
                if let Some(e) = &h.error {
                    not_ready.push(format!("source `{name}` stopped: {e}"));
                }
                let m = metrics.source(name);
                if metrics.poll_failing(name) {
                    not_ready.push(format!(
                        "source `{name}` cannot read: its polls fail (see the log and klaxon_source_poll_failures_total)"
                    ));
                }
                SourceStatus {
                    name: name.clone(),
                    reading: h.reading,
                    files: m.files.get(),
                    lines_read: m.lines_read.get(),
                    lines_skipped: m.lines_skipped.get(),
                    lines_decoded: m.lines_decoded.get(),
                    decode_failures: m.decode_failures.get(),
                    checkpoint_lag_bytes: m.checkpoint_lag_bytes.get(),
                    event_time_lag_seconds: m.event_time_lag_seconds.get(),
                    error: h.error.clone(),
                }
            })
            .collect();
        let channels = s
            .channels
            .iter()
            .map(|(name, h)| {
                if let Some(since) = h.breaker_open_since {
                    if now.signed_duration_since(since) > breaker_limit {
                        not_ready.push(format!(
                            "channel `{name}` has failed every send since {}",
                            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ));
                    }
                }
                let m = metrics.channel(name);
                ChannelStatus {
                    name: name.clone(),
                    outbox_depth: m.outbox_depth.get(),
                    sent: m.sent.get(),
                    failed: m.failed.get(),
                    dead: m.dead.get(),
                    breaker_open_since: h.breaker_open_since,
                    last_error: h.last_error.clone(),
                }
            })
            .collect();
        if let Some(e) = &s.store_error {
            not_ready.push(format!("the state store refused a commit: {e}"));
        }
        if s.started_at.is_none() {
            not_ready.push("starting".into());
        }
        if let Some(beat) = s.beat {
            let quiet = now.signed_duration_since(beat);
            if quiet > STUCK_AFTER {
                not_ready.push(format!(
                    "the pipeline has not turned for {}s",
                    quiet.num_seconds()
                ));
            }
        }
        if s.stopping {
            not_ready.push("shutting down".into());
        }
        Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: s.started_at.unwrap_or(now),
            ready: not_ready.is_empty(),
            not_ready,
            rules: s.rules,
            sources,
            channels,
            store: StoreStatus {
                writable: s.store_error.is_none(),
                last_commit_at: s.last_commit_at,
                error: s.store_error.clone(),
            },
            warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn ready_until_a_breaker_stays_open_a_source_fails_or_the_store_refuses() {
        let (h, m) = (Health::default(), super::super::Metrics::new());
        let limit = chrono::Duration::minutes(5);
        assert_eq!(
            h.status(t(0), limit, &m, vec![]).not_ready,
            vec!["starting"]
        );
        h.started(t(0), 3);
        h.source_started("app");
        h.channel("ops");
        assert!(h.status(t(0), limit, &m, vec![]).ready);
        h.breaker("ops", Some(t(10)));
        h.breaker("ops", Some(t(100)));
        assert!(
            h.status(t(300), limit, &m, vec![]).ready,
            "open 290 s: not yet"
        );
        let s = h.status(t(311), limit, &m, vec![]);
        assert!(!s.ready);
        assert!(
            s.not_ready[0].contains("channel `ops` has failed every send since"),
            "{s:?}"
        );
        h.breaker("ops", None);
        assert!(h.status(t(311), limit, &m, vec![]).ready);
        h.store_failed("disk full".into());
        assert!(!h.status(t(312), limit, &m, vec![]).ready);
        h.committed(t(313));
        h.beat(t(313));
        assert!(h.status(t(340), limit, &m, vec![]).ready);
        let stuck = h.status(t(350), limit, &m, vec![]);
        assert_eq!(stuck.not_ready, vec!["the pipeline has not turned for 37s"]);
        h.beat(t(314));
        h.source_stopped("app", Some("permission denied".into()));
        let s = h.status(t(314), limit, &m, vec![]);
        assert_eq!(s.not_ready, vec!["source `app` stopped: permission denied"]);
        assert_eq!(s.sources[0].reading_text(), "stopped: permission denied");
        // A polled source whose polls fail is not reading.
        let p = m.polled_source("es");
        h.source_started("es");
        p.poll_failing.set(1);
        let s = h.status(t(314), limit, &m, vec![]);
        assert!(
            s.not_ready
                .iter()
                .any(|r| r.contains("source `es` cannot read")),
            "{s:?}"
        );
        p.poll_failing.set(0);
        h.stopping();
        assert!(h
            .status(t(314), limit, &m, vec![])
            .not_ready
            .contains(&"shutting down".to_string()));
    }
}
