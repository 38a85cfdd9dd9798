//! Timed acceptance tests in Alertmanager's style: alerts raised at t=…, the clock ticked
//! every second, and each test names the messages expected in a time range — and asserts
//! there were no others.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::alert::AlertKey;
use crate::store::{LifecycleStore, MemoryStore, StateStore};
use crate::types::HumanDuration;

fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 8, 3, 0, 0).unwrap() + Duration::seconds(s)
}

fn secs(s: u64) -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(s))
}

/// One message as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    at: i64,
    channel: String,
    batch: Option<String>,
    /// `rule/key-value`.
    alert: String,
    status: Status,
    level: Option<u32>,
}

struct Harness {
    dispatcher: Dispatcher,
    store: MemoryStore,
    setup: DispatchSetup,
    sent: Vec<Sent>,
    now: i64,
}

impl Harness {
    fn new(lifecycle: LifecycleConfig) -> Self {
        let setup = DispatchSetup {
            lifecycle,
            max_alert_age: HashMap::new(),
            quiet_resolved: BTreeSet::new(),
            channels: ["ops", "leads", "managers", "email", "oncall"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            max_open_alerts: 0,
        };
        Harness {
            dispatcher: Dispatcher::new(&setup).unwrap(),
            store: MemoryStore::new(),
            setup,
            sent: Vec::new(),
            now: 0,
        }
    }

    fn grouping(wait: u64, interval: u64, repeat: u64) -> LifecycleConfig {
        LifecycleConfig {
            grouping: GroupingConfig {
                group_by: vec!["rule".into()],
                group_wait: secs(wait),
                group_interval: secs(interval),
                repeat_interval: secs(repeat),
            },
            ..LifecycleConfig::default()
        }
    }

    /// Ticks every second up to `until` (inclusive), committing what changed.
    fn run_to(&mut self, until: i64) {
        while self.now < until {
            self.now += 1;
            self.step();
        }
    }

    fn step(&mut self) {
        let now = t(self.now);
        let silences = self
            .store
            .silences(now)
            .unwrap()
            .into_iter()
            .map(|r| Silence {
                id: r.id,
                matchers: serde_json::from_str(&r.matchers).unwrap(),
                starts_at: r.starts_at,
                ends_at: r.ends_at,
                author: r.author,
                comment: r.comment,
            })
            .collect();
        self.dispatcher.set_silences(silences);
        for row in self.store.pending_commands().unwrap() {
            self.dispatcher.command(&row, now);
        }
        self.dispatcher.tick(now);
        self.commit();
    }

    fn commit(&mut self) {
        let mut commit = Commit {
            at: t(self.now),
            ..Commit::default()
        };
        self.dispatcher.take_changes(&mut commit);
        for n in &commit.notifications {
            self.sent.push(Sent {
                at: self.now,
                channel: n.channel.clone(),
                batch: n.batch.clone(),
                alert: format!(
                    "{}/{}",
                    n.alert.rule,
                    n.alert
                        .key
                        .iter()
                        .map(|(_, v)| v)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                status: n.alert.status,
                level: n.alert.escalation.as_ref().map(|e| e.level),
            });
        }
        self.store.commit(&commit).unwrap();
    }

    /// Raises an alert of `rule` for `sku` now, to `channels`.
    fn raise(&mut self, rule: &str, sku: &str, channels: &[&str]) {
        self.raise_with(rule, sku, channels, None, |_| {});
    }

    fn raise_with(
        &mut self,
        rule: &str,
        sku: &str,
        channels: &[&str],
        escalation: Option<&str>,
        edit: impl FnOnce(&mut Alert),
    ) {
        let mut alert = Alert::example();
        alert.rule = rule.into();
        alert.key = AlertKey::new([("sku".to_string(), sku.to_string())]);
        alert.first_seen = t(self.now);
        alert.last_seen = t(self.now);
        alert.fired_at = t(self.now);
        edit(&mut alert);
        self.dispatcher.raise(
            RaisedAlert {
                alert,
                channels: channels.iter().map(|c| c.to_string()).collect(),
                escalation: escalation.map(str::to_string),
            },
            t(self.now),
        );
        self.commit();
    }

    fn command(&mut self, kind: &str, target: Target) {
        self.store
            .queue_command(
                kind,
                &serde_json::to_string(&target).unwrap(),
                "alice",
                t(self.now),
            )
            .unwrap();
    }

    fn silence(&mut self, matchers: &[&str], from: i64, to: i64) -> u64 {
        let matchers: Vec<String> = matchers.iter().map(|m| m.to_string()).collect();
        self.store
            .add_silence(&crate::store::SilenceRow {
                id: 0,
                matchers: serde_json::to_string(&matchers).unwrap(),
                starts_at: t(from),
                ends_at: t(to),
                author: "alice".into(),
                comment: "maintenance".into(),
            })
            .unwrap()
    }

    /// Takes the messages sent between `from` and `to` (inclusive) to `channel`.
    fn take(&mut self, channel: &str, from: i64, to: i64) -> Vec<Sent> {
        let (hit, rest): (Vec<Sent>, Vec<Sent>) = self
            .sent
            .drain(..)
            .partition(|s| s.channel == channel && (from..=to).contains(&s.at));
        self.sent = rest;
        hit
    }

    /// Nothing else was sent.
    fn nothing_else(&self) {
        assert!(
            self.sent.is_empty(),
            "unexpected messages: {:#?}",
            self.sent
        );
    }

    /// A restart: a new dispatcher restored from the store.
    fn restart(&mut self) {
        let mut d = Dispatcher::new(&self.setup).unwrap();
        let (alerts, groups) = self.store.lifecycle().unwrap();
        d.restore(alerts, groups);
        self.dispatcher = d;
    }
}

fn alerts_of(sent: &[Sent]) -> Vec<String> {
    let mut v: Vec<String> = sent.iter().map(|s| s.alert.clone()).collect();
    v.sort();
    v
}

#[test]
fn a_burst_of_keys_is_one_message_after_group_wait_and_changes_wait_for_the_interval() {
    let mut h = Harness::new(Harness::grouping(5, 60, 3600));
    for sku in 0..10 {
        h.raise("ghost", &format!("S{sku}"), &["ops"]);
    }
    h.run_to(30);
    let first = h.take("ops", 5, 5);
    assert_eq!(first.len(), 10, "one message of 10 alerts at t=5");
    assert_eq!(
        first
            .iter()
            .map(|s| s.batch.clone())
            .collect::<BTreeSet<_>>()
            .len(),
        1,
        "one batch: one digest"
    );
    h.nothing_else();
    h.raise("ghost", "S10", &["ops"]);
    h.run_to(200);
    let second = h.take("ops", 65, 65);
    assert_eq!(
        alerts_of(&second),
        ["ghost/S10"],
        "group_interval after the last flush: what is new"
    );
    h.nothing_else();
}

#[test]
fn unchanged_alerts_repeat_after_repeat_interval_only() {
    let mut h = Harness::new(Harness::grouping(5, 10, 60));
    h.raise("r", "A", &["ops"]);
    h.run_to(200);
    assert_eq!(h.take("ops", 5, 5).len(), 1);
    assert_eq!(h.take("ops", 65, 65).len(), 1, "repeat");
    assert_eq!(h.take("ops", 125, 125).len(), 1, "and again");
    assert_eq!(h.take("ops", 185, 185).len(), 1);
    h.nothing_else();
}

#[test]
fn a_silenced_alert_is_recorded_not_sent_and_let_through_once_when_the_silence_ends() {
    let mut h = Harness::new(Harness::grouping(5, 10, 3600));
    let id = h.silence(&["rule = r"], 0, 40);
    h.raise("r", "A", &["ops"]);
    h.raise("other", "B", &["ops"]);
    h.run_to(100);
    assert_eq!(alerts_of(&h.take("ops", 5, 5)), ["other/B"]);
    assert_eq!(
        alerts_of(&h.take("ops", 40, 40)),
        ["r/A"],
        "let through when it ends"
    );
    h.nothing_else();
    let state = h.dispatcher.alerts().find(|a| a.alert.rule == "r").unwrap();
    let history = h.store.history(state.id).unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["fired", "muted", "unmuted", "notified"]);
    assert_eq!(history[1].detail, format!("silenced by silence {id}"));
}

#[test]
fn inhibition_mutes_targets_with_equal_labels_while_the_source_fires() {
    let mut config = Harness::grouping(5, 10, 3600);
    config.inhibit_rules = vec![InhibitConfig {
        source: Matchers(vec![Matcher::parse("rule = gateway-down").unwrap()]),
        target: Matchers(vec![Matcher::parse("rule = payment-timeout").unwrap()]),
        equal: vec!["gateway".into()],
    }];
    let mut h = Harness::new(config);
    let gateway = |g: &'static str| {
        move |a: &mut Alert| {
            a.labels.insert("gateway".into(), g.into());
        }
    };
    h.raise_with("gateway-down", "-", &["ops"], None, gateway("wechat"));
    h.raise_with("payment-timeout", "O-1", &["ops"], None, gateway("wechat"));
    h.raise_with("payment-timeout", "O-2", &["ops"], None, gateway("alipay"));
    h.run_to(20);
    let sent = h.take("ops", 0, 20);
    assert_eq!(
        alerts_of(&sent),
        ["gateway-down/-", "payment-timeout/O-2"],
        "O-1 (same gateway) muted"
    );
    h.nothing_else();
    // The gateway recovers: the muted timeout is let through.
    let gw = h
        .dispatcher
        .alerts()
        .find(|a| a.alert.rule == "gateway-down")
        .unwrap()
        .id;
    h.command("resolve", Target::Id { id: gw });
    h.run_to(40);
    let after = h.take("ops", 21, 40);
    assert!(after
        .iter()
        .any(|s| s.alert == "payment-timeout/O-1" && s.status == Status::Firing));
    assert!(after
        .iter()
        .any(|s| s.alert == "gateway-down/-" && s.status == Status::Resolved));
}

