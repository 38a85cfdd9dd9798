//! An alert's key: the values of its rule's `group_by` fields, built once as pairs.
//!
//! Its canonical text ([`AlertKey::id`], a JSON object with fields in order) is the
//! identity realert, rule state and the store use. The engine writes that text for every
//! matching event into a reused buffer ([`write_id`]) and builds the pairs only for an
//! alert it raises.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Field → value pairs, sorted by field, each field once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertKey {
    pairs: Vec<(String, String)>,
}

impl AlertKey {
    /// A key from pairs in any order; a field given twice keeps its last value.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let map: BTreeMap<String, String> = pairs.into_iter().collect();
        AlertKey {
            pairs: map.into_iter().collect(),
        }
    }

    /// Reads back a canonical text written by [`AlertKey::id`] or [`write_id`] (what the
    /// store holds, and clock-fired rules report).
    pub fn from_id(id: &str) -> Result<Self, serde_json::Error> {
        let map: BTreeMap<String, String> = serde_json::from_str(id)?;
        Ok(AlertKey {
            pairs: map.into_iter().collect(),
        })
    }

    /// The canonical text: `{"shop":"7","sku":"A-1"}`; `{}` for no fields.
    pub fn id(&self) -> String {
        let mut buf = Vec::new();
        write_id(self.iter(), &mut buf);
        String::from_utf8(buf).expect("JSON text is UTF-8")
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.pairs
            .binary_search_by(|(k, _)| k.as_str().cmp(field))
            .ok()
            .map(|i| self.pairs[i].1.as_str())
    }

    /// Sets `field` (tests and tools; rules build keys with [`AlertKey::new`]).
    pub fn insert(&mut self, field: impl Into<String>, value: impl Into<String>) {
        let (field, value) = (field.into(), value.into());
        match self.pairs.binary_search_by(|(k, _)| k.cmp(&field)) {
            Ok(i) => self.pairs[i].1 = value,
            Err(i) => self.pairs.insert(i, (field, value)),
        }
    }

    pub fn clear(&mut self) {
        self.pairs.clear();
    }

    /// The key with each value cut to `max_bytes` (`…`): what an alert shows. Identity
    /// (realert, rule state) uses the whole values.
    pub fn clipped(self, max_bytes: usize) -> AlertKey {
        AlertKey {
            pairs: self
                .pairs
                .into_iter()
                .map(|(k, v)| {
                    let v = match crate::types::clip(&v, max_bytes) {
                        std::borrow::Cow::Borrowed(_) => v,
                        std::borrow::Cow::Owned(cut) => cut,
                    };
                    (k, v)
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }
}

/// `sku=A-1, shop=7`, or empty without fields.
impl fmt::Display for AlertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

/// Writes the canonical text of `pairs` (sorted by field, each once) into `buf`, reusing
/// its allocation.
pub fn write_id<K, V>(pairs: impl Iterator<Item = (K, V)>, buf: &mut Vec<u8>)
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    buf.clear();
    buf.push(b'{');
    for (i, (field, value)) in pairs.enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        serde_json::to_writer(&mut *buf, field.as_ref()).expect("writing to a Vec");
        buf.push(b':');
        serde_json::to_writer(&mut *buf, value.as_ref()).expect("writing to a Vec");
    }
    buf.push(b'}');
}

/// Stored and sent as a JSON object, as it always was.
impl Serialize for AlertKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for AlertKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::<String, String>::deserialize(d).map(AlertKey::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_is_sorted_json_and_reads_back() {
        let key = AlertKey::new([
            ("sku".to_string(), "A\"1".to_string()),
            ("shop".to_string(), "7".to_string()),
        ]);
        assert_eq!(key.id(), r#"{"shop":"7","sku":"A\"1"}"#);
        assert_eq!(AlertKey::from_id(&key.id()).unwrap(), key);
        assert_eq!(key.get("sku"), Some("A\"1"));
        assert_eq!(key.to_string(), "shop=7, sku=A\"1");
        assert_eq!(AlertKey::default().id(), "{}");
        assert_eq!(
            serde_json::to_string(&key).unwrap(),
            r#"{"shop":"7","sku":"A\"1"}"#
        );
        assert!(AlertKey::from_id("not json").is_err());
    }
}
