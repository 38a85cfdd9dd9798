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
    #[error("`type: frequency` requires `threshold` (how many matches within `window` fire)")]
    MissingThreshold,
    #[error("`type: frequency` requires `window` (e.g. `window: 5m`)")]
    MissingWindow,
    #[error("`threshold` must be at least 1")]
    ZeroThreshold,
    #[error("`window` must be longer than 0")]
    ZeroWindow,
    #[error("`{0}` only applies to `type: frequency`")]
    FrequencyOnly(&'static str),
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
    let at = |level, span: Option<&Spanned<IgnoredAny>>, p: Problem| match span {
        Some(s) => file.at(level, s, p.to_string()),
        None => fallback(level, p),
    };
    let at_str = |span: &Option<Spanned<String>>, p: Problem| match span {
        Some(s) => file.at(Level::Error, s, p.to_string()),
        None => fallback(Level::Error, p),
    };
    match rule.kind {
        RuleKind::Frequency => {
            match rule.threshold {
                None => out.push(fallback(Level::Error, Problem::MissingThreshold)),
                Some(0) => out.push(at(
                    Level::Error,
                    spans.threshold.as_ref(),
                    Problem::ZeroThreshold,
                )),
                Some(_) => {}
            }
            match rule.window {
                None => out.push(fallback(Level::Error, Problem::MissingWindow)),
                Some(w) if w.0.is_zero() => {
                    out.push(at(Level::Error, spans.window.as_ref(), Problem::ZeroWindow))
                }
                Some(_) => {}
            }
        }
        RuleKind::Any => {
            if rule.threshold.is_some() {
                let p = Problem::FrequencyOnly("threshold");
                out.push(at(Level::Error, spans.threshold.as_ref(), p));
            }
            if rule.window.is_some() {
                let p = Problem::FrequencyOnly("window");
                out.push(at(Level::Error, spans.window.as_ref(), p));
            }
        }
    }
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

/// `unknown channel `x`; did you mean `y`? (defined: a, b)`, worded for `what`.
pub(crate) fn unknown<'a>(
    what: &'static str,
    name: &str,
    known: impl Iterator<Item = &'a String> + Clone,
) -> Problem {
    let best = known
        .clone()
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, _)| *d <= 2)
        .min();
    let list: Vec<&str> = known.map(String::as_str).collect();
    let hint = match (best, list.is_empty()) {
        (Some((_, k)), _) => format!("; did you mean `{k}`?"),
        (None, true) => format!("; klaxon.yaml defines no {what}s"),
        (None, false) => format!("; klaxon.yaml defines: {}", list.join(", ")),
    };
    Problem::Unknown {
        what,
        name: name.to_string(),
        hint,
    }
}

/// Levenshtein distance over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("dingtalk-ops", "dingtalk-ops"), 0);
        assert_eq!(edit_distance("dingtalk-opz", "dingtalk-ops"), 1);
        assert_eq!(edit_distance("dingtak-ops", "dingtalk-ops"), 1);
        assert_eq!(edit_distance("slack", "email"), 4);
    }

    #[test]
    fn unknown_names_suggest_the_closest_or_list_all() {
        let known = ["dingtalk-ops".to_string(), "slack-dev".to_string()];
        let p = unknown("channel", "dingtalk-opz", known.iter());
        assert_eq!(
            p.to_string(),
            "unknown channel `dingtalk-opz`; did you mean `dingtalk-ops`?"
        );
        let p = unknown("channel", "pager", known.iter());
        assert_eq!(
            p.to_string(),
            "unknown channel `pager`; klaxon.yaml defines: dingtalk-ops, slack-dev"
        );
        let none: [String; 0] = [];
        let p = unknown("source", "x", none.iter());
        assert_eq!(
            p.to_string(),
            "unknown source `x`; klaxon.yaml defines no sources"
        );
    }
}
