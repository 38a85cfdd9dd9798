//! A time zone as ops write it (`Asia/Shanghai`, `UTC`, `+08:00`, `local`): the zone
//! zone-less log timestamps are read in, and the zone alerts show times in.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, TimeZone as _, Utc};
use serde::{Deserialize, Deserializer};

/// A name that is neither an IANA zone, `UTC`, `local` nor an offset like `+08:00`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown timezone `{0}`: expected local, UTC, an IANA name such as Asia/Shanghai, or an offset such as +08:00")]
pub struct UnknownTimeZone(pub String);

/// Where a zone-less timestamp such as `2026-06-08 11:00:00` was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeZone {
    /// The zone of the machine Klaxon runs on (the default: logs are usually written
    /// by processes on the same host).
    #[default]
    Local,
    Utc,
    /// An IANA zone such as `Asia/Shanghai`, with its daylight-saving rules.
    Named(chrono_tz::Tz),
    /// A fixed offset such as `+08:00`.
    Fixed(FixedOffset),
}

impl TimeZone {
    /// The instant `naive` names in this zone. A local time that occurs twice (clocks
    /// turned back) resolves to the earlier instant; one that never occurs (clocks turned
    /// forward) to `None`.
    pub fn resolve(&self, naive: &NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            TimeZone::Local => Local
                .from_local_datetime(naive)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
            TimeZone::Utc => Some(naive.and_utc()),
            TimeZone::Named(tz) => tz
                .from_local_datetime(naive)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
            TimeZone::Fixed(offset) => offset
                .from_local_datetime(naive)
                .single()
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

impl FromStr for TimeZone {
    type Err = UnknownTimeZone;

    fn from_str(s: &str) -> Result<Self, UnknownTimeZone> {
        match s {
            "local" => return Ok(TimeZone::Local),
            "UTC" | "utc" | "Z" => return Ok(TimeZone::Utc),
            _ => {}
        }
        if s.starts_with(['+', '-']) {
            if let Ok(offset) = s.parse::<FixedOffset>() {
                return Ok(TimeZone::Fixed(offset));
            }
        }
        s.parse::<chrono_tz::Tz>()
            .map(TimeZone::Named)
            .map_err(|_| UnknownTimeZone(s.to_string()))
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeZone::Local => f.write_str("local"),
            TimeZone::Utc => f.write_str("UTC"),
            TimeZone::Named(tz) => f.write_str(tz.name()),
            TimeZone::Fixed(offset) => write!(f, "{offset}"),
        }
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn names_offsets_and_utc_parse_and_resolve() {
        let shanghai: TimeZone = "Asia/Shanghai".parse().unwrap();
        assert_eq!(shanghai.to_string(), "Asia/Shanghai");
        assert_eq!(
            shanghai.resolve(&naive("2026-06-08 11:00:00")),
            Some(utc("2026-06-08T03:00:00Z"))
        );
        let fixed: TimeZone = "+05:30".parse().unwrap();
        assert_eq!(
            fixed.resolve(&naive("2026-06-08 08:30:00")),
            Some(utc("2026-06-08T03:00:00Z"))
        );
        assert_eq!("UTC".parse::<TimeZone>().unwrap(), TimeZone::Utc);
        assert_eq!("local".parse::<TimeZone>().unwrap(), TimeZone::Local);
        let err = "Mars/Olympus".parse::<TimeZone>().unwrap_err().to_string();
        assert!(err.contains("Mars/Olympus"), "{err}");
    }

    #[test]
    fn daylight_saving_gaps_and_overlaps() {
        let berlin: TimeZone = "Europe/Berlin".parse().unwrap();
        // 2026-03-29 02:30 never happens in Berlin (02:00 → 03:00).
        assert_eq!(berlin.resolve(&naive("2026-03-29 02:30:00")), None);
        // 2026-10-25 02:30 happens twice; the first is still summer time (+02:00).
        assert_eq!(
            berlin.resolve(&naive("2026-10-25 02:30:00")),
            Some(utc("2026-10-25T00:30:00Z"))
        );
    }
}
