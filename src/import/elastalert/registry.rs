//! What converted rules share — Elasticsearch sources, channels, secrets, field types —
//! gathered once and written as a klaxon.yaml. Equal definitions are one entry; a secret is
//! an environment variable whose name is printed and whose value never is.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::import::yaml_out::{self, Yaml};
use crate::query::{FieldType, QueryOptions};

/// A named definition (source or channel) and the files that use it.
#[derive(Clone)]
struct Def {
    name: String,
    /// The body as written, which is also what makes two definitions equal.
    entries: Vec<(String, Yaml)>,
    used_by: BTreeSet<String>,
}

/// An environment variable a definition refers to.
#[derive(Clone)]
struct EnvVar {
    name: String,
    /// Which option of which files it stands for.
    what: BTreeSet<String>,
    fingerprint: [u8; 32],
}

/// A converted rule's query and the field types its clauses implied.
#[derive(Clone)]
struct RuleQuery {
    name: String,
    query: String,
    /// The type each field's clauses imply in this rule alone.
    own: BTreeMap<String, FieldType>,
}

/// Cloned before each file, so a file refused halfway leaves nothing behind.
#[derive(Clone)]
pub struct Registry {
    global_given: bool,
    sources: Vec<Def>,
    channels: Vec<Def>,
    env: Vec<EnvVar>,
    hints: BTreeMap<String, Vec<FieldType>>,
    queries: Vec<RuleQuery>,
    fields: BTreeMap<String, FieldType>,
    rule_files: usize,
}

impl Registry {
    pub fn new(global_given: bool) -> Registry {
        Registry {
            global_given,
            sources: Vec::new(),
            channels: Vec::new(),
            env: Vec::new(),
            hints: BTreeMap::new(),
            queries: Vec::new(),
            fields: BTreeMap::new(),
            rule_files: 0,
        }
    }

    /// The name of the source with this body, added when new.
    pub fn source(&mut self, index: &str, entries: Vec<(String, Yaml)>, file: &str) -> String {
        add(
            &mut self.sources,
            &format!("es-{}", slug(index)),
            entries,
            file,
        )
    }

    /// The name of the channel with this body, added when new.
    pub fn channel(&mut self, base: &str, entries: Vec<(String, Yaml)>, file: &str) -> String {
        add(&mut self.channels, base, entries, file)
    }

