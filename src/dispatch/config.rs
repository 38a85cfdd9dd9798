//! What klaxon.yaml says about the alert lifecycle, as plain data: how alerts are grouped,
//! the routes beyond each rule's own `notify`, escalation policies and inhibition rules.
//! `Router::build` (route.rs) and `Policy::build` (escalation.rs) turn it into what runs.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::matcher::Matchers;
use crate::types::HumanDuration;

/// How alerts are gathered into one message (Alertmanager's grouping).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupingConfig {
    /// Labels whose values make a group: alerts that share them go out together.
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    /// How long a new group waits for more alerts before its first message.
    #[serde(default = "default_group_wait")]
    pub group_wait: HumanDuration,
    /// How long a group waits before a message about alerts added or changed since its last.
    #[serde(default = "default_group_interval")]
    pub group_interval: HumanDuration,
    /// How long before alerts still firing, unchanged and unacknowledged are sent again.
    #[serde(default = "default_repeat_interval")]
    pub repeat_interval: HumanDuration,
}

impl Default for GroupingConfig {
    fn default() -> Self {
        GroupingConfig {
            group_by: default_group_by(),
            group_wait: default_group_wait(),
            group_interval: default_group_interval(),
            repeat_interval: default_repeat_interval(),
        }
    }
}

fn default_group_by() -> Vec<String> {
    vec!["rule".into()]
}

/// None: Klaxon exists to tell people within seconds. A burst read in one go (ten ghost
/// orders in 40 ms) is still one message; what follows it waits for `group_interval`.
fn default_group_wait() -> HumanDuration {
    HumanDuration(std::time::Duration::ZERO)
}

fn default_group_interval() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(60))
}

fn default_repeat_interval() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(4 * 3600))
}

/// A route: alerts whose labels match go to `notify` too (besides their rule's own list).
/// Routes are tried in order; the first that matches ends the search unless it says
/// `continue: true`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// `severity = critical`, `rule =~ ghost-.*`, `team = payments` (all must hold).
    #[serde(default)]
    pub matchers: Matchers,
    /// Channel names from klaxon.yaml.
    pub notify: Vec<String>,
    /// Go on trying the routes after this one when it matched (default: the first match wins).
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Labels that gather the alerts this route takes into one message (default:
    /// `grouping.group_by`).
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    #[serde(default)]
    pub group_wait: Option<HumanDuration>,
    #[serde(default)]
    pub group_interval: Option<HumanDuration>,
    #[serde(default)]
    pub repeat_interval: Option<HumanDuration>,
    /// An escalation policy for the alerts this route takes (a rule's own wins).
    #[serde(default)]
    pub escalation: Option<String>,
}

impl RouteConfig {
    /// This route's grouping: its own settings over `grouping:`.
    pub fn grouping(&self, base: &GroupingConfig) -> GroupingConfig {
        GroupingConfig {
            group_by: self
                .group_by
                .clone()
                .unwrap_or_else(|| base.group_by.clone()),
            group_wait: self.group_wait.unwrap_or(base.group_wait),
            group_interval: self.group_interval.unwrap_or(base.group_interval),
            repeat_interval: self.repeat_interval.unwrap_or(base.repeat_interval),
        }
    }
}

/// An escalation policy: while an alert is neither acknowledged nor resolved, each level
/// tells more people, `after` its first firing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The levels, in order: whom to tell after how long unacknowledged.
    pub levels: Vec<LevelConfig>,
    /// Run the levels again this many times (timed from the last level), then stop.
    #[serde(default)]
    pub repeat: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelConfig {
    /// Since the alert first fired (in this cycle).
    pub after: HumanDuration,
    /// Channel names from klaxon.yaml.
    pub notify: Vec<String>,
    /// DingTalk people this level mentions.
    #[serde(default)]
    pub at_mobiles: Vec<String>,
    /// DingTalk user ids this level mentions.
    #[serde(default)]
    pub at_user_ids: Vec<String>,
}

/// While an alert matching `source` fires, alerts matching `target` with the same values
/// of the `equal` labels are muted ("payment gateway down" mutes per-order timeouts).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InhibitConfig {
    pub source: Matchers,
    pub target: Matchers,
    /// Labels that must have the same value in both alerts for the source to mute the target.
    #[serde(default)]
    pub equal: Vec<String>,
}

/// Everything above, as klaxon.yaml holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleConfig {
    pub grouping: GroupingConfig,
    pub routes: Vec<RouteConfig>,
    pub escalation_policies: BTreeMap<String, PolicyConfig>,
    pub inhibit_rules: Vec<InhibitConfig>,
}
