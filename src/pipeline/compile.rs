//! From loaded configuration to runnable rules, with query problems placed at the
//! file, line and column of the query inside its rule file.

use crate::config::{at_query, Diagnostics, Level, LoadedConfig};
use crate::query::QueryOptions;

use super::{compile_loaded, CompiledRule};

/// Runnable rules plus the query warnings worth showing (e.g. AND/OR mixed without
/// parentheses). Every query error is collected; any error refuses the whole set.
pub fn compile_rules(
    loaded: &LoadedConfig,
) -> Result<(Vec<CompiledRule>, Diagnostics), Diagnostics> {
    let mut rules = Vec::new();
    let mut problems = Diagnostics::new();
    let options = query_options(loaded);
    for rule in &loaded.rules {
        // Through `compile_loaded`, so paths in a rule (a `values_file`) are read relative
        // to the rule file, as `run` reads them.
        match compile_loaded(rule, &options) {
            Ok(compiled) => {
                for w in compiled.query.warnings() {
                    let mut d = at_query(rule, w.column, w.message.clone());
                    d.severity = Level::Warning;
                    problems.push(d);
                }
                rules.push(compiled);
            }
            Err(diagnostics) => problems.extend(diagnostics),
        }
    }
    if problems.has_errors() {
        Err(problems)
    } else {
        Ok((rules, problems))
    }
}

/// The options every rule's query is read with: `query:` defaults plus the declared `fields:`.
pub fn query_options(loaded: &LoadedConfig) -> QueryOptions {
    let mut options = loaded.global.query.clone();
    options.fields = loaded.global.fields.clone();
    options
}
