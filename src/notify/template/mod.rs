//! Messages from templates (minijinja). Each channel names its template *parts* (DingTalk:
//! `title`, `text`; email: `subject`, `text`, `html`; …) with a default for each
//! (`defaults/`); a channel's `templates:` replaces parts for every alert it sends, a rule's
//! `templates: {<channel>: …}` for that rule's alerts. Whatever template is used, values
//! are escaped for the part's markup (`markup.rs`), so log text stays text.
//!
//! A template that fails while rendering (it passed `klaxon check`, but met data it did
//! not expect) never costs the alert: the next one down (rule → channel → default) is used
//! and a warning logged.

mod alert_view;
mod digest_view;
mod markup;
mod rule_messages;
mod times;

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::value::{Serde, Value};

pub use alert_view::{AlertView, KeyField, MAX_LINK_BYTES, MAX_SAMPLE_CHARS};
pub use digest_view::{worst_first, DigestRow, DigestView, MAX_DIGEST_ALERTS, SHOWN_ROWS};
pub use markup::Markup;
pub use rule_messages::{RuleMessage, RuleMessages};
pub use times::{rfc3339, Times};

use crate::alert::Alert;
use crate::types::{clip, closest, flat};

/// `templates:` of a channel, or of a rule for one channel: part name → template text.
pub type TemplateParts = BTreeMap<String, String>;

/// Longest template accepted (a whole HTML email fits many times over).
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// What a part is for: titles are one line; digest parts see `digest.*`, not `alert.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Title,
    Body,
    DigestTitle,
    DigestBody,
}

impl Role {
    fn is_digest(self) -> bool {
        matches!(self, Role::DigestTitle | Role::DigestBody)
    }
}

/// One template part of a channel.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    pub name: &'static str,
    pub markup: Markup,
    pub role: Role,
    /// `None`: the channel has a built-in form and no template unless one is configured
    /// (the webhook's JSON body).
    pub default: Option<&'static str>,
}

impl Part {
    pub const fn new(
        name: &'static str,
        markup: Markup,
        role: Role,
        default: &'static str,
    ) -> Self {
        Part {
            name,
            markup,
            role,
            default: Some(default),
        }
    }
}

/// The default templates, shared by the channels that use them.
pub mod defaults {
    pub const TITLE: &str = include_str!("defaults/title.txt");
    pub const DIGEST_TITLE: &str = include_str!("defaults/digest_title.txt");
    pub const DINGTALK_ALERT: &str = include_str!("defaults/dingtalk_alert.md");
    pub const DINGTALK_DIGEST: &str = include_str!("defaults/dingtalk_digest.md");
    pub const SLACK_ALERT: &str = include_str!("defaults/slack_alert.mrkdwn");
    pub const SLACK_DIGEST: &str = include_str!("defaults/slack_digest.mrkdwn");
    pub const TEXT_ALERT: &str = include_str!("defaults/text_alert.txt");
    pub const TEXT_DIGEST: &str = include_str!("defaults/text_digest.txt");
    pub const EMAIL_ALERT_HTML: &str = include_str!("defaults/email_alert.html");
    pub const EMAIL_DIGEST_HTML: &str = include_str!("defaults/email_digest.html");
}

/// A template that cannot be used, in words (with the template's own line when known).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// Checks `source` as part `name` of a channel with `parts` (`for_rule`: a rule's override,
/// which cannot replace digest parts): the part exists, the template parses, and renders
/// the example alert (so a misspelt field such as `alert.rul` is found now, not at 3 a.m.).
pub fn check(
    parts: &[Part],
    name: &str,
    source: &str,
    for_rule: bool,
) -> Result<(), TemplateError> {
    let allowed: Vec<&Part> = parts
        .iter()
        .filter(|p| !(for_rule && p.role.is_digest()))
        .collect();
    let Some(part) = allowed.iter().find(|p| p.name == name) else {
        let names: Vec<&str> = allowed.iter().map(|p| p.name).collect();
        let mut msg = format!(
            "unknown template part `{name}`; this channel has: {}",
            names.join(", ")
        );
        if let Some(near) = closest(name, names.iter().copied()) {
            msg = format!("unknown template part `{name}`; did you mean `{near}`?");
        }
        if for_rule && parts.iter().any(|p| p.name == name) {
            msg = format!("`{name}` is a digest part: digests mix rules, so only the channel's `templates:` can set it");
        }
        return Err(TemplateError(msg));
    };
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateError(format!(
            "the template is {} bytes; at most {MAX_TEMPLATE_BYTES} are accepted",
            source.len()
        )));
    }
    for example in examples() {
        let out = if part.role.is_digest() {
            let alerts = vec![example.clone(), Alert::example(), example.clone()];
            render_digest_with(part, source, &alerts, &Times::default(), "")
        } else {
            render_alert_with(part, source, &example, &Times::default(), &example.title())
        }
        .map_err(|e| TemplateError(describe(&e)))?;
        if let Some(problem) = unusable(part, &out) {
            return Err(TemplateError(format!("{problem} for an example alert")));
        }
    }
    Ok(())
}

