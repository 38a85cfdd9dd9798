//! One ElastAlert rule into Klaxon rule(s): the frame every rule shares (name, source,
//! query, `query_key` → `group_by`, `realert`, alerters), then the options of its `type`.

use std::path::Path;

use serde_json::{Map, Value};

use super::duration::timedelta;
use super::filter::{self, strip_keyword, Refused, Translation};
use super::options::Options;
use super::read::Document;
use super::registry::Registry;
use super::{Note, NoteKind, OutputRule};
use known_options::{LOST, NOT_NEEDED};

mod known_options;
mod metric;
mod source;
use crate::import::yaml_out::Yaml;
use crate::query::QueryOptions;
use crate::types::HumanDuration;

pub struct Converted {
    pub rules: Vec<OutputRule>,
    pub notes: Vec<Note>,
    pub error: Option<Note>,
}

/// Converts one rule file.
pub fn convert(doc: &Document, global: &Map<String, Value>, registry: &mut Registry) -> Converted {
    let opts = Options::new(&doc.value);
    let file = doc
        .path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut notes = Vec::new();
    let result = build(&opts, global, registry, &file, &mut notes);
    let (rules, error) = match result {
        Ok(rules) => (rules, None),
        Err(r) => (
            Vec::new(),
            Some(note(r.path, r.reason, NoteKind::NotConverted)),
        ),
    };
    if error.is_none() {
        // What nothing read is still named, so no option disappears unseen.
        for key in opts.unread() {
            let (kind, reason) = match (
                NOT_NEEDED.iter().find(|(k, _)| *k == key),
                LOST.iter().find(|(k, _)| *k == key),
            ) {
                (Some((_, why)), _) => (NoteKind::NotNeeded, format!("not needed: {why}")),
                (_, Some((_, why))) => (NoteKind::NotConverted, why.to_string()),
                _ => (
                    NoteKind::NotConverted,
                    "an option the converter does not know".to_string(),
                ),
            };
            notes.push(note(key.to_string(), reason, kind));
        }
    }
    let rules = rules
        .into_iter()
        .map(|(suffix, name, entries)| {
            let stem = doc
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "rule".into());
            OutputRule {
                file_name: format!("{stem}{suffix}.yaml"),
                text: super::rule_text(&doc.path, &notes_located(doc, &notes), &entries),
                name,
            }
        })
        .collect();
    Converted {
        rules,
        notes,
        error,
    }
}

fn notes_located(doc: &Document, notes: &[Note]) -> Vec<Note> {
    notes.iter().cloned().map(|n| doc.locate(n)).collect()
}

fn note(key: String, reason: impl Into<String>, kind: NoteKind) -> Note {
    Note {
        location: None,
        key,
        reason: reason.into(),
        kind,
    }
}

type Entries = Vec<(String, Yaml)>;

fn refused(path: &str, reason: impl Into<String>) -> Refused {
    Refused {
        path: path.to_string(),
        reason: reason.into(),
    }
}