fn policy_config() -> LifecycleConfig {
    let mut config = Harness::grouping(0, 10, 3600);
    config.escalation_policies.insert(
        "oncall".into(),
        PolicyConfig {
            levels: vec![
                LevelConfig {
                    after: secs(60),
                    notify: vec!["leads".into()],
                    at_mobiles: vec!["13800000000".into()],
                    at_user_ids: vec![],
                },
                LevelConfig {
                    after: secs(300),
                    notify: vec!["managers".into()],
                    at_mobiles: vec![],
                    at_user_ids: vec![],
                },
            ],
            repeat: 0,
        },
    );
    config
}

#[test]
fn escalation_reaches_level_2_when_nobody_acknowledges() {
    let mut h = Harness::new(policy_config());
    h.raise_with("r", "A", &["ops"], Some("oncall"), |_| {});
    h.run_to(1000);
    assert_eq!(h.take("ops", 1, 1).len(), 1);
    let l1 = h.take("leads", 60, 60);
    assert_eq!(l1.len(), 1);
    assert_eq!(l1[0].level, Some(1));
    let l2 = h.take("managers", 300, 300);
    assert_eq!(l2[0].level, Some(2));
    h.nothing_else();
}

#[test]
fn acknowledging_in_time_stops_the_escalation_and_tells_who_was_told() {
    let mut h = Harness::new(policy_config());
    h.raise_with("r", "A", &["ops"], Some("oncall"), |_| {});
    h.run_to(100);
    h.take("ops", 1, 1);
    h.take("leads", 60, 60);
    h.command(
        "ack",
        Target::Key {
            rule: "r".into(),
            key: AlertKey::new([("sku".to_string(), "A".to_string())]).id(),
        },
    );
    h.run_to(1000);
    let ops = h.take("ops", 101, 101);
    let leads = h.take("leads", 101, 101);
    assert_eq!((ops.len(), leads.len()), (1, 1));
    assert_eq!(ops[0].status, Status::Acknowledged);
    h.nothing_else();
    let (_, command_done) = (0, h.store.command(1).unwrap().unwrap());
    assert_eq!(command_done.result.as_deref(), Some("alert 1 acknowledged"));
}

