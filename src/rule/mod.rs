//! Rule types: turn the events a rule's query matched into *matches*, per key, on event time.
//!
//! Every type implements [`RuleType`]: `observe` sees each matching event (for its
//! `group_by` key); types that fire on the clock (`flatline`, `spike`, `absence`, and
//! `cardinality`/`metric` with a lower limit) also get `advance` with the rule's watermark,
//! and fire at the exact event-time instant a condition became true, so the alerts do not
//! depend on how often the clock is advanced. State lives in a [`Keyed`] map per rule
//! (bounded, least recently seen evicted) and is written to the store key by key as it
//! changes.

mod absence;
mod aggregate;
mod any;
mod cardinality;
mod change;
mod compiled;
mod config;
mod crossing;
mod distinct;
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
mod state_id;
mod track;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::event::Event;

pub use absence::{AbsenceParams, AbsenceRule};
pub use any::{AnyParams, AnyRule};
pub use cardinality::{CardinalityParams, CardinalityRule};
pub use change::{ChangeParams, ChangeRule};
#[cfg(test)]
pub(crate) use compiled::build_for_test;
pub use compiled::{Rule, RuleSettings, DEFAULT_ALLOWED_LATENESS, DEFAULT_MAX_KEYS, MISSING_VALUE};
pub use config::{ParamsReader, RuleConfig, TypeKey};
pub use flatline::{FlatlineParams, FlatlineRule};
pub use frequency::{FrequencyParams, FrequencyRule};
pub use hll::HyperLogLog;
pub use keyed::{Keyed, Visit};
pub use listed::{BlacklistParams, ListParams, ListedRule, WhitelistParams};
pub use metric::{MetricKind, MetricParams, MetricRule};
pub use mismatch::{MismatchParams, MismatchRule, MismatchSide};
pub use new_term::{NewTermParams, NewTermRule};
pub use params::{BuildContext, Params, ParamsVisitor, RuleProblem};
pub use spike::{SpikeDirection, SpikeParams, SpikeRule};

/// Declares the rule types: `type:` name, variant and params struct, once. Everything that
/// must name every type (reading params, building, state identity) goes through the
/// exhaustive matches generated here, so a new type is one line below plus its own file.
macro_rules! rule_types {
    ($($variant:ident($params:ty) = $name:literal,)*) => {
        /// The `type:` of a rule (`any` when absent: the first listed).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
        pub enum RuleKind {
            $(#[serde(rename = $name)] $variant,)*
        }

        /// The params of a rule, by type.
        #[derive(Debug, Clone, PartialEq)]
        pub enum RuleParams {
            $($variant($params),)*
        }

        impl RuleKind {
            pub const ALL: &'static [RuleKind] = &[$(RuleKind::$variant,)*];

            /// The default type: `any`.
            pub const DEFAULT: RuleKind = RuleKind::ALL[0];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(RuleKind::$variant => $name,)*
                }
            }

            /// Reads this type's params from `reader`.
            pub fn read_params<R: ParamsReader>(self, reader: &R) -> Result<RuleParams, R::Error> {
                match self {
                    $(RuleKind::$variant => reader.read::<$params>().map(RuleParams::$variant),)*
                }
            }

            /// The JSON Schema of this type's params (possibly a `$ref` into `generator`).
            pub fn params_schema(
                self,
                generator: &mut schemars::SchemaGenerator,
            ) -> schemars::Schema {
                match self {
                    $(RuleKind::$variant => <$params as schemars::JsonSchema>::json_schema(generator),)*
                }
            }

            /// The keys this type's params accept (besides the common keys).
            pub fn keys(self) -> &'static [&'static str] {
                match self {
                    $(RuleKind::$variant => crate::types::struct_fields::<$params>(),)*
                }
            }
        }

        impl RuleParams {
            pub fn kind(&self) -> RuleKind {
                match self {
                    $(RuleParams::$variant(_) => RuleKind::$variant,)*
                }
            }

            /// Calls `visitor` with the params, whatever their type.
            pub fn visit<V: ParamsVisitor>(&self, visitor: V) -> V::Out {
                match self {
                    $(RuleParams::$variant(p) => visitor.visit(p),)*
                }
            }
        }
    };
}

rule_types! {
    Any(AnyParams) = "any",
    Frequency(FrequencyParams) = "frequency",
    Flatline(FlatlineParams) = "flatline",
    Spike(SpikeParams) = "spike",
    Change(ChangeParams) = "change",
    Blacklist(BlacklistParams) = "blacklist",
    Whitelist(WhitelistParams) = "whitelist",
    NewTerm(NewTermParams) = "new_term",
    Cardinality(CardinalityParams) = "cardinality",
    Metric(MetricParams) = "metric",
    Absence(AbsenceParams) = "absence",
    Mismatch(MismatchParams) = "mismatch",
}

impl Default for RuleKind {
    fn default() -> Self {
        RuleKind::DEFAULT
    }
}

impl Default for RuleParams {
    fn default() -> Self {
        RuleParams::Any(AnyParams {})
    }
}

