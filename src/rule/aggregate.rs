//! A `metric` aggregate over the values of a key's window as the window's start moves forward:
//! the values are in event-time order, and the window at an instant holds a suffix of them.
//! A key checked at many instants in a row (values leaving one by one as it falls silent)
//! costs one pass over its values, not one per instant.
//!
//! Sums are added from the newest value back, whichever way they are asked for, so the same
//! window always gives the same sum to the last bit.

use std::collections::VecDeque;

use super::MetricKind;

/// The aggregate of an empty window: `sum` is 0; an average, a minimum, a maximum or a
/// percentile of nothing does not exist.
pub(super) fn of_nothing(kind: MetricKind) -> Option<f64> {
    (kind == MetricKind::Sum).then_some(0.0)
}

/// Aggregates of suffixes of one sequence of values, asked for in order of their start.
#[derive(Debug, Default)]
pub(super) struct Suffixes {
    /// `values[from..]`: sums (sum, avg), minimums or maximums of each suffix.
    running: Vec<f64>,
    /// Percentiles: the values of the last suffix asked, sorted.
    sorted: Vec<f64>,
    /// The first value the buffers cover.
    from: usize,
}

impl Suffixes {
    /// Prepares for suffixes of `values` starting at `from` or later.
    pub fn begin(&mut self, kind: MetricKind, values: &VecDeque<f64>, from: usize) {
        self.from = from;
        self.running.clear();
        self.sorted.clear();
        let tail = values.range(from.min(values.len())..);
        match kind {
            MetricKind::Percentile(_) => {
                self.sorted.extend(tail);
                self.sorted.sort_unstable_by(f64::total_cmp);
            }
            _ => {
                let fold: fn(f64, f64) -> f64 = match kind {
                    MetricKind::Min => f64::min,
                    MetricKind::Max => f64::max,
                    _ => |acc, v| acc + v,
                };
                let mut acc: Option<f64> = None;
                for &v in tail.rev() {
                    // The first sum is `0 + v`, exactly `v`: as `Iterator::sum` starts.
                    let next = acc.map_or(v, |a| fold(a, v));
                    self.running.push(next);
                    acc = Some(next);
                }
                self.running.reverse();
            }
        }
    }

    /// The aggregate of `values[start..]`; `start` must not be before the last one asked.
    pub fn at(&mut self, kind: MetricKind, values: &VecDeque<f64>, start: usize) -> Option<f64> {
        let n = values.len().saturating_sub(start);
        if n == 0 {
            return of_nothing(kind);
        }
        match kind {
            MetricKind::Percentile(p) => {
                for v in values.range(self.from..start) {
                    let at = self.sorted.partition_point(|x| x.total_cmp(v).is_lt());
                    self.sorted.remove(at);
                }
                self.from = start;
                // Nearest rank.
                let rank = (f64::from(p) / 100.0 * n as f64).ceil() as usize;
                Some(self.sorted[rank.clamp(1, n) - 1])
            }
            MetricKind::Avg => Some(self.running[start - self.from] / n as f64),
            _ => Some(self.running[start - self.from]),
        }
    }

    /// The aggregate of all of `values[start..]`, on its own.
    pub fn once(&mut self, kind: MetricKind, values: &VecDeque<f64>, start: usize) -> Option<f64> {
        self.begin(kind, values, start);
        self.at(kind, values, start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suffix_as_if_taken_alone() {
        let values: VecDeque<f64> = [5.0, 1.0, 9.0, 0.1, 0.2, 7.0, 1e16, 3.0].into();
        for kind in [
            MetricKind::Sum,
            MetricKind::Avg,
            MetricKind::Min,
            MetricKind::Max,
            MetricKind::Percentile(50),
            MetricKind::Percentile(90),
        ] {
            let mut sweep = Suffixes::default();
            sweep.begin(kind, &values, 1);
            for start in 1..=values.len() {
                let alone = Suffixes::default().once(kind, &values, start);
                assert_eq!(sweep.at(kind, &values, start), alone, "{kind} from {start}");
            }
        }
        let mut s = Suffixes::default();
        assert_eq!(s.once(MetricKind::Sum, &values, 8), Some(0.0));
        assert_eq!(s.once(MetricKind::Avg, &values, 8), None);
        assert_eq!(s.once(MetricKind::Percentile(99), &values, 8), None);
        assert_eq!(s.once(MetricKind::Percentile(50), &values, 4), Some(3.0));
        assert_eq!(
            s.once(MetricKind::Avg, &values, 6),
            Some((1e16 + 3.0) / 2.0)
        );
    }
}
