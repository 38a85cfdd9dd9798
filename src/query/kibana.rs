//! Kibana Discover links: the rule's query over an absolute time range, so a human lands on
//! the evidence.
//!
//! The app state is rison (Kibana's URL notation), then percent-encoded. Encoding is
//! deliberately aggressive so a link survives being pasted into chat markdown (DingTalk
//! `[text](url)`, Slack `<url|text>`): only ASCII letters, digits and `-._` stay, plus `:` `,`
//! `/`, which no markdown flavour treats as link syntax and which keep the rison readable.
//! Everything else — space, quotes, parentheses, `!`, `*`, `~`, `#`, `&`, `=`, `+`, `%`,
//! brackets, braces, `|`, `<`, `>`, `\`, `^`, and all non-ASCII — is `%XX`. Kibana decodes
//! each value before reading the rison, so the link means the same as an unencoded one.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;

use crate::types::HumanDuration;

/// Key values longer than this (characters) are left out of a link's narrowing.
pub const MAX_LINK_VALUE: usize = 200;
/// A link's query longer than this (characters) is left out: the link keeps its time range.
pub const MAX_LINK_QUERY: usize = 2_000;

/// Where alerts link to for their evidence (`kibana:` in klaxon.yaml).
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KibanaConfig {
    /// Base URL, e.g. `http://kibana:5601`.
    pub url: String,
    /// Data view (index pattern) id used by Discover.
    pub data_view: String,
    /// Time shown around the matches, each side (default 10m).
    #[serde(default = "default_margin")]
    pub margin: HumanDuration,
}

fn default_margin() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(600))
}

impl KibanaConfig {
    /// A Discover link showing a rule's query (Lucene, as [`super::Query::to_lucene`] prints
    /// it) narrowed to an alert's key — `(field, None)` for a field the events lack —
    /// around the alert's first and last match. Bounded so it fits every channel: a key
    /// value longer than [`MAX_LINK_VALUE`] characters is left out of the narrowing, and a
    /// query longer than [`MAX_LINK_QUERY`] leaves the link with its time range only.
    pub fn alert_link<'a>(
        &self,
        lucene: &str,
        key: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
        first_seen: DateTime<Utc>,
        last_seen: DateTime<Utc>,
    ) -> String {
        self.alert_link_in(&self.data_view, lucene, key, first_seen, last_seen)
    }

    /// [`KibanaConfig::alert_link`] on another data view (a source's own).
    pub fn alert_link_in<'a>(
        &self,
        data_view: &str,
        lucene: &str,
        key: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
        first_seen: DateTime<Utc>,
        last_seen: DateTime<Utc>,
    ) -> String {
        let mut q = String::new();
        for (field, value) in key {
            if value.is_some_and(|v| v.chars().count() > MAX_LINK_VALUE) {
                continue;
            }
            match value {
                None => q.push_str(&format!(" AND NOT _exists_:{field}")),
                Some(value) => {
                    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
                    q.push_str(&format!(" AND {field}:\"{escaped}\""));
                }
            }
        }
        let q = if q.is_empty() {
            lucene.to_string()
        } else {
            format!("({lucene}){q}")
        };
        let q = if q.chars().count() > MAX_LINK_QUERY {
            String::new()
        } else {
            q
        };
        let margin = self.margin.as_chrono();
        let from = first_seen.checked_sub_signed(margin).unwrap_or(first_seen);
        let to = last_seen.checked_add_signed(margin).unwrap_or(last_seen);
        discover_url(&self.url, data_view, &q, from, to)
    }
}

/// Characters left readable in a rison value (see the module docs).
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b':')
    .remove(b',')
    .remove(b'/');

