//! The synchronous heart of the pipeline: event → query → rule type → realert → alert.
//! No I/O here, so `klaxon run`, `klaxon test` and unit tests all drive the same code.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::alert::{key_id, Admission, Alert, Realert};
use crate::clock::Clock;
use crate::config::{KibanaConfig, RuleConfig};
use crate::event::Event;
use crate::query::{self, Query, QueryError, QueryOptions};
use crate::rule::{self, RuleType};
use crate::store::{RaisedAlert, RealertState};

/// Shown as the value of a `group_by` field an event does not have.
pub const MISSING_VALUE: &str = "(missing)";

/// A rule ready to run: its config, its compiled query and its counting state.
pub struct CompiledRule {
    pub config: RuleConfig,
    pub query: Query,
    kind: Box<dyn RuleType>,
}

impl CompiledRule {
    pub fn compile(config: RuleConfig, options: &QueryOptions) -> Result<Self, QueryError> {
        let query = query::parse(&config.query, options)?;
        let kind = rule::build(&config);
        Ok(CompiledRule {
            config,
            query,
            kind,
        })
    }
}

pub struct Engine {
    rules: Vec<CompiledRule>,
    /// Source name → indexes into `rules`.
    by_source: HashMap<String, Vec<usize>>,
    realert: Realert,
    kibana: Option<KibanaConfig>,
    clock: Arc<dyn Clock>,
}

impl Engine {
    pub fn new(
        rules: Vec<CompiledRule>,
        realert: Vec<RealertState>,
        kibana: Option<KibanaConfig>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut by_source: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            by_source
                .entry(r.config.source.clone())
                .or_default()
                .push(i);
        }
        Engine {
            rules,
            by_source,
            realert: Realert::restore(realert),
            kibana,
            clock,
        }
    }

    pub fn rules(&self) -> impl Iterator<Item = &RuleConfig> {
        self.rules.iter().map(|r| &r.config)
    }

    /// Run one event through every enabled rule of its source; alerts to send go to `out`.
    pub fn process(&mut self, event: &Event, out: &mut Vec<RaisedAlert>) {
        let Some(indexes) = self.by_source.get(&*event.origin.source) else {
            return;
        };
        for &i in indexes {
            let rule = &mut self.rules[i];
            if !rule.config.enabled || !rule.query.matches(event) {
                continue;
            }
            let key = group_key(&rule.config.group_by, event);
            let id = key_id(&key);
            let Some(m) = rule.kind.observe(&id, event) else {
                continue;
            };
            let realert = rule.config.realert.as_chrono();
            let Admission::Send { held_back } =
                self.realert
                    .admit(&rule.config.name, &id, m.last_seen, realert)
            else {
                continue;
            };
            let kibana_url = self
                .kibana
                .as_ref()
                .map(|k| kibana_link(k, &rule.config.query, &key, m.first_seen, m.last_seen));
            let alert = Alert {
                rule: rule.config.name.clone(),
                description: rule.config.description.clone(),
                severity: rule.config.severity,
                source: rule.config.source.clone(),
                query: rule.config.query.clone(),
                key,
                count: m.count,
                first_seen: m.first_seen,
                last_seen: m.last_seen,
                sample: m.sample,
                held_back,
                fired_at: self.clock.now(),
                kibana_url,
            };
            out.push(RaisedAlert {
                alert,
                channels: rule.config.notify.clone(),
            });
        }
    }

    /// Realert state changed since the last call, to commit with the batch.
    pub fn take_realert_changes(&mut self) -> Vec<RealertState> {
        self.realert.take_changes()
    }
}

/// The event's values of the `group_by` fields.
pub fn group_key(fields: &[String], event: &Event) -> BTreeMap<String, String> {
    fields
        .iter()
        .map(|f| {
            let v = event.text(f).map(|v| v.into_owned());
            (f.clone(), v.unwrap_or_else(|| MISSING_VALUE.to_string()))
        })
        .collect()
}

/// A Discover link showing the rule's query, narrowed to the alert's key, around the matches.
fn kibana_link(
    kibana: &KibanaConfig,
    rule_query: &str,
    key: &BTreeMap<String, String>,
    first_seen: chrono::DateTime<chrono::Utc>,
    last_seen: chrono::DateTime<chrono::Utc>,
) -> String {
    let mut q = if key.is_empty() {
        rule_query.to_string()
    } else {
        format!("({rule_query})")
    };
    for (field, value) in key {
        if value == MISSING_VALUE {
            q.push_str(&format!(" AND NOT _exists_:{field}"));
        } else {
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            q.push_str(&format!(" AND {field}:\"{escaped}\""));
        }
    }
    let margin = kibana.margin.as_chrono();
    query::kibana::discover_url(
        &kibana.url,
        &kibana.data_view,
        &q,
        first_seen - margin,
        last_seen + margin,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::{HumanDuration, RuleKind};
    use crate::event::Origin;
    use chrono::{TimeZone, Utc};
    use std::time::Duration;

    fn rule(name: &str, query: &str, kind: RuleKind, group_by: &[&str]) -> RuleConfig {
        RuleConfig {
            name: name.into(),
            source: "orders".into(),
            query: query.into(),
            kind,
            threshold: Some(2),
            window: Some(HumanDuration(Duration::from_secs(60))),
            group_by: group_by.iter().map(|s| s.to_string()).collect(),
            realert: HumanDuration(Duration::from_secs(600)),
            severity: Default::default(),
            notify: vec!["ops".into()],
            description: None,
            enabled: true,
        }
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
        }
    }

    fn engine(rules: Vec<RuleConfig>, kibana: Option<KibanaConfig>) -> Engine {
        let compiled = rules
            .into_iter()
            .map(|r| CompiledRule::compile(r, &QueryOptions::default()).unwrap())
            .collect();
        let clock = Arc::new(ManualClock::new(
            Utc.timestamp_opt(1_780_000_100, 0).unwrap(),
        ));
        Engine::new(compiled, Vec::new(), kibana, clock)
    }

    #[test]
    fn only_rules_of_the_event_source_see_it() {
        let mut e = engine(vec![rule("r", "ERROR", RuleKind::Any, &[])], None);
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
        let mut e = engine(
            vec![rule("r", "ERROR", RuleKind::Frequency, &["sku"])],
            None,
        );
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
        assert_eq!(a.key.get("sku").map(String::as_str), Some("A"));
        assert_eq!(
            (a.count, a.sample.as_str()),
            (2, r#"{"message":"ERROR a","sku":"A"}"#)
        );
        let changes = e.take_realert_changes();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].held_back, 1);
        assert_eq!(
            group_key(&["sku".into()], &json_event("orders", 0, "{}"))["sku"],
            MISSING_VALUE
        );
    }

    #[test]
    fn alerts_link_to_kibana_narrowed_to_their_key() {
        let kibana = KibanaConfig {
            url: "http://kibana:5601".into(),
            data_view: "orders".into(),
            margin: HumanDuration(Duration::from_secs(600)),
        };
        let mut e = engine(
            vec![rule("r", "ERROR", RuleKind::Any, &["sku"])],
            Some(kibana),
        );
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
    }
}
