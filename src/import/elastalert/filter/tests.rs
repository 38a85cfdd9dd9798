use serde_json::json;

use super::*;
use crate::query::{Ast, QueryOptions};

fn q(filters: Value) -> String {
    let mut t = Translation::default();
    let q = t
        .filters(&filters, "filter")
        .unwrap_or_else(|r| panic!("{r:?}"));
    let text = render(&q);
    crate::query::parse(&text, &QueryOptions::default())
        .unwrap_or_else(|e| panic!("`{text}` does not parse: {e:?}"));
    text
}

fn refused(filters: Value) -> Refused {
    Translation::default()
        .filters(&filters, "filter")
        .expect_err("should be refused")
}

#[test]
fn leaf_clauses() {
    assert_eq!(
        q(json!([{"term": {"status": "Error"}}])),
        r#"status:"Error""#
    );
    assert_eq!(q(json!([{"term": {"code": 500}}])), "code:500");
    assert_eq!(q(json!([{"term": {"ok": {"value": true}}}])), "ok:true");
    assert_eq!(
        q(json!([{"terms": {"sku": ["a", "b\"c"]}}])),
        r#"sku:("a" OR "b\"c")"#
    );
    assert_eq!(
        q(json!([{"match": {"msg": "order timeout"}}])),
        r#"msg:("order" OR "timeout")"#
    );
    assert_eq!(
        q(json!([{"match": {"msg": {"query": "order timeout", "operator": "and"}}}])),
        r#"msg:("order" AND "timeout")"#
    );
    assert_eq!(
        q(json!([{"match_phrase": {"msg": "order timeout"}}])),
        r#"msg:"order timeout""#
    );
    assert_eq!(q(json!([{"exists": {"field": "trace"}}])), "_exists_:trace");
    assert_eq!(
        q(json!([{"wildcard": {"host": "web-*.ex?"}}])),
        r"host:web\-*.ex?"
    );
    assert_eq!(
        q(json!([{"wildcard": {"host": {"value": "a:b*"}}}])),
        r"host:a\:b*"
    );
    assert_eq!(q(json!([{"prefix": {"path": "/api/"}}])), r"path:\/api\/*");
    assert_eq!(q(json!([{"regexp": {"id": "o[0-9]+"}}])), "id:/o[0-9]+/");
    assert_eq!(
        q(json!([{"term": {"http.status": 503}}])),
        "http.status:503"
    );
    assert_eq!(
        q(json!([{"term": {"user.keyword": "bob"}}])),
        r#"user:"bob""#
    );
}

#[test]
fn ranges() {
    assert_eq!(
        q(json!([{"range": {"s": {"gte": 500, "lt": 600}}}])),
        "s:[500 TO 600}"
    );
    assert_eq!(
        q(json!([{"range": {"s": {"gt": 1, "lte": 2}}}])),
        "s:{1 TO 2]"
    );
    assert_eq!(q(json!([{"range": {"s": {"gte": 500}}}])), "s:>=500");
    assert_eq!(q(json!([{"range": {"s": {"lt": 5}}}])), "s:<5");
    assert_eq!(
        q(json!([{"range": {"@timestamp": {"gte": "now-1h"}}}])),
        r"@timestamp:>=now-1h"
    );
    assert_eq!(
        q(json!([{"range": {"ts": {"gte": "2024-05-01T00:00:00Z", "lte": "now/d"}}}])),
        r"ts:[2024-05-01T00:00:00Z TO now\/d]"
    );
    assert!(refused(json!([{"range": {"s": {}}}]))
        .reason
        .contains("no bound"));
}

#[test]
fn bool_and_lists() {
    assert_eq!(
        q(json!([{"term": {"a": "x"}}, {"term": {"b": "y"}}])),
        r#"a:"x" AND b:"y""#
    );
    assert_eq!(
        q(json!([{"bool": {
            "must": [{"term": {"a": "x"}}],
            "should": [{"term": {"b": "1"}}, {"term": {"b": "2"}}],
            "must_not": [{"term": {"c": "z"}}, {"exists": {"field": "d"}}]
        }}])),
        r#"a:"x" AND NOT c:"z" AND NOT _exists_:d AND (b:"1" OR b:"2")"#
    );
    // Single dicts instead of lists; nested bools keep their grouping.
    assert_eq!(
        q(
            json!([{"bool": {"should": {"bool": {"must": [{"term": {"a": "1"}}, {"term": {"b": "2"}}]}},
                           "must_not": {"term": {"c": "3"}}}}])
        ),
        r#"NOT c:"3" AND a:"1" AND b:"2""#
    );
    assert_eq!(
        q(
            json!([{"bool": {"should": [{"term": {"a": "1"}}, {"bool": {"must": [{"term": {"b": "2"}}, {"term": {"c": "3"}}]}}]}}])
        ),
        r#"a:"1" OR (b:"2" AND c:"3")"#
    );
    // Every `should` clause needed is AND; none needed drops them.
    assert_eq!(
        q(
            json!([{"bool": {"should": [{"term": {"a": "1"}}, {"term": {"b": "2"}}], "minimum_should_match": 2}}])
        ),
        r#"a:"1" AND b:"2""#
    );
    assert_eq!(
        q(
            json!([{"bool": {"filter": [{"term": {"a": "1"}}], "should": [{"term": {"b": "2"}}], "minimum_should_match": 0}}])
        ),
        r#"a:"1""#
    );
    let r = refused(
        json!([{"bool": {"should": [{"term": {"a": "1"}}, {"term": {"b": "2"}}, {"term": {"c": "3"}}], "minimum_should_match": "2"}}]),
    );
    assert_eq!(r.path, "filter.0.bool.minimum_should_match");
    assert!(r.reason.contains("at least 2 of 3"));
}

