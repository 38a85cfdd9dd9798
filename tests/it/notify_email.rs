//! The email channel against a real SMTP server (aiosmtpd; `pip install aiosmtpd`).

use klaxon::notify::{build, Channel, DeliveryError};
use mail_parser::{MessageParser, MimeHeaders};

use crate::support::http::closed_port;
use crate::support::smtp::SmtpServer;
use crate::support::{channel_config, clock, sample_alert, t0};

fn channel(port: u16, tls: &str, to: &str) -> Box<dyn Channel> {
    let yaml = format!(
        "type: email\nsmtp:\n  host: 127.0.0.1\n  port: {port}\n{tls}from: Klaxon <klaxon@example.com>\nto: [{to}]\nsubject_prefix: '[klaxon]'\ntimeout: 5s\n"
    );
    build("mail", &channel_config(&yaml), clock()).unwrap()
}

#[tokio::test]
async fn delivers_multipart_alternative_with_escaped_html() {
    let server = SmtpServer::start();
    let ch = channel(
        server.port,
        "  tls: none\n",
        "ops@example.com, Dev <dev@example.com>",
    );
    let mut alert = sample_alert();
    alert.sample = r#"ERROR <script>alert("x")</script> & done"#.into();
    alert.held_back = 3;

    ch.send(&alert).await.unwrap();

    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let raw = &messages[0];
    let msg = MessageParser::default()
        .parse(raw)
        .expect("a parseable message");
    assert!(
        msg.is_content_type("multipart", "alternative"),
        "{}",
        String::from_utf8_lossy(raw)
    );
    assert_eq!(
        msg.from().unwrap().first().unwrap().address(),
        Some("klaxon@example.com")
    );
    let to: Vec<&str> = msg
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, ["ops@example.com", "dev@example.com"]);
    assert_eq!(
        msg.subject(),
        Some("[klaxon] [CRITICAL] order-errors (sku=A-1)")
    );
    // The Date header comes from the injected clock, not the wall clock.
    assert_eq!(msg.date().unwrap().to_timestamp(), t0().timestamp());

    let text_part = msg.text_part(0).unwrap();
    assert!(text_part.is_content_type("text", "plain"));
    let text = msg.body_text(0).unwrap();
    assert!(
        text.contains(r#"  ERROR <script>alert("x")</script> & done"#),
        "{text}"
    );
    assert!(
        text.contains("3 similar alerts held back since the last one"),
        "{text}"
    );

    let html_part = msg.html_part(0).unwrap();
    assert!(html_part.is_content_type("text", "html"));
    let html = msg.body_html(0).unwrap();
    assert!(
        html.contains(
            "<pre>ERROR &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; done</pre>"
        ),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("<h2>[CRITICAL] order-errors (sku=A-1)</h2>"),
        "{html}"
    );

    let envelope = &server.envelopes()[0];
    assert_eq!(envelope["mail_from"], "klaxon@example.com");
    assert_eq!(
        envelope["rcpt_tos"],
        serde_json::json!(["ops@example.com", "dev@example.com"])
    );
}

#[tokio::test]
async fn alerts_about_one_key_thread_together_each_with_its_own_message_id() {
    let server = SmtpServer::start();
    let ch = channel(server.port, "  tls: none\n", "ops@example.com");
    let a1 = sample_alert();
    let a2 = sample_alert();
    let mut other = sample_alert();
    other.key.insert("sku", "B-2");
    for alert in [&a1, &a2, &other] {
        ch.send(alert).await.unwrap();
    }
    let messages = server.messages();
    assert_eq!(messages.len(), 3);
    let parsed: Vec<_> = messages
        .iter()
        .map(|raw| MessageParser::default().parse(raw).unwrap())
        .collect();
    let ids: Vec<&str> = parsed.iter().map(|m| m.message_id().unwrap()).collect();
    assert!(ids.iter().all(|id| id.ends_with("@example.com")), "{ids:?}");
    assert!(ids[0] != ids[1] && ids[1] != ids[2], "{ids:?}");
    let thread = |m: &mail_parser::Message| {
        (
            m.in_reply_to().as_text().map(str::to_string),
            m.references().as_text().map(str::to_string),
        )
    };
    let (reply, refs) = thread(&parsed[0]);
    assert!(reply
        .as_deref()
        .is_some_and(|r| r.ends_with(".thread@example.com")));
    assert_eq!(reply, refs);
    // The same rule and key: the same thread; another key: another.
    assert_eq!(thread(&parsed[1]), thread(&parsed[0]));
    assert_ne!(thread(&parsed[2]), thread(&parsed[0]));
}

#[tokio::test]
async fn starttls_is_required_by_default_never_a_silent_fallback() {
    // The test server offers no STARTTLS: the default mode must refuse to send in clear.
    let server = SmtpServer::start();
    let ch = channel(server.port, "", "ops@example.com");
    let err = ch.send(&sample_alert()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable { .. }), "{err:?}");
    assert!(
        server.messages().is_empty(),
        "a message went out without TLS"
    );
}

#[tokio::test]
async fn unknown_mailbox_is_permanent() {
    let server = SmtpServer::start();
    let ch = channel(server.port, "  tls: none\n", "nobody@example.com");
    let err = ch.send(&sample_alert()).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Permanent { message } if message.contains("550")),
        "{err:?}"
    );
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn unreachable_server_is_retryable() {
    let ch = channel(closed_port(), "  tls: none\n", "ops@example.com");
    let err = ch.send(&sample_alert()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Retryable { .. }), "{err:?}");
}