#[test]
fn resolving_tells_the_told_channels_and_a_new_firing_starts_over() {
    let mut config = policy_config();
    config.grouping.group_wait = secs(5);
    let mut h = Harness::new(config);
    h.setup.quiet_resolved.insert("leads".into());
    h.dispatcher = Dispatcher::new(&h.setup).unwrap();
    h.raise_with("r", "A", &["ops"], Some("oncall"), |_| {});
    h.run_to(100);
    assert_eq!(h.take("ops", 5, 5).len(), 1);
    assert_eq!(h.take("leads", 60, 60).len(), 1);
    let key = AlertKey::new([("sku".to_string(), "A".to_string())]).id();
    h.dispatcher.clear("r", &key, t(h.now));
    h.commit();
    let resolved = h.take("ops", 100, 100);
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].status, Status::Resolved);
    h.run_to(200);
    h.nothing_else();
    // It fires again: grouped again, and the policy starts from level 1.
    h.raise_with("r", "A", &["ops"], Some("oncall"), |_| {});
    h.run_to(1000);
    assert_eq!(h.take("ops", 205, 205).len(), 1);
    assert_eq!(h.take("leads", 260, 260)[0].level, Some(1));
    assert_eq!(h.take("managers", 500, 500)[0].level, Some(2));
    h.nothing_else();
}

