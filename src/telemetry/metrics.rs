//! Prometheus metrics (OpenMetrics text at `/metrics`). Each stage holds the handles of
//! its own series (a `Counter` is a shared atomic), got once per source, rule or channel,
//! so counting on the hot path is an atomic add per buffer, never a label lookup.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;
type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge>;
type FloatGauges = Family<Labels, Gauge<f64, AtomicU64>>;

/// Every series Klaxon exports. Names are listed in docs/OPERATIONS.md; the dashboards in
/// `dashboards/` query only these (a test checks it).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    lines_read: Counters,
    lines_skipped: Counters,
    lines_decoded: Counters,
    decode_failures: Counters,
    time_missing: Counters,
    bytes_read: Counters,
    poll_failing: Gauges,
    files: Gauges,
    checkpoint_lag: Gauges,
    event_time_lag: FloatGauges,
    matched: Counters,
    state_keys: Gauges,
    evictions: Counters,
    last_match: FloatGauges,
    alerts: Gauges,
    /// The `alerts` series set last, so those that went away are removed.
    alert_series: std::sync::Mutex<std::collections::HashSet<Labels>>,
    alerts_raised: Counters,
    sent: Counters,
    failed: Counters,
    dead: Counters,
    rate_limited: Counters,
    outbox: Gauges,
    breaker_open: Gauges,
    reloads: Counters,
    warnings: Gauges,
    started: Gauge<f64, AtomicU64>,
    /// Per source, not registered (see `SourceMetrics::probed`).
    probes: Counters,
    probe_failures: Counters,
    scans: Counters,
    polls: Counters,
    poll_failures: Counters,
    last_poll: FloatGauges,
}

/// One source's series.
#[derive(Debug, Clone, Default)]
pub struct SourceMetrics {
    /// Lines read (whether the prefilter let them through or not).
    pub lines_read: Counter,
    /// Lines no rule could match, skipped undecoded by the prefilter.
    pub lines_skipped: Counter,
    /// Lines (or multiline records) decoded into events.
    pub lines_decoded: Counter,
    /// Decoded lines the format did not fit (kept as plain events).
    pub decode_failures: Counter,
    /// Decoded lines without a usable time field (read time used instead).
    pub time_missing: Counter,
    pub bytes_read: Counter,
    /// Files followed now.
    pub files: Gauge,
    /// Bytes between the checkpoints and the ends of the files.
    pub checkpoint_lag_bytes: Gauge,
    /// Wall time minus the source's newest event time.
    pub event_time_lag_seconds: Gauge<f64, AtomicU64>,
    /// Lines the prefilter skipped that were checked against the format anyway, and how
    /// many did not fit (not exported: they feed the decode warning).
    pub probed: Counter,
    pub probe_failures: Counter,
    /// Scans of the `include` globs done (not exported: no warning before the first).
    pub scans: Counter,
    /// A polled source's requests (`rabbitmq`, `http_json`), whatever their result; for
    /// such a source a "line" is one event of a poll. Exported only for polled sources
    /// (see [`Metrics::polled_source`]): a file source would show zeros that mean nothing.
    pub polls: Counter,
    /// Polls that failed (no answer, an error status, a body that is not what was asked).
    pub poll_failures: Counter,
    /// Unix time of the last poll that succeeded (0: none since start): an alert on it
    /// catches a source that keeps failing.
    pub last_poll: Gauge<f64, AtomicU64>,
    /// 1 while its polls fail (`/readyz` says so).
    pub poll_failing: Gauge,
}

/// One rule's series.
#[derive(Debug, Clone, Default)]
pub struct RuleMetrics {
    pub matched: Counter,
    pub state_keys: Gauge,
    pub evictions: Counter,
    /// Unix time of the last match (0: none since start).
    pub last_match: Gauge<f64, AtomicU64>,
    pub alerts_raised: Counter,
}

