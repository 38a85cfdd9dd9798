//! `delivery:` of a channel: how hard and how fast to try.

use std::time::Duration;

use serde::Deserialize;

use super::{RateLimit, RetryPolicy};
use crate::types::HumanDuration;

/// `delivery:` under a channel in klaxon.yaml. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryOptions {
    /// Most messages per period, `18/min`, `1/s`, `600/h` (default: the service's published
    /// limit with a margin — DingTalk 18/min, Slack 1/s; none for webhook, email, console).
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Keep trying an alert until this long after it fired (default 24h); then it is a
    /// dead letter (`klaxon dlq`).
    #[serde(default)]
    pub max_age: Option<HumanDuration>,
    /// The longest one send may take, connecting included (default 30s).
    #[serde(default)]
    pub send_timeout: Option<HumanDuration>,
    /// A channel that gets what this one could not deliver (an email when DingTalk is down).
    #[serde(default)]
    pub fallback: Option<String>,
    /// Tell this channel when an alert it was told about resolves (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

fn yes() -> bool {
    true
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            rate_limit: None,
            max_age: None,
            send_timeout: None,
            fallback: None,
            send_resolved: true,
        }
    }
}

/// A channel's delivery settings, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPlan {
    pub rate_limit: Option<RateLimit>,
    pub retry: RetryPolicy,
    pub send_timeout: Duration,
    pub fallback: Option<String>,
    pub send_resolved: bool,
}

/// One send of any channel never takes longer than this unless configured.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

impl DeliveryOptions {
    /// Settings for a channel whose service allows `published` (its default limit).
    pub fn plan(&self, published: Option<RateLimit>) -> DeliveryPlan {
        let mut retry = RetryPolicy::default();
        if let Some(age) = self.max_age {
            retry.max_age = age.0;
        }
        DeliveryPlan {
            rate_limit: self.rate_limit.or(published),
            retry,
            send_timeout: self.send_timeout.map_or(DEFAULT_SEND_TIMEOUT, |t| t.0),
            fallback: self.fallback.clone(),
            send_resolved: self.send_resolved,
        }
    }
}
