//! `klaxon demo`: a consignment-order service that misbehaves on schedule, watched by the
//! real pipeline with the rules shipped in `rules/`. Nothing to set up; ends by itself.

mod loggen;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;

use crate::clock::SystemClock;
use crate::store::{SqliteStore, StateStore};

pub use loggen::{Anomaly, LogGen, Rng, SCRIPT};

/// The shipped rules, embedded so the demo runs from any directory.
pub const RULES: &[(&str, &str)] = &[
    (
        "order-errors.yaml",
        include_str!("../../rules/order-errors.yaml"),
    ),
    (
        "ghost-order-payment-callback.yaml",
        include_str!("../../rules/ghost-order-payment-callback.yaml"),
    ),
    (
        "ghost-order-unsynced-inventory.yaml",
        include_str!("../../rules/ghost-order-unsynced-inventory.yaml"),
    ),
    (
        "inventory-rollback.yaml",
        include_str!("../../rules/inventory-rollback.yaml"),
    ),
    (
        "split-brain-order-state.yaml",
        include_str!("../../rules/split-brain-order-state.yaml"),
    ),
    (
        "zombie-orders.yaml",
        include_str!("../../rules/zombie-orders.yaml"),
    ),
    (
        "error-burst.yaml",
        include_str!("../../rules/error-burst.yaml"),
    ),
];

/// The demo's klaxon.yaml: the shipped rules' channels all print to the console.
fn demo_config(log_dir: &Path, server: &str) -> String {
    format!(
        r#"# Written by `klaxon demo`.
sources:
  order-logs:
    type: file
    include: ["{logs}/*.log"]
    format: json
    time_field: "@timestamp"
channels:
  ops-chat:
    type: console
  oncall-email:
    type: console
    format: line
rules: rules
state_dir: state
# The shops this grew from are in China: times in Beijing time, with UTC beside them.
display_timezone: Asia/Shanghai
# The first alert of each rule at once; what follows it within 10 s as one digest (a
# short demo would end before the default minute).
grouping:
  group_interval: 10s
kibana:
  url: http://localhost:5601
  data_view: klaxon-demo
{server}
"#,
        logs = log_dir.display()
    )
}

/// The demo's console, when its port is free (another Klaxon may hold it): `server:`
/// for the config, and the address to print.
fn demo_server() -> (String, Option<String>) {
    let listen =
        std::env::var("KLAXON_LISTEN").unwrap_or_else(|_| crate::server::DEFAULT_LISTEN.into());
    let free = listen != "none" && std::net::TcpListener::bind(&listen).is_ok();
    if !free {
        return ("server: none".into(), None);
    }
    let url = format!("http://{listen}");
    (
        format!("server:\n  listen: {listen}\n  public_url: {url}"),
        Some(url),
    )
}

/// Event time runs this many times faster than the wall clock, so a short demo shows what
/// takes minutes on a real system: a 5-minute absence deadline passes in 5 seconds, and a
/// 10-minute realert hold in 10.
pub const SPEEDUP: i32 = 60;

/// Normal traffic: orders per second.
const ORDERS_PER_SEC: u64 = 10;

