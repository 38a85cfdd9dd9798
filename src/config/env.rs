//! `${VAR}` / `${VAR:-default}` substitution from the environment, done on the text
//! before YAML parsing so every later error still points at the original line.
//!
//! Quote safety: a value is inserted so YAML reads it back as exactly that text.
//! - inside `"..."` backslashes and quotes are escaped; inside `'...'` quotes are doubled;
//! - when `${VAR}` is a whole plain scalar (`token: ${TOKEN}`) and the value contains
//!   YAML specials (`: `, `#`, leading `*`, `[`, ...), it is inserted single-quoted;
//! - as part of a larger plain scalar such a value is refused: quote the scalar instead;
//! - a value containing a line break is always refused (naming the variable only).
//!
//! References in comments are left alone; `$${` is a literal `${`.
//! Values that came from the environment are remembered so messages can be redacted.

use std::collections::{BTreeMap, HashMap};

/// Where `${VAR}` values come from; injectable so tests need not touch the process env.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// One replaced span of one line, in 1-based character columns.
#[derive(Debug, Clone)]
pub(crate) struct Replacement {
    pub line: usize,
    pub out_col: usize,
    pub out_len: usize,
    pub orig_col: usize,
    pub orig_len: usize,
    /// `(NAME, value)` when the text came from the environment (to be redacted).
    pub secret: Option<(String, String)>,
}

/// The substituted text plus what is needed to map its positions back.
#[derive(Debug, Clone, Default)]
pub(crate) struct Interpolated {
    pub text: String,
    pub replacements: Vec<Replacement>,
}

impl Interpolated {
    /// Maps a column of the substituted text to the original line; a column inside a
    /// replacement maps to its `${`.
    pub fn original_column(&self, line: usize, col: usize) -> usize {
        let mut shift: isize = 0;
        for r in self.replacements.iter().filter(|r| r.line == line) {
            if col < r.out_col {
                break;
            }
            if col < r.out_col + r.out_len {
                return r.orig_col;
            }
            shift = (r.orig_col + r.orig_len) as isize - (r.out_col + r.out_len) as isize;
        }
        (col as isize + shift).max(1) as usize
    }

    /// Replaces environment values in `message` by `${NAME}`: first those substituted on
    /// `line`, then any long enough to be recognisable (tokens, passwords) from elsewhere.
    pub fn redact(&self, line: usize, message: &str) -> String {
        let mut out = message.to_string();
        let secrets = self.replacements.iter().filter_map(|r| {
            let (name, value) = r.secret.as_ref()?;
            (!value.is_empty() && (r.line == line || value.chars().count() >= 6))
                .then_some((name, value))
        });
        let mut secrets: Vec<_> = secrets.collect();
        // Longest first, so a value containing another is replaced whole.
        secrets.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        for (name, value) in secrets {
            out = out.replace(value.as_str(), &format!("${{{name}}}"));
        }
        out
    }
}

/// A problem found while substituting, at a 1-based line and column of the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvProblem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Plain,
    Single,
    Double,
}

