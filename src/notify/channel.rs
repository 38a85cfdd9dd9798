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

#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    /// The configured channel name (`channels.<name>`).
    fn name(&self) -> &str;
    /// Deliver one alert. Must not put secrets (tokens, passwords) into the error.
    async fn send(&self, alert: &Alert) -> Result<(), DeliveryError>;
    /// Deliver several alerts as one message (a digest; see `digest.rs`).
    async fn send_digest(&self, alerts: &[Alert]) -> Result<(), DeliveryError>;
}
