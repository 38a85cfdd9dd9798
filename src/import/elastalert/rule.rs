//! One ElastAlert rule into Klaxon rule(s): the frame every rule shares (name, source,
//! query, `query_key` → `group_by`, `realert`, alerters), then the options of its `type`.

use std::path::Path;

use serde_json::{Map, Value};

use super::duration::timedelta;
use super::filter::{self, Refused, Translation};
use super::options::Options;
use super::read::Document;
use super::registry::Registry;
use super::{Note, NoteKind, OutputRule};
use crate::import::yaml_out::Yaml;
use crate::query::QueryOptions;
use crate::types::HumanDuration;

pub struct Converted {
    pub rules: Vec<OutputRule>,
    pub notes: Vec<Note>,
    pub error: Option<Note>,
}

/// Options that only shaped how ElastAlert queried or displayed, not what a rule means.
const NOT_NEEDED: &[(&str, &str)] = &[
    ("use_count_query", "Klaxon counts the events it reads"),
    ("use_terms_query", "Klaxon keys events as it reads them"),
    (
        "terms_size",
        "Klaxon keeps every key up to `max_keys`, not the top N of a terms aggregation",
    ),
    ("doc_type", "mapping types no longer exist"),
    ("max_query_size", "the source pages through every hit"),
    ("max_scrolling_count", "the source pages through every hit"),
    ("scroll_keepalive", "the source uses a point in time"),
    ("include", "alerts carry the whole event"),
    ("exclude_fields", "alerts carry the whole event"),
    (
        "scan_entire_timeframe",
        "windows are kept in memory and in the state store",
    ),
    ("use_local_time", "messages show `display_timezone` and UTC"),
    (
        "use_keyword_postfix",
        "events carry the field itself, not `.keyword`",
    ),
    ("use_strftime_index", "the index pattern uses `*` instead"),
    ("name", "converted"),
    (
        "window_step_size",
        "Klaxon learns terms from the events it reads",
    ),
    (
        "generate_kibana_link",
        "alerts link to Kibana Discover from klaxon.yaml `kibana:`",
    ),
    (
        "generate_kibana_discover_url",
        "alerts link to Kibana Discover from klaxon.yaml `kibana:`",
    ),
    ("kibana_discover_app_url", "set klaxon.yaml `kibana.url`"),
    (
        "kibana_discover_version",
        "Klaxon writes links for Kibana 8",
    ),
    (
        "kibana_discover_index_pattern_id",
        "set the source's `kibana.data_view`",
    ),
    (
        "kibana_discover_from_timedelta",
        "the link spans the alert's events",
    ),
    (
        "kibana_discover_to_timedelta",
        "the link spans the alert's events",
    ),
    ("kibana_url", "set klaxon.yaml `kibana.url`"),
    ("use_kibana4_dashboard", "set klaxon.yaml `kibana.url`"),
    (
        "kibana4_start_timedelta",
        "the link spans the alert's events",
    ),
    ("kibana4_end_timedelta", "the link spans the alert's events"),
    (
        "timestamp_format",
        "the source reads the field as Elasticsearch does",
    ),
    (
        "timestamp_format_expr",
        "the source reads the field as Elasticsearch does",
    ),
    ("es_conn_timeout", "set the source's `timeout`"),
    ("verify_certs", "set the source's `ca_file`"),
    ("ca_certs", "set the source's `ca_file`"),
    ("es_send_get_body_as", "the source uses POST"),
];

