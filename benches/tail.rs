//! In process: the file source tailing a large file from its first byte through decode into
//! a rule that never matches (issue #4). Four ways through Klaxon:
//!
//! - `json/decode-all`: every line decoded as JSON (no prefilter), then matched;
//! - `json/decode-only`: the same without the rule, to split reading+decoding from matching;
//! - `json/prefilter`: the real prefilter of the rule's query, whose literals never occur,
//!   so no line is decoded;
//! - `plain/decode-all` and `plain/prefilter`: the same for plain lines with a leading
//!   timestamp.
//!
//! `cargo bench --bench tail` uses a 1 GiB file per format (`KLAXON_BENCH_TAIL_MB`
//! changes it); under `cargo test` the files are 1 MiB and each case runs once.
//! Whole-process comparisons with `cat` and `wc -l` are `scripts/bench`'s, never this one's.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use klaxon::clock::SystemClock;
use klaxon::config::HumanDuration;
use klaxon::decode::LineFormat;
use klaxon::filter::{AcceptAll, LineFilter};
use klaxon::query::QueryOptions;
use klaxon::source::{build_with_filter, FileSourceConfig, SourceConfig};
use tokio::sync::{mpsc, watch};

/// The rule's query: it never matches, and its literals never occur.
const QUERY: &str = "\"ERROR\" AND checkout_deadlock";

fn file_bytes() -> u64 {
    let full = std::env::args().any(|a| a == "--bench");
    let mb = match std::env::var("KLAXON_BENCH_TAIL_MB") {
        Ok(v) => v.parse().expect("KLAXON_BENCH_TAIL_MB is a number"),
        Err(_) if full => 1024,
        Err(_) => 1,
    };
    mb * 1024 * 1024
}

/// Lines like an order service's: ~190 bytes of JSON, or ~120 of plain text.
fn generate(path: &Path, format: LineFormat, bytes: u64) {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let (mut written, mut n) = (0u64, 0u64);
    let levels = ["INFO", "INFO", "INFO", "WARN", "DEBUG", "ERROR"];
    while written < bytes {
        let level = levels[(n % 6) as usize];
        let (sec, ms) = ((n / 1000) % 60, n % 1000);
        let line = match format {
            LineFormat::Json => format!(
                "{{\"@timestamp\":\"2026-06-08T03:00:{sec:02}.{ms:03}Z\",\"level\":\"{level}\",\"service\":\"orders\",\"order_id\":\"O-{n}\",\"sku\":\"A-{}\",\"http\":{{\"status\":{},\"took_ms\":{}}},\"message\":\"order {n} state change paid->shipped\"}}\n",
                n % 97,
                200 + n % 5,
                n % 250
            ),
            _ => format!(
                "2026-06-08 03:00:{sec:02}.{ms:03} {level} [orders] order_id=O-{n} sku=A-{} state change paid->shipped took={}ms\n",
                n % 97,
                n % 250
            ),
        };
        out.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        n += 1;
    }
    out.flush().unwrap();
}

/// Tails `path` from its start until every byte is checkpointed, matching each event
/// against the query when `rule`; returns the events seen (0 with the prefilter).
fn tail_through(
    rt: &tokio::runtime::Runtime,
    path: &Path,
    format: LineFormat,
    filter: Arc<dyn LineFilter>,
    rule: bool,
) -> u64 {
    let len = std::fs::metadata(path).unwrap().len();
    let mut cfg = FileSourceConfig::new(vec![path.to_string_lossy().into_owned()]);
    cfg.poll_interval = HumanDuration(Duration::from_millis(5));
    cfg.format = format;
    if format == LineFormat::Json {
        cfg.time_field = Some("@timestamp".into());
    } else {
        cfg.time_format = Some("%Y-%m-%d %H:%M:%S%.f".parse().unwrap());
    }
    let query = klaxon::query::parse(QUERY, &QueryOptions::default()).unwrap();
    rt.block_on(async move {
        let source = build_with_filter(
            "bench",
            &SourceConfig::File(cfg),
            vec![],
            Arc::new(SystemClock),
            filter,
        )
        .unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(source.run(tx, shutdown_rx));
        let (mut events, mut matched) = (0u64, 0u64);
        while let Some(batch) = rx.recv().await {
            if rule {
                for event in &batch.events {
                    matched += u64::from(query.matches(event, chrono::Utc::now()));
                }
            }
            events += batch.events.len() as u64;
            if batch.checkpoints.iter().any(|c| c.offset == len) {
                break;
            }
        }
        assert_eq!(matched, 0, "the rule never matches");
        shutdown.send(true).unwrap();
        drop(rx);
        task.await.unwrap().unwrap();
        events
    })
}

/// Reads `path` once so every case reads from the page cache.
fn warm(path: &Path) {
    std::io::copy(&mut File::open(path).unwrap(), &mut std::io::sink()).unwrap();
}

fn tail(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let bytes = file_bytes();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for (name, format) in [("json", LineFormat::Json), ("plain", LineFormat::Plain)] {
        let path = dir.path().join(format!("{name}.log"));
        generate(&path, format, bytes);
        let len = std::fs::metadata(&path).unwrap().len();
        // Warm the page cache so every contender reads from memory.
        warm(&path);
        let mut group = c.benchmark_group(format!("tail-{name}"));
        group.throughput(Throughput::Bytes(len));
        group.sample_size(10);
        // One run of a 1 GiB file takes seconds: ten equal samples, not a ramp.
        group.sampling_mode(SamplingMode::Flat);
        group.warm_up_time(Duration::from_millis(1));
        group.measurement_time(Duration::from_secs(1));
        group.bench_function(BenchmarkId::new("klaxon", "decode-all"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    assert!(tail_through(&rt, &path, format, Arc::new(AcceptAll), true) > 0);
                }
                start.elapsed()
            })
        });
        group.bench_function(BenchmarkId::new("klaxon", "decode-only"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    assert!(tail_through(&rt, &path, format, Arc::new(AcceptAll), false) > 0);
                }
                start.elapsed()
            })
        });
        group.bench_function(BenchmarkId::new("klaxon", "prefilter"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let query = klaxon::query::parse(QUERY, &QueryOptions::default()).unwrap();
                    let filter = klaxon::query::Prefilter::new(&[&query]);
                    assert_eq!(tail_through(&rt, &path, format, Arc::new(filter), true), 0);
                }
                start.elapsed()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, tail);
criterion_main!(benches);
