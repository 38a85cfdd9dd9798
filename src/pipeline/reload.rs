//! Hot reload of rule files: editing, adding or removing a rule file is picked up while
//! Klaxon runs. Rules whose meaning did not change keep their state (the engine matches
//! them by name and meaning); a file that fails to load or compile is refused with its
//! diagnostics logged at file:line:column, and its previous version keeps running.
//!
//! klaxon.yaml itself (sources, channels) is read once at start: changing it needs a
//! restart. A rule added for a source no running rule reads gets no events until then.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::compile::{compile_loaded, RuleContext};
use crate::config::{Diagnostics, LoadedConfig, LoadedRule};
use crate::notify::RuleMessage;
use crate::rule::Rule;

/// What a poll found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// Files whose new version now runs (added or edited), and removed files.
    pub applied: Vec<PathBuf>,
    /// Files refused; their previous version (if any) keeps running.
    pub refused: Vec<PathBuf>,
}

/// The rule files as last seen, and the version of each that runs.
pub struct RuleWatcher {
    config_path: PathBuf,
    rules_spec: String,
    context: RuleContext,
    /// Content hash of every rule file as last read.
    seen: BTreeMap<PathBuf, [u8; 32]>,
    /// The version of each file that runs.
    running: BTreeMap<PathBuf, LoadedRule>,
}

impl RuleWatcher {
    /// Starts from the configuration Klaxon was started with.
    pub fn new(loaded: &LoadedConfig) -> Self {
        let mut watcher = RuleWatcher {
            config_path: loaded.path.clone(),
            rules_spec: loaded.global.rules.clone(),
            context: RuleContext::of(loaded),
            seen: BTreeMap::new(),
            running: loaded
                .rules
                .iter()
                .map(|r| (r.path.clone(), r.clone()))
                .collect(),
        };
        watcher.seen = watcher.scan();
        watcher
    }

    /// Every rule, as runs now, compiled afresh (the engine moves state over by meaning).
    pub fn compile_all(&self) -> Result<Vec<Rule>, Diagnostics> {
        let mut out = Vec::new();
        let mut problems = Diagnostics::new();
        for rule in self.running.values() {
            match compile_loaded(rule, &self.context) {
                Ok((c, _)) => out.push(c),
                Err(d) => problems.extend(d),
            }
        }
        if problems.has_errors() {
            Err(problems)
        } else {
            Ok(out)
        }
    }

    /// What the running rules say about their messages.
    pub fn messages(&self) -> HashMap<String, RuleMessage> {
        super::compile::rule_messages(self.running.values().map(|r| &r.config))
    }

    /// Looks for changed rule files; when some changed, loads them and returns the new
    /// rule set to run (`None`: nothing changed, or every change was refused).
    pub fn poll(&mut self) -> (Option<Vec<Rule>>, ReloadOutcome) {
        let now = self.scan();
        if now == self.seen {
            return (None, ReloadOutcome::default());
        }
        let changed: BTreeSet<PathBuf> = now
            .iter()
            .filter(|(p, h)| self.seen.get(*p) != Some(h))
            .map(|(p, _)| p.clone())
            .chain(self.seen.keys().filter(|p| !now.contains_key(*p)).cloned())
            .collect();
        self.seen = now;
        let mut outcome = ReloadOutcome::default();
        // Loading everything again checks each file against klaxon.yaml and the others
        // (unique names, known sources and channels) with exact locations.
        let (fresh, refused_files) = match crate::config::load(&self.config_path) {
            Ok(loaded) => (loaded.rules, BTreeSet::new()),
            Err(diagnostics) => {
                log_refused(&diagnostics);
                let bad: BTreeSet<PathBuf> = diagnostics.errors().map(|d| d.file.clone()).collect();
                if bad.contains(&self.config_path) {
                    tracing::error!("klaxon.yaml does not load; no rule change applied");
                    outcome.refused = changed.into_iter().collect();
                    return (None, outcome);
                }
                let good = changed
                    .iter()
                    .filter(|p| !bad.contains(*p) && p.exists())
                    .filter_map(|p| crate::config::load_rule_file(p).ok())
                    .collect();
                (good, bad)
            }
        };
        let mut next = self.running.clone();
        for path in &changed {
            if refused_files.contains(path) {
                outcome.refused.push(path.clone());
                continue;
            }
            match fresh.iter().find(|r| &r.path == path) {
                Some(rule) => match compile_loaded(rule, &self.context) {
                    Ok((_, warnings)) => {
                        log_refused(&warnings);
                        next.insert(path.clone(), rule.clone());
                        outcome.applied.push(path.clone());
                    }
                    Err(d) => {
                        log_refused(&d);
                        outcome.refused.push(path.clone());
                    }
                },
                None if !path.exists() => {
                    if next.remove(path).is_some() {
                        outcome.applied.push(path.clone());
                    }
                }
                None => outcome.refused.push(path.clone()),
            }
        }
        self.refuse_name_clashes(&mut next, &mut outcome);
        if outcome.applied.is_empty() {
            return (None, outcome);
        }
        self.running = next;
        match self.compile_all() {
            Ok(rules) => {
                for p in &outcome.applied {
                    tracing::info!(file = %p.display(), "rule file reloaded");
                }
                (Some(rules), outcome)
            }
            Err(d) => {
                log_refused(&d);
                (None, outcome)
            }
        }
    }

