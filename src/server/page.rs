//! HTML pages: one layout, and escaping for every value put in them (log text is hostile:
//! it reaches the console through alert samples and keys).

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// `text` for an HTML element or a quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters (a forged line break, an escape sequence) and bidi
            // overrides (which reorder what is shown) are replaced, not kept.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {
                out.push('\u{FFFD}')
            }
            c => out.push(c),
        }
    }
    out
}

/// An http(s) link, or nothing: a `javascript:` URL from a log must never be clickable.
pub fn link(url: &str, text: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        format!(
            "<a href=\"{}\" rel=\"noopener noreferrer\" target=\"_blank\">{}</a>",
            esc(url),
            esc(text)
        )
    } else {
        String::new()
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;width:100%}td,th{padding:.3em .5em;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\
.firing{color:#b00;font-weight:bold}.acknowledged{color:#a60}.resolved{color:#070}\
.flash{background:#eef;padding:.5em}.warn{background:#fff4e0;padding:.5em}.bad{color:#b00}\
pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:.4em;margin:.2em 0;max-height:12em;overflow:auto}\
tr.history li{white-space:pre-wrap;word-break:break-all;max-height:12em;overflow:auto}\
form.inline{display:inline}button{cursor:pointer}";

/// A whole page: `body` is already HTML.
pub fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // No script runs on these pages, and nothing frames them.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_inert() {
        assert_eq!(
            esc("<script>\"x\"&'y'\u{1b}[2J"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;\u{FFFD}[2J"
        );
        assert_eq!(link("javascript:alert(1)", "x"), "");
        assert!(link("https://k/?a=\"b\"", "K").contains("href=\"https://k/?a=&quot;b&quot;\""));
        assert_eq!(esc("a\u{202E}b\u{2066}c"), "a\u{FFFD}b\u{FFFD}c");
    }
}
