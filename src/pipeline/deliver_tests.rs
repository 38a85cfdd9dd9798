//! The delivery worker's stages against a scripted channel, a memory store and a manual
//! clock.

use super::*;
use crate::alert::{sample_alert, Alert};
use crate::clock::ManualClock;
use crate::notify::stages::{RateLimit, RetryPolicy};
use crate::store::{Commit, MemoryStore, RaisedAlert};

/// Answers with the given results in turn (then `Ok`), recording what it was sent.
#[derive(Default)]
struct Scripted {
    answers: Mutex<Vec<Result<(), DeliveryError>>>,
    sent: Mutex<Vec<Vec<String>>>,
    hang: bool,
}

impl Scripted {
    fn answer(&self) -> Result<Receipt, DeliveryError> {
        let answer = lock(&self.answers).pop().unwrap_or(Ok(()));
        answer.map(|()| Receipt::new("HTTP 200 OK: ok"))
    }
}

#[async_trait::async_trait]
impl Channel for Scripted {
    fn name(&self) -> &str {
        "ops"
    }
    async fn send(&self, alert: &Alert) -> Result<Receipt, DeliveryError> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        lock(&self.sent).push(vec![alert.rule.clone()]);
        self.answer()
    }
    async fn send_digest(&self, alerts: &[Alert]) -> Result<Receipt, DeliveryError> {
        lock(&self.sent).push(alerts.iter().map(|a| a.rule.clone()).collect());
        self.answer()
    }
}

struct Setup {
    worker: Worker,
    channel: Arc<Scripted>,
    store: Arc<Mutex<MemoryStore>>,
    clock: Arc<ManualClock>,
}

fn setup(
    rules: &[&str],
    limit: Option<RateLimit>,
    answers: Vec<Result<(), DeliveryError>>,
) -> Setup {
    let at = sample_alert().fired_at;
    let clock = Arc::new(ManualClock::new(at));
    let store = Arc::new(Mutex::new(MemoryStore::new()));
    let alerts = rules
        .iter()
        .map(|r| RaisedAlert {
            alert: Alert {
                rule: r.to_string(),
                ..sample_alert()
            },
            channels: vec!["ops".into()],
            escalation: None,
        })
        .collect();
    lock(&store)
        .commit(&Commit {
            alerts,
            ..Commit::default()
        })
        .unwrap();
    let channel = Arc::new(Scripted {
        answers: Mutex::new(answers),
        ..Scripted::default()
    });
    let plan = DeliveryPlan {
        rate_limit: limit,
        retry: RetryPolicy {
            max_age: Duration::from_secs(3600),
            ..RetryPolicy::default()
        },
        send_timeout: Duration::from_secs(5),
        fallback: Some("mail".into()),
        send_resolved: true,
    };
    let worker = Worker::new("ops", channel.clone(), plan, store.clone(), clock.clone());
    Setup {
        worker,
        channel,
        store,
        clock,
    }
}

const BUDGET: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_rate_limited_channel_pauses_and_its_alerts_lose_no_attempt() {
    let mut s = setup(
        &["a"],
        None,
        vec![Err(DeliveryError::RateLimited {
            message: "130101".into(),
            retry_after: Some(Duration::from_secs(60)),
        })],
    );
    let paused = s.worker.step(BUDGET).await;
    assert_eq!(
        paused,
        Step::Wait(s.clock.now() + chrono::Duration::seconds(60))
    );
    // Paused: nothing is sent, even though the alert is due.
    s.clock.advance(chrono::Duration::seconds(59));
    assert!(matches!(s.worker.step(BUDGET).await, Step::Wait(_)));
    s.clock.advance(chrono::Duration::seconds(1));
    let due = lock(&s.store).due_for("ops", s.clock.now(), 10).unwrap();
    assert_eq!(due[0].attempts, 0, "no attempt counted");
    assert_eq!(s.worker.step(BUDGET).await, Step::Sent(1));
    assert_eq!(lock(&s.channel.sent).len(), 2);
}

