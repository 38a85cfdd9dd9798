//! The `StateStore` contract: every case runs against `MemoryStore` (the stand-in the
//! pipeline's unit tests use) and `SqliteStore` (what `klaxon run` keeps), so what passes
//! against the one holds for the other.

use chrono::{DateTime, Duration, Utc};
use klaxon::alert::{Alert, RealertState};
use klaxon::source::{Checkpoint, SourceClockState};
use klaxon::store::{
    Commit, Delivery, HistoryRow, LifecycleStore, MemoryStore, RaisedAlert, RuleReset,
    RuleStateChange, SqliteStore, StateStore,
};

use crate::support::{sample_alert, t0};

/// A store under test, and the alerts it recorded (outside the trait: each store has its own
/// accessor).
trait Store: StateStore + LifecycleStore {
    fn recorded(&self) -> Vec<Alert>;
}

impl Store for MemoryStore {
    fn recorded(&self) -> Vec<Alert> {
        self.alerts.clone()
    }
}

impl Store for SqliteStore {
    fn recorded(&self) -> Vec<Alert> {
        self.alerts().unwrap()
    }
}

/// One test per case and store: `memory::CASE` and `sqlite::CASE`.
macro_rules! contract {
    ($($case:ident,)*) => {
        mod memory {
            $(
                #[test]
                fn $case() {
                    super::$case(&mut super::MemoryStore::new());
                }
            )*
        }

        mod sqlite {
            $(
                #[test]
                fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$case(&mut super::SqliteStore::open(dir.path()).unwrap());
                }
            )*
        }
    };
}

contract! {
    checkpoints_round_trip_and_upsert_per_source_and_fingerprint,
    realert_state_round_trips_and_upserts_per_rule_and_key,
    rule_resets_then_changes_and_deletes_per_key,
    a_reset_without_state_id_forgets_the_rule,
    source_clocks_round_trip_and_upsert_per_source,
    one_commit_applies_everything,
    an_empty_commit_changes_nothing,
    timestamps_keep_their_milliseconds,
    a_new_delivery_per_channel_is_due_from_fired_at,
    due_deliveries_come_oldest_first_up_to_the_limit,
    due_deliveries_come_in_order_of_their_next_attempt,
    a_delivered_delivery_is_never_due_again,
    a_failed_delivery_is_due_again_at_its_retry_time,
    a_dead_letter_is_never_due_again,
    pruning_forgets_finished_history_and_keeps_what_is_pending,
    delivery_outcomes_append_to_an_alerts_history,
}

/// t0 plus `ms` milliseconds.
fn at(ms: i64) -> DateTime<Utc> {
    t0() + Duration::milliseconds(ms)
}

fn checkpoint(source: &str, fingerprint: &str, path: &str, offset: u64) -> Checkpoint {
    Checkpoint {
        source: source.into(),
        fingerprint: fingerprint.into(),
        path: path.into(),
        offset,
    }
}

fn realert(rule: &str, key: &str, hold_until: DateTime<Utc>, held_back: u64) -> RealertState {
    RealertState {
        rule: rule.into(),
        key: key.into(),
        hold_until,
        held_back,
    }
}

fn reset(rule: &str, state_id: Option<&str>) -> RuleReset {
    RuleReset {
        rule: rule.into(),
        state_id: state_id.map(String::from),
    }
}

fn change(rule: &str, key: &str, state: Option<&str>) -> RuleStateChange {
    RuleStateChange {
        rule: rule.into(),
        key: key.into(),
        state: state.map(String::from),
    }
}

fn clock(source: &str, event_max: Option<i64>, reported: Option<i64>) -> SourceClockState {
    SourceClockState {
        source: source.into(),
        event_max: event_max.map(at),
        reported: reported.map(at),
    }
}

