//! docs/CONFIG.md, written from the same schemas as `klaxon schema` (`klaxon schema
//! --markdown`): every key of klaxon.yaml, of each source and channel type, and of each
//! rule type, with its type, default and description, and an example per section.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::schema::{config_schema, rule_schema};

/// The reference, Markdown.
pub fn config_markdown() -> String {
    let config = config_schema();
    let rule = rule_schema();
    let mut doc = Doc::default();
    doc.line("# Configuration reference");
    doc.line("");
    doc.line(
        "Generated from the config types by `klaxon schema --markdown`; do not edit by hand \
         (`KLAXON_BLESS=1 cargo test --test it schema` rewrites it, with `schemas/`). \
         Editors check and complete the files with the JSON Schemas in `schemas/` \
         (`klaxon schema config`, `klaxon schema rule`); `klaxon check` remains the judge.",
    );
    doc.line("");
    doc.line("Durations are written `500ms`, `30s`, `10m`, `1h30m`, `7d` (a bare number is seconds). Any value may be `${VAR}` or `${VAR:-default}`, read from the environment.");

    let config_defs = definitions(&config);
    doc.section("klaxon.yaml", example("klaxon.yaml"));
    doc.table(&config, &config_defs);

    doc.line("");
    doc.line("## Sources");
    doc.line("");
    doc.line("Under `sources:`, by name; `type:` selects the kind.");
    variants(&mut doc, &config_defs["SourceConfig"], &config_defs);

    doc.line("");
    doc.line("## Channels");
    doc.line("");
    doc.line("Under `channels:`, by name; `type:` selects the kind.");
    variants(&mut doc, &config_defs["ChannelConfig"], &config_defs);

    let rule_defs = definitions(&rule);
    doc.line("");
    doc.line("## Rule files");
    doc.line("");
    doc.line("One YAML file per rule, in the directory `rules:` names. The keys every rule has:");
    doc.line("");
    doc.code(example("rule"));
    doc.table(&rule, &rule_defs);
    for branch in rule["allOf"].as_array().into_iter().flatten() {
        let kind = branch["if"]["properties"]["type"]["const"]
            .as_str()
            .unwrap_or_default();
        let then = &branch["then"];
        doc.line("");
        doc.line(&format!("### `type: {kind}`"));
        doc.line("");
        if let Some(d) = then["description"].as_str() {
            doc.line(&flat(d));
            doc.line("");
        }
        if let Some(e) = example_opt(&format!("rule:{kind}")) {
            doc.code(e);
        }
        let own: Map<String, Value> = then["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| !v.is_boolean())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if own.is_empty() {
            doc.line("No keys of its own.");
        } else {
            let mut own_schema = then.clone();
            own_schema["properties"] = Value::Object(own);
            doc.table(&own_schema, &rule_defs);
        }
    }

    doc.line("");
    doc.line("## Values used above");
    let mut all = config_defs.clone();
    all.extend(rule_defs);
    for (name, def) in &all {
        if matches!(name.as_str(), "SourceConfig" | "ChannelConfig") {
            continue;
        }
        doc.line("");
        doc.line(&format!("### {name}"));
        doc.line("");
        if let Some(d) = def["description"].as_str() {
            doc.line(&flat(d));
            doc.line("");
        }
        let described: Vec<String> = def["oneOf"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| {
                let shown = v.get("const").or_else(|| v["enum"].get(0))?;
                let about = v["description"].as_str().map(flat).unwrap_or_default();
                Some(format!("- {}: {about}", show_value(shown)))
            })
            .collect();
        if def.get("properties").is_some() {
            doc.table(def, &all);
        } else if !described.is_empty() && def.get("type").is_none() {
            for line in &described {
                doc.line(line);
            }
        } else {
            doc.line(&format!("Written as: {}.", type_of(def)));
        }
    }
    doc.text
}

