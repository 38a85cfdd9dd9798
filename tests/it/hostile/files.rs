//! Item 4: what is dropped into a watched directory cannot make Klaxon read a secret,
//! block on a FIFO, or stop reading the real logs.

use std::time::Duration;

use super::{append, key, stop, Scene};

const SOURCES: &str =
    "  app:\n    type: file\n    include: [\"logs/*.log\"]\n    poll_interval: 50ms\n";

const RULE: &str =
    "name: lines\nsource: app\nquery: 'ALERT'\ngroup_by: [message]\nrealert: 0s\nnotify: [out]\n";

#[cfg(unix)]
fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn links_fifos_and_swapped_paths_are_skipped_and_the_real_log_still_alerts() {
    let scene = Scene::new(SOURCES, &[("lines.yaml", RULE)]);
    // A "secret" outside the log directory, with a line the rule would alert on.
    let secret = scene.path("secret.txt");
    std::fs::write(&secret, "ALERT secret-line\n").unwrap();
    std::os::unix::fs::symlink(&secret, scene.path("logs/shadow.log")).unwrap();
    mkfifo(&scene.path("logs/pipe.log"));
    let klaxon = scene.run();
    let app = scene.path("logs/app.log");
    append(&app, &["ALERT first".to_string()]);
    scene.settle(&klaxon, 1);
    // A path that flips between a regular file and a FIFO while Klaxon scans.
    let flip = scene.path("logs/flip.log");
    for _ in 0..20 {
        std::fs::write(&flip, "ALERT flip\n").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        std::fs::remove_file(&flip).unwrap();
        mkfifo(&flip);
        std::thread::sleep(Duration::from_millis(20));
        std::fs::remove_file(&flip).unwrap();
    }
    append(&app, &["ALERT second".to_string()]);
    scene.settle(&klaxon, 2);
    let got = scene.alerts();
    assert_eq!(
        got.get(&key("lines", "message=ALERT first")),
        Some(&1),
        "{got:?}"
    );
    assert_eq!(
        got.get(&key("lines", "message=ALERT second")),
        Some(&1),
        "{got:?}"
    );
    assert!(
        !got.keys().any(|(_, k)| k.contains("secret")),
        "a link out of the directory was read: {got:?}"
    );
    let stderr = stop(klaxon);
    assert_eq!(
        stderr.matches("skipping a symbolic link").count(),
        1,
        "logged once, not every scan: {stderr}"
    );
}
