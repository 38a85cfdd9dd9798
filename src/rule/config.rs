//! A rule as written in its YAML file: the keys every rule type shares, and the params of
//! its `type`, each type's struct living next to that type's logic (`frequency.rs` holds
//! `FrequencyParams`). This is plain data; [`super::Rule::build`] turns it into what runs.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::RuleParams;
use crate::alert::Severity;
use crate::notify::{DingTalkAt, TemplateParts};
use crate::types::HumanDuration;

/// A rule file. Deserializing it reads the keys every rule type shares; the params of its
/// type come from the same file through [`super::RuleKind::read_params`], which is what
/// `config::load` does (and why `params` is skipped here).
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
pub struct RuleConfig {
    /// Unique name; the alert identity is this name plus the `group_by` values (and, for
    /// `new_term`, the term: see `Match::identity`).
    pub name: String,
    /// Name of a source in klaxon.yaml.
    pub source: String,
    /// Lucene/Kibana-style query: the events this rule sees at all.
    pub query: String,
    /// Fields whose values split matches into independent keys.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// After an alert for a key, hold back further alerts for that key this long.
    #[serde(default = "default_realert")]
    pub realert: HumanDuration,
    /// How bad an alert of this rule is (a label routes and silences can match).
    #[serde(default)]
    pub severity: Severity,
    /// Channel names from klaxon.yaml.
    pub notify: Vec<String>,
    /// What the rule is about, in words; shown in its alerts.
    #[serde(default)]
    pub description: Option<String>,
    /// `false` keeps the rule loaded and checked, but it never fires.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Events this far behind the source's clock still count (default 30s); later ones are
    /// dropped (counted) by rules that fire on the clock.
    #[serde(default)]
    #[schemars(default = "lateness_shown")]
    pub allowed_lateness: Option<HumanDuration>,
    /// Most keys kept in memory (default 100,000); the least recently seen is evicted
    /// beyond it (counted).
    #[serde(default)]
    #[schemars(default = "max_keys_shown")]
    pub max_keys: Option<usize>,
    /// Labels for routing, silences and inhibition (`team: payments`); an alert also has
    /// `rule`, `severity`, `source` and its `group_by` fields as labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// An escalation policy from klaxon.yaml: whom to tell next while nobody acknowledges.
    #[serde(default)]
    pub escalation: Option<String>,
    /// This rule's own message templates: channel name → the parts it replaces there.
    #[serde(default)]
    pub templates: BTreeMap<String, TemplateParts>,
    /// Who DingTalk messages about this rule @-mention (added to the channel's own list);
    /// `at_all: true` is the only way to reach everyone.
    #[serde(default)]
    pub dingtalk: DingTalkAt,
    /// What `type:` says, with that type's own keys.
    #[serde(skip)]
    pub params: RuleParams,
}

fn default_realert() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(60))
}

/// The defaults `Rule::build` applies, as the schema shows them.
fn lateness_shown() -> Option<HumanDuration> {
    Some(HumanDuration(super::DEFAULT_ALLOWED_LATENESS))
}

fn max_keys_shown() -> Option<usize> {
    Some(super::DEFAULT_MAX_KEYS)
}

fn default_true() -> bool {
    true
}

impl RuleConfig {
    /// A rule with every common key at its default (for building rules in code and tests).
    pub fn new(name: &str, source: &str, query: &str, params: RuleParams) -> Self {
        RuleConfig {
            name: name.into(),
            source: source.into(),
            query: query.into(),
            group_by: Vec::new(),
            realert: default_realert(),
            severity: Severity::default(),
            notify: Vec::new(),
            description: None,
            enabled: true,
            allowed_lateness: None,
            max_keys: None,
            labels: BTreeMap::new(),
            escalation: None,
            templates: BTreeMap::new(),
            dingtalk: DingTalkAt::default(),
            params,
        }
    }

    /// The keys every rule type reads, `type` included.
    pub fn common_keys() -> impl Iterator<Item = &'static str> {
        crate::types::struct_fields::<RuleConfig>()
            .iter()
            .copied()
            .chain(["type"])
    }
}

/// Where a rule type's params are read from: `config::load` implements it over the rule
/// file (streaming, so each error keeps its line and column).
pub trait ParamsReader {
    type Error;
    fn read<P: DeserializeOwned>(&self) -> Result<P, Self::Error>;
}

/// The `type:` of a rule file alone (absent means `any`).
#[derive(Debug, Deserialize)]
pub struct TypeKey {
    #[serde(rename = "type", default)]
    pub kind: super::RuleKind,
}
