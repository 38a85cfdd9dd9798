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
use super::problem::Problem;
use super::rule_file::{read_rule, LoadedRule};
use super::source::SourceFile;
use super::suggest::unknown;
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

/// Loads `path` with `${VAR}` values from the process environment.
pub fn load(path: &Path) -> Result<LoadedConfig, Diagnostics> {
    load_with_env(path, &ProcessEnv)
}

/// Loads `path` with `${VAR}` values from `env`.
pub fn load_with_env(path: &Path, env: &dyn Env) -> Result<LoadedConfig, Diagnostics> {
    refuse_errors(load_parts(path, env, true)?)
}

/// Loads klaxon.yaml alone (its sources, channels and settings), not the rule files it
/// names: `klaxon test` replays one rule file through its sources.
pub fn load_global(path: &Path) -> Result<LoadedConfig, Diagnostics> {
    refuse_errors(load_parts(path, &ProcessEnv, false)?)
}

/// For `klaxon check`: everything that loaded (the rules that parsed, even when others or
/// their cross-checks failed, so their own problems can be found too) and every problem
/// found loading. `None` when klaxon.yaml itself does not load.
pub fn load_for_check(path: &Path) -> (Option<LoadedConfig>, Diagnostics) {
    match load_parts(path, &ProcessEnv, true) {
        Ok(mut loaded) => {
            let problems = std::mem::take(&mut loaded.warnings);
            (Some(loaded), problems)
        }
        Err(problems) => (None, problems),
    }
}

/// A load with errors is refused; warnings stay with the config.
fn refuse_errors(loaded: LoadedConfig) -> Result<LoadedConfig, Diagnostics> {
    if loaded.warnings.has_errors() {
        Err(loaded.warnings)
    } else {
        Ok(loaded)
    }
}

