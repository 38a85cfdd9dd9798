//! Which span of event time a poll asks for, and which hits of it are news.
//!
//! Each poll reads `(from, to]` with `to = now - query_delay` (documents are searchable
//! only after the shipper and a refresh) and `from = checkpoint - overlap`, so a document
//! that arrives late with an old timestamp is still found by the next poll; hits the
//! previous polls already handled are told apart by `_index` + `_id`. The checkpoint
//! moves to `to` once a poll's hits are handled. After a long stop, `from` is never older
//! than `max_catch_up` (what is older is skipped, with a warning).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

/// The settings that shape windows.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    pub query_delay: chrono::Duration,
    pub overlap: chrono::Duration,
    pub max_catch_up: chrono::Duration,
}

/// One poll's span: documents with `from < time <= to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Time skipped because the checkpoint was older than `max_catch_up`.
    pub skipped_from: Option<DateTime<Utc>>,
}

impl Windows {
    /// The span to read at `now` after `checkpoint` (the `to` of the last handled poll;
    /// `None` on the very first poll, which starts at `now - query_delay - overlap`).
    /// `None` when there is nothing new to read yet.
    pub fn next(&self, checkpoint: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<Window> {
        let to = now.checked_sub_signed(self.query_delay)?;
        let oldest = now.checked_sub_signed(self.max_catch_up)?;
        let start = checkpoint.unwrap_or(to);
        let (start, skipped_from) = if start < oldest {
            (oldest, Some(start))
        } else {
            (start, None)
        };
        let from = start.checked_sub_signed(self.overlap)?;
        (to > start || checkpoint.is_none()).then_some(Window {
            from,
            to,
            skipped_from,
        })
    }
}

/// Hits handled recently (those that a later, overlapping window will return again), by
/// `_index` + `_id`, forgotten once older than every window still to come.
#[derive(Debug, Default)]
pub struct Seen {
    ids: HashSet<(String, String)>,
    by_time: BTreeMap<DateTime<Utc>, Vec<(String, String)>>,
}

impl Seen {
    /// True the first time a hit is offered: it is news.
    pub fn first(&mut self, index: &str, id: &str, time: DateTime<Utc>) -> bool {
        let key = (index.to_string(), id.to_string());
        if self.ids.contains(&key) {
            return false;
        }
        self.ids.insert(key.clone());
        self.by_time.entry(time).or_default().push(key);
        true
    }

    /// Forgets hits at or before `from`: no window from now on reaches back to them.
    pub fn forget_before(&mut self, from: DateTime<Utc>) {
        let keep = self.by_time.split_off(&from);
        for (_, keys) in std::mem::replace(&mut self.by_time, keep) {
            for key in keys {
                self.ids.remove(&key);
            }
        }
    }

    /// The hits after `from`, for the checkpoint: a restart must not take the overlap's
    /// hits for news. At most `cap` (the newest).
    pub fn snapshot(&self, from: DateTime<Utc>, cap: usize) -> serde_json::Value {
        let mut out = Vec::new();
        for (t, keys) in self.by_time.range(from..).rev() {
            for (index, id) in keys {
                if out.len() == cap {
                    break;
                }
                out.push(serde_json::json!([index, id, t.timestamp_millis()]));
            }
        }
        serde_json::json!({ "seen": out })
    }

    /// What [`Seen::snapshot`] wrote (anything else: nothing).
    pub fn restore(value: &serde_json::Value) -> Seen {
        let mut seen = Seen::default();
        for entry in value
            .get("seen")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(index), Some(id), Some(ms)) = (
                entry.get(0).and_then(serde_json::Value::as_str),
                entry.get(1).and_then(serde_json::Value::as_str),
                entry.get(2).and_then(serde_json::Value::as_i64),
            ) else {
                continue;
            };
            if let Some(t) = DateTime::from_timestamp_millis(ms) {
                seen.first(index, id, t);
            }
        }
        seen
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn windows() -> Windows {
        Windows {
            query_delay: chrono::Duration::seconds(30),
            overlap: chrono::Duration::seconds(60),
            max_catch_up: chrono::Duration::hours(1),
        }
    }

    #[test]
    fn windows_overlap_the_last_one_and_lag_behind_now() {
        let w = windows();
        let first = w.next(None, t(1000)).unwrap();
        assert_eq!((first.from, first.to), (t(910), t(970)));
        let second = w.next(Some(first.to), t(1010)).unwrap();
        assert_eq!((second.from, second.to), (t(910), t(980)));
        assert_eq!(w.next(Some(t(980)), t(1010)), None, "nothing new yet");
    }

    #[test]
    fn a_long_stop_catches_up_only_so_far() {
        let w = windows();
        let after = w.next(Some(t(0)), t(10_000)).unwrap();
        assert_eq!(after.skipped_from, Some(t(0)));
        assert_eq!(after.from, t(10_000 - 3600 - 60));
        assert_eq!(after.to, t(10_000 - 30));
    }

    #[test]
    fn seen_hits_are_news_once_until_forgotten() {
        let mut s = Seen::default();
        assert!(s.first("i", "1", t(5)));
        assert!(!s.first("i", "1", t(5)));
        assert!(s.first("j", "1", t(5)), "another index, another document");
        assert!(s.first("i", "2", t(50)));
        s.forget_before(t(10));
        assert_eq!(s.len(), 1);
        let mut back = Seen::restore(&s.snapshot(t(0), 100));
        assert!(
            !back.first("i", "2", t(50)),
            "a restart remembers the overlap's hits"
        );
        assert!(
            s.first("i", "1", t(5)),
            "forgotten: no window reaches it any more"
        );
        assert_eq!(Seen::restore(&serde_json::json!("logs-*")).len(), 0);
    }
}
