//! Configuration problems with a place: `rules/order-errors.yaml:7:1: error: ...`.
//!
//! Every problem found while loading is collected (not returned at the first one), so an
//! operator fixing a config directory sees all of it in one `klaxon check` run.

use std::fmt;
use std::path::PathBuf;

/// How bad a problem is: errors refuse the config, warnings are printed and tolerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem at one place. `line`/`column` are 1-based characters; 0 means unknown
/// (for example a file that could not be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub severity: Level,
    /// The original text of `line` (before `${VAR}` substitution, so it holds no secrets),
    /// shown under the headline with a caret.
    pub source_line: Option<String>,
}

impl Diagnostic {
    pub fn new(
        severity: Level,
        file: impl Into<PathBuf>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            line,
            column,
            message: message.into(),
            severity,
            source_line: None,
        }
    }

    pub fn error(
        file: impl Into<PathBuf>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Level::Error, file, line, column, message)
    }

    pub fn warning(
        file: impl Into<PathBuf>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Level::Warning, file, line, column, message)
    }

    pub fn with_source_line(mut self, line: Option<String>) -> Self {
        self.source_line = line;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Level::Error
    }

    /// The headline alone, without the source excerpt: `file:7:1: error: message`.
    pub fn headline(&self) -> String {
        let file = self.file.display();
        let (sev, msg) = (self.severity, &self.message);
        match (self.line, self.column) {
            (0, _) => format!("{file}: {sev}: {msg}"),
            (line, 0) => format!("{file}:{line}: {sev}: {msg}"),
            (line, col) => format!("{file}:{line}:{col}: {sev}: {msg}"),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        if let (Some(text), true) = (&self.source_line, self.line > 0) {
            let num = self.line.to_string();
            let pad = " ".repeat(num.len());
            // Tabs keep their width in the caret line so the caret stays under its column.
            let lead: String = text
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n{pad} |\n{num} | {text}")?;
            if self.column > 0 {
                write!(f, "\n{pad} | {lead}^")?;
            }
        }
        Ok(())
    }
}

/// Everything found while loading, in file order. Used as the error type of loading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Self {
        Diagnostics(Vec::new())
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.0
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(v: Vec<Diagnostic>) -> Self {
        Diagnostics(v)
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_severity_and_caret() {
        let d = Diagnostic::error("rules/a.yaml", 7, 3, "unknown field `x`")
            .with_source_line(Some("  x: 5".into()));
        assert_eq!(
            d.to_string(),
            "rules/a.yaml:7:3: error: unknown field `x`\n  |\n7 |   x: 5\n  |   ^"
        );
        let d = Diagnostic::warning("k.yaml", 0, 0, "no rules");
        assert_eq!(d.to_string(), "k.yaml: warning: no rules");
    }

    #[test]
    fn has_errors_ignores_warnings() {
        let mut all = Diagnostics::new();
        all.push(Diagnostic::warning("a", 1, 1, "w"));
        assert!(!all.has_errors());
        all.push(Diagnostic::error("b", 2, 1, "e"));
        assert!(all.has_errors());
        assert_eq!(all.to_string(), "a:1:1: warning: w\nb:2:1: error: e");
    }
}