#[test]
fn empty_and_match_all_are_every_event() {
    assert_eq!(q(json!([])), "*:*");
    assert_eq!(q(Value::Null), "*:*");
    assert_eq!(q(json!([{"match_all": {}}])), "*:*");
    assert_eq!(q(json!([{"bool": {}}])), "*:*");
    assert_eq!(
        q(json!([{"bool": {"must_not": {"term": {"a": "1"}}}}])),
        r#"NOT a:"1""#
    );
    assert!(refused(json!([{"bool": {"must_not": {"match_all": {}}}}]))
        .reason
        .contains("never fire"));
}

#[test]
fn query_string_keeps_its_text_unless_options_change_the_reading() {
    assert_eq!(
        q(json!([{"query": {"query_string": {"query": "level:ERROR AND (a OR b)"}}}])),
        "level:ERROR AND (a OR b)"
    );
    assert_eq!(
        q(json!([{"query_string": {"query": "a b", "default_operator": "AND"}}])),
        "(a AND b)"
    );
    assert_eq!(
        q(json!([{"query_string": {"query": "a OR level:x", "default_field": "msg"}}])),
        "(msg:a OR level:x)"
    );
    // Combined with another filter, the text is grouped.
    assert_eq!(
        q(json!([{"query_string": {"query": "a OR b"}}, {"term": {"c": "1"}}])),
        r#"(a OR b) AND c:"1""#
    );
    let r = refused(json!([{"query_string": {"query": "roam~1"}}]));
    assert!(r.reason.contains("Klaxon cannot read"), "{r:?}");
}

#[test]
fn field_types_follow_the_clauses() {
    let mut t = Translation::default();
    t.filters(
        &json!([
            {"term": {"clientip": "10.0.0.0/8"}},
            {"term": {"host.keyword": "web-1"}},
            {"range": {"ms": {"gte": 100}}},
            {"range": {"ts": {"gte": "now-1h"}}},
            {"prefix": {"path": "/a"}},
            {"match": {"msg": "x"}}
        ]),
        "filter",
    )
    .unwrap();
    let kinds = |f: &str| t.hints.get(f).cloned().unwrap_or_default();
    assert_eq!(kinds("clientip"), vec![FieldType::Ip]);
    assert_eq!(kinds("host"), vec![FieldType::Keyword]);
    assert_eq!(kinds("ms"), vec![FieldType::Number]);
    assert_eq!(kinds("ts"), vec![FieldType::Date]);
    assert_eq!(kinds("path"), vec![FieldType::Keyword]);
    assert!(kinds("msg").is_empty());
}

#[test]
fn refusals_name_the_clause() {
    let r = refused(json!([{"term": {"a": "1"}}, {"geo_distance": {"distance": "1km"}}]));
    assert_eq!(r.path, "filter.1.geo_distance");
    let r = refused(json!([{"bool": {"filter": [{"script": {"script": "x"}}]}}]));
    assert_eq!(r.path, "filter.0.bool.filter.0.script");
    assert!(refused(json!([{"terms": {"a": []}}]))
        .reason
        .contains("empty"));
    assert!(refused(json!([{"term": {"a": ""}}]))
        .reason
        .contains("empty string"));
    assert!(refused(json!("text")).reason.contains("list of filters"));
}

#[test]
fn hostile_values_stay_inside_their_clause() {
    // Quotes, parentheses and operators in values cannot change the query's shape.
    let text = q(json!([{"term": {"a": "x\" OR *:* OR \"y"}}, {"term": {"b": "2"}}]));
    let parsed = crate::query::parse(&text, &QueryOptions::default()).unwrap();
    assert!(
        matches!(parsed.ast(), Ast::And(items) if items.len() == 2),
        "{text}"
    );
    let text = q(json!([{"wildcard": {"a": "x) OR (y*"}}]));
    let parsed = crate::query::parse(&text, &QueryOptions::default()).unwrap();
    assert!(matches!(parsed.ast(), Ast::Wildcard { .. }), "{text}");
    let text = q(json!([{"term": {"a b:c": "1"}}]));
    assert_eq!(text, r#"a\ b\:c:"1""#);
}
