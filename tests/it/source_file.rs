//! The file source against real files in a tempdir: appends, partial lines, resume,
//! rotation by rename, copytruncate, deletion, discovery, decoding, backpressure.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use klaxon::clock::SystemClock;
use klaxon::decode::{LineFormat, TimeFormat, TimeZone};
use klaxon::event::Event;
use klaxon::source::{
    build, Batch, Checkpoint, FileSource, FileSourceConfig, ReadFrom, SourceConfig,
};

use crate::support::files::append;
use crate::support::source::{file_config, SourceRun, NAME, WAIT};

/// Reading with this module's checks.
trait Checked {
    /// The next `n` events, checking each batch's checkpoints match its last lines.
    async fn events(&mut self, n: usize) -> Vec<Event>;
    async fn lines(&mut self, n: usize) -> Vec<String>;
    /// Nothing more arrives within a few polls, not even an empty batch.
    async fn assert_quiet(&mut self);
}

impl Checked for SourceRun {
    async fn events(&mut self, n: usize) -> Vec<Event> {
        let batches = self.batches(n).await;
        batches.iter().for_each(check_checkpoints);
        batches.into_iter().flat_map(|b| b.events).collect()
    }

    async fn lines(&mut self, n: usize) -> Vec<String> {
        self.events(n).await.into_iter().map(|e| e.raw).collect()
    }

    async fn assert_quiet(&mut self) {
        if let Some(batch) = self.next_quickly().await {
            panic!("unexpected events: {:?}", batch.events);
        }
    }
}

