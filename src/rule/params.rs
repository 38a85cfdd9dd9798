//! Parameters of rule types that rule files name (`spike_type`, `metric`, `mismatch` sides),
//! and the defaults of the keys every rule type shares.

use serde::Deserialize;

/// Keys per rule kept in memory unless `max_keys` says otherwise.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// How late (behind the source's clock) an event may arrive and still count, unless
/// `allowed_lateness` says otherwise.
pub const DEFAULT_ALLOWED_LATENESS: std::time::Duration = std::time::Duration::from_secs(30);

/// Where one side of a `mismatch` reads its value.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MismatchSide {
    /// The source (default: the rule's).
    #[serde(default)]
    pub source: Option<String>,
    /// Which of the rule's events are this side's (default: all of its source).
    #[serde(default)]
    pub query: Option<String>,
    /// The field holding the value.
    pub field: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SpikeDirection {
    Up,
    Down,
    #[default]
    Both,
}

/// The aggregate a `metric` rule computes over its window.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub enum MetricKind {
    Min,
    Max,
    Avg,
    Sum,
    /// p50 … p99.
    Percentile(u8),
}

impl TryFrom<String> for MetricKind {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let p = |n: &str| n.parse::<u8>().ok().filter(|n| (50..=99).contains(n));
        match s.as_str() {
            "min" => Ok(MetricKind::Min),
            "max" => Ok(MetricKind::Max),
            "avg" => Ok(MetricKind::Avg),
            "sum" => Ok(MetricKind::Sum),
            other => match other.strip_prefix('p').and_then(p) {
                Some(n) => Ok(MetricKind::Percentile(n)),
                None => Err(format!(
                    "unknown metric `{other}`; expected min, max, avg, sum or p50 … p99"
                )),
            },
        }
    }
}

impl std::fmt::Display for MetricKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetricKind::Min => f.write_str("min"),
            MetricKind::Max => f.write_str("max"),
            MetricKind::Avg => f.write_str("avg"),
            MetricKind::Sum => f.write_str("sum"),
            MetricKind::Percentile(n) => write!(f, "p{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_kinds_parse_and_refuse_clearly() {
        assert_eq!(
            MetricKind::try_from("p95".to_string()),
            Ok(MetricKind::Percentile(95))
        );
        assert_eq!(MetricKind::try_from("avg".to_string()), Ok(MetricKind::Avg));
        let err = MetricKind::try_from("p100".to_string()).unwrap_err();
        assert!(err.contains("p50 … p99"), "{err}");
        assert_eq!(MetricKind::Percentile(99).to_string(), "p99");
    }
}
