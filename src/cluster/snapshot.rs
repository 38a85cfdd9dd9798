//! A partition's rule state as of a stream sequence: what a worker writes to the snapshot
//! bucket and what the next owner restores before replaying the partition's subject from
//! the following sequence. It holds exactly what the single-node store keeps per rule and
//! key (rule state, realert holds, the source clocks, the alert lifecycle), in the store's
//! own types, read from and put back into a [`MemoryStore`] through the store's interface.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::alert::RealertState;
use crate::source::SourceClockState;
use crate::store::{
    AlertRecord, Commit, LifecycleStore, MemoryStore, RuleReset, RuleStateChange, SilenceRow,
    StateStore, StoreError,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartitionSnapshot {
    /// The last stream sequence whose match is in this state.
    pub seq: u64,
    /// Rule → the state identity its state was built under.
    pub state_ids: Vec<(String, String)>,
    /// (rule, key, state).
    pub rule_state: Vec<(String, String, String)>,
    pub realert: Vec<RealertState>,
    pub clocks: Vec<SourceClockState>,
    /// The alert lifecycle (`dispatch::Dispatcher`'s records): alerts and groups.
    #[serde(default)]
    pub alerts: Vec<AlertRecord>,
    #[serde(default)]
    pub groups: Vec<(String, String)>,
    /// Silences in force or to come (every partition holds every silence).
    #[serde(default)]
    pub silences: Vec<SilenceRow>,
}

impl PartitionSnapshot {
    /// What `store` holds, as covering sequence `seq` (silences are the owner's to add).
    pub fn capture<S: StateStore + LifecycleStore>(
        seq: u64,
        store: &S,
    ) -> Result<Self, StoreError> {
        let (alerts, groups) = store.lifecycle()?;
        let state_ids = store.rule_state_ids()?;
        let mut rule_state = Vec::new();
        for (rule, _) in &state_ids {
            for (key, state) in store.rule_states(rule)? {
                rule_state.push((rule.clone(), key, state));
            }
        }
        Ok(PartitionSnapshot {
            seq,
            state_ids,
            rule_state,
            realert: store.realert_states()?,
            clocks: store.source_clocks()?,
            alerts,
            groups: groups.into_iter().map(|g| (g.key, g.record)).collect(),
            silences: Vec::new(),
        })
    }

    /// A store holding this state, for `Engine::restore`.
    pub fn into_store(self) -> Result<MemoryStore, StoreError> {
        let mut store = MemoryStore::new();
        let commit = Commit {
            at: Utc::now(),
            rule_resets: self
                .state_ids
                .into_iter()
                .map(|(rule, id)| RuleReset {
                    rule,
                    state_id: Some(id),
                })
                .collect(),
            rule_state: self
                .rule_state
                .into_iter()
                .map(|(rule, key, state)| RuleStateChange {
                    rule,
                    key,
                    state: Some(state),
                })
                .collect(),
            realert: self.realert,
            clocks: self.clocks,
            lifecycle: self.alerts,
            groups: self.groups.into_iter().map(|(k, r)| (k, Some(r))).collect(),
            ..Commit::default()
        };
        store.commit(&commit)?;
        Ok(store)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a snapshot serializes")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn a_snapshot_round_trips_through_a_store() {
        let t: DateTime<Utc> = "2026-11-30T03:00:00Z".parse().unwrap();
        let snap = PartitionSnapshot {
            seq: 42,
            state_ids: vec![("r".into(), "id-1".into())],
            rule_state: vec![("r".into(), "{\"sku\":\"A\"}".into(), "{\"n\":3}".into())],
            realert: vec![RealertState {
                rule: "r".into(),
                key: "{\"sku\":\"A\"}".into(),
                hold_until: t,
                held_back: 2,
            }],
            clocks: vec![SourceClockState {
                source: "s".into(),
                event_max: Some(t),
                reported: None,
            }],
            alerts: vec![AlertRecord {
                id: 7,
                rule: "r".into(),
                key: "{\"sku\":\"A\"}".into(),
                status: "firing".into(),
                record: "{}".into(),
            }],
            groups: vec![("g".into(), "{}".into())],
            silences: Vec::new(),
        };
        let bytes = snap.to_bytes();
        let store = PartitionSnapshot::from_bytes(&bytes)
            .unwrap()
            .into_store()
            .unwrap();
        assert_eq!(PartitionSnapshot::capture(42, &store).unwrap(), snap);
    }
}
