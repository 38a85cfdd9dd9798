//! The DingTalk markdown message for one alert.
//!
//! DingTalk's markdown is a loose subset (headings, bold, links, images, quotes, lists),
//! and `@mobile` in the text renders as a mention when listed in `at`. So every untrusted
//! value is flattened to one line with specials escaped, the sample goes into a fenced
//! code block, and `@` in log text is replaced (see `escape::dingtalk_*`).

use serde_json::{json, Value};

use crate::notify::digest::RenderedDigest;
use crate::notify::escape;
use crate::notify::render::Rendered;

/// Cap per inline value; DingTalk cuts long messages silently.
const MAX_VALUE_CHARS: usize = 500;
/// Cap for the log sample in the code block.
const MAX_SAMPLE_CHARS: usize = 4_000;
/// The title is what phones show in the notification banner.
const MAX_TITLE_CHARS: usize = 200;

/// Who to mention; comes from config only, never from log text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    pub at_mobiles: Vec<String>,
    pub at_all: bool,
}

/// `{"msgtype": "markdown", "markdown": {title, text}, "at": {atMobiles, isAtAll}}`.
pub fn markdown_body(r: &Rendered, keyword: Option<&str>, mentions: &Mentions) -> Value {
    let title = match keyword {
        Some(k) => format!("{k} {}", r.title),
        None => r.title.clone(),
    };
    let mut parts = vec![format!(
        "#### {}",
        escape::dingtalk_inline(&title, MAX_TITLE_CHARS)
    )];
    for f in &r.fields {
        parts.push(format!(
            "**{}:** {}",
            f.label,
            escape::dingtalk_inline(&f.value, MAX_VALUE_CHARS)
        ));
    }
    if let Some(h) = &r.held_back {
        parts.push(escape::dingtalk_inline(h, MAX_VALUE_CHARS));
    }
    if let Some(d) = &r.description {
        parts.push(format!(
            "**Description:** {}",
            escape::dingtalk_inline(d, MAX_VALUE_CHARS)
        ));
    }
    parts.push("**Sample:**".to_string());
    parts.push(escape::dingtalk_code_block(&r.sample, MAX_SAMPLE_CHARS));
    if let Some(url) = &r.kibana_url {
        parts.push(format!("[Open in Kibana]({})", escape::link_target(url)));
    }
    with_mentions(&mut parts, mentions);
    finish(&title, parts_text(parts), mentions)
}

/// The markdown message for several alerts: one line per alert, worst first.
pub fn digest_body(d: &RenderedDigest, keyword: Option<&str>, mentions: &Mentions) -> Value {
    let title = match keyword {
        Some(k) => format!("{k} {}", d.title),
        None => d.title.clone(),
    };
    let mut parts = vec![format!(
        "#### {}",
        escape::dingtalk_inline(&title, MAX_TITLE_CHARS)
    )];
    for r in &d.rows {
        let key = if r.key.is_empty() {
            String::new()
        } else {
            format!(" ({})", escape::dingtalk_inline(&r.key, MAX_VALUE_CHARS))
        };
        parts.push(format!(
            "- **{}**{key}: {} × {}, {} → {}",
            escape::dingtalk_inline(&r.rule, MAX_VALUE_CHARS),
            r.severity,
            r.count,
            r.first_seen,
            r.last_seen
        ));
    }
    if let Some(more) = d.more_line() {
        parts.push(more);
    }
    with_mentions(&mut parts, mentions);
    finish(&title, parts_text(parts), mentions)
}

fn parts_text(parts: Vec<String>) -> String {
    parts.join("\n\n")
}

/// DingTalk only renders a mention when `@mobile` also appears in the text.
fn with_mentions(parts: &mut Vec<String>, mentions: &Mentions) {
    if !mentions.at_mobiles.is_empty() {
        let at: Vec<String> = mentions
            .at_mobiles
            .iter()
            .map(|m| format!("@{m}"))
            .collect();
        parts.push(at.join(" "));
    }
}

fn finish(title: &str, text: String, mentions: &Mentions) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": {
            "title": escape::dingtalk_plain(title, MAX_TITLE_CHARS),
            "text": text,
        },
        "at": {
            "atMobiles": mentions.at_mobiles,
            "isAtAll": mentions.at_all,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::sample_alert;

    #[test]
    fn log_text_cannot_mention_link_or_escape_the_code_block() {
        let mut alert = sample_alert();
        alert.sample = "@all see [here](http://evil) ```\n# pwned".into();
        alert.key.insert("user", "@13800000000 ![x](y)");
        let body = markdown_body(&Rendered::new(&alert), None, &Mentions::default());
        let text = body["markdown"]["text"].as_str().unwrap();
        assert!(!text.contains('@'), "{text}");
        assert!(!text.contains("](http"), "{text}");
        assert!(!text.contains("\n# "), "{text}");
        assert!(!text.contains("!["), "{text}");
        assert_eq!(text.matches("```").count(), 2, "{text}");
        assert!(!body["markdown"]["title"].as_str().unwrap().contains('@'));
        assert_eq!(body["at"]["isAtAll"], false);
    }

    #[test]
    fn keyword_and_configured_mentions_are_kept() {
        let mentions = Mentions {
            at_mobiles: vec!["13800000000".into()],
            at_all: true,
        };
        let body = markdown_body(&Rendered::new(&sample_alert()), Some("klaxon"), &mentions);
        assert_eq!(
            body["markdown"]["title"],
            "klaxon [CRITICAL] order-errors (sku=A-1)"
        );
        let text = body["markdown"]["text"].as_str().unwrap();
        assert!(text.ends_with("\n\n@13800000000"), "{text}");
        assert_eq!(body["at"]["atMobiles"][0], "13800000000");
        assert_eq!(body["at"]["isAtAll"], true);
    }
}
