//! Where a windowed value — a distinct count (`cardinality`), an aggregate (`metric`) — stands
//! against a rule's limits, and what a change of that means: an alert when the value goes past
//! a limit, and none again until it has come back within them.
//!
//! The value of a key at instant `t` is taken over its events in `[t - window, t]`: an event
//! exactly `window` old still counts, and leaves one microsecond later ([`leaves`]). So the
//! value changes only when an event arrives or leaves, and those instants are the only ones
//! worth checking.

use serde::{Deserialize, Serialize};

/// Which limit a key's value is past.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Past {
    #[default]
    Within,
    /// Above `max_cardinality` / `above`.
    Above,
    /// Below `min_cardinality` / `below`.
    Below,
}

/// What a new reading of the value did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Crossing {
    Nothing,
    /// It went past a limit (or from one limit straight past the other): an alert.
    Fired,
    /// It came back within the limits: the rule re-arms (and a `metric` alert resolves).
    Cleared,
}

impl Past {
    /// Takes the reading `now`; `None` is no value at all (an empty window has no average),
    /// which neither fires nor clears: the key stays where it stood until a value says more.
    pub(super) fn step(&mut self, now: Option<Past>) -> Crossing {
        let Some(now) = now else {
            return Crossing::Nothing;
        };
        let before = std::mem::replace(self, now);
        match (before, now) {
            (b, n) if b == n => Crossing::Nothing,
            (_, Past::Within) => Crossing::Cleared,
            _ => Crossing::Fired,
        }
    }
}

/// The first instant (µs) an event at `t` is more than `window` old, so out of the window.
pub(super) fn leaves(t: i64, window: i64) -> i64 {
    t.saturating_add(window).saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_per_limit_and_clears_when_back_within() {
        let mut p = Past::default();
        assert_eq!(p.step(Some(Past::Within)), Crossing::Nothing);
        assert_eq!(p.step(Some(Past::Below)), Crossing::Fired);
        assert_eq!(p.step(Some(Past::Below)), Crossing::Nothing, "still below");
        assert_eq!(p.step(None), Crossing::Nothing, "no value says nothing");
        assert_eq!(p, Past::Below);
        assert_eq!(
            p.step(Some(Past::Above)),
            Crossing::Fired,
            "past the other limit"
        );
        assert_eq!(p.step(Some(Past::Within)), Crossing::Cleared);
        assert_eq!(leaves(0, 60), 61);
    }
}
