//! Channel configuration, `build`, the webhook and console channels, against real listeners.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use klaxon::clock::Clock;
use klaxon::notify::{build, ChannelConfig, ConsoleChannel, DeliveryError, NotifyError};
use serde_json::json;

use crate::support::http::{closed_port, Recorder};
use crate::support::{assert_no_secrets, channel_config, clock, sample_alert};

fn webhook_yaml(url: &str) -> String {
    format!(
        "type: webhook\nurl: '{url}'\nheaders:\n  Authorization: Bearer hdr-SECRET-42\n  X-Team: ops\ntimeout: 2s\n"
    )
}

#[tokio::test]
async fn webhook_posts_the_alert_as_exact_json_with_headers() {
    let server = Recorder::start("").await;
    let config = channel_config(&webhook_yaml(&server.url("/hook?token=url-SECRET-7")));
    let channel = build("ops-hook", &config, clock()).unwrap();
    assert_eq!(channel.name(), "ops-hook");
    let mut alert = sample_alert();
    alert.held_back = 2;
    alert.kibana_url = Some("http://kibana:5601/app/discover#/".into());

    channel.send(&alert).await.unwrap();

    let req = server.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path_and_query, "/hook?token=url-SECRET-7");
    assert_eq!(req.header("authorization"), Some("Bearer hdr-SECRET-42"));
    assert_eq!(req.header("x-team"), Some("ops"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({
            "rule": "order-errors",
            "description": "Order errors",
            "severity": "critical",
            "source": "order-logs",
            "query": "\"ERROR\" AND (order_timeout OR inventory_rollback)",
            "key": {"sku": "A-1"},
            "count": 5,
            "window": "1m",
            "first_seen": "2026-06-08T03:00:00Z",
            "last_seen": "2026-06-08T03:00:30Z",
            "sample": "2026-06-08 03:00:00 ERROR order_timeout order=O-1 sku=A-1",
            "held_back": 2,
            "fired_at": "2026-06-08T03:00:31Z",
            "kibana_url": "http://kibana:5601/app/discover#/",
        })
    );
}

/// HMAC-SHA256 as a receiver would compute it, from the bytes it received.
fn receiver_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[tokio::test]
async fn webhook_signs_the_exact_bytes_it_sends() {
    let server = Recorder::start("").await;
    let yaml = format!(
        "type: webhook\nurl: '{}'\nsigning_secret: whsec-SECRET-9\n",
        server.url("/hook")
    );
    let channel = build("signed", &channel_config(&yaml), clock()).unwrap();
    channel.send(&sample_alert()).await.unwrap();
    let req = server.only_request();
    let ts = req.header("x-klaxon-timestamp").unwrap().to_string();
    assert_eq!(ts, clock().now().timestamp().to_string());
    assert_eq!(
        req.header("x-klaxon-signature"),
        Some(receiver_signature("whsec-SECRET-9", &ts, &req.body).as_str())
    );
    // One changed byte, or another secret, no longer verifies.
    let mut tampered = req.body.clone();
    tampered[0] ^= 1;
    assert_ne!(
        req.header("x-klaxon-signature"),
        Some(receiver_signature("whsec-SECRET-9", &ts, &tampered).as_str())
    );
    assert_ne!(
        req.header("x-klaxon-signature"),
        Some(receiver_signature("other", &ts, &req.body).as_str())
    );
    assert!(!format!("{:?}", req.headers).contains("whsec-SECRET-9"));
}

#[tokio::test]
async fn a_webhook_body_template_sends_any_json_the_receiver_wants() {
    let server = Recorder::start("").await;
    let yaml = format!(
        "type: webhook\nurl: '{}'\ntemplates:\n  body: |\n    {{\"msg_type\": \"text\", \"content\": {{\"text\": {{{{ alert.summary }}}}}}, \"n\": {{{{ alert.count }}}}}}\n",
        server.url("/hook")
    );
    let channel = build("feishu", &channel_config(&yaml), clock()).unwrap();
    let mut alert = sample_alert();
    alert.key.insert("sku", "A-1\" \\ \n<b>");
    channel.send(&alert).await.unwrap();
    let body = server.only_request().json();
    assert_eq!(body["msg_type"], "text");
    assert_eq!(body["n"], 5);
    let text = body["content"]["text"].as_str().unwrap();
    assert!(text.starts_with("5 matches of"), "{text}");
    assert!(text.ends_with("for sku=A-1\" \\ \\n<b>"), "{text}");
    // A template that does not make JSON is refused when the channel is built.
    let bad = format!(
        "type: webhook\nurl: '{}'\ntemplates:\n  body: 'text {{{{ alert.rule }}}}'\n",
        server.url("/hook")
    );
    let err = build("bad", &channel_config(&bad), clock()).err().unwrap();
    assert!(err.to_string().contains("invalid JSON"), "{err}");
}

const SECRETS: &[&str] = &["url-SECRET-7", "hdr-SECRET-42"];