fn variants(doc: &mut Doc, tagged: &Value, defs: &Map<String, Value>) {
    for variant in tagged["oneOf"].as_array().into_iter().flatten() {
        let kind = variant["properties"]["type"]["const"]
            .as_str()
            .unwrap_or_default();
        doc.line("");
        doc.line(&format!("### `type: {kind}`"));
        doc.line("");
        if let Some(d) = variant["description"].as_str() {
            doc.line(&flat(d));
            doc.line("");
        }
        if let Some(e) = example_opt(kind) {
            doc.code(e);
        }
        doc.table(variant, defs);
    }
}

fn definitions(schema: &Value) -> Map<String, Value> {
    schema["definitions"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

#[derive(Default)]
struct Doc {
    text: String,
}

impl Doc {
    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    fn section(&mut self, title: &str, example: &str) {
        self.line("");
        self.line(&format!("## {title}"));
        self.line("");
        self.code(example);
    }

    fn code(&mut self, yaml: &str) {
        self.line("```yaml");
        self.text.push_str(yaml.trim_end());
        self.text.push('\n');
        self.line("```");
        self.line("");
    }

    /// One row per key of an object schema: key, type, default, description.
    fn table(&mut self, schema: &Value, defs: &Map<String, Value>) {
        let required: BTreeSet<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        self.line("| key | type | default | description |");
        self.line("|---|---|---|---|");
        for (key, property) in schema["properties"].as_object().into_iter().flatten() {
            let default = if required.contains(key.as_str()) {
                "required".to_string()
            } else {
                property
                    .get("default")
                    .map(show_value)
                    .unwrap_or_else(|| "—".into())
            };
            let description = property["description"]
                .as_str()
                .or_else(|| referenced(property, defs).and_then(|d| d["description"].as_str()))
                .map(flat)
                .unwrap_or_default();
            self.line(&format!(
                "| `{key}` | {} | {} | {} |",
                cell(&type_of(property)),
                cell(&default),
                cell(&description)
            ));
        }
    }
}

/// The definition a schema refers to, if it is a `$ref` (or an optional one).
fn referenced<'a>(schema: &Value, defs: &'a Map<String, Value>) -> Option<&'a Value> {
    if let Some(r) = schema["$ref"].as_str() {
        return defs.get(r.rsplit('/').next()?);
    }
    ["anyOf", "allOf"]
        .iter()
        .filter_map(|key| schema[*key].as_array())
        .flatten()
        .find_map(|s| referenced(s, defs))
}

/// A schema's type, as a reader wants it: `string`, `list of Duration`, `map of Secret`,
/// `a | b`, a link to a value described below.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return match name {
            "SourceConfig" => "[source](#sources)".into(),
            "ChannelConfig" => "[channel](#channels)".into(),
            _ => format!("[{name}](#{})", name.to_lowercase()),
        };
    }
    if let Some(c) = schema.get("const") {
        return show_value(c);
    }
    if let Some(values) = schema["enum"].as_array() {
        return values
            .iter()
            .map(show_value)
            .collect::<Vec<_>>()
            .join(" \\| ");
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(options) = schema[key].as_array() {
            let shown: Vec<String> = options
                .iter()
                .filter(|o| o["type"] != "null")
                .map(type_of)
                .collect();
            return shown.join(" \\| ");
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let shown: Vec<String> = types
        .into_iter()
        .filter(|t| *t != "null")
        .map(|t| match t {
            "array" => format!("list of {}", type_of(&schema["items"])),
            "object" => match schema.get("additionalProperties") {
                Some(v) if v.is_object() => format!("map of {}", type_of(v)),
                _ => "map".into(),
            },
            other => other.to_string(),
        })
        .collect();
    if shown.is_empty() {
        "any".into()
    } else {
        shown.join(" \\| ")
    }
}

fn show_value(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// Doc comments run over several lines: one line, for a table cell.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cell(text: &str) -> String {
    text.replace('\n', " ").replace(" | ", " \\| ")
}

fn example(name: &str) -> &'static str {
    example_opt(name).unwrap_or_default()
}

/// A short example per section: the key is the section (a source or channel type,
/// `rule:TYPE`). Each is checked against the schemas by `tests/it/schema.rs`.
pub fn example_opt(name: &str) -> Option<&'static str> {
    EXAMPLES.iter().find(|(n, _)| *n == name).map(|(_, e)| *e)
}

pub use super::schema_examples::EXAMPLES;
