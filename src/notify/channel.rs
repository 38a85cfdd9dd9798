//! The narrow interface every destination implements.

use std::time::Duration;

use crate::alert::Alert;

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    /// Network errors, 5xx, rate limits: try again later (after `retry_after` if given).
    #[error("{message} (will retry)")]
    Retryable {
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
}
