//! Label matchers, as Alertmanager writes them: `severity = critical`, `rule =~ ghost-.*`,
//! `team != payments`, `sku !~ TEST-.*`. Routes, silences and inhibition rules select
//! alerts with them; an alert's labels are its rule's `labels:`, its `rule`, `severity` and
//! `source`, and its `group_by` fields.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::alert::Alert;

/// An alert's labels, by name.
pub type Labels = BTreeMap<String, String>;

/// The labels matchers see for `alert` (see [`Alert::label_set`]).
pub fn labels_of(alert: &Alert) -> Labels {
    alert.label_set()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Re,
    NotRe,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Re => "=~",
            Op::NotRe => "!~",
        }
    }
}

/// `name op value`. A missing label matches as the empty string (as in Alertmanager), so
/// `team != payments` matches alerts without a `team`.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: Op,
    value: String,
    /// Anchored: `=~ ghost` matches `ghost` only, `=~ ghost.*` what starts with it.
    regex: Option<Regex>,
}

/// Longest pattern accepted (a matcher is config or a CLI argument, never log text).
const MAX_PATTERN: usize = 1_000;

impl Matcher {
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let bad = || {
            format!(
                "`{text}` is not a matcher; write `label = value`, `label != value`, `label =~ regex` or `label !~ regex`"
            )
        };
        // The first operator in the text: `!=`/`!~`/`=~` before a lone `=`.
        let at = text.find(['=', '!']).ok_or_else(bad)?;
        let (name, rest) = text.split_at(at);
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (Op::Re, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (Op::NotRe, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (Op::Ne, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (Op::Eq, v)
        } else {
            return Err(bad());
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '@'))
        {
            return Err(bad());
        }
        let value = unquote(value.trim());
        let regex = match op {
            Op::Re | Op::NotRe => {
                if value.len() > MAX_PATTERN {
                    return Err(format!(
                        "`{name}`: the pattern is longer than {MAX_PATTERN} bytes"
                    ));
                }
                Some(
                    regex::RegexBuilder::new(&format!("^(?:{value})$"))
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| format!("`{name}`: invalid regex: {e}"))?,
                )
            }
            Op::Eq | Op::Ne => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        let got = labels.get(&self.name).map_or("", String::as_str);
        match (self.op, &self.regex) {
            (Op::Eq, _) => got == self.value,
            (Op::Ne, _) => got != self.value,
            (Op::Re, Some(re)) => re.is_match(got),
            (Op::NotRe, Some(re)) => !re.is_match(got),
            _ => false,
        }
    }
}

/// `"x"` → `x`: values may be quoted to keep spaces or an operator inside.
fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// Reads back with [`Matcher::parse`]: the value as written, quoted only when it is empty
/// or has spaces at an end (quotes are stripped, nothing is escaped).
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.value;
        if v.is_empty() || v.trim() != v || (v.starts_with('"') && v.ends_with('"')) {
            write!(f, "{} {} \"{v}\"", self.name, self.op.as_str())
        } else {
            write!(f, "{} {} {v}", self.name, self.op.as_str())
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Matcher {}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Matcher::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

crate::types::impl_text_schema!(
    Matcher,
    "Matcher",
    "A label matcher, `name op value`: `=` equal, `!=` not equal, `=~` regex, `!~` not \
     matching (`severity = critical`, `team =~ pay.*`).",
    r"\s*[^=!~\s]+\s*(?:=|!=|=~|!~).*"
);

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Matchers that must all hold (none: everything matches).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    pub fn matches(&self, labels: &Labels) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(Matcher::to_string).collect();
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_four_operators_anchored_regexes_and_missing_labels() {
        let l = labels(&[("rule", "ghost-orders"), ("severity", "critical")]);
        let m = |t: &str| Matcher::parse(t).unwrap().matches(&l);
        assert!(m("severity = critical"));
        assert!(m("severity=critical"));
        assert!(!m("severity != critical"));
        assert!(m("rule =~ ghost-.*"));
        assert!(!m("rule =~ ghost"), "anchored");
        assert!(m("rule !~ zombie.*"));
        assert!(m("team != payments"), "a missing label is empty");
        assert!(!m("team = payments"));
        assert!(m("team = \"\""));
        assert!(m(r#"rule = "ghost-orders""#));
    }

    #[test]
    fn bad_matchers_say_what_is_accepted() {
        for bad in ["severity", "= x", "a b = c", "x =~ (", "x <> y"] {
            let e = Matcher::parse(bad).unwrap_err();
            assert!(e.contains('`'), "{bad}: {e}");
        }
        let all = Matchers(vec![
            Matcher::parse("a = 1").unwrap(),
            Matcher::parse("b =~ 2|3").unwrap(),
        ]);
        assert!(all.matches(&labels(&[("a", "1"), ("b", "3")])));
        assert!(!all.matches(&labels(&[("a", "1"), ("b", "4")])));
        assert!(Matchers::default().matches(&labels(&[])));
        assert_eq!(all.to_string(), "a = 1, b =~ 2|3");
        for text in [
            r"sku =~ \d+-[A-Z]",
            r#"x = " padded ""#,
            r#"y != """#,
            "z = a=b",
        ] {
            let m = Matcher::parse(text).unwrap();
            assert_eq!(Matcher::parse(&m.to_string()).unwrap(), m, "{text}");
        }
    }
}
