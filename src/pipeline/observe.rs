//! Once a second, what the pipeline knows about itself goes to the telemetry: the rules'
//! counters, the alerts by state, each source's event-time lag, and the warnings about
//! silent failures (a glob matching nothing, a format that does not fit the lines, a time
//! field that is not there, a rule silent on a busy source).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Engine;
use crate::dispatch::Dispatcher;
use crate::source::SourceConfig;
use crate::telemetry::{
    RatioWatch, RuleMetrics, SilenceWatch, SourceMetrics, Telemetry, WarningKind, WarningsConfig,
};

/// The window the decode and time-field shares are judged over.
const SHARE_WINDOW: chrono::Duration = chrono::Duration::seconds(60);
/// Fewer lines than this in the window say nothing.
const MIN_LINES: u64 = 20;
/// Warn at this share of bad lines; the warning ends under `SHARE_OK`.
const SHARE_WARN: f64 = 0.5;
const SHARE_OK: f64 = 0.1;

struct SourceWatch {
    metrics: SourceMetrics,
    /// `json`, `logfmt`, `regex` (`None`: plain lines always fit).
    format: Option<&'static str>,
    time_field: Option<String>,
    include: Vec<String>,
    decode: RatioWatch,
    time: RatioWatch,
}

struct RuleWatch {
    source: String,
    metrics: RuleMetrics,
    matched: u64,
    evicted: u64,
    silence: SilenceWatch,
}

pub struct Observer {
    telemetry: Arc<Telemetry>,
    sources: BTreeMap<String, SourceWatch>,
    rules: HashMap<String, RuleWatch>,
    config: WarningsConfig,
}

impl Observer {
    pub fn new(
        telemetry: Arc<Telemetry>,
        sources: &BTreeMap<String, SourceConfig>,
        used: &[String],
        config: WarningsConfig,
    ) -> Observer {
        let sources = used
            .iter()
            .filter_map(|name| {
                let cfg = sources.get(name)?;
                let (format, time_field, include) = match cfg {
                    SourceConfig::File(f) => (
                        Some(f.format.as_str()),
                        f.time_field.clone(),
                        f.include.clone(),
                    ),
                    SourceConfig::Stdin(s) => {
                        (Some(s.format.as_str()), s.time_field.clone(), Vec::new())
                    }
                    // Documents are JSON already; a missing time field is still worth a word.
                    SourceConfig::Elasticsearch(es) => {
                        (None, Some(es.timestamp_field.clone()), Vec::new())
                    }
                    // Polled: records are built, not decoded; their time is the poll's.
                    SourceConfig::RabbitMq(_) | SourceConfig::HttpJson(_) => {
                        (None, None, Vec::new())
                    }
                };
                let metrics = if cfg.is_polled() {
                    telemetry.metrics.polled_source(name)
                } else {
                    telemetry.metrics.source(name)
                };
                Some((
                    name.clone(),
                    SourceWatch {
                        metrics,
                        format: format.filter(|f| *f != "plain"),
                        time_field,
                        include,
                        decode: RatioWatch::new(SHARE_WINDOW, MIN_LINES),
                        time: RatioWatch::new(SHARE_WINDOW, MIN_LINES),
                    },
                ))
            })
            .collect();
        Observer {
            telemetry,
            sources,
            rules: HashMap::new(),
            config,
        }
    }

    /// The counters handed to a source.
    pub fn source_metrics(&self, name: &str) -> SourceMetrics {
        self.sources.get(name).map_or_else(
            || self.telemetry.metrics.source(name),
            |s| s.metrics.clone(),
        )
    }

