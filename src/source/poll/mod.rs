//! Polled sources: instead of reading a log, ask a service for its state every `interval`
//! and turn each answer into events that rules read like any JSON line — the depth of a
//! RabbitMQ queue (`rabbitmq.rs`), fields of any JSON endpoint (`http_json.rs`).
//!
//! What the two share is here: the schedule, the events, and what a failing poll does.
//! A poll reads the present, which cannot be read again later, so batches carry no
//! checkpoints and nothing is replayed after a restart. A poll that fails is retried with
//! a growing delay, logged once when a streak of failures starts (with the error) and once
//! when it ends, and counted; it never ends the source, so a broker that is down never
//! stops Klaxon or the other sources (a `flatline` rule on the source says it went quiet).

mod fetch;
pub mod http_json;
pub mod rabbitmq;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{Batch, Source, SourceError};
use crate::clock::Clock;
use crate::event::{Event, Origin};
use crate::telemetry::SourceMetrics;

pub use fetch::{PollError, PollUrl, MAX_BODY_BYTES};
pub use http_json::{HttpJsonConfig, JsonPointer};
pub use rabbitmq::{QueuePattern, RabbitMqConfig};

/// Most events per batch (a poll of many queues is sent in several).
const BATCH_CAP: usize = 1024;
/// Most events one poll may make: 16 MiB of `[0,0,…]` would otherwise be 8 million
/// events, each with its own map and raw line — a remote answer must not cost gigabytes.
pub const MAX_RECORDS: usize = 100_000;
/// The first retry after a failed poll comes this soon (or after `interval`, if shorter);
/// each further failure doubles the wait, up to `interval` or [`MAX_BACKOFF`], whichever
/// is longer: a blip costs a second, a long outage is asked about once a minute.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What one successful poll found: each record becomes one event.
#[derive(Debug, Default)]
pub struct Polled {
    pub records: Vec<Map<String, Value>>,
    /// The size of the response body.
    pub bytes: u64,
}

/// One kind of polled source: how to ask, and how to read the answer into records.
#[async_trait::async_trait]
pub trait Poller: Send + Sync {
    async fn poll(&self) -> Result<Polled, PollError>;
}

/// A running polled source.
pub struct PollSource {
    name: Arc<str>,
    /// The endpoint without credentials: `Origin::path` and the logs.
    path: Arc<str>,
    interval: Duration,
    poller: Box<dyn Poller>,
    clock: Arc<dyn Clock>,
    metrics: SourceMetrics,
    /// `klaxon run --once`: one poll, then end.
    once: bool,
}

impl PollSource {
    pub fn new(
        name: &str,
        path: String,
        interval: Duration,
        poller: Box<dyn Poller>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        PollSource {
            name: Arc::from(name),
            path: Arc::from(path),
            interval,
            poller,
            clock,
            metrics: SourceMetrics::default(),
            once: false,
        }
    }

    /// Counts into `metrics` (the pipeline's series for this source).
    pub fn with_metrics(mut self, metrics: SourceMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Polls once and ends (`klaxon run --once`: the present state is all there is to
    /// read "to the end"); a failure of that one poll is the source's error.
    pub fn once(mut self) -> Self {
        self.once = true;
        self
    }

    /// One event per record, all at the poll's time.
    fn events(
        &self,
        records: Vec<Map<String, Value>>,
        at: DateTime<Utc>,
        seq: &mut u64,
    ) -> Vec<Event> {
        records
            .into_iter()
            .map(|fields| {
                *seq += 1;
                record_event(fields, at, self.origin(*seq))
            })
            .collect()
    }

    fn origin(&self, seq: u64) -> Origin {
        Origin {
            source: Arc::clone(&self.name),
            path: Arc::clone(&self.path),
            fingerprint: Arc::clone(&self.path),
            // Orders the events; nothing resumes from it.
            offset: seq,
        }
    }

    fn count(&self, polled: &Polled, at: DateTime<Utc>) {
        let m = &self.metrics;
        let n = polled.records.len() as u64;
        m.lines_read.inc_by(n);
        m.lines_decoded.inc_by(n);
        m.bytes_read.inc_by(polled.bytes);
        m.last_poll.set(at.timestamp_millis() as f64 / 1000.0);
    }
}

/// A record as an event: its raw line is the record as JSON (what alerts quote, and what
/// the prefilter scans, exactly as for a JSON log line).
pub fn record_event(fields: Map<String, Value>, at: DateTime<Utc>, origin: Origin) -> Event {
    Event {
        time: at,
        raw: Value::Object(fields.clone()).to_string(),
        fields: Some(fields),
        origin,
        time_guessed: false,
        fields_for: None,
    }
}

/// How long to wait before the next try after `failures` failed polls in a row (≥ 1).
pub fn backoff(failures: u32, interval: Duration) -> Duration {
    let first = FIRST_RETRY.min(interval);
    let cap = interval.max(MAX_BACKOFF);
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    first.saturating_mul(factor).min(cap)
}

#[async_trait::async_trait]
impl Source for PollSource {
    async fn run(
        self: Box<Self>,
        out: mpsc::Sender<Batch>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), SourceError> {
        let mut seq = 0u64;
        // Failed polls in a row, and when the streak started.
        let mut failures = 0u32;
        let mut failing_since = Instant::now();
        let mut next = Instant::now();
        loop {
            tokio::select! {
                biased;
                _ = super::stopped(&mut shutdown) => return Ok(()),
                _ = tokio::time::sleep_until(next) => {}
            }
            let started = Instant::now();
            let at = self.clock.now();
            // A request in flight does not hold up shutdown: it is dropped.
            let result = tokio::select! {
                biased;
                _ = super::stopped(&mut shutdown) => return Ok(()),
                result = self.poller.poll() => result,
            };
            self.metrics.polls.inc();
            let polled = match result {
                Ok(polled) => polled,
                Err(e) => {
                    self.metrics.poll_failures.inc();
                    if self.once {
                        return Err(SourceError::Failed {
                            source_name: self.name.to_string(),
                            message: format!("polling {} failed: {e}", self.path),
                        });
                    }
                    failures = failures.saturating_add(1);
                    let wait = backoff(failures, self.interval);
                    if failures == 1 {
                        failing_since = started;
                        tracing::warn!(
                            source = %self.name,
                            "polling {} failed: {e}; retrying in {}s, then less often while it fails (logged again when it works)",
                            self.path,
                            wait.as_secs_f64()
                        );
                    }
                    next = Instant::now() + wait;
                    continue;
                }
            };
            if failures > 0 {
                tracing::info!(
                    source = %self.name,
                    "polling {} works again, after {failures} failed attempt(s) over {}s",
                    self.path,
                    failing_since.elapsed().as_secs()
                );
                failures = 0;
            }
            self.count(&polled, at);
            let mut events = self.events(polled.records, at, &mut seq);
            while !events.is_empty() {
                let rest = events.split_off(events.len().min(BATCH_CAP));
                let batch = Batch {
                    events,
                    checkpoints: Vec::new(),
                };
                if !super::send_batch(&out, &mut shutdown, batch).await {
                    return Ok(());
                }
                events = rest;
            }
            if self.once {
                return Ok(());
            }
            // Polls start every `interval` (a slow answer does not push the schedule back;
            // one slower than `interval` is followed by the next poll at once).
            next = started + self.interval;
        }
    }
}

#[cfg(test)]
mod tests;
