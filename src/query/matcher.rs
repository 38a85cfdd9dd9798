//! The compiled form of a query: a flattened boolean tree over pre-analyzed, lowercased words,
//! evaluated against an event without allocating (except for rare object-valued fields).

use std::fmt::Write as _;

use serde_json::Value;

use super::analyze::{analyze, eq_lower, tokens};
use super::ast::Ast;
use crate::event::Event;

/// A compiled query node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    All(Box<[Node]>),
    Any(Box<[Node]>),
    Not(Box<Node>),
    /// One word or consecutive words (a phrase) in a field.
    Words(Words),
    /// Any of several single words in one field: `a OR b OR c` scans the field once.
    AnyWord {
        field: Box<str>,
        words: Box<[Box<str>]>,
    },
}

/// A lowercased word sequence, with its KMP failure table so a phrase is found in one pass.
#[derive(Debug, Clone)]
pub(crate) struct Words {
    field: Box<str>,
    words: Box<[Box<str>]>,
    /// `fail[i]`: length of the longest proper prefix of `words[..=i]` that is also its suffix.
    fail: Box<[usize]>,
}

impl Words {
    fn new(field: &str, words: Vec<Box<str>>) -> Self {
        let mut fail = vec![0; words.len()];
        let mut k = 0;
        for i in 1..words.len() {
            while k > 0 && words[i] != words[k] {
                k = fail[k - 1];
            }
            if words[i] == words[k] {
                k += 1;
            }
            fail[i] = k;
        }
        Words {
            field: field.into(),
            words: words.into(),
            fail: fail.into(),
        }
    }

    /// Whether `text` holds the words consecutively.
    fn found_in(&self, text: &str) -> bool {
        match &*self.words {
            // The parser rejects clauses without words; an empty one matches nothing.
            [] => return false,
            [word] => return tokens(text).any(|t| eq_lower(t, word)),
            _ => {}
        }
        let mut k = 0;
        for t in tokens(text) {
            while k > 0 && !eq_lower(t, &self.words[k]) {
                k = self.fail[k - 1];
            }
            if eq_lower(t, &self.words[k]) {
                k += 1;
                if k == self.words.len() {
                    return true;
                }
            }
        }
        false
    }
}

/// Compiles an AST; bare terms search `default_field`.
pub(crate) fn compile(ast: &Ast, default_field: &str) -> Node {
    match ast {
        Ast::Term { field, text } | Ast::Phrase { field, text } => Node::Words(Words::new(
            field.as_deref().unwrap_or(default_field),
            analyze(text),
        )),
        Ast::Not(inner) => match compile(inner, default_field) {
            Node::Not(double) => *double,
            other => Node::Not(Box::new(other)),
        },
        Ast::And(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match compile(item, default_field) {
                    Node::All(nested) => out.extend(nested.into_vec()),
                    other => out.push(other),
                }
            }
            Node::All(out.into())
        }
        Ast::Or(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match compile(item, default_field) {
                    Node::Any(nested) => out.extend(nested.into_vec()),
                    other => out.push(other),
                }
            }
            merge_words(out)
        }
    }
}

/// Folds the single-word alternatives of an OR that share a field into one `AnyWord` scan.
fn merge_words(items: Vec<Node>) -> Node {
    let mut out: Vec<Node> = Vec::with_capacity(items.len());
    for item in items {
        let (field, words) = match item {
            Node::Words(w) if w.words.len() == 1 => (w.field, w.words.into_vec()),
            Node::AnyWord { field, words } => (field, words.into_vec()),
            other => {
                out.push(other);
                continue;
            }
        };
        let existing = out.iter_mut().find_map(|n| match n {
            Node::AnyWord { field: f, words } if *f == field => Some(words),
            _ => None,
        });
        match existing {
            Some(all) => {
                let mut merged = std::mem::take(all).into_vec();
                merged.extend(words);
                *all = merged.into();
            }
            None => out.push(Node::AnyWord {
                field,
                words: words.into(),
            }),
        }
    }
    if out.len() == 1 {
        out.pop().expect("one node")
    } else {
        Node::Any(out.into())
    }
}

impl Node {
    pub(crate) fn matches(&self, event: &Event) -> bool {
        match self {
            Node::All(items) => items.iter().all(|n| n.matches(event)),
            Node::Any(items) => items.iter().any(|n| n.matches(event)),
            Node::Not(inner) => !inner.matches(event),
            Node::Words(w) => field_matches(event, &w.field, |text| w.found_in(text)),
            Node::AnyWord { field, words } => field_matches(event, field, |text| {
                tokens(text).any(|t| words.iter().any(|w| eq_lower(t, w)))
            }),
        }
    }
}

/// Runs `test` on the text of `field`; false when the field is missing or null. An array
/// matches when any element does, as in Elasticsearch.
fn field_matches(event: &Event, field: &str, mut test: impl FnMut(&str) -> bool) -> bool {
    if event.fields.is_none() {
        return event.text(field).is_some_and(|text| test(&text));
    }
    event
        .value(field)
        .is_some_and(|value| value_matches(value, &mut test))
}

fn value_matches(value: &Value, test: &mut impl FnMut(&str) -> bool) -> bool {
    match value {
        Value::String(s) => test(s),
        Value::Bool(b) => test(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            // Formats like `Event::text` (serde_json's Display) into a stack buffer.
            let mut buf = NumBuf::default();
            if write!(buf, "{n}").is_ok() {
                test(buf.as_str())
            } else {
                test(&n.to_string())
            }
        }
        Value::Null => false,
        Value::Array(items) => items.iter().any(|v| value_matches(v, test)),
        Value::Object(_) => test(&value.to_string()),
    }
}

/// Enough for any f64 (at most 24 chars) or 64-bit integer serde_json prints.
#[derive(Default)]
struct NumBuf {
    bytes: [u8; 32],
    len: usize,
}

impl NumBuf {
    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so the prefix is valid UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for NumBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
