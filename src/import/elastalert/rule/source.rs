//! The Elasticsearch source a rule reads: its index (strftime patterns as wildcards), timestamp
//! field and connection, from the rule or ElastAlert's config.yaml; secrets as `${VAR}`.

use serde_json::{Map, Value};

use super::super::duration::timedelta;
use super::super::filter::Refused;
use super::super::options::Options;
use super::super::registry::Registry;
use super::super::{Note, NoteKind};
use super::{note, refused, Entries};
use crate::import::yaml_out::Yaml;
use crate::types::HumanDuration;

/// The Elasticsearch source the rule reads: index, timestamp field and connection, from
/// the rule or ElastAlert's config.yaml.
pub(super) fn source(
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
