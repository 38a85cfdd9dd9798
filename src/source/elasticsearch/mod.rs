//! `type: elasticsearch`: polls an index pattern for the documents the rules of this source
//! could match — one search for all of them (the rules' queries OR-ed; each hit is then
//! matched to rules locally, as a line is) — over windows of event time (see `window.rs`),
//! paging through a point in time with `search_after`. Hits become ordinary events, so
//! every rule type, the lifecycle and delivery work unchanged. The window's end is the
//! source's checkpoint, committed with the rule state it produced.

mod client;
mod config;
mod window;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

pub use client::SearchError;
pub use config::ElasticsearchSourceConfig;
pub use window::{Seen, Window, Windows};

use super::{send_batch, stopped, Batch, Checkpoint, Source, SourceError};
use crate::clock::Clock;
use crate::event::{Event, Origin};
use crate::telemetry::SourceMetrics;

/// The checkpoint's fingerprint: one per source (the window end is the source's, not a
/// file's).
pub const CHECKPOINT_KEY: &str = "elasticsearch";

/// How long a point in time is kept between pages.
const PIT_KEEP_ALIVE: &str = "1m";
/// Most hits of the overlap remembered in the checkpoint (the newest).
const MAX_SEEN_KEPT: usize = 100_000;
/// Longest wait between retries of a failing poll.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What the rules of a source ask Elasticsearch for: their queries OR-ed (`None`: no rule
/// reads the source, nothing to poll). A reload replaces it.
#[derive(Debug, Default)]
pub struct SearchQuery(RwLock<Option<Value>>);

impl SearchQuery {
    pub fn new(query: Option<Value>) -> SearchQuery {
        SearchQuery(RwLock::new(query))
    }

    pub fn replace(&self, query: Option<Value>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = query;
    }

    fn get(&self) -> Option<Value> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The rules' queries (each an Elasticsearch query body) as one.
    pub fn any_of(queries: Vec<Value>) -> Option<Value> {
        match queries.len() {
            0 => None,
            1 => queries.into_iter().next(),
            _ => Some(json!({"bool": {"should": queries, "minimum_should_match": 1}})),
        }
    }
}

pub struct ElasticsearchSource {
    name: Arc<str>,
    cfg: ElasticsearchSourceConfig,
    clients: Vec<client::Client>,
    windows: Windows,
    seen: Seen,
    checkpoint: Option<DateTime<Utc>>,
    query: Arc<SearchQuery>,
    clock: Arc<dyn Clock>,
    metrics: SourceMetrics,
    /// Point in time did not work on this cluster: page on the sort alone.
    no_pit: bool,
    /// One poll, then end (`klaxon run --once`).
    once: bool,
}

impl ElasticsearchSource {
    pub fn new(
        name: &str,
        cfg: &ElasticsearchSourceConfig,
        checkpoints: Vec<Checkpoint>,
        clock: Arc<dyn Clock>,
        query: Arc<SearchQuery>,
    ) -> Result<Self, SourceError> {
        let invalid = |message: String| SourceError::Config {
            source_name: name.to_string(),
            message,
        };
        cfg.validate().map_err(invalid)?;
        let clients = cfg
            .urls
            .iter()
            .map(|u| client::Client::new(cfg, u))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let stored = checkpoints
            .iter()
            .find(|c| c.source == name && c.fingerprint == CHECKPOINT_KEY);
        let checkpoint = stored
            .and_then(|c| i64::try_from(c.offset).ok())
            .and_then(DateTime::from_timestamp_millis);
        // The overlap's hits handled before the stop, so the first window after a restart
        // does not take them for news.
        let seen = stored
            .and_then(|c| serde_json::from_str::<Value>(&c.path).ok())
            .map(|v| Seen::restore(&v))
            .unwrap_or_default();
        Ok(ElasticsearchSource {
            name: Arc::from(name),
            clients,
            windows: Windows {
                query_delay: cfg.query_delay.as_chrono(),
                overlap: cfg.overlap.as_chrono(),
                max_catch_up: cfg.max_catch_up.as_chrono(),
            },
            seen,
            checkpoint,
            query,
            clock,
            metrics: SourceMetrics::default(),
            no_pit: false,
            once: false,
            cfg: cfg.clone(),
        })
    }

    /// Polls once and ends (`klaxon run --once`): what the index holds up to
    /// `now - query_delay`.
    pub fn once(mut self) -> Self {
        self.once = true;
        self
    }

