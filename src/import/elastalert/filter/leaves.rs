//! Leaf clauses: `term`, `terms`, `match`, `match_phrase`, `range`, `exists`, `wildcard`,
//! `prefix`, `regexp` — each one field and its value as Lucene text.

use serde_json::Value;

use super::text::*;
use super::{refuse, single_field, Refused, Result, Translation, Q};
use crate::query::FieldType;

impl Translation {
    pub(super) fn term(&mut self, body: &Value, path: &str) -> Result<Q> {
        let (field, value) = single_field(body, path)?;
        if field == "_type" {
            self.dropped.push(Refused {
                path: path.to_string(),
                reason: "mapping types no longer exist; the filter is dropped".into(),
            });
            return Ok(Q::All);
        }
        let value = match value {
            Value::Object(m) => {
                m.get("value")
                    .or_else(|| m.get("term"))
                    .ok_or_else(|| Refused {
                        path: format!("{path}.{field}"),
                        reason: "expected `value`".into(),
                    })?
            }
            v => v,
        };
        let field = self.exact_field(field, value);
        Ok(Q::Leaf(format!(
            "{}:{}",
            field_name(&field),
            exact_value(value, path)?
        )))
    }

    pub(super) fn terms(&mut self, body: &Value, path: &str) -> Result<Q> {
        let Value::Object(m) = body else {
            return refuse(path, "expected `{field: [values]}`");
        };
        let mut fields: Vec<(&String, &Value)> = m
            .iter()
            .filter(|(k, _)| *k != "boost" && *k != "_name")
            .collect();
        let Some((field, Value::Array(values))) = fields.pop().filter(|_| fields.is_empty()) else {
            return refuse(path, "expected one field with a list of values");
        };
        if values.is_empty() {
            return refuse(path, "an empty `terms` list matches nothing");
        }
        let mut written = Vec::new();
        for v in values {
            written.push(exact_value(v, path)?);
        }
        let field = self.exact_field(field, &values[0]);
        let name = field_name(&field);
        if written.len() == 1 {
            return Ok(Q::Leaf(format!("{name}:{}", written[0])));
        }
        Ok(Q::Leaf(format!("{name}:({})", written.join(" OR "))))
    }

    /// `match` (its words ORed, or ANDed with `operator: and`) and `match_phrase`.
    pub(super) fn match_query(&mut self, body: &Value, path: &str, phrase: bool) -> Result<Q> {
        let (field, value) = single_field(body, path)?;
        let (text, operator) = match value {
            Value::Object(m) => {
                for key in m.keys() {
                    if !matches!(key.as_str(), "query" | "operator" | "boost" | "_name") {
                        self.dropped.push(Refused {
                            path: format!("{path}.{field}.{key}"),
                            reason: "a match option Klaxon does not have".into(),
                        });
                    }
                }
                let op = m.get("operator").and_then(Value::as_str).unwrap_or("or");
                (
                    m.get("query").cloned().unwrap_or(Value::Null),
                    op.to_ascii_uppercase(),
                )
            }
            v => (v.clone(), "OR".to_string()),
        };
        let text = match &text {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return refuse(&format!("{path}.{field}"), "expected a text to match"),
        };
        // A `.keyword` sub-field is not analyzed: the whole value matches exactly.
        if let Some(base) = field.strip_suffix(".keyword") {
            self.hint(base, FieldType::Keyword);
            return Ok(Q::Leaf(format!("{}:{}", field_name(base), quoted(&text))));
        }
        let name = field_name(field);
        if phrase {
            return Ok(Q::Leaf(format!("{name}:{}", quoted(&text))));
        }
        let words: Vec<String> = text.split_whitespace().map(quoted).collect();
        match words.len() {
            0 => refuse(&format!("{path}.{field}"), "an empty text matches nothing"),
            1 => Ok(Q::Leaf(format!("{name}:{}", words[0]))),
            _ if operator == "AND" => Ok(Q::Leaf(format!("{name}:({})", words.join(" AND ")))),
            _ => Ok(Q::Leaf(format!("{name}:({})", words.join(" OR ")))),
        }
    }

