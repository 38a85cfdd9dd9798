use chrono::Utc;

use super::*;
use crate::event::{test_origin, Event};
use crate::filter::LineFilter;
use crate::query::{parse, QueryOptions};

fn queries(texts: &[&str]) -> Vec<Query> {
    texts
        .iter()
        .map(|q| parse(q, &QueryOptions::default()).unwrap_or_else(|e| panic!("{q}: {e}")))
        .collect()
}

fn prefilter(qs: &[Query]) -> Prefilter {
    Prefilter::new(&qs.iter().collect::<Vec<_>>())
}

fn candidates(p: &Prefilter, buf: &str) -> Vec<String> {
    let mut out = Vec::new();
    p.for_each_candidate(buf.as_bytes(), &mut |s, e| out.push(buf[s..e].to_string()));
    out
}

#[test]
fn literals_come_from_the_most_selective_required_clause() {
    let qs = queries(&[
        r#""ERROR" AND (order_overflow OR ledger_rollover)"#,
        "level:error AND \"payment rollover declared\"",
        "status:>=500 AND upstream",
        "ord*overflow",
    ]);
    let p = prefilter(&qs);
    let mut lits = p.literals().to_vec();
    lits.sort();
    assert_eq!(
        lits,
        [
            "ledger_rollover",
            "order_overflow",
            "overflow",
            "rollover",
            "upstream"
        ]
    );
    // `k` and `i` have non-ASCII spellings (the Kelvin sign, `İ`): literals stop at them.
    let p = prefilter(&queries(&["order_timeout", "kb_exceeded"]));
    assert_eq!(p.literals(), ["order_t", "b_exceeded"]);
    assert!(!p.accepts_all());
}

#[test]
fn rules_without_literals_make_every_line_a_candidate() {
    let qs = queries(&["error", "NOT healthcheck"]);
    let p = prefilter(&qs);
    assert!(p.accepts_all());
    assert_eq!(candidates(&p, "a\nb\n"), ["a", "b"]);
    let rules = p.candidate_rules(b"nothing here");
    assert_eq!(rules.iter().collect::<Vec<_>>(), [1]);
    let rules = p.candidate_rules(b"an ERROR");
    assert_eq!(rules.iter().collect::<Vec<_>>(), [0, 1]);
    // Numbers and ranges give no literal either.
    for q in ["status:500", "latency:>100", "/err.r/", "x:*"] {
        assert!(prefilter(&queries(&[q])).accepts_all(), "{q}");
    }
}

#[test]
fn scans_the_buffer_and_yields_whole_candidate_lines() {
    let qs = queries(&["overflow", "rollover AND sku"]);
    let p = prefilter(&qs);
    let buf = "ok\nOVERFLOW here\nfine\nx rollover y\nlast Overflow\n";
    assert_eq!(
        candidates(&p, buf),
        ["OVERFLOW here", "x rollover y", "last Overflow"]
    );
    assert_eq!(
        p.candidate_rules(b"x rollover y")
            .iter()
            .collect::<Vec<_>>(),
        [1]
    );
    assert!(p.candidate_rules(b"fine").is_empty());
    // A hit at the very start and two hits on one line give one candidate each.
    assert_eq!(candidates(&p, "overflow overflow\n"), ["overflow overflow"]);
    // An unterminated tail is not a line yet.
    assert!(candidates(&p, "overflow").is_empty());
}

#[test]
fn spellings_the_literal_would_miss_make_lines_candidates() {
    // `é` has an uppercase form, so `échec` gives only `chec`; `é` alone gives nothing.
    let p = prefilter(&queries(&["message:échec"]));
    assert_eq!(p.literals(), ["chec"]);
    assert!(prefilter(&queries(&["é"])).accepts_all());
    let qs = queries(&["kb_exceeded", "支付"]);
    let p = prefilter(&qs);
    assert!(!p.accepts_all());
    let kelvin = "\u{212A}B_EXCEEDED";
    let plain = |s: &str| Event::plain(s, Utc::now(), test_origin());
    // The Kelvin sign lowercases to `k`: the query matches although `kb` is not in the line.
    assert!(qs[0].matches(&plain(kelvin), chrono::Utc::now()));
    let buf = format!("{kelvin}\n{{\"m\":\"\\u652f\"}}\nnone\n支付\n");
    assert_eq!(
        candidates(&p, &buf),
        [kelvin, "{\"m\":\"\\u652f\"}", "支付"]
    );
    assert_eq!(
        p.candidate_rules(kelvin.as_bytes())
            .iter()
            .collect::<Vec<_>>(),
        [0]
    );
}

#[test]
fn json_numbers_and_escapes_never_supply_literals() {
    for word in ["500", "5.0", "1e", "a\"b"] {
        let lit = literal_of(word);
        assert!(lit.as_deref() != Some(word), "{word}: {lit:?}");
    }
    assert_eq!(literal_of("v5").as_deref(), Some("v5"));
    assert_eq!(literal_of("ab/cdef").as_deref(), Some("cdef"));
    // Exactly `i` and `k` among ASCII have non-ASCII spellings.
    let ascii: Vec<char> = {
        let mut v: Vec<char> = unstable_chars()
            .iter()
            .copied()
            .filter(char::is_ascii)
            .collect();
        v.sort();
        v
    };
    assert_eq!(ascii, ['i', 'k']);
}

#[test]
fn rule_sets_iterate_in_order_and_reuse_memory() {
    let mut set = RuleSet::with_capacity(3);
    for i in [130, 0, 64, 63] {
        set.insert(i);
    }
    assert_eq!(set.iter().collect::<Vec<_>>(), [0, 63, 64, 130]);
    assert!(set.contains(64) && !set.contains(65));
    assert_eq!(set.len(), 4);
    set.clear();
    assert!(set.is_empty());
    let qs = queries(&["alpha", "beta"]);
    let p = prefilter(&qs);
    p.candidate_rules_into(b"BETA", &mut set);
    assert_eq!(set.iter().collect::<Vec<_>>(), [1]);
}
