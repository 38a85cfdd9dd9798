//! Issue 17's acceptance test: Klaxon past one machine, every process real. A 3-node
//! JetStream cluster on loopback (`support::nats::Cluster`: streams and buckets with three
//! replicas), three edges each tailing its own log file, three workers sharing the 64
//! partitions through leases, and a webhook channel pointed at a local HTTP endpoint that
//! records every notification.
//!
//! The input is written progressively into the three files while `kill -9` lands on one
//! worker (the one delivering the channel, so both its partitions and the delivery move)
//! and on one edge (restarted on the same `state_dir`, so it reads on from its checkpoint);
//! the worker is not restarted. The three workers start at once, as a Deployment's
//! replicas do, on a cluster where nothing exists yet. Then:
//!
//! - every alert of a single-node run (`klaxon test` over the three files concatenated)
//!   arrives at the webhook, and none that run lacks; an alert is its rule, its `sku`, and
//!   its first and last event time (which tell a key's bursts apart);
//! - a notification arrives twice only if it was in flight at a worker's kill (its two
//!   arrivals straddle the kill), at most one per worker kill; counted and printed (an
//!   edge's kill has no notification in flight);
//! - every partition (and the channel's delivery) the dead worker held is owned by a live
//!   worker within `lease_ttl + lease_ttl/3` (docs/SCALING.md) plus 2 s of slack, read from
//!   the `KLAXON_LEASES` bucket;
//! - every matching line is on the match stream exactly once per rule (the edge's
//!   re-publish after its restart dropped by the duplicate window), and each edge's
//!   checkpoint reaches the end of its file.
//!
//! The result cannot depend on the order in which the edges' matches reach a partition:
//! a `frequency` rule (`threshold: 5`, `window: 1m`, `group_by: [sku]`) sees, per key, two
//! bursts of exactly five matching lines within 50 s of event time, spread over all three
//! files, and a key's two bursts are 20 minutes of event time and 4 s of writing apart —
//! far more than an edge lags behind the others when it is killed and restarted. Other keys
//! match at most three times in all, and most lines match nothing. A second rule over the
//! same lines has a `realert` longer than the gap, so its owner must remember, across the
//! failover, that the key's first burst was sent: the second is held back.
//!
//! By default 120 burst keys, 40 slots of 200 ms (one minute of event time each), one
//! worker and one edge killed: about 20 s with a debug build on two cores.
//! `KLAXON_TORTURE=1`: 600 keys over 30 s of writing, two of the three workers killed in
//! turn (one is left) and every edge killed and restarted once: about 45 s. The assertions
//! are the same.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use klaxon::alert::AlertKey;
use klaxon::cluster::partition::partition_of;
use klaxon::store::{SqliteStore, StateStore};
use serde_json::{json, Value};

use crate::support::binary::{klaxon, Klaxon};
use crate::support::endpoint::{Behaviour, Endpoint};
use crate::support::files::Appender;
use crate::support::nats::Cluster;
use crate::support::{wait_for, wait_until, write};

const EDGES: usize = 3;
const WORKERS: [&str; 3] = ["w1", "w2", "w3"];
const PARTITIONS: u16 = 64;
const LEASE_TTL: Duration = Duration::from_secs(3);
/// What docs/SCALING.md promises: the lease TTL plus one renewal period (a third of it).
const REOWNED_WITHIN: Duration = Duration::from_millis(LEASE_TTL.as_millis() as u64 * 4 / 3);
/// For a loaded two-core machine: reading the bucket, scheduling.
const SLACK: Duration = Duration::from_secs(2);
/// Matching lines per burst: the rules' threshold.
const BURST: usize = 5;
/// The rule whose `realert` lets both bursts of a key through, and the one holding back
/// the second.
const BURST_RULE: &str = "rollback-burst";
const HELD_RULE: &str = "rollback-held";
const CHANNEL: &str = "hook";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// The worker delivering the channel (never restarted).
    Worker,
    /// Edge `i`, restarted after half a second.
    Edge(usize),
}

struct Scale {
    /// Keys with two bursts each.
    keys: usize,
    /// Keys matching one to three times in all (never an alert).
    stray_keys: usize,
    /// Lines that match no rule, per slot.
    noise_per_slot: usize,
    /// Slots of writing; each is one minute of event time.
    slots: usize,
    /// Wall time per slot.
    slot: Duration,
    /// Slots between a key's two bursts (minutes of event time).
    gap: usize,
    /// At which slot what is killed.
    kills: Vec<(usize, Kill)>,
}