    /// `${NAME}` for a secret: one variable per distinct value (compared by digest), named
    /// after what it is (`SLACK_WEBHOOK_URL`, then `SLACK_WEBHOOK_URL_2`, …).
    pub fn secret(&mut self, prefix: &str, value: &str, what: &str) -> Yaml {
        let mut hasher = Sha256::new();
        hasher.update(prefix.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        let fingerprint: [u8; 32] = hasher.finalize().into();
        if let Some(var) = self.env.iter_mut().find(|v| v.fingerprint == fingerprint) {
            var.what.insert(what.to_string());
            return Yaml::raw(format!("${{{}}}", var.name));
        }
        let taken = |n: &str| self.env.iter().any(|v| v.name == n);
        let mut name = prefix.to_string();
        let mut n = 2;
        while taken(&name) {
            name = format!("{prefix}_{n}");
            n += 1;
        }
        self.env.push(EnvVar {
            name: name.clone(),
            what: BTreeSet::from([what.to_string()]),
            fingerprint,
        });
        Yaml::raw(format!("${{{name}}}"))
    }

    /// Records a converted rule: its query and the field types it implies.
    pub fn rule(&mut self, name: &str, query: &str, hints: BTreeMap<String, Vec<FieldType>>) {
        let own = hints
            .iter()
            .filter_map(|(f, kinds)| Some((f.clone(), *kinds.iter().min_by_key(|t| rank(t))?)))
            .collect();
        for (field, kinds) in hints {
            let known = self.hints.entry(field).or_default();
            for k in kinds {
                if !known.contains(&k) {
                    known.push(k);
                }
            }
        }
        self.queries.push(RuleQuery {
            name: name.to_string(),
            query: query.to_string(),
            own,
        });
    }

    /// Decides the declared type of each field: the strongest its clauses imply (an IP
    /// block, a date, a number, an exact keyword, in that order). A rule whose query fails
    /// under its own clauses' types is refused (returned with the reason); where rules
    /// disagree on a field and the chosen type breaks one, the field stays undeclared (text).
    pub fn settle_fields(&mut self) -> BTreeMap<String, String> {
        let mut failed = BTreeMap::new();
        let with = |fields: &BTreeMap<String, FieldType>| QueryOptions {
            fields: fields.clone(),
            ..Default::default()
        };
        self.queries
            .retain(|q| match crate::query::parse(&q.query, &with(&q.own)) {
                Ok(_) => true,
                Err(e) => {
                    failed.insert(
                        q.name.clone(),
                        format!(
                            "Klaxon cannot read the converted query `{}`: {}",
                            q.query,
                            e.message()
                        ),
                    );
                    false
                }
            });
        let mut kinds: BTreeMap<&str, Vec<FieldType>> = BTreeMap::new();
        for q in &self.queries {
            for (f, t) in &q.own {
                kinds.entry(f).or_default().push(*t);
            }
        }
        self.fields = kinds
            .into_iter()
            .filter_map(|(f, ts)| Some((f.to_string(), ts.into_iter().min_by_key(rank)?)))
            .collect();
        loop {
            let opts = with(&self.fields);
            let mut changed = false;
            for q in &self.queries {
                if crate::query::parse(&q.query, &opts).is_err() {
                    for f in q.own.keys() {
                        changed |= self.fields.remove(f).is_some();
                    }
                }
            }
            if !changed {
                return failed;
            }
        }
    }

    /// Counts a file that produced rules (for the header).
    pub fn file_converted(&mut self) {
        self.rule_files += 1;
    }

    /// The klaxon.yaml for the converted rules.
    pub fn klaxon_yaml(&self, rules_dir: &str) -> String {
        let mut out = String::new();
        yaml_out::comment(
            &mut out,
            &format!(
                "Written by `klaxon import elastalert` for {} converted ElastAlert 2 rule \
                 file(s).\nMerge these sections into your klaxon.yaml, or start from this file.",
                self.rule_files
            ),
        );
        if !self.env.is_empty() {
            yaml_out::comment(
                &mut out,
                "\nSecrets are never copied: set these environment variables before \
                 `klaxon check` and `klaxon run`.",
            );
            let width = self.env.iter().map(|v| v.name.len()).max().unwrap_or(0);
            for var in &self.env {
                let what: Vec<&str> = var.what.iter().map(String::as_str).collect();
                let shown = what.iter().take(3).copied().collect::<Vec<_>>().join(", ");
                let more = match what.len() {
                    0..=3 => String::new(),
                    n => format!(" (+{} more)", n - 3),
                };
                yaml_out::comment(&mut out, &format!("  {:width$}  {shown}{more}", var.name));
            }
        }
        if !self.global_given && !self.sources.is_empty() {
            yaml_out::comment(
                &mut out,
                "\nWhere a rule names no es_host, http://localhost:9200 is assumed: pass \
                 ElastAlert's config.yaml with --config to carry its es_host over.",
            );
        }
        out.push('\n');
        yaml_out::write_map(&mut out, &[("rules".into(), Yaml::str(rules_dir))], 0);
        section(&mut out, "sources", &self.sources);
        section(&mut out, "channels", &self.channels);
        if !self.fields.is_empty() {
            out.push('\n');
            yaml_out::comment(
                &mut out,
                "Field types the filters imply (term/terms/prefix/wildcard: keyword; ranges: \
                 number or date; IP\nvalues and CIDR blocks: ip). Check them against the \
                 index mapping: they apply to every rule.",
            );
            let entries: Vec<(String, Yaml)> = self
                .fields
                .iter()
                .map(|(f, t)| (f.clone(), Yaml::raw(type_name(*t))))
                .collect();
            yaml_out::write_map(&mut out, &[("fields".into(), Yaml::Map(entries))], 0);
        }
        out
    }
}

fn section(out: &mut String, key: &str, defs: &[Def]) {
    if defs.is_empty() {
        return;
    }
    out.push('\n');
    out.push_str(key);
    out.push_str(":\n");
    for def in defs {
        let users: Vec<&str> = def.used_by.iter().map(String::as_str).collect();
        let shown = users.iter().take(4).copied().collect::<Vec<_>>().join(", ");
        let more = match users.len() {
            0..=4 => String::new(),
            n => format!(" (+{} more)", n - 4),
        };
        let mut comment = String::new();
        yaml_out::comment(&mut comment, &format!("used by {shown}{more}"));
        for line in comment.lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
        yaml_out::write_map(
            out,
            &[(def.name.clone(), Yaml::Map(def.entries.clone()))],
            2,
        );
    }
}

fn add(defs: &mut Vec<Def>, base: &str, entries: Vec<(String, Yaml)>, file: &str) -> String {
    if let Some(def) = defs.iter_mut().find(|d| d.entries == entries) {
        def.used_by.insert(file.to_string());
        return def.name.clone();
    }
    let mut name = base.to_string();
    let mut n = 2;
    while defs.iter().any(|d| d.name == name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    defs.push(Def {
        name: name.clone(),
        entries,
        used_by: BTreeSet::from([file.to_string()]),
    });
    name
}

/// `logstash-%Y.%m.%d,other` → `logstash-other`: lowercase letters, digits and dashes.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "index".into()
    } else {
        out
    }
}

/// Which implied type wins: the most specific.
fn rank(t: &FieldType) -> u8 {
    match t {
        FieldType::Ip => 0,
        FieldType::Date => 1,
        FieldType::Number => 2,
        FieldType::Keyword => 3,
        FieldType::Text => 4,
    }
}

fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Text => "text",
        FieldType::Keyword => "keyword",
        FieldType::Number => "number",
        FieldType::Date => "date",
        FieldType::Ip => "ip",
    }
}
