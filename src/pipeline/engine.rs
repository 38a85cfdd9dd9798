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

use crate::alert::{Admission, Alert, AlertKey, Realert, RealertState, Status};
use crate::clock::Clock;
use crate::decode::FieldSelection;
use crate::event::Event;
use crate::filter::{AcceptAll, LineFilter};
use crate::query::kibana::KibanaConfig;
use crate::query::{Prefilter, Query, RuleSet};
use crate::rule::{KeyedMatch, Match, Rule, StateChange, MISSING_VALUE};
use crate::source::{Checkpoint, SourceClocks};
use crate::store::{Commit, RaisedAlert, RuleReset, RuleStateChange, StateStore, StoreError};

/// Most bytes of one key value an alert shows (its identity keeps the whole value).
const MAX_KEY_VALUE_BYTES: usize = 1024;

/// One rule's counters, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleReport {
    pub rule: String,
    pub keys: u64,
    /// Keys evicted to stay within `max_keys`.
    pub evicted: u64,
    /// Events dropped for arriving later than `allowed_lateness`.
    pub late: u64,
    /// Events its query matched.
    pub matched: u64,
}

/// A rule and what the engine keeps about it while it runs.
struct Running {
    rule: Rule,
    /// The rule's source clock minus `allowed_lateness`, as of the last advance.
    watermark: Option<DateTime<Utc>>,
    /// Events dropped for arriving behind the watermark (clock-fired rules only).
    late: u64,
    /// Events the query matched.
    matched: u64,
}

impl Running {
    fn new(rule: Rule) -> Self {
        Running {
            rule,
            watermark: None,
            late: 0,
            matched: 0,
        }
    }
}

/// The rules that read one source, and the prefilter over their queries.
struct SourceRules {
    /// Indexes into `Engine::rules`, in the order given to the prefilter.
    rules: Vec<usize>,
    prefilter: Arc<Prefilter>,
}

impl SourceRules {
    /// Which of these rules may match `event`, as positions in `rules`: one scan of the
    /// line says whose required literals are in it; only those evaluate their queries.
    fn candidates(&self, event: &Event, into: &mut RuleSet) {
        if self.rules.len() == 1 {
            // One rule: its query decides as fast as the scan would.
            into.clear();
            into.insert(0);
        } else {
            self.prefilter
                .candidate_rules_into(event.raw.as_bytes(), into);
        }
    }
}

pub struct Engine {
    rules: Vec<Running>,
    /// Source name → the rules reading it.
    by_source: HashMap<String, SourceRules>,
    /// Reused for each event's candidate rules.
    candidates: RuleSet,
    realert: Realert,
    kibana: Option<KibanaConfig>,
    /// Sources whose alerts link to a data view of their own.
    data_views: HashMap<String, String>,
    clock: Arc<dyn Clock>,
    clocks: SourceClocks,
    /// Wall time as of the last `advance` (when events were read, to batch precision).
    wall: DateTime<Utc>,
    /// Offline replay: only events move time.
    replay: bool,
    /// Rule state resets to store with the next commit.
    resets: Vec<RuleReset>,
    /// Reused for each event's key text.
    key_buf: Vec<u8>,
    changes: Vec<StateChange>,
    fired: Vec<KeyedMatch>,
    /// (rule, key) whose condition cleared: their alerts resolve.
    cleared: Vec<(String, String)>,
}

impl Engine {
    /// An engine for `klaxon run`: source clocks follow wall time when a source is idle.
    pub fn new(
        rules: Vec<Rule>,
        realert: Vec<RealertState>,
        kibana: Option<KibanaConfig>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::build(rules, realert, kibana, clock, true)
    }

    /// An engine for offline replay (`klaxon test`): only events move time.
    pub fn replay(rules: Vec<Rule>, clock: Arc<dyn Clock>) -> Self {
        Self::build(rules, Vec::new(), None, clock, false)
    }

    fn build(
        rules: Vec<Rule>,
        realert: Vec<RealertState>,
        kibana: Option<KibanaConfig>,
        clock: Arc<dyn Clock>,
        follow_wall: bool,
    ) -> Self {
        let wall = clock.now();
        let sources: Vec<String> = rules.iter().flat_map(|r| r.sources().to_vec()).collect();
        let mut engine = Engine {
            rules: rules.into_iter().map(Running::new).collect(),
            by_source: HashMap::new(),
            candidates: RuleSet::default(),
            realert: Realert::restore(realert),
            kibana,
            data_views: HashMap::new(),
            clock,
            clocks: SourceClocks::new(sources.iter().map(String::as_str), wall, follow_wall),
            wall,
            replay: !follow_wall,
            resets: Vec::new(),
            key_buf: Vec::new(),
            changes: Vec::new(),
            fired: Vec::new(),
            cleared: Vec::new(),
        };
        engine.index();
        engine
    }