fn scale() -> Scale {
    if std::env::var_os("KLAXON_TORTURE").is_some_and(|v| v == "1") {
        Scale {
            keys: 600,
            stray_keys: 600,
            noise_per_slot: 60,
            slots: 150,
            slot: Duration::from_millis(200),
            gap: 60,
            kills: vec![
                (25, Kill::Worker),
                (40, Kill::Edge(0)),
                (65, Kill::Edge(1)),
                (90, Kill::Worker),
                (115, Kill::Edge(2)),
            ],
        }
    } else {
        Scale {
            keys: 120,
            stray_keys: 150,
            noise_per_slot: 40,
            slots: 40,
            slot: Duration::from_millis(200),
            gap: 20,
            kills: vec![(12, Kill::Worker), (24, Kill::Edge(1))],
        }
    }
}

/// One alert, as the webhook and `klaxon test` both tell it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Identity {
    rule: String,
    sku: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    count: u64,
}

impl Identity {
    fn of(alert: &Value) -> Identity {
        let time = |field: &str| -> DateTime<Utc> {
            alert[field]
                .as_str()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("no `{field}` time in {alert}"))
        };
        Identity {
            rule: alert["rule"].as_str().expect("rule").to_string(),
            sku: alert["key"]["sku"].as_str().expect("key.sku").to_string(),
            first_seen: time("first_seen"),
            last_seen: time("last_seen"),
            count: alert["count"].as_u64().expect("count"),
        }
    }

    /// The partition its matches went to.
    fn partition(&self) -> u16 {
        let key = AlertKey::new([("sku".to_string(), self.sku.clone())]).id();
        partition_of(&self.rule, &key, PARTITIONS)
    }
}

/// The input: what each slot appends to each edge's file, and the alerts it must raise.
struct Input {
    /// Per slot, per edge, the lines (time order).
    slots: Vec<[Vec<String>; EDGES]>,
    /// Every line of every file, in event-time order (the single-node run's input).
    all: Vec<String>,
    /// Lines the rules' query matches.
    matching: usize,
    expected: BTreeSet<Identity>,
}

/// xorshift64*: the same input on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The input of `scale`, its event time starting at `base` (one minute per slot).
fn generate(scale: &Scale, base: DateTime<Utc>) -> Input {
    let mut rng = Rng(0x6b6c_6178_6f6e_0017);
    // (time, edge, fields) per slot.
    let mut slots: Vec<Vec<(DateTime<Utc>, usize, Value)>> = vec![Vec::new(); scale.slots];
    let at = |slot: usize, secs: usize| base + chrono::Duration::seconds((slot * 60 + secs) as i64);
    let error = |sku: &str| json!({"level": "ERROR", "msg": "inventory_rollback", "sku": sku});
    let mut expected = BTreeSet::new();
    let mut matching = 0;
    // Bursts start in slots 1..=span; the second of each key `gap` slots later.
    let span = scale.slots - scale.gap - 4;
    for k in 0..scale.keys {
        let sku = format!("SKU-{k:04}");
        let first = 1 + k % span;
        for (burst, slot) in [first, first + scale.gap].into_iter().enumerate() {
            let offset = 3 + k % 7;
            let times: Vec<DateTime<Utc>> = (0..BURST).map(|j| at(slot, offset + 10 * j)).collect();
            for (j, &t) in times.iter().enumerate() {
                // Five lines over three edges: every burst spans all of them.
                slots[slot].push((t, (k + j + burst) % EDGES, error(&sku)));
            }
            matching += BURST;
            let alert = |rule: &str| Identity {
                rule: rule.to_string(),
                sku: sku.clone(),
                first_seen: times[0],
                last_seen: times[BURST - 1],
                count: BURST as u64,
            };
            expected.insert(alert(BURST_RULE));
            if burst == 0 {
                expected.insert(alert(HELD_RULE));
            }
            // The same key near its burst, in lines the query does not match.
            let near = at(slot, offset + 1);
            slots[slot].push((
                near,
                rng.below(EDGES),
                json!({"level": "INFO", "msg": "inventory_rollback", "sku": sku}),
            ));
        }
    }
    for s in 0..scale.stray_keys {
        let sku = format!("SKU-S{s:04}");
        for _ in 0..1 + s % 3 {
            let slot = rng.below(scale.slots);
            slots[slot].push((at(slot, rng.below(60)), rng.below(EDGES), error(&sku)));
            matching += 1;
        }
    }
    for (slot, lines) in slots.iter_mut().enumerate() {
        for _ in 0..scale.noise_per_slot {
            let sku = format!("SKU-{:04}", rng.below(scale.keys));
            let fields = match rng.below(3) {
                0 => json!({"level": "ERROR", "msg": "payment_declined", "sku": sku}),
                1 => json!({"level": "WARN", "msg": "stock_recount", "sku": sku}),
                _ => json!({"level": "DEBUG", "msg": "inventory_rollback", "sku": sku}),
            };
            lines.push((at(slot, rng.below(60)), rng.below(EDGES), fields));
        }
    }
    let mut out = Input {
        slots: Vec::new(),
        all: Vec::new(),
        matching,
        expected,
    };
    let mut n = 0;
    for mut lines in slots {
        lines.sort_by_key(|(t, edge, _)| (*t, *edge));
        let mut per_edge: [Vec<String>; EDGES] = Default::default();
        for (t, edge, fields) in lines {
            n += 1;
            let mut obj = json!({"ts": rfc3339(t), "edge": edge, "n": n});
            for (k, v) in fields.as_object().unwrap() {
                obj[k] = v.clone();
            }
            let line = obj.to_string();
            out.all.push(line.clone());
            per_edge[edge].push(line);
        }
        out.slots.push(per_edge);
    }
    out
}

