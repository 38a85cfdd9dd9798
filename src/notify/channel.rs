//! The narrow interface every destination implements.

use std::time::Duration;

use crate::alert::Alert;

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    /// Network errors, 5xx: try again later (after `retry_after` if given).
    #[error("{message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The destination says "too many" (HTTP 429, DingTalk 130101): the whole channel
    /// pauses (for `retry_after` if given); the message itself did nothing wrong.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Bad request, bad credentials, unknown address: retrying cannot help.
    #[error("{message}")]
    Permanent { message: String },
}

/// What the destination answered when it took a message — `HTTP 200 OK: ok`, an SMTP
/// reply, a program's exit status and output — for the alert's history and `klaxon
/// notify-test`. Bounded and redacted like a [`DeliveryError`]'s message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    pub answer: String,
}

impl Receipt {
    pub fn new(answer: impl Into<String>) -> Self {
        Receipt {
            answer: answer.into(),
        }
    }
}

impl std::fmt::Display for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.answer)
    }
}

#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    /// The configured channel name (`channels.<name>`).
    fn name(&self) -> &str;
    /// Deliver one alert. Must not put secrets (tokens, passwords) into the receipt or
    /// the error.
    async fn send(&self, alert: &Alert) -> Result<Receipt, DeliveryError>;
    /// Deliver several alerts as one message (a digest; see `pipeline::deliver`).
    async fn send_digest(&self, alerts: &[Alert]) -> Result<Receipt, DeliveryError>;
}
