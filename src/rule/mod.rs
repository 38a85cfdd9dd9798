//! Rule types: turn the events a rule's query matched into *matches*, per key, on event time.
//!
//! Every type implements [`RuleType`]: `observe` sees each matching event (for its
//! `group_by` key); types that fire on the clock (`flatline`, `spike`, `absence`) also get
//! `advance` with the rule's watermark, and fire at the exact event-time instant a condition
//! became true, so the alerts do not depend on how often the clock is advanced. State lives
//! in a [`Keyed`] map per rule (bounded, least recently seen evicted) and is written to the
//! store key by key as it changes.

mod absence;
mod any;
mod cardinality;
mod change;
mod flatline;
mod frequency;
mod hll;
mod keyed;
mod listed;
mod metric;
mod mismatch;
mod new_term;
mod params;
mod spike;
mod track;

use chrono::{DateTime, Utc};

use crate::config::{RuleConfig, RuleKind};
use crate::event::Event;
use crate::query::{QueryError, QueryOptions};

pub use absence::AbsenceRule;
pub use any::AnyRule;
pub use cardinality::CardinalityRule;
pub use change::ChangeRule;
pub use flatline::FlatlineRule;
pub use frequency::FrequencyRule;
pub use hll::HyperLogLog;
pub use keyed::{Keyed, Visit};
pub use listed::ListedRule;
pub use metric::MetricRule;
pub use mismatch::MismatchRule;
pub use new_term::NewTermRule;
pub use params::{
    MetricKind, MismatchSide, SpikeDirection, DEFAULT_ALLOWED_LATENESS, DEFAULT_MAX_KEYS,
};
pub use spike::SpikeRule;

/// What a rule type reports when it fires for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Events that make up the match (for `flatline`/`spike`: the count in the window; for
    /// `cardinality`: the distinct values).
    pub count: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The first matching raw line (for clock-fired types: the last line seen for the key).
    pub sample: String,
    /// What the rule found, in words: `state: paid → created`.
    pub detail: Option<String>,
}

/// A match raised on the clock, for a key the rule keeps state for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedMatch {
    /// Canonical key text (see `alert::key_id`).
    pub key: String,
    pub found: Match,
}

/// One key's state changed since the last commit; `state: None` means it is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub key: String,
    pub state: Option<String>,
}

/// Counters a rule keeps about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleStats {
    /// Keys held in memory now.
    pub keys: u64,
    /// Keys evicted (least recently seen first) to stay within `max_keys`.
    pub evicted: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("cannot read values_file {path}: {message}")]
    ValuesFile { path: String, message: String },
    #[error("stored state of key {key} is unreadable: {message}")]
    CorruptState { key: String, message: String },
}

/// The key rule-wide state (not any one key's) is stored under; real keys are JSON objects.
pub const META_KEY: &str = "";

/// One rule type's counting logic. The query has already matched `event`; `key` is the
/// canonical text of its `group_by` values.
pub trait RuleType: Send {
    fn observe(&mut self, key: &str, event: &Event) -> Option<Match>;

    /// The rule's watermark (its source's clock minus `allowed_lateness`) moved to
    /// `watermark`: push what fired up to it, in event-time order.
    fn advance(&mut self, _watermark: DateTime<Utc>, _out: &mut Vec<KeyedMatch>) {}

    /// Whether the rule fires on the clock: such rules must not see events behind their
    /// watermark (that past is already decided), so the engine drops those, counted.
    fn fires_on_clock(&self) -> bool {
        false
    }

    /// Serialized state of every key changed since the last call.
    fn take_changes(&mut self, _out: &mut Vec<StateChange>) {}

    /// Puts back one key's state as `take_changes` wrote it.
    fn restore(&mut self, _key: &str, _state: &str) -> Result<(), RuleError> {
        Ok(())
    }

    fn stats(&self) -> RuleStats {
        RuleStats::default()
    }
}