#[test]
fn an_alert_that_clears_before_its_group_spoke_is_still_told_then_resolved() {
    // group_wait 30s: the alert fires at t=1 and its condition clears at t=3, in the same
    // processing step as far as the dispatcher can tell (a backlog read in one go, or a
    // cluster worker catching up on a partition). Nothing fired may go untold.
    let mut h = Harness::new(Harness::grouping(30, 60, 3600));
    h.run_to(1);
    h.raise("r", "A", &["ops"]);
    let key = AlertKey::new([("sku".to_string(), "A".to_string())]).id();
    h.dispatcher.clear("r", &key, t(h.now));
    h.commit();
    let told = h.take("ops", 1, 1);
    assert_eq!(
        told.iter().map(|s| s.status).collect::<Vec<_>>(),
        vec![Status::Firing, Status::Resolved],
        "{told:?}"
    );
    h.run_to(200);
    h.nothing_else();
    // Told, then it fires again and clears within the group's interval: the new
    // occurrence is told before the resolution.
    h.raise("r", "A", &["ops"]);
    h.run_to(240);
    assert_eq!(h.take("ops", 230, 230).len(), 1);
    h.raise("r", "A", &["ops"]);
    h.dispatcher.clear("r", &key, t(h.now));
    h.commit();
    let told = h.take("ops", 240, 240);
    assert_eq!(
        told.iter().map(|s| s.status).collect::<Vec<_>>(),
        vec![Status::Firing, Status::Resolved],
        "{told:?}"
    );
    h.nothing_else();
}

#[test]
fn history_is_not_news() {
    let mut h = Harness::new(Harness::grouping(0, 10, 3600));
    h.now = 3600;
    h.raise_with("r", "old", &["ops"], None, |a| {
        a.last_seen = t(3600 - 16 * 60)
    });
    h.raise_with("r", "new", &["ops"], None, |a| {
        a.last_seen = t(3600 - 14 * 60)
    });
    h.run_to(3700);
    assert_eq!(alerts_of(&h.take("ops", 3600, 3700)), ["r/new"]);
    h.nothing_else();
    assert_eq!(h.dispatcher.stats().history_not_paged, 1);
}

