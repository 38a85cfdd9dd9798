//! `type: stdin`: lines piped into Klaxon (`tail -F app.log | klaxon run …`,
//! `kubectl logs -f pod | klaxon …`). A pipe cannot be re-read, so there are no
//! checkpoints: what was in flight when Klaxon stopped is gone with the pipe.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, watch};

use super::multiline::{self, Multiline, MultilineConfig, Pending, Record};
use super::{Batch, Source, SourceError};
use crate::clock::Clock;
use crate::decode::{DecodeOptions, Decoder, LineFormat, TimeFormat, TimeLimits, TimeZone};
use crate::event::{Event, Origin};
use crate::filter::{AcceptAll, LineFilter};
use crate::types::HumanDuration;

/// Bytes asked of the pipe per read.
const READ_SIZE: usize = 64 * 1024;
/// Most events per batch.
const BATCH_CAP: usize = 1024;
/// What `Origin::path` says for piped lines.
const STDIN_PATH: &str = "-";

/// `type: stdin`.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StdinSourceConfig {
    #[serde(default)]
    pub format: LineFormat,
    /// For `format: regex`: a regex with named groups or a preset (`nginx_combined`).
    #[serde(default)]
    pub pattern: Option<String>,
    /// The field holding the event's time (default: the time the line was read).
    #[serde(default)]
    pub time_field: Option<String>,
    #[serde(default)]
    pub time_format: Option<TimeFormat>,
    #[serde(default)]
    pub timezone: TimeZone,
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    /// Longer lines are cut to this many bytes (and counted).
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    #[serde(default = "super::file::default_max_event_age")]
    pub max_event_age: HumanDuration,
    #[serde(default = "super::file::default_max_clock_skew")]
    pub max_clock_skew: HumanDuration,
    /// Alerts about events older than this when raised do not page (default 15m).
    #[serde(default = "super::file::default_max_alert_age")]
    pub max_alert_age: HumanDuration,
    /// Kibana's data view for this source's alert links (else the global `kibana.data_view`).
    #[serde(default)]
    pub kibana: Option<super::SourceKibana>,
}

fn default_max_line_bytes() -> usize {
    1024 * 1024
}

impl Default for StdinSourceConfig {
    fn default() -> Self {
        StdinSourceConfig {
            format: LineFormat::default(),
            pattern: None,
            time_field: None,
            time_format: None,
            timezone: TimeZone::default(),
            multiline: None,
            max_line_bytes: default_max_line_bytes(),
            max_event_age: super::file::default_max_event_age(),
            max_clock_skew: super::file::default_max_clock_skew(),
            max_alert_age: super::file::default_max_alert_age(),
            kibana: None,
        }
    }
}

impl StdinSourceConfig {
    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            format: self.format,
            pattern: self.pattern.clone(),
            time_field: self.time_field.clone(),
            time_format: self.time_format.clone(),
            timezone: self.timezone,
            limits: TimeLimits {
                max_event_age: self.max_event_age.0,
                max_clock_skew: self.max_clock_skew.0,
            },
        }
    }

    /// Pure checks; the message names the offending option.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_line_bytes == 0 {
            return Err("`max_line_bytes` must be at least 1".into());
        }
        Decoder::with_options(&self.decode_options()).map_err(|e| e.to_string())?;
        if let Some(m) = &self.multiline {
            m.validate()?;
        }
        Ok(())
    }
}

/// A running `type: stdin` source (or any other byte stream, for tests).
pub struct StdinSource {
    name: Arc<str>,
    input: Box<dyn AsyncRead + Send + Unpin>,
    decoder: Decoder,
    multiline: Option<Multiline>,
    filter: Arc<dyn LineFilter>,
    max_line_bytes: usize,
    clock: Arc<dyn Clock>,
    metrics: crate::telemetry::SourceMetrics,
}

