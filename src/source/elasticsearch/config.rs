//! `type: elasticsearch`: an index pattern polled for the documents the rules want.

use serde::Deserialize;

use crate::types::{HumanDuration, Secret};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchSourceConfig {
    /// One or more node URLs (`https://es1:9200`); the first that answers is used.
    pub urls: Vec<String>,
    /// The index pattern (`logs-orders-*`).
    pub index: String,
    /// Basic authentication.
    #[serde(default)]
    pub username: Option<Secret>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// An API key as Elasticsearch encodes it (base64 of `id:key`).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// A bearer token.
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// A PEM file with the CA certificate(s) that signed the cluster's certificate.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// The documents' time field (default `@timestamp`).
    #[serde(default = "default_timestamp_field")]
    pub timestamp_field: String,
    /// How far behind now each poll reads (ingest and refresh lag; default 30s).
    #[serde(default = "default_query_delay")]
    pub query_delay: HumanDuration,
    /// How far back each poll reads again, for documents that arrive late with an older
    /// time (default 1m); hits already handled are told apart by `_index` + `_id`.
    #[serde(default = "default_overlap")]
    pub overlap: HumanDuration,
    /// How often to poll (default 10s).
    #[serde(default = "default_poll_interval")]
    pub poll_interval: HumanDuration,
    /// Hits per page (default 1,000; at most 10,000).
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// After a long stop, read back at most this far (default 24h); older documents are
    /// skipped with a warning.
    #[serde(default = "default_max_catch_up")]
    pub max_catch_up: HumanDuration,
    /// One request's limit (default 30s).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Alerts about events older than this when raised do not page (default 15m).
    #[serde(default = "default_max_alert_age")]
    pub max_alert_age: HumanDuration,
    /// Kibana's data view for this source's alert links (else the global `kibana.data_view`).
    #[serde(default)]
    pub kibana: Option<crate::source::SourceKibana>,
}

fn default_timestamp_field() -> String {
    "@timestamp".into()
}
fn secs(s: u64) -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(s))
}
fn default_query_delay() -> HumanDuration {
    secs(30)
}
fn default_overlap() -> HumanDuration {
    secs(60)
}
fn default_poll_interval() -> HumanDuration {
    secs(10)
}
fn default_page_size() -> usize {
    1_000
}
fn default_max_catch_up() -> HumanDuration {
    secs(24 * 3600)
}
fn default_timeout() -> HumanDuration {
    secs(30)
}
fn default_max_alert_age() -> HumanDuration {
    secs(15 * 60)
}

/// Most hits one page may ask for (Elasticsearch's own `index.max_result_window`).
pub const MAX_PAGE: usize = 10_000;

impl ElasticsearchSourceConfig {
    /// Relative `ca_file` paths are relative to the config file's directory.
    pub fn resolve_relative_to(&mut self, base: &std::path::Path) {
        if let Some(ca) = &mut self.ca_file {
            if ca.is_relative() {
                *ca = base.join(&*ca);
            }
        }
    }

    /// Each problem names its key.
    pub fn validate(&self) -> Result<(), String> {
        if self.urls.is_empty() {
            return Err("`urls`: name at least one node (`http://127.0.0.1:9200`)".into());
        }
        for u in &self.urls {
            let ok = url_ok(u);
            if !ok {
                return Err(format!("`urls`: `{u}` is not an http(s) URL"));
            }
        }
        if self.index.trim().is_empty() {
            return Err("`index`: name an index or pattern (`logs-*`)".into());
        }
        if self.page_size == 0 || self.page_size > MAX_PAGE {
            return Err(format!("`page_size`: between 1 and {MAX_PAGE}"));
        }
        if self.poll_interval.0.is_zero() {
            return Err("`poll_interval` must be more than 0s".into());
        }
        let auths = [
            self.username.is_some() || self.password.is_some(),
            self.api_key.is_some(),
            self.bearer_token.is_some(),
        ];
        if auths.iter().filter(|a| **a).count() > 1 {
            return Err("use one of `username`/`password`, `api_key`, `bearer_token`".into());
        }
        if self.username.is_some() != self.password.is_some() {
            return Err("`username` and `password` go together".into());
        }
        if let Some(ca) = &self.ca_file {
            std::fs::read(ca).map_err(|e| format!("`ca_file`: {}: {e}", ca.display()))?;
        }
        Ok(())
    }
}

fn url_ok(u: &str) -> bool {
    (u.starts_with("http://") || u.starts_with("https://"))
        && reqwest::Url::parse(u).is_ok_and(|p| p.host_str().is_some())
}
