//! One rule file: what to match, how to count it, whom to tell.

use serde::Deserialize;

use super::duration::HumanDuration;
use crate::alert::Severity;

/// A rule as written in `rules/*.yaml`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name; the alert identity is this name plus the `group_by` values.
    pub name: String,
    /// Name of a source in klaxon.yaml.
    pub source: String,
    /// Lucene/Kibana-style query.
    pub query: String,
    #[serde(rename = "type", default)]
    pub kind: RuleKind,
    /// `frequency`: fire at this many matches within `window`.
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
}

fn default_realert() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(60))
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Every matching event is a match.
    #[default]
    Any,
    /// `threshold` matches within `window`, per key.
    Frequency,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Any => "any",
            RuleKind::Frequency => "frequency",
        }
    }
}