    /// A rule name must stay unique: an edited or added file whose rule takes a name
    /// another file's rule already has is refused (its previous version, if any, keeps
    /// running), so two rules never share state, realert and alerts under one name.
    fn refuse_name_clashes(
        &self,
        next: &mut BTreeMap<PathBuf, LoadedRule>,
        outcome: &mut ReloadOutcome,
    ) {
        let applied = std::mem::take(&mut outcome.applied);
        for path in applied {
            let Some(rule) = next.get(&path) else {
                outcome.applied.push(path);
                continue;
            };
            let name = &rule.config.name;
            let clash = next
                .iter()
                .find(|(other, r)| **other != path && &r.config.name == name)
                .map(|(other, _)| other.clone());
            let Some(other) = clash else {
                outcome.applied.push(path);
                continue;
            };
            tracing::error!(
                file = %path.display(),
                other = %other.display(),
                rule = %crate::types::flat(name),
                "rule file refused, previous version keeps running: its rule name is already used"
            );
            match self.running.get(&path) {
                Some(previous) => next.insert(path.clone(), previous.clone()),
                None => next.remove(&path),
            };
            outcome.refused.push(path);
        }
    }

    /// Content hashes of the rule files `rules:` names now.
    fn scan(&self) -> BTreeMap<PathBuf, [u8; 32]> {
        rule_files(Path::new(&self.rules_spec))
            .into_iter()
            .filter_map(|p| {
                let bytes = std::fs::read(&p).ok()?;
                Some((p, Sha256::digest(&bytes).into()))
            })
            .collect()
    }
}

fn log_refused(diagnostics: &Diagnostics) {
    for d in diagnostics.iter() {
        let text = d.to_string();
        if d.is_error() {
            tracing::error!(
                "rule file refused, previous version keeps running: {}",
                text.trim_end()
            );
        } else {
            tracing::warn!("{}", text.trim_end());
        }
    }
}

/// The rule files of `rules:` (already resolved against klaxon.yaml's directory): a
/// directory's visible `*.yaml`/`*.yml`, a glob's matches, or one file.
fn rule_files(spec: &Path) -> Vec<PathBuf> {
    let visible_yaml = |p: &Path| {
        let visible = p
            .file_name()
            .is_some_and(|n| !n.to_string_lossy().starts_with('.'));
        let yaml = matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
        visible && yaml && p.is_file()
    };
    let mut paths: Vec<PathBuf> = if spec.is_dir() {
        std::fs::read_dir(spec)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| visible_yaml(p))
                    .collect()
            })
            .unwrap_or_default()
    } else if spec.to_string_lossy().contains(['*', '?', '[']) {
        glob::glob(&spec.to_string_lossy())
            .map(|g| g.filter_map(Result::ok).filter(|p| p.is_file()).collect())
            .unwrap_or_default()
    } else {
        vec![spec.to_path_buf()]
    };
    paths.sort();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    const GLOBAL: &str = "sources:\n  app:\n    type: file\n    include: [\"/tmp/none/*.log\"]\n\
        channels:\n  out:\n    type: console\nrules: rules\nstate_dir: state\n";

    fn rule(name: &str, threshold: u32) -> String {
        format!(
            "name: {name}\nsource: app\nquery: ERROR\ntype: frequency\nthreshold: {threshold}\n\
             window: 1m\nnotify: [out]\n"
        )
    }

    /// The threshold of the running version of frequency rule `name`.
    fn threshold(w: &RuleWatcher, name: &str) -> u64 {
        let rule = w.running.values().find(|r| r.config.name == name).unwrap();
        match &rule.config.params {
            crate::rule::RuleParams::Frequency(p) => p.threshold,
            other => panic!("not a frequency rule: {other:?}"),
        }
    }

    #[test]
    fn edits_apply_broken_files_are_refused_and_removals_drop_rules() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules");
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::write(dir.path().join("klaxon.yaml"), GLOBAL).unwrap();
        std::fs::write(rules.join("a.yaml"), rule("a", 3)).unwrap();
        std::fs::write(rules.join("b.yaml"), rule("b", 3)).unwrap();
        let loaded = crate::config::load(&dir.path().join("klaxon.yaml")).unwrap();
        let mut w = RuleWatcher::new(&loaded);
        assert!(w.poll().0.is_none(), "nothing changed");

        std::fs::write(rules.join("a.yaml"), rule("a", 4)).unwrap();
        let (set, outcome) = w.poll();
        let set = set.expect("a edited");
        assert_eq!(outcome.applied, vec![rules.join("a.yaml")]);
        assert!(set.iter().any(|r| r.name == "a"));
        assert_eq!(threshold(&w, "a"), 4);

        // A broken edit is refused; the running version stays.
        std::fs::write(
            rules.join("a.yaml"),
            "name: a\nsource: app\nquery: 'ERROR AND ('\nnotify: [out]\n",
        )
        .unwrap();
        let (set, outcome) = w.poll();
        assert!(set.is_none());
        assert_eq!(outcome.refused, vec![rules.join("a.yaml")]);
        assert_eq!(w.compile_all().unwrap().len(), 2);
        assert_eq!(threshold(&w, "a"), 4);

        // A good edit elsewhere still applies while a.yaml stays broken.
        std::fs::remove_file(rules.join("b.yaml")).unwrap();
        std::fs::write(rules.join("c.yaml"), rule("c", 2)).unwrap();
        let (set, outcome) = w.poll();
        let names: BTreeSet<String> = set.unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names, BTreeSet::from(["a".to_string(), "c".to_string()]));
        assert_eq!(
            outcome.applied,
            vec![rules.join("b.yaml"), rules.join("c.yaml")]
        );
    }
}
