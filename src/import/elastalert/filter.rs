//! ElastAlert `filter:` lists — Elasticsearch query DSL — into one Klaxon query. Each
//! clause maps to the Lucene text that means the same over the same mapping; what has no
//! counterpart (`geo_distance`, `script`, `should` with "at least 2 of 3") is refused with
//! the path of the clause, never approximated.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::query::{Ast, FieldType, QueryOptions};

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

    fn query_string(&mut self, body: &Value, path: &str) -> Result<Q> {
        let (text, opts) = match body {
            Value::String(s) => (s.as_str(), &Map::new()),
            Value::Object(m) => match m.get("query") {
                Some(Value::String(s)) => (s.as_str(), m),
                _ => return refuse(path, "`query_string` needs a `query` text"),
            },
            _ => return refuse(path, "`query_string` needs a `query` text"),
        };
        let mut options = QueryOptions::default();
        let mut explicit_field = false;
        for (key, value) in opts {
            match (key.as_str(), value) {
                ("query", _) => {}
                ("default_field", Value::String(f)) if f == "*" => {}
                ("default_field", Value::String(f)) => {
                    options.default_field = f.clone();
                    explicit_field = true;
                }
                ("default_operator", Value::String(op)) => match op.to_ascii_uppercase().as_str() {
                    "AND" => options.default_operator = crate::query::DefaultOperator::And,
                    "OR" => {}
                    _ => return refuse(&format!("{path}.{key}"), "expected AND or OR"),
                },
                ("fields", Value::Array(f)) if f.len() == 1 && f[0].is_string() => {
                    options.default_field = f[0].as_str().unwrap_or_default().to_string();
                    explicit_field = true;
                }
                ("fields", _) => {
                    return refuse(
                        &format!("{path}.{key}"),
                        "several default fields: write the field names into the query",
                    )
                }
                (
                    "analyze_wildcard"
                    | "allow_leading_wildcard"
                    | "boost"
                    | "_name"
                    | "lenient"
                    | "auto_generate_synonyms_phrase_query"
                    | "escape",
                    _,
                ) => {}
                _ => self.dropped.push(Refused {
                    path: format!("{path}.{key}"),
                    reason: "a `query_string` option Klaxon does not have".into(),
                }),
            }
        }
        let parsed = match crate::query::parse(text, &options) {
            Ok(q) => q,
            Err(e) => {
                return refuse(
                    path,
                    format!("Klaxon cannot read this query: {}", e.message()),
                )
            }
        };
        let ast = parsed.ast();
        if !explicit_field && has_bare_term(ast) {
            self.dropped.push(Refused {
                path: path.to_string(),
                reason: "bare terms search the `message` field in Klaxon; in Elasticsearch they \
                         searched every field (write `field:term` where the text is elsewhere)"
                    .into(),
            });
        }
        // Events carry `status`, not the index's `status.keyword` sub-field.
        let keyword_fields: Vec<String> = parsed
            .fields()
            .into_iter()
            .filter(|f| f.ends_with(".keyword"))
            .map(strip_keyword)
            .collect();
        for f in &keyword_fields {
            self.hint(f, FieldType::Keyword);
        }
        // The text as written reads the same in Klaxon unless options changed how it reads.
        if keyword_fields.is_empty()
            && !explicit_field
            && options.default_operator == crate::query::DefaultOperator::Or
        {
            return Ok(Q::Text(text.trim().to_string()));
        }
        let default = explicit_field.then_some(options.default_field.as_str());
        let rename = |f: &Option<String>| match f {
            Some(f) => Some(strip_keyword(f)),
            None => default.map(str::to_string),
        };
        Ok(Q::Text(map_fields(ast, &rename).to_string()))
    }

    fn term(&mut self, body: &Value, path: &str) -> Result<Q> {
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

    fn terms(&mut self, body: &Value, path: &str) -> Result<Q> {
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
    fn match_query(&mut self, body: &Value, path: &str, phrase: bool) -> Result<Q> {
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

    fn range(&mut self, body: &Value, path: &str) -> Result<Q> {
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

    fn exists_field(&mut self, body: &Value, path: &str) -> Result<String> {
        match body.get("field") {
            Some(Value::String(f)) => Ok(field_name(&strip_keyword(f))),
            _ => refuse(path, "expected `{field: name}`"),
        }
    }

    fn pattern(&mut self, body: &Value, path: &str, kind: PatternKind) -> Result<Q> {
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

#[derive(Clone, Copy)]
enum PatternKind {
    Wildcard,
    Prefix,
    Regexp,
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

fn strip_keyword(field: &str) -> String {
    field.strip_suffix(".keyword").unwrap_or(field).to_string()
}

/// A field name as query text: characters the syntax uses are escaped.
pub fn field_name(field: &str) -> String {
    escape(field, "")
}

const SPECIAL: &str = "+-=&|><!(){}[]^\"~*?:\\/";

/// `text` with every syntax character escaped except those in `keep`.
fn escape(text: &str, keep: &str) -> String {
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
fn wildcard_text(pattern: &str) -> String {
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
fn exact_value(v: &Value, path: &str) -> Result<String> {
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
                super::short(other)
            ),
        ),
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn bound_value(v: &Value, path: &str) -> Result<Value> {
    match v {
        Value::String(_) | Value::Number(_) => Ok(v.clone()),
        other => refuse(
            path,
            format!(
                "expected a number or a date, found `{}`",
                super::short(other)
            ),
        ),
    }
}

/// A range end: bare when it is a plain number or date, quoted otherwise.
fn range_text(s: &str) -> String {
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
fn bound_type(v: &Value) -> Option<FieldType> {
    match v {
        Value::Number(_) => Some(FieldType::Number),
        Value::String(s) if s.parse::<f64>().is_ok() => Some(FieldType::Number),
        Value::String(s) if s.starts_with("now") || looks_like_date(s) => Some(FieldType::Date),
        Value::String(s) if is_ip_or_block(s) => Some(FieldType::Ip),
        _ => None,
    }
}

fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
}

fn is_ip_or_block(s: &str) -> bool {
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

fn has_bare_term(ast: &Ast) -> bool {
    match ast {
        Ast::Term { field, .. }
        | Ast::Phrase { field, .. }
        | Ast::Wildcard { field, .. }
        | Ast::Regex { field, .. }
        | Ast::Range { field, .. } => field.is_none(),
        Ast::Exists { .. } | Ast::MatchAll => false,
        Ast::Not(inner) => has_bare_term(inner),
        Ast::And(items) | Ast::Or(items) => items.iter().any(has_bare_term),
    }
}

/// `ast` with every clause's field (`None`: the default field) replaced by `rename`'s.
fn map_fields(ast: &Ast, rename: &dyn Fn(&Option<String>) -> Option<String>) -> Ast {
    match ast {
        Ast::Term { field, text } => Ast::Term {
            field: rename(field),
            text: text.clone(),
        },
        Ast::Phrase { field, text } => Ast::Phrase {
            field: rename(field),
            text: text.clone(),
        },
        Ast::Wildcard { field, pattern } => Ast::Wildcard {
            field: rename(field),
            pattern: pattern.clone(),
        },
        Ast::Regex { field, pattern } => Ast::Regex {
            field: rename(field),
            pattern: pattern.clone(),
        },
        Ast::Range {
            field,
            lower,
            upper,
        } => Ast::Range {
            field: rename(field),
            lower: lower.clone(),
            upper: upper.clone(),
        },
        Ast::Exists { field } => Ast::Exists {
            field: rename(&Some(field.clone())).unwrap_or_else(|| field.clone()),
        },
        Ast::Not(inner) => Ast::Not(Box::new(map_fields(inner, rename))),
        Ast::And(items) => Ast::And(items.iter().map(|a| map_fields(a, rename)).collect()),
        Ast::Or(items) => Ast::Or(items.iter().map(|a| map_fields(a, rename)).collect()),
        Ast::MatchAll => Ast::MatchAll,
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
