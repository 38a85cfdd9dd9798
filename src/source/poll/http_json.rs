//! `type: http_json`: GET a URL every `interval` and pick fields of the JSON answer with
//! JSON pointers (RFC 6901) — one event per poll, or, with `items`, one per element of an
//! array in it (each element's fields picked by pointers relative to it). Values keep their
//! JSON type: a number stays a number, for `metric` rules and `field:>10` queries.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::fetch::{Fetcher, PollError, PollUrl};
use super::rabbitmq::{default_interval, default_timeout};
use super::{Polled, Poller};
use crate::types::{HumanDuration, Secret};

/// `type: http_json`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpJsonConfig {
    pub url: PollUrl,
    /// Sent with every request; values are secrets (`Authorization: Bearer ${TOKEN}`).
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    #[serde(default = "default_interval")]
    pub interval: HumanDuration,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Event field → where its value is in the answer (or in each item).
    #[serde(default)]
    pub fields: BTreeMap<String, JsonPointer>,
    /// An array in the answer: one event per element.
    #[serde(default)]
    pub items: Option<JsonPointer>,
}

impl HttpJsonConfig {
    /// Pure checks; the message names the offending option.
    pub fn validate(&self) -> Result<(), String> {
        check_timing(self.interval, self.timeout)?;
        if self.fields.is_empty() {
            return Err(
                "`fields` must name at least one field: `fields: {depth: /queue/depth}`".into(),
            );
        }
        if let Some(name) = self.fields.keys().find(|k| k.trim().is_empty()) {
            return Err(format!("`fields`: the field name `{name}` is empty"));
        }
        self.header_map()?;
        Ok(())
    }

    fn header_map(&self) -> Result<reqwest::header::HeaderMap, String> {
        use reqwest::header::{HeaderName, HeaderValue};
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in &self.headers {
            let key = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`headers`: `{name}` is not a header name"))?;
            // The value is a secret: the message says which header, not what it holds.
            let mut value = HeaderValue::from_str(value.expose()).map_err(|_| {
                format!("`headers.{name}`: the value has characters a header cannot carry")
            })?;
            value.set_sensitive(true);
            map.insert(key, value);
        }
        Ok(map)
    }
}

/// `interval` is above zero (a zero interval would ask without pause), `timeout` too.
pub(super) fn check_timing(interval: HumanDuration, timeout: HumanDuration) -> Result<(), String> {
    if interval.0.is_zero() {
        return Err("`interval` must be longer than 0s".into());
    }
    if timeout.0.is_zero() {
        return Err("`timeout` must be longer than 0s".into());
    }
    Ok(())
}

/// A JSON pointer (`/queues/0/depth`; `~1` is `/`, `~0` is `~`; `""` the whole document),
/// checked when the config is read so `klaxon check` points at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPointer(String);

impl JsonPointer {
    pub fn find<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        doc.pointer(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JsonPointer {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if !text.is_empty() && !text.starts_with('/') {
            return Err(format!(
                "`{text}` is not a JSON pointer: it starts with `/` (`/{text}`), or is empty for the whole document"
            ));
        }
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                return Err(format!(
                    "`{text}` is not a JSON pointer: `~` must be followed by 0 (for `~`) or 1 (for `/`)"
                ));
            }
        }
        Ok(JsonPointer(text))
    }
}

impl<'de> Deserialize<'de> for JsonPointer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        JsonPointer::try_from(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

crate::types::impl_text_schema!(
    JsonPointer,
    "JsonPointer",
    "A JSON pointer (`/queues/0/depth`; `~1` is `/`, `~0` is `~`; empty for the whole document).",
    "(?:/(?:[^~/]|~[01])*)*"
);

pub struct HttpJsonPoller {
    fetcher: Fetcher,
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    fields: Vec<(String, JsonPointer)>,
    items: Option<JsonPointer>,
}

impl HttpJsonPoller {
    pub fn new(config: &HttpJsonConfig) -> Result<Self, String> {
        config.validate()?;
        let mut secrets = config.url.secrets();
        secrets.extend(config.headers.values().map(|v| v.expose().to_string()));
        Ok(HttpJsonPoller {
            fetcher: Fetcher::new(config.timeout.0, secrets)?,
            url: config.url.url().clone(),
            headers: config.header_map()?,
            fields: config
                .fields
                .iter()
                .map(|(k, p)| (k.clone(), p.clone()))
                .collect(),
            items: config.items.clone(),
        })
    }

    /// The fields found in `doc`; a pointer that finds nothing leaves its field out.
    fn pick(&self, doc: &Value) -> Map<String, Value> {
        self.fields
            .iter()
            .filter_map(|(name, p)| Some((name.clone(), p.find(doc)?.clone())))
            .collect()
    }

    /// The records of one answer.
    pub fn records(&self, doc: &Value) -> Result<Vec<Map<String, Value>>, PollError> {
        let Some(items) = &self.items else {
            return Ok(vec![self.pick(doc)]);
        };
        match items.find(doc) {
            Some(Value::Array(list)) if list.len() > super::MAX_RECORDS => {
                Err(PollError::new(format!(
                    "`items` {} has {} elements; at most {} are read per poll",
                    items.as_str(),
                    list.len(),
                    super::MAX_RECORDS
                )))
            }
            Some(Value::Array(list)) => Ok(list.iter().map(|item| self.pick(item)).collect()),
            Some(_) => Err(PollError::new(format!(
                "`items` {} is not an array in the answer",
                items.as_str()
            ))),
            None => Err(PollError::new(format!(
                "`items` {} is not in the answer",
                items.as_str()
            ))),
        }
    }
}

#[async_trait::async_trait]
impl Poller for HttpJsonPoller {
    async fn poll(&self) -> Result<Polled, PollError> {
        let request = self
            .fetcher
            .client()
            .get(self.url.clone())
            .headers(self.headers.clone());
        let fetched = self.fetcher.json(request).await?;
        Ok(Polled {
            records: self.records(&fetched.json)?,
            bytes: fetched.bytes,
        })
    }
}
