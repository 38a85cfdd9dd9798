//! Times as messages show them: in the display time zone the team reads (`display_timezone`,
//! or a channel's `timezone`), with UTC beside it so people in other zones and the logs
//! agree on the instant.

use chrono::{DateTime, Local, SecondsFormat, Utc};

use crate::types::TimeZone;

/// How one channel writes times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    zone: TimeZone,
}

/// UTC unless configured: a message means the same wherever it is read.
impl Default for Times {
    fn default() -> Self {
        Times::new(TimeZone::Utc)
    }
}

const FULL: &str = "%Y-%m-%d %H:%M:%S";

impl Times {
    pub fn new(zone: TimeZone) -> Self {
        Times { zone }
    }

    /// `2026-06-08 03:00:00 UTC`, or `2026-06-08 11:00:00 CST (03:00:00 UTC)` in another
    /// zone; the UTC part carries its date when that differs.
    pub fn show(&self, t: DateTime<Utc>) -> String {
        let utc_text = t.format("%H:%M:%S UTC").to_string();
        let (local, date) = match self.zone {
            TimeZone::Utc => return t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            TimeZone::Named(tz) => {
                let l = t.with_timezone(&tz);
                (l.format("%Y-%m-%d %H:%M:%S %Z").to_string(), l.date_naive())
            }
            TimeZone::Fixed(offset) => {
                let l = t.with_timezone(&offset);
                (
                    l.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
                    l.date_naive(),
                )
            }
            TimeZone::Local => {
                let l = t.with_timezone(&Local);
                (
                    l.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
                    l.date_naive(),
                )
            }
        };
        if date == t.date_naive() {
            format!("{local} ({utc_text})")
        } else {
            format!("{local} ({} UTC)", t.format(FULL))
        }
    }

    /// A table cell: `2026-06-08 11:00:00` in the display zone (the zone is named once,
    /// by [`Times::zone_name`]).
    pub fn cell(&self, t: DateTime<Utc>) -> String {
        match self.zone {
            TimeZone::Utc => t.format(FULL).to_string(),
            TimeZone::Named(tz) => t.with_timezone(&tz).format(FULL).to_string(),
            TimeZone::Fixed(offset) => t.with_timezone(&offset).format(FULL).to_string(),
            TimeZone::Local => t.with_timezone(&Local).format(FULL).to_string(),
        }
    }

    /// `UTC`, `Asia/Shanghai`, `+08:00`, `local`.
    pub fn zone_name(&self) -> String {
        self.zone.to_string()
    }
}

/// `2026-06-08T03:00:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 8, h, 0, 30).unwrap()
    }

    #[test]
    fn shows_the_display_zone_with_utc() {
        let shanghai = Times::new("Asia/Shanghai".parse().unwrap());
        assert_eq!(
            shanghai.show(at(3)),
            "2026-06-08 11:00:30 CST (03:00:30 UTC)"
        );
        // 17:00 UTC is already the next day in Shanghai.
        assert_eq!(
            shanghai.show(at(17)),
            "2026-06-09 01:00:30 CST (2026-06-08 17:00:30 UTC)"
        );
        assert_eq!(shanghai.cell(at(3)), "2026-06-08 11:00:30");
        assert_eq!(Times::default().show(at(3)), "2026-06-08 03:00:30 UTC");
        let fixed = Times::new("-05:00".parse().unwrap());
        assert_eq!(
            fixed.show(at(3)),
            "2026-06-07 22:00:30 -05:00 (2026-06-08 03:00:30 UTC)"
        );
    }
}
