//! `type: blacklist` / `type: whitelist`: a field's value is (blacklist) or is not
//! (whitelist) in a list, given inline (`values`) or as a file (`values_file`, one value a
//! line, `#` comments and blank lines skipped). Events without the field never fire.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BuildContext, Match, Params, RuleType};
use crate::event::Event;

/// `type: blacklist` and `type: whitelist` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// The field whose value is looked up.
    pub field: String,
    /// The values, inline (or `values_file`).
    #[serde(default)]
    pub values: Vec<String>,
    /// A file of values, one per line (`#` comments), relative to the rule file.
    #[serde(default)]
    pub values_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct BlacklistParams(pub ListParams);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct WhitelistParams(pub ListParams);

impl Params for BlacklistParams {
    const STATE_VERSION: u32 = 1;

    fn build(&self, cx: &mut BuildContext<'_>) -> Option<Box<dyn RuleType>> {
        self.0.build(cx, "blacklist", true)
    }
}

impl Params for WhitelistParams {
    const STATE_VERSION: u32 = 1;

    fn build(&self, cx: &mut BuildContext<'_>) -> Option<Box<dyn RuleType>> {
        self.0.build(cx, "whitelist", false)
    }
}

impl ListParams {
    fn build(
        &self,
        cx: &mut BuildContext<'_>,
        kind: &str,
        fire_when_listed: bool,
    ) -> Option<Box<dyn RuleType>> {
        cx.any_of(
            kind,
            ("values", !self.values.is_empty()),
            ("values_file", self.values_file.is_some()),
        );
        let mut values = self.values.clone();
        if let Some(file) = &self.values_file {
            let path = cx.dir.join(file);
            match read_values_file(&path) {
                Ok(v) => values.extend(v),
                Err(e) => cx.problem(
                    "values_file",
                    format!("cannot read `values_file` {}: {e}", path.display()),
                ),
            }
        }
        Some(Box::new(ListedRule::new(
            self.field.clone(),
            values,
            fire_when_listed,
        )))
    }
}

pub struct ListedRule {
    field: String,
    values: HashSet<String>,
    /// true: fire when listed (blacklist); false: fire when not listed (whitelist).
    fire_when_listed: bool,
}

impl ListedRule {
    pub fn new(field: String, values: Vec<String>, fire_when_listed: bool) -> Self {
        ListedRule {
            field,
            values: values.into_iter().collect(),
            fire_when_listed,
        }
    }
}

/// An array element's text as a listed value: strings as they are, numbers and booleans
/// as written; `null` is no value.
fn element_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The values in a `values_file`.
pub fn read_values_file(path: &Path) -> std::io::Result<Vec<String>> {
    if std::fs::metadata(path)?.is_dir() {
        return Err(std::io::Error::other("is a directory, not a file"));
    }
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

impl RuleType for ListedRule {
    fn fields(&self) -> Option<Vec<String>> {
        Some(vec![self.field.clone()])
    }

    fn observe(&mut self, _key: &str, event: &Event, _now: DateTime<Utc>) -> Option<Match> {
        // A field holding an array is a set of values, as the query language reads it:
        // blacklisted when any element is listed, whitelisted when every element is.
        let value = match event.value(&self.field) {
            Some(serde_json::Value::Array(items)) => {
                let texts = items.iter().filter_map(element_text);
                let mut offending =
                    texts.filter(|t| self.values.contains(t.as_str()) == self.fire_when_listed);
                std::borrow::Cow::Owned(offending.next()?)
            }
            _ => {
                let value = event.text(&self.field)?;
                if self.values.contains(value.as_ref()) != self.fire_when_listed {
                    return None;
                }
                value
            }
        };
        let verdict = if self.fire_when_listed {
            "is blacklisted"
        } else {
            "is not whitelisted"
        };
        Some(Match {
            count: 1,
            first_seen: event.time,
            last_seen: event.time,
            sample: super::kept(&event.raw),
            detail: Some(format!("{}={value} {verdict}", self.field)),
            identity: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::json_at;
    use crate::rule::See;

    fn fires(r: &mut ListedRule, json: &str) -> Option<String> {
        r.see("", &json_at(0, json)).map(|m| m.detail.unwrap())
    }

    #[test]
    fn blacklist_fires_on_listed_values_only() {
        let mut r = ListedRule::new("ip".into(), vec!["10.0.0.66".into()], true);
        assert_eq!(
            fires(&mut r, r#"{"ip":"10.0.0.66"}"#).as_deref(),
            Some("ip=10.0.0.66 is blacklisted")
        );
        assert_eq!(fires(&mut r, r#"{"ip":"10.0.0.6"}"#), None);
        assert_eq!(fires(&mut r, r#"{"user":"x"}"#), None, "missing field");
    }

    #[test]
    fn an_array_is_a_set_of_values() {
        let mut black = ListedRule::new("tags".into(), vec!["fraud".into(), "7".into()], true);
        assert_eq!(
            fires(&mut black, r#"{"tags":["vip","fraud"]}"#).as_deref(),
            Some("tags=fraud is blacklisted"),
            "a listed value inside an array"
        );
        assert_eq!(
            fires(&mut black, r#"{"tags":[1,7]}"#).as_deref(),
            Some("tags=7 is blacklisted")
        );
        assert_eq!(fires(&mut black, r#"{"tags":["vip","new"]}"#), None);
        assert_eq!(fires(&mut black, r#"{"tags":[]}"#), None);
        let mut white = ListedRule::new("gw".into(), vec!["alipay".into(), "wechat".into()], false);
        assert_eq!(
            fires(&mut white, r#"{"gw":["alipay","wechat"]}"#),
            None,
            "an array of allowed values is no violation"
        );
        assert_eq!(
            fires(&mut white, r#"{"gw":["alipay","paypal"]}"#).as_deref(),
            Some("gw=paypal is not whitelisted")
        );
        assert_eq!(fires(&mut white, r#"{"gw":[null,"wechat"]}"#), None);
    }

    #[test]
    fn whitelist_from_a_file_fires_on_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gateways.txt");
        std::fs::write(&file, "# payment gateways we use\nalipay\n\n  wechat  \n").unwrap();
        let values = read_values_file(&file).unwrap();
        assert_eq!(values, vec!["alipay", "wechat"]);
        let mut r = ListedRule::new("gateway".into(), values, false);
        assert_eq!(fires(&mut r, r#"{"gateway":"wechat"}"#), None);
        assert_eq!(
            fires(&mut r, r#"{"gateway":"paypal"}"#).as_deref(),
            Some("gateway=paypal is not whitelisted")
        );
        let missing = read_values_file(&dir.path().join("nope.txt")).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        assert!(
            read_values_file(dir.path()).is_err(),
            "a directory is not a list"
        );
    }
}
