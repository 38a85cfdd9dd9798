//! Small value types every stage's config uses, and nothing else: durations as ops write
//! them, secrets that never print, `type:`-tagged config enums, name suggestions, log text
//! flattened to one line. This
//! module imports nothing of Klaxon, so any stage can depend on it without a cycle.

mod duration;
mod fields;
mod number;
mod redact;
mod schema;
mod secret;
mod suggest;
mod tagged;
mod text;
mod zone;

pub use duration::{parse_duration, HumanDuration, MAX_DURATION};
pub use fields::struct_fields;
pub use number::{grouped, rounded};
pub use redact::{error_chain, redact};
pub(crate) use schema::impl_text_schema;
pub use schema::{tagged_schema, text_schema};
pub use secret::Secret;
pub use suggest::{closest, edit_distance};
pub use tagged::{deserialize_tagged, TaggedConfig};
pub use text::{clip, flat};
pub use zone::{TimeZone, UnknownTimeZone};
