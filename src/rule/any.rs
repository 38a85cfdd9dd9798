//! `type: any`: every matching event is a match.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BuildContext, Match, Params, RuleType};
use crate::event::Event;

/// `type: any` has no keys of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnyParams {}

impl Params for AnyParams {
    const STATE_VERSION: u32 = 1;

    fn build(&self, _: &mut BuildContext<'_>) -> Option<Box<dyn RuleType>> {
        Some(Box::new(AnyRule))
    }
}

#[derive(Debug, Default)]
pub struct AnyRule;

impl RuleType for AnyRule {
    fn fields(&self) -> Option<Vec<String>> {
        Some(Vec::new())
    }

    fn observe(&mut self, _key: &str, event: &Event, _now: DateTime<Utc>) -> Option<Match> {
        Some(Match {
            count: 1,
            first_seen: event.time,
            last_seen: event.time,
            sample: super::kept(&event.raw),
            detail: None,
            identity: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::event_at;
    use crate::rule::See;

    #[test]
    fn every_event_matches() {
        let mut rule = AnyRule;
        let e = event_at(5, "ERROR x");
        let m = rule.see("", &e).unwrap();
        assert_eq!((m.count, m.sample.as_str()), (1, "ERROR x"));
        assert_eq!(m.first_seen, m.last_seen);
    }
}
