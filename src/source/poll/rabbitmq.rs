//! `type: rabbitmq`: the depth of RabbitMQ queues, from the management plugin's HTTP API
//! (`GET /api/queues/{vhost}`), one event per queue per poll:
//!
//! ```json
//! {"queue":"orders.payment","vhost":"/","messages_ready":1200,"messages_unacknowledged":0,
//!  "messages":1200,"consumers":0,"message":"queue orders.payment: 1200 ready, 0 unacked, 0 consumers"}
//! ```
//!
//! so "a backlog for 5 minutes" and "no consumers" are `metric`, `frequency` or `flatline`
//! rules like any other.

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::fetch::{Fetcher, PollError, PollUrl};
use super::{Polled, Poller};
use crate::types::{HumanDuration, Secret};

/// The queue statistics asked for (`columns=`): a broker with thousands of queues answers
/// with these alone, not with every queue's full record.
const COLUMNS: &str = "name,vhost,messages_ready,messages_unacknowledged,messages,consumers";

/// `type: rabbitmq`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RabbitMqConfig {
    /// The management API's base URL, e.g. `http://127.0.0.1:15672`.
    pub url: PollUrl,
    pub username: Secret,
    pub password: Secret,
    /// The virtual host whose queues are read (default `/`).
    #[serde(default = "default_vhost")]
    pub vhost: String,
    /// Which queues: names, globs (`orders.*`) or `/regex/`; default every queue.
    #[serde(default)]
    pub queues: Vec<QueuePattern>,
    #[serde(default = "default_interval")]
    pub interval: HumanDuration,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_vhost() -> String {
    "/".into()
}

pub(super) fn default_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(15))
}

pub(super) fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

impl RabbitMqConfig {
    /// Pure checks; the message names the offending option.
    pub fn validate(&self) -> Result<(), String> {
        super::http_json::check_timing(self.interval, self.timeout)?;
        if self.vhost.is_empty() {
            return Err("`vhost` must not be empty (the default vhost is `/`)".into());
        }
        if self.username.is_empty() {
            return Err("`username` is empty (is its ${VAR} set?)".into());
        }
        Ok(())
    }

    /// `{url}/api/queues/{vhost}?columns=…`: the vhost percent-encoded whole (`/` is
    /// `%2F`), after whatever path the base URL has (a management API behind a prefix).
    pub fn queues_url(&self) -> reqwest::Url {
        let mut url = self.url.url().clone();
        let base = url.path().trim_end_matches('/').to_string();
        let vhost = utf8_percent_encode(&self.vhost, NON_ALPHANUMERIC);
        url.set_path(&format!("{base}/api/queues/{vhost}"));
        url.set_query(Some(&format!("columns={COLUMNS}")));
        url
    }
}

/// A `queues:` entry: `/…/` is a regex (matched anywhere in the name unless anchored),
/// text with `*`, `?` or `[` a glob over the whole name, anything else the exact name.
#[derive(Debug, Clone)]
pub enum QueuePattern {
    Name(String),
    Glob(glob::Pattern),
    Regex(regex::Regex),
}

impl QueuePattern {
    pub fn matches(&self, queue: &str) -> bool {
        match self {
            QueuePattern::Name(n) => n == queue,
            QueuePattern::Glob(g) => g.matches(queue),
            QueuePattern::Regex(r) => r.is_match(queue),
        }
    }
}

impl TryFrom<String> for QueuePattern {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text.is_empty() {
            return Err("an empty queue name".into());
        }
        if let Some(re) = text
            .strip_prefix('/')
            .and_then(|t| t.strip_suffix('/'))
            .filter(|re| !re.is_empty())
        {
            return regex::RegexBuilder::new(re)
                .size_limit(1 << 20)
                .build()
                .map(QueuePattern::Regex)
                // regex's own text draws the pattern over several lines: its last says why.
                .map_err(|e| {
                    let e = e.to_string();
                    let why = e
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim_start_matches("error: ");
                    format!("invalid regex `{re}`: {why}")
                });
        }
        if text.contains(['*', '?', '[']) {
            return glob::Pattern::new(&text)
                .map(QueuePattern::Glob)
                .map_err(|e| format!("invalid glob `{text}`: {e}"));
        }
        Ok(QueuePattern::Name(text))
    }
}