/// The rules, shared by the single-node run and every cluster process.
fn write_rules(dir: &Path, realert_long_minutes: usize) {
    for (name, realert) in [
        (BURST_RULE, "5m".to_string()),
        (HELD_RULE, format!("{realert_long_minutes}m")),
    ] {
        write(
            &dir.join(format!("{name}.yaml")),
            &format!(
                "name: {name}\nsource: app\ntype: frequency\n\
                 query: 'level:ERROR AND msg:inventory_rollback'\ngroup_by: [sku]\n\
                 threshold: {BURST}\nwindow: 1m\nrealert: {realert}\nnotify: [{CHANNEL}]\n"
            ),
        );
    }
}

/// `dir/klaxon.yaml`: the file source `app` over `dir/logs/app.log`, the webhook channel,
/// the rules in `rules`, state in `dir/state`; with `cluster`, that YAML as its section.
fn write_config(dir: &Path, rules: &Path, hook: &str, cluster: Option<&str>) -> PathBuf {
    let cluster = cluster
        .map(|c| format!("cluster:\n{}", indent(c)))
        .unwrap_or_default();
    let config = dir.join("klaxon.yaml");
    write(
        &config,
        &format!(
            "sources:\n  app:\n    type: file\n    include: [\"{logs}/app.log\"]\n    format: json\n\
             \x20   time_field: ts\n    poll_interval: 50ms\n    max_alert_age: 1d\n\
             channels:\n  {CHANNEL}:\n    type: webhook\n    url: {hook}\n    timeout: 5s\n\
             \x20   delivery: {{send_resolved: false, send_timeout: 5s}}\n\
             rules: {rules}\nstate_dir: state\nshutdown_timeout: 2s\n\
             grouping: {{group_by: [rule, sku], group_interval: 0s}}\n{cluster}",
            logs = dir.join("logs").display(),
            rules = rules.display(),
        ),
    );
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    config
}

fn indent(yaml: &str) -> String {
    yaml.lines().map(|l| format!("  {l}\n")).collect()
}

fn cluster_section(role: &str, servers: &[String], worker_id: Option<&str>) -> String {
    let servers: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    let id = worker_id
        .map(|w| format!("worker_id: {w}\n"))
        .unwrap_or_default();
    format!(
        "role: {role}\nservers: [{}]\npartitions: {PARTITIONS}\n{id}lease_ttl: {}s\n\
         snapshot_interval: 1s\nreplicas: 3\n",
        servers.join(", "),
        LEASE_TTL.as_secs()
    )
}