    fn index(&mut self) {
        let mut by_source: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in self.rules.iter().enumerate() {
            for s in r.rule.sources() {
                by_source.entry(s.clone()).or_default().push(i);
            }
        }
        self.by_source = by_source
            .into_iter()
            .map(|(source, rules)| {
                let queries: Vec<&Query> =
                    rules.iter().map(|&i| &self.rules[i].rule.query).collect();
                let mut prefilter = Prefilter::new(&queries);
                // Decode only what the rules read, when every rule says what that is.
                let fields: Option<Vec<String>> = rules
                    .iter()
                    .map(|&i| self.rules[i].rule.fields())
                    .try_fold(Vec::new(), |mut all, f| {
                        all.extend(f?);
                        Some(all)
                    });
                if let Some(fields) = fields {
                    prefilter =
                        prefilter.reading(FieldSelection::of(fields.iter().map(String::as_str)));
                }
                let prefilter = Arc::new(prefilter);
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

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|r| &r.rule)
    }

    /// Every source some rule reads.
    pub fn sources(&self) -> Vec<String> {
        let mut all: Vec<String> = self.by_source.keys().cloned().collect();
        all.sort();
        all
    }

    /// Puts back every rule's stored state — for rules whose state identity is unchanged;
    /// the others start empty and their old state is dropped with the next commit — and
    /// the source clocks. State that no longer reads back resets that one rule, with a
    /// warning naming it.
    pub fn restore(&mut self, store: &dyn StateStore) -> Result<(), StoreError> {
        let stored: HashMap<String, String> = store.rule_state_ids()?.into_iter().collect();
        for running in &mut self.rules {
            let rule = &mut running.rule;
            if stored.get(&rule.name).map(String::as_str) != Some(rule.state_id()) {
                self.resets.push(RuleReset {
                    rule: rule.name.clone(),
                    state_id: Some(rule.state_id().to_string()),
                });
                continue;
            }
            let restored = store
                .rule_states(&rule.name)?
                .into_iter()
                .try_for_each(|(key, state)| rule.kind.restore(&key, &state));
            if let Err(e) = restored {
                tracing::warn!(
                    rule = %rule.name,
                    error = %e,
                    "stored state of the rule does not read back; the rule starts empty"
                );
                running.rule.kind.clear_state();
                self.resets.push(RuleReset {
                    rule: running.rule.name.clone(),
                    state_id: Some(running.rule.state_id().to_string()),
                });
            }
        }
        for gone in stored.keys() {
            if !self.rules.iter().any(|r| &r.rule.name == gone) {
                self.resets.push(RuleReset {
                    rule: gone.clone(),
                    state_id: None,
                });
            }
        }
        self.clocks
            .restore(store.source_clocks()?, self.clock.now());
        for running in &mut self.rules {
            let now = self.clocks.event_max(&running.rule.source);
            running.watermark = now.map(|t| behind(t, running.rule.settings.allowed_lateness));
        }
        Ok(())
    }

    /// Run one event through every enabled rule of its source; alerts to send go to `out`.
    pub fn process(&mut self, event: &Event, out: &mut Vec<RaisedAlert>) {
        // Taken out (no allocation) so rules can be driven while it is read.
        let by_source = std::mem::take(&mut self.by_source);
        if let Some(source) = by_source.get(&*event.origin.source) {
            if let Some(whole) = stale_fields(event, &source.prefilter) {
                self.by_source = by_source;
                return self.process(&whole, out);
            }
            if !event.time_guessed {
                self.clocks.saw(&event.origin.source, event.time, self.wall);
            }
            let mut candidates = std::mem::take(&mut self.candidates);
            source.candidates(event, &mut candidates);
            let now = self.clock.now();
            self.process_rules(
                candidates.iter().map(|pos| source.rules[pos]),
                event,
                now,
                out,
            );
            self.candidates = candidates;
        }
        self.by_source = by_source;
    }

    /// An edge's half of [`Engine::process`]: calls `found` with each enabled rule whose
    /// query `event` matches, and the key text the rule would keep its state under. No rule
    /// state, clock or counter changes: the partition owner does that with
    /// [`Engine::process_match`].
    pub fn each_match(&mut self, event: &Event, mut found: impl FnMut(&Rule, &str)) {
        let by_source = std::mem::take(&mut self.by_source);
        if let Some(source) = by_source.get(&*event.origin.source) {
            if let Some(whole) = stale_fields(event, &source.prefilter) {
                self.by_source = by_source;
                return self.each_match(&whole, found);
            }
            let mut candidates = std::mem::take(&mut self.candidates);
            source.candidates(event, &mut candidates);
            let now = self.clock.now();
            for pos in candidates.iter() {
                let running = &mut self.rules[source.rules[pos]];
                let rule = &running.rule;
                if !rule.settings.enabled || !rule.query.matches(event, now) {
                    continue;
                }
                running.matched += 1;
                rule.write_key(event, &mut self.key_buf);
                found(
                    rule,
                    std::str::from_utf8(&self.key_buf).expect("JSON text is UTF-8"),
                );
            }
            self.candidates = candidates;
        }
        self.by_source = by_source;
    }

    /// A worker's half of [`Engine::process`]: `event` was matched by rule `rule` at an
    /// edge; it goes straight to that rule's state (its query is not evaluated again). A
    /// rule this engine does not have (rule files out of step between edge and worker) is
    /// skipped and `false` returned.
    pub fn process_match(&mut self, rule: &str, event: &Event, out: &mut Vec<RaisedAlert>) -> bool {
        let Some(i) = self.rules.iter().position(|r| r.rule.name == rule) else {
            return false;
        };
        if !event.time_guessed {
            self.clocks.saw(&event.origin.source, event.time, self.wall);
        }
        let now = self.clock.now();
        self.evaluate(std::iter::once(i), event, now, out, false);
        true
    }

    fn process_rules(
        &mut self,
        indexes: impl Iterator<Item = usize>,
        event: &Event,
        now: DateTime<Utc>,
        out: &mut Vec<RaisedAlert>,
    ) {
        self.evaluate(indexes, event, now, out, true);
    }

    fn evaluate(
        &mut self,
        indexes: impl Iterator<Item = usize>,
        event: &Event,
        now: DateTime<Utc>,
        out: &mut Vec<RaisedAlert>,
        check_query: bool,
    ) {
        for i in indexes {
            let running = &mut self.rules[i];
            let rule = &mut running.rule;
            if !rule.settings.enabled || (check_query && !rule.query.matches(event, now)) {
                continue;
            }
            running.matched += 1;
            if rule.kind.fires_on_clock() && running.watermark.is_some_and(|w| event.time < w) {
                running.late += 1;
                continue;
            }
            rule.write_key(event, &mut self.key_buf);
            let key = std::str::from_utf8(&self.key_buf).expect("JSON text is UTF-8");
            let found = rule.kind.observe(key, event, now);
            // What the event showed had become true before it is raised first, in order.
            let mut early = std::mem::take(&mut self.fired);
            rule.kind.take_found(&mut early);
            let id = found.as_ref().map(|_| key.to_string());
            for m in early.drain(..) {
                self.raise_keyed(i, m, out);
            }
            self.fired = early;
            let (Some(found), Some(id)) = (found, id) else {
                continue;
            };
            let key = self.rules[i].rule.key_of(event);
            let fired_at = self.clock.now();
            self.raise(i, &id, key, found, fired_at, out);
        }
    }

    /// Moves every rule's watermark to its source's clock now (minus `allowed_lateness`)
    /// and raises what clock-fired rules found.
    pub fn advance(&mut self, out: &mut Vec<RaisedAlert>) {
        let wall = self.clock.now();
        self.wall = wall;
        let mut now = BTreeMap::new();
        for running in &self.rules {
            let source = &running.rule.source;
            if !now.contains_key(source) {
                now.insert(source.clone(), self.clocks.now(source, wall));
            }
        }
        for i in 0..self.rules.len() {
            let rule = &self.rules[i].rule;
            let Some(Some(t)) = now.get(&rule.source) else {
                continue;
            };
            let wm = behind(*t, rule.settings.allowed_lateness);
            self.advance_rule(i, wm, out);
        }
    }

    /// End of input (offline replay): every rule's watermark goes to the newest event time
    /// of its source, so deadlines that passed by then fire.
    pub fn finish(&mut self, out: &mut Vec<RaisedAlert>) {
        for i in 0..self.rules.len() {
            if let Some(end) = self.clocks.event_max(&self.rules[i].rule.source) {
                self.advance_rule(i, end, out);
            }
        }
    }

    fn advance_rule(&mut self, i: usize, wm: DateTime<Utc>, out: &mut Vec<RaisedAlert>) {
        let running = &mut self.rules[i];
        if running.watermark.is_some_and(|w| wm <= w) || !running.rule.settings.enabled {
            return;
        }
        running.watermark = Some(wm);
        let mut cleared = Vec::new();
        running.rule.kind.settle(wm, &mut cleared);
        let name = &running.rule.name;
        self.cleared
            .extend(cleared.into_iter().map(|key| (name.clone(), key)));
        if !running.rule.kind.fires_on_clock() {
            return;
        }
        let mut fired = std::mem::take(&mut self.fired);
        running.rule.kind.advance(wm, &mut fired);
        for m in fired.drain(..) {
            self.raise_keyed(i, m, out);
        }
        self.fired = fired;
    }

    /// Raises a match of rule `i` for an instant of the clock (`m.due`), for the key its
    /// state is stored under.
    fn raise_keyed(&mut self, i: usize, m: KeyedMatch, out: &mut Vec<RaisedAlert>) {
        let rule = &self.rules[i].rule;
        // Clock-fired matches carry the key text their state is stored under; the pairs
        // are read back once per alert.
        let key = AlertKey::from_id(&m.key).unwrap_or_default();
        let now = self.clock.now();
        // A replay learns of a deadline only when a later event arrives; live, the alert
        // would have gone out once the clock passed it (plus the lateness). A rule that is
        // not clock-fired learns of it with the event, live as in a replay.
        let fired_at = if self.replay && rule.kind.fires_on_clock() {
            let due = m.due.checked_add_signed(rule.settings.allowed_lateness);
            due.map_or(now, |due| due.min(now))
        } else {
            now
        };
        self.raise(i, &m.key, key, m.found, fired_at, out);
    }

    /// Realert, then the alert for rule `i` and `key` (`id` is its canonical text).
    fn raise(
        &mut self,
        i: usize,
        id: &str,
        key: AlertKey,
        m: Match,
        fired_at: DateTime<Utc>,
        out: &mut Vec<RaisedAlert>,
    ) {
        let rule = &self.rules[i].rule;
        let settings = &rule.settings;
        // A match that is an alert of its own (a new term) is one by its key as well.
        let (key, id) = if m.identity.is_empty() {
            (key, std::borrow::Cow::Borrowed(id))
        } else {
            let mut key = key;
            for (field, value) in &m.identity {
                key.insert(field.as_str(), value.as_str());
            }
            let id = key.id();
            (key, std::borrow::Cow::Owned(id))
        };
        let Admission::Send { held_back } =
            self.realert
                .admit(&rule.name, &id, m.last_seen, settings.realert)
        else {
            return;
        };
        // Lucene's own precedence differs from Klaxon's, so Discover gets the query
        // re-printed to mean there what it means here.
        let kibana_url = self.kibana.as_ref().map(|k| {
            let pairs = key
                .iter()
                .map(|(f, v)| (f, (v != MISSING_VALUE).then_some(v)));
            let view = self
                .data_views
                .get(&rule.source)
                .map_or(k.data_view.as_str(), String::as_str);
            k.alert_link_in(
                view,
                &rule.query.to_lucene(),
                pairs,
                m.first_seen,
                m.last_seen,
            )
        });
        // A 150 KB value must not make every message about it undeliverable.
        let key = key.clipped(MAX_KEY_VALUE_BYTES);
        let alert = Alert {
            rule: rule.name.clone(),
            description: settings.description.clone(),
            severity: settings.severity,
            source: rule.source.clone(),
            query: rule.query.text().to_string(),
            key,
            count: m.count,
            window: settings.counted_over.map(|w| w.to_string()),
            distinct: settings.counts_distinct,
            first_seen: m.first_seen,
            last_seen: m.last_seen,
            sample: m.sample,
            detail: m.detail,
            held_back,
            fired_at,
            kibana_url,
            ack_url: None,
            labels: settings.labels.clone(),
            id: None,
            status: Status::Firing,
            acknowledged_by: None,
            escalation: None,
        };
        out.push(RaisedAlert {
            alert,
            channels: settings.notify.clone(),
            escalation: settings.escalation.clone(),
        });
    }

    /// The (rule, key) pairs whose condition cleared since the last call.
    pub fn take_cleared(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.cleared)
    }