fn build(
    opts: &Options,
    global: &Map<String, Value>,
    registry: &mut Registry,
    file: &str,
    notes: &mut Vec<Note>,
) -> Result<Vec<(String, String, Entries)>, Refused> {
    let name = opts
        .str("name")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| refused("name", "an ElastAlert rule needs a `name`"))?
        .trim()
        .to_string();
    let kind = opts.str("type").unwrap_or("any");
    let index = opts
        .str("index")
        .ok_or_else(|| refused("index", "an ElastAlert rule needs an `index`"))?;

    let mut translation = Translation::default();
    let query = match opts.get("filter") {
        Some(f) => translation.filters(f, "filter")?,
        None => filter::Q::All,
    };
    let query = filter::render(&query);
    if let Err(e) = crate::query::parse(&query, &QueryOptions::default()) {
        return Err(refused(
            "filter",
            format!(
                "Klaxon cannot read the converted query `{query}`: {}",
                e.message()
            ),
        ));
    }
    for d in translation.dropped.drain(..) {
        notes.push(note(d.path, d.reason, NoteKind::NotConverted));
    }

    let mut common: Entries = Vec::new();
    common.push(("name".into(), Yaml::str(&name)));
    if let Some(d) = opts.str("description") {
        common.push(("description".into(), Yaml::str(d.trim())));
    }
    let source = source::source(opts, global, index, registry, file, notes)?;
    common.push(("source".into(), Yaml::str(source)));
    common.push(("query".into(), Yaml::str(&query)));

    let mut group_by = query_key(opts, "query_key")?;
    let mut typed: Entries = Vec::new();
    let mut splits: Vec<(String, String, Entries)> = Vec::new();
    let klaxon_type = match kind {
        "any" => "any",
        "frequency" => {
            typed.push(("threshold".into(), Yaml::Int(count(opts, "num_events")?)));
            typed.push(("window".into(), window(opts, "timeframe")?));
            "frequency"
        }
        "flatline" => {
            typed.push(("threshold".into(), Yaml::Int(count(opts, "threshold")?)));
            typed.push(("window".into(), window(opts, "timeframe")?));
            if opts.bool("forget_keys") == Some(true) {
                typed.push(("forget_keys".into(), Yaml::Bool(true)));
            }
            "flatline"
        }
        "spike" => {
            if opts.has("field_value") {
                return Err(refused(
                    "field_value",
                    "a spike in a field's value has no counterpart: Klaxon spikes count events",
                ));
            }
            typed.push(("window".into(), window(opts, "timeframe")?));
            let height = opts
                .get("spike_height")
                .and_then(Value::as_f64)
                .filter(|h| h.is_finite() && *h > 0.0)
                .ok_or_else(|| refused("spike_height", "expected a number above 0"))?;
            typed.push(("spike_height".into(), Yaml::Num(height)));
            match opts.str("spike_type") {
                Some(t @ ("up" | "down" | "both")) => {
                    typed.push(("spike_type".into(), Yaml::raw(t)))
                }
                Some(other) => {
                    return Err(refused(
                        "spike_type",
                        format!("`{other}`: expected up, down or both"),
                    ))
                }
                None => return Err(refused("spike_type", "a spike rule needs `spike_type`")),
            }
            for k in ["threshold_cur", "threshold_ref"] {
                if opts.has(k) {
                    typed.push((k.into(), Yaml::Int(count(opts, k)?)));
                }
            }
            "spike"
        }
        "change" => {
            let keys = fields(opts, "compare_key")?;
            let [field] = keys.as_slice() else {
                return Err(refused(
                    "compare_key",
                    "a change of any of several fields has no counterpart: Klaxon watches one \
                     field per rule (write one rule per field)",
                ));
            };
            typed.push(("field".into(), Yaml::str(field)));
            if let Some(w) = duration(opts, "timeframe")? {
                typed.push(("window".into(), w));
            }
            ignore_null(
                opts,
                notes,
                "an event without the field is not a change in Klaxon",
            );
            if group_by.is_empty() {
                return Err(refused("query_key", "a change rule needs a `query_key`"));
            }
            "change"
        }
        "blacklist" | "whitelist" => {
            let keys = fields(opts, "compare_key")?;
            let [field] = keys.as_slice() else {
                return Err(refused("compare_key", "expected one field"));
            };
            typed.push(("field".into(), Yaml::str(field)));
            let Some(Value::Array(list)) = opts.get(kind) else {
                return Err(refused(
                    kind,
                    format!("a {kind} rule needs a `{kind}` list"),
                ));
            };
            let mut values = Vec::new();
            let mut files = Vec::new();
            for v in list {
                match v {
                    Value::String(s) if s.starts_with("!file ") => {
                        files.push(s["!file ".len()..].trim().to_string())
                    }
                    Value::String(s) => values.push(s.clone()),
                    Value::Number(n) => values.push(n.to_string()),
                    Value::Bool(b) => values.push(b.to_string()),
                    other => {
                        return Err(refused(
                            kind,
                            format!("`{}`: expected a value", super::short(other)),
                        ))
                    }
                }
            }
            if !values.is_empty() {
                typed.push(("values".into(), Yaml::strs(&values)));
            }
            for f in &files {
                if !Path::new(f).is_file() {
                    notes.push(note(
                        kind.to_string(),
                        format!("`!file {f}` is not on this machine: copy it there, or `klaxon check` fails"),
                        NoteKind::NotConverted,
                    ));
                }
            }
            match files.as_slice() {
                [] => {}
                [one] => typed.push(("values_file".into(), Yaml::str(one))),
                [first, ..] => {
                    typed.push(("values_file".into(), Yaml::str(first)));
                    notes.push(note(
                        kind.to_string(),
                        format!(
                            "Klaxon reads one `values_file`; merge {} into {first}",
                            files[1..].join(", ")
                        ),
                        NoteKind::NotConverted,
                    ));
                }
            }
            if values.is_empty() && files.is_empty() {
                return Err(refused(kind, "an empty list"));
            }
            if kind == "whitelist" {
                ignore_null(
                    opts,
                    notes,
                    "an event without the field never fires a Klaxon whitelist",
                );
            } else {
                opts.mark("ignore_null");
            }
            kind
        }
        "new_term" => {
            let spec = opts
                .get("fields")
                .or_else(|| opts.get("query_key"))
                .ok_or_else(|| refused("fields", "a new_term rule needs `fields`"))?;
            // Each entry is watched on its own; an entry that is a list is one tuple.
            let entries: Vec<Vec<String>> = match spec {
                Value::String(s) => vec![vec![s.clone()]],
                Value::Array(items) => items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(vec![s.clone()]),
                        Value::Array(t) => t
                            .iter()
                            .map(|f| {
                                f.as_str()
                                    .map(strip_keyword)
                                    .ok_or_else(|| refused("fields", "field names are text"))
                            })
                            .collect(),
                        _ => Err(refused("fields", "expected field names")),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(refused("fields", "expected a field name or a list")),
            };
            if entries.is_empty() {
                return Err(refused("fields", "an empty list"));
            }
            if let Some(w) = duration(opts, "terms_window_size")? {
                typed.push(("learning".into(), w));
                notes.push(note(
                    "terms_window_size".into(),
                    "ElastAlert read the terms of this past window from the index at start; \
                     Klaxon learns for `learning` from the first event it reads — point the \
                     source's `max_catch_up` back as far to learn from the same history",
                    NoteKind::NotConverted,
                ));
            }
            // ElastAlert's new_term keys only its realert hold by query_key; Klaxon holds back
            // per term.
            if !group_by.is_empty() {
                group_by.clear();
                opts.mark("query_key");
            }
            if entries.len() > 1 {
                for (i, fields) in entries.iter().enumerate() {
                    let mut t = typed.clone();
                    t.insert(0, fields_entry(fields));
                    splits.push((
                        format!("-{}", i + 1),
                        format!("{name}-{}", fields.join("-")),
                        t,
                    ));
                }
                notes.push(note(
                    "fields".into(),
                    "each field is its own Klaxon rule (one file each)",
                    NoteKind::NotNeeded,
                ));
            } else {
                typed.insert(0, fields_entry(&entries[0]));
            }
            "new_term"
        }
        "cardinality" => {
            let field = opts.str("cardinality_field").ok_or_else(|| {
                refused(
                    "cardinality_field",
                    "a cardinality rule needs `cardinality_field`",
                )
            })?;
            typed.push(("field".into(), Yaml::str(strip_keyword(field))));
            typed.push(("window".into(), window(opts, "timeframe")?));
            let mut any = false;
            for k in ["max_cardinality", "min_cardinality"] {
                if opts.has(k) {
                    typed.push((k.into(), Yaml::Int(count(opts, k)?)));
                    any = true;
                }
            }
            if !any {
                return Err(refused(
                    "max_cardinality",
                    "needs max_cardinality or min_cardinality",
                ));
            }
            "cardinality"
        }
        "metric_aggregation" => {
            return metric::metric(
                opts,
                global,
                common,
                group_by,
                notes,
                file,
                registry,
                &name,
                &query,
                translation,
            )
            .map(|r| vec![r])
        }
        "percentage_match" => {
            return Err(refused(
                "type",
                "`percentage_match` has no counterpart: Klaxon has no rule comparing the share \
                 of events matching a second filter (alert on the bad events with `frequency`)",
            ))
        }
        other => {
            return Err(refused(
                "type",
                format!("`{other}` is not an ElastAlert 2 rule type Klaxon has a counterpart for"),
            ))
        }
    };
    let frame = finish(
        opts,
        common,
        klaxon_type,
        &group_by,
        typed,
        notes,
        registry,
        file,
    )?;
    registry.rule(&name, &query, translation.hints);
    if splits.is_empty() {
        return Ok(vec![(String::new(), name, frame)]);
    }
    Ok(splits
        .into_iter()
        .map(|(suffix, split_name, typed)| {
            let mut entries = frame.clone();
            if let Some(n) = entries.iter_mut().find(|(k, _)| k == "name") {
                n.1 = Yaml::str(&split_name);
            }
            let at = entries
                .iter()
                .position(|(k, _)| k == "type")
                .map_or(entries.len(), |p| p + 1);
            entries.retain(|(k, _)| !matches!(k.as_str(), "field" | "fields" | "learning"));
            let at = at.min(entries.len());
            for (i, e) in typed.into_iter().enumerate() {
                entries.insert(at + i, e);
            }
            (suffix, split_name, entries)
        })
        .collect())
}

