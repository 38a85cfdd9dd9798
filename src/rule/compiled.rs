//! A rule ready to run: its compiled query, its rule type (with its state), the fields of
//! its key and its delivery settings. [`Rule::build`] is the one place a [`RuleConfig`]
//! becomes runtime values and defaults are applied; the engine never sees the config.

use std::borrow::Cow;
use std::path::Path;

use chrono::Duration;

use super::params::RuleProblem;
use super::{BuildContext, Params, ParamsVisitor, RuleConfig, RuleStats, RuleType};
use crate::alert::{write_id, AlertKey, Severity};
use crate::event::Event;
use crate::query::{Query, QueryOptions};
use crate::types::HumanDuration;

/// Keys per rule kept in memory unless `max_keys` says otherwise.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// How late (behind the source's clock) an event may arrive and still count, unless
/// `allowed_lateness` says otherwise.
pub const DEFAULT_ALLOWED_LATENESS: std::time::Duration = std::time::Duration::from_secs(30);

/// Shown as the value of a `group_by` field an event does not have.
pub const MISSING_VALUE: &str = "(missing)";

/// What happens to what a rule finds: runtime values, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSettings {
    pub severity: Severity,
    /// Channel names.
    pub notify: Vec<String>,
    pub description: Option<String>,
    /// Hold back further alerts for a key this long after one (event time).
    pub realert: Duration,
    pub enabled: bool,
    /// Events this far behind the source's clock still count for clock-fired types.
    pub allowed_lateness: Duration,
    /// Most keys the rule type keeps.
    pub max_keys: usize,
    /// The window an alert's count covers (`1m`), for its message; see `Params::counted_over`.
    pub counted_over: Option<HumanDuration>,
    /// An alert's count is of distinct values, not of matches.
    pub counts_distinct: bool,
    /// The rule's `labels:`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// The rule's escalation policy, by name.
    pub escalation: Option<String>,
}

pub struct Rule {
    pub name: String,
    /// The source the rule reads (its events, its clock).
    pub source: String,
    pub query: Query,
    pub kind: Box<dyn RuleType>,
    pub settings: RuleSettings,
    /// Every source whose events the rule sees (two for a `mismatch` across sources).
    sources: Vec<String>,
    /// `group_by` sorted and deduplicated: the order of the canonical key text.
    key_fields: Vec<String>,
    state_id: String,
}

/// What a rule problem-free build also found worth saying (query warnings, repeats).
pub type Warnings = Vec<RuleProblem>;

impl Rule {
    /// Compiles the query and builds the rule type. `dir` is the directory of the rule
    /// file (relative paths inside the rule are read from it); `known_sources`, when
    /// given, are the sources other keys may name. Every problem is returned, each naming
    /// the key it is about.
    pub fn build(
        config: &RuleConfig,
        options: &QueryOptions,
        dir: &Path,
        known_sources: Option<&[String]>,
    ) -> Result<(Rule, Warnings), Vec<RuleProblem>> {
        let mut cx = BuildContext::new(options, dir, &config.source);
        cx.known_sources = known_sources;
        check_common(config, &mut cx);
        let query = if config.query.len() > super::params::MAX_QUERY_BYTES {
            cx.problem("query", super::params::too_long("query"));
            Err(None)
        } else {
            crate::query::parse(&config.query, options).map_err(Some)
        };
        let query = match query {
            Ok(q) => {
                for w in q.warnings() {
                    cx.problems.push(RuleProblem {
                        key: "query".into(),
                        message: w.message.clone(),
                        column: Some(w.column),
                        warning: true,
                    });
                }
                Some(q)
            }
            Err(Some(e)) => {
                cx.problems.push(RuleProblem {
                    key: "query".into(),
                    message: e.message().to_string(),
                    column: Some(e.column()),
                    warning: false,
                });
                None
            }
            Err(None) => None,
        };
        cx.grouped = !config.group_by.is_empty();
        cx.max_keys = match config.max_keys {
            Some(0) => {
                cx.problem("max_keys", "`max_keys` must be at least 1");
                1
            }
            Some(n) => n,
            None => DEFAULT_MAX_KEYS,
        };
        let kind = config.params.visit(Build(&mut cx));
        let (Some(query), Some(kind), false) = (query, kind, cx.has_errors()) else {
            return Err(cx.problems);
        };
        let mut sources = vec![config.source.clone()];
        for s in kind.other_sources() {
            if !sources.contains(&s) {
                sources.push(s);
            }
        }
        let mut key_fields = config.group_by.clone();
        key_fields.sort();
        key_fields.dedup();
        let settings = RuleSettings {
            severity: config.severity,
            notify: config.notify.clone(),
            description: config.description.clone(),
            realert: config.realert.as_chrono(),
            enabled: config.enabled,
            allowed_lateness: config
                .allowed_lateness
                .unwrap_or(HumanDuration(DEFAULT_ALLOWED_LATENESS))
                .as_chrono(),
            max_keys: cx.max_keys,
            counted_over: config.params.visit(CountedOver),
            counts_distinct: config.params.visit(CountsDistinct),
            labels: config.labels.clone(),
            escalation: config.escalation.clone(),
        };
        let rule = Rule {
            name: config.name.clone(),
            source: config.source.clone(),
            query,
            kind,
            settings,
            sources,
            key_fields,
            state_id: super::state_id::state_id(config),
        };
        Ok((rule, cx.problems))
    }

