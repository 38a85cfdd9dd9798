//! Parser: tokens → [`Ast`], by recursive descent with precedence NOT > AND > OR.
//!
//! ```text
//! query   = or EOF
//! or      = and ( ("OR" | "||" | implicit if default OR) and )*
//! and     = unary ( ("AND" | "&&" | implicit if default AND) unary )*
//! unary   = ("NOT" | "!" | "-" | "+") unary | primary
//! primary = "(" or ")" | WORD ":" value | value
//! value   = WORD | WILDCARD | PHRASE | REGEX | RANGE | CMP | "(" or ")"
//!                                        (a field applies to every clause inside a group)
//! ```
//!
//! `+` and `-` follow Lucene inside an OR sequence (`+a -b c`): the `+` clauses are required,
//! the `-` clauses prohibited, and the plain ones matter only when there is no `+` clause
//! (then at least one must match). Elsewhere `-x` is `NOT x` and `+x` is `x`.
//!
//! One deliberate exception to the default operator: with no operator written, `NOT` joins the
//! previous clause with AND, so `error NOT healthcheck` means `error AND NOT healthcheck` as in
//! Kibana/Lucene, never `error OR NOT healthcheck` (which would match nearly every line).

use super::ast::Ast;
use super::error::{column_of, QueryError};
use super::lexer::{lex, Spanned, Tok};
use super::matcher::compile_leaf;
use super::{DefaultOperator, QueryOptions};

/// Deeper nesting is refused so hostile input cannot overflow the stack (here or when compiling).
const MAX_DEPTH: usize = 128;

const CLAUSE: &str = "a term, phrase or `(`";

/// How an OR-sequence item was prefixed, for Lucene's `+`/`-` semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    None,
    Must,
    MustNot,
}

/// A valid query that probably does not mean what its author thinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based character column of the operator concerned.
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