impl StdinSource {
    /// Reads the process's standard input.
    #[cfg(unix)]
    pub fn new(
        name: &str,
        config: &StdinSourceConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SourceError> {
        use std::os::fd::AsFd;
        // A duplicate of fd 0 read through tokio's blocking pool (tokio's own stdin
        // needs a feature this crate does not enable).
        let fd = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| SourceError::Io {
                path: STDIN_PATH.into(),
                source: e,
            })?;
        let input = tokio::fs::File::from_std(std::fs::File::from(fd));
        Self::from_reader(name, config, clock, input)
    }

    /// Reads `input` instead of standard input.
    pub fn from_reader(
        name: &str,
        config: &StdinSourceConfig,
        clock: Arc<dyn Clock>,
        input: impl AsyncRead + Send + Unpin + 'static,
    ) -> Result<Self, SourceError> {
        let invalid = |message: String| SourceError::Config {
            source_name: name.to_string(),
            message,
        };
        config.validate().map_err(invalid)?;
        let decoder =
            Decoder::with_options(&config.decode_options()).map_err(|e| invalid(e.to_string()))?;
        let multiline = config
            .multiline
            .as_ref()
            .map(|m| Multiline::new(m, config.max_line_bytes))
            .transpose()
            .map_err(invalid)?;
        Ok(StdinSource {
            name: Arc::from(name),
            input: Box::new(input),
            decoder,
            multiline,
            filter: Arc::new(AcceptAll),
            max_line_bytes: config.max_line_bytes,
            clock,
            metrics: Default::default(),
        })
    }

