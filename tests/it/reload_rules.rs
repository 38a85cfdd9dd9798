//! Hot reload against the real binary: rule A is edited while rule B is untouched — B's
//! window survives and A starts afresh; then A is broken — it is refused with its location
//! and the previous version of A keeps running.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::binary::{klaxon, write_config, Klaxon};
use crate::support::files::append_lines;
use crate::support::state::{alerts, wait_handled};
use crate::support::{wait_until, write};

fn rule(name: &str, word: &str, threshold: u32) -> String {
    format!(
        "name: {name}\nsource: app\nquery: {word}\ntype: frequency\nthreshold: {threshold}\n\
         window: 1h\nrealert: 0s\nnotify: [out]\n"
    )
}

/// The rules that fired, in order.
fn fired(state: &Path) -> Vec<String> {
    alerts(state).into_iter().map(|a| a.rule).collect()
}

#[test]
fn edited_rules_restart_untouched_rules_keep_their_window_and_broken_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("logs")).unwrap();
    let config = write_config(root, "app", "logs/*.log", "", "out");
    let (a, b) = (root.join("rules/a.yaml"), root.join("rules/b.yaml"));
    write(&a, &rule("a", "alpha", 3));
    write(&b, &rule("b", "beta", 3));
    let log = root.join("logs/app.log");
    let state = root.join("state");
    append_lines(
        &log,
        &["2026-06-08 03:00:00 alpha 1", "2026-06-08 03:00:01 beta 1"],
    );
    append_lines(
        &log,
        &["2026-06-08 03:00:02 alpha 2", "2026-06-08 03:00:03 beta 2"],
    );
    // At info level: the test waits for what Klaxon says about the reloads.
    let child = Klaxon::spawn(
        klaxon()
            .env("KLAXON_LOG", "info")
            .args(["run", "-c"])
            .arg(&config)
            .stdout(Stdio::null()),
    );
    let minute = Duration::from_secs(60);
    wait_handled(&state, "app", &log);
    assert!(fired(&state).is_empty());

    // Edit A's counting (its window starts over); B is untouched.
    write(&a, &rule("a", "alpha", 2));
    wait_until("the reload of a.yaml", minute, || {
        child.stderr().contains("rule file reloaded")
    });
    append_lines(
        &log,
        &["2026-06-08 03:00:04 alpha 3", "2026-06-08 03:00:05 beta 3"],
    );
    wait_handled(&state, "app", &log);
    // B had 2 in its window and got its 3rd; A (threshold 2 now) has only 1 since the edit.
    assert_eq!(fired(&state), vec!["b"]);

    // Break A: refused, with the place of the problem; the edited A keeps running.
    write(&a, &rule("a", "'alpha AND ('", 2));
    wait_until("the refusal", minute, || child.stderr().contains("refused"));
    let text = child.stderr();
    assert!(text.contains("a.yaml:3:"), "{text}");
    append_lines(&log, &["2026-06-08 03:00:06 alpha 4"]);
    wait_handled(&state, "app", &log);
    assert_eq!(
        fired(&state),
        vec!["b", "a"],
        "the running A counted 2 since its edit"
    );
}