/// One channel's series.
#[derive(Debug, Clone, Default)]
pub struct ChannelMetrics {
    pub sent: Counter,
    /// Attempts that failed (each retried, or a dead letter).
    pub failed: Counter,
    pub dead: Counter,
    pub rate_limited: Counter,
    pub outbox_depth: Gauge,
    /// 1 while the breaker is open (sends paused after repeated failures).
    pub breaker_open: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("klaxon");
        let mut counter = |name: &str, help: &str| {
            let family = Counters::default();
            registry.register(name, help, family.clone());
            family
        };
        let lines_read = counter("source_lines_read", "Lines read, per source");
        let lines_skipped = counter(
            "source_lines_skipped",
            "Lines no rule could match, skipped undecoded by the prefilter",
        );
        let lines_decoded = counter(
            "source_lines_decoded",
            "Lines (or multiline records) decoded into events",
        );
        let decode_failures = counter(
            "source_decode_failures",
            "Decoded lines that did not fit the source's format (kept as plain events)",
        );
        let time_missing = counter(
            "source_time_missing",
            "Decoded lines without a usable time field (the read time was used)",
        );
        let bytes_read = counter("source_bytes_read", "Bytes read, per source");
        let matched = counter("rule_events_matched", "Events each rule's query matched");
        let evictions = counter(
            "rule_state_evictions",
            "Keys evicted from a rule's state to stay within max_keys",
        );
        let alerts_raised = counter("alerts_raised", "Alerts raised, per rule");
        let sent = counter("notifications_sent", "Messages delivered, per channel");
        let failed = counter(
            "notifications_failed",
            "Delivery attempts that failed, per channel",
        );
        let dead = counter(
            "notifications_dead",
            "Deliveries given up on (dead letters), per channel",
        );
        let rate_limited = counter(
            "notifications_rate_limited",
            "Times a channel paused because the destination limited its rate",
        );
        let reloads = counter("rule_reloads", "Rule reloads, by result (success, failure)");
        let polls = counter(
            "source_polls",
            "Polls made by a polled source (elasticsearch, rabbitmq, http_json), whatever their result",
        );
        let poll_failures = counter(
            "source_poll_failures",
            "Polls that failed (each retried with backoff), per polled source",
        );
        let mut gauge = |name: &str, help: &str| {
            let family = Gauges::default();
            registry.register(name, help, family.clone());
            family
        };
        let files = gauge("source_files", "Files followed now, per source");
        let poll_failing = gauge(
            "source_poll_failing",
            "1 while a polled source's polls fail",
        );
        let checkpoint_lag = gauge(
            "source_checkpoint_lag_bytes",
            "Bytes between the committed checkpoints and the ends of the files",
        );
        let state_keys = gauge("rule_state_keys", "Keys held in each rule's state");
        let alerts = gauge("alerts", "Alerts known to the lifecycle, by rule and state");
        let outbox = gauge(
            "outbox_depth",
            "Deliveries waiting in the outbox, per channel",
        );
        let breaker_open = gauge(
            "channel_breaker_open",
            "1 while a channel's breaker is open (sends paused after repeated failures)",
        );
        let warnings = gauge("warnings", "Active warnings about silent failures, by kind");
        let mut float = |name: &str, help: &str| {
            let family = FloatGauges::default();
            registry.register(name, help, family.clone());
            family
        };
        let event_time_lag = float(
            "source_event_time_lag_seconds",
            "Wall time minus the newest event time, per source",
        );
        let last_match = float(
            "rule_last_match_timestamp_seconds",
            "Unix time of each rule's last match (0: none since start)",
        );
        let last_poll = float(
            "source_last_poll_timestamp_seconds",
            "Unix time of a polled source's last successful poll (0: none since start)",
        );
        let started = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "start_time_seconds",
            "Unix time the process started",
            started.clone(),
        );
        registry.register(
            "build",
            "Klaxon's version",
            Info::new(vec![(
                "version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            )]),
        );
        Metrics {
            registry,
            lines_read,
            lines_skipped,
            lines_decoded,
            decode_failures,
            time_missing,
            bytes_read,
            poll_failing,
            files,
            checkpoint_lag,
            event_time_lag,
            matched,
            state_keys,
            evictions,
            last_match,
            alerts,
            alert_series: Default::default(),
            alerts_raised,
            sent,
            failed,
            dead,
            rate_limited,
            outbox,
            breaker_open,
            reloads,
            warnings,
            started,
            probes: Counters::default(),
            probe_failures: Counters::default(),
            scans: Counters::default(),
            polls,
            poll_failures,
            last_poll,
        }
    }

    pub fn source(&self, name: &str) -> SourceMetrics {
        let l = labels("source", name);
        SourceMetrics {
            lines_read: self.lines_read.get_or_create_owned(&l),
            lines_skipped: self.lines_skipped.get_or_create_owned(&l),
            lines_decoded: self.lines_decoded.get_or_create_owned(&l),
            decode_failures: self.decode_failures.get_or_create_owned(&l),
            time_missing: self.time_missing.get_or_create_owned(&l),
            bytes_read: self.bytes_read.get_or_create_owned(&l),
            files: self.files.get_or_create_owned(&l),
            checkpoint_lag_bytes: self.checkpoint_lag.get_or_create_owned(&l),
            event_time_lag_seconds: self.event_time_lag.get_or_create_owned(&l),
            probed: self.probes.get_or_create_owned(&l),
            probe_failures: self.probe_failures.get_or_create_owned(&l),
            scans: self.scans.get_or_create_owned(&l),
            // Detached: see `polled_source`.
            polls: Counter::default(),
            poll_failures: Counter::default(),
            last_poll: Gauge::default(),
            poll_failing: Gauge::default(),
        }
    }

    /// Whether a polled source's polls fail now (without creating its series).
    pub fn poll_failing(&self, name: &str) -> bool {
        self.poll_failing
            .get(&labels("source", name))
            .is_some_and(|g| g.get() > 0)
    }

    /// A polled source's series: those of [`Metrics::source`] and the poll series.
    pub fn polled_source(&self, name: &str) -> SourceMetrics {
        let l = labels("source", name);
        SourceMetrics {
            polls: self.polls.get_or_create_owned(&l),
            poll_failures: self.poll_failures.get_or_create_owned(&l),
            last_poll: self.last_poll.get_or_create_owned(&l),
            poll_failing: self.poll_failing.get_or_create_owned(&l),
            ..self.source(name)
        }
    }

    pub fn rule(&self, name: &str) -> RuleMetrics {
        let l = labels("rule", name);
        RuleMetrics {
            matched: self.matched.get_or_create_owned(&l),
            state_keys: self.state_keys.get_or_create_owned(&l),
            evictions: self.evictions.get_or_create_owned(&l),
            last_match: self.last_match.get_or_create_owned(&l),
            alerts_raised: self.alerts_raised.get_or_create_owned(&l),
        }
    }

    /// Forgets a rule's series (the rule was removed by a reload).
    pub fn forget_rule(&self, name: &str) {
        let l = labels("rule", name);
        for family in [&self.matched, &self.evictions, &self.alerts_raised] {
            family.remove(&l);
        }
        self.state_keys.remove(&l);
        self.last_match.remove(&l);
    }

    pub fn channel(&self, name: &str) -> ChannelMetrics {
        let l = labels("channel", name);
        ChannelMetrics {
            sent: self.sent.get_or_create_owned(&l),
            failed: self.failed.get_or_create_owned(&l),
            dead: self.dead.get_or_create_owned(&l),
            rate_limited: self.rate_limited.get_or_create_owned(&l),
            outbox_depth: self.outbox.get_or_create_owned(&l),
            breaker_open: self.breaker_open.get_or_create_owned(&l),
        }
    }

    /// Sets the alert counts: `(rule, state) → n`; series set before and not now drop out.
    pub fn set_alerts(&self, counts: impl IntoIterator<Item = ((String, &'static str), i64)>) {
        let mut now = std::collections::HashSet::new();
        for ((rule, state), n) in counts {
            let l = vec![
                ("rule".to_string(), label_value(&rule)),
                ("state".to_string(), state.to_string()),
            ];
            self.alerts.get_or_create(&l).set(n);
            now.insert(l);
        }
        let mut before = self.alert_series.lock().unwrap_or_else(|e| e.into_inner());
        for gone in before.difference(&now) {
            self.alerts.remove(gone);
        }
        *before = now;
    }

    pub fn reload(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.reloads.get_or_create(&labels("result", result)).inc();
    }

    /// Sets the number of active warnings of each kind.
    pub fn set_warnings<'a>(&self, counts: impl IntoIterator<Item = (&'a str, i64)>) {
        for (kind, n) in counts {
            self.warnings.get_or_create(&labels("kind", kind)).set(n);
        }
    }

    pub fn set_started(&self, unix_seconds: f64) {
        self.started.set(unix_seconds);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

fn labels(key: &str, value: &str) -> Labels {
    vec![(key.to_string(), label_value(value))]
}

/// A label value as the exposition must hold it: prometheus-client writes values as they
/// are, so a rule named `a"b` would otherwise break every scrape.
fn label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_exported_with_their_labels() {
        let m = Metrics::new();
        let s = m.source("orders");
        s.lines_read.inc_by(10);
        m.rule("ghost").matched.inc();
        m.channel("ops").outbox_depth.set(3);
        m.set_alerts([(("ghost".to_string(), "firing"), 2)]);
        m.set_alerts([(("ghost".to_string(), "acknowledged"), 1)]);
        let text = m.encode();
        assert!(
            text.contains("klaxon_source_lines_read_total{source=\"orders\"} 10"),
            "{text}"
        );
        assert!(
            text.contains("klaxon_rule_events_matched_total{rule=\"ghost\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("klaxon_outbox_depth{channel=\"ops\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("klaxon_alerts{rule=\"ghost\",state=\"acknowledged\"} 1"),
            "{text}"
        );
        assert!(
            !text.contains("state=\"firing\""),
            "gone series removed: {text}"
        );
        assert!(text.contains("klaxon_build_info{version="), "{text}");
        assert!(
            !text.contains("klaxon_source_polls_total"),
            "no poll series for a file source: {text}"
        );
        let p = m.polled_source("rabbit");
        p.polls.inc();
        p.last_poll.set(1.5);
        let text = m.encode();
        assert!(
            text.contains("klaxon_source_polls_total{source=\"rabbit\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("klaxon_source_poll_failures_total{source=\"rabbit\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("klaxon_source_last_poll_timestamp_seconds{source=\"rabbit\"} 1.5"),
            "{text}"
        );
        m.rule("a\"b\\c\nd").matched.inc();
        assert!(
            m.encode().contains("{rule=\"a\\\"b\\\\c\\nd\"} 1"),
            "{}",
            m.encode()
        );
    }
}
