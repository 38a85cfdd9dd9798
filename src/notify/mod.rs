//! Delivering alerts: one `Channel` per configured destination.
//!
//! `ChannelConfig` is the serde data under `channels:`; [`build`] validates it (URLs,
//! addresses, header values, templates) and returns the running [`Channel`]. Every channel
//! renders its messages from templates (`template/`), which escape untrusted log text for
//! the channel's markup with `escape.rs`; `stages/` holds the delivery mechanics (rate
//! limit, retry, breaker) a worker per channel applies. `command.rs` runs a program
//! instead of calling a service (a remediation hook; off unless `allow_commands: true`).

mod channel;
pub mod command;
pub mod console;
pub mod dingtalk;
pub mod email;
mod escape;
mod http;
pub mod slack;
pub mod stages;
pub mod template;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

pub use channel::{Channel, DeliveryError, Receipt};
pub use command::{CommandChannel, CommandConfig};
pub use console::{ConsoleChannel, ConsoleConfig, ConsoleFormat};
pub use dingtalk::{sign as sign_dingtalk, DingTalkAt, DingTalkChannel, DingTalkConfig};
pub use email::{EmailChannel, EmailConfig, SmtpConfig, SmtpTls};
pub use escape::sanitize;
pub use slack::{SlackChannel, SlackConfig};
pub use template::{
    Part, RuleMessage, RuleMessages, TemplateError, TemplateParts, Templates, MAX_DIGEST_ALERTS,
    SHOWN_ROWS,
};
pub use webhook::{WebhookChannel, WebhookConfig};

use crate::clock::Clock;
use crate::types::{deserialize_tagged, HumanDuration, TaggedConfig, TimeZone};

/// A channel configuration that cannot work. Never contains secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("channel `{channel}`: invalid `{field}`: {reason}")]
    Invalid {
        channel: String,
        field: &'static str,
        reason: String,
    },
    #[error("channel `{channel}`: cannot be set up: {reason}")]
    Setup { channel: String, reason: String },
}

impl NotifyError {
    pub(crate) fn invalid(channel: &str, field: &'static str, reason: impl Into<String>) -> Self {
        NotifyError::Invalid {
            channel: channel.to_string(),
            field,
            reason: reason.into(),
        }
    }
}

/// A channel as configured under `channels:` in klaxon.yaml; `type` selects the kind.
#[derive(Debug, Clone)]
pub enum ChannelConfig {
    /// Print alerts to standard output.
    Console(ConsoleConfig),
    /// POST the alert as JSON.
    Webhook(WebhookConfig),
    /// A DingTalk custom robot.
    DingTalk(DingTalkConfig),
    /// A Slack incoming webhook.
    Slack(SlackConfig),
    /// SMTP email.
    Email(EmailConfig),
    /// Run a program with the alert as JSON on stdin (needs `allow_commands: true`).
    Command(CommandConfig),
}

impl ChannelConfig {
    /// How this channel is delivered to: its `delivery:` settings over the defaults of
    /// its service (DingTalk allows 20 messages a minute per robot, Slack about one a
    /// second: a little under each).
    pub fn delivery(&self) -> stages::DeliveryPlan {
        use stages::RateLimit;
        match self {
            ChannelConfig::Console(c) => c.delivery.plan(None),
            ChannelConfig::Webhook(c) => c.delivery.plan(None),
            ChannelConfig::DingTalk(c) => c.delivery.plan(Some(RateLimit::per_minute(18))),
            ChannelConfig::Slack(c) => c.delivery.plan(Some(RateLimit::per_second(1))),
            ChannelConfig::Email(c) => c.delivery.plan(None),
            ChannelConfig::Command(c) => c.plan(),
        }
    }

    /// The template parts of this kind of channel.
    pub fn parts(&self) -> &'static [Part] {
        match self {
            ChannelConfig::Console(_) => console::PARTS,
            ChannelConfig::Webhook(_) => webhook::PARTS,
            ChannelConfig::DingTalk(_) => dingtalk::PARTS,
            ChannelConfig::Slack(_) => slack::PARTS,
            ChannelConfig::Email(_) => email::PARTS,
            ChannelConfig::Command(_) => command::PARTS,
        }
    }

    /// The channel's own `templates:` and `timezone:`.
    fn message_settings(&self) -> (&TemplateParts, Option<TimeZone>) {
        match self {
            ChannelConfig::Console(c) => (&c.templates, c.timezone),
            ChannelConfig::Webhook(c) => (&c.templates, c.timezone),
            ChannelConfig::DingTalk(c) => (&c.templates, c.timezone),
            ChannelConfig::Slack(c) => (&c.templates, c.timezone),
            ChannelConfig::Email(c) => (&c.templates, c.timezone),
            ChannelConfig::Command(c) => (&c.templates, c.timezone),
        }
    }

    /// The `type:` value, for logs and metrics labels.
    pub fn type_name(&self) -> &'static str {
        match self {
            ChannelConfig::Console(_) => "console",
            ChannelConfig::Webhook(_) => "webhook",
            ChannelConfig::DingTalk(_) => "dingtalk",
            ChannelConfig::Slack(_) => "slack",
            ChannelConfig::Email(_) => "email",
            ChannelConfig::Command(_) => "command",
        }
    }
}

