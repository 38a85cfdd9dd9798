//! `klaxon import elastalert`: ElastAlert 2 rule files into Klaxon rule files, plus the
//! sources, channels and field types they need, as a klaxon.yaml to merge.
//!
//! Reading (`read`) resolves `import:` and locates every key; `rule` maps one rule's type
//! and options, `filter` its query, `alerters` its alerts into channels; `registry` gathers
//! what the rules share (sources, channels, secrets as `${VAR}`, field types) and writes
//! klaxon.yaml. Anything that cannot be carried over is reported per file with the reason —
//! a converted rule never silently means something else.

mod alerters;
mod duration;
mod filter;
mod options;
mod read;
mod registry;
mod rule;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::yaml_out::{self, Yaml};
pub use read::rule_files;
use registry::Registry;

/// What the command was given besides rule files.
#[derive(Debug, Default, Clone)]
pub struct ImportOptions {
    /// ElastAlert's own config.yaml (`es_host`, `es_port`, `use_ssl`, `buffer_time`…),
    /// the defaults every rule inherits.
    pub global_config: Option<PathBuf>,
    /// How klaxon.yaml will name the rules directory (`rules:`).
    pub rules_dir: String,
}

/// Everything one run converted.
#[derive(Debug, Default)]
pub struct Import {
    pub files: Vec<FileReport>,
    /// A klaxon.yaml with the sources, channels and field types the rules use.
    pub klaxon_yaml: String,
}

/// One ElastAlert file: the Klaxon rule files it became and what could not come along.
#[derive(Debug, Default)]
pub struct FileReport {
    pub path: PathBuf,
    pub rules: Vec<OutputRule>,
    /// Options dropped or changed, each with its reason.
    pub notes: Vec<Note>,
    /// Why the file produced no rule at all.
    pub error: Option<Note>,
}

/// A Klaxon rule file to write.
#[derive(Debug, Clone)]
pub struct OutputRule {
    pub file_name: String,
    pub name: String,
    pub text: String,
}

/// An option that did not convert as written: where it is and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// `file:line:col` where the option is written, when known.
    pub location: Option<(usize, usize)>,
    /// The option's path in the ElastAlert file (`filter.1.geo_distance`).
    pub key: String,
    pub reason: String,
    pub kind: NoteKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// Behaviour the ElastAlert rule had that the Klaxon rule does not.
    NotConverted,
    /// An option Klaxon does not need (it is how ElastAlert queried, not what it meant).
    NotNeeded,
}

impl FileReport {
    /// `file:line:col: not converted: `key`: reason` lines, for the terminal.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let at = |n: &Note| match n.location {
            Some((l, c)) => format!("{}:{l}:{c}", self.path.display()),
            None => self.path.display().to_string(),
        };
        if let Some(e) = &self.error {
            out.push(format!("{}: error: `{}`: {}", at(e), e.key, e.reason));
        }
        let mut lost: Vec<&Note> = self
            .notes
            .iter()
            .filter(|n| n.kind == NoteKind::NotConverted)
            .collect();
        lost.sort_by_key(|n| n.location.unwrap_or((usize::MAX, 0)));
        for n in lost {
            out.push(format!(
                "{}: not converted: `{}`: {}",
                at(n),
                n.key,
                n.reason
            ));
        }
        out
    }
}

/// Converts every rule file among `inputs` (files, or directories searched recursively
/// for `*.yaml`/`*.yml`; files only `import:`ed by others are not rules).
pub fn import(inputs: &[PathBuf], options: &ImportOptions) -> anyhow::Result<Import> {
    let global = match &options.global_config {
        Some(path) => match read::load(path) {
            Ok(doc) => doc.value,
            Err(e) => anyhow::bail!("{}", e.reason_at(path)),
        },
        None => serde_json::Map::new(),
    };
    let files = rule_files(inputs)?;
    let mut registry = Registry::new(options.global_config.is_some());
    let mut reports = Vec::new();
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in files {
        let mut report = FileReport {
            path: path.clone(),
            ..Default::default()
        };
        match read::load(&path) {
            Err(e) => report.error = Some(e.into_note()),
            Ok(doc) => {
                let before = registry.clone();
                let converted = rule::convert(&doc, &global, &mut registry);
                report.notes = converted.notes.into_iter().map(|n| doc.locate(n)).collect();
                report.error = converted.error.map(|n| doc.locate(n));
                for out in converted.rules {
                    if let Some(first) = names.get(&out.name) {
                        report.error = Some(doc.locate(Note {
                            location: None,
                            key: "name".into(),
                            reason: format!(
                                "rule `{}` is already converted from {}; rule names must be unique",
                                out.name,
                                first.display()
                            ),
                            kind: NoteKind::NotConverted,
                        }));
                        report.rules.clear();
                        break;
                    }
                    report.rules.push(out);
                }
                for r in &report.rules {
                    names.insert(r.name.clone(), path.clone());
                }
                if !report.rules.is_empty() {
                    registry.file_converted();
                }
                if report.error.is_some() {
                    registry = before;
                }
            }
        }
        reports.push(report);
    }
    // Field types are decided once all rules are read; a rule whose query the chosen types
    // would break keeps its fields undeclared instead.
    let failed = registry.settle_fields();
    for report in &mut reports {
        report.rules.retain(|r| {
            if let Some(reason) = failed.get(&r.name) {
                report.error.get_or_insert(Note {
                    location: None,
                    key: "filter".into(),
                    reason: reason.clone(),
                    kind: NoteKind::NotConverted,
                });
                false
            } else {
                true
            }
        });
    }
    Ok(Import {
        files: reports,
        klaxon_yaml: registry.klaxon_yaml(&options.rules_dir),
    })
}

/// A value in a message: short, on one line.
fn short(value: &Value) -> String {
    crate::types::clip(&crate::types::flat(&value.to_string()), 60).into_owned()
}

/// The header and body of one converted rule file.
fn rule_text(source: &Path, notes: &[Note], entries: &[(String, Yaml)]) -> String {
    let mut out = String::new();
    let file = source
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    yaml_out::comment(
        &mut out,
        &format!("Converted from the ElastAlert 2 rule {file} by `klaxon import elastalert`."),
    );
    for (kind, title) in [
        (
            NoteKind::NotConverted,
            "Not converted (see docs/MIGRATING.md):",
        ),
        (NoteKind::NotNeeded, "Dropped, not needed in Klaxon:"),
    ] {
        let mut listed: Vec<&Note> = notes.iter().filter(|n| n.kind == kind).collect();
        listed.sort_by_key(|n| n.location.unwrap_or((usize::MAX, 0)));
        if listed.is_empty() {
            continue;
        }
        yaml_out::comment(&mut out, title);
        for n in listed {
            let line = n
                .location
                .map(|(l, _)| format!(" (line {l})"))
                .unwrap_or_default();
            let reason = n.reason.trim_start_matches("not needed: ");
            yaml_out::comment(&mut out, &format!("  {}{line}: {reason}", n.key));
        }
    }
    yaml_out::write_map(&mut out, entries, 0);
    out
}
