//! Klaxon: tail logs, match Lucene-style rules, alert the right people once.
//!
//! Data flows one way: `source` → `decode` → `query` (match) → `rule` → `alert` → `notify`,
//! with `store` persisting state and `pipeline` wiring the stages together.

pub mod alert;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod decode;
pub mod demo;
pub mod dispatch;
pub mod event;
pub mod filter;
pub mod import;
pub mod notify;
pub mod pipeline;
pub mod query;
pub mod rule;
pub mod server;
pub mod source;
pub mod store;
pub mod telemetry;
pub mod types;
