//! Unit tests of parsing, printing and matching together (the conformance table lives in
//! `tests/query_conformance.rs`).

use chrono::Utc;
use serde_json::{Map, Value};

use super::*;
use crate::event::test_origin;

fn opts() -> QueryOptions {
    QueryOptions::default()
}

fn and_opts() -> QueryOptions {
    QueryOptions {
        default_operator: DefaultOperator::And,
        ..QueryOptions::default()
    }
}

fn ast(q: &str) -> Ast {
    parse(q, &opts()).unwrap_or_else(|e| panic!("{q}: {e}")).ast
}

fn term(field: Option<&str>, text: &str) -> Ast {
    Ast::Term {
        field: field.map(str::to_string),
        text: text.to_string(),
    }
}

fn t(text: &str) -> Ast {
    term(None, text)
}

fn plain(line: &str) -> Event {
    Event::plain(line, Utc::now(), test_origin())
}

fn json(raw: &str) -> Event {
    let fields: Map<String, Value> = serde_json::from_str(raw).unwrap();
    Event {
        time: Utc::now(),
        raw: raw.to_string(),
        fields: Some(fields),
        origin: test_origin(),
        time_guessed: false,
        fields_for: None,
    }
}

const ROUND_TRIP: &[&str] = &[
    "a",
    "a b c",
    "a AND b OR c",
    "a OR b AND c",
    "NOT a AND b",
    "!a",
    "a && !b || c",
    "(a OR b) AND (c OR d)",
    "((a AND b) AND c)",
    "NOT NOT a",
    "NOT (a OR b)",
    r#""order timeout" OR level:"hard fail""#,
    "level:error AND http.status:503",
    "level:(error OR warn) AND msg:(a b)",
    r#"a\:b \(x\) c\ d \AND \-x \+y \<z a\*b x\\y \"q"#,
    r#""say \"hi\" \\o/""#,
    "支付 AND \"支付失败\"",
    "error NOT healthcheck",
    r#""ERROR" AND (order_timeout OR inventory_rollback)"#,
    "and or not",
    "a:b\\:c",
    "\\!bang",
];

#[test]
fn display_parses_back_to_an_equal_ast() {
    for q in ROUND_TRIP {
        for o in [opts(), and_opts()] {
            let first = parse(q, &o).unwrap_or_else(|e| panic!("{q}: {e}")).ast;
            let printed = first.to_string();
            let again = parse(&printed, &o).unwrap_or_else(|e| panic!("{q} → {printed}: {e}"));
            assert_eq!(again.ast, first, "{q} → {printed}");
        }
    }
}

#[test]
fn precedence_is_not_then_and_then_or() {
    assert_eq!(
        ast("a OR b AND c"),
        Ast::Or(vec![t("a"), Ast::And(vec![t("b"), t("c")])])
    );
    assert_eq!(
        ast("NOT a AND b"),
        Ast::And(vec![Ast::Not(Box::new(t("a"))), t("b")])
    );
    assert_eq!(
        ast("a && !b || c"),
        Ast::Or(vec![
            Ast::And(vec![t("a"), Ast::Not(Box::new(t("b")))]),
            t("c")
        ])
    );
}

#[test]
fn implicit_operator_follows_the_options() {
    assert_eq!(ast("a b AND c"), {
        Ast::Or(vec![t("a"), Ast::And(vec![t("b"), t("c")])])
    });
    let and = parse("a b OR c", &and_opts()).unwrap();
    assert_eq!(
        and.ast,
        Ast::Or(vec![Ast::And(vec![t("a"), t("b")]), t("c")])
    );
    // NOT with no operator before it always excludes, as in Kibana.
    assert_eq!(
        ast("error NOT healthcheck"),
        Ast::And(vec![t("error"), Ast::Not(Box::new(t("healthcheck")))])
    );
}

#[test]
fn fields_apply_to_terms_phrases_and_groups() {
    assert_eq!(
        ast(r#"level:(error "hard fail")"#),
        Ast::Or(vec![
            term(Some("level"), "error"),
            Ast::Phrase {
                field: Some("level".to_string()),
                text: "hard fail".to_string()
            },
        ])
    );
    assert_eq!(ast("http.status: 503"), term(Some("http.status"), "503"));
    // A space before the colon makes it a stray colon, not a field.
    let e = parse("level :x", &opts()).unwrap_err();
    assert_eq!(e.column(), 7);
}

fn err(q: &str) -> QueryError {
    match parse(q, &opts()) {
        Ok(query) => panic!("{q} parsed as {}", query.ast),
        Err(e) => e,
    }
}

#[test]
fn errors_say_what_was_expected_and_where() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "empty query: expected a term, phrase or `(`"),
        ("a AND", 6, "expected a term, phrase or `(` after AND"),
        ("a && )", 6, "expected a term, phrase or `(` after `&&`"),
        ("x AND (a OR b", 14, "unclosed `(` opened at column 7"),
        ("a \"b c", 3, "unterminated phrase: missing closing `\"`"),
        ("a)", 2, "unmatched `)`: no `(` opened before it"),
        ("()", 2, "expected a term, phrase or `(` after `(`"),
        ("level:", 7, "expected a term, phrase or `(` after `level:`"),
        ("OR a", 1, "expected a term, phrase or `(`, found OR"),
        ("a ; b", 3, "`;` has no letters or digits to search for"),
        (
            "a:b:c",
            4,
            "unexpected second `:` (escape it as `\\:` to search for a colon)",
        ),
    ];
    for (q, column, message) in cases {
        let e = err(q);
        assert_eq!((e.column(), e.message()), (*column, *message), "{q}");
        assert!(matches!(e, QueryError::Syntax { .. }), "{q}");
    }
    let e = err("status:500~");
    assert!(matches!(e, QueryError::Unsupported { .. }), "{e:?}");
    assert_eq!(e.column(), 11);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let q = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(err(&q).message().contains("nests too deeply"));
    let q = format!("{}a", "NOT ".repeat(10_000));
    assert!(err(&q).message().contains("nests too deeply"));
}