    pub fn with_metrics(mut self, metrics: SourceMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The search body of one page.
    fn page_body(
        &self,
        query: &Value,
        w: &Window,
        pit: Option<&str>,
        after: Option<&Value>,
    ) -> Value {
        let ts = &self.cfg.timestamp_field;
        let mut range = serde_json::Map::new();
        range.insert(
            ts.clone(),
            json!({
                "gt": w.from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "lte": w.to.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "format": "strict_date_optional_time",
            }),
        );
        let mut sort = vec![json!({ ts.clone(): {"order": "asc"} })];
        if pit.is_some() {
            sort.push(json!({"_shard_doc": "asc"}));
        }
        let mut body = json!({
            "size": self.cfg.page_size,
            "sort": sort,
            "track_total_hits": false,
            "query": {"bool": {"filter": [{"range": range}, query]}},
        });
        if let Some(id) = pit {
            body["pit"] = json!({"id": id, "keep_alive": PIT_KEEP_ALIVE});
        }
        if let Some(after) = after {
            body["search_after"] = after.clone();
        }
        body
    }

    /// Reads window `w` whole, sending its new hits as events; the last batch carries the
    /// checkpoint. A failure leaves the checkpoint where it was: the window is read again.
    async fn poll(
        &mut self,
        w: Window,
        query: &Value,
        out: &mpsc::Sender<Batch>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<bool, SearchError> {
        let mut last_error = None;
        for i in 0..self.clients.len() {
            match self.poll_with(i, w, query, out, shutdown).await {
                Ok(go_on) => return Ok(go_on),
                Err(e @ SearchError::Refused(_)) => return Err(e),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| SearchError::Retryable("no node".into())))
    }

    async fn poll_with(
        &mut self,
        node: usize,
        w: Window,
        query: &Value,
        out: &mpsc::Sender<Batch>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<bool, SearchError> {
        let pit = if self.no_pit {
            None
        } else {
            match self.clients[node]
                .open_pit(&self.cfg.index, PIT_KEEP_ALIVE)
                .await
            {
                Ok(id) => Some(id),
                Err(SearchError::NoPit(why)) => {
                    tracing::warn!(source = %self.name, "{why}; paging on the sort alone");
                    self.no_pit = true;
                    None
                }
                Err(e) => return Err(e),
            }
        };
        let result = self
            .pages(node, w, query, pit.as_deref(), out, shutdown)
            .await;
        if let Some(id) = &pit {
            self.clients[node].close_pit(id).await;
        }
        result
    }

    async fn pages(
        &mut self,
        node: usize,
        w: Window,
        query: &Value,
        pit: Option<&str>,
        out: &mpsc::Sender<Batch>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<bool, SearchError> {
        let mut after: Option<Value> = None;
        // Without a point in time, pages follow the sort on time alone: the next page
        // starts at the last time seen (`gte`), and hits seen already are skipped.
        let mut from = w;
        loop {
            let body = match pit {
                Some(id) => self.page_body(query, &w, Some(id), after.as_ref()),
                None => self.page_body(query, &from, None, None),
            };
            let index = pit.is_none().then_some(self.cfg.index.as_str());
            let answer = self.clients[node].search(index, body).await?;
            let hits = answer
                .pointer("/hits/hits")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let full = hits.len() >= self.cfg.page_size;
            let mut batch = Batch::default();
            let mut last_time = None;
            for hit in &hits {
                after = hit.get("sort").cloned();
                if let Some(event) = self.event(hit, w.to) {
                    last_time = Some(event.time);
                    batch.events.push(event);
                }
            }
            self.metrics.lines_read.inc_by(hits.len() as u64);
            self.metrics.lines_decoded.inc_by(batch.events.len() as u64);
            if !full {
                let keep_from = w.to - self.windows.overlap;
                batch.checkpoints.push(Checkpoint {
                    source: self.name.to_string(),
                    fingerprint: CHECKPOINT_KEY.into(),
                    path: self.seen.snapshot(keep_from, MAX_SEEN_KEPT).to_string(),
                    offset: u64::try_from(w.to.timestamp_millis()).unwrap_or(0),
                });
            }
            let has_news = !batch.events.is_empty() || !batch.checkpoints.is_empty();
            if has_news && !send_batch(out, shutdown, batch).await {
                return Ok(false);
            }
            if !full {
                return Ok(true);
            }
            if pit.is_none() {
                // A page all at one instant cannot be paged past on time alone.
                let next = last_time.unwrap_or(from.from);
                if next <= from.from {
                    return Err(SearchError::Refused(format!(
                        "more than {} documents at one instant and no point in time: raise `page_size`",
                        self.cfg.page_size
                    )));
                }
                from = Window {
                    from: next - chrono::Duration::milliseconds(1),
                    ..w
                };
            }
        }
    }

    /// A hit as an event, unless it was handled already (an overlapping window).
    fn event(&mut self, hit: &Value, fallback: DateTime<Utc>) -> Option<Event> {
        let index = hit.get("_index").and_then(Value::as_str).unwrap_or("");
        let id = hit.get("_id").and_then(Value::as_str).unwrap_or("");
        let source = hit.get("_source")?.as_object()?.clone();
        let found = event_time(&source, &self.cfg.timestamp_field);
        let time = found.unwrap_or(fallback);
        if !self.seen.first(index, id, time) {
            return None;
        }
        if found.is_none() {
            self.metrics.time_missing.inc();
        }
        let raw = serde_json::to_string(&source).unwrap_or_default();
        self.metrics.bytes_read.inc_by(raw.len() as u64);
        Some(Event {
            time,
            raw,
            fields: Some(source),
            origin: Origin {
                source: self.name.clone(),
                path: Arc::from(index),
                fingerprint: Arc::from(CHECKPOINT_KEY),
                offset: 0,
            },
            time_guessed: found.is_none(),
            fields_for: None,
        })
    }

    async fn tail(
        mut self,
        out: mpsc::Sender<Batch>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), SourceError> {
        let mut backoff = self.cfg.poll_interval.0;
        let mut failing = false;
        let mut warned_skip = false;
        loop {
            let mut wait = self.cfg.poll_interval.0;
            if let (Some(query), Some(w)) = (
                self.query.get(),
                self.windows.next(self.checkpoint, self.clock.now()),
            ) {
                if let (Some(skipped), false) = (w.skipped_from, warned_skip) {
                    tracing::warn!(
                        source = %self.name,
                        "the last poll read up to {skipped}, longer ago than max_catch_up: documents before {} are skipped",
                        w.from
                    );
                    warned_skip = true;
                }
                self.metrics.polls.inc();
                match self.poll(w, &query, &out, &mut shutdown).await {
                    Ok(false) => return Ok(()),
                    Ok(true) => {
                        self.metrics
                            .last_poll
                            .set(self.clock.now().timestamp_millis() as f64 / 1000.0);
                        if failing {
                            tracing::info!(source = %self.name, "the cluster answers again");
                            self.metrics.poll_failing.set(0);
                        }
                        failing = false;
                        backoff = self.cfg.poll_interval.0;
                        self.checkpoint = Some(w.to);
                        self.seen.forget_before(w.to - self.windows.overlap);
                        if self.once {
                            return Ok(());
                        }
                    }
                    Err(e) if self.once => {
                        return Err(SourceError::Failed {
                            source_name: self.name.to_string(),
                            message: format!("search failed: {e}"),
                        });
                    }
                    Err(e) => {
                        self.metrics.poll_failures.inc();
                        self.metrics.poll_failing.set(1);
                        if !failing {
                            tracing::warn!(source = %self.name, "search failed (the window is read again): {e}");
                        }
                        failing = true;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        wait = backoff;
                    }
                }
            }
            if self.once {
                // Nothing to read (no rule reads the source, or nothing new yet).
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopped(&mut shutdown) => return Ok(()),
                _ = out.closed() => return Ok(()),
            }
        }
    }
}

/// A document's time: RFC 3339 text, or epoch milliseconds.
fn event_time(source: &serde_json::Map<String, Value>, field: &str) -> Option<DateTime<Utc>> {
    let mut parts = field.split('.');
    let mut v = source.get(field).or_else(|| source.get(parts.next()?))?;
    if !source.contains_key(field) {
        for p in parts {
            v = v.as_object()?.get(p)?;
        }
    }
    match v {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Value::Number(n) => n.as_i64().and_then(DateTime::from_timestamp_millis),
        _ => None,
    }
}

#[async_trait::async_trait]
impl Source for ElasticsearchSource {
    async fn run(
        self: Box<Self>,
        out: mpsc::Sender<Batch>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), SourceError> {
        (*self).tail(out, shutdown).await
    }
}
