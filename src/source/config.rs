use std::path::Path;

use serde::{Deserialize, Deserializer};

use super::elasticsearch::ElasticsearchSourceConfig;
use super::{FileSourceConfig, StdinSourceConfig};
use crate::types::{deserialize_tagged, HumanDuration, TaggedConfig};

/// `kibana:` in a source: which data view its alerts' Discover links open.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
}

impl TaggedConfig for SourceConfig {
    const TYPES: &'static [&'static str] = &["file", "stdin", "elasticsearch"];
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
            other => Err(serde::de::Error::unknown_variant(other, Self::TYPES)),
        }
    }
}

impl<'de> Deserialize<'de> for SourceConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_tagged(d)
    }
}

impl SourceConfig {
    /// How `klaxon test` reads `path` as this source: the same decoding (format, pattern,
    /// time field and format, time zone, multiline, line limit), from the file's start,
    /// the file identified by its inode (so even a short file without a newline is read).
    /// Piped input is read like a file holding the same bytes.
    pub fn replay_of(&self, path: &Path) -> FileSourceConfig {
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
        }
        replay.read_from = super::ReadFrom::Beginning;
        replay.fingerprint = super::FingerprintStrategy::DeviceInode;
        replay
    }

    /// The data view its alerts link to, when it names one.
    pub fn kibana_data_view(&self) -> Option<&str> {
        let kibana = match self {
            SourceConfig::File(f) => &f.kibana,
            SourceConfig::Stdin(s) => &s.kibana,
            SourceConfig::Elasticsearch(es) => &es.kibana,
        };
        kibana.as_ref().map(|k| k.data_view.as_str())
    }

    /// Alerts about events older than this when raised do not page.
    pub fn max_alert_age(&self) -> HumanDuration {
        match self {
            SourceConfig::File(file) => file.max_alert_age,
            SourceConfig::Stdin(stdin) => stdin.max_alert_age,
            SourceConfig::Elasticsearch(es) => es.max_alert_age,
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
        }
    }
}