    /// Realert state changed since the last call, to commit with the batch.
    /// Per rule, alerts realert is holding back that no later alert has reported yet.
    pub fn held_back_pending(&self) -> std::collections::HashMap<String, u64> {
        self.realert.pending_by_rule()
    }

    pub fn take_realert_changes(&mut self) -> Vec<RealertState> {
        self.realert.take_changes()
    }

    /// What a handled batch commits, taken at `at` (the pipeline's clock): the files'
    /// `checkpoints`, the `alerts` raised, and everything the engine changed since the last
    /// call (realert state, rule state resets and changed keys, moved source clocks).
    pub fn commit(
        &mut self,
        at: DateTime<Utc>,
        checkpoints: Vec<Checkpoint>,
        alerts: Vec<RaisedAlert>,
    ) -> Commit {
        let mut commit = Commit {
            at,
            checkpoints,
            alerts,
            ..Commit::default()
        };
        commit.realert.extend(self.realert.take_changes());
        commit.rule_resets.append(&mut self.resets);
        for running in &mut self.rules {
            running.rule.kind.take_changes(&mut self.changes);
            let name = &running.rule.name;
            commit
                .rule_state
                .extend(self.changes.drain(..).map(|c| RuleStateChange {
                    rule: name.clone(),
                    key: c.key,
                    state: c.state,
                }));
        }
        commit.clocks.extend(self.clocks.take_changes());
        commit
    }

