//! A stable-Rust stand-in for `cargo fuzz run query_parse`: random queries from the syntax's
//! alphabet, checked with the same properties for `KLAXON_SOAK_SECS` seconds (default 5).

use std::time::{Duration, Instant};

#[test]
fn soak_query_parser() {
    let secs: u64 = std::env::var("KLAXON_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
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
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let start = Instant::now();
    let mut runs = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        let len = next() % 24;
        let q: String = (0..len).map(|_| pieces[next() % pieces.len()]).collect();
        klaxon_fuzz::check(q.as_bytes());
        runs += 1;
    }
    eprintln!("soak: {runs} queries in {:?}", start.elapsed());
    assert!(runs > 0);
}
