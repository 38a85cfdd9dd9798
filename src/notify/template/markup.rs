//! What a template's output is written in, and the one minijinja environment that knows how
//! to escape a value for each: every `{{ value }}` is escaped for the markup of the part
//! being rendered, so log text cannot mention, link, inject tags or break a code block,
//! whoever wrote the template. Filters (`code`, `code_span`, `link`) write markup
//! themselves and mark it safe.

use std::sync::OnceLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior};

use crate::notify::escape;

/// The markup a template part is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    /// Plain text (email text part, subjects, console): control characters replaced.
    Text,
    /// DingTalk plain text (a message title, shown in notification banners): `@` replaced.
    DingTalkPlain,
    /// DingTalk markdown.
    DingTalk,
    /// Slack mrkdwn and plain_text objects: `&`, `<`, `>` escaped.
    Slack,
    Html,
    /// A JSON document (webhook bodies): values are written as JSON values.
    Json,
}

impl Markup {
    const ALL: [Markup; 6] = [
        Markup::Text,
        Markup::DingTalkPlain,
        Markup::DingTalk,
        Markup::Slack,
        Markup::Html,
        Markup::Json,
    ];

    /// The suffix of a template name that selects this markup (see `template_name`).
    fn tag(self) -> &'static str {
        match self {
            Markup::Text => "text",
            Markup::DingTalkPlain => "dingtalk-plain",
            Markup::DingTalk => "dingtalk",
            Markup::Slack => "slack",
            Markup::Html => "html",
            Markup::Json => "json",
        }
    }

    fn auto_escape(self) -> AutoEscape {
        match self {
            Markup::Html => AutoEscape::Html,
            Markup::Json => AutoEscape::Json,
            other => AutoEscape::Custom(other.tag().into()),
        }
    }

    fn of_state(state: &State) -> Markup {
        match state.auto_escape() {
            AutoEscape::Html => Markup::Html,
            AutoEscape::Json => Markup::Json,
            AutoEscape::Custom(tag) => Markup::ALL
                .into_iter()
                .find(|m| m.tag() == tag.as_ref())
                .unwrap_or(Markup::Text),
            _ => Markup::Text,
        }
    }

    /// `text` escaped for this markup (for values no filter has written).
    fn escape(self, text: &str) -> String {
        match self {
            Markup::Text => escape::sanitize(text),
            Markup::DingTalkPlain => escape::dingtalk_plain(&escape::sanitize(text), usize::MAX),
            Markup::DingTalk => escape::dingtalk_inline(&escape::sanitize(text), usize::MAX),
            Markup::Slack => escape::slack_inline(&escape::sanitize(text), usize::MAX),
            Markup::Html => escape::html(&escape::sanitize(text)),
            Markup::Json => serde_json::to_string(text).expect("strings serialize"),
        }
    }
}

/// The name a template is rendered under: the name shown in errors, then the markup.
pub fn template_name(name: &str, markup: Markup) -> String {
    format!("{name}@{}", markup.tag())
}

/// Templates are written by the people running Klaxon, yet a loop that never ends must not
/// stall delivery: rendering stops after this many instructions (the default templates use
/// a few hundred; a 100-row digest a few thousand).
const FUEL: u64 = 200_000;

/// The shared environment (its settings never change, so one serves every channel).
pub fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(build_environment)
}

fn build_environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Block tags on their own lines leave no blank lines behind.
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .expect("default delimiters"),
    );
    // A typo such as `alert.rul` is an error `klaxon check` reports, not an empty field.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_auto_escape_callback(|name| {
        let tag = name.rsplit_once('@').map_or("", |(_, tag)| tag);
        Markup::ALL
            .into_iter()
            .find(|m| m.tag() == tag)
            .unwrap_or(Markup::Text)
            .auto_escape()
    });
    env.set_formatter(format_value);
    env.add_filter("code", code);
    env.add_filter("code_span", code_span);
    env.add_filter("link", link);
    env.add_filter("clip", clip);
    env.add_filter("grouped", grouped);
    env.add_filter("rounded", rounded);
    env
}

/// Writes a `{{ value }}`: none is empty; safe strings as they are; the rest escaped.
fn format_value(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    let markup = Markup::of_state(state);
    if value.is_none() || value.is_undefined() {
        return if markup == Markup::Json {
            out.write_str("null").map_err(Error::from)
        } else {
            Ok(())
        };
    }
    if value.is_safe() || markup == Markup::Json {
        return minijinja::escape_formatter(out, state, value);
    }
    let text = match value.as_str() {
        Some(s) => escape::sanitize(s),
        None => value.to_string(),
    };
    out.write_str(&markup.escape(&text)).map_err(Error::from)
}

