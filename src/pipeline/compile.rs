//! From loaded configuration to runnable rules, with query errors placed at the
//! file, line and column of the query inside its rule file.

use crate::config::{at_query, Diagnostics, LoadedConfig};

use super::CompiledRule;

/// Compile every rule's query; all errors are collected, none is fatal on its own.
pub fn compile_rules(loaded: &LoadedConfig) -> Result<Vec<CompiledRule>, Diagnostics> {
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for rule in &loaded.rules {
        match CompiledRule::compile(rule.config.clone(), &loaded.global.query) {
            Ok(compiled) => rules.push(compiled),
            Err(e) => problems.push(at_query(rule, e.column(), e.message().to_string())),
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(Diagnostics::from(problems))
    }
}
