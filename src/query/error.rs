//! Query errors that point at the spot in the query text.

use std::fmt;

/// Why a query was rejected, with the 1-based character column to point at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The text is not a valid query.
    #[error("{}", Pointed { query, column: *column, message })]
    Syntax {
        query: String,
        column: usize,
        message: String,
    },
    /// Valid Lucene syntax that Klaxon does not implement yet; rejected rather than silently
    /// matched differently from Elasticsearch.
    #[error("{}", Pointed { query, column: *column, message })]
    Unsupported {
        query: String,
        column: usize,
        message: String,
    },
}

impl QueryError {
    /// A syntax error at byte offset `at` of `query`.
    pub(crate) fn syntax(query: &str, at: usize, message: impl Into<String>) -> Self {
        QueryError::Syntax {
            query: query.to_string(),
            column: column_of(query, at),
            message: message.into(),
        }
    }

    /// Unsupported syntax at byte offset `at` of `query`.
    pub(crate) fn unsupported(query: &str, at: usize, message: impl Into<String>) -> Self {
        QueryError::Unsupported {
            query: query.to_string(),
            column: column_of(query, at),
            message: message.into(),
        }
    }

    /// 1-based column, counted in characters from the start of the query.
    pub fn column(&self) -> usize {
        match self {
            QueryError::Syntax { column, .. } | QueryError::Unsupported { column, .. } => *column,
        }
    }

    /// What was expected or what is wrong, without the position.
    pub fn message(&self) -> &str {
        match self {
            QueryError::Syntax { message, .. } | QueryError::Unsupported { message, .. } => message,
        }
    }

    /// The query as written.
    pub fn query(&self) -> &str {
        match self {
            QueryError::Syntax { query, .. } | QueryError::Unsupported { query, .. } => query,
        }
    }
}

/// 1-based character column of byte offset `at`.
pub(crate) fn column_of(query: &str, at: usize) -> usize {
    query[..at.min(query.len())].chars().count() + 1
}

/// Renders the query line holding the column, a caret under the column, then the message.
struct Pointed<'a> {
    query: &'a str,
    column: usize,
    message: &'a str,
}

impl fmt::Display for Pointed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A query from a YAML block scalar may span lines: show only the line with the error.
        let mut line_start = 0; // in characters
        let mut line = self.query;
        let mut seen = 0;
        for l in self.query.split('\n') {
            let len = l.chars().count();
            line = l;
            line_start = seen;
            if self.column <= seen + len + 1 {
                break;
            }
            seen += len + 1;
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        let offset = self.column.saturating_sub(1 + line_start);
        // Reuse tabs so the caret lines up however wide the terminal renders them.
        let pad: String = line
            .chars()
            .chain(std::iter::repeat(' '))
            .take(offset)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "{line}\n{pad}^\n{}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_query_caret_and_message() {
        let e = QueryError::syntax("a AND", 5, "expected a term, phrase or `(` after AND");
        assert_eq!(e.column(), 6);
        assert_eq!(
            e.to_string(),
            "a AND\n     ^\nexpected a term, phrase or `(` after AND"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let q = "支付 AND";
        let e = QueryError::syntax(q, q.len(), "x");
        assert_eq!(e.column(), 7);
        assert_eq!(e.message(), "x");
        assert_eq!(e.query(), q);
    }

    #[test]
    fn multi_line_queries_point_into_their_line() {
        let q = "a AND\n\tb OR";
        let e = QueryError::syntax(q, q.len(), "m");
        assert_eq!(e.column(), 12);
        assert_eq!(e.to_string(), "\tb OR\n\t    ^\nm");
    }
}