#[test]
fn query_keeps_its_text_and_matches_through_the_trait() {
    let q = parse("ERROR AND timeout", &opts()).unwrap();
    assert_eq!(q.text(), "ERROR AND timeout");
    assert_eq!(q.ast(), &Ast::And(vec![t("ERROR"), t("timeout")]));
    let m: &dyn Matcher = &q;
    assert!(m.matches(&plain("error: upstream Timeout"), chrono::Utc::now()));
    assert!(!m.matches(&plain("error: upstream timed out"), chrono::Utc::now()));
}

#[test]
fn compiled_tree_is_flat_and_merges_words() {
    let q = parse("(a OR b) OR (c OR \"d e\") OR x:f", &opts()).unwrap();
    let matcher::Node::Any(items) = &q.root else {
        panic!("{:?}", q.root)
    };
    // a, b, c fold into one scan of `message`; the phrase and the other field stay apart.
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(matches!(&items[0], matcher::Node::AnyWord { words, .. } if words.len() == 3));
    let q = parse("a AND (b AND (c AND NOT NOT d))", &opts()).unwrap();
    assert!(matches!(&q.root, matcher::Node::All(items) if items.len() == 4));
}

#[test]
fn phrases_find_overlapping_starts() {
    // KMP must not skip the start of a match that overlaps a failed partial one.
    let q = parse("\"a a b\"", &opts()).unwrap();
    assert!(q.matches(&plain("a a a b"), chrono::Utc::now()));
    assert!(!q.matches(&plain("a a c b"), chrono::Utc::now()));
    let q = parse("\"a b a c\"", &opts()).unwrap();
    assert!(q.matches(&plain("a b a b a c"), chrono::Utc::now()));
}

#[test]
fn json_values_match_like_event_text() {
    let ev = json(r#"{"n":1.5,"big":1e300,"neg":-7,"ok":true,"tags":["a","b c"],"o":{"k":"v"}}"#);
    for (q, expected) in [
        ("n:1.5", true),
        ("big:\"1e+300\"", true),
        ("neg:7", true),
        ("ok:true", true),
        ("ok:false", false),
        ("tags:a", true),
        ("tags:\"b c\"", true),
        ("tags:\"a b\"", false),
        ("o.k:v", true),
        ("o:k", true),
    ] {
        assert_eq!(
            parse(q, &opts()).unwrap().matches(&ev, chrono::Utc::now()),
            expected,
            "{q}"
        );
    }
    // The stack-formatted numbers agree with `Event::text`.
    for path in ["n", "big", "neg"] {
        let text = ev.text(path).unwrap();
        let q = parse(&format!("{path}:\"{text}\""), &opts()).unwrap();
        assert!(q.matches(&ev, chrono::Utc::now()), "{path}={text}");
    }
}

#[test]
fn mixing_and_with_or_unparenthesized_warns() {
    let warned = |q: &str, o: &QueryOptions| parse(q, o).unwrap().warnings().to_vec();
    let w = warned("a OR b AND c", &opts());
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].column, 3);
    assert!(w[0].message.contains("add parentheses"), "{}", w[0]);
    assert_eq!(warned("a b AND c", &opts())[0].column, 3);
    assert_eq!(warned("a b OR c", &and_opts()).len(), 1);
    assert_eq!(warned("a OR b NOT c", &opts()).len(), 1);
    for clear in [
        "a OR (b AND c)",
        "(a AND b) OR c",
        "a AND b AND c",
        "a b c",
        "NOT a OR b",
    ] {
        assert!(warned(clear, &opts()).is_empty(), "{clear}");
    }
    assert!(warned(
        r#""ERROR" AND (order_timeout OR inventory_rollback)"#,
        &opts()
    )
    .is_empty());
}

