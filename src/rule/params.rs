//! What every rule type's params implement, and what building one works with: the checks
//! shared by several types, and problems named by the key they are about (the config
//! loader turns the key into a file, line and column).

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::RuleType;
use crate::query::{Query, QueryOptions};
use crate::types::HumanDuration;

/// The longest query a rule may hold (its own `query:` or one inside its type's keys).
pub const MAX_QUERY_BYTES: usize = 16 * 1024;

pub(super) fn too_long(key: &str) -> String {
    format!(
        "`{key}` is longer than {} KiB; a query is at most that",
        MAX_QUERY_BYTES / 1024
    )
}

/// The params struct of one rule type (`FrequencyParams`, …): plain serde data with
/// `deny_unknown_fields`, defaults for optional keys applied in `build` only.
pub trait Params:
    fmt::Debug + Clone + PartialEq + Serialize + DeserializeOwned + schemars::JsonSchema
{
    /// Bump when stored state of this type no longer reads back, or means something else:
    /// every rule of the type then starts empty once. Adding an optional key does not need
    /// it (unset keys are left out of the state identity).
    const STATE_VERSION: u32;

    /// Checks the params and builds the rule type; every problem goes to `cx`, and `None`
    /// comes back when there was one.
    fn build(&self, cx: &mut BuildContext<'_>) -> Option<Box<dyn RuleType>>;

    /// The window an alert's count was taken over, for the message's summary ("5 matches
    /// of `…` in 1m"); `None` where the count is not over a window.
    fn counted_over(&self) -> Option<HumanDuration> {
        None
    }

    /// Whether an alert's count is of distinct values rather than of matching events.
    fn counts_distinct(&self) -> bool {
        false
    }
}

/// Something done with whichever params a rule has (see `RuleParams::visit`).
pub trait ParamsVisitor {
    type Out;
    fn visit<P: Params>(self, params: &P) -> Self::Out;
}

/// A problem with one key of a rule (`key` is a dotted path such as `left.query`; empty
/// for the rule as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub key: String,
    pub message: String,
    /// For a query value: the 1-based character of the query the problem is at.
    pub column: Option<usize>,
    /// Worth showing, but the rule still runs.
    pub warning: bool,
}

/// What building a rule type has to hand, and where its problems go.
pub struct BuildContext<'a> {
    pub options: &'a QueryOptions,
    /// The directory of the rule file (`values_file` is relative to it).
    pub dir: &'a Path,
    /// The rule's `source`.
    pub source: &'a str,
    /// Whether the rule has `group_by` fields.
    pub grouped: bool,
    pub max_keys: usize,
    /// The sources klaxon.yaml defines, when the rule is built against one.
    pub(super) known_sources: Option<&'a [String]>,
    pub(super) problems: Vec<RuleProblem>,
}

impl<'a> BuildContext<'a> {
    pub fn new(options: &'a QueryOptions, dir: &'a Path, source: &'a str) -> Self {
        BuildContext {
            options,
            dir,
            source,
            grouped: false,
            max_keys: super::DEFAULT_MAX_KEYS,
            known_sources: None,
            problems: Vec::new(),
        }
    }

    pub fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(RuleProblem {
            key: key.to_string(),
            message: message.into(),
            column: None,
            warning: false,
        });
    }

    pub fn warning(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(RuleProblem {
            key: key.to_string(),
            message: message.into(),
            column: None,
            warning: true,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| !p.warning)
    }

    /// `value`, refused when 0.
    pub fn at_least_one(&mut self, key: &str, value: u64) -> u64 {
        if value == 0 {
            self.problem(key, format!("`{key}` must be at least 1"));
        }
        value.max(1)
    }

    /// `d` as a chrono duration, refused when zero.
    pub fn positive(&mut self, key: &str, d: HumanDuration) -> chrono::Duration {
        if d.0.is_zero() {
            self.problem(key, format!("`{key}` must be longer than 0"));
        }
        d.as_chrono()
    }

    /// Exactly one of two alternative keys must be set (`values` or `values_file`).
    pub fn one_of(&mut self, kind: &str, (a, a_set): (&str, bool), (b, b_set): (&str, bool)) {
        match (a_set, b_set) {
            (false, false) => self.problem(
                "type",
                format!("`type: {kind}` requires one of `{a}` and `{b}`"),
            ),
            (true, true) => self.problem(b, format!("`{a}` and `{b}` cannot both be set; use one")),
            _ => {}
        }
    }

    /// At least one of two keys must be set (`above` and/or `below`).
    pub fn any_of(&mut self, kind: &str, (a, a_set): (&str, bool), (b, b_set): (&str, bool)) {
        if !a_set && !b_set {
            self.problem(
                "type",
                format!("`type: {kind}` requires one of `{a}` and `{b}`"),
            );
        }
    }

    /// A source named at `key` (besides the rule's own `source:`) must be one klaxon.yaml
    /// defines.
    pub fn source(&mut self, key: &str, name: &str) {
        let Some(known) = self.known_sources else {
            return;
        };
        if known.iter().any(|s| s == name) {
            return;
        }
        let hint = match crate::types::closest(name, known.iter().map(String::as_str)) {
            Some(k) => format!("; did you mean `{k}`?"),
            None if known.is_empty() => "; klaxon.yaml defines no sources".into(),
            None => format!("; klaxon.yaml defines: {}", known.join(", ")),
        };
        self.problem(key, format!("unknown source `{name}`{hint}"));
    }

    /// A query held in `key` (not the rule's own `query:`), compiled with the rule's options;
    /// a syntax error is placed at its character inside the value.
    pub fn query(&mut self, key: &str, text: &str) -> Option<Query> {
        if text.len() > MAX_QUERY_BYTES {
            self.problem(key, too_long(key));
            return None;
        }
        match crate::query::parse(text, self.options) {
            Ok(q) => Some(q),
            Err(e) => {
                self.problems.push(RuleProblem {
                    key: key.to_string(),
                    message: format!("`{key}`: {}", e.message()),
                    column: Some(e.column()),
                    warning: false,
                });
                None
            }
        }
    }
}
