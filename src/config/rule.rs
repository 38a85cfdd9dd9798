//! One rule file: what to match, how to count it, whom to tell.
//!
//! Every rule type reads the common keys (`name` … `enabled`); the type-specific keys are
//! optional here and `validate.rs` checks which type needs or forbids which.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::alert::Severity;
use crate::rule::{MetricKind, MismatchSide, SpikeDirection};
use crate::types::HumanDuration;

use crate::rule::{DEFAULT_ALLOWED_LATENESS, DEFAULT_MAX_KEYS};

/// A rule as written in `rules/*.yaml`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name; the alert identity is this name plus the `group_by` values.
    pub name: String,
    /// Name of a source in klaxon.yaml.
    pub source: String,
    /// Lucene/Kibana-style query: the events this rule sees at all.
    pub query: String,
    #[serde(rename = "type", default)]
    pub kind: RuleKind,
    /// `frequency`: fire at this many matches within `window`; `flatline`: fire below it.
    #[serde(default)]
    pub threshold: Option<u64>,
    #[serde(default)]
    pub window: Option<HumanDuration>,
    /// Fields whose values split matches into independent keys.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// After an alert for a key, hold back further alerts for that key this long (default 1m).
    #[serde(default = "default_realert")]
    pub realert: HumanDuration,
    #[serde(default)]
    pub severity: Severity,
    /// Channel names from klaxon.yaml.
    pub notify: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,

    /// Events this far behind the source's clock still count (default 30s); later ones are
    /// dropped (counted) by rules that fire on the clock.
    #[serde(default)]
    pub allowed_lateness: Option<HumanDuration>,
    /// Most keys kept in memory; the least recently seen is evicted beyond it (counted).
    #[serde(default)]
    pub max_keys: Option<usize>,
    /// `flatline`: forget a key once it has fired (it comes back with its next event).
    #[serde(default)]
    pub forget_keys: bool,
    /// `spike`: how many times bigger one window must be than the other.
    #[serde(default)]
    pub spike_height: Option<f64>,
    #[serde(default)]
    pub spike_type: Option<SpikeDirection>,
    /// `spike`: least count in the current window for an alert.
    #[serde(default)]
    pub threshold_cur: Option<u64>,
    /// `spike`: least count in the reference (previous) window for an alert.
    #[serde(default)]
    pub threshold_ref: Option<u64>,
    /// `change`, `blacklist`, `whitelist`, `new_term`, `cardinality`, `metric`: the field read.
    #[serde(default)]
    pub field: Option<String>,
    /// `new_term`: a tuple of fields whose combined value is the term.
    #[serde(default)]
    pub fields: Vec<String>,
    /// `blacklist` / `whitelist`: the listed values.
    #[serde(default)]
    pub values: Vec<String>,
    /// `blacklist` / `whitelist`: a file of values, one per line (`#` comments), relative to
    /// the rule file.
    #[serde(default)]
    pub values_file: Option<PathBuf>,
    /// `change`: the order values normally move in; only a move backwards fires.
    #[serde(default)]
    pub sequence: Vec<String>,
    /// `new_term`: how long terms are learned silently before new ones fire (default 1h).
    #[serde(default)]
    pub learning: Option<HumanDuration>,
    #[serde(default)]
    pub max_cardinality: Option<u64>,
    #[serde(default)]
    pub min_cardinality: Option<u64>,
    /// `metric`: min, max, avg, sum, or p50…p99.
    #[serde(default)]
    pub metric: Option<MetricKind>,
    /// `metric`: fire when the value goes above this.
    #[serde(default)]
    pub above: Option<f64>,
    /// `metric`: fire when the value goes below this.
    #[serde(default)]
    pub below: Option<f64>,
    /// `absence`: the query of the event that must be followed.
    #[serde(default)]
    pub start: Option<String>,
    /// `absence`: the query of the event that must follow.
    #[serde(default)]
    pub expect: Option<String>,
    /// `absence`: how long after `start` the `expect` event may come.
    #[serde(default)]
    pub within: Option<HumanDuration>,
    /// `mismatch`: one reporter of the fact.
    #[serde(default)]
    pub left: Option<MismatchSide>,
    /// `mismatch`: the other reporter of the fact.
    #[serde(default)]
    pub right: Option<MismatchSide>,
}

fn default_realert() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(60))
}

fn default_true() -> bool {
    true
}

impl Default for RuleConfig {
    /// An `any` rule with every optional key unset (for building rules in code and tests).
    fn default() -> Self {
        RuleConfig {
            name: String::new(),
            source: String::new(),
            query: String::new(),
            kind: RuleKind::Any,
            threshold: None,
            window: None,
            group_by: Vec::new(),
            realert: default_realert(),
            severity: Severity::default(),
            notify: Vec::new(),
            description: None,
            enabled: true,
            allowed_lateness: None,
            max_keys: None,
            forget_keys: false,
            spike_height: None,
            spike_type: None,
            threshold_cur: None,
            threshold_ref: None,
            field: None,
            fields: Vec::new(),
            values: Vec::new(),
            values_file: None,
            sequence: Vec::new(),
            learning: None,
            max_cardinality: None,
            min_cardinality: None,
            metric: None,
            above: None,
            below: None,
            start: None,
            expect: None,
            within: None,
            left: None,
            right: None,
        }
    }
}

