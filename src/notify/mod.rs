//! Delivering alerts: one `Channel` per configured destination.

mod channel;

use serde::Deserialize;

pub use channel::{Channel, DeliveryError};

/// A channel as configured under `channels:` in klaxon.yaml; `type` selects the kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelConfig {
    /// Print alerts to standard output.
    Console {},
}