/// Random queries over the syntax's alphabet: parsing never panics, errors point inside the
/// query (or just past it), and every valid one prints back to an equal AST.
#[test]
fn random_queries_round_trip_or_fail_cleanly() {
    let alphabet: Vec<char> = "ab c:()\"\\!&|AND OR NOT支-_.,'é\t*+".chars().collect();
    let mut seed: u64 = 12345;
    let mut next = move || {
        // A fixed LCG keeps the test deterministic without a dependency.
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let mut valid = 0;
    for _ in 0..20_000 {
        let len = next() % 16;
        let s: String = (0..len)
            .map(|_| alphabet[next() % alphabet.len()])
            .collect();
        for o in [opts(), and_opts()] {
            match parse(&s, &o) {
                Ok(q) => {
                    valid += 1;
                    let printed = q.ast().to_string();
                    let again =
                        parse(&printed, &o).unwrap_or_else(|e| panic!("{s:?} -> {printed:?}: {e}"));
                    assert_eq!(again.ast(), q.ast(), "{s:?} -> {printed:?}");
                    assert_eq!(
                        q.matches(&plain(&s), chrono::Utc::now()),
                        again.matches(&plain(&s), chrono::Utc::now()),
                        "{s:?}"
                    );
                }
                Err(e) => {
                    let columns = 1..=s.chars().count() + 1;
                    assert!(columns.contains(&e.column()), "{s:?}: {e}");
                }
            }
        }
    }
    // Guards against an alphabet that only ever produces errors.
    assert!(valid > 5_000, "only {valid} valid queries");
}

#[test]
fn check_warns_on_wildcards_undeclared_fields_and_dead_queries() {
    let messages = |q: &str, o: &QueryOptions| -> Vec<(usize, String)> {
        let q = parse(q, o).unwrap_or_else(|e| panic!("{q}: {e}"));
        q.warnings()
            .iter()
            .map(|w| (w.column, w.message.clone()))
            .collect()
    };
    let w = messages("error AND *timeout", &opts());
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, 11);
    assert!(w[0].1.contains("leading wildcard"), "{w:?}");
    assert!(messages("x:*", &opts()).is_empty());

    let mut typed = opts();
    typed.fields.insert("status".into(), FieldType::Keyword);
    let w = messages(
        "status:PAID AND levl:error AND levl:x AND message:y",
        &typed,
    );
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, 17);
    assert!(w[0].1.contains("`levl` is not declared"), "{w:?}");
    // Without `fields:` nothing is declared, so nothing is flagged.
    assert!(messages("levl:error", &opts()).is_empty());

    for dead in [
        "status:[5 TO 1]",
        "x:{5 TO 5}",
        "error AND NOT error",
        "a AND (x:[b TO a] OR y:{3 TO 3})",
    ] {
        let w = messages(dead, &opts());
        assert!(
            w.iter().any(|(_, m)| m.contains("can never match")),
            "{dead}: {w:?}"
        );
    }
    for alive in [
        "x:[1 TO 5]",
        "x:[5 TO 5]",
        "a OR NOT a",
        "x:[1 TO 5] OR y:[5 TO 1]",
    ] {
        assert!(messages(alive, &opts()).is_empty(), "{alive}");
    }
    let w = messages("+a b", &opts());
    assert!(w[0].1.contains("ignored for matching"), "{w:?}");
}

#[test]
fn plus_and_minus_desugar_like_lucene() {
    let not = |a: Ast| Ast::Not(Box::new(a));
    assert_eq!(ast("+a -b c"), Ast::And(vec![t("a"), not(t("b"))]));
    assert_eq!(
        ast("-b c d"),
        Ast::And(vec![not(t("b")), Ast::Or(vec![t("c"), t("d")])])
    );
    assert_eq!(ast("-b"), not(t("b")));
    assert_eq!(ast("a AND -b"), Ast::And(vec![t("a"), not(t("b"))]));
    assert_eq!(
        parse("a -b", &and_opts()).unwrap().ast,
        Ast::And(vec![t("a"), not(t("b"))])
    );
}

#[test]
fn star_colon_star_matches_every_event() {
    assert_eq!(ast("*:*"), Ast::MatchAll);
    let all = parse("*:*", &opts()).unwrap();
    for e in [json(r#"{"status":1}"#), json("{}"), plain("anything")] {
        assert!(all.matches(&e, Utc::now()));
    }
    let none = parse("NOT *:*", &opts()).unwrap();
    assert!(!none.matches(&json("{}"), Utc::now()));
    let and = parse("*:* AND level:error", &opts()).unwrap();
    assert!(and.matches(&json(r#"{"level":"error"}"#), Utc::now()));
    assert!(!and.matches(&json(r#"{"level":"info"}"#), Utc::now()));
    assert_eq!(all.to_elasticsearch(), serde_json::json!({"match_all": {}}));
    assert_eq!(parse(&all.to_lucene(), &opts()).unwrap().ast, Ast::MatchAll);
    assert_eq!(Ast::MatchAll.to_string(), "*:*");
    // A field wildcard other than the lone star is still refused; so is a spaced `* : *`.
    assert!(parse("*:x", &opts()).is_err());
    assert!(parse("lev*:*", &opts()).is_err());
}
