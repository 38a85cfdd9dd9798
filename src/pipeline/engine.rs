//! The synchronous heart of the pipeline: event → query → rule type → realert → alert.
//! No I/O here, so `klaxon run`, `klaxon test` and unit tests all drive the same code.
//!
//! Besides events, the engine is driven by time: [`Engine::advance`] moves every rule's
//! watermark (its source's clock minus `allowed_lateness`) so clock-fired rules fire, and
//! [`Engine::finish`] ends an offline replay. Every change to rule state, realert state and
//! the source clocks is handed out by [`Engine::fill_commit`] to be stored with the batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::compiled::CompiledRule;
use crate::alert::RealertState;
use crate::alert::{Admission, Alert, Realert};
use crate::clock::Clock;
use crate::config::{KibanaConfig, RuleConfig};
use crate::event::Event;
use crate::filter::{AcceptAll, LineFilter};
use crate::query::{self, Prefilter, Query, RuleSet};
use crate::rule::{KeyedMatch, Match, StateChange};
use crate::source::SourceClocks;
use crate::store::{Commit, RaisedAlert, RuleReset, RuleStateChange, StateStore, StoreError};

pub use super::compiled::MISSING_VALUE;

/// One rule's counters, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleReport {
    pub rule: String,
    pub keys: u64,
    /// Keys evicted to stay within `max_keys`.
    pub evicted: u64,
    /// Events dropped for arriving later than `allowed_lateness`.
    pub late: u64,
}

/// The rules that read one source, and the prefilter over their queries.
struct SourceRules {
    /// Indexes into `Engine::rules`, in the order given to the prefilter.
    rules: Vec<usize>,
    prefilter: Arc<Prefilter>,
}

pub struct Engine {
    rules: Vec<CompiledRule>,
    /// Source name → the rules reading it.
    by_source: HashMap<String, SourceRules>,
    /// Reused for each event's candidate rules.
    candidates: RuleSet,
    realert: Realert,
    kibana: Option<KibanaConfig>,
    clock: Arc<dyn Clock>,
    clocks: SourceClocks,
    /// Wall time as of the last `advance` (when events were read, to batch precision).
    wall: DateTime<Utc>,
    /// Rule state resets to store with the next commit.
    resets: Vec<RuleReset>,
    /// Reused for each event's key text.
    key_buf: Vec<u8>,
    changes: Vec<StateChange>,
    fired: Vec<KeyedMatch>,
}

impl Engine {
    /// An engine for `klaxon run`: source clocks follow wall time when a source is idle.
    pub fn new(
        rules: Vec<CompiledRule>,
        realert: Vec<RealertState>,
        kibana: Option<KibanaConfig>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::build(rules, realert, kibana, clock, true)
    }

    /// An engine for offline replay (`klaxon test`): only events move time.
    pub fn replay(rules: Vec<CompiledRule>, clock: Arc<dyn Clock>) -> Self {
        Self::build(rules, Vec::new(), None, clock, false)
    }

    fn build(
        rules: Vec<CompiledRule>,
        realert: Vec<RealertState>,
        kibana: Option<KibanaConfig>,
        clock: Arc<dyn Clock>,
        follow_wall: bool,
    ) -> Self {
        let wall = clock.now();
        let sources: Vec<String> = rules.iter().flat_map(|r| r.sources().to_vec()).collect();
        let mut engine = Engine {
            rules,
            by_source: HashMap::new(),
            candidates: RuleSet::default(),
            realert: Realert::restore(realert),
            kibana,
            clock,
            clocks: SourceClocks::new(sources.iter().map(String::as_str), wall, follow_wall),
            wall,
            resets: Vec::new(),
            key_buf: Vec::new(),
            changes: Vec::new(),
            fired: Vec::new(),
        };
        engine.index();
        engine
    }

    fn index(&mut self) {
        let mut by_source: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in self.rules.iter().enumerate() {
            for s in r.sources() {
                by_source.entry(s.clone()).or_default().push(i);
            }
        }
        self.by_source = by_source
            .into_iter()
            .map(|(source, rules)| {
                let queries: Vec<&Query> = rules.iter().map(|&i| &self.rules[i].query).collect();
                let prefilter = Arc::new(Prefilter::new(&queries));
                (source, SourceRules { rules, prefilter })
            })
            .collect();
    }

    /// The prefilter over the queries of every rule reading `source`: sources apply it to
    /// what they read, so lines no rule can match are never decoded.
    pub fn prefilter(&self, source: &str) -> Arc<dyn LineFilter> {
        match self.by_source.get(source) {
            Some(s) => s.prefilter.clone(),
            None => Arc::new(AcceptAll),
        }
    }

