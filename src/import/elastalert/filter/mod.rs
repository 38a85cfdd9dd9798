//! ElastAlert `filter:` lists — Elasticsearch query DSL — into one Klaxon query. Each
//! clause maps to the Lucene text that means the same over the same mapping; what has no
//! counterpart (`geo_distance`, `script`, `should` with "at least 2 of 3") is refused with
//! the path of the clause, never approximated.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::query::FieldType;

use leaves::PatternKind;
use text::is_ip_or_block;
pub use text::{field_name, strip_keyword};

mod leaves;
mod query_string;
mod text;

/// A query being assembled.
#[derive(Debug, Clone, PartialEq)]
pub enum Q {
    /// Every event (an empty filter, `match_all`).
    All,
    /// One clause: `field:"value"`, `field:[1 TO 5]`.
    Leaf(String),
    /// A whole query from `query_string`: parenthesized when combined.
    Text(String),
    And(Vec<Q>),
    Or(Vec<Q>),
    Not(Box<Q>),
}

/// A clause that cannot be converted: where (`filter.2.geo_distance`) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub path: String,
    pub reason: String,
}

/// What translating learnt besides the query: the field types the clauses imply, and
/// options dropped on the way (each with its path).
#[derive(Debug, Default)]
pub struct Translation {
    pub hints: BTreeMap<String, Vec<FieldType>>,
    pub dropped: Vec<Refused>,
}

type Result<T> = std::result::Result<T, Refused>;

fn refuse<T>(path: &str, reason: impl Into<String>) -> Result<T> {
    Err(Refused {
        path: path.to_string(),
        reason: reason.into(),
    })
}

impl Translation {
    /// The query the `filter:` list at `path` means (its items ANDed, as ElastAlert does).
    pub fn filters(&mut self, filters: &Value, path: &str) -> Result<Q> {
        match filters {
            Value::Null => Ok(Q::All),
            Value::Array(items) => {
                let mut all = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    all.push(self.clause(item, &format!("{path}.{i}"))?);
                }
                Ok(and(all))
            }
            Value::Object(_) => self.clause(filters, path),
            other => refuse(
                path,
                format!(
                    "expected a list of filters, found `{}`",
                    super::short(other)
                ),
            ),
        }
    }

    /// One DSL object: `{term: {…}}`, `{bool: {…}}`, `{query: {query_string: …}}`.
    fn clause(&mut self, value: &Value, path: &str) -> Result<Q> {
        let Value::Object(map) = value else {
            return refuse(
                path,
                format!("expected a filter object, found `{}`", super::short(value)),
            );
        };
        let mut parts = Vec::new();
        for (kind, body) in map {
            let here = format!("{path}.{kind}");
            let q = match kind.as_str() {
                "query" | "filter" | "constant_score" => match body {
                    Value::Object(inner)
                        if inner.contains_key("filter") && kind == "constant_score" =>
                    {
                        self.filters(&inner["filter"], &format!("{here}.filter"))?
                    }
                    _ => self.filters(body, &here)?,
                },
                "query_string" => self.query_string(body, &here)?,
                "term" => self.term(body, &here)?,
                "terms" => self.terms(body, &here)?,
                "match" => self.match_query(body, &here, false)?,
                "match_phrase" => self.match_query(body, &here, true)?,
                "range" => self.range(body, &here)?,
                "exists" => Q::Leaf(format!("_exists_:{}", self.exists_field(body, &here)?)),
                "missing" => Q::Not(Box::new(Q::Leaf(format!(
                    "_exists_:{}",
                    self.exists_field(body, &here)?
                )))),
                "wildcard" => self.pattern(body, &here, PatternKind::Wildcard)?,
                "prefix" => self.pattern(body, &here, PatternKind::Prefix)?,
                "regexp" => self.pattern(body, &here, PatternKind::Regexp)?,
                "bool" => self.bool_query(body, &here)?,
                "match_all" => Q::All,
                // The filter syntax of Elasticsearch 1.x, still seen in old rule files.
                "and" | "or" => {
                    let items = match body {
                        Value::Object(m) if m.contains_key("filters") => &m["filters"],
                        other => other,
                    };
                    let Value::Array(items) = items else {
                        return refuse(&here, "expected a list of filters");
                    };
                    let mut qs = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        qs.push(self.clause(item, &format!("{here}.{i}"))?);
                    }
                    if kind == "and" {
                        and(qs)
                    } else {
                        or(qs)
                    }
                }
                "not" => {
                    let inner = match body {
                        Value::Object(m) if m.len() == 1 && m.contains_key("filter") => {
                            &m["filter"]
                        }
                        other => other,
                    };
                    not(self.clause(inner, &here)?, &here)?
                }
                "_name" | "boost" => continue,
                // Mapping types are gone since Elasticsearch 7: every document passed them.
                "type" => {
                    self.dropped.push(Refused {
                        path: here,
                        reason: "mapping types no longer exist; the filter is dropped".into(),
                    });
                    continue;
                }
                "match_none" => return refuse(&here, "matches nothing: the rule could never fire"),
                other => {
                    return refuse(
                        &here,
                        format!("`{other}` has no counterpart in Klaxon's query language"),
                    )
                }
            };
            parts.push(q);
        }
        // `{}`, or only dropped clauses: no condition.
        Ok(and(parts))
    }

    fn bool_query(&mut self, body: &Value, path: &str) -> Result<Q> {
        let Value::Object(m) = body else {
            return refuse(path, "expected `{must: …, should: …}`");
        };
        let mut parts = Vec::new();
        let mut should = Vec::new();
        let mut minimum = None;
        for (key, value) in m {
            let here = format!("{path}.{key}");
            match key.as_str() {
                "must" | "filter" => parts.push(self.filters(value, &here)?),
                "must_not" => {
                    let q = self.filters(&as_list(value), &here)?;
                    // Each `must_not` clause is excluded on its own: NOT a AND NOT b.
                    match q {
                        Q::And(items) => {
                            for item in items {
                                parts.push(not(item, &here)?);
                            }
                        }
                        q => parts.push(not(q, &here)?),
                    }
                }
                "should" => {
                    if let Value::Array(items) = &as_list(value) {
                        for (i, item) in items.iter().enumerate() {
                            should.push(self.clause(item, &format!("{here}.{i}"))?);
                        }
                    }
                }
                "minimum_should_match" => minimum = Some((value.clone(), here)),
                "boost" | "_name" | "adjust_pure_negative" => {}
                other => return refuse(&here, format!("unknown `bool` clause `{other}`")),
            }
        }
        // ElastAlert's filters run in filter context, where at least one `should` clause must
        // match unless `minimum_should_match` says otherwise.
        if !should.is_empty() {
            let count = should.len();
            let need = match &minimum {
                None => 1,
                Some((v, here)) => match minimum_should_match(v, count) {
                    Some(n) => n,
                    None => return refuse(here, "expected a count or a percentage"),
                },
            };
            match need {
                0 => {}
                1 => parts.push(or(should)),
                n if n >= count => parts.push(and(should)),
                n => {
                    return refuse(
                        &minimum.map(|(_, h)| h).unwrap_or_else(|| path.to_string()),
                        format!(
                            "at least {n} of {count} `should` clauses has no counterpart; \
                             list the combinations with OR"
                        ),
                    )
                }
            }
        }
        Ok(and(parts))
    }

    /// The field of a `term`/`terms` clause, `.keyword` removed (events carry the field
    /// itself), with the type its value suggests.
    fn exact_field(&mut self, field: &str, value: &Value) -> String {
        let name = strip_keyword(field);
        let kind = match value {
            Value::String(s) if is_ip_or_block(s) => Some(FieldType::Ip),
            Value::String(_) => Some(FieldType::Keyword),
            _ => None,
        };
        if let Some(kind) = kind {
            self.hint(&name, kind);
        }
        name
    }

    fn hint(&mut self, field: &str, kind: FieldType) {
        let kinds = self.hints.entry(field.to_string()).or_default();
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
}