#[test]
fn an_escalation_due_during_a_downtime_fires_once_after_the_restart() {
    let mut h = Harness::new(policy_config());
    h.raise_with("r", "A", &["ops"], Some("oncall"), |_| {});
    h.run_to(30);
    h.take("ops", 1, 1);
    // Down from t=30 to t=400: level 1 (60) and level 2 (300) fell due meanwhile.
    h.now = 400;
    h.restart();
    h.step();
    h.restart();
    h.run_to(2000);
    assert_eq!(h.take("leads", 400, 400).len(), 1);
    assert_eq!(h.take("managers", 400, 400).len(), 1);
    h.nothing_else();
}

#[test]
fn routes_add_channels_with_their_own_grouping() {
    let mut config = Harness::grouping(5, 60, 3600);
    config.routes = vec![RouteConfig {
        matchers: Matchers(vec![Matcher::parse("severity = critical").unwrap()]),
        notify: vec!["oncall".into()],
        continue_matching: false,
        group_by: Some(vec!["rule".into(), "sku".into()]),
        group_wait: Some(secs(0)),
        group_interval: None,
        repeat_interval: None,
        escalation: None,
    }];
    let mut h = Harness::new(config);
    h.raise("r", "A", &["ops"]);
    h.raise("r", "B", &["ops"]);
    h.run_to(20);
    let oncall = h.take("oncall", 1, 1);
    assert_eq!(oncall.len(), 2, "per sku, at once");
    assert_ne!(oncall[0].batch, oncall[1].batch, "two groups: two messages");
    assert_eq!(h.take("ops", 5, 5).len(), 2);
    h.nothing_else();
}

#[test]
fn editing_a_policy_does_not_rewrite_an_alert_in_flight() {
    let mut h = Harness::new(policy_config());
    h.raise_with("r", "A", &["ops"], Some("oncall"), |_| {});
    h.run_to(10);
    // klaxon.yaml edited and Klaxon restarted: level 1 now goes to email after 20s.
    let policy = h
        .setup
        .lifecycle
        .escalation_policies
        .get_mut("oncall")
        .unwrap();
    policy.levels[0].after = secs(20);
    policy.levels[0].notify = vec!["email".into()];
    h.restart();
    h.run_to(400);
    assert!(
        h.take("email", 0, 400).is_empty(),
        "the new policy is for new alerts"
    );
    assert_eq!(h.take("leads", 60, 60).len(), 1);
    assert_eq!(h.take("managers", 300, 300).len(), 1);
    h.take("ops", 1, 1);
    h.nothing_else();
    // A new alert gets the new policy.
    h.raise_with("r", "B", &["ops"], Some("oncall"), |_| {});
    h.run_to(500);
    assert_eq!(h.take("email", 420, 420).len(), 1);
}

#[test]
fn memory_stays_bounded_open_alerts_capped_and_resolved_ones_forgotten() {
    let mut h = Harness::new(Harness::grouping(0, 10, 3600));
    h.setup.max_open_alerts = 3;
    h.dispatcher = Dispatcher::new(&h.setup).unwrap();
    for sku in ["A", "B", "C", "D", "E"] {
        h.raise("r", sku, &["ops"]);
        h.run_to(h.now + 1);
    }
    let open: Vec<String> = h
        .dispatcher
        .alerts()
        .filter(|a| a.status != Status::Resolved)
        .map(|a| a.alert.key.get("sku").unwrap().to_string())
        .collect();
    assert_eq!(open, ["C", "D", "E"], "the least recently raised resolved");
    assert_eq!(h.dispatcher.stats().resolved_over_cap, 2);
    let a_id = h
        .dispatcher
        .alerts()
        .find(|a| a.alert.key.get("sku") == Some("A"))
        .unwrap()
        .id;
    // An hour after resolving, A is forgotten; firing again it is a new alert.
    h.run_to(h.now + 3700);
    assert!(h.dispatcher.alert(a_id).is_none());
    h.raise("r", "A", &["ops"]);
    let again = h
        .dispatcher
        .alerts()
        .find(|a| a.alert.key.get("sku") == Some("A"))
        .unwrap();
    assert_ne!(again.id, a_id);
    assert_eq!(again.status, Status::Firing);
}
