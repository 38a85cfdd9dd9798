//! Issue #4's acceptance test, on the real `klaxon` binary: a writer appends 1,000,000
//! numbered lines while rotating the log 50 times (alternately rename-and-create and
//! copytruncate) and Klaxon is killed with SIGKILL and restarted along the way. Every line
//! must be handled exactly once, except that copytruncate may lose the lines written
//! between its copy and its truncate (docs/TAILING.md): the test writes a few lines into
//! each such window and checks that nothing outside the windows is missing and nothing
//! at all is handled twice.
//!
//! `KLAXON_TAIL_LINES` overrides the line count (default 1,000,000; about two minutes
//! with a debug build on two cores).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEFAULT_LINES: usize = 1_000_000;
const ROTATIONS: usize = 50;
const KILLS: usize = 6;
/// Lines written between copytruncate's copy and its truncate: the loss window.
const WINDOW: usize = 3;
/// Lines written to the old handle after a rename, before the writer reopens the path.
const AFTER_RENAME: usize = 2;
/// How long the writer takes: a little faster than a debug build handles, so Klaxon is
/// both keeping up and catching up on a backlog while files rotate under it.
const WRITE_TIME: Duration = Duration::from_secs(45);

fn total_lines() -> usize {
    std::env::var("KLAXON_TAIL_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_LINES)
}

fn write_file(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// One `any` rule with `realert: 0s` over every line: each handled line is one alert.
fn setup(dir: &Path) -> PathBuf {
    let config = dir.join("klaxon.yaml");
    write_file(
        &config,
        &format!(
            "sources:\n  app:\n    type: file\n    include: [\"{}/logs/app.log*\"]\n    poll_interval: 50ms\n\
             channels:\n  out:\n    type: console\nrules: rules\nstate_dir: state\n",
            dir.display()
        ),
    );
    write_file(
        &dir.join("rules/every-line.yaml"),
        "name: every-line\nsource: app\nquery: line\nrealert: 0s\nnotify: [out]\n",
    );
    config
}

fn start(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_klaxon"))
        .env("KLAXON_LOG", "warn")
        .args(["run", "-c"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Alerts recorded so far (a cheap count while the run goes on).
fn handled(state: &Path) -> usize {
    let db = state.join("klaxon.sqlite");
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    conn.query_row("SELECT count(*) FROM alerts", [], |r| r.get::<_, i64>(0))
        .map_or(0, |n| n as usize)
}

/// What the writer did, for the checks.
struct Written {
    /// Line numbers written inside a copytruncate window.
    at_risk: HashSet<usize>,
    renames: usize,
    copytruncates: usize,
}

/// Writes lines `1..=total` to `logs/app.log`, rotating `ROTATIONS` times.
fn write_and_rotate(dir: &Path, total: usize) -> Written {
    let log = dir.join("logs/app.log");
    let open = |path: &Path| {
        // O_APPEND, as copytruncate requires of writers: after the truncate, writes go
        // to the new end rather than leaving a hole.
        BufWriter::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap(),
        )
    };
    let mut out = open(&log);
    let mut written = Written {
        at_risk: HashSet::new(),
        renames: 0,
        copytruncates: 0,
    };
    let every = total / (ROTATIONS + 1);
    let per_tick = (total / (WRITE_TIME.as_millis() as usize / 10)).max(1);
    let started = Instant::now();
    let mut n = 1;
    let line = |out: &mut BufWriter<File>, n: &mut usize| {
        writeln!(out, "line {} {:x}", *n, *n * 2654435761 % 65521).unwrap();
        *n += 1;
    };
    while n <= total {
        line(&mut out, &mut n);
        if n % per_tick == 0 {
            out.flush().unwrap();
            // Pace to WRITE_TIME overall.
            let due = WRITE_TIME.mul_f64(n as f64 / total as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let rotations = written.renames + written.copytruncates;
        if (n - 1) % every != 0 || rotations == ROTATIONS || n + AFTER_RENAME + WINDOW > total {
            continue;
        }
        let rotated = dir.join(format!("logs/app.log.{}", rotations + 1));
        out.flush().unwrap();
        if rotations % 2 == 0 {
            std::fs::rename(&log, &rotated).unwrap();
            for _ in 0..AFTER_RENAME {
                line(&mut out, &mut n);
            }
            out.flush().unwrap();
            out = open(&log);
            written.renames += 1;
        } else {
            std::fs::copy(&log, &rotated).unwrap();
            for _ in 0..WINDOW {
                written.at_risk.insert(n);
                line(&mut out, &mut n);
            }
            out.flush().unwrap();
            out.get_ref().set_len(0).unwrap();
            written.copytruncates += 1;
        }
    }
    out.flush().unwrap();
    written
}

#[test]
fn rotation_and_sigkill_lose_and_repeat_nothing() {
    let total = total_lines();
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    write_file(&dir.path().join("logs/app.log"), "");
    let state = dir.path().join("state");
    let writer = {
        let dir = dir.path().to_path_buf();
        std::thread::spawn(move || write_and_rotate(&dir, total))
    };

    let mut child = start(&config);
    let mut handled_at_kill = Vec::new();
    for _ in 0..KILLS {
        std::thread::sleep(WRITE_TIME / (KILLS as u32 + 1));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        handled_at_kill.push(handled(&state));
        child = start(&config);
    }
    let written = writer.join().unwrap();
    assert_eq!(
        (written.renames, written.copytruncates),
        (ROTATIONS / 2, ROTATIONS / 2)
    );
    let mid_stream = handled_at_kill
        .iter()
        .filter(|&&h| 0 < h && h < total)
        .count();
    assert!(
        mid_stream >= 5,
        "kills did not land mid-stream: {handled_at_kill:?}"
    );

    // Wait until everything outside the loss windows is in, and nothing more comes.
    let floor = total - written.at_risk.len();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last = (handled(&state), Instant::now());
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = handled(&state);
        if now != last.0 {
            last = (now, Instant::now());
        } else if now >= floor && last.1.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let alerts = klaxon::store::SqliteStore::open(&state)
        .unwrap()
        .alerts()
        .unwrap();
    let mut seen = vec![0u32; total + 1];
    for alert in &alerts {
        let n: usize = alert
            .sample
            .split(' ')
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected sample {:?}", alert.sample));
        seen[n] += 1;
    }
    let twice: Vec<usize> = (1..=total).filter(|&n| seen[n] > 1).collect();
    let missing: Vec<usize> = (1..=total).filter(|&n| seen[n] == 0).collect();
    let lost_outside: Vec<usize> = missing
        .iter()
        .copied()
        .filter(|n| !written.at_risk.contains(n))
        .collect();
    assert!(
        twice.is_empty(),
        "{} lines handled twice: {:?}",
        twice.len(),
        &twice[..twice.len().min(20)]
    );
    assert!(
        lost_outside.is_empty(),
        "{} lines lost outside copytruncate windows: {:?}",
        lost_outside.len(),
        &lost_outside[..lost_outside.len().min(20)]
    );
    eprintln!(
        "{total} lines, {ROTATIONS} rotations, kills at {handled_at_kill:?} handled; \
         {} of {} copytruncate-window lines lost",
        missing.len(),
        written.at_risk.len()
    );
}
