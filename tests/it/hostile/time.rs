//! Item 1: forged and extreme timestamps, and a corrupt stored clock.

use chrono::{Duration, SecondsFormat, Utc};

use super::{append, key, stop, Scene};

const SOURCES: &str = concat!(
    "  app:\n    type: file\n    include: [\"logs/app.log\"]\n    format: json\n",
    "    time_field: ts\n    poll_interval: 50ms\n",
    "  epoch:\n    type: file\n    include: [\"logs/epoch.log\"]\n    format: json\n",
    "    time_field: ts\n    time_format: epoch_s\n    poll_interval: 50ms\n",
);

const ERRORS: &str =
    "name: errors\nsource: app\nquery: 'level:ERROR'\ngroup_by: [id]\nrealert: 1h\nnotify: [out]\n";
const EPOCH_ERRORS: &str = "name: epoch-errors\nsource: epoch\nquery: 'level:ERROR'\ngroup_by: [id]\nrealert: 1h\nnotify: [out]\n";
/// Silent for 1 second: fires when a key goes quiet, and again once per second it stays so.
const QUIET: &str =
    "name: quiet\nsource: app\nquery: 'level:BEAT'\ntype: flatline\nthreshold: 1\nwindow: 1s\n\
    group_by: [id]\nallowed_lateness: 0s\nrealert: 0s\nnotify: [out]\n";

fn line(ts: &str, level: &str, id: &str) -> String {
    format!(r#"{{"ts":{ts},"level":"{level}","id":"{id}"}}"#)
}

fn rfc(t: chrono::DateTime<Utc>) -> String {
    format!("\"{}\"", t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[test]
fn forged_and_extreme_timestamps_neither_crash_nor_silence_rules() {
    let scene = Scene::new(
        SOURCES,
        &[
            ("errors.yaml", ERRORS),
            ("epoch.yaml", EPOCH_ERRORS),
            ("quiet.yaml", QUIET),
        ],
    );
    let now = Utc::now();
    let klaxon = scene.run();
    let app = scene.path("logs/app.log");
    append(
        &app,
        &[
            // A line dated 20 hours ahead (believable clock skew) fires and sets a hold
            // until tomorrow; the genuine alert for the same key right after must still go.
            line(&rfc(now + Duration::hours(20)), "ERROR", "held"),
            line(&rfc(now), "ERROR", "held"),
            // Times no date can hold, or not believable: read at arrival time.
            line("\"-262143-01-01T00:00:00\"", "ERROR", "ancient"),
            line("\"+262142-12-31T23:59:59Z\"", "ERROR", "far"),
            line("\"9999-12-31T23:59:59Z\"", "ERROR", "y9999"),
            // A second `ts` key carrying another time: no panic, one alert.
            format!(
                r#"{{"ts":{},"ts":"9000-01-01T00:00:00Z","level":"ERROR","id":"dup"}}"#,
                rfc(now)
            ),
            // A heartbeat, then a line that jumps the clock 20 hours: at most two quiet
            // alerts for it, not 72,000.
            line(&rfc(now), "BEAT", "hb"),
            line(&rfc(now + Duration::hours(20)), "INFO", "jump"),
            line(&rfc(now), "ERROR", "genuine"),
        ],
    );
    append(
        &scene.path("logs/epoch.log"),
        &[
            line("8210266876799", "ERROR", "e1"),
            line("-9223372036854775808", "ERROR", "e2"),
            line("1e300", "ERROR", "e3"),
            line(&now.timestamp().to_string(), "ERROR", "e4"),
        ],
    );
    scene.settle(&klaxon, 13);
    let got = scene.alerts();
    for id in ["ancient", "far", "y9999", "dup", "genuine"] {
        assert_eq!(
            got.get(&key("errors", &format!("id={id}"))),
            Some(&1),
            "{id}: {got:?}"
        );
    }
    assert_eq!(got.get(&key("errors", "id=held")), Some(&2), "{got:?}");
    for id in ["e1", "e2", "e3", "e4"] {
        assert_eq!(
            got.get(&key("epoch-errors", &format!("id={id}"))),
            Some(&1),
            "{id}"
        );
    }
    let quiet = got.get(&key("quiet", "id=hb")).copied().unwrap_or(0);
    assert!((1..=2).contains(&quiet), "{quiet} quiet alerts: {got:?}");
    stop(klaxon);

    // A stored clock no date can hold (a corrupt or hand-edited database): the restart
    // neither panics nor alerts again for what it already handled.
    let db = rusqlite::Connection::open(scene.state().join("klaxon.sqlite")).unwrap();
    db.execute(
        "UPDATE source_clocks SET event_max = 'not a time', reported = '-262143-01-01T00:00:00Z'",
        [],
    )
    .unwrap();
    db.execute("UPDATE realert SET hold_until = 'garbage'", [])
        .unwrap();
    drop(db);
    let before = scene.alerts();
    let klaxon = scene.run();
    append(&app, &[line(&rfc(Utc::now()), "ERROR", "after-restart")]);
    scene.settle(&klaxon, before.values().sum::<usize>() + 1);
    let after = scene.alerts();
    assert_eq!(after.get(&key("errors", "id=after-restart")), Some(&1));
    // Nothing handled before the restart alerted again (quiet keys may fire anew).
    for (k, n) in &before {
        if k.0 != "quiet" {
            assert_eq!(after.get(k), Some(n), "{k:?} alerted again: {after:?}");
        }
    }
    stop(klaxon);
}