/// The alerts templates are checked against: the plain example, and one with every
/// optional field the other way round (a detail, a Kibana link, alerts held back, no
/// description, no window). Both have a key: a rule's template may rely on its `group_by`.
fn examples() -> [Alert; 2] {
    let plain = Alert::example();
    let mut other = Alert::example();
    other.detail = Some("state: paid → created".into());
    other.kibana_url = Some("http://kibana:5601/app/discover#/?_a=(query:'x')".into());
    other.held_back = 3;
    other.description = None;
    other.window = None;
    other.count = 1;
    other.distinct = true;
    [plain, other]
}

/// A minijinja error as one line: what went wrong and the template line.
fn describe(e: &minijinja::Error) -> String {
    let mut msg = e
        .detail()
        .map_or_else(|| e.kind().to_string(), str::to_string);
    if let Some(line) = e.line() {
        msg = format!("template line {line}: {msg}");
    }
    clip(&flat(&crate::notify::escape::sanitize(&msg)), 300).into_owned()
}

fn render_alert_with(
    part: &Part,
    source: &str,
    alert: &Alert,
    times: &Times,
    title: &str,
) -> Result<String, minijinja::Error> {
    let view = AlertView::new(alert, times);
    let name = markup::template_name(part.name, part.markup);
    let title = flat(&crate::notify::escape::sanitize(title)).into_owned();
    markup::environment().render_named_str(
        &name,
        source,
        minijinja::context! { alert => Value::from(Serde(&view)), title => title },
    )
}

fn render_digest_with(
    part: &Part,
    source: &str,
    alerts: &[Alert],
    times: &Times,
    title: &str,
) -> Result<String, minijinja::Error> {
    let view = DigestView::new(alerts, times);
    let name = markup::template_name(part.name, part.markup);
    let title = if title.is_empty() {
        view.title.clone()
    } else {
        flat(title).into_owned()
    };
    markup::environment().render_named_str(
        &name,
        source,
        minijinja::context! { digest => Value::from(Serde(&view)), title => title },
    )
}

/// One channel's templates: its parts, its own overrides, the rules' overrides for it, and
/// the zone it shows times in.
pub struct Templates {
    channel: String,
    parts: &'static [Part],
    overrides: TemplateParts,
    rules: Arc<RuleMessages>,
    times: Times,
}

impl Templates {
    /// `overrides` must have passed [`check`] (as `klaxon check` and loading do).
    pub fn new(
        channel: &str,
        parts: &'static [Part],
        overrides: TemplateParts,
        rules: Arc<RuleMessages>,
        times: Times,
    ) -> Self {
        Templates {
            channel: channel.to_string(),
            parts,
            overrides,
            rules,
            times,
        }
    }

    /// Templates with every part at its default (tests, `klaxon test`).
    pub fn defaults(channel: &str, parts: &'static [Part]) -> Self {
        Self::new(
            channel,
            parts,
            TemplateParts::new(),
            Arc::default(),
            Times::default(),
        )
    }

    pub fn times(&self) -> &Times {
        &self.times
    }

    /// Who the rule's DingTalk messages mention (see `RuleMessage`).
    pub fn rule_message(&self, rule: &str) -> Option<RuleMessage> {
        self.rules.get(rule)
    }

