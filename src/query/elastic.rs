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
use super::fields::{parse_ip_block, parse_number, FieldType};
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
    if let Some(addresses) = ip_range_as_addresses(ast, opts) {
        return leaf_query(&addresses, opts);
    }
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

/// A range on an `ip` field with a CIDR block at an end, the block written as the address
/// Klaxon reads it as: Elasticsearch takes a block in a term (`client_ip:"10.0.0.0/8"`)
/// but refuses one as a range's end, which must be an address. A block stands for its first
/// address where the range takes it in from below or leaves it out from above, and for its
/// last otherwise: `[10.0.0.0/8 TO *]` starts at 10.0.0.0, `{10.0.0.0/8 TO *]` after
/// 10.255.255.255. `None` when there is nothing to rewrite.
fn ip_range_as_addresses(ast: &Ast, opts: &QueryOptions) -> Option<Ast> {
    let Ast::Range {
        field,
        lower,
        upper,
    } = ast
    else {
        return None;
    };
    let is_block = |b: &Bound| b.value().is_some_and(|v| v.contains('/'));
    if leaf_field(ast, opts).1 != FieldType::Ip || !(is_block(lower) || is_block(upper)) {
        return None;
    }
    let end = |b: &Bound, from_below: bool| match b {
        Bound::Included(v) => Bound::Included(address_of(v, from_below)),
        Bound::Excluded(v) => Bound::Excluded(address_of(v, !from_below)),
        Bound::Unbounded => Bound::Unbounded,
    };
    Some(Ast::Range {
        field: field.clone(),
        lower: end(lower, true),
        upper: end(upper, false),
    })
}

/// The first (or last) address of the block `v`; `v` itself when it is not one (the parser
/// has refused what is neither an address nor a block).
fn address_of(v: &str, first: bool) -> String {
    let Some((lo, hi)) = v.contains('/').then(|| parse_ip_block(v).ok()).flatten() else {
        return v.to_string();
    };
    // IPv4 addresses are held mapped into IPv6: written back as IPv4.
    let ip = std::net::Ipv6Addr::from(if first { lo } else { hi });
    ip.to_ipv4_mapped()
        .map_or_else(|| ip.to_string(), |v4| v4.to_string())
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
        Ast::Range { .. } => match ip_range_as_addresses(ast, opts) {
            Some(addresses) => out.push_str(&addresses.to_string()),
            None => out.push_str(&ast.to_string()),
        },
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

#[cfg(test)]
mod tests {
    use crate::query::{parse, FieldType, QueryOptions};
    use serde_json::json;

    fn ip(q: &str) -> (serde_json::Value, String) {
        let mut opts = QueryOptions::default();
        opts.fields.insert("client_ip".into(), FieldType::Ip);
        let q = parse(q, &opts).unwrap();
        (q.to_elasticsearch(), q.to_lucene())
    }

    #[test]
    fn blocks_are_terms_and_range_ends_are_addresses() {
        // A block in a term is what Elasticsearch's `ip` fields take.
        assert_eq!(
            ip(r#"client_ip:"10.0.0.0/8""#).0,
            json!({"term": {"client_ip": "10.0.0.0/8"}})
        );
        assert_eq!(
            ip(r#"client_ip:"2001:db8::/32""#),
            (
                json!({"term": {"client_ip": "2001:db8::/32"}}),
                r#"client_ip:"2001:db8::/32""#.to_string()
            )
        );
        // A block at a range's end is the address Klaxon matches from or to.
        assert_eq!(
            ip(r#"client_ip:["10.0.0.0/8" TO *]"#),
            (
                json!({"range": {"client_ip": {"gte": "10.0.0.0"}}}),
                "client_ip:[10.0.0.0 TO *]".to_string()
            )
        );
        assert_eq!(
            ip(r#"client_ip:{"10.0.0.0/8" TO "10.2.0.0/16"}"#).0,
            json!({"range": {"client_ip": {"gt": "10.255.255.255", "lt": "10.2.0.0"}}})
        );
        assert_eq!(
            ip(r#"client_ip:["2001:db8::/32" TO "2001:db8::/32"]"#).0,
            json!({"range": {"client_ip": {
                "gte": "2001:db8::",
                "lte": "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
            }}})
        );
        // Addresses are left as written.
        assert_eq!(
            ip("client_ip:[10.0.0.1 TO 10.0.0.9}").0,
            json!({"range": {"client_ip": {"gte": "10.0.0.1", "lt": "10.0.0.9"}}})
        );
    }
}
