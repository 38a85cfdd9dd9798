//! Text analysis mirroring Elasticsearch's `standard` analyzer: UAX #29 word tokens, compared
//! case-insensitively. Query terms are analyzed once at compile time; event text is tokenized
//! lazily at match time without allocating.

use unicode_segmentation::UnicodeSegmentation;

/// The analyzer's tokens of `text`, in their original case.
///
/// Splits on Unicode word boundaries (UAX #29) and keeps the pieces holding a letter or digit,
/// like the standard tokenizer: `order_timeout`, `com.example.Foo`, `level:error`, `5.0` and
/// `1,000` are single tokens; `-`, `/`, `=`, spaces and brackets split; CJK ideographs come out
/// one per character. Known differences from Lucene: emoji are dropped, and tokens longer than
/// 255 characters are not cut.
pub fn tokens(text: &str) -> impl DoubleEndedIterator<Item = &str> + '_ {
    // `unicode_words` has an ASCII fast path that gives the same boundaries as the general one.
    text.unicode_words()
}

/// Lowercases the way matching compares: per character, so a query term and the event text agree
/// (`str::to_lowercase` would special-case a final sigma and disagree with per-char folding).
pub(crate) fn lowercase(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Whether `token` lowercases to `lower` (already lowercased with [`lowercase`]), without
/// building a lowercase copy of `token`.
#[inline]
pub(crate) fn eq_lower(token: &str, lower: &str) -> bool {
    if token.is_ascii() {
        // ASCII lowercases to ASCII of the same length, so bytes compare one to one.
        token.len() == lower.len()
            && token
                .bytes()
                .zip(lower.bytes())
                .all(|(t, l)| t.to_ascii_lowercase() == l)
    } else {
        token.chars().flat_map(char::to_lowercase).eq(lower.chars())
    }
}

/// False only when `text` cannot hold a token equal to `lower` (a lowercased word): both are
/// ASCII and `lower` is not even a case-insensitive substring. Lets matching skip tokenizing
/// most text; ASCII text cannot spell an ASCII word any other way.
#[inline]
pub(crate) fn may_contain(text: &str, lower: &str) -> bool {
    let (hay, needle) = (text.as_bytes(), lower.as_bytes());
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    if !lower.is_ascii() || !text.is_ascii() {
        return true;
    }
    let mut from = 0;
    while let Some(i) = memchr::memchr2(first, first.to_ascii_uppercase(), &hay[from..]) {
        let at = from + i + 1;
        match hay.get(at..at + rest.len()) {
            Some(tail) if tail.eq_ignore_ascii_case(rest) => return true,
            Some(_) => from = at,
            None => return false,
        }
    }
    false
}

/// The lowercased tokens of a query term or phrase.
pub(crate) fn analyze(text: &str) -> Vec<Box<str>> {
    tokens(text)
        .map(|t| lowercase(t).into_boxed_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<&str> {
        tokens(s).collect()
    }

    #[test]
    fn splits_like_the_standard_tokenizer() {
        assert_eq!(toks("ERROR: order_timeout!"), ["ERROR", "order_timeout"]);
        assert_eq!(
            toks("at com.example.Foo level:error"),
            ["at", "com.example.Foo", "level:error"]
        );
        assert_eq!(toks("v5.0 cost 1,000 ms"), ["v5.0", "cost", "1,000", "ms"]);
        assert_eq!(toks("order-timeout a/b x=y (z) [w]"), {
            ["order", "timeout", "a", "b", "x", "y", "z", "w"]
        });
        assert_eq!(toks("don't"), ["don't"]);
        assert_eq!(toks("支付失败 ok"), ["支", "付", "失", "败", "ok"]);
        assert_eq!(toks("... -- __ !!"), Vec::<&str>::new());
    }

    #[test]
    fn ascii_and_unicode_text_split_the_same_way() {
        // A non-ASCII char anywhere switches `unicode_words` to its general path.
        let ascii = "ERROR: order_timeout at com.example.Foo 5.0 1,000 level:error";
        let mixed = format!("{ascii} é");
        let general: Vec<&str> = tokens(&mixed).collect();
        assert_eq!(toks(ascii), general[..general.len() - 1]);
    }

    #[test]
    fn compares_case_insensitively_without_copying() {
        assert!(eq_lower("ERROR", "error"));
        assert!(eq_lower("Error", "error"));
        assert!(!eq_lower("Errors", "error"));
        assert!(!eq_lower("ERROR", "erro"));
        assert!(eq_lower("ÉCHEC", &lowercase("échec")));
        assert!(eq_lower("ΟΔΟΣ", &lowercase("ΟΔΟΣ")));
        // The Kelvin sign lowercases to ASCII `k`: the non-ASCII path must handle it.
        assert!(eq_lower("\u{212A}b", "kb"));
        assert!(!eq_lower("kb", "\u{212A}b"));
    }

    #[test]
    fn substring_precheck_only_rules_out_impossible_text() {
        assert!(may_contain("x ORDER_Timeout y", "order_timeout"));
        assert!(!may_contain("x order timeout", "order_timeout"));
        assert!(!may_contain("ab", "abc"));
        assert!(may_contain("", ""));
        // Non-ASCII text may spell an ASCII word differently (Kelvin sign): no verdict.
        assert!(may_contain("\u{212A}B", "kb"));
        assert!(may_contain("plain", "é"));
    }

    #[test]
    fn analyze_lowercases_every_token() {
        assert_eq!(
            analyze("Order-Timeout 支付"),
            ["order", "timeout", "支", "付"].map(Box::<str>::from)
        );
        assert!(analyze("&&").is_empty());
    }
}