    /// The event fields the rule reads (query, `group_by`, its type's own); `None` when it
    /// may read any.
    pub fn fields(&self) -> Option<Vec<String>> {
        let mut fields = self.kind.fields()?;
        fields.extend(self.query.fields().into_iter().map(str::to_string));
        fields.extend(self.key_fields.iter().cloned());
        fields.sort_unstable();
        fields.dedup();
        Some(fields)
    }

    /// Every source whose events the rule sees.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// What the rule's stored state was counted under (see `state_id.rs`).
    pub fn state_id(&self) -> &str {
        &self.state_id
    }

    pub fn stats(&self) -> RuleStats {
        self.kind.stats()
    }

    /// Writes the canonical key text of `event` (what [`Rule::key_of`] gives as
    /// `AlertKey::id`) into `buf`, reusing its allocation.
    pub fn write_key(&self, event: &Event, buf: &mut Vec<u8>) {
        let pairs = self.key_fields.iter().map(|f| {
            let value = event.text(f).unwrap_or(Cow::Borrowed(MISSING_VALUE));
            (f.as_str(), value)
        });
        write_id(pairs, buf);
    }

    /// The key of `event` as pairs, for an alert raised on it.
    pub fn key_of(&self, event: &Event) -> AlertKey {
        AlertKey::new(self.key_fields.iter().map(|f| {
            let v = event.text(f).map(|v| v.into_owned());
            (f.clone(), v.unwrap_or_else(|| MISSING_VALUE.to_string()))
        }))
    }
}

/// Checks of the keys every rule type shares.
fn check_common(config: &RuleConfig, cx: &mut BuildContext<'_>) {
    if config.name.trim().is_empty() {
        cx.problem("name", "`name` must not be empty");
    }
    if config.query.trim().is_empty() {
        cx.problem("query", "`query` must not be empty");
    }
    for (i, field) in config.group_by.iter().enumerate() {
        let key = format!("group_by.{i}");
        if field.trim().is_empty() {
            cx.problem(&key, "`group_by` entries must be field names, not empty");
        } else if config.group_by[..i].contains(field) {
            cx.warning(&key, format!("`{field}` is listed twice in `group_by`"));
        }
    }
    if config.notify.is_empty() {
        cx.problem(
            "notify",
            "`notify` is empty; list at least one channel from klaxon.yaml",
        );
    }
    for (i, name) in config.notify.iter().enumerate() {
        if config.notify[..i].contains(name) {
            cx.warning(
                &format!("notify.{i}"),
                format!("`{name}` is listed twice in `notify`"),
            );
        }
    }
}

/// Builds whichever params the rule has.
struct Build<'c, 'a>(&'c mut BuildContext<'a>);

impl ParamsVisitor for Build<'_, '_> {
    type Out = Option<Box<dyn RuleType>>;
    fn visit<P: Params>(self, params: &P) -> Self::Out {
        params.build(self.0)
    }
}

