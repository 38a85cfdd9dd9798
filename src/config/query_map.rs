//! Where each character of a query value sits in its rule file, so an error the query
//! parser reports at "column 17 of the query" is shown at `rules/x.yaml:4:24`.

use std::collections::BTreeMap;

use serde_saphyr::Location;

use super::source::SourceFile;

/// Positions of a query's characters in the original file. `Default` (empty) means "a
/// single-line value starting at `query_line:query_column`".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryMap {
    /// 1-based (line, column) in the original file of each character of the query.
    pub positions: Vec<(usize, usize)>,
    /// Original text (before `${VAR}` substitution) of the lines the query spans.
    pub lines: BTreeMap<usize, String>,
    /// `(NAME, value)` of environment values substituted into the query, for redaction.
    pub secrets: Vec<(String, String)>,
}

/// Locates a query value (`value`, parsed from the text at `loc`); returns its first
/// character's line and column, and the map.
pub(crate) fn locate(file: &SourceFile, value: &str, loc: Location) -> (usize, usize, QueryMap) {
    let (line, col) = (loc.line() as usize, loc.column() as usize);
    let text = file.text();
    let span = loc.span();
    let raw = span
        .byte_offset()
        .zip(span.byte_len())
        .and_then(|(start, len)| text.get(start as usize..(start + len) as usize));
    let mut positions = raw.map_or_else(Vec::new, |raw| align(value, raw, line, col));
    for p in &mut positions {
        p.1 = file.interp.original_column(p.0, p.1);
    }
    let first = positions
        .first()
        .copied()
        .unwrap_or((line, file.interp.original_column(line, col)));
    let last_line = positions.last().map_or(first.0, |p| p.0);
    let lines = (first.0..=last_line)
        .filter_map(|l| Some((l, file.original_line(l)?)))
        .collect();
    let secrets = file
        .interp
        .replacements
        .iter()
        .filter(|r| (first.0..=last_line).contains(&r.line))
        .filter_map(|r| r.secret.clone())
        .collect();
    let map = QueryMap {
        positions,
        lines,
        secrets,
    };
    (first.0, first.1, map)
}

/// Aligns the parsed value with its raw source text (quotes, escapes, folded line breaks
/// and indentation included), greedily: each value character is matched with the next
/// source character equal to it, any whitespace matching any whitespace.
fn align(value: &str, raw: &str, line: usize, col: usize) -> Vec<(usize, usize)> {
    let mut src = raw.chars().peekable();
    let (mut line, mut col) = (line, col);
    if matches!(src.peek(), Some('\'' | '"')) {
        src.next();
        col += 1;
    }
    let mut out = Vec::with_capacity(value.len());
    for c in value.chars() {
        loop {
            let Some(s) = src.next() else {
                return out;
            };
            let here = (line, col);
            if s == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
            if s == c || (c.is_whitespace() && s.is_whitespace()) {
                out.push(here);
                break;
            }
        }
    }
    out
}

impl QueryMap {
    /// The file position of the query's `column`th character (1-based); past the end (e.g.
    /// "unexpected end of query") just after the last character. `start` is where the
    /// value begins, for a map with no positions.
    pub fn position(&self, column: usize, start: (usize, usize)) -> (usize, usize) {
        let idx = column.saturating_sub(1);
        match (self.positions.get(idx), self.positions.last()) {
            (Some(&p), _) => p,
            (None, Some(&(l, c))) => (l, c + 1 + idx - self.positions.len()),
            (None, None) => (start.0, start.1 + idx),
        }
    }

    /// `message` with the values of environment variables substituted into the query put
    /// back as `${NAME}`.
    pub fn redact(&self, message: String) -> String {
        let mut secrets: Vec<_> = self.secrets.iter().filter(|(_, v)| !v.is_empty()).collect();
        secrets.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        secrets.iter().fold(message, |m, (name, value)| {
            m.replace(value.as_str(), &format!("${{{name}}}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_saphyr::Spanned;
    use std::path::Path;

    #[derive(serde::Deserialize)]
    struct Q {
        query: Spanned<String>,
    }

    /// The file position of every query character, as (line, column).
    fn positions(yaml: &str) -> (String, Vec<(usize, usize)>) {
        let env = |n: &str| (n == "V").then(|| "vv".to_string());
        let file = SourceFile::from_text(Path::new("r.yaml"), yaml.into(), &env).unwrap();
        let q: Q = file.parse().unwrap();
        let (_, _, map) = locate(&file, &q.query.value, q.query.referenced);
        (q.query.value, map.positions)
    }

    #[test]
    fn maps_plain_quoted_and_escaped_values() {
        let (v, p) = positions("x: 1\nquery: a:b\n");
        assert_eq!(v, "a:b");
        assert_eq!(p, vec![(2, 8), (2, 9), (2, 10)]);
        let (_, p) = positions("query: 'it''s'\n");
        assert_eq!(p, vec![(1, 9), (1, 10), (1, 11), (1, 13)]);
        let (v, p) = positions("query: \"a\\\"b\"\n");
        assert_eq!(v, "a\"b");
        assert_eq!(p, vec![(1, 9), (1, 11), (1, 12)]);
    }

    #[test]
    fn maps_block_scalars_and_substitutions() {
        let (v, p) = positions("query: >\n  ab\n  cd\n");
        assert_eq!(v, "ab cd\n");
        assert_eq!(&p[..5], &[(2, 3), (2, 4), (2, 5), (3, 3), (3, 4)]);
        // `${V}` (4 chars) became `vv` (2): the `x` after it is back at column 12.
        let (v, p) = positions("query: ${V}x\n");
        assert_eq!(v, "vvx");
        assert_eq!(p, vec![(1, 8), (1, 8), (1, 12)]);
    }
}
