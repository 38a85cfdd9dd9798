//! `--once` (stop_at_end): what a run leaves for the next; field selection under a filter swap.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::*;
use crate::clock::SystemClock;
use crate::decode::{FieldSelection, LineFormat};
use crate::filter::{AcceptAll, LineFilter};
use crate::source::{Batch, Checkpoint, Source};

/// Runs the source until it stops by itself; returns every batch it sent.
async fn run_once(source: FileSource) -> Vec<Batch> {
    let (tx, mut rx) = mpsc::channel(1024);
    let (_stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(Box::new(source).run(tx, shutdown));
    let mut out = Vec::new();
    while let Some(b) = rx.recv().await {
        out.push(b);
    }
    task.await.unwrap().unwrap();
    out
}

fn raws(batches: &[Batch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| b.events.iter().map(|e| e.raw.clone()))
        .collect()
}

/// What a commit of these batches stores: the last checkpoint per file.
fn checkpoints(batches: &[Batch]) -> Vec<Checkpoint> {
    let mut out: Vec<Checkpoint> = Vec::new();
    for b in batches {
        for c in &b.checkpoints {
            match out.iter_mut().find(|k| k.fingerprint == c.fingerprint) {
                Some(k) => *k = c.clone(),
                None => out.push(c.clone()),
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn once_leaves_the_unterminated_last_line_for_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    std::fs::write(&path, b"first line\nsecond\npartial").unwrap();
    let cfg = FileSourceConfig::new(vec![path.to_string_lossy().into_owned()]);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let src = FileSource::new("s", &cfg, Vec::new(), clock.clone())
        .unwrap()
        .stop_at_end();
    let b1 = run_once(src).await;
    assert_eq!(raws(&b1), ["first line", "second"]);
    let cps = checkpoints(&b1);
    assert_eq!(cps.len(), 1);
    assert_eq!(cps[0].offset, 18);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"ly done\nthird\n").unwrap();
    let src = FileSource::new("s", &cfg, cps, clock)
        .unwrap()
        .stop_at_end();
    let b2 = run_once(src).await;
    assert_eq!(raws(&b2), ["partially done", "third"]);
}

/// `read_from: end` only skips what files held when Klaxon first started without a
/// checkpoint (docs/TAILING.md); with `--once`, each run is such a start if nothing was read.
#[tokio::test(flavor = "multi_thread")]
async fn once_with_read_from_end_reads_lines_appended_between_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    std::fs::write(&path, b"old line before klaxon\n").unwrap();
    let mut cfg = FileSourceConfig::new(vec![path.to_string_lossy().into_owned()]);
    cfg.read_from = ReadFrom::End;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // Run 1 (cron): nothing new yet.
    let src = FileSource::new("s", &cfg, Vec::new(), clock.clone())
        .unwrap()
        .stop_at_end();
    let b1 = run_once(src).await;
    assert!(raws(&b1).is_empty());
    let cps = checkpoints(&b1);
    // Between runs, the application logs an error.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"ERROR appended between runs\n").unwrap();
    // Run 2 resumes from what run 1 committed.
    let src = FileSource::new("s", &cfg, cps.clone(), clock)
        .unwrap()
        .stop_at_end();
    let b2 = run_once(src).await;
    assert_eq!(
        raws(&b2),
        ["ERROR appended between runs"],
        "checkpoints stored by run 1: {cps:?}"
    );
}

/// A filter standing for the `SwappableFilter` of a source whose rules are reloaded while
/// it reads a backlog: before the reload the rules read `level`; after it, a new rule also
/// reads `user` (its `group_by`).
struct ReloadedMidPoll {
    calls: AtomicUsize,
    before: Arc<FieldSelection>,
    after: Arc<FieldSelection>,
}

impl LineFilter for ReloadedMidPoll {
    fn for_each_candidate(&self, buf: &[u8], candidate: &mut dyn FnMut(usize, usize)) {
        // The reload lands after the first buffer of the backlog was filtered.
        self.calls.fetch_add(1, Ordering::SeqCst);
        AcceptAll.for_each_candidate(buf, candidate);
    }

    fn fields(&self) -> Option<Arc<FieldSelection>> {
        if self.calls.load(Ordering::SeqCst) == 0 {
            Some(self.before.clone())
        } else {
            Some(self.after.clone())
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_read_after_a_reload_are_decoded_for_the_new_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let mut content = String::new();
    // ~600 KB: several 128 KiB reads, fewer than BATCH_CAP events per read.
    while content.len() < 600_000 {
        content.push_str(&format!(
            "{{\"level\":\"error\",\"user\":\"bob\",\"pad\":\"{}\"}}\n",
            "x".repeat(1000)
        ));
    }
    std::fs::write(&path, content).unwrap();
    let mut cfg = FileSourceConfig::new(vec![path.to_string_lossy().into_owned()]);
    cfg.format = LineFormat::Json;
    let filter = Arc::new(ReloadedMidPoll {
        calls: AtomicUsize::new(0),
        before: Arc::new(FieldSelection::of(["level"])),
        after: Arc::new(FieldSelection::of(["level", "user"])),
    });
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let src = FileSource::new("s", &cfg, Vec::new(), clock)
        .unwrap()
        .with_filter(filter.clone())
        .stop_at_end();
    let batches = run_once(src).await;
    let events: Vec<&crate::event::Event> = batches.iter().flat_map(|b| &b.events).collect();
    assert!(filter.calls.load(Ordering::SeqCst) > 1);
    // Lines filtered after the reload (every call but the first) must carry `user`.
    let missing = events.iter().filter(|e| e.value("user").is_none()).count();
    let first_buffer = events
        .iter()
        .take_while(|e| e.origin.offset <= 128 * 1024)
        .count();
    assert!(
        missing <= first_buffer,
        "{missing} of {} events lack `user` (only the {first_buffer} of the first buffer may)",
        events.len()
    );
}

/// A multiline record is complete once no line continued it for `timeout` ("the last record
/// of a file that stopped growing"). `--once` must not leave it pending forever: here the
/// file never grows again, and two `--once` runs, 1.5 s apart, never emit the stack trace.
#[tokio::test(flavor = "multi_thread")]
async fn once_emits_the_last_multiline_record_of_a_file_that_stopped_growing() {
    use crate::source::multiline::{MultilineConfig, MultilineMode};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    std::fs::write(
        &path,
        b"INFO ok\nERROR crash\n  at a.b(C.java:1)\n  at d.e(F.java:2)\n",
    )
    .unwrap();
    let mut cfg = FileSourceConfig::new(vec![path.to_string_lossy().into_owned()]);
    cfg.multiline = Some(MultilineConfig {
        start_pattern: "^(INFO|ERROR)".into(),
        mode: MultilineMode::HaltBefore,
        condition_pattern: None,
        timeout: crate::types::HumanDuration(std::time::Duration::from_secs(1)),
        max_lines: 100,
    });
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut all = Vec::new();
    let mut cps = Vec::new();
    for _ in 0..2 {
        let src = FileSource::new("s", &cfg, cps.clone(), clock.clone())
            .unwrap()
            .stop_at_end();
        let b = run_once(src).await;
        all.extend(raws(&b));
        let mut merged = cps.clone();
        for c in checkpoints(&b) {
            match merged
                .iter_mut()
                .find(|k: &&mut Checkpoint| k.fingerprint == c.fingerprint)
            {
                Some(k) => *k = c,
                None => merged.push(c),
            }
        }
        cps = merged;
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    }
    assert!(
        all.iter().any(|r| r.starts_with("ERROR crash")),
        "events over two runs: {all:?}; checkpoints {cps:?}"
    );
}
