//! The properties the query fuzz target checks on every input, shared with the stable soak
//! driver (`tests/soak.rs`) that runs without libFuzzer.

use std::sync::Arc;

use chrono::Utc;
use klaxon::event::{Event, Origin};
use klaxon::query::{parse, DefaultOperator, FieldType, QueryOptions};

/// Parses `data` as a query under several options; for every query that parses: errors point
/// inside the text, the printed AST parses back to an equal AST, the Lucene and Elasticsearch
/// translations are produced, and matching (plain and JSON events) never panics.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for opts in options() {
        match parse(text, &opts) {
            Ok(q) => {
                let printed = q.ast().to_string();
                let again = parse(&printed, &opts)
                    .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}: {e}"));
                assert_eq!(again.ast(), q.ast(), "{text:?} printed as {printed:?}");
                let lucene = q.to_lucene();
                let relit = parse(&lucene, &opts)
                    .unwrap_or_else(|e| panic!("{text:?} as Lucene {lucene:?}: {e}"));
                let _ = q.to_elasticsearch();
                for ev in events(text) {
                    assert_eq!(q.matches(&ev, ev.time), again.matches(&ev, ev.time), "{text:?}");
                    assert_eq!(q.matches(&ev, ev.time), relit.matches(&ev, ev.time), "{text:?} vs {lucene:?}");
                }
            }
            Err(e) => {
                let columns = 1..=text.chars().count() + 1;
                assert!(columns.contains(&e.column()), "{text:?}: {e}");
                let _ = e.to_string();
            }
        }
    }
}

fn options() -> Vec<QueryOptions> {
    let mut typed = QueryOptions {
        default_operator: DefaultOperator::And,
        ..QueryOptions::default()
    };
    for (name, ty) in [
        ("a", FieldType::Keyword),
        ("n", FieldType::Number),
        ("d", FieldType::Date),
        ("ip", FieldType::Ip),
    ] {
        typed.fields.insert(name.to_string(), ty);
    }
    vec![QueryOptions::default(), typed]
}

fn events(text: &str) -> Vec<Event> {
    let origin = Origin {
        source: Arc::from("fuzz"),
        path: Arc::from("fuzz.log"),
        fingerprint: Arc::from("fp"),
        offset: 0,
    };
    let json = serde_json::json!({
        "message": text, "a": text, "n": 5, "d": "2024-05-01T10:00:00Z", "ip": "10.1.2.3",
        "arr": [1, "x", null, {"k": text}],
    });
    vec![
        Event::plain(text, Utc::now(), origin.clone()),
        Event {
            time: Utc::now(),
            raw: json.to_string(),
            fields: json.as_object().cloned(),
            origin,
            time_guessed: false,
        },
    ]
}
