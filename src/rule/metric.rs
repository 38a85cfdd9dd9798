//! `type: metric`: an aggregate (`min`, `max`, `avg`, `sum`, `p50`…`p99`) of a numeric
//! field within `window` per key goes `above` or `below` a threshold — payment latency p95
//! over 2s, refunds summing over a limit. The window ends at the key's newest event and
//! reaches back `window`, inclusive. Fires when the value crosses the limit, and again only
//! after it has come back; coming back is the condition clearing, so the alert resolves
//! then (a queue's backlog drained). Fields that are not numbers (or numeric strings) are
//! ignored.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{
    human, insert_sorted, micros, span, time_of, BuildContext, Keyed, Match, Params, RuleError,
    RuleStats, RuleType, StateChange,
};
use crate::event::Event;
use crate::types::{rounded, HumanDuration};

/// `type: metric` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricParams {
    /// The numeric field.
    pub field: String,
    pub window: HumanDuration,
    /// min, max, avg, sum, or p50 … p99.
    pub metric: MetricKind,
    /// Fire when the value goes above this.
    #[serde(default)]
    pub above: Option<f64>,
    /// Fire when the value goes below this.
    #[serde(default)]
    pub below: Option<f64>,
}

impl Params for MetricParams {
    const STATE_VERSION: u32 = 1;

    fn counted_over(&self) -> Option<HumanDuration> {
        Some(self.window)
    }

    fn build(&self, cx: &mut BuildContext<'_>) -> Option<Box<dyn RuleType>> {
        let window = cx.positive("window", self.window);
        cx.any_of(
            "metric",
            ("above", self.above.is_some()),
            ("below", self.below.is_some()),
        );
        Some(Box::new(MetricRule::new(Metric {
            field: self.field.clone(),
            kind: self.metric,
            window,
            above: self.above,
            below: self.below,
            cap: cx.max_keys,
        })))
    }
}

/// The aggregate a `metric` rule computes over its window.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String", into = "String")]
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

impl From<MetricKind> for String {
    fn from(kind: MetricKind) -> String {
        kind.to_string()
    }
}

/// A metric rule's settings, in runtime values.
pub struct Metric {
    pub field: String,
    pub kind: MetricKind,
    pub window: Duration,
    pub above: Option<f64>,
    pub below: Option<f64>,
    pub cap: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Series {
    times: VecDeque<i64>,
    /// Parallel to `times`.
    values: VecDeque<f64>,
    firing: bool,
}

pub struct MetricRule {
    p: Metric,
    window: i64,
    keys: Keyed<Series>,
    /// Reused for percentiles.
    scratch: Vec<f64>,
    /// Keys back within the limits since `settle` last ran: their alerts resolve.
    cleared: Vec<String>,
}

impl MetricRule {
    pub fn new(p: Metric) -> Self {
        MetricRule {
            window: span(p.window),
            keys: Keyed::new(p.cap),
            scratch: Vec::new(),
            cleared: Vec::new(),
            p,
        }
    }
}

/// The aggregate of non-empty `values`; percentiles by nearest rank.
fn aggregate(kind: MetricKind, values: &VecDeque<f64>, scratch: &mut Vec<f64>) -> f64 {
    match kind {
        MetricKind::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        MetricKind::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        MetricKind::Sum => values.iter().sum(),
        MetricKind::Avg => values.iter().sum::<f64>() / values.len() as f64,
        MetricKind::Percentile(p) => {
            scratch.clear();
            scratch.extend(values.iter().copied());
            scratch.sort_unstable_by(f64::total_cmp);
            let rank = (f64::from(p) / 100.0 * scratch.len() as f64).ceil() as usize;
            scratch[rank.clamp(1, scratch.len()) - 1]
        }
    }
}

fn number(event: &Event, field: &str) -> Option<f64> {
    match event.value(field) {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|v: &f64| v.is_finite())
}

impl RuleType for MetricRule {
    fn fields(&self) -> Option<Vec<String>> {
        Some(vec![self.p.field.clone()])
    }

    fn observe(&mut self, key: &str, event: &Event, _now: DateTime<Utc>) -> Option<Match> {
        let value = number(event, &self.p.field)?;
        let t = micros(event.time);
        let s = self.keys.touch(key, Series::default);
        let at = insert_sorted(&mut s.times, t);
        s.values.insert(at, value);
        let newest = *s.times.back().expect("just inserted");
        while s
            .times
            .front()
            .is_some_and(|&x| x < newest.saturating_sub(self.window))
        {
            s.times.pop_front();
            s.values.pop_front();
        }
        let v = aggregate(self.p.kind, &s.values, &mut self.scratch);
        let crossed = match (self.p.above, self.p.below) {
            (Some(a), _) if v > a => Some(format!("above {}", rounded(a))),
            (_, Some(b)) if v < b => Some(format!("below {}", rounded(b))),
            _ => None,
        };
        let Some(limit) = crossed else {
            if std::mem::replace(&mut s.firing, false) {
                self.cleared.push(key.to_string());
            }
            return None;
        };
        if std::mem::replace(&mut s.firing, true) {
            return None;
        }
        // Back and over again before the clearing was handed on: the alert goes on (a
        // clear handed on after this new alert would resolve it).
        self.cleared.retain(|k| k != key);
        Some(Match {
            count: s.values.len() as u64,
            first_seen: time_of(*s.times.front().expect("not empty")),
            last_seen: time_of(newest),
            sample: super::kept(&event.raw),
            detail: Some(format!(
                "{}({}) over {} = {} ({limit})",
                self.p.kind,
                self.p.field,
                human(self.window),
                rounded(v)
            )),
            identity: Vec::new(),
        })
    }

