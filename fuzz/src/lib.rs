//! The properties the query fuzz target checks on every input, shared with the stable soak
//! driver (`tests/soak.rs`) that runs without libFuzzer.

use std::sync::Arc;

use chrono::Utc;
use klaxon::event::{Event, Origin};
use klaxon::filter::LineFilter;
use klaxon::query::{parse, DefaultOperator, FieldType, Prefilter, QueryOptions};

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
                let prefilter = Prefilter::new(&[&q]);
                for ev in events(text) {
                    // The prefilter never skips a line the query matches.
                    if q.matches(&ev, ev.time) && !ev.raw.contains('\n') {
                        let buf = format!("{}\n", ev.raw);
                        let mut seen = false;
                        prefilter.for_each_candidate(buf.as_bytes(), &mut |s, e| {
                            seen |= s == 0 && e == ev.raw.len();
                        });
                        assert!(seen, "{text:?} matches {:?}, not a candidate", ev.raw);
                        assert!(prefilter.candidate_rules(ev.raw.as_bytes()).contains(0));
                    }
                    assert_eq!(
                        q.matches(&ev, ev.time),
                        again.matches(&ev, ev.time),
                        "{text:?}"
                    );
                    assert_eq!(
                        q.matches(&ev, ev.time),
                        relit.matches(&ev, ev.time),
                        "{text:?} vs {lucene:?}"
                    );
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
            fields_for: None,
        },
    ]
}

/// Decodes `data` as a line with every decoder a source can have (JSON, logfmt, the nginx
/// preset, plain with a leading time; several time formats and zones). Never panics; the
/// raw line is kept whole; the event time stays within the source's believable window;
/// every field reads back as text.
pub fn check_decode(data: &[u8]) {
    use klaxon::decode::{DecodeOptions, Decoder, LineFormat, TimeLimits, TimeZone};
    let text = String::from_utf8_lossy(data).into_owned();
    let arrival = chrono::DateTime::parse_from_rfc3339("2026-06-08T03:00:00Z")
        .unwrap()
        .to_utc();
    let shanghai: TimeZone = "Asia/Shanghai".parse().unwrap();
    // (format, time field, time format, pattern, zone)
    type Case<'a> = (
        LineFormat,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        TimeZone,
    );
    let cases: [Case; 8] = [
        (LineFormat::Json, Some("ts"), None, None, TimeZone::Utc),
        (
            LineFormat::Json,
            Some("ts"),
            Some("epoch_s"),
            None,
            TimeZone::Utc,
        ),
        (
            LineFormat::Json,
            Some("a.b"),
            Some("epoch_ms"),
            None,
            shanghai,
        ),
        (LineFormat::Logfmt, Some("time"), None, None, shanghai),
        (
            LineFormat::Regex,
            Some("time_local"),
            Some("%d/%b/%Y:%H:%M:%S %z"),
            Some("nginx_combined"),
            TimeZone::Utc,
        ),
        (
            LineFormat::Plain,
            None,
            Some("%Y-%m-%d %H:%M:%S%.f"),
            None,
            shanghai,
        ),
        (
            LineFormat::Plain,
            None,
            Some("rfc3339"),
            None,
            TimeZone::Local,
        ),
        (LineFormat::Plain, None, None, None, TimeZone::Utc),
    ];
    for (format, field, time_format, pattern, timezone) in cases {
        let opts = DecodeOptions {
            format,
            pattern: pattern.map(String::from),
            time_field: field.map(String::from),
            time_format: time_format.map(|f| f.parse().unwrap()),
            timezone,
            limits: TimeLimits::DEFAULT,
        };
        let decoder = Decoder::with_options(&opts).unwrap();
        let ev = decoder.decode(text.clone(), origin(), arrival);
        assert_eq!(ev.raw, text);
        let age = chrono::Duration::from_std(TimeLimits::DEFAULT.max_event_age).unwrap();
        let skew = chrono::Duration::from_std(TimeLimits::DEFAULT.max_clock_skew).unwrap();
        assert!(
            ev.time >= arrival - age && ev.time <= arrival + skew,
            "{text:?}"
        );
        if let Some(fields) = &ev.fields {
            for key in fields.keys() {
                let _ = ev.text(key);
            }
        }
        // Decoding only some fields gives those fields as a full decode does, the same time,
        // and the same verdict on whether the line decoded at all.
        let keep = Arc::new(klaxon::decode::FieldSelection::of(["a", "a.b", "level"]));
        let some = decoder.decode_keeping(text.clone(), origin(), arrival, Some(&keep));
        assert_eq!(
            (some.time, some.fields.is_some()),
            (ev.time, ev.fields.is_some()),
            "{text:?}"
        );
        if let (Some(all), Some(kept)) = (&ev.fields, &some.fields) {
            if format == LineFormat::Json {
                let want: Vec<_> = all
                    .iter()
                    .filter(|(k, _)| keep.keeps(k) || k.as_str() == field.unwrap_or(""))
                    .collect();
                let got: Vec<_> = kept.iter().collect();
                assert_eq!(got, want, "{text:?}");
            }
        }
    }
}

/// Loads `data` as a rule file beside a fixed klaxon.yaml, then as a klaxon.yaml itself,
/// and builds whatever loads. Never panics; every problem names a line of the file it is
/// about (or none, 0) and renders.
pub fn check_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("klaxon.yaml");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    // The source's glob matches a file: klaxon.yaml itself has nothing to say.
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    std::fs::write(dir.path().join("logs/app.log"), "").unwrap();
    std::fs::write(
        &config,
        "sources:\n  app: { type: file, include: [\"logs/*.log\"] }\n  other: { type: stdin }\n\
         channels:\n  out: { type: console }\nrules: rules\n",
    )
    .unwrap();
    std::fs::write(rules.join("r.yaml"), text).unwrap();
    check_loads(&config, text.lines().count());
    std::fs::write(&config, text).unwrap();
    std::fs::remove_file(rules.join("r.yaml")).unwrap();
    check_loads(&config, text.lines().count());
}

fn check_loads(config: &std::path::Path, lines: usize) {
    let env = |name: &str| (name == "X").then(|| "secret-value".to_string());
    let problems = match klaxon::config::load_with_env(config, &env) {
        Ok(loaded) => match klaxon::pipeline::compile_rules(&loaded) {
            Ok((_, warnings)) => warnings,
            Err(errors) => errors,
        },
        Err(errors) => errors,
    };
    for d in problems.iter() {
        assert!(d.line <= lines + 1, "{d} (of {lines} lines)");
        let shown = d.to_string();
        assert!(!shown.contains("secret-value"), "{shown}");
    }
}

fn origin() -> Origin {
    Origin {
        source: Arc::from("fuzz"),
        path: Arc::from("fuzz.log"),
        fingerprint: Arc::from("fp"),
        offset: 0,
    }
}
