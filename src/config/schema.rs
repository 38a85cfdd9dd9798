//! JSON Schemas of klaxon.yaml and of a rule file, generated from the config types
//! (schemars; `klaxon schema`, checked in under `schemas/`), so editors complete and check
//! both. The schema checks shapes and names only: `klaxon check` remains the judge (it
//! also checks values, queries, and that names refer to something).

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

pub use super::schema_doc::{config_markdown, example_opt, EXAMPLES};
use super::GlobalConfig;
use crate::rule::{RuleConfig, RuleKind};

/// Draft 7: what editors' YAML language servers know best.
fn generator() -> SchemaGenerator {
    SchemaSettings::draft07().into_generator()
}

/// The schema of klaxon.yaml.
pub fn config_schema() -> Value {
    let mut schema = generator().into_root_schema_for::<GlobalConfig>();
    schema.insert("title".into(), json!("klaxon.yaml"));
    schema.to_value()
}

/// The schema of a rule file: the keys every rule has, plus the keys of its `type:` (any
/// when absent). Each type is an `if` (`type` is that type) `then` (the common keys and
/// the type's own, nothing else), so a misspelled key fails in any rule.
pub fn rule_schema() -> Value {
    let mut generator = generator();
    let mut schema = generator.root_schema_for::<RuleConfig>();
    let common: Vec<String> = object(&schema, "properties").keys().cloned().collect();
    let kinds: Vec<&str> = RuleKind::ALL.iter().map(|k| k.as_str()).collect();
    let mut type_schema = RuleKind::json_schema(&mut generator).to_value();
    type_schema["description"] = json!(
        "What the rule looks for (default `any`: every matching event); each type has keys of \
         its own."
    );
    type_schema["default"] = json!(RuleKind::DEFAULT.as_str());
    properties_mut(&mut schema).insert("type".into(), type_schema);
    let mut branches = Vec::new();
    for &kind in RuleKind::ALL {
        let params = kind.params_schema(&mut generator);
        let params = inline(params, &generator);
        let mut then = Map::new();
        let mut properties: Map<String, Value> = common
            .iter()
            .chain(std::iter::once(&"type".to_string()))
            .map(|k| (k.clone(), Value::Bool(true)))
            .collect();
        if let Some(Value::Object(own)) = params.get("properties") {
            properties.extend(own.clone());
        }
        if let Some(description) = params.get("description") {
            then.insert("description".into(), description.clone());
        }
        then.insert("properties".into(), Value::Object(properties));
        if let Some(required) = params.get("required") {
            then.insert("required".into(), required.clone());
        }
        then.insert("additionalProperties".into(), Value::Bool(false));
        let mut condition = json!({ "properties": { "type": { "const": kind.as_str() } } });
        if kind != RuleKind::DEFAULT {
            condition["required"] = json!(["type"]);
        }
        branches.push(json!({ "if": condition, "then": then }));
    }
    let root = schema.ensure_object();
    root.insert("allOf".into(), Value::Array(branches));
    // The definitions the params used, generated after the root was.
    let definitions = root
        .entry("definitions")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("definitions are a map");
    for (name, definition) in generator.definitions() {
        definitions
            .entry(name.clone())
            .or_insert_with(|| definition.clone());
    }
    root.insert("title".into(), json!("Klaxon rule file"));
    root.insert(
        "description".into(),
        json!(format!(
            "A Klaxon rule: the keys every rule has, and those of its `type` ({}).",
            kinds.join(", ")
        )),
    );
    schema.to_value()
}

/// A `$ref` to a definition replaced by the definition itself.
fn inline(schema: Schema, generator: &SchemaGenerator) -> Value {
    let value = schema.to_value();
    let target = value
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .and_then(|name| generator.definitions().get(name));
    match target {
        Some(definition) => definition.clone(),
        None => value,
    }
}

fn object<'a>(schema: &'a Schema, key: &str) -> &'a Map<String, Value> {
    schema
        .get(key)
        .and_then(Value::as_object)
        .expect("a struct's schema has properties")
}

fn properties_mut(schema: &mut Schema) -> &mut Map<String, Value> {
    schema
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .expect("a struct's schema has properties")
}

/// Pretty JSON with a final newline, as the files under `schemas/` hold it.
pub fn to_text(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("a schema serializes");
    text.push('\n');
    text
}