/// Substitutes every reference in `text`; returns all problems if any.
pub(crate) fn interpolate(text: &str, env: &dyn Env) -> Result<Interpolated, Vec<EnvProblem>> {
    let mut out = Interpolated::default();
    let mut problems = Vec::new();
    let mut ctx = Ctx::Plain;
    let mut flow_depth = 0usize;
    // Inside a `|`/`>` block scalar: the indentation of the line that opened it.
    let mut block_parent: Option<usize> = None;
    for (idx, raw_line) in text.split_inclusive('\n').enumerate() {
        let line_no = idx + 1;
        let body = raw_line.trim_end_matches(['\n', '\r']);
        let ending = &raw_line[body.len()..];
        let chars: Vec<char> = body.chars().collect();
        let indent = chars.iter().take_while(|c| **c == ' ').count();
        if let Some(parent) = block_parent {
            if indent > parent || chars.iter().all(|c| c.is_whitespace()) {
                let mut sub = LineSubst::new(line_no, &mut out, &mut problems, env);
                sub.block_line(&chars);
                out.text.push_str(ending);
                continue;
            }
            block_parent = None;
        }
        let mut sub = LineSubst::new(line_no, &mut out, &mut problems, env);
        let opened_block = sub.line(&chars, &mut ctx, &mut flow_depth);
        out.text.push_str(ending);
        if opened_block {
            block_parent = Some(indent);
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Substitution state for one line.
struct LineSubst<'a> {
    line: usize,
    out: &'a mut Interpolated,
    problems: &'a mut Vec<EnvProblem>,
    env: &'a dyn Env,
    /// Characters written for this line so far (for output columns).
    out_col: usize,
}

/// How a resolved value must be inserted.
enum Placement {
    Raw,
    /// A whole plain scalar that needs quoting.
    SingleQuoted,
    /// Inside an existing `'...'` scalar.
    InSingle,
    /// Inside an existing `"..."` scalar.
    InDouble,
}

impl<'a> LineSubst<'a> {
    fn new(
        line: usize,
        out: &'a mut Interpolated,
        problems: &'a mut Vec<EnvProblem>,
        env: &'a dyn Env,
    ) -> Self {
        LineSubst {
            line,
            out,
            problems,
            env,
            out_col: 1,
        }
    }

    fn emit(&mut self, s: &str) {
        self.out.text.push_str(s);
        self.out_col += s.chars().count();
    }

    fn emit_char(&mut self, c: char) {
        self.out.text.push(c);
        self.out_col += 1;
    }

    fn problem(&mut self, col: usize, message: String) {
        self.problems.push(EnvProblem {
            line: self.line,
            column: col,
            message,
        });
    }

    /// A line of block-scalar content: literal text, references substituted raw.
    fn block_line(&mut self, chars: &[char]) {
        let mut i = 0;
        while i < chars.len() {
            i = self.dollar(chars, i, |_| Some(Placement::Raw));
        }
    }

    /// Handles `chars[i]`, which may start `$${` or `${`; returns the next index.
    fn dollar(
        &mut self,
        chars: &[char],
        i: usize,
        place: impl Fn(&str) -> Option<Placement>,
    ) -> usize {
        let at = |k: usize| chars.get(k).copied();
        if at(i) == Some('$') && at(i + 1) == Some('$') && at(i + 2) == Some('{') {
            self.record(i + 1, 3, "${", None);
            return i + 3;
        }
        if at(i) != Some('$') || at(i + 1) != Some('{') {
            self.emit_char(chars[i]);
            return i + 1;
        }
        let Some(close) = chars[i..].iter().position(|c| *c == '}').map(|p| p + i) else {
            self.problem(i + 1, BAD_REFERENCE.into());
            self.emit_char('$');
            return i + 1;
        };
        let inner: String = chars[i + 2..close].iter().collect();
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner.as_str(), None),
        };
        if !is_var_name(name) {
            self.problem(i + 1, BAD_REFERENCE.into());
            self.emit_char('$');
            return i + 1;
        }
        let (value, secret) = match (self.env.var(name), default) {
            (Some(v), Some(d)) if v.is_empty() => (d.to_string(), None),
            (Some(v), _) => (v.clone(), Some((name.to_string(), v))),
            (None, Some(d)) => (d.to_string(), None),
            (None, None) => {
                self.problem(
                    i + 1,
                    format!(
                        "environment variable `{name}` is not set \
                         (write `${{{name}:-default}}` to give a default)"
                    ),
                );
                return close + 1;
            }
        };
        if value.contains(['\n', '\r']) {
            self.problem(
                i + 1,
                format!(
                    "environment variable `{name}` contains a line break, \
                     which cannot be substituted into YAML"
                ),
            );
            return close + 1;
        }
        let text = match place(&value) {
            Some(Placement::Raw) => value,
            Some(Placement::SingleQuoted) => format!("'{}'", value.replace('\'', "''")),
            Some(Placement::InSingle) => value.replace('\'', "''"),
            Some(Placement::InDouble) => value.replace('\\', "\\\\").replace('"', "\\\""),
            None => {
                self.problem(
                    i + 1,
                    format!(
                        "the value of `{name}` contains characters YAML reads specially \
                         (`: `, `#`, quotes, brackets, ...); put the whole value in quotes, \
                         e.g. \"...${{{name}}}...\""
                    ),
                );
                return close + 1;
            }
        };
        self.record(i + 1, close + 1 - i, &text, secret);
        close + 1
    }

    fn record(
        &mut self,
        orig_col: usize,
        orig_len: usize,
        text: &str,
        secret: Option<(String, String)>,
    ) {
        self.out.replacements.push(Replacement {
            line: self.line,
            out_col: self.out_col,
            out_len: text.chars().count(),
            orig_col,
            orig_len,
            secret,
        });
        self.emit(text);
    }

    /// Scans a normal line, tracking quotes, flow brackets and comments. Returns whether
    /// the line opens a block scalar (`key: |`).
    fn line(&mut self, chars: &[char], ctx: &mut Ctx, flow_depth: &mut usize) -> bool {
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match *ctx {
                Ctx::Single => {
                    if c == '\'' && chars.get(i + 1) == Some(&'\'') {
                        self.emit("''");
                        i += 2;
                        continue;
                    }
                    if c == '\'' {
                        *ctx = Ctx::Plain;
                        self.emit_char(c);
                        i += 1;
                        continue;
                    }
                    i = self.dollar(chars, i, |_| Some(Placement::InSingle));
                }
                Ctx::Double => {
                    if c == '\\' {
                        self.emit_char(c);
                        if let Some(&n) = chars.get(i + 1) {
                            self.emit_char(n);
                        }
                        i += 2;
                        continue;
                    }
                    if c == '"' {
                        *ctx = Ctx::Plain;
                        self.emit_char(c);
                        i += 1;
                        continue;
                    }
                    i = self.dollar(chars, i, |_| Some(Placement::InDouble));
                }
                Ctx::Plain => {
                    let start = at_scalar_start(chars, i);
                    if c == '#' && (i == 0 || chars[i - 1].is_whitespace()) {
                        // A comment: copied verbatim, references in it are not expanded.
                        let rest: String = chars[i..].iter().collect();
                        self.emit(&rest);
                        return false;
                    }
                    if start && (c == '\'' || c == '"') {
                        *ctx = if c == '\'' { Ctx::Single } else { Ctx::Double };
                        self.emit_char(c);
                        i += 1;
                        continue;
                    }
                    if start && *flow_depth == 0 && (c == '|' || c == '>') && opens_block(chars, i)
                    {
                        let rest: String = chars[i..].iter().collect();
                        self.emit(&rest);
                        return true;
                    }
                    match c {
                        '[' | '{' if start || *flow_depth > 0 => *flow_depth += 1,
                        ']' | '}' if *flow_depth > 0 => *flow_depth -= 1,
                        _ => {}
                    }
                    let in_flow = *flow_depth > 0;
                    let prev_space = i > 0 && chars[i - 1].is_whitespace();
                    let whole = start && c == '$' && ends_scalar(chars, i, in_flow);
                    i = self.dollar(chars, i, |v| {
                        plain_placement(v, start, prev_space, in_flow, whole)
                    });
                }
            }
        }
        false
    }
}

