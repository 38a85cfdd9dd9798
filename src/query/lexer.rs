//! Lexer (nom): query text → tokens with byte spans.
//!
//! Lexing is separate from parsing so the parser sees whole tokens and can say precisely what
//! it expected after which operator; nom handles the character-level grammar here.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while};
use nom::character::complete::char;
use nom::combinator::value;
use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Parser};

/// A lexical token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A bare word, escapes resolved.
    Word(String),
    /// The inside of `"..."`, escapes resolved.
    Phrase(String),
    Colon,
    LParen,
    RParen,
    /// `AND` or `&&`.
    And,
    /// `OR` or `||`.
    Or,
    /// `NOT` or `!`.
    Not,
}

/// A token and where it sits in the query (byte offsets).
#[derive(Debug, Clone)]
pub(crate) struct Spanned {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// A lexing failure: byte offset and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub at: usize,
    pub message: String,
    /// Valid Lucene the lexer does not implement yet (vs. invalid text).
    pub unsupported: bool,
}

/// nom's error type for this lexer: remaining input length plus an optional message.
#[derive(Debug)]
struct Fail {
    rest_len: usize,
    message: Option<String>,
    unsupported: bool,
}

impl Fail {
    fn at(rest: &str, message: impl Into<String>, unsupported: bool) -> nom::Err<Fail> {
        nom::Err::Failure(Fail {
            rest_len: rest.len(),
            message: Some(message.into()),
            unsupported,
        })
    }
}

impl ParseError<&str> for Fail {
    fn from_error_kind(input: &str, _: ErrorKind) -> Self {
        Fail {
            rest_len: input.len(),
            message: None,
            unsupported: false,
        }
    }

    fn append(_: &str, _: ErrorKind, other: Self) -> Self {
        other
    }
}

type LResult<'a, O> = IResult<&'a str, O, Fail>;

/// Splits `src` into tokens.
pub(crate) fn lex(src: &str) -> Result<Vec<Spanned>, LexError> {
    let mut out = Vec::new();
    let mut rest = src;
    let offset = |rest: &str| src.len() - rest.len();
    loop {
        let (r, _) = whitespace(rest).map_err(|e| to_lex_error(src, e))?;
        rest = r;
        if rest.is_empty() {
            return Ok(out);
        }
        let start = offset(rest);
        let (r, tok) = token(rest).map_err(|e| to_lex_error(src, e))?;
        out.push(Spanned {
            tok,
            start,
            end: offset(r),
        });
        rest = r;
    }
}

fn to_lex_error(src: &str, e: nom::Err<Fail>) -> LexError {
    match e {
        nom::Err::Error(f) | nom::Err::Failure(f) => LexError {
            at: src.len() - f.rest_len,
            message: f
                .message
                .unwrap_or_else(|| "unexpected character".to_string()),
            unsupported: f.unsupported,
        },
        // Only streaming parsers report `Incomplete`; all of these are `complete`.
        nom::Err::Incomplete(_) => LexError {
            at: src.len(),
            message: "unexpected end of query".to_string(),
            unsupported: false,
        },
    }
}

fn whitespace(i: &str) -> LResult<'_, &str> {
    // `char::is_whitespace` includes U+3000, which Lucene also treats as a separator.
    take_while(char::is_whitespace).parse(i)
}

fn token(i: &str) -> LResult<'_, Tok> {
    alt((
        value(Tok::And, tag("&&")),
        value(Tok::Or, tag("||")),
        value(Tok::Not, char('!')),
        value(Tok::LParen, char('(')),
        value(Tok::RParen, char(')')),
        value(Tok::Colon, char(':')),
        phrase,
        word,
    ))
    .parse(i)
}

/// `"..."` with `\` escaping any character.
fn phrase(i: &str) -> LResult<'_, Tok> {
    let (mut rest, _) = char('"').parse(i)?;
    let mut text = String::new();
    loop {
        let mut chars = rest.chars();
        match chars.next() {
            None => {
                return Err(Fail::at(
                    i,
                    "unterminated phrase: missing closing `\"`",
                    false,
                ))
            }
            Some('"') => return Ok((chars.as_str(), Tok::Phrase(text))),
            Some('\\') => match chars.next() {
                Some(c) => text.push(c),
                None => {
                    return Err(Fail::at(
                        i,
                        "unterminated phrase: missing closing `\"`",
                        false,
                    ))
                }
            },
            Some(c) => text.push(c),
        }
        rest = chars.as_str();
    }
}

/// Characters that end a word: whitespace and the syntax this lexer gives meaning to.
fn ends_word(c: char, rest: &str) -> bool {
    c.is_whitespace()
        || matches!(c, '(' | ')' | '"' | ':' | '!')
        || rest.starts_with("&&")
        || rest.starts_with("||")
}

