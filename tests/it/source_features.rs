//! The file and stdin sources' newer features against real files and real processes:
//! the prefilter, multiline records, copytruncate with the copy in the glob, device+inode
//! identity, resuming inside a multiline record, and a real pipe into the stdin source.

use std::fs::OpenOptions;
use std::sync::Arc;
use std::time::Duration;

use klaxon::clock::SystemClock;
use klaxon::config::HumanDuration;
use klaxon::event::Event;
use klaxon::filter::LineFilter;
use klaxon::source::Checkpoint;
use klaxon::source::{
    build_with_filter, FileSourceConfig, FingerprintStrategy, MultilineConfig, Source,
    SourceConfig, StdinSource, StdinSourceConfig,
};
use tokio::sync::{mpsc, watch};

use crate::support::files::append;
use crate::support::source::{file_config, SourceRun, NAME, WAIT};

/// Lines containing one literal: the simplest real prefilter.
struct Literal(&'static str);

impl LineFilter for Literal {
    fn for_each_candidate(&self, buf: &[u8], candidate: &mut dyn FnMut(usize, usize)) {
        let finder = memchr::memmem::Finder::new(self.0.as_bytes());
        let mut from = 0;
        while let Some(at) = finder.find(&buf[from..]) {
            let at = from + at;
            let start = memchr::memrchr(b'\n', &buf[..at]).map_or(0, |i| i + 1);
            let end = at + memchr::memchr(b'\n', &buf[at..]).expect("complete lines");
            candidate(start, end);
            from = end + 1;
        }
    }
}

/// The file source `cfg` with the prefilter `filter`, resuming at `checkpoints`.
fn filtered(
    cfg: FileSourceConfig,
    checkpoints: Vec<Checkpoint>,
    filter: Arc<dyn LineFilter>,
) -> SourceRun {
    let source = build_with_filter(
        NAME,
        &SourceConfig::File(cfg),
        checkpoints,
        Arc::new(SystemClock),
        filter,
    )
    .expect("valid source");
    SourceRun::start(source, 16)
}

/// Reading without the per-batch checks: filtered lines move checkpoints without events.
trait Unchecked {
    /// Batches until `n` events arrived; also returns their checkpoints.
    async fn events(&mut self, n: usize) -> (Vec<Event>, Vec<Checkpoint>);
    /// No events within a few polls (a batch of checkpoints alone may come).
    async fn assert_quiet(&mut self);
}

impl Unchecked for SourceRun {
    async fn events(&mut self, n: usize) -> (Vec<Event>, Vec<Checkpoint>) {
        let (mut events, mut checkpoints) = (Vec::new(), Vec::new());
        for batch in self.batches(n).await {
            events.extend(batch.events);
            checkpoints.extend(batch.checkpoints);
        }
        (events, checkpoints)
    }

    async fn assert_quiet(&mut self) {
        if let Some(b) = self.next_quickly().await {
            assert!(b.events.is_empty(), "unexpected events: {:?}", b.events);
        }
    }
}

fn raws(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.raw.as_str()).collect()
}

#[tokio::test]
async fn filtered_lines_are_skipped_but_still_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "INFO a\nERROR b\nINFO c\n");
    let mut src = filtered(
        file_config(dir.path(), "app.log"),
        vec![],
        Arc::new(Literal("ERROR")),
    );
    let (events, checkpoints) = src.events(1).await;
    assert_eq!(raws(&events), ["ERROR b"]);
    assert_eq!(events[0].origin.offset, 15);
    assert_eq!(
        checkpoints.last().unwrap().offset,
        22,
        "past the filtered INFO c"
    );
    // Only non-candidates: no event, but the checkpoint still moves.
    append(&log, "INFO d\n");
    let batch = src.batch().await;
    assert!(batch.events.is_empty());
    assert_eq!(batch.checkpoints[0].offset, 29);
    src.assert_quiet().await;
    src.stop().await;
}

#[tokio::test]
async fn a_restart_resumes_after_filtered_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "ERROR 1\nINFO 2\nINFO 3\n");
    let mut src = filtered(
        file_config(dir.path(), "app.log"),
        vec![],
        Arc::new(Literal("ERROR")),
    );
    let (_, checkpoints) = src.events(1).await;
    src.stop().await;
    append(&log, "ERROR 4\n");
    let mut again = filtered(
        file_config(dir.path(), "app.log"),
        checkpoints,
        Arc::new(Literal("ERROR")),
    );
    let (events, _) = again.events(1).await;
    assert_eq!(raws(&events), ["ERROR 4"]);
    again.stop().await;
}

fn java_multiline() -> MultilineConfig {
    serde_saphyr::from_str(
        "start_pattern: '^\\d{4}-\\d{2}-\\d{2} '\nmode: halt_before\ntimeout: 200ms\n",
    )
    .unwrap()
}

#[tokio::test]
async fn multiline_records_checkpoint_before_the_unfinished_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let first =
        "2026-06-08 11:00:00 ERROR boom\njava.lang.IllegalStateException: x\n\tat A.b(A.java:1)\n";
    append(&log, first);
    append(&log, "2026-06-08 11:00:01 INFO next\n");
    let mut cfg = file_config(dir.path(), "app.log");
    cfg.multiline = Some(java_multiline());
    let mut src = filtered(cfg.clone(), vec![], Arc::new(Literal("never")));
    // The first record is complete once the next starts; the filter is bypassed.
    let batch = src.batch().await;
    assert_eq!(raws(&batch.events), [first.trim_end()]);
    assert_eq!(batch.events[0].origin.offset, first.len() as u64);
    assert_eq!(batch.checkpoints[0].offset, first.len() as u64);
    // Killed now, a restart resumes at the unfinished record's first line.
    let resume = batch.checkpoints.clone();
    // The last record is flushed by the timeout, and the checkpoint follows it.
    let (events, checkpoints) = src.events(1).await;
    assert_eq!(raws(&events), ["2026-06-08 11:00:01 INFO next"]);
    let end = std::fs::metadata(&log).unwrap().len();
    assert_eq!(checkpoints.last().unwrap().offset, end);
    src.stop().await;
    let mut again = filtered(cfg, resume, Arc::new(Literal("never")));
    let (events, _) = again.events(1).await;
    assert_eq!(raws(&events), ["2026-06-08 11:00:01 INFO next"]);
    again.stop().await;
}

