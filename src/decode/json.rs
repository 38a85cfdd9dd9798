//! JSON lines, read leniently: one odd value must not turn a whole line into a plain event
//! (where no field query can see it). A lone UTF-16 surrogate (`"\ud800"`) becomes U+FFFD;
//! a number no `f64` can hold (`1e400`, 500 digits) is kept as its text. Every other
//! field keeps its value.

use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserializer as _;
use serde_json::{Map, Value};

/// The line's fields, and whether anything had to be repaired; `None` when it is not a
/// JSON object even after repair.
#[cfg(test)]
pub(crate) fn parse(raw: &str) -> Option<(Map<String, Value>, bool)> {
    parse_keeping(raw, &|_| true)
}

/// Like [`parse`], keeping only the top-level keys `keep` accepts: the others are checked as
/// JSON, never built into values.
pub(crate) fn parse_keeping(
    raw: &str,
    keep: &dyn Fn(&str) -> bool,
) -> Option<(Map<String, Value>, bool)> {
    if let Ok(map) = object(raw, keep) {
        return Some((map, false));
    }
    let repaired = repair(raw)?;
    object(&repaired, keep).ok().map(|map| (map, true))
}

/// Fewer `[` and `{` than this and no value can nest as deep as serde_json refuses (128).
const SHALLOW: usize = 100;

/// One JSON object, nothing after it but whitespace.
fn object(text: &str, keep: &dyn Fn(&str) -> bool) -> serde_json::Result<Map<String, Value>> {
    // `IgnoredAny` skips fast and agrees with building a `Value` on everything but nesting
    // deeper than serde_json allows (numbers out of range and lone surrogates are repaired
    // either way); a line with few brackets cannot nest that deep.
    let brackets = memchr::memchr2_iter(b'[', b'{', text.as_bytes())
        .take(SHALLOW)
        .count();
    let mut de = serde_json::Deserializer::from_str(text);
    let map = (&mut de).deserialize_map(Keeping(keep, brackets >= SHALLOW))?;
    de.end()?;
    Ok(map)
}

/// Builds the object's map from the kept keys only; the flag says skipped values need
/// [`Skipped`]'s checks (see [`object`]).
struct Keeping<'k>(&'k dyn Fn(&str) -> bool, bool);

impl<'de> Visitor<'de> for Keeping<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key_seed(KeySeed)? {
            let name: &str = match &key {
                Key::Borrowed(k) => k,
                Key::Owned(k) => k,
            };
            if (self.0)(name) {
                let value: Value = access.next_value()?;
                map.insert(name.to_string(), value);
            } else if self.1 {
                access.next_value::<Skipped>()?;
            } else {
                access.next_value::<IgnoredAny>()?;
            }
        }
        Ok(map)
    }
}

/// A value read and dropped, with the checks building a `Value` makes (nesting depth,
/// number range, string escapes), so a line's fate never depends on which fields are kept.
/// serde's `IgnoredAny` skips without them, faster.
struct Skipped;

impl<'de> serde::Deserialize<'de> for Skipped {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Skipped, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skipped;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_str<E>(self, _: &str) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_unit<E>(self) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Skipped, A::Error> {
        while seq.next_element::<Skipped>()?.is_some() {}
        Ok(Skipped)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skipped, A::Error> {
        while map.next_entry::<Skipped, Skipped>()?.is_some() {}
        Ok(Skipped)
    }
}

/// A key, borrowed from the line unless it holds escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Key<'de>, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key::Owned(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key::Owned(v))
    }
}

/// `raw` with lone surrogate escapes replaced and out-of-range numbers quoted; `None` when
/// there was nothing to repair (the line is broken in some other way).
fn repair(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len() + 16);
    let mut changed = false;
    let mut i = 0;
    let mut copied = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'"' => {
                    in_string = false;
                    i += 1;
                }
                b'\\' if bytes.get(i + 1) == Some(&b'u') => match surrogate_fix(bytes, i) {
                    Some(len) => {
                        out.push_str(&raw[copied..i]);
                        out.push_str("\\ufffd");
                        i += len;
                        copied = i;
                        changed = true;
                    }
                    None => i += 2,
                },
                b'\\' => i += 2,
                _ => i += 1,
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let end = number_end(bytes, i);
                let token = &raw[i..end];
                if token.parse::<f64>().is_ok_and(|n| n.is_infinite()) {
                    out.push_str(&raw[copied..i]);
                    out.push('"');
                    out.push_str(token);
                    out.push('"');
                    copied = end;
                    changed = true;
                }
                i = end.max(i + 1);
            }
            _ => i += 1,
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&raw[copied..]);
    Some(out)
}