pub fn demo(duration: Duration) -> anyhow::Result<std::process::ExitCode> {
    let dir = tempfile::Builder::new().prefix("klaxon-demo-").tempdir()?;
    let log_dir = dir.path().join("logs");
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir_all(&log_dir)?;
    std::fs::create_dir_all(&rules_dir)?;
    for (name, text) in RULES {
        std::fs::write(rules_dir.join(name), text)?;
    }
    let config_path = dir.path().join("klaxon.yaml");
    let (server, console) = demo_server();
    std::fs::write(&config_path, demo_config(&log_dir, &server))?;
    let loaded = crate::config::load(&config_path).map_err(|d| anyhow::anyhow!("{d}"))?;
    let state_dir = loaded.global.state_dir.clone();
    let log_file = log_dir.join("order-service.log");

    println!(
        "Klaxon demo — a consignment-order service misbehaving for {}s \
         ({} minutes of its traffic: event time runs {SPEEDUP}x fast)",
        duration.as_secs(),
        duration.as_secs() * SPEEDUP as u64 / 60
    );
    println!("  logs:  {}", log_file.display());
    println!(
        "  rules: {} (shipped in rules/)",
        RULES
            .iter()
            .map(|(n, _)| n.trim_end_matches(".yaml"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(url) = &console {
        println!("  console: {url}/  (metrics: {url}/metrics)");
    }
    println!("  alerts print below as they fire (ops-chat in full, oncall-email as one line: both go to the console here)\n");

    let rt = crate::pipeline::runtime()?;
    let stats = rt.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let writer = tokio::spawn(async move {
            write_logs(&log_file, duration, SPEEDUP, None, 20_260_608).await
        });
        let pipeline = tokio::spawn(crate::pipeline::run(
            loaded,
            Arc::new(SystemClock),
            stop_rx,
            crate::source::Follow::Tail,
        ));
        let lines = writer.await.context("log writer")??;
        // Give the tail a moment to read the last lines before stopping.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let _ = stop_tx.send(true);
        let stats = pipeline.await.context("pipeline")??;
        anyhow::Ok((lines, stats))
    })?;
    summarize(&state_dir, stats.0, &stats.1)?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// `--logs-to` rotates the log past this size (to `order-service.log.1`, replacing the
/// previous one), as logrotate would: a generator left running does not fill the disk.
const LOGS_TO_ROTATE_AT: u64 = 64 * 1024 * 1024;
/// How often `--logs-to` tells the story of anomalies again.
const LOGS_TO_CYCLE: Duration = Duration::from_secs(600);

/// `klaxon demo --logs-to DIR`: the order service's logs only, for `duration`.
pub fn logs_only(dir: &Path, duration: Duration) -> anyhow::Result<std::process::ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    let path = dir.join("order-service.log");
    println!(
        "writing the demo order service's logs to {}",
        path.display()
    );
    let rt = crate::pipeline::runtime()?;
    // Real time, not the demo's fast clock: this runs for days beside Kibana and Klaxon,
    // telling the scripted story again every `LOGS_TO_CYCLE` (new orders each time).
    let lines = rt.block_on(async {
        let start = std::time::Instant::now();
        let mut lines = 0;
        let mut cycle = 0;
        while let Some(left) = duration
            .checked_sub(start.elapsed())
            .filter(|d| !d.is_zero())
        {
            let seed = 20_260_608 + cycle;
            lines += write_logs(
                &path,
                left.min(LOGS_TO_CYCLE),
                1,
                Some(LOGS_TO_ROTATE_AT),
                seed,
            )
            .await?;
            cycle += 1;
        }
        anyhow::Ok(lines)
    })?;
    println!("{lines} lines written");
    Ok(std::process::ExitCode::SUCCESS)
}

/// Writes the log for `duration`, injecting the scripted anomalies; returns lines written.
async fn write_logs(
    path: &Path,
    duration: Duration,
    speedup: i32,
    rotate_at: Option<u64>,
    seed: u64,
) -> anyhow::Result<u64> {
    let open = |path: &Path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    };
    let mut file = open(path)?;
    // Each seed (each retelling) gets its own range of order numbers.
    let mut gen =
        LogGen::new(seed).orders_after(202_611_240_001 + (seed - 20_260_608) * 100_000_000);
    let start = tokio::time::Instant::now();
    let sim_start = Utc::now();
    let tick = Duration::from_millis(1000 / ORDERS_PER_SEC);
    let mut script = SCRIPT.iter().peekable();
    let mut written = 0u64;
    while start.elapsed() < duration {
        let now = sim_start + chrono::Duration::from_std(start.elapsed() * speedup as u32)?;
        let progress = start.elapsed().as_secs_f64() / duration.as_secs_f64();
        let mut lines = gen.normal(now);
        while let Some((_, anomaly)) = script.next_if(|(at, _)| *at <= progress) {
            lines.extend(gen.anomaly(now, *anomaly));
        }
        let mut buf = lines.join("\n");
        buf.push('\n');
        file.write_all(buf.as_bytes())?;
        written += lines.len() as u64;
        if rotate_at.is_some_and(|max| file.metadata().is_ok_and(|m| m.len() >= max)) {
            std::fs::rename(path, path.with_extension("log.1"))?;
            file = open(path)?;
        }
        tokio::time::sleep(tick).await;
    }
    // Anomalies scheduled after the last tick still happen, so every run tells the whole story.
    for (_, anomaly) in script {
        let at = sim_start + chrono::Duration::from_std(start.elapsed() * speedup as u32)?;
        let lines = gen.anomaly(at, *anomaly);
        written += lines.len() as u64;
        file.write_all(format!("{}\n", lines.join("\n")).as_bytes())?;
    }
    file.flush()?;
    Ok(written)
}

fn summarize(
    state_dir: &Path,
    lines: u64,
    stats: &crate::pipeline::RunStats,
) -> anyhow::Result<()> {
    let store = SqliteStore::open(state_dir)?;
    // Held back = those reported by the alerts sent since, plus those still waiting.
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    let mut held: BTreeMap<String, u64> = BTreeMap::new();
    for alert in store.alerts()? {
        *held.entry(alert.rule.clone()).or_default() += alert.held_back;
        *sent.entry(alert.rule).or_default() += 1;
    }
    for state in store.realert_states()? {
        *held.entry(state.rule).or_default() += state.held_back;
    }
    let (pending, delivered, dead) = store.outbox_counts()?;
    println!("\n── Summary ─────────────────────────────────────────────");
    println!(
        "{lines} log lines written; {} could match a rule and were decoded, the prefilter \
         skipped the rest unread",
        stats.events
    );
    println!("{:<30} {:>6} {:>12}", "rule", "alerts", "held back");
    for (name, _) in RULES {
        let rule = name.trim_end_matches(".yaml");
        println!(
            "{:<30} {:>6} {:>12}",
            rule,
            sent.get(rule).copied().unwrap_or(0),
            held.get(rule).copied().unwrap_or(0)
        );
    }
    println!("deliveries: {delivered} sent, {pending} pending, {dead} failed");
    println!("Held-back alerts are the floods realert spared the on-call: they are counted, and the next alert for the same key reports them.");
    Ok(())
}
