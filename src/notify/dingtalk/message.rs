//! The DingTalk message for an alert or a digest: the `title` and `text` templates, then
//! what the channel adds itself — the keyword a robot may require, the `@` of each person
//! mentioned (DingTalk only highlights a mention whose `@mobile` is also in the text), and
//! the buttons: an `actionCard` when there is a link and nobody to mention (an actionCard
//! cannot mention), otherwise `markdown` with the link as a line.
//!
//! Who is mentioned comes from configuration only (the channel, its per-severity lists,
//! the rule), never from log text; `isAtAll` only when a rule says `at_all: true`.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::notify::escape;
use crate::notify::template::{defaults, Markup, Part, Role};

/// The template parts of a DingTalk channel.
pub const PARTS: &[Part] = &[
    Part::new("title", Markup::DingTalkPlain, Role::Title, defaults::TITLE),
    Part::new(
        "text",
        Markup::DingTalk,
        Role::Body,
        defaults::DINGTALK_ALERT,
    ),
    Part::new(
        "digest_title",
        Markup::DingTalkPlain,
        Role::DigestTitle,
        defaults::DIGEST_TITLE,
    ),
    Part::new(
        "digest_text",
        Markup::DingTalk,
        Role::DigestBody,
        defaults::DINGTALK_DIGEST,
    ),
];

/// The title is what phones show in the notification banner.
const MAX_TITLE_CHARS: usize = 200;
/// DingTalk refuses bodies past ~20 KB; the text stays well under it.
const MAX_TEXT_BYTES: usize = 15_000;
/// Most people mentioned in one message.
const MAX_MENTIONS: usize = 50;

/// `at_mobiles` / `at_user_ids` (and, in a rule only, `at_all`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DingTalkAt {
    /// Phone numbers of group members to @-mention.
    #[serde(default)]
    pub at_mobiles: Vec<String>,
    /// DingTalk user ids to @-mention.
    #[serde(default)]
    pub at_user_ids: Vec<String>,
    /// @everyone in the group: only a rule can say so.
    #[serde(default)]
    pub at_all: bool,
}

impl DingTalkAt {
    /// The first value that is not a phone number or a user id: `(field, reason)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for m in &self.at_mobiles {
            let ok = (3..=20).contains(&m.len())
                && m.chars()
                    .all(|c| c.is_ascii_digit() || c == '+' || c == '-');
            if !ok {
                return Err(("at_mobiles", format!("`{m}` is not a phone number")));
            }
        }
        for id in &self.at_user_ids {
            let ok = (1..=64).contains(&id.len())
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !ok {
                return Err((
                    "at_user_ids",
                    format!("`{id}` is not a DingTalk user id (letters, digits, `_-.`)"),
                ));
            }
        }
        Ok(())
    }

    /// Adds `other`'s people (no repeats).
    pub fn add(&mut self, other: &DingTalkAt) {
        for m in &other.at_mobiles {
            if !self.at_mobiles.contains(m) {
                self.at_mobiles.push(m.clone());
            }
        }
        for id in &other.at_user_ids {
            if !self.at_user_ids.contains(id) {
                self.at_user_ids.push(id.clone());
            }
        }
        self.at_all |= other.at_all;
    }

    fn is_empty(&self) -> bool {
        self.at_mobiles.is_empty() && self.at_user_ids.is_empty() && !self.at_all
    }
}

/// `message_type:` of a DingTalk channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    /// `action_card` when there is a button and nobody to mention, else `markdown`.
    #[default]
    Auto,
    Markdown,
    /// Buttons under the text; cannot mention anyone.
    ActionCard,
}

/// A button: label and http(s) target.
pub struct Button {
    pub label: &'static str,
    pub url: String,
}

/// A rendered message before the channel's additions.
pub struct Message {
    pub title: String,
    pub text: String,
    pub buttons: Vec<Button>,
    pub mentions: DingTalkAt,
}

/// The request body for `message`.
pub fn body(message: Message, keyword: Option<&str>, kind: MessageType) -> Value {
    let Message {
        mut title,
        text,
        buttons,
        mut mentions,
    } = message;
    mentions.at_mobiles.truncate(MAX_MENTIONS);
    mentions.at_user_ids.truncate(MAX_MENTIONS);
    if let Some(k) = keyword {
        if !title.contains(k) {
            title = format!("{k} {title}");
        }
    }
    let title = escape::dingtalk_plain(&title, MAX_TITLE_CHARS);
    let card = match kind {
        MessageType::Auto => !buttons.is_empty() && mentions.is_empty(),
        MessageType::ActionCard => !buttons.is_empty(),
        MessageType::Markdown => false,
    };
    // What the channel adds goes in whole; the template's text is cut to leave room for it.
    let mut suffix = String::new();
    if !card {
        for b in &buttons {
            suffix.push_str(&format!(
                "\n\n[{}]({})",
                b.label,
                escape::link_target(&b.url)
            ));
        }
        let at: Vec<String> = mentions
            .at_mobiles
            .iter()
            .chain(&mentions.at_user_ids)
            .map(|m| format!("@{m}"))
            .collect();
        if !at.is_empty() {
            suffix.push_str("\n\n");
            suffix.push_str(&at.join(" "));
        }
    }
    let keyword = keyword.map(|k| escape::dingtalk_inline(k, 100));
    let buttons_bytes: usize = if card {
        buttons.iter().map(|b| b.url.len() + b.label.len()).sum()
    } else {
        0
    };
    let reserved = suffix.len() + keyword.as_ref().map_or(0, |k| k.len() + 2) + buttons_bytes;
    let mut text = cap_markdown(text, MAX_TEXT_BYTES.saturating_sub(reserved).max(1_000));
    if let Some(k) = keyword.filter(|k| !text.contains(k.as_str())) {
        // In the heading when the text starts with one (the default does), else at the end.
        text = match text.strip_prefix("#### ") {
            Some(rest) => format!("#### {k} {rest}"),
            None => format!("{text}\n\n{k}"),
        };
    }
    text.push_str(&suffix);
    if card {
        let btns: Vec<Value> = buttons
            .iter()
            .map(|b| json!({"title": b.label, "actionURL": b.url}))
            .collect();
        return json!({
            "msgtype": "actionCard",
            "actionCard": {
                "title": title,
                "text": text,
                "btnOrientation": "0",
                "btns": btns,
            },
        });
    }
    json!({
        "msgtype": "markdown",
        "markdown": {"title": title, "text": text},
        "at": {
            "atMobiles": mentions.at_mobiles,
            "atUserIds": mentions.at_user_ids,
            "isAtAll": mentions.at_all,
        },
    })
}

