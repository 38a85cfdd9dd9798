//! Where every value of a YAML file sits, so a problem found after parsing (a rule's
//! `threshold: 0`, a bad query inside `left.query`) is reported at its line and column.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// A YAML document as a tree of located values.
#[derive(Debug, Clone, Default)]
pub struct SpanTree {
    root: Option<Spanned<Node>>,
}

#[derive(Debug, Clone)]
enum Node {
    /// Entries with where each key is written.
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    /// A scalar's text (`None` for null).
    Scalar(Option<String>),
}

/// A located value found by path.
pub struct Found<'a> {
    pub location: Location,
    /// The value's text when it is a scalar.
    pub text: Option<&'a str>,
}

impl SpanTree {
    /// The tree of `text` (an empty tree when it does not parse: parsing reports that).
    pub fn parse(text: &str) -> SpanTree {
        SpanTree {
            root: serde_saphyr::from_str(text).ok(),
        }
    }

    /// The value at a dotted path (`left.query`, `group_by.2`).
    pub fn find(&self, path: &str) -> Option<Found<'_>> {
        let node = self.node_at(path)?;
        let text = match &node.value {
            Node::Scalar(t) => t.as_deref(),
            _ => None,
        };
        Some(Found {
            location: node.referenced,
            text,
        })
    }

    /// Where the key of the value at `path` is written (`templates.ops` → the `ops:` key).
    pub fn key_location(&self, path: &str) -> Option<Location> {
        let (parent, last) = path.rsplit_once('.').unwrap_or(("", path));
        match &self.node_at(parent)?.value {
            Node::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.value == last)
                .map(|(k, _)| k.referenced),
            _ => None,
        }
    }

    fn node_at(&self, path: &str) -> Option<&Spanned<Node>> {
        let mut node = self.root.as_ref()?;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            node = match &node.value {
                Node::Map(entries) => &entries.iter().find(|(k, _)| k.value == part)?.1,
                Node::Seq(items) => items.get(part.parse::<usize>().ok()?)?,
                Node::Scalar(_) => return None,
            };
        }
        Some(node)
    }

    /// The keys of the top-level map, each with where it is written, in file order.
    pub fn top_keys(&self) -> Vec<(&str, Location)> {
        match self.root.as_ref().map(|r| &r.value) {
            Some(Node::Map(entries)) => entries
                .iter()
                .map(|(k, _)| (k.value.as_str(), k.referenced))
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let key = Spanned {
                value: key.value.0,
                referenced: key.referenced,
                defined: key.defined,
            };
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(None))
    }
}

/// A map key as written (`n:` is the key "n", not YAML 1.1's `false`), as serde reads the
/// keys of a struct.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(KeyText)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values_and_list_items() {
        let tree = SpanTree::parse(
            "name: a\nleft: {source: x, query: 'a b'}\nlist:\n  - one\n  - two\nn: 5\n",
        );
        let q = tree.find("left.query").unwrap();
        assert_eq!((q.location.line(), q.location.column()), (2, 26));
        assert_eq!(q.text, Some("a b"));
        let two = tree.find("list.1").unwrap();
        assert_eq!((two.location.line(), two.text), (5, Some("two")));
        assert_eq!(tree.find("n").unwrap().text, Some("5"));
        assert!(tree.find("left.missing").is_none());
        assert!(tree.find("name.deeper").is_none());
        assert!(SpanTree::parse("a: [").find("a").is_none());
        let keys: Vec<_> = tree
            .top_keys()
            .into_iter()
            .map(|(k, l)| (k, l.line(), l.column()))
            .collect();
        assert_eq!(
            keys,
            [("name", 1, 1), ("left", 2, 1), ("list", 3, 1), ("n", 6, 1)]
        );
    }
}