impl TaggedConfig for ChannelConfig {
    const TYPES: &'static [&'static str] = &[
        "console", "webhook", "dingtalk", "slack", "email", "command",
    ];
    const WHAT: &'static str = "channel";

    fn deserialize_variant<'de, D: Deserializer<'de>>(
        type_name: &str,
        rest: D,
    ) -> Result<Self, D::Error> {
        match type_name {
            "console" => ConsoleConfig::deserialize(rest).map(ChannelConfig::Console),
            "webhook" => WebhookConfig::deserialize(rest).map(ChannelConfig::Webhook),
            "dingtalk" => DingTalkConfig::deserialize(rest).map(ChannelConfig::DingTalk),
            "slack" => SlackConfig::deserialize(rest).map(ChannelConfig::Slack),
            "email" => EmailConfig::deserialize(rest).map(ChannelConfig::Email),
            "command" => CommandConfig::deserialize(rest).map(ChannelConfig::Command),
            other => Err(serde::de::Error::unknown_variant(other, Self::TYPES)),
        }
    }
}

impl<'de> Deserialize<'de> for ChannelConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_tagged(d)
    }
}

/// `oneOf` the channel types, each with its `type:` as a constant.
impl schemars::JsonSchema for ChannelConfig {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ChannelConfig".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        crate::types::tagged_schema(
            "A channel; `type` selects the kind.",
            vec![
                ("console", ConsoleConfig::json_schema(generator)),
                ("webhook", WebhookConfig::json_schema(generator)),
                ("dingtalk", DingTalkConfig::json_schema(generator)),
                ("slack", SlackConfig::json_schema(generator)),
                ("email", EmailConfig::json_schema(generator)),
                ("command", CommandConfig::json_schema(generator)),
            ],
        )
    }
}

/// What every channel's messages share: the zone times are shown in (unless a channel
/// sets its own) and what the running rules say about their messages.
#[derive(Debug, Clone, Default)]
pub struct MessageSetup {
    /// `display_timezone:` (default UTC).
    pub display_zone: Option<TimeZone>,
    pub rules: Arc<RuleMessages>,
}

/// Validates `config` and builds the channel named `name`, times in UTC and no rule's own
/// message settings (see [`build_with`]). Does no network I/O, so `klaxon check` can call it.
pub fn build(
    name: &str,
    config: &ChannelConfig,
    clock: Arc<dyn Clock>,
) -> Result<Box<dyn Channel>, NotifyError> {
    build_with(name, config, clock, &MessageSetup::default())
}

/// [`build`], with what every channel's messages share.
pub fn build_with(
    name: &str,
    config: &ChannelConfig,
    clock: Arc<dyn Clock>,
    setup: &MessageSetup,
) -> Result<Box<dyn Channel>, NotifyError> {
    let (overrides, zone) = config.message_settings();
    for (part, source) in overrides {
        template::check(config.parts(), part, source, false)
            .map_err(|e| NotifyError::invalid(name, "templates", format!("`{part}`: {e}")))?;
    }
    let zone = zone.or(setup.display_zone).unwrap_or(TimeZone::Utc);
    let templates = Templates::new(
        name,
        config.parts(),
        overrides.clone(),
        setup.rules.clone(),
        template::Times::new(zone),
    );
    Ok(match config {
        ChannelConfig::Console(c) => Box::new(
            ConsoleChannel::new(name)
                .with_format(c.format)
                .with_templates(templates),
        ),
        ChannelConfig::Webhook(c) => Box::new(WebhookChannel::new(name, c, clock, templates)?),
        ChannelConfig::DingTalk(c) => Box::new(DingTalkChannel::new(name, c, clock, templates)?),
        ChannelConfig::Slack(c) => Box::new(SlackChannel::new(name, c, clock, templates)?),
        ChannelConfig::Email(c) => Box::new(EmailChannel::new(name, c, clock, templates)?),
        ChannelConfig::Command(c) => Box::new(CommandChannel::new(name, c, templates)?),
    })
}

/// HTTP timeout when a channel sets none.
pub(crate) fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

/// An absolute http(s) URL. The error names the field, never the value (it may hold a token).
pub(crate) fn parse_http_url(
    channel: &str,
    field: &'static str,
    url: &str,
) -> Result<reqwest::Url, NotifyError> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| NotifyError::invalid(channel, field, format!("not a valid URL ({e})")))?;
    match parsed.scheme() {
        "http" | "https" if parsed.host().is_some() => Ok(parsed),
        _ => Err(NotifyError::invalid(
            channel,
            field,
            "must be an http:// or https:// URL with a host",
        )),
    }
}

#[cfg(test)]
mod snapshots;