/// The rule's common tail: type, its options, group_by, realert, severity, notify.
#[allow(clippy::too_many_arguments)]
fn finish(
    opts: &Options,
    mut entries: Entries,
    kind: &str,
    group_by: &[String],
    typed: Entries,
    notes: &mut Vec<Note>,
    registry: &mut Registry,
    file: &str,
) -> Result<Entries, Refused> {
    opts.mark("type");
    entries.push(("type".into(), Yaml::raw(kind)));
    entries.extend(typed);
    if !group_by.is_empty() {
        entries.push(("group_by".into(), Yaml::strs(group_by)));
    }
    if let Some(r) = duration(opts, "realert")? {
        entries.push(("realert".into(), r));
    }
    if let Some(p) = opts.get("priority") {
        let severity = match p.as_i64() {
            Some(1) => "critical",
            Some(2) => "error",
            Some(3) => "warning",
            Some(n) if n >= 4 => "info",
            _ => return Err(refused("priority", "expected a whole number from 1")),
        };
        entries.push(("severity".into(), Yaml::raw(severity)));
    }
    if opts.bool("is_enabled") == Some(false) {
        entries.push(("enabled".into(), Yaml::Bool(false)));
    }
    let mut labels = Vec::new();
    for k in ["owner", "category"] {
        if let Some(v) = opts.get(k) {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            labels.push((k.to_string(), Yaml::str(text)));
        }
    }
    let alerts = super::alerters::convert(opts, registry, file);
    notes.extend(alerts.notes);
    entries.push(("notify".into(), Yaml::strs(&alerts.notify)));
    if !labels.is_empty() {
        entries.push(("labels".into(), Yaml::Map(labels)));
    }
    Ok(entries)
}

