//! Retries by deadline, not by count: exponential backoff with jitter, for as long as the
//! alert is younger than the channel's `max_age`; then it is a dead letter.

use std::time::Duration;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Give up on an alert this long after it fired.
    pub max_age: Duration,
    /// The first wait; each failure doubles it, up to `cap`.
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_age: Duration::from_secs(24 * 3600),
            base: Duration::from_secs(5),
            cap: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// When to try again after `attempts` failures of an alert fired at `fired_at`;
    /// `None` once that would be past its deadline. `jitter` in `[0, 1)` spreads retries of
    /// many alerts (±20 %) so they do not hit a recovering endpoint at once.
    pub fn next_attempt(
        &self,
        attempts: u32,
        fired_at: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> Option<DateTime<Utc>> {
        let backoff = self
            .base
            .saturating_mul(1u32 << attempts.min(16))
            .min(self.cap);
        let spread = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        let wait = backoff.mul_f64(spread);
        let next = now.checked_add_signed(chrono::Duration::from_std(wait).ok()?)?;
        let deadline =
            fired_at.checked_add_signed(chrono::Duration::from_std(self.max_age).ok()?)?;
        (next <= deadline).then_some(next)
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
    fn backs_off_exponentially_with_jitter_until_the_deadline() {
        let p = RetryPolicy {
            max_age: Duration::from_secs(3600),
            ..RetryPolicy::default()
        };
        assert_eq!(p.next_attempt(0, t(0), t(0), 0.5), Some(t(5)));
        assert_eq!(p.next_attempt(3, t(0), t(0), 0.5), Some(t(40)));
        assert_eq!(p.next_attempt(30, t(0), t(0), 0.5), Some(t(600)), "capped");
        assert_eq!(p.next_attempt(0, t(0), t(0), 0.0), Some(t(4)));
        assert_eq!(
            p.next_attempt(0, t(0), t(0), 0.999).unwrap().timestamp(),
            t(5).timestamp()
        );
        // Past the alert's deadline: no more attempts.
        assert_eq!(p.next_attempt(30, t(0), t(3300), 0.5), None);
        assert!(p.next_attempt(0, t(0), t(3597), 0.5).is_none());
    }
}
