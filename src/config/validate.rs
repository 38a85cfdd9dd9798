//! Semantic checks that serde cannot express: what a rule type requires, and names that
//! must refer to something defined in klaxon.yaml.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::diagnostic::{Diagnostic, Level};
use super::rule::{RuleConfig, RuleKind};
use super::source::SourceFile;

/// Every semantic problem, worded once.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Problem {
    #[error("rule file is empty; a rule needs at least `name`, `source`, `query` and `notify`")]
    EmptyRuleFile,
    #[error("`type: {kind}` requires `{key}` ({hint})")]
    Missing {
        kind: &'static str,
        key: &'static str,
        hint: &'static str,
    },
    #[error("`type: {0}` requires one of `{1}` and `{2}`")]
    MissingEither(&'static str, &'static str, &'static str),
    #[error("`{0}` and `{1}` cannot both be set; use one")]
    Both(&'static str, &'static str),
    #[error("`threshold` must be at least 1")]
    ZeroThreshold,
    #[error("`{0}` must be longer than 0")]
    ZeroDuration(&'static str),
    #[error("`{0}` must be at least {1}")]
    TooSmall(&'static str, &'static str),
    #[error("`{key}` only applies to {types}")]
    NotForType { key: &'static str, types: String },
    #[error("`min_cardinality` ({0}) must not be above `max_cardinality` ({1})")]
    CardinalityRange(u64, u64),
    #[error("{what}: {message}")]
    BadQuery { what: &'static str, message: String },
    #[error("cannot read `values_file` {path}: {message}")]
    ValuesFile { path: String, message: String },
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    #[error("`group_by` entries must be field names, not empty")]
    EmptyGroupBy,
    #[error("`{0}` is listed twice in `{1}`")]
    Repeated(String, &'static str),
    #[error("`notify` is empty; list at least one channel from klaxon.yaml")]
    NoChannels,
    #[error("unknown {what} `{name}`{hint}")]
    Unknown {
        what: &'static str,
        name: String,
        hint: String,
    },
    #[error("rule name `{name}` is already used by {other}; rule names must be unique")]
    DuplicateName { name: String, other: String },
    #[error("{0}")]
    Rules(String),
    #[error("no rules found in `{0}`")]
    NoRules(String),
}

/// Locations of the rule fields that checks point at. Parsed leniently (unknown keys and
/// types are `RuleConfig`'s job), after `RuleConfig` itself parsed fine.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RuleSpans {
    pub name: Option<Spanned<String>>,
    pub source: Option<Spanned<String>>,
    pub query: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub kind: Option<Spanned<IgnoredAny>>,
    pub threshold: Option<Spanned<IgnoredAny>>,
    pub window: Option<Spanned<IgnoredAny>>,
    pub group_by: Option<Vec<Spanned<String>>>,
    pub notify: Option<Spanned<Vec<Spanned<String>>>>,
    pub forget_keys: Option<Spanned<IgnoredAny>>,
    pub spike_height: Option<Spanned<IgnoredAny>>,
    pub spike_type: Option<Spanned<IgnoredAny>>,
    pub threshold_cur: Option<Spanned<IgnoredAny>>,
    pub threshold_ref: Option<Spanned<IgnoredAny>>,
    pub field: Option<Spanned<IgnoredAny>>,
    pub fields: Option<Spanned<IgnoredAny>>,
    pub values: Option<Spanned<IgnoredAny>>,
    pub values_file: Option<Spanned<IgnoredAny>>,
    pub sequence: Option<Spanned<IgnoredAny>>,
    pub learning: Option<Spanned<IgnoredAny>>,
    pub max_cardinality: Option<Spanned<IgnoredAny>>,
    pub min_cardinality: Option<Spanned<IgnoredAny>>,
    pub metric: Option<Spanned<IgnoredAny>>,
    pub above: Option<Spanned<IgnoredAny>>,
    pub below: Option<Spanned<IgnoredAny>>,
    pub start: Option<Spanned<String>>,
    pub expect: Option<Spanned<String>>,
    pub within: Option<Spanned<IgnoredAny>>,
    pub left: Option<Spanned<SideSpans>>,
    pub right: Option<Spanned<SideSpans>>,
    pub max_keys: Option<Spanned<IgnoredAny>>,
    pub allowed_lateness: Option<Spanned<IgnoredAny>>,
}

/// Locations inside a `mismatch` side.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SideSpans {
    pub query: Option<Spanned<String>>,
}

impl RuleSpans {
    /// Where a type-specific key is written, by name.
    fn of(&self, key: &str) -> Option<&Spanned<IgnoredAny>> {
        match key {
            "threshold" => self.threshold.as_ref(),
            "window" => self.window.as_ref(),
            "forget_keys" => self.forget_keys.as_ref(),
            "spike_height" => self.spike_height.as_ref(),
            "spike_type" => self.spike_type.as_ref(),
            "threshold_cur" => self.threshold_cur.as_ref(),
            "threshold_ref" => self.threshold_ref.as_ref(),
            "field" => self.field.as_ref(),
            "fields" => self.fields.as_ref(),
            "values" => self.values.as_ref(),
            "values_file" => self.values_file.as_ref(),
            "sequence" => self.sequence.as_ref(),
            "learning" => self.learning.as_ref(),
            "max_cardinality" => self.max_cardinality.as_ref(),
            "min_cardinality" => self.min_cardinality.as_ref(),
            "metric" => self.metric.as_ref(),
            "above" => self.above.as_ref(),
            "below" => self.below.as_ref(),
            "within" => self.within.as_ref(),
            "max_keys" => self.max_keys.as_ref(),
            "allowed_lateness" => self.allowed_lateness.as_ref(),
            _ => None,
        }
    }
}

use RuleKind::*;

/// Which rule types read each type-specific key.
const KEY_TYPES: &[(&str, &[RuleKind])] = &[
    ("threshold", &[Frequency, Flatline]),
    (
        "window",
        &[
            Frequency,
            Flatline,
            Spike,
            Change,
            Cardinality,
            Metric,
            Mismatch,
        ],
    ),
    ("forget_keys", &[Flatline]),
    ("spike_height", &[Spike]),
    ("spike_type", &[Spike]),
    ("threshold_cur", &[Spike]),
    ("threshold_ref", &[Spike]),
    (
        "field",
        &[Change, Blacklist, Whitelist, NewTerm, Cardinality, Metric],
    ),
    ("fields", &[NewTerm]),
    ("values", &[Blacklist, Whitelist]),
    ("values_file", &[Blacklist, Whitelist]),
    ("sequence", &[Change]),
    ("learning", &[NewTerm]),
    ("max_cardinality", &[Cardinality]),
    ("min_cardinality", &[Cardinality]),
    ("metric", &[Metric]),
    ("above", &[Metric]),
    ("below", &[Metric]),
    ("start", &[Absence]),
    ("expect", &[Absence]),
    ("within", &[Absence]),
    ("left", &[Mismatch]),
    ("right", &[Mismatch]),
];

/// Keys each type cannot do without, with a hint of what to write.
const REQUIRED: &[(RuleKind, &str, &str)] = &[
    (
        Frequency,
        "threshold",
        "how many matches within `window` fire",
    ),
    (Frequency, "window", "e.g. `window: 5m`"),
    (
        Flatline,
        "threshold",
        "fewer matches than this within `window` fire",
    ),
    (Flatline, "window", "e.g. `window: 5m`"),
    (
        Spike,
        "window",
        "the length of each compared window, e.g. `window: 10m`",
    ),
    (
        Spike,
        "spike_height",
        "how many times bigger one window must be, e.g. `spike_height: 3`",
    ),
    (
        Change,
        "field",
        "the field whose value is watched, e.g. `field: state`",
    ),
    (
        Blacklist,
        "field",
        "the field whose value is looked up, e.g. `field: ip`",
    ),
    (
        Whitelist,
        "field",
        "the field whose value is looked up, e.g. `field: gateway`",
    ),
    (
        Cardinality,
        "field",
        "the field whose distinct values are counted",
    ),
    (Cardinality, "window", "e.g. `window: 10m`"),
    (
        Metric,
        "field",
        "the numeric field, e.g. `field: latency_ms`",
    ),
    (Metric, "window", "e.g. `window: 5m`"),
    (Metric, "metric", "min, max, avg, sum or p50 … p99"),
    (
        Absence,
        "start",
        "the query of the event that must be followed",
    ),
    (Absence, "expect", "the query of the event that must follow"),
    (
        Absence,
        "within",
        "how long `expect` may take, e.g. `within: 5m`",
    ),
    (Mismatch, "left", "`{source, query, field}` of one reporter"),
    (
        Mismatch,
        "right",
        "`{source, query, field}` of the other reporter",
    ),
    (
        Mismatch,
        "window",
        "how far apart two reports may be and still be compared",
    ),
];

/// Whether `key` is set in `rule`.
fn is_set(rule: &RuleConfig, key: &str) -> bool {
    match key {
        "threshold" => rule.threshold.is_some(),
        "window" => rule.window.is_some(),
        "forget_keys" => rule.forget_keys,
        "spike_height" => rule.spike_height.is_some(),
        "spike_type" => rule.spike_type.is_some(),
        "threshold_cur" => rule.threshold_cur.is_some(),
        "threshold_ref" => rule.threshold_ref.is_some(),
        "field" => rule.field.is_some(),
        "fields" => !rule.fields.is_empty(),
        "values" => !rule.values.is_empty(),
        "values_file" => rule.values_file.is_some(),
        "sequence" => !rule.sequence.is_empty(),
        "learning" => rule.learning.is_some(),
        "max_cardinality" => rule.max_cardinality.is_some(),
        "min_cardinality" => rule.min_cardinality.is_some(),
        "metric" => rule.metric.is_some(),
        "above" => rule.above.is_some(),
        "below" => rule.below.is_some(),
        "start" => rule.start.is_some(),
        "expect" => rule.expect.is_some(),
        "within" => rule.within.is_some(),
        "left" => rule.left.is_some(),
        "right" => rule.right.is_some(),
        _ => false,
    }
}

/// Checks one rule on its own; pushes errors and warnings.
pub(crate) fn check_rule(
    file: &SourceFile,
    rule: &RuleConfig,
    spans: &RuleSpans,
    out: &mut Vec<Diagnostic>,
) {
    // Where to point when the offending key is absent: the `type:` value, else line 1.
    let fallback = |level, p: Problem| match &spans.kind {
        Some(k) => file.at(level, k, p.to_string()),
        None => file.diag(level, 1, 1, p.to_string()),
    };
    let at_str = |span: &Option<Spanned<String>>, p: Problem| match span {
        Some(s) => file.at(Level::Error, s, p.to_string()),
        None => fallback(Level::Error, p),
    };
    check_type_keys(file, rule, spans, out);
    if rule.name.trim().is_empty() {
        out.push(at_str(&spans.name, Problem::Empty("name")));
    }
    if rule.query.trim().is_empty() {
        out.push(at_str(&spans.query, Problem::Empty("query")));
    }
    let group_spans = spans.group_by.as_deref().unwrap_or_default();
    for (i, field) in rule.group_by.iter().enumerate() {
        let span = group_spans.get(i);
        let located = |level, p: Problem| match span {
            Some(s) => file.at(level, s, p.to_string()),
            None => fallback(level, p),
        };
        if field.trim().is_empty() {
            out.push(located(Level::Error, Problem::EmptyGroupBy));
        } else if rule.group_by[..i].contains(field) {
            out.push(located(
                Level::Warning,
                Problem::Repeated(field.clone(), "group_by"),
            ));
        }
    }
    if rule.notify.is_empty() {
        let d = match &spans.notify {
            Some(n) => file.at(Level::Error, n, Problem::NoChannels.to_string()),
            None => fallback(Level::Error, Problem::NoChannels),
        };
        out.push(d);
    }
    let notify_spans = spans.notify.as_ref().map_or(&[][..], |n| &n.value[..]);
    for (i, name) in rule.notify.iter().enumerate() {
        if rule.notify[..i].contains(name) {
            let p = Problem::Repeated(name.clone(), "notify");
            out.push(match notify_spans.get(i) {
                Some(s) => file.at(Level::Warning, s, p.to_string()),
                None => fallback(Level::Warning, p),
            });
        }
    }
}

/// The keys `rule.kind` needs and forbids, their values, and the queries inside them.
fn check_type_keys(
    file: &SourceFile,
    rule: &RuleConfig,
    spans: &RuleSpans,
    out: &mut Vec<Diagnostic>,
) {
    let kind = rule.kind;
    let fallback = |p: Problem| match &spans.kind {
        Some(k) => file.at(Level::Error, k, p.to_string()),
        None => file.diag(Level::Error, 1, 1, p.to_string()),
    };
    let at = |key: &str, p: Problem| match spans.of(key) {
        Some(s) => file.at(Level::Error, s, p.to_string()),
        None => fallback(p),
    };
    for (key, types) in KEY_TYPES {
        if is_set(rule, key) && !types.contains(&kind) {
            let names: Vec<String> = types
                .iter()
                .map(|t| format!("`type: {}`", t.as_str()))
                .collect();
            let p = Problem::NotForType {
                key,
                types: names.join(" and "),
            };
            out.push(match *key {
                "start" => file.at(
                    Level::Error,
                    spans.start.as_ref().expect("set"),
                    p.to_string(),
                ),
                "expect" => file.at(
                    Level::Error,
                    spans.expect.as_ref().expect("set"),
                    p.to_string(),
                ),
                "left" | "right" => fallback(p),
                _ => at(key, p),
            });
        }
    }
    for (k, key, hint) in REQUIRED {
        if *k == kind && !is_set(rule, key) {
            out.push(fallback(Problem::Missing {
                kind: kind.as_str(),
                key,
                hint,
            }));
        }
    }
    let either = |a: &'static str, b: &'static str, out: &mut Vec<Diagnostic>| match (
        is_set(rule, a),
        is_set(rule, b),
    ) {
        (false, false) => out.push(fallback(Problem::MissingEither(kind.as_str(), a, b))),
        (true, true) if a == "field" => out.push(at(b, Problem::Both(a, b))),
        _ => {}
    };
    match kind {
        Blacklist | Whitelist => either("values", "values_file", out),
        NewTerm => either("field", "fields", out),
        Cardinality => either("max_cardinality", "min_cardinality", out),
        Metric => either("above", "below", out),
        _ => {}
    }
    if rule.threshold == Some(0) {
        out.push(at("threshold", Problem::ZeroThreshold));
    }
    // (`learning: 0s` is fine: every term after the first event is new.)
    for (key, d) in [("window", rule.window), ("within", rule.within)] {
        if d.is_some_and(|d| d.0.is_zero()) {
            out.push(at(key, Problem::ZeroDuration(key)));
        }
    }
    // NaN is not at least 1 either.
    if rule.spike_height.is_some_and(|h| h.is_nan() || h < 1.0) {
        out.push(at("spike_height", Problem::TooSmall("spike_height", "1")));
    }
    if rule.max_keys == Some(0) {
        out.push(at("max_keys", Problem::TooSmall("max_keys", "1")));
    }
    if let (Some(min), Some(max)) = (rule.min_cardinality, rule.max_cardinality) {
        if min > max {
            out.push(at("min_cardinality", Problem::CardinalityRange(min, max)));
        }
    }
    if let (Some(path), Some(span)) = (&rule.values_file, spans.values_file.as_ref()) {
        let full = file
            .path
            .parent()
            .unwrap_or(std::path::Path::new(""))
            .join(path);
        if let Err(e) = std::fs::metadata(&full).and_then(|m| {
            if m.is_file() {
                Ok(())
            } else {
                Err(std::io::Error::other("not a file"))
            }
        }) {
            let p = Problem::ValuesFile {
                path: full.display().to_string(),
                message: e.to_string(),
            };
            out.push(file.at(Level::Error, span, p.to_string()));
        }
    }
    let mut queries: Vec<(&'static str, &Spanned<String>)> = Vec::new();
    queries.extend(spans.start.as_ref().map(|s| ("`start`", s)));
    queries.extend(spans.expect.as_ref().map(|s| ("`expect`", s)));
    for (what, side) in [
        ("`left.query`", &spans.left),
        ("`right.query`", &spans.right),
    ] {
        if let Some(q) = side.as_ref().and_then(|s| s.value.query.as_ref()) {
            queries.push((what, q));
        }
    }
    for (what, q) in queries {
        check_query(file, rule, what, q, out);
    }
}

/// A query inside a rule (not `query:` itself) that does not parse, placed at its
/// character in the file.
fn check_query(
    file: &SourceFile,
    rule: &RuleConfig,
    what: &'static str,
    q: &Spanned<String>,
    out: &mut Vec<Diagnostic>,
) {
    let Err(e) = crate::query::parse(&q.value, &crate::query::QueryOptions::default()) else {
        return;
    };
    let (query_line, query_column, query_map) = super::query_map::locate(file, q);
    let located = super::load::LoadedRule {
        path: file.path.clone(),
        config: rule.clone(),
        query_line,
        query_column,
        query_map,
    };
    let message = Problem::BadQuery {
        what,
        message: e.message().to_string(),
    };
    out.push(super::at_query(&located, e.column(), message.to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every problem `check_rule` finds in a rule file: (line, column, message).
    fn problems(yaml: &str) -> Vec<(usize, usize, String)> {
        let base = "name: r\nsource: s\nnotify: [out]\n";
        let text = format!("{base}{yaml}");
        let env = |_: &str| None;
        let file = SourceFile::from_text(std::path::Path::new("r.yaml"), text, &env).unwrap();
        let rule: RuleConfig = file.parse().unwrap();
        let spans: RuleSpans = file.parse().unwrap();
        let mut out = Vec::new();
        check_rule(&file, &rule, &spans, &mut out);
        out.into_iter()
            .map(|d| (d.line, d.column, d.message))
            .collect()
    }

    #[test]
    fn every_rule_type_names_what_it_lacks() {
        let p = problems("query: x\ntype: flatline\nwindow: 5m\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].0, p[0].1), (5, 7));
        assert!(
            p[0].2.starts_with("`type: flatline` requires `threshold`"),
            "{p:?}"
        );
        let p = problems("query: x\ntype: absence\nstart: a\n");
        let msgs: Vec<&str> = p.iter().map(|p| p.2.as_str()).collect();
        assert!(
            msgs.iter().any(|m| m.contains("requires `expect`")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.contains("requires `within`")),
            "{msgs:?}"
        );
        let p = problems("query: x\ntype: blacklist\nfield: ip\n");
        assert_eq!(
            p[0].2,
            "`type: blacklist` requires one of `values` and `values_file`"
        );
        let p = problems("query: x\ntype: metric\nfield: ms\nwindow: 1m\nmetric: p95\n");
        assert_eq!(p[0].2, "`type: metric` requires one of `above` and `below`");
        assert!(problems(
            "query: x\ntype: mismatch\nwindow: 1m\nleft: {field: a}\nright: {source: t, field: b}\n"
        )
        .is_empty());
    }

    #[test]
    fn keys_of_other_types_and_bad_values_point_at_the_key() {
        let p = problems("query: x\ntype: change\nfield: state\nspike_height: 3\n");
        assert_eq!(
            p,
            vec![(7, 15, "`spike_height` only applies to `type: spike`".into())]
        );
        let p = problems("query: x\ntype: spike\nwindow: 1m\nspike_height: 0.5\n");
        assert_eq!(p, vec![(7, 15, "`spike_height` must be at least 1".into())]);
        let p = problems(
            "query: x\ntype: cardinality\nfield: card\nwindow: 1m\nmin_cardinality: 5\nmax_cardinality: 2\n",
        );
        assert_eq!(
            p[0].2,
            "`min_cardinality` (5) must not be above `max_cardinality` (2)"
        );
    }

    #[test]
    fn queries_inside_a_rule_are_checked_where_they_are_written() {
        let p = problems(
            "query: x\ntype: absence\nstart: order_created\nexpect: 'order_picked AND ('\nwithin: 72h\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        let (line, col, msg) = &p[0];
        assert_eq!(*line, 7);
        assert!(*col > 9, "points into the query, not at the key: {col}");
        assert!(msg.starts_with("`expect`: "), "{msg}");
    }

    #[test]
    fn a_missing_values_file_is_reported_relative_to_the_rule_file() {
        let p = problems("query: x\ntype: whitelist\nfield: gw\nvalues_file: no-such-file.txt\n");
        assert_eq!((p[0].0, p[0].1), (7, 14), "{p:?}");
        assert!(
            p[0].2
                .starts_with("cannot read `values_file` no-such-file.txt"),
            "{p:?}"
        );
    }
}
