//! `type: blacklist` / `type: whitelist`: a field's value is (blacklist) or is not
//! (whitelist) in a list, given inline (`values`) or as a file (`values_file`, one value a
//! line, `#` comments and blank lines skipped). Events without the field never fire.

use std::collections::HashSet;
use std::path::Path;

use super::{Match, RuleError, RuleType};
use crate::event::Event;

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

/// The values in a `values_file`.
pub fn read_values_file(path: &Path) -> Result<Vec<String>, RuleError> {
    let text = std::fs::read_to_string(path).map_err(|e| RuleError::ValuesFile {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

impl RuleType for ListedRule {
    fn observe(&mut self, _key: &str, event: &Event) -> Option<Match> {
        let value = event.text(&self.field)?;
        if self.values.contains(value.as_ref()) != self.fire_when_listed {
            return None;
        }
        let verdict = if self.fire_when_listed {
            "is blacklisted"
        } else {
            "is not whitelisted"
        };
        Some(Match {
            count: 1,
            first_seen: event.time,
            last_seen: event.time,
            sample: event.raw.clone(),
            detail: Some(format!("{}={value} {verdict}", self.field)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::json_at;

    fn fires(r: &mut ListedRule, json: &str) -> Option<String> {
        r.observe("", &json_at(0, json)).map(|m| m.detail.unwrap())
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
        assert!(missing.to_string().contains("nope.txt"), "{missing}");
    }
}
