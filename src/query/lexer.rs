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

use super::ast::Bound;

/// A lexical token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A bare word, escapes resolved.
    Word(String),
    /// A bare word with unescaped `*` or `?`, as an [`super::Ast::Wildcard`] pattern.
    Wild(String),
    /// The inside of `"..."`, escapes resolved.
    Phrase(String),
    /// The inside of `/.../`, `\/` resolved.
    Regex(String),
    /// `[a TO b]`, `{a TO b}` or mixed.
    Range {
        lower: Bound,
        upper: Bound,
    },
    /// `>v`, `>=v`, `<v`, `<=v`, as the range it means.
    Cmp {
        lower: Bound,
        upper: Bound,
    },
    Colon,
    LParen,
    RParen,
    /// `AND` or `&&`.
    And,
    /// `OR` or `||`.
    Or,
    /// `NOT` or `!`.
    Not,
    /// `+` before a clause: required.
    Plus,
    /// `-` before a clause: prohibited.
    Minus,
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
    /// Valid Lucene the lexer does not implement (vs. invalid text).
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
        value(Tok::Plus, char('+')),
        value(Tok::Minus, char('-')),
        quoted,
        regex,
        range,
        comparison,
        stray_close,
        word,
    ))
    .parse(i)
}

/// `"..."` with `\` escaping any character; the returned text has escapes resolved.
fn phrase_text(i: &str) -> LResult<'_, String> {
    let (mut rest, _) = char('"').parse(i)?;
    let mut text = String::new();
    let unterminated = || Fail::at(i, "unterminated phrase: missing closing `\"`", false);
    loop {
        let mut chars = rest.chars();
        match chars.next() {
            None => return Err(unterminated()),
            Some('"') => return Ok((chars.as_str(), text)),
            Some('\\') => match chars.next() {
                Some(c) => text.push(c),
                None => return Err(unterminated()),
            },
            Some(c) => text.push(c),
        }
        rest = chars.as_str();
    }
}

/// A phrase token; proximity (`"a b"~2`) and boosts (`^2`) are refused, not ignored.
fn quoted(i: &str) -> LResult<'_, Tok> {
    let (rest, text) = phrase_text(i)?;
    if let Some(c @ ('~' | '^')) = rest.chars().next() {
        return Err(Fail::at(
            rest,
            unsupported_char(c).unwrap_or_default(),
            true,
        ));
    }
    Ok((rest, Tok::Phrase(text)))
}

/// `/pattern/`: escapes stay for the regex engine except `\/`.
fn regex(i: &str) -> LResult<'_, Tok> {
    let (mut rest, _) = char('/').parse(i)?;
    let mut pattern = String::new();
    loop {
        let mut chars = rest.chars();
        match chars.next() {
            None => {
                return Err(Fail::at(
                    i,
                    "unterminated regular expression: missing closing `/` \
                     (escape a literal slash as `\\/`)",
                    false,
                ))
            }
            Some('/') => return Ok((chars.as_str(), Tok::Regex(pattern))),
            Some('\\') => match chars.next() {
                Some('/') => pattern.push('/'),
                Some(c) => {
                    pattern.push('\\');
                    pattern.push(c);
                }
                None => pattern.push('\\'),
            },
            Some(c) => pattern.push(c),
        }
        rest = chars.as_str();
    }
}

/// `[a TO b]`, `{a TO b}`, `[a TO b}`, `{a TO b]`; `*` is an open end.
fn range(i: &str) -> LResult<'_, Tok> {
    let open = match i.chars().next() {
        Some(c @ ('[' | '{')) => c,
        _ => return Err(nom::Err::Error(Fail::from_error_kind(i, ErrorKind::Char))),
    };
    let (rest, _) = whitespace(&i[1..])?;
    let (rest, lower) = bound(rest, open == '{', "the lower end of the range")?;
    let (after, gap) = whitespace(rest)?;
    let Some(rest) = after.strip_prefix("TO").filter(|_| !gap.is_empty()) else {
        return Err(Fail::at(
            after,
            "expected ` TO ` between the ends of the range (`[a TO b]`)",
            false,
        ));
    };
    let (rest, gap) = whitespace(rest)?;
    if gap.is_empty() {
        return Err(Fail::at(rest, "expected a space after `TO`", false));
    }
    let exclusive_upper = bound_close(rest)?;
    let (rest, upper) = bound(rest, exclusive_upper, "the upper end of the range")?;
    let (rest, _) = whitespace(rest)?;
    match rest.chars().next() {
        Some(']' | '}') => Ok((&rest[1..], Tok::Range { lower, upper })),
        _ => Err(Fail::at(
            rest,
            format!("unclosed range: expected `]` or `}}` (opened with `{open}`)"),
            false,
        )),
    }
}

