//! Rule types: turn the events a rule's query matched into *matches*, per key, on event time.

mod any;
mod frequency;

use chrono::{DateTime, Utc};

use crate::config::{RuleConfig, RuleKind};
use crate::event::Event;

pub use any::AnyRule;
pub use frequency::FrequencyRule;

/// What a rule type reports when it fires for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Events that make up the match.
    pub count: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The first matching raw line.
    pub sample: String,
}

/// One rule type's counting logic. The query has already matched `event`; `key` is the
/// canonical text of its `group_by` values.
pub trait RuleType: Send {
    fn observe(&mut self, key: &str, event: &Event) -> Option<Match>;
}

/// The rule type a rule file asks for. Config validation has already checked that the
/// fields each type needs are present.
pub fn build(config: &RuleConfig) -> Box<dyn RuleType> {
    match config.kind {
        RuleKind::Any => Box::new(AnyRule),
        RuleKind::Frequency => Box::new(FrequencyRule::new(
            config.threshold.unwrap_or(1).max(1),
            config.window.map(|w| w.as_chrono()).unwrap_or_default(),
        )),
    }
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
