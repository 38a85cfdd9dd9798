//! Loading `klaxon.yaml` and every rule file it points at, reporting all problems at once.
//!
//! Paths in klaxon.yaml (`rules`, `state_dir`) are relative to the directory of the
//! config file; they are stored back resolved against that directory (so they are
//! relative to the current directory when the config path was given relative).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::diagnostic::{Diagnostic, Diagnostics, Level};
use super::env::{Env, ProcessEnv};
use super::query_map::{locate, QueryMap};
use super::rule::RuleConfig;
use super::source::SourceFile;
use super::suggest::unknown;
use super::validate::{check_rule, Problem, RuleSpans};
use super::GlobalConfig;

/// klaxon.yaml and its rules, validated together.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The klaxon.yaml that was loaded.
    pub path: PathBuf,
    /// With `rules` and `state_dir` resolved against the config file's directory.
    pub global: GlobalConfig,
    /// In file order (sorted by path).
    pub rules: Vec<LoadedRule>,
    /// Problems that do not stop Klaxon (e.g. no rules at all).
    pub warnings: Diagnostics,
}

/// One rule file, with where its query sits (to report query syntax errors in place).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedRule {
    pub path: PathBuf,
    pub config: RuleConfig,
    /// 1-based line and column of the query's first character (after any opening quote).
    pub query_line: usize,
    pub query_column: usize,
    /// Position of every query character; see [`super::at_query`].
    pub query_map: QueryMap,
}

/// Loads `path` with `${VAR}` values from the process environment.
pub fn load(path: &Path) -> Result<LoadedConfig, Diagnostics> {
    load_with_env(path, &ProcessEnv)
}

/// Loads `path` with `${VAR}` values from `env`.
pub fn load_with_env(path: &Path, env: &dyn Env) -> Result<LoadedConfig, Diagnostics> {
    let file = SourceFile::read(path, env)?;
    let mut global: GlobalConfig = file.parse().map_err(Diagnostics::from)?;
    let spans: GlobalSpans = file.parse().unwrap_or_default();
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut diags = Vec::new();
    let at_rules = |level, p: Problem| match &spans.rules {
        Some(s) => file.at(level, s, p.to_string()),
        None => file.diag(level, 1, 1, p.to_string()),
    };

    let rule_paths = match resolve_rules(&base, &global.rules) {
        Ok(paths) => {
            if paths.is_empty() {
                let p = Problem::NoRules(global.rules.clone());
                diags.push(at_rules(Level::Warning, p));
            }
            paths
        }
        Err(message) => {
            diags.push(at_rules(Level::Error, Problem::Rules(message)));
            Vec::new()
        }
    };
    global.rules = base.join(&global.rules).to_string_lossy().into_owned();
    global.state_dir = base.join(&global.state_dir);
    for (name, source) in global.sources.iter_mut() {
        let problem = source.validate_and_resolve(&base).err();
        if let Some(message) = problem {
            let message = format!("source `{name}`: {message}");
            diags.push(match spans.sources.as_ref().and_then(|s| s.get(name)) {
                Some(span) => file.at(Level::Error, span, message),
                None => file.diag(Level::Error, 1, 1, message),
            });
        }
    }

    let mut rules = Vec::new();
    // Rule name → where it was first defined, for the uniqueness check.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for rule_path in rule_paths {
        let (rule, file, spans) = match read_rule(&rule_path, env, &mut diags) {
            Ok(parts) => parts,
            Err(errors) => {
                diags.extend(errors);
                continue;
            }
        };
        cross_check(&global, &rule, &file, &spans, &mut names, &mut diags);
        rules.push(rule);
    }

    let diags = Diagnostics::from(diags);
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(LoadedConfig {
        path: path.to_path_buf(),
        global,
        rules,
        warnings: diags,
    })
}

/// Loads one rule file on its own (for `klaxon test RULE.yaml`): no checks against
/// klaxon.yaml. Warnings are dropped; use [`load_rule_file_with_env`] to see them.
pub fn load_rule_file(path: &Path) -> Result<LoadedRule, Diagnostics> {
    load_rule_file_with_env(path, &ProcessEnv).map(|(rule, _)| rule)
}

/// Like [`load_rule_file`] with `${VAR}` values from `env`; also returns the warnings.
pub fn load_rule_file_with_env(
    path: &Path,
    env: &dyn Env,
) -> Result<(LoadedRule, Diagnostics), Diagnostics> {
    let mut diags = Vec::new();
    let (rule, _, _) = read_rule(path, env, &mut diags)?;
    let diags = Diagnostics::from(diags);
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok((rule, diags))
    }
}