    /// Counts into `metrics` (the pipeline's series for this source).
    pub fn with_metrics(mut self, metrics: crate::telemetry::SourceMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Only lines `filter` picks become events (multiline records bypass it).
    pub fn with_filter(mut self, filter: Arc<dyn LineFilter>) -> Self {
        self.filter = filter;
        self
    }

    fn event(&self, text: String, offset: u64) -> Event {
        let origin = Origin {
            source: Arc::clone(&self.name),
            path: Arc::from(STDIN_PATH),
            fingerprint: Arc::from(STDIN_PATH),
            offset,
        };
        self.decoder.decode(text, origin, self.clock.now())
    }

    /// Turns the complete lines at the start of `buf` into events; returns the bytes used.
    /// `offset` counts bytes since the stream began: it orders events, and nothing resumes
    /// from it.
    fn lines(
        &self,
        buf: &[u8],
        offset: &mut u64,
        pending: &mut Option<Pending>,
        events: &mut Vec<Event>,
    ) -> usize {
        let Some(last) = memchr::memrchr(b'\n', buf) else {
            return 0;
        };
        let lines = &buf[..=last];
        let base = *offset;
        let (before, invalid, untimed) = (
            events.len(),
            self.decoder.invalid_lines(),
            self.decoder.time_fallbacks(),
        );
        match &self.multiline {
            None => self.filter.for_each_candidate(lines, &mut |start, end| {
                let text = self.text(&lines[start..end]);
                events.push(self.event(text, base + end as u64 + 1));
            }),
            Some(m) => {
                let mut start = 0;
                for end in memchr::memchr_iter(b'\n', lines) {
                    let text = self.text(&lines[start..end]);
                    let (from, to) = (base + start as u64, base + end as u64 + 1);
                    m.push(pending, &text, from, to, Instant::now(), |r| {
                        events.push(self.record(r))
                    });
                    start = end + 1;
                }
            }
        }
        let m = &self.metrics;
        let read = bytecount::count(lines, b'\n') as u64;
        let decoded = (events.len() - before) as u64;
        m.lines_read.inc_by(read);
        m.bytes_read.inc_by(lines.len() as u64);
        m.lines_decoded.inc_by(decoded);
        m.lines_skipped.inc_by(read.saturating_sub(decoded));
        m.decode_failures
            .inc_by(self.decoder.invalid_lines().saturating_sub(invalid));
        m.time_missing
            .inc_by(self.decoder.time_fallbacks().saturating_sub(untimed));
        *offset += lines.len() as u64;
        lines.len()
    }

    fn record(&self, r: Record) -> Event {
        self.event(r.text, r.end_offset)
    }

    /// A line as text: without `\r`, cut to `max_line_bytes`, invalid UTF-8 replaced.
    fn text(&self, line: &[u8]) -> String {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = &line[..line.len().min(self.max_line_bytes)];
        String::from_utf8_lossy(line).into_owned()
    }
}

/// Sends unless shutdown comes first; `false` when the source must stop.
async fn send(
    out: &mpsc::Sender<Batch>,
    shutdown: &mut watch::Receiver<bool>,
    events: Vec<Event>,
) -> bool {
    if events.is_empty() {
        return true;
    }
    let batch = Batch {
        events,
        checkpoints: Vec::new(),
    };
    super::send_batch(out, shutdown, batch).await
}

#[async_trait::async_trait]
impl Source for StdinSource {
    async fn run(
        mut self: Box<Self>,
        out: mpsc::Sender<Batch>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), SourceError> {
        let mut buf: Vec<u8> = Vec::with_capacity(READ_SIZE);
        let mut offset = 0u64;
        let mut pending: Option<Pending> = None;
        // Bytes of the current over-long line thrown away (its first bytes are kept).
        let mut discarding = false;
        let idle = self
            .multiline
            .as_ref()
            .map_or(Duration::from_secs(3600), |m| m.timeout);
        loop {
            let len = buf.len();
            buf.resize(len + READ_SIZE, 0);
            let read = tokio::select! {
                _ = super::stopped(&mut shutdown) => return Ok(()),
                read = tokio::time::timeout(idle, self.input.read(&mut buf[len..])) => read,
            };
            let mut events = Vec::new();
            let n = match read {
                Err(_elapsed) => {
                    buf.truncate(len);
                    if let Some(m) = &self.multiline {
                        if let Some(r) = m.flush_due(&mut pending, Instant::now()) {
                            events.push(self.record(r));
                        }
                    }
                    if !send(&out, &mut shutdown, events).await {
                        return Ok(());
                    }
                    continue;
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
                    buf.truncate(len);
                    continue;
                }
                Ok(Err(e)) => {
                    return Err(SourceError::Io {
                        path: STDIN_PATH.into(),
                        source: e,
                    })
                }
                Ok(Ok(n)) => n,
            };
            buf.truncate(len + n);
            if n == 0 {
                // The pipe closed: the last line is complete even without its `\n`.
                if !buf.is_empty() && !discarding {
                    buf.push(b'\n');
                }
                let used = self.lines(&buf, &mut offset, &mut pending, &mut events);
                buf.drain(..used);
                if let Some(r) = multiline::flush(&mut pending) {
                    events.push(self.record(r));
                }
                send(&out, &mut shutdown, events).await;
                return Ok(());
            }
            if discarding {
                // Drop the rest of an over-long line; its `\n` completes the kept start.
                match memchr::memchr(b'\n', &buf[len..]) {
                    Some(i) => {
                        buf.drain(len..len + i);
                        offset += i as u64;
                        discarding = false;
                    }
                    None => {
                        buf.truncate(len);
                        offset += n as u64;
                        continue;
                    }
                }
            }
            let used = self.lines(&buf, &mut offset, &mut pending, &mut events);
            buf.drain(..used);
            if buf.len() > self.max_line_bytes {
                // Keep the first `max_line_bytes` of an endless line; drop the rest.
                offset += (buf.len() - self.max_line_bytes) as u64;
                buf.truncate(self.max_line_bytes);
                discarding = true;
            }
            while !events.is_empty() {
                let rest = events.split_off(events.len().min(BATCH_CAP));
                if !send(&out, &mut shutdown, events).await {
                    return Ok(());
                }
                events = rest;
            }
        }
    }
}
