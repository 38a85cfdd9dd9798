//! Reading one rule file: the keys every rule has, then the params of its `type`, each
//! problem at its line and column, with "did you mean" among the keys of that rule's type.
//!
//! The params are read in a second pass over the same text, with the common keys skipped,
//! so `type:` may come anywhere in the file and serde's errors keep their locations.

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{
    self, value::MapAccessDeserializer, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess,
    Visitor,
};
use serde::Deserialize;

use super::diagnostic::{Diagnostic, Diagnostics, Level};
use super::env::Env;
use super::problem::Problem;
use super::query_map::locate;
use super::source::SourceFile;
use super::spans::SpanTree;
use crate::rule::{ParamsReader, RuleConfig, RuleKind, RuleProblem, TypeKey};
use crate::types::closest;

/// One rule file, parsed, with what it takes to place any later problem in it.
#[derive(Clone)]
pub struct LoadedRule {
    pub path: PathBuf,
    pub config: RuleConfig,
    file: Arc<SourceFile>,
    spans: Arc<SpanTree>,
}

impl fmt::Debug for LoadedRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedRule")
            .field("path", &self.path)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PartialEq for LoadedRule {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.config == other.config
    }
}

impl LoadedRule {
    /// The directory of the rule file: relative paths inside the rule are read from it.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }

    /// A diagnostic about the value at `key` (a dotted path; `column` is a character
    /// inside a query value). An absent key is reported at `type:`, else at line 1.
    pub fn at(
        &self,
        key: &str,
        column: Option<usize>,
        level: Level,
        message: String,
    ) -> Diagnostic {
        let file = &self.file;
        let found = self
            .spans
            .find(key)
            .or_else(|| self.spans.find("type"))
            .filter(|_| !key.is_empty());
        let Some(found) = found else {
            return file.diag(level, 1, 1, message);
        };
        match (column, found.text) {
            (Some(column), Some(text)) => {
                let (line, col, map) = locate(file, text, found.location);
                let (line, col) = map.position(column, (line, col));
                let message = map.redact(file.interp.redact(line, &message));
                Diagnostic::new(level, &self.path, line, col, message)
                    .with_source_line(file.original_line(line))
            }
            _ => file.at_location(level, found.location, message),
        }
    }

    /// A problem with a key itself (an unknown name), placed at the key rather than its value.
    pub fn at_key(&self, key: &str, level: Level, message: String) -> Diagnostic {
        match self.spans.key_location(key) {
            Some(location) => self.file.at_location(level, location, message),
            None => self.at(key, None, level, message),
        }
    }

    /// A problem `rule::Rule::build` found, placed in the file.
    pub fn problem(&self, p: &RuleProblem) -> Diagnostic {
        let level = if p.warning {
            Level::Warning
        } else {
            Level::Error
        };
        self.at(&p.key, p.column, level, p.message.clone())
    }
}

/// Parses one rule file; every problem found is returned (not just the first).
pub(crate) fn read_rule(path: &Path, env: &dyn Env) -> Result<LoadedRule, Diagnostics> {
    let file = SourceFile::read(path, env)?;
    if file.is_blank() {
        let d = file.at_original(Level::Error, 1, 1, Problem::EmptyRuleFile.to_string());
        return Err(d.into());
    }
    let spans = SpanTree::parse(file.text());
    let mut problems = Vec::new();
    let common = file.parse::<RuleConfig>().map_err(|d| problems.push(d));
    let params = match file.parse::<TypeKey>() {
        Ok(TypeKey { kind }) => {
            // Every key the type does not take, each at its place (serde stops at the
            // first).
            let unknown: Vec<Diagnostic> = spans
                .top_keys()
                .into_iter()
                .filter(|(k, _)| !is_key_of(kind, k))
                .map(|(k, at)| file.at_location(Level::Error, at, unknown_key(k, kind)))
                .collect();
            if unknown.is_empty() {
                kind.read_params(&Reader(&file))
                    .map_err(|d| problems.push(explain(d, kind, &spans, &file)))
            } else {
                problems.extend(unknown);
                Err(())
            }
        }
        Err(d) => {
            problems.push(explain_type(d));
            Err(())
        }
    };
    match (common, params) {
        (Ok(mut config), Ok(params)) => {
            config.params = params;
            Ok(LoadedRule {
                path: path.to_path_buf(),
                config,
                file: Arc::new(file),
                spans: Arc::new(spans),
            })
        }
        _ => {
            // In the order they stand in the file, each place once.
            problems.sort_by_key(|d| (d.line, d.column));
            problems.dedup_by(|a, b| (a.line, a.column) == (b.line, b.column));
            Err(problems.into())
        }
    }
}

/// Whether a rule of type `kind` takes `key` (its own keys and those every rule has).
fn is_key_of(kind: RuleKind, key: &str) -> bool {
    kind.keys().contains(&key) || RuleConfig::common_keys().any(|c| c == key)
}

/// Reads a type's params from the rule file, skipping the keys every rule has.
struct Reader<'a>(&'a SourceFile);