/// Whether the range closing after the upper bound starting at `i` is `}` (exclusive).
fn bound_close(i: &str) -> Result<bool, nom::Err<Fail>> {
    // Skip the bound itself (quoted or bare), then look at the first non-space character.
    let after = match phrase_text(i) {
        Ok((rest, _)) => rest,
        Err(nom::Err::Error(_)) => {
            let (rest, _) = bare_value(i, &[']', '}'])?;
            rest
        }
        Err(e) => return Err(e),
    };
    Ok(after.trim_start().starts_with('}'))
}

/// One end of a range: `"quoted"`, `*`, or a bare value up to a space, `]` or `}`.
fn bound<'a>(i: &'a str, exclusive: bool, what: &str) -> LResult<'a, Bound> {
    let make = |v: String| {
        if exclusive {
            Bound::Excluded(v)
        } else {
            Bound::Included(v)
        }
    };
    if i.starts_with('"') {
        let (rest, text) = phrase_text(i)?;
        return Ok((rest, make(text)));
    }
    let (rest, text) = bare_value(i, &[']', '}'])?;
    let raw = &i[..i.len() - rest.len()];
    if raw.is_empty() {
        return Err(Fail::at(
            i,
            format!("expected a value or `*` for {what}"),
            false,
        ));
    }
    if raw == "*" {
        return Ok((rest, Bound::Unbounded));
    }
    Ok((rest, make(text)))
}

/// A value up to whitespace or one of `stops`; `\` escapes any character.
fn bare_value<'a>(i: &'a str, stops: &[char]) -> LResult<'a, String> {
    let mut text = String::new();
    let mut rest = i;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() || stops.contains(&c) {
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
        text.push(c);
        rest = after;
    }
    Ok((rest, text))
}

/// `>v`, `>=v`, `<v`, `<=v`. The value runs to a space or `)`, so times need no escaping
/// (`ts:>=2024-05-01T10:00:00Z`).
fn comparison(i: &str) -> LResult<'_, Tok> {
    let (op, rest) = if let Some(r) = i.strip_prefix(">=") {
        (">=", r)
    } else if let Some(r) = i.strip_prefix("<=") {
        ("<=", r)
    } else if let Some(r) = i.strip_prefix('>') {
        (">", r)
    } else if let Some(r) = i.strip_prefix('<') {
        ("<", r)
    } else {
        return Err(nom::Err::Error(Fail::from_error_kind(i, ErrorKind::Char)));
    };
    let (rest, value) = if rest.starts_with('"') {
        phrase_text(rest)?
    } else {
        let (after, value) = bare_value(rest, &[')'])?;
        if after.len() == rest.len() {
            return Err(Fail::at(
                rest,
                format!("expected a value after `{op}`"),
                false,
            ));
        }
        (after, value)
    };
    let (lower, upper) = match op {
        ">" => (Bound::Excluded(value), Bound::Unbounded),
        ">=" => (Bound::Included(value), Bound::Unbounded),
        "<" => (Bound::Unbounded, Bound::Excluded(value)),
        _ => (Bound::Unbounded, Bound::Included(value)),
    };
    Ok((rest, Tok::Cmp { lower, upper }))
}

/// A `]` or `}` with no range open.
fn stray_close(i: &str) -> LResult<'_, Tok> {
    match i.chars().next() {
        Some(c @ (']' | '}')) => Err(Fail::at(
            i,
            format!("unmatched `{c}`: no range opened before it (escape it as `\\{c}`)"),
            false,
        )),
        _ => Err(nom::Err::Error(Fail::from_error_kind(i, ErrorKind::Char))),
    }
}

/// Characters that end a word: whitespace and the syntax this lexer gives meaning to.
fn ends_word(c: char, rest: &str) -> bool {
    c.is_whitespace()
        || matches!(c, '(' | ')' | '"' | ':' | '!')
        || rest.starts_with("&&")
        || rest.starts_with("||")
}

/// Lucene syntax Klaxon refuses rather than matching it differently from Elasticsearch.
fn unsupported_char(c: char) -> Option<&'static str> {
    Some(match c {
        '~' => "fuzzy and proximity searches (`~`) are not supported",
        '^' => "boosts (`^`) are not supported (they change scores, never matches)",
        _ => return None,
    })
}