/// The single-node run: `klaxon test RULE -c CONFIG --input ALL --json`, every rule.
fn single_node(config: &Path, rules: &Path, input: &Path) -> BTreeSet<Identity> {
    let mut alerts = BTreeSet::new();
    for rule in [BURST_RULE, HELD_RULE] {
        let out = klaxon()
            .arg("test")
            .arg(rules.join(format!("{rule}.yaml")))
            .arg("-c")
            .arg(config)
            .arg("--input")
            .arg(input)
            .arg("--json")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "klaxon test {rule}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let alert: Value = serde_json::from_str(line).unwrap();
            assert!(
                alerts.insert(Identity::of(&alert)),
                "the single-node run raised one alert twice: {line}"
            );
        }
    }
    alerts
}

/// Every firing notification the webhook accepted (single alerts and digests) with when it
/// came, in arrival order; and how many messages said anything else (resolved,
/// acknowledged, escalated).
fn delivered(hook: &Endpoint) -> (Vec<(Identity, Instant)>, usize) {
    let mut firing = Vec::new();
    let mut other = 0;
    for hit in hook.hits().into_iter().filter(|h| h.accepted) {
        let body: Value = serde_json::from_slice(&hit.body).expect("a webhook body is JSON");
        let alerts = match body.get("alerts") {
            Some(list) => list.as_array().cloned().unwrap_or_default(),
            None => vec![body],
        };
        for alert in alerts {
            match alert.get("status").and_then(Value::as_str) {
                None | Some("firing") if alert.get("escalation").is_none() => {
                    firing.push((Identity::of(&alert), hit.at))
                }
                _ => other += 1,
            }
        }
    }
    (firing, other)
}

/// The lease bucket's `partition.<P>` and `deliver.<channel>` entries: key → owner.
async fn leases(kv: &async_nats::jetstream::kv::Store) -> BTreeMap<String, String> {
    let mut keys = match kv.keys().await {
        Ok(keys) => keys,
        Err(_) => return BTreeMap::new(),
    };
    let mut names = Vec::new();
    while let Some(Ok(key)) = keys.next().await {
        if key.starts_with("partition.") || key.starts_with("deliver.") {
            names.push(key);
        }
    }
    let mut out = BTreeMap::new();
    for key in names {
        if let Ok(Some(value)) = kv.get(&key).await {
            out.insert(key, String::from_utf8_lossy(&value).trim().to_string());
        }
    }
    out
}

/// Per lease key: after how long, and by whom, it was owned again (`None`: not in time).
type Reowned = BTreeMap<String, Option<(Duration, String)>>;

