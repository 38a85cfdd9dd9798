//! The parsed query, as written (before analysis and flattening).

use std::fmt;

/// A parsed query. Groups stay nested as written; `field:(a b)` is pushed down onto its terms.
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
    Not(Box<Ast>),
    /// All of these; at least two.
    And(Vec<Ast>),
    /// Any of these; at least two.
    Or(Vec<Ast>),
}

impl fmt::Display for Ast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ast::Term { field, text } => {
                write_field(f, field.as_deref())?;
                write_word(f, text)
            }
            Ast::Phrase { field, text } => {
                write_field(f, field.as_deref())?;
                f.write_str("\"")?;
                for c in text.chars() {
                    if matches!(c, '"' | '\\') {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")
            }
            Ast::Not(inner) => write!(f, "NOT {inner}"),
            Ast::And(items) => write_joined(f, items, " AND "),
            Ast::Or(items) => write_joined(f, items, " OR "),
        }
    }
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
        let special = c.is_whitespace()
            || "\\()\":!&|*?~^[]{}/".contains(c)
            || (i == 0 && (keyword || "+-<>".contains(c)));
        if special {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    Ok(())
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
