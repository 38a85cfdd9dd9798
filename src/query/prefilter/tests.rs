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
    // `k` and `i` have non-ASCII spellings (the Kelvin sign, `İ`): the scan looks for those
    // apart, so literals keep them whole.
    let p = prefilter(&queries(&["order_timeout", "kb_exceeded"]));
    assert_eq!(p.literals(), ["order_timeout", "kb_exceeded"]);
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
    let buf = "ok\nOVERFLOW here\nfine\nx rollover y\nx rollover SKU\nlast Overflow\n";
    // `rollover AND sku` needs both: a line with one of them is no candidate.
    assert_eq!(
        candidates(&p, buf),
        ["OVERFLOW here", "x rollover SKU", "last Overflow"]
    );
    assert!(p.candidate_rules(b"x rollover y").is_empty());
    assert_eq!(
        p.candidate_rules(b"sku: x rollover")
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
    // A line with such a spelling is a candidate for every rule.
    assert_eq!(
        p.candidate_rules(kelvin.as_bytes())
            .iter()
            .collect::<Vec<_>>(),
        [0, 1]
    );
    assert!(p.candidate_rules(b"kb_exceeded").contains(0));
}

#[test]
fn a_phrase_needs_all_its_words_and_an_or_needs_one_side() {
    let qs = queries(&[
        r#""rate limited""#,
        "(payment_declined AND gateway) OR ledger_orphaned",
    ]);
    let p = prefilter(&qs);
    let buf = "rate ok\nlimited edition\nRate-Limited now\npayment_declined\n\
               gateway payment_declined\nledger_orphaned\n";
    assert_eq!(
        candidates(&p, buf),
        [
            "Rate-Limited now",
            "gateway payment_declined",
            "ledger_orphaned"
        ]
    );
}

/// Never skips a line a rule matches: random lines in varied case, with ids, JSON
/// escapes and the non-ASCII spellings of `i` and `k`, long enough to teach the scan.
#[test]
fn never_skips_a_matching_line() {
    let qs = queries(&[
        "order_timeout",
        r#""rate limited" AND -debug"#,
        "kafka AND lag",
        "level:error AND (inventory_rollback OR stock_check)",
        "oom",
        "message:*overflow*",
    ]);
    let p = prefilter(&qs);
    let words = [
        "order_timeout",
        "ORDER_TIMEOUT",
        "Order_Timeout",
        "order_id=42",
        "rate",
        "limited",
        "RATE LIMITED",
        "rate-limited",
        "debug",
        "kafka",
        "\u{212A}afka",
        "lag",
        "LAG",
        "error",
        "inventory_rollback",
        "İnventory_rollback",
        "stock_check",
        "oom",
        "OOM",
        "zoom",
        "buffer_overflow",
        "trace_id=ab12",
        "settle-svc",
        "svc",
        "x",
        "支付",
    ];
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let mut buf = String::new();
    while buf.len() < 200_000 {
        let n = 1 + next(8);
        let line: Vec<&str> = (0..n).map(|_| words[next(words.len())]).collect();
        buf.push_str(&line.join(" "));
        buf.push('\n');
    }
    let got = candidates(&p, &buf);
    let mut got = got.iter();
    let now = Utc::now();
    for line in buf.lines() {
        let event = Event::plain(line, now, test_origin());
        let matching: Vec<usize> = (0..qs.len())
            .filter(|&i| qs[i].matches(&event, now))
            .collect();
        if matching.is_empty() {
            continue;
        }
        assert!(got.any(|c| c == line), "skipped {line:?}");
        let rules = p.candidate_rules(line.as_bytes());
        for i in matching {
            assert!(rules.contains(i), "rule {i} not a candidate for {line:?}");
        }
    }
}

#[test]
fn json_numbers_and_escapes_never_supply_literals() {
    for word in ["500", "5.0", "1e", "a\"b"] {
        let pieces = required::pieces(word);
        assert!(!pieces.iter().any(|p| p == word), "{word}: {pieces:?}");
    }
    assert_eq!(required::pieces("v5"), ["v5"]);
    assert_eq!(required::pieces("ab/cdef"), ["cdef"]);
    assert_eq!(
        required::pieces("/api/orders/cancel"),
        ["cancel", "orders", "api"]
    );
    // Exactly `i` and `k` among ASCII have non-ASCII spellings, scanned for apart.
    assert_eq!(required::folded_ascii(), ['i', 'k']);
    assert!(!required::unstable_chars().iter().any(char::is_ascii));
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

#[test]
fn text_a_field_prints_differently_from_the_line_reaches_every_rule() {
    // An object-valued field is matched as serde_json prints it: `\u0009` comes back as
    // `\t`, so `\timeout` holds the word `timeout` although the line does not.
    let qs = queries(&["message:timeout"]);
    let p = prefilter(&qs);
    let line = r#"{"message":{"detail":"\u0009imeout"}}"#;
    let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
    let event = Event {
        time: Utc::now(),
        raw: line.to_string(),
        fields: Some(fields),
        origin: test_origin(),
        time_guessed: false,
        fields_for: None,
    };
    assert!(qs[0].matches(&event, Utc::now()));
    assert_eq!(candidates(&p, &format!("{line}\n")), [line]);
    // A line read lossily has U+FFFD for each invalid byte: no literal spans one.
    assert!(required::pieces("ab\u{FFFD}cdef")
        .iter()
        .all(|p| !p.contains('\u{FFFD}')));
}