#[tokio::test]
async fn webhook_classifies_failures_and_honours_retry_after() {
    let server = Recorder::start("").await;
    let config = channel_config(&webhook_yaml(&server.url("/hook?token=url-SECRET-7")));
    let channel = build("ops-hook", &config, clock()).unwrap();

    server.reply(500, &[], "boom");
    let err = channel.send(&sample_alert()).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Retryable { message, retry_after: None } if message.contains("500") && message.contains("boom")),
        "{err:?}"
    );

    server.reply(503, &[("Retry-After", "3")], "");
    let err = channel.send(&sample_alert()).await.unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Retryable {
            message: "HTTP 503 Service Unavailable: (empty body)".into(),
            retry_after: Some(Duration::from_secs(3)),
        }
    );

    // The server echoing our credentials back must not put them into the error.
    server.reply(400, &[], "bad request: Bearer hdr-SECRET-42 url-SECRET-7");
    let err = channel.send(&sample_alert()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent { .. }), "{err:?}");
    assert!(err.to_string().contains("400"), "{err}");
    assert_no_secrets(&err, SECRETS);

    // Redirects are not followed: they could carry the secret headers elsewhere.
    server.reply(302, &[("Location", "http://127.0.0.1:1/elsewhere")], "");
    let err = channel.send(&sample_alert()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent { .. }), "{err:?}");
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn webhook_connection_failure_is_retryable_and_hides_the_url() {
    let url = format!("http://127.0.0.1:{}/hook?token=url-SECRET-7", closed_port());
    let channel = build("ops-hook", &channel_config(&webhook_yaml(&url)), clock()).unwrap();
    let err = channel.send(&sample_alert()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable { .. }), "{err:?}");
    assert!(err.to_string().contains("request failed"), "{err}");
    assert_no_secrets(&err, SECRETS);
}

#[test]
fn every_channel_type_parses_and_builds() {
    let configs = [
        "type: console\n",
        "type: webhook\nurl: https://example.com/hook\n",
        "type: dingtalk\naccess_token: abc\nsecret: SECxyz\nat_mobiles: ['13800000000']\nat_user_ids: [manager01]\nat_severity: {critical: {at_mobiles: ['13900000000']}}\nkeyword: klaxon\nmessage_type: markdown\ntimezone: Asia/Shanghai\ntimeout: 5s\n",
        "type: dingtalk\nurl: 'https://oapi.dingtalk.com/robot/send?access_token=abc'\n",
        "type: slack\nwebhook_url: https://hooks.slack.com/services/T0/B0/XYZ\n",
        "type: email\nsmtp: {host: smtp.example.com, port: 465, tls: tls, username: u, password: p}\nfrom: Klaxon <klaxon@example.com>\nto: [ops@example.com]\nsubject_prefix: '[klaxon]'\n",
    ];
    let mut types = Vec::new();
    for yaml in configs {
        let config = channel_config(yaml);
        assert!(build("c", &config, clock()).is_ok(), "{yaml}");
        types.push(config.type_name());
    }
    assert_eq!(
        types,
        ["console", "webhook", "dingtalk", "dingtalk", "slack", "email"]
    );
    assert!(
        matches!(channel_config(configs[2]), ChannelConfig::DingTalk(c) if c.keyword.as_deref() == Some("klaxon"))
    );
}

#[test]
fn config_errors_point_at_the_field_and_never_show_secrets() {
    let err =
        serde_saphyr::from_str::<ChannelConfig>("type: slack\nwebhook_url: x\nchannel: '#ops'\n")
            .unwrap_err()
            .to_string();
    assert!(err.contains("unknown field `channel`"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    let err = serde_saphyr::from_str::<ChannelConfig>("type: pager\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown variant `pager`"), "{err}");

    let bad_url =
        channel_config("type: slack\nwebhook_url: 'hooks.slack.com/services/T0/B0/tok-SECRET'\n");
    let err = build("team", &bad_url, clock()).err().unwrap();
    assert!(
        matches!(
            &err,
            NotifyError::Invalid {
                field: "webhook_url",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("tok-SECRET"), "{err}");

    let bad_header = channel_config(
        "type: webhook\nurl: https://x/\nheaders:\n  X-Key: \"line\\nbreak-SECRET\"\n",
    );
    let err = build("hook", &bad_header, clock()).err().unwrap();
    assert_eq!(
        err.to_string(),
        "channel `hook`: invalid `headers`: bad value for header `X-Key`"
    );

    let debug = format!(
        "{:?}",
        channel_config(&webhook_yaml("https://x/?token=url-SECRET-7"))
    );
    assert!(!debug.contains("SECRET"), "{debug}");
}

#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn console_prints_a_readable_block() {
    let buf = SharedBuf::default();
    let channel = ConsoleChannel::with_writer("console", Box::new(buf.clone()));
    let mut alert = sample_alert();
    alert.held_back = 4;
    klaxon::notify::Channel::send(&channel, &alert)
        .await
        .unwrap();
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text,
        "── console ──\n\
         [CRITICAL] order-errors (sku=A-1)\n\
         \n\
         5 matches of \"ERROR\" AND (order_timeout OR inventory_rollback) in 1m for sku=A-1\n\
         \n\
         Rule:       order-errors\n\
         Severity:   critical\n\
         Key:        sku=A-1\n\
         Count:      5 in 1m\n\
         First seen: 2026-06-08 03:00:00 UTC\n\
         Last seen:  2026-06-08 03:00:30 UTC\n\
         Source:     order-logs\n\
         4 similar alerts held back since the last one\n\
         \n\
         Order errors\n\
         \n\
         Sample:\n\
         \x20 2026-06-08 03:00:00 ERROR order_timeout order=O-1 sku=A-1\n\n"
    );
}

#[tokio::test]
async fn console_line_format_prints_one_line_naming_the_channel() {
    let buf = SharedBuf::default();
    let channel = ConsoleChannel::with_writer("oncall-email", Box::new(buf.clone()))
        .with_format(klaxon::notify::ConsoleFormat::Line);
    let mut alert = sample_alert();
    alert.key.insert("sku", "A-1\u{1b}[2J");
    klaxon::notify::Channel::send(&channel, &alert)
        .await
        .unwrap();
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert!(text.ends_with("count=5 → oncall-email\n"), "{text:?}");
    assert!(
        !text.contains('\u{1b}'),
        "terminal escapes are neutralised: {text:?}"
    );
}
