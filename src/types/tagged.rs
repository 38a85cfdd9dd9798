//! `type:`-tagged config enums that keep exact error locations.
//!
//! serde's internally tagged enums buffer the whole map before choosing a variant, which
//! loses the YAML line/column of any error inside it. Here the map is streamed instead:
//! when `type` is the first key (as in every example we ship), the rest of the map is
//! handed straight to the variant's own `Deserialize`, so `unknown field` and type errors
//! point at the offending line. Otherwise the map is buffered as a fallback.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, value::MapAccessDeserializer, Deserializer, MapAccess, Visitor};

/// An enum configured as a map with a `type` key naming the variant.
pub trait TaggedConfig: Sized {
    /// Accepted `type` values, for "expected one of" messages.
    const TYPES: &'static [&'static str];
    /// What the thing is, for messages: "channel", "source".
    const WHAT: &'static str;
    /// Deserialize the variant named `type_name` from the remaining keys of the map.
    fn deserialize_variant<'de, D: Deserializer<'de>>(
        type_name: &str,
        rest: D,
    ) -> Result<Self, D::Error>;
}

/// Use as the body of `Deserialize::deserialize` for a [`TaggedConfig`].
pub fn deserialize_tagged<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TaggedConfig,
{
    d.deserialize_map(TaggedVisitor(PhantomData))
}

struct TaggedVisitor<T>(PhantomData<T>);

impl<'de, T: TaggedConfig> Visitor<'de> for TaggedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a {} map with `type: {}`", T::WHAT, T::TYPES.join("|"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Err(de::Error::missing_field("type"));
        };
        if first == "type" {
            let type_name: String = map.next_value()?;
            check_type::<T, A::Error>(&type_name)?;
            return T::deserialize_variant(&type_name, MapAccessDeserializer::new(map));
        }
        // `type` comes later: buffer the entries (locations inside become approximate).
        let mut entries = vec![(first, map.next_value::<serde_value::Value>()?)];
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value::<serde_value::Value>()?;
            entries.push((k, v));
        }
        let pos = entries
            .iter()
            .position(|(k, _)| k == "type")
            .ok_or_else(|| de::Error::missing_field("type"))?;
        let (_, type_value) = entries.remove(pos);
        let type_name = match type_value {
            serde_value::Value::String(s) => s,
            _ => return Err(de::Error::custom("`type` must be a string")),
        };
        check_type::<T, A::Error>(&type_name)?;
        let rest = serde_value::Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (serde_value::Value::String(k), v))
                .collect(),
        );
        T::deserialize_variant(
            &type_name,
            serde_value::ValueDeserializer::<A::Error>::new(rest),
        )
    }
}

fn check_type<T: TaggedConfig, E: de::Error>(name: &str) -> Result<(), E> {
    if T::TYPES.contains(&name) {
        Ok(())
    } else {
        Err(E::unknown_variant(name, T::TYPES))
    }
}