/// Locations in klaxon.yaml that loading points at.
#[derive(Debug, Default, Deserialize)]
struct GlobalSpans {
    rules: Option<Spanned<String>>,
    /// Where each source's settings start, for problems found by its own `validate`.
    sources: Option<BTreeMap<String, Spanned<IgnoredAny>>>,
    #[allow(dead_code)] // only parsed so a bad `state_dir` is not a second error here
    state_dir: Option<Spanned<IgnoredAny>>,
}

/// Parses and checks one rule file. Errors that prevent knowing the rule are returned;
/// errors and warnings about a parsed rule are pushed to `diags`.
fn read_rule(
    path: &Path,
    env: &dyn Env,
    diags: &mut Vec<Diagnostic>,
) -> Result<(LoadedRule, SourceFile, RuleSpans), Diagnostics> {
    let file = SourceFile::read(path, env)?;
    if file.is_blank() {
        let d = file.at_original(Level::Error, 1, 1, Problem::EmptyRuleFile.to_string());
        return Err(d.into());
    }
    let config: RuleConfig = file.parse().map_err(Diagnostics::from)?;
    let spans: RuleSpans = file.parse().unwrap_or_default();
    check_rule(&file, &config, &spans, diags);
    let (query_line, query_column, query_map) = match &spans.query {
        Some(q) => locate(&file, q),
        None => (1, 1, QueryMap::default()),
    };
    let rule = LoadedRule {
        path: path.to_path_buf(),
        config,
        query_line,
        query_column,
        query_map,
    };
    Ok((rule, file, spans))
}

/// Checks a rule against klaxon.yaml and the rules loaded before it.
fn cross_check(
    global: &GlobalConfig,
    rule: &LoadedRule,
    file: &SourceFile,
    spans: &RuleSpans,
    names: &mut BTreeMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) {
    let at = |span: &Option<Spanned<String>>, p: Problem| match span {
        Some(s) => file.at(Level::Error, s, p.to_string()),
        None => file.diag(Level::Error, 1, 1, p.to_string()),
    };
    let cfg = &rule.config;
    let here = match &spans.name {
        Some(s) => format!(
            "{}:{}:{}",
            file.path.display(),
            s.referenced.line(),
            file.interp
                .original_column(s.referenced.line() as usize, s.referenced.column() as usize)
        ),
        None => file.path.display().to_string(),
    };
    if let Some(other) = names.get(&cfg.name) {
        let p = Problem::DuplicateName {
            name: cfg.name.clone(),
            other: other.clone(),
        };
        diags.push(at(&spans.name, p));
    } else {
        names.insert(cfg.name.clone(), here);
    }
    if !global.sources.contains_key(&cfg.source) {
        let p = unknown("source", &cfg.source, global.sources.keys());
        diags.push(at(&spans.source, p));
    }
    let notify_spans = spans.notify.as_ref().map_or(&[][..], |n| &n.value[..]);
    for (i, channel) in cfg.notify.iter().enumerate() {
        if !global.channels.contains_key(channel) {
            let p = unknown("channel", channel, global.channels.keys());
            diags.push(at(&notify_spans.get(i).cloned(), p));
        }
    }
}

/// The rule files named by `rules:`: a directory (its `*.yaml`/`*.yml`, sorted), a glob,
/// or a single file, relative to `base`.
fn resolve_rules(base: &Path, spec: &str) -> Result<Vec<PathBuf>, String> {
    let joined = base.join(spec);
    let mut paths = if joined.is_dir() {
        let entries = std::fs::read_dir(&joined)
            .map_err(|e| format!("cannot list rules directory `{}`: {e}", joined.display()))?;
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_rule_file(p))
            .collect::<Vec<_>>()
    } else if spec.contains(['*', '?', '[']) {
        // Escape the base directory so only `spec` is read as a pattern.
        let pattern = if Path::new(spec).is_absolute() || base.as_os_str().is_empty() {
            spec.to_string()
        } else {
            let base = glob::Pattern::escape(&base.to_string_lossy());
            format!("{base}/{spec}")
        };
        glob::glob(&pattern)
            .map_err(|e| format!("invalid glob `{spec}` in `rules`: {e}"))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect()
    } else if joined.is_file() {
        vec![joined]
    } else {
        return Err(format!(
            "`rules: {spec}` is neither a directory, a file nor a glob ({} does not exist)",
            joined.display()
        ));
    };
    paths.sort();
    Ok(paths)
}

/// `*.yaml`/`*.yml` files, skipping hidden ones (editor swap and backup files).
fn is_rule_file(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let visible = name.is_some_and(|n| !n.starts_with('.'));
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    visible && yaml && path.is_file()
}
