use std::path::Path;

use serde::{Deserialize, Deserializer};

use super::elasticsearch::ElasticsearchSourceConfig;
use super::poll::{HttpJsonConfig, RabbitMqConfig};
use super::{FileSourceConfig, StdinSourceConfig};
use crate::types::{deserialize_tagged, HumanDuration, TaggedConfig};

/// `kibana:` in a source: which data view its alerts' Discover links open.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceKibana {
    /// A data view **id** (Kibana 8 makes them UUIDs: Stack Management → Data Views →
    /// the view's URL ends with it), not its name or index pattern — unless the data view
    /// was created with its index pattern as its id, as `dashboards/kibana/` does.
    pub data_view: String,
}

/// A source as configured under `sources:` in klaxon.yaml; `type` selects the kind.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    File(FileSourceConfig),
    /// The process's standard input (`tail -F app.log | klaxon run`).
    Stdin(StdinSourceConfig),
    /// An Elasticsearch index pattern, polled.
    Elasticsearch(ElasticsearchSourceConfig),
    /// Queue depths from RabbitMQ's management API, polled.
    RabbitMq(RabbitMqConfig),
    /// Fields of a JSON document fetched over HTTP, polled.
    HttpJson(HttpJsonConfig),
}

impl TaggedConfig for SourceConfig {
    const TYPES: &'static [&'static str] =
        &["file", "stdin", "elasticsearch", "rabbitmq", "http_json"];
    const WHAT: &'static str = "source";

    fn deserialize_variant<'de, D: Deserializer<'de>>(
        type_name: &str,
        rest: D,
    ) -> Result<Self, D::Error> {
        match type_name {
            "file" => FileSourceConfig::deserialize(rest).map(SourceConfig::File),
            "stdin" => StdinSourceConfig::deserialize(rest).map(SourceConfig::Stdin),
            "elasticsearch" => {
                ElasticsearchSourceConfig::deserialize(rest).map(SourceConfig::Elasticsearch)
            }
            "rabbitmq" => RabbitMqConfig::deserialize(rest).map(SourceConfig::RabbitMq),
            "http_json" => HttpJsonConfig::deserialize(rest).map(SourceConfig::HttpJson),
            other => Err(serde::de::Error::unknown_variant(other, Self::TYPES)),
        }
    }
}

impl<'de> Deserialize<'de> for SourceConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_tagged(d)
    }
}

/// `oneOf` the source types, each with its `type:` as a constant.
impl schemars::JsonSchema for SourceConfig {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SourceConfig".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        crate::types::tagged_schema(
            "A source; `type` selects the kind.",
            vec![
                ("file", FileSourceConfig::json_schema(generator)),
                ("stdin", StdinSourceConfig::json_schema(generator)),
                (
                    "elasticsearch",
                    ElasticsearchSourceConfig::json_schema(generator),
                ),
                ("rabbitmq", RabbitMqConfig::json_schema(generator)),
                ("http_json", HttpJsonConfig::json_schema(generator)),
            ],
        )
    }
}

