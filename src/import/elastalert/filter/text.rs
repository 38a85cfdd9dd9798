//! Values and names as query text: escaping, quoting, and the field type a value implies.

use serde_json::Value;

use super::{refuse, Result};
use crate::query::FieldType;

pub fn strip_keyword(field: &str) -> String {
    field.strip_suffix(".keyword").unwrap_or(field).to_string()
}

/// A field name as query text: characters the syntax uses are escaped.
pub fn field_name(field: &str) -> String {
    escape(field, "")
}

const SPECIAL: &str = "+-=&|><!(){}[]^\"~*?:\\/";

/// `text` with every syntax character escaped except those in `keep`.
pub(super) fn escape(text: &str, keep: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (SPECIAL.contains(c) || c.is_whitespace()) && !keep.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An Elasticsearch wildcard (`*`, `?`, `\` escaping) as Klaxon wildcard text.
pub(super) fn wildcard_text(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => out.push(c),
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push('\\');
                    out.push(next);
                }
            }
            c => out.push_str(&escape(&c.to_string(), "")),
        }
    }
    out
}

/// A value compared exactly: numbers and booleans as written, text quoted.
pub(super) fn exact_value(v: &Value, path: &str) -> Result<String> {
    match v {
        Value::String(s) if s.is_empty() => refuse(
            path,
            "an empty string: Klaxon treats a field holding \"\" as having no words",
        ),
        Value::String(s) => Ok(quoted(s)),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => refuse(
            path,
            format!(
                "expected a text, number or boolean, found `{}`",
                super::super::short(other)
            ),
        ),
    }
}

pub(super) fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub(super) fn bound_value(v: &Value, path: &str) -> Result<Value> {
    match v {
        Value::String(_) | Value::Number(_) => Ok(v.clone()),
        other => refuse(
            path,
            format!(
                "expected a number or a date, found `{}`",
                super::super::short(other)
            ),
        ),
    }
}

/// A range end: bare when it is a plain number or date, quoted otherwise.
pub(super) fn range_text(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || "-_.:+|/".contains(c))
        && s != "*";
    if plain {
        s.replace('/', "\\/")
    } else {
        quoted(s)
    }
}

/// The field type a range's value implies: numbers, dates (date math, ISO dates).
pub(super) fn bound_type(v: &Value) -> Option<FieldType> {
    match v {
        Value::Number(_) => Some(FieldType::Number),
        Value::String(s) if s.parse::<f64>().is_ok() => Some(FieldType::Number),
        Value::String(s) if s.starts_with("now") || looks_like_date(s) => Some(FieldType::Date),
        Value::String(s) if is_ip_or_block(s) => Some(FieldType::Ip),
        _ => None,
    }
}

pub(super) fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
}

pub(super) fn is_ip_or_block(s: &str) -> bool {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    match bits.map(str::parse::<u8>) {
        None => true,
        Some(Ok(n)) => n <= if ip.is_ipv4() { 32 } else { 128 },
        Some(Err(_)) => false,
    }
}
