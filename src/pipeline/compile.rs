//! From loaded configuration to runnable rules, every problem placed at the file, line and
//! column of the key (or the query character) it is about.

use std::collections::HashMap;

use crate::config::{Diagnostics, LoadedConfig, LoadedRule};
use crate::notify::RuleMessage;
use crate::query::QueryOptions;
use crate::rule::{Rule, RuleConfig};

/// What every rule of one configuration is built with.
#[derive(Debug, Clone, Default)]
pub struct RuleContext {
    /// `query:` defaults plus the declared `fields:`.
    pub options: QueryOptions,
    /// The sources klaxon.yaml defines (`None`: a rule file on its own).
    pub sources: Option<Vec<String>>,
}

impl RuleContext {
    pub fn of(loaded: &LoadedConfig) -> Self {
        RuleContext {
            options: query_options(loaded),
            sources: Some(loaded.global.sources.keys().cloned().collect()),
        }
    }
}

/// Runnable rules plus the warnings worth showing (e.g. AND/OR mixed without
/// parentheses). Every problem is collected; any error refuses the whole set.
pub fn compile_rules(loaded: &LoadedConfig) -> Result<(Vec<Rule>, Diagnostics), Diagnostics> {
    let cx = RuleContext::of(loaded);
    let mut rules = Vec::new();
    let mut problems = Diagnostics::new();
    for loaded_rule in &loaded.rules {
        match compile_loaded(loaded_rule, &cx) {
            Ok((rule, warnings)) => {
                problems.extend(warnings);
                rules.push(rule);
            }
            Err(errors) => problems.extend(errors),
        }
    }
    if problems.has_errors() {
        Err(problems)
    } else {
        Ok((rules, problems))
    }
}

/// Builds one loaded rule (paths in it relative to its file); its warnings, or every
/// problem, placed in the file.
pub fn compile_loaded(
    loaded: &LoadedRule,
    cx: &RuleContext,
) -> Result<(Rule, Diagnostics), Diagnostics> {
    // In the order they appear in the file.
    let placed = |problems: Vec<_>| -> Diagnostics {
        let mut placed: Vec<_> = problems.iter().map(|p| loaded.problem(p)).collect();
        placed.sort_by_key(|d| (d.line, d.column));
        placed.into()
    };
    let sources = cx.sources.as_deref();
    match Rule::build(&loaded.config, &cx.options, loaded.dir(), sources) {
        Ok((rule, warnings)) => Ok((rule, placed(warnings))),
        Err(problems) => Err(placed(problems)),
    }
}

/// The options every rule's query is read with: `query:` defaults plus the declared `fields:`.
pub fn query_options(loaded: &LoadedConfig) -> QueryOptions {
    let mut options = loaded.global.query.clone();
    options.fields = loaded.global.fields.clone();
    options
}

/// What each rule says about its own messages (`templates:`, `dingtalk:`), by rule name;
/// rules that say nothing are left out.
pub fn rule_messages<'a>(
    rules: impl IntoIterator<Item = &'a RuleConfig>,
) -> HashMap<String, RuleMessage> {
    rules
        .into_iter()
        .map(|r| {
            let message = RuleMessage {
                templates: r
                    .templates
                    .iter()
                    .map(|(channel, parts)| (channel.clone(), parts.clone()))
                    .collect(),
                dingtalk: r.dingtalk.clone(),
            };
            (r.name.clone(), message)
        })
        .filter(|(_, m)| !m.is_empty())
        .collect()
}