/// Reads klaxon.yaml (and its rules when `with_rules`): `Err` only when klaxon.yaml does
/// not parse; every other problem, errors included, is in the result's `warnings`.
fn load_parts(path: &Path, env: &dyn Env, with_rules: bool) -> Result<LoadedConfig, Diagnostics> {
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
        Ok(_) if !with_rules => Vec::new(),
        Ok(paths) => {
            if paths.is_empty() {
                let p = Problem::NoRules(global.rules.clone());
                diags.push(at_rules(Level::Warning, p));
            }
            paths
        }
        Err(_) if !with_rules => Vec::new(),
        Err(message) => {
            diags.push(at_rules(Level::Error, Problem::Rules(message)));
            Vec::new()
        }
    };
    global.rules = base.join(&global.rules).to_string_lossy().into_owned();
    global.state_dir = base.join(&global.state_dir);
    for channel in global.channels.values_mut() {
        if let crate::notify::ChannelConfig::Command(command) = channel {
            command.resolve(&base);
        }
    }
    // Each source's keys, for problems that name one (at the key, else at the source).
    #[derive(serde::Deserialize, Default)]
    struct SourceKeys {
        sources: Option<BTreeMap<String, BTreeMap<String, Spanned<IgnoredAny>>>>,
    }
    let keys: SourceKeys = file.parse().unwrap_or_default();
    let key_of = |name: &str, key: &str| {
        keys.sources
            .as_ref()
            .and_then(|s| s.get(name))
            .and_then(|s| s.get(key))
    };
    for (name, source) in global.sources.iter_mut() {
        let problem = source.validate_and_resolve(&base).err();
        if let Some(message) = problem {
            // "`interval` must …", "`headers.Accept`: …": the key it names.
            let named = message
                .strip_prefix('`')
                .and_then(|m| m.split(['`', '.']).next())
                .and_then(|key| key_of(name, key));
            let message = format!("source `{name}`: {message}");
            diags.push(
                match (named, spans.sources.as_ref().and_then(|s| s.get(name))) {
                    (Some(span), _) | (None, Some(span)) => file.at(Level::Error, span, message),
                    (None, None) => file.diag(Level::Error, 1, 1, message),
                },
            );
        }
    }

    // Each channel is built as `run` builds it (nothing is sent): an invalid `from`
    // address or URL fails `check`, not the first alert.
    let clock: std::sync::Arc<dyn crate::clock::Clock> =
        std::sync::Arc::new(crate::clock::SystemClock);
    let refused = refuse_commands(&global, &spans, &file, &mut diags);
    for (name, channel) in &global.channels {
        if refused.contains(name) {
            continue;
        }
        if let Err(e) = crate::notify::build(name, channel, clock.clone()) {
            // The error names the channel already.
            let message = e.to_string();
            diags.push(match spans.channels.as_ref().and_then(|s| s.get(name)) {
                Some(span) => file.at(Level::Error, span, message),
                None => file.diag(Level::Error, 1, 1, message),
            });
        }
    }

    for (name, channel) in &global.channels {
        if let Some(fallback) = channel.delivery().fallback {
            let problem = if fallback == *name {
                Some(format!(
                    "channel `{name}`: `fallback` cannot be the channel itself"
                ))
            } else if !global.channels.contains_key(&fallback) {
                Some(unknown("channel", &fallback, global.channels.keys()).to_string())
            } else {
                None
            };
            if let Some(message) = problem {
                diags.push(match spans.channels.as_ref().and_then(|s| s.get(name)) {
                    Some(span) => file.at(Level::Error, span, message),
                    None => file.diag(Level::Error, 1, 1, message),
                });
            }
        }
    }

    check_lifecycle(&global, &spans, &file, &mut diags);
    check_server(&global, &file, &mut diags);
    // At the source's `include:` (its value), else at the source.
    for (name, source) in &global.sources {
        if let Some(message) = no_files(name, source) {
            let include = key_of(name, "include");
            diags.push(
                match (include, spans.sources.as_ref().and_then(|s| s.get(name))) {
                    (Some(span), _) | (None, Some(span)) => file.at(Level::Warning, span, message),
                    (None, None) => file.diag(Level::Warning, 1, 1, message),
                },
            );
        }
    }

    let mut rules = Vec::new();
    // Rule name → where it was first defined, for the uniqueness check.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for rule_path in rule_paths {
        match read_rule(&rule_path, env) {
            Ok(rule) => {
                cross_check(&global, &rule, &mut names, &mut diags);
                rules.push(rule);
            }
            Err(errors) => diags.extend(errors),
        }
    }

    let diags = Diagnostics::from(diags);
    Ok(LoadedConfig {
        path: path.to_path_buf(),
        global,
        rules,
        warnings: diags,
    })
}

/// Loads one rule file on its own (for `klaxon test RULE.yaml` without a klaxon.yaml): no
/// checks against klaxon.yaml.
pub fn load_rule_file(path: &Path) -> Result<LoadedRule, Diagnostics> {
    load_rule_file_with_env(path, &ProcessEnv)
}

/// Like [`load_rule_file`] with `${VAR}` values from `env`.
pub fn load_rule_file_with_env(path: &Path, env: &dyn Env) -> Result<LoadedRule, Diagnostics> {
    read_rule(path, env)
}

/// A file source whose `include` globs match no file now: Klaxon would wait for files
/// that may never come (a typo in a path looks exactly like a quiet system).
fn no_files(name: &str, source: &crate::source::SourceConfig) -> Option<String> {
    let crate::source::SourceConfig::File(file) = source else {
        return None;
    };
    let any = file.include.iter().any(|pattern| {
        glob::glob(pattern).is_ok_and(|mut paths| paths.any(|p| p.is_ok_and(|p| p.is_file())))
    });
    (!any).then(|| {
        format!(
            "source `{name}`: `include` matches no file now ({}); Klaxon starts reading files when they appear, but check the path",
            file.include.join(", ")
        )
    })
}