    pub fn rules(&self) -> impl Iterator<Item = &RuleConfig> {
        self.rules.iter().map(|r| &r.config)
    }

    /// Puts back every rule's stored state — for rules whose meaning is unchanged; the
    /// others start empty and their old state is dropped with the next commit — and the
    /// source clocks.
    pub fn restore(&mut self, store: &dyn StateStore) -> Result<(), StoreError> {
        let stored: HashMap<String, String> = store.rule_meanings()?.into_iter().collect();
        for rule in &mut self.rules {
            let name = &rule.config.name;
            if stored.get(name).map(String::as_str) != Some(rule.meaning()) {
                self.resets.push(RuleReset {
                    rule: name.clone(),
                    meaning: Some(rule.meaning().to_string()),
                });
                continue;
            }
            for (key, state) in store.rule_states(name)? {
                rule.kind
                    .restore(&key, &state)
                    .map_err(|e| StoreError::CorruptRuleState {
                        rule: name.clone(),
                        message: e.to_string(),
                    })?;
            }
        }
        for gone in stored.keys() {
            if !self.rules.iter().any(|r| &r.config.name == gone) {
                self.resets.push(RuleReset {
                    rule: gone.clone(),
                    meaning: None,
                });
            }
        }
        self.clocks
            .restore(store.source_clocks()?, self.clock.now());
        for rule in &mut self.rules {
            let now = self.clocks.event_max(&rule.config.source);
            rule.watermark = now.map(|t| t - rule.config.allowed_lateness());
        }
        Ok(())
    }

    /// Run one event through every enabled rule of its source; alerts to send go to `out`.
    pub fn process(&mut self, event: &Event, out: &mut Vec<RaisedAlert>) {
        // Taken out (no allocation) so rules can be driven while it is read.
        let by_source = std::mem::take(&mut self.by_source);
        if let Some(source) = by_source.get(&*event.origin.source) {
            self.clocks.saw(&event.origin.source, event.time, self.wall);
            // One scan of the line says which rules' required literals are in it; only
            // those rules evaluate their queries.
            let mut candidates = std::mem::take(&mut self.candidates);
            source
                .prefilter
                .candidate_rules_into(event.raw.as_bytes(), &mut candidates);
            self.process_rules(candidates.iter().map(|pos| source.rules[pos]), event, out);
            self.candidates = candidates;
        }
        self.by_source = by_source;
    }

    fn process_rules(
        &mut self,
        indexes: impl Iterator<Item = usize>,
        event: &Event,
        out: &mut Vec<RaisedAlert>,
    ) {
        for i in indexes {
            let rule = &mut self.rules[i];
            if !rule.config.enabled || !Self::matches(rule, event) {
                continue;
            }
            if rule.kind.fires_on_clock() && rule.watermark.is_some_and(|w| event.time < w) {
                rule.late += 1;
                continue;
            }
            rule.write_key(event, &mut self.key_buf);
            let key = std::str::from_utf8(&self.key_buf).expect("JSON text is UTF-8");
            let Some(found) = rule.kind.observe(key, event) else {
                continue;
            };
            let key = key.to_string();
            self.raise(i, &key, found, out);
        }
    }

    /// The matching step: whether `rule` sees `event` at all (after the prefilter found
    /// its required literals in the line).
    fn matches(rule: &CompiledRule, event: &Event) -> bool {
        rule.query.matches(event)
    }

