//! The query language: Lucene/Kibana syntax, parsed once, matched against every event.
//!
//! Pipeline: `lexer` (nom) → `parser` → [`Ast`] → compiled `matcher` tree. Supported
//! today: bare terms, `"phrases"`, `field:value`, `field:"phrase"`, `field:(a OR b)`,
//! `AND`/`OR`/`NOT`, `&&`/`||`/`!`, parentheses and `\` escapes; precedence NOT > AND > OR.
//! Other Lucene syntax (wildcards, ranges, regex, fuzzy, boosts, `+`/`-`) is rejected with
//! [`QueryError::Unsupported`] rather than matched as plain text.
//!
//! Matching mirrors Elasticsearch's standard analyzer (see [`tokens`]): a term matches a field
//! holding the same token case-insensitively; a phrase, or a term that analyzes to several
//! tokens, matches consecutive tokens. A JSON array field matches when any element does; a
//! missing or null field never matches a positive clause. [`Query::warnings`] flags AND and OR
//! mixed without parentheses.

mod analyze;
mod ast;
mod error;
pub mod kibana;
mod lexer;
mod matcher;
mod parser;
#[cfg(test)]
mod tests;

use serde::Deserialize;

pub use analyze::tokens;
pub use ast::Ast;
pub use error::QueryError;
pub use parser::Warning;

use crate::event::Event;

/// Anything that decides whether an event matches; rules depend on this, not on the parser.
pub trait Matcher {
    fn matches(&self, event: &Event) -> bool;
}

/// A parsed, compiled query.
#[derive(Debug, Clone)]
pub struct Query {
    text: String,
    ast: Ast,
    warnings: Vec<Warning>,
    root: matcher::Node,
}

/// Parses and compiles `text`.
pub fn parse(text: &str, opts: &QueryOptions) -> Result<Query, QueryError> {
    let (ast, warnings) = parser::parse_ast(text, opts)?;
    let root = matcher::compile(&ast, &opts.default_field);
    Ok(Query {
        text: text.to_string(),
        ast,
        warnings,
        root,
    })
}

impl Query {
    /// Whether `event` matches.
    pub fn matches(&self, event: &Event) -> bool {
        self.root.matches(event)
    }

    /// The query as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The parsed query.
    pub fn ast(&self) -> &Ast {
        &self.ast
    }

    /// Valid but ambiguous constructs (e.g. AND and OR mixed without parentheses), for
    /// `klaxon check` to show.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

impl Matcher for Query {
    fn matches(&self, event: &Event) -> bool {
        Query::matches(self, event)
    }
}

/// How a query is read: which field bare terms search and how adjacent terms combine.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QueryOptions {
    #[serde(default = "default_field")]
    pub default_field: String,
    #[serde(default)]
    pub default_operator: DefaultOperator,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            default_field: default_field(),
            default_operator: DefaultOperator::default(),
        }
    }
}

fn default_field() -> String {
    crate::event::MESSAGE_FIELD.to_string()
}

/// The operator between adjacent terms with none written (Kibana's default is OR).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum DefaultOperator {
    #[default]
    Or,
    And,
}