/// The rule type a rule file asks for. Config validation has already checked that the
/// fields each type needs are present; `options` compile the type's own queries.
pub fn build(config: &RuleConfig, options: &QueryOptions) -> Result<Box<dyn RuleType>, RuleError> {
    let window = config.window.map(|w| w.as_chrono()).unwrap_or_default();
    let cap = config.max_keys();
    let field = || config.field.clone().unwrap_or_default();
    Ok(match config.kind {
        RuleKind::Any => Box::new(AnyRule),
        RuleKind::Frequency => Box::new(FrequencyRule::with_cap(
            config.threshold.unwrap_or(1).max(1),
            window,
            cap,
        )),
        RuleKind::Flatline => Box::new(FlatlineRule::new(
            config.threshold.unwrap_or(1).max(1),
            window,
            !config.group_by.is_empty(),
            config.forget_keys,
            cap,
        )),
        RuleKind::Spike => Box::new(SpikeRule::new(spike::SpikeParams {
            window,
            height: config.spike_height.unwrap_or(2.0),
            direction: config.spike_type.unwrap_or_default(),
            threshold_cur: config.threshold_cur.unwrap_or(0),
            threshold_ref: config.threshold_ref.unwrap_or(0),
            grouped: !config.group_by.is_empty(),
            cap,
        })),
        RuleKind::Change => Box::new(ChangeRule::new(
            field(),
            config.sequence.clone(),
            config.window.map(|w| w.as_chrono()),
            cap,
        )),
        RuleKind::Blacklist | RuleKind::Whitelist => {
            let mut values = config.values.clone();
            if let Some(path) = &config.values_file {
                values.extend(listed::read_values_file(path)?);
            }
            Box::new(ListedRule::new(
                field(),
                values,
                config.kind == RuleKind::Blacklist,
            ))
        }
        RuleKind::NewTerm => {
            let fields = match &config.field {
                Some(f) => vec![f.clone()],
                None => config.fields.clone(),
            };
            let learning = config
                .learning
                .map(|l| l.as_chrono())
                .unwrap_or(chrono::Duration::hours(1));
            Box::new(NewTermRule::new(fields, learning, cap))
        }
        RuleKind::Cardinality => Box::new(CardinalityRule::new(
            field(),
            window,
            config.max_cardinality,
            config.min_cardinality,
            cap,
        )),
        RuleKind::Metric => Box::new(MetricRule::new(metric::MetricParams {
            field: field(),
            kind: config.metric.unwrap_or(MetricKind::Avg),
            window,
            above: config.above,
            below: config.below,
            cap,
        })),
        RuleKind::Absence => Box::new(AbsenceRule::new(
            crate::query::parse(config.start.as_deref().unwrap_or_default(), options)?,
            crate::query::parse(config.expect.as_deref().unwrap_or_default(), options)?,
            config.within.map(|w| w.as_chrono()).unwrap_or_default(),
            cap,
        )),
        RuleKind::Mismatch => {
            let side = |s: &Option<MismatchSide>| -> Result<mismatch::Side, RuleError> {
                let s = s.clone().unwrap_or(MismatchSide {
                    source: None,
                    query: None,
                    field: String::new(),
                });
                Ok(mismatch::Side {
                    source: s.source.unwrap_or_else(|| config.source.clone()),
                    query: s
                        .query
                        .map(|q| crate::query::parse(&q, options))
                        .transpose()?,
                    field: s.field,
                })
            };
            Box::new(MismatchRule::new(
                side(&config.left)?,
                side(&config.right)?,
                window,
                cap,
            ))
        }
    })
}

/// Event time in microseconds: compact and cheap to compare in per-key windows.
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn time_of(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Copies `text` into `buf`, reusing its allocation.
pub(crate) fn set_text(buf: &mut String, text: &str) {
    buf.clear();
    buf.push_str(text);
}

#[cfg(test)]
pub(crate) fn event_at(secs: i64, raw: &str) -> Event {
    use chrono::TimeZone;
    Event::plain(
        raw,
        Utc.timestamp_opt(1_780_000_000 + secs, 0).unwrap(),
        crate::event::test_origin(),
    )
}

/// A JSON event at `secs` past the test epoch.
#[cfg(test)]
pub(crate) fn json_at(secs: i64, json: &str) -> Event {
    let mut e = event_at(secs, json);
    e.fields = Some(serde_json::from_str(json).expect("test JSON"));
    e
}

#[cfg(test)]
pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    event_at(secs, "").time
}

/// The key of a rule without `group_by` (the canonical text of no values).
pub const UNGROUPED_KEY: &str = "{}";

/// A duration in µs as rule files write it (`5m`, `1h30m`).
pub(crate) fn human(us: i64) -> String {
    let d = std::time::Duration::from_micros(us.max(0) as u64);
    crate::types::HumanDuration(d).to_string()
}

/// A window length in µs (saturating: a huge window is "forever").
pub(crate) fn span(d: chrono::Duration) -> i64 {
    d.num_microseconds().unwrap_or(i64::MAX)
}

/// How many of the ascending `times` fall in `(from, to]`.
pub(crate) fn count_in(times: &std::collections::VecDeque<i64>, from: i64, to: i64) -> u64 {
    let lo = times.partition_point(|&t| t <= from);
    let hi = times.partition_point(|&t| t <= to);
    hi.saturating_sub(lo) as u64
}

/// Inserts `t` into ascending `times`, after equal times.
pub(crate) fn insert_sorted(times: &mut std::collections::VecDeque<i64>, t: i64) -> usize {
    let at = times.partition_point(|&x| x <= t);
    times.insert(at, t);
    at
}