/// Options Klaxon has no counterpart for, with what to do instead.
const LOST: &[(&str, &str)] = &[
    ("exponential_realert", "Klaxon holds back for `realert`, then repeats an open alert every `grouping.repeat_interval` and escalates while unacknowledged"),
    ("aggregation", "Klaxon gathers alerts into digests by klaxon.yaml `grouping` (group_wait, group_interval)"),
    ("aggregation_key", "set klaxon.yaml `grouping.group_by`"),
    ("aggregate_by_match_time", "digests group by arrival"),
    ("aggregation_alert_time_compared_with_timestamp_field", "digests group by arrival"),
    ("summary_table_fields", "digests list each alert's key and count"),
    ("summary_table_type", "digests list each alert's key and count"),
    ("summary_table_max_rows", "digests list each alert's key and count"),
    ("summary_prefix", "digests have their own text; see the channel's digest templates"),
    ("summary_suffix", "digests have their own text; see the channel's digest templates"),
    ("aggregation_summary_only", "digests list each alert"),
    ("alert_subject", "Klaxon's templates are minijinja over `alert.*` (docs/MESSAGES.md); write a `templates:` title"),
    ("alert_subject_args", "see alert_subject"),
    ("alert_subject_max_len", "see alert_subject"),
    ("alert_text", "Klaxon's templates are minijinja over `alert.*` (docs/MESSAGES.md); write a `templates:` text"),
    ("alert_text_args", "see alert_text"),
    ("alert_text_kw", "see alert_text"),
    ("alert_text_type", "see alert_text"),
    ("alert_text_jinja", "see alert_text"),
    ("alert_missing_value", "see alert_text"),
    ("top_count_keys", "alerts carry a sample event, not top counts"),
    ("top_count_number", "alerts carry a sample event, not top counts"),
    ("raw_count_keys", "alerts carry a sample event, not top counts"),
    ("attach_related", "an alert carries its first event as the sample"),
    ("limit_execution", "rules run continuously; silence them by schedule with `klaxon silence`"),
    ("realert_key", "the hold is per rule and key"),
    ("query_key_missing_value", "events without a group_by field share the empty value"),
    ("alert_on_new_data", "Klaxon compares a key only once it has two windows of history"),
    ("alert_on_missing_field", "Klaxon learns terms from events that have the field; add an `any` rule with `NOT _exists_:field`"),
    ("min_doc_count", "Klaxon aggregates every key with at least one event"),
    ("metric_format_string", "messages print the aggregate as a number"),
    ("percentage_format_string", "messages print the percentage as a number"),
    ("sync_bucket_interval", "Klaxon's windows slide with the events; they are not aligned to the clock"),
];

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
    let source = source(opts, global, index, registry, file, notes)?;
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
            return metric(
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

/// `metric_aggregation`: min/max/avg/sum/percentiles map to a `metric` rule; `value_count`
/// to `frequency`/`flatline` over the events that have the field; `cardinality` to
/// `cardinality`.
#[allow(clippy::too_many_arguments)]
fn metric(
    opts: &Options,
    global: &Map<String, Value>,
    mut common: Entries,
    group_by: Vec<String>,
    notes: &mut Vec<Note>,
    file: &str,
    registry: &mut Registry,
    name: &str,
    query: &str,
    translation: Translation,
) -> Result<(String, String, Entries), Refused> {
    let field = strip_keyword(opts.str("metric_agg_key").ok_or_else(|| {
        refused(
            "metric_agg_key",
            "a metric_aggregation rule needs `metric_agg_key`",
        )
    })?);
    let agg = opts.str("metric_agg_type").ok_or_else(|| {
        refused(
            "metric_agg_type",
            "a metric_aggregation rule needs `metric_agg_type`",
        )
    })?;
    let max = opts.get("max_threshold").and_then(Value::as_f64);
    let min = opts.get("min_threshold").and_then(Value::as_f64);
    if max.is_none() && min.is_none() {
        return Err(refused(
            "max_threshold",
            "needs max_threshold or min_threshold",
        ));
    }
    // ElastAlert aggregates over each bucket_interval, else over buffer_time.
    let window = match duration(opts, "bucket_interval")? {
        Some(w) => {
            opts.mark("buffer_time");
            w
        }
        None => match duration(opts, "buffer_time")? {
            Some(w) => w,
            None => match global.get("buffer_time").map(timedelta) {
                Some(Ok(d)) => Yaml::raw(HumanDuration(d).to_string()),
                _ => {
                    notes.push(note(
                        "buffer_time".into(),
                        "ElastAlert aggregated over config.yaml's buffer_time; 45m (its \
                         example config) is assumed — pass --config to carry yours over",
                        NoteKind::NotConverted,
                    ));
                    Yaml::raw("45m")
                }
            },
        },
    };
    let mut typed = Vec::new();
    let kind = match agg {
        "min" | "max" | "avg" | "sum" | "percentiles" => {
            typed.push(("field".into(), Yaml::str(&field)));
            typed.push(("window".into(), window));
            let metric = if agg == "percentiles" {
                let p = opts
                    .get("percentile_range")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| refused("percentile_range", "percentiles need `percentile_range`"))?;
                if p.fract() != 0.0 || !(50.0..=99.0).contains(&p) {
                    return Err(refused(
                        "percentile_range",
                        "Klaxon has the whole percentiles p50 to p99",
                    ));
                }
                format!("p{}", p as u8)
            } else {
                agg.to_string()
            };
            typed.push(("metric".into(), Yaml::raw(metric)));
            if let Some(m) = max {
                typed.push(("above".into(), Yaml::Num(m)));
            }
            if let Some(m) = min {
                typed.push(("below".into(), Yaml::Num(m)));
            }
            "metric"
        }
        "cardinality" => {
            typed.push(("field".into(), Yaml::str(&field)));
            typed.push(("window".into(), window));
            // Strictly above max / below min, as ElastAlert compares.
            if let Some(m) = max {
                typed.push(("max_cardinality".into(), Yaml::Int(whole(m.floor(), "max_threshold")?)));
            }
            if let Some(m) = min {
                typed.push(("min_cardinality".into(), Yaml::Int(whole(m.ceil(), "min_threshold")?)));
            }
            "cardinality"
        }
        "value_count" => {
            if max.is_some() && min.is_some() {
                return Err(refused(
                    "min_threshold",
                    "a count both above a max and below a min is two Klaxon rules (frequency \
                     and flatline); convert with one threshold",
                ));
            }
            // Only events with the field count; a count above max is at least max+1 events.
            let exists = format!("_exists_:{}", filter::field_name(&field));
            let counted = match query {
                "*:*" => exists,
                q => format!("({q}) AND {exists}"),
            };
            if let Some((_, q)) = common.iter_mut().find(|(k, _)| k == "query") {
                *q = Yaml::str(&counted);
            }
            let (kind, threshold) = match (max, min) {
                (Some(m), _) => ("frequency", whole(m.floor() + 1.0, "max_threshold")?),
                (_, Some(m)) => ("flatline", whole(m.ceil(), "min_threshold")?),
                _ => unreachable!("checked above"),
            };
            typed.push(("threshold".into(), Yaml::Int(threshold.max(1))));
            typed.push(("window".into(), window));
            let frame = finish(opts, common, kind, &group_by, typed, notes, registry, file)?;
            registry.rule(name, &counted, translation.hints);
            return Ok((String::new(), name.to_string(), frame));
        }
        other => {
            return Err(refused(
                "metric_agg_type",
                format!("`{other}`: Klaxon aggregates min, max, avg, sum, percentiles, cardinality and value_count"),
            ))
        }
    };
    let frame = finish(opts, common, kind, &group_by, typed, notes, registry, file)?;
    registry.rule(name, query, translation.hints);
    Ok((String::new(), name.to_string(), frame))
}

