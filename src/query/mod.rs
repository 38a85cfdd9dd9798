//! The query language: Lucene/Kibana syntax, parsed once, matched against every event.
//!
//! Pipeline: `lexer` (nom) → `parser` → [`Ast`] → compiled `matcher` tree (typed `leaf`s) →
//! one [`Prefilter`] per source. The whole Lucene/Kibana syntax is read (terms, phrases, fields,
//! groups, `_exists_`, wildcards, `/regex/`, ranges and comparisons, booleans, `+`/`-`,
//! escapes); fuzzy `~` and boosts `^` are rejected with [`QueryError::Unsupported`] rather than
//! matched differently. Precedence NOT > AND > OR. docs/QUERY.md is the user's reference.
//!
//! Matching mirrors Elasticsearch: text fields by the standard analyzer (see [`tokens`]),
//! keyword, number, date and ip fields as declared in [`QueryOptions::fields`]. A JSON array
//! field matches when any element does; a missing or null field never matches a positive
//! clause. [`Query::warnings`] flags ambiguous or useless queries.

mod analyze;
mod ast;
mod elastic;
mod error;
mod fields;
pub mod kibana;
mod leaf;
mod lexer;
mod lint;
mod matcher;
mod parser;
mod prefilter;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

pub use analyze::tokens;
pub use ast::{Ast, Bound};
pub use error::QueryError;
pub use fields::FieldType;
pub use parser::Warning;
pub use prefilter::{Prefilter, RuleSet};

use crate::event::Event;

/// Anything that decides whether an event matches; rules depend on this, not on the parser.
/// `now` is the pipeline's clock (wall time when running, event time in a replay): what
/// `now` in date math (`@timestamp:>now-15m`) means.
pub trait Matcher {
    fn matches(&self, event: &Event, now: DateTime<Utc>) -> bool;
}

/// A parsed, compiled query.
#[derive(Debug, Clone)]
pub struct Query {
    text: String,
    ast: Ast,
    warnings: Vec<Warning>,
    root: matcher::Node,
    opts: QueryOptions,
}

/// Parses and compiles `text`.
pub fn parse(text: &str, opts: &QueryOptions) -> Result<Query, QueryError> {
    let (ast, warnings) = parser::parse_ast(text, opts)?;
    // The parser compiled every leaf once to place its errors; nothing is left to fail here.
    let root = matcher::compile(&ast, opts).map_err(|m| QueryError::syntax(text, 0, m))?;
    Ok(Query {
        text: text.to_string(),
        ast,
        warnings,
        root,
        opts: opts.clone(),
    })
}

impl Query {
    /// Whether `event` matches, with `now` as the time date math (`now-15m`) counts from.
    pub fn matches(&self, event: &Event, now: DateTime<Utc>) -> bool {
        self.root.matches(event, now.timestamp_millis())
    }

    /// The field paths the query reads, sorted, each once.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.root.fields(&mut out);
        out.sort_unstable();
        out.dedup();
        out
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

    /// An Elasticsearch query body (the `"query"` of a search) meaning what Klaxon matches:
    /// a `bool` tree over native leaf queries.
    pub fn to_elasticsearch(&self) -> serde_json::Value {
        elastic::to_elasticsearch(&self.ast, &self.opts)
    }

    /// The same meaning as a `query_string` query (default field and operator included).
    pub fn to_query_string(&self) -> serde_json::Value {
        elastic::to_query_string(&self.ast, &self.opts)
    }

    /// Lucene text that Elasticsearch and Kibana (`language:lucene`) read as Klaxon does;
    /// the query to put in a Discover link.
    pub fn to_lucene(&self) -> String {
        elastic::to_lucene(&self.ast, &self.opts)
    }
}

impl Matcher for Query {
    fn matches(&self, event: &Event, now: DateTime<Utc>) -> bool {
        Query::matches(self, event, now)
    }
}

/// How a query is read: which field bare terms search and how adjacent terms combine.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryOptions {
    /// The field a bare term (without `field:`) searches.
    #[serde(default = "default_field")]
    pub default_field: String,
    #[serde(default)]
    pub default_operator: DefaultOperator,
    /// Declared field types (`fields:` at the top of klaxon.yaml); undeclared fields are text.
    #[serde(skip)]
    pub fields: BTreeMap<String, FieldType>,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            default_field: default_field(),
            default_operator: DefaultOperator::default(),
            fields: BTreeMap::new(),
        }
    }
}

impl QueryOptions {
    /// The declared type of `field` (text when undeclared).
    pub fn field_type(&self, field: &str) -> FieldType {
        self.fields.get(field).copied().unwrap_or_default()
    }
}

fn default_field() -> String {
    crate::event::MESSAGE_FIELD.to_string()
}

/// The operator between adjacent terms with none written (Kibana's default is OR).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum DefaultOperator {
    #[default]
    Or,
    And,
}
