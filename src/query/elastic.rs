//! Translation for Elasticsearch and Kibana, meaning exactly what Klaxon matches.
//!
//! - [`to_elasticsearch`]: a `bool` tree with native leaves (`match`, `match_phrase`, `term`,
//!   `wildcard`, `regexp`, `range`, `exists`), so Klaxon's precedence (NOT > AND > OR), its
//!   `+`/`-` reading and its phrase reading of multi-token terms hold inside Elasticsearch.
//! - [`to_lucene`]: the query as Lucene text Elasticsearch's `query_string` (and Kibana with
//!   `language:lucene`) reads the same way: every group parenthesized, every `NOT` wrapped in its
//!   own group (a lone `a OR NOT b` means `a AND NOT b` to Lucene), and terms that analyze to
//!   several tokens quoted (Lucene would OR the tokens).

use serde_json::{json, Map, Value};

use super::analyze::{analyze, lowercase};
use super::ast::{Ast, Bound};
use super::fields::{parse_number, FieldType};
use super::matcher::leaf_field;
use super::{DefaultOperator, QueryOptions};

/// An Elasticsearch query body (the value of `"query"` in a search request).
pub(crate) fn to_elasticsearch(ast: &Ast, opts: &QueryOptions) -> Value {
    match ast {
        Ast::And(items) => {
            json!({"bool": {"filter": items.iter().map(|i| to_elasticsearch(i, opts)).collect::<Vec<_>>()}})
        }
        Ast::Or(items) => json!({"bool": {
            "should": items.iter().map(|i| to_elasticsearch(i, opts)).collect::<Vec<_>>(),
            "minimum_should_match": 1,
        }}),
        Ast::Not(inner) => json!({"bool": {"must_not": [to_elasticsearch(inner, opts)]}}),
        leaf => leaf_query(leaf, opts),
    }
}

fn leaf_query(ast: &Ast, opts: &QueryOptions) -> Value {
    let (field, ty) = leaf_field(ast, opts);
    let one = |kind: &str, body: Value| {
        let mut inner = Map::new();
        inner.insert(field.to_string(), body);
        json!({ kind: inner })
    };
    match (ast, ty) {
        (Ast::MatchAll, _) => json!({"match_all": {}}),
        (Ast::Exists { .. }, _) => json!({"exists": {"field": field}}),
        (Ast::Wildcard { pattern, .. }, _) if pattern == "*" => {
            json!({"exists": {"field": field}})
        }
        (Ast::Term { text, .. } | Ast::Phrase { text, .. }, FieldType::Text) => {
            if analyze(text).len() > 1 {
                one("match_phrase", json!(text))
            } else {
                one("match", json!(text))
            }
        }
        (Ast::Term { text, .. } | Ast::Phrase { text, .. }, FieldType::Date) => {
            one("range", json!({"gte": text, "lte": text}))
        }
        (Ast::Term { text, .. } | Ast::Phrase { text, .. }, _) => {
            one("term", typed_value(text, ty))
        }
        (Ast::Wildcard { pattern, .. }, FieldType::Text) => {
            one("wildcard", json!({"value": lowercase(pattern)}))
        }
        (Ast::Wildcard { pattern, .. }, _) => one("wildcard", json!({"value": pattern})),
        (Ast::Regex { pattern, .. }, _) => one("regexp", json!({"value": pattern})),
        (Ast::Range { lower, upper, .. }, _) => {
            let mut limits = Map::new();
            let mut put = |b: &Bound, inclusive: &str, exclusive: &str| {
                let (key, v) = match b {
                    Bound::Unbounded => return,
                    Bound::Included(v) => (inclusive, v),
                    Bound::Excluded(v) => (exclusive, v),
                };
                let v = if ty == FieldType::Text {
                    lowercase(v)
                } else {
                    v.clone()
                };
                limits.insert(key.to_string(), typed_value(&v, ty));
            };
            put(lower, "gte", "gt");
            put(upper, "lte", "lt");
            one("range", Value::Object(limits))
        }
        (Ast::Not(_) | Ast::And(_) | Ast::Or(_), _) => to_elasticsearch(ast, opts),
    }
}

/// Numbers go as JSON numbers for number fields; everything else as strings.
fn typed_value(v: &str, ty: FieldType) -> Value {
    match (ty, parse_number(v)) {
        (FieldType::Number, Some(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => json!(n as i64),
        (FieldType::Number, Some(n)) => json!(n),
        _ => json!(v),
    }
}

/// The query as Lucene text that Elasticsearch's `query_string` reads as Klaxon does.
pub(crate) fn to_lucene(ast: &Ast, opts: &QueryOptions) -> String {
    let mut out = String::new();
    write_lucene(ast, opts, &mut out);
    out
}

fn write_lucene(ast: &Ast, opts: &QueryOptions, out: &mut String) {
    match ast {
        Ast::And(items) | Ast::Or(items) => {
            let op = if matches!(ast, Ast::And(_)) {
                " AND "
            } else {
                " OR "
            };
            out.push('(');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(op);
                }
                write_lucene(item, opts, out);
            }
            out.push(')');
        }
        Ast::Not(inner) => {
            out.push_str("(NOT ");
            write_lucene(inner, opts, out);
            out.push(')');
        }
        Ast::Term { field, text }
            if leaf_field(ast, opts).1 == FieldType::Text && analyze(text).len() > 1 =>
        {
            let phrase = Ast::Phrase {
                field: field.clone(),
                text: text.clone(),
            };
            out.push_str(&phrase.to_string());
        }
        leaf => out.push_str(&leaf.to_string()),
    }
}

/// `{"query_string": …}` carrying [`to_lucene`]'s text, for APIs that only take Lucene text.
pub(crate) fn to_query_string(ast: &Ast, opts: &QueryOptions) -> Value {
    json!({"query_string": {
        "query": to_lucene(ast, opts),
        "default_field": opts.default_field,
        "default_operator": match opts.default_operator {
            DefaultOperator::Or => "OR",
            DefaultOperator::And => "AND",
        },
    }})
}
