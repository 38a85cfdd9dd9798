//! Finding and reading ElastAlert rule files: directories searched recursively as
//! ElastAlert does (`*.yaml`, `*.yml`), `import:` merged in (the importing file's keys win),
//! every key kept locatable for notes.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{Note, NoteKind};
use crate::config::SpanTree;

/// At most this many files deep through `import:` (a cycle is an error before that).
const MAX_IMPORT_DEPTH: usize = 10;

/// A rule file read, imports merged.
pub struct Document {
    pub path: PathBuf,
    pub value: Map<String, Value>,
    spans: SpanTree,
}

/// Why a file could not be read, with its place when the YAML reader gave one.
pub struct ReadError {
    location: Option<(usize, usize)>,
    reason: String,
}

impl ReadError {
    pub fn into_note(self) -> Note {
        Note {
            location: self.location,
            key: "(file)".into(),
            reason: self.reason,
            kind: NoteKind::NotConverted,
        }
    }

    pub fn reason_at(&self, path: &Path) -> String {
        match self.location {
            Some((l, c)) => format!("{}:{l}:{c}: {}", path.display(), self.reason),
            None => format!("{}: {}", path.display(), self.reason),
        }
    }
}

/// The rule files among `inputs`, sorted, each once.
pub fn rule_files(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        let meta =
            std::fs::metadata(input).map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
        if meta.is_dir() {
            walk(input, &mut files)?;
        } else {
            files.push(input.clone());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, files)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            files.push(path);
        }
    }
    Ok(())
}

/// Reads `path` and merges what it imports.
pub fn load(path: &Path) -> Result<Document, ReadError> {
    let text = read_text(path)?;
    let mut value = parse(&text)?;
    let base_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut seen = vec![path.canonicalize().unwrap_or_else(|_| path.to_path_buf())];
    merge_imports(&mut value, &base_dir, &mut seen)?;
    Ok(Document {
        path: path.to_path_buf(),
        value,
        spans: SpanTree::parse(&text),
    })
}

impl Document {
    /// `note` with the line and column of its key in this file, when it is written here
    /// (keys from an imported file, or inside odd field names, go unlocated).
    pub fn locate(&self, mut note: Note) -> Note {
        if note.location.is_some() {
            return note;
        }
        let mut path = note.key.as_str();
        loop {
            if let Some(l) = self
                .spans
                .key_location(path)
                .or_else(|| self.spans.find(path).map(|f| f.location))
            {
                note.location = Some((l.line() as usize, l.column() as usize));
                break;
            }
            match path.rsplit_once('.') {
                Some((parent, _)) => path = parent,
                None => break,
            }
        }
        note
    }
}

fn read_text(path: &Path) -> Result<String, ReadError> {
    std::fs::read_to_string(path).map_err(|e| ReadError {
        location: None,
        reason: format!("cannot read: {e}"),
    })
}

fn parse(text: &str) -> Result<Map<String, Value>, ReadError> {
    match serde_saphyr::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Err(ReadError {
            location: None,
            reason: "the file is empty".into(),
        }),
        Ok(_) => Err(ReadError {
            location: Some((1, 1)),
            reason: "expected a map of rule options".into(),
        }),
        Err(e) => {
            let location = e
                .location()
                .map(|l| (l.line() as usize, l.column() as usize));
            let reason = e.without_snippet().to_string();
            Err(ReadError {
                location,
                reason: format!("not valid YAML: {}", reason.lines().next().unwrap_or("")),
            })
        }
    }
}

/// ElastAlert resolves `import:` (a path or a list of paths) against the importing rule's
/// folder; keys of the rule win over imported ones, later imports over earlier.
fn merge_imports(
    rule: &mut Map<String, Value>,
    base_dir: &Path,
    seen: &mut Vec<PathBuf>,
) -> Result<(), ReadError> {
    let Some(imports) = rule.remove("import") else {
        return Ok(());
    };
    let paths: Vec<String> = match imports {
        Value::String(s) => vec![s],
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                other => Err(ReadError {
                    location: None,
                    reason: format!(
                        "`import` entries are paths, found `{}`",
                        super::short(&other)
                    ),
                }),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(ReadError {
                location: None,
                reason: format!(
                    "`import` is a path or a list of paths, found `{}`",
                    super::short(&other)
                ),
            })
        }
    };
    let mut merged = Map::new();
    for p in paths {
        let path = base_dir.join(&p);
        let canonical = path.canonicalize().map_err(|e| ReadError {
            location: None,
            reason: format!("`import: {p}`: {e}"),
        })?;
        if seen.contains(&canonical) {
            return Err(ReadError {
                location: None,
                reason: format!("`import: {p}` imports itself (a cycle)"),
            });
        }
        if seen.len() > MAX_IMPORT_DEPTH {
            return Err(ReadError {
                location: None,
                reason: format!("`import` nests deeper than {MAX_IMPORT_DEPTH} files"),
            });
        }
        let text = read_text(&path).map_err(|e| ReadError {
            location: None,
            reason: format!("`import: {p}`: {}", e.reason),
        })?;
        let mut imported = parse(&text).map_err(|e| ReadError {
            location: None,
            reason: format!("`import: {p}`: {}", e.reason),
        })?;
        seen.push(canonical);
        merge_imports(&mut imported, base_dir, seen)?;
        seen.pop();
        merged.extend(imported);
    }
    merged.extend(std::mem::take(rule));
    *rule = merged;
    Ok(())
}
