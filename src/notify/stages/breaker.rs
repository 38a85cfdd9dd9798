//! A circuit breaker per channel: after repeated failures it stops sending for a cool-down
//! (doubling each time it opens again, up to a cap), then lets one probe through; a success
//! closes it. A dead endpoint is not hammered, and recovery needs no one.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Consecutive failures that open the breaker.
pub const TRIP_AFTER: u32 = 5;
const FIRST_COOL_DOWN: Duration = Duration::from_secs(30);
const MAX_COOL_DOWN: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    /// No sends until then.
    Open {
        until: DateTime<Utc>,
    },
    /// One probe may go.
    HalfOpen,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    failures: u32,
    cool_down: Duration,
    open_until: Option<DateTime<Utc>>,
    /// Opened at least once since the last success.
    tripped: bool,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            failures: 0,
            cool_down: FIRST_COOL_DOWN,
            open_until: None,
            tripped: false,
        }
    }
}

impl Breaker {
    pub fn state(&self, now: DateTime<Utc>) -> BreakerState {
        match self.open_until {
            Some(until) if now < until => BreakerState::Open { until },
            Some(_) => BreakerState::HalfOpen,
            None => BreakerState::Closed,
        }
    }

    /// It opened since the last success.
    pub fn tripped(&self) -> bool {
        self.tripped
    }

    pub fn success(&mut self) {
        *self = Breaker::default();
    }

    /// A failure the channel (not the message) is to blame for; `Some(until)` when the
    /// breaker opens because of it.
    pub fn failure(&mut self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.failures += 1;
        let probe_failed = matches!(self.state(now), BreakerState::HalfOpen);
        if self.failures < TRIP_AFTER && !probe_failed {
            return None;
        }
        if self.tripped {
            self.cool_down = (self.cool_down * 2).min(MAX_COOL_DOWN);
        }
        self.tripped = true;
        let until = now
            .checked_add_signed(chrono::Duration::from_std(self.cool_down).unwrap_or_default())
            .unwrap_or(now);
        self.open_until = Some(until);
        Some(until)
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
    fn opens_after_repeated_failures_probes_and_recovers_by_itself() {
        let mut b = Breaker::default();
        for _ in 0..TRIP_AFTER - 1 {
            assert_eq!(b.failure(t(0)), None);
        }
        assert_eq!(b.failure(t(0)), Some(t(30)));
        assert_eq!(b.state(t(10)), BreakerState::Open { until: t(30) });
        assert_eq!(b.state(t(30)), BreakerState::HalfOpen);
        // The probe fails: open again, twice as long.
        assert_eq!(b.failure(t(30)), Some(t(90)));
        assert_eq!(b.state(t(90)), BreakerState::HalfOpen);
        b.success();
        assert_eq!(b.state(t(91)), BreakerState::Closed);
        assert_eq!(b.failure(t(91)), None, "counting starts over");
    }
}