impl RuleConfig {
    pub fn allowed_lateness(&self) -> chrono::Duration {
        self.allowed_lateness
            .unwrap_or(HumanDuration(DEFAULT_ALLOWED_LATENESS))
            .as_chrono()
    }

    pub fn max_keys(&self) -> usize {
        self.max_keys.unwrap_or(DEFAULT_MAX_KEYS).max(1)
    }

    /// What the rule's stored state means: every key that changes how events are counted.
    /// Two versions of a rule with the same meaning share state across restarts and
    /// reloads; `notify`, `severity`, `description`, `realert`, `enabled`, `max_keys` and
    /// `allowed_lateness` can change without losing it.
    pub fn meaning(&self) -> String {
        let counting = RuleConfig {
            name: self.name.clone(),
            source: self.source.clone(),
            query: self.query.clone(),
            kind: self.kind,
            threshold: self.threshold,
            window: self.window,
            group_by: self.group_by.clone(),
            forget_keys: self.forget_keys,
            spike_height: self.spike_height,
            spike_type: self.spike_type,
            threshold_cur: self.threshold_cur,
            threshold_ref: self.threshold_ref,
            field: self.field.clone(),
            fields: self.fields.clone(),
            sequence: self.sequence.clone(),
            learning: self.learning,
            max_cardinality: self.max_cardinality,
            min_cardinality: self.min_cardinality,
            metric: self.metric,
            above: self.above,
            below: self.below,
            start: self.start.clone(),
            expect: self.expect.clone(),
            within: self.within,
            left: self.left.clone(),
            right: self.right.clone(),
            // Stateless inputs (lists) and delivery settings do not change stored state.
            ..RuleConfig::default()
        };
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{counting:?}").as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `values_file` made absolute against the directory of the rule file at `rule_path`.
    pub fn resolve_paths(&mut self, rule_path: &Path) {
        if let Some(file) = &self.values_file {
            if file.is_relative() {
                let base = rule_path.parent().unwrap_or(Path::new(""));
                self.values_file = Some(base.join(file));
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Every matching event is a match.
    #[default]
    Any,
    /// `threshold` matches within `window`, per key.
    Frequency,
    /// Fewer than `threshold` matches within `window`, per key, on the clock.
    Flatline,
    /// The count in the current `window` vs the previous one.
    Spike,
    /// A field's value for a key differs from its previous value.
    Change,
    /// A field's value is in a list.
    Blacklist,
    /// A field's value is not in a list.
    Whitelist,
    /// A field's value never seen before, after a learning period.
    NewTerm,
    /// Distinct values of a field within `window` above a max or below a min.
    Cardinality,
    /// An aggregate of a numeric field within `window` crosses a threshold.
    Metric,
    /// A `start` event not followed by an `expect` event `within` a time, per key.
    Absence,
    /// Two reporters disagree about one fact for a key within `window`.
    Mismatch,
}

impl RuleKind {
    pub const ALL: [RuleKind; 12] = [
        RuleKind::Any,
        RuleKind::Frequency,
        RuleKind::Flatline,
        RuleKind::Spike,
        RuleKind::Change,
        RuleKind::Blacklist,
        RuleKind::Whitelist,
        RuleKind::NewTerm,
        RuleKind::Cardinality,
        RuleKind::Metric,
        RuleKind::Absence,
        RuleKind::Mismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Any => "any",
            RuleKind::Frequency => "frequency",
            RuleKind::Flatline => "flatline",
            RuleKind::Spike => "spike",
            RuleKind::Change => "change",
            RuleKind::Blacklist => "blacklist",
            RuleKind::Whitelist => "whitelist",
            RuleKind::NewTerm => "new_term",
            RuleKind::Cardinality => "cardinality",
            RuleKind::Metric => "metric",
            RuleKind::Absence => "absence",
            RuleKind::Mismatch => "mismatch",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meaning_ignores_delivery_settings_but_not_counting() {
        let base = RuleConfig {
            name: "r".into(),
            kind: RuleKind::Frequency,
            threshold: Some(3),
            ..RuleConfig::default()
        };
        let delivery = RuleConfig {
            notify: vec!["x".into()],
            severity: Severity::Critical,
            realert: HumanDuration(std::time::Duration::from_secs(1)),
            max_keys: Some(5),
            ..base.clone()
        };
        assert_eq!(base.meaning(), delivery.meaning());
        let counting = RuleConfig {
            threshold: Some(4),
            ..base.clone()
        };
        assert_ne!(base.meaning(), counting.meaning());
        assert_eq!(base.meaning().len(), 64);
    }
}
