//! Issue #4's acceptance test, on the real `klaxon` binary: a writer appends numbered lines
//! while rotating the log (alternately rename-and-create and copytruncate) and Klaxon is
//! killed with SIGKILL and restarted along the way. Every line must be handled exactly
//! once, except that copytruncate may lose the lines written between its copy and its
//! truncate (docs/TAILING.md): the test writes a few lines into each such window and checks
//! that nothing outside the windows is missing and nothing at all is handled twice.
//!
//! By default a short run: 50,000 lines, 10 rotations, 3 kills (about 5 s).
//! `KLAXON_TORTURE=1` runs the full one: 1,000,000 lines, 50 rotations, 6 kills (about 90 s
//! with a debug build on two cores). The assertions are the same.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::binary::{write_config, Klaxon};
use crate::support::files::Appender;
use crate::support::state::{alert_count, alerts};
use crate::support::write;

/// Lines written between copytruncate's copy and its truncate: the loss window.
const WINDOW: usize = 3;
/// Lines written to the old handle after a rename, before the writer reopens the path.
const AFTER_RENAME: usize = 2;

#[derive(Clone, Copy)]
struct Scale {
    lines: usize,
    /// Half renames, half copytruncates.
    rotations: usize,
    kills: usize,
    /// How long the writer takes: a little faster than a debug build handles, so Klaxon is
    /// both keeping up and catching up on a backlog while files rotate under it.
    write_time: Duration,
    /// How long the count must stay put at the end before the run counts as done (a
    /// duplicate, if any were coming, has that long to show up).
    settle: Duration,
}

fn scale() -> Scale {
    if std::env::var_os("KLAXON_TORTURE").is_some_and(|v| v == "1") {
        Scale {
            lines: 1_000_000,
            rotations: 50,
            kills: 6,
            write_time: Duration::from_secs(45),
            settle: Duration::from_secs(3),
        }
    } else {
        Scale {
            lines: 50_000,
            rotations: 10,
            kills: 3,
            write_time: Duration::from_millis(2500),
            settle: Duration::from_millis(1500),
        }
    }
}

/// One `any` rule with `realert: 0s` over every line: each handled line is one alert.
fn setup(dir: &Path) -> PathBuf {
    let config = write_config(dir, "app", "logs/app.log*", "", "out");
    write(
        &dir.join("rules/every-line.yaml"),
        "name: every-line\nsource: app\nquery: line\nrealert: 0s\nnotify: [out]\n",
    );
    config
}

/// What the writer did, for the checks.
struct Written {
    /// Line numbers written inside a copytruncate window.
    at_risk: HashSet<usize>,
    renames: usize,
    copytruncates: usize,
}

/// Writes lines `1..=scale.lines` to `logs/app.log`, rotating `scale.rotations` times.
fn write_and_rotate(dir: &Path, scale: &Scale) -> Written {
    let total = scale.lines;
    let log = dir.join("logs/app.log");
    let mut out = Appender::open(&log);
    let mut written = Written {
        at_risk: HashSet::new(),
        renames: 0,
        copytruncates: 0,
    };
    let every = total / (scale.rotations + 1);
    let per_tick = (total / (scale.write_time.as_millis() as usize / 10)).max(1);
    let started = Instant::now();
    let mut n = 1;
    let line = |out: &mut Appender, n: &mut usize| {
        out.line(format_args!("line {} {:x}", *n, *n * 2654435761 % 65521));
        *n += 1;
    };
    while n <= total {
        line(&mut out, &mut n);
        if n % per_tick == 0 {
            out.flush();
            // Pace to write_time overall.
            let due = scale.write_time.mul_f64(n as f64 / total as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let rotations = written.renames + written.copytruncates;
        if (n - 1) % every != 0 || rotations == scale.rotations || n + AFTER_RENAME + WINDOW > total
        {
            continue;
        }
        let rotated = dir.join(format!("logs/app.log.{}", rotations + 1));
        out.flush();
        if rotations % 2 == 0 {
            std::fs::rename(&log, &rotated).unwrap();
            for _ in 0..AFTER_RENAME {
                line(&mut out, &mut n);
            }
            out.reopen();
            written.renames += 1;
        } else {
            std::fs::copy(&log, &rotated).unwrap();
            for _ in 0..WINDOW {
                written.at_risk.insert(n);
                line(&mut out, &mut n);
            }
            out.truncate();
            written.copytruncates += 1;
        }
    }
    out.flush();
    written
}

#[test]
fn rotation_and_sigkill_lose_and_repeat_nothing() {
    let scale = scale();
    let total = scale.lines;
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    write(&dir.path().join("logs/app.log"), "");
    let state = dir.path().join("state");
    let started = Instant::now();
    let writer = {
        let dir = dir.path().to_path_buf();
        std::thread::spawn(move || write_and_rotate(&dir, &scale))
    };

    let mut child = Klaxon::run(&config);
    let mut handled_at_kill = Vec::new();
    for _ in 0..scale.kills {
        std::thread::sleep(scale.write_time / (scale.kills as u32 + 1));
        child.kill(); // SIGKILL
        handled_at_kill.push(alert_count(&state));
        child = Klaxon::run(&config);
    }
    let written = writer.join().unwrap();
    assert_eq!(
        (written.renames, written.copytruncates),
        (scale.rotations / 2, scale.rotations / 2)
    );
    // Every kill but one must interrupt reading.
    let mid_stream = handled_at_kill
        .iter()
        .filter(|&&h| 0 < h && h < total)
        .count();
    assert!(
        mid_stream >= scale.kills - 1,
        "kills did not land mid-stream: {handled_at_kill:?}"
    );

    // Wait until everything outside the loss windows is in, and nothing more comes.
    let floor = total - written.at_risk.len();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last = (alert_count(&state), Instant::now());
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = alert_count(&state);
        if now != last.0 {
            last = (now, Instant::now());
        } else if now >= floor && last.1.elapsed() > scale.settle {
            break;
        }
    }
    child.kill();

    let alerts = alerts(&state);
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
        "{total} lines, {} rotations, kills at {handled_at_kill:?} handled; \
         {} of {} copytruncate-window lines lost; {:.1?}",
        scale.rotations,
        missing.len(),
        written.at_risk.len(),
        started.elapsed()
    );
}
