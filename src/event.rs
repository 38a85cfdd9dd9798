//! The one record every stage passes along: a decoded log line.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Where an event came from, precise enough to checkpoint past it once it has been handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Name of the configured source (`sources.<name>` in klaxon.yaml).
    pub source: Arc<str>,
    /// Path the line was read from (for display; identity is the fingerprint).
    pub path: Arc<str>,
    /// Stable identity of the file, independent of its path.
    pub fingerprint: Arc<str>,
    /// Byte offset just past this line's terminator: where reading resumes after it.
    pub offset: u64,
}

/// One log record.
#[derive(Debug, Clone)]
pub struct Event {
    /// Event time: from the configured time field, else the time the line was read.
    pub time: DateTime<Utc>,
    /// The raw line, without its terminator.
    pub raw: String,
    /// Parsed fields for structured formats (JSON); `None` for plain lines.
    pub fields: Option<Map<String, Value>>,
    pub origin: Origin,
    /// The source reads times from its lines, but this line's could not be read or
    /// believed: `time` is when it was read. Such an event does not move its source's
    /// event-time clock (one garbled line must not make a backlog look late).
    pub time_guessed: bool,
    /// The [`FieldSelection::id`] of the fields decoded, when the decoder kept only some;
    /// `None` when every field was. (An id, not the selection: a reference count touched
    /// by the reading and the handling thread for every event would bounce between cores.)
    pub fields_for: Option<u64>,
}

/// The field plain lines expose their whole text under, and the default field of queries.
pub const MESSAGE_FIELD: &str = "message";

impl Event {
    /// A plain-text event: the whole line is its `message`.
    pub fn plain(raw: impl Into<String>, time: DateTime<Utc>, origin: Origin) -> Self {
        Event {
            time,
            raw: raw.into(),
            fields: None,
            origin,
            time_guessed: false,
            fields_for: None,
        }
    }

    /// The JSON value at a dotted path (`http.status` reads `{"http":{"status":..}}`, or a
    /// literal key `"http.status"` when present).
    pub fn value(&self, path: &str) -> Option<&Value> {
        let fields = self.fields.as_ref()?;
        if let Some(v) = fields.get(path) {
            return Some(v);
        }
        let mut parts = path.split('.');
        let mut cur = fields.get(parts.next()?)?;
        for part in parts {
            cur = cur.as_object()?.get(part)?;
        }
        Some(cur)
    }

    /// The text of a field: strings as they are, numbers and booleans formatted, `null`,
    /// arrays and objects as JSON. For plain lines only `message` exists (the whole line).
    pub fn text(&self, path: &str) -> Option<Cow<'_, str>> {
        match &self.fields {
            None => (path == MESSAGE_FIELD).then_some(Cow::Borrowed(self.raw.as_str())),
            Some(_) => match self.value(path)? {
                Value::String(s) => Some(Cow::Borrowed(s.as_str())),
                Value::Null => None,
                other => Some(Cow::Owned(other.to_string())),
            },
        }
    }
}

/// Which fields of a structured line the rules read. Decoding only those (the rest of the
/// line is checked as JSON but never becomes values) keeps the cost of a line with a dozen
/// fields close to that of the two or three a rule looks at. The raw line is always kept
/// whole: alerts quote it, and nothing else reads the fields.
/// The top-level keys to keep: a handful, so a list compared length first beats hashing
/// every key of every line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSelection {
    keys: Vec<Box<str>>,
    /// Unique per selection built (clones share it): events say which one they were decoded
    /// for.
    id: u64,
}

impl FieldSelection {
    /// What reading each of `paths` needs: a dotted path `a.b` reads the literal key `a.b`
    /// or the object under `a` (see `Event::value`).
    pub fn of<'a>(paths: impl IntoIterator<Item = &'a str>) -> Self {
        let mut keys: Vec<Box<str>> = Vec::new();
        for path in paths {
            keys.push(Box::from(path));
            if let Some((first, _)) = path.split_once('.') {
                keys.push(Box::from(first));
            }
        }
        keys.sort_unstable();
        keys.dedup();
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        FieldSelection { keys, id }
    }

    /// Which selection this is (see [`Event::fields_for`]).
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn keeps(&self, key: &str) -> bool {
        self.keys
            .iter()
            .any(|k| k.len() == key.len() && **k == *key)
    }

    /// The keys kept, sorted (for logs and tests).
    pub fn keys(&self) -> Vec<&str> {
        self.keys.iter().map(|k| &**k).collect()
    }
}

#[cfg(test)]
mod selection_tests {
    use super::*;

    #[test]
    fn a_dotted_path_keeps_its_literal_key_and_its_root() {
        let s = FieldSelection::of(["http.status", "level", "a.b.c"]);
        assert_eq!(s.keys(), ["a", "a.b.c", "http", "http.status", "level"]);
        assert!(!s.keeps("a.b"));
    }
}

#[cfg(test)]
pub(crate) fn test_origin() -> Origin {
    Origin {
        source: Arc::from("test"),
        path: Arc::from("test.log"),
        fingerprint: Arc::from("fp"),
        offset: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(raw: &str) -> Event {
        let fields: Map<String, Value> = serde_json::from_str(raw).unwrap();
        Event {
            time: Utc::now(),
            raw: raw.to_string(),
            fields: Some(fields),
            origin: test_origin(),
            time_guessed: false,
            fields_for: None,
        }
    }

    #[test]
    fn plain_lines_expose_only_message() {
        let ev = Event::plain("ERROR boom", Utc::now(), test_origin());
        assert_eq!(ev.text("message").as_deref(), Some("ERROR boom"));
        assert_eq!(ev.text("level"), None);
    }

    #[test]
    fn nested_and_dotted_fields_resolve() {
        let ev = json(r#"{"http":{"status":503},"a.b":"lit","n":null}"#);
        assert_eq!(ev.text("http.status").as_deref(), Some("503"));
        assert_eq!(ev.text("a.b").as_deref(), Some("lit"));
        assert_eq!(ev.text("n"), None);
        assert_eq!(ev.text("http.missing"), None);
    }
}