/// A bare word; `\` escapes any character. `AND`, `OR`, `NOT` written unescaped are operators;
/// unescaped `*` and `?` make it a wildcard pattern.
fn word(i: &str) -> LResult<'_, Tok> {
    let mut text = String::new();
    // The wildcard pattern: like `text`, but escaped `*`, `?` and `\` stay escaped.
    let mut pattern = String::new();
    let mut wild = false;
    let mut rest = i;
    while let Some(c) = rest.chars().next() {
        if ends_word(c, rest) {
            break;
        }
        let after = &rest[c.len_utf8()..];
        match c {
            '\\' => {
                let Some(escaped) = after.chars().next() else {
                    return Err(Fail::at(rest, "`\\` at the end escapes nothing", false));
                };
                text.push(escaped);
                if matches!(escaped, '*' | '?' | '\\') {
                    pattern.push('\\');
                }
                pattern.push(escaped);
                rest = &after[escaped.len_utf8()..];
                continue;
            }
            '*' | '?' => wild = true,
            '/' | '[' | ']' | '{' | '}' => {
                return Err(Fail::at(
                    rest,
                    format!(
                        "`{c}` inside a word starts Lucene syntax: escape it as `\\{c}` \
                         or quote the phrase"
                    ),
                    false,
                ))
            }
            _ => {}
        }
        if let Some(what) = unsupported_char(c) {
            let hint = format!("{what} (escape it as `\\{c}` to search for it literally)");
            return Err(Fail::at(rest, hint, true));
        }
        text.push(c);
        pattern.push(c);
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
        _ if wild => Tok::Wild(pattern),
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
    fn lexes_wildcards_regexes_ranges_and_prefixes() {
        let inc = |s: &str| Bound::Included(s.to_string());
        let exc = |s: &str| Bound::Excluded(s.to_string());
        assert_eq!(
            toks(r"ord*r a\*b? /x\/y\d/ -n +m"),
            vec![
                Tok::Wild("ord*r".to_string()),
                Tok::Wild(r"a\*b?".to_string()),
                Tok::Regex(r"x/y\d".to_string()),
                Tok::Minus,
                w("n"),
                Tok::Plus,
                w("m"),
            ]
        );
        assert_eq!(
            toks(r#"[1 TO *} {"a b" TO 2024-05-01T10:00:00Z] [ \* TO "*" ]"#),
            vec![
                Tok::Range {
                    lower: inc("1"),
                    upper: Bound::Unbounded
                },
                Tok::Range {
                    lower: exc("a b"),
                    upper: inc("2024-05-01T10:00:00Z")
                },
                Tok::Range {
                    lower: inc("*"),
                    upper: inc("*")
                },
            ]
        );
        assert_eq!(
            toks("x:>=10 (<now-5m) >\\x"),
            vec![
                w("x"),
                Tok::Colon,
                Tok::Cmp {
                    lower: inc("10"),
                    upper: Bound::Unbounded
                },
                Tok::LParen,
                Tok::Cmp {
                    lower: Bound::Unbounded,
                    upper: exc("now-5m")
                },
                Tok::RParen,
                Tok::Cmp {
                    lower: exc("x"),
                    upper: Bound::Unbounded
                },
            ]
        );
        // Mid-word `-`, `+`, `<`, `=` are plain text.
        assert_eq!(
            toks("a-b c+d e<f =g"),
            vec![w("a-b"), w("c+d"), w("e<f"), w("=g")]
        );
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
        let e = lex("foo~").unwrap_err();
        assert_eq!((e.at, e.unsupported), (3, true));
        assert!(e.message.contains("fuzzy"), "{}", e.message);
        let e = lex(r#""a b"^2"#).unwrap_err();
        assert_eq!((e.at, e.unsupported), (5, true));
        let e = lex("a/b").unwrap_err();
        assert_eq!((e.at, e.unsupported), (1, false));
        let e = lex("[1 TO 5").unwrap_err();
        assert!(e.message.contains("unclosed range"), "{}", e.message);
        let e = lex("[1 5]").unwrap_err();
        assert!(e.message.contains("TO"), "{}", e.message);
        let e = lex("x]").unwrap_err();
        assert_eq!(e.at, 1);
        let e = lex("/ab").unwrap_err();
        assert!(e.message.contains("unterminated regular"), "{}", e.message);
        let e = lex("> 5").unwrap_err();
        assert!(e.message.contains("after `>`"), "{}", e.message);
    }
}
