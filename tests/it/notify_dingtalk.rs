//! The DingTalk channel against a real local HTTP server standing in for oapi.dingtalk.com.

use std::sync::Arc;
use std::time::Duration;

use klaxon::clock::ManualClock;
use klaxon::notify::{build, sign_dingtalk, Channel, DeliveryError};
use serde_json::json;

use crate::support::http::{closed_port, Recorder};
use crate::support::{assert_no_secrets, channel_config, clock, sample_alert, t0};

const TOKEN: &str = "tok-ACCESS-0123456789";
const SECRET: &str = "SEC-signing-secret-abcdef";
const OK: &str = r#"{"errcode":0,"errmsg":"ok"}"#;

fn channel(server: &Recorder, clock: Arc<ManualClock>, extra: &str) -> Box<dyn Channel> {
    let yaml = format!(
        "type: dingtalk\naccess_token: {TOKEN}\nbase_url: {}\nsecret: {SECRET}\n{extra}",
        server.url("/robot/send")
    );
    build("dt", &channel_config(&yaml), clock).unwrap()
}

#[tokio::test]
async fn sends_a_signed_markdown_message_with_the_exact_body() {
    let server = Recorder::start(OK).await;
    let clock = clock();
    let ch = channel(
        &server,
        clock,
        "keyword: klaxon\nat_mobiles: ['13800000000']\n",
    );
    let mut alert = sample_alert();
    alert.held_back = 2;
    alert.kibana_url = Some("http://kibana:5601/app/discover#/?_a=(query:'x')".into());

    ch.send(&alert).await.unwrap();

    let req = server.only_request();
    let ts = t0().timestamp_millis();
    assert_eq!(ts, 1_780_887_600_000);
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.path_and_query,
        format!(
            "/robot/send?access_token={TOKEN}&timestamp={ts}&sign={}",
            sign_dingtalk(SECRET, ts)
        )
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    let text = "#### klaxon \\[CRITICAL\\] order-errors (sku=A-1)\n\n\
        **5 matches** of `\"ERROR\" AND (order_timeout OR inventory_rollback)` in 1m for **sku=A-1**\n\n\
        - Severity: **critical**\n\
        - First seen: 2026-06-08 03:00:00 UTC\n\
        - Last seen: 2026-06-08 03:00:30 UTC\n\
        - 2 similar alerts held back since the last one\n\n\
        > Order errors\n\n\
        ```\n2026-06-08 03:00:00 ERROR order_timeout order=O-1 sku=A-1\n```\n\n\
        [Open in Kibana](http://kibana:5601/app/discover#/?_a=%28query:'x'%29)\n\n\
        @13800000000";
    assert_eq!(
        req.json(),
        json!({
            "msgtype": "markdown",
            "markdown": {
                "title": "klaxon [CRITICAL] order-errors (sku=A-1)",
                "text": text,
            },
            "at": {"atMobiles": ["13800000000"], "atUserIds": [], "isAtAll": false},
        })
    );
}

#[tokio::test]
async fn signs_every_send_afresh_with_the_injected_clock() {
    let server = Recorder::start(OK).await;
    let clock = clock();
    let ch = channel(&server, clock.clone(), "");
    ch.send(&sample_alert()).await.unwrap();
    clock.advance(chrono::Duration::milliseconds(61_234));
    ch.send(&sample_alert()).await.unwrap();

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let second = &reqs[1].path_and_query;
    let ts = t0().timestamp_millis() + 61_234;
    assert!(
        second.ends_with(&format!(
            "&timestamp={ts}&sign={}",
            sign_dingtalk(SECRET, ts)
        )),
        "{second}"
    );
    // One signature per URL, never accumulated across sends.
    assert_eq!(second.matches("sign=").count(), 1, "{second}");
    assert_eq!(second.matches("timestamp=").count(), 1, "{second}");
}

#[tokio::test]
async fn errcode_decides_success_even_on_http_200() {
    let server = Recorder::start("").await;
    let ch = channel(&server, clock(), "");

    server.reply(
        200,
        &[],
        r#"{"errcode":310000,"errmsg":"keywords not in content"}"#,
    );
    let err = ch.send(&sample_alert()).await.unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "DingTalk errcode 310000: keywords not in content".into()
        }
    );
    assert_no_secrets(&err, &[TOKEN, SECRET]);

    server.reply(
        200,
        &[],
        r#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#,
    );
    let err = ch.send(&sample_alert()).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::RateLimited { message, retry_after: Some(d) }
            if message.contains("130101") && *d == Duration::from_secs(60)),
        "{err:?}"
    );

    // A server echoing the token back still cannot put it into the error.
    server.reply(
        200,
        &[],
        &format!(r#"{{"errcode":300001,"errmsg":"token {TOKEN} is invalid"}}"#),
    );
    let err = ch.send(&sample_alert()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent { .. }), "{err:?}");
    assert_no_secrets(&err, &[TOKEN, SECRET]);

    server.reply(502, &[], "bad gateway");
    let err = ch.send(&sample_alert()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable { .. }), "{err:?}");

    server.reply(200, &[], "<html>proxy error</html>");
    let err = ch.send(&sample_alert()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable { .. }), "{err:?}");
}

#[tokio::test]
async fn unreachable_robot_is_retryable_without_leaking_the_token() {
    let yaml = format!(
        "type: dingtalk\nurl: 'http://127.0.0.1:{}/robot/send?access_token={TOKEN}'\nsecret: {SECRET}\ntimeout: 2s\n",
        closed_port()
    );
    let ch = build("dt", &channel_config(&yaml), clock()).unwrap();
    let err = ch.send(&sample_alert()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable { .. }), "{err:?}");
    assert_no_secrets(&err, &[TOKEN, SECRET]);
}

#[tokio::test]
async fn log_text_cannot_mention_anyone() {
    let server = Recorder::start(OK).await;
    let ch = channel(&server, clock(), "");
    let mut alert = sample_alert();
    alert.sample = "@all @13800000000 [click](http://evil.example) <font>x</font>".into();
    alert.key.insert("user", "@all");
    ch.send(&alert).await.unwrap();
    let body = server.only_request().json();
    assert_eq!(
        body["at"],
        json!({"atMobiles": [], "atUserIds": [], "isAtAll": false})
    );
    let text = body["markdown"]["text"].as_str().unwrap();
    let title = body["markdown"]["title"].as_str().unwrap();
    // Outside the code block, `@` from log text is replaced; inside it the line stays as
    // logged, so it can be copied (mentions are not parsed there, and only `at` notifies).
    let (outside, rest) = text.split_once("```\n").unwrap();
    let (code, after) = rest.split_once("\n```").unwrap();
    assert!(
        !outside.contains('@') && !after.contains('@') && !title.contains('@'),
        "{title}\n{text}"
    );
    assert!(outside.contains("\u{FF20}all"), "{text}");
    assert_eq!(code, alert.sample);
    assert!(
        !outside.contains("](http") && !outside.contains("<font"),
        "{text}"
    );
}
