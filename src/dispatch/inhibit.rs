//! Inhibition: while an alert matching a rule's `source` matchers fires, alerts matching its
//! `target` matchers with the same values of its `equal` labels are muted.

use std::collections::HashMap;

use super::config::InhibitConfig;
use super::matcher::{Labels, Matchers};

#[derive(Debug, Clone)]
pub struct InhibitRule {
    source: Matchers,
    target: Matchers,
    equal: Vec<String>,
}

/// The sources of one rule in force, by their values of the `equal` labels: up to two
/// alert ids each (enough to tell whether an alert has a source other than itself).
pub struct Sources(HashMap<Vec<String>, Vec<u64>>);

impl InhibitRule {
    pub fn new(config: &InhibitConfig) -> Self {
        InhibitRule {
            source: config.source.clone(),
            target: config.target.clone(),
            equal: config.equal.clone(),
        }
    }

    fn values(&self, labels: &Labels) -> Vec<String> {
        self.equal
            .iter()
            .map(|name| labels.get(name).cloned().unwrap_or_default())
            .collect()
    }

    /// Indexes the alerts in force that match `source` (one pass, so checking every target
    /// costs a lookup, not a scan).
    pub fn sources<'a>(&self, alerts: impl IntoIterator<Item = (u64, &'a Labels)>) -> Sources {
        let mut by_values: HashMap<Vec<String>, Vec<u64>> = HashMap::new();
        for (id, labels) in alerts {
            if self.source.matches(labels) {
                let ids = by_values.entry(self.values(labels)).or_default();
                if ids.len() < 2 {
                    ids.push(id);
                }
            }
        }
        Sources(by_values)
    }

    /// Whether alert `id` with `labels` is muted by a source other than itself.
    pub fn mutes(&self, sources: &Sources, id: u64, labels: &Labels) -> bool {
        self.target.matches(labels)
            && sources
                .0
                .get(&self.values(labels))
                .is_some_and(|ids| ids.iter().any(|s| *s != id))
    }
}