/// Polls `keys` until each is owned by one of `live`: when each was (after `since`), or
/// `None` if not within `limit`.
async fn reowned(
    kv: async_nats::jetstream::kv::Store,
    keys: Vec<String>,
    live: Vec<String>,
    since: Instant,
    limit: Duration,
) -> Reowned {
    let mut out: Reowned = keys.iter().map(|k| (k.clone(), None)).collect();
    while since.elapsed() < limit && out.values().any(Option::is_none) {
        for (key, seen) in out.iter_mut().filter(|(_, s)| s.is_none()) {
            if let Ok(Some(value)) = kv.get(key.as_str()).await {
                let owner = String::from_utf8_lossy(&value).trim().to_string();
                if live.contains(&owner) {
                    *seen = Some((since.elapsed(), owner));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    out
}

/// The cluster's Klaxons: workers by id, edges by number, and the killed ones (kept so that
/// a failing test prints what they said).
struct Fleet {
    workers: BTreeMap<String, Klaxon>,
    edges: Vec<Klaxon>,
    dead: Vec<Klaxon>,
}

impl Fleet {
    /// Fails the test, with what it said, if a live worker or edge has exited.
    fn check(&mut self) {
        let named = self
            .workers
            .iter_mut()
            .map(|(w, k)| (format!("worker {w}"), k))
            .chain(
                self.edges
                    .iter_mut()
                    .enumerate()
                    .map(|(i, k)| (format!("edge{i}"), k)),
            );
        for (name, klaxon) in named {
            if let Some(status) = klaxon.wait_timeout(Duration::ZERO) {
                panic!("{name} exited ({status}):\n{}", klaxon.stderr());
            }
        }
    }
}

/// The checkpoint offset of an edge's file (0 before it has one).
fn checkpoint(state: &Path) -> u64 {
    if !state.join(klaxon::store::DB_FILE).exists() {
        return 0;
    }
    SqliteStore::open(state)
        .ok()
        .and_then(|s| s.checkpoints("app").ok())
        .and_then(|c| c.first().map(|c| c.offset))
        .unwrap_or(0)
}

#[test]
fn workers_and_edges_killed_mid_stream_lose_no_alert_and_repeat_at_most_one_per_kill() {
    let scale = scale();
    let started = Instant::now();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cluster = rt.block_on(Cluster::start());
    let formed = started.elapsed();
    eprintln!("JetStream cluster at {}", cluster.url_list());
    let hook = rt.block_on(Endpoint::start(Behaviour::Ok));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();

    // The input, starting (slots + 10) minutes ago on a whole minute: recent enough to page.
    let now = Utc::now().timestamp();
    let base =
        DateTime::from_timestamp(now - now % 60 - 60 * (scale.slots as i64 + 10), 0).unwrap();
    let input = generate(&scale, base);
    let rules = root.join("rules");
    write_rules(&rules, scale.gap + 10);

    // The single-node run over the concatenated input: what the cluster must deliver.
    let single = root.join("single");
    let single_config = write_config(&single, &rules, &hook.url("/alerts"), None);
    let all = single.join("all.log");
    write(&all, &(input.all.join("\n") + "\n"));
    let baseline = single_node(&single_config, &rules, &all);
    assert_eq!(
        baseline, input.expected,
        "the single-node run raises what the input was made to raise"
    );

    // Workers first (they share the partitions), then the edges.
    let servers = cluster.urls();
    let node = |name: &str, role: &str, id: Option<&str>| {
        write_config(
            &root.join(name),
            &rules,
            &hook.url("/alerts"),
            Some(&cluster_section(role, &servers, id)),
        )
    };
    let mut fleet = Fleet {
        workers: WORKERS
            .iter()
            .map(|w| (w.to_string(), Klaxon::run(&node(w, "worker", Some(w)))))
            .collect(),
        edges: Vec::new(),
        dead: Vec::new(),
    };
    let edge_configs: Vec<PathBuf> = (0..EDGES)
        .map(|i| node(&format!("edge{i}"), "edge", None))
        .collect();
    let logs: Vec<PathBuf> = (0..EDGES)
        .map(|i| root.join(format!("edge{i}/logs/app.log")))
        .collect();
    for log in &logs {
        write(log, "");
    }

    let js = rt.block_on(cluster.jetstream());
    let kv = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match js.get_key_value("KLAXON_LEASES").await {
                Ok(kv) => break kv,
                Err(e) if Instant::now() > deadline => {
                    panic!("no KLAXON_LEASES bucket 30 s after the workers started: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    let mut owners = BTreeMap::new();
    let shared = wait_for(Duration::from_secs(30), || {
        fleet.check();
        owners = rt.block_on(leases(&kv));
        let partitions: BTreeSet<&String> = owners
            .iter()
            .filter(|(k, _)| k.starts_with("partition."))
            .map(|(_, w)| w)
            .collect();
        (0..PARTITIONS).all(|p| owners.contains_key(&format!("partition.{p}")))
            && partitions.len() == WORKERS.len()
    });
    assert!(
        shared,
        "the {PARTITIONS} partitions were not all owned, by all {} workers, within 30 s: {owners:?}",
        WORKERS.len()
    );
    let shared_after = started.elapsed();

    fleet.edges = edge_configs.iter().map(|c| Klaxon::run(c)).collect();

    let writing = Instant::now();
    let writer = {
        let slots = input.slots.clone();
        let logs = logs.clone();
        let slot = scale.slot;
        std::thread::spawn(move || {
            let mut out: Vec<Appender> = logs.iter().map(|l| Appender::open(l)).collect();
            for (i, per_edge) in slots.iter().enumerate() {
                for (edge, lines) in per_edge.iter().enumerate() {
                    for line in lines {
                        out[edge].line(line);
                    }
                    out[edge].flush();
                }
                if let Some(wait) = (slot * (i as u32 + 1)).checked_sub(writing.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        })
    };

    let bound = REOWNED_WITHIN + SLACK;
    let mut watches = Vec::new();
    let mut kills = Vec::new();
    let mut worker_kills = Vec::new();
    for &(slot, kill) in &scale.kills {
        if let Some(wait) = (scale.slot * slot as u32).checked_sub(writing.elapsed()) {
            std::thread::sleep(wait);
        }
        match kill {
            Kill::Worker => {
                // Mid-stream: something was delivered already, more is coming.
                wait_until("a first notification", Duration::from_secs(20), || {
                    fleet.check();
                    !hook.hits().is_empty()
                });
                let owners = rt.block_on(leases(&kv));
                let deliver: Vec<&String> = owners
                    .keys()
                    .filter(|k| k.starts_with("deliver."))
                    .collect();
                assert_eq!(
                    deliver.len(),
                    1,
                    "one delivery lease for the one channel: {owners:?}"
                );
                let victim = owners[deliver[0]].clone();
                let mut child = fleet.workers.remove(&victim).unwrap_or_else(|| {
                    panic!("the channel is delivered by `{victim}`, no live worker: {owners:?}")
                });
                let held: Vec<String> = owners
                    .iter()
                    .filter(|(_, w)| **w == victim)
                    .map(|(k, _)| k.clone())
                    .collect();
                let killed_at = Instant::now();
                worker_kills.push(killed_at);
                child.kill();
                fleet.dead.push(child);
                let live: Vec<String> = fleet.workers.keys().cloned().collect();
                eprintln!(
                    "slot {:.1}: killed worker {victim} (delivering, and {} of the partitions); live: {live:?}",
                    writing.elapsed().as_secs_f64() / scale.slot.as_secs_f64(),
                    held.len() - 1,
                );
                watches.push((
                    victim,
                    rt.spawn(reowned(kv.clone(), held, live, killed_at, bound * 3)),
                ));
            }
            Kill::Edge(i) => {
                let state = root.join(format!("edge{i}/state"));
                wait_until(
                    &format!("edge{i} to checkpoint some of its file"),
                    Duration::from_secs(20),
                    || {
                        fleet.check();
                        checkpoint(&state) > 0
                    },
                );
                fleet.edges[i].kill();
                let at = checkpoint(&state);
                let size = std::fs::metadata(&logs[i]).unwrap().len();
                eprintln!(
                    "slot {:.1}: killed edge{i} at checkpoint {at} of {size} bytes written",
                    writing.elapsed().as_secs_f64() / scale.slot.as_secs_f64()
                );
                std::thread::sleep(Duration::from_millis(500));
                let killed = std::mem::replace(&mut fleet.edges[i], Klaxon::run(&edge_configs[i]));
                fleet.dead.push(killed);
            }
        }
        kills.push(kill);
    }
    writer.join().unwrap();
    let written = writing.elapsed();

    // Every edge reads its file to the end and has it acknowledged.
    for (i, log) in logs.iter().enumerate() {
        let state = root.join(format!("edge{i}/state"));
        let size = std::fs::metadata(log).unwrap().len();
        wait_until(
            &format!("edge{i} to checkpoint the end of its file"),
            Duration::from_secs(60),
            || {
                fleet.check();
                checkpoint(&state) == size
            },
        );
    }
    let handled = writing.elapsed();

    // Every alert of the single-node run arrives; then a while for a late duplicate.
    let complete = wait_for(Duration::from_secs(60), || {
        fleet.check();
        let got: BTreeSet<Identity> = delivered(&hook).0.into_iter().map(|(a, _)| a).collect();
        baseline.is_subset(&got)
    });
    let settled_from = Instant::now();
    wait_for(Duration::from_secs(10), || {
        settled_from.elapsed() >= Duration::from_secs(2)
            && hook
                .hits()
                .last()
                .is_none_or(|h| h.at.elapsed() >= Duration::from_secs(2))
    });
    let delivered_after = writing.elapsed();

    let ownership: Vec<(String, Reowned)> = watches
        .into_iter()
        .map(|(victim, watch)| (victim, rt.block_on(watch).unwrap()))
        .collect();
    let stream_messages = rt.block_on(async {
        let mut stream = js.get_stream("KLAXON_MATCHES").await.unwrap();
        stream.info().await.unwrap().state.messages
    });
    drop(fleet);

    // What came.
    let (notifications, other) = delivered(&hook);
    let mut times: BTreeMap<&Identity, Vec<Instant>> = BTreeMap::new();
    for (alert, at) in &notifications {
        times.entry(alert).or_default().push(*at);
    }
    // A duplicate is a notification in flight at a worker's kill: sent (at least begun)
    // by the dead worker before it, and again by the new delivery owner after it. An edge
    // kill has no notification in flight.
    let in_flight = |first: Instant, again: Instant| {
        worker_kills
            .iter()
            .any(|&k| first <= k + Duration::from_secs(1) && k <= again)
    };
    let duplicates: Vec<(&Identity, Vec<String>)> = times
        .iter()
        .filter(|(_, at)| at.len() > 1)
        .map(|(a, at)| {
            let when = at
                .iter()
                .map(|t| format!("{:.2?} after writing began", t.duration_since(writing)))
                .collect();
            (*a, when)
        })
        .collect();
    let duplicated: usize = times.values().map(|at| at.len() - 1).sum();
    let unexplained: Vec<&Identity> = times
        .iter()
        .filter(|(_, at)| at.windows(2).any(|w| !in_flight(w[0], w[1])))
        .map(|(a, _)| *a)
        .collect();
    let got: BTreeSet<Identity> = times.keys().map(|a| (*a).clone()).collect();
    let missing: Vec<&Identity> = baseline.difference(&got).collect();
    let extra: Vec<&Identity> = got.difference(&baseline).collect();

    eprintln!(
        "cluster formed in {formed:.1?}, partitions shared after {shared_after:.1?} ({:?}); \
         {} lines ({} matching) written in {written:.1?}, handled by the edges after {handled:.1?}, \
         delivered after {delivered_after:.1?}; total {:.1?}",
        owners
            .values()
            .fold(BTreeMap::<&String, usize>::new(), |mut m, w| {
                *m.entry(w).or_default() += 1;
                m
            }),
        input.all.len(),
        input.matching,
        started.elapsed(),
    );
    eprintln!(
        "alerts: {} expected, {} notifications ({} distinct, {} missing, {} extra, {duplicated} \
         duplicates: {duplicates:?}; kills: {kills:?}), {other} other messages; match stream: \
         {stream_messages} messages for {} matches",
        baseline.len(),
        notifications.len(),
        got.len(),
        missing.len(),
        extra.len(),
        input.matching * 2,
    );
    for (victim, keys) in &ownership {
        let slowest = keys.values().flatten().map(|(d, _)| *d).max();
        eprintln!(
            "{victim}'s {} leases owned again after at most {slowest:.2?}: {:?}",
            keys.len(),
            keys.iter()
                .map(|(k, v)| (
                    k.as_str(),
                    v.as_ref().map(|(d, w)| (format!("{d:.2?}"), w.as_str()))
                ))
                .collect::<Vec<_>>()
        );
    }

    let describe = |alerts: &[&Identity]| -> Vec<String> {
        alerts
            .iter()
            .take(20)
            .map(|a| {
                format!(
                    "{} {} {}..{} (count {}, partition {}, first owned by {})",
                    a.rule,
                    a.sku,
                    rfc3339(a.first_seen),
                    rfc3339(a.last_seen),
                    a.count,
                    a.partition(),
                    owners
                        .get(&format!("partition.{}", a.partition()))
                        .map_or("nobody", String::as_str)
                )
            })
            .collect()
    };
    assert!(
        complete && missing.is_empty(),
        "{} alerts of the single-node run never arrived, e.g. {:#?}",
        missing.len(),
        describe(&missing)
    );
    assert!(
        extra.is_empty(),
        "{} alerts the single-node run did not raise, e.g. {:#?}",
        extra.len(),
        describe(&extra)
    );
    assert!(
        duplicated <= worker_kills.len() && unexplained.is_empty(),
        "{duplicated} duplicate notifications ({} worker kills, each may repeat the one in \
         flight), {} not straddling a worker kill: {duplicates:#?}",
        worker_kills.len(),
        unexplained.len(),
    );
    for (victim, keys) in &ownership {
        let late: Vec<(&String, &Option<(Duration, String)>)> = keys
            .iter()
            .filter(|(_, v)| v.as_ref().is_none_or(|(d, _)| *d > bound))
            .collect();
        assert!(
            late.is_empty(),
            "leases of the killed worker {victim} not owned by a live worker within {bound:?}: {late:?}"
        );
    }
    assert_eq!(
        stream_messages,
        input.matching as u64 * 2,
        "every matching line on the match stream exactly once per rule"
    );
    drop(cluster);
}
