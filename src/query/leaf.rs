//! Compiled leaf clauses other than plain words: wildcards, regular expressions, ranges,
//! typed (keyword, number, date, IP) comparisons and `_exists_`, tested against one scalar
//! value of an event at a time.

use std::ops::Bound as StdBound;

use regex::Regex;
use serde_json::{Number, Value};

use super::analyze::{lowercase, tokens};
use super::ast::{Ast, Bound};
use super::fields::{event_date_ms, ip_bits, parse_ip_block, parse_number, DateExpr, FieldType};

/// One scalar of an event's field (an array yields one per element).
#[derive(Clone, Copy)]
pub(crate) enum Scalar<'a> {
    Str(&'a str),
    Num(&'a Number),
    Bool(bool),
    /// An object, matched by its JSON text as Elasticsearch would refuse to index it anyway.
    Object(&'a Value),
}

/// What a leaf checks on each scalar.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    /// Text: some lowercased token matches the whole pattern.
    TokenPattern(Pattern),
    /// Text: some lowercased token lies in the range; JSON numbers compare numerically when
    /// both ends are numbers (Elasticsearch maps JSON numbers as numbers).
    TextRange {
        lower: StdBound<Box<str>>,
        upper: StdBound<Box<str>>,
        numeric: Option<(StdBound<f64>, StdBound<f64>)>,
    },
    KeywordEq(Box<str>),
    KeywordPattern(Pattern),
    KeywordRange(StdBound<Box<str>>, StdBound<Box<str>>),
    Number(StdBound<f64>, StdBound<f64>),
    Date(DateRange),
    /// Inclusive interval of mapped IPv6 addresses.
    Ip(u128, u128),
    Exists,
}

/// A wildcard or regular expression, anchored to the whole token or value.
#[derive(Debug, Clone)]
pub(crate) struct Pattern(Regex);

impl Pattern {
    fn is_match(&self, s: &str) -> bool {
        self.0.is_match(s)
    }
}

/// A date range whose ends may read the clock (`now-15m`), resolved when matched.
#[derive(Debug, Clone)]
pub(crate) struct DateRange {
    lower: StdBound<DateExpr>,
    upper: StdBound<DateExpr>,
}

impl DateRange {
    /// Inclusive epoch-millisecond limits, reading Elasticsearch's rounding: `>`/`<=` use the
    /// latest instant a value names, `>=`/`<` the earliest.
    fn limits(&self, now: i64) -> (i64, i64) {
        let lo = match &self.lower {
            StdBound::Unbounded => i64::MIN,
            StdBound::Included(e) => e.resolve(now).map_or(i64::MAX, |r| r.0),
            StdBound::Excluded(e) => e.resolve(now).map_or(i64::MAX, |r| r.1.saturating_add(1)),
        };
        let hi = match &self.upper {
            StdBound::Unbounded => i64::MAX,
            StdBound::Included(e) => e.resolve(now).map_or(i64::MIN, |r| r.1),
            StdBound::Excluded(e) => e.resolve(now).map_or(i64::MIN, |r| r.0.saturating_sub(1)),
        };
        (lo, hi)
    }

    /// Whether the range has fixed ends that leave no instant between them.
    pub(crate) fn is_fixed_and_empty(&self) -> bool {
        if self.relative() {
            return false;
        }
        let (lo, hi) = self.limits(0);
        lo > hi
    }

    fn relative(&self) -> bool {
        let rel = |b: &StdBound<DateExpr>| match b {
            StdBound::Included(e) | StdBound::Excluded(e) => e.is_relative(),
            StdBound::Unbounded => false,
        };
        rel(&self.lower) || rel(&self.upper)
    }
}

impl Test {
    /// Whether one scalar passes; `now_ms` is what `now` in date math means.
    pub(crate) fn test(&self, s: Scalar<'_>, now_ms: i64) -> bool {
        match self {
            Test::Exists => true,
            Test::TokenPattern(p) => with_text(s, |text| {
                tokens(text).any(|t| with_lower(t, |t| p.is_match(t)))
            }),
            Test::TextRange {
                lower,
                upper,
                numeric,
            } => {
                if let (Some((lo, hi)), Scalar::Num(n)) = (numeric, s) {
                    return n.as_f64().is_some_and(|v| in_range(&v, lo, hi));
                }
                with_text(s, |text| {
                    tokens(text).any(|t| with_lower(t, |t| in_str_range(t, lower, upper)))
                })
            }
            Test::KeywordEq(want) => keyword(s, |v| v == &**want),
            Test::KeywordPattern(p) => keyword(s, |v| p.is_match(v)),
            Test::KeywordRange(lo, hi) => keyword(s, |v| in_str_range(v, lo, hi)),
            Test::Number(lo, hi) => number(s).is_some_and(|v| in_range(&v, lo, hi)),
            Test::Date(range) => {
                let ms = match s {
                    Scalar::Str(text) => event_date_ms(text),
                    Scalar::Num(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
                    _ => None,
                };
                ms.is_some_and(|ms| {
                    let (lo, hi) = range.limits(now_ms);
                    lo <= ms && ms <= hi
                })
            }
            Test::Ip(lo, hi) => match s {
                Scalar::Str(text) => text
                    .trim()
                    .parse()
                    .is_ok_and(|ip| (*lo..=*hi).contains(&ip_bits(ip))),
                _ => false,
            },
        }
    }
}

fn in_range<T: PartialOrd>(v: &T, lo: &StdBound<T>, hi: &StdBound<T>) -> bool {
    (match lo {
        StdBound::Unbounded => true,
        StdBound::Included(l) => v >= l,
        StdBound::Excluded(l) => v > l,
    }) && (match hi {
        StdBound::Unbounded => true,
        StdBound::Included(h) => v <= h,
        StdBound::Excluded(h) => v < h,
    })
}

fn in_str_range(v: &str, lo: &StdBound<Box<str>>, hi: &StdBound<Box<str>>) -> bool {
    in_range(&v, &as_str(lo), &as_str(hi))
}

fn as_str(b: &StdBound<Box<str>>) -> StdBound<&str> {
    match b {
        StdBound::Unbounded => StdBound::Unbounded,
        StdBound::Included(s) => StdBound::Included(s),
        StdBound::Excluded(s) => StdBound::Excluded(s),
    }
}

fn number(s: Scalar<'_>) -> Option<f64> {
    match s {
        Scalar::Num(n) => n.as_f64(),
        Scalar::Str(text) => parse_number(text),
        _ => None,
    }
}

/// A keyword's value: strings as they are, numbers and booleans as JSON prints them.
fn keyword(s: Scalar<'_>, test: impl FnOnce(&str) -> bool) -> bool {
    match s {
        Scalar::Object(_) => false,
        other => with_text(other, test),
    }
}

/// Runs `test` on the text of a scalar (numbers formatted like `Event::text`).
pub(crate) fn with_text(s: Scalar<'_>, test: impl FnOnce(&str) -> bool) -> bool {
    match s {
        Scalar::Str(text) => test(text),
        Scalar::Bool(b) => test(if b { "true" } else { "false" }),
        Scalar::Num(n) => super::matcher::with_number_text(n, test),
        Scalar::Object(v) => test(&v.to_string()),
    }
}

/// Runs `test` on `token` lowercased, copying only when it has uppercase letters.
fn with_lower<R>(token: &str, test: impl FnOnce(&str) -> R) -> R {
    let has_upper = if token.is_ascii() {
        token.bytes().any(|b| b.is_ascii_uppercase())
    } else {
        token.chars().any(|c| {
            let mut lower = c.to_lowercase();
            !(lower.next() == Some(c) && lower.next().is_none())
        })
    };
    if has_upper {
        test(&lowercase(token))
    } else {
        test(token)
    }
}

/// Compiles a non-word leaf for a field of type `ty`. Errors name the problem in words the
/// parser shows under the clause.
pub(crate) fn compile(ast: &Ast, ty: FieldType, field: &str) -> Result<Test, String> {
    let declared = |what: &str| format!("field `{field}` is declared {}: {what}", ty.name());
    match (ast, ty) {
        (Ast::Exists { .. }, _) => Ok(Test::Exists),
        (Ast::Wildcard { pattern, .. }, _) if pattern == "*" => Ok(Test::Exists),
        (Ast::Wildcard { pattern, .. }, FieldType::Text) => {
            Ok(Test::TokenPattern(glob(&lowercase(pattern))?))
        }
        (Ast::Wildcard { pattern, .. }, FieldType::Keyword) => {
            Ok(Test::KeywordPattern(glob(pattern)?))
        }
        (Ast::Regex { pattern, .. }, FieldType::Text) => Ok(Test::TokenPattern(regex(pattern)?)),
        (Ast::Regex { pattern, .. }, FieldType::Keyword) => {
            Ok(Test::KeywordPattern(regex(pattern)?))
        }
        (Ast::Wildcard { .. } | Ast::Regex { .. }, _) => Err(declared(
            "wildcards and regular expressions only apply to text and keyword fields",
        )),
        (Ast::Term { text, .. } | Ast::Phrase { text, .. }, _) => {
            let exact = Bound::Included(text.clone());
            range(&exact, &exact, ty, field)
        }
        (Ast::Range { lower, upper, .. }, _) => range(lower, upper, ty, field),
        (Ast::MatchAll | Ast::Not(_) | Ast::And(_) | Ast::Or(_), _) => {
            Err("not a leaf clause".to_string())
        }
    }
}

/// A range (or, with equal inclusive ends, an exact value) for a typed field.
fn range(lower: &Bound, upper: &Bound, ty: FieldType, field: &str) -> Result<Test, String> {
    let declared = |why: String| format!("{why} (field `{field}` is declared {})", ty.name());
    match ty {
        FieldType::Text => {
            let num = |b: &Bound| map_bound(b, |v| parse_number(v).ok_or(String::new()));
            let numeric = num(lower).ok().zip(num(upper).ok());
            Ok(Test::TextRange {
                lower: map_bound(lower, |v| Ok::<_, String>(lowercase(v).into()))?,
                upper: map_bound(upper, |v| Ok::<_, String>(lowercase(v).into()))?,
                numeric,
            })
        }
        FieldType::Keyword => match (lower, upper) {
            (Bound::Included(a), Bound::Included(b)) if a == b => {
                Ok(Test::KeywordEq(a.as_str().into()))
            }
            _ => Ok(Test::KeywordRange(
                map_bound(lower, |v| Ok::<_, String>(v.into()))?,
                map_bound(upper, |v| Ok::<_, String>(v.into()))?,
            )),
        },
        FieldType::Number => {
            let num = |b: &Bound| {
                map_bound(b, |v| {
                    parse_number(v).ok_or_else(|| declared(format!("`{v}` is not a number")))
                })
            };
            Ok(Test::Number(num(lower)?, num(upper)?))
        }
        FieldType::Date => {
            let date = |b: &Bound| map_bound(b, |v| DateExpr::parse(v).map_err(&declared));
            Ok(Test::Date(DateRange {
                lower: date(lower)?,
                upper: date(upper)?,
            }))
        }
        FieldType::Ip => {
            let block = |v: &str| parse_ip_block(v).map_err(&declared);
            let lo = match lower {
                Bound::Unbounded => 0,
                Bound::Included(v) => block(v)?.0,
                Bound::Excluded(v) => block(v)?.1.saturating_add(1),
            };
            let hi = match upper {
                Bound::Unbounded => u128::MAX,
                Bound::Included(v) => block(v)?.1,
                Bound::Excluded(v) => block(v)?.0.saturating_sub(1),
            };
            Ok(Test::Ip(lo, hi))
        }
    }
}

fn map_bound<T, E>(b: &Bound, f: impl FnOnce(&str) -> Result<T, E>) -> Result<StdBound<T>, E> {
    Ok(match b {
        Bound::Unbounded => StdBound::Unbounded,
        Bound::Included(v) => StdBound::Included(f(v)?),
        Bound::Excluded(v) => StdBound::Excluded(f(v)?),
    })
}

/// A Lucene wildcard pattern as an anchored regex: `*` any run, `?` one character.
fn glob(pattern: &str) -> Result<Pattern, String> {
    let mut re = String::from("^(?s:");
    let mut chars = pattern.chars();
    let mut buf = [0u8; 4];
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '\\' => {
                if let Some(next) = chars.next() {
                    re.push_str(&regex::escape(next.encode_utf8(&mut buf)));
                }
            }
            c => re.push_str(&regex::escape(c.encode_utf8(&mut buf))),
        }
    }
    re.push_str(")$");
    Regex::new(&re)
        .map(Pattern)
        .map_err(|e| format!("wildcard pattern too large: {e}"))
}

/// A regular expression, anchored to the whole token or value as in Lucene.
fn regex(pattern: &str) -> Result<Pattern, String> {
    let anchored = format!("^(?:{pattern})$");
    regex::RegexBuilder::new(&anchored)
        // Bounds compile time and memory so a hostile rule cannot stall startup.
        .size_limit(1 << 20)
        .build()
        .map(Pattern)
        .map_err(|e| match e {
            regex::Error::Syntax(msg) => {
                let last = msg.lines().last().unwrap_or("").trim();
                let why = last.strip_prefix("error: ").unwrap_or(last);
                format!("invalid regular expression /{pattern}/: {why}")
            }
            other => format!("invalid regular expression /{pattern}/: {other}"),
        })
}
