//! Snapshot tests (insta) of every channel's default messages: what a person sees, for a
//! plain alert, CJK text, very long lines, hostile log text, and a digest. A change to a
//! default template shows up here as a diff to review (`cargo insta review`).
//!
//! Bodies are shown as the JSON the channel sends, with every multi-line string pulled
//! out below it verbatim so the markdown reads as it will render.

use std::sync::Arc;

use chrono::TimeZone as _;
use serde_json::Value;

use super::template::{RuleMessages, TemplateParts, Templates, Times};
use super::{console, dingtalk, email, slack, webhook};
use crate::alert::{Alert, Severity};
use crate::clock::{Clock, ManualClock};

fn shanghai() -> Times {
    Times::new("Asia/Shanghai".parse().unwrap())
}

fn templates(channel: &str, parts: &'static [super::Part]) -> Templates {
    Templates::new(
        channel,
        parts,
        TemplateParts::new(),
        Arc::new(RuleMessages::default()),
        shanghai(),
    )
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(
        chrono::Utc.with_ymd_and_hms(2026, 6, 8, 3, 0, 31).unwrap(),
    ))
}

const KIBANA: &str = "http://kibana:5601/app/discover#/?_g=(time:(from:'2026-06-08T02:59:00.000Z',to:'2026-06-08T03:01:30.000Z'))&_a=(query:(language:lucene,query:'sku:\"A-1\"'))";

fn plain() -> Alert {
    Alert {
        kibana_url: Some(KIBANA.into()),
        ack_url: None,
        ..Alert::example()
    }
}

fn cjk() -> Alert {
    let mut a = Alert::example();
    a.rule = "幽灵订单".into();
    a.description = Some("支付回调丢失：订单停在「已支付」之前".into());
    a.query = "\"支付回调超时\" AND level:ERROR".into();
    a.key.clear();
    a.key.insert("店铺", "杭州旗舰店");
    a.key.insert("sku", "商品-778");
    a.count = 12_345;
    a.window = Some("5m".into());
    a.sample =
        "2026-06-08 11:00:00 ERROR 订单 O-1 支付回调超时 店铺=杭州旗舰店 sku=商品-778 用户=张三"
            .into();
    a.severity = Severity::Error;
    a
}

fn long() -> Alert {
    let mut a = Alert::example();
    a.key.clear();
    a.key.insert("trace", "t".repeat(300));
    let line: String = "0123456789abcdef ".repeat(400);
    a.sample = format!("2026-06-08 03:00:00 ERROR payload={line}");
    a.detail = Some(format!("state: {} → paid", "p".repeat(200)));
    a
}

fn hostile() -> Alert {
    let mut a = Alert::example();
    a.key.clear();
    a.key
        .insert("user", "@13800000000 <!everyone> @所有人 ``` *x*");
    a.detail = Some("1. --- state: <b>paid</b> → @all".into());
    a.description = Some("Order errors & <i>rollbacks</i>".into());
    a.held_back = 3;
    a.sample = "ERROR @所有人 <!channel> <!here> <@U0123> <script>alert(1)</script> ``` \
                [click](http://evil.example) \u{1b}[2J \u{202E}reversed\nforged: [CRITICAL] all clear"
        .into();
    a.kibana_url = Some("javascript:alert(1)".into());
    a
}

/// A message of escalation level 2 about alert 7, which mentions a manager.
fn escalated() -> Alert {
    let mut a = plain();
    a.id = Some(7);
    a.escalation = Some(crate::alert::EscalationNote {
        level: 2,
        at_mobiles: vec!["13900000000".into()],
        at_user_ids: vec![],
    });
    a
}

/// The notice that alert 7 was acknowledged.
fn acknowledged() -> Alert {
    let mut a = plain();
    a.id = Some(7);
    a.status = crate::alert::Status::Acknowledged;
    a.acknowledged_by = Some("alice".into());
    a
}

fn cases() -> Vec<(&'static str, Alert)> {
    vec![
        ("plain", plain()),
        ("cjk", cjk()),
        ("long", long()),
        ("hostile", hostile()),
        ("escalated", escalated()),
        ("acknowledged", acknowledged()),
    ]
}

fn digest_alerts() -> Vec<Alert> {
    let mut critical = hostile();
    critical.fired_at += chrono::Duration::seconds(5);
    let mut info = plain();
    info.severity = Severity::Info;
    info.rule = "slow-checkout".into();
    vec![plain(), cjk(), critical, info]
}

/// Pretty JSON, with multi-line strings replaced by `<…>` and shown verbatim below.
fn readable(body: &Value) -> String {
    fn walk(v: &mut Value, path: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) if s.contains('\n') => {
                out.push((path.to_string(), std::mem::take(s)));
                *s = format!("<{path}>");
            }
            Value::Array(a) => {
                for (i, x) in a.iter_mut().enumerate() {
                    walk(x, &format!("{path}.{i}"), out);
                }
            }
            Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(x, &p, out);
                }
            }
            _ => {}
        }
    }
    let mut body = body.clone();
    let mut pulled = Vec::new();
    walk(&mut body, "", &mut pulled);
    let mut out = serde_json::to_string_pretty(&body).unwrap();
    for (path, text) in pulled {
        out.push_str(&format!("\n\n──── <{path}> ────\n{text}"));
    }
    out
}

fn dingtalk_channel() -> dingtalk::DingTalkChannel {
    let config: dingtalk::DingTalkConfig =
        serde_saphyr::from_str("access_token: t\nkeyword: klaxon\n").unwrap();
    dingtalk::DingTalkChannel::new("dt", &config, clock(), templates("dt", dingtalk::PARTS))
        .unwrap()
}

