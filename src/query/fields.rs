//! Field types (declared in `klaxon.yaml` `fields:` to mirror the index mapping) and the
//! values a query compares them with: numbers, dates with Elasticsearch date math, IPs and
//! CIDR blocks. Parsed once at compile time; events' values are read without allocating.

use std::net::IpAddr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

/// How a field is indexed, and so how a query compares against it.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, Default, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Analyzed like Elasticsearch's `standard` analyzer (the default for undeclared fields).
    #[default]
    Text,
    /// Exact, case-sensitive, whole value.
    Keyword,
    /// Numeric comparisons.
    Number,
    /// Instants: RFC 3339, `yyyy-MM-dd`, epoch milliseconds, date math (`now-15m`).
    Date,
    /// IPv4/IPv6 addresses; terms may be CIDR blocks.
    Ip,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Keyword => "keyword",
            FieldType::Number => "number",
            FieldType::Date => "date",
            FieldType::Ip => "ip",
        }
    }
}

/// A number as a query or event writes it (`500`, `-1.5`, `1e3`).
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let n: f64 = s.trim().parse().ok()?;
    n.is_finite().then_some(n)
}

/// An IP address as a `u128`, IPv4 mapped into IPv6 so both families order on one line.
pub(crate) fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// An inclusive interval of addresses: one address or a CIDR block (`10.0.0.0/8`).
pub(crate) fn parse_ip_block(s: &str) -> Result<(u128, u128), String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?;
    let bits = ip_bits(ip);
    let Some(prefix) = prefix else {
        return Ok((bits, bits));
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u32 = prefix
        .parse()
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {max}"))?;
    // A v4 prefix counts within the mapped address's last 32 bits.
    let len = len + (128 - max);
    let host_mask = if len == 0 {
        u128::MAX
    } else {
        (1u128 << (128 - len)) - 1
    };
    Ok((bits & !host_mask, bits | host_mask))
}

/// A date as a query writes it: the instants it may stand for, from earliest to latest.
/// `2024-05-01` covers the whole day; `now/d` the whole current day; `now-15m` one instant.
/// Elasticsearch reads the earliest for `>=`/`<` and the latest for `>`/`<=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DateExpr {
    anchor: Anchor,
    /// `+1d`, `-15m`, `/d`, … applied in order, as Elasticsearch does (`now/d+6h` is
    /// six hours into today).
    steps: Box<[Step]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Add(i64, Unit),
    /// Widens to the whole unit: the earliest instant rounds down, the latest up.
    Round(Unit),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    Now,
    /// Epoch milliseconds of the earliest and latest instant the text names.
    Fixed(i64, i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Year,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
}

impl Unit {
    fn from_char(c: char) -> Option<Unit> {
        Some(match c {
            'y' => Unit::Year,
            'M' => Unit::Month,
            'w' => Unit::Week,
            'd' => Unit::Day,
            'h' | 'H' => Unit::Hour,
            'm' => Unit::Minute,
            's' => Unit::Second,
            _ => return None,
        })
    }
}

impl DateExpr {
    /// Parses `now`, `now-15m`, `now-1d/d`, a date or time, or `DATE||+1d`.
    pub(crate) fn parse(s: &str) -> Result<DateExpr, String> {
        let bad = |why: &str| format!("`{s}` is not a date: {why}");
        let (anchor, mut math) = if let Some(rest) = s.strip_prefix("now") {
            (Anchor::Now, rest)
        } else {
            let (date, math) = s.split_once("||").unwrap_or((s, ""));
            let (lo, hi) = parse_fixed(date).ok_or_else(|| {
                bad("expected RFC 3339 (2024-05-01T10:00:00Z), yyyy-MM-dd, epoch millis or now-15m")
            })?;
            (Anchor::Fixed(lo, hi), math)
        };
        let mut steps = Vec::new();
        while let Some(op) = math.chars().next() {
            let rest = &math[1..];
            match op {
                '+' | '-' => {
                    let digits =
                        rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                    let amount: i64 = if digits == 0 {
                        1
                    } else {
                        rest[..digits]
                            .parse()
                            .map_err(|_| bad("amount too large"))?
                    };
                    let unit = rest[digits..]
                        .chars()
                        .next()
                        .and_then(Unit::from_char)
                        .ok_or_else(|| bad("expected a unit (y M w d h m s) after the amount"))?;
                    steps.push(Step::Add(if op == '-' { -amount } else { amount }, unit));
                    math = &rest[digits + 1..];
                }
                '/' => {
                    let unit = rest
                        .chars()
                        .next()
                        .and_then(Unit::from_char)
                        .ok_or_else(|| bad("expected a unit (y M w d h m s) after `/`"))?;
                    steps.push(Step::Round(unit));
                    math = &rest[1..];
                }
                _ => return Err(bad("expected `+`, `-` or `/` in date math")),
            }
        }
        let expr = DateExpr {
            anchor,
            steps: steps.into(),
        };
        // Catches arithmetic that overflows the calendar at compile time, not per event.
        expr.resolve(0).ok_or_else(|| bad("out of range"))?;
        Ok(expr)
    }

