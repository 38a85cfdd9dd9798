//! Tests of the engine's routing of events to rules, realert per key and alert links.

use super::*;
use crate::clock::ManualClock;
use crate::event::Origin;
use crate::rule::{build_for_test, AnyParams, FrequencyParams, RuleConfig, RuleParams};
use crate::types::HumanDuration;
use chrono::{TimeZone, Utc};
use std::time::Duration;

fn any() -> RuleParams {
    RuleParams::Any(AnyParams {})
}

fn frequency() -> RuleParams {
    RuleParams::Frequency(FrequencyParams {
        threshold: 2,
        window: HumanDuration(Duration::from_secs(60)),
    })
}

fn rule(name: &str, query: &str, params: RuleParams, group_by: &[&str]) -> RuleConfig {
    let mut c = RuleConfig::new(name, "orders", query, params);
    c.group_by = group_by.iter().map(|s| s.to_string()).collect();
    c.realert = HumanDuration(Duration::from_secs(600));
    c.notify = vec!["ops".into()];
    c
}

fn json_event(source: &str, secs: i64, json: &str) -> Event {
    Event {
        time: Utc.timestamp_opt(1_780_000_000 + secs, 0).unwrap(),
        raw: json.to_string(),
        fields: Some(serde_json::from_str(json).unwrap()),
        origin: Origin {
            source: source.into(),
            path: "x.log".into(),
            fingerprint: "fp".into(),
            offset: 0,
        },
        time_guessed: false,
        fields_for: None,
    }
}

fn engine(rules: Vec<RuleConfig>, kibana: Option<KibanaConfig>) -> Engine {
    let compiled = rules.iter().map(build_for_test).collect();
    let clock = Arc::new(ManualClock::new(
        Utc.timestamp_opt(1_780_000_100, 0).unwrap(),
    ));
    Engine::new(compiled, Vec::new(), kibana, clock)
}

#[test]
fn only_rules_of_the_event_source_see_it() {
    let mut e = engine(vec![rule("r", "ERROR", any(), &[])], None);
    let mut out = Vec::new();
    e.process(
        &json_event("other", 0, r#"{"message":"ERROR x"}"#),
        &mut out,
    );
    assert!(out.is_empty());
    e.process(
        &json_event("orders", 0, r#"{"message":"ERROR x"}"#),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].channels, vec!["ops"]);
}

#[test]
fn group_by_splits_keys_and_realert_holds_back_per_key() {
    let mut e = engine(vec![rule("r", "ERROR", frequency(), &["sku"])], None);
    let mut out = Vec::new();
    let lines = [
        (0, r#"{"message":"ERROR a","sku":"A"}"#),
        (1, r#"{"message":"ERROR b","sku":"B"}"#),
        (2, r#"{"message":"ERROR a2","sku":"A"}"#), // A fires (2 in window)
        (3, r#"{"message":"ERROR a3","sku":"A"}"#),
        (4, r#"{"message":"ERROR a4","sku":"A"}"#), // A fires again: held back by realert
        (5, r#"{"message":"ERROR b2"}"#),           // no sku: its own key
    ];
    for (t, l) in lines {
        e.process(&json_event("orders", t, l), &mut out);
    }
    assert_eq!(out.len(), 1, "{out:?}");
    let a = &out[0].alert;
    assert_eq!(a.key.get("sku"), Some("A"));
    assert_eq!(
        (a.count, a.sample.as_str()),
        (2, r#"{"message":"ERROR a","sku":"A"}"#)
    );
    let changes = e.take_realert_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].held_back, 1);
}

#[test]
fn alerts_link_to_kibana_narrowed_to_their_key() {
    let kibana = KibanaConfig {
        url: "http://kibana:5601".into(),
        data_view: "orders".into(),
        margin: HumanDuration(Duration::from_secs(600)),
    };
    let mut e = engine(vec![rule("r", "ERROR", any(), &["sku"])], Some(kibana));
    let mut out = Vec::new();
    e.process(
        &json_event("orders", 0, r#"{"message":"ERROR","sku":"A\"1"}"#),
        &mut out,
    );
    let url = out[0].alert.kibana_url.clone().unwrap();
    assert!(
        url.starts_with("http://kibana:5601/app/discover#/?_g="),
        "{url}"
    );
    let decoded = percent_encoding::percent_decode_str(&url)
        .decode_utf8()
        .unwrap();
    assert!(decoded.contains(r#"(ERROR) AND sku:"A\"1""#), "{decoded}");
    assert!(decoded.contains("index:orders"), "{decoded}");

    // A source with a data view of its own links there; the others keep the global one.
    let kibana = KibanaConfig {
        url: "http://kibana:5601".into(),
        data_view: "orders".into(),
        margin: HumanDuration(Duration::from_secs(600)),
    };
    let mut e = engine(vec![rule("r", "ERROR", any(), &["sku"])], Some(kibana))
        .with_data_views([("orders".to_string(), "3f1c-nginx-view".to_string())].into());
    let mut out = Vec::new();
    e.process(
        &json_event("orders", 0, r#"{"message":"ERROR","sku":"B"}"#),
        &mut out,
    );
    let url = out[0].alert.kibana_url.clone().unwrap();
    assert!(url.contains("index:%273f1c-nginx-view%27"), "{url}");
}
