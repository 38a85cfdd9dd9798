//! The keys a serde struct accepts, read from its own `Deserialize` impl, so "did you mean"
//! hints and "this key belongs to another type" messages never need a hand-kept key list.

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

/// The field names `T` (a `#[derive(Deserialize)]` struct, or a transparent wrapper of
/// one) accepts; empty for anything else.
pub fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    match T::deserialize(Probe) {
        Err(Found(fields)) => fields,
        Ok(_) => &[],
    }
}

/// A deserializer that only records the field list a struct asks for.
struct Probe;

#[derive(Debug)]
struct Found(&'static [&'static str]);

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fields: {:?}", self.0)
    }
}

impl std::error::Error for Found {}

impl de::Error for Found {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Found(&[])
    }
}

impl<'de> Deserializer<'de> for Probe {
    type Error = Found;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
        Err(Found(&[]))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Found> {
        Err(Found(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)] // read only for its field list
    struct Two {
        threshold: u64,
        #[serde(rename = "type")]
        kind: String,
    }

    #[derive(serde::Deserialize)]
    #[serde(transparent)]
    #[allow(dead_code)]
    struct Wrapped(Two);

    #[test]
    fn reads_the_field_names_serde_accepts() {
        assert_eq!(struct_fields::<Two>(), ["threshold", "type"]);
        assert_eq!(struct_fields::<Wrapped>(), ["threshold", "type"]);
        assert!(struct_fields::<u64>().is_empty());
    }
}