impl SourceConfig {
    /// How `klaxon test` reads `path` as this source: the same decoding (format, pattern,
    /// time field and format, time zone, multiline, line limit), from the file's start,
    /// the file identified by its inode (so even a short file without a newline is read).
    /// Piped input is read like a file holding the same bytes. A polled source has no log
    /// to read back (each poll reads the present): the error says so, and what to do.
    pub fn replay_of(&self, path: &Path) -> Result<FileSourceConfig, String> {
        let mut replay =
            FileSourceConfig::new(vec![glob::Pattern::escape(&path.to_string_lossy())]);
        match self {
            SourceConfig::File(file) => {
                replay = FileSourceConfig {
                    include: replay.include,
                    ..file.clone()
                };
                replay.exclude.clear();
            }
            SourceConfig::Stdin(stdin) => {
                replay.format = stdin.format;
                replay.pattern = stdin.pattern.clone();
                replay.time_field = stdin.time_field.clone();
                replay.time_format = stdin.time_format.clone();
                replay.timezone = stdin.timezone;
                replay.multiline = stdin.multiline.clone();
                replay.max_line_bytes = stdin.max_line_bytes;
                replay.max_event_age = stdin.max_event_age;
                replay.max_clock_skew = stdin.max_clock_skew;
                replay.max_alert_age = stdin.max_alert_age;
            }
            // A file of the index's documents, one JSON object per line (`_source` as
            // Elasticsearch returns it): the same rule reads the same fields.
            SourceConfig::Elasticsearch(es) => {
                replay.format = crate::decode::LineFormat::Json;
                replay.time_field = Some(es.timestamp_field.clone());
                replay.max_alert_age = es.max_alert_age;
            }
            SourceConfig::RabbitMq(_) | SourceConfig::HttpJson(_) => {
                return Err(format!(
                    "it is a polled source (`type: {}`): each poll reads the service's present state, so there is no log for `klaxon test` to replay. \
                     To try the rule on values of your own, write them as JSON lines, one event per line with its time in `ts` \
                     (e.g. {{\"ts\":\"2026-06-08T03:00:00Z\",\"queue\":\"orders.payment\",\"messages_ready\":1200}}), \
                     and run `klaxon test RULE --input FILE --no-config`",
                    self.type_name()
                ));
            }
        }
        replay.read_from = super::ReadFrom::Beginning;
        replay.fingerprint = super::FingerprintStrategy::DeviceInode;
        Ok(replay)
    }

    /// The `type:` it was configured with.
    pub fn type_name(&self) -> &'static str {
        match self {
            SourceConfig::File(_) => "file",
            SourceConfig::Stdin(_) => "stdin",
            SourceConfig::Elasticsearch(_) => "elasticsearch",
            SourceConfig::RabbitMq(_) => "rabbitmq",
            SourceConfig::HttpJson(_) => "http_json",
        }
    }

    /// Whether it asks a service every `interval` rather than reading a log.
    pub fn is_polled(&self) -> bool {
        matches!(
            self,
            SourceConfig::Elasticsearch(_) | SourceConfig::RabbitMq(_) | SourceConfig::HttpJson(_)
        )
    }

    /// The data view its alerts link to, when it names one.
    pub fn kibana_data_view(&self) -> Option<&str> {
        let kibana = match self {
            SourceConfig::File(f) => &f.kibana,
            SourceConfig::Stdin(s) => &s.kibana,
            SourceConfig::Elasticsearch(es) => &es.kibana,
            // Metrics of a service: no documents in Kibana to link to.
            SourceConfig::RabbitMq(_) | SourceConfig::HttpJson(_) => return None,
        };
        kibana.as_ref().map(|k| k.data_view.as_str())
    }

    /// Alerts about events older than this when raised do not page.
    pub fn max_alert_age(&self) -> HumanDuration {
        match self {
            SourceConfig::File(file) => file.max_alert_age,
            SourceConfig::Stdin(stdin) => stdin.max_alert_age,
            SourceConfig::Elasticsearch(es) => es.max_alert_age,
            // A poll's events are about now: only a backlog in the pipeline makes them old.
            SourceConfig::RabbitMq(_) | SourceConfig::HttpJson(_) => {
                super::file::default_max_alert_age()
            }
        }
    }

    /// What the config loader does for every source: relative paths become relative to
    /// `base` (the config file's directory), then the options are checked. The message
    /// names the offending option.
    pub fn validate_and_resolve(&mut self, base: &Path) -> Result<(), String> {
        match self {
            SourceConfig::File(file) => {
                file.resolve_relative_to(base);
                file.validate()
            }
            SourceConfig::Stdin(stdin) => stdin.validate(),
            SourceConfig::Elasticsearch(es) => {
                es.resolve_relative_to(base);
                es.validate()
            }
            SourceConfig::RabbitMq(rabbitmq) => rabbitmq.validate(),
            SourceConfig::HttpJson(http_json) => http_json.validate(),
        }
    }
}