    /// Moves every rule's watermark to its source's clock now (minus `allowed_lateness`)
    /// and raises what clock-fired rules found.
    pub fn advance(&mut self, out: &mut Vec<RaisedAlert>) {
        let wall = self.clock.now();
        self.wall = wall;
        let mut now = BTreeMap::new();
        for rule in &self.rules {
            let source = &rule.config.source;
            if !now.contains_key(source) {
                now.insert(source.clone(), self.clocks.now(source, wall));
            }
        }
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            let Some(Some(t)) = now.get(&rule.config.source) else {
                continue;
            };
            let wm = *t - rule.config.allowed_lateness();
            self.advance_rule(i, wm, out);
        }
    }

    /// End of input (offline replay): every rule's watermark goes to the newest event time
    /// of its source, so deadlines that passed by then fire.
    pub fn finish(&mut self, out: &mut Vec<RaisedAlert>) {
        for i in 0..self.rules.len() {
            if let Some(end) = self.clocks.event_max(&self.rules[i].config.source) {
                self.advance_rule(i, end, out);
            }
        }
    }

    fn advance_rule(&mut self, i: usize, wm: DateTime<Utc>, out: &mut Vec<RaisedAlert>) {
        let rule = &mut self.rules[i];
        if rule.watermark.is_some_and(|w| wm <= w) || !rule.config.enabled {
            return;
        }
        rule.watermark = Some(wm);
        if !rule.kind.fires_on_clock() {
            return;
        }
        let mut fired = std::mem::take(&mut self.fired);
        rule.kind.advance(wm, &mut fired);
        for m in fired.drain(..) {
            self.raise(i, &m.key, m.found, out);
        }
        self.fired = fired;
    }

    /// Realert, then the alert for rule `i` and `key` (canonical text).
    fn raise(&mut self, i: usize, key: &str, m: Match, out: &mut Vec<RaisedAlert>) {
        let config = &self.rules[i].config;
        let realert = config.realert.as_chrono();
        let Admission::Send { held_back } =
            self.realert.admit(&config.name, key, m.last_seen, realert)
        else {
            return;
        };
        let key: BTreeMap<String, String> = serde_json::from_str(key).unwrap_or_default();
        // Lucene's own precedence differs from Klaxon's, so Discover gets the query
        // re-printed to mean there what it means here.
        let kibana_url = self.kibana.as_ref().map(|k| {
            let lucene = self.rules[i].query.to_lucene();
            kibana_link(k, &lucene, &key, m.first_seen, m.last_seen)
        });
        let alert = Alert {
            rule: config.name.clone(),
            description: config.description.clone(),
            severity: config.severity,
            source: config.source.clone(),
            query: config.query.clone(),
            key,
            count: m.count,
            first_seen: m.first_seen,
            last_seen: m.last_seen,
            sample: m.sample,
            detail: m.detail,
            held_back,
            fired_at: self.clock.now(),
            kibana_url,
        };
        out.push(RaisedAlert {
            alert,
            channels: config.notify.clone(),
        });
    }

    /// Realert state changed since the last call, to commit with the batch.
    pub fn take_realert_changes(&mut self) -> Vec<RealertState> {
        self.realert.take_changes()
    }

    /// Adds everything the engine changed since the last call to `commit`: realert state,
    /// rule state resets and changed keys, moved source clocks.
    pub fn fill_commit(&mut self, commit: &mut Commit) {
        commit.realert.extend(self.realert.take_changes());
        commit.rule_resets.append(&mut self.resets);
        for rule in &mut self.rules {
            rule.kind.take_changes(&mut self.changes);
            let name = &rule.config.name;
            commit
                .rule_state
                .extend(self.changes.drain(..).map(|c| RuleStateChange {
                    rule: name.clone(),
                    key: c.key,
                    state: c.state,
                }));
        }
        commit.clocks.extend(self.clocks.take_changes());
    }

    /// Swaps in a new set of rules (a reload). A rule with the same name and meaning as a
    /// running one keeps its state (and takes the new delivery settings); any other starts
    /// empty, and the state of changed or removed rules is dropped with the next commit.
    pub fn replace_rules(&mut self, rules: Vec<CompiledRule>) {
        let mut old: HashMap<String, CompiledRule> = self
            .rules
            .drain(..)
            .map(|r| (r.config.name.clone(), r))
            .collect();
        let wall = self.clock.now();
        for mut rule in rules {
            match old.remove(&rule.config.name) {
                Some(prev) if prev.meaning() == rule.meaning() => {
                    rule.kind = prev.kind;
                    rule.watermark = prev.watermark;
                    rule.late = prev.late;
                }
                _ => self.resets.push(RuleReset {
                    rule: rule.config.name.clone(),
                    meaning: Some(rule.meaning().to_string()),
                }),
            }
            for s in rule.sources() {
                self.clocks.add(s, wall);
            }
            self.rules.push(rule);
        }
        for gone in old.into_keys() {
            self.resets.push(RuleReset {
                rule: gone,
                meaning: None,
            });
        }
        self.index();
    }

    /// Counters of every rule.
    pub fn reports(&self) -> Vec<RuleReport> {
        self.rules
            .iter()
            .map(|r| {
                let s = r.stats();
                RuleReport {
                    rule: r.config.name.clone(),
                    keys: s.keys,
                    evicted: s.evicted,
                    late: r.late_events(),
                }
            })
            .collect()
    }
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
    use crate::pipeline::{group_key, CompiledRule};
    use crate::query::QueryOptions;
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
            notify: vec!["ops".into()],
            ..RuleConfig::default()
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
