//! Delivering the outbox: every pending (alert, channel) pair is sent, retried with
//! backoff while the failure is retryable, and recorded as sent or dead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};

use crate::clock::Clock;
use crate::notify::{Channel, DeliveryError};
use crate::store::{Delivery, StateStore};

/// Attempts before a retryable failure becomes a dead letter.
pub const MAX_ATTEMPTS: u32 = 8;

/// Backoff before attempt `attempts + 1`: 5s, 10s, 20s, … capped at 10 minutes.
pub fn backoff(attempts: u32) -> Duration {
    let secs = 5u64.saturating_mul(1u64 << attempts.min(7));
    Duration::from_secs(secs.min(600))
}

pub struct Dispatcher {
    pub channels: HashMap<String, Box<dyn Channel>>,
    pub store: Arc<Mutex<dyn StateStore>>,
    pub clock: Arc<dyn Clock>,
}

/// Counts from one pass over the outbox.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DispatchReport {
    pub sent: u64,
    pub retrying: u64,
    pub dead: u64,
}

impl Dispatcher {
    /// Send everything due now, each delivery at most once per call: a failing channel
    /// cannot make one pass spin through its retries (or a shutdown's last pass run until
    /// every pending alert is dead), and a store that cannot record an outcome stops the
    /// pass instead of re-sending the same alert in a loop.
    pub async fn deliver_due(&self) -> DispatchReport {
        let mut report = DispatchReport::default();
        let mut tried = std::collections::HashSet::new();
        loop {
            let now = self.clock.now();
            let due = match lock(&self.store).due_deliveries(now, 64) {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!("cannot read the outbox: {e}");
                    return report;
                }
            };
            let fresh: Vec<Delivery> = due.into_iter().filter(|d| tried.insert(d.id)).collect();
            if fresh.is_empty() {
                return report;
            }
            for delivery in fresh {
                if !self.deliver(delivery, &mut report).await {
                    return report;
                }
            }
        }
    }

    /// Delivers one; false when its outcome could not be recorded.
    async fn deliver(&self, d: Delivery, report: &mut DispatchReport) -> bool {
        let Some(channel) = self.channels.get(&d.channel) else {
            // Config changed since the alert was queued: nothing can deliver it.
            report.dead += 1;
            return self.record_failure(&d, &format!("unknown channel `{}`", d.channel), None);
        };
        match channel.send(&d.alert).await {
            Ok(()) => {
                report.sent += 1;
                if let Err(e) = lock(&self.store).delivered(d.id, self.clock.now()) {
                    tracing::error!("cannot record delivery {}: {e}", d.id);
                    return false;
                }
                true
            }
            Err(err) => {
                let retry_at = match &err {
                    DeliveryError::Retryable { retry_after, .. }
                        if d.attempts + 1 < MAX_ATTEMPTS =>
                    {
                        let wait = backoff(d.attempts).max(retry_after.unwrap_or_default());
                        Some(
                            self.clock.now() + chrono::Duration::from_std(wait).unwrap_or_default(),
                        )
                    }
                    _ => None,
                };
                match retry_at {
                    Some(at) => {
                        tracing::warn!(channel = %d.channel, rule = %d.alert.rule, "delivery failed, retrying at {at}: {}", crate::types::flat(&err.to_string()));
                        report.retrying += 1;
                    }
                    None => {
                        tracing::error!(channel = %d.channel, rule = %d.alert.rule, "delivery failed for good: {}", crate::types::flat(&err.to_string()));
                        report.dead += 1;
                    }
                }
                self.record_failure(&d, &err.to_string(), retry_at)
            }
        }
    }

    /// False when the failure could not be recorded.
    fn record_failure(&self, d: &Delivery, error: &str, retry_at: Option<DateTime<Utc>>) -> bool {
        match lock(&self.store).delivery_failed(d.id, error, retry_at) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!("cannot record failed delivery {}: {e}", d.id);
                false
            }
        }
    }

    /// Deliver whenever woken or once a second, until shutdown; then one last pass.
    pub async fn run(self, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
        loop {
            self.deliver_due().await;
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => {}
            }
        }
        self.deliver_due().await;
    }
}