    /// Whether the expression reads the clock.
    pub(crate) fn is_relative(&self) -> bool {
        self.anchor == Anchor::Now
    }

    /// Earliest and latest epoch milliseconds, with `now` at `now_ms`.
    pub(crate) fn resolve(&self, now_ms: i64) -> Option<(i64, i64)> {
        let (lo, hi) = match self.anchor {
            Anchor::Now => (now_ms, now_ms),
            Anchor::Fixed(lo, hi) => (lo, hi),
        };
        let mut lo = Utc.timestamp_millis_opt(lo).single()?;
        let mut hi = Utc.timestamp_millis_opt(hi).single()?;
        for step in self.steps.iter() {
            match *step {
                Step::Add(n, unit) => {
                    lo = add(lo, n, unit)?;
                    hi = add(hi, n, unit)?;
                }
                Step::Round(unit) => {
                    lo = floor(lo, unit)?;
                    hi = add(floor(hi, unit)?, 1, unit)? - Duration::milliseconds(1);
                }
            }
        }
        Some((lo.timestamp_millis(), hi.timestamp_millis()))
    }
}

fn add(t: DateTime<Utc>, n: i64, unit: Unit) -> Option<DateTime<Utc>> {
    let months = |m: i64| -> Option<DateTime<Utc>> {
        let m = u32::try_from(m.unsigned_abs()).ok()?;
        if n >= 0 {
            t.checked_add_months(chrono::Months::new(m))
        } else {
            t.checked_sub_months(chrono::Months::new(m))
        }
    };
    match unit {
        Unit::Year => months(n.checked_mul(12)?),
        Unit::Month => months(n),
        Unit::Week => t.checked_add_signed(Duration::try_weeks(n)?),
        Unit::Day => t.checked_add_signed(Duration::try_days(n)?),
        Unit::Hour => t.checked_add_signed(Duration::try_hours(n)?),
        Unit::Minute => t.checked_add_signed(Duration::try_minutes(n)?),
        Unit::Second => t.checked_add_signed(Duration::try_seconds(n)?),
    }
}

fn floor(t: DateTime<Utc>, unit: Unit) -> Option<DateTime<Utc>> {
    let day = t.date_naive();
    let midnight = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?).into();
    let secs = t.timestamp();
    let whole = |size: i64| Utc.timestamp_opt(secs.div_euclid(size) * size, 0).single();
    match unit {
        Unit::Year => midnight(NaiveDate::from_ymd_opt(day.year(), 1, 1)?),
        Unit::Month => midnight(NaiveDate::from_ymd_opt(day.year(), day.month(), 1)?),
        // Weeks start on Monday, as in Elasticsearch.
        Unit::Week => {
            midnight(day - Duration::days(i64::from(day.weekday().num_days_from_monday())))
        }
        Unit::Day => midnight(day),
        Unit::Hour => whole(3600),
        Unit::Minute => whole(60),
        Unit::Second => whole(1),
    }
}

/// A fixed date: RFC 3339, `yyyy-MM-ddTHH:mm:ss[.fff]` (UTC), `yyyy-MM-dd` (the whole day),
/// or epoch milliseconds.
fn parse_fixed(s: &str) -> Option<(i64, i64)> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        let ms = t.timestamp_millis();
        return Some((ms, ms));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            let ms = t.and_utc().timestamp_millis();
            return Some((ms, ms));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let start = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
        return Some((start, start + 86_400_000 - 1));
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let ms: i64 = s.parse().ok()?;
        Utc.timestamp_millis_opt(ms).single()?;
        return Some((ms, ms));
    }
    None
}

