//! Configuration: the global `klaxon.yaml` and one YAML file per rule.

mod duration;
mod rule;
mod secret;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

pub use duration::{parse_duration, HumanDuration};
pub use rule::{RuleConfig, RuleKind};
pub use secret::Secret;

use crate::notify::ChannelConfig;
use crate::query::QueryOptions;
use crate::source::SourceConfig;

/// `klaxon.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
    /// A directory of `*.yaml` rule files, or a glob; relative to the config file.
    pub rules: String,
    /// Where the SQLite state lives; relative to the config file.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    #[serde(default)]
    pub kibana: Option<KibanaConfig>,
    /// Defaults for every rule's query.
    #[serde(default)]
    pub query: QueryOptions,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("state")
}

/// Where alerts link to for their evidence.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KibanaConfig {
    /// Base URL, e.g. `http://kibana:5601`.
    pub url: String,
    /// Data view (index pattern) id used by Discover.
    pub data_view: String,
    /// Time shown around the first match, each side (default 10m).
    #[serde(default = "default_kibana_margin")]
    pub margin: HumanDuration,
}

fn default_kibana_margin() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(600))
}
