//! Configuration: the global `klaxon.yaml` and one YAML file per rule.
//!
//! [`load`] reads both, substitutes `${VAR}` / `${VAR:-default}` from the environment
//! (see `env.rs` for quoting rules), and checks everything, returning every problem as a
//! [`Diagnostic`] at `file:line:col` of the original text, with env values redacted.

mod diagnostic;
mod env;
mod load;
mod problem;
mod query_map;
mod rule_file;
pub mod schema;
mod schema_doc;
mod schema_examples;
mod source;
mod spans;
mod suggest;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

pub use diagnostic::{Diagnostic, Diagnostics, Level};
pub use env::{Env, ProcessEnv};
pub use load::{
    check_rule_against, load, load_for_check, load_global, load_rule_file, load_rule_file_with_env,
    load_with_env, LoadedConfig,
};
pub use query_map::QueryMap;
pub use rule_file::LoadedRule;
pub use spans::SpanTree;
// Re-exported for callers that think of them as config values.
pub use crate::types::{parse_duration, HumanDuration, Secret};

use crate::notify::ChannelConfig;
use crate::query::kibana::KibanaConfig;
use crate::query::QueryOptions;
use crate::source::SourceConfig;

/// `klaxon.yaml`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    /// Where events come from, by name (rules name one in `source:`).
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    /// Where alerts go, by name (rules name them in `notify:`).
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
    /// Lets `type: command` channels run programs. Off by default: a klaxon.yaml must say
    /// so itself before an alert can start a process (docs/SECURITY.md).
    #[serde(default)]
    pub allow_commands: bool,
    /// A directory of `*.yaml` rule files, or a glob; relative to the config file.
    pub rules: String,
    /// Where the SQLite state lives; relative to the config file.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// How long sent alerts, finished deliveries and ended realert holds are kept
    /// (default 30d), so the database does not grow without bound.
    #[serde(default = "default_retention")]
    pub retention: HumanDuration,
    /// On SIGTERM, how long to go on delivering what is due (default 10s); the rest stays in
    /// the outbox for the next start. A second SIGTERM or Ctrl-C exits at once.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout: HumanDuration,
    #[serde(default)]
    pub kibana: Option<KibanaConfig>,
    /// The zone messages show times in, besides UTC (`Asia/Shanghai`); a channel's
    /// `timezone:` overrides it. Default: UTC only.
    #[serde(default)]
    pub display_timezone: Option<crate::types::TimeZone>,
    /// Defaults for every rule's query.
    #[serde(default)]
    pub query: QueryOptions,
    /// Field types mirroring the index mapping (`status: keyword`, `latency_ms: number`,
    /// `ts: date`, `client_ip: ip`); undeclared fields are text.
    #[serde(default)]
    pub fields: BTreeMap<String, crate::query::FieldType>,
    /// How alerts are gathered into messages (default: by rule; the first at once, the
    /// rest of a burst within a minute as one digest; repeated after 4h while unacknowledged).
    #[serde(default)]
    pub grouping: crate::dispatch::GroupingConfig,
    /// Channels by label, beyond each rule's own `notify`: `{matchers: [severity = critical],
    /// notify: [oncall]}`, tried in order.
    #[serde(default)]
    pub routes: Vec<crate::dispatch::RouteConfig>,
    /// Whom to tell next while nobody acknowledges, by policy name.
    #[serde(default)]
    pub escalation_policies: BTreeMap<String, crate::dispatch::PolicyConfig>,
    /// Alerts muted while another fires.
    #[serde(default)]
    pub inhibit_rules: Vec<crate::dispatch::InhibitConfig>,
    /// Open alerts kept at most (default 50,000): past it the least recently raised is
    /// resolved, so a rule firing for ever-new keys cannot grow memory without bound.
    #[serde(default)]
    pub max_open_alerts: Option<usize>,
    /// The HTTP API, metrics and console (default on `127.0.0.1:9095`; `none` turns it off).
    #[serde(default)]
    pub server: crate::server::ServerSetting,
    /// When silent failures are warned about.
    #[serde(default)]
    pub warnings: crate::telemetry::WarningsConfig,
    /// Scale-out on NATS JetStream: this process is an edge or a worker (docs/SCALING.md).
    /// Without it Klaxon is single-node.
    #[serde(default)]
    pub cluster: Option<crate::cluster::ClusterConfig>,
}

impl GlobalConfig {
    /// What the dispatcher is built from.
    pub fn dispatch_setup(&self) -> crate::dispatch::DispatchSetup {
        crate::dispatch::DispatchSetup {
            lifecycle: crate::dispatch::LifecycleConfig {
                grouping: self.grouping.clone(),
                routes: self.routes.clone(),
                escalation_policies: self.escalation_policies.clone(),
                inhibit_rules: self.inhibit_rules.clone(),
            },
            max_alert_age: self
                .sources
                .iter()
                .map(|(name, s)| (name.clone(), s.max_alert_age().as_chrono()))
                .collect(),
            quiet_resolved: self
                .channels
                .iter()
                .filter(|(_, c)| !c.delivery().send_resolved)
                .map(|(name, _)| name.clone())
                .collect(),
            channels: self.channels.keys().cloned().collect(),
            max_open_alerts: self.max_open_alerts.unwrap_or(0),
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("state")
}

fn default_shutdown_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(10))
}

fn default_retention() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30 * 86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_enums_keep_error_locations() {
        let yaml = "rules: r\nchannels:\n  a:\n    type: console\n    colour: red\n";
        let err = serde_saphyr::from_str::<GlobalConfig>(yaml)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 5 column 5"), "{err}");
        assert!(err.contains("unknown field `colour`"), "{err}");
        let yaml = "rules: r\nchannels:\n  a:\n    colour: red\n    type: console\n";
        let err = serde_saphyr::from_str::<GlobalConfig>(yaml)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `colour`"), "{err}");
        let yaml = "rules: r\nsources:\n  s:\n    type: fiel\n";
        let err = serde_saphyr::from_str::<GlobalConfig>(yaml)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 4 column 5: unknown variant `fiel`"),
            "{err}"
        );
    }
}
