//! `type: any`: every matching event is a match.

use super::{Match, RuleType};
use crate::event::Event;

#[derive(Debug, Default)]
pub struct AnyRule;

impl RuleType for AnyRule {
    fn observe(&mut self, _key: &str, event: &Event) -> Option<Match> {
        Some(Match {
            count: 1,
            first_seen: event.time,
            last_seen: event.time,
            sample: event.raw.clone(),
            detail: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::event_at;

    #[test]
    fn every_event_matches() {
        let mut rule = AnyRule;
        let m = rule.observe("", &event_at(5, "ERROR x")).unwrap();
        assert_eq!((m.count, m.sample.as_str()), (1, "ERROR x"));
        assert_eq!(m.first_seen, m.last_seen);
    }
}
