//! Whole-query warnings that need the finished AST: a query that can never match.

use std::ops::Bound as StdBound;

use super::ast::Ast;
use super::leaf::Test;
use super::matcher::{compile_leaf, Node};
use super::parser::Warning;
use super::QueryOptions;

/// Warnings about the whole query (none when it can match something).
pub(crate) fn lint(ast: &Ast, opts: &QueryOptions) -> Vec<Warning> {
    if never(ast, opts) {
        vec![Warning {
            column: 1,
            message: "this query can never match (an empty range, or a clause ANDed with its \
                      own negation): the rule would never fire"
                .to_string(),
        }]
    } else {
        Vec::new()
    }
}

/// Whether no event can match `ast`. Conservative: false when unsure.
fn never(ast: &Ast, opts: &QueryOptions) -> bool {
    match ast {
        Ast::And(items) => {
            items.iter().any(|i| never(i, opts))
                || items.iter().any(|i| {
                    items
                        .iter()
                        .any(|j| matches!(j, Ast::Not(inner) if **inner == *i))
                })
        }
        Ast::Or(items) => items.iter().all(|i| never(i, opts)),
        Ast::Not(_) => false,
        Ast::Range { .. } => match compile_leaf(ast, opts) {
            Ok(Node::Leaf { test, .. }) => empty_range(&test),
            _ => false,
        },
        _ => false,
    }
}

fn empty_range(test: &Test) -> bool {
    match test {
        Test::Number(lo, hi) => empty(lo, hi),
        Test::KeywordRange(lo, hi) => empty(lo, hi),
        Test::TextRange {
            lower,
            upper,
            numeric,
        } => empty(lower, upper) && numeric.as_ref().is_none_or(|(lo, hi)| empty(lo, hi)),
        Test::Ip(lo, hi) => lo > hi,
        Test::Date(range) => range.is_fixed_and_empty(),
        _ => false,
    }
}

fn empty<T: PartialOrd>(lo: &StdBound<T>, hi: &StdBound<T>) -> bool {
    let (l, l_incl) = match lo {
        StdBound::Unbounded => return false,
        StdBound::Included(l) => (l, true),
        StdBound::Excluded(l) => (l, false),
    };
    let (h, h_incl) = match hi {
        StdBound::Unbounded => return false,
        StdBound::Included(h) => (h, true),
        StdBound::Excluded(h) => (h, false),
    };
    l > h || (l == h && !(l_incl && h_incl))
}