impl std::fmt::Display for RuleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule type reports when it fires for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Events that make up the match (for `flatline`/`spike`: the count in the window; for
    /// `cardinality`: the distinct values).
    pub count: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The first matching raw line (for clock-fired types: the last line seen for the key;
    /// `spike`: a line of the window that spiked).
    pub sample: String,
    /// What the rule found, in words: `state: paid → created`.
    pub detail: Option<String>,
    /// Fields beyond `group_by` that make this match an alert of its own, as field → value
    /// (`new_term`: the term). They join the alert's key, so realert, the alert's lifecycle
    /// (grouping, acknowledging, resolving) and silences by label apply to each separately.
    pub identity: Vec<(String, String)>,
}

/// A match raised on the clock, for a key the rule keeps state for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedMatch {
    /// Canonical key text (see `alert::AlertKey::id`).
    pub key: String,
    /// The event-time instant the condition became true (a deadline that passed).
    pub due: DateTime<Utc>,
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
    #[error("stored state of key {key} is unreadable: {message}")]
    CorruptState { key: String, message: String },
}

/// The key rule-wide state (not any one key's) is stored under; real keys are JSON objects.
pub const META_KEY: &str = "";

/// One rule type's counting logic. The query has already matched `event`; `key` is the
/// canonical text of its `group_by` values; `now` is the pipeline's clock (what `now` in
/// the date math of a query inside the rule means).
pub trait RuleType: Send {
    fn observe(&mut self, key: &str, event: &Event, now: DateTime<Utc>) -> Option<Match>;

    /// The rule's watermark (its source's clock minus `allowed_lateness`) moved to
    /// `watermark`: push what fired up to it, in event-time order.
    fn advance(&mut self, _watermark: DateTime<Utc>, _out: &mut Vec<KeyedMatch>) {}

    /// What the last `observe` found due at instants before its event (a value left the
    /// window between the key's previous event and this one), in event-time order: raised
    /// before the event's own match. Checking those instants when the event comes, rather
    /// than when the watermark gets there, raises the alert as soon as it is known.
    fn take_found(&mut self, _out: &mut Vec<KeyedMatch>) {}

    /// The watermark moved to `watermark` (after `advance`, for every type): the keys whose
    /// alert condition has cleared since the last call go to `cleared`, and their alerts
    /// resolve. Types without a condition that can clear (`any`, `change`, …) say nothing.
    fn settle(&mut self, _watermark: DateTime<Utc>, _cleared: &mut Vec<String>) {}

    /// Whether the rule fires on the clock: such rules must not see events behind their
    /// watermark (that past is already decided), so the engine drops those, counted.
    fn fires_on_clock(&self) -> bool {
        false
    }

    /// The event fields the type reads besides the rule's query and `group_by`; `None` when
    /// it may read any (every field is then decoded for its source).
    fn fields(&self) -> Option<Vec<String>> {
        None
    }

    /// Sources the type reads besides the rule's own (a `mismatch` across two sources).
    fn other_sources(&self) -> Vec<String> {
        Vec::new()
    }

    /// Serialized state of every key changed since the last call.
    fn take_changes(&mut self, _out: &mut Vec<StateChange>) {}

    /// Puts back one key's state as `take_changes` wrote it.
    fn restore(&mut self, _key: &str, _state: &str) -> Result<(), RuleError> {
        Ok(())
    }

    /// Forgets every key (stored state that did not read back is dropped whole).
    fn clear_state(&mut self) {}

    /// A reload changed `max_keys`: keep at most `cap` keys from now on.
    fn set_max_keys(&mut self, _cap: usize) {}

    fn stats(&self) -> RuleStats {
        RuleStats::default()
    }
}

/// Event time in microseconds: compact and cheap to compare in per-key windows.
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn time_of(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Most bytes of a log line (or field value) a rule keeps: an alert's sample, a value in
/// its state. Longer ones are cut (`…`), so a 1 MiB line costs 8 KiB per key, not 1 MiB.
pub const MAX_KEPT_BYTES: usize = 8 * 1024;

/// Copies `text` (cut to [`MAX_KEPT_BYTES`]) into `buf`, reusing its allocation.
pub(crate) fn set_text(buf: &mut String, text: &str) {
    buf.clear();
    buf.push_str(&crate::types::clip(text, MAX_KEPT_BYTES));
}

/// `raw` as a rule keeps it: cut to [`MAX_KEPT_BYTES`].
pub(crate) fn kept(raw: &str) -> String {
    crate::types::clip(raw, MAX_KEPT_BYTES).into_owned()
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

/// `observe` with the event's own time as `now`, for tests.
#[cfg(test)]
pub(crate) trait See {
    fn see(&mut self, key: &str, event: &Event) -> Option<Match>;
}

#[cfg(test)]
impl<T: RuleType + ?Sized> See for T {
    fn see(&mut self, key: &str, event: &Event) -> Option<Match> {
        self.observe(key, event, event.time)
    }
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
