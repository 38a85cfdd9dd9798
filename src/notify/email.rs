//! `type: email`: SMTP via lettre, `multipart/alternative` (text/plain + text/html).
//!
//! TLS is STARTTLS by default and required when chosen; plaintext (`tls: none`) happens
//! only when configured explicitly, never as a fallback.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::channel::{Channel, DeliveryError, Receipt};
use super::stages::DeliveryOptions;
use super::template::{defaults, Markup, Part, Role, TemplateParts, Templates};
use super::{default_timeout, escape, http, NotifyError};
use crate::alert::Alert;
use crate::clock::Clock;
use crate::types::{HumanDuration, Secret, TimeZone};

const MAX_SUBJECT_CHARS: usize = 200;

/// The template parts of an email channel.
pub const PARTS: &[Part] = &[
    Part::new("subject", Markup::Text, Role::Title, defaults::TITLE),
    Part::new("text", Markup::Text, Role::Body, defaults::TEXT_ALERT),
    Part::new("html", Markup::Html, Role::Body, defaults::EMAIL_ALERT_HTML),
    Part::new(
        "digest_subject",
        Markup::Text,
        Role::DigestTitle,
        defaults::DIGEST_TITLE,
    ),
    Part::new(
        "digest_text",
        Markup::Text,
        Role::DigestBody,
        defaults::TEXT_DIGEST,
    ),
    Part::new(
        "digest_html",
        Markup::Html,
        Role::DigestBody,
        defaults::EMAIL_DIGEST_HTML,
    ),
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connect, then STARTTLS; refuses to continue if the server cannot upgrade.
    #[default]
    Starttls,
    /// Implicit TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No encryption at all. Only ever used when written in the config.
    None,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The SMTP server's host name.
    pub host: String,
    /// Default 587 (submission), or 465 with `tls: tls`.
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (default: upgrade after connecting, refused if the server cannot),
    /// `tls` (implicit TLS from the first byte, usually port 465) or `none` (no encryption
    /// at all; only when written here).
    #[serde(default)]
    pub tls: SmtpTls,
    /// The SMTP login, when the server asks for one (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server to send through.
    pub smtp: SmtpConfig,
    /// The sender address (`Klaxon <klaxon@example.com>`).
    pub from: String,
    /// The recipients' addresses.
    pub to: Vec<String>,
    /// E.g. `[klaxon]`, put before the alert title in the subject.
    #[serde(default)]
    pub subject_prefix: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Rate limit, retries, fallback (see `notify::stages::DeliveryOptions`).
    #[serde(default)]
    pub delivery: DeliveryOptions,
    /// Replaces template parts: `subject`, `text`, `html`, `digest_subject`, `digest_text`,
    /// `digest_html`.
    #[serde(default)]
    pub templates: TemplateParts,
    /// The zone messages show times in (with UTC); default `display_timezone`.
    #[serde(default)]
    pub timezone: Option<TimeZone>,
}

pub struct EmailChannel {
    name: String,
    templates: Templates,
    from: Mailbox,
    to: Vec<Mailbox>,
    subject_prefix: Option<String>,
    /// Kept as a builder: the pooled transport spawns tasks, so it is built on first send,
    /// inside the runtime, and not by `build` (which `klaxon check` calls without one).
    builder: lettre::transport::smtp::AsyncSmtpTransportBuilder,
    transport: OnceCell<AsyncSmtpTransport<Tokio1Executor>>,
    clock: Arc<dyn Clock>,
    redact: Vec<String>,
}