/// `type: command` channels while klaxon.yaml does not say `allow_commands: true`: an
/// error at each one's `type:`. Their names (they are not built: one clear problem each).
fn refuse_commands(
    global: &GlobalConfig,
    spans: &GlobalSpans,
    file: &SourceFile,
    diags: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let refused: Vec<String> = global
        .channels
        .iter()
        .filter(|(_, c)| matches!(c, crate::notify::ChannelConfig::Command(_)))
        .filter(|_| !global.allow_commands)
        .map(|(name, _)| name.clone())
        .collect();
    if refused.is_empty() {
        return refused;
    }
    #[derive(serde::Deserialize, Default)]
    struct Keys {
        channels: Option<BTreeMap<String, BTreeMap<String, Spanned<IgnoredAny>>>>,
    }
    let keys: Keys = file.parse().unwrap_or_default();
    for name in &refused {
        let message = format!(
            "channel `{name}`: `type: command` runs a program for every alert, which is off by default; add `allow_commands: true` at the top level of klaxon.yaml to allow it"
        );
        let at_type = keys
            .channels
            .as_ref()
            .and_then(|c| c.get(name))
            .and_then(|c| c.get("type"));
        diags.push(
            match (at_type, spans.channels.as_ref().and_then(|s| s.get(name))) {
                (Some(span), _) | (None, Some(span)) => file.at(Level::Error, span, message),
                (None, None) => file.diag(Level::Error, 1, 1, message),
            },
        );
    }
    refused
}

/// `server:` values, each problem at its key.
fn check_server(global: &GlobalConfig, file: &SourceFile, diags: &mut Vec<Diagnostic>) {
    let Some(server) = global.server.config() else {
        return;
    };
    #[derive(serde::Deserialize, Default)]
    struct Spans {
        server: Option<BTreeMap<String, Spanned<IgnoredAny>>>,
    }
    let spans: Spans = file.parse().unwrap_or_default();
    for (key, problem) in server.check() {
        let message = format!("server.{key}: {problem}");
        diags.push(match spans.server.as_ref().and_then(|s| s.get(key)) {
            Some(span) => file.at(Level::Error, span, message),
            None => file.diag(Level::Error, 1, 1, message),
        });
    }
}

/// Routes and escalation policies name channels and policies that exist; policies are well
/// formed.
fn check_lifecycle(
    global: &GlobalConfig,
    spans: &GlobalSpans,
    file: &SourceFile,
    diags: &mut Vec<Diagnostic>,
) {
    let known = |c: &str| global.channels.contains_key(c);
    for (i, route) in global.routes.iter().enumerate() {
        let mut problems = Vec::new();
        for c in route.notify.iter().filter(|c| !known(c)) {
            problems.push(unknown("channel", c, global.channels.keys()).to_string());
        }
        if route.notify.is_empty() {
            problems.push("a route must `notify` at least one channel".to_string());
        }
        if let Some(p) = route
            .escalation
            .as_ref()
            .filter(|p| !global.escalation_policies.contains_key(*p))
        {
            problems.push(
                unknown("escalation policy", p, global.escalation_policies.keys()).to_string(),
            );
        }
        for message in problems {
            let message = format!("routes.{i}: {message}");
            diags.push(match spans.routes.as_ref().and_then(|s| s.get(i)) {
                Some(span) => file.at(Level::Error, span, message),
                None => file.diag(Level::Error, 1, 1, message),
            });
        }
    }
    for (name, policy) in &global.escalation_policies {
        if let Err(message) = crate::dispatch::Policy::build(name, policy, known) {
            diags.push(
                match spans.escalation_policies.as_ref().and_then(|s| s.get(name)) {
                    Some(span) => file.at(Level::Error, span, message),
                    None => file.diag(Level::Error, 1, 1, message),
                },
            );
        }
    }
}