/// logrotate's copytruncate with the copy inside the glob: the lines written before the
/// copy but not read yet are read from the copy, at the offsets they had.
#[tokio::test]
async fn copytruncate_finishes_unread_lines_from_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "line 1\nline 2\n");
    let mut cfg = file_config(dir.path(), "app.log*");
    // Long enough that what follows lands between two polls even on a loaded machine.
    cfg.poll_interval = HumanDuration(Duration::from_millis(2_000));
    let mut src = filtered(cfg, vec![], Arc::new(klaxon::filter::AcceptAll));
    assert_eq!(raws(&src.events(2).await.0), ["line 1", "line 2"]);
    // Between two polls: more lines, the copy, the truncation, new lines.
    append(&log, "line 3\nline 4\n");
    std::fs::copy(&log, dir.path().join("app.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, "line 5\n");
    let (events, _) = src.events(3).await;
    assert_eq!(raws(&events), ["line 3", "line 4", "line 5"]);
    // From the copy — or, when the change watcher woke the source between the write and
    // the copy, from the original before it was truncated: either way once, at its offset.
    let path = &events[0].origin.path;
    assert!(
        path.ends_with("app.log.1") || path.ends_with("app.log"),
        "{path:?}"
    );
    assert_eq!(events[0].origin.offset, 21);
    // Nothing read twice at the next poll either.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    src.assert_quiet().await;
    src.stop().await;
}

#[tokio::test]
async fn device_inode_identity_tells_identical_files_apart() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "# header\nold\n");
    let mut cfg = file_config(dir.path(), "app.log*");
    cfg.fingerprint = FingerprintStrategy::DeviceInode;
    let mut src = filtered(cfg, vec![], Arc::new(klaxon::filter::AcceptAll));
    assert_eq!(raws(&src.events(2).await.0), ["# header", "old"]);
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, "# header\n");
    append(&dir.path().join("app.log.1"), "late\n");
    let (events, _) = src.events(2).await;
    let mut got = raws(&events);
    got.sort();
    assert_eq!(got, ["# header", "late"]);
    assert!(events
        .iter()
        .all(|e| e.origin.fingerprint.starts_with("dev-ino:")));
    src.assert_quiet().await;
    src.stop().await;
}

#[tokio::test]
async fn stdin_source_reads_a_real_pipe_to_its_end() {
    // A real process writing in bursts, like `tail -F app.log | klaxon run`.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("printf 'level=info msg=up\\n'; sleep 0.2; printf 'level=error msg=\"db down\" code=503\\nno pairs here\\npartial'")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::os::fd::OwnedFd::from(child.stdout.take().unwrap());
    let stdout = tokio::fs::File::from_std(std::fs::File::from(stdout));
    let cfg: StdinSourceConfig = serde_saphyr::from_str("format: logfmt\n").unwrap();
    let source = StdinSource::from_reader(NAME, &cfg, Arc::new(SystemClock), stdout).unwrap();
    let (tx, mut rx) = mpsc::channel(4);
    let (_shutdown, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(Box::new(source).run(tx, shutdown_rx));
    let mut events = Vec::new();
    while let Some(batch) = tokio::time::timeout(WAIT, rx.recv()).await.unwrap() {
        assert!(batch.checkpoints.is_empty(), "a pipe has no checkpoints");
        events.extend(batch.events);
    }
    task.await.unwrap().unwrap();
    child.wait().unwrap();
    assert_eq!(
        raws(&events),
        [
            "level=info msg=up",
            "level=error msg=\"db down\" code=503",
            "no pairs here",
            "partial"
        ]
    );
    assert_eq!(events[1].text("msg").as_deref(), Some("db down"));
    assert_eq!(events[1].text("code").as_deref(), Some("503"));
    assert!(events[2].fields.is_none(), "not logfmt: kept as plain");
    assert!(events
        .windows(2)
        .all(|w| w[0].origin.offset < w[1].origin.offset));
}

#[tokio::test]
async fn stdin_source_joins_multiline_and_cuts_endless_lines() {
    let mut cfg = StdinSourceConfig {
        max_line_bytes: 100,
        ..StdinSourceConfig::default()
    };
    cfg.multiline = Some(
        serde_saphyr::from_str(
            "start_pattern: '^\\S'\nmode: continue_through\ncondition_pattern: '^\\s'\n",
        )
        .unwrap(),
    );
    let long = "x".repeat(200_000);
    let input = format!("Traceback\n  File a\n  File b\n{long}\nend\n");
    let source = StdinSource::from_reader(
        NAME,
        &cfg,
        Arc::new(SystemClock),
        std::io::Cursor::new(input.into_bytes()),
    )
    .unwrap();
    let (tx, mut rx) = mpsc::channel(4);
    let (_shutdown, shutdown_rx) = watch::channel(false);
    tokio::spawn(Box::new(source).run(tx, shutdown_rx));
    let mut events = Vec::new();
    while let Some(batch) = rx.recv().await {
        events.extend(batch.events);
    }
    assert_eq!(
        raws(&events),
        ["Traceback\n  File a\n  File b", &long[..100], "end"]
    );
}