fn email_channel() -> email::EmailChannel {
    let config: email::EmailConfig = serde_saphyr::from_str(
        "smtp: {host: 127.0.0.1, tls: none}\nfrom: 'Klaxon <klaxon@example.com>'\nto: [oncall@example.com]\nsubject_prefix: '[klaxon]'\n",
    )
    .unwrap();
    email::EmailChannel::new("mail", &config, clock(), templates("mail", email::PARTS)).unwrap()
}

fn webhook_channel() -> webhook::WebhookChannel {
    let config: webhook::WebhookConfig =
        serde_saphyr::from_str("url: http://127.0.0.1:9/hook\n").unwrap();
    webhook::WebhookChannel::new("hook", &config, clock(), templates("hook", webhook::PARTS))
        .unwrap()
}

/// The email as received: headers that identify it (ids shown as their shape) and both
/// bodies decoded.
fn received(message: lettre::Message) -> String {
    let bytes = message.formatted();
    let parsed = mail_parser::MessageParser::default()
        .parse(&bytes)
        .expect("lettre writes parseable mail");
    let id_shape = |id: Option<&str>| {
        id.map(|id| {
            let shape = regex::Regex::new(r"^klaxon\.\d+\.[0-9a-f]{16}@example\.com$").unwrap();
            if shape.is_match(id) {
                "klaxon.<micros>.<hash>@example.com".to_string()
            } else {
                format!("unexpected shape: {id}")
            }
        })
    };
    format!(
        "Subject: {}\nMessage-ID: {:?}\nIn-Reply-To: {:?}\nReferences: {:?}\n\n──── text ────\n{}\n\n──── html ────\n{}",
        parsed.subject().unwrap_or_default(),
        id_shape(parsed.message_id()),
        parsed.in_reply_to().as_text(),
        parsed.references().as_text(),
        parsed.body_text(0).unwrap_or_default(),
        parsed.body_html(0).unwrap_or_default(),
    )
}

#[test]
fn dingtalk_default_messages() {
    let ch = dingtalk_channel();
    for (name, alert) in cases() {
        insta::assert_snapshot!(format!("dingtalk_{name}"), readable(&ch.alert_body(&alert)));
    }
    insta::assert_snapshot!(
        "dingtalk_digest",
        readable(&ch.digest_body(&digest_alerts()))
    );
}

#[test]
fn slack_default_messages() {
    let t = templates("slack", slack::PARTS);
    for (name, alert) in cases() {
        insta::assert_snapshot!(
            format!("slack_{name}"),
            readable(&slack::message(&t, &alert))
        );
    }
    insta::assert_snapshot!(
        "slack_digest",
        readable(&slack::digest_message(&t, &digest_alerts()))
    );
}

#[test]
fn email_default_messages() {
    let ch = email_channel();
    for (name, alert) in cases() {
        insta::assert_snapshot!(
            format!("email_{name}"),
            received(ch.message(&alert).unwrap())
        );
    }
    insta::assert_snapshot!(
        "email_digest",
        received(ch.digest(&digest_alerts()).unwrap())
    );
}

#[test]
fn webhook_default_bodies() {
    let ch = webhook_channel();
    for (name, alert) in cases() {
        let body: Value = serde_json::from_str(&ch.alert_body(&alert)).unwrap();
        insta::assert_snapshot!(
            format!("webhook_{name}"),
            serde_json::to_string_pretty(&body).unwrap()
        );
    }
    let body: Value = serde_json::from_str(&ch.digest_body(&digest_alerts()[..2])).unwrap();
    insta::assert_snapshot!(
        "webhook_digest",
        serde_json::to_string_pretty(&body).unwrap()
    );
}

#[test]
fn console_default_text() {
    let t = templates("console", console::PARTS);
    for (name, alert) in cases() {
        insta::assert_snapshot!(
            format!("console_{name}"),
            t.render_alert("text", &alert).unwrap()
        );
    }
    insta::assert_snapshot!(
        "console_digest",
        t.render_digest("digest_text", &digest_alerts()).unwrap()
    );
}

/// What the snapshots must show, asserted so a careless `cargo insta accept` cannot
/// approve a regression: hostile text never mentions, links, tags or breaks a code block.
#[test]
fn hostile_text_stays_text_in_every_channel() {
    let alert = hostile();
    let dt = dingtalk_channel().alert_body(&alert);
    assert_eq!(dt["at"]["isAtAll"], false);
    assert_eq!(dt["at"]["atMobiles"], serde_json::json!([]));
    let text = dt["markdown"]["text"].as_str().unwrap();
    let (outside, code) = text.split_once("```\n").unwrap();
    assert!(!outside.contains('@'), "{outside}");
    assert!(!outside.contains("]("), "{outside}");
    // Inside the code block the line is as logged (copyable), but cannot close it.
    assert!(code.contains("ERROR @所有人 <!channel>"), "{code}");
    assert_eq!(text.matches("```").count(), 2, "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\u{202E}'));

    let sl = slack::message(&templates("s", slack::PARTS), &alert);
    let body = sl["blocks"][2]["text"]["text"].as_str().unwrap();
    // Only the sample's own fences: the key's backticks cannot open a block.
    assert_eq!(body.matches("```").count(), 2, "{body}");
    assert!(
        body.ends_with("forged: [CRITICAL] all clear\n```"),
        "{body}"
    );
    let all = sl.to_string();
    for forbidden in [
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U0123>",
        "<script>",
        "<http",
    ] {
        assert!(!all.contains(forbidden), "{forbidden} in {all}");
    }

    let mail = received(email_channel().message(&alert).unwrap());
    let html = mail.split_once("──── html ────").unwrap().1;
    assert!(
        !html.contains("<script>") && !html.contains("<b>paid"),
        "{html}"
    );
    assert!(!html.contains("href=\"javascript"), "{html}");
}
