//! Hot reload against the real binary: rule A is edited while rule B is untouched — B's
//! window survives and A starts afresh; then A is broken — it is refused with its location
//! and the previous version of A keeps running.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use klaxon::store::{SqliteStore, StateStore, DB_FILE};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn append(path: &Path, lines: &[&str]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn rule(name: &str, word: &str, threshold: u32) -> String {
    format!(
        "name: {name}\nsource: app\nquery: {word}\ntype: frequency\nthreshold: {threshold}\n\
         window: 1h\nrealert: 0s\nnotify: [out]\n"
    )
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn handled(state: &Path, log: &Path) -> bool {
    let size = std::fs::metadata(log).unwrap().len();
    state.join(DB_FILE).exists()
        && SqliteStore::open(state)
            .ok()
            .and_then(|s| s.checkpoints("app").ok())
            .and_then(|c| c.first().map(|c| c.offset))
            == Some(size)
}

fn alerts(state: &Path) -> Vec<String> {
    SqliteStore::open(state)
        .unwrap()
        .alerts()
        .unwrap()
        .into_iter()
        .map(|a| a.rule)
        .collect()
}

#[test]
fn edited_rules_restart_untouched_rules_keep_their_window_and_broken_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("logs")).unwrap();
    std::fs::create_dir_all(root.join("rules")).unwrap();
    let config = root.join("klaxon.yaml");
    write(
        &config,
        &format!(
            "sources:\n  app:\n    type: file\n    include: [\"{}/logs/*.log\"]\n    poll_interval: 50ms\n\
             channels:\n  out:\n    type: console\nrules: rules\nstate_dir: state\n",
            root.display()
        ),
    );
    let (a, b) = (root.join("rules/a.yaml"), root.join("rules/b.yaml"));
    write(&a, &rule("a", "alpha", 3));
    write(&b, &rule("b", "beta", 3));
    let log = root.join("logs/app.log");
    let state = root.join("state");
    append(
        &log,
        &["2026-06-08 03:00:00 alpha 1", "2026-06-08 03:00:01 beta 1"],
    );
    append(
        &log,
        &["2026-06-08 03:00:02 alpha 2", "2026-06-08 03:00:03 beta 2"],
    );
    let stderr_path = root.join("stderr.log");
    let child = Running(
        Command::new(env!("CARGO_BIN_EXE_klaxon"))
            .env("KLAXON_LOG", "info")
            .args(["run", "-c"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    wait_until("the first lines", || handled(&state, &log));
    assert!(alerts(&state).is_empty());

    // Edit A's counting (its window starts over); B is untouched.
    write(&a, &rule("a", "alpha", 2));
    wait_until("the reload of a.yaml", || {
        stderr().contains("rule file reloaded")
    });
    append(
        &log,
        &["2026-06-08 03:00:04 alpha 3", "2026-06-08 03:00:05 beta 3"],
    );
    wait_until("the third lines", || handled(&state, &log));
    // B had 2 in its window and got its 3rd; A (threshold 2 now) has only 1 since the edit.
    assert_eq!(alerts(&state), vec!["b"]);

    // Break A: refused, with the place of the problem; the edited A keeps running.
    write(&a, &rule("a", "'alpha AND ('", 2));
    wait_until("the refusal", || stderr().contains("refused"));
    let text = stderr();
    assert!(text.contains("a.yaml:3:"), "{text}");
    append(&log, &["2026-06-08 03:00:06 alpha 4"]);
    wait_until("the fourth line", || handled(&state, &log));
    assert_eq!(
        alerts(&state),
        vec!["b", "a"],
        "the running A counted 2 since its edit"
    );
    drop(child);
}
/// A running `klaxon run`, killed (SIGKILL) when dropped — also when a test fails.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