    /// Swaps in a new set of rules (a reload). A rule with the same name and state
    /// identity as a running one keeps its state (and takes the new delivery settings);
    /// any other starts empty, and the state of changed or removed rules is dropped with
    /// the next commit.
    pub fn replace_rules(&mut self, rules: Vec<Rule>) {
        let mut old: HashMap<String, Running> = self
            .rules
            .drain(..)
            .map(|r| (r.rule.name.clone(), r))
            .collect();
        let wall = self.clock.now();
        for rule in rules {
            let mut running = Running::new(rule);
            match old.remove(&running.rule.name) {
                Some(prev) if prev.rule.state_id() == running.rule.state_id() => {
                    running.rule.kind = prev.rule.kind;
                    running
                        .rule
                        .kind
                        .set_max_keys(running.rule.settings.max_keys);
                    running.watermark = prev.watermark;
                    running.late = prev.late;
                    running.matched = prev.matched;
                }
                _ => self.resets.push(RuleReset {
                    rule: running.rule.name.clone(),
                    state_id: Some(running.rule.state_id().to_string()),
                }),
            }
            for s in running.rule.sources() {
                self.clocks.add(s, wall);
            }
            self.rules.push(running);
        }
        for gone in old.into_keys() {
            self.resets.push(RuleReset {
                rule: gone,
                state_id: None,
            });
        }
        self.index();
    }