/// The example alert for `rule`, fired at `fired_ms`, for `channels`.
fn raised(rule: &str, fired_ms: i64, channels: &[&str]) -> RaisedAlert {
    RaisedAlert {
        alert: Alert {
            rule: rule.into(),
            fired_at: at(fired_ms),
            ..sample_alert()
        },
        channels: channels.iter().map(|c| c.to_string()).collect(),
        escalation: None,
    }
}

fn commit(store: &mut impl Store, commit: Commit) {
    store.commit(&commit).unwrap();
}

/// What the trait returns unordered, sorted.
fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn checkpoints(store: &impl Store, source: &str) -> Vec<Checkpoint> {
    let mut out = store.checkpoints(source).unwrap();
    out.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    out
}

fn realerts(store: &impl Store) -> Vec<RealertState> {
    let mut out = store.realert_states().unwrap();
    out.sort_by(|a, b| (&a.rule, &a.key).cmp(&(&b.rule, &b.key)));
    out
}

fn states(store: &impl Store, rule: &str) -> Vec<(String, String)> {
    sorted(store.rule_states(rule).unwrap())
}

fn state_ids(store: &impl Store) -> Vec<(String, String)> {
    sorted(store.rule_state_ids().unwrap())
}

fn clocks(store: &impl Store) -> Vec<SourceClockState> {
    let mut out = store.source_clocks().unwrap();
    out.sort_by(|a, b| a.source.cmp(&b.source));
    out
}

/// Due deliveries as (rule, channel, attempts).
fn due(store: &impl Store, now_ms: i64, limit: usize) -> Vec<(String, String, u32)> {
    store
        .due_deliveries(at(now_ms), limit)
        .unwrap()
        .into_iter()
        .map(|d| (d.alert.rule, d.channel, d.attempts))
        .collect()
}

fn due_one(store: &impl Store, now_ms: i64, channel: &str) -> Delivery {
    let due = store.due_deliveries(at(now_ms), 100).unwrap();
    due.into_iter()
        .find(|d| d.channel == channel)
        .unwrap_or_else(|| panic!("no delivery to {channel} due at {now_ms} ms"))
}

fn s(a: &str, b: &str) -> (String, String) {
    (a.into(), b.into())
}

fn d(rule: &str, channel: &str, attempts: u32) -> (String, String, u32) {
    (rule.into(), channel.into(), attempts)
}

fn checkpoints_round_trip_and_upsert_per_source_and_fingerprint(store: &mut impl Store) {
    assert!(store.checkpoints("app").unwrap().is_empty());
    commit(
        store,
        Commit {
            checkpoints: vec![
                checkpoint("app", "fp-a", "/log/a.log", 10),
                checkpoint("app", "fp-b", "/log/b.log", 20),
                // Same fingerprint, other source: its own row.
                checkpoint("other", "fp-a", "/log/a.log", 5),
            ],
            ..Commit::default()
        },
    );
    let b = checkpoint("app", "fp-b", "/log/b.log", 20);
    assert_eq!(
        checkpoints(store, "app"),
        vec![checkpoint("app", "fp-a", "/log/a.log", 10), b.clone()]
    );
    let other = vec![checkpoint("other", "fp-a", "/log/a.log", 5)];
    assert_eq!(checkpoints(store, "other"), other);
    assert!(checkpoints(store, "none").is_empty());

    // The file moved on and was renamed: one row per (source, fingerprint), path and
    // offset replaced; within a commit the later checkpoint wins.
    commit(
        store,
        Commit {
            checkpoints: vec![
                checkpoint("app", "fp-a", "/log/a.log", 25),
                checkpoint("app", "fp-a", "/log/a.log.1", 30),
            ],
            ..Commit::default()
        },
    );
    assert_eq!(
        checkpoints(store, "app"),
        vec![checkpoint("app", "fp-a", "/log/a.log.1", 30), b]
    );
    assert_eq!(checkpoints(store, "other"), other);
}

