//! Inhibition: while an alert matching a rule's `source` matchers fires, alerts matching its
//! `target` matchers with the same values of its `equal` labels are muted.

use super::config::InhibitConfig;
use super::matcher::{Labels, Matchers};

#[derive(Debug, Clone)]
pub struct InhibitRule {
    source: Matchers,
    target: Matchers,
    equal: Vec<String>,
}

impl InhibitRule {
    pub fn new(config: &InhibitConfig) -> Self {
        InhibitRule {
            source: config.source.clone(),
            target: config.target.clone(),
            equal: config.equal.clone(),
        }
    }

    /// Whether `target` is muted by one of `sources` (the labels of the alerts firing,
    /// itself excluded by the caller). An alert never mutes itself.
    pub fn mutes<'a>(
        &self,
        target: &Labels,
        sources: impl IntoIterator<Item = &'a Labels>,
    ) -> bool {
        if !self.target.matches(target) {
            return false;
        }
        sources.into_iter().any(|s| {
            self.source.matches(s)
                && self
                    .equal
                    .iter()
                    .all(|name| s.get(name) == target.get(name))
        })
    }
}