    fn part(&self, name: &str) -> &'static Part {
        self.parts
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("channel parts list `{name}`"))
    }

    /// Candidate sources for `part` of `rule`'s alert, most specific first.
    fn sources(&self, part: &Part, rule: Option<&RuleMessage>) -> Vec<(String, &'static str)> {
        let mut out = Vec::with_capacity(3);
        if let Some(src) = rule
            .and_then(|r| r.templates.get(&self.channel))
            .and_then(|t| t.get(part.name))
        {
            out.push((src.clone(), "rule"));
        }
        if let Some(src) = self.overrides.get(part.name) {
            out.push((src.clone(), "channel"));
        }
        if let Some(src) = part.default {
            out.push((src.to_string(), "default"));
        }
        out
    }

    /// The one-line title for `alert` in plain text (what a body template sees as `title`).
    fn plain_title(&self, alert: &Alert, rule: Option<&RuleMessage>) -> String {
        let Some(title) = self.parts.iter().find(|p| p.role == Role::Title) else {
            return alert.title();
        };
        let plain = Part {
            markup: Markup::Text,
            ..*title
        };
        self.first_rendered(&plain, rule, &alert.rule, |src| {
            render_alert_with(&plain, src, alert, &self.times, &alert.title())
        })
        .map_or_else(|| alert.title(), |t| t.trim().replace(['\r', '\n'], " "))
    }

    /// Renders part `name` for `alert`; `None` only for a part without default and without
    /// a configured template (the channel then uses its built-in form).
    pub fn render_alert(&self, name: &str, alert: &Alert) -> Option<String> {
        let part = self.part(name);
        let rule = self.rules.get(&alert.rule);
        let title = if part.role == Role::Title {
            alert.title()
        } else {
            self.plain_title(alert, rule.as_ref())
        };
        let out = self.first_rendered(part, rule.as_ref(), &alert.rule, |src| {
            render_alert_with(part, src, alert, &self.times, &title)
        })?;
        Some(finish(part, out))
    }

    /// Renders digest part `name` for `alerts`.
    pub fn render_digest(&self, name: &str, alerts: &[Alert]) -> Option<String> {
        let part = self.part(name);
        let title = match self.parts.iter().find(|p| p.role == Role::DigestTitle) {
            Some(t) if part.role != Role::DigestTitle => {
                let plain = Part {
                    markup: Markup::Text,
                    ..*t
                };
                self.first_rendered(&plain, None, "", |src| {
                    render_digest_with(&plain, src, alerts, &self.times, "")
                })
                .unwrap_or_default()
            }
            _ => String::new(),
        };
        let out = self.first_rendered(part, None, "", |src| {
            render_digest_with(part, src, alerts, &self.times, &title)
        })?;
        Some(finish(part, out))
    }

    fn first_rendered(
        &self,
        part: &Part,
        rule: Option<&RuleMessage>,
        rule_name: &str,
        render: impl Fn(&str) -> Result<String, minijinja::Error>,
    ) -> Option<String> {
        for (source, from) in self.sources(part, rule) {
            let problem = match render(&source) {
                Ok(out) => match unusable(part, &out) {
                    None => return Some(out),
                    Some(problem) => problem,
                },
                Err(e) => describe(&e),
            };
            tracing::warn!(
                channel = %self.channel,
                rule = %rule_name,
                part = part.name,
                template = from,
                error = %problem,
                "template failed; using the next one down"
            );
        }
        None
    }
}

/// Why a rendered part cannot be sent, if it cannot: nothing at all (a chat service refuses
/// an empty header or text), or a JSON part that is not JSON (a receiver refuses it, and
/// it would be refused every time).
fn unusable(part: &Part, out: &str) -> Option<String> {
    if out.trim().is_empty() {
        return Some("rendered nothing".into());
    }
    if part.markup == Markup::Json {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(out) {
            return Some(format!("rendered invalid JSON: {e}"));
        }
    }
    None
}

/// Titles are one line; bodies lose the blank lines a template's layout (or a code block's
/// own lines) left at the ends and in runs.
fn finish(part: &Part, out: String) -> String {
    match part.role {
        Role::Title | Role::DigestTitle => out.trim().replace(['\r', '\n'], " "),
        Role::Body | Role::DigestBody => tidy_blank_lines(out.trim_matches('\n')),
    }
}

/// At most one blank line in a row, except inside a fenced code block (the log text there
/// stays as it was).
fn tidy_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    let mut blank_run = 0;
    for line in text.split('\n') {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if line.trim().is_empty() && !in_code {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests;