/// `query_key: a`, `[a, b]`, or the `a,b` ElastAlert writes for compound keys.
fn query_key(opts: &Options, key: &str) -> Result<Vec<String>, Refused> {
    Ok(fields(opts, key)?
        .into_iter()
        .map(|f| strip_keyword(&f))
        .collect())
}

fn fields(opts: &Options, key: &str) -> Result<Vec<String>, Refused> {
    match opts.get(key) {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(strip_keyword)
            .collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(strip_keyword)
                    .ok_or_else(|| refused(key, "field names are text"))
            })
            .collect(),
        Some(other) => Err(refused(
            key,
            format!("`{}`: expected a field name", super::short(other)),
        )),
    }
}

fn fields_entry(fields: &[String]) -> (String, Yaml) {
    match fields {
        [one] => ("field".into(), Yaml::str(one)),
        many => ("fields".into(), Yaml::strs(many)),
    }
}

fn ignore_null(opts: &Options, notes: &mut Vec<Note>, klaxon: &str) {
    if opts.bool("ignore_null") == Some(false) {
        notes.push(note(
            "ignore_null".into(),
            format!("`ignore_null: false`: {klaxon}"),
            NoteKind::NotConverted,
        ));
    }
}

fn count(opts: &Options, key: &str) -> Result<i64, Refused> {
    match opts.get(key) {
        Some(v) => v
            .as_i64()
            .filter(|n| *n >= 0)
            .ok_or_else(|| refused(key, "expected a whole number from 0")),
        None => Err(refused(key, format!("this rule type needs `{key}`"))),
    }
}

/// A required `{minutes: 5}` option as a Klaxon duration, above zero.
fn window(opts: &Options, key: &str) -> Result<Yaml, Refused> {
    let Some(v) = opts.get(key) else {
        return Err(refused(key, format!("this rule type needs `{key}`")));
    };
    let d = timedelta(v).map_err(|e| refused(key, e))?;
    if d.is_zero() {
        return Err(refused(key, "a window of zero"));
    }
    Ok(Yaml::raw(HumanDuration(d).to_string()))
}

/// An optional `{minutes: 5}` option as a Klaxon duration.
fn duration(opts: &Options, key: &str) -> Result<Option<Yaml>, Refused> {
    match opts.get(key) {
        None => Ok(None),
        Some(v) => {
            let d = timedelta(v).map_err(|e| refused(key, e))?;
            Ok(Some(Yaml::raw(HumanDuration(d).to_string())))
        }
    }
}