/// Locations in klaxon.yaml that loading points at.
#[derive(Debug, Default, Deserialize)]
struct GlobalSpans {
    rules: Option<Spanned<String>>,
    /// Where each source's settings start, for problems found by its own `validate`.
    sources: Option<BTreeMap<String, Spanned<IgnoredAny>>>,
    /// Where each channel's settings start, for problems found building it.
    channels: Option<BTreeMap<String, Spanned<IgnoredAny>>>,
    #[allow(dead_code)] // only parsed so a bad `state_dir` is not a second error here
    state_dir: Option<Spanned<IgnoredAny>>,
    routes: Option<Vec<Spanned<IgnoredAny>>>,
    escalation_policies: Option<BTreeMap<String, Spanned<IgnoredAny>>>,
}

/// Problems of one rule file against klaxon.yaml: sources and channels it names that are
/// not defined (`klaxon test` with a config).
pub fn check_rule_against(loaded: &LoadedConfig, rule: &LoadedRule) -> Diagnostics {
    let mut diags = Vec::new();
    cross_check(&loaded.global, rule, &mut BTreeMap::new(), &mut diags);
    diags.into()
}

/// Checks a rule against klaxon.yaml and the rules loaded before it.
fn cross_check(
    global: &GlobalConfig,
    rule: &LoadedRule,
    names: &mut BTreeMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) {
    let cfg = &rule.config;
    let at = |key: &str, p: Problem| rule.at(key, None, Level::Error, p.to_string());
    let here = rule.at("name", None, Level::Error, String::new());
    let here = format!("{}:{}:{}", here.file.display(), here.line, here.column);
    if let Some(other) = names.get(&cfg.name) {
        let p = Problem::DuplicateName {
            name: cfg.name.clone(),
            other: other.clone(),
        };
        diags.push(at("name", p));
    } else {
        names.insert(cfg.name.clone(), here);
    }
    if !global.sources.contains_key(&cfg.source) {
        diags.push(at(
            "source",
            unknown("source", &cfg.source, global.sources.keys()),
        ));
    }
    for (i, channel) in cfg.notify.iter().enumerate() {
        if !global.channels.contains_key(channel) {
            let p = unknown("channel", channel, global.channels.keys());
            diags.push(at(&format!("notify.{i}"), p));
        }
    }
    if let Some(p) = cfg
        .escalation
        .as_ref()
        .filter(|p| !global.escalation_policies.contains_key(*p))
    {
        let p = unknown("escalation policy", p, global.escalation_policies.keys());
        diags.push(at("escalation", p));
    }
    check_messages(global, rule, diags);
}

/// A rule's `templates:` (each names a channel and parts it has, and renders) and
/// `dingtalk:` mentions.
fn check_messages(global: &GlobalConfig, rule: &LoadedRule, diags: &mut Vec<Diagnostic>) {
    let cfg = &rule.config;
    for (channel, parts) in &cfg.templates {
        let Some(channel_config) = global.channels.get(channel) else {
            let p = unknown("channel", channel, global.channels.keys());
            diags.push(rule.at_key(&format!("templates.{channel}"), Level::Error, p.to_string()));
            continue;
        };
        if !cfg.notify.contains(channel) {
            diags.push(rule.at_key(
                &format!("templates.{channel}"),
                Level::Warning,
                format!("the rule does not notify `{channel}`, so this template is never used"),
            ));
        }
        for (part, source) in parts {
            let parts = channel_config.parts();
            if let Err(e) = crate::notify::template::check(parts, part, source, true) {
                let key = format!("templates.{channel}.{part}");
                // An unknown part is a problem of the key; anything else, of the template.
                diags.push(if parts.iter().any(|p| p.name == part) {
                    rule.at(&key, None, Level::Error, e.to_string())
                } else {
                    rule.at_key(&key, Level::Error, e.to_string())
                });
            }
        }
    }
    if let Err((field, reason)) = cfg.dingtalk.check() {
        diags.push(rule.at(&format!("dingtalk.{field}"), None, Level::Error, reason));
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
