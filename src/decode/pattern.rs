//! `format: regex`: fields from the named capture groups of a regular expression, with
//! ready-made patterns for the access logs ops meet most.

use regex::Regex;
use serde_json::{Map, Value};

use super::DecodeError;

/// `"..."` with backslash escapes, as nginx and Apache write quoted fields.
macro_rules! quoted {
    ($name:literal) => {
        concat!(r#""(?P<"#, $name, r#">(?:[^"\\]|\\.)*)""#)
    };
}

/// `host ident user [time] "request"`: the start both Apache formats share. The request
/// line is split into method, path and protocol when it is well formed.
macro_rules! common_head {
    () => {
        concat!(
            r#"^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<time_local>[^\]]+)\] "#,
            r#""(?P<request>(?P<method>[A-Z]+) (?P<path>\S+) (?P<protocol>HTTP/[0-9.]+)|(?:[^"\\]|\\.)*)""#,
            r#" (?P<status>\d{3}) (?P<body_bytes_sent>\d+|-)"#,
        )
    };
}

/// Named patterns `pattern:` may name instead of spelling a regex out.
const PRESETS: &[(&str, &str)] = &[
    // nginx's default `combined` log_format, which Apache's `combined` matches too:
    // $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
    // "$http_referer" "$http_user_agent"
    ("nginx_combined", COMBINED),
    ("apache_combined", COMBINED),
    // Apache `common`: %h %l %u %t "%r" %>s %b
    ("apache_common", common_head!()),
];

const COMBINED: &str = concat!(
    common_head!(),
    " ",
    quoted!("http_referer"),
    " ",
    quoted!("http_user_agent"),
);

/// A compiled `pattern:` with at least one named group.
#[derive(Debug)]
pub(crate) struct Pattern {
    regex: Regex,
    /// `(group index, name)` of the named groups, so matching never looks names up.
    names: Vec<(usize, String)>,
}

impl Pattern {
    /// `pattern` is a preset name (`nginx_combined`, `apache_combined`, `apache_common`)
    /// or a regex with named groups (`(?P<status>\d+)`).
    pub(crate) fn new(pattern: &str) -> Result<Self, DecodeError> {
        let source = PRESETS
            .iter()
            .find(|(name, _)| *name == pattern)
            .map_or(pattern, |(_, regex)| regex);
        let regex = Regex::new(source).map_err(|e| DecodeError::InvalidPattern {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        })?;
        let names: Vec<(usize, String)> = regex
            .capture_names()
            .enumerate()
            .filter_map(|(i, name)| Some((i, name?.to_string())))
            .collect();
        if names.is_empty() {
            return Err(DecodeError::InvalidPattern {
                pattern: pattern.to_string(),
                reason: "it has no named group such as (?P<status>\\d+), so it yields no fields"
                    .to_string(),
            });
        }
        Ok(Pattern { regex, names })
    }

    /// The named groups that took part in the match, as string fields; `None` when the
    /// line does not match.
    pub(crate) fn fields(&self, line: &str) -> Option<Map<String, Value>> {
        let caps = self.regex.captures(line)?;
        let mut fields = Map::new();
        for (i, name) in &self.names {
            if let Some(m) = caps.get(*i) {
                fields.insert(name.clone(), Value::String(m.as_str().to_string()));
            }
        }
        Some(fields)
    }
}

/// The names of the shipped patterns, for error messages and docs.
pub fn preset_names() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nginx_combined_access_log() {
        let p = Pattern::new("nginx_combined").unwrap();
        let line = r#"203.0.113.7 - alice [08/Jun/2026:11:00:00 +0800] "POST /api/orders/9f1c/pay?retry=1 HTTP/1.1" 504 167 "https://shop.example.com/cart" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 \"quoted\"""#;
        let f = Value::Object(p.fields(line).unwrap());
        assert_eq!(f["remote_addr"], "203.0.113.7");
        assert_eq!(f["remote_user"], "alice");
        assert_eq!(f["time_local"], "08/Jun/2026:11:00:00 +0800");
        assert_eq!(f["method"], "POST");
        assert_eq!(f["path"], "/api/orders/9f1c/pay?retry=1");
        assert_eq!(f["status"], "504");
        assert_eq!(f["body_bytes_sent"], "167");
        assert_eq!(f["http_referer"], "https://shop.example.com/cart");
        assert!(f["http_user_agent"]
            .as_str()
            .unwrap()
            .ends_with(r#"\"quoted\""#));
    }

    #[test]
    fn malformed_requests_keep_the_raw_request_only() {
        let p = Pattern::new("nginx_combined").unwrap();
        let line =
            r#"198.51.100.2 - - [08/Jun/2026:11:00:01 +0800] "\x16\x03\x01" 400 150 "-" "-""#;
        let f = p.fields(line).unwrap();
        assert_eq!(f["request"], json!(r#"\x16\x03\x01"#));
        assert!(!f.contains_key("method"));
        assert_eq!(f["status"], json!("400"));
        let common = Pattern::new("apache_common").unwrap();
        let f = common
            .fields(r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#)
            .unwrap();
        assert_eq!(
            (f["remote_user"].as_str(), f["status"].as_str()),
            (Some("frank"), Some("200"))
        );
        assert!(p.fields("not an access log").is_none());
    }

    #[test]
    fn custom_patterns_need_named_groups() {
        let p = Pattern::new(r"^(?P<level>[A-Z]+) \[(?P<thread>[^\]]+)\]").unwrap();
        let f = p.fields("WARN [pool-1] slow query").unwrap();
        assert_eq!(
            Value::Object(f),
            json!({"level": "WARN", "thread": "pool-1"})
        );
        let err = Pattern::new(r"^\d+").unwrap_err().to_string();
        assert!(err.contains("no named group"), "{err}");
        let err = Pattern::new(r"(?P<a>").unwrap_err().to_string();
        assert!(err.contains("invalid pattern"), "{err}");
        assert!(preset_names().any(|n| n == "nginx_combined"));
    }
}
