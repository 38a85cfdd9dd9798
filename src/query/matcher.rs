//! The compiled form of a query: a flattened boolean tree over pre-analyzed, lowercased words
//! and typed leaves, evaluated against an event without allocating (except for rare
//! object-valued fields and wildcard tests on uppercase tokens).

use std::fmt::Write as _;

use serde_json::Value;

use super::analyze::{analyze, eq_lower, may_contain, tokens};
use super::ast::Ast;
use super::fields::FieldType;
use super::leaf::{self, Scalar, Test};
use super::QueryOptions;
use crate::event::Event;

/// A compiled query node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    All(Box<[Node]>),
    Any(Box<[Node]>),
    Not(Box<Node>),
    /// One word or consecutive words (a phrase) in a text field.
    Words(Words),
    /// Any of several single words in one text field: `a OR b OR c` scans the field once.
    AnyWord {
        field: Box<str>,
        words: Box<[Box<str>]>,
    },
    /// Any other clause on one field.
    Leaf {
        field: Box<str>,
        test: Test,
        /// A string every matching value contains (ASCII case aside), for the prefilter.
        literal: Option<Box<str>>,
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

    /// The lowercased words, in order.
    pub(crate) fn words(&self) -> &[Box<str>] {
        &self.words
    }

    /// Whether `text` holds the words consecutively.
    fn found_in(&self, text: &str) -> bool {
        // Cheap substring checks first: most text lacks the words, and tokenizing is slower.
        if !self.words.iter().all(|w| may_contain(text, w)) {
            return false;
        }
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

/// Compiles a validated AST (see `parser`); bare terms search the default field.
pub(crate) fn compile(ast: &Ast, opts: &QueryOptions) -> Result<Node, String> {
    Ok(match ast {
        Ast::Not(inner) => match compile(inner, opts)? {
            Node::Not(double) => *double,
            other => Node::Not(Box::new(other)),
        },
        Ast::And(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match compile(item, opts)? {
                    Node::All(nested) => out.extend(nested.into_vec()),
                    other => out.push(other),
                }
            }
            Node::All(out.into())
        }
        Ast::Or(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match compile(item, opts)? {
                    Node::Any(nested) => out.extend(nested.into_vec()),
                    other => out.push(other),
                }
            }
            merge_words(out)
        }
        // Every event: the conjunction of nothing.
        Ast::MatchAll => Node::All(Box::new([])),
        leaf => compile_leaf(leaf, opts)?,
    })
}

/// The field a leaf searches and its declared type.
pub(crate) fn leaf_field<'a>(ast: &'a Ast, opts: &'a QueryOptions) -> (&'a str, FieldType) {
    let field = match ast {
        Ast::Term { field, .. }
        | Ast::Phrase { field, .. }
        | Ast::Wildcard { field, .. }
        | Ast::Regex { field, .. }
        | Ast::Range { field, .. } => field.as_deref().unwrap_or(&opts.default_field),
        Ast::Exists { field } => field,
        Ast::MatchAll | Ast::Not(_) | Ast::And(_) | Ast::Or(_) => &opts.default_field,
    };
    (field, opts.field_type(field))
}

/// Compiles one leaf clause.
pub(crate) fn compile_leaf(ast: &Ast, opts: &QueryOptions) -> Result<Node, String> {
    let (field, ty) = leaf_field(ast, opts);
    if let (Ast::Term { text, .. } | Ast::Phrase { text, .. }, FieldType::Text) = (ast, ty) {
        let words = analyze(text);
        if words.is_empty() {
            return Err(format!("`{text}` has no letters or digits to search for"));
        }
        return Ok(Node::Words(Words::new(field, words)));
    }
    let test = leaf::compile(ast, ty, field)?;
    let literal = match (ast, &test) {
        (Ast::Wildcard { pattern, .. }, Test::TokenPattern(_)) => {
            longest_literal_run(&super::analyze::lowercase(pattern))
        }
        (Ast::Wildcard { pattern, .. }, Test::KeywordPattern(_)) => longest_literal_run(pattern),
        (_, Test::KeywordEq(v)) => Some(v.clone()),
        _ => None,
    };
    Ok(Node::Leaf {
        field: field.into(),
        test,
        literal,
    })
}

/// The longest run of a wildcard pattern with no wildcard in it (escapes resolved).
fn longest_literal_run(pattern: &str) -> Option<Box<str>> {
    let mut best = String::new();
    let mut cur = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => {
                if cur.len() > best.len() {
                    best = std::mem::take(&mut cur);
                }
                cur.clear();
            }
            '\\' => cur.extend(chars.next()),
            c => cur.push(c),
        }
    }
    if cur.len() > best.len() {
        best = cur;
    }
    (!best.is_empty()).then(|| best.into())
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
    /// Every field path the node reads (each leaf reads exactly its own).
    pub(crate) fn fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Node::All(items) | Node::Any(items) => items.iter().for_each(|n| n.fields(out)),
            Node::Not(inner) => inner.fields(out),
            Node::Words(w) => out.push(&w.field),
            Node::AnyWord { field, .. } | Node::Leaf { field, .. } => out.push(field),
        }
    }

    /// `now_ms` (epoch milliseconds) is what `now` in date math means.
    pub(crate) fn matches(&self, event: &Event, now_ms: i64) -> bool {
        match self {
            Node::All(items) => items.iter().all(|n| n.matches(event, now_ms)),
            Node::Any(items) => items.iter().any(|n| n.matches(event, now_ms)),
            Node::Not(inner) => !inner.matches(event, now_ms),
            Node::Words(w) => field_matches(event, &w.field, |s| {
                leaf::with_text(s, |text| w.found_in(text))
            }),
            Node::AnyWord { field, words } => field_matches(event, field, |s| {
                leaf::with_text(s, |text| {
                    words.iter().any(|w| may_contain(text, w))
                        && tokens(text).any(|t| words.iter().any(|w| eq_lower(t, w)))
                })
            }),
            Node::Leaf { field, test, .. } => field_matches(event, field, |s| test.test(s, now_ms)),
        }
    }
}

/// Runs `test` on each scalar of `field`; false when the field is missing or null. An array
/// matches when any element does, as in Elasticsearch. Plain lines have only `message`.
fn field_matches(event: &Event, field: &str, mut test: impl FnMut(Scalar<'_>) -> bool) -> bool {
    if event.fields.is_none() {
        return field == crate::event::MESSAGE_FIELD && test(Scalar::Str(&event.raw));
    }
    event
        .value(field)
        .is_some_and(|value| value_matches(value, &mut test))
}

fn value_matches(value: &Value, test: &mut impl FnMut(Scalar<'_>) -> bool) -> bool {
    match value {
        Value::String(s) => test(Scalar::Str(s)),
        Value::Bool(b) => test(Scalar::Bool(*b)),
        Value::Number(n) => test(Scalar::Num(n)),
        Value::Null => false,
        Value::Array(items) => items.iter().any(|v| value_matches(v, test)),
        Value::Object(_) => test(Scalar::Object(value)),
    }
}

/// Runs `test` on a number formatted like `Event::text` (serde_json's Display), on the stack.
pub(crate) fn with_number_text(n: &serde_json::Number, test: impl FnOnce(&str) -> bool) -> bool {
    let mut buf = NumBuf::default();
    if write!(buf, "{n}").is_ok() {
        test(buf.as_str())
    } else {
        test(&n.to_string())
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