    /// Counts raised alerts by rule.
    pub fn raised<'a>(&self, rules: impl Iterator<Item = &'a str>) {
        for rule in rules {
            if let Some(r) = self.rules.get(rule) {
                r.metrics.alerts_raised.inc();
            } else {
                self.telemetry.metrics.rule(rule).alerts_raised.inc();
            }
        }
    }

    pub fn tick(&mut self, now: DateTime<Utc>, engine: &Engine, dispatcher: &Dispatcher) {
        self.rules_tick(now, engine);
        self.sources_tick(now, engine);
        let mut counts: HashMap<(String, &'static str), i64> = HashMap::new();
        for a in dispatcher.alerts() {
            *counts
                .entry((a.alert.rule.clone(), a.status.as_str()))
                .or_default() += 1;
        }
        let t = &self.telemetry;
        t.metrics.set_alerts(counts);
        t.metrics.set_warnings(t.warnings.counts());
    }

    fn rules_tick(&mut self, now: DateTime<Utc>, engine: &Engine) {
        let reports = engine.reports();
        let metrics = &self.telemetry.metrics;
        let running: std::collections::HashSet<&str> =
            reports.iter().map(|r| r.rule.as_str()).collect();
        self.rules.retain(|name, _| {
            let keep = running.contains(name.as_str());
            if !keep {
                metrics.forget_rule(name);
                self.telemetry.warnings.clear(WarningKind::RuleSilent, name);
            }
            keep
        });
        let sources: HashMap<&str, &str> = engine
            .rules()
            .map(|r| (r.name.as_str(), r.source.as_str()))
            .collect();
        let after = self.config.rule_silent_after.as_chrono();
        for report in &reports {
            let watch = self
                .rules
                .entry(report.rule.clone())
                .or_insert_with(|| RuleWatch {
                    source: sources.get(report.rule.as_str()).unwrap_or(&"").to_string(),
                    metrics: metrics.rule(&report.rule),
                    matched: 0,
                    evicted: 0,
                    silence: SilenceWatch::new(after, self.config.rule_silent_lines),
                });
            let m = &watch.metrics;
            if report.matched > watch.matched {
                m.matched.inc_by(report.matched - watch.matched);
                m.last_match.set(now.timestamp() as f64);
            }
            if report.evicted > watch.evicted {
                m.evictions.inc_by(report.evicted - watch.evicted);
            }
            // After a reload that restarted the rule's counters, count from there.
            watch.matched = report.matched;
            watch.evicted = report.evicted;
            m.state_keys.set(report.keys.min(i64::MAX as u64) as i64);
            if after.is_zero() {
                continue;
            }
            let lines = self
                .sources
                .get(&watch.source)
                .map_or(0, |s| s.metrics.lines_read.get());
            match watch.silence.observe(now, report.matched, lines) {
                Some((since, lines)) => self.telemetry.warnings.raise(
                    WarningKind::RuleSilent,
                    &report.rule,
                    format!(
                        "rule `{}` has matched nothing since {} while its source `{}` read {} lines: is its query right?",
                        report.rule,
                        since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        watch.source,
                        crate::types::grouped(lines)
                    ),
                    now,
                ),
                None => self.telemetry.warnings.clear(WarningKind::RuleSilent, &report.rule),
            }
        }
    }

    fn sources_tick(&mut self, now: DateTime<Utc>, engine: &Engine) {
        let warnings = &self.telemetry.warnings;
        for (name, s) in &mut self.sources {
            let m = &s.metrics;
            if let Some(t) = engine.event_time(name) {
                let lag = now.signed_duration_since(t).num_milliseconds() as f64 / 1000.0;
                m.event_time_lag_seconds.set(lag.max(0.0));
            }
            if !s.include.is_empty() && m.scans.get() > 0 {
                if m.files.get() == 0 {
                    warnings.raise(
                        WarningKind::NoFiles,
                        name,
                        format!(
                            "source `{name}`: `include` matches no file ({}): nothing is being read",
                            s.include.join(", ")
                        ),
                        now,
                    );
                } else {
                    warnings.clear(WarningKind::NoFiles, name);
                }
            }
            if let Some(format) = s.format {
                let total = m.lines_decoded.get() + m.probed.get();
                let bad = m.decode_failures.get() + m.probe_failures.get();
                let verdict = s.decode.observe(now, total, bad);
                if let Some(percent) = verdict.percent_over(SHARE_WARN) {
                    warnings.raise(
                        WarningKind::DecodeFailures,
                        name,
                        format!(
                            "{percent}% of lines of source `{name}` ({}) are not {format}: is `format: {format}` right?",
                            s.include.join(", ")
                        ),
                        now,
                    );
                } else if verdict.under(SHARE_OK) {
                    warnings.clear(WarningKind::DecodeFailures, name);
                }
            }
            if let Some(field) = &s.time_field {
                let verdict = s
                    .time
                    .observe(now, m.lines_decoded.get(), m.time_missing.get());
                if let Some(percent) = verdict.percent_over(SHARE_WARN) {
                    warnings.raise(
                        WarningKind::TimeFieldMissing,
                        name,
                        format!(
                            "{percent}% of lines of source `{name}` have no usable `{field}`: their read time is used as event time (is `time_field` right?)"
                        ),
                        now,
                    );
                } else if verdict.under(SHARE_OK) {
                    warnings.clear(WarningKind::TimeFieldMissing, name);
                }
            }
        }
    }
}
