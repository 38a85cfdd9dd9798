//! Stable-Rust stand-ins for `cargo fuzz run`: random inputs built from each target's
//! alphabet, checked with the same properties for `KLAXON_SOAK_SECS` seconds (default 5).

use std::time::{Duration, Instant};

#[test]
fn soak_query_parser() {
    let pieces = [
        "a",
        "b",
        "é",
        "支付",
        " ",
        " ",
        "\t",
        ":",
        "(",
        ")",
        "\"",
        "\\",
        "!",
        "&&",
        "||",
        "AND",
        "OR",
        "NOT",
        "TO",
        "*",
        "?",
        "/",
        "[",
        "]",
        "{",
        "}",
        "+",
        "-",
        ">",
        ">=",
        "<",
        "<=",
        "~",
        "^",
        "_exists_",
        "n",
        "d",
        "ip",
        "a:",
        "n:",
        "d:",
        "ip:",
        "now-1d/d",
        "5",
        "1.5",
        "2024-05-01",
        "10.0.0.0/8",
        "\"::1\"",
        ".",
        ",",
        "'",
        "\u{212A}",
        "\u{3000}",
    ];
    soak("query parser", &pieces, 24, klaxon_fuzz::check);
}

/// A short random run: `check` on `KLAXON_SOAK_SECS` (default 5) seconds of inputs built
/// from `pieces`.
fn soak(name: &str, pieces: &[&str], max_len: usize, check: fn(&[u8])) {
    let secs: u64 = std::env::var("KLAXON_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut seed: u64 = 0x5eed ^ name.len() as u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let start = Instant::now();
    let mut runs = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        let len = next() % max_len;
        let input: String = (0..len).map(|_| pieces[next() % pieces.len()]).collect();
        check(input.as_bytes());
        runs += 1;
    }
    eprintln!("soak {name}: {runs} inputs in {:?}", start.elapsed());
    assert!(runs > 0);
}

#[test]
fn soak_decoders() {
    let pieces = [
        "{",
        "}",
        "\"",
        "\"ts\":",
        "\"a\":",
        "{\"b\":",
        ",",
        ":",
        "[",
        "]",
        "1e400",
        "-0",
        "9223372036854775808",
        "8210266876799",
        "\"2026-06-08T03:00:00Z\"",
        "\"-262143-01-01T00:00:00\"",
        "\\ud800",
        "\\udc00",
        "\\u0000",
        "\\\"",
        "null",
        "true",
        "time=",
        "level=ERROR",
        " ",
        "=",
        "\"quoted value\"",
        "2026-06-08 11:00:00.123",
        "08/Jun/2026:11:00:00 +0800",
        "[",
        "] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\"",
        "10.0.0.1 - - ",
        "é",
        "支付",
        "\u{202E}",
        "\u{1b}[2J",
        "\r",
        "\t",
    ];
    soak("decoders", &pieces, 32, klaxon_fuzz::check_decode);
}

#[test]
fn soak_config_loader() {
    let pieces = [
        "name: r\n",
        "source: app\n",
        "source: other\n",
        "query: x\n",
        "query: 'a AND ('\n",
        "notify: [out]\n",
        "type: frequency\n",
        "type: absence\n",
        "type: mismatch\n",
        "type: nope\n",
        "threshold: 0\n",
        "threshold: 99999999999999999999\n",
        "window: 100000000d\n",
        "window: 1m\n",
        "start: a\n",
        "expect: b\n",
        "within: 5m\n",
        "left: {field: s}\n",
        "right: {source: other, field: s, query: '('}\n",
        "group_by: [a, a, '']\n",
        "realert: -1\n",
        "treshold: 5\n",
        "values_file: /etc\n",
        "type: blacklist\n",
        "field: ip\n",
        "${X}",
        "${X:-y}",
        "${",
        "\"",
        "'",
        "- ",
        "  ",
        "{",
        "}",
        "[",
        "]",
        ":",
        "\n",
        "#",
        "---\n",
        "&a ",
        "*a ",
        "!!str ",
        "|\n  ",
        ">\n  ",
        "sources:\n",
        "channels:\n",
        "rules: rules\n",
        "  s: {type: file}\n",
    ];
    soak("config loader", &pieces, 16, klaxon_fuzz::check_config);
}
