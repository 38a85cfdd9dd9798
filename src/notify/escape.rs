//! Escaping untrusted text (log lines, `group_by` values) for each destination's markup.
//!
//! Every function here takes plain text and returns text that the destination will show
//! literally: no mentions, links, images, headings or tags can be created from it.

/// The ellipsis appended when text is cut to fit a limit.
pub const ELLIPSIS: char = '…';

/// Replaces control characters (terminal escapes, NUL, bidi overrides) that would otherwise
/// let a log line rewrite a terminal or visually reorder a message. Keeps `\n` and `\t`.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            c if c.is_control() => '\u{FFFD}',
            // Bidi embeddings/overrides/isolates: "Trojan Source" style reordering.
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// Cuts `text` to at most `max_chars` characters (ellipsis included), on a char boundary.
pub fn truncate(text: &str, max_chars: usize) -> String {
    fit(text, max_chars, |_| None)
}

/// Escapes `text` char by char with `escape`, keeping the result within `max_chars`
/// characters. A cut never splits an escape sequence (no dangling `&am`), and the
/// ellipsis counts towards the limit.
pub fn fit(text: &str, max_chars: usize, escape: impl Fn(char) -> Option<&'static str>) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)));
    let mut used = 0usize;
    // Output positions (byte len, char count) after each input char, to back off for the ellipsis.
    let mut marks: Vec<(usize, usize)> = Vec::new();
    for c in text.chars() {
        let mut buf = [0u8; 4];
        let piece: &str = match escape(c) {
            Some(rep) => rep,
            None => c.encode_utf8(&mut buf),
        };
        let n = piece.chars().count();
        if used + n > max_chars {
            if max_chars == 0 {
                return String::new();
            }
            // Drop whole pieces until the ellipsis fits.
            while used + 1 > max_chars {
                marks.pop();
                let (len, chars) = marks.last().copied().unwrap_or((0, 0));
                out.truncate(len);
                used = chars;
            }
            out.push(ELLIPSIS);
            return out;
        }
        out.push_str(piece);
        used += n;
        marks.push((out.len(), used));
    }
    out
}

/// Slack mrkdwn/plain_text: exactly `&`, `<`, `>` (Slack's documented set, nothing else).
pub fn slack_char(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        _ => None,
    }
}

/// Slack-escaped `text`, at most `max_chars` characters.
pub fn slack(text: &str, max_chars: usize) -> String {
    fit(text, max_chars, slack_char)
}

/// Slack-escaped text outside code: a run of backticks cannot open a code block that a
/// later fence would close (which would turn the log line after it into markup).
pub fn slack_inline(text: &str, max_chars: usize) -> String {
    fit(&break_fences(text), max_chars, slack_char)
}

/// Slack-escaped text for inside a ``` block: a run of backticks cannot close it early.
pub fn slack_code_block(text: &str, max_chars: usize) -> String {
    fit(&break_fences(text), max_chars, slack_char)
}

/// Slack-escaped text for inside a `code span`: backticks become a look-alike.
pub fn slack_code_span(text: &str, max_chars: usize) -> String {
    fit(text, max_chars, |c| match c {
        '`' => Some(GRAVE_LOOKALIKE),
        c => slack_char(c),
    })
}

/// U+02CB MODIFIER LETTER GRAVE ACCENT: reads like a backtick, never closes a code span.
const GRAVE_LOOKALIKE: &str = "\u{02CB}";

/// HTML text and attribute values.
pub fn html(text: &str) -> String {
    fit(text, usize::MAX, |c| match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&#39;"),
        _ => None,
    })
}

/// `@` in untrusted DingTalk text becomes U+FF20 FULLWIDTH COMMERCIAL AT. Chosen over a
/// zero-width space because it stays visible (readers see the address was altered), and
/// no renderer strips it back into a real `@`, so `@all` or `@138…` in a log line can
/// never read as a mention.
const DINGTALK_AT: &str = "\u{FF20}";

/// DingTalk markdown, inline: one line, markdown specials backslash-escaped, `@` replaced,
/// and URL starts broken with a zero-width space so they are not auto-linked.
pub fn dingtalk_inline(text: &str, max_chars: usize) -> String {
    let flat = text
        .replace(['\r', '\n'], " ")
        .replace("://", ":\u{200B}//")
        .replace("www.", "www\u{200B}.");
    let escaped = fit(&flat, max_chars, |c| match c {
        '@' => Some(DINGTALK_AT),
        '\\' => Some("\\\\"),
        '`' => Some("\\`"),
        '*' => Some("\\*"),
        '_' => Some("\\_"),
        // Without brackets no link or image can form, so `(`, `)` and `!` stay as
        // written: times and keys read as they are.
        '[' => Some("\\["),
        ']' => Some("\\]"),
        '<' => Some("\\<"),
        '>' => Some("\\>"),
        '~' => Some("\\~"),
        '#' => Some("\\#"),
        // Stops `&#64;`-style entities from decoding into characters we replaced.
        '&' => Some("\\&"),
        '|' => Some("\\|"),
        _ => None,
    });
    dingtalk_line_start(&escaped)
}

/// A value a template puts at the start of a line must not make it a list item, a rule or a
/// setext heading: a leading `-`, `+`, `=` or `1.` / `1)` gets a backslash (`#` and `>` are
/// escaped everywhere already).
fn dingtalk_line_start(text: &str) -> String {
    // Leading spaces (an indented code block at the start of a line, `  - x`) become
    // no-break spaces: the same to the eye, never indentation.
    let spaces = text.len() - text.trim_start_matches(' ').len();
    if spaces > 0 {
        return format!("{}{}", "\u{A0}".repeat(spaces), &text[spaces..]);
    }
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let rest = &text[digits..];
    let list_number = digits > 0
        && rest.starts_with(['.', ')'])
        && rest[1..].chars().next().is_none_or(char::is_whitespace);
    if text.starts_with(['-', '+', '=']) {
        format!("\\{text}")
    } else if list_number {
        format!("{}\\{rest}", &text[..digits])
    } else {
        text.to_string()
    }
}

