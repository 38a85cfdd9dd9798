//! Issue #9: hostile log lines and broken disks, each attack run against the real `klaxon`
//! binary. Every test asserts that Klaxon neither crashed nor hung, and that the genuine
//! alerts around the hostile input fired exactly once.

mod durations;
mod files;
mod json;
mod rotation;
mod sizes;
mod state;
mod text;
mod time;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::binary::Klaxon;
use crate::support::state::{alert_count, alerts};
use crate::support::{wait_for, write};

/// A config directory with logs under `logs/`, rules under `rules/`, state under `state/`.
pub struct Scene {
    pub dir: tempfile::TempDir,
}

impl Scene {
    /// `sources` is the YAML under `sources:` (paths relative to the config); one console
    /// channel `out`; `rules` as (file name, YAML).
    pub fn new(sources: &str, rules: &[(&str, &str)]) -> Scene {
        let config = format!(
            "sources:\n{sources}channels:\n  out: {{ type: console }}\nrules: rules\nstate_dir: state\n"
        );
        Scene::with_config(&config, rules)
    }

    /// A scene with `config` as its whole klaxon.yaml.
    pub fn with_config(config: &str, rules: &[(&str, &str)]) -> Scene {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("klaxon.yaml"), config);
        for (name, yaml) in rules {
            write(&dir.path().join("rules").join(name), yaml);
        }
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        Scene { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn run(&self) -> Klaxon {
        Klaxon::run(&self.path("klaxon.yaml"))
    }

    pub fn state(&self) -> PathBuf {
        self.path("state")
    }

    /// Alerts recorded so far, as (rule, key) → how many.
    pub fn alerts(&self) -> BTreeMap<(String, String), usize> {
        let mut out = BTreeMap::new();
        for a in alerts(&self.state()) {
            *out.entry((a.rule.clone(), a.key_text())).or_default() += 1;
        }
        out
    }

    /// Waits until at least `n` alerts are recorded, then a little longer so that any
    /// extra (duplicate) one shows up too; fails saying what `klaxon` printed.
    pub fn settle(&self, klaxon: &Klaxon, n: usize) {
        let reached = wait_for(Duration::from_secs(30), || alert_count(&self.state()) >= n);
        assert!(
            reached,
            "{} of {n} alerts; klaxon said:\n{}",
            alert_count(&self.state()),
            klaxon.stderr()
        );
        std::thread::sleep(Duration::from_millis(1500));
    }
}

/// Stops `klaxon` gracefully and asserts it neither panicked nor failed.
pub fn stop(klaxon: Klaxon) -> String {
    klaxon.terminate();
    let done = klaxon.finish(Duration::from_secs(20), "klaxon stops on SIGTERM");
    assert!(
        done.status.success(),
        "exit {:?}: {}",
        done.status,
        done.stderr
    );
    assert!(!done.stderr.contains("panicked"), "{}", done.stderr);
    done.stderr
}

/// Appends `lines` (each given without its newline) to `path`.
pub fn append(path: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    crate::support::files::append(path, text);
}

/// (rule, key text) for the expectations.
pub fn key(rule: &str, key: &str) -> (String, String) {
    (rule.to_string(), key.to_string())
}
