//! ElastAlert's durations (`timeframe`, `realert`, …) are Python `timedelta` keyword
//! arguments: `{minutes: 5}`, `{hours: 1, minutes: 30}`, fractions allowed.

use std::time::Duration;

use serde_json::Value;

use crate::types::MAX_DURATION;

/// The duration a `{unit: n, …}` map names, in whole milliseconds; the error says why not.
pub fn timedelta(value: &Value) -> Result<Duration, String> {
    let Value::Object(parts) = value else {
        return Err(format!(
            "expected a map such as {{minutes: 5}}, found `{}`",
            super::short(value)
        ));
    };
    if parts.is_empty() {
        return Err("an empty duration map".into());
    }
    let mut ms = 0f64;
    for (unit, n) in parts {
        let size = match unit.as_str() {
            "weeks" => 604_800_000.0,
            "days" => 86_400_000.0,
            "hours" => 3_600_000.0,
            "minutes" => 60_000.0,
            "seconds" => 1000.0,
            "milliseconds" => 1.0,
            "microseconds" => 0.001,
            other => {
                return Err(format!(
                    "unknown unit `{other}` (weeks, days, hours, minutes, seconds, milliseconds)"
                ))
            }
        };
        let n = n
            .as_f64()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| format!("`{unit}` must be a number of at least 0"))?;
        ms += n * size;
    }
    let ms = ms.round();
    if ms > MAX_DURATION.as_millis() as f64 {
        return Err("longer than 3650d, Klaxon's longest duration".into());
    }
    Ok(Duration::from_millis(ms as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn units_add_up() {
        let d = |v| crate::types::HumanDuration(timedelta(&v).unwrap()).to_string();
        assert_eq!(d(json!({"minutes": 5})), "5m");
        assert_eq!(d(json!({"hours": 1, "minutes": 30})), "1h30m");
        assert_eq!(d(json!({"weeks": 1})), "7d");
        assert_eq!(d(json!({"minutes": 0.5})), "30s");
        assert_eq!(d(json!({"seconds": 1.5})), "1s500ms");
        assert_eq!(d(json!({"minutes": 0})), "0s");
    }

    #[test]
    fn bad_durations_say_why() {
        assert!(timedelta(&json!(5)).unwrap_err().contains("{minutes: 5}"));
        assert!(timedelta(&json!({"fortnights": 1}))
            .unwrap_err()
            .contains("unknown unit"));
        assert!(timedelta(&json!({"minutes": -1}))
            .unwrap_err()
            .contains("at least 0"));
        assert!(timedelta(&json!({"days": 4000}))
            .unwrap_err()
            .contains("3650d"));
        assert!(timedelta(&json!({"days": 1e300}))
            .unwrap_err()
            .contains("3650d"));
    }
}
