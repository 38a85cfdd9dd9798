//! Item 5: a copytruncate copy whose name sorts before the original (logrotate `dateext`),
//! still being written when Klaxon restarts, is not read twice.

use std::time::Duration;

use super::{append, key, stop, Scene};

const SOURCES: &str =
    "  app:\n    type: file\n    include: [\"logs/*.log\"]\n    poll_interval: 50ms\n";

const RULE: &str =
    "name: lines\nsource: app\nquery: 'ALERT'\ngroup_by: [message]\nrealert: 0s\nnotify: [out]\n";

fn lines(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|n| format!("ALERT line {n:03}")).collect()
}

#[test]
fn a_dateext_copy_caught_mid_copy_by_a_restart_is_not_read_twice() {
    let scene = Scene::new(SOURCES, &[("lines.yaml", RULE)]);
    let app = scene.path("logs/app.log");
    append(&app, &lines(1..=30));
    let klaxon = scene.run();
    scene.settle(&klaxon, 30);
    stop(klaxon);

    // logrotate copies app.log to app-20260608.log (which sorts first) and Klaxon
    // restarts while the copy is half written.
    let content = std::fs::read(&app).unwrap();
    let copy = scene.path("logs/app-20260608.log");
    std::fs::write(&copy, &content[..content.len() / 2]).unwrap();
    let klaxon = scene.run();
    std::thread::sleep(Duration::from_millis(800));
    // The copy completes, the original is truncated, the application writes on.
    crate::support::files::append(&copy, &content[content.len() / 2..]);
    std::fs::write(&app, "").unwrap();
    append(&app, &lines(31..=35));
    scene.settle(&klaxon, 35);
    let got = scene.alerts();
    for n in 1..=35 {
        assert_eq!(
            got.get(&key("lines", &format!("message=ALERT line {n:03}"))),
            Some(&1),
            "line {n}: {got:?}"
        );
    }
    assert_eq!(got.values().sum::<usize>(), 35);
    stop(klaxon);
}
