//! Matching throughput of 100 rules over a generated log corpus, the way a source runs it:
//! the prefilter scans the whole buffer for candidate lines, then each candidate is decoded
//! and only the rules whose literals it holds are evaluated.
//!
//! `cargo bench --bench query_throughput` uses 64 MiB corpora (plain and JSON lines) and writes
//! them, with the rules' literals, under `target/bench-query/`. These are in-process figures:
//! whole-process comparisons with `rg` and `grep` are `scripts/bench`'s. Under `cargo test`
//! the corpora are tiny.

use std::hint::black_box;
use std::sync::Arc;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use klaxon::event::{Event, Origin};
use klaxon::filter::LineFilter;
use klaxon::query::{parse, Prefilter, Query, QueryOptions, RuleSet};
use serde_json::{Map, Value};

#[path = "support/logs.rs"]
mod logs;

/// One error line in this many: a busy service's ratio of interesting lines.
const ERROR_EVERY: usize = 200;

/// Whether this is a real benchmark run (`cargo bench`), not `cargo test`'s single pass.
fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn corpus_bytes() -> usize {
    if benchmarking() {
        64 << 20
    } else {
        64 << 10
    }
}

fn origin() -> Origin {
    Origin {
        source: Arc::from("bench"),
        path: Arc::from("bench.log"),
        fingerprint: Arc::from("fp"),
        offset: 0,
    }
}

/// Matches every rule against every line of `buf`; returns the number of (line, rule) matches.
fn run(buf: &[u8], prefilter: &Prefilter, queries: &[Query], json: bool) -> usize {
    let origin = origin();
    let now = Utc::now();
    let mut rules = RuleSet::with_capacity(queries.len());
    let mut matched = 0;
    prefilter.for_each_candidate(buf, &mut |start, end| {
        let line = &buf[start..end];
        prefilter.candidate_rules_into(line, &mut rules);
        let Ok(text) = std::str::from_utf8(line) else {
            return;
        };
        let fields = if json {
            serde_json::from_str::<Map<String, Value>>(text).ok()
        } else {
            None
        };
        let event = Event {
            time: now,
            raw: text.to_string(),
            fields,
            origin: origin.clone(),
            time_guessed: false,
            fields_for: None,
        };
        matched += rules
            .iter()
            .filter(|&r| queries[r].matches(&event, event.time))
            .count();
    });
    matched
}

fn bench(c: &mut Criterion) {
    let out_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-query");
    let mut group = c.benchmark_group("query");
    group.sample_size(10);
    for json in [false, true] {
        let kind = if json { "json" } else { "plain" };
        let opts = QueryOptions::default();
        let queries: Vec<Query> = logs::rules(json)
            .iter()
            .map(|q| parse(q, &opts).unwrap_or_else(|e| panic!("{q}: {e}")))
            .collect();
        let prefilter = Prefilter::new(&queries.iter().collect::<Vec<_>>());
        assert!(
            !prefilter.accepts_all(),
            "every benchmark rule has a literal"
        );
        let corpus = logs::corpus(corpus_bytes(), json, ERROR_EVERY);
        // Only a real run leaves files for the script, so `cargo test` never overwrites them.
        if benchmarking() {
            std::fs::create_dir_all(&out_dir).expect("bench output dir");
            std::fs::write(out_dir.join(format!("{kind}.log")), &corpus).expect("write corpus");
            std::fs::write(
                out_dir.join(format!("{kind}.literals")),
                prefilter.literals().join("\n") + "\n",
            )
            .expect("write literals");
        }
        // The result is checked against evaluating every rule on every line, so the speed
        // never comes from skipping a match.
        let expected = naive(corpus.as_bytes(), &queries, json);
        assert_eq!(run(corpus.as_bytes(), &prefilter, &queries, json), expected);
        assert!(expected > 0, "the corpus holds matching lines");
        group.throughput(Throughput::Bytes(corpus.len() as u64));
        group.bench_function(kind, |b| {
            b.iter(|| run(black_box(corpus.as_bytes()), &prefilter, &queries, json))
        });
        // The scan alone, to show what the matching of candidates costs on top.
        group.bench_function(format!("{kind}_scan_only"), |b| {
            b.iter(|| {
                let mut n = 0usize;
                prefilter.for_each_candidate(black_box(corpus.as_bytes()), &mut |_, _| n += 1);
                n
            })
        });
    }
    group.finish();
}

/// Every rule on every line, no prefilter.
fn naive(buf: &[u8], queries: &[Query], json: bool) -> usize {
    let all = Prefilter::new(&[]);
    let everything: Vec<usize> = (0..queries.len()).collect();
    let mut matched = 0;
    all.for_each_candidate(buf, &mut |start, end| {
        let text = std::str::from_utf8(&buf[start..end]).expect("utf-8 corpus");
        let fields = json.then(|| serde_json::from_str(text).expect("json corpus"));
        let event = Event {
            time: Utc::now(),
            raw: text.to_string(),
            fields,
            origin: origin(),
            time_guessed: false,
            fields_for: None,
        };
        matched += everything
            .iter()
            .filter(|&&r| queries[r].matches(&event, event.time))
            .count();
    });
    matched
}

criterion_group!(benches, bench);
criterion_main!(benches);
