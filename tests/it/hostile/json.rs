//! Item 3: one odd JSON value does not hide the other fields of its line.

use super::{append, key, stop, Scene};

const SOURCES: &str = concat!(
    "  app:\n    type: file\n    include: [\"logs/app.log\"]\n    format: json\n",
    "    poll_interval: 50ms\n",
);

/// Fires only on field matches: a line read as plain text matches nothing.
const RULE: &str = "name: errors\nsource: app\nquery: 'level:ERROR AND sku:A*'\ngroup_by: [id]\nrealert: 0s\nnotify: [out]\n";

#[test]
fn lone_surrogates_and_numbers_out_of_range_keep_the_line_queryable() {
    let scene = Scene::new(SOURCES, &[("errors.yaml", RULE)]);
    let klaxon = scene.run();
    let big = "9".repeat(500);
    append(
        &scene.path("logs/app.log"),
        &[
            r#"{"level":"ERROR","sku":"A-1","id":"before"}"#.to_string(),
            r#"{"level":"ERROR","sku":"A-2","note":"\ud800","id":"surrogate"}"#.to_string(),
            r#"{"level":"ERROR","sku":"A-3","amount":1e400,"id":"huge-exponent"}"#.to_string(),
            format!(r#"{{"level":"ERROR","sku":"A-4","amount":{big},"id":"500-digits"}}"#),
            r#"{"level":"ERROR","sku":"A-5","id":"after"}"#.to_string(),
        ],
    );
    scene.settle(&klaxon, 5);
    let got = scene.alerts();
    for id in [
        "before",
        "surrogate",
        "huge-exponent",
        "500-digits",
        "after",
    ] {
        assert_eq!(
            got.get(&key("errors", &format!("id={id}"))),
            Some(&1),
            "{id}: {got:?}"
        );
    }
    assert_eq!(got.len(), 5, "{got:?}");
    stop(klaxon);
}
