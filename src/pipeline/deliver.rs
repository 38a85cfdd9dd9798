//! Delivering the outbox: one worker per channel, so a slow, failing or rate-limited
//! channel never delays another. Each worker strings the `notify::stages` together around
//! its channel and its rows of the outbox:
//!
//! rate limit (and pauses the destination asked for) → digest when behind → send with an
//! overall timeout → classify: sent · paused (429/130101: the channel waits, the alert
//! loses no attempt) · retry by deadline (backoff + jitter, breaker counts) · dead letter
//! (permanent, or past `max_age`; a `fallback` channel gets it) → record: the outbox row,
//! and what the attempt came to in the alert's history (`klaxon alerts --history`, the
//! console, the API) — the destination's answer, or the error.
//!
//! Delivery is at-least-once: a crash between a send and its record re-sends it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};

use super::lock;
use crate::alert::AckLinks;
use crate::clock::Clock;
use crate::notify::stages::{Breaker, BreakerState, DeliveryPlan, RateLimiter};
use crate::notify::{Channel, DeliveryError, Receipt, MAX_DIGEST_ALERTS};
use crate::store::{Delivery, HistoryRow, StateStore};
use crate::telemetry::{ChannelMetrics, Telemetry};
use crate::types::flat;

/// How long a worker with nothing due waits before looking again (new alerts wake it).
const IDLE: Duration = Duration::from_secs(1);

/// The most of one attempt's outcome an alert's history keeps: room for a program's
/// output (`notify::command` keeps up to 64 KiB of each stream) and its status line.
pub const MAX_HISTORY_DETAIL: usize = 136 * 1024;

/// What one step of a worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Sent this many alerts (one message).
    Sent(usize),
    /// Nothing was due.
    Idle,
    /// Something is due but must wait (rate limit, pause, open breaker) until then.
    Wait(DateTime<Utc>),
    /// The send failed; the alerts wait for their retry, or are dead letters.
    Failed,
    /// The outbox could not be read or written: try again later.
    StoreError,
}

/// One channel's delivery state and its stages.
pub struct Worker {
    name: String,
    channel: Arc<dyn Channel>,
    plan: DeliveryPlan,
    limiter: RateLimiter,
    breaker: Breaker,
    store: Arc<Mutex<dyn StateStore>>,
    clock: Arc<dyn Clock>,
    /// For retry jitter (xorshift; seeded per channel).
    seed: u64,
    /// Fell behind its limit: digests go on until the backlog is gone, rather than its
    /// last minute's worth trickling out one by one.
    catching_up: bool,
    observed: Observed,
    metrics: ChannelMetrics,
}

/// What a worker reports (metrics, health) and adds to messages (acknowledge links).
#[derive(Clone, Default)]
pub struct Observed {
    pub telemetry: Option<Arc<Telemetry>>,
    pub ack_links: Option<Arc<AckLinks>>,
}

impl Observed {
    fn metrics(&self, channel: &str) -> ChannelMetrics {
        self.telemetry
            .as_ref()
            .map(|t| t.metrics.channel(channel))
            .unwrap_or_default()
    }
}

