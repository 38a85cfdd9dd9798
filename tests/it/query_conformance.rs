//! Conformance tables for the query language: (query, event, expected match), judged by what
//! Elasticsearch's `query_string` would return over the same mapping (`standard`-analyzed text
//! for undeclared fields; keyword, number, date and ip fields as declared).

use chrono::Utc;
use klaxon::event::Event;
use klaxon::query::{parse, DefaultOperator, FieldType, QueryError, QueryOptions};
use serde_json::{Map, Value};

use crate::support::origin;

/// An event as a test case writes it.
#[derive(Clone, Copy)]
enum Ev {
    /// A plain line: only `message` exists.
    P(&'static str),
    /// A JSON line.
    J(&'static str),
}
use Ev::{J, P};

fn event(ev: Ev) -> Event {
    match ev {
        P(line) => Event::plain(line, Utc::now(), origin()),
        J(raw) => {
            let fields: Map<String, Value> = serde_json::from_str(raw).expect("valid JSON");
            Event {
                time: Utc::now(),
                raw: raw.to_string(),
                fields: Some(fields),
                origin: origin(),
                time_guessed: false,
                fields_for: None,
            }
        }
    }
}

fn and_opts() -> QueryOptions {
    QueryOptions {
        default_operator: DefaultOperator::And,
        ..QueryOptions::default()
    }
}

const RULE: &str = r#""ERROR" AND (order_timeout OR inventory_rollback)"#;

/// (query, event, expected) with the default options (field `message`, operator OR).
const CASES: &[(&str, Ev, bool)] = &[
    // Case-insensitivity.
    ("error", P("ERROR: boom"), true),
    ("ERROR", P("an error occurred"), true),
    ("Error", P("ERRORS happen"), false),
    ("error", P("Error"), true),
    ("ÉCHEC", P("échec total"), true),
    ("échec", P("PAIEMENT ÉCHEC"), true),
    ("σφάλμα", P("ΣΦΆΛΜΑ δικτύου"), true),
    // Punctuation around words splits.
    ("error", P("[error] x"), true),
    ("error", P("(error)"), true),
    ("error", P("error, again"), true),
    ("timeout", P("status=timeout;"), true),
    ("order", P("order-timeout"), true),
    ("timeout", P("GET /api/timeout/x"), true),
    ("error", P("error:order_timeout"), false),
    // Underscore joins.
    ("order", P("order_timeout"), false),
    ("timeout", P("order_timeout"), false),
    ("order_timeout", P("ERROR order_timeout"), true),
    ("ORDER_TIMEOUT", P("order_timeout"), true),
    // Dots, colons and apostrophes between letters join.
    ("Foo", P("at com.example.Foo"), false),
    ("example", P("at com.example.Foo"), false),
    (
        "com.example.Foo",
        P("at com.example.Foo(Foo.java:42)"),
        true,
    ),
    (r"level\:error", P("ts level:error msg"), true),
    ("error", P("ts level:error msg"), false),
    (r#""level:error""#, P("level:ERROR"), true),
    ("don't", P("I don't know"), true),
    ("don", P("I don't know"), false),
    // Numbers keep `.` and `,` between digits.
    ("5.0", P("version 5.0 released"), true),
    ("5", P("version 5.0 released"), false),
    ("1,000", P("cost 1,000 ms"), true),
    ("1", P("cost 1,000 ms"), false),
    ("000", P("cost 1,000 ms"), false),
    ("3.14", P("pi=3.14."), true),
    ("8080", P("host:8080"), true),
    // CJK: one token per ideograph; a bare CJK word behaves like a phrase.
    ("支", P("支付失败"), true),
    (r#""支付""#, P("支付失败"), true),
    (r#""付支""#, P("支付失败"), false),
    ("支付", P("支付失败"), true),
    ("支付", P("付款支出"), false),
    (r#""支付失败""#, P("订单支付失败了"), true),
    ("失败", P("ERROR 支付 失败"), true),
    ("支付 AND 超时", P("支付超时"), true),
    // Phrases match consecutive tokens, across punctuation.
    (r#""order timeout""#, P("order-timeout"), true),
    (r#""order timeout""#, P("order_timeout"), false),
    (r#""order timeout""#, P("ORDER: timeout!"), true),
    (r#""order timeout""#, P("timeout order"), false),
    (r#""order timeout""#, P("order x timeout"), false),
    ("order-timeout", P("order timeout"), true),
    ("order-timeout", P("timeout, order"), false),
    (r#""a a b""#, P("a a a b"), true),
    // field:value on JSON strings, numbers, booleans, nested and dotted keys, arrays.
    ("level:error", J(r#"{"level":"ERROR"}"#), true),
    (
        "level:error",
        J(r#"{"level":"warn","message":"error"}"#),
        false,
    ),
    ("status:503", J(r#"{"status":503}"#), true),
    ("status:503", J(r#"{"status":"503"}"#), true),
    ("status:50", J(r#"{"status":503}"#), false),
    ("latency:1.5", J(r#"{"latency":1.5}"#), true),
    ("ok:true", J(r#"{"ok":true}"#), true),
    ("ok:false", J(r#"{"ok":true}"#), false),
    ("http.status:503", J(r#"{"http":{"status":503}}"#), true),
    ("http.method:GET", J(r#"{"http":{"method":"get"}}"#), true),
    ("http.status:503", J(r#"{"http":"503"}"#), false),
    (
        r#"user.name:"John Smith""#,
        J(r#"{"user":{"name":"john smith"}}"#),
        true,
    ),
    (
        r#"user.name:"Smith John""#,
        J(r#"{"user":{"name":"john smith"}}"#),
        false,
    ),
    ("a.b:lit", J(r#"{"a.b":"lit"}"#), true),
    ("tags:prod", J(r#"{"tags":["prod","eu"]}"#), true),
    ("tags:us", J(r#"{"tags":["prod","eu"]}"#), false),
    ("level:(warn OR error)", J(r#"{"level":"error"}"#), true),
    (
        "level:(warn OR error)",
        J(r#"{"level":"info","message":"error"}"#),
        false,
    ),
    // Bare terms search `message`.
    ("message:error", P("ERROR x"), true),
    ("error", J(r#"{"message":"ERROR x"}"#), true),
    ("error", J(r#"{"msg":"ERROR x"}"#), false),
    // Missing fields: never match a positive clause; NOT of them matches.
    ("level:error", P("level error"), false),
    ("NOT level:error", P("x"), true),
    ("NOT level:error", J(r#"{"msg":"x"}"#), true),
    ("NOT level:error", J(r#"{"level":"error"}"#), false),
    ("level:x", J(r#"{"level":null}"#), false),
    ("NOT level:x", J(r#"{"level":null}"#), true),
    ("x AND NOT trace_id:abc", J(r#"{"message":"x"}"#), true),
    // Precedence NOT > AND > OR.
    ("a OR b AND c", P("a"), true),
    ("a OR b AND c", P("b"), false),
    ("a OR b AND c", P("b c"), true),
    ("NOT a AND b", P("b"), true),
    ("NOT a AND b", P("a b"), false),
    ("!a", P("b"), true),
    ("!a", P("a"), false),
    ("a && !b || c", P("a"), true),
    ("a && !b || c", P("a b"), false),
    ("a && !b || c", P("a b c"), true),
    ("a && !b || c", P("c"), true),
    ("(a OR b) AND c", P("a"), false),
    ("(a OR b) AND c", P("a c"), true),
    ("NOT (a OR b)", P("c"), true),
    ("NOT (a OR b)", P("b"), false),
    ("NOT NOT a", P("a"), true),
    // Default operator OR; an implicit NOT still excludes.
    ("a b", P("a"), true),
    ("a b", P("c"), false),
    ("error NOT healthcheck", P("error in healthcheck"), false),
    ("error NOT healthcheck", P("error in payment"), true),
    // Lowercase operators are plain terms.
    ("a and b", P("rock and roll"), true),
    ("x not y", P("not"), true),
    // Escapes.
    (r"a\:b", P("a:b"), true),
    (r"a\:b", P("a b"), false),
    (r"\(x\)", P("(x)"), true),
    (r"\AND", P("this and that"), true),
    (r"c\ d", P("c d"), true),
    (r"c\ d", P("d c"), false),
    (r"\-x", P("-x"), true),
    (r#""say \"hi\"""#, P("say hi"), true),
    // The article's rule against realistic lines.
    (
        RULE,
        P("2024-05-01 10:00:00 ERROR [order-svc] order_timeout id=42"),
        true,
    ),
    (
        RULE,
        P("2024-05-01 10:00:00 INFO [order-svc] order_timeout id=42"),
        false,
    ),
    (
        RULE,
        P("2024-05-01 10:00:01 ERROR inventory_rollback failed sku=9"),
        true,
    ),
    (RULE, P("2024-05-01 10:00:02 ERROR order timeout"), false),
    (
        RULE,
        P("2024-05-01 10:00:03 error: Order_Timeout after 30s"),
        true,
    ),
    (RULE, P("2024-05-01 10:00:04 ERROR payment_timeout"), false),
    (
        RULE,
        J(r#"{"level":"ERROR","message":"ERROR order_timeout after 30s"}"#),
        true,
    ),
    // The bare "ERROR" searches `message` only, not `level`.
    (
        RULE,
        J(r#"{"level":"ERROR","message":"inventory_rollback done"}"#),
        false,
    ),
    (
        "level:ERROR AND (order_timeout OR inventory_rollback)",
        J(r#"{"level":"ERROR","message":"inventory_rollback done"}"#),
        true,
    ),
];

/// The syntax beyond terms and phrases, on undeclared (text) fields.
const SYNTAX_CASES: &[(&str, Ev, bool)] = &[
    // Wildcards match one whole token, case-insensitively.
    ("ord*", P("ORDER_TIMEOUT x"), true),
    ("ord*", P("the order"), true),
    ("ord*", P("disorder"), false),
    ("*out", P("order_timeout"), true),
    ("o?der", P("Order"), true),
    ("o?der", P("ooder x"), true),
    ("o?der", P("oder"), false),
    ("order*timeout", P("order_timeout"), true),
    ("order*timeout", P("order timeout"), false),
    // An escaped `*` is text: `a*b` analyzes to the phrase "a b".
    (r"a\*b", P("a*b"), true),
    (r"a\*b*", P("a bc"), false),
    ("支*", P("支付"), true),
    ("level:err*", J(r#"{"level":"Error"}"#), true),
    ("level:err*", J(r#"{"lvl":"error"}"#), false),
    ("tags:p?od", J(r#"{"tags":["x","prod"]}"#), true),
    // `field:*` is "the field exists".
    ("level:*", J(r#"{"level":""}"#), true),
    ("level:*", J(r#"{"level":null}"#), false),
    // Regular expressions match a whole (lowercased) token.
    ("/ord.r/", P("ORDER x"), true),
    ("/ord/", P("order"), false),
    ("/[0-9]{3}/", P("code 503 here"), true),
    ("/[0-9]{3}/", P("code 5030"), false),
    ("/a\\/b/", J(r#"{"message":"a/b"}"#), false),
    ("path:/\\/api\\/.*/", J(r#"{"path":"/api/x"}"#), false),
    ("level:/err(or)?/", J(r#"{"level":"ERR"}"#), true),
    // Ranges on text fields compare tokens as strings.
    ("level:[a TO f]", J(r#"{"level":"error"}"#), true),
    ("level:[a TO e]", J(r#"{"level":"error"}"#), false),
    ("level:{error TO *]", J(r#"{"level":"error"}"#), false),
    ("level:[error TO *]", J(r#"{"level":"error"}"#), true),
    // ... and JSON numbers numerically when the ends are numbers.
    ("status:[500 TO 599]", J(r#"{"status":503}"#), true),
    ("status:[500 TO 599]", J(r#"{"status":404}"#), false),
    ("status:>=500", J(r#"{"status":500}"#), true),
    ("status:>500", J(r#"{"status":500}"#), false),
    ("status:<500", J(r#"{"status":499.5}"#), true),
    ("status:<=500", J(r#"{"status":1000}"#), false),
    ("status:{500 TO 600}", J(r#"{"status":600}"#), false),
    ("status:[500 TO 600}", J(r#"{"status":500}"#), true),
    ("status:{* TO 600]", J(r#"{"status":600}"#), true),
    ("status:>500", J(r#"{"other":900}"#), false),
    ("NOT status:>500", J(r#"{"other":900}"#), true),
    // _exists_.
    ("_exists_:trace_id", J(r#"{"trace_id":"abc"}"#), true),
    ("_exists_:trace_id", J(r#"{"trace":"abc"}"#), false),
    ("_exists_:trace_id", J(r#"{"trace_id":null}"#), false),
    ("_exists_:http.status", J(r#"{"http":{"status":0}}"#), true),
    ("NOT _exists_:trace_id", J(r#"{"x":1}"#), true),
    ("_exists_:message", P("anything"), true),
    // + and - read as Lucene reads them.
    ("+error -healthcheck", P("error x"), true),
    ("+error -healthcheck", P("error healthcheck"), false),
    ("+error -healthcheck", P("healthcheck"), false),
    ("-healthcheck", P("x"), true),
    ("-healthcheck", P("healthcheck"), false),
    ("error -healthcheck", P("error"), true),
    ("a b -c", P("b"), true),
    ("a b -c", P("b c"), false),
    ("a b -c", P("d"), false),
    ("+a b", P("a"), true),
    ("+a b", P("b"), false),
    ("+a +b", P("a"), false),
    ("+a +b", P("b a"), true),
    ("level:(+error -timeout)", J(r#"{"level":"error"}"#), true),
    ("a AND -b", P("a b"), false),
    ("a AND +b", P("a b"), true),
    // Escapes of every reserved character.
    (
        r#"\+\-\=\&\|\>\<\!\(\)\{\}\[\]\^\"\~\*\?\:\\\/x"#,
        P("x"),
        true,
    ),
    (r"a\/b", P("a/b"), true),
    (r"a\/b", P("ab"), false),
    (r"\[x\]", P("[x]"), true),
    (r"a\?", P("a"), true),
    (r"a\?", P("ab"), false),
    // Comparisons and ranges on the default field.
    (">m", P("zebra"), true),
    (">m", P("apple"), false),
    // Unicode whitespace separates clauses.
    ("a\u{3000}b", P("b"), true),
];

/// Field types as `klaxon.yaml` declares them.
fn typed_opts() -> QueryOptions {
    let mut opts = QueryOptions::default();
    for (name, ty) in [
        ("status", FieldType::Keyword),
        ("host", FieldType::Keyword),
        ("latency_ms", FieldType::Number),
        ("ts", FieldType::Date),
        ("client_ip", FieldType::Ip),
    ] {
        opts.fields.insert(name.to_string(), ty);
    }
    opts
}

const TYPED_CASES: &[(&str, Ev, bool)] = &[
    // keyword: exact, case-sensitive, whole value.
    ("status:PAID", J(r#"{"status":"PAID"}"#), true),
    ("status:paid", J(r#"{"status":"PAID"}"#), false),
    ("status:PAID", J(r#"{"status":"PAID LATE"}"#), false),
    (
        r#"status:"PAID LATE""#,
        J(r#"{"status":"PAID LATE"}"#),
        true,
    ),
    ("status:PA*", J(r#"{"status":"PAID"}"#), true),
    ("status:pa*", J(r#"{"status":"PAID"}"#), false),
    ("status:/P.ID/", J(r#"{"status":"PAID"}"#), true),
    ("status:[A TO M]", J(r#"{"status":"CANCELLED"}"#), true),
    ("status:[A TO M]", J(r#"{"status":"PAID"}"#), false),
    ("status:500", J(r#"{"status":500}"#), true),
    ("host:(a1 OR b2)", J(r#"{"host":["c3","b2"]}"#), true),
    // number: numeric comparisons.
    ("latency_ms:>1000", J(r#"{"latency_ms":1500}"#), true),
    ("latency_ms:>1000", J(r#"{"latency_ms":999.9}"#), false),
    ("latency_ms:>1000", J(r#"{"latency_ms":"1500"}"#), true),
    ("latency_ms:>1000", J(r#"{"latency_ms":"slow"}"#), false),
    ("latency_ms:[100 TO 200]", J(r#"{"latency_ms":200}"#), true),
    ("latency_ms:[100 TO 200}", J(r#"{"latency_ms":200}"#), false),
    ("latency_ms:1.5e3", J(r#"{"latency_ms":1500}"#), true),
    ("latency_ms:1500", J(r#"{"latency_ms":1500.0}"#), true),
    ("latency_ms:>=-5", J(r#"{"latency_ms":-5}"#), true),
    ("latency_ms:[* TO 10]", J(r#"{"latency_ms":[50, 5]}"#), true),
    ("latency_ms:>1000", J(r#"{"latency":5000}"#), false),
    // date: RFC 3339, whole days, epoch millis, date math.
    (
        "ts:>=2024-05-01T10:00:00Z",
        J(r#"{"ts":"2024-05-01T10:00:00Z"}"#),
        true,
    ),
    (
        "ts:>2024-05-01T10:00:00Z",
        J(r#"{"ts":"2024-05-01T10:00:00Z"}"#),
        false,
    ),
    (
        "ts:>2024-05-01T10:00:00Z",
        J(r#"{"ts":"2024-05-01T12:00:00+01:00"}"#),
        true,
    ),
    ("ts:2024-05-01", J(r#"{"ts":"2024-05-01T23:59:59Z"}"#), true),
    (
        "ts:2024-05-01",
        J(r#"{"ts":"2024-05-02T00:00:00Z"}"#),
        false,
    ),
    (
        "ts:[2024-05-01 TO 2024-05-02]",
        J(r#"{"ts":"2024-05-02T18:00:00Z"}"#),
        true,
    ),
    (
        "ts:[2024-05-01 TO 2024-05-02}",
        J(r#"{"ts":"2024-05-02T18:00:00Z"}"#),
        false,
    ),
    (
        "ts:>2024-05-01",
        J(r#"{"ts":"2024-05-01T18:00:00Z"}"#),
        false,
    ),
    ("ts:<1714557600001", J(r#"{"ts":1714557600000}"#), true),
    ("ts:>now-15m", J(r#"{"ts":"2000-01-01T00:00:00Z"}"#), false),
    ("ts:<now-15m", J(r#"{"ts":"2000-01-01T00:00:00Z"}"#), true),
    (
        "ts:[now-1d/d TO now]",
        J(r#"{"ts":"2000-01-01T00:00:00Z"}"#),
        false,
    ),
    ("ts:<now+1y", J(r#"{"ts":"not a date"}"#), false),
    // ip: addresses and CIDR blocks.
    (
        r#"client_ip:"10.0.0.0/8""#,
        J(r#"{"client_ip":"10.20.30.40"}"#),
        true,
    ),
    (
        r#"client_ip:"10.0.0.0/8""#,
        J(r#"{"client_ip":"11.0.0.1"}"#),
        false,
    ),
    (
        "client_ip:192.168.1.7",
        J(r#"{"client_ip":"192.168.1.7"}"#),
        true,
    ),
    (r#"client_ip:"::1""#, J(r#"{"client_ip":"::1"}"#), true),
    (
        r#"client_ip:"2001:db8::/32""#,
        J(r#"{"client_ip":"2001:db8::5"}"#),
        true,
    ),
    (
        "client_ip:[10.0.0.1 TO 10.0.0.9]",
        J(r#"{"client_ip":"10.0.0.10"}"#),
        false,
    ),
    (r#"NOT client_ip:"10.0.0.0/8""#, J(r#"{"x":1}"#), true),
    // Undeclared fields stay text.
    ("level:ERROR", J(r#"{"level":"error"}"#), true),
];

/// Values a declared type cannot hold are errors at the clause, not silent non-matches.
const TYPED_INVALID: &[(&str, usize, &str)] = &[
    ("latency_ms:slow", 12, "`slow` is not a number"),
    ("latency_ms:[1 TO x]", 12, "`x` is not a number"),
    ("ts:>yesterday", 4, "`yesterday` is not a date"),
    ("ts:>now-5", 4, "expected a unit"),
    ("client_ip:10.0.0", 11, "not an IP address"),
    (r#"client_ip:"10.0.0.0/40""#, 11, "prefix length"),
    (
        "latency_ms:1*",
        12,
        "wildcards and regular expressions only apply",
    ),
    ("x:/a(/", 3, "invalid regular expression"),
];

#[test]
fn syntax_table() {
    run_table(SYNTAX_CASES, &QueryOptions::default());
}

#[test]
fn typed_fields_table() {
    run_table(TYPED_CASES, &typed_opts());
    let opts = typed_opts();
    for &(q, column, message) in TYPED_INVALID {
        let e = parse(q, &opts).map(|q| q.ast().clone()).unwrap_err();
        assert_eq!(e.column(), column, "{q}: {e}");
        assert!(e.message().contains(message), "{q}: {e}");
    }
}

#[test]
fn table_covers_enough_cases() {
    let total = CASES.len() + SYNTAX_CASES.len() + TYPED_CASES.len();
    assert!(total >= 150, "only {total} cases");
}

fn run_table(cases: &[(&str, Ev, bool)], opts: &QueryOptions) {
    let mut failures = Vec::new();
    for &(q, ev, expected) in cases {
        let query = match parse(q, opts) {
            Ok(query) => query,
            Err(e) => {
                failures.push(format!("{q:?}: {e}"));
                continue;
            }
        };
        let event = event(ev);
        if query.matches(&event, chrono::Utc::now()) != expected {
            failures.push(format!("{q:?} on {:?}: expected {expected}", event.raw));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn conformance_table() {
    assert!(CASES.len() >= 80, "only {} cases", CASES.len());
    let opts = QueryOptions::default();
    let mut failures = Vec::new();
    for &(q, ev, expected) in CASES {
        let query = parse(q, &opts).unwrap_or_else(|e| panic!("{q}:\n{e}"));
        let event = event(ev);
        if query.matches(&event, chrono::Utc::now()) != expected {
            failures.push(format!("{q:?} on {:?}: expected {expected}", event.raw));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn default_operator_and() {
    let opts = and_opts();
    let cases: &[(&str, Ev, bool)] = &[
        ("a b", P("a"), false),
        ("a b", P("b a"), true),
        ("a b OR c", P("c"), true),
        ("a b OR c", P("a c"), true),
        ("a b OR c", P("b"), false),
        ("error NOT healthcheck", P("error healthcheck"), false),
        (
            "level:error timeout",
            J(r#"{"level":"error","message":"timeout"}"#),
            true,
        ),
        (
            "level:error timeout",
            J(r#"{"level":"error","message":"ok"}"#),
            false,
        ),
    ];
    for &(q, ev, expected) in cases {
        let query = parse(q, &opts).unwrap_or_else(|e| panic!("{q}:\n{e}"));
        assert_eq!(
            query.matches(&event(ev), chrono::Utc::now()),
            expected,
            "{q}"
        );
    }
}

#[test]
fn custom_default_field() {
    let opts = QueryOptions {
        default_field: "msg".to_string(),
        ..QueryOptions::default()
    };
    let query = parse("timeout", &opts).expect("valid");
    assert!(query.matches(&event(J(r#"{"msg":"Timeout!"}"#)), chrono::Utc::now()));
    assert!(!query.matches(&event(J(r#"{"message":"timeout"}"#)), chrono::Utc::now()));
    // Plain lines only have `message`, so a bare term on another default field never matches.
    assert!(!query.matches(&event(P("timeout")), chrono::Utc::now()));
}

/// (invalid query, 1-based character column the error points at).
const INVALID: &[(&str, usize)] = &[
    ("", 1),
    ("   ", 1),
    ("a AND", 6),
    ("a OR", 5),
    ("AND a", 1),
    ("a AND OR b", 7),
    ("NOT", 4),
    ("!", 2),
    ("(a", 3),
    ("x AND (a OR b", 14),
    ("a)", 2),
    ("()", 2),
    ("a AND (b OR )", 13),
    ("a && || b", 6),
    ("\"abc", 1),
    ("a \"b", 3),
    ("abc\\", 4),
    ("level:", 7),
    ("level: AND x", 8),
    (":a", 1),
    ("a:b:c", 4),
    ("\"\"", 1),
    ("a ... b", 3),
    ("支付 AND", 7),
    ("支付 AND (", 9),
    ("a/b", 2),
    ("[1 TO 5", 8),
    ("[1 5]", 4),
    ("x]", 2),
    ("/ab", 1),
    ("x:> 5", 4),
    ("/a(/", 1),
    ("_exists_:", 10),
    ("-", 2),
];

/// Valid Lucene that Klaxon refuses (it would change scores or match fuzzily).
const UNSUPPORTED: &[(&str, usize)] = &[
    ("roam~1", 5),
    ("a^2", 2),
    ("\"a b\"~2", 6),
    ("lev*:error", 1),
];

#[test]
fn invalid_queries_point_at_the_problem() {
    let opts = QueryOptions::default();
    for &(q, column) in INVALID {
        match parse(q, &opts) {
            Ok(query) => panic!("{q:?} parsed as {}", query.ast()),
            Err(e @ QueryError::Syntax { .. }) => assert_eq!(e.column(), column, "{q:?}:\n{e}"),
            Err(e) => panic!("{q:?}: expected a syntax error, got {e:?}"),
        }
    }
    for &(q, column) in UNSUPPORTED {
        match parse(q, &opts) {
            Ok(query) => panic!("{q:?} parsed as {}", query.ast()),
            Err(e @ QueryError::Unsupported { .. }) => {
                assert_eq!(e.column(), column, "{q:?}:\n{e}");
                assert!(e.message().contains("not supported"), "{e}");
            }
            Err(e) => panic!("{q:?}: expected an unsupported error, got {e:?}"),
        }
    }
}

#[test]
fn error_display_points_with_a_caret() {
    let e = parse("level:error AND (a OR", &QueryOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "level:error AND (a OR\n                     ^\nexpected a term, phrase or `(` after OR"
    );
    let e = parse("x AND (a OR b", &QueryOptions::default()).unwrap_err();
    assert_eq!(e.message(), "unclosed `(` opened at column 7");
}
