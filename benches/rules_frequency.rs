//! A `frequency` rule over 5,000 keys and over 1,000,000 distinct keys: events per second
//! (criterion) and peak heap (a counting allocator, printed once per scenario).
//!
//! `cargo bench --bench rules_frequency` runs the full sizes; under `cargo test` each
//! benchmark runs once on tiny data.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use klaxon::clock::ManualClock;
use klaxon::event::{Event, Origin};
use klaxon::pipeline::Engine;
use klaxon::query::QueryOptions;
use klaxon::rule::{FrequencyParams, FrequencyRule, Rule, RuleConfig, RuleParams, RuleType};
use klaxon::types::HumanDuration;

/// Counts live and peak heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn full_size() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn origin() -> Origin {
    Origin {
        source: Arc::from("orders"),
        path: Arc::from("orders.log"),
        fingerprint: Arc::from("fp"),
        offset: 0,
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 8, 3, 0, 0).unwrap()
}

/// `n` events over `keys` keys round-robin, 1 ms apart, as JSON lines with a `sku`
/// (parsed only when `fields`: the rule alone reads just the time and the line).
fn events(n: usize, keys: usize, fields: bool) -> (Vec<Event>, Vec<String>) {
    let mut evs = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let sku = format!("SKU-{:07}", i % keys);
        let raw = format!(
            r#"{{"ts":"2026-06-08T03:00:00Z","level":"ERROR","message":"order_timeout order=O-{i}","sku":"{sku}"}}"#
        );
        let parsed = fields.then(|| serde_json::from_str(&raw).unwrap());
        evs.push(Event {
            time: t0() + chrono::Duration::milliseconds(i as i64),
            raw,
            fields: parsed,
            origin: origin(),
            time_guessed: false,
            fields_for: None,
        });
        ids.push(format!(r#"{{"sku":"{sku}"}}"#));
    }
    (evs, ids)
}

fn rule(max_keys: usize) -> FrequencyRule {
    FrequencyRule::with_cap(10, chrono::Duration::minutes(1), max_keys)
}

/// Heap held by a rule fed `events` (peak while feeding, above what existed before),
/// with its changed keys taken every 1,024 events as the pipeline's commits do.
fn peak_heap(events: &[Event], ids: &[String], max_keys: usize) -> (usize, u64) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut r = rule(max_keys);
    let mut changes = Vec::new();
    for (i, (e, k)) in events.iter().zip(ids).enumerate() {
        std::hint::black_box(r.observe(k, e, e.time));
        if i % 1024 == 1023 {
            r.take_changes(&mut changes);
            changes.clear();
        }
    }
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let evicted = r.stats().evicted;
    drop(r);
    (peak, evicted)
}

fn frequency(c: &mut Criterion) {
    let (n_hot, n_distinct) = if full_size() {
        (200_000, 1_000_000)
    } else {
        (5_000, 2_000)
    };
    let (hot, hot_ids) = events(n_hot, 5_000.min(n_hot), true);
    let (distinct, distinct_ids) = events(n_distinct, n_distinct, false);

    for (name, evs, ids, cap) in [
        ("5k keys", &hot, &hot_ids, klaxon::rule::DEFAULT_MAX_KEYS),
        (
            "1M distinct keys, max_keys 100k",
            &distinct,
            &distinct_ids,
            klaxon::rule::DEFAULT_MAX_KEYS,
        ),
        (
            "1M distinct keys, no eviction",
            &distinct,
            &distinct_ids,
            n_distinct,
        ),
    ] {
        let (peak, evicted) = peak_heap(evs, ids, cap);
        eprintln!(
            "frequency rule, {name}: peak heap {:.1} MiB over {} events ({evicted} keys evicted)",
            peak as f64 / (1024.0 * 1024.0),
            evs.len()
        );
    }

    let mut group = c.benchmark_group("frequency rule");
    group.throughput(Throughput::Elements(hot.len() as u64));
    group.bench_function("observe, 5k keys", |b| {
        let mut r = rule(klaxon::rule::DEFAULT_MAX_KEYS);
        b.iter(|| {
            for (e, k) in hot.iter().zip(&hot_ids) {
                std::hint::black_box(r.observe(k, e, e.time));
            }
        })
    });
    group.throughput(Throughput::Elements(distinct.len() as u64));
    group.bench_function("observe, 1M distinct keys (max_keys 100k)", |b| {
        b.iter_batched(
            || rule(klaxon::rule::DEFAULT_MAX_KEYS),
            |mut r| {
                for (e, k) in distinct.iter().zip(&distinct_ids) {
                    std::hint::black_box(r.observe(k, e, e.time));
                }
                r
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.throughput(Throughput::Elements(hot.len() as u64));
    group.bench_function("engine (query + key + rule + realert), 5k keys", |b| {
        let params = RuleParams::Frequency(FrequencyParams {
            threshold: 10,
            window: HumanDuration(std::time::Duration::from_secs(60)),
        });
        let query = "level:ERROR AND order_timeout";
        let mut config = RuleConfig::new("order-errors", "orders", query, params);
        config.group_by = vec!["sku".into()];
        config.realert = HumanDuration(std::time::Duration::from_secs(600));
        config.notify = vec!["ops".into()];
        let options = QueryOptions::default();
        let (compiled, _) = Rule::build(&config, &options, std::path::Path::new(""), None).unwrap();
        let clock = Arc::new(ManualClock::new(t0()));
        let mut engine = Engine::new(vec![compiled], Vec::new(), None, clock);
        let mut out = Vec::new();
        b.iter(|| {
            for e in &hot {
                engine.process(e, &mut out);
            }
            out.clear();
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = if full_size() {
        Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(8))
    } else {
        Criterion::default()
    };
    targets = frequency
}
criterion_main!(benches);