impl Worker {
    pub fn new(
        name: &str,
        channel: Arc<dyn Channel>,
        plan: DeliveryPlan,
        store: Arc<Mutex<dyn StateStore>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let seed = name.bytes().fold(0x9e37_79b9_7f4a_7c15u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Worker {
            name: name.to_string(),
            channel,
            limiter: RateLimiter::new(plan.rate_limit),
            plan,
            breaker: Breaker::default(),
            store,
            clock,
            seed: seed.max(1),
            catching_up: false,
            observed: Observed::default(),
            metrics: ChannelMetrics::default(),
        }
    }

    /// Reports to `observed.telemetry` and links messages to `observed.ack_links`.
    pub fn observed(mut self, observed: Observed) -> Self {
        self.metrics = observed.metrics(&self.name);
        if let Some(t) = &observed.telemetry {
            t.health.channel(&self.name);
        }
        self.observed = observed;
        self
    }

    /// The outbox depth gauge, also while sends wait (open breaker, rate limit): that is
    /// when it matters.
    fn refresh_depth(&self, now: DateTime<Utc>) {
        if self.observed.telemetry.is_none() {
            return;
        }
        if let Ok(n) = lock(&self.store).due_count(&self.name, now) {
            self.metrics
                .outbox_depth
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    fn health(&self, f: impl FnOnce(&crate::telemetry::Health)) {
        if let Some(t) = &self.observed.telemetry {
            f(&t.health);
        }
    }

    fn jitter(&mut self) -> f64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        (self.seed >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Sends at most one message (one alert, or a digest of the alerts waiting when the
    /// channel is behind its rate limit), within `budget` at most.
    pub async fn step(&mut self, budget: Duration) -> Step {
        let now = self.clock.now();
        let probe = match self.breaker.state(now) {
            BreakerState::Open { until } => {
                self.refresh_depth(now);
                return Step::Wait(until);
            }
            BreakerState::HalfOpen => true,
            BreakerState::Closed => false,
        };
        let ready = self.limiter.ready_at(now);
        if ready > now {
            self.refresh_depth(now);
            return Step::Wait(ready);
        }
        let read = {
            let store = lock(&self.store);
            store
                .due_for(&self.name, now, MAX_DIGEST_ALERTS)
                .and_then(|due| Ok((store.due_count(&self.name, now)?, due)))
        };
        let (waiting, due) = match read {
            Ok(read) => read,
            Err(e) => {
                tracing::error!(channel = %self.name, "cannot read the outbox: {e}");
                return Step::StoreError;
            }
        };
        self.metrics
            .outbox_depth
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
        if due.is_empty() {
            // Nothing waits for a breaker left half-open: the channel is not failing anyone.
            if self.breaker.tripped() && waiting == 0 {
                self.metrics.breaker_open.set(0);
                self.health(|h| h.breaker(&self.name, None));
            }
            return Step::Idle;
        }
        // More waiting than the limit lets through within a minute: one message for all
        // of them, until caught up. A half-open breaker lets a single probe through.
        let waiting = usize::try_from(waiting).unwrap_or(usize::MAX);
        self.catching_up = waiting > 1 && (self.catching_up || self.limiter.behind(waiting));
        let mut batch: Vec<Delivery> = if self.catching_up && !probe {
            due
        } else if probe {
            due.into_iter().take(1).collect()
        } else {
            // One group's message: every row of the first row's batch, together.
            let first = due[0].batch.clone();
            match first {
                Some(b) => due
                    .into_iter()
                    .filter(|d| d.batch.as_ref() == Some(&b))
                    .collect(),
                None => due.into_iter().take(1).collect(),
            }
        };
        if let Some(links) = &self.observed.ack_links {
            for d in &mut batch {
                let a = &mut d.alert;
                if let (crate::alert::Status::Firing, Some(id)) = (a.status, a.id) {
                    a.ack_url = links.link(id, now);
                }
            }
        }
        self.limiter.take(now);
        let timeout = self
            .plan
            .send_timeout
            .min(budget.max(Duration::from_millis(1)));
        let sent = if let [one] = batch.as_slice() {
            tokio::time::timeout(timeout, self.channel.send(&one.alert)).await
        } else {
            let alerts: Vec<_> = batch.iter().map(|d| d.alert.clone()).collect();
            tokio::time::timeout(timeout, self.channel.send_digest(&alerts)).await
        };
        let result = sent.unwrap_or_else(|_| {
            Err(DeliveryError::Retryable {
                message: format!("no answer within {}", crate::types::HumanDuration(timeout)),
                retry_after: None,
            })
        });
        self.record(batch, result)
    }

    fn record(&mut self, batch: Vec<Delivery>, result: Result<Receipt, DeliveryError>) -> Step {
        let now = self.clock.now();
        match result {
            Ok(receipt) => {
                if self.breaker.tripped() {
                    self.metrics.breaker_open.set(0);
                    self.health(|h| h.breaker(&self.name, None));
                }
                self.breaker.success();
                self.health(|h| h.channel_error(&self.name, None));
                self.metrics.sent.inc_by(batch.len() as u64);
                let mut store = lock(&self.store);
                for d in &batch {
                    if let Err(e) = store.delivered(d.id, now) {
                        tracing::error!(channel = %self.name, delivery = d.id, "cannot record a delivery: {e}");
                        return Step::StoreError;
                    }
                }
                drop(store);
                self.note(&batch, "delivered", &receipt.answer);
                Step::Sent(batch.len())
            }
            Err(DeliveryError::RateLimited {
                message,
                retry_after,
            }) => {
                let until = self.limiter.pause(now, retry_after);
                self.metrics.rate_limited.inc();
                tracing::warn!(
                    channel = %self.name,
                    waiting = batch.len(),
                    "the channel is rate-limited, pausing it until {until}: {}",
                    brief(&message)
                );
                Step::Wait(until)
            }
            Err(DeliveryError::Retryable {
                message,
                retry_after,
            }) => {
                self.metrics.failed.inc_by(batch.len() as u64);
                self.health(|h| h.channel_error(&self.name, Some(brief(&message))));
                if let Some(until) = self.breaker.failure(now) {
                    tracing::warn!(channel = %self.name, "the channel keeps failing; not sending to it until {until}");
                    self.metrics.breaker_open.set(1);
                    self.health(|h| h.breaker(&self.name, Some(now)));
                }
                for d in &batch {
                    let jitter = self.jitter();
                    let next = self
                        .plan
                        .retry
                        .next_attempt(d.attempts, d.alert.fired_at, now, jitter)
                        .map(|next| later(next, now, retry_after));
                    match next {
                        Some(at) => {
                            tracing::warn!(
                                channel = %self.name,
                                rule = %flat(&d.alert.rule),
                                delivery = d.id,
                                "delivery failed, next attempt at {at}: {}",
                                brief(&message)
                            );
                            if !self.failed(d, &message, Some(at)) {
                                return Step::StoreError;
                            }
                            let detail = format!("{message} (next attempt at {at})");
                            self.note(std::slice::from_ref(d), "failed", &detail);
                        }
                        None => {
                            let reason = format!(
                                "gave up {} after the alert fired: {message}",
                                crate::types::HumanDuration(self.plan.retry.max_age)
                            );
                            if !self.dead(d, &reason) {
                                return Step::StoreError;
                            }
                        }
                    }
                }
                Step::Failed
            }
            Err(DeliveryError::Permanent { message }) => {
                self.metrics.failed.inc_by(batch.len() as u64);
                self.health(|h| h.channel_error(&self.name, Some(brief(&message))));
                for d in &batch {
                    if !self.dead(d, &message) {
                        return Step::StoreError;
                    }
                }
                Step::Failed
            }
        }
    }

    fn failed(&self, d: &Delivery, message: &str, at: Option<DateTime<Utc>>) -> bool {
        match lock(&self.store).delivery_failed(d.id, message, at) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(channel = %self.name, delivery = d.id, "cannot record a failed delivery: {e}");
                false
            }
        }
    }

    /// What an attempt came to, in the history of each alert of `batch` (those with a
    /// lifecycle id), as `<channel>: <what>`. History only tells: a failure to write it is
    /// logged, and the delivery stands as recorded.
    fn note(&self, batch: &[Delivery], kind: &str, what: &str) {
        let now = self.clock.now();
        let detail = format!("{}: {what}", self.name);
        let detail = crate::types::clip(&detail, MAX_HISTORY_DETAIL);
        let rows: Vec<HistoryRow> = batch
            .iter()
            .filter_map(|d| d.alert.id)
            .map(|alert_id| HistoryRow {
                alert_id,
                at: now,
                kind: kind.to_string(),
                detail: detail.to_string(),
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        if let Err(e) = lock(&self.store).add_history(&rows) {
            tracing::error!(channel = %self.name, "cannot note a delivery in the alerts' history: {e}");
        }
    }

    /// A dead letter: recorded with its reason, logged, and handed to the fallback channel.
    fn dead(&self, d: &Delivery, reason: &str) -> bool {
        tracing::error!(
            channel = %self.name,
            rule = %flat(&d.alert.rule),
            alert = d.alert_id,
            delivery = d.id,
            "dead letter (see `klaxon dlq list`): {}",
            brief(reason)
        );
        if !self.failed(d, reason, None) {
            return false;
        }
        self.note(std::slice::from_ref(d), "dead letter", reason);
        self.metrics.dead.inc();
        if let Some(fallback) = &self.plan.fallback {
            if let Err(e) = lock(&self.store).requeue(d.alert_id, fallback, self.clock.now()) {
                tracing::error!(channel = %self.name, fallback = %fallback, "cannot hand a dead letter to the fallback channel: {e}");
            } else {
                tracing::warn!(channel = %self.name, fallback = %fallback, delivery = d.id, "handed to the fallback channel");
            }
        }
        true
    }

    /// Delivers until `shutdown` turns true; then, for at most `grace` from that moment,
    /// what is still due (the rest stays in the outbox for the next start; a send still
    /// going when the grace ends is abandoned, and re-sent then).
    pub async fn run(
        mut self,
        wake: Arc<Notify>,
        mut shutdown: watch::Receiver<bool>,
        grace: Duration,
    ) {
        let mut stop_by: Option<tokio::time::Instant> = None;
        let note_stop = |stop_by: &mut Option<tokio::time::Instant>| {
            stop_by.get_or_insert_with(|| tokio::time::Instant::now() + grace);
        };
        loop {
            if *shutdown.borrow() {
                note_stop(&mut stop_by);
            }
            let budget = match stop_by {
                Some(deadline) => deadline.saturating_duration_since(tokio::time::Instant::now()),
                None => self.plan.send_timeout,
            };
            if stop_by.is_some() && budget.is_zero() {
                return;
            }
            let step = {
                let sending = self.step(budget);
                tokio::pin!(sending);
                loop {
                    let deadline = stop_by.unwrap_or_else(|| {
                        tokio::time::Instant::now() + Duration::from_secs(86_400)
                    });
                    tokio::select! {
                        step = &mut sending => break Some(step),
                        _ = shutdown.changed(), if stop_by.is_none() => note_stop(&mut stop_by),
                        _ = tokio::time::sleep_until(deadline), if stop_by.is_some() => break None,
                    }
                }
            };
            let Some(step) = step else {
                return;
            };
            let wait = match step {
                Step::Sent(_) | Step::Failed => Duration::ZERO,
                Step::Idle if stop_by.is_some() => return,
                Step::Idle | Step::StoreError => IDLE,
                Step::Wait(until) => (until - self.clock.now()).to_std().unwrap_or_default(),
            };
            if wait.is_zero() {
                continue;
            }
            if let Some(deadline) = stop_by {
                if tokio::time::Instant::now() + wait >= deadline {
                    return;
                }
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed(), if stop_by.is_none() => note_stop(&mut stop_by),
            }
        }
    }
}

/// An error as a log line and the channel's health show it: one line, and short — a
/// program's output can be 128 KiB; the history and the dead letter keep it whole.
fn brief(message: &str) -> String {
    flat(&crate::types::clip(message, MAX_LOGGED_ERROR)).into_owned()
}

/// The most of an error a log line carries.
const MAX_LOGGED_ERROR: usize = 2048;

/// `next`, but not before what the destination asked for.
fn later(next: DateTime<Utc>, now: DateTime<Utc>, retry_after: Option<Duration>) -> DateTime<Utc> {
    let asked = retry_after
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .and_then(|d| now.checked_add_signed(d));
    asked.map_or(next, |a| a.max(next))
}

/// Starts a worker per channel; returns how to wake them and their tasks.
pub fn start(
    channels: HashMap<String, (Arc<dyn Channel>, DeliveryPlan)>,
    store: Arc<Mutex<dyn StateStore>>,
    clock: Arc<dyn Clock>,
    shutdown: watch::Receiver<bool>,
    grace: Duration,
    observed: Observed,
) -> (Wakers, Vec<tokio::task::JoinHandle<()>>) {
    let mut wakers = Vec::new();
    let mut tasks = Vec::new();
    for (name, (channel, plan)) in channels {
        let wake = Arc::new(Notify::new());
        wakers.push(wake.clone());
        let worker = Worker::new(&name, channel, plan, store.clone(), clock.clone())
            .observed(observed.clone());
        tasks.push(tokio::spawn(worker.run(wake, shutdown.clone(), grace)));
    }
    (Wakers(wakers), tasks)
}

/// Rings every worker (new alerts were committed).
#[derive(Clone, Default)]
pub struct Wakers(Vec<Arc<Notify>>);

impl Wakers {
    pub fn ring(&self) {
        for w in &self.0 {
            w.notify_one();
        }
    }
}

/// Deliveries to channels klaxon.yaml no longer defines cannot be sent: they become dead
/// letters (they can be retried once the channel is back).
pub fn orphans(store: &Mutex<dyn StateStore>, known: &[String], now: DateTime<Utc>) {
    let due = match lock(store).due_deliveries(now, 1000) {
        Ok(due) => due,
        Err(_) => return,
    };
    for d in due.iter().filter(|d| !known.contains(&d.channel)) {
        let reason = format!("unknown channel `{}`", d.channel);
        tracing::error!(delivery = d.id, "dead letter: {reason}");
        let _ = lock(store).delivery_failed(d.id, &reason, None);
    }
}

#[cfg(test)]
#[path = "deliver_tests.rs"]
mod tests;