/// A poisoned lock only means another task panicked mid-call; the SQLite state itself is
/// transactional, so carry on with it.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::sample_alert;
    use crate::clock::ManualClock;
    use crate::store::{Commit, MemoryStore, RaisedAlert};

    /// Fails with the given errors in turn, then succeeds; records what it was sent.
    struct Scripted {
        failures: Mutex<Vec<DeliveryError>>,
        sent: Arc<Mutex<Vec<String>>>,
    }

    #[async_trait::async_trait]
    impl Channel for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        async fn send(&self, alert: &crate::alert::Alert) -> Result<(), DeliveryError> {
            if let Some(e) = lock(&self.failures).pop() {
                return Err(e);
            }
            lock(&self.sent).push(alert.rule.clone());
            Ok(())
        }
    }

    struct Setup {
        dispatcher: Dispatcher,
        clock: Arc<ManualClock>,
        sent: Arc<Mutex<Vec<String>>>,
        store: Arc<Mutex<MemoryStore>>,
    }

    fn setup(failures: Vec<DeliveryError>) -> Setup {
        let alert = sample_alert();
        let clock = Arc::new(ManualClock::new(alert.fired_at));
        let store = Arc::new(Mutex::new(MemoryStore::new()));
        lock(&store)
            .commit(&Commit {
                alerts: vec![RaisedAlert {
                    alert,
                    channels: vec!["ops".into()],
                }],
                ..Commit::default()
            })
            .unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let channel = Scripted {
            failures: Mutex::new(failures),
            sent: sent.clone(),
        };
        let dispatcher = Dispatcher {
            channels: HashMap::from([("ops".to_string(), Box::new(channel) as Box<dyn Channel>)]),
            store: store.clone(),
            clock: clock.clone(),
        };
        Setup {
            dispatcher,
            clock,
            sent,
            store,
        }
    }

    #[tokio::test]
    async fn retryable_failures_wait_for_backoff_or_retry_after() {
        let Setup {
            dispatcher: d,
            clock,
            sent,
            ..
        } = setup(vec![DeliveryError::Retryable {
            message: "429".into(),
            retry_after: Some(Duration::from_secs(30)),
        }]);
        assert_eq!(
            d.deliver_due().await,
            DispatchReport {
                sent: 0,
                retrying: 1,
                dead: 0
            }
        );
        clock.advance(chrono::Duration::seconds(29));
        assert_eq!(
            d.deliver_due().await,
            DispatchReport::default(),
            "Retry-After honoured"
        );
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(d.deliver_due().await.sent, 1);
        assert_eq!(*lock(&sent), vec!["order-errors"]);
    }

    #[tokio::test]
    async fn permanent_failures_become_dead_letters() {
        let Setup {
            dispatcher: d,
            clock,
            sent,
            store,
        } = setup(vec![DeliveryError::Permanent {
            message: "errcode 310000".into(),
        }]);
        assert_eq!(d.deliver_due().await.dead, 1);
        clock.advance(chrono::Duration::days(1));
        assert_eq!(d.deliver_due().await, DispatchReport::default());
        assert!(lock(&sent).is_empty());
        assert_eq!(lock(&store).last_error(1), Some("errcode 310000"));
    }

    /// Fails every time, and each attempt takes an hour of (manual) clock time.
    struct SlowAndDown(Arc<ManualClock>, Arc<Mutex<u32>>);

    #[async_trait::async_trait]
    impl Channel for SlowAndDown {
        fn name(&self) -> &str {
            "down"
        }
        async fn send(&self, _: &crate::alert::Alert) -> Result<(), DeliveryError> {
            *lock(&self.1) += 1;
            self.0.advance(chrono::Duration::hours(1));
            Err(DeliveryError::Retryable {
                message: "timeout".into(),
                retry_after: None,
            })
        }
    }

    #[tokio::test]
    async fn one_pass_tries_each_delivery_once_even_when_sends_are_slow() {
        let Setup {
            mut dispatcher,
            clock,
            store,
            ..
        } = setup(Vec::new());
        // A second pending delivery: while it is tried, the first one's retry comes due.
        lock(&store)
            .commit(&Commit {
                alerts: vec![RaisedAlert {
                    alert: sample_alert(),
                    channels: vec!["ops".into()],
                }],
                ..Commit::default()
            })
            .unwrap();
        let attempts = Arc::new(Mutex::new(0));
        dispatcher.channels.insert(
            "ops".into(),
            Box::new(SlowAndDown(clock.clone(), attempts.clone())),
        );
        let report = dispatcher.deliver_due().await;
        assert_eq!(
            report,
            DispatchReport {
                sent: 0,
                retrying: 2,
                dead: 0
            }
        );
        assert_eq!(
            *lock(&attempts),
            2,
            "the first retry came due during the pass but waits for the next"
        );
        assert_eq!(
            lock(&store).due_deliveries(clock.now(), 10).unwrap().len(),
            1
        );
        assert_eq!(dispatcher.deliver_due().await.retrying, 2);
        assert_eq!(*lock(&attempts), 4);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(5));
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(20), Duration::from_secs(600));
    }
}