/// Markdown cut to `max_bytes`, closing a code block the cut left open.
fn cap_markdown(text: String, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text;
    }
    let mut cut = crate::types::clip(&text, max_bytes - 8).into_owned();
    if cut.matches("```").count() % 2 == 1 {
        cut.push_str("\n```");
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str, buttons: Vec<Button>, mentions: DingTalkAt) -> Message {
        Message {
            title: "[CRITICAL] order-errors".into(),
            text: text.into(),
            buttons,
            mentions,
        }
    }

    fn kibana() -> Vec<Button> {
        vec![Button {
            label: "Open in Kibana",
            url: "http://kibana:5601/app/discover#/?_a=(query:'x')".into(),
        }]
    }

    #[test]
    fn a_button_and_nobody_to_mention_is_an_action_card() {
        let body = body(
            message("#### hi", kibana(), DingTalkAt::default()),
            None,
            MessageType::Auto,
        );
        assert_eq!(body["msgtype"], "actionCard");
        assert_eq!(body["actionCard"]["btns"][0]["title"], "Open in Kibana");
        assert_eq!(
            body["actionCard"]["btns"][0]["actionURL"],
            "http://kibana:5601/app/discover#/?_a=(query:'x')"
        );
        assert!(body.get("at").is_none());
    }

    #[test]
    fn mentions_need_markdown_and_appear_in_the_text() {
        let at = DingTalkAt {
            at_mobiles: vec!["13800000000".into()],
            at_user_ids: vec!["manager01".into()],
            at_all: false,
        };
        let body = body(
            message("#### hi", kibana(), at),
            Some("klaxon"),
            MessageType::Auto,
        );
        assert_eq!(body["msgtype"], "markdown");
        let text = body["markdown"]["text"].as_str().unwrap();
        assert!(
            text.contains("[Open in Kibana](http://kibana:5601/app/discover#/?_a=%28query:'x'%29)"),
            "{text}"
        );
        assert!(text.contains("\n\n@13800000000 @manager01"), "{text}");
        assert!(text.starts_with("#### klaxon hi"), "{text}");
        assert_eq!(body["markdown"]["title"], "klaxon [CRITICAL] order-errors");
        assert_eq!(body["at"]["atMobiles"][0], "13800000000");
        assert_eq!(body["at"]["atUserIds"][0], "manager01");
        assert_eq!(body["at"]["isAtAll"], false);
    }

    #[test]
    fn long_text_is_cut_with_its_code_block_closed() {
        let text = format!("#### t\n\n```\n{}\n```", "日志".repeat(10_000));
        let at = DingTalkAt {
            at_mobiles: vec!["13800000000".into()],
            ..Default::default()
        };
        let body = body(
            message(&text, kibana(), at),
            Some("klaxon"),
            MessageType::Auto,
        );
        let text = body["markdown"]["text"].as_str().unwrap();
        assert!(text.len() <= MAX_TEXT_BYTES, "{}", text.len());
        assert_eq!(text.matches("```").count(), 2);
        // What the channel adds survives the cut: the link, the mention, the keyword.
        assert!(text.starts_with("#### klaxon t"), "{}", &text[..20]);
        assert!(
            text.ends_with("%29)\n\n@13800000000"),
            "{}",
            &text[text.len() - 80..]
        );
    }

    #[test]
    fn mention_lists_are_checked() {
        let bad = DingTalkAt {
            at_mobiles: vec!["138 [x](y)".into()],
            ..Default::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "at_mobiles");
        let bad = DingTalkAt {
            at_user_ids: vec!["all <b>".into()],
            ..Default::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "at_user_ids");
        let mut a = DingTalkAt {
            at_mobiles: vec!["1380".into()],
            ..Default::default()
        };
        a.add(&DingTalkAt {
            at_mobiles: vec!["1380".into(), "1390".into()],
            at_user_ids: vec![],
            at_all: true,
        });
        assert_eq!(a.at_mobiles, ["1380", "1390"]);
        assert!(a.at_all);
    }
}
