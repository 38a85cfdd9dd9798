//! The Slack channel against a real local HTTP server standing in for hooks.slack.com.

use std::time::Duration;

use klaxon::notify::{build, Channel, DeliveryError};
use serde_json::Value;

use crate::support::http::Recorder;
use crate::support::{channel_config, clock, sample_alert};

const TOKEN_PATH: &str = "/services/T0000/B0000/slackTOKENsecret42";

fn channel(server: &Recorder) -> Box<dyn Channel> {
    let yaml = format!("type: slack\nwebhook_url: '{}'\n", server.url(TOKEN_PATH));
    build("team", &channel_config(&yaml), clock()).unwrap()
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn log_text_arrives_escaped_and_cannot_mention() {
    let server = Recorder::start("ok").await;
    let ch = channel(&server);
    let mut alert = sample_alert();
    alert.sample = "ERROR <!channel> <!here> <@U123> a&b <http://evil|click>".into();
    alert.key.insert("user", "<!everyone>");

    ch.send(&alert).await.unwrap();

    let req = server.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path_and_query, TOKEN_PATH);
    let raw = String::from_utf8(req.body.clone()).unwrap();
    for mention in ["<!channel>", "<!here>", "<@U123>", "<!everyone>", "<http"] {
        assert!(
            !raw.contains(mention),
            "{mention} reached Slack unescaped: {raw}"
        );
    }
    let body = req.json();
    let blocks = body["blocks"].as_array().unwrap();
    let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["header", "section", "section"]);
    assert_eq!(blocks[2]["text"]["type"], "mrkdwn");
    assert_eq!(blocks[2]["text"]["verbatim"], true);
    let body_text = blocks[2]["text"]["text"].as_str().unwrap();
    assert!(
        body_text.ends_with("*Sample*\n```\nERROR &lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; a&amp;b &lt;http://evil|click&gt;\n```"),
        "{body_text}"
    );
    assert_eq!(
        blocks[0]["text"]["text"],
        "[CRITICAL] order-errors (sku=A-1, user=&lt;!everyone&gt;)"
    );
    let key_field = &blocks[1]["fields"][1];
    assert_eq!(key_field["text"], "*Key*\nsku=A-1, user=&lt;!everyone&gt;");
    assert_eq!(key_field["verbatim"], true);
    let fallback = body["text"].as_str().unwrap();
    assert_eq!(
        fallback,
        "[CRITICAL] order-errors (sku=A-1, user=&lt;!everyone&gt;)"
    );
    // Nothing anywhere in the payload carries a raw `<`.
    let mut all = Vec::new();
    strings(&body, &mut all);
    assert!(all.iter().all(|s| !s.contains('<')), "{all:#?}");
}

#[tokio::test]
async fn rate_limit_pauses_the_channel_for_the_given_seconds() {
    let server = Recorder::start("").await;
    let ch = channel(&server);
    server.reply(429, &[("Retry-After", "7")], "rate_limited");
    let err = ch.send(&sample_alert()).await.unwrap_err();
    assert_eq!(
        err,
        DeliveryError::RateLimited {
            message: "HTTP 429 Too Many Requests: rate_limited".into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    );
}

#[tokio::test]
async fn slack_errors_are_classified_with_their_text_and_no_token() {
    let server = Recorder::start("").await;
    let ch = channel(&server);

    server.reply(500, &[], "rollup_error");
    let err = ch.send(&sample_alert()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable { .. }), "{err:?}");

    for (status, text) in [
        (400, "invalid_payload"),
        (403, "action_prohibited"),
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
    ] {
        server.reply(status, &[], text);
        let err = ch.send(&sample_alert()).await.unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(matches!(err, DeliveryError::Permanent { .. }), "{err:?}");
        assert!(shown.contains(text), "{shown}");
        assert!(!shown.contains("slackTOKENsecret42"), "{shown}");
    }
}
