//! `type: new_term`: a value of a field (or a tuple of fields) never seen before for the
//! key, after a learning period. The first `learning` (default 1h) of event time after the
//! rule's first event only records terms; afterwards each unseen term fires once. Seen
//! terms are bounded by `max_keys` like any key (an evicted term would fire again).
//!
//! Whether a term is learned is decided by its event's own time, not by when it is read: a
//! line stamped inside the learning period is learned silently even if it is read after
//! learning ended (a file read late, a backfill). It belongs to the period the rule learns
//! what is usual from, and reading order must not turn it into news — `klaxon test`, which
//! reads the files merged in time order, says the same as `run` did.
//!
//! Each new term is an alert of its own: the term's fields join the alert's key (see
//! `Match::identity`), so `realert` holds back a term, not the rule, and a second new term
//! within `realert` of the first still alerts.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{
    micros, BuildContext, Keyed, Match, Params, RuleError, RuleStats, RuleType, StateChange,
    META_KEY,
};
use crate::event::Event;
use crate::types::HumanDuration;

/// `type: new_term` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTermParams {
    /// The field whose values are terms.
    #[serde(default)]
    pub field: Option<String>,
    /// Or a tuple of fields whose combined value is the term.
    #[serde(default)]
    pub fields: Vec<String>,
    /// How long terms are learned silently before new ones fire (default 1h).
    #[serde(default)]
    pub learning: Option<HumanDuration>,
}

impl Params for NewTermParams {
    const STATE_VERSION: u32 = 1;

    fn build(&self, cx: &mut BuildContext<'_>) -> Option<Box<dyn RuleType>> {
        cx.one_of(
            "new_term",
            ("field", self.field.is_some()),
            ("fields", !self.fields.is_empty()),
        );
        let fields = match &self.field {
            Some(f) => vec![f.clone()],
            None => self.fields.clone(),
        };
        // `learning: 0s` is fine: every term after the first event is new.
        let learning = self
            .learning
            .map_or(Duration::hours(1), HumanDuration::as_chrono);
        Some(Box::new(NewTermRule::new(fields, learning, cx.max_keys)))
    }
}

/// Separates the group key from the term in the keys of `seen`.
const SEP: char = '\u{1f}';

#[derive(Debug, Serialize, Deserialize)]
struct Seen {
    /// First seen (µs).
    at: i64,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Meta {
    /// Event time (µs) of the rule's first event: learning ends `learning` after it.
    born: Option<i64>,
}

pub struct NewTermRule {
    fields: Vec<String>,
    learning: i64,
    seen: Keyed<Seen>,
    meta: Meta,
    meta_dirty: bool,
    /// Reused to build `key SEP term` without allocating per event.
    buf: String,
}

impl NewTermRule {
    pub fn new(fields: Vec<String>, learning: Duration, max_keys: usize) -> Self {
        NewTermRule {
            fields,
            learning: super::span(learning),
            seen: Keyed::new(max_keys),
            meta: Meta::default(),
            meta_dirty: false,
            buf: String::new(),
        }
    }

    /// Writes the term of `event` after `key` into `buf`; false when a field is missing.
    fn term(&mut self, key: &str, event: &Event) -> bool {
        self.buf.clear();
        self.buf.push_str(key);
        self.buf.push(SEP);
        if let [field] = self.fields.as_slice() {
            match event.text(field) {
                Some(v) => self.buf.push_str(&v),
                None => return false,
            }
            return true;
        }
        let mut values = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            match event.text(field) {
                Some(v) => values.push(v),
                None => return false,
            }
        }
        self.buf
            .push_str(&serde_json::to_string(&values).expect("strings serialize"));
        true
    }
}

impl RuleType for NewTermRule {
    fn fields(&self) -> Option<Vec<String>> {
        Some(self.fields.clone())
    }

    fn observe(&mut self, key: &str, event: &Event, _now: DateTime<Utc>) -> Option<Match> {
        let t = micros(event.time);
        let born = *self.meta.born.get_or_insert_with(|| {
            self.meta_dirty = true;
            t
        });
        if !self.term(key, event) {
            return None;
        }
        if self.seen.contains(&self.buf) {
            self.seen.promote(&self.buf);
            return None;
        }
        self.seen.touch(&self.buf, || Seen { at: t });
        if t < born.saturating_add(self.learning) {
            return None;
        }
        let term = &self.buf[self.buf.find(SEP).map_or(0, |i| i + SEP.len_utf8())..];
        let names = self.fields.join(", ");
        // Read again only for a new term (rare): the fields are all there, `term` said so.
        let identity = self
            .fields
            .iter()
            .map(|f| (f.clone(), event.text(f).unwrap_or_default().into_owned()))
            .collect();
        Some(Match {
            count: 1,
            first_seen: event.time,
            last_seen: event.time,
            sample: super::kept(&event.raw),
            detail: Some(format!("new {names}: {term}")),
            identity,
        })
    }

