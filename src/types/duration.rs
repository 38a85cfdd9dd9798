//! Durations as ops write them: `500ms`, `30s`, `1m`, `10m`, `72h`, `7d`, or combined `1h30m`.

use std::fmt;
use std::time::Duration;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// The longest duration any setting takes: 10 years. Past it a setting is refused, so no
/// window, hold or retention can overflow a date or silence a rule for millennia.
pub const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);

/// A `std::time::Duration` that deserializes from `1m`-style text (or a bare number of
/// seconds), at most [`MAX_DURATION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn as_chrono(self) -> chrono::Duration {
        chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
        ] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        if ms > 0 {
            write!(f, "{ms}ms")?;
        }
        Ok(())
    }
}

/// Parses `1h30m`, `500ms`, `10s`, `0` (at most [`MAX_DURATION`]); the error says what is
/// accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; expected e.g. 30s, 1m, 10m, 2h, 7d".into());
    }
    let too_long = || format!("duration `{text}` is too long: at most 3650d (10 years)");
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let secs = s.parse::<u64>().map_err(|_| too_long())?;
        return bounded(Duration::from_secs(secs)).ok_or_else(too_long);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration `{text}`; expected a number followed by ms, s, m, h or d (e.g. 1m, 1h30m)"
            ));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| too_long())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let (per, millis) = match unit {
            "ms" => (1, true),
            "s" => (1, false),
            "m" => (60, false),
            "h" => (3600, false),
            "d" => (86_400, false),
            _ => {
                return Err(format!(
                    "unknown unit `{unit}` in duration `{text}`; expected ms, s, m, h or d"
                ))
            }
        };
        let part = match (n.checked_mul(per), millis) {
            (Some(ms), true) => Duration::from_millis(ms),
            (Some(secs), false) => Duration::from_secs(secs),
            (None, _) => return Err(too_long()),
        };
        total = total.checked_add(part).ok_or_else(too_long)?;
    }
    bounded(total).ok_or_else(too_long)
}

fn bounded(d: Duration) -> Option<Duration> {
    (d <= MAX_DURATION).then_some(d)
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 30s, 1m, 10m, 2h or 7d")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                parse_duration(&v.to_string())
                    .map(HumanDuration)
                    .map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom("a duration cannot be negative")),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                parse_duration(v).map(HumanDuration).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Written back as rule files write it (`1h30m`): the canonical form state identities hash.
impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("10x")
            .unwrap_err()
            .contains("unknown unit `x`"));
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn durations_are_bounded_and_never_overflow() {
        assert_eq!(parse_duration("3650d").unwrap(), MAX_DURATION);
        for text in [
            "3651d",
            "100000000d",
            "18446744073709551615d",
            "99999999999999999999999s",
            "18446744073709551615",
            "3650d1ms",
        ] {
            let e = parse_duration(text).unwrap_err();
            assert!(e.contains("at most 3650d"), "{text}: {e}");
        }
        let e = serde_saphyr::from_str::<HumanDuration>("999999999999").unwrap_err();
        assert!(e.to_string().contains("at most 3650d"), "{e}");
    }

    #[test]
    fn displays_compactly() {
        assert_eq!(
            HumanDuration(Duration::from_secs(5400)).to_string(),
            "1h30m"
        );
        assert_eq!(
            HumanDuration(Duration::from_millis(1500)).to_string(),
            "1s500ms"
        );
    }
}