/// At a `\u` escape: the length of the escape(s) to replace when it is a lone surrogate
/// (a high one not followed by a low one, or a low one on its own).
fn surrogate_fix(bytes: &[u8], at: usize) -> Option<usize> {
    let unit = hex4(bytes, at + 2)?;
    match unit {
        0xD800..=0xDBFF => {
            let paired = bytes.get(at + 6) == Some(&b'\\')
                && bytes.get(at + 7) == Some(&b'u')
                && hex4(bytes, at + 8).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low));
            (!paired).then_some(6)
        }
        0xDC00..=0xDFFF => Some(6),
        _ => None,
    }
}

fn hex4(bytes: &[u8], at: usize) -> Option<u16> {
    let text = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
    u16::from_str_radix(text, 16).ok()
}

/// The end of the number token starting at `at`.
fn number_end(bytes: &[u8], at: usize) -> usize {
    let mut end = at;
    while end < bytes.len() && matches!(bytes[end], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
    {
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kept_keys_become_values_and_the_rest_must_still_be_json() {
        let keep = |k: &str| k == "level" || k == "http";
        let line =
            r#"{"level":"ERROR","big":{"x":[1,2,{"y":"z"}]},"http":{"status":503},"s":"\u00e9"}"#;
        let (map, repaired) = parse_keeping(line, &keep).unwrap();
        assert!(!repaired);
        assert_eq!(map.len(), 2);
        assert_eq!(map["http"]["status"], 503);
        assert!(parse_keeping(r#"{"level":"x","junk":[1,}"#, &keep).is_none());
        assert!(parse_keeping(r#"{"level":"x"} trailing"#, &keep).is_none());
        assert!(parse_keeping(r#"["level"]"#, &keep).is_none());
        // Repairs still apply to skipped values, and a later duplicate key wins.
        let (map, _) =
            parse_keeping(r#"{"level":"a","n":1e400,"t":"\ud800","level":"b"}"#, &keep).unwrap();
        assert_eq!((map["level"].as_str(), map.len()), (Some("b"), 1));
        // Skipped values get the checks a kept one does: nesting deeper than a `Value` may
        // makes the line not JSON either way.
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let line = format!(r#"{{"level":"error","trace":{deep}}}"#);
        assert!(parse(&line).is_none());
        assert!(parse_keeping(&line, &keep).is_none());
        // An escaped key is compared unescaped.
        let (map, _) = parse_keeping(r#"{"lev\u0065l":"x"}"#, &keep).unwrap();
        assert_eq!(map["level"], "x");
    }

    #[test]
    fn good_lines_are_untouched() {
        let (map, repaired) = parse(r#"{"a":1,"b":"\ud83d\ude00 ok"}"#).unwrap();
        assert!(!repaired);
        assert_eq!(map["b"], "😀 ok");
    }

    #[test]
    fn a_lone_surrogate_becomes_a_replacement_character() {
        let (map, repaired) =
            parse(r#"{"level":"ERROR","note":"x\ud800y","low":"\udc00"}"#).unwrap();
        assert!(repaired);
        assert_eq!(map["level"], "ERROR");
        assert_eq!(map["note"], "x\u{FFFD}y");
        assert_eq!(map["low"], "\u{FFFD}");
        // An escaped backslash before `u` is not an escape.
        let (map, _) = parse(r#"{"p":"C:\\ud800","n":1e400}"#).unwrap();
        assert_eq!(map["p"], "C:\\ud800");
    }

    #[test]
    fn numbers_no_float_holds_are_kept_as_text() {
        let big = "9".repeat(500);
        let line = format!(r#"{{"level":"ERROR","amount":{big},"exp":-1e400,"ok":2.5}}"#);
        let (map, repaired) = parse(&line).unwrap();
        assert!(repaired);
        assert_eq!(map["amount"], Value::String(big));
        assert_eq!(map["exp"], "-1e400");
        assert_eq!(map["ok"], 2.5);
        assert_eq!(map["level"], "ERROR");
        // Numbers inside strings are text already.
        let (map, _) = parse(r#"{"s":"1e400","n":1e999}"#).unwrap();
        assert_eq!(map["s"], "1e400");
    }

    #[test]
    fn what_is_not_an_object_stays_unparsed() {
        assert!(parse("not json").is_none());
        assert!(parse("[1,2]").is_none());
        assert!(parse(r#"{"a":"#).is_none());
        assert!(
            parse(r#"{"a":1e400"#).is_none(),
            "still broken after repair"
        );
    }
}
