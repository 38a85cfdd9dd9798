//! Item 7: the state directory is private and used by one Klaxon; the sample is stored
//! once, cut; old history is pruned; a database deleted underneath stops Klaxon.

use std::time::Duration;

use super::{append, stop, Scene};

const SOURCES: &str = concat!(
    "  app:\n    type: file\n    include: [\"logs/app.log\"]\n    format: json\n",
    "    poll_interval: 50ms\n",
);

const RULE: &str =
    "name: errors\nsource: app\nquery: 'level:ERROR'\ngroup_by: [id]\nrealert: 1s\nnotify: [out]\n";

fn db(scene: &Scene) -> rusqlite::Connection {
    rusqlite::Connection::open(scene.state().join("klaxon.sqlite")).unwrap()
}

#[cfg(unix)]
#[test]
fn the_state_is_private_single_user_and_stores_one_cut_sample() {
    use std::os::unix::fs::PermissionsExt;
    let scene = Scene::new(SOURCES, &[("errors.yaml", RULE)]);
    let klaxon = scene.run();
    let long = "y".repeat(100 * 1024);
    append(
        &scene.path("logs/app.log"),
        &[format!(
            r#"{{"level":"ERROR","id":"1","message":"{long}"}}"#
        )],
    );
    scene.settle(&klaxon, 1);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&scene.state()), 0o700);
    assert_eq!(mode(&scene.state().join("klaxon.sqlite")), 0o600);
    for wal in ["klaxon.sqlite-wal", "klaxon.sqlite-shm"] {
        let p = scene.state().join(wal);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{wal}");
        }
    }
    // A second Klaxon on the same state refuses to start, saying who holds it.
    let second = scene.run();
    let done = second.finish(Duration::from_secs(10), "a second klaxon exits");
    assert!(!done.status.success());
    assert!(done.stderr.contains("is in use by pid"), "{}", done.stderr);
    // The 100 KB line is kept once, cut.
    let conn = db(&scene);
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('alerts')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!columns.contains(&"sample".to_string()), "{columns:?}");
    let body: String = conn
        .query_row("SELECT body FROM alerts", [], |r| r.get(0))
        .unwrap();
    assert!(body.len() < 12 * 1024, "{} bytes stored", body.len());
    drop(conn);
    stop(klaxon);
}

#[test]
fn history_older_than_the_retention_is_pruned_at_start() {
    let config = format!(
        "sources:\n{SOURCES}channels:\n  out: {{ type: console }}\nrules: rules\nstate_dir: state\nretention: 1s\n"
    );
    let scene = Scene::with_config(&config, &[("errors.yaml", RULE)]);
    let klaxon = scene.run();
    append(
        &scene.path("logs/app.log"),
        &[r#"{"level":"ERROR","id":"1"}"#.to_string()],
    );
    scene.settle(&klaxon, 1);
    stop(klaxon);
    let count = |table: &str| -> i64 {
        db(&scene)
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    // The alert as raised, and the message sent about it.
    assert_eq!(
        (count("alerts"), count("outbox"), count("realert")),
        (2, 1, 1)
    );
    std::thread::sleep(Duration::from_millis(2500));
    let klaxon = scene.run();
    let cleared = crate::support::wait_for(Duration::from_secs(10), || count("alerts") == 0);
    assert!(cleared, "alerts: {}", count("alerts"));
    assert_eq!((count("outbox"), count("realert")), (0, 0));
    stop(klaxon);
}

#[test]
fn a_database_deleted_while_running_stops_klaxon_with_a_clear_error() {
    let scene = Scene::new(SOURCES, &[("errors.yaml", RULE)]);
    let klaxon = scene.run();
    let app = scene.path("logs/app.log");
    append(&app, &[r#"{"level":"ERROR","id":"1"}"#.to_string()]);
    scene.settle(&klaxon, 1);
    for f in ["klaxon.sqlite", "klaxon.sqlite-wal", "klaxon.sqlite-shm"] {
        let _ = std::fs::remove_file(scene.state().join(f));
    }
    append(&app, &[r#"{"level":"ERROR","id":"2"}"#.to_string()]);
    let done = klaxon.finish(
        Duration::from_secs(20),
        "klaxon stops on a deleted database",
    );
    assert!(!done.status.success());
    assert!(
        done.stderr.contains("was deleted or replaced"),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains("panicked"), "{}", done.stderr);
}