/// An event's date value in epoch milliseconds: a string date (as [`parse_fixed`], its
/// earliest instant) or a JSON number of epoch milliseconds.
pub(crate) fn event_date_ms(text: &str) -> Option<i64> {
    parse_fixed(text.trim()).map(|(lo, _)| lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn dates_cover_what_they_name() {
        let day = DateExpr::parse("2024-05-01").unwrap();
        assert_eq!(
            day.resolve(0),
            Some((ms("2024-05-01T00:00:00Z"), ms("2024-05-01T23:59:59.999Z")))
        );
        let t = DateExpr::parse("2024-05-01T10:00:00+02:00").unwrap();
        assert_eq!(
            t.resolve(0),
            Some((ms("2024-05-01T08:00:00Z"), ms("2024-05-01T08:00:00Z")))
        );
        let epoch = DateExpr::parse("1714557600000").unwrap();
        assert_eq!(epoch.resolve(0).unwrap().0, ms("2024-05-01T10:00:00Z"));
        assert!(!day.is_relative());
    }

    #[test]
    fn date_math_applies_its_steps_in_order() {
        let now = ms("2024-05-15T10:37:12.5Z");
        let e = DateExpr::parse("now-15m").unwrap();
        assert!(e.is_relative());
        assert_eq!(e.resolve(now), Some((now - 15 * 60_000, now - 15 * 60_000)));
        let e = DateExpr::parse("now-1d/d").unwrap();
        assert_eq!(
            e.resolve(now),
            Some((ms("2024-05-14T00:00:00Z"), ms("2024-05-14T23:59:59.999Z")))
        );
        let e = DateExpr::parse("now+1M/M").unwrap();
        assert_eq!(e.resolve(now).unwrap().0, ms("2024-06-01T00:00:00Z"));
        let e = DateExpr::parse("2024-01-31||+1M").unwrap();
        assert_eq!(e.resolve(0).unwrap().0, ms("2024-02-29T00:00:00Z"));
        let e = DateExpr::parse("now/w").unwrap();
        assert_eq!(e.resolve(now).unwrap().0, ms("2024-05-13T00:00:00Z"));
        let e = DateExpr::parse("now-2h/h").unwrap();
        assert_eq!(e.resolve(now).unwrap().0, ms("2024-05-15T08:00:00Z"));
        // Steps apply in order, as in Elasticsearch: rounding may come before an offset.
        let e = DateExpr::parse("now/d+6h").unwrap();
        assert_eq!(
            e.resolve(now),
            Some((ms("2024-05-15T06:00:00Z"), ms("2024-05-16T05:59:59.999Z")))
        );
        let e = DateExpr::parse("now/d-1h/h").unwrap();
        assert_eq!(
            e.resolve(now),
            Some((ms("2024-05-14T23:00:00Z"), ms("2024-05-15T22:59:59.999Z")))
        );
    }

    #[test]
    fn bad_dates_say_why() {
        for (s, why) in [
            ("yesterday", "expected RFC 3339"),
            ("now-15", "expected a unit"),
            ("now*2", "expected `+`, `-` or `/`"),
            ("now-99999999999y", "out of range"),
        ] {
            let e = DateExpr::parse(s).unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn ip_blocks_are_inclusive_ranges() {
        let (lo, hi) = parse_ip_block("10.0.0.0/8").unwrap();
        let ip = |s: &str| ip_bits(s.parse().unwrap());
        assert_eq!((lo, hi), (ip("10.0.0.0"), ip("10.255.255.255")));
        assert_eq!(
            parse_ip_block("192.168.1.7").unwrap(),
            (ip("192.168.1.7"), ip("192.168.1.7"))
        );
        let (lo, hi) = parse_ip_block("2001:db8::/32").unwrap();
        assert!(lo <= ip("2001:db8::1") && ip("2001:db8::1") <= hi);
        assert!(ip("2001:db9::") > hi);
        assert_eq!(
            parse_ip_block("0.0.0.0/0").unwrap().1,
            ip("255.255.255.255")
        );
        assert!(parse_ip_block("10.0.0.0/33")
            .unwrap_err()
            .contains("0 to 32"));
        assert!(parse_ip_block("10.0.0").unwrap_err().contains("not an IP"));
    }

    #[test]
    fn numbers_parse_finite_only() {
        assert_eq!(parse_number(" 500 "), Some(500.0));
        assert_eq!(parse_number("-1.5e3"), Some(-1500.0));
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("12ms"), None);
    }
}