fn whole(n: f64, key: &str) -> Result<i64, Refused> {
    if n.is_finite() && (0.0..=1e12).contains(&n) {
        Ok(n as i64)
    } else {
        Err(refused(key, "expected a number from 0"))
    }
}

/// The Elasticsearch source the rule reads: index, timestamp field and connection, from
/// the rule or ElastAlert's config.yaml.
fn source(
    opts: &Options,
    global: &Map<String, Value>,
    index: &str,
    registry: &mut Registry,
    file: &str,
    notes: &mut Vec<Note>,
) -> Result<String, Refused> {
    let setting = |key: &str| {
        opts.get(key)
            .or_else(|| global.get(key).filter(|v| !v.is_null()))
    };
    let host = setting("es_host").and_then(Value::as_str);
    let port = setting("es_port").and_then(|p| p.as_u64()).unwrap_or(9200);
    let ssl = setting("use_ssl").and_then(Value::as_bool).unwrap_or(false);
    let prefix = setting("es_url_prefix")
        .and_then(Value::as_str)
        .unwrap_or("");
    let url = format!(
        "{}://{}:{port}{}{}",
        if ssl { "https" } else { "http" },
        host.unwrap_or("localhost"),
        if prefix.is_empty() || prefix.starts_with('/') {
            ""
        } else {
            "/"
        },
        prefix.trim_end_matches('/')
    );
    // strftime patterns become wildcards: Klaxon searches the pattern.
    let strftime = opts.bool("use_strftime_index") == Some(true) || index.contains('%');
    let index_pattern = if strftime {
        let mut out = String::new();
        let mut chars = index.chars();
        while let Some(c) = chars.next() {
            if c == '%' {
                chars.next();
                if !out.ends_with('*') {
                    out.push('*');
                }
            } else {
                out.push(c);
            }
        }
        out
    } else {
        index.to_string()
    };
    let mut entries: Entries = vec![
        ("type".into(), Yaml::raw("elasticsearch")),
        ("urls".into(), Yaml::strs(&[url])),
        ("index".into(), Yaml::str(&index_pattern)),
        (
            "timestamp_field".into(),
            Yaml::str(opts.str("timestamp_field").unwrap_or("@timestamp")),
        ),
    ];
    if let Some(user) = setting("es_username").and_then(Value::as_str) {
        entries.push(("username".into(), Yaml::str(user)));
    }
    if let Some(pw) = setting("es_password").and_then(Value::as_str) {
        entries.push((
            "password".into(),
            registry.secret("ES_PASSWORD", pw, &format!("es_password in {file}")),
        ));
    }
    if let Some(key) = setting("es_api_key").and_then(Value::as_str) {
        entries.push((
            "api_key".into(),
            registry.secret("ES_API_KEY", key, &format!("es_api_key in {file}")),
        ));
    }
    if let Some(token) = setting("es_bearer").and_then(Value::as_str) {
        entries.push((
            "bearer_token".into(),
            registry.secret("ES_BEARER_TOKEN", token, &format!("es_bearer in {file}")),
        ));
    }
    for (key, klaxon) in [
        ("query_delay", "query_delay"),
        ("run_every", "poll_interval"),
    ] {
        if let Some(v) = opts.get(key).or_else(|| global.get(key)) {
            let d = timedelta(v).map_err(|e| refused(key, e))?;
            entries.push((klaxon.into(), Yaml::raw(HumanDuration(d).to_string())));
        }
    }
    match opts.str("timestamp_type") {
        None | Some("iso") => {}
        Some(t) => notes.push(note(
            "timestamp_type".into(),
            format!(
                "`{t}`: Klaxon asks Elasticsearch for ranges of the date field; a field mapped \
                 as a number of seconds or a custom text is not a date to it"
            ),
            NoteKind::NotConverted,
        )),
    }
    if !ssl && host.is_some() {
        opts.mark("use_ssl");
    }
    opts.mark("buffer_time");
    Ok(registry.source(&index_pattern, entries, file))
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

fn strip_keyword(f: &str) -> String {
    f.strip_suffix(".keyword").unwrap_or(f).to_string()
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