const BAD_REFERENCE: &str =
    "`${` must be followed by a variable name and `}`, as in `${NAME}` or `${NAME:-default}` \
     (write `$${` for a literal `${`)";

fn is_var_name(name: &str) -> bool {
    let mut cs = name.chars();
    matches!(cs.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && cs.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Whether position `i` begins a scalar: at line start (after indentation) or after
/// `key: `, `- `, `? `, `[`, `{` or `,`.
fn at_scalar_start(chars: &[char], i: usize) -> bool {
    let before = &chars[..i];
    let trimmed_len = before
        .iter()
        .rposition(|c| !c.is_whitespace())
        .map_or(0, |p| p + 1);
    if trimmed_len == 0 {
        return true;
    }
    let prev = before[trimmed_len - 1];
    let spaced = trimmed_len < i;
    match prev {
        '[' | '{' | ',' => true,
        ':' | '-' | '?' => spaced,
        _ => false,
    }
}

/// `|`, `>`, `|-`, `>+2`, ... followed by nothing but whitespace or a comment.
fn opens_block(chars: &[char], i: usize) -> bool {
    let rest = chars[i + 1..]
        .iter()
        .skip_while(|c| matches!(c, '-' | '+' | '0'..='9'));
    let rest: String = rest.collect();
    let rest = rest.trim_start();
    rest.is_empty() || rest.starts_with('#')
}

/// Whether the reference at `i` (`${...}`) is followed by the end of the scalar.
fn ends_scalar(chars: &[char], i: usize, in_flow: bool) -> bool {
    let Some(close) = chars[i..].iter().position(|c| *c == '}') else {
        return false;
    };
    let after: String = chars[i + close + 1..].iter().collect();
    let rest = after.trim_start();
    rest.is_empty()
        || (rest.starts_with('#') && after.len() > rest.len())
        || (in_flow && rest.starts_with([',', ']', '}']))
}

fn plain_placement(
    v: &str,
    at_start: bool,
    prev_space: bool,
    in_flow: bool,
    whole: bool,
) -> Option<Placement> {
    let safe = !(v.contains(": ")
        || v.ends_with(':')
        || v.contains(" #")
        || v.contains('\t')
        || v.starts_with(char::is_whitespace)
        || v.ends_with(char::is_whitespace)
        || (v.starts_with('#') && (prev_space || at_start))
        || (at_start && v.starts_with(|c| "-?:,[]{}#&*!|>'\"%@`".contains(c)))
        || (in_flow && v.contains([',', '[', ']', '{', '}'])));
    if whole {
        Some(if safe && !v.is_empty() {
            Placement::Raw
        } else {
            Placement::SingleQuoted
        })
    } else {
        safe.then_some(Placement::Raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            "SPECIAL" => Some("a: b #c".into()),
            "QUOTE" => Some(r#"it's "x"\"#.into()),
            "MULTI" => Some("a\nb".into()),
            _ => None,
        }
    }

    fn run(text: &str) -> Result<String, Vec<EnvProblem>> {
        interpolate(text, &env).map(|i| i.text)
    }

    #[test]
    fn substitutes_defaults_and_escapes() {
        assert_eq!(run("t: ${TOKEN}\n").unwrap(), "t: s3cr3t\n");
        assert_eq!(run("t: ${NOPE:-dflt}\n").unwrap(), "t: dflt\n");
        assert_eq!(run("t: ${EMPTY:-dflt}\n").unwrap(), "t: dflt\n");
        assert_eq!(run("t: x$${TOKEN}\n").unwrap(), "t: x${TOKEN}\n");
        assert_eq!(run("t: a # ${NOPE}\n").unwrap(), "t: a # ${NOPE}\n");
        assert_eq!(run("q: |\n  '${TOKEN}\n").unwrap(), "q: |\n  's3cr3t\n");
    }

    #[test]
    fn quotes_values_so_yaml_reads_them_back() {
        assert_eq!(run("t: ${SPECIAL}\n").unwrap(), "t: 'a: b #c'\n");
        assert_eq!(run("t: ${EMPTY}\n").unwrap(), "t: ''\n");
        assert_eq!(run("t: [${SPECIAL}, x]\n").unwrap(), "t: ['a: b #c', x]\n");
        assert_eq!(
            run("t: '${QUOTE}'\n").unwrap(),
            r#"t: 'it''s "x"\'"#.to_string() + "\n"
        );
        assert_eq!(
            run("t: \"${QUOTE}\"\n").unwrap(),
            "t: \"it's \\\"x\\\"\\\\\"\n"
        );
        for (text, want) in [
            ("t: ${SPECIAL}\n", "a: b #c"),
            ("t: \"<${QUOTE}>\"\n", r#"<it's "x"\>"#),
            ("t: '<${QUOTE}>'\n", r#"<it's "x"\>"#),
        ] {
            let yaml = run(text).unwrap();
            let map: BTreeMap<String, String> = serde_saphyr::from_str(&yaml).unwrap();
            assert_eq!(map["t"], want, "{yaml}");
        }
    }

    #[test]
    fn reports_every_problem_with_its_column() {
        let errs = run("a: ${NOPE}\nb: x ${SPECIAL}\nc: ${MULTI}\nd: ${1x}\n").unwrap_err();
        let got: Vec<_> = errs.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(got, vec![(1, 4), (2, 6), (3, 4), (4, 4)]);
        assert!(errs[0].message.contains("`NOPE` is not set"));
        assert!(errs[2].message.contains("`MULTI` contains a line break"));
        assert!(errs.iter().all(|e| !e.message.contains("a\nb")));
    }

    #[test]
    fn maps_columns_back_and_redacts() {
        let i = interpolate("k: ${TOKEN} ${TOKEN}x\n", &env).unwrap();
        assert_eq!(i.text, "k: s3cr3t s3cr3tx\n");
        assert_eq!(i.original_column(1, 4), 4); // inside the first value
        assert_eq!(i.original_column(1, 10), 12); // the space after it
        assert_eq!(i.original_column(1, 17), 21); // the trailing `x`
        assert_eq!(
            i.redact(1, "invalid type: string \"s3cr3t s3cr3tx\""),
            "invalid type: string \"${TOKEN} ${TOKEN}x\""
        );
    }
}
