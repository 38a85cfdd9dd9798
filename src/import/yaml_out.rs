//! Writing YAML by hand: converted files keep a chosen key order, comments and flow lists,
//! and every scalar is quoted exactly when YAML would read it as something else.

use std::fmt::Write;

/// A YAML value as it will be written.
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Str(String),
    Int(i64),
    Num(f64),
    Bool(bool),
    /// Written as is: `${VAR}` references, durations such as `5m`.
    Raw(String),
    List(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    pub fn str(s: impl Into<String>) -> Yaml {
        Yaml::Str(s.into())
    }

    pub fn raw(s: impl Into<String>) -> Yaml {
        Yaml::Raw(s.into())
    }

    pub fn strs<S: AsRef<str>>(items: &[S]) -> Yaml {
        Yaml::List(items.iter().map(|s| Yaml::str(s.as_ref())).collect())
    }

    fn is_scalar(&self) -> bool {
        !matches!(self, Yaml::List(_) | Yaml::Map(_))
    }
}

/// `key: value` lines for the entries of a map at `indent` spaces.
pub fn write_map(out: &mut String, entries: &[(String, Yaml)], indent: usize) {
    for (key, value) in entries {
        let pad = " ".repeat(indent);
        let key = scalar(key, false);
        match value {
            Yaml::Map(inner) if inner.is_empty() => {
                let _ = writeln!(out, "{pad}{key}: {{}}");
            }
            Yaml::Map(inner) => {
                let _ = writeln!(out, "{pad}{key}:");
                write_map(out, inner, indent + 2);
            }
            Yaml::List(items) if items.iter().all(Yaml::is_scalar) => {
                let _ = writeln!(out, "{pad}{key}: {}", flow_list(items));
            }
            Yaml::List(items) => {
                let _ = writeln!(out, "{pad}{key}:");
                for item in items {
                    write_item(out, item, indent + 2);
                }
            }
            scalar_value => {
                let _ = writeln!(out, "{pad}{key}: {}", inline(scalar_value, false));
            }
        }
    }
}

fn write_item(out: &mut String, item: &Yaml, indent: usize) {
    let pad = " ".repeat(indent);
    match item {
        Yaml::Map(entries) if !entries.is_empty() => {
            let mut inner = String::new();
            write_map(&mut inner, entries, indent + 2);
            // The first entry goes on the dash's line.
            let inner = inner.trim_start();
            let _ = write!(out, "{pad}- {inner}");
        }
        Yaml::List(items) if items.iter().all(Yaml::is_scalar) => {
            let _ = writeln!(out, "{pad}- {}", flow_list(items));
        }
        other => {
            let _ = writeln!(out, "{pad}- {}", inline(other, false));
        }
    }
}

fn flow_list(items: &[Yaml]) -> String {
    let parts: Vec<String> = items.iter().map(|i| inline(i, true)).collect();
    format!("[{}]", parts.join(", "))
}

fn inline(value: &Yaml, flow: bool) -> String {
    match value {
        // Klaxon substitutes `${VAR}` in its files; text from the converted file is literal.
        Yaml::Str(s) => scalar(&s.replace("${", "$${"), flow),
        Yaml::Int(n) => n.to_string(),
        Yaml::Num(n) if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 => format!("{n:.1}"),
        Yaml::Num(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Raw(s) => s.clone(),
        Yaml::List(items) => flow_list(items),
        Yaml::Map(entries) if entries.is_empty() => "{}".into(),
        Yaml::Map(entries) => {
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}: {}", scalar(k, true), inline(v, true)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// A string as a YAML scalar: plain when YAML reads it back as the same string, else
/// single-quoted, else (control characters, line breaks) double-quoted with JSON escapes,
/// which YAML's double-quoted style reads the same way.
pub fn scalar(s: &str, flow: bool) -> String {
    if is_plain(s, flow) {
        return s.to_string();
    }
    if s.chars().all(|c| !is_break_or_control(c)) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if is_break_or_control(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters some YAML reader takes as a line break or refuses inside a scalar.
fn is_break_or_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

fn is_plain(s: &str, flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.trim() != s || s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || first.is_ascii_digit() || first == '.' {
        return false;
    }
    if flow && s.contains([',', '[', ']', '{', '}']) {
        return false;
    }
    if s.chars().any(is_break_or_control) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    !matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~" | "y" | "n" | ".inf" | ".nan"
    )
}

/// `# text` lines, every line of `text` commented (so log-supplied or file-supplied text
/// can never end a comment and start YAML).
pub fn comment(out: &mut String, text: &str) {
    for line in text.lines() {
        let line: String = line.chars().filter(|c| !is_break_or_control(*c)).collect();
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &str) {
        for flow in [false, true] {
            let text = format!("k: [{}]\nv: {}\n", scalar(s, true), scalar(s, flow));
            let back: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
            assert_eq!(back["k"][0], serde_json::Value::String(s.into()), "{text}");
            assert_eq!(back["v"], serde_json::Value::String(s.into()), "{text}");
        }
    }

    #[test]
    fn scalars_read_back_as_the_same_string() {
        for s in [
            "plain",
            "true",
            "No",
            "null",
            "~",
            "12",
            "1.5",
            "-x",
            "a: b",
            "a #b",
            "x,y",
            "[a]",
            "{a}",
            "it's",
            "tab\there",
            "line\nbreak",
            "*",
            "&a",
            "!tag",
            "@timestamp",
            "%x",
            " lead",
            "trail ",
            "",
            "a:b",
            "é",
            "${VAR}",
            "'q'",
            "\"d\"",
            "a\\b",
            "#",
            "- a",
            "x\u{2028}y",
            "\u{7f}",
        ] {
            round_trip(s);
        }
    }

    #[test]
    fn maps_and_lists_nest() {
        let mut out = String::new();
        write_map(
            &mut out,
            &[
                ("name".into(), Yaml::str("a")),
                ("group_by".into(), Yaml::strs(&["x", "y z"])),
                (
                    "m".into(),
                    Yaml::Map(vec![
                        ("k".into(), Yaml::Int(3)),
                        ("f".into(), Yaml::Num(2.0)),
                    ]),
                ),
                (
                    "l".into(),
                    Yaml::List(vec![Yaml::Map(vec![
                        ("a".into(), Yaml::Bool(true)),
                        ("b".into(), Yaml::raw("${B}")),
                    ])]),
                ),
            ],
            0,
        );
        assert_eq!(
            out,
            "name: a\ngroup_by: [x, y z]\nm:\n  k: 3\n  f: 2.0\nl:\n  - a: true\n    b: ${B}\n"
        );
        let back: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(back["l"][0]["b"], "${B}");
    }

    #[test]
    fn strings_never_become_environment_references() {
        let mut out = String::new();
        write_map(
            &mut out,
            &[
                ("q".into(), Yaml::str("a ${HOME}")),
                ("t".into(), Yaml::raw("${T}")),
            ],
            0,
        );
        assert_eq!(out, "q: a $${HOME}\nt: ${T}\n");
    }

    #[test]
    fn comments_cannot_break_out() {
        let mut out = String::new();
        comment(&mut out, "a\nb\r\nname: evil\u{2028}");
        assert_eq!(out, "# a\n# b\n# name: evil\n");
    }
}