    pub(super) fn range(&mut self, body: &Value, path: &str) -> Result<Q> {
        let (field, bounds) = single_field(body, path)?;
        let Value::Object(bounds) = bounds else {
            return refuse(&format!("{path}.{field}"), "expected `{gte: …, lt: …}`");
        };
        let here = format!("{path}.{field}");
        let (mut lower, mut upper) = (None, None);
        for (key, value) in bounds {
            let written = || bound_value(value, &format!("{here}.{key}"));
            match key.as_str() {
                "gt" => lower = Some(('{', written()?)),
                "gte" => lower = Some(('[', written()?)),
                "lt" => upper = Some(('}', written()?)),
                "lte" => upper = Some((']', written()?)),
                "boost" | "_name" => {}
                "format" | "time_zone" | "relation" => self.dropped.push(Refused {
                    path: format!("{here}.{key}"),
                    reason: "Klaxon reads dates as RFC 3339 or epoch milliseconds, in UTC".into(),
                }),
                other => return refuse(&format!("{here}.{other}"), "unknown range bound"),
            }
        }
        if lower.is_none() && upper.is_none() {
            return refuse(&here, "a range with no bound");
        }
        // Both ends must imply the same type (`[100 TO "abc"]` implies none).
        let kinds: Vec<Option<FieldType>> = [lower.as_ref(), upper.as_ref()]
            .into_iter()
            .flatten()
            .map(|(_, v)| bound_type(v))
            .collect();
        let kind = kinds[0].filter(|k| kinds.iter().all(|t| *t == Some(*k)));
        let field = strip_keyword(field);
        if let Some(kind) = kind {
            self.hint(&field, kind);
        }
        let name = field_name(&field);
        let text = |v: &Value| -> String {
            match v {
                Value::String(s) => range_text(s),
                other => other.to_string(),
            }
        };
        Ok(Q::Leaf(match (lower, upper) {
            (None, None) => unreachable!("refused above"),
            (Some(('[', l)), None) => format!("{name}:>={}", text(&l)),
            (Some((_, l)), None) => format!("{name}:>{}", text(&l)),
            (None, Some((']', u))) => format!("{name}:<={}", text(&u)),
            (None, Some((_, u))) => format!("{name}:<{}", text(&u)),
            (Some((lb, l)), Some((ub, u))) => {
                format!("{name}:{lb}{} TO {}{ub}", text(&l), text(&u))
            }
        }))
    }

    pub(super) fn exists_field(&mut self, body: &Value, path: &str) -> Result<String> {
        match body.get("field") {
            Some(Value::String(f)) => Ok(field_name(&strip_keyword(f))),
            _ => refuse(path, "expected `{field: name}`"),
        }
    }

    pub(super) fn pattern(&mut self, body: &Value, path: &str, kind: PatternKind) -> Result<Q> {
        let (field, value) = single_field(body, path)?;
        let value = match value {
            Value::Object(m) => {
                if m.get("case_insensitive") == Some(&Value::Bool(true)) {
                    self.dropped.push(Refused {
                        path: format!("{path}.{field}.case_insensitive"),
                        reason: "keyword patterns are case-sensitive in Klaxon; declare the \
                                 field `text` to match lowercased tokens"
                            .into(),
                    });
                }
                m.get("value").or_else(|| m.get("wildcard"))
            }
            v => Some(v),
        };
        let Some(Value::String(text)) = value else {
            return refuse(&format!("{path}.{field}"), "expected a text value");
        };
        let field = strip_keyword(field);
        self.hint(&field, FieldType::Keyword);
        let name = field_name(&field);
        Ok(Q::Leaf(match kind {
            PatternKind::Wildcard => format!("{name}:{}", wildcard_text(text)),
            PatternKind::Prefix if text.is_empty() => format!("_exists_:{name}"),
            PatternKind::Prefix => format!("{name}:{}*", escape(text, "")),
            PatternKind::Regexp => format!("{name}:/{}/", text.replace('/', "\\/")),
        }))
    }
}

#[derive(Clone, Copy)]
pub(super) enum PatternKind {
    Wildcard,
    Prefix,
    Regexp,
}
