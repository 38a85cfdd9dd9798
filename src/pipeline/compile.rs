//! From loaded configuration to runnable rules, every problem placed at the file, line and
//! column of the key (or the query character) it is about.

use crate::config::{Diagnostics, LoadedConfig, LoadedRule};
use crate::query::QueryOptions;
use crate::rule::Rule;

/// Runnable rules plus the warnings worth showing (e.g. AND/OR mixed without
/// parentheses). Every problem is collected; any error refuses the whole set.
pub fn compile_rules(loaded: &LoadedConfig) -> Result<(Vec<Rule>, Diagnostics), Diagnostics> {
    let options = query_options(loaded);
    let mut rules = Vec::new();
    let mut problems = Diagnostics::new();
    for loaded_rule in &loaded.rules {
        match compile_loaded(loaded_rule, &options) {
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
    options: &QueryOptions,
) -> Result<(Rule, Diagnostics), Diagnostics> {
    // In the order they appear in the file.
    let placed = |problems: Vec<_>| -> Diagnostics {
        let mut placed: Vec<_> = problems.iter().map(|p| loaded.problem(p)).collect();
        placed.sort_by_key(|d| (d.line, d.column));
        placed.into()
    };
    match Rule::build(&loaded.config, options, loaded.dir()) {
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