/// Every file in a batch has a checkpoint at the offset past its last line there.
fn check_checkpoints(batch: &Batch) {
    for c in &batch.checkpoints {
        let last = batch
            .events
            .iter()
            .rfind(|e| *e.origin.fingerprint == c.fingerprint)
            .expect("checkpoint for a file in the batch");
        assert_eq!(c.offset, last.origin.offset);
        assert_eq!(c.source, NAME);
    }
    let mut files: Vec<&str> = batch
        .events
        .iter()
        .map(|e| &*e.origin.fingerprint)
        .collect();
    files.sort();
    files.dedup();
    assert_eq!(files.len(), batch.checkpoints.len());
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> (String, Vec<String>) {
    let lines: Vec<String> = range.map(|i| format!("{prefix} line {i}")).collect();
    let text = lines.iter().map(|l| format!("{l}\n")).collect();
    (text, lines)
}

fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

#[tokio::test]
async fn appended_lines_are_picked_up_with_offsets() {
    let (_guard, dir) = tempdir();
    let log = dir.join("app.log");
    append(&log, "first\nsecond\n");
    let mut src = SourceRun::file(file_config(&dir, "*.log"), vec![]);
    let events = src.events(2).await;
    assert_eq!(events[0].raw, "first");
    assert_eq!(events[1].origin.offset, 13);
    assert_eq!(&*events[1].origin.path, log.to_string_lossy());
    assert_eq!(&*events[1].origin.source, NAME);
    append(&log, "third\n");
    let third = src.events(1).await;
    assert_eq!(
        (third[0].raw.as_str(), third[0].origin.offset),
        ("third", 19)
    );
    src.assert_quiet().await;
    src.stop().await;
}

#[tokio::test]
async fn a_partial_line_is_held_until_completed() {
    let (_guard, dir) = tempdir();
    let log = dir.join("app.log");
    append(&log, "whole\nhal");
    let mut src = SourceRun::file(file_config(&dir, "app.log"), vec![]);
    assert_eq!(src.lines(1).await, ["whole"]);
    src.assert_quiet().await;
    append(&log, "f done\n");
    assert_eq!(src.lines(1).await, ["half done"]);
    src.stop().await;
}

#[tokio::test]
async fn resuming_from_a_checkpoint_emits_exactly_the_following_lines() {
    let (_guard, dir) = tempdir();
    let log = dir.join("app.log");
    let (text, lines) = numbered("a", 0..5);
    append(&log, text);
    let mut src = SourceRun::file(file_config(&dir, "app.log"), vec![]);
    let events = src.events(5).await;
    src.stop().await;
    // The pipeline handled up to line 1 when the process died.
    let checkpoint = Checkpoint {
        source: NAME.into(),
        fingerprint: events[1].origin.fingerprint.to_string(),
        path: log.to_string_lossy().into_owned(),
        offset: events[1].origin.offset,
    };
    let other_source = Checkpoint {
        source: "other".into(),
        offset: 0,
        ..checkpoint.clone()
    };
    let (more, more_lines) = numbered("a", 5..7);
    append(&log, more);
    let mut src = SourceRun::file(file_config(&dir, "app.log"), vec![other_source, checkpoint]);
    let expected: Vec<String> = lines[2..].iter().chain(&more_lines).cloned().collect();
    assert_eq!(src.lines(5).await, expected);
    src.assert_quiet().await;
    src.stop().await;
}

#[tokio::test]
async fn a_checkpoint_takes_precedence_over_read_from_end() {
    let (_guard, dir) = tempdir();
    let log = dir.join("app.log");
    append(&log, "header\nold 1\nold 2\n");
    let mut cfg = file_config(&dir, "app.log");
    cfg.read_from = ReadFrom::End;
    let mut src = SourceRun::file(cfg.clone(), vec![]);
    // The end it starts at is remembered at once, with no events (a `--once` run that reads
    // nothing must still leave the next run a place to resume).
    let first = src
        .next_quickly()
        .await
        .expect("a checkpoint for the starting end");
    assert!(first.events.is_empty());
    let offsets: Vec<u64> = first.checkpoints.iter().map(|c| c.offset).collect();
    assert_eq!(offsets, [19]);
    src.assert_quiet().await;
    append(&log, "new 1\n");
    let ev = src.events(1).await;
    assert_eq!(ev[0].raw, "new 1");
    src.stop().await;
    let checkpoint = Checkpoint {
        source: NAME.into(),
        fingerprint: ev[0].origin.fingerprint.to_string(),
        path: String::new(),
        offset: 7,
    };
    let mut src = SourceRun::file(cfg, vec![checkpoint]);
    assert_eq!(src.lines(3).await, ["old 1", "old 2", "new 1"]);
    src.stop().await;
}

/// app.log is renamed to app.log.1 (the writer still appends to it briefly) and a new
/// app.log is created: each line arrives exactly once, in order per file.
async fn rename_rotation(pattern: &str) {
    let (_guard, dir) = tempdir();
    let log = dir.join("app.log");
    let (text, mut old_lines) = numbered("old", 0..3);
    append(&log, text);
    let mut src = SourceRun::file(file_config(&dir, pattern), vec![]);
    assert_eq!(src.lines(3).await, old_lines);

    let mut writer = OpenOptions::new().append(true).open(&log).unwrap();
    writer.write_all(b"old line 3\n").unwrap();
    fs::rename(&log, dir.join("app.log.1")).unwrap();
    writer.write_all(b"old line 4\n").unwrap();
    let (text, new_lines) = numbered("new", 0..3);
    append(&log, text);
    old_lines = vec!["old line 3".into(), "old line 4".into()];

    let events = src.events(5).await;
    let old_fp = &events
        .iter()
        .find(|e| e.raw.starts_with("old"))
        .unwrap()
        .origin
        .fingerprint;
    let (old, new): (Vec<_>, Vec<_>) = events.iter().partition(|e| e.origin.fingerprint == *old_fp);
    assert_eq!(
        old.iter().map(|e| &e.raw).collect::<Vec<_>>(),
        old_lines.iter().collect::<Vec<_>>()
    );
    assert_eq!(
        new.iter().map(|e| &e.raw).collect::<Vec<_>>(),
        new_lines.iter().collect::<Vec<_>>()
    );
    assert_eq!(new[0].origin.offset, "new line 0\n".len() as u64);
    src.assert_quiet().await;
    append(&log, "new line 3\n");
    assert_eq!(src.lines(1).await, ["new line 3"]);
    src.stop().await;
}

#[tokio::test]
async fn rename_rotation_out_of_the_glob() {
    rename_rotation("app.log").await;
}

#[tokio::test]
async fn rename_rotation_within_the_glob() {
    rename_rotation("app.log*").await;
}

#[tokio::test]
async fn copytruncate_with_a_new_first_line_reads_from_the_start() {
    let (_guard, dir) = tempdir();
    let log = dir.join("app.log");
    append(&log, "2026-06-08 before 1\n2026-06-08 before 2\n");
    let mut src = SourceRun::file(file_config(&dir, "app.log"), vec![]);
    assert_eq!(src.lines(2).await.len(), 2);
    // Rewritten in place, longer than before, with no poll in between.
    let mut f = OpenOptions::new().write(true).open(&log).unwrap();
    f.set_len(0).unwrap();
    f.write_all(b"2026-06-09 after 1\n2026-06-09 after 2\n2026-06-09 after 3\n")
        .unwrap();
    let events = src.events(3).await;
    let raws: Vec<_> = events.iter().map(|e| e.raw.as_str()).collect();
    assert_eq!(
        raws,
        [
            "2026-06-09 after 1",
            "2026-06-09 after 2",
            "2026-06-09 after 3"
        ]
    );
    assert_eq!(events[0].origin.offset, 19);
    src.assert_quiet().await;
    src.stop().await;
}

#[tokio::test]
async fn copytruncate_with_the_same_first_line_restarts_at_zero() {
    let (_guard, dir) = tempdir();
    let log = dir.join("app.log");
    append(&log, "# header\nbefore 1\nbefore 2\n");
    let mut src = SourceRun::file(file_config(&dir, "app.log"), vec![]);
    assert_eq!(src.lines(3).await.len(), 3);
    let f = OpenOptions::new().write(true).open(&log).unwrap();
    f.set_len(0).unwrap();
    append(&log, "# header\nafter\n");
    assert_eq!(src.lines(2).await, ["# header", "after"]);
    src.assert_quiet().await;
    src.stop().await;
}

#[tokio::test]
async fn a_deleted_file_is_read_to_its_end_then_dropped() {
    let (_guard, dir) = tempdir();
    let log = dir.join("app.log");
    append(&log, "one\n");
    let mut src = SourceRun::file(file_config(&dir, "app.log"), vec![]);
    assert_eq!(src.lines(1).await, ["one"]);
    let mut writer = OpenOptions::new().append(true).open(&log).unwrap();
    fs::remove_file(&log).unwrap();
    writer.write_all(b"two\n").unwrap();
    assert_eq!(src.lines(1).await, ["two"]);
    src.assert_quiet().await;
    src.stop().await;
}

#[tokio::test]
async fn new_matching_files_are_read_and_excluded_ones_are_not() {
    let (_guard, dir) = tempdir();
    let mut cfg = file_config(&dir, "*.log*");
    cfg.exclude = vec!["*.gz".into()];
    let mut src = SourceRun::file(cfg, vec![]);
    src.assert_quiet().await;
    append(&dir.join("old.log.gz"), "compressed\n");
    append(&dir.join("new.log"), "hello\n");
    append(&dir.join("other.txt"), "not matched\n");
    assert_eq!(src.lines(1).await, ["hello"]);
    src.assert_quiet().await;
    src.stop().await;
}

#[tokio::test]
async fn a_file_without_a_newline_waits_for_its_identity() {
    let (_guard, dir) = tempdir();
    let log = dir.join("app.log");
    append(&log, "short");
    let mut src = SourceRun::file(file_config(&dir, "app.log"), vec![]);
    src.assert_quiet().await;
    append(&log, " line\nnext\n");
    assert_eq!(src.lines(2).await, ["short line", "next"]);
    src.stop().await;
}

#[tokio::test]
async fn json_lines_decode_with_their_time_field() {
    let (_guard, dir) = tempdir();
    let log = dir.join("app.json");
    append(
        &log,
        "{\"ts\":\"2026-06-08T03:00:00.5Z\",\"level\":\"error\",\"http\":{\"status\":503}}\nnot json\n",
    );
    let mut cfg = file_config(&dir, "*.json");
    cfg.format = LineFormat::Json;
    cfg.time_field = Some("ts".into());
    cfg.time_format = Some(TimeFormat::Rfc3339);
    let before = Utc::now();
    let source = FileSource::new(NAME, &cfg, vec![], Arc::new(SystemClock)).unwrap();
    let decoder = source.decoder();
    let mut src = SourceRun::start(Box::new(source), 4);
    let events = src.events(2).await;
    let want: DateTime<Utc> = "2026-06-08T03:00:00.5Z".parse().unwrap();
    assert_eq!(events[0].time, want);
    assert_eq!(events[0].text("http.status").as_deref(), Some("503"));
    assert!(events[1].fields.is_none());
    assert_eq!(events[1].text("message").as_deref(), Some("not json"));
    assert!(events[1].time >= before, "invalid lines get arrival time");
    assert_eq!(decoder.invalid_lines(), 1);
    src.stop().await;
}

#[tokio::test]
async fn plain_lines_take_a_leading_timestamp() {
    let (_guard, dir) = tempdir();
    append(
        &dir.join("app.log"),
        "2026-06-08 03:00:00.123 ERROR order failed\n",
    );
    let mut cfg = file_config(&dir, "app.log");
    cfg.time_format = Some("%Y-%m-%d %H:%M:%S%.f".parse().unwrap());
    // China ops write local times; the zone says which instant they mean.
    cfg.timezone = "Asia/Shanghai".parse::<TimeZone>().unwrap();
    let mut src = SourceRun::file(cfg, vec![]);
    let ev = src.events(1).await;
    assert_eq!(
        ev[0].time,
        "2026-06-07T19:00:00.123Z".parse::<DateTime<Utc>>().unwrap()
    );
    src.stop().await;
}

#[tokio::test]
async fn crlf_long_lines_invalid_utf8_and_nul_bytes() {
    let (_guard, dir) = tempdir();
    let log = dir.join("app.log");
    let mut f = File::create(&log).unwrap();
    f.write_all(b"windows\r\n").unwrap();
    f.write_all(&[b'x'; 100]).unwrap();
    f.write_all(b"\nbad \xff\xfe bytes\nnul\0here\nend\n")
        .unwrap();
    let mut cfg = file_config(&dir, "app.log");
    cfg.max_line_bytes = 20;
    let source = FileSource::new(NAME, &cfg, vec![], Arc::new(SystemClock)).unwrap();
    let stats = source.stats();
    let mut src = SourceRun::start(Box::new(source), 4);
    let events = src.events(5).await;
    let raws: Vec<_> = events.iter().map(|e| e.raw.as_str()).collect();
    assert_eq!(
        raws,
        [
            "windows",
            "xxxxxxxxxxxxxxxxxxxx",
            "bad \u{fffd}\u{fffd} bytes",
            "nul\0here",
            "end"
        ]
    );
    assert_eq!(events[0].origin.offset, 9);
    assert_eq!(
        events[1].origin.offset, 110,
        "offset counts the whole long line"
    );
    assert_eq!(stats.truncated_lines(), 1);
    assert_eq!(stats.lines(), 5);
    assert_eq!((stats.invalid_utf8_lines(), stats.nul_lines()), (1, 1));
    src.stop().await;
}

#[tokio::test]
async fn backpressure_delivers_every_line_once_in_order() {
    let (_guard, dir) = tempdir();
    let log = dir.join("app.log");
    let (text, lines) = numbered("bulk", 0..3000);
    append(&log, text);
    let source = build(
        NAME,
        &SourceConfig::File(file_config(&dir, "app.log")),
        vec![],
        Arc::new(SystemClock),
    )
    .unwrap();
    let mut src = SourceRun::start(source, 1);
    // The channel holds one batch; the source must wait rather than drop or skip.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut got = Vec::new();
    while got.len() < lines.len() {
        let batch = tokio::time::timeout(WAIT, src.rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(batch.events.len() <= 1024);
        check_checkpoints(&batch);
        got.extend(batch.events.into_iter().map(|e| e.raw));
    }
    assert_eq!(got, lines);
    src.assert_quiet().await;
    src.stop().await;
}

#[tokio::test]
async fn stops_when_shutdown_even_while_blocked_and_when_out_closes() {
    let (_guard, dir) = tempdir();
    let (text, _) = numbered("bulk", 0..5000);
    append(&dir.join("app.log"), text);
    // Blocked on a full channel: shutdown still stops it.
    let src = SourceRun::file(file_config(&dir, "app.log"), vec![]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    src.stop().await;
    // The pipeline went away: the source ends by itself.
    let SourceRun {
        rx,
        shutdown: _keep,
        task,
    } = SourceRun::file(file_config(&dir, "app.log"), vec![]);
    drop(rx);
    let result = tokio::time::timeout(WAIT, task)
        .await
        .expect("stops promptly");
    result.unwrap().unwrap();
}

#[tokio::test]
async fn invalid_configs_are_reported_with_the_source_name() {
    let mut cfg = FileSourceConfig::new(vec!["[".into()]);
    let err = build(
        NAME,
        &SourceConfig::File(cfg.clone()),
        vec![],
        Arc::new(SystemClock),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().starts_with("source `app`: invalid glob"),
        "{err}"
    );
    cfg.include = vec!["*.log".into()];
    cfg.time_field = Some("ts".into());
    assert!(FileSource::new(NAME, &cfg, vec![], Arc::new(SystemClock)).is_err());
}

#[tokio::test]
async fn a_copy_with_the_same_first_line_is_not_read_twice() {
    let (_guard, dir) = tempdir();
    let log = dir.join("app.log");
    append(&log, "one\ntwo\n");
    let mut src = SourceRun::file(file_config(&dir, "app.log*"), vec![]);
    assert_eq!(src.lines(2).await, ["one", "two"]);
    fs::copy(&log, dir.join("app.log.bak")).unwrap();
    append(&log, "three\n");
    assert_eq!(src.lines(1).await, ["three"]);
    src.assert_quiet().await;
    src.stop().await;
}

#[tokio::test]
async fn a_rotated_file_with_an_identical_header_is_read_from_its_start() {
    let (_guard, dir) = tempdir();
    let log = dir.join("app.log");
    append(&log, "# header\nold 1\n");
    let mut src = SourceRun::file(file_config(&dir, "app.log"), vec![]);
    assert_eq!(src.lines(2).await, ["# header", "old 1"]);
    fs::rename(&log, dir.join("app.log.1")).unwrap();
    append(&log, "# header\nnew 1\nnew 2\n");
    assert_eq!(src.lines(3).await, ["# header", "new 1", "new 2"]);
    src.assert_quiet().await;
    src.stop().await;
}