fn realert_state_round_trips_and_upserts_per_rule_and_key(store: &mut impl Store) {
    assert!(store.realert_states().unwrap().is_empty());
    commit(
        store,
        Commit {
            realert: vec![
                realert("r1", r#"{"sku":"A"}"#, at(10_000), 0),
                realert("r1", r#"{"sku":"B"}"#, at(20_000), 2),
                realert("r2", r#"{"sku":"A"}"#, at(30_000), 1),
            ],
            ..Commit::default()
        },
    );
    assert_eq!(
        realerts(store),
        vec![
            realert("r1", r#"{"sku":"A"}"#, at(10_000), 0),
            realert("r1", r#"{"sku":"B"}"#, at(20_000), 2),
            realert("r2", r#"{"sku":"A"}"#, at(30_000), 1),
        ]
    );
    commit(
        store,
        Commit {
            realert: vec![realert("r1", r#"{"sku":"A"}"#, at(40_000), 3)],
            ..Commit::default()
        },
    );
    assert_eq!(
        realerts(store),
        vec![
            realert("r1", r#"{"sku":"A"}"#, at(40_000), 3),
            realert("r1", r#"{"sku":"B"}"#, at(20_000), 2),
            realert("r2", r#"{"sku":"A"}"#, at(30_000), 1),
        ]
    );
}

fn rule_resets_then_changes_and_deletes_per_key(store: &mut impl Store) {
    assert!(store.rule_state_ids().unwrap().is_empty());
    assert!(store.rule_states("r").unwrap().is_empty());
    // Resets apply before changes: a rule starting over keeps what the same commit set.
    commit(
        store,
        Commit {
            rule_resets: vec![reset("r", Some("m1")), reset("other", Some("mo"))],
            rule_state: vec![
                change("r", "a", Some("1")),
                change("r", "b", Some("2")),
                change("other", "a", Some("9")),
            ],
            ..Commit::default()
        },
    );
    assert_eq!(state_ids(store), vec![s("other", "mo"), s("r", "m1")]);
    assert_eq!(states(store, "r"), vec![s("a", "1"), s("b", "2")]);

    // Per key: delete, replace, insert; deleting a key that is not there is no error.
    commit(
        store,
        Commit {
            rule_state: vec![
                change("r", "a", None),
                change("r", "b", Some("3")),
                change("r", "c", Some("4")),
                change("r", "never-set", None),
            ],
            ..Commit::default()
        },
    );
    assert_eq!(states(store, "r"), vec![s("b", "3"), s("c", "4")]);

    // A new state identity drops every key of that rule, and of no other.
    commit(
        store,
        Commit {
            rule_resets: vec![reset("r", Some("m2"))],
            ..Commit::default()
        },
    );
    assert!(states(store, "r").is_empty());
    assert_eq!(state_ids(store), vec![s("other", "mo"), s("r", "m2")]);
    assert_eq!(states(store, "other"), vec![s("a", "9")]);
}

fn a_reset_without_state_id_forgets_the_rule(store: &mut impl Store) {
    commit(
        store,
        Commit {
            rule_resets: vec![reset("r", Some("m1")), reset("kept", Some("mk"))],
            rule_state: vec![change("r", "a", Some("1")), change("kept", "a", Some("2"))],
            ..Commit::default()
        },
    );
    commit(
        store,
        Commit {
            rule_resets: vec![reset("r", None)],
            ..Commit::default()
        },
    );
    assert_eq!(state_ids(store), vec![s("kept", "mk")]);
    assert!(states(store, "r").is_empty());
    assert_eq!(states(store, "kept"), vec![s("a", "2")]);
}

fn source_clocks_round_trip_and_upsert_per_source(store: &mut impl Store) {
    assert!(store.source_clocks().unwrap().is_empty());
    commit(
        store,
        Commit {
            clocks: vec![clock("a", Some(5_000), None), clock("b", None, None)],
            ..Commit::default()
        },
    );
    assert_eq!(
        clocks(store),
        vec![clock("a", Some(5_000), None), clock("b", None, None)]
    );
    commit(
        store,
        Commit {
            clocks: vec![clock("a", Some(9_000), Some(4_000))],
            ..Commit::default()
        },
    );
    assert_eq!(
        clocks(store),
        vec![clock("a", Some(9_000), Some(4_000)), clock("b", None, None)]
    );
}

fn one_commit_applies_everything(store: &mut impl Store) {
    let alert = raised("r", 1_000, &["ops", "mail"]);
    commit(
        store,
        Commit {
            at: at(1_000),
            checkpoints: vec![checkpoint("app", "fp", "/log/app.log", 42)],
            realert: vec![realert("r", "{}", at(61_000), 1)],
            alerts: vec![alert.clone(), raised("quiet", 1_000, &[])],
            rule_resets: vec![reset("r", Some("m"))],
            rule_state: vec![change("r", "{}", Some("window"))],
            clocks: vec![clock("app", Some(1_000), Some(900))],
            ..Commit::default()
        },
    );
    assert_eq!(
        checkpoints(store, "app"),
        vec![checkpoint("app", "fp", "/log/app.log", 42)]
    );
    assert_eq!(realerts(store), vec![realert("r", "{}", at(61_000), 1)]);
    assert_eq!(state_ids(store), vec![s("r", "m")]);
    assert_eq!(states(store, "r"), vec![s("{}", "window")]);
    assert_eq!(clocks(store), vec![clock("app", Some(1_000), Some(900))]);
    let recorded = store.recorded();
    assert_eq!(
        recorded.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(),
        ["r", "quiet"],
        "every alert is recorded, in order, with or without channels"
    );
    assert_eq!(recorded[0], alert.alert);
    assert_eq!(
        sorted(due(store, 1_000, 10)),
        vec![d("r", "mail", 0), d("r", "ops", 0)]
    );
}

fn an_empty_commit_changes_nothing(store: &mut impl Store) {
    commit(
        store,
        Commit {
            checkpoints: vec![checkpoint("app", "fp", "/log/app.log", 7)],
            alerts: vec![raised("r", 0, &["ops"])],
            ..Commit::default()
        },
    );
    assert!(Commit::default().is_empty());
    commit(store, Commit::default());
    assert_eq!(
        checkpoints(store, "app"),
        vec![checkpoint("app", "fp", "/log/app.log", 7)]
    );
    assert_eq!(store.recorded().len(), 1);
    assert_eq!(due(store, 0, 10), vec![d("r", "ops", 0)]);
}

fn timestamps_keep_their_milliseconds(store: &mut impl Store) {
    let mut alert = raised("r", 1_234, &["ops"]);
    alert.alert.first_seen = at(567);
    alert.alert.last_seen = at(890);
    commit(
        store,
        Commit {
            realert: vec![realert("r", "{}", at(60_001), 0)],
            alerts: vec![alert.clone()],
            clocks: vec![clock("app", Some(999), Some(1))],
            ..Commit::default()
        },
    );
    assert_eq!(realerts(store), vec![realert("r", "{}", at(60_001), 0)]);
    assert_eq!(clocks(store), vec![clock("app", Some(999), Some(1))]);
    assert_eq!(store.recorded(), vec![alert.alert.clone()]);
    let delivery = due_one(store, 1_234, "ops");
    assert_eq!(delivery.alert, alert.alert);
    assert!(due(store, 1_233, 10).is_empty());
}

fn a_new_delivery_per_channel_is_due_from_fired_at(store: &mut impl Store) {
    assert!(due(store, 1_000_000, 10).is_empty());
    let alert = raised("r", 5_000, &["ops", "mail"]);
    commit(
        store,
        Commit {
            alerts: vec![alert.clone()],
            ..Commit::default()
        },
    );
    assert!(due(store, 4_999, 10).is_empty(), "not due before fired_at");
    assert_eq!(
        sorted(due(store, 5_000, 10)),
        vec![d("r", "mail", 0), d("r", "ops", 0)]
    );
    let ops = due_one(store, 5_000, "ops");
    assert_eq!(ops.alert, alert.alert);
    assert_ne!(ops.id, due_one(store, 5_000, "mail").id);
    // Looking is not delivering: still due later.
    assert_eq!(due(store, 60_000, 10).len(), 2);
}

fn due_deliveries_come_oldest_first_up_to_the_limit(store: &mut impl Store) {
    for rule in ["first", "second", "third"] {
        commit(
            store,
            Commit {
                alerts: vec![raised(rule, 1_000, &["ops"])],
                ..Commit::default()
            },
        );
    }
    assert_eq!(
        due(store, 2_000, 10),
        vec![
            d("first", "ops", 0),
            d("second", "ops", 0),
            d("third", "ops", 0)
        ]
    );
    assert_eq!(
        due(store, 2_000, 2),
        vec![d("first", "ops", 0), d("second", "ops", 0)]
    );
    assert!(due(store, 2_000, 0).is_empty());
    assert_eq!(store.due_count("ops", at(2_000)).unwrap(), 3);
    assert_eq!(store.due_count("ops", at(999)).unwrap(), 0);
    assert_eq!(store.due_count("mail", at(2_000)).unwrap(), 0);
}

fn due_deliveries_come_in_order_of_their_next_attempt(store: &mut impl Store) {
    // Committed late but fired earlier (a source catching up), and a retry scheduled after
    // a newer alert's first attempt: the earliest due goes first.
    commit(
        store,
        Commit {
            alerts: vec![
                raised("late", 3_000, &["ops"]),
                raised("retried", 0, &["ops"]),
            ],
            ..Commit::default()
        },
    );
    commit(
        store,
        Commit {
            alerts: vec![raised("early", 1_000, &["ops"])],
            ..Commit::default()
        },
    );
    let retried = store.due_deliveries(at(0), 10).unwrap();
    assert_eq!(retried.len(), 1);
    store
        .delivery_failed(retried[0].id, "HTTP 503", Some(at(4_000)))
        .unwrap();
    assert_eq!(
        due(store, 10_000, 10),
        vec![
            d("early", "ops", 0),
            d("late", "ops", 0),
            d("retried", "ops", 1)
        ]
    );
    assert_eq!(
        due(store, 10_000, 1),
        vec![d("early", "ops", 0)],
        "the limit keeps the earliest due"
    );
}

fn a_delivered_delivery_is_never_due_again(store: &mut impl Store) {
    commit(
        store,
        Commit {
            alerts: vec![raised("r", 0, &["ops", "mail"])],
            ..Commit::default()
        },
    );
    let ops = due_one(store, 0, "ops");
    store.delivered(ops.id, at(100)).unwrap();
    assert_eq!(due(store, 0, 10), vec![d("r", "mail", 0)]);
    assert_eq!(due(store, 86_400_000, 10), vec![d("r", "mail", 0)]);
    // Marking it again, or an id that does not exist, is no error and changes nothing.
    store.delivered(ops.id, at(200)).unwrap();
    store.delivered(ops.id + 1000, at(200)).unwrap();
    assert_eq!(due(store, 0, 10), vec![d("r", "mail", 0)]);
}

fn a_failed_delivery_is_due_again_at_its_retry_time(store: &mut impl Store) {
    commit(
        store,
        Commit {
            alerts: vec![raised("r", 0, &["ops", "mail"])],
            ..Commit::default()
        },
    );
    let ops = due_one(store, 0, "ops");
    store
        .delivery_failed(ops.id, "HTTP 500", Some(at(30_000)))
        .unwrap();
    assert_eq!(due(store, 29_999, 10), vec![d("r", "mail", 0)]);
    assert_eq!(
        sorted(due(store, 30_000, 10)),
        vec![d("r", "mail", 0), d("r", "ops", 1)]
    );
    let again = due_one(store, 30_000, "ops");
    assert_eq!(again.id, ops.id);
    assert_eq!(again.alert, ops.alert);
    store
        .delivery_failed(ops.id, "HTTP 429", Some(at(90_000)))
        .unwrap();
    assert!(due(store, 89_999, 10).iter().all(|d| d.1 != "ops"));
    assert_eq!(due_one(store, 90_000, "ops").attempts, 2);
    store.delivered(ops.id, at(90_000)).unwrap();
    assert!(due(store, 1_000_000, 10).iter().all(|d| d.1 != "ops"));
}

fn a_dead_letter_is_never_due_again(store: &mut impl Store) {
    commit(
        store,
        Commit {
            alerts: vec![raised("r", 0, &["ops", "mail"])],
            ..Commit::default()
        },
    );
    let ops = due_one(store, 0, "ops");
    store
        .delivery_failed(ops.id, "HTTP 400: bad payload", None)
        .unwrap();
    let a_year = 365 * 86_400_000;
    assert_eq!(due(store, a_year, 10), vec![d("r", "mail", 0)]);
}

fn pruning_forgets_finished_history_and_keeps_what_is_pending(store: &mut impl Store) {
    commit(
        store,
        Commit {
            alerts: vec![
                raised("old", 0, &["ops", "mail"]),
                raised("new", 100_000, &["ops"]),
            ],
            realert: vec![
                realert("old", "{}", at(1_000), 0),
                realert("new", "{}", at(200_000), 0),
            ],
            ..Commit::default()
        },
    );
    let sent = due_one(store, 0, "ops");
    store.delivered(sent.id, at(0)).unwrap();
    let pruned = store.prune(at(50_000)).unwrap();
    // `old` went to ops (done) but not yet to mail (pending): the delivery to ops goes,
    // the alert stays while a delivery of it is pending; `new` is younger than the cut.
    assert_eq!((pruned.deliveries, pruned.alerts, pruned.holds), (1, 0, 1));
    assert_eq!(due(store, 0, 10), vec![d("old", "mail", 0)]);
    assert_eq!(realerts(store), vec![realert("new", "{}", at(200_000), 0)]);
    let mail = due_one(store, 0, "mail");
    store.delivery_failed(mail.id, "HTTP 400", None).unwrap();
    let pruned = store.prune(at(50_000)).unwrap();
    assert_eq!(
        (pruned.deliveries, pruned.alerts),
        (1, 1),
        "a dead letter is finished too"
    );
    let rules: Vec<String> = store.recorded().into_iter().map(|a| a.rule).collect();
    assert_eq!(rules, ["new"]);
}

/// What the delivery workers note (issue #16): appended to the history the dispatcher's
/// commits write, read back in time order, each alert its own, text kept whole.
fn delivery_outcomes_append_to_an_alerts_history(store: &mut impl Store) {
    let row = |id: u64, ms: i64, kind: &str, detail: &str| HistoryRow {
        alert_id: id,
        at: at(ms),
        kind: kind.into(),
        detail: detail.into(),
    };
    commit(
        store,
        Commit {
            history: vec![row(7, 0, "fired", "")],
            ..Commit::default()
        },
    );
    let output = format!(
        "fix: `fix.sh`: exit status 3\nstderr:\n{}",
        "é\u{1F6A8}".repeat(10_000)
    );
    store
        .add_history(&[
            row(7, 2_000, "failed", &output),
            row(8, 1_000, "delivered", "x"),
        ])
        .unwrap();
    store.add_history(&[]).unwrap();
    store
        .add_history(&[row(7, 9_000, "delivered", "fix: `fix.sh`: exit status 0")])
        .unwrap();
    assert_eq!(
        store.history(7).unwrap(),
        vec![
            row(7, 0, "fired", ""),
            row(7, 2_000, "failed", &output),
            row(7, 9_000, "delivered", "fix: `fix.sh`: exit status 0"),
        ]
    );
    assert_eq!(
        store.history(8).unwrap(),
        vec![row(8, 1_000, "delivered", "x")]
    );
}