    /// Counters of every rule.
    /// Each source's own Kibana data view (`sources.<name>.kibana.data_view`).
    pub fn with_data_views(mut self, data_views: HashMap<String, String>) -> Self {
        self.data_views = data_views;
        self
    }

    /// What an Elasticsearch source searches for: the queries of the rules reading it,
    /// OR-ed (`None` when none does).
    pub fn search_query(&self, source: &str) -> Option<serde_json::Value> {
        crate::source::elasticsearch::SearchQuery::any_of(
            self.rules()
                .filter(|r| r.source == source)
                .map(|r| r.query.to_elasticsearch())
                .collect(),
        )
    }

    /// The newest event time a source's events carried.
    pub fn event_time(&self, source: &str) -> Option<DateTime<Utc>> {
        self.clocks.event_max(source)
    }

    pub fn reports(&self) -> Vec<RuleReport> {
        self.rules
            .iter()
            .map(|r| {
                let s = r.rule.stats();
                RuleReport {
                    rule: r.rule.name.clone(),
                    keys: s.keys,
                    evicted: s.evicted,
                    late: r.late,
                    matched: r.matched,
                }
            })
            .collect()
    }
}

/// `t` minus `lateness`, or the start of time.
fn behind(t: DateTime<Utc>, lateness: chrono::Duration) -> DateTime<Utc> {
    t.checked_sub_signed(lateness)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `event` decoded whole again when it was decoded for another rule set's fields than the
/// source's rules now read (it was read before a reload); `None` when its fields serve.
fn stale_fields(event: &Event, prefilter: &Prefilter) -> Option<Event> {
    let had = event.fields_for?;
    if prefilter
        .field_selection()
        .is_some_and(|now| now.id() == had)
    {
        return None;
    }
    let fields = crate::decode::all_json_fields(&event.raw)?;
    Some(Event {
        fields: Some(fields),
        fields_for: None,
        ..event.clone()
    })
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