/// `config` built with default query options, for tests; panics on a problem.
#[cfg(test)]
pub(crate) fn build_for_test(config: &RuleConfig) -> Rule {
    match Rule::build(config, &QueryOptions::default(), Path::new(""), None) {
        Ok((rule, _)) => rule,
        Err(problems) => panic!("test rule does not build: {problems:?}"),
    }
}

/// `Params::counted_over`, whatever the type.
struct CountedOver;

impl super::ParamsVisitor for CountedOver {
    type Out = Option<HumanDuration>;
    fn visit<P: super::Params>(self, params: &P) -> Self::Out {
        params.counted_over()
    }
}

/// `Params::counts_distinct`, whatever the type.
struct CountsDistinct;

impl super::ParamsVisitor for CountsDistinct {
    type Out = bool;
    fn visit<P: super::Params>(self, params: &P) -> Self::Out {
        params.counts_distinct()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{AnyParams, FrequencyParams, RuleParams, SpikeParams};

    fn frequency(threshold: u64, window_secs: u64) -> RuleConfig {
        let mut c = RuleConfig::new(
            "r",
            "app",
            "ERROR",
            RuleParams::Frequency(FrequencyParams {
                threshold,
                window: HumanDuration(std::time::Duration::from_secs(window_secs)),
            }),
        );
        c.notify = vec!["ops".into()];
        c
    }

    fn problems(config: &RuleConfig) -> Vec<(String, String)> {
        match Rule::build(config, &QueryOptions::default(), Path::new(""), None) {
            Ok((_, warnings)) => warnings.into_iter().map(|p| (p.key, p.message)).collect(),
            Err(problems) => problems.into_iter().map(|p| (p.key, p.message)).collect(),
        }
    }

    #[test]
    fn every_problem_names_its_key() {
        let p = problems(&frequency(0, 0));
        assert_eq!(
            p,
            vec![
                (
                    "threshold".to_string(),
                    "`threshold` must be at least 1".to_string()
                ),
                (
                    "window".to_string(),
                    "`window` must be longer than 0".to_string()
                ),
            ]
        );
        let mut c = frequency(1, 60);
        c.notify.clear();
        c.query = "a AND (".into();
        c.group_by = vec!["sku".into(), "sku".into(), " ".into()];
        let keys: Vec<String> = problems(&c).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["group_by.1", "group_by.2", "notify", "query"]);
    }

    #[test]
    fn a_spike_height_below_one_or_nan_is_refused() {
        for height in [0.5, f64::NAN] {
            let mut c = frequency(1, 60);
            c.params = RuleParams::Spike(SpikeParams {
                window: HumanDuration(std::time::Duration::from_secs(60)),
                spike_height: height,
                spike_type: None,
                threshold_cur: None,
                threshold_ref: None,
            });
            assert_eq!(
                problems(&c),
                vec![(
                    "spike_height".to_string(),
                    "`spike_height` must be at least 1".to_string()
                )]
            );
        }
    }

    #[test]
    fn runtime_settings_take_their_defaults_in_one_place() {
        let mut c = frequency(2, 60);
        c.params = RuleParams::Any(AnyParams {});
        c.group_by = vec!["sku".into(), "shop".into(), "sku".into()];
        let rule = build_for_test(&c);
        assert_eq!(rule.settings.allowed_lateness, Duration::seconds(30));
        assert_eq!(rule.settings.realert, Duration::seconds(60));
        assert_eq!(rule.sources(), ["app"]);
        let e = crate::rule::json_at(0, r#"{"sku":"A\"1","shop":7}"#);
        let mut buf = Vec::new();
        rule.write_key(&e, &mut buf);
        // Written in place, the key text is the canonical text of the key's pairs.
        assert_eq!(String::from_utf8(buf).unwrap(), rule.key_of(&e).id());
        assert_eq!(rule.key_of(&e).id(), r#"{"shop":"7","sku":"A\"1"}"#);
        let missing = crate::rule::json_at(0, "{}");
        assert_eq!(rule.key_of(&missing).get("sku"), Some(MISSING_VALUE));
    }
}
