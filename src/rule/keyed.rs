//! Per-key state of one rule: bounded (the least recently seen key is evicted beyond the
//! cap, and counted), and tracking which keys changed since the last commit so only those
//! are written to the store.

use hashlink::linked_hash_map::RawEntryMut;
use hashlink::LinkedHashMap;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{RuleError, StateChange};

struct Slot<S> {
    state: S,
    /// Already listed in `touched` since the last `take_changes`.
    dirty: bool,
}

/// What a visit of every key (see [`Keyed::visit`]) did to one key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    Unchanged,
    Changed,
    Remove,
}

pub struct Keyed<S> {
    /// Oldest-seen first: the front is what eviction takes.
    map: LinkedHashMap<Box<str>, Slot<S>>,
    cap: usize,
    /// Keys changed or removed since the last `take_changes`.
    touched: Vec<Box<str>>,
    evicted: u64,
}

impl<S: Serialize + DeserializeOwned> Keyed<S> {
    pub fn new(cap: usize) -> Self {
        Keyed {
            map: LinkedHashMap::new(),
            cap: cap.max(1),
            touched: Vec::new(),
            evicted: 0,
        }
    }

    /// The state of `key`, now the most recently seen and marked changed; created by `init`
    /// when absent (evicting the least recently seen key if that makes one too many).
    pub fn touch(&mut self, key: &str, init: impl FnOnce() -> S) -> &mut S {
        // Evict before looking up: the entry borrow below must be the last use of the map.
        self.trim();
        match self.map.raw_entry_mut().from_key(key) {
            RawEntryMut::Occupied(mut o) => {
                o.to_back();
                let slot = o.into_mut();
                if !slot.dirty {
                    slot.dirty = true;
                    self.touched.push(Box::from(key));
                }
                &mut slot.state
            }
            RawEntryMut::Vacant(v) => {
                self.touched.push(Box::from(key));
                let slot = Slot {
                    state: init(),
                    dirty: true,
                };
                &mut v.insert(Box::from(key), slot).1.state
            }
        }
    }

    /// Evicts least recently seen keys down to the cap. A new key may hold the map one over
    /// the cap until the next call (touch, visit, take_changes).
    fn trim(&mut self) {
        while self.map.len() > self.cap {
            match self.map.pop_front() {
                Some((old, _)) => {
                    self.evicted += 1;
                    self.touched.push(old);
                }
                None => break,
            }
        }
    }

    /// The state of `key` if present, marked changed, without making it recently seen.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut S> {
        let slot = self.map.get_mut(key)?;
        if !slot.dirty {
            slot.dirty = true;
            self.touched.push(Box::from(key));
        }
        Some(&mut slot.state)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Makes `key` the most recently seen without marking it changed (its state is as stored).
    pub fn promote(&mut self, key: &str) {
        self.map.to_back(key);
    }

    pub fn get(&self, key: &str) -> Option<&S> {
        self.map.get(key).map(|s| &s.state)
    }

    pub fn remove(&mut self, key: &str) -> Option<S> {
        let (k, slot) = self.map.remove_entry(key)?;
        self.touched.push(k);
        Some(slot.state)
    }

    /// Calls `f` on every key's state (oldest-seen first); what it returns marks the key
    /// changed or removes it.
    pub fn visit(&mut self, mut f: impl FnMut(&str, &mut S) -> Visit) {
        self.trim();
        let touched = &mut self.touched;
        self.map
            .retain_with_order(|key, slot| match f(key, &mut slot.state) {
                Visit::Unchanged => true,
                Visit::Changed => {
                    if !slot.dirty {
                        slot.dirty = true;
                        touched.push(key.clone());
                    }
                    true
                }
                Visit::Remove => {
                    touched.push(key.clone());
                    false
                }
            });
    }

    /// Serialized state of every key changed since the last call; `None` for removed keys.
    pub fn take_changes(&mut self, out: &mut Vec<StateChange>) {
        self.trim();
        let mut keys = std::mem::take(&mut self.touched);
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let state = match self.map.get_mut(&*key) {
                Some(slot) => {
                    slot.dirty = false;
                    Some(serde_json::to_string(&slot.state).expect("rule state serializes"))
                }
                None => None,
            };
            out.push(StateChange {
                key: key.into_string(),
                state,
            });
        }
    }

    /// Puts back one key's stored state (restored keys count as least recently seen first,
    /// in the order given).
    pub fn restore(&mut self, key: &str, json: &str) -> Result<(), RuleError> {
        let state = serde_json::from_str(json).map_err(|e| RuleError::CorruptState {
            key: key.to_string(),
            message: e.to_string(),
        })?;
        self.map.insert(
            Box::from(key),
            Slot {
                state,
                dirty: false,
            },
        );
        self.trim();
        Ok(())
    }

    /// Keeps at most `cap` keys from the next change on (the least recently seen go).
    pub fn set_cap(&mut self, cap: usize) {
        self.cap = cap.max(1);
    }

    /// Forgets every key (not counted as evictions; nothing to write: the store drops the
    /// rule's rows).
    pub fn clear(&mut self) {
        self.map.clear();
        self.touched.clear();
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keys evicted to stay within the cap, since the rule started.
    /// Keys held and keys evicted, as every keyed rule type reports them.
    pub fn stats(&self) -> super::RuleStats {
        super::RuleStats {
            keys: self.len() as u64,
            evicted: self.evicted(),
        }
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(|k| &**k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(k: &mut Keyed<u32>) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        k.take_changes(&mut out);
        out.into_iter().map(|c| (c.key, c.state)).collect()
    }

    #[test]
    fn evicts_the_least_recently_seen_and_counts_it() {
        let mut k = Keyed::<u32>::new(2);
        *k.touch("a", || 0) += 1;
        *k.touch("b", || 0) += 1;
        *k.touch("a", || 0) += 1; // a is now the most recent
        *k.touch("c", || 0) += 1; // evicts b
        let changed = changes(&mut k);
        assert_eq!(k.keys().collect::<Vec<_>>(), vec!["a", "c"]);
        assert_eq!(k.evicted(), 1);
        assert_eq!(
            changed,
            vec![
                ("a".into(), Some("2".into())),
                ("b".into(), None),
                ("c".into(), Some("1".into()))
            ]
        );
        assert!(changes(&mut k).is_empty(), "changes are reported once");
    }

    #[test]
    fn visit_marks_changes_and_removes() {
        let mut k = Keyed::<u32>::new(10);
        k.restore("a", "1").unwrap();
        k.restore("b", "2").unwrap();
        assert!(changes(&mut k).is_empty(), "restored state is not a change");
        k.visit(|key, v| match key {
            "a" => {
                *v = 5;
                Visit::Changed
            }
            _ => Visit::Remove,
        });
        assert_eq!(
            changes(&mut k),
            vec![("a".into(), Some("5".into())), ("b".into(), None)]
        );
        assert!(k.restore("c", "not json").is_err());
    }
}