fn text_of(value: &Value) -> String {
    match value.as_str() {
        Some(s) => s.to_string(),
        None if value.is_none() || value.is_undefined() => String::new(),
        None => value.to_string(),
    }
}

/// Default cap on a code block's content per markup: DingTalk refuses bodies past ~20 KB,
/// a Slack section holds 3,000 characters.
fn code_cap(markup: Markup) -> usize {
    match markup {
        Markup::DingTalk => 4_000,
        Markup::Slack => 2_900,
        _ => crate::notify::template::MAX_SAMPLE_CHARS,
    }
}

/// `{{ alert.sample | code }}`: a code block that shows the text exactly as logged, so it
/// can be copied (nothing inserted but what stops a run of backticks from ending the
/// block); `code(500)` caps it at 500 characters. A fence only opens at the start of a
/// line, so the block is written on lines of its own wherever the template puts it (the
/// blank lines that leaves are tidied away afterwards).
fn code(state: &State, value: &Value, max_chars: Option<usize>) -> Value {
    let markup = Markup::of_state(state);
    let text = escape::sanitize(&text_of(value));
    let cap = max_chars.unwrap_or(usize::MAX).min(code_cap(markup));
    let written = match markup {
        Markup::DingTalk => format!("\n\n```\n{}\n```\n\n", escape::code_fence_body(&text, cap)),
        Markup::Slack => format!("\n```\n{}\n```\n", escape::slack_code_block(&text, cap)),
        Markup::Html => format!("<pre>{}</pre>", escape::html(&escape::truncate(&text, cap))),
        Markup::Json => markup.escape(&escape::truncate(&text, cap)),
        Markup::Text | Markup::DingTalkPlain => escape::truncate(&text, cap)
            .lines()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    Value::from_safe_string(written)
}

/// `{{ alert.query | code_span }}`: inline code, on one line.
fn code_span(state: &State, value: &Value) -> Value {
    let markup = Markup::of_state(state);
    let text = crate::types::flat(&escape::sanitize(&text_of(value))).into_owned();
    let written = match markup {
        Markup::DingTalk => format!("`{}`", escape::code_span_body(&text, 1_000)),
        Markup::Slack => format!("`{}`", escape::slack_code_span(&text, 1_000)),
        Markup::Html => format!("<code>{}</code>", escape::html(&text)),
        Markup::Json => markup.escape(&text),
        Markup::Text => format!("`{text}`"),
        Markup::DingTalkPlain => markup.escape(&text),
    };
    Value::from_safe_string(written)
}

/// `{{ alert.kibana_url | link("Open in Kibana") }}`: a link, only ever to an http(s) URL
/// (anything else, or none, writes the label alone).
fn link(state: &State, url: &Value, label: &str) -> Value {
    let markup = Markup::of_state(state);
    let url = text_of(url);
    let label_text = crate::types::flat(label).into_owned();
    if !escape::is_web_url(&url) {
        return Value::from_safe_string(markup.escape(&label_text));
    }
    let target = escape::link_target(&url);
    let written = match markup {
        Markup::DingTalk => format!("[{}]({target})", markup.escape(&label_text)),
        Markup::Slack => format!("<{target}|{}>", markup.escape(&label_text)),
        Markup::Html => format!(
            "<a href=\"{}\">{}</a>",
            escape::html(&url),
            escape::html(&label_text)
        ),
        Markup::Json => markup.escape(&url),
        Markup::Text | Markup::DingTalkPlain => {
            format!("{}: {}", markup.escape(&label_text), escape::sanitize(&url))
        }
    };
    Value::from_safe_string(written)
}

/// `{{ alert.detail | clip(80) }}`: at most 80 characters, ellipsis included. The result is
/// still escaped when written.
fn clip(value: &Value, max_chars: usize) -> String {
    escape::truncate(&text_of(value), max_chars)
}

/// `{{ alert.count | grouped }}`: `12,345`.
fn grouped(value: &Value) -> Result<String, Error> {
    let n = u64::try_from(value.clone()).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            "`grouped` needs a whole number ≥ 0",
        )
    })?;
    Ok(crate::types::grouped(n))
}

/// `{{ value | rounded }}`: about four significant digits (`1234.6`, `3.333`).
fn rounded(value: &Value) -> Result<String, Error> {
    let v = f64::try_from(value.clone())
        .map_err(|_| Error::new(ErrorKind::InvalidOperation, "`rounded` needs a number"))?;
    Ok(crate::types::rounded(v))
}
