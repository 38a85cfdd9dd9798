//! Delivering alerts: one `Channel` per configured destination.

mod channel;

use serde::{Deserialize, Deserializer};

pub use channel::{Channel, DeliveryError};

use crate::config::{deserialize_tagged, TaggedConfig};

/// A channel as configured under `channels:` in klaxon.yaml; `type` selects the kind.
#[derive(Debug, Clone)]
pub enum ChannelConfig {
    /// Print alerts to standard output.
    Console(ConsoleConfig),
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {}

impl TaggedConfig for ChannelConfig {
    const TYPES: &'static [&'static str] = &["console"];
    const WHAT: &'static str = "channel";

    fn deserialize_variant<'de, D: Deserializer<'de>>(
        type_name: &str,
        rest: D,
    ) -> Result<Self, D::Error> {
        match type_name {
            "console" => ConsoleConfig::deserialize(rest).map(ChannelConfig::Console),
            other => Err(serde::de::Error::unknown_variant(other, Self::TYPES)),
        }
    }
}

impl<'de> Deserialize<'de> for ChannelConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_tagged(d)
    }
}
