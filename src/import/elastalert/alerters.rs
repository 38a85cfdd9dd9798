//! ElastAlert's `alert:` list into Klaxon channels: `slack`, `email`, `dingtalk`,
//! `post`/`post2` (webhooks) and `debug` (console) have counterparts; every secret becomes a
//! `${VAR}` reference. Alerters without a counterpart are named in the notes, and a rule
//! left with none notifies the console so it still loads.

use serde_json::{Map, Value};

use super::options::Options;
use super::registry::Registry;
use super::{Note, NoteKind};
use crate::import::yaml_out::Yaml;

/// Options of one alerter: the alert item's own map first, then the rule's.
struct AlerterOptions<'o, 'a> {
    own: Option<&'a Map<String, Value>>,
    rule: &'o Options<'a>,
    /// The item's own options read so far.
    read: std::cell::RefCell<Vec<String>>,
}

impl<'a> AlerterOptions<'_, 'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        if let Some(v) = self.own.and_then(|m| m.get(key)).filter(|v| !v.is_null()) {
            self.rule.mark(key);
            self.read.borrow_mut().push(key.to_string());
            return Some(v);
        }
        self.rule.get(key)
    }

    fn str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(Value::as_str)
    }

    /// A string or a list of strings (`email: a@x` or `email: [a@x, b@x]`).
    fn strings(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Value::String(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Options with this prefix not yet read (the item's own and the rule's).
    fn rest(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .rule
            .unread_with_prefix(prefix)
            .into_iter()
            .map(|(k, _)| k.to_string())
            .collect();
        if let Some(own) = self.own {
            let read = self.read.borrow();
            for k in own.keys().filter(|k| k.starts_with(prefix)) {
                if !keys.contains(k) && !read.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
        for k in &keys {
            self.rule.mark(k);
        }
        keys
    }
}

pub struct Converted {
    pub notify: Vec<String>,
    pub notes: Vec<Note>,
}

/// The channels the rule's `alert:` list becomes.
pub fn convert(opts: &Options, registry: &mut Registry, file: &str) -> Converted {
    let mut out = Converted {
        notify: Vec::new(),
        notes: Vec::new(),
    };
    let items: Vec<(String, Option<&Map<String, Value>>)> = match opts.get("alert") {
        Some(Value::String(s)) => vec![(s.clone(), None)],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|item| match item {
                Value::String(s) => Some((s.clone(), None)),
                Value::Object(m) if m.len() == 1 => {
                    let (name, own) = m.iter().next()?;
                    Some((name.clone(), own.as_object()))
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    for (i, (name, own)) in items.iter().enumerate() {
        let a = AlerterOptions {
            own: *own,
            rule: opts,
            read: Default::default(),
        };
        let key = format!("alert.{i}");
        let mut lost = |key: String, reason: &str| {
            out.notes.push(Note {
                location: None,
                key,
                reason: reason.to_string(),
                kind: NoteKind::NotConverted,
            })
        };
        match name.as_str() {
            "slack" => {
                let urls = a.strings("slack_webhook_url");
                let timeout = a.get("slack_timeout").and_then(Value::as_f64);
                for k in a.rest("slack_") {
                    lost(
                        k,
                        "Klaxon's Slack message has its own layout; the webhook decides the \
                         channel, name and icon",
                    );
                }
                if urls.is_empty() {
                    lost(key, "`slack` without `slack_webhook_url`");
                }
                for url in urls {
                    let secret = registry.secret(
                        "SLACK_WEBHOOK_URL",
                        &url,
                        &format!("slack_webhook_url in {file}"),
                    );
                    let mut entries = vec![
                        ("type".into(), Yaml::raw("slack")),
                        ("webhook_url".into(), secret),
                    ];
                    entries.extend(seconds(timeout));
                    out.notify.push(registry.channel("slack", entries, file));
                }
            }
            "email" => {
                let (name, notes) = email(&a, registry, file);
                out.notes.extend(notes);
                match name {
                    Some(n) => out.notify.push(n),
                    None => out.notes.push(Note {
                        location: None,
                        key,
                        reason: "`email` without recipients".into(),
                        kind: NoteKind::NotConverted,
                    }),
                }
            }
            "dingtalk" => {
                let Some(token) = a.str("dingtalk_access_token") else {
                    lost(key, "`dingtalk` without `dingtalk_access_token`");
                    continue;
                };
                let mut entries = vec![
                    ("type".into(), Yaml::raw("dingtalk")),
                    (
                        "access_token".into(),
                        registry.secret(
                            "DINGTALK_ACCESS_TOKEN",
                            token,
                            &format!("dingtalk_access_token in {file}"),
                        ),
                    ),
                ];
                for sign in ["dingtalk_sign", "dingtalk_secret"] {
                    if let Some(secret) = a.str(sign) {
                        entries.push((
                            "secret".into(),
                            registry.secret(
                                "DINGTALK_SECRET",
                                secret,
                                &format!("{sign} in {file}"),
                            ),
                        ));
                    }
                }
                match a.str("dingtalk_msgtype") {
                    Some("markdown") => {
                        entries.push(("message_type".into(), Yaml::raw("markdown")))
                    }
                    Some("single_action_card" | "action_card") => {
                        entries.push(("message_type".into(), Yaml::raw("action_card")));
                        lost(
                            "dingtalk_msgtype".into(),
                            "the card's buttons are Klaxon's own (acknowledge, Kibana), not \
                             dingtalk_single_url / dingtalk_btns",
                        );
                    }
                    Some("text") => lost(
                        "dingtalk_msgtype".into(),
                        "Klaxon sends markdown or action cards, never plain text",
                    ),
                    _ => {}
                }
                for k in a.rest("dingtalk_") {
                    lost(k, "no counterpart in Klaxon's DingTalk channel");
                }
                out.notify.push(registry.channel("dingtalk", entries, file));
            }
            "post" | "post2" => {
                let prefix = if name == "post" {
                    "http_post_"
                } else {
                    "http_post2_"
                };
                let urls = a.strings(&format!("{prefix}url"));
                let mut headers = Vec::new();
                if let Some(Value::Object(h)) = a.get(&format!("{prefix}headers")) {
                    for (header, value) in h {
                        let text = match value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let plain = matches!(
                            header.to_ascii_lowercase().as_str(),
                            "content-type" | "accept" | "user-agent"
                        );
                        let value = if plain {
                            Yaml::str(text)
                        } else {
                            let var = format!("WEBHOOK_{}", env_name(header));
                            registry.secret(
                                &var,
                                &text,
                                &format!("{prefix}headers.{header} in {file}"),
                            )
                        };
                        headers.push((header.clone(), value));
                    }
                }
                let timeout = a.get(&format!("{prefix}timeout")).and_then(Value::as_f64);
                for k in a.rest(prefix) {
                    lost(
                        k,
                        "Klaxon posts its own JSON alert (docs/MESSAGES.md); shape the body with \
                         the channel's `body` template",
                    );
                }
                if urls.is_empty() {
                    lost(key, &format!("`{name}` without `{prefix}url`"));
                }
                for url in urls {
                    let mut entries = vec![
                        ("type".into(), Yaml::raw("webhook")),
                        (
                            "url".into(),
                            registry.secret("WEBHOOK_URL", &url, &format!("{prefix}url in {file}")),
                        ),
                    ];
                    if !headers.is_empty() {
                        entries.push(("headers".into(), Yaml::Map(headers.clone())));
                    }
                    entries.extend(seconds(timeout));
                    out.notify.push(registry.channel("webhook", entries, file));
                }
            }
            "debug" => out.notify.push(console(registry, file)),
            "command" => {
                for k in [
                    "command",
                    "pipe_match_json",
                    "pipe_alert_text",
                    "fail_on_non_zero_exit",
                ] {
                    opts.mark(k);
                }
                lost(
                    key,
                    "ElastAlert puts log text into the command line; write a `command` \
                     channel instead (it reads the alert as JSON on stdin, and needs \
                     `allow_commands: true`)",
                );
            }
            other => {
                let prefix = format!("{other}_");
                a.rest(&prefix);
                lost(
                    key,
                    &format!("the `{other}` alerter has no Klaxon counterpart (channels: slack, dingtalk, email, webhook, console)"),
                );
            }
        }
    }
    if items.is_empty() {
        out.notes.push(Note {
            location: None,
            key: "alert".into(),
            reason: "no `alert:` list".into(),
            kind: NoteKind::NotConverted,
        });
    }
    if out.notify.is_empty() {
        out.notes.push(Note {
            location: None,
            key: "alert".into(),
            reason: "no alerter converted: the rule notifies the `console` channel until you \
                     choose one"
                .into(),
            kind: NoteKind::NotConverted,
        });
        out.notify.push(console(registry, file));
    }
    out.notify.dedup();
    out
}

/// ElastAlert's timeouts in seconds as a Klaxon `timeout` (1 s to 1 h).
fn seconds(timeout: Option<f64>) -> Option<(String, Yaml)> {
    let t = timeout.filter(|t| (1.0..=3600.0).contains(t))?;
    Some((
        "timeout".into(),
        Yaml::raw(format!("{}s", t.round() as u64)),
    ))
}

fn console(registry: &mut Registry, file: &str) -> String {
    registry.channel("console", vec![("type".into(), Yaml::raw("console"))], file)
}

fn email(a: &AlerterOptions, registry: &mut Registry, file: &str) -> (Option<String>, Vec<Note>) {
    let mut notes = Vec::new();
    let mut lost = |key: &str, reason: &str| {
        notes.push(Note {
            location: None,
            key: key.to_string(),
            reason: reason.to_string(),
            kind: NoteKind::NotConverted,
        })
    };
    let mut to = a.strings("email");
    let cc = a.strings("cc");
    if !cc.is_empty() {
        lost("cc", "Klaxon has no Cc: these addresses were added to `to`");
        to.extend(cc);
    }
    if !a.strings("bcc").is_empty() {
        lost(
            "bcc",
            "Klaxon has no Bcc; not added to `to`, which would reveal them: give them a \
             channel of their own",
        );
    }
    let host = a.str("smtp_host").unwrap_or("localhost").to_string();
    let ssl = a.get("smtp_ssl").and_then(Value::as_bool).unwrap_or(false);
    let port = a
        .get("smtp_port")
        .and_then(|p| p.as_u64().or_else(|| p.as_str()?.parse().ok()))
        .filter(|p| (1..=65535).contains(p))
        .unwrap_or(if ssl { 465 } else { 25 });
    let mut smtp = vec![
        ("host".into(), Yaml::str(host)),
        ("port".into(), Yaml::Int(port as i64)),
        (
            "tls".into(),
            Yaml::raw(if ssl { "tls" } else { "starttls" }),
        ),
    ];
    if let Some(auth) = a.str("smtp_auth_file") {
        let what = format!("smtp_auth_file {auth} in {file}");
        smtp.push((
            "username".into(),
            registry.secret("SMTP_USERNAME", auth, &what),
        ));
        smtp.push((
            "password".into(),
            registry.secret("SMTP_PASSWORD", auth, &what),
        ));
    }
    let from = match a.str("from_addr") {
        Some(f) if f.contains('@') => f.to_string(),
        _ => {
            lost("from_addr", "no sender address: `klaxon@localhost` is used");
            "klaxon@localhost".to_string()
        }
    };
    for k in a.rest("smtp_").into_iter().chain(a.rest("email_")) {
        lost(&k, "no counterpart in Klaxon's email channel");
    }
    if to.is_empty() {
        return (None, notes);
    }
    let entries = vec![
        ("type".into(), Yaml::raw("email")),
        ("smtp".into(), Yaml::Map(smtp)),
        ("from".into(), Yaml::str(from)),
        ("to".into(), Yaml::strs(&to)),
    ];
    (Some(registry.channel("email", entries, file)), notes)
}

/// `X-Api-Key` → `X_API_KEY`.
fn env_name(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    out.trim_matches('_').to_string()
}