/// DingTalk plain text (the markdown `title`, shown in notification previews): one line,
/// `@` replaced; no markdown is rendered there, so nothing else needs escaping.
pub fn dingtalk_plain(text: &str, max_chars: usize) -> String {
    let flat = text.replace(['\r', '\n'], " ");
    fit(&flat, max_chars, |c| (c == '@').then_some(DINGTALK_AT))
}

/// Every third backtick of a run becomes a look-alike, so text inside a fenced code block
/// cannot end it early; nothing else changes, so what a reader copies is what was logged.
fn break_fences(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            if run == 3 {
                out.push_str(GRAVE_LOOKALIKE);
                run = 0;
                continue;
            }
        } else {
            run = 0;
        }
        out.push(c);
    }
    out
}

/// The content of a fenced code block (DingTalk markdown, plain text), at most `max_chars`.
/// Mentions are not parsed inside code blocks, so `@` stays as logged.
pub fn code_fence_body(text: &str, max_chars: usize) -> String {
    truncate(&break_fences(text), max_chars)
}

/// The content of an inline code span: no backtick can end it.
pub fn code_span_body(text: &str, max_chars: usize) -> String {
    fit(text, max_chars, |c| (c == '`').then_some(GRAVE_LOOKALIKE))
}

/// Only http(s) links are ever rendered as links (never `javascript:` and friends).
pub fn is_web_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// Percent-encodes the characters that would end a markdown link target or a Slack
/// `<url|text>` early. Kibana URLs are rison, full of `(` and `)`.
pub fn link_target(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            ' ' => out.push_str("%20"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '|' => out.push_str("%7C"),
            '"' => out.push_str("%22"),
            '`' => out.push_str("%60"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_escapes_exactly_the_three_controls() {
        assert_eq!(
            slack("<!channel> <@U123> a&b \"q\" 'x'", 100),
            "&lt;!channel&gt; &lt;@U123&gt; a&amp;b \"q\" 'x'"
        );
    }

    #[test]
    fn fit_never_splits_an_escape_and_counts_the_ellipsis() {
        // "ab" + "&amp;" = 7 chars; limit 6 must drop the whole entity.
        assert_eq!(slack("ab&cd", 6), "ab…");
        assert_eq!(slack("ab&cd", 9), "ab&amp;cd");
        assert_eq!(slack("ab&cd", 8), "ab&amp;…");
        assert_eq!(truncate("héllo wörld", 5), "héll…");
        assert_eq!(truncate("short", 5), "short");
        assert_eq!(truncate("x", 0), "");
        assert_eq!(truncate("日本語テキスト", 3).chars().count(), 3);
    }

    #[test]
    fn html_escapes_tags_and_quotes() {
        assert_eq!(
            html(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
    }

    #[test]
    fn dingtalk_inline_cannot_link_mention_or_break_lines() {
        let out = dingtalk_inline("[x](http://evil) ![i](y) @all\n# head", 200);
        assert_eq!(
            out,
            "\\[x\\](http:\u{200B}//evil) !\\[i\\](y) \u{FF20}all \\# head"
        );
        assert!(!out.contains('@') && !out.contains('\n'));
        assert_eq!(dingtalk_inline("1. ---", 50), "1\\. ---");
        assert_eq!(dingtalk_inline("  - x", 50), "\u{A0}\u{A0}- x");
        assert_eq!(dingtalk_inline(" in 1m", 50), "\u{A0}in 1m");
        assert_eq!(dingtalk_inline("=== ", 50), "\\=== ");
        assert_eq!(dingtalk_inline("12) y", 50), "12\\) y");
        assert_eq!(dingtalk_inline("a - b", 50), "a - b");
        assert_eq!(dingtalk_inline("3.333", 50), "3.333");
        assert_eq!(slack_inline("a ``` b", 50), "a ``\u{02CB} b");
    }

    #[test]
    fn code_blocks_keep_the_text_copyable_and_cannot_be_closed_early() {
        let line = "a ``` b `` c ```` @所有人 <!channel> [x](http://e)";
        let body = code_fence_body(line, 100);
        assert_eq!(
            body,
            "a ``\u{02CB} b `` c ``\u{02CB}` @所有人 <!channel> [x](http://e)"
        );
        assert!(!body.contains("```"));
        assert!(!body.contains('\u{200B}') && !body.contains('\u{FF20}'));
        assert_eq!(
            slack_code_block(line, 100),
            "a ``\u{02CB} b `` c ``\u{02CB}` @所有人 &lt;!channel&gt; [x](http://e)"
        );
        assert_eq!(code_span_body("a`b", 10), "a\u{02CB}b");
        assert_eq!(slack_code_span("<`>", 20), "&lt;\u{02CB}&gt;");
    }

    #[test]
    fn sanitize_removes_terminal_escapes_and_bidi() {
        assert_eq!(
            sanitize("a\u{1b}[31mred\u{202E}x\ty\nz"),
            "a\u{FFFD}[31mred\u{FFFD}x\ty\nz"
        );
    }

    #[test]
    fn only_web_urls_and_link_targets_are_closed() {
        assert!(is_web_url("https://kibana/app"));
        assert!(!is_web_url("javascript:alert(1)"));
        assert_eq!(
            link_target("http://k/#/?_g=(a:'b c')|x"),
            "http://k/#/?_g=%28a:'b%20c'%29%7Cx"
        );
    }
}
