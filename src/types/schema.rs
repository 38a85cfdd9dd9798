//! JSON Schema (schemars) for values whose serde shape is written by hand: durations,
//! secrets, time zones, and `type:`-tagged enums. Only what editors and `klaxon schema`
//! see; deserializing does not go through any of it.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Value};

use super::{HumanDuration, Secret, TimeZone};

/// A value written as `${VAR}` (or `${VAR:-default}`) is replaced from the environment
/// before it is read, so any text holding one is accepted where a pattern is checked.
const INTERPOLATED: &str = r".*\$\{.+\}.*";

/// A string schema for a value parsed from text: what it means and, when given, the
/// pattern it matches (a `${VAR}` is let through).
pub fn text_schema(description: &str, pattern: Option<&str>) -> Schema {
    let mut schema = json_schema!({ "type": "string", "description": description });
    if let Some(pattern) = pattern {
        schema.insert(
            "pattern".into(),
            Value::String(format!("^(?:{pattern}|{INTERPOLATED})$")),
        );
    }
    schema
}

/// `oneOf` the variants of a `type:`-tagged enum: each variant's own schema (kept
/// inline, so its `additionalProperties: false` sees the `type` key) with `type` added
/// as a required constant.
pub fn tagged_schema(description: &str, variants: Vec<(&'static str, Schema)>) -> Schema {
    let one_of: Vec<Value> = variants
        .into_iter()
        .map(|(name, mut schema)| {
            let object = schema.ensure_object();
            object.insert("title".into(), json!(format!("type: {name}")));
            let properties = object
                .entry("properties")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("an object schema's properties are a map");
            let rest = std::mem::take(properties);
            properties.insert(
                "type".into(),
                json!({ "const": name, "description": format!("`{name}`") }),
            );
            properties.extend(rest);
            let required = object.entry("required").or_insert_with(|| json!([]));
            if let Value::Array(keys) = required {
                keys.insert(0, json!("type"));
            }
            schema.to_value()
        })
        .collect();
    json_schema!({ "description": description, "type": "object", "oneOf": one_of })
}

/// `impl JsonSchema` for a type read from one string: its schema name, what it means and,
/// optionally, the pattern it matches (see [`text_schema`]).
macro_rules! impl_text_schema {
    ($ty:ty, $name:literal, $description:expr $(, $pattern:expr)?) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                #[allow(unused_mut, unused_assignments)]
                let mut pattern: Option<&str> = None;
                $(pattern = Some($pattern);)?
                $crate::types::text_schema($description, pattern)
            }
        }
    };
}
pub(crate) use impl_text_schema;

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut schema = text_schema(
            "A duration: a number followed by ms, s, m, h or d (`500ms`, `30s`, `10m`, \
             `1h30m`, `7d`), or a bare number of seconds; at most 3650d.",
            Some(r"\s*(?:[0-9]+|(?:[0-9]+(?:ms|s|m|h|d))+)\s*"),
        );
        schema.insert("type".into(), json!(["string", "integer"]));
        schema.insert("minimum".into(), json!(0));
        schema
    }
}

impl_text_schema!(
    Secret,
    "Secret",
    "A secret, never printed: best written as `${VAR}` so it comes from the environment."
);

impl_text_schema!(
    TimeZone,
    "TimeZone",
    "A time zone: `local`, `UTC`, an IANA name (`Asia/Shanghai`) or a fixed offset (`+08:00`)."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_pattern_takes_what_parse_duration_takes() {
        let schema = schemars::schema_for!(HumanDuration);
        let pattern = schema.get("pattern").unwrap().as_str().unwrap();
        let re = regex::Regex::new(pattern).unwrap();
        for ok in [
            "30s",
            "1h30m",
            "500ms",
            "7d",
            "0",
            "${TIMEOUT}",
            "${T:-10s}",
        ] {
            assert!(re.is_match(ok), "{ok}");
            assert!(ok.contains('$') || super::super::parse_duration(ok).is_ok());
        }
        for bad in ["30x", "m", "1.5s", ""] {
            assert!(!re.is_match(bad), "{bad}");
        }
    }
}