    fn take_changes(&mut self, out: &mut Vec<StateChange>) {
        if std::mem::take(&mut self.meta_dirty) {
            out.push(StateChange {
                key: META_KEY.to_string(),
                state: Some(serde_json::to_string(&self.meta).expect("meta serializes")),
            });
        }
        self.seen.take_changes(out);
    }

    fn restore(&mut self, key: &str, state: &str) -> Result<(), RuleError> {
        if key == META_KEY {
            self.meta = serde_json::from_str(state).map_err(|e| RuleError::CorruptState {
                key: key.to_string(),
                message: e.to_string(),
            })?;
            return Ok(());
        }
        self.seen.restore(key, state)
    }

    fn clear_state(&mut self) {
        self.seen.clear();
        self.meta = Meta::default();
        self.meta_dirty = false;
    }

    fn set_max_keys(&mut self, cap: usize) {
        self.seen.set_cap(cap);
    }

    fn stats(&self) -> RuleStats {
        RuleStats {
            keys: self.seen.len() as u64,
            evicted: self.seen.evicted(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::json_at;
    use crate::rule::See;

    fn sku(r: &mut NewTermRule, t: i64, sku: &str) -> Option<String> {
        r.see(
            "{}",
            &json_at(t, &format!(r#"{{"sku":"{sku}","shop":"7"}}"#)),
        )
        .map(|m| m.detail.unwrap())
    }

    #[test]
    fn terms_seen_while_learning_never_fire_and_new_ones_fire_once() {
        let mut r = NewTermRule::new(vec!["sku".into()], Duration::seconds(60), 10);
        assert_eq!(sku(&mut r, 0, "A"), None);
        assert_eq!(sku(&mut r, 59, "B"), None, "still learning");
        // Learning ends exactly 60s after the first event.
        assert_eq!(sku(&mut r, 60, "C").as_deref(), Some("new sku: C"));
        assert_eq!(sku(&mut r, 61, "C"), None, "seen now");
        assert_eq!(sku(&mut r, 62, "A"), None);
        assert!(
            r.see("{}", &json_at(63, r#"{"shop":"7"}"#)).is_none(),
            "no field"
        );
    }

    #[test]
    fn tuples_are_terms_and_learning_survives_a_restart() {
        let mut r = NewTermRule::new(vec!["sku".into(), "shop".into()], Duration::seconds(60), 10);
        assert_eq!(sku(&mut r, 0, "A"), None);
        let mut changes = Vec::new();
        r.take_changes(&mut changes);
        assert_eq!(changes.len(), 2, "{changes:?}");
        let mut back =
            NewTermRule::new(vec!["sku".into(), "shop".into()], Duration::seconds(60), 10);
        for c in changes {
            back.restore(&c.key, &c.state.unwrap()).unwrap();
        }
        assert_eq!(sku(&mut back, 100, "A"), None, "restored as seen");
        assert_eq!(
            sku(&mut back, 101, "B").as_deref(),
            Some(r#"new sku, shop: ["B","7"]"#)
        );
    }

    #[test]
    fn the_term_is_part_of_the_alert_identity() {
        let mut r = NewTermRule::new(vec!["sku".into()], Duration::zero(), 10);
        sku(&mut r, 0, "A");
        let m = r
            .see("{}", &json_at(1, r#"{"sku":"B","shop":"7"}"#))
            .unwrap();
        assert_eq!(m.identity, vec![("sku".to_string(), "B".to_string())]);
        let mut tuple = NewTermRule::new(vec!["sku".into(), "shop".into()], Duration::zero(), 10);
        sku(&mut tuple, 0, "A");
        let m = tuple
            .see("{}", &json_at(1, r#"{"sku":"B","shop":7}"#))
            .unwrap();
        assert_eq!(
            m.identity,
            vec![
                ("sku".to_string(), "B".to_string()),
                ("shop".to_string(), "7".to_string())
            ]
        );
    }

    #[test]
    fn a_line_stamped_inside_learning_is_learned_even_when_read_after_it() {
        let mut r = NewTermRule::new(vec!["sku".into()], Duration::seconds(60), 10);
        assert_eq!(sku(&mut r, 0, "A"), None);
        assert_eq!(sku(&mut r, 70, "C").as_deref(), Some("new sku: C"));
        // Read after learning ended (the rule has seen 70 s), stamped inside it: learned.
        assert_eq!(sku(&mut r, 40, "D"), None);
        assert_eq!(sku(&mut r, 80, "D"), None, "not new: it was learned");
        // Stamped after learning ended, read late: new.
        assert_eq!(sku(&mut r, 65, "E").as_deref(), Some("new sku: E"));
    }
}