#[tokio::test]
async fn a_channel_behind_its_limit_sends_one_digest() {
    // 19 at 18/min: one by one, the last would wait more than a minute.
    let names: Vec<String> = (0..19).map(|i| format!("a{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut s = setup(&names, Some(RateLimit::per_minute(18)), Vec::new());
    assert_eq!(s.worker.step(BUDGET).await, Step::Sent(19));
    assert_eq!(*lock(&s.channel.sent), vec![names.clone()]);
    assert!(lock(&s.store)
        .due_for("ops", s.clock.now(), 10)
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn once_behind_digests_go_on_until_caught_up() {
    // 19 waiting is behind 18/min: a digest; 2 more arrive before the next send and
    // are merged too, instead of trickling out one by one.
    let names: Vec<String> = (0..21).map(|i| format!("a{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut s = setup(&names[..19], Some(RateLimit::per_minute(18)), Vec::new());
    assert_eq!(s.worker.step(BUDGET).await, Step::Sent(19));
    for name in &names[19..] {
        let alert = RaisedAlert {
            alert: Alert {
                rule: name.to_string(),
                fired_at: s.clock.now(),
                ..sample_alert()
            },
            channels: vec!["ops".into()],
            escalation: None,
        };
        lock(&s.store)
            .commit(&Commit {
                alerts: vec![alert],
                ..Commit::default()
            })
            .unwrap();
    }
    s.clock.advance(chrono::Duration::seconds(4));
    assert_eq!(s.worker.step(BUDGET).await, Step::Sent(2));
}

#[tokio::test]
async fn a_few_alerts_within_the_limit_go_out_whole() {
    let mut s = setup(&["a", "b"], Some(RateLimit::per_minute(18)), Vec::new());
    assert_eq!(s.worker.step(BUDGET).await, Step::Sent(1));
    assert!(matches!(s.worker.step(BUDGET).await, Step::Wait(_)));
    s.clock.advance(chrono::Duration::seconds(4));
    assert_eq!(s.worker.step(BUDGET).await, Step::Sent(1));
    assert_eq!(*lock(&s.channel.sent), vec![vec!["a"], vec!["b"]]);
}

#[tokio::test]
async fn permanent_failures_are_dead_letters_handed_to_the_fallback() {
    let mut s = setup(
        &["a"],
        None,
        vec![Err(DeliveryError::Permanent {
            message: "errcode 310000".into(),
        })],
    );
    assert_eq!(s.worker.step(BUDGET).await, Step::Failed);
    let store = lock(&s.store);
    let dead = store.dead_letters(10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].error, "errcode 310000");
    let fallback = store.due_for("mail", s.clock.now(), 10).unwrap();
    assert_eq!(fallback.len(), 1, "the fallback channel gets it");
}

#[tokio::test]
async fn retries_run_by_deadline_then_give_up() {
    let failure = || {
        Err(DeliveryError::Retryable {
            message: "HTTP 503".into(),
            retry_after: None,
        })
    };
    let mut s = setup(&["a"], None, (0..100).map(|_| failure()).collect());
    let mut tries = 0;
    loop {
        match s.worker.step(BUDGET).await {
            Step::Failed => tries += 1,
            Step::Wait(until) => s.clock.set(until),
            Step::Idle => {
                let dead = lock(&s.store).dead_letters(10).unwrap();
                if !dead.is_empty() {
                    assert!(
                        dead[0]
                            .error
                            .starts_with("gave up 1h after the alert fired"),
                        "{}",
                        dead[0].error
                    );
                    break;
                }
                s.clock.advance(chrono::Duration::seconds(30));
            }
            other => panic!("{other:?}"),
        }
        assert!(tries < 50, "gives up by the deadline, not after a count");
    }
    assert!(tries > 5, "{tries}");
    assert!(
        s.clock.now()
            <= sample_alert().fired_at + chrono::Duration::hours(1) + chrono::Duration::minutes(11)
    );
}

#[tokio::test]
async fn repeated_failures_open_the_breaker() {
    let failure = || {
        Err(DeliveryError::Retryable {
            message: "connection refused".into(),
            retry_after: None,
        })
    };
    let rules: Vec<String> = (0..6).map(|i| format!("r{i}")).collect();
    let names: Vec<&str> = rules.iter().map(String::as_str).collect();
    let mut s = setup(&names, None, (0..10).map(|_| failure()).collect());
    for _ in 0..5 {
        assert_eq!(s.worker.step(BUDGET).await, Step::Failed);
    }
    let open = s.worker.step(BUDGET).await;
    assert_eq!(
        open,
        Step::Wait(s.clock.now() + chrono::Duration::seconds(30))
    );
}

#[tokio::test]
async fn a_silent_destination_times_out_and_is_retried() {
    let mut s = setup(&["a"], None, Vec::new());
    let channel = Arc::new(Scripted {
        hang: true,
        ..Scripted::default()
    });
    s.worker.channel = channel;
    let started = std::time::Instant::now();
    assert_eq!(
        s.worker.step(Duration::from_millis(200)).await,
        Step::Failed
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let due = lock(&s.store)
        .due_deliveries(s.clock.now() + chrono::Duration::hours(1), 10)
        .unwrap();
    assert_eq!(due[0].attempts, 1, "counted, and due again");
}

#[tokio::test]
async fn each_attempt_lands_in_the_alerts_history() {
    use crate::store::LifecycleStore;
    // A lifecycle alert (id 7): failed once with the program's stderr, then delivered.
    let mut s = setup(
        &[],
        None,
        vec![Err(DeliveryError::Retryable {
            message: "`fix.sh`: exit status 3\nstderr:\nno such service".into(),
            retry_after: None,
        })],
    );
    let raised = RaisedAlert {
        alert: Alert {
            id: Some(7),
            ..sample_alert()
        },
        channels: vec!["ops".into()],
        escalation: None,
    };
    lock(&s.store)
        .commit(&Commit {
            alerts: vec![raised],
            ..Commit::default()
        })
        .unwrap();
    assert_eq!(s.worker.step(BUDGET).await, Step::Failed);
    s.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(s.worker.step(BUDGET).await, Step::Sent(1));
    let history = lock(&s.store).history(7).unwrap();
    let rows: Vec<(&str, &str)> = history
        .iter()
        .map(|h| (h.kind.as_str(), h.detail.as_str()))
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].0, "failed");
    assert!(
        rows[0].1.starts_with(
            "ops: `fix.sh`: exit status 3\nstderr:\nno such service (next attempt at "
        ),
        "{rows:?}"
    );
    assert_eq!(rows[1], ("delivered", "ops: HTTP 200 OK: ok"));
}