    fn settle(&mut self, _watermark: DateTime<Utc>, cleared: &mut Vec<String>) {
        cleared.append(&mut self.cleared);
    }

    fn take_changes(&mut self, out: &mut Vec<StateChange>) {
        self.keys.take_changes(out);
    }

    fn restore(&mut self, key: &str, state: &str) -> Result<(), RuleError> {
        self.keys.restore(key, state)
    }

    fn clear_state(&mut self) {
        self.keys.clear();
        self.cleared.clear();
    }

    fn set_max_keys(&mut self, cap: usize) {
        self.keys.set_cap(cap);
    }

    fn stats(&self) -> RuleStats {
        self.keys.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::json_at;
    use crate::rule::See;

    fn rule(kind: MetricKind, above: Option<f64>, below: Option<f64>) -> MetricRule {
        MetricRule::new(Metric {
            field: "ms".into(),
            kind,
            window: Duration::seconds(60),
            above,
            below,
            cap: 10,
        })
    }

    fn ms(r: &mut MetricRule, t: i64, ms: &str) -> Option<String> {
        r.see("k", &json_at(t, &format!(r#"{{"ms":{ms}}}"#)))
            .map(|m| m.detail.unwrap())
    }

    #[test]
    fn avg_fires_when_crossing_above_and_rearms_below() {
        let mut r = rule(MetricKind::Avg, Some(100.0), None);
        assert_eq!(
            ms(&mut r, 0, "100"),
            None,
            "exactly at the limit is not above"
        );
        assert_eq!(
            ms(&mut r, 1, "104").as_deref(),
            Some("avg(ms) over 1m = 102 (above 100)")
        );
        assert_eq!(ms(&mut r, 2, "400"), None, "still above: no second alert");
        // At 70 the window [10, 70] holds only this value.
        assert_eq!(ms(&mut r, 70, "50"), None);
        assert!(ms(&mut r, 71, "300").is_some(), "came back, crossed again");
        assert_eq!(ms(&mut r, 72, r#""n/a""#), None, "not a number: ignored");
    }

    #[test]
    fn coming_back_within_the_limits_clears_the_key_once() {
        let mut r = rule(MetricKind::Min, Some(1000.0), None);
        let mut cleared = Vec::new();
        assert!(ms(&mut r, 0, "1200").is_some());
        assert_eq!(ms(&mut r, 1, "1500"), None);
        r.settle(json_at(1, "{}").time, &mut cleared);
        assert!(cleared.is_empty(), "still above");
        assert_eq!(ms(&mut r, 2, "0"), None);
        assert_eq!(ms(&mut r, 3, "0"), None);
        r.settle(json_at(3, "{}").time, &mut cleared);
        assert_eq!(cleared, ["k"], "back within the limit, once");
        r.settle(json_at(4, "{}").time, &mut cleared);
        assert_eq!(cleared, ["k"]);
        // Cleared and over the limit again before `settle`: nothing to resolve.
        assert!(ms(&mut r, 70, "2000").is_some());
        assert_eq!(ms(&mut r, 71, "5"), None);
        assert!(ms(&mut r, 200, "3000").is_some());
        r.settle(json_at(200, "{}").time, &mut cleared);
        assert_eq!(cleared, ["k"]);
        // A key that never fired has nothing to resolve.
        let mut quiet = rule(MetricKind::Max, Some(10.0), None);
        assert_eq!(ms(&mut quiet, 0, "1"), None);
        quiet.settle(json_at(0, "{}").time, &mut cleared);
        assert_eq!(cleared, ["k"]);
    }

    #[test]
    fn percentiles_use_nearest_rank_and_min_fires_below() {
        let mut r = rule(MetricKind::Percentile(90), Some(900.0), None);
        for (t, v) in (0..9).map(|i| (i, "100")) {
            assert_eq!(ms(&mut r, t, v), None);
        }
        // 10 values: p90 is the 9th smallest = 100; the 10th (1000) does not move it.
        assert_eq!(ms(&mut r, 9, "1000"), None);
        assert!(ms(&mut r, 10, "1000")
            .unwrap()
            .starts_with("p90(ms) over 1m = 1000"));
        let mut low = rule(MetricKind::Min, None, Some(5.0));
        assert_eq!(ms(&mut low, 0, r#""7""#), None, "numeric strings count");
        assert!(ms(&mut low, 1, "4.5").unwrap().contains("= 4.5 (below 5)"));
    }
}
