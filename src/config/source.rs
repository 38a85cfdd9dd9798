//! One config file being loaded: its original text, the `${VAR}`-substituted text that
//! YAML sees, and turning positions in the latter into diagnostics about the former.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_saphyr::{DefaultMessageFormatter, Location, MessageFormatter, Spanned};

use super::diagnostic::{Diagnostic, Diagnostics, Level};
use super::env::{interpolate, Env, Interpolated};

/// The largest config or rule file read.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

pub(crate) struct SourceFile {
    pub path: PathBuf,
    pub original: String,
    pub interp: Interpolated,
}

impl SourceFile {
    /// Reads and substitutes `path`; every problem is reported at its place.
    pub fn read(path: &Path, env: &dyn Env) -> Result<SourceFile, Diagnostics> {
        let refuse = |message: String| Diagnostics::from(Diagnostic::error(path, 0, 0, message));
        let file =
            std::fs::File::open(path).map_err(|e| refuse(format!("cannot read file: {e}")))?;
        // Read one byte past the cap: a bigger file (or a device that never ends) is
        // refused without being read whole.
        let mut bytes = Vec::new();
        std::io::Read::take(file, MAX_CONFIG_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| refuse(format!("cannot read file: {e}")))?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(refuse(format!(
                "file is larger than {} KiB; a config or rule file is at most that",
                MAX_CONFIG_BYTES / 1024
            )));
        }
        let original = String::from_utf8(bytes)
            .map_err(|_| refuse("cannot read file: it is not UTF-8 text".into()))?;
        Self::from_text(path, original, env)
    }

    pub fn from_text(path: &Path, original: String, env: &dyn Env) -> Result<Self, Diagnostics> {
        match interpolate(&original, env) {
            Ok(interp) => Ok(SourceFile {
                path: path.to_path_buf(),
                original,
                interp,
            }),
            Err(problems) => {
                let file = SourceFile {
                    path: path.to_path_buf(),
                    original,
                    interp: Interpolated::default(),
                };
                let diags = problems
                    .into_iter()
                    .map(|p| file.at_original(Level::Error, p.line, p.column, p.message))
                    .collect::<Vec<_>>();
                Err(diags.into())
            }
        }
    }

    /// The text YAML parses.
    pub fn text(&self) -> &str {
        &self.interp.text
    }

    /// True when the file holds no YAML content (only blanks, comments, `---`).
    pub fn is_blank(&self) -> bool {
        self.original.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
        })
    }

    pub fn original_line(&self, line: usize) -> Option<String> {
        let text = self.original.lines().nth(line.checked_sub(1)?)?;
        Some(text.trim_end_matches('\r').to_string())
    }

    /// A diagnostic at a line/column of the substituted text.
    pub fn diag(&self, level: Level, line: usize, column: usize, message: String) -> Diagnostic {
        let column = if line > 0 && column > 0 {
            self.interp.original_column(line, column)
        } else {
            column
        };
        self.at_original(level, line, column, message)
    }

    /// A diagnostic at a line/column of the original text, with its message redacted.
    pub fn at_original(
        &self,
        level: Level,
        line: usize,
        column: usize,
        message: String,
    ) -> Diagnostic {
        let message = self.interp.redact(line, &message);
        Diagnostic::new(level, &self.path, line, column, message)
            .with_source_line(self.original_line(line))
    }

    /// A diagnostic pointing at a spanned value.
    pub fn at<T>(&self, level: Level, value: &Spanned<T>, message: String) -> Diagnostic {
        self.at_location(level, value.referenced, message)
    }

    /// A diagnostic at a location in the substituted text.
    pub fn at_location(&self, level: Level, loc: Location, message: String) -> Diagnostic {
        self.diag(level, loc.line() as usize, loc.column() as usize, message)
    }

    /// Deserializes the substituted text, turning a YAML/serde error into a diagnostic.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Diagnostic> {
        serde_saphyr::from_str::<T>(self.text()).map_err(|e| self.yaml_error(&e))
    }

    pub fn yaml_error(&self, err: &serde_saphyr::Error) -> Diagnostic {
        let inner = err.without_snippet();
        let message = tidy_message(&DefaultMessageFormatter.format_message(inner));
        let (line, column) = err
            .location()
            .map_or((0, 0), |l| (l.line() as usize, l.column() as usize));
        self.diag(Level::Error, line, column, message)
    }
}

/// Makes serde-saphyr's wording fit an operator's screen: drops advice aimed at the
/// programmer and names numeric types the way a config author thinks of them.
fn tidy_message(message: &str) -> String {
    let message = message
        .trim_end_matches(", set DuplicateKeyPolicy in Options if acceptable")
        .to_string();
    match message.as_str() {
        "invalid u8" | "invalid u16" | "invalid u32" | "invalid u64" | "invalid usize" => {
            "invalid value: expected a whole number (0 or more)".into()
        }
        "invalid i8" | "invalid i16" | "invalid i32" | "invalid i64" | "invalid isize" => {
            "invalid value: expected a whole number".into()
        }
        "invalid f32" | "invalid f64" => "invalid value: expected a number".into(),
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // fields exist to be rejected or accepted by serde
    struct T {
        name: String,
        threshold: Option<u64>,
        mode: Option<Mode>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Fast,
    }

    fn file(text: &str) -> SourceFile {
        let env = BTreeMap::from([("N".to_string(), "abcdefgh".to_string())]);
        SourceFile::from_text(Path::new("r.yaml"), text.to_string(), &env).unwrap()
    }

    #[test]
    fn yaml_errors_keep_location_and_expected_list() {
        let d = file("name: a\nthresold: 5\n").parse::<T>().unwrap_err();
        assert_eq!((d.line, d.column), (2, 1));
        assert!(d.message.contains("expected one of name, threshold"), "{d}");
        assert_eq!(d.source_line.as_deref(), Some("thresold: 5"));
        let d = file("name: a\nname: b\n").parse::<T>().unwrap_err();
        assert_eq!(d.message, "duplicate mapping key: name");
    }

    #[test]
    fn errors_on_substituted_lines_are_redacted_and_point_at_the_original() {
        let d = file("name: a\nmode: ${N}\n").parse::<T>().unwrap_err();
        assert_eq!((d.line, d.column), (2, 7));
        assert!(d.message.contains("unknown variant `${N}`"), "{d}");
        assert!(!d.to_string().contains("abcdefgh"), "{d}");
        assert_eq!(d.source_line.as_deref(), Some("mode: ${N}"));
        // A column after a substitution maps back past the `${N}` as written.
        let d = file("name: a\nmode: [${N}, x]\n").parse::<T>().unwrap_err();
        assert_eq!(d.line, 2);
    }
}
