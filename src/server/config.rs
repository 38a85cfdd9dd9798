//! `server:` in klaxon.yaml: where the HTTP API, metrics and console listen, and how
//! changes are authorized. `server: none` turns it off.

use serde::{Deserialize, Deserializer};

use crate::types::{HumanDuration, Secret};

/// The default listen address: loopback only, so nothing is exposed until asked for.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9095";

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `host:port` (default `127.0.0.1:9095`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The bearer token changing endpoints require (`Authorization: Bearer …`), from the
    /// environment (`${KLAXON_API_TOKEN}`). Without it, nothing can be changed over HTTP
    /// but through acknowledge links.
    #[serde(default)]
    pub token: Option<Secret>,
    /// The address people reach this server at (`https://klaxon.example.com`): acknowledge
    /// links in messages start with it. Without it, messages carry no link.
    #[serde(default)]
    pub public_url: Option<String>,
    /// The key acknowledge links are signed with. Default: a random key kept in the state
    /// directory (`ack-link.key`), so links survive restarts.
    #[serde(default)]
    pub ack_secret: Option<Secret>,
    /// How long an acknowledge link works (default 24h).
    #[serde(default = "default_ack_ttl")]
    pub ack_link_ttl: HumanDuration,
    /// `/readyz` fails once a channel's breaker has been open this long (default 5m).
    #[serde(default = "default_breaker_open_max")]
    pub breaker_open_max: HumanDuration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            token: None,
            public_url: None,
            ack_secret: None,
            ack_link_ttl: default_ack_ttl(),
            breaker_open_max: default_breaker_open_max(),
        }
    }
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_string()
}

fn default_ack_ttl() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(24 * 3600))
}

fn default_breaker_open_max() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(300))
}

/// `server:` as written: a map, or `none`.
#[derive(Debug, Clone)]
pub enum ServerSetting {
    Off,
    On(ServerConfig),
}

impl Default for ServerSetting {
    fn default() -> Self {
        ServerSetting::On(ServerConfig::default())
    }
}

impl ServerSetting {
    pub fn config(&self) -> Option<&ServerConfig> {
        match self {
            ServerSetting::Off => None,
            ServerSetting::On(c) => Some(c),
        }
    }
}

/// A map of the server's settings, `none` (or `off`) to turn it off, or empty for the
/// defaults.
impl schemars::JsonSchema for ServerSetting {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ServerSetting".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let config = generator.subschema_for::<ServerConfig>();
        schemars::json_schema!({
            "description": "The HTTP API, metrics and console: a map, or `none` to turn it off.",
            "anyOf": [
                config,
                { "enum": ["none", "off"], "description": "No server." },
                { "type": "null", "description": "The defaults." }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for ServerSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ServerSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map (`listen:`, `token:`, `public_url:`, …) or `none`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "none" | "off" => Ok(ServerSetting::Off),
                    other => Err(E::invalid_value(
                        serde::de::Unexpected::Str(other),
                        &"`none` or a map",
                    )),
                }
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(ServerSetting::On(ServerConfig::default()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                ServerConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(ServerSetting::On)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl ServerConfig {
    /// Problems with the values, each naming its key.
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push((
                "listen",
                format!(
                    "`{}` is not `host:port` with an IP address (e.g. 127.0.0.1:9095)",
                    self.listen
                ),
            ));
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(("public_url", format!("`{url}` is not an http(s) URL")));
            }
        }
        if self
            .token
            .as_ref()
            .is_some_and(|t| t.expose().trim().len() < 16)
        {
            problems.push((
                "token",
                "the API token is shorter than 16 characters: use a long random one (`openssl rand -hex 32`)".into(),
            ));
        }
        if self
            .ack_secret
            .as_ref()
            .is_some_and(|t| t.expose().len() < 16)
        {
            problems.push(("ack_secret", "shorter than 16 characters".into()));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_turns_it_off_and_a_map_configures_it() {
        #[derive(Deserialize)]
        struct Doc {
            #[serde(default)]
            server: ServerSetting,
        }
        let off: Doc = serde_saphyr::from_str("server: none\n").unwrap();
        assert!(off.server.config().is_none());
        let on: Doc = serde_saphyr::from_str("server:\n  listen: 0.0.0.0:9000\n").unwrap();
        assert_eq!(on.server.config().unwrap().listen, "0.0.0.0:9000");
        let default: Doc = serde_saphyr::from_str("{}\n").unwrap();
        assert_eq!(default.server.config().unwrap().listen, DEFAULT_LISTEN);
        let err = serde_saphyr::from_str::<Doc>("server:\n  lisen: x\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("unknown field `lisen`") && err.contains("line 2"),
            "{err}"
        );
    }
}
