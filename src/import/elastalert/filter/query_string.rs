//! `query_string`: Lucene text Klaxon reads as written, unless its options
//! (`default_field`, `default_operator`) or `.keyword` sub-fields change how it reads.

use serde_json::{Map, Value};

use super::text::strip_keyword;
use super::{refuse, Refused, Result, Translation, Q};
use crate::query::{Ast, FieldType, QueryOptions};

impl Translation {
    pub(super) fn query_string(&mut self, body: &Value, path: &str) -> Result<Q> {
        let (text, opts) = match body {
            Value::String(s) => (s.as_str(), &Map::new()),
            Value::Object(m) => match m.get("query") {
                Some(Value::String(s)) => (s.as_str(), m),
                _ => return refuse(path, "`query_string` needs a `query` text"),
            },
            _ => return refuse(path, "`query_string` needs a `query` text"),
        };
        let mut options = QueryOptions::default();
        let mut explicit_field = false;
        for (key, value) in opts {
            match (key.as_str(), value) {
                ("query", _) => {}
                ("default_field", Value::String(f)) if f == "*" => {}
                ("default_field", Value::String(f)) => {
                    options.default_field = f.clone();
                    explicit_field = true;
                }
                ("default_operator", Value::String(op)) => match op.to_ascii_uppercase().as_str() {
                    "AND" => options.default_operator = crate::query::DefaultOperator::And,
                    "OR" => {}
                    _ => return refuse(&format!("{path}.{key}"), "expected AND or OR"),
                },
                ("fields", Value::Array(f)) if f.len() == 1 && f[0].is_string() => {
                    options.default_field = f[0].as_str().unwrap_or_default().to_string();
                    explicit_field = true;
                }
                ("fields", _) => {
                    return refuse(
                        &format!("{path}.{key}"),
                        "several default fields: write the field names into the query",
                    )
                }
                (
                    "analyze_wildcard"
                    | "allow_leading_wildcard"
                    | "boost"
                    | "_name"
                    | "lenient"
                    | "auto_generate_synonyms_phrase_query"
                    | "escape",
                    _,
                ) => {}
                _ => self.dropped.push(Refused {
                    path: format!("{path}.{key}"),
                    reason: "a `query_string` option Klaxon does not have".into(),
                }),
            }
        }
        let parsed = match crate::query::parse(text, &options) {
            Ok(q) => q,
            Err(e) => {
                return refuse(
                    path,
                    format!("Klaxon cannot read this query: {}", e.message()),
                )
            }
        };
        let ast = parsed.ast();
        if !explicit_field && has_bare_term(ast) {
            self.dropped.push(Refused {
                path: path.to_string(),
                reason: "bare terms search the `message` field in Klaxon; in Elasticsearch they \
                         searched every field (write `field:term` where the text is elsewhere)"
                    .into(),
            });
        }
        // Events carry `status`, not the index's `status.keyword` sub-field.
        let keyword_fields: Vec<String> = parsed
            .fields()
            .into_iter()
            .filter(|f| f.ends_with(".keyword"))
            .map(strip_keyword)
            .collect();
        for f in &keyword_fields {
            self.hint(f, FieldType::Keyword);
        }
        // The text as written reads the same in Klaxon unless options changed how it reads.
        if keyword_fields.is_empty()
            && !explicit_field
            && options.default_operator == crate::query::DefaultOperator::Or
        {
            return Ok(Q::Text(text.trim().to_string()));
        }
        let default = explicit_field.then_some(options.default_field.as_str());
        let rename = |f: &Option<String>| match f {
            Some(f) => Some(strip_keyword(f)),
            None => default.map(str::to_string),
        };
        Ok(Q::Text(map_fields(ast, &rename).to_string()))
    }
}

fn has_bare_term(ast: &Ast) -> bool {
    match ast {
        Ast::Term { field, .. }
        | Ast::Phrase { field, .. }
        | Ast::Wildcard { field, .. }
        | Ast::Regex { field, .. }
        | Ast::Range { field, .. } => field.is_none(),
        Ast::Exists { .. } | Ast::MatchAll => false,
        Ast::Not(inner) => has_bare_term(inner),
        Ast::And(items) | Ast::Or(items) => items.iter().any(has_bare_term),
    }
}

/// `ast` with every clause's field (`None`: the default field) replaced by `rename`'s.
fn map_fields(ast: &Ast, rename: &dyn Fn(&Option<String>) -> Option<String>) -> Ast {
    match ast {
        Ast::Term { field, text } => Ast::Term {
            field: rename(field),
            text: text.clone(),
        },
        Ast::Phrase { field, text } => Ast::Phrase {
            field: rename(field),
            text: text.clone(),
        },
        Ast::Wildcard { field, pattern } => Ast::Wildcard {
            field: rename(field),
            pattern: pattern.clone(),
        },
        Ast::Regex { field, pattern } => Ast::Regex {
            field: rename(field),
            pattern: pattern.clone(),
        },
        Ast::Range {
            field,
            lower,
            upper,
        } => Ast::Range {
            field: rename(field),
            lower: lower.clone(),
            upper: upper.clone(),
        },
        Ast::Exists { field } => Ast::Exists {
            field: rename(&Some(field.clone())).unwrap_or_else(|| field.clone()),
        },
        Ast::Not(inner) => Ast::Not(Box::new(map_fields(inner, rename))),
        Ast::And(items) => Ast::And(items.iter().map(|a| map_fields(a, rename)).collect()),
        Ast::Or(items) => Ast::Or(items.iter().map(|a| map_fields(a, rename)).collect()),
        Ast::MatchAll => Ast::MatchAll,
    }
}
