//! Text from logs made safe for one line of a terminal or a log: it cannot start a new
//! line, move the cursor, or reorder what follows it.

use std::borrow::Cow;

/// `text` on one line: `\n` and `\r` shown as `\n` and `\r`, a tab as a space, other
/// control characters and bidi overrides as U+FFFD. Borrowed when nothing needed changing.
pub fn flat(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_change) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push(' '),
            c if needs_change(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `text` cut to at most `max_bytes` bytes (on a character boundary), with `…` in place of
/// what was cut.
pub fn clip(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let mut end = max_bytes.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

fn needs_change(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_keeps_whole_characters_within_the_budget() {
        assert!(matches!(clip("short", 10), Cow::Borrowed("short")));
        let long = "é".repeat(100);
        let c = clip(&long, 11);
        assert!(c.len() <= 11, "{c}");
        assert_eq!(c, "éééé…");
    }

    #[test]
    fn a_log_line_cannot_forge_another() {
        assert!(matches!(flat("plain text"), Cow::Borrowed(_)));
        assert_eq!(
            flat("ok\n2026-06-08 INFO all clear\r\u{1b}[2J\tx\u{202E}y"),
            "ok\\n2026-06-08 INFO all clear\\r\u{FFFD}[2J x\u{FFFD}y"
        );
    }
}