/// The query as Klaxon text.
pub fn render(q: &Q) -> String {
    match q {
        Q::All => "*:*".into(),
        Q::Leaf(s) | Q::Text(s) => s.clone(),
        Q::And(items) => items.iter().map(grouped).collect::<Vec<_>>().join(" AND "),
        Q::Or(items) => items.iter().map(grouped).collect::<Vec<_>>().join(" OR "),
        Q::Not(inner) => format!("NOT {}", grouped(inner)),
    }
}

fn grouped(q: &Q) -> String {
    match q {
        Q::Leaf(_) | Q::All | Q::Not(_) => render(q),
        _ => format!("({})", render(q)),
    }
}

fn and(items: Vec<Q>) -> Q {
    let mut flat = Vec::new();
    for q in items {
        match q {
            Q::All => {}
            Q::And(inner) => flat.extend(inner),
            q => flat.push(q),
        }
    }
    match flat.len() {
        0 => Q::All,
        1 => flat.pop().unwrap_or(Q::All),
        _ => Q::And(flat),
    }
}

fn or(items: Vec<Q>) -> Q {
    let mut flat = Vec::new();
    for q in items {
        match q {
            Q::All => return Q::All,
            Q::Or(inner) => flat.extend(inner),
            q => flat.push(q),
        }
    }
    match flat.len() {
        0 => Q::All,
        1 => flat.pop().unwrap_or(Q::All),
        _ => Q::Or(flat),
    }
}

fn not(q: Q, path: &str) -> Result<Q> {
    match q {
        Q::All => refuse(path, "excludes every event: the rule could never fire"),
        Q::Not(inner) => Ok(*inner),
        q => Ok(Q::Not(Box::new(q))),
    }
}

fn as_list(v: &Value) -> Value {
    match v {
        Value::Array(_) => v.clone(),
        other => Value::Array(vec![other.clone()]),
    }
}

fn minimum_should_match(v: &Value, count: usize) -> Option<usize> {
    let n: i64 = match v {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) if s.trim().ends_with('%') => {
            let pct: i64 = s.trim().trim_end_matches('%').trim().parse().ok()?;
            // Elasticsearch rounds a percentage of the clauses down.
            let of = (count as i64 * pct.abs()) / 100;
            if pct < 0 {
                -of
            } else {
                of
            }
        }
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    // A negative number is how many may be missing.
    let need = if n < 0 { count as i64 + n } else { n };
    Some(need.clamp(0, count as i64) as usize)
}

/// `{field: value}` with exactly one field (beside `boost`/`_name`).
fn single_field<'v>(body: &'v Value, path: &str) -> Result<(&'v str, &'v Value)> {
    let Value::Object(m) = body else {
        return refuse(path, "expected `{field: value}`");
    };
    let mut fields = m.iter().filter(|(k, _)| *k != "boost" && *k != "_name");
    match (fields.next(), fields.next()) {
        (Some((k, v)), None) => Ok((k.as_str(), v)),
        _ => refuse(path, "expected exactly one field"),
    }
}

#[cfg(test)]
mod tests;
