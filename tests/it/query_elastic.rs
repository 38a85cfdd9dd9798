//! Exact Elasticsearch bodies and Lucene text for each construct.

use klaxon::query::{parse, DefaultOperator, FieldType, QueryOptions};
use serde_json::json;

fn opts() -> QueryOptions {
    let mut opts = QueryOptions::default();
    opts.fields.insert("status".into(), FieldType::Keyword);
    opts.fields.insert("latency_ms".into(), FieldType::Number);
    opts.fields.insert("ts".into(), FieldType::Date);
    opts.fields.insert("client_ip".into(), FieldType::Ip);
    opts
}

fn es(q: &str) -> serde_json::Value {
    parse(q, &opts())
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .to_elasticsearch()
}

#[test]
fn leaves_become_native_queries() {
    assert_eq!(es("error"), json!({"match": {"message": "error"}}));
    assert_eq!(
        es("order-timeout"),
        json!({"match_phrase": {"message": "order-timeout"}})
    );
    assert_eq!(es(r#"msg:"a b""#), json!({"match_phrase": {"msg": "a b"}}));
    assert_eq!(es("status:PAID"), json!({"term": {"status": "PAID"}}));
    assert_eq!(es("latency_ms:500"), json!({"term": {"latency_ms": 500}}));
    assert_eq!(es("latency_ms:1.5"), json!({"term": {"latency_ms": 1.5}}));
    assert_eq!(
        es(r#"client_ip:"10.0.0.0/8""#),
        json!({"term": {"client_ip": "10.0.0.0/8"}})
    );
    assert_eq!(
        es("ts:2024-05-01"),
        json!({"range": {"ts": {"gte": "2024-05-01", "lte": "2024-05-01"}}})
    );
    assert_eq!(
        es("Ord*"),
        json!({"wildcard": {"message": {"value": "ord*"}}})
    );
    assert_eq!(
        es("status:PA?D"),
        json!({"wildcard": {"status": {"value": "PA?D"}}})
    );
    assert_eq!(es("x:*"), json!({"exists": {"field": "x"}}));
    assert_eq!(
        es("_exists_:trace_id"),
        json!({"exists": {"field": "trace_id"}})
    );
    assert_eq!(
        es(r"/a\/b[0-9]/"),
        json!({"regexp": {"message": {"value": "a/b[0-9]"}}})
    );
    assert_eq!(
        es("latency_ms:>=100"),
        json!({"range": {"latency_ms": {"gte": 100}}})
    );
    assert_eq!(
        es("latency_ms:{1 TO 5]"),
        json!({"range": {"latency_ms": {"gt": 1, "lte": 5}}})
    );
    assert_eq!(
        es("ts:[now-15m TO *}"),
        json!({"range": {"ts": {"gte": "now-15m"}}})
    );
    assert_eq!(es("level:<M"), json!({"range": {"level": {"lt": "m"}}}));
}

#[test]
fn booleans_become_a_bool_tree_with_klaxon_precedence() {
    assert_eq!(
        es("a OR b AND NOT c"),
        json!({"bool": {"minimum_should_match": 1, "should": [
            {"match": {"message": "a"}},
            {"bool": {"filter": [
                {"match": {"message": "b"}},
                {"bool": {"must_not": [{"match": {"message": "c"}}]}},
            ]}},
        ]}})
    );
    // `+`/`-` are desugared before translation.
    assert_eq!(
        es("+a -b c"),
        json!({"bool": {"filter": [
            {"match": {"message": "a"}},
            {"bool": {"must_not": [{"match": {"message": "b"}}]}},
        ]}})
    );
}

#[test]
fn lucene_text_keeps_the_meaning_in_query_string() {
    let lucene = |q: &str| parse(q, &opts()).unwrap().to_lucene();
    assert_eq!(lucene("a OR b AND c"), "(a OR (b AND c))");
    assert_eq!(lucene("a OR NOT b"), "(a OR (NOT b))");
    assert_eq!(lucene("order-timeout x"), r#"("order-timeout" OR x)"#);
    assert_eq!(lucene("status:>=500"), "status:[500 TO *]");
    let mut and = opts();
    and.default_operator = DefaultOperator::And;
    let q = parse("a b", &and).unwrap();
    assert_eq!(
        q.to_query_string(),
        json!({"query_string": {
            "query": "(a AND b)", "default_field": "message", "default_operator": "AND"
        }})
    );
}