/// Parses `text` into an [`Ast`] (no analysis beyond checking every term has a word to find),
/// with warnings about ambiguous but valid constructs.
pub(crate) fn parse_ast(
    text: &str,
    opts: &QueryOptions,
) -> Result<(Ast, Vec<Warning>), QueryError> {
    let toks = lex(text).map_err(|e| {
        if e.unsupported {
            QueryError::unsupported(text, e.at, e.message)
        } else {
            QueryError::syntax(text, e.at, e.message)
        }
    })?;
    if toks.is_empty() {
        return Err(QueryError::syntax(
            text,
            0,
            format!("empty query: expected {CLAUSE}"),
        ));
    }
    let mut p = Parser {
        src: text,
        toks,
        pos: 0,
        opts,
        depth: 0,
        warnings: Vec::new(),
    };
    let ast = p.or(None)?;
    match p.peek() {
        None => {
            let mut warnings = p.warnings;
            warnings.extend(super::lint::lint(&ast, opts));
            Ok((ast, warnings))
        }
        Some(t) if t.tok == Tok::RParen => {
            Err(p.error_at(t.start, "unmatched `)`: no `(` opened before it"))
        }
        // `or` only stops at `)` or the end; anything else is a bug worth surfacing as an error.
        Some(t) => Err(p.error_at(t.start, format!("unexpected {}", describe(p.src, t)))),
    }
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Spanned>,
    pos: usize,
    opts: &'a QueryOptions,
    depth: usize,
    warnings: Vec<Warning>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Spanned> {
        self.toks.get(self.pos)
    }

    fn peek_tok(&self) -> Option<&Tok> {
        self.peek().map(|t| &t.tok)
    }

    fn next(&mut self) -> Option<Spanned> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn error_at(&self, at: usize, message: impl Into<String>) -> QueryError {
        QueryError::syntax(self.src, at, message)
    }

    /// Where the next token starts, or the end of the query.
    fn here(&self) -> usize {
        self.peek().map_or(self.src.len(), |t| t.start)
    }

    /// Whether the next token can begin a clause (so an implicit operator applies).
    fn at_clause_start(&self) -> bool {
        matches!(
            self.peek_tok(),
            Some(
                Tok::Word(_)
                    | Tok::Wild(_)
                    | Tok::Phrase(_)
                    | Tok::Regex(_)
                    | Tok::Range { .. }
                    | Tok::Cmp { .. }
                    | Tok::LParen
                    | Tok::Not
                    | Tok::Plus
                    | Tok::Minus
                    | Tok::Colon
            )
        )
    }

    /// Fails unless a clause follows `after` (the operator or `(` just consumed).
    fn expect_clause_after(&self, after: &Spanned) -> Result<(), QueryError> {
        if self.at_clause_start() {
            return Ok(());
        }
        Err(self.error_at(
            self.here(),
            format!("expected {CLAUSE} after {}", describe(self.src, after)),
        ))
    }

    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(
                self.here(),
                format!("query nests too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    fn or(&mut self, field: Option<&str>) -> Result<Ast, QueryError> {
        self.enter()?;
        let (first, mut mixed, prefix) = self.and(field)?;
        let mut items = vec![(first, prefix)];
        let mut first_or = None;
        loop {
            let at = self.here();
            match self.peek_tok() {
                Some(Tok::Or) => {
                    let op = self.next().expect("peeked");
                    self.expect_clause_after(&op)?;
                }
                _ if self.opts.default_operator == DefaultOperator::Or
                    && self.at_clause_start() => {}
                _ => break,
            }
            first_or.get_or_insert(at);
            let (item, joined, prefix) = self.and(field)?;
            mixed |= joined;
            items.push((item, prefix));
        }
        if let (true, Some(at)) = (mixed, first_or) {
            // The house precedence (AND first) differs from Lucene's; make the reader choose.
            self.warnings.push(Warning {
                column: column_of(self.src, at),
                message: "AND and OR mixed without parentheses: AND binds tighter \
                          (`a OR b AND c` means `a OR (b AND c)`); add parentheses to be explicit"
                    .to_string(),
            });
        }
        self.depth -= 1;
        if items.iter().all(|(_, p)| *p == Prefix::None) {
            return Ok(collapse(
                items.into_iter().map(|(a, _)| a).collect(),
                Ast::Or,
            ));
        }
        Ok(self.lucene_bool(items, first_or))
    }

    /// `+a -b c`: all `+` clauses, no `-` clause, and (without `+` clauses) one plain clause.
    fn lucene_bool(&mut self, items: Vec<(Ast, Prefix)>, at: Option<usize>) -> Ast {
        let has_must = items.iter().any(|(_, p)| *p == Prefix::Must);
        let mut required = Vec::new();
        let mut optional = Vec::new();
        for (ast, prefix) in items {
            match prefix {
                Prefix::Must | Prefix::MustNot => required.push(ast),
                Prefix::None => optional.push(ast),
            }
        }
        if has_must && !optional.is_empty() {
            self.warnings.push(Warning {
                column: column_of(self.src, at.unwrap_or(0)),
                message: "clauses without `+` beside `+` clauses only change scores in \
                          Lucene: they are ignored for matching (add `+` or AND to require them)"
                    .to_string(),
            });
        } else if !optional.is_empty() {
            required.push(collapse(optional, Ast::Or));
        }
        collapse(required, Ast::And)
    }

    /// An AND chain, whether it joined more than one clause, and the prefix of a lone clause.
    fn and(&mut self, field: Option<&str>) -> Result<(Ast, bool, Prefix), QueryError> {
        let prefix = match self.peek_tok() {
            Some(Tok::Plus) => Prefix::Must,
            Some(Tok::Minus) => Prefix::MustNot,
            _ => Prefix::None,
        };
        let mut items = vec![self.unary(field)?];
        loop {
            match self.peek_tok() {
                Some(Tok::And) => {
                    let op = self.next().expect("peeked");
                    self.expect_clause_after(&op)?;
                }
                // An implicit operator before NOT always means AND (see the module docs).
                Some(Tok::Not) => {}
                _ if self.opts.default_operator == DefaultOperator::And
                    && self.at_clause_start() => {}
                _ => break,
            }
            items.push(self.unary(field)?);
        }
        let joined = items.len() > 1;
        let prefix = if joined { Prefix::None } else { prefix };
        Ok((collapse(items, Ast::And), joined, prefix))
    }

    fn unary(&mut self, field: Option<&str>) -> Result<Ast, QueryError> {
        if let Some(Tok::Not | Tok::Minus | Tok::Plus) = self.peek_tok() {
            let op = self.next().expect("peeked");
            self.expect_clause_after(&op)?;
            self.enter()?;
            let inner = self.unary(field)?;
            self.depth -= 1;
            return Ok(match op.tok {
                Tok::Plus => inner,
                _ => Ast::Not(Box::new(inner)),
            });
        }
        self.primary(field)
    }

    fn primary(&mut self, field: Option<&str>) -> Result<Ast, QueryError> {
        let Some(t) = self.next() else {
            return Err(self.error_at(self.src.len(), format!("expected {CLAUSE}")));
        };
        match &t.tok {
            Tok::LParen => self.group(&t, field),
            Tok::Word(name) if self.colon_follows(&t) => {
                self.pos += 1; // the colon
                let name = name.clone();
                self.note_field(&t, &name);
                if name == "_exists_" {
                    return self.exists();
                }
                self.value(&name)
            }
            // `*:*`, Lucene's "every document" (what Kibana sends for an empty query).
            Tok::Wild(w) if w == "*" && self.colon_follows(&t) && self.star_after_colon() => {
                self.pos += 2;
                Ok(Ast::MatchAll)
            }
            Tok::Wild(_) if self.colon_follows(&t) => Err(QueryError::unsupported(
                self.src,
                t.start,
                "wildcards in field names are not supported: name the field",
            )),
            Tok::Word(_)
            | Tok::Wild(_)
            | Tok::Phrase(_)
            | Tok::Regex(_)
            | Tok::Range { .. }
            | Tok::Cmp { .. } => self.leaf(&t, field),
            Tok::Colon => Err(self.error_at(
                t.start,
                "unexpected `:`: a field name must come right before it \
                 (escape it as `\\:` to search for a colon)",
            )),
            _ => Err(self.error_at(
                t.start,
                format!("expected {CLAUSE}, found {}", describe(self.src, &t)),
            )),
        }
    }

    /// `( or )`, after the `(` was consumed.
    fn group(&mut self, open: &Spanned, field: Option<&str>) -> Result<Ast, QueryError> {
        self.expect_clause_after(open)?;
        let inner = self.or(field)?;
        match self.peek_tok() {
            Some(Tok::RParen) => {
                self.pos += 1;
                Ok(inner)
            }
            _ => Err(self.error_at(
                self.here(),
                format!(
                    "unclosed `(` opened at column {}",
                    column_of(self.src, open.start)
                ),
            )),
        }
    }

    /// Whether the colon ahead is followed, without a space, by a lone `*`.
    fn star_after_colon(&self) -> bool {
        match (self.toks.get(self.pos), self.toks.get(self.pos + 1)) {
            (Some(colon), Some(star)) => {
                matches!(&star.tok, Tok::Wild(w) if w == "*") && star.start == colon.end
            }
            _ => false,
        }
    }

    fn colon_follows(&self, word: &Spanned) -> bool {
        matches!(self.peek(), Some(t) if t.tok == Tok::Colon && t.start == word.end)
    }

    /// What follows `field:`.
    fn value(&mut self, field: &str) -> Result<Ast, QueryError> {
        let expected = || format!("expected {CLAUSE} after `{}:`", field);
        let Some(t) = self.next() else {
            return Err(self.error_at(self.src.len(), expected()));
        };
        match &t.tok {
            Tok::LParen => self.group(&t, Some(field)),
            Tok::Word(_) | Tok::Wild(_) if self.colon_follows(&t) => {
                let c = self.peek().expect("peeked").start;
                Err(self.error_at(
                    c,
                    "unexpected second `:` (escape it as `\\:` to search for a colon)",
                ))
            }
            Tok::Word(_)
            | Tok::Wild(_)
            | Tok::Phrase(_)
            | Tok::Regex(_)
            | Tok::Range { .. }
            | Tok::Cmp { .. } => self.leaf(&t, Some(field)),
            _ => Err(self.error_at(t.start, expected())),
        }
    }

    /// `_exists_:field`, after the colon.
    fn exists(&mut self) -> Result<Ast, QueryError> {
        match self.next() {
            Some(Spanned {
                tok: Tok::Word(name) | Tok::Phrase(name),
                ..
            }) => Ok(Ast::Exists { field: name }),
            t => Err(self.error_at(
                t.map_or(self.src.len(), |t| t.start),
                "expected a field name after `_exists_:`",
            )),
        }
    }

    /// Warns once per field name that `fields:` does not declare (when it declares any).
    fn note_field(&mut self, t: &Spanned, name: &str) {
        let fields = &self.opts.fields;
        if fields.is_empty() || fields.contains_key(name) || name == self.opts.default_field {
            return;
        }
        if name == "_exists_" {
            return;
        }
        let message = format!("field `{name}` is not declared in `fields:`; it is matched as text");
        if !self.warnings.iter().any(|w| w.message == message) {
            self.warnings.push(Warning {
                column: column_of(self.src, t.start),
                message,
            });
        }
    }

    /// A leaf clause from one token, compiled once here so a bad value (a regex that does not
    /// compile, a number field given a word) is reported under the clause.
    fn leaf(&mut self, t: &Spanned, field: Option<&str>) -> Result<Ast, QueryError> {
        let field = field.map(str::to_string);
        let ast = match t.tok.clone() {
            Tok::Word(text) => Ast::Term { field, text },
            Tok::Phrase(text) => Ast::Phrase { field, text },
            Tok::Wild(pattern) => {
                if pattern.len() > 1 && pattern.starts_with(['*', '?']) {
                    self.warnings.push(Warning {
                        column: column_of(self.src, t.start),
                        message: "leading wildcard: it cannot use an index in Elasticsearch \
                                  and gives the prefilter less to look for"
                            .to_string(),
                    });
                }
                Ast::Wildcard { field, pattern }
            }
            Tok::Regex(pattern) => Ast::Regex { field, pattern },
            Tok::Range { lower, upper } | Tok::Cmp { lower, upper } => Ast::Range {
                field,
                lower,
                upper,
            },
            _ => return Err(self.error_at(t.start, format!("expected {CLAUSE}"))),
        };
        if let Err(message) = compile_leaf(&ast, self.opts) {
            return Err(self.error_at(t.start, message));
        }
        Ok(ast)
    }
}

fn collapse(mut items: Vec<Ast>, make: fn(Vec<Ast>) -> Ast) -> Ast {
    if items.len() == 1 {
        items.pop().expect("one item")
    } else {
        make(items)
    }
}

/// How a token is named in messages: keywords bare (`AND`), symbols quoted (`` `&&` ``).
fn describe(src: &str, t: &Spanned) -> String {
    let raw = &src[t.start..t.end];
    match t.tok {
        Tok::And | Tok::Or | Tok::Not if raw.chars().all(char::is_alphabetic) => raw.to_string(),
        _ => format!("`{raw}`"),
    }
}
