//! A channel's rate limit: sends spaced evenly (`18/min` is one every 3⅓ s), so no window of
//! any length ever holds more than the limit plus one, and a pause the destination asked for
//! (HTTP 429, DingTalk 130101) holds the whole channel.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// A backlog the limit cannot send one by one within this long is merged into a digest:
/// a few alerts at once still go out whole (each with its sample and link), a flood does
/// not wait for hours.
pub const DIGEST_HORIZON: Duration = Duration::from_secs(60);

/// The longest pause a destination can impose (a `Retry-After: 999999` is not obeyed).
pub const MAX_PAUSE: Duration = Duration::from_secs(3600);

/// `count` messages per `per`, written `18/min`, `1/s`, `600/h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub per: Duration,
}

impl RateLimit {
    pub const fn per_minute(count: u32) -> Self {
        RateLimit {
            count,
            per: Duration::from_secs(60),
        }
    }

    pub const fn per_second(count: u32) -> Self {
        RateLimit {
            count,
            per: Duration::from_secs(1),
        }
    }

    /// The spacing between two sends.
    pub fn interval(self) -> Duration {
        self.per / self.count.max(1)
    }
}

impl std::str::FromStr for RateLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid rate limit `{s}`; expected e.g. 18/min, 1/s or 600/h");
        let (count, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!("rate limit `{s}` allows nothing; at least 1"));
        }
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        Ok(RateLimit { count, per })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

crate::types::impl_text_schema!(
    RateLimit,
    "RateLimit",
    "Messages per second, minute or hour: `18/min`, `1/s`, `600/h`.",
    r"\s*[0-9]+\s*/\s*(?:s|sec|second|m|min|minute|h|hour)\s*"
);

/// When the channel may send next.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    limit: Option<RateLimit>,
    /// Earliest next send by the limit.
    next: Option<DateTime<Utc>>,
    /// The destination asked to wait until then.
    paused_until: Option<DateTime<Utc>>,
}

impl RateLimiter {
    /// `None`: no limit of Klaxon's own (pauses the destination asks for still hold).
    pub fn new(limit: Option<RateLimit>) -> Self {
        RateLimiter {
            limit,
            next: None,
            paused_until: None,
        }
    }

    pub fn limit(&self) -> Option<RateLimit> {
        self.limit
    }

    /// When a send may go: `now` if it may go now.
    pub fn ready_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        [Some(now), self.next, self.paused_until]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(now)
    }

    /// A send goes now: the next one waits one interval.
    pub fn take(&mut self, now: DateTime<Utc>) {
        if let Some(limit) = self.limit {
            let interval = chrono::Duration::from_std(limit.interval()).unwrap_or_default();
            self.next = now.checked_add_signed(interval);
        }
    }

    /// Whether `waiting` messages are more than the limit lets through within
    /// [`DIGEST_HORIZON`]: sent one by one, the last would be that late.
    pub fn behind(&self, waiting: usize) -> bool {
        self.limit.is_some_and(|l| {
            let one_by_one = l
                .interval()
                .saturating_mul(u32::try_from(waiting).unwrap_or(u32::MAX));
            one_by_one > DIGEST_HORIZON
        })
    }

    /// The destination said "too many": hold the channel `wait` (capped at [`MAX_PAUSE`];
    /// one interval of the limit, or a minute, when it did not say).
    pub fn pause(&mut self, now: DateTime<Utc>, wait: Option<Duration>) -> DateTime<Utc> {
        let fallback = self.limit.map_or(Duration::from_secs(60), |l| {
            l.interval().max(Duration::from_secs(1))
        });
        let wait = wait.unwrap_or(fallback).min(MAX_PAUSE);
        let until = now
            .checked_add_signed(chrono::Duration::from_std(wait).unwrap_or_default())
            .unwrap_or(now);
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
        until
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_780_000_000_000 + ms).unwrap()
    }

    #[test]
    fn parses_and_prints_limits() {
        let l: RateLimit = "18/min".parse().unwrap();
        assert_eq!(l, RateLimit::per_minute(18));
        assert_eq!(l.to_string(), "18/min");
        assert_eq!(
            "1/s".parse::<RateLimit>().unwrap().interval(),
            Duration::from_secs(1)
        );
        assert!("0/s"
            .parse::<RateLimit>()
            .unwrap_err()
            .contains("at least 1"));
        assert!("fast".parse::<RateLimit>().is_err());
    }

    #[test]
    fn sends_are_spaced_and_pauses_hold_the_channel_capped() {
        let mut l = RateLimiter::new(Some(RateLimit::per_minute(18)));
        assert_eq!(l.ready_at(t(0)), t(0));
        l.take(t(0));
        let interval = chrono::Duration::from_std(Duration::from_secs(60) / 18).unwrap();
        assert_eq!(l.ready_at(t(1)), t(0) + interval);
        let until = l.pause(t(1), Some(Duration::from_secs(600)));
        assert_eq!(until, t(600_001));
        assert_eq!(l.ready_at(t(5000)), t(600_001));
        let capped = l.pause(t(0), Some(Duration::from_secs(999_999)));
        assert_eq!(capped, t(3_600_000));
        // In any window of 60 s, at most 18 + 1 sends.
        let mut l = RateLimiter::new(Some(RateLimit::per_minute(18)));
        let mut sent = Vec::new();
        let mut now = t(0);
        while now < t(600_000) {
            let at = l.ready_at(now);
            l.take(at);
            sent.push(at);
            now = at;
        }
        for (i, start) in sent.iter().enumerate() {
            let in_window = sent[i..]
                .iter()
                .take_while(|s| **s < *start + chrono::Duration::seconds(60))
                .count();
            assert!(in_window <= 19, "{in_window}");
        }
    }
}