impl ParamsReader for Reader<'_> {
    type Error = Diagnostic;

    fn read<P: DeserializeOwned>(&self) -> Result<P, Diagnostic> {
        self.0.parse::<WithoutCommonKeys<P>>().map(|p| p.0)
    }
}

/// `P` read from a map whose common rule keys are skipped (streamed, so serde's errors keep
/// their YAML locations).
struct WithoutCommonKeys<P>(P);

impl<'de, P: DeserializeOwned> Deserialize<'de> for WithoutCommonKeys<P> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SkipVisitor(PhantomData))
    }
}

struct SkipVisitor<P>(PhantomData<P>);

impl<'de, P: DeserializeOwned> Visitor<'de> for SkipVisitor<P> {
    type Value = WithoutCommonKeys<P>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a rule: a map of keys")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        P::deserialize(MapAccessDeserializer::new(SkipCommon(map))).map(WithoutCommonKeys)
    }
}

struct SkipCommon<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkipCommon<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.0.next_key::<String>()? {
            if RuleConfig::common_keys().any(|k| k == key) {
                self.0.next_value::<de::IgnoredAny>()?;
                continue;
            }
            let key = de::value::StringDeserializer::<A::Error>::new(key);
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}

/// Rewords serde's errors about a type's keys: an unknown key gets the nearest key of that
/// type (or says which types it belongs to), a missing key is reported at `type:`.
fn explain(mut d: Diagnostic, kind: RuleKind, spans: &SpanTree, file: &SourceFile) -> Diagnostic {
    let own = kind.keys();
    if let Some((key, expected)) = unknown_field(&d.message) {
        let top_level = expected.iter().all(|e| own.contains(&e.as_str()));
        d.message = if top_level {
            unknown_key(&key, kind)
        } else {
            let nearest = closest(&key, expected.iter().map(String::as_str));
            match nearest {
                Some(k) => format!("unknown key `{key}`; did you mean `{k}`?"),
                None => format!(
                    "unknown key `{key}`; expected one of {}",
                    expected.join(", ")
                ),
            }
        };
    } else if let Some(key) = missing_field(&d.message) {
        if own.contains(&key.as_str()) {
            let message = format!("`type: {kind}` requires `{key}`");
            return match spans.find("type") {
                Some(t) => file.at_location(Level::Error, t.location, message),
                None => file.diag(Level::Error, 1, 1, message),
            };
        }
    }
    d
}

/// The message for a key that `type: kind` does not take.
fn unknown_key(key: &str, kind: RuleKind) -> String {
    let others: Vec<String> = RuleKind::ALL
        .iter()
        .filter(|k| k.keys().contains(&key))
        .map(|k| format!("`type: {k}`"))
        .collect();
    if !others.is_empty() {
        return format!("`{key}` only applies to {}", others.join(" and "));
    }
    let candidates = kind.keys().iter().copied().chain(RuleConfig::common_keys());
    if let Some(k) = closest(key, candidates) {
        return format!("unknown key `{key}` for `type: {kind}`; did you mean `{k}`?");
    }
    // A misspelt key of another type: say which types take it.
    let elsewhere = RuleKind::ALL.iter().flat_map(|k| k.keys().iter().copied());
    if let Some(k) = closest(key, elsewhere) {
        let types: Vec<String> = RuleKind::ALL
            .iter()
            .filter(|t| t.keys().contains(&k))
            .map(|t| format!("`type: {t}`"))
            .collect();
        return format!(
            "unknown key `{key}` for `type: {kind}`; `{k}` (did you mean it?) applies to {}",
            types.join(" and ")
        );
    }
    let own = kind.keys();
    let own = if own.is_empty() {
        format!("`type: {kind}` takes no keys of its own")
    } else {
        format!("`type: {kind}` takes {}", own.join(", "))
    };
    let common: Vec<&str> = RuleConfig::common_keys().collect();
    format!(
        "unknown key `{key}`: {own}; every rule takes {}",
        common.join(", ")
    )
}

/// An unknown `type:` gets the nearest type's name.
fn explain_type(mut d: Diagnostic) -> Diagnostic {
    if let Some(rest) = d.message.strip_prefix("unknown variant `") {
        if let Some(name) = rest.split('`').next() {
            let names = RuleKind::ALL.iter().map(|k| k.as_str());
            d.message = match closest(name, names) {
                Some(k) => format!("unknown rule type `{name}`; did you mean `{k}`?"),
                None => {
                    let all: Vec<&str> = RuleKind::ALL.iter().map(|k| k.as_str()).collect();
                    format!(
                        "unknown rule type `{name}`; expected one of {}",
                        all.join(", ")
                    )
                }
            };
        }
    }
    d
}

/// `unknown field `x`, expected one of a, b` (serde's wording; names may be backticked).
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let expected = match rest.split_once("expected one of ") {
        Some((_, list)) => list
            .split(',')
            .map(|s| s.trim().trim_matches('`').to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => match rest.split_once("expected ") {
            Some((_, one)) => vec![one.trim().trim_matches('`').to_string()],
            None => Vec::new(),
        },
    };
    Some((key.to_string(), expected))
}

/// `missing field `x``.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}