/// Lucene syntax not implemented yet: rejected so it never silently matches as plain text.
fn unsupported_char(c: char) -> Option<&'static str> {
    Some(match c {
        '*' | '?' => "wildcards (`*`, `?`) are not supported yet",
        '~' => "fuzzy and proximity searches (`~`) are not supported yet",
        '^' => "boosts (`^`) are not supported yet",
        '[' | ']' | '{' | '}' => "ranges (`[a TO b]`, `{a TO b}`) are not supported yet",
        '/' => "regular expressions (`/.../`) are not supported yet",
        _ => return None,
    })
}

/// Lucene syntax only special at the start of a word.
fn unsupported_start(c: char) -> Option<&'static str> {
    Some(match c {
        '+' | '-' => "required/prohibited markers (`+`, `-`) are not supported yet; use AND / NOT",
        '<' | '>' => "comparisons (`>`, `<`) are not supported yet",
        _ => return None,
    })
}

/// A bare word; `\` escapes any character. `AND`, `OR`, `NOT` written unescaped are operators.
fn word(i: &str) -> LResult<'_, Tok> {
    let mut text = String::new();
    let mut rest = i;
    while let Some(c) = rest.chars().next() {
        if ends_word(c, rest) {
            break;
        }
        let after = &rest[c.len_utf8()..];
        if c == '\\' {
            let Some(escaped) = after.chars().next() else {
                return Err(Fail::at(rest, "`\\` at the end escapes nothing", false));
            };
            text.push(escaped);
            rest = &after[escaped.len_utf8()..];
            continue;
        }
        let unsupported = unsupported_char(c).or_else(|| {
            if rest.len() == i.len() {
                unsupported_start(c)
            } else {
                None
            }
        });
        if let Some(what) = unsupported {
            let hint = format!("{what} (escape it as `\\{c}` to search for it literally)");
            return Err(Fail::at(rest, hint, true));
        }
        text.push(c);
        rest = after;
    }
    if rest.len() == i.len() {
        return Err(nom::Err::Error(Fail::from_error_kind(i, ErrorKind::Char)));
    }
    let raw = &i[..i.len() - rest.len()];
    let tok = match raw {
        "AND" => Tok::And,
        "OR" => Tok::Or,
        "NOT" => Tok::Not,
        _ => Tok::Word(text),
    };
    Ok((rest, tok))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn w(s: &str) -> Tok {
        Tok::Word(s.to_string())
    }

    #[test]
    fn lexes_operators_words_and_phrases() {
        assert_eq!(
            toks(r#"level:error AND ("a \"b\"" || !c) && NOT d OR e"#),
            vec![
                w("level"),
                Tok::Colon,
                w("error"),
                Tok::And,
                Tok::LParen,
                Tok::Phrase(r#"a "b""#.to_string()),
                Tok::Or,
                Tok::Not,
                w("c"),
                Tok::RParen,
                Tok::And,
                Tok::Not,
                w("d"),
                Tok::Or,
                w("e"),
            ]
        );
    }

    #[test]
    fn keywords_are_uppercase_and_unescaped_only() {
        assert_eq!(toks("and or not"), vec![w("and"), w("or"), w("not")]);
        assert_eq!(toks(r"\AND ANDROID"), vec![w("AND"), w("ANDROID")]);
    }

    #[test]
    fn escapes_keep_reserved_characters_in_words() {
        assert_eq!(
            toks(r"a\:b \(x\) c\*\ d"),
            vec![w("a:b"), w("(x)"), w("c* d")]
        );
        assert_eq!(toks("a-b c+d x&y"), vec![w("a-b"), w("c+d"), w("x&y")]);
        assert_eq!(toks("a&&b"), vec![w("a"), Tok::And, w("b")]);
    }

    #[test]
    fn spans_are_byte_offsets() {
        let t = lex("支付 OR x").unwrap();
        assert_eq!((t[0].start, t[0].end), (0, 6));
        assert_eq!((t[1].start, t[1].end), (7, 9));
    }

    #[test]
    fn reports_where_lexing_fails() {
        let e = lex(r#"a "bc"#).unwrap_err();
        assert_eq!((e.at, e.unsupported), (2, false));
        assert!(e.message.contains("unterminated phrase"), "{}", e.message);
        let e = lex(r"abc\").unwrap_err();
        assert_eq!(e.at, 3);
        let e = lex("foo*").unwrap_err();
        assert_eq!((e.at, e.unsupported), (3, true));
        assert!(e.message.contains("wildcards"), "{}", e.message);
        let e = lex("x -y").unwrap_err();
        assert_eq!((e.at, e.unsupported), (2, true));
    }
}
