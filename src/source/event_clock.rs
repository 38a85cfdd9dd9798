//! Event time per source: the clock clock-fired rules (`flatline`, `spike`, `absence`)
//! run on.
//!
//! A source's clock is the newest event time it has produced. When the source goes quiet it
//! keeps moving with wall time — after `IDLE_GRACE`, so the gap between batches of a busy
//! source is not mistaken for silence — so a flatline or an absence fires on a quiet system.
//! The clock never goes back. On restart it resumes where it stood (the downtime is not
//! idle time: the backlog written meanwhile is read first).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

/// How long a source must produce nothing before its clock follows wall time.
pub const IDLE_GRACE: Duration = Duration::seconds(2);

/// Where a source's event-time clock stands, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceClockState {
    pub source: String,
    /// Newest event time seen.
    pub event_max: Option<DateTime<Utc>>,
    /// The furthest the clock has been read (it never goes back).
    pub reported: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct SourceClock {
    event_max: Option<DateTime<Utc>>,
    /// Wall time when `event_max` last moved (or the clock started).
    wall_at: DateTime<Utc>,
    reported: Option<DateTime<Utc>>,
    dirty: bool,
}

/// The clocks of every source the rules read.
#[derive(Debug, Clone)]
pub struct SourceClocks {
    clocks: BTreeMap<String, SourceClock>,
    /// false for offline replay: only events move the clock.
    follow_wall: bool,
}

impl SourceClocks {
    pub fn new<'a>(
        sources: impl IntoIterator<Item = &'a str>,
        wall: DateTime<Utc>,
        follow_wall: bool,
    ) -> Self {
        let mut clocks = SourceClocks {
            clocks: BTreeMap::new(),
            follow_wall,
        };
        for s in sources {
            clocks.add(s, wall);
        }
        clocks
    }

    /// Starts a clock for a source the rules did not read before (after a reload).
    pub fn add(&mut self, source: &str, wall: DateTime<Utc>) {
        self.clocks
            .entry(source.to_string())
            .or_insert(SourceClock {
                event_max: None,
                wall_at: wall,
                reported: None,
                dirty: false,
            });
    }

    /// Puts back stored clocks; idle time starts counting at `wall`, not at the crash.
    pub fn restore(&mut self, stored: Vec<SourceClockState>, wall: DateTime<Utc>) {
        for s in stored {
            if let Some(c) = self.clocks.get_mut(&s.source) {
                c.event_max = s.event_max;
                c.reported = s.reported;
                c.wall_at = wall;
            }
        }
    }

    /// An event of `source` at `t` was read at `wall`.
    pub fn saw(&mut self, source: &str, t: DateTime<Utc>, wall: DateTime<Utc>) {
        let Some(c) = self.clocks.get_mut(source) else {
            return;
        };
        if c.event_max.is_none_or(|m| t > m) {
            c.event_max = Some(t);
            c.wall_at = wall;
            c.dirty = true;
        }
    }

    /// The clock of `source` at `wall`; `None` before it has any notion of time.
    pub fn now(&mut self, source: &str, wall: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let follow = self.follow_wall;
        let c = self.clocks.get_mut(source)?;
        let idle = wall - c.wall_at - IDLE_GRACE;
        let computed = match c.event_max {
            Some(m) if follow && idle > Duration::zero() => Some(
                m.checked_add_signed(idle)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            ),
            Some(m) => Some(m),
            // A source that never produced an event: its clock is wall time, once idle.
            None if follow && idle >= Duration::zero() => wall.checked_sub_signed(IDLE_GRACE),
            None => None,
        };
        let now = match (computed, c.reported) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if now != c.reported {
            c.reported = now;
            c.dirty = true;
        }
        now
    }

    /// The newest event time of `source` (the end of input, offline).
    pub fn event_max(&self, source: &str) -> Option<DateTime<Utc>> {
        self.clocks.get(source)?.event_max
    }

    /// Clocks that moved since the last call.
    pub fn take_changes(&mut self) -> Vec<SourceClockState> {
        self.clocks
            .iter_mut()
            .filter_map(|(source, c)| {
                std::mem::take(&mut c.dirty).then(|| SourceClockState {
                    source: source.clone(),
                    event_max: c.event_max,
                    reported: c.reported,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + s, 0).unwrap()
    }

    #[test]
    fn follows_events_then_wall_time_when_idle_and_never_goes_back() {
        let wall0 = t(1000);
        let mut c = SourceClocks::new(["s"], wall0, true);
        assert_eq!(c.now("s", wall0), None, "no events, not idle yet");
        c.saw("s", t(10), wall0);
        assert_eq!(
            c.now("s", wall0 + Duration::seconds(2)),
            Some(t(10)),
            "within grace"
        );
        // Idle 7s past the grace: the clock moved on by 7s.
        assert_eq!(c.now("s", wall0 + Duration::seconds(9)), Some(t(17)));
        // An older event does not move it back.
        c.saw("s", t(12), wall0 + Duration::seconds(9));
        assert_eq!(c.now("s", wall0 + Duration::seconds(9)), Some(t(17)));
        let changes = c.take_changes();
        assert_eq!(changes[0].reported, Some(t(17)));
        assert!(c.take_changes().is_empty());
    }

    #[test]
    fn replay_moves_only_with_events_and_restore_does_not_count_downtime() {
        let mut offline = SourceClocks::new(["s"], t(0), false);
        offline.saw("s", t(5), t(0));
        assert_eq!(offline.now("s", t(10_000)), Some(t(5)));
        let mut quiet = SourceClocks::new(["q"], t(0), true);
        assert_eq!(
            quiet.now("q", t(3)),
            Some(t(1)),
            "a silent source runs on wall time"
        );

        let mut c = SourceClocks::new(["s"], t(0), true);
        c.restore(
            vec![SourceClockState {
                source: "s".into(),
                event_max: Some(t(50)),
                reported: Some(t(50)),
            }],
            t(5000),
        );
        assert_eq!(
            c.now("s", t(5001)),
            Some(t(50)),
            "downtime is not idle time"
        );
        assert_eq!(c.now("s", t(5010)), Some(t(58)));
    }
}