impl<'de> Deserialize<'de> for QueuePattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        QueuePattern::try_from(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

crate::types::impl_text_schema!(
    QueuePattern,
    "QueuePattern",
    "A queue: `/regex/` (matched anywhere in the name unless anchored), a glob with `*`, `?` \
     or `[` over the whole name, or the exact name.",
    ".+"
);

/// Polls one vhost's queues.
pub struct RabbitMqPoller {
    fetcher: Fetcher,
    url: reqwest::Url,
    username: Secret,
    password: Secret,
    queues: Vec<QueuePattern>,
}

impl RabbitMqPoller {
    pub fn new(config: &RabbitMqConfig) -> Result<Self, String> {
        config.validate()?;
        let mut secrets = config.url.secrets();
        secrets.push(config.password.expose().to_string());
        let fetcher = Fetcher::new(config.timeout.0, secrets)?;
        Ok(RabbitMqPoller {
            fetcher,
            url: config.queues_url(),
            username: config.username.clone(),
            password: config.password.clone(),
            queues: config.queues.clone(),
        })
    }

    fn wanted(&self, queue: &str) -> bool {
        self.queues.is_empty() || self.queues.iter().any(|p| p.matches(queue))
    }
}

#[async_trait::async_trait]
impl Poller for RabbitMqPoller {
    async fn poll(&self) -> Result<Polled, PollError> {
        let request = self
            .fetcher
            .client()
            .get(self.url.clone())
            .basic_auth(self.username.expose(), Some(self.password.expose()));
        let fetched = self.fetcher.json(request).await?;
        let Value::Array(queues) = fetched.json else {
            return Err(PollError::new(
                "the answer is not a list of queues (is `url` the management API's base URL?)",
            ));
        };
        let wanted: Vec<&Map<String, Value>> = queues
            .iter()
            .filter_map(Value::as_object)
            .filter(|q| {
                q.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| self.wanted(n))
            })
            .collect();
        if wanted.len() > super::MAX_RECORDS {
            return Err(PollError::new(format!(
                "{} queues; at most {} are read per poll (narrow `queues`)",
                wanted.len(),
                super::MAX_RECORDS
            )));
        }
        let records = wanted.into_iter().map(record).collect();
        Ok(Polled {
            records,
            bytes: fetched.bytes,
        })
    }
}

/// The counts of one queue, and a line saying them. A count the broker did not report
/// (a queue whose statistics are not collected yet) or that is not a whole number
/// ≥ 0 is left out rather than guessed as 0: "0 consumers" must mean it.
fn record(queue: &Map<String, Value>) -> Map<String, Value> {
    let text = |k: &str| {
        queue
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let count = |k: &str| queue.get(k).and_then(Value::as_u64);
    let (name, vhost) = (text("name"), text("vhost"));
    let mut out = Map::new();
    out.insert("queue".into(), Value::from(name.clone()));
    out.insert("vhost".into(), Value::from(vhost));
    let mut said = Vec::new();
    for (key, word) in [
        ("messages_ready", "ready"),
        ("messages_unacknowledged", "unacked"),
        ("messages", ""),
        ("consumers", "consumers"),
    ] {
        let n = count(key);
        if let Some(n) = n {
            out.insert(key.into(), Value::from(n));
        }
        if !word.is_empty() {
            let n = n.map_or_else(|| "?".to_string(), |n| n.to_string());
            said.push(format!("{n} {word}"));
        }
    }
    out.insert(
        "message".into(),
        Value::from(format!("queue {name}: {}", said.join(", "))),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(yaml: &str) -> RabbitMqConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn the_queues_url_encodes_the_vhost_whole() {
        let c = config("url: http://127.0.0.1:15672/\nusername: u\npassword: p\n");
        assert_eq!(
            c.queues_url().as_str(),
            format!("http://127.0.0.1:15672/api/queues/%2F?columns={COLUMNS}")
        );
        let c = config(
            "url: https://mq.example.com/rabbit\nusername: u\npassword: p\nvhost: orders/eu 1\n",
        );
        assert!(c
            .queues_url()
            .as_str()
            .starts_with("https://mq.example.com/rabbit/api/queues/orders%2Feu%201?"));
        assert_eq!(c.interval.0, Duration::from_secs(15));
    }

    #[test]
    fn queue_patterns_are_names_globs_or_regexes() {
        let p = |s: &str| QueuePattern::try_from(s.to_string()).unwrap();
        assert!(p("orders.payment").matches("orders.payment"));
        assert!(!p("orders.payment").matches("orders.paymentX"));
        assert!(p("orders.*").matches("orders.callback"));
        assert!(!p("orders.*").matches("billing.orders"));
        assert!(p("/^orders\\.(pay|call)/").matches("orders.callback"));
        assert!(!p("/^orders\\.(pay|call)/").matches("orders.refund"));
        assert!(QueuePattern::try_from("/(/".to_string()).is_err());
        assert!(QueuePattern::try_from("[".to_string()).is_err());
    }

    #[test]
    fn a_queue_becomes_its_counts_and_a_line() {
        let q = json!({"name":"orders.payment","vhost":"/","messages_ready":1200,
            "messages_unacknowledged":0,"messages":1200,"consumers":0});
        let r = record(q.as_object().unwrap());
        assert_eq!(
            Value::Object(r),
            json!({"queue":"orders.payment","vhost":"/","messages_ready":1200,
                "messages_unacknowledged":0,"messages":1200,"consumers":0,
                "message":"queue orders.payment: 1200 ready, 0 unacked, 0 consumers"})
        );
        // Not collected yet, negative, fractional or huge beyond u64: left out, not 0.
        let q = json!({"name":"q","vhost":"/","messages_ready":-1,"consumers":1.5,
            "messages":1e300});
        let r = record(q.as_object().unwrap());
        assert_eq!(
            Value::Object(r),
            json!({"queue":"q","vhost":"/","message":"queue q: ? ready, ? unacked, ? consumers"})
        );
    }
}