impl EmailChannel {
    pub fn new(
        name: &str,
        config: &EmailConfig,
        clock: Arc<dyn Clock>,
        templates: Templates,
    ) -> Result<Self, NotifyError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| NotifyError::invalid(name, "from", format!("`{}`: {e}", config.from)))?;
        if config.to.is_empty() {
            return Err(NotifyError::invalid(
                name,
                "to",
                "needs at least one address",
            ));
        }
        let to = config
            .to
            .iter()
            .map(|a| {
                a.parse::<Mailbox>()
                    .map_err(|e| NotifyError::invalid(name, "to", format!("`{a}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let smtp = &config.smtp;
        let host = smtp.host.trim();
        if host.is_empty() {
            return Err(NotifyError::invalid(name, "smtp.host", "is empty"));
        }
        let tls_error = |e: lettre::transport::smtp::Error| {
            NotifyError::invalid(name, "smtp.host", format!("cannot set up TLS: {e}"))
        };
        let builder = match smtp.tls {
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls_error)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls_error)?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let port = smtp.port.unwrap_or(match smtp.tls {
            SmtpTls::Tls => 465,
            SmtpTls::Starttls | SmtpTls::None => 587,
        });
        let mut builder = builder.port(port).timeout(Some(config.timeout.0));
        let mut redact = Vec::new();
        match (&smtp.username, &smtp.password) {
            (Some(user), Some(pass)) => {
                if smtp.tls == SmtpTls::None {
                    return Err(NotifyError::invalid(
                        name,
                        "smtp.tls",
                        "refusing to send the SMTP password unencrypted; use starttls or tls",
                    ));
                }
                redact.push(pass.expose().to_string());
                builder =
                    builder.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
            }
            (None, None) => {}
            _ => {
                return Err(NotifyError::invalid(
                    name,
                    "smtp",
                    "set both `username` and `password`, or neither",
                ))
            }
        }
        Ok(EmailChannel {
            name: name.to_string(),
            templates,
            from,
            to,
            subject_prefix: config
                .subject_prefix
                .clone()
                .filter(|p| !p.trim().is_empty()),
            builder,
            transport: OnceCell::new(),
            clock,
            redact,
        })
    }

    pub(crate) fn message(&self, alert: &Alert) -> Result<Message, DeliveryError> {
        let t = &self.templates;
        let thread = thread_id(alert, self.id_domain());
        self.compose(
            &t.render_alert("subject", alert).unwrap_or_default(),
            t.render_alert("text", alert).unwrap_or_default(),
            t.render_alert("html", alert).unwrap_or_default(),
            Some(thread),
        )
    }

    pub(crate) fn digest(&self, alerts: &[Alert]) -> Result<Message, DeliveryError> {
        let t = &self.templates;
        self.compose(
            &t.render_digest("digest_subject", alerts)
                .unwrap_or_default(),
            t.render_digest("digest_text", alerts).unwrap_or_default(),
            t.render_digest("digest_html", alerts).unwrap_or_default(),
            None,
        )
    }

    /// The right-hand side of Message-IDs: the sender's domain.
    fn id_domain(&self) -> &str {
        self.from.email.domain()
    }

    fn compose(
        &self,
        title: &str,
        text: String,
        html: String,
        thread: Option<String>,
    ) -> Result<Message, DeliveryError> {
        let subject = match &self.subject_prefix {
            Some(p) => format!("{p} {title}"),
            None => title.to_string(),
        };
        // Header values must be one line; lettre encodes the rest (RFC 2047).
        let subject =
            escape::truncate(&subject.replace(['\r', '\n', '\t'], " "), MAX_SUBJECT_CHARS);
        let now = self.clock.now();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .date(SystemTime::from(now))
            .message_id(Some(message_id(now, &text, self.id_domain())));
        // Every alert about one rule and key refers to the same (never sent) thread root,
        // so mail clients keep them in one conversation.
        if let Some(thread) = thread {
            builder = builder.in_reply_to(thread.clone()).references(thread);
        }
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| DeliveryError::Permanent {
                message: format!("cannot build the email: {e}"),
            })
    }
}

/// `<klaxon.3f2a….thread@example.com>`: one per rule and key.
fn thread_id(alert: &Alert, domain: &str) -> String {
    let digest = Sha256::digest(format!("{}\n{}", alert.rule, alert.key.id()).as_bytes());
    format!("<klaxon.{}.thread@{domain}>", hex(&digest[..16]))
}

/// A fresh Message-ID for each message sent.
fn message_id(now: DateTime<Utc>, body: &str, domain: &str) -> String {
    let n = MESSAGE_SEQ.fetch_add(1, Ordering::Relaxed);
    let digest = Sha256::digest(format!("{}\n{n}\n{body}", now.timestamp_micros()).as_bytes());
    format!(
        "<klaxon.{}.{}@{domain}>",
        now.timestamp_micros(),
        hex(&digest[..8])
    )
}

static MESSAGE_SEQ: AtomicU64 = AtomicU64::new(0);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Connection, TLS, timeouts, 4xx replies and authentication failures may pass; other 5xx
/// replies (unknown mailbox, rejected sender) will not.
fn classify(e: &lettre::transport::smtp::Error, redact: &[&str]) -> DeliveryError {
    let message = http::redact(&format!("SMTP: {}", http::error_chain(e)), redact);
    // 530 auth required, 534/538 mechanism/encryption, 535 bad credentials: fixable by
    // rotating credentials without touching the alert, so worth retrying.
    let auth = matches!(e.status().map(u16::from), Some(530 | 534 | 535 | 538));
    if e.is_permanent() && !auth {
        DeliveryError::Permanent { message }
    } else {
        DeliveryError::Retryable {
            message,
            retry_after: None,
        }
    }
}

#[async_trait::async_trait]
impl Channel for EmailChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alert: &Alert) -> Result<Receipt, DeliveryError> {
        let message = self.message(alert)?;
        self.deliver(message).await
    }

    async fn send_digest(&self, alerts: &[Alert]) -> Result<Receipt, DeliveryError> {
        let message = self.digest(alerts)?;
        self.deliver(message).await
    }
}