/// A Discover URL showing `query` (Lucene syntax) on data view `data_view` from `from` to `to`.
/// `base` is Kibana's root URL (a trailing `/` is fine).
pub fn discover_url(
    base: &str,
    data_view: &str,
    query: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> String {
    let g = format!(
        "(filters:!(),refreshInterval:(pause:!t,value:0),time:(from:{},to:{}))",
        rison_string(&iso(from)),
        rison_string(&iso(to)),
    );
    let a = format!(
        "(columns:!(_source),filters:!(),index:{},interval:auto,\
         query:(language:lucene,query:{}))",
        rison_string(data_view),
        rison_string(query),
    );
    format!(
        "{}/app/discover#/?_g={}&_a={}",
        base.trim_end_matches('/'),
        utf8_percent_encode(&g, VALUE),
        utf8_percent_encode(&a, VALUE),
    )
}

/// Absolute ISO-8601 UTC with milliseconds, as Kibana writes them.
fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A string as a rison value: bare when rison allows it, else `'…'` with `!` and `'` escaped
/// by `!`.
pub fn rison_string(s: &str) -> Cow<'_, str> {
    const NOT_ID: &str = " '!:(),*@$";
    let bare = match s.chars().next() {
        None => false,
        Some(first) => {
            first != '-' && !first.is_ascii_digit() && !s.chars().any(|c| NOT_ID.contains(c))
        }
    };
    if bare {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if matches!(c, '\'' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out.push('\'');
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rison_quotes_only_when_needed() {
        assert_eq!(rison_string("ok"), "ok");
        assert_eq!(rison_string("logs_2024.x"), "logs_2024.x");
        assert_eq!(rison_string("it's"), "'it!'s'");
        assert_eq!(rison_string("a!b"), "'a!!b'");
        assert_eq!(rison_string(""), "''");
        assert_eq!(rison_string("-x"), "'-x'");
        assert_eq!(rison_string("1abc"), "'1abc'");
        assert_eq!(rison_string("a b"), "'a b'");
        assert_eq!(rison_string("a:b"), "'a:b'");
        assert_eq!(rison_string("x-1"), "x-1");
        assert_eq!(rison_string("!'"), "'!!!''");
    }

    /// Derived by hand from REFERENCE.md's template:
    /// - base: trailing `/` dropped, then `/app/discover#/?_g=…&_a=…`;
    /// - times: `'2024-05-01T09:50:00.000Z'` (quoted: rison ids may not contain `:`, and the
    ///   value starts with a digit), milliseconds kept (`.250`);
    /// - data view `logs-*` is quoted because of `*`;
    /// - the query has no `'`/`!`, so it is only wrapped in quotes;
    /// - percent-encoding: `(`→`%28`, `)`→`%29`, `!`→`%21`, `'`→`%27`, `*`→`%2A`, `"`→`%22`,
    ///   space→`%20`; `:`, `,`, `-`, `.`, `_` stay.
    #[test]
    fn full_discover_url() {
        let from = Utc.with_ymd_and_hms(2024, 5, 1, 9, 50, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2024, 5, 1, 10, 10, 0).unwrap()
            + chrono::Duration::milliseconds(250);
        let url = discover_url(
            "https://kibana.example.com/",
            "logs-*",
            r#""ERROR" AND (order_timeout OR inventory_rollback)"#,
            from,
            to,
        );
        let expected = concat!(
            "https://kibana.example.com/app/discover#/?_g=",
            "%28filters:%21%28%29,refreshInterval:%28pause:%21t,value:0%29,",
            "time:%28from:%272024-05-01T09:50:00.000Z%27,to:%272024-05-01T10:10:00.250Z%27%29%29",
            "&_a=",
            "%28columns:%21%28_source%29,filters:%21%28%29,index:%27logs-%2A%27,interval:auto,",
            "query:%28language:lucene,query:%27%22ERROR%22%20AND%20%28order_timeout%20OR%20",
            "inventory_rollback%29%27%29%29",
        );
        assert_eq!(url, expected);
    }

    #[test]
    fn tricky_queries_stay_inside_their_value() {
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let url = discover_url(
            "http://k",
            "dv",
            "it's #1 & a=b|c [x] <y> 支付 ~^\\{}",
            t,
            t,
        );
        let a = url.split("&_a=").nth(1).expect("one _a");
        // Only the separator `&` and `#/?` of the route remain as URL syntax.
        assert_eq!(url.matches('&').count(), 1);
        assert_eq!(url.matches('#').count(), 1);
        assert!(a.contains("index:dv,"), "{a}");
        assert!(
            a.contains("query:%27it%21%27s%20%231%20%26%20a%3Db%7Cc%20%5Bx%5D"),
            "{a}"
        );
        assert!(
            a.contains("%3Cy%3E%20%E6%94%AF%E4%BB%98%20%7E%5E%5C%7B%7D"),
            "{a}"
        );
        let forbidden = [
            ' ', '\'', '"', '(', ')', '!', '<', '>', '[', ']', '{', '}', '|', '\\',
        ];
        assert!(!url.contains(forbidden), "{url}");
        assert!(url.is_ascii());
    }
}
