//! Property: printing any AST and parsing the text again gives the same AST, and the Lucene
//! translation parses back to a query that matches the same events.

use chrono::Utc;
use klaxon::event::Event;
use klaxon::query::{parse, Ast, Bound, QueryOptions};
use proptest::prelude::*;

use crate::support::origin;

/// A word with at least one letter or digit (a clause without one is refused).
fn word() -> impl Strategy<Value = String> {
    (
        "[a-zA-Z0-9é支]{1,4}",
        "[a-z0-9 :()\"\\\\+\\-!*?/\\[\\]{}<>=&|~^]{0,4}",
    )
        .prop_map(|(a, b)| format!("{a}{b}"))
}

fn field() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("level".to_string())),
        Just(Some("http.status".to_string())),
        Just(Some("a b".to_string())),
        Just(Some("AND".to_string())),
    ]
}

fn bound() -> impl Strategy<Value = Bound> {
    prop_oneof![
        Just(Bound::Unbounded),
        "[a-z0-9 *\"\\]}:TO-]{0,5}".prop_map(Bound::Included),
        "[a-z0-9 *\"\\]}:TO-]{0,5}".prop_map(Bound::Excluded),
    ]
}

fn leaf() -> impl Strategy<Value = Ast> {
    prop_oneof![
        (field(), word()).prop_map(|(field, text)| Ast::Term { field, text }),
        (field(), word()).prop_map(|(field, text)| Ast::Phrase { field, text }),
        (field(), "[a-z:é]{0,3}", "[*?]", "[a-z\\-]{0,3}").prop_map(|(field, a, w, b)| {
            Ast::Wildcard {
                field,
                pattern: format!("{a}{w}{b}"),
            }
        }),
        (
            field(),
            prop_oneof![Just("a/b"), Just("[0-9]+"), Just(r"x\d"), Just("(ab|c)?")]
        )
            .prop_map(|(field, p)| Ast::Regex {
                field,
                pattern: p.to_string()
            }),
        (field(), bound(), bound()).prop_map(|(field, lower, upper)| Ast::Range {
            field,
            lower,
            upper
        }),
        "[a-z_.]{1,6}".prop_map(|field| Ast::Exists { field }),
    ]
}

fn ast() -> impl Strategy<Value = Ast> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| Ast::Not(Box::new(a))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Ast::And),
            prop::collection::vec(inner, 2..4).prop_map(Ast::Or),
        ]
    })
}

fn events() -> Vec<Event> {
    let origin = origin();
    let json =
        serde_json::json!({"message": "a b 5 x1", "level": "Error", "http": {"status": 503}});
    vec![
        Event::plain("a b é 支 ab x1 level:3", Utc::now(), origin.clone()),
        Event {
            time: Utc::now(),
            raw: json.to_string(),
            fields: json.as_object().cloned(),
            origin,
            time_guessed: false,
            fields_for: None,
        },
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn print_then_parse_is_identity(ast in ast()) {
        let opts = QueryOptions::default();
        let printed = ast.to_string();
        let parsed = parse(&printed, &opts).map_err(|e| TestCaseError::fail(format!("{printed}\n{e}")))?;
        prop_assert_eq!(parsed.ast(), &ast, "{}", printed);
        let lucene = parsed.to_lucene();
        let again = parse(&lucene, &opts).map_err(|e| TestCaseError::fail(format!("{lucene}\n{e}")))?;
        for ev in events() {
            prop_assert_eq!(parsed.matches(&ev, chrono::Utc::now()), again.matches(&ev, chrono::Utc::now()), "{} vs {}", printed, lucene);
        }
    }
}