impl EmailChannel {
    async fn deliver(&self, message: Message) -> Result<Receipt, DeliveryError> {
        let transport = self
            .transport
            .get_or_init(|| async { self.builder.clone().build() })
            .await;
        let redact: Vec<&str> = self.redact.iter().map(String::as_str).collect();
        let response = transport
            .send(message)
            .await
            .map_err(|e| classify(&e, &redact))?;
        // `250 2.0.0 Ok: queued as 4BC1F2`: the server's own words, which may name the
        // account, so redacted like an error.
        let lines: Vec<&str> = response.message().collect();
        let answer = format!("SMTP {} {}", response.code(), lines.join(" "));
        Ok(Receipt::new(http::redact(
            &http::body_excerpt(&answer),
            &redact,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn build(yaml: &str) -> Result<EmailChannel, NotifyError> {
        let config: EmailConfig = serde_saphyr::from_str(yaml).unwrap();
        EmailChannel::new(
            "mail",
            &config,
            Arc::new(SystemClock),
            Templates::defaults("mail", PARTS),
        )
    }

    #[test]
    fn defaults_to_required_starttls_on_587() {
        let config: EmailConfig = serde_saphyr::from_str(
            "smtp: {host: smtp.example.com}\nfrom: a@example.com\nto: [b@example.com]\n",
        )
        .unwrap();
        assert_eq!(config.smtp.tls, SmtpTls::Starttls);
        let ch = EmailChannel::new(
            "mail",
            &config,
            Arc::new(SystemClock),
            Templates::defaults("mail", PARTS),
        )
        .unwrap();
        let debug = format!("{:?}", ch.builder);
        assert!(debug.contains("port: 587"), "{debug}");
        assert!(debug.contains("Required"), "{debug}");
    }

    #[test]
    fn refuses_bad_addresses_and_plaintext_passwords() {
        let e = build("smtp: {host: h}\nfrom: 'not an address'\nto: [b@example.com]\n")
            .err()
            .unwrap();
        assert!(e.to_string().contains("invalid `from`"), "{e}");
        let e = build("smtp: {host: h}\nfrom: a@example.com\nto: []\n")
            .err()
            .unwrap();
        assert!(e.to_string().contains("`to`"), "{e}");
        let e = build(
            "smtp: {host: h, tls: none, username: u, password: hunter22}\nfrom: a@example.com\nto: [b@example.com]\n",
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("unencrypted"), "{e}");
        assert!(!format!("{e:?}").contains("hunter22"));
        let e = build("smtp: {host: h, username: u}\nfrom: a@example.com\nto: [b@example.com]\n")
            .err()
            .unwrap();
        assert!(e.to_string().contains("both"), "{e}");
    }

    #[test]
    fn unknown_tls_mode_is_a_config_error() {
        let r: Result<EmailConfig, _> =
            serde_saphyr::from_str("smtp: {host: h, tls: maybe}\nfrom: a@b.c\nto: [d@e.f]\n");
        assert!(r.is_err());
    }
}
