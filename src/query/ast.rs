//! The parsed query, as written (before analysis and flattening).

use std::fmt;

/// A parsed query. Groups stay nested as written; `field:(a b)` is pushed down onto its terms;
/// `+`/`-` prefixes and comparisons are desugared into `And`/`Not` and `Range`.
///
/// `Display` prints a fully parenthesized query that parses back to an equal `Ast`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ast {
    /// A bare word (escapes resolved); `field: None` means the default field.
    Term {
        field: Option<String>,
        text: String,
    },
    /// A quoted phrase (escapes resolved).
    Phrase {
        field: Option<String>,
        text: String,
    },
    /// A word with wildcards: `*` any run of characters, `?` one; `\*`, `\?` and `\\` stand
    /// for themselves (all other escapes resolved).
    Wildcard {
        field: Option<String>,
        pattern: String,
    },
    /// `/pattern/`: a regular expression (`regex` crate syntax) matching a whole token or value;
    /// `\/` is resolved to `/`, every other escape is kept for the regex.
    Regex {
        field: Option<String>,
        pattern: String,
    },
    /// `[a TO b]`, `{a TO b}`, mixed, open ends `*`, and `>`, `>=`, `<`, `<=`.
    Range {
        field: Option<String>,
        lower: Bound,
        upper: Bound,
    },
    /// `_exists_:field`: the field is present and not null.
    Exists {
        field: String,
    },
    /// `*:*`: every event.
    MatchAll,
    Not(Box<Ast>),
    /// All of these; at least two.
    And(Vec<Ast>),
    /// Any of these; at least two.
    Or(Vec<Ast>),
}

/// One end of a range, escapes resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// `*`: no limit.
    Unbounded,
    /// `[value` or `value]`.
    Included(String),
    /// `{value` or `value}`.
    Excluded(String),
}

impl Bound {
    /// The value, unless unbounded.
    pub fn value(&self) -> Option<&str> {
        match self {
            Bound::Unbounded => None,
            Bound::Included(v) | Bound::Excluded(v) => Some(v),
        }
    }
}

impl fmt::Display for Ast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ast::MatchAll => f.write_str("*:*"),
            Ast::Term { field, text } => {
                write_field(f, field.as_deref())?;
                write_word(f, text)
            }
            Ast::Phrase { field, text } => {
                write_field(f, field.as_deref())?;
                write_quoted(f, text)
            }
            Ast::Wildcard { field, pattern } => {
                write_field(f, field.as_deref())?;
                write_pattern(f, pattern)
            }
            Ast::Regex { field, pattern } => {
                write_field(f, field.as_deref())?;
                f.write_str("/")?;
                let mut chars = pattern.chars();
                while let Some(c) = chars.next() {
                    match c {
                        // An escape pair is copied whole so `\\/` cannot end the regex early.
                        '\\' => {
                            f.write_str("\\")?;
                            if let Some(next) = chars.next() {
                                write!(f, "{next}")?;
                            }
                        }
                        '/' => f.write_str("\\/")?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("/")
            }
            Ast::Range {
                field,
                lower,
                upper,
            } => {
                write_field(f, field.as_deref())?;
                f.write_str(if matches!(lower, Bound::Excluded(_)) {
                    "{"
                } else {
                    "["
                })?;
                write_bound(f, lower)?;
                f.write_str(" TO ")?;
                write_bound(f, upper)?;
                f.write_str(if matches!(upper, Bound::Excluded(_)) {
                    "}"
                } else {
                    "]"
                })
            }
            Ast::Exists { field } => {
                f.write_str("_exists_:")?;
                write_word(f, field)
            }
            Ast::Not(inner) => write!(f, "NOT {inner}"),
            Ast::And(items) => write_joined(f, items, " AND "),
            Ast::Or(items) => write_joined(f, items, " OR "),
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

fn write_bound(f: &mut fmt::Formatter<'_>, bound: &Bound) -> fmt::Result {
    let Some(v) = bound.value() else {
        return f.write_str("*");
    };
    let bare = !v.is_empty()
        && v != "*"
        && v != "TO"
        && !v.starts_with('"')
        && !v
            .chars()
            .any(|c| c.is_whitespace() || "\\[]{}()\"".contains(c));
    if bare {
        f.write_str(v)
    } else {
        write_quoted(f, v)
    }
}

/// A wildcard pattern: its escape pairs and wildcards as they are, other syntax escaped.
fn write_pattern(f: &mut fmt::Formatter<'_>, pattern: &str) -> fmt::Result {
    let mut chars = pattern.chars().enumerate();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                f.write_str("\\")?;
                if let Some((_, next)) = chars.next() {
                    write!(f, "{next}")?;
                }
            }
            '*' | '?' => write!(f, "{c}")?,
            c => write_char(f, c, i == 0, false)?,
        }
    }
    Ok(())
}

fn write_field(f: &mut fmt::Formatter<'_>, field: Option<&str>) -> fmt::Result {
    match field {
        Some(name) => {
            write_word(f, name)?;
            f.write_str(":")
        }
        None => Ok(()),
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, items: &[Ast], op: &str) -> fmt::Result {
    f.write_str("(")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(op)?;
        }
        write!(f, "{item}")?;
    }
    f.write_str(")")
}

/// Writes a word escaping everything the lexer would read as syntax.
fn write_word(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    // A word spelled like an operator must not read back as one.
    let keyword = matches!(text, "AND" | "OR" | "NOT");
    for (i, c) in text.chars().enumerate() {
        write_char(f, c, i == 0, keyword)?;
    }
    Ok(())
}

fn write_char(f: &mut fmt::Formatter<'_>, c: char, first: bool, keyword: bool) -> fmt::Result {
    let special = c.is_whitespace()
        || "\\()\":!&|*?~^[]{}/".contains(c)
        || (first && (keyword || "+-<>=".contains(c)));
    if special {
        f.write_str("\\")?;
    }
    write!(f, "{c}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(text: &str) -> Ast {
        Ast::Term {
            field: None,
            text: text.to_string(),
        }
    }

    #[test]
    fn prints_fully_parenthesized() {
        let ast = Ast::Or(vec![
            term("a"),
            Ast::And(vec![
                Ast::Not(Box::new(term("b"))),
                Ast::Phrase {
                    field: Some("msg".to_string()),
                    text: r#"say "hi" \o/"#.to_string(),
                },
            ]),
        ]);
        assert_eq!(
            ast.to_string(),
            r#"(a OR (NOT b AND msg:"say \"hi\" \\o/"))"#
        );
    }

    #[test]
    fn escapes_syntax_inside_words() {
        assert_eq!(term("AND").to_string(), r"\AND");
        assert_eq!(term("ANDROID").to_string(), "ANDROID");
        assert_eq!(term("-x").to_string(), r"\-x");
        assert_eq!(term("a-b").to_string(), "a-b");
        assert_eq!(term("a:b (c)").to_string(), r"a\:b\ \(c\)");
        let field = Ast::Term {
            field: Some("a b".to_string()),
            text: "x".to_string(),
        };
        assert_eq!(field.to_string(), r"a\ b:x");
    }
}
